"""VITON in the CP-VTON layout: sources (folder or packed archive), samples, augmentation.

Layout (the same inside a folder and inside a packed ``.zip`` archive)::

    train_pairs.txt            "<person>.jpg <garment>.jpg" per line (person with own garment)
    val_pairs.txt, val_unpaired.txt
    train/image/<person>.jpg           person photo, RGB
    train/cloth/<garment>.jpg          garment product photo, RGB
    train/cloth-mask/<garment>.jpg     garment mask, grey, threshold 128 (.png in archives)
    train/image-parse/<stem>.png       20-class LIP parse, palette PNG
    train/pose/<stem>_keypoints.json   OpenPose COCO-18, people[0].pose_keypoints = x,y,c * 18
    val/...                            the same for the validation persons

Images are 256 high x 192 wide. Tensors follow the official test path: RGB in [-1, 1],
masks in {0, 1}. The parse is an (H, W) int64 label map; the pose an (18, 3) float
array (x, y in pixels of the returned resolution, confidence; all zero when missing).
"""

import io
import json
import os
import random
import zipfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image

from . import old_garment

# ----------------------------------------------------------------------------- labels

LABEL_NAMES = (
    "background", "hat", "hair", "glove", "sunglasses", "upper-clothes", "dress", "coat", "socks",
    "pants", "jumpsuit", "scarf", "skirt", "face", "left-arm", "right-arm", "left-leg", "right-leg",
    "left-shoe", "right-shoe",
)
NUM_LABELS = len(LABEL_NAMES)
UPPER_GARMENT_LABELS = (5, 6, 7)  # the region the try-on garment replaces
# Left/right label pairs swapped by a horizontal flip.
FLIP_LABELS = {14: 15, 15: 14, 16: 17, 17: 16, 18: 19, 19: 18}

# OpenPose COCO-18 keypoints.
POSE_NAMES = (
    "nose", "neck", "r-shoulder", "r-elbow", "r-wrist", "l-shoulder", "l-elbow", "l-wrist", "r-hip",
    "r-knee", "r-ankle", "l-hip", "l-knee", "l-ankle", "r-eye", "l-eye", "r-ear", "l-ear",
)
NUM_KEYPOINTS = len(POSE_NAMES)
# Keypoint order after a horizontal flip (left and right swap).
FLIP_KEYPOINTS = (0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16)

SOURCE_SIZE = (256, 192)  # (height, width) of VITON images


