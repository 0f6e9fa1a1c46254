//! The desktop app: wardrobe, capture, try-on result with flow views, export.
//!
//! Layout (one file per panel): the wardrobe on the left ([`wardrobe_panel`]), capture on the
//! right ([`capture_panel`]), the result in the middle ([`result_panel`]). Everything slow runs
//! off the UI thread: the network on the [`worker`], dialogs and disk I/O as [`jobs`].

pub mod capture_panel;
pub mod export;
pub mod flow_view;
pub mod jobs;
pub mod launch;
pub mod mask_editor;
pub mod result_panel;
pub mod wardrobe_panel;
pub mod worker;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::RgbImage;

use crate::capture::{CameraBackend, NokhwaBackend};
use crate::engine::DeviceChoice;
use crate::pipeline::{garment_mask, load_rgb, Crop, TryOnImages};
use crate::wardrobe::{default_user_dir, Wardrobe, BUNDLED_WARDROBE};

use capture_panel::CaptureState;
use jobs::{AppEvent, GarmentData, Jobs, PhotoOrigin};
use mask_editor::MaskEditor;
use result_panel::{ResultState, ResultView};
use wardrobe_panel::WardrobeState;
use worker::{InferenceWorker, ModelSource, ModelStatus, ResultKey, TryOnJob, WorkerEvent};

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
            hires: false,
            device: "auto".into(),
            model_folder: None,
        }
    }
}

const SETTINGS_KEY: &str = "fitting-room-settings";

/// The person photo being dressed.
pub struct Person {
    /// Changes with every new photo or snapshot (part of the result cache key).
    pub id: u64,
    pub origin: PhotoOrigin,
    pub photo: Arc<RgbImage>,
    pub crop: Crop,
    pub texture: Option<egui::TextureHandle>,
}

/// A message in the status area.
pub struct Notice {
    pub text: String,
    pub error: bool,
    pub at: Instant,
}

/// Results kept for instant switching back (a few MB each).
const CACHE_CAPACITY: usize = 24;

pub struct FittingRoomApp {
    pub(crate) ctx: egui::Context,
    pub(crate) settings: Settings,
    pub(crate) jobs: Jobs,
    pub(crate) worker: InferenceWorker,
    pub(crate) model: ModelStatus,
    pub(crate) device: DeviceChoice,
    pub(crate) wardrobe: WardrobeState,
    pub(crate) capture: CaptureState,
    pub(crate) result: ResultState,
    pub(crate) mask_editor: Option<MaskEditor>,
    pub(crate) person: Option<Person>,
    pub(crate) garment: Option<GarmentData>,
    /// The garment the user picked last, while it loads.
    pub(crate) wanted_garment: Option<String>,
    pub(crate) cache: VecDeque<(ResultKey, Arc<TryOnImages>)>,
    /// The key of the try-on running now, if any.
    pub(crate) running: Option<(ResultKey, Instant)>,
    pub(crate) notices: Vec<Notice>,
    pub(crate) show_model_info: bool,
    pub(crate) uses_wgpu: bool,
    next_person_id: u64,
    /// Last try-on time, for the status bar.
    pub(crate) last_time: Option<Duration>,
    pub(crate) wardrobe_rect: Option<egui::Rect>,
    /// Bumped when a garment's mask is edited, so its old results are not reused.
    pub(crate) mask_revisions: std::collections::HashMap<String, u64>,
    live_results: u64,
    /// Where the result was drawn in the last frame.
    pub(crate) result_rect: Option<egui::Rect>,
    /// Where the photo with its crop frame was drawn in the last frame.
    pub(crate) crop_editor_rect: Option<egui::Rect>,
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
        let device = if options.device != DeviceChoice::Auto {
            options.device
        } else {
            settings.device.parse().unwrap_or_default()
        };
        let notify_ctx = ctx.clone();
        let worker = InferenceWorker::spawn(Arc::new(move || notify_ctx.request_repaint()));
        let source = match (&options.model, &settings.model_folder) {
            (Some(dir), _) => ModelSource::Folder(dir.clone()),
            (None, Some(dir)) if dir.is_dir() => ModelSource::Folder(dir.clone()),
            _ => ModelSource::Default,
        };
        worker.load_model(source.clone(), device);

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
        let wardrobe = WardrobeState::open(&jobs, bundled.clone(), user_dir);
        let capture = CaptureState::new(options.cameras.clone(), &jobs, bundled.as_deref());

