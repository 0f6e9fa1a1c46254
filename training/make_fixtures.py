#!/usr/bin/env python3
"""Write the deterministic PF-AFN parity fixtures the Rust engine is tested against.

Usage (from the repository root):

    python training/make_fixtures.py               # small model -> tests/fixtures/model/
    python training/make_fixtures.py --full DIR    # official widths -> DIR (not committed)

Everything is generated on the CPU in float32 from fixed seeds:

* a model with random but non-trivial weights (random BatchNorm statistics,
  flow heads scaled so the offsets are a few pixels, generator output scaled
  so the composition mask is neither 0 nor 1), saved as safetensors, torch
  zip and the official legacy layout (``PFAFN/warp_model_final.pth``, ...);
* procedural person / garment / mask PNGs (192x256);
* ``reference.safetensors``: inputs as built from the PNGs, outputs and
  per-level intermediates of the reference implementation in ``pfafn/``;
* ``ops.safetensors`` (small mode only): single-op test cases.

See ``tests/fixtures/README.md`` for the file list.
"""

import argparse
import contextlib
import math
import os
import sys
from typing import Dict, Iterator, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pfafn import ops  # noqa: E402
from pfafn.afwm import AFWM  # noqa: E402
from pfafn.generator import ResUnetGenerator  # noqa: E402
from pfafn.images import mask_to_tensor, rgb_to_tensor  # noqa: E402
from pfafn.tryon import tryon  # noqa: E402

HEIGHT, WIDTH = 256, 192
SMALL = dict(widths=(8, 16, 16, 16, 16), fpn_dim=16, head_widths=(16, 8, 8), ngf=4)
FULL = dict(widths=(64, 128, 256, 256, 256), fpn_dim=256, head_widths=(128, 64, 32), ngf=64)
DEFAULT_OUT = os.path.join("tests", "fixtures", "model")

# Target RMS of the offsets the flow heads predict, in pixels of each level's
# own resolution, from the coarsest level (8x6) to the finest (128x96). One
# pixel at level l is 2^(5-l) pixels of the 256x192 output, and the composed
# grid carries every coarser displacement forward, so the targets shrink
# towards the coarse levels: each level then moves the garment by roughly
# 2-4 output pixels and the final flow deforms it visibly (about 10 px) while
# staying mostly inside [-1.2, 1.2]. Much larger offsets make the warp chaotic,
# and float32 rounding would then move the outputs by more than a parity test
# can tolerate.
OFFSET_RMS_MAIN = (0.06, 0.1, 0.2, 0.35, 0.6)
OFFSET_RMS_REFINE = (0.05, 0.08, 0.15, 0.3, 0.5)
# Target RMS of every feature-pyramid conv output, so that features (and the
# correlation, a channel mean of their products) stay of order 1 at all levels.
PYRAMID_RMS = 1.0
# Target RMS of the generator's raw outputs: rendered image logits and mask logit.
GEN_RENDER_RMS = 1.0
GEN_MASK_RMS = 1.5


# --------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------


