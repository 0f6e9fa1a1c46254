//! The `fitting-room` command: the desktop app (no subcommand), and headless try-on, batch runs,
//! checkpoint conversion, garment masks and benchmarks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use clap::{Args, Parser, Subcommand};
use image::{DynamicImage, GrayImage, Luma, Rgb, RgbImage};

use fitting_room::engine::{select_device, DeviceChoice, Engine, OpPath, StageTimes, TryOn};
use fitting_room::model::ModelFiles;
use fitting_room::pipeline::{
    flow_to_color, garment_mask, load_gray, load_rgb, mask_to_tensor, paste_into, prepare_inputs,
    rgb_to_tensor, run_tryon_with_outputs, save_image, tensor_to_gray, tensor_to_rgb, Crop,
    PreparedInputs, TryOnPhotos,
};
use fitting_room::weights::StateDict;

#[derive(Parser)]
#[command(
    name = "fitting-room",
    version,
    about = "Virtual try-on with PF-AFN. Without a subcommand, opens the desktop app.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    app: AppArgs,
}

/// Options of the desktop app.
#[derive(Args)]
struct AppArgs {
    /// A person photo to open.
    photo: Option<PathBuf>,
    /// A person photo to open (same as PHOTO).
    #[arg(long, conflicts_with = "photo")]
    person: Option<PathBuf>,
    /// A garment photo to try on at once (its mask is computed).
    #[arg(long)]
    garment: Option<PathBuf>,
    /// Model folder: a Fitting Room bundle or the official PF-AFN checkpoint folder
    /// [default: $FITTING_ROOM_MODEL, else the bundled model].
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Folder of bundled garments to show
    /// [default: $FITTING_ROOM_WARDROBE, else the bundled wardrobe].
    #[arg(long, value_name = "DIR")]
    wardrobe: Option<PathBuf>,
    /// Compute device: auto, cpu, cuda[:N] or metal[:N].
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// The result view to start in: try-on, before-after, warped-garment, warped-mask,
    /// composition-mask, rendered, flow-colour, flow-arrows or flow-grid.
    #[arg(long)]
    view: Option<fitting_room::app::result_panel::ResultView>,
}

#[derive(Subcommand)]
enum Command {
    /// Dress one person in one garment.
    Tryon(TryonArgs),
    /// Try on every `person garment` pair of a list over a VITON-layout folder.
    Batch(BatchArgs),
    /// Convert checkpoints (a file, or a model folder) to safetensors.
    Convert(ConvertArgs),
    /// Time the try-on: warm-up, then median latency per stage and peak memory.
    Bench(BenchArgs),
    /// Compute a garment mask from a garment photo on a plain background.
    Mask(MaskArgs),
    /// Find the person in a photo: matte, body keypoints and box.
    Person(PersonArgs),
}

#[derive(Args)]
struct PersonArgs {
    /// Photo (any size).
    photo: PathBuf,
    /// Output folder: matte.png, keypoints.json, overlay.png.
    #[arg(long)]
    out: PathBuf,
    /// Person-model folder [default: $FITTING_ROOM_PERSON_MODELS, else the bundled models].
    #[arg(long, value_name = "DIR")]
    person_models: Option<PathBuf>,
    /// Compute device: auto, cpu, cuda[:N] or metal[:N].
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
}

#[derive(Args, Clone)]
struct ModelArgs {
    /// Model folder: a Fitting Room bundle or the official PF-AFN checkpoint folder
    /// [default: $FITTING_ROOM_MODEL, else the bundled model].
    #[arg(long, value_name = "DIR", conflicts_with_all = ["warp", "generator"])]
    model: Option<PathBuf>,
    /// Warp module checkpoint (with --gen).
    #[arg(long, requires = "generator")]
    warp: Option<PathBuf>,
    /// Generator checkpoint (with --warp).
    #[arg(long = "gen", requires = "warp")]
    generator: Option<PathBuf>,
    /// Compute device: auto, cpu, cuda[:N] or metal[:N].
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Use the tensor-op path everywhere (the path GPUs take), for checking it on the CPU.
    #[arg(long, hide = true)]
    tensor_ops: bool,
}

impl ModelArgs {
    fn files(&self) -> Result<ModelFiles> {
        Ok(match (&self.model, &self.warp, &self.generator) {
            (Some(dir), _, _) => ModelFiles::from_dir(dir)?,
            (None, Some(warp), Some(generator)) => ModelFiles {
                warp: warp.clone(),
                generator: generator.clone(),
            },
            _ => ModelFiles::default_model()?,
        })
    }

