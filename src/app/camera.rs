//! The capture panel's state: the photo preview, sample photos, the camera list and stream, and
//! live mode. Camera frames become egui images on a helper thread; the UI thread only uploads
//! them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use image::RgbImage;

use super::jobs::{self, AppEvent, Jobs};
use crate::capture::{CameraBackend, CameraInfo, CameraStream, StreamStatus};
use crate::pipeline::{load_rgb, Crop};
use crate::wardrobe::{sample_photos, sample_photos_dir};

/// Side of the sample photo thumbnails, in pixels.
const SAMPLE_THUMB_SIDE: u32 = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureTab {
    Photo,
    Camera,
}

/// What the camera brought since the last frame.
pub enum CameraUpdate {
    Nothing,
    /// A new frame, for live mode.
    LiveFrame(Arc<RgbImage>, u64),
    /// The camera failed (it was stopped).
    Failed(String),
}

pub struct CaptureState {
    backend: Arc<dyn CameraBackend>,
    pub tab: CaptureTab,
    pub(super) cameras: Option<Result<Vec<CameraInfo>, String>>,
    pub(super) listing: bool,
    pub selected_camera: Option<u32>,
    pub(super) stream: Option<CameraStream>,
    pub(super) preview: Option<egui::TextureHandle>,
    preview_seq: u64,
    previews: Option<PreviewMaker>,
    pub(super) last_frame: Option<(Arc<RgbImage>, String)>,
    pub live: bool,
    pub(super) samples: Vec<(PathBuf, egui::TextureHandle)>,
    /// The person photo's preview: (person id, texture).
    pub(super) person_preview: Option<(u64, egui::TextureHandle)>,
    /// The crop while it is being dragged (applied on release).
    pub(super) dragging_crop: Option<Crop>,
    /// Where the crop drag started, the crop then, and whether it resizes.
    pub(super) crop_drag: Option<(egui::Pos2, Crop, bool)>,
    /// Debug view: the person's matte over the photo in the crop editor.
    pub show_matte: bool,
    /// The matte shown as a texture, for a person (their id, and the hand-set crop whose
    /// person it is, if any).
    pub(super) matte_preview: Option<((u64, Option<Crop>), egui::TextureHandle)>,
}

impl CaptureState {
    /// Starts listing the sample photos beside the wardrobe in the background.
    pub fn new(backend: Arc<dyn CameraBackend>, jobs: &Jobs, wardrobe_dir: Option<&Path>) -> Self {
        if let Some(dir) = sample_photos_dir(wardrobe_dir) {
            jobs.spawn("sample photos", move || {
                let samples = sample_photos(&dir)
                    .into_iter()
                    .filter_map(|p| {
                        let image = load_rgb(&p).ok()?;
                        Some((p, jobs::thumbnail(&image, SAMPLE_THUMB_SIDE)))
                    })
                    .collect();
                AppEvent::SamplePhotos(samples)
            });
        }
        Self {
            backend,
            tab: CaptureTab::Photo,
            cameras: None,
            listing: false,
            selected_camera: None,
            stream: None,
            preview: None,
            preview_seq: 0,
            previews: None,
            last_frame: None,
            live: false,
            samples: Vec::new(),
            person_preview: None,
            dragging_crop: None,
            crop_drag: None,
            show_matte: false,
            matte_preview: None,
        }
    }

    pub fn is_streaming(&self) -> bool {
        self.stream.is_some()
    }

    pub(crate) fn set_samples(
        &mut self,
        ctx: &egui::Context,
        samples: Vec<(PathBuf, egui::ColorImage)>,
    ) {
        self.samples = samples
            .into_iter()
            .map(|(path, image)| {
                let texture = ctx.load_texture(
                    format!("sample-{}", path.display()),
                    image,
                    egui::TextureOptions::LINEAR,
                );
                (path, texture)
            })
            .collect();
    }

    /// Uploads the preview of a new person photo (made off the UI thread).
    pub(crate) fn set_person_preview(
        &mut self,
        ctx: &egui::Context,
        person: u64,
        preview: egui::ColorImage,
    ) {
        let texture = ctx.load_texture("person-photo", preview, egui::TextureOptions::LINEAR);
        self.person_preview = Some((person, texture));
    }

    pub(crate) fn set_cameras(&mut self, cameras: Result<Vec<CameraInfo>, String>) {
        self.listing = false;
        if let Ok(list) = &cameras {
            if self.selected_camera.is_none() {
                self.selected_camera = list.first().map(|c| c.index);
            }
        }
        self.cameras = Some(cameras);
    }

    /// Lists the cameras in the background.
    pub fn refresh_cameras(&mut self, jobs: &Jobs) {
        if self.listing {
            return;
        }
        self.listing = true;
        let backend = self.backend.clone();
        jobs.spawn("list cameras", move || {
            AppEvent::Cameras(backend.cameras().map_err(|e| e.to_string()))
        });
    }

