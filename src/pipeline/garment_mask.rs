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
    pub tol: u8,
    pub canny_low: f32,
    pub canny_high: f32,
    pub gap: u8,
    pub band: u8,
    pub band_tol: u8,
    pub open: u8,
}

impl Default for MaskParams {
    fn default() -> Self {
        MaskParams {
            blur: 0.8,
            tol: 5,
            canny_low: 0.0,
            canny_high: 0.0,
            gap: 2,
            band: 3,
            band_tol: 16,
            open: 0,
        }
    }
}

/// A 0/255 mask (255 = garment) of a garment photographed on a plain background.
pub fn garment_mask(image: &RgbImage) -> Result<GrayImage, PipelineError> {
    garment_mask_with(image, &MaskParams::default())
}

fn binary(w: u32, h: u32, f: impl Fn(u32, u32) -> bool) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| Luma([if f(x, y) { 255 } else { 0 }]))
}

#[doc(hidden)]
pub fn garment_mask_with(image: &RgbImage, p: &MaskParams) -> Result<GrayImage, PipelineError> {
    use imageproc::morphology::{dilate, erode, open};
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return Err(PipelineError::EmptyImage);
    }
    let blurred = imageproc::filter::gaussian_blur_f32(image, p.blur);
    let bg = border_color(&blurred);
    let bg_luma = luma(bg);
    // Clearly not background, the way the reference masks draw garments.
    let strong = binary(w, h, |x, y| {
        luma(image.get_pixel(x, y).0).abs_diff(bg_luma) >= p.band_tol
    });
    // Faintly off the background: the body of a white garment, but also soft shadows and
    // compression halos, which are thin and go with the opening below.
    let weak_only = binary(w, h, |x, y| {
        let px = blurred.get_pixel(x, y);
        let dev = (0..3).map(|c| px[c].abs_diff(bg[c])).max().unwrap_or(0);
        dev > p.tol && strong.get_pixel(x, y)[0] == 0
    });
    let body = if p.band > 0 {
        open(&weak_only, Norm::L1, p.band)
    } else {
        weak_only
    };
    let mut fg = binary(w, h, |x, y| {
        strong.get_pixel(x, y)[0] != 0 || body.get_pixel(x, y)[0] != 0
    });
    if p.canny_high > 0.0 {
        let gray = image::imageops::grayscale(image);
        let edges = imageproc::edges::canny(&gray, p.canny_low, p.canny_high);
        fg = binary(w, h, |x, y| {
            fg.get_pixel(x, y)[0] != 0 || edges.get_pixel(x, y)[0] != 0
        });
    }
    fg = fill_holes_gap(&fg, p.gap);
    if p.open > 0 {
        // Drop thin strays (edge fragments, halos) but never what is clearly garment.
        let opened = open(&fg, Norm::L1, p.open);
        fg = binary(w, h, |x, y| {
            opened.get_pixel(x, y)[0] != 0
                || (fg.get_pixel(x, y)[0] != 0 && strong.get_pixel(x, y)[0] != 0)
        });
    }
    fg = largest_component(&fg);
    Ok(fg)
}

/// Fills the 0-regions that the border cannot reach through corridors wider than `2 * gap`, so
/// an outline with small breaks still encloses its inside.
fn fill_holes_gap(mask: &GrayImage, gap: u8) -> GrayImage {
    use imageproc::morphology::{dilate, erode};
    let (w, h) = mask.dimensions();
    let outside = binary(w, h, |x, y| mask.get_pixel(x, y)[0] == 0);
    let seeds = if gap > 0 {
        erode(&outside, Norm::LInf, gap)
    } else {
        outside.clone()
    };
    let mut reached = touching_border(&seeds, Connectivity::Four);
    if gap > 0 {
        reached = dilate(&reached, Norm::LInf, gap);
    }
    binary(w, h, |x, y| {
        !(reached.get_pixel(x, y)[0] != 0 && outside.get_pixel(x, y)[0] != 0)
    })
}

fn luma(c: [u8; 3]) -> u8 {
    ((299 * u32::from(c[0]) + 587 * u32::from(c[1]) + 114 * u32::from(c[2]) + 500) / 1000) as u8
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
