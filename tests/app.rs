//! The desktop app, driven through egui_kittest on the wgpu renderer (a software adapter in CI:
//! lavapipe or llvmpipe). Without an adapter these tests fail; they never skip.
//!
//! Snapshots live in tests/snapshots; `UPDATE_SNAPSHOTS=1 cargo test --release --test app`
//! rewrites them (look at them before committing).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{lit_and_dim_photos, person_pixels_in_middle};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use fitting_room::app::crop_editor::CROP_EDITOR;
use fitting_room::app::export::ExportKind;
use fitting_room::app::flow_view::{self, FlowRenderPath};
use fitting_room::app::result_panel::{ResultView, DIM_PHOTO, RESULT_PICTURE};
use fitting_room::app::session::Framing;
use fitting_room::app::worker::ModelStatus;
use fitting_room::app::{Command, FittingRoomApp, StartOptions};
use fitting_room::capture::{CameraBackend, SyntheticBackend};
use fitting_room::pipeline::{crop_iou, Crop, CropSource};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn person_photo() -> PathBuf {
    root().join("assets/persons/000523_0.jpg")
}

fn garment_photo() -> PathBuf {
    root().join("assets/wardrobe/red-sweet-print-tee.jpg")
}

struct Setup {
    user_dir: tempfile::TempDir,
    options: StartOptions,
}

fn setup(cameras: Arc<dyn CameraBackend>) -> Setup {
    let user_dir = tempfile::tempdir().expect("temp dir");
    let options = StartOptions {
        model: Some(root().join("tests/fixtures/model")),
        device: fitting_room::engine::DeviceChoice::Cpu,
        wardrobe_dir: Some(root().join("assets/wardrobe")),
        user_dir: Some(user_dir.path().to_path_buf()),
        cameras,
        ..Default::default()
    };
    Setup { user_dir, options }
}

fn harness(options: StartOptions) -> Harness<'static, FittingRoomApp> {
    Harness::builder()
        .with_size(egui::vec2(1024.0, 700.0))
        .wgpu()
        .build_eframe(move |cc| FittingRoomApp::new(cc, options))
}

/// The app started on `person` and the test garment, stepped until the try-on is shown (no
/// cameras). The setup owns the user folder, so it must live as long as the harness.
fn tried_on(person: PathBuf) -> (Setup, Harness<'static, FittingRoomApp>) {
    let mut s = setup(Arc::new(SyntheticBackend::new().no_cameras()));
    s.options.person = Some(person);
    s.options.garment = Some(garment_photo());
    let mut harness = harness(s.options.clone());
    run_until(&mut harness, "the try-on", |app| app.session().has_result());
    (s, harness)
}

