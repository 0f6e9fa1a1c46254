// CUDA kernels of the warp ops, compiled at run time by NVRTC (src/engine/ops/cuda.rs). They
// compute exactly what the CPU kernels in grid_sample.rs and correlation.rs compute, in the same
// order, so both paths meet the same parity tolerances. Plain C: NVRTC has no system headers.

// Bilinear sampling, align_corners=True. One thread per output position (batch, row, column);
// the four taps are found once and applied to every channel.
// input (n, c, h, w), grid (n, ho, wo, 2) with x first, out (n, c, ho, wo); all contiguous.
extern "C" __global__ void grid_sample_f32(const float *input, const float *grid, float *out,
                                           int n, int c, int h, int w, int ho, int wo,
                                           int border) {
    long long plane_out = (long long)ho * wo;
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)n * plane_out) return;
    long long b = idx / plane_out;
    long long p = idx - b * plane_out;
    float gx = grid[idx * 2];
    float gy = grid[idx * 2 + 1];
    float max_x = (float)(w - 1);
    float max_y = (float)(h - 1);
    float x = __fmul_rn(__fdiv_rn(__fadd_rn(gx, 1.0f), 2.0f), max_x);
    float y = __fmul_rn(__fdiv_rn(__fadd_rn(gy, 1.0f), 2.0f), max_y);
    long long plane_in = (long long)h * w;
    const float *src = input + b * c * plane_in;
    float *dst = out + b * c * plane_out + p;
    if (border) {
        // NaN clamps to 0, like torch's clip_coordinates.
        x = isnan(x) ? 0.0f : fminf(fmaxf(x, 0.0f), max_x);
        y = isnan(y) ? 0.0f : fminf(fmaxf(y, 0.0f), max_y);
    } else if (!isfinite(x) || !isfinite(y)) {
        for (int ch = 0; ch < c; ++ch) dst[ch * plane_out] = 0.0f;
        return;
    }
    float x0 = floorf(x);
    float y0 = floorf(y);
    float fx = x - x0;
    float fy = y - y0;
    float cx[4] = {x0, x0 + 1.0f, x0, x0 + 1.0f};
    float cy[4] = {y0, y0, y0 + 1.0f, y0 + 1.0f};
    float wt[4] = {__fmul_rn(1.0f - fx, 1.0f - fy), __fmul_rn(fx, 1.0f - fy),
                   __fmul_rn(1.0f - fx, fy), __fmul_rn(fx, fy)};
    long long at[4];
    for (int k = 0; k < 4; ++k) {
        if (cx[k] >= 0.0f && cy[k] >= 0.0f && cx[k] <= max_x && cy[k] <= max_y) {
            at[k] = (long long)cy[k] * w + (long long)cx[k];
        } else {
            at[k] = 0;
            wt[k] = 0.0f;
        }
    }
    for (int ch = 0; ch < c; ++ch) {
        const float *s = src + ch * plane_in;
        float v = __fmul_rn(s[at[0]], wt[0]);
        v = __fadd_rn(v, __fmul_rn(s[at[1]], wt[1]));
        v = __fadd_rn(v, __fmul_rn(s[at[2]], wt[2]));
        v = __fadd_rn(v, __fmul_rn(s[at[3]], wt[3]));
        dst[ch * plane_out] = v;
    }
}

#define MAX_DISPLACEMENT 3
#define SIDE (2 * MAX_DISPLACEMENT + 1)

// PWC correlation: out[b, (dy + 3) * 7 + (dx + 3), y, x] is the channel mean of
// first[b, ch, y, x] * second[b, ch, y + dy, x + dx], reads outside the map being 0. One thread
// per position keeps the 49 sums in registers and reads first[.., y, x] once per channel.
extern "C" __global__ void correlation_f32(const float *first, const float *second, float *out,
                                           int n, int c, int h, int w) {
    long long plane = (long long)h * w;
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)n * plane) return;
    long long b = idx / plane;
    long long p = idx - b * plane;
    int y = (int)(p / w);
    int x = (int)(p - (long long)y * w);
    float acc[SIDE * SIDE];
#pragma unroll
    for (int k = 0; k < SIDE * SIDE; ++k) acc[k] = 0.0f;
    const float *f = first + b * c * plane;
    const float *s = second + b * c * plane;
    for (int ch = 0; ch < c; ++ch) {
        float a = f[ch * plane + p];
        const float *sc = s + ch * plane;
#pragma unroll
        for (int dy = -MAX_DISPLACEMENT; dy <= MAX_DISPLACEMENT; ++dy) {
            int sy = y + dy;
            if (sy < 0 || sy >= h) continue;
#pragma unroll
            for (int dx = -MAX_DISPLACEMENT; dx <= MAX_DISPLACEMENT; ++dx) {
                int sx = x + dx;
                if (sx < 0 || sx >= w) continue;
                int k = (dy + MAX_DISPLACEMENT) * SIDE + (dx + MAX_DISPLACEMENT);
                acc[k] = __fadd_rn(acc[k], __fmul_rn(a, sc[(long long)sy * w + sx]));
            }
        }
    }
    float scale = 1.0f / (float)c;
    float *o = out + b * SIDE * SIDE * plane + p;
#pragma unroll
    for (int k = 0; k < SIDE * SIDE; ++k) o[k * plane] = __fmul_rn(acc[k], scale);
}