    fn load(&self) -> Result<Engine> {
        let device = select_device(self.device)?;
        let files = self.files()?;
        log::info!(
            "model: {} + {}",
            files.warp.display(),
            files.generator.display()
        );
        let path = if self.tensor_ops {
            OpPath::Tensor
        } else {
            OpPath::Auto
        };
        Ok(files.load(&device, path)?)
    }
}

#[derive(Args)]
struct TryonArgs {
    /// Person photo (192x256 is used as is).
    #[arg(long)]
    person: PathBuf,
    /// Garment photo.
    #[arg(long)]
    garment: PathBuf,
    /// Garment mask (white = garment); computed from the garment photo when left out.
    #[arg(long)]
    mask: Option<PathBuf>,
    /// The 3:4 part of the person photo to use, `x,y,width,height` in photo pixels
    /// (default: the largest centred 3:4 rectangle).
    #[arg(long)]
    crop: Option<Crop>,
    /// Write the result at the crop's own resolution (up to 2048 pixels high) instead of 256x192.
    #[arg(long)]
    hires: bool,
    /// Also write the whole photo with the result pasted over the crop.
    #[arg(long)]
    pasted: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Output image (PNG or JPEG).
    #[arg(long)]
    out: PathBuf,
    /// Also write the warped garment.
    #[arg(long)]
    warped: Option<PathBuf>,
    /// Also write the appearance flow as a colour wheel.
    #[arg(long)]
    flow: Option<PathBuf>,
    /// Also write the raw output tensors (float32 NCHW) as safetensors.
    #[arg(long)]
    dump: Option<PathBuf>,
}

#[derive(Args)]
struct BatchArgs {
    /// Folder with image/, cloth/ and cloth-mask/ (a missing mask is computed).
    #[arg(long)]
    data: PathBuf,
    /// File of `person garment` lines (`#` starts a comment). Pairs whose outputs are already
    /// in the output folder are skipped, so a rerun resumes an interrupted run.
    #[arg(long)]
    pairs: PathBuf,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Also write the warped garment and the warped mask of each pair.
    #[arg(long)]
    extras: bool,
    /// Process only shard I of N (counting from 0), e.g. `--shard 2/8`: the machines of a run
    /// share the list by a fixed hash of each pair.
    #[arg(long, value_name = "I/N", default_value = "0/1")]
    shard: fitting_room::batch::Shard,
    /// Where to list the pairs that failed [default: OUT/failures-I-of-N.txt].
    #[arg(long, value_name = "FILE")]
    failures: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Args)]
struct ConvertArgs {
    /// A checkpoint file, or a model folder.
    input: PathBuf,
    /// The safetensors file, or (for a folder) the bundle folder to write.
    output: PathBuf,
}

#[derive(Args)]
struct MaskArgs {
    /// Garment photo.
    garment: PathBuf,
    /// Mask image to write (PNG; white = garment), the size of the photo.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Timed iterations after the warm-up.
    #[arg(long, default_value_t = 10)]
    iters: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Time only the person models (matte, detection, landmarks) on a 640x480 frame.
    #[arg(long)]
    person_only: bool,
    /// Try-ons per forward pass (the same inputs repeated); reports try-ons per second.
    #[arg(long, default_value_t = 1)]
    batch: usize,
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp(None)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Tryon(args)) => tryon(args),
        Some(Command::Batch(args)) => batch(args),
        Some(Command::Convert(args)) => convert(args),
        Some(Command::Bench(args)) => bench(args),
        Some(Command::Mask(args)) => mask(args),
        Some(Command::Person(args)) => person(args),
        None => run_app(cli.app),
    };
    if let Err(e) = result {
        eprintln!("error: {}", error_message(&e));
        std::process::exit(1);
    }
}

/// The error and its causes, each cause once: the library's errors already name their source
/// in their own message, so a cause that the message so far contains is not repeated.
fn error_message(e: &anyhow::Error) -> String {
    let mut message = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message = format!("{message}: {cause}");
        }
    }
    message
}

fn run_app(args: AppArgs) -> Result<()> {
    // Checked here, where the message reaches the terminal; the window would only show an
    // empty wardrobe.
    if let Some(dir) = args.wardrobe.as_ref().filter(|dir| !dir.is_dir()) {
        bail!("--wardrobe: `{}` is not a folder", dir.display());
    }
    let options = fitting_room::app::StartOptions {
        person: args.person.or(args.photo),
        garment: args.garment,
        model: args.model,
        wardrobe_dir: args.wardrobe,
        device: args.device,
        view: args.view,
        ..Default::default()
    };
    fitting_room::app::run_app(options)?;
    Ok(())
}