        let mut app = Self {
            ctx,
            settings,
            jobs,
            worker,
            model: ModelStatus::Loading(source),
            device,
            wardrobe,
            capture,
            result: ResultState::default(),
            mask_editor: None,
            person: None,
            garment: None,
            wanted_garment: None,
            cache: VecDeque::new(),
            running: None,
            notices: Vec::new(),
            show_model_info: false,
            uses_wgpu,
            next_person_id: 1,
            last_time: None,
            wardrobe_rect: None,
            mask_revisions: Default::default(),
            live_results: 0,
            result_rect: None,
            crop_editor_rect: None,
        };
        if !uses_wgpu {
            log::info!("flow views are drawn on the CPU (no wgpu renderer)");
        }
        if let Some(path) = options.person {
            app.open_photo(path);
        }
        if let Some(path) = options.garment {
            app.open_garment_file(path);
        }
        app
    }

    // ---- inputs

    /// Loads a photo from disk off the UI thread.
    pub fn open_photo(&mut self, path: PathBuf) {
        self.jobs
            .spawn("open photo", move || AppEvent::PhotoLoaded {
                origin: PhotoOrigin::File(path.clone()),
                result: jobs::load_photo(&path),
            });
    }

    /// Uses an image (a photo, a camera snapshot) as the person photo; `preview` is its
    /// downscaled copy for the screen.
    pub fn set_person(&mut self, origin: PhotoOrigin, photo: RgbImage, preview: egui::ColorImage) {
        let crop = Crop::centered(photo.width(), photo.height());
        let id = self.next_person_id;
        self.next_person_id += 1;
        let texture = self
            .ctx
            .load_texture("person-photo", preview, egui::TextureOptions::LINEAR);
        self.person = Some(Person {
            id,
            origin,
            photo: Arc::new(photo),
            crop,
            texture: Some(texture),
        });
        self.result.clear_shown();
        self.request_tryon();
    }

    /// Tries on a garment photo from a file that is not in the wardrobe (mask computed).
    pub fn open_garment_file(&mut self, path: PathBuf) {
        self.wanted_garment = Some(path.display().to_string());
        self.jobs.spawn("open garment", move || {
            let load = || -> Result<GarmentData, String> {
                let image = load_rgb(&path).map_err(|e| e.to_string())?;
                let mask = garment_mask(&image).map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(GarmentData {
                    key: path.display().to_string(),
                    name: path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    image: Arc::new(image),
                    mask: Arc::new(mask),
                    mask_revision: 0,
                })
            };
            AppEvent::GarmentLoaded(load())
        });
    }

    /// Selects a wardrobe garment: its image and mask load off the UI thread.
    pub fn select_garment(&mut self, key: &str) {
        self.wanted_garment = Some(key.to_string());
        let revision = self.mask_revisions.get(key).copied().unwrap_or(0);
        self.wardrobe.load_garment(&self.jobs, key, revision);
    }

    /// Stores a hand-edited mask (`None`: back to the automatic one), then uses it.
    pub fn save_mask(&mut self, key: String, mask: Option<image::GrayImage>) {
        let revision = {
            let r = self.mask_revisions.entry(key.clone()).or_insert(0);
            *r += 1;
            *r
        };
        let selected = self.wanted_garment.as_deref() == Some(key.as_str());
        let shared = self.wardrobe.shared();
        let (sender, ctx) = self.jobs.sender();
        self.jobs.spawn("save mask", move || {
            let result =
                (|| -> Result<(Vec<crate::wardrobe::Garment>, Option<GarmentData>), String> {
                    let mut guard = shared.lock().map_err(|_| "the wardrobe is unavailable")?;
                    let wardrobe = guard.as_mut().ok_or("the wardrobe is still opening")?;
                    let garment = wardrobe_panel::garment_by_key(wardrobe, &key)?;
                    match &mask {
                        Some(mask) => wardrobe.set_mask(&garment.id, mask),
                        None => wardrobe.reset_mask(&garment.id),
                    }
                    .map_err(|e| e.to_string())?;
                    let data = if selected {
                        Some(GarmentData {
                            key: key.clone(),
                            name: garment.name.clone(),
                            image: Arc::new(
                                wardrobe
                                    .load_image(&garment.id)
                                    .map_err(|e| e.to_string())?,
                            ),
                            mask: Arc::new(
                                wardrobe.load_mask(&garment.id).map_err(|e| e.to_string())?,
                            ),
                            mask_revision: revision,
                        })
                    } else {
                        None
                    };
                    Ok((wardrobe.garments().to_vec(), data))
                })();
            match result {
                Ok((list, data)) => {
                    let _ = sender.send(AppEvent::WardrobeListed(Ok(list)));
                    if let Some(data) = data {
                        let _ = sender.send(AppEvent::GarmentLoaded(Ok(data)));
                    }
                    ctx.request_repaint();
                    AppEvent::Notice("Mask saved".into())
                }
                Err(e) => AppEvent::Error(format!("Cannot save the mask: {e}")),
            }
        });
    }

    /// The crop of the person photo changed (crop editor).
    pub fn set_crop(&mut self, crop: Crop) {
        if let Some(person) = &mut self.person {
            let crop = crop.clamped(person.photo.width(), person.photo.height());
            if crop != person.crop {
                person.crop = crop;
                self.request_tryon();
            }
        }
    }

    // ---- try-on

    fn current_key(&self) -> Option<ResultKey> {
        let (person, garment) = (self.person.as_ref()?, self.garment.as_ref()?);
        let model = match &self.model {
            ModelStatus::Ready(m) => m.generation,
            _ => return None,
        };
        Some(ResultKey {
            person: person.id,
            crop: person.crop,
            garment: garment.key.clone(),
            mask_revision: garment.mask_revision,
            model,
            hires: self.settings.hires,
        })
    }

    /// Shows the cached result for the current inputs, or starts the try-on.
    pub fn request_tryon(&mut self) {
        let Some(key) = self.current_key() else {
            return;
        };
        if self.result.shown_key() == Some(&key) {
            return;
        }
        if let Some((_, images)) = self.cache.iter().find(|(k, _)| *k == key) {
            let images = images.clone();
            self.result.show(&self.ctx, key, images, false);
            return;
        }
        if self.running.as_ref().map(|(k, _)| k) == Some(&key) {
            return;
        }
        let (Some(person), Some(garment)) = (&self.person, &self.garment) else {
            return;
        };
        self.worker.submit(TryOnJob {
            key: key.clone(),
            photo: person.photo.clone(),
            crop: person.crop,
            garment: garment.image.clone(),
            garment_mask: garment.mask.clone(),
            live: false,
        });
        self.running = Some((key, Instant::now()));
    }

    /// Shows try-on pictures computed elsewhere (a saved result, or a test's known flow) as the
    /// result of the current inputs.
    pub fn show_result(&mut self, images: TryOnImages) {
        if let Some(key) = self.current_key() {
            self.result.show(&self.ctx, key, Arc::new(images), false);
        }
    }

    /// Whether a result for the current person and garment is on screen.
    pub fn has_result(&self) -> bool {
        self.current_key().is_some() && self.result.shown_key() == self.current_key().as_ref()
    }

    pub fn shown_result(&self) -> Option<&Arc<TryOnImages>> {
        self.result.shown_images()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn wardrobe_garments(&self) -> &[crate::wardrobe::Garment] {
        self.wardrobe.garments()
    }

    /// Whether the camera list has arrived (empty or not).
    pub fn cameras_listed(&self) -> bool {
        self.capture.cameras_listed()
    }

    /// The newest camera frame.
    pub fn camera_frame(&self) -> Option<&Arc<RgbImage>> {
        self.capture.last_frame()
    }

    /// Where the result picture was drawn in the last frame (points).
    pub fn result_rect(&self) -> Option<egui::Rect> {
        self.result_rect
    }

    /// Where the photo with its crop frame was drawn in the last frame (points).
    pub fn crop_editor_rect(&self) -> Option<egui::Rect> {
        self.crop_editor_rect
    }

    /// Live try-ons shown so far.
    pub fn live_results(&self) -> u64 {
        self.live_results
    }

    pub fn live_fps(&self) -> Option<f32> {
        self.result.live_fps()
    }

    pub fn model_status(&self) -> &ModelStatus {
        &self.model
    }

    pub fn notices(&self) -> impl Iterator<Item = (&str, bool)> {
        self.notices.iter().map(|n| (n.text.as_str(), n.error))
    }

    pub fn person(&self) -> Option<&Person> {
        self.person.as_ref()
    }

    pub fn garment_name(&self) -> Option<&str> {
        self.garment.as_ref().map(|g| g.name.as_str())
    }

    pub fn set_view(&mut self, view: ResultView) {
        self.settings.view = view;
    }

    /// Opacity of the flow and mask overlays, 0 to 1.
    pub fn set_overlay_opacity(&mut self, opacity: f32) {
        self.settings.overlay_opacity = opacity.clamp(0.0, 1.0);
    }

    pub fn set_hires(&mut self, hires: bool) {
        self.settings.hires = hires;
        self.request_tryon();
    }

    /// Loads another model (or the default one) on the worker.
    pub fn load_model(&mut self, source: ModelSource) {
        if let ModelSource::Folder(dir) = &source {
            self.settings.model_folder = Some(dir.clone());
        } else {
            self.settings.model_folder = None;
        }
        self.worker.load_model(source.clone(), self.device);
        self.model = ModelStatus::Loading(source);
    }

    pub fn set_device(&mut self, device: DeviceChoice) {
        if device == self.device {
            return;
        }
        self.device = device;
        self.settings.device = device.to_string();
        let source = match &self.settings.model_folder {
            Some(dir) => ModelSource::Folder(dir.clone()),
            None => ModelSource::Default,
        };
        self.load_model(source);
    }

    pub(crate) fn notify(&mut self, text: impl Into<String>) {
        let text = text.into();
        log::info!("{text}");
        self.notices.push(Notice {
            text,
            error: false,
            at: Instant::now(),
        });
    }

    pub(crate) fn report_error(&mut self, text: impl Into<String>) {
        let text = text.into();
        log::warn!("{text}");
        self.notices.push(Notice {
            text,
            error: true,
            at: Instant::now(),
        });
    }

    // ---- events

    fn handle_events(&mut self) {
        for event in self.worker.poll() {
            match event {
                WorkerEvent::Model(status) => {
                    match &status {
                        ModelStatus::Failed(e) => self.report_error(format!("Model: {e}")),
                        ModelStatus::Ready(m) => {
                            self.cache.clear();
                            self.notify(format!("Model “{}” ready on {}", m.name, m.device));
                        }
                        _ => {}
                    }
                    let ready = matches!(status, ModelStatus::Ready(_));
                    self.model = status;
                    if ready {
                        self.result.clear_shown();
                        self.request_tryon();
                    }
                }
                WorkerEvent::Started { .. } => {}
                WorkerEvent::Finished { key, live, result } => {
                    if self.running.as_ref().map(|(k, _)| k) == Some(&key) {
                        self.running = None;
                    }
                    match result {
                        Ok(images) => {
                            self.last_time = Some(images.network_time);
                            if live {
                                self.live_results += 1;
                                self.capture.live_result_arrived();
                                self.result.show(&self.ctx, key, images, true);
                            } else {
                                self.cache.retain(|(k, _)| *k != key);
                                self.cache.push_back((key.clone(), images.clone()));
                                while self.cache.len() > CACHE_CAPACITY {
                                    self.cache.pop_front();
                                }
                                if Some(&key) == self.current_key().as_ref() {
                                    self.result.show(&self.ctx, key, images, false);
                                }
                            }
                        }
                        Err(e) => self.report_error(format!("Try-on failed: {e}")),
                    }
                    // The inputs may have changed while this one ran.
                    if !live {
                        self.request_tryon();
                    }
                }
            }
        }
        for event in self.jobs.poll() {
            self.handle_event(event);
        }
    }

    fn handle_event(&mut self, event: AppEvent) {
        match event {
            AppEvent::PhotoLoaded { origin, result } => match result {
                Ok(loaded) => self.set_person(origin, loaded.photo, loaded.preview),
                Err(e) => self.report_error(format!("Cannot open the photo: {e}")),
            },
            AppEvent::GarmentLoaded(result) => match result {
                Ok(garment) => {
                    if self.wanted_garment.as_deref() == Some(garment.key.as_str()) {
                        self.garment = Some(garment);
                        self.request_tryon();
                    }
                }
                Err(e) => self.report_error(format!("Cannot use the garment: {e}")),
            },
            AppEvent::WardrobeListed(result) => match result {
                Ok(list) => self.wardrobe.set_list(&self.jobs, list),
                Err(e) => self.report_error(format!("Wardrobe: {e}")),
            },
            AppEvent::GarmentAdded(key) => {
                self.notify("Garment added to the wardrobe");
                self.select_garment(&key);
            }
            AppEvent::Thumbnail { key, image } => {
                self.wardrobe.set_thumbnail(&self.ctx, key, image)
            }
            AppEvent::SamplePhotos(samples) => self.capture.set_samples(&self.ctx, samples),
            AppEvent::MaskForEditing(result) => match result {
                Ok((key, image, mask)) => {
                    self.mask_editor = Some(MaskEditor::new(key, image, mask));
                }
                Err(e) => self.report_error(format!("Cannot edit the mask: {e}")),
            },
            AppEvent::ModelFolderPicked(dir) => self.load_model(ModelSource::Folder(dir)),
            AppEvent::Cameras(result) => self.capture.set_cameras(result),
            AppEvent::Exported(result) => match result {
                Ok(path) => self.notify(format!("Saved {}", path.display())),
                Err(e) => self.report_error(format!("Export failed: {e}")),
            },
            AppEvent::Notice(text) => self.notify(text),
            AppEvent::Done => {}
            AppEvent::Error(text) => self.report_error(text),
        }
    }

    /// Files dropped on the window: garments when dropped on the wardrobe, photos elsewhere.
    fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let (dropped, pointer) = ctx.input(|i| {
            (
                i.raw.dropped_files.clone(),
                i.pointer.latest_pos().or(i.pointer.hover_pos()),
            )
        });
        for file in dropped {
            let path = file.path().to_path_buf();
            if path.as_os_str().is_empty() {
                continue; // dropped bytes without a file (not on desktop)
            }
            let on_wardrobe = match (self.wardrobe_rect, pointer) {
                (Some(rect), Some(pos)) => rect.contains(pos),
                _ => false,
            };
            if on_wardrobe {
                self.wardrobe.add_file(&self.jobs, path);
            } else {
                self.open_photo(path);
            }
        }
    }

    fn handle_shortcuts(&mut self, ctx: &egui::Context) {
        let typing = ctx.egui_wants_keyboard_input();
        let (save, open, space) = ctx.input_mut(|i| {
            (
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::S),
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::O),
                !typing && i.key_pressed(egui::Key::Space),
            )
        });
        if save {
            export::start_export(self, export::ExportKind::Result);
        }
        if open {
            capture_panel::pick_photo(self);
        }
        if space {
            capture_panel::take_snapshot(self);
        }
    }

    fn menu_bar(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open photo…  (Ctrl+O)").clicked() {
                    capture_panel::pick_photo(self);
                    ui.close();
                }
                if ui.button("Add garment…").clicked() {
                    wardrobe_panel::pick_garment(self);
                    ui.close();
                }
                ui.separator();
                let has_result = self.result.shown_images().is_some();
                if ui
                    .add_enabled(has_result, egui::Button::new("Export result…  (Ctrl+S)"))
                    .clicked()
                {
                    export::start_export(self, export::ExportKind::Result);
                    ui.close();
                }
                if ui
                    .add_enabled(
                        has_result,
                        egui::Button::new("Export high-resolution result…"),
                    )
                    .clicked()
                {
                    export::start_export(self, export::ExportKind::HighResolution);
                    ui.close();
                }
                if ui
                    .add_enabled(has_result, egui::Button::new("Export sheet…"))
                    .clicked()
                {
                    export::start_export(self, export::ExportKind::Sheet);
                    ui.close();
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("Model", |ui| {
                if ui.button("Open model…").clicked() {
                    let done = self.jobs.sender();
                    self.jobs.spawn("model dialog", move || {
                        drop(done);
                        match jobs::pick_folder_blocking(
                            "Open a model folder (Fitting Room bundle or official PF-AFN checkpoints)",
                        ) {
                            Some(dir) => AppEvent::ModelFolderPicked(dir),
                            None => AppEvent::Notice("No model folder chosen".into()),
                        }
                    });
                    ui.close();
                }
                if ui.button("Use the default model").clicked() {
                    self.load_model(ModelSource::Default);
                    ui.close();
                }
                if ui.button("Model info").clicked() {
                    self.show_model_info = true;
                    ui.close();
                }
                ui.separator();
                ui.label("Device");
                for choice in available_devices() {
                    if ui
                        .radio(self.device == choice, device_label(choice))
                        .clicked()
                    {
                        self.set_device(choice);
                        ui.close();
                    }
                }
            });
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                self.model_status_line(ui);
            });
        });
    }

    fn model_status_line(&self, ui: &mut egui::Ui) {
        match &self.model {
            ModelStatus::Ready(m) => {
                let mut text = format!("{} · {}", m.name, m.device);
                if let Some(t) = self.last_time {
                    text += &format!(" · {:.0} ms", t.as_secs_f64() * 1e3);
                }
                ui.label(text);
            }
            ModelStatus::Loading(_) => {
                ui.spinner();
                ui.label("Loading model…");
            }
            ModelStatus::Missing(_) => {
                ui.colored_label(ui.visuals().warn_fg_color, "No model");
            }
            ModelStatus::Failed(_) => {
                ui.colored_label(ui.visuals().error_fg_color, "Model failed to load");
            }
        }
    }

    fn model_info_window(&mut self, ctx: &egui::Context) {
        let mut open = self.show_model_info;
        egui::Window::new("Model")
            .open(&mut open)
            .resizable(false)
            .collapsible(false)
            .show(ctx, |ui| match &self.model {
                ModelStatus::Ready(m) => {
                    egui::Grid::new("model-info").num_columns(2).show(ui, |ui| {
                        ui.label("Name");
                        ui.label(&m.name);
                        ui.end_row();
                        ui.label("Device");
                        ui.label(&m.device);
                        ui.end_row();
                        ui.label("Renderer");
                        ui.label(if self.uses_wgpu {
                            "wgpu (flow views on the GPU)"
                        } else {
                            "OpenGL (flow views drawn on the CPU)"
                        });
                        ui.end_row();
                        ui.label("Warp module");
                        ui.label(format!(
                            "{} parameters; encoder widths {:?}",
                            group_digits(m.info.warp_parameters),
                            m.info.warp.encoder
                        ));
                        ui.end_row();
                        ui.label("Generator");
                        ui.label(format!(
                            "{} parameters; base width {}",
                            group_digits(m.info.generator_parameters),
                            m.info.generator.base_width
                        ));
                        ui.end_row();
                        ui.label("Files");
                        ui.label(format!(
                            "{}\n{}",
                            m.files.warp.display(),
                            m.files.generator.display()
                        ));
                        ui.end_row();
                    });
                }
                ModelStatus::Loading(_) => {
                    ui.label("Loading…");
                }
                ModelStatus::Missing(text) | ModelStatus::Failed(text) => {
                    ui.label(text);
                }
            });
        self.show_model_info = open;
    }

    fn notices_bar(&mut self, ui: &mut egui::Ui) {
        // Plain notices fade after a while; errors stay until dismissed.
        self.notices
            .retain(|n| n.error || n.at.elapsed() < Duration::from_secs(6));
        while self.notices.len() > 4 {
            self.notices.remove(0);
        }
        let mut dismiss = None;
        ui.horizontal_wrapped(|ui| {
            if self.notices.is_empty() {
                ui.weak(self.hint());
            }
            for (i, notice) in self.notices.iter().enumerate() {
                if notice.error {
                    ui.colored_label(ui.visuals().error_fg_color, &notice.text);
                    if ui.small_button("Dismiss").clicked() {
                        dismiss = Some(i);
                    }
                } else {
                    ui.label(&notice.text);
                }
                ui.separator();
            }
        });
        if let Some(i) = dismiss {
            self.notices.remove(i);
        }
        if self.notices.iter().any(|n| !n.error) {
            ui.ctx().request_repaint_after(Duration::from_secs(1));
        }
    }

    fn hint(&self) -> &'static str {
        match (&self.person, &self.garment) {
            (None, None) => "Open a photo or use the camera, then pick a garment.",
            (None, Some(_)) => {
                "Open a photo (File > Open photo, drop one here, or use the camera)."
            }
            (Some(_), None) => "Pick a garment from the wardrobe.",
            (Some(_), Some(_)) => "Drag the crop frame on the photo to adjust the framing.",
        }
    }
}

