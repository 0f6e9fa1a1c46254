//! Model folders: which files make a model, and loading them into an [`Engine`].
//!
//! Accepted layouts, checked in this order:
//! - a Fitting Room bundle: `warp.safetensors` and `gen.safetensors`;
//! - the official PF-AFN folder: `warp_model_final.pth` and `gen_model_final.pth`;
//! - either of those inside a `PFAFN/` subfolder (the official `checkpoints/` layout).
//!
//! The file format is detected from the content, so any of the three checkpoint formats may sit
//! behind any of these names.

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
