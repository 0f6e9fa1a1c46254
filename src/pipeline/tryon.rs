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
use crate::engine::Engine;

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

/// Frames the photo, runs the network and converts its outputs to pictures.
pub fn run_tryon(engine: &Engine, photos: &TryOnPhotos) -> Result<TryOnImages, PipelineError> {
    let start = Instant::now();
    let (garment_w, garment_h) = photos.garment.dimensions();
    if photos.garment_mask.dimensions() != (garment_w, garment_h) {
        let (mask_w, mask_h) = photos.garment_mask.dimensions();
        return Err(PipelineError::MaskSize {
            garment: (garment_w, garment_h),
            mask: (mask_w, mask_h),
        });
    }
    let person = frame(photos.photo, photos.crop)?;
    let garment = pad_to_native_aspect(photos.garment, Rgb([255, 255, 255]));
    let garment_mask = pad_to_native_aspect(photos.garment_mask, Luma([0]));
    let device = engine.device();
    let person_t = rgb_to_tensor(&person, device)?;
    let garment_t = rgb_to_tensor(&fit_to_native(&garment, Rgb([255, 255, 255])), device)?;
    let mask_t = mask_to_tensor(&fit_to_native(&garment_mask, Luma([0])), device)?;
    let network_start = Instant::now();
    let out = engine.tryon(&person_t, &garment_t, &mask_t)?;
    let result = tensor_to_rgb(&out.p_tryon)?;
    let network_time = network_start.elapsed();
    let hires = if photos.hires {
        let full = crop_pixels(photos.photo, photos.crop);
        Some(compose_hires(
            &out,
            &HiresInputs {
                person: &full,
                person_native: &person,
                garment: &garment,
                garment_mask: &garment_mask,
            },
        )?)
    } else {
        None
    };
    Ok(TryOnImages {
        person,
        result,
        hires,
        warped_garment: tensor_to_rgb(&out.warped_cloth)?,
        warped_mask: tensor_to_gray(&out.warped_edge)?,
        composite_mask: tensor_to_gray(&out.m_composite)?,
        rendered: tensor_to_rgb(&out.p_rendered)?,
        flow: out.last_flow.to_device(&Device::Cpu)?,
        network_time,
        total_time: start.elapsed(),
    })
}
