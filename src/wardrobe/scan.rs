//! Reading the user's garments from the files of the user folder (the files are the truth; the
//! index only adds names and dates).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::id::{clean_name, name_from_stem, GarmentId};
use super::index::{IndexEntry, IndexFile};
use super::layout::UserLayout;
use super::Origin;
use crate::pipeline::is_image_path;

/// A user garment: its photo is `garments/<file_name>`.
#[derive(Debug)]
pub(crate) struct UserGarment {
    pub id: GarmentId,
    pub name: String,
    pub file_name: String,
    pub added_ms: u64,
}

/// The user garments from the photos in `garments/`, named and dated from the index where it
/// has them. A photo whose file name is no valid id, or whose id is taken (a bundled garment's,
/// or a second photo with the same stem), is renamed to a fresh id.
pub(crate) fn scan_user_garments(
    layout: &UserLayout,
    bundled_ids: &BTreeSet<GarmentId>,
    index: Option<&IndexFile>,
) -> Vec<UserGarment> {
    let dir = layout.garments_dir();
    let known: HashMap<&GarmentId, &IndexEntry> = index
        .map(|index| {
            index
                .garments
                .iter()
                .filter(|e| e.origin == Origin::User)
                .map(|e| (&e.id, e))
                .collect()
        })
        .unwrap_or_default();
    let files = image_file_names(&dir);
    let stem_of = |file_name: &str| {
        Path::new(file_name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    // The photo the index names claims its id first, so a stray `tee.png` beside the indexed
    // `tee.jpg` does not take its place.
    let indexed = |file_name: &str| {
        GarmentId::parse(&stem_of(file_name)).is_some_and(|id| {
            known
                .get(&id)
                .is_some_and(|e| e.image == UserLayout::garment_photo_in_index(file_name))
        })
    };
    let (first, rest): (Vec<String>, Vec<String>) = files.into_iter().partition(|f| indexed(f));
    let all_stems: BTreeSet<String> = first.iter().chain(&rest).map(|f| stem_of(f)).collect();
    let mut taken = bundled_ids.clone();
    let mut garments = Vec::new();
    for mut file_name in first.into_iter().chain(rest) {
        let stem = stem_of(&file_name);
        let id = match GarmentId::parse(&stem).filter(|id| !taken.contains(id)) {
            Some(id) => id,
            None => {
                let id = GarmentId::from_name(&stem).unique(|c| {
                    taken.contains(c) || all_stems.contains(c.as_str()) || layout.has_files(c)
                });
                let ext = Path::new(&file_name)
                    .extension()
                    .map(|e| e.to_string_lossy().to_ascii_lowercase())
                    .unwrap_or_default();
                let new_name = format!("{id}.{ext}");
                if let Err(e) = std::fs::rename(dir.join(&file_name), dir.join(&new_name)) {
                    log::warn!(
                        "cannot rename `{file_name}` to `{new_name}` in the wardrobe: {e}; skipped"
                    );
                    continue;
                }
                log::warn!("wardrobe: `{file_name}` renamed to `{new_name}` (file names are ids)");
                file_name = new_name;
                id
            }
        };
        let entry = known.get(&id);
        let name = entry
            .and_then(|e| clean_name(&e.name))
            .unwrap_or_else(|| name_from_stem(&stem));
        let added_ms = entry
            .map(|e| e.added_ms)
            .filter(|&ms| ms > 0)
            .unwrap_or_else(|| modified_ms(&dir.join(&file_name)));
        taken.insert(id.clone());
        garments.push(UserGarment {
            id,
            name,
            file_name,
            added_ms,
        });
    }
    garments
}

/// Names of the image files in `dir` (no hidden files, no temporary files), sorted.
pub(crate) fn image_file_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.') && is_image_path(Path::new(name)))
        .collect();
    names.sort();
    names
}

pub(crate) fn system_time_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(crate) fn now_ms() -> u64 {
    system_time_ms(SystemTime::now())
}

fn modified_ms(path: &Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(system_time_ms)
        .unwrap_or_else(|_| now_ms())
}
