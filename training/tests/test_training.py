"""Tests of the training pipeline (CPU, tiny synthetic data, a few seconds each).

Run from the repository root: ``python -m pytest training/tests``.

The networks run at 64x64 with tiny widths: 64x48 is not possible, since the warp
module downsamples five times and adds pyramid levels, so heights and widths must be
multiples of 32.
"""

import json
import os
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

TRAINING = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TRAINING not in sys.path:
    sys.path.insert(0, TRAINING)

import evaluate as evaluate_script  # noqa: E402
import export as export_script  # noqa: E402
import make_fakes as make_fakes_script  # noqa: E402
import pack_data  # noqa: E402
import train as train_script  # noqa: E402
from frtrain import losses as L  # noqa: E402
from frtrain import loop, nets, person  # noqa: E402
from frtrain.data import APP_BACKGROUND, ColorJitter, VitonDataset, VitonSource, collate, flip_sample, head_cut_frame, on_app_background  # noqa: E402
from frtrain.steps import consistency_loss, student_step, teacher_step  # noqa: E402
from frtrain.synthetic import make_synthetic_viton  # noqa: E402
from frtrain.tutor import make_fakes  # noqa: E402
from frtrain.warp import warp_forward  # noqa: E402
from pfafn import AFWM, ResUnetGenerator  # noqa: E402

SIZE = (64, 64)
TINY = nets.PRESETS["tiny"]


@pytest.fixture(autouse=True)
def _small_cpu_setup():
    # oneDNN spends seconds preparing every new convolution shape, and threads only add
    # overhead (and spin-waiting on a busy machine) for these tiny networks.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.backends.mkldnn.flags(enabled=False):
            yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def viton(tmp_path_factory):
    return make_synthetic_viton(str(tmp_path_factory.mktemp("viton")), n_train=6, n_val=3, seed=1)


def _batch(root, size=SIZE, n=2, **kw):
    ds = VitonDataset(VitonSource(root), "train", size, **kw)
    return collate([ds[i] for i in range(n)])


# ----------------------------------------------------------------------------- data


def test_loader_reads_the_synthetic_folder(viton):
    ds = VitonDataset(VitonSource(viton), "train", (128, 96), other_garment=True)
    assert len(ds) == 6
    s = ds[0]
    assert s["person"].shape == (3, 128, 96) and s["cloth"].shape == (3, 128, 96)
    assert s["cloth_mask"].shape == (1, 128, 96) and set(s["cloth_mask"].unique().tolist()) <= {0.0, 1.0}
    assert s["person"].min() >= -1 and s["person"].max() <= 1
    assert s["parse"].shape == (128, 96) and s["parse"].dtype == torch.int64
    labels = set(s["parse"].unique().tolist())
    assert {0, 2, 5, 9, 13, 14, 15} <= labels and max(labels) < 20
    assert s["pose"].shape == (18, 3)
    # keypoints are scaled from 256x192 to 128x96: the neck sits near (48, 32)
    assert abs(float(s["pose"][1, 0]) - 48) < 5 and abs(float(s["pose"][1, 1]) - 32) < 5
    assert int(s["index_un"]) != 0 and not torch.equal(s["cloth_un"], s["cloth"])
    # augmentation keeps shapes and ranges
    aug = VitonDataset(VitonSource(viton), "train", (128, 96), augment=True, other_garment=True)
    for key in range(12):
        a = aug[key]
        assert a["person"].shape == (3, 128, 96) and a["person"].abs().max() <= 1


def test_flip_is_consistent(viton):
    ds = VitonDataset(VitonSource(viton), "train", (128, 96))
    s = ds[1]
    f = {k: v.clone() for k, v in s.items()}
    flip_sample(f, ("person", "cloth", "cloth_mask"))
    assert torch.equal(f["person"], s["person"].flip(-1))
    assert torch.equal(f["cloth_mask"], s["cloth_mask"].flip(-1))
    flipped_parse = s["parse"].flip(-1)
    assert torch.equal(f["parse"] == 14, flipped_parse == 15) and torch.equal(f["parse"] == 15, flipped_parse == 14)
    # the right wrist (4) becomes the left wrist (7), mirrored
    assert torch.allclose(f["pose"][7, 0], 95 - s["pose"][4, 0]) and torch.allclose(f["pose"][7, 1], s["pose"][4, 1])
    flip_sample(f, ("person", "cloth", "cloth_mask"))
    for key in ("person", "parse", "pose", "cloth"):
        assert torch.equal(f[key], s[key]), key


def test_colour_jitter_is_one_pixel_map():
    x = torch.rand(3, 8, 8) * 2 - 1
    y = x.clone()
    factors = (1.1, 0.9, 1.05)
    a, b = ColorJitter.apply(x, factors), ColorJitter.apply(y, factors)
    assert torch.equal(a, b) and not torch.equal(a, x)
    assert ColorJitter.apply(x, (1.0, 1.0, 1.0)).sub(x).abs().max() < 1e-6


def test_packed_archive_round_trip(viton, tmp_path):
    archive = str(tmp_path / "pack.zip")
    manifest = pack_data.main(["--data", viton, "--out", archive, "--persons", "0"])
    assert manifest["counts"]["train"]["persons"] == 6 and manifest["counts"]["val"]["persons"] == 3
    folder, packed = VitonSource(viton), VitonSource(archive)
    assert packed.is_archive and packed.pairs("train") == folder.pairs("train")
    assert packed.pairs("val", unpaired=True) == folder.pairs("val", unpaired=True)
    for size in ((256, 192), (128, 96)):
        for split in ("train", "val"):
            a = VitonDataset(folder, split, size)
            b = VitonDataset(packed, split, size)
            for i in range(len(a)):
                x, y = a[i], b[i]
                for key in x:
                    if key == "pose":
                        assert torch.allclose(x[key], y[key], atol=0.01), (split, i)
                    else:
                        assert torch.equal(x[key], y[key]), (split, i, key)
    subset = str(tmp_path / "subset.zip")
    pack_data.main(["--data", viton, "--out", subset, "--persons", "3", "--no-val"])
    small = VitonSource(subset)
    assert len(small.pairs("train")) == 3 and not small.exists("val_pairs.txt")
    assert len(VitonDataset(small, "train", SIZE)) == 3


# ----------------------------------------------------------------------------- teacher input


