#!/usr/bin/env bash
# One NVIDIA GPU, about 10 minutes, PyTorch and nothing else: continue the teacher and the
# student from the current checkpoints, with the data carried in, held in GPU memory, in
# bfloat16, and write the checkpoints back in files of at most 15 MiB.
#
#   training/device_run.sh [carry-folder] [out-folder]     (defaults: training/carry, $OUT)
#
# Carried in (carry-folder):
#   viton.zip   pack_data.py --holdout 200 --no-val --persons N (its size + the repository's
#               tracked files + carried checkpoints must fit the machine's working-tree limit)
#   teacher/    optional: a teacher checkpoint (else the committed training/weights/teacher.pt)
#   student/    optional: a student checkpoint (else a new student from models/default)
# Written (out-folder): teacher/ and student/, each checkpoint.pt.part00-01 (weights in
# float32, no optimizer state: the next run warms its learning rate up again), log.jsonl and
# sample.jpg: 8 files. Back on a CPU: copy them to the campaign's run folders (or carry
# them in again) and continue with training/campaign.sh.
#
# Settings (environment): DEVICE (cuda), TEACHER_MINUTES (4), STUDENT_MINUTES (4.5), SIZE
# (256x192), BATCH (32), WORKERS (8), STUDENT_BUNDLE (models/default), and for tests a tiny
# run on a CPU: DEVICE=cpu TEACHER_MINUTES=0.01 STUDENT_MINUTES=0.01 SIZE=64x64 BATCH=2.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
carry=${1:-$here/carry}
out=${2:-${OUT:?usage: training/device_run.sh [carry-folder] out-folder (or set OUT)}}
py=${PYTHON:-python3}
device=${DEVICE:-cuda}
export PYTHONUNBUFFERED=1

teacher_from=$here/weights/teacher.pt
[ -e "$carry/teacher/checkpoint.pt" ] || [ -e "$carry/teacher/checkpoint.pt.part00" ] && teacher_from=$carry/teacher
student_from=(--resume --init-from-bundle "${STUDENT_BUNDLE:-$here/../models/default}")
[ -e "$carry/student/checkpoint.pt" ] || [ -e "$carry/student/checkpoint.pt.part00" ] && student_from=(--resume "$carry/student")

# Constant learning rate (the length of a run is its time budget); the CPU campaign decays it.
common=(--data "$carry/viton.zip" --device "$device" --amp bf16 --resident --workers "${WORKERS:-8}"
  --size "${SIZE:-256x192}" --batch-size "${BATCH:-32}" --steps 100000000 --decay-start 1 --warmup 50
  --optimizer-state none --max-file-mib 15 --log-every 50 --sample-every 0 --save-every-minutes 1000)
if [ "$device" = cpu ]; then common+=(--no-mkldnn); fi

set -x
"$py" "$here/train.py" teacher "${common[@]}" --run "$out/teacher" --resume "$teacher_from" \
  --max-minutes "${TEACHER_MINUTES:-4}"
"$py" "$here/train.py" student "${common[@]}" --run "$out/student" "${student_from[@]}" \
  --teacher "$out/teacher" --max-minutes "${STUDENT_MINUTES:-4.5}"
ls -l "$out/teacher" "$out/student"
