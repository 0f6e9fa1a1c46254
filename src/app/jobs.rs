//! Background jobs: file dialogs, image decoding and disk I/O run on their own threads and come
//! back as [`AppEvent`]s, so the UI thread never blocks on them.

use image::{GrayImage, RgbImage};
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};

use super::mask_editor::MaskToEdit;
use super::session::{GarmentData, PhotoOrigin};
use crate::capture::CameraInfo;
use crate::pipeline::IMAGE_EXTENSIONS;
use crate::wardrobe::{Garment, GarmentId};

/// A decoded photo and its on-screen preview (made here, not on the UI thread: a large photo
/// takes a while to shrink).
pub struct LoadedPhoto {
    pub photo: RgbImage,
    pub preview: egui::ColorImage,
}

/// Largest side of the photo preview in the capture panel.
pub const PREVIEW_SIDE: u32 = 1024;

/// Decodes a photo file for the app.
pub fn load_photo(path: &std::path::Path) -> Result<LoadedPhoto, String> {
    let photo = crate::pipeline::load_rgb(path).map_err(|e| e.to_string())?;
    Ok(LoadedPhoto::new(photo))
}

impl LoadedPhoto {
    /// Makes the preview (call it off the UI thread).
    pub fn new(photo: RgbImage) -> Self {
        let preview = thumbnail(&photo, PREVIEW_SIDE);
        Self { photo, preview }
    }
}

/// Results of background work.
pub enum AppEvent {
    PhotoLoaded {
        origin: PhotoOrigin,
        result: Result<LoadedPhoto, String>,
    },
    GarmentLoaded(Result<GarmentData, String>),
    /// The wardrobe's list after a change (or the error of the change).
    WardrobeListed(Result<Vec<Garment>, String>),
    /// A garment was added: select it.
    GarmentAdded(GarmentId),
    Thumbnail {
        id: GarmentId,
        image: Option<egui::ColorImage>,
    },
    SamplePhotos(Vec<(PathBuf, egui::ColorImage)>),
    /// A mask loaded for the editor.
    MaskForEditing(Result<MaskToEdit, String>),
    ModelFolderPicked(PathBuf),
    Cameras(Result<Vec<CameraInfo>, String>),
    Exported(Result<PathBuf, String>),
    /// Something to tell the user.
    Notice(String),
    /// A job that reported everything on its own.
    Done,
    Error(String),
}

/// Spawns jobs and collects their events.
pub struct Jobs {
    sender: Sender<AppEvent>,
    receiver: Receiver<AppEvent>,
    ctx: egui::Context,
}

impl Jobs {
    pub fn new(ctx: egui::Context) -> Self {
        let (sender, receiver) = channel();
        Self {
            sender,
            receiver,
            ctx,
        }
    }

    /// Runs `job` on a new thread; its event arrives with the next [`Jobs::poll`].
    pub fn spawn(&self, name: &str, job: impl FnOnce() -> AppEvent + Send + 'static) {
        let sender = self.sender.clone();
        let ctx = self.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let event = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))
                    .unwrap_or_else(|_| AppEvent::Error("a background task failed".into()));
                let _ = sender.send(event);
                ctx.request_repaint();
            });
        if let Err(e) = spawned {
            let _ = self.sender.send(AppEvent::Error(format!(
                "cannot start a background task: {e}"
            )));
        }
    }

    /// A sender for jobs that report more than once.
    pub fn sender(&self) -> (Sender<AppEvent>, egui::Context) {
        (self.sender.clone(), self.ctx.clone())
    }

    pub fn poll(&self) -> Vec<AppEvent> {
        self.receiver.try_iter().collect()
    }
}

/// Shows a native file dialog off the UI thread. `None` means cancelled (or no dialog service).
pub fn pick_image_blocking(title: &str) -> Option<PathBuf> {
    let dialog = rfd::AsyncFileDialog::new()
        .set_title(title)
        .add_filter("Images", &IMAGE_EXTENSIONS);
    pollster::block_on(dialog.pick_file()).map(|f| f.path().to_path_buf())
}

pub fn pick_folder_blocking(title: &str) -> Option<PathBuf> {
    pollster::block_on(rfd::AsyncFileDialog::new().set_title(title).pick_folder())
        .map(|f| f.path().to_path_buf())
}

pub fn save_file_blocking(title: &str, default_name: &str) -> Option<PathBuf> {
    pollster::block_on(
        rfd::AsyncFileDialog::new()
            .set_title(title)
            .set_file_name(default_name)
            .add_filter("PNG image", &["png"])
            .add_filter("JPEG image", &["jpg", "jpeg"])
            .save_file(),
    )
    .map(|f| f.path().to_path_buf())
}

/// An RGB image as an egui image, shrunk to at most `max_side` pixels for thumbnails.
pub fn thumbnail(image: &RgbImage, max_side: u32) -> egui::ColorImage {
    let (w, h) = image.dimensions();
    let scale = (max_side as f32 / w.max(h) as f32).min(1.0);
    let small = if scale < 1.0 {
        image::imageops::thumbnail(
            image,
            ((w as f32 * scale).round() as u32).max(1),
            ((h as f32 * scale).round() as u32).max(1),
        )
    } else {
        image.clone()
    };
    to_color_image(&small)
}

pub fn to_color_image(image: &RgbImage) -> egui::ColorImage {
    egui::ColorImage::from_rgb(
        [image.width() as usize, image.height() as usize],
        image.as_raw(),
    )
}

pub fn gray_to_color_image(image: &GrayImage) -> egui::ColorImage {
    egui::ColorImage::from_gray(
        [image.width() as usize, image.height() as usize],
        image.as_raw(),
    )
}
