//! Measures automatic framing, background replacement and paste-back on the "in the wild" set
//! that `training/wild_set.py` builds from VITON val.
//!
//! ```text
//! cargo run --release --example wild_eval -- SET_DIR VITON_VAL_DIR [--limit N] [--sheet OUT.png]
//!     [--framing-only] [--known-frame] [--no-bare-arms] [--warp-passes once|mirrored]
//!     [--dump DIR]
//! ```
//!
//! For every photo of `SET_DIR/manifest.json`:
//! - (a) the automatic crop against the VITON frame's known placement: intersection over union;
//!   and (a') against the automatic crop of the original VITON photo carried into the composed
//!   photo: whether framing finds the same person the same way whatever their size, place and
//!   background (VITON's own framing varies from photo to photo, which caps (a));
//! - (b) the try-on of the composed photo, pasted back at the photo's resolution and cut back to
//!   the known frame (scaled to 192x256), against the try-on of the original VITON photo as the
//!   app shows it (pasted back: the photo's own pixels where nothing changed): SSIM (luma,
//!   11-pixel Gaussian window, sigma 1.5) averaged over the person (the parse's labels) where
//!   the frame lies in the photo; also against the original's raw network rendering, which
//!   repaints the whole person, faces and arms included;
//! - (c) the share of background pixels (outside the placed person's mask) that the pasted
//!   result changes by more than 30 levels in some channel.
//!
//! Prints one line per photo and the summary; `--sheet` writes photos next to their results;
//! `--framing-only` measures (a) alone, without the try-ons; `--known-frame` dresses the person
//! in the known VITON frame instead of the automatic crop (the matte as usual), which shows how
//! much of (b) and (c) framing accounts for; `--no-bare-arms` composes without the pose, so
//! old sleeves stay as the network renders them (`pipeline::arms` left out); `--hem keep`
//! leaves an old top below a shorter new one as the network renders it (`pipeline::hem` left
//! out); `--skin keep` leaves an old top uncovered on the torso as the network paints it
//! (`pipeline::skin` left out); `--dump` writes each photo's two compared try-ons
//! (192x256) to look at; `--perturb rescale|matte|both|parse` measures (b) for one step of the
//! composition applied alone to each original VITON photo (no set photo used): the model's own
//! sensitivity to it.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use candle_core::Device;
use image::{imageops, GrayImage, RgbImage};

use fitting_room::engine::{OpPath, WarpPasses};
use fitting_room::model::ModelFiles;
use fitting_room::person::{Analysis, PersonModels};
use fitting_room::pipeline::{
    crop_iou, crop_pixels, fit_crop, load_gray, load_rgb, prepare_subject, run_tryon, Background,
    Crop, ExposureMode, Framing, Hem, Skin, Sleeves, TryOnPhotos, VITON_BACKGROUND,
};
use fitting_room::resample::Filter;

/// Luma of an RGB image as floats.
fn luma(img: &RgbImage) -> Vec<f32> {
    img.pixels()
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect()
}

/// Separable Gaussian blur (11 taps, sigma 1.5), borders clamped.
fn gauss(data: &[f32], w: usize, h: usize) -> Vec<f32> {
    let k: Vec<f32> = (-5..=5)
        .map(|i: i32| (-(i * i) as f32 / (2.0 * 1.5 * 1.5)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    // One pass along rows (`horizontal`) or columns.
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                out[y * w + x] = (0..11)
                    .map(|i| {
                        let (xx, yy) = if horizontal {
                            ((x as i32 + i as i32 - 5).clamp(0, w as i32 - 1) as usize, y)
                        } else {
                            (x, (y as i32 + i as i32 - 5).clamp(0, h as i32 - 1) as usize)
                        };
                        k[i] / sum * src[yy * w + xx]
                    })
                    .sum();
            }
        }
        out
    };
    pass(&pass(data, true), false)
}

