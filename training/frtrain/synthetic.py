"""A tiny synthetic VITON-layout folder: drawn persons, garments, masks, parses, poses.

For tests and dry runs only. Each person is a cartoon body (hair, face, arms, pants,
shoes) wearing a striped top in a random colour; its garment product photo is the same
top, flat on white. The parse (palette PNG with the LIP labels), the OpenPose JSON and
the garment mask are consistent with the drawing, and files follow the CP-VTON layout
(``image/``, ``cloth/``, ``cloth-mask/``, ``image-parse/``, ``pose/``, ``*_pairs.txt``).
"""

import json
import os
import random
from typing import List, Tuple

from PIL import Image, ImageDraw

from .data import SOURCE_SIZE

# The LIP palette's first colours (enough to make the parse a real palette PNG).
LIP_PALETTE = [
    0, 0, 0, 128, 0, 0, 254, 0, 0, 0, 85, 0, 169, 0, 51, 254, 85, 0, 0, 0, 85, 0, 119, 220, 85, 85, 0, 0, 85, 85,
    85, 51, 0, 52, 86, 128, 0, 128, 0, 0, 0, 254, 51, 169, 220, 0, 254, 254, 85, 254, 169, 169, 254, 85, 254, 254, 0,
    254, 169, 0,
]

SKIN = (224, 180, 150)
HAIR = (60, 40, 30)
PANTS = (40, 50, 90)
SHOES = (30, 30, 30)


def _keypoints(rng: random.Random) -> List[Tuple[float, float]]:
    dx, dy = rng.uniform(-6, 6), rng.uniform(-4, 4)
    base = [
        (96, 40), (96, 64), (72, 68), (64, 112), (60, 152), (120, 68), (128, 112), (132, 152), (84, 140),
        (84, 190), (84, 236), (108, 140), (108, 190), (108, 236), (91, 35), (101, 35), (86, 40), (106, 40),
    ]
    return [(x + dx, y + dy) for x, y in base]


def _top_polygon(k, sleeve: float) -> List[Tuple[float, float]]:
    """Torso from shoulders to hips, with sleeves reaching ``sleeve`` of the upper arm."""
    (nx, ny), (rsx, rsy), (rex, rey), (lsx, lsy), (lex, ley) = k[1], k[2], k[3], k[5], k[6]
    rhx, rhy, lhx, lhy = k[8][0], k[8][1], k[11][0], k[11][1]
    rs = (rsx + (rex - rsx) * sleeve, rsy + (rey - rsy) * sleeve)
    ls = (lsx + (lex - lsx) * sleeve, lsy + (ley - lsy) * sleeve)
    return [
        (nx - 10, ny - 2), (rsx - 2, rsy - 4), (rs[0] - 12, rs[1]), (rs[0] + 8, rs[1] + 4), (rhx - 8, rhy + 6),
        (lhx + 8, lhy + 6), (ls[0] - 8, ls[1] + 4), (ls[0] + 12, ls[1]), (lsx + 2, lsy - 4), (nx + 10, ny - 2),
    ]


