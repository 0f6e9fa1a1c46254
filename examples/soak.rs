//! Soak run: the app in live mode on the synthetic camera for a long time (30 minutes by
//! default), sampling the process's memory, the live try-on rate, the UI frame times and the
//! number of textures. Not part of the tests (it is a long CPU hog):
//!
//! ```sh
//! cargo run --release --features soak --example soak -- [MINUTES] [SAMPLE_SECONDS]
//! ```
//!
//! The app runs in egui's test harness, exactly as in the app tests, stepped at up to 60 frames
//! a second and drawn (on a software adapter, if that is all there is) once a second; a
//! frame's time is the UI thread's work on it, apart from the drawing, which is reported on its
//! own. Prints one line per sample and a verdict at the end: memory flat after
//! the warm-up, textures flat, no UI frame over 100 ms. Exits non-zero if one of those fails.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use fitting_room::app::{Command, FittingRoomApp, StartOptions};
use fitting_room::capture::SyntheticBackend;

/// The UI thread may not spend longer than this on a frame.
const STALL: Duration = Duration::from_millis(100);
/// Memory may grow this much from the end of the warm-up to the end of the run.
const GROWTH_MB: f64 = 32.0;

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// This thread's time on a CPU and waiting for one, in ns (Linux schedstat): tells the app's own
/// work from the machine being busy with other programs.
fn thread_times() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut fields = text.split_whitespace().map(|f| f.parse().unwrap_or(0));
    (fields.next().unwrap_or(0), fields.next().unwrap_or(0))
}

/// One UI frame: (wall time, time on a CPU, time waiting for a CPU).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
struct Frame {
    wall: Duration,
    cpu: Duration,
    waited: Duration,
}

fn step(harness: &mut Harness<'static, FittingRoomApp>, frames: &mut Vec<Frame>) {
    let (cpu0, wait0) = thread_times();
    let start = Instant::now();
    harness.step();
    let wall = start.elapsed();
    let (cpu1, wait1) = thread_times();
    frames.push(Frame {
        wall,
        cpu: Duration::from_nanos(cpu1.saturating_sub(cpu0)),
        waited: Duration::from_nanos(wait1.saturating_sub(wait0)),
    });
}

fn wait_for(
    harness: &mut Harness<'static, FittingRoomApp>,
    what: &str,
    done: impl Fn(&FittingRoomApp) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !done(harness.state()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        harness.step();
        std::thread::sleep(Duration::from_millis(16));
    }
}

fn percentile(sorted: &[Frame], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].wall
}

