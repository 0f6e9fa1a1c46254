//! The operations PF-AFN needs beyond candle's own: bilinear grid sampling, the PWC-style
//! correlation, offsets to sampling grids, flow upsampling and a fast CPU convolution.
//!
//! Each op has two paths: a CPU kernel (a candle custom op; grid sampling and the correlation
//! also have CUDA kernels) and a path built from candle tensor ops that runs on every device
//! (Metal, CUDA, and the CPU too, which is how tests check it).

mod composite;
mod conv;
mod correlation;
pub(crate) mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
mod flow;
mod grid_sample;

pub use composite::{composite, Composite};
pub use conv::{Activation, Conv2d, ConvOptions, PreActivation};
pub use correlation::{
    correlation, correlation_leaky_relu, CORRELATION_CHANNELS, MAX_DISPLACEMENT,
};
pub use flow::{apply_offset, upsample_flow_x2, upsample_nearest_x2};
pub use grid_sample::{grid_sample, Padding};

/// Which implementation the ops use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpPath {
    /// The hand-written kernels where they exist (CPU; CUDA for the warp ops), tensor ops
    /// elsewhere.
    #[default]
    Auto,
    /// Tensor ops everywhere: the path Metal takes, selectable on the CPU to test it.
    Tensor,
}

impl OpPath {
    /// Whether the CPU kernels should run for a tensor on `device`.
    pub(crate) fn use_cpu_kernel(self, device: &candle_core::Device) -> bool {
        self == OpPath::Auto && device.is_cpu()
    }

    /// Whether the warp ops (grid sampling, correlation) should run their own kernels on
    /// `device`: on the CPU, and on CUDA when compiled in.
    pub(crate) fn use_warp_kernel(self, device: &candle_core::Device) -> bool {
        self == OpPath::Auto && (device.is_cpu() || (cfg!(feature = "cuda") && device.is_cuda()))
    }
}
