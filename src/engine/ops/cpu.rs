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

/// A raw output pointer shared by parallel tasks that write disjoint parts of one buffer (where
/// the parts are not contiguous chunks `par_chunks_mut` could hand out).
#[derive(Clone, Copy)]
pub(crate) struct OutPtr(pub *mut f32);
// SAFETY: every user makes its tasks write disjoint elements, and the buffer outlives them.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The pointer `offset` floats in (through a method, so closures capture the whole `Send`
    /// wrapper rather than its raw field).
    ///
    /// # Safety
    /// `offset` must lie inside the buffer.
    pub(crate) unsafe fn add(self, offset: usize) -> *mut f32 {
        self.0.add(offset)
    }
}

/// Number of worker threads, as rayon and candle see it.
pub(crate) fn num_threads() -> usize {
    rayon::current_num_threads().max(1)
}

/// Has the C allocator keep freed memory for reuse. Every op's output is a fresh allocation;
/// by default glibc serves blocks from 128 KB up with `mmap` and hands them back with `munmap`
/// when freed (raising that threshold as it goes, which is hard to predict), so op after op
/// touches fresh pages, and the page faults cost about a tenth of a CPU try-on. A fixed 4 MB
/// threshold keeps nearly every map of the compact model in the heap, where the next op's output
/// reuses it; larger blocks (the official widths' big maps, where a fault costs little next to
/// the op) still come and go with `mmap`, so they leave no holes in the heap: a higher threshold
/// raised the official widths' peak memory (measured: 4 MB 581 MB, 8 MB 646 MB, 32 MB 602 MB,
/// glibc's default 585 MB). Process-wide, set once.
pub(crate) fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes allocator settings; glibc takes these at any time.
            unsafe {
                glibc::mallopt(glibc::M_MMAP_THRESHOLD, 4 << 20);
                glibc::mallopt(glibc::M_TRIM_THRESHOLD, 64 << 20);
            }
        });
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use std::ffi::c_int;

    // From glibc's malloc.h.
    pub const M_TRIM_THRESHOLD: c_int = -1;
    pub const M_MMAP_THRESHOLD: c_int = -3;

    extern "C" {
        pub fn mallopt(param: c_int, value: c_int) -> c_int;
    }
}
