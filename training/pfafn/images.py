"""Image <-> tensor conventions of the official test path.

* RGB 8-bit -> float / 255 -> (x - 0.5) / 0.5, i.e. [-1, 1], NCHW.
* Garment mask (grey, 8-bit) -> / 255 -> binarised ``> 0.5`` to {0, 1}.
"""

import numpy as np
import torch
from PIL import Image


def rgb_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image -> (1,3,H,W) float32 in [-1, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    x = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()
    return (x - 0.5) / 0.5


def mask_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image -> (1,1,H,W) float32 in {0, 1} (grey > 0.5)."""
    array = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    x = torch.from_numpy(array).unsqueeze(0).unsqueeze(0).contiguous()
    return (x > 0.5).to(torch.float32)


def tensor_to_rgb(x: torch.Tensor) -> Image.Image:
    """(1,3,H,W) in [-1, 1] -> PIL RGB image (rounded, clamped)."""
    array = ((x[0].detach().permute(1, 2, 0).cpu().numpy() + 1.0) / 2.0 * 255.0).round().clip(0, 255)
    return Image.fromarray(array.astype(np.uint8), "RGB")
