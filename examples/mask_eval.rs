//! Measures the automatic garment masks against ground truth on a VITON-layout folder.
//!
//! ```text
//! cargo run --release --example mask_eval -- path/to/viton/val
//! cargo run --release --example mask_eval -- path/to/viton/val --worst 10 --save-worst worst/
//! ```
//!
//! For every `DIR/cloth/NAME` with a `DIR/cloth-mask/NAME`, computes the IoU of
//! `garment_mask(cloth)` with the mask thresholded at 128, and prints the distribution and the
//! worst garments. Options:
//! - `--worst N`: how many worst garments to list (10);
//! - `--save-worst OUTDIR`: write `garment | ground truth | ours | difference` pictures of them
//!   (difference: green = both, red = ours only, blue = ground truth only);
//! - `--rank-by-filled`: rank them by the IoU with the reference closed and filled instead;
//! - `--list FILE`: only the names in FILE (one a line);
//! - `--csv FILE`: write `name,iou,iou_solid,pale,solid` per garment;
//! - `--set KEY=VALUE`: override a `MaskParams` knob (for tuning, on training data only);
//! - `--upscale K`: mask each garment enlarged K times (Catmull-Rom), as product photos come,
//!   and compare the mask reduced back to the garment's size (Triangle, >= 128), what the
//!   network would see of it.
//!
//! The VITON reference masks were made by thresholding, and lose much of white, pale and some
//! bright garments; `solid` (the reference area over what it encloses once closed by 4 px) flags
//! those, and the summary also reports the garments whose reference is solid. `pale` is the
//! share of reference garment pixels within 20 grey levels of white.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use image::{GrayImage, Rgb, RgbImage};
use rayon::prelude::*;

use fitting_room::pipeline::{garment_mask_with, load_gray, load_rgb, save_image, MaskParams};

struct Opts {
    dir: PathBuf,
    worst: usize,
    save_worst: Option<PathBuf>,
    list: Option<PathBuf>,
    csv: Option<PathBuf>,
    rank_by_filled: bool,
    params: MaskParams,
    upscale: u32,
}

fn parse_args() -> Result<Opts> {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut opts = Opts {
        dir: PathBuf::new(),
        worst: 10,
        save_worst: None,
        list: None,
        csv: None,
        rank_by_filled: false,
        params: MaskParams::default(),
        upscale: 1,
    };
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--worst" => opts.worst = value("--worst")?.parse().context("--worst N")?,
            "--save-worst" => opts.save_worst = Some(value("--save-worst")?.into()),
            "--list" => opts.list = Some(value("--list")?.into()),
            "--csv" => opts.csv = Some(value("--csv")?.into()),
            "--rank-by-filled" => opts.rank_by_filled = true,
            "--upscale" => opts.upscale = value("--upscale")?.parse().context("--upscale K")?,
            // Tuning only: override a knob, e.g. `--set tol=4`.
            "--set" => set_param(&mut opts.params, &value("--set")?)?,
            s if s.starts_with("--") => bail!("unknown option {s}"),
            s => dir = Some(PathBuf::from(s)),
        }
    }
    opts.dir = dir.context(
        "usage: mask_eval DIR [--worst N] [--save-worst OUTDIR] [--list FILE] [--csv FILE]",
    )?;
    Ok(opts)
}

fn set_param(p: &mut MaskParams, kv: &str) -> Result<()> {
    let (k, v) = kv.split_once('=').context("--set KEY=VALUE")?;
    let f: f32 = v.parse().with_context(|| format!("bad value in {kv}"))?;
    match k {
        "blur" => p.blur = f,
        "tol" => p.tol = f as u8,
        "strong_tol" => p.strong_tol = f as u8,
        "body_open" => p.body_open = f as u8,
        "canny_low" => p.canny_low = f,
        "canny_high" => p.canny_high = f,
        "gap" => p.gap = f as u8,
        "pocket_pure" => p.pocket_pure = f,
        "pocket_share" => p.pocket_share = f,
        "keep_share" => p.keep_share = f,
        _ => bail!("unknown parameter {k}"),
    }
    Ok(())
}

struct Scored {
    name: String,
    iou: f64,
    pale: f64,
    /// IoU with the reference closed and filled: a rough yardstick where the reference has holes.
    iou_solid: f64,
    /// Ground-truth area over the area it encloses (once closed): low where it has holes.
    solid: f64,
}

fn binary(mask: &GrayImage) -> Vec<bool> {
    mask.pixels().map(|p| p[0] >= 128).collect()
}

