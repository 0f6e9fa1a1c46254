//! One try-on from photos to pictures: framing, the network, and everything a viewer shows.
//! Shared by the app's inference worker and usable by any front end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use image::{GrayImage, Luma, Rgb, RgbImage};

use super::arms::Sleeves;
use super::exposure::{Exposure, ExposureMode};
use super::framing::{crop_pixels, crop_plane, native_view, Crop, VITON_BACKGROUND};
use super::garment_frame::frame_garment;
use super::hem::Hem;
use super::hires::{
    compose_hires, composition_size, downscaled_to_cap, paste_back, Hires, HiresInputs,
};
use super::image_io::{
    fit_to_native, mask_to_tensor, pad_to_native_aspect, rgb_to_tensor, tensor_to_gray,
    tensor_to_rgb, PipelineError,
};
use super::skin::Skin;
use super::subject::{is_native_photo, Background};
use crate::engine::{Engine, TryOn, WarpPasses, NATIVE_SIZE};
use crate::person::Keypoint;
use crate::resample::{resize, Filter};

/// What a try-on needs: the whole photo with its 3:4 crop, and a garment with its mask (both at
/// their own resolution; the mask the size of the garment photo).
#[derive(Debug, Clone, Copy)]
pub struct TryOnPhotos<'a> {
    pub photo: &'a RgbImage,
    pub crop: Crop,
    /// The person's matte over the whole photo (255 = person): the result changes the photo
    /// only on and near the person, and with `background` `Replace` the network sees the
    /// person on VITON's background.
    pub matte: Option<&'a GrayImage>,
    /// What the network sees around the person where a matte is given.
    pub background: Background,
    pub garment: &'a RgbImage,
    pub garment_mask: &'a GrayImage,
    /// Also compose the result at the crop's own resolution.
    pub hires: bool,
    /// That result keeps the photo as it is (see [`HiresInputs::keep_photo`]): for a crop
    /// where no person could be framed.
    pub keep_photo: bool,
    /// Whether a dim photo's person is brought into VITON's light for the network, and the
    /// garment into the photo's light for the result ([`Exposure`]).
    pub exposure: ExposureMode,
    /// The person's pose (photo pixels), when known: the composition tells the arms from it
    /// and, unless `sleeves` keeps them, bares them where the new garment leaves an old sleeve
    /// uncovered.
    pub keypoints: Option<&'a [Keypoint]>,
    /// What becomes of such a sleeve.
    pub sleeves: Sleeves,
    /// What becomes of an old top the new garment leaves uncovered below its hem (with the
    /// pose).
    pub hem: Hem,
    /// What becomes of an old top the new garment leaves uncovered on the torso, where the
    /// network paints skin (with the pose).
    pub skin: Skin,
    /// How the warp module reads the person and the garment.
    pub warp: WarpPasses,
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
    /// The whole photo at its own resolution with the result pasted back (with `hires`).
    pub pasted: Option<RgbImage>,
    /// The crop the network saw, in the photo's pixels.
    pub crop: Crop,
    /// How much brighter the network saw the person than the photo shows them.
    pub exposure: Exposure,
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
    /// The person's side, whatever the garment.
    pub person_side: Arc<PreparedPerson>,
    /// The garment and its mask padded to 3:4, at their own resolution.
    pub garment_padded: RgbImage,
    pub mask_padded: GrayImage,
    /// The garment has long sleeves of its own ([`super::arms::long_sleeved`], told once from
    /// its mask as the network sees it): the composition leaves the arms to the network.
    pub long_sleeved: bool,
}

/// The person's side of a try-on: everything made from the photo, its crop and its matte,
/// whatever the garment. Made once, it serves every garment tried on the same photo and crop (the
/// app keeps the last one): for a phone photo that is most of the work.
#[derive(Debug, Clone)]
pub struct PreparedPerson {
    /// The person crop scaled to 192x256, as a picture: what the network sees, in its light.
    pub person_native: RgbImage,
    /// How much brighter the network sees the person than the photo shows them.
    pub exposure: Exposure,
    /// The person's matte over the crop at 192x256, when one was given.
    pub matte_native: Option<GrayImage>,
    /// The crop at the high-resolution composition's size (its own, capped at
    /// [`super::MAX_HIRES_HEIGHT`]), when that result was asked for.
    pub composition: Option<RgbImage>,
}

