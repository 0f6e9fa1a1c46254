//! Offsets to sampling grids, and the two upsamplings of the network.

use candle_core::{DType, Result, Tensor, D};

/// Turns per-pixel offsets (N, 2, H, W), in pixels, into an absolute sampling grid
/// (N, H, W, 2) in [-1, 1]: x = (column + dx) / ((W - 1) / 2) - 1, likewise y.
pub fn apply_offset(offset: &Tensor) -> Result<Tensor> {
    let (n, _, h, w) = offset.dims4()?;
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
pub fn upsample_flow_x2(flow: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = flow.dims4()?;
    flow.upsample_bilinear2d(2 * h, 2 * w, false)
}

/// Nearest x2 upsampling (pyramids and generator): src = floor(dst / 2).
pub fn upsample_nearest_x2(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    x.upsample_nearest2d(2 * h, 2 * w)
}
