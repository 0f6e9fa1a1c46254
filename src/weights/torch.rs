//! PyTorch checkpoints: the zip format of torch >= 1.6 and the legacy format
//! (five pickles followed by raw storages). Both share the pickle VM and the
//! interpretation of `torch._utils._rebuild_tensor_v2` calls.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use candle_core::Tensor;

use super::decode::{tensor_from_storage, ElemType};
use super::pickle::{self, Obj, ObjId, Pickle, PickleError, PickleErrorKind};
use super::WeightsError;

/// `torch.serialization.MAGIC_NUMBER`, first pickle of a legacy file.
pub(crate) const LEGACY_MAGIC: i128 = 0x1950a86a20f9469cfc6c;
const LEGACY_PROTOCOL_VERSION: i64 = 1001;
/// data.pkl is small (a few bytes per tensor); refuse anything absurd.
const MAX_PICKLE_BYTES: u64 = 1 << 30;
/// Nested dicts deeper than this are not walked when collecting tensors.
const MAX_DICT_DEPTH: usize = 32;
/// Wrappers such as `_rebuild_parameter(_rebuild_tensor_v2(...))` are shallow.
const MAX_REBUILD_DEPTH: usize = 8;

/// A problem found while interpreting a pickle, before we know the file path.
enum Problem {
    Corrupt(String),
    Unsupported(String),
}

impl Problem {
    fn at(self, path: &Path) -> WeightsError {
        match self {
            Self::Corrupt(r) => WeightsError::corrupt(path, r),
            Self::Unsupported(w) => WeightsError::unsupported(path, w),
        }
    }
}

fn corrupt(reason: impl Into<String>) -> Problem {
    Problem::Corrupt(reason.into())
}

fn pickle_error(path: &Path, context: &str, e: PickleError) -> WeightsError {
    match e.kind {
        PickleErrorKind::Truncated(_) => WeightsError::truncated(path, format!("{context}: {e}")),
        PickleErrorKind::UnsupportedOpcode(_) => {
            WeightsError::unsupported(path, format!("{context}: {e}"))
        }
        _ => WeightsError::corrupt(path, format!("{context}: {e}")),
    }
}

/// Which storage a tensor reads, as named by its persistent id.
#[derive(Debug, Clone)]
struct StorageRef {
    key: String,
    elem: ElemType,
    /// Element count declared in the persistent id.
    numel: usize,
    /// Legacy storage views: (element offset, element count) inside storage `key`.
    view: Option<(usize, usize)>,
}

