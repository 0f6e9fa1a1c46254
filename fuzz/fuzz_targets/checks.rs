//! What each fuzz target checks, one function per target: the targets call them, and
//! `tests/fuzz_seeds.rs` runs them on the seeds with the ordinary tests.
#![allow(dead_code)]

use super::scratch;
use fitting_room::pipeline::{image_size, load_gray, load_rgb, MAX_IMAGE_PIXELS};
use fitting_room::wardrobe::{Wardrobe, INDEX_FILE, MANIFEST_FILE};
use fitting_room::weights::{detect_format, StateDict};

/// Checkpoints: format detection, then safetensors, the zip `.pth` or the legacy `.pth` (its
/// pickle VM), whichever the bytes look like. Any input must give a state dict or an error:
/// no panic, no allocation beyond what the file's own bytes justify.
pub fn checkpoint(data: &[u8]) {
    let path = scratch::file("checkpoint", data);
    let format = detect_format(&path);
    let loaded = StateDict::load(&path);
    // Loading starts with the same detection.
    if format.is_err() {
        assert!(loaded.is_err());
    }
    if let Ok(state) = loaded {
        for (_, tensor) in state.iter() {
            let _ = tensor.elem_count();
        }
    }
}

/// Photos: the loading path of every person and garment picture (format sniffing, the
/// 100-megapixel limit checked on the header, capped decoder allocations, EXIF orientation).
pub fn image(data: &[u8]) {
    let path = scratch::file("photo", data);
    let size = image_size(&path);
    match load_rgb(&path) {
        Ok(image) => {
            // What the header promised is what was decoded, within the limit.
            assert_eq!(size.ok(), Some(image.dimensions()));
            assert!(u64::from(image.width()) * u64::from(image.height()) <= MAX_IMAGE_PIXELS);
            assert!(image.width() > 0 && image.height() > 0);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let _ = load_gray(&path);
}

/// The user folder's `index.json` (hand-edited, half-written or from another version): the
/// wardrobe must open, list only garments whose photo exists, and never panic.
pub fn wardrobe_index(data: &[u8]) {
    // A fresh folder each time: opening may rewrite the index and rename stray files.
    let user = scratch::fresh_dir("user");
    let garments = user.join("garments");
    std::fs::create_dir_all(&garments).unwrap();
    std::fs::create_dir_all(user.join("edited")).unwrap();
    std::fs::write(garments.join("shirt.png"), scratch::TINY_PNG).unwrap();
    std::fs::write(garments.join("dress-2.png"), scratch::TINY_PNG).unwrap();
    std::fs::write(user.join("edited/shirt.png"), scratch::TINY_PNG).unwrap();
    std::fs::write(user.join(INDEX_FILE), data).unwrap();
    let wardrobe = Wardrobe::open(None, &user).expect("a writable user folder opens");
    for g in wardrobe.garments() {
        assert!(
            g.image_path.starts_with(&user),
            "{}",
            g.image_path.display()
        );
        assert!(g.image_path.is_file(), "{}", g.image_path.display());
        assert!(!g.name.trim().is_empty());
    }
    // What it wrote back reads the same.
    let again = Wardrobe::open(None, &user).expect("reopens");
    let ids = |w: &Wardrobe| {
        w.garments()
            .iter()
            .map(|g| g.id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&wardrobe), ids(&again));
}

/// The bundled folder's `wardrobe.json`: entries that point outside the folder, at missing
/// files, with bad ids or names are dropped; the rest is listed; nothing panics.
pub fn wardrobe_manifest(data: &[u8]) {
    let bundled = scratch::fresh_dir("bundled");
    std::fs::write(bundled.join("tee.jpg"), scratch::TINY_PNG).unwrap();
    std::fs::write(bundled.join("tee.mask.png"), scratch::TINY_PNG).unwrap();
    std::fs::write(bundled.join("polo.png"), scratch::TINY_PNG).unwrap();
    std::fs::write(bundled.join(MANIFEST_FILE), data).unwrap();
    let user = scratch::fresh_dir("user");
    let wardrobe = Wardrobe::open(Some(&bundled), &user).expect("a writable user folder opens");
    let mut ids = std::collections::BTreeSet::new();
    for g in wardrobe.garments() {
        assert!(ids.insert(g.id.clone()), "{} listed twice", g.id);
        assert!(
            g.image_path.starts_with(&bundled),
            "{}",
            g.image_path.display()
        );
        assert!(g.image_path.is_file(), "{}", g.image_path.display());
        if let Some(mask) = &g.mask_path {
            assert!(mask.starts_with(&bundled) || mask.starts_with(&user));
        }
    }
}
