//! The result panel: the try-on and its debug views (warped garment and masks, the appearance
//! flow as a colour wheel, arrows and a deformed grid over the person, a before/after slider).

use std::sync::Arc;
use std::time::Instant;

use super::flow_view::{self, FlowField, FlowOverlay, FlowViewMode};
use super::jobs::{gray_to_color_image, to_color_image};
use super::worker::{ModelStatus, ResultKey};
use super::FittingRoomApp;
use crate::pipeline::TryOnImages;

/// What the central view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ResultView {
    TryOn,
    BeforeAfter,
    WarpedGarment,
    WarpedMask,
    CompositeMask,
    Rendered,
    FlowColour,
    FlowArrows,
    FlowGrid,
}

impl ResultView {
    pub const ALL: [ResultView; 9] = [
        ResultView::TryOn,
        ResultView::BeforeAfter,
        ResultView::WarpedGarment,
        ResultView::WarpedMask,
        ResultView::CompositeMask,
        ResultView::Rendered,
        ResultView::FlowColour,
        ResultView::FlowArrows,
        ResultView::FlowGrid,
    ];

    /// The name on the command line (`--view`).
    pub fn name(self) -> &'static str {
        match self {
            ResultView::TryOn => "try-on",
            ResultView::BeforeAfter => "before-after",
            ResultView::WarpedGarment => "warped-garment",
            ResultView::WarpedMask => "warped-mask",
            ResultView::CompositeMask => "composition-mask",
            ResultView::Rendered => "rendered",
            ResultView::FlowColour => "flow-colour",
            ResultView::FlowArrows => "flow-arrows",
            ResultView::FlowGrid => "flow-grid",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ResultView::TryOn => "Try-on",
            ResultView::BeforeAfter => "Before/after",
            ResultView::WarpedGarment => "Warped garment",
            ResultView::WarpedMask => "Warped mask",
            ResultView::CompositeMask => "Composition mask",
            ResultView::Rendered => "Rendered person",
            ResultView::FlowColour => "Flow: colour",
            ResultView::FlowArrows => "Flow: arrows",
            ResultView::FlowGrid => "Flow: grid",
        }
    }

    pub fn tooltip(self) -> &'static str {
        match self {
            ResultView::TryOn => "The person wearing the garment",
            ResultView::BeforeAfter => "Drag the divider to compare the photo and the try-on",
            ResultView::WarpedGarment => "The garment after the appearance flow moved its pixels",
            ResultView::WarpedMask => "The garment's mask, warped the same way",
            ResultView::CompositeMask => {
                "Where the generator pastes the warped garment (white) over its rendered person"
            }
            ResultView::Rendered => "The generator's own rendering, before the garment is pasted",
            ResultView::FlowColour => {
                "For each pixel: where its garment colour was taken from (see the legend)"
            }
            ResultView::FlowArrows => "The appearance flow as arrows over the person",
            ResultView::FlowGrid => "A regular grid on the garment, as the flow deforms it",
        }
    }

    fn flow_mode(self) -> Option<FlowViewMode> {
        match self {
            ResultView::FlowColour => Some(FlowViewMode::ColorWheel),
            ResultView::FlowArrows => Some(FlowViewMode::Arrows),
            ResultView::FlowGrid => Some(FlowViewMode::DeformedGrid),
            _ => None,
        }
    }
}

impl std::str::FromStr for ResultView {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResultView::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = ResultView::ALL.iter().map(|v| v.name()).collect();
                format!("unknown view `{s}`; use one of {}", names.join(", "))
            })
    }
}

struct Shown {
    key: ResultKey,
    images: Arc<TryOnImages>,
    live: bool,
    flow: Arc<FlowField>,
    flow_id: u64,
    textures: Textures,
}

#[derive(Default)]
struct Textures {
    result: Option<egui::TextureHandle>,
    hires: Option<egui::TextureHandle>,
    person: Option<egui::TextureHandle>,
    warped_garment: Option<egui::TextureHandle>,
    warped_mask: Option<egui::TextureHandle>,
    composite_mask: Option<egui::TextureHandle>,
    rendered: Option<egui::TextureHandle>,
}

#[derive(Default)]
pub struct ResultState {
    shown: Option<Shown>,
    next_flow_id: u64,
    /// Completed live try-ons, for the frames-per-second readout.
    live_times: std::collections::VecDeque<Instant>,
}

impl ResultState {
    pub fn show(
        &mut self,
        _ctx: &egui::Context,
        key: ResultKey,
        images: Arc<TryOnImages>,
        live: bool,
    ) {
        let flow = match FlowField::from_tensor(&images.flow) {
            Ok(flow) => Arc::new(flow),
            Err(e) => {
                log::warn!("flow unreadable: {e}");
                match FlowField::identity(192, 256) {
                    Ok(identity) => Arc::new(identity),
                    Err(_) => return,
                }
            }
        };
        self.next_flow_id += 1;
        if !live && self.shown.as_ref().map(|s| &s.key) != Some(&key) {
            log::info!(
                "try-on shown: person {} in `{}` ({:.0} ms in the network)",
                key.person,
                key.garment,
                images.network_time.as_secs_f64() * 1e3
            );
        }
        if live {
            self.live_times.push_back(Instant::now());
            while self.live_times.len() > 30 {
                self.live_times.pop_front();
            }
        }
        self.shown = Some(Shown {
            key,
            images,
            live,
            flow,
            flow_id: self.next_flow_id,
            textures: Textures::default(),
        });
    }

