#!/usr/bin/env python3
"""Runs `fitting-room person` on photos and tiles the overlays into one contact sheet.

    cargo build --release
    training/person/.venv/bin/python training/person/contact_sheet.py \
        --out docs/person-contact-sheet.jpg PHOTO... [--astronaut]

`--astronaut` adds scikit-image's astronaut (NASA, public domain). Each tile is the overlay
(background dimmed by the matte, skeleton, box) with the photo's name and size under it.
"""

import argparse
import json
import os
import subprocess
import tempfile

from PIL import Image, ImageDraw

TILE_H = 360


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("photos", nargs="*")
    parser.add_argument("--out", required=True)
    parser.add_argument("--astronaut", action="store_true")
    parser.add_argument("--binary", default="target/release/fitting-room")
    parser.add_argument("--columns", type=int, default=4)
    args = parser.parse_args()

    work = tempfile.mkdtemp()
    photos = list(args.photos)
    if args.astronaut:
        from skimage import data

        path = os.path.join(work, "astronaut.png")
        Image.fromarray(data.astronaut()).save(path)
        photos.append(path)

    tiles = []
    for i, photo in enumerate(photos):
        out = os.path.join(work, str(i))
        subprocess.run([args.binary, "person", photo, "--out", out, "--device", "cpu"], check=True)
        result = json.load(open(os.path.join(out, "keypoints.json")))
        overlay = os.path.join(out, "overlay.png")
        img = Image.open(overlay if os.path.exists(overlay) else photo).convert("RGB")
        img = img.resize((max(1, round(img.width * TILE_H / img.height)), TILE_H), Image.BILINEAR)
        label = f"{os.path.basename(photo)} {result['width']}x{result['height']}"
        if result["person"] is None:
            label += f" - {result['message']}"
        tile = Image.new("RGB", (img.width, TILE_H + 22), "white")
        tile.paste(img, (0, 0))
        ImageDraw.Draw(tile).text((4, TILE_H + 5), label, fill="black")
        tiles.append(tile)

    rows = [tiles[i : i + args.columns] for i in range(0, len(tiles), args.columns)]
    width = max(sum(t.width for t in row) + 4 * (len(row) - 1) for row in rows)
    sheet = Image.new("RGB", (width, len(rows) * (TILE_H + 26)), "white")
    y = 0
    for row in rows:
        x = 0
        for t in row:
            sheet.paste(t, (x, y))
            x += t.width + 4
        y += TILE_H + 26
    sheet.save(args.out, quality=85)
    print(f"wrote {args.out} ({len(tiles)} photos)")


if __name__ == "__main__":
    main()