fn iou(a: &[bool], b: &[bool]) -> f64 {
    let inter = a.iter().zip(b).filter(|(x, y)| **x && **y).count();
    let union = a.iter().zip(b).filter(|(x, y)| **x || **y).count();
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

/// The ground-truth mask of `cloth/NAME`: `cloth-mask/` holds it under the same stem.
fn mask_path(dir: &Path, name: &str) -> Option<PathBuf> {
    let stem = Path::new(name).file_stem()?.to_str()?;
    ["jpg", "png", "jpeg"]
        .iter()
        .map(|ext| dir.join("cloth-mask").join(format!("{stem}.{ext}")))
        .find(|p| p.exists())
}

/// The mask of `cloth`, computed on it enlarged `upscale` times and reduced back.
fn mask_of(cloth: &RgbImage, params: &MaskParams, upscale: u32) -> Result<GrayImage> {
    use image::imageops::{resize, FilterType};
    if upscale <= 1 {
        return Ok(garment_mask_with(cloth, params)?);
    }
    let (w, h) = cloth.dimensions();
    let big = resize(cloth, w * upscale, h * upscale, FilterType::CatmullRom);
    let mask = resize(
        &garment_mask_with(&big, params)?,
        w,
        h,
        FilterType::Triangle,
    );
    Ok(GrayImage::from_fn(w, h, |x, y| {
        image::Luma([if mask.get_pixel(x, y)[0] >= 128 {
            255
        } else {
            0
        }])
    }))
}

fn score(dir: &Path, name: &str, params: &MaskParams, upscale: u32) -> Result<Option<Scored>> {
    let Some(gt_path) = mask_path(dir, name) else {
        return Ok(None);
    };
    let cloth = load_rgb(&dir.join("cloth").join(name))?;
    let gt = binary(&load_gray(&gt_path)?);
    let ours = binary(&mask_of(&cloth, params, upscale)?);
    if gt.len() != ours.len() {
        bail!("{name}: mask and garment sizes differ");
    }
    let (mut pale, mut area) = (0usize, 0usize);
    for (px, &g) in cloth.pixels().zip(&gt) {
        if g {
            area += 1;
            if px.0.iter().all(|&c| c >= 235) {
                pale += 1;
            }
        }
    }
    let solid_gt = solidified(&gt, cloth.width(), cloth.height());
    let filled = solid_gt.iter().filter(|&&b| b).count();
    Ok(Some(Scored {
        name: name.to_string(),
        iou: iou(&gt, &ours),
        iou_solid: iou(&solid_gt, &ours),
        pale: pale as f64 / area.max(1) as f64,
        solid: area as f64 / filled.max(1) as f64,
    }))
}

/// `mask` closed by 4 px plus what it then encloses.
fn solidified(mask: &[bool], w: u32, h: u32) -> Vec<bool> {
    use imageproc::distance_transform::Norm;
    use imageproc::region_labelling::{connected_components, Connectivity};
    let closed = imageproc::morphology::close(
        &GrayImage::from_fn(w, h, |x, y| {
            image::Luma([if mask[(y * w + x) as usize] { 255 } else { 0 }])
        }),
        Norm::L1,
        4,
    );
    let outside = GrayImage::from_fn(w, h, |x, y| image::Luma([255 - closed.get_pixel(x, y)[0]]));
    let labels = connected_components(&outside, Connectivity::Four, image::Luma([0u8]));
    let mut open = std::collections::HashSet::new();
    for (x, y, l) in labels.enumerate_pixels() {
        if l[0] != 0 && (x == 0 || y == 0 || x + 1 == w || y + 1 == h) {
            open.insert(l[0]);
        }
    }
    labels.pixels().map(|l| !open.contains(&l[0])).collect()
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn side_by_side(dir: &Path, name: &str, params: &MaskParams, upscale: u32) -> Result<RgbImage> {
    let cloth = load_rgb(&dir.join("cloth").join(name))?;
    let gt_path = mask_path(dir, name).context("no ground truth")?;
    let gt = load_gray(&gt_path)?;
    let ours = mask_of(&cloth, params, upscale)?;
    let (w, h) = cloth.dimensions();
    let mut out = RgbImage::new(w * 4, h);
    for (x, y, px) in cloth.enumerate_pixels() {
        let (g, o) = (gt.get_pixel(x, y)[0] >= 128, ours.get_pixel(x, y)[0] >= 128);
        let grey = |b: bool| {
            if b {
                Rgb([255, 255, 255])
            } else {
                Rgb([0, 0, 0])
            }
        };
        out.put_pixel(x, y, *px);
        out.put_pixel(w + x, y, grey(g));
        out.put_pixel(2 * w + x, y, grey(o));
        let diff = match (g, o) {
            (true, true) => Rgb([0, 160, 0]),
            (false, true) => Rgb([255, 0, 0]),
            (true, false) => Rgb([0, 90, 255]),
            (false, false) => Rgb([0, 0, 0]),
        };
        out.put_pixel(3 * w + x, y, diff);
    }
    Ok(out)
}

fn main() -> Result<()> {
    let opts = parse_args()?;
    let cloth_dir = opts.dir.join("cloth");
    let mut names: Vec<String> = match &opts.list {
        Some(list) => std::fs::read_to_string(list)
            .with_context(|| format!("reading {}", list.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        None => std::fs::read_dir(&cloth_dir)
            .with_context(|| format!("reading {}", cloth_dir.display()))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(String::from))
            .collect(),
    };
    names.sort();
    let results: Vec<Result<Option<Scored>>> = names
        .par_iter()
        .map(|n| score(&opts.dir, n, &opts.params, opts.upscale))
        .collect();
    let mut scored = Vec::new();
    for r in results {
        match r {
            Ok(Some(s)) => scored.push(s),
            Ok(None) => {}
            Err(e) => eprintln!("skipped: {e:#}"),
        }
    }
    if scored.is_empty() {
        bail!(
            "no garment with a ground-truth mask under {}",
            opts.dir.display()
        );
    }
    if let Some(csv) = &opts.csv {
        let text: String = scored
            .iter()
            .map(|s| {
                format!(
                    "{},{:.4},{:.4},{:.3},{:.3}\n",
                    s.name, s.iou, s.iou_solid, s.pale, s.solid
                )
            })
            .collect();
        std::fs::write(csv, format!("name,iou,iou_solid,pale,solid\n{text}"))
            .with_context(|| format!("writing {}", csv.display()))?;
    }
    let mut ious: Vec<f64> = scored.iter().map(|s| s.iou).collect();
    ious.sort_by(f64::total_cmp);
    let n = ious.len() as f64;
    let at_least = |t: f64| ious.iter().filter(|&&v| v >= t).count() as f64 / n;
    println!("garments      {}", ious.len());
    println!("mean IoU      {:.4}", ious.iter().sum::<f64>() / n);
    println!("median IoU    {:.4}", quantile(&ious, 0.5));
    for q in [0.05, 0.10, 0.25] {
        println!("{:>2.0}% quantile  {:.4}", q * 100.0, quantile(&ious, q));
    }
    println!("IoU >= 0.90   {:.1}%", 100.0 * at_least(0.90));
    println!("IoU >= 0.95   {:.1}%", 100.0 * at_least(0.95));
    // Reference masks made by thresholding lose most of a white garment: report those apart.
    let solid: Vec<f64> = scored
        .iter()
        .filter(|s| s.solid >= 0.95)
        .map(|s| s.iou)
        .collect();
    if !solid.is_empty() {
        let mut sorted = solid.clone();
        sorted.sort_by(f64::total_cmp);
        let ok = sorted.iter().filter(|&&v| v >= 0.90).count() as f64;
        println!(
            "with a solid reference (>= 95% of what it encloses): {} garments, mean {:.4}, \
             median {:.4}, IoU >= 0.90 {:.1}%",
            sorted.len(),
            sorted.iter().sum::<f64>() / sorted.len() as f64,
            quantile(&sorted, 0.5),
            100.0 * ok / sorted.len() as f64
        );
    }
    let pale: Vec<&Scored> = scored.iter().filter(|s| s.pale >= 0.5).collect();
    if !pale.is_empty() {
        let n = pale.len() as f64;
        println!(
            "pale garments (>= half near white): {}, mean IoU {:.4}, mean IoU with the \
             reference closed and filled {:.4}",
            pale.len(),
            pale.iter().map(|s| s.iou).sum::<f64>() / n,
            pale.iter().map(|s| s.iou_solid).sum::<f64>() / n
        );
    }
    if opts.rank_by_filled {
        scored.sort_by(|a, b| a.iou_solid.total_cmp(&b.iou_solid));
    } else {
        scored.sort_by(|a, b| a.iou.total_cmp(&b.iou));
    }
    println!("worst {}:", opts.worst.min(scored.len()));
    if let Some(out) = &opts.save_worst {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    for (rank, s) in scored.iter().take(opts.worst).enumerate() {
        println!(
            "  {:.4}  {}  (closed and filled {:.4}, pale {:.2}, reference solid {:.2})",
            s.iou, s.name, s.iou_solid, s.pale, s.solid
        );
        if let Some(out) = &opts.save_worst {
            let stem = Path::new(&s.name)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("garment");
            let picture = side_by_side(&opts.dir, &s.name, &opts.params, opts.upscale)?;
            save_image(
                &image::DynamicImage::ImageRgb8(picture),
                &out.join(format!("{:02}_{stem}.png", rank + 1)),
            )?;
        }
    }
    Ok(())
}
