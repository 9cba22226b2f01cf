//! The solver's side of the worker protocol: ask the worker thread to load a model or solve a
//! puzzle (each request numbered; replies to an older request are dropped), and apply its
//! replies (model loaded, one step, done, puzzles scanned, failed) to the pane.

use std::time::{Duration, Instant};

use crate::model::TrmConfig;
use crate::train::run_dir::CheckpointMeta;
use crate::tui::component::{Ctx, Level};
use crate::tui::worker::{untrained_config, ModelSource, Reply};

use super::scoring::{self, step_stats};
use super::{ModelChoice, SolverPane};

/// How many puzzles of the set the first load scans for one whose steps matter.
const SHOWCASE_SCAN: usize = 32;

/// What follows the first load of a trained model ([`SolverPane::start`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Showcase {
    /// Loads are followed by a solve of the current puzzle.
    Off,
    /// The next load is followed by a scan of the set's first puzzles.
    AfterLoad,
    /// The scan is running; its reply picks the puzzle to solve.
    Scanning,
    /// The chosen puzzle is being solved; when it is done, playback starts from step 1.
    Replay,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Idle,
    Loading,
    Solving,
    Ready,
    Failed(String),
}

/// The model in the worker.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    pub source: ModelSource,
    pub config: TrmConfig,
    pub params: usize,
    pub untrained: bool,
    /// Step and best exact accuracy from the checkpoint's metadata.
    pub note: String,
}

impl SolverPane {
    /// The model source of the selected choice (untrained: sized for the current puzzle).
    fn selected_source(&self, untrained: Option<Box<TrmConfig>>) -> ModelSource {
        match self.models.get(self.model_idx) {
            Some(ModelChoice::Checkpoint { info, .. }) => {
                ModelSource::Checkpoint(info.path.clone())
            }
            _ => {
                let config = untrained.unwrap_or_else(|| {
                    let (vocab, seq) = self
                        .puzzle
                        .as_ref()
                        .map_or((11, 81), |p| (p.kind.vocab_size(), p.kind.seq_len()));
                    Box::new(untrained_config(vocab, seq))
                });
                ModelSource::Untrained {
                    config,
                    seed: self.seed,
                }
            }
        }
    }

    /// Load the selected model (untrained: sized for the current puzzle).
    pub fn load_selected(&mut self, ctx: &mut Ctx) {
        let source = self.selected_source(None);
        ctx.log(Level::Info, "solver", format!("loading {}", source.label()));
        self.loaded = None;
        self.steps.clear();
        self.phase = Phase::Loading;
        self.showcase = Showcase::Off;
        self.pending = self.worker.load(source);
    }

    /// Ask the worker for every step's answer to the first puzzles of the current set.
    fn scan_for_showcase(&mut self, ctx: &mut Ctx) {
        let Some(set) = self.sets.get(self.set_idx) else {
            return self.solve(ctx);
        };
        let puzzles: Vec<(Vec<i32>, i32)> = set
            .puzzles
            .iter()
            .enumerate()
            .take(SHOWCASE_SCAN)
            .map(|(i, p)| (p.input_tokens(), set.puzzle_id(i)))
            .collect();
        ctx.log(
            Level::Info,
            "solver",
            format!(
                "looking for a puzzle whose steps matter among the first {} of {}",
                puzzles.len(),
                set.name
            ),
        );
        self.phase = Phase::Solving;
        self.showcase = Showcase::Scanning;
        self.pending = self.worker.scan(puzzles);
    }

    /// Open the scanned puzzle that needs the most steps to get right (else stay on the
    /// current one) and solve it.
    fn open_showcase(&mut self, answers: &[Vec<Vec<u32>>], ctx: &mut Ctx) {
        self.showcase = Showcase::Off;
        let from: Vec<Option<usize>> = match self.sets.get(self.set_idx) {
            Some(set) => answers
                .iter()
                .zip(&set.puzzles)
                .map(|(steps, p)| {
                    let target = scoring::target_of(p);
                    let right: Vec<bool> = steps
                        .iter()
                        .map(|a| scoring::answer_right(p, target.as_ref(), a))
                        .collect();
                    scoring::right_from(&right)
                })
                .collect(),
            None => Vec::new(),
        };
        match scoring::showcase(&from) {
            Some(i) => {
                ctx.log(
                    Level::Info,
                    "solver",
                    format!(
                        "puzzle {} is right from step {}: opening on it",
                        i + 1,
                        from[i].unwrap_or(0)
                    ),
                );
                self.set_puzzle(self.set_idx, i, ctx, true);
                self.showcase = Showcase::Replay;
            }
            None => self.solve(ctx),
        }
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
            ctx.log(Level::Warn, "solver", msg.clone());
            self.phase = Phase::Failed(msg);
            return;
        }
        self.steps.restart();
        self.phase = Phase::Solving;
        self.showcase = Showcase::Off;
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

