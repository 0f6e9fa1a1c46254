//! Overlays of the appearance flow on the try-on result: a colour wheel, arrows on a lattice, and
//! the garment's regular grid drawn where it lands on the person.
//!
//! With the wgpu renderer the overlays are drawn by `shaders/flow_view.wgsl` in an egui paint
//! callback (the flow is uploaded once per flow id as an `Rg32Float` texture). Otherwise
//! [`render_flow_overlay_cpu`] computes the same picture on the CPU and it is drawn as a texture.
//! The CPU code mirrors the shader step by step and is the reference the GPU tests compare with.
//!
//! Start-up: [`install`] (or [`register`] plus [`set_render_path`]). Each frame: draw the result
//! image, then [`paint_flow_overlay`] over the same rect.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::ops::{Add, Div, Mul, Neg, Sub};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use eframe::egui::{self, Color32, ColorImage, Rect, TextureHandle, TextureOptions};
use eframe::egui_wgpu::{self, wgpu};
use rayon::prelude::*;

/// The overlay shader, WGSL.
pub const FLOW_VIEW_SHADER: &str = include_str!("../../shaders/flow_view.wgsl");

/// Lattice spacing in flow pixels: an arrow, and a grid line, every 12 pixels of the 192x256
/// result.
pub const DEFAULT_LATTICE_SPACING: f32 = 12.0;

/// Values this large (and non-finite ones) are holes in the flow. Must match `INVALID_FLOW`.
const INVALID_FLOW: f32 = 1e20;
/// What non-finite values are uploaded as: the shader cannot test for NaN reliably.
const INVALID_UPLOAD: f32 = 1e30;
/// The smallest full-saturation motion a caller may ask for.
const MIN_SCALE: f32 = 1e-3;
/// The smallest automatic one: a flow that moves nothing still has float noise of ~1e-5 px,
/// which stretched to full saturation would paint noise; below half a pixel is no motion.
const MIN_AUTO_SCALE: f32 = 0.5;

// Drawing constants; the shader has the same values.
const LINE_HALF_WIDTH: f32 = 0.75;
const OUTLINE_WIDTH: f32 = 1.0;
const OUTLINE_ALPHA: f32 = 0.7;
const ARROW_FRACTION: f32 = 0.9;
const ARROW_HEAD_MAX: f32 = 7.0;
const ARROW_HEAD_FRACTION: f32 = 0.45;
const ARROW_MIN_LENGTH: f32 = 1.5;
const HEAD_COS: f32 = 0.882_947_6;
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
        let [hx, hy] = half_extent(self.width, self.height);
        Some([(g[0] + 1.0) * hx - x as f32, (g[1] + 1.0) * hy - y as f32])
    }

    /// The largest motion in pixels (ignoring holes), at least half a pixel: the colour wheel's
    /// full saturation and the arrows' full length. (`flow_to_color` floors at 0.001 px instead,
    /// which turns the float noise of a still flow into colour.)
    pub fn motion_scale(&self) -> f32 {
        if self.check().is_err() {
            return MIN_AUTO_SCALE;
        }
        (0..self.height)
            .flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter_map(|(x, y)| self.motion_at(x, y))
            .map(|[dx, dy]| (dx * dx + dy * dy).sqrt())
            .filter(|m| m.is_finite())
            .fold(0.0, f32::max)
            .max(MIN_AUTO_SCALE)
    }
}

fn half_extent(width: usize, height: usize) -> [f32; 2] {
    [
        (width.max(2) - 1) as f32 * 0.5,
        (height.max(2) - 1) as f32 * 0.5,
    ]
}

