//! Garment photos of any size and framing, placed as VITON's `cloth/` images place theirs: the
//! garment centred, as wide as [`VITON_GARMENT_WIDTH`] of the frame unless that would make it
//! taller than [`VITON_GARMENT_MAX_HEIGHT`]. The frame is made at the garment's own resolution,
//! so the high-resolution result stays sharp, up to [`MAX_HIRES_HEIGHT`] high: the composition
//! is never taller, and a phone photo of a garment is reduced to that first (its frame would
//! otherwise cost the composition 16 bytes a pixel).

use image::{imageops, GrayImage, Luma, Rgb, RgbImage};

use super::hires::MAX_HIRES_HEIGHT;
use super::image_io::pad_to_native_aspect;
use crate::resample::{resize, Filter};

/// Median width of VITON's garments (their mask's box) as a fraction of the frame's width
/// (p10 0.802, p90 0.948), over every 20th training garment (342); centred (median centre
/// 0.5, 0.5). Measured by `training/measure_viton.py`.
pub const VITON_GARMENT_WIDTH: f32 = 0.9375;
/// The tallest VITON garments (p90 of the mask box's height, as a fraction of the frame's
/// height; median 0.836).
pub const VITON_GARMENT_MAX_HEIGHT: f32 = 0.953;

/// The box of the mask's pixels above 127, as (x0, y0, x1, y1) (exclusive ends).
fn mask_box(mask: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in mask.enumerate_pixels() {
        if p[0] > 127 {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x + 1);
            y1 = y1.max(y + 1);
        }
    }
    (x0 < x1).then_some((x0, y0, x1, y1))
}

/// Where the garment photo sits in its 3:4 frame: (frame width, frame height, x, y of the
/// photo's top-left corner in the frame). `None` for an empty mask.
pub fn garment_placement(mask: &GrayImage) -> Option<(u32, u32, i64, i64)> {
    let (x0, y0, x1, y1) = mask_box(mask)?;
    let (bw, bh) = ((x1 - x0) as f32, (y1 - y0) as f32);
    // The frame width that makes the garment VITON-wide, or VITON-tall at most.
    let by_width = bw / VITON_GARMENT_WIDTH;
    let by_height = bh / VITON_GARMENT_MAX_HEIGHT * 0.75;
    let fw = by_width.max(by_height).ceil().max(3.0);
    let fh = (fw * 4.0 / 3.0).round();
    let (cx, cy) = ((x0 + x1) as f32 / 2.0, (y0 + y1) as f32 / 2.0);
    Some((
        fw as u32,
        fh as u32,
        (fw / 2.0 - cx).round() as i64,
        (fh / 2.0 - cy).round() as i64,
    ))
}

/// The garment and its mask in a 3:4 frame placed like VITON's garments (white around the
/// garment, 0 in the mask), at most [`MAX_HIRES_HEIGHT`] high. An empty mask: the photo padded
/// to 3:4 around its centre.
pub fn frame_garment(garment: &RgbImage, mask: &GrayImage) -> (RgbImage, GrayImage) {
    let Some(placement) = garment_placement(mask) else {
        return padded(garment, mask);
    };
    if placement.1 <= MAX_HIRES_HEIGHT {
        return framed(garment, mask, placement);
    }
    let scale = f64::from(MAX_HIRES_HEIGHT) / f64::from(placement.1);
    let (w, h) = garment.dimensions();
    let size = |v: u32| ((f64::from(v) * scale).round() as u32).max(1);
    let (w, h) = (size(w), size(h));
    let (garment, mask) = (
        resize(garment, w, h, Filter::Lanczos3),
        resize(mask, w, h, Filter::Triangle),
    );
    match garment_placement(&mask) {
        Some(placement) => framed(&garment, &mask, placement),
        None => padded(&garment, &mask),
    }
}

/// The photo and its mask padded to 3:4 around their centre.
fn padded(garment: &RgbImage, mask: &GrayImage) -> (RgbImage, GrayImage) {
    (
        pad_to_native_aspect(garment, Rgb([255, 255, 255])),
        pad_to_native_aspect(mask, Luma([0])),
    )
}

