//! The wardrobe: the bundled garments and the user's own, with their masks, names and order.
//!
//! The bundled folder is only ever read. Its `wardrobe.json` lists `{id, name, image, mask}` in
//! display order; without it every image in the folder is a garment named after its file, with
//! `<stem>.mask.png` beside it as its mask.
//!
//! Everything the user does lives in the user folder:
//! - `garments/<id>.<ext>`: photos of the user's garments, byte for byte as added (full
//!   resolution, original format);
//! - `masks/<id>.png`: automatic masks (of user garments, and of bundled ones shipped without);
//! - `edited/<id>.png`: hand-edited masks, of user and bundled garments alike;
//! - `index.json`: what the files cannot say (names, when garments were added, hidden bundled
//!   garments), plus a listing of the files.
//!
//! The files are the truth; the index only adds to them. A missing, unreadable or stale index is
//! rebuilt from the files on [`Wardrobe::open`] with a warning: photos without an entry are
//! picked up (named after their file), entries whose photo is gone are dropped, and whether a
//! mask was edited is read from `edited/`. Every write goes through a temporary file in the same
//! folder and a rename, so a crash leaves the old file or the new one, never half of one.

mod bundled;
mod dirs;
mod id;
mod index;
mod layout;
mod reconcile;
mod scan;

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use image::{DynamicImage, GrayImage, RgbImage};
use serde::{Deserialize, Serialize};

use crate::atomic_file::write_atomic;
use crate::pipeline::{
    garment_mask, image_size, load_gray, load_rgb, save_image, PipelineError, MASK_METHOD,
};

pub use dirs::{
    default_bundled_dir, default_data_dir, default_sample_photos_dir, default_user_dir,
    sample_photos, sample_photos_dir, BUNDLED_WARDROBE, DATA_DIR_ENV, SAMPLE_PHOTOS, WARDROBE_ENV,
};
pub use id::{GarmentId, GarmentRef};

use bundled::{read_bundled, BundledGarment};
use id::clean_name;
use index::{parse_index, IndexState};
pub(crate) use layout::remove_stale_temp_files;
use layout::UserLayout;
use reconcile::KeptIndex;
use scan::{now_ms, scan_user_garments, UserGarment};

/// The bundled folder's list of garments.
pub const MANIFEST_FILE: &str = "wardrobe.json";
/// The user folder's index.
pub const INDEX_FILE: &str = "index.json";
/// Suffix of a bundled garment's mask when there is no manifest: `tee.jpg` has `tee.mask.png`.
pub const BUNDLED_MASK_SUFFIX: &str = ".mask.png";

/// Where a garment comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Shipped with the app: read-only; removing hides it.
    Bundled,
    /// Added by the user: stored in the user folder; removing deletes it.
    User,
}

/// A garment as listed by [`Wardrobe::garments`].
#[derive(Debug, Clone, PartialEq)]
pub struct Garment {
    pub id: GarmentId,
    pub name: String,
    pub origin: Origin,
    /// The full-resolution photo; read it with [`Wardrobe::load_image`] (EXIF orientation).
    pub image_path: PathBuf,
    /// The mask in use when the listing was made: a hand-edited one, else the bundled one, else
    /// the automatic one. `None` when none is stored yet; [`Wardrobe::load_mask`] computes it.
    pub mask_path: Option<PathBuf>,
    /// Whether `mask_path` is a mask edited by hand ([`Wardrobe::set_mask`]).
    pub mask_edited: bool,
    /// When the user added it; `None` for bundled garments.
    pub added: Option<SystemTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum WardrobeError {
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Reading, decoding or writing an image failed (the message names the file).
    #[error(transparent)]
    Image(#[from] PipelineError),
    #[error("no garment `{0}` in the wardrobe")]
    UnknownGarment(GarmentId),
    #[error("no mask could be made for `{id}`: {source}; paint one by hand")]
    AutoMask {
        id: GarmentId,
        source: PipelineError,
    },
    #[error(
        "the mask is {}x{} but the garment `{id}` is {}x{}",
        .got.0, .got.1, .expected.0, .expected.1
    )]
    MaskSize {
        id: GarmentId,
        expected: (u32, u32),
        got: (u32, u32),
    },
    #[error("a garment name cannot be empty")]
    EmptyName,
}

