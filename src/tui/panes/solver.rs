//! Solver pane, the heart of the workbench: pick a checkpoint and a puzzle (a `puzzles/` file,
//! a generated set, or a grid typed in the editor), run every supervision step on the worker
//! thread, and step through them: the grid at each step with overlays (correctness, changes,
//! confidence), the per-step strip (cell accuracy, cells changed, sigmoid(q_halt) and where the
//! model would halt, latent norms and their change, "stuck" flags), a cell inspector with the
//! top tokens at every step, and a lens on the answer after each inner H-cycle.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Row, Table};
use ratatui::Frame;

use crate::data::maze::PathCheck;
use crate::data::{Grid, Puzzle, PuzzleKind};
use crate::model::{SolveStep, TrmConfig};
use crate::tui::component::{Component, Ctx, EventState, KeyHint, Level};
use crate::tui::config::Paths;
use crate::tui::grid::{shown_dims, token_label, GridLayout, GridView, Overlay};
use crate::tui::theme::Theme;
use crate::tui::worker::{untrained_config, ModelSource, Reply, SolverWorker};

/// A list of puzzles to choose from.
#[derive(Debug, Clone)]
pub struct PuzzleSet {
    pub name: String,
    pub kind: PuzzleKind,
    pub puzzles: Vec<Puzzle>,
    /// Puzzle identifier of each puzzle (the model's puzzle embedding), for sets read from a
    /// built dataset; empty (all 0) otherwise.
    pub puzzle_ids: Vec<i32>,
}

impl PuzzleSet {
    /// The puzzle identifier of puzzle `idx` (0 when the set has none).
    pub fn puzzle_id(&self, idx: usize) -> i32 {
        self.puzzle_ids.get(idx).copied().unwrap_or(0)
    }
}

/// Most test examples shown from a built dataset folder.
pub const MAX_DATASET_PUZZLES: usize = 1000;

/// A model the solver can load.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelChoice {
    Checkpoint {
        path: PathBuf,
        /// One line from the file's metadata (step, best exact accuracy, shape).
        summary: String,
        /// `(seq_len, vocab_size)` from the metadata, when readable.
        shape: Option<(usize, usize)>,
    },
    /// An untrained model sized for the current puzzle.
    Untrained,
}

/// What the correctness overlay compares against.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub tokens: Vec<i32>,
    /// `label` or `classical solver`.
    pub source: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Idle,
    Loading,
    Solving,
    Ready,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    PickPuzzle {
        sel: usize,
    },
    PickModel {
        sel: usize,
    },
    /// Typing a puzzle: the grid being edited and the cursor.
    Edit {
        grid: Grid,
        r: usize,
        c: usize,
    },
}

#[derive(Debug, Clone)]
pub struct LoadedModel {
    pub source: ModelSource,
    pub config: TrmConfig,
    pub params: usize,
    pub untrained: bool,
    pub note: String,
}

/// Per-step derived numbers (from the step and the target).
#[derive(Debug, Clone, PartialEq)]
pub struct StepStats {
    pub accuracy: Option<f64>,
    pub exact: Option<bool>,
    pub changed: usize,
    pub halt_prob: f32,
    pub would_halt: bool,
    /// Converged (relative change of z_H below 1e-3) while not exactly right.
    pub stuck: bool,
    /// Mazes: the prediction scored by the classical checker (any shortest path is right).
    pub path_check: Option<PathCheck>,
}

pub struct SolverPane {
    pub paths: Paths,
    pub seed: u64,
    pub sets: Vec<PuzzleSet>,
    pub set_idx: usize,
    pub puzzle_idx: usize,
    pub puzzle: Option<Puzzle>,
    /// Puzzle identifier passed to the model with the current puzzle (0 unless the set is a
    /// built dataset's).
    pub puzzle_id: i32,
    pub target: Option<Target>,
    pub models: Vec<ModelChoice>,
    pub model_idx: usize,
    pub loaded: Option<LoadedModel>,
    pub steps: Vec<SolveStep>,
    /// Index of the step shown.
    pub cur: usize,
    /// Follow the newest step while solving (until the user moves).
    pub follow: bool,
    /// H-cycle shown inside the current step (the lens), when on.
    pub lens: Option<usize>,
    pub playing: bool,
    pub overlay: Overlay,
    pub cursor: (usize, usize),
    pub mode: Mode,
    pub phase: Phase,
    worker: SolverWorker,
    pending: u64,
    last_play: Instant,
    pub play_interval: Duration,
}

impl std::fmt::Debug for SolverPane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SolverPane")
            .field("phase", &self.phase)
            .field("cur", &self.cur)
            .field("steps", &self.steps.len())
            .finish()
    }
}

/// Read every puzzle file in a folder (`.csv`, `.json`); bad files are reported, not fatal.
pub fn discover_puzzle_sets(dir: &Path) -> (Vec<PuzzleSet>, Vec<String>) {
    let mut sets = Vec::new();
    let mut errors = Vec::new();
    // A built dataset folder is read by `discover_dataset_sets` (its identifiers.json is no
    // puzzle file).
    if crate::data::dataset::is_built_dataset(dir) {
        return (sets, errors);
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (sets, errors);
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("json"))
        })
        .collect();
    paths.sort();
    for p in paths {
        match crate::data::read_puzzle_file_lenient(&p, 20) {
            Ok((Some(file), errs)) => {
                for e in errs {
                    errors.push(e.to_string());
                }
                if file.puzzles.is_empty() {
                    errors.push(format!("{}: no puzzles", p.display()));
                    continue;
                }
                sets.push(PuzzleSet {
                    name: Paths::display(&p),
                    kind: file.kind,
                    puzzles: file.puzzles,
                    puzzle_ids: Vec::new(),
                });
            }
            Ok((None, errs)) => {
                errors.push(format!(
                    "{}: no readable puzzle ({} errors{})",
                    p.display(),
                    errs.len(),
                    errs.first()
                        .map(|e| format!(", first: {e}"))
                        .unwrap_or_default()
                ));
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    (sets, errors)
}

/// Built dataset folders (official layout: `train/`, `test/`, `identifiers.json`): `dir` itself
/// when it is one, else every folder directly inside it that is one. Each becomes a set of its
/// test split; a folder that cannot be read is reported, not fatal.
pub fn discover_dataset_sets(dir: &Path) -> (Vec<PuzzleSet>, Vec<String>) {
    use crate::data::dataset::is_built_dataset;
    let mut dirs: Vec<PathBuf> = if is_built_dataset(dir) {
        vec![dir.to_path_buf()]
    } else {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir() && is_built_dataset(p))
                    .collect()
            })
            .unwrap_or_default()
    };
    dirs.sort();
    let mut sets = Vec::new();
    let mut errors = Vec::new();
    for d in dirs {
        match dataset_puzzle_set(&d) {
            Ok((set, warnings)) => {
                errors.extend(warnings);
                sets.push(set);
            }
            Err(e) => errors.push(e),
        }
    }
    (sets, errors)
}

/// The token shown for an ignored label position (`-100`): the kind's blank (Sudoku blank,
/// maze open cell) or PAD (ARC).
fn blank_token(kind: PuzzleKind) -> i32 {
    match kind {
        PuzzleKind::Sudoku { .. } => 1,
        PuzzleKind::Maze { .. } => 2,
        PuzzleKind::Arc => 0,
    }
}

/// The test split of a built dataset folder as a puzzle set named after the folder: its first
/// [`MAX_DATASET_PUZZLES`] examples, decoded with the kind told from the metadata, each with its
/// puzzle identifier. Returns the set and warnings (examples that could not be decoded).
pub fn dataset_puzzle_set(dir: &Path) -> Result<(PuzzleSet, Vec<String>), String> {
    use crate::data::dataset::{load_dataset_dir, load_identifiers};
    let shown = Paths::display(dir);
    let name = dir
        .file_name()
        .map_or_else(|| shown.clone(), |n| n.to_string_lossy().into_owned());
    let (meta, data) =
        load_dataset_dir(&dir.join("test")).map_err(|e| format!("dataset {shown}: {e}"))?;
    let kind = crate::data::build::infer_kind(&meta, &data).ok_or_else(|| {
        format!(
            "dataset {shown}: cannot tell the puzzle kind (vocabulary {}, {} cells per example)",
            meta.vocab_size, meta.seq_len
        )
    })?;
    if kind.seq_len() != meta.seq_len {
        return Err(format!(
            "dataset {shown}: {} cells per example, a {kind} has {}",
            meta.seq_len,
            kind.seq_len()
        ));
    }
    // Names are optional: without identifiers.json the ids are shown as numbers.
    let identifiers = load_identifiers(dir).unwrap_or_default();
    let ignore = meta.ignore_label_id.unwrap_or(-100);
    let blank = blank_token(kind);
    let mut puzzles = Vec::new();
    let mut puzzle_ids = Vec::new();
    let mut bad = 0usize;
    let mut first_bad = None;
    'puzzles: for p in 0..data.num_puzzles() {
        let (Some(&start), Some(&end)) =
            (data.puzzle_indices.get(p), data.puzzle_indices.get(p + 1))
        else {
            break;
        };
        let pid = data.puzzle_identifiers.get(p).copied().unwrap_or(0);
        for e in start.max(0) as usize..(end.max(0) as usize).min(data.num_examples()) {
            if puzzles.len() + bad >= MAX_DATASET_PUZZLES {
                break 'puzzles;
            }
            let (inp, lab) = data.example(e);
            let label: Vec<i32> = lab
                .iter()
                .map(|&t| if t == ignore || t == -100 { blank } else { t })
                .collect();
            let input = match kind.decode(inp) {
                Ok(g) => g,
                Err(err) => {
                    bad += 1;
                    first_bad.get_or_insert_with(|| format!("test example {e}: {err}"));
                    continue;
                }
            };
            let ident = identifiers
                .get(pid.max(0) as usize)
                .filter(|n| !n.is_empty() && n.as_str() != "<blank>")
                .map_or_else(|| format!("id {pid}"), |n| n.clone());
            puzzles.push(Puzzle {
                name: format!("{name} test[{e}] {ident}"),
                kind,
                input,
                label: kind.decode(&label).ok(),
                rating: None,
            });
            puzzle_ids.push(pid);
        }
    }
    let mut warnings = Vec::new();
    if let Some(first) = first_bad {
        if puzzles.is_empty() {
            return Err(format!(
                "dataset {shown}: no test example could be decoded as {kind} ({bad}, first: {first})"
            ));
        }
        warnings.push(format!(
            "dataset {shown}: {bad} test examples skipped (first: {first})"
        ));
    }
    if puzzles.is_empty() {
        return Err(format!("dataset {shown}: the test split has no examples"));
    }
    Ok((
        PuzzleSet {
            name,
            kind,
            puzzles,
            puzzle_ids,
        },
        warnings,
    ))
}