/// The garment and its mask placed in their frame as [`garment_placement`] says, at the
/// photo's own resolution.
fn framed(
    garment: &RgbImage,
    mask: &GrayImage,
    (fw, fh, x, y): (u32, u32, i64, i64),
) -> (RgbImage, GrayImage) {
    let mut frame = RgbImage::from_pixel(fw, fh, Rgb([255, 255, 255]));
    let mut frame_mask = GrayImage::new(fw, fh);
    // Only the garment's pixels are carried over; the photo's own background is left behind
    // (a product shot may have a grey or coloured backdrop).
    let mut cut = garment.clone();
    for (p, m) in cut.pixels_mut().zip(mask.pixels()) {
        if m[0] <= 127 {
            *p = Rgb([255, 255, 255]);
        }
    }
    imageops::replace(&mut frame, &cut, x, y);
    imageops::replace(&mut frame_mask, mask, x, y);
    (frame, frame_mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_garment_in_a_big_square_photo_is_framed_like_viton() {
        // A 2048 square product shot, the garment 400x500 off-centre.
        let mask = GrayImage::from_fn(2048, 2048, |x, y| {
            Luma([if (300..700).contains(&x) && (900..1400).contains(&y) {
                255
            } else {
                0
            }])
        });
        let garment = RgbImage::from_pixel(2048, 2048, Rgb([90, 90, 90]));
        let (frame, frame_mask) = frame_garment(&garment, &mask);
        assert_eq!(frame.dimensions(), frame_mask.dimensions());
        let (w, h) = frame.dimensions();
        assert!((w * 4).abs_diff(h * 3) <= 4, "{w}x{h}");
        let (x0, y0, x1, y1) = mask_box(&frame_mask).unwrap();
        let width = (x1 - x0) as f32 / w as f32;
        assert!((width - VITON_GARMENT_WIDTH).abs() < 0.01, "{width}");
        let (cx, cy) = (
            (x0 + x1) as f32 / 2.0 / w as f32,
            (y0 + y1) as f32 / 2.0 / h as f32,
        );
        assert!(
            (cx - 0.5).abs() < 0.01 && (cy - 0.5).abs() < 0.01,
            "{cx} {cy}"
        );
        // The backdrop outside the mask is white; the garment keeps its colour.
        assert_eq!(frame.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(frame.get_pixel(w / 2, h / 2).0, [90, 90, 90]);
    }

    #[test]
    fn a_long_garment_is_limited_by_its_height() {
        let mask = GrayImage::from_fn(300, 900, |x, y| {
            Luma([if (50..250).contains(&x) && (20..880).contains(&y) {
                255
            } else {
                0
            }])
        });
        let (_, frame_mask) = frame_garment(&RgbImage::new(300, 900), &mask);
        let (_, y0, _, y1) = mask_box(&frame_mask).unwrap();
        let height = (y1 - y0) as f32 / frame_mask.height() as f32;
        assert!((height - VITON_GARMENT_MAX_HEIGHT).abs() < 0.01, "{height}");
    }

    #[test]
    fn a_phone_photo_of_a_garment_is_framed_at_the_compositions_height() {
        // 3000x4000, the garment 2600x3500 on white: its frame would be 3707 high.
        let inside = |x: u32, y: u32| (200..2800).contains(&x) && (250..3750).contains(&y);
        let mask = GrayImage::from_fn(3000, 4000, |x, y| {
            Luma([if inside(x, y) { 255 } else { 0 }])
        });
        let garment = RgbImage::from_fn(3000, 4000, |x, y| {
            Rgb(if inside(x, y) {
                [200, 30, 40]
            } else {
                [255; 3]
            })
        });
        let (frame, frame_mask) = frame_garment(&garment, &mask);
        assert_eq!(frame.dimensions(), frame_mask.dimensions());
        let (w, h) = frame.dimensions();
        assert!(
            (MAX_HIRES_HEIGHT - 2..=MAX_HIRES_HEIGHT).contains(&h),
            "{w}x{h}"
        );
        assert!((w * 4).abs_diff(h * 3) <= 4, "{w}x{h}");
        // Placed as at full size: as wide as VITON's, centred; the garment's colour kept.
        let (x0, y0, x1, y1) = mask_box(&frame_mask).unwrap();
        let width = (x1 - x0) as f32 / w as f32;
        assert!((width - VITON_GARMENT_WIDTH).abs() < 0.01, "{width}");
        let cy = (y0 + y1) as f32 / 2.0 / h as f32;
        assert!((cy - 0.5).abs() < 0.01, "{cy}");
        assert_eq!(frame.get_pixel(w / 2, h / 2).0, [200, 30, 40]);
        // A photo whose frame fits is framed at its own resolution.
        let small = GrayImage::from_fn(300, 400, |x, y| {
            Luma([if inside(x * 10, y * 10) { 255 } else { 0 }])
        });
        let (_, frame_mask) = frame_garment(&RgbImage::new(300, 400), &small);
        assert_eq!(frame_mask.height(), garment_placement(&small).unwrap().1);
    }

    #[test]
    fn an_empty_mask_pads_the_photo() {
        let (frame, mask) = frame_garment(&RgbImage::new(100, 100), &GrayImage::new(100, 100));
        assert_eq!(frame.dimensions(), (100, 134));
        assert_eq!(mask.dimensions(), (100, 134));
    }
}
