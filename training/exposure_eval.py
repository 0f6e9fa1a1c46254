"""How exposure matching changes what the network does with a dim photo.

    cargo build --release
    python training/exposure_eval.py path/to/viton val --n 30

Each of the first N persons of the split (192x256, taken up to 384x512 so it is not a VITON
input) is dimmed to a quarter of the light in linear terms, with sensor noise (as
docs/anyphoto/make_stress.sh does), and dressed in its paired garment three times with the
whole photo as the crop: the photo in full light, the dim photo with `--exposure keep`, and the
dim photo with `--exposure match` (the default). Printed: the IoU of each dim try-on's warped
garment (the network's `warped_edge` above 0.5) with the full-light try-on's, per person and on
average: how much the dim light changes where the network puts the garment.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image
from safetensors.numpy import load_file


def linear(a):
    return np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)


def srgb(l):
    l = np.clip(l, 0, 1)
    return np.where(l <= 0.0031308, l * 12.92, 1.055 * l ** (1 / 2.4) - 0.055)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("viton", help="the folder with train/, val/ and their *_pairs.txt")
    ap.add_argument("split", choices=["train", "val"])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--binary", default="target/release/fitting-room")
    args = ap.parse_args()
    pairs = [line.split() for line in open(os.path.join(args.viton, f"{args.split}_pairs.txt"))]
    rng = np.random.default_rng(args.seed)
    data = os.path.join(args.viton, args.split)
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for person, cloth in pairs[: args.n]:
            im = Image.open(os.path.join(data, "image", person)).convert("RGB")
            lit = np.asarray(im.resize((384, 512), Image.BICUBIC)).astype(float) / 255
            dim = srgb(linear(lit) * 0.25) + rng.normal(0, 0.02, lit.shape)
            for tag, arr in (("lit", lit), ("dim", dim)):
                pixels = (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)
                Image.fromarray(pixels).save(os.path.join(out, f"{tag}.png"))
            edges = {}
            for tag, photo, exposure in (("lit", "lit", "keep"), ("keep", "dim", "keep"),
                                         ("match", "dim", "match")):
                dump = os.path.join(out, f"{tag}.safetensors")
                run = subprocess.run(
                    [args.binary, "tryon", "--person", os.path.join(out, f"{photo}.png"),
                     "--garment", os.path.join(data, "cloth", cloth),
                     "--mask", os.path.join(data, "cloth-mask", cloth),
                     "--framing", "0,0,384,512", "--exposure", exposure,
                     "--out", os.path.join(out, "out.png"), "--dump", dump],
                    capture_output=True, text=True)
                if run.returncode:
                    sys.exit(run.stderr)
                edges[tag] = load_file(dump)["warped_edge"][0, 0] > 0.5
            iou = lambda a, b: (a & b).sum() / max((a | b).sum(), 1)
            keep, match = iou(edges["keep"], edges["lit"]), iou(edges["match"], edges["lit"])
            rows.append((keep, match))
            print(f"{person} keep {keep:.3f} match {match:.3f}", flush=True)
    r = np.array(rows)
    better = (r[:, 1] > r[:, 0] + 0.01).sum()
    worse = (r[:, 1] < r[:, 0] - 0.01).sum()
    print(f"warped garment IoU with the full-light try-on: keep {r[:, 0].mean():.3f}, "
          f"match {r[:, 1].mean():.3f} (match better by > 0.01 in {better}, worse in {worse} "
          f"of {len(r)})")


if __name__ == "__main__":
    main()
