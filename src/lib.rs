//! Fitting Room: the PF-AFN parser-free virtual try-on network in candle, and what a desktop
//! try-on app needs around it.
//!
//! - [`engine`]: the network (pure tensor code) and the ops candle lacks.
//! - [`weights`]: checkpoint formats (safetensors, PyTorch zip and legacy .pth).
//! - [`model`]: finding and loading a model folder.
//! - [`atomic_file`]: the one way files are written (temporary file, then rename).
//! - [`resources`]: where the files that ship with the program (model, wardrobe) are found.
//! - [`pipeline`]: images to tensors and back, flow pictures, one try-on from photos.
//! - [`resample`]: resizing pictures on every core.
//! - [`person`]: where the person is (matte, box) and how the body lies (keypoints).
//! - [`wardrobe`]: the garment library and its persistence.
//! - [`capture`]: cameras behind a trait (webcams, and a synthetic source for tests).
//! - [`app`]: the desktop app.
//! - [`batch`]: batch try-on over a pairs list, sharded across machines and resumable.

#[macro_use]
mod option_enum;

pub mod app;
pub mod atomic_file;
pub mod batch;
pub mod capture;
pub mod engine;
pub mod model;
pub mod person;
pub mod pipeline;
pub mod resample;
pub mod resources;
pub mod simd;
pub mod wardrobe;
pub mod weights;
