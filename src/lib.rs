//! Fitting Room: the PF-AFN parser-free virtual try-on network in candle, and what a desktop
//! try-on app needs around it.
//!
//! - [`engine`]: the network (pure tensor code) and the ops candle lacks.
//! - [`weights`]: checkpoint formats (safetensors, PyTorch zip and legacy .pth).
//! - [`model`]: finding and loading a model folder.
//! - [`pipeline`]: images to tensors and back, flow pictures.
//! - [`capture`]: webcams (and a synthetic camera), streamed on a worker thread.
//! - [`app`]: pieces of the desktop app (the flow overlay views).

pub mod app;
pub mod capture;
pub mod engine;
pub mod model;
pub mod pipeline;
pub mod weights;
