"""Evaluate a student (a model bundle, or a student checkpoint) on VITON's val/ split.

    python training/evaluate.py --data path/to/viton --model models/default --teacher runs/teacher --out eval/

Metrics (written to ``<out>/metrics.json`` and printed):

(a) ``warp_iou``: the student dresses each val person in their own garment (real photo as
    input, as in the app); IoU of the warped garment mask (> 0.5) with the person's upper
    garment in the parse (labels 5, 6, 7).
(b) ``tutor_ssim`` / ``tutor_psnr``: the teacher first dresses the person in the garment
    of their ``val_unpaired.txt`` line (a tutor fake); the student then dresses the fake in
    the person's own garment; SSIM and PSNR of that try-on against the real photo. Needs
    ``--teacher``. ``fake_ssim`` / ``fake_psnr`` score the fake itself, for reference.
    ``tutor_skin_l1``: the try-on's mean absolute error against the real photo (0-255 levels)
    where the fake's garment covers what the real photo shows outside its garment (arms,
    neck, waist the student must restore: the training's skin region), over all such pixels.
    ``old_garment_l1``: the same error where the fake was given an old garment longer than the
    new one (``frtrain.old_garment``, the same for every person: sleeves to 0.8 of the arms, a
    band of 0.1 of the height below the hem), which the student must repaint as arms and
    trousers.
    Without a teacher, only ``real_ssim`` / ``real_psnr`` (real photo in, own garment) are given.
    ``head_cut_warp_iou`` / ``head_cut_ssim``: (a) and ``real_ssim`` for the photo cut at the
    nose by its top edge, the background colour above as the app fills it (a fashion shot
    cut at the face; ``data.head_cut_frame``), against the photo cut the same way.
(c) ``colour_hit_rate``: over the ``val_unpaired.txt`` pairs whose two garments differ in
    colour (mean product colours at least ``--min-colour-diff`` apart, 0-255 RGB), the share
    of try-ons whose mean colour, over the region that both the warped new garment and the
    old garment occupy, is closer to the new garment's mean colour than to the old one's.
    A pair where that region is (almost) empty counts as a miss.

Also writes ``grid.jpg``: the first ``--grid`` val persons (rows) dressed in the first
``--grid`` val garments (columns), garments on top, persons on the left.
"""

import argparse
import json
import os
import sys
from typing import Dict, List

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from export import load_bundle  # noqa: E402
from frtrain import nets, old_garment  # noqa: E402
from frtrain.data import (  # noqa: E402
    VitonDataset,
    VitonSource,
    collate,
    head_cut_frame,
    heldout_unpaired,
    on_app_background,
    parse_size,
    split_heldout,
    to_device,
)
from frtrain.loop import pick_device  # noqa: E402
from frtrain.losses import psnr, skin_region, ssim  # noqa: E402
from frtrain.person import garment_mask  # noqa: E402
from frtrain.tutor import make_fakes  # noqa: E402
from pfafn import tryon  # noqa: E402

OLD_GARMENT = (0.8, 0.8, 0.1)  # sleeves to 0.8 of shoulder-to-wrist, a band of 0.1 of the height
MIN_REGION = 100 / (256 * 192)  # share of the image below which a colour region counts as empty


def _batches(dataset: VitonDataset, batch_size: int, loader) -> List[Dict[str, torch.Tensor]]:
    for start in range(0, len(dataset), batch_size):
        yield collate([loader(i) for i in range(start, min(len(dataset), start + batch_size))])


def _mean_colour(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) in [-1,1], (N,1,H,W) -> (N,3) mean colour in 0..255 over the mask."""
    rgb = (image + 1.0) * 127.5
    area = mask.sum(dim=(2, 3)).clamp_min(1.0)
    return (rgb * mask).sum(dim=(2, 3)) / area


def _warp_ious(out: Dict[str, torch.Tensor], garment: torch.Tensor) -> List[float]:
    """Per sample, IoU of the try-on's warped garment mask (> 0.5) with ``garment`` (bool)."""
    pred = out["warped_edge"] > 0.5
    inter = (pred & garment).sum(dim=(1, 2, 3)).float()
    union = (pred | garment).sum(dim=(1, 2, 3)).float()
    return (inter / union.clamp_min(1.0)).tolist()


def _to_image(x: torch.Tensor) -> Image.Image:
    arr = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(arr)


