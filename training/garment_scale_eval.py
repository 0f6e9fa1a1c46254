"""How a garment photographed large dresses the person, against the same garment at VITON's size.

    cargo build --release
    python training/garment_scale_eval.py path/to/viton val --n 100 --scale 4 \
        [--binary target/release/fitting-room] [--binary other/fitting-room ...]

Product photos come at 768x1024 and more, while VITON's garments are 192x256 with published
masks. For every 1 in `--every` of the split's pairs (the first N such), the garment is enlarged
`--scale` times (bicubic) and tried on with its mask computed from the enlarged photo, as a user's
product shot would be; the reference is the try-on of the original 192x256 garment with its
published mask. Printed per binary: the mean absolute difference (levels) and SSIM of the 192x256
results against the reference, and for two binaries how many pairs each does better in.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity


def run_batch(binary, data, pairs, out):
    subprocess.run(
        [binary, "batch", "--data", data, "--pairs", pairs, "--out", out],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("viton", help="the folder with train/, val/ and their *_pairs.txt")
    ap.add_argument("split", choices=["train", "val"])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--every", type=int, default=2)
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--binary", action="append")
    args = ap.parse_args()
    binaries = args.binary or ["target/release/fitting-room"]
    split = os.path.join(args.viton, args.split)
    with open(os.path.join(args.viton, f"{args.split}_pairs.txt")) as f:
        pairs = [l.split() for l in f if l.strip()][:: args.every][: args.n]
    with tempfile.TemporaryDirectory() as tmp:
        big = os.path.join(tmp, "big")
        os.makedirs(os.path.join(big, "cloth"))
        os.symlink(os.path.abspath(os.path.join(split, "image")), os.path.join(big, "image"))
        big_pairs = []
        for person, garment in pairs:
            name = os.path.splitext(garment)[0] + ".png"
            im = Image.open(os.path.join(split, "cloth", garment)).convert("RGB")
            w, h = im.size
            im.resize((w * args.scale, h * args.scale), Image.BICUBIC).save(
                os.path.join(big, "cloth", name)
            )
            big_pairs.append((person, name))
        listing = os.path.join(tmp, "pairs.txt")
        with open(listing, "w") as f:
            f.writelines(f"{p} {g}\n" for p, g in pairs)
        big_listing = os.path.join(tmp, "big_pairs.txt")
        with open(big_listing, "w") as f:
            f.writelines(f"{p} {g}\n" for p, g in big_pairs)
        reference = os.path.join(tmp, "reference")
        run_batch(binaries[0], split, listing, reference)
        scores = []
        for i, binary in enumerate(binaries):
            out = os.path.join(tmp, f"out{i}")
            run_batch(binary, big, big_listing, out)
            per_pair = []
            for (person, garment), (_, name) in zip(pairs, big_pairs):
                stem = lambda n: os.path.splitext(n)[0]
                ref = np.asarray(
                    Image.open(os.path.join(reference, f"{stem(person)}__{stem(garment)}.png")),
                    dtype=np.float64,
                )
                got = np.asarray(
                    Image.open(os.path.join(out, f"{stem(person)}__{stem(name)}.png")),
                    dtype=np.float64,
                )
                per_pair.append(
                    (
                        np.abs(got - ref).mean(),
                        structural_similarity(got, ref, channel_axis=2, data_range=255),
                    )
                )
            v = np.array(per_pair)
            scores.append(v)
            print(
                f"{binary}: {len(v)} pairs, garments x{args.scale}: mean abs difference "
                f"{v[:, 0].mean():.3f} levels, SSIM mean {v[:, 1].mean():.4f} "
                f"median {np.median(v[:, 1]):.4f}"
            )
        if len(scores) == 2:
            d = scores[1][:, 1] - scores[0][:, 1]
            print(
                f"SSIM higher by > 0.002 with the second binary in {(d > 0.002).sum()} pairs, "
                f"lower in {(d < -0.002).sum()}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