impl eframe::App for FittingRoomApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.handle_events();
        self.handle_dropped_files(&ctx);
        self.handle_shortcuts(&ctx);
        capture_panel::poll_camera(self);

        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.notices_bar(ui));
        let wardrobe = egui::Panel::left("wardrobe")
            .resizable(true)
            .default_size(280.0)
            .min_size(200.0)
            .show(ui, |ui| wardrobe_panel::show(self, ui));
        self.wardrobe_rect = Some(wardrobe.response.rect);
        egui::Panel::right("capture")
            .resizable(true)
            .default_size(320.0)
            .min_size(240.0)
            .show(ui, |ui| capture_panel::show(self, ui));
        egui::CentralPanel::default().show(ui, |ui| result_panel::show(self, ui));

        self.model_info_window(&ctx);
        mask_editor::show_window(self, &ctx);
        if self.running.is_some() || self.capture.is_streaming() {
            ctx.request_repaint_after(Duration::from_millis(100));
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.settings);
    }
}

/// The devices this build can use (CUDA once it has initialised).
pub fn available_devices() -> Vec<DeviceChoice> {
    crate::engine::usable_devices()
}

fn device_label(choice: DeviceChoice) -> String {
    match choice {
        DeviceChoice::Auto => "Automatic (GPU if available)".into(),
        DeviceChoice::Cpu => "CPU".into(),
        DeviceChoice::Cuda(i) => format!("CUDA GPU {i}"),
        DeviceChoice::Metal(i) => format!("Metal GPU {i}"),
    }
}

fn group_digits(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The folder of sample person photos that ships beside the wardrobe.
pub fn sample_photos_dir(wardrobe_dir: Option<&Path>) -> Option<PathBuf> {
    wardrobe_dir
        .and_then(|w| w.parent())
        .map(|p| p.join("persons"))
        .filter(|d| d.is_dir())
        .or_else(crate::wardrobe::default_sample_photos_dir)
}

/// Shared handle to the wardrobe for background jobs.
pub type SharedWardrobe = Arc<Mutex<Option<Wardrobe>>>;
