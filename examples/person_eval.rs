//! Measures the person models against VITON's annotations on a VITON-layout folder.
//!
//! ```text
//! cargo run --release --example person_eval -- path/to/viton/val [--overlays OUTDIR] [--limit N]
//! cargo run --release --example person_eval -- path/to/viton/train --calibrate [--limit N]
//! cargo run --release --example person_eval -- path/to/viton/train --mattes OUTDIR
//! ```
//!
//! For every `DIR/image/NAME.jpg`:
//! - matte IoU: the matte above 0.5 against the parse's person region (`image-parse/NAME.png`,
//!   every label but background);
//! - keypoints: BlazePose's nose, shoulders, elbows, wrists and hips against VITON's OpenPose
//!   keypoints (`pose/NAME_keypoints.json`, COCO-18 order), for the joints OpenPose saw
//!   (confidence > 0); the error is in units of the torso height (OpenPose neck to mid-hip).
//!
//! Prints the IoU distribution, the share of joints within 5% of the torso height per joint and in
//! all, and the worst images. `--overlays OUTDIR` writes each overlay picture; `--mattes OUTDIR`
//! each photo's matte as the app puts the person on VITON's background with it (`NAME.png`,
//! 255 = person), which `training/train.py --matte-dir` trains the network on.
//!
//! The two skeletons place the hips differently (BlazePose's sit lower and closer together than
//! OpenPose's). `--calibrate`, run on the TRAIN split only, fits the mapping from BlazePose's hips
//! to OpenPose's in BlazePose's own torso frame and prints it; [`HIP_MAP`] holds the fitted
//! values, and the figures are printed both raw and with the hips mapped.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::Device;

use fitting_room::person::{render, Analysis, PersonModels};
use fitting_room::pipeline::load_rgb;

/// (OpenPose COCO-18 index, BlazePose index, name).
const JOINTS: [(usize, usize, &str); 9] = [
    (0, 0, "nose"),
    (2, 12, "right_shoulder"),
    (5, 11, "left_shoulder"),
    (3, 14, "right_elbow"),
    (6, 13, "left_elbow"),
    (4, 16, "right_wrist"),
    (7, 15, "left_wrist"),
    (8, 24, "right_hip"),
    (11, 23, "left_hip"),
];
const TOLERANCE: f32 = 0.05;

/// BlazePose hip -> OpenPose hip, fitted by `--calibrate` on VITON's train split (never on val):
/// in BlazePose's torso frame (origin the hip centre, `up` towards the shoulder centre, unit the
/// hip-centre-to-shoulder-centre length), each hip's sideways offset is scaled by `.0` and `.1`
/// of the torso length is added along `up`.
const HIP_MAP: (f32, f32) = (1.0095, 0.0367);

/// A torso frame: origin, `up` and `side` unit vectors, length.
type Frame = ((f32, f32), (f32, f32), (f32, f32), f32);

/// BlazePose's torso frame: hip centre, unit `up` and `side` vectors, torso length.
/// Person pixels of a VITON parse with the neck filled in, as `training/wild_set.py` fills it:
/// in each column, a run of at most 24 background pixels between person pixels is person.
fn fill_neck(parse: &image::GrayImage) -> Vec<bool> {
    let (w, h) = (parse.width() as usize, parse.height() as usize);
    let mut out: Vec<bool> = parse.pixels().map(|p| p.0[0] != 0).collect();
    for x in 0..w {
        let ys: Vec<usize> = (0..h).filter(|&y| out[y * w + x]).collect();
        for pair in ys.windows(2) {
            if pair[1] - pair[0] > 1 && pair[1] - pair[0] <= 24 {
                for y in pair[0]..pair[1] {
                    out[y * w + x] = true;
                }
            }
        }
    }
    out
}

fn torso_frame(k: &[fitting_room::person::Keypoint]) -> Option<Frame> {
    let mid = |a: usize, b: usize| ((k[a].x + k[b].x) / 2.0, (k[a].y + k[b].y) / 2.0);
    let hips = mid(23, 24);
    let shoulders = mid(11, 12);
    let (dx, dy) = (shoulders.0 - hips.0, shoulders.1 - hips.1);
    let len = (dx * dx + dy * dy).sqrt();
    if len < 1.0 {
        return None;
    }
    let up = (dx / len, dy / len);
    Some((hips, up, (-up.1, up.0), len))
}

/// The BlazePose keypoint at the mirror place of keypoint `i` (left and right swapped: the
/// eyes 1-3 and 4-6, then pairs from the ears, 7 and 8, on).
fn mirror(i: usize) -> usize {
    match i {
        0 => 0,
        1..=3 => i + 3,
        4..=6 => i - 3,
        _ if i % 2 == 1 => i + 1,
        _ => i - 1,
    }
}

