//! Starting the window: wgpu first, glow (OpenGL) when wgpu cannot start.

use super::{FittingRoomApp, StartOptions};

/// The id the window manager and the settings storage know the app by.
pub const APP_ID: &str = "fitting-room";

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot open the window with wgpu ({wgpu}) nor with OpenGL ({glow})")]
    NoRenderer { wgpu: String, glow: String },
}

fn native_options(renderer: eframe::Renderer) -> eframe::NativeOptions {
    eframe::NativeOptions {
        renderer,
        viewport: egui::ViewportBuilder::default()
            .with_title("Fitting Room")
            .with_app_id(APP_ID)
            .with_inner_size([1280.0, 820.0])
            .with_min_inner_size([860.0, 560.0])
            .with_drag_and_drop(true),
        persist_window: true,
        ..Default::default()
    }
}

/// Runs the app until its window closes.
pub fn run_app(options: StartOptions) -> Result<(), LaunchError> {
    let start = |renderer: eframe::Renderer, options: StartOptions| {
        eframe::run_native(
            APP_ID,
            native_options(renderer),
            Box::new(move |cc| Ok(Box::new(FittingRoomApp::new(cc, options)))),
        )
    };
    match start(eframe::Renderer::Wgpu, options.clone()) {
        Ok(()) => Ok(()),
        Err(wgpu_error) => {
            log::warn!("wgpu could not start ({wgpu_error}); falling back to OpenGL (glow)");
            start(eframe::Renderer::Glow, options).map_err(|glow_error| LaunchError::NoRenderer {
                wgpu: wgpu_error.to_string(),
                glow: glow_error.to_string(),
            })
        }
    }
}
