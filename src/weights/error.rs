//! Errors of the checkpoint readers.

use std::path::PathBuf;

/// Why a checkpoint could not be read, or a tensor could not be handed out.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The operating system refused a read or a write.
    #[error("cannot access {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file is none of the formats we read (safetensors, PyTorch zip or legacy .pth).
    #[error(
        "{} is not a model checkpoint: expected a .safetensors file or a PyTorch .pth/.pt \
         file written by torch.save",
        path.display()
    )]
    NotACheckpoint { path: PathBuf },

    /// The file ends before the data it announces.
    #[error("{} is truncated (incomplete download or copy?): {what}", path.display())]
    Truncated { path: PathBuf, what: String },

    /// The file has the shape of a checkpoint but its content is inconsistent.
    #[error("{} is corrupt: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },

    /// A valid file using a feature this reader does not implement.
    #[error("{} uses something this reader does not support: {what}", path.display())]
    Unsupported { path: PathBuf, what: String },

    /// The checkpoint lacks a tensor the caller asked for.
    #[error("the checkpoint has no tensor named `{key}`")]
    MissingKey { key: String },

    /// A tensor exists but has another shape than the network expects.
    #[error("tensor `{key}` has shape {actual:?} but {expected:?} was expected")]
    ShapeMismatch {
        key: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },

    /// An error from candle while building or converting tensors.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl WeightsError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(path: &std::path::Path, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(crate) fn truncated(path: &std::path::Path, what: impl Into<String>) -> Self {
        Self::Truncated {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }

    pub(crate) fn unsupported(path: &std::path::Path, what: impl Into<String>) -> Self {
        Self::Unsupported {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }

    pub(crate) fn not_a_checkpoint(path: &std::path::Path) -> Self {
        Self::NotACheckpoint {
            path: path.to_path_buf(),
        }
    }
}
