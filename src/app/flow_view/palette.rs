//! The overlays' colours: the colour wheel of `pipeline::flow_to_color` (one hue wheel for the
//! screen and the exported pictures), and its legend.

use eframe::egui::{Color32, ColorImage};

use super::raster::{clamp01, v2, V2};

/// Fully saturated colour for a direction (the pipeline's hue convention).
pub(super) fn hue_color(m: V2) -> [f32; 3] {
    crate::pipeline::hue_rgb(m.x, m.y)
}

/// White for no motion, the full hue at `scale` pixels and beyond (the pipeline's wheel).
pub(super) fn wheel_rgb(m: V2, scale: f32) -> [f32; 3] {
    crate::pipeline::wheel_rgb(m.x, m.y, scale)
}

pub(super) fn to_color32(rgba: [f32; 4]) -> Color32 {
    let [r, g, b, a] = rgba.map(|c| (clamp01(c) * 255.0).round() as u8);
    Color32::from_rgba_premultiplied(r, g, b, a)
}

/// A colour wheel `side` pixels across: the overlay's colours for motions up to the rim.
pub(super) fn legend_wheel(side: usize) -> ColorImage {
    let radius = side as f32 * 0.5;
    let pixels = (0..side * side)
        .map(|i| {
            let m = v2(
                (i % side) as f32 + 0.5 - radius,
                (i / side) as f32 + 0.5 - radius,
            );
            // One pixel of antialiasing at the rim.
            let coverage = clamp01(radius - 0.5 - m.length() + 0.5);
            let [r, g, b] = wheel_rgb(m, radius - 1.0);
            to_color32([r * coverage, g * coverage, b * coverage, coverage])
        })
        .collect();
    ColorImage::new([side, side], pixels)
}