@torch.no_grad()
def evaluate(args) -> Dict:
    device = pick_device(args.device)
    if device.type == "cpu":
        torch.backends.mkldnn.enabled = False
    size = parse_size(args.size)
    if args.model:
        warp, gen = load_bundle(args.model)
        model_name = args.model
    else:
        warp, gen = nets.models_from_checkpoint(nets.load_checkpoint(args.checkpoint), "student")
        model_name = args.checkpoint
    warp.to(device).eval()
    gen.to(device).eval()
    teacher = None
    if args.teacher:
        t_warp, t_gen = nets.models_from_checkpoint(nets.load_checkpoint(args.teacher), "teacher")
        teacher = (t_warp.to(device).eval(), t_gen.to(device).eval())

    source = VitonSource(args.data)
    if args.holdout:
        # The held-out slice of train/ (checkpoint choice): never val/.
        _, held = split_heldout(source.pairs("train"), args.holdout)
        val = VitonDataset(source, "train", size, pairs=held, limit=args.limit)
        unpaired_source = heldout_unpaired(held)
    else:
        val = VitonDataset(source, "val", size, limit=args.limit)
        unpaired_source = source.pairs("val", unpaired=True)
    own = dict(val.pairs)
    unpaired_all = [(p, g) for p, g in unpaired_source if p in own]
    unpaired_map = dict(unpaired_all)
    metrics: Dict[str, float] = {"persons": len(val)}

    def run_student(person, cloth, mask):
        return tryon(warp, gen, person, cloth, mask)

    # (a) warp IoU and real-input reconstruction; (b) tutor fakes
    ious, real_s, real_p, tut_s, tut_p, fake_s, fake_p = [], [], [], [], [], [], []
    cut_ious, cut_s = [], []
    skin_error, skin_pixels = 0.0, 0.0
    old_error, old_pixels = 0.0, 0.0

    def load_with_other(i):
        person, garment = val.pairs[i]
        sample = val.load_pair(person, garment)
        if teacher is not None:
            sample["cloth_un"], sample["cloth_mask_un"] = val.load_garment(unpaired_map.get(person, garment))
        return sample

    for batch in _batches(val, args.batch_size, load_with_other):
        batch = to_device(batch, device)
        out = run_student(batch["person"], batch["cloth"], batch["cloth_mask"])
        gt = garment_mask(batch["parse"]) > 0.5
        ious += _warp_ious(out, gt)
        real_s += ssim(out["p_tryon"], batch["person"], per_sample=True).tolist()
        real_p += psnr(out["p_tryon"], batch["person"]).tolist()
        # The same photo with its top edge at the nose, as the app shows the network such a photo.
        cut = head_cut_frame(batch["pose"], size, 0.0)
        cut_person = on_app_background(batch["person"], cut)
        out = run_student(cut_person, batch["cloth"], batch["cloth_mask"])
        cut_ious += _warp_ious(out, gt)
        cut_s += ssim(out["p_tryon"], cut_person, per_sample=True).tolist()
        if teacher is not None:
            fake, fake_edge = make_fakes(teacher[0], teacher[1], batch)
            out = run_student(fake, batch["cloth"], batch["cloth_mask"])
            error, pixels = skin_error_sum(out["p_tryon"], batch["person"], fake_edge, gt.float())
            skin_error += error
            skin_pixels += pixels
            tut_s += ssim(out["p_tryon"], batch["person"], per_sample=True).tolist()
            tut_p += psnr(out["p_tryon"], batch["person"]).tolist()
            fake_s += ssim(fake, batch["person"], per_sample=True).tolist()
            fake_p += psnr(fake, batch["person"]).tolist()
            params = torch.tensor(OLD_GARMENT, device=device).expand(fake.shape[0], 3)
            where = old_garment.region(params, batch["parse"], batch["pose"], fake_edge)
            out = run_student(old_garment.paint_region(fake, where, batch), batch["cloth"], batch["cloth_mask"])
            error, pixels = region_error_sum(out["p_tryon"], batch["person"], where)
            old_error += error
            old_pixels += pixels
    metrics["warp_iou"] = float(np.mean(ious))
    metrics["real_ssim"] = float(np.mean(real_s))
    metrics["real_psnr"] = float(np.mean(real_p))
    metrics["head_cut_warp_iou"] = float(np.mean(cut_ious))
    metrics["head_cut_ssim"] = float(np.mean(cut_s))
    if teacher is not None:
        metrics.update(
            tutor_ssim=float(np.mean(tut_s)), tutor_psnr=float(np.mean(tut_p)), fake_ssim=float(np.mean(fake_s)), fake_psnr=float(np.mean(fake_p))
        )
        metrics["tutor_skin_l1"] = skin_error / max(skin_pixels, 1.0)
        metrics["old_garment_l1"] = old_error / max(old_pixels, 1.0)

    # (c) unpaired colour transfer
    unpaired = VitonDataset(source, val.split, size, pairs=unpaired_all)

    def load_unpaired(i):
        person, garment = unpaired.pairs[i]
        sample = unpaired.load_pair(person, garment)  # cloth = the new garment
        sample["cloth_old"], sample["cloth_mask_old"] = unpaired.load_garment(own[person])
        return sample

    hits, ratios, considered, empty = 0, [], 0, 0
    for batch in _batches(unpaired, args.batch_size, load_unpaired):
        batch = to_device(batch, device)
        new_c = _mean_colour(batch["cloth"], batch["cloth_mask"])
        old_c = _mean_colour(batch["cloth_old"], batch["cloth_mask_old"])
        differ = (new_c - old_c).norm(dim=1) >= args.min_colour_diff
        if not differ.any():
            continue
        out = run_student(batch["person"], batch["cloth"], batch["cloth_mask"])
        region = ((out["warped_edge"] > 0.5) & (garment_mask(batch["parse"]) > 0.5)).float()
        got = _mean_colour(out["p_tryon"], region)
        d_new = (got - new_c).norm(dim=1)
        d_old = (got - old_c).norm(dim=1)
        enough = region.mean(dim=(1, 2, 3)) >= MIN_REGION
        for k in torch.nonzero(differ).flatten().tolist():
            considered += 1
            if not enough[k]:
                empty += 1
                continue
            hits += int(d_new[k] < d_old[k])
            ratios.append(float(d_new[k] / (d_new[k] + d_old[k]).clamp_min(1e-6)))
    metrics["colour_pairs"] = considered
    metrics["colour_hit_rate"] = hits / considered if considered else None
    metrics["colour_empty_regions"] = empty
    metrics["colour_distance_share"] = float(np.mean(ratios)) if ratios else None

    # grid
    k = min(args.grid, len(val))
    if k > 0:
        h, w = size
        sheet = Image.new("RGB", ((k + 1) * w, (k + 1) * h), (255, 255, 255))
        persons = [val.load_pair(*val.pairs[i]) for i in range(k)]
        garments = [val.load_garment(val.pairs[j][1]) for j in range(k)]
        for j, (cloth, mask) in enumerate(garments):
            sheet.paste(_to_image(cloth * mask + (1 - mask)), ((j + 1) * w, 0))
        for i, sample in enumerate(persons):
            sheet.paste(_to_image(sample["person"]), (0, (i + 1) * h))
            person = sample["person"][None].repeat(k, 1, 1, 1).to(device)
            cloth = torch.stack([c for c, _ in garments]).to(device)
            mask = torch.stack([m for _, m in garments]).to(device)
            out = run_student(person, cloth, mask)["p_tryon"]
            for j in range(k):
                sheet.paste(_to_image(out[j]), ((j + 1) * w, (i + 1) * h))
        os.makedirs(args.out, exist_ok=True)
        sheet.save(os.path.join(args.out, "grid.jpg"), quality=92)

    metrics["model"] = os.path.basename(os.path.normpath(model_name))
    metrics["size"] = list(size)
    metrics["split"] = f"train, last {args.holdout} pairs (held out)" if args.holdout else "val"
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")
    return metrics


