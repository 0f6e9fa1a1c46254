"""Compares folders of `fitting-room batch` results (files named `PERSON__GARMENT.png`).

    # each folder's mean SSIM against the person photos themselves (meaningful for pairs of a
    # person and their own garment):
    python training/compare_batches.py --photos path/to/viton/val/image OUT_A OUT_B ...
    # how many results two folders hold differently (any pixel, and by more than 30 levels):
    python training/compare_batches.py --differ OUT_A OUT_B
    # each folder's mean warp IoU: the warped garment masks of `batch --extras` against the
    # person's upper garment in the parse (labels 5, 6, 7, as evaluate.py's warp IoU; meaningful
    # for pairs of a person and their own garment):
    python training/compare_batches.py --parse path/to/viton/val/image-parse OUT_A OUT_B ...

SSIM is `frtrain.losses.ssim` (Gaussian window 11, sigma 1.5, RGB in [-1, 1]) over the whole
picture.
"""

import argparse
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from frtrain.data import UPPER_GARMENT_LABELS  # noqa: E402
from frtrain.losses import ssim  # noqa: E402


def _load(path):
    return np.array(Image.open(path).convert("RGB"))


def _tensor(a):
    return torch.from_numpy(a).permute(2, 0, 1)[None].float() / 127.5 - 1.0


EXTRAS = ("_warped.png", "_warped_mask.png")


def results(folder):
    """The try-ons of a batch folder, not the warped garments `--extras` writes beside them."""
    return sorted(
        f for f in os.listdir(folder) if f.endswith(".png") and "__" in f and not f.endswith(EXTRAS)
    )


def warp_ious(folder, parses):
    """Per result, IoU of its warped garment mask (> 127) with the parse's upper garment."""
    ious = []
    for name in results(folder):
        mask_path = os.path.join(folder, name[: -len(".png")] + "_warped_mask.png")
        if not os.path.exists(mask_path):
            continue
        person = name.split("__")[0]
        parse = np.array(Image.open(os.path.join(parses, os.path.splitext(person)[0] + ".png")))
        garment = np.isin(parse, UPPER_GARMENT_LABELS)
        warped = np.array(Image.open(mask_path).convert("L")) > 127
        union = (warped | garment).sum()
        ious.append(float((warped & garment).sum() / union) if union else 1.0)
    return ious


def mean_ssim(folder, photos):
    values = []
    for name in results(folder):
        person = name.split("__")[0] + ".jpg"
        values.append(float(ssim(_tensor(_load(os.path.join(photos, person))), _tensor(_load(os.path.join(folder, name))))))
    return float(np.mean(values)), float(np.median(values)), len(values)


def differ(a, b):
    names = [n for n in results(a) if os.path.exists(os.path.join(b, n))]
    anything = over = 0
    for name in names:
        d = np.abs(_load(os.path.join(a, name)).astype(int) - _load(os.path.join(b, name))).max(axis=2)
        anything += int((d > 0).any())
        over += int((d > 30).any())
    return anything, over, len(names)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", help="folder of the person photos (VITON's image/)")
    ap.add_argument("--differ", action="store_true", help="count the results two folders hold differently")
    ap.add_argument("--parse", help="folder of the person parses (VITON's image-parse/), for warp IoU")
    ap.add_argument("folders", nargs="+")
    args = ap.parse_args()
    if args.differ:
        a, b = args.folders
        anything, over, n = differ(a, b)
        print(f"{anything} of {n} results differ ({over} by more than 30 levels somewhere)")
    if args.photos:
        for folder in args.folders:
            mean, median, n = mean_ssim(folder, args.photos)
            print(f"{folder}: SSIM against the photos, mean {mean:.4f}, median {median:.4f} ({n} results)")
    if args.parse:
        for folder in args.folders:
            ious = np.array(warp_ious(folder, args.parse))
            if not len(ious):
                sys.exit(f"{folder}: no warped masks (run batch with --extras)")
            print(
                f"{folder}: warp IoU with the parse's garment, mean {ious.mean():.4f}, "
                f"median {np.median(ious):.4f} ({len(ious)} results)"
            )


if __name__ == "__main__":
    main()
