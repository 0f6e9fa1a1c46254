//! The PF-AFN student network: warp module (AFWM) and try-on generator, pure tensor code.
//!
//! Tensors in, tensors out: nothing here reads files or images. Inputs are normalised to
//! [-1, 1] (images) and {0, 1} (the garment mask), NCHW, height and width divisible by 32
//! (the official model runs at 256x192).

mod afwm;
mod device;
mod generator;
pub mod ops;
mod params;

use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};

pub use afwm::{Afwm, AfwmTrace, AfwmWidths, FlowLevelTrace};
pub use device::{select_device, select_device_or_cpu, usable_devices, DeviceChoice};
pub use generator::{GeneratorWidths, ResUnetGenerator};
pub use ops::OpPath;

use crate::weights::{StateDict, WeightsError};
use ops::{composite, grid_sample, Composite, Padding};
use params::Params;

/// The network's native input size (height, width).
pub const NATIVE_SIZE: (usize, usize) = (256, 192);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error("the weights do not describe a PF-AFN network: {0}")]
    Architecture(String),
    #[error("invalid input `{name}`: {reason}")]
    Input { name: &'static str, reason: String },
    #[error("device {device} is not available: {reason}")]
    Device { device: String, reason: String },
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// How the warp module reads a person and a garment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum WarpPasses {
    /// Once, as the official test path does.
    #[default]
    Once,
    /// Also mirrored left to right, in the same batch, and the two appearance flows averaged
    /// (the mirrored one mirrored back). On photos unlike VITON's the compact warp module can
    /// fail in a way its mirror image does not (a garment tilted across the body, its hem
    /// pointed), and the average holds the garment on the body; the warp module's time about
    /// doubles.
    Mirrored,
}

option_enum!(
    WarpPasses,
    WarpPassesSyntax,
    "warp",
    Once = "once",
    Mirrored = "mirrored"
);

/// Everything one try-on produces, as (1, C, H, W) f32 tensors on the engine's device.
#[derive(Debug, Clone)]
pub struct TryOn {
    /// The garment warped onto the person, [-1, 1].
    pub warped_cloth: Tensor,
    /// The sampling grid (x, y) in [-1, 1], (N, 2, H, W): absolute, not a displacement.
    pub last_flow: Tensor,
    /// The garment mask warped the same way, [0, 1].
    pub warped_edge: Tensor,
    /// The generator's rendered person, [-1, 1].
    pub p_rendered: Tensor,
    /// Where the warped garment is pasted, [0, 1].
    pub m_composite: Tensor,
    /// The try-on result, [-1, 1].
    pub p_tryon: Tensor,
}

impl TryOn {
    /// The named outputs, in the order of the `--dump` contract.
    pub fn named(&self) -> [(&'static str, &Tensor); 6] {
        [
            ("warped_cloth", &self.warped_cloth),
            ("last_flow", &self.last_flow),
            ("warped_edge", &self.warped_edge),
            ("p_rendered", &self.p_rendered),
            ("m_composite", &self.m_composite),
            ("p_tryon", &self.p_tryon),
        ]
    }
}

/// Wall time of each stage of one try-on.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StageTimes {
    pub warp: Duration,
    pub mask_warp: Duration,
    pub generator: Duration,
    pub composite: Duration,
}

/// Widths and sizes of a loaded model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub warp: AfwmWidths,
    pub generator: GeneratorWidths,
    pub warp_parameters: usize,
    pub generator_parameters: usize,
}

/// A loaded PF-AFN student on one device.
#[derive(Debug, Clone)]
pub struct Engine {
    device: Device,
    warp: Afwm,
    generator: ResUnetGenerator,
    path: OpPath,
}

