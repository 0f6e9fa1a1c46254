"""The official PF-AFN test path: warp the garment, then generate and composite."""

from typing import Dict

import torch

from . import ops


def tryon(warp_model, gen_model, person: torch.Tensor, clothes: torch.Tensor, edge: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Dress ``person`` in ``clothes``.

    Inputs (N,C,256,192): ``person`` and ``clothes`` normalised to [-1, 1]
    (see ``images.py``), ``edge`` the binary garment mask in {0, 1}. ``clothes``
    is NOT yet masked; this function multiplies it by ``edge`` as the official
    test script does. Returns a dict with ``warped_cloth``, ``last_flow``,
    ``warped_edge``, ``p_rendered``, ``m_composite`` and ``p_tryon``.
    """
    clothes = clothes * edge
    warped_cloth, last_flow = warp_model(person, clothes)
    warped_edge = ops.grid_sample(edge, last_flow.permute(0, 2, 3, 1), "zeros")
    out = gen_model(torch.cat([person, warped_cloth, warped_edge], dim=1))
    p_rendered = torch.tanh(out[:, 0:3])
    m_composite = torch.sigmoid(out[:, 3:4]) * warped_edge
    p_tryon = warped_cloth * m_composite + p_rendered * (1 - m_composite)
    return {
        "warped_cloth": warped_cloth,
        "last_flow": last_flow,
        "warped_edge": warped_edge,
        "p_rendered": p_rendered,
        "m_composite": m_composite,
        "p_tryon": p_tryon,
    }
