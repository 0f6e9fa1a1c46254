//! Real webcams through nokhwa (V4L2 on Linux, Media Foundation on Windows, AVFoundation on
//! macOS).
//!
//! A nokhwa `Camera` may not move between threads, and some drivers want to be opened, read and
//! closed on one thread, so each open camera lives on a thread of its own and
//! [`FrameSource::next_frame`] asks that thread for a frame. Every nokhwa call runs under
//! `catch_unwind`: a driver panic becomes a [`CaptureError`].

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use image::RgbImage;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};
use nokhwa::{Camera, NokhwaError};

use super::{panic_message, CameraBackend, CameraInfo, CaptureError, FrameSource};

/// How long closing waits for the camera thread before leaving it to finish on its own.
const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// Formats asked for in turn: 720p suits a 3:4 crop for the 256x192 network with margin to
/// spare; MJPEG first because USB 2 cameras only reach 30 frames/s at 720p compressed. The last
/// entry takes the first format the camera has that can be decoded.
fn format_requests() -> [RequestedFormatType; 5] {
    let closest = |w, h, format| {
        RequestedFormatType::Closest(CameraFormat::new(Resolution::new(w, h), format, 30))
    };
    [
        closest(1280, 720, FrameFormat::MJPEG),
        closest(1280, 720, FrameFormat::YUYV),
        closest(640, 480, FrameFormat::MJPEG),
        closest(640, 480, FrameFormat::YUYV),
        RequestedFormatType::None,
    ]
}

/// The system's webcams.
pub struct NokhwaBackend {
    /// Our indices and nokhwa's, from the last listing (some systems name cameras by string).
    listed: Mutex<Vec<(CameraInfo, CameraIndex)>>,
}

impl Default for NokhwaBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl NokhwaBackend {
    /// On macOS this asks the user for camera access (once); elsewhere it does nothing.
    pub fn new() -> Self {
        let asked = catch_unwind(|| {
            nokhwa::nokhwa_initialize(|granted| {
                if !granted {
                    log::warn!("camera access was not granted");
                }
            })
        });
        if asked.is_err() {
            log::warn!("asking for camera access failed");
        }
        Self {
            listed: Mutex::new(Vec::new()),
        }
    }

    fn list(&self) -> Result<Vec<(CameraInfo, CameraIndex)>, CaptureError> {
        let found = catch_unwind(|| nokhwa::query(ApiBackend::Auto))
            .map_err(|panic| {
                CaptureError::Query(format!(
                    "the camera driver crashed: {}",
                    panic_message(panic.as_ref())
                ))
            })?
            .map_err(|e| match classify(&e, Phase::Open) {
                CaptureError::Open(text) => CaptureError::Query(text),
                other => other,
            })?;
        let listed: Vec<(CameraInfo, CameraIndex)> = found
            .into_iter()
            .enumerate()
            .map(|(position, camera)| {
                let nokhwa_index = camera.index().clone();
                let index = match &nokhwa_index {
                    CameraIndex::Index(i) => *i,
                    CameraIndex::String(_) => position as u32,
                };
                let info = CameraInfo {
                    index,
                    name: camera.human_name(),
                    description: camera.description().to_owned(),
                };
                (info, nokhwa_index)
            })
            .collect();
        *self.listed.lock().unwrap_or_else(|e| e.into_inner()) = listed.clone();
        Ok(listed)
    }
}

impl CameraBackend for NokhwaBackend {
    fn cameras(&self) -> Result<Vec<CameraInfo>, CaptureError> {
        if !catch_unwind(nokhwa::nokhwa_check).unwrap_or(true) {
            return Err(CaptureError::PermissionDenied);
        }
        Ok(self.list()?.into_iter().map(|(info, _)| info).collect())
    }

    fn open(&self, index: u32) -> Result<Box<dyn FrameSource>, CaptureError> {
        let listed = self.list()?;
        if listed.is_empty() {
            return Err(CaptureError::NoCamera);
        }
        let (info, nokhwa_index) = listed
            .into_iter()
            .find(|(info, _)| info.index == index)
            .ok_or(CaptureError::Disconnected)?;
        NokhwaSource::open(info, nokhwa_index)
    }
}

/// One open webcam, owned by its camera thread.
struct NokhwaSource {
    info: CameraInfo,
    /// Each message asks for one frame; dropping it tells the camera thread to close.
    requests: Option<SyncSender<()>>,
    frames: Receiver<Result<RgbImage, CaptureError>>,
    thread: Option<JoinHandle<()>>,
    /// Disconnected once the camera thread has returned.
    thread_done: Receiver<()>,
}

impl NokhwaSource {
    fn open(info: CameraInfo, index: CameraIndex) -> Result<Box<dyn FrameSource>, CaptureError> {
        let (request_tx, request_rx) = mpsc::sync_channel::<()>(1);
        let (frame_tx, frames) = mpsc::sync_channel(1);
        let (opened_tx, opened_rx) = mpsc::channel();
        let (done_tx, thread_done) = mpsc::channel::<()>();
        let name = info.name.clone();
        let thread = std::thread::Builder::new()
            .name("camera-device".into())
            .spawn(move || camera_thread(index, name, opened_tx, request_rx, frame_tx, done_tx))
            .map_err(|e| CaptureError::Open(format!("could not start the camera thread: {e}")))?;
        match opened_rx.recv() {
            Ok(Ok(())) => Ok(Box::new(NokhwaSource {
                info,
                requests: Some(request_tx),
                frames,
                thread: Some(thread),
                thread_done,
            })),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => {
                let _ = thread.join();
                Err(CaptureError::Open(
                    "the camera thread ended unexpectedly".into(),
                ))
            }
        }
    }
}

