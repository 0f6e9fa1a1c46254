//! What each fuzz target checks, one function per target: the targets call them, and
//! `tests/fuzz_seeds.rs` runs them on the seeds with the ordinary tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use super::scratch;
use candle_core::Device;
use fitting_room::model::{card_name, model_name, MODEL_CARD};
use fitting_room::person::graph::{Constants, Graph};
use fitting_room::person::{DETECTOR, LANDMARKS, SELFIE};
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

/// A model folder's `model.json` (its card): the model's name is the card's non-blank `name`,
/// else the folder's; never empty, never a panic.
pub fn model_json(data: &[u8]) {
    let folder = scratch::fresh_dir("my-model");
    std::fs::write(folder.join(MODEL_CARD), data).unwrap();
    let name = model_name(&folder);
    assert!(!name.trim().is_empty());
    match card_name(data) {
        Some(from_card) => assert_eq!(name, from_card),
        None => assert_eq!(name, "my-model"),
    }
}

/// The shipped person models' folder (models/person), from the repository root or fuzz/.
fn person_models() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("models/person");
    if dir.is_dir() {
        dir
    } else {
        root.join("../models/person")
    }
}

/// The shipped constants of the three person models, read once.
fn person_constants() -> &'static [Constants] {
    static CONSTANTS: OnceLock<Vec<Constants>> = OnceLock::new();
    CONSTANTS.get_or_init(|| {
        [SELFIE, DETECTOR, LANDMARKS]
            .iter()
            .map(|name| {
                let path = person_models().join(format!("{name}.safetensors"));
                Constants::load(&path, &Device::Cpu).expect("the shipped person models load")
            })
            .collect()
    })
}

/// A person model's graph description (`models/person/*.json`: op list, tensor shapes), with
/// the shipped constants of each of the three models: any text gives an error or a graph that
/// runs.
pub fn person_graph(data: &[u8]) {
    // `Graph::load` reads the description as UTF-8 text; other bytes are an error there.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for constants in person_constants() {
        let json = std::path::Path::new("fuzz.json");
        match Graph::from_description(text, json, constants, &Device::Cpu) {
            Ok(graph) => run_graph(&graph),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}

/// A graph that loads runs on the CPU kernels, which trust its shapes: an error is an answer,
/// a panic or a read outside a buffer is a bug.
fn run_graph(graph: &Graph) {
    let inputs = (0..graph.input_count())
        .map(|i| vec![0.5f32; graph.input_shape(i).iter().product()])
        .collect();
    let _ = graph.run_flat(inputs);
}

/// A person model's constants file (`models/person/*.safetensors`): loaded as the app loads it,
/// then with the selfie segmentation model's graph description; any bytes give an error or a
/// model that runs.
pub fn person_weights(data: &[u8]) {
    static SELFIE_GRAPH: OnceLock<String> = OnceLock::new();
    let graph = SELFIE_GRAPH.get_or_init(|| {
        std::fs::read_to_string(person_models().join(format!("{SELFIE}.json"))).unwrap()
    });
    let path = scratch::file("weights.safetensors", data);
    match Constants::load(&path, &Device::Cpu) {
        Ok(constants) => {
            let json = std::path::Path::new("selfie_segmentation.json");
            match Graph::from_description(graph, json, &constants, &Device::Cpu) {
                Ok(graph) => run_graph(&graph),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
