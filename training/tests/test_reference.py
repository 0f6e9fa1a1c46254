"""Self-tests of the PF-AFN reference against naive, loop-based definitions.

Run from the repository root: ``python -m pytest training/tests``.
"""

import itertools
import math
import os

import pytest
import torch

from pfafn import AFWM, ResUnetGenerator, ops, tryon

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO_ROOT, "tests", "fixtures", "model")


# ---------------------------------------------------------------- naive ops


def naive_grid_sample(x, grid, padding_mode):
    """Bilinear sampling, align_corners=True, one output pixel at a time."""
    n, c, h, w = x.shape
    _, ho, wo, _ = grid.shape
    out = torch.zeros(n, c, ho, wo, dtype=torch.float64)
    x = x.double()

    def tap(b, yy, xx):
        if 0 <= yy < h and 0 <= xx < w:
            return x[b, :, yy, xx]
        return torch.zeros(c, dtype=torch.float64)  # only reached with zeros padding

    for b, i, j in itertools.product(range(n), range(ho), range(wo)):
        px = (float(grid[b, i, j, 0]) + 1) / 2 * (w - 1)
        py = (float(grid[b, i, j, 1]) + 1) / 2 * (h - 1)
        if padding_mode == "border":
            px = min(max(px, 0.0), w - 1.0)
            py = min(max(py, 0.0), h - 1.0)
        x0, y0 = math.floor(px), math.floor(py)
        fx, fy = px - x0, py - y0
        out[b, :, i, j] = (
            tap(b, y0, x0) * (1 - fx) * (1 - fy)
            + tap(b, y0, x0 + 1) * fx * (1 - fy)
            + tap(b, y0 + 1, x0) * (1 - fx) * fy
            + tap(b, y0 + 1, x0 + 1) * fx * fy
        )
    return out


def naive_correlation(first, second, d=3):
    n, c, h, w = first.shape
    out = torch.zeros(n, (2 * d + 1) ** 2, h, w, dtype=torch.float64)
    for dy, dx in itertools.product(range(-d, d + 1), range(-d, d + 1)):
        ch = (dy + d) * (2 * d + 1) + (dx + d)
        for y, x in itertools.product(range(h), range(w)):
            if 0 <= y + dy < h and 0 <= x + dx < w:
                out[:, ch, y, x] = (first[:, :, y, x].double() * second[:, :, y + dy, x + dx].double()).sum(1) / c
    return out


def naive_upsample_bilinear(x):
    """x2, align_corners=False: src = (dst + 0.5) / 2 - 0.5, clamped at 0."""
    n, c, h, w = x.shape
    out = torch.zeros(n, c, 2 * h, 2 * w, dtype=torch.float64)
    for i, j in itertools.product(range(2 * h), range(2 * w)):
        sy, sx = max((i + 0.5) / 2 - 0.5, 0.0), max((j + 0.5) / 2 - 0.5, 0.0)
        y0, x0 = int(sy), int(sx)
        y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
        fy, fx = sy - y0, sx - x0
        out[:, :, i, j] = (
            x[:, :, y0, x0] * (1 - fy) * (1 - fx)
            + x[:, :, y0, x1] * (1 - fy) * fx
            + x[:, :, y1, x0] * fy * (1 - fx)
            + x[:, :, y1, x1] * fy * fx
        )
    return out


# ---------------------------------------------------------------- op tests


@pytest.mark.parametrize("padding_mode", ["border", "zeros"])
def test_grid_sample_matches_naive_bilinear(padding_mode):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 7, generator=gen)
    grid = torch.rand(2, 4, 6, 2, generator=gen) * 2.6 - 1.3
    grid[0, 0, :, 0] = 1.0
    grid[0, 1, :, 1] = -1.0
    got = ops.grid_sample(x, grid, padding_mode)
    torch.testing.assert_close(got.double(), naive_grid_sample(x, grid, padding_mode), atol=1e-5, rtol=0)


def test_grid_sample_identity_reproduces_input():
    x = torch.randn(1, 4, 6, 5)
    grid = ops.identity_grid(6, 5)
    torch.testing.assert_close(ops.grid_sample(x, grid, "border"), x, atol=1e-6, rtol=0)
    torch.testing.assert_close(ops.grid_sample(x, grid, "zeros"), x, atol=1e-6, rtol=0)


def test_apply_offset_definition():
    gen = torch.Generator().manual_seed(1)
    offset = torch.randn(1, 2, 4, 6, generator=gen)
    grid = ops.apply_offset(offset)
    assert grid.shape == (1, 4, 6, 2)
    for y, x in itertools.product(range(4), range(6)):
        expect_x = (x + offset[0, 0, y, x]) / 2.5 - 1
        expect_y = (y + offset[0, 1, y, x]) / 1.5 - 1
        assert abs(float(grid[0, y, x, 0] - expect_x)) < 1e-6
        assert abs(float(grid[0, y, x, 1] - expect_y)) < 1e-6
    identity = ops.identity_grid(4, 6)
    assert float(identity[0, 0, 0, 0]) == -1.0 and float(identity[0, -1, -1, 1]) == 1.0


