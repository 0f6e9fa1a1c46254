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
# Symbols off (83 MB instead of 93, 13 MB packed): the bundle shares the GPU machine's 64 MiB
# working-tree limit with the repository and the training data.
strip -o target-cuda/device/fitting-room.stripped "$CARGO_TARGET_DIR/release/fitting-room"
xz -T0 -9 -c target-cuda/device/fitting-room.stripped >target-cuda/device/fitting-room.xz.part
rm target-cuda/device/fitting-room.stripped
mv target-cuda/device/fitting-room.xz.part target-cuda/device/fitting-room.xz
ls -l "$CARGO_TARGET_DIR/release/fitting-room" target-cuda/device/fitting-room.xz
