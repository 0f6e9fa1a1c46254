// Appearance-flow overlays drawn over the try-on result: colour wheel, arrows, deformed grid.
//
// The flow is an absolute sampling grid in [-1, 1] (align_corners=True), one texel per output
// pixel. `render_flow_overlay_cpu` in src/app/flow_view.rs mirrors every step of this file; keep
// the two in step (the tests compare them pixel by pixel).
//
// Coordinates:
// - `local`: physical pixels from the overlay rect's top-left corner.
// - `u`: image units, [0, W] x [0, H] across the rect; pixel i spans [i, i + 1].
// - flow pixels `p = u - 0.5`: pixel centres at integers, as the network's grid sees them.
// Output: premultiplied RGBA in gamma space (converted to linear for sRGB targets, as egui does).

struct Params {
    rect_min_px: vec2<f32>,
    rect_size_px: vec2<f32>,
    flow_size: vec2<f32>,
    mode: u32,
    opacity: f32,
    // Motion in flow pixels drawn at full saturation / full arrow length.
    scale: f32,
    // Lattice spacing in flow pixels (arrows and grid lines).
    spacing: f32,
    pixels_per_point: f32,
    linear_output: u32,
};

const MODE_WHEEL: u32 = 0u;
const MODE_ARROWS: u32 = 1u;
const MODE_GRID: u32 = 2u;

// Non-finite flow values are uploaded as this; anything this large marks a hole.
const INVALID_FLOW: f32 = 1e20;
// Widths in points, so lines look the same at any zoom.
const LINE_HALF_WIDTH: f32 = 0.75;
const OUTLINE_WIDTH: f32 = 1.0;
const OUTLINE_ALPHA: f32 = 0.7;
const ARROW_FRACTION: f32 = 0.9;
const ARROW_HEAD_MAX: f32 = 7.0;
const ARROW_HEAD_FRACTION: f32 = 0.45;
const ARROW_MIN_LENGTH: f32 = 1.5;
// cos and sin of the arrow head's half angle, 28 degrees.
const HEAD_COS: f32 = 0.88294759;
const HEAD_SIN: f32 = 0.46947156;
const GRID_COLOR: vec3<f32> = vec3<f32>(1.0, 0.85, 0.2);

@group(0) @binding(0) var<uniform> params: Params;
@group(1) @binding(0) var flow_texture: texture_2d<f32>;

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> @builtin(position) vec4<f32> {
    // One triangle covering the viewport egui set to the overlay rect.
    let corner = vec2<f32>(f32((index << 1u) & 2u), f32(index & 2u));
    return vec4<f32>(corner * 2.0 - 1.0, 0.0, 1.0);
}

struct FlowSample {
    valid: bool,
    // The clamped position the sample was taken at (flow pixels).
    at: vec2<f32>,
    grid: vec2<f32>,
    // Derivatives of the bilinear grid along flow x and flow y.
    d_dx: vec2<f32>,
    d_dy: vec2<f32>,
};

fn load_flow(x: i32, y: i32) -> vec2<f32> {
    return textureLoad(flow_texture, vec2<i32>(x, y), 0).xy;
}

fn is_valid(v: vec2<f32>) -> bool {
    return abs(v.x) < INVALID_FLOW && abs(v.y) < INVALID_FLOW;
}

// Bilinear sample at flow-pixel position `p`, clamped to the edge texels (textureLoad: the
// Rg32Float texture is not filterable everywhere).
fn sample_flow(p: vec2<f32>) -> FlowSample {
    let last = params.flow_size - vec2<f32>(1.0);
    let q = clamp(p, vec2<f32>(0.0), last);
    let base = min(floor(q), max(last - vec2<f32>(1.0), vec2<f32>(0.0)));
    let f = q - base;
    let x0 = i32(base.x);
    let y0 = i32(base.y);
    let x1 = min(x0 + 1, i32(last.x));
    let y1 = min(y0 + 1, i32(last.y));
    let t00 = load_flow(x0, y0);
    let t10 = load_flow(x1, y0);
    let t01 = load_flow(x0, y1);
    let t11 = load_flow(x1, y1);
    var s: FlowSample;
    s.valid = is_valid(t00) && is_valid(t10) && is_valid(t01) && is_valid(t11);
    s.at = q;
    s.grid = mix(mix(t00, t10, f.x), mix(t01, t11, f.x), f.y);
    s.d_dx = mix(t10 - t00, t11 - t01, f.y);
    s.d_dy = mix(t01 - t00, t11 - t10, f.x);
    return s;
}

// Flow pixels per unit of grid (align_corners=True).
fn grid_half_extent() -> vec2<f32> {
    return (max(params.flow_size, vec2<f32>(2.0)) - vec2<f32>(1.0)) * 0.5;
}

