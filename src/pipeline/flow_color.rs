//! The appearance flow as a picture. The network's flow is an absolute sampling grid; the motion
//! it encodes is the grid minus the identity grid, in pixels.

use candle_core::Tensor;
use image::{Rgb, RgbImage};

use super::image_io::PipelineError;

/// The smallest full-saturation motion a caller may ask for.
pub const MIN_MOTION_SCALE: f32 = 1e-3;
/// The smallest automatic one: a flow that moves nothing still has float noise of ~1e-5 px,
/// which stretched to full saturation would paint noise; below half a pixel is no motion.
pub const MIN_AUTO_MOTION_SCALE: f32 = 0.5;

/// The motion (dx, dy) in pixels at pixel (x, y) of a `width` x `height` flow whose sampling
/// grid holds `g` there (align_corners=True: pixel = (g + 1) / 2 * (size - 1)). The one
/// grid-to-motion rule of the screen and of the exported pictures.
pub fn grid_to_motion(g: [f32; 2], x: usize, y: usize, width: usize, height: usize) -> [f32; 2] {
    let hx = (width.max(2) - 1) as f32 / 2.0;
    let hy = (height.max(2) - 1) as f32 / 2.0;
    [(g[0] + 1.0) * hx - x as f32, (g[1] + 1.0) * hy - y as f32]
}

/// The motion of full saturation: `max_motion` when given (at least [`MIN_MOTION_SCALE`]),
/// else the `largest` motion (at least [`MIN_AUTO_MOTION_SCALE`]).
pub fn motion_scale(max_motion: Option<f32>, largest: f32) -> f32 {
    match max_motion {
        Some(s) if s.is_finite() && s > 0.0 => s.max(MIN_MOTION_SCALE),
        _ => largest.max(MIN_AUTO_MOTION_SCALE),
    }
}

/// Per-pixel motion (dx, dy) in pixels of a (1, 2, H, W) sampling grid in [-1, 1]
/// ([`grid_to_motion`]). Returns (width, height, motion).
pub fn flow_to_motion(flow: &Tensor) -> Result<(usize, usize, Vec<[f32; 2]>), PipelineError> {
    let dims = flow.dims();
    if dims.len() != 4 || dims[0] != 1 || dims[1] != 2 {
        return Err(PipelineError::Shape(dims.to_vec()));
    }
    let (h, w) = (dims[2], dims[3]);
    let data = flow
        .to_device(&candle_core::Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let plane = h * w;
    let motion = (0..plane)
        .map(|i| grid_to_motion([data[i], data[plane + i]], i % w, i / w, w, h))
        .collect();
    Ok((w, h, motion))
}

/// Colour-wheel picture of the flow: hue is the direction the garment is pulled from, saturation
/// the distance (full at `max_motion` pixels, or at the largest motion when `None`, see
/// [`motion_scale`]); white means no motion. Returns the image and the magnitude of full
/// saturation.
pub fn flow_to_color(
    flow: &Tensor,
    max_motion: Option<f32>,
) -> Result<(RgbImage, f32), PipelineError> {
    let (w, h, motion) = flow_to_motion(flow)?;
    let largest = motion
        .iter()
        .map(|[dx, dy]| (dx * dx + dy * dy).sqrt())
        .filter(|m| m.is_finite())
        .fold(0f32, f32::max);
    let scale = motion_scale(max_motion, largest);
    let img = RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let [dx, dy] = motion[y as usize * w + x as usize];
        wheel_color(dx, dy, scale)
    });
    Ok((img, scale))
}

/// HSV colour wheel: hue from the angle, saturation from the magnitude, value 1; black for a
/// non-finite motion.
pub fn wheel_color(dx: f32, dy: f32, scale: f32) -> Rgb<u8> {
    if !dx.is_finite() || !dy.is_finite() {
        return Rgb([0, 0, 0]);
    }
    Rgb(wheel_rgb(dx, dy, scale).map(|c| (c * 255.0).round() as u8))
}

/// Fully saturated colour (0 to 1) for the direction of (dx, dy): red along +x, then yellow,
/// green, cyan, blue, magenta as the angle grows.
pub fn hue_rgb(dx: f32, dy: f32) -> [f32; 3] {
    let mut hue = dy.atan2(dx).to_degrees() + 360.0;
    hue -= 360.0 * (hue / 360.0).floor();
    let sector = hue / 60.0;
    let f = sector - sector.floor();
    match sector as u32 % 6 {
        0 => [1.0, f, 0.0],
        1 => [1.0 - f, 1.0, 0.0],
        2 => [0.0, 1.0, f],
        3 => [0.0, 1.0 - f, 1.0],
        4 => [f, 0.0, 1.0],
        _ => [1.0, 0.0, 1.0 - f],
    }
}

/// The wheel's colour (0 to 1) for a motion: white for none, blending to the full hue at
/// `scale` pixels and beyond.
pub fn wheel_rgb(dx: f32, dy: f32, scale: f32) -> [f32; 3] {
    let magnitude = ((dx * dx + dy * dy).sqrt() / scale).min(1.0);
    if magnitude.is_nan() || magnitude <= 0.0 {
        return [1.0; 3];
    }
    hue_rgb(dx, dy).map(|c| 1.0 - magnitude + magnitude * c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn identity_grid(h: usize, w: usize) -> Vec<f32> {
        let mut g = vec![0f32; 2 * h * w];
        for y in 0..h {
            for x in 0..w {
                g[y * w + x] = x as f32 / ((w - 1) as f32 / 2.0) - 1.0;
                g[h * w + y * w + x] = y as f32 / ((h - 1) as f32 / 2.0) - 1.0;
            }
        }
        g
    }

    #[test]
    fn identity_is_white_and_a_shift_is_coloured() {
        let (h, w) = (8, 6);
        let grid = identity_grid(h, w);
        let t = Tensor::from_vec(grid.clone(), (1, 2, h, w), &Device::Cpu).unwrap();
        let (_, _, motion) = flow_to_motion(&t).unwrap();
        assert!(motion
            .iter()
            .all(|[dx, dy]| dx.abs() < 1e-5 && dy.abs() < 1e-5));
        let (img, _) = flow_to_color(&t, Some(1.0)).unwrap();
        assert!(img.pixels().all(|p| p.0 == [255, 255, 255]));

        // Shift x by one pixel: motion (1, 0), pure red at full saturation.
        let mut shifted = grid;
        for v in shifted[..h * w].iter_mut() {
            *v += 2.0 / (w - 1) as f32;
        }
        let t = Tensor::from_vec(shifted, (1, 2, h, w), &Device::Cpu).unwrap();
        let (_, _, motion) = flow_to_motion(&t).unwrap();
        assert!(motion
            .iter()
            .all(|[dx, dy]| (dx - 1.0).abs() < 1e-4 && dy.abs() < 1e-4));
        let (img, scale) = flow_to_color(&t, None).unwrap();
        assert!((scale - 1.0).abs() < 1e-4);
        assert_eq!(img.get_pixel(0, 0).0, [255, 0, 0]);
    }
}
