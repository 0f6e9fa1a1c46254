#!/usr/bin/env python3
"""Time the Rust engine, the PyTorch reference and ONNX Runtime side by side on the same machine.

Usage (from the repository root, after `cargo build --release`):

    python training/bench_compare.py --threads 2 --iters 10 --model models/default
    python training/bench_compare.py --threads 2 --iters 10            # official widths
    python training/bench_compare.py --threads 2 --iters 20 --small    # the small test widths

All three run the full PF-AFN try-on (warp module + generator) at 256x192 on the CPU with the
same number of threads, on the same weights: official widths by default (random weights written
once to --weights DIR as safetensors; timing does not depend on the values), the small widths with
--small, or a trained model bundle with --model DIR. ONNX Runtime runs the same network exported
from PyTorch (opset 17: GridSample is a standard op there); it is left out when onnxruntime is not
installed, or with --no-onnx.

The sides take turns for --rounds rounds (PyTorch, ONNX Runtime, Rust, then again), so that a
load change on a shared machine hits all of them; each round times --iters try-ons after two
warm-ups. Printed: one JSON line per side (median over all rounds of the per-round medians,
stage times) and the ratios to PyTorch and to ONNX Runtime.

On a GPU: --device cuda runs PyTorch eager and a CUDA build of the engine on the same GPU
(synchronised before each clock read; ONNX Runtime is left out); --batch N times N try-ons per pass
and reports try-ons per second; --json FILE appends every side's report and the ratio as one line.
"""

import argparse
import json
import os
import platform
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
from pfafn import ops  # noqa: E402
from pfafn.afwm import AFWM  # noqa: E402
from pfafn.generator import ResUnetGenerator  # noqa: E402
from pfafn.tryon import tryon  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUTS = ["warped_cloth", "last_flow", "warped_edge", "p_rendered", "m_composite", "p_tryon"]


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


def load_models(folder: str, small: bool, bundle: bool):
    if bundle:  # widths read from the tensor shapes, as the engine does
        return load_bundle(folder)
    warp, gen = build(small)
    warp.load_state_dict(load_file(os.path.join(folder, "warp.safetensors")))
    gen.load_state_dict(load_file(os.path.join(folder, "gen.safetensors")))
    return warp, gen


def inputs(batch: int = 1):
    g = torch.Generator().manual_seed(1)
    person = torch.rand(batch, 3, 256, 192, generator=g) * 2 - 1
    clothes = torch.rand(batch, 3, 256, 192, generator=g) * 2 - 1
    edge = torch.zeros(batch, 1, 256, 192)
    edge[:, :, 40:220, 30:162] = 1
    return person, clothes, edge


class TryOn(torch.nn.Module):
    """The whole try-on as one module, for the ONNX export."""

    def __init__(self, warp, gen):
        super().__init__()
        self.warp, self.gen = warp, gen

    def forward(self, person, clothes, edge):
        out = tryon(self.warp, self.gen, person, clothes, edge)
        return tuple(out[k] for k in OUTPUTS)


class TorchSide:
    name = "pytorch"

    def __init__(self, warp, gen, threads: int, device: str = "cpu", batch: int = 1):
        torch.set_num_threads(threads)
        self.device = torch.device(device)
        self.warp, self.gen = warp.to(self.device), gen.to(self.device)
        self.person, self.clothes, self.edge = (t.to(self.device) for t in inputs(batch))

    def clock(self) -> float:
        """The time once the device has finished what was queued (GPU work is asynchronous)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def once(self) -> dict:
        """One try-on, timed by stage as the engine's bench does."""
        with torch.inference_mode():
            start = self.clock()
            clothes = self.clothes * self.edge
            warped_cloth, last_flow = self.warp(self.person, clothes)
            t_warp = self.clock()
            warped_edge = ops.grid_sample(self.edge, last_flow.permute(0, 2, 3, 1), "zeros")
            t_mask = self.clock()
            out = self.gen(torch.cat([self.person, warped_cloth, warped_edge], dim=1))
            t_gen = self.clock()
            p_rendered = torch.tanh(out[:, 0:3])
            m = torch.sigmoid(out[:, 3:4]) * warped_edge
            _ = warped_cloth * m + p_rendered * (1 - m)
            end = self.clock()
        ms = lambda a, b: (b - a) * 1e3  # noqa: E731
        return {
            "total_ms": ms(start, end),
            "warp_ms": ms(start, t_warp),
            "mask_warp_ms": ms(t_warp, t_mask),
            "generator_ms": ms(t_mask, t_gen),
            "composite_ms": ms(t_gen, end),
        }

    def round(self, iters: int) -> dict:
        for _ in range(2):
            self.once()
        runs = [self.once() for _ in range(iters)]
        return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


