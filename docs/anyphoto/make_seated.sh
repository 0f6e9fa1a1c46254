#!/usr/bin/env bash
# The contact sheet docs/anyphoto/seated.jpg: seated people, from NASA's Apollo 11 crew portrait
# (public domain; the test fixture tests/fixtures/images/apollo11-crew.jpg), each row dressed by
# the app's chain. Rows: the whole portrait (three men, two seated in front), its left part (a
# seated man in front, a standing one behind him cut off by the edge), its right part (a seated
# man alone); columns: the photo, what the network sees, the result pasted into the photo.
#
#   cargo build --release && docs/anyphoto/make_seated.sh OUT_DIR
#
# Needs Python with Pillow.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$1
mkdir -p "$out"
crew=tests/fixtures/images/apollo11-crew.jpg
python3 - "$crew" "$out" <<'PY'
import sys
from PIL import Image
crew, out = sys.argv[1], sys.argv[2]
im = Image.open(crew).convert("RGB")
im.save(f"{out}/a.png")
im.crop((0, 100, 330, 471)).save(f"{out}/b.png")
im.crop((330, 60, 600, 471)).save(f"{out}/c.png")
PY
garments=(assets/wardrobe/blue-floral-tee.jpg assets/wardrobe/pastel-striped-tee.jpg
  assets/wardrobe/navy-striped-v-neck-tee.jpg)
rows=()
for i in 0 1 2; do
  k=$(printf "\\x$(printf %x $((97 + i)))")
  target/release/fitting-room tryon --person "$out/$k.png" --garment "${garments[$i]}" \
    --out "$out/${k}_low.png" --pasted "$out/${k}_pasted.png" --seen "$out/${k}_seen.png"
  rows+=("$out/$k.png,$out/${k}_seen.png,$out/${k}_pasted.png")
done
python3 docs/anyphoto/sheet.py docs/anyphoto/seated.jpg 900 10 "${rows[@]}"
