//! The tensor ops the person graphs need beyond candle's own, in NCHW.
//!
//! On the CPU, the hot ops have direct kernels; other devices run the same graph from plain
//! tensor ops (the `*_generic` functions, also tested against the kernels on the CPU). Measured
//! on the CPU against candle's own ops on these shapes (16x128x128 maps): a grouped convolution
//! runs one convolution per channel (far too slow for MobileNet-style blocks), `clamp` and
//! broadcast adds take the strided path (5 ms and 0.8 ms where a contiguous pass takes 0.03 ms),
//! a 3x3 conv2d took 16 ms where im2col plus one matrix product takes a fraction, and bilinear
//! resizing through `index_select` took 40 ms.

use crate::engine::ops::cpu::slice as f32_slice;
use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor,
};
use rayon::prelude::*;

/// A fused activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    None,
    Relu,
    Relu6,
    /// x * relu6(x + 3) / 6 (TFLite's HARD_SWISH op, treated as an activation).
    HardSwish,
}

impl Act {
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        if self == Act::None {
            return Ok(x.clone());
        }
        if is_cpu_f32(x) {
            return x.contiguous()?.apply_op1_no_bwd(&ActCpu(self));
        }
        self.apply_generic(x)
    }

    /// The activation from candle's contiguous-friendly ops (relu and affine).
    pub fn apply_generic(self, x: &Tensor) -> Result<Tensor> {
        let relu6 = |x: &Tensor| -> Result<Tensor> { x.relu()? - x.affine(1.0, -6.0)?.relu()? };
        match self {
            Act::None => Ok(x.clone()),
            Act::Relu => x.relu(),
            Act::Relu6 => relu6(x),
            Act::HardSwish => x.mul(&relu6(&x.affine(1.0, 3.0)?)?.affine(1.0 / 6.0, 0.0)?),
        }
    }

    #[inline]
    fn scalar(self, v: f32) -> f32 {
        match self {
            Act::None => v,
            Act::Relu => v.max(0.0),
            Act::Relu6 => v.clamp(0.0, 6.0),
            Act::HardSwish => v * (v + 3.0).clamp(0.0, 6.0) / 6.0,
        }
    }
}

fn is_cpu_f32(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32
}

struct ActCpu(Act);

