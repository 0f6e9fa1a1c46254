//! Batch try-on over a list of `person garment` pairs, made to be split across machines and
//! resumed after a kill.
//!
//! - A [`Shard`] `I/N` takes the pairs whose output name hashes to `I` modulo `N`: the
//!   assignment depends on the pair alone, not on its line, so editing the list moves no other
//!   pair between machines, and pairs that would write the same file always meet on one shard.
//! - A pair whose outputs all exist and decode is skipped, so a rerun after a kill only does
//!   what is missing; outputs are written through a temporary file and renamed, so a killed run
//!   leaves whole files or none.
//! - Failures are collected in a file that is itself a pairs list (the reason follows `#`), so
//!   `--pairs` on it retries just those.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use image::DynamicImage;

use crate::atomic_file::write_atomic;
use crate::pipeline::{load_rgb, save_image};

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("cannot read the pairs list `{path}`: {source}")]
    ReadPairs {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: expected `person garment`")]
    PairLine { path: PathBuf, line: usize },
    #[error("`{path}` lists no pairs")]
    NoPairs { path: PathBuf },
    #[error(
        "{path}:{line}: `{person} {garment}` writes the same `{name}` as line {first}; \
         rename one of the files"
    )]
    SameOutput {
        path: PathBuf,
        line: usize,
        first: usize,
        person: String,
        garment: String,
        name: String,
    },
    #[error("cannot create the output folder `{path}`: {source}")]
    CreateOut {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the list of failed pairs `{path}`: {source}")]
    WriteFailures {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A shard index is `I/N` with `0 <= I < N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shard `{0}`: expected I/N with 0 <= I < N (e.g. 0/4), counting from 0")]
pub struct ShardError(String);

/// One person photo and one garment photo, as a line of the pairs list names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub person: String,
    pub garment: String,
    /// The 1-based line of the pairs list.
    pub line: usize,
}

fn stem(name: &str) -> &str {
    Path::new(name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(name)
}

impl Pair {
    /// `<person stem>__<garment stem>`: the name every output of the pair starts with.
    pub fn output_name(&self) -> String {
        format!("{}__{}", stem(&self.person), stem(&self.garment))
    }
}

/// FNV-1a, 64 bits: fixed by its definition, so every machine and every version assigns a pair
/// to the same shard (std's hasher is randomly seeded and may change).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// FNV-1a followed by MurmurHash3's 64-bit finaliser: FNV's low bits depend only on the low
/// bits of each byte, so names that differ in digits alone would crowd into a few shards.
fn shard_hash(name: &str) -> u64 {
    let mut h = fnv1a(name.as_bytes());
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// This machine's share of the pairs: `index` of `count`, counting from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Every pair (`0/1`).
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        if index < count {
            Ok(Shard { index, count })
        } else {
            Err(ShardError(format!("{index}/{count}")))
        }
    }

    pub fn index(self) -> u32 {
        self.index
    }

    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether the pair belongs to this shard (by a hash of its output name).
    pub fn contains(self, pair: &Pair) -> bool {
        shard_hash(&pair.output_name()) % u64::from(self.count) == u64::from(self.index)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ShardError(s.to_string());
        let (i, n) = s.split_once('/').ok_or_else(err)?;
        let i = i.trim().parse().map_err(|_| err())?;
        let n = n.trim().parse().map_err(|_| err())?;
        Shard::new(i, n).map_err(|_| err())
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Parses a pairs list: one `person garment` per line (file names inside `image/` and
/// `cloth/`); blank lines and everything after `#` are ignored, as are further words.
pub fn parse_pairs(text: &str, path: &Path) -> Result<Vec<Pair>, BatchError> {
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or("");
        let mut words = content.split_whitespace();
        match (words.next(), words.next()) {
            (None, _) => continue,
            (Some(person), Some(garment)) => pairs.push(Pair {
                person: person.to_string(),
                garment: garment.to_string(),
                line: i + 1,
            }),
            (Some(_), None) => {
                return Err(BatchError::PairLine {
                    path: path.to_path_buf(),
                    line: i + 1,
                })
            }
        }
    }
    if pairs.is_empty() {
        return Err(BatchError::NoPairs {
            path: path.to_path_buf(),
        });
    }
    Ok(pairs)
}

/// Reads and parses a pairs list (see [`parse_pairs`]).
pub fn read_pairs(path: &Path) -> Result<Vec<Pair>, BatchError> {
    let text = std::fs::read_to_string(path).map_err(|source| BatchError::ReadPairs {
        path: path.to_path_buf(),
        source,
    })?;
    parse_pairs(&text, path)
}

/// The pairs of one shard, each once. The same pair listed twice runs once; two different
/// pairs that would write the same file are refused (one would silently overwrite the other).
pub fn select(pairs: &[Pair], shard: Shard, list: &Path) -> Result<Vec<Pair>, BatchError> {
    let mut seen: HashMap<String, &Pair> = HashMap::new();
    let mut selected = Vec::new();
    for pair in pairs {
        let name = pair.output_name();
        if let Some(first) = seen.get(&name) {
            if (&first.person, &first.garment) == (&pair.person, &pair.garment) {
                continue;
            }
            return Err(BatchError::SameOutput {
                path: list.to_path_buf(),
                line: pair.line,
                first: first.line,
                person: pair.person.clone(),
                garment: pair.garment.clone(),
                name,
            });
        }
        seen.insert(name, pair);
        if shard.contains(pair) {
            selected.push(pair.clone());
        }
    }
    Ok(selected)
}

/// Where and what a batch writes.
#[derive(Debug, Clone)]
pub struct Options {
    pub out_dir: PathBuf,
    pub shard: Shard,
    /// One output file per entry: `<output name><suffix>`, e.g. `.png`, `_warped.png`.
    pub suffixes: Vec<String>,
    /// Where failed pairs are listed (default: `failures-<I>-of-<N>.txt` in `out_dir`, one file
    /// per shard so machines sharing the folder do not overwrite each other's).
    pub failures_file: Option<PathBuf>,
}

impl Options {
    pub fn failures_path(&self) -> PathBuf {
        self.failures_file.clone().unwrap_or_else(|| {
            self.out_dir.join(format!(
                "failures-{}-of-{}.txt",
                self.shard.index, self.shard.count
            ))
        })
    }

    /// The files a pair writes, in the order of [`Options::suffixes`].
    pub fn outputs(&self, pair: &Pair) -> Vec<PathBuf> {
        let name = pair.output_name();
        self.suffixes
            .iter()
            .map(|suffix| self.out_dir.join(format!("{name}{suffix}")))
            .collect()
    }

    /// Whether every output of the pair is there and decodes as a whole image (a file cut
    /// short by a crash, or by another program, does not count).
    pub fn is_done(&self, pair: &Pair) -> bool {
        self.outputs(pair)
            .iter()
            .all(|path| path.is_file() && load_rgb(path).is_ok())
    }
}

/// What became of one pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Written,
    /// Its outputs were already there (an earlier run).
    AlreadyDone,
    Failed(String),
}