class OnnxSide:
    name = "onnxruntime"

    def __init__(self, warp, gen, threads: int, folder: str):
        import onnxruntime as ort

        self.version = ort.__version__
        path = os.path.join(folder, "tryon.onnx")
        person, clothes, edge = inputs()
        model = TryOn(warp, gen).eval()
        with torch.inference_mode():
            expected = model(person, clothes, edge)
        torch.onnx.export(
            model, (person, clothes, edge), path, input_names=["person", "clothes", "edge"],
            output_names=OUTPUTS, opset_version=17, dynamo=False,
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.feed = {"person": person.numpy(), "clothes": clothes.numpy(), "edge": edge.numpy()}
        # The exported graph must compute what PyTorch does, or its timing means nothing.
        got = self.session.run(None, self.feed)
        worst = max(float((torch.from_numpy(g) - e).abs().max()) for g, e in zip(got, expected))
        if worst > 1e-2:
            raise SystemExit(f"ONNX Runtime's try-on differs from PyTorch's by {worst}")
        self.max_diff = worst

    def round(self, iters: int) -> dict:
        for _ in range(2):
            self.session.run(None, self.feed)
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            self.session.run(None, self.feed)
            times.append((time.perf_counter() - start) * 1e3)
        return {"total_ms": statistics.median(times)}


class RustSide:
    name = "rust"

    def __init__(self, folder: str, threads: int, binary: str, device: str = "cpu", batch: int = 1):
        self.folder, self.threads, self.binary = folder, threads, binary
        self.device, self.batch = device, batch
        self.last = {}

    def round(self, iters: int) -> dict:
        env = dict(os.environ, RAYON_NUM_THREADS=str(self.threads), RUST_LOG="warn")
        out = subprocess.run(
            [self.binary, "bench", "--model", self.folder, "--device", self.device, "--iters", str(iters),
             "--batch", str(self.batch), "--json"],
            check=True, capture_output=True, text=True, env=env,
        )
        report = json.loads(out.stdout)
        self.last = report
        stages = report["stages"]
        return {"total_ms": report["median_ms"], **{k: stages[k] for k in stages}}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=10, help="timed try-ons per side and round")
    parser.add_argument("--rounds", type=int, default=3, help="turns each side takes")
    parser.add_argument("--small", action="store_true", help="the small widths of the test fixtures")
    parser.add_argument("--weights", help="folder for the random weights (default: a folder under the system temp dir)")
    parser.add_argument("--model", help="a model bundle folder to time instead of random weights")
    parser.add_argument("--no-onnx", action="store_true", help="leave ONNX Runtime out")
    parser.add_argument("--binary", default=os.path.join(REPO, "target", "release", "fitting-room"))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where PyTorch and Rust run")
    parser.add_argument("--batch", type=int, default=1, help="try-ons per forward pass")
    parser.add_argument("--settle", type=float, default=1.0,
                        help="seconds of pause before each side's turn (default 1)")
    parser.add_argument("--json", help="append every side's report and the ratio as one JSON line to this file")
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

    warp, gen = load_models(folder, args.small, bool(args.model))
    sides = [TorchSide(warp, gen, args.threads, args.device, args.batch)]
    if not args.no_onnx and args.device == "cpu" and args.batch == 1:
        try:
            with tempfile.TemporaryDirectory() as scratch:
                sides.append(OnnxSide(warp, gen, args.threads, scratch))
        except ImportError:
            print("onnxruntime is not installed: its column is left out", file=sys.stderr)
    sides.append(RustSide(folder, args.threads, args.binary, args.device, args.batch))

    rounds = {side.name: [] for side in sides}
    for _ in range(args.rounds):
        for side in sides:
            # OpenMP's and ONNX Runtime's worker threads spin a while after their last job;
            # let them go idle first, so no side is timed against the previous one's threads.
            time.sleep(args.settle)
            rounds[side.name].append(side.round(args.iters))
    peak_python_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    medians, reports = {}, {}
    for side in sides:
        per_round = rounds[side.name]
        summary = {k: statistics.median(r[k] for r in per_round) for k in per_round[0]}
        medians[side.name] = summary["total_ms"]
        report = {
            "side": side.name,
            "median_ms": summary["total_ms"],
            "round_medians_ms": [round(r["total_ms"], 1) for r in per_round],
            "stages": {k: round(v, 2) for k, v in summary.items() if k != "total_ms"},
            "threads": args.threads,
            "device": args.device,
            "batch": args.batch,
            "tryons_per_s": args.batch * 1e3 / summary["total_ms"],
        }
        if isinstance(side, TorchSide):
            report["torch"] = torch.__version__
            report["peak_rss_mb_python_process"] = round(peak_python_mb)
            if side.device.type == "cuda":
                report["gpu"] = torch.cuda.get_device_name(side.device)
                report["peak_gpu_mb"] = torch.cuda.max_memory_allocated(side.device) / 2**20
        elif isinstance(side, OnnxSide):
            report["onnxruntime"] = side.version
            report["max_diff_to_pytorch"] = side.max_diff
        else:
            report["peak_rss_mb"] = side.last.get("peak_rss_mb")
        reports[side.name] = report
        print(json.dumps(report))

    rust, torch_ms = medians["rust"], medians["pytorch"]
    line = (
        f"widths={widths} device={args.device} batch={args.batch} threads={args.threads} cpu={cpu_model()!r}: "
        f"rust {rust:.1f} ms, "
        f"pytorch {torch_ms:.1f} ms"
    )
    if "onnxruntime" in medians:
        line += f", onnxruntime {medians['onnxruntime']:.1f} ms"
    line += f"; rust/pytorch {rust / torch_ms:.2f}"
    if "onnxruntime" in medians:
        line += f", rust/onnxruntime {rust / medians['onnxruntime']:.2f}"
    if args.batch > 1:
        line += "; try-ons/s " + ", ".join(f"{n} {args.batch * 1e3 / ms:.1f}" for n, ms in medians.items())
    print(line)
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps({"widths": widths, "device": args.device, "batch": args.batch,
                                "ratio": rust / torch_ms, **reports}) + "\n")


if __name__ == "__main__":
    main()
