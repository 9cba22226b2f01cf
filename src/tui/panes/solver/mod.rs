//! Solver pane, the heart of the workbench: pick a checkpoint and a puzzle (a `puzzles/` file,
//! a built dataset, a generated set, or a grid typed in the editor), run every supervision step
//! on the worker thread, and step through them: the grid at each step with overlays
//! (correctness, changes, confidence), the per-step strip, a cell inspector with the top tokens
//! at every step, and a lens on the answer after each inner H-cycle.
//!
//! Units: [`steps`] (where the user is in a solve), [`scoring`] (targets and per-step numbers),
//! [`protocol`] (the worker requests and replies), [`editor`], [`pickers`], [`header`],
//! [`strip`], [`inspector`], [`view`] (the grid and the layout), [`trace`] (JSON export),
//! [`test_time`] (the test-time compute panel) and [`keys`]. Puzzles and checkpoints come
//! from [`crate::tui::catalog`].

pub mod editor;
pub mod header;
pub mod inspector;
pub mod keys;
pub mod pickers;
pub mod protocol;
pub mod scoring;
pub mod steps;
pub mod strip;
pub mod test_time;
#[cfg(test)]
mod tests;
pub mod trace;
pub mod view;

use std::path::Path;
use std::time::Duration;

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::Frame;

use crate::data::{Puzzle, PuzzleKind};
use crate::model::{SolveStep, TrmConfig};
use crate::tui::catalog::{self, CheckpointInfo, PuzzleSet};
use crate::tui::component::{Component, Ctx, EventState, KeyHint, Level};
use crate::tui::config::Paths;
use crate::tui::grid::{shown_dims, Overlay};
use crate::tui::keys::{KeyMap, KeyOverrides};
use crate::tui::picker::{self, Picker, PickerAction};
use crate::tui::theme::Theme;
use crate::tui::worker::SolverWorker;
use protocol::Showcase;

use editor::{EditAction, EditOutcome, GridEditor};
use keys::SolverAction;
pub use protocol::{LoadedModel, Phase};
pub use scoring::{maze_check, path_verdict, StepStats, Target};
use steps::Steps;

/// A model the solver can load.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelChoice {
    Checkpoint {
        info: CheckpointInfo,
        /// The folder it is in, named for the user (the picker's group).
        group: String,
    },
    /// An untrained model sized for the current puzzle.
    Untrained,
}

impl ModelChoice {
    /// `(seq_len, vocab_size)` of a checkpoint's model, when known.
    pub fn shape(&self) -> Option<(usize, usize)> {
        match self {
            ModelChoice::Checkpoint { info, .. } => info.shape(),
            ModelChoice::Untrained => None,
        }
    }
    fn same(&self, other: &ModelChoice) -> bool {
        match (self, other) {
            (ModelChoice::Checkpoint { info: a, .. }, ModelChoice::Checkpoint { info: b, .. }) => {
                a.path == b.path
            }
            (ModelChoice::Untrained, ModelChoice::Untrained) => true,
            _ => false,
        }
    }
}

/// Whether a puzzle kind fits a model of shape `(seq_len, vocab_size)`.
fn kind_fits(kind: PuzzleKind, (seq, vocab): (usize, usize)) -> bool {
    kind.seq_len() == seq && kind.vocab_size() <= vocab
}

/// The puzzle set to open a model of `shape` on: one of exactly its kind before one that only
/// fits (a 9x9 maze fits a 9x9 Sudoku model's vocabulary, but is not what it was trained on),
/// and a shipped model's held-out set (`*-heldout`, puzzles it never saw) before the others.
fn showcase_set(sets: &[PuzzleSet], shape: (usize, usize)) -> Option<usize> {
    sets.iter()
        .enumerate()
        .filter(|(_, s)| kind_fits(s.kind, shape))
        .max_by_key(|&(i, s)| {
            (
                s.kind.vocab_size() == shape.1,
                s.name.contains("heldout"),
                std::cmp::Reverse(i),
            )
        })
        .map(|(i, _)| i)
}

