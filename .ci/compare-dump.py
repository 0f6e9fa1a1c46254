#!/usr/bin/env python3
"""Compare a `fitting-room tryon --dump` file with a committed PyTorch reference.

    python3 .ci/compare-dump.py DUMP.safetensors REFERENCE.safetensors [--label TEXT] [--json OUT]

The same contract as tests/parity.rs (tests/common): every try-on output within the image
tolerances (max abs diff 1e-3, mean abs diff 1e-5), the flow within 1e-4. Prints one line per
tensor, appends a JSON summary to --json, and exits 1 if any tensor is off or missing. For
machines without cargo (a GPU machine): needs only numpy and safetensors.
"""

import argparse
import json
import sys

import numpy as np
from safetensors.numpy import load_file

OUTPUTS = ("warped_cloth", "last_flow", "warped_edge", "p_rendered", "m_composite", "p_tryon")
IMAGE = (1e-3, 1e-5)
FLOW = (1e-4, 1e-4)


def compare(dump: dict, reference: dict) -> list:
    rows = []
    for name in OUTPUTS:
        if name not in reference:
            continue  # a reference may keep only some outputs
        max_tol, mean_tol = FLOW if name == "last_flow" else IMAGE
        row = {"tensor": name, "max_tol": max_tol, "mean_tol": mean_tol}
        if name not in dump:
            row.update(ok=False, error="missing from the dump")
        elif dump[name].shape != reference[name].shape:
            row.update(ok=False, error=f"shape {dump[name].shape} vs {reference[name].shape}")
        else:
            diff = np.abs(dump[name].astype(np.float64) - reference[name].astype(np.float64))
            finite = bool(np.isfinite(diff).all())
            row.update(
                max_abs=float(diff.max()) if finite else float("inf"),
                mean_abs=float(diff.mean()) if finite else float("inf"),
            )
            row["ok"] = finite and row["max_abs"] <= max_tol and row["mean_abs"] <= mean_tol
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dump")
    parser.add_argument("reference")
    parser.add_argument("--label", default="")
    parser.add_argument("--json", help="append one JSON line with the result to this file")
    args = parser.parse_args()

    rows = compare(load_file(args.dump), load_file(args.reference))
    ok = bool(rows) and all(r["ok"] for r in rows)
    for r in rows:
        if "error" in r:
            print(f"{args.label}: {r['tensor']}: {r['error']}")
        else:
            mark = "ok" if r["ok"] else "OFF"
            print(
                f"{args.label}: {r['tensor']:<13} max {r['max_abs']:.2e} (tol {r['max_tol']:.0e}), "
                f"mean {r['mean_abs']:.2e} (tol {r['mean_tol']:.0e}) {mark}"
            )
    if not rows:
        print(f"{args.label}: the reference holds none of the try-on outputs")
    print(f"{args.label}: {'PASS' if ok else 'FAIL'}")
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps({"label": args.label, "ok": ok, "tensors": rows}) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