def _mattes(viton, folder):
    """Mattes of the synthetic train photos as ``person_eval --mattes`` writes them: the parse's
    person region (255 = person), one photo left without."""
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    names = sorted(os.listdir(os.path.join(viton, "train", "image-parse")))
    for name in names[1:]:
        parse = Image.open(os.path.join(viton, "train", "image-parse", name))
        Image.fromarray(((np.asarray(parse) > 0) * 255).astype("uint8")).save(os.path.join(folder, name))
    return folder


def test_persons_go_on_the_apps_background_by_their_mattes(viton, tmp_path):
    folder = _mattes(viton, str(tmp_path / "mattes"))
    plain = VitonDataset(VitonSource(viton), "train", (128, 96))
    always = VitonDataset(VitonSource(viton), "train", (128, 96), matte_dir=folder, matte_p=1.0)
    bg = torch.tensor(APP_BACKGROUND).view(3, 1, 1)
    for i in range(1, 6):
        s, a = plain[i], always[i]
        person = (s["parse"] > 0)[None].float()
        # the matte is the parse's person region here: the person kept, the rest the app's colour
        inside, outside = a["matte"] > 0.99, a["matte"] < 0.01
        assert inside.float().mean() > 0.2 and outside.float().mean() > 0.2
        assert torch.equal(inside, (person > 0.5) & inside)
        assert torch.allclose(a["person"] * inside, s["person"] * inside, atol=1e-6)
        assert torch.allclose(a["person"] * outside, bg.expand(3, 128, 96) * outside, atol=1e-6)
    # a photo without a matte, and samples left as they are, keep their photo
    assert torch.equal(always[0]["person"], plain[0]["person"]) and bool((always[0]["matte"] == 1).all())
    never = VitonDataset(VitonSource(viton), "train", (128, 96), matte_dir=folder, matte_p=0.0)
    assert torch.equal(never[2]["person"], plain[2]["person"])
    # with a flip the matte is mirrored with the photo: the background stays off the person
    aug = VitonDataset(VitonSource(viton), "train", (128, 96), augment=True, matte_dir=folder, matte_p=1.0)
    for key in (k for k in range(1, 18) if k % 6):  # index 0 has no matte
        a = aug[key]
        person = (a["parse"] > 0)[None]
        assert ((a["matte"] > 0.5) == person).float().mean() > 0.98, key
    # a person cut off by the photo's edge: past it, only the background colour
    cut = VitonDataset(VitonSource(viton), "train", (128, 96), matte_dir=folder, matte_p=1.0, cut_p=1.0)
    bottoms = sides = 0
    for key in range(1, 40):
        c, s = cut[key], plain[key % 6]
        past = c["frame"] == 0
        assert 0.04 < past.float().mean() < 0.56, key
        assert torch.allclose(c["person"] * past, bg.expand(3, 128, 96) * past, atol=1e-6)
        assert bool((c["matte"][past] == 0).all())
        bottoms += bool(past[0, -1].all())
        sides += bool(past[0, :, 0].all() or past[0, :, -1].all())
        if key % 6:
            inside = (c["matte"] > 0.99) & ~past
            assert torch.allclose(c["person"] * inside, s["person"] * inside, atol=1e-6)
    assert bottoms > 10 and sides > 5 and bottoms + sides == 39
    assert bool((always[3]["frame"] == 1).all())
    with pytest.raises(FileNotFoundError):
        VitonDataset(VitonSource(viton), "train", (128, 96), matte_dir=str(tmp_path / "none"))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(ValueError, match="no matte of any train photo"):
        VitonDataset(VitonSource(viton), "train", (128, 96), matte_dir=str(tmp_path / "empty"))


def test_a_head_is_cut_by_the_photos_top_edge_between_the_forehead_and_the_chin(viton, tmp_path):
    folder = _mattes(viton, str(tmp_path / "mattes"))
    pose = torch.zeros(3, 18, 3)
    pose[:, 0] = torch.tensor([48.0, 20.0, 1.0])  # nose
    pose[:, 1] = torch.tensor([48.0, 40.0, 1.0])  # neck
    pose[2, 1, 2] = 0.0  # no neck found: nothing is cut
    for level, row in ((0.0, 20), (-0.5, 10), (0.6, 32), (-3.0, 0)):
        f = head_cut_frame(pose, (128, 96), level)
        assert f.shape == (3, 1, 128, 96)
        for n in (0, 1):
            assert bool((f[n, :, :row] == 0).all()) and bool((f[n, :, row:] == 1).all()), (level, n)
        assert bool((f[2] == 1).all())
    plain = VitonDataset(VitonSource(viton), "train", (128, 96))
    bg = torch.tensor(APP_BACKGROUND).view(3, 1, 1)
    cut = VitonDataset(VitonSource(viton), "train", (128, 96), matte_dir=folder, matte_p=1.0, head_cut_p=1.0)
    rows = []
    for key in range(1, 30):
        c, s = cut[key], plain[key % 6]
        past = c["frame"] == 0
        # whole rows from the top, the background colour there, the matte zero
        row = int(past[0, :, 0].sum())
        assert bool(past[0, :row].all()) and not bool(past[0, row:].any()), key
        assert torch.allclose(c["person"] * past, bg.expand(3, 128, 96) * past, atol=1e-6)
        assert bool((c["matte"][past] == 0).all())
        nose, neck = float(s["pose"][0, 1]), float(s["pose"][1, 1])
        # from the forehead to the chin: never below the neck, never the whole head kept
        assert nose - 0.9 * (neck - nose) - 1 <= row <= nose + 0.6 * (neck - nose) + 1, (key, row, nose, neck)
        rows.append(row)
        if key % 6:
            inside = (c["matte"] > 0.99) & ~past
            assert torch.allclose(c["person"] * inside, s["person"] * inside, atol=1e-6)
    assert len(set(rows)) > 5
    # at 0.5, about half of the heads are cut
    half = VitonDataset(VitonSource(viton), "train", (128, 96), matte_dir=folder, matte_p=1.0, head_cut_p=0.5)
    cuts = sum(bool((half[key]["frame"][0, 0] == 0).all()) for key in range(1, 61))
    assert 18 <= cuts <= 42, cuts


