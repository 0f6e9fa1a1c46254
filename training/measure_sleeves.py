"""Whether a garment has long sleeves, from its mask: the rule the composition follows before it
paints an old sleeve as a bare arm (`src/pipeline/arms.rs`, `long_sleeved`).

A long-sleeved garment's warp does not always reach down the arms; where it stops short, the arm
below it must not be painted as skin, since the new garment's own sleeve belongs there.

Labels come from VITON's train split, each person wearing their own garment: a forearm is
covered when its middle (the OpenPose elbow-wrist segment, from a quarter to three quarters)
is the parse's upper-clothes, dress or coat, and bare when it is the parse's arm. A person with
every measurable forearm covered wears a long-sleeved garment, with every one bare a
short-sleeved or sleeveless one; others are left out. The features are the mask's shape within
its box: in eight bands from top to bottom, the mean width the garment spans and the mean share
of the box's width it fills, and the box's height over its width. A logistic regression is fitted
on the first half of the labelled garments and checked on the second.

    python training/measure_sleeves.py --viton path/to/viton/train
    python training/measure_sleeves.py --fixture tests/fixtures/long_sleeves.json \
        assets/wardrobe/*.mask.png

The first prints the weights (for `arms.rs`) and the held-out figures; the second writes the
scores of the given masks for the Rust test.
"""

import argparse
import json
import os

import numpy as np
from PIL import Image

BANDS = 8

# The weights `arms.rs` holds: fitted by the first command on VITON train (the first half of the
# labelled garments), rounded to two decimals.
COMMITTED = [
    -2.24, -2.09, -0.89, 1.61, 3.31, 4.03, 3.15, 1.54,
    0.73, -0.46, -0.6, 0.04, 1.01, 1.59, 0.3, -4.18,
    -3.1, -3.0,
]


def features(mask):
    """The mask's shape (a 2-D uint8 array, > 127 = garment); None when it is too small."""
    m = np.asarray(mask) > 127
    rows = np.where(m.any(1))[0]
    cols = np.where(m.any(0))[0]
    if len(rows) < 2 * BANDS or len(cols) < 2:
        return None
    m = m[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = m.shape
    span = np.zeros(h)
    fill = m.sum(1).astype(np.float64)
    for y in range(h):
        xs = np.where(m[y])[0]
        if len(xs):
            span[y] = xs[-1] - xs[0] + 1
    span /= w
    fill /= w
    bands = [((i * h) // BANDS, ((i + 1) * h) // BANDS) for i in range(BANDS)]
    return [span[a:b].mean() for a, b in bands] + [fill[a:b].mean() for a, b in bands] + [h / w]


def score(mask, weights):
    f = features(mask)
    if f is None:
        return None
    return float(np.dot(np.r_[f, 1.0], weights))


def forearm(parse, pose, elbow, wrist):
    """1 covered, 0 bare, None when not measurable."""
    if pose[elbow][2] < 0.3 or pose[wrist][2] < 0.3:
        return None
    votes = []
    for t in np.linspace(0.25, 0.75, 5):
        x = pose[elbow][0] + t * (pose[wrist][0] - pose[elbow][0])
        y = pose[elbow][1] + t * (pose[wrist][1] - pose[elbow][1])
        xi, yi = int(round(x)), int(round(y))
        if not (1 <= xi < parse.shape[1] - 1 and 1 <= yi < parse.shape[0] - 1):
            return None
        v = parse[yi - 1 : yi + 2, xi - 1 : xi + 2].ravel()
        if np.isin(v, [5, 6, 7]).mean() > 0.5:
            votes.append(1)
        elif np.isin(v, [14, 15]).mean() > 0.5:
            votes.append(0)
        else:
            votes.append(-1)
    votes = np.array(votes)
    if (votes == 1).mean() >= 0.8:
        return 1
    if (votes == 0).mean() >= 0.8:
        return 0
    return None


def labelled(root):
    xs, ys = [], []
    for name in sorted(os.listdir(os.path.join(root, "image"))):
        stem = name[:-4]
        try:
            with open(os.path.join(root, "pose", stem + "_keypoints.json")) as f:
                people = json.load(f)["people"]
            pose = np.array(people[0]["pose_keypoints"]).reshape(-1, 3)
        except (OSError, KeyError, IndexError, ValueError):
            continue
        parse = np.asarray(Image.open(os.path.join(root, "image-parse", stem + ".png")))
        arms = [forearm(parse, pose, 3, 4), forearm(parse, pose, 6, 7)]
        arms = [a for a in arms if a is not None]
        if not arms or len(set(arms)) > 1:
            continue
        garment = stem[:-2] + "_1.jpg"
        mask = Image.open(os.path.join(root, "cloth-mask", garment)).convert("L")
        f = features(mask)
        if f is None:
            continue
        xs.append(f)
        ys.append(arms[0])
    return np.array(xs), np.array(ys, dtype=np.float64)


def fit(x, y, l2=1e-3, steps=4000, rate=0.5):
    """Logistic regression, the two classes weighted equally."""
    xb = np.c_[x, np.ones(len(x))]
    w = np.zeros(xb.shape[1])
    sw = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ w))
        w -= rate * (xb.T @ ((p - y) * sw) / len(y) + l2 * w)
    return w


def report(name, x, y, w):
    p = (np.c_[x, np.ones(len(x))] @ w) > 0
    long = y == 1
    print(
        f"{name}: {long.sum()} long, {(~long).sum()} short or sleeveless; long taken for short "
        f"{(long & ~p).sum() / long.sum():.1%}, short for long {(~long & p).sum() / (~long).sum():.1%}"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--viton", help="VITON train folder (image, image-parse, pose, cloth-mask)")
    ap.add_argument("--fixture", help="write the committed weights' scores of MASKS here")
    ap.add_argument("masks", nargs="*")
    args = ap.parse_args()
    if args.viton:
        x, y = labelled(args.viton)
        half = len(x) // 2
        w = fit(x[:half], y[:half])
        report("fitted on", x[:half], y[:half], w)
        report("held out", x[half:], y[half:], w)
        report("held out, committed weights", x[half:], y[half:], np.array(COMMITTED))
        print("weights:", [round(float(v), 2) for v in w])
    if args.fixture:
        scores = {}
        for path in args.masks:
            s = score(Image.open(path).convert("L"), np.array(COMMITTED))
            scores[os.path.basename(path)] = s
        with open(args.fixture, "w") as f:
            json.dump(scores, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"{len(scores)} scores written to {args.fixture}")


if __name__ == "__main__":
    main()
