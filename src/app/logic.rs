//! The app's logic, apart from drawing: once per frame it takes the worker's and the jobs'
//! events, dropped files, shortcuts and camera frames; and it applies every [`Command`], from
//! the panels or from anywhere else, in one place.

use std::path::PathBuf;
use std::sync::Arc;

use super::camera::CameraUpdate;
use super::command::Command;
use super::export::{spawn_export, ExportKind};
use super::jobs::{self, AppEvent, LoadedPhoto};
use super::mask_editor::MaskEditor;
use super::session::{GarmentData, PhotoOrigin, SessionNote};
use super::worker::ModelSource;
use super::FittingRoomApp;
use crate::pipeline::{garment_mask, load_rgb};
use crate::wardrobe::GarmentRef;

impl FittingRoomApp {
    /// Everything that happens between two frames, before the panels draw.
    pub(super) fn logic(&mut self, ctx: &egui::Context) {
        for note in self.session.poll() {
            match note {
                SessionNote::Notice(text) => self.notices.notify(text),
                SessionNote::Error(text) => self.notices.error(text),
            }
        }
        for event in self.jobs.poll() {
            self.handle_event(event);
        }
        self.handle_dropped_files(ctx);
        self.handle_shortcuts(ctx);
        match self.capture.poll() {
            CameraUpdate::Nothing => {}
            CameraUpdate::LiveFrame(photo, seq) => self.session.request_live(photo, seq),
            CameraUpdate::Failed(e) => self.notices.error(e),
        }
    }

    /// Carries out a command: the one way the panels (and tests) change the app.
    pub fn apply(&mut self, command: Command) {
        match command {
            Command::OpenPhoto(path) => {
                self.jobs
                    .spawn("open photo", move || AppEvent::PhotoLoaded {
                        origin: PhotoOrigin::File(path.clone()),
                        result: jobs::load_photo(&path),
                    });
            }
            Command::PickPhoto => {
                self.jobs.spawn("photo dialog", || {
                    match jobs::pick_image_blocking("Open a photo") {
                        Some(path) => AppEvent::PhotoLoaded {
                            origin: PhotoOrigin::File(path.clone()),
                            result: jobs::load_photo(&path),
                        },
                        None => AppEvent::Notice("No photo chosen".into()),
                    }
                });
            }
            Command::TakeSnapshot => {
                let Some((frame, name)) = self.capture.last_frame().cloned() else {
                    return;
                };
                self.capture.live = false;
                // The preview is made off the UI thread, like a photo's.
                self.jobs.spawn("snapshot", move || AppEvent::PhotoLoaded {
                    origin: PhotoOrigin::Camera(name),
                    result: Ok(LoadedPhoto::new(Arc::unwrap_or_clone(frame))),
                });
                self.notices.notify("Snapshot taken");
            }
            Command::SetCrop(crop) => self.session.set_crop(crop),
            Command::ResetCrop => self.session.reset_crop(),
            Command::RefreshCameras => self.capture.refresh_cameras(&self.jobs),
            Command::OpenGarmentFile(path) => self.open_garment_file(path),
            Command::SelectGarment(id) => {
                self.wardrobe.selected = Some(id.clone());
                let revision = self.session.want_garment(GarmentRef::Wardrobe(id.clone()));
                self.store.load_garment(&self.jobs, id, revision);
            }
            Command::PickGarment => self.store.pick_and_add(&self.jobs),
            Command::AddGarmentFile(path) => self.store.add_file(&self.jobs, path),
            Command::RenameGarment(id, name) => {
                self.store
                    .change(&self.jobs, "rename the garment", move |w| {
                        w.rename(&id, &name)
                    });
            }
            Command::RemoveGarment(id) => {
                self.store
                    .change(&self.jobs, "remove the garment", move |w| w.remove(&id));
            }
            Command::RestoreBundled => {
                self.store
                    .change(&self.jobs, "restore the bundled garments", |w| {
                        w.restore_bundled().map(|_| ())
                    });
            }
            Command::EditMask(id) => self.store.edit_mask(&self.jobs, id),
            Command::SaveMask(id, mask) => {
                self.mask_editor = None;
                let garment = GarmentRef::Wardrobe(id.clone());
                let revision = self.session.bump_mask_revision(&garment);
                let reload = self.session.is_wanted(&garment).then_some(revision);
                self.store.save_mask(&self.jobs, id, mask, reload);
            }
            Command::CloseMaskEditor => self.mask_editor = None,
            Command::SetView(view) => self.settings.view = view,
            Command::SetOverlayOpacity(opacity) => {
                self.settings.overlay_opacity = opacity.clamp(0.0, 1.0)
            }
            Command::SetSplit(split) => self.settings.split = split.clamp(0.0, 1.0),
            Command::SetHires(hires) => {
                self.settings.hires = hires;
                self.session.set_hires(hires);
            }
            Command::Export(kind) => self.export(kind, None),
            Command::ExportTo(kind, path) => self.export(kind, Some(path)),
            Command::LoadModel(source) => {
                self.settings.model_folder = match &source {
                    ModelSource::Folder(dir) => Some(dir.clone()),
                    ModelSource::Default => None,
                };
                self.session.load_model(source);
            }
            Command::PickModelFolder => {
                self.jobs.spawn("model dialog", move || {
                    match jobs::pick_folder_blocking(
                        "Open a model folder (Fitting Room bundle or official PF-AFN checkpoints)",
                    ) {
                        Some(dir) => AppEvent::ModelFolderPicked(dir),
                        None => AppEvent::Notice("No model folder chosen".into()),
                    }
                });
            }
            Command::SetDevice(device) => {
                let source = match &self.settings.model_folder {
                    Some(dir) => ModelSource::Folder(dir.clone()),
                    None => ModelSource::Default,
                };
                if self.session.set_device(device, source) {
                    self.settings.device = device.to_string();
                }
            }
            Command::ShowModelInfo(open) => self.show_model_info = open,
            Command::DismissNotice(index) => self.notices.dismiss(index),
            Command::Quit => self.ctx.send_viewport_cmd(egui::ViewportCommand::Close),
        }
    }