    /// True while a load or a solve is under way.
    pub fn busy(&self) -> bool {
        matches!(self.phase, Phase::Loading | Phase::Solving)
    }

    /// Block until the current load/solve is over (tests, benches, headless use).
    pub fn wait_idle(&mut self, timeout: Duration, ctx: &mut Ctx) -> bool {
        let deadline = Instant::now() + timeout;
        while self.busy() {
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

    /// Apply one reply of the worker; true when the pane changed.
    pub fn on_reply(&mut self, r: Reply, ctx: &mut Ctx) -> bool {
        match r {
            Reply::Loaded {
                id,
                config,
                metadata,
                params,
            } if id == self.pending => {
                let source = self.selected_source(Some(config.clone()));
                let untrained = matches!(source, ModelSource::Untrained { .. });
                let meta = CheckpointMeta::from_metadata(&metadata);
                let mut note = Vec::new();
                if let Some(s) = meta.step {
                    note.push(format!("step {s}"));
                }
                if let Some(b) = meta.best_exact_accuracy {
                    note.push(format!("best exact {:.1}%", b * 100.0));
                }
                ctx.log(
                    Level::Info,
                    "solver",
                    format!("loaded {} ({params} parameters)", source.label()),
                );
                self.loaded = Some(LoadedModel {
                    source,
                    config: *config,
                    params,
                    untrained,
                    note: note.join(" · "),
                });
                if self.showcase == Showcase::AfterLoad && !untrained {
                    self.scan_for_showcase(ctx);
                } else {
                    self.solve(ctx);
                }
                true
            }
            Reply::Scanned { id, answers } if id == self.pending => {
                self.open_showcase(&answers, ctx);
                true
            }
            Reply::Step { id, step } if id == self.pending => {
                self.steps.push(*step);
                true
            }
            Reply::Done { id } if id == self.pending => {
                self.phase = Phase::Ready;
                if self.showcase == Showcase::Replay {
                    self.showcase = Showcase::Off;
                    self.steps.first();
                    self.steps.toggle_play(false);
                }
                let s = self.stats();
                let halt = s.iter().position(|s| s.would_halt).map(|i| i + 1);
                ctx.log(
                    Level::Info,
                    "solver",
                    format!(
                        "{} steps; final cell accuracy {}; would halt at {}",
                        self.steps.len(),
                        s.last()
                            .and_then(|s| s.accuracy)
                            .map_or("n/a".into(), |a| format!("{:.1}%", a * 100.0)),
                        halt.map_or("never".into(), |h| format!("step {h}"))
                    ),
                );
                true
            }
            // A failed scan costs only the choice of puzzle: solve the current one.
            Reply::Failed { id, message }
                if id == self.pending && self.showcase == Showcase::Scanning =>
            {
                ctx.log(Level::Warn, "solver", format!("scan: {message}"));
                self.showcase = Showcase::Off;
                self.solve(ctx);
                true
            }
            Reply::Failed { id, message } if id == self.pending => {
                ctx.log(Level::Error, "solver", message.clone());
                ctx.status(Level::Error, format!("solver: {message}"));
                self.phase = Phase::Failed(message);
                true
            }
            _ => false,
        }
    }

    /// Numbers of every step so far.
    pub fn stats(&self) -> Vec<super::scoring::StepStats> {
        let no_act_continue = self
            .loaded
            .as_ref()
            .is_none_or(|l| l.config.no_act_continue);
        step_stats(
            self.steps.all(),
            self.puzzle.as_ref(),
            self.target.as_ref(),
            no_act_continue,
        )
    }
}
