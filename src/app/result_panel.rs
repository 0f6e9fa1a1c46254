//! The result panel: the try-on and its debug views (warped garment and masks, the appearance
//! flow as a colour wheel, arrows and a deformed grid over the person, a before/after slider).

use std::sync::Arc;
use std::time::Instant;

use super::command::Command;
use super::flow_view::{self, FlowField, FlowOverlay, FlowViewMode};
use super::jobs::{gray_to_color_image, to_color_image};
use super::session::Shown;
use super::worker::ModelStatus;

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

/// The pictures of the result on screen, uploaded once per result.
struct ShownTextures {
    /// [`Shown::serial`] of the result they belong to.
    serial: u64,
    flow: Arc<FlowField>,
    textures: Textures,
}

#[derive(Default)]
struct Textures {
    result: Option<egui::TextureHandle>,
    hires: Option<egui::TextureHandle>,
    pasted: Option<egui::TextureHandle>,
    person: Option<egui::TextureHandle>,
    warped_garment: Option<egui::TextureHandle>,
    warped_mask: Option<egui::TextureHandle>,
    composite_mask: Option<egui::TextureHandle>,
    rendered: Option<egui::TextureHandle>,
}

/// The panel's own state: textures of the result on screen.
#[derive(Default)]
pub struct ResultState {
    shown: Option<ShownTextures>,
}

impl ResultState {
    /// The textures of `shown`, made anew when another result is shown.
    fn for_shown(&mut self, shown: &Shown) -> Option<&mut ShownTextures> {
        if self.shown.as_ref().map(|s| s.serial) != Some(shown.serial) {
            let flow = FlowField::from_tensor(&shown.images.flow)
                .or_else(|e| {
                    log::warn!("flow unreadable: {e}");
                    FlowField::identity(192, 256)
                })
                .ok()?;
            self.shown = Some(ShownTextures {
                serial: shown.serial,
                flow: Arc::new(flow),
                textures: Textures::default(),
            });
        }
        self.shown.as_mut()
    }
}

/// What the result panel shows.
pub struct ResultPanelView<'a> {
    pub shown: Option<&'a Shown>,
    pub view: ResultView,
    pub overlay_opacity: f32,
    pub split: f32,
    pub hires: bool,
    /// "garment on photo", when both are chosen.
    pub heading: Option<String>,
    pub running_since: Option<Instant>,
    pub model: &'a ModelStatus,
    pub hint: &'a str,
    pub live_fps: Option<f32>,
}

/// Said beside the result of a dim photo (see `pipeline::Exposure`).
pub const DIM_PHOTO: &str = "Dim photo: garment shaded to its light";

/// The label of the result picture (for accessibility, and for tests to find it).
pub const RESULT_PICTURE: &str = "Try-on picture";

fn texture<'a>(
    ctx: &egui::Context,
    slot: &'a mut Option<egui::TextureHandle>,
    name: &str,
    make: impl FnOnce() -> egui::ColorImage,
) -> &'a egui::TextureHandle {
    slot.get_or_insert_with(|| ctx.load_texture(name, make(), egui::TextureOptions::LINEAR))
}

