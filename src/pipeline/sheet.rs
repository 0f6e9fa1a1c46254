//! The composition sheet: the inputs and the result of a try-on side by side, for sharing and
//! for comparing models.

use image::{imageops, Rgb, RgbImage};

use super::flow_color::flow_to_color;
use super::image_io::{fit_to_native, PipelineError};
use super::tryon::TryOnImages;

/// Person | garment | result | flow colour wheel, 192x256 each, on white.
pub fn composition_sheet(
    images: &TryOnImages,
    garment: Option<&RgbImage>,
) -> Result<RgbImage, PipelineError> {
    let (w, h) = images.result.dimensions();
    let garment = match garment {
        Some(g) => fit_to_native(g, Rgb([255, 255, 255])),
        None => RgbImage::from_pixel(w, h, Rgb([255, 255, 255])),
    };
    let (flow, _) = flow_to_color(&images.flow, None)?;
    let tiles = [&images.person, &garment, &images.result, &flow];
    let gap = 8;
    let mut out = RgbImage::from_pixel(
        tiles.len() as u32 * (w + gap) + gap,
        h + 2 * gap,
        Rgb([255, 255, 255]),
    );
    for (i, tile) in tiles.iter().enumerate() {
        let tile = if tile.dimensions() == (w, h) {
            (*tile).clone()
        } else {
            imageops::resize(*tile, w, h, imageops::FilterType::Triangle)
        };
        imageops::replace(
            &mut out,
            &tile,
            i64::from(gap + i as u32 * (w + gap)),
            i64::from(gap),
        );
    }
    Ok(out)
}
