//! `fitting-room batch` split across machines and resumed after a kill: the outputs are the same
//! files, byte for byte, as one uninterrupted run.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn checked(out: Output, want_success: bool) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert_eq!(out.status.success(), want_success, "{stderr}");
    stderr
}

/// A VITON-layout folder: the sample persons, the garments (and masks) of the mask fixtures.
/// Returns (data folder, every `person garment` pair).
fn catalogue(root: &Path) -> (PathBuf, Vec<String>) {
    let data = root.join("data");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let persons = sorted_files(&repo.join("assets/persons"));
    let garments = sorted_files(&fixtures().join("masks/cloth"));
    for sub in ["image", "cloth", "cloth-mask"] {
        std::fs::create_dir_all(data.join(sub)).unwrap();
    }
    for p in &persons {
        std::fs::copy(p, data.join("image").join(p.file_name().unwrap())).unwrap();
    }
    let mut pairs = Vec::new();
    for g in &garments {
        let name = g.file_name().unwrap();
        std::fs::copy(g, data.join("cloth").join(name)).unwrap();
        let mask = fixtures().join("masks/cloth-mask").join(name);
        std::fs::copy(mask, data.join("cloth-mask").join(name)).unwrap();
    }
    for p in &persons {
        for g in &garments {
            pairs.push(format!(
                "{} {}",
                p.file_name().unwrap().to_str().unwrap(),
                g.file_name().unwrap().to_str().unwrap()
            ));
        }
    }
    (data, pairs)
}

fn sorted_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    files.sort();
    files
}

fn write_pairs(path: &Path, pairs: &[String]) {
    std::fs::write(path, pairs.join("\n") + "\n").unwrap();
}

/// [`batch_cmd`] on the fixture model, on the CPU, with `extra` arguments.
fn fixture_batch(data: &Path, pairs: &Path, out: &Path, extra: &[&str]) -> Command {
    let model = model_fixtures().join("PFAFN");
    let mut cmd = batch_cmd(data, pairs, out);
    cmd.args(["--model", model.to_str().unwrap(), "--device", "cpu"])
        .args(extra);
    cmd
}

/// Every image output of a folder (file name to bytes).
fn images(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// The counts of the summary line: (pairs, written, already done, failed).
fn summary(stderr: &str) -> (usize, usize, usize, usize) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("shard "))
        .unwrap_or_else(|| panic!("no summary in: {stderr}"));
    let number = |after: &str| -> usize {
        line.split(", ")
            .find_map(|part| part.trim().strip_suffix(after))
            .and_then(|n| n.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no `{after}` count in: {line}"))
    };
    (
        number(" pairs"),
        number(" written"),
        number(" already done"),
        number(" failed"),
    )
}

#[test]
fn shards_together_write_exactly_what_one_run_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, all) = catalogue(tmp.path());
    let pairs: Vec<String> = all.into_iter().step_by(3).collect();
    let list = tmp.path().join("pairs.txt");
    write_pairs(&list, &pairs);

    let whole = tmp.path().join("whole");
    let stderr = checked(
        fixture_batch(&data, &list, &whole, &[]).output().unwrap(),
        true,
    );
    assert_eq!(summary(&stderr), (pairs.len(), pairs.len(), 0, 0));
    let expected = images(&whole);
    assert_eq!(expected.len(), pairs.len());

    // Three machines sharing one output folder, started as a Slurm array would start them.
    let shared = tmp.path().join("shared");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/cluster/slurm-array.sh");
    let model = model_fixtures().join("PFAFN");
    let mut written = 0;
    for i in 0..3 {
        let out = Command::new("bash")
            .arg(&script)
            .arg(&data)
            .arg(&list)
            .arg(&shared)
            .args(["--model", model.to_str().unwrap()])
            .env("FITTING_ROOM", env!("CARGO_BIN_EXE_fitting-room"))
            .env("FITTING_ROOM_DEVICE", "cpu")
            .env("RUST_LOG", "warn")
            .env("SLURM_ARRAY_TASK_ID", i.to_string())
            .env("SLURM_ARRAY_TASK_COUNT", "3")
            .env("SLURM_ARRAY_TASK_MIN", "0")
            .env("SLURM_ARRAY_TASK_MAX", "2")
            .output()
            .unwrap();
        let stderr = checked(out, true);
        let (n, w, done, failed) = summary(&stderr);
        assert!(stderr.contains(&format!("shard {i}/3:")), "{stderr}");
        assert_eq!((n, done, failed), (w, 0, 0), "shard {i}: {stderr}");
        assert!(n > 0, "shard {i} got no pairs of {}", pairs.len());
        written += w;
    }
    // Disjoint (no pair written twice) and complete, with the same bytes.
    assert_eq!(written, pairs.len());
    assert_eq!(images(&shared), expected);

    let err = checked(
        fixture_batch(&data, &list, &shared, &["--shard", "3/3"])
            .output()
            .unwrap(),
        false,
    );
    assert!(err.contains("0 <= I < N"), "{err}");
}

