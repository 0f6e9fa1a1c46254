//! The capture panel: open a photo (dialog, drop, sample photos) and adjust its 3:4 crop, or use
//! a webcam: camera picker, live preview with a framing guide, snapshot (Space) and live mode.

use super::camera::{CaptureState, CaptureTab};
use super::command::Command;
use super::crop_editor::{self, crop_editor_ui};
use super::result_panel::fit_rect;
use super::session::{Framing, Person};
use crate::capture::StreamStatus;
use crate::pipeline::Subject;

/// What the capture panel shows besides its own state.
pub struct CaptureView<'a> {
    pub person: Option<&'a Person>,
    /// Whether live mode can run (a garment and a model are there).
    pub live_ready: bool,
    /// How the last live frame was framed, and the frame's size.
    pub live_framing: Option<(&'a Subject, (u32, u32))>,
}

pub fn capture_ui(ui: &mut egui::Ui, state: &mut CaptureState, view: &CaptureView) -> Vec<Command> {
    let mut commands = Vec::new();
    ui.heading("You");
    ui.horizontal(|ui| {
        let before = state.tab;
        ui.selectable_value(&mut state.tab, CaptureTab::Photo, "Photo");
        ui.selectable_value(&mut state.tab, CaptureTab::Camera, "Camera");
        if before != state.tab && state.tab == CaptureTab::Camera {
            commands.push(Command::RefreshCameras);
        }
    });
    ui.separator();
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| match state.tab {
            CaptureTab::Photo => photo_tab(ui, state, view.person, &mut commands),
            CaptureTab::Camera => camera_tab(ui, state, view, &mut commands),
        });
    commands
}

/// How the crop came about, in words.
fn framing_note(person: &Person) -> String {
    use crate::pipeline::CropSource;
    match &person.framing {
        Framing::Pending => "Finding the person…".into(),
        Framing::Auto(CropSource::Auto) => {
            "Framed automatically from the person's pose; the background is replaced for the \
             network and kept in the result."
                .into()
        }
        Framing::Auto(CropSource::Fallback(why)) => format!(
            "{why}: using the centred crop. The result keeps your photo as it is; drag the \
             frame onto yourself to try the garment on."
        ),
        Framing::Auto(_) if crate::pipeline::is_native_photo(&person.photo) => {
            "Framed like the network's own inputs (192x256): the whole photo is used; the \
             background is replaced for the network and kept in the result."
                .into()
        }
        Framing::Auto(_) => "The centred crop.".into(),
        Framing::Manual => "Framed by hand.".into(),
    }
}

fn photo_tab(
    ui: &mut egui::Ui,
    state: &mut CaptureState,
    person: Option<&Person>,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        if ui
            .button("Open photo…")
            .on_hover_text("Ctrl+O, or drop a photo on the window")
            .clicked()
        {
            commands.push(Command::PickPhoto);
        }
    });
    if let Some(person) = person {
        ui.label("Drag the frame to move it; drag its corner or scroll to resize.");
        commands.extend(crop_editor_ui(ui, state, person));
        ui.horizontal(|ui| {
            if ui
                .button("Automatic framing")
                .on_hover_text("Back to the crop placed from the person's pose")
                .clicked()
            {
                commands.push(Command::ResetCrop);
            }
            ui.checkbox(&mut state.show_matte, "Show matte")
                .on_hover_text("The person's matte: what the network sees of the photo");
        });
        ui.weak(framing_note(person));
    } else {
        ui.weak("No photo yet. A full-body or half-body photo, facing the camera, works best.");
    }
    if !state.samples.is_empty() {
        ui.separator();
        ui.label("Sample photos");
        ui.horizontal_wrapped(|ui| {
            for (path, texture) in &state.samples {
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
                    commands.push(Command::OpenPhoto(path.clone()));
                }
            }
        });
    }
}