/// The garments: bundled ones first (in the bundled folder's order), then the user's in the
/// order they were added.
///
/// Mutations take `&mut self`; the type is `Send + Sync`, so an app shares one instance between
/// its UI and a background thread behind a `Mutex`. One instance per user folder: two
/// instances writing the same folder each keep their own view of it.
#[derive(Debug)]
pub struct Wardrobe {
    layout: UserLayout,
    bundled_dir: Option<PathBuf>,
    /// All bundled garments, hidden ones included.
    bundled: Vec<BundledGarment>,
    bundled_names: BTreeMap<GarmentId, String>,
    hidden: BTreeSet<GarmentId>,
    /// Renames and hidden ids of bundled garments this bundled folder lacks (another version
    /// of the app, or no bundled folder found this time): kept in the index, not applied.
    absent_bundled_names: BTreeMap<GarmentId, String>,
    absent_hidden: BTreeSet<GarmentId>,
    /// Sorted by (added, id).
    user: Vec<UserGarment>,
    /// What [`Wardrobe::garments`] returns, remade after every change.
    listing: Vec<Garment>,
}

impl Wardrobe {
    /// Opens the wardrobe: bundled garments from `bundled_dir` (none if `None`; a missing or
    /// unreadable folder gives none, with a warning), the user's from `user_dir`, which is
    /// created if missing. Fails only when `user_dir` cannot be created; a missing, corrupt or
    /// stale index is rebuilt from the files (see the module docs).
    pub fn open(bundled_dir: Option<&Path>, user_dir: &Path) -> Result<Self, WardrobeError> {
        let layout = UserLayout::new(user_dir);
        for dir in layout.folders() {
            std::fs::create_dir_all(&dir).map_err(|source| WardrobeError::Io {
                action: "create the folder",
                path: dir.clone(),
                source,
            })?;
            remove_stale_temp_files(&dir);
        }
        let bundled = bundled_dir.map(read_bundled).unwrap_or_default();
        let index_path = layout.index();
        let state = match std::fs::read(&index_path) {
            Ok(bytes) => parse_index(&bytes),
            Err(e) if e.kind() == ErrorKind::NotFound => IndexState::Missing,
            Err(e) => IndexState::Unreadable(e.to_string()),
        };
        let stored = match &state {
            IndexState::Read(index) => Some(index),
            _ => None,
        };
        // Automatic masks are made again when the index says an earlier method made them: they
        // are derived from the photos, nothing is lost. (Without a readable index they are
        // taken as they are, like the rest of the folder.)
        let masks_outdated = stored.is_some_and(|index| index.auto_masks != MASK_METHOD);
        if masks_outdated {
            let removed = layout.remove_auto_masks();
            if removed > 0 {
                log::info!(
                    "{removed} automatic garment masks were made by an earlier method; each is                      made again when its garment is next used"
                );
            }
        }
        let bundled_ids: BTreeSet<GarmentId> = bundled.iter().map(|b| b.id.clone()).collect();
        let user = scan_user_garments(&layout, &bundled_ids, stored);
        let kept = KeptIndex::from_index(stored, &bundled, &bundled_ids, &user);
        let mut wardrobe = Wardrobe {
            layout,
            bundled_dir: bundled_dir.map(Path::to_path_buf),
            bundled,
            bundled_names: kept.bundled_names,
            hidden: kept.hidden,
            absent_bundled_names: kept.absent_bundled_names,
            absent_hidden: kept.absent_hidden,
            user,
            listing: Vec::new(),
        };
        wardrobe.refresh();
        let fresh = wardrobe.index_file();
        let rewrite = match &state {
            IndexState::Read(old) if *old == fresh => false,
            // The masks' method moved on (said above); the rest may still match.
            IndexState::Read(_) if masks_outdated => true,
            IndexState::Read(_) => {
                log::warn!(
                    "wardrobe index `{}` did not match the files; updated from them",
                    index_path.display()
                );
                true
            }
            IndexState::Unreadable(reason) => {
                log::warn!(
                    "wardrobe index `{}` is unreadable ({reason}); rebuilt from the files (the \
                     old one is kept as {INDEX_FILE}.bak)",
                    index_path.display()
                );
                if let Err(e) =
                    std::fs::copy(&index_path, user_dir.join(format!("{INDEX_FILE}.bak")))
                {
                    log::warn!("cannot keep a copy of the unreadable index: {e}");
                }
                true
            }
            IndexState::Missing => {
                if !wardrobe.user.is_empty() {
                    log::warn!(
                        "wardrobe index `{}` is missing; rebuilt from the files",
                        index_path.display()
                    );
                }
                true
            }
        };
        if rewrite {
            wardrobe.save_index_or_warn();
        }
        Ok(wardrobe)
    }

