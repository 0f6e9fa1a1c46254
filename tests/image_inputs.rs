//! Bad and unusual input images: each gets a clear error or a correct conversion, never a panic
//! or an out-of-memory.

mod common;

use common::fixtures;
use fitting_room::pipeline::{frame, load_gray, load_rgb, Crop, PipelineError};
use image::{ImageBuffer, Rgb};

fn images() -> std::path::PathBuf {
    fixtures().join("images")
}

#[test]
fn exif_orientation_is_applied() {
    let img = load_rgb(&images().join("exif_rotated.jpg")).unwrap();
    // Stored 40x30 with "rotate 90 clockwise": shown 30x40, the stored top-left marker now
    // top-right.
    assert_eq!(img.dimensions(), (30, 40));
    let marker = img.get_pixel(26, 3);
    assert!(marker[0] > 200 && marker[2] < 60, "marker {marker:?}");
    let other = img.get_pixel(3, 3);
    assert!(other[2] > 200 && other[0] < 60, "corner {other:?}");
}

#[test]
fn cmyk_jpeg_converts_to_rgb() {
    let img = load_rgb(&images().join("cmyk.jpg")).unwrap();
    assert_eq!(img.dimensions(), (24, 32));
    // C=0, M=200/255, Y=200/255, K=0: a red.
    let p = img.get_pixel(12, 16);
    assert!(p[0] > 200 && p[1] < 120 && p[2] < 120, "{p:?}");
}

#[test]
fn sixteen_bit_png_converts_to_eight_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("deep.png");
    let deep: ImageBuffer<Rgb<u16>, Vec<u16>> =
        ImageBuffer::from_fn(6, 8, |x, _| Rgb([x as u16 * 10000, 65535, 0]));
    deep.save(&path).unwrap();
    let img = load_rgb(&path).unwrap();
    assert_eq!(img.dimensions(), (6, 8));
    assert_eq!(img.get_pixel(5, 0).0, [195, 255, 0]);
}

#[test]
fn huge_declared_size_is_refused_before_decoding() {
    match load_rgb(&images().join("huge_header.png")) {
        Err(PipelineError::TooLarge { width, height, .. }) => {
            assert_eq!((width, height), (50000, 50000));
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn empty_corrupt_and_truncated_files_give_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    let text = tmp.path().join("notes.png");
    std::fs::write(&text, b"this is not an image").unwrap();
    for path in [empty, text, images().join("truncated.jpg")] {
        let err = load_rgb(&path).expect_err("must fail");
        let message = err.to_string();
        assert!(
            message.contains(path.file_name().unwrap().to_str().unwrap()),
            "{message}"
        );
    }
    let missing = tmp.path().join("missing.jpg");
    assert!(matches!(load_gray(&missing), Err(PipelineError::Io { .. })));
}

#[test]
fn one_pixel_image_frames_to_the_native_size() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("dot.png");
    image::RgbImage::from_pixel(1, 1, Rgb([9, 99, 199]))
        .save(&path)
        .unwrap();
    let img = load_rgb(&path).unwrap();
    let framed = frame(&img, Crop::centered(1, 1)).unwrap();
    assert_eq!(framed.dimensions(), (192, 256));
    assert_eq!(framed.get_pixel(100, 100).0, [9, 99, 199]);
}
