"""A training forward pass through ``pfafn.AFWM`` that exposes what the losses need.

``pfafn.AFWM.forward`` returns only the final warp. Training (as in the official
PF-AFN training code) also needs, per pyramid level (coarse to fine):

* the level's flow upsampled x2 (``level_flows``: the flow-distillation target and the
  input of the second-order smoothness loss),
* the garment and its mask, downsampled to that flow's resolution and warped with it
  (``level_warped``, ``level_edges``: the multi-scale warp losses),
* the raw offsets of both flow heads (``offsets``: the TV term),
* the person-pyramid features (``cond_features``: the feature-distillation target).

``warp_forward`` recomputes AFWM's flow cascade from the module's own layers and the
``pfafn.ops`` functions, so it has exactly the reference semantics (tested against
``AFWM.forward``). Like the official training code, the previous level's flow is
detached where it pre-warps the garment features for the correlation
(``detach_prewarp``); the forward values are unchanged by that.
"""

from dataclasses import dataclass
from typing import List

import torch
import torch.nn.functional as F

from pfafn import ops
from pfafn.afwm import AFWM


@dataclass
class WarpOutput:
    warped: torch.Tensor  # (N,3,H,W) garment sampled with the final flow (border padding)
    flow: torch.Tensor  # (N,2,H,W) final absolute sampling grid
    warped_edge: torch.Tensor  # (N,1,H,W) garment mask sampled with the final flow (zeros padding)
    level_flows: List[torch.Tensor]  # per level, coarse -> fine: upsampled flow (N,2,h,w)
    level_warped: List[torch.Tensor]  # per level: downsampled garment warped by level_flows
    level_edges: List[torch.Tensor]  # per level: downsampled mask warped by level_flows
    offsets: List[torch.Tensor]  # main and refine offsets of every level, in pixels
    cond_features: List[torch.Tensor]  # person pyramid, coarse -> fine (N,fpn_dim,h,w)


def downsample_to(x: torch.Tensor, size) -> torch.Tensor:
    """Area downsampling to ``size`` (an integer factor here, sizes being multiples of 32)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    factor = x.shape[-2] // size[0]
    return F.avg_pool2d(x, kernel_size=factor, stride=factor)


def warp_forward(model: AFWM, person: torch.Tensor, clothes: torch.Tensor, edge: torch.Tensor, detach_prewarp: bool = True) -> WarpOutput:
    """Run ``model`` on ``person`` and the (already masked) ``clothes``; see the module doc."""
    cond_pyramid = model.cond_FPN(model.cond_features(person))
    image_pyramid = model.image_FPN(model.image_features(clothes))
    net = model.aflow_net
    num_levels = len(image_pyramid)

    last_flow = None
    level_flows, level_warped, level_edges, offsets, cond_features = [], [], [], [], []
    for level in range(num_levels):
        garment_features = image_pyramid[num_levels - 1 - level]
        person_features = cond_pyramid[num_levels - 1 - level]
        cond_features.append(person_features)

        if last_flow is None:
            prewarped = garment_features
        else:
            guide = last_flow.detach() if detach_prewarp else last_flow
            prewarped = ops.grid_sample(garment_features, guide.permute(0, 2, 3, 1), "border")
        corr = ops.correlation(prewarped, person_features)
        # Offsets in float32 even under autocast: grid coordinates in bfloat16 would be
        # off by up to ~0.4 px at 192 px.
        offset = net.netMain[level](ops.leaky_relu(corr)).float()
        offsets.append(offset)
        grid = ops.apply_offset(offset)
        if last_flow is None:
            flow = grid.permute(0, 3, 1, 2)
        else:
            flow = ops.grid_sample(last_flow, grid, "border")

        warped_features = ops.grid_sample(garment_features, flow.permute(0, 2, 3, 1), "border")
        offset = net.netRefine[level](torch.cat([warped_features, person_features], dim=1)).float()
        offsets.append(offset)
        flow = ops.grid_sample(flow, ops.apply_offset(offset), "border")
        last_flow = ops.upsample_flow(flow)
        level_flows.append(last_flow)

        size = last_flow.shape[-2:]
        grid = last_flow.permute(0, 2, 3, 1)
        level_warped.append(ops.grid_sample(downsample_to(clothes, size), grid, "border"))
        level_edges.append(ops.grid_sample(downsample_to(edge, size), grid, "zeros"))

    grid = last_flow.permute(0, 2, 3, 1)
    warped = ops.grid_sample(clothes, grid, "border")
    warped_edge = ops.grid_sample(edge, grid, "zeros")
    return WarpOutput(warped, last_flow, warped_edge, level_flows, level_warped, level_edges, offsets, cond_features)
