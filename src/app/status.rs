//! The status bar: notices and errors (errors stay until dismissed), or a hint of what to do
//! next.

use std::time::{Duration, Instant};

use super::command::Command;

/// How long a plain notice stays.
const NOTICE_TIME: Duration = Duration::from_secs(6);
/// Notices shown at most.
const MAX_NOTICES: usize = 4;

/// A message in the status area.
pub struct Notice {
    pub text: String,
    pub error: bool,
    pub at: Instant,
}

/// The messages for the user, newest last.
#[derive(Default)]
pub struct Notices {
    list: Vec<Notice>,
}

impl Notices {
    pub fn notify(&mut self, text: impl Into<String>) {
        let text = text.into();
        log::info!("{text}");
        self.push(text, false);
    }

    pub fn error(&mut self, text: impl Into<String>) {
        let text = text.into();
        log::warn!("{text}");
        self.push(text, true);
    }

    fn push(&mut self, text: String, error: bool) {
        self.list.push(Notice {
            text,
            error,
            at: Instant::now(),
        });
    }

    pub fn dismiss(&mut self, index: usize) {
        if index < self.list.len() {
            self.list.remove(index);
        }
    }

    /// (text, is error) of each message.
    pub fn iter(&self) -> impl Iterator<Item = (&str, bool)> {
        self.list.iter().map(|n| (n.text.as_str(), n.error))
    }

    /// Plain notices fade after a while; errors stay until dismissed.
    fn expire(&mut self) {
        self.list
            .retain(|n| n.error || n.at.elapsed() < NOTICE_TIME);
        while self.list.len() > MAX_NOTICES {
            self.list.remove(0);
        }
    }
}

/// The status bar: the notices, or `hint` when there are none.
pub fn status_bar_ui(ui: &mut egui::Ui, notices: &mut Notices, hint: &str) -> Option<Command> {
    notices.expire();
    let mut dismiss = None;
    ui.horizontal_wrapped(|ui| {
        if notices.list.is_empty() {
            ui.weak(hint);
        }
        for (i, notice) in notices.list.iter().enumerate() {
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
    if notices.list.iter().any(|n| !n.error) {
        ui.ctx().request_repaint_after(Duration::from_secs(1));
    }
    dismiss.map(Command::DismissNotice)
}