def test_the_students_fake_goes_on_the_apps_background_with_the_photo(viton, tmp_path):
    folder = _mattes(viton, str(tmp_path / "mattes"))
    ds = VitonDataset(VitonSource(viton), "train", SIZE, other_garment=True, matte_dir=folder, matte_p=1.0, cut_p=0.5)
    batch = collate([ds[i] for i in (1, 2)])
    assert bool((batch["frame"][0] == 1).all()) and not bool((batch["frame"][1] == 1).all())
    t_warp, t_gen = nets.build("teacher", TINY)
    warp, gen = nets.build("student", TINY)
    torch.manual_seed(0)
    _, _, visuals = student_step(warp, gen, batch, L.LossWeights(), "e2e", (t_warp.eval(), t_gen.eval()))
    torch.manual_seed(0)
    fake, fake_edge = make_fakes(t_warp, t_gen, batch)
    keep = torch.maximum(batch["matte"], fake_edge) * batch["frame"]
    bg = torch.tensor(APP_BACKGROUND).view(1, 3, 1, 1)
    # off the person and off the new garment, and past the photo's edge, the student sees the
    # app's colour, as in the app; on them, the tutor's fake
    off = keep == 0
    assert off.float().mean() > 0.1
    assert torch.allclose(visuals["fake"] * off, bg.expand_as(fake) * off, atol=1e-6)
    assert torch.allclose(visuals["fake"] * (keep == 1), fake * (keep == 1), atol=1e-6)
    assert not torch.allclose(fake * off, bg.expand_as(fake) * off, atol=1e-2)
    # and a short run trains with it
    teacher = str(tmp_path / "teacher")
    _train("teacher", viton, teacher, "--steps", "1")
    args = ("--steps", "2", "--teacher", teacher, "--matte-dir", folder, "--matte-p", "0.5", "--cut-p", "0.3")
    assert _train("student", viton, str(tmp_path / "student"), *args)["step"] == 2


def test_the_student_learns_to_dress_the_apps_input_as_the_photo_as_it_was(viton, tmp_path):
    folder = _mattes(viton, str(tmp_path / "mattes"))
    ds = VitonDataset(VitonSource(viton), "train", SIZE, augment=True, other_garment=True, matte_dir=folder, matte_p=1.0, cut_p=0.5, originals=True)
    batch = collate([ds[i] for i in (1, 2)])
    # the photo as it was, flipped and jittered as the photo the network gets
    assert torch.allclose(batch["person"], on_app_background(batch["person_orig"], batch["matte"]), atol=1e-6)
    assert not torch.allclose(batch["person"], batch["person_orig"], atol=1e-2)
    t_warp, t_gen = nets.build("teacher", TINY)
    teacher = (t_warp.eval(), t_gen.eval())
    warp, gen = nets.build("student", TINY)
    on = L.LossWeights(consistency=5.0)
    loss_off, parts_off, _ = student_step(warp, gen, batch, L.LossWeights(), "e2e", teacher)
    loss_on, parts_on, _ = student_step(warp, gen, batch, on, "e2e", teacher)
    assert "consistency_l1" not in parts_off and float(parts_on["consistency_l1"]) > 0
    assert float(loss_on) > float(loss_off)
    # a person left as they were (no app background) is its own target: nothing to learn
    same = dict(batch, matte=torch.ones_like(batch["matte"]), frame=torch.ones_like(batch["frame"]), person=batch["person_orig"])
    _, parts_same, _ = student_step(warp, gen, same, on, "e2e", teacher)
    assert "consistency_l1" not in parts_same
    # the try-ons compared are the app's (no real garment region): the same input on both sides agrees
    fake_orig, _ = make_fakes(t_warp, t_gen, batch, person="person_orig")
    clothes, edge = batch["cloth"] * batch["cloth_mask"], batch["cloth_mask"]
    assert float(consistency_loss(warp, gen, batch, fake_orig, clothes, edge, *_student_outputs(warp, gen, fake_orig, batch), {})) < 1e-5
    # the photo as it was is a fixed target: the gradient reaches the app's input only
    fake_app = _visuals_fake(warp, gen, batch, teacher).requires_grad_(True)
    fake_orig = fake_orig.clone().requires_grad_(True)
    consistency_loss(warp, gen, batch, fake_orig, clothes, edge, *_student_outputs(warp, gen, fake_app, batch), {}).backward()
    assert fake_orig.grad is None and float(fake_app.grad.abs().sum()) > 0
    # and a short run trains with it; without mattes it is refused
    teacher_run = str(tmp_path / "teacher")
    _train("teacher", viton, teacher_run, "--steps", "1")
    args = ("--steps", "2", "--teacher", teacher_run, "--matte-dir", folder, "--matte-p", "1", "--cut-p", "0.3", "--consistency", "5")
    assert _train("student", viton, str(tmp_path / "student"), *args)["step"] == 2
    logged = [json.loads(x) for x in open(os.path.join(tmp_path, "student", "log.jsonl"))]
    assert [x["step"] for x in logged] == [1, 2] and all(x["consistency_l1"] > 0 for x in logged)
    with pytest.raises(SystemExit):
        _train("student", viton, str(tmp_path / "student2"), "--steps", "1", "--teacher", teacher_run, "--consistency", "5")


def _visuals_fake(warp, gen, batch, teacher):
    """The student's input on the app's background, as ``student_step`` makes it."""
    with torch.no_grad():
        return student_step(warp, gen, batch, L.LossWeights(), "e2e", teacher)[2]["fake"].detach().clone()


def _student_outputs(warp, gen, fake, batch):
    """The student's warp output and generator output for ``fake``, as ``student_step`` has them."""
    clothes, edge = batch["cloth"] * batch["cloth_mask"], batch["cloth_mask"]
    out = warp_forward(warp, fake, clothes, edge)
    return out, gen(torch.cat([fake, out.warped, out.warped_edge], dim=1))


def test_teacher_input_hides_the_worn_garment(viton):
    b = _batch(viton, (128, 96))
    cond = person.teacher_cond(b["parse"], b["pose"])
    assert cond.shape == (2, person.TEACHER_COND_CHANNELS, 128, 96) == (2, 23, 128, 96)
    assert cond.min() >= 0 and cond.max() <= 1
    region = person.garment_mask(b["parse"])
    assert region.sum() > 100
    # the kept-region channels (head, lower body, hands) are empty on the garment
    assert (cond[:, 0:3] * region).sum() == 0
    # the person's pixels never enter the warp input, and the garment's pixels never
    # enter the generator input: repainting the garment region changes neither
    repainted = b["person"] * (1 - region) + torch.rand_like(b["person"]) * region
    warped, edge = torch.zeros_like(b["cloth"]), torch.zeros_like(b["cloth_mask"])
    gen_a = person.teacher_gen_input(b["person"], b["parse"], b["pose"], warped, edge, region)
    gen_b = person.teacher_gen_input(repainted, b["parse"], b["pose"], warped, edge, region)
    assert gen_a.shape[1] == person.TEACHER_GEN_CHANNELS == 8
    assert torch.equal(gen_a, gen_b)
    assert (gen_a[:, 0:3].abs() * region).sum() == 0
    # the face is kept, as is
    face = person.label_mask(b["parse"], (13,))
    assert torch.equal(gen_a[:, 0:3] * face, b["person"] * face)
    # skin to paint: arms outside the garment
    assert (gen_a[:, 7:8] * region).sum() == 0 and gen_a[:, 7:8].sum() > 0


