//! The flow as data: an absolute sampling grid, and the motion it encodes.

use candle_core::{DType, Device, Tensor};

use super::{FlowViewError, INVALID_FLOW};
use crate::pipeline::{grid_to_motion, motion_scale};

/// The appearance flow: for each output pixel, where the garment is sampled, as an absolute grid
/// in [-1, 1] (x, y), align_corners=True, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowField {
    pub width: usize,
    pub height: usize,
    pub grid: Vec<[f32; 2]>,
}

impl FlowField {
    pub fn new(width: usize, height: usize, grid: Vec<[f32; 2]>) -> Result<Self, FlowViewError> {
        let field = Self {
            width,
            height,
            grid,
        };
        field.check()?;
        Ok(field)
    }

    /// From the network's `last_flow`: (1, 2, H, W) or (2, H, W), channel 0 x and 1 y.
    pub fn from_tensor(flow: &Tensor) -> Result<Self, FlowViewError> {
        let dims = flow.dims();
        let (height, width) = match *dims {
            [1, 2, h, w] | [2, h, w] => (h, w),
            _ => return Err(FlowViewError::Shape(dims.to_vec())),
        };
        let data = flow
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let plane = width * height;
        let grid = (0..plane).map(|i| [data[i], data[plane + i]]).collect();
        Self::new(width, height, grid)
    }

    /// A flow that moves each pixel by `motion(x, y)` pixels (the garment pixel drawn at (x, y)
    /// comes from (x, y) + motion).
    pub fn from_motion(
        width: usize,
        height: usize,
        motion: impl Fn(usize, usize) -> [f32; 2],
    ) -> Result<Self, FlowViewError> {
        let [hx, hy] = half_extent(width, height);
        let grid = (0..width * height)
            .map(|i| {
                let (x, y) = (i % width, i / width);
                let [dx, dy] = motion(x, y);
                [(x as f32 + dx) / hx - 1.0, (y as f32 + dy) / hy - 1.0]
            })
            .collect();
        Self::new(width, height, grid)
    }

    /// No motion anywhere.
    pub fn identity(width: usize, height: usize) -> Result<Self, FlowViewError> {
        Self::from_motion(width, height, |_, _| [0.0, 0.0])
    }

    /// Whether the fields agree with each other (they are public, so anyone can break them).
    pub fn check(&self) -> Result<(), FlowViewError> {
        let expected = self.width.saturating_mul(self.height);
        if self.width == 0 || self.height == 0 || self.grid.len() != expected {
            return Err(FlowViewError::Size {
                width: self.width,
                height: self.height,
                expected,
                got: self.grid.len(),
            });
        }
        Ok(())
    }

    /// Motion (dx, dy) in pixels at pixel (x, y): the grid minus the identity. `None` outside
    /// the field or at a hole.
    pub fn motion_at(&self, x: usize, y: usize) -> Option<[f32; 2]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let g = *self.grid.get(y * self.width + x)?;
        if !is_valid(g) {
            return None;
        }
        Some(grid_to_motion(g, x, y, self.width, self.height))
    }

    /// The largest motion in pixels (ignoring holes), floored as `pipeline::flow_to_color`
    /// floors it ([`motion_scale`]): the colour wheel's full saturation and the arrows' full
    /// length.
    pub fn motion_scale(&self) -> f32 {
        if self.check().is_err() {
            return motion_scale(None, 0.0);
        }
        let largest = (0..self.height)
            .flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter_map(|(x, y)| self.motion_at(x, y))
            .map(|[dx, dy]| (dx * dx + dy * dy).sqrt())
            .filter(|m| m.is_finite())
            .fold(0.0, f32::max);
        motion_scale(None, largest)
    }
}

pub(super) fn half_extent(width: usize, height: usize) -> [f32; 2] {
    [
        (width.max(2) - 1) as f32 * 0.5,
        (height.max(2) - 1) as f32 * 0.5,
    ]
}

pub(super) fn is_valid(g: [f32; 2]) -> bool {
    g[0].abs() < INVALID_FLOW && g[1].abs() < INVALID_FLOW
}