    /// All visible garments: bundled first, then the user's by the time they were added.
    pub fn garments(&self) -> &[Garment] {
        &self.listing
    }

    /// The visible garment `id`, if any.
    pub fn get(&self, id: &GarmentId) -> Option<&Garment> {
        self.listing.iter().find(|g| &g.id == id)
    }

    /// The garments whose name or id contains every word of `query`, ignoring case; all of them
    /// for a blank query.
    pub fn filter(&self, query: &str) -> Vec<&Garment> {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        self.listing
            .iter()
            .filter(|g| {
                let name = g.name.to_lowercase();
                words
                    .iter()
                    .all(|w| name.contains(w.as_str()) || g.id.as_str().contains(w.as_str()))
            })
            .collect()
    }

    pub fn user_dir(&self) -> &Path {
        self.layout.root()
    }

    pub fn bundled_dir(&self) -> Option<&Path> {
        self.bundled_dir.as_deref()
    }

    /// How many bundled garments are hidden ([`Wardrobe::restore_bundled`] brings them back).
    pub fn hidden_bundled_count(&self) -> usize {
        self.hidden.len()
    }

    /// Adds a garment photo: decoded first (a corrupt, unsupported or oversized file is an
    /// error and nothing is written), stored byte for byte, with its automatic mask. The name
    /// defaults to the file name without extension. A photo with no automatic mask (nothing
    /// stands out from its background) is still added, with no mask (see
    /// [`Wardrobe::load_mask`]).
    pub fn add_file(
        &mut self,
        path: &Path,
        name: Option<&str>,
    ) -> Result<GarmentId, WardrobeError> {
        let image = load_rgb(path)?;
        let bytes = std::fs::read(path).map_err(|source| WardrobeError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        let name = name
            .and_then(clean_name)
            .or_else(|| {
                path.file_stem()
                    .and_then(|s| clean_name(&s.to_string_lossy()))
            })
            .unwrap_or_else(|| "Garment".into());
        match image::guess_format(&bytes) {
            Ok(format) => {
                let ext = format.extensions_str().first().copied().unwrap_or("img");
                self.store_new(name, &bytes, ext, &image)
            }
            // Decodable yet unrecognised from its first bytes: store the decoded pixels.
            Err(_) => self.add_image(&image, &name),
        }
    }

    /// Adds a garment from pixels (a camera capture, say), stored as PNG, with its automatic
    /// mask. A blank name becomes "Garment".
    pub fn add_image(&mut self, image: &RgbImage, name: &str) -> Result<GarmentId, WardrobeError> {
        if image.width() == 0 || image.height() == 0 {
            return Err(PipelineError::EmptyImage.into());
        }
        let mut png = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| PipelineError::Write {
                path: PathBuf::from(format!("{name}.png")),
                reason: e.to_string(),
            })?;
        let name = clean_name(name).unwrap_or_else(|| "Garment".into());
        self.store_new(name, &png, "png", image)
    }

    /// The garment's full-resolution photo, upright.
    pub fn load_image(&self, id: &GarmentId) -> Result<RgbImage, WardrobeError> {
        Ok(load_rgb(&self.find(id)?.image_path)?)
    }

