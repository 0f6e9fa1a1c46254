//! The user folder's layout: where each file of a garment lives. Every path into the user
//! folder is made here.
//!
//! - `garments/<id>.<ext>`: photos of the user's garments, byte for byte as added;
//! - `masks/<id>.png`: automatic masks; `edited/<id>.png`: hand-edited masks;
//! - `index.json`: what the files cannot say (see [`super::index`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::id::GarmentId;
use super::INDEX_FILE;
use crate::atomic_file::is_temp_file_name;
use crate::pipeline::IMAGE_EXTENSIONS;

const GARMENTS_DIR: &str = "garments";
const AUTO_MASKS_DIR: &str = "masks";
const EDITED_MASKS_DIR: &str = "edited";
/// Temporary files older than this are leftovers of a crash, not writes under way.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// The user folder and the paths inside it.
#[derive(Debug, Clone)]
pub(crate) struct UserLayout {
    root: PathBuf,
}

impl UserLayout {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folders the wardrobe writes into.
    pub fn folders(&self) -> [PathBuf; 4] {
        [
            self.root.clone(),
            self.garments_dir(),
            self.root.join(AUTO_MASKS_DIR),
            self.root.join(EDITED_MASKS_DIR),
        ]
    }

    pub fn garments_dir(&self) -> PathBuf {
        self.root.join(GARMENTS_DIR)
    }

    /// A user garment's photo, from its file name in `garments/`.
    pub fn garment_photo(&self, file_name: &str) -> PathBuf {
        self.garments_dir().join(file_name)
    }

    /// The same photo as the index names it (relative, `/`-separated).
    pub fn garment_photo_in_index(file_name: &str) -> String {
        format!("{GARMENTS_DIR}/{file_name}")
    }

    pub fn auto_mask(&self, id: &GarmentId) -> PathBuf {
        self.root.join(AUTO_MASKS_DIR).join(format!("{id}.png"))
    }

    /// Removes every stored automatic mask (each is made again when its garment is next used)
    /// and says how many went; one that cannot be removed stays, with a warning.
    pub fn remove_auto_masks(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(self.root.join(AUTO_MASKS_DIR)) else {
            return 0;
        };
        let mut removed = 0;
        for path in entries.filter_map(|e| e.ok()).map(|e| e.path()) {
            if path.extension().is_some_and(|e| e == "png") && path.is_file() {
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) => log::warn!("cannot remove `{}`: {e}", path.display()),
                }
            }
        }
        removed
    }

    pub fn edited_mask(&self, id: &GarmentId) -> PathBuf {
        self.root.join(EDITED_MASKS_DIR).join(format!("{id}.png"))
    }

    pub fn index(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    /// Whether the user folder holds any file named after `id`.
    pub fn has_files(&self, id: &GarmentId) -> bool {
        IMAGE_EXTENSIONS
            .iter()
            .any(|ext| self.garment_photo(&format!("{id}.{ext}")).exists())
            || self.auto_mask(id).exists()
            || self.edited_mask(id).exists()
    }
}

/// Deletes temporary files a crash left behind (old enough not to be a write under way).
pub(crate) fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let is_temp = entry.file_name().to_str().is_some_and(is_temp_file_name);
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMP_AGE);
        if is_temp && stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
