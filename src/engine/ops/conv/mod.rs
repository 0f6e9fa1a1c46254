//! The convolution layer: weights, the pre-activation before it, the activation after it and the
//! op path, all fixed when the layer is built, so a forward pass takes only tensors.
//!
//! The CPU kernels live in [`cpu`] (and [`direct`] for narrow layers on AVX-512); elsewhere (and on the CPU when the tensor path is chosen, as
//! the tests do) the layer runs on candle's own conv2d and tensor ops.

mod cpu;
#[cfg(target_arch = "x86_64")]
mod direct;
mod winograd;

/// One image's convolution, all slices row-major: input (C_in, H, W), weights
/// (C_out, C_in, k, k), square stride and zero padding; the pre-activation
/// `relu(x * scale + shift)` applies to the input's pixels, not the padding; the residual
/// (C_out, Ho, Wo) is added before the activation. The direct kernel runs it; in tests,
/// [`ConvSlices::definition`] is what every CPU kernel is compared against.
#[cfg(any(test, target_arch = "x86_64"))]
pub(super) struct ConvSlices<'a> {
    pub weight: &'a [f32],
    pub bias: Option<&'a [f32]>,
    pub residual: Option<&'a [f32]>,
    pub pre: Option<(&'a [f32], &'a [f32])>,
    pub activation: Activation,
    pub cin: usize,
    pub cout: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
    pub padding: usize,
}

/// Deterministic test values in [-1, 1).
#[cfg(test)]
pub(super) fn test_values(n: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32) * 2.0 - 1.0
        })
        .collect()
}

#[cfg(test)]
impl ConvSlices<'_> {
    /// The output (C_out, Ho, Wo) by the definition, summed in f64.
    pub fn definition(&self, x: &[f32]) -> Vec<f32> {
        let (k, s, p) = (self.k, self.stride, self.padding);
        let (ho, wo) = ((self.h + 2 * p - k) / s + 1, (self.w + 2 * p - k) / s + 1);
        let mut out = vec![0f32; self.cout * ho * wo];
        for co in 0..self.cout {
            for y in 0..ho {
                for xo in 0..wo {
                    let mut sum = self.bias.map_or(0.0, |b| b[co] as f64);
                    for ci in 0..self.cin {
                        for ky in 0..k {
                            for kx in 0..k {
                                let (iy, ix) =
                                    ((y * s + ky).checked_sub(p), (xo * s + kx).checked_sub(p));
                                let (Some(iy), Some(ix)) = (iy, ix) else {
                                    continue;
                                };
                                if iy >= self.h || ix >= self.w {
                                    continue;
                                }
                                let mut v = x[(ci * self.h + iy) * self.w + ix];
                                if let Some((scale, shift)) = self.pre {
                                    v = (v * scale[ci] + shift[ci]).max(0.0);
                                }
                                let g = self.weight[((co * self.cin + ci) * k + ky) * k + kx];
                                sum += v as f64 * g as f64;
                            }
                        }
                    }
                    let at = (co * ho + y) * wo + xo;
                    if let Some(r) = self.residual {
                        sum += r[at] as f64;
                    }
                    out[at] = self.activation.apply(sum as f32);
                }
            }
        }
        out
    }
}

use candle_core::{Device, Error, Result, Tensor};

use super::OpPath;

/// Activation applied to a convolution's output.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Activation {
    #[default]
    None,
    Relu,
    LeakyRelu(f32),
}

impl Activation {
    #[inline]
    fn apply(self, v: f32) -> f32 {
        match self {
            Activation::None => v,
            Activation::Relu => v.max(0.0),
            Activation::LeakyRelu(slope) => {
                if v >= 0.0 {
                    v
                } else {
                    v * slope
                }
            }
        }
    }

    fn apply_tensor(self, x: Tensor) -> Result<Tensor> {
        match self {
            Activation::None => Ok(x),
            Activation::Relu => x.relu(),
            // max(x, slope * x) is leaky ReLU for 0 < slope < 1, and far faster in candle.
            Activation::LeakyRelu(slope) => x.maximum(&x.affine(slope as f64, 0.0)?),
        }
    }
}