    /// The garment's mask (255 = garment), the size of [`Wardrobe::load_image`]: the hand-edited
    /// one, else the bundled one, else the automatic one, computed and stored on first use. An
    /// unreadable stored mask is skipped with a warning. Fails with
    /// [`WardrobeError::AutoMask`] when no mask is stored and none can be computed; the app then
    /// asks for one ([`Wardrobe::set_mask`]).
    pub fn load_mask(&self, id: &GarmentId) -> Result<GrayImage, WardrobeError> {
        let garment = self.find(id)?;
        for path in self.mask_candidates(garment) {
            if !path.is_file() {
                continue;
            }
            match load_gray(&path) {
                Ok(mask) => return Ok(mask),
                Err(e) => log::warn!("skipping the mask of `{id}`: {e}"),
            }
        }
        let image = load_rgb(&garment.image_path)?;
        let mask = garment_mask(&image).map_err(|source| WardrobeError::AutoMask {
            id: id.clone(),
            source,
        })?;
        let path = self.layout.auto_mask(id);
        if let Err(e) = save_image(&DynamicImage::ImageLuma8(mask.clone()), &path) {
            log::warn!("cannot store the automatic mask of `{id}`: {e}");
        }
        Ok(mask)
    }

    /// Stores a hand-edited mask (grey levels kept; 255 = garment), the size of the photo. For
    /// a bundled garment it goes to the user folder; the bundled files are never written.
    pub fn set_mask(&mut self, id: &GarmentId, mask: &GrayImage) -> Result<(), WardrobeError> {
        let garment = self.find(id)?;
        let expected = image_size(&garment.image_path)?;
        if mask.dimensions() != expected {
            return Err(WardrobeError::MaskSize {
                id: id.clone(),
                expected,
                got: mask.dimensions(),
            });
        }
        save_image(
            &DynamicImage::ImageLuma8(mask.clone()),
            &self.layout.edited_mask(id),
        )?;
        self.refresh();
        self.save_index_or_warn();
        Ok(())
    }

    /// Drops the hand-edited mask: back to the bundled or automatic one.
    pub fn reset_mask(&mut self, id: &GarmentId) -> Result<(), WardrobeError> {
        self.find(id)?;
        remove_if_present(&self.layout.edited_mask(id))?;
        self.refresh();
        self.save_index_or_warn();
        Ok(())
    }

    /// Renames a garment (bundled ones too); the id stays.
    pub fn rename(&mut self, id: &GarmentId, name: &str) -> Result<(), WardrobeError> {
        let name = clean_name(name).ok_or(WardrobeError::EmptyName)?;
        let origin = self.find(id)?.origin;
        match origin {
            Origin::User => {
                let Some(garment) = self.user.iter_mut().find(|u| &u.id == id) else {
                    return Err(WardrobeError::UnknownGarment(id.clone()));
                };
                let old = std::mem::replace(&mut garment.name, name);
                self.commit_or(|w| {
                    if let Some(g) = w.user.iter_mut().find(|u| &u.id == id) {
                        g.name = old;
                    }
                })
            }
            Origin::Bundled => {
                let shipped = self.bundled.iter().any(|b| &b.id == id && b.name == name);
                let old = if shipped {
                    self.bundled_names.remove(id)
                } else {
                    self.bundled_names.insert(id.clone(), name)
                };
                self.commit_or(|w| match old {
                    Some(old) => {
                        w.bundled_names.insert(id.clone(), old);
                    }
                    None => {
                        w.bundled_names.remove(id);
                    }
                })
            }
        }
    }

    /// Removes a garment: a user garment's files are deleted; a bundled garment is hidden
    /// (hand-edited mask and name kept) until [`Wardrobe::restore_bundled`].
    pub fn remove(&mut self, id: &GarmentId) -> Result<(), WardrobeError> {
        match self.find(id)?.origin {
            Origin::User => {
                let Some(pos) = self.user.iter().position(|u| &u.id == id) else {
                    return Err(WardrobeError::UnknownGarment(id.clone()));
                };
                remove_if_present(&self.layout.garment_photo(&self.user[pos].file_name))?;
                for mask in [self.layout.auto_mask(id), self.layout.edited_mask(id)] {
                    if let Err(e) = remove_if_present(&mask) {
                        log::warn!("{e}");
                    }
                }
                self.user.remove(pos);
                self.refresh();
                self.save_index_or_warn();
                Ok(())
            }
            Origin::Bundled => {
                self.hidden.insert(id.clone());
                self.commit_or(|w| {
                    w.hidden.remove(id);
                })
            }
        }
    }

    /// Shows every hidden bundled garment again; returns how many came back.
    pub fn restore_bundled(&mut self) -> Result<usize, WardrobeError> {
        let hidden = std::mem::take(&mut self.hidden);
        let count = hidden.len();
        self.commit_or(|w| w.hidden = hidden)?;
        Ok(count)
    }