/// Steps the app (background work runs on its own threads) until `done` holds.
fn run_until(
    harness: &mut Harness<'static, FittingRoomApp>,
    what: &str,
    done: impl Fn(&FittingRoomApp) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done(harness.state()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; notices: {:?}",
            harness.state().notices().iter().collect::<Vec<_>>()
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    harness.step();
}

/// Sets the crop by hand, as a drag of the frame does, and waits for its try-on on screen.
fn set_crop_and_wait(harness: &mut Harness<'static, FittingRoomApp>, crop: Crop) {
    harness.state_mut().session_mut().set_crop(crop);
    run_until(harness, "the try-on of the crop set by hand", |app| {
        app.session().shown_images().is_some_and(|i| i.crop == crop)
    });
}

fn model_ready(app: &FittingRoomApp) -> bool {
    matches!(app.session().model(), ModelStatus::Ready(_))
}

fn garment_name(app: &FittingRoomApp) -> Option<&str> {
    app.session().garment().map(|g| g.name.as_str())
}

fn errors(app: &FittingRoomApp) -> Vec<String> {
    app.notices()
        .iter()
        .filter(|(_, error)| *error)
        .map(|(text, _)| text.to_string())
        .collect()
}

/// Share of pixels in `rect` (points) that differ from the panel background.
fn busy_share(image: &image::RgbaImage, rect: egui::Rect) -> f32 {
    // The central panel's own colour, just below the menu bar in the middle of the window.
    let background = image.get_pixel(image.width() / 2, image.height() - 40).0;
    let mut busy = 0;
    let mut total = 0;
    for y in rect.min.y as u32..rect.max.y as u32 {
        for x in rect.min.x as u32..rect.max.x as u32 {
            let p = image.get_pixel(x, y).0;
            total += 1;
            if (0..3).any(|c| p[c].abs_diff(background[c]) > 24) {
                busy += 1;
            }
        }
    }
    busy as f32 / total.max(1) as f32
}

/// An absolute sampling grid (1, 2, H, W): the identity turned by 6 degrees about the centre,
/// shifted 8 pixels right and 5 down.
fn smooth_flow(width: usize, height: usize) -> candle_core::Tensor {
    let (angle, shift_x, shift_y) = (6f32.to_radians(), 8.0, 5.0);
    let (cx, cy) = ((width - 1) as f32 / 2.0, (height - 1) as f32 / 2.0);
    let mut data = vec![0f32; 2 * width * height];
    for y in 0..height {
        for x in 0..width {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let sx = cx + dx * angle.cos() - dy * angle.sin() - shift_x;
            let sy = cy + dx * angle.sin() + dy * angle.cos() - shift_y;
            data[y * width + x] = sx / (width - 1) as f32 * 2.0 - 1.0;
            data[width * height + y * width + x] = sy / (height - 1) as f32 * 2.0 - 1.0;
        }
    }
    candle_core::Tensor::from_vec(data, (1, 2, height, width), &candle_core::Device::Cpu).unwrap()
}

#[test]
fn start_options_open_person_and_garment_and_show_the_result() {
    let (_setup, mut harness) = tried_on(person_photo());
    let app = harness.state();
    assert!(errors(app).is_empty(), "{:?}", errors(app));
    let result = app.session().shown_images().expect("a result");
    assert_eq!(result.result.dimensions(), (192, 256));
    assert_eq!(garment_name(app), Some("red-sweet-print-tee"));
    // The sample is VITON's own 192x256 framing: dressed in its whole frame, her matte puts her
    // on VITON's background for the network, and her pose and matte serve the composition (old
    // sleeves bared, the photo kept off her).
    let person = app.session().person().unwrap();
    assert_eq!(person.framing, Framing::Auto(CropSource::Centre));
    assert!(person.matte.is_some() && person.keypoints.is_some());
    assert_eq!(result.person.dimensions(), person.photo.dimensions());
    assert_eq!(
        *result.person.get_pixel(2, 2),
        fitting_room::pipeline::VITON_BACKGROUND
    );
    assert_ne!(result.person.get_pixel(2, 2), person.photo.get_pixel(2, 2));
    // The window shows it: the middle of the window is mostly picture, not empty panel.
    let image = harness.render().expect("render");
    let picture = harness.get_by_label(RESULT_PICTURE).rect();
    assert!(
        picture.width() > 200.0 && picture.height() > 250.0,
        "{picture:?}"
    );
    let share = busy_share(&image, picture.shrink(picture.width() * 0.1));
    assert!(share > 0.5, "the result area is mostly empty ({share})");
}

#[test]
fn picking_a_garment_in_the_wardrobe_runs_the_tryon_and_every_view_renders() {
    let mut s = setup(Arc::new(SyntheticBackend::new().no_cameras()));
    s.options.person = Some(person_photo());
    let mut harness = harness(s.options.clone());
    run_until(&mut harness, "the wardrobe and the model", |app| {
        app.wardrobe().garments().len() >= 12
            && model_ready(app)
            && app.session().person().is_some()
    });
    harness.get_by_label("Coral V-neck top").click();
    run_until(&mut harness, "the garment's selection", |app| {
        garment_name(app) == Some("Coral V-neck top")
    });
    run_until(&mut harness, "the try-on", |app| app.session().has_result());
    assert_eq!(garment_name(harness.state()), Some("Coral V-neck top"));
    // The test model's flow is noise; the snapshots below use a known smooth flow instead (a
    // small rotation and shift), so they show the shaders, not float noise.
    let mut images = (**harness.state().session().shown_images().unwrap()).clone();
    images.flow = smooth_flow(192, 256);
    harness.state_mut().session_mut().show_images(images);
    harness.run_steps(2);

    let mut previous: Option<image::RgbaImage> = None;
    for view in ResultView::ALL {
        harness.get_by_label(view.label()).click();
        harness.run_steps(3);
        assert_eq!(harness.state().settings().view, view);
        let rendered = harness.render().expect("render");
        if let Some(prev) = &previous {
            assert_ne!(
                prev.as_raw(),
                rendered.as_raw(),
                "view {view:?} looks the same as the one before"
            );
        }
        // The shader output, cropped to the picture (the rest of the window is egui's).
        if matches!(
            view,
            ResultView::FlowColour | ResultView::FlowArrows | ResultView::FlowGrid
        ) {
            // The middle of the picture keeps the snapshots small.
            let picture = harness.get_by_label(RESULT_PICTURE).rect();
            let rect = egui::Rect::from_center_size(picture.center(), picture.size() * 0.5);
            let crop = image::imageops::crop_imm(
                &rendered,
                rect.min.x.round() as u32,
                rect.min.y.round() as u32,
                rect.width().round() as u32,
                rect.height().round() as u32,
            )
            .to_image();
            let name = format!(
                "view_{}",
                view.label().replace([':', ' '], "_").to_lowercase()
            );
            egui_kittest::image_snapshot(&crop, name.replace("__", "_"));
        }
        previous = Some(rendered);
    }
}

#[test]
fn export_writes_a_valid_file_and_a_failed_write_loses_nothing() {
    let (_setup, mut harness) = tried_on(person_photo());
    let out = tempfile::tempdir().unwrap();

    let sheet = out.path().join("sheet.png");
    harness
        .state_mut()
        .apply(Command::ExportTo(ExportKind::Sheet, sheet.clone()));
    run_until(&mut harness, "the export", |_| sheet.exists());
    let written = image::open(&sheet).expect("a readable PNG");
    assert_eq!(written.height(), 256 + 16);
    assert!(written.width() > 4 * 192);

    let result = out.path().join("result.jpg");
    harness
        .state_mut()
        .apply(Command::ExportTo(ExportKind::Result, result.clone()));
    run_until(&mut harness, "the export", |_| result.exists());
    assert_eq!(image::open(&result).unwrap().width(), 192);

    let unwritable = Path::new("/proc/fitting-room-cannot-write-here/result.png").to_path_buf();
    harness
        .state_mut()
        .apply(Command::ExportTo(ExportKind::Result, unwritable));
    run_until(&mut harness, "the export error", |app| {
        !errors(app).is_empty()
    });
    let errors = errors(harness.state());
    assert!(errors[0].contains("Export failed"), "{errors:?}");
    assert!(
        harness.state().session().has_result(),
        "the result is still there"
    );
    // No temporary file is left behind in the folder that was written.
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
}

#[test]
fn no_camera_shows_a_message_and_photos_still_work() {
    let s = setup(Arc::new(SyntheticBackend::new().no_cameras()));
    let mut harness = harness(s.options.clone());
    harness.get_by_label("Camera").click();
    run_until(&mut harness, "the camera list", |app| {
        app.capture().cameras_listed()
    });
    harness.run_steps(2);
    harness.get_by_label_contains("No camera found");
    harness
        .state_mut()
        .apply(Command::OpenPhoto(person_photo()));
    harness
        .state_mut()
        .apply(Command::OpenGarmentFile(garment_photo()));
    run_until(&mut harness, "the try-on", |app| app.session().has_result());
}

#[test]
fn a_corrupt_photo_gives_an_error_and_the_app_keeps_running() {
    let s = setup(Arc::new(SyntheticBackend::new().no_cameras()));
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("broken.jpg");
    std::fs::write(&corrupt, b"\xff\xd8\xff\xe0 this is not really a JPEG").unwrap();
    let mut harness = harness(s.options.clone());
    harness.state_mut().apply(Command::OpenPhoto(corrupt));
    run_until(&mut harness, "the error", |app| !errors(app).is_empty());
    let errors = errors(harness.state());
    assert!(errors[0].contains("broken.jpg"), "{errors:?}");
    assert!(harness.state().session().person().is_none());
    harness
        .state_mut()
        .apply(Command::OpenPhoto(person_photo()));
    harness
        .state_mut()
        .apply(Command::OpenGarmentFile(garment_photo()));
    run_until(&mut harness, "the try-on", |app| app.session().has_result());
}

#[test]
fn the_synthetic_camera_feeds_live_mode() {
    let camera = SyntheticBackend::new()
        .frame_size(640, 480)
        .frame_rate(30.0);
    let s = setup(Arc::new(camera));
    let mut harness = harness(s.options.clone());
    harness
        .state_mut()
        .apply(Command::OpenGarmentFile(garment_photo()));
    run_until(&mut harness, "model and garment", |app| {
        model_ready(app) && garment_name(app).is_some()
    });
    harness.get_by_label("Camera").click();
    run_until(&mut harness, "the camera list", |app| {
        app.capture().cameras_listed()
    });
    harness.get_by_label("Start camera").click();
    run_until(&mut harness, "camera frames", |app| {
        app.capture().last_frame().is_some()
    });
    harness.get_by_label("Live try-on").click();
    run_until(&mut harness, "three live try-ons", |app| {
        app.session().live_results() >= 3
    });
    let fps = harness.state().session().live_fps().expect("a frame rate");
    assert!(fps > 0.0);
    // The camera view draws how the last live frame was framed.
    let (framed, size) = harness
        .state()
        .session()
        .live_framing()
        .expect("the live frame's framing");
    assert_eq!(size, (640, 480));
    framed.crop.validate(640, 480).unwrap();
    if let Some(dir) = std::env::var_os("FITTING_ROOM_TEST_OUT") {
        let shot = harness.render().expect("render");
        shot.save(PathBuf::from(dir).join("live_framing.png"))
            .unwrap();
    }
    // Snapshot (Space) takes the newest frame as the person photo.
    harness.key_press(egui::Key::Space);
    run_until(&mut harness, "the snapshot try-on", |app| {
        app.session().has_result()
    });
    let person = harness.state().session().person().expect("a person");
    assert_eq!(person.photo.dimensions(), (640, 480));
}

#[test]
fn a_camera_unplugged_mid_stream_reports_it_and_photos_still_work() {
    let camera = SyntheticBackend::new()
        .frame_rate(60.0)
        .disconnect_after(10);
    let s = setup(Arc::new(camera));
    let mut harness = harness(s.options.clone());
    harness.get_by_label("Camera").click();
    run_until(&mut harness, "the camera list", |app| {
        app.capture().cameras_listed()
    });
    harness.get_by_label("Start camera").click();
    run_until(&mut harness, "the disconnect", |app| {
        !errors(app).is_empty()
    });
    assert!(errors(harness.state())[0].contains("disconnected"));
    harness
        .state_mut()
        .apply(Command::OpenPhoto(person_photo()));
    harness
        .state_mut()
        .apply(Command::OpenGarmentFile(garment_photo()));
    run_until(&mut harness, "the try-on", |app| app.session().has_result());
}

/// A file dropped on the window, as the windowing integration hands it over.
#[derive(Debug)]
struct DroppedPath(PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn files_dropped_on_the_wardrobe_become_garments_and_elsewhere_the_photo() {
    let s = setup(Arc::new(SyntheticBackend::new().no_cameras()));
    let mut harness = harness(s.options.clone());
    run_until(&mut harness, "the wardrobe", |app| {
        app.wardrobe().garments().len() == 12
    });
    // A garment photo dropped over the wardrobe panel (left).
    let garment = std::fs::read_dir(root().join("tests/fixtures/masks/cloth"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .min()
        .unwrap();
    harness.hover_at(egui::pos2(60.0, 400.0));
    harness
        .input_mut()
        .dropped_files
        .push(Arc::new(DroppedPath(garment.clone())));
    run_until(&mut harness, "the new garment", |app| {
        app.wardrobe().garments().len() == 13 && garment_name(app).is_some()
    });
    let added = harness
        .state()
        .wardrobe()
        .garments()
        .last()
        .unwrap()
        .clone();
    assert_eq!(added.origin, fitting_room::wardrobe::Origin::User);
    assert!(added.image_path.starts_with(s.user_dir.path()));
    // A photo dropped over the middle of the window.
    harness.hover_at(egui::pos2(500.0, 350.0));
    harness
        .input_mut()
        .dropped_files
        .push(Arc::new(DroppedPath(person_photo())));
    run_until(&mut harness, "the try-on", |app| app.session().has_result());
}

#[test]
fn without_a_model_the_app_says_so_and_keeps_working() {
    let mut s = setup(Arc::new(SyntheticBackend::new().no_cameras()));
    let empty = tempfile::tempdir().unwrap();
    s.options.model = Some(empty.path().to_path_buf());
    s.options.person = Some(person_photo());
    let mut harness = harness(s.options.clone());
    run_until(&mut harness, "the model error", |app| {
        matches!(app.session().model(), ModelStatus::Failed(_))
    });
    harness.run_steps(2);
    harness.get_by_label("The model could not be loaded");
    // In the middle of the window and in the status bar.
    assert!(harness.get_all_by_label_contains("no model in").count() >= 1);
    // Pointing it at a real model recovers.
    harness.state_mut().apply(Command::LoadModel(
        fitting_room::app::worker::ModelSource::Folder(root().join("tests/fixtures/model")),
    ));
    harness
        .state_mut()
        .apply(Command::OpenGarmentFile(garment_photo()));
    run_until(&mut harness, "the try-on", |app| app.session().has_result());
}

#[test]
fn the_cpu_flow_views_match_the_shader_views_in_the_app() {
    // What the app shows on the OpenGL renderer (CPU-drawn overlays) against wgpu (shaders).
    let (_setup, mut harness) = tried_on(person_photo());
    let mut images = (**harness.state().session().shown_images().unwrap()).clone();
    images.flow = smooth_flow(192, 256);
    harness.state_mut().session_mut().show_images(images);
    let ctx = harness.ctx.clone();
    let picture = |harness: &mut Harness<'static, FittingRoomApp>| {
        harness.run_steps(3);
        let image = harness.render().expect("render");
        let rect = harness.get_by_label(RESULT_PICTURE).rect();
        image::imageops::crop_imm(
            &image,
            rect.min.x.round() as u32,
            rect.min.y.round() as u32,
            rect.width().round() as u32,
            rect.height().round() as u32,
        )
        .to_image()
    };
    // With the overlay fully transparent, a flow view is the plain person photo.
    harness
        .state_mut()
        .apply(Command::SetView(ResultView::FlowColour));
    harness.state_mut().apply(Command::SetOverlayOpacity(0.0));
    let plain = picture(&mut harness);
    harness.state_mut().apply(Command::SetOverlayOpacity(0.7));
    for view in [
        ResultView::FlowColour,
        ResultView::FlowArrows,
        ResultView::FlowGrid,
    ] {
        harness.state_mut().apply(Command::SetView(view));
        flow_view::set_render_path(&ctx, FlowRenderPath::Gpu);
        let gpu = picture(&mut harness);
        flow_view::set_render_path(&ctx, FlowRenderPath::Cpu);
        let cpu = picture(&mut harness);
        let share_differing = |a: &image::RgbaImage, b: &image::RgbaImage| {
            assert_eq!(a.dimensions(), b.dimensions());
            let n = a
                .pixels()
                .zip(b.pixels())
                .filter(|(p, q)| (0..3).any(|c| p.0[c].abs_diff(q.0[c]) > 12))
                .count();
            n as f32 / (a.width() * a.height()) as f32
        };
        // The CPU picture is a texture scaled to the rect, the shader draws per screen pixel:
        // line edges may differ by a pixel, nothing else.
        let share = share_differing(&gpu, &cpu);
        assert!(
            share < 0.03,
            "{view:?}: {:.1}% of pixels differ",
            share * 100.0
        );
        // And the overlay is really there.
        let overlay = share_differing(&gpu, &plain);
        assert!(
            overlay > 0.05,
            "{view:?}: the overlay changed only {overlay}"
        );
    }
}

#[test]
fn dragging_the_crop_frame_moves_the_crop_and_reruns_the_tryon() {
    // A landscape photo with a VITON-framed person at a known place: automatic framing finds
    // that place.
    let dir = tempfile::tempdir().unwrap();
    let wide = dir.path().join("wide.png");
    let person = image::open(person_photo()).unwrap().to_rgb8();
    let mut canvas = image::RgbImage::from_pixel(800, 400, image::Rgb([240, 240, 240]));
    let small = image::imageops::resize(&person, 300, 400, image::imageops::FilterType::Triangle);
    image::imageops::replace(&mut canvas, &small, 250, 0);
    canvas.save(&wide).unwrap();

    let (_setup, mut harness) = tried_on(wide);
    let before = harness.state().session().person().unwrap().crop;
    let known = Crop {
        x: 250,
        y: 0,
        width: 300,
        height: 400,
    };
    // VITON's own framing varies from person to person; the fit to its median pose lands
    // within about this of any one photo's frame.
    assert!(crop_iou(before, known) > 0.75, "automatic crop {before}");
    let first = harness.state().session().shown_images().unwrap().clone();

    let rect = harness.get_by_label(CROP_EDITOR).rect();
    let scale = rect.width() / 800.0;
    let start = rect.center();
    let end = start + egui::vec2(-100.0 * scale, 0.0);
    harness.drag_at(start);
    harness.run_steps(1);
    for step in 1..=5 {
        harness.hover_at(start + (end - start) * (step as f32 / 5.0));
        harness.run_steps(1);
    }
    harness.drop_at(end);
    harness.run_steps(2);
    let after = harness.state().session().person().unwrap().crop;
    assert_eq!(
        (after.width, after.height, after.y),
        (before.width, before.height, before.y)
    );
    assert!(
        (i64::from(after.x) - i64::from(before.x) + 100).abs() <= 2,
        "moved 100 photo pixels left: {after:?} from {before:?}"
    );
    assert_eq!(
        harness.state().session().person().unwrap().framing,
        Framing::Manual
    );
    run_until(&mut harness, "the new try-on", |app| {
        app.session().has_result()
            && app
                .session()
                .shown_images()
                .map(|r| !Arc::ptr_eq(r, &first))
                .unwrap_or(false)
    });

    // A crop reaching past the photo's top is shown whole: the editor holds the photo and the
    // crop (800x500 photo pixels here), not the photo alone.
    let past = Crop {
        x: 250,
        y: -100,
        width: 300,
        height: 400,
    };
    harness.state_mut().apply(Command::SetCrop(past));
    harness.run_steps(2);
    assert_eq!(harness.state().session().person().unwrap().crop, past);
    let rect = harness.get_by_label(CROP_EDITOR).rect();
    let aspect = rect.width() / rect.height();
    assert!((aspect - 800.0 / 500.0).abs() < 0.02, "{rect:?}");
    if let Some(dir) = std::env::var_os("FITTING_ROOM_TEST_OUT") {
        let shot = harness.render().expect("render");
        shot.save(PathBuf::from(dir).join("crop_past_the_photo.png"))
            .unwrap();
    }
}

/// A full-body-style photo: a small person off-centre in a big, coloured room. The app frames
/// the person automatically, replaces the background for the network and shows the whole photo
/// at its own resolution with the room untouched.
#[test]
fn a_full_body_photo_is_framed_automatically_and_shown_pasted_on_its_own_background() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("room.png");
    let person = image::open(person_photo()).unwrap().to_rgb8();
    // A wall with a gradient and a floor: nothing like VITON's plain light background.
    let (w, h) = (1200u32, 900u32);
    let mut room = image::RgbImage::from_fn(w, h, |x, y| {
        if y > 700 {
            image::Rgb([120, 80, 50])
        } else {
            image::Rgb([40 + (x / 10) as u8, 90, 140 - (y / 8) as u8])
        }
    });
    let known = Crop {
        x: 420,
        y: 200,
        width: 360,
        height: 480,
    };
    let small = image::imageops::resize(
        &person,
        known.width,
        known.height,
        image::imageops::FilterType::Triangle,
    );
    // The person only (VITON's light background left out), by its colour.
    for (x, y, p) in small.enumerate_pixels() {
        if p.0.iter().map(|&c| u32::from(c)).sum::<u32>() < 660 {
            room.put_pixel(x + known.x as u32, y + known.y as u32, *p);
        }
    }
    room.save(&path).unwrap();

    let (_setup, mut harness) = tried_on(path);
    let app = harness.state();
    assert!(errors(app).is_empty(), "{:?}", errors(app));
    let subject = app.session().person().unwrap();
    assert_eq!(subject.framing, Framing::Auto(CropSource::Auto));
    assert!(
        crop_iou(subject.crop, known) > 0.75,
        "automatic crop {} for a person at {known}",
        subject.crop
    );
    assert!(subject.matte.is_some());
    let images = app.session().shown_images().expect("a result");
    let pasted = images.pasted.as_ref().expect("the pasted photo");
    assert_eq!(pasted.dimensions(), (w, h));
    // The room far from the person is the photo's own, bit for bit.
    let photo = &subject.photo;
    for (x, y) in [(10, 10), (1190, 20), (100, 880), (200, 600), (1150, 890)] {
        assert_eq!(pasted.get_pixel(x, y), photo.get_pixel(x, y), "({x},{y})");
    }
    // The window shows the whole photo.
    harness.render().expect("render");
    let picture = harness.get_by_label(RESULT_PICTURE).rect();
    let aspect = picture.width() / picture.height();
    assert!((aspect - 4.0 / 3.0).abs() < 0.03, "{picture:?}");
}

/// A photo with nobody in it: the app says so and dresses the centred crop in the network's
/// view, but the pasted photo is left as it is: no garment floats over the wall. A crop set by
/// hand is dressed and pasted.
#[test]
fn a_photo_with_nobody_in_it_is_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wall.png");
    let (w, h) = (800u32, 600u32);
    let wall = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            60 + (x / 8) as u8,
            90 + (y / 10) as u8,
            150 - (x / 10) as u8,
        ])
    });
    wall.save(&path).unwrap();

    let (_setup, mut harness) = tried_on(path);
    let app = harness.state();
    let subject = app.session().person().unwrap();
    assert!(
        matches!(subject.framing, Framing::Auto(CropSource::Fallback(_))),
        "{:?}",
        subject.framing
    );
    assert_eq!(subject.crop, Crop::centered(w, h));
    let images = app.session().shown_images().expect("a result");
    let pasted = images.pasted.as_ref().expect("the pasted photo");
    assert_eq!(pasted.as_raw(), wall.as_raw());
    // The network's view of the centred crop is dressed: the result is there.
    assert_eq!(images.result.dimensions(), (192, 256));
    let dressed = images
        .result
        .pixels()
        .zip(images.person.pixels())
        .filter(|(a, b)| a.0.iter().zip(b.0).any(|(x, y)| x.abs_diff(y) > 30))
        .count();
    assert!(dressed > 192 * 256 / 10, "{dressed}");
    let notices: Vec<String> = app.notices().iter().map(|(t, _)| t.to_string()).collect();
    assert!(
        notices.iter().any(|t| t.contains("left as it is")),
        "{notices:?}"
    );

    let manual = Crop {
        x: 250,
        y: 100,
        width: 300,
        height: 400,
    };
    set_crop_and_wait(&mut harness, manual);
    let images = harness.state().session().shown_images().unwrap();
    let pasted = images.pasted.as_ref().expect("the pasted photo");
    let changed = |inside: bool| {
        pasted
            .enumerate_pixels()
            .filter(|&(x, y, p)| {
                let within = (250..550).contains(&x) && (100..500).contains(&y);
                within == inside && p != wall.get_pixel(x, y)
            })
            .count()
    };
    assert!(changed(true) > 300 * 400 / 20, "{}", changed(true));
    assert_eq!(changed(false), 0);
}