/// The result panel: view picker, options, and the result in the chosen view.
pub fn result_ui(ui: &mut egui::Ui, state: &mut ResultState, v: &ResultPanelView) -> Vec<Command> {
    let mut commands = Vec::new();
    if let Some(heading) = &v.heading {
        ui.strong(heading);
    }
    ui.horizontal_wrapped(|ui| {
        for view in ResultView::ALL {
            let response = ui
                .selectable_label(v.view == view, view.label())
                .on_hover_text(view.tooltip());
            if response.clicked() {
                commands.push(Command::SetView(view));
            }
        }
    });
    ui.horizontal(|ui| {
        if v.view.flow_mode().is_some() || v.view == ResultView::CompositeMask {
            let mut opacity = v.overlay_opacity;
            if ui
                .add(egui::Slider::new(&mut opacity, 0.0..=1.0).text("Overlay opacity"))
                .changed()
            {
                commands.push(Command::SetOverlayOpacity(opacity));
            }
        }
        let mut hires = v.hires;
        if ui
            .checkbox(&mut hires, "High resolution")
            .on_hover_text(
                "Show the whole photo at its own resolution, wearing the garment over its own \
                 background (slower)",
            )
            .changed()
        {
            commands.push(Command::SetHires(hires));
        }
        if let Some(exposure) = v
            .shown
            .map(|shown| shown.images.exposure)
            .filter(|e| !e.is_neutral())
        {
            ui.label(DIM_PHOTO).on_hover_text(format!(
                "The photo is darker than the studio photos the network learned from: it saw \
                 the person {:.1}x brighter, and the garment is shaded to the photo's light",
                exposure.gain()
            ));
        }
        if let Some(started) = v.running_since {
            ui.spinner();
            ui.label(format!(
                "Trying on… {:.1} s",
                started.elapsed().as_secs_f32()
            ));
        }
    });
    ui.separator();

    let ctx = ui.ctx().clone();
    let on_screen = match v.shown {
        Some(shown) => state.for_shown(shown),
        None => None,
    };
    let (Some(shown), Some(on_screen)) = (v.shown, on_screen) else {
        empty_state(ui, v);
        return commands;
    };
    let view = v.view;
    let available = ui.available_rect_before_wrap();
    // The try-on at high resolution is the whole photo, wearing the garment over its own
    // background; the other views show the network's 3:4 crop.
    let pasted = shown
        .images
        .pasted
        .as_ref()
        .filter(|_| v.hires && view == ResultView::TryOn);
    let aspect = pasted
        .map(|p| p.width() as f32 / p.height().max(1) as f32)
        .unwrap_or(3.0 / 4.0);
    let mut rect = fit_rect(available, aspect);
    if view == ResultView::FlowColour {
        // The picture keeps its size in every view; it moves left to give the flow legend
        // (flow_view::flow_legend) the whole spare width on its right.
        rect = rect.translate(egui::vec2(available.left() - rect.left(), 0.0));
    }
    let images = shown.images.clone();
    let full_uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
    let response = ui.allocate_rect(rect, egui::Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, RESULT_PICTURE));
    let painter = ui.painter_at(rect);
    let textures = &mut on_screen.textures;
    let person = texture(&ctx, &mut textures.person, "person", || {
        to_color_image(&images.person)
    })
    .clone();
    let result = match images.hires.as_ref().filter(|_| v.hires) {
        Some(hires) => {
            texture(&ctx, &mut textures.hires, "hires", || to_color_image(hires)).clone()
        }
        None => texture(&ctx, &mut textures.result, "result", || {
            to_color_image(&images.result)
        })
        .clone(),
    };
    let white = egui::Color32::WHITE;
    match view {
        ResultView::TryOn => {
            let shown = match pasted {
                Some(pasted) => texture(&ctx, &mut textures.pasted, "pasted", || {
                    to_color_image(pasted)
                })
                .clone(),
                None => result,
            };
            painter.image(shown.id(), rect, full_uv, white);
        }
        ResultView::BeforeAfter => {
            let mut split = v.split;
            if response.dragged() || response.clicked() {
                if let Some(pos) = response.interact_pointer_pos() {
                    split = ((pos.x - rect.left()) / rect.width()).clamp(0.0, 1.0);
                    commands.push(Command::SetSplit(split));
                }
            }
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
            let alpha = (v.overlay_opacity * 255.0).round() as u8;
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
                on_screen.flow.clone(),
                shown.serial,
                view.flow_mode().unwrap_or_default(),
                v.overlay_opacity,
            );
            flow_view::paint_flow_overlay(ui, rect, &overlay);
        }
    }
    if view == ResultView::FlowColour {
        let legend = egui::Rect::from_min_max(
            egui::pos2(rect.right() + 8.0, rect.top()),
            egui::pos2(available.right(), rect.bottom()),
        );
        let scale = on_screen.flow.motion_scale();
        ui.scope_builder(egui::UiBuilder::new().max_rect(legend), |ui| {
            flow_view::flow_legend(ui, scale);
        });
    }
    if shown.live {
        let caption = match v.live_fps {
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
    commands
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

fn empty_state(ui: &mut egui::Ui, v: &ResultPanelView) {
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() * 0.3);
        match v.model {
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
                if v.running_since.is_some() {
                    ui.spinner();
                    ui.label("Trying on…");
                } else {
                    ui.heading("Fitting Room");
                    ui.label(v.hint);
                }
            }
        }
    });
}