// Fully saturated colour for a direction; the hue convention of `wheel_color`.
fn hue_color(m: vec2<f32>) -> vec3<f32> {
    var hue = degrees(atan2(m.y, m.x)) + 360.0;
    hue = hue - 360.0 * floor(hue / 360.0);
    let sector = hue / 60.0;
    let f = sector - floor(sector);
    var rgb: vec3<f32>;
    switch (u32(sector) % 6u) {
        case 0u: { rgb = vec3<f32>(1.0, f, 0.0); }
        case 1u: { rgb = vec3<f32>(1.0 - f, 1.0, 0.0); }
        case 2u: { rgb = vec3<f32>(0.0, 1.0, f); }
        case 3u: { rgb = vec3<f32>(0.0, 1.0 - f, 1.0); }
        case 4u: { rgb = vec3<f32>(f, 0.0, 1.0); }
        default: { rgb = vec3<f32>(1.0, 0.0, 1.0 - f); }
    }
    return rgb;
}

// White for no motion, the full hue at `scale` pixels and beyond.
fn wheel_rgb(m: vec2<f32>, scale: f32) -> vec3<f32> {
    let magnitude = min(length(m) / scale, 1.0);
    if magnitude <= 0.0 {
        return vec3<f32>(1.0);
    }
    return vec3<f32>(1.0 - magnitude) + magnitude * hue_color(m);
}

fn segment_distance(p: vec2<f32>, a: vec2<f32>, b: vec2<f32>) -> f32 {
    let ab = b - a;
    let t = clamp(dot(p - a, ab) / max(dot(ab, ab), 1e-12), 0.0, 1.0);
    return length(p - (a + ab * t));
}

// A line `dist` pixels away in `color` with a dark outline, premultiplied.
fn outlined_line(dist: f32, color: vec3<f32>) -> vec4<f32> {
    let half_width = LINE_HALF_WIDTH * params.pixels_per_point;
    let outline = OUTLINE_WIDTH * params.pixels_per_point;
    let inner = clamp(half_width + 0.5 - dist, 0.0, 1.0);
    let outer = clamp(half_width + outline + 0.5 - dist, 0.0, 1.0) * OUTLINE_ALPHA;
    return vec4<f32>(color * inner, inner + (1.0 - inner) * outer);
}

struct Lattice {
    count: vec2<f32>,
    offset: vec2<f32>,
};

// Lattice points at offset + (i + 0.5) * spacing in image units, centred in the image.
fn lattice() -> Lattice {
    var l: Lattice;
    l.count = max(floor(params.flow_size / params.spacing), vec2<f32>(1.0));
    l.offset = (params.flow_size - l.count * params.spacing) * 0.5;
    return l;
}

struct Arrow {
    visible: bool,
    tail: vec2<f32>,
    tip: vec2<f32>,
    color: vec3<f32>,
};

// The arrow of lattice cell `cell`, in local pixels: centred on the lattice point, along the
// motion there, ARROW_FRACTION of the spacing long at full scale.
fn cell_arrow(cell: vec2<f32>, l: Lattice, px_per_unit: vec2<f32>) -> Arrow {
    var arrow: Arrow;
    arrow.visible = false;
    if any(cell < vec2<f32>(0.0)) || any(cell >= l.count) {
        return arrow;
    }
    let centre = l.offset + (cell + vec2<f32>(0.5)) * params.spacing;
    let s = sample_flow(centre - vec2<f32>(0.5));
    if !s.valid {
        return arrow;
    }
    let m = (s.grid + vec2<f32>(1.0)) * grid_half_extent() - s.at;
    let magnitude = length(m);
    if !(magnitude > 0.0) {
        return arrow;
    }
    let length_units = min(magnitude / params.scale, 1.0) * ARROW_FRACTION * params.spacing;
    let half_vector = m / magnitude * (length_units * 0.5);
    arrow.tail = (centre - half_vector) * px_per_unit;
    arrow.tip = (centre + half_vector) * px_per_unit;
    arrow.color = hue_color(m);
    arrow.visible = distance(arrow.tail, arrow.tip) >= ARROW_MIN_LENGTH * params.pixels_per_point;
    return arrow;
}

fn arrow_distance(local: vec2<f32>, arrow: Arrow) -> f32 {
    let shaft = arrow.tip - arrow.tail;
    let shaft_length = length(shaft);
    let head = min(ARROW_HEAD_FRACTION * shaft_length, ARROW_HEAD_MAX * params.pixels_per_point);
    let back = -shaft / shaft_length * head;
    let left = arrow.tip + vec2<f32>(back.x * HEAD_COS - back.y * HEAD_SIN, back.x * HEAD_SIN + back.y * HEAD_COS);
    let right = arrow.tip + vec2<f32>(back.x * HEAD_COS + back.y * HEAD_SIN, -back.x * HEAD_SIN + back.y * HEAD_COS);
    return min(
        segment_distance(local, arrow.tail, arrow.tip),
        min(segment_distance(local, arrow.tip, left), segment_distance(local, arrow.tip, right))
    );
}

