//! Offsets to sampling grids, and the two upsamplings of the network.
//!
//! candle runs these as several single-threaded passes each (apply_offset alone is a dozen
//! small ops); the CPU kernels here do each in one parallel pass with the same arithmetic.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

use super::{cpu, OpPath};

/// Turns per-pixel offsets (N, 2, H, W), in pixels, into an absolute sampling grid
/// (N, H, W, 2) in [-1, 1]: x = (column + dx) / ((W - 1) / 2) - 1, likewise y.
pub fn apply_offset(offset: &Tensor, path: OpPath) -> Result<Tensor> {
    let (n, c, h, w) = offset.dims4()?;
    if c != 2 {
        return Err(candle_core::Error::Msg(format!(
            "apply_offset: expected 2 channels, got {c}"
        )));
    }
    if path.use_cpu_kernel(offset.device()) {
        return offset.contiguous()?.apply_op1_no_bwd(&ApplyOffset);
    }
    let device = offset.device();
    let columns = Tensor::arange(0u32, w as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((1, 1, w))?;
    let rows = Tensor::arange(0u32, h as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((1, h, 1))?;
    let dx = offset.narrow(1, 0, 1)?.squeeze(1)?;
    let dy = offset.narrow(1, 1, 1)?.squeeze(1)?;
    // Divide (not multiply by a reciprocal) to round as the reference does.
    let half_w = Tensor::new(((w as f32) - 1.0) / 2.0, device)?;
    let half_h = Tensor::new(((h as f32) - 1.0) / 2.0, device)?;
    let x = (dx.broadcast_add(&columns)?.broadcast_div(&half_w)? - 1.0)?;
    let y = (dy.broadcast_add(&rows)?.broadcast_div(&half_h)? - 1.0)?;
    let grid = Tensor::stack(&[x, y], D::Minus1)?;
    debug_assert_eq!(grid.dims(), &[n, h, w, 2]);
    Ok(grid)
}

/// Bilinear x2 upsampling with align_corners=False, as the flow between levels.
pub fn upsample_flow_x2(flow: &Tensor, path: OpPath) -> Result<Tensor> {
    let (_, _, h, w) = flow.dims4()?;
    if path.use_cpu_kernel(flow.device()) {
        return flow.contiguous()?.apply_op1_no_bwd(&UpsampleBilinearX2);
    }
    flow.upsample_bilinear2d(2 * h, 2 * w, false)
}

/// Nearest x2 upsampling (pyramids and generator): src = floor(dst / 2).
pub fn upsample_nearest_x2(x: &Tensor, path: OpPath) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if path.use_cpu_kernel(x.device()) {
        return x.contiguous()?.apply_op1_no_bwd(&UpsampleNearestX2);
    }
    x.upsample_nearest2d(2 * h, 2 * w)
}

/// Smallest piece of output (floats) one rayon task writes: less costs more to hand out than to do.
const MIN_FLOATS_PER_TASK: usize = 16 * 1024;

struct ApplyOffset;

impl CustomOp1 for ApplyOffset {
    fn name(&self) -> &'static str {
        "apply_offset"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, _, h, w) = layout.shape().dims4()?;
        let offset = cpu::slice(storage, layout, self.name())?;
        let plane = h * w;
        let half_w = ((w as f32) - 1.0) / 2.0;
        let half_h = ((h as f32) - 1.0) / 2.0;
        let mut out = vec![0f32; n * plane * 2];
        if plane > 0 {
            // One task per output row: (W, 2) interleaved x, y.
            out.par_chunks_mut(2 * w)
                .with_min_len((MIN_FLOATS_PER_TASK / (2 * w)).max(1))
                .enumerate()
                .for_each(|(row, dst)| {
                    let (b, y) = (row / h, row % h);
                    let dx = &offset[(2 * b) * plane + y * w..][..w];
                    let dy = &offset[(2 * b + 1) * plane + y * w..][..w];
                    let fy = y as f32;
                    for (x, (pair, (&ox, &oy))) in
                        dst.chunks_exact_mut(2).zip(dx.iter().zip(dy)).enumerate()
                    {
                        pair[0] = (ox + x as f32) / half_w - 1.0;
                        pair[1] = (oy + fy) / half_h - 1.0;
                    }
                });
        }
        Ok((CpuStorage::F32(out), Shape::from((n, h, w, 2))))
    }
}

struct UpsampleNearestX2;

impl CustomOp1 for UpsampleNearestX2 {
    fn name(&self) -> &'static str {
        "upsample_nearest_x2"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = layout.shape().dims4()?;
        let x = cpu::slice(storage, layout, self.name())?;
        let mut out = vec![0f32; n * c * 4 * h * w];
        if h * w > 0 {
            // One task per input row: it writes the two output rows it becomes.
            out.par_chunks_mut(4 * w)
                .zip(x.par_chunks(w))
                .with_min_len((MIN_FLOATS_PER_TASK / (4 * w)).max(1))
                .for_each(|(dst, row)| {
                    let (top, bottom) = dst.split_at_mut(2 * w);
                    for (pair, &v) in top.chunks_exact_mut(2).zip(row) {
                        pair[0] = v;
                        pair[1] = v;
                    }
                    bottom.copy_from_slice(top);
                });
        }
        Ok((CpuStorage::F32(out), Shape::from((n, c, 2 * h, 2 * w))))
    }
}

/// Source index and weight of the upper neighbour for each output index of a bilinear x2
/// upsampling with align_corners=False, in f64 as candle and PyTorch compute them.
fn bilinear_taps(size: usize) -> Vec<(usize, usize, f32, f32)> {
    (0..2 * size)
        .map(|o| {
            let src = ((o as f64 + 0.5) * 0.5 - 0.5).max(0.0);
            let i0 = src.floor() as usize;
            let i1 = (i0 + 1).min(size - 1);
            let t = (src - i0 as f64).clamp(0.0, 1.0);
            (i0, i1, (1.0 - t) as f32, t as f32)
        })
        .collect()
}

struct UpsampleBilinearX2;

impl CustomOp1 for UpsampleBilinearX2 {
    fn name(&self) -> &'static str {
        "upsample_bilinear_x2"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = layout.shape().dims4()?;
        let x = cpu::slice(storage, layout, self.name())?;
        let (ho, wo) = (2 * h, 2 * w);
        let mut out = vec![0f32; n * c * ho * wo];
        if h * w > 0 {
            let rows = bilinear_taps(h);
            let cols = bilinear_taps(w);
            out.par_chunks_mut(wo)
                .with_min_len((MIN_FLOATS_PER_TASK / wo).max(1))
                .enumerate()
                .for_each(|(index, dst)| {
                    let (p, oy) = (index / ho, index % ho);
                    let (y0, y1, a0, a1) = rows[oy];
                    let src = &x[p * h * w..(p + 1) * h * w];
                    let (top, bottom) = (&src[y0 * w..(y0 + 1) * w], &src[y1 * w..(y1 + 1) * w]);
                    for (d, &(x0, x1, b0, b1)) in dst.iter_mut().zip(&cols) {
                        let upper = top[x0] * b0 + top[x1] * b1;
                        let lower = bottom[x0] * b0 + bottom[x1] * b1;
                        *d = upper * a0 + lower * a1;
                    }
                });
        }
        Ok((CpuStorage::F32(out), Shape::from((n, c, ho, wo))))
    }
}
