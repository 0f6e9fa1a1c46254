//! Reading and writing images, and the official input encoding.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::atomic_file::write_atomic_with;

use candle_core::{Device, Tensor};
use image::{imageops, DynamicImage, GrayImage, ImageReader, Luma, Rgb, RgbImage};

use crate::engine::NATIVE_SIZE;

/// Largest image accepted, in pixels (a 100-megapixel photo); a bigger header is refused before
/// any pixel is decoded.
pub const MAX_IMAGE_PIXELS: u64 = 100_000_000;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` is not a readable image: {reason}")]
    Decode { path: PathBuf, reason: String },
    #[error("`{path}` is {width}x{height}, larger than the {MAX_IMAGE_PIXELS}-pixel limit")]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
    },
    #[error("`{path}` is empty (0 pixels)")]
    Empty { path: PathBuf },
    #[error("cannot write `{path}`: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("the image is empty (0 pixels)")]
    EmptyImage,
    #[error(
        "no garment found: nothing stands out from the background (a garment photo needs a \
         plain background around the garment)"
    )]
    NoGarment,
    #[error("tensor has shape {0:?}; expected (1, C, H, W)")]
    Shape(Vec<usize>),
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Crop(#[from] super::framing::CropError),
    #[error("the garment is {}x{} but its mask {}x{}", garment.0, garment.1, mask.0, mask.1)]
    MaskSize {
        garment: (u32, u32),
        mask: (u32, u32),
    },
    #[error("the try-on failed: {0}")]
    Engine(#[from] crate::engine::EngineError),
}

/// Opens an image's decoder once its header checks out: a known format, at least one pixel,
/// within [`MAX_IMAGE_PIXELS`]; decoding allocations are capped.
fn open_decoder(path: &Path) -> Result<impl image::ImageDecoder, PipelineError> {
    let file = std::fs::File::open(path).map_err(|source| PipelineError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = ImageReader::new(BufReader::new(file))
        .with_guessed_format()
        .map_err(|source| PipelineError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let decode_error = |reason: String| PipelineError::Decode {
        path: path.to_path_buf(),
        reason,
    };
    if reader.format().is_none() {
        return Err(decode_error("unknown image format".into()));
    }
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| decode_error(e.to_string()))?;
    let (width, height) = image::ImageDecoder::dimensions(&decoder);
    if u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS {
        return Err(PipelineError::TooLarge {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    if width == 0 || height == 0 {
        return Err(PipelineError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_IMAGE_PIXELS * 16);
    image::ImageDecoder::set_limits(&mut decoder, limits)
        .map_err(|e| decode_error(e.to_string()))?;
    Ok(decoder)
}

/// The EXIF orientation; phones store photos sideways with one. An unreadable tag means
/// upright.
fn orientation(decoder: &mut impl image::ImageDecoder) -> image::metadata::Orientation {
    decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms)
}

fn decode(path: &Path) -> Result<DynamicImage, PipelineError> {
    let mut decoder = open_decoder(path)?;
    let orientation = orientation(&mut decoder);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| PipelineError::Decode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Width and height of the image [`load_rgb`] would return (upright, as its EXIF orientation
/// says), read from the header alone.
pub fn image_size(path: &Path) -> Result<(u32, u32), PipelineError> {
    use image::metadata::Orientation;
    let mut decoder = open_decoder(path)?;
    let (width, height) = image::ImageDecoder::dimensions(&decoder);
    Ok(match orientation(&mut decoder) {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => (height, width),
        _ => (width, height),
    })
}

/// Loads any supported image as 8-bit RGB, upright as its EXIF orientation says (16-bit, grey,
/// alpha and CMYK inputs are converted).
pub fn load_rgb(path: &Path) -> Result<RgbImage, PipelineError> {
    Ok(decode(path)?.to_rgb8())
}

/// Loads any supported image as 8-bit grey.
pub fn load_gray(path: &Path) -> Result<GrayImage, PipelineError> {
    Ok(decode(path)?.to_luma8())
}

/// Pads an image with `fill` around the centre to the network's 3:4 aspect, cropping nothing
/// away: how garment photos of any shape are framed (at their full resolution).
pub fn pad_to_native_aspect<P>(
    image: &image::ImageBuffer<P, Vec<u8>>,
    fill: P,
) -> image::ImageBuffer<P, Vec<u8>>
where
    P: image::Pixel<Subpixel = u8> + 'static,
{
    let (th, tw) = (NATIVE_SIZE.0 as u64, NATIVE_SIZE.1 as u64);
    let (w, h) = image.dimensions();
    let (pw, ph) = if u64::from(w) * th > u64::from(h) * tw {
        (w, (u64::from(w) * th).div_ceil(tw) as u32)
    } else {
        ((u64::from(h) * tw).div_ceil(th) as u32, h)
    };
    if (pw, ph) == (w, h) {
        return image.clone();
    }
    let mut canvas = image::ImageBuffer::from_pixel(pw, ph, fill);
    imageops::replace(
        &mut canvas,
        image,
        i64::from((pw - w) / 2),
        i64::from((ph - h) / 2),
    );
    canvas
}

/// Brings an image to the network's 192x256. A 192x256 image passes untouched (the official
/// test path does not resample); otherwise the image is padded with `fill` to 3:4 (nothing is
/// cropped away) and downscaled with an antialiasing filter (Lanczos3 widens its support when
/// shrinking).
pub fn fit_to_native<P>(
    image: &image::ImageBuffer<P, Vec<u8>>,
    fill: P,
) -> image::ImageBuffer<P, Vec<u8>>
where
    P: image::Pixel<Subpixel = u8> + Send + Sync + 'static,
{
    let (th, tw) = (NATIVE_SIZE.0 as u32, NATIVE_SIZE.1 as u32);
    if image.dimensions() == (tw, th) {
        return image.clone();
    }
    let (w, h) = image.dimensions();
    if u64::from(w) * u64::from(th) == u64::from(h) * u64::from(tw) {
        // Already 3:4 (a padded garment, say): no padded copy needed.
        return crate::resample::resize(image, tw, th, crate::resample::Filter::Lanczos3);
    }
    let canvas = pad_to_native_aspect(image, fill);
    crate::resample::resize(&canvas, tw, th, crate::resample::Filter::Lanczos3)
}

/// RGB image to a (1, 3, H, W) tensor in [-1, 1]: x / 255, then (x - 0.5) / 0.5.
pub fn rgb_to_tensor(image: &RgbImage, device: &Device) -> Result<Tensor, PipelineError> {
    let (w, h) = image.dimensions();
    let (w, h) = (w as usize, h as usize);
    let mut data = vec![0f32; 3 * w * h];
    for (i, p) in image.pixels().enumerate() {
        for c in 0..3 {
            data[c * w * h + i] = (f32::from(p[c]) / 255.0 - 0.5) / 0.5;
        }
    }
    Ok(Tensor::from_vec(data, (1, 3, h, w), device)?)
}

/// Grey mask to a (1, 1, H, W) tensor in [0, 1] (the engine binarises it at 0.5).
pub fn mask_to_tensor(mask: &GrayImage, device: &Device) -> Result<Tensor, PipelineError> {
    let (w, h) = mask.dimensions();
    let data: Vec<f32> = mask.pixels().map(|p| f32::from(p[0]) / 255.0).collect();
    Ok(Tensor::from_vec(
        data,
        (1, 1, h as usize, w as usize),
        device,
    )?)
}

fn plane_data(t: &Tensor, channels: usize) -> Result<(usize, usize, Vec<f32>), PipelineError> {
    let dims = t.dims();
    if dims.len() != 4 || dims[0] != 1 || dims[1] != channels {
        return Err(PipelineError::Shape(dims.to_vec()));
    }
    let (h, w) = (dims[2], dims[3]);
    let data = t
        .to_device(&Device::Cpu)?
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok((h, w, data))
}

/// A value in [0, 1] as the nearest 8-bit level.
pub(crate) fn to_byte(v: f32) -> u8 {
    crate::resample::level(v * 255.0)
}

/// (1, 3, H, W) tensor in [-1, 1] to an RGB image.
pub fn tensor_to_rgb(t: &Tensor) -> Result<RgbImage, PipelineError> {
    let (h, w, data) = plane_data(t, 3)?;
    let plane = h * w;
    Ok(RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let i = y as usize * w + x as usize;
        Rgb([0, 1, 2].map(|c| to_byte((data[c * plane + i] + 1.0) / 2.0)))
    }))
}

/// (1, 1, H, W) tensor in [0, 1] to a grey image.
pub fn tensor_to_gray(t: &Tensor) -> Result<GrayImage, PipelineError> {
    let (h, w, data) = plane_data(t, 1)?;
    Ok(GrayImage::from_fn(w as u32, h as u32, |x, y| {
        Luma([to_byte(data[y as usize * w + x as usize])])
    }))
}

/// Extensions of the image files the app opens and picks up from folders (compared in
/// lowercase): the formats [`load_rgb`] decodes.
pub const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff"];

/// Whether a path names an image file by its extension.
pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Writes an image (format from the extension) atomically (see [`crate::atomic_file`]), so a
/// failed write never leaves a truncated file behind.
pub fn save_image(image: &DynamicImage, path: &Path) -> Result<(), PipelineError> {
    let write_error = |reason: String| PipelineError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let format = image::ImageFormat::from_path(path)
        .map_err(|_| write_error("unknown image extension (use .png or .jpg)".into()))?;
    write_atomic_with(
        path,
        |e| e.to_string(),
        |file, _| {
            let mut writer = std::io::BufWriter::new(file);
            let to_write = if format == image::ImageFormat::Jpeg {
                DynamicImage::ImageRgb8(image.to_rgb8())
            } else {
                image.clone()
            };
            to_write
                .write_to(&mut writer, format)
                .map_err(|e| e.to_string())?;
            std::io::Write::flush(&mut writer).map_err(|e| e.to_string())
        },
    )
    .map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_every_byte() {
        let img = RgbImage::from_fn(192, 256, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        });
        let t = rgb_to_tensor(&img, &Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[1, 3, 256, 192]);
        let back = tensor_to_rgb(&t).unwrap();
        assert_eq!(back, img);
    }

    #[test]
    fn native_size_passes_through_and_others_are_fitted() {
        let img = RgbImage::from_pixel(192, 256, Rgb([10, 20, 30]));
        assert_eq!(fit_to_native(&img, Rgb([255, 255, 255])), img);
        let wide = RgbImage::from_pixel(800, 400, Rgb([0, 0, 0]));
        let fitted = fit_to_native(&wide, Rgb([255, 255, 255]));
        assert_eq!(fitted.dimensions(), (192, 256));
        // Padded above and below with the fill colour; the content stays in the middle.
        assert_eq!(fitted.get_pixel(96, 2)[0], 255);
        assert!(fitted.get_pixel(96, 128)[0] < 5);
    }
}
