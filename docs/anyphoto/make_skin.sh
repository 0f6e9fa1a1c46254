#!/usr/bin/env bash
# The contact sheet docs/anyphoto/skin.jpg: people whose old top the new garment leaves
# uncovered on the torso (T-shirts tried in a camisole, a round neck in a wider one). Each row
# shows the torso, cut from: the photo, the result with that skin as the network paints it
# (`--skin keep`), and as the app gives it (the person's own skin colour, the network's shading).
# The cut is the box where the two results differ, with a margin.
#
#   cargo build --release && docs/anyphoto/make_skin.sh PHOTOS_DIR GARMENTS_DIR OUT_DIR
#
# PHOTOS_DIR and GARMENTS_DIR hold the real photos (README, Any photo). Needs Python with Pillow
# and NumPy.
set -euo pipefail
cd "$(dirname "$0")/../.."
persons=$1 garments=$2 out=$3
mkdir -p "$out"
# person, garment, name
rows=(
  "051918_0.jpg 02015_00.jpg a"
  "07966_00.jpg 02015_00.jpg b"
  "052767_0.jpg 02015_00.jpg c"
  "07966_00.jpg 049805_1.jpg d"
)
sheet=()
for row in "${rows[@]}"; do
  read -r person garment name <<<"$row"
  for skin in keep own; do
    target/release/fitting-room tryon --person "$persons/$person" --garment "$garments/$garment" \
      --skin "$skin" --out "$out/${name}_$skin.png" --pasted "$out/${name}_${skin}_pasted.png"
  done
  python3 - "$out/$name" "$persons/$person" "$out/${name}_keep_pasted.png" \
    "$out/${name}_own_pasted.png" <<'PY'
import sys
import numpy as np
from PIL import Image
photo, keep, own = (Image.open(p).convert("RGB") for p in sys.argv[2:])
a, b = np.asarray(keep).astype(int), np.asarray(own).astype(int)
ys, xs = np.nonzero(np.abs(a - b).max(axis=2) > 30)
m = 40
box = (max(0, xs.min() - m), max(0, ys.min() - m),
       min(photo.width, xs.max() + m), min(photo.height, ys.max() + m))
for kind, im in zip(["photo", "keep", "own"], [photo, keep, own]):
    im.crop(box).save(f"{sys.argv[1]}_{kind}_torso.png")
PY
  sheet+=("$out/${name}_photo_torso.png,$out/${name}_keep_torso.png,$out/${name}_own_torso.png")
done
python3 docs/anyphoto/sheet.py docs/anyphoto/skin.jpg 1000 10 "${sheet[@]}"