    pub fn clear_shown(&mut self) {
        self.shown = None;
    }

    pub fn shown_key(&self) -> Option<&ResultKey> {
        self.shown.as_ref().filter(|s| !s.live).map(|s| &s.key)
    }

    pub fn shown_images(&self) -> Option<&Arc<TryOnImages>> {
        self.shown.as_ref().map(|s| &s.images)
    }

    pub fn shown_flow(&self) -> Option<(&Arc<FlowField>, u64)> {
        self.shown.as_ref().map(|s| (&s.flow, s.flow_id))
    }

    /// Live try-ons completed per second over the last few.
    pub fn live_fps(&self) -> Option<f32> {
        let (first, last) = (self.live_times.front()?, self.live_times.back()?);
        let span = last.duration_since(*first).as_secs_f32();
        (self.live_times.len() >= 2 && span > 0.0)
            .then(|| (self.live_times.len() - 1) as f32 / span)
    }
}

fn texture<'a>(
    ctx: &egui::Context,
    slot: &'a mut Option<egui::TextureHandle>,
    name: &str,
    make: impl FnOnce() -> egui::ColorImage,
) -> &'a egui::TextureHandle {
    slot.get_or_insert_with(|| ctx.load_texture(name, make(), egui::TextureOptions::LINEAR))
}

