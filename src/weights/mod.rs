//! Reading PyTorch state dicts in pure Rust.
//!
//! Three formats are recognised from the file content, never from its name:
//! safetensors (memory-mapped), the zip `.pth` written by `torch.save` since
//! torch 1.6, and the legacy `.pth` of older torch (or
//! `_use_new_zipfile_serialization=False`). Both torch formats are read by a
//! small, bounded pickle VM ([`pickle`]) that never executes anything.
//!
//! Every size the file declares is checked against the bytes actually present
//! before memory is reserved, so damaged or hostile files give an error, not a
//! panic or a huge allocation.

mod decode;
mod error;
mod pickle;
mod torch;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::Path;

use candle_core::Tensor;

use decode::{tensor_from_storage, ElemType};
pub use error::WeightsError;

/// The on-disk layout of a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckpointFormat {
    /// Hugging Face safetensors.
    Safetensors,
    /// `torch.save` zip archive (torch >= 1.6 default).
    TorchZip,
    /// `torch.save` legacy stream of pickles and raw storages (torch < 1.6).
    TorchLegacy,
}

impl std::fmt::Display for CheckpointFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Safetensors => "safetensors",
            Self::TorchZip => "PyTorch zip checkpoint",
            Self::TorchLegacy => "PyTorch legacy checkpoint",
        })
    }
}

/// safetensors caps its JSON header at 100 MB; a bigger claim is not safetensors.
const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

/// Find out which format `path` holds by looking at its first bytes.
pub fn detect_format(path: &Path) -> Result<CheckpointFormat, WeightsError> {
    let mut file = File::open(path).map_err(|e| WeightsError::io(path, e))?;
    let mut head = Vec::with_capacity(64);
    (&mut file)
        .take(64)
        .read_to_end(&mut head)
        .map_err(|e| WeightsError::io(path, e))?;
    // Local file header, or the end record of an empty archive.
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(CheckpointFormat::TorchZip);
    }
    if torch::is_legacy_head(&head) {
        return Ok(CheckpointFormat::TorchLegacy);
    }
    // safetensors: u64 header length, then a JSON object.
    if head.len() > 8 && head[8] == b'{' {
        let mut n = [0u8; 8];
        n.copy_from_slice(&head[..8]);
        let n = u64::from_le_bytes(n);
        if (2..=MAX_SAFETENSORS_HEADER).contains(&n) {
            return Ok(CheckpointFormat::Safetensors);
        }
    }
    Err(WeightsError::not_a_checkpoint(path))
}

/// All tensors of a checkpoint, on the CPU. Floating tensors (f16, bf16, f32,
/// f64) are F32, integer ones I64, bool and uint8 ones U8.
#[derive(Debug, Clone, Default)]
pub struct StateDict {
    tensors: BTreeMap<String, Tensor>,
}

impl StateDict {
    /// Read a checkpoint of any supported format (detected from the content).
    ///
    /// A top-level `{"state_dict": ...}` or `{"model": ...}` wrapper is
    /// unwrapped, nested dicts are flattened with '.', and a `module.` prefix
    /// shared by every key (from `nn.DataParallel`) is removed.
    pub fn load(path: &Path) -> Result<Self, WeightsError> {
        let tensors = match detect_format(path)? {
            CheckpointFormat::Safetensors => load_safetensors(path)?,
            CheckpointFormat::TorchZip => torch::load_zip(path)?,
            CheckpointFormat::TorchLegacy => torch::load_legacy(path)?,
        };
        Ok(Self::from_tensors(strip_common_prefix(tensors, "module.")))
    }

