//! Checkpoint readers against fixtures written by training/make_format_fixtures.py,
//! plus damaged and hostile files.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use fitting_room::weights::{detect_format, CheckpointFormat, StateDict, WeightsError};

/// Records the largest single allocation, to prove absurd declared sizes are
/// refused before any memory is reserved for them.
struct PeakAlloc;

static LARGEST_ALLOC: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST_ALLOC.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST_ALLOC.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: PeakAlloc = PeakAlloc;

const TORCH_FILES: &[&str] = &[
    "sd_zip.pth",
    "sd_zip_archive.pth",
    "sd_legacy.pth",
    "sd_legacy_cuda.pth",
    "sd_legacy_p4.pth",
    "wrapped_zip.pth",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/formats")
        .join(name)
}

fn all_fixtures() -> Vec<&'static str> {
    let mut v = vec!["sd.safetensors"];
    v.extend(TORCH_FILES);
    v
}

fn load(path: &Path) -> StateDict {
    match StateDict::load(path) {
        Ok(sd) => sd,
        Err(e) => panic!("loading {}: {e}", path.display()),
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).expect("create temp file");
    f.write_all(bytes).expect("write temp file");
    p
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// A tensor's values as f64 (exact for f32, i64 below 2^53 and u8) plus its dtype name.
fn values(t: &candle_core::Tensor) -> (String, Vec<f64>) {
    let flat = t.flatten_all().expect("flatten");
    match t.dtype() {
        candle_core::DType::F32 => (
            "f32".into(),
            flat.to_vec1::<f32>()
                .expect("f32")
                .into_iter()
                .map(f64::from)
                .collect(),
        ),
        candle_core::DType::I64 => (
            "i64".into(),
            flat.to_vec1::<i64>()
                .expect("i64")
                .into_iter()
                .map(|v| v as f64)
                .collect(),
        ),
        candle_core::DType::U8 => (
            "u8".into(),
            flat.to_vec1::<u8>()
                .expect("u8")
                .into_iter()
                .map(f64::from)
                .collect(),
        ),
        other => panic!("unexpected dtype {other:?}"),
    }
}

fn expected() -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(fixture("expected.json")).expect("expected.json");
    match serde_json::from_str(&text).expect("json") {
        serde_json::Value::Object(m) => m,
        _ => panic!("expected.json is not an object"),
    }
}

