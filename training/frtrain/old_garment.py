"""An old garment longer than the new one, painted into the student's input.

The tutor's fake shows the person in G' exactly where the teacher warped G', and nothing of
the garment they really wear: the student never sees an old garment reaching where the new
one does not (long sleeves under a short-sleeved tee, ruffles over the upper arms, a hem
below the new one's), yet real photos are full of them, and the student left them on the
arms, tinted. Here, per sample, G' (its product photo, ``cloth_un``) is carried on down the
bare arms as sleeves of a random length and below the fake's hem over the trousers or skirt
as a band, shaded by the pixels it covers. The target stays the real photo, so the student
learns to repaint skin and trousers there; the painted pixels join the fake's garment mask,
so the skin term (``losses.skin_region``) weighs them as the arms the fake hid.

Per-sample parameters come from the dataset (``draw``: deterministic per item), the
painting runs in the student step on the batch (``paint``), after the tutor made the fake.
"""

import random
from typing import Tuple

import torch
import torch.nn.functional as F

# LIP labels of VITON's parse: the arms (hands included) and what is below an upper garment.
ARM_LABELS = (14, 15)
LOWER_LABELS = (9, 12)  # pants, skirt
# COCO-18 keypoints
ARMS = ((2, 3, 4), (5, 6, 7))  # (shoulder, elbow, wrist), right then left

PARAMS = 3  # sleeve length of the right arm, of the left arm (fractions of shoulder-to-wrist), hem band (of the height)


def draw(rng: random.Random, p: float) -> torch.Tensor:
    """The parameters of one sample: all zero (nothing painted) with probability ``1 - p``;
    otherwise sleeves with probability 0.75 (one length for both arms, each jittered a
    little: 0.25-0.95 of the arm, the hands never covered) and a hem band with probability
    0.5 (3-15% of the height), at least one of the two."""
    params = torch.zeros(PARAMS)
    if rng.random() >= p:
        return params
    sleeves = rng.random() < 0.75
    hem = rng.random() < 0.5 or not sleeves
    if sleeves:
        t = rng.uniform(0.25, 0.95)
        params[0] = min(0.95, max(0.2, t + rng.uniform(-0.05, 0.05)))
        params[1] = min(0.95, max(0.2, t + rng.uniform(-0.05, 0.05)))
    if hem:
        params[2] = rng.uniform(0.03, 0.15)
    return params


def _reflect(index: torch.Tensor, start: int, length: int) -> torch.Tensor:
    """Indices folded into [start, start + length) by mirroring, so that a texture patch
    tiles without seams."""
    q = torch.remainder(index, 2 * length)
    return start + torch.where(q < length, q, 2 * length - 1 - q)