/// What the pane is doing with the keys.
#[derive(Debug)]
enum Mode {
    Normal,
    /// Choosing a puzzle: `(set, puzzle)`.
    PickPuzzle(Picker<(usize, usize)>),
    /// Choosing a model: an index into the models.
    PickModel(Picker<usize>),
    Edit(GridEditor),
}

/// The solver's key tables.
#[derive(Debug, Clone)]
struct Keys {
    normal: KeyMap<SolverAction>,
    edit: KeyMap<EditAction>,
    picker: KeyMap<PickerAction>,
}

impl Keys {
    fn new(overrides: &KeyOverrides) -> (Keys, Vec<String>) {
        let (normal, mut errs) = KeyMap::new("solver", keys::KEYS, overrides);
        let (edit, e) = KeyMap::new("solver_edit", editor::KEYS, overrides);
        errs.extend(e);
        let (picker, e) = picker::keymap(overrides);
        errs.extend(e);
        (
            Keys {
                normal,
                edit,
                picker,
            },
            errs,
        )
    }
}

pub struct SolverPane {
    paths: Paths,
    seed: u64,
    sets: Vec<PuzzleSet>,
    set_idx: usize,
    puzzle_idx: usize,
    puzzle: Option<Puzzle>,
    /// Puzzle identifier passed to the model with the current puzzle (0 unless the set is a
    /// built dataset's).
    puzzle_id: i32,
    target: Option<Target>,
    models: Vec<ModelChoice>,
    model_idx: usize,
    loaded: Option<LoadedModel>,
    steps: Steps,
    overlay: Overlay,
    /// The inspected cell.
    cursor: (usize, usize),
    mode: Mode,
    phase: Phase,
    worker: SolverWorker,
    /// Number of the last request to the worker.
    pending: u64,
    /// What the next model load leads to: a scan for a puzzle whose steps matter (the first
    /// load of a trained model), or a solve of the current puzzle.
    showcase: Showcase,
    keys: Keys,
    test_time: test_time::TestTimePanel,
}

impl std::fmt::Debug for SolverPane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SolverPane")
            .field("phase", &self.phase)
            .field("cur", &self.steps.cur())
            .field("steps", &self.steps.len())
            .finish()
    }
}

/// The models the catalog finds, then the untrained one.
fn model_choices(paths: &Paths) -> Vec<ModelChoice> {
    let mut models: Vec<ModelChoice> = catalog::all_checkpoints(paths)
        .into_iter()
        .flat_map(|g| {
            let group = g.name;
            g.checkpoints
                .into_iter()
                .map(move |info| ModelChoice::Checkpoint {
                    info,
                    group: group.clone(),
                })
        })
        .collect();
    models.push(ModelChoice::Untrained);
    models
}

impl SolverPane {
    /// A pane over the puzzles and checkpoints found under `paths` (plus generated puzzles and
    /// an untrained model). Nothing is loaded until [`SolverPane::start`].
    pub fn new(paths: Paths, seed: u64, ctx: &mut Ctx) -> SolverPane {
        let (sets, warnings, errors) = catalog::discover_all(&paths.puzzles_dir, seed);
        for e in warnings {
            ctx.log(Level::Warn, "puzzles", e.to_string());
        }
        // Errors go to the Logs pane and the status line.
        for e in errors {
            ctx.log(Level::Error, "puzzles", e.to_string());
        }
        let models = model_choices(&paths);
        SolverPane {
            paths,
            seed,
            sets,
            set_idx: 0,
            puzzle_idx: 0,
            puzzle: None,
            puzzle_id: 0,
            target: None,
            models,
            model_idx: 0,
            loaded: None,
            steps: Steps::default(),
            overlay: Overlay::Correctness,
            cursor: (0, 0),
            mode: Mode::Normal,
            phase: Phase::Idle,
            worker: SolverWorker::spawn(),
            pending: 0,
            showcase: Showcase::Off,
            keys: Keys::new(&KeyOverrides::new()).0,
            test_time: test_time::TestTimePanel::new(&KeyOverrides::new()).0,
        }
    }

