"""The parser-based teacher's person representation, built from the parse and the pose.

PB-AFN (the teacher) never sees the garment the person wears. Its warp module gets a
"clothing-agnostic" person representation, and its generator gets the parts of the photo
to keep. The official code builds both from a 14-class parse, an 18-point pose and a
DensePose IUV map. Here the parse is VITON's 20-class LIP parse, the pose is the same
OpenPose COCO-18, and **DensePose is not available**, so its two roles are replaced:

* the body shape (DensePose's 25 part channels in the warp input) becomes a *coarse
  body silhouette*, CP-VTON's "shape" channel: the union of all non-background parse
  labels, downsampled 16x (antialiased) and upsampled back bilinearly, so that it gives
  the body's extent without the outline of the garment worn;
* the arm parts (DensePose parts 15-22, used as "where to paint skin") become an *arm
  region*: capsules along shoulder-elbow-wrist from the pose (radius 4.5% of the image
  height), united with the parse's arm labels.

Warp input (``teacher_cond``), 23 channels, all in [0, 1]::

    0  head       hat, hair, sunglasses, face (labels 1, 2, 4, 13)
    1  lower      socks, pants, skirt, legs, shoes (8, 9, 12, 16, 17, 18, 19)
    2  hands      arm/glove pixels (3, 14, 15) around the hands (past the wrists)
    3  shape      coarse body silhouette (DensePose replacement, see above)
    4  arms       arm region from the pose (DensePose replacement, see above)
    5-22 pose     18 Gaussian keypoint heatmaps (sigma 1.5% of the height)

Generator input (``teacher_gen_input``), 8 channels, as the official PB-AFN:
the kept photo (person * (head | lower | hands), 3), the warped garment (3), its warped
mask (1), and the skin mask (1): the arm region minus the garment region (the real
garment while training, the warped new garment while tutoring).

The upper garment itself (labels 5, 6, 7), the scarf (11) and jumpsuits (10) appear in no
channel: the teacher must take the garment from its garment input.
"""

from typing import Sequence, Tuple

import torch
import torch.nn.functional as F

from .data import NUM_KEYPOINTS, UPPER_GARMENT_LABELS

HEAD_LABELS = (1, 2, 4, 13)
LOWER_LABELS = (8, 9, 12, 16, 17, 18, 19)
ARM_LABELS = (3, 14, 15)  # glove, left arm, right arm (LIP arms include the hands)

# COCO-18 indices
R_SHOULDER, R_ELBOW, R_WRIST, L_SHOULDER, L_ELBOW, L_WRIST = 2, 3, 4, 5, 6, 7
ARM_SEGMENTS = ((R_SHOULDER, R_ELBOW), (R_ELBOW, R_WRIST), (L_SHOULDER, L_ELBOW), (L_ELBOW, L_WRIST))
HANDS = ((R_ELBOW, R_WRIST), (L_ELBOW, L_WRIST))

TEACHER_COND_CHANNELS = 5 + NUM_KEYPOINTS  # 23
TEACHER_GEN_CHANNELS = 8

POSE_SIGMA = 0.015  # of the image height (3.8 px at 256)
ARM_RADIUS = 0.045  # of the image height (11.5 px at 256)
SHAPE_FACTOR = 16


def label_mask(parse: torch.Tensor, labels: Sequence[int]) -> torch.Tensor:
    """(N,H,W) int labels -> (N,1,H,W) float, 1 where the label is in ``labels``."""
    mask = torch.zeros_like(parse, dtype=torch.bool)
    for label in labels:
        mask |= parse == label
    return mask.unsqueeze(1).float()


def garment_mask(parse: torch.Tensor) -> torch.Tensor:
    """The upper-body garment region (labels 5, 6, 7) as (N,1,H,W)."""
    return label_mask(parse, UPPER_GARMENT_LABELS)


def _pixel_grid(size: Tuple[int, int], device, dtype=torch.float32):
    h, w = size
    ys = torch.arange(h, device=device, dtype=dtype).view(1, 1, h, 1)
    xs = torch.arange(w, device=device, dtype=dtype).view(1, 1, 1, w)
    return xs, ys


def pose_heatmaps(pose: torch.Tensor, size: Tuple[int, int], sigma: float = POSE_SIGMA) -> torch.Tensor:
    """(N,18,3) keypoints (pixels, confidence) -> (N,18,H,W) Gaussians, 0 for missing points."""
    h, _ = size
    xs, ys = _pixel_grid(size, pose.device)
    px = pose[:, :, 0].view(*pose.shape[:2], 1, 1)
    py = pose[:, :, 1].view(*pose.shape[:2], 1, 1)
    valid = (pose[:, :, 2] > 0).float().view(*pose.shape[:2], 1, 1)
    s = sigma * h
    return torch.exp(-((xs - px) ** 2 + (ys - py) ** 2) / (2 * s * s)) * valid