/// A group photo (NASA's Apollo 11 crew portrait, public domain): the crop set by hand on
/// another man than the one found dresses the man it holds. The network sees him (before, the
/// matte of the man found first left the crop as VITON's empty background).
#[test]
fn a_crop_set_by_hand_on_another_person_dresses_that_person() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images/apollo11-crew.jpg");
    let (_setup, mut harness) = tried_on(path);
    let found = harness.state().session().person().unwrap();
    let shoulders = {
        let k = found.keypoints.as_ref().expect("a person found");
        ((k[11].x + k[12].x) / 2.0, (k[11].y + k[12].y) / 2.0)
    };
    // The man on the right, seated.
    let manual = Crop {
        x: 330,
        y: 120,
        width: 260,
        height: 347,
    };
    assert!(
        !(330.0..590.0).contains(&shoulders.0),
        "the premise: the man found is another ({shoulders:?})"
    );
    set_crop_and_wait(&mut harness, manual);
    let images = harness.state().session().shown_images().unwrap();
    // The network's input: the man in the middle of the frame, not VITON's plain background.
    let person = person_pixels_in_middle(&images.person);
    assert!(person > 96 * 140 / 2, "{person} of {} pixels", 96 * 140);
    let errors = errors(harness.state());
    assert!(errors.is_empty(), "{errors:?}");
    // The capture panel shows the man dressed: his skeleton, not the one found first.
    let person = harness.state().session().person().unwrap();
    let dressed = person.dressed();
    assert_eq!(dressed.in_crop, Some(manual));
    let k = dressed
        .keypoints
        .expect("the keypoints of the man in the crop");
    let shoulders = ((k[11].x + k[12].x) / 2.0, (k[11].y + k[12].y) / 2.0);
    assert!((330.0..590.0).contains(&shoulders.0), "{shoulders:?}");
    assert!(dressed.matte.is_some());
    if let Some(dir) = std::env::var_os("FITTING_ROOM_TEST_OUT") {
        let shot = harness.render().expect("render");
        shot.save(PathBuf::from(dir).join("crop_on_another_person.png"))
            .unwrap();
    }
}

/// A photo taken in a dim room (a bundled person at a quarter of the light): the try-on is
/// matched to its light, and the result panel says so; a photo in full light says nothing.
#[test]
fn a_dim_photo_is_matched_to_its_light_and_the_app_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let person = image::open(person_photo()).unwrap().to_rgb8();
    let (lit, dim) = lit_and_dim_photos(&person);
    for (name, photo, dim_expected) in [("lit.png", &lit, false), ("dim.png", &dim, true)] {
        let path = dir.path().join(name);
        photo.save(&path).unwrap();
        let (_setup, mut harness) = tried_on(path);
        let images = harness.state().session().shown_images().expect("a result");
        assert_eq!(
            !images.exposure.is_neutral(),
            dim_expected,
            "{name}: {:?}",
            images.exposure
        );
        harness.render().expect("render");
        assert_eq!(
            harness.query_by_label(DIM_PHOTO).is_some(),
            dim_expected,
            "{name}"
        );
    }
}
