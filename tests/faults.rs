//! Faults injected into saves: a read-only data folder, a full disk, the process killed part
//! way through a write, a model file removed while it is in use. After each, the data written
//! before is intact and readable, the failing call says why, and the next call works.
//!
//! The faults are real: the wardrobe and export writes run in a child process (this test
//! binary, started again on its ignored `child` test) under a file-size limit
//! (`RLIMIT_FSIZE`): with `SIGXFSZ` ignored, the write that crosses the limit fails with EFBIG
//! as on a full disk; with the signal's default action, the kernel kills the process at that
//! write. Sweeping the limit moves the fault through every write of the sequence. Read-only
//! folders are plain permissions (for root, the child runs without the capability that
//! overrides them).
#![cfg(target_os = "linux")]
// The wardrobe's error carries paths and sources; the child's calls pass it on as it is.
#![allow(clippy::result_large_err)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use image::{GrayImage, Luma, Rgb, RgbImage};

use common::*;
use fitting_room::app::export::write_export;
use fitting_room::pipeline::{load_gray, load_rgb};
use fitting_room::wardrobe::{GarmentId, Wardrobe};

const SCENARIO: &str = "FITTING_ROOM_FAULT_SCENARIO";
const DIR: &str = "FITTING_ROOM_FAULT_DIR";

/// The file-size limits swept: from the very first byte to past every write of a scenario.
const LIMITS: [u64; 9] = [0, 100, 400, 1000, 2000, 4000, 8000, 12000, 1 << 30];

fn bundled_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/wardrobe")
}

fn id(s: &str) -> GarmentId {
    GarmentId::parse(s).unwrap()
}

/// The bundled garment whose mask the scenario edits.
const EDITED: &str = "pastel-striped-tee";
const NEW_NAME: &str = "Added under fault";
const RENAMED: &str = "Renamed under fault";

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Every folder and file of the data read-only.
    ReadOnly,
    /// Writes past `bytes` in any file fail with EFBIG.
    DiskFull { bytes: u64 },
    /// The process is killed at its first write past `bytes`.
    KilledAt { bytes: u64 },
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// `program args...` under `fault`.
fn faulty(fault: Fault, program: &Path) -> Command {
    match fault {
        Fault::ReadOnly if is_root() => {
            let mut cmd = Command::new("setpriv");
            cmd.args([
                "--bounding-set=-dac_override,-dac_read_search,-fowner",
                "--",
            ])
            .arg(program);
            cmd
        }
        Fault::ReadOnly => Command::new(program),
        Fault::DiskFull { bytes } | Fault::KilledAt { bytes } => {
            let trap = if matches!(fault, Fault::DiskFull { .. }) {
                "trap '' XFSZ; "
            } else {
                ""
            };
            let mut cmd = Command::new("bash");
            cmd.arg("-c")
                .arg(format!(
                    "{trap}exec prlimit --fsize={bytes} -- \"$0\" \"$@\""
                ))
                .arg(program);
            cmd
        }
    }
}

/// What a child reported: `(op, outcome)` lines, where the outcome is `ok`, `start` (it died
/// during the op) or the error message.
struct Report {
    ops: Vec<(String, String)>,
    killed: bool,
    stdout: String,
}

impl Report {
    fn outcome(&self, op: &str) -> Option<&str> {
        self.ops
            .iter()
            .rev()
            .find(|(o, _)| o == op)
            .map(|(_, r)| r.as_str())
    }
}