fn main() {
    let mut args = std::env::args().skip(1);
    let minutes: f64 = args.next().map_or(30.0, |a| a.parse().expect("MINUTES"));
    let sample_s: f64 = args
        .next()
        .map_or(60.0, |a| a.parse().expect("SAMPLE_SECONDS"));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let user_dir = tempfile::tempdir().expect("a temporary user folder");
    let options = StartOptions {
        model: Some(root.join("models/default")),
        device: fitting_room::engine::DeviceChoice::Cpu,
        wardrobe_dir: Some(root.join("assets/wardrobe")),
        user_dir: Some(user_dir.path().to_path_buf()),
        cameras: Arc::new(
            SyntheticBackend::new()
                .frame_size(640, 480)
                .frame_rate(30.0),
        ),
        ..Default::default()
    };
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu()
        .build_eframe(move |cc| FittingRoomApp::new(cc, options));
    // The harness keeps every texture change until its renderer exists (a camera frame each
    // time): render once, so changes go to the GPU as in the real app.
    harness
        .render()
        .expect("a wgpu adapter (a software one will do)");

    harness.state_mut().apply(Command::OpenGarmentFile(
        root.join("assets/wardrobe/red-sweet-print-tee.jpg"),
    ));
    wait_for(&mut harness, "the model and the garment", |app| {
        matches!(
            app.session().model(),
            fitting_room::app::worker::ModelStatus::Ready(_)
        ) && app.session().garment().is_some()
    });
    harness.get_by_label("Camera").click();
    wait_for(&mut harness, "the camera list", |app| {
        app.capture().cameras_listed()
    });
    harness.get_by_label("Start camera").click();
    wait_for(&mut harness, "camera frames", |app| {
        app.capture().last_frame().is_some()
    });
    harness.get_by_label("Live try-on").click();
    wait_for(&mut harness, "the first live try-on", |app| {
        app.session().live_results() >= 1
    });

    println!(
        "# soak: {minutes} min of live mode on a 640x480 30 fps synthetic camera, default model, \
         CPU, {} threads",
        rayon::current_num_threads()
    );
    println!(
        "minute  rss_mb  textures  live_fps  results  frames  p50_ms  p99_ms  max_ms  \
         max_cpu_ms  max_wait_ms"
    );
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(minutes * 60.0);
    let mut samples: Vec<(f64, f64, usize, u64, Duration)> = Vec::new();
    let mut worst = Frame::default();
    let mut worst_cpu = Duration::ZERO;
    let mut next_sample = start + Duration::from_secs_f64(sample_s);
    let mut frames = Vec::new();
    let mut last_results = harness.state().session().live_results();
    let mut last_render = Instant::now();
    let mut renders = Vec::new();
    while Instant::now() < end {
        let frame_start = Instant::now();
        step(&mut harness, &mut frames);
        // Texture uploads wait in wgpu's queue until something is submitted; the real app
        // submits every frame. Here a frame is drawn once a second (a software adapter draws
        // on the same CPU as the app), timed apart from the UI frames.
        if last_render.elapsed() >= Duration::from_secs(1) {
            last_render = Instant::now();
            let render_start = Instant::now();
            harness.render().expect("drawing the window");
            renders.push(render_start.elapsed());
        }
        if let Some(left) = Duration::from_millis(16).checked_sub(frame_start.elapsed()) {
            std::thread::sleep(left);
        }
        if Instant::now() >= next_sample {
            next_sample += Duration::from_secs_f64(sample_s);
            frames.sort();
            let max = frames.last().copied().unwrap_or_default();
            worst = worst.max(max);
            let max_cpu = frames.iter().map(|f| f.cpu).max().unwrap_or_default();
            worst_cpu = worst_cpu.max(max_cpu);
            let textures = harness.ctx.tex_manager().read().num_allocated();
            let results = harness.state().session().live_results();
            let rss = rss_mb();
            let minute = start.elapsed().as_secs_f64() / 60.0;
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            println!(
                "{minute:6.1}  {rss:6.0}  {textures:8}  {:8.1}  {:7}  {:6}  {:6.1}  {:6.1}  {:6.1}  \
                 {:10.1}  {:11.1}",
                harness.state().session().live_fps().unwrap_or(0.0),
                results - last_results,
                frames.len(),
                ms(percentile(&frames, 0.5)),
                ms(percentile(&frames, 0.99)),
                ms(max.wall),
                ms(max_cpu),
                ms(max.waited),
            );
            samples.push((minute, rss, textures, results - last_results, max.wall));
            renders.sort();
            if let Some(slowest) = renders.last() {
                println!(
                    "        drawing: {} frames, median {:.1} ms, max {:.1} ms",
                    renders.len(),
                    ms(renders[renders.len() / 2]),
                    ms(*slowest)
                );
            }
            renders.clear();
            last_results = results;
            frames.clear();
        }
    }

    // Warm-up: the first fifth of the run (at least the first sample).
    let warm = samples.len() / 5;
    let after: Vec<_> = samples.iter().skip(warm.max(1)).collect();
    let mut failed = Vec::new();
    if let (Some(first), Some(last)) = (after.first(), after.last()) {
        let growth = last.1 - first.1;
        let peak = after.iter().map(|s| s.1).fold(f64::MIN, f64::max);
        println!(
            "memory after warm-up: {:.0} MB -> {:.0} MB (peak {peak:.0} MB, growth {growth:+.0} MB)",
            first.1, last.1
        );
        if growth > GROWTH_MB {
            failed.push(format!("memory grew by {growth:.0} MB after the warm-up"));
        }
        let textures: Vec<usize> = after.iter().map(|s| s.2).collect();
        println!(
            "textures after warm-up: {:?} .. {:?}",
            textures.iter().min(),
            textures.iter().max()
        );
        if textures.iter().max() > textures.iter().min().map(|m| m + 4).as_ref() {
            failed.push("the number of textures grows".to_string());
        }
        if after.iter().any(|s| s.3 == 0) {
            failed.push("live mode stopped producing try-ons".to_string());
        }
    } else {
        failed.push("too short for a verdict: need at least two samples".to_string());
    }
    println!(
        "worst UI frame: {:.1} ms (limit {} ms), of which {:.1} ms waiting for a CPU; most CPU \
         time in one frame: {:.1} ms",
        worst.wall.as_secs_f64() * 1e3,
        STALL.as_millis(),
        worst.waited.as_secs_f64() * 1e3,
        worst_cpu.as_secs_f64() * 1e3
    );
    // Time spent waiting for a CPU is the machine's load, not the app's.
    if worst.wall.saturating_sub(worst.waited) > STALL {
        failed.push(format!(
            "a UI frame took {:.0} ms",
            worst.wall.as_secs_f64() * 1e3
        ));
    }
    if failed.is_empty() {
        println!("soak passed");
    } else {
        println!("soak FAILED: {}", failed.join("; "));
        std::process::exit(1);
    }
}
