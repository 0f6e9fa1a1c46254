//! On-disk formats: the user folder's `index.json` and the bundled folder's `wardrobe.json`.
//!
//! Both are read leniently: an entry that does not make sense is dropped with a warning and the
//! rest is kept, because a hand-edited or half-written file must never cost the whole wardrobe.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use super::id::{clean_name, GarmentId};
use super::Origin;

/// Version of `index.json` this code writes; another version is read as unreadable.
pub(crate) const INDEX_VERSION: u32 = 1;
/// Prefix of index paths that are relative to the bundled folder (others are relative to the
/// user folder).
pub(crate) const BUNDLED_PREFIX: &str = "@bundled/";

/// `index.json`: what the files alone cannot tell (names, order, hidden bundled garments), plus
/// a listing of the files for anyone reading the folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct IndexFile {
    pub version: u32,
    /// Visible garments, in display order.
    pub garments: Vec<IndexEntry>,
    /// Names the user gave bundled garments.
    #[serde(default)]
    pub bundled_names: BTreeMap<GarmentId, String>,
    /// Bundled garments the user removed (restorable).
    #[serde(default)]
    pub hidden_bundled: BTreeSet<GarmentId>,
    /// The [`crate::pipeline::MASK_METHOD`] the automatic masks in `masks/` were made with (0:
    /// written before the field, by method 1).
    #[serde(default)]
    pub auto_masks: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct IndexEntry {
    pub id: GarmentId,
    pub name: String,
    pub origin: Origin,
    /// Relative path of the photo: to the user folder, or to the bundled folder after
    /// [`BUNDLED_PREFIX`].
    pub image: String,
    /// Relative path of the mask in use, like `image`; `None` until one is computed.
    pub mask: Option<String>,
    pub mask_edited: bool,
    /// When the garment was added, in milliseconds since the Unix epoch (0 for bundled ones).
    pub added_ms: u64,
}

/// Why an index could not be used.
pub(crate) enum IndexState {
    Missing,
    Unreadable(String),
    Read(IndexFile),
}

/// Parses `index.json`, dropping entries that are not valid on their own.
pub(crate) fn parse_index(bytes: &[u8]) -> IndexState {
    #[derive(Deserialize)]
    struct Raw {
        version: u32,
        garments: Vec<serde_json::Value>,
        #[serde(default)]
        bundled_names: BTreeMap<String, serde_json::Value>,
        #[serde(default)]
        hidden_bundled: Vec<serde_json::Value>,
        #[serde(default)]
        auto_masks: serde_json::Value,
    }
    let raw: Raw = match serde_json::from_slice(bytes) {
        Ok(raw) => raw,
        Err(e) => return IndexState::Unreadable(e.to_string()),
    };
    if raw.version != INDEX_VERSION {
        return IndexState::Unreadable(format!(
            "version {} (this build reads version {INDEX_VERSION})",
            raw.version
        ));
    }
    let garments = raw
        .garments
        .into_iter()
        .filter_map(|value| match serde_json::from_value::<IndexEntry>(value) {
            Ok(entry) => Some(entry),
            Err(e) => {
                log::warn!("wardrobe index: dropping an entry: {e}");
                None
            }
        })
        .collect();
    let bundled_names = raw
        .bundled_names
        .into_iter()
        .filter_map(|(id, name)| Some((GarmentId::parse(&id)?, clean_name(name.as_str()?)?)))
        .collect();
    let hidden_bundled = raw
        .hidden_bundled
        .into_iter()
        .filter_map(|id| GarmentId::parse(id.as_str()?))
        .collect();
    IndexState::Read(IndexFile {
        version: raw.version,
        garments,
        bundled_names,
        hidden_bundled,
        // Not a method this build knows of: made by another, so made again.
        auto_masks: raw
            .auto_masks
            .as_u64()
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(0),
    })
}

/// `wardrobe.json` in the bundled folder: the bundled garments, in display order.
#[derive(Debug, Deserialize)]
pub(crate) struct Manifest {
    pub garments: Vec<serde_json::Value>,
}

/// One bundled garment; paths are relative to the bundled folder.
#[derive(Debug, Deserialize)]
pub(crate) struct ManifestEntry {
    pub id: String,
    pub name: String,
    pub image: String,
    #[serde(default)]
    pub mask: Option<String>,
}

/// Whether `path` stays inside the folder it is relative to (no `..`, no root, not empty).
pub(crate) fn is_inner_relative_path(path: &str) -> bool {
    let path = Path::new(path);
    path.components().next().is_some()
        && path.components().all(|c| matches!(c, Component::Normal(_)))
}
