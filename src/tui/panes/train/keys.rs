//! The Train pane's keys: the presets and the form (config table `train`), and a field being
//! edited (`train_edit`).

use crate::tui::keys::Binding;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainAction {
    Pause,
    Stop,
    CheckpointNow,
    Launch,
    Down,
    Up,
    Presets,
    Form,
    Edit,
    Undo,
    Device,
    Data,
    StopNow,
    PageUp,
    PageDown,
}

use TrainAction as T;

pub const KEYS: &[Binding<TrainAction>] = &[
    Binding::bar(T::Pause, "pause", &["p"], "pause", "pause / resume the run"),
    Binding::bar(
        T::Stop,
        "stop",
        &["S"],
        "stop+checkpoint",
        "stop the run with a checkpoint",
    ),
    Binding::bar(
        T::CheckpointNow,
        "checkpoint",
        &["c"],
        "checkpoint now",
        "write a checkpoint now",
    ),
    Binding::bar(
        T::Launch,
        "launch",
        &["r"],
        "launch",
        "launch the run (or the prepared resume)",
    ),
    Binding::bar(
        T::Down,
        "down",
        &["j", "Down"],
        "move",
        "next preset or field",
    ),
    Binding::bar(
        T::Up,
        "up",
        &["k", "Up"],
        "move",
        "previous preset or field",
    ),
    Binding::bar(
        T::Presets,
        "presets",
        &["h", "Left"],
        "presets/form",
        "the presets",
    ),
    Binding::bar(T::Form, "form", &["l", "Right"], "presets/form", "the form"),
    Binding::bar(
        T::Edit,
        "edit",
        &["Enter"],
        "edit",
        "edit the field (on a preset: the form)",
    ),
    Binding::bar(
        T::Undo,
        "undo_field",
        &["u"],
        "undo field",
        "the field back to the preset's value",
    ),
    Binding::bar(
        T::Device,
        "device",
        &["d"],
        "device/data",
        "next device: cpu, auto, cuda:0",
    ),
    Binding::bar(
        T::Data,
        "data",
        &["D"],
        "device/data",
        "next data: the preset's, then each puzzle file",
    ),
    Binding::help(T::StopNow, "stop_now", &["X"], "stop without a checkpoint"),
    Binding::help(T::PageUp, "page_up", &["PageUp"], "ten fields up"),
    Binding::help(T::PageDown, "page_down", &["PageDown"], "ten fields down"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditAction {
    Type,
    Set,
    Cancel,
    Erase,
}

pub const EDIT_KEYS: &[Binding<EditAction>] = &[
    Binding::bar(
        EditAction::Type,
        "type",
        &["<char>"],
        "value",
        "type the value",
    )
    .labelled("type"),
    Binding::bar(EditAction::Set, "set", &["Enter"], "set", "set the field"),
    Binding::bar(
        EditAction::Cancel,
        "cancel",
        &["Esc"],
        "cancel",
        "leave the field as it was",
    ),
    Binding::help(
        EditAction::Erase,
        "erase",
        &["Backspace"],
        "erase a character",
    ),
];