/// Mean SSIM over the pixels where `mask` is true.
fn ssim(a: &RgbImage, b: &RgbImage, mask: &[bool]) -> Option<f32> {
    let (w, h) = (a.width() as usize, a.height() as usize);
    let (x, y) = (luma(a), luma(b));
    let mul = |p: &[f32], q: &[f32]| p.iter().zip(q).map(|(u, v)| u * v).collect::<Vec<f32>>();
    let (mx, my) = (gauss(&x, w, h), gauss(&y, w, h));
    let (sxx, syy, sxy) = (
        gauss(&mul(&x, &x), w, h),
        gauss(&mul(&y, &y), w, h),
        gauss(&mul(&x, &y), w, h),
    );
    let (c1, c2) = ((0.01f32 * 255.0).powi(2), (0.03f32 * 255.0).powi(2));
    let (mut total, mut n) = (0.0f64, 0usize);
    for i in 0..w * h {
        if !mask[i] {
            continue;
        }
        let (vx, vy, cxy) = (
            sxx[i] - mx[i] * mx[i],
            syy[i] - my[i] * my[i],
            sxy[i] - mx[i] * my[i],
        );
        let s = ((2.0 * mx[i] * my[i] + c1) * (2.0 * cxy + c2))
            / ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2));
        total += f64::from(s);
        n += 1;
    }
    (n > 0).then(|| (total / n as f64) as f32)
}

/// The original VITON photo's try-on as the app shows it (the high-resolution result pasted
/// into the photo: at 192x256 the photo's own pixels where the rendered person matches them,
/// with the person models' matte and pose for the composition), and the network's own 192x256
/// rendering: `(rendered, pasted)`.
fn reference_tryon(
    engine: &fitting_room::engine::Engine,
    models: &PersonModels,
    original: &RgbImage,
    garment: &RgbImage,
    garment_mask: &GrayImage,
    (exposure, sleeves, hem, skin, warp): (ExposureMode, Sleeves, Hem, Skin, WarpPasses),
) -> Result<(RgbImage, RgbImage)> {
    let subject = prepare_subject(Some(models), original, Framing::Auto, Background::Replace)?;
    let reference = run_tryon(
        engine,
        &TryOnPhotos {
            photo: original,
            crop: subject.crop,
            matte: subject.matte.as_ref(),
            background: Background::Replace,
            garment,
            garment_mask,
            hires: true,
            keep_photo: false,
            exposure,
            keypoints: subject.keypoints.as_deref(),
            sleeves,
            hem,
            skin,
            warp,
        },
    )?;
    Ok((
        reference.result,
        reference.pasted.context("no pasted reference")?,
    ))
}

/// A step of the composition applied alone to an original VITON photo (`--perturb`), to see
/// how much each moves the try-on: the model's own sensitivity sets a floor under (b).
#[derive(Clone, Copy, PartialEq)]
enum Perturb {
    /// Scaled up 2.5x (480x640) and dressed from there: the resampling a photo of another
    /// size goes through.
    Rescale,
    /// The person models' matte over VITON's background: background replacement alone.
    Matte,
    /// Both.
    Both,
    /// Background replacement with the parse as the matte (its neck filled in, its edge
    /// softened as `training/wild_set.py` cuts the set's persons out).
    Parse,
}