/// Per-channel scale and shift of an eval-mode BatchNorm: y = x * scale + shift.
fn batch_norm_affine(bn: &candle_nn::BatchNorm) -> Result<(Vec<f32>, Vec<f32>)> {
    let (gamma, beta) = bn
        .weight_and_bias()
        .ok_or_else(|| Error::Msg("BatchNorm without weight and bias".into()))?;
    let to_f64 = |t: &Tensor| -> Result<Vec<f64>> {
        t.to_dtype(candle_core::DType::F64)?
            .flatten_all()?
            .to_vec1()
    };
    let (gamma, beta) = (to_f64(gamma)?, to_f64(beta)?);
    let (mean, var) = (to_f64(bn.running_mean())?, to_f64(bn.running_var())?);
    if [beta.len(), mean.len(), var.len()] != [gamma.len(); 3] {
        return Err(Error::Msg("BatchNorm parameters differ in length".into()));
    }
    let eps = bn.eps();
    Ok((0..gamma.len())
        .map(|i| {
            let s = gamma[i] / (var[i] + eps).sqrt();
            (s as f32, (beta[i] - mean[i] * s) as f32)
        })
        .unzip())
}

/// Eval-mode BatchNorm followed by ReLU, applied to a convolution's input: relu(x * scale + shift)
/// per channel. It cannot be folded into the convolution's weights because the ReLU sits between.
#[derive(Debug, Clone)]
pub struct PreActivation {
    scale: Vec<f32>,
    shift: Vec<f32>,
}

impl PreActivation {
    pub fn from_batch_norm(bn: &candle_nn::BatchNorm) -> Result<Self> {
        let (scale, shift) = batch_norm_affine(bn)?;
        Ok(Self { scale, shift })
    }

    pub fn channels(&self) -> usize {
        self.scale.len()
    }

    fn apply_tensor(&self, x: &Tensor) -> Result<Tensor> {
        let c = self.channels();
        let device = x.device();
        let scale = Tensor::from_slice(&self.scale, (1, c, 1, 1), device)?;
        let shift = Tensor::from_slice(&self.shift, (1, c, 1, 1), device)?;
        x.broadcast_mul(&scale)?.broadcast_add(&shift)?.relu()
    }
}

/// Stride and zero padding of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvOptions {
    pub stride: usize,
    pub padding: usize,
}

impl ConvOptions {
    /// 3x3 keeping the size.
    pub const SAME: ConvOptions = ConvOptions {
        stride: 1,
        padding: 1,
    };
    /// 3x3 halving the size.
    pub const HALVE: ConvOptions = ConvOptions {
        stride: 2,
        padding: 1,
    };
    /// 1x1.
    pub const POINTWISE: ConvOptions = ConvOptions {
        stride: 1,
        padding: 0,
    };
}

/// A square-kernel 2-D convolution layer: act(conv(pre(x)) + bias [+ residual]).
///
/// Weights (C_out, C_in, k, k), optional bias; the optional pre-activation, the activation and
/// the op path are set while building the layer (`with_*`) and stay fixed.
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    options: ConvOptions,
    pre: Option<PreActivation>,
    activation: Activation,
    path: OpPath,
}

impl Conv2d {
    pub fn new(weight: Tensor, bias: Option<Tensor>, options: ConvOptions) -> Result<Self> {
        let (cout, _, kh, kw) = weight.dims4()?;
        if kh != kw {
            return Err(Error::Msg(format!(
                "conv: only square kernels are supported, got {kh}x{kw}"
            )));
        }
        if let Some(b) = &bias {
            if b.dims() != [cout] {
                return Err(Error::Msg(format!(
                    "conv: bias {:?} does not match {cout} output channels",
                    b.dims()
                )));
            }
        }
        if options.stride == 0 {
            return Err(Error::Msg("conv: stride must be positive".into()));
        }
        Ok(Self {
            weight: weight.contiguous()?,
            bias: bias.map(|b| b.contiguous()).transpose()?,
            options,
            pre: None,
            activation: Activation::None,
            path: OpPath::Auto,
        })
    }

