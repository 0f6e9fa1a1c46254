//! Images <-> tensors: loading and checking photos, the network's input encoding, and pictures
//! of the outputs (result images, masks, the flow as a colour wheel).

mod arms;
mod autoframe;
mod exposure;
mod flow_color;
mod framing;
mod garment_frame;
mod garment_mask;
mod hem;
mod hires;
mod image_io;
mod sheet;
mod skin;
mod subject;
mod tryon;

pub use arms::{Sleeves, SleevesSyntax};
pub use autoframe::{
    choose_crop, crop_iou, fit_crop, fit_crop_to, CropSource, Framing, TargetPoint, VITON_POSE,
};
pub use exposure::{Exposure, ExposureMode, ExposureSyntax, MAX_GAIN, PERSON_WHITE, SCENE_WHITE};
pub use flow_color::{
    flow_to_color, flow_to_motion, grid_to_motion, hue_rgb, motion_scale, wheel_color, wheel_rgb,
    MIN_AUTO_MOTION_SCALE, MIN_MOTION_SCALE,
};
pub use framing::{
    crop_on_background, crop_pixels, crop_plane, frame, frame_person, to_native, Crop, CropError,
    MAX_CROP_FACTOR, VITON_BACKGROUND,
};
pub use garment_frame::{
    frame_garment, garment_placement, VITON_GARMENT_MAX_HEIGHT, VITON_GARMENT_WIDTH,
};
pub use garment_mask::{garment_mask, garment_mask_with, MaskParams, MASK_METHOD};
pub use hem::{Hem, HemSyntax};
pub use hires::{
    compose_hires, composition_size, paste_back, Hires, HiresInputs, MAX_HIRES_HEIGHT,
};
pub use image_io::{
    fit_to_native, image_size, is_image_path, load_gray, load_rgb, mask_to_tensor,
    pad_to_native_aspect, rgb_to_tensor, save_image, tensor_to_gray, tensor_to_rgb, PipelineError,
    IMAGE_EXTENSIONS, MAX_IMAGE_PIXELS,
};
pub use sheet::composition_sheet;
pub use skin::{Skin, SkinSyntax};
pub use subject::{
    analyse_crop, crop_holds, default_background, default_warp, is_native_photo, is_official_input,
    keep_photo, prepare_subject, track_subject, Background, BackgroundSyntax, Subject,
};
pub use tryon::{
    compose_pasted, prepare_inputs, prepare_inputs_with, prepare_person, run_network, run_tryon,
    run_tryon_prepared, run_tryon_with_outputs, PreparedInputs, PreparedPerson, TryOnImages,
    TryOnPhotos,
};
