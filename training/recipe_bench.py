"""Training-step speed on a CPU, recipe variants side by side in one run.

    python training/recipe_bench.py --data path/to/viton --repeats 3 --out bench.json

Times whole training steps (forward, backward, Adam) of the teacher and the student at
128x96 (batch 8) and 256x192 (batch 4) on one fixed batch (data loading is measured
separately), for each variant of the recipe: oneDNN convolutions off (the old default) or
on, bfloat16 autocast, channels-last, thread counts, the student's fakes made on the fly
or taken from a cache. Variants are interleaved and repeated so that a machine whose load
changes during the run affects all of them alike; the report gives medians of images/s
(wall clock) and of images per CPU-second of this process (what counts when training gets
only the idle share of a shared machine). Widths: ``--preset`` (default compact); speed
does not depend on the weights' values, so the networks are freshly initialised.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from frtrain import losses as L  # noqa: E402
from frtrain import nets  # noqa: E402
from frtrain.data import VitonDataset, VitonSource, collate  # noqa: E402
from frtrain.speed import apply_cpu_recipe, channels_last_batch  # noqa: E402
from frtrain.steps import student_step, teacher_step  # noqa: E402
from frtrain.tutor import make_fakes  # noqa: E402

SIZES = {"128x96": ((128, 96), 8), "256x192": ((256, 192), 4)}


def variants(kind: str):
    """(name, options): oneDNN, bfloat16 autocast, channels-last, threads, cached fakes."""
    fp32, bf16 = dict(amp=False, cl=False), dict(amp=True, cl=False)
    out = [
        ("fp32, oneDNN off, 2 threads (old default)", dict(fp32, mkldnn=False, threads=2)),
        ("fp32, oneDNN, 2 threads", dict(fp32, mkldnn=True, threads=2)),
        ("fp32, oneDNN off, 1 thread", dict(fp32, mkldnn=False, threads=1)),
        ("fp32, oneDNN, 1 thread", dict(fp32, mkldnn=True, threads=1)),
        ("bf16, oneDNN, 1 thread", dict(bf16, mkldnn=True, threads=1)),
        ("fp32, oneDNN, channels-last, 1 thread", dict(fp32, mkldnn=True, cl=True, threads=1)),
        ("bf16, oneDNN, channels-last, 1 thread", dict(bf16, mkldnn=True, cl=True, threads=1)),
    ]
    if kind == "student":
        out += [
            ("fp32, oneDNN, 1 thread, cached fakes", dict(fp32, mkldnn=True, threads=1, cached=True)),
            ("bf16, oneDNN, 1 thread, cached fakes", dict(bf16, mkldnn=True, threads=1, cached=True)),
        ]
    # torch.compile of the whole step function (losses included); its first call compiles
    out.append(("fp32, oneDNN, 1 thread, torch.compile", dict(fp32, mkldnn=True, threads=1, compile=True)))
    return out


def make_batch(source, kind, size, batch_size):
    ds = VitonDataset(source, "train", size, augment=True, other_garment=(kind == "student"), seed=1)
    return collate([ds[i] for i in range(batch_size)])


def time_steps(kind, widths, batch, opts, threads, warmup, steps):
    torch.set_num_threads(threads)
    apply_cpu_recipe(mkldnn=opts["mkldnn"])
    torch.manual_seed(0)
    warp, gen = nets.build(kind, widths)
    teacher = None
    if kind == "student":
        t_warp, t_gen = nets.build("teacher", widths)
        teacher = (t_warp.eval().requires_grad_(False), t_gen.eval().requires_grad_(False))
    modules = [warp, gen] + (list(teacher) if teacher else [])
    if opts["cl"]:
        for m in modules:
            m.to(memory_format=torch.channels_last)
        batch = channels_last_batch(batch)
    batch = dict(batch)
    if opts.get("cached"):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=opts["amp"]):
            batch["fake"], batch["fake_edge"] = make_fakes(teacher[0], teacher[1], batch)
    opt = torch.optim.Adam(list(warp.parameters()) + list(gen.parameters()), lr=1e-4, betas=(0.5, 0.999))
    w = L.LossWeights()
    t_step, s_step = teacher_step, student_step
    if opts.get("compile"):
        t_step, s_step = torch.compile(teacher_step), torch.compile(student_step)
    walls, cpus, losses = [], [], []
    for i in range(warmup + steps):
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=opts["amp"]):
            if kind == "teacher":
                loss, _, _ = t_step(warp, gen, batch, w)
            else:
                loss, _, _ = s_step(warp, gen, batch, w, "e2e", teacher)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if i == 0 and opts.get("compile"):
            print(f"  first (compiling) step: {time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} CPU-s", flush=True)
        if i >= warmup:
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    return walls, cpus, losses


def time_loading(source, kind, size, n):
    """CPU seconds per sample of the loader (decode, resize, augment) from this source, on one
    thread as in a DataLoader worker."""
    torch.set_num_threads(1)
    ds = VitonDataset(source, "train", size, augment=True, other_garment=(kind == "student"), seed=2)
    ds[0]
    t0 = time.process_time()
    for i in range(1, n + 1):
        ds[i * 7]
    return (time.process_time() - t0) / n


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="VITON folder (and optionally --archive X.zip to compare)")
    p.add_argument("--archive", default=None, help="a packed archive of the same data, to time its loading too")
    p.add_argument("--preset", default="compact", choices=sorted(nets.PRESETS))
    p.add_argument("--kinds", default="teacher,student")
    p.add_argument("--sizes", default="128x96,256x192")
    p.add_argument("--threads", type=int, default=2, help="threads of the variants that do not name their own")
    p.add_argument("--only", default=None, help="';'-separated variant names: run only these")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--load-samples", type=int, default=40)
    p.add_argument("--out", default=None, help="write the raw measurements as JSON")
    args = p.parse_args(argv)

    widths = nets.PRESETS[args.preset]
    source = VitonSource(args.data)
    kinds = args.kinds.split(",")
    sizes = args.sizes.split(",")
    batches = {(k, s): make_batch(source, k, *SIZES[s]) for k in kinds for s in sizes}
    plan = []
    for k in kinds:
        for s in sizes:
            for name, opts in variants(k):
                if args.only and name not in [o.strip() for o in args.only.split(";")]:
                    continue
                plan.append((k, s, name, opts, opts.get("threads", args.threads)))
    results = {}
    load = {}
    for r in range(args.repeats):
        for k, s, name, opts, t in plan:
            bs = SIZES[s][1]
            walls, cpus, losses = time_steps(k, widths, batches[(k, s)], opts, t, args.warmup, args.steps)
            entry = results.setdefault(f"{k} {s} | {name}", {"wall_img_s": [], "cpu_img_s": [], "losses": []})
            entry["wall_img_s"] += [bs / x for x in walls]
            entry["cpu_img_s"] += [bs / x for x in cpus]
            entry["losses"].append(losses)
            print(f"[{r + 1}/{args.repeats}] {k} {s} | {name}: {statistics.median(bs / x for x in walls):.2f} img/s wall, "
                  f"{statistics.median(bs / x for x in cpus):.2f} img per CPU-s", flush=True)
        for k in kinds:
            for s in sizes:
                srcs = [("folder", source)] + ([("archive", VitonSource(args.archive))] if args.archive else [])
                for label, src in srcs:
                    load.setdefault(f"{k} {s} | {label}", []).append(time_loading(src, k, SIZES[s][0], args.load_samples))
    print("\nmedians (images/s wall clock; images per CPU-second of this process):")
    for key, e in results.items():
        print(f"  {key}: {statistics.median(e['wall_img_s']):.2f} img/s, {statistics.median(e['cpu_img_s']):.2f} img/CPU-s")
    print("loading (CPU ms per sample, one process):")
    for key, v in load.items():
        print(f"  {key}: {1000 * statistics.median(v):.1f} ms")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "torch": torch.__version__, "steps": results, "loading_s": load}, f, indent=1)


if __name__ == "__main__":
    main()
