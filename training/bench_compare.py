#!/usr/bin/env python3
"""Time the Rust engine and the PyTorch reference side by side on the same machine.

Usage (from the repository root, after `cargo build --release`):

    python training/bench_compare.py --threads 2 --iters 10

Both run the full PF-AFN try-on (warp module + generator) at 256x192 on the CPU with the same
number of threads, on the same weights: official widths by default (random weights written once
to --weights DIR as safetensors; timing does not depend on the values), the small widths with
--small, or a trained model bundle with --model DIR (e.g. models/default). Prints one JSON line per side and the ratio Rust / PyTorch of the median latencies.

On a GPU: --device cuda runs both sides on the same GPU (PyTorch eager, synchronised before each
clock read; a CUDA build of the engine, see README); --batch N times N try-ons per pass and
reports try-ons per second.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from export import load_bundle  # noqa: E402
from pfafn.afwm import AFWM  # noqa: E402
from pfafn.generator import ResUnetGenerator  # noqa: E402
from pfafn.tryon import tryon  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(small: bool):
    if small:
        warp = AFWM(3, widths=(8, 16, 16, 16, 16), fpn_dim=16, head_widths=(16, 8, 8))
        gen = ResUnetGenerator(7, 4, 5, ngf=4)
    else:
        warp = AFWM(3)
        gen = ResUnetGenerator(7, 4, 5, ngf=64)
    return warp.eval(), gen.eval()


def ensure_weights(folder: str, small: bool) -> None:
    """Writes random weights once; later runs reuse them."""
    warp_path = os.path.join(folder, "warp.safetensors")
    gen_path = os.path.join(folder, "gen.safetensors")
    if os.path.exists(warp_path) and os.path.exists(gen_path):
        return
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(0)
    warp, gen = build(small)
    for model, path in ((warp, warp_path), (gen, gen_path)):
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)


def bench_torch(
    folder: str, small: bool, threads: int, iters: int, bundle: bool = False, device: str = "cpu", batch: int = 1
) -> dict:
    torch.set_num_threads(threads)
    if bundle:  # widths read from the tensor shapes, as the engine does
        warp, gen = load_bundle(folder)
    else:
        warp, gen = build(small)
        warp.load_state_dict(load_file(os.path.join(folder, "warp.safetensors")))
        gen.load_state_dict(load_file(os.path.join(folder, "gen.safetensors")))
    g = torch.Generator().manual_seed(1)
    person = torch.rand(batch, 3, 256, 192, generator=g) * 2 - 1
    clothes = torch.rand(batch, 3, 256, 192, generator=g) * 2 - 1
    edge = torch.zeros(batch, 1, 256, 192)
    edge[:, :, 40:220, 30:162] = 1
    dev = torch.device(device)
    warp, gen = warp.to(dev), gen.to(dev)
    person, clothes, edge = person.to(dev), clothes.to(dev), edge.to(dev)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    times = []
    with torch.inference_mode():
        for _ in range(2):
            tryon(warp, gen, person, clothes, edge)
        sync()
        for _ in range(iters):
            start = time.perf_counter()
            tryon(warp, gen, person, clothes, edge)
            sync()
            times.append((time.perf_counter() - start) * 1e3)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    median = statistics.median(times)
    report = {
        "side": "pytorch",
        "torch": torch.__version__,
        "device": device,
        "median_ms": median,
        "min_ms": min(times),
        "batch": batch,
        "tryons_per_s": batch * 1e3 / median,
        "peak_rss_mb": peak_mb,
        "threads": threads,
    }
    if dev.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(dev)
        report["peak_gpu_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
    return report


def bench_rust(folder: str, threads: int, iters: int, binary: str, device: str = "cpu", batch: int = 1) -> dict:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), RUST_LOG="warn")
    out = subprocess.run(
        [binary, "bench", "--model", folder, "--device", device, "--iters", str(iters),
         "--batch", str(batch), "--json"],
        check=True, capture_output=True, text=True, env=env,
    )
    report = json.loads(out.stdout)
    report["side"] = "rust"
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--small", action="store_true", help="the small widths of the test fixtures")
    parser.add_argument("--weights", help="folder for the random weights (default: a folder under the system temp dir)")
    parser.add_argument("--model", help="a model bundle folder to time instead of random weights")
    parser.add_argument("--binary", default=os.path.join(REPO, "target", "release", "fitting-room"))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where both sides run")
    parser.add_argument("--batch", type=int, default=1, help="try-ons per forward pass")
    parser.add_argument("--json", help="append both sides' reports and the ratio as one JSON line to this file")
    args = parser.parse_args()

    if args.model:
        folder = args.model
        widths = os.path.basename(os.path.normpath(folder))
    else:
        folder = args.weights or os.path.join(
            tempfile.gettempdir(), "fitting-room-bench-" + ("small" if args.small else "full")
        )
        ensure_weights(folder, args.small)
        widths = "small" if args.small else "official"
    torch_report = bench_torch(
        folder, args.small, args.threads, args.iters, bundle=bool(args.model), device=args.device, batch=args.batch
    )
    rust_report = bench_rust(folder, args.threads, args.iters, args.binary, device=args.device, batch=args.batch)
    print(json.dumps(torch_report))
    print(json.dumps({k: v for k, v in rust_report.items() if k != "model"}))
    ratio = rust_report["median_ms"] / torch_report["median_ms"]
    print(
        f"widths={widths} device={args.device} batch={args.batch} threads={args.threads}: "
        f"rust {rust_report['median_ms']:.1f} ms, pytorch {torch_report['median_ms']:.1f} ms, "
        f"ratio rust/pytorch {ratio:.2f}; try-ons/s rust {rust_report['tryons_per_s']:.1f}, "
        f"pytorch {torch_report['tryons_per_s']:.1f}; peak memory rust {rust_report['peak_rss_mb']:.0f} MB, "
        f"pytorch {torch_report['peak_rss_mb']:.0f} MB"
    )
    if args.json:
        rust_summary = {k: v for k, v in rust_report.items() if k != "model"}
        with open(args.json, "a") as f:
            f.write(json.dumps({"widths": widths, "device": args.device, "batch": args.batch,
                                "ratio": ratio, "pytorch": torch_report, "rust": rust_summary}) + "\n")


if __name__ == "__main__":
    main()
