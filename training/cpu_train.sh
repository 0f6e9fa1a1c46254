#!/usr/bin/env bash
# The default model's recipe on a CPU (2 cores), as a chain of resumable stages:
#
#   training/cpu_train.sh path/to/viton [work-folder]
#
# Every stage continues from its run folder, so the script can be stopped at any time
# (Ctrl+C saves a checkpoint) and started again with the same command; a finished stage
# returns at once. Stages: teacher at 128x96 -> the teacher fine-tuned at 256x192 ->
# student at 128x96 (starts from the teacher's weights, tutor fakes made on the fly,
# distillation) -> student fine-tuned at 256x192 (its step count continues from the 128x96
# stage) -> export to models/default. One thread, oneDNN, bfloat16 autocast, channels-last
# (training/README.md, "A faster recipe on a CPU"; THREADS and AMP=none override).
{ # parsed whole before it runs, so editing this file never disturbs a running chain
set -euo pipefail
data=${1:?usage: training/cpu_train.sh path/to/viton [work-folder]}
work=${2:-$(cd "$(dirname "$0")" && pwd)/runs/cpu}
py=${PYTHON:-python}
here=$(cd "$(dirname "$0")" && pwd)
chunk=${CHUNK_MINUTES:-30}
mkdir -p "$work"
common=(--preset compact --device cpu --threads "${THREADS:-1}" --workers 1 --amp "${AMP:-bf16}" --channels-last --log-every 25 --sample-every 200 --max-minutes "$chunk")

run_stage() { # run a stage in chunks while it stops for its time budget
  local status="$work/last-chunk.txt"
  while true; do
    "$py" "$here/train.py" "$@" "${common[@]}" | tee "$status"
    grep -q '"reason": "budget"' "$status" || break
  done
  grep -q '"reason": "steps"' "$status" # stopped by a signal: stop the chain too
}

set -x
run_stage teacher --data "$data" --run "$work/teacher" --resume \
  --size 128x96 --batch-size 8 --steps "${TEACHER_STEPS:-2100}"
# The teacher fine-tuned at full size, so that it tutors and distils well at 256x192.
run_stage teacher --data "$data" --run "$work/teacher" --resume --lr "${TEACHER_FT_LR:-1e-4}" \
  --size 256x192 --batch-size 4 --steps "$(( ${TEACHER_STEPS:-2100} + ${TEACHER_FT_STEPS:-500} ))"
run_stage student --data "$data" --run "$work/student" --resume \
  --teacher "$work/teacher" --init-from-teacher --size 128x96 --batch-size 8 --steps "${STUDENT_STEPS:-1500}"
if [ ! -e "$work/student-256/checkpoint.pt" ]; then
  resume_from=(--resume "$work/student")
else
  resume_from=(--resume)
fi
run_stage student --data "$data" --run "$work/student-256" "${resume_from[@]}" \
  --teacher "$work/teacher" --size 256x192 --batch-size 4 --steps "$(( ${STUDENT_STEPS:-1500} + ${FINETUNE_STEPS:-500} ))"
"$py" "$here/export.py" --checkpoint "$work/student-256" --out "${MODEL_OUT:-$here/../models/default}" \
  --name "Fitting Room compact"
exit
}
