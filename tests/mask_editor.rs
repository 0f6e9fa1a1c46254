//! The mask editor's painting (brush, eraser, undo) and saving a hand-fixed mask from the app:
//! the wardrobe keeps it and the try-on runs again with it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use fitting_room::app::mask_editor::{MaskEditor, Tool};
use fitting_room::app::{Command, FittingRoomApp, StartOptions};
use fitting_room::capture::SyntheticBackend;
use fitting_room::wardrobe::GarmentId;
use image::{GrayImage, RgbImage};

fn editor(width: u32, height: u32) -> MaskEditor {
    MaskEditor::new(
        GarmentId::parse("test").unwrap(),
        Arc::new(RgbImage::new(width, height)),
        GrayImage::new(width, height),
    )
}

#[test]
fn the_brush_paints_a_capsule_and_the_eraser_removes_it() {
    let mut e = editor(100, 80);
    e.radius = 5.0;
    e.begin_stroke();
    let touched = e
        .stroke(egui::pos2(20.0, 40.0), egui::pos2(80.0, 40.0))
        .unwrap();
    assert_eq!(touched, (15, 35, 85, 45));
    // Inside the capsule, along the whole segment: no gaps.
    for x in 20..80 {
        assert_eq!(e.mask.get_pixel(x, 40).0[0], 255, "gap at x = {x}");
    }
    // Outside it: untouched.
    assert_eq!(e.mask.get_pixel(50, 30).0[0], 0);
    assert_eq!(e.mask.get_pixel(10, 40).0[0], 0);
    let painted = e.coverage();
    let expected = (60.0 * 10.0 + std::f32::consts::PI * 25.0) / (100.0 * 80.0);
    assert!((painted - expected).abs() < 0.01, "{painted} vs {expected}");

    e.tool = Tool::Eraser;
    e.begin_stroke();
    e.stroke(egui::pos2(50.0, 40.0), egui::pos2(50.0, 40.0));
    assert_eq!(e.mask.get_pixel(50, 40).0[0], 0);
    assert!(e.coverage() < painted);

    assert!(e.undo());
    assert_eq!(e.mask.get_pixel(50, 40).0[0], 255);
    assert!(e.undo());
    assert_eq!(e.coverage(), 0.0);
    assert!(!e.undo(), "nothing left to undo");
}

#[test]
fn strokes_off_the_photo_change_nothing() {
    let mut e = editor(40, 40);
    e.radius = 3.0;
    assert!(e
        .stroke(egui::pos2(-50.0, -50.0), egui::pos2(-20.0, -10.0))
        .is_none());
    assert!(e
        .stroke(egui::pos2(100.0, 10.0), egui::pos2(200.0, 10.0))
        .is_none());
    assert_eq!(e.coverage(), 0.0);
    // Half on the photo: only the part inside is painted, no panic at the edge.
    e.stroke(egui::pos2(-10.0, 20.0), egui::pos2(10.0, 20.0));
    assert_eq!(e.mask.get_pixel(0, 20).0[0], 255);
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_saved_mask_is_kept_by_the_wardrobe_and_reruns_the_tryon() {
    let user_dir = tempfile::tempdir().unwrap();
    let options = StartOptions {
        person: Some(root().join("assets/persons/001360_0.jpg")),
        model: Some(root().join("tests/fixtures/model")),
        device: fitting_room::engine::DeviceChoice::Cpu,
        wardrobe_dir: Some(root().join("assets/wardrobe")),
        user_dir: Some(user_dir.path().to_path_buf()),
        cameras: Arc::new(SyntheticBackend::new().no_cameras()),
        ..Default::default()
    };
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1024.0, 700.0))
        .wgpu()
        .build_eframe(move |cc| FittingRoomApp::new(cc, options));
    let wait = |harness: &mut Harness<'static, FittingRoomApp>,
                what: &str,
                done: &dyn Fn(&FittingRoomApp) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !done(harness.state()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            harness.step();
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait(&mut harness, "the wardrobe", &|app| {
        app.wardrobe().garments().len() >= 12
    });
    let id = GarmentId::parse("white-polo-shirt").unwrap();
    harness
        .state_mut()
        .apply(Command::SelectGarment(id.clone()));
    wait(&mut harness, "the try-on", &|app| {
        app.session().has_result()
    });
    let before = harness.state().session().shown_images().unwrap().clone();

    // A hand-made mask: only the upper half of the photo is garment.
    let (w, h) =
        image::image_dimensions(root().join("assets/wardrobe/white-polo-shirt.jpg")).unwrap();
    let mask = GrayImage::from_fn(w, h, |_, y| image::Luma([if y < h / 2 { 255 } else { 0 }]));
    harness
        .state_mut()
        .apply(Command::SaveMask(id.clone(), Some(mask.clone())));
    wait(&mut harness, "the new try-on", &|app| {
        app.session().has_result()
            && app
                .session()
                .shown_images()
                .map(|r| !Arc::ptr_eq(r, &before))
                .unwrap_or(false)
    });
    let after = harness.state().session().shown_images().unwrap().clone();
    assert_ne!(
        before.warped_mask.as_raw(),
        after.warped_mask.as_raw(),
        "the new mask reached the network"
    );
    // The wardrobe kept the edit (read back through a fresh wardrobe).
    let wardrobe = fitting_room::wardrobe::Wardrobe::open(
        Some(&root().join("assets/wardrobe")),
        user_dir.path(),
    )
    .unwrap();
    assert!(wardrobe.get(&id).unwrap().mask_edited);
    assert_eq!(wardrobe.load_mask(&id).unwrap(), mask);
}