def randomize_weights(model: nn.Module, seed: int) -> None:
    """Fill every parameter and buffer with seeded, non-trivial values.

    Convs: normal with std sqrt(2 / fan_in) (He), biases uniform +-0.1.
    BatchNorm: weight ~ U(0.8, 1.2), bias ~ N(0, 0.1), running_mean ~
    N(0, 0.2), running_var ~ U(0.5, 2), num_batches_tracked a non-zero int.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=gen)
                if module.bias is not None:
                    module.bias.uniform_(-0.1, 0.1, generator=gen)
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.8, 1.2, generator=gen)
                module.bias.normal_(0.0, 0.1, generator=gen)
                module.running_mean.normal_(0.0, 0.2, generator=gen)
                module.running_var.uniform_(0.5, 2.0, generator=gen)
                module.num_batches_tracked.fill_(int(torch.randint(1000, 100000, (1,), generator=gen)))


def _rms(x: torch.Tensor) -> float:
    return float(x.double().pow(2).mean().sqrt())


@contextlib.contextmanager
def capture_output(module: nn.Module) -> Iterator[List[torch.Tensor]]:
    """Record the outputs of ``module`` while the context is open."""
    outputs: List[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, out: outputs.append(out.detach()))
    try:
        yield outputs
    finally:
        handle.remove()


def _scale_to_rms(conv: nn.Conv2d, run, target: float) -> None:
    """Run ``run()`` and scale ``conv`` (weight and bias) so its output RMS becomes ``target``."""
    with torch.no_grad(), capture_output(conv) as outputs:
        run()
        scale = target / _rms(outputs[0])
        conv.weight.mul_(scale)
        if conv.bias is not None:
            conv.bias.mul_(scale)


def calibrate_pyramids(warp: AFWM, person: torch.Tensor, clothes: torch.Tensor) -> None:
    """Scale each pyramid conv so its output has RMS ``PYRAMID_RMS``.

    With plain He init, every pyramid level adds the upsampled coarser level
    and the features grow by ~2x per level. Convs are scaled in execution
    order (coarse to fine, adaptive before smooth).
    """
    with torch.no_grad():
        branches = (
            (warp.cond_FPN, warp.cond_features(person)),
            (warp.image_FPN, warp.image_features(clothes)),
        )
    for fpn, features in branches:
        for adaptive, smooth in zip(fpn.adaptive, fpn.smooth):
            _scale_to_rms(adaptive, lambda: fpn(features), PYRAMID_RMS)
            _scale_to_rms(smooth, lambda: fpn(features), PYRAMID_RMS)


def calibrate_warp(warp: AFWM, person: torch.Tensor, clothes: torch.Tensor) -> None:
    """Scale the last conv of each flow head so its offsets reach the target RMS.

    Heads are calibrated in execution order (level 0 main, level 0 refine,
    level 1 main, ...), each with a fresh forward pass, since scaling one head
    changes the inputs of all later ones.
    """
    net = warp.aflow_net
    for level in range(len(net.netMain)):
        for head, target in ((net.netMain[level], OFFSET_RMS_MAIN[level]), (net.netRefine[level], OFFSET_RMS_REFINE[level])):
            _scale_to_rms(head[-1], lambda: warp(person, clothes), target)


def calibrate_generator(gen: ResUnetGenerator, gen_input: torch.Tensor) -> None:
    """Centre and scale the final conv per output channel.

    Its input comes out of ReLUs, so with random weights each output channel
    has a large random mean, which would saturate tanh and sigmoid. Each
    channel's weights are first shifted along the per-channel input means so
    the output mean is ~0, then scaled to the target RMS (rendered logits
    ``GEN_RENDER_RMS``, mask logit ``GEN_MASK_RMS``).
    """
    last = gen.model.model[-1]
    with torch.no_grad():
        for _ in range(2):  # the second pass removes what zero padding left over
            inputs: List[torch.Tensor] = []
            handle = last.register_forward_hook(lambda _m, i, _o: inputs.append(i[0].detach()))
            out = gen(gen_input)
            handle.remove()
            mu = inputs[0].mean(dim=(0, 2, 3))  # (C,)
            kernel_area = last.weight.shape[2] * last.weight.shape[3]
            for channel in range(out.shape[1]):
                shift = out[:, channel].mean() / (kernel_area * mu.pow(2).sum())
                last.weight[channel].sub_(shift * mu.view(-1, 1, 1))
        out = gen(gen_input)
        for channel in range(out.shape[1]):
            target = GEN_MASK_RMS if channel == 3 else GEN_RENDER_RMS
            last.weight[channel].mul_(target / _rms(out[:, channel]))


# --------------------------------------------------------------------------
# Procedural images (drawn at 4x and box-filtered for anti-aliased edges)
# --------------------------------------------------------------------------

SUPERSAMPLE = 4


def _coords() -> Tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (x, y) of the supersampled canvas, in output pixels."""
    s = SUPERSAMPLE
    ys = (np.arange(HEIGHT * s, dtype=np.float64) + 0.5) / s
    xs = (np.arange(WIDTH * s, dtype=np.float64) + 0.5) / s
    return np.meshgrid(xs, ys)


