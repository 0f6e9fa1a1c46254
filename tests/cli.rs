//! The `fitting-room` command as users and scripts call it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    out
}

fn ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a failing command and returns its error message.
fn fails(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A VITON-layout folder at `data` (`image/`, `cloth/`, `cloth-mask/`) holding copies of the
/// `persons` and of one garment with its mask, under the names given.
fn viton_folder(data: &Path, persons: &[(&Path, &str)], garment: (&Path, &Path, &str)) -> PathBuf {
    for sub in ["image", "cloth", "cloth-mask"] {
        std::fs::create_dir_all(data.join(sub)).unwrap();
    }
    for (photo, name) in persons {
        std::fs::copy(photo, data.join("image").join(name)).unwrap();
    }
    let (photo, mask, name) = garment;
    std::fs::copy(photo, data.join("cloth").join(name)).unwrap();
    std::fs::copy(mask, data.join("cloth-mask").join(name)).unwrap();
    data.to_path_buf()
}

fn fixture_inputs() -> [PathBuf; 3] {
    let dir = model_fixtures();
    [
        dir.join("person.png"),
        dir.join("garment.png"),
        dir.join("garment_mask.png"),
    ]
}

fn tryon_cmd(model: &[&str], out_dir: &Path) -> Command {
    let mut cmd = bin();
    fixture_tryon_args(&mut cmd, out_dir).args(model);
    cmd
}

/// `tryon` on the fixture person, garment and mask on the CPU, writing `out.png` and
/// `dump.safetensors` (for [`check_dump`]) into `out_dir`.
fn fixture_tryon_args<'a>(cmd: &'a mut Command, out_dir: &Path) -> &'a mut Command {
    let [person, garment, mask] = fixture_inputs();
    cmd.arg("tryon")
        .arg("--person")
        .arg(person)
        .arg("--garment")
        .arg(garment)
        .arg("--mask")
        .arg(mask)
        .args(["--device", "cpu"])
        .arg("--out")
        .arg(out_dir.join("out.png"))
        .arg("--dump")
        .arg(out_dir.join("dump.safetensors"))
}

/// `tryon` of `photo` with the fixture garment, mask and model on the CPU (add `--out`).
fn tryon_photo(photo: &Path) -> Command {
    let [_, garment, mask] = fixture_inputs();
    let model = model_fixtures().join("PFAFN");
    let mut cmd = bin();
    cmd.arg("tryon")
        .arg("--person")
        .arg(photo)
        .arg("--garment")
        .arg(garment)
        .arg("--mask")
        .arg(mask)
        .args(["--model", model.to_str().unwrap(), "--device", "cpu"]);
    cmd
}

/// Runs [`tryon_photo`] with `--out` and `--pasted` in `dir`; its log and the pasted photo.
fn tryon_pasted(photo: &Path, dir: &Path) -> (String, image::RgbImage) {
    let out = ok(tryon_photo(photo)
        .arg("--out")
        .arg(dir.join("out.png"))
        .arg("--pasted")
        .arg(dir.join("pasted.png")));
    let pasted = image::open(dir.join("pasted.png")).unwrap().to_rgb8();
    (String::from_utf8_lossy(&out.stderr).into_owned(), pasted)
}

fn check_dump(out_dir: &Path) {
    let reference = load(model_fixtures().join("reference.safetensors"));
    let dump = load(out_dir.join("dump.safetensors"));
    for name in [
        "warped_cloth",
        "last_flow",
        "warped_edge",
        "p_rendered",
        "m_composite",
        "p_tryon",
    ] {
        let t = get(&dump, name);
        let tol = if name == "last_flow" {
            (FLOW_MAX, FLOW_MAX)
        } else {
            (IMAGE_MAX, IMAGE_MEAN)
        };
        assert_eq!(t.dims()[0], 1);
        assert_eq!(&t.dims()[2..], &[256, 192], "{name}");
        assert_close(name, &t, &get(&reference, name), tol.0, tol.1);
    }
    // The PNG is the dumped try-on, quantised.
    let png = image::open(out_dir.join("out.png")).unwrap().to_rgb8();
    assert_eq!(png.dimensions(), (192, 256));
    let from_dump = fitting_room::pipeline::tensor_to_rgb(&get(&dump, "p_tryon")).unwrap();
    assert_eq!(png, from_dump);
}

#[test]
fn tryon_from_the_official_folder_matches_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_fixtures().join("PFAFN");
    ok(&mut tryon_cmd(
        &["--model", model.to_str().unwrap()],
        tmp.path(),
    ));
    check_dump(tmp.path());
}

