//! Hand-fixing a garment mask: brush and eraser over the garment photo, undo, reset to the
//! automatic mask, save into the wardrobe. Edits are made at the photo's own resolution and
//! only the touched region of the overlay texture is re-uploaded; the full-size pictures are
//! prepared off the UI thread ([`MaskToEdit`]) and only uploaded here.

use std::sync::Arc;

use image::{GrayImage, RgbImage};

use super::command::Command;
use super::jobs::to_color_image;
use crate::wardrobe::GarmentId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Brush,
    Eraser,
}

const OVERLAY: [u8; 3] = [255, 40, 160];
const MAX_UNDO: usize = 20;

/// A garment's photo and mask loaded for editing, with the editor's full-size pictures made
/// (on the loading thread, not the UI thread).
pub struct MaskToEdit {
    pub id: GarmentId,
    pub image: Arc<RgbImage>,
    pub mask: GrayImage,
    photo: egui::ColorImage,
    overlay: egui::ColorImage,
}

impl MaskToEdit {
    pub fn new(id: GarmentId, image: RgbImage, mask: GrayImage) -> Self {
        let (w, h) = mask.dimensions();
        Self {
            id,
            photo: to_color_image(&image),
            overlay: overlay_pixels(&mask, 0, 0, w, h),
            image: Arc::new(image),
            mask,
        }
    }
}

pub struct MaskEditor {
    pub id: GarmentId,
    image: Arc<RgbImage>,
    pub mask: GrayImage,
    undo: Vec<GrayImage>,
    pub tool: Tool,
    /// Brush radius in photo pixels.
    pub radius: f32,
    pub show_overlay: bool,
    photo_texture: Option<egui::TextureHandle>,
    mask_texture: Option<egui::TextureHandle>,
    /// Pictures prepared off the UI thread, waiting for their upload.
    prepared: Option<(egui::ColorImage, egui::ColorImage)>,
    last_point: Option<egui::Pos2>,
    pub changed: bool,
}

impl MaskEditor {
    pub fn new(id: GarmentId, image: Arc<RgbImage>, mask: GrayImage) -> Self {
        let radius = (image.width().max(image.height()) as f32 / 40.0).max(2.0);
        Self {
            id,
            image,
            mask,
            undo: Vec::new(),
            tool: Tool::Brush,
            radius,
            show_overlay: true,
            photo_texture: None,
            mask_texture: None,
            prepared: None,
            last_point: None,
            changed: false,
        }
    }

    /// An editor whose full-size pictures are already made.
    pub fn prepared(loaded: MaskToEdit) -> Self {
        let mut editor = Self::new(loaded.id, loaded.image, loaded.mask);
        editor.prepared = Some((loaded.photo, loaded.overlay));
        editor
    }