/// A BlazePose hip in OpenPose's definition, by `map` (see [`HIP_MAP`]).
fn map_hip(k: &[fitting_room::person::Keypoint], index: usize, map: (f32, f32)) -> (f32, f32) {
    let Some((m, up, side, len)) = torso_frame(k) else {
        return (k[index].x, k[index].y);
    };
    let (rx, ry) = (k[index].x - m.0, k[index].y - m.1);
    let s = (rx * side.0 + ry * side.1) * map.0;
    let u = rx * up.0 + ry * up.1 + map.1 * len;
    (m.0 + s * side.0 + u * up.0, m.1 + s * side.1 + u * up.1)
}

fn openpose(path: &Path) -> Result<Vec<(f32, f32, f32)>> {
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let values = json["people"][0]["pose_keypoints"]
        .as_array()
        .context("no pose_keypoints")?
        .iter()
        .map(|v| v.as_f64().unwrap_or(0.0) as f32)
        .collect::<Vec<_>>();
    Ok(values.chunks(3).map(|c| (c[0], c[1], c[2])).collect())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        bail!("usage: person_eval VITON_DIR [--overlays OUTDIR]");
    };
    let overlays = args
        .iter()
        .position(|a| a == "--overlays")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let mattes = args
        .iter()
        .position(|a| a == "--mattes")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let calibrate = args.iter().any(|a| a == "--calibrate");
    let limit = args
        .iter()
        .position(|a| a == "--limit")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse::<usize>())
        .transpose()?
        .unwrap_or(usize::MAX);
    // Least-squares sums for the hip mapping: sideways (op * bp, bp * bp), up offsets.
    let mut fit = (0f64, 0f64, 0f64, 0usize);
    let models = PersonModels::load(&PersonModels::find(None)?, &Device::Cpu)?;
    let mut names: Vec<_> = std::fs::read_dir(dir.join("image"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg" || e == "png"))
        .collect();
    names.sort();
    names.truncate(limit);

    let mut ious = Vec::new();
    let mut neck_ious = Vec::new();
    // Every visible joint's error in torso heights (raw BlazePose points).
    let mut errors: Vec<f32> = Vec::new();
    // Where matte and parse disagree: pixels only the parse labels, only the matte covers.
    let (mut parse_only, mut matte_only, mut parse_area) = (0usize, 0usize, 0usize);
    let diag = std::env::var_os("PERSON_EVAL_DIAG").is_some();
    let mut alt = [0f32; 4];
    let mut second_iou = 0f32;
    let mut second_hits = (0usize, 0usize);
    let mut flip_hits = (0usize, 0usize);
    let mut offsets = [(0f32, 0f32); JOINTS.len()];
    let mut hits = [(0usize, 0usize); JOINTS.len()];
    // The hips mapped to OpenPose's definition ([`HIP_MAP`]).
    let mut mapped_hits = [(0usize, 0usize); 2];
    let mut missed = 0;
    let mut rows = Vec::new();
    for path in &names {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let photo = load_rgb(path)?;
        let analysis = models.analyze(&photo)?;
        let Analysis::Found(person) = &analysis else {
            missed += 1;
            println!("{stem}: no person");
            continue;
        };
        if let Some(out) = &overlays {
            std::fs::create_dir_all(out)?;
            render::overlay(&photo, person).save(out.join(format!("{stem}.png")))?;
        }
        if let Some(out) = &mattes {
            std::fs::create_dir_all(out)?;
            person
                .matte
                .to_luma8()
                .save(out.join(format!("{stem}.png")))?;
        }
        let parse = image::open(dir.join("image-parse").join(format!("{stem}.png")))?.to_luma8();
        let (mut inter, mut union) = (0usize, 0usize);
        // The parse with its unlabelled neck filled in (LIP has no neck class): a second
        // reference, for what the parse leaves out.
        let filled = fill_neck(&parse);
        let (mut inter_n, mut union_n) = (0usize, 0usize);
        for (x, y, p) in parse.enumerate_pixels() {
            let a = p.0[0] != 0;
            let b = person.matte.get(x, y) > 0.5;
            let an = filled[(y * parse.width() + x) as usize];
            inter_n += (an && b) as usize;
            union_n += (an || b) as usize;
            inter += (a && b) as usize;
            union += (a || b) as usize;
            parse_only += (a && !b) as usize;
            matte_only += (b && !a) as usize;
            parse_area += a as usize;
        }
        let iou = if union > 0 {
            inter as f32 / union as f32
        } else {
            1.0
        };
        if diag {
            // Alternatives: the selfie matte alone, their maximum, other thresholds.
            let selfie = models.segment(&photo)?;
            let mut counts = [(0usize, 0usize); 4];
            for (x, y, p) in parse.enumerate_pixels() {
                let a = p.0[0] != 0;
                let s = selfie.sample(x as f32, y as f32);
                let m = person.matte.get(x, y);
                for (i, b) in [s > 0.5, s.max(m) > 0.5, m > 0.3, m > 0.7]
                    .into_iter()
                    .enumerate()
                {
                    counts[i].0 += (a && b) as usize;
                    counts[i].1 += (a || b) as usize;
                }
            }
            for i in 0..4 {
                alt[i] += counts[i].0 as f32 / counts[i].1.max(1) as f32;
            }
        }
        ious.push(iou);
        neck_ious.push(inter_n as f32 / union_n.max(1) as f32);
        let op = openpose(&dir.join("pose").join(format!("{stem}_keypoints.json")))?;
        let torso = {
            let neck = op[1];
            let (rh, lh) = (op[8], op[11]);
            if neck.2 > 0.0 && rh.2 > 0.0 && lh.2 > 0.0 {
                let (mx, my) = ((rh.0 + lh.0) / 2.0, (rh.1 + lh.1) / 2.0);
                Some(((neck.0 - mx).powi(2) + (neck.1 - my).powi(2)).sqrt())
            } else {
                None
            }
        };
        let mut worst: f32 = 0.0;
        if let Some(torso) = torso.filter(|t| *t > 1.0) {
            for (j, &(o, b, _)) in JOINTS.iter().enumerate() {
                let (ox, oy, c) = op[o];
                if c <= 0.0 {
                    continue;
                }
                let k = person.keypoints[b];
                let err = ((k.x - ox).powi(2) + (k.y - oy).powi(2)).sqrt() / torso;
                offsets[j].0 += (k.x - ox) / torso;
                offsets[j].1 += (k.y - oy) / torso;
                worst = worst.max(err);
                errors.push(err);
                hits[j].1 += 1;
                if err <= TOLERANCE {
                    hits[j].0 += 1;
                }
                if b == 23 || b == 24 {
                    let (mx, my) = map_hip(&person.keypoints, b, HIP_MAP);
                    let e = ((mx - ox).powi(2) + (my - oy).powi(2)).sqrt() / torso;
                    let h = &mut mapped_hits[b - 23];
                    h.1 += 1;
                    h.0 += (e <= TOLERANCE) as usize;
                    if let Some((m, up, side, len)) = torso_frame(&person.keypoints) {
                        let (rx, ry) = (k.x - m.0, k.y - m.1);
                        let (qx, qy) = (ox - m.0, oy - m.1);
                        let (bs, os) = (rx * side.0 + ry * side.1, qx * side.0 + qy * side.1);
                        let (bu, ou) = (rx * up.0 + ry * up.1, qx * up.0 + qy * up.1);
                        fit.0 += (os * bs) as f64;
                        fit.1 += (bs * bs) as f64;
                        fit.2 += ((ou - bu) / len) as f64;
                        fit.3 += 1;
                    }
                }
            }
        }
        if diag {
            // A second landmark pass on the region the first pass points to.
            let first = models.landmarks(&photo, &person.region)?;
            let second = models.landmarks(&photo, &first.next_region)?;
            let (mut i2, mut u2) = (0usize, 0usize);
            for (x, y, p) in parse.enumerate_pixels() {
                let a = p.0[0] != 0;
                let b = second.segmentation.sample(x as f32, y as f32) > 0.5;
                i2 += (a && b) as usize;
                u2 += (a || b) as usize;
            }
            second_iou += i2 as f32 / u2.max(1) as f32;
            // Test-time flipping: the landmark model on the mirrored photo and region, its
            // keypoints mirrored back (left and right swapped) and averaged with the first
            // pass's.
            let width = photo.width() as f32;
            let region = &person.region;
            let mirrored = fitting_room::person::Region {
                cx: width - region.cx,
                angle: -region.angle,
                ..*region
            };
            let flipped = models.landmarks(&image::imageops::flip_horizontal(&photo), &mirrored)?;
            if let Some(torso) = torso.filter(|t| *t > 1.0) {
                for &(o, b, _) in &JOINTS {
                    let (ox, oy, c) = op[o];
                    if c > 0.0 {
                        let (k, f) = (first.keypoints[b], flipped.keypoints[mirror(b)]);
                        let (x, y) = ((k.x + width - f.x) / 2.0, (k.y + f.y) / 2.0);
                        let err = ((x - ox).powi(2) + (y - oy).powi(2)).sqrt() / torso;
                        flip_hits.0 += (err <= TOLERANCE) as usize;
                        flip_hits.1 += 1;
                    }
                }
            }
            if let Some(torso) = torso.filter(|t| *t > 1.0) {
                for &(o, b, _) in &JOINTS {
                    let (ox, oy, c) = op[o];
                    if c > 0.0 {
                        let k = second.keypoints[b];
                        let err = ((k.x - ox).powi(2) + (k.y - oy).powi(2)).sqrt() / torso;
                        second_hits.0 += (err <= TOLERANCE) as usize;
                        second_hits.1 += 1;
                    }
                }
            }
        }
        rows.push((stem, iou, worst));
    }
    neck_ious.sort_by(f32::total_cmp);
    println!(
        "matte IoU against the parse with its neck filled in: mean {:.4}, median {:.4}",
        neck_ious.iter().sum::<f32>() / neck_ious.len().max(1) as f32,
        neck_ious.get(neck_ious.len() / 2).copied().unwrap_or(0.0)
    );
    ious.sort_by(f32::total_cmp);
    let n = ious.len().max(1);
    let mean = ious.iter().sum::<f32>() / n as f32;
    println!("images {} (no person: {missed})", names.len());
    println!(
        "matte IoU: mean {mean:.4}, median {:.4}, p10 {:.4}, min {:.4}",
        ious[n / 2],
        ious[n / 10],
        ious.first().copied().unwrap_or(0.0)
    );
    println!(
        "of the parse's person pixels, the matte misses {:.1}% and adds {:.1}% outside them",
        100.0 * parse_only as f32 / parse_area.max(1) as f32,
        100.0 * matte_only as f32 / parse_area.max(1) as f32
    );
    let (mut total_hit, mut total) = (0, 0);
    for (j, &(_, _, name)) in JOINTS.iter().enumerate() {
        let (h, t) = hits[j];
        total_hit += h;
        total += t;
        println!(
            "  {name:<15} {:.1}% of {t} within {:.0}% of torso height",
            100.0 * h as f32 / t.max(1) as f32,
            TOLERANCE * 100.0
        );
        if diag {
            let n = t.max(1) as f32;
            println!(
                "    mean offset in torso heights: dx {:+.3} dy {:+.3}",
                offsets[j].0 / n,
                offsets[j].1 / n
            );
        }
    }
    println!(
        "keypoints: {:.1}% of {total} visible joints within {:.0}% of torso height",
        100.0 * total_hit as f32 / total.max(1) as f32,
        TOLERANCE * 100.0
    );
    errors.sort_by(f32::total_cmp);
    if !errors.is_empty() {
        let q = |p: f32| errors[((errors.len() - 1) as f32 * p) as usize];
        println!(
            "joint error in torso heights: median {:.3}, 90th percentile {:.3}, 95th {:.3}",
            q(0.5),
            q(0.9),
            q(0.95)
        );
    }
    let raw_hips = hits[7].0 + hits[8].0;
    let mapped = mapped_hits[0].0 + mapped_hits[1].0;
    println!(
        "with the hips mapped to OpenPose's (HIP_MAP {HIP_MAP:?}, from train): hips {:.1}%, all joints {:.1}%",
        100.0 * mapped as f32 / (mapped_hits[0].1 + mapped_hits[1].1).max(1) as f32,
        100.0 * (total_hit - raw_hips + mapped) as f32 / total.max(1) as f32
    );
    if calibrate {
        println!(
            "calibrated HIP_MAP: ({:.4}, {:.4}) from {} hips",
            fit.0 / fit.1.max(1e-9),
            fit.2 / fit.3.max(1) as f64,
            fit.3
        );
    }
    if diag {
        let k = ious.len().max(1) as f32;
        println!(
            "mean IoU: selfie {:.4}, max(selfie, pose) {:.4}, pose>0.3 {:.4}, pose>0.7 {:.4}",
            alt[0] / k,
            alt[1] / k,
            alt[2] / k,
            alt[3] / k
        );
        println!(
            "second landmark pass: IoU {:.4}, keypoints {:.1}% of {}",
            second_iou / k,
            100.0 * second_hits.0 as f32 / second_hits.1.max(1) as f32,
            second_hits.1
        );
        println!(
            "flipped landmark pass averaged in: keypoints {:.1}% of {}",
            100.0 * flip_hits.0 as f32 / flip_hits.1.max(1) as f32,
            flip_hits.1
        );
    }
    rows.sort_by(|a, b| a.1.total_cmp(&b.1));
    println!("lowest IoU: {:?}", &rows[..rows.len().min(5)]);
    rows.sort_by(|a, b| b.2.total_cmp(&a.2));
    println!(
        "largest joint error (torso heights): {:?}",
        &rows[..rows.len().min(5)]
    );
    Ok(())
}
