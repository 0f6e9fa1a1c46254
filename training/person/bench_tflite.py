#!/usr/bin/env python3
"""Times the reference TFLite interpreter (XNNPACK) on the three person models, for the speed
comparison in README (run it right after `fitting-room bench --person-only`, same threads).

    training/person/.venv/bin/python training/person/bench_tflite.py --threads 2 --iters 20
"""

import argparse
import os
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter

import convert

STAGES = [
    ("matte_selfie", "selfie_segmentation", (1, 256, 256, 3)),
    ("detection", "pose_detection", (1, 224, 224, 3)),
    ("landmarks", "pose_landmark_full", (1, 256, 256, 3)),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=20)
    args = parser.parse_args()
    root = convert.mediapipe_dir()
    for stage, name, shape in STAGES:
        interp = Interpreter(model_path=os.path.join(root, convert.MODELS[name]), num_threads=args.threads)
        interp.allocate_tensors()
        index = interp.get_input_details()[0]["index"]
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        interp.set_tensor(index, x)
        interp.invoke()
        times = []
        for _ in range(args.iters):
            start = time.perf_counter()
            interp.set_tensor(index, x)
            interp.invoke()
            times.append((time.perf_counter() - start) * 1e3)
        print(f"{stage:<14} median {sorted(times)[len(times) // 2]:.2f} ms")


if __name__ == "__main__":
    main()
