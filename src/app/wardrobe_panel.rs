//! The wardrobe panel: a searchable gallery of garments; add (dialog or drop), rename, remove,
//! and open the mask editor. The wardrobe itself is only touched by background jobs
//! ([`super::wardrobe_store`]); the panel draws a copy of its list.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::command::Command;
use super::jobs::{self, Jobs};
use super::session::GarmentData;
use super::wardrobe_store::load_thumbnails;
use crate::wardrobe::{Garment, GarmentId, GarmentRef, Origin};

const THUMB_SIZE: f32 = 84.0;

/// The panel's own state.
#[derive(Default)]
pub struct WardrobeState {
    list: Vec<Garment>,
    thumbnails: HashMap<GarmentId, egui::TextureHandle>,
    /// Thumbnails asked for and not arrived yet.
    pending_thumbnails: HashSet<GarmentId>,
    pub query: String,
    pub selected: Option<GarmentId>,
    rename: Option<(GarmentId, String)>,
    confirm_remove: Option<GarmentId>,
    opened: bool,
    hidden_bundled: usize,
    /// The selected garment's mask as shown (garment, mask revision, texture).
    mask_preview: Option<(GarmentId, u64, egui::TextureHandle)>,
}

impl WardrobeState {
    pub fn garments(&self) -> &[Garment] {
        &self.list
    }

    pub fn is_open(&self) -> bool {
        self.opened
    }

    /// A new list from the wardrobe; thumbnails of new garments load in the background.
    pub(crate) fn set_list(&mut self, jobs: &Jobs, list: Vec<Garment>, hidden: Option<usize>) {
        self.opened = true;
        self.list = list;
        self.hidden_bundled = hidden.unwrap_or(self.hidden_bundled);
        let missing: Vec<(GarmentId, PathBuf)> = self
            .list
            .iter()
            .filter(|g| {
                !self.thumbnails.contains_key(&g.id) && !self.pending_thumbnails.contains(&g.id)
            })
            .map(|g| (g.id.clone(), g.image_path.clone()))
            .collect();
        self.pending_thumbnails
            .extend(missing.iter().map(|(id, _)| id.clone()));
        if !missing.is_empty() {
            load_thumbnails(jobs, missing);
        }
    }

    pub(crate) fn set_thumbnail(
        &mut self,
        ctx: &egui::Context,
        id: GarmentId,
        image: Option<egui::ColorImage>,
    ) {
        self.pending_thumbnails.remove(&id);
        if let Some(image) = image {
            let texture =
                ctx.load_texture(format!("thumb-{id}"), image, egui::TextureOptions::LINEAR);
            self.thumbnails.insert(id, texture);
        }
    }
}

/// What the wardrobe panel shows besides its own state.
pub struct WardrobeView<'a> {
    /// The garment being tried on (its mask is previewed when it is the selected one).
    pub garment: Option<&'a GarmentData>,
}

pub fn wardrobe_ui(
    ui: &mut egui::Ui,
    state: &mut WardrobeState,
    view: &WardrobeView,
) -> Vec<Command> {
    let mut commands = Vec::new();
    ui.heading("Wardrobe");
    ui.horizontal(|ui| {
        if ui
            .button("Add garment…")
            .on_hover_text("A product photo on a plain background; or drop files here")
            .clicked()
        {
            commands.push(Command::PickGarment);
        }
    });
    if !state.opened {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Opening the wardrobe…");
        });
        return commands;
    }
    // Search appears once the gallery no longer fits a screen.
    if state.list.len() > 12 || !state.query.is_empty() {
        ui.add(
            egui::TextEdit::singleline(&mut state.query)
                .hint_text("Search garments")
                .desired_width(f32::INFINITY),
        );
    }
    ui.separator();
    selected_garment_controls(ui, state, view, &mut commands);

    let query = state.query.to_lowercase();
    let words: Vec<&str> = query.split_whitespace().collect();
    let visible: Vec<&Garment> = state
        .list
        .iter()
        .filter(|g| {
            let haystack = format!("{} {}", g.name, g.id.as_str()).to_lowercase();
            words.iter().all(|w| haystack.contains(w))
        })
        .collect();
    let hidden = state.hidden_bundled;
    if hidden > 0
        && ui
            .small_button(format!(
                "Show {hidden} hidden bundled garment{}",
                if hidden == 1 { "" } else { "s" }
            ))
            .clicked()
    {
        state.hidden_bundled = 0;
        commands.push(Command::RestoreBundled);
    }
    if visible.is_empty() {
        ui.weak(if state.list.is_empty() {
            "No garments yet: add a product photo."
        } else {
            "No garment matches the search."
        });
    }
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.spacing_mut().item_spacing = egui::vec2(6.0, 6.0);
                for garment in &visible {
                    let selected = state.selected.as_ref() == Some(&garment.id);
                    let response = garment_tile(ui, &state.thumbnails, garment, selected);
                    if response.clicked() {
                        commands.push(Command::SelectGarment(garment.id.clone()));
                    }
                }
            });
        });
    commands
}

