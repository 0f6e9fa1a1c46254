"""The resumable, time-budgeted training loop behind ``training/train.py``.

A run folder holds ``checkpoint.pt`` (or its ``.partNN`` shards), ``log.jsonl`` (one JSON
object per logged step) and ``sample.jpg`` (the latest sample sheet): few files, so a
run folder can travel back from a machine that returns at most a handful of files.

``--max-minutes`` is a wall-clock budget counted from the start of the process: the loop
stops when the next step and the final save would not fit, saves, and exits with status
0. ``--steps`` is the total number of steps of the run (over all resumed chunks); the
learning rate follows it (constant, then a linear decay from ``--decay-start``).
"""

import argparse
import datetime
import json
import math
import os
import signal
import time
from typing import Dict, Optional

import torch
from PIL import Image
from safetensors.torch import load_file as load_safetensors

from . import losses as L
from . import nets
from .data import InfiniteSampler, VitonDataset, VitonSource, collate, parse_size, split_heldout, to_device
from .resident import ResidentData
from .speed import apply_cpu_recipe, channels_last_batch
from .steps import STAGES, student_step, teacher_step
from .tutor import FakeCache

LOG_NAME = "log.jsonl"
SAMPLE_NAME = "sample.jpg"


def add_arguments(parser, kind: str) -> None:
    """The command-line options of ``train.py teacher`` / ``train.py student``."""
    g = parser.add_argument_group("data and run")
    g.add_argument("--data", required=True, help="VITON folder or packed archive (.zip), e.g. path/to/viton")
    g.add_argument("--run", required=True, help="run folder: checkpoint, log.jsonl, sample.jpg")
    g.add_argument(
        "--resume",
        nargs="?",
        const="",
        default=None,
        metavar="CHECKPOINT",
        help="continue from the run folder's checkpoint (or from CHECKPOINT, e.g. one carried in); "
        "without a checkpoint there, start fresh",
    )
    g.add_argument("--limit", type=int, default=None, help="use only the first N training pairs")
    g.add_argument(
        "--holdout",
        type=int,
        default=0,
        help="leave out the last N pairs of train_pairs.txt (the slice where checkpoints are chosen; evaluate.py --holdout N)",
    )
    g.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="data loader processes")
    g.add_argument(
        "--resident",
        action="store_true",
        help="decode the training set once and hold it on the device; batches are gathered and augmented there (for GPUs)",
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--no-augment", action="store_true", help="no flip or colour jitter")
    g.add_argument(
        "--matte-dir",
        default=None,
        help="the app's mattes of the train photos (person_eval --mattes): persons are put on the app's background by them",
    )
    g.add_argument("--matte-p", type=float, default=0.5, help="share of samples put on the app's background (with --matte-dir)")
    g.add_argument("--cut-p", type=float, default=0.0, help="share of samples cut off by the photo's edge as the app fills past it (with --matte-dir)")
    g.add_argument(
        "--head-cut-p",
        type=float,
        default=0.0,
        help="share of samples whose head the photo's top edge cuts, from the forehead to the chin, as the app fills past it (with --matte-dir)",
    )
    if kind == "student":
        g.add_argument(
            "--old-garment-p",
            type=float,
            default=0.0,
            help="share of samples whose fake gets an old garment longer than the new one: sleeves down the arms, a band below the hem (frtrain/old_garment.py; needs fakes made on the fly)",
        )

    g = parser.add_argument_group("network widths (a new run only; a resumed run keeps its own)")
    g.add_argument("--preset", default="compact", choices=sorted(nets.PRESETS), help="width preset (default compact)")
    g.add_argument("--widths", type=_ints, default=None, help="AFWM encoder widths, 5 values: 32,48,64,64,64")
    g.add_argument("--fpn-dim", type=int, default=None)
    g.add_argument("--head-widths", type=_ints, default=None, help="flow-head widths, 3 values: 64,32,16")
    g.add_argument("--ngf", type=int, default=None, help="generator base width")

    g = parser.add_argument_group("optimisation")
    g.add_argument("--stage", default="e2e", choices=STAGES, help="warp: warp module only; e2e: warp and generator")
    g.add_argument("--size", default="256x192", help="training resolution HxW, multiples of 32 (e.g. 128x96, 256x192)")
    g.add_argument("--batch-size", type=int, default=8)
    g.add_argument("--steps", type=int, default=10000, help="total steps of the run (all chunks)")
    g.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget of this invocation")
    g.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate (official: 5e-5 at batch 32)")
    g.add_argument("--beta1", type=float, default=0.5)
    g.add_argument("--warp-lr-scale", type=float, default=1.0, help="warp module lr = lr * this (official e2e: 0.2)")
    g.add_argument("--decay-start", type=float, default=0.7, help="fraction of --steps after which lr decays linearly to 0")
    g.add_argument("--warmup", type=int, default=100, help="lr warm-up steps after a (re)start without optimizer state")
    g.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="keep an exponential moving average of the weights with this decay per step (e.g. 0.998; 0: off); "
        "checkpoints carry it and evaluation and export use it",
    )

    g = parser.add_argument_group("machine")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    g.add_argument(
        "--amp",
        default="none",
        choices=("none", "bf16", "fp16"),
        help="mixed precision: bf16 on CUDA or on CPUs with bfloat16 instructions (AVX-512 BF16, AMX); fp16 on CUDA only",
    )
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a shared CPU: training/README.md)")
    g.add_argument("--channels-last", action="store_true", help="channels-last memory format for the networks and batches")
    g.add_argument(
        "--mkldnn",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="oneDNN convolutions on the CPU (default on: each new shape costs seconds once, then steps run faster; "
        "see training/recipe_bench.py)",
    )

    g = parser.add_argument_group("saving and logging")
    g.add_argument("--log-every", type=int, default=20)
    g.add_argument("--sample-every", type=int, default=500, help="write sample.jpg every N steps (and at the end)")
    g.add_argument("--save-every-minutes", type=float, default=10.0)
    g.add_argument("--optimizer-state", default="fp32", choices=("fp32", "bf16", "none"), help="what of Adam's state to save")
    g.add_argument("--max-file-mib", type=float, default=0, help="split checkpoints into .partNN files of at most this size (0: never)")

    g = parser.add_argument_group("loss weights (defaults: the official recipe; SSIM replaces VGG)")
    defaults = L.LossWeights()
    for name in ("warp_l1", "warp_perceptual", "warp_edge", "warp_smooth2", "warp_tv", "gen_l1", "gen_perceptual", "gen_rendered_l1", "gen_rendered_perceptual", "gen_mask"):
        g.add_argument("--w-" + name.replace("_", "-"), dest="w_" + name, type=float, default=getattr(defaults, name))
    if kind == "student":
        g.add_argument("--skin-l1", type=float, default=defaults.skin_l1, help="(official: 30, then 60 late)")
        g.add_argument("--skin-perceptual", type=float, default=defaults.skin_perceptual)
        g.add_argument("--kd-feature", type=float, default=defaults.kd_feature, help="feature distillation multiplier (0: off)")
        g.add_argument("--kd-flow", type=float, default=defaults.kd_flow, help="flow distillation multiplier (0: off)")
        g.add_argument(
            "--consistency",
            type=float,
            default=defaults.consistency,
            help="with --matte-dir: weight of the try-on of the app's input against the try-on of the photo as it was (0: off)",
        )
        g = parser.add_argument_group("teacher and tutor")
        g.add_argument("--teacher", default=None, help="teacher run folder or checkpoint (tutor and distillation)")
        g.add_argument("--fakes", default=None, help="fake cache folder from make_fakes.py (else fakes are made on the fly)")
        g.add_argument("--init-from-teacher", action="store_true", help="a new run starts from the teacher's weights where shapes match")
        g.add_argument(
            "--init-from-bundle",
            default=None,
            metavar="MODEL",
            help="a new run starts from an exported student bundle (e.g. models/default) where names and shapes match",
        )


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX). Without it PyTorch
    emulates bfloat16 autocast: the campaign's student at 256x192 made 0.06 images per
    CPU-second that way on an AVX2-only EPYC (family 25 model 1), 1.2 in float32 on the same
    machine minutes later. Read from /proc/cpuinfo; elsewhere, no."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def _bundle_training(bundle: str) -> Optional[Dict]:
    """The `training` record of a bundle's model.json (steps and segments), when it has one."""
    try:
        with open(os.path.join(bundle, "model.json")) as f:
            training = json.load(f).get("training") or {}
        steps, segments = int(training["steps"]), list(training["segments"])
        if steps < 0 or any(int(s["end_step"]) < int(s["start_step"]) for s in segments):
            return None
        return {"steps": steps, "segments": [dict(s) for s in segments]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _ints(text: str):
    return tuple(int(v) for v in text.split(","))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    return device


def loss_weights(args, kind: str) -> L.LossWeights:
    w = L.LossWeights()
    for name in vars(w):
        if hasattr(args, "w_" + name):
            setattr(w, name, getattr(args, "w_" + name))
    if kind == "student":
        w.skin_l1, w.skin_perceptual = args.skin_l1, args.skin_perceptual
        w.kd_feature, w.kd_flow = args.kd_feature, args.kd_flow
        w.consistency = args.consistency
    return w


def learning_rate_factor(step: int, args, warmup_from: Optional[int]) -> float:
    factor = 1.0
    start = args.decay_start * args.steps
    if args.steps > 0 and step >= start and args.decay_start < 1.0:
        factor = max(0.0, 1.0 - (step - start) / max(1.0, args.steps - start))
    if warmup_from is not None and args.warmup > 0:
        factor *= min(1.0, (step - warmup_from + 1) / args.warmup)
    return factor


def save_sheet(visuals: Dict[str, torch.Tensor], path: str, rows: int = 4) -> None:
    """A JPEG grid: one row per sample, one column per visual (images in [-1, 1])."""
    names = list(visuals)
    n = min(rows, next(iter(visuals.values())).shape[0])
    h, w = next(iter(visuals.values())).shape[-2:]
    sheet = Image.new("RGB", (w * len(names), h * n), (0, 0, 0))
    for j, name in enumerate(names):
        x = visuals[name][:n].detach().float().cpu()
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1) * 2 - 1
        arr = ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
        for i in range(n):
            sheet.paste(Image.fromarray(arr[i]), (j * w, i * h))
    tmp = path + ".tmp.jpg"
    sheet.save(tmp, quality=90)
    os.replace(tmp, path)


