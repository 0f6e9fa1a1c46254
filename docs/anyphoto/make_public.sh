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
python3 - "$out" <<'PY'
import glob, sys
from PIL import Image
out, H, rows = sys.argv[1], 300, []
for k in "abc":
    photo = Image.open(glob.glob(f"{out}/{k}_photo.*")[0]).convert("RGB")
    tiles = [photo, Image.open(f"{out}/{k}_seen.png"), Image.open(f"{out}/{k}_pasted.png")]
    tiles = [t.convert("RGB").resize((round(t.width * H / t.height), H)) for t in tiles]
    row = Image.new("RGB", (sum(t.width for t in tiles) + 8 * 2, H), "white")
    x = 0
    for t in tiles:
        row.paste(t, (x, 0))
        x += t.width + 8
    rows.append(row)
sheet = Image.new("RGB", (max(r.width for r in rows), (H + 8) * len(rows) - 8), "white")
for i, r in enumerate(rows):
    sheet.paste(r, (0, i * (H + 8)))
sheet.save("docs/anyphoto/public-photos.jpg", quality=85)
print("docs/anyphoto/public-photos.jpg")
PY
