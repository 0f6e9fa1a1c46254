//! The wardrobe panel: a searchable gallery of garments; add (dialog or drop), rename, remove,
//! and open the mask editor. The wardrobe itself lives behind a mutex and is only touched by
//! background jobs (it reads and writes files); the panel draws a copy of its list.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::jobs::{self, AppEvent, GarmentData, Jobs};
use super::{FittingRoomApp, SharedWardrobe};
use image::GrayImage;

use crate::wardrobe::{Garment, GarmentId, Origin, Wardrobe, WardrobeError};

const THUMB_SIZE: f32 = 84.0;

pub struct WardrobeState {
    shared: SharedWardrobe,
    list: Vec<Garment>,
    thumbnails: HashMap<String, egui::TextureHandle>,
    /// Thumbnails asked for and not arrived yet.
    pending_thumbnails: std::collections::HashSet<String>,
    pub query: String,
    pub selected: Option<String>,
    rename: Option<(String, String)>,
    confirm_remove: Option<String>,
    opened: bool,
    hidden_bundled: usize,
    /// The selected garment's mask as shown (key, mask revision, texture).
    mask_preview: Option<(String, u64, egui::TextureHandle)>,
}

impl WardrobeState {
    /// Opens the wardrobe in the background (it may rebuild its index from the files).
    pub fn open(jobs: &Jobs, bundled: Option<PathBuf>, user_dir: Option<PathBuf>) -> Self {
        let shared: SharedWardrobe = Arc::new(Mutex::new(None));
        let state = Self {
            shared: shared.clone(),
            list: Vec::new(),
            thumbnails: HashMap::new(),
            pending_thumbnails: Default::default(),
            query: String::new(),
            selected: None,
            rename: None,
            confirm_remove: None,
            opened: false,
            hidden_bundled: 0,
            mask_preview: None,
        };
        jobs.spawn("open wardrobe", move || {
            let Some(user_dir) = user_dir else {
                return AppEvent::WardrobeListed(Err(
                    "no folder for your garments (no home or data folder found)".into(),
                ));
            };
            match Wardrobe::open(bundled.as_deref(), &user_dir) {
                Ok(wardrobe) => {
                    let list = wardrobe.garments().to_vec();
                    if let Ok(mut slot) = shared.lock() {
                        *slot = Some(wardrobe);
                    }
                    AppEvent::WardrobeListed(Ok(list))
                }
                Err(e) => AppEvent::WardrobeListed(Err(e.to_string())),
            }
        });
        state
    }

    pub fn garments(&self) -> &[Garment] {
        &self.list
    }

    pub fn is_open(&self) -> bool {
        self.opened
    }

    pub(crate) fn set_list(&mut self, jobs: &Jobs, list: Vec<Garment>) {
        self.opened = true;
        self.list = list;
        self.hidden_bundled = self
            .shared
            .try_lock()
            .ok()
            .and_then(|w| w.as_ref().map(|w| w.hidden_bundled_count()))
            .unwrap_or(self.hidden_bundled);
        let missing: Vec<(String, PathBuf)> = self
            .list
            .iter()
            .filter(|g| {
                !self.thumbnails.contains_key(g.id.as_str())
                    && !self.pending_thumbnails.contains(g.id.as_str())
            })
            .map(|g| (g.id.as_str().to_string(), g.image_path.clone()))
            .collect();
        for (key, _) in &missing {
            self.pending_thumbnails.insert(key.clone());
        }
        if missing.is_empty() {
            return;
        }
        // One job decodes all new thumbnails in turn and reports each as it is ready.
        let (sender, ctx) = jobs.sender();
        jobs.spawn("thumbnails", move || {
            for (key, path) in missing {
                let image = crate::pipeline::load_rgb(&path)
                    .ok()
                    .map(|img| jobs::thumbnail(&img, 160));
                let _ = sender.send(AppEvent::Thumbnail { key, image });
                ctx.request_repaint();
            }
            AppEvent::Done
        });
    }

