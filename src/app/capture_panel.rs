//! The capture panel: open a photo (dialog, drop, sample photos) and adjust its 3:4 crop, or use
//! a webcam: camera picker, live preview with a framing guide, snapshot (Space) and live mode.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::RgbImage;

use super::jobs::{self, AppEvent, Jobs, PhotoOrigin};
use super::result_panel::fit_rect;
use super::worker::{ModelStatus, ResultKey, TryOnJob};
use super::{sample_photos_dir, FittingRoomApp};
use crate::capture::{CameraBackend, CameraInfo, CameraStream, StreamStatus};
use crate::pipeline::Crop;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureTab {
    Photo,
    Camera,
}

/// Person id used for live try-ons (never cached, never mixed with photo results).
const LIVE_PERSON: u64 = u64::MAX;

pub struct CaptureState {
    backend: Arc<dyn CameraBackend>,
    pub tab: CaptureTab,
    cameras: Option<Result<Vec<CameraInfo>, String>>,
    listing: bool,
    pub selected_camera: Option<u32>,
    stream: Option<CameraStream>,
    preview: Option<egui::TextureHandle>,
    preview_seq: u64,
    last_frame: Option<(Arc<RgbImage>, String)>,
    pub live: bool,
    live_pending: bool,
    samples: Vec<(PathBuf, egui::TextureHandle)>,
    /// The crop while it is being dragged (applied on release).
    dragging_crop: Option<Crop>,
    /// Where the crop drag started, the crop then, and whether it resizes.
    crop_drag: Option<(egui::Pos2, Crop, bool)>,
}

