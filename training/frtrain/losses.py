"""Losses of the teacher and the student (weights as in the official PF-AFN training code).

The official code uses a VGG19 perceptual loss. No VGG19 (or any ImageNet) weights are
available to this project, so the perceptual term is **SSIM** (``perceptual_loss``:
1 - SSIM, averaged over 3 scales), written here from Wang et al. 2004. Why SSIM:

* it needs no pretrained weights and no download, and is cheap and differentiable;
* like a feature loss and unlike L1, it compares *local structure*: per 11x11 Gaussian
  window it multiplies a luminance term, a contrast term and the normalised
  cross-correlation of the two patches. Blur lowers contrast and correlation, so it is
  penalised even when L1 (which rewards the per-pixel median, i.e. blur) is content;
  garment texture, prints and edges count;
* it is insensitive to small uniform offsets of brightness, which L1 already covers, so
  the two terms complement each other as L1 + VGG do in the original;
* evaluated at three scales (full, 1/2, 1/4), it sees structure at several receptive
  fields, as VGG's layers do (in the spirit of MS-SSIM).

It does not know semantics (VGG features do), so it is a weaker prior on plausibility;
the L1, mask and distillation terms are unchanged from the official recipe.
"""

from dataclasses import dataclass
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .warp import WarpOutput, downsample_to

# ----------------------------------------------------------------------------- SSIM


