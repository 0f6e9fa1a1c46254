#!/usr/bin/env python3
"""Write the parity fixture of a trained model bundle (by default the shipped one).

Usage (from the repository root):

    python training/make_model_fixture.py                      # models/default -> tests/fixtures/default-model/
    python training/make_model_fixture.py --model DIR --out DIR

The Rust test ``default_model_matches_pytorch`` (tests/parity.rs) loads the bundle in the
engine, runs it on the same PNGs and compares with the outputs written here. Unlike the
random fixture model, this exercises trained weights on a real photo, so it catches an
export that the engine reads differently from PyTorch.

Written files:

* ``person.png``, ``garment.png``, ``garment_mask.png``: 192x256 inputs (lossless, so the
  engine sees exactly the pixels PyTorch saw);
* ``reference.safetensors``: ``p_tryon``, ``last_flow``, ``m_composite`` (F32, NCHW);
* ``source.json``: the bundle's file hashes (from its model.json), so a fixture made from
  another model is reported as stale rather than as a parity failure.
"""

import argparse
import json
import os
import sys
from typing import Dict

import torch
from PIL import Image
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from export import load_bundle  # noqa: E402
from pfafn.images import mask_to_tensor, rgb_to_tensor  # noqa: E402
from pfafn.tryon import tryon  # noqa: E402

HEIGHT, WIDTH = 256, 192
KEPT = ("p_tryon", "last_flow", "m_composite")


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.path.join("models", "default"), help="bundle folder")
    parser.add_argument("--person", default=os.path.join("assets", "persons", "000523_0.jpg"))
    parser.add_argument("--garment", default=os.path.join("assets", "wardrobe", "navy-striped-v-neck-tee.jpg"))
    parser.add_argument("--out", default=os.path.join("tests", "fixtures", "default-model"))
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    os.makedirs(args.out, exist_ok=True)
    size = (WIDTH, HEIGHT)
    person = Image.open(args.person).convert("RGB").resize(size, Image.BICUBIC)
    garment = Image.open(args.garment).convert("RGB").resize(size, Image.BICUBIC)
    mask_path = os.path.splitext(args.garment)[0] + ".mask.png"
    mask = Image.open(mask_path).convert("L").resize(size, Image.NEAREST)
    person.save(os.path.join(args.out, "person.png"))
    garment.save(os.path.join(args.out, "garment.png"))
    mask.save(os.path.join(args.out, "garment_mask.png"))

    warp, gen = load_bundle(args.model)
    with torch.no_grad():
        out = tryon(warp, gen, rgb_to_tensor(person), rgb_to_tensor(garment), mask_to_tensor(mask))
    tensors = {name: out[name].contiguous().float() for name in KEPT}
    save_file(tensors, os.path.join(args.out, "reference.safetensors"))

    with open(os.path.join(args.model, "model.json")) as f:
        model_info = json.load(f)
    source = {"model": model_info.get("name"), "sha256": model_info["sha256"]}
    with open(os.path.join(args.out, "source.json"), "w") as f:
        json.dump(source, f, indent=2)
        f.write("\n")
    flow = out["last_flow"]
    m = out["m_composite"]
    print(
        f"wrote {args.out}: flow range [{flow.min():.3f}, {flow.max():.3f}], "
        f"m_composite mean over the garment {float(m.sum() / out['warped_edge'].sum().clamp(min=1)):.3f}"
    )
    return source


if __name__ == "__main__":
    main()
