//! Overlays of the appearance flow on the try-on result: a colour wheel, arrows on a lattice, and
//! the garment's regular grid drawn where it lands on the person.
//!
//! - [`field`]: the flow as data ([`FlowField`]);
//! - [`palette`]: the colour wheel (the pipeline's) and its legend;
//! - [`raster`]: the CPU mirror of the shader;
//! - [`gpu`]: the wgpu renderer of `shaders/flow_view.wgsl`;
//! - [`widget`]: drawing in egui by either path, and the legend.
//!
//! With the wgpu renderer the overlays are drawn by the shader in an egui paint callback (the
//! flow is uploaded once per flow id). Otherwise [`render_flow_overlay_cpu`] computes the same
//! picture on the CPU and it is drawn as a texture.
//!
//! Start-up: [`install`] (or [`register`] plus [`set_render_path`]). Each frame: draw the result
//! image, then [`paint_flow_overlay`] over the same rect.

mod field;
mod gpu;
mod palette;
mod raster;
mod widget;

use std::sync::Arc;

use eframe::egui::ColorImage;

pub use field::FlowField;
pub use gpu::{register, register_with_target, FlowViewRenderer, FlowViewTarget};
pub use widget::{
    flow_legend, install, install_with_target, paint_flow_overlay, paint_flow_overlay_with,
    render_path, set_render_path, FlowRenderPath,
};

use raster::render_image;

/// The overlay shader, WGSL.
pub const FLOW_VIEW_SHADER: &str = include_str!("../../../shaders/flow_view.wgsl");

/// Lattice spacing in flow pixels: an arrow, and a grid line, every 12 pixels of the 192x256
/// result.
pub const DEFAULT_LATTICE_SPACING: f32 = 12.0;

/// Values this large (and non-finite ones) are holes in the flow; the shader has it too.
const INVALID_FLOW: f32 = 1e20;
/// What non-finite values are uploaded as: the shader cannot test for NaN reliably.
const INVALID_UPLOAD: f32 = 1e30;
// Drawing constants; the shader has the same values (checked by a test below).
const LINE_HALF_WIDTH: f32 = 0.75;
const OUTLINE_WIDTH: f32 = 1.0;
const OUTLINE_ALPHA: f32 = 0.7;
const ARROW_FRACTION: f32 = 0.9;
const ARROW_HEAD_MAX: f32 = 7.0;
const ARROW_HEAD_FRACTION: f32 = 0.45;
const ARROW_MIN_LENGTH: f32 = 1.5;
/// cos and sin of the arrow head's half angle, 28 degrees.
const HEAD_COS: f32 = 0.882_947_56;
const HEAD_SIN: f32 = 0.469_471_56;
const GRID_COLOR: [f32; 3] = [1.0, 0.85, 0.2];

