//! The wardrobe on the real bundled assets, in temporary user folders.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use image::{GrayImage, Luma};

use fitting_room::pipeline::{load_gray, load_rgb, MASK_METHOD};
use fitting_room::wardrobe::{
    sample_photos, GarmentId, Origin, Wardrobe, WardrobeError, INDEX_FILE,
};

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
}

fn bundled_dir() -> PathBuf {
    assets().join("wardrobe")
}

fn open(user: &Path) -> Wardrobe {
    Wardrobe::open(Some(&bundled_dir()), user).expect("open the wardrobe")
}

fn id(s: &str) -> GarmentId {
    GarmentId::parse(s).unwrap_or_else(|| panic!("`{s}` is not an id"))
}

/// A bundled garment photo copied outside the wardrobe, as a user would pick one.
fn outside_copy(dir: &Path, bundled_id: &str, file_name: &str) -> PathBuf {
    let path = dir.join(file_name);
    std::fs::copy(bundled_dir().join(format!("{bundled_id}.jpg")), &path).unwrap();
    path
}

/// Adds [`outside_copy`] of a bundled garment to the wardrobe, as the user's own file.
fn add_copy(
    w: &mut Wardrobe,
    dir: &Path,
    bundled_id: &str,
    file_name: &str,
    name: Option<&str>,
) -> GarmentId {
    w.add_file(&outside_copy(dir, bundled_id, file_name), name)
        .expect("add a garment photo")
}

fn names(w: &Wardrobe) -> Vec<(String, String)> {
    w.garments()
        .iter()
        .map(|g| (g.id.to_string(), g.name.clone()))
        .collect()
}

/// Every file under `dir`, relative, with its contents.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    files.sort();
    files
}

fn coverage(mask: &GrayImage) -> f64 {
    mask.pixels().filter(|p| p[0] >= 128).count() as f64 / mask.pixels().len() as f64
}

#[test]
fn wardrobe_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Wardrobe>();
    check::<WardrobeError>();
}

#[test]
fn bundled_wardrobe_lists_twelve_garments_with_sound_masks() {
    let user = tempfile::tempdir().unwrap();
    let w = open(user.path());
    let garments = w.garments();
    assert_eq!(garments.len(), 12, "{:?}", names(&w));
    let ids: BTreeSet<_> = garments.iter().map(|g| g.id.clone()).collect();
    assert_eq!(ids.len(), 12, "ids are unique");
    for g in garments {
        assert_eq!(g.origin, Origin::Bundled);
        assert!(
            !g.name.is_empty() && g.name != g.id.as_str(),
            "{}: human name",
            g.id
        );
        assert!(!g.mask_edited && g.added.is_none());
        assert!(g.image_path.starts_with(bundled_dir()));
        let mask_path = g.mask_path.as_ref().expect("bundled mask");
        assert!(
            mask_path.starts_with(bundled_dir()),
            "the shipped mask is used"
        );
        let image = w.load_image(&g.id).unwrap();
        let mask = w.load_mask(&g.id).unwrap();
        assert_eq!(image.dimensions(), mask.dimensions(), "{}", g.id);
        assert!(
            mask.pixels().all(|p| p[0] == 0 || p[0] == 255),
            "{}: binary mask",
            g.id
        );
        let c = coverage(&mask);
        assert!((0.15..=0.90).contains(&c), "{}: coverage {c:.3}", g.id);
    }
    // Loading bundled masks never writes.
    assert!(std::fs::read_dir(user.path().join("masks"))
        .unwrap()
        .next()
        .is_none());
    // A few expected kinds of garment are there.
    for word in ["white", "striped", "floral", "print", "blouse"] {
        assert!(
            !w.filter(word).is_empty(),
            "no `{word}` garment: {:?}",
            names(&w)
        );
    }
}

#[test]
fn sample_person_photos_are_bundled() {
    let photos = sample_photos(&assets().join("persons"));
    assert_eq!(photos.len(), 4, "{photos:?}");
    for photo in photos {
        let image = load_rgb(&photo).unwrap();
        assert_eq!(image.dimensions(), (192, 256));
    }
}

