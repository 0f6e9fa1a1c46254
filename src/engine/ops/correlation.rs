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
    if first.dims() != second.dims() {
        return Err(Error::Msg(format!(
            "correlation: shapes differ, {:?} and {:?}",
            first.dims(),
            second.dims()
        )));
    }
    first.dims4()?;
    if path.use_warp_kernel(first.device()) {
        first
            .contiguous()?
            .apply_op2_no_bwd(&second.contiguous()?, &CorrelationKernel)
    } else {
        correlation_tensor_ops(first, second)
    }
}

struct CorrelationKernel;

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
        // One output channel (one displacement) per task: each task owns its plane.
        out.par_chunks_mut(plane)
            .enumerate()
            .for_each(|(task, dst)| {
                let b = task / (SIDE * SIDE);
                let k = task % (SIDE * SIDE);
                let dy = (k / SIDE) as isize - d;
                let dx = (k % SIDE) as isize - d;
                let x_lo = (-dx).max(0) as usize;
                let x_hi = (w as isize - dx).min(w as isize).max(0) as usize;
                let y_lo = (-dy).max(0) as usize;
                let y_hi = (h as isize - dy).min(h as isize).max(0) as usize;
                if x_lo >= x_hi || y_lo >= y_hi {
                    return;
                }
                let base = b * c * plane;
                for ch in 0..c {
                    let f = &first[base + ch * plane..base + (ch + 1) * plane];
                    let s = &second[base + ch * plane..base + (ch + 1) * plane];
                    for y in y_lo..y_hi {
                        let sy = (y as isize + dy) as usize;
                        let row_f = &f[y * w + x_lo..y * w + x_hi];
                        let sx0 = (x_lo as isize + dx) as usize;
                        let row_s = &s[sy * w + sx0..sy * w + sx0 + (x_hi - x_lo)];
                        let row_d = &mut dst[y * w + x_lo..y * w + x_hi];
                        for ((o, a), b) in row_d.iter_mut().zip(row_f).zip(row_s) {
                            *o += a * b;
                        }
                    }
                }
                for v in dst.iter_mut() {
                    *v *= scale;
                }
            });
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
