"""Side by side with the official PF-AFN on its own demo pairs: person, garment, official, ours.

    python training/demo_sheet.py --demo path/to/pfafn-demo --model models/default --out models/default/demo-sheet.jpg

The demo folder holds ``pairs.txt`` ("<person>.jpg <garment>.jpg" per line), ``person/``,
``garment/``, ``garment-mask/`` and ``official-result/N.jpg`` (person | masked garment |
try-on, 192x256 panels, for line N). One row per pair; ``--model`` may be repeated to add
a column per model (e.g. the shipped one and a candidate).
"""

import argparse
import os
import sys

import torch
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from export import load_bundle  # noqa: E402
from pfafn import tryon  # noqa: E402
from pfafn.images import mask_to_tensor, rgb_to_tensor, tensor_to_rgb  # noqa: E402

W, H = 192, 256


def sheet(demo: str, models, labels) -> Image.Image:
    pairs = [line.split() for line in open(os.path.join(demo, "pairs.txt")) if line.strip()]
    nets = [load_bundle(m) for m in models]
    cols = ["person", "garment", "official"] + list(labels)
    top = 18
    out = Image.new("RGB", (W * len(cols), top + H * len(pairs)), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    for j, name in enumerate(cols):
        draw.text((j * W + 4, 3), name, fill=(0, 0, 0))
    for i, (person_name, garment_name) in enumerate(pairs):
        person = Image.open(os.path.join(demo, "person", person_name)).convert("RGB").resize((W, H))
        garment = Image.open(os.path.join(demo, "garment", garment_name)).convert("RGB").resize((W, H))
        mask = Image.open(os.path.join(demo, "garment-mask", garment_name)).convert("L").resize((W, H))
        official = Image.open(os.path.join(demo, "official-result", f"{i}.jpg")).convert("RGB")
        official = official.crop((official.width - W, 0, official.width, H))
        y = top + i * H
        out.paste(person, (0, y))
        out.paste(garment, (W, y))
        out.paste(official, (2 * W, y))
        p, c, e = rgb_to_tensor(person), rgb_to_tensor(garment), mask_to_tensor(mask)
        for j, (warp, gen) in enumerate(nets):
            with torch.no_grad():
                result = tryon(warp.eval(), gen.eval(), p, c, e)["p_tryon"]
            out.paste(tensor_to_rgb(result), ((3 + j) * W, y))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", required=True, help="the official demo folder (pairs.txt, person/, garment/, ...)")
    parser.add_argument("--model", action="append", required=True, help="model bundle folder (repeat for more columns)")
    parser.add_argument("--label", action="append", default=None, help="column title per --model (default: folder name)")
    parser.add_argument("--out", required=True, help="JPEG to write")
    args = parser.parse_args(argv)
    labels = args.label or [os.path.basename(os.path.normpath(m)) for m in args.model]
    image = sheet(args.demo, args.model, labels)
    image.save(args.out, quality=88)
    print(f"{args.out}: {image.width}x{image.height}")


if __name__ == "__main__":
    main()