/// The end of a batch run.
#[derive(Debug, Clone)]
pub struct Summary {
    pub shard: Shard,
    /// Pairs in this shard.
    pub pairs: usize,
    pub written: usize,
    pub already_done: usize,
    /// Each failed pair with its reason.
    pub failed: Vec<(Pair, String)>,
    /// The list of failed pairs, when any failed.
    pub failures_file: Option<PathBuf>,
    pub elapsed: Duration,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shard {}: {} pairs, {} written, {} already done, {} failed, in {:.1} s",
            self.shard,
            self.pairs,
            self.written,
            self.already_done,
            self.failed.len(),
            self.elapsed.as_secs_f64()
        )?;
        if let Some(path) = &self.failures_file {
            write!(f, "; failed pairs listed in {}", path.display())?;
        }
        Ok(())
    }
}

/// Runs `render` on every pair of `pairs` (already [`select`]ed) that is not done yet and writes
/// the images it returns, one per suffix; `report` hears of every pair as it finishes.
/// A failing pair is recorded and the others still run; the error is only about the run as a
/// whole (the output folder or the failures list cannot be written).
pub fn run<E: fmt::Display>(
    pairs: &[Pair],
    options: &Options,
    mut render: impl FnMut(&Pair) -> Result<Vec<DynamicImage>, E>,
    mut report: impl FnMut(&Pair, &Outcome),
) -> Result<Summary, BatchError> {
    let start = Instant::now();
    std::fs::create_dir_all(&options.out_dir).map_err(|source| BatchError::CreateOut {
        path: options.out_dir.clone(),
        source,
    })?;
    crate::wardrobe::remove_stale_temp_files(&options.out_dir);
    let mut summary = Summary {
        shard: options.shard,
        pairs: pairs.len(),
        written: 0,
        already_done: 0,
        failed: Vec::new(),
        failures_file: None,
        elapsed: Duration::ZERO,
    };
    for pair in pairs {
        let outcome = if options.is_done(pair) {
            Outcome::AlreadyDone
        } else {
            match render_pair(pair, options, &mut render) {
                Ok(()) => Outcome::Written,
                Err(reason) => Outcome::Failed(reason),
            }
        };
        match &outcome {
            Outcome::Written => summary.written += 1,
            Outcome::AlreadyDone => summary.already_done += 1,
            Outcome::Failed(reason) => summary.failed.push((pair.clone(), reason.clone())),
        }
        report(pair, &outcome);
    }
    let failures_path = options.failures_path();
    if summary.failed.is_empty() {
        // A list left by an earlier run of this shard would say pairs failed that are now done.
        match std::fs::remove_file(&failures_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(BatchError::WriteFailures {
                    path: failures_path,
                    source,
                })
            }
        }
    } else {
        let mut text = String::new();
        for (pair, reason) in &summary.failed {
            let reason = reason.replace(['\n', '\r'], " ");
            text.push_str(&format!("{} {}  # {reason}\n", pair.person, pair.garment));
        }
        write_atomic(&failures_path, text.as_bytes()).map_err(|source| {
            BatchError::WriteFailures {
                path: failures_path.clone(),
                source,
            }
        })?;
        summary.failures_file = Some(failures_path);
    }
    summary.elapsed = start.elapsed();
    Ok(summary)
}

