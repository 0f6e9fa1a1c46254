#!/usr/bin/env bash
# The GPU check, for an NVIDIA machine with PyTorch (and numpy, safetensors) in python3 and the
# CUDA 13 libraries, but no Rust and no network. From the repository root:
#
#   .ci/device-check.sh [BINARY] [REPORT_DIR]
#
# BINARY: the CUDA build of fitting-room, xz-compressed or not (default
# target-cuda/device/fitting-room.xz, as .ci/device-bundle.sh writes it). REPORT_DIR (default
# target-cuda/device-report) receives report.md, report.jsonl and the logs.
#
#  1. what the machine is (GPU, driver, torch), and whether the binary finds its libraries;
#  2. parity on the device: `tryon --dump` on the committed fixtures (the small-width fixture
#     model and the shipped default model), on both op paths, against the PyTorch references
#     (.ci/compare-dump.py, the tolerances of tests/parity.rs);
#  3. speed beside PyTorch eager on the same device (training/bench_compare.py): compact
#     (models/default) and official widths, one try-on and a batch.
#
# DEVICE=cpu rehearses everything on a machine without a GPU; ITERS (default 20), BATCH (default
# 8) and WIDTHS (default "compact official") size the benchmark. Exits 1 if parity failed or a
# step broke; the report says which.
set -uo pipefail
cd "$(dirname "$0")/.."

binary_in="${1:-target-cuda/device/fitting-room.xz}"
report_dir="${2:-target-cuda/device-report}"
device="${DEVICE:-cuda}"
iters="${ITERS:-20}"
batch="${BATCH:-8}"
widths="${WIDTHS:-compact official}"
python="${PYTHON:-python3}"

mkdir -p "$report_dir"
report_dir="$(cd "$report_dir" && pwd)"
report="$report_dir/report.md"
jsonl="$report_dir/report.jsonl"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
: >"$report"
: >"$jsonl"
failed=0
say() { printf '%s\n' "$*" | tee -a "$report"; }
fail() { say "FAILED: $*"; failed=1; }
# Runs a command with its output in the report (indented), keeping its status.
run_logged() {
  local status
  "$@" >"$work/out" 2>&1
  status=$?
  sed 's/^/    /' "$work/out" | tee -a "$report"
  return $status
}

say "# Device check, $(date -u +%Y-%m-%dT%H:%MZ), device $device"
say ""
say "## Machine"
if command -v nvidia-smi >/dev/null 2>&1; then
  run_logged nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader ||
    say "    (nvidia-smi failed)"
else
  say "    no nvidia-smi"
fi
say "    CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
run_logged "$python" -c "
import torch
cuda = torch.cuda.is_available()
print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'available' if cuda else 'not available')
if cuda:
    print('gpu', torch.cuda.get_device_name(0), 'cudnn.allow_tf32', torch.backends.cudnn.allow_tf32,
          'matmul.allow_tf32', torch.backends.cuda.matmul.allow_tf32)
" || fail "python3 with torch"

say ""
say "## Binary"
case "$binary_in" in
  *.xz)
    if command -v xz >/dev/null 2>&1; then
      xz -dc "$binary_in" >"$work/fitting-room" || fail "unpacking $binary_in"
    else # Python's lzma reads the same format
      "$python" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
        "$binary_in" "$work/fitting-room" || fail "unpacking $binary_in"
    fi
    ;;
  *) cp "$binary_in" "$work/fitting-room" || fail "copying $binary_in" ;;
esac
chmod +x "$work/fitting-room"
bin="$work/fitting-room"
# The CUDA libraries: PyTorch's wheels (nvidia/cu13/lib), else a CUDA folder; the driver's
# libcuda from the system or /usr/local/nvidia.
libs=$("$python" - <<'EOF' 2>/dev/null
import glob, os
try:
    import nvidia
    for base in nvidia.__path__:
        for lib in sorted(glob.glob(os.path.join(base, "cu1*", "lib"))):
            print(lib)
except ImportError:
    pass
EOF
)
for dir in $libs /usr/local/cuda/lib64 /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  [ -d "$dir" ] && LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"
say "    library path: ${LD_LIBRARY_PATH:-(none)}"
if ldd "$bin" | grep -q 'not found'; then
  ldd "$bin" | grep 'not found' | sed 's/^/    /' | tee -a "$report"
  fail "the binary misses libraries"
