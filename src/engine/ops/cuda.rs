//! The warp ops' CUDA kernels (`warp_kernels.cu`), the `cuda_fwd` of their custom ops.
//!
//! On the GPU, grid sampling from tensor ops is four gathers over a broadcast index tensor, and
//! the correlation 49 shifted products, each a handful of launches: hundreds of small kernels
//! per try-on. These kernels do each op in one launch. NVRTC compiles them when first used, for
//! the GPU at hand, so the build needs no extra compiler step and the program no fixed GPU
//! generation.

use std::sync::OnceLock;

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{LaunchConfig, PushKernelArg};
use candle_core::cuda_backend::cudarc::nvrtc;
use candle_core::cuda_backend::{CudaStorage, WrapErr};
use candle_core::{Error, Layout, Result, Shape};

const SOURCE: &str = include_str!("warp_kernels.cu");
const MODULE: &str = "fitting_room_warp_ops";
const THREADS: u32 = 256;

/// The kernels' PTX, compiled once per process.
fn ptx() -> Result<&'static str> {
    static PTX: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    PTX.get_or_init(|| {
        nvrtc::compile_ptx(SOURCE)
            .map(|ptx| ptx.to_src())
            .map_err(|e| e.to_string())
    })
    .as_deref()
    .map_err(|e| Error::Msg(format!("compiling the warp kernels with NVRTC: {e}")))
}

/// The contiguous f32 data of an op's argument.
fn view<'a>(
    storage: &'a CudaStorage,
    layout: &Layout,
    op: &str,
) -> Result<candle_core::cuda_backend::cudarc::driver::CudaView<'a, f32>> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| Error::Msg(format!("{op}: input must be contiguous")))?;
    Ok(storage.as_cuda_slice::<f32>()?.slice(start..end))
}

fn int(value: usize, op: &str) -> Result<i32> {
    i32::try_from(value).map_err(|_| Error::Msg(format!("{op}: dimension {value} is too large")))
}

fn launch_config(threads: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: ((threads as u32).div_ceil(THREADS), 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// `grid_sample` (align_corners=True) of `input` (N, C, H, W) at `grid` (N, Ho, Wo, 2).
pub(crate) fn grid_sample(
    input: &CudaStorage,
    input_layout: &Layout,
    grid: &CudaStorage,
    grid_layout: &Layout,
    border: bool,
) -> Result<(CudaStorage, Shape)> {
    const OP: &str = "grid_sample";
    let (n, c, h, w) = input_layout.shape().dims4()?;
    let (_, ho, wo, _) = grid_layout.shape().dims4()?;
    let dev = input.device();
    let shape = Shape::from((n, c, ho, wo));
    let positions = n * ho * wo;
    // SAFETY: every element is written by the kernel below (one thread per position writes
    // all its channels); an empty output launches nothing.
    let out = unsafe { dev.alloc::<f32>(shape.elem_count()) }?;
    if positions > 0 && c > 0 {
        int(positions, OP)?;
        let input_view = view(input, input_layout, OP)?;
        let grid_view = view(grid, grid_layout, OP)?;
        let func = dev.get_or_load_custom_func("grid_sample_f32", MODULE, ptx()?)?;
        let mut builder = func.builder();
        builder.arg(&input_view);
        builder.arg(&grid_view);
        builder.arg(&out);
        candle_core::builder_arg!(
            builder,
            int(n, OP)?,
            int(c, OP)?,
            int(h, OP)?,
            int(w, OP)?,
            int(ho, OP)?,
            int(wo, OP)?,
            i32::from(border)
        );
        // SAFETY: the arguments match the kernel's signature; sizes are checked above.
        unsafe { builder.launch(launch_config(positions)) }.w()?;
    }
    Ok((CudaStorage::wrap_cuda_slice(out, dev.clone()), shape))
}

/// The PWC correlation of `first` and `second`, both (N, C, H, W); (N, 49, H, W) out.
pub(crate) fn correlation(
    first: &CudaStorage,
    first_layout: &Layout,
    second: &CudaStorage,
    second_layout: &Layout,
    channels_out: usize,
) -> Result<(CudaStorage, Shape)> {
    const OP: &str = "correlation";
    let (n, c, h, w) = first_layout.shape().dims4()?;
    let dev = first.device();
    let shape = Shape::from((n, channels_out, h, w));
    let positions = n * h * w;
    // SAFETY: every element is written by the kernel below (one thread per position writes its
    // 49 channels); an empty output launches nothing.
    let out = unsafe { dev.alloc::<f32>(shape.elem_count()) }?;
    if positions > 0 {
        int(positions, OP)?;
        let first_view = view(first, first_layout, OP)?;
        let second_view = view(second, second_layout, OP)?;
        let func = dev.get_or_load_custom_func("correlation_f32", MODULE, ptx()?)?;
        let mut builder = func.builder();
        builder.arg(&first_view);
        builder.arg(&second_view);
        builder.arg(&out);
        candle_core::builder_arg!(builder, int(n, OP)?, int(c, OP)?, int(h, OP)?, int(w, OP)?);
        // SAFETY: the arguments match the kernel's signature; sizes are checked above.
        unsafe { builder.launch(launch_config(positions)) }.w()?;
    }
    Ok((CudaStorage::wrap_cuda_slice(out, dev.clone()), shape))
}
