"""The tutor: the trained teacher dresses persons in other garments ("fakes").

The student learns from these fakes (person in garment G') to reproduce the real photo
(person in G). Fakes can be made on the fly in each student step (``make_fakes``), or
once, into a cache (``training/make_fakes.py`` writes it, ``FakeCache`` reads it).

Cache folder::

    fakes.npy    uint8 (M, H, W, 4): RGB of the fake, and the mask of the teacher's warped
                 garment G' (255 = covered); read memory-mapped
    index.json   {"size": [H, W], "persons": [M person names], "garments": [M names of G'],
                  "teacher": {...}, "data": ...}

A person may have several rows (several other garments); the dataset picks one at random.
"""

import json
import os
import random
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from .losses import composite
from .person import teacher_cond, teacher_gen_input
from .warp import warp_forward

FAKES_ARRAY = "fakes.npy"
FAKES_INDEX = "index.json"


@torch.no_grad()
def make_fakes(teacher_warp, teacher_gen, batch: Dict[str, torch.Tensor], person: str = "person") -> Tuple[torch.Tensor, torch.Tensor]:
    """Dress the batch's persons in ``cloth_un``: (fake (N,3,H,W), warped edge (N,1,H,W)).
    ``person`` names the photo of the batch to dress (``person_orig``: as it was before it
    went on the app's background).

    As in the official tutor step: the teacher warps G' from the person representation,
    its generator gets the kept photo, the warped G', its mask, and the arm region not
    covered by the warped G'; the composite uses the warped G' wherever its mask says so.
    """
    cond = teacher_cond(batch["parse"], batch["pose"])
    edge = batch["cloth_mask_un"]
    clothes = batch["cloth_un"] * edge
    out = warp_forward(teacher_warp, cond, clothes, edge)
    warped, warped_edge = out.warped, out.warped_edge
    gen_in = teacher_gen_input(batch[person], batch["parse"], batch["pose"], warped, warped_edge, covered=warped_edge)
    _, _, fake = composite(teacher_gen(gen_in), warped, warped_edge)
    return fake.float().clamp(-1.0, 1.0), warped_edge.float()


def to_uint8(fake: torch.Tensor, edge: torch.Tensor) -> np.ndarray:
    """(N,3,H,W) in [-1,1] and (N,1,H,W) in [0,1] -> (N,H,W,4) uint8."""
    rgb = ((fake + 1.0) * 127.5).round().clamp(0, 255)
    mask = (edge * 255.0).round().clamp(0, 255)
    return torch.cat([rgb, mask], dim=1).permute(0, 2, 3, 1).to(torch.uint8).cpu().numpy()


class FakeCache:
    """Reads a fakes folder written by ``make_fakes.py`` (memory-mapped, worker safe)."""

    def __init__(self, folder: str):
        self.folder = folder
        with open(os.path.join(folder, FAKES_INDEX)) as f:
            self.index = json.load(f)
        self.size = tuple(self.index["size"])
        self.rows: Dict[str, List[int]] = {}
        for row, person in enumerate(self.index["persons"]):
            self.rows.setdefault(person, []).append(row)
        self._array = None
        self._pid = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_array"] = None
        state["_pid"] = None
        return state

    def _data(self) -> np.ndarray:
        if self._array is None or self._pid != os.getpid():
            self._array = np.load(os.path.join(self.folder, FAKES_ARRAY), mmap_mode="r")
            self._pid = os.getpid()
        return self._array

    def check_persons(self, persons: Sequence[str]) -> None:
        missing = [p for p in persons if p not in self.rows]
        if missing:
            raise ValueError(
                f"{self.folder}: no fakes for {len(missing)} of {len(persons)} persons (e.g. {missing[0]}); "
                "make the cache from the same data (and --limit)"
            )

    def get(self, person: str, rng: random.Random) -> Tuple[torch.Tensor, torch.Tensor]:
        """(fake (3,H,W) in [-1, 1], warped edge (1,H,W) in {0, 1}) for ``person``."""
        row = rng.choice(self.rows[person])
        array = torch.from_numpy(np.array(self._data()[row], dtype=np.float32))  # (H,W,4)
        fake = array[..., :3].permute(2, 0, 1) / 127.5 - 1.0
        edge = (array[..., 3:].permute(2, 0, 1) > 127.5).float()
        return fake.contiguous(), edge.contiguous()
