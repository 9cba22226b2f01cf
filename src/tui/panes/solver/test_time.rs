//! The solver's test-time panel (key `t`): the current puzzle run with test-time compute on a
//! thread of its own: steps past the trained maximum, halting on every step or on the model's
//! `q_halt > 0`, K noisy trajectories side by side with the one the Q head picks marked, and
//! aug-vote copies with the voted answer and the per-cell agreement. Keys change the settings
//! and run again; ←/→ show the ensemble after any step. The model runs through
//! [`crate::train::test_time`]; this file owns the panel's state, keys and drawing.

use std::sync::mpsc::{channel, Receiver, Sender};

use candle_core::Device;
use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::data::{Puzzle, PuzzleKind};
use crate::model::{TrmConfig, TrmModel};
use crate::train::test_time::trace::SolveTrace;
use crate::train::test_time::{
    net_calls_per_step, solve_puzzles, Ensemble, HaltPolicy, PuzzleInput, Rule, TestTimeOptions,
};
use crate::tui::component::{Ctx, KeyHint, Level};
use crate::tui::grid::sudoku_glyph;
use crate::tui::keys::{Binding, KeyMap, KeyOverrides};
use crate::tui::theme::Theme;
use crate::tui::worker::ModelSource;

use super::SolverPane;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestTimeAction {
    Close,
    StepPrev,
    StepNext,
    MoreSteps,
    FewerSteps,
    Halt,
    MoreSamples,
    FewerSamples,
    Noise,
    AugVote,
}

use TestTimeAction as A;

/// Config table `solver_test_time`.
pub const KEYS: &[Binding<TestTimeAction>] = &[
    Binding::bar(
        A::Close,
        "close",
        &["Esc", "t"],
        "close",
        "close the test-time panel",
    ),
    Binding::bar(
        A::StepPrev,
        "step_back",
        &["Left"],
        "step",
        "show the previous step",
    ),
    Binding::bar(
        A::StepNext,
        "step_forward",
        &["Right"],
        "step",
        "show the next step",
    ),
    Binding::bar(
        A::MoreSteps,
        "more_steps",
        &["+", "="],
        "steps",
        "one supervision step more (past the trained number too), run again",
    ),
    Binding::bar(
        A::FewerSteps,
        "fewer_steps",
        &["-"],
        "steps",
        "one supervision step less, run again",
    ),
    Binding::bar(
        A::Halt,
        "halting",
        &["a"],
        "halting",
        "halting policy: every step, or each trajectory at its first q_halt > 0",
    ),
    Binding::bar(
        A::MoreSamples,
        "more_samples",
        &["s"],
        "samples",
        "one noisy trajectory more, run again",
    ),
    Binding::bar(
        A::FewerSamples,
        "fewer_samples",
        &["S"],
        "samples",
        "one noisy trajectory less, run again",
    ),
    Binding::bar(
        A::Noise,
        "noise",
        &["n"],
        "noise",
        "next noise level on the latents (0, 0.1, 0.3, 0.5), run again",
    ),
    Binding::bar(
        A::AugVote,
        "aug_vote",
        &["v"],
        "aug-vote",
        "next number of augmented copies that vote (1, 2, 4, 8), run again",
    ),
];

const NOISES: [f64; 4] = [0.0, 0.1, 0.3, 0.5];
const COPIES: [usize; 4] = [1, 2, 4, 8];
const MAX_SAMPLES: usize = 16;

/// A finished run of the panel.
#[derive(Debug, Clone)]
pub struct Solved {
    pub opts: TestTimeOptions,
    pub trained_steps: usize,
    pub net_calls: usize,
    pub kind: PuzzleKind,
    pub input: Vec<i32>,
    pub ensemble: Ensemble,
    pub trace: SolveTrace,
}

/// What a run needs: the model, the puzzle.
#[derive(Debug, Clone)]
struct Job {
    source: ModelSource,
    trained_steps: usize,
    puzzle: Puzzle,
    puzzle_id: i32,
}

/// The panel's thread's answer to run `id`.
struct Outcome {
    id: u64,
    result: Result<Solved, String>,
}

