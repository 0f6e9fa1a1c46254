"""Width presets, building the networks, and training checkpoints.

Teacher and student are the same architecture family (``pfafn.AFWM`` and
``pfafn.ResUnetGenerator``); they differ in their person inputs:

=========  ===============================  ==========================================
network    warp module person input         generator input
=========  ===============================  ==========================================
teacher    23 channels (``person.py``)      8: kept photo, warped garment, edge, skin
student    3: a person photo                7: photo, warped garment, warped edge
=========  ===============================  ==========================================

Widths are free (same key names, other shapes), so a student can be much smaller than
the official model. Checkpoints are ``torch.save`` dicts (see ``save_checkpoint``);
files larger than ``max_file_mib`` are split into ``<name>.partNN`` shards so that
each piece fits a transfer limit, and ``load_checkpoint`` joins them again.
"""

import glob
import io
import os
from dataclasses import asdict, dataclass
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from pfafn import AFWM, ResUnetGenerator

from .person import TEACHER_COND_CHANNELS, TEACHER_GEN_CHANNELS

CHECKPOINT_FORMAT = "fitting-room-train/1"
CHECKPOINT_NAME = "checkpoint.pt"


@dataclass(frozen=True)
class Widths:
    widths: Tuple[int, ...]  # AFWM encoder stages (5)
    fpn_dim: int  # feature pyramid width
    head_widths: Tuple[int, int, int]  # flow-head conv widths
    ngf: int  # generator base width

    def to_dict(self) -> Dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @staticmethod
    def from_dict(d: Dict) -> "Widths":
        return Widths(tuple(d["widths"]), int(d["fpn_dim"]), tuple(d["head_widths"]), int(d["ngf"]))

    def describe(self) -> str:
        return f"widths {','.join(map(str, self.widths))} fpn {self.fpn_dim} heads {','.join(map(str, self.head_widths))} ngf {self.ngf}"


PRESETS = {
    # for tests and CPU smoke runs
    "tiny": Widths((8, 16, 16, 16, 16), 16, (16, 8, 8), 4),
    # the shipped default student: ~120 ms per try-on on 2 CPU cores in the Rust engine
    "compact": Widths((16, 32, 48, 64, 64), 32, (32, 16, 8), 16),
    # 2.5 M + 2.8 M parameters; ~180-220 ms per try-on on 2 CPU cores
    "small": Widths((32, 48, 64, 64, 64), 64, (64, 32, 16), 16),
    "medium": Widths((48, 96, 128, 128, 128), 128, (96, 48, 24), 24),
    "official": Widths((64, 128, 256, 256, 256), 256, (128, 64, 32), 64),
}