#[test]
fn tryon_from_each_file_format_matches_reference() {
    let dir = model_fixtures();
    for (warp, generator) in [
        ("warp.safetensors", "gen.safetensors"),
        ("warp_zip.pth", "gen_zip.pth"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let (w, g) = (dir.join(warp), dir.join(generator));
        ok(&mut tryon_cmd(
            &["--warp", w.to_str().unwrap(), "--gen", g.to_str().unwrap()],
            tmp.path(),
        ));
        check_dump(tmp.path());
    }
}

#[test]
fn tryon_writes_warped_garment_and_flow_pictures() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_fixtures().join("PFAFN");
    let mut cmd = tryon_cmd(&["--model", model.to_str().unwrap()], tmp.path());
    cmd.arg("--warped")
        .arg(tmp.path().join("warped.png"))
        .arg("--flow")
        .arg(tmp.path().join("flow.png"));
    ok(&mut cmd);
    let warped = image::open(tmp.path().join("warped.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(warped.dimensions(), (192, 256));
    let flow = image::open(tmp.path().join("flow.png")).unwrap().to_rgb8();
    assert_eq!(flow.dimensions(), (192, 256));
    // The fixture's flow moves the garment: the colour wheel is not all white.
    let coloured = flow.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    assert!(coloured > 192 * 256 / 2, "flow picture is mostly white");
}

#[test]
fn truncated_or_foreign_checkpoints_give_clean_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_fixtures();
    let bytes = std::fs::read(dir.join("PFAFN/warp_model_final.pth")).unwrap();
    let truncated = tmp.path().join("truncated.pth");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let foreign = dir.join("person.png");
    let generator = dir.join("gen.safetensors");
    for bad in [&truncated, &foreign] {
        let err = fails(&mut tryon_cmd(
            &[
                "--warp",
                bad.to_str().unwrap(),
                "--gen",
                generator.to_str().unwrap(),
            ],
            tmp.path(),
        ));
        assert!(err.contains("error:"), "{err}");
        assert!(err.contains(bad.to_str().unwrap()), "names the file: {err}");
    }
    assert!(!tmp.path().join("out.png").exists(), "no output on failure");
}

#[test]
fn swapped_checkpoints_name_the_missing_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_fixtures();
    let (w, g) = (dir.join("gen.safetensors"), dir.join("warp.safetensors"));
    let err = fails(&mut tryon_cmd(
        &["--warp", w.to_str().unwrap(), "--gen", g.to_str().unwrap()],
        tmp.path(),
    ));
    assert!(err.contains("image_features.encoders.0"), "{err}");
}

#[test]
fn missing_mask_and_bad_images_are_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let [person, garment, _] = fixture_inputs();
    let model = model_fixtures().join("PFAFN");
    // Without --mask, the mask is computed from the garment photo.
    let out = tmp.path().join("o.png");
    ok(bin()
        .arg("tryon")
        .arg("--person")
        .arg(&person)
        .arg("--garment")
        .arg(&garment)
        .arg("--model")
        .arg(&model)
        .args(["--device", "cpu"])
        .arg("--out")
        .arg(&out));
    let written = image::open(&out).unwrap().to_rgb8();
    assert_eq!(written.dimensions(), (192, 256));

    let corrupt = tmp.path().join("corrupt.jpg");
    std::fs::write(&corrupt, b"\xff\xd8\xff\xe0 definitely not a jpeg").unwrap();
    let cmd = tryon_cmd(&["--model", model.to_str().unwrap()], tmp.path());
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let mut cmd = bin();
    for a in args {
        cmd.arg(if a == person.as_os_str() {
            corrupt.as_os_str().to_owned()
        } else {
            a
        });
    }
    let err = fails(&mut cmd);
    assert!(err.contains("corrupt.jpg"), "{err}");
}

#[test]
fn unwritable_output_is_an_error_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_fixtures().join("PFAFN");
    let [person, garment, mask] = fixture_inputs();
    let missing_dir = tmp.path().join("no/such/dir/out.png");
    let err = fails(
        bin()
            .arg("tryon")
            .args(["--person", person.to_str().unwrap()])
            .args(["--garment", garment.to_str().unwrap()])
            .args(["--mask", mask.to_str().unwrap()])
            .args(["--model", model.to_str().unwrap()])
            .arg("--out")
            .arg(&missing_dir),
    );
    assert!(err.contains("cannot write"), "{err}");
}