#[test]
fn assets_stay_small_and_are_credited() {
    let total: u64 = snapshot(&assets())
        .iter()
        .map(|(_, bytes)| bytes.len() as u64)
        .sum();
    assert!(total < 1_000_000, "assets are {total} bytes");
    let notice = std::fs::read_to_string(assets().join("NOTICE")).unwrap();
    assert!(notice.contains("VITON"));
    let w = {
        let user = tempfile::tempdir().unwrap();
        open(user.path())
    };
    for g in w.garments() {
        let file = g.image_path.file_name().unwrap().to_string_lossy();
        assert!(
            notice.contains(file.as_ref()),
            "NOTICE does not list {file}"
        );
    }
    for photo in sample_photos(&assets().join("persons")) {
        let file = photo.file_name().unwrap().to_string_lossy().into_owned();
        assert!(notice.contains(&file), "NOTICE does not list {file}");
    }
}

#[test]
fn added_garment_is_stored_with_its_mask_and_survives_reopen() {
    let user = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let source = outside_copy(elsewhere.path(), "coral-v-neck-top", "My Coral Top.jpg");
    let mut w = open(user.path());
    let added = w.add_file(&source, None).unwrap();
    assert_eq!(added.as_str(), "my-coral-top");
    let g = w.garments().last().unwrap().clone();
    assert_eq!(
        (g.id.clone(), g.name.as_str()),
        (added.clone(), "My Coral Top")
    );
    assert_eq!(g.origin, Origin::User);
    assert!(g.added.is_some() && !g.mask_edited);
    // Stored byte for byte at full resolution, inside the user folder.
    assert!(g.image_path.starts_with(user.path()));
    assert_eq!(
        std::fs::read(&g.image_path).unwrap(),
        std::fs::read(&source).unwrap()
    );
    // The automatic mask is computed at once and stored.
    let mask_path = g.mask_path.clone().expect("automatic mask stored");
    assert!(mask_path.starts_with(user.path()));
    let stored_mask = load_gray(&mask_path).unwrap();
    assert_eq!(stored_mask.dimensions(), (192, 256));
    let c = coverage(&stored_mask);
    assert!((0.3..0.9).contains(&c), "coverage {c}");
    assert_eq!(w.load_mask(&added).unwrap(), stored_mask);
    assert_eq!(w.load_image(&added).unwrap(), load_rgb(&source).unwrap());

    // The same photo again gets its own id; an explicit name is used.
    let again = w.add_file(&source, Some("  Coral, again ")).unwrap();
    assert_ne!(again, added);
    assert_eq!(w.get(&again).unwrap().name, "Coral, again");
    let before = names(&w);
    assert_eq!(before.len(), 14);
    drop(w);

    let w = open(user.path());
    assert_eq!(names(&w), before, "same garments, names and order");
    assert_eq!(
        w.get(&added).unwrap().mask_path.as_deref(),
        Some(&*mask_path)
    );
}

#[test]
fn added_pixels_are_stored_losslessly() {
    let user = tempfile::tempdir().unwrap();
    let mut w = open(user.path());
    let image = w.load_image(&id("blue-floral-tee")).unwrap();
    let added = w.add_image(&image, "Camera capture").unwrap();
    assert_eq!(added.as_str(), "camera-capture");
    assert_eq!(w.load_image(&added).unwrap(), image);
    assert!(w.get(&added).unwrap().mask_path.is_some());
    let blank = w.add_image(&image, "   ").unwrap();
    assert_eq!(w.get(&blank).unwrap().name, "Garment");
    let empty = image::RgbImage::new(0, 0);
    assert!(w.add_image(&empty, "Empty").is_err());
}