    /// Send the worker's replies to the app's event channel (the app hands them to
    /// [`SolverPane::on_reply`] as they arrive).
    pub fn attach(&mut self, tx: crate::tui::events::EventTx) {
        self.worker.forward_to(tx);
    }

    /// Apply the user's key overrides; returns the problems found in them.
    pub fn remap(&mut self, overrides: &KeyOverrides) -> Vec<String> {
        let (keys, mut errs) = Keys::new(overrides);
        self.keys = keys;
        errs.extend(self.test_time.remap(overrides));
        errs
    }

    // Read access (tests, the app's status line).
    pub fn sets(&self) -> &[PuzzleSet] {
        &self.sets
    }
    pub fn models(&self) -> &[ModelChoice] {
        &self.models
    }
    pub fn puzzle(&self) -> Option<&Puzzle> {
        self.puzzle.as_ref()
    }
    /// `(set, puzzle)` indices of the current puzzle, and its identifier.
    pub fn puzzle_index(&self) -> (usize, usize, i32) {
        (self.set_idx, self.puzzle_idx, self.puzzle_id)
    }
    pub fn target(&self) -> Option<&Target> {
        self.target.as_ref()
    }
    pub fn loaded(&self) -> Option<&LoadedModel> {
        self.loaded.as_ref()
    }
    pub fn phase(&self) -> &Phase {
        &self.phase
    }
    pub fn steps(&self) -> &[SolveStep] {
        self.steps.all()
    }
    /// Index of the step shown.
    pub fn cur(&self) -> usize {
        self.steps.cur()
    }
    pub fn lens(&self) -> Option<usize> {
        self.steps.lens()
    }
    pub fn playing(&self) -> bool {
        self.steps.playing()
    }
    pub fn overlay(&self) -> Overlay {
        self.overlay
    }
    pub fn cursor(&self) -> (usize, usize) {
        self.cursor
    }
    /// The picker's filter while a picker is open.
    pub fn picker_query(&self) -> Option<&str> {
        match &self.mode {
            Mode::PickPuzzle(p) => Some(p.query()),
            Mode::PickModel(p) => Some(p.query()),
            _ => None,
        }
    }
    /// The selected model is a checkpoint, not the untrained one.
    pub fn checkpoint_selected(&self) -> bool {
        matches!(
            self.models.get(self.model_idx),
            Some(ModelChoice::Checkpoint { .. })
        )
    }
    pub fn editing(&self) -> bool {
        matches!(self.mode, Mode::Edit(_))
    }

    /// Show step `i` (clamped).
    pub fn show_step(&mut self, i: usize) {
        self.steps.show(i);
    }
    pub fn set_play_interval(&mut self, d: Duration) {
        self.steps.set_play_interval(d);
    }

    /// Show a finished solve as it is (a replayed trace, tests): the puzzle, its target, the
    /// steps, step `cur` shown, the cursor on the first cell.
    pub fn show_solve(
        &mut self,
        puzzle: Puzzle,
        target: Option<Target>,
        steps: Vec<SolveStep>,
        cur: usize,
    ) {
        self.puzzle = Some(puzzle);
        self.puzzle_id = 0;
        self.target = target;
        self.steps.set(steps, cur);
        self.cursor = (0, 0);
        self.phase = Phase::Ready;
    }

