#!/usr/bin/env bash
# GUI smoke run: starts the real app under Xvfb with a person and a garment, waits until it
# reports the try-on on screen, takes a screenshot of its window and checks that the middle of
# the window shows a picture rather than an empty panel.
#
#   .ci/gui-smoke.sh [binary] [output-folder] [extra app arguments...]
#
# SMOKE_PERSON and SMOKE_GARMENT choose the photos (default: a bundled sample person and garment).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--in-display" ]; then
  in_display=1
  shift
fi
bin=${1:-target/release/fitting-room}
out=${2:-target/gui-smoke}
shift $(( $# > 2 ? 2 : $# ))
mkdir -p "$out"
log="$out/app.log"
shot="$out/window.png"

run_in_display() {
  export RUST_LOG=${RUST_LOG:-info}
  # A fresh settings folder, so a window size saved by an earlier run does not apply.
  export XDG_DATA_HOME="$out/data" XDG_CONFIG_HOME="$out/config"
  "$bin" --person "${SMOKE_PERSON:-assets/persons/000523_0.jpg}" \
    --garment "${SMOKE_GARMENT:-assets/wardrobe/red-sweet-print-tee.jpg}" "$@" >"$log" 2>&1 &
  app=$!
  trap 'kill $app 2>/dev/null || true' EXIT
  for _ in $(seq 1 240); do
    grep -qs "try-on shown" "$log" && break
    kill -0 $app 2>/dev/null || { echo "the app exited early:"; cat "$log"; exit 1; }
    sleep 0.5
  done
  grep -q "try-on shown" "$log" || { echo "no try-on within 120 s:"; cat "$log"; exit 1; }
  sleep 1 # let the frame with the result reach the screen
  window=$(xdotool search --sync --name "^Fitting Room$" | head -n 1)
  import -window "$window" "$shot"
  kill $app
}
if [ -n "${in_display:-}" ]; then
  run_in_display "$@"
  exit 0
fi
rm -f "$log" "$shot"
xvfb-run -a -s "-screen 0 1400x900x24" "$0" --in-display "$bin" "$out" "$@"

echo "app log:"; sed -n '1,40p' "$log"
geometry=$(identify -format '%w %h' "$shot")
read -r width height <<<"$geometry"
# The result sits in the central panel; sample a region in the middle of the window.
region_w=$(( width / 6 )); region_h=$(( height / 3 ))
x=$(( width / 2 - region_w / 2 )); y=$(( height / 2 - region_h / 2 ))
background=$(convert "$shot" -format '%[pixel:p{'$((x - region_w))','$((height - 40))'}]' info:)
busy=$(convert "$shot" -crop "${region_w}x${region_h}+${x}+${y}" +repage -fuzz 8% \
  -fill black -opaque "$background" -fill white +opaque black -colorspace gray -format '%[fx:mean]' info:)
echo "window ${width}x${height}; share of picture pixels in the middle: $busy (background $background)"
awk -v b="$busy" 'BEGIN { exit !(b > 0.5) }' || { echo "the window shows no result"; exit 1; }
echo "GUI smoke run passed: $shot"
