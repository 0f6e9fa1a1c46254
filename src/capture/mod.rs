//! Camera capture: listing webcams, opening one, and streaming its frames on a worker thread.
//!
//! - [`CameraBackend`] lists and opens cameras: [`NokhwaBackend`] for real webcams,
//!   [`SyntheticBackend`] for tests and demos (moving content, injectable failures).
//! - [`FrameSource`] is one open camera; `next_frame` blocks until the next picture.
//! - [`CameraStream`] runs a source on its own thread and keeps only the newest frame, so the
//!   UI thread never blocks on the camera and never falls behind it.

mod nokhwa_backend;
mod stream;
mod synthetic;

pub use nokhwa_backend::NokhwaBackend;
pub use stream::{CameraStream, Frame, FrameCallback, StreamStatus};
pub use synthetic::SyntheticBackend;

pub use image::RgbImage;

/// One camera as the system lists it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CameraInfo {
    /// What [`CameraBackend::open`] takes.
    pub index: u32,
    /// A name to show the user.
    pub name: String,
    /// Driver or device details, for a tooltip.
    pub description: String,
}

/// Why the camera cannot be used. The messages are written for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    #[error("No camera found. You can still open a photo.")]
    NoCamera,
    #[error(
        "The camera is in use by another application. Close the other app (a video call, \
         a camera app) and try again."
    )]
    InUse,
    #[error("The camera was disconnected. Plug it back in and choose it again.")]
    Disconnected,
    #[error(
        "Fitting Room is not allowed to use the camera. Allow camera access in the system \
         settings, then try again."
    )]
    PermissionDenied,
    #[error("Could not list the cameras: {0}")]
    Query(String),
    #[error("Could not open the camera: {0}")]
    Open(String),
    #[error("The camera sent a picture that could not be read: {0}")]
    Frame(String),
}

impl CaptureError {
    /// Whether the next frame may well succeed (a corrupt or late frame), as opposed to the
    /// camera being gone for good.
    pub fn is_transient(&self) -> bool {
        matches!(self, CaptureError::Frame(_))
    }
}

/// One open camera. Dropping it closes the camera.
pub trait FrameSource: Send {
    fn info(&self) -> &CameraInfo;

    /// Blocks until the camera delivers its next picture.
    fn next_frame(&mut self) -> Result<RgbImage, CaptureError>;
}

/// A way to find and open cameras.
pub trait CameraBackend: Send + Sync {
    /// The cameras connected now; an empty list when there are none. May take a moment on some
    /// systems, so call it off the UI thread where possible.
    fn cameras(&self) -> Result<Vec<CameraInfo>, CaptureError>;

    /// Opens the camera with this [`CameraInfo::index`]. Blocks while the device starts.
    fn open(&self, index: u32) -> Result<Box<dyn FrameSource>, CaptureError>;

    /// Opens the first camera listed, or fails with [`CaptureError::NoCamera`].
    fn open_default(&self) -> Result<Box<dyn FrameSource>, CaptureError> {
        let first = self
            .cameras()?
            .into_iter()
            .next()
            .ok_or(CaptureError::NoCamera)?;
        self.open(first.index)
    }
}

/// The text of a panic payload, for error messages.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}
