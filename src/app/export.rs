//! Export: the result, the high-resolution result, or a sheet (person | garment | result |
//! flow), through a save dialog, written atomically off the UI thread. A failed write reports
//! the error and keeps the result on screen, so nothing is lost and the user can try again.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::{DynamicImage, RgbImage};

use super::jobs::{self, AppEvent, Jobs};
use crate::pipeline::{composition_sheet, save_image, TryOnImages};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// The try-on at the network's 192x256.
    Result,
    /// The whole photo at its own resolution, wearing the garment.
    HighResolution,
    /// Person, garment, result and flow side by side.
    Sheet,
}

impl ExportKind {
    fn default_name(self) -> &'static str {
        match self {
            ExportKind::Result => "try-on.png",
            ExportKind::HighResolution => "try-on-hires.png",
            ExportKind::Sheet => "try-on-sheet.png",
        }
    }
}

/// The picture an export writes.
pub fn export_image(
    kind: ExportKind,
    images: &TryOnImages,
    garment: Option<&RgbImage>,
) -> Result<RgbImage, String> {
    match kind {
        ExportKind::Result => Ok(images.result.clone()),
        ExportKind::HighResolution => images
            .pasted
            .clone()
            .or_else(|| images.hires.clone())
            .ok_or_else(|| "no high-resolution result yet".to_string()),
        ExportKind::Sheet => composition_sheet(images, garment).map_err(|e| e.to_string()),
    }
}

/// A path with a PNG or JPEG extension (PNG added when there is none).
fn with_image_extension(path: PathBuf) -> PathBuf {
    let known = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        .unwrap_or(false);
    if known {
        path
    } else {
        let mut name = path.clone().into_os_string();
        name.push(".png");
        PathBuf::from(name)
    }
}

/// Writes an export (atomically: a temporary file renamed into place).
pub fn write_export(image: RgbImage, path: &Path) -> Result<PathBuf, String> {
    let path = with_image_extension(path.to_path_buf());
    save_image(&DynamicImage::ImageRgb8(image), &path).map_err(|e| e.to_string())?;
    Ok(path)
}

/// Makes the picture and writes it off the UI thread: to `path`, or where a save dialog says.
pub fn spawn_export(
    jobs: &Jobs,
    kind: ExportKind,
    images: Arc<TryOnImages>,
    garment: Option<Arc<RgbImage>>,
    path: Option<PathBuf>,
) {
    jobs.spawn("export", move || {
        let picture = match export_image(kind, &images, garment.as_deref()) {
            Ok(p) => p,
            Err(e) => return AppEvent::Exported(Err(e)),
        };
        let path = match path {
            Some(path) => path,
            None => match jobs::save_file_blocking("Export", kind.default_name()) {
                Some(path) => path,
                None => return AppEvent::Notice("Export cancelled".into()),
            },
        };
        AppEvent::Exported(write_export(picture, &path))
    });
}
