#!/usr/bin/env bash
# End-to-end smoke run of the training chain on real data, small enough for a CPU:
# pack -> teacher -> fakes -> student (on-the-fly and cached fakes) -> export -> evaluate.
#
#   training/smoke.sh path/to/viton [work-folder] [steps]
#
# Uses tiny widths at 128x96; proves that the chain runs, not that it learns much.
set -euo pipefail
data=${1:?usage: training/smoke.sh path/to/viton [work-folder] [steps]}
work=${2:-$(cd "$(dirname "$0")" && pwd)/runs/smoke}
steps=${3:-40}
py=${PYTHON:-python}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
common=(--preset tiny --size 128x96 --batch-size 4 --workers 2 --log-every 10 --sample-every 20)

set -x
"$py" "$here/pack_data.py" --data "$data" --out "$work/pack.zip" --persons 300
"$py" "$here/train.py" teacher --data "$work/pack.zip" --run "$work/teacher" --resume --steps "$steps" "${common[@]}"
"$py" "$here/make_fakes.py" --data "$work/pack.zip" --teacher "$work/teacher" --out "$work/fakes" --size 128x96 --limit 64 --workers 2
"$py" "$here/train.py" student --data "$work/pack.zip" --run "$work/student" --teacher "$work/teacher" --resume --steps "$steps" "${common[@]}"
"$py" "$here/train.py" student --data "$work/pack.zip" --run "$work/student" --teacher "$work/teacher" --fakes "$work/fakes" --limit 64 \
  --resume --steps $((steps + 10)) "${common[@]}"
"$py" "$here/export.py" --checkpoint "$work/student" --out "$work/bundle" --name "smoke test (tiny)"
"$py" "$here/evaluate.py" --data "$work/pack.zip" --model "$work/bundle" --teacher "$work/teacher" --out "$work/eval" --limit 24 --grid 4
