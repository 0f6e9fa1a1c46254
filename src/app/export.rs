//! Export: the result, the high-resolution result, or a sheet (person | garment | result |
//! flow), through a save dialog, written atomically off the UI thread. A failed write reports
//! the error and keeps the result on screen, so nothing is lost and the user can try again.

use image::{imageops, DynamicImage, Rgb, RgbImage};
use std::path::{Path, PathBuf};

use super::jobs::{self, AppEvent};
use super::FittingRoomApp;
use crate::pipeline::{fit_to_native, flow_to_color, save_image, PipelineError, TryOnImages};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// The try-on at the network's 192x256.
    Result,
    /// The try-on at the crop's own resolution.
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
            .hires
            .clone()
            .ok_or_else(|| "no high-resolution result yet".to_string()),
        ExportKind::Sheet => sheet(images, garment).map_err(|e| e.to_string()),
    }
}

/// Person | garment | result | flow colour wheel, 192x256 each, on white.
pub fn sheet(images: &TryOnImages, garment: Option<&RgbImage>) -> Result<RgbImage, PipelineError> {
    let (w, h) = images.result.dimensions();
    let garment = match garment {
        Some(g) => fit_to_native(g, Rgb([255, 255, 255])),
        None => RgbImage::from_pixel(w, h, Rgb([255, 255, 255])),
    };
    let (flow, _) = flow_to_color(&images.flow, None)?;
    let tiles = [&images.person, &garment, &images.result, &flow];
    let gap = 8;
    let mut out = RgbImage::from_pixel(
        tiles.len() as u32 * (w + gap) + gap,
        h + 2 * gap,
        Rgb([255, 255, 255]),
    );
    for (i, tile) in tiles.iter().enumerate() {
        let tile = if tile.dimensions() == (w, h) {
            (*tile).clone()
        } else {
            imageops::resize(*tile, w, h, imageops::FilterType::Triangle)
        };
        imageops::replace(
            &mut out,
            &tile,
            i64::from(gap + i as u32 * (w + gap)),
            i64::from(gap),
        );
    }
    Ok(out)
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

/// Asks where to save (dialog off the UI thread), then writes.
pub fn start_export(app: &mut FittingRoomApp, kind: ExportKind) {
    let Some(picture) = prepare(app, kind) else {
        return;
    };
    app.jobs.spawn("export", move || {
        let picture = match picture() {
            Ok(p) => p,
            Err(e) => return AppEvent::Error(format!("Export failed: {e}")),
        };
        match jobs::save_file_blocking("Export", kind.default_name()) {
            Some(path) => AppEvent::Exported(write_export(picture, &path)),
            None => AppEvent::Notice("Export cancelled".into()),
        }
    });
}

/// Writes an export to a given path (no dialog), in the background.
pub fn start_export_to(app: &mut FittingRoomApp, kind: ExportKind, path: PathBuf) {
    let Some(picture) = prepare(app, kind) else {
        return;
    };
    app.jobs.spawn("export", move || match picture() {
        Ok(picture) => AppEvent::Exported(write_export(picture, &path)),
        Err(e) => AppEvent::Exported(Err(e)),
    });
}

/// The picture to export, computed on a worker thread; `None` when there is nothing to export
/// yet (the user is told why).
fn prepare(
    app: &mut FittingRoomApp,
    kind: ExportKind,
) -> Option<Box<dyn FnOnce() -> Result<RgbImage, String> + Send>> {
    let Some(images) = app.result.shown_images().cloned() else {
        app.report_error("Nothing to export yet: run a try-on first.");
        return None;
    };
    if kind == ExportKind::HighResolution && images.hires.is_none() {
        app.set_hires(true);
        app.report_error(
            "The high-resolution result is being computed; export again when it is shown.",
        );
        return None;
    }
    let garment = app.garment.as_ref().map(|g| g.image.clone());
    Some(Box::new(move || {
        export_image(kind, &images, garment.as_deref())
    }))
}
