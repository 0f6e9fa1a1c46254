#!/usr/bin/env bash
# Assembles a CUDA 13.0 toolkit for building the `cuda` feature, from NVIDIA's wheels on PyPI
# (pinned with hashes in requirements.txt), on Linux x86_64, with or without a GPU. Prints the
# environment to build with on stdout, so that
#
#   eval "$(packaging/cuda/cuda-root.sh)"
#   cargo build --release --locked --features cuda
#
# works from a clean checkout. Needs python3 with venv, a C compiler and the network (once: the
# toolkit is kept in DIR and reused while requirements.txt is unchanged).
#
# Usage: cuda-root.sh [DIR]   (default: target-cuda/toolkit in the repository)
# Environment: CUDA_COMPUTE_CAP (default 90: Hopper, H100/H200), the GPU generation the kernels
# are compiled for when no GPU is present to ask.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dir="${1:-$repo/target-cuda/toolkit}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
reqs="$here/requirements.txt"
root="$dir/site/nvidia/cu13"
log() { printf 'cuda-root: %s\n' "$*" >&2; }

# 1. The wheels, unpacked into one folder (pip --target keeps nvcc's execute bits). A stamp
#    holding the requirements' hash makes a second run free.
stamp="$dir/.installed"
want="$(sha256sum "$reqs" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing the CUDA 13.0 wheels into $dir/site"
  rm -rf "$dir/site" "$dir/venv"
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir --no-deps --no-compile \
    --only-binary=:all: --require-hashes --target "$dir/site" -r "$reqs" >&2
  echo "$want" >"$stamp"
fi
[ -x "$root/bin/nvcc" ] || { log "no nvcc in $root/bin"; exit 1; }

# 2. The wheels carry only versioned libraries (libcublas.so.13); the linker looks for the
#    unversioned names.
for lib in "$root"/lib/lib*.so.*; do
  name="$(basename "$lib")"
  case "$name" in *.alt.*|libnvrtc-builtins*) continue ;; esac
  plain="$root/lib/${name%%.so.*}.so"
  [ -e "$plain" ] || ln -s "$name" "$plain"
done

# 3. libcuda.so comes with the driver, not the toolkit: a link stub that exports every driver
#    function cudarc declares, each returning CUDA_ERROR_STUB_LIBRARY (34), as NVIDIA's own stub
#    does. Its soname is the driver's, so the program loads the real driver at run time. Only the
#    final link needs it (`cargo check` does not).
cudarc_version="$(awk '/^name = "cudarc"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$repo/Cargo.lock")"
[ -n "$cudarc_version" ] || { log "cudarc is not in Cargo.lock"; exit 1; }
stub="$root/lib/stubs/libcuda.so"
stub_tag="$root/lib/stubs/.cudarc-$cudarc_version"
if [ ! -e "$stub" ] || [ ! -e "$stub_tag" ]; then
  cargo_home="${CARGO_HOME:-$HOME/.cargo}"
  src=$(ls -d "$cargo_home"/registry/src/*/"cudarc-$cudarc_version" 2>/dev/null | head -n 1 || true)
  if [ -z "$src" ]; then
    log "fetching the crates (cudarc's sources hold the driver's symbol list)"
    (cd "$repo" && cargo fetch --locked >&2)
    src=$(ls -d "$cargo_home"/registry/src/*/"cudarc-$cudarc_version" | head -n 1)
  fi
  mkdir -p "$root/lib/stubs"
  # Every `fn cuXxx(` inside cudarc's `extern "C"` blocks is a driver entry point.
  grep -oE '^ +fn cu[A-Za-z0-9_]+\(' "$src/src/driver/sys/mod.rs" | sed -E 's/^ +fn //; s/\($//' |
    sort -u | awk '{ printf "int %s(void) { return 34; }\n", $1 }' >"$root/lib/stubs/libcuda-stub.c"
  count=$(wc -l <"$root/lib/stubs/libcuda-stub.c")
  [ "$count" -gt 100 ] || { log "found only $count driver functions in cudarc $cudarc_version"; exit 1; }
  cc -shared -fPIC -fno-builtin -Wl,-soname,libcuda.so.1 -o "$stub" "$root/lib/stubs/libcuda-stub.c"
  rm -f "$root"/lib/stubs/.cudarc-*
  touch "$stub_tag"
  log "libcuda.so link stub: $count driver functions (cudarc $cudarc_version)"
fi

# 4. The environment. CUDA_ROOT and CUDA_PATH: cudarc's link search (lib, lib/stubs); PATH: nvcc
#    for candle's kernels and cudarc's version check; CUDA_COMPUTE_CAP: the kernels' target when
#    no nvidia-smi answers.
cat <<EOF
export CUDA_ROOT='$root'
export CUDA_PATH='$root'
export CUDA_HOME='$root'
export PATH='$root/bin':"\$PATH"
export CUDA_COMPUTE_CAP='${CUDA_COMPUTE_CAP:-90}'
EOF
log "ready: $("$root/bin/nvcc" --version | grep -o 'release [0-9.]*'), compute capability ${CUDA_COMPUTE_CAP:-90}"
