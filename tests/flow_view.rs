//! Flow overlays: the WGSL shader, rendered by egui's wgpu renderer in a kittest harness, against
//! the CPU reference; and the CPU reference against the pipeline's colour convention.
//!
//! These tests need a wgpu adapter (a software one such as lavapipe will do). Without one,
//! building the harness panics: the GPU tests fail rather than skip.
//!
//! Set FLOW_VIEW_DUMP=<folder> to save the GPU and CPU pictures as PNG for a look.

use std::sync::Arc;

use candle_core::{Device, Tensor};
use eframe::egui::{self, Color32, ColorImage, Rect};
use eframe::egui_wgpu;
use egui_kittest::Harness;
use fitting_room::app::flow_view::{
    self, paint_flow_overlay, paint_flow_overlay_with, render_flow_overlay_cpu, FlowField,
    FlowOverlay, FlowRenderPath, FlowViewMode, FlowViewRenderer,
};
use fitting_room::pipeline::flow_to_color;
use image::RgbaImage;

const W: usize = 192;
const H: usize = 256;
const BACKGROUND: [u8; 3] = [90, 90, 90];

/// Every pixel moved by `motion`: the garment at (x, y) comes from (x, y) + motion.
fn uniform(motion: [f32; 2]) -> FlowField {
    FlowField::from_motion(W, H, |_, _| motion).unwrap()
}

/// The garment rotated by `degrees` about the image centre.
fn rotation(degrees: f32) -> FlowField {
    let (s, c) = degrees.to_radians().sin_cos();
    let (cx, cy) = ((W - 1) as f32 / 2.0, (H - 1) as f32 / 2.0);
    FlowField::from_motion(W, H, |x, y| {
        let (px, py) = (x as f32 - cx, y as f32 - cy);
        [c * px - s * py - px, s * px + c * py - py]
    })
    .unwrap()
}

/// The rotation with a block of NaN, as a broken network output might have.
fn rotation_with_hole() -> FlowField {
    let mut flow = rotation(8.0);
    for y in 100..130 {
        for x in 60..100 {
            flow.grid[y * W + x] = [f32::NAN, f32::NAN];
        }
    }
    flow
}

struct OverlayApp {
    overlays: Vec<(Rect, FlowOverlay)>,
    path: Option<FlowRenderPath>,
    render_state: Option<egui_wgpu::RenderState>,
}

impl eframe::App for OverlayApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let [r, g, b] = BACKGROUND;
        ui.painter()
            .rect_filled(ui.max_rect(), 0.0, Color32::from_rgb(r, g, b));
        for (rect, overlay) in &self.overlays {
            match self.path {
                None => paint_flow_overlay(ui, *rect, overlay),
                Some(path) => paint_flow_overlay_with(ui, *rect, overlay, path),
            }
        }
    }
}

/// A harness on the wgpu renderer with the overlay renderer installed the way the app does it.
fn gpu_harness(
    size: egui::Vec2,
    overlays: Vec<(Rect, FlowOverlay)>,
) -> Harness<'static, OverlayApp> {
    Harness::builder()
        .with_size(size)
        .wgpu()
        .build_eframe(move |cc| {
            let path = flow_view::install(cc);
            assert_eq!(path, FlowRenderPath::Gpu, "the shader failed to build");
            OverlayApp {
                overlays,
                path: None,
                render_state: cc.wgpu_render_state.clone(),
            }
        })
}

fn render(harness: &mut Harness<'_, OverlayApp>) -> RgbaImage {
    harness.run();
    harness.render().expect("rendering with wgpu")
}

/// The CPU overlay composited over the background the way the GPU blends (premultiplied).
fn composite(overlay: &ColorImage) -> Vec<[u8; 3]> {
    overlay
        .pixels
        .iter()
        .map(|p| {
            let keep = 1.0 - p.a() as f32 / 255.0;
            let channels = [p.r(), p.g(), p.b()];
            std::array::from_fn(|i| {
                (channels[i] as f32 + BACKGROUND[i] as f32 * keep)
                    .round()
                    .clamp(0.0, 255.0) as u8
            })
        })
        .collect()
}