def _downsample(canvas: np.ndarray) -> np.ndarray:
    s = SUPERSAMPLE
    h, w = canvas.shape[:2]
    return canvas.reshape(h // s, s, w // s, s, *canvas.shape[2:]).mean(axis=(1, 3))


def _ellipse(x, y, cx, cy, rx, ry) -> np.ndarray:
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0


def _convex_polygon(x, y, points: Sequence[Tuple[float, float]]) -> np.ndarray:
    """Inside test for a convex polygon given counter-clockwise in image coordinates."""
    inside = np.ones_like(x, dtype=bool)
    for (x0, y0), (x1, y1) in zip(points, list(points[1:]) + [points[0]]):
        inside &= (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0) <= 0
    return inside


def _paint(canvas: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    canvas[mask] = colour[mask] if colour.ndim == 3 else colour


def make_person() -> np.ndarray:
    """A stylised person: head, hair, neck, shirt with shading, arms, trousers."""
    x, y = _coords()
    canvas = np.empty(x.shape + (3,))
    # Background: soft vertical and horizontal gradient.
    t = y / HEIGHT
    canvas[..., 0] = 0.82 - 0.10 * t + 0.04 * (x / WIDTH)
    canvas[..., 1] = 0.80 - 0.08 * t
    canvas[..., 2] = 0.76 - 0.02 * t - 0.05 * (x / WIDTH)

    def shaded(base, cx, cy, radius, strength=0.35):
        d = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) / radius
        light = 1.0 - strength * np.clip(d, 0, 1.5)
        return np.clip(np.asarray(base)[None, None, :] * light[..., None], 0, 1)

    skin = shaded((0.93, 0.74, 0.60), 90, 45, 60)
    # Arms (behind the shirt), slanting down and outwards.
    _paint(canvas, _convex_polygon(x, y, [(52, 96), (38, 170), (50, 174), (66, 104)]), skin)
    _paint(canvas, _convex_polygon(x, y, [(126, 104), (142, 174), (154, 170), (140, 96)]), skin)
    # Trousers: two legs with a vertical gradient.
    trousers = np.stack([0.18 + 0.10 * t, 0.22 + 0.08 * t, 0.35 + 0.05 * t], axis=-1)
    _paint(canvas, _convex_polygon(x, y, [(62, 172), (60, 256), (94, 256), (97, 172)]), trousers)
    _paint(canvas, _convex_polygon(x, y, [(95, 172), (98, 256), (132, 256), (130, 172)]), trousers)
    # Shirt: trapezoid torso with short sleeves, horizontal light falloff.
    shirt = shaded((0.75, 0.22, 0.20), 80, 110, 90, strength=0.45)
    _paint(canvas, _convex_polygon(x, y, [(60, 88), (62, 182), (130, 182), (132, 88), (110, 80), (82, 80)]), shirt)
    _paint(canvas, _convex_polygon(x, y, [(60, 88), (46, 118), (62, 124), (70, 100)]), shirt)
    _paint(canvas, _convex_polygon(x, y, [(122, 100), (130, 124), (146, 118), (132, 88)]), shirt)
    # Neck and head.
    _paint(canvas, _convex_polygon(x, y, [(87, 62), (87, 86), (105, 86), (105, 62)]), skin)
    _paint(canvas, _ellipse(x, y, 96, 46, 20, 26), skin)
    hair = _ellipse(x, y, 96, 38, 22, 20) & (y < 36 + 0.25 * np.abs(x - 96))
    _paint(canvas, hair, np.array([0.25, 0.16, 0.10]))
    # Eyes and mouth.
    _paint(canvas, _ellipse(x, y, 88, 48, 2.5, 1.8), np.array([0.1, 0.1, 0.15]))
    _paint(canvas, _ellipse(x, y, 104, 48, 2.5, 1.8), np.array([0.1, 0.1, 0.15]))
    _paint(canvas, _ellipse(x, y, 96, 60, 6, 1.6), np.array([0.65, 0.30, 0.30]))
    return _to_uint8(_downsample(canvas))


def garment_shape(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A T-shirt laid flat: body, two sleeves, a round neckline cut out."""
    body = _convex_polygon(x, y, [(58, 62), (54, 226), (138, 226), (134, 62), (112, 52), (80, 52)])
    left = _convex_polygon(x, y, [(58, 62), (28, 110), (48, 122), (66, 96)])
    right = _convex_polygon(x, y, [(126, 96), (144, 122), (164, 110), (134, 62)])
    neck = _ellipse(x, y, 96, 50, 15, 12)
    return (body | left | right) & ~neck


def make_garment() -> Tuple[np.ndarray, np.ndarray]:
    """The garment photo (RGB on white) and its binary mask (0/255)."""
    x, y = _coords()
    shape = garment_shape(x, y)
    # Pattern: diagonal stripes over a vertical colour gradient, plus a round badge.
    t = np.clip((y - 50) / 180, 0, 1)
    stripes = (np.floor((x + 0.6 * y) / 9.0) % 2 == 0)
    fabric = np.stack([0.15 + 0.25 * t, 0.45 + 0.10 * t, 0.70 - 0.20 * t], axis=-1)
    fabric[stripes] = fabric[stripes] * 0.55 + 0.45 * np.array([0.95, 0.90, 0.55])
    badge = _ellipse(x, y, 116, 96, 9, 9)
    fabric[badge] = np.array([0.85, 0.15, 0.20])
    canvas = np.ones(x.shape + (3,))
    canvas[shape] = fabric[shape]
    image = _to_uint8(_downsample(canvas))
    mask = np.where(_downsample(shape.astype(np.float64)) > 0.5, 255, 0).astype(np.uint8)
    return image, mask


def _to_uint8(array: np.ndarray) -> np.ndarray:
    return np.clip(np.round(array * 255.0), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# Saving and checking checkpoints
# --------------------------------------------------------------------------

_TAG_AS_CUDA = False


def _cuda_tagger(storage):
    """Tag CPU storages as 'cuda:0' while ``_TAG_AS_CUDA`` is set (see below)."""
    return "cuda:0" if _TAG_AS_CUDA else None


torch.serialization.register_package(0, _cuda_tagger, lambda _storage, _location: None)


@contextlib.contextmanager
def storages_tagged_as_cuda() -> Iterator[None]:
    """Make torch.save record the location 'cuda:0', as in the official checkpoints.

    The official files were saved from the GPU; a loader must ignore the
    location. Reading them back in torch needs ``map_location="cpu"``.
    """
    global _TAG_AS_CUDA
    _TAG_AS_CUDA = True
    try:
        yield
    finally:
        _TAG_AS_CUDA = False


def save_model(state: Dict[str, torch.Tensor], out_dir: str, name: str, official_name: str, extra: Dict[str, torch.Tensor]) -> None:
    """Write ``name.safetensors``, ``name_zip.pth`` and ``PFAFN/official_name`` (legacy)."""
    save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(out_dir, f"{name}.safetensors"), metadata={"format": "pt"})
    torch.save(state, os.path.join(out_dir, f"{name}_zip.pth"))
    legacy = type(state)(state)
    legacy.update(extra)
    if hasattr(state, "_metadata"):
        legacy._metadata = state._metadata
    os.makedirs(os.path.join(out_dir, "PFAFN"), exist_ok=True)
    with storages_tagged_as_cuda():
        torch.save(legacy, os.path.join(out_dir, "PFAFN", official_name), _use_new_zipfile_serialization=False)


def verify_model_files(state: Dict[str, torch.Tensor], out_dir: str, name: str, official_name: str, extra: Dict[str, torch.Tensor]) -> None:
    """Load every saved format back and check it holds exactly ``state`` (+ ``extra`` in the legacy file)."""
    expected = dict(state)
    loaded = {
        "safetensors": (load_file(os.path.join(out_dir, f"{name}.safetensors")), expected),
        "zip": (torch.load(os.path.join(out_dir, f"{name}_zip.pth"), map_location="cpu", weights_only=True), expected),
        "legacy": (
            torch.load(os.path.join(out_dir, "PFAFN", official_name), map_location="cpu", weights_only=True),
            {**expected, **extra},
        ),
    }
    for fmt, (got, want) in loaded.items():
        if list(got.keys()) != list(want.keys()) and fmt != "safetensors":
            raise AssertionError(f"{name} {fmt}: key order differs")
        if set(got.keys()) != set(want.keys()):
            raise AssertionError(f"{name} {fmt}: keys differ: {sorted(set(got) ^ set(want))}")
        for key, tensor in want.items():
            other = got[key]
            if other.dtype != tensor.dtype or other.shape != tensor.shape or not torch.equal(other, tensor):
                raise AssertionError(f"{name} {fmt}: tensor {key} differs")
    print(f"  {name}: safetensors, zip and legacy files hold identical tensors ({len(state)} keys)")


# --------------------------------------------------------------------------
# Single-op cases
# --------------------------------------------------------------------------


def make_ops_cases(seed: int) -> Dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen)

    cases: Dict[str, torch.Tensor] = {}

    # grid_sample: in-range, out-of-range and exactly-on-the-border taps.
    x = randn(1, 5, 9, 11)
    grid = torch.rand(1, 7, 13, 2, generator=gen) * 2.6 - 1.3
    grid[0, 0, :, 0] = -1.0  # left border column
    grid[0, 1, :, 0] = 1.0  # right border column
    grid[0, :, 0, 1] = -1.0  # top border row
    grid[0, :, 1, 1] = 1.0  # bottom border row
    grid[0, 2, 2] = torch.tensor([-1.0, -1.0])  # corners
    grid[0, 2, 3] = torch.tensor([1.0, 1.0])
    grid[0, 3, 2] = torch.tensor([2.0 * 4 / 10 - 1.0, 2.0 * 6 / 8 - 1.0])  # exactly on a pixel centre
    grid[0, 3, 3] = torch.tensor([0.0, 0.0])
    cases["grid_sample.input"] = x
    cases["grid_sample.grid"] = grid
    cases["grid_sample.border"] = ops.grid_sample(x, grid, "border")
    cases["grid_sample.zeros"] = ops.grid_sample(x, grid, "zeros")

    first, second = randn(1, 6, 10, 12), randn(1, 6, 10, 12)
    cases["correlation.first"] = first
    cases["correlation.second"] = second
    cases["correlation.out"] = ops.correlation(first, second)

    offset = randn(1, 2, 8, 6) * 2.0
    cases["apply_offset.offset"] = offset
    cases["apply_offset.grid"] = ops.apply_offset(offset)

    flow = randn(1, 2, 8, 6)
    cases["upsample_bilinear.input"] = flow
    cases["upsample_bilinear.out"] = ops.upsample_flow(flow)

    feat = randn(1, 3, 8, 6)
    cases["upsample_nearest.input"] = feat
    cases["upsample_nearest.out"] = ops.upsample_nearest(feat)

    conv_in = randn(1, 5, 13, 11)
    cases["conv.input"] = conv_in
    w = randn(7, 5, 3, 3) / math.sqrt(45)
    b = randn(7) * 0.1
    cases["conv3x3s1.weight"], cases["conv3x3s1.bias"] = w, b
    cases["conv3x3s1.out"] = F.conv2d(conv_in, w, b, stride=1, padding=1)
    w = randn(6, 5, 3, 3) / math.sqrt(45)
    cases["conv3x3s2.weight"] = w
    cases["conv3x3s2.out"] = F.conv2d(conv_in, w, None, stride=2, padding=1)
    w = randn(4, 5, 1, 1) / math.sqrt(5)
    b = randn(4) * 0.1
    cases["conv1x1.weight"], cases["conv1x1.bias"] = w, b
    cases["conv1x1.out"] = F.conv2d(conv_in, w, b)
    return {k: v.contiguous() for k, v in cases.items()}


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def summarize(outputs: Dict[str, torch.Tensor], trace: Dict[str, torch.Tensor]) -> None:
    flow = outputs["last_flow"]
    identity = ops.identity_grid(HEIGHT, WIDTH).permute(0, 3, 1, 2)
    pixels = torch.tensor([(WIDTH - 1) / 2.0, (HEIGHT - 1) / 2.0]).view(1, 2, 1, 1)
    motion = ((flow - identity) * pixels).norm(dim=1)  # displacement in output pixels
    print("  flow displacement from identity (px at 256x192): "
          f"mean {motion.mean():.2f}, median {motion.median():.2f}, max {motion.max():.2f}")
    print(f"  last_flow range [{flow.min():.3f}, {flow.max():.3f}], "
          f"fraction outside [-1.2, 1.2]: {(flow.abs() > 1.2).float().mean():.4f}, outside [-1, 1]: {(flow.abs() > 1).float().mean():.4f}")
    for level in range(5):
        main, refine = trace[f"flow_main.{level}"], trace[f"flow_refine.{level}"]
        h, w = main.shape[2:]
        ident = ops.identity_grid(h, w).permute(0, 3, 1, 2)
        scale = torch.tensor([(w - 1) / 2.0, (h - 1) / 2.0]).view(1, 2, 1, 1)
        d_main = ((main - ident) * scale).norm(dim=1)
        d_ref = ((refine - ident) * scale).norm(dim=1)
        corr = trace[f"corr.{level}"]
        print(f"  level {level} ({h}x{w}): |corr| mean {corr.abs().mean():.3g}; "
              f"grid displacement (level px) main mean {d_main.mean():.2f} max {d_main.max():.2f}, "
              f"refine mean {d_ref.mean():.2f} max {d_ref.max():.2f}")
    edge, m = outputs["warped_edge"], outputs["m_composite"]
    inside = edge > 0.5
    print(f"  warped_edge: mean {edge.mean():.3f}, fraction > 0.5: {inside.float().mean():.3f}")
    print(f"  m_composite: range [{m.min():.3f}, {m.max():.3f}], mean over warped garment {m[inside].mean():.3f}, "
          f"5%/95% quantiles there {m[inside].quantile(0.05):.3f}/{m[inside].quantile(0.95):.3f}")
    p = outputs["p_rendered"]
    print(f"  p_rendered: range [{p.min():.3f}, {p.max():.3f}], std {p.std():.3f}; "
          f"p_tryon range [{outputs['p_tryon'].min():.3f}, {outputs['p_tryon'].max():.3f}]")


def float64_sensitivity(warp, gen, person, clothes, edge, outputs) -> None:
    """How far float32 rounding moves the outputs: a floor for parity tolerances."""
    warp64, gen64 = warp.double(), gen.double()
    with torch.no_grad():
        ref64 = tryon(warp64, gen64, person.double(), clothes.double(), edge.double())
    warp.float(), gen.float()
    parts = []
    for key in ("last_flow", "warped_cloth", "warped_edge", "p_tryon"):
        diff = (outputs[key].double() - ref64[key]).abs()
        parts.append(f"{key} max {diff.max():.2e} mean {diff.mean():.2e}")
    print("  float32 vs float64: " + "; ".join(parts))


def build(out_dir: str, cfg: Dict, write_ops: bool) -> None:
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)

    # Inputs: draw, save as PNG, and read back exactly as the engine would.
    person_png = os.path.join(out_dir, "person.png")
    garment_png = os.path.join(out_dir, "garment.png")
    mask_png = os.path.join(out_dir, "garment_mask.png")
    garment, mask = make_garment()
    Image.fromarray(make_person(), "RGB").save(person_png)
    Image.fromarray(garment, "RGB").save(garment_png)
    Image.fromarray(mask, "L").save(mask_png)
    person = rgb_to_tensor(Image.open(person_png))
    clothes = rgb_to_tensor(Image.open(garment_png))
    edge = mask_to_tensor(Image.open(mask_png))

    warp = AFWM(3, cfg["widths"], cfg["fpn_dim"], cfg["head_widths"]).eval()
    gen = ResUnetGenerator(7, 4, 5, ngf=cfg["ngf"]).eval()
    randomize_weights(warp, seed=1)
    randomize_weights(gen, seed=2)
    calibrate_pyramids(warp, person, clothes * edge)
    calibrate_warp(warp, person, clothes * edge)
    with torch.no_grad():
        warped_cloth, last_flow = warp(person, clothes * edge)
        warped_edge = ops.grid_sample(edge, last_flow.permute(0, 2, 3, 1), "zeros")
        calibrate_generator(gen, torch.cat([person, warped_cloth, warped_edge], dim=1))

        outputs = tryon(warp, gen, person, clothes, edge)
        warped_again, flow_again, trace = warp.forward_with_intermediates(person, clothes * edge)
    assert torch.equal(warped_again, outputs["warped_cloth"]) and torch.equal(flow_again, outputs["last_flow"])

    print(f"model: AFWM widths {cfg['widths']}, fpn_dim {cfg['fpn_dim']}, heads {cfg['head_widths']}; "
          f"generator ngf {cfg['ngf']}")
    print(f"  parameters: warp {sum(p.numel() for p in warp.parameters()):,}, "
          f"generator {sum(p.numel() for p in gen.parameters()):,}")

    # Models in all three formats; the legacy warp file carries the unused
    # `aflow_net.weight` (4,1,3,3) that the official checkpoint holds.
    extra = {"aflow_net.weight": torch.randn(4, 1, 3, 3, generator=torch.Generator().manual_seed(3))}
    for model, name, official, model_extra in ((warp, "warp", "warp_model_final.pth", extra), (gen, "gen", "gen_model_final.pth", {})):
        state = model.state_dict()
        save_model(state, out_dir, name, official, model_extra)
        verify_model_files(state, out_dir, name, official, model_extra)

    reference = {"person": person, "clothes": clothes, "edge": edge}
    reference.update(outputs)
    # The finest pyramid level (128x96) and the two finest correlations (49 channels) would
    # double the file; the finer flows, which depend on them, check them instead.
    for i in range(1, 5):
        reference[f"cond_pyramid.{i}"] = trace[f"cond_pyramid.{i}"]
        reference[f"image_pyramid.{i}"] = trace[f"image_pyramid.{i}"]
    for level in range(5):
        kinds = ("corr", "flow_main", "flow_refine") if level < 3 else ("flow_main", "flow_refine")
        for kind in kinds:
            reference[f"{kind}.{level}"] = trace[f"{kind}.{level}"]
    reference = {k: v.detach().to(torch.float32).contiguous() for k, v in reference.items()}
    save_file(reference, os.path.join(out_dir, "reference.safetensors"))

    if write_ops:
        save_file(make_ops_cases(seed=4), os.path.join(out_dir, "ops.safetensors"))

    summarize(outputs, trace)
    float64_sensitivity(warp, gen, person, clothes, edge, outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", metavar="DIR", help="write fixtures for the official widths into DIR instead")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder of the small fixtures (default {DEFAULT_OUT})")
    args = parser.parse_args()

    torch.set_default_dtype(torch.float32)
    try:
        torch.use_deterministic_algorithms(True)
    except Exception as err:  # pragma: no cover - only on exotic builds
        print(f"warning: deterministic algorithms unavailable: {err}")

    if args.full:
        build(args.full, FULL, write_ops=False)
    else:
        build(args.out, SMALL, write_ops=True)


if __name__ == "__main__":
    main()
