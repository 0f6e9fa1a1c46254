#!/usr/bin/env python3
"""Write the small image files the Rust input tests read (tests/fixtures/images/).

Usage (from the repository root): python training/make_image_fixtures.py

- exif_rotated.jpg: stored 40x30 (landscape) with EXIF orientation 6 ("rotate 90 CW to show"),
  so it must load as 30x40 portrait, the red marker ending up top-right.
- cmyk.jpg: a CMYK JPEG (print workflows produce these).
- huge_header.png: a PNG declaring 50000x50000 (a decompression bomb's header) whose pixel
  data is only the first few rows.
- truncated.jpg: the first half of a valid JPEG.
- stars.jpg: scikit-image's `hubble_deep_field` (NASA, public domain) at 800 px wide, in which
  the pose models read an upright person with visible shoulders but a face they say is not
  there (needs scikit-image).
"""

import io
import os
import struct
import zlib

from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "images")


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    # Landscape storage; displayed upright it is portrait with the marker top-right.
    stored = Image.new("RGB", (40, 30), (0, 0, 255))
    for x in range(0, 8):
        for y in range(0, 8):
            stored.putpixel((x, y), (255, 0, 0))  # top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(os.path.join(OUT, "exif_rotated.jpg"), quality=95, exif=exif.tobytes())

    Image.new("CMYK", (24, 32), (0, 200, 200, 0)).save(os.path.join(OUT, "cmyk.jpg"), quality=95)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0)
    with open(os.path.join(OUT, "huge_header.png"), "wb") as f:
        rows = zlib.compress(b"\x00" * (3 * 50000 + 1) * 4)
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (30, 160, 90)).save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    with open(os.path.join(OUT, "truncated.jpg"), "wb") as f:
        f.write(data[: len(data) // 2])

    from skimage import data as samples

    stars = Image.fromarray(samples.hubble_deep_field())
    stars = stars.resize((800, round(stars.height * 800 / stars.width)), Image.LANCZOS)
    stars.save(os.path.join(OUT, "stars.jpg"), quality=85)


if __name__ == "__main__":
    main()
