//! The desktop app: wardrobe, capture, try-on result with flow views, export.
//!
//! The try-on itself lives in a [`session::TryOnSession`] with no egui in it: person, garment,
//! options, result cache and the inference [`worker`]. Panels draw what they are given and own
//! only their UI state: the wardrobe on the left ([`wardrobe_panel`]), capture on the right
//! ([`capture_panel`]), the result in the middle ([`result_panel`]), the menu bar ([`menu`]) and
//! the status bar ([`status`]). They return [`Command`]s that [`FittingRoomApp::apply`] carries
//! out in one place ([`logic`]). Everything slow runs off the UI thread: the network on the
//! worker, dialogs and disk I/O as [`jobs`]. `docs/ARCHITECTURE.md` has the map.

pub mod camera;
pub mod capture_panel;
pub mod command;
pub mod crop_editor;
pub mod export;
pub mod flow_view;
pub mod jobs;
pub mod launch;
mod logic;
pub mod mask_editor;
pub mod menu;
pub mod result_panel;
pub mod session;
pub mod status;
pub mod wardrobe_panel;
pub mod wardrobe_store;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::capture::{CameraBackend, NokhwaBackend};
use crate::engine::DeviceChoice;
use crate::wardrobe::{default_user_dir, BUNDLED_WARDROBE};

use camera::CaptureState;
use capture_panel::{capture_ui, CaptureView};
use jobs::Jobs;
use mask_editor::{mask_editor_ui, MaskEditor};
use menu::{menu_bar_ui, model_info_ui, MenuView};
use result_panel::{result_ui, ResultPanelView, ResultState, ResultView};
use session::TryOnSession;
use status::{status_bar_ui, Notices};
use wardrobe_panel::{wardrobe_ui, WardrobeState, WardrobeView};
use wardrobe_store::WardrobeStore;
use worker::ModelSource;

pub use command::Command;
pub use launch::run_app;

/// How the app starts (from the command line, or from tests).
#[derive(Clone)]
pub struct StartOptions {
    /// A person photo to open.
    pub person: Option<PathBuf>,
    /// A garment photo to try on (its mask is computed).
    pub garment: Option<PathBuf>,
    /// A model folder instead of the default model.
    pub model: Option<PathBuf>,
    pub device: DeviceChoice,
    /// The bundled wardrobe (default: looked up next to the program).
    pub wardrobe_dir: Option<PathBuf>,
    /// Where user garments and edits live (default: the platform's data folder).
    pub user_dir: Option<PathBuf>,
    /// Webcams (tests pass a synthetic backend).
    pub cameras: Arc<dyn CameraBackend>,
    /// The result view to start in (else the one used last).
    pub view: Option<ResultView>,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self {
            person: None,
            garment: None,
            model: None,
            device: DeviceChoice::Auto,
            wardrobe_dir: None,
            user_dir: None,
            cameras: Arc::new(NokhwaBackend::new()),
            view: None,
        }
    }
}

/// Settings kept between runs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    pub view: ResultView,
    pub overlay_opacity: f32,
    pub split: f32,
    pub hires: bool,
    pub device: String,
    pub model_folder: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            view: ResultView::TryOn,
            overlay_opacity: 0.7,
            split: 0.5,
            hires: true,
            device: "auto".into(),
            model_folder: None,
        }
    }
}

const SETTINGS_KEY: &str = "fitting-room-settings";

pub struct FittingRoomApp {
    ctx: egui::Context,
    settings: Settings,
    jobs: Jobs,
    session: TryOnSession,
    store: WardrobeStore,
    // The panels' own state.
    wardrobe: WardrobeState,
    capture: CaptureState,
    result: ResultState,
    mask_editor: Option<MaskEditor>,
    notices: Notices,
    show_model_info: bool,
    uses_wgpu: bool,
    /// Where the wardrobe panel was drawn in the last frame (files dropped there are garments).
    wardrobe_rect: Option<egui::Rect>,
}