#[test]
fn rename_remove_hide_and_restore_persist() {
    let user = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let mut w = open(user.path());
    let first = add_copy(
        &mut w,
        elsewhere.path(),
        "white-polo-shirt",
        "a.jpg",
        Some("Polo"),
    );
    let second = add_copy(
        &mut w,
        elsewhere.path(),
        "red-sweet-print-tee",
        "b.jpg",
        Some("Tee"),
    );
    let polka = id("black-polka-dot-blouse");
    let teal = id("teal-bell-sleeve-top");

    w.rename(&first, "Tennis polo").unwrap();
    w.rename(&polka, "Evening blouse").unwrap();
    assert!(matches!(
        w.rename(&first, " \n"),
        Err(WardrobeError::EmptyName)
    ));
    let second_files = [
        w.get(&second).unwrap().image_path.clone(),
        w.get(&second).unwrap().mask_path.clone().unwrap(),
    ];
    w.remove(&second).unwrap();
    w.remove(&teal).unwrap();
    assert!(
        second_files.iter().all(|f| !f.exists()),
        "user files deleted"
    );
    assert!(bundled_dir().join("teal-bell-sleeve-top.jpg").is_file());
    assert_eq!(w.garments().len(), 12);
    assert_eq!(w.hidden_bundled_count(), 1);
    assert!(w.get(&teal).is_none());
    assert!(matches!(
        w.load_image(&second),
        Err(WardrobeError::UnknownGarment(_))
    ));
    drop(w);

    let mut w = open(user.path());
    assert_eq!(w.get(&first).unwrap().name, "Tennis polo");
    assert_eq!(w.get(&polka).unwrap().name, "Evening blouse");
    assert!(w.get(&second).is_none() && w.get(&teal).is_none());
    assert_eq!(w.garments().len(), 12);
    // Bundled first, then user.
    assert_eq!(w.garments().last().unwrap().id, first);

    assert_eq!(w.restore_bundled().unwrap(), 1);
    assert_eq!(w.restore_bundled().unwrap(), 0);
    // Back in its bundled place, with its shipped name.
    let position = w.garments().iter().position(|g| g.id == teal).unwrap();
    assert_eq!(position, 8);
    assert_eq!(w.get(&teal).unwrap().name, "Teal bell-sleeve top");
    // Renaming back to the shipped name drops the override.
    w.rename(&polka, "Black polka-dot blouse").unwrap();
    drop(w);

    let w = open(user.path());
    assert_eq!(w.garments().len(), 13);
    assert!(w.get(&teal).is_some());
    assert_eq!(w.hidden_bundled_count(), 0);
    assert_eq!(w.get(&polka).unwrap().name, "Black polka-dot blouse");
    let index = std::fs::read_to_string(user.path().join(INDEX_FILE)).unwrap();
    assert!(!index.contains("Evening blouse"), "{index}");
}

/// A user folder with two user garments (one with a hand-edited mask) and a renamed bundled one.
fn populated(user: &Path) -> (GarmentId, GarmentId, Vec<(String, String)>) {
    let elsewhere = tempfile::tempdir().unwrap();
    let mut w = open(user);
    let a = add_copy(
        &mut w,
        elsewhere.path(),
        "pink-check-blouse",
        "pink.jpg",
        None,
    );
    let b = add_copy(
        &mut w,
        elsewhere.path(),
        "blue-floral-tee",
        "floral.jpg",
        None,
    );
    let mask = GrayImage::from_pixel(192, 256, Luma([255]));
    w.set_mask(&b, &mask).unwrap();
    w.rename(&id("coral-v-neck-top"), "Coral").unwrap();
    (a, b, names(&w))
}

fn assert_rebuilt(user: &Path, a: &GarmentId, b: &GarmentId) -> Wardrobe {
    let w = open(user);
    assert_eq!(w.garments().len(), 14, "{:?}", names(&w));
    let ga = w.get(a).expect("first user garment kept");
    let gb = w.get(b).expect("second user garment kept");
    assert_eq!(ga.origin, Origin::User);
    assert!(
        !ga.mask_edited && gb.mask_edited,
        "edited masks come from the files"
    );
    assert!(w.load_mask(a).is_ok());
    assert_eq!(coverage(&w.load_mask(b).unwrap()), 1.0);
    // The rebuilt index is sound: the next open reads it as it is.
    let index = std::fs::read(user.join(INDEX_FILE)).unwrap();
    let again = open(user);
    assert_eq!(names(&again), names(&w));
    assert_eq!(std::fs::read(user.join(INDEX_FILE)).unwrap(), index);
    w
}

#[test]
fn garbage_index_is_rebuilt_from_the_files() {
    let user = tempfile::tempdir().unwrap();
    let (a, b, _) = populated(user.path());
    std::fs::write(
        user.path().join(INDEX_FILE),
        [0xff, 0x00, 0x13, 0x37, 0x80, 0x7b],
    )
    .unwrap();
    let w = assert_rebuilt(user.path(), &a, &b);
    // Names are lost with the index; they come from the file names.
    assert_eq!(w.get(&a).unwrap().name, "Pink");
    assert!(user.path().join("index.json.bak").is_file());
}