    /// Opens the selected camera; frames arrive on the camera's own thread.
    pub fn start_camera(&mut self, ctx: &egui::Context) {
        let Some(index) = self.selected_camera else {
            return;
        };
        self.stop_camera();
        let repaint = ctx.clone();
        self.stream = Some(CameraStream::open(
            self.backend.clone(),
            index,
            Some(Box::new(move || repaint.request_repaint())),
        ));
        if self.previews.is_none() {
            self.previews = PreviewMaker::spawn(ctx.clone());
        }
    }

    pub fn stop_camera(&mut self) {
        if let Some(mut stream) = self.stream.take() {
            stream.stop();
        }
        self.live = false;
    }

    /// The newest camera frame and the camera's name, if any.
    pub fn last_frame(&self) -> Option<&(Arc<RgbImage>, String)> {
        self.last_frame.as_ref()
    }

    pub fn cameras_listed(&self) -> bool {
        self.cameras.is_some() && !self.listing
    }

    pub fn camera_status(&self) -> Option<StreamStatus> {
        self.stream.as_ref().map(|s| s.status())
    }

    /// Called every frame: uploads the newest preview, takes the newest camera frame (for live
    /// mode and snapshots), notices a failed camera.
    pub fn poll(&mut self) -> CameraUpdate {
        let Some(stream) = &self.stream else {
            return CameraUpdate::Nothing;
        };
        if let StreamStatus::Failed(e) = stream.status() {
            self.stop_camera();
            self.preview = None;
            return CameraUpdate::Failed(e.to_string());
        }
        if let Some(image) = self.previews.as_ref().and_then(PreviewMaker::take) {
            match &mut self.preview {
                Some(texture) if texture.size() == image.size => {
                    texture.set(image, egui::TextureOptions::LINEAR)
                }
                _ => {
                    if let Some(maker) = &self.previews {
                        self.preview = Some(maker.ctx.load_texture(
                            "camera",
                            image,
                            egui::TextureOptions::LINEAR,
                        ))
                    }
                }
            }
        }
        let Some(frame) = stream.latest_after(self.preview_seq) else {
            return CameraUpdate::Nothing;
        };
        let name = stream
            .camera()
            .map(|c| c.name)
            .unwrap_or_else(|| "camera".into());
        self.preview_seq = frame.seq;
        if let Some(maker) = &self.previews {
            maker.submit(frame.image.clone());
        }
        self.last_frame = Some((frame.image.clone(), name));
        if self.live {
            CameraUpdate::LiveFrame(frame.image, frame.seq)
        } else {
            CameraUpdate::Nothing
        }
    }
}

#[derive(Default)]
struct PreviewBox {
    /// The newest frame to convert (a newer one replaces it).
    input: Option<Arc<RgbImage>>,
    /// The newest converted one, waiting for its upload.
    output: Option<egui::ColorImage>,
    quit: bool,
}

/// Converts camera frames to egui images on its own thread, newest first.
struct PreviewMaker {
    mailbox: Arc<(Mutex<PreviewBox>, Condvar)>,
    ctx: egui::Context,
}

impl PreviewMaker {
    fn spawn(ctx: egui::Context) -> Option<Self> {
        let mailbox = Arc::new((Mutex::new(PreviewBox::default()), Condvar::new()));
        let (shared, repaint) = (mailbox.clone(), ctx.clone());
        let spawned = std::thread::Builder::new()
            .name("camera preview".into())
            .spawn(move || {
                let (lock, wake) = &*shared;
                loop {
                    let Ok(mut slot) = lock.lock() else { return };
                    while slot.input.is_none() && !slot.quit {
                        slot = match wake.wait(slot) {
                            Ok(slot) => slot,
                            Err(_) => return,
                        };
                    }
                    if slot.quit {
                        return;
                    }
                    let Some(frame) = slot.input.take() else {
                        continue;
                    };
                    drop(slot);
                    let image = jobs::to_color_image(&frame);
                    if let Ok(mut slot) = lock.lock() {
                        slot.output = Some(image);
                    }
                    repaint.request_repaint();
                }
            });
        match spawned {
            Ok(_) => Some(Self { mailbox, ctx }),
            Err(e) => {
                log::error!("cannot start the camera preview thread: {e}");
                None
            }
        }
    }

    fn submit(&self, frame: Arc<RgbImage>) {
        let (lock, wake) = &*self.mailbox;
        if let Ok(mut slot) = lock.lock() {
            slot.input = Some(frame);
            wake.notify_one();
        }
    }

    fn take(&self) -> Option<egui::ColorImage> {
        self.mailbox.0.lock().ok()?.output.take()
    }
}

impl Drop for PreviewMaker {
    fn drop(&mut self) {
        let (lock, wake) = &*self.mailbox;
        if let Ok(mut slot) = lock.lock() {
            slot.quit = true;
            wake.notify_one();
        }
    }
}
