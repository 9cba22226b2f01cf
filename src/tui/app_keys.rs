//! The app's own key tables: the global keys (config table `global`), the help window's
//! (`help`) and the quit question's (`quit`).

use super::keys::{Binding, KeyMap, KeyOverrides};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalAction {
    Help,
    NextPane,
    /// Focus pane n (the key's digit).
    FocusPane,
    Quit,
    PrevPane,
    NextTheme,
    ForceQuit,
    ClearStatus,
}

pub const GLOBAL: &[Binding<GlobalAction>] = &[
    Binding::bar(
        GlobalAction::Help,
        "help",
        &["?", "F1"],
        "help",
        "help (this window)",
    ),
    Binding::bar(
        GlobalAction::NextPane,
        "next_pane",
        &["Tab"],
        "pane",
        "next pane",
    ),
    Binding::bar(
        GlobalAction::FocusPane,
        "pane_n",
        &["1", "2", "3", "4", "5", "6"],
        "pane",
        "pane by number",
    )
    .labelled("1-6"),
    Binding::bar(
        GlobalAction::Quit,
        "quit",
        &["q"],
        "quit",
        "quit (asks first while a run is active)",
    ),
    Binding::help(
        GlobalAction::PrevPane,
        "previous_pane",
        &["Shift-Tab"],
        "previous pane",
    ),
    Binding::help(
        GlobalAction::NextTheme,
        "next_theme",
        &["T"],
        "next theme (saved to the config file)",
    ),
    Binding::help(
        GlobalAction::ForceQuit,
        "interrupt",
        &["Ctrl-c"],
        "quit from anywhere, even while typing (asks first while a run is active; in the \
         question, stops the run without a checkpoint)",
    ),
    Binding::help(
        GlobalAction::ClearStatus,
        "clear_status",
        &["Esc"],
        "clear the status line",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelpAction {
    Down,
    Up,
    Close,
}

pub const HELP: &[Binding<HelpAction>] = &[
    Binding::bar(
        HelpAction::Down,
        "scroll_down",
        &["j", "Down"],
        "scroll",
        "scroll down",
    ),
    Binding::bar(
        HelpAction::Up,
        "scroll_up",
        &["k", "Up"],
        "scroll",
        "scroll up",
    ),
    Binding::bar(
        HelpAction::Close,
        "close",
        &["Esc"],
        "close",
        "close (so does any other key)",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuitAction {
    StopWithCheckpoint,
    StopNow,
    Cancel,
}

pub const QUIT: &[Binding<QuitAction>] = &[
    Binding::bar(
        QuitAction::StopWithCheckpoint,
        "stop_with_checkpoint",
        &["s"],
        "stop with a checkpoint, then quit",
        "stop the run with a checkpoint, then quit",
    ),
    Binding::bar(
        QuitAction::StopNow,
        "stop_now",
        &["k"],
        "stop without a checkpoint and quit",
        "stop the run without a checkpoint and quit",
    ),
    Binding::bar(
        QuitAction::Cancel,
        "cancel",
        &["c", "Esc", "n"],
        "cancel",
        "keep going",
    ),
];

/// The app's key maps.
#[derive(Debug, Clone)]
pub struct AppKeys {
    pub global: KeyMap<GlobalAction>,
    pub help: KeyMap<HelpAction>,
    pub quit: KeyMap<QuitAction>,
}

impl AppKeys {
    pub fn new(overrides: &KeyOverrides) -> (AppKeys, Vec<String>) {
        let (global, mut errs) = KeyMap::new("global", GLOBAL, overrides);
        let (help, e) = KeyMap::new("help", HELP, overrides);
        errs.extend(e);
        let (quit, e) = KeyMap::new("quit", QUIT, overrides);
        errs.extend(e);
        (AppKeys { global, help, quit }, errs)
    }
}