fn render_pair<E: fmt::Display>(
    pair: &Pair,
    options: &Options,
    render: &mut impl FnMut(&Pair) -> Result<Vec<DynamicImage>, E>,
) -> Result<(), String> {
    // `{:#}`: the whole chain of an error with context (anyhow's alternate form).
    let images = render(pair).map_err(|e| format!("{e:#}"))?;
    let outputs = options.outputs(pair);
    if images.len() != outputs.len() {
        return Err(format!(
            "{} images for {} outputs",
            images.len(),
            outputs.len()
        ));
    }
    for (image, path) in images.iter().zip(&outputs) {
        save_image(image, path).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize) -> Vec<Pair> {
        (0..n)
            .map(|i| Pair {
                person: format!("{:06}_0.jpg", i / 7),
                garment: format!("{:06}_1.jpg", i * 13 % 101),
                line: i + 1,
            })
            .collect()
    }

    #[test]
    fn shards_are_disjoint_and_cover_every_pair() {
        let all = pairs(500);
        for count in [1, 2, 3, 8] {
            let mut seen: HashMap<String, u32> = HashMap::new();
            let mut sizes = Vec::new();
            for index in 0..count {
                let shard = Shard::new(index, count).unwrap();
                let part = select(&all, shard, Path::new("pairs.txt")).unwrap();
                sizes.push(part.len());
                for pair in part {
                    let previous = seen.insert(pair.output_name(), index);
                    assert_eq!(previous, None, "{} in two shards", pair.output_name());
                }
            }
            let unique: std::collections::HashSet<_> = all.iter().map(Pair::output_name).collect();
            assert_eq!(seen.len(), unique.len(), "{count} shards miss pairs");
            // Even to within a quarter, also for names that differ only in digits.
            let share = unique.len() as f64 / f64::from(count);
            assert!(
                sizes
                    .iter()
                    .all(|&s| (s as f64 - share).abs() < share / 4.0),
                "{sizes:?}"
            );
        }
    }

    #[test]
    fn assignment_depends_on_the_pair_not_its_line() {
        let all = pairs(60);
        let shard = Shard::new(1, 4).unwrap();
        let before: Vec<String> = select(&all, shard, Path::new("p"))
            .unwrap()
            .iter()
            .map(Pair::output_name)
            .collect();
        let mut edited = all.clone();
        edited.reverse();
        edited.truncate(40);
        let after: Vec<String> = select(&edited, shard, Path::new("p"))
            .unwrap()
            .iter()
            .map(Pair::output_name)
            .collect();
        for name in &after {
            assert!(before.contains(name), "{name} moved into shard {shard}");
        }
        // Fixed by the hash's definition (computed independently): this pair is in shard 2 of 4
        // on every machine and in every version.
        let pair = Pair {
            person: "000001_0.jpg".into(),
            garment: "000003_1.jpg".into(),
            line: 1,
        };
        let home: Vec<u32> = (0..4)
            .filter(|&i| Shard::new(i, 4).unwrap().contains(&pair))
            .collect();
        assert_eq!(home, vec![2]);
    }

    #[test]
    fn fnv1a_matches_its_published_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn shard_parsing() {
        assert_eq!("2/5".parse::<Shard>().unwrap(), Shard::new(2, 5).unwrap());
        assert_eq!("0/1".parse::<Shard>().unwrap(), Shard::ALL);
        for bad in ["5/5", "1/0", "1", "-1/3", "a/b", "1/2/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn pairs_list_comments_duplicates_and_clashes() {
        let path = Path::new("pairs.txt");
        let list = parse_pairs(
            "# catalogue\na.jpg b.jpg\n\n  c.jpg d.jpg  # note\na.jpg b.jpg\n",
            path,
        )
        .unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[1].line, 4);
        assert_eq!(select(&list, Shard::ALL, path).unwrap().len(), 2);
        let err = parse_pairs("a.jpg b.jpg\nlonely.jpg\n", path).unwrap_err();
        assert!(err.to_string().contains("pairs.txt:2"), "{err}");
        assert!(matches!(
            parse_pairs("# nothing\n\n", path),
            Err(BatchError::NoPairs { .. })
        ));
        let clash = parse_pairs("a.jpg b.jpg\na.png b.png\n", path).unwrap();
        let err = select(&clash, Shard::ALL, path).unwrap_err();
        assert!(err.to_string().contains("a__b"), "{err}");
    }

    #[test]
    fn failures_list_is_a_pairs_list_and_goes_away_once_all_pass() {
        let tmp = tempfile::tempdir().unwrap();
        let list = parse_pairs("p1.jpg g1.jpg\np2.jpg g2.jpg\n", Path::new("x")).unwrap();
        let options = Options {
            out_dir: tmp.path().join("out"),
            shard: Shard::ALL,
            suffixes: vec![".png".into()],
            failures_file: None,
        };
        let image = DynamicImage::ImageRgb8(image::RgbImage::new(4, 4));
        let summary = run(
            &list,
            &options,
            |pair| {
                if pair.person == "p2.jpg" {
                    Err("no such photo\nsecond line")
                } else {
                    Ok(vec![image.clone()])
                }
            },
            |_, _| {},
        )
        .unwrap();
        assert_eq!((summary.written, summary.failed.len()), (1, 1));
        let failures = options.failures_path();
        assert_eq!(summary.failures_file.as_deref(), Some(failures.as_path()));
        let text = std::fs::read_to_string(&failures).unwrap();
        assert_eq!(text, "p2.jpg g2.jpg  # no such photo second line\n");
        let retry = parse_pairs(&text, &failures).unwrap();
        assert_eq!((retry[0].person.as_str(), retry.len()), ("p2.jpg", 1));

        // The rerun skips the written pair and, with nothing failing, removes the list.
        let mut rendered = Vec::new();
        let summary = run(
            &list,
            &options,
            |pair| {
                rendered.push(pair.person.clone());
                Ok::<_, String>(vec![image.clone()])
            },
            |_, _| {},
        )
        .unwrap();
        assert_eq!(rendered, vec!["p2.jpg".to_string()]);
        assert_eq!((summary.written, summary.already_done), (1, 1));
        assert!(summary.failures_file.is_none());
        assert!(!failures.exists());
    }

    #[test]
    fn a_damaged_output_is_not_done() {
        let tmp = tempfile::tempdir().unwrap();
        let options = Options {
            out_dir: tmp.path().to_path_buf(),
            shard: Shard::ALL,
            suffixes: vec![".png".into(), "_warped.png".into()],
            failures_file: None,
        };
        let pair = parse_pairs("p.jpg g.jpg", Path::new("x"))
            .unwrap()
            .remove(0);
        let [main, warped] = [0, 1].map(|i| options.outputs(&pair)[i].clone());
        assert!(!options.is_done(&pair));
        save_image(&DynamicImage::ImageRgb8(image::RgbImage::new(8, 8)), &main).unwrap();
        assert!(!options.is_done(&pair), "one of two outputs is not done");
        save_image(
            &DynamicImage::ImageRgb8(image::RgbImage::new(8, 8)),
            &warped,
        )
        .unwrap();
        assert!(options.is_done(&pair));
        let bytes = std::fs::read(&warped).unwrap();
        std::fs::write(&warped, &bytes[..bytes.len() / 2]).unwrap();
        assert!(!options.is_done(&pair), "a truncated PNG counts as missing");
    }
}