fi
run_logged "$bin" --version || fail "the binary does not start"

say ""
say "## Parity on $device (max/mean abs diff against PyTorch; tolerances of tests/parity.rs)"
parity() { # label model person garment mask reference [extra args]
  local label="$1" model="$2" person="$3" garment="$4" mask="$5" reference="$6"
  shift 6
  local dump="$work/dump.safetensors"
  rm -f "$dump"
  # stdout is only the output's path; stderr (warnings, errors) goes to the report.
  if ! RUST_LOG=warn "$bin" tryon --model "$model" --person "$person" --garment "$garment" \
    --mask "$mask" --device "$device" --out "$work/tryon.png" --dump "$dump" "$@" \
    >/dev/null 2>"$work/tryon.err"; then
    sed 's/^/    /' "$work/tryon.err" | tee -a "$report"
    fail "$label: tryon"
    return
  fi
  sed 's/^/    /' "$work/tryon.err" | tee -a "$report"
  run_logged "$python" .ci/compare-dump.py "$dump" "$reference" --label "$label" --json "$jsonl" ||
    fail "$label: outside the tolerances"
}
fx=tests/fixtures/model
dm=tests/fixtures/default-model
for path in auto tensor-ops; do
  extra=()
  [ "$path" = tensor-ops ] && extra=(--tensor-ops)
  parity "fixture model, $path" "$fx/PFAFN" "$fx/person.png" "$fx/garment.png" "$fx/garment_mask.png" \
    "$fx/reference.safetensors" "${extra[@]}"
  parity "default model, $path" models/default "$dm/person.png" "$dm/garment.png" \
    "$dm/garment_mask.png" "$dm/reference.safetensors" "${extra[@]}"
done

say ""
say "## Speed beside PyTorch eager on $device ($iters timed iterations after 2 warm-ups, medians)"
threads="$(nproc)"
for w in $widths; do
  case "$w" in
    compact) width_args=(--model models/default) ;;
    official) width_args=(--weights "$work/official") ;;
    *) fail "unknown width set $w"; continue ;;
  esac
  for b in 1 "$batch"; do
    run_logged "$python" training/bench_compare.py "${width_args[@]}" --device "$device" \
      --batch "$b" --iters "$iters" --threads "$threads" --binary "$bin" --json "$jsonl" ||
      fail "bench $w, batch $b"
  done
done

say ""
say "## The warp ops' kernels against their tensor-op path on $device (bench, compact widths)"
for path in auto tensor-ops; do
  extra=()
  [ "$path" = tensor-ops ] && extra=(--tensor-ops)
  if RUST_LOG=warn "$bin" bench --model models/default --device "$device" --iters "$iters" --json \
    "${extra[@]}" >"$work/bench.json" 2>"$work/bench.err"; then
    "$python" - "$path" "$work/bench.json" "$jsonl" <<'EOF' | tee -a "$report"
import json, sys
path, src, out = sys.argv[1:]
r = json.load(open(src))
s = r["stages"]
print(f"    {path:<10} whole {r['median_ms']:.2f} ms: warp {s['warp_ms']:.2f}, mask warp {s['mask_warp_ms']:.2f}, "
      f"generator {s['generator_ms']:.2f}, composite {s['composite_ms']:.2f} ms")
r.pop("model", None)
with open(out, "a") as f:
    f.write(json.dumps({"label": f"warp ops, {path}", "rust": r}) + "\n")
EOF
  else
    sed 's/^/    /' "$work/bench.err" | tee -a "$report"
    fail "bench, $path"
  fi
done

say ""
if [ "$failed" -eq 0 ]; then say "RESULT: all checks passed"; else say "RESULT: some checks FAILED (see above)"; fi
say "report: $report, $jsonl"
exit "$failed"
