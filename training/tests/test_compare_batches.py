"""`compare_batches.py`'s warp IoU over a `fitting-room batch --extras` folder."""

import numpy as np
from PIL import Image

from compare_batches import results, warp_ious


def test_warp_iou_reads_the_warped_masks_against_the_parse_garment(tmp_path):
    h, w = 256, 192
    parses, out = tmp_path / "parse", tmp_path / "out"
    parses.mkdir()
    out.mkdir()
    # The person's top (label 5) over rows 50-149; a face (13) above it, not garment.
    parse = np.zeros((h, w), np.uint8)
    parse[50:150, 40:152] = 5
    parse[10:50, 70:120] = 13
    Image.fromarray(parse).save(parses / "000001_0.png")
    # The warped mask covers rows 30-129: the top's rows 50-129 and 20 rows of the face above.
    mask = np.zeros((h, w), np.uint8)
    mask[30:130, 40:152] = 255
    blank = np.zeros((h, w, 3), np.uint8)
    for name, pixels in [
        ("000001_0__000001_1.png", blank),
        ("000001_0__000001_1_warped.png", blank),
        ("000001_0__000001_1_warped_mask.png", mask),
    ]:
        Image.fromarray(pixels).save(out / name)
    # The extras are not results of their own.
    assert results(str(out)) == ["000001_0__000001_1.png"]
    # Together they span rows 30-149, and meet over 80 of them; the face is not garment.
    inter, union = 80 * 112, 120 * 112
    (iou,) = warp_ious(str(out), str(parses))
    assert abs(iou - inter / union) < 1e-9