fn crop(image: &RgbaImage, rect: Rect) -> (usize, usize, Vec<[u8; 3]>) {
    let (x0, y0) = (rect.min.x as u32, rect.min.y as u32);
    let (w, h) = (rect.width() as u32, rect.height() as u32);
    let pixels = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| {
            let p = image.get_pixel(x0 + x, y0 + y).0;
            [p[0], p[1], p[2]]
        })
        .collect();
    (w as usize, h as usize, pixels)
}

fn dump(name: &str, width: usize, height: usize, pixels: &[[u8; 3]]) {
    let Some(folder) = std::env::var_os("FLOW_VIEW_DUMP") else {
        return;
    };
    let folder = std::path::PathBuf::from(folder);
    std::fs::create_dir_all(&folder).unwrap();
    let raw = pixels.iter().flatten().copied().collect();
    image::RgbImage::from_raw(width as u32, height as u32, raw)
        .unwrap()
        .save(folder.join(format!("{name}.png")))
        .unwrap();
}

struct Difference {
    max: u8,
    /// Pixels with some channel more than 2 levels off.
    over_two: usize,
    total: usize,
}

fn difference(a: &[[u8; 3]], b: &[[u8; 3]]) -> Difference {
    assert_eq!(a.len(), b.len());
    let mut d = Difference {
        max: 0,
        over_two: 0,
        total: a.len(),
    };
    for (p, q) in a.iter().zip(b) {
        let worst = (0..3).map(|i| p[i].abs_diff(q[i])).max().unwrap();
        d.max = d.max.max(worst);
        if worst > 2 {
            d.over_two += 1;
        }
    }
    d
}

/// The GPU and the CPU run the same f32 formulas; what differs is the GPU's transcendental
/// functions (atan2, sqrt, pow are a few ulp off, far below one 8-bit level), the order of
/// operations the shader compiler picks (fused multiply-adds), and the float-to-8-bit
/// conversion of the framebuffer. Those move a pixel by a level or two, so at most 2 levels
/// per channel are allowed everywhere except where a float lands on the other side of a
/// threshold: an antialiased edge, or a lattice-cell boundary. Those are rare, so a handful
/// of pixels (0.1%) may differ more.
fn assert_close(name: &str, gpu: &[[u8; 3]], cpu: &[[u8; 3]], width: usize, height: usize) {
    dump(&format!("{name}_gpu"), width, height, gpu);
    dump(&format!("{name}_cpu"), width, height, cpu);
    let d = difference(gpu, cpu);
    println!(
        "{name}: max difference {} levels, {} of {} pixels over 2",
        d.max, d.over_two, d.total
    );
    assert!(
        d.over_two * 1000 <= d.total,
        "{name}: {} of {} pixels differ by more than 2 levels (max {})",
        d.over_two,
        d.total,
        d.max
    );
}

fn overlay(flow: &Arc<FlowField>, id: u64, mode: FlowViewMode, opacity: f32) -> FlowOverlay {
    FlowOverlay::new(Arc::clone(flow), id, mode, opacity)
}

/// Renders one overlay filling a `scale`-times enlarged rect on the GPU, and compares it with
/// the CPU reference of the same size.
fn compare_one(name: &str, flow: FlowField, mode: FlowViewMode, opacity: f32, zoom: f32) {
    let flow = Arc::new(flow);
    let size = egui::vec2(W as f32 * zoom, H as f32 * zoom).round();
    let rect = Rect::from_min_size(egui::Pos2::ZERO, size);
    let mut harness = gpu_harness(size, vec![(rect, overlay(&flow, 1, mode, opacity))]);
    let image = render(&mut harness);
    let (w, h, gpu) = crop(&image, rect);
    let cpu = composite(&render_flow_overlay_cpu(&flow, mode, opacity, [w, h]));
    assert_close(name, &gpu, &cpu, w, h);
}

#[test]
fn gpu_wheel_matches_cpu() {
    compare_one(
        "wheel_rotation",
        rotation(10.0),
        FlowViewMode::ColorWheel,
        0.8,
        1.0,
    );
    compare_one(
        "wheel_rotation_zoomed",
        rotation(-6.0),
        FlowViewMode::ColorWheel,
        1.0,
        1.75,
    );
    compare_one(
        "wheel_hole",
        rotation_with_hole(),
        FlowViewMode::ColorWheel,
        0.7,
        1.0,
    );
}