    /// Choose the default model and puzzle (a shipped checkpoint with a puzzle of its shape,
    /// else the first puzzle and an untrained model) and start solving. With a checkpoint, the
    /// pane first scans the set's first puzzles and opens on one whose steps matter
    /// ([`scoring::showcase`]).
    /// `prefer`: `(seq_len, vocab_size)` of the puzzles to show first when no checkpoint fits.
    pub fn start(&mut self, ctx: &mut Ctx, prefer: Option<(usize, usize)>) {
        for (mi, m) in self.models.iter().enumerate() {
            let Some(shape) = m.shape() else { continue };
            if let Some(si) = showcase_set(&self.sets, shape) {
                self.model_idx = mi;
                self.load_on_showcase(si, ctx);
                return;
            }
        }
        self.model_idx = self.models.len().saturating_sub(1);
        if !self.sets.is_empty() {
            // Prefer puzzles of the preferred shape (the Train pane's preset), so the
            // checkpoint a run writes fits the puzzle on screen.
            let si = prefer
                .and_then(|(seq, vocab)| {
                    self.sets
                        .iter()
                        .position(|s| s.kind.seq_len() == seq && s.kind.vocab_size() == vocab)
                })
                .unwrap_or(0);
            self.set_puzzle(si, 0, ctx, false);
        }
        self.load_selected(ctx);
    }

    /// Re-read checkpoints (after a run wrote one), keeping the selection.
    pub fn rescan(&mut self) {
        let current = self.models.get(self.model_idx).cloned();
        let models = model_choices(&self.paths);
        self.model_idx = current
            .and_then(|c| models.iter().position(|m| m.same(&c)))
            .unwrap_or(models.len() - 1);
        self.models = models;
    }

    /// Open a checkpoint file (from the runs pane).
    pub fn open_checkpoint(&mut self, path: &Path, ctx: &mut Ctx) {
        self.rescan();
        let idx = self
            .models
            .iter()
            .position(|m| matches!(m, ModelChoice::Checkpoint { info, .. } if info.path == path));
        let idx = match idx {
            Some(i) => i,
            None => {
                let group = path.parent().map_or_else(String::new, Paths::display);
                self.models.insert(
                    0,
                    ModelChoice::Checkpoint {
                        info: CheckpointInfo::read(path, false),
                        group,
                    },
                );
                0
            }
        };
        self.choose_model(idx, ctx);
    }

    /// Load model `idx`; when the current puzzle does not fit it, move to the set it opens on
    /// at start ([`showcase_set`]) and, as at start, to a puzzle there whose steps matter.
    fn choose_model(&mut self, idx: usize, ctx: &mut Ctx) {
        self.model_idx = idx.min(self.models.len().saturating_sub(1));
        if let Some(shape) = self.models.get(self.model_idx).and_then(ModelChoice::shape) {
            let fits = self
                .puzzle
                .as_ref()
                .is_some_and(|p| kind_fits(p.kind, shape));
            if let Some(si) = showcase_set(&self.sets, shape).filter(|_| !fits) {
                ctx.status(
                    Level::Info,
                    format!("solver: puzzle set {} fits this model", self.sets[si].name),
                );
                return self.load_on_showcase(si, ctx);
            }
        }
        self.load_selected(ctx);
    }

    /// Show set `set`, load the selected model and, once it is loaded, scan the set for a
    /// puzzle whose steps matter and open on it (loading resets the showcase state, so it is
    /// armed after).
    fn load_on_showcase(&mut self, set: usize, ctx: &mut Ctx) {
        self.set_puzzle(set, 0, ctx, false);
        self.load_selected(ctx);
        self.showcase = Showcase::AfterLoad;
    }

    /// Show puzzle `idx` of set `set` (and solve it when `solve`).
    pub fn set_puzzle(&mut self, set: usize, idx: usize, ctx: &mut Ctx, solve: bool) {
        let Some((p, id)) = self
            .sets
            .get(set)
            .and_then(|s| s.puzzles.get(idx).map(|p| (p.clone(), s.puzzle_id(idx))))
        else {
            return;
        };
        self.set_idx = set;
        self.puzzle_idx = idx;
        self.puzzle_id = id;
        self.use_puzzle(p, ctx, solve);
    }

    fn use_puzzle(&mut self, p: Puzzle, ctx: &mut Ctx, solve: bool) {
        self.target = scoring::target_of(&p);
        let (rows, cols) = shown_dims(p.kind, &p.input, None);
        self.cursor = (self.cursor.0.min(rows - 1), self.cursor.1.min(cols - 1));
        self.puzzle = Some(p);
        self.steps.clear();
        if !solve {
            return;
        }
        // An untrained model follows the puzzle's shape; a checkpoint must match it.
        let needs_reload = match &self.loaded {
            Some(l) if l.untrained => !self.fits(&l.config),
            None => true,
            _ => false,
        };
        if needs_reload {
            self.load_selected(ctx);
        } else {
            self.solve(ctx);
        }
    }