def test_warp_forward_matches_the_reference():
    torch.manual_seed(0)
    model = AFWM(23, TINY.widths, TINY.fpn_dim, TINY.head_widths).eval()
    cond = torch.rand(2, 23, 64, 64)
    clothes = torch.rand(2, 3, 64, 64) * 2 - 1
    edge = (torch.rand(2, 1, 64, 64) > 0.5).float()
    with torch.no_grad():
        warped, flow = model(cond, clothes)
        out = warp_forward(model, cond, clothes, edge)
    torch.testing.assert_close(out.warped, warped, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.flow, flow, atol=1e-6, rtol=0)
    assert [tuple(f.shape[-2:]) for f in out.level_flows] == [(4, 4), (8, 8), (16, 16), (32, 32), (64, 64)]
    assert [tuple(c.shape) for c in out.cond_features][0] == (2, TINY.fpn_dim, 2, 2)
    assert len(out.offsets) == 10 and out.level_edges[-1].shape == (2, 1, 64, 64)


# ----------------------------------------------------------------------------- losses


def test_ssim_sanity():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 24) * 2 - 1
    assert abs(float(L.ssim(x, x)) - 1.0) < 1e-5
    assert abs(float(L.ssim(x[:, :, :5, :4], x[:, :, :5, :4])) - 1.0) < 1e-5  # tiny maps work
    noisy = (x + 0.3 * torch.randn_like(x)).clamp(-1, 1)
    s = float(L.ssim(x, noisy))
    assert 0 < s < 0.9
    assert abs(s - float(L.ssim(noisy, x))) < 1e-6
    assert float(L.ssim(x, torch.zeros_like(x))) < 0.05  # no structure at all
    assert float(L.perceptual_loss(x, x)) < 1e-5
    y = x.clone().requires_grad_(True)
    L.perceptual_loss(y, noisy).backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    assert float(L.psnr(x, noisy).mean()) < float(L.psnr(x, (x + 0.01).clamp(-1, 1)).mean())


def test_second_order_smoothness_is_zero_on_affine_flows():
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 16), torch.linspace(-1, 1, 12), indexing="ij")
    affine = torch.stack([0.9 * xs + 0.1 * ys, ys + 0.05], 0)[None]
    bent = torch.stack([xs + 0.3 * ys**2, ys], 0)[None]
    eps_floor = float(L.second_order_smoothness(affine))
    assert eps_floor < 2 * (1e-6) ** 0.45 * 2
    assert float(L.second_order_smoothness(bent)) > eps_floor


# ----------------------------------------------------------------------------- optimisation


def _optimise(step_fn, modules, steps=12, lr=2e-3):
    params = [p for m in modules for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))
    values = []
    for _ in range(steps):
        loss, parts, _ = step_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        values.append(float(loss.detach()))
    return values


def test_teacher_loss_goes_down(viton):
    torch.manual_seed(0)
    batch = _batch(viton)
    warp, gen = nets.build("teacher", TINY)
    values = _optimise(lambda: teacher_step(warp, gen, batch, L.LossWeights(), "e2e"), (warp, gen))
    assert all(torch.isfinite(torch.tensor(values)))
    assert sum(values[-3:]) / 3 < 0.9 * sum(values[:3]) / 3, values


def test_student_loss_goes_down_with_tutor_and_distillation(viton):
    torch.manual_seed(0)
    batch = _batch(viton, other_garment=True)
    t_warp, t_gen = nets.build("teacher", TINY)
    teacher = (t_warp.eval(), t_gen.eval())
    widths = nets.Widths(TINY.widths, 8, TINY.head_widths, TINY.ngf)  # narrower pyramid: adapters
    warp, gen = nets.build("student", widths)
    adapters = L.FeatureAdapters(8, TINY.fpn_dim)
    parts_seen = {}

    def step():
        loss, parts, visuals = student_step(warp, gen, batch, L.LossWeights(), "e2e", teacher, adapters)
        parts_seen.update(parts)
        assert visuals["fake"].shape == (2, 3, 64, 64)
        return loss, parts, visuals

    values = _optimise(step, (warp, gen, adapters))
    assert {"kd_feature", "kd_flow", "kd_fraction", "gen_l1"} <= set(parts_seen)
    assert sum(values[-3:]) / 3 < 0.9 * sum(values[:3]) / 3, values
    # the teacher is not trained by the student's loss
    assert all(p.grad is None for p in t_warp.parameters())


def test_warp_stage_trains_the_warp_module_only(viton):
    batch = _batch(viton)
    warp, gen = nets.build("teacher", TINY)
    loss, parts, _ = teacher_step(warp, gen, batch, L.LossWeights(), "warp")
    loss.backward()
    assert all(p.grad is None for p in gen.parameters())
    assert "gen" not in parts and parts["warp"] > 0


# ----------------------------------------------------------------------------- scripts


def _train(kind, viton, run, *extra):
    return train_script.main(
        [kind, "--data", viton, "--run", run, "--preset", "tiny", "--size", "64x64", "--batch-size", "2", "--workers", "0", "--log-every", "1", "--no-mkldnn", *extra]
    )