/// Small puzzle sets made by the data layer's generators (seeded): always available, so the
/// solver works without any file.
pub fn generated_sets(seed: u64) -> (Vec<PuzzleSet>, Vec<String>) {
    use crate::data::{maze, sudoku};
    let mut sets = Vec::new();
    let mut errors = Vec::new();
    let mut sudokus =
        |size: usize, diff: sudoku::Difficulty, count: usize| match sudoku::generate_many(
            size, diff, count, seed,
        ) {
            Ok(g) => sets.push(PuzzleSet {
                name: format!("generated sudoku {size}x{size} {diff} (seed {seed})"),
                kind: PuzzleKind::Sudoku { size },
                puzzles: g
                    .into_iter()
                    .enumerate()
                    .map(|(i, g)| g.into_puzzle(format!("sudoku{size}-{diff}-{i}")))
                    .collect(),
                puzzle_ids: Vec::new(),
            }),
            Err(e) => errors.push(e.to_string()),
        };
    sudokus(4, sudoku::Difficulty::Easy, 8);
    sudokus(9, sudoku::Difficulty::Medium, 4);
    let side = 9;
    let params = maze::MazeParams::square(side, maze::default_min_path(side, side));
    match maze::generate_many(&params, 4, seed) {
        Ok(g) => sets.push(PuzzleSet {
            name: format!("generated maze {side}x{side} (seed {seed})"),
            kind: PuzzleKind::Maze {
                rows: side,
                cols: side,
            },
            puzzles: g
                .into_iter()
                .enumerate()
                .map(|(i, m)| m.into_puzzle(format!("maze{side}-{i}")))
                .collect(),
            puzzle_ids: Vec::new(),
        }),
        Err(e) => errors.push(e.to_string()),
    }
    (sets, errors)
}

/// Checkpoints in `checkpoints/` and `runs/*/checkpoints/`, newest run first, with a summary
/// read from their metadata (no tensors loaded).
pub fn discover_checkpoints(paths: &Paths) -> Vec<ModelChoice> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut add_dir = |d: &Path| {
        if let Ok(rd) = std::fs::read_dir(d) {
            let mut v: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
                .collect();
            v.sort();
            v.reverse();
            files.extend(v);
        }
    };
    add_dir(&paths.checkpoints_dir);
    if let Ok(rd) = std::fs::read_dir(&paths.runs_dir) {
        let mut runs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        runs.sort();
        runs.reverse();
        for r in runs {
            add_dir(&r.join("checkpoints"));
        }
    }
    files
        .into_iter()
        .map(|path| {
            let (summary, shape) = checkpoint_summary(&path);
            ModelChoice::Checkpoint {
                path,
                summary,
                shape,
            }
        })
        .collect()
}

/// One line of a checkpoint's metadata, and its `(seq_len, vocab_size)`.
pub fn checkpoint_summary(path: &Path) -> (String, Option<(usize, usize)>) {
    match crate::model::weights::read_safetensors_metadata(path) {
        Err(e) => (format!("unreadable: {e}"), None),
        Ok(meta) => {
            let cfg = meta
                .get(crate::model::weights::META_MODEL_CONFIG)
                .and_then(|t| TrmConfig::from_toml_str(t).ok());
            let mut parts = Vec::new();
            if let Some(s) = meta.get("step") {
                parts.push(format!("step {s}"));
            }
            if let Some(b) = meta
                .get("best_exact_accuracy")
                .and_then(|b| b.parse::<f64>().ok())
            {
                parts.push(format!("best exact {:.1}%", b * 100.0));
            }
            match &cfg {
                Some(c) => parts.push(format!(
                    "hidden {} · {} cells · vocab {}",
                    c.hidden_size, c.seq_len, c.vocab_size
                )),
                None => parts.push("no model_config metadata".into()),
            }
            (parts.join(" · "), cfg.map(|c| (c.seq_len, c.vocab_size)))
        }
    }
}

/// The answer a classical solver gives (Sudoku search, maze BFS), as tokens.
pub fn classical_target(p: &Puzzle) -> Option<Vec<i32>> {
    match p.kind {
        PuzzleKind::Sudoku { size } => {
            let geo = crate::data::sudoku::Geometry::new(size)?;
            let sol = crate::data::sudoku::Solver::new(geo)
                .solve(&p.input, 1)
                .solution?;
            Some(p.kind.encode(&sol))
        }
        PuzzleKind::Maze { .. } => {
            let sol = crate::data::maze::solve(&p.input, None).ok()??;
            Some(p.kind.encode(&sol))
        }
        PuzzleKind::Arc => None,
    }
}

/// Mazes: a predicted answer scored against the question by [`crate::data::maze::check_path`]
/// (a valid shortest path is correct even when it is not the label's); `None` for other kinds.
pub fn maze_check(p: &Puzzle, pred: &[u32]) -> Option<PathCheck> {
    if !matches!(p.kind, PuzzleKind::Maze { .. }) {
        return None;
    }
    let tokens: Vec<i32> = pred.iter().map(|&t| t as i32).collect();
    Some(match p.kind.decode(&tokens) {
        Ok(answer) => crate::data::maze::check_path(&p.input, &answer),
        Err(e) => PathCheck::Invalid(format!("not a maze grid: {e}")),
    })
}

/// The verdict of a maze check in words.
pub fn path_verdict(c: &PathCheck) -> String {
    match c {
        PathCheck::Correct => "valid shortest path".into(),
        PathCheck::NotShortest { found, shortest } => {
            format!("valid path, not shortest ({found} cells, shortest {shortest})")
        }
        PathCheck::Invalid(why) => format!("no valid path: {why}"),
    }
}

fn target_of(p: &Puzzle) -> Option<Target> {
    if let Some(t) = p.label_tokens() {
        return Some(Target {
            tokens: t,
            source: "label",
        });
    }
    classical_target(p).map(|tokens| Target {
        tokens,
        source: "classical solver",
    })
}