    fn fits(&self, cfg: &TrmConfig) -> bool {
        self.puzzle
            .as_ref()
            .is_some_and(|p| kind_fits(p.kind, (cfg.seq_len, cfg.vocab_size)))
    }

    /// What the correctness overlay compares the shown answer with: the answer itself when it
    /// is a valid shortest maze path (any shortest path is right), else the target.
    pub fn overlay_target(&self) -> Option<Vec<i32>> {
        if let (Some(p), Some(shown)) = (&self.puzzle, self.steps.shown_pred()) {
            if maze_check(p, shown) == Some(crate::data::maze::PathCheck::Correct) {
                return Some(shown.iter().map(|&t| t as i32).collect());
            }
        }
        self.target.as_ref().map(|t| t.tokens.clone())
    }

    /// The grid dims shown (rows, cols).
    fn dims(&self) -> (usize, usize) {
        match (&self.mode, &self.puzzle) {
            (Mode::Edit(e), Some(p)) if p.kind != PuzzleKind::Arc => (e.grid().rows, e.grid().cols),
            (_, Some(p)) => {
                shown_dims(p.kind, &p.input, p.label.as_ref().map(|l| (l.rows, l.cols)))
            }
            _ => (1, 1),
        }
    }

    fn export_trace(&self, ctx: &mut Ctx) {
        let Some(p) = &self.puzzle else { return };
        let doc = trace::trace_json(
            p,
            self.target.as_ref(),
            self.loaded.as_ref().map(|l| l.source.label()),
            self.steps.all(),
            &self.stats(),
        );
        let path = trace::trace_path(&self.paths.data_dir, &p.name);
        match trace::write_trace(&path, &doc) {
            Ok(()) => {
                let m = format!("step trace written to {}", Paths::display(&path));
                ctx.status(Level::Info, format!("solver: {m}"));
                ctx.log(Level::Info, "solver", m);
            }
            Err(e) => ctx.status(
                Level::Error,
                format!("solver: cannot write {}: {e}", path.display()),
            ),
        }
    }

    fn start_edit(&mut self) {
        if let Some(p) = &self.puzzle {
            if let Some(e) = GridEditor::new(p.kind, p.input.clone(), self.cursor) {
                self.mode = Mode::Edit(e);
            }
        }
    }

    /// Start typing a new puzzle of the current kind on an empty grid.
    pub fn edit_blank(&mut self) {
        self.start_edit();
        if let Mode::Edit(e) = &mut self.mode {
            e.clear_all();
        }
    }

    fn finish_edit(&mut self, kind: PuzzleKind, grid: crate::data::Grid, ctx: &mut Ctx) {
        // Check the typed puzzle before solving it.
        if let Some(warning) = editor::check_typed(kind, &grid) {
            ctx.status(Level::Warn, warning);
        }
        let p = Puzzle {
            name: "typed".into(),
            kind,
            input: grid,
            label: None,
            rating: None,
        };
        ctx.log(Level::Info, "solver", format!("typed {kind} puzzle"));
        self.puzzle_id = 0;
        self.use_puzzle(p, ctx, true);
    }