#[test]
fn batch_writes_every_pair_with_extras() {
    let tmp = tempfile::tempdir().unwrap();
    let [person, garment, mask] = fixture_inputs();
    let data = viton_folder(
        &tmp.path().join("data"),
        &[(&person, "000001_0.png"), (&person, "000002_0.png")],
        (&garment, &mask, "000003_1.png"),
    );
    let pairs = tmp.path().join("pairs.txt");
    std::fs::write(
        &pairs,
        "000001_0.png 000003_1.png\n\n000002_0.png 000003_1.png\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let model = model_fixtures().join("PFAFN");
    ok(batch_cmd(&data, &pairs, &out).arg("--extras").args([
        "--model",
        model.to_str().unwrap(),
        "--device",
        "cpu",
    ]));
    for stem in ["000001_0__000003_1", "000002_0__000003_1"] {
        for suffix in ["", "_warped", "_warped_mask"] {
            let path = out.join(format!("{stem}{suffix}.png"));
            let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!((img.width(), img.height()), (192, 256));
        }
    }
    // The batch result is the same try-on as the single one.
    let reference = load(model_fixtures().join("reference.safetensors"));
    let expected = fitting_room::pipeline::tensor_to_rgb(&get(&reference, "p_tryon")).unwrap();
    let got = image::open(out.join("000001_0__000003_1.png"))
        .unwrap()
        .to_rgb8();
    let differing = got
        .pixels()
        .zip(expected.pixels())
        .filter(|(a, b)| a.0.iter().zip(b.0).any(|(x, y)| x.abs_diff(y) > 1))
        .count();
    assert_eq!(differing, 0);

    // A pair whose files are missing fails the run and is named, the others are still written.
    std::fs::write(
        &pairs,
        "000001_0.png 000003_1.png\nnobody.png 000003_1.png\n",
    )
    .unwrap();
    let out2 = tmp.path().join("out2");
    let err = fails(batch_cmd(&data, &pairs, &out2).args(["--model", model.to_str().unwrap()]));
    assert!(err.contains("nobody.png"), "{err}");
    assert!(out2.join("000001_0__000003_1.png").exists());
}

#[test]
fn convert_writes_loadable_safetensors() {
    let tmp = tempfile::tempdir().unwrap();
    let src = model_fixtures().join("PFAFN");
    let bundle = tmp.path().join("bundle");
    ok(bin().arg("convert").arg(&src).arg(&bundle));
    let original = load(src.join("warp_model_final.pth"));
    let converted = load(bundle.join("warp.safetensors"));
    assert_eq!(
        fitting_room::weights::detect_format(&bundle.join("warp.safetensors")).unwrap(),
        fitting_room::weights::CheckpointFormat::Safetensors
    );
    for key in original.keys() {
        let (a, b) = (original.get(key).unwrap(), converted.get(key).unwrap());
        assert_eq!(a.dims(), b.dims(), "{key}");
    }
    // The converted bundle gives the same try-on.
    let out = tmp.path().join("run");
    std::fs::create_dir_all(&out).unwrap();
    ok(&mut tryon_cmd(&["--model", bundle.to_str().unwrap()], &out));
    check_dump(&out);

    // A single file converts too.
    let single = tmp.path().join("gen.safetensors");
    ok(bin()
        .arg("convert")
        .arg(src.join("gen_model_final.pth"))
        .arg(&single));
    assert!(load(&single).contains("model.model.0.weight"));
}

#[test]
fn bench_prints_json_with_stages_and_memory() {
    let model = model_fixtures().join("PFAFN");
    let out = ok(bin().args([
        "bench",
        "--model",
        model.to_str().unwrap(),
        "--device",
        "cpu",
        "--iters",
        "2",
        "--json",
    ]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let median = report["median_ms"].as_f64().unwrap();
    assert!(median > 0.0);
    let stages = report["stages"].as_object().unwrap();
    for stage in ["warp_ms", "generator_ms", "composite_ms"] {
        assert!(stages[stage].as_f64().unwrap() >= 0.0, "{stage}");
    }
    let stage_sum: f64 = stages.values().filter_map(|v| v.as_f64()).sum();
    assert!(
        stage_sum <= median * 1.5 + 1.0,
        "stages {stage_sum} vs whole {median}"
    );
    assert!(report["peak_rss_mb"].as_f64().unwrap() > 1.0);
    assert_eq!(report["model"]["generator"]["downsamplings"], 5);
}

/// The whole chain timed on a person photo with a real garment (its mask computed), with and
/// without the old top's band step; a garment that cannot be read is a clear error.
#[test]
fn bench_times_the_chain_on_a_photo_and_a_garment() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model = model_fixtures().join("PFAFN");
    let person = root.join("assets/persons/000523_0.jpg");
    let garment = root.join("assets/wardrobe/pastel-striped-tee.jpg");
    let run = |garment: &Path, hem: &str| {
        bin()
            .args([
                "bench",
                "--model",
                model.to_str().unwrap(),
                "--device",
                "cpu",
            ])
            .args(["--iters", "1", "--json", "--hem", hem, "--photo"])
            .arg(&person)
            .arg("--garment")
            .arg(garment)
            .output()
            .unwrap()
    };
    for hem in ["mirror", "keep"] {
        let out = run(&garment, hem);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for stage in ["person_models", "tryon", "paste_back"] {
            assert!(
                report["stages_ms"][stage].as_f64().unwrap() > 0.0,
                "{stage}"
            );
        }
    }
    let missing = run(&root.join("no-such-garment.jpg"), "mirror");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-garment.jpg"));
}

#[test]
fn bench_batches_try_ons_and_reports_their_rate() {
    let model = model_fixtures().join("PFAFN");
    let out = ok(bin().args([
        "bench",
        "--model",
        model.to_str().unwrap(),
        "--device",
        "cpu",
        "--iters",
        "1",
        "--batch",
        "3",
        "--json",
    ]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["batch"], 3);
    let median = report["median_ms"].as_f64().unwrap();
    let rate = report["tryons_per_s"].as_f64().unwrap();
    assert!(
        (rate - 3e3 / median).abs() < 1e-6 * rate,
        "{rate} vs {median} ms"
    );
    let refused = bin()
        .args(["bench", "--model", model.to_str().unwrap(), "--batch", "0"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--batch"));
}

#[test]
fn crop_hires_and_paste_back_from_a_large_photo() {
    let tmp = tempfile::tempdir().unwrap();
    let [person, _, _] = fixture_inputs();
    // A 1000x900 "photo" with the person scaled up inside it.
    let small = image::open(&person).unwrap().to_rgb8();
    let big = image::imageops::resize(&small, 576, 768, image::imageops::FilterType::CatmullRom);
    let mut photo = image::RgbImage::from_pixel(1000, 900, image::Rgb([70, 90, 110]));
    image::imageops::replace(&mut photo, &big, 300, 100);
    let photo_path = tmp.path().join("photo.jpg");
    photo.save(&photo_path).unwrap();
    let mut cmd = tryon_photo(&photo_path);
    cmd.args(["--crop", "300,100,576,768", "--hires"])
        .arg("--out")
        .arg(tmp.path().join("hires.png"))
        .arg("--pasted")
        .arg(tmp.path().join("pasted.png"));
    ok(&mut cmd);
    let hires = image::open(tmp.path().join("hires.png")).unwrap().to_rgb8();
    assert_eq!(hires.dimensions(), (576, 768));
    let pasted = image::open(tmp.path().join("pasted.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(pasted.dimensions(), (1000, 900));
    assert_eq!(
        pasted.get_pixel(300 + 20, 100 + 20),
        hires.get_pixel(20, 20)
    );
    // Outside the crop the photo is kept (JPEG-decoded, so compare with what was written).
    let written = image::open(&photo_path).unwrap().to_rgb8();
    assert_eq!(pasted.get_pixel(50, 50), written.get_pixel(50, 50));

    // Without --hires the result is the network's 192x256.
    let mut cmd = tryon_photo(&photo_path);
    cmd.arg("--out").arg(tmp.path().join("low.png"));
    ok(&mut cmd);
    let low = image::open(tmp.path().join("low.png")).unwrap().to_rgb8();
    assert_eq!(low.dimensions(), (192, 256));

    // A crop that is not 3:4, or has its centre outside the photo, is refused with the reason.
    for (crop, reason) in [("0,0,500,500", "3:4"), ("900,800,576,768", "centre")] {
        let mut cmd = tryon_photo(&photo_path);
        cmd.args(["--crop", crop])
            .arg("--out")
            .arg(tmp.path().join("x.png"));
        let err = fails(&mut cmd);
        assert!(err.contains(reason), "{crop}: {err}");
    }
}

/// The Debian package's layout: the program in `usr/bin`, the model in
/// `usr/share/fitting-room/models/default`. A copy of the binary there finds the model with no
/// flag, run from a folder with no checkout around.
#[test]
fn installed_program_finds_the_model_in_its_share_folder() {
    let root = tempfile::tempdir().unwrap();
    let bin_dir = root.path().join("usr/bin");
    let model_dir = root.path().join("usr/share/fitting-room/models/default");
    let work = root.path().join("work");
    for dir in [&bin_dir, &model_dir, &work] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let exe = bin_dir.join(format!("fitting-room{}", std::env::consts::EXE_SUFFIX));
    std::fs::copy(env!("CARGO_BIN_EXE_fitting-room"), &exe).unwrap();
    for name in ["warp.safetensors", "gen.safetensors"] {
        std::fs::copy(model_fixtures().join(name), model_dir.join(name)).unwrap();
    }
    let installed = || {
        let mut cmd = Command::new(&exe);
        cmd.current_dir(&work)
            .env("RUST_LOG", "info")
            .env_remove(fitting_room::model::MODEL_ENV);
        fixture_tryon_args(&mut cmd, &work);
        cmd
    };
    let out = ok(&mut installed());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains(&model_dir.join("warp.safetensors").display().to_string()),
        "{log}"
    );
    check_dump(&work);

    // The environment variable names a model anywhere.
    let elsewhere = root.path().join("elsewhere");
    std::fs::rename(&model_dir, &elsewhere).unwrap();
    let out = ok(installed().env(fitting_room::model::MODEL_ENV, &elsewhere));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains(&elsewhere.display().to_string()), "{log}");

    // With no model anywhere the error says where it looked, the share folder included.
    let err = fails(&mut installed());
    assert!(err.contains("no model found"), "{err}");
    assert!(err.contains(&model_dir.display().to_string()), "{err}");
}

#[test]
fn app_refuses_a_wardrobe_that_is_not_a_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-wardrobe");
    let err = fails(bin().arg("--wardrobe").arg(&missing));
    assert!(err.contains("--wardrobe"), "{err}");
    assert!(err.contains("is not a folder"), "{err}");
}

/// A photo with nobody in it: the centred crop, the user told why, and the whole photo written
/// at its own size, as it is (no garment floating over nobody).
#[test]
fn tryon_without_a_person_falls_back_to_the_centred_crop_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();

    let photo = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x / 3) as u8, (y / 2) as u8, 90])
    });
    let photo_path = tmp.path().join("wall.png");
    photo.save(&photo_path).unwrap();
    let (stderr, pasted) = tryon_pasted(&photo_path, tmp.path());
    assert!(
        stderr.contains("no person found") && stderr.contains("centred crop"),
        "{stderr}"
    );
    assert_eq!(pasted.dimensions(), (640, 480));
    assert!(stderr.contains("left as it is"), "{stderr}");
    assert_eq!(pasted.as_raw(), photo.as_raw());
}

