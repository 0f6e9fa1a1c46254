//! Drawing the overlays in egui: choosing the GPU or the CPU path, the CPU textures' cache, and
//! the colour wheel's legend.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use eframe::egui::{self, Color32, Rect, TextureHandle, TextureOptions};
use eframe::egui_wgpu;

use super::gpu::{register_with_target, FlowCallback, FlowViewTarget, NEXT_CALLBACK_KEY};
use super::palette::legend_wheel;
use super::*;

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
