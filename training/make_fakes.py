"""Cache the tutor's fakes: the trained teacher dresses every training person in other garments.

    python training/make_fakes.py --data path/to/viton --teacher runs/teacher --out runs/fakes --per-person 2

Writes ``fakes.npy`` (uint8 (M, H, W, 4): fake RGB + warped-garment mask) and
``index.json`` into ``--out`` (format in ``frtrain/tutor.py``); then train the student
with ``--fakes runs/fakes``. Round r dresses person i in the garment of a random other
pair (seeded by ``--seed`` and r). Without a cache, ``train.py student`` makes fakes on
the fly from ``--teacher`` (the same computation, a new garment every time).
"""

import argparse
import datetime
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from frtrain import nets  # noqa: E402
from frtrain.data import VitonDataset, VitonSource, collate, parse_size, to_device  # noqa: E402
from frtrain.loop import pick_device  # noqa: E402
from frtrain.tutor import FAKES_ARRAY, FAKES_INDEX, make_fakes, to_uint8  # noqa: E402


def build_cache(args) -> dict:
    device = pick_device(args.device)
    if device.type == "cpu":
        torch.backends.mkldnn.enabled = False
    size = parse_size(args.size)
    state = nets.load_checkpoint(args.teacher)
    warp, gen = nets.models_from_checkpoint(state, "teacher")
    warp.to(device)
    gen.to(device)
    source = VitonSource(args.data)
    os.makedirs(args.out, exist_ok=True)
    rounds = []
    for r in range(args.per_person):
        ds = VitonDataset(source, args.split, size, augment=False, other_garment=True, limit=args.limit, seed=args.seed * 1000 + r)
        rounds.append(ds)
    n = len(rounds[0])
    total = n * args.per_person
    array = np.lib.format.open_memmap(os.path.join(args.out, FAKES_ARRAY + ".tmp"), mode="w+", dtype=np.uint8, shape=(total, size[0], size[1], 4))
    persons, garments = [], []
    t0 = time.time()
    autocast_dtype = torch.bfloat16 if (args.amp == "bf16" and device.type == "cuda") else None
    row = 0
    for r, ds in enumerate(rounds):
        loader = torch.utils.data.DataLoader(ds, batch_size=args.batch_size, shuffle=False, num_workers=args.workers, collate_fn=collate)
        for batch in loader:
            index_un = batch["index_un"].tolist()
            index = batch["index"].tolist()
            batch = to_device(batch, device)
            with torch.no_grad(), torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                fake, edge = make_fakes(warp, gen, batch)
            array[row : row + len(index)] = to_uint8(fake, edge)
            persons += [ds.pairs[i][0] for i in index]
            garments += [ds.pairs[j][1] for j in index_un]
            row += len(index)
        print(f"round {r + 1}/{args.per_person}: {row}/{total} fakes, {time.time() - t0:.0f} s", flush=True)
    array.flush()
    del array
    os.replace(os.path.join(args.out, FAKES_ARRAY + ".tmp"), os.path.join(args.out, FAKES_ARRAY))
    index = {
        "size": list(size),
        "persons": persons,
        "garments": garments,
        "split": args.split,
        "data": source.describe(),
        "teacher": {"step": state["step"], "widths": state["widths"]},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with open(os.path.join(args.out, FAKES_INDEX), "w") as f:
        json.dump(index, f)
    print(f"{total} fakes at {size[0]}x{size[1]} -> {args.out} ({time.time() - t0:.0f} s)")
    return index


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="VITON folder or packed archive, e.g. path/to/viton")
    parser.add_argument("--teacher", required=True, help="teacher run folder or checkpoint")
    parser.add_argument("--out", required=True, help="cache folder to write")
    parser.add_argument("--size", default="256x192", help="HxW of the fakes (the student resizes them if it trains at another size)")
    parser.add_argument("--per-person", type=int, default=1, help="fakes per person (each with another garment)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--limit", type=int, default=None, help="only the first N pairs (match train.py --limit)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", default="none", choices=("none", "bf16"))
    return build_cache(parser.parse_args(argv))


if __name__ == "__main__":
    main()
