"""Builds the "in the wild" set: VITON val persons on real backgrounds, at known placements
(or train persons, `--viton .../train`, for a set to choose thresholds on).

    python training/wild_set.py --viton ../shared/viton/val --backgrounds BG_DIR --out OUT [--n 100]
    # from the persons no training run sees, to choose checkpoints on:
    python training/wild_set.py --viton ../shared/viton/train --holdout 200 --n 200 --seed 5 ...

For each of the first N val pairs (val_pairs.txt next to the val folder), the person is cut out
with its parse (every label but background, and what the parse leaves out of the person: the
neck, holes, bare skin; `person_alpha`; edges softened by one pixel), scaled so that its
192x256 frame is 30% to 120% of the photo's height, shifted at random (the frame's centre stays in
the photo), and laid over a background photo cropped and scaled to one of several photo sizes
(portrait, landscape, square, webcam). Writes OUT/photos/NAME.png, OUT/mask/NAME.png (the placed
person, white) and OUT/manifest.json: per photo the val person and garment, and `frame`, the
VITON frame's placement x, y, width, height in photo pixels (x, y may be negative).

The backgrounds are any photos; the README names the ones used (scikit-image's sample images,
public domain / CC0) and how to get them. The random choices are seeded: the same inputs give
the same set.
"""

import argparse
import json
import os
import random

import numpy as np
from PIL import Image, ImageFilter

SIZES = [(1536, 2048), (2048, 1536), (640, 480), (1080, 1920), (1024, 1024), (768, 1024)]


def fill_neck(mask, gap=24):
    """VITON's parses leave the neck unlabelled (LIP has no neck class): in each column, a run
    of background at most `gap` pixels long between person pixels is person."""
    out = mask.copy()
    for x in range(mask.shape[1]):
        ys = np.nonzero(mask[:, x])[0]
        if len(ys) < 2:
            continue
        for a, b in zip(ys[:-1], ys[1:]):
            if 1 < b - a <= gap:
                out[a:b, x] = True
    return out


def _reach(seed, allowed):
    """The pixels of `allowed` (bool HxW) 4-connected to `seed` through `allowed`."""
    reached = seed & allowed
    while True:
        grown = reached.copy()
        grown[1:] |= reached[:-1]
        grown[:-1] |= reached[1:]
        grown[:, 1:] |= reached[:, :-1]
        grown[:, :-1] |= reached[:, 1:]
        grown &= allowed
        if np.array_equal(grown, reached):
            return reached
        reached = grown


def _regions(mask):
    """4-connected regions of `mask` (bool HxW), as (ys, xs) index arrays."""
    seen = np.zeros_like(mask)
    h, w = mask.shape
    regions = []
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        stack, ys, xs = [(y0, x0)], [], []
        while stack:
            y, x = stack.pop()
            ys.append(y)
            xs.append(x)
            for v, u in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= v < h and 0 <= u < w and mask[v, u] and not seen[v, u]:
                    seen[v, u] = True
                    stack.append((v, u))
        regions.append((np.array(ys), np.array(xs)))
    return regions


def person_alpha(image, parse, distance=40):
    """The set's cut-out of a VITON person (bool HxW) from its photo and parse.

    VITON's parses come from a human parser with no neck or chest label, which also leaves
    patches of dark or printed garments unlabelled; cut out by the parse alone, the room shows
    through the person once they are placed on it. So, from the parse's person region:
    1. the neck (`fill_neck`);
    2. each hole (background not connected to the photo's border) unless most of it has the
       backdrop's colour (the median of the connected background; within `distance` levels),
       as the gap between an arm and the body has;
    3. the pixels connected to the person whose colour is not the backdrop's (bare shoulders
       and chest, hair), as VITON's backdrops are plain and light. A garment as light as the
       backdrop keeps the parse's outline.
    """
    return grow_person(image, fill_neck(parse > 0), distance)


