//! Where the wardrobe lives: the user's data folder and the bundled assets.
//!
//! Bundled assets are looked for like the model folder (see [`crate::resources`]): an
//! environment variable, then the working folder (a source checkout), then next to the
//! executable, then the install prefix's `share/fitting-room/`.

use std::path::{Path, PathBuf};

use crate::resources::Resource;

/// Environment variable naming the app's data folder (the wardrobe is its `wardrobe/`).
pub const DATA_DIR_ENV: &str = "FITTING_ROOM_DATA_DIR";
/// Environment variable naming the bundled wardrobe folder.
pub const WARDROBE_ENV: &str = "FITTING_ROOM_WARDROBE";

/// The app's data folder: `$FITTING_ROOM_DATA_DIR`, else the platform's per-user data folder
/// (`$XDG_DATA_HOME/fitting-room` on Linux). `None` when the platform has no home folder.
pub fn default_data_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "fitting-room").map(|dirs| dirs.data_dir().to_owned())
}

/// The user's wardrobe folder: `wardrobe/` in [`default_data_dir`]. Created by
/// [`Wardrobe::open`](super::Wardrobe::open), not here.
pub fn default_user_dir() -> Option<PathBuf> {
    default_data_dir().map(|dir| dir.join("wardrobe"))
}

/// The bundled wardrobe: `assets/wardrobe` in a checkout, `share/fitting-room/wardrobe` when
/// installed, or the folder `$FITTING_ROOM_WARDROBE` names.
pub const BUNDLED_WARDROBE: Resource = Resource {
    what: "bundled wardrobe",
    env: Some(WARDROBE_ENV),
    checkout: "assets/wardrobe",
    installed: "wardrobe",
};

/// The sample person photos: `assets/persons` in a checkout, `share/fitting-room/persons` when
/// installed.
pub const SAMPLE_PHOTOS: Resource = Resource {
    what: "sample photos",
    env: None,
    checkout: "assets/persons",
    installed: "persons",
};

/// The bundled wardrobe: the first existing folder of [`BUNDLED_WARDROBE`]'s lookup
/// (see [`crate::resources`]).
pub fn default_bundled_dir() -> Option<PathBuf> {
    BUNDLED_WARDROBE.find(Path::is_dir).ok()
}

/// The bundled sample person photos: the first existing folder of [`SAMPLE_PHOTOS`]'s lookup.
pub fn default_sample_photos_dir() -> Option<PathBuf> {
    SAMPLE_PHOTOS.find(Path::is_dir).ok()
}

/// The sample person photos of a wardrobe: `persons/` beside the wardrobe folder when there is
/// one, else [`default_sample_photos_dir`].
pub fn sample_photos_dir(wardrobe_dir: Option<&Path>) -> Option<PathBuf> {
    wardrobe_dir
        .and_then(|w| w.parent())
        .map(|p| p.join("persons"))
        .filter(|d| d.is_dir())
        .or_else(default_sample_photos_dir)
}

/// The image files of a folder (such as [`default_sample_photos_dir`]), sorted by file name;
/// empty when the folder cannot be read.
pub fn sample_photos(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut photos: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && crate::pipeline::is_image_path(path))
        .collect();
    photos.sort();
    photos
}
