//! Keeping the listing and the index in step with the wardrobe's state: the listing
//! [`Wardrobe::garments`] returns, and the index written beside the files.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use std::collections::{BTreeMap, BTreeSet};

use super::bundled::BundledGarment;
use super::id::GarmentId;
use super::index::{IndexEntry, IndexFile, BUNDLED_PREFIX, INDEX_VERSION};
use super::scan::system_time_ms;
use super::scan::UserGarment;
use super::{Garment, Origin, Wardrobe};
use crate::pipeline::MASK_METHOD;

impl Wardrobe {
    /// Remakes the listing from the state.
    pub(super) fn refresh(&mut self) {
        self.user
            .sort_by(|a, b| (a.added_ms, &a.id).cmp(&(b.added_ms, &b.id)));
        let mut listing = Vec::with_capacity(self.bundled.len() + self.user.len());
        for b in self.bundled.iter().filter(|b| !self.hidden.contains(&b.id)) {
            let (mask_path, mask_edited) = self.resolve_mask(&b.id, b.mask.as_deref());
            listing.push(Garment {
                id: b.id.clone(),
                name: self.bundled_names.get(&b.id).unwrap_or(&b.name).clone(),
                origin: Origin::Bundled,
                image_path: b.image.clone(),
                mask_path,
                mask_edited,
                added: None,
            });
        }
        for u in &self.user {
            let (mask_path, mask_edited) = self.resolve_mask(&u.id, None);
            listing.push(Garment {
                id: u.id.clone(),
                name: u.name.clone(),
                origin: Origin::User,
                image_path: self.layout.garment_photo(&u.file_name),
                mask_path,
                mask_edited,
                added: Some(UNIX_EPOCH + Duration::from_millis(u.added_ms)),
            });
        }
        self.listing = listing;
    }

    fn resolve_mask(&self, id: &GarmentId, bundled_mask: Option<&Path>) -> (Option<PathBuf>, bool) {
        let edited = self.layout.edited_mask(id);
        if edited.is_file() {
            return (Some(edited), true);
        }
        if let Some(mask) = bundled_mask.filter(|m| m.is_file()) {
            return (Some(mask.to_path_buf()), false);
        }
        let auto = self.layout.auto_mask(id);
        (auto.is_file().then_some(auto), false)
    }

    /// The index for the current state.
    pub(super) fn index_file(&self) -> IndexFile {
        let garments = self
            .listing
            .iter()
            .map(|g| IndexEntry {
                id: g.id.clone(),
                name: g.name.clone(),
                origin: g.origin,
                image: self.index_path(&g.image_path),
                mask: g.mask_path.as_deref().map(|m| self.index_path(m)),
                mask_edited: g.mask_edited,
                added_ms: g.added.map(system_time_ms).unwrap_or(0),
            })
            .collect();
        IndexFile {
            version: INDEX_VERSION,
            garments,
            bundled_names: self
                .bundled_names
                .iter()
                .chain(&self.absent_bundled_names)
                .map(|(id, name)| (id.clone(), name.clone()))
                .collect(),
            hidden_bundled: self.hidden.union(&self.absent_hidden).cloned().collect(),
            auto_masks: MASK_METHOD,
        }
    }

    /// A path as the index writes it: relative to the user folder, or to the bundled folder
    /// after [`BUNDLED_PREFIX`].
    fn index_path(&self, path: &Path) -> String {
        let relative = |root: &Path| {
            path.strip_prefix(root).ok().map(|rel| {
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/")
            })
        };
        if let Some(rel) = relative(self.layout.root()) {
            return rel;
        }
        if let Some(rel) = self.bundled_dir.as_deref().and_then(relative) {
            return format!("{BUNDLED_PREFIX}{rel}");
        }
        path.to_string_lossy().into_owned()
    }
}

/// What the index keeps about bundled garments: renames and hidden ones, split between the
/// garments of this bundled folder and those it lacks (another version of the app, or no
/// bundled folder found this time; kept in the index, not applied).
pub(super) struct KeptIndex {
    pub bundled_names: BTreeMap<GarmentId, String>,
    pub absent_bundled_names: BTreeMap<GarmentId, String>,
    pub hidden: BTreeSet<GarmentId>,
    pub absent_hidden: BTreeSet<GarmentId>,
}

impl KeptIndex {
    pub fn from_index(
        stored: Option<&IndexFile>,
        bundled: &[BundledGarment],
        bundled_ids: &BTreeSet<GarmentId>,
        user: &[UserGarment],
    ) -> Self {
        let (mut bundled_names, mut absent_bundled_names) = (BTreeMap::new(), BTreeMap::new());
        let (mut hidden, mut absent_hidden) = (BTreeSet::new(), BTreeSet::new());
        let user_ids: BTreeSet<&GarmentId> = user.iter().map(|u| &u.id).collect();
        if let Some(index) = stored {
            for (id, name) in &index.bundled_names {
                match bundled.iter().find(|b| &b.id == id) {
                    Some(b) if b.name != *name => {
                        bundled_names.insert(id.clone(), name.clone());
                    }
                    Some(_) => {}
                    None if !user_ids.contains(id) => {
                        absent_bundled_names.insert(id.clone(), name.clone());
                    }
                    None => {}
                }
            }
            for id in &index.hidden_bundled {
                if bundled_ids.contains(id) {
                    hidden.insert(id.clone());
                } else if !user_ids.contains(id) {
                    absent_hidden.insert(id.clone());
                }
            }
        }
        Self {
            bundled_names,
            absent_bundled_names,
            hidden,
            absent_hidden,
        }
    }
}