impl CustomOp1 for ActCpu {
    fn name(&self) -> &'static str {
        "person-act"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let v = f32_slice(s, l, "activation")?;
        let out = v.iter().map(|&x| self.0.scalar(x)).collect();
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

/// `act(a + b)` for two tensors of one shape (residual additions).
pub fn add_act(a: &Tensor, b: &Tensor, act: Act) -> Result<Tensor> {
    if is_cpu_f32(a) && a.dims() == b.dims() {
        return a
            .contiguous()?
            .apply_op2_no_bwd(&b.contiguous()?, &AddActCpu(act));
    }
    act.apply(&a.broadcast_add(b)?)
}

struct AddActCpu(Act);

impl CustomOp2 for AddActCpu {
    fn name(&self) -> &'static str {
        "person-add-act"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let a = f32_slice(s1, l1, "add")?;
        let b = f32_slice(s2, l2, "add")?;
        let mut out = vec![0f32; a.len()];
        const CHUNK: usize = 1 << 14;
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
            .for_each(|(dst, (a, b))| {
                for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
                    *d = self.0.scalar(x + y);
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `act(x + bias)` with the bias (C) broadcast over an NCHW tensor.
pub fn bias_act(x: &Tensor, bias: &Tensor, act: Act) -> Result<Tensor> {
    if is_cpu_f32(x) {
        return x.contiguous()?.apply_op2_no_bwd(bias, &BiasActCpu(act));
    }
    act.apply_generic(&x.broadcast_add(&bias.reshape((1, (), 1, 1))?)?)
}

struct BiasActCpu(Act);

impl CustomOp2 for BiasActCpu {
    fn name(&self) -> &'static str {
        "person-bias-act"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(xs, xl, "bias")?;
        let b = f32_slice(bs, bl, "bias")?;
        let (_, c, h, w) = xl.shape().dims4()?;
        if b.len() != c {
            candle_core::bail!("bias has {} values for {c} channels", b.len());
        }
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(h * w)
            .zip(x.par_chunks(h * w))
            .enumerate()
            .for_each(|(plane, (dst, src))| {
                let bias = b[plane % c];
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = self.0.scalar(v + bias);
                }
            });
        Ok((CpuStorage::F32(out), xl.shape().clone()))
    }
}

/// Explicit zero padding of the two spatial dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pads {
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

/// Zero-pads the spatial dimensions of an NCHW tensor.
pub fn pad(x: &Tensor, p: Pads) -> Result<Tensor> {
    let mut y = x.clone();
    if p.top > 0 || p.bottom > 0 {
        y = y.pad_with_zeros(2, p.top, p.bottom)?;
    }
    if p.left > 0 || p.right > 0 {
        y = y.pad_with_zeros(3, p.left, p.right)?;
    }
    Ok(y)
}

/// A TFLite CONV_2D: `weight` is OIHW, padding already resolved.
pub fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: [usize; 2],
    dilation: [usize; 2],
    pads: Pads,
    act: Act,
) -> Result<Tensor> {
    let (o, i, kh, kw) = weight.dims4()?;
    let (n, c, h, w) = x.dims4()?;
    if c != i {
        candle_core::bail!("conv input has {c} channels, kernel {i}");
    }
    let y = if kh == 1 && kw == 1 && stride == [1, 1] && pads == Pads::default() {
        // A pointwise convolution is one matrix product.
        let w2 = weight.reshape((o, i))?;
        w2.broadcast_matmul(&x.reshape((n, c, h * w))?)?
            .reshape((n, o, h, w))?
    } else if is_cpu_f32(x) && dilation == [1, 1] {
        // im2col, then one matrix product.
        let oh = (h + pads.top + pads.bottom - kh) / stride[0] + 1;
        let ow = (w + pads.left + pads.right - kw) / stride[1] + 1;
        let cols = x.contiguous()?.apply_op1_no_bwd(&Im2ColCpu {
            kh,
            kw,
            stride,
            pads,
        })?;
        let w2 = weight.reshape((o, i * kh * kw))?;
        w2.broadcast_matmul(&cols)?.reshape((n, o, oh, ow))?
    } else {
        if stride[0] != stride[1] || dilation[0] != dilation[1] {
            candle_core::bail!("anisotropic convolution strides are not supported");
        }
        let symmetric = pads.top == pads.bottom && pads.left == pads.right && pads.top == pads.left;
        if symmetric {
            x.conv2d(weight, pads.top, stride[0], dilation[0], 1)?
        } else {
            pad(x, pads)?.conv2d(weight, 0, stride[0], dilation[0], 1)?
        }
    };
    match bias {
        Some(b) => bias_act(&y, b, act),
        None => act.apply(&y),
    }
}

/// Columns for a convolution: (N, C * KH * KW, OH * OW), row `(c * KH + i) * KW + j`, zero
/// outside the picture.
struct Im2ColCpu {
    kh: usize,
    kw: usize,
    stride: [usize; 2],
    pads: Pads,
}

impl CustomOp1 for Im2ColCpu {
    fn name(&self) -> &'static str {
        "person-im2col"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "im2col")?;
        let (n, c, h, w) = l.shape().dims4()?;
        let Self {
            kh,
            kw,
            stride: [sh, sw],
            pads,
        } = *self;
        let oh = (h + pads.top + pads.bottom - kh) / sh + 1;
        let ow = (w + pads.left + pads.right - kw) / sw + 1;
        let mut out = vec![0f32; n * c * kh * kw * oh * ow];
        out.par_chunks_mut(oh * ow)
            .enumerate()
            .for_each(|(row, dst)| {
                let (plane, tap) = (row / (kh * kw), row % (kh * kw));
                let (i, j) = (tap / kw, tap % kw);
                let src = &x[plane * h * w..(plane + 1) * h * w];
                for oy in 0..oh {
                    let iy = (oy * sh + i) as isize - pads.top as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let srow = &src[iy as usize * w..(iy as usize + 1) * w];
                    let drow = &mut dst[oy * ow..(oy + 1) * ow];
                    for (ox, d) in drow.iter_mut().enumerate() {
                        let ix = (ox * sw + j) as isize - pads.left as isize;
                        if ix >= 0 && ix < w as isize {
                            *d = srow[ix as usize];
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((n, c * kh * kw, oh * ow))))
    }
}

/// A TFLite DEPTHWISE_CONV_2D (multiplier 1): `weight` is (C, KH, KW), `bias` (C).
pub fn depthwise(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: [usize; 2],
    pads: Pads,
    act: Act,
) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        let x = x.contiguous()?;
        x.apply_op3_no_bwd(weight, bias, &DepthwiseCpu { stride, pads, act })
    } else {
        depthwise_generic(x, weight, bias, stride, pads, act)
    }
}

