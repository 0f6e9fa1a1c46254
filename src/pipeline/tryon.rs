//! One try-on from photos to pictures: framing, the network, and everything a viewer shows.
//! Shared by the app's inference worker and usable by any front end.

use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use image::{GrayImage, Luma, Rgb, RgbImage};

use super::framing::{crop_pixels, frame, Crop};
use super::hires::{compose_hires, HiresInputs};
use super::image_io::{
    fit_to_native, mask_to_tensor, pad_to_native_aspect, rgb_to_tensor, tensor_to_gray,
    tensor_to_rgb, PipelineError,
};
use crate::engine::{Engine, TryOn};

/// What a try-on needs: the whole photo with its 3:4 crop, and a garment with its mask (both at
/// their own resolution; the mask the size of the garment photo).
#[derive(Debug, Clone, Copy)]
pub struct TryOnPhotos<'a> {
    pub photo: &'a RgbImage,
    pub crop: Crop,
    pub garment: &'a RgbImage,
    pub garment_mask: &'a GrayImage,
    /// Also compose the result at the crop's own resolution.
    pub hires: bool,
}

/// Every picture of one try-on, on the CPU.
#[derive(Debug, Clone)]
pub struct TryOnImages {
    /// The network's person input: the crop scaled to 192x256.
    pub person: RgbImage,
    /// The try-on at 192x256.
    pub result: RgbImage,
    /// The result at the crop's resolution, when asked for.
    pub hires: Option<RgbImage>,
    pub warped_garment: RgbImage,
    pub warped_mask: GrayImage,
    pub composite_mask: GrayImage,
    pub rendered: RgbImage,
    /// The appearance flow: the absolute sampling grid, (1, 2, 256, 192) on the CPU.
    pub flow: Tensor,
    /// Time in the network (the rest is framing and conversion).
    pub network_time: Duration,
    pub total_time: Duration,
}

/// The network's inputs made from [`TryOnPhotos`], with the images the high-resolution
/// composition needs. The one place where photos become tensors, for the app and the CLI alike.
pub struct PreparedInputs {
    /// The person crop at 192x256, (1, 3, 256, 192) on the engine's device.
    pub person: Tensor,
    /// The garment, padded to 3:4 and fitted to 192x256.
    pub garment: Tensor,
    /// The garment mask, the same way.
    pub mask: Tensor,
    /// The person crop scaled to 192x256, as a picture.
    pub person_native: RgbImage,
    /// The garment and its mask padded to 3:4, at their own resolution.
    pub garment_padded: RgbImage,
    pub mask_padded: GrayImage,
}

/// Checks the photos, frames the person and encodes everything for the network on `device`.
pub fn prepare_inputs(
    photos: &TryOnPhotos,
    device: &Device,
) -> Result<PreparedInputs, PipelineError> {
    let (garment_w, garment_h) = photos.garment.dimensions();
    if photos.garment_mask.dimensions() != (garment_w, garment_h) {
        let (mask_w, mask_h) = photos.garment_mask.dimensions();
        return Err(PipelineError::MaskSize {
            garment: (garment_w, garment_h),
            mask: (mask_w, mask_h),
        });
    }
    let person_native = frame(photos.photo, photos.crop)?;
    let garment_padded = pad_to_native_aspect(photos.garment, Rgb([255, 255, 255]));
    let mask_padded = pad_to_native_aspect(photos.garment_mask, Luma([0]));
    Ok(PreparedInputs {
        person: rgb_to_tensor(&person_native, device)?,
        garment: rgb_to_tensor(
            &fit_to_native(&garment_padded, Rgb([255, 255, 255])),
            device,
        )?,
        mask: mask_to_tensor(&fit_to_native(&mask_padded, Luma([0])), device)?,
        person_native,
        garment_padded,
        mask_padded,
    })
}

/// Frames the photo, runs the network and converts its outputs to pictures.
pub fn run_tryon(engine: &Engine, photos: &TryOnPhotos) -> Result<TryOnImages, PipelineError> {
    run_tryon_with_outputs(engine, photos).map(|(images, _)| images)
}

/// [`run_tryon`], also returning the network's raw outputs (for dumping them).
pub fn run_tryon_with_outputs(
    engine: &Engine,
    photos: &TryOnPhotos,
) -> Result<(TryOnImages, TryOn), PipelineError> {
    let start = Instant::now();
    let inputs = prepare_inputs(photos, engine.device())?;
    let network_start = Instant::now();
    let out = engine.tryon(&inputs.person, &inputs.garment, &inputs.mask)?;
    let result = tensor_to_rgb(&out.p_tryon)?;
    let network_time = network_start.elapsed();
    let hires = if photos.hires {
        let full = crop_pixels(photos.photo, photos.crop);
        Some(compose_hires(
            &out,
            &HiresInputs {
                person: &full,
                person_native: &inputs.person_native,
                garment: &inputs.garment_padded,
                garment_mask: &inputs.mask_padded,
            },
        )?)
    } else {
        None
    };
    let images = TryOnImages {
        person: inputs.person_native,
        result,
        hires,
        warped_garment: tensor_to_rgb(&out.warped_cloth)?,
        warped_mask: tensor_to_gray(&out.warped_edge)?,
        composite_mask: tensor_to_gray(&out.m_composite)?,
        rendered: tensor_to_rgb(&out.p_rendered)?,
        flow: out.last_flow.to_device(&Device::Cpu)?,
        network_time,
        total_time: start.elapsed(),
    };
    Ok((images, out))
}
