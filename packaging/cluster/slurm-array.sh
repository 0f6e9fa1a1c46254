#!/usr/bin/env bash
# Batch try-on as a Slurm job array: array task I runs shard I of N.
#
#   sbatch --array=0-7 slurm-array.sh DATA PAIRS OUT [more `fitting-room batch` options]
#
# The array must be 0..N-1 without gaps (the shard count is the array's size). A task that dies
# or is requeued resumes where it stopped: pairs already written are skipped. Failed pairs of
# task I are listed in OUT/failures-I-of-N.txt; the task then exits non-zero.
#SBATCH --job-name=fitting-room-batch
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=fitting-room-batch-%A_%a.log
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: sbatch --array=0-(N-1) $0 DATA PAIRS OUT [batch options]" >&2
  exit 2
fi
data=$1 pairs=$2 out=$3
shift 3

: "${SLURM_ARRAY_TASK_ID:?not an array task: submit with sbatch --array=0-(N-1)}"
: "${SLURM_ARRAY_TASK_COUNT:?not an array task: submit with sbatch --array=0-(N-1)}"
if [ "${SLURM_ARRAY_TASK_MIN:-0}" -ne 0 ] ||
  [ "${SLURM_ARRAY_TASK_MAX:-$((SLURM_ARRAY_TASK_COUNT - 1))}" -ne $((SLURM_ARRAY_TASK_COUNT - 1)) ]; then
  echo "the array must be 0-(N-1) without gaps, got ${SLURM_ARRAY_TASK_MIN}-${SLURM_ARRAY_TASK_MAX}" >&2
  exit 2
fi

# One compute thread per allotted CPU.
if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then
  export RAYON_NUM_THREADS=$SLURM_CPUS_PER_TASK
fi

exec "${FITTING_ROOM:-fitting-room}" batch --device "${FITTING_ROOM_DEVICE:-auto}" \
  --data "$data" --pairs "$pairs" --out "$out" \
  --shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" "$@"
