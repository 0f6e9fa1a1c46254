//! The bundled garments, read-only: from the folder's `wardrobe.json` in its order, else every
//! image in the folder, named after its file, with `<stem>.mask.png` beside it as its mask.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::id::{clean_name, name_from_stem, GarmentId};
use super::index::{is_inner_relative_path, Manifest, ManifestEntry};
use super::scan::image_file_names;
use super::{BUNDLED_MASK_SUFFIX, MANIFEST_FILE};

/// A bundled garment as the bundled folder describes it (before the user's renames).
#[derive(Debug)]
pub(crate) struct BundledGarment {
    pub id: GarmentId,
    pub name: String,
    pub image: PathBuf,
    pub mask: Option<PathBuf>,
}

/// Reads the bundled garments: from the manifest, else from the image files.
pub(crate) fn read_bundled(dir: &Path) -> Vec<BundledGarment> {
    if !dir.is_dir() {
        log::warn!(
            "bundled wardrobe `{}` is not a folder; no bundled garments",
            dir.display()
        );
        return Vec::new();
    }
    let manifest_path = dir.join(MANIFEST_FILE);
    match std::fs::read(&manifest_path) {
        Ok(bytes) => match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(manifest) => return bundled_from_manifest(dir, manifest),
            Err(e) => log::warn!(
                "`{}` is unreadable ({e}); listing the image files instead",
                manifest_path.display()
            ),
        },
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => log::warn!(
            "cannot read `{}` ({e}); listing the image files instead",
            manifest_path.display()
        ),
    }
    bundled_from_files(dir)
}

fn bundled_from_manifest(dir: &Path, manifest: Manifest) -> Vec<BundledGarment> {
    let mut garments: Vec<BundledGarment> = Vec::new();
    for value in manifest.garments {
        let entry: ManifestEntry = match serde_json::from_value(value) {
            Ok(entry) => entry,
            Err(e) => {
                log::warn!("bundled wardrobe: skipping an entry: {e}");
                continue;
            }
        };
        let Some(id) = GarmentId::parse(&entry.id) else {
            log::warn!(
                "bundled wardrobe: `{}` is not a valid id; skipped",
                entry.id
            );
            continue;
        };
        if garments.iter().any(|g| g.id == id) {
            log::warn!("bundled wardrobe: `{id}` is listed twice; the first is kept");
            continue;
        }
        let image = dir.join(&entry.image);
        if !is_inner_relative_path(&entry.image) || !image.is_file() {
            log::warn!(
                "bundled wardrobe: no image `{}` for `{id}`; skipped",
                entry.image
            );
            continue;
        }
        let mask = entry.mask.and_then(|mask| {
            let path = dir.join(&mask);
            if is_inner_relative_path(&mask) && path.is_file() {
                Some(path)
            } else {
                log::warn!("bundled wardrobe: no mask `{mask}` for `{id}`; it will be computed");
                None
            }
        });
        let name = clean_name(&entry.name).unwrap_or_else(|| name_from_stem(id.as_str()));
        garments.push(BundledGarment {
            id,
            name,
            image,
            mask,
        });
    }
    garments
}

fn bundled_from_files(dir: &Path) -> Vec<BundledGarment> {
    let mut garments: Vec<BundledGarment> = Vec::new();
    for file_name in image_file_names(dir) {
        if file_name
            .to_ascii_lowercase()
            .ends_with(BUNDLED_MASK_SUFFIX)
        {
            continue;
        }
        let stem = Path::new(&file_name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id = GarmentId::parse(&stem)
            .unwrap_or_else(|| GarmentId::from_name(&stem))
            .unique(|c| garments.iter().any(|g| &g.id == c));
        let mask = dir.join(format!("{stem}{BUNDLED_MASK_SUFFIX}"));
        garments.push(BundledGarment {
            id,
            name: name_from_stem(&stem),
            image: dir.join(&file_name),
            mask: mask.is_file().then_some(mask),
        });
    }
    garments
}