#[derive(Debug, Clone)]
struct TensorSpec {
    storage: StorageRef,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

fn non_negative(p: &Pickle, id: ObjId, what: &str) -> Result<usize, Problem> {
    match p.as_int(id) {
        Some(v) => usize::try_from(v).map_err(|_| corrupt(format!("{what} is {v}"))),
        None => Err(corrupt(format!(
            "{what} is {} rather than an integer",
            p.describe(id)
        ))),
    }
}

fn usize_seq(p: &Pickle, id: ObjId, what: &str) -> Result<Vec<usize>, Problem> {
    let items = match p.obj(id) {
        // torch.Size((2, 3)) reduces to a call with the dims as its only argument.
        Obj::Call { args, .. } => p
            .as_seq(*args)
            .and_then(|a| a.first())
            .and_then(|&inner| p.as_seq(inner)),
        _ => p.as_seq(id),
    };
    let items = items.ok_or_else(|| corrupt(format!("{what} is {}", p.describe(id))))?;
    items.iter().map(|&i| non_negative(p, i, what)).collect()
}

fn string_key(p: &Pickle, id: ObjId) -> Option<String> {
    match p.obj(id) {
        Obj::Str(s) => Some(s.clone()),
        Obj::Int(v) => Some(v.to_string()),
        _ => None,
    }
}

/// Parse `('storage', torch.FloatStorage, key, location, numel[, view_metadata])`.
/// The location ('cpu', 'cuda:0', ...) is ignored: everything loads on the CPU.
fn storage_ref(p: &Pickle, pid: ObjId) -> Result<StorageRef, Problem> {
    let fields = p
        .as_seq(pid)
        .ok_or_else(|| corrupt("a persistent id is not a tuple"))?;
    match fields.first().and_then(|&k| p.as_str(k)) {
        Some("storage") => {}
        Some(other) => {
            return Err(Problem::Unsupported(format!(
                "persistent objects of kind {other:?} (a pickled nn.Module? save \
                 model.state_dict() instead)"
            )))
        }
        None => return Err(corrupt("a persistent id has no kind")),
    }
    if fields.len() < 5 {
        return Err(corrupt("a storage persistent id has fewer than 5 fields"));
    }
    let (module, name) = p
        .as_global(fields[1])
        .ok_or_else(|| corrupt("a storage type is not a class reference"))?;
    if module != "torch" && module != "torch.cuda" {
        return Err(corrupt(format!("storage type {module}.{name}")));
    }
    let elem = ElemType::from_torch_storage(name)
        .ok_or_else(|| Problem::Unsupported(format!("storages of type torch.{name}")))?;
    let key = string_key(p, fields[2]).ok_or_else(|| corrupt("a storage key is not a string"))?;
    let numel = non_negative(p, fields[4], "a storage size")?;
    let view = match fields.get(5).map(|&v| (v, p.obj(v))) {
        None | Some((_, Obj::None)) => None,
        Some((v, _)) => {
            let meta = p
                .as_seq(v)
                .filter(|m| m.len() == 3)
                .ok_or_else(|| corrupt("storage view metadata is not a 3-tuple"))?;
            Some((
                non_negative(p, meta[1], "a storage view offset")?,
                non_negative(p, meta[2], "a storage view size")?,
            ))
        }
    };
    Ok(StorageRef {
        key,
        elem,
        numel,
        view,
    })
}

/// If `callable(*args)` rebuilds a tensor, describe it; `Ok(None)` for anything else.
fn rebuild(
    p: &Pickle,
    callable: ObjId,
    args: ObjId,
    depth: usize,
) -> Result<Option<TensorSpec>, Problem> {
    if depth > MAX_REBUILD_DEPTH {
        return Err(corrupt("tensor rebuild calls nest too deeply"));
    }
    let Some((module, name)) = p.as_global(callable) else {
        return Ok(None);
    };
    let args = p
        .as_seq(args)
        .ok_or_else(|| corrupt(format!("arguments of {module}.{name} are not a tuple")))?;
    let arg = |i: usize| {
        args.get(i)
            .copied()
            .ok_or_else(|| corrupt(format!("{module}.{name} has only {} arguments", args.len())))
    };
    match (module, name) {
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => {
            let Obj::PersistentId(pid) = p.obj(arg(0)?) else {
                return Err(corrupt(format!(
                    "{name} got {} instead of a storage",
                    p.describe(arg(0)?)
                )));
            };
            let storage = storage_ref(p, *pid)?;
            let offset = non_negative(p, arg(1)?, "a storage offset")?;
            let size = usize_seq(p, arg(2)?, "a tensor size")?;
            let stride = usize_seq(p, arg(3)?, "a tensor stride")?;
            Ok(Some(TensorSpec {
                storage,
                offset,
                size,
                stride,
            }))
        }
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            tensor_of(p, arg(0)?, depth + 1)?
                .map(Some)
                .ok_or_else(|| corrupt(format!("{name} does not wrap a tensor")))
        }
        // Tensor subclasses: `func(*args)` rebuilds the plain tensor.
        ("torch._tensor" | "torch._utils", "_rebuild_from_type_v2" | "_rebuild_from_type") => {
            rebuild(p, arg(0)?, arg(2)?, depth + 1)
        }
        (m, n) if m.starts_with("torch") && n.starts_with("_rebuild") => Err(Problem::Unsupported(
            format!("tensors rebuilt by {m}.{n} (quantized, sparse or other special tensors)"),
        )),
        _ => Ok(None),
    }
}