/// Depthwise convolution from slices, multiplies and adds: runs on any device.
pub fn depthwise_generic(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: [usize; 2],
    pads: Pads,
    act: Act,
) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (_, kh, kw) = weight.dims3()?;
    let hp = h + pads.top + pads.bottom;
    let wp = w + pads.left + pads.right;
    let oh = (hp - kh) / stride[0] + 1;
    let ow = (wp - kw) / stride[1] + 1;
    let xp = pad(x, pads)?;
    let mut acc = bias
        .reshape((1, c, 1, 1))?
        .broadcast_as((n, c, oh, ow))?
        .contiguous()?;
    for i in 0..kh {
        for j in 0..kw {
            // Rows i, i + s, ..., and the same for columns.
            let rows = strided(&xp, 2, i, oh, stride[0])?;
            let tap = strided(&rows, 3, j, ow, stride[1])?;
            let wij = weight
                .narrow(1, i, 1)?
                .narrow(2, j, 1)?
                .reshape((1, c, 1, 1))?;
            acc = (acc + tap.broadcast_mul(&wij)?)?;
        }
    }
    act.apply(&acc)
}

/// `count` indices `start, start + step, ...` of dimension `dim`.
fn strided(x: &Tensor, dim: usize, start: usize, count: usize, step: usize) -> Result<Tensor> {
    if step == 1 {
        return x.narrow(dim, start, count);
    }
    let idx: Vec<u32> = (0..count).map(|k| (start + k * step) as u32).collect();
    let idx = Tensor::new(idx.as_slice(), x.device())?;
    x.index_select(&idx, dim)
}

struct DepthwiseCpu {
    stride: [usize; 2],
    pads: Pads,
    act: Act,
}

impl CustomOp3 for DepthwiseCpu {
    fn name(&self) -> &'static str {
        "person-depthwise"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let xs = f32_slice(xs, xl, "depthwise")?;
        let ws = f32_slice(ws, wl, "depthwise")?;
        let bs = f32_slice(bs, bl, "depthwise")?;
        let (n, c, h, w) = xl.shape().dims4()?;
        let (_, kh, kw) = wl.shape().dims3()?;
        let Pads {
            top,
            left,
            bottom,
            right,
        } = self.pads;
        let [sh, sw] = self.stride;
        let oh = (h + top + bottom - kh) / sh + 1;
        let ow = (w + left + right - kw) / sw + 1;
        let geometry = DwGeometry {
            h,
            w,
            kh,
            kw,
            oh,
            ow,
            sh,
            sw,
            top,
            left,
        };
        #[cfg(target_arch = "x86_64")]
        let wide = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        #[cfg(not(target_arch = "x86_64"))]
        let wide = false;
        let mut out = vec![0f32; n * c * oh * ow];
        out.par_chunks_mut(oh * ow)
            .enumerate()
            .for_each(|(plane, dst)| {
                let ch = plane % c;
                let src = &xs[plane * h * w..(plane + 1) * h * w];
                let k = &ws[ch * kh * kw..(ch + 1) * kh * kw];
                if wide {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: the CPU has AVX2 and FMA (checked above).
                    unsafe {
                        dw_plane_avx2(&geometry, src, k, bs[ch], self.act, dst)
                    }
                } else {
                    dw_plane::<false>(&geometry, src, k, bs[ch], self.act, dst)
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((n, c, oh, ow))))
    }
}

