"""Measures VITON's background colour and garment placement (pipeline constants).

    python training/measure_viton.py ../shared/viton/train [--every 20]

- Background: the median colour of the pixels each person photo's parse marks as background
  (`image-parse/*.png`, label 0), then the median and the 10th/90th percentiles over photos
  (`framing::VITON_BACKGROUND`).
- Garments: the box of each `cloth-mask/*.jpg` (above 127) as fractions of the 192x256 frame:
  its width, height and centre (`garment_frame::VITON_GARMENT_*`).

The person's keypoint placement is measured by `examples/viton_target.rs`.
"""

import argparse
import os

import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("--every", type=int, default=20)
    args = ap.parse_args()
    names = sorted(os.listdir(os.path.join(args.train, "image")))[:: args.every]
    bgs, boxes = [], []
    for n in names:
        stem = n[:-4]
        im = np.asarray(Image.open(os.path.join(args.train, "image", n)).convert("RGB"))
        parse = np.asarray(Image.open(os.path.join(args.train, "image-parse", stem + ".png")))
        bgs.append(np.median(im[parse == 0].astype(float), axis=0))
        cloth = stem[:-1] + "1.jpg"
        m = np.asarray(Image.open(os.path.join(args.train, "cloth-mask", cloth)).convert("L")) > 127
        ys, xs = np.nonzero(m)
        h, w = m.shape
        boxes.append([xs.min() / w, (xs.max() + 1) / w, ys.min() / h, (ys.max() + 1) / h])
    bgs, boxes = np.array(bgs), np.array(boxes)
    pct = lambda v: f"{np.median(v, axis=0)} (p10 {np.percentile(v, 10, axis=0)}, p90 {np.percentile(v, 90, axis=0)})"
    print(f"{len(names)} photos")
    print("background colour", pct(bgs))
    print("garment width ", pct(boxes[:, 1] - boxes[:, 0]))
    print("garment height", pct(boxes[:, 3] - boxes[:, 2]))
    print("garment centre x", pct((boxes[:, 0] + boxes[:, 1]) / 2))
    print("garment centre y", pct((boxes[:, 2] + boxes[:, 3]) / 2))


if __name__ == "__main__":
    main()
