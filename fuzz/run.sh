#!/usr/bin/env bash
# Runs fuzz targets with the seeds from the test fixtures and a memory limit.
#
#   fuzz/run.sh TARGET SECONDS [libFuzzer options]   one target
#   fuzz/run.sh all SECONDS [libFuzzer options]      every target in turn
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). New inputs are kept in
# fuzz/corpus/TARGET, so runs resume where the last one stopped; a crash, timeout or oversized
# allocation is saved in fuzz/artifacts/TARGET and fails the run. FUZZ_BUILD_ARGS adds options
# to `cargo fuzz build` (e.g. `-s none` for a build without AddressSanitizer).
set -euo pipefail
cd "$(dirname "$0")/.."

# fuzz/seeds.txt: each target and its seed files or folders (tests/fuzz_seeds.rs reads it too).
targets=($(awk '!/^#/ && NF { print $1 }' fuzz/seeds.txt))

seeds() {
  local line
  line=$(awk -v t="$1" '$1 == t { $1 = ""; print }' fuzz/seeds.txt)
  if [ -z "$line" ]; then
    echo "unknown target $1 (one of: ${targets[*]})" >&2
    exit 2
  fi
  # Seed paths only (options such as max_len=N are words with `=`).
  for word in $line; do [[ $word == *=* ]] || echo "$word"; done
  # Inputs that once failed, kept as regression tests.
  if [ -d "fuzz/regressions/$1" ]; then echo "fuzz/regressions/$1"; fi
}

if [ $# -lt 2 ]; then
  echo "usage: $0 TARGET|all SECONDS [libFuzzer options]" >&2
  exit 2
fi
which=$1 seconds=$2
shift 2
if [ "$which" = all ]; then
  run=("${targets[@]}") build=()
else
  seeds "$which" >/dev/null
  run=("$which") build=("$which")
fi

# Inputs are written to files; keep them in memory where possible.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi

# shellcheck disable=SC2086
cargo +nightly fuzz build -O ${FUZZ_BUILD_ARGS:-} "${build[@]}"
for target in "${run[@]}"; do
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  # Single-file seeds go through a folder of their own (once).
  dirs=()
  for s in $(seeds "$target"); do
    if [ -f "$s" ]; then
      d="fuzz/corpus/$target.seed-files"
      [[ " ${dirs[*]-} " == *" $d "* ]] || dirs+=("$d")
      mkdir -p "$d" && cp "$s" "$d/"
    else
      dirs+=("$s")
    fi
  done
  option() { # NAME: the target's NAME=VALUE in fuzz/seeds.txt
    awk -v t="$target" -v o="$1=" '$1 == t { for (i = 2; i <= NF; i++) if (index($i, o) == 1) { print substr($i, length(o) + 1) } }' fuzz/seeds.txt
  }
  max_len=$(option max_len)
  timeout=$(option timeout)
  echo "==> $target ($seconds s)"
  # shellcheck disable=SC2086
  cargo +nightly fuzz run -O ${FUZZ_BUILD_ARGS:-} "$target" "fuzz/corpus/$target" "${dirs[@]}" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout="${timeout:-10}" \
    -max_len="${max_len:-65536}" -print_final_stats=1 "$@"
done