impl SolverPane {
    /// A pane over the puzzles and checkpoints found under `paths` (plus generated puzzles and
    /// an untrained model). Nothing is loaded until [`SolverPane::start`].
    pub fn new(paths: Paths, seed: u64, ctx: &mut Ctx) -> SolverPane {
        let (mut sets, errs) = discover_puzzle_sets(&paths.puzzles_dir);
        for e in errs {
            ctx.log(Level::Warn, format!("puzzles: {e}"));
        }
        let (datasets, errs) = discover_dataset_sets(&paths.puzzles_dir);
        sets.extend(datasets);
        // Errors go to the Logs pane and the status line.
        for e in errs {
            ctx.log(Level::Error, format!("puzzles: {e}"));
        }
        if sets.is_empty() {
            let (gen, errs) = generated_sets(seed);
            for e in errs {
                ctx.log(Level::Warn, format!("puzzles: {e}"));
            }
            sets.extend(gen);
        }
        let mut models = discover_checkpoints(&paths);
        models.push(ModelChoice::Untrained);
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
            steps: Vec::new(),
            cur: 0,
            follow: true,
            lens: None,
            playing: false,
            overlay: Overlay::Correctness,
            cursor: (0, 0),
            mode: Mode::Normal,
            phase: Phase::Idle,
            worker: SolverWorker::spawn(),
            pending: 0,
            last_play: Instant::now(),
            play_interval: Duration::from_millis(400),
        }
    }

    /// Choose the default model and puzzle (a shipped checkpoint with a puzzle of its shape,
    /// else the first puzzle and an untrained model) and start solving.
    /// `prefer`: `(seq_len, vocab_size)` of the puzzles to show first when no checkpoint fits.
    pub fn start(&mut self, ctx: &mut Ctx, prefer: Option<(usize, usize)>) {
        for (mi, m) in self.models.iter().enumerate() {
            if let ModelChoice::Checkpoint {
                shape: Some((seq, vocab)),
                ..
            } = m
            {
                let found = self.sets.iter().enumerate().find_map(|(si, s)| {
                    (s.kind.seq_len() == *seq && s.kind.vocab_size() <= *vocab).then_some(si)
                });
                if let Some(si) = found {
                    self.model_idx = mi;
                    self.set_puzzle(si, 0, ctx, false);
                    self.load_selected(ctx);
                    return;
                }
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
        let mut models = discover_checkpoints(&self.paths);
        models.push(ModelChoice::Untrained);
        self.model_idx = current
            .and_then(|c| models.iter().position(|m| same_model(m, &c)))
            .unwrap_or(models.len() - 1);
        self.models = models;
    }

    /// Open a checkpoint file (from the runs pane).
    pub fn open_checkpoint(&mut self, path: &Path, ctx: &mut Ctx) {
        self.rescan();
        let idx = self
            .models
            .iter()
            .position(|m| matches!(m, ModelChoice::Checkpoint { path: p, .. } if p == path));
        let idx = match idx {
            Some(i) => i,
            None => {
                let (summary, shape) = checkpoint_summary(path);
                self.models.insert(
                    0,
                    ModelChoice::Checkpoint {
                        path: path.to_path_buf(),
                        summary,
                        shape,
                    },
                );
                0
            }
        };
        self.model_idx = idx;
        // Prefer a puzzle of the checkpoint's shape.
        if let Some(ModelChoice::Checkpoint {
            shape: Some((seq, vocab)),
            ..
        }) = self.models.get(idx)
        {
            let fits = self
                .puzzle
                .as_ref()
                .is_some_and(|p| p.kind.seq_len() == *seq && p.kind.vocab_size() <= *vocab);
            if !fits {
                if let Some(si) = self
                    .sets
                    .iter()
                    .position(|s| s.kind.seq_len() == *seq && s.kind.vocab_size() <= *vocab)
                {
                    self.set_puzzle(si, 0, ctx, false);
                }
            }
        }
        self.load_selected(ctx);
    }

    fn set_puzzle(&mut self, set: usize, idx: usize, ctx: &mut Ctx, solve: bool) {
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
        self.target = target_of(&p);
        let (rows, cols) = shown_dims(p.kind, &p.input, None);
        self.cursor = (self.cursor.0.min(rows - 1), self.cursor.1.min(cols - 1));
        self.puzzle = Some(p);
        self.steps.clear();
        self.cur = 0;
        self.lens = None;
        self.playing = false;
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
        self.puzzle.as_ref().is_some_and(|p| {
            p.kind.seq_len() == cfg.seq_len && p.kind.vocab_size() <= cfg.vocab_size
        })
    }

    /// Load the selected model (untrained: sized for the current puzzle).
    pub fn load_selected(&mut self, ctx: &mut Ctx) {
        let source = match self.models.get(self.model_idx) {
            Some(ModelChoice::Checkpoint { path, .. }) => ModelSource::Checkpoint(path.clone()),
            _ => {
                let (vocab, seq) = self
                    .puzzle
                    .as_ref()
                    .map_or((11, 81), |p| (p.kind.vocab_size(), p.kind.seq_len()));
                ModelSource::Untrained {
                    config: Box::new(untrained_config(vocab, seq)),
                    seed: self.seed,
                }
            }
        };
        ctx.log(Level::Info, format!("solver: loading {}", source.label()));
        self.loaded = None;
        self.steps.clear();
        self.cur = 0;
        self.phase = Phase::Loading;
        self.pending = self.worker.load(source);
    }

    /// Run every supervision step of the current puzzle.
    pub fn solve(&mut self, ctx: &mut Ctx) {
        let Some(p) = &self.puzzle else {
            self.phase = Phase::Failed("no puzzle: press p to pick one or e to type one".into());
            return;
        };
        let Some(l) = &self.loaded else {
            return;
        };
        if !self.fits(&l.config) {
            let msg = format!(
                "the model expects {} cells and {} tokens; this puzzle ({}) has {} cells and {} \
                 tokens: pick another puzzle (p) or model (m)",
                l.config.seq_len,
                l.config.vocab_size,
                p.kind,
                p.kind.seq_len(),
                p.kind.vocab_size()
            );
            ctx.log(Level::Warn, format!("solver: {msg}"));
            self.phase = Phase::Failed(msg);
            return;
        }
        self.steps.clear();
        self.cur = 0;
        self.follow = true;
        self.lens = None;
        self.phase = Phase::Solving;
        self.pending = self.worker.solve(p.input_tokens(), self.puzzle_id, true);
    }

    /// Apply worker replies; true when something changed.
    pub fn poll(&mut self, ctx: &mut Ctx) -> bool {
        let mut changed = false;
        for r in self.worker.drain() {
            changed |= self.on_reply(r, ctx);
        }
        changed
    }

    /// Block until the current load/solve is over (tests, benches, headless use).
    pub fn wait_idle(&mut self, timeout: Duration, ctx: &mut Ctx) -> bool {
        let deadline = Instant::now() + timeout;
        while matches!(self.phase, Phase::Loading | Phase::Solving) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Some(r) = self.worker.recv_timeout(left) {
                self.on_reply(r, ctx);
            }
        }
        true
    }

    fn on_reply(&mut self, r: Reply, ctx: &mut Ctx) -> bool {
        match r {
            Reply::Loaded {
                id,
                config,
                metadata,
                params,
            } if id == self.pending => {
                let source = match self.models.get(self.model_idx) {
                    Some(ModelChoice::Checkpoint { path, .. }) => {
                        ModelSource::Checkpoint(path.clone())
                    }
                    _ => ModelSource::Untrained {
                        config: config.clone(),
                        seed: self.seed,
                    },
                };
                let untrained = matches!(source, ModelSource::Untrained { .. });
                let mut note = Vec::new();
                if let Some(s) = metadata.get("step") {
                    note.push(format!("step {s}"));
                }
                if let Some(b) = metadata
                    .get("best_exact_accuracy")
                    .and_then(|b| b.parse::<f64>().ok())
                {
                    note.push(format!("best exact {:.1}%", b * 100.0));
                }
                ctx.log(
                    Level::Info,
                    format!("solver: loaded {} ({params} parameters)", source.label()),
                );
                self.loaded = Some(LoadedModel {
                    source,
                    config: *config,
                    params,
                    untrained,
                    note: note.join(" · "),
                });
                self.solve(ctx);
                true
            }
            Reply::Step { id, step } if id == self.pending => {
                self.steps.push(*step);
                if self.follow {
                    self.cur = self.steps.len() - 1;
                }
                true
            }
            Reply::Done { id } if id == self.pending => {
                self.phase = Phase::Ready;
                let s = self.stats();
                let halt = s.iter().position(|s| s.would_halt).map(|i| i + 1);
                ctx.log(
                    Level::Info,
                    format!(
                        "solver: {} steps; final cell accuracy {}; would halt at {}",
                        self.steps.len(),
                        s.last()
                            .and_then(|s| s.accuracy)
                            .map_or("n/a".into(), |a| format!("{:.1}%", a * 100.0)),
                        halt.map_or("never".into(), |h| format!("step {h}"))
                    ),
                );
                true
            }
            Reply::Failed { id, message } if id == self.pending => {
                ctx.log(Level::Error, format!("solver: {message}"));
                ctx.status(Level::Error, format!("solver: {message}"));
                self.phase = Phase::Failed(message);
                true
            }
            _ => false,
        }
    }

    /// Numbers of every step so far.
    pub fn stats(&self) -> Vec<StepStats> {
        let no_act_continue = self
            .loaded
            .as_ref()
            .is_none_or(|l| l.config.no_act_continue);
        let target = self.target.as_ref().map(|t| &t.tokens);
        let mut out = Vec::with_capacity(self.steps.len());
        for (i, s) in self.steps.iter().enumerate() {
            let path_check = self.puzzle.as_ref().and_then(|p| maze_check(p, &s.pred));
            let (accuracy, exact) = match target {
                // Any shortest path is right, not only the label's.
                _ if path_check == Some(PathCheck::Correct) => (Some(1.0), Some(true)),
                Some(t) if t.len() == s.pred.len() && !t.is_empty() => {
                    let ok = s
                        .pred
                        .iter()
                        .zip(t)
                        .filter(|(&p, &t)| p as i32 == t)
                        .count();
                    (Some(ok as f64 / t.len() as f64), Some(ok == t.len()))
                }
                _ => (None, None),
            };
            let changed = if i == 0 {
                self.puzzle.as_ref().map_or(0, |p| {
                    let inp = p.input_tokens();
                    s.pred
                        .iter()
                        .zip(&inp)
                        .filter(|(&a, &b)| a as i32 != b)
                        .count()
                })
            } else {
                s.pred
                    .iter()
                    .zip(&self.steps[i - 1].pred)
                    .filter(|(a, b)| a != b)
                    .count()
            };
            let rel = if s.z_h_norm > 0.0 {
                s.z_h_delta / s.z_h_norm
            } else {
                0.0
            };
            out.push(StepStats {
                accuracy,
                exact,
                changed,
                halt_prob: s.halt_prob(),
                would_halt: s.would_halt(no_act_continue),
                stuck: i > 0 && rel < 1e-3 && exact == Some(false),
                path_check,
            });
        }
        out
    }

    /// The answer on screen: the current step's, or its H-cycle's under the lens.
    pub fn shown_pred(&self) -> Option<&[u32]> {
        let s = self.steps.get(self.cur)?;
        Some(match self.lens {
            Some(k) => s
                .cycle_preds
                .get(k)
                .map_or(s.pred.as_slice(), |v| v.as_slice()),
            None => &s.pred,
        })
    }

    /// What the correctness overlay compares the shown answer with: the answer itself when it
    /// is a valid shortest maze path (any shortest path is right), else the target.
    pub fn overlay_target(&self) -> Option<Vec<i32>> {
        if let (Some(p), Some(shown)) = (&self.puzzle, self.shown_pred()) {
            if maze_check(p, shown) == Some(PathCheck::Correct) {
                return Some(shown.iter().map(|&t| t as i32).collect());
            }
        }
        self.target.as_ref().map(|t| t.tokens.clone())
    }

    /// The grid dims shown (rows, cols).
    fn dims(&self) -> (usize, usize) {
        match (&self.mode, &self.puzzle) {
            (Mode::Edit { grid, .. }, Some(p)) if p.kind != PuzzleKind::Arc => {
                (grid.rows, grid.cols)
            }
            (_, Some(p)) => {
                shown_dims(p.kind, &p.input, p.label.as_ref().map(|l| (l.rows, l.cols)))
            }
            _ => (1, 1),
        }
    }

    /// Step forward/back by one (through H-cycles when the lens is on).
    pub fn step_by(&mut self, delta: i64) {
        self.follow = false;
        if self.steps.is_empty() {
            return;
        }
        if let Some(k) = self.lens {
            let cycles = self.steps[self.cur].cycle_preds.len().max(1) as i64;
            let pos = self.cur as i64 * cycles + k as i64 + delta;
            let max = self.steps.len() as i64 * cycles - 1;
            let pos = pos.clamp(0, max);
            self.cur = (pos / cycles) as usize;
            self.lens = Some((pos % cycles) as usize);
        } else {
            let n = self.steps.len() as i64;
            self.cur = (self.cur as i64 + delta).clamp(0, n - 1) as usize;
        }
    }

    fn puzzle_list(&self) -> Vec<(usize, usize)> {
        self.sets
            .iter()
            .enumerate()
            .flat_map(|(si, s)| (0..s.puzzles.len()).map(move |pi| (si, pi)))
            .collect()
    }

    fn export_trace(&self, ctx: &mut Ctx) {
        let Some(p) = &self.puzzle else { return };
        let stats = self.stats();
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .zip(&stats)
            .map(|(s, st)| {
                serde_json::json!({
                    "step": s.step, "pred": s.pred, "q_halt": s.q_halt, "q_continue": s.q_continue,
                    "halt_prob": s.halt_prob(), "would_halt": st.would_halt,
                    "z_h_norm": s.z_h_norm, "z_l_norm": s.z_l_norm,
                    "z_h_delta": s.z_h_delta, "z_l_delta": s.z_l_delta,
                    "accuracy": st.accuracy, "exact": st.exact, "changed": st.changed,
                    "confidence": s.probs.iter().map(|c| c.iter().cloned().fold(0.0f32, f32::max)).collect::<Vec<_>>(),
                    "cycle_preds": s.cycle_preds,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "puzzle": p.name, "kind": p.kind.to_string(), "input": p.input_tokens(),
            "target": self.target.as_ref().map(|t| &t.tokens),
            "target_source": self.target.as_ref().map(|t| t.source),
            "model": self.loaded.as_ref().map(|l| l.source.label()),
            "steps": steps,
        });
        let safe: String = p
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = self
            .paths
            .data_dir
            .join("traces")
            .join(format!("{safe}.json"));
        let res = std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).and_then(|_| {
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&doc).unwrap_or_default(),
            )
        });
        match res {
            Ok(()) => {
                let m = format!("solver: step trace written to {}", Paths::display(&path));
                ctx.log(Level::Info, m.clone());
                ctx.status(Level::Info, m);
            }
            Err(e) => ctx.status(
                Level::Error,
                format!("solver: cannot write {}: {e}", path.display()),
            ),
        }
    }

    fn handle_edit(&mut self, key: KeyEvent, ctx: &mut Ctx) -> EventState {
        let Some(kind) = self.puzzle.as_ref().map(|p| p.kind) else {
            self.mode = Mode::Normal;
            return EventState::Consumed;
        };
        let Mode::Edit { grid, r, c } = &mut self.mode else {
            return EventState::NotConsumed;
        };
        let (rows, cols) = (grid.rows, grid.cols);
        match key.code {
            KeyCode::Esc => {
                self.mode = Mode::Normal;
                ctx.status(Level::Info, "edit cancelled");
                return EventState::Consumed;
            }
            KeyCode::Enter => {
                let grid = grid.clone();
                self.mode = Mode::Normal;
                self.finish_edit(kind, grid, ctx);
                return EventState::Consumed;
            }
            KeyCode::Left | KeyCode::Char('h') => *c = c.saturating_sub(1),
            KeyCode::Right | KeyCode::Char('l') => *c = (*c + 1).min(cols - 1),
            KeyCode::Up | KeyCode::Char('k') => *r = r.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => *r = (*r + 1).min(rows - 1),
            KeyCode::Backspace | KeyCode::Delete => {
                let blank = match kind {
                    PuzzleKind::Sudoku { .. } | PuzzleKind::Arc => 0,
                    PuzzleKind::Maze { .. } => crate::data::maze::OPEN,
                };
                grid.set(*r, *c, blank);
            }
            KeyCode::Char(ch) => {
                let v = match kind {
                    PuzzleKind::Sudoku { size } => match ch {
                        '.' | '0' | ' ' => Some(0),
                        d if d.is_ascii_digit() && (d as u8 - b'0') as usize <= size => {
                            Some(d as u8 - b'0')
                        }
                        _ => None,
                    },
                    PuzzleKind::Maze { .. } => match ch {
                        '#' | 'w' => Some(b'#'),
                        ' ' | '.' => Some(b' '),
                        's' | 'S' => Some(b'S'),
                        'g' | 'G' => Some(b'G'),
                        _ => None,
                    },
                    PuzzleKind::Arc => ch.to_digit(10).map(|d| d as u8),
                };
                match v {
                    Some(v) => {
                        grid.set(*r, *c, v);
                        if *c + 1 < cols {
                            *c += 1;
                        } else if *r + 1 < rows {
                            *c = 0;
                            *r += 1;
                        }
                    }
                    None => ctx.status(
                        Level::Warn,
                        format!("`{ch}` is not a value of a {kind} cell"),
                    ),
                }
            }
            _ => {}
        }
        EventState::Consumed
    }

    fn finish_edit(&mut self, kind: PuzzleKind, grid: Grid, ctx: &mut Ctx) {
        // Check the typed puzzle before solving it.
        match kind {
            PuzzleKind::Maze { .. } => {
                if let Err(e) = crate::data::maze::endpoints(&grid) {
                    ctx.status(Level::Warn, format!("typed maze: {e}; still solving it"));
                }
            }
            PuzzleKind::Sudoku { size } => {
                if let Some(geo) = crate::data::sudoku::Geometry::new(size) {
                    let n = crate::data::sudoku::Solver::new(geo).count_solutions(&grid, 2);
                    let msg = match n {
                        0 => Some("has no solution: no correctness target".to_string()),
                        2 => Some("has several solutions: the target is one of them".into()),
                        _ => None,
                    };
                    if let Some(m) = msg {
                        ctx.status(Level::Warn, format!("typed sudoku {m}"));
                    }
                }
            }
            PuzzleKind::Arc => {}
        }
        let p = Puzzle {
            name: "typed".into(),
            kind,
            input: grid,
            label: None,
            rating: None,
        };
        ctx.log(Level::Info, format!("solver: typed {kind} puzzle"));
        self.puzzle_id = 0;
        self.use_puzzle(p, ctx, true);
    }

    fn draw_picker(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let (title, items, sel): (String, Vec<ListItem>, usize) = match &self.mode {
            Mode::PickPuzzle { sel } => {
                let list = self.puzzle_list();
                let items = list
                    .iter()
                    .map(|&(si, pi)| {
                        let s = &self.sets[si];
                        let p = &s.puzzles[pi];
                        let rating = p
                            .rating
                            .map(|r| format!(" · rating {r}"))
                            .unwrap_or_default();
                        ListItem::new(Line::from(vec![
                            Span::styled(
                                format!("{:<28}", truncate(&s.name, 28)),
                                theme.dim_style(),
                            ),
                            Span::raw(format!(" {} ({}){rating}", p.name, s.kind)),
                        ]))
                    })
                    .collect();
                (format!(" Pick a puzzle ({}) ", list.len()), items, *sel)
            }
            Mode::PickModel { sel } => {
                let items = self
                    .models
                    .iter()
                    .map(|m| match m {
                        ModelChoice::Checkpoint { path, summary, .. } => {
                            ListItem::new(Line::from(vec![
                                Span::raw(Paths::display(path)),
                                Span::styled(format!("  {summary}"), theme.dim_style()),
                            ]))
                        }
                        ModelChoice::Untrained => ListItem::new(Line::styled(
                            "untrained (random init, sized for the puzzle)",
                            Style::default().fg(theme.warn),
                        )),
                    })
                    .collect();
                (" Pick a model ".to_string(), items, *sel)
            }
            _ => return,
        };
        let w = area.width.saturating_sub(8).min(100);
        let h = area
            .height
            .saturating_sub(4)
            .min(items.len() as u16 + 2)
            .max(3);
        let r = Rect::new(area.x + (area.width - w) / 2, area.y + 2, w, h);
        f.render_widget(Clear, r);
        let list = List::new(items)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(Style::default().fg(theme.border_focus))
                    .title(Span::styled(title, theme.title_style()))
                    .title_bottom(Line::styled(
                        " Enter choose · Esc cancel ",
                        theme.dim_style(),
                    )),
            )
            .style(theme.base())
            .highlight_style(theme.selected());
        let mut st = ListState::default().with_selected(Some(sel));
        f.render_stateful_widget(list, r, &mut st);
    }

    fn header(&self, theme: &Theme) -> Vec<Line<'static>> {
        let model = match &self.loaded {
            Some(l) if l.untrained => Span::styled(
                format!(
                    "UNTRAINED model ({} params, random init, seed {})",
                    l.params, self.seed
                ),
                Style::default().fg(theme.warn).add_modifier(Modifier::BOLD),
            ),
            Some(l) => Span::styled(
                format!(
                    "{}{} ({} params)",
                    short_label(&l.source),
                    if l.note.is_empty() {
                        String::new()
                    } else {
                        format!(" · {}", l.note)
                    },
                    l.params
                ),
                Style::default().fg(theme.accent),
            ),
            None => Span::styled("no model loaded", theme.dim_style()),
        };
        let puzzle = match &self.puzzle {
            Some(p) => {
                let set = if p.name == "typed" {
                    "typed".to_string()
                } else {
                    format!(
                        "{} #{}/{}",
                        self.sets.get(self.set_idx).map_or("", |s| s.name.as_str()),
                        self.puzzle_idx + 1,
                        self.sets.get(self.set_idx).map_or(0, |s| s.puzzles.len())
                    )
                };
                format!("{} · {} ({})", p.name, set, p.kind)
            }
            None => "no puzzle".into(),
        };
        let n = self.loaded.as_ref().map_or(0, |l| l.config.halt_max_steps);
        let phase = match &self.phase {
            Phase::Idle => Span::styled("idle", theme.dim_style()),
            Phase::Loading => Span::styled("● loading model", Style::default().fg(theme.warn)),
            Phase::Solving => Span::styled(
                format!("● solving {}/{}", self.steps.len(), n),
                Style::default().fg(theme.warn),
            ),
            Phase::Ready => Span::styled("✓ done", Style::default().fg(theme.ok)),
            Phase::Failed(m) => Span::styled(format!("✗ {m}"), Style::default().fg(theme.error)),
        };
        let step = if self.steps.is_empty() {
            "step -".to_string()
        } else {
            let lens = match (self.lens, self.steps.get(self.cur)) {
                (Some(k), Some(s)) => format!(" · H-cycle {}/{}", k + 1, s.cycle_preds.len()),
                _ => String::new(),
            };
            format!("step {}/{}{lens}", self.cur + 1, n.max(self.steps.len()))
        };
        let target = self
            .target
            .as_ref()
            .map_or("no target".to_string(), |t| format!("target: {}", t.source));
        let edit = matches!(self.mode, Mode::Edit { .. });
        let check = match (&self.puzzle, self.shown_pred()) {
            (Some(p), Some(shown)) if !edit => maze_check(p, shown).map(|c| {
                let colour = match c {
                    PathCheck::Correct => theme.ok,
                    PathCheck::NotShortest { .. } => theme.warn,
                    PathCheck::Invalid(_) => theme.error,
                };
                let at = match self.lens {
                    Some(k) => format!("step {} H-cycle {}", self.cur + 1, k + 1),
                    None => format!("step {}", self.cur + 1),
                };
                Line::from(vec![
                    Span::styled(format!("Path   {at}: "), theme.dim_style()),
                    Span::styled(path_verdict(&c), Style::default().fg(colour)),
                ])
            }),
            _ => None,
        };
        let mut lines = vec![
            Line::from(vec![Span::styled("Model  ", theme.dim_style()), model]),
            Line::from(vec![
                Span::styled("Puzzle ", theme.dim_style()),
                Span::raw(puzzle),
                Span::styled(format!(" · {target}"), theme.dim_style()),
            ]),
            Line::from(vec![
                Span::styled(
                    if edit {
                        "EDITING ".to_string()
                    } else {
                        format!("{step} · ")
                    },
                    Style::default()
                        .fg(theme.title)
                        .add_modifier(Modifier::BOLD),
                ),
                Span::styled(
                    format!("overlay: {} · ", self.overlay.label()),
                    Style::default().fg(theme.fg),
                ),
                if self.playing {
                    Span::styled("▶ playing · ", Style::default().fg(theme.ok))
                } else {
                    Span::raw("")
                },
                phase,
            ]),
        ];
        lines.extend(check);
        lines
    }

    fn draw_strip(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let stats = self.stats();
        let first_halt = stats.iter().position(|s| s.would_halt);
        let header = Row::new(vec![
            "step", "acc", "exact", "chg", "σ(halt)", "|zH|", "|ΔzH|", "|ΔzL|", "",
        ])
        .style(theme.title_style());
        let rows: Vec<Row> = self
            .steps
            .iter()
            .zip(&stats)
            .enumerate()
            .map(|(i, (s, st))| {
                let mut flag = String::new();
                if Some(i) == first_halt {
                    flag.push_str("◀ halt");
                }
                if st.stuck {
                    flag.push_str(if flag.is_empty() { "stuck" } else { " stuck" });
                }
                if let Some(c) = &st.path_check {
                    if !flag.is_empty() {
                        flag.push(' ');
                    }
                    flag.push_str(match c {
                        PathCheck::Correct => "✓ shortest",
                        PathCheck::NotShortest { .. } => "longer",
                        PathCheck::Invalid(_) => "✗ path",
                    });
                }
                let style = if i == self.cur {
                    theme.selected()
                } else if st.exact == Some(true) {
                    Style::default().fg(theme.ok)
                } else {
                    Style::default().fg(theme.fg)
                };
                Row::new(vec![
                    format!("{:>3}", s.step),
                    st.accuracy
                        .map_or("  -".into(), |a| format!("{:>5.1}%", a * 100.0)),
                    match st.exact {
                        Some(true) => "  ✓".into(),
                        Some(false) => "  ·".into(),
                        None => "  -".into(),
                    },
                    format!("{:>4}", st.changed),
                    format!(
                        "{:>5.3}{}",
                        st.halt_prob,
                        if st.would_halt { "▲" } else { " " }
                    ),
                    format!("{:>6.1}", s.z_h_norm),
                    format!("{:>7.3}", s.z_h_delta),
                    format!("{:>7.3}", s.z_l_delta),
                    flag,
                ])
                .style(style)
            })
            .collect();
        let t = Table::new(
            rows,
            [
                Constraint::Length(4),
                Constraint::Length(6),
                Constraint::Length(5),
                Constraint::Length(4),
                Constraint::Length(7),
                Constraint::Length(6),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Min(6),
            ],
        )
        .header(header)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border_style(false))
                .title(Span::styled(" Steps ", theme.title_style())),
        )
        .style(theme.base());
        f.render_widget(t, area);
    }

    fn draw_inspector(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let Some(p) = &self.puzzle else { return };
        let (r, c) = self.cursor;
        let stride = match p.kind {
            PuzzleKind::Arc => crate::data::arc::CANVAS,
            _ => p.input.cols,
        };
        let i = r * stride + c;
        let inp = p.input_tokens();
        let given = inp
            .get(i)
            .map_or("?".into(), |&t| token_label(p.kind, t as usize));
        let tgt = self
            .target
            .as_ref()
            .and_then(|t| t.tokens.get(i))
            .map_or("-".into(), |&t| token_label(p.kind, t as usize));
        let mut lines = vec![Line::from(vec![
            Span::styled(format!("cell r{} c{}", r + 1, c + 1), theme.title_style()),
            Span::styled(format!("  input {given} · target {tgt}"), theme.dim_style()),
        ])];
        for (si, s) in self.steps.iter().enumerate() {
            let Some(probs) = s.probs.get(i) else {
                continue;
            };
            let mut idx: Vec<usize> = (0..probs.len()).collect();
            idx.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
            let mut spans = vec![Span::styled(
                format!("s{:<3}", s.step),
                if si == self.cur {
                    theme.selected()
                } else {
                    theme.dim_style()
                },
            )];
            for &t in idx.iter().take(3) {
                let ok = self.target.as_ref().and_then(|x| x.tokens.get(i)) == Some(&(t as i32));
                spans.push(Span::styled(
                    format!(" {:>5} {:.2}", token_label(p.kind, t), probs[t]),
                    Style::default().fg(if ok { theme.ok } else { theme.fg }),
                ));
            }
            lines.push(Line::from(spans));
        }
        // Keep the current step visible.
        let inner = area.height.saturating_sub(2) as usize;
        let skip = (self.cur + 2).saturating_sub(inner);
        let lines: Vec<Line> = lines
            .into_iter()
            .enumerate()
            .filter(|(k, _)| *k == 0 || *k > skip)
            .map(|(_, l)| l)
            .collect();
        f.render_widget(
            Paragraph::new(lines).style(theme.base()).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border_style(false))
                    .title(Span::styled(
                        " Cell inspector (top-3 per step) ",
                        theme.title_style(),
                    )),
            ),
            area,
        );
    }
}

