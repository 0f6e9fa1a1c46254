//! The `fitting-room` command: the desktop app (no subcommand), and headless try-on, batch runs,
//! checkpoint conversion, garment masks and benchmarks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use clap::{Args, Parser, Subcommand};
use image::{DynamicImage, GrayImage, Luma, Rgb, RgbImage};

use fitting_room::engine::{
    select_device, DeviceChoice, Engine, OpPath, StageTimes, TryOn, WarpPasses,
};
use fitting_room::model::ModelFiles;
use fitting_room::person::PersonModels;
use fitting_room::pipeline::{
    compose_pasted, default_background, default_warp, flow_to_color, garment_mask, load_gray,
    load_rgb, mask_to_tensor, prepare_inputs, prepare_inputs_with, prepare_subject, rgb_to_tensor,
    run_network, run_tryon_with_outputs, save_image, tensor_to_gray, tensor_to_rgb, Background,
    Crop, CropSource, ExposureMode, Framing, Hem, Skin, Sleeves, Subject, TryOnPhotos,
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

/// How any person photo is prepared for the network.
#[derive(Args, Clone)]
struct SubjectArgs {
    /// The 3:4 part of the person photo the network sees: `auto` (placed from the person's
    /// keypoints as VITON frames its persons; the centred crop when nobody is found), `centre`
    /// (the largest centred 3:4 rectangle), or `x,y,width,height` in photo pixels (x and y may
    /// be negative: the photo is extended with background). Of several people, `auto` dresses
    /// the one shown largest near the centre; a given crop, the one it holds. A 192x256 photo
    /// is dressed in its whole frame.
    #[arg(long, default_value = "auto", value_name = "auto|centre|X,Y,W,H")]
    framing: Framing,
    /// Same as `--framing X,Y,W,H`.
    #[arg(long, conflicts_with = "framing", value_name = "X,Y,W,H")]
    crop: Option<Crop>,
    /// What the network sees around the person: `replace` (the person, cut out by its matte,
    /// on VITON's plain background) or `keep` (the photo as it is). The photo's own background
    /// is kept in the pasted result either way. Unless asked, a 192x256 photo in its whole
    /// frame is seen as it is (VITON's own input, as the official test path takes it), any
    /// other replaced; the app replaces every photo's.
    #[arg(long, value_name = "replace|keep")]
    background: Option<Background>,
    /// A photo clearly darker than VITON's studio shots (a dim room): `match` shows the network
    /// the person in VITON's light and darkens what it paints, the garment included, to the
    /// photo's light; `keep` leaves the photo as it is and the garment at its product shot's
    /// brightness. Photos as bright as VITON's are the same either way.
    #[arg(long, default_value = "match", value_name = "match|keep")]
    exposure: ExposureMode,
    /// An old sleeve the new garment leaves uncovered (a person in a long-sleeved top tried in a
    /// T-shirt): `bare` paints it as a bare arm in the skin colour of the person's face, from
    /// the pose and the matte; `keep` leaves it as the network renders it. A long-sleeved
    /// garment's own sleeves belong on the arms: with one, the arms are left to the network
    /// either way.
    #[arg(long, default_value = "bare", value_name = "bare|keep")]
    sleeves: Sleeves,
    /// An old top the new garment leaves uncovered below its hem (a long T-shirt tried in a
    /// cropped top): `mirror` gives that band the photo's own trousers or skirt, mirrored up
    /// from where they show, at the photo's resolution, from the pose and the matte; `keep`
    /// leaves it as the network renders it. Where the band is not clear (the old top runs on
    /// into a dress, an arm lies across it, the new garment is the old top's colour) it is
    /// left to the network either way.
    #[arg(long, default_value = "mirror", value_name = "mirror|keep")]
    hem: Hem,
    /// An old top the new garment leaves uncovered on the torso (a T-shirt tried in a
    /// camisole: the chest above its neckline, a midriff below a cropped hem), where the
    /// network paints skin: `own` gives that skin the colour of the person's own (the neck or
    /// arms beside it, else the face), shaded as the network shades it, from the pose and the
    /// matte; `keep` leaves it as the network renders it (a pale pink for every person). An
    /// old top of a skin colour, or dark and warm (skin under a mesh), is left to the network
    /// either way.
    #[arg(long, default_value = "own", value_name = "own|keep")]
    skin: Skin,
    /// How the warp module reads the person and the garment: `once`, or `mirrored` (also the
    /// mirror image of both, the two appearance flows averaged), which holds the garment on
    /// the body where one reading tilts it, at about twice the warp module's time. Unless
    /// asked, a 192x256 photo in its whole frame is read once (as the official test path
    /// does), any other mirrored too; the app mirrors every photo and reads live frames once.
    #[arg(long, value_name = "once|mirrored")]
    warp_passes: Option<WarpPasses>,
    /// Person-model folder [default: $FITTING_ROOM_PERSON_MODELS, else the bundled models].
    #[arg(long, value_name = "DIR")]
    person_models: Option<PathBuf>,
}

impl SubjectArgs {
    fn framing(&self) -> Framing {
        self.crop.map(Framing::Manual).unwrap_or(self.framing)
    }

    /// The person models, when the chosen framing and background need them; a missing folder
    /// is reported and the photo used as it is.
    fn models(&self, device: &Device) -> Result<Option<PersonModels>> {
        if self.framing() != Framing::Auto && self.background == Some(Background::Keep) {
            return Ok(None);
        }
        match PersonModels::find(self.person_models.as_deref()) {
            Ok(dir) => Ok(Some(PersonModels::load(&dir, device)?)),
            Err(e) if self.person_models.is_none() => {
                log::warn!("{e}; framing and background are left as they are");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The background asked for, for deciding whether the person models run (they find the
    /// person for the composition too, so a default counts as a replacement).
    fn asked_background(&self) -> Background {
        self.background.unwrap_or(Background::Replace)
    }

    /// What the network sees around the person of `photo` in `subject`'s crop.
    fn background_for(&self, photo: &RgbImage, subject: &Subject) -> Background {
        self.background
            .unwrap_or_else(|| default_background(photo, subject.crop))
    }

    /// How the warp module reads the person of `photo` in `subject`'s crop.
    fn warp_for(&self, photo: &RgbImage, subject: &Subject) -> WarpPasses {
        self.warp_passes
            .unwrap_or_else(|| default_warp(photo, subject.crop))
    }

    /// The person of `photo`, framed; says what was decided.
    fn prepare(&self, models: Option<&PersonModels>, photo: &RgbImage) -> Result<Subject> {
        let subject = prepare_subject(models, photo, self.framing(), self.asked_background())?;
        let (w, h) = photo.dimensions();
        match &subject.source {
            CropSource::Auto => log::info!(
                "person photo is {w}x{h}: automatic crop {} ({:.0} ms finding the person)",
                subject.crop,
                subject.analysis_time.as_secs_f64() * 1e3
            ),
            CropSource::Fallback(_) => {
                log::warn!("{}", subject.note().unwrap_or_default())
            }
            _ if (w, h) != (192, 256) => log::info!(
                "person photo is {w}x{h}: using the 3:4 crop {}, scaled to 192x256",
                subject.crop
            ),
            _ => {}
        }
        if subject.matte.is_some() && self.background_for(photo, &subject) == Background::Replace {
            log::info!("background replaced: the network sees the person on VITON's background");
        }
        Ok(subject)
    }
}

#[derive(Args)]
struct TryonArgs {
    /// Person photo (a 192x256 photo is dressed in its whole frame).
    #[arg(long)]
    person: PathBuf,
    /// Garment photo.
    #[arg(long)]
    garment: PathBuf,
    /// Garment mask (white = garment); computed from the garment photo when left out.
    #[arg(long)]
    mask: Option<PathBuf>,
    #[command(flatten)]
    subject: SubjectArgs,
    /// Write the result at the crop's own resolution (up to 2048 pixels high) instead of 256x192.
    #[arg(long)]
    hires: bool,
    /// Also write the whole photo at its own resolution, wearing the garment, with its own
    /// background (implies the high-resolution composition).
    #[arg(long)]
    pasted: Option<PathBuf>,
    /// Also write the person input the network saw (192x256).
    #[arg(long)]
    seen: Option<PathBuf>,
    /// Also write the person's matte (white = person), the photo's size.
    #[arg(long)]
    matte: Option<PathBuf>,
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
    subject: SubjectArgs,
    /// Write each result as the whole person photo at its own resolution, wearing the garment
    /// over its own background, instead of the 192x256 network result.
    #[arg(long)]
    pasted: bool,
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
    /// Time the whole chain on this person photo (a 640x480 webcam frame, say): the person
    /// models, automatic framing, the person on VITON's background, the try-on and the
    /// paste-back into the photo, each stage's median.
    #[arg(long, value_name = "PHOTO", conflicts_with = "person_only")]
    photo: Option<PathBuf>,
    /// With `--photo`: the garment photo to dress (its mask computed from it) instead of a
    /// synthetic garment.
    #[arg(long, value_name = "GARMENT", requires = "photo")]
    garment: Option<PathBuf>,
    /// With `--photo`: what becomes of an old top below a shorter new garment (`mirror`, as
    /// the app does, or `keep`), to time that step.
    #[arg(long, default_value = "mirror", value_name = "mirror|keep")]
    hem: Hem,
    /// With `--photo`: what becomes of an old top uncovered on the torso where the network
    /// paints skin (`own`, as the app does, or `keep`), to time that step.
    #[arg(long, default_value = "own", value_name = "own|keep")]
    skin: Skin,
    /// How the warp module reads the person and the garment (`once`, as a live frame, or
    /// `mirrored`, as a photo).
    #[arg(long, default_value = "once", value_name = "once|mirrored")]
    warp_passes: WarpPasses,
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

/// The network's inputs for a photo's subject, prepared as the app prepares them.
fn photos<'a>(
    photo: &'a RgbImage,
    subject: &'a Subject,
    garment: &'a RgbImage,
    mask: &'a GrayImage,
    hires: bool,
    args: &SubjectArgs,
) -> TryOnPhotos<'a> {
    TryOnPhotos {
        photo,
        crop: subject.crop,
        matte: subject.matte.as_ref(),
        background: args.background_for(photo, subject),
        garment,
        garment_mask: mask,
        hires,
        keep_photo: subject.keep_photo(),
        exposure: args.exposure,
        keypoints: subject.keypoints.as_deref(),
        sleeves: args.sleeves,
        hem: args.hem,
        skin: args.skin,
        warp: args.warp_for(photo, subject),
    }
}

fn tryon(args: TryonArgs) -> Result<()> {
    let engine = args.model.load()?;
    let models = args.subject.models(engine.device())?;
    let (photo, garment, mask) = read_photos(&args.person, &args.garment, args.mask.as_deref())?;
    let subject = args.subject.prepare(models.as_ref(), &photo)?;
    let hires = args.hires || args.pasted.is_some();
    let (images, out) = run_tryon_with_outputs(
        &engine,
        &photos(&photo, &subject, &garment, &mask, hires, &args.subject),
    )
    .with_context(|| format!("trying on {}", args.person.display()))?;
    log::info!(
        "try-on took {:.0} ms",
        images.network_time.as_secs_f64() * 1e3
    );
    let result = match (&images.hires, args.hires) {
        (Some(hires), true) => {
            log::info!(
                "high-resolution result: {}x{}",
                hires.width(),
                hires.height()
            );
            hires.clone()
        }
        _ => images.result.clone(),
    };
    save_image(&DynamicImage::ImageRgb8(result), &args.out)?;
    if let (Some(path), Some(pasted)) = (&args.pasted, &images.pasted) {
        save_image(&DynamicImage::ImageRgb8(pasted.clone()), path)?;
    }
    if let Some(path) = &args.seen {
        save_image(&DynamicImage::ImageRgb8(images.person.clone()), path)?;
    }
    if let Some(path) = &args.matte {
        match &subject.matte {
            Some(matte) => save_image(&DynamicImage::ImageLuma8(matte.clone()), path)?,
            None => log::warn!("no matte to write: the background was kept or nobody was found"),
        }
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
    let models = args.subject.models(engine.device())?;
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
        let person = args.data.join("image").join(&pair.person);
        let (photo, garment, mask) = read_photos(
            &person,
            &args.data.join("cloth").join(&pair.garment),
            mask.exists().then_some(mask.as_path()),
        )?;
        let subject = prepare_subject(
            models.as_ref(),
            &photo,
            args.subject.framing(),
            args.subject.asked_background(),
        )?;
        if let Some(note) = subject.note() {
            bar.println(format!("{}: {note}", pair.person));
        }
        let photos = photos(
            &photo,
            &subject,
            &garment,
            &mask,
            args.pasted,
            &args.subject,
        );
        let inputs = prepare_inputs(&photos, engine.device())
            .with_context(|| format!("preparing {}", person.display()))?;
        let out = run_network(&engine, &photos, &inputs)?;
        let main = if args.pasted {
            compose_pasted(&out, &photos, &inputs)?.1
        } else {
            tensor_to_rgb(&out.p_tryon)?
        };
        let mut images = vec![DynamicImage::ImageRgb8(main)];
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

/// `bench --photo`: each stage of a try-on from any photo, median over `--iters` runs after a
/// warm-up.
fn bench_chain(args: &BenchArgs, photo_path: &Path) -> Result<()> {
    use fitting_room::person::Analysis;
    use fitting_room::pipeline::choose_crop;
    let engine = args.model.load()?;
    let dir = PersonModels::find(None)?;
    let models = PersonModels::load(&dir, engine.device())?;
    let photo = load_rgb(photo_path)?;
    let (garment, garment_mask) = match &args.garment {
        Some(path) => {
            let garment = load_rgb(path)?;
            let mask = garment_mask(&garment)
                .with_context(|| format!("computing a mask for {}", path.display()))?;
            (garment, mask)
        }
        None => (
            RgbImage::from_fn(192, 256, |x, y| Rgb([(x + y) as u8, 90, (x * 2) as u8])),
            GrayImage::from_fn(192, 256, |x, y| {
                Luma([if (30..162).contains(&x) && (40..220).contains(&y) {
                    255
                } else {
                    0
                }])
            }),
        ),
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut stages: [Vec<f64>; 8] = Default::default();
    let mut crop = None;
    for i in 0..args.iters + 1 {
        let t0 = Instant::now();
        let analysis = models.analyze(&photo)?;
        let t1 = Instant::now();
        let Analysis::Found(person) = analysis else {
            bail!("no person found in {}", photo_path.display());
        };
        let (c, _) = choose_crop(
            Framing::Auto,
            Ok(&person.keypoints),
            photo.width(),
            photo.height(),
        );
        let matte = person.matte.to_luma8();
        let t2 = Instant::now();
        let photos = TryOnPhotos {
            photo: &photo,
            crop: c,
            matte: Some(&matte),
            background: Background::Replace,
            garment: &garment,
            garment_mask: &garment_mask,
            hires: true,
            keep_photo: false,
            exposure: ExposureMode::Match,
            keypoints: Some(&person.keypoints),
            sleeves: Sleeves::Bare,
            hem: args.hem,
            skin: args.skin,
            warp: args.warp_passes,
        };
        let inputs = prepare_inputs(&photos, engine.device())?;
        let t3 = Instant::now();
        let out = run_network(&engine, &photos, &inputs)?;
        engine.device().synchronize()?;
        let t4 = Instant::now();
        let (_, pasted) = compose_pasted(&out, &photos, &inputs)?;
        let t5 = Instant::now();
        std::hint::black_box(pasted);
        // The same with the sleeves kept: what baring the arms costs (`pipeline::Sleeves`).
        let kept_start = Instant::now();
        let sleeves_kept = TryOnPhotos {
            sleeves: Sleeves::Keep,
            ..photos
        };
        std::hint::black_box(compose_pasted(&out, &sleeves_kept, &inputs)?);
        let kept = kept_start.elapsed();
        // Another garment on the same photo and crop, as the app tries it: the person's side
        // kept from the try-on before.
        let another_start = Instant::now();
        let inputs = prepare_inputs_with(&photos, inputs.person_side.clone(), engine.device())?;
        let out = run_network(&engine, &photos, &inputs)?;
        engine.device().synchronize()?;
        std::hint::black_box(compose_pasted(&out, &photos, &inputs)?);
        let another = another_start.elapsed();
        // A live camera's next frame starts where this one found the person.
        let tracked_start = Instant::now();
        std::hint::black_box(models.track(&photo, Some(&person.next_region))?);
        let tracked = tracked_start.elapsed();

        crop = Some(c);
        if i > 0 {
            for (stage, d) in stages.iter_mut().zip([
                t1 - t0,
                t2 - t1,
                t3 - t2,
                t4 - t3,
                t5 - t4,
                tracked,
                another,
                kept,
            ]) {
                stage.push(ms(d));
            }
        }
    }
    let [person, framing, compose, tryon, paste, tracked, another, kept] = stages.map(median);
    let report = serde_json::json!({
        "photo": format!("{}x{}", photo.width(), photo.height()),
        "crop": crop.map(|c| c.to_string()),
        "iters": args.iters,
        "threads": rayon::current_num_threads(),
        "warp_passes": args.warp_passes.to_string(),
        "stages_ms": {
            "person_models": person,
            "person_models_tracked": tracked,
            "framing_and_matte": framing,
            "network_input": compose,
            "tryon": tryon,
            "paste_back": paste,
            "paste_back_sleeves_kept": kept,
        },
        "total_ms": person + framing + compose + tryon + paste,
        "beyond_tryon_ms": person + framing + compose + paste,
        "beyond_tryon_without_person_models_ms": framing + compose + paste,
        "beyond_tryon_live_frame_ms": tracked + framing + compose + paste,
        "another_garment_ms": another,
        "peak_rss_mb": peak_rss_mb(),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
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
    if let Some(photo) = &args.photo {
        return bench_chain(&args, photo);
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
    let run = || {
        engine.tryon_timed(
            &inputs.person,
            &inputs.garment,
            &inputs.mask,
            args.warp_passes,
        )
    };
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
        "warp_passes": args.warp_passes.to_string(),
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