/// Checks the photo and its matte, frames the person for the network and, with `hires`, cuts
/// the crop at the composition's size ([`PreparedPerson`]).
pub fn prepare_person(photos: &TryOnPhotos) -> Result<PreparedPerson, PipelineError> {
    if let Some(matte) = photos.matte {
        if matte.dimensions() != photos.photo.dimensions() {
            return Err(PipelineError::Shape(vec![
                matte.height() as usize,
                matte.width() as usize,
            ]));
        }
    }
    photos
        .crop
        .validate(photos.photo.width(), photos.photo.height())?;
    // The crop is cut once (a phone photo's is tens of megabytes): the composition is made from
    // it as it is, then the network's view from it (what `frame_person` gives).
    let cut = crop_pixels(photos.photo, photos.crop, VITON_BACKGROUND);
    let composition = photos
        .hires
        .then(|| downscaled_to_cap(&cut).unwrap_or_else(|| cut.clone()));
    let alpha = photos.matte.map(|matte| crop_plane(matte, photos.crop));
    let replace = photos.background == Background::Replace;
    let mut person_native = native_view(cut, alpha.as_ref().filter(|_| replace));
    let (th, tw) = (NATIVE_SIZE.0 as u32, NATIVE_SIZE.1 as u32);
    let matte_native = alpha.map(|alpha| resize(&alpha, tw, th, Filter::Triangle));
    // The matte the network's view was made with: where the photo is seen as it is, its
    // light is measured and matched over the whole view.
    let seen_matte = matte_native.as_ref().filter(|_| replace);
    // A 192x256 photo is a VITON input, taken as it is; any other is brought into VITON's light
    // when it is clearly darker.
    let exposure = if is_native_photo(photos.photo) || photos.exposure == ExposureMode::Keep {
        Exposure::NEUTRAL
    } else {
        Exposure::measure(photos.photo, &person_native, seen_matte)
    };
    if !exposure.is_neutral() {
        log::info!(
            "the photo is dim: the network sees the person {:.2}x brighter, and the garment takes \
             the photo's light",
            exposure.gain()
        );
    }
    exposure.to_network(&mut person_native, seen_matte);
    Ok(PreparedPerson {
        person_native,
        exposure,
        matte_native,
        composition,
    })
}

/// Checks the photos, frames the person and encodes everything for the network on `device`.
pub fn prepare_inputs(
    photos: &TryOnPhotos,
    device: &Device,
) -> Result<PreparedInputs, PipelineError> {
    prepare_inputs_with(photos, Arc::new(prepare_person(photos)?), device)
}

/// [`prepare_inputs`] with the person's side already made for these photos (the same photo,
/// crop, matte, exposure mode and resolution).
pub fn prepare_inputs_with(
    photos: &TryOnPhotos,
    person_side: Arc<PreparedPerson>,
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
    let (th, tw) = (NATIVE_SIZE.0 as u32, NATIVE_SIZE.1 as u32);
    // A 192x256 garment is VITON's own framing, used as it is; any other is placed like it.
    let (garment_padded, mask_padded) = if photos.garment.dimensions() == (tw, th) {
        (
            pad_to_native_aspect(photos.garment, Rgb([255, 255, 255])),
            pad_to_native_aspect(photos.garment_mask, Luma([0])),
        )
    } else {
        frame_garment(photos.garment, photos.garment_mask)
    };
    let mask_native = fit_to_native(&mask_padded, Luma([0]));
    Ok(PreparedInputs {
        person: rgb_to_tensor(&person_side.person_native, device)?,
        garment: rgb_to_tensor(
            &fit_to_native(&garment_padded, Rgb([255, 255, 255])),
            device,
        )?,
        mask: mask_to_tensor(&mask_native, device)?,
        long_sleeved: super::arms::long_sleeved(&mask_native),
        person_side,
        garment_padded,
        mask_padded,
    })
}