def segment_distance(pose: torch.Tensor, a: int, b: int, size: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Distance of every pixel to segment a-b (N,1,H,W), and whether both ends exist (N,1,1,1)."""
    xs, ys = _pixel_grid(size, pose.device)
    ax, ay = pose[:, a, 0].view(-1, 1, 1, 1), pose[:, a, 1].view(-1, 1, 1, 1)
    bx, by = pose[:, b, 0].view(-1, 1, 1, 1), pose[:, b, 1].view(-1, 1, 1, 1)
    dx, dy = bx - ax, by - ay
    length2 = (dx * dx + dy * dy).clamp_min(1e-6)
    t = (((xs - ax) * dx + (ys - ay) * dy) / length2).clamp(0.0, 1.0)
    dist = torch.sqrt((xs - (ax + t * dx)) ** 2 + (ys - (ay + t * dy)) ** 2)
    valid = ((pose[:, a, 2] > 0) & (pose[:, b, 2] > 0)).view(-1, 1, 1, 1)
    return dist, valid


def arm_region(parse: torch.Tensor, pose: torch.Tensor, radius: float = ARM_RADIUS) -> torch.Tensor:
    """Where the arms are, whatever covers them: pose capsules united with the parse's arms."""
    size = tuple(parse.shape[-2:])
    r = radius * size[0]
    region = label_mask(parse, ARM_LABELS)
    for a, b in ARM_SEGMENTS:
        dist, valid = segment_distance(pose, a, b, size)
        region = torch.maximum(region, ((dist <= r) & valid).float())
    return region


def hand_mask(parse: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """Arm pixels around the hands: the part of the arms no upper garment covers.

    A disc around the point 35% of a forearm past the wrist (radius 55% of the
    forearm), or a disc of 6% of the height around the wrist when the elbow is
    missing, intersected with the parse's arm and glove labels.
    """
    size = tuple(parse.shape[-2:])
    xs, ys = _pixel_grid(size, pose.device)
    near = torch.zeros(parse.shape[0], 1, *size, device=parse.device)
    for elbow, wrist in HANDS:
        wx, wy = pose[:, wrist, 0].view(-1, 1, 1, 1), pose[:, wrist, 1].view(-1, 1, 1, 1)
        ex, ey = pose[:, elbow, 0].view(-1, 1, 1, 1), pose[:, elbow, 1].view(-1, 1, 1, 1)
        has_wrist = (pose[:, wrist, 2] > 0).view(-1, 1, 1, 1)
        has_elbow = (pose[:, elbow, 2] > 0).view(-1, 1, 1, 1) & has_wrist
        forearm = torch.sqrt((wx - ex) ** 2 + (wy - ey) ** 2)
        cx = torch.where(has_elbow, wx + 0.35 * (wx - ex), wx)
        cy = torch.where(has_elbow, wy + 0.35 * (wy - ey), wy)
        radius = torch.where(has_elbow, (0.55 * forearm).clamp_min(0.03 * size[0]), torch.full_like(forearm, 0.06 * size[0]))
        disc = ((xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2) & has_wrist
        near = torch.maximum(near, disc.float())
    return near * label_mask(parse, ARM_LABELS)


def body_shape(parse: torch.Tensor, factor: int = SHAPE_FACTOR) -> torch.Tensor:
    """CP-VTON style coarse silhouette in [0, 1] (replaces DensePose; see the module doc)."""
    silhouette = (parse > 0).unsqueeze(1).float()
    h, w = parse.shape[-2:]
    small = F.interpolate(silhouette, size=(max(1, h // factor), max(1, w // factor)), mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).clamp(0.0, 1.0)


def preserve_mask(parse: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """The photo regions the try-on keeps: head, lower body, hands (N,1,H,W)."""
    keep = torch.maximum(label_mask(parse, HEAD_LABELS), label_mask(parse, LOWER_LABELS))
    return torch.maximum(keep, hand_mask(parse, pose))


def teacher_cond(parse: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """The teacher warp module's person input, (N, 23, H, W); see the module doc."""
    size = tuple(parse.shape[-2:])
    return torch.cat(
        [
            label_mask(parse, HEAD_LABELS),
            label_mask(parse, LOWER_LABELS),
            hand_mask(parse, pose),
            body_shape(parse),
            arm_region(parse, pose),
            pose_heatmaps(pose, size),
        ],
        dim=1,
    )


def teacher_gen_input(
    person: torch.Tensor,
    parse: torch.Tensor,
    pose: torch.Tensor,
    warped_cloth: torch.Tensor,
    warped_edge: torch.Tensor,
    covered: torch.Tensor,
) -> torch.Tensor:
    """The teacher generator's input, (N, 8, H, W).

    ``covered`` is the region the garment takes: the real garment (parse 5-7) when
    reconstructing, the warped new garment's mask when tutoring.
    """
    kept = person * preserve_mask(parse, pose)
    skin = arm_region(parse, pose) * (1.0 - covered)
    return torch.cat([kept, warped_cloth, warped_edge, skin], dim=1)