fn check_against_expected(name: &str, sd: &StateDict) {
    let exp = expected();
    let want: BTreeSet<&str> = exp.keys().map(String::as_str).collect();
    let got: BTreeSet<&str> = sd.keys().collect();
    assert_eq!(got, want, "{name}: key set");
    for (key, e) in &exp {
        let t = sd.get(key).expect("key present");
        let shape: Vec<usize> = e["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|d| d.as_u64().expect("dim") as usize)
            .collect();
        assert_eq!(t.dims(), shape.as_slice(), "{name}: shape of {key}");
        let (dtype, vals) = values(t);
        assert_eq!(
            dtype,
            e["dtype"].as_str().expect("dtype"),
            "{name}: dtype of {key}"
        );
        let want: Vec<f64> = e["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect();
        // The loader rounds to f32 exactly like torch's .to(float32).
        let want: Vec<f64> = if dtype == "f32" {
            want.iter().map(|&v| f64::from(v as f32)).collect()
        } else {
            want
        };
        assert_eq!(vals, want, "{name}: values of {key}");
    }
}

#[test]
fn every_format_loads_the_expected_values() {
    for name in all_fixtures() {
        let sd = load(&fixture(name));
        check_against_expected(name, &sd);
    }
}

#[test]
fn formats_agree_with_each_other() {
    let reference = load(&fixture("sd.safetensors"));
    for name in TORCH_FILES {
        let sd = load(&fixture(name));
        for (key, t) in reference.iter() {
            assert_eq!(
                values(t),
                values(sd.get(key).expect("key")),
                "{name}: {key}"
            );
        }
    }
}

#[test]
fn detection_uses_content_not_name() {
    let dir = tempdir();
    let cases = [
        ("sd.safetensors", "model.pth", CheckpointFormat::Safetensors),
        (
            "sd_zip.pth",
            "model.safetensors",
            CheckpointFormat::TorchZip,
        ),
        (
            "sd_legacy.pth",
            "weights.zip",
            CheckpointFormat::TorchLegacy,
        ),
        (
            "sd_legacy_p4.pth",
            "noextension",
            CheckpointFormat::TorchLegacy,
        ),
        ("sd_zip_archive.pth", "x.bin", CheckpointFormat::TorchZip),
    ];
    for (src, dst, format) in cases {
        let bytes = std::fs::read(fixture(src)).expect("fixture");
        let p = write(dir.path(), dst, &bytes);
        assert_eq!(detect_format(&p).ok(), Some(format), "{src} as {dst}");
        check_against_expected(dst, &load(&p));
    }
    for name in all_fixtures() {
        assert!(detect_format(&fixture(name)).is_ok(), "{name}");
    }
}

#[test]
fn every_truncation_is_an_error() {
    let dir = tempdir();
    for name in all_fixtures() {
        let bytes = std::fs::read(fixture(name)).expect("fixture");
        let n = bytes.len();
        // Every short prefix, every byte near the end, and a sweep in between.
        let mut lengths: BTreeSet<usize> = (0..n.min(256)).collect();
        lengths.extend(n.saturating_sub(64)..n);
        lengths.extend((0..n).step_by(13));
        let path = dir.path().join("truncated");
        for len in lengths {
            std::fs::write(&path, &bytes[..len]).expect("write");
            match StateDict::load(&path) {
                Ok(sd) => panic!("{name} cut to {len} bytes loaded {} tensors", sd.len()),
                Err(WeightsError::Io { source, .. }) => {
                    panic!("{name} cut to {len}: unexpected I/O error {source}")
                }
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
}

#[test]
fn damaged_bytes_never_panic() {
    // Deterministic byte flips; any Ok/Err is fine, panics and aborts are not.
    let dir = tempdir();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for name in all_fixtures() {
        let bytes = std::fs::read(fixture(name)).expect("fixture");
        let path = dir.path().join("damaged");
        for _ in 0..150 {
            let mut b = bytes.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() % b.len() as u64) as usize;
                b[i] ^= 1 << (next() % 8);
            }
            std::fs::write(&path, &b).expect("write");
            let _ = StateDict::load(&path);
        }
    }
}

#[test]
fn non_checkpoints_are_rejected() {
    let dir = tempdir();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde";
    let mut random = Vec::with_capacity(4096);
    let mut x = 12345u32;
    for _ in 0..4096 {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        random.push((x >> 24) as u8);
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.pth", vec![]),
        ("image.png", png.to_vec()),
        ("random.safetensors", random.clone()),
        ("short.pth", random[..5].to_vec()),
        ("text.pth", b"hello, this is not a model\n".to_vec()),
        // A pickle that is not the torch magic number.
        ("pickle.pth", b"\x80\x02K\x01.".to_vec()),
    ];
    for (name, bytes) in cases {
        let p = write(dir.path(), name, &bytes);
        let e = StateDict::load(&p).err();
        assert!(
            matches!(e, Some(WeightsError::NotACheckpoint { .. })),
            "{name}: {e:?}"
        );
        let msg = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains(name), "message names the file: {msg}");
    }
    // Zip magic followed by garbage, or a zip without data.pkl.
    let mut fake_zip = b"PK\x03\x04".to_vec();
    fake_zip.extend(&random[..200]);
    let p = write(dir.path(), "fake.zip", &fake_zip);
    let e = StateDict::load(&p).err();
    assert!(
        matches!(
            e,
            Some(WeightsError::Corrupt { .. } | WeightsError::Truncated { .. })
        ),
        "{e:?}"
    );
    let p = dir.path().join("plain.zip");
    write_zip(&p, &[("docs/readme.txt", b"hello")]);
    let e = StateDict::load(&p).err();
    assert!(
        matches!(e, Some(WeightsError::NotACheckpoint { .. })),
        "{e:?}"
    );
}

// ------------------------------------------------------------------ hostile files

/// A minimal protocol-2 pickle writer for hand-made checkpoints.
struct Pickler(Vec<u8>);

impl Pickler {
    fn new() -> Self {
        Pickler(vec![0x80, 2])
    }
    fn op(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.0.push(b'X');
        self.0.extend((s.len() as u32).to_le_bytes());
        self.0.extend(s.as_bytes());
        self
    }
    fn int(&mut self, v: i64) -> &mut Self {
        self.0.extend([0x8a, 8]);
        self.0.extend(v.to_le_bytes());
        self
    }
    fn global(&mut self, m: &str, n: &str) -> &mut Self {
        self.0.push(b'c');
        self.0.extend(format!("{m}\n{n}\n").as_bytes());
        self
    }
    /// `{"w": _rebuild_tensor_v2(storage('0', numel), 0, size, stride, False, OrderedDict())}`
    fn state_dict(numel: i64, size: &[i64], stride: &[i64], legacy: bool) -> Vec<u8> {
        let mut p = Pickler::new();
        p.op(b"}").str("w");
        p.global("torch._utils", "_rebuild_tensor_v2").op(b"(");
        p.op(b"(").str("storage").global("torch", "FloatStorage");
        p.str("0").str("cuda:0").int(numel);
        if legacy {
            p.op(b"N");
        }
        p.op(b"tQ").int(0).op(b"(");
        for &d in size {
            p.int(d);
        }
        p.op(b"t(");
        for &s in stride {
            p.int(s);
        }
        p.op(b"t\x89")
            .global("collections", "OrderedDict")
            .op(b")R");
        p.op(b"tRs.");
        p.0
    }
}

fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).expect("create zip");
    let mut z = zip::ZipWriter::new(file);
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        z.start_file(*name, opts).expect("zip entry");
        z.write_all(data).expect("zip data");
    }
    z.finish().expect("zip finish");
}