fn camera_tab(
    ui: &mut egui::Ui,
    state: &mut CaptureState,
    view: &CaptureView,
    commands: &mut Vec<Command>,
) {
    let ctx = ui.ctx().clone();
    match &state.cameras {
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Looking for cameras…");
            });
            if !state.listing {
                commands.push(Command::RefreshCameras);
            }
            return;
        }
        Some(Err(e)) => {
            ui.colored_label(ui.visuals().error_fg_color, e);
            ui.label("You can still open a photo in the Photo tab.");
            if ui.button("Look again").clicked() {
                commands.push(Command::RefreshCameras);
            }
            return;
        }
        Some(Ok(list)) if list.is_empty() => {
            ui.label("No camera found. You can still open a photo in the Photo tab.");
            if ui.button("Look again").clicked() {
                commands.push(Command::RefreshCameras);
            }
            return;
        }
        Some(Ok(_)) => {}
    }
    let list = match &state.cameras {
        Some(Ok(list)) => list.clone(),
        _ => Vec::new(),
    };
    ui.horizontal(|ui| {
        let current = list
            .iter()
            .find(|c| Some(c.index) == state.selected_camera)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| "Choose a camera".into());
        egui::ComboBox::from_id_salt("camera-picker")
            .selected_text(current)
            .show_ui(ui, |ui| {
                for camera in &list {
                    ui.selectable_value(
                        &mut state.selected_camera,
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
            commands.push(Command::RefreshCameras);
        }
    });
    ui.horizontal(|ui| {
        if state.stream.is_none() {
            if ui.button("Start camera").clicked() {
                state.start_camera(&ctx);
            }
        } else if ui.button("Stop camera").clicked() {
            state.stop_camera();
            state.preview = None;
        }
        let can_snap = state.last_frame.is_some() && state.stream.is_some();
        if ui
            .add_enabled(can_snap, egui::Button::new("Snapshot (Space)"))
            .clicked()
        {
            commands.push(Command::TakeSnapshot);
        }
    });
    if state.stream.is_some() {
        let ready = view.live_ready;
        ui.add_enabled_ui(ready, |ui| {
            ui.checkbox(&mut state.live, "Live try-on")
                .on_hover_text("Dress every camera frame, as fast as the model runs")
                .on_disabled_hover_text("Pick a garment first");
        });
        if let Some(stream) = &state.stream {
            let status = match stream.status() {
                StreamStatus::Starting => "Starting the camera…".to_string(),
                StreamStatus::Running => format!("Camera: {:.0} frames/s", stream.fps()),
                StreamStatus::Stopped => "Camera stopped".to_string(),
                StreamStatus::Failed(e) => e.to_string(),
            };
            ui.weak(status);
        }
    }
    if let Some(texture) = &state.preview {
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
        match view.live_framing.filter(|_| state.live) {
            // Live: where the person was found in the last frame dressed, and its crop.
            Some((framed, (fw, _))) => {
                let scale = rect.width() / fw.max(1) as f32;
                if let Some(points) = &framed.keypoints {
                    crop_editor::draw_skeleton(&painter, rect.min, scale, points);
                }
                crop_editor::draw_crop(&painter, rect, rect.min, scale, framed.crop);
            }
            None => crop_editor::framing_guide(&painter, rect, w as u32, h as u32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Crop, CropSource};
    use image::RgbImage;
    use std::sync::Arc;

    fn person(width: u32, height: u32, framing: Framing) -> Person {
        Person {
            id: 1,
            origin: super::super::session::PhotoOrigin::File("me.jpg".into()),
            photo: Arc::new(RgbImage::new(width, height)),
            crop: Crop::centered(width, height),
            framing,
            auto_crop: None,
            matte: None,
            keypoints: None,
            in_crop: None,
        }
    }

    #[test]
    fn the_framing_note_tells_a_network_sized_photo_from_a_centred_crop() {
        let native = framing_note(&person(192, 256, Framing::Auto(CropSource::Centre)));
        assert!(native.contains("the whole photo is used"), "{native}");
        let centred = framing_note(&person(640, 480, Framing::Auto(CropSource::Centre)));
        assert_eq!(centred, "The centred crop.");
        let fallback = framing_note(&person(
            640,
            480,
            Framing::Auto(CropSource::Fallback("no person found".into())),
        ));
        assert!(
            fallback.starts_with("no person found: using the centred crop"),
            "{fallback}"
        );
    }
}
