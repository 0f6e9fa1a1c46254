//! Person models: parity with the reference TFLite interpreter on committed fixtures
//! (`training/person/make_fixtures.py`), and the API's behaviour on odd inputs.
//!
//! Tolerances: the graphs run in float32 as in the reference, so the differences are float32
//! reordering (im2col and gemm order versus XNNPACK's kernels) amplified through ~100 layers.
//! Values are compared relative to each output's own range.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use fitting_room::person::{
    graph::Graph, pose, Analysis, NoPerson, Person, PersonError, PersonModels, Region, DETECTOR,
    LANDMARKS, SELFIE,
};
use fitting_room::pipeline::{
    crop_iou, fit_crop, prepare_subject, Background, Framing, VITON_POSE,
};
use image::RgbImage;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn models_dir() -> PathBuf {
    root().join("models/person")
}

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/person")
}

/// A picture of the repository as RGB.
fn photo(path: &str) -> RgbImage {
    image::open(root().join(path)).unwrap().to_rgb8()
}

fn models() -> &'static PersonModels {
    static MODELS: std::sync::OnceLock<PersonModels> = std::sync::OnceLock::new();
    MODELS.get_or_init(|| PersonModels::load(&models_dir(), &Device::Cpu).expect("models load"))
}

fn reference() -> HashMap<String, Vec<f32>> {
    let tensors =
        candle_core::safetensors::load(fixtures().join("reference.safetensors"), &Device::Cpu)
            .unwrap();
    tensors
        .into_iter()
        .map(|(k, t)| {
            let v = t
                .to_dtype(candle_core::DType::F32)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            (k, v)
        })
        .collect()
}