fn tensor_of(p: &Pickle, id: ObjId, depth: usize) -> Result<Option<TensorSpec>, Problem> {
    match p.obj(id) {
        Obj::Call { callable, args, .. } => rebuild(p, *callable, *args, depth),
        _ => Ok(None),
    }
}

/// Collect `name -> tensor` from nested dicts, joining names with '.'.
fn flatten(
    p: &Pickle,
    dict: ObjId,
    prefix: &str,
    depth: usize,
    out: &mut Vec<(String, TensorSpec)>,
) -> Result<(), Problem> {
    let Some(items) = p.as_dict(dict) else {
        return Ok(());
    };
    for &(k, v) in items {
        // Non-string keys (e.g. optimizer parameter ids) only appear in unrelated entries.
        let Some(key) = string_key(p, k) else {
            continue;
        };
        let name = format!("{prefix}{key}");
        if let Some(spec) = tensor_of(p, v, 0).map_err(|e| match e {
            Problem::Corrupt(r) => Problem::Corrupt(format!("tensor `{name}`: {r}")),
            Problem::Unsupported(r) => Problem::Unsupported(format!("tensor `{name}`: {r}")),
        })? {
            out.push((name, spec));
        } else if p.as_dict(v).is_some() && depth < MAX_DICT_DEPTH {
            flatten(p, v, &format!("{name}."), depth + 1, out)?;
        }
    }
    Ok(())
}

/// The tensors of an unpickled checkpoint, unwrapping `{"state_dict": ...}`
/// and `{"model": ...}`.
fn collect_tensors(p: &Pickle) -> Result<Vec<(String, TensorSpec)>, Problem> {
    let root = p.root();
    if p.as_dict(root).is_none() {
        return Err(Problem::Unsupported(format!(
            "the file holds {} rather than a dict of tensors (was it written with \
             torch.save(model)? save model.state_dict() instead)",
            p.describe(root)
        )));
    }
    let inner = ["state_dict", "model"]
        .iter()
        .filter_map(|k| p.dict_get(root, k))
        .find(|&v| p.as_dict(v).is_some());
    let dict = inner.unwrap_or(root);
    let mut out = Vec::new();
    flatten(p, dict, "", 0, &mut out)?;
    let entries = p.as_dict(dict).unwrap_or_default();
    if out.is_empty() && !entries.is_empty() {
        // Typically {"model": <pickled nn.Module>}: say what is there instead.
        let names: Vec<String> = entries
            .iter()
            .take(8)
            .map(|&(k, v)| {
                let key = string_key(p, k).unwrap_or_else(|| "?".into());
                format!("{key:?}: {}", p.describe(v))
            })
            .collect();
        return Err(Problem::Unsupported(format!(
            "no tensors found; the file holds {{{}}} (a pickled nn.Module? save \
             model.state_dict() instead)",
            names.join(", ")
        )));
    }
    Ok(out)
}

/// Element type of every storage any persistent id names, tensor or not: the
/// legacy format needs it to step over each stored blob.
fn storage_types(p: &Pickle) -> HashMap<String, ElemType> {
    let mut types = HashMap::new();
    for obj in p.objs() {
        if let Obj::PersistentId(pid) = obj {
            if let Ok(s) = storage_ref(p, *pid) {
                types.entry(s.key).or_insert(s.elem);
            }
        }
    }
    types
}

/// Build every tensor from its storage bytes.
fn materialize<'s>(
    path: &Path,
    specs: Vec<(String, TensorSpec)>,
    storage: impl Fn(&str) -> Option<&'s [u8]>,
) -> Result<HashMap<String, Tensor>, WeightsError> {
    let mut out = HashMap::with_capacity(specs.len());
    for (name, spec) in specs {
        let s = &spec.storage;
        let bytes = storage(&s.key).ok_or_else(|| {
            WeightsError::corrupt(
                path,
                format!(
                    "tensor `{name}` uses storage {:?}, which the file lacks",
                    s.key
                ),
            )
        })?;
        let bytes = match s.view {
            None => bytes,
            Some((off, len)) => {
                let es = s.elem.size();
                let range = off
                    .checked_mul(es)
                    .zip(off.checked_add(len).and_then(|e| e.checked_mul(es)));
                match range {
                    Some((a, b)) if b <= bytes.len() => &bytes[a..b],
                    _ => {
                        return Err(WeightsError::corrupt(
                            path,
                            format!("tensor `{name}`: storage view lies outside its storage"),
                        ))
                    }
                }
            }
        };
        let t = tensor_from_storage(bytes, s.elem, spec.offset, &spec.size, &spec.stride)
            .map_err(|e| WeightsError::corrupt(path, format!("tensor `{name}`: {e}")))?;
        out.insert(name, t);
    }
    Ok(out)
}