fn load(source: &ModelSource) -> Result<TrmModel, String> {
    match source {
        ModelSource::Checkpoint(p) => crate::model::weights::load_model(p, None, &Device::Cpu)
            .map(|(m, _)| m)
            .map_err(|e| e.to_string()),
        ModelSource::Untrained { config, seed } => {
            TrmModel::new((**config).clone(), *seed, &Device::Cpu).map_err(|e| e.to_string())
        }
    }
}

fn run(job: &Job, opts: &TestTimeOptions) -> Result<Solved, String> {
    let model = load(&job.source)?;
    let p = &job.puzzle;
    let input = p.input_tokens();
    let e = solve_puzzles(
        &model,
        Some(p.kind),
        &[PuzzleInput {
            inputs: &input,
            puzzle_id: job.puzzle_id,
            index: 0,
        }],
        opts,
        true,
    )
    .map_err(|e| format!("{e:#}"))?
    .into_iter()
    .next()
    .ok_or("no trajectory came back")?;
    let label = p.label_tokens();
    let trace = SolveTrace::new(&e, opts, p.kind, &input, label.as_deref());
    Ok(Solved {
        opts: *opts,
        trained_steps: job.trained_steps,
        net_calls: e.trajectory_steps() * net_calls_per_step(&model.config),
        kind: p.kind,
        input,
        ensemble: e,
        trace,
    })
}

pub struct TestTimePanel {
    open: bool,
    opts: Option<TestTimeOptions>,
    job: Option<Job>,
    /// Step shown (1-based; clamped to the run).
    shown: usize,
    keys: KeyMap<TestTimeAction>,
    pending: u64,
    running: bool,
    tx: Sender<Outcome>,
    rx: Receiver<Outcome>,
    solved: Option<Solved>,
    error: Option<String>,
}

impl std::fmt::Debug for TestTimePanel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestTimePanel")
            .field("open", &self.open)
            .field("opts", &self.opts)
            .field("running", &self.running)
            .finish()
    }
}

impl TestTimePanel {
    /// A closed panel with the user's key overrides; returns the problems found in them.
    pub fn new(overrides: &KeyOverrides) -> (TestTimePanel, Vec<String>) {
        let (keys, errs) = KeyMap::new("solver_test_time", KEYS, overrides);
        let (tx, rx) = channel();
        (
            TestTimePanel {
                open: false,
                opts: None,
                job: None,
                shown: 0,
                keys,
                pending: 0,
                running: false,
                tx,
                rx,
                solved: None,
                error: None,
            },
            errs,
        )
    }

    pub fn remap(&mut self, overrides: &KeyOverrides) -> Vec<String> {
        let (keys, errs) = KeyMap::new("solver_test_time", KEYS, overrides);
        self.keys = keys;
        errs
    }

    pub fn is_open(&self) -> bool {
        self.open
    }
    pub fn running(&self) -> bool {
        self.running
    }
    pub fn options(&self) -> Option<&TestTimeOptions> {
        self.opts.as_ref()
    }
    pub fn solved(&self) -> Option<&Solved> {
        self.solved.as_ref()
    }
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
    pub fn shown(&self) -> usize {
        self.shown
    }

    /// Open on a model and a puzzle and run them (the settings are kept between puzzles; the
    /// steps start at the model's trained number).
    pub fn open_on(
        &mut self,
        source: ModelSource,
        config: &TrmConfig,
        puzzle: Puzzle,
        puzzle_id: i32,
    ) {
        let trained = config.halt_max_steps;
        let keep = self
            .job
            .as_ref()
            .is_some_and(|j| j.source == source && j.trained_steps == trained);
        if !keep || self.opts.is_none() {
            self.opts = Some(TestTimeOptions::plain(config));
        }
        self.job = Some(Job {
            source,
            trained_steps: trained,
            puzzle,
            puzzle_id,
        });
        self.open = true;
        self.start();
    }

    /// Show a finished run (tests, replays).
    pub fn show(&mut self, solved: Solved) {
        self.opts = Some(solved.opts);
        self.shown = solved.trace.steps.len();
        self.solved = Some(solved);
        self.error = None;
        self.running = false;
        self.open = true;
    }

    pub fn close(&mut self) {
        self.open = false;
    }

