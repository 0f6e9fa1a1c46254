//! Bilinear grid sampling with `align_corners=True` semantics, the only behaviour of the torch
//! release PF-AFN was trained with: pixel = (g + 1) / 2 * (size - 1).

use candle_core::{CpuStorage, CustomOp2, DType, Error, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

use super::{cpu, OpPath};

/// What a tap outside the input reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// The coordinate is clamped to the border (features, flows, the garment).
    Border,
    /// Taps outside read 0 (the garment mask).
    Zeros,
}

/// Samples `input` (N, C, H, W) at `grid` (N, Ho, Wo, 2), x first, in [-1, 1].
/// Returns (N, C, Ho, Wo).
pub fn grid_sample(
    input: &Tensor,
    grid: &Tensor,
    padding: Padding,
    path: OpPath,
) -> Result<Tensor> {
    let (n, _, _, _) = input.dims4()?;
    let (gn, _, _, two) = grid.dims4()?;
    if gn != n || two != 2 {
        return Err(Error::Msg(format!(
            "grid_sample: grid {:?} does not fit input {:?}",
            grid.dims(),
            input.dims()
        )));
    }
    if path.use_warp_kernel(input.device()) {
        let input = input.contiguous()?;
        let grid = grid.contiguous()?;
        input.apply_op2_no_bwd(&grid, &GridSampleKernel { padding })
    } else {
        grid_sample_tensor_ops(input, grid, padding)
    }
}

/// The four taps of one output position: flat input indices and bilinear weights.
#[derive(Clone, Copy, Default)]
struct Taps {
    index: [usize; 4],
    weight: [f32; 4],
}

/// Computes the taps for a normalised coordinate pair. Taps that fall outside carry weight 0
/// and a safe index, so the inner loop needs no bounds logic.
fn taps(gx: f32, gy: f32, width: usize, height: usize, padding: Padding) -> Taps {
    let max_x = (width - 1) as f32;
    let max_y = (height - 1) as f32;
    let mut x = (gx + 1.0) / 2.0 * max_x;
    let mut y = (gy + 1.0) / 2.0 * max_y;
    if padding == Padding::Border {
        // NaN clamps to 0 here, like torch's clip_coordinates.
        x = if x.is_nan() { 0.0 } else { x.clamp(0.0, max_x) };
        y = if y.is_nan() { 0.0 } else { y.clamp(0.0, max_y) };
    } else if !x.is_finite() || !y.is_finite() {
        return Taps::default();
    }
    let x0 = x.floor();
    let y0 = y.floor();
    let fx = x - x0;
    let fy = y - y0;
    let corners = [
        (x0, y0, (1.0 - fx) * (1.0 - fy)),
        (x0 + 1.0, y0, fx * (1.0 - fy)),
        (x0, y0 + 1.0, (1.0 - fx) * fy),
        (x0 + 1.0, y0 + 1.0, fx * fy),
    ];
    let mut out = Taps::default();
    for (slot, (cx, cy, w)) in corners.into_iter().enumerate() {
        if cx >= 0.0 && cy >= 0.0 && cx <= max_x && cy <= max_y {
            out.index[slot] = cy as usize * width + cx as usize;
            out.weight[slot] = w;
        }
    }
    out
}

struct GridSampleKernel {
    padding: Padding,
}

