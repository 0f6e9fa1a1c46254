"""ResUnetGenerator, the try-on generator of PF-AFN.

A U-Net of nested blocks. Each block downsamples with a stride-2 conv, runs
two residual blocks, hands the result to the next (inner) block, then
upsamples (nearest x2), convolves and runs two more residual blocks; every
non-outermost block concatenates its input with its output (skip
connection). All convs have no bias (BatchNorm follows them).

Key names mirror the official module: the root block lives at ``model``, its
layer list at ``model.model``, and the inner block at index 4 (outermost) or
5 (middle), e.g. ``model.model.4.model.5.model.0.weight``.

Layer lists (indices matter for the key names):

* outermost: [conv/2, ReLU, Res, Res, inner, up x2, conv]
* middle:    [conv/2, BN, ReLU, Res, Res, inner, up x2, conv, BN, ReLU, Res, Res]
* innermost: [conv/2, ReLU, Res, Res, up x2, conv, BN, ReLU, Res, Res]
"""

from typing import List, Optional

import torch
import torch.nn as nn


class ResidualBlock(nn.Module):
    """relu(x + BN(conv(relu(BN(conv(x)))))), convs 3x3 without bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.block(x) + x)


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


class ResUnetSkipConnectionBlock(nn.Module):
    """One U-Net level. ``outer_nc`` channels come in and go out, ``inner_nc`` inside.

    ``kind`` is ``"outermost"``, ``"middle"`` or ``"innermost"``.
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        kind: str,
        input_nc: Optional[int] = None,
        submodule: Optional[nn.Module] = None,
    ):
        super().__init__()
        if kind not in ("outermost", "middle", "innermost"):
            raise ValueError(f"unknown block kind {kind!r}")
        if (submodule is None) != (kind == "innermost"):
            raise ValueError("exactly the innermost block has no submodule")
        self.outermost = kind == "outermost"
        input_nc = outer_nc if input_nc is None else input_nc

        def residual_pair(channels: int) -> List[nn.Module]:
            return [ResidualBlock(channels), ResidualBlock(channels)]

        up = nn.Upsample(scale_factor=2, mode="nearest")
        layers: List[nn.Module]
        if kind == "outermost":
            layers = [_conv3x3(input_nc, inner_nc, stride=2), nn.ReLU(), *residual_pair(inner_nc)]
            layers += [submodule, up, _conv3x3(inner_nc * 2, outer_nc)]
        elif kind == "innermost":
            layers = [_conv3x3(input_nc, inner_nc, stride=2), nn.ReLU(), *residual_pair(inner_nc)]
            layers += [up, _conv3x3(inner_nc, outer_nc), nn.BatchNorm2d(outer_nc), nn.ReLU(), *residual_pair(outer_nc)]
        else:
            layers = [_conv3x3(input_nc, inner_nc, stride=2), nn.BatchNorm2d(inner_nc), nn.ReLU(), *residual_pair(inner_nc)]
            layers += [submodule]
            layers += [up, _conv3x3(inner_nc * 2, outer_nc), nn.BatchNorm2d(outer_nc), nn.ReLU(), *residual_pair(outer_nc)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], dim=1)


class ResUnetGenerator(nn.Module):
    """U-Net generator: ``num_downs`` levels, widths ngf, 2ngf, 4ngf, 8ngf, 8ngf...

    The official model is ``ResUnetGenerator(7, 4, 5, ngf=64)``: input is
    person (3) + warped garment (3) + warped edge (1); output is 3 rendered
    channels (tanh later) and 1 composition mask logit (sigmoid later).
    """

    def __init__(self, input_nc: int = 7, output_nc: int = 4, num_downs: int = 5, ngf: int = 64):
        super().__init__()
        if num_downs < 5:
            raise ValueError("num_downs must be at least 5")
        block = ResUnetSkipConnectionBlock(ngf * 8, ngf * 8, "innermost")
        for _ in range(num_downs - 5):
            block = ResUnetSkipConnectionBlock(ngf * 8, ngf * 8, "middle", submodule=block)
        block = ResUnetSkipConnectionBlock(ngf * 4, ngf * 8, "middle", submodule=block)
        block = ResUnetSkipConnectionBlock(ngf * 2, ngf * 4, "middle", submodule=block)
        block = ResUnetSkipConnectionBlock(ngf, ngf * 2, "middle", submodule=block)
        self.model = ResUnetSkipConnectionBlock(output_nc, ngf, "outermost", input_nc=input_nc, submodule=block)
        self.ngf = ngf

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