#[test]
fn gpu_arrows_match_cpu() {
    compare_one(
        "arrows_rotation",
        rotation(10.0),
        FlowViewMode::Arrows,
        1.0,
        2.0,
    );
    compare_one(
        "arrows_shift",
        uniform([4.0, -2.0]),
        FlowViewMode::Arrows,
        0.9,
        1.0,
    );
    compare_one(
        "arrows_hole",
        rotation_with_hole(),
        FlowViewMode::Arrows,
        1.0,
        1.5,
    );
}

#[test]
fn gpu_grid_matches_cpu() {
    compare_one(
        "grid_rotation",
        rotation(10.0),
        FlowViewMode::DeformedGrid,
        1.0,
        2.0,
    );
    compare_one(
        "grid_identity",
        uniform([0.0, 0.0]),
        FlowViewMode::DeformedGrid,
        1.0,
        1.0,
    );
    compare_one(
        "grid_hole",
        rotation_with_hole(),
        FlowViewMode::DeformedGrid,
        0.8,
        1.5,
    );
}

#[test]
fn several_overlays_in_one_frame_keep_their_own_settings() {
    let rotated = Arc::new(rotation(12.0));
    let shifted = Arc::new(uniform([-5.0, 0.0]));
    let cell = egui::vec2(W as f32, H as f32);
    let overlays = vec![
        (
            Rect::from_min_size(egui::pos2(0.0, 0.0), cell),
            overlay(&rotated, 10, FlowViewMode::ColorWheel, 0.6),
        ),
        (
            Rect::from_min_size(egui::pos2(W as f32, 0.0), cell),
            overlay(&shifted, 11, FlowViewMode::Arrows, 1.0),
        ),
        (
            Rect::from_min_size(egui::pos2(2.0 * W as f32, 0.0), cell),
            overlay(&rotated, 10, FlowViewMode::DeformedGrid, 1.0),
        ),
        // More overlays than the uniform buffer first holds, to make it grow mid-frame.
        (
            Rect::from_min_size(egui::pos2(0.0, H as f32), cell),
            overlay(&shifted, 11, FlowViewMode::ColorWheel, 1.0),
        ),
        (
            Rect::from_min_size(egui::pos2(W as f32, H as f32), cell),
            overlay(&rotated, 10, FlowViewMode::Arrows, 0.5),
        ),
    ];
    let mut harness = gpu_harness(egui::vec2(3.0 * cell.x, 2.0 * cell.y), overlays.clone());
    let image = render(&mut harness);
    for (i, (rect, o)) in overlays.iter().enumerate() {
        let (w, h, gpu) = crop(&image, *rect);
        let cpu = composite(&render_flow_overlay_cpu(&o.flow, o.mode, o.opacity, [w, h]));
        assert_close(&format!("multi_{i}"), &gpu, &cpu, w, h);
    }
    let renderer = harness
        .state()
        .render_state
        .as_ref()
        .unwrap()
        .renderer
        .read();
    let flows = renderer
        .callback_resources
        .get::<FlowViewRenderer>()
        .unwrap();
    assert_eq!(flows.uploads(), 2, "one upload per flow id");
}

#[test]
fn flows_are_uploaded_once_per_id() {
    let flow = Arc::new(rotation(5.0));
    let rect = Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(W as f32, H as f32));
    let mut harness = gpu_harness(
        rect.size(),
        vec![(rect, overlay(&flow, 7, FlowViewMode::ColorWheel, 1.0))],
    );
    let uploads = |h: &Harness<'_, OverlayApp>| {
        let state = h.state().render_state.as_ref().unwrap();
        let renderer = state.renderer.read();
        renderer
            .callback_resources
            .get::<FlowViewRenderer>()
            .unwrap()
            .uploads()
    };
    let first = render(&mut harness);
    // Another frame, another mode and opacity, same flow: no upload.
    harness.state_mut().overlays[0].1.mode = FlowViewMode::Arrows;
    harness.state_mut().overlays[0].1.opacity = 0.5;
    harness.step();
    render(&mut harness);
    assert_eq!(uploads(&harness), 1);
    // A new result: uploaded, and drawn from the new data.
    let shifted = Arc::new(uniform([3.0, 0.0]));
    harness.state_mut().overlays[0].1 = overlay(&shifted, 8, FlowViewMode::ColorWheel, 1.0);
    harness.step();
    let second = render(&mut harness);
    assert_eq!(uploads(&harness), 2);
    assert_ne!(first, second);
    let red = second.get_pixel(50, 50).0;
    assert_eq!(
        &red[..3],
        &[255, 0, 0],
        "a right shift at full scale is pure red"
    );
}