    /// Tries on a garment photo from a file that is not in the wardrobe (mask computed).
    fn open_garment_file(&mut self, path: PathBuf) {
        let garment = GarmentRef::File(path.clone());
        let mask_revision = self.session.want_garment(garment.clone());
        self.jobs.spawn("open garment", move || {
            let load = || -> Result<GarmentData, String> {
                let image = load_rgb(&path).map_err(|e| e.to_string())?;
                let mask = garment_mask(&image).map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(GarmentData {
                    garment,
                    name: path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    image: Arc::new(image),
                    mask: Arc::new(mask),
                    mask_revision,
                })
            };
            AppEvent::GarmentLoaded(load())
        });
    }

    /// Exports the result on screen; tells the user when there is nothing to export yet.
    fn export(&mut self, kind: ExportKind, path: Option<PathBuf>) {
        let Some(images) = self.session.shown_images().cloned() else {
            self.notices
                .error("Nothing to export yet: run a try-on first.");
            return;
        };
        if kind == ExportKind::HighResolution && images.hires.is_none() {
            self.apply(Command::SetHires(true));
            self.notices.error(
                "The high-resolution result is being computed; export again when it is shown.",
            );
            return;
        }
        let garment = self.session.garment().map(|g| g.image.clone());
        spawn_export(&self.jobs, kind, images, garment, path);
    }

    fn handle_event(&mut self, event: AppEvent) {
        match event {
            AppEvent::PhotoLoaded { origin, result } => match result {
                Ok(loaded) => {
                    let id = self.session.set_person(origin, loaded.photo);
                    self.capture
                        .set_person_preview(&self.ctx, id, loaded.preview);
                }
                Err(e) => self.notices.error(format!("Cannot open the photo: {e}")),
            },
            AppEvent::GarmentLoaded(result) => match result {
                Ok(garment) => self.session.garment_loaded(garment),
                Err(e) => self.notices.error(format!("Cannot use the garment: {e}")),
            },
            AppEvent::WardrobeListed(result) => match result {
                Ok(list) => {
                    let hidden = self.store.hidden_bundled_count();
                    self.wardrobe.set_list(&self.jobs, list, hidden);
                }
                Err(e) => self.notices.error(format!("Wardrobe: {e}")),
            },
            AppEvent::GarmentAdded(id) => {
                self.notices.notify("Garment added to the wardrobe");
                self.apply(Command::SelectGarment(id));
            }
            AppEvent::Thumbnail { id, image } => self.wardrobe.set_thumbnail(&self.ctx, id, image),
            AppEvent::SamplePhotos(samples) => self.capture.set_samples(&self.ctx, samples),
            AppEvent::MaskForEditing(result) => match result {
                Ok(loaded) => self.mask_editor = Some(MaskEditor::prepared(loaded)),
                Err(e) => self.notices.error(format!("Cannot edit the mask: {e}")),
            },
            AppEvent::ModelFolderPicked(dir) => {
                self.apply(Command::LoadModel(ModelSource::Folder(dir)))
            }
            AppEvent::Cameras(result) => self.capture.set_cameras(result),
            AppEvent::Exported(result) => match result {
                Ok(path) => self.notices.notify(format!("Saved {}", path.display())),
                Err(e) => self.notices.error(format!("Export failed: {e}")),
            },
            AppEvent::Notice(text) => self.notices.notify(text),
            AppEvent::Done => {}
            AppEvent::Error(text) => self.notices.error(text),
        }
    }

    /// Files dropped on the window: garments when dropped on the wardrobe, photos elsewhere.
    fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let (dropped, pointer) = ctx.input(|i| {
            (
                i.raw.dropped_files.clone(),
                i.pointer.latest_pos().or(i.pointer.hover_pos()),
            )
        });
        for file in dropped {
            let path = file.path().to_path_buf();
            if path.as_os_str().is_empty() {
                continue; // dropped bytes without a file (not on desktop)
            }
            let on_wardrobe = match (self.wardrobe_rect, pointer) {
                (Some(rect), Some(pos)) => rect.contains(pos),
                _ => false,
            };
            self.apply(if on_wardrobe {
                Command::AddGarmentFile(path)
            } else {
                Command::OpenPhoto(path)
            });
        }
    }

    fn handle_shortcuts(&mut self, ctx: &egui::Context) {
        let typing = ctx.egui_wants_keyboard_input();
        let (save, open, space) = ctx.input_mut(|i| {
            (
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::S),
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::O),
                !typing && i.key_pressed(egui::Key::Space),
            )
        });
        if save {
            self.apply(Command::Export(ExportKind::Result));
        }
        if open {
            self.apply(Command::PickPhoto);
        }
        if space {
            self.apply(Command::TakeSnapshot);
        }
    }
}