/// A person, garment and mask, as the network takes them.
struct Inputs {
    person: Tensor,
    garment: Tensor,
    mask: Tensor,
}

/// A person photo, a garment photo and its mask (computed when not given), from files.
fn read_photos(
    person: &Path,
    garment: &Path,
    mask: Option<&Path>,
) -> Result<(RgbImage, RgbImage, GrayImage)> {
    let photo = load_rgb(person)?;
    let garment_photo = load_rgb(garment)?;
    let mask = match mask {
        Some(mask) => load_gray(mask)?,
        None => {
            log::info!("no mask given: computed one from the garment photo");
            garment_mask(&garment_photo)
                .with_context(|| format!("computing a mask for {}", garment.display()))?
        }
    };
    Ok((photo, garment_photo, mask))
}

/// The crop to use of a photo: the one given, else the largest centred 3:4 rectangle.
fn crop_of(photo: &RgbImage, crop: Option<Crop>) -> Crop {
    let crop = crop.unwrap_or_else(|| Crop::centered(photo.width(), photo.height()));
    if photo.dimensions() != (192, 256) {
        log::info!(
            "person photo is {}x{}: using the 3:4 crop {crop}, scaled to 192x256",
            photo.width(),
            photo.height()
        );
    }
    crop
}

/// The network's inputs from files, prepared as the app prepares them.
fn read_inputs(
    person: &Path,
    garment: &Path,
    mask: Option<&Path>,
    crop: Option<Crop>,
    device: &Device,
) -> Result<(PreparedInputs, Crop)> {
    let (photo, garment, mask) = read_photos(person, garment, mask)?;
    let crop = crop_of(&photo, crop);
    let photos = TryOnPhotos {
        photo: &photo,
        crop,
        garment: &garment,
        garment_mask: &mask,
        hires: false,
    };
    let inputs = prepare_inputs(&photos, device)
        .with_context(|| format!("preparing {}", person.display()))?;
    Ok((inputs, crop))
}

fn tryon(args: TryonArgs) -> Result<()> {
    let engine = args.model.load()?;
    let (photo, garment, mask) = read_photos(&args.person, &args.garment, args.mask.as_deref())?;
    let crop = crop_of(&photo, args.crop);
    let photos = TryOnPhotos {
        photo: &photo,
        crop,
        garment: &garment,
        garment_mask: &mask,
        hires: args.hires,
    };
    let (images, out) = run_tryon_with_outputs(&engine, &photos)
        .with_context(|| format!("trying on {}", args.person.display()))?;
    log::info!(
        "try-on took {:.0} ms",
        images.network_time.as_secs_f64() * 1e3
    );
    let result = match images.hires {
        Some(hires) => {
            log::info!(
                "high-resolution result: {}x{}",
                hires.width(),
                hires.height()
            );
            hires
        }
        None => images.result,
    };
    save_image(&DynamicImage::ImageRgb8(result.clone()), &args.out)?;
    if let Some(path) = &args.pasted {
        let pasted = paste_into(&photo, crop, &result);
        save_image(&DynamicImage::ImageRgb8(pasted), path)?;
    }
    if let Some(path) = &args.warped {
        save_image(&DynamicImage::ImageRgb8(images.warped_garment), path)?;
    }
    if let Some(path) = &args.flow {
        let (img, scale) = flow_to_color(&images.flow, None)?;
        log::info!("flow: full colour at {scale:.1} px of motion");
        save_image(&DynamicImage::ImageRgb8(img), path)?;
    }
    if let Some(path) = &args.dump {
        dump(&out, path)?;
    }
    println!("{}", args.out.display());
    Ok(())
}