// ---------------------------------------------------------------- legacy

/// Whether `head` (the first bytes of a file) starts with the legacy magic pickle.
pub(crate) fn is_legacy_head(head: &[u8]) -> bool {
    pickle::parse(head, 0)
        .ok()
        .and_then(|p| p.as_i128(p.root()))
        == Some(LEGACY_MAGIC)
}

pub(crate) fn load_legacy(path: &Path) -> Result<HashMap<String, Tensor>, WeightsError> {
    let file = File::open(path).map_err(|e| WeightsError::io(path, e))?;
    // SAFETY: the map is read-only and private to this call; like every
    // memory-mapped reader we assume the file is not truncated under us.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| WeightsError::io(path, e))?;
    load_legacy_bytes(path, &map)
}

fn load_legacy_bytes(path: &Path, data: &[u8]) -> Result<HashMap<String, Tensor>, WeightsError> {
    let magic = pickle::parse(data, 0).map_err(|_| WeightsError::not_a_checkpoint(path))?;
    if magic.as_i128(magic.root()) != Some(LEGACY_MAGIC) {
        return Err(WeightsError::not_a_checkpoint(path));
    }
    let version =
        pickle::parse(data, magic.end()).map_err(|e| pickle_error(path, "protocol version", e))?;
    match version.as_int(version.root()) {
        Some(LEGACY_PROTOCOL_VERSION) => {}
        other => {
            return Err(WeightsError::unsupported(
                path,
                format!("legacy serialization protocol {other:?} (expected 1001)"),
            ))
        }
    }
    let sys_info =
        pickle::parse(data, version.end()).map_err(|e| pickle_error(path, "system info", e))?;
    if let Some(le) = sys_info.dict_get(sys_info.root(), "little_endian") {
        if sys_info.obj(le) == &Obj::Bool(false) {
            return Err(WeightsError::unsupported(path, "big-endian checkpoints"));
        }
    }
    let state =
        pickle::parse(data, sys_info.end()).map_err(|e| pickle_error(path, "state dict", e))?;
    let specs = collect_tensors(&state).map_err(|e| e.at(path))?;
    let types = storage_types(&state);
    let keys =
        pickle::parse(data, state.end()).map_err(|e| pickle_error(path, "storage list", e))?;
    let key_ids = keys
        .as_seq(keys.root())
        .ok_or_else(|| WeightsError::corrupt(path, "the storage key list is not a list"))?;

    // Storages follow in list order: an i64 element count, then the elements.
    let mut ranges: HashMap<String, (usize, usize)> = HashMap::with_capacity(key_ids.len());
    let mut pos = keys.end();
    for &kid in key_ids {
        let key = string_key(&keys, kid)
            .ok_or_else(|| WeightsError::corrupt(path, "a storage key is not a string"))?;
        let header = data
            .get(pos..)
            .and_then(|rest| rest.get(..8))
            .ok_or_else(|| {
                WeightsError::truncated(path, format!("storage {key} is missing its size"))
            })?;
        let mut count = [0u8; 8];
        count.copy_from_slice(header);
        let count = i64::from_le_bytes(count);
        let count = usize::try_from(count).map_err(|_| {
            WeightsError::corrupt(path, format!("storage {key} has negative size {count}"))
        })?;
        let elem = types.get(&key).ok_or_else(|| {
            WeightsError::corrupt(
                path,
                format!("storage {key} is listed but never referenced"),
            )
        })?;
        let start = pos + 8;
        let end = count
            .checked_mul(elem.size())
            .and_then(|n| n.checked_add(start))
            .filter(|&end| end <= data.len())
            .ok_or_else(|| {
                WeightsError::truncated(
                    path,
                    format!(
                        "storage {key} declares {count} elements at offset {start} but the \
                         file has {} bytes",
                        data.len()
                    ),
                )
            })?;
        ranges.insert(key, (start, end));
        pos = end;
    }
    materialize(path, specs, |key| {
        ranges.get(key).map(|&(a, b)| &data[a..b])
    })
}

