"""Write the small checkpoint fixtures used by tests/weights_formats.rs.

Run from the repository root with a Python that has torch and safetensors:

    python training/make_format_fixtures.py

It is deterministic: the tensors come from fixed formulas and a seeded
generator, so rerunning it rewrites the same values and expected.json. The
legacy files still differ byte-wise between runs because their storage keys are
memory addresses; the tests do not depend on those keys.

Files written into tests/fixtures/formats/:

* sd.safetensors             the dict, contiguous copies (safetensors cannot hold views)
* sd_zip.pth                 torch.save default zip format, archive prefix "sd_zip"
* sd_zip_archive.pth         same, saved through a BytesIO so the prefix is "archive",
                             pickle protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL, ...)
* sd_legacy.pth              torch.save(..., _use_new_zipfile_serialization=False)
* sd_legacy_cuda.pth         legacy format whose storages claim location 'cuda:0'
* sd_legacy_p4.pth           legacy format written with pickle protocol 4
* wrapped_zip.pth            {"state_dict": {"module.<key>": ...}, "epoch": 3}: the
                             loader unwraps "state_dict" and strips "module."; the inner
                             OrderedDict carries `_metadata` like a real
                             nn.Module.state_dict(), which pickles as a BUILD opcode
* expected.json              for every key: dtype the Rust loader yields (f32/i64/u8),
                             shape, and the row-major values

How the 'cuda:0' file is produced without a GPU: the legacy writer asks
torch.serialization.location_tag(storage) for each storage's location string and
stores it in the persistent id. We temporarily replace that function with one
returning "cuda:0" while saving CPU tensors, so the file is byte-for-byte what a
CUDA machine would write for the location field (the data itself is always
written from host memory).
"""

import io
import json
import os
from collections import OrderedDict

import torch
import torch.serialization
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "formats")


def build_state_dict():
    g = torch.Generator().manual_seed(1234)
    sd = OrderedDict()
    # Plain contiguous float tensors of several ranks.
    sd["conv.weight"] = torch.randn(2, 3, 3, 3, generator=g)
    sd["conv.bias"] = torch.randn(2, generator=g)
    sd["fc.weight"] = torch.randn(3, 4, generator=g)
    sd["scale"] = torch.tensor(0.5)  # 0-dim float
    # 0-dim int64 like BatchNorm's num_batches_tracked.
    sd["bn.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    sd["bn.running_mean"] = torch.linspace(-1.0, 1.0, 5)

    # One storage, several views: transposed (non-contiguous), a flat slice with
    # a storage offset, and a strided slice with both an offset and odd strides.
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.25 - 1.5
    sd["base"] = base
    sd["transposed"] = base.t()
    sd["sliced"] = base.view(-1)[5:17]
    sd["strided"] = base[1:, 1::2]

    # Two views sharing one storage that is not itself in the dict.
    strip = torch.randn(10, generator=g)
    sd["view_a"] = strip[:4]
    sd["view_b"] = strip[4:].view(2, 3)

    # Other dtypes.
    sd["half"] = (torch.arange(6, dtype=torch.float32) * 0.125 - 0.3).to(torch.float16).reshape(2, 3)
    sd["bfloat"] = torch.tensor([1.5, -2.25, 3.0e-3], dtype=torch.bfloat16)
    sd["double"] = torch.tensor([[1.0 / 3.0, -2.5e-7], [1e10, 0.1]], dtype=torch.float64)
    sd["int32"] = torch.tensor([-3, 0, 2_000_000_000], dtype=torch.int32)
    sd["uint8"] = torch.tensor([0, 7, 255], dtype=torch.uint8)
    sd["mask"] = torch.tensor([True, False, True])
    sd["empty"] = torch.zeros(0, 3)
    return sd


def out_dtype(t):
    if t.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        return "f32"
    if t.dtype in (torch.uint8, torch.bool):
        return "u8"
    return "i64"


def expected(sd):
    result = {}
    for k, t in sd.items():
        kind = out_dtype(t)
        if kind == "f32":
            # Round to f32 exactly as the loader does; json keeps the double exactly.
            vals = [float(v) for v in t.to(torch.float32).reshape(-1).tolist()]
        else:
            vals = [int(v) for v in t.to(torch.int64).reshape(-1).tolist()]
        result[k] = {"dtype": kind, "shape": list(t.shape), "values": vals}
    return result


def save_legacy(obj, path, location=None, protocol=2):
    if location is None:
        torch.save(obj, path, _use_new_zipfile_serialization=False, pickle_protocol=protocol)
        return
    original = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: location
    try:
        torch.save(obj, path, _use_new_zipfile_serialization=False, pickle_protocol=protocol)
    finally:
        torch.serialization.location_tag = original


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = build_state_dict()

    # safetensors cannot hold views or shared storage: save contiguous copies.
    save_file({k: t.contiguous().clone() for k, t in sd.items()}, os.path.join(OUT, "sd.safetensors"))

    torch.save(sd, os.path.join(OUT, "sd_zip.pth"))
    buf = io.BytesIO()
    torch.save(sd, buf, pickle_protocol=4)
    with open(os.path.join(OUT, "sd_zip_archive.pth"), "wb") as f:
        f.write(buf.getvalue())

    save_legacy(sd, os.path.join(OUT, "sd_legacy.pth"))
    save_legacy(sd, os.path.join(OUT, "sd_legacy_cuda.pth"), location="cuda:0")
    save_legacy(sd, os.path.join(OUT, "sd_legacy_p4.pth"), protocol=4)

    inner = OrderedDict(("module." + k, v) for k, v in sd.items())
    inner._metadata = OrderedDict([("", {"version": 1}), ("module", {"version": 1})])
    wrapped = {"state_dict": inner, "epoch": 3}
    torch.save(wrapped, os.path.join(OUT, "wrapped_zip.pth"))

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected(sd), f, indent=1, sort_keys=True)
        f.write("\n")

    # Sanity: torch itself reads back what we wrote.
    names = ["sd_zip.pth", "sd_zip_archive.pth", "sd_legacy.pth", "sd_legacy_cuda.pth", "sd_legacy_p4.pth"]
    for name in names:
        # weights_only=False: our own file, and the safe unpickler lacks FRAME in legacy
        # files. map_location: the 'cuda:0' file needs it on a machine without a GPU.
        back = torch.load(os.path.join(OUT, name), weights_only=False, map_location="cpu")
        for k, t in sd.items():
            assert torch.equal(back[k], t), (name, k)


if __name__ == "__main__":
    main()
