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
)
for row in "${rows[@]}"; do
  set -- $row
  target/release/fitting-room tryon --person "$1" --garment "$2" --out "$out/$3_hires.png" \
    --hires --pasted "$out/$3_pasted.png" --seen "$out/$3_seen.png"
  target/release/fitting-room tryon --person "$1" --garment "$2" --framing centre \
    --background keep --out "$out/$3_old.png" --pasted "$out/$3_oldpasted.png"
  echo "$1" >"$out/$3_source.txt"
done
python3 - "$out" <<'PY'
import sys
from PIL import Image
out, H, rows = sys.argv[1], 300, []
for k in "abcdef":
    src = open(f"{out}/{k}_source.txt").read().strip()
    ims = [Image.open(f).convert("RGB") for f in [src, f"{out}/{k}_oldpasted.png", f"{out}/{k}_seen.png", f"{out}/{k}_pasted.png"]]
    ims = [im.resize((round(im.width * H / im.height), H)) for im in ims]
    row = Image.new("RGB", (sum(i.width for i in ims) + 30, H), "white")
    x = 0
    for im in ims:
        row.paste(im, (x, 0))
        x += im.width + 10
    rows.append(row)
sheet = Image.new("RGB", (max(r.width for r in rows), (H + 10) * len(rows)), "white")
for i, row in enumerate(rows):
    sheet.paste(row, (0, i * (H + 10)))
sheet = sheet.resize((1000, round(sheet.height * 1000 / sheet.width)), Image.LANCZOS)
sheet.save("docs/anyphoto/real-photos.jpg", quality=82)
print("docs/anyphoto/real-photos.jpg")
PY
