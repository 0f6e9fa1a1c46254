//! Measures where VITON's persons stand in their frame, for automatic framing
//! (`pipeline::VITON_POSE`).
//!
//! ```text
//! cargo run --release --example viton_target -- path/to/viton/train [--every 5]
//! ```
//!
//! Runs the person models on every Nth `DIR/image/*.jpg` (192x256) and prints, as fractions of
//! the frame (x of its width, y of its height), the median place of the nose, the shoulders and
//! the hips, with the 10th and 90th percentiles, and the derived shoulder width and torso
//! height (shoulder middle to hip middle). Photos where nobody is found are counted and skipped.

use std::path::PathBuf;

use anyhow::{bail, Result};
use candle_core::Device;

use fitting_room::person::{Analysis, PersonModels};
use fitting_room::pipeline::load_rgb;

const POINTS: [(usize, &str); 5] = [
    (0, "nose"),
    (11, "left_shoulder"),
    (12, "right_shoulder"),
    (23, "left_hip"),
    (24, "right_hip"),
];

fn percentile(values: &mut [f32], p: f32) -> f32 {
    values.sort_by(|a, b| a.total_cmp(b));
    let i = ((values.len() - 1) as f32 * p).round() as usize;
    values[i]
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        bail!("usage: viton_target VITON_TRAIN_DIR [--every N]");
    };
    let every: usize = args
        .iter()
        .position(|a| a == "--every")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5);
    let dump = args
        .iter()
        .position(|a| a == "--dump")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let mut dumped = Vec::new();
    let models = PersonModels::load(&PersonModels::find(None)?, &Device::Cpu)?;
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir.join("image"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    // Per point: x and y fractions; then shoulder width and torso height.
    let mut xs: Vec<Vec<f32>> = vec![Vec::new(); POINTS.len()];
    let mut ys: Vec<Vec<f32>> = vec![Vec::new(); POINTS.len()];
    let (mut shoulders, mut torso) = (Vec::new(), Vec::new());
    let (mut used, mut missed) = (0, 0);
    for path in names.iter().step_by(every.max(1)) {
        let photo = load_rgb(path)?;
        let (w, h) = (photo.width() as f32, photo.height() as f32);
        let Analysis::Found(person) = models.analyze(&photo)? else {
            missed += 1;
            continue;
        };
        let k = &person.keypoints;
        if dump.is_some() {
            dumped.push(serde_json::json!({
                "name": path.file_name().map(|n| n.to_string_lossy().into_owned()),
                "points": k.iter().map(|p| [p.x / w, p.y / h, p.visibility]).collect::<Vec<_>>(),
            }));
        }
        if [0, 11, 12, 23, 24].iter().any(|&i| k[i].visibility < 0.5) {
            missed += 1;
            continue;
        }
        used += 1;
        for (j, (i, _)) in POINTS.iter().enumerate() {
            xs[j].push(k[*i].x / w);
            ys[j].push(k[*i].y / h);
        }
        shoulders.push((k[11].x - k[12].x).abs() / w);
        let mid = |a: usize, b: usize| (k[a].y + k[b].y) / 2.0;
        torso.push((mid(23, 24) - mid(11, 12)) / h);
    }
    if let Some(path) = &dump {
        std::fs::write(path, serde_json::to_string(&dumped)?)?;
    }
    println!("{used} photos measured, {missed} skipped (no person, or a point not visible)");
    for (j, (_, name)) in POINTS.iter().enumerate() {
        let (x, y) = (&mut xs[j], &mut ys[j]);
        println!(
            "{name:<15} x {:.3} (p10 {:.3}, p90 {:.3})  y {:.3} (p10 {:.3}, p90 {:.3})",
            percentile(x, 0.5),
            percentile(x, 0.1),
            percentile(x, 0.9),
            percentile(y, 0.5),
            percentile(y, 0.1),
            percentile(y, 0.9)
        );
    }
    println!(
        "shoulder width {:.3} of the width (p10 {:.3}, p90 {:.3})",
        percentile(&mut shoulders, 0.5),
        percentile(&mut shoulders, 0.1),
        percentile(&mut shoulders, 0.9)
    );
    println!(
        "torso height   {:.3} of the height (p10 {:.3}, p90 {:.3})",
        percentile(&mut torso, 0.5),
        percentile(&mut torso, 0.1),
        percentile(&mut torso, 0.9)
    );
    Ok(())
}