fn input(name: &str, lo: f32, hi: f32) -> Tensor {
    let img = image::open(fixtures().join(name)).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let data: Vec<f32> = img
        .as_raw()
        .iter()
        .map(|&v| v as f32 / 255.0 * (hi - lo) + lo)
        .collect();
    Tensor::from_vec(data, (1, h as usize, w as usize, 3), &Device::Cpu).unwrap()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

/// Largest absolute difference, and the reference's range.
fn compare(ours: &[f32], reference: &[f32]) -> (f32, f32) {
    assert_eq!(ours.len(), reference.len());
    let diff = ours
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let lo = reference.iter().copied().fold(f32::MAX, f32::min);
    let hi = reference.iter().copied().fold(f32::MIN, f32::max);
    (diff, hi - lo)
}

fn sigmoid(v: &[f32]) -> Vec<f32> {
    v.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect()
}

#[test]
fn selfie_segmentation_matches_the_reference() {
    let r = reference();
    let out = models()
        .run_raw(SELFIE, &[input("astronaut_256.png", 0.0, 1.0)])
        .unwrap();
    let (diff, _) = compare(&flat(&out[0]), &r["selfie"]);
    // Probabilities; the reference is stored in float16 (rounding <= 2.5e-4 near 1).
    assert!(diff < 2e-3, "selfie matte differs by {diff}");
}

#[test]
fn pose_detector_matches_the_reference() {
    let r = reference();
    let out = models()
        .run_raw(DETECTOR, &[input("astronaut_224.png", -1.0, 1.0)])
        .unwrap();
    let (diff, range) = compare(&flat(&out[0]), &r["detector_boxes"]);
    assert!(
        diff < 1e-3 * range,
        "boxes differ by {diff} (range {range})"
    );
    let (diff, range) = compare(&flat(&out[1]), &r["detector_scores"]);
    assert!(
        diff < 1e-3 * range,
        "scores differ by {diff} (range {range})"
    );
    // Where it matters: the confident anchors' scores agree closely.
    let ours = flat(&out[1]);
    for (a, b) in ours.iter().zip(&r["detector_scores"]) {
        if *b > -2.0 {
            assert!((a - b).abs() < 0.05, "score {a} vs {b}");
        }
    }
}

#[test]
fn pose_landmarks_match_the_reference() {
    let r = reference();
    let out = models()
        .run_raw(LANDMARKS, &[input("astronaut_256.png", 0.0, 1.0)])
        .unwrap();
    let ours = flat(&out[0]);
    let reference = &r["landmarks"];
    // Coordinates (x, y of the 33 body points) in the 256-pixel input: within 0.05 px.
    for k in 0..33 {
        for c in 0..2 {
            let (a, b) = (ours[k * 5 + c], reference[k * 5 + c]);
            assert!((a - b).abs() < 0.05, "landmark {k}.{c}: {a} vs {b}");
        }
        let (va, vb) = (
            sigmoid(&[ours[k * 5 + 3]])[0],
            sigmoid(&[reference[k * 5 + 3]])[0],
        );
        assert!((va - vb).abs() < 1e-3, "visibility {k}: {va} vs {vb}");
    }
    let (diff, _) = compare(&flat(&out[1]), &r["landmarks_flag"]);
    assert!(diff < 1e-4, "pose flag differs by {diff}");
    let (diff, _) = compare(
        &sigmoid(&flat(&out[2])),
        &sigmoid(&r["landmarks_segmentation"]),
    );
    assert!(diff < 2e-3, "segmentation differs by {diff}");
    let (diff, range) = compare(&flat(&out[4]), &r["landmarks_world"]);
    assert!(diff < 1e-3 * range, "world landmarks differ by {diff}");
}

fn astronaut() -> RgbImage {
    image::open(fixtures().join("astronaut_256.png"))
        .unwrap()
        .to_rgb8()
}

#[test]
fn finds_the_astronaut_with_a_matte_and_keypoints() {
    // The fixture photo, padded onto a wider canvas: results are in the canvas's pixels.
    let photo = astronaut();
    let mut canvas = RgbImage::from_pixel(400, 300, image::Rgb([40, 40, 40]));
    image::imageops::replace(&mut canvas, &photo, 100, 30);
    let Analysis::Found(p) = models().analyze(&canvas).unwrap() else {
        panic!("no person found")
    };
    assert_eq!((p.matte.width, p.matte.height), (400, 300));
    assert_eq!(p.keypoints.len(), 33);
    // The astronaut's face is in the photo's upper middle: nose within the photo, above the
    // shoulders, between them.
    let nose = p.keypoints[0];
    let (ls, rs) = (p.keypoints[11], p.keypoints[12]);
    assert!(
        nose.x > 100.0 && nose.x < 356.0 && nose.y > 30.0 && nose.y < 286.0,
        "{nose:?}"
    );
    assert!(
        nose.y < ls.y && nose.y < rs.y,
        "nose {nose:?} shoulders {ls:?} {rs:?}"
    );
    assert!(nose.x > rs.x.min(ls.x) && nose.x < rs.x.max(ls.x));
    assert!(nose.visibility > 0.5);
    // The padding is background; the face is foreground.
    assert!(p.matte.get(20, 150) < 0.1);
    assert!(p.matte.get(nose.x as u32, nose.y as u32) > 0.5);
    assert!(
        p.bbox.x0 >= 100.0 - 1.0 && p.bbox.x1 <= 356.0 + 1.0,
        "{:?}",
        p.bbox
    );
}

/// A VITON person with the head cut off by the photo's top edge (a torso shot, a webcam too
/// close): the detector, which starts from the face, finds nobody; the selfie matte shows where
/// to look, and the landmark model finds the body there.
#[test]
fn a_person_whose_head_is_cut_off_is_found_from_the_matte() {
    let m = models();
    let photo = photo("assets/persons/009595_0.jpg");
    let cut = image::imageops::crop_imm(&photo, 0, 60, 192, 196).to_image();
    let detected = m.detect(&cut).unwrap();
    assert!(detected.is_empty(), "the detector found {detected:?}");
    let Analysis::Found(p) = m.analyze(&cut).unwrap() else {
        panic!("no person found")
    };
    let k = &p.keypoints;
    let (ls, rs, lh, rh) = (k[11], k[12], k[23], k[24]);
    for s in [ls, rs] {
        assert!(s.visibility > 0.5, "{s:?}");
        assert!(
            (0.0..192.0).contains(&s.x) && (0.0..60.0).contains(&s.y),
            "{s:?}"
        );
    }
    // The person's left shoulder is on the picture's right; the hips are well below.
    assert!(ls.x - rs.x > 60.0, "{ls:?} {rs:?}");
    assert!(lh.y.min(rh.y) > ls.y.max(rs.y) + 80.0, "{lh:?} {rh:?}");
    assert!(p.matte.get(96, 100) > 0.5 && p.matte.get(3, 100) < 0.5);
}

/// The pose models read an upright person with visible shoulders into the stars of the Hubble
/// Deep Field (`training/make_image_fixtures.py`), with a face that the landmark model itself
/// says is not in the picture: no crop frames it, so the photo is kept as it is.
#[test]
fn a_pose_read_into_the_stars_has_no_face_and_is_not_framed() {
    let m = models();
    let photo = photo("tests/fixtures/images/stars.jpg");
    let (w, h) = photo.dimensions();
    let Analysis::Found(p) = m.analyze(&photo).unwrap() else {
        panic!("the premise: a pose is found in the stars")
    };
    let k = &p.keypoints;
    assert!(
        pose::shoulders_visible(k) && pose::upright(k),
        "{:?}",
        &k[..25]
    );
    assert!(!pose::face_present(k, w as f32, h as f32), "{:?}", &k[..11]);
    assert!(fit_crop(k, w, h).is_none());
    let subject = prepare_subject(Some(m), &photo, Framing::Auto, Background::Replace).unwrap();
    assert!(subject.keep_photo(), "{:?}", subject.source);
}

/// A bundled VITON person with a phone held over the face, as in a mirror selfie: the landmark
/// model reads the body with its sides swapped (the left shoulder on the picture's left) and
/// narrower. The automatic crop still frames the person about as without the phone.
#[test]
fn a_face_hidden_by_a_phone_is_framed_as_without_it() {
    let m = models();
    let photo = photo("assets/persons/000523_0.jpg");
    let (w, h) = photo.dimensions();
    let Analysis::Found(clean) = m.analyze(&photo).unwrap() else {
        panic!("no person found")
    };
    let k = &clean.keypoints;
    let (nx, ny) = (k[0].x, k[0].y);
    let eyes = 1.8 * (k[2].x - k[5].x).abs();
    let (pw, ph) = (2.2 * eyes, 3.6 * eyes);
    let (x0, y0, x1, y1) = (nx - 0.3 * pw, ny - 0.45 * ph, nx + 0.7 * pw, ny + 0.55 * ph);
    let mut phone = photo.clone();
    for (x, y, p) in phone.enumerate_pixels_mut() {
        if (x0..x1).contains(&(x as f32)) && (y0..y1).contains(&(y as f32)) {
            *p = image::Rgb([25, 25, 30]);
        }
    }
    let Analysis::Found(hidden) = m.analyze(&phone).unwrap() else {
        panic!("no person found behind the phone")
    };
    let (l, r) = (hidden.keypoints[11], hidden.keypoints[12]);
    assert!(l.x < r.x, "the premise: sides swapped ({l:?} {r:?})");
    let fit = |k: &[fitting_room::person::Keypoint]| fit_crop(k, w, h);
    let (a, b) = (
        fit(&clean.keypoints).unwrap(),
        fit(&hidden.keypoints).unwrap(),
    );
    // Fitted by the labels, the swapped sides pull against each other: IoU 0.08.
    let iou = crop_iou(a, b);
    assert!(iou > 0.8, "{a} {b} {iou}");
}

/// Seated people: NASA's Apollo 11 crew portrait (public domain), two men seated in front and
/// one standing behind them. Its left part shows the seated man whole and the standing man cut
/// off by the right edge; the detector's body circle of the standing man is the larger (it
/// reaches his feet), but the seated man shows more of himself and is the one followed. He is
/// framed as VITON frames its persons, his face and shoulders where theirs are, though his hips
/// are at his lap.
#[test]
fn a_seated_person_in_front_is_followed_and_framed_like_a_standing_one() {
    let crew = photo("tests/fixtures/images/apollo11-crew.jpg");
    let left = image::imageops::crop_imm(&crew, 0, 100, 330, 371).to_image();
    let Analysis::Found(p) = models().analyze(&left).unwrap() else {
        panic!("no person found")
    };
    assert_eq!(p.people, 2);
    let k = &p.keypoints;
    // The seated man's face spans x 100-190, y 40-130 here; the standing man's x 250-330,
    // y 0-40.
    assert!(
        (100.0..190.0).contains(&k[0].x) && (40.0..130.0).contains(&k[0].y),
        "{:?}",
        k[0]
    );
    let crop = fit_crop(k, 330, 371).expect("a frame");
    let at = |i: usize| {
        (
            (k[i].x - crop.x as f32) / crop.width as f32,
            (k[i].y - crop.y as f32) / crop.height as f32,
        )
    };
    // His head leans to one side: the nose lies 0.06 of the frame from VITON's, within the
    // spread of VITON's own persons.
    for t in VITON_POSE.iter().filter(|t| t.weight == 1.0) {
        let (u, v) = at(t.index);
        assert!(
            (u - t.u).abs() < 0.08 && (v - t.v).abs() < 0.05,
            "keypoint {} at ({u}, {v}), VITON's at ({}, {}) in {crop}",
            t.index,
            t.u,
            t.v
        );
    }
    // His hips, at his lap, fall in the frame's lower part as a standing person's do.
    for i in [23, 24] {
        assert!((0.6..1.0).contains(&at(i).1), "hip {i} at {:?}", at(i));
    }
    // The whole portrait: one of the three, framed.
    let Analysis::Found(p) = models().analyze(&crew).unwrap() else {
        panic!("no person found in the portrait")
    };
    assert_eq!(p.people, 3);
    assert!(pose::framable(&p.keypoints, 600.0, 471.0));
}

/// The person a part of the photo holds, in the whole photo's pixels: the seated man on the
/// right of the crew portrait (not the man the whole photo gives), his matte zero outside the
/// part; a part reaching past the photo is clipped to it, and one wholly outside it holds
/// nobody.
#[test]
fn a_part_of_the_photo_gives_the_person_it_holds_in_the_photos_pixels() {
    let m = models();
    let crew = photo("tests/fixtures/images/apollo11-crew.jpg");
    let Analysis::Found(whole) = m.analyze(&crew).unwrap() else {
        panic!("no person found")
    };
    let Analysis::Found(right) = m.analyze_within(&crew, 330, 60, 400, 600).unwrap() else {
        panic!("no person found on the right")
    };
    let Analysis::Found(alone) = m
        .analyze(&image::imageops::crop_imm(&crew, 330, 60, 270, 411).to_image())
        .unwrap()
    else {
        panic!("no person found in the cut-out")
    };
    assert_eq!((right.matte.width, right.matte.height), (600, 471));
    // The same person as in the cut-out, moved by its corner.
    for (a, b) in right.keypoints.iter().zip(&alone.keypoints) {
        assert!((a.x - (b.x + 330.0)).abs() < 1e-3 && (a.y - (b.y + 60.0)).abs() < 1e-3);
    }
    let nose = right.keypoints[0];
    assert!(nose.x > 330.0 && whole.keypoints[0].x < 330.0, "{nose:?}");
    assert!(
        right.bbox.x0 >= 330.0 && right.bbox.y0 >= 60.0,
        "{:?}",
        right.bbox
    );
    for y in 0..471 {
        for x in 0..600 {
            let v = right.matte.get(x, y);
            if x < 330 || y < 60 {
                assert_eq!(v, 0.0, "({x},{y})");
            } else {
                assert_eq!(v, alone.matte.get(x - 330, y - 60), "({x},{y})");
            }
        }
    }
    assert!(matches!(
        m.analyze_within(&crew, 700, -50, 100, 100).unwrap(),
        Analysis::NoPerson(NoPerson::TooSmall { .. })
    ));
}

/// A person small in a large photo (a VITON photo 256 pixels high in a 3000x2250 one): too
/// small for the detector, found from the selfie matte, one compact region though a small
/// share of the picture, and framed where they stand.
#[test]
fn a_person_small_in_a_large_photo_is_found_from_the_matte() {
    let person = photo("assets/persons/000523_0.jpg");
    let mut big = RgbImage::from_pixel(3000, 2250, image::Rgb([90, 120, 100]));
    image::imageops::overlay(&mut big, &person, 1900, 1200);
    // The premise: on the copy the models look at (1024 pixels wide) the detector finds nobody.
    let work = image::imageops::resize(&big, 1024, 768, image::imageops::FilterType::Triangle);
    assert!(models().detect(&work).unwrap().is_empty());
    let Analysis::Found(p) = models().analyze(&big).unwrap() else {
        panic!("no person found")
    };
    for i in [0, 11, 12] {
        let k = p.keypoints[i];
        assert!(
            (1900.0..2092.0).contains(&k.x) && (1200.0..1456.0).contains(&k.y),
            "keypoint {i} at {k:?}"
        );
    }
    let crop = fit_crop(&p.keypoints, 3000, 2250).expect("a frame");
    let known = fitting_room::pipeline::Crop {
        x: 1900,
        y: 1200,
        width: 192,
        height: 256,
    };
    assert!(crop_iou(crop, known) > 0.6, "{crop}");
}

/// A VITON person cut off at the chin, in the top right of a larger grey photo: the detector
/// finds the person but the landmark model, looking where it points, reads the body upside
/// down (hips above the shoulders), a pose no crop can frame. The selfie matte's tries are
/// asked too, and their upright pose wins.
#[test]
fn a_person_read_upside_down_is_found_upright_from_the_matte() {
    let m = models();
    let photo = photo("assets/persons/009595_0.jpg");
    let cut = image::imageops::crop_imm(&photo, 0, 60, 192, 196).to_image();
    let mut canvas = RgbImage::from_pixel(292, 296, image::Rgb([120, 125, 118]));
    image::imageops::replace(&mut canvas, &cut, 100, 0);
    // The premise: the detector's person, read upside down.
    let detected = m.detect(&canvas).unwrap();
    let first = detected.first().expect("the detector finds the person");
    let marks = m
        .landmarks(&canvas, &pose::landmark_region(&first.keypoints))
        .unwrap();
    assert!(pose::shoulders_visible(&marks.keypoints));
    assert!(
        !pose::upright(&marks.keypoints),
        "{:?}",
        &marks.keypoints[..25]
    );

    let Analysis::Found(p) = m.analyze(&canvas).unwrap() else {
        panic!("no person found")
    };
    let k = &p.keypoints;
    assert!(pose::framable(k, 292.0, 296.0), "{:?}", &k[..25]);
    let (ls, rs, lh, rh) = (k[11], k[12], k[23], k[24]);
    for s in [ls, rs] {
        assert!(
            (100.0..292.0).contains(&s.x) && (0.0..70.0).contains(&s.y),
            "{s:?}"
        );
    }
    assert!(ls.x - rs.x > 60.0, "{ls:?} {rs:?}");
    assert!(lh.y.min(rh.y) > ls.y.max(rs.y) + 80.0, "{lh:?} {rh:?}");
    assert!(fitting_room::pipeline::fit_crop(k, 292, 296).is_some());
}

/// Video frames: the landmark model looks where the last frame's person was and the detector is
/// skipped; from a place where nobody is, the detector finds the person again.
#[test]
fn tracking_follows_the_person_and_finds_them_again_when_lost() {
    let m = models();
    let mut canvas = RgbImage::from_pixel(400, 300, image::Rgb([40, 40, 40]));
    image::imageops::replace(&mut canvas, &astronaut(), 100, 30);
    let Analysis::Found(first) = m.analyze(&canvas).unwrap() else {
        panic!("no person found")
    };
    let near = |a: &Person, b: &Person| {
        let mut compared = 0;
        for (p, q) in a.keypoints.iter().zip(&b.keypoints) {
            if q.visibility > 0.8 {
                compared += 1;
                assert!(
                    (p.x - q.x).abs() < 12.0 && (p.y - q.y).abs() < 12.0,
                    "{p:?} vs {q:?}"
                );
            }
        }
        assert!(compared >= 8, "{compared} points compared");
    };
    let Analysis::Found(tracked) = m.track(&canvas, Some(&first.next_region)).unwrap() else {
        panic!("lost the person")
    };
    near(&tracked, &first);
    let nowhere = Region {
        cx: 20.0,
        cy: 270.0,
        width: 30.0,
        height: 30.0,
        angle: 0.0,
    };
    let Analysis::Found(again) = m.track(&canvas, Some(&nowhere)).unwrap() else {
        panic!("not found again")
    };
    near(&again, &first);
}

#[test]
fn odd_pictures_get_a_typed_answer() {
    let m = models();
    let tiny = RgbImage::from_pixel(20, 200, image::Rgb([128, 90, 60]));
    assert!(matches!(
        m.analyze(&tiny).unwrap(),
        Analysis::NoPerson(NoPerson::TooSmall {
            width: 20,
            height: 200
        })
    ));
    let black = RgbImage::new(640, 480);
    assert!(matches!(
        m.analyze(&black).unwrap(),
        Analysis::NoPerson(NoPerson::Blank)
    ));
    let white = RgbImage::from_pixel(300, 500, image::Rgb([250, 250, 250]));
    assert!(matches!(
        m.analyze(&white).unwrap(),
        Analysis::NoPerson(NoPerson::Blank)
    ));
    // Smooth gradient: not blank, nobody there.
    let gradient = RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([(x / 2) as u8, (y / 2) as u8, 100])
    });
    assert!(matches!(
        m.analyze(&gradient).unwrap(),
        Analysis::NoPerson(NoPerson::NotDetected)
    ));
}