    pub(crate) fn set_thumbnail(
        &mut self,
        ctx: &egui::Context,
        key: String,
        image: Option<egui::ColorImage>,
    ) {
        self.pending_thumbnails.remove(&key);
        if let Some(image) = image {
            let texture =
                ctx.load_texture(format!("thumb-{key}"), image, egui::TextureOptions::LINEAR);
            self.thumbnails.insert(key, texture);
        }
    }

    /// Loads a garment's photo and mask for the network.
    pub(crate) fn load_garment(&mut self, jobs: &Jobs, key: &str, mask_revision: u64) {
        self.selected = Some(key.to_string());
        let shared = self.shared.clone();
        let key = key.to_string();
        jobs.spawn("load garment", move || {
            let load = || -> Result<GarmentData, String> {
                let guard = shared.lock().map_err(|_| "the wardrobe is unavailable")?;
                let wardrobe = guard.as_ref().ok_or("the wardrobe is still opening")?;
                let garment = garment_by_key(wardrobe, &key)?;
                let image = wardrobe
                    .load_image(&garment.id)
                    .map_err(|e| e.to_string())?;
                let mask = wardrobe.load_mask(&garment.id).map_err(|e| match e {
                    WardrobeError::AutoMask { .. } => format!(
                        "no mask could be computed for “{}” (its background is not plain); \
                         paint one with Edit mask…",
                        garment.name
                    ),
                    e => e.to_string(),
                })?;
                Ok(GarmentData {
                    key: key.clone(),
                    name: garment.name.clone(),
                    image: Arc::new(image),
                    mask: Arc::new(mask),
                    mask_revision,
                })
            };
            AppEvent::GarmentLoaded(load())
        });
    }

    /// Adds a garment photo to the wardrobe (mask computed), then selects it.
    pub(crate) fn add_file(&mut self, jobs: &Jobs, path: PathBuf) {
        let shared = self.shared.clone();
        let (sender, ctx) = jobs.sender();
        jobs.spawn("add garment", move || {
            add_to_wardrobe(&shared, &path, &sender, &ctx)
        });
    }

    /// Runs a change on the wardrobe in the background and refreshes the list.
    pub(crate) fn change(
        &self,
        jobs: &Jobs,
        what: &'static str,
        edit: impl FnOnce(&mut Wardrobe) -> Result<(), String> + Send + 'static,
    ) {
        let shared = self.shared.clone();
        jobs.spawn(what, move || {
            let Ok(mut guard) = shared.lock() else {
                return AppEvent::Error("the wardrobe is unavailable".into());
            };
            let Some(wardrobe) = guard.as_mut() else {
                return AppEvent::Error("the wardrobe is still opening; try again".into());
            };
            match edit(wardrobe) {
                Ok(()) => AppEvent::WardrobeListed(Ok(wardrobe.garments().to_vec())),
                Err(e) => AppEvent::Error(format!("Cannot {what}: {e}")),
            }
        });
    }

    /// Loads a garment's photo and mask for the mask editor.
    pub(crate) fn edit_mask(&self, jobs: &Jobs, key: String) {
        let shared = self.shared.clone();
        jobs.spawn("load mask", move || {
            let load = || -> Result<_, String> {
                let guard = shared.lock().map_err(|_| "the wardrobe is unavailable")?;
                let wardrobe = guard.as_ref().ok_or("the wardrobe is still opening")?;
                let garment = garment_by_key(wardrobe, &key)?;
                let image = wardrobe
                    .load_image(&garment.id)
                    .map_err(|e| e.to_string())?;
                // No automatic mask (nothing stands out from the background): paint one.
                let mask = match wardrobe.load_mask(&garment.id) {
                    Ok(mask) => mask,
                    Err(WardrobeError::AutoMask { .. }) => {
                        GrayImage::new(image.width(), image.height())
                    }
                    Err(e) => return Err(e.to_string()),
                };
                Ok((key.clone(), Arc::new(image), mask))
            };
            AppEvent::MaskForEditing(load())
        });
    }

