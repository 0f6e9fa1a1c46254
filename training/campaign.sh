#!/usr/bin/env bash
# The long training campaign on a CPU, in resumable chunks, at the lowest priority:
#
#   nice -n 19 training/campaign.sh path/to/viton [work-folder]
#
# Stages (each continues from its run folder; a finished stage returns at once):
#   1. teacher at 128x96 up to TEACHER_STEPS
#   2. the same teacher fine-tuned at 256x192 up to TEACHER_STEPS + TEACHER_FT_STEPS, so that
#      it tutors and distils at full size
#   3. student at 128x96 up to STUDENT_STEPS (tutor fakes on the fly, distillation)
#   4. the same student at 256x192 up to STUDENT_STEPS + STUDENT_FT_STEPS
# After every student chunk, `campaign.py select` scores the student on the held-out slice
# of train (the last HOLDOUT pairs, which no stage trains on; val/ is never used here) and
# keeps the best one in <work>/student-best. Nothing here writes into the repository:
# `campaign.py export-teacher` and `campaign.py promote` do, when a person runs them.
#
# A lost run folder restarts from the committed weights: the teacher from
# training/weights/teacher.pt, the student from the shipped bundle models/default.
# Raise the *_STEPS variables and run the same command again to train further; STAGES=teacher
# stops after the teacher's stages.
{ # parsed whole before it runs, so editing this file never disturbs a running campaign
set -euo pipefail
data=${1:?usage: training/campaign.sh path/to/viton [work-folder]}
here=$(cd "$(dirname "$0")" && pwd)
work=${2:-$here/runs/campaign}
py=${PYTHON:-python}
chunk=${CHUNK_MINUTES:-30}
holdout=${HOLDOUT:-200}
t1=${TEACHER_STEPS:-3000}
t2=$(( t1 + ${TEACHER_FT_STEPS:-1500} ))
s1=${STUDENT_STEPS:-3000}
s2=$(( s1 + ${STUDENT_FT_STEPS:-2000} ))
committed_teacher=${COMMITTED_TEACHER:-$here/weights/teacher.pt}
committed_student=${COMMITTED_STUDENT:-$here/../models/default}
mkdir -p "$work"
# The CPU recipe (training/README.md, "A faster recipe"): oneDNN convolutions (default),
# bfloat16 autocast (AMP), channels-last; one loader process, which decodes far faster than a step.
common=(--preset "${PRESET:-compact}" --device cpu --threads "${THREADS:-1}" --workers 1 --amp "${AMP:-bf16}" --channels-last --holdout "$holdout"
  --log-every 25 --sample-every 200 --save-every-minutes 10 --max-minutes "$chunk")
# shellcheck disable=SC2206
common+=(${TRAIN_ARGS:-}) # more train.py options for every stage

# The first chunk of a run whose folder is empty resumes from the committed weights.
resume_args() { # run-folder committed-checkpoint
  if [ ! -e "$1/checkpoint.pt" ] && [ ! -e "$1/checkpoint.pt.part00" ] && { [ -e "$2" ] || [ -e "$2.part00" ]; }; then
    echo "--resume $2"
  else
    echo "--resume"
  fi
}

run_stage() { # kind run-folder [train.py options]; chunks while a chunk stops for its budget
  local kind=$1 run=$2 status="$work/last-chunk.txt"
  shift 2
  while true; do
    # shellcheck disable=SC2046
    "$py" "$here/train.py" "$kind" --data "$data" --run "$run" "$@" "${common[@]}" | tee "$status"
    if [ "$kind" = student ]; then
      "$py" "$here/campaign.py" select --data "$data" --work "$work" --holdout "$holdout" --model "$committed_student"
    fi
    grep -q '"reason": "budget"' "$status" || break
  done
  grep -q '"reason": "steps"' "$status" # stopped by a signal: stop the campaign too
}

set -x
# shellcheck disable=SC2046
run_stage teacher "$work/teacher" $(resume_args "$work/teacher" "$committed_teacher") \
  --size 128x96 --batch-size 8 --steps "$t1"
run_stage teacher "$work/teacher" --resume --size 256x192 --batch-size 4 --steps "$t2" --lr "${TEACHER_FT_LR:-1e-4}"
[ "${STAGES:-all}" = teacher ] && exit # STAGES=teacher: the teacher's stages only
if [ -e "$work/student/checkpoint.pt" ] || [ -e "$work/student/checkpoint.pt.part00" ]; then
  student_start=(--resume)
else
  student_start=(--resume --init-from-bundle "$committed_student")
fi
run_stage student "$work/student" "${student_start[@]}" --teacher "$work/teacher" \
  --size 128x96 --batch-size 8 --steps "$s1"
run_stage student "$work/student" --resume --teacher "$work/teacher" --size 256x192 --batch-size 4 --steps "$s2"
exit
}