fn run_child(scenario: &str, dir: &Path, fault: Fault) -> Report {
    let exe = std::env::current_exe().unwrap();
    let out = faulty(fault, &exe)
        .args([
            "child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SCENARIO, scenario)
        .env(DIR, dir)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let killed = out.status.signal() == Some(25); // SIGXFSZ
    assert!(
        out.status.success() || killed,
        "{scenario} under {fault:?}: {}\n{stdout}\n{stderr}",
        out.status
    );
    let mut ops: Vec<(String, String)> = Vec::new();
    for line in stdout.lines() {
        // The test harness starts its `test child ...` line without ending it.
        let Some(at) = line.find("op\t") else {
            continue;
        };
        let mut parts = line[at..].splitn(3, '\t');
        if let (Some("op"), Some(op), Some(outcome)) = (parts.next(), parts.next(), parts.next()) {
            ops.retain(|(o, _)| o != op);
            ops.push((op.to_string(), outcome.to_string()));
        }
    }
    Report {
        ops,
        killed,
        stdout,
    }
}

/// Runs `f` as the child's op `name`, printing when it starts and how it ended.
fn op<T, E: std::fmt::Display>(name: &str, f: impl FnOnce() -> Result<T, E>) -> Option<T> {
    println!("op\t{name}\tstart");
    match f() {
        Ok(v) => {
            println!("op\t{name}\tok");
            Some(v)
        }
        Err(e) => {
            let msg = e.to_string().replace(['\t', '\n'], " ");
            assert!(!msg.trim().is_empty(), "{name}: an empty error message");
            println!("op\t{name}\t{msg}");
            None
        }
    }
}

fn listing(w: &Wardrobe) -> Vec<(String, String)> {
    w.garments()
        .iter()
        .map(|g| (g.id.to_string(), g.name.clone()))
        .collect()
}

/// The hand-painted mask the scenario stores for [`EDITED`].
fn painted_mask(size: (u32, u32)) -> GrayImage {
    GrayImage::from_fn(size.0, size.1, |x, y| Luma([((x * 7 + y * 3) % 256) as u8]))
}

fn export_picture(seed: u8) -> RgbImage {
    RgbImage::from_fn(160, 120, |x, y| {
        Rgb([
            (x as u8).wrapping_mul(seed),
            y as u8,
            seed.wrapping_add((x ^ y) as u8),
        ])
    })
}

#[test]
#[ignore = "the fault tests run it in a child process"]
fn child() {
    let scenario = std::env::var(SCENARIO).expect("started by a fault test");
    let dir = PathBuf::from(std::env::var(DIR).unwrap());
    match scenario.as_str() {
        "wardrobe" => {
            let user = dir.join("user");
            let Some(mut w) = op("open", || Wardrobe::open(Some(&bundled_dir()), &user)) else {
                return;
            };
            let user_id = w
                .garments()
                .iter()
                .find(|g| g.origin == fitting_room::wardrobe::Origin::User)
                .map(|g| g.id.clone())
                .expect("the wardrobe holds a user garment");
            let edited = id(EDITED);
            let size = load_rgb(&w.get(&edited).unwrap().image_path)
                .unwrap()
                .dimensions();
            let photo = dir.join("new-photo.jpg");
            // A failed op changes nothing in the listing.
            let check = |w: &Wardrobe, before: Vec<(String, String)>, ok: bool| {
                if !ok {
                    assert_eq!(listing(w), before);
                }
            };
            let before = listing(&w);
            let ok = op("add", || w.add_file(&photo, Some(NEW_NAME))).is_some();
            check(&w, before, ok);
            let before = listing(&w);
            let ok = op("rename", || w.rename(&user_id, RENAMED)).is_some();
            check(&w, before, ok);
            let ok = op("set_mask", || w.set_mask(&edited, &painted_mask(size))).is_some();
            let mask = w.load_mask(&edited).unwrap();
            assert_eq!(mask == painted_mask(size), ok, "the mask in use");
        }
        "export" => {
            op("export", || {
                write_export(export_picture(3), &dir.join("export.png"))
            });
        }
        other => panic!("unknown scenario {other}"),
    }
}

/// A wardrobe with a user garment, a renamed bundled one, and a photo to add next to it.
/// Returns the user folder.
fn populated_wardrobe(dir: &Path) -> PathBuf {
    let user = dir.join("user");
    let mut w = Wardrobe::open(Some(&bundled_dir()), &user).unwrap();
    let first = dir.join("first.jpg");
    std::fs::copy(bundled_dir().join("coral-v-neck-top.jpg"), &first).unwrap();
    w.add_file(&first, Some("My first garment")).unwrap();
    w.rename(&id("white-polo-shirt"), "Best polo").unwrap();
    std::fs::copy(
        bundled_dir().join("navy-striped-v-neck-tee.jpg"),
        dir.join("new-photo.jpg"),
    )
    .unwrap();
    user
}

/// Every file under `dir`, relative, with its contents.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    files.sort();
    files
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with('.') && name.contains("tmp")
        })
        .collect()
}