fn is_valid(g: [f32; 2]) -> bool {
    g[0].abs() < INVALID_FLOW && g[1].abs() < INVALID_FLOW
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

fn clean_scale(max_motion: Option<f32>, flow_scale: impl FnOnce() -> f32) -> f32 {
    match max_motion {
        Some(s) if s.is_finite() && s > 0.0 => s.max(MIN_SCALE),
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

// ---------------------------------------------------------------------------------------------
// The CPU mirror of the shader. Each function has the shader function of the same name.

#[derive(Debug, Clone, Copy, PartialEq)]
struct V2 {
    x: f32,
    y: f32,
}

const fn v2(x: f32, y: f32) -> V2 {
    V2 { x, y }
}

impl V2 {
    fn splat(v: f32) -> Self {
        v2(v, v)
    }
    fn map(self, f: impl Fn(f32) -> f32) -> Self {
        v2(f(self.x), f(self.y))
    }
    fn zip(self, o: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        v2(f(self.x, o.x), f(self.y, o.y))
    }
    fn dot(self, o: Self) -> f32 {
        self.x * o.x + self.y * o.y
    }
    fn length(self) -> f32 {
        self.dot(self).sqrt()
    }
    // WGSL min/max/clamp, written out so NaN behaves alike on both sides.
    fn min(self, o: Self) -> Self {
        self.zip(o, |a, b| if b < a { b } else { a })
    }
    fn max(self, o: Self) -> Self {
        self.zip(o, |a, b| if b > a { b } else { a })
    }
    fn clamp(self, lo: Self, hi: Self) -> Self {
        self.max(lo).min(hi)
    }
    fn floor(self) -> Self {
        self.map(f32::floor)
    }
    fn any_lt(self, o: Self) -> bool {
        self.x < o.x || self.y < o.y
    }
    fn any_ge(self, o: Self) -> bool {
        self.x >= o.x || self.y >= o.y
    }
}

impl Add for V2 {
    type Output = V2;
    fn add(self, o: V2) -> V2 {
        v2(self.x + o.x, self.y + o.y)
    }
}
impl Sub for V2 {
    type Output = V2;
    fn sub(self, o: V2) -> V2 {
        v2(self.x - o.x, self.y - o.y)
    }
}
impl Mul for V2 {
    type Output = V2;
    fn mul(self, o: V2) -> V2 {
        v2(self.x * o.x, self.y * o.y)
    }
}
impl Mul<f32> for V2 {
    type Output = V2;
    fn mul(self, s: f32) -> V2 {
        v2(self.x * s, self.y * s)
    }
}
impl Div for V2 {
    type Output = V2;
    fn div(self, o: V2) -> V2 {
        v2(self.x / o.x, self.y / o.y)
    }
}
impl Div<f32> for V2 {
    type Output = V2;
    fn div(self, s: f32) -> V2 {
        v2(self.x / s, self.y / s)
    }
}
impl Neg for V2 {
    type Output = V2;
    fn neg(self) -> V2 {
        v2(-self.x, -self.y)
    }
}

/// WGSL `mix`: e1 * (1 - e3) + e2 * e3.
fn mix(a: V2, b: V2, t: f32) -> V2 {
    a * (1.0 - t) + b * t
}

/// Clamps to [0, 1], NaN to 0.
fn clamp01(v: f32) -> f32 {
    if v > 0.0 {
        v.min(1.0)
    } else {
        0.0
    }
}

/// The shader's uniforms, as the CPU side sees them.
#[derive(Debug, Clone, Copy)]
struct ShadeParams {
    rect_size_px: V2,
    flow_size: V2,
    mode: FlowViewMode,
    opacity: f32,
    scale: f32,
    spacing: f32,
    pixels_per_point: f32,
}

struct FlowSample {
    valid: bool,
    at: V2,
    grid: V2,
    d_dx: V2,
    d_dy: V2,
}

struct Lattice {
    count: V2,
    offset: V2,
}

#[derive(Clone, Copy)]
struct Arrow {
    tail: V2,
    tip: V2,
    color: [f32; 3],
}

struct Shader<'a> {
    flow: &'a FlowField,
    params: ShadeParams,
    px_per_unit: V2,
    lattice: Lattice,
    /// `cell_arrow` of every lattice cell, row-major: it depends on the cell only.
    arrows: Vec<Option<Arrow>>,
}

impl<'a> Shader<'a> {
    fn new(flow: &'a FlowField, params: ShadeParams) -> Self {
        let px_per_unit = params.rect_size_px / params.flow_size;
        let count = (params.flow_size / params.spacing)
            .floor()
            .max(V2::splat(1.0));
        let lattice = Lattice {
            count,
            offset: (params.flow_size - count * params.spacing) * 0.5,
        };
        let mut shader = Self {
            flow,
            params,
            px_per_unit,
            lattice,
            arrows: Vec::new(),
        };
        if params.mode == FlowViewMode::Arrows {
            let (cols, rows) = (count.x as usize, count.y as usize);
            shader.arrows = (0..cols * rows)
                .map(|i| shader.cell_arrow(v2((i % cols) as f32, (i / cols) as f32)))
                .collect();
        }
        shader
    }

    fn load_flow(&self, x: i32, y: i32) -> V2 {
        let g = self.flow.grid[y as usize * self.flow.width + x as usize];
        v2(g[0], g[1])
    }

    fn sample_flow(&self, p: V2) -> FlowSample {
        let last = self.params.flow_size - V2::splat(1.0);
        let q = p.clamp(V2::splat(0.0), last);
        let base = q.floor().min((last - V2::splat(1.0)).max(V2::splat(0.0)));
        let f = q - base;
        let x0 = base.x as i32;
        let y0 = base.y as i32;
        let x1 = (x0 + 1).min(last.x as i32);
        let y1 = (y0 + 1).min(last.y as i32);
        let t00 = self.load_flow(x0, y0);
        let t10 = self.load_flow(x1, y0);
        let t01 = self.load_flow(x0, y1);
        let t11 = self.load_flow(x1, y1);
        let valid = [t00, t10, t01, t11].iter().all(|t| is_valid([t.x, t.y]));
        FlowSample {
            valid,
            at: q,
            grid: mix(mix(t00, t10, f.x), mix(t01, t11, f.x), f.y),
            d_dx: mix(t10 - t00, t11 - t01, f.y),
            d_dy: mix(t01 - t00, t11 - t10, f.x),
        }
    }

    fn grid_half_extent(&self) -> V2 {
        (self.params.flow_size.max(V2::splat(2.0)) - V2::splat(1.0)) * 0.5
    }

    fn outlined_line(&self, dist: f32, color: [f32; 3]) -> [f32; 4] {
        let half_width = LINE_HALF_WIDTH * self.params.pixels_per_point;
        let outline = OUTLINE_WIDTH * self.params.pixels_per_point;
        let inner = clamp01(half_width + 0.5 - dist);
        let outer = clamp01(half_width + outline + 0.5 - dist) * OUTLINE_ALPHA;
        [
            color[0] * inner,
            color[1] * inner,
            color[2] * inner,
            inner + (1.0 - inner) * outer,
        ]
    }

    fn cell_arrow(&self, cell: V2) -> Option<Arrow> {
        let l = &self.lattice;
        if cell.any_lt(V2::splat(0.0)) || cell.any_ge(l.count) {
            return None;
        }
        let spacing = self.params.spacing;
        let centre = l.offset + (cell + V2::splat(0.5)) * spacing;
        let s = self.sample_flow(centre - V2::splat(0.5));
        if !s.valid {
            return None;
        }
        let m = (s.grid + V2::splat(1.0)) * self.grid_half_extent() - s.at;
        let magnitude = m.length();
        if magnitude.is_nan() || magnitude <= 0.0 {
            return None;
        }
        let length_units = (magnitude / self.params.scale).min(1.0) * ARROW_FRACTION * spacing;
        let half_vector = m / magnitude * (length_units * 0.5);
        let tail = (centre - half_vector) * self.px_per_unit;
        let tip = (centre + half_vector) * self.px_per_unit;
        ((tip - tail).length() >= ARROW_MIN_LENGTH * self.params.pixels_per_point).then_some(
            Arrow {
                tail,
                tip,
                color: hue_color(m),
            },
        )
    }

    fn arrow_distance(&self, local: V2, arrow: &Arrow) -> f32 {
        let shaft = arrow.tip - arrow.tail;
        let shaft_length = shaft.length();
        let head =
            (ARROW_HEAD_FRACTION * shaft_length).min(ARROW_HEAD_MAX * self.params.pixels_per_point);
        let back = -shaft / shaft_length * head;
        let left = arrow.tip
            + v2(
                back.x * HEAD_COS - back.y * HEAD_SIN,
                back.x * HEAD_SIN + back.y * HEAD_COS,
            );
        let right = arrow.tip
            + v2(
                back.x * HEAD_COS + back.y * HEAD_SIN,
                -back.x * HEAD_SIN + back.y * HEAD_COS,
            );
        segment_distance(local, arrow.tail, arrow.tip).min(
            segment_distance(local, arrow.tip, left).min(segment_distance(local, arrow.tip, right)),
        )
    }

    fn shade_wheel(&self, u: V2) -> [f32; 4] {
        let s = self.sample_flow(u - V2::splat(0.5));
        if !s.valid {
            return [0.0, 0.0, 0.0, 1.0];
        }
        let m = (s.grid + V2::splat(1.0)) * self.grid_half_extent() - s.at;
        let [r, g, b] = wheel_rgb(m, self.params.scale);
        [r, g, b, 1.0]
    }

    fn shade_arrows(&self, local: V2, u: V2) -> [f32; 4] {
        let l = &self.lattice;
        let home = ((u - l.offset) / self.params.spacing).floor();
        let cols = l.count.x as usize;
        let mut best = 1e30_f32;
        let mut color = [0.0; 3];
        for dy in -1..=1 {
            for dx in -1..=1 {
                let cell = home + v2(dx as f32, dy as f32);
                if cell.any_lt(V2::splat(0.0)) || cell.any_ge(l.count) {
                    continue;
                }
                let index = cell.y as usize * cols + cell.x as usize;
                if let Some(arrow) = &self.arrows[index] {
                    let d = self.arrow_distance(local, arrow);
                    if d < best {
                        best = d;
                        color = arrow.color;
                    }
                }
            }
        }
        self.outlined_line(best, color)
    }

    fn shade_grid(&self, u: V2) -> [f32; 4] {
        let s = self.sample_flow(u - V2::splat(0.5));
        if !s.valid {
            return [0.0; 4];
        }
        let half_extent = self.grid_half_extent();
        let source = (s.grid + V2::splat(1.0)) * half_extent + V2::splat(0.5);
        let l = &self.lattice;
        let spacing = self.params.spacing;
        let line_index = ((source - l.offset) / spacing - V2::splat(0.5))
            .map(f32::round_ties_even)
            .clamp(V2::splat(0.0), l.count - V2::splat(1.0));
        let along = (source - (l.offset + (line_index + V2::splat(0.5)) * spacing)).map(f32::abs);
        let ppu = self.px_per_unit;
        let grad_x = v2(
            s.d_dx.x * half_extent.x / ppu.x,
            s.d_dy.x * half_extent.x / ppu.y,
        );
        let grad_y = v2(
            s.d_dx.y * half_extent.y / ppu.x,
            s.d_dy.y * half_extent.y / ppu.y,
        );
        let source_per_px = v2(grad_x.length(), grad_y.length());
        let mut distance_x = along.x / source_per_px.x.max(1e-6);
        let mut distance_y = along.y / source_per_px.y.max(1e-6);
        let first = l.offset + V2::splat(0.5) * spacing;
        let last = l.offset + (l.count - V2::splat(0.5)) * spacing;
        let reach = source_per_px
            * ((LINE_HALF_WIDTH + OUTLINE_WIDTH) * self.params.pixels_per_point + 0.5);
        if source.y < first.y - reach.y || source.y > last.y + reach.y {
            distance_x = 1e30;
        }
        if source.x < first.x - reach.x || source.x > last.x + reach.x {
            distance_y = 1e30;
        }
        self.outlined_line(distance_x.min(distance_y), GRID_COLOR)
    }

    /// `fs_main` for the pixel whose centre is `local`, before the linear-output step.
    fn shade(&self, local: V2) -> [f32; 4] {
        if local.any_lt(V2::splat(0.0)) || local.any_ge(self.params.rect_size_px) {
            return [0.0; 4];
        }
        let u = local / self.px_per_unit;
        let color = match self.params.mode {
            FlowViewMode::ColorWheel => self.shade_wheel(u),
            FlowViewMode::Arrows => self.shade_arrows(local, u),
            FlowViewMode::DeformedGrid => self.shade_grid(u),
        };
        color.map(|c| c * self.params.opacity)
    }
}

fn segment_distance(p: V2, a: V2, b: V2) -> f32 {
    let ab = b - a;
    let t = clamp01((p - a).dot(ab) / ab.dot(ab).max(1e-12));
    (p - (a + ab * t)).length()
}

/// Fully saturated colour for a direction: `wheel_color`'s hue convention.
fn hue_color(m: V2) -> [f32; 3] {
    let mut hue = m.y.atan2(m.x).to_degrees() + 360.0;
    hue -= 360.0 * (hue / 360.0).floor();
    let sector = hue / 60.0;
    let f = sector - sector.floor();
    match sector as u32 % 6 {
        0 => [1.0, f, 0.0],
        1 => [1.0 - f, 1.0, 0.0],
        2 => [0.0, 1.0, f],
        3 => [0.0, 1.0 - f, 1.0],
        4 => [f, 0.0, 1.0],
        _ => [1.0, 0.0, 1.0 - f],
    }
}

/// White for no motion, the full hue at `scale` pixels and beyond (`wheel_color` in floats).
fn wheel_rgb(m: V2, scale: f32) -> [f32; 3] {
    let magnitude = (m.length() / scale).min(1.0);
    if magnitude.is_nan() || magnitude <= 0.0 {
        return [1.0; 3];
    }
    hue_color(m).map(|c| 1.0 - magnitude + magnitude * c)
}

fn to_color32(rgba: [f32; 4]) -> Color32 {
    let [r, g, b, a] = rgba.map(|c| (clamp01(c) * 255.0).round() as u8);
    Color32::from_rgba_premultiplied(r, g, b, a)
}

fn render_image(
    flow: &FlowField,
    style: OverlayStyle,
    max_motion: Option<f32>,
    size: [usize; 2],
) -> ColorImage {
    let [width, height] = size;
    let mut pixels = vec![Color32::TRANSPARENT; width * height];
    if flow.check().is_err() || width == 0 || height == 0 {
        return ColorImage::new(size, pixels);
    }
    let params = ShadeParams {
        rect_size_px: v2(width as f32, height as f32),
        flow_size: v2(flow.width as f32, flow.height as f32),
        mode: style.mode,
        opacity: style.opacity,
        scale: clean_scale(max_motion, || flow.motion_scale()),
        spacing: style.spacing,
        pixels_per_point: style.pixels_per_point,
    };
    let shader = Shader::new(flow, params);
    pixels
        .par_chunks_mut(width)
        .enumerate()
        .for_each(|(y, row)| {
            for (x, pixel) in row.iter_mut().enumerate() {
                let local = v2(x as f32 + 0.5, y as f32 + 0.5);
                *pixel = to_color32(shader.shade(local));
            }
        });
    ColorImage::new(size, pixels)
}

// ---------------------------------------------------------------------------------------------
// GPU path.

/// The shader's uniforms; the layout of `Params` in the shader.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GpuParams {
    rect_min_px: [f32; 2],
    rect_size_px: [f32; 2],
    flow_size: [f32; 2],
    mode: u32,
    opacity: f32,
    scale: f32,
    spacing: f32,
    pixels_per_point: f32,
    linear_output: u32,
}

const PARAMS_SIZE: u64 = std::mem::size_of::<GpuParams>() as u64;

/// What egui's render pass looks like, which the pipeline must match: eframe's
/// `NativeOptions::multisampling` and depth/stencil buffer bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowViewTarget {
    pub msaa_samples: u32,
    pub depth_format: Option<wgpu::TextureFormat>,
}

