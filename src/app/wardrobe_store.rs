//! The wardrobe behind a mutex, touched only by background jobs (it reads and writes files).
//! Each change reports the wardrobe's new list as an [`AppEvent`]; the panel draws a copy.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use image::GrayImage;

use super::jobs::{self, AppEvent, Jobs};
use super::mask_editor::MaskToEdit;
use super::session::GarmentData;
use crate::wardrobe::{Garment, GarmentId, GarmentRef, Wardrobe, WardrobeError};

/// Shared handle to the wardrobe for background jobs (`None` while it opens).
#[derive(Clone, Default)]
pub struct WardrobeStore {
    shared: Arc<Mutex<Option<Wardrobe>>>,
}

impl WardrobeStore {
    /// Opens the wardrobe in the background (it may rebuild its index from the files).
    pub fn open(jobs: &Jobs, bundled: Option<PathBuf>, user_dir: Option<PathBuf>) -> Self {
        let store = Self::default();
        let shared = store.shared.clone();
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
        store
    }

    /// Runs `f` on the open wardrobe, or says why it cannot (still opening, or unusable).
    pub fn with<T>(&self, f: impl FnOnce(&mut Wardrobe) -> Result<T, String>) -> Result<T, String> {
        let mut guard = self
            .shared
            .lock()
            .map_err(|_| "the wardrobe is unavailable".to_string())?;
        let wardrobe = guard
            .as_mut()
            .ok_or_else(|| "the wardrobe is still opening; try again".to_string())?;
        f(wardrobe)
    }

    /// Garments the user hid, without blocking (`None` when the wardrobe is busy).
    pub fn hidden_bundled_count(&self) -> Option<usize> {
        self.shared
            .try_lock()
            .ok()
            .and_then(|w| w.as_ref().map(|w| w.hidden_bundled_count()))
    }

    /// Loads a garment's photo and mask for the network.
    pub fn load_garment(&self, jobs: &Jobs, id: GarmentId, mask_revision: u64) {
        let store = self.clone();
        jobs.spawn("load garment", move || {
            AppEvent::GarmentLoaded(store.with(|w| garment_data(w, &id, mask_revision)))
        });
    }

    /// Runs a change in the background and reports the new list.
    pub fn change(
        &self,
        jobs: &Jobs,
        what: &'static str,
        edit: impl FnOnce(&mut Wardrobe) -> Result<(), WardrobeError> + Send + 'static,
    ) {
        let store = self.clone();
        jobs.spawn(what, move || {
            match store.with(|w| {
                edit(w).map_err(|e| e.to_string())?;
                Ok(w.garments().to_vec())
            }) {
                Ok(list) => AppEvent::WardrobeListed(Ok(list)),
                Err(e) => AppEvent::Error(format!("Cannot {what}: {e}")),
            }
        });
    }

    /// Loads a garment's photo and mask for the mask editor.
    pub fn edit_mask(&self, jobs: &Jobs, id: GarmentId) {
        let store = self.clone();
        jobs.spawn("load mask", move || {
            AppEvent::MaskForEditing(store.with(|w| {
                let garment = find(w, &id)?;
                let image = w.load_image(&garment.id).map_err(|e| e.to_string())?;
                // No automatic mask (nothing stands out from the background): paint one.
                let mask = match w.load_mask(&garment.id) {
                    Ok(mask) => mask,
                    Err(WardrobeError::AutoMask { .. }) => {
                        GrayImage::new(image.width(), image.height())
                    }
                    Err(e) => return Err(e.to_string()),
                };
                Ok(MaskToEdit::new(id.clone(), image, mask))
            }))
        });
    }

