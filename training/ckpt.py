"""Inspect or slim a training checkpoint (e.g. to carry it to or from a GPU machine).

    python training/ckpt.py info runs/teacher
    python training/ckpt.py slim runs/teacher --out carry/teacher.pt --dtype fp16 --max-file-mib 15

``slim`` drops the optimizer state (``--keep-optimizer bf16`` keeps Adam's moments in
bfloat16 instead), casts the weights (``--dtype fp16|bf16|fp32``) and splits the result
into ``.partNN`` files of at most ``--max-file-mib``. A slimmed teacher serves the tutor
and distillation unchanged; a slimmed run resumes with ``--resume PATH`` (without
optimizer state the learning rate warms up again over ``--warmup`` steps).
"""

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from frtrain import nets  # noqa: E402

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def info(path: str) -> dict:
    state = nets.load_checkpoint(path)
    widths = nets.Widths.from_dict(state["widths"])
    warp, gen = nets.build(state["kind"], widths)
    summary = {
        "kind": state["kind"],
        "step": state["step"],
        "widths": widths.describe(),
        "parameters": {"warp": nets.count_parameters(warp), "gen": nets.count_parameters(gen)},
        "optimizer_state": state.get("optimizer") is not None,
        "weights_dtype": str(next(v.dtype for v in state["warp"].values() if v.is_floating_point())),
        "data": state.get("data"),
        "teacher_step": (state.get("teacher") or {}).get("step"),
        "segments": [
            {k: s.get(k) for k in ("start_step", "end_step", "size", "stage", "device", "minutes", "loss_start", "loss_end")}
            for s in state.get("history", [])
        ],
    }
    return summary


def slim(path: str, out: str, dtype: str, keep_optimizer: str, max_file_mib: float) -> tuple:
    state = nets.load_checkpoint(path)
    target = DTYPES[dtype]
    for key in ("warp", "gen", "adapters"):
        if state.get(key) is not None:
            state[key] = nets.cast_state(state[key], target)
    if keep_optimizer == "none" or state.get("optimizer") is None:
        state["optimizer"] = None
    else:
        state["optimizer"] = nets.cast_optimizer_state(state["optimizer"], DTYPES[keep_optimizer])
    return nets.save_checkpoint(state, out, max_file_mib)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="print what a checkpoint holds")
    p.add_argument("checkpoint", help="run folder or checkpoint file")
    p = sub.add_parser("slim", help="drop/cast the optimizer state, cast weights, split into parts")
    p.add_argument("checkpoint", help="run folder or checkpoint file")
    p.add_argument("--out", required=True, help="checkpoint file to write")
    p.add_argument("--dtype", default="fp32", choices=sorted(DTYPES), help="weights dtype")
    p.add_argument("--keep-optimizer", default="none", choices=("none", "bf16", "fp32"))
    p.add_argument("--max-file-mib", type=float, default=15.0)
    args = parser.parse_args(argv)
    if args.command == "info":
        print(json.dumps(info(args.checkpoint), indent=1))
    else:
        files = slim(args.checkpoint, args.out, args.dtype, args.keep_optimizer, args.max_file_mib)
        for f in files:
            print(f"{f}: {os.path.getsize(f) / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