#[test]
fn truncated_index_is_rebuilt_from_the_files() {
    let user = tempfile::tempdir().unwrap();
    let (a, b, _) = populated(user.path());
    let path = user.path().join(INDEX_FILE);
    let json = std::fs::read(&path).unwrap();
    std::fs::write(&path, &json[..json.len() / 2]).unwrap();
    assert_rebuilt(user.path(), &a, &b);
}

#[test]
fn missing_index_is_rebuilt_and_user_order_kept() {
    let user = tempfile::tempdir().unwrap();
    let (a, b, _) = populated(user.path());
    std::fs::remove_file(user.path().join(INDEX_FILE)).unwrap();
    let w = assert_rebuilt(user.path(), &a, &b);
    // Bundled first; user garments after them.
    assert!(w.garments()[..12]
        .iter()
        .all(|g| g.origin == Origin::Bundled));
}

#[test]
fn stale_index_entries_are_dropped_and_stray_photos_picked_up() {
    let user = tempfile::tempdir().unwrap();
    let (a, b, before) = populated(user.path());
    let path = user.path().join(INDEX_FILE);
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let garments = index["garments"].as_array_mut().unwrap();
    garments.push(serde_json::json!({
        "id": "vanished", "name": "Vanished", "origin": "user",
        "image": "garments/vanished.jpg", "mask": "masks/vanished.png",
        "mask_edited": false, "added_ms": 1
    }));
    garments.push(serde_json::json!({"id": "../../evil", "name": "x"}));
    index["hidden_bundled"] = serde_json::json!(["no-such-bundled-garment", 7]);
    std::fs::write(&path, serde_json::to_vec(&index).unwrap()).unwrap();
    // A photo dropped into the folder by hand, with a name that is not an id.
    std::fs::copy(
        bundled_dir().join("white-polo-shirt.jpg"),
        user.path().join("garments/Holiday Shirt.JPG"),
    )
    .unwrap();

    let w = open(user.path());
    assert!(w.get(&id("vanished")).is_none());
    // Names and order of the indexed garments are kept.
    assert_eq!(names(&w)[..14], before[..]);
    let holiday = id("holiday-shirt");
    let g = w.get(&holiday).expect("stray photo picked up");
    assert_eq!(g.name, "Holiday Shirt");
    assert!(g.image_path.ends_with("garments/holiday-shirt.jpg"));
    assert!(g.mask_path.is_none(), "mask computed on first use");
    let mask = w.load_mask(&holiday).unwrap();
    assert!((0.3..0.9).contains(&coverage(&mask)));
    assert!(user.path().join("masks/holiday-shirt.png").is_file());
    assert!(w.get(&a).is_some() && w.get(&b).is_some());
    let index = std::fs::read_to_string(&path).unwrap();
    assert!(!index.contains("vanished") && !index.contains("evil"));
}

#[test]
fn photo_named_like_a_bundled_garment_gets_its_own_id() {
    let user = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(user.path().join("garments")).unwrap();
    std::fs::copy(
        bundled_dir().join("blue-floral-tee.jpg"),
        user.path().join("garments/white-polo-shirt.jpg"),
    )
    .unwrap();
    let w = open(user.path());
    assert_eq!(w.garments().len(), 13);
    let polo: Vec<_> = w.filter("white-polo-shirt");
    assert_eq!(polo.len(), 2);
    assert_eq!(polo[0].origin, Origin::Bundled);
    assert_eq!(polo[1].id.as_str(), "white-polo-shirt-2");
}

