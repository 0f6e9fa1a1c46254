"""The long-sleeve rule's features and scores (`measure_sleeves.py`), which `arms.rs` mirrors."""

import json
import os
import sys

import numpy as np
from PIL import Image

TRAINING = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(TRAINING)
if TRAINING not in sys.path:
    sys.path.insert(0, TRAINING)

import measure_sleeves  # noqa: E402

WEIGHTS = np.array(measure_sleeves.COMMITTED)


def _garment(sleeve_to):
    """A flat-lay garment mask at 192x256: a torso, and sleeves hanging from the shoulders down
    to `sleeve_to` (a share of the garment's height)."""
    m = np.zeros((256, 192), np.uint8)
    top, bottom = 20, 236
    m[top:bottom, 56:136] = 255
    end = top + int(sleeve_to * (bottom - top))
    for x0 in (16, 136):
        m[top + 10 : end, x0 : x0 + 40] = 255
    return m


def test_a_long_sleeve_and_a_short_one_are_told_apart():
    assert measure_sleeves.score(_garment(0.95), WEIGHTS) > 0
    assert measure_sleeves.score(_garment(0.3), WEIGHTS) < 0
    # Nothing to tell from.
    assert measure_sleeves.features(np.zeros((256, 192), np.uint8)) is None


def test_the_committed_fixture_is_what_the_script_computes():
    with open(os.path.join(ROOT, "tests", "fixtures", "long_sleeves.json")) as f:
        fixture = json.load(f)
    assert len(fixture) == 12
    for name, expected in fixture.items():
        mask = Image.open(os.path.join(ROOT, "assets", "wardrobe", name)).convert("L")
        assert abs(measure_sleeves.score(mask, WEIGHTS) - expected) < 1e-9, name
