"""AFWM, the appearance-flow warping module of PF-AFN.

Module and attribute names mirror the official implementation so that the
state-dict keys are identical (``image_features.encoders.0.0.block.0.weight``,
``image_FPN.adaptive.0.weight``, ``aflow_net.netMain.0.0.weight``, ...), which
lets official checkpoints load unchanged. Widths are parameters so that small
students share the same key names and differ only in tensor shapes.

Data flow (person = "cond", garment = "image" in the official naming):

1. Two encoders turn the garment and the person into 5 feature maps each, at
   1/2 .. 1/32 of the input resolution.
2. Two feature pyramids (FPN) bring every level to ``fpn_dim`` channels,
   adding the nearest-upsampled coarser level on the way down.
3. The flow network walks the levels from coarse (8x6) to fine (128x96),
   estimating and refining an absolute sampling grid, and finally samples the
   garment image with it at full resolution.
"""

from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn

from . import ops

OFFICIAL_WIDTHS = (64, 128, 256, 256, 256)
OFFICIAL_FPN_DIM = 256
OFFICIAL_HEAD_WIDTHS = (128, 64, 32)
CORRELATION_CHANNELS = 49  # (2 * 3 + 1) ** 2 displacements


class DownSample(nn.Module):
    """Pre-activation stride-2 convolution: BN -> ReLU -> conv3x3/2 (no bias)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(),
            nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class ResBlock(nn.Module):
    """Pre-activation residual block: x + (BN-ReLU-conv3x3) twice, no conv bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x) + x


class FeatureEncoder(nn.Module):
    """Five stages of [DownSample, ResBlock, ResBlock]; returns every stage's output."""

    def __init__(self, in_channels: int, widths: Sequence[int]):
        super().__init__()
        stages = []
        previous = in_channels
        for width in widths:
            stages.append(nn.Sequential(DownSample(previous, width), ResBlock(width), ResBlock(width)))
            previous = width
        self.encoders = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        features = []
        for stage in self.encoders:
            x = stage(x)
            features.append(x)
        return features