pub fn show(app: &mut FittingRoomApp, ui: &mut egui::Ui) {
    if let (Some(garment), Some(person)) = (&app.garment, &app.person) {
        let photo = match &person.origin {
            super::jobs::PhotoOrigin::File(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            super::jobs::PhotoOrigin::Camera(name) => format!("snapshot from {name}"),
        };
        ui.strong(format!("{} on {photo}", garment.name));
    }
    ui.horizontal_wrapped(|ui| {
        for view in ResultView::ALL {
            let response = ui
                .selectable_label(app.settings.view == view, view.label())
                .on_hover_text(view.tooltip());
            if response.clicked() {
                app.settings.view = view;
            }
        }
    });
    ui.horizontal(|ui| {
        let view = app.settings.view;
        if view.flow_mode().is_some() || view == ResultView::CompositeMask {
            ui.add(
                egui::Slider::new(&mut app.settings.overlay_opacity, 0.0..=1.0)
                    .text("Overlay opacity"),
            );
        }
        let mut hires = app.settings.hires;
        if ui
            .checkbox(&mut hires, "High resolution")
            .on_hover_text("Compose the result at the photo's own resolution (slower)")
            .changed()
        {
            app.set_hires(hires);
        }
        if let Some((_, started)) = &app.running {
            ui.spinner();
            ui.label(format!(
                "Trying on… {:.1} s",
                started.elapsed().as_secs_f32()
            ));
        }
    });
    ui.separator();

    let ctx = ui.ctx().clone();
    let Some(shown) = app.result.shown.as_mut() else {
        empty_state(app, ui);
        return;
    };
    let view = app.settings.view;
    let available = ui.available_rect_before_wrap();
    let mut rect = fit_rect(available, 3.0 / 4.0);
    if view == ResultView::FlowColour {
        // The picture keeps its size in every view; it moves left to give the flow legend
        // (flow_view::flow_legend) the whole spare width on its right.
        rect = rect.translate(egui::vec2(available.left() - rect.left(), 0.0));
    }
    app.result_rect = Some(rect);
    let images = shown.images.clone();
    let full_uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
    let response = ui.allocate_rect(rect, egui::Sense::click_and_drag());
    let painter = ui.painter_at(rect);
    let textures = &mut shown.textures;
    let person = texture(&ctx, &mut textures.person, "person", || {
        to_color_image(&images.person)
    })
    .clone();
    let result = if app.settings.hires && images.hires.is_some() {
        texture(&ctx, &mut textures.hires, "hires", || {
            to_color_image(images.hires.as_ref().expect("checked"))
        })
        .clone()
    } else {
        texture(&ctx, &mut textures.result, "result", || {
            to_color_image(&images.result)
        })
        .clone()
    };
    let white = egui::Color32::WHITE;
    match view {
        ResultView::TryOn => {
            painter.image(result.id(), rect, full_uv, white);
        }
        ResultView::BeforeAfter => {
            if response.dragged() || response.clicked() {
                if let Some(pos) = response.interact_pointer_pos() {
                    app.settings.split = ((pos.x - rect.left()) / rect.width()).clamp(0.0, 1.0);
                }
            }
            let split = app.settings.split;
            let x = rect.left() + split * rect.width();
            let left = egui::Rect::from_min_max(rect.min, egui::pos2(x, rect.max.y));
            let right = egui::Rect::from_min_max(egui::pos2(x, rect.min.y), rect.max);
            let uv_left = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(split, 1.0));
            let uv_right = egui::Rect::from_min_max(egui::pos2(split, 0.0), egui::pos2(1.0, 1.0));
            painter.image(person.id(), left, uv_left, white);
            painter.image(result.id(), right, uv_right, white);
            painter.line_segment(
                [egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())],
                egui::Stroke::new(2.0, white),
            );
            painter.circle_filled(egui::pos2(x, rect.center().y), 8.0, white);
            painter.text(
                rect.left_top() + egui::vec2(6.0, 4.0),
                egui::Align2::LEFT_TOP,
                "before",
                egui::FontId::proportional(14.0),
                white,
            );
            painter.text(
                rect.right_top() + egui::vec2(-6.0, 4.0),
                egui::Align2::RIGHT_TOP,
                "after",
                egui::FontId::proportional(14.0),
                white,
            );
            response.on_hover_cursor(egui::CursorIcon::ResizeHorizontal);
        }
        ResultView::WarpedGarment => {
            let t = texture(&ctx, &mut textures.warped_garment, "warped", || {
                to_color_image(&images.warped_garment)
            });
            painter.image(t.id(), rect, full_uv, white);
        }
        ResultView::WarpedMask => {
            let t = texture(&ctx, &mut textures.warped_mask, "warped-mask", || {
                gray_to_color_image(&images.warped_mask)
            });
            painter.image(t.id(), rect, full_uv, white);
        }
        ResultView::CompositeMask => {
            painter.image(person.id(), rect, full_uv, white);
            let t = texture(&ctx, &mut textures.composite_mask, "composite", || {
                mask_tint(&images.composite_mask)
            });
            let alpha = (app.settings.overlay_opacity * 255.0).round() as u8;
            painter.image(
                t.id(),
                rect,
                full_uv,
                egui::Color32::from_white_alpha(alpha),
            );
        }
        ResultView::Rendered => {
            let t = texture(&ctx, &mut textures.rendered, "rendered", || {
                to_color_image(&images.rendered)
            });
            painter.image(t.id(), rect, full_uv, white);
        }
        ResultView::FlowColour | ResultView::FlowArrows | ResultView::FlowGrid => {
            painter.image(person.id(), rect, full_uv, white);
            let overlay = FlowOverlay::new(
                shown.flow.clone(),
                shown.flow_id,
                view.flow_mode().unwrap_or_default(),
                app.settings.overlay_opacity,
            );
            flow_view::paint_flow_overlay(ui, rect, &overlay);
        }
    }
    if view == ResultView::FlowColour {
        let legend = egui::Rect::from_min_max(
            egui::pos2(rect.right() + 8.0, rect.top()),
            egui::pos2(available.right(), rect.bottom()),
        );
        let scale = shown.flow.motion_scale();
        ui.scope_builder(egui::UiBuilder::new().max_rect(legend), |ui| {
            flow_view::flow_legend(ui, scale);
        });
    }
    if shown.live {
        let caption = match app.result.live_fps() {
            Some(fps) => format!("Live · {fps:.1} try-ons/s"),
            None => "Live".to_string(),
        };
        ui.painter().text(
            rect.left_bottom() + egui::vec2(6.0, -6.0),
            egui::Align2::LEFT_BOTTOM,
            caption,
            egui::FontId::proportional(14.0),
            egui::Color32::WHITE,
        );
    }
}

/// The composition mask as a translucent colour over the person.
fn mask_tint(mask: &image::GrayImage) -> egui::ColorImage {
    let pixels = mask
        .pixels()
        .map(|p| {
            let a = p.0[0];
            egui::Color32::from_rgba_unmultiplied(255, 40, 160, a)
        })
        .collect();
    egui::ColorImage::new([mask.width() as usize, mask.height() as usize], pixels)
}

/// The largest rectangle of aspect `width / height` centred in `area`.
pub fn fit_rect(area: egui::Rect, aspect: f32) -> egui::Rect {
    let (w, h) = (area.width().max(1.0), area.height().max(1.0));
    let size = if w / h > aspect {
        egui::vec2(h * aspect, h)
    } else {
        egui::vec2(w, w / aspect)
    };
    egui::Rect::from_center_size(area.center(), size)
}

fn empty_state(app: &FittingRoomApp, ui: &mut egui::Ui) {
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() * 0.3);
        match &app.model {
            ModelStatus::Missing(text) => {
                ui.heading("No model");
                ui.label(text);
            }
            ModelStatus::Failed(text) => {
                ui.heading("The model could not be loaded");
                ui.label(text);
            }
            ModelStatus::Loading(_) => {
                ui.spinner();
                ui.label("Loading the model…");
            }
            ModelStatus::Ready(_) => {
                if app.running.is_some() {
                    ui.spinner();
                    ui.label("Trying on…");
                } else {
                    ui.heading("Fitting Room");
                    ui.label(app.hint());
                }
            }
        }
    });
}