/// The parse's person region as a matte, as `training/wild_set.py` cuts persons out: the
/// unlabelled neck filled in (in each column, a gap of at most 24 pixels between person
/// pixels), the edge softened by a Gaussian of sigma 0.7.
fn parse_matte(parse: &GrayImage) -> GrayImage {
    let (w, h) = parse.dimensions();
    let mut m = GrayImage::from_fn(w, h, |x, y| {
        image::Luma([if parse.get_pixel(x, y)[0] > 0 { 255 } else { 0 }])
    });
    for x in 0..w {
        let ys: Vec<u32> = (0..h).filter(|&y| parse.get_pixel(x, y)[0] > 0).collect();
        for run in ys.windows(2) {
            if (2..=24).contains(&(run[1] - run[0])) {
                (run[0]..run[1]).for_each(|y| m.put_pixel(x, y, image::Luma([255])));
            }
        }
    }
    imageops::blur(&m, 0.7)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(set), Some(val)) = (args.first(), args.get(1)) else {
        bail!(
            "usage: wild_eval SET_DIR VITON_VAL_DIR [--limit N] [--sheet OUT.png] [--framing-only] \
             [--known-frame] [--no-bare-arms] [--exposure match|keep] \
             [--warp-passes once|mirrored] [--dump DIR] [--perturb rescale|matte|both|parse]"
        );
    };
    let (set, val) = (PathBuf::from(set), PathBuf::from(val));
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let limit: usize = flag("--limit")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(usize::MAX);
    let sheet_path = flag("--sheet").map(PathBuf::from);
    let framing_only = args.iter().any(|a| a == "--framing-only");
    let known_frame = args.iter().any(|a| a == "--known-frame");
    // `--no-bare-arms`: the composition without the pose, so old sleeves stay as the network
    // renders them (the chain before `pipeline::arms`), for a comparison.
    let sleeves = if args.iter().any(|a| a == "--no-bare-arms") {
        Sleeves::Keep
    } else {
        Sleeves::Bare
    };
    // `--hem keep`: an old top below a shorter new one stays as the network renders it (the
    // chain before `pipeline::hem`), for a comparison.
    let hem: Hem = flag("--hem")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or_default();
    // `--skin keep`: an old top uncovered on the torso stays as the network paints it (the
    // chain before `pipeline::skin`), for a comparison.
    let skin: Skin = flag("--skin")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or_default();
    // `--exposure keep`: the photos as they are, for a comparison with exposure matching.
    let exposure: ExposureMode = flag("--exposure")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or_default();
    // `--warp-passes once`: each try-on read once by the warp module; by default mirrored too,
    // as the app reads a photo.
    let warp: WarpPasses = flag("--warp-passes")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(WarpPasses::Mirrored);
    let dump = flag("--dump").map(PathBuf::from);
    let perturb = match flag("--perturb").as_deref() {
        None => None,
        Some("rescale") => Some(Perturb::Rescale),
        Some("matte") => Some(Perturb::Matte),
        Some("both") => Some(Perturb::Both),
        Some("parse") => Some(Perturb::Parse),
        Some(other) => bail!("--perturb {other}: rescale, matte, both or parse"),
    };
    if let Some(dir) = &dump {
        std::fs::create_dir_all(dir)?;
    }
    let manifest: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(set.join("manifest.json")).context("reading the manifest")?,
    )?;
    let engine = ModelFiles::default_model()?.load(&Device::Cpu, OpPath::Auto)?;
    let models = PersonModels::load(&PersonModels::find(None)?, &Device::Cpu)?;

    let (mut ious, mut ssims, mut bg_changes) = (Vec::new(), Vec::new(), Vec::new());
    let mut ssims_rendered = Vec::new();
    let mut same_ious = Vec::new();
    let mut sheet_tiles: Vec<(RgbImage, RgbImage)> = Vec::new();
    let shown = |v: Option<f32>| v.map(|v| format!("{v:.3}")).unwrap_or("-".into());
    for entry in manifest.iter().take(limit) {
        let name = entry["name"].as_str().context("name")?;
        let person = entry["person"].as_str().context("person")?;
        let garment_name = entry["garment"].as_str().context("garment")?;
        let f: Vec<i64> = entry["frame"]
            .as_array()
            .context("frame")?
            .iter()
            .filter_map(|v| v.as_i64())
            .collect();
        let known = Crop {
            x: f[0] as i32,
            y: f[1] as i32,
            width: f[2] as u32,
            height: f[3] as u32,
        };
        let photo = load_rgb(&set.join("photos").join(format!("{name}.png")))?;
        let placed = load_gray(&set.join("mask").join(format!("{name}.png")))?;
        let garment = load_rgb(&val.join("cloth").join(garment_name))?;
        let garment_mask = load_gray(&val.join("cloth-mask").join(garment_name))?;
        let original = load_rgb(&val.join("image").join(person))?;
        let parse = load_gray(&val.join("image-parse").join(person.replace(".jpg", ".png")))?;
        let reference = || {
            reference_tryon(
                &engine,
                &models,
                &original,
                &garment,
                &garment_mask,
                (exposure, sleeves, hem, skin, warp),
            )
        };

        if let Some(kind) = perturb {
            let (_, reference) = reference()?;
            let photo = if kind == Perturb::Matte || kind == Perturb::Parse {
                original.clone()
            } else {
                fitting_room::resample::resize(&original, 480, 640, Filter::Lanczos3)
            };
            let full = Crop::centered(photo.width(), photo.height());
            let background = if kind == Perturb::Rescale {
                Background::Keep
            } else {
                Background::Replace
            };
            let mut subject =
                prepare_subject(Some(&models), &photo, Framing::Manual(full), background)?;
            if kind == Perturb::Parse {
                subject.matte = Some(parse_matte(&parse));
            }
            let tried = run_tryon(
                &engine,
                &TryOnPhotos {
                    photo: &photo,
                    crop: full,
                    matte: subject.matte.as_ref(),
                    background,
                    garment: &garment,
                    garment_mask: &garment_mask,
                    hires: true,
                    keep_photo: false,
                    exposure,
                    keypoints: subject.keypoints.as_deref(),
                    sleeves,
                    hem,
                    skin,
                    warp,
                },
            )?;
            let pasted = tried.pasted.context("no pasted result")?;
            let framed = imageops::resize(&pasted, 192, 256, imageops::FilterType::Triangle);
            let mask: Vec<bool> = parse.pixels().map(|p| p[0] > 0).collect();
            let s = ssim(&framed, &reference, &mask);
            println!("{name} perturbed ssim {}", shown(s));
            if let Some(s) = s {
                ssims.push(s);
            }
            if let Some(dir) = &dump {
                framed.save(dir.join(format!("{name}_perturbed.png")))?;
                reference.save(dir.join(format!("{name}_original.png")))?;
            }
            continue;
        }

        // (a)
        let subject = prepare_subject(Some(&models), &photo, Framing::Auto, Background::Replace)?;
        let iou = crop_iou(subject.crop, known);
        // (a'): the original's automatic crop, scaled and moved as the person was.
        let own = match models.analyze(&original)? {
            Analysis::Found(p) => fit_crop(&p.keypoints, original.width(), original.height()),
            Analysis::NoPerson(_) => None,
        };
        let carried = own.map(|c| {
            let s = known.height as f32 / original.height() as f32;
            Crop {
                x: known.x + (c.x as f32 * s).round() as i32,
                y: known.y + (c.y as f32 * s).round() as i32,
                width: (c.width as f32 * s).round() as u32,
                height: (c.height as f32 * s).round() as u32,
            }
        });
        let consistency = carried.map(|c| crop_iou(subject.crop, c));
        if let Some(v) = consistency {
            same_ious.push(v);
        }
        if framing_only {
            println!(
                "{name} {}x{} known {known} auto {} iou {iou:.3} iou' {} carried {:?} {:?}",
                photo.width(),
                photo.height(),
                subject.crop,
                shown(consistency),
                carried.map(|c| c.to_string()),
                subject.source
            );
            ious.push(iou);
            continue;
        }

        // The try-on of the composed photo, pasted back, and of the original.
        let wild = match run_tryon(
            &engine,
            &TryOnPhotos {
                photo: &photo,
                crop: if known_frame { known } else { subject.crop },
                matte: subject.matte.as_ref(),
                background: Background::Replace,
                garment: &garment,
                garment_mask: &garment_mask,
                hires: true,
                keep_photo: !known_frame && subject.keep_photo(),
                exposure,
                keypoints: subject.keypoints.as_deref(),
                sleeves,
                hem,
                skin,
                warp,
            },
        ) {
            Ok(wild) => wild,
            Err(e) => {
                println!("{name}: try-on failed: {e}");
                ious.push(iou);
                continue;
            }
        };
        let gain = wild.exposure.gain();
        let pasted = wild.pasted.context("no pasted result")?;
        // The original's try-on as the app shows it (the high-resolution result pasted into the
        // photo: at 192x256 the photo's own pixels where the rendered person matches them), and
        // the network's own 192x256 rendering.
        let (reference_rendered, reference) = reference()?;

        // (b): the known frame of the pasted result at 192x256, inside the person and the photo.
        let framed = imageops::resize(
            &crop_pixels(&pasted, known, VITON_BACKGROUND),
            192,
            256,
            imageops::FilterType::Triangle,
        );
        let in_photo: GrayImage = imageops::resize(
            &fitting_room::pipeline::crop_plane(
                &GrayImage::from_pixel(photo.width(), photo.height(), image::Luma([255])),
                known,
            ),
            192,
            256,
            imageops::FilterType::Triangle,
        );
        let mask: Vec<bool> = parse
            .pixels()
            .zip(in_photo.pixels())
            .map(|(p, v)| p[0] > 0 && v[0] == 255)
            .collect();
        let s = ssim(&framed, &reference, &mask);
        let s_rendered = ssim(&framed, &reference_rendered, &mask);
        if let Some(dir) = &dump {
            framed.save(dir.join(format!("{name}_wild.png")))?;
            reference.save(dir.join(format!("{name}_original.png")))?;
        }

        // (c)
        let (mut bg, mut changed) = (0usize, 0usize);
        for ((p, q), m) in photo.pixels().zip(pasted.pixels()).zip(placed.pixels()) {
            if m[0] == 0 {
                bg += 1;
                if (0..3).any(|c| p[c].abs_diff(q[c]) > 30) {
                    changed += 1;
                }
            }
        }
        let change = changed as f32 / bg.max(1) as f32;
        println!(
            "{name} {}x{} known {known} auto {} iou {iou:.3} iou' {} ssim {} (vs rendered {}) bg>30 {:.4}% gain {gain:.2}",
            photo.width(),
            photo.height(),
            subject.crop,
            shown(consistency),
            shown(s),
            shown(s_rendered),
            change * 100.0
        );
        ious.push(iou);
        if let Some(s) = s {
            ssims.push(s);
        }
        if let Some(s) = s_rendered {
            ssims_rendered.push(s);
        }
        bg_changes.push(change);
        if sheet_path.is_some() && sheet_tiles.len() < 12 {
            sheet_tiles.push((photo.clone(), pasted));
        }
    }
    let n = ious.len().max(1) as f32;
    let summary = |label: &str, values: &[f32]| {
        let good = values.iter().filter(|&&v| v >= 0.90).count();
        let mut v = values.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{label} crop IoU >= 0.90 for {good}/{} photos ({:.1}%); median IoU {:.3}",
            v.len(),
            100.0 * good as f32 / v.len().max(1) as f32,
            v.get(v.len() / 2).copied().unwrap_or(0.0)
        );
    };
    summary("(a)", &ious);
    summary("(a') vs the original's own automatic crop:", &same_ious);
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
    let median = |v: &[f32]| {
        let mut v = v.to_vec();
        v.sort_by(f32::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    println!(
        "(b) SSIM inside the person: mean {:.3}, median {:.3} over {} photos (against the \
         original's network rendering instead of its pasted result: {:.3})",
        mean(&ssims),
        median(&ssims),
        ssims.len(),
        mean(&ssims_rendered)
    );
    println!(
        "(c) background pixels changed by more than 30 levels: mean {:.3}%, worst {:.3}%",
        100.0 * bg_changes.iter().sum::<f32>() / n,
        100.0 * bg_changes.iter().cloned().fold(0.0f32, f32::max)
    );
    if let Some(path) = sheet_path {
        let tile_h = 320u32;
        let tiles: Vec<(RgbImage, RgbImage)> = sheet_tiles
            .into_iter()
            .map(|(a, b)| {
                let w = (a.width() * tile_h / a.height()).max(1);
                let f = imageops::FilterType::Triangle;
                (
                    imageops::resize(&a, w, tile_h, f),
                    imageops::resize(&b, w, tile_h, f),
                )
            })
            .collect();
        let width: u32 = tiles.iter().map(|(a, _)| a.width()).max().unwrap_or(1) * 2;
        let mut sheet = RgbImage::from_pixel(
            width * 2,
            tile_h * tiles.len().div_ceil(2) as u32,
            image::Rgb([255, 255, 255]),
        );
        for (i, (a, b)) in tiles.iter().enumerate() {
            let (col, row) = ((i % 2) as u32, (i / 2) as u32);
            let x = i64::from(col * width);
            let y = i64::from(row * tile_h);
            imageops::replace(&mut sheet, a, x, y);
            imageops::replace(&mut sheet, b, x + i64::from(a.width()), y);
        }
        sheet.save(&path)?;
        println!("sheet: {}", path.display());
    }
    Ok(())
}