class RefinePyramid(nn.Module):
    """Top-down feature pyramid.

    ``adaptive[i]`` (1x1 conv) and ``smooth[i]`` (3x3 conv), both with bias,
    are indexed from the COARSEST level (i = 0) to the finest. The result is
    returned finest first, like the encoder output.
    """

    def __init__(self, widths: Sequence[int], fpn_dim: int):
        super().__init__()
        self.adaptive = nn.ModuleList(nn.Conv2d(w, fpn_dim, kernel_size=1) for w in reversed(widths))
        self.smooth = nn.ModuleList(nn.Conv2d(fpn_dim, fpn_dim, kernel_size=3, padding=1) for _ in widths)

    def forward(self, features: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        coarse_to_fine = []
        previous = None
        for i, feature in enumerate(reversed(features)):
            level = self.adaptive[i](feature)
            if previous is not None:
                level = level + ops.upsample_nearest(previous)
            level = self.smooth[i](level)
            coarse_to_fine.append(level)
            previous = level
        return tuple(reversed(coarse_to_fine))


def flow_head(in_channels: int, head_widths: Sequence[int]) -> nn.Sequential:
    """Conv3x3 stack in -> h0 -> h1 -> h2 -> 2 with LeakyReLU(0.1) between.

    The convs sit at indices 0, 2, 4, 6 of the Sequential (official layout);
    the output is a per-pixel offset in pixels (x, y).
    """
    layers: List[nn.Module] = []
    previous = in_channels
    for width in head_widths:
        layers.append(nn.Conv2d(previous, width, kernel_size=3, padding=1))
        layers.append(nn.LeakyReLU(negative_slope=ops.LEAKY_SLOPE))
        previous = width
    layers.append(nn.Conv2d(previous, 2, kernel_size=3, padding=1))
    return nn.Sequential(*layers)


class AFlowNet(nn.Module):
    """Cascaded flow estimation over the pyramid levels, coarse to fine.

    ``netMain[l]`` and ``netRefine[l]`` serve level l counted from the
    coarsest one.
    """

    def __init__(self, num_levels: int, fpn_dim: int, head_widths: Sequence[int]):
        super().__init__()
        self.netMain = nn.ModuleList(flow_head(CORRELATION_CHANNELS, head_widths) for _ in range(num_levels))
        self.netRefine = nn.ModuleList(flow_head(2 * fpn_dim, head_widths) for _ in range(num_levels))

    def forward(
        self,
        garment: torch.Tensor,
        garment_pyramid: Sequence[torch.Tensor],
        person_pyramid: Sequence[torch.Tensor],
        trace: Dict[str, torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return ``(warped_garment, flow)``; flow is an absolute grid (N,2,H,W).

        If ``trace`` is a dict, it receives per level l (0 = coarsest)
        ``corr.{l}`` (before LeakyReLU), ``flow_main.{l}`` and
        ``flow_refine.{l}`` (composed grids before upsampling, (N,2,H,W)).
        """
        num_levels = len(garment_pyramid)
        last_flow = None  # (N,2,H,W) absolute grid from the previous level
        for level in range(num_levels):
            garment_features = garment_pyramid[num_levels - 1 - level]
            person_features = person_pyramid[num_levels - 1 - level]

            # Main branch: match the garment (pre-warped by the previous grid)
            # against the person, and predict an offset from the cost volume.
            if last_flow is None:
                warped_features = garment_features
            else:
                warped_features = ops.grid_sample(garment_features, last_flow.permute(0, 2, 3, 1), "border")
            corr = ops.correlation(warped_features, person_features)
            grid = ops.apply_offset(self.netMain[level](ops.leaky_relu(corr)))
            if last_flow is None:
                flow = grid.permute(0, 3, 1, 2)
            else:
                # Compose: look the previous grid up at the new grid.
                flow = ops.grid_sample(last_flow, grid, "border")
            flow_main = flow

            # Refine branch: warp the UNWARPED garment features with the
            # composed grid and predict a correction from both feature maps.
            warped_features = ops.grid_sample(garment_features, flow.permute(0, 2, 3, 1), "border")
            grid = ops.apply_offset(self.netRefine[level](torch.cat([warped_features, person_features], dim=1)))
            flow = ops.grid_sample(flow_main, grid, "border")

            if trace is not None:
                trace[f"corr.{level}"] = corr
                trace[f"flow_main.{level}"] = flow_main
                trace[f"flow_refine.{level}"] = flow
            last_flow = ops.upsample_flow(flow)

        warped_garment = ops.grid_sample(garment, last_flow.permute(0, 2, 3, 1), "border")
        return warped_garment, last_flow


class AFWM(nn.Module):
    """Appearance-flow warping module.

    ``forward(person, clothes)`` returns ``(warped_cloth, last_flow)`` where
    ``last_flow`` (N,2,H,W) is the absolute sampling grid (x, y) in [-1, 1]
    at the input resolution. ``forward_with_intermediates`` additionally
    returns the pyramids and the per-level flow-network tensors.
    """

    def __init__(
        self,
        input_nc: int = 3,
        widths: Sequence[int] = OFFICIAL_WIDTHS,
        fpn_dim: int = OFFICIAL_FPN_DIM,
        head_widths: Sequence[int] = OFFICIAL_HEAD_WIDTHS,
    ):
        super().__init__()
        widths = tuple(widths)
        if len(head_widths) != 3:
            raise ValueError("head_widths must hold three widths (official: 128, 64, 32)")
        self.widths = widths
        self.fpn_dim = fpn_dim
        self.head_widths = tuple(head_widths)
        # Registration order fixes the state-dict order; it matches the official module.
        self.image_features = FeatureEncoder(3, widths)  # garment
        self.cond_features = FeatureEncoder(input_nc, widths)  # person
        self.image_FPN = RefinePyramid(widths, fpn_dim)
        self.cond_FPN = RefinePyramid(widths, fpn_dim)
        self.aflow_net = AFlowNet(len(widths), fpn_dim, head_widths)

    def forward(self, person: torch.Tensor, clothes: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        warped_cloth, last_flow, _ = self._run(person, clothes, trace=None)
        return warped_cloth, last_flow

    def forward_with_intermediates(
        self, person: torch.Tensor, clothes: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, Dict[str, torch.Tensor]]:
        """Like ``forward``, plus a dict of intermediates:

        ``cond_pyramid.{i}`` / ``image_pyramid.{i}`` for i = 0 (finest) ..
        4 (coarsest), and ``corr.{l}``, ``flow_main.{l}``, ``flow_refine.{l}``
        for flow level l = 0 (coarsest) .. 4 (finest).
        """
        trace: Dict[str, torch.Tensor] = {}
        warped_cloth, last_flow, _ = self._run(person, clothes, trace=trace)
        return warped_cloth, last_flow, trace

    def _run(self, person, clothes, trace):
        cond_pyramid = self.cond_FPN(self.cond_features(person))
        image_pyramid = self.image_FPN(self.image_features(clothes))
        if trace is not None:
            for i, (cond, image) in enumerate(zip(cond_pyramid, image_pyramid)):
                trace[f"cond_pyramid.{i}"] = cond
                trace[f"image_pyramid.{i}"] = image
        warped_cloth, last_flow = self.aflow_net(clothes, image_pyramid, cond_pyramid, trace=trace)
        return warped_cloth, last_flow, trace