#[test]
fn huge_photos_are_analysed_downscaled_with_results_in_their_pixels() {
    let photo = image::imageops::resize(
        &astronaut(),
        2048,
        2048,
        image::imageops::FilterType::Triangle,
    );
    let Analysis::Found(big) = models().analyze(&photo).unwrap() else {
        panic!("no person")
    };
    let Analysis::Found(small) = models().analyze(&astronaut()).unwrap() else {
        panic!("no person")
    };
    assert_eq!((big.matte.width, big.matte.height), (2048, 2048));
    // Same person, 8x the coordinates. The models see a 1024-pixel copy instead of the
    // 256-pixel original, so the points move a little: within 2.5% of the photo's side for the
    // clearly visible ones.
    let mut compared = 0;
    for (a, b) in big.keypoints.iter().zip(&small.keypoints) {
        if b.visibility > 0.8 && b.presence > 0.5 {
            compared += 1;
            let tolerance = 0.025 * 2048.0;
            assert!(
                (a.x - 8.0 * b.x).abs() < tolerance && (a.y - 8.0 * b.y).abs() < tolerance,
                "{a:?} vs {b:?}"
            );
        }
    }
    assert!(compared >= 10, "{compared} points compared");
    // The matte agrees too: the same share of the picture is person.
    let share = |m: &fitting_room::person::Matte| {
        m.data
            .iter()
            .filter(|&&v| v >= fitting_room::person::MATTE_HALF)
            .count() as f32
            / m.data.len() as f32
    };
    assert!((share(&big.matte) - share(&small.matte)).abs() < 0.02);
}