#[test]
fn cpu_path_through_egui_matches_the_reference() {
    // The glow fallback draws the CPU picture as a texture; drawn here by egui's wgpu renderer
    // at 1:1 it must be the CPU picture (up to the tint's rounding).
    let flow = Arc::new(rotation(10.0));
    let rect = Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(W as f32, H as f32));
    for mode in FlowViewMode::ALL {
        let mut harness = gpu_harness(rect.size(), vec![(rect, overlay(&flow, 3, mode, 0.75))]);
        harness.state_mut().path = Some(FlowRenderPath::Cpu);
        harness.step();
        let image = render(&mut harness);
        let (w, h, drawn) = crop(&image, rect);
        let cpu = composite(&render_flow_overlay_cpu(&flow, mode, 0.75, [w, h]));
        assert_close(&format!("cpu_path_{mode:?}"), &drawn, &cpu, w, h);
    }
}

#[test]
fn snapshots() {
    // Reference pictures of each mode at the network's size (tests/snapshots);
    // UPDATE_SNAPSHOTS=1 rewrites them.
    let flow = Arc::new(rotation(10.0));
    let size = egui::vec2(W as f32, H as f32);
    let rect = Rect::from_min_size(egui::Pos2::ZERO, size);
    let mut harness = gpu_harness(
        size,
        vec![(rect, overlay(&flow, 1, FlowViewMode::ColorWheel, 0.85))],
    );
    for mode in FlowViewMode::ALL {
        harness.state_mut().overlays[0].1.mode = mode;
        harness.run();
        harness.snapshot(format!("flow_view_{mode:?}").to_lowercase());
    }
}

// ---------------------------------------------------------------------------------------------
// CPU reference: sanity of the pictures themselves.

fn grid_tensor(flow: &FlowField) -> Tensor {
    let plane = flow.width * flow.height;
    let mut data = vec![0f32; 2 * plane];
    for (i, g) in flow.grid.iter().enumerate() {
        data[i] = g[0];
        data[plane + i] = g[1];
    }
    Tensor::from_vec(data, (1, 2, flow.height, flow.width), &Device::Cpu).unwrap()
}

#[test]
fn cpu_wheel_is_the_pipeline_colour_wheel() {
    let flow = rotation(10.0);
    let tensor = grid_tensor(&flow);
    assert_eq!(FlowField::from_tensor(&tensor).unwrap(), flow);
    let (expected, scale) = flow_to_color(&tensor, None).unwrap();
    assert!((scale - flow.motion_scale()).abs() < 1e-4);
    let drawn = render_flow_overlay_cpu(&flow, FlowViewMode::ColorWheel, 1.0, [W, H]);
    let mut worst = 0;
    for (p, e) in drawn.pixels.iter().zip(expected.pixels()) {
        assert_eq!(p.a(), 255);
        for (c, ec) in [p.r(), p.g(), p.b()].iter().zip(e.0) {
            worst = worst.max(c.abs_diff(ec));
        }
    }
    // Bilinear sampling at the texel centres reproduces the texels up to float rounding.
    assert!(worst <= 1, "differs from flow_to_color by {worst} levels");
}

#[test]
fn uniform_right_shift_is_one_hue_everywhere() {
    let flow = uniform([2.5, 0.0]);
    assert!((flow.motion_scale() - 2.5).abs() < 1e-3);
    let drawn = render_flow_overlay_cpu(&flow, FlowViewMode::ColorWheel, 1.0, [150, 200]);
    assert!(drawn
        .pixels
        .iter()
        .all(|p| *p == Color32::from_rgb(255, 0, 0)));
}