impl FrameSource for NokhwaSource {
    fn info(&self) -> &CameraInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<RgbImage, CaptureError> {
        let requests = self.requests.as_ref().ok_or(CaptureError::Disconnected)?;
        if requests.send(()).is_err() {
            return Err(CaptureError::Disconnected);
        }
        self.frames
            .recv()
            .unwrap_or(Err(CaptureError::Disconnected))
    }
}

impl Drop for NokhwaSource {
    fn drop(&mut self) {
        // Closing the request channel ends the camera thread's loop; it then closes the device.
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            match self.thread_done.recv_timeout(CLOSE_WAIT) {
                Err(RecvTimeoutError::Timeout) => {
                    log::warn!("the camera is slow to close; closing it in the background");
                }
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                    let _ = thread.join();
                }
            }
        }
    }
}

fn camera_thread(
    index: CameraIndex,
    name: String,
    opened: Sender<Result<(), CaptureError>>,
    requests: Receiver<()>,
    frames: SyncSender<Result<RgbImage, CaptureError>>,
    _done: Sender<()>,
) {
    let mut camera = match open_camera(&index) {
        Ok(camera) => camera,
        Err(error) => {
            let _ = opened.send(Err(error));
            return;
        }
    };
    let format = catch_unwind(AssertUnwindSafe(|| camera.camera_format()));
    if let Ok(format) = format {
        log::info!("camera \"{name}\" streaming {format}");
    }
    if opened.send(Ok(())).is_err() {
        close_camera(camera);
        return;
    }
    while requests.recv().is_ok() {
        let frame = read_frame(&mut camera);
        if frames.send(frame).is_err() {
            break;
        }
    }
    close_camera(camera);
}

/// Tries the preferred formats in turn; a busy or missing camera fails at once.
fn open_camera(index: &CameraIndex) -> Result<Camera, CaptureError> {
    let mut last_error = CaptureError::Open("the camera offers no usable picture format".into());
    for request in format_requests() {
        let attempt = catch_unwind(|| -> Result<Camera, NokhwaError> {
            let mut camera =
                Camera::new(index.clone(), RequestedFormat::new::<RgbFormat>(request))?;
            camera.open_stream()?;
            Ok(camera)
        });
        match attempt {
            Ok(Ok(camera)) => return Ok(camera),
            Ok(Err(e)) => {
                log::debug!("camera format {request} refused: {e}");
                let error = classify(&e, Phase::Open);
                if !matches!(error, CaptureError::Open(_)) {
                    return Err(error);
                }
                last_error = error;
            }
            Err(panic) => {
                last_error = CaptureError::Open(format!(
                    "the camera driver crashed: {}",
                    panic_message(panic.as_ref())
                ));
            }
        }
    }
    Err(last_error)
}

fn read_frame(camera: &mut Camera) -> Result<RgbImage, CaptureError> {
    let read = catch_unwind(AssertUnwindSafe(|| -> Result<RgbImage, NokhwaError> {
        camera.frame()?.decode_image::<RgbFormat>()
    }));
    match read {
        Ok(Ok(image)) => Ok(image),
        Ok(Err(e)) => Err(classify(&e, Phase::Frame)),
        Err(panic) => Err(CaptureError::Frame(format!(
            "the camera driver crashed: {}",
            panic_message(panic.as_ref())
        ))),
    }
}

fn close_camera(mut camera: Camera) {
    let closed = catch_unwind(AssertUnwindSafe(move || {
        if let Err(e) = camera.stop_stream() {
            log::debug!("stopping the camera stream: {e}");
        }
        drop(camera);
    }));
    if closed.is_err() {
        log::warn!("the camera driver panicked while closing");
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Open,
    Frame,
}

/// Maps a nokhwa error to what the user should hear. nokhwa wraps the OS error as text, so this
/// looks for the OS's words and codes (errno on Linux, HRESULT on Windows).
fn classify(error: &NokhwaError, phase: Phase) -> CaptureError {
    classify_text(&error.to_string(), phase)
}

fn classify_text(text: &str, phase: Phase) -> CaptureError {
    let lower = text.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if any(&[
        "busy",
        "in use",
        "os error 16",
        // MF_E_HW_MFT_FAILED_START_STREAMING and ERROR_BUSY: another app holds the device
        "0xc00d3704",
        "0x800700aa",
    ]) {
        CaptureError::InUse
    } else if any(&[
        "permission denied",
        "os error 13",
        "not authorized",
        "not permitted",
        "access is denied",
        "0x80070005",
    ]) {
        CaptureError::PermissionDenied
    } else if any(&[
        "no such device",
        "os error 19",
        "no such file",
        "os error 2)",
        "disconnected",
        "unplugged",
        "invalidated",
        "device not found",
        // MF_E_VIDEO_RECORDING_DEVICE_INVALIDATED, ..._PREEMPTED
        "0xc00d3e9e",
        "0xc00d3e9f",
    ]) {
        CaptureError::Disconnected
    } else {
        match phase {
            Phase::Open => CaptureError::Open(text.to_owned()),
            Phase::Frame => CaptureError::Frame(text.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_become_user_errors() {
        let open = |t| classify_text(t, Phase::Open);
        assert_eq!(
            open("Could not open device stream: Device or resource busy (os error 16)"),
            CaptureError::InUse
        );
        assert_eq!(
            open("Could not open device 0: Permission denied (os error 13)"),
            CaptureError::PermissionDenied
        );
        assert_eq!(
            classify_text(
                "Could not capture frame: No such device (os error 19)",
                Phase::Frame
            ),
            CaptureError::Disconnected
        );
        assert_eq!(
            classify_text("Could not capture frame: timeout", Phase::Frame),
            CaptureError::Frame("Could not capture frame: timeout".into())
        );
        assert!(matches!(open("Invalid argument"), CaptureError::Open(_)));
    }
}