    /// Applies `pre` (BatchNorm then ReLU) to the input first.
    pub fn with_pre_activation(mut self, pre: PreActivation) -> Result<Self> {
        if pre.channels() != self.in_channels() {
            return Err(Error::Msg(format!(
                "conv: pre-activation has {} channels, the weights expect {}",
                pre.channels(),
                self.in_channels()
            )));
        }
        self.pre = Some(pre);
        Ok(self)
    }

    /// Applies `activation` to the output (after the bias and any residual).
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Chooses the implementation (tests use `OpPath::Tensor` to check the GPU path on CPU).
    pub fn with_op_path(mut self, path: OpPath) -> Self {
        self.path = path;
        self
    }

    /// Folds an eval BatchNorm that follows this convolution into its weights and bias:
    /// (W x + b) * s + t = (s W) x + (s b + t) per output channel. The folded weights are a fresh
    /// buffer: folding through candle's tensor ops kept the original weights alive beside them
    /// (measured: 160 MB more resident memory at the official widths).
    pub fn fold_batch_norm(self, bn: &candle_nn::BatchNorm) -> Result<Self> {
        let cout = self.out_channels();
        if bn.running_mean().dims() != [cout] {
            return Err(Error::Msg(format!(
                "conv: BatchNorm has {:?} channels, the conv {cout}",
                bn.running_mean().dims()
            )));
        }
        let (scale, shift) = batch_norm_affine(bn)?;
        let device = self.weight.device();
        let dims = self.weight.dims().to_vec();
        let mut weight: Vec<f32> = self.weight.flatten_all()?.to_vec1()?;
        let per_channel = weight.len() / cout;
        for (kernel, s) in weight.chunks_exact_mut(per_channel).zip(&scale) {
            kernel.iter_mut().for_each(|v| *v *= s);
        }
        let bias: Vec<f32> = match &self.bias {
            Some(b) => b
                .to_vec1::<f32>()?
                .iter()
                .zip(scale.iter().zip(&shift))
                .map(|(b, (s, t))| b * s + t)
                .collect(),
            None => shift,
        };
        Ok(Self {
            weight: Tensor::from_vec(weight, dims, device)?,
            bias: Some(Tensor::from_vec(bias, cout, device)?),
            ..self
        })
    }

    /// The same layer on `device`.
    pub fn to_device(&self, device: &Device) -> Result<Self> {
        Ok(Self {
            weight: self.weight.to_device(device)?,
            bias: self
                .bias
                .as_ref()
                .map(|b| b.to_device(device))
                .transpose()?,
            ..self.clone()
        })
    }

    pub fn in_channels(&self) -> usize {
        self.weight.dims()[1]
    }

    pub fn out_channels(&self) -> usize {
        self.weight.dims()[0]
    }

    pub fn kernel_size(&self) -> usize {
        self.weight.dims()[2]
    }

    /// Number of parameters (weights, bias, and the pre-activation's scale and shift).
    pub fn parameter_count(&self) -> usize {
        self.weight.elem_count()
            + self.bias.as_ref().map_or(0, |b| b.elem_count())
            + self.pre.as_ref().map_or(0, |p| 2 * p.channels())
    }

    /// act(conv(pre(x)) + bias).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, None)
    }

    /// act(conv(pre(x)) + bias + residual); `residual` has the output's shape.
    pub fn forward_residual(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        self.run(x, Some(residual))
    }

    fn run(&self, x: &Tensor, residual: Option<&Tensor>) -> Result<Tensor> {
        let (_, cin, _, _) = x.dims4()?;
        if cin != self.in_channels() {
            return Err(Error::Msg(format!(
                "conv: input has {cin} channels, the weights expect {}",
                self.in_channels()
            )));
        }
        if self.path.use_cpu_kernel(x.device()) {
            cpu::forward(self, x, residual)
        } else {
            let input = match &self.pre {
                Some(p) => p.apply_tensor(x)?,
                None => x.clone(),
            };
            let ConvOptions { stride, padding } = self.options;
            let mut y = input.conv2d(&self.weight, padding, stride, 1, 1)?;
            if let Some(b) = &self.bias {
                y = y.broadcast_add(&b.reshape((1, self.out_channels(), 1, 1))?)?;
            }
            if let Some(r) = residual {
                y = (y + r)?;
            }
            self.activation.apply_tensor(y)
        }
    }
}
