//! Images <-> tensors: loading and checking photos, the network's input encoding, and pictures
//! of the outputs (result images, masks, the flow as a colour wheel).

mod flow_color;
mod framing;
mod garment_mask;
mod hires;
mod image_io;
mod sheet;
mod tryon;

pub use flow_color::{
    flow_to_color, flow_to_motion, grid_to_motion, hue_rgb, motion_scale, wheel_color, wheel_rgb,
    MIN_AUTO_MOTION_SCALE, MIN_MOTION_SCALE,
};
pub use framing::{crop_pixels, frame, Crop, CropError};
pub use garment_mask::{garment_mask, garment_mask_with, MaskParams};
pub use hires::{compose_hires, paste_into, HiresInputs, MAX_HIRES_HEIGHT};
pub use image_io::{
    fit_to_native, image_size, is_image_path, load_gray, load_rgb, mask_to_tensor,
    pad_to_native_aspect, rgb_to_tensor, save_image, tensor_to_gray, tensor_to_rgb, PipelineError,
    IMAGE_EXTENSIONS, MAX_IMAGE_PIXELS,
};
pub use sheet::composition_sheet;
pub use tryon::{
    prepare_inputs, run_tryon, run_tryon_with_outputs, PreparedInputs, TryOnImages, TryOnPhotos,
};