fn garment_tile(
    ui: &mut egui::Ui,
    thumbnails: &HashMap<GarmentId, egui::TextureHandle>,
    garment: &Garment,
    selected: bool,
) -> egui::Response {
    let size = egui::vec2(THUMB_SIZE, THUMB_SIZE * 4.0 / 3.0);
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::click());
    let response = response.on_hover_text(&garment.name);
    response.widget_info(|| {
        egui::WidgetInfo::selected(egui::Role::Button, true, selected, &garment.name)
    });
    if ui.is_rect_visible(rect) {
        let visuals = ui.style().interact_selectable(&response, selected);
        ui.painter().rect_filled(rect, 4.0, egui::Color32::WHITE);
        if let Some(texture) = thumbnails.get(&garment.id) {
            let [w, h] = texture.size();
            let scale = (rect.width() / w as f32).min(rect.height() / h as f32);
            let image_rect =
                egui::Rect::from_center_size(rect.center(), egui::vec2(w as f32, h as f32) * scale);
            ui.painter().image(
                texture.id(),
                image_rect,
                egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                egui::Color32::WHITE,
            );
        } else {
            // Painted, not placed: a widget over the tile would compete with it for the click.
            egui::Spinner::new().paint_at(ui, rect.shrink(rect.width() * 0.35));
        }
        let stroke = if selected {
            egui::Stroke::new(3.0, ui.visuals().selection.bg_fill)
        } else {
            visuals.bg_stroke
        };
        ui.painter()
            .rect_stroke(rect, 4.0, stroke, egui::StrokeKind::Inside);
        if garment.origin == Origin::User {
            // Marks the user's own garments.
            ui.painter().circle_filled(
                rect.left_top() + egui::vec2(8.0, 8.0),
                4.0,
                egui::Color32::from_rgb(230, 160, 0),
            );
        }
    }
    response
}

fn selected_garment_controls(
    ui: &mut egui::Ui,
    state: &mut WardrobeState,
    view: &WardrobeView,
    commands: &mut Vec<Command>,
) {
    let Some(key) = state.selected.clone() else {
        return;
    };
    let Some(garment) = state.list.iter().find(|g| g.id == key).cloned() else {
        return;
    };
    let mut rename_done = None;
    match &mut state.rename {
        Some((k, text)) if *k == key => {
            ui.horizontal(|ui| {
                let edit = ui.add(egui::TextEdit::singleline(text).desired_width(150.0));
                let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if ui.button("OK").clicked() || enter {
                    rename_done = Some(Some(text.trim().to_string()));
                }
                if ui.button("Cancel").clicked() {
                    rename_done = Some(None);
                }
            });
        }
        _ => {
            ui.strong(&garment.name);
        }
    }
    mask_preview(ui, state, view, &key);
    if let Some(done) = rename_done {
        state.rename = None;
        if let Some(name) = done.filter(|n| !n.is_empty()) {
            commands.push(Command::RenameGarment(garment.id.clone(), name));
        }
    }
    ui.horizontal_wrapped(|ui| {
        if ui.button("Rename").clicked() {
            state.rename = Some((key.clone(), garment.name.clone()));
        }
        if ui
            .button("Edit mask…")
            .on_hover_text("Fix the garment outline with a brush and an eraser")
            .clicked()
        {
            commands.push(Command::EditMask(key.clone()));
        }
        if ui.button("Remove").clicked() {
            state.confirm_remove = Some(key.clone());
        }
    });
    if state.confirm_remove.as_ref() == Some(&key) {
        ui.horizontal(|ui| {
            let what = if garment.origin == Origin::User {
                "Delete this garment?"
            } else {
                "Hide this bundled garment?"
            };
            ui.label(what);
            if ui.button("Yes").clicked() {
                state.confirm_remove = None;
                state.selected = None;
                commands.push(Command::RemoveGarment(garment.id.clone()));
            }
            if ui.button("No").clicked() {
                state.confirm_remove = None;
            }
        });
    }
    ui.separator();
}

/// The mask the network will use for the selected garment, small, so a wrong automatic mask is
/// seen before it spoils a try-on.
fn mask_preview(
    ui: &mut egui::Ui,
    state: &mut WardrobeState,
    view: &WardrobeView,
    key: &GarmentId,
) {
    let Some(garment) = view
        .garment
        .filter(|g| g.garment == GarmentRef::Wardrobe(key.clone()))
    else {
        return;
    };
    let current = matches!(&state.mask_preview,
        Some((k, revision, _)) if k == key && *revision == garment.mask_revision);
    if !current {
        let (w, h) = garment.mask.dimensions();
        let scale = (72.0 / w as f32).min(96.0 / h as f32).min(1.0);
        let small = image::imageops::thumbnail(
            &*garment.mask,
            ((w as f32 * scale).round() as u32).max(1),
            ((h as f32 * scale).round() as u32).max(1),
        );
        let texture = ui.ctx().load_texture(
            "mask-preview",
            jobs::gray_to_color_image(&small),
            egui::TextureOptions::LINEAR,
        );
        state.mask_preview = Some((key.clone(), garment.mask_revision, texture));
    }
    if let Some((_, _, texture)) = &state.mask_preview {
        ui.horizontal(|ui| {
            let [w, h] = texture.size();
            let size = egui::vec2(48.0 * w as f32 / h.max(1) as f32, 48.0);
            ui.image(egui::load::SizedTexture::new(texture.id(), size))
                .on_hover_text("The garment mask (white = garment)");
            ui.weak("Mask: white is garment.\nWrong? Edit mask…");
        });
    }
}
