//! The menu bar with the model's status on its right, and the model info window.

use super::command::Command;
use super::export::ExportKind;
use super::worker::{ModelSource, ModelStatus};
use crate::engine::DeviceChoice;

/// What the menu bar shows.
pub struct MenuView<'a> {
    pub has_result: bool,
    pub device: DeviceChoice,
    pub model: &'a ModelStatus,
    pub last_time: Option<std::time::Duration>,
}

pub fn menu_bar_ui(ui: &mut egui::Ui, view: &MenuView) -> Vec<Command> {
    let mut commands = Vec::new();
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            let mut item = |ui: &mut egui::Ui, enabled: bool, text: &str, command: Command| {
                if ui.add_enabled(enabled, egui::Button::new(text)).clicked() {
                    commands.push(command);
                    ui.close();
                }
            };
            item(ui, true, "Open photo…  (Ctrl+O)", Command::PickPhoto);
            item(ui, true, "Add garment…", Command::PickGarment);
            ui.separator();
            let has_result = view.has_result;
            item(
                ui,
                has_result,
                "Export result…  (Ctrl+S)",
                Command::Export(ExportKind::Result),
            );
            item(
                ui,
                has_result,
                "Export high-resolution result…",
                Command::Export(ExportKind::HighResolution),
            );
            item(
                ui,
                has_result,
                "Export sheet…",
                Command::Export(ExportKind::Sheet),
            );
            ui.separator();
            if ui.button("Quit").clicked() {
                commands.push(Command::Quit);
            }
        });
        ui.menu_button("Model", |ui| {
            if ui.button("Open model…").clicked() {
                commands.push(Command::PickModelFolder);
                ui.close();
            }
            if ui.button("Use the default model").clicked() {
                commands.push(Command::LoadModel(ModelSource::Default));
                ui.close();
            }
            if ui.button("Model info").clicked() {
                commands.push(Command::ShowModelInfo(true));
                ui.close();
            }
            ui.separator();
            ui.label("Device");
            for choice in available_devices() {
                if ui
                    .radio(view.device == choice, device_label(choice))
                    .clicked()
                {
                    commands.push(Command::SetDevice(choice));
                    ui.close();
                }
            }
        });
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            model_status_ui(ui, view.model, view.last_time);
        });
    });
    commands
}

/// The model's name and device, or why there is none.
pub fn model_status_ui(
    ui: &mut egui::Ui,
    model: &ModelStatus,
    last_time: Option<std::time::Duration>,
) {
    match model {
        ModelStatus::Ready(m) => {
            let mut text = format!("{} · {}", m.name, m.device);
            if let Some(t) = last_time {
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

/// The model info window (while `open`).
pub fn model_info_ui(
    ctx: &egui::Context,
    open: bool,
    model: &ModelStatus,
    uses_wgpu: bool,
) -> Option<Command> {
    if !open {
        return None;
    }
    let mut still_open = true;
    egui::Window::new("Model")
        .open(&mut still_open)
        .resizable(false)
        .collapsible(false)
        .show(ctx, |ui| match model {
            ModelStatus::Ready(m) => {
                egui::Grid::new("model-info").num_columns(2).show(ui, |ui| {
                    ui.label("Name");
                    ui.label(&m.name);
                    ui.end_row();
                    ui.label("Device");
                    ui.label(&m.device);
                    ui.end_row();
                    ui.label("Renderer");
                    ui.label(if uses_wgpu {
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
    (!still_open).then_some(Command::ShowModelInfo(false))
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
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
