//! Access to the raw f32 data of CPU tensors inside custom ops.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Error, Layout, Result, Storage, Tensor};

/// The contiguous f32 slice behind a CPU storage, or an error naming the op.
pub(crate) fn slice<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let data = match storage {
        CpuStorage::F32(data) => data.as_slice(),
        other => {
            return Err(Error::Msg(format!(
                "{op}: expected f32 data, got {:?}",
                other.dtype()
            )))
        }
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => Err(Error::Msg(format!("{op}: input must be contiguous"))),
    }
}

/// Runs `f` on the contiguous f32 data of a CPU tensor held outside the op's arguments
/// (weights, biases), without copying it.
pub(crate) fn with_tensor_slice<R>(
    tensor: &Tensor,
    op: &str,
    f: impl FnOnce(&[f32]) -> Result<R>,
) -> Result<R> {
    let (storage, layout) = tensor.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(slice(cpu, layout, op)?),
        _ => Err(Error::Msg(format!("{op}: parameter is not on the CPU"))),
    }
}

/// Number of worker threads, as rayon and candle see it.
pub(crate) fn num_threads() -> usize {
    rayon::current_num_threads().max(1)
}