/// `run/file.safetensors` for a run's checkpoint, the path otherwise.
fn short_label(src: &ModelSource) -> String {
    match src {
        ModelSource::Checkpoint(p) => {
            let file = p
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().to_string());
            let parent = p.parent();
            match (
                parent.and_then(|d| d.file_name()),
                parent.and_then(|d| d.parent()).and_then(|r| r.file_name()),
            ) {
                (Some(d), Some(run)) if d == "checkpoints" => {
                    format!("{}/{file}", run.to_string_lossy())
                }
                _ => Paths::display(p),
            }
        }
        other => other.label(),
    }
}

fn same_model(a: &ModelChoice, b: &ModelChoice) -> bool {
    match (a, b) {
        (ModelChoice::Checkpoint { path: x, .. }, ModelChoice::Checkpoint { path: y, .. }) => {
            x == y
        }
        (ModelChoice::Untrained, ModelChoice::Untrained) => true,
        _ => false,
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s
            .chars()
            .rev()
            .take(n - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

impl Component for SolverPane {
    fn hints(&self) -> Vec<KeyHint> {
        match self.mode {
            Mode::Edit { .. } => vec![
                KeyHint::bar("hjkl/arrows", "move"),
                KeyHint::bar("digits # s g .", "set cell"),
                KeyHint::bar("Bksp", "clear"),
                KeyHint::bar("Enter", "solve it"),
                KeyHint::bar("Esc", "cancel"),
            ],
            Mode::PickPuzzle { .. } | Mode::PickModel { .. } => vec![
                KeyHint::bar("j/k", "move"),
                KeyHint::bar("Enter", "choose"),
                KeyHint::bar("Esc", "cancel"),
            ],
            Mode::Normal => vec![
                KeyHint::bar("←/→", "step"),
                KeyHint::bar("Home/End", "first/last"),
                KeyHint::bar("space", "play"),
                KeyHint::bar("o", "overlay"),
                KeyHint::bar("hjkl", "cell"),
                KeyHint::bar("p", "puzzle"),
                KeyHint::bar("m", "model"),
                KeyHint::bar("e", "edit grid"),
                KeyHint::help("n / N", "next / previous puzzle of the set"),
                KeyHint::help(
                    "c",
                    "H-cycle lens: step through the answer after each inner cycle",
                ),
                KeyHint::help("r", "run the supervision steps again"),
                KeyHint::help("x", "export the step trace as JSON (data dir)"),
            ],
        }
    }

    fn capturing_input(&self) -> bool {
        !matches!(self.mode, Mode::Normal)
    }

    fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> EventState {
        match self.mode.clone() {
            Mode::Edit { .. } => return self.handle_edit(key, ctx),
            Mode::PickPuzzle { sel } => {
                let list = self.puzzle_list();
                let n = list.len();
                match key.code {
                    KeyCode::Esc => self.mode = Mode::Normal,
                    KeyCode::Down | KeyCode::Char('j') if n > 0 => {
                        self.mode = Mode::PickPuzzle { sel: (sel + 1) % n }
                    }
                    KeyCode::Up | KeyCode::Char('k') if n > 0 => {
                        self.mode = Mode::PickPuzzle {
                            sel: (sel + n - 1) % n,
                        }
                    }
                    KeyCode::PageDown if n > 0 => {
                        self.mode = Mode::PickPuzzle {
                            sel: (sel + 10).min(n - 1),
                        }
                    }
                    KeyCode::PageUp => {
                        self.mode = Mode::PickPuzzle {
                            sel: sel.saturating_sub(10),
                        }
                    }
                    KeyCode::Enter => {
                        self.mode = Mode::Normal;
                        if let Some(&(si, pi)) = list.get(sel) {
                            self.set_puzzle(si, pi, ctx, true);
                        }
                    }
                    _ => {}
                }
                return EventState::Consumed;
            }
            Mode::PickModel { sel } => {
                let n = self.models.len();
                match key.code {
                    KeyCode::Esc => self.mode = Mode::Normal,
                    KeyCode::Down | KeyCode::Char('j') => {
                        self.mode = Mode::PickModel { sel: (sel + 1) % n }
                    }
                    KeyCode::Up | KeyCode::Char('k') => {
                        self.mode = Mode::PickModel {
                            sel: (sel + n - 1) % n,
                        }
                    }
                    KeyCode::Enter => {
                        self.mode = Mode::Normal;
                        self.model_idx = sel.min(n - 1);
                        self.load_selected(ctx);
                    }
                    _ => {}
                }
                return EventState::Consumed;
            }
            Mode::Normal => {}
        }
        let (rows, cols) = self.dims();
        match key.code {
            KeyCode::Right => self.step_by(1),
            KeyCode::Left => self.step_by(-1),
            KeyCode::Home => {
                self.follow = false;
                self.cur = 0;
                self.lens = self.lens.map(|_| 0);
            }
            KeyCode::End => {
                self.follow = true;
                self.cur = self.steps.len().saturating_sub(1);
                self.lens = self.lens.and_then(|_| {
                    self.steps
                        .get(self.cur)
                        .map(|s| s.cycle_preds.len().saturating_sub(1))
                });
            }
            KeyCode::Char(' ') => {
                self.playing = !self.playing;
                if self.playing && self.cur + 1 >= self.steps.len() && self.phase == Phase::Ready {
                    self.cur = 0;
                }
                self.follow = false;
                self.last_play = Instant::now();
            }
            KeyCode::Char('o') => self.overlay = self.overlay.next(),
            KeyCode::Char('h') => self.cursor.1 = self.cursor.1.saturating_sub(1),
            KeyCode::Char('l') => self.cursor.1 = (self.cursor.1 + 1).min(cols.saturating_sub(1)),
            KeyCode::Char('k') | KeyCode::Up => self.cursor.0 = self.cursor.0.saturating_sub(1),
            KeyCode::Char('j') | KeyCode::Down => {
                self.cursor.0 = (self.cursor.0 + 1).min(rows.saturating_sub(1))
            }
            KeyCode::Char('p') => {
                let list = self.puzzle_list();
                let sel = list
                    .iter()
                    .position(|&x| x == (self.set_idx, self.puzzle_idx))
                    .unwrap_or(0);
                self.mode = Mode::PickPuzzle { sel };
            }
            KeyCode::Char('m') => {
                self.rescan();
                self.mode = Mode::PickModel {
                    sel: self.model_idx,
                };
            }
            KeyCode::Char('n') | KeyCode::Char('N') => {
                let n = self.sets.get(self.set_idx).map_or(0, |s| s.puzzles.len());
                if n > 0 {
                    let next = if key.code == KeyCode::Char('n') {
                        (self.puzzle_idx + 1) % n
                    } else {
                        (self.puzzle_idx + n - 1) % n
                    };
                    self.set_puzzle(self.set_idx, next, ctx, true);
                }
            }
            KeyCode::Char('e') => {
                if let Some(p) = &self.puzzle {
                    let grid = match p.kind {
                        PuzzleKind::Arc => p.input.clone(),
                        _ => p.input.clone(),
                    };
                    let (r, c) = (
                        self.cursor.0.min(grid.rows.saturating_sub(1)),
                        self.cursor.1.min(grid.cols.saturating_sub(1)),
                    );
                    if grid.rows > 0 && grid.cols > 0 {
                        self.mode = Mode::Edit { grid, r, c };
                    }
                }
            }
            KeyCode::Char('c') => {
                self.lens = match self.lens {
                    Some(_) => None,
                    None => self
                        .steps
                        .get(self.cur)
                        .filter(|s| !s.cycle_preds.is_empty())
                        .map(|s| s.cycle_preds.len() - 1),
                };
            }
            KeyCode::Char('r') => {
                if self.loaded.is_some() {
                    self.solve(ctx);
                } else {
                    self.load_selected(ctx);
                }
            }
            KeyCode::Char('x') => self.export_trace(ctx),
            _ => return EventState::NotConsumed,
        }
        EventState::Consumed
    }

    fn tick(&mut self, ctx: &mut Ctx) -> bool {
        let mut changed = self.poll(ctx);
        if self.playing && self.last_play.elapsed() >= self.play_interval {
            self.last_play = Instant::now();
            if self.cur + 1 < self.steps.len() {
                self.cur += 1;
            } else if self.phase != Phase::Solving {
                self.playing = false;
            }
            changed = true;
        }
        changed
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_style(focused))
            .title(Span::styled(" Solver ", theme.title_style()));
        let inner = block.inner(area);
        f.render_widget(block.style(theme.base()), area);
        let [head, body] =
            Layout::vertical([Constraint::Length(4), Constraint::Min(1)]).areas(inner);
        f.render_widget(
            Paragraph::new(self.header(theme))
                .wrap(ratatui::widgets::Wrap { trim: false })
                .style(theme.base()),
            head,
        );

        let right_w = 64u16.min(body.width / 2);
        let left_max = Rect::new(
            0,
            0,
            body.width.saturating_sub(right_w + 2),
            body.height.saturating_sub(8),
        );
        let (rows, cols) = self.dims();
        let (kind, input_tokens) = match (&self.mode, &self.puzzle) {
            (Mode::Edit { grid, .. }, Some(p)) => (p.kind, p.kind.encode(grid)),
            (_, Some(p)) => (p.kind, p.input_tokens()),
            _ => {
                f.render_widget(
                    Paragraph::new("No puzzle: press p to pick one.").style(theme.dim_style()),
                    body,
                );
                return;
            }
        };
        let layout = GridLayout::new(kind, (rows, cols), left_max);
        let (gw, gh) = layout.size();
        let left_w = (gw + 2).max(42).min(body.width.saturating_sub(right_w));
        let [left, right] =
            Layout::horizontal([Constraint::Length(left_w), Constraint::Min(10)]).areas(body);
        let [grid_area, insp_area] =
            Layout::vertical([Constraint::Length(gh + 2), Constraint::Min(3)]).areas(left);

        let step = self.steps.get(self.cur);
        let shown = self.shown_pred();
        let overlay_target = self.overlay_target();
        let prev: Option<&[u32]> = match (self.lens, step) {
            (Some(k), Some(s)) if k > 0 => s.cycle_preds.get(k - 1).map(|v| v.as_slice()),
            _ => self
                .cur
                .checked_sub(1)
                .and_then(|i| self.steps.get(i))
                .map(|s| s.pred.as_slice()),
        };
        let conf: Option<Vec<f32>> = step.map(|s| {
            s.probs
                .iter()
                .zip(shown.unwrap_or(&s.pred))
                .map(|(p, &t)| p.get(t as usize).copied().unwrap_or(0.0))
                .collect()
        });
        let edit_cursor = match &self.mode {
            Mode::Edit { r, c, .. } => Some((*r, *c)),
            _ => None,
        };
        let editing = edit_cursor.is_some();
        let view = GridView {
            layout,
            input: &input_tokens,
            shown: if editing { None } else { shown },
            prev: if editing { None } else { prev },
            target: if editing {
                None
            } else {
                overlay_target.as_deref()
            },
            confidence: if editing { None } else { conf.as_deref() },
            overlay: if editing { Overlay::None } else { self.overlay },
            cursor: edit_cursor.or(Some(self.cursor)),
            theme,
        };
        let gblock = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_style(editing))
            .title(Span::styled(
                if editing {
                    " Edit grid ".to_string()
                } else {
                    format!(" {} ", kind)
                },
                theme.title_style(),
            ));
        let ginner = gblock.inner(grid_area);
        f.render_widget(gblock.style(theme.base()), grid_area);
        view.render(ginner, f.buffer_mut());
        self.draw_inspector(f, insp_area, theme);

        let strip_h = (self.steps.len() as u16 + 3)
            .max(5)
            .min(right.height.saturating_sub(4));
        let [strip, legend] =
            Layout::vertical([Constraint::Length(strip_h), Constraint::Min(1)]).areas(right);
        self.draw_strip(f, strip, theme);
        let legend_lines = vec![
            Line::from(vec![
                Span::styled("correctness ", theme.dim_style()),
                Span::styled(" right ", Style::default().bg(theme.correct_bg).fg(theme.fg)),
                Span::raw(" "),
                Span::styled(" wrong ", Style::default().bg(theme.wrong_bg).fg(theme.fg)),
                Span::styled("  changes ", theme.dim_style()),
                Span::styled(" changed ", Style::default().bg(theme.changed_bg).fg(theme.fg)),
                Span::styled("  confidence ", theme.dim_style()),
                Span::styled(" 0 ", Style::default().bg(theme.heat(0.0)).fg(theme.fg)),
                Span::styled(" .5 ", Style::default().bg(theme.heat(0.5)).fg(theme.bg)),
                Span::styled(" 1 ", Style::default().bg(theme.heat(1.0)).fg(theme.bg)),
            ]),
            Line::styled(
                "σ(halt) ▲ = q_halt > 0 (would halt); ◀ halt = first such step; stuck = |ΔzH|/|zH| < 1e-3 while wrong",
                theme.dim_style(),
            ),
        ];
        f.render_widget(
            Paragraph::new(legend_lines)
                .wrap(ratatui::widgets::Wrap { trim: true })
                .style(theme.base()),
            legend,
        );
        self.draw_picker(f, area, theme);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn pane() -> (SolverPane, Ctx, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = Ctx::default();
        let mut p = SolverPane::new(Paths::under(dir.path()), 0, &mut ctx);
        p.start(&mut ctx, None);
        assert!(p.wait_idle(Duration::from_secs(120), &mut ctx));
        (p, ctx, dir)
    }

    #[test]
    fn default_is_untrained_on_a_generated_sudoku_and_steps_through() {
        let (mut p, mut ctx, _d) = pane();
        assert_eq!(p.phase, Phase::Ready, "{:?}", p.phase);
        let l = p.loaded.as_ref().unwrap();
        assert!(l.untrained);
        assert_eq!(p.steps.len(), 16);
        assert_eq!(p.cur, 15, "follows the newest step while solving");
        p.handle_key(key(KeyCode::Home), &mut ctx);
        assert_eq!(p.cur, 0);
        p.handle_key(key(KeyCode::Right), &mut ctx);
        p.handle_key(key(KeyCode::Right), &mut ctx);
        assert_eq!(p.cur, 2);
        p.handle_key(key(KeyCode::Left), &mut ctx);
        assert_eq!(p.cur, 1);
        p.handle_key(key(KeyCode::End), &mut ctx);
        assert_eq!(p.cur, 15);
        p.handle_key(key(KeyCode::Right), &mut ctx);
        assert_eq!(p.cur, 15, "clamped at the end");
        // The lens walks H-cycles inside steps.
        p.handle_key(key(KeyCode::Home), &mut ctx);
        p.handle_key(key(KeyCode::Char('c')), &mut ctx);
        assert_eq!(p.lens, Some(2));
        p.handle_key(key(KeyCode::Right), &mut ctx);
        assert_eq!((p.cur, p.lens), (1, Some(0)));
        p.handle_key(key(KeyCode::Left), &mut ctx);
        assert_eq!((p.cur, p.lens), (0, Some(2)));
        p.handle_key(key(KeyCode::Char('c')), &mut ctx);
        assert_eq!(p.lens, None);
        // Overlay cycles.
        let o = p.overlay;
        for _ in 0..4 {
            p.handle_key(key(KeyCode::Char('o')), &mut ctx);
        }
        assert_eq!(p.overlay, o);
        let stats = p.stats();
        assert_eq!(stats.len(), 16);
        assert!(stats.iter().all(|s| s.accuracy.is_some()));
    }

    #[test]
    fn play_advances_and_stops_at_the_end() {
        let (mut p, mut ctx, _d) = pane();
        p.handle_key(key(KeyCode::Home), &mut ctx);
        p.play_interval = Duration::ZERO;
        p.handle_key(key(KeyCode::Char(' ')), &mut ctx);
        assert!(p.playing);
        for _ in 0..20 {
            p.tick(&mut ctx);
        }
        assert_eq!(p.cur, 15);
        assert!(!p.playing);
    }

    #[test]
    fn pick_next_puzzle_and_maze_reloads_untrained_model() {
        let (mut p, mut ctx, _d) = pane();
        p.handle_key(key(KeyCode::Char('n')), &mut ctx);
        assert_eq!(p.puzzle_idx, 1);
        assert!(p.wait_idle(Duration::from_secs(120), &mut ctx));
        // Pick the first maze in the picker.
        p.handle_key(key(KeyCode::Char('p')), &mut ctx);
        assert!(p.capturing_input());
        let list = p.puzzle_list();
        let target = list
            .iter()
            .position(|&(si, _)| matches!(p.sets[si].kind, PuzzleKind::Maze { .. }))
            .unwrap();
        let Mode::PickPuzzle { sel } = p.mode else {
            panic!()
        };
        for _ in 0..(target + list.len() - sel) % list.len() {
            p.handle_key(key(KeyCode::Char('j')), &mut ctx);
        }
        p.handle_key(key(KeyCode::Enter), &mut ctx);
        assert_eq!(p.mode, Mode::Normal);
        assert_eq!(
            p.phase,
            Phase::Loading,
            "an untrained model is rebuilt for the maze shape"
        );
        assert!(p.wait_idle(Duration::from_secs(120), &mut ctx));
        assert_eq!(p.phase, Phase::Ready);
        assert_eq!(p.loaded.as_ref().unwrap().config.seq_len, 81);
        assert_eq!(p.loaded.as_ref().unwrap().config.vocab_size, 6);
        assert_eq!(p.target.as_ref().unwrap().source, "label");
    }

    #[test]
    fn typed_sudoku_gets_the_classical_target() {
        let (mut p, mut ctx, _d) = pane();
        assert_eq!(
            p.puzzle.as_ref().unwrap().kind,
            PuzzleKind::Sudoku { size: 4 }
        );
        p.handle_key(key(KeyCode::Char('e')), &mut ctx);
        assert!(p.capturing_input());
        // Clear everything, then type a 4x4 puzzle row by row.
        let Mode::Edit { .. } = p.mode else { panic!() };
        p.mode = Mode::Edit {
            grid: Grid::filled(4, 4, 0),
            r: 0,
            c: 0,
        };
        for ch in "12..34..........".chars() {
            p.handle_key(key(KeyCode::Char(ch)), &mut ctx);
        }
        p.handle_key(key(KeyCode::Char('q')), &mut ctx); // not a value: a warning, not a quit
        p.handle_key(key(KeyCode::Enter), &mut ctx);
        assert_eq!(p.mode, Mode::Normal);
        let t = p.target.as_ref().unwrap();
        assert_eq!(t.source, "classical solver");
        assert_eq!(&t.tokens[..4], &[2, 3, 4, 5]);
        assert_eq!(p.puzzle.as_ref().unwrap().name, "typed");
        assert!(p.wait_idle(Duration::from_secs(120), &mut ctx));
        assert_eq!(p.steps.len(), 16);
    }

    #[test]
    fn built_dataset_folders_are_puzzle_sets_of_their_test_split() {
        use crate::data::build::{build_maze, GridBuildConfig, Output};
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        std::fs::create_dir_all(&paths.puzzles_dir).unwrap();
        // A tiny maze CSV from the generated set, built into a dataset folder inside the
        // puzzles dir (outside it, the CSV itself would also be a set).
        let (gen, errs) = generated_sets(0);
        assert!(errs.is_empty(), "{errs:?}");
        let mazes = gen
            .iter()
            .find(|s| matches!(s.kind, PuzzleKind::Maze { .. }))
            .unwrap();
        let csv = dir.path().join("mazes.csv");
        crate::data::csv::write_hf_csv(&csv, &mazes.puzzles).unwrap();
        let cfg = GridBuildConfig {
            train_files: vec![csv],
            test_fraction: 0.5,
            num_aug: 0,
            seed: 1,
            ..GridBuildConfig::default()
        };
        let built = build_maze(&cfg, Output::Dir(&paths.puzzles_dir.join("maze-ds"))).unwrap();
        let n_test = built.test.meta.total_groups;
        assert!(n_test > 0);
        // A broken dataset folder: an error in the Logs and the status line, not a crash.
        let broken = paths.puzzles_dir.join("broken-ds");
        for split in ["train", "test"] {
            std::fs::create_dir_all(broken.join(split)).unwrap();
            std::fs::write(broken.join(split).join("dataset.json"), "{ nope").unwrap();
        }
        let mut ctx = Ctx::default();
        let mut p = SolverPane::new(paths.clone(), 0, &mut ctx);
        let set = p.sets.iter().position(|s| s.name == "maze-ds").unwrap();
        let s = &p.sets[set];
        assert_eq!(s.kind, PuzzleKind::Maze { rows: 9, cols: 9 });
        assert_eq!(s.puzzles.len(), n_test);
        assert_eq!(s.puzzle_ids.len(), n_test);
        for q in &s.puzzles {
            let label = q.label.as_ref().unwrap();
            assert_eq!(
                crate::data::maze::check_path(&q.input, label),
                PathCheck::Correct
            );
            assert!(mazes.puzzles.iter().any(|m| m.input == q.input));
        }
        assert!(!p.sets.iter().any(|s| s.name == "broken-ds"));
        // An error log line is also put on the status line by the app.
        assert!(
            ctx.actions.iter().any(|a| matches!(
                a,
                crate::tui::component::Action::Log(Level::Error, m) if m.contains("broken-ds")
            )),
            "{:?}",
            ctx.actions
        );
        // Solving one of its puzzles passes the example's identifier.
        p.set_puzzle(set, 0, &mut ctx, true);
        assert_eq!(p.puzzle_id, p.sets[set].puzzle_id(0));
        assert!(p.wait_idle(Duration::from_secs(120), &mut ctx));
        assert_eq!(p.phase, Phase::Ready, "{:?}", p.phase);
        assert_eq!(p.target.as_ref().unwrap().source, "label");
        // `--puzzles DIR` pointing at the folder itself.
        let only = Paths {
            puzzles_dir: paths.puzzles_dir.join("maze-ds"),
            ..paths
        };
        let mut ctx = Ctx::default();
        let p = SolverPane::new(only, 0, &mut ctx);
        assert_eq!(p.sets.len(), 1, "{:?}", ctx.actions);
        assert_eq!(p.sets[0].name, "maze-ds");
        assert_eq!(p.sets[0].puzzles.len(), n_test);
    }

    #[test]
    fn a_valid_shortest_maze_path_other_than_the_label_counts_as_right() {
        let (mut p, _ctx, _d) = pane();
        let kind = PuzzleKind::Maze { rows: 5, cols: 5 };
        let g = |rows: [&str; 5]| Grid::new(5, 5, rows.concat().into_bytes());
        let q = g(["#####", "#S  #", "#   #", "#  G#", "#####"]);
        let label = g(["#####", "#Soo#", "#  o#", "#  G#", "#####"]);
        let other = g(["#####", "#S  #", "#o  #", "#ooG#", "#####"]);
        let broken = g(["#####", "#So #", "#   #", "#  G#", "#####"]);
        p.puzzle = Some(Puzzle {
            name: "two paths".into(),
            kind,
            input: q,
            label: Some(label),
            rating: None,
        });
        p.target = target_of(p.puzzle.as_ref().unwrap());
        let step = |g: &Grid| SolveStep {
            step: 1,
            pred: kind.encode(g).iter().map(|&t| t as u32).collect(),
            probs: vec![vec![0.0; 6]; 25],
            q_halt: 0.0,
            q_continue: 0.0,
            z_h_norm: 1.0,
            z_l_norm: 1.0,
            z_h_delta: 0.0,
            z_l_delta: 0.0,
            cycle_preds: Vec::new(),
        };
        p.steps = vec![step(&other), step(&broken)];
        p.lens = None;
        p.cur = 0;
        let st = p.stats();
        assert_eq!(st[0].path_check, Some(PathCheck::Correct));
        assert_eq!((st[0].accuracy, st[0].exact), (Some(1.0), Some(true)));
        assert_eq!(
            p.overlay_target().unwrap(),
            kind.encode(&other),
            "the overlay judges against the valid path"
        );
        assert!(matches!(st[1].path_check, Some(PathCheck::Invalid(_))));
        assert_eq!(st[1].exact, Some(false));
        p.cur = 1;
        assert_eq!(
            p.overlay_target().unwrap(),
            p.target.as_ref().unwrap().tokens
        );
        assert_eq!(
            path_verdict(&PathCheck::Correct),
            "valid shortest path".to_string()
        );
    }

    #[test]
    fn mismatched_checkpoint_is_an_error_message() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        // A real weights file for 900-cell inputs (no puzzle of that shape exists here).
        let cfg = untrained_config(6, 100);
        let m = crate::model::TrmModel::new(cfg.clone(), 0, &candle_core::Device::Cpu).unwrap();
        let mut meta = std::collections::HashMap::new();
        meta.insert("model_config".to_string(), cfg.to_toml_string());
        std::fs::create_dir_all(&paths.checkpoints_dir).unwrap();
        let ck = paths.checkpoints_dir.join("maze10.safetensors");
        crate::model::weights::save_safetensors(&ck, &m.state_dict(), &meta).unwrap();
        std::fs::write(paths.checkpoints_dir.join("garbage.safetensors"), b"nope").unwrap();
        let mut ctx = Ctx::default();
        let mut p = SolverPane::new(paths, 0, &mut ctx);
        assert_eq!(p.models.len(), 3);
        p.start(&mut ctx, None);
        assert!(p.wait_idle(Duration::from_secs(120), &mut ctx));
        assert!(
            p.loaded.as_ref().unwrap().untrained,
            "no puzzle fits the checkpoint"
        );
        p.open_checkpoint(&ck, &mut ctx);
        assert!(p.wait_idle(Duration::from_secs(120), &mut ctx));
        match &p.phase {
            Phase::Failed(m) => assert!(m.contains("100 cells"), "{m}"),
            other => panic!("{other:?}"),
        }
        let garbage = p
            .models
            .iter()
            .position(|m| matches!(m, ModelChoice::Checkpoint { path, .. } if path.ends_with("garbage.safetensors")))
            .unwrap();
        p.model_idx = garbage;
        p.load_selected(&mut ctx);
        assert!(p.wait_idle(Duration::from_secs(60), &mut ctx));
        assert!(matches!(p.phase, Phase::Failed(_)));
    }
}
