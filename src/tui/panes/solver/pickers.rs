//! The solver's two choosers on the shared [`Picker`]: puzzles grouped by their set (file,
//! dataset, generated), those that fit the loaded checkpoint first; models grouped by folder,
//! those that fit the current puzzle first. Choosing a model that does not fit the puzzle moves
//! to the model's own set and a puzzle there whose steps matter, as at start.

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::Frame;

use crate::data::PuzzleKind;
use crate::tui::component::Ctx;
use crate::tui::config::Paths;
use crate::tui::picker::{Outcome, PickItem, Picker};
use crate::tui::theme::Theme;

use super::{kind_fits, Mode, ModelChoice, SolverPane};

/// Why a puzzle of `kind` does not fit a model of shape `(seq_len, vocab_size)`.
fn misfit(kind: PuzzleKind, (seq, vocab): (usize, usize)) -> Option<String> {
    (!kind_fits(kind, (seq, vocab))).then(|| {
        format!(
            "{} cells, {} tokens; the model takes {seq} cells, {vocab} tokens",
            kind.seq_len(),
            kind.vocab_size()
        )
    })
}

impl SolverPane {
    /// The shape the loaded checkpoint requires (none for an untrained model, which follows
    /// the puzzle).
    fn required_shape(&self) -> Option<(usize, usize)> {
        self.loaded
            .as_ref()
            .filter(|l| !l.untrained)
            .map(|l| (l.config.seq_len, l.config.vocab_size))
    }

    pub(super) fn open_puzzle_picker(&mut self) {
        let need = self.required_shape();
        let mut items = Vec::new();
        let mut selected = 0;
        for (si, s) in self.sets.iter().enumerate() {
            for (pi, p) in s.puzzles.iter().enumerate() {
                if (si, pi) == (self.set_idx, self.puzzle_idx) {
                    selected = items.len();
                }
                items.push(PickItem {
                    value: (si, pi),
                    group: format!("{} ({})", s.name, s.kind),
                    label: p.name.clone(),
                    detail: p.rating.map(|r| format!("rating {r}")).unwrap_or_default(),
                    unfit: need.and_then(|shape| misfit(s.kind, shape)),
                });
            }
        }
        self.mode = Mode::PickPuzzle(Picker::new("Pick a puzzle", items, selected));
    }

    pub(super) fn open_model_picker(&mut self) {
        let kind = self.puzzle.as_ref().map(|p| p.kind);
        let items = self
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| match m {
                ModelChoice::Checkpoint { info, group } => {
                    let unfit = match (&info.error, info.shape(), kind) {
                        (Some(e), _, _) => Some(format!("unreadable: {e}")),
                        (None, None, _) => Some("no model_config metadata".into()),
                        (None, Some(shape), Some(kind)) => misfit(kind, shape).map(|why| {
                            if self.sets.iter().any(|s| kind_fits(s.kind, shape)) {
                                format!("this puzzle has {why}; opens a puzzle that fits")
                            } else {
                                format!("this puzzle has {why}; no puzzle set fits")
                            }
                        }),
                        (None, Some(_), None) => None,
                    };
                    PickItem {
                        value: i,
                        group: group.clone(),
                        label: info.path.file_name().map_or_else(
                            || Paths::display(&info.path),
                            |n| n.to_string_lossy().into_owned(),
                        ),
                        detail: info.summary(),
                        unfit,
                    }
                }
                ModelChoice::Untrained => PickItem {
                    value: i,
                    group: "untrained".into(),
                    label: "untrained (random init, sized for the puzzle)".into(),
                    detail: String::new(),
                    unfit: None,
                },
            })
            .collect();
        self.mode = Mode::PickModel(Picker::new("Pick a model", items, self.model_idx));
    }

    pub(super) fn handle_picker(&mut self, key: &KeyEvent, ctx: &mut Ctx) {
        match &mut self.mode {
            Mode::PickPuzzle(p) => match p.handle(&self.keys.picker, key) {
                Outcome::Open => {}
                Outcome::Cancelled => self.mode = Mode::Normal,
                Outcome::Chosen((si, pi)) => {
                    self.mode = Mode::Normal;
                    self.set_puzzle(si, pi, ctx, true);
                }
            },
            Mode::PickModel(p) => match p.handle(&self.keys.picker, key) {
                Outcome::Open => {}
                Outcome::Cancelled => self.mode = Mode::Normal,
                Outcome::Chosen(i) => {
                    self.mode = Mode::Normal;
                    self.choose_model(i, ctx);
                }
            },
            _ => {}
        }
    }

    /// Type into the open picker's filter (tests).
    pub fn type_filter(&mut self, q: &str) {
        match &mut self.mode {
            Mode::PickPuzzle(p) => p.set_query(q),
            Mode::PickModel(p) => p.set_query(q),
            _ => {}
        }
    }

    pub(super) fn draw_picker(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let hints = self.keys.picker.hints();
        match &self.mode {
            Mode::PickPuzzle(p) => p.draw(f, area, theme, &hints),
            Mode::PickModel(p) => p.draw(f, area, theme, &hints),
            _ => {}
        }
    }
}