    fn find(&self, id: &GarmentId) -> Result<&Garment, WardrobeError> {
        self.get(id)
            .ok_or_else(|| WardrobeError::UnknownGarment(id.clone()))
    }

    /// Where a garment's mask may be, best first.
    fn mask_candidates(&self, garment: &Garment) -> Vec<PathBuf> {
        let mut candidates = vec![self.layout.edited_mask(&garment.id)];
        if garment.origin == Origin::Bundled {
            if let Some(mask) = self
                .bundled
                .iter()
                .find(|b| b.id == garment.id)
                .and_then(|b| b.mask.clone())
            {
                candidates.push(mask);
            }
        }
        candidates.push(self.layout.auto_mask(&garment.id));
        candidates
    }

    /// Whether `id` is in use, or has files in the user folder that a new garment would inherit.
    fn id_taken(&self, id: &GarmentId) -> bool {
        self.bundled.iter().any(|b| &b.id == id)
            || self.absent_bundled_names.contains_key(id)
            || self.absent_hidden.contains(id)
            || self.user.iter().any(|u| &u.id == id)
            || self.layout.has_files(id)
    }

    /// Writes a new user garment: mask, photo, then the index; undone if any step fails.
    fn store_new(
        &mut self,
        name: String,
        bytes: &[u8],
        ext: &str,
        image: &RgbImage,
    ) -> Result<GarmentId, WardrobeError> {
        let id = GarmentId::from_name(&name).unique(|c| self.id_taken(c));
        let mask_path = self.layout.auto_mask(&id);
        match garment_mask(image) {
            Ok(mask) => save_image(&DynamicImage::ImageLuma8(mask), &mask_path)?,
            Err(e) => log::warn!("no automatic mask for `{name}`: {e}"),
        }
        let file_name = format!("{id}.{ext}");
        let image_path = self.layout.garment_photo(&file_name);
        if let Err(source) = write_atomic(&image_path, bytes) {
            let _ = std::fs::remove_file(&mask_path);
            return Err(WardrobeError::Io {
                action: "write",
                path: image_path,
                source,
            });
        }
        let added_ms = now_ms().max(
            self.user
                .iter()
                .map(|u| u.added_ms.saturating_add(1))
                .max()
                .unwrap_or(0),
        );
        self.user.push(UserGarment {
            id: id.clone(),
            name,
            file_name,
            added_ms,
        });
        let undo_id = id.clone();
        self.commit_or(|w| {
            w.user.retain(|u| u.id != undo_id);
            let _ = std::fs::remove_file(&image_path);
            let _ = std::fs::remove_file(&mask_path);
        })?;
        Ok(id)
    }

    /// Remakes the listing and writes the index; if the index cannot be written, `undo` puts the
    /// state back and the error is returned. For changes that live only in the index (names,
    /// hidden garments, new garments' names and times).
    fn commit_or(&mut self, undo: impl FnOnce(&mut Self)) -> Result<(), WardrobeError> {
        self.refresh();
        if let Err(e) = self.save_index() {
            undo(self);
            self.refresh();
            return Err(e);
        }
        Ok(())
    }

    /// Writes the index after a change the files already record (a mask, a deletion): the
    /// next open would rebuild the same index, so a failure is only a warning.
    fn save_index_or_warn(&self) {
        if let Err(e) = self.save_index() {
            log::warn!("{e}; the index is rebuilt from the files on the next start");
        }
    }

    fn save_index(&self) -> Result<(), WardrobeError> {
        let path = self.layout.index();
        let mut json =
            serde_json::to_vec_pretty(&self.index_file()).map_err(|e| WardrobeError::Io {
                action: "encode",
                path: path.clone(),
                source: e.into(),
            })?;
        json.push(b'\n');
        write_atomic(&path, &json).map_err(|source| WardrobeError::Io {
            action: "write",
            path,
            source,
        })
    }
}

fn remove_if_present(path: &Path) -> Result<(), WardrobeError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(source) => Err(WardrobeError::Io {
            action: "delete",
            path: path.to_path_buf(),
            source,
        }),
    }
}