impl CaptureState {
    pub fn new(backend: Arc<dyn CameraBackend>, jobs: &Jobs, wardrobe_dir: Option<&Path>) -> Self {
        if let Some(dir) = sample_photos_dir(wardrobe_dir) {
            jobs.spawn("sample photos", move || {
                let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .map(|entries| entries.flatten().map(|e| e.path()).collect())
                    .unwrap_or_default();
                paths.retain(|p| {
                    p.extension()
                        .and_then(|e| e.to_str())
                        .map(|e| jobs::IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
                        .unwrap_or(false)
                });
                paths.sort();
                let samples = paths
                    .into_iter()
                    .filter_map(|p| {
                        let image = crate::pipeline::load_rgb(&p).ok()?;
                        Some((p, jobs::thumbnail(&image, 128)))
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
            last_frame: None,
            live: false,
            live_pending: false,
            samples: Vec::new(),
            dragging_crop: None,
            crop_drag: None,
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
    }

    pub fn stop_camera(&mut self) {
        if let Some(mut stream) = self.stream.take() {
            stream.stop();
        }
        self.live = false;
        self.live_pending = false;
    }

    pub(crate) fn live_result_arrived(&mut self) {
        self.live_pending = false;
    }

    /// The newest camera frame, if any.
    pub fn last_frame(&self) -> Option<&Arc<RgbImage>> {
        self.last_frame.as_ref().map(|(f, _)| f)
    }

    pub fn cameras_listed(&self) -> bool {
        self.cameras.is_some() && !self.listing
    }

    pub fn camera_status(&self) -> Option<StreamStatus> {
        self.stream.as_ref().map(|s| s.status())
    }
}

/// Shows the photo dialog off the UI thread.
pub fn pick_photo(app: &mut FittingRoomApp) {
    app.jobs.spawn("photo dialog", || {
        match jobs::pick_file_blocking("Open a photo", &[("Images", jobs::IMAGE_EXTENSIONS)]) {
            Some(path) => AppEvent::PhotoLoaded {
                origin: PhotoOrigin::File(path.clone()),
                result: jobs::load_photo(&path),
            },
            None => AppEvent::Notice("No photo chosen".into()),
        }
    });
}

/// Uses the newest camera frame as the person photo.
pub fn take_snapshot(app: &mut FittingRoomApp) {
    let Some((frame, name)) = app.capture.last_frame.clone() else {
        return;
    };
    app.capture.live = false;
    let preview = jobs::thumbnail(&frame, jobs::PREVIEW_SIDE);
    app.set_person(PhotoOrigin::Camera(name), (*frame).clone(), preview);
    app.notify("Snapshot taken");
}

/// Called every frame: takes new camera frames, feeds live mode, reports camera failures.
pub fn poll_camera(app: &mut FittingRoomApp) {
    let Some(stream) = &app.capture.stream else {
        return;
    };
    if let StreamStatus::Failed(e) = stream.status() {
        app.capture.stop_camera();
        app.capture.preview = None;
        app.report_error(e.to_string());
        return;
    }
    let Some(frame) = stream.latest_after(app.capture.preview_seq) else {
        return;
    };
    let name = stream
        .camera()
        .map(|c| c.name)
        .unwrap_or_else(|| "camera".into());
    app.capture.preview_seq = frame.seq;
    let image = jobs::to_color_image(&frame.image);
    match &mut app.capture.preview {
        Some(texture) if texture.size() == image.size => {
            texture.set(image, egui::TextureOptions::LINEAR)
        }
        _ => {
            app.capture.preview = Some(app.ctx.load_texture(
                "camera",
                image,
                egui::TextureOptions::LINEAR,
            ))
        }
    }
    app.capture.last_frame = Some((frame.image.clone(), name));
    if app.capture.live {
        submit_live(app, frame.image, frame.seq);
    }
}

/// Live mode: every new frame goes to the worker, which keeps only the newest waiting one.
fn submit_live(app: &mut FittingRoomApp, photo: Arc<RgbImage>, seq: u64) {
    let (Some(garment), ModelStatus::Ready(model)) = (&app.garment, &app.model) else {
        return;
    };
    let crop = Crop::centered(photo.width(), photo.height());
    app.worker.submit(TryOnJob {
        key: ResultKey {
            person: LIVE_PERSON - seq % 2,
            crop,
            garment: garment.key.clone(),
            mask_revision: garment.mask_revision,
            model: model.generation,
            hires: false,
        },
        photo,
        crop,
        garment: garment.image.clone(),
        garment_mask: garment.mask.clone(),
        live: true,
    });
    app.capture.live_pending = true;
}

pub fn show(app: &mut FittingRoomApp, ui: &mut egui::Ui) {
    ui.heading("You");
    ui.horizontal(|ui| {
        let before = app.capture.tab;
        ui.selectable_value(&mut app.capture.tab, CaptureTab::Photo, "Photo");
        ui.selectable_value(&mut app.capture.tab, CaptureTab::Camera, "Camera");
        if before != app.capture.tab && app.capture.tab == CaptureTab::Camera {
            app.capture.refresh_cameras(&app.jobs);
        }
    });
    ui.separator();
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| match app.capture.tab {
            CaptureTab::Photo => photo_tab(app, ui),
            CaptureTab::Camera => camera_tab(app, ui),
        });
}

fn photo_tab(app: &mut FittingRoomApp, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        if ui
            .button("Open photo…")
            .on_hover_text("Ctrl+O, or drop a photo on the window")
            .clicked()
        {
            pick_photo(app);
        }
    });
    if app.person.is_some() {
        ui.label("Drag the frame to move it; drag its corner or scroll to resize.");
        crop_editor(app, ui);
        if ui.button("Reset framing").clicked() {
            if let Some(p) = &app.person {
                let crop = Crop::centered(p.photo.width(), p.photo.height());
                app.set_crop(crop);
            }
        }
    } else {
        ui.weak("No photo yet. A full-body or half-body photo, facing the camera, works best.");
    }
    if !app.capture.samples.is_empty() {
        ui.separator();
        ui.label("Sample photos");
        let mut open = None;
        ui.horizontal_wrapped(|ui| {
            for (path, texture) in &app.capture.samples {
                let size = egui::vec2(60.0, 80.0);
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let button = egui::Button::image(egui::Image::from_texture(
                    egui::load::SizedTexture::new(texture.id(), size),
                ));
                if ui
                    .add(button)
                    .on_hover_text(format!("Sample photo {name}"))
                    .clicked()
                {
                    open = Some(path.clone());
                }
            }
        });
        if let Some(path) = open {
            app.open_photo(path);
        }
    }
}

/// The person photo with its 3:4 crop frame: drag to move, corner to resize, scroll to zoom.
fn crop_editor(app: &mut FittingRoomApp, ui: &mut egui::Ui) {
    let Some(person) = &app.person else {
        return;
    };
    let (w, h) = person.photo.dimensions();
    let Some(texture) = person.texture.clone() else {
        return;
    };
    let width = ui.available_width();
    let area = egui::Rect::from_min_size(ui.cursor().min, egui::vec2(width, width * 1.4));
    let rect = fit_rect(area, w as f32 / h as f32);
    let response = ui.allocate_rect(rect, egui::Sense::click_and_drag());
    app.crop_editor_rect = Some(rect);
    let scale = rect.width() / w as f32;
    let painter = ui.painter_at(rect);
    painter.image(
        texture.id(),
        rect,
        egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
        egui::Color32::WHITE,
    );
    let mut crop = app.capture.dragging_crop.unwrap_or(person.crop);
    let to_screen = |c: &Crop| {
        egui::Rect::from_min_size(
            rect.min + egui::vec2(c.x as f32, c.y as f32) * scale,
            egui::vec2(c.width as f32, c.height as f32) * scale,
        )
    };
    let crop_rect = to_screen(&crop);
    let handle = egui::Rect::from_center_size(crop_rect.right_bottom(), egui::vec2(16.0, 16.0));
    let mut changed = false;
    if response.drag_started() {
        // The gesture is decided where it starts: on the corner it resizes, elsewhere it moves
        // (Shift resizes from anywhere). Offsets are taken from the start, so no rounding
        // accumulates over a long drag.
        let origin = ui.input(|i| i.pointer.press_origin());
        if let Some(start) = origin.or(response.interact_pointer_pos()) {
            let resize = handle.expand(12.0).contains(start) || ui.input(|i| i.modifiers.shift);
            app.capture.crop_drag = Some((start, crop, resize));
        }
    }
    if let (true, Some((start, from, resize))) = (response.dragged(), app.capture.crop_drag) {
        let pointer = response.interact_pointer_pos().unwrap_or(start);
        let offset = (pointer - start) / scale;
        if resize {
            let grow = offset.x.max(offset.y * 0.75);
            crop = resized(from, from.width as f32 + grow, w, h, false);
        } else {
            let x = (from.x as f32 + offset.x)
                .round()
                .clamp(0.0, (w - from.width) as f32);
            let y = (from.y as f32 + offset.y)
                .round()
                .clamp(0.0, (h - from.height) as f32);
            crop = Crop {
                x: x as u32,
                y: y as u32,
                ..from
            };
        }
        app.capture.dragging_crop = Some(crop);
    }
    if response.hovered() {
        let scroll = ui.input(|i| i.smooth_scroll_delta.y);
        if scroll != 0.0 {
            let factor = (1.0 - scroll / 400.0).clamp(0.8, 1.25);
            crop = resized(crop, crop.width as f32 * factor, w, h, true);
            changed = true;
        }
    }
    if response.drag_stopped() {
        changed = true;
        app.capture.dragging_crop = None;
        app.capture.crop_drag = None;
    }
    // Shade what the network will not see.
    let shade = egui::Color32::from_black_alpha(140);
    let c = to_screen(&crop);
    for r in [
        egui::Rect::from_min_max(rect.min, egui::pos2(rect.max.x, c.min.y)),
        egui::Rect::from_min_max(egui::pos2(rect.min.x, c.max.y), rect.max),
        egui::Rect::from_min_max(
            egui::pos2(rect.min.x, c.min.y),
            egui::pos2(c.min.x, c.max.y),
        ),
        egui::Rect::from_min_max(
            egui::pos2(c.max.x, c.min.y),
            egui::pos2(rect.max.x, c.max.y),
        ),
    ] {
        painter.rect_filled(r, 0.0, shade);
    }
    painter.rect_stroke(
        c,
        0.0,
        egui::Stroke::new(2.0, egui::Color32::WHITE),
        egui::StrokeKind::Middle,
    );
    painter.rect_filled(
        egui::Rect::from_center_size(c.right_bottom(), egui::vec2(12.0, 12.0)),
        2.0,
        egui::Color32::WHITE,
    );
    if changed {
        app.set_crop(crop);
    }
    ui.weak(format!(
        "Photo {w}x{h}; using {}x{} at ({}, {})",
        crop.width, crop.height, crop.x, crop.y
    ));
}

/// A 3:4 crop of the given width, kept inside the photo (around its centre when `centred`).
fn resized(crop: Crop, width: f32, photo_w: u32, photo_h: u32, centred: bool) -> Crop {
    let max_w = photo_w.min(photo_h * 3 / 4) as f32;
    let new_w = width.clamp(24.0, max_w).round();
    let new_h = (new_w * 4.0 / 3.0).round();
    let (cx, cy) = if centred {
        (
            crop.x as f32 + crop.width as f32 / 2.0 - new_w / 2.0,
            crop.y as f32 + crop.height as f32 / 2.0 - new_h / 2.0,
        )
    } else {
        (crop.x as f32, crop.y as f32)
    };
    Crop {
        x: cx.round().max(0.0) as u32,
        y: cy.round().max(0.0) as u32,
        width: new_w as u32,
        height: new_h as u32,
    }
    .clamped(photo_w, photo_h)
}

fn camera_tab(app: &mut FittingRoomApp, ui: &mut egui::Ui) {
    let ctx = ui.ctx().clone();
    match &app.capture.cameras {
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Looking for cameras…");
            });
            if !app.capture.listing {
                app.capture.refresh_cameras(&app.jobs);
            }
            return;
        }
        Some(Err(e)) => {
            ui.colored_label(ui.visuals().error_fg_color, e);
            ui.label("You can still open a photo in the Photo tab.");
            if ui.button("Look again").clicked() {
                app.capture.refresh_cameras(&app.jobs);
            }
            return;
        }
        Some(Ok(list)) if list.is_empty() => {
            ui.label("No camera found. You can still open a photo in the Photo tab.");
            if ui.button("Look again").clicked() {
                app.capture.refresh_cameras(&app.jobs);
            }
            return;
        }
        Some(Ok(_)) => {}
    }
    let list = match &app.capture.cameras {
        Some(Ok(list)) => list.clone(),
        _ => Vec::new(),
    };
    ui.horizontal(|ui| {
        let current = list
            .iter()
            .find(|c| Some(c.index) == app.capture.selected_camera)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| "Choose a camera".into());
        egui::ComboBox::from_id_salt("camera-picker")
            .selected_text(current)
            .show_ui(ui, |ui| {
                for camera in &list {
                    ui.selectable_value(
                        &mut app.capture.selected_camera,
                        Some(camera.index),
                        &camera.name,
                    )
                    .on_hover_text(&camera.description);
                }
            });
        if ui
            .button("Refresh")
            .on_hover_text("Look for cameras again")
            .clicked()
        {
            app.capture.refresh_cameras(&app.jobs);
        }
    });
    ui.horizontal(|ui| {
        if app.capture.stream.is_none() {
            if ui.button("Start camera").clicked() {
                app.capture.start_camera(&ctx);
            }
        } else if ui.button("Stop camera").clicked() {
            app.capture.stop_camera();
            app.capture.preview = None;
        }
        let can_snap = app.capture.last_frame.is_some() && app.capture.stream.is_some();
        if ui
            .add_enabled(can_snap, egui::Button::new("Snapshot (Space)"))
            .clicked()
        {
            take_snapshot(app);
        }
    });
    if app.capture.stream.is_some() {
        let ready = app.garment.is_some() && matches!(app.model, ModelStatus::Ready(_));
        ui.add_enabled_ui(ready, |ui| {
            ui.checkbox(&mut app.capture.live, "Live try-on")
                .on_hover_text("Dress every camera frame, as fast as the model runs")
                .on_disabled_hover_text("Pick a garment first");
        });
        if let Some(stream) = &app.capture.stream {
            let status = match stream.status() {
                StreamStatus::Starting => "Starting the camera…".to_string(),
                StreamStatus::Running => format!("Camera: {:.0} frames/s", stream.fps()),
                StreamStatus::Stopped => "Camera stopped".to_string(),
                StreamStatus::Failed(e) => e.to_string(),
            };
            ui.weak(status);
        }
    }
    if let Some(texture) = &app.capture.preview {
        let [w, h] = texture.size();
        let width = ui.available_width();
        let area = egui::Rect::from_min_size(ui.cursor().min, egui::vec2(width, width * 1.4));
        let rect = fit_rect(area, w as f32 / h as f32);
        ui.allocate_rect(rect, egui::Sense::hover());
        let painter = ui.painter_at(rect);
        painter.image(
            texture.id(),
            rect,
            egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
            egui::Color32::WHITE,
        );
        framing_guide(&painter, rect, w as u32, h as u32);
    }
}