def test_training_resumes_in_budgeted_chunks(viton, tmp_path):
    run = str(tmp_path / "teacher")
    first = _train("teacher", viton, run, "--steps", "2")
    assert first["step"] == 2 and first["reason"] == "steps"
    assert os.path.isfile(os.path.join(run, "checkpoint.pt")) and os.path.isfile(os.path.join(run, "sample.jpg"))
    # resume, at another resolution, into split checkpoint files
    second = _train("teacher", viton, run, "--resume", "--steps", "3", "--size", "128x96", "--max-file-mib", "0.5")
    assert second["step"] == 3 and second["steps_this_run"] == 1
    assert not os.path.exists(os.path.join(run, "checkpoint.pt")) and len(second["checkpoint"]) > 1
    # a tiny budget: one step, then a clean save and exit
    third = _train("teacher", viton, run, "--resume", "--steps", "100", "--max-minutes", "0.0001")
    assert third["reason"] == "budget" and third["step"] == 4
    state = nets.load_checkpoint(run)
    assert state["step"] == 4 and state["kind"] == "teacher" and len(state["history"]) == 3
    assert [seg["size"] for seg in state["history"]] == [[64, 64], [128, 96], [64, 64]]
    lines = open(os.path.join(run, "log.jsonl")).read().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2, 3, 4]
    # resume from a carried copy into a new folder, without optimizer state
    carried = str(tmp_path / "carried.pt")
    import ckpt

    ckpt.slim(run, carried, "fp16", "none", 0)
    fourth = _train("teacher", viton, str(tmp_path / "elsewhere"), "--resume", carried, "--steps", "5")
    assert fourth["step"] == 5


def test_weight_average_is_kept_resumed_and_used_for_inference(viton, tmp_path):
    run = str(tmp_path / "teacher")
    _train("teacher", viton, run, "--steps", "3", "--ema", "0.5", "--lr", "1e-2")
    state = nets.load_checkpoint(run)
    ema = state["ema"]
    assert ema["steps"] == 3 and ema["decay"] == 0.5
    # the average lags the weights
    name = next(k for k, v in state["warp"].items() if v.is_floating_point() and v.numel() > 16)
    assert not torch.equal(ema["warp"][name], state["warp"][name])
    # evaluation and export load the average
    warp, _ = nets.models_from_checkpoint(state, "teacher")
    assert torch.equal(warp.state_dict()[name], ema["warp"][name].float())
    # a resumed run goes on from the saved average: avg = 0.5 * saved + 0.5 * weights
    saved = ema["warp"][name].clone()
    _train("teacher", viton, run, "--resume", "--steps", "4", "--ema", "0.5", "--lr", "1e-2")
    resumed = nets.load_checkpoint(run)
    assert resumed["ema"]["steps"] == 4
    expected = 0.5 * saved + 0.5 * resumed["warp"][name].float()
    assert torch.allclose(resumed["ema"]["warp"][name], expected, atol=1e-6)
    # without --ema, a checkpoint has none and its own weights are used
    plain = str(tmp_path / "plain")
    _train("teacher", viton, plain, "--steps", "1")
    assert nets.load_checkpoint(plain)["ema"] is None


def test_student_pipeline_fakes_export_evaluate(viton, tmp_path):
    teacher = str(tmp_path / "teacher")
    _train("teacher", viton, teacher, "--steps", "1")
    fakes = str(tmp_path / "fakes")
    index = make_fakes_script.main(
        ["--data", viton, "--teacher", teacher, "--out", fakes, "--size", "64x64", "--per-person", "2", "--workers", "0", "--batch-size", "4"]
    )
    assert len(index["persons"]) == 12 and os.path.getsize(os.path.join(fakes, "fakes.npy")) > 12 * 64 * 64 * 4
    student = str(tmp_path / "student")
    # cached fakes, distillation from the teacher, student initialised from it
    summary = _train("student", viton, student, "--steps", "2", "--teacher", teacher, "--fakes", fakes, "--init-from-teacher")
    assert summary["step"] == 2
    # on-the-fly fakes
    summary = _train("student", viton, student, "--resume", "--steps", "3", "--teacher", teacher)
    assert summary["step"] == 3

    bundle = str(tmp_path / "bundle")
    info = export_script.main(["--checkpoint", student, "--out", bundle, "--name", "test model"])
    warp_state = load_file(os.path.join(bundle, "warp.safetensors"))
    gen_state = load_file(os.path.join(bundle, "gen.safetensors"))
    fresh_warp = AFWM(3, TINY.widths, TINY.fpn_dim, TINY.head_widths).state_dict()
    fresh_gen = ResUnetGenerator(7, 4, 5, ngf=TINY.ngf).state_dict()
    assert list(warp_state) and set(warp_state) == set(fresh_warp)
    assert set(gen_state) == set(fresh_gen)
    for state, fresh in ((warp_state, fresh_warp), (gen_state, fresh_gen)):
        for key, tensor in state.items():
            assert tensor.shape == fresh[key].shape, key
            expected = torch.int64 if key.endswith("num_batches_tracked") else torch.float32
            assert tensor.dtype == expected, key
    assert "cond_features.encoders.0.0.block.0.running_mean" in warp_state
    # BatchNorm statistics travel: 3 student steps (+1 copied from the 1-step teacher)
    assert int(warp_state["cond_features.encoders.0.0.block.0.num_batches_tracked"]) == 4
    assert not torch.equal(warp_state["image_features.encoders.0.0.block.0.running_var"], torch.ones(3))
    meta = json.load(open(os.path.join(bundle, "model.json")))
    assert meta["name"] == "test model" and meta["training"]["steps"] == 3
    assert meta["widths"]["widths"] == list(TINY.widths) and meta["data"]["pairs"] == 6 and meta["date"]
    assert info["parameters"]["warp"] == sum(v.numel() for k, v in fresh_warp.items() if "running" not in k and "num_batches" not in k)

    metrics = evaluate_script.main(
        ["--data", viton, "--model", bundle, "--teacher", teacher, "--out", str(tmp_path / "eval"), "--size", "64x64", "--grid", "2", "--device", "cpu"]
    )
    assert 0 <= metrics["warp_iou"] <= 1 and -1 <= metrics["tutor_ssim"] <= 1 and metrics["persons"] == 3
    assert 0 <= metrics["tutor_skin_l1"] <= 255 and 0 <= metrics["old_garment_l1"] <= 255
    assert os.path.isfile(tmp_path / "eval" / "grid.jpg") and os.path.isfile(tmp_path / "eval" / "metrics.json")


