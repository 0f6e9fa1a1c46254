#!/usr/bin/env python3
"""Run the warp ops' CUDA kernels (src/engine/ops/warp_kernels.cu) on the CPU, against the op
fixtures (tests/fixtures/model/ops.safetensors, written by PyTorch).

    python3 .ci/warp-kernels-on-cpu.py

The kernels' source is compiled as plain C++ with a few definitions standing in for CUDA's
(thread indices, the rounding intrinsics), and every thread of the launch runs in a loop. This
checks their arithmetic and indexing where no GPU is: a batch of two, both paddings, a grid
leaving the image, a non-finite coordinate. The GPU itself runs them in .ci/device-check.sh.
Needs a C++ compiler, numpy and safetensors.
"""

import ctypes
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(REPO, "src", "engine", "ops", "warp_kernels.cu")
THREADS = 256

SHIM = r"""
#include <math.h>
#include <cmath>
using std::isfinite;
using std::isnan;
struct Dim3 { unsigned x, y, z; };
static Dim3 blockIdx, blockDim, threadIdx;
#define __global__
#define __fmul_rn(a, b) ((a) * (b))
#define __fadd_rn(a, b) ((a) + (b))
#define __fdiv_rn(a, b) ((a) / (b))
#include SOURCE_PATH

static void each_thread(long long threads, void (*body)(void *), void *ctx) {
    blockDim = {THREADS, 1, 1};
    long long blocks = (threads + THREADS - 1) / THREADS;
    for (long long b = 0; b < blocks; ++b)
        for (unsigned t = 0; t < THREADS; ++t) {
            blockIdx = {(unsigned)b, 0, 0};
            threadIdx = {t, 0, 0};
            body(ctx);
        }
}

struct GridArgs { const float *input, *grid; float *out; int n, c, h, w, ho, wo, border; };
static void grid_body(void *p) {
    GridArgs *a = (GridArgs *)p;
    grid_sample_f32(a->input, a->grid, a->out, a->n, a->c, a->h, a->w, a->ho, a->wo, a->border);
}
extern "C" void run_grid_sample(const float *input, const float *grid, float *out, int n, int c,
                                int h, int w, int ho, int wo, int border) {
    GridArgs a = {input, grid, out, n, c, h, w, ho, wo, border};
    each_thread((long long)n * ho * wo, grid_body, &a);
}

struct CorrArgs { const float *first, *second; float *out; int n, c, h, w; };
static void corr_body(void *p) {
    CorrArgs *a = (CorrArgs *)p;
    correlation_f32(a->first, a->second, a->out, a->n, a->c, a->h, a->w);
}
extern "C" void run_correlation(const float *first, const float *second, float *out, int n,
                                int c, int h, int w) {
    CorrArgs a = {first, second, out, n, c, h, w};
    each_thread((long long)n * h * w, corr_body, &a);
}
"""


def build(folder: str) -> ctypes.CDLL:
    shim = os.path.join(folder, "shim.cpp")
    with open(shim, "w") as f:
        f.write(SHIM)
    lib = os.path.join(folder, "kernels.so")
    cxx = os.environ.get("CXX", "c++")
    subprocess.run(
        [cxx, "-x", "c++", "-std=c++17", "-O1", "-ffp-contract=off", "-shared", "-fPIC",
         f'-DSOURCE_PATH="{SOURCE}"', f"-DTHREADS={THREADS}", "-o", lib, shim],
        check=True,
    )
    return ctypes.CDLL(lib)


def ptr(a: np.ndarray):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def grid_sample(lib, x: np.ndarray, grid: np.ndarray, border: bool) -> np.ndarray:
    x, grid = np.ascontiguousarray(x, np.float32), np.ascontiguousarray(grid, np.float32)
    n, c, h, w = x.shape
    _, ho, wo, _ = grid.shape
    out = np.full((n, c, ho, wo), np.nan, np.float32)  # NaN shows a position never written
    lib.run_grid_sample(ptr(x), ptr(grid), ptr(out), n, c, h, w, ho, wo, int(border))
    return out


def correlation(lib, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    first, second = np.ascontiguousarray(first, np.float32), np.ascontiguousarray(second, np.float32)
    n, c, h, w = first.shape
    out = np.full((n, 49, h, w), np.nan, np.float32)
    lib.run_correlation(ptr(first), ptr(second), ptr(out), n, c, h, w)
    return out


def check(name: str, actual: np.ndarray, expected: np.ndarray, tol: float = 1e-5) -> bool:
    ok = actual.shape == expected.shape and bool(np.isfinite(actual).all())
    diff = float(np.abs(actual - expected).max()) if ok else float("inf")
    ok = ok and diff <= tol
    print(f"{name:<40} max abs diff {diff:.2e} (tol {tol:.0e}) {'ok' if ok else 'OFF'}")
    return ok


def main() -> int:
    ops = load_file(os.path.join(REPO, "tests", "fixtures", "model", "ops.safetensors"))
    results = []
    with tempfile.TemporaryDirectory() as folder:
        lib = build(folder)
        x, grid = ops["grid_sample.input"], ops["grid_sample.grid"]
        for border, key in ((True, "grid_sample.border"), (False, "grid_sample.zeros")):
            results.append(check(key, grid_sample(lib, x, grid, border), ops[key]))
            # A batch of two: the second item is the first, mirrored, with its own grid.
            x2 = np.concatenate([x, x[..., ::-1]])
            g2 = np.concatenate([grid, grid[:, ::-1]])
            expected = np.concatenate([ops[key], grid_sample(lib, x[..., ::-1], grid[:, ::-1], border)])
            results.append(check(f"{key}, batch of 2", grid_sample(lib, x2, g2, border), expected))
        # Far outside and non-finite coordinates: the border clamps (NaN to 0), zeros reads 0.
        odd = np.array([[[[5.0, -7.0], [np.nan, 0.0], [np.inf, 0.5], [-1.0, -1.0]]]], np.float32)
        border = grid_sample(lib, x, odd, True)
        zeros = grid_sample(lib, x, odd, False)
        h, w = x.shape[2:]
        assert h == 9, "the fixture's rows: y = 0 maps to row 4, y = 0.5 to row 6"
        expected_border = np.stack(
            [x[0, :, 0, w - 1], x[0, :, 4, 0], x[0, :, 6, w - 1], x[0, :, 0, 0]], -1
        )[None, :, None, :]
        results.append(check("grid_sample, odd coordinates, border", border, expected_border))
        expected_zeros = np.zeros_like(zeros)
        expected_zeros[0, :, 0, 3] = x[0, :, 0, 0]  # (-1, -1) is exactly the first pixel
        results.append(check("grid_sample, odd coordinates, zeros", zeros, expected_zeros))

        first, second = ops["correlation.first"], ops["correlation.second"]
        results.append(check("correlation", correlation(lib, first, second), ops["correlation.out"]))
        f2 = np.concatenate([first, second])
        s2 = np.concatenate([second, first])
        expected = np.concatenate([ops["correlation.out"], correlation(lib, second, first)])
        results.append(check("correlation, batch of 2", correlation(lib, f2, s2), expected))
    ok = all(results)
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