/// After a faulty run: the wardrobe opens, everything listed before is there and readable,
/// and each op took effect exactly when it reported success (an op cut short by a kill may
/// have, or not).
fn check_wardrobe_after(dir: &Path, before: &[(String, String)], report: &Report) {
    let user = dir.join("user");
    let w = Wardrobe::open(Some(&bundled_dir()), &user).unwrap();
    let now = listing(&w);
    for g in w.garments() {
        load_rgb(&g.image_path).unwrap_or_else(|e| panic!("{}: {e}", g.id));
        w.load_mask(&g.id)
            .unwrap_or_else(|e| panic!("mask of {}: {e}", g.id));
    }
    let name_of = |id: &str| now.iter().find(|(i, _)| i == id).map(|(_, n)| n.as_str());
    for (id, name) in before {
        let got = name_of(id).unwrap_or_else(|| panic!("{id} was lost:\n{}", report.stdout));
        if name != "My first garment" {
            assert_eq!(got, name);
        }
    }
    let may = |op: &str| matches!(report.outcome(op), Some("ok") | Some("start"));
    let must = |op: &str| report.outcome(op) == Some("ok");

    let user_garment = before
        .iter()
        .find(|(_, n)| n == "My first garment")
        .unwrap();
    let name = name_of(&user_garment.0).unwrap();
    assert!(
        name == "My first garment" || (name == RENAMED && may("rename")),
        "rename: {name}\n{}",
        report.stdout
    );
    if must("rename") {
        assert_eq!(name, RENAMED);
    }

    let added: Vec<&(String, String)> = now
        .iter()
        .filter(|(id, _)| !before.iter().any(|(b, _)| b == id))
        .collect();
    assert!(added.len() <= 1, "{added:?}");
    if must("add") {
        assert_eq!(added.len(), 1, "{}", report.stdout);
    }
    if let Some((added_id, _)) = added.first() {
        assert!(
            may("add"),
            "a garment appeared: {added_id}\n{}",
            report.stdout
        );
        let g = w.get(&id(added_id)).unwrap();
        assert_eq!(
            std::fs::read(&g.image_path).unwrap(),
            std::fs::read(dir.join("new-photo.jpg")).unwrap(),
            "the added photo is stored whole"
        );
    }

    let edited = id(EDITED);
    let size = load_rgb(&w.get(&edited).unwrap().image_path)
        .unwrap()
        .dimensions();
    let mask = w.load_mask(&edited).unwrap();
    let painted = mask == painted_mask(size);
    let original = mask == load_gray(&bundled_dir().join(format!("{EDITED}.mask.png"))).unwrap();
    assert!(painted || original, "the mask of {EDITED} is neither");
    assert!(!painted || may("set_mask"), "{}", report.stdout);
    if must("set_mask") {
        assert!(painted);
    }
}

#[test]
fn a_full_disk_during_wardrobe_writes_loses_nothing() {
    let mut failures_seen = 0;
    for bytes in LIMITS {
        let tmp = tempfile::tempdir().unwrap();
        let user = populated_wardrobe(tmp.path());
        let before = listing(&Wardrobe::open(Some(&bundled_dir()), &user).unwrap());
        let report = run_child("wardrobe", tmp.path(), Fault::DiskFull { bytes });
        assert!(!report.killed);
        for (op, outcome) in &report.ops {
            assert_ne!(outcome, "start", "{op} did not finish");
            if outcome != "ok" {
                failures_seen += 1;
                assert!(
                    outcome.contains("File too large")
                        && outcome.contains(&*user.to_string_lossy()),
                    "{op}: the message names the file and the cause: {outcome}"
                );
            }
        }
        if bytes == 1 << 30 {
            assert!(
                report.ops.iter().all(|(_, o)| o == "ok"),
                "{}",
                report.stdout
            );
        }
        check_wardrobe_after(tmp.path(), &before, &report);
        assert_eq!(temp_files(&user), Vec::<PathBuf>::new(), "limit {bytes}");
        // And it keeps working once there is room again.
        let mut w = Wardrobe::open(Some(&bundled_dir()), &user).unwrap();
        w.add_file(&tmp.path().join("first.jpg"), Some("After"))
            .unwrap();
    }
    assert!(failures_seen >= 5, "the sweep hit too few writes");
}

#[test]
fn a_kill_during_wardrobe_writes_loses_nothing() {
    let mut kills = 0;
    for bytes in LIMITS {
        let tmp = tempfile::tempdir().unwrap();
        let user = populated_wardrobe(tmp.path());
        let before = listing(&Wardrobe::open(Some(&bundled_dir()), &user).unwrap());
        let report = run_child("wardrobe", tmp.path(), Fault::KilledAt { bytes });
        kills += usize::from(report.killed);
        check_wardrobe_after(tmp.path(), &before, &report);
        let mut w = Wardrobe::open(Some(&bundled_dir()), &user).unwrap();
        w.add_file(&tmp.path().join("first.jpg"), Some("After"))
            .unwrap();
    }
    assert!(kills >= 5, "the sweep killed too few runs");
}

#[test]
fn a_read_only_wardrobe_is_listed_and_refuses_changes_with_reasons() {
    let tmp = tempfile::tempdir().unwrap();
    let user = populated_wardrobe(tmp.path());
    let before = listing(&Wardrobe::open(Some(&bundled_dir()), &user).unwrap());
    let files = snapshot(&user);
    set_writable(&user, false);
    let report = run_child("wardrobe", tmp.path(), Fault::ReadOnly);
    set_writable(&user, true);
    assert_eq!(report.outcome("open"), Some("ok"), "{}", report.stdout);
    for op in ["add", "rename", "set_mask"] {
        let outcome = report.outcome(op).unwrap();
        assert!(outcome.contains("Permission denied"), "{op}: {outcome}");
    }
    assert!(snapshot(&user) == files, "a read-only folder was changed");
    check_wardrobe_after(tmp.path(), &before, &report);
    let mut w = Wardrobe::open(Some(&bundled_dir()), &user).unwrap();
    w.add_file(&tmp.path().join("first.jpg"), Some("After"))
        .unwrap();
}