impl Default for FlowViewTarget {
    /// eframe's defaults: no multisampling, no depth buffer.
    fn default() -> Self {
        Self {
            msaa_samples: 1,
            depth_format: None,
        }
    }
}

impl FlowViewTarget {
    pub fn from_native_options(options: &eframe::NativeOptions) -> Self {
        Self {
            msaa_samples: u32::from(options.multisampling).max(1),
            depth_format: egui_wgpu::depth_format_from_bits(
                options.depth_buffer,
                options.stencil_buffer,
            ),
        }
    }
}

struct FlowTexture {
    _texture: wgpu::Texture,
    bind_group: wgpu::BindGroup,
    size: [u32; 2],
    /// The flow's own motion scale, computed once at upload.
    scale: f32,
    last_used: u64,
}

/// GPU resources of the flow overlays, kept in egui_wgpu's `callback_resources`.
pub struct FlowViewRenderer {
    pipeline: wgpu::RenderPipeline,
    uniform_layout: wgpu::BindGroupLayout,
    texture_layout: wgpu::BindGroupLayout,
    uniform_buffer: wgpu::Buffer,
    uniform_bind_group: wgpu::BindGroup,
    /// Bytes between the uniforms of two overlays (the device's dynamic offset alignment).
    uniform_stride: u64,
    uniform_slots: u64,
    linear_output: bool,
    /// This render's overlays: callback key to uniform slot, and the uniforms of each slot.
    slots: HashMap<u64, u32>,
    slot_params: Vec<GpuParams>,
    /// Set by `paint`; the next `prepare` then knows a new render has begun.
    painted: AtomicBool,
    render_count: u64,
    textures: HashMap<u64, FlowTexture>,
    uploads: u64,
}

