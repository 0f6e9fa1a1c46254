"""Try-on latency of each width preset in the Rust engine, to choose the student's size.

Speed does not depend on the weights' values, so each preset is exported with its random
initial weights and timed with `fitting-room bench`:

    cargo build --release
    python training/width_bench.py --binary target/release/fitting-room --iters 20

prints one Markdown row per preset (parameters, median and minimum milliseconds, peak memory).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from export import bundle_tensors  # noqa: E402
from frtrain import nets  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "fitting-room"))
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--presets", default="tiny,compact,small,medium,official")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    print("| preset | widths | parameters (warp + gen) | median ms | min ms | peak memory MB |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows = []
    for name in args.presets.split(","):
        widths = nets.PRESETS[name]
        warp, gen = nets.build("student", widths)
        with tempfile.TemporaryDirectory() as folder:
            save_file(bundle_tensors(warp), os.path.join(folder, "warp.safetensors"))
            save_file(bundle_tensors(gen), os.path.join(folder, "gen.safetensors"))
            out = subprocess.run(
                [args.binary, "bench", "--model", folder, "--iters", str(args.iters), "--json", "--device", args.device],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        result = json.loads(out)
        row = {
            "preset": name,
            "widths": widths.describe(),
            "parameters": nets.count_parameters(warp) + nets.count_parameters(gen),
            "median_ms": result["median_ms"],
            "min_ms": result["min_ms"],
            "peak_rss_mb": result.get("peak_rss_mb"),
        }
        rows.append(row)
        print(
            f"| {name} | {row['widths']} | {nets.count_parameters(warp) / 1e6:.2f} M + "
            f"{nets.count_parameters(gen) / 1e6:.2f} M | {row['median_ms']:.0f} | {row['min_ms']:.0f} | "
            f"{row['peak_rss_mb'] or 0:.0f} |",
            flush=True,
        )
    return rows


if __name__ == "__main__":
    main()
