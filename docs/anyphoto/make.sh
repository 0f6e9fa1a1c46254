#!/usr/bin/env bash
# The contact sheet docs/anyphoto/real-photos.jpg: each row is a photo, the old default (the
# centred crop, pasted back), the person input the network sees now (framed automatically, on
# VITON's background) and the result pasted into the photo at its own resolution.
#
#   cargo build --release && docs/anyphoto/make.sh PHOTOS_DIR GARMENTS_DIR OUT_DIR
#
# PHOTOS_DIR and GARMENTS_DIR hold the real photos (see README, Any photo); the webcam-style
# frame is scikit-image's astronaut (public domain), cropped to 640x480 by the script below.
set -euo pipefail
cd "$(dirname "$0")/../.."
persons=$1 garments=$2 out=$3
mkdir -p "$out"
python3 - "$out" <<'PY'
import sys
from skimage import data
from PIL import Image
big = Image.fromarray(data.astronaut()).resize((640, 640))
big.crop((0, 60, 640, 540)).save(sys.argv[1] + "/astronaut_webcam.png")
PY
rows=(
  "$persons/049205_0.jpg $garments/048554_1.jpg a"
  "$persons/051918_0.jpg $garments/00126_00.jpg b"
  "$persons/07966_00.jpg $garments/02305_00.jpg c"
  "$out/astronaut_webcam.png $garments/049920_1.jpg d"
  "$persons/model_2.png $garments/10297_00.jpg e"
  "$persons/051962_0.jpg $garments/07764_00.jpg f"
  "$persons/049447_0.jpg $garments/00126_00.jpg g"
)
sheet=()
for row in "${rows[@]}"; do
  set -- $row
  target/release/fitting-room tryon --person "$1" --garment "$2" --out "$out/$3_hires.png" \
    --hires --pasted "$out/$3_pasted.png" --seen "$out/$3_seen.png"
  target/release/fitting-room tryon --person "$1" --garment "$2" --framing centre \
    --background keep --out "$out/$3_old.png" --pasted "$out/$3_oldpasted.png"
  sheet+=("$1,$out/$3_oldpasted.png,$out/$3_seen.png,$out/$3_pasted.png")
done
python3 docs/anyphoto/sheet.py docs/anyphoto/real-photos.jpg 1000 10 "${sheet[@]}"
