#!/usr/bin/env bash
# One GPU machine's prepared run, in one command: the CUDA checks first (.ci/device-check.sh),
# then training (training/device_run.sh) for the time that is left, with everything written back
# as at most 8 files:
#
#   .ci/device-session.sh BINARY CARRY OUT [SECONDS]
#
# BINARY: the CUDA build (.ci/device-bundle.sh writes target-cuda/device/fitting-room.xz).
# CARRY: the training carry folder (viton.zip, optional teacher/ and student/; see
# training/README.md, "Training on a GPU"). SECONDS (default 540): the whole run's budget; the
# check gets at most CHECK_SECONDS (210) of it, and training what remains, 40% teacher and 60%
# student, less a margin for loading and writing.
#
# Written to OUT: check.tar.gz (report.md, report.jsonl, console.log), teacher/ and student/
# (checkpoint.pt.part00-01), train-logs.tar.gz (each stage's log.jsonl, sample.jpg and console
# output). Back on the CPU: unpack and continue as training/README.md says.
set -uo pipefail
cd "$(dirname "$0")/.."
binary=${1:?usage: .ci/device-session.sh BINARY CARRY OUT [SECONDS]}
carry=${2:?carry folder}
out=${3:?out folder}
budget=${4:-540}
check_budget=${CHECK_SECONDS:-210}
start=$(date +%s)
work=$(mktemp -d)
mkdir -p "$out" "$work/check" "$work/train"
elapsed() { echo $(($(date +%s) - start)); }

echo "== CUDA checks (at most $check_budget s)"
timeout "$check_budget" .ci/device-check.sh "$binary" "$work/check" >"$work/check/console.log" 2>&1
echo "device-check exit status $? after $(elapsed) s"
grep -E '^(FAILED|RESULT)|rust/pytorch|max abs' "$work/check/console.log" | head -40
tar czf "$out/check.tar.gz" -C "$work" check

# Training: what is left, less a margin for Python's start, decoding the data onto the GPU and
# writing the checkpoints (two starts).
left=$((budget - $(elapsed) - 90))
if [ "$left" -lt 60 ]; then
  echo "no time left for training ($left s)"
  exit 0
fi
teacher_min=$(python3 -c "print(round($left * 0.4 / 60, 2))")
student_min=$(python3 -c "print(round($left * 0.6 / 60, 2))")
echo "== training: teacher $teacher_min min, student $student_min min"
TEACHER_MINUTES=$teacher_min STUDENT_MINUTES=$student_min PYTHON=python3 \
  bash training/device_run.sh "$carry" "$work/train" >"$work/train/console.log" 2>&1
status=$?
echo "device_run exit status $status after $(elapsed) s"
tail -n 30 "$work/train/console.log"
for stage in teacher student; do
  mkdir -p "$out/$stage"
  mv "$work/train/$stage"/checkpoint.pt* "$out/$stage/" 2>/dev/null
done
tar czf "$out/train-logs.tar.gz" -C "$work/train" --exclude='checkpoint.pt*' .
ls -lR "$out"
exit "$status"