impl CustomOp2 for GridSampleKernel {
    fn name(&self) -> &'static str {
        "grid_sample"
    }

    fn cpu_fwd(
        &self,
        input: &CpuStorage,
        input_layout: &Layout,
        grid: &CpuStorage,
        grid_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = input_layout.shape().dims4()?;
        let (_, ho, wo, _) = grid_layout.shape().dims4()?;
        let input = cpu::slice(input, input_layout, self.name())?;
        let grid = cpu::slice(grid, grid_layout, self.name())?;
        let plane_in = h * w;
        let plane_out = ho * wo;
        let mut out = vec![0f32; n * c * plane_out];
        for b in 0..n {
            let grid_b = &grid[b * plane_out * 2..(b + 1) * plane_out * 2];
            let taps: Vec<Taps> = grid_b
                .par_chunks(2)
                .with_min_len(1024)
                .map(|g| taps(g[0], g[1], w, h, self.padding))
                .collect();
            let input_b = &input[b * c * plane_in..(b + 1) * c * plane_in];
            out[b * c * plane_out..(b + 1) * c * plane_out]
                .par_chunks_mut(plane_out)
                .zip(input_b.par_chunks(plane_in))
                .for_each(|(dst, src)| {
                    for (d, t) in dst.iter_mut().zip(&taps) {
                        *d = src[t.index[0]] * t.weight[0]
                            + src[t.index[1]] * t.weight[1]
                            + src[t.index[2]] * t.weight[2]
                            + src[t.index[3]] * t.weight[3];
                    }
                });
        }
        Ok((CpuStorage::F32(out), Shape::from((n, c, ho, wo))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        input: &candle_core::CudaStorage,
        input_layout: &Layout,
        grid: &candle_core::CudaStorage,
        grid_layout: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        super::cuda::grid_sample(
            input,
            input_layout,
            grid,
            grid_layout,
            self.padding == Padding::Border,
        )
    }
}

/// The same sampling from tensor ops: four gathers weighted by bilinear factors.
fn grid_sample_tensor_ops(input: &Tensor, grid: &Tensor, padding: Padding) -> Result<Tensor> {
    let (n, c, h, w) = input.dims4()?;
    let (_, ho, wo, _) = grid.dims4()?;
    let gx = grid.narrow(D::Minus1, 0, 1)?.squeeze(D::Minus1)?;
    let gy = grid.narrow(D::Minus1, 1, 1)?.squeeze(D::Minus1)?;
    let max_x = (w - 1) as f64;
    let max_y = (h - 1) as f64;
    let mut x = ((gx + 1.0)? / 2.0)?.affine(max_x, 0.0)?;
    let mut y = ((gy + 1.0)? / 2.0)?.affine(max_y, 0.0)?;
    if padding == Padding::Border {
        x = x.clamp(0.0, max_x)?;
        y = y.clamp(0.0, max_y)?;
    }
    let x0 = x.floor()?;
    let y0 = y.floor()?;
    let fx = (&x - &x0)?;
    let fy = (&y - &y0)?;
    let one_minus_fx = fx.affine(-1.0, 1.0)?;
    let one_minus_fy = fy.affine(-1.0, 1.0)?;
    let input_flat = input.reshape((n, c, h * w))?;
    let mut out: Option<Tensor> = None;
    for (dx, dy, wx, wy) in [
        (0.0, 0.0, &one_minus_fx, &one_minus_fy),
        (1.0, 0.0, &fx, &one_minus_fy),
        (0.0, 1.0, &one_minus_fx, &fy),
        (1.0, 1.0, &fx, &fy),
    ] {
        let cx = (&x0 + dx)?;
        let cy = (&y0 + dy)?;
        let inside = cx
            .ge(0.0)?
            .mul(&cx.le(max_x)?)?
            .mul(&cy.ge(0.0)?)?
            .mul(&cy.le(max_y)?)?
            .to_dtype(DType::F32)?;
        let weight = (wx * wy)?.mul(&inside)?;
        let index = (cy.clamp(0.0, max_y)?.affine(w as f64, 0.0)? + cx.clamp(0.0, max_x)?)?
            .to_dtype(DType::U32)?
            .reshape((n, 1, ho * wo))?
            .broadcast_as((n, c, ho * wo))?
            .contiguous()?;
        let tap = input_flat
            .gather(&index, 2)?
            .reshape((n, c, ho, wo))?
            .broadcast_mul(&weight.unsqueeze(1)?)?;
        out = Some(match out {
            Some(acc) => (acc + tap)?,
            None => tap,
        });
    }
    out.ok_or_else(|| Error::Msg("grid_sample: no taps".into()))
}