fn copy_models(to: &Path) {
    for entry in std::fs::read_dir(models_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn missing_or_corrupt_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    copy_models(dir.path());
    let weights = dir.path().join("pose_detection.safetensors");
    std::fs::write(&weights, b"not a safetensors file").unwrap();
    let err = PersonModels::load(dir.path(), &Device::Cpu).unwrap_err();
    assert!(
        matches!(err, PersonError::Model { ref path, .. } if *path == weights),
        "{err}"
    );
    assert!(
        err.to_string().contains("pose_detection.safetensors"),
        "{err}"
    );

    std::fs::remove_file(&weights).unwrap();
    let err = PersonModels::load(dir.path(), &Device::Cpu).unwrap_err();
    assert!(
        err.to_string().contains("pose_detection.safetensors")
            && err.to_string().contains("missing"),
        "{err}"
    );

    let graph = dir.path().join("selfie_segmentation.json");
    std::fs::write(&graph, "{").unwrap();
    let err = Graph::load(dir.path(), SELFIE, &Device::Cpu).unwrap_err();
    assert!(
        err.to_string().contains("selfie_segmentation.json"),
        "{err}"
    );
}

#[test]
fn keypoints_match_mediapipe_end_to_end() {
    // MediaPipe's own pose solution on the same picture: the detector's decoding, weighted
    // suppression, the region, border handling, heatmap refinement and projection all agree.
    let r = reference();
    let reference = &r["pipeline_keypoints"];
    let Analysis::Found(p) = models().analyze(&astronaut()).unwrap() else {
        panic!("no person")
    };
    let mut errors = Vec::new();
    for (k, ours) in p.keypoints.iter().enumerate() {
        let (x, y, visibility) = (reference[k * 3], reference[k * 3 + 1], reference[k * 3 + 2]);
        if visibility > 0.5 {
            errors.push(((ours.x - x).powi(2) + (ours.y - y).powi(2)).sqrt());
        }
    }
    assert!(errors.len() >= 10, "{} visible", errors.len());
    eprintln!("end-to-end keypoint errors (px): {errors:?}");
    let mean = errors.iter().sum::<f32>() / errors.len() as f32;
    let max = errors.iter().copied().fold(0f32, f32::max);
    // The region is ~2.7 photo pixels per model pixel here; MediaPipe resamples in fixed point.
    assert!(
        mean < 1.5 && max < 10.0,
        "mean {mean} px, max {max} px: {errors:?}"
    );
}

#[test]
fn cpu_executor_matches_the_tensor_path() {
    // The CPU executor (NHWC kernels, fused steps) against the same graphs run as candle tensor
    // ops (the path of other devices), on every output of the three graphs. A graph loaded for
    // the CPU executor alone does not hold the tensor path's weights, and says so.
    let lean = Graph::load(&models_dir(), SELFIE, &Device::Cpu).unwrap();
    let x = input("astronaut_256.png", 0.0, 1.0);
    let err = lean.run_tensors(&[x]).unwrap_err().to_string();
    assert!(err.contains("load_with_tensor_path"), "{err}");
    for (name, file, lo, hi) in [
        (SELFIE, "astronaut_256.png", 0.0, 1.0),
        (DETECTOR, "astronaut_224.png", -1.0, 1.0),
        (LANDMARKS, "astronaut_256.png", 0.0, 1.0),
    ] {
        let graph = Graph::load_with_tensor_path(&models_dir(), name, &Device::Cpu).unwrap();
        let x = input(file, lo, hi);
        let fast = graph.run(std::slice::from_ref(&x)).unwrap();
        let slow = graph.run_tensors(&[x]).unwrap();
        assert_eq!(fast.len(), slow.len());
        for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
            assert_eq!(a.dims(), b.dims(), "{name} output {i}");
            let (diff, range) = compare(&flat(a), &flat(b));
            assert!(
                diff <= 1e-3 * range.max(1.0),
                "{name} output {i}: differs by {diff} (range {range})"
            );
        }
    }
}