struct DwGeometry {
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    sh: usize,
    sw: usize,
    top: usize,
    left: usize,
}

/// The plane kernel built for AVX2 with fused multiply-adds (8 lanes; the baseline build has
/// SSE2's 4 and no FMA): about 2x on the depthwise layers, the pose models' largest cost.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dw_plane_avx2(g: &DwGeometry, src: &[f32], k: &[f32], b: f32, act: Act, dst: &mut [f32]) {
    dw_plane::<true>(g, src, k, b, act, dst)
}

/// One output plane of a depthwise convolution: bias, taps, activation.
#[inline(always)]
fn dw_plane<const FMA: bool>(
    g: &DwGeometry,
    src: &[f32],
    k: &[f32],
    b: f32,
    act: Act,
    dst: &mut [f32],
) {
    let DwGeometry {
        h,
        w,
        kh,
        kw,
        oh,
        ow,
        sh,
        sw,
        top,
        left,
    } = *g;
    let madd = |d: f32, s: f32, kv: f32| if FMA { s.mul_add(kv, d) } else { d + kv * s };
    dst.fill(b);
    for oy in 0..oh {
        let row = &mut dst[oy * ow..(oy + 1) * ow];
        for i in 0..kh {
            let iy = (oy * sh + i) as isize - top as isize;
            if iy < 0 || iy >= h as isize {
                continue;
            }
            let srow = &src[iy as usize * w..(iy as usize + 1) * w];
            for j in 0..kw {
                let kv = k[i * kw + j];
                // Output columns whose tap j lands inside the row.
                let lo = left.saturating_sub(j).div_ceil(sw);
                let hi = ((w + left).saturating_sub(j)).div_ceil(sw).min(ow);
                if hi <= lo {
                    continue;
                }
                let base = lo * sw + j - left;
                if sw == 1 {
                    for (d, &s) in row[lo..hi].iter_mut().zip(&srow[base..base + (hi - lo)]) {
                        *d = madd(*d, s, kv);
                    }
                } else {
                    for (d, &s) in row[lo..hi].iter_mut().zip(srow[base..].iter().step_by(sw)) {
                        *d = madd(*d, s, kv);
                    }
                }
            }
        }
    }
    if act != Act::None {
        for v in dst.iter_mut() {
            *v = act.scalar(*v);
        }
    }
}

/// TFLite RESIZE_BILINEAR on an NCHW tensor.
pub fn resize_bilinear(
    x: &Tensor,
    out_hw: [usize; 2],
    align_corners: bool,
    half_pixel_centers: bool,
) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let rows = resize_axis(h, out_hw[0], align_corners, half_pixel_centers);
    let cols = resize_axis(w, out_hw[1], align_corners, half_pixel_centers);
    if is_cpu_f32(x) {
        return x.contiguous()?.apply_op1_no_bwd(&ResizeCpu { rows, cols });
    }
    resize_generic(x, rows, cols)
}

/// [`resize_bilinear`] from gathers and lerps: runs on any device.
pub fn resize_bilinear_generic(
    x: &Tensor,
    out_hw: [usize; 2],
    align_corners: bool,
    half_pixel_centers: bool,
) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let rows = resize_axis(h, out_hw[0], align_corners, half_pixel_centers);
    let cols = resize_axis(w, out_hw[1], align_corners, half_pixel_centers);
    resize_generic(x, rows, cols)
}

