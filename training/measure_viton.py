"""Measures VITON's background colour and garment placement (pipeline constants).

    python training/measure_viton.py ../shared/viton/train [--every 20]

- Background: the median colour of the pixels each person photo's parse marks as background
  (`image-parse/*.png`, label 0), then the median and the 10th/90th percentiles over photos
  (`framing::VITON_BACKGROUND`).
- Exposure: in linear light (Rec. 709 luminance), the brightest 2% of each person's pixels
  (the parse's labels but background, eroded by 2 pixels so no backdrop blends in) and the
  brightest 1% of the whole photo; their 0.5% quantiles over photos are what the darkest
  photos VITON holds reach (`exposure::PERSON_WHITE`, `exposure::SCENE_WHITE`).
- Garments: the box of each `cloth-mask/*.jpg` (above 127) as fractions of the 192x256 frame:
  its width, height and centre (`garment_frame::VITON_GARMENT_*`).
- Framing: how much VITON's own crops vary around their persons, from the parse alone: the
  horizontal middle of the person's silhouette in the torso's rows (35-60% of the height), the
  face's middle, and the face's size (square root of its area), as fractions of the frame (a
  crop fitted to any of them inherits this spread; README, "Measured in the wild").

The person's keypoint placement is measured by `examples/viton_target.rs`.
"""

import argparse
import os

import numpy as np
from PIL import Image, ImageFilter


# The parse's face label (LIP's labels).
FACE = 13


def luminance(rgb):
    v = rgb.astype(np.float32) / 255
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("--every", type=int, default=20)
    args = ap.parse_args()
    names = sorted(os.listdir(os.path.join(args.train, "image")))[:: args.every]
    bgs, boxes, whites, framing = [], [], [], []
    for n in names:
        stem = n[:-4]
        im = np.asarray(Image.open(os.path.join(args.train, "image", n)).convert("RGB"))
        parse = np.asarray(Image.open(os.path.join(args.train, "image-parse", stem + ".png")))
        bgs.append(np.median(im[parse == 0].astype(float), axis=0))
        person = Image.fromarray(((parse != 0) * 255).astype(np.uint8))
        inner = np.asarray(person.filter(ImageFilter.MinFilter(5))) > 0
        y = luminance(im)
        whites.append([np.percentile(y[inner], 98), np.percentile(y, 99)])
        face = parse == FACE
        band = parse[int(0.35 * parse.shape[0]) : int(0.6 * parse.shape[0])] != 0
        if face.sum() >= 20 and band.any():
            fy, fx = np.nonzero(face)
            bx = np.nonzero(band.any(axis=0))[0]
            h, w = parse.shape
            framing.append(
                [(bx.min() + bx.max() + 1) / 2 / w, fx.mean() / w, fy.mean() / h, np.sqrt(face.sum()) / w]
            )
        cloth = stem[:-1] + "1.jpg"
        m = np.asarray(Image.open(os.path.join(args.train, "cloth-mask", cloth)).convert("L")) > 127
        ys, xs = np.nonzero(m)
        h, w = m.shape
        boxes.append([xs.min() / w, (xs.max() + 1) / w, ys.min() / h, (ys.max() + 1) / h])
    bgs, boxes, whites = np.array(bgs), np.array(boxes), np.array(whites)
    pct = lambda v: f"{np.median(v, axis=0)} (p10 {np.percentile(v, 10, axis=0)}, p90 {np.percentile(v, 90, axis=0)})"
    print(f"{len(names)} photos")
    print("background colour", pct(bgs))
    for i, what in enumerate(["person's brightest 2%", "photo's brightest 1%"]):
        q = np.percentile(whites[:, i], [0.5, 1, 5, 50])
        print(f"{what} (linear): quantiles 0.5% {q[0]:.3f}, 1% {q[1]:.3f}, 5% {q[2]:.3f}, 50% {q[3]:.3f}")
    framing = np.array(framing)
    for i, what in enumerate(
        ["silhouette's middle x", "face's middle x", "face's middle y", "face's size (of the width)"]
    ):
        p10, p50, p90 = np.percentile(framing[:, i], [10, 50, 90])
        print(f"{what}: median {p50:.3f} (p10 {p10:.3f}, p90 {p90:.3f}; +-{(p90 - p10) / 2 / p50:.1%})")
    print("garment width ", pct(boxes[:, 1] - boxes[:, 0]))
    print("garment height", pct(boxes[:, 3] - boxes[:, 2]))
    print("garment centre x", pct((boxes[:, 0] + boxes[:, 1]) / 2))
    print("garment centre y", pct((boxes[:, 2] + boxes[:, 3]) / 2))


if __name__ == "__main__":
    main()
