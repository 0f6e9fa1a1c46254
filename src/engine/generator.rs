//! ResUnetGenerator: a U-Net whose every level carries two residual blocks on each side, with
//! BatchNorm (folded into the convs at load time) and nearest upsampling.

use candle_core::Tensor;

use super::ops::{upsample_nearest_x2, Activation, Conv2d, ConvOptions, OpPath};
use super::params::Params;
use super::EngineError;

/// relu(bn(conv(relu(bn(conv(x))))) + x), BatchNorms folded.
#[derive(Debug, Clone)]
struct ResidualBlock {
    conv1: Conv2d,
    conv2: Conv2d,
}

impl ResidualBlock {
    fn load(p: &Params, prefix: &str, channels: usize) -> Result<Self, EngineError> {
        let conv = |conv: usize, bn: usize| -> Result<Conv2d, EngineError> {
            Ok(p.conv_bn(
                &format!("{prefix}.block.{conv}"),
                &format!("{prefix}.block.{bn}"),
                Some(channels),
                3,
                ConvOptions::SAME,
            )?
            .with_activation(Activation::Relu))
        };
        Ok(Self {
            conv1: conv(0, 1)?,
            conv2: conv(3, 4)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, EngineError> {
        let h = self.conv1.forward(x)?;
        Ok(self.conv2.forward_residual(&h, x)?)
    }

    fn parameter_count(&self) -> usize {
        self.conv1.parameter_count() + self.conv2.parameter_count()
    }
}

/// Where a U-Net block sits; the official modules differ in layer order and in key indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    Outermost,
    Middle,
    Innermost,
}

/// One U-Net level: down conv, residual blocks, the inner level, nearest x2, up conv,
/// residual blocks; every level but the outermost returns cat(input, output).
#[derive(Debug, Clone)]
struct UnetBlock {
    position: Position,
    down: Conv2d,
    down_blocks: [ResidualBlock; 2],
    inner: Option<Box<UnetBlock>>,
    up: Conv2d,
    up_blocks: Option<[ResidualBlock; 2]>,
    path: OpPath,
}

impl UnetBlock {
    /// Loads the block at `prefix` (a `...model` Sequential) and, recursively, those inside.
    fn load(
        p: &Params,
        prefix: &str,
        position: Position,
        in_channels: usize,
    ) -> Result<Self, EngineError> {
        // Sequential indices of the official modules.
        let (down, res_down, inner, up, up_bn, res_up) = match position {
            Position::Outermost => (0, [2, 3], Some(4), 6, None, None),
            Position::Middle => (0, [3, 4], Some(5), 7, Some(8), Some([10, 11])),
            Position::Innermost => (0, [2, 3], None, 5, Some(6), Some([8, 9])),
        };
        let down = match position {
            Position::Middle => p.conv_bn(
                &format!("{prefix}.{down}"),
                &format!("{prefix}.1"),
                Some(in_channels),
                3,
                ConvOptions::HALVE,
            )?,
            _ => p.conv(
                &format!("{prefix}.{down}"),
                Some(in_channels),
                3,
                false,
                ConvOptions::HALVE,
            )?,
        }
        .with_activation(Activation::Relu);
        let inner_channels = down.out_channels();
        let down_blocks = [
            ResidualBlock::load(p, &format!("{prefix}.{}", res_down[0]), inner_channels)?,
            ResidualBlock::load(p, &format!("{prefix}.{}", res_down[1]), inner_channels)?,
        ];
        let inner = match inner {
            Some(index) => {
                let inner_prefix = format!("{prefix}.{index}.model");
                let inner_position = if p.contains(&format!("{inner_prefix}.5.model.0.weight")) {
                    Position::Middle
                } else {
                    Position::Innermost
                };
                Some(Box::new(UnetBlock::load(
                    p,
                    &inner_prefix,
                    inner_position,
                    inner_channels,
                )?))
            }
            None => None,
        };
        // The inner level hands back cat(its input, its output).
        let up_in = if inner.is_some() {
            2 * inner_channels
        } else {
            inner_channels
        };
        let up_index = up;
        let up = match up_bn {
            Some(bn) => p.conv_bn(
                &format!("{prefix}.{up_index}"),
                &format!("{prefix}.{bn}"),
                Some(up_in),
                3,
                ConvOptions::SAME,
            )?,
            None => p.conv(
                &format!("{prefix}.{up_index}"),
                Some(up_in),
                3,
                false,
                ConvOptions::SAME,
            )?,
        };
        // The outermost up conv gives the logits; the others are followed by a ReLU.
        let up = if position == Position::Outermost {
            up
        } else {
            up.with_activation(Activation::Relu)
        };
        if position != Position::Outermost && up.out_channels() != in_channels {
            return Err(EngineError::Architecture(format!(
                "the up conv of `{prefix}` outputs {} channels, the block's input has {in_channels}",
                up.out_channels()
            )));
        }
        let up_blocks = match res_up {
            Some([a, b]) => Some([
                ResidualBlock::load(p, &format!("{prefix}.{a}"), up.out_channels())?,
                ResidualBlock::load(p, &format!("{prefix}.{b}"), up.out_channels())?,
            ]),
            None => None,
        };
        Ok(Self {
            position,
            down,
            down_blocks,
            inner,
            up,
            up_blocks,
            path: p.op_path(),
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, EngineError> {
        let mut y = self.down.forward(x)?;
        for block in &self.down_blocks {
            y = block.forward(&y)?;
        }
        if let Some(inner) = &self.inner {
            y = inner.forward(&y)?;
        }
        let y = upsample_nearest_x2(&y, self.path)?;
        let mut y = self.up.forward(&y)?;
        if let Some(blocks) = &self.up_blocks {
            for block in blocks {
                y = block.forward(&y)?;
            }
        }
        if self.position == Position::Outermost {
            Ok(y)
        } else {
            Ok(Tensor::cat(&[x, &y], 1)?)
        }
    }

    fn depth(&self) -> usize {
        1 + self.inner.as_ref().map_or(0, |i| i.depth())
    }

    fn parameter_count(&self) -> usize {
        self.down.parameter_count()
            + self.up.parameter_count()
            + self
                .down_blocks
                .iter()
                .chain(self.up_blocks.iter().flatten())
                .map(ResidualBlock::parameter_count)
                .sum::<usize>()
            + self.inner.as_ref().map_or(0, |i| i.parameter_count())
    }
}

/// Widths of a loaded generator, read from its weights.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GeneratorWidths {
    pub input_channels: usize,
    pub output_channels: usize,
    pub base_width: usize,
    pub downsamplings: usize,
}

/// The try-on generator: (person, warped garment, warped mask) in, rendered person and
/// composition mask logits out.
#[derive(Debug, Clone)]
pub struct ResUnetGenerator {
    root: UnetBlock,
    input_channels: usize,
}

impl ResUnetGenerator {
    pub(crate) fn load(p: &Params) -> Result<Self, EngineError> {
        let first = "model.model.0.weight";
        let input_channels = p.conv_input_channels(first)?;
        let root = UnetBlock::load(p, "model.model", Position::Outermost, input_channels)?;
        Ok(Self {
            root,
            input_channels,
        })
    }

    pub fn widths(&self) -> GeneratorWidths {
        GeneratorWidths {
            input_channels: self.input_channels,
            output_channels: self.root.up.out_channels(),
            base_width: self.root.down.out_channels(),
            downsamplings: self.root.depth(),
        }
    }

    pub fn input_channels(&self) -> usize {
        self.input_channels
    }

    pub fn parameter_count(&self) -> usize {
        self.root.parameter_count()
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor, EngineError> {
        self.root.forward(x)
    }
}