#[test]
fn a_killed_run_resumes_to_the_same_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, all) = catalogue(tmp.path());
    let pairs: Vec<String> = all.into_iter().step_by(2).collect();
    let list = tmp.path().join("pairs.txt");
    write_pairs(&list, &pairs);

    let whole = tmp.path().join("whole");
    checked(
        fixture_batch(&data, &list, &whole, &["--extras"])
            .output()
            .unwrap(),
        true,
    );
    let expected = images(&whole);
    assert_eq!(expected.len(), 3 * pairs.len());

    // Killed as soon as a few pairs are written.
    let out = tmp.path().join("out");
    let mut child = fixture_batch(&data, &list, &out, &["--extras"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(out.is_dir() && images(&out).len() >= 6) && child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the batch wrote nothing");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = images(&out);
    assert!(
        partial.len() < expected.len(),
        "the run finished before it was killed; the test proves nothing"
    );
    // Whatever was there when the run died is whole and final.
    for (name, bytes) in &partial {
        assert_eq!(Some(bytes), expected.get(name), "{name} differs");
    }

    // A damaged output (cut short by something else) is redone, not trusted.
    let (victim, bytes) = partial.iter().next().unwrap();
    std::fs::write(out.join(victim), &bytes[..bytes.len() / 2]).unwrap();

    let stderr = checked(
        fixture_batch(&data, &list, &out, &["--extras"])
            .output()
            .unwrap(),
        true,
    );
    let (n, written, done, failed) = summary(&stderr);
    assert_eq!((n, failed), (pairs.len(), 0));
    assert!(
        done >= (partial.len() / 3).saturating_sub(1) && done < n,
        "{stderr}"
    );
    assert_eq!(written + done, n);
    assert_eq!(images(&out), expected);
}

#[test]
fn failed_pairs_are_listed_for_a_retry() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, all) = catalogue(tmp.path());
    let missing = all[1].replace(".jpg ", "_gone.jpg ");
    let pairs = vec![all[0].clone(), missing.clone()];
    let list = tmp.path().join("pairs.txt");
    write_pairs(&list, &pairs);
    let out = tmp.path().join("out");
    let stderr = checked(
        fixture_batch(&data, &list, &out, &[]).output().unwrap(),
        false,
    );
    assert_eq!(summary(&stderr), (2, 1, 0, 1));
    let failures = out.join("failures-0-of-1.txt");
    let text = std::fs::read_to_string(&failures).unwrap();
    assert!(text.starts_with(&format!("{missing}  # ")), "{text}");
    assert!(text.contains("_gone.jpg"), "{text}");

    // The photo turns up; the failures list, given as the pairs list, finishes the job and
    // goes away.
    let person = missing.split(' ').next().unwrap();
    let original = person.replace("_gone", "");
    std::fs::copy(
        data.join("image").join(original),
        data.join("image").join(person),
    )
    .unwrap();
    let stderr = checked(
        fixture_batch(&data, &failures, &out, &[]).output().unwrap(),
        true,
    );
    assert_eq!(summary(&stderr), (1, 1, 0, 0));
    assert!(!failures.exists());
    assert_eq!(images(&out).len(), 2);
}

/// `--pasted`: each result is the whole person photo at its own size, wearing the garment over
/// its own background; a full-body-style photo (a small person in a coloured room) is framed
/// automatically and the room far from the person is the photo's own, bit for bit.
#[test]
fn pasted_results_are_whole_photos_with_their_own_background() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, all) = catalogue(tmp.path());
    let (person_name, garment_name) = all[0].split_once(' ').unwrap();
    let person = image::open(data.join("image").join(person_name))
        .unwrap()
        .to_rgb8();
    let (w, h) = (900u32, 700u32);
    let mut room = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([30 + (x / 8) as u8, 110, 160 - (y / 6) as u8])
    });
    let small = image::imageops::resize(&person, 240, 320, image::imageops::FilterType::Triangle);
    // The person only (VITON's light background left out), by its colour.
    for (x, y, p) in small.enumerate_pixels() {
        if p.0.iter().map(|&c| u32::from(c)).sum::<u32>() < 660 {
            room.put_pixel(x + 500, y + 150, *p);
        }
    }
    let photo_name = "room.png";
    room.save(data.join("image").join(photo_name)).unwrap();
    let list = tmp.path().join("pairs.txt");
    write_pairs(&list, &[format!("{photo_name} {garment_name}")]);
    let out = tmp.path().join("out");
    let stderr = checked(
        fixture_batch(&data, &list, &out, &["--pasted"])
            .output()
            .unwrap(),
        true,
    );
    assert_eq!(summary(&stderr), (1, 1, 0, 0));
    let written = images(&out);
    assert_eq!(written.len(), 1);
    let result = image::load_from_memory(written.values().next().unwrap())
        .unwrap()
        .to_rgb8();
    assert_eq!(result.dimensions(), (w, h));
    for (x, y) in [(10, 10), (890, 20), (100, 690), (300, 400), (880, 690)] {
        assert_eq!(result.get_pixel(x, y), room.get_pixel(x, y), "({x},{y})");
    }
    // The person's torso changed.
    let changed = (0..60)
        .flat_map(|dy| (0..60).map(move |dx| (590 + dx, 300 + dy)))
        .filter(|&(x, y)| result.get_pixel(x, y) != room.get_pixel(x, y))
        .count();
    assert!(changed > 1000, "{changed} torso pixels changed");
}