fn resize_generic(x: &Tensor, rows: Axis, cols: Axis) -> Result<Tensor> {
    let out_hw = [rows.0.len(), cols.0.len()];
    let dev = x.device();
    let (y0, y1, ty) = rows;
    let (x0, x1, tx) = cols;
    let ty = Tensor::from_vec(ty, (1, 1, out_hw[0], 1), dev)?;
    let tx = Tensor::from_vec(tx, (1, 1, 1, out_hw[1]), dev)?;
    let lerp = |a: Tensor, b: Tensor, t: &Tensor| -> Result<Tensor> {
        a.broadcast_add(&(b - &a)?.broadcast_mul(t)?)
    };
    let rows = lerp(
        x.index_select(&Tensor::new(y0.as_slice(), dev)?, 2)?,
        x.index_select(&Tensor::new(y1.as_slice(), dev)?, 2)?,
        &ty,
    )?;
    lerp(
        rows.index_select(&Tensor::new(x0.as_slice(), dev)?, 3)?,
        rows.index_select(&Tensor::new(x1.as_slice(), dev)?, 3)?,
        &tx,
    )
}

/// One axis of a TFLite bilinear resize: lower and upper source indices and the weight of the
/// upper one, per output index.
type Axis = (Vec<u32>, Vec<u32>, Vec<f32>);

fn resize_axis(input: usize, output: usize, align_corners: bool, half_pixel_centers: bool) -> Axis {
    let scale = if align_corners && output > 1 {
        (input - 1) as f32 / (output - 1) as f32
    } else {
        input as f32 / output as f32
    };
    let mut lo = Vec::with_capacity(output);
    let mut hi = Vec::with_capacity(output);
    let mut t = Vec::with_capacity(output);
    for o in 0..output {
        let s = if half_pixel_centers {
            ((o as f32 + 0.5) * scale - 0.5).max(0.0)
        } else {
            o as f32 * scale
        };
        let l = (s.floor() as usize).min(input - 1);
        lo.push(l as u32);
        hi.push((l + 1).min(input - 1) as u32);
        t.push(s - l as f32);
    }
    (lo, hi, t)
}

struct ResizeCpu {
    rows: Axis,
    cols: Axis,
}

impl CustomOp1 for ResizeCpu {
    fn name(&self) -> &'static str {
        "person-resize-bilinear"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "resize")?;
        let (n, c, h, w) = l.shape().dims4()?;
        let (oh, ow) = (self.rows.0.len(), self.cols.0.len());
        let (y0, y1, ty) = &self.rows;
        let (x0, x1, tx) = &self.cols;
        let mut out = vec![0f32; n * c * oh * ow];
        out.par_chunks_mut(oh * ow)
            .enumerate()
            .for_each(|(plane, dst)| {
                let src = &x[plane * h * w..(plane + 1) * h * w];
                for oy in 0..oh {
                    let top = &src[y0[oy] as usize * w..(y0[oy] as usize + 1) * w];
                    let bottom = &src[y1[oy] as usize * w..(y1[oy] as usize + 1) * w];
                    let t = ty[oy];
                    for (ox, d) in dst[oy * ow..(oy + 1) * ow].iter_mut().enumerate() {
                        let (a, b, u) = (x0[ox] as usize, x1[ox] as usize, tx[ox]);
                        let upper = top[a] + (top[b] - top[a]) * u;
                        let lower = bottom[a] + (bottom[b] - bottom[a]) * u;
                        *d = upper + (lower - upper) * t;
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((n, c, oh, ow))))
    }
}

/// TFLite DEPTH_TO_SPACE (NHWC semantics: channel index (i * b + j) * C + c) on NCHW.
pub fn depth_to_space(x: &Tensor, b: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let co = c / (b * b);
    x.reshape(vec![n, b, b, co, h, w])?
        .permute(vec![0, 3, 4, 1, 5, 2])?
        .contiguous()?
        .reshape((n, co, h * b, w * b))
}