fn legacy_bytes(state: &[u8], storage_count: i64, data: &[u8]) -> Vec<u8> {
    let mut f = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec();
    f.extend(b"\x80\x02M\xe9\x03.\x80\x02}.");
    f.extend(state);
    f.extend(Pickler::new().op(b"(").str("0").op(b"l.").0.as_slice());
    f.extend(storage_count.to_le_bytes());
    f.extend(data);
    f
}

#[test]
fn a_well_formed_hand_made_checkpoint_loads() {
    // Sanity check of the writer above, so the hostile cases below fail for the right reason.
    let dir = tempdir();
    let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let pkl = Pickler::state_dict(4, &[2, 2], &[1, 2], false);
    let p = dir.path().join("ok.pth");
    write_zip(&p, &[("evil/data.pkl", &pkl), ("evil/data/0", &data)]);
    let sd = load(&p);
    let w = sd.tensor("w", &[2, 2]).expect("w");
    assert_eq!(values(&w).1, vec![1.0, 3.0, 2.0, 4.0]);
    let legacy = legacy_bytes(&Pickler::state_dict(4, &[4], &[1], true), 4, &data);
    let p = write(dir.path(), "ok_legacy.pth", &legacy);
    assert_eq!(
        values(&load(&p).tensor("w", &[4]).expect("w")).1,
        vec![1.0, 2.0, 3.0, 4.0]
    );
}

