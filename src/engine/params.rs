//! Building layers from a state dict: every width comes from the tensor shapes, so the official
//! model and reduced-width students load through the same code.

use candle_core::{Device, Tensor};

use candle_nn::BatchNorm;

use super::ops::{Conv2d, ConvOptions, OpPath, PreActivation};
use super::EngineError;
use crate::weights::StateDict;

/// BatchNorm's epsilon in every PF-AFN block.
pub(crate) const BN_EPS: f64 = 1e-5;

/// A state dict and where its layers go: the device and the op path every layer is built with.
pub(crate) struct Params<'a> {
    state: &'a StateDict,
    device: &'a Device,
    path: OpPath,
}

impl<'a> Params<'a> {
    pub(crate) fn new(state: &'a StateDict, device: &'a Device, path: OpPath) -> Self {
        Self {
            state,
            device,
            path,
        }
    }

    /// The op path of the layers built here (the non-conv ops take it from their module).
    pub(crate) fn op_path(&self) -> OpPath {
        self.path
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.state.contains(key)
    }

    /// A float tensor of rank `rank`, any sizes, on the CPU.
    fn any_shape(&self, key: &str, rank: usize) -> Result<Tensor, EngineError> {
        let t = self.state.require(key)?;
        if t.rank() != rank {
            return Err(EngineError::Architecture(format!(
                "`{key}` has shape {:?}, expected a rank-{rank} tensor",
                t.dims()
            )));
        }
        Ok(t.to_dtype(candle_core::DType::F32)?)
    }

    /// Length of the vector under `key` (a BatchNorm parameter, say).
    pub(crate) fn vector_len(&self, key: &str) -> Result<usize, EngineError> {
        Ok(self.any_shape(key, 1)?.dims1()?)
    }

    /// Input channels of the conv weight under `key`.
    pub(crate) fn conv_input_channels(&self, key: &str) -> Result<usize, EngineError> {
        Ok(self.any_shape(key, 4)?.dims()[1])
    }

    fn exact(&self, key: &str, shape: &[usize]) -> Result<Tensor, EngineError> {
        Ok(self
            .state
            .tensor(key, shape)?
            .to_dtype(candle_core::DType::F32)?)
    }

    /// A conv at `prefix` (`prefix.weight`, optional `prefix.bias`). `in_channels`, when known
    /// from the previous layer, is checked; the kernel must be `kernel` x `kernel`.
    fn conv_cpu(
        &self,
        prefix: &str,
        in_channels: Option<usize>,
        kernel: usize,
        bias: bool,
        options: ConvOptions,
    ) -> Result<Conv2d, EngineError> {
        let key = format!("{prefix}.weight");
        let w = self.any_shape(&key, 4)?;
        let (cout, cin, _, _) = w.dims4()?;
        let expected = [cout, in_channels.unwrap_or(cin), kernel, kernel];
        let w = if w.dims() != expected {
            // Re-read through the shape check so the error names key and both shapes.
            self.exact(&key, &expected)?
        } else {
            w
        };
        let b = if bias {
            Some(self.exact(&format!("{prefix}.bias"), &[cout])?)
        } else {
            None
        };
        Ok(Conv2d::new(w, b, options)?.with_op_path(self.path))
    }

    /// A conv moved to the device.
    pub(crate) fn conv(
        &self,
        prefix: &str,
        in_channels: Option<usize>,
        kernel: usize,
        bias: bool,
        options: ConvOptions,
    ) -> Result<Conv2d, EngineError> {
        Ok(self
            .conv_cpu(prefix, in_channels, kernel, bias, options)?
            .to_device(self.device)?)
    }

    /// A conv followed by the eval BatchNorm at `bn_prefix`, folded into one conv.
    pub(crate) fn conv_bn(
        &self,
        prefix: &str,
        bn_prefix: &str,
        in_channels: Option<usize>,
        kernel: usize,
        options: ConvOptions,
    ) -> Result<Conv2d, EngineError> {
        let conv = self.conv_cpu(prefix, in_channels, kernel, false, options)?;
        let bn = self.batch_norm(bn_prefix, conv.out_channels())?;
        Ok(conv.fold_batch_norm(&bn)?.to_device(self.device)?)
    }

    /// A conv whose input first goes through the eval BatchNorm at `bn_prefix` and a ReLU.
    pub(crate) fn pre_activated_conv(
        &self,
        bn_prefix: &str,
        prefix: &str,
        channels: usize,
        options: ConvOptions,
    ) -> Result<Conv2d, EngineError> {
        let bn = self.batch_norm(bn_prefix, channels)?;
        let pre = PreActivation::from_batch_norm(&bn)?;
        Ok(self
            .conv(prefix, Some(channels), 3, false, options)?
            .with_pre_activation(pre)?)
    }

    fn batch_norm(&self, prefix: &str, channels: usize) -> Result<BatchNorm, EngineError> {
        let get = |name: &str| self.exact(&format!("{prefix}.{name}"), &[channels]);
        Ok(BatchNorm::new(
            channels,
            get("running_mean")?,
            get("running_var")?,
            get("weight")?,
            get("bias")?,
            BN_EPS,
        )?)
    }
}