    fn start(&mut self) {
        let (Some(job), Some(opts)) = (self.job.clone(), self.opts) else {
            return;
        };
        self.pending += 1;
        let id = self.pending;
        let tx = self.tx.clone();
        self.running = true;
        self.error = None;
        let spawned = std::thread::Builder::new()
            .name("trm-test-time".into())
            .spawn(move || {
                let result = run(&job, &opts);
                let _ = tx.send(Outcome { id, result });
            });
        if let Err(e) = spawned {
            self.running = false;
            self.error = Some(format!("cannot start the test-time thread: {e}"));
        }
    }

    /// Take the thread's answers; true when the panel changed.
    pub fn poll(&mut self) -> bool {
        let mut changed = false;
        while let Ok(o) = self.rx.try_recv() {
            changed |= self.take(o);
        }
        changed
    }

    /// Apply one answer (answers to an older run are dropped).
    fn take(&mut self, o: Outcome) -> bool {
        if o.id != self.pending {
            return false;
        }
        self.running = false;
        match o.result {
            Ok(s) => {
                self.shown = s.trace.steps.len();
                self.solved = Some(s);
            }
            Err(e) => self.error = Some(e),
        }
        true
    }

    /// Block until the run is over (tests).
    pub fn wait(&mut self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while self.running {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(o) => {
                    self.take(o);
                }
                Err(_) => return false,
            }
        }
        true
    }

    pub fn hints(&self) -> Vec<KeyHint> {
        self.keys.hints()
    }

    /// Apply a key; every key is the panel's while it is open.
    pub fn handle_key(&mut self, key: &KeyEvent, ctx: &mut Ctx) {
        let Some(action) = self.keys.action(key) else {
            return;
        };
        if action == A::Close {
            self.close();
            return;
        }
        let ran = self.solved.as_ref().map_or(0, |s| s.trace.steps.len());
        match action {
            A::StepPrev => {
                self.shown = self.shown.saturating_sub(1).max(1.min(ran));
                return;
            }
            A::StepNext => {
                self.shown = (self.shown + 1).min(ran);
                return;
            }
            _ => {}
        }
        let Some(o) = self.opts.as_mut() else { return };
        let before = *o;
        match action {
            A::MoreSteps => o.steps += 1,
            A::FewerSteps => o.steps = o.steps.saturating_sub(1).max(1),
            A::Halt => {
                o.halt = match o.halt {
                    HaltPolicy::All => HaltPolicy::Q,
                    HaltPolicy::Q => HaltPolicy::All,
                }
            }
            A::MoreSamples => o.samples = (o.samples + 1).min(MAX_SAMPLES),
            A::FewerSamples => o.samples = o.samples.saturating_sub(1).max(1),
            A::Noise => {
                let i = NOISES
                    .iter()
                    .position(|&n| n == o.noise)
                    .map_or(0, |i| i + 1);
                o.noise = NOISES[i % NOISES.len()];
            }
            A::AugVote => {
                let i = COPIES
                    .iter()
                    .position(|&c| c == o.aug_vote)
                    .map_or(0, |i| i + 1);
                o.aug_vote = COPIES[i % COPIES.len()];
            }
            A::Close | A::StepPrev | A::StepNext => {}
        }
        if *o != before {
            if o.samples > 1 && o.noise == 0.0 {
                ctx.status(
                    Level::Info,
                    "test-time: without noise the samples are identical (n sets a noise level)",
                );
            }
            self.start();
        }
    }

    /// Draw over `area` (the solver's body).
    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        f.render_widget(Clear, area);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_style(true))
            .title(Span::styled(" Test-time compute ", theme.title_style()));
        let inner = block.inner(area);
        f.render_widget(block.style(theme.base()), area);
        f.render_widget(
            Paragraph::new(self.lines(theme, inner.width as usize)).style(theme.base()),
            inner,
        );
    }

    fn lines(&self, theme: &Theme, width: usize) -> Vec<Line<'static>> {
        let mut out = Vec::new();
        let Some(o) = &self.opts else {
            out.push(Line::styled(
                "No model loaded: pick one (m) first.",
                theme.dim_style(),
            ));
            return out;
        };
        let trained = self
            .job
            .as_ref()
            .map(|j| j.trained_steps)
            .or(self.solved.as_ref().map(|s| s.trained_steps))
            .unwrap_or(o.steps);
        out.push(Line::from(format!(
            "steps {} (trained {trained}){}  halt {}  samples {}  noise {}  aug-vote {}  seed {}",
            o.steps,
            if o.steps > trained {
                ", past the maximum"
            } else {
                ""
            },
            match o.halt {
                HaltPolicy::All => "every step",
                HaltPolicy::Q => "at q_halt > 0",
            },
            o.samples,
            o.noise,
            o.aug_vote,
            o.seed
        )));
        if self.running {
            out.push(Line::styled("running…", theme.dim_style()));
        }
        if let Some(e) = &self.error {
            out.push(Line::styled(
                format!("error: {e}"),
                Style::default().fg(theme.error),
            ));
        }
        let Some(s) = &self.solved else {
            return out;
        };
        let Some(step) = s.trace.steps.get(self.shown.max(1) - 1) else {
            return out;
        };
        let n = s.ensemble.trajectories.len();
        let rule = match s.trace.rule {
            Rule::QPick => "Q-head pick",
            Rule::Vote => "per-cell vote",
        };
        let verdict = match step.right {
            Some(true) => Span::styled("right", Style::default().fg(theme.ok)),
            Some(false) => Span::styled("wrong", Style::default().fg(theme.error)),
            None => Span::raw("no label"),
        };
        let (ht, hs) = s.trace.halt_first;
        out.push(Line::from(vec![
            Span::raw(format!(
                "after step {}/{}: answer ({rule}) ",
                step.step,
                s.trace.steps.len()
            )),
            verdict,
            Span::raw(format!(
                "  ·  {} network calls  ·  halting-first: #{ht} at step {hs}",
                s.net_calls
            )),
        ]));
        out.push(Line::raw(""));
        // The answer with its agreement, then the trajectories, as many as fit side by side.
        let (rows, cols) = grid_shape(s.kind);
        let cell_w = cell_width(s.kind);
        let block_w = (cols * cell_w).max(18) + 2;
        let mut blocks: Vec<(Vec<Span<'static>>, Vec<Vec<Span<'static>>>)> = Vec::new();
        let answer_title = if n > 1 {
            vec![Span::styled(
                format!(
                    "answer ({} of {n})",
                    if s.trace.rule == Rule::Vote {
                        "vote"
                    } else {
                        "pick"
                    }
                ),
                theme.title_style(),
            )]
        } else {
            vec![Span::styled("answer", theme.title_style())]
        };
        blocks.push((
            answer_title,
            grid_spans(s.kind, &s.input, &step.answer, None, theme),
        ));
        if n > 1 {
            let agree: Vec<i32> = step
                .agreement
                .iter()
                .map(|a| (a * n as f32).round() as i32)
                .collect();
            blocks.push((
                vec![Span::styled("agreeing", theme.title_style())],
                agreement_spans(s.kind, &agree, n, theme),
            ));
        }
        for (i, (t, st)) in s
            .ensemble
            .trajectories
            .iter()
            .zip(&step.trajectories)
            .enumerate()
        {
            let rec = t.at(step.step);
            let mut title = vec![Span::raw(format!("#{i} q{:+.2}", st.q_halt))];
            if i == step.picked {
                title.push(Span::styled(
                    " ◀Q",
                    Style::default()
                        .fg(theme.accent)
                        .add_modifier(Modifier::BOLD),
                ));
            }
            // Under halting on q, a trajectory stops at its first q_halt > 0.
            let halted =
                s.opts.halt == HaltPolicy::Q && t.first_halt().is_some_and(|h| h <= step.step);
            if halted || !st.running {
                title.push(Span::styled(" halted", theme.dim_style()));
            }
            blocks.push((
                title,
                grid_spans(s.kind, &s.input, &rec.pred, Some(&step.answer), theme),
            ));
        }
        let per_row = (width / block_w).max(1);
        for chunk in blocks.chunks(per_row) {
            let mut title = Vec::new();
            for (t, _) in chunk {
                let w: usize = t.iter().map(|s| s.content.chars().count()).sum();
                title.extend(t.iter().cloned());
                title.push(Span::raw(" ".repeat(block_w.saturating_sub(w))));
            }
            out.push(Line::from(title));
            for r in 0..rows {
                let mut line = Vec::new();
                for (_, g) in chunk {
                    let w: usize = g[r].iter().map(|s| s.content.chars().count()).sum();
                    line.extend(g[r].iter().cloned());
                    line.push(Span::raw(" ".repeat(block_w.saturating_sub(w))));
                }
                out.push(Line::from(line));
            }
            out.push(Line::raw(""));
        }
        out
    }
}

