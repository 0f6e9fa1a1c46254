//! The person graphs' tensor ops beyond candle's own, in NCHW, from device-agnostic tensor ops.
//!
//! These serve the candle path of `graph.rs` (devices other than the CPU, and the second
//! reference for the CPU executor in `native.rs`, which has its own kernels). Choices made for
//! speed on other devices: depthwise convolutions as shifted multiply-adds (candle's grouped
//! convolution runs one convolution per channel), activations from relu and affine (no strided
//! clamp), bilinear resizing as two gathers and lerps.

use candle_core::{Result, Tensor};

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
    /// The activation from candle's contiguous-friendly ops (relu and affine).
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        let relu6 = |x: &Tensor| -> Result<Tensor> { x.relu()? - x.affine(1.0, -6.0)?.relu()? };
        match self {
            Act::None => Ok(x.clone()),
            Act::Relu => x.relu(),
            Act::Relu6 => relu6(x),
            Act::HardSwish => x.mul(&relu6(&x.affine(1.0, 3.0)?)?.affine(1.0 / 6.0, 0.0)?),
        }
    }
}

/// `act(a + b)` (residual additions).
pub fn add_act(a: &Tensor, b: &Tensor, act: Act) -> Result<Tensor> {
    act.apply(&a.broadcast_add(b)?)
}

/// `act(x + bias)` with the bias (C) broadcast over an NCHW tensor.
pub fn bias_act(x: &Tensor, bias: &Tensor, act: Act) -> Result<Tensor> {
    act.apply(&x.broadcast_add(&bias.reshape((1, (), 1, 1))?)?)
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

/// A TFLite DEPTHWISE_CONV_2D (multiplier 1) from slices, multiplies and adds: `weight` is
/// (C, KH, KW), `bias` (C).
pub fn depthwise(
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

/// TFLite RESIZE_BILINEAR on an NCHW tensor, from gathers and lerps.
pub fn resize_bilinear(
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
pub(super) type Axis = (Vec<u32>, Vec<u32>, Vec<f32>);

pub(super) fn resize_axis(
    input: usize,
    output: usize,
    align_corners: bool,
    half_pixel_centers: bool,
) -> Axis {
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

/// TFLite DEPTH_TO_SPACE (NHWC semantics: channel index (i * b + j) * C + c) on NCHW.
pub fn depth_to_space(x: &Tensor, b: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let co = c / (b * b);
    x.reshape(vec![n, b, b, co, h, w])?
        .permute(vec![0, 3, 4, 1, 5, 2])?
        .contiguous()?
        .reshape((n, co, h * b, w * b))
}
