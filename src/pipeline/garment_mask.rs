//! Automatic garment masks for product photos on a light or uniform background.

use image::{GrayImage, Luma, RgbImage};
use imageproc::distance_transform::Norm;
use imageproc::region_labelling::{connected_components, Connectivity};

use super::image_io::PipelineError;

/// Tuning knobs of [`garment_mask_with`].
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct MaskParams {
    pub blur: f32,
    pub color_tol: u8,
    pub canny_low: f32,
    pub canny_high: f32,
    pub edge_dilate: u8,
    pub shrink: u8,
}

impl Default for MaskParams {
    fn default() -> Self {
        MaskParams {
            blur: 1.0,
            color_tol: 12,
            canny_low: 8.0,
            canny_high: 24.0,
            edge_dilate: 1,
            shrink: 1,
        }
    }
}

/// A 0/255 mask (255 = garment) of a garment photographed on a plain background.
pub fn garment_mask(image: &RgbImage) -> Result<GrayImage, PipelineError> {
    garment_mask_with(image, &MaskParams::default())
}

#[doc(hidden)]
pub fn garment_mask_with(image: &RgbImage, p: &MaskParams) -> Result<GrayImage, PipelineError> {
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return Err(PipelineError::EmptyImage);
    }
    let blurred = imageproc::filter::gaussian_blur_f32(image, p.blur);
    let bg = border_color(&blurred);
    let dist = GrayImage::from_fn(w, h, |x, y| {
        let px = blurred.get_pixel(x, y);
        Luma([(0..3).map(|c| px[c].abs_diff(bg[c])).max().unwrap_or(0)])
    });
    let gray = image::imageops::grayscale(image);
    let mut edges = imageproc::edges::canny(&gray, p.canny_low, p.canny_high);
    if p.edge_dilate > 0 {
        imageproc::morphology::dilate_mut(&mut edges, Norm::LInf, p.edge_dilate);
    }
    // Background candidates: close to the border colour and not on an outline.
    let candidate = GrayImage::from_fn(w, h, |x, y| {
        let bg_like = dist.get_pixel(x, y)[0] <= p.color_tol && edges.get_pixel(x, y)[0] == 0;
        Luma([if bg_like { 255 } else { 0 }])
    });
    let background = touching_border(&candidate, Connectivity::Four);
    let mut fg = GrayImage::from_fn(w, h, |x, y| {
        Luma([if background.get_pixel(x, y)[0] == 0 {
            255
        } else {
            0
        }])
    });
    fg = largest_component(&fg);
    fg = fill_holes(&fg);
    if p.shrink > 0 {
        imageproc::morphology::erode_mut(&mut fg, Norm::L1, p.shrink);
    }
    Ok(fg)
}

/// Per-channel median of the outermost pixel ring.
fn border_color(image: &RgbImage) -> [u8; 3] {
    let (w, h) = image.dimensions();
    let mut channels: [Vec<u8>; 3] = Default::default();
    for (x, y, px) in image.enumerate_pixels() {
        if x == 0 || y == 0 || x + 1 == w || y + 1 == h {
            for c in 0..3 {
                channels[c].push(px[c]);
            }
        }
    }
    channels.map(|mut v| {
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(255)
    })
}

/// The 255-pixels of `mask` connected to the image border, as a 0/255 mask.
fn touching_border(mask: &GrayImage, conn: Connectivity) -> GrayImage {
    let (w, h) = mask.dimensions();
    let labels = connected_components(mask, conn, Luma([0u8]));
    let mut border_labels = std::collections::HashSet::new();
    for (x, y, l) in labels.enumerate_pixels() {
        if (x == 0 || y == 0 || x + 1 == w || y + 1 == h) && l[0] != 0 {
            border_labels.insert(l[0]);
        }
    }
    GrayImage::from_fn(w, h, |x, y| {
        let l = labels.get_pixel(x, y)[0];
        Luma([if l != 0 && border_labels.contains(&l) {
            255
        } else {
            0
        }])
    })
}

/// Keeps the largest 8-connected 255-region.
fn largest_component(mask: &GrayImage) -> GrayImage {
    let labels = connected_components(mask, Connectivity::Eight, Luma([0u8]));
    let mut sizes = std::collections::HashMap::<u32, usize>::new();
    for l in labels.pixels() {
        if l[0] != 0 {
            *sizes.entry(l[0]).or_default() += 1;
        }
    }
    let Some((&best, _)) = sizes.iter().max_by_key(|(_, &n)| n) else {
        return mask.clone();
    };
    let (w, h) = mask.dimensions();
    GrayImage::from_fn(w, h, |x, y| {
        Luma([if labels.get_pixel(x, y)[0] == best {
            255
        } else {
            0
        }])
    })
}

/// Sets to 255 every 0-region not connected to the border.
fn fill_holes(mask: &GrayImage) -> GrayImage {
    let inverted = GrayImage::from_fn(mask.width(), mask.height(), |x, y| {
        Luma([255 - mask.get_pixel(x, y)[0]])
    });
    let outside = touching_border(&inverted, Connectivity::Four);
    GrayImage::from_fn(mask.width(), mask.height(), |x, y| {
        Luma([255 - outside.get_pixel(x, y)[0]])
    })
}