def region_error_sum(tryon: torch.Tensor, real: torch.Tensor, region: torch.Tensor):
    """(summed absolute error in 0-255 levels, averaged over the channels; weighted pixel count)
    of ``tryon`` against ``real`` inside ``region`` (N,1,H,W). Images in [-1, 1]."""
    error = float(((tryon - real).abs() * region).sum()) * 127.5 / tryon.shape[1]
    return error, float(region.sum())


def skin_error_sum(tryon: torch.Tensor, real: torch.Tensor, fake_edge: torch.Tensor, garment: torch.Tensor):
    """``region_error_sum`` where the fake's garment (``fake_edge``) covers what is not the real
    garment (``garment``): the skin the student must restore."""
    return region_error_sum(tryon, real, skin_region(fake_edge, garment))


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="VITON folder or packed archive with val/, e.g. path/to/viton")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="model bundle folder (warp.safetensors + gen.safetensors)")
    which.add_argument("--checkpoint", help="student run folder or checkpoint")
    parser.add_argument("--teacher", default=None, help="teacher run folder or checkpoint (for metric b)")
    parser.add_argument("--out", required=True, help="folder for metrics.json and grid.jpg")
    parser.add_argument("--size", default="256x192")
    parser.add_argument("--limit", type=int, default=None, help="only the first N val persons")
    parser.add_argument(
        "--holdout",
        type=int,
        default=0,
        help="measure on the last N pairs of train/ (held out by train.py --holdout N; for choosing checkpoints) instead of val/",
    )
    parser.add_argument("--grid", type=int, default=6, help="persons x garments in grid.jpg (0: none)")
    parser.add_argument("--min-colour-diff", type=float, default=60.0, help="garments differ in colour from this RGB distance")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    metrics = evaluate(args)
    print(json.dumps(metrics, indent=1))
    return metrics


if __name__ == "__main__":
    main()
