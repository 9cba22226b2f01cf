//! The component contract (after ratatui's component template and gitui): every pane owns its
//! state, handles its keys through its key table (one table feeds the dispatch, the bottom
//! hint bar and the `?` help overlay, so they cannot go stale), and draws itself. Panes talk to
//! the app and to each other only through [`Action`]s pushed on a [`Ctx`].

use std::path::PathBuf;

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::Frame;

use super::theme::Theme;

/// One key hint, made by a pane's [`KeyMap`](super::keys::KeyMap) from its key table (never
/// written by hand): the keys, what they do, whether the bottom bar shows it, and the help's
/// lines (one per action; a bar hint can stand for several actions, as `←/→ step`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHint {
    pub keys: String,
    pub desc: String,
    pub in_bar: bool,
    /// The keys merged into this bar hint, one per action.
    pub merged: Vec<String>,
    /// `(keys, description)` of each action for the help.
    pub help: Vec<(String, String)>,
}

impl KeyHint {
    /// Cells the hint takes in the bar: ` keys desc `.
    pub fn bar_width(&self) -> usize {
        self.keys.chars().count() + self.desc.chars().count() + 3
    }
}

/// The hints the bar shows in `width` cells: the pane's in order while they fit beside every
/// global hint (help, pane switch, quit: the way to the rest), so that a narrow terminal drops
/// whole pane hints instead of cutting off the global ones.
pub fn fit_bar(pane: Vec<KeyHint>, global: Vec<KeyHint>, width: usize) -> Vec<KeyHint> {
    let reserve: usize = global.iter().map(KeyHint::bar_width).sum();
    let mut used = 0;
    let mut kept: Vec<KeyHint> = pane
        .into_iter()
        .take_while(|h| {
            used += h.bar_width();
            used + reserve <= width
        })
        .collect();
    kept.extend(global);
    kept
}

/// Whether a component used a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventState {
    Consumed,
    NotConsumed,
}

/// Severity of a log line or status message: the trainer's [`crate::train::api::Level`], so
/// a trainer message keeps its level without translation.
pub use crate::train::api::Level;

/// The panes, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaneId {
    Train,
    Curves,
    Solver,
    Runs,
    Logs,
    Experiments,
}

impl PaneId {
    pub const ALL: [PaneId; 6] = [
        PaneId::Train,
        PaneId::Curves,
        PaneId::Solver,
        PaneId::Runs,
        PaneId::Logs,
        PaneId::Experiments,
    ];
    pub fn title(self) -> &'static str {
        match self {
            PaneId::Train => "Train",
            PaneId::Curves => "Curves",
            PaneId::Solver => "Solver",
            PaneId::Runs => "Runs",
            PaneId::Logs => "Logs",
            PaneId::Experiments => "Experiments",
        }
    }
    /// A shorter title for narrow terminals.
    pub fn short_title(self) -> &'static str {
        match self {
            PaneId::Experiments => "Exp",
            p => p.title(),
        }
    }
    pub fn index(self) -> usize {
        PaneId::ALL.iter().position(|&p| p == self).unwrap_or(0)
    }
}

/// Something a pane asks the app (or another pane) to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A line for the logs pane (and the status line for warnings and errors), with the part
    /// of the workbench it comes from (`app`, `solver`, `trainer`, ...).
    Log {
        level: Level,
        source: &'static str,
        message: String,
    },
    /// A short message in the status line.
    Status(Level, String),
    Focus(PaneId),
    /// Open a checkpoint in the solver pane.
    OpenCheckpoint(PathBuf),
    /// Resume a run from a checkpoint: its run dir and checkpoint file.
    ResumeRun {
        run_dir: PathBuf,
        checkpoint: PathBuf,
    },
    /// A run dir to follow in the curves pane (e.g. the one just launched).
    WatchRun(PathBuf),
    /// Rescan the runs root (a run started or ended, a checkpoint was written).
    RescanRuns,
    /// Quit now (after confirmation where needed).
    Quit,
}

/// What a component gets while handling a key or a tick: a place to push actions.
#[derive(Debug, Default)]
pub struct Ctx {
    pub actions: Vec<Action>,
}

impl Ctx {
    pub fn push(&mut self, a: Action) {
        self.actions.push(a);
    }
    pub fn log(&mut self, level: Level, source: &'static str, msg: impl Into<String>) {
        self.actions.push(Action::Log {
            level,
            source,
            message: msg.into(),
        });
    }
    pub fn status(&mut self, level: Level, msg: impl Into<String>) {
        self.actions.push(Action::Status(level, msg.into()));
    }
}

/// A pane of the workbench.
pub trait Component {
    /// The key hints of the pane in its current mode.
    fn hints(&self) -> Vec<KeyHint>;

    /// Every key table of the pane (all its modes) with a title ("" for the main one), for the
    /// help.
    fn all_hints(&self) -> Vec<(&'static str, Vec<KeyHint>)> {
        vec![("", self.hints())]
    }

    /// Handle a key; `Consumed` stops it there.
    fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> EventState;

    /// Periodic work (poll workers, tail files, animate). Returns true when the pane changed
    /// and must be redrawn.
    fn tick(&mut self, _ctx: &mut Ctx) -> bool {
        false
    }

    /// True while the pane edits text (form field, grid, prompt): the app then passes every
    /// key (but Ctrl-C) to it, so `q`, `?` and digits are typed instead of acted on.
    fn capturing_input(&self) -> bool {
        false
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect, theme: &Theme, focused: bool);
}

#[cfg(test)]
mod bar_tests {
    use super::{fit_bar, KeyHint};

    fn hint(keys: &str, desc: &str) -> KeyHint {
        KeyHint {
            keys: keys.into(),
            desc: desc.into(),
            in_bar: true,
            merged: vec![],
            help: vec![],
        }
    }

    #[test]
    fn a_narrow_bar_drops_whole_pane_hints_and_keeps_the_global_ones() {
        let pane = vec![
            hint("←/→", "step"),
            hint("space", "play"),
            hint("m", "model"),
        ];
        let global = vec![hint("?", "help"), hint("q", "quit")];
        // Widths: 3+4+3 = 10, 5+4+3 = 12, 1+5+3 = 9; global 1+4+3 + 1+4+3 = 16.
        assert_eq!(pane[0].bar_width(), 10);
        let keys = |w| -> Vec<String> {
            fit_bar(pane.clone(), global.clone(), w)
                .into_iter()
                .map(|h| h.keys)
                .collect()
        };
        assert_eq!(keys(47), ["←/→", "space", "m", "?", "q"]);
        assert_eq!(keys(46), ["←/→", "space", "?", "q"]);
        assert_eq!(keys(26), ["←/→", "?", "q"]);
        assert_eq!(keys(25), ["?", "q"]);
        assert_eq!(keys(0), ["?", "q"]);
    }
}
