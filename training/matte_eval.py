"""The person models' matte against VITON's parses, and against the person as the parse misses
it: the "in the wild" set's cut-out (`wild_set.person_alpha`: the parse plus the neck, holes of
the garment's colour, bare skin unlike the backdrop).

    cargo run --release --example person_eval -- path/to/viton/val --mattes MATTES
    python training/matte_eval.py --viton path/to/viton/val --mattes MATTES

The matte is thresholded at half (as `person_eval` scores it); per reference, the mean, median
and 10th percentile IoU over the photos that have a matte.
"""

import argparse
import os
from typing import Dict, List

import numpy as np
from PIL import Image

from wild_set import fill_neck, grow_person


def references(image: Image.Image, parse: np.ndarray) -> Dict[str, np.ndarray]:
    neck = fill_neck(parse > 0)
    return {
        "parse": parse > 0,
        "parse, neck filled": neck,
        "parse and what it misses (person_alpha)": grow_person(image, neck),
    }


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def main(argv=None) -> Dict[str, List[float]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--viton", required=True, help="a VITON split folder (image/, image-parse/)")
    ap.add_argument("--mattes", required=True, help="the mattes person_eval --mattes wrote")
    args = ap.parse_args(argv)
    scores: Dict[str, List[float]] = {}
    for name in sorted(os.listdir(args.mattes)):
        stem, ext = os.path.splitext(name)
        if ext != ".png":
            continue
        matte = np.asarray(Image.open(os.path.join(args.mattes, name)).convert("L")) >= 128
        image = Image.open(os.path.join(args.viton, "image", stem + ".jpg"))
        parse = np.asarray(Image.open(os.path.join(args.viton, "image-parse", stem + ".png")))
        for ref, mask in references(image, parse).items():
            scores.setdefault(ref, []).append(iou(matte, mask))
    if not scores:
        raise SystemExit(f"{args.mattes}: no mattes (person_eval --mattes writes them)")
    for ref, values in scores.items():
        v = np.array(values)
        print(f"matte IoU against {ref}: mean {v.mean():.3f}, median {np.median(v):.3f}, 10th percentile {np.percentile(v, 10):.3f} ({len(v)} photos)")
    return scores


if __name__ == "__main__":
    main()