/// A photo in which the pose models read a person with no face (the Hubble Deep Field's stars):
/// the user is told no person can be framed, and the photo is written back as it is.
#[test]
fn tryon_on_a_pose_without_a_face_keeps_the_photo_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let photo_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images/stars.jpg");
    let (stderr, pasted) = tryon_pasted(&photo_path, tmp.path());
    assert!(
        stderr.contains("no person can be framed") && stderr.contains("no face"),
        "{stderr}"
    );
    assert!(stderr.contains("left as it is"), "{stderr}");
    let photo = fitting_room::pipeline::load_rgb(&photo_path).unwrap();
    assert_eq!(pasted.as_raw(), photo.as_raw());
}

/// A seated man in front of a standing one (the left part of NASA's Apollo 11 crew portrait,
/// public domain): the seated man is dressed, and the standing man beside him and the rest of
/// the photo are written back bit for bit.
#[test]
fn tryon_dresses_the_seated_person_in_front_and_leaves_the_one_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let crew_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images/apollo11-crew.jpg");
    let crew = fitting_room::pipeline::load_rgb(&crew_path).unwrap();
    let left = image::imageops::crop_imm(&crew, 0, 100, 330, 371).to_image();
    let photo_path = tmp.path().join("seated.png");
    left.save(&photo_path).unwrap();
    let (stderr, pasted) = tryon_pasted(&photo_path, tmp.path());
    assert!(!stderr.contains("left as it is"), "{stderr}");
    assert_eq!(pasted.dimensions(), left.dimensions());
    let changed = |x0: u32, x1: u32, y0: u32, y1: u32| {
        let mut n = 0;
        for y in y0..y1 {
            for x in x0..x1 {
                n += usize::from(pasted.get_pixel(x, y) != left.get_pixel(x, y));
            }
        }
        n
    };
    // The seated man's chest and the standing man's face and shoulders.
    assert!(
        changed(90, 200, 180, 280) > 5_000,
        "the seated man is not dressed"
    );
    assert_eq!(changed(250, 330, 0, 60), 0, "the man behind was changed");
}