    /// Wrap tensors that are already in memory (tests, conversions).
    pub fn from_tensors(map: HashMap<String, Tensor>) -> Self {
        Self {
            tensors: map.into_iter().collect(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Tensor> {
        self.tensors.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.tensors.contains_key(key)
    }

    /// Tensor names in sorted order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// `(name, tensor)` pairs in sorted name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Give up the tensors.
    pub fn into_tensors(self) -> HashMap<String, Tensor> {
        self.tensors.into_iter().collect()
    }

    /// The tensor under `key`, which must have exactly `shape`.
    pub fn tensor(&self, key: &str, shape: &[usize]) -> Result<Tensor, WeightsError> {
        let t = self.require(key)?;
        if t.dims() != shape {
            return Err(WeightsError::ShapeMismatch {
                key: key.to_string(),
                expected: shape.to_vec(),
                actual: t.dims().to_vec(),
            });
        }
        Ok(t.clone())
    }

    /// The tensor under `key`, whatever its shape.
    pub fn require(&self, key: &str) -> Result<&Tensor, WeightsError> {
        self.tensors
            .get(key)
            .ok_or_else(|| WeightsError::MissingKey {
                key: key.to_string(),
            })
    }

    /// Write all tensors as safetensors. The data goes to a temporary file in
    /// the same folder that is then renamed over `path`, so a crash never
    /// leaves a half-written checkpoint behind.
    pub fn save_safetensors(&self, path: &Path) -> Result<(), WeightsError> {
        let contiguous = self
            .tensors
            .iter()
            .map(|(k, v)| Ok((k.as_str(), v.contiguous()?)))
            .collect::<Result<HashMap<&str, Tensor>, WeightsError>>()?;
        crate::atomic_file::write_atomic_with(
            path,
            |e| WeightsError::io(path, e),
            |_, tmp| Ok(candle_core::safetensors::save(&contiguous, tmp)?),
        )
    }
}

/// Remove `prefix` from every key, but only when every key has it.
fn strip_common_prefix(map: HashMap<String, Tensor>, prefix: &str) -> HashMap<String, Tensor> {
    if map.is_empty() || !map.keys().all(|k| k.starts_with(prefix)) {
        return map;
    }
    map.into_iter()
        .map(|(k, v)| (k[prefix.len()..].to_string(), v))
        .collect()
}

fn safetensors_elem(dtype: safetensors::Dtype) -> Option<ElemType> {
    use safetensors::Dtype as D;
    Some(match dtype {
        D::BOOL => ElemType::Bool,
        D::U8 => ElemType::U8,
        D::I8 => ElemType::I8,
        D::I16 => ElemType::I16,
        D::U16 => ElemType::U16,
        D::I32 => ElemType::I32,
        D::U32 => ElemType::U32,
        D::I64 => ElemType::I64,
        D::U64 => ElemType::U64,
        D::F16 => ElemType::F16,
        D::BF16 => ElemType::BF16,
        D::F32 => ElemType::F32,
        D::F64 => ElemType::F64,
        _ => return None,
    })
}

fn load_safetensors(path: &Path) -> Result<HashMap<String, Tensor>, WeightsError> {
    use safetensors::SafeTensorError as E;
    let file = File::open(path).map_err(|e| WeightsError::io(path, e))?;
    // SAFETY: read-only private map; as with any mmap reader we assume the file
    // is not truncated while we read it.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| WeightsError::io(path, e))?;
    let st = safetensors::SafeTensors::deserialize(&map).map_err(|e| match e {
        E::HeaderTooSmall | E::InvalidHeaderLength | E::MetadataIncompleteBuffer => {
            WeightsError::truncated(path, format!("safetensors data is incomplete ({e})"))
        }
        other => WeightsError::corrupt(path, format!("bad safetensors file: {other}")),
    })?;
    let mut out = HashMap::new();
    for (name, view) in st.iter() {
        let elem = safetensors_elem(view.dtype()).ok_or_else(|| {
            WeightsError::unsupported(
                path,
                format!("tensor `{name}` has dtype {:?}", view.dtype()),
            )
        })?;
        let shape = view.shape();
        // Row-major strides; safetensors already checked the element count.
        let mut stride = vec![1usize; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1].saturating_mul(shape[d + 1]);
        }
        let t = tensor_from_storage(view.data(), elem, 0, shape, &stride)
            .map_err(|e| WeightsError::corrupt(path, format!("tensor `{name}`: {e}")))?;
        out.insert(name.to_string(), t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t(v: &[f32], shape: &[usize]) -> Tensor {
        match Tensor::from_slice(v, shape, &Device::Cpu) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn strips_module_prefix_only_when_shared() {
        let mut m = HashMap::new();
        m.insert("module.a".to_string(), t(&[1.], &[1]));
        m.insert("module.b".to_string(), t(&[2.], &[1]));
        let s = strip_common_prefix(m.clone(), "module.");
        let mut keys: Vec<_> = s.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, vec!["a", "b"]);
        m.insert("c".to_string(), t(&[3.], &[1]));
        let s = strip_common_prefix(m, "module.");
        assert!(s.contains_key("module.a") && s.contains_key("c"));
    }

    #[test]
    fn tensor_checks_shape_and_names_key() {
        let mut m = HashMap::new();
        m.insert("w".to_string(), t(&[1., 2., 3., 4., 5., 6.], &[2, 3]));
        let sd = StateDict::from_tensors(m);
        assert!(sd.tensor("w", &[2, 3]).is_ok());
        let msg = sd.tensor("w", &[3, 2]).err().map(|e| e.to_string());
        let msg = msg.unwrap_or_default();
        assert!(
            msg.contains("`w`") && msg.contains("[2, 3]") && msg.contains("[3, 2]"),
            "{msg}"
        );
        let msg = sd
            .require("nope")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("`nope`"), "{msg}");
    }
}