fn grid_shape(kind: PuzzleKind) -> (usize, usize) {
    match kind {
        PuzzleKind::Sudoku { size } => (size, size),
        PuzzleKind::Maze { rows, cols } => (rows, cols),
        PuzzleKind::Arc => (crate::data::arc::CANVAS, crate::data::arc::CANVAS),
    }
}

fn cell_width(kind: PuzzleKind) -> usize {
    match kind {
        PuzzleKind::Sudoku { .. } => 2,
        _ => 1,
    }
}

fn glyph(kind: PuzzleKind, tok: i32) -> char {
    match kind {
        PuzzleKind::Sudoku { size } => sudoku_glyph(tok, size),
        PuzzleKind::Maze { .. } => match tok {
            1 => '█',
            2 => ' ',
            3 => 'S',
            4 => 'G',
            5 => '•',
            _ => '?',
        },
        PuzzleKind::Arc => match tok {
            2..=11 => char::from(b'0' + (tok - 2) as u8),
            _ => ' ',
        },
    }
}

/// One grid as spans per row: givens and walls in their colours, cells that differ from
/// `reference` (the ensemble's answer) in the error colour.
fn grid_spans(
    kind: PuzzleKind,
    input: &[i32],
    tokens: &[i32],
    reference: Option<&[i32]>,
    theme: &Theme,
) -> Vec<Vec<Span<'static>>> {
    let (rows, cols) = grid_shape(kind);
    (0..rows)
        .map(|r| {
            (0..cols)
                .map(|c| {
                    let k = r * cols + c;
                    let tok = tokens.get(k).copied().unwrap_or(0);
                    let ch = glyph(kind, tok);
                    let differs = reference.is_some_and(|a| a.get(k) != Some(&tok));
                    let fg = if differs {
                        theme.error
                    } else {
                        match (kind, tok) {
                            (PuzzleKind::Sudoku { .. }, _)
                                if input.get(k).is_some_and(|&t| t >= 2) =>
                            {
                                theme.given
                            }
                            (PuzzleKind::Maze { .. }, 1) => theme.wall,
                            (PuzzleKind::Maze { .. }, 5) => theme.path,
                            _ => theme.predicted,
                        }
                    };
                    let text = if cell_width(kind) == 2 {
                        format!("{ch} ")
                    } else {
                        ch.to_string()
                    };
                    Span::styled(text, Style::default().fg(fg))
                })
                .collect()
        })
        .collect()
}