def parse_size(text: str) -> Tuple[int, int]:
    """``"256x192"`` -> (256, 192) as (height, width); both must be multiples of 32."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError as e:
        raise ValueError(f"size must look like 256x192 (height x width), got {text!r}") from e
    check_size((h, w))
    return h, w


def check_size(size: Sequence[int]) -> None:
    h, w = size
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise ValueError(
            f"size {h}x{w}: height and width must be positive multiples of 32 "
            "(the warp module downsamples 5 times and adds pyramid levels)"
        )


# ----------------------------------------------------------------------------- sources


class VitonSource:
    """Read-only access to a VITON folder or a packed ``.zip`` archive of one.

    The archive is opened lazily and once per process, so a source can be handed to
    DataLoader workers.
    """

    def __init__(self, path: str):
        self.path = path
        self.is_archive = os.path.isfile(path)
        if self.is_archive and not zipfile.is_zipfile(path):
            raise ValueError(f"{path}: neither a VITON folder nor a zip archive")
        if not self.is_archive and not os.path.isdir(path):
            raise FileNotFoundError(f"{path}: no such VITON folder or archive")
        self._zip: Optional[zipfile.ZipFile] = None
        self._zip_pid = None
        self._names: Optional[set] = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_zip"] = None
        state["_zip_pid"] = None
        return state

    def _archive(self) -> zipfile.ZipFile:
        if self._zip is None or self._zip_pid != os.getpid():
            self._zip = zipfile.ZipFile(self.path, "r")
            self._zip_pid = os.getpid()
            self._names = set(self._zip.namelist())
        return self._zip

    def exists(self, rel: str) -> bool:
        if self.is_archive:
            self._archive()
            return rel in self._names
        return os.path.isfile(os.path.join(self.path, rel))

    def read(self, rel: str) -> bytes:
        if self.is_archive:
            try:
                return self._archive().read(rel)
            except KeyError:
                raise FileNotFoundError(f"{self.path}: archive has no {rel}") from None
        with open(os.path.join(self.path, rel), "rb") as f:
            return f.read()

    def pairs(self, split: str, unpaired: bool = False) -> List[Tuple[str, str]]:
        """The ``(person, garment)`` file names of ``<split>_pairs.txt`` (or ``_unpaired``)."""
        name = f"{split}_unpaired.txt" if unpaired else f"{split}_pairs.txt"
        pairs = []
        for line in self.read(name).decode("utf-8").splitlines():
            parts = line.split()
            if len(parts) >= 2:
                pairs.append((parts[0], parts[1]))
        if not pairs:
            raise ValueError(f"{self.path}: {name} lists no pairs")
        return pairs

    def describe(self) -> str:
        return os.path.basename(os.path.normpath(self.path))

    # ---- files of one person / garment

    def person_image(self, split: str, person: str) -> Image.Image:
        return _open_image(self.read(f"{split}/image/{person}"), "RGB")

    def garment_image(self, split: str, garment: str) -> Image.Image:
        return _open_image(self.read(f"{split}/cloth/{garment}"), "RGB")

    def garment_mask(self, split: str, garment: str) -> Image.Image:
        rel = f"{split}/cloth-mask/{garment}"
        if not self.exists(rel):  # packed archives hold the mask as a lossless PNG
            rel = f"{split}/cloth-mask/{_stem(garment)}.png"
        return _open_image(self.read(rel), "L")

    def parse(self, split: str, person: str) -> Image.Image:
        image = Image.open(io.BytesIO(self.read(f"{split}/image-parse/{_stem(person)}.png")))
        image.load()
        return image

    def pose(self, split: str, person: str) -> np.ndarray:
        """(18, 3) float32: x, y (source pixels), confidence; zeros when nobody was found."""
        data = json.loads(self.read(f"{split}/pose/{_stem(person)}_keypoints.json").decode("utf-8"))
        return keypoints_from_json(data)


def split_heldout(pairs: List[Tuple[str, str]], holdout: int) -> Tuple[List[Tuple[str, str]], List[Tuple[str, str]]]:
    """(training pairs, held-out pairs): the last ``holdout`` pairs of a list are held out.

    The held-out slice of ``train/`` is where checkpoints are chosen (val/ is only for the
    figures reported); every training run of a campaign leaves out the same slice.
    """
    if holdout < 0 or holdout >= len(pairs):
        raise ValueError(f"--holdout {holdout}: must be at least 0 and below the {len(pairs)} pairs")
    return pairs[: len(pairs) - holdout], pairs[len(pairs) - holdout :]


def heldout_unpaired(pairs: List[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """Fixed unpaired pairs within a held-out slice: person i with the garment of person i + 1."""
    return [(p, pairs[(i + 1) % len(pairs)][1]) for i, (p, _) in enumerate(pairs)]


def _stem(name: str) -> str:
    return os.path.splitext(name)[0]


def _open_image(data: bytes, mode: str) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    return image.convert(mode)


def keypoints_from_json(data: dict) -> np.ndarray:
    people = data.get("people") or []
    if not people:
        return np.zeros((NUM_KEYPOINTS, 3), np.float32)
    person = people[0]
    values = person.get("pose_keypoints")
    if values is None:
        values = person.get("pose_keypoints_2d", [])
    array = np.asarray(values, dtype=np.float32).reshape(-1, 3)
    out = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    n = min(NUM_KEYPOINTS, array.shape[0])
    out[:n] = array[:n]
    return out


# ----------------------------------------------------------------------------- decoding


def rgb_tensor(image: Image.Image, size: Tuple[int, int]) -> torch.Tensor:
    """PIL RGB -> (3, H, W) float32 in [-1, 1], resized (bilinear, antialiased) if needed."""
    h, w = size
    if image.size != (w, h):
        image = image.resize((w, h), Image.BILINEAR)
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous() * 2.0 - 1.0


def mask_tensor(image: Image.Image, size: Tuple[int, int]) -> torch.Tensor:
    """PIL grey -> (1, H, W) float32 in {0, 1}: grey > 0.5 at the source size, then (when
    resizing) the binary mask resized bilinearly and thresholded at 0.5 again, so that a
    1-bit copy of the mask (packed archives) gives the same tensor at every size."""
    h, w = size
    binary = (np.asarray(image.convert("L"), dtype=np.uint8) > 127).astype(np.uint8) * 255
    if image.size != (w, h):
        binary = np.asarray(Image.fromarray(binary).resize((w, h), Image.BILINEAR))
        binary = (binary > 127).astype(np.uint8) * 255
    return torch.from_numpy((binary > 127).astype(np.float32)).unsqueeze(0)


def label_tensor(image: Image.Image, size: Tuple[int, int]) -> torch.Tensor:
    """Palette (or grey) parse -> (H, W) int64 labels, nearest-neighbour resized."""
    h, w = size
    if image.mode not in ("P", "L"):
        raise ValueError(f"parse image must be a palette or grey PNG, got mode {image.mode}")
    if image.size != (w, h):
        image = image.resize((w, h), Image.NEAREST)
    array = np.asarray(image, dtype=np.int64)
    if array.max(initial=0) >= NUM_LABELS:
        raise ValueError(f"parse holds label {array.max()} (expected 0..{NUM_LABELS - 1})")
    return torch.from_numpy(array.copy())


def scale_keypoints(keypoints: np.ndarray, source: Tuple[int, int], size: Tuple[int, int]) -> torch.Tensor:
    """Source-pixel keypoints -> pixels of ``size``; missing points (x or y <= 1 or c == 0) -> 0."""
    k = torch.from_numpy(keypoints.astype(np.float32)).clone()
    valid = (k[:, 0] > 1) & (k[:, 1] > 1) & (k[:, 2] > 0)
    k[:, 0] *= size[1] / source[1]
    k[:, 1] *= size[0] / source[0]
    k[~valid] = 0.0
    return k


# ----------------------------------------------------------------------------- augmentation


def flip_sample(sample: Dict[str, torch.Tensor], keys_rgb: Sequence[str]) -> None:
    """Horizontal flip, in place, of the person-space and garment tensors of a sample.

    Images and masks are mirrored; parse labels swap left and right; keypoints are
    mirrored (x -> W - 1 - x) and renumbered left <-> right.
    """
    for key in keys_rgb:
        if key in sample:
            sample[key] = sample[key].flip(-1)
    if "parse" in sample:
        parse = sample["parse"].flip(-1)
        swapped = parse.clone()
        for a, b in FLIP_LABELS.items():
            swapped[parse == a] = b
        sample["parse"] = swapped
    if "pose" in sample:
        pose = sample["pose"]
        width = sample["parse"].shape[-1] if "parse" in sample else sample["person"].shape[-1]
        valid = pose[:, 2] > 0
        mirrored = pose.clone()
        mirrored[valid, 0] = (width - 1) - pose[valid, 0]
        sample["pose"] = mirrored[list(FLIP_KEYPOINTS)]


@dataclass
class ColorJitter:
    """One per-pixel colour transform applied identically to every RGB image of a sample.

    Brightness and contrast (around mid-grey) and saturation (around the pixel's
    luminance) are per-pixel functions, so the garment in the person photo and the
    garment product photo change the same way and stay consistent with each other.
    """

    brightness: float = 0.1
    contrast: float = 0.1
    saturation: float = 0.1

    def sample_factors(self, rng: random.Random) -> Tuple[float, float, float]:
        def f(amount):
            return 1.0 + rng.uniform(-amount, amount)

        return f(self.brightness), f(self.contrast), f(self.saturation)

    @staticmethod
    def apply(x: torch.Tensor, factors: Tuple[float, float, float]) -> torch.Tensor:
        b, c, s = factors
        y = (x + 1.0) * 0.5
        y = y * b
        y = (y - 0.5) * c + 0.5
        lum = (0.299 * y[0:1] + 0.587 * y[1:2] + 0.114 * y[2:3])
        y = lum + (y - lum) * s
        return y.clamp(0.0, 1.0) * 2.0 - 1.0


# The app puts every photo that is not already a VITON input on this colour through the person
# models' matte (`pipeline::framing::VITON_BACKGROUND`), in [-1, 1].
APP_BACKGROUND = tuple(v / 127.5 - 1.0 for v in (235, 233, 232))


def on_app_background(image: torch.Tensor, matte: torch.Tensor) -> torch.Tensor:
    """``image`` (..., 3, H, W) in [-1, 1] over ``APP_BACKGROUND`` by ``matte`` (..., 1, H, W)
    in [0, 1], as the app blends a photo before the network sees it."""
    bg = torch.tensor(APP_BACKGROUND, dtype=image.dtype, device=image.device).view(3, 1, 1)
    return image * matte + bg * (1.0 - matte)


# Where the photo's top edge cuts a head, from the nose's row in units of nose-to-neck: from
# the forehead (-0.9) to the chin (0.6). Fashion shots cut at the eyes, the nose or the mouth.
HEAD_CUT_LEVELS = (-0.9, 0.6)


def head_cut_frame(pose: torch.Tensor, size: Tuple[int, int], level: float) -> torch.Tensor:
    """(N, 1, H, W): 0 above the row ``level`` nose-to-neck distances below the nose (OpenPose
    keypoints 0 and 1 of ``pose``, (N, 18, 3) in pixels of ``size``), 1 from it down: a photo
    whose top edge cuts the head there. All ones for a pose without both points."""
    h, w = size
    nose, neck = pose[:, 0], pose[:, 1]
    found = (nose[:, 2] > 0) & (neck[:, 2] > 0) & (neck[:, 1] > nose[:, 1])
    row = (nose[:, 1] + level * (neck[:, 1] - nose[:, 1])).clamp(0, h - 1).round()
    row = torch.where(found, row, torch.zeros_like(row))
    rows = torch.arange(h, dtype=pose.dtype, device=pose.device).view(1, 1, h, 1)
    return (rows >= row.view(-1, 1, 1, 1)).to(pose.dtype).expand(-1, 1, h, w).contiguous()


# ----------------------------------------------------------------------------- dataset

PERSON_SPACE_RGB = ("person", "fake")
GARMENT_KEYS = ("cloth", "cloth_mask")
OTHER_GARMENT_KEYS = ("cloth_un", "cloth_mask_un")


class VitonDataset(torch.utils.data.Dataset):
    """Training / measuring samples of one split.

    Each item is a dict of tensors:

    * ``person`` (3,H,W), ``cloth`` (3,H,W), ``cloth_mask`` (1,H,W), ``parse`` (H,W) int64,
      ``pose`` (18,3) -- the person and the garment they wear;
    * with ``other_garment``: ``cloth_un``, ``cloth_mask_un`` -- a random other garment of
      the split (the tutor dresses the person in it), and ``index_un``;
    * with ``fakes`` (a ``tutor.FakeCache``): ``fake`` (3,H,W) and ``fake_edge`` (1,H,W),
      the cached tutor output for this person and the warped edge of its garment;
    * ``index`` (the pair index);
    * with ``matte_dir`` (the app's mattes of the split's photos, ``person_eval --mattes``):
      ``matte`` (1,H,W) in [0, 1]. With probability ``matte_p`` it is the photo's matte and
      ``person`` is put on the app's background by it (``on_app_background``), so that the
      network learns from inputs as the app composes them; otherwise, and for a photo with
      no matte, it is all ones and the photo is as it was; ``frame`` (1,H,W), where the
      photo is in the app's crop (``cut_p``: a person cut off by the photo's edge), the
      matte being zero past it; with ``originals``, ``person_orig`` (3,H,W): the photo as it
      was before it went on the app's background (flipped and jittered the same), for the
      student's consistency term (``steps.student_step``);
    * with ``old_garment_p`` (and ``other_garment``): ``old_garment`` (3,), the parameters of
      an old garment longer than the new one that the student step paints into the fake
      (``old_garment.draw``; all zero for most samples).

    ``augment`` enables a random horizontal flip (person-space images, parse, pose and
    the person's own garment together; the other garment flips independently) and
    a colour jitter shared by all RGB images of the sample.
    """

    def __init__(
        self,
        source: VitonSource,
        split: str = "train",
        size: Tuple[int, int] = SOURCE_SIZE,
        augment: bool = False,
        other_garment: bool = False,
        fakes=None,
        pairs: Optional[List[Tuple[str, str]]] = None,
        limit: Optional[int] = None,
        jitter: Optional[ColorJitter] = None,
        seed: int = 0,
        matte_dir: Optional[str] = None,
        matte_p: float = 0.5,
        cut_p: float = 0.0,
        head_cut_p: float = 0.0,
        originals: bool = False,
        old_garment_p: float = 0.0,
    ):
        check_size(size)
        self.source = source
        self.split = split
        self.size = tuple(size)
        self.augment = augment
        self.other_garment = other_garment
        self.fakes = fakes
        self.pairs = list(pairs) if pairs is not None else source.pairs(split)
        if limit is not None:
            self.pairs = self.pairs[:limit]
        if fakes is not None:
            fakes.check_persons([p for p, _ in self.pairs])
        self.jitter = jitter if jitter is not None else ColorJitter()
        self.seed = seed
        self.matte_dir = matte_dir
        self.matte_p = matte_p
        self.cut_p = cut_p
        self.head_cut_p = head_cut_p
        self.originals = originals
        self.old_garment_p = old_garment_p
        if old_garment_p > 0 and not other_garment:
            raise ValueError("old_garment_p: the old garment is painted from the other garment (other_garment)")
        if originals and matte_dir is None:
            raise ValueError("originals: the photos as they were are kept only with a matte folder")
        if matte_dir is not None:
            if not os.path.isdir(matte_dir):
                raise FileNotFoundError(f"{matte_dir}: no such matte folder (person_eval --mattes writes one)")
            # A photo without a matte is kept as it is; a folder with none of them is a mistake.
            stems = {_stem(name) for name in os.listdir(matte_dir)}
            if not any(_stem(p) in stems for p, _ in self.pairs):
                raise ValueError(f"{matte_dir}: no matte of any {split} photo (person_eval path/to/viton/{split} --mattes writes them)")

    def __len__(self) -> int:
        return len(self.pairs)

    def load_pair(self, person: str, garment: str) -> Dict[str, torch.Tensor]:
        """Person + own-garment tensors at ``self.size``, without augmentation."""
        src, split, size = self.source, self.split, self.size
        return {
            "person": rgb_tensor(src.person_image(split, person), size),
            "cloth": rgb_tensor(src.garment_image(split, garment), size),
            "cloth_mask": mask_tensor(src.garment_mask(split, garment), size),
            "parse": label_tensor(src.parse(split, person), size),
            "pose": scale_keypoints(src.pose(split, person), SOURCE_SIZE, size),
        }

    def load_garment(self, garment: str) -> Tuple[torch.Tensor, torch.Tensor]:
        return (
            rgb_tensor(self.source.garment_image(self.split, garment), self.size),
            mask_tensor(self.source.garment_mask(self.split, garment), self.size),
        )

    def __getitem__(self, key: int) -> Dict[str, torch.Tensor]:
        # ``key`` = epoch * len + index (see ``InfiniteSampler``): the randomness of an item
        # (flip, jitter, other garment) depends on the key only, not on worker scheduling,
        # and differs from one epoch to the next.
        index = key % len(self.pairs)
        rng = random.Random(self.seed * 1_000_003 + key)
        person, garment = self.pairs[index]
        sample = self.load_pair(person, garment)
        sample["index"] = torch.tensor(index)
        if self.other_garment:
            j = rng.randrange(len(self.pairs) - 1) if len(self.pairs) > 1 else 0
            if len(self.pairs) > 1 and j >= index:
                j += 1  # never the person's own garment
            sample["cloth_un"], sample["cloth_mask_un"] = self.load_garment(self.pairs[j][1])
            sample["index_un"] = torch.tensor(j)
            if self.old_garment_p > 0:
                sample["old_garment"] = old_garment.draw(rng, self.old_garment_p)
        if self.fakes is not None:
            fake, edge = self.fakes.get(person, rng)
            sample["fake"] = _resize_rgb(fake, self.size)
            sample["fake_edge"] = _resize_mask(edge, self.size)
        flipped = False
        if self.augment:
            if rng.random() < 0.5:
                flip_sample(sample, PERSON_SPACE_RGB + ("fake_edge",) + GARMENT_KEYS)
                flipped = True
            if self.other_garment and rng.random() < 0.5:
                for key in OTHER_GARMENT_KEYS:
                    sample[key] = sample[key].flip(-1)
            factors = self.jitter.sample_factors(rng)
            for key in ("person", "cloth", "cloth_un", "fake"):
                if key in sample:
                    sample[key] = ColorJitter.apply(sample[key], factors)
        if self.matte_dir is not None:
            # After the jitter: the app's background is one exact colour, whatever the light.
            matte = self._matte(person, rng)
            sample["frame"] = self._frame(rng, sample["pose"])
            sample["matte"] = (matte.flip(-1) if flipped else matte) * sample["frame"]
            if self.originals:
                sample["person_orig"] = sample["person"]
            sample["person"] = on_app_background(sample["person"], sample["matte"])
        return sample

    def _frame(self, rng: random.Random, pose: torch.Tensor) -> torch.Tensor:
        """Where the photo is (1) in the app's crop: with probability ``cut_p`` a person cut
        off by the photo's edge, as in webcam frames and half-body photos, whose crop reaches
        past the photo and is filled with the background colour: the bottom edge cut
        between 45% and 95% of the height, or a side between 10% and 35% of the width. Then,
        with probability ``head_cut_p``, the head cut by the photo's top edge, as fashion
        shots and close webcam frames cut it (``head_cut_frame``): from the forehead
        (``HEAD_CUT_LEVELS``) to the chin."""
        h, w = self.size
        frame = torch.ones(1, h, w)
        if rng.random() < self.cut_p:
            edge = rng.random()
            if edge < 0.6:
                frame[:, round(h * rng.uniform(0.45, 0.95)):, :] = 0.0
            elif edge < 0.8:
                frame[:, :, : round(w * rng.uniform(0.10, 0.35))] = 0.0
            else:
                frame[:, :, w - round(w * rng.uniform(0.10, 0.35)):] = 0.0
        # Drawn only when asked for, so that runs without it keep their data stream.
        if self.head_cut_p > 0 and rng.random() < self.head_cut_p:
            frame = frame * head_cut_frame(pose[None], self.size, rng.uniform(*HEAD_CUT_LEVELS))[0]
        return frame

    def _matte(self, person: str, rng: random.Random) -> torch.Tensor:
        ones = torch.ones(1, *self.size)
        path = os.path.join(self.matte_dir, _stem(person) + ".png")
        if rng.random() >= self.matte_p or not os.path.isfile(path):
            return ones
        with Image.open(path) as image:
            matte = torch.from_numpy(np.asarray(image.convert("L"), dtype=np.float32) / 255.0)[None]
        return _resize_rgb(matte, self.size).clamp(0.0, 1.0)


def _resize_rgb(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return torch.nn.functional.interpolate(x[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]


def _resize_mask(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    y = torch.nn.functional.interpolate(x[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]
    return (y > 0.5).float()


class InfiniteSampler(torch.utils.data.Sampler):
    """Endless shuffled keys ``epoch * length + index``; epoch e uses the permutation
    seeded by (seed, e), and ``VitonDataset`` seeds each item's augmentation with its key.

    ``start`` skips that many keys, so a resumed run continues the same stream.
    """

    def __init__(self, length: int, seed: int = 0, start: int = 0):
        self.length = length
        self.seed = seed
        self.start = start

    def __iter__(self):
        position = self.start
        while True:
            epoch, offset = divmod(position, self.length)
            g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
            order = torch.randperm(self.length, generator=g).tolist()
            for i in order[offset:]:
                yield epoch * self.length + i
            position = (epoch + 1) * self.length

    def __len__(self):  # pragma: no cover - infinite
        return 2**62


def collate(samples: List[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    return {key: torch.stack([s[key] for s in samples]) for key in samples[0]}


def to_device(batch: Dict[str, torch.Tensor], device: torch.device) -> Dict[str, torch.Tensor]:
    non_blocking = device.type == "cuda"
    return {k: v.to(device, non_blocking=non_blocking) for k, v in batch.items()}