/// `--crop` on another man of a group photo than the one automatic framing finds (NASA's Apollo
/// 11 crew portrait, public domain): the network sees the man the crop holds, cut out on VITON's
/// background, not an empty background.
#[test]
fn a_crop_given_on_another_person_dresses_that_person() {
    let tmp = tempfile::tempdir().unwrap();
    let crew =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images/apollo11-crew.jpg");
    let seen_path = tmp.path().join("seen.png");
    ok(tryon_photo(&crew)
        .args(["--crop", "330,120,260,347", "--out"])
        .arg(tmp.path().join("out.png"))
        .arg("--seen")
        .arg(&seen_path));
    let seen = image::open(&seen_path).unwrap().to_rgb8();
    let background = fitting_room::pipeline::VITON_BACKGROUND;
    let person = person_pixels_in_middle(&seen);
    assert!(person > 96 * 140 / 2, "{person} of {} pixels", 96 * 140);
    // Far from him, at the frame's top corners, VITON's background.
    for (x, y) in [(2, 2), (189, 2)] {
        assert_eq!(*seen.get_pixel(x, y), background, "({x},{y})");
    }
}

/// A photo taken in a dim room (a bundled person with a quarter of the light, in linear terms,
/// the default model and a light garment): by default the network sees the person brightened
/// and the new garment is pasted in the photo's light; with `--exposure keep` it glows at its
/// product shot's brightness. A photo in VITON's light is not touched.
#[test]
fn in_a_dim_photo_the_garment_takes_the_photos_light() {
    let tmp = tempfile::tempdir().unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let person =
        fitting_room::pipeline::load_rgb(&root.join("assets/persons/000523_0.jpg")).unwrap();
    let (lit, dim) = lit_and_dim_photos(&person);
    let run = |name: &str, photo: &image::RgbImage, exposure: &str| {
        let path = tmp.path().join(format!("{name}.png"));
        photo.save(&path).unwrap();
        let out = ok(bin()
            .env("RUST_LOG", "info")
            .arg("tryon")
            .arg("--person")
            .arg(&path)
            .arg("--garment")
            .arg(root.join("assets/wardrobe/pastel-striped-tee.jpg"))
            .arg("--model")
            .arg(root.join("models/default"))
            .args(["--device", "cpu", "--exposure", exposure, "--out"])
            .arg(tmp.path().join(format!("{name}_out.png")))
            .arg("--seen")
            .arg(tmp.path().join(format!("{name}_seen.png")))
            .arg("--pasted")
            .arg(tmp.path().join(format!("{name}_pasted.png"))));
        let read = |what: &str| {
            image::open(tmp.path().join(format!("{name}_{what}.png")))
                .unwrap()
                .to_rgb8()
        };
        (
            String::from_utf8_lossy(&out.stderr).into_owned(),
            read("seen"),
            read("pasted"),
        )
    };
    let (log_lit, _, _) = run("lit", &lit, "match");
    assert!(!log_lit.contains("dim"), "{log_lit}");
    let (log_keep, seen_keep, pasted_keep) = run("keep", &dim, "keep");
    assert!(!log_keep.contains("dim"), "{log_keep}");
    let (log, seen, pasted) = run("match", &dim, "match");
    let gain: f64 = log
        .split("the photo is dim: the network sees the person ")
        .nth(1)
        .and_then(|rest| rest.split('x').next())
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("no gain in the log: {log}"));
    assert!((1.2..=4.0).contains(&gain), "{gain}");

    // The network saw the person brighter: the mean of the person's pixels (where the view with
    // the photo's light is not VITON's background) by about the gain, in linear light.
    let background = fitting_room::pipeline::VITON_BACKGROUND;
    let (mut kept, mut matched, mut n) = (0.0, 0.0, 0);
    for (k, m) in seen_keep.pixels().zip(seen.pixels()) {
        if k.0
            .iter()
            .zip(background.0)
            .all(|(a, b)| a.abs_diff(b) > 20)
        {
            kept += (0..3).map(|c| linear(k[c])).sum::<f64>();
            matched += (0..3).map(|c| linear(m[c])).sum::<f64>();
            n += 1;
        }
    }
    assert!(n > 5_000, "{n} person pixels");
    let seen_ratio = matched / kept;
    assert!(
        seen_ratio > 0.8 * gain && seen_ratio < 1.1 * gain,
        "{seen_ratio} vs {gain}"
    );

    // The new garment, where `keep` pasted it (far from the dim photo's own pixels): darker by
    // about the gain, in linear light.
    let (mut glowing, mut shaded, mut n) = (0.0, 0.0, 0);
    for ((d, k), m) in dim.pixels().zip(pasted_keep.pixels()).zip(pasted.pixels()) {
        if (0..3).map(|c| d[c].abs_diff(k[c]) as u32).sum::<u32>() > 150 {
            glowing += (0..3).map(|c| linear(k[c])).sum::<f64>();
            shaded += (0..3).map(|c| linear(m[c])).sum::<f64>();
            n += 1;
        }
    }
    assert!(n > 10_000, "{n} garment pixels");
    let ratio = shaded / glowing;
    assert!(
        ratio < 1.2 / gain && ratio > 0.7 / gain,
        "{ratio} vs 1/{gain}"
    );
    // Outside the person the dim photo is kept as it was.
    assert_eq!(pasted.get_pixel(5, 5), dim.get_pixel(5, 5));
}