def _gaussian_1d(window: int, sigma: float, device, dtype) -> torch.Tensor:
    x = torch.arange(window, device=device, dtype=dtype) - (window - 1) / 2.0
    g = torch.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    k = g.numel()
    x = F.pad(x, (k // 2, k // 2, k // 2, k // 2), mode="replicate")
    x = F.conv2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(x, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel SSIM (N,C,H,W) of two image batches (Wang et al. 2004).

    Gaussian window (11, sigma 1.5), C1 = (0.01 L)^2, C2 = (0.03 L)^2 with L the data
    range (2 for images in [-1, 1]). Borders are replicate-padded, so any size works.
    Computed in float32 even under autocast (variances in bfloat16 cancel to garbage).
    """
    with torch.autocast(x.device.type, enabled=False):
        return _ssim_map(x.float(), y.float(), data_range, window, sigma)


def _ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float, window: int, sigma: float) -> torch.Tensor:
    g = _gaussian_1d(window, sigma, x.device, x.dtype)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu_x, mu_y = _blur(x, g), _blur(y, g)
    sxx = _blur(x * x, g) - mu_x * mu_x
    syy = _blur(y * y, g) - mu_y * mu_y
    sxy = _blur(x * y, g) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    return num / den


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, per_sample: bool = False) -> torch.Tensor:
    """Mean SSIM (scalar, or (N,) with ``per_sample``); 1 for identical images."""
    m = ssim_map(x, y, data_range)
    return m.mean(dim=(1, 2, 3)) if per_sample else m.mean()


def perceptual_loss(x: torch.Tensor, y: torch.Tensor, scales: int = 3) -> torch.Tensor:
    """1 - SSIM averaged over ``scales`` scales (halving each time while >= 8 px)."""
    total, count = 0.0, 0
    for s in range(scales):
        if s > 0:
            if min(x.shape[-2:]) < 16:
                break
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        total = total + (1.0 - ssim(x, y))
        count += 1
    return total / count


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Per-sample PSNR in dB (N,)."""
    mse = ((x.float() - y.float()) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-12)
    return 10.0 * torch.log10(data_range**2 / mse)


# ----------------------------------------------------------------------------- flows

_SECOND_ORDER = torch.tensor(
    [
        [[0, 0, 0], [1, -2, 1], [0, 0, 0]],
        [[0, 1, 0], [0, -2, 0], [0, 1, 0]],
        [[1, 0, 0], [0, -2, 0], [0, 0, 1]],
        [[0, 0, 1], [0, -2, 0], [1, 0, 0]],
    ],
    dtype=torch.float32,
).unsqueeze(1)  # (4,1,3,3): horizontal, vertical and both diagonal second differences


_KERNELS: Dict[str, torch.Tensor] = {}


def _second_order_kernel(device: torch.device) -> torch.Tensor:
    """The kernel on ``device``, copied there once (a host-to-device copy every step would
    stall the GPU queue)."""
    key = str(device)
    if key not in _KERNELS:
        _KERNELS[key] = _SECOND_ORDER.to(device)
    return _KERNELS[key]


def second_order_smoothness(flow: torch.Tensor, epsilon: float = 1e-3, power: float = 0.45) -> torch.Tensor:
    """Charbonnier penalty ((d^2 + eps^2)^0.45) on 4 second differences of each flow component."""
    n, c, h, w = flow.shape
    with torch.autocast(flow.device.type, enabled=False):  # second differences need float32
        flow = flow.float()
        weight = _second_order_kernel(flow.device)
        d = F.conv2d(flow.reshape(n * c, 1, h, w), weight)
        return ((d * d + epsilon * epsilon) ** power).mean() * c


def total_variation(x: torch.Tensor) -> torch.Tensor:
    return (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().mean() + (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean()


# ----------------------------------------------------------------------------- weights


@dataclass
class LossWeights:
    """Weights of the official recipe (VGG replaced by SSIM, see the module doc)."""

    warp_l1: float = 1.0  # per level, times (level + 1)
    warp_perceptual: float = 0.2
    warp_edge: float = 2.0
    warp_smooth2: float = 6.0
    warp_tv: float = 0.01
    gen_l1: float = 5.0
    gen_perceptual: float = 1.0
    gen_rendered_l1: float = 5.0
    gen_rendered_perceptual: float = 1.0
    gen_mask: float = 1.0
    skin_l1: float = 30.0  # student only (the official code doubles both late in training)
    skin_perceptual: float = 2.0
    kd_feature: float = 1.0  # multiplies the official per-level weights 0.04 * (5 - level)
    kd_flow: float = 1.0  # multiplies the official per-level weights (level + 1), levels >= 2
    teacher_warp: float = 0.5  # teacher: total = 0.5 warp + gen
    student_warp: float = 0.25  # student: total = 0.25 warp + gen
    consistency: float = 0.0  # student on the app's inputs: its try-on as on the photo as it was


# ----------------------------------------------------------------------------- warp


def warp_loss(out: WarpOutput, person_clothes: torch.Tensor, garment_region: torch.Tensor, w: LossWeights, parts: Dict[str, torch.Tensor]) -> torch.Tensor:
    """Multi-scale warp loss: L1 and SSIM of the warped garment against the person's garment
    (photo * parse 5-7), L1 of the warped mask against the garment region, second-order
    flow smoothness, each weighted (level + 1); plus TV on the flow-head offsets."""
    total = 0.0
    for level, (flow, warped, edge) in enumerate(zip(out.level_flows, out.level_warped, out.level_edges)):
        size = flow.shape[-2:]
        target = downsample_to(person_clothes, size)
        target_edge = downsample_to(garment_region, size)
        l1 = (warped - target).abs().mean()
        perc = perceptual_loss(warped, target)
        edge_l1 = (edge - target_edge).abs().mean()
        smooth = second_order_smoothness(flow)
        total = total + (level + 1) * (w.warp_l1 * l1 + w.warp_perceptual * perc + w.warp_edge * edge_l1 + w.warp_smooth2 * smooth)
        if level == len(out.level_flows) - 1:
            parts["warp_l1"] = l1.detach()
            parts["warp_ssim"] = 1.0 - perc.detach()
            parts["warp_edge"] = edge_l1.detach()
            parts["smooth2"] = smooth.detach()
    tv = sum(total_variation(o) for o in out.offsets)
    return total + w.warp_tv * tv


# ----------------------------------------------------------------------------- distillation


class FeatureAdapters(nn.Module):
    """1x1 convs mapping student pyramid features to the teacher's width, one per level.

    Only used when the student's ``fpn_dim`` differs from the teacher's (a reduced-width
    student); training-only, never exported.
    """

    def __init__(self, student_dim: int, teacher_dim: int, levels: int = 5):
        super().__init__()
        self.maps = nn.ModuleList(nn.Conv2d(student_dim, teacher_dim, kernel_size=1) for _ in range(levels))

    def forward(self, level: int, x: torch.Tensor) -> torch.Tensor:
        return self.maps[level](x)


def kd_weights(teacher: WarpOutput, student: WarpOutput, person_clothes: torch.Tensor) -> torch.Tensor:
    """Per-sample 1 where the teacher's warp is closer to the real garment than the student's."""
    err_t = (teacher.warped.detach().float() - person_clothes.float()).abs().mean(dim=(1, 2, 3))
    err_s = (student.warped.detach().float() - person_clothes.float()).abs().mean(dim=(1, 2, 3))
    return (err_t < err_s).float()


def distillation_loss(
    student: WarpOutput,
    teacher: WarpOutput,
    weight: torch.Tensor,
    w: LossWeights,
    parts: Dict[str, torch.Tensor],
    adapters: Optional[FeatureAdapters] = None,
) -> torch.Tensor:
    """Adjustable knowledge distillation (PF-AFN): feature distillation on the person
    pyramid (squared error, levels weighted 0.04 * (5 - level), coarse first) and flow
    distillation (L2 distance of the flows, levels >= 2 weighted level + 1), both only
    on the samples where ``weight`` is 1 and normalised by their number."""
    count = weight.sum().clamp_min(1.0)
    levels = len(student.cond_features)
    feat_total = 0.0
    for level in range(levels):
        s = student.cond_features[level]
        if adapters is not None:
            s = adapters(level, s)
        t = teacher.cond_features[level].detach()
        per_sample = ((s.float() - t.float()) ** 2).mean(dim=(1, 2, 3))
        feat_total = feat_total + (levels - level) * 0.04 * (per_sample * weight).sum() / count
    flow_total = 0.0
    for level in range(2, levels):
        diff = teacher.level_flows[level].detach().float() - student.level_flows[level].float()
        per_sample = torch.sqrt((diff * diff).sum(dim=1) + 1e-12).mean(dim=(1, 2))
        flow_total = flow_total + (level + 1) * (per_sample * weight).sum() / count
    zero = torch.zeros((), device=weight.device)
    parts["kd_feature"] = feat_total.detach() if torch.is_tensor(feat_total) else zero
    parts["kd_flow"] = flow_total.detach() if torch.is_tensor(flow_total) else zero
    parts["kd_fraction"] = weight.mean()
    return w.kd_feature * feat_total + w.kd_flow * flow_total


# ----------------------------------------------------------------------------- generator


def composite(gen_out: torch.Tensor, warped: torch.Tensor, warped_edge: torch.Tensor, garment_region: Optional[torch.Tensor] = None):
    """Official composition: p = tanh(out[:3]), m = sigmoid(out[3]) * warped_edge (times the
    real garment region while training), result = warped * m + p * (1 - m)."""
    rendered = torch.tanh(gen_out[:, 0:3])
    mask = torch.sigmoid(gen_out[:, 3:4]) * warped_edge
    if garment_region is not None:
        mask = mask * garment_region
    return rendered, mask, warped * mask + rendered * (1.0 - mask)


def skin_region(fake_edge: torch.Tensor, garment: torch.Tensor) -> torch.Tensor:
    """Where the fake's garment (``fake_edge``) covers what is not the real garment
    (``garment``): the arms, neck and waist the student must restore from the fake."""
    return fake_edge * (1.0 - garment)


def generator_loss(
    tryon: torch.Tensor,
    rendered: torch.Tensor,
    mask: torch.Tensor,
    real: torch.Tensor,
    w: LossWeights,
    parts: Dict[str, torch.Tensor],
    skin: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    l1 = (tryon - real).abs().mean()
    perc = perceptual_loss(tryon, real)
    loss = w.gen_l1 * l1 + w.gen_perceptual * perc
    loss = loss + w.gen_rendered_l1 * (rendered - real).abs().mean() + w.gen_rendered_perceptual * perceptual_loss(rendered, real)
    loss = loss + w.gen_mask * (1.0 - mask).abs().mean()
    if skin is not None:
        loss = loss + w.skin_l1 * (rendered * skin - real * skin).abs().mean()
        loss = loss + w.skin_perceptual * perceptual_loss(rendered * skin, real * skin)
    parts["gen_l1"] = l1.detach()
    parts["gen_ssim"] = 1.0 - perc.detach()
    return loss