// ---------------------------------------------------------------- zip

fn zip_error(path: &Path, e: zip::result::ZipError) -> WeightsError {
    use zip::result::ZipError;
    match e {
        ZipError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            WeightsError::truncated(path, "the zip archive ends early")
        }
        ZipError::Io(io) => WeightsError::io(path, io),
        ZipError::UnsupportedArchive(what) => WeightsError::unsupported(path, what),
        // The end-of-central-directory record sits at the very end of the file.
        ZipError::InvalidArchive(msg) if msg.contains("EOCD") || msg.contains("end of central") => {
            WeightsError::truncated(path, "the zip archive has no end record")
        }
        other => WeightsError::corrupt(
            path,
            format!("damaged zip archive ({other}); the file may be truncated"),
        ),
    }
}

/// Read at most `limit` bytes of an entry, growing the buffer only as data
/// actually arrives (the entry's declared size is not trusted for allocation).
fn read_entry<R: Read + std::io::Seek>(
    path: &Path,
    archive: &mut zip::ZipArchive<R>,
    name: &str,
    limit: u64,
) -> Result<Vec<u8>, WeightsError> {
    let entry = archive.by_name(name).map_err(|e| zip_error(path, e))?;
    let mut out = Vec::new();
    entry
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                WeightsError::truncated(path, format!("{name} ends early"))
            }
            std::io::ErrorKind::InvalidData => {
                WeightsError::corrupt(path, format!("{name} is damaged: {e}"))
            }
            _ => WeightsError::io(path, e),
        })?;
    Ok(out)
}

/// The `data.pkl` entry and its folder prefix ("archive/" or the saved file's stem).
fn find_data_pkl<R: Read + std::io::Seek>(
    archive: &zip::ZipArchive<R>,
) -> Option<(String, String)> {
    let mut candidates: Vec<&str> = archive
        .file_names()
        .filter(|n| *n == "data.pkl" || (n.ends_with("/data.pkl") && n.matches('/').count() == 1))
        .collect();
    candidates.sort_unstable();
    let name = candidates.first()?.to_string();
    let prefix = name
        .strip_suffix("data.pkl")
        .unwrap_or_default()
        .to_string();
    Some((name, prefix))
}

