"""Export a trained student as a Fitting Room model bundle.

    python training/export.py --checkpoint runs/student --out models/default --name "Fitting Room small"

The bundle folder holds exactly what the Rust engine loads, plus a description:

* ``warp.safetensors``: the student's AFWM state dict (official key names, e.g.
  ``cond_features.encoders.0.0.block.0.weight``), float32, BatchNorm running statistics and
  ``num_batches_tracked`` (int64) included;
* ``gen.safetensors``: the ResUnetGenerator state dict, likewise;
* ``model.json``: name, widths, parameter counts, training steps and resolutions, teacher,
  data, date, and the SHA-256 of both files.

The engine reads every width from the tensor shapes; ``model.json`` is for people. The
export is checked by loading the files into fresh ``pfafn`` modules (strict) and comparing
a try-on with the checkpoint's own networks.
"""

import argparse
import datetime
import hashlib
import json
import os
import sys
from typing import Dict, Tuple

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from frtrain import nets  # noqa: E402
from pfafn import AFWM, ResUnetGenerator, tryon  # noqa: E402

WARP_FILE = "warp.safetensors"
GEN_FILE = "gen.safetensors"
MODEL_JSON = "model.json"


def bundle_tensors(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """A state dict as safetensors wants it: float32 (integers kept), contiguous, on the CPU."""
    out = {}
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu()
        if t.is_floating_point():
            t = t.to(torch.float32)
        out[name] = t.contiguous().clone()
    return out


def widths_from_state(warp_state: Dict[str, torch.Tensor], gen_state: Dict[str, torch.Tensor]) -> nets.Widths:
    """Read the widths back from the tensor shapes (as the engine does)."""
    widths = tuple(warp_state[f"image_features.encoders.{i}.0.block.2.weight"].shape[0] for i in range(5))
    fpn_dim = warp_state["image_FPN.smooth.0.weight"].shape[0]
    heads = tuple(warp_state[f"aflow_net.netMain.0.{i}.weight"].shape[0] for i in (0, 2, 4))
    ngf = gen_state["model.model.0.weight"].shape[0]
    return nets.Widths(widths, fpn_dim, heads, ngf)


def load_bundle(folder: str) -> Tuple[AFWM, ResUnetGenerator]:
    """Build the student networks from a bundle folder (strict key and shape check)."""
    warp_state = load_file(os.path.join(folder, WARP_FILE))
    gen_state = load_file(os.path.join(folder, GEN_FILE))
    w = widths_from_state(warp_state, gen_state)
    warp = AFWM(3, w.widths, w.fpn_dim, w.head_widths)
    gen = ResUnetGenerator(7, 4, 5, ngf=w.ngf)
    warp.load_state_dict(warp_state, strict=True)
    gen.load_state_dict(gen_state, strict=True)
    return warp.eval(), gen.eval()


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export(checkpoint: str, out: str, name: str, description: str = "") -> Dict:
    state = nets.load_checkpoint(checkpoint)
    if state["kind"] != "student":
        raise SystemExit(f"{checkpoint} holds a {state['kind']}; only students (parser-free) run in the app")
    warp, gen = nets.models_from_checkpoint(state, "student")
    os.makedirs(out, exist_ok=True)
    meta = {"format": "pt", "producer": "fitting-room training/export.py"}
    save_file(bundle_tensors(warp), os.path.join(out, WARP_FILE), metadata=meta)
    save_file(bundle_tensors(gen), os.path.join(out, GEN_FILE), metadata=meta)

    # Check: fresh modules from the files reproduce the checkpoint's try-on.
    warp2, gen2 = load_bundle(out)
    g = torch.Generator().manual_seed(0)
    person = torch.rand(1, 3, 256, 192, generator=g) * 2 - 1
    clothes = torch.rand(1, 3, 256, 192, generator=g) * 2 - 1
    edge = (torch.rand(1, 1, 256, 192, generator=g) > 0.5).float()
    with torch.no_grad():
        a = tryon(warp, gen, person, clothes, edge)["p_tryon"]
        b = tryon(warp2, gen2, person, clothes, edge)["p_tryon"]
    if not torch.equal(a, b):
        raise RuntimeError("the exported bundle does not reproduce the checkpoint")

    widths = nets.Widths.from_dict(state["widths"])
    history = state.get("history", [])
    teacher = state.get("teacher") or {}
    info = {
        "name": name,
        "description": description,
        "format": "fitting-room-model/1",
        "architecture": "PF-AFN parser-free student: AFWM warp module + ResUnetGenerator",
        "files": {"warp": WARP_FILE, "gen": GEN_FILE},
        "widths": widths.to_dict(),
        "parameters": {"warp": nets.count_parameters(warp), "gen": nets.count_parameters(gen)},
        "input": {"height": 256, "width": 192, "note": "sizes must be multiples of 32"},
        "training": {
            "steps": state["step"],
            "segments": [
                {k: seg.get(k) for k in ("start_step", "end_step", "size", "batch_size", "stage", "device", "minutes", "loss_start", "loss_end", "date")}
                for seg in history
                if seg.get("end_step") != seg.get("start_step")  # a chunk that trained nothing
            ],
            "teacher_steps": teacher.get("step"),
            "teacher_widths": teacher.get("widths"),
            "recipe": "PF-AFN teacher-tutor-student distillation; SSIM in place of VGG; "
            "coarse body silhouette and pose arm capsules in place of DensePose",
        },
        "data": state.get("data"),
        "date": datetime.date.today().isoformat(),
        "sha256": {WARP_FILE: _sha256(os.path.join(out, WARP_FILE)), GEN_FILE: _sha256(os.path.join(out, GEN_FILE))},
        "license_note": "trained on VITON (Zalando images): research and education use only",
    }
    with open(os.path.join(out, MODEL_JSON), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    return info


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="student run folder or checkpoint file")
    parser.add_argument("--out", required=True, help="bundle folder to write")
    parser.add_argument("--name", default="Fitting Room student", help="model name for model.json")
    parser.add_argument("--description", default="")
    args = parser.parse_args(argv)
    info = export(args.checkpoint, args.out, args.name, args.description)
    total = info["parameters"]["warp"] + info["parameters"]["gen"]
    print(f"{args.out}: {WARP_FILE} + {GEN_FILE} ({total / 1e6:.2f} M parameters, step {info['training']['steps']})")
    return info


if __name__ == "__main__":
    main()