class _Stop:
    def __init__(self):
        self.reason = None

    def __call__(self, signum, frame):
        self.reason = f"signal {signum}"


class EmaWeights:
    """An exponential moving average of the warp and generator weights: after every step
    ``avg = decay * avg + (1 - decay) * weights``; buffers (running statistics) are copied. It
    starts from the saved average when resuming, else from the weights themselves."""

    def __init__(self, warp, gen, decay: float, saved: Optional[Dict] = None):
        self.decay = decay
        self.steps = 0
        self.avg = {name: {k: v.detach().clone().float() for k, v in net.state_dict().items()} for name, net in (("warp", warp), ("gen", gen))}
        if saved is not None:
            for name in ("warp", "gen"):
                for k, v in saved[name].items():
                    if k in self.avg[name] and self.avg[name][k].shape == v.shape:
                        self.avg[name][k].copy_(v.float())
            self.steps = saved.get("steps", 0)

    @torch.no_grad()
    def update(self, warp, gen) -> None:
        for name, net in (("warp", warp), ("gen", gen)):
            avg = self.avg[name]
            for k, v in net.state_dict().items():
                if v.is_floating_point():
                    avg[k].lerp_(v.float(), 1.0 - self.decay)
                else:
                    avg[k].copy_(v)
        self.steps += 1

    def state(self) -> Dict:
        return {
            "warp": nets.cast_state(self.avg["warp"], None),
            "gen": nets.cast_state(self.avg["gen"], None),
            "decay": self.decay,
            "steps": self.steps,
        }