/// How many trajectories agree with the answer in each cell (`*` for all of them), on the
/// confidence heat scale.
fn agreement_spans(
    kind: PuzzleKind,
    agree: &[i32],
    n: usize,
    theme: &Theme,
) -> Vec<Vec<Span<'static>>> {
    let (rows, cols) = grid_shape(kind);
    (0..rows)
        .map(|r| {
            (0..cols)
                .map(|c| {
                    let a = agree.get(r * cols + c).copied().unwrap_or(0);
                    let ch = if a as usize >= n {
                        '*'
                    } else {
                        char::from_digit(a.clamp(0, 9) as u32, 10).unwrap_or('?')
                    };
                    let text = if cell_width(kind) == 2 {
                        format!("{ch} ")
                    } else {
                        ch.to_string()
                    };
                    Span::styled(
                        text,
                        Style::default().fg(theme.heat(a as f32 / n.max(1) as f32)),
                    )
                })
                .collect()
        })
        .collect()
}

impl SolverPane {
    /// Open the test-time panel on the current model and puzzle.
    pub(super) fn open_test_time(&mut self, ctx: &mut Ctx) {
        let (Some(l), Some(p)) = (&self.loaded, &self.puzzle) else {
            ctx.status(
                Level::Warn,
                "test-time: load a model (m) and pick a puzzle (p) first",
            );
            return;
        };
        if !self.fits(&l.config) {
            ctx.status(Level::Warn, "test-time: the model does not fit this puzzle");
            return;
        }
        self.test_time
            .open_on(l.source.clone(), &l.config, p.clone(), self.puzzle_id);
    }

    /// The test-time panel (tests).
    pub fn test_time(&self) -> &TestTimePanel {
        &self.test_time
    }
}

#[cfg(test)]
mod tests;
