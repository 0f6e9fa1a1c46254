#!/usr/bin/env bash
# The contact sheet docs/anyphoto/hem.jpg: people in a top longer than the new garment. Each row
# shows the waist, cut from: the photo, the result with the uncovered band of the old top as the
# network renders it (`--hem keep`), and as the app gives it (the photo's own trousers or
# skirt, mirrored up into the band).
#
#   cargo build --release && docs/anyphoto/make_hem.sh PHOTOS_DIR GARMENTS_DIR OUT_DIR
#
# PHOTOS_DIR and GARMENTS_DIR hold the real photos (README, Any photo). Needs Python with Pillow.
set -euo pipefail
cd "$(dirname "$0")/../.."
persons=$1 garments=$2 out=$3
mkdir -p "$out"
# person, garment, name, the waist's box in the photo (x,y,width,height)
rows=(
  "051918_0.jpg 050181_1.jpg a 230,330,360,270"
  "051918_0.jpg 049940_1.jpg b 230,330,360,270"
  "02849_00.jpg 050181_1.jpg c 190,560,400,300"
  "05997_00.jpg 00055_00.jpg d 150,480,460,345"
)
sheet=()
for row in "${rows[@]}"; do
  read -r person garment name box <<<"$row"
  for hem in keep mirror; do
    target/release/fitting-room tryon --person "$persons/$person" --garment "$garments/$garment" \
      --hem "$hem" --out "$out/${name}_$hem.png" --pasted "$out/${name}_${hem}_pasted.png"
  done
  python3 - "$box" "$out/$name" "$persons/$person" "$out/${name}_keep_pasted.png" \
    "$out/${name}_mirror_pasted.png" <<'PY'
import sys
from PIL import Image
x, y, w, h = map(int, sys.argv[1].split(","))
for kind, path in zip(["photo", "keep", "mirror"], sys.argv[3:]):
    crop = Image.open(path).convert("RGB").crop((x, y, x + w, y + h))
    crop.save(f"{sys.argv[2]}_{kind}_waist.png")
PY
  sheet+=("$out/${name}_photo_waist.png,$out/${name}_keep_waist.png,$out/${name}_mirror_waist.png")
done
python3 docs/anyphoto/sheet.py docs/anyphoto/hem.jpg 1000 10 "${sheet[@]}"
