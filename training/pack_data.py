"""Pack a subset of VITON into one archive that the training loader reads directly.

    python training/pack_data.py --data path/to/viton --out viton-pack.zip --persons 2000

The archive is a zip in the same layout as the folder (so ``--data viton-pack.zip`` works
wherever ``--data path/to/viton`` does): N train persons (a seeded random choice) with
their garments, garment masks, parses and poses, their ``train_pairs.txt``, and by
default all of ``val/`` with ``val_pairs.txt`` and ``val_unpaired.txt``. JPEG and PNG
files are stored as they are (already compressed); garment masks are thresholded at 128
and stored as 1-bit PNGs (``cloth-mask/<stem>.png``, lossless for the binary mask the
loader uses, a tenth of the JPEG's size); pose files keep only ``pose_keypoints``, as
compact JSON, deflated. ``MANIFEST.json`` records what was packed. About 12 KB per person:
2000 persons (+ val) make ~27 MB.
"""

import argparse
import datetime
import io
import json
import os
import random
import sys
import zipfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from frtrain.data import VitonSource, keypoints_from_json, split_heldout  # noqa: E402


def _mask_png(data: bytes) -> bytes:
    grey = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    out = io.BytesIO()
    Image.fromarray(grey > 127).save(out, format="PNG", optimize=True)  # mode "1"
    return out.getvalue()


def _pose_json(data: bytes) -> bytes:
    keypoints = keypoints_from_json(json.loads(data.decode("utf-8")))
    values = [round(float(v), 2) for v in keypoints.reshape(-1)]
    people = [{"pose_keypoints": values}] if keypoints.any() else []
    return json.dumps({"people": people}, separators=(",", ":")).encode("utf-8")


def pack(data: str, out: str, persons: int, seed: int = 0, include_val: bool = True, first: bool = False, holdout: int = 0) -> dict:
    """Write the archive; returns its manifest. ``holdout``: the last N train pairs (the
    campaign's held-out slice, ``train.py --holdout``) are never packed."""
    source = VitonSource(data)
    pairs, _ = split_heldout(source.pairs("train"), holdout)
    if persons and persons < len(pairs):
        if first:
            pairs = pairs[:persons]
        else:
            pairs = sorted(random.Random(seed).sample(pairs, persons))
    splits = [("train", pairs, "train_pairs.txt")]
    if include_val:
        splits.append(("val", source.pairs("val"), "val_pairs.txt"))
    tmp = out + ".tmp"
    counts = {}
    with zipfile.ZipFile(tmp, "w") as z:

        def put(name: str, payload: bytes, deflate: bool) -> None:
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), payload, compress_type=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)

        for split, split_pairs, pairs_name in splits:
            garments = {g for _, g in split_pairs}
            if split == "val" and source.exists("val_unpaired.txt"):
                unpaired = source.pairs("val", unpaired=True)
                garments |= {g for _, g in unpaired}
                put("val_unpaired.txt", "".join(f"{p} {g}\n" for p, g in unpaired).encode(), True)
            put(pairs_name, "".join(f"{p} {g}\n" for p, g in split_pairs).encode(), True)
            for person, _ in split_pairs:
                stem = os.path.splitext(person)[0]
                put(f"{split}/image/{person}", source.read(f"{split}/image/{person}"), False)
                put(f"{split}/image-parse/{stem}.png", source.read(f"{split}/image-parse/{stem}.png"), False)
                put(f"{split}/pose/{stem}_keypoints.json", _pose_json(source.read(f"{split}/pose/{stem}_keypoints.json")), True)
            for garment in sorted(garments):
                stem = os.path.splitext(garment)[0]
                put(f"{split}/cloth/{garment}", source.read(f"{split}/cloth/{garment}"), False)
                put(f"{split}/cloth-mask/{stem}.png", _mask_png(source.read(f"{split}/cloth-mask/{garment}")), False)
            counts[split] = {"persons": len(split_pairs), "garments": len(garments)}
        manifest = {
            "format": "fitting-room-viton-pack/1",
            "source": source.describe(),
            "counts": counts,
            "seed": None if first else seed,
            "holdout": holdout,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "notes": "cloth-mask as 1-bit PNG (threshold 128); pose JSON reduced to pose_keypoints",
        }
        put("MANIFEST.json", json.dumps(manifest, indent=1).encode(), True)
    os.replace(tmp, out)
    manifest["bytes"] = os.path.getsize(out)
    return manifest


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="VITON folder, e.g. path/to/viton")
    parser.add_argument("--out", required=True, help="archive to write (.zip)")
    parser.add_argument("--persons", type=int, default=2000, help="train persons to pack (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random choice of persons")
    parser.add_argument("--first", action="store_true", help="take the first N persons instead of a random choice")
    parser.add_argument("--no-val", action="store_true", help="leave val/ out")
    parser.add_argument("--holdout", type=int, default=0, help="never pack the last N train pairs (the held-out slice)")
    args = parser.parse_args(argv)
    manifest = pack(args.data, args.out, args.persons, args.seed, not args.no_val, args.first, args.holdout)
    print(json.dumps(manifest["counts"]), f"{manifest['bytes'] / 2**20:.1f} MiB -> {args.out}")
    return manifest


if __name__ == "__main__":
    main()