def test_apply_offset_moves_sampling_by_pixels():
    """An offset of +1 px in x samples the right-hand neighbour."""
    x = torch.arange(20.0).view(1, 1, 4, 5)
    offset = torch.zeros(1, 2, 4, 5)
    offset[:, 0] = 1.0
    shifted = ops.grid_sample(x, ops.apply_offset(offset), "border")
    torch.testing.assert_close(shifted[..., :-1], x[..., 1:], atol=1e-5, rtol=0)
    torch.testing.assert_close(shifted[..., -1], x[..., -1], atol=1e-5, rtol=0)  # clamped at the border


def test_correlation_matches_naive_loop():
    gen = torch.Generator().manual_seed(2)
    first = torch.randn(2, 5, 6, 7, generator=gen)
    second = torch.randn(2, 5, 6, 7, generator=gen)
    got = ops.correlation(first, second)
    assert got.shape == (2, 49, 6, 7)
    torch.testing.assert_close(got.double(), naive_correlation(first, second), atol=1e-5, rtol=0)


def test_correlation_channel_order():
    """Channel (dy+3)*7+(dx+3) compares first[y,x] with second[y+dy,x+dx]."""
    first = torch.zeros(1, 1, 9, 9)
    second = torch.zeros(1, 1, 9, 9)
    first[0, 0, 4, 4] = 1.0
    second[0, 0, 4 + 2, 4 - 1] = 3.0  # dy = 2, dx = -1
    out = ops.correlation(first, second)
    channel = (2 + 3) * 7 + (-1 + 3)
    assert float(out[0, channel, 4, 4]) == 3.0
    assert float(out.abs().sum()) == 3.0


def test_upsample_flow_matches_naive():
    x = torch.randn(1, 2, 4, 3)
    torch.testing.assert_close(ops.upsample_flow(x).double(), naive_upsample_bilinear(x.double()), atol=1e-6, rtol=0)


