//! The crop editor (the person photo with its 3:4 crop frame) and the framing guide over the
//! camera preview.

use super::camera::CaptureState;
use super::command::Command;
use super::result_panel::fit_rect;
use super::session::Person;
use crate::pipeline::Crop;

/// The label of the crop editor (for accessibility, and for tests to find it).
pub const CROP_EDITOR: &str = "Photo and crop frame";

/// The person photo with its 3:4 crop frame: drag to move, corner to resize, scroll to zoom.
/// Returns the new crop when a gesture ends.
pub fn crop_editor_ui(
    ui: &mut egui::Ui,
    state: &mut CaptureState,
    person: &Person,
) -> Option<Command> {
    let (w, h) = person.photo.dimensions();
    let texture = match &state.person_preview {
        Some((id, texture)) if *id == person.id => texture.clone(),
        _ => return None,
    };
    // The view holds the photo and the crop, which may reach past the photo: what lies past it
    // is shown in the background colour the network sees there. The drag's starting crop keeps
    // the view still during a gesture.
    let mut view = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(w as f32, h as f32));
    for c in std::iter::once(person.crop).chain(state.crop_drag.map(|(_, from, _)| from)) {
        view = view.union(crop_rect_px(&c));
    }
    let width = ui.available_width();
    let area = egui::Rect::from_min_size(ui.cursor().min, egui::vec2(width, width * 1.4));
    let rect = fit_rect(area, view.width() / view.height());
    let response = ui.allocate_rect(rect, egui::Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, CROP_EDITOR));
    let scale = rect.width() / view.width();
    // Where the photo's (0, 0) is on screen.
    let origin = rect.min - view.min.to_vec2() * scale;
    let photo_rect = egui::Rect::from_min_size(origin, egui::vec2(w as f32, h as f32) * scale);
    let painter = ui.painter_at(rect);
    let [r, g, b] = crate::pipeline::VITON_BACKGROUND.0;
    painter.rect_filled(rect, 0.0, egui::Color32::from_rgb(r, g, b));
    painter.image(
        texture.id(),
        photo_rect,
        egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
        egui::Color32::WHITE,
    );
    // The person the crop dresses: for a crop set by hand on someone else, the one it holds.
    let dressed = person.dressed();
    if state.show_matte {
        if let Some(matte) = dressed.matte {
            let which = (person.id, dressed.in_crop);
            if state.matte_preview.as_ref().map(|(id, _)| *id) != Some(which) {
                let (mw, mh) = matte.dimensions();
                // A red tint where the person is, transparent elsewhere.
                let pixels = matte
                    .pixels()
                    .map(|p| egui::Color32::from_rgba_unmultiplied(255, 40, 40, p[0] / 2))
                    .collect();
                let image = egui::ColorImage::new([mw as usize, mh as usize], pixels);
                let texture = ui
                    .ctx()
                    .load_texture("matte", image, egui::TextureOptions::LINEAR);
                state.matte_preview = Some((which, texture));
            }
            if let Some((_, texture)) = &state.matte_preview {
                painter.image(
                    texture.id(),
                    photo_rect,
                    egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                    egui::Color32::WHITE,
                );
            }
        }
    }
    if let Some(points) = dressed.keypoints {
        draw_skeleton(&painter, origin, scale, points);
    }
    let mut crop = state.dragging_crop.unwrap_or(person.crop);
    let to_screen = |c: &Crop| {
        egui::Rect::from_min_size(
            origin + egui::vec2(c.x as f32, c.y as f32) * scale,
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
            state.crop_drag = Some((start, crop, resize));
        }
    }
    if let (true, Some((start, from, resize))) = (response.dragged(), state.crop_drag) {
        let pointer = response.interact_pointer_pos().unwrap_or(start);
        let offset = (pointer - start) / scale;
        if resize {
            let grow = offset.x.max(offset.y * 0.75);
            crop = resized(from, from.width as f32 + grow, w, h, false);
        } else {
            // The crop may reach past the photo (filled with background), its centre stays in.
            crop = Crop {
                x: (from.x as f32 + offset.x).round() as i32,
                y: (from.y as f32 + offset.y).round() as i32,
                ..from
            }
            .clamped(w, h);
        }
        state.dragging_crop = Some(crop);
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
        state.dragging_crop = None;
        state.crop_drag = None;
    }
    draw_crop(&painter, rect, origin, scale, crop);
    ui.weak(format!(
        "Photo {w}x{h}; using {}x{} at ({}, {})",
        crop.width, crop.height, crop.x, crop.y
    ));
    changed.then_some(Command::SetCrop(crop))
}

/// A crop as a rectangle in photo pixels.
fn crop_rect_px(c: &Crop) -> egui::Rect {
    egui::Rect::from_min_size(
        egui::pos2(c.x as f32, c.y as f32),
        egui::vec2(c.width as f32, c.height as f32),
    )
}

/// The detected skeleton over a picture whose (0, 0) is at `origin`, `scale` screen points per
/// pixel.
pub fn draw_skeleton(
    painter: &egui::Painter,
    origin: egui::Pos2,
    scale: f32,
    points: &[crate::person::Keypoint],
) {
    let stroke = egui::Stroke::new(2.0, egui::Color32::from_rgb(80, 220, 120));
    let at = |i: usize| {
        points
            .get(i)
            .filter(|k| k.visibility > 0.5)
            .map(|k| origin + egui::vec2(k.x, k.y) * scale)
    };
    for (a, b) in crate::person::pose::BONES {
        if let (Some(p), Some(q)) = (at(a), at(b)) {
            painter.line_segment([p, q], stroke);
        }
    }
}

/// The crop frame over `view` (the picture's area on screen, whose (0, 0) is at `origin`):
/// what the network will not see shaded, the frame and its resize handle.
pub fn draw_crop(
    painter: &egui::Painter,
    view: egui::Rect,
    origin: egui::Pos2,
    scale: f32,
    crop: Crop,
) {
    let c = egui::Rect::from_min_size(
        origin + egui::vec2(crop.x as f32, crop.y as f32) * scale,
        egui::vec2(crop.width as f32, crop.height as f32) * scale,
    );
    let shade = egui::Color32::from_black_alpha(140);
    for r in [
        egui::Rect::from_min_max(view.min, egui::pos2(view.max.x, c.min.y)),
        egui::Rect::from_min_max(egui::pos2(view.min.x, c.max.y), view.max),
        egui::Rect::from_min_max(
            egui::pos2(view.min.x, c.min.y),
            egui::pos2(c.min.x, c.max.y),
        ),
        egui::Rect::from_min_max(
            egui::pos2(c.max.x, c.min.y),
            egui::pos2(view.max.x, c.max.y),
        ),
    ] {
        if r.is_positive() {
            painter.rect_filled(r.intersect(view), 0.0, shade);
        }
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
}

/// A 3:4 crop of the given width, kept valid for the photo (around its centre when `centred`).
fn resized(crop: Crop, width: f32, photo_w: u32, photo_h: u32, centred: bool) -> Crop {
    let max_w = (Crop::centered(photo_w, photo_h).width * crate::pipeline::MAX_CROP_FACTOR) as f32;
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
        x: cx.round() as i32,
        y: cy.round() as i32,
        width: new_w as u32,
        height: new_h as u32,
    }
    .clamped(photo_w, photo_h)
}

/// The 3:4 region the snapshot uses, with a silhouette to stand in.
pub fn framing_guide(painter: &egui::Painter, rect: egui::Rect, w: u32, h: u32) {
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