fn set_writable(dir: &Path, writable: bool) {
    let mut stack = vec![dir.to_path_buf()];
    let mut dirs = Vec::new();
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let mode = if writable { 0o644 } else { 0o444 };
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            }
        }
        dirs.push(d);
    }
    for d in dirs {
        let mode = if writable { 0o755 } else { 0o555 };
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

#[test]
fn an_interrupted_export_keeps_the_previous_file() {
    for (bytes, kill) in LIMITS.iter().flat_map(|&b| [(b, false), (b, true)]) {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("export.png");
        write_export(export_picture(1), &path).unwrap();
        let previous = std::fs::read(&path).unwrap();
        let fault = if kill {
            Fault::KilledAt { bytes }
        } else {
            Fault::DiskFull { bytes }
        };
        let report = run_child("export", tmp.path(), fault);
        let now = std::fs::read(&path).unwrap();
        match report.outcome("export") {
            Some("ok") => assert_eq!(load_rgb(&path).unwrap(), export_picture(3)),
            Some("start") => {
                assert!(report.killed);
                assert_eq!(now, previous, "limit {bytes}: the old export was damaged");
            }
            Some(error) => {
                assert!(error.contains("File too large"), "{error}");
                assert_eq!(now, previous);
                assert_eq!(temp_files(tmp.path()), Vec::<PathBuf>::new());
            }
            None => panic!("{}", report.stdout),
        }
        if bytes == 0 {
            assert_ne!(report.outcome("export"), Some("ok"));
        }
    }
}

#[test]
fn convert_on_a_full_disk_keeps_the_previous_bundle_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let src = model_fixtures().join("warp.safetensors");
    let dst = tmp.path().join("converted.safetensors");
    std::fs::write(&dst, b"the previous file").unwrap();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_fitting-room"));
    let out = faulty(Fault::DiskFull { bytes: 4096 }, &bin)
        .arg("convert")
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(stderr.contains("File too large"), "{stderr}");
    assert_eq!(std::fs::read(&dst).unwrap(), b"the previous file");
    assert_eq!(temp_files(tmp.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_model_removed_while_in_use_keeps_working_and_reloading_says_why() {
    use candle_core::Device;
    use fitting_room::engine::OpPath;
    use fitting_room::model::ModelFiles;
    use fitting_room::pipeline::{mask_to_tensor, rgb_to_tensor};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("model");
    std::fs::create_dir(&dir).unwrap();
    for name in ["warp.safetensors", "gen.safetensors"] {
        std::fs::copy(model_fixtures().join(name), dir.join(name)).unwrap();
    }
    let files = ModelFiles::from_dir(&dir).unwrap();
    let engine = files.load(&Device::Cpu, OpPath::Auto).unwrap();
    let person = rgb_to_tensor(
        &load_rgb(&model_fixtures().join("person.png")).unwrap(),
        &Device::Cpu,
    )
    .unwrap();
    let garment = rgb_to_tensor(
        &load_rgb(&model_fixtures().join("garment.png")).unwrap(),
        &Device::Cpu,
    )
    .unwrap();
    let mask = mask_to_tensor(
        &load_gray(&model_fixtures().join("garment_mask.png")).unwrap(),
        &Device::Cpu,
    )
    .unwrap();
    let first = engine.tryon(&person, &garment, &mask).unwrap().p_tryon;

    // Replaced in place by a half-copied file, then removed.
    let bytes = std::fs::read(&files.warp).unwrap();
    std::fs::write(&files.warp, &bytes[..bytes.len() / 2]).unwrap();
    let again = engine.tryon(&person, &garment, &mask).unwrap().p_tryon;
    assert_close("p_tryon", &again, &first, IMAGE_MAX, IMAGE_MEAN);
    let err = files
        .load(&Device::Cpu, OpPath::Auto)
        .expect_err("a damaged model does not load")
        .to_string();
    assert!(err.contains("warp.safetensors"), "{err}");

    std::fs::remove_file(&files.warp).unwrap();
    let again = engine.tryon(&person, &garment, &mask).unwrap().p_tryon;
    assert_close("p_tryon", &again, &first, IMAGE_MAX, IMAGE_MEAN);
    let err = ModelFiles::from_dir(&dir).unwrap_err().to_string();
    assert!(err.contains("warp.safetensors"), "{err}");
    let err = files
        .load(&Device::Cpu, OpPath::Auto)
        .expect_err("a damaged model does not load")
        .to_string();
    assert!(err.contains("warp.safetensors"), "{err}");
}