    pub(crate) fn shared(&self) -> SharedWardrobe {
        self.shared.clone()
    }
}

/// Shows the add-garment dialog off the UI thread.
pub fn pick_garment(app: &mut FittingRoomApp) {
    let shared = app.wardrobe.shared.clone();
    let (sender, ctx) = app.jobs.sender();
    app.jobs.spawn("garment dialog", move || {
        let Some(path) =
            jobs::pick_file_blocking("Add a garment photo", &[("Images", jobs::IMAGE_EXTENSIONS)])
        else {
            return AppEvent::Notice("No garment chosen".into());
        };
        add_to_wardrobe(&shared, &path, &sender, &ctx)
    });
}

/// Adds a garment photo (mask computed) and reports the new list, then the new garment.
fn add_to_wardrobe(
    shared: &SharedWardrobe,
    path: &std::path::Path,
    sender: &std::sync::mpsc::Sender<AppEvent>,
    ctx: &egui::Context,
) -> AppEvent {
    let added = {
        let Ok(mut guard) = shared.lock() else {
            return AppEvent::Error("the wardrobe is unavailable".into());
        };
        let Some(wardrobe) = guard.as_mut() else {
            return AppEvent::Error("the wardrobe is still opening; try again".into());
        };
        wardrobe
            .add_file(path, None)
            .map(|id| (id.as_str().to_string(), wardrobe.garments().to_vec()))
            .map_err(|e| format!("Cannot add {}: {e}", path.display()))
    };
    match added {
        Ok((id, list)) => {
            let _ = sender.send(AppEvent::WardrobeListed(Ok(list)));
            ctx.request_repaint();
            AppEvent::GarmentAdded(id)
        }
        Err(e) => AppEvent::Error(e),
    }
}

/// A garment by its key, through the wardrobe's own lookup.
pub(crate) fn garment_by_key(wardrobe: &Wardrobe, key: &str) -> Result<Garment, String> {
    GarmentId::parse(key)
        .and_then(|id| wardrobe.get(&id).cloned())
        .ok_or_else(|| format!("garment `{key}` is no longer in the wardrobe"))
}

pub fn show(app: &mut FittingRoomApp, ui: &mut egui::Ui) {
    ui.heading("Wardrobe");
    ui.horizontal(|ui| {
        if ui
            .button("Add garment…")
            .on_hover_text("A product photo on a plain background; or drop files here")
            .clicked()
        {
            pick_garment(app);
        }
    });
    if !app.wardrobe.opened {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Opening the wardrobe…");
        });
        return;
    }
    // Search appears once the gallery no longer fits a screen.
    if app.wardrobe.list.len() > 12 || !app.wardrobe.query.is_empty() {
        ui.add(
            egui::TextEdit::singleline(&mut app.wardrobe.query)
                .hint_text("Search garments")
                .desired_width(f32::INFINITY),
        );
    }
    ui.separator();
    selected_garment_controls(app, ui);

    let query = app.wardrobe.query.to_lowercase();
    let words: Vec<&str> = query.split_whitespace().collect();
    let visible: Vec<Garment> = app
        .wardrobe
        .list
        .iter()
        .filter(|g| {
            let haystack = format!("{} {}", g.name, g.id.as_str()).to_lowercase();
            words.iter().all(|w| haystack.contains(w))
        })
        .cloned()
        .collect();
    if app.wardrobe.hidden_bundled > 0
        && ui
            .small_button(format!(
                "Show {} hidden bundled garment{}",
                app.wardrobe.hidden_bundled,
                if app.wardrobe.hidden_bundled == 1 {
                    ""
                } else {
                    "s"
                }
            ))
            .clicked()
    {
        app.wardrobe.hidden_bundled = 0;
        app.wardrobe
            .change(&app.jobs, "restore the bundled garments", |w| {
                w.restore_bundled().map(|_| ()).map_err(|e| e.to_string())
            });
    }
    if visible.is_empty() {
        ui.weak(if app.wardrobe.list.is_empty() {
            "No garments yet: add a product photo."
        } else {
            "No garment matches the search."
        });
    }
    let mut clicked = None;
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.spacing_mut().item_spacing = egui::vec2(6.0, 6.0);
                for garment in &visible {
                    let key = garment.id.as_str();
                    let selected = app.wardrobe.selected.as_deref() == Some(key);
                    let response = garment_tile(ui, &app.wardrobe.thumbnails, garment, selected);
                    if response.clicked() {
                        clicked = Some(key.to_string());
                    }
                }
            });
        });
    if let Some(key) = clicked {
        app.select_garment(&key);
    }
}

