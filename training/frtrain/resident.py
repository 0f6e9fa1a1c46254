"""The training set decoded once and held on the device (``train.py --resident``).

For a GPU, where loader processes decoding JPEGs would starve it: every pair is decoded
once at the training size into uint8 tensors on the device (256x192: 0.4 MB a pair, so
2000 pairs take 0.8 GB), and each batch is gathered and augmented there. Same sample
stream (``InfiniteSampler`` keys) and the same augmentations as ``VitonDataset``: a
horizontal flip of the person-space tensors and the own garment together (parse labels
and keypoints swapped left/right), an independent flip of the other garment, and one
colour jitter per sample over all its RGB images. The random draws come from a generator
seeded by the key, not from ``VitonDataset``'s ``random.Random``, so the two differ in
which samples flip, not in what a flip or a jitter does.
"""

from typing import Dict, Iterator, List

import torch

from .data import FLIP_KEYPOINTS, FLIP_LABELS, NUM_LABELS, VitonDataset, collate


def _u8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats decoded from 8-bit images -> the same 8-bit values."""
    return ((x + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


class ResidentData:
    """``dataset``'s pairs (no fakes), decoded once into tensors on ``device``."""

    def __init__(self, dataset: VitonDataset, device: torch.device, workers: int = 0, other_garment: bool = False):
        if dataset.fakes is not None:
            raise ValueError("--resident holds no fake cache: the student makes its fakes on the fly")
        self.n = len(dataset)
        self.size = dataset.size
        self.augment = dataset.augment
        self.jitter = dataset.jitter
        self.other_garment = other_garment
        self.seed = dataset.seed
        self.device = device
        h, w = self.size
        self.person = torch.empty((self.n, 3, h, w), dtype=torch.uint8, device=device)
        self.cloth = torch.empty_like(self.person)
        self.cloth_mask = torch.empty((self.n, 1, h, w), dtype=torch.uint8, device=device)
        self.parse = torch.empty((self.n, h, w), dtype=torch.uint8, device=device)
        self.pose = torch.empty((self.n, 18, 3), dtype=torch.float32, device=device)
        loader = torch.utils.data.DataLoader(
            _Plain(dataset), batch_size=64, num_workers=workers, collate_fn=collate, shuffle=False
        )
        start = 0
        for batch in loader:
            end = start + batch["person"].shape[0]
            self.person[start:end] = _u8(batch["person"]).to(device)
            self.cloth[start:end] = _u8(batch["cloth"]).to(device)
            self.cloth_mask[start:end] = (batch["cloth_mask"] > 0.5).to(torch.uint8).to(device)
            self.parse[start:end] = batch["parse"].to(torch.uint8).to(device)
            self.pose[start:end] = batch["pose"].to(device)
            start = end
        lut = torch.arange(NUM_LABELS)
        for a, b in FLIP_LABELS.items():
            lut[a] = b
        self.flip_labels = lut.to(device)
        self.flip_keypoints = torch.tensor(FLIP_KEYPOINTS, device=device)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.person, self.cloth, self.cloth_mask, self.parse, self.pose))

    def batches(self, sampler, batch_size: int) -> Iterator[Dict[str, torch.Tensor]]:
        keys: List[int] = []
        for key in sampler:
            keys.append(key)
            if len(keys) == batch_size:
                yield self.batch(keys)
                keys = []

    def batch(self, keys: List[int]) -> Dict[str, torch.Tensor]:
        b = len(keys)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + keys[0])
        index = torch.tensor([k % self.n for k in keys])
        dev = index.to(self.device)
        out = {
            "person": self.person[dev].float() / 127.5 - 1.0,
            "cloth": self.cloth[dev].float() / 127.5 - 1.0,
            "cloth_mask": self.cloth_mask[dev].float(),
            "parse": self.parse[dev].long(),
            "pose": self.pose[dev].clone(),
            "index": dev,
        }
        if self.other_garment:
            j = torch.randint(0, max(1, self.n - 1), (b,), generator=g)
            j = torch.where(j >= index, j + 1, j) if self.n > 1 else index  # never the own garment
            jd = j.to(self.device)
            out["cloth_un"] = self.cloth[jd].float() / 127.5 - 1.0
            out["cloth_mask_un"] = self.cloth_mask[jd].float()
            out["index_un"] = jd
        if self.augment:
            flip = (torch.rand(b, generator=g) < 0.5).to(self.device)
            self._flip(out, flip)
            if self.other_garment:
                flip_un = (torch.rand(b, generator=g) < 0.5).to(self.device).view(b, 1, 1, 1)
                for key in ("cloth_un", "cloth_mask_un"):
                    out[key] = torch.where(flip_un, out[key].flip(-1), out[key])
            j = self.jitter
            amounts = torch.tensor([j.brightness, j.contrast, j.saturation])
            factors = (1.0 + (torch.rand(b, 3, generator=g) * 2.0 - 1.0) * amounts).to(self.device)
            for key in ("person", "cloth", "cloth_un"):
                if key in out:
                    out[key] = _jitter(out[key], factors)
        return out

    def _flip(self, out: Dict[str, torch.Tensor], flip: torch.Tensor) -> None:
        """``data.flip_sample`` on the samples where ``flip`` is set."""
        f4 = flip.view(-1, 1, 1, 1)
        for key in ("person", "cloth", "cloth_mask"):
            out[key] = torch.where(f4, out[key].flip(-1), out[key])
        out["parse"] = torch.where(flip.view(-1, 1, 1), self.flip_labels[out["parse"].flip(-1)], out["parse"])
        pose = out["pose"]
        width = out["parse"].shape[-1]
        valid = pose[..., 2:3] > 0
        mirrored = torch.cat([torch.where(valid, (width - 1) - pose[..., 0:1], pose[..., 0:1]), pose[..., 1:]], dim=-1)
        mirrored = mirrored[:, self.flip_keypoints]
        out["pose"] = torch.where(flip.view(-1, 1, 1), mirrored, pose)


def _jitter(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """``data.ColorJitter.apply`` with per-sample factors (B, 3): brightness, contrast, saturation."""
    b, c, s = (factors[:, i].view(-1, 1, 1, 1) for i in range(3))
    y = (x + 1.0) * 0.5 * b
    y = (y - 0.5) * c + 0.5
    lum = 0.299 * y[:, 0:1] + 0.587 * y[:, 1:2] + 0.114 * y[:, 2:3]
    y = lum + (y - lum) * s
    return y.clamp(0.0, 1.0) * 2.0 - 1.0


class _Plain(torch.utils.data.Dataset):
    """A dataset's pairs without augmentation or other garments (decoding only)."""

    def __init__(self, dataset: VitonDataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        return self.dataset.load_pair(*self.dataset.pairs[i])