#[test]
fn cli_writes_matte_keypoints_and_overlay() {
    let out = tempfile::tempdir().unwrap();
    let run = |photo: &Path, dir: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fitting-room"))
            .args([
                "person",
                photo.to_str().unwrap(),
                "--out",
                dir.to_str().unwrap(),
                "--device",
                "cpu",
            ])
            .env("RUST_LOG", "warn")
            .env("FITTING_ROOM_PERSON_MODELS", models_dir())
            .output()
            .unwrap()
    };
    let found = out.path().join("found");
    let status = run(&fixtures().join("astronaut_256.png"), &found);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(found.join("keypoints.json")).unwrap())
            .unwrap();
    assert_eq!(json["person"]["keypoints"].as_array().unwrap().len(), 33);
    assert_eq!(json["person"]["keypoints"][0]["name"], "nose");
    let matte = image::open(found.join("matte.png")).unwrap();
    assert_eq!((matte.width(), matte.height()), (256, 256));
    assert!(found.join("overlay.png").is_file());

    // A blank picture: a clear answer, no matte.
    let blank = out.path().join("blank.png");
    RgbImage::from_pixel(64, 48, image::Rgb([0, 0, 0]))
        .save(&blank)
        .unwrap();
    let empty = out.path().join("empty");
    let status = run(&blank, &empty);
    assert!(status.status.success());
    assert!(String::from_utf8_lossy(&status.stdout).contains("blank"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(empty.join("keypoints.json")).unwrap())
            .unwrap();
    assert!(json["person"].is_null());
    assert_eq!(json["no_person"]["reason"], "blank");
    assert!(!empty.join("matte.png").exists());
}