fn garment_tile(
    ui: &mut egui::Ui,
    thumbnails: &HashMap<String, egui::TextureHandle>,
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
        if let Some(texture) = thumbnails.get(garment.id.as_str()) {
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

fn selected_garment_controls(app: &mut FittingRoomApp, ui: &mut egui::Ui) {
    let Some(key) = app.wardrobe.selected.clone() else {
        return;
    };
    let Some(garment) = app
        .wardrobe
        .list
        .iter()
        .find(|g| g.id.as_str() == key)
        .cloned()
    else {
        return;
    };
    let mut rename_done = None;
    match &mut app.wardrobe.rename {
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
    mask_preview(app, ui, &key);
    if let Some(done) = rename_done {
        app.wardrobe.rename = None;
        if let Some(name) = done.filter(|n| !n.is_empty()) {
            let id = garment.id.clone();
            app.wardrobe
                .change(&app.jobs, "rename the garment", move |w| {
                    w.rename(&id, &name).map_err(|e| e.to_string())
                });
        }
    }
    ui.horizontal_wrapped(|ui| {
        if ui.button("Rename").clicked() {
            app.wardrobe.rename = Some((key.clone(), garment.name.clone()));
        }
        if ui
            .button("Edit mask…")
            .on_hover_text("Fix the garment outline with a brush and an eraser")
            .clicked()
        {
            app.wardrobe.edit_mask(&app.jobs, key.clone());
        }
        if ui.button("Remove").clicked() {
            app.wardrobe.confirm_remove = Some(key.clone());
        }
    });
    if app.wardrobe.confirm_remove.as_deref() == Some(key.as_str()) {
        ui.horizontal(|ui| {
            let what = if garment.origin == Origin::User {
                "Delete this garment?"
            } else {
                "Hide this bundled garment?"
            };
            ui.label(what);
            if ui.button("Yes").clicked() {
                app.wardrobe.confirm_remove = None;
                app.wardrobe.selected = None;
                let id = garment.id.clone();
                app.wardrobe
                    .change(&app.jobs, "remove the garment", move |w| {
                        w.remove(&id).map_err(|e| e.to_string())
                    });
            }
            if ui.button("No").clicked() {
                app.wardrobe.confirm_remove = None;
            }
        });
    }
    ui.separator();
}

/// The mask the network will use for the selected garment, small, so a wrong automatic mask is
/// seen before it spoils a try-on.
fn mask_preview(app: &mut FittingRoomApp, ui: &mut egui::Ui, key: &str) {
    let Some(garment) = app.garment.as_ref().filter(|g| g.key == key) else {
        return;
    };
    let current = matches!(&app.wardrobe.mask_preview,
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
        app.wardrobe.mask_preview = Some((key.to_string(), garment.mask_revision, texture));
    }
    if let Some((_, _, texture)) = &app.wardrobe.mask_preview {
        ui.horizontal(|ui| {
            let [w, h] = texture.size();
            let size = egui::vec2(48.0 * w as f32 / h.max(1) as f32, 48.0);
            ui.image(egui::load::SizedTexture::new(texture.id(), size))
                .on_hover_text("The garment mask (white = garment)");
            ui.weak("Mask: white is garment.\nWrong? Edit mask…");
        });
    }
}
