#!/usr/bin/env bash
# The contact sheet docs/anyphoto/stress.jpg: real photos changed the way people's own photos
# differ from studio shots, each dressed by the app's chain. Rows: a phone held over the face
# (a mirror selfie), underexposed and noisy (a dim room), tilted by 15 degrees (a phone held
# askew), a close webcam frame (640x480, head and chest); columns: the photo, what the network
# sees, the result pasted into the photo.
#
#   cargo build --release && docs/anyphoto/make_stress.sh PHOTOS_DIR OUT_DIR
#
# PHOTOS_DIR holds the real photos (see README, Any photo). Needs Python with Pillow and NumPy.
set -euo pipefail
cd "$(dirname "$0")/../.."
persons=$1 out=$2
mkdir -p "$out"
garment=assets/wardrobe/pastel-striped-tee.jpg
python3 - "$persons" "$out" <<'PY'
import json, subprocess, sys
import numpy as np
from PIL import Image, ImageDraw
persons, out = sys.argv[1], sys.argv[2]

def keypoints(path):
    subprocess.run(["target/release/fitting-room", "person", path, "--out", f"{out}/kp"],
                   check=True, capture_output=True)
    return json.load(open(f"{out}/kp/keypoints.json"))["person"]["keypoints"]

# A phone over the face: a dark rounded slab over the nose, the mouth and one eye.
src = f"{persons}/07966_00.jpg"
k = keypoints(src)
im = Image.open(src).convert("RGB")
eyes = 1.8 * abs(k[2]["x"] - k[5]["x"])
w, h, nx, ny = 2.2 * eyes, 3.6 * eyes, k[0]["x"], k[0]["y"]
ImageDraw.Draw(im).rounded_rectangle(
    [nx - 0.3 * w, ny - 0.45 * h, nx + 0.7 * w, ny + 0.55 * h], radius=0.3 * eyes, fill=(25, 25, 30))
im.save(f"{out}/a.png")

# A dim room: a quarter of the light in linear terms, with sensor noise.
px = np.asarray(Image.open(f"{persons}/051918_0.jpg").convert("RGB")).astype(float) / 255
dim = (px ** 2.2 * 0.25) ** (1 / 2.2)
dim = dim + np.random.default_rng(0).normal(0, 0.02, dim.shape)
Image.fromarray((np.clip(dim, 0, 1) * 255).astype(np.uint8)).save(f"{out}/b.png")

# Held askew.
Image.open(f"{persons}/model_2.png").convert("RGB").rotate(
    15, resample=Image.BICUBIC, expand=True, fillcolor=(238, 226, 222)).save(f"{out}/c.png")

# A close webcam frame: head and chest, 4:3.
Image.open(f"{persons}/07966_00.jpg").convert("RGB").crop((0, 0, 768, 576)).resize(
    (640, 480), Image.LANCZOS).save(f"{out}/d.png")
PY
for k in a b c d; do
  target/release/fitting-room tryon --person "$out/$k.png" --garment "$garment" \
    --out "$out/${k}_low.png" --pasted "$out/${k}_pasted.png" --seen "$out/${k}_seen.png"
done
rows=()
for k in a b c d; do
  rows+=("$out/$k.png,$out/${k}_seen.png,$out/${k}_pasted.png")
done
python3 docs/anyphoto/sheet.py docs/anyphoto/stress.jpg 900 10 "${rows[@]}"