#[test]
fn absurd_sizes_are_refused_without_allocating() {
    let dir = tempdir();
    let data = [0u8; 16];
    let huge = 1i64 << 60;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // numel 2^60: 2^62 bytes, far more than the 16-byte entry.
        (
            "numel",
            Pickler::state_dict(huge, &[1 << 30, 1 << 30], &[1 << 30, 1], false),
        ),
        // numel * 4 overflows u64.
        ("overflow", Pickler::state_dict(1 << 62, &[2], &[1], false)),
        // Storage fine, view far outside it.
        (
            "view",
            Pickler::state_dict(4, &[1 << 40, 1 << 40], &[1 << 40, 1], false),
        ),
        // Negative sizes and strides.
        ("negative", Pickler::state_dict(4, &[-1], &[1], false)),
        // A 2^62-byte string.
        ("string", {
            let mut p = b"\x80\x02\x8d".to_vec();
            p.extend((1u64 << 62).to_le_bytes());
            p.extend(b"abc.");
            p
        }),
    ];
    for (what, pkl) in &cases {
        let p = dir.path().join(format!("{what}.pth"));
        write_zip(&p, &[("evil/data.pkl", pkl), ("evil/data/0", &data)]);
        let e = StateDict::load(&p).err();
        assert!(
            matches!(
                e,
                Some(WeightsError::Corrupt { .. } | WeightsError::Truncated { .. })
            ),
            "{what}: {e:?}"
        );
    }
    // Legacy: a data header claiming 2^60 elements, and one that fits the pickle but not the file.
    for (count, numel) in [(huge, huge), (1 << 20, 1 << 20), (-5, 4)] {
        let state = Pickler::state_dict(numel, &[2], &[1], true);
        let p = write(
            dir.path(),
            "legacy.pth",
            &legacy_bytes(&state, count, &data),
        );
        let e = StateDict::load(&p).err();
        assert!(
            matches!(
                e,
                Some(WeightsError::Corrupt { .. } | WeightsError::Truncated { .. })
            ),
            "count {count}: {e:?}"
        );
    }
    // Nothing above may have reserved memory in proportion to the claims.
    let largest = LARGEST_ALLOC.load(Ordering::Relaxed);
    assert!(
        largest < 1 << 28,
        "an allocation of {largest} bytes was made"
    );
}

// ------------------------------------------------------------------ API

#[test]
fn wrong_shape_and_missing_key_are_named() {
    let sd = load(&fixture("sd_zip.pth"));
    let e = sd.tensor("conv.weight", &[2, 3, 5, 5]).err();
    match &e {
        Some(WeightsError::ShapeMismatch {
            key,
            expected,
            actual,
        }) => {
            assert_eq!(key, "conv.weight");
            assert_eq!(expected, &vec![2, 3, 5, 5]);
            assert_eq!(actual, &vec![2, 3, 3, 3]);
        }
        other => panic!("{other:?}"),
    }
    let msg = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.contains("conv.weight") && msg.contains("[2, 3, 5, 5]") && msg.contains("[2, 3, 3, 3]"),
        "{msg}"
    );
    let e = sd.require("decoder.missing.weight").err();
    assert!(
        matches!(&e, Some(WeightsError::MissingKey { key }) if key == "decoder.missing.weight")
    );
    assert!(e
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("decoder.missing.weight"));
    assert!(sd.contains("conv.bias") && !sd.contains("nope"));
    assert_eq!(sd.len(), expected().len());
    assert!(!sd.is_empty());
    let keys: Vec<&str> = sd.keys().collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
}

#[test]
fn save_safetensors_round_trips() {
    let dir = tempdir();
    let sd = load(&fixture("sd_legacy.pth"));
    let out = dir.path().join("converted.safetensors");
    sd.save_safetensors(&out).expect("save");
    // Saving again over the existing file works too (rename replaces it).
    sd.save_safetensors(&out).expect("save again");
    assert_eq!(
        detect_format(&out).ok(),
        Some(CheckpointFormat::Safetensors)
    );
    let back = load(&out);
    check_against_expected("round trip", &back);
    // Only the final file remains: the temporary one was renamed away.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("converted.safetensors")]
    );
}