    /// Stores a hand-edited mask (`None`: back to the automatic one); reports the new list and,
    /// when `reload` is set, the garment with its new mask at `revision`.
    pub fn save_mask(
        &self,
        jobs: &Jobs,
        id: GarmentId,
        mask: Option<GrayImage>,
        reload: Option<u64>,
    ) {
        let store = self.clone();
        let (sender, ctx) = jobs.sender();
        jobs.spawn("save mask", move || {
            let saved = store.with(|w| {
                match &mask {
                    Some(mask) => w.set_mask(&id, mask),
                    None => w.reset_mask(&id),
                }
                .map_err(|e| e.to_string())?;
                let data = reload
                    .map(|revision| garment_data(w, &id, revision))
                    .transpose()?;
                Ok((w.garments().to_vec(), data))
            });
            match saved {
                Ok((list, data)) => {
                    let _ = sender.send(AppEvent::WardrobeListed(Ok(list)));
                    if let Some(data) = data {
                        let _ = sender.send(AppEvent::GarmentLoaded(Ok(data)));
                    }
                    ctx.request_repaint();
                    AppEvent::Notice("Mask saved".into())
                }
                Err(e) => AppEvent::Error(format!("Cannot save the mask: {e}")),
            }
        });
    }

    /// Adds a garment photo (mask computed) in the background, then selects it.
    pub fn add_file(&self, jobs: &Jobs, path: PathBuf) {
        let store = self.clone();
        let (sender, ctx) = jobs.sender();
        jobs.spawn("add garment", move || {
            let event = store.add(&path, &sender);
            ctx.request_repaint();
            event
        });
    }

    /// Shows the add-garment dialog off the UI thread, then adds the photo.
    pub fn pick_and_add(&self, jobs: &Jobs) {
        let store = self.clone();
        let (sender, ctx) = jobs.sender();
        jobs.spawn("garment dialog", move || {
            let Some(path) = jobs::pick_image_blocking("Add a garment photo") else {
                return AppEvent::Notice("No garment chosen".into());
            };
            let event = store.add(&path, &sender);
            ctx.request_repaint();
            event
        });
    }

    /// Adds a garment photo and reports the new list, then the new garment.
    fn add(&self, path: &Path, sender: &Sender<AppEvent>) -> AppEvent {
        let added = self.with(|w| {
            w.add_file(path, None)
                .map(|id| (id, w.garments().to_vec()))
                .map_err(|e| format!("Cannot add {}: {e}", path.display()))
        });
        match added {
            Ok((id, list)) => {
                let _ = sender.send(AppEvent::WardrobeListed(Ok(list)));
                AppEvent::GarmentAdded(id)
            }
            Err(e) => AppEvent::Error(e),
        }
    }
}

/// A garment by its id, through the wardrobe's own lookup.
fn find(wardrobe: &Wardrobe, id: &GarmentId) -> Result<Garment, String> {
    wardrobe
        .get(id)
        .cloned()
        .ok_or_else(|| format!("garment `{id}` is no longer in the wardrobe"))
}

/// A wardrobe garment's photo and mask, ready for the network.
fn garment_data(
    wardrobe: &Wardrobe,
    id: &GarmentId,
    mask_revision: u64,
) -> Result<GarmentData, String> {
    let garment = find(wardrobe, id)?;
    let image = wardrobe
        .load_image(&garment.id)
        .map_err(|e| e.to_string())?;
    let mask = wardrobe.load_mask(&garment.id).map_err(|e| match e {
        WardrobeError::AutoMask { .. } => format!(
            "no mask could be computed for “{}” (its background is not plain); paint one with \
             Edit mask…",
            garment.name
        ),
        e => e.to_string(),
    })?;
    Ok(GarmentData {
        garment: GarmentRef::Wardrobe(garment.id.clone()),
        name: garment.name.clone(),
        image: Arc::new(image),
        mask: Arc::new(mask),
        mask_revision,
    })
}

/// Side of the wardrobe thumbnails, in pixels.
const THUMBNAIL_SIDE: u32 = 160;

/// Decodes thumbnails in one background job, reporting each as it is ready.
pub fn load_thumbnails(jobs: &Jobs, garments: Vec<(GarmentId, PathBuf)>) {
    let (sender, ctx) = jobs.sender();
    jobs.spawn("thumbnails", move || {
        for (id, path) in garments {
            let image = crate::pipeline::load_rgb(&path)
                .ok()
                .map(|img| jobs::thumbnail(&img, THUMBNAIL_SIDE));
            let _ = sender.send(AppEvent::Thumbnail { id, image });
            ctx.request_repaint();
        }
        AppEvent::Done
    });
}
