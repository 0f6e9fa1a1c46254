//! PWC-Net style correlation between two feature maps, as PF-AFN's flow network uses it.
//!
//! Output channel (dy + 3) * 7 + (dx + 3), dx fastest, holds the channel *mean* of
//! first[c, y, x] * second[c, y + dy, x + dx]; reads outside the map are 0.

use candle_core::{CpuStorage, CustomOp2, Error, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{cpu, OpPath};

/// Largest displacement in pixels, in each direction.
pub const MAX_DISPLACEMENT: usize = 3;
const SIDE: usize = 2 * MAX_DISPLACEMENT + 1;
/// Channels of the correlation's output: one per displacement.
pub const CORRELATION_CHANNELS: usize = SIDE * SIDE;

/// Correlates `first` and `second`, both (N, C, H, W); returns (N, 49, H, W).
pub fn correlation(first: &Tensor, second: &Tensor, path: OpPath) -> Result<Tensor> {
    correlate(first, second, None, path)
}

/// The correlation followed by leaky ReLU with `negative_slope` (in [0, 1]), as the flow
/// network takes it; the CPU kernel applies it as it stores each plane.
pub fn correlation_leaky_relu(
    first: &Tensor,
    second: &Tensor,
    negative_slope: f32,
    path: OpPath,
) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&negative_slope) {
        return Err(Error::Msg(format!(
            "correlation: leaky ReLU slope {negative_slope} is outside [0, 1]"
        )));
    }
    correlate(first, second, Some(negative_slope), path)
}

fn correlate(
    first: &Tensor,
    second: &Tensor,
    negative_slope: Option<f32>,
    path: OpPath,
) -> Result<Tensor> {
    if first.dims() != second.dims() {
        return Err(Error::Msg(format!(
            "correlation: shapes differ, {:?} and {:?}",
            first.dims(),
            second.dims()
        )));
    }
    first.dims4()?;
    if path.use_warp_kernel(first.device()) {
        let kernel = CorrelationKernel { negative_slope };
        if !first.device().is_cpu() {
            // The CUDA kernel stores the plain correlation.
            let corr = first
                .contiguous()?
                .apply_op2_no_bwd(&second.contiguous()?, &CorrelationKernel::default())?;
            return leaky_relu(corr, negative_slope);
        }
        first
            .contiguous()?
            .apply_op2_no_bwd(&second.contiguous()?, &kernel)
    } else {
        leaky_relu(correlation_tensor_ops(first, second)?, negative_slope)
    }
}

/// max(x, slope * x): leaky ReLU for 0 <= slope <= 1, and far faster in candle.
fn leaky_relu(x: Tensor, negative_slope: Option<f32>) -> Result<Tensor> {
    match negative_slope {
        Some(slope) => x.maximum(&x.affine(slope as f64, 0.0)?),
        None => Ok(x),
    }
}

#[derive(Default)]
struct CorrelationKernel {
    /// Leaky ReLU applied to the output, if any.
    negative_slope: Option<f32>,
}

impl CustomOp2 for CorrelationKernel {
    fn name(&self) -> &'static str {
        "correlation"
    }

    fn cpu_fwd(
        &self,
        first: &CpuStorage,
        first_layout: &Layout,
        second: &CpuStorage,
        second_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = first_layout.shape().dims4()?;
        let first = cpu::slice(first, first_layout, self.name())?;
        let second = cpu::slice(second, second_layout, self.name())?;
        let plane = h * w;
        let scale = 1.0 / c as f32;
        let d = MAX_DISPLACEMENT as isize;
        let mut out = vec![0f32; n * SIDE * SIDE * plane];
        if plane == 0 {
            return Ok((CpuStorage::F32(out), Shape::from((n, SIDE * SIDE, h, w))));
        }
        // One output row (all 49 displacements) per task: it reads each channel's row of
        // `first` once and the 7 rows of `second` around it, all in cache, where a task per
        // displacement would read both maps whole 49 times.
        let out_ptr = cpu::OutPtr(out.as_mut_ptr());
        (0..n * h).into_par_iter().for_each_init(
            || vec![0f32; SIDE * SIDE * w],
            |acc, task| {
                let (b, y) = (task / h, task % h);
                acc.fill(0.0);
                let base = b * c * plane;
                for ch in 0..c {
                    let channel = base + ch * plane;
                    let row_f = &first[channel + y * w..][..w];
                    for (oy, dy) in (-d..=d).enumerate() {
                        let sy = y as isize + dy;
                        if sy < 0 || sy >= h as isize {
                            continue;
                        }
                        let row_s = &second[channel + sy as usize * w..][..w];
                        for (ox, dx) in (-d..=d).enumerate() {
                            let x_lo = (-dx).max(0) as usize;
                            let x_hi = (w as isize - dx).clamp(0, w as isize) as usize;
                            if x_lo >= x_hi {
                                continue;
                            }
                            let sx0 = (x_lo as isize + dx) as usize;
                            let dst = &mut acc[(oy * SIDE + ox) * w..][x_lo..x_hi];
                            let a = &row_f[x_lo..x_hi];
                            let s = &row_s[sx0..sx0 + (x_hi - x_lo)];
                            for ((o, a), s) in dst.iter_mut().zip(a).zip(s) {
                                *o += a * s;
                            }
                        }
                    }
                }
                for (k, sums) in acc.chunks_exact(w).enumerate() {
                    // SAFETY: task (b, y) alone writes row y of every displacement plane of
                    // image b: w floats at ((b * 49 + k) * h + y) * w, inside `out`.
                    let dst = unsafe {
                        std::slice::from_raw_parts_mut(
                            out_ptr.add(((b * SIDE * SIDE + k) * h + y) * w),
                            w,
                        )
                    };
                    match self.negative_slope {
                        Some(slope) => {
                            for (o, &v) in dst.iter_mut().zip(sums) {
                                let m = v * scale;
                                *o = m.max(m * slope);
                            }
                        }
                        None => {
                            for (o, &v) in dst.iter_mut().zip(sums) {
                                *o = v * scale;
                            }
                        }
                    }
                }
            },
        );
        Ok((CpuStorage::F32(out), Shape::from((n, SIDE * SIDE, h, w))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        first: &candle_core::CudaStorage,
        first_layout: &Layout,
        second: &candle_core::CudaStorage,
        second_layout: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        super::cuda::correlation(first, first_layout, second, second_layout, SIDE * SIDE)
    }
}

/// The same from tensor ops: zero-pad `second`, then one shifted product per displacement.
fn correlation_tensor_ops(first: &Tensor, second: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = first.dims4()?;
    let padded = second
        .pad_with_zeros(2, MAX_DISPLACEMENT, MAX_DISPLACEMENT)?
        .pad_with_zeros(3, MAX_DISPLACEMENT, MAX_DISPLACEMENT)?;
    let mut channels = Vec::with_capacity(SIDE * SIDE);
    for oy in 0..SIDE {
        for ox in 0..SIDE {
            let shifted = padded.narrow(2, oy, h)?.narrow(3, ox, w)?;
            channels.push((first * shifted)?.mean_keepdim(1)?);
        }
    }
    Tensor::cat(&channels, 1)
}
