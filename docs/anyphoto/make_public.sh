#!/usr/bin/env bash
# The contact sheet docs/anyphoto/public-photos.jpg, from public-domain photos anyone can get:
# each row is the photo, the person input the network sees (framed automatically, on VITON's
# background) and the result pasted into the photo at its own resolution.
#
#   cargo build --release && docs/anyphoto/make_public.sh HOPPER ASTRONAUT OUT_DIR
#
# HOPPER: matplotlib's sample photo `grace_hopper.jpg` (a US Navy portrait, public domain;
# `matplotlib.cbook.get_sample_data("grace_hopper.jpg")`); ASTRONAUT: the 640x480 webcam-style
# crop of scikit-image's astronaut that docs/anyphoto/make.sh writes.
set -euo pipefail
cd "$(dirname "$0")/../.."
hopper=$1 astronaut=$2 out=$3
mkdir -p "$out"
rows=(
  "$hopper assets/wardrobe/blue-floral-tee.jpg a"
  "$hopper assets/wardrobe/red-sweet-print-tee.jpg b"
  "$astronaut assets/wardrobe/pastel-striped-tee.jpg c"
)
for row in "${rows[@]}"; do
  set -- $row
  target/release/fitting-room tryon --person "$1" --garment "$2" --out "$out/$3_low.png" \
    --pasted "$out/$3_pasted.png" --seen "$out/$3_seen.png"
  cp "$1" "$out/$3_photo.${1##*.}"
done
rows=()
for k in a b c; do
  rows+=("$(ls "$out/${k}"_photo.*),$out/${k}_seen.png,$out/${k}_pasted.png")
done
python3 docs/anyphoto/sheet.py docs/anyphoto/public-photos.jpg 0 8 "${rows[@]}"