def _texture(cloth: torch.Tensor, cloth_mask: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(N,3,H,W): the body of each product photo's garment (rows 30-75% and columns 25-75%
    of its mask's box: below the neckline, inside the sleeves) mirrored out to the frame."""
    out = []
    for image, mask in zip(cloth, cloth_mask):
        rows = torch.nonzero(mask[0].amax(1) > 0.5).flatten()
        cols = torch.nonzero(mask[0].amax(0) > 0.5).flatten()
        if len(rows) == 0:
            rows, cols = torch.arange(h, device=cloth.device), torch.arange(w, device=cloth.device)
        top, bottom = int(rows[0]), int(rows[-1]) + 1
        left, right = int(cols[0]), int(cols[-1]) + 1
        y0, x0 = top + round(0.30 * (bottom - top)), left + round(0.25 * (right - left))
        hh, ww = max(1, round(0.45 * (bottom - top))), max(1, round(0.5 * (right - left)))
        ys = _reflect(torch.arange(h, device=cloth.device), y0, hh)
        xs = _reflect(torch.arange(w, device=cloth.device), x0, ww)
        out.append(image[:, ys][:, :, xs])
    return torch.stack(out)


def _along_arm(pose: torch.Tensor, h: int, w: int, arm: Tuple[int, int, int]):
    """For each pixel, (distance to the arm's shoulder-elbow-wrist line, position along it
    as a fraction of its length), both (N,1,H,W), and whether the arm was found (N,)."""
    dtype = torch.float32
    ys = torch.arange(h, device=pose.device, dtype=dtype).view(1, h, 1)
    xs = torch.arange(w, device=pose.device, dtype=dtype).view(1, 1, w)
    s, e, r = (pose[:, k, :2].to(dtype) for k in arm)
    found = (pose[:, list(arm), 2] > 0).all(1)
    l1 = (e - s).norm(dim=1).clamp(min=1e-3)
    l2 = (r - e).norm(dim=1).clamp(min=1e-3)
    total = l1 + l2
    best_d = torch.full((pose.shape[0], h, w), float("inf"), device=pose.device)
    best_t = torch.zeros_like(best_d)
    for a, b, length, offset in ((s, e, l1, torch.zeros_like(l1)), (e, r, l2, l1)):
        ax, ay = a[:, 0].view(-1, 1, 1), a[:, 1].view(-1, 1, 1)
        dx, dy = (b - a)[:, 0].view(-1, 1, 1), (b - a)[:, 1].view(-1, 1, 1)
        u = (((xs - ax) * dx + (ys - ay) * dy) / (length.view(-1, 1, 1) ** 2)).clamp(0.0, 1.0)
        d = torch.hypot(xs - (ax + u * dx), ys - (ay + u * dy))
        t = (offset.view(-1, 1, 1) + u * length.view(-1, 1, 1)) / total.view(-1, 1, 1)
        closer = d < best_d
        best_d = torch.where(closer, d, best_d)
        best_t = torch.where(closer, t, best_t)
    return best_d.unsqueeze(1), best_t.unsqueeze(1), found


def region(params: torch.Tensor, parse: torch.Tensor, pose: torch.Tensor, fake_edge: torch.Tensor) -> torch.Tensor:
    """(N,1,H,W) in {0, 1}: where the old garment goes. Sleeves: arm pixels of the parse
    nearer to that arm's line than to the other's, up to the sample's fraction of the
    shoulder-to-wrist length (no arm without its three keypoints). Hem: in each column
    where the fake's garment is, trouser and skirt pixels from its lowest row down by the
    sample's fraction of the height."""
    n, _, h, w = fake_edge.shape
    arms = torch.zeros(n, 1, h, w, dtype=torch.bool, device=fake_edge.device)
    for label in ARM_LABELS:
        arms |= (parse == label).unsqueeze(1)
    (d_r, t_r, found_r), (d_l, t_l, found_l) = (_along_arm(pose, h, w, arm) for arm in ARMS)
    right = d_r <= d_l
    t = torch.where(right, t_r, t_l)
    limit = torch.where(right, params[:, 0].view(-1, 1, 1, 1), params[:, 1].view(-1, 1, 1, 1))
    found = torch.where(right, found_r.view(-1, 1, 1, 1), found_l.view(-1, 1, 1, 1))
    sleeves = arms & found & (t < limit)

    lower = torch.zeros_like(arms)
    for label in LOWER_LABELS:
        lower |= (parse == label).unsqueeze(1)
    rows = torch.arange(h, device=fake_edge.device).view(1, 1, h, 1)
    covered = fake_edge > 0.5
    bottom = torch.where(covered, rows, torch.full_like(rows, -1)).amax(dim=2, keepdim=True)  # (N,1,1,W)
    band = (params[:, 2] * h).round().view(-1, 1, 1, 1)
    hem = lower & (bottom >= 0) & (rows > bottom) & (rows <= bottom + band)
    return (sleeves | hem).to(fake_edge.dtype)


def paint(fake: torch.Tensor, fake_edge: torch.Tensor, batch) -> Tuple[torch.Tensor, torch.Tensor]:
    """The fake with the old garment painted in (``batch["old_garment"]``, (N, 3)), and its
    garment mask grown by it."""
    params = batch["old_garment"].to(fake.device)
    if not bool((params > 0).any()):
        return fake, fake_edge
    where = region(params, batch["parse"], batch["pose"], fake_edge)
    return paint_region(fake, where, batch), torch.maximum(fake_edge, where)


def paint_region(fake: torch.Tensor, where: torch.Tensor, batch) -> torch.Tensor:
    """The fake with the other garment's texture (``cloth_un``) painted where ``where`` is 1,
    shaded by the covered pixels' brightness against its local mean (0.6-1.3), so that folds
    and shadows of the arm carry over."""
    h, w = fake.shape[-2:]
    texture = _texture(batch["cloth_un"].to(fake.dtype), batch["cloth_mask_un"], h, w)
    # Against the local mean (15x15), so that dark trousers or bright skin do not darken or
    # lighten the whole band.
    luma = (fake.float() + 1.0).mean(1, keepdim=True)  # 0..2
    local = F.avg_pool2d(luma * where, 15, 1, 7) / F.avg_pool2d(where, 15, 1, 7).clamp(min=1e-3)
    shade = (luma / local.clamp(min=1e-3)).clamp(0.6, 1.3)
    painted = ((texture.float() + 1.0) * shade - 1.0).clamp(-1.0, 1.0).to(fake.dtype)
    return torch.where(where > 0, painted, fake)
