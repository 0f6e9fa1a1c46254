//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::Tensor;
use fitting_room::weights::StateDict;

/// The `fitting-room` binary, quiet but for warnings, with no model chosen by the environment.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fitting-room"));
    cmd.env("RUST_LOG", "warn")
        .env_remove(fitting_room::model::MODEL_ENV);
    cmd
}

/// `fitting-room batch` over a VITON-layout folder and a pairs list, into `out`.
pub fn batch_cmd(data: &Path, pairs: &Path, out: &Path) -> Command {
    let mut cmd = bin();
    cmd.arg("batch")
        .arg("--data")
        .arg(data)
        .arg("--pairs")
        .arg(pairs)
        .arg("--out")
        .arg(out);
    cmd
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn model_fixtures() -> PathBuf {
    fixtures().join("model")
}

pub fn load(path: impl Into<PathBuf>) -> StateDict {
    let path = path.into();
    StateDict::load(&path).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

pub fn get(state: &StateDict, key: &str) -> Tensor {
    state
        .get(key)
        .unwrap_or_else(|| panic!("fixture has no `{key}`"))
        .clone()
}

/// (max abs, mean abs) difference of two tensors of the same shape.
pub fn diff(a: &Tensor, b: &Tensor) -> (f32, f32) {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let mut max = 0f32;
    let mut sum = 0f64;
    for (x, y) in a.iter().zip(&b) {
        let d = (x - y).abs();
        assert!(d.is_finite(), "non-finite difference");
        max = max.max(d);
        sum += f64::from(d);
    }
    (max, (sum / a.len().max(1) as f64) as f32)
}

/// Asserts `actual` is within `max_tol` (max abs) and `mean_tol` (mean abs) of `expected`.
#[track_caller]
pub fn assert_close(name: &str, actual: &Tensor, expected: &Tensor, max_tol: f32, mean_tol: f32) {
    let (max, mean) = diff(actual, expected);
    assert!(
        max <= max_tol && mean <= mean_tol,
        "{name}: max abs diff {max:e} (tolerance {max_tol:e}), mean {mean:e} (tolerance {mean_tol:e})"
    );
}

/// Image tolerances of the parity contract.
pub const IMAGE_MAX: f32 = 1e-3;
pub const IMAGE_MEAN: f32 = 1e-5;
/// Flow (sampling grid) tolerance.
pub const FLOW_MAX: f32 = 1e-4;

/// The middle of a 192x256 network input (x 48-143, y 60-199, where VITON's persons have their
/// torso): how many of its 96x140 pixels differ from VITON's background by more than 30 levels
/// in some channel, that is, show a person.
pub fn person_pixels_in_middle(seen: &image::RgbImage) -> usize {
    let background = fitting_room::pipeline::VITON_BACKGROUND;
    (60..200)
        .flat_map(|y| (48..144).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            seen.get_pixel(x, y)
                .0
                .iter()
                .zip(background.0)
                .any(|(&a, b)| a.abs_diff(b) > 30)
        })
        .count()
}

/// sRGB byte to linear light.
pub fn linear(v: u8) -> f64 {
    let v = f64::from(v) / 255.0;
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// A bundled VITON person at twice its size on a 480x600 light backdrop (not a 192x256 VITON
/// input, so the whole chain runs), and the same photo with a quarter of the light in linear
/// terms, as a dim room gives it.
pub fn lit_and_dim_photos(person: &image::RgbImage) -> (image::RgbImage, image::RgbImage) {
    let big = image::imageops::resize(person, 384, 512, image::imageops::FilterType::CatmullRom);
    let mut lit = image::RgbImage::from_pixel(480, 600, image::Rgb([236, 233, 232]));
    image::imageops::replace(&mut lit, &big, 48, 60);
    let mut dim = lit.clone();
    for v in dim.as_mut() {
        let l = linear(*v) * 0.25;
        let s = if l <= 0.003_130_8 {
            l * 12.92
        } else {
            1.055 * l.powf(1.0 / 2.4) - 0.055
        };
        *v = (s * 255.0).round() as u8;
    }
    (lit, dim)
}