impl FlowViewRenderer {
    /// Builds the pipeline for egui's render target. Validation errors come back as errors
    /// rather than wgpu's default panic.
    pub fn new(
        device: &wgpu::Device,
        target_format: wgpu::TextureFormat,
        target: FlowViewTarget,
    ) -> Result<Self, FlowViewError> {
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let renderer = Self::build(device, target_format, target);
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(FlowViewError::Gpu(error.to_string()));
        }
        Ok(renderer)
    }

    fn build(
        device: &wgpu::Device,
        target_format: wgpu::TextureFormat,
        target: FlowViewTarget,
    ) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("flow_view"),
            source: wgpu::ShaderSource::Wgsl(FLOW_VIEW_SHADER.into()),
        });
        let uniform_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("flow_view_uniforms"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: NonZeroU64::new(PARAMS_SIZE),
                },
                count: None,
            }],
        });
        let texture_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("flow_view_flow"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Texture {
                    // Rg32Float is only filterable with a feature; the shader filters itself.
                    sample_type: wgpu::TextureSampleType::Float { filterable: false },
                    view_dimension: wgpu::TextureViewDimension::D2,
                    multisampled: false,
                },
                count: None,
            }],
        });
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("flow_view"),
            bind_group_layouts: &[Some(&uniform_layout), Some(&texture_layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("flow_view"),
            layout: Some(&layout),
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs_main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                buffers: &[],
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: target.depth_format.map(|format| wgpu::DepthStencilState {
                format,
                depth_write_enabled: Some(false),
                depth_compare: Some(wgpu::CompareFunction::Always),
                stencil: wgpu::StencilState::default(),
                bias: wgpu::DepthBiasState::default(),
            }),
            multisample: wgpu::MultisampleState {
                count: target.msaa_samples.max(1),
                mask: !0,
                alpha_to_coverage_enabled: false,
            },
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs_main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                // Premultiplied alpha, as egui blends.
                targets: &[Some(wgpu::ColorTargetState {
                    format: target_format,
                    blend: Some(wgpu::BlendState {
                        color: wgpu::BlendComponent {
                            src_factor: wgpu::BlendFactor::One,
                            dst_factor: wgpu::BlendFactor::OneMinusSrcAlpha,
                            operation: wgpu::BlendOperation::Add,
                        },
                        alpha: wgpu::BlendComponent {
                            src_factor: wgpu::BlendFactor::OneMinusDstAlpha,
                            dst_factor: wgpu::BlendFactor::One,
                            operation: wgpu::BlendOperation::Add,
                        },
                    }),
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        });
        let alignment = u64::from(device.limits().min_uniform_buffer_offset_alignment).max(1);
        let uniform_stride = PARAMS_SIZE.div_ceil(alignment) * alignment;
        let uniform_slots = 4;
        let (uniform_buffer, uniform_bind_group) =
            Self::uniform_storage(device, &uniform_layout, uniform_stride, uniform_slots);
        Self {
            pipeline,
            uniform_layout,
            texture_layout,
            uniform_buffer,
            uniform_bind_group,
            uniform_stride,
            uniform_slots,
            linear_output: target_format.is_srgb(),
            slots: HashMap::new(),
            slot_params: Vec::new(),
            painted: AtomicBool::new(false),
            render_count: 0,
            textures: HashMap::new(),
            uploads: 0,
        }
    }

    fn uniform_storage(
        device: &wgpu::Device,
        layout: &wgpu::BindGroupLayout,
        stride: u64,
        slots: u64,
    ) -> (wgpu::Buffer, wgpu::BindGroup) {
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("flow_view_uniforms"),
            size: stride * slots,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("flow_view_uniforms"),
            layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &buffer,
                    offset: 0,
                    size: NonZeroU64::new(PARAMS_SIZE),
                }),
            }],
        });
        (buffer, bind_group)
    }

    /// How many times a flow was uploaded to the GPU (once per new flow id).
    pub fn uploads(&self) -> u64 {
        self.uploads
    }

    /// Flows currently held on the GPU.
    pub fn cached_flows(&self) -> usize {
        self.textures.len()
    }

    fn upload(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        flow: &FlowField,
    ) -> FlowTexture {
        let size = wgpu::Extent3d {
            width: flow.width as u32,
            height: flow.height as u32,
            depth_or_array_layers: 1,
        };
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("flow_view_flow"),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rg32Float,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let texels: Vec<[f32; 2]> = flow
            .grid
            .iter()
            .map(|g| g.map(|v| if v.is_finite() { v } else { INVALID_UPLOAD }))
            .collect();
        queue.write_texture(
            texture.as_image_copy(),
            bytemuck::cast_slice(&texels),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(size.width * 8),
                rows_per_image: Some(size.height),
            },
            size,
        );
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("flow_view_flow"),
            layout: &self.texture_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::TextureView(&view),
            }],
        });
        self.uploads += 1;
        FlowTexture {
            _texture: texture,
            bind_group,
            size: [size.width, size.height],
            scale: flow.motion_scale(),
            last_used: self.render_count,
        }
    }

    /// Drops the least recently used flow not needed by this render, when the cache is full.
    fn evict(&mut self) {
        if self.textures.len() < MAX_CACHED_FLOWS {
            return;
        }
        let oldest = self
            .textures
            .iter()
            .filter(|(_, t)| t.last_used < self.render_count)
            .min_by_key(|(_, t)| t.last_used)
            .map(|(id, _)| *id);
        if let Some(id) = oldest {
            self.textures.remove(&id);
        }
    }

    fn prepare_overlay(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        pixels_per_point: f32,
        overlay: &FlowCallback,
    ) {
        // All prepares of a render come before its paints, so a paint since the last prepare
        // means this is a new render and last render's slots are free.
        if self.painted.swap(false, Ordering::Relaxed) || self.slot_params.len() >= 64 {
            self.slots.clear();
            self.slot_params.clear();
            self.render_count += 1;
        }
        let flow = &overlay.flow;
        if let Err(e) = flow.check() {
            log::warn!("flow overlay not drawn: {e}");
            return;
        }
        let max_side = device.limits().max_texture_dimension_2d as usize;
        if flow.width > max_side || flow.height > max_side {
            log::warn!(
                "flow overlay not drawn: a {}x{} flow exceeds the GPU's {max_side} texture limit",
                flow.width,
                flow.height
            );
            return;
        }
        let size = [flow.width as u32, flow.height as u32];
        if self
            .textures
            .get(&overlay.flow_id)
            .is_none_or(|t| t.size != size)
        {
            self.textures.remove(&overlay.flow_id);
            self.evict();
            let texture = self.upload(device, queue, flow);
            self.textures.insert(overlay.flow_id, texture);
        }
        let Some(texture) = self.textures.get_mut(&overlay.flow_id) else {
            return;
        };
        texture.last_used = self.render_count;
        let flow_scale = texture.scale;

        let ppp = clean_pixels_per_point(pixels_per_point);
        let rect = overlay.rect;
        let params = GpuParams {
            rect_min_px: [rect.min.x * ppp, rect.min.y * ppp],
            rect_size_px: [rect.width() * ppp, rect.height() * ppp],
            flow_size: [flow.width as f32, flow.height as f32],
            mode: overlay.style.mode.shader_index(),
            opacity: overlay.style.opacity,
            scale: clean_scale(overlay.max_motion, || flow_scale),
            spacing: overlay.style.spacing,
            pixels_per_point: ppp * overlay.style.pixels_per_point,
            linear_output: u32::from(self.linear_output),
        };
        let slot = self.slot_params.len() as u64;
        self.slot_params.push(params);
        self.slots.insert(overlay.key, slot as u32);
        if slot >= self.uniform_slots {
            // Grow, and rewrite this render's earlier overlays into the new buffer.
            self.uniform_slots = (slot + 1).next_power_of_two();
            let (buffer, bind_group) = Self::uniform_storage(
                device,
                &self.uniform_layout,
                self.uniform_stride,
                self.uniform_slots,
            );
            self.uniform_buffer = buffer;
            self.uniform_bind_group = bind_group;
            for (i, p) in self.slot_params.iter().enumerate() {
                queue.write_buffer(
                    &self.uniform_buffer,
                    i as u64 * self.uniform_stride,
                    bytemuck::bytes_of(p),
                );
            }
        } else {
            queue.write_buffer(
                &self.uniform_buffer,
                slot * self.uniform_stride,
                bytemuck::bytes_of(&params),
            );
        }
    }

    fn paint_overlay(&self, render_pass: &mut wgpu::RenderPass<'static>, overlay: &FlowCallback) {
        self.painted.store(true, Ordering::Relaxed);
        let (Some(&slot), Some(texture)) = (
            self.slots.get(&overlay.key),
            self.textures.get(&overlay.flow_id),
        ) else {
            return;
        };
        let offset = u64::from(slot) * self.uniform_stride;
        let Ok(offset) = u32::try_from(offset) else {
            return;
        };
        render_pass.set_pipeline(&self.pipeline);
        render_pass.set_bind_group(0, &self.uniform_bind_group, &[offset]);
        render_pass.set_bind_group(1, &texture.bind_group, &[]);
        render_pass.draw(0..3, 0..1);
    }
}