def grow_person(image, mask, distance=40):
    """Steps 2 and 3 of `person_alpha` from a person mask whose neck is filled in."""
    x = np.asarray(image.convert("RGB")).astype(np.float32)
    mask = mask.copy()
    border = np.zeros_like(mask)
    border[0], border[-1], border[:, 0], border[:, -1] = True, True, True, True
    outside = _reach(border, ~mask)
    if not outside.any():
        return mask
    backdrop = np.median(x[outside], axis=0)
    far = np.abs(x - backdrop).max(axis=2) > distance
    for ys, xs in _regions(~mask & ~outside):
        if far[ys, xs].mean() > 0.5:
            mask[ys, xs] = True
    return _reach(mask, mask | far)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--viton", required=True, help="VITON val folder (image/, image-parse/)")
    ap.add_argument("--backgrounds", required=True, help="folder of background photos")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--holdout",
        type=int,
        default=0,
        help="take the persons from the last N pairs of the list (training's held-out slice of train/, "
        "where checkpoints are chosen: train.py --holdout N)",
    )
    args = ap.parse_args()

    rng = random.Random(args.seed)
    # The pairs list beside the folder: val_pairs.txt for val/, train_pairs.txt for train/ (a
    # set from train is for choosing the pipeline's thresholds without looking at val).
    folder = os.path.abspath(args.viton)
    pairs_file = os.path.join(os.path.dirname(folder), os.path.basename(folder) + "_pairs.txt")
    pairs = [l.split() for l in open(pairs_file) if l.strip()]
    if args.holdout:
        from frtrain.data import split_heldout  # the training's own rule for the slice

        pairs = split_heldout(pairs, args.holdout)[1]
    pairs = pairs[: args.n]
    bgs = sorted(
        os.path.join(args.backgrounds, f)
        for f in os.listdir(args.backgrounds)
        if f.lower().endswith((".png", ".jpg", ".jpeg"))
    )
    os.makedirs(os.path.join(args.out, "photos"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "mask"), exist_ok=True)
    manifest = []
    for i, (person, garment) in enumerate(pairs):
        stem = person[:-4]
        img = Image.open(os.path.join(args.viton, "image", person)).convert("RGB")
        parse = np.asarray(Image.open(os.path.join(args.viton, "image-parse", stem + ".png")))
        alpha = Image.fromarray((person_alpha(img, parse) * 255).astype(np.uint8)).filter(
            ImageFilter.GaussianBlur(0.7)
        )
        w, h = SIZES[i % len(SIZES)]
        bg = Image.open(bgs[i % len(bgs)]).convert("RGB")
        # Cover the photo size with the background (scaled, centre-cropped).
        s = max(w / bg.width, h / bg.height)
        bg = bg.resize((max(w, round(bg.width * s)), max(h, round(bg.height * s))), Image.LANCZOS)
        bx, by = (bg.width - w) // 2, (bg.height - h) // 2
        photo = bg.crop((bx, by, bx + w, by + h))

        frame_h = round(h * rng.uniform(0.30, 1.20))
        frame_w = round(frame_h * 3 / 4)
        # The frame's centre anywhere in the middle 80% of the photo.
        cx = rng.uniform(0.1, 0.9) * w
        cy = rng.uniform(0.1, 0.9) * h
        fx, fy = round(cx - frame_w / 2), round(cy - frame_h / 2)
        person_big = img.resize((frame_w, frame_h), Image.LANCZOS)
        alpha_big = alpha.resize((frame_w, frame_h), Image.LANCZOS)
        photo.paste(person_big, (fx, fy), alpha_big)
        mask = Image.new("L", (w, h), 0)
        mask.paste(alpha_big, (fx, fy))

        name = f"{i:03d}_{stem}"
        photo.save(os.path.join(args.out, "photos", name + ".png"))
        mask.save(os.path.join(args.out, "mask", name + ".png"))
        manifest.append(
            {
                "name": name,
                "person": person,
                "garment": garment,
                "background": os.path.basename(bgs[i % len(bgs)]),
                "size": [w, h],
                "frame": [fx, fy, frame_w, frame_h],
            }
        )
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"{len(manifest)} photos in {args.out}")


if __name__ == "__main__":
    main()