def _stripes(draw: ImageDraw.ImageDraw, box, colour, stripe, period: int) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle(box, fill=colour)
    for y in range(int(y0), int(y1), period):
        draw.rectangle((x0, y, x1, y + period // 3), fill=stripe)


def _person(rng: random.Random, colour, stripe, period: int, sleeve: float):
    h, w = SOURCE_SIZE
    k = _keypoints(rng)
    image = Image.new("RGB", (w, h), (250, 250, 250))
    parse = Image.new("P", (w, h), 0)
    parse.putpalette(LIP_PALETTE + [0] * (768 - len(LIP_PALETTE)))
    di, dp = ImageDraw.Draw(image), ImageDraw.Draw(parse)

    def both(shape, args, rgb, label, **kw):
        getattr(di, shape)(args, fill=rgb, **kw)
        getattr(dp, shape)(args, fill=label, **kw)

    # legs / pants and shoes
    for hip, ankle, shoe_label in ((8, 10, 19), (11, 13, 18)):
        both("line", [k[hip], k[ankle]], PANTS, 9, width=22)
        ax, ay = k[ankle]
        both("ellipse", (ax - 12, ay - 4, ax + 12, ay + 10), SHOES, shoe_label)
    # arms (label 15 right arm: keypoints 2-4; 14 left arm: 5-7)
    for chain, label in (((2, 3, 4), 15), ((5, 6, 7), 14)):
        both("line", [k[chain[0]], k[chain[1]], k[chain[2]]], SKIN, label, width=16)
        wx, wy = k[chain[2]]
        both("ellipse", (wx - 8, wy - 4, wx + 8, wy + 14), SKIN, label)
    # the top, with stripes in the photo
    polygon = _top_polygon(k, sleeve)
    dp.polygon(polygon, fill=5)
    texture = Image.new("RGB", (w, h))
    _stripes(ImageDraw.Draw(texture), (0, 0, w, h), colour, stripe, period)
    shape = Image.new("L", (w, h), 0)
    ImageDraw.Draw(shape).polygon(polygon, fill=255)
    image.paste(texture, (0, 0), shape)
    # head
    nx, ny = k[0]
    both("ellipse", (nx - 17, ny - 26, nx + 17, ny + 10), HAIR, 2)
    both("ellipse", (nx - 13, ny - 18, nx + 13, ny + 16), SKIN, 13)
    return image, parse, k, polygon


def _garment(k, polygon, colour, stripe, period: int):
    """The same top, flat, centred on white, and its mask."""
    h, w = SOURCE_SIZE
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    shifted = [(x - cx + w / 2, (y - cy) * 1.1 + h / 2) for x, y in polygon]
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).polygon(shifted, fill=255)
    texture = Image.new("RGB", (w, h))
    _stripes(ImageDraw.Draw(texture), (0, 0, w, h), colour, stripe, period)
    cloth = Image.new("RGB", (w, h), (255, 255, 255))
    cloth.paste(texture, (0, 0), mask)
    return cloth, mask


def make_synthetic_viton(root: str, n_train: int = 6, n_val: int = 3, seed: int = 0) -> str:
    """Write a synthetic VITON folder under ``root``; returns ``root``."""
    rng = random.Random(seed)
    for split, count, first in (("train", n_train, 1), ("val", n_val, 1001)):
        for sub in ("image", "cloth", "cloth-mask", "image-parse", "pose"):
            os.makedirs(os.path.join(root, split, sub), exist_ok=True)
        pairs = []
        for i in range(count):
            stem = f"{first + i:06d}"
            colour = tuple(rng.randrange(30, 230) for _ in range(3))
            stripe = tuple(max(0, c - 60) for c in colour)
            period = rng.choice((9, 12, 15))
            sleeve = rng.uniform(0.3, 0.9)
            image, parse, k, polygon = _person(rng, colour, stripe, period, sleeve)
            cloth, mask = _garment(k, polygon, colour, stripe, period)
            image.save(os.path.join(root, split, "image", f"{stem}_0.jpg"), quality=95)
            cloth.save(os.path.join(root, split, "cloth", f"{stem}_1.jpg"), quality=95)
            mask.save(os.path.join(root, split, "cloth-mask", f"{stem}_1.jpg"), quality=95)
            parse.save(os.path.join(root, split, "image-parse", f"{stem}_0.png"))
            keypoints = []
            for x, y in k:
                keypoints += [round(x, 3), round(y, 3), 0.9]
            with open(os.path.join(root, split, "pose", f"{stem}_0_keypoints.json"), "w") as f:
                json.dump({"version": 1.0, "people": [{"face_keypoints": [], "pose_keypoints": keypoints}]}, f)
            pairs.append((f"{stem}_0.jpg", f"{stem}_1.jpg"))
        with open(os.path.join(root, f"{split}_pairs.txt"), "w") as f:
            f.writelines(f"{p} {g}\n" for p, g in pairs)
        if split == "val":
            with open(os.path.join(root, "val_unpaired.txt"), "w") as f:
                for i, (p, _) in enumerate(pairs):
                    f.write(f"{p} {pairs[(i + 1) % len(pairs)][1]}\n")
    return root