def test_skin_error_counts_only_what_the_fake_covered_outside_the_real_garment():
    """``tutor_skin_l1``: the try-on's error where the fake's garment hid the arms (the skin
    region), in levels; errors on the real garment or outside the fake's garment do not count."""
    real = torch.zeros(1, 3, 4, 4)
    tryon = real.clone()
    fake_edge = torch.zeros(1, 1, 4, 4)
    fake_edge[..., :2, :] = 1.0  # the fake's garment: the top half
    garment = torch.zeros(1, 1, 4, 4)
    garment[..., :, :2] = 1.0  # the real garment: the left half
    # 10 levels off in the skin region (top right), 100 everywhere else.
    tryon += 100 / 127.5
    tryon[..., :2, 2:] = 10 / 127.5
    error, pixels = evaluate_script.skin_error_sum(tryon, real, fake_edge, garment)
    assert pixels == 4
    assert error / pixels == pytest.approx(10.0, abs=1e-3)
    # One channel wrong by 30 levels there: a third of it, averaged over the channels.
    tryon = real.clone()
    tryon[:, 0, :2, 2:] = 30 / 127.5
    error, _ = evaluate_script.skin_error_sum(tryon, real, fake_edge, garment)
    assert error / pixels == pytest.approx(10.0, abs=1e-3)


def test_losses_survive_bfloat16_autocast(viton):
    """The AMP path (--amp bf16 on CUDA), checked with CPU autocast: SSIM and flow
    smoothness stay in float32, grids stay exact, losses stay close to float32."""
    torch.manual_seed(0)
    batch = _batch(viton, other_garment=True)
    t_warp, t_gen = nets.build("teacher", TINY)
    teacher = (t_warp.eval(), t_gen.eval())
    warp, gen = nets.build("student", TINY)
    w = L.LossWeights()
    reference = [float(teacher_step(t_warp, t_gen, batch, w)[0]), float(student_step(warp, gen, batch, w, "e2e", teacher)[0])]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = [float(teacher_step(t_warp, t_gen, batch, w)[0]), float(student_step(warp, gen, batch, w, "e2e", teacher)[0])]
    for a, b in zip(reference, mixed):
        assert abs(a - b) < 0.05 * abs(a), (reference, mixed)


# ----------------------------------------------------------------------------- resident data, held-out slice


def test_resident_batches_match_the_loader(viton):
    from frtrain.resident import ResidentData, _jitter

    ds = VitonDataset(VitonSource(viton), "train", SIZE)
    res = ResidentData(ds, torch.device("cpu"))
    keys = [3, 7, 2]  # key = epoch * len + index
    got = res.batch(keys)
    want = collate([ds[k] for k in keys])
    for key in ("person", "cloth", "cloth_mask", "parse", "pose"):
        assert torch.allclose(got[key].float(), want[key].float(), atol=1e-6), key
    assert got["index"].tolist() == [k % len(ds) for k in keys]
    # the flip and the jitter do what data.flip_sample and ColorJitter.apply do
    samples = [ds.load_pair(*ds.pairs[i]) for i in range(2)]
    plain = collate(samples)
    flipped = {k: v.clone() for k, v in plain.items()}
    res._flip(flipped, torch.tensor([True, False]))
    flip_sample(samples[0], ("person", "cloth", "cloth_mask"))
    for key in ("person", "cloth", "cloth_mask", "parse", "pose"):
        assert torch.equal(flipped[key][0], samples[0][key]), key
        assert torch.equal(flipped[key][1], plain[key][1]), key
    factors = torch.tensor([[1.08, 0.93, 1.05], [0.95, 1.02, 0.9]])
    jittered = _jitter(plain["person"], factors)
    for i in range(2):
        assert torch.allclose(jittered[i], ColorJitter.apply(plain["person"][i], tuple(factors[i].tolist())), atol=1e-6)
    # augmented student batches: other garments are never the own one, and vary with the key
    res = ResidentData(VitonDataset(VitonSource(viton), "train", SIZE, augment=True), torch.device("cpu"), other_garment=True)
    batch = res.batch(list(range(12)))
    assert (batch["index_un"] != batch["index"]).all()
    assert not torch.equal(res.batch([0, 1])["person"], res.batch([6, 7])["person"])


def test_resident_training_and_held_out_slice(viton, tmp_path):
    teacher = str(tmp_path / "teacher")
    out = _train("teacher", viton, teacher, "--steps", "2", "--resident", "--holdout", "2")
    assert out["step"] == 2 and nets.load_checkpoint(teacher)["data"]["pairs"] == 4
    student = str(tmp_path / "student")
    out = _train("student", viton, student, "--steps", "2", "--resident", "--holdout", "2", "--teacher", teacher)
    assert out["step"] == 2
    metrics = evaluate_script.main(
        ["--data", viton, "--checkpoint", student, "--teacher", teacher, "--out", str(tmp_path / "eval"), "--size", "64x64", "--grid", "0", "--holdout", "2"]
    )
    assert metrics["persons"] == 2 and metrics["split"].startswith("train") and 0 <= metrics["warp_iou"] <= 1
    with pytest.raises(ValueError, match="holdout"):
        _train("teacher", viton, teacher, "--steps", "2", "--holdout", "6")


def test_device_run_script_on_a_cpu(viton, tmp_path):
    """training/device_run.sh with a tiny budget on a CPU: teacher and student continue from
    the carried checkpoints and come back in files of at most 15 MiB."""
    import subprocess

    carry = tmp_path / "carry"
    carry.mkdir()
    pack_data.pack(viton, str(carry / "viton.zip"), 0, include_val=False, holdout=2)
    _train("teacher", viton, str(carry / "teacher"), "--steps", "1")
    _train("student", viton, str(tmp_path / "s"), "--steps", "1", "--teacher", str(carry / "teacher"))
    export_script.export(str(tmp_path / "s"), str(tmp_path / "bundle"), "tiny")
    out = tmp_path / "out"
    env = dict(os.environ, DEVICE="cpu", TEACHER_MINUTES="0.001", STUDENT_MINUTES="0.001", SIZE="64x64", BATCH="2", WORKERS="0",
               STUDENT_BUNDLE=str(tmp_path / "bundle"), PYTHON=sys.executable, OMP_NUM_THREADS="1")
    subprocess.run(["bash", os.path.join(TRAINING, "device_run.sh"), str(carry), str(out)], env=env, check=True, capture_output=True)
    teacher, student = nets.load_checkpoint(str(out / "teacher")), nets.load_checkpoint(str(out / "student"))
    assert teacher["step"] == 2 and teacher["optimizer"] is None and teacher["data"]["pairs"] == 4
    # the bundle's step 1, then one more on the "device"
    assert student["step"] == 2 and student["init"] == {"bundle": "bundle"} and student["teacher"]["step"] == 2
    assert student["history"][0]["end_step"] == 1 and student["history"][-1]["amp"] == ("bf16" if loop.cpu_has_bf16() else "none")
    files = [out / run / f for run in ("teacher", "student") for f in os.listdir(out / run)]
    assert len(files) <= 8 and all(os.path.getsize(f) <= 15 * 2**20 for f in files)