/// The try-on at the crop's resolution, and the whole photo with it pasted back (the photo's
/// own pixels wherever nothing new is).
pub fn compose_pasted(
    out: &TryOn,
    photos: &TryOnPhotos,
    inputs: &PreparedInputs,
) -> Result<(Hires, RgbImage), PipelineError> {
    let person = &inputs.person_side;
    let full = match &person.composition {
        Some(composition) => std::borrow::Cow::Borrowed(composition),
        None => std::borrow::Cow::Owned(composition_size(crop_pixels(
            photos.photo,
            photos.crop,
            VITON_BACKGROUND,
        ))),
    };
    // The part inside the photo, in the composition's pixels.
    let scale = f64::from(full.width()) / f64::from(photos.crop.width.max(1));
    let at = |v: u32| (f64::from(v) * scale).round() as u32;
    // The pose in the network's pixels. A long-sleeved garment's own sleeves belong on the
    // arms: none are bared for one.
    let (sx, sy) = (
        NATIVE_SIZE.1 as f32 / photos.crop.width.max(1) as f32,
        NATIVE_SIZE.0 as f32 / photos.crop.height.max(1) as f32,
    );
    let keypoints: Option<Vec<Keypoint>> = photos.keypoints.map(|points| {
        points
            .iter()
            .map(|k| Keypoint {
                x: (k.x - photos.crop.x as f32) * sx,
                y: (k.y - photos.crop.y as f32) * sy,
                ..*k
            })
            .collect()
    });
    let hires = compose_hires(
        out,
        &HiresInputs {
            person: &full,
            person_native: &person.person_native,
            exposure: person.exposure,
            person_matte: person.matte_native.as_ref(),
            keep_photo: photos.keep_photo,
            garment: &inputs.garment_padded,
            garment_mask: &inputs.mask_padded,
            inside: photos
                .crop
                .overlap(photos.photo.width(), photos.photo.height())
                .map(|(x, y, w, h)| {
                    let x = (i64::from(x) - i64::from(photos.crop.x)) as u32;
                    let y = (i64::from(y) - i64::from(photos.crop.y)) as u32;
                    (at(x), at(y), at(x + w) - at(x), at(y + h) - at(y))
                }),
            seams: photos
                .crop
                .seams(photos.photo.width(), photos.photo.height()),
            keypoints: keypoints.as_deref(),
            bare_arms: photos.sleeves == Sleeves::Bare && !inputs.long_sleeved,
            mirror_hem: photos.hem == Hem::Mirror,
            own_skin: photos.skin == Skin::Own,
        },
    )?;
    let pasted = paste_back(photos.photo, photos.crop, &hires);
    Ok((hires, pasted))
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
    let person_side = Arc::new(prepare_person(photos)?);
    run_prepared(engine, photos, person_side, start)
}

/// [`run_tryon`] with the person's side already made for these photos ([`prepare_person`]):
/// another garment on the same photo and crop.
pub fn run_tryon_prepared(
    engine: &Engine,
    photos: &TryOnPhotos,
    person_side: Arc<PreparedPerson>,
) -> Result<TryOnImages, PipelineError> {
    run_prepared(engine, photos, person_side, Instant::now()).map(|(images, _)| images)
}

/// The network on `inputs` made from `photos`, its warp module reading them as `photos` asks.
/// The one place a prepared try-on meets the network, for the app, `tryon`, `batch` and the
/// bench alike.
pub fn run_network(
    engine: &Engine,
    photos: &TryOnPhotos,
    inputs: &PreparedInputs,
) -> Result<TryOn, PipelineError> {
    Ok(engine.tryon_with(&inputs.person, &inputs.garment, &inputs.mask, photos.warp)?)
}

fn run_prepared(
    engine: &Engine,
    photos: &TryOnPhotos,
    person_side: Arc<PreparedPerson>,
    start: Instant,
) -> Result<(TryOnImages, TryOn), PipelineError> {
    let inputs = prepare_inputs_with(photos, person_side, engine.device())?;
    let network_start = Instant::now();
    let out = run_network(engine, photos, &inputs)?;
    let result = tensor_to_rgb(&out.p_tryon)?;
    let network_time = network_start.elapsed();
    let (hires, pasted) = if photos.hires {
        let (hires, pasted) = compose_pasted(&out, photos, &inputs)?;
        (Some(hires.image), Some(pasted))
    } else {
        (None, None)
    };
    let images = TryOnImages {
        person: inputs.person_side.person_native.clone(),
        exposure: inputs.person_side.exposure,
        result,
        hires,
        pasted,
        crop: photos.crop,
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