/// Longest side of a CPU-rendered overlay texture, in pixels.
const MAX_CPU_SIDE: f32 = 2048.0;
/// Flow textures kept on the GPU (results the user flips between).
const MAX_CACHED_FLOWS: usize = 8;
/// CPU overlay textures kept.
const MAX_CACHED_CPU_OVERLAYS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum FlowViewError {
    #[error("a flow must have shape (1, 2, H, W) or (2, H, W); got {0:?}")]
    Shape(Vec<usize>),
    #[error("a {width}x{height} flow needs {expected} grid points; got {got}")]
    Size {
        width: usize,
        height: usize,
        expected: usize,
        got: usize,
    },
    #[error("could not read the flow tensor: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("the GPU could not set up the flow view: {0}")]
    Gpu(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FlowViewMode {
    /// Hue = direction, saturation = distance, white = no motion (`wheel_color`'s convention).
    #[default]
    ColorWheel,
    /// An arrow per lattice point, along the motion, full length at the largest motion.
    Arrows,
    /// The garment's regular grid, drawn where it lands on the person.
    DeformedGrid,
}

impl FlowViewMode {
    pub const ALL: [FlowViewMode; 3] = [
        FlowViewMode::ColorWheel,
        FlowViewMode::Arrows,
        FlowViewMode::DeformedGrid,
    ];

    pub fn label(self) -> &'static str {
        match self {
            FlowViewMode::ColorWheel => "Colour wheel",
            FlowViewMode::Arrows => "Arrows",
            FlowViewMode::DeformedGrid => "Deformed grid",
        }
    }

    fn shader_index(self) -> u32 {
        match self {
            FlowViewMode::ColorWheel => 0,
            FlowViewMode::Arrows => 1,
            FlowViewMode::DeformedGrid => 2,
        }
    }
}

/// One overlay to draw over a result image.
#[derive(Debug, Clone)]
pub struct FlowOverlay {
    pub flow: Arc<FlowField>,
    /// Identifies this flow's contents: give each new result a new id (the GPU copy of the flow
    /// is keyed by it and uploaded again only when it changes).
    pub flow_id: u64,
    pub mode: FlowViewMode,
    /// 0 (invisible) to 1.
    pub opacity: f32,
    /// Motion in pixels drawn at full saturation / full arrow length; `None`: the flow's own
    /// [`FlowField::motion_scale`]. Fix it to compare results on one scale.
    pub max_motion: Option<f32>,
    /// Lattice spacing in flow pixels.
    pub spacing: f32,
}

impl FlowOverlay {
    pub fn new(flow: Arc<FlowField>, flow_id: u64, mode: FlowViewMode, opacity: f32) -> Self {
        Self {
            flow,
            flow_id,
            mode,
            opacity,
            max_motion: None,
            spacing: DEFAULT_LATTICE_SPACING,
        }
    }

    /// The overlay as a premultiplied image of `size` pixels, lines drawn for a screen with
    /// `pixels_per_point`. Transparent when the flow is malformed.
    pub fn render_cpu(&self, size: [usize; 2], pixels_per_point: f32) -> ColorImage {
        let style = OverlayStyle {
            mode: self.mode,
            opacity: clean_opacity(self.opacity),
            spacing: clean_spacing(self.spacing),
            pixels_per_point: clean_pixels_per_point(pixels_per_point),
        };
        render_image(&self.flow, style, self.max_motion, size)
    }
}

/// The overlay for `flow` as a premultiplied RGBA image of `size` = [width, height] pixels
/// stretched over the whole flow, with the default spacing and scale; the same maths as the
/// shader. Transparent when the flow is malformed.
pub fn render_flow_overlay_cpu(
    flow: &FlowField,
    mode: FlowViewMode,
    opacity: f32,
    size: [usize; 2],
) -> ColorImage {
    let style = OverlayStyle {
        mode,
        opacity: clean_opacity(opacity),
        spacing: DEFAULT_LATTICE_SPACING,
        pixels_per_point: 1.0,
    };
    render_image(flow, style, None, size)
}

fn clean_opacity(opacity: f32) -> f32 {
    if opacity.is_finite() {
        opacity.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

fn clean_spacing(spacing: f32) -> f32 {
    if spacing.is_finite() && spacing >= 2.0 {
        spacing
    } else {
        DEFAULT_LATTICE_SPACING
    }
}

fn clean_pixels_per_point(ppp: f32) -> f32 {
    if ppp.is_finite() && ppp > 0.0 {
        ppp
    } else {
        1.0
    }
}

/// The motion of full saturation: `max_motion` when given, else the flow's own scale.
fn clean_scale(max_motion: Option<f32>, flow_scale: impl FnOnce() -> f32) -> f32 {
    match max_motion {
        Some(s) if s.is_finite() && s > 0.0 => crate::pipeline::motion_scale(Some(s), 0.0),
        _ => flow_scale(),
    }
}

#[derive(Debug, Clone, Copy)]
struct OverlayStyle {
    mode: FlowViewMode,
    opacity: f32,
    spacing: f32,
    pixels_per_point: f32,
}

#[cfg(test)]
mod tests {
    use super::gpu::PARAMS_SIZE;
    use super::palette::{hue_color, wheel_rgb};
    use super::raster::v2;
    use super::*;

    #[test]
    fn params_match_the_shader_layout() {
        // 12 four-byte fields; the shader's struct is 48 bytes with 8-byte alignment.
        assert_eq!(PARAMS_SIZE, 48);
    }

    #[test]
    fn hue_follows_the_angle() {
        assert_eq!(hue_color(v2(1.0, 0.0)), [1.0, 0.0, 0.0]);
        assert_eq!(wheel_rgb(v2(0.0, 0.0), 1.0), [1.0; 3]);
        let [r, g, b] = hue_color(v2(0.0, 1.0));
        assert!((r - 0.5).abs() < 1e-5 && g == 1.0 && b == 0.0);
    }

    /// The value of `const NAME: TYPE = VALUE;` in the shader, as numbers.
    fn wgsl_const(name: &str) -> Vec<f32> {
        let line = FLOW_VIEW_SHADER
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("const {name}:")))
            .unwrap_or_else(|| panic!("the shader has no const {name}"));
        let value = line
            .split('=')
            .nth(1)
            .expect("a value")
            .trim_end_matches(';');
        let inner = value
            .find('(')
            .map(|i| &value[i + 1..value.rfind(')').unwrap_or(value.len())])
            .unwrap_or(value);
        inner
            .split(',')
            .map(|v| {
                v.trim()
                    .trim_end_matches('u')
                    .parse::<f32>()
                    .unwrap_or_else(|e| panic!("{name}: `{v}`: {e}"))
            })
            .collect()
    }

    #[test]
    fn the_shader_constants_are_the_rust_constants() {
        let scalars = [
            ("INVALID_FLOW", INVALID_FLOW),
            ("LINE_HALF_WIDTH", LINE_HALF_WIDTH),
            ("OUTLINE_WIDTH", OUTLINE_WIDTH),
            ("OUTLINE_ALPHA", OUTLINE_ALPHA),
            ("ARROW_FRACTION", ARROW_FRACTION),
            ("ARROW_HEAD_MAX", ARROW_HEAD_MAX),
            ("ARROW_HEAD_FRACTION", ARROW_HEAD_FRACTION),
            ("ARROW_MIN_LENGTH", ARROW_MIN_LENGTH),
            ("HEAD_COS", HEAD_COS),
            ("HEAD_SIN", HEAD_SIN),
        ];
        for (name, value) in scalars {
            assert_eq!(wgsl_const(name), vec![value], "{name}");
        }
        assert_eq!(wgsl_const("GRID_COLOR"), GRID_COLOR.to_vec());
        for mode in FlowViewMode::ALL {
            let name = match mode {
                FlowViewMode::ColorWheel => "MODE_WHEEL",
                FlowViewMode::Arrows => "MODE_ARROWS",
                FlowViewMode::DeformedGrid => "MODE_GRID",
            };
            assert_eq!(wgsl_const(name), vec![mode.shader_index() as f32], "{name}");
        }
    }
}