def test_campaign_selects_on_the_held_out_slice_and_exports(viton, tmp_path):
    import campaign
    import shutil

    work = tmp_path / "work"
    _train("teacher", viton, str(work / "teacher"), "--steps", "1", "--holdout", "2")
    _train("student", viton, str(work / "student"), "--steps", "1", "--holdout", "2", "--teacher", str(work / "teacher"))
    shipped = tmp_path / "shipped"
    export_script.export(str(work / "student"), str(shipped), "tiny")
    common = ["--data", viton, "--work", str(work), "--holdout", "2", "--model", str(shipped)]
    first = campaign.main(["select", *common])
    assert first["best"] and first["teacher_step"] == 1 and first["student_step"] == 1
    # the same weights as the shipped model: the same held-out score, so not promoted
    assert abs(first["score"] - first["shipped_score"]) < 1e-9
    # no training since: the last score stands, nothing is scored or logged again
    assert campaign.main(["select", *common]) == first
    assert len(open(work / "selection.jsonl").read().splitlines()) == 1
    assert nets.load_checkpoint(str(work / "student-best"))["optimizer"] is None
    promote = ["promote", "--work", str(work), "--model", str(shipped), "--fixture", str(tmp_path / "fixture")]
    assert campaign.main(promote) is False and not (tmp_path / "fixture").exists()
    _train("student", viton, str(work / "student"), "--resume", "--steps", "3", "--holdout", "2", "--teacher", str(work / "teacher"))
    campaign.main(["select", *common])
    lines = [json.loads(x) for x in open(work / "selection.jsonl").read().splitlines()]
    best = json.load(open(work / "best.json"))
    assert len(lines) == 2 and lines[1]["student_step"] == 3
    assert best["score"] == max(x["score"] for x in lines) and best["shipped_score"] == first["shipped_score"]
    # a best student that beats the shipped one replaces it, and its parity fixture is made again
    best["shipped_score"] = best["score"] - 0.1
    json.dump(best, open(work / "best.json", "w"))
    assert campaign.main(promote) is True
    shipped_info = json.load(open(shipped / "model.json"))
    assert shipped_info["training"]["steps"] == best["student_step"]
    assert json.load(open(tmp_path / "fixture" / "source.json"))
    # the teacher, exported for committing: float16, no optimizer state, resumable
    out = tmp_path / "weights" / "teacher.pt"
    campaign.main(["export-teacher", "--work", str(work), "--out", str(out)])
    state = nets.load_checkpoint(str(out))
    assert state["optimizer"] is None and state["step"] == 1
    assert state["args"]["run"] == "teacher" and str(tmp_path) not in json.dumps(state["args"])
    assert all(v.dtype == torch.float16 for v in state["warp"].values() if v.is_floating_point())
    shutil.rmtree(work / "teacher")
    resumed = _train("teacher", viton, str(work / "teacher"), "--resume", str(out), "--steps", "2", "--holdout", "2")
    assert resumed["step"] == 2


