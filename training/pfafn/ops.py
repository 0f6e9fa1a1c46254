"""The non-convolutional operations of PF-AFN, written out in plain PyTorch.

These pin down the exact semantics the Rust engine must reproduce:

* ``grid_sample``: bilinear sampling with ``align_corners=True`` (the only
  behaviour of torch 1.1, on which the official model was trained). A grid
  value g in [-1, 1] maps to the pixel coordinate ``(g + 1) / 2 * (size - 1)``.
* ``apply_offset``: turns per-pixel offsets (in pixels) into an absolute
  sampling grid in normalised coordinates.
* ``correlation``: PWC-Net style cost volume, max displacement 3, stride 1,
  averaged (not summed) over channels, zero outside the map.
* ``upsample_flow``: bilinear x2 with ``align_corners=False``.
* ``upsample_nearest``: nearest x2 (feature pyramids and generator).
"""

import torch
import torch.nn.functional as F

LEAKY_SLOPE = 0.1


def grid_sample(x: torch.Tensor, grid: torch.Tensor, padding_mode: str) -> torch.Tensor:
    """Bilinear sampling of ``x`` (N,C,H,W) at ``grid`` (N,Ho,Wo,2), x first.

    ``padding_mode`` is ``"border"`` (clamp the pixel coordinate to the image;
    used for features, flows and the garment) or ``"zeros"`` (taps outside the
    image read 0; used for the garment edge only).
    """
    if padding_mode not in ("border", "zeros"):
        raise ValueError(f"unsupported padding mode {padding_mode!r}")
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


def identity_grid(height: int, width: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The sampling grid (1,H,W,2) that reproduces its input under ``grid_sample``."""
    return apply_offset(torch.zeros(1, 2, height, width, dtype=dtype, device=device))


def apply_offset(offset: torch.Tensor) -> torch.Tensor:
    """Convert pixel offsets (N,2,H,W) into a normalised sampling grid (N,H,W,2).

    Channel 0 is the horizontal offset, channel 1 the vertical one. For the
    pixel at (row, col): ``gx = col + offset[0]``, ``gy = row + offset[1]``,
    then ``x = gx / ((W - 1) / 2) - 1`` and ``y = gy / ((H - 1) / 2) - 1``.
    The operation order matches the official code (add, divide, subtract).
    """
    _, _, height, width = offset.shape
    cols = torch.arange(width, dtype=offset.dtype, device=offset.device).view(1, 1, width)
    rows = torch.arange(height, dtype=offset.dtype, device=offset.device).view(1, height, 1)
    gx = cols + offset[:, 0]
    gy = rows + offset[:, 1]
    x = gx / ((width - 1.0) / 2.0) - 1.0
    y = gy / ((height - 1.0) / 2.0) - 1.0
    return torch.stack([x, y], dim=-1)


def correlation(first: torch.Tensor, second: torch.Tensor, max_disp: int = 3) -> torch.Tensor:
    """Local cost volume between two feature maps of equal shape (N,C,H,W).

    Returns (N, (2d+1)^2, H, W) with d = ``max_disp``. Output channel
    ``(dy + d) * (2d + 1) + (dx + d)`` (dx varies fastest) holds
    ``mean_c first[c, y, x] * second[c, y + dy, x + dx]``; reads of ``second``
    outside the map are 0.
    """
    if first.shape != second.shape:
        raise ValueError(f"correlation inputs differ in shape: {tuple(first.shape)} vs {tuple(second.shape)}")
    _, channels, height, width = first.shape
    d = max_disp
    padded = F.pad(second, (d, d, d, d))  # zeros: out-of-range reads are 0
    planes = []
    for dy in range(-d, d + 1):
        for dx in range(-d, d + 1):
            shifted = padded[:, :, d + dy : d + dy + height, d + dx : d + dx + width]
            planes.append((first * shifted).sum(dim=1) / channels)
    return torch.stack(planes, dim=1)


def upsample_flow(flow: torch.Tensor) -> torch.Tensor:
    """Bilinear x2 upsampling with ``align_corners=False``.

    Each output pixel reads the source at ``(dst + 0.5) / 2 - 0.5``, clamped
    to the image.
    """
    return F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=False)


def upsample_nearest(x: torch.Tensor) -> torch.Tensor:
    """Nearest x2 upsampling: output pixel (y, x) copies input (y // 2, x // 2)."""
    return F.interpolate(x, scale_factor=2, mode="nearest")


def leaky_relu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU with the slope 0.1 used throughout the flow network."""
    return F.leaky_relu(x, negative_slope=LEAKY_SLOPE)
