//! Starting the window: wgpu first, glow (OpenGL) when wgpu cannot start.

use super::{FittingRoomApp, StartOptions};

/// The name the settings are stored under.
pub const APP_ID: &str = "fitting-room";

/// The id the desktop knows the window by (the Wayland app id and the X11 window class): the
/// name of the desktop entry, so that the window shows that entry's name and icon.
pub const DESKTOP_ID: &str = "io.github.fitting_room.fitting_room";

/// The app icon as the window shows it (the 128 px rendering of `packaging/icons`).
const ICON_PNG: &[u8] = include_bytes!(
    "../../packaging/icons/hicolor/128x128/apps/io.github.fitting_room.fitting_room.png"
);

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot open the window with wgpu ({wgpu}) nor with OpenGL ({glow})")]
    NoRenderer { wgpu: String, glow: String },
}

fn native_options(renderer: eframe::Renderer) -> eframe::NativeOptions {
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("Fitting Room")
        .with_app_id(DESKTOP_ID)
        .with_inner_size([1280.0, 820.0])
        .with_min_inner_size([860.0, 560.0])
        .with_drag_and_drop(true);
    match eframe::icon_data::from_png_bytes(ICON_PNG) {
        Ok(icon) => viewport = viewport.with_icon(icon),
        // Only a broken build could get here; the window still opens with the default icon.
        Err(e) => log::warn!("cannot decode the window icon: {e}"),
    }
    eframe::NativeOptions {
        renderer,
        viewport,
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

#[cfg(test)]
mod tests {
    #[test]
    fn window_icon_decodes() {
        let icon = eframe::icon_data::from_png_bytes(super::ICON_PNG).expect("a PNG");
        assert_eq!((icon.width, icon.height), (128, 128));
    }
}