def test_curves_plot_draws_each_series(tmp_path):
    import numpy as np
    import plot_curves
    from PIL import Image

    (tmp_path / "teacher").mkdir()
    with open(tmp_path / "teacher" / "log.jsonl", "w") as f:
        for step in range(1, 40):
            f.write(json.dumps({"step": step, "loss": 20.0 / step, "warp_ssim": 0.4 + step / 100}) + "\n")
    with open(tmp_path / "selection.jsonl", "w") as f:
        for step in (100, 200):
            f.write(json.dumps({"student_step": step, "score": 0.7 + step / 1000, "shipped_score": 0.73}) + "\n")
    out = tmp_path / "curves.png"
    plot_curves.plot(str(tmp_path), str(out))
    image = Image.open(out).convert("RGB")
    w, h = image.size
    colours = lambda box: set(map(tuple, np.asarray(image.crop(box)).reshape(-1, 3).tolist()))  # noqa: E731
    assert (200, 40, 40) in colours((0, 0, w // 2, h // 2))  # teacher loss drawn
    assert (40, 40, 200) not in colours((0, h // 2, w // 2, h))  # no student log: nothing drawn
    assert {(40, 40, 200), (150, 150, 150)} <= colours((w // 2, h // 2, w, h))  # held-out scores
    # a run restarted from step 3 replaces the discarded one's steps 3-5
    with open(tmp_path / "restarted.jsonl", "w") as f:
        for step, loss in ((1, 9), (2, 8), (3, 7), (4, 6), (5, 5), (3, 17), (4, 16)):
            f.write(json.dumps({"step": step, "loss": loss}) + "\n")
    assert plot_curves._read(str(tmp_path / "restarted.jsonl"), "loss") == [(1, 9), (2, 8), (3, 17), (4, 16)]


def test_channels_last_training_gives_the_same_losses(viton, tmp_path):
    runs = {}
    for name, extra in (("plain", ()), ("cl", ("--channels-last",))):
        _train("teacher", viton, str(tmp_path / name), "--steps", "2", "--no-augment", *extra)
        runs[name] = [json.loads(x)["loss"] for x in open(tmp_path / name / "log.jsonl")]
    assert len(runs["cl"]) == 2 and runs["cl"] == pytest.approx(runs["plain"], rel=1e-3)
    state = nets.load_checkpoint(str(tmp_path / "cl"))
    assert all(v.is_contiguous() for v in state["warp"].values())


def test_campaign_chain_runs_every_stage_and_restarts_from_committed_weights(viton, tmp_path):
    """training/campaign.sh with one step per stage: teacher 128x96 and 256x192, student 128x96
    and 256x192 from the shipped bundle, a selection after each student chunk; then, with its
    run folders lost, the teacher restarts from the committed weights."""
    import subprocess

    import campaign

    _train("teacher", viton, str(tmp_path / "t"), "--steps", "1")
    _train("student", viton, str(tmp_path / "s"), "--steps", "1", "--teacher", str(tmp_path / "t"))  # the "shipped" one
    export_script.export(str(tmp_path / "s"), str(tmp_path / "shipped"), "tiny")
    work = tmp_path / "work"
    env = dict(os.environ, PYTHON=sys.executable, PRESET="tiny", HOLDOUT="2", TEACHER_STEPS="1", TEACHER_FT_STEPS="1", STUDENT_STEPS="1",
               STUDENT_FT_STEPS="1", AMP="none", COMMITTED_TEACHER=str(tmp_path / "weights" / "teacher.pt"),
               COMMITTED_STUDENT=str(tmp_path / "shipped"), OMP_NUM_THREADS="1", TRAIN_ARGS="--no-mkldnn --workers 0")
    script = os.path.join(TRAINING, "campaign.sh")
    subprocess.run(["bash", script, viton, str(work)], env=env, check=True, capture_output=True)
    teacher, student = nets.load_checkpoint(str(work / "teacher")), nets.load_checkpoint(str(work / "student"))
    assert teacher["step"] == 2 and [seg["size"] for seg in teacher["history"]] == [[128, 96], [256, 192]]
    assert student["step"] == 2 and student["init"] == {"bundle": "shipped"} and student["teacher"]["step"] == 2
    # The shipped student's training goes on (its step 1 is past the 128x96 stage's target): its
    # segments lead the history, and only the 256x192 stage trained.
    shipped_segments = json.load(open(tmp_path / "shipped" / "model.json"))["training"]["segments"]
    assert [{k: seg.get(k) for k in shipped_segments[0]} for seg in student["history"][:1]] == shipped_segments
    assert [seg["size"] for seg in student["history"][1:] if seg["end_step"] > seg["start_step"]] == [[256, 192]]
    assert len(open(work / "selection.jsonl").read().splitlines()) == 2
    campaign.main(["export-teacher", "--work", str(work), "--out", env["COMMITTED_TEACHER"]])
    import shutil

    shutil.rmtree(work)
    env.update(TEACHER_FT_STEPS="2", STAGES="teacher")
    subprocess.run(["bash", script, viton, str(work)], env=env, check=True, capture_output=True)
    assert nets.load_checkpoint(str(work / "teacher"))["step"] == 3  # 2 from the committed weights, then 1 more
    assert not (work / "student").exists()


def test_an_old_garment_is_painted_down_the_arms_and_below_the_hem_only(viton, tmp_path):
    from frtrain import old_garment

    size = (256, 192)
    ds = VitonDataset(VitonSource(viton), "train", size, other_garment=True, old_garment_p=1.0)
    batch = collate([ds[i] for i in range(4)])
    assert batch["old_garment"].shape == (4, 3) and bool((batch["old_garment"] > 0).any(1).all())
    parse, pose = batch["parse"], batch["pose"]
    fake, fake_edge = batch["person"], person.garment_mask(parse)  # the photo stands in for the tutor's fake
    arms = ((parse == 14) | (parse == 15)).unsqueeze(1)
    lower = ((parse == 9) | (parse == 12)).unsqueeze(1)
    ys, xs = torch.meshgrid(torch.arange(size[0]), torch.arange(size[1]), indexing="ij")

    def near(i, k, radius):  # (1,H,W): within ``radius`` pixels of keypoint k of sample i
        x, y = pose[i, k, :2]
        return ((xs - x) ** 2 + (ys - y) ** 2 < radius**2).unsqueeze(0)

    short = old_garment.region(torch.tensor([[0.3, 0.3, 0.0]] * 4), parse, pose, fake_edge)
    long = old_garment.region(torch.tensor([[0.9, 0.9, 0.0]] * 4), parse, pose, fake_edge)
    for i in range(4):
        for shoulder, elbow, wrist in old_garment.ARMS:
            # a short sleeve stops before the elbow, a long one covers it; neither the hand
            assert not bool((short[i] > 0)[near(i, elbow, 4) & arms[i]].any())
            assert bool((long[i] > 0)[near(i, elbow, 4) & arms[i]].all())
            assert not bool((long[i] > 0)[near(i, wrist, 12) & arms[i] & (ys > pose[i, wrist, 1]).unsqueeze(0)].any())
    assert bool(((long > 0) <= arms).all()) and long.sum() > short.sum() > 0
    # the hem: trousers below the garment's lowest row in each column, within the band
    hem = old_garment.region(torch.tensor([[0.0, 0.0, 0.1]] * 4), parse, pose, fake_edge)
    assert bool(((hem > 0) <= lower).all()) and hem.sum() > 0
    rows = ys.unsqueeze(0).unsqueeze(0).expand_as(hem)
    bottom = torch.where(fake_edge > 0.5, rows, torch.full_like(rows, -1)).amax(2, keepdim=True)
    assert bool(((rows[hem > 0] - bottom.expand_as(hem)[hem > 0]) <= round(0.1 * size[0])).all())
    assert bool((rows[hem > 0] > bottom.expand_as(hem)[hem > 0]).all())
    # painting: the fake changes only there, in the other garment's colours, and its mask grows by it
    batch["old_garment"] = torch.tensor([[0.9, 0.9, 0.1]] * 4)
    painted, edge = old_garment.paint(fake, fake_edge, batch)
    where = old_garment.region(batch["old_garment"], parse, pose, fake_edge) > 0
    assert torch.equal(painted * ~where, fake * ~where)
    assert not torch.allclose(painted * where, fake * where, atol=0.05)
    assert torch.equal(edge, torch.maximum(fake_edge, where.float()))
    garment_colour = (batch["cloth_un"] * batch["cloth_mask_un"]).sum((2, 3)) / batch["cloth_mask_un"].sum((2, 3))
    painted_colour = (painted * where).sum((2, 3)) / where.sum((2, 3))
    skin_colour = (fake * where).sum((2, 3)) / where.sum((2, 3))
    assert bool(((painted_colour - garment_colour).abs().mean(1) < (skin_colour - garment_colour).abs().mean(1)).all())
    # nothing asked for, nothing painted; and the parameters are drawn as documented
    batch["old_garment"] = torch.zeros(4, 3)
    assert old_garment.paint(fake, fake_edge, batch)[0] is fake
    import random

    rng = random.Random(0)
    draws = torch.stack([old_garment.draw(rng, 0.5) for _ in range(400)])
    some = (draws > 0).any(1)
    assert 150 < int(some.sum()) < 250 and bool((draws[:, :2] <= 0.95).all())
    assert bool(((draws[some, 0] > 0) | (draws[some, 2] > 0)).all())
    with pytest.raises(ValueError, match="other_garment"):
        VitonDataset(VitonSource(viton), "train", size, old_garment_p=0.5)
    # and a short student run trains with it
    teacher = str(tmp_path / "teacher")
    _train("teacher", viton, teacher, "--steps", "1")
    assert _train("student", viton, str(tmp_path / "student"), "--steps", "2", "--teacher", teacher, "--old-garment-p", "0.5")["step"] == 2
