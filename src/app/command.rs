//! What the panels ask the app to do. Panels draw what they are given and return commands; the
//! app applies them in one place ([`FittingRoomApp::apply`](super::FittingRoomApp::apply)), so
//! every change to the session has one way in, for clicks, shortcuts, drops and tests alike.

use std::path::PathBuf;

use image::GrayImage;

use super::export::ExportKind;
use super::result_panel::ResultView;
use super::worker::ModelSource;
use crate::engine::DeviceChoice;
use crate::pipeline::Crop;
use crate::wardrobe::GarmentId;

#[derive(Debug)]
pub enum Command {
    // ---- the person
    /// Loads a person photo from disk (off the UI thread).
    OpenPhoto(PathBuf),
    /// Asks for a person photo in a dialog.
    PickPhoto,
    /// Uses the newest camera frame as the person photo.
    TakeSnapshot,
    /// Moves the crop of the person photo.
    SetCrop(Crop),
    /// Back to the automatic crop.
    ResetCrop,
    /// Asks for the list of cameras again.
    RefreshCameras,

    // ---- the garment
    /// Tries on a garment photo that is not in the wardrobe (its mask computed).
    OpenGarmentFile(PathBuf),
    /// Tries on a wardrobe garment.
    SelectGarment(GarmentId),
    /// Asks for a garment photo in a dialog and adds it to the wardrobe.
    PickGarment,
    /// Adds a garment photo to the wardrobe, then selects it.
    AddGarmentFile(PathBuf),
    RenameGarment(GarmentId, String),
    /// Deletes a user garment, hides a bundled one.
    RemoveGarment(GarmentId),
    RestoreBundled,
    /// Opens the mask editor on a garment.
    EditMask(GarmentId),
    /// Stores a hand-edited mask (`None`: back to the automatic one) and uses it.
    SaveMask(GarmentId, Option<GrayImage>),
    CloseMaskEditor,

    // ---- the result
    SetView(ResultView),
    /// Opacity of the flow and mask overlays, 0 to 1.
    SetOverlayOpacity(f32),
    /// The before/after divider, 0 (all after) to 1 (all before).
    SetSplit(f32),
    SetHires(bool),
    /// Exports through a save dialog.
    Export(ExportKind),
    /// Exports to a given path (no dialog).
    ExportTo(ExportKind, PathBuf),

    // ---- the model
    LoadModel(ModelSource),
    /// Asks for a model folder in a dialog.
    PickModelFolder,
    SetDevice(DeviceChoice),
    ShowModelInfo(bool),

    // ---- the window
    DismissNotice(usize),
    Quit,
}