pub(crate) fn load_zip(path: &Path) -> Result<HashMap<String, Tensor>, WeightsError> {
    let file = File::open(path).map_err(|e| WeightsError::io(path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| WeightsError::io(path, e))?
        .len();
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| zip_error(path, e))?;
    let (pkl_name, prefix) =
        find_data_pkl(&archive).ok_or_else(|| WeightsError::not_a_checkpoint(path))?;

    let byteorder = format!("{prefix}byteorder");
    if archive.index_for_name(&byteorder).is_some() {
        let order = read_entry(path, &mut archive, &byteorder, 16)?;
        if order.trim_ascii() == b"big" {
            return Err(WeightsError::unsupported(path, "big-endian checkpoints"));
        }
    }

    // TorchScript archives (torch.jit.save) pickle a scripted module, not a dict.
    if archive
        .index_for_name(&format!("{prefix}constants.pkl"))
        .is_some()
    {
        return Err(WeightsError::unsupported(
            path,
            "TorchScript archives (torch.jit.save); save model.state_dict() with torch.save instead",
        ));
    }
    let pkl_size = archive
        .by_name(&pkl_name)
        .map_err(|e| zip_error(path, e))?
        .size();
    if pkl_size > MAX_PICKLE_BYTES {
        return Err(WeightsError::unsupported(
            path,
            format!("{pkl_name} is {pkl_size} bytes, more than the {MAX_PICKLE_BYTES} accepted"),
        ));
    }
    let pkl = read_entry(path, &mut archive, &pkl_name, MAX_PICKLE_BYTES)?;
    let pickle = pickle::parse(&pkl, 0).map_err(|e| pickle_error(path, &pkl_name, e))?;
    let specs = collect_tensors(&pickle).map_err(|e| e.at(path))?;

    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    for (name, spec) in &specs {
        let s = &spec.storage;
        if storages.contains_key(&s.key) {
            continue;
        }
        let nbytes = s
            .numel
            .checked_mul(s.elem.size())
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| {
                WeightsError::corrupt(
                    path,
                    format!("tensor `{name}`: storage size {} overflows", s.numel),
                )
            })?;
        let entry_name = format!("{prefix}data/{}", s.key);
        let entry = archive.by_name(&entry_name).map_err(|e| match e {
            zip::result::ZipError::FileNotFound => WeightsError::corrupt(
                path,
                format!("tensor `{name}`: storage {entry_name} is missing from the archive"),
            ),
            other => zip_error(path, other),
        })?;
        if entry.size() < nbytes {
            return Err(WeightsError::corrupt(
                path,
                format!(
                    "tensor `{name}`: storage {entry_name} holds {} bytes but {} elements of \
                     {} bytes were declared",
                    entry.size(),
                    s.numel,
                    s.elem.size()
                ),
            ));
        }
        // torch stores entries uncompressed; then the declared size is bounded by
        // the file length and can be reserved up front.
        let stored = entry.compression() == zip::CompressionMethod::Stored
            && entry.compressed_size() <= file_len;
        let mut bytes = match usize::try_from(nbytes) {
            Ok(n) if stored => Vec::with_capacity(n),
            _ => Vec::new(),
        };
        entry
            .take(nbytes)
            .read_to_end(&mut bytes)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => {
                    WeightsError::truncated(path, format!("{entry_name} ends early"))
                }
                _ => WeightsError::corrupt(path, format!("cannot read {entry_name}: {e}")),
            })?;
        if (bytes.len() as u64) < nbytes {
            return Err(WeightsError::truncated(
                path,
                format!("{entry_name} has {} of its {nbytes} bytes", bytes.len()),
            ));
        }
        storages.insert(s.key.clone(), bytes);
    }
    materialize(path, specs, |key| storages.get(key).map(Vec::as_slice))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimal pickle writer for hand-made state dicts.
    struct W(Vec<u8>);

    impl W {
        fn new() -> Self {
            W(vec![0x80, 2])
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
            self.0.push(0x8a);
            self.0.push(8);
            self.0.extend(v.to_le_bytes());
            self
        }
        fn global(&mut self, m: &str, n: &str) -> &mut Self {
            self.0.push(b'c');
            self.0.extend(format!("{m}\n{n}\n").as_bytes());
            self
        }
        /// `_rebuild_tensor_v2(storage(key, numel), offset, size, stride, False, OrderedDict())`
        fn tensor(
            &mut self,
            key: &str,
            numel: i64,
            offset: i64,
            size: &[i64],
            stride: &[i64],
        ) -> &mut Self {
            self.global("torch._utils", "_rebuild_tensor_v2").op(b"(");
            self.op(b"(").str("storage").global("torch", "FloatStorage");
            self.str(key).str("cpu").int(numel).op(b"tQ");
            self.int(offset).op(b"(");
            for &d in size {
                self.int(d);
            }
            self.op(b"t(");
            for &s in stride {
                self.int(s);
            }
            self.op(b"t").op(&[0x89]);
            self.global("collections", "OrderedDict").op(b")R");
            self.op(b"tR")
        }
    }

    fn legacy_file(state: &[u8], keys: &[&str], storages: &[(i64, Vec<u8>)]) -> Vec<u8> {
        let mut f = vec![
            0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
            b'.',
        ];
        f.extend([0x80, 2, b'M', 0xe9, 0x03, b'.']);
        f.extend([0x80, 2, b'}', b'.']);
        f.extend(state);
        let mut k = W::new();
        k.op(b"(");
        for key in keys {
            k.str(key);
        }
        k.op(b"l.");
        f.extend(&k.0);
        for (count, data) in storages {
            f.extend(count.to_le_bytes());
            f.extend(data);
        }
        f
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn legacy_shared_storage_and_views() {
        let mut w = W::new();
        w.op(b"}(").str("a").tensor("k", 6, 0, &[3, 2], &[1, 3]);
        w.str("b").tensor("k", 6, 4, &[2], &[1]).op(b"u.");
        let file = legacy_file(&w.0, &["k"], &[(6, f32s(&[0., 1., 2., 3., 4., 5.]))]);
        let sd = load_legacy_bytes(Path::new("x.pth"), &file);
        let sd = match sd {
            Ok(sd) => sd,
            Err(e) => panic!("{e}"),
        };
        let get = |k: &str| {
            sd.get(k)
                .and_then(|t| t.flatten_all().ok())
                .and_then(|t| t.to_vec1::<f32>().ok())
        };
        assert_eq!(get("a"), Some(vec![0., 3., 1., 4., 2., 5.]));
        assert_eq!(get("b"), Some(vec![4., 5.]));
    }

    #[test]
    fn legacy_absurd_sizes_are_errors() {
        // A storage declaring 2^60 elements, in the pickle and in the data header.
        let mut w = W::new();
        w.op(b"}(")
            .str("a")
            .tensor("k", 1 << 60, 0, &[1 << 30, 1 << 30], &[1 << 30, 1]);
        w.op(b"u.");
        let file = legacy_file(&w.0, &["k"], &[(1 << 60, f32s(&[1.0]))]);
        let e = load_legacy_bytes(Path::new("x.pth"), &file).err();
        assert!(matches!(e, Some(WeightsError::Truncated { .. })), "{e:?}");
        // Count fits the file but the view does not fit the count.
        let file = legacy_file(&w.0, &["k"], &[(1, f32s(&[1.0]))]);
        let e = load_legacy_bytes(Path::new("x.pth"), &file).err();
        assert!(matches!(e, Some(WeightsError::Corrupt { .. })), "{e:?}");
        // Negative count.
        let file = legacy_file(&w.0, &["k"], &[(-1, vec![])]);
        let e = load_legacy_bytes(Path::new("x.pth"), &file).err();
        assert!(matches!(e, Some(WeightsError::Corrupt { .. })), "{e:?}");
    }

    #[test]
    fn non_dict_root_is_unsupported() {
        let mut w = W::new();
        w.global("models", "AFWM").op(b")R.");
        let file = legacy_file(&w.0, &[], &[]);
        let e = load_legacy_bytes(Path::new("x.pth"), &file).err();
        let msg = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("state_dict()"), "{msg}");
    }

    #[test]
    fn dict_without_tensors_is_explained() {
        let mut w = W::new();
        w.op(b"}")
            .str("model")
            .global("models.afwm", "AFWM")
            .op(b")Rs.");
        let file = legacy_file(&w.0, &[], &[]);
        let msg = load_legacy_bytes(Path::new("x.pth"), &file)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("models.afwm.AFWM"), "{msg}");
        // An empty dict is simply an empty state dict.
        let file = legacy_file(b"\x80\x02}.", &[], &[]);
        assert!(load_legacy_bytes(Path::new("x.pth"), &file).is_ok_and(|m| m.is_empty()));
    }

    #[test]
    fn magic_detection() {
        let file = legacy_file(b"\x80\x02}.", &[], &[]);
        assert!(is_legacy_head(&file[..15]));
        assert!(!is_legacy_head(&file[..10]));
        assert!(!is_legacy_head(b"\x80\x02K\x01."));
    }
}
