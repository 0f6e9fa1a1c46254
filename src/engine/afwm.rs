//! AFWM, the appearance-flow warping module: two feature encoders (garment and person), two
//! feature pyramids and the cascaded flow network, coarse (1/32) to fine (1/2).

use candle_core::Tensor;

use super::ops::{
    apply_offset, correlation, correlation_leaky_relu, grid_sample, upsample_flow_x2,
    upsample_nearest_x2, Activation, Conv2d, ConvOptions, OpPath, Padding, CORRELATION_CHANNELS,
};
use super::params::Params;
use super::EngineError;

const FLOW_SLOPE: f32 = 0.1;

/// Pre-activation residual block: x + conv(relu(bn(conv(relu(bn(x)))))).
#[derive(Debug, Clone)]
struct ResBlock {
    conv1: Conv2d,
    conv2: Conv2d,
}

impl ResBlock {
    fn load(p: &Params, prefix: &str, channels: usize) -> Result<Self, EngineError> {
        let conv = |bn: usize, conv: usize| {
            p.pre_activated_conv(
                &format!("{prefix}.block.{bn}"),
                &format!("{prefix}.block.{conv}"),
                channels,
                ConvOptions::SAME,
            )
        };
        Ok(Self {
            conv1: conv(0, 2)?,
            conv2: conv(3, 5)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, EngineError> {
        let h = self.conv1.forward(x)?;
        Ok(self.conv2.forward_residual(&h, x)?)
    }
}

/// One encoder stage: [BN, ReLU, conv 3x3 stride 2] then two residual blocks.
#[derive(Debug, Clone)]
struct EncoderStage {
    down: Conv2d,
    blocks: [ResBlock; 2],
}

#[derive(Debug, Clone)]
struct FeatureEncoder {
    stages: Vec<EncoderStage>,
}

impl FeatureEncoder {
    fn load(p: &Params, prefix: &str, in_channels: usize) -> Result<Self, EngineError> {
        let mut stages = Vec::new();
        let mut channels = in_channels;
        let mut i = 0;
        while p.contains(&format!("{prefix}.encoders.{i}.0.block.2.weight")) {
            let s = format!("{prefix}.encoders.{i}");
            let down = p.pre_activated_conv(
                &format!("{s}.0.block.0"),
                &format!("{s}.0.block.2"),
                channels,
                ConvOptions::HALVE,
            )?;
            channels = down.out_channels();
            let blocks = [
                ResBlock::load(p, &format!("{s}.1"), channels)?,
                ResBlock::load(p, &format!("{s}.2"), channels)?,
            ];
            stages.push(EncoderStage { down, blocks });
            i += 1;
        }
        if stages.is_empty() {
            return Err(EngineError::Architecture(format!(
                "no encoder stages: `{prefix}.encoders.0.0.block.2.weight` is missing"
            )));
        }
        Ok(Self { stages })
    }

    fn widths(&self) -> Vec<usize> {
        self.stages.iter().map(|s| s.down.out_channels()).collect()
    }

    /// Features of every stage, finest first.
    fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>, EngineError> {
        let mut features = Vec::with_capacity(self.stages.len());
        let mut x = x.clone();
        for stage in &self.stages {
            x = stage.down.forward(&x)?;
            for block in &stage.blocks {
                x = block.forward(&x)?;
            }
            features.push(x.clone());
        }
        Ok(features)
    }
}

/// Feature pyramid: 1x1 "adaptive" convs to a common width, top-down nearest x2 and add,
/// then a 3x3 "smooth" conv per level.
#[derive(Debug, Clone)]
struct RefinePyramid {
    /// Coarsest level first, as the official modules are ordered.
    adaptive: Vec<Conv2d>,
    smooth: Vec<Conv2d>,
    path: OpPath,
}

impl RefinePyramid {
    fn load(p: &Params, prefix: &str, encoder_widths: &[usize]) -> Result<Self, EngineError> {
        let mut adaptive = Vec::new();
        let mut smooth = Vec::new();
        for (i, &width) in encoder_widths.iter().rev().enumerate() {
            let a = p.conv(
                &format!("{prefix}.adaptive.{i}"),
                Some(width),
                1,
                true,
                ConvOptions::POINTWISE,
            )?;
            let dim = a.out_channels();
            smooth.push(p.conv(
                &format!("{prefix}.smooth.{i}"),
                Some(dim),
                3,
                true,
                ConvOptions::SAME,
            )?);
            adaptive.push(a);
        }
        Ok(Self {
            adaptive,
            smooth,
            path: p.op_path(),
        })
    }

    fn dim(&self) -> usize {
        self.smooth[0].out_channels()
    }

    /// Pyramid levels, finest first.
    fn forward(&self, features: &[Tensor]) -> Result<Vec<Tensor>, EngineError> {
        let mut levels: Vec<Tensor> = Vec::with_capacity(features.len());
        let mut last: Option<Tensor> = None;
        for (i, feature) in features.iter().rev().enumerate() {
            let x = match &last {
                Some(l) => self.adaptive[i]
                    .forward_residual(feature, &upsample_nearest_x2(l, self.path)?)?,
                None => self.adaptive[i].forward(feature)?,
            };
            let x = self.smooth[i].forward(&x)?;
            last = Some(x.clone());
            levels.push(x);
        }
        levels.reverse();
        Ok(levels)
    }
}

/// Four 3x3 convs with leaky ReLU between: a per-pixel 2-D offset in pixels.
#[derive(Debug, Clone)]
struct FlowHead {
    convs: Vec<Conv2d>,
}

impl FlowHead {
    fn load(p: &Params, prefix: &str, in_channels: usize) -> Result<Self, EngineError> {
        let mut convs = Vec::with_capacity(4);
        let mut channels = in_channels;
        for index in [0, 2, 4, 6] {
            let c = p.conv(
                &format!("{prefix}.{index}"),
                Some(channels),
                3,
                true,
                ConvOptions::SAME,
            )?;
            channels = c.out_channels();
            // Leaky ReLU between the convs, none after the last.
            convs.push(if index < 6 {
                c.with_activation(Activation::LeakyRelu(FLOW_SLOPE))
            } else {
                c
            });
        }
        if channels != 2 {
            return Err(EngineError::Architecture(format!(
                "`{prefix}.6.weight` must output 2 channels (a flow), it has {channels}"
            )));
        }
        Ok(Self { convs })
    }

    fn widths(&self) -> Vec<usize> {
        self.convs.iter().map(|c| c.out_channels()).collect()
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, EngineError> {
        let mut x = x.clone();
        for conv in &self.convs {
            x = conv.forward(&x)?;
        }
        Ok(x)
    }
}

/// What one level of the cascade computed, for parity tests and debug views.
#[derive(Debug, Clone)]
pub struct FlowLevelTrace {
    /// Correlation before the leaky ReLU, (N, 49, h, w).
    pub correlation: Tensor,
    /// Grid after the main branch, composed with the previous level, (N, 2, h, w).
    pub flow_main: Tensor,
    /// Grid after the refine branch, before upsampling, (N, 2, h, w).
    pub flow_refine: Tensor,
}

/// Intermediates of one warp, coarse levels first for the flow, finest first for pyramids.
#[derive(Debug, Clone, Default)]
pub struct AfwmTrace {
    pub garment_pyramid: Vec<Tensor>,
    pub person_pyramid: Vec<Tensor>,
    pub levels: Vec<FlowLevelTrace>,
}

/// Widths of a loaded warp module, read from its weights.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AfwmWidths {
    pub person_channels: usize,
    pub encoder: Vec<usize>,
    pub pyramid: usize,
    pub flow_head: Vec<usize>,
}

/// The appearance-flow warping module.
#[derive(Debug, Clone)]
pub struct Afwm {
    garment_encoder: FeatureEncoder,
    person_encoder: FeatureEncoder,
    garment_pyramid: RefinePyramid,
    person_pyramid: RefinePyramid,
    main_heads: Vec<FlowHead>,
    refine_heads: Vec<FlowHead>,
    person_channels: usize,
    parameters: usize,
    /// Op path of the grid sampling and the correlation (the layers hold their own).
    path: OpPath,
}

impl Afwm {
    /// Builds the module from a state dict with the official key names.
    pub(crate) fn load(p: &Params) -> Result<Self, EngineError> {
        let garment_encoder = FeatureEncoder::load(p, "image_features", 3)?;
        let person_channels = p.vector_len("cond_features.encoders.0.0.block.0.weight")?;
        let person_encoder = FeatureEncoder::load(p, "cond_features", person_channels)?;
        if person_encoder.widths() != garment_encoder.widths() {
            return Err(EngineError::Architecture(format!(
                "garment encoder widths {:?} differ from person encoder widths {:?}",
                garment_encoder.widths(),
                person_encoder.widths()
            )));
        }
        let widths = garment_encoder.widths();
        let garment_pyramid = RefinePyramid::load(p, "image_FPN", &widths)?;
        let person_pyramid = RefinePyramid::load(p, "cond_FPN", &widths)?;
        let dim = garment_pyramid.dim();
        if person_pyramid.dim() != dim {
            return Err(EngineError::Architecture(
                "the two feature pyramids have different widths".into(),
            ));
        }
        let mut main_heads = Vec::new();
        let mut refine_heads = Vec::new();
        for i in 0..widths.len() {
            main_heads.push(FlowHead::load(
                p,
                &format!("aflow_net.netMain.{i}"),
                CORRELATION_CHANNELS,
            )?);
            refine_heads.push(FlowHead::load(
                p,
                &format!("aflow_net.netRefine.{i}"),
                2 * dim,
            )?);
        }
        let mut module = Self {
            garment_encoder,
            person_encoder,
            garment_pyramid,
            person_pyramid,
            main_heads,
            refine_heads,
            person_channels,
            parameters: 0,
            path: p.op_path(),
        };
        module.parameters = module.count_parameters();
        Ok(module)
    }

    fn count_parameters(&self) -> usize {
        let enc = |e: &FeatureEncoder| -> usize {
            e.stages
                .iter()
                .map(|s| {
                    s.down.parameter_count()
                        + s.blocks
                            .iter()
                            .map(|b| b.conv1.parameter_count() + b.conv2.parameter_count())
                            .sum::<usize>()
                })
                .sum()
        };
        let fpn = |f: &RefinePyramid| -> usize {
            f.adaptive
                .iter()
                .chain(&f.smooth)
                .map(Conv2d::parameter_count)
                .sum()
        };
        let heads = |h: &[FlowHead]| -> usize {
            h.iter()
                .flat_map(|h| &h.convs)
                .map(Conv2d::parameter_count)
                .sum()
        };
        enc(&self.garment_encoder)
            + enc(&self.person_encoder)
            + fpn(&self.garment_pyramid)
            + fpn(&self.person_pyramid)
            + heads(&self.main_heads)
            + heads(&self.refine_heads)
    }

    /// Parameters used at inference (BatchNorm counted as its scale and shift).
    pub fn parameter_count(&self) -> usize {
        self.parameters
    }

    pub fn widths(&self) -> AfwmWidths {
        AfwmWidths {
            person_channels: self.person_channels,
            encoder: self.garment_encoder.widths(),
            pyramid: self.garment_pyramid.dim(),
            flow_head: self.main_heads[0].widths(),
        }
    }

    /// Number of pyramid levels; inputs must be divisible by 2^levels.
    pub fn levels(&self) -> usize {
        self.main_heads.len()
    }

    /// Warps `garment` (N, 3, H, W) onto `person` (N, C, H, W). Returns the warped garment and
    /// the sampling grid (N, 2, H, W) in [-1, 1] (x first).
    pub fn forward(
        &self,
        person: &Tensor,
        garment: &Tensor,
        mut trace: Option<&mut AfwmTrace>,
    ) -> Result<(Tensor, Tensor), EngineError> {
        let path = self.path;
        let person_levels = self
            .person_pyramid
            .forward(&self.person_encoder.forward(person)?)?;
        let garment_levels = self
            .garment_pyramid
            .forward(&self.garment_encoder.forward(garment)?)?;

        let count = garment_levels.len();
        let mut last_flow: Option<Tensor> = None;
        for i in 0..count {
            let garment_features = &garment_levels[count - 1 - i];
            let person_features = &person_levels[count - 1 - i];

            let warped_features = match &last_flow {
                Some(flow) => {
                    grid_sample(garment_features, &to_grid(flow)?, Padding::Border, path)?
                }
                None => garment_features.clone(),
            };
            // The trace keeps the correlation before the activation; otherwise the kernel
            // applies it.
            let (corr, corr_activated) = if trace.is_some() {
                let corr = correlation(&warped_features, person_features, path)?;
                let activated = corr.maximum(&corr.affine(FLOW_SLOPE as f64, 0.0)?)?;
                (Some(corr), activated)
            } else {
                let activated =
                    correlation_leaky_relu(&warped_features, person_features, FLOW_SLOPE, path)?;
                (None, activated)
            };
            let offset = self.main_heads[i].forward(&corr_activated)?;
            let grid = apply_offset(&offset, path)?;
            let flow_main = match &last_flow {
                Some(flow) => grid_sample(flow, &grid, Padding::Border, path)?,
                None => grid.permute((0, 3, 1, 2))?.contiguous()?,
            };

            let warped_features = grid_sample(
                garment_features,
                &to_grid(&flow_main)?,
                Padding::Border,
                path,
            )?;
            let joined = Tensor::cat(&[&warped_features, person_features], 1)?;
            let offset = self.refine_heads[i].forward(&joined)?;
            let grid = apply_offset(&offset, path)?;
            let flow_refine = grid_sample(&flow_main, &grid, Padding::Border, path)?;

            if let (Some(t), Some(corr)) = (trace.as_deref_mut(), corr) {
                t.levels.push(FlowLevelTrace {
                    correlation: corr,
                    flow_main: flow_main.clone(),
                    flow_refine: flow_refine.clone(),
                });
            }
            last_flow = Some(upsample_flow_x2(&flow_refine, path)?);
        }
        if let Some(t) = trace {
            t.garment_pyramid = garment_levels;
            t.person_pyramid = person_levels;
        }
        let flow = last_flow.ok_or_else(|| EngineError::Architecture("no flow levels".into()))?;
        let warped = grid_sample(garment, &to_grid(&flow)?, Padding::Border, path)?;
        Ok((warped, flow))
    }
}

/// (N, 2, H, W) flow to the (N, H, W, 2) grid layout grid_sample takes.
pub(crate) fn to_grid(flow: &Tensor) -> candle_core::Result<Tensor> {
    flow.permute((0, 2, 3, 1))?.contiguous()
}
