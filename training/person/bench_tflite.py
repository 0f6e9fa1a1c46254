#!/usr/bin/env python3
"""Times the person models side by side: the reference TFLite interpreter (XNNPACK) and
`fitting-room bench --person-only`, with the same threads, alternating in rounds so that both see
the same machine load; prints each stage's median and the ratio, with the CPU model.

    training/person/.venv/bin/python training/person/bench_tflite.py --threads 2 --rounds 5 \
        --binary target/release/fitting-room
"""

import argparse
import json
import os
import statistics
import subprocess
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter

import convert

STAGES = [
    ("matte_selfie", "selfie_segmentation", (1, 256, 256, 3)),
    ("detection", "pose_detection", (1, 224, 224, 3)),
    ("landmarks", "pose_landmark_full", (1, 256, 256, 3)),
]


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def tflite_round(interpreters, iters):
    """Median milliseconds per stage over `iters` invocations."""
    out = {}
    for stage, (interp, index, x) in interpreters.items():
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            interp.set_tensor(index, x)
            interp.invoke()
            times.append((time.perf_counter() - start) * 1e3)
        out[stage] = statistics.median(times)
    return out


def ours_round(binary, threads, iters):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    text = subprocess.run(
        [binary, "bench", "--person-only", "--device", "cpu", "--iters", str(iters)],
        env=env, check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(text)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--binary", default="target/release/fitting-room",
                        help="the fitting-room binary; empty to time TFLite alone")
    args = parser.parse_args()
    root = convert.mediapipe_dir()
    interpreters = {}
    for stage, name, shape in STAGES:
        interp = Interpreter(model_path=os.path.join(root, convert.MODELS[name]),
                             num_threads=args.threads)
        interp.allocate_tensors()
        index = interp.get_input_details()[0]["index"]
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        interp.set_tensor(index, x)
        interp.invoke()
        interpreters[stage] = (interp, index, x)

    ref = {s: [] for s, _, _ in STAGES}
    ours = {s: [] for s, _, _ in STAGES}
    ours["matte_to_frame"] = []
    ours["keypoints_and_matte"] = []
    rss = []
    for _ in range(args.rounds):
        if args.binary:
            report = ours_round(args.binary, args.threads, args.iters)
            for stage, ms in report["stages_ms"].items():
                ours[stage].append(ms)
            ours["keypoints_and_matte"].append(report["keypoints_and_matte_ms"])
            rss.append(report.get("peak_rss_mb", 0))
        for stage, ms in tflite_round(interpreters, args.iters).items():
            ref[stage].append(ms)

    print(f"CPU: {cpu_model()}; {args.threads} threads; {args.rounds} alternating rounds of "
          f"{args.iters} runs; medians of the round medians (min-max)")
    print(f"{'stage':<22} {'Fitting Room ms':>22} {'TFLite ms':>20} {'ratio':>6}")
    span = lambda v: f"{statistics.median(v):6.2f} ({min(v):.1f}-{max(v):.1f})" if v else "-"
    for stage in list(ours):
        r = ref.get(stage, [])
        if stage == "keypoints_and_matte":
            r = [a + b for a, b in zip(ref["detection"], ref["landmarks"])]
        ratio = (f"{statistics.median(ours[stage]) / statistics.median(r):6.2f}"
                 if r and ours[stage] else "")
        print(f"{stage:<22} {span(ours[stage]):>22} {span(r):>20} {ratio:>6}")
    if rss:
        print(f"peak resident memory (ours): {max(rss):.0f} MB")


if __name__ == "__main__":
    main()