    fn handle_normal(&mut self, action: SolverAction, ctx: &mut Ctx) {
        let (rows, cols) = self.dims();
        match action {
            SolverAction::StepNext => self.steps.step_by(1),
            SolverAction::StepPrev => self.steps.step_by(-1),
            SolverAction::First => self.steps.first(),
            SolverAction::Last => self.steps.last(),
            SolverAction::Play => self.steps.toggle_play(self.phase == Phase::Ready),
            SolverAction::Overlay => self.overlay = self.overlay.next(),
            SolverAction::CellLeft => self.cursor.1 = self.cursor.1.saturating_sub(1),
            SolverAction::CellRight => {
                self.cursor.1 = (self.cursor.1 + 1).min(cols.saturating_sub(1))
            }
            SolverAction::CellUp => self.cursor.0 = self.cursor.0.saturating_sub(1),
            SolverAction::CellDown => {
                self.cursor.0 = (self.cursor.0 + 1).min(rows.saturating_sub(1))
            }
            SolverAction::PickPuzzle => self.open_puzzle_picker(),
            SolverAction::PickModel => {
                self.rescan();
                self.open_model_picker();
            }
            SolverAction::NextPuzzle | SolverAction::PrevPuzzle => {
                let n = self.sets.get(self.set_idx).map_or(0, |s| s.puzzles.len());
                if n > 0 {
                    let next = if action == SolverAction::NextPuzzle {
                        crate::tui::keys::nav::next(self.puzzle_idx, n)
                    } else {
                        crate::tui::keys::nav::prev(self.puzzle_idx, n)
                    };
                    self.set_puzzle(self.set_idx, next, ctx, true);
                }
            }
            SolverAction::Edit => self.start_edit(),
            SolverAction::Lens => self.steps.toggle_lens(),
            SolverAction::Rerun => {
                if self.loaded.is_some() {
                    self.solve(ctx);
                } else {
                    self.load_selected(ctx);
                }
            }
            SolverAction::Export => self.export_trace(ctx),
            SolverAction::TestTime => self.open_test_time(ctx),
        }
    }
}

impl Component for SolverPane {
    fn hints(&self) -> Vec<KeyHint> {
        if self.test_time.is_open() {
            return self.test_time.hints();
        }
        match self.mode {
            Mode::Edit(_) => self.keys.edit.hints(),
            Mode::PickPuzzle(_) | Mode::PickModel(_) => self.keys.picker.hints(),
            Mode::Normal => self.keys.normal.hints(),
        }
    }

    /// Every table of the pane, for the help.
    fn all_hints(&self) -> Vec<(&'static str, Vec<KeyHint>)> {
        vec![
            ("", self.keys.normal.hints()),
            ("grid editor", self.keys.edit.hints()),
            ("pickers", self.keys.picker.hints()),
            ("test-time panel", self.test_time.hints()),
        ]
    }

    fn capturing_input(&self) -> bool {
        !matches!(self.mode, Mode::Normal) || self.test_time.is_open()
    }

    fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> EventState {
        if self.test_time.is_open() {
            self.test_time.handle_key(&key, ctx);
            return EventState::Consumed;
        }
        match &mut self.mode {
            Mode::Edit(e) => {
                let kind = e.kind();
                match e.handle(&self.keys.edit, &key) {
                    EditOutcome::Editing => {}
                    EditOutcome::NotAValue(ch) => ctx.status(
                        Level::Warn,
                        format!("`{ch}` is not a value of a {kind} cell"),
                    ),
                    EditOutcome::Cancelled => {
                        self.mode = Mode::Normal;
                        ctx.status(Level::Info, "edit cancelled");
                    }
                    EditOutcome::Done(grid) => {
                        self.mode = Mode::Normal;
                        self.finish_edit(kind, grid, ctx);
                    }
                }
                EventState::Consumed
            }
            Mode::PickPuzzle(_) | Mode::PickModel(_) => {
                self.handle_picker(&key, ctx);
                EventState::Consumed
            }
            Mode::Normal => match self.keys.normal.action(&key) {
                Some(a) => {
                    self.handle_normal(a, ctx);
                    EventState::Consumed
                }
                None => EventState::NotConsumed,
            },
        }
    }

    fn tick(&mut self, ctx: &mut Ctx) -> bool {
        let changed = self.poll(ctx) | self.test_time.poll();
        self.steps.advance_play(self.phase == Phase::Solving) || changed
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        self.draw_pane(f, area, theme, focused);
        if self.test_time.is_open() {
            self.test_time.draw(f, area, theme);
        }
    }
}