/// The CPU kernels index their buffers by the description's shapes, so a shape the ops do not
/// produce must be refused at load: each activation's shape in the shipped descriptions
/// changed in one dimension (one more, half) fails to load with an error naming the file, or
/// gives a graph that runs without a panic.
#[test]
fn descriptions_with_inconsistent_shapes_are_refused_at_load() {
    use fitting_room::person::graph::Constants;
    for (name, every) in [(SELFIE, 1), (DETECTOR, 2), (LANDMARKS, 2)] {
        let text = std::fs::read_to_string(models_dir().join(format!("{name}.json"))).unwrap();
        let constants = Constants::load(
            &models_dir().join(format!("{name}.safetensors")),
            &Device::Cpu,
        )
        .unwrap();
        let original: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut ids: Vec<String> = original["tensors"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        // Only the activations' shapes: a constant has the shape it was saved with.
        let saved = candle_core::safetensors::load(
            models_dir().join(format!("{name}.safetensors")),
            &Device::Cpu,
        )
        .unwrap();
        ids.retain(|id| !saved.contains_key(&format!("t{id}")));
        ids.sort_by_key(|k| k.parse::<usize>().unwrap());
        let (mut variants, mut loaded) = (0, 0);
        for id in ids.iter().step_by(every) {
            let shape: Vec<usize> =
                serde_json::from_value(original["tensors"][id]["shape"].clone()).unwrap();
            for axis in 0..shape.len() {
                for dim in [shape[axis] + 1, shape[axis] / 2] {
                    if dim == 0 || dim == shape[axis] {
                        continue;
                    }
                    let mut changed = original.clone();
                    changed["tensors"][id]["shape"][axis] = dim.into();
                    let text = changed.to_string();
                    variants += 1;
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let graph = match Graph::from_description(
                            &text,
                            Path::new("changed.json"),
                            &constants,
                            &Device::Cpu,
                        ) {
                            Ok(graph) => graph,
                            Err(e) => {
                                assert!(e.to_string().contains("changed.json"), "{e}");
                                return false;
                            }
                        };
                        let inputs = (0..graph.input_count())
                            .map(|i| vec![0.5f32; graph.input_shape(i).iter().product()])
                            .collect();
                        // An error is an answer too; a panic is not.
                        let _ = graph.run_flat(inputs);
                        true
                    }));
                    match outcome {
                        Ok(true) => loaded += 1,
                        Ok(false) => {}
                        Err(_) => panic!("{name}: tensor {id} axis {axis} = {dim} panicked"),
                    }
                }
            }
        }
        assert!(variants > 50, "{name}: {variants} variants");
        eprintln!("{name}: {variants} changed descriptions, {loaded} loaded and ran");
    }
}

/// The parity tests again with the kernels of CPUs with fewer vector instructions (AVX2
/// without AVX-512, then none), which this CPU would not choose by itself.
#[test]
fn every_simd_level_matches_the_references() {
    fitting_room::simd::testing::under_every_cap(
        "simd_cap_applies",
        &[
            "selfie_segmentation_matches_the_reference",
            "pose_detector_matches_the_reference",
            "pose_landmarks_match_the_reference",
            "keypoints_match_mediapipe_end_to_end",
            "cpu_executor_matches_the_tensor_path",
        ],
    );
}

#[test]
#[ignore = "run in child processes by every_simd_level_matches_the_references"]
fn simd_cap_applies() {
    fitting_room::simd::testing::check_cap();
}