/// A seated man in a long-sleeved suit (NASA's Apollo 11 crew portrait, public domain, its
/// right part) dressed in a short-sleeved T-shirt with the default model: by default the old
/// sleeves the T-shirt leaves uncovered are painted as bare arms, in the skin colour of his
/// face; with `--sleeves keep` they stay as the network renders them. Only pixels on and next
/// to his matte differ, none on his face.
#[test]
fn old_sleeves_become_bare_arms_unless_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let crew =
        fitting_room::pipeline::load_rgb(&root.join("tests/fixtures/images/apollo11-crew.jpg"))
            .unwrap();
    let photo = image::imageops::crop_imm(&crew, 330, 60, 270, 411).to_image();
    let photo_path = tmp.path().join("seated.png");
    photo.save(&photo_path).unwrap();
    let run = |sleeves: &str| {
        let pasted = tmp.path().join(format!("{sleeves}.png"));
        let matte = tmp.path().join(format!("{sleeves}_matte.png"));
        ok(bin()
            .arg("tryon")
            .arg("--person")
            .arg(&photo_path)
            .arg("--garment")
            .arg(root.join("assets/wardrobe/pastel-striped-tee.jpg"))
            .arg("--model")
            .arg(root.join("models/default"))
            .args(["--device", "cpu", "--sleeves", sleeves, "--out"])
            .arg(tmp.path().join(format!("{sleeves}_out.png")))
            .arg("--matte")
            .arg(&matte)
            .arg("--pasted")
            .arg(&pasted));
        (
            image::open(pasted).unwrap().to_rgb8(),
            image::open(matte).unwrap().to_luma8(),
        )
    };
    let (bare, matte) = run("bare");
    let (kept, _) = run("keep");
    assert_eq!(bare.dimensions(), photo.dimensions());

    // His face's colour, from the keypoints `person` finds.
    let keypoints_dir = tmp.path().join("person");
    ok(bin()
        .arg("person")
        .arg(&photo_path)
        .args(["--device", "cpu", "--out"])
        .arg(&keypoints_dir));
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(keypoints_dir.join("keypoints.json")).unwrap(),
    )
    .unwrap();
    let nose = &json["person"]["keypoints"][0];
    let (nx, ny) = (
        nose["x"].as_f64().unwrap() as u32,
        nose["y"].as_f64().unwrap() as u32,
    );
    let mut face = [0.0f64; 3];
    for y in ny + 4..ny + 10 {
        for x in nx - 8..nx + 8 {
            for (c, f) in face.iter_mut().enumerate() {
                *f += f64::from(photo.get_pixel(x, y)[c]) / 96.0;
            }
        }
    }

    let (w, h) = bare.dimensions();
    let near_matte = |x: u32, y: u32| {
        (y.saturating_sub(8)..(y + 9).min(h)).any(|yy| {
            (x.saturating_sub(8)..(x + 9).min(w)).any(|xx| matte.get_pixel(xx, yy)[0] > 0)
        })
    };
    let (mut differ, mut bare_far, mut kept_far) = (0usize, 0.0f64, 0.0f64);
    for (x, y, b) in bare.enumerate_pixels() {
        let k = kept.get_pixel(x, y);
        if b == k {
            continue;
        }
        differ += 1;
        assert!(near_matte(x, y), "({x}, {y}) changed off the person");
        assert!(
            y > ny + 30,
            "({x}, {y}) changed at the face (nose at {nx}, {ny})"
        );
        let far = |p: &image::Rgb<u8>| {
            (0..3)
                .map(|c| (f64::from(p[c]) - face[c]).abs())
                .sum::<f64>()
                / 3.0
        };
        bare_far += far(b);
        kept_far += far(k);
    }
    assert!(differ > 1_000, "only {differ} pixels differ");
    // What changed is nearer the face's colour when bared.
    let (bare_far, kept_far) = (bare_far / differ as f64, kept_far / differ as f64);
    assert!(
        bare_far + 10.0 < kept_far,
        "bare {bare_far:.1}, kept {kept_far:.1}"
    );
}

