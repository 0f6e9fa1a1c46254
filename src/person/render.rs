//! What `fitting-room person` writes: the matte, the keypoints as JSON, and an overlay to look at.

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_circle_mut, draw_hollow_rect_mut, draw_line_segment_mut};
use imageproc::rect::Rect;

use super::pose::{BONES, KEYPOINT_NAMES};
use super::{Analysis, Person};

/// Keypoints below this visibility are drawn faintly.
const VISIBLE: f32 = 0.5;

/// The keypoints file's contents.
pub fn keypoints_json(analysis: &Analysis, width: u32, height: u32) -> serde_json::Value {
    match analysis {
        Analysis::NoPerson(why) => serde_json::json!({
            "width": width,
            "height": height,
            "person": null,
            "no_person": why,
            "message": why.to_string(),
        }),
        Analysis::Found(p) => {
            let keypoints: Vec<_> = p
                .keypoints
                .iter()
                .zip(KEYPOINT_NAMES)
                .map(|(k, name)| {
                    serde_json::json!({
                        "name": name, "x": k.x, "y": k.y, "z": k.z,
                        "visibility": k.visibility, "presence": k.presence,
                    })
                })
                .collect();
            serde_json::json!({
                "width": width,
                "height": height,
                "person": {
                    "box": p.bbox,
                    "score": p.score,
                    "presence": p.presence,
                    "people_detected": p.people,
                    "region": p.region,
                    "keypoints": keypoints,
                },
            })
        }
    }
}

/// The photo with the background dimmed by the matte, the skeleton and the box.
pub fn overlay(photo: &RgbImage, person: &Person) -> RgbImage {
    let mut out = photo.clone();
    for (x, y, p) in out.enumerate_pixels_mut() {
        let a = 0.35 + 0.65 * person.matte.get(x, y);
        for c in 0..3 {
            p.0[c] = (p.0[c] as f32 * a) as u8;
        }
    }
    let thick = ((photo.width().max(photo.height()) as f32) / 400.0)
        .ceil()
        .max(1.0) as i32;
    let b = person.bbox;
    for t in 0..thick {
        let (x, y) = (b.x0 as i32 + t, b.y0 as i32 + t);
        let (w, h) = (
            (b.width() as i32 - 2 * t).max(1),
            (b.height() as i32 - 2 * t).max(1),
        );
        draw_hollow_rect_mut(
            &mut out,
            Rect::at(x, y).of_size(w as u32, h as u32),
            Rgb([255, 200, 0]),
        );
    }
    let k = &person.keypoints;
    for &(a, b) in BONES.iter() {
        let visible = k[a].visibility > VISIBLE && k[b].visibility > VISIBLE;
        let colour = if visible {
            Rgb([0, 255, 120])
        } else {
            Rgb([90, 120, 100])
        };
        for dx in -(thick / 2)..=(thick / 2) {
            for dy in -(thick / 2)..=(thick / 2) {
                draw_line_segment_mut(
                    &mut out,
                    (k[a].x + dx as f32, k[a].y + dy as f32),
                    (k[b].x + dx as f32, k[b].y + dy as f32),
                    colour,
                );
            }
        }
    }
    for p in k {
        let colour = if p.visibility > VISIBLE {
            Rgb([255, 40, 40])
        } else {
            Rgb([120, 60, 60])
        };
        draw_filled_circle_mut(&mut out, (p.x as i32, p.y as i32), thick + 1, colour);
    }
    out
}

/// Writes `matte.png`, `keypoints.json` and `overlay.png` (the last two only when someone was
/// found, the JSON always) into `dir`; returns the files written.
pub fn write_outputs(
    dir: &Path,
    photo: &RgbImage,
    analysis: &Analysis,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let json = keypoints_json(analysis, photo.width(), photo.height());
    let path = dir.join("keypoints.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&json).map_err(std::io::Error::other)?,
    )?;
    written.push(path);
    if let Analysis::Found(person) = analysis {
        let path = dir.join("matte.png");
        person
            .matte
            .to_luma8()
            .save(&path)
            .map_err(std::io::Error::other)?;
        written.push(path);
        let path = dir.join("overlay.png");
        overlay(photo, person)
            .save(&path)
            .map_err(std::io::Error::other)?;
        written.push(path);
    }
    Ok(written)
}