#[test]
fn zero_flow_is_white_or_empty() {
    let flow = FlowField::identity(W, H).unwrap();
    let wheel = render_flow_overlay_cpu(&flow, FlowViewMode::ColorWheel, 1.0, [W, H]);
    assert!(wheel.pixels.iter().all(|p| *p == Color32::WHITE));
    let arrows = render_flow_overlay_cpu(&flow, FlowViewMode::Arrows, 1.0, [W, H]);
    assert!(arrows.pixels.iter().all(|p| *p == Color32::TRANSPARENT));
    // The grid of an identity flow is the regular lattice: lines at x = 6, 18, ..., 186 and
    // y = 8, 20, ..., 248 in image units (pixel i spans [i, i + 1]).
    let grid = render_flow_overlay_cpu(&flow, FlowViewMode::DeformedGrid, 1.0, [W, H]);
    let alpha = |x: usize, y: usize| grid.pixels[y * W + x].a();
    let row = 14; // between the horizontal lines at 8 and 20
    assert!(
        alpha(5, row) > 200 && alpha(6, row) > 200,
        "no line at x = 6"
    );
    assert_eq!(alpha(11, row), 0, "a line between x = 6 and x = 18");
    assert!(
        alpha(17, row) > 200 && alpha(18, row) > 200,
        "no line at x = 18"
    );
    assert!(alpha(11, 7) > 200 && alpha(11, 8) > 200, "no line at y = 8");
    // The grid ends at its outermost lines.
    assert_eq!(alpha(11, 2), 0, "a line above the first row of the lattice");
}

/// Sum of coverage in the left and right halves of each lattice cell, over all cells.
fn arrow_halves(image: &ColorImage) -> (u64, u64) {
    let (mut left, mut right) = (0u64, 0u64);
    for y in 0..image.size[1] {
        for x in 0..image.size[0] {
            let a = image.pixels[y * image.size[0] + x].a() as u64;
            // Cells are 12 px wide starting at x = 0 (192 = 16 * 12) at this size.
            if x % 12 < 6 {
                left += a;
            } else {
                right += a;
            }
        }
    }
    (left, right)
}

#[test]
fn arrows_point_along_the_motion() {
    // The head's two barbs put more ink at the tip end of each arrow.
    let right = render_flow_overlay_cpu(&uniform([3.0, 0.0]), FlowViewMode::Arrows, 1.0, [W, H]);
    let (l, r) = arrow_halves(&right);
    assert!(r > l + l / 10, "right shift: left {l}, right {r}");
    let left = render_flow_overlay_cpu(&uniform([-3.0, 0.0]), FlowViewMode::Arrows, 1.0, [W, H]);
    let (l, r) = arrow_halves(&left);
    assert!(l > r + r / 10, "left shift: left {l}, right {r}");
    // A right shift's arrows are drawn in the wheel's colour for that direction: red.
    let reddest = right
        .pixels
        .iter()
        .filter(|p| p.a() == 255)
        .all(|p| p.r() == 255 && p.g() == 0 && p.b() == 0);
    assert!(reddest);
}

#[test]
fn malformed_flows_do_not_panic() {
    let broken = FlowField {
        width: 10,
        height: 10,
        grid: vec![[0.0, 0.0]; 7],
    };
    assert!(broken.check().is_err());
    let image = render_flow_overlay_cpu(&broken, FlowViewMode::Arrows, 1.0, [20, 20]);
    assert!(image.pixels.iter().all(|p| *p == Color32::TRANSPARENT));
    assert!(FlowField::new(0, 5, Vec::new()).is_err());
    let wrong_shape = Tensor::zeros((1, 3, 4, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(FlowField::from_tensor(&wrong_shape).is_err());
    // Odd opacities and sizes are clamped, not trusted.
    let flow = uniform([1.0, 1.0]);
    let image = render_flow_overlay_cpu(&flow, FlowViewMode::ColorWheel, f32::NAN, [3, 2]);
    assert!(image.pixels.iter().all(|p| *p == Color32::TRANSPARENT));
    let image = render_flow_overlay_cpu(&flow, FlowViewMode::ColorWheel, 1.0, [0, 0]);
    assert!(image.pixels.is_empty());
}

#[test]
fn legend_draws() {
    use egui_kittest::kittest::Queryable;
    let mut harness = Harness::builder()
        .with_size(egui::vec2(180.0, 64.0))
        .wgpu()
        .build_ui(|ui| flow_view::flow_legend(ui, 12.5));
    harness.run();
    harness.get_by_label_contains("full at 12.5 px");
    harness.snapshot("flow_legend");
}