def test_upsample_nearest():
    x = torch.randn(1, 3, 4, 3)
    out = ops.upsample_nearest(x)
    for i, j in itertools.product(range(8), range(6)):
        assert torch.equal(out[0, :, i, j], x[0, :, i // 2, j // 2])


# ---------------------------------------------------------------- models


def test_official_key_names_and_sizes():
    warp = AFWM()
    state = warp.state_dict()
    for key, shape in {
        "image_features.encoders.0.0.block.0.weight": (3,),
        "image_features.encoders.0.0.block.2.weight": (64, 3, 3, 3),
        "cond_features.encoders.4.2.block.5.weight": (256, 256, 3, 3),
        "image_FPN.adaptive.0.weight": (256, 256, 1, 1),
        "image_FPN.adaptive.4.weight": (256, 64, 1, 1),
        "cond_FPN.smooth.0.bias": (256,),
        "aflow_net.netMain.0.0.weight": (128, 49, 3, 3),
        "aflow_net.netRefine.4.0.weight": (128, 512, 3, 3),
        "aflow_net.netRefine.4.6.bias": (2,),
    }.items():
        assert tuple(state[key].shape) == shape, key
    assert sum(p.numel() for p in warp.parameters()) == 29_304_416  # 29.30 M, as the official model

    gen = ResUnetGenerator(7, 4, 5, ngf=64)
    state = gen.state_dict()
    for key, shape in {
        "model.model.0.weight": (64, 7, 3, 3),
        "model.model.2.block.1.running_var": (64,),
        "model.model.4.model.0.weight": (128, 64, 3, 3),
        "model.model.4.model.1.weight": (128,),
        "model.model.4.model.5.model.5.model.5.model.0.weight": (512, 512, 3, 3),
        "model.model.4.model.5.model.5.model.5.model.5.weight": (512, 512, 3, 3),
        "model.model.4.model.7.weight": (64, 256, 3, 3),
        "model.model.6.weight": (4, 128, 3, 3),
    }.items():
        assert tuple(state[key].shape) == shape, key
    conv_weights = [k for k, v in state.items() if v.dim() == 4]
    assert not any(k[: -len("weight")] + "bias" in state for k in conv_weights)  # no conv has a bias
    assert sum(p.numel() for p in gen.parameters()) == 43_899_968  # 43.90 M, as the official model


def test_small_tryon_shapes_and_ranges():
    torch.manual_seed(0)
    warp = AFWM(3, (4, 8, 8, 8, 8), 8, (8, 4, 4)).eval()
    gen = ResUnetGenerator(7, 4, 5, ngf=2).eval()
    person = torch.rand(1, 3, 256, 192) * 2 - 1
    clothes = torch.rand(1, 3, 256, 192) * 2 - 1
    edge = (torch.rand(1, 1, 256, 192) > 0.5).float()
    with torch.no_grad():
        out = tryon(warp, gen, person, clothes, edge)
        warped, flow, trace = warp.forward_with_intermediates(person, clothes * edge)
    assert torch.equal(warped, out["warped_cloth"]) and torch.equal(flow, out["last_flow"])
    assert out["last_flow"].shape == (1, 2, 256, 192)
    assert out["m_composite"].min() >= 0 and out["m_composite"].max() <= 1
    for level, (h, w) in enumerate([(8, 6), (16, 12), (32, 24), (64, 48), (128, 96)]):
        assert trace[f"corr.{level}"].shape == (1, 49, h, w)
        assert trace[f"flow_main.{level}"].shape == (1, 2, h, w)
        assert trace[f"flow_refine.{level}"].shape == (1, 2, h, w)
        assert trace[f"cond_pyramid.{4 - level}"].shape == (1, 8, h, w)


# ---------------------------------------------------------------- committed fixtures


@pytest.mark.skipif(not os.path.exists(os.path.join(FIXTURES, "reference.safetensors")), reason="fixtures not generated")
def test_committed_fixtures_reproduce():
    """The committed small model, run on the committed PNGs, gives reference.safetensors."""
    from PIL import Image
    from safetensors.torch import load_file

    from pfafn.images import mask_to_tensor, rgb_to_tensor

    ref = load_file(os.path.join(FIXTURES, "reference.safetensors"))
    warp_state = load_file(os.path.join(FIXTURES, "warp.safetensors"))
    gen_state = load_file(os.path.join(FIXTURES, "gen.safetensors"))
    widths = tuple(warp_state[f"image_features.encoders.{i}.0.block.2.weight"].shape[0] for i in range(5))
    fpn_dim = warp_state["image_FPN.smooth.0.weight"].shape[0]
    heads = tuple(warp_state[f"aflow_net.netMain.0.{i}.weight"].shape[0] for i in (0, 2, 4))
    ngf = gen_state["model.model.0.weight"].shape[0]
    warp = AFWM(3, widths, fpn_dim, heads).eval()
    gen = ResUnetGenerator(7, 4, 5, ngf=ngf).eval()
    warp.load_state_dict(warp_state)
    gen.load_state_dict(gen_state)

    person = rgb_to_tensor(Image.open(os.path.join(FIXTURES, "person.png")))
    clothes = rgb_to_tensor(Image.open(os.path.join(FIXTURES, "garment.png")))
    edge = mask_to_tensor(Image.open(os.path.join(FIXTURES, "garment_mask.png")))
    for name, tensor in (("person", person), ("clothes", clothes), ("edge", edge)):
        assert torch.equal(tensor, ref[name]), name
    with torch.no_grad():
        out = tryon(warp, gen, person, clothes, edge)
        _, _, trace = warp.forward_with_intermediates(person, clothes * edge)
    computed = {**out, **trace}
    # make_fixtures.py leaves out the finest pyramid level and the two finest correlations
    # (they would double the file; the finer flows, which depend on them, check them instead).
    omitted = {"cond_pyramid.0", "image_pyramid.0", "corr.3", "corr.4"}
    assert set(computed) - set(ref) == omitted
    for name, tensor in computed.items():
        if name in omitted:
            continue
        torch.testing.assert_close(tensor, ref[name], atol=5e-4, rtol=1e-4, msg=name)


@pytest.mark.skipif(not os.path.exists(os.path.join(FIXTURES, "ops.safetensors")), reason="fixtures not generated")
def test_committed_ops_cases():
    """ops.safetensors agrees with the reference ops and with the naive loops."""
    import torch.nn.functional as F
    from safetensors.torch import load_file

    c = load_file(os.path.join(FIXTURES, "ops.safetensors"))
    grid = c["grid_sample.grid"]
    assert (grid.abs() > 1).any() and (grid.abs() < 1).any() and (grid.abs() == 1).any()
    for mode in ("border", "zeros"):
        torch.testing.assert_close(c[f"grid_sample.{mode}"], ops.grid_sample(c["grid_sample.input"], grid, mode), atol=0, rtol=0)
        torch.testing.assert_close(
            c[f"grid_sample.{mode}"].double(), naive_grid_sample(c["grid_sample.input"], grid, mode), atol=1e-5, rtol=0
        )
    torch.testing.assert_close(
        c["correlation.out"].double(), naive_correlation(c["correlation.first"], c["correlation.second"]), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(c["apply_offset.grid"], ops.apply_offset(c["apply_offset.offset"]), atol=0, rtol=0)
    torch.testing.assert_close(
        c["upsample_bilinear.out"].double(), naive_upsample_bilinear(c["upsample_bilinear.input"].double()), atol=1e-6, rtol=0
    )
    torch.testing.assert_close(c["upsample_nearest.out"], ops.upsample_nearest(c["upsample_nearest.input"]), atol=0, rtol=0)
    x = c["conv.input"]
    torch.testing.assert_close(c["conv3x3s1.out"], F.conv2d(x, c["conv3x3s1.weight"], c["conv3x3s1.bias"], padding=1))
    torch.testing.assert_close(c["conv3x3s2.out"], F.conv2d(x, c["conv3x3s2.weight"], None, stride=2, padding=1))
    torch.testing.assert_close(c["conv1x1.out"], F.conv2d(x, c["conv1x1.weight"], c["conv1x1.bias"]))