def train(args, kind: str) -> Dict:
    """Run (or continue) a teacher or student training; returns the end summary."""
    t0 = time.time()
    deadline = t0 + args.max_minutes * 60.0 if args.max_minutes else math.inf
    device = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cpu":
        apply_cpu_recipe(mkldnn=args.mkldnn)
    amp = args.amp if device.type == "cuda" or (args.amp == "bf16" and cpu_has_bf16()) else "none"
    if args.amp != "none" and amp == "none":
        print(f"--amp {args.amp} ignored on {device} (no native bfloat16 here: emulated, it is many times slower than float32)")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    size = parse_size(args.size)
    torch.manual_seed(args.seed)
    os.makedirs(args.run, exist_ok=True)
    ckpt_file = os.path.join(args.run, nets.CHECKPOINT_NAME)

    # ---- resume or start
    state = None
    if args.resume is not None:
        source = args.resume or args.run
        if nets.checkpoint_exists(source):
            state = nets.load_checkpoint(source)
            print(f"resuming {state['kind']} from {nets.checkpoint_path(source)} at step {state['step']}")
        elif args.resume:
            raise SystemExit(f"--resume {args.resume}: no checkpoint there")
        else:
            print(f"no checkpoint in {args.run}: starting a new run")
    if state is not None and state["kind"] != kind:
        raise SystemExit(f"{args.run} holds a {state['kind']} run, not a {kind} run")
    if state is not None:
        widths = nets.Widths.from_dict(state["widths"])
        asked = nets.resolve_widths(args.preset, args.widths, args.fpn_dim, args.head_widths, args.ngf)
        if any(v is not None for v in (args.widths, args.fpn_dim, args.head_widths, args.ngf)) and asked != widths:
            print(f"note: the resumed run keeps its widths ({widths.describe()})")
    else:
        widths = nets.resolve_widths(args.preset, args.widths, args.fpn_dim, args.head_widths, args.ngf)
    warp, gen = nets.build(kind, widths)
    step = 0
    samples_seen = 0
    history = []
    if state is not None:
        warp.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["warp"].items()})
        gen.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["gen"].items()})
        step, samples_seen, history = state["step"], state.get("samples_seen", 0), state.get("history", [])

    # ---- teacher (students only)
    teacher = None
    teacher_info = state.get("teacher") if state else None
    fakes = None
    adapters = None
    if kind == "student":
        if args.fakes:
            fakes = FakeCache(args.fakes)
        need_teacher = fakes is None or args.kd_feature > 0 or args.kd_flow > 0
        if need_teacher and not args.teacher:
            raise SystemExit("student: --teacher is needed (for on-the-fly fakes and for distillation)")
        if args.teacher:
            t_state = nets.load_checkpoint(args.teacher)
            t_warp, t_gen = nets.models_from_checkpoint(t_state, "teacher")
            for p in list(t_warp.parameters()) + list(t_gen.parameters()):
                p.requires_grad_(False)
            teacher = (t_warp.to(device).eval(), t_gen.to(device).eval())
            t_widths = nets.Widths.from_dict(t_state["widths"])
            teacher_info = {"step": t_state["step"], "widths": t_widths.to_dict(), "history": t_state.get("history", [])}
            if t_widths.fpn_dim != widths.fpn_dim:
                adapters = L.FeatureAdapters(widths.fpn_dim, t_widths.fpn_dim, len(widths.widths))
                if state is not None and state.get("adapters"):
                    adapters.load_state_dict(state["adapters"])
            if state is None and args.init_from_teacher:
                cw, tw = nets.copy_matching(warp, t_state["warp"])
                cg, tg = nets.copy_matching(gen, t_state["gen"])
                print(f"initialised from the teacher: {cw}/{tw} warp and {cg}/{tg} generator tensors")

    init_from = state.get("init") if state else None
    if kind == "student" and state is None and args.init_from_bundle:
        cw, tw = nets.copy_matching(warp, load_safetensors(os.path.join(args.init_from_bundle, "warp.safetensors")))
        cg, tg = nets.copy_matching(gen, load_safetensors(os.path.join(args.init_from_bundle, "gen.safetensors")))
        print(f"initialised from {args.init_from_bundle}: {cw}/{tw} warp and {cg}/{tg} generator tensors")
        init_from = {"bundle": os.path.basename(os.path.normpath(args.init_from_bundle))}
        # The bundle's training goes on, not a new one: its step count (for the stages' step
        # targets and the warm-up of the fresh optimizer) and its segments (for the model card).
        trained = _bundle_training(args.init_from_bundle)
        if trained is not None:
            step, history = trained["steps"], trained["segments"]
            samples_seen = sum((s["end_step"] - s["start_step"]) * s["batch_size"] for s in history)
            print(f"continuing the bundle's training at step {step}")

    warp.to(device).train()
    gen.to(device).train()
    if args.channels_last:
        for module in [warp, gen] + (list(teacher) if teacher is not None else []):
            module.to(memory_format=torch.channels_last)
    if adapters is not None:
        adapters.to(device).train()
    warp_params = list(warp.parameters()) + (list(adapters.parameters()) if adapters is not None else [])
    optimizer = torch.optim.Adam(
        [
            {"params": warp_params, "lr": args.lr * args.warp_lr_scale, "base_lr": args.lr * args.warp_lr_scale},
            {"params": list(gen.parameters()), "lr": args.lr, "base_lr": args.lr},
        ],
        betas=(args.beta1, 0.999),
    )
    warmup_from = step if step > 0 else None
    if state is not None and state.get("optimizer") is not None:
        try:
            saved = state["optimizer"]
            optimizer.load_state_dict(saved)
            for group, base in zip(optimizer.param_groups, (args.lr * args.warp_lr_scale, args.lr)):
                group["base_lr"] = base
            warmup_from = None
        except (ValueError, KeyError) as e:
            print(f"optimizer state not restored ({e}); warming up from step {step}")
    # The moving average of the weights (its own copies of the networks), when asked for: small
    # batches make the weights of any one step noisy, and their average generalises better.
    ema = None
    if args.ema > 0:
        ema = EmaWeights(warp, gen, args.ema, state.get("ema") if state else None)
    scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)

    # ---- data
    consistency = kind == "student" and args.consistency > 0
    if consistency and not args.matte_dir:
        raise SystemExit("--consistency needs --matte-dir (it compares the app's inputs with the photos as they were)")
    source = VitonSource(args.data)
    train_pairs, _ = split_heldout(source.pairs("train"), args.holdout)
    dataset = VitonDataset(
        source,
        "train",
        size,
        pairs=train_pairs,
        augment=not args.no_augment,
        other_garment=(kind == "student" and fakes is None),
        fakes=fakes,
        limit=args.limit,
        seed=args.seed,
        matte_dir=args.matte_dir,
        matte_p=args.matte_p,
        cut_p=args.cut_p,
        head_cut_p=args.head_cut_p,
        originals=consistency,
        old_garment_p=getattr(args, "old_garment_p", 0.0),
    )
    data_info = {"source": source.describe(), "pairs": len(dataset), "split": "train", "holdout": args.holdout}
    if args.matte_dir:
        data_info.update(app_background=args.matte_p, cut_by_edge=args.cut_p)
        if args.head_cut_p > 0:
            data_info.update(head_cut=args.head_cut_p)
    if consistency:
        data_info.update(consistency=args.consistency)
    if dataset.old_garment_p > 0:
        data_info.update(old_garment=dataset.old_garment_p)
    if state is not None and state.get("data", {}).get("pairs") != len(dataset):
        samples_seen = 0  # other data: start a fresh sample stream
    sampler = InfiniteSampler(len(dataset), seed=args.seed, start=samples_seen)
    resident = None
    if args.resident and args.matte_dir:
        raise SystemExit("--matte-dir works with the loader, not --resident")
    if args.resident:
        t_decode = time.time()
        resident = ResidentData(dataset, device, workers=args.workers, other_garment=dataset.other_garment)
        print(f"{len(dataset)} pairs decoded onto {device} in {time.time() - t_decode:.0f} s ({resident.nbytes() / 2**20:.0f} MiB)")
    loader = None if resident is not None else torch.utils.data.DataLoader(
        dataset,
        batch_size=args.batch_size,
        sampler=sampler,
        num_workers=args.workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        drop_last=True,
        persistent_workers=args.workers > 0,
        prefetch_factor=4 if args.workers > 0 else None,
    )
    weights = loss_weights(args, kind)
    n_warp, n_gen = nets.count_parameters(warp), nets.count_parameters(gen)
    print(
        f"{kind}: {widths.describe()}; warp {n_warp / 1e6:.2f} M + generator {n_gen / 1e6:.2f} M parameters; "
        f"{len(dataset)} pairs at {size[0]}x{size[1]}, batch {args.batch_size}, stage {args.stage}, "
        f"device {device}, amp {amp}; step {step} -> {args.steps}",
        flush=True,
    )

    def checkpoint_state() -> Dict:
        opt_dtype = {"fp32": None, "bf16": torch.bfloat16}.get(args.optimizer_state)
        return {
            "format": nets.CHECKPOINT_FORMAT,
            "kind": kind,
            "widths": widths.to_dict(),
            "step": step,
            "samples_seen": samples_seen,
            "warp": nets.cast_state(warp.state_dict(), None),
            "gen": nets.cast_state(gen.state_dict(), None),
            "adapters": nets.cast_state(adapters.state_dict(), None) if adapters is not None else None,
            "ema": ema.state() if ema is not None else None,
            "optimizer": None if args.optimizer_state == "none" else nets.cast_optimizer_state(optimizer.state_dict(), opt_dtype),
            "data": data_info,
            "teacher": teacher_info,
            "init": init_from,
            "history": history + [segment],
            "args": {k: v for k, v in vars(args).items() if k != "func"},
            "saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }

    segment = {
        "start_step": step,
        "end_step": step,
        "size": list(size),
        "batch_size": args.batch_size,
        "stage": args.stage,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "amp": amp,
        "minutes": 0.0,
        "loss_start": None,
        "loss_end": None,
        "date": datetime.date.today().isoformat(),
    }
    stop = _Stop()
    old_handlers = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    log = open(os.path.join(args.run, LOG_NAME), "a")
    save_seconds = 5.0
    last_save = time.time()
    step_time = None
    window = 0
    loss_sum = None
    parts_sum: Dict[str, torch.Tensor] = {}
    parts_count: Dict[str, int] = {}  # a part may be missing from a step (consistency: no sample changed)
    last_mean = None
    reason = "steps"
    visuals = None
    try:
        it = resident.batches(sampler, args.batch_size) if resident is not None else iter(loader)
        t_first = t_window = time.time()
        while True:
            if step >= args.steps:
                reason = "steps"
                break
            if stop.reason:
                reason = stop.reason
                break
            if step_time is not None and time.time() + 1.5 * step_time + 2 * save_seconds + 2.0 > deadline:
                reason = "budget"
                break
            batch = to_device(next(it), device)
            if args.channels_last:
                batch = channels_last_batch(batch)
            factor = learning_rate_factor(step, args, warmup_from)
            for group in optimizer.param_groups:
                group["lr"] = group["base_lr"] * factor
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                if kind == "teacher":
                    loss, parts, visuals = teacher_step(warp, gen, batch, weights, args.stage)
                else:
                    loss, parts, visuals = student_step(warp, gen, batch, weights, args.stage, teacher, adapters)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            if ema is not None:
                ema.update(warp, gen)
            step += 1
            samples_seen += args.batch_size
            # Accumulate on the device; values are read (a synchronisation) only when logging.
            loss_sum = loss.detach().float() if loss_sum is None else loss_sum + loss.detach().float()
            for k, v in parts.items():
                parts_sum[k] = v.float() + parts_sum.get(k, 0.0)
                parts_count[k] = parts_count.get(k, 0) + 1
            window += 1
            if step % args.log_every == 0 or step >= args.steps or step - segment["start_step"] == 1:
                mean = float(loss_sum) / window
                if not math.isfinite(mean):
                    raise FloatingPointError(f"loss is {mean} around step {step}; lower --lr, or try --amp none")
                now = time.time()
                step_time = (now - t_window) / window
                t_window = now
                last_mean = mean
                if segment["loss_start"] is None:
                    segment["loss_start"] = mean  # the first logged window's mean
                record = {
                    "step": step,
                    "loss": round(mean, 5),
                    **{k: round(float(v) / parts_count[k], 5) for k, v in parts_sum.items()},
                    "lr": optimizer.param_groups[1]["lr"],
                    "img_per_s": round(args.batch_size / step_time, 2),
                    "minutes": round((now - t0) / 60.0, 2),
                }
                loss_sum, parts_sum, parts_count, window = None, {}, {}, 0
                print(json.dumps(record), flush=True)
                log.write(json.dumps(record) + "\n")
                log.flush()
                # Periodic saves happen only here, right after the loss was seen finite.
                if now - last_save > args.save_every_minutes * 60.0:
                    segment.update(end_step=step, minutes=round((now - t_first) / 60.0, 2), loss_end=last_mean)
                    nets.save_checkpoint(checkpoint_state(), ckpt_file, args.max_file_mib)
                    save_seconds = time.time() - now
                    last_save = time.time()
            if args.sample_every and step % args.sample_every == 0:
                save_sheet(visuals, os.path.join(args.run, SAMPLE_NAME))
        segment.update(end_step=step, minutes=round((time.time() - t_first) / 60.0, 2))
        if window:
            last_mean = float(loss_sum) / window
            if not math.isfinite(last_mean):
                raise FloatingPointError(f"loss is {last_mean} around step {step}; not saving")
        segment["loss_end"] = last_mean
        if segment["loss_start"] is None:
            segment["loss_start"] = last_mean
        files = nets.save_checkpoint(checkpoint_state(), ckpt_file, args.max_file_mib)
        if visuals is not None:
            save_sheet(visuals, os.path.join(args.run, SAMPLE_NAME))
    finally:
        log.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
    summary = {
        "event": "end",
        "kind": kind,
        "reason": reason,
        "step": step,
        "steps_this_run": step - segment["start_step"],
        "loss_start": segment["loss_start"],
        "loss_end": segment["loss_end"],
        "minutes": round((time.time() - t0) / 60.0, 2),
        "checkpoint": [os.path.basename(f) for f in files],
    }
    print(json.dumps(summary), flush=True)
    if reason == "budget":
        print(f"time budget reached at step {step}; continue with --resume", flush=True)
    return summary