    /// Paints (or erases) a stroke segment from `from` to `to`, in photo pixels, and returns the
    /// touched rectangle (x0, y0, x1, y1), or `None` when it misses the photo.
    pub fn stroke(&mut self, from: egui::Pos2, to: egui::Pos2) -> Option<(u32, u32, u32, u32)> {
        let value = if self.tool == Tool::Brush { 255 } else { 0 };
        let (w, h) = self.mask.dimensions();
        let r = self.radius.max(0.5);
        let x0 = (from.x.min(to.x) - r).floor().max(0.0) as u32;
        let y0 = (from.y.min(to.y) - r).floor().max(0.0) as u32;
        let x1 = ((from.x.max(to.x) + r).ceil() as i64).clamp(0, w as i64) as u32;
        let y1 = ((from.y.max(to.y) + r).ceil() as i64).clamp(0, h as i64) as u32;
        if x0 >= x1 || y0 >= y1 {
            return None;
        }
        let segment = to - from;
        let length_sq = segment.length_sq();
        for y in y0..y1 {
            for x in x0..x1 {
                let p = egui::pos2(x as f32 + 0.5, y as f32 + 0.5);
                // Distance from the pixel centre to the segment: a capsule, so fast strokes
                // leave no gaps.
                let t = if length_sq > 0.0 {
                    ((p - from).dot(segment) / length_sq).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                if (p - (from + segment * t)).length() <= r {
                    self.mask.put_pixel(x, y, image::Luma([value]));
                }
            }
        }
        self.changed = true;
        Some((x0, y0, x1, y1))
    }

    pub fn begin_stroke(&mut self) {
        self.undo.push(self.mask.clone());
        if self.undo.len() > MAX_UNDO {
            self.undo.remove(0);
        }
    }

    pub fn undo(&mut self) -> bool {
        match self.undo.pop() {
            Some(previous) => {
                self.mask = previous;
                self.mask_texture = None;
                self.changed = true;
                true
            }
            None => false,
        }
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    /// Share of the photo the mask covers.
    pub fn coverage(&self) -> f32 {
        let on = self.mask.pixels().filter(|p| p.0[0] >= 128).count();
        on as f32 / (self.mask.width() * self.mask.height()).max(1) as f32
    }

    fn overlay_pixels(&self, x0: u32, y0: u32, x1: u32, y1: u32) -> egui::ColorImage {
        overlay_pixels(&self.mask, x0, y0, x1, y1)
    }

    fn ui(&mut self, ui: &mut egui::Ui) -> EditorAction {
        let mut action = EditorAction::None;
        let ctx = ui.ctx().clone();
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.tool, Tool::Brush, "Brush")
                .on_hover_text("Add to the garment (B)");
            ui.selectable_value(&mut self.tool, Tool::Eraser, "Eraser")
                .on_hover_text("Remove from the garment (E)");
            let max_radius = self.image.width().max(self.image.height()) as f32 / 6.0;
            ui.add(egui::Slider::new(&mut self.radius, 1.0..=max_radius.max(4.0)).text("size"));
            ui.checkbox(&mut self.show_overlay, "Show mask");
        });
        let (b, e, z) = ctx.input_mut(|i| {
            (
                i.key_pressed(egui::Key::B),
                i.key_pressed(egui::Key::E),
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::Z),
            )
        });
        if b {
            self.tool = Tool::Brush;
        }
        if e {
            self.tool = Tool::Eraser;
        }
        if z {
            self.undo();
        }

        let (w, h) = self.image.dimensions();
        if let Some((photo, overlay)) = self.prepared.take() {
            self.photo_texture =
                Some(ctx.load_texture("mask-editor-photo", photo, egui::TextureOptions::LINEAR));
            self.mask_texture =
                Some(ctx.load_texture("mask-editor-mask", overlay, egui::TextureOptions::NEAREST));
        }
        let photo = self
            .photo_texture
            .get_or_insert_with(|| {
                ctx.load_texture(
                    "mask-editor-photo",
                    to_color_image(&self.image),
                    egui::TextureOptions::LINEAR,
                )
            })
            .clone();
        if self.mask_texture.is_none() {
            // After an undo: the whole mask changed.
            self.mask_texture = Some(ctx.load_texture(
                "mask-editor-mask",
                self.overlay_pixels(0, 0, w, h),
                egui::TextureOptions::NEAREST,
            ));
        }
        let max = egui::vec2(ui.available_width().min(560.0), 520.0);
        let scale = (max.x / w as f32).min(max.y / h as f32);
        let size = egui::vec2(w as f32, h as f32) * scale;
        let (rect, response) = ui.allocate_exact_size(size, egui::Sense::drag());
        let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
        let painter = ui.painter_at(rect);
        painter.image(photo.id(), rect, uv, egui::Color32::WHITE);
        if self.show_overlay {
            if let Some(mask) = &self.mask_texture {
                painter.image(mask.id(), rect, uv, egui::Color32::WHITE);
            }
        }
        let to_photo = |p: egui::Pos2| ((p - rect.min) / scale).to_pos2();
        if response.drag_started() {
            self.begin_stroke();
            self.last_point = None;
        }
        if response.dragged() {
            if let Some(pos) = response.interact_pointer_pos() {
                let here = to_photo(pos);
                let from = self.last_point.unwrap_or(here);
                if let Some((x0, y0, x1, y1)) = self.stroke(from, here) {
                    let patch = self.overlay_pixels(x0, y0, x1, y1);
                    if let Some(texture) = &mut self.mask_texture {
                        texture.set_partial(
                            [x0 as usize, y0 as usize],
                            patch,
                            egui::TextureOptions::NEAREST,
                        );
                    }
                }
                self.last_point = Some(here);
            }
        }
        if response.drag_stopped() {
            self.last_point = None;
        }
        if let Some(pos) = response.hover_pos() {
            painter.circle_stroke(
                pos,
                self.radius * scale,
                egui::Stroke::new(1.5, egui::Color32::from_rgb(255, 200, 0)),
            );
        }
        ui.label(format!(
            "Mask covers {:.0}% of the photo",
            self.coverage() * 100.0
        ));
        ui.horizontal(|ui| {
            if ui
                .add_enabled(self.changed, egui::Button::new("Save"))
                .clicked()
            {
                action = EditorAction::Save;
            }
            if ui
                .add_enabled(self.can_undo(), egui::Button::new("Undo (Ctrl+Z)"))
                .clicked()
            {
                self.undo();
            }
            if ui
                .button("Reset to automatic")
                .on_hover_text("Throw away hand edits and use the computed mask")
                .clicked()
            {
                action = EditorAction::Reset;
            }
            if ui.button("Cancel").clicked() {
                action = EditorAction::Cancel;
            }
        });
        action
    }
}

/// The mask as the editor's overlay: the garment tinted, the rest transparent.
fn overlay_pixels(mask: &GrayImage, x0: u32, y0: u32, x1: u32, y1: u32) -> egui::ColorImage {
    let mut pixels = Vec::with_capacity(((x1 - x0) * (y1 - y0)) as usize);
    for y in y0..y1 {
        for x in x0..x1 {
            let on = mask.get_pixel(x, y).0[0] >= 128;
            pixels.push(if on {
                egui::Color32::from_rgba_unmultiplied(OVERLAY[0], OVERLAY[1], OVERLAY[2], 130)
            } else {
                egui::Color32::TRANSPARENT
            });
        }
    }
    egui::ColorImage::new([(x1 - x0) as usize, (y1 - y0) as usize], pixels)
}

enum EditorAction {
    None,
    Save,
    Reset,
    Cancel,
}

/// The editor window: returns what to do when it closes (save, reset, or just close).
pub fn mask_editor_ui(ctx: &egui::Context, editor: &mut MaskEditor) -> Option<Command> {
    let mut open = true;
    let mut action = EditorAction::None;
    egui::Window::new("Edit garment mask")
        .open(&mut open)
        .collapsible(false)
        .resizable(false)
        .show(ctx, |ui| action = editor.ui(ui));
    if !open {
        action = EditorAction::Cancel;
    }
    match action {
        EditorAction::None => None,
        EditorAction::Cancel => Some(Command::CloseMaskEditor),
        EditorAction::Save => Some(Command::SaveMask(
            editor.id.clone(),
            Some(editor.mask.clone()),
        )),
        EditorAction::Reset => Some(Command::SaveMask(editor.id.clone(), None)),
    }
}
