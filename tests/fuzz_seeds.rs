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

// One test: the checks share this process's scratch folder.
#[test]
fn every_fuzz_target_holds_on_its_seeds_and_regressions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let list = std::fs::read_to_string(root.join("fuzz/seeds.txt")).unwrap();
    let mut seen = Vec::new();
    for line in list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut words = line.split_whitespace();
        let target = words.next().unwrap();
        let check: fn(&[u8]) = match target {
            "checkpoint" => checks::checkpoint,
            "image" => checks::image,
            "wardrobe_index" => checks::wardrobe_index,
            "wardrobe_manifest" => checks::wardrobe_manifest,
            other => panic!("fuzz/seeds.txt names an unknown target {other}"),
        };
        let mut entries: Vec<&str> = words.collect();
        let regressions = format!("fuzz/regressions/{target}");
        if root.join(&regressions).is_dir() {
            entries.push(&regressions);
        }
        let files = inputs(root, &entries);
        assert!(!files.is_empty(), "{target} has no seeds");
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
        seen.push(target.to_string());
    }
    assert_eq!(
        seen,
        ["checkpoint", "image", "wardrobe_index", "wardrobe_manifest"]
    );
    let _ = std::fs::remove_dir_all(scratch::dir());
}