fn shade_wheel(u: vec2<f32>) -> vec4<f32> {
    let s = sample_flow(u - vec2<f32>(0.5));
    if !s.valid {
        // Holes in the flow show black, as in `wheel_color`.
        return vec4<f32>(0.0, 0.0, 0.0, 1.0);
    }
    let m = (s.grid + vec2<f32>(1.0)) * grid_half_extent() - s.at;
    return vec4<f32>(wheel_rgb(m, params.scale), 1.0);
}

fn shade_arrows(local: vec2<f32>, u: vec2<f32>, px_per_unit: vec2<f32>) -> vec4<f32> {
    let l = lattice();
    let home = floor((u - l.offset) / params.spacing);
    // Neighbouring cells too: an arrow's outline may reach just past its own cell.
    var best = 1e30;
    var color = vec3<f32>(0.0);
    for (var dy = -1; dy <= 1; dy++) {
        for (var dx = -1; dx <= 1; dx++) {
            let arrow = cell_arrow(home + vec2<f32>(f32(dx), f32(dy)), l, px_per_unit);
            if arrow.visible {
                let d = arrow_distance(local, arrow);
                if d < best {
                    best = d;
                    color = arrow.color;
                }
            }
        }
    }
    return outlined_line(best, color);
}

fn shade_grid(u: vec2<f32>, px_per_unit: vec2<f32>) -> vec4<f32> {
    let s = sample_flow(u - vec2<f32>(0.5));
    if !s.valid {
        return vec4<f32>(0.0);
    }
    let half_extent = grid_half_extent();
    // Where this pixel's garment colour comes from, in image units of the garment.
    let source = (s.grid + vec2<f32>(1.0)) * half_extent + vec2<f32>(0.5);
    let l = lattice();
    let line_index = clamp(round((source - l.offset) / params.spacing - vec2<f32>(0.5)), vec2<f32>(0.0), l.count - vec2<f32>(1.0));
    let along = abs(source - (l.offset + (line_index + vec2<f32>(0.5)) * params.spacing));
    // Source units per local pixel, from the bilinear derivatives, turn distances in the
    // garment into distances on screen.
    let grad_x = vec2<f32>(s.d_dx.x * half_extent.x / px_per_unit.x, s.d_dy.x * half_extent.x / px_per_unit.y);
    let grad_y = vec2<f32>(s.d_dx.y * half_extent.y / px_per_unit.x, s.d_dy.y * half_extent.y / px_per_unit.y);
    let source_per_px = vec2<f32>(length(grad_x), length(grad_y));
    var distance_x = along.x / max(source_per_px.x, 1e-6);
    var distance_y = along.y / max(source_per_px.y, 1e-6);
    // The grid stops at its outermost lines, reaching one line width past them for square
    // corners.
    let first = l.offset + vec2<f32>(0.5) * params.spacing;
    let last = l.offset + (l.count - vec2<f32>(0.5)) * params.spacing;
    let reach = ((LINE_HALF_WIDTH + OUTLINE_WIDTH) * params.pixels_per_point + 0.5) * source_per_px;
    if source.y < first.y - reach.y || source.y > last.y + reach.y {
        distance_x = 1e30;
    }
    if source.x < first.x - reach.x || source.x > last.x + reach.x {
        distance_y = 1e30;
    }
    return outlined_line(min(distance_x, distance_y), GRID_COLOR);
}

fn linear_from_gamma(srgb: vec3<f32>) -> vec3<f32> {
    let cutoff = srgb < vec3<f32>(0.04045);
    let lower = srgb / vec3<f32>(12.92);
    let higher = pow((srgb + vec3<f32>(0.055)) / vec3<f32>(1.055), vec3<f32>(2.4));
    return select(higher, lower, cutoff);
}

@fragment
fn fs_main(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    let local = position.xy - params.rect_min_px;
    if any(local < vec2<f32>(0.0)) || any(local >= params.rect_size_px) {
        return vec4<f32>(0.0);
    }
    let px_per_unit = params.rect_size_px / params.flow_size;
    let u = local / px_per_unit;
    var color: vec4<f32>;
    switch params.mode {
        case MODE_WHEEL: { color = shade_wheel(u); }
        case MODE_ARROWS: { color = shade_arrows(local, u, px_per_unit); }
        case MODE_GRID: { color = shade_grid(u, px_per_unit); }
        default: { color = vec4<f32>(0.0); }
    }
    color = color * params.opacity;
    if params.linear_output == 1u {
        color = vec4<f32>(linear_from_gamma(color.rgb), color.a);
    }
    return color;
}
