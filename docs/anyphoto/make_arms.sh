#!/usr/bin/env bash
# The contact sheet docs/anyphoto/arms.jpg: people in long sleeves dressed in short-sleeved
# garments. Columns: the photo, the result with the old sleeves as the network renders them
# (`--sleeves keep`), and as the app gives it (the uncovered sleeves painted as bare arms).
#
#   cargo build --release && docs/anyphoto/make_arms.sh PHOTOS_DIR GARMENTS_DIR OUT_DIR
#
# PHOTOS_DIR and GARMENTS_DIR hold the real photos (README, Any photo). Needs Python with Pillow.
set -euo pipefail
cd "$(dirname "$0")/../.."
persons=$1 garments=$2 out=$3
mkdir -p "$out"
rows=(
  "01008_00.jpg 00126_00.jpg a"
  "01861_00.jpg 07764_00.jpg b"
  "051962_0.jpg 00126_00.jpg c"
  "052767_0.jpg 07764_00.jpg d"
)
sheet=()
for row in "${rows[@]}"; do
  set -- $row
  for sleeves in keep bare; do
    target/release/fitting-room tryon --person "$persons/$1" --garment "$garments/$2" \
      --sleeves "$sleeves" --out "$out/$3_$sleeves.png" --pasted "$out/$3_${sleeves}_pasted.png"
  done
  sheet+=("$persons/$1,$out/$3_keep_pasted.png,$out/$3_bare_pasted.png")
done
python3 docs/anyphoto/sheet.py docs/anyphoto/arms.jpg 1000 10 "${sheet[@]}"