def resolve_widths(
    preset: str,
    widths: Optional[Sequence[int]] = None,
    fpn_dim: Optional[int] = None,
    head_widths: Optional[Sequence[int]] = None,
    ngf: Optional[int] = None,
) -> Widths:
    """A preset, with any of its fields overridden."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    base = PRESETS[preset]
    result = Widths(
        tuple(widths) if widths else base.widths,
        fpn_dim or base.fpn_dim,
        tuple(head_widths) if head_widths else base.head_widths,
        ngf or base.ngf,
    )
    if len(result.widths) != 5:
        raise ValueError("--widths needs 5 values (one per encoder stage)")
    if len(result.head_widths) != 3:
        raise ValueError("--head-widths needs 3 values")
    return result


def input_channels(kind: str) -> Tuple[int, int]:
    """(warp person input, generator input) channel counts of ``teacher`` or ``student``."""
    if kind == "teacher":
        return TEACHER_COND_CHANNELS, TEACHER_GEN_CHANNELS
    if kind == "student":
        return 3, 7
    raise ValueError(f"unknown network kind {kind!r}")


def build(kind: str, widths: Widths) -> Tuple[AFWM, ResUnetGenerator]:
    warp_nc, gen_nc = input_channels(kind)
    warp = AFWM(warp_nc, widths.widths, widths.fpn_dim, widths.head_widths)
    gen = ResUnetGenerator(gen_nc, 4, 5, ngf=widths.ngf)
    return warp, gen


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def copy_matching(target: nn.Module, source_state: Dict[str, torch.Tensor]) -> Tuple[int, int]:
    """Copy every tensor of ``source_state`` whose name and shape match; (copied, total)."""
    own = target.state_dict()
    copied = 0
    for name, tensor in source_state.items():
        if name in own and own[name].shape == tensor.shape:
            own[name].copy_(tensor.to(own[name].dtype))
            copied += 1
    return copied, len(own)


# ----------------------------------------------------------------------------- checkpoints


def checkpoint_path(path: str) -> str:
    """A run folder -> its checkpoint file; a file path is returned unchanged."""
    if os.path.isdir(path):
        return os.path.join(path, CHECKPOINT_NAME)
    return path


def _shards(path: str):
    return sorted(glob.glob(glob.escape(path) + ".part[0-9][0-9]"))


def checkpoint_exists(path: str) -> bool:
    path = checkpoint_path(path)
    return os.path.isfile(path) or bool(_shards(path))


def save_checkpoint(state: Dict, path: str, max_file_mib: float = 0) -> Tuple[str, ...]:
    """Write ``state`` atomically; split into ``.partNN`` files above ``max_file_mib`` (0: never)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    limit = int(max_file_mib * 1024 * 1024)
    pieces = [data] if limit <= 0 or len(data) <= limit else [data[i : i + limit] for i in range(0, len(data), limit)]
    names = [path] if len(pieces) == 1 else [f"{path}.part{i:02d}" for i in range(len(pieces))]
    for name, piece in zip(names, pieces):
        tmp = name + ".tmp"
        with open(tmp, "wb") as f:
            f.write(piece)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, name)
    # Remove what the other layout left behind.
    stale = _shards(path) if len(pieces) == 1 else ([path] if os.path.isfile(path) else [])
    stale += [s for s in _shards(path) if s not in names]
    for name in set(stale) - set(names):
        os.remove(name)
    return tuple(names)


def load_checkpoint(path: str) -> Dict:
    """Load a checkpoint file, its shards, or a run folder's checkpoint, onto the CPU."""
    path = checkpoint_path(path)
    if os.path.isfile(path):
        source = path
    else:
        shards = _shards(path)
        if not shards:
            raise FileNotFoundError(f"no checkpoint at {path} (nor {path}.part00...)")
        source = io.BytesIO(b"".join(open(s, "rb").read() for s in shards))
    state = torch.load(source, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a Fitting Room training checkpoint")
    return state


def inference_weights(state: Dict) -> Dict:
    """The weights a checkpoint is used with: its moving average when training kept one
    (``--ema``), else the weights themselves; a dict with "warp" and "gen"."""
    return state.get("ema") or state


def models_from_checkpoint(state: Dict, kind: Optional[str] = None) -> Tuple[AFWM, ResUnetGenerator]:
    """Build and load the networks of a checkpoint (float32, eval mode), with its inference
    weights."""
    kind = kind or state["kind"]
    if state["kind"] != kind:
        raise ValueError(f"checkpoint holds a {state['kind']}, not a {kind}")
    warp, gen = build(kind, Widths.from_dict(state["widths"]))
    weights = inference_weights(state)
    warp.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in weights["warp"].items()})
    gen.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in weights["gen"].items()})
    return warp.eval(), gen.eval()


def cast_state(state_dict: Dict[str, torch.Tensor], dtype: Optional[torch.dtype]) -> Dict[str, torch.Tensor]:
    """CPU copy of a state dict, floating tensors cast to ``dtype`` (None: keep)."""
    out = {}
    for k, v in state_dict.items():
        v = v.detach().to("cpu")
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        out[k] = v.clone().contiguous()
    return out


def cast_optimizer_state(state: Dict, dtype: Optional[torch.dtype]) -> Dict:
    """Optimizer state dict with its moment tensors cast (steps stay as they are)."""
    if dtype is None:
        return state
    out = {"param_groups": state["param_groups"], "state": {}}
    for key, entry in state["state"].items():
        out["state"][key] = {
            name: (v.to(dtype) if torch.is_tensor(v) and v.is_floating_point() and v.dim() > 0 else v) for name, v in entry.items()
        }
    return out
