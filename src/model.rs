//! Model folders: which files make a model, and loading them into an [`Engine`].
//!
//! Accepted layouts, checked in this order:
//! - a Fitting Room bundle: `warp.safetensors` and `gen.safetensors`;
//! - the official PF-AFN folder: `warp_model_final.pth` and `gen_model_final.pth`;
//! - either of those inside a `PFAFN/` subfolder (the official `checkpoints/` layout).
//!
//! The file format is detected from the content, so any of the three checkpoint formats may sit
//! behind any of these names.

use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::Device;

use crate::engine::{Engine, EngineError, OpPath};
use crate::resources::Resource;
use crate::weights::{StateDict, WeightsError};

/// File name pairs (warp module, generator) a model folder may hold.
pub const MODEL_FILE_NAMES: [(&str, &str); 2] = [
    ("warp.safetensors", "gen.safetensors"),
    ("warp_model_final.pth", "gen_model_final.pth"),
];

/// Environment variable naming the default model folder.
pub const MODEL_ENV: &str = "FITTING_ROOM_MODEL";

/// The default model: `models/default` in a checkout, `share/fitting-room/models/default`
/// when installed.
pub const DEFAULT_MODEL: Resource = Resource {
    what: "model",
    env: Some(MODEL_ENV),
    checkout: "models/default",
    installed: "models/default",
};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("no model in `{dir}`: expected {expected}")]
    NotFound { dir: PathBuf, expected: String },
    #[error("no model found; pass --model DIR (or --warp FILE --gen FILE), or set {MODEL_ENV}. Looked in: {looked}")]
    NoDefault { looked: String },
    #[error("cannot load `{path}`: {source}")]
    Weights { path: PathBuf, source: WeightsError },
    #[error("cannot build the network from `{path}`: {source}")]
    Engine { path: PathBuf, source: EngineError },
}

/// A model folder's description (name, training record, file hashes), written with the bundle.
pub const MODEL_CARD: &str = "model.json";

/// Larger model cards are not read: the card is a few KB, and a huge file in its place must not
/// be loaded into memory just to show a name.
pub const MAX_MODEL_CARD_BYTES: u64 = 1 << 20;

/// The name a model card gives (its `name`, trimmed), if the bytes are a JSON object with a
/// non-blank string `name`; anything else gives none.
pub fn card_name(card: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(card).ok()?;
    let name = value.get("name")?.as_str()?.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// The model's name: from its [`MODEL_CARD`] (see [`card_name`]), else the folder's name.
pub fn model_name(folder: &Path) -> String {
    let read_card = || -> Option<Vec<u8>> {
        let mut bytes = Vec::new();
        std::fs::File::open(folder.join(MODEL_CARD))
            .ok()?
            .take(MAX_MODEL_CARD_BYTES + 1)
            .read_to_end(&mut bytes)
            .ok()?;
        (bytes.len() as u64 <= MAX_MODEL_CARD_BYTES).then_some(bytes)
    };
    let from_card = read_card().and_then(|bytes| card_name(&bytes));
    from_card.unwrap_or_else(|| {
        let official = folder.join("warp_model_final.pth").is_file();
        let base = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        if official {
            format!("{base} (official PF-AFN checkpoint)")
        } else {
            base
        }
    })
}

/// The two checkpoint files of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    pub warp: PathBuf,
    pub generator: PathBuf,
}

impl ModelFiles {
    /// Finds the checkpoints in a model folder (see the module docs for the layouts).
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        for base in [dir.to_path_buf(), dir.join("PFAFN")] {
            for (warp, generator) in MODEL_FILE_NAMES {
                let files = ModelFiles {
                    warp: base.join(warp),
                    generator: base.join(generator),
                };
                if files.warp.is_file() && files.generator.is_file() {
                    return Ok(files);
                }
            }
        }
        Err(ModelError::NotFound {
            dir: dir.to_path_buf(),
            expected: MODEL_FILE_NAMES
                .iter()
                .map(|(w, g)| format!("{w} + {g}"))
                .collect::<Vec<_>>()
                .join(", or ")
                + " (directly or in PFAFN/)",
        })
    }

    /// The default model: the first folder of [`DEFAULT_MODEL`]'s lookup that holds one
    /// (`$FITTING_ROOM_MODEL`, `models/default` in the working folder or next to the
    /// executable, `share/fitting-room/models/default` of the install prefix; see
    /// [`crate::resources`]).
    pub fn default_model() -> Result<Self, ModelError> {
        let dir = DEFAULT_MODEL
            .find(|dir| ModelFiles::from_dir(dir).is_ok())
            .map_err(|e| ModelError::NoDefault {
                looked: e.looked_list(),
            })?;
        ModelFiles::from_dir(&dir)
    }

    /// Reads both checkpoints and builds the network on `device`.
    pub fn load(&self, device: &Device, path: OpPath) -> Result<Engine, ModelError> {
        let read = |p: &Path| {
            StateDict::load(p).map_err(|source| ModelError::Weights {
                path: p.to_path_buf(),
                source,
            })
        };
        let warp = read(&self.warp)?;
        let generator = read(&self.generator)?;
        Engine::from_state_dicts(&warp, &generator, device, path).map_err(|source| {
            ModelError::Engine {
                path: self.warp.parent().unwrap_or(Path::new(".")).to_path_buf(),
                source,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_name_is_the_trimmed_string_name_or_none() {
        assert_eq!(
            card_name(br#"{"name": " Fitting Room compact ", "widths": {}}"#).as_deref(),
            Some("Fitting Room compact")
        );
        for card in [
            &br#"{"name": "   "}"#[..],
            br#"{"name": 7}"#,
            br#"["name"]"#,
            br#"{"name": "cut"#,
            b"",
            b"\xff\xfe",
        ] {
            assert_eq!(card_name(card), None, "{}", String::from_utf8_lossy(card));
        }
    }

    #[test]
    fn model_name_falls_back_to_the_folder_for_a_blank_oversized_or_missing_card() {
        let root = tempfile::tempdir().unwrap();
        let folder = root.path().join("my-model");
        std::fs::create_dir(&folder).unwrap();
        assert_eq!(model_name(&folder), "my-model");
        // A blank name once showed as an empty model name.
        std::fs::write(folder.join(MODEL_CARD), br#"{"name": " "}"#).unwrap();
        assert_eq!(model_name(&folder), "my-model");
        std::fs::write(folder.join(MODEL_CARD), br#"{"name": "Compact"}"#).unwrap();
        assert_eq!(model_name(&folder), "Compact");
        let mut big = br#"{"name": "Compact", "pad": ""#.to_vec();
        big.resize(MAX_MODEL_CARD_BYTES as usize + 1, b' ');
        big.extend_from_slice(br#""}"#);
        std::fs::write(folder.join(MODEL_CARD), big).unwrap();
        assert_eq!(model_name(&folder), "my-model");
        std::fs::write(folder.join("warp_model_final.pth"), b"").unwrap();
        assert_eq!(model_name(&folder), "my-model (official PF-AFN checkpoint)");
    }
}
