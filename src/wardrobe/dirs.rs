//! Where the wardrobe lives: the user's data folder and the bundled assets.
//!
//! Bundled assets are looked for like the model folder (see [`crate::model`]): an environment
//! variable, then the working folder (a source checkout), then next to the executable, then the
//! `share/` folder of a Unix-style install.

use std::path::{Path, PathBuf};

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

/// The bundled wardrobe: the first existing folder of `$FITTING_ROOM_WARDROBE`,
/// `./assets/wardrobe`, `<exe dir>/assets/wardrobe`, `<exe dir>/../share/fitting-room/wardrobe`.
pub fn default_bundled_dir() -> Option<PathBuf> {
    let env = std::env::var_os(WARDROBE_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    env.into_iter()
        .chain(asset_candidates("wardrobe"))
        .find(|dir| dir.is_dir())
}

/// The bundled sample person photos: the first existing folder of `./assets/persons`,
/// `<exe dir>/assets/persons`, `<exe dir>/../share/fitting-room/persons`.
pub fn default_sample_photos_dir() -> Option<PathBuf> {
    asset_candidates("persons")
        .into_iter()
        .find(|dir| dir.is_dir())
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
        .filter(|path| path.is_file() && super::is_image_file_name(path))
        .collect();
    photos.sort();
    photos
}

fn asset_candidates(name: &str) -> Vec<PathBuf> {
    let mut candidates = vec![Path::new("assets").join(name)];
    if let Some(bin) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        candidates.push(bin.join("assets").join(name));
        candidates.push(bin.join("../share/fitting-room").join(name));
    }
    candidates
}
