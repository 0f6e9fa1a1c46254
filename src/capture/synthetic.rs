//! A pretend camera for tests and demos: deterministic moving content and injectable failures.

use std::time::{Duration, Instant};

use image::{Rgb, RgbImage};

use super::{CameraBackend, CameraInfo, CaptureError, FrameSource};

/// Marks pixel (1, 0) of a synthetic frame, so [`SyntheticBackend::frame_number`] can tell a
/// synthetic frame from any other picture.
const MARKER: [u8; 2] = [0xA5, 0x5A];

/// Cameras that draw a figure walking left and right, with the frame number written into the
/// first pixels. Built with the methods below; the default is one 320x240 camera at 30 frames/s.
#[derive(Debug, Clone)]
pub struct SyntheticBackend {
    cameras: Vec<CameraInfo>,
    width: u32,
    height: u32,
    fps: f64,
    disconnect_after: Option<u64>,
    busy_on_open: bool,
    bad_frame_every: Option<u64>,
}

impl Default for SyntheticBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl SyntheticBackend {
    pub fn new() -> Self {
        Self {
            cameras: Vec::new(),
            width: 320,
            height: 240,
            fps: 30.0,
            disconnect_after: None,
            busy_on_open: false,
            bad_frame_every: None,
        }
        .with_camera_count(1)
    }

    /// Lists `count` cameras, indices 0..count.
    pub fn with_camera_count(mut self, count: u32) -> Self {
        self.cameras = (0..count)
            .map(|index| CameraInfo {
                index,
                name: format!("Synthetic camera {}", index + 1),
                description: "Generated pictures for tests and demos".into(),
            })
            .collect();
        self
    }

    /// No cameras at all: `cameras()` is empty and opening fails with `NoCamera`.
    pub fn no_cameras(self) -> Self {
        self.with_camera_count(0)
    }

    /// Frame size in pixels (at least 2x1, the frame number needs two pixels).
    pub fn frame_size(mut self, width: u32, height: u32) -> Self {
        self.width = width.max(2);
        self.height = height.max(1);
        self
    }

    /// Frames per second; 0 (or anything not positive and finite) delivers as fast as asked.
    pub fn frame_rate(mut self, fps: f64) -> Self {
        self.fps = fps;
        self
    }

    /// After `frames` frames, every read fails with `Disconnected`, as if unplugged.
    pub fn disconnect_after(mut self, frames: u64) -> Self {
        self.disconnect_after = Some(frames);
        self
    }

    /// Opening fails with `InUse`, as when another application holds the camera.
    pub fn busy_on_open(mut self) -> Self {
        self.busy_on_open = true;
        self
    }

    /// Every `n`th read fails with a (transient) `Frame` error instead of delivering.
    pub fn bad_frame_every(mut self, n: u64) -> Self {
        self.bad_frame_every = (n > 0).then_some(n);
        self
    }

    /// The frame number written into a synthetic frame (0 for the first), or `None` for a
    /// picture that is not one.
    pub fn frame_number(image: &RgbImage) -> Option<u64> {
        if image.width() < 2 || image.height() < 1 {
            return None;
        }
        let low = image.get_pixel(0, 0).0;
        let high = image.get_pixel(1, 0).0;
        if high[..2] != MARKER {
            return None;
        }
        Some(u64::from_be_bytes([
            0, 0, 0, 0, high[2], low[0], low[1], low[2],
        ]))
    }

    /// The picture of frame `number`: a light backdrop, a figure whose position follows the
    /// frame number, a progress bar along the bottom, and the number in pixels (0,0) and (1,0).
    pub fn render_frame(width: u32, height: u32, number: u64) -> RgbImage {
        let (w, h) = (width.max(2) as f32, height.max(1) as f32);
        // One walk across and back every 4 seconds at 30 frames/s.
        let phase = (number % 120) as f32 / 120.0 * std::f32::consts::TAU;
        let centre_x = w * (0.5 + 0.25 * phase.sin());
        let head = (centre_x, h * 0.28, h * 0.10);
        let body = (centre_x - w * 0.10, h * 0.40, centre_x + w * 0.10, h * 0.95);
        let bar = ((number % 60) as f32 + 1.0) / 60.0 * w;

        let mut image = RgbImage::from_fn(width.max(2), height.max(1), |x, y| {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            let (hx, hy, hr) = head;
            if (fx - hx).powi(2) + (fy - hy).powi(2) <= hr * hr {
                Rgb([224, 172, 140])
            } else if fx >= body.0 && fx <= body.2 && fy >= body.1 && fy <= body.3 {
                Rgb([52, 96, 180])
            } else if fy >= h - (h * 0.03).max(1.0) && fx <= bar {
                Rgb([40, 160, 70])
            } else {
                let shade = (200.0 + 40.0 * fy / h) as u8;
                Rgb([shade, shade, 235])
            }
        });
        let bytes = number.to_be_bytes();
        image.put_pixel(0, 0, Rgb([bytes[5], bytes[6], bytes[7]]));
        image.put_pixel(1, 0, Rgb([MARKER[0], MARKER[1], bytes[4]]));
        image
    }
}

impl CameraBackend for SyntheticBackend {
    fn cameras(&self) -> Result<Vec<CameraInfo>, CaptureError> {
        Ok(self.cameras.clone())
    }

    fn open(&self, index: u32) -> Result<Box<dyn FrameSource>, CaptureError> {
        if self.cameras.is_empty() {
            return Err(CaptureError::NoCamera);
        }
        let info = self
            .cameras
            .iter()
            .find(|c| c.index == index)
            .cloned()
            .ok_or(CaptureError::Disconnected)?;
        if self.busy_on_open {
            return Err(CaptureError::InUse);
        }
        Ok(Box::new(SyntheticSource {
            info,
            config: self.clone(),
            reads: 0,
            delivered: 0,
            started: None,
        }))
    }
}

struct SyntheticSource {
    info: CameraInfo,
    config: SyntheticBackend,
    reads: u64,
    delivered: u64,
    started: Option<Instant>,
}

impl FrameSource for SyntheticSource {
    fn info(&self) -> &CameraInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<RgbImage, CaptureError> {
        if self
            .config
            .disconnect_after
            .is_some_and(|n| self.delivered >= n)
        {
            return Err(CaptureError::Disconnected);
        }
        // Pace like a camera: frame k is ready k/fps seconds after the first read.
        let started = *self.started.get_or_insert_with(Instant::now);
        if self.config.fps.is_finite() && self.config.fps > 0.0 {
            let due = started + Duration::from_secs_f64(self.reads as f64 / self.config.fps);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        self.reads += 1;
        if self
            .config
            .bad_frame_every
            .is_some_and(|n| self.reads.is_multiple_of(n))
        {
            return Err(CaptureError::Frame("a corrupt test frame".into()));
        }
        let image =
            SyntheticBackend::render_frame(self.config.width, self.config.height, self.delivered);
        self.delivered += 1;
        Ok(image)
    }
}
