#!/usr/bin/env bash
# Builds the CUDA program for .ci/device-check.sh on a machine with Rust (no GPU needed) and packs
# it as target-cuda/device/fitting-room.xz, the one file a GPU machine needs besides the
# repository. CUDA_COMPUTE_CAP (default 90) picks the GPU generation of candle's kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
cuda_env=$(packaging/cuda/cuda-root.sh) # a failure stops here (set -e)
eval "$cuda_env"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target-cuda}"
cargo build --release --locked --features cuda --bin fitting-room
mkdir -p target-cuda/device
xz -T0 -6 -c "$CARGO_TARGET_DIR/release/fitting-room" >target-cuda/device/fitting-room.xz.part
mv target-cuda/device/fitting-room.xz.part target-cuda/device/fitting-room.xz
ls -l "$CARGO_TARGET_DIR/release/fitting-room" target-cuda/device/fitting-room.xz