#[test]
fn hand_edited_mask_of_a_bundled_garment_lives_in_the_user_folder() {
    let user = tempfile::tempdir().unwrap();
    let garment = id("navy-striped-v-neck-tee");
    let shipped_path = bundled_dir().join("navy-striped-v-neck-tee.mask.png");
    let shipped = std::fs::read(&shipped_path).unwrap();
    let mut w = open(user.path());
    let original = w.load_mask(&garment).unwrap();
    let mut edited = original.clone();
    for p in edited.pixels_mut().take(192 * 40) {
        p[0] = 128;
    }
    assert!(matches!(
        w.set_mask(&garment, &GrayImage::new(10, 10)),
        Err(WardrobeError::MaskSize { .. })
    ));
    w.set_mask(&garment, &edited).unwrap();
    let g = w.get(&garment).unwrap();
    assert!(g.mask_edited);
    assert!(g.mask_path.as_ref().unwrap().starts_with(user.path()));
    assert_eq!(w.load_mask(&garment).unwrap(), edited, "grey levels kept");
    assert_eq!(std::fs::read(&shipped_path).unwrap(), shipped);
    drop(w);

    let mut w = open(user.path());
    assert!(w.get(&garment).unwrap().mask_edited);
    assert_eq!(w.load_mask(&garment).unwrap(), edited);
    w.reset_mask(&garment).unwrap();
    let g = w.get(&garment).unwrap();
    assert!(!g.mask_edited);
    assert_eq!(g.mask_path.as_deref(), Some(&*shipped_path));
    assert_eq!(w.load_mask(&garment).unwrap(), original);
    drop(w);

    let w = open(user.path());
    assert!(!w.get(&garment).unwrap().mask_edited);
    assert_eq!(std::fs::read(&shipped_path).unwrap(), shipped);
}

#[test]
fn automatic_masks_of_an_earlier_method_are_made_again() {
    let user = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let mut w = open(user.path());
    let a = add_copy(&mut w, elsewhere.path(), "coral-v-neck-top", "a.jpg", None);
    let b = add_copy(
        &mut w,
        elsewhere.path(),
        "colour-block-sports-tee",
        "b.jpg",
        None,
    );
    let automatic = w.load_mask(&a).unwrap();
    let painted = GrayImage::from_pixel(192, 256, Luma([255]));
    w.set_mask(&b, &painted).unwrap();
    drop(w);
    let index_path = user.path().join(INDEX_FILE);
    let read_index = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap()
    };
    let method = || read_index().get("auto_masks").and_then(|m| m.as_u64());
    assert_eq!(method(), Some(u64::from(MASK_METHOD)));

    // The folder as an earlier build left it: its automatic mask (all garment here, to tell it
    // apart) and an index that does not name the method.
    let stored = user.path().join(format!("masks/{a}.png"));
    GrayImage::from_pixel(192, 256, Luma([255]))
        .save(&stored)
        .unwrap();
    let mut index = read_index();
    index.as_object_mut().unwrap().remove("auto_masks");
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();

    let w = open(user.path());
    assert!(!stored.exists(), "the earlier method's mask is dropped");
    assert_eq!(method(), Some(u64::from(MASK_METHOD)));
    assert_eq!(w.load_mask(&a).unwrap(), automatic, "made again");
    assert!(stored.is_file());
    assert_eq!(w.load_mask(&b).unwrap(), painted, "a painted mask is kept");
    drop(w);
    // Made once: the next start keeps it.
    let bytes = std::fs::read(&stored).unwrap();
    let w = open(user.path());
    assert_eq!(std::fs::read(&stored).unwrap(), bytes);
    assert_eq!(w.get(&a).unwrap().mask_path.as_deref(), Some(&*stored));
}

#[test]
fn reset_mask_of_a_user_garment_returns_to_the_automatic_mask() {
    let user = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let mut w = open(user.path());
    let added = add_copy(
        &mut w,
        elsewhere.path(),
        "colour-block-sports-tee",
        "t.jpg",
        None,
    );
    let automatic = w.load_mask(&added).unwrap();
    let full = GrayImage::from_pixel(192, 256, Luma([255]));
    w.set_mask(&added, &full).unwrap();
    assert_eq!(w.load_mask(&added).unwrap(), full);
    w.reset_mask(&added).unwrap();
    assert!(!w.get(&added).unwrap().mask_edited);
    assert_eq!(w.load_mask(&added).unwrap(), automatic);
    // Even when the stored automatic mask is lost, it is made again.
    std::fs::remove_file(user.path().join(format!("masks/{added}.png"))).unwrap();
    assert_eq!(w.load_mask(&added).unwrap(), automatic);
    assert!(user.path().join(format!("masks/{added}.png")).is_file());
    assert!(matches!(
        w.reset_mask(&id("no-such-garment")),
        Err(WardrobeError::UnknownGarment(_))
    ));
}

