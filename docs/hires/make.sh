#!/usr/bin/env bash
# The low- vs high-resolution comparison shown in README: one person photo and one garment,
# tried on with the default model at the network's 256x192 and with --hires, side by side,
# with a 3x enlargement (nearest neighbour, so no pixel is invented) of the face and neckline.
#
#   cargo build --release && docs/hires/make.sh PERSON.jpg GARMENT.jpg
#
# Needs ImageMagick (`convert`). Writes docs/hires/{low-res,hi-res,comparison}.png.
set -euo pipefail
person=${1:?usage: docs/hires/make.sh PERSON GARMENT}
garment=${2:?usage: docs/hires/make.sh PERSON GARMENT}
here=$(cd "$(dirname "$0")" && pwd)
bin=${FITTING_ROOM_BIN:-$here/../../target/release/fitting-room}
"$bin" tryon --person "$person" --garment "$garment" --out "$here/low-res.png"
"$bin" tryon --person "$person" --garment "$garment" --hires --out "$here/hi-res.png"

read -r width height < <(identify -format '%w %h\n' "$here/hi-res.png")
# The enlarged region: the upper middle of the frame (face, neckline, shoulders).
zoom_w=$((width * 3 / 8))
zoom_h=$((height * 3 / 8))
zoom_x=$(((width - zoom_w) / 2))
zoom_y=$((height / 16))
zoom() { # image -> 3x enlargement of the region, nearest neighbour
  convert "$1" -resize "${width}x${height}!" -crop "${zoom_w}x${zoom_h}+${zoom_x}+${zoom_y}" +repage \
    -filter point -resize 300% "$2"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The low-resolution result is shown at the crop's size too (bicubic), as a viewer would.
convert "$here/low-res.png" -filter Catrom -resize "${width}x${height}!" "$tmp/low.png"
zoom "$here/low-res.png" "$tmp/low-zoom.png"
zoom "$here/hi-res.png" "$tmp/high-zoom.png"
label() { convert "$1" +repage -background white -gravity north -splice 0x22 -pointsize 16 -annotate +0+3 "$2" "$3"; }
label "$tmp/low.png" "network output (192x256)" "$tmp/a.png"
label "$here/hi-res.png" "--hires (${width}x${height})" "$tmp/b.png"
label "$tmp/low-zoom.png" "network output, 3x" "$tmp/c.png"
label "$tmp/high-zoom.png" "--hires, 3x" "$tmp/d.png"
convert "$tmp/a.png" "$tmp/b.png" "$tmp/c.png" "$tmp/d.png" -bordercolor white -border 4x0 \
  -background white -gravity north +append +repage "$here/comparison.png"
echo "$here/comparison.png"