fn dump(out: &TryOn, path: &Path) -> Result<()> {
    let tensors: HashMap<String, Tensor> = out
        .named()
        .into_iter()
        .map(|(name, t)| Ok((name.to_string(), t.to_device(&Device::Cpu)?)))
        .collect::<Result<_>>()?;
    StateDict::from_tensors(tensors)
        .save_safetensors(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn batch(args: BatchArgs) -> Result<()> {
    use fitting_room::batch::{self, Outcome};
    let listed = batch::read_pairs(&args.pairs)?;
    let pairs = batch::select(&listed, args.shard, &args.pairs)?;
    let mut suffixes = vec![".png".to_string()];
    if args.extras {
        suffixes.extend(["_warped.png".to_string(), "_warped_mask.png".to_string()]);
    }
    let options = batch::Options {
        out_dir: args.out.clone(),
        shard: args.shard,
        suffixes,
        failures_file: args.failures.clone(),
    };
    let engine = args.model.load()?;
    let bar = indicatif::ProgressBar::new(pairs.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} {elapsed_precise} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let render = |pair: &batch::Pair| -> Result<Vec<DynamicImage>> {
        bar.set_message(format!("{} {}", pair.person, pair.garment));
        let mask = args.data.join("cloth-mask").join(&pair.garment);
        let (inputs, _) = read_inputs(
            &args.data.join("image").join(&pair.person),
            &args.data.join("cloth").join(&pair.garment),
            mask.exists().then_some(mask.as_path()),
            None,
            engine.device(),
        )?;
        let out = engine.tryon(&inputs.person, &inputs.garment, &inputs.mask)?;
        let mut images = vec![DynamicImage::ImageRgb8(tensor_to_rgb(&out.p_tryon)?)];
        if args.extras {
            images.push(DynamicImage::ImageRgb8(tensor_to_rgb(&out.warped_cloth)?));
            images.push(DynamicImage::ImageLuma8(tensor_to_gray(&out.warped_edge)?));
        }
        Ok(images)
    };
    let summary = batch::run(&pairs, &options, render, |pair, outcome| {
        if let Outcome::Failed(reason) = outcome {
            bar.println(format!("{} {}: {reason}", pair.person, pair.garment));
        }
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    eprintln!("{summary}");
    if !summary.failed.is_empty() {
        let names: Vec<String> = summary
            .failed
            .iter()
            .map(|(pair, _)| format!("{} {}", pair.person, pair.garment))
            .collect();
        bail!("{} pairs failed: {}", names.len(), names.join(", "));
    }
    Ok(())
}

fn mask(args: MaskArgs) -> Result<()> {
    let photo = load_rgb(&args.garment)?;
    let mask = garment_mask(&photo)
        .with_context(|| format!("computing a mask for {}", args.garment.display()))?;
    save_image(&DynamicImage::ImageLuma8(mask), &args.out)?;
    println!("{}", args.out.display());
    Ok(())
}

fn convert(args: ConvertArgs) -> Result<()> {
    if args.input.is_dir() {
        let files = ModelFiles::from_dir(&args.input)?;
        std::fs::create_dir_all(&args.output)
            .with_context(|| format!("creating {}", args.output.display()))?;
        for (src, name) in [
            (&files.warp, "warp.safetensors"),
            (&files.generator, "gen.safetensors"),
        ] {
            let dst = args.output.join(name);
            StateDict::load(src)?.save_safetensors(&dst)?;
            println!("{} -> {}", src.display(), dst.display());
        }
    } else {
        let state = StateDict::load(&args.input)?;
        state.save_safetensors(&args.output)?;
        println!(
            "{} -> {} ({} tensors)",
            args.input.display(),
            args.output.display(),
            state.len()
        );
    }
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Peak resident memory of this process, in MB (Linux: VmHWM).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU time used so far by all threads of this process, in ms (Linux: the schedulers' own
/// nanosecond counts). Unlike wall time it barely moves when other programs load the machine.
fn process_cpu_ms() -> Option<f64> {
    let mut total_ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total_ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total_ns as f64 / 1e6)
}

/// A person-like and a garment-like input at the native size, so the bench needs no files.
fn synthetic_inputs(device: &Device) -> Result<Inputs> {
    let person = RgbImage::from_fn(192, 256, |x, y| {
        let inside = ((x as i32 - 96).pow(2) * 3 + (y as i32 - 140).pow(2)) < 9000;
        if inside {
            Rgb([200, (y / 2) as u8, 120])
        } else {
            Rgb([235, 235, 240])
        }
    });
    let garment = RgbImage::from_fn(192, 256, |x, y| Rgb([(x + y) as u8, 90, (x * 2) as u8]));
    let mask = GrayImage::from_fn(192, 256, |x, y| {
        Luma([if (30..162).contains(&x) && (40..220).contains(&y) {
            255
        } else {
            0
        }])
    });
    Ok(Inputs {
        person: rgb_to_tensor(&person, device)?,
        garment: rgb_to_tensor(&garment, device)?,
        mask: mask_to_tensor(&mask, device)?,
    })
}

fn person(args: PersonArgs) -> Result<()> {
    use fitting_room::person::{render, Analysis, PersonModels};
    let device = select_device(args.device)?;
    let dir = PersonModels::find(args.person_models.as_deref())?;
    let models = PersonModels::load(&dir, &device)?;
    let photo = load_rgb(&args.photo)?;
    let analysis = models.analyze(&photo)?;
    let written = render::write_outputs(&args.out, &photo, &analysis)
        .with_context(|| format!("writing to {}", args.out.display()))?;
    match &analysis {
        Analysis::Found(p) => log::info!(
            "person found (score {:.2}, {} detected); wrote {}",
            p.score,
            p.people,
            written.len()
        ),
        Analysis::NoPerson(why) => println!("{why}"),
    }
    Ok(())
}

fn bench(args: BenchArgs) -> Result<()> {
    if args.iters == 0 || args.batch == 0 {
        bail!("--iters and --batch must be at least 1");
    }
    if args.person_only {
        let device = select_device(args.model.device)?;
        let dir = fitting_room::person::PersonModels::find(None)?;
        let models = fitting_room::person::PersonModels::load(&dir, &device)?;
        let mut report = fitting_room::person::bench(&models, args.iters)?;
        report["peak_rss_mb"] = serde_json::json!(peak_rss_mb());
        report["threads"] = serde_json::json!(rayon::current_num_threads());
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let load_start = Instant::now();
    let engine = args.model.load()?;
    let load_ms = load_start.elapsed().as_secs_f64() * 1e3;
    let one = synthetic_inputs(engine.device())?;
    let repeat = |t: &Tensor| t.repeat((args.batch, 1, 1, 1));
    let inputs = Inputs {
        person: repeat(&one.person)?,
        garment: repeat(&one.garment)?,
        mask: repeat(&one.mask)?,
    };
    let run = || engine.tryon_timed(&inputs.person, &inputs.garment, &inputs.mask);
    for _ in 0..2 {
        run()?;
    }
    let mut totals = Vec::new();
    let mut stages: Vec<StageTimes> = Vec::new();
    let cpu_start = process_cpu_ms();
    for _ in 0..args.iters {
        let start = Instant::now();
        let (_, times) = run()?;
        engine.device().synchronize()?;
        totals.push(start.elapsed().as_secs_f64() * 1e3);
        stages.push(times);
    }
    let cpu_ms_per_tryon = process_cpu_ms()
        .zip(cpu_start)
        .map(|(end, start)| (end - start) / args.iters as f64);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let stage_medians = serde_json::json!({
        "warp_ms": median(stages.iter().map(|s| ms(s.warp)).collect()),
        "mask_warp_ms": median(stages.iter().map(|s| ms(s.mask_warp)).collect()),
        "generator_ms": median(stages.iter().map(|s| ms(s.generator)).collect()),
        "composite_ms": median(stages.iter().map(|s| ms(s.composite)).collect()),
    });
    let info = engine.info();
    let report = serde_json::json!({
        "median_ms": median(totals.clone()),
        "batch": args.batch,
        "tryons_per_s": args.batch as f64 * 1e3 / median(totals.clone()),
        "min_ms": totals.iter().cloned().fold(f64::INFINITY, f64::min),
        "iters": args.iters,
        "stages": stage_medians,
        "cpu_ms_per_tryon": cpu_ms_per_tryon,
        "peak_rss_mb": peak_rss_mb(),
        "load_ms": load_ms,
        "device": format!("{:?}", engine.device().location()),
        "threads": rayon::current_num_threads(),
        "model": info,
    });
    if args.json {
        println!("{report}");
    } else {
        println!("device          {}", report["device"]);
        println!("threads         {}", report["threads"]);
        println!(
            "median try-on   {:.1} ms",
            report["median_ms"].as_f64().unwrap_or(0.0)
        );
        for (k, v) in stage_medians.as_object().into_iter().flatten() {
            println!("  {k:<14}{:.1} ms", v.as_f64().unwrap_or(0.0));
        }
        if args.batch > 1 {
            println!(
                "throughput      {:.1} try-ons/s (batch {})",
                report["tryons_per_s"].as_f64().unwrap_or(0.0),
                args.batch
            );
        }
        if let Some(mb) = report["peak_rss_mb"].as_f64() {
            println!("peak memory     {mb:.0} MB");
        }
    }
    Ok(())
}