#[test]
fn bad_files_are_refused_and_nothing_is_written() {
    let user = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let mut w = open(user.path());
    let before = snapshot(user.path());

    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
    let text = elsewhere.path().join("notes.jpg");
    std::fs::write(&text, "not an image at all").unwrap();
    let empty = elsewhere.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let png = std::fs::read(bundled_dir().join("white-polo-shirt.mask.png")).unwrap();
    let cut = elsewhere.path().join("cut.png");
    std::fs::write(&cut, &png[..png.len() / 2]).unwrap();
    for bad in [
        text,
        empty,
        cut,
        fixtures.join("truncated.jpg"),
        fixtures.join("huge_header.png"),
        elsewhere.path().join("missing.jpg"),
    ] {
        let result = w.add_file(&bad, None);
        assert!(result.is_err(), "{} was accepted", bad.display());
        let message = result.unwrap_err().to_string();
        assert!(!message.is_empty());
    }
    assert_eq!(w.garments().len(), 12);
    assert_eq!(snapshot(user.path()), before, "nothing written");
}

#[test]
fn filter_matches_every_word_in_names_and_ids() {
    let user = tempfile::tempdir().unwrap();
    let w = open(user.path());
    let ids = |q: &str| -> Vec<String> { w.filter(q).iter().map(|g| g.id.to_string()).collect() };
    assert_eq!(ids("").len(), 12);
    assert_eq!(ids("   ").len(), 12);
    assert_eq!(
        ids("STRIPED"),
        [
            "pastel-striped-tee",
            "navy-striped-v-neck-tee",
            "blue-striped-lace-up-top"
        ]
    );
    assert_eq!(ids("striped  blue"), ["blue-striped-lace-up-top"]);
    assert_eq!(ids("sweet"), ["red-sweet-print-tee"]);
    assert_eq!(
        ids("v-neck"),
        ["navy-striped-v-neck-tee", "coral-v-neck-top"]
    );
    assert!(ids("striped polka").is_empty());
    assert!(ids("zzz").is_empty());
}

#[test]
fn writes_leave_no_temporary_files() {
    let user = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let mut w = open(user.path());
    let added = add_copy(
        &mut w,
        elsewhere.path(),
        "pastel-striped-tee",
        "p.jpg",
        None,
    );
    w.rename(&added, "Pastel").unwrap();
    w.set_mask(&added, &GrayImage::from_pixel(192, 256, Luma([255])))
        .unwrap();
    w.reset_mask(&added).unwrap();
    w.remove(&id("coral-v-neck-top")).unwrap();
    w.restore_bundled().unwrap();
    w.add_image(&w.load_image(&added).unwrap(), "Copy").unwrap();
    w.remove(&added).unwrap();
    for (path, _) in snapshot(user.path()) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.starts_with('.') && !name.ends_with(".tmp"),
            "left behind: {}",
            path.display()
        );
    }
}

#[test]
fn bundled_folder_without_manifest_lists_its_files() {
    let bundled = tempfile::tempdir().unwrap();
    let user = tempfile::tempdir().unwrap();
    for file in [
        "coral-v-neck-top.jpg",
        "coral-v-neck-top.mask.png",
        "white-polo-shirt.jpg",
    ] {
        std::fs::copy(bundled_dir().join(file), bundled.path().join(file)).unwrap();
    }
    let w = Wardrobe::open(Some(bundled.path()), user.path()).unwrap();
    assert_eq!(
        names(&w),
        [
            ("coral-v-neck-top".into(), "Coral v neck top".into()),
            ("white-polo-shirt".into(), "White polo shirt".into()),
        ]
    );
    assert!(w.garments()[0].mask_path.is_some());
    // The polo has no shipped mask: computed into the user folder, never the bundled one.
    assert!(w.garments()[1].mask_path.is_none());
    w.load_mask(&id("white-polo-shirt")).unwrap();
    assert!(user.path().join("masks/white-polo-shirt.png").is_file());
    assert_eq!(std::fs::read_dir(bundled.path()).unwrap().count(), 3);

    // A corrupt manifest falls back to the files too.
    std::fs::write(bundled.path().join("wardrobe.json"), "{\"garments\": [").unwrap();
    assert_eq!(
        Wardrobe::open(Some(bundled.path()), user.path())
            .unwrap()
            .garments()
            .len(),
        2
    );
    // No bundled folder, or a missing one: only the user's garments.
    let missing = bundled.path().join("nowhere");
    assert!(Wardrobe::open(Some(&missing), user.path())
        .unwrap()
        .garments()
        .is_empty());
    assert!(Wardrobe::open(None, user.path())
        .unwrap()
        .garments()
        .is_empty());
}