/// The 3:4 region the snapshot uses, with a silhouette to stand in.
fn framing_guide(painter: &egui::Painter, rect: egui::Rect, w: u32, h: u32) {
    let crop = Crop::centered(w, h);
    let scale = rect.width() / w as f32;
    let c = egui::Rect::from_min_size(
        rect.min + egui::vec2(crop.x as f32, crop.y as f32) * scale,
        egui::vec2(crop.width as f32, crop.height as f32) * scale,
    );
    let shade = egui::Color32::from_black_alpha(120);
    painter.rect_filled(
        egui::Rect::from_min_max(rect.min, egui::pos2(c.min.x, rect.max.y)),
        0.0,
        shade,
    );
    painter.rect_filled(
        egui::Rect::from_min_max(egui::pos2(c.max.x, rect.min.y), rect.max),
        0.0,
        shade,
    );
    let guide = egui::Stroke::new(
        2.0,
        egui::Color32::from_rgba_unmultiplied(255, 255, 255, 200),
    );
    painter.rect_stroke(c, 0.0, guide, egui::StrokeKind::Middle);
    // Proportions of a VITON-style framing: head near the top, shoulders at a quarter of the
    // height, torso filling the lower part.
    let at = |x: f32, y: f32| egui::pos2(c.left() + x * c.width(), c.top() + y * c.height());
    painter.circle_stroke(at(0.5, 0.15), 0.11 * c.width(), guide);
    let body = vec![
        at(0.43, 0.25),
        at(0.2, 0.3),
        at(0.12, 0.42),
        at(0.1, 1.0),
        at(0.9, 1.0),
        at(0.88, 0.42),
        at(0.8, 0.3),
        at(0.57, 0.25),
    ];
    painter.add(egui::Shape::line(body, guide));
}