impl Engine {
    /// Builds the network from the warp module's and the generator's state dicts (official key
    /// names; any widths) on `device`, every op running through `path` (tests use
    /// `OpPath::Tensor` to check the GPU path on the CPU). Keys the network does not use are
    /// ignored.
    pub fn from_state_dicts(
        warp: &StateDict,
        generator: &StateDict,
        device: &Device,
        path: OpPath,
    ) -> Result<Self, EngineError> {
        if device.is_cpu() {
            ops::cpu::keep_freed_memory();
        }
        let warp = Afwm::load(&Params::new(warp, device, path))?;
        let generator = ResUnetGenerator::load(&Params::new(generator, device, path))?;
        let expected = warp.widths().person_channels + 3 + 1;
        if generator.input_channels() != expected {
            return Err(EngineError::Architecture(format!(
                "the generator takes {} input channels; person, warped garment and mask make {expected}",
                generator.input_channels()
            )));
        }
        if generator.widths().output_channels != 4 {
            return Err(EngineError::Architecture(format!(
                "the generator outputs {} channels, expected 4 (image and mask)",
                generator.widths().output_channels
            )));
        }
        Ok(Self {
            device: device.clone(),
            warp,
            generator,
            path,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            warp: self.warp.widths(),
            generator: self.generator.widths(),
            warp_parameters: self.warp.parameter_count(),
            generator_parameters: self.generator.parameter_count(),
        }
    }

    /// One try-on. `person` and `garment` are (1, 3, H, W) in [-1, 1], `mask` (1, 1, H, W) in
    /// [0, 1] (binarised at 0.5 here, as the official test path does).
    pub fn tryon(
        &self,
        person: &Tensor,
        garment: &Tensor,
        mask: &Tensor,
    ) -> Result<TryOn, EngineError> {
        self.run(person, garment, mask, WarpPasses::Once, None, None)
    }

    /// [`Engine::tryon`] with the warp module run as `passes` says.
    pub fn tryon_with(
        &self,
        person: &Tensor,
        garment: &Tensor,
        mask: &Tensor,
        passes: WarpPasses,
    ) -> Result<TryOn, EngineError> {
        self.run(person, garment, mask, passes, None, None)
    }

    /// A try-on that also returns the warp module's intermediates.
    pub fn tryon_traced(
        &self,
        person: &Tensor,
        garment: &Tensor,
        mask: &Tensor,
    ) -> Result<(TryOn, AfwmTrace), EngineError> {
        let mut trace = AfwmTrace::default();
        let out = self.run(
            person,
            garment,
            mask,
            WarpPasses::Once,
            Some(&mut trace),
            None,
        )?;
        Ok((out, trace))
    }

    /// A try-on that also returns the time of each stage (synchronising the device between
    /// stages, so the stages add up to the whole).
    pub fn tryon_timed(
        &self,
        person: &Tensor,
        garment: &Tensor,
        mask: &Tensor,
        passes: WarpPasses,
    ) -> Result<(TryOn, StageTimes), EngineError> {
        let mut times = StageTimes::default();
        let out = self.run(person, garment, mask, passes, None, Some(&mut times))?;
        Ok((out, times))
    }

    fn check_input(
        &self,
        name: &'static str,
        t: &Tensor,
        channels: usize,
    ) -> Result<(), EngineError> {
        let dims = t.dims();
        let levels = self
            .warp
            .levels()
            .max(self.generator.widths().downsamplings);
        let multiple = 1usize << levels;
        let ok = dims.len() == 4
            && dims[1] == channels
            && dims[2] > 0
            && dims[3] > 0
            && dims[2].is_multiple_of(multiple)
            && dims[3].is_multiple_of(multiple);
        if !ok {
            return Err(EngineError::Input {
                name,
                reason: format!(
                    "shape {dims:?}; expected (N, {channels}, H, W) with H and W multiples of {multiple}"
                ),
            });
        }
        if t.dtype() != DType::F32 {
            return Err(EngineError::Input {
                name,
                reason: format!("dtype {:?}; expected f32", t.dtype()),
            });
        }
        Ok(())
    }

    /// The try-on on one of rayon's worker threads: the ops' parallel loops then start from a
    /// worker, which shares them with the others directly, instead of each loop waking the pool
    /// from outside and sleeping until it is done (hundreds of hand-overs per try-on).
    fn run(
        &self,
        person: &Tensor,
        garment: &Tensor,
        mask: &Tensor,
        passes: WarpPasses,
        trace: Option<&mut AfwmTrace>,
        times: Option<&mut StageTimes>,
    ) -> Result<TryOn, EngineError> {
        rayon::scope(|_| self.run_here(person, garment, mask, passes, trace, times))
    }

    fn run_here(
        &self,
        person: &Tensor,
        garment: &Tensor,
        mask: &Tensor,
        passes: WarpPasses,
        trace: Option<&mut AfwmTrace>,
        mut times: Option<&mut StageTimes>,
    ) -> Result<TryOn, EngineError> {
        self.check_input("person", person, self.warp.widths().person_channels)?;
        self.check_input("garment", garment, 3)?;
        self.check_input("mask", mask, 1)?;
        if person.dims()[0] != garment.dims()[0]
            || person.dims()[2..] != garment.dims()[2..]
            || mask.dims()[0] != garment.dims()[0]
            || mask.dims()[2..] != garment.dims()[2..]
        {
            return Err(EngineError::Input {
                name: "garment",
                reason: format!(
                    "person {:?}, garment {:?} and mask {:?} must have the same batch and size",
                    person.dims(),
                    garment.dims(),
                    mask.dims()
                ),
            });
        }
        let person = person.to_device(&self.device)?;
        let garment = garment.to_device(&self.device)?;
        let edge = mask
            .to_device(&self.device)?
            .gt(0.5)?
            .to_dtype(DType::F32)?;
        let mut clock = Stopwatch::new(&self.device, times.is_some());

        let clothes = garment.broadcast_mul(&edge)?;
        let (warped_cloth, last_flow) = match passes {
            WarpPasses::Once => self.warp.forward(&person, &clothes, trace)?,
            WarpPasses::Mirrored => self.warp_both_ways(&person, &clothes)?,
        };
        clock.lap(&mut times, |t| &mut t.warp)?;

        let warped_edge = grid_sample(
            &edge,
            &afwm::to_grid(&last_flow)?,
            Padding::Zeros,
            self.path,
        )?;
        clock.lap(&mut times, |t| &mut t.mask_warp)?;

        let gen_input = Tensor::cat(&[&person, &warped_cloth, &warped_edge], 1)?;
        let out = self.generator.forward(&gen_input)?;
        clock.lap(&mut times, |t| &mut t.generator)?;

        let Composite {
            p_rendered,
            m_composite,
            p_tryon,
        } = composite(&out, &warped_cloth, &warped_edge, self.path)?;
        clock.lap(&mut times, |t| &mut t.composite)?;

        Ok(TryOn {
            warped_cloth,
            last_flow,
            warped_edge,
            p_rendered,
            m_composite,
            p_tryon,
        })
    }

    /// The warp module on the inputs and on their mirror images in one batch, the second flow
    /// mirrored back (its x read from the other side, pointing the other way) and averaged with
    /// the first; the garment warped by the average ([`WarpPasses::Mirrored`]).
    fn warp_both_ways(
        &self,
        person: &Tensor,
        clothes: &Tensor,
    ) -> Result<(Tensor, Tensor), EngineError> {
        let n = person.dims()[0];
        let both = |t: &Tensor| Tensor::cat(&[t, &mirrored(t)?], 0);
        let (_, flows) = self.warp.forward(&both(person)?, &both(clothes)?, None)?;
        let back = mirrored(&flows.narrow(0, n, n)?)?;
        let back = Tensor::cat(&[&back.narrow(1, 0, 1)?.neg()?, &back.narrow(1, 1, 1)?], 1)?;
        let flow = ((flows.narrow(0, 0, n)? + back)? * 0.5)?;
        let warped = grid_sample(clothes, &afwm::to_grid(&flow)?, Padding::Border, self.path)?;
        Ok((warped, flow))
    }
}

/// `t` (N, C, H, W) mirrored left to right.
fn mirrored(t: &Tensor) -> candle_core::Result<Tensor> {
    let w = t.dims()[3];
    let reversed = Tensor::from_vec((0..w as u32).rev().collect::<Vec<u32>>(), w, t.device())?;
    t.index_select(&reversed, 3)
}

/// Measures stages; a no-op unless asked, so normal try-ons never wait on the device.
struct Stopwatch<'a> {
    device: &'a Device,
    enabled: bool,
    start: Instant,
}

impl<'a> Stopwatch<'a> {
    fn new(device: &'a Device, enabled: bool) -> Self {
        Self {
            device,
            enabled,
            start: Instant::now(),
        }
    }

    fn lap(
        &mut self,
        times: &mut Option<&mut StageTimes>,
        slot: impl FnOnce(&mut StageTimes) -> &mut Duration,
    ) -> Result<(), EngineError> {
        if self.enabled {
            self.device.synchronize()?;
            if let Some(t) = times.as_deref_mut() {
                *slot(t) = self.start.elapsed();
            }
            self.start = Instant::now();
        }
        Ok(())
    }
}