#[test]
fn user_folder_is_created_and_an_unusable_one_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let nested = root.path().join("a/b/wardrobe");
    let w = open(&nested);
    assert!(nested.join(INDEX_FILE).is_file());
    assert_eq!(w.user_dir(), nested);
    let file = root.path().join("file");
    std::fs::write(&file, "x").unwrap();
    assert!(matches!(
        Wardrobe::open(None, &file.join("wardrobe")),
        Err(WardrobeError::Io { .. })
    ));
}

#[test]
fn shared_between_threads() {
    let user = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let source = outside_copy(elsewhere.path(), "black-polka-dot-blouse", "dots.jpg");
    let wardrobe = Arc::new(Mutex::new(open(user.path())));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let wardrobe = Arc::clone(&wardrobe);
            let source = source.clone();
            std::thread::spawn(move || {
                let id = wardrobe.lock().unwrap().add_file(&source, None).unwrap();
                let mask = wardrobe.lock().unwrap().load_mask(&id).unwrap();
                assert_eq!(mask.dimensions(), (192, 256));
                id
            })
        })
        .collect();
    let ids: BTreeSet<GarmentId> = workers.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(ids.len(), 4);
    drop(wardrobe);
    assert_eq!(open(user.path()).garments().len(), 16);
}

#[test]
fn photo_without_automatic_mask_is_kept_and_takes_a_painted_one() {
    let user = tempfile::tempdir().unwrap();
    let mut w = open(user.path());
    let blank = image::RgbImage::from_pixel(300, 400, image::Rgb([240, 240, 240]));
    let added = w.add_image(&blank, "Blank").unwrap();
    assert!(w.get(&added).unwrap().mask_path.is_none());
    assert!(matches!(
        w.load_mask(&added),
        Err(WardrobeError::AutoMask { .. })
    ));
    let painted = GrayImage::from_pixel(300, 400, Luma([255]));
    w.set_mask(&added, &painted).unwrap();
    assert_eq!(w.load_mask(&added).unwrap(), painted);
}

#[test]
fn masks_follow_the_upright_photo() {
    let user = tempfile::tempdir().unwrap();
    let mut w = open(user.path());
    let rotated =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images/exif_rotated.jpg");
    let added = w.add_file(&rotated, None).unwrap();
    // Stored sideways (40x30) with an EXIF rotation: upright it is 30x40.
    let (width, height) = w.load_image(&added).unwrap().dimensions();
    assert_eq!((width, height), (30, 40));
    assert!(matches!(
        w.set_mask(&added, &GrayImage::new(height, width)),
        Err(WardrobeError::MaskSize { .. })
    ));
    w.set_mask(&added, &GrayImage::new(width, height)).unwrap();
}

#[test]
fn bundled_choices_survive_a_start_without_the_bundled_folder() {
    let user = tempfile::tempdir().unwrap();
    let mut w = open(user.path());
    w.rename(&id("white-polo-shirt"), "Tennis polo").unwrap();
    w.remove(&id("pink-check-blouse")).unwrap();
    drop(w);
    let mut w = Wardrobe::open(None, user.path()).unwrap();
    assert!(w.garments().is_empty());
    assert_eq!(w.hidden_bundled_count(), 0);
    let image = load_rgb(&bundled_dir().join("white-polo-shirt.jpg")).unwrap();
    let added = w.add_image(&image, "White polo shirt").unwrap();
    assert_ne!(
        added.as_str(),
        "white-polo-shirt",
        "a remembered bundled id is not reused"
    );
    drop(w);
    let w = open(user.path());
    assert_eq!(w.get(&id("white-polo-shirt")).unwrap().name, "Tennis polo");
    assert!(w.get(&id("pink-check-blouse")).is_none());
    assert_eq!(w.hidden_bundled_count(), 1);
    assert_eq!(w.garments().len(), 12);
}