/// Registers the overlay renderer with egui's wgpu renderer (once, at start-up; calling it again
/// replaces it). Assumes eframe's default render target (no MSAA, no depth buffer); see
/// [`register_with_target`] otherwise.
pub fn register(render_state: &egui_wgpu::RenderState) -> Result<(), FlowViewError> {
    register_with_target(render_state, FlowViewTarget::default())
}

pub fn register_with_target(
    render_state: &egui_wgpu::RenderState,
    target: FlowViewTarget,
) -> Result<(), FlowViewError> {
    let renderer = FlowViewRenderer::new(&render_state.device, render_state.target_format, target)?;
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(renderer);
    Ok(())
}

/// Unique per paint callback, to find its uniforms in `paint`.
static NEXT_CALLBACK_KEY: AtomicU64 = AtomicU64::new(0);

struct FlowCallback {
    key: u64,
    rect: Rect,
    flow: Arc<FlowField>,
    flow_id: u64,
    style: OverlayStyle,
    max_motion: Option<f32>,
}

impl egui_wgpu::CallbackTrait for FlowCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        screen_descriptor: &egui_wgpu::ScreenDescriptor,
        _egui_encoder: &mut wgpu::CommandEncoder,
        callback_resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        match callback_resources.get_mut::<FlowViewRenderer>() {
            Some(renderer) => {
                renderer.prepare_overlay(device, queue, screen_descriptor.pixels_per_point, self)
            }
            None => log::warn!("flow overlay not drawn: flow_view::register was not called"),
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        callback_resources: &egui_wgpu::CallbackResources,
    ) {
        if let Some(renderer) = callback_resources.get::<FlowViewRenderer>() {
            renderer.paint_overlay(render_pass, self);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Choosing the path, and drawing.

/// Which implementation draws the overlays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlowRenderPath {
    /// The WGSL shader in a paint callback (wgpu renderer, after [`register`]).
    Gpu,
    /// CPU-rendered textures (glow renderer, or when the GPU set-up failed).
    #[default]
    Cpu,
}

fn render_path_id() -> egui::Id {
    egui::Id::unique("fitting_room::flow_view::render_path")
}

/// Tells [`paint_flow_overlay`] which path to take in this context.
pub fn set_render_path(ctx: &egui::Context, path: FlowRenderPath) {
    ctx.data_mut(|d| d.insert_temp(render_path_id(), path));
}

/// The path [`paint_flow_overlay`] takes: [`FlowRenderPath::Cpu`] until set.
pub fn render_path(ctx: &egui::Context) -> FlowRenderPath {
    ctx.data(|d| d.get_temp(render_path_id()))
        .unwrap_or_default()
}

/// Start-up in one call: registers the GPU renderer when eframe runs on wgpu and records the
/// path to use. Falls back to the CPU path (with a warning) when the GPU set-up fails.
pub fn install(cc: &eframe::CreationContext<'_>) -> FlowRenderPath {
    install_with_target(cc, FlowViewTarget::default())
}

/// [`install`] for an app that turned on multisampling or a depth buffer in `NativeOptions`.
pub fn install_with_target(
    cc: &eframe::CreationContext<'_>,
    target: FlowViewTarget,
) -> FlowRenderPath {
    let path = match &cc.wgpu_render_state {
        Some(render_state) => match register_with_target(render_state, target) {
            Ok(()) => FlowRenderPath::Gpu,
            Err(e) => {
                log::warn!("drawing the flow overlays on the CPU: {e}");
                FlowRenderPath::Cpu
            }
        },
        None => FlowRenderPath::Cpu,
    };
    set_render_path(&cc.egui_ctx, path);
    path
}

/// Draws `overlay` over `rect` (where the app drew the result image), by the path set with
/// [`install`] / [`set_render_path`].
pub fn paint_flow_overlay(ui: &mut egui::Ui, rect: Rect, overlay: &FlowOverlay) {
    let path = render_path(ui.ctx());
    paint_flow_overlay_with(ui, rect, overlay, path);
}

/// [`paint_flow_overlay`] by an explicit path.
pub fn paint_flow_overlay_with(
    ui: &mut egui::Ui,
    rect: Rect,
    overlay: &FlowOverlay,
    path: FlowRenderPath,
) {
    let opacity = clean_opacity(overlay.opacity);
    if opacity <= 0.0 || !rect.is_positive() || !ui.is_rect_visible(rect) {
        return;
    }
    if let Err(e) = overlay.flow.check() {
        log::debug!("flow overlay not drawn: {e}");
        return;
    }
    match path {
        FlowRenderPath::Gpu => {
            let callback = FlowCallback {
                key: NEXT_CALLBACK_KEY.fetch_add(1, Ordering::Relaxed),
                rect,
                flow: Arc::clone(&overlay.flow),
                flow_id: overlay.flow_id,
                style: OverlayStyle {
                    mode: overlay.mode,
                    opacity,
                    spacing: clean_spacing(overlay.spacing),
                    pixels_per_point: 1.0,
                },
                max_motion: overlay.max_motion,
            };
            ui.painter()
                .add(egui_wgpu::Callback::new_paint_callback(rect, callback));
        }
        FlowRenderPath::Cpu => paint_cpu(ui, rect, overlay, opacity),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct CpuOverlayKey {
    flow_id: u64,
    mode: FlowViewMode,
    size: [usize; 2],
    spacing: f32,
    max_motion: Option<f32>,
    pixels_per_point: f32,
}

#[derive(Clone, Default)]
struct CpuOverlayCache {
    entries: Vec<(CpuOverlayKey, TextureHandle, u64)>,
}

fn paint_cpu(ui: &egui::Ui, rect: Rect, overlay: &FlowOverlay, opacity: f32) {
    let ctx = ui.ctx().clone();
    let ppp = ctx.pixels_per_point();
    let wanted = rect.size() * ppp;
    // Render at screen resolution, up to a limit; lines keep their width in points.
    let shrink = (MAX_CPU_SIDE / wanted.x.max(wanted.y)).min(1.0);
    let size = [
        (wanted.x * shrink).round().max(1.0) as usize,
        (wanted.y * shrink).round().max(1.0) as usize,
    ];
    let key = CpuOverlayKey {
        flow_id: overlay.flow_id,
        mode: overlay.mode,
        size,
        spacing: clean_spacing(overlay.spacing),
        max_motion: overlay.max_motion,
        pixels_per_point: ppp * shrink,
    };
    let cache_id = egui::Id::unique("fitting_room::flow_view::cpu_cache");
    let pass = ctx.cumulative_pass_nr();
    let cached = ctx.data_mut(|d| {
        let cache = d.get_temp_mut_or_default::<CpuOverlayCache>(cache_id);
        cache.entries.iter_mut().find(|e| e.0 == key).map(|e| {
            e.2 = pass;
            e.1.clone()
        })
    });
    let texture = match cached {
        Some(texture) => texture,
        None => {
            // Rendered opaque; the opacity is applied as a tint so a slider does not re-render.
            let full = FlowOverlay {
                opacity: 1.0,
                ..overlay.clone()
            };
            let image = full.render_cpu(size, key.pixels_per_point);
            let texture = ctx.load_texture("flow overlay", image, TextureOptions::LINEAR);
            ctx.data_mut(|d| {
                let cache = d.get_temp_mut_or_default::<CpuOverlayCache>(cache_id);
                if cache.entries.len() >= MAX_CACHED_CPU_OVERLAYS {
                    if let Some(oldest) =
                        (0..cache.entries.len()).min_by_key(|&i| cache.entries[i].2)
                    {
                        drop(cache.entries.swap_remove(oldest));
                    }
                }
                cache.entries.push((key, texture.clone(), pass));
            });
            texture
        }
    };
    let tint = Color32::from_white_alpha((opacity * 255.0).round() as u8);
    ui.painter().image(
        texture.id(),
        rect,
        Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
        tint,
    );
}

/// The legend of the colour wheel: a small wheel (centre white, rim fully saturated; a colour
/// at some angle means the garment is pulled from that direction) and what it means.
/// `scale` is the motion of full saturation in pixels, e.g. [`FlowField::motion_scale`].
pub fn flow_legend(ui: &mut egui::Ui, scale: f32) {
    const SIDE_POINTS: f32 = 40.0;
    let ctx = ui.ctx().clone();
    let side_px = (SIDE_POINTS * ctx.pixels_per_point()).round().max(8.0) as usize;
    let id = egui::Id::unique(("fitting_room::flow_view::legend", side_px));
    let texture = match ctx.data(|d| d.get_temp::<TextureHandle>(id)) {
        Some(texture) => texture,
        None => {
            let texture =
                ctx.load_texture("flow legend", legend_wheel(side_px), TextureOptions::LINEAR);
            ctx.data_mut(|d| d.insert_temp(id, texture.clone()));
            texture
        }
    };
    let scale = if scale.is_finite() {
        scale.max(0.0)
    } else {
        0.0
    };
    // Short lines: the legend sits in a narrow strip beside the picture (see result_panel).
    ui.horizontal(|ui| {
        ui.add(egui::Image::new((
            texture.id(),
            egui::vec2(SIDE_POINTS, SIDE_POINTS),
        )));
        ui.label(format!(
            "Hue: direction\nSaturation: distance\n(full at {scale:.1} px)"
        ));
    });
}

/// A colour wheel `side` pixels across: the overlay's colours for motions up to the rim.
fn legend_wheel(side: usize) -> ColorImage {
    let radius = side as f32 * 0.5;
    let pixels = (0..side * side)
        .map(|i| {
            let m = v2(
                (i % side) as f32 + 0.5 - radius,
                (i / side) as f32 + 0.5 - radius,
            );
            // One pixel of antialiasing at the rim.
            let coverage = clamp01(radius - 0.5 - m.length() + 0.5);
            let [r, g, b] = wheel_rgb(m, radius - 1.0);
            to_color32([r * coverage, g * coverage, b * coverage, coverage])
        })
        .collect();
    ColorImage::new([side, side], pixels)
}

#[cfg(test)]
mod tests {
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
}