impl FittingRoomApp {
    /// Builds the app inside eframe (or an egui_kittest harness).
    pub fn new(cc: &eframe::CreationContext<'_>, options: StartOptions) -> Self {
        let ctx = cc.egui_ctx.clone();
        egui_extras::install_image_loaders(&ctx);
        let mut settings: Settings = cc
            .storage
            .and_then(|s| eframe::get_value(s, SETTINGS_KEY))
            .unwrap_or_default();
        if let Some(view) = options.view {
            settings.view = view;
        }
        let uses_wgpu = flow_view::install(cc) == flow_view::FlowRenderPath::Gpu;
        if !uses_wgpu {
            log::info!("flow views are drawn on the CPU (no wgpu renderer)");
        }
        let device = if options.device != DeviceChoice::Auto {
            options.device
        } else {
            settings.device.parse().unwrap_or_default()
        };
        let source = match (&options.model, &settings.model_folder) {
            (Some(dir), _) => ModelSource::Folder(dir.clone()),
            (None, Some(dir)) if dir.is_dir() => ModelSource::Folder(dir.clone()),
            _ => ModelSource::Default,
        };
        let notify_ctx = ctx.clone();
        let session = TryOnSession::new(
            Arc::new(move || notify_ctx.request_repaint()),
            source,
            device,
            settings.hires,
        );

        let jobs = Jobs::new(ctx.clone());
        let bundled = match options.wardrobe_dir.clone() {
            Some(dir) => Some(dir),
            None => BUNDLED_WARDROBE
                .find(Path::is_dir)
                .inspect_err(|e| log::warn!("{e}"))
                .ok(),
        };
        if let Some(dir) = &bundled {
            log::info!("bundled wardrobe: {}", dir.display());
        }
        let user_dir = options.user_dir.clone().or_else(default_user_dir);
        let store = WardrobeStore::open(&jobs, bundled.clone(), user_dir);
        let capture = CaptureState::new(options.cameras.clone(), &jobs, bundled.as_deref());

        let mut app = Self {
            ctx,
            settings,
            jobs,
            session,
            store,
            wardrobe: WardrobeState::default(),
            capture,
            result: ResultState::default(),
            mask_editor: None,
            notices: Notices::default(),
            show_model_info: false,
            uses_wgpu,
            wardrobe_rect: None,
        };
        if let Some(path) = options.person {
            app.apply(Command::OpenPhoto(path));
        }
        if let Some(path) = options.garment {
            app.apply(Command::OpenGarmentFile(path));
        }
        app
    }

    /// The try-on session: person, garment, model, results.
    pub fn session(&self) -> &TryOnSession {
        &self.session
    }

    /// Shows try-on pictures computed elsewhere (a saved result, or a test's known flow) as the
    /// result of the current inputs.
    pub fn session_mut(&mut self) -> &mut TryOnSession {
        &mut self.session
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The wardrobe as the panel shows it.
    pub fn wardrobe(&self) -> &WardrobeState {
        &self.wardrobe
    }

    /// The capture panel's state: cameras, stream, newest frame.
    pub fn capture(&self) -> &CaptureState {
        &self.capture
    }

    /// The messages in the status bar.
    pub fn notices(&self) -> &Notices {
        &self.notices
    }
}

impl eframe::App for FittingRoomApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.logic(&ctx);

        let mut commands = Vec::new();
        let session = &self.session;
        egui::Panel::top("menu").show(ui, |ui| {
            let view = MenuView {
                has_result: session.shown().is_some(),
                device: session.device(),
                model: session.model(),
                last_time: session.last_time(),
            };
            commands.extend(menu_bar_ui(ui, &view));
        });
        egui::Panel::bottom("status").show(ui, |ui| {
            commands.extend(status_bar_ui(ui, &mut self.notices, session.hint()));
        });
        let wardrobe = egui::Panel::left("wardrobe")
            .resizable(true)
            .default_size(280.0)
            .min_size(200.0)
            .show(ui, |ui| {
                let view = WardrobeView {
                    garment: session.garment(),
                };
                commands.extend(wardrobe_ui(ui, &mut self.wardrobe, &view));
            });
        self.wardrobe_rect = Some(wardrobe.response.rect);
        egui::Panel::right("capture")
            .resizable(true)
            .default_size(320.0)
            .min_size(240.0)
            .show(ui, |ui| {
                let view = CaptureView {
                    person: session.person(),
                    live_ready: session.live_ready(),
                    live_framing: session.live_framing(),
                };
                commands.extend(capture_ui(ui, &mut self.capture, &view));
            });
        egui::CentralPanel::default().show(ui, |ui| {
            let heading = match (session.garment(), session.person()) {
                (Some(garment), Some(person)) => {
                    Some(format!("{} on {}", garment.name, person.origin.describe()))
                }
                _ => None,
            };
            let view = ResultPanelView {
                shown: session.shown(),
                view: self.settings.view,
                overlay_opacity: self.settings.overlay_opacity,
                split: self.settings.split,
                hires: session.hires(),
                heading,
                running_since: session.running_since(),
                model: session.model(),
                hint: session.hint(),
                live_fps: session.live_fps(),
            };
            commands.extend(result_ui(ui, &mut self.result, &view));
        });
        commands.extend(model_info_ui(
            &ctx,
            self.show_model_info,
            session.model(),
            self.uses_wgpu,
        ));
        if let Some(editor) = &mut self.mask_editor {
            commands.extend(mask_editor_ui(&ctx, editor));
        }
        let busy = session.running_since().is_some() || self.capture.is_streaming();
        for command in commands {
            self.apply(command);
        }
        if busy {
            ctx.request_repaint_after(Duration::from_millis(100));
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.settings.hires = self.session.hires();
        eframe::set_value(storage, SETTINGS_KEY, &self.settings);
    }
}
