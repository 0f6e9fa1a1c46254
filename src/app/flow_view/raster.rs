//! The CPU mirror of `shaders/flow_view.wgsl`, step by step: each function has the shader
//! function of the same name. It draws the overlays when there is no wgpu renderer and is the
//! reference the GPU tests compare with.

use std::ops::{Add, Div, Mul, Neg, Sub};

use eframe::egui::{Color32, ColorImage};
use rayon::prelude::*;

use super::field::is_valid;
use super::palette::{hue_color, to_color32, wheel_rgb};
use super::*;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct V2 {
    pub x: f32,
    pub y: f32,
}

pub(super) const fn v2(x: f32, y: f32) -> V2 {
    V2 { x, y }
}

impl V2 {
    pub(super) fn splat(v: f32) -> Self {
        v2(v, v)
    }
    pub(super) fn map(self, f: impl Fn(f32) -> f32) -> Self {
        v2(f(self.x), f(self.y))
    }
    pub(super) fn zip(self, o: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        v2(f(self.x, o.x), f(self.y, o.y))
    }
    pub(super) fn dot(self, o: Self) -> f32 {
        self.x * o.x + self.y * o.y
    }
    pub(super) fn length(self) -> f32 {
        self.dot(self).sqrt()
    }
    // WGSL min/max/clamp, written out so NaN behaves alike on both sides.
    pub(super) fn min(self, o: Self) -> Self {
        self.zip(o, |a, b| if b < a { b } else { a })
    }
    pub(super) fn max(self, o: Self) -> Self {
        self.zip(o, |a, b| if b > a { b } else { a })
    }
    pub(super) fn clamp(self, lo: Self, hi: Self) -> Self {
        self.max(lo).min(hi)
    }
    pub(super) fn floor(self) -> Self {
        self.map(f32::floor)
    }
    pub(super) fn any_lt(self, o: Self) -> bool {
        self.x < o.x || self.y < o.y
    }
    pub(super) fn any_ge(self, o: Self) -> bool {
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
pub(super) fn mix(a: V2, b: V2, t: f32) -> V2 {
    a * (1.0 - t) + b * t
}

/// Clamps to [0, 1], NaN to 0.
pub(super) fn clamp01(v: f32) -> f32 {
    if v > 0.0 {
        v.min(1.0)
    } else {
        0.0
    }
}

/// The shader's uniforms, as the CPU side sees them.
#[derive(Debug, Clone, Copy)]
pub(super) struct ShadeParams {
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

pub(super) fn segment_distance(p: V2, a: V2, b: V2) -> f32 {
    let ab = b - a;
    let t = clamp01((p - a).dot(ab) / ab.dot(ab).max(1e-12));
    (p - (a + ab * t)).length()
}

pub(super) fn render_image(
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
