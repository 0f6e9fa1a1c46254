//! The fuzz targets' checks (fuzz/fuzz_targets/checks.rs) on stable Rust, with the ordinary
//! tests: every seed of fuzz/seeds.txt, each cut at several lengths, and every input kept in
//! fuzz/regressions/TARGET because it once failed.

#[path = "../fuzz/fuzz_targets/checks.rs"]
mod checks;
#[path = "../fuzz/fuzz_targets/scratch.rs"]
mod scratch;

use std::path::{Path, PathBuf};

fn inputs(root: &Path, entries: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in entries {
        let path = root.join(entry);
        if path.is_dir() {
            let mut in_dir: Vec<PathBuf> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .collect();
            in_dir.sort();
            files.extend(in_dir);
        } else {
            assert!(path.is_file(), "fuzz/seeds.txt names a missing {entry}");
            files.push(path);
        }
    }
    files
}

type Check = fn(&[u8]);

/// Each target of fuzz/seeds.txt with its check and its inputs (seeds, then regressions).
fn targets() -> Vec<(String, Check, Vec<PathBuf>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let list = std::fs::read_to_string(root.join("fuzz/seeds.txt")).unwrap();
    let mut targets = Vec::new();
    for line in list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut words = line.split_whitespace();
        let target = words.next().unwrap();
        let check: Check = match target {
            "checkpoint" => checks::checkpoint,
            "image" => checks::image,
            "wardrobe_index" => checks::wardrobe_index,
            "wardrobe_manifest" => checks::wardrobe_manifest,
            "model_json" => checks::model_json,
            "person_graph" => checks::person_graph,
            "person_weights" => checks::person_weights,
            other => panic!("fuzz/seeds.txt names an unknown target {other}"),
        };
        // Words with `=` are libFuzzer options (fuzz/run.sh), the rest seeds.
        let mut entries: Vec<&str> = words.filter(|w| !w.contains('=')).collect();
        let regressions = format!("fuzz/regressions/{target}");
        if root.join(&regressions).is_dir() {
            entries.push(&regressions);
        }
        let files = inputs(root, &entries);
        assert!(!files.is_empty(), "{target} has no seeds");
        targets.push((target.to_string(), check, files));
    }
    targets
}

// One test: the checks share this process's scratch folder.
#[test]
fn every_fuzz_target_holds_on_its_seeds_and_regressions() {
    let mut seen = Vec::new();
    for (target, check, files) in targets() {
        for file in files {
            let data = std::fs::read(&file).unwrap();
            for cut in [
                data.len(),
                0,
                1,
                8,
                9,
                64,
                data.len() / 2,
                data.len().saturating_sub(1),
            ] {
                if cut <= data.len() {
                    check(&data[..cut]);
                }
            }
        }
        seen.push(target);
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "checkpoint",
            "image",
            "model_json",
            "person_graph",
            "person_weights",
            "wardrobe_index",
            "wardrobe_manifest"
        ]
    );
    let _ = std::fs::remove_dir_all(scratch::dir());
}

/// Random mutations of every seed, without coverage guidance (for stable Rust, or a quick
/// look before a fuzzing campaign): `MUTATIONS` per seed (default 1000), `TARGET` to run one
/// target. Each mutation overwrites, flips or sets to 0x00/0xFF/0x7F/0x80 one to eight bytes,
/// and one in eight is also cut short; the input being checked is kept in
/// `$TMPDIR/fitting-room-fuzz-input` so a failure can be replayed.
#[test]
#[ignore = "long; run by hand"]
fn random_mutations_of_the_seeds() {
    let per_seed: u64 = std::env::var("MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let only = std::env::var("TARGET").ok();
    let last_input = std::env::temp_dir().join("fitting-room-fuzz-input");
    for (target, check, files) in targets() {
        if only.as_ref().is_some_and(|t| *t != target) {
            continue;
        }
        let start = std::time::Instant::now();
        let mut count = 0u64;
        for file in &files {
            let data = std::fs::read(file).unwrap();
            if data.is_empty() {
                continue;
            }
            // xorshift64, seeded per seed file: the same inputs on every run.
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ data.len() as u64;
            let mut rnd = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            for _ in 0..per_seed {
                let mut m = data.clone();
                for _ in 0..1 + rnd() % 8 {
                    let pos = (rnd() as usize) % m.len();
                    match rnd() % 4 {
                        0 => m[pos] = rnd() as u8,
                        1 => m[pos] ^= 1 << (rnd() % 8),
                        2 => m[pos] = [0u8, 0xff, 0x7f, 0x80][(rnd() % 4) as usize],
                        _ => {
                            let end = (pos + 1 + (rnd() as usize) % 8).min(m.len());
                            m[pos..end].fill(0xff);
                        }
                    }
                }
                if rnd() % 8 == 0 {
                    let cut = (rnd() as usize) % m.len();
                    m.truncate(cut);
                }
                std::fs::write(&last_input, &m).unwrap();
                check(&m);
                count += 1;
            }
        }
        println!(
            "{target}: {count} mutated inputs of {} seeds in {:.0} s, no failure",
            files.len(),
            start.elapsed().as_secs_f64()
        );
    }
    let _ = std::fs::remove_dir_all(scratch::dir());
}

/// Every file of the folder `INPUTS` through the check of `TARGET` (a libFuzzer corpus, or
/// inputs made elsewhere, replayed on stable Rust); the input being checked is kept in
/// `$TMPDIR/fitting-room-fuzz-input`.
#[test]
#[ignore = "needs TARGET and INPUTS; run by hand"]
fn replay_inputs() {
    let (Ok(target), Ok(dir)) = (std::env::var("TARGET"), std::env::var("INPUTS")) else {
        panic!("set TARGET and INPUTS");
    };
    let (_, check, _) = targets()
        .into_iter()
        .find(|(t, _, _)| *t == target)
        .expect("TARGET names a target of fuzz/seeds.txt");
    let last_input = std::env::temp_dir().join("fitting-room-fuzz-input");
    let files = inputs(Path::new(&dir), &["."]);
    for file in &files {
        let data = std::fs::read(file).unwrap();
        std::fs::write(&last_input, &data).unwrap();
        check(&data);
    }
    println!("{target}: {} inputs of {dir}, no failure", files.len());
    let _ = std::fs::remove_dir_all(scratch::dir());
}
