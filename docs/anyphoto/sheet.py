#!/usr/bin/env python3
"""A contact sheet: rows of pictures side by side, each row scaled to 300 px high.

    python3 docs/anyphoto/sheet.py OUT.jpg WIDTH GAP ROW [ROW ...]

ROW: the row's pictures, comma-separated. GAP: white pixels between pictures and between rows.
WIDTH: the sheet's final width (0 keeps its own). Needs Pillow.
"""
import sys

from PIL import Image

H = 300


def main(out, width, gap, rows):
    lines = []
    for row in rows:
        ims = [Image.open(p).convert("RGB") for p in row.split(",")]
        ims = [im.resize((round(im.width * H / im.height), H)) for im in ims]
        line = Image.new("RGB", (sum(i.width for i in ims) + gap * (len(ims) - 1), H), "white")
        x = 0
        for im in ims:
            line.paste(im, (x, 0))
            x += im.width + gap
        lines.append(line)
    sheet = Image.new("RGB", (max(l.width for l in lines), (H + gap) * len(lines) - gap), "white")
    for i, line in enumerate(lines):
        sheet.paste(line, (0, i * (H + gap)))
    if width:
        sheet = sheet.resize((width, round(sheet.height * width / sheet.width)), Image.LANCZOS)
    sheet.save(out, quality=82 if width else 85)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