/// A 192x256 photo is VITON's own input: the network sees it as it is, and its person is still
/// found for the composition. A short new garment over the bundled person's ruffled sleeves
/// bares them; a long-sleeved one's own sleeves belong on her arms, which are left to the
/// network even where its warp stops short.
#[test]
fn a_viton_photo_is_seen_as_it_is_unless_asked_and_bared_unless_the_garment_has_long_sleeves() {
    let tmp = tempfile::tempdir().unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let person = root.join("assets/persons/004285_0.jpg");
    let run = |garment: &str, sleeves: &str, background: Option<&str>| {
        let name = format!("{garment}_{sleeves}_{}", background.unwrap_or("default"));
        let out = tmp.path().join(format!("{name}.png"));
        let seen = tmp.path().join(format!("{name}_seen.png"));
        ok(bin()
            .arg("tryon")
            .arg("--person")
            .arg(&person)
            .arg("--garment")
            .arg(root.join(format!("assets/wardrobe/{garment}.jpg")))
            .arg("--mask")
            .arg(root.join(format!("assets/wardrobe/{garment}.mask.png")))
            .arg("--model")
            .arg(root.join("models/default"))
            .args(["--device", "cpu", "--hires", "--sleeves", sleeves])
            .args(
                background
                    .map(|b| ["--background", b])
                    .into_iter()
                    .flatten(),
            )
            .arg("--out")
            .arg(&out)
            .arg("--seen")
            .arg(&seen));
        (
            image::open(out).unwrap().to_rgb8(),
            image::open(seen).unwrap().to_rgb8(),
        )
    };
    let photo = fitting_room::pipeline::load_rgb(&person).unwrap();
    // Unless asked, the network sees VITON's own input as it is (the official test path) ...
    let (bare, seen) = run("pastel-striped-tee", "bare", None);
    let (kept, _) = run("pastel-striped-tee", "keep", None);
    assert_eq!(seen, photo, "the network saw the photo as it is");
    let differ = bare
        .pixels()
        .zip(kept.pixels())
        .filter(|(a, b)| a != b)
        .count();
    assert!(differ > 100, "{differ} pixels bared");
    // ... and with `--background replace` (as the app does) her matte puts her on VITON's
    // background in the same frame: the studio's backdrop in the corners becomes VITON's
    // colour, her face stays as it is.
    let (_, replaced) = run("pastel-striped-tee", "bare", Some("replace"));
    assert_eq!(replaced.dimensions(), photo.dimensions());
    assert_eq!(
        *replaced.get_pixel(2, 2),
        fitting_room::pipeline::VITON_BACKGROUND
    );
    assert_ne!(photo.get_pixel(2, 2), replaced.get_pixel(2, 2));
    let face = (96, 30);
    let (a, b) = (
        photo.get_pixel(face.0, face.1),
        replaced.get_pixel(face.0, face.1),
    );
    assert!((0..3).all(|c| a[c].abs_diff(b[c]) <= 2), "{a:?} {b:?}");
    let (bare, _) = run("blue-striped-lace-up-top", "bare", None);
    let (kept, _) = run("blue-striped-lace-up-top", "keep", None);
    assert_eq!(bare, kept);
}

