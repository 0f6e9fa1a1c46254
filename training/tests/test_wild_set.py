"""The "in the wild" set's cut-out of a VITON person (`wild_set.person_alpha`)."""

import os
import sys

import numpy as np
from PIL import Image

TRAINING = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TRAINING not in sys.path:
    sys.path.insert(0, TRAINING)

import matte_eval  # noqa: E402
from wild_set import person_alpha  # noqa: E402

BACKDROP = (236, 234, 230)


def _photo_and_parse():
    """A VITON-like photo and parse whose parse misses parts of the person."""
    h, w = 256, 192
    photo = np.zeros((h, w, 3), np.uint8) + np.array(BACKDROP, np.uint8)
    parse = np.zeros((h, w), np.uint8)
    # head and torso, a neck gap between them that the parse leaves out (skin coloured)
    parse[20:60, 80:112] = 13
    photo[20:60, 80:112] = (200, 150, 120)
    photo[60:75, 88:104] = (205, 155, 125)  # the neck, unlabelled
    parse[75:200, 50:142] = 5
    photo[75:200, 50:142] = (30, 30, 60)  # a dark top
    # a patch of the top the parse calls background (a hole of garment colour)
    parse[120:140, 90:110] = 0
    # a gap between the arm and the body showing the backdrop (a hole of backdrop colour)
    parse[150:190, 20:40] = 14
    photo[150:190, 20:40] = (190, 140, 110)
    parse[150:152, 40:50] = 14
    photo[150:152, 40:50] = (190, 140, 110)
    parse[188:190, 40:50] = 14
    photo[188:190, 40:50] = (190, 140, 110)
    # bare shoulders next to the top, unlabelled, open to the outside
    photo[75:90, 142:160] = (195, 145, 115)
    # a shadow on the backdrop beside the person, as light as the backdrop
    photo[185:230, 142:170] = (222, 220, 216)
    return photo, parse


def test_the_cut_out_person_keeps_what_the_parse_leaves_out_and_not_the_backdrop():
    photo, parse = _photo_and_parse()
    h, w = parse.shape
    alpha = person_alpha(Image.fromarray(photo), parse)
    assert alpha.dtype == bool and alpha.shape == (h, w)
    assert alpha[parse > 0].all()
    assert alpha[60:75, 88:104].all(), "the neck"
    assert alpha[120:140, 90:110].all(), "the unlabelled patch of the top"
    assert not alpha[152:188, 40:50].any(), "the gap between arm and body is backdrop"
    assert alpha[75:90, 142:160].all(), "the bare shoulder"
    assert not alpha[185:230, 142:170].any(), "a faint shadow is backdrop"
    assert not alpha[230:, :].any() and not alpha[:, :10].any(), "the backdrop"


def test_the_matte_is_scored_against_the_parse_and_the_person_it_misses(tmp_path):
    photo, parse = _photo_and_parse()
    for folder in ("image", "image-parse", "mattes"):
        os.makedirs(tmp_path / folder)
    Image.fromarray(photo).save(tmp_path / "image" / "a_0.jpg", quality=100)
    Image.fromarray(parse).save(tmp_path / "image-parse" / "a_0.png")
    # a matte that is exactly the whole person
    alpha = person_alpha(Image.open(tmp_path / "image" / "a_0.jpg"), parse)
    Image.fromarray((alpha * 255).astype(np.uint8)).save(tmp_path / "mattes" / "a_0.png")
    scores = matte_eval.main(["--viton", str(tmp_path), "--mattes", str(tmp_path / "mattes")])
    assert scores["parse and what it misses (person_alpha)"] == [1.0]
    expected = (parse > 0).sum() / alpha.sum()
    assert abs(scores["parse"][0] - expected) < 1e-9 and scores["parse"][0] < 0.95