/// The warp module reads any photo but VITON's own input twice by default, the second time
/// mirrored (`--warp-passes mirrored`), and VITON's own input once, as the official test path
/// does; `--warp-passes` decides when given, and a wrong value is named.
#[test]
fn a_photo_is_warped_mirrored_too_unless_it_is_vitons_own_input() {
    let tmp = tempfile::tempdir().unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let native = root.join("assets/persons/000523_0.jpg");
    let photo = fitting_room::pipeline::load_rgb(&native).unwrap();
    let larger = tmp.path().join("larger.png");
    image::imageops::resize(&photo, 384, 512, image::imageops::FilterType::CatmullRom)
        .save(&larger)
        .unwrap();
    let garment = root.join("assets/wardrobe/red-sweet-print-tee.jpg");
    let mask = root.join("assets/wardrobe/red-sweet-print-tee.mask.png");
    let run = |person: &PathBuf, warp: Option<&str>| {
        let out = tmp.path().join(format!(
            "{}_{}.png",
            person.file_stem().unwrap().to_string_lossy(),
            warp.unwrap_or("default")
        ));
        ok(bin()
            .arg("tryon")
            .arg("--person")
            .arg(person)
            .arg("--garment")
            .arg(&garment)
            .arg("--mask")
            .arg(&mask)
            .arg("--model")
            .arg(root.join("models/default"))
            .args(["--device", "cpu", "--framing", "centre"])
            .args(warp.map(|w| ["--warp-passes", w]).into_iter().flatten())
            .arg("--warped")
            .arg(&out)
            .arg("--out")
            .arg(tmp.path().join("result.png")));
        image::open(out).unwrap().to_rgb8()
    };
    let (default, mirrored, once) = (
        run(&larger, None),
        run(&larger, Some("mirrored")),
        run(&larger, Some("once")),
    );
    assert_eq!(default, mirrored);
    let moved = default
        .pixels()
        .zip(once.pixels())
        .filter(|(a, b)| (0..3).any(|c| a[c].abs_diff(b[c]) > 30))
        .count();
    assert!(moved > 50, "{moved} pixels of the warped garment moved");
    let native_mirrored = run(&native, Some("mirrored"));
    assert_eq!(run(&native, None), run(&native, Some("once")));
    assert_ne!(run(&native, None), native_mirrored);
    // `batch` reads its pairs the same way.
    let data = viton_folder(
        &tmp.path().join("data"),
        &[(&native, "000523_0.jpg")],
        (&garment, &mask, "g.jpg"),
    );
    let pairs = tmp.path().join("pairs.txt");
    std::fs::write(&pairs, "000523_0.jpg g.jpg\n").unwrap();
    let batch = |warp: Option<&str>| {
        let out = tmp
            .path()
            .join(format!("batch_{}", warp.unwrap_or("default")));
        ok(batch_cmd(&data, &pairs, &out)
            .arg("--extras")
            .arg("--model")
            .arg(root.join("models/default"))
            .args(["--device", "cpu"])
            .args(warp.map(|w| ["--warp-passes", w]).into_iter().flatten()));
        image::open(out.join("000523_0__g_warped.png"))
            .unwrap()
            .to_rgb8()
    };
    assert_eq!(batch(Some("mirrored")), native_mirrored);
    assert_eq!(batch(None), run(&native, Some("once")));
    let err = fails(
        bin()
            .arg("tryon")
            .arg("--person")
            .arg(&native)
            .arg("--garment")
            .arg(&garment)
            .args(["--warp-passes", "twice", "--out"])
            .arg(tmp.path().join("x.png")),
    );
    assert!(err.contains("`twice` is not `once` or `mirrored`"), "{err}");
}
