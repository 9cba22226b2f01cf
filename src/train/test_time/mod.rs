//! Test-time compute: what a trained model can buy at inference without retraining, and what
//! it costs in network calls.
//! - more (or fewer) supervision steps than `halt_max_steps`, the recursion simply continuing;
//! - halting: every step (the official evaluation) or each trajectory at its first
//!   `q_halt > 0` (the model's own decision, the training rule without exploration);
//! - K noisy trajectories per puzzle (Gaussian noise on the latents before every supervision
//!   step), the answer being the trajectory with the highest `sigmoid(q_halt)`, with the
//!   halting-first choice and the oracle pass@K beside it;
//! - aug-vote: K augmented copies per puzzle, each answer un-augmented, then a per-cell vote.
//!
//! All trajectories of a batch of puzzles run as one batch ([`runner`]); the choices are pure
//! functions of the records ([`ensemble`]); the copies come from [`aug`]; [`trace`] is one
//! puzzle's solve, step by step.

use std::fmt;
use std::str::FromStr;

use color_eyre::eyre::{bail, eyre, Result};

use crate::data::dataset::Dataset;
use crate::data::PuzzleKind;
use crate::model::{TrmConfig, TrmModel};
use crate::util::Rng;

pub mod aug;
pub mod ensemble;
pub mod runner;
pub mod trace;

pub use ensemble::{Answer, Ensemble, Rule, Trajectory};
pub use runner::StepRecord;

/// When a trajectory stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HaltPolicy {
    /// Every supervision step runs (the official evaluation).
    #[default]
    All,
    /// A trajectory stops at its first `q_halt > 0`.
    Q,
}

impl FromStr for HaltPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(HaltPolicy::All),
            "q" => Ok(HaltPolicy::Q),
            _ => Err(format!(
                "`{s}` is not a halting policy: expected `all` or `q`"
            )),
        }
    }
}

impl fmt::Display for HaltPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HaltPolicy::All => "all",
            HaltPolicy::Q => "q",
        })
    }
}

/// The test-time settings of an evaluation or a solve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestTimeOptions {
    /// Supervision steps (any number; the model was trained with `halt_max_steps`).
    pub steps: usize,
    pub halt: HaltPolicy,
    /// Noisy trajectories per copy.
    pub samples: usize,
    /// Standard deviation of the Gaussian noise added to the latents.
    pub noise: f64,
    /// Augmented copies per puzzle (1 = the puzzle alone).
    pub aug_vote: usize,
    /// Seeds the noise and the augmentations.
    pub seed: u64,
}

impl TestTimeOptions {
    /// The official evaluation: `halt_max_steps` steps, one trajectory.
    pub fn plain(cfg: &TrmConfig) -> Self {
        Self {
            steps: cfg.halt_max_steps,
            halt: HaltPolicy::All,
            samples: 1,
            noise: 0.0,
            aug_vote: 1,
            seed: 0,
        }
    }

    /// A message naming the bad option, if any.
    pub fn validate(&self) -> Result<(), String> {
        if self.steps == 0 {
            return Err("--steps 0: expected at least 1 supervision step".into());
        }
        if self.samples == 0 {
            return Err("--samples 0: expected at least 1 trajectory".into());
        }
        if self.aug_vote == 0 {
            return Err("--aug-vote 0: expected at least 1 copy".into());
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(format!(
                "--noise {}: expected a standard deviation >= 0",
                self.noise
            ));
        }
        Ok(())
    }

    /// Trajectories per puzzle.
    pub fn trajectories(&self) -> usize {
        self.samples * self.aug_vote
    }

    /// The answer's rule: the vote with augmented copies, else the Q-head pick.
    pub fn rule(&self) -> Rule {
        if self.aug_vote > 1 {
            Rule::Vote
        } else {
            Rule::QPick
        }
    }
}

/// Network calls of one supervision step: `H_cycles` times (`L_cycles` z updates and one y
/// update), each a pass through the reasoning net's layers.
pub fn net_calls_per_step(cfg: &TrmConfig) -> usize {
    cfg.h_cycles * (cfg.l_cycles + 1)
}

/// One puzzle to solve: its tokens, identifier, and index (which seeds its copies and noise,
/// so a puzzle gets the same trajectories whatever batch it runs in).
#[derive(Debug, Clone, Copy)]
pub struct PuzzleInput<'a> {
    pub inputs: &'a [i32],
    pub puzzle_id: i32,
    pub index: u64,
}

/// Stream labels of the seeded generators.
const AUG_STREAM: u64 = 0xA5A5_0001;
const NOISE_STREAM: u64 = 0x5A5A_0002;

/// Run every trajectory of `puzzles` as one batch and return each puzzle's ensemble.
pub fn solve_puzzles(
    model: &TrmModel,
    kind: Option<PuzzleKind>,
    puzzles: &[PuzzleInput],
    opts: &TestTimeOptions,
    record_confidence: bool,
) -> Result<Vec<Ensemble>> {
    opts.validate().map_err(|e| eyre!(e))?;
    let per = opts.trajectories();
    let mut rows = Vec::with_capacity(puzzles.len() * per);
    let mut augs = Vec::with_capacity(puzzles.len());
    for p in puzzles {
        let copies = match kind {
            _ if opts.aug_vote <= 1 => vec![aug::CellAug::identity(p.inputs.len())],
            None => bail!("--aug-vote needs to know the puzzle kind (Sudoku or maze)"),
            Some(k) => {
                let seed = Rng::derive(opts.seed ^ AUG_STREAM, p.index).next_u64();
                aug::augmentations(k, opts.aug_vote, seed).map_err(|e| eyre!("--aug-vote: {e}"))?
            }
        };
        for (c, a) in copies.iter().enumerate() {
            for s in 0..opts.samples {
                let stream = p.index * per as u64 + (c * opts.samples + s) as u64;
                rows.push(runner::Row {
                    inputs: a.apply(p.inputs),
                    puzzle_id: p.puzzle_id,
                    rng: Rng::derive(opts.seed ^ NOISE_STREAM, stream),
                });
            }
        }
        augs.push(copies);
    }
    let settings = runner::RunSettings {
        steps: opts.steps,
        halt: opts.halt,
        noise: opts.noise,
        record_confidence,
    };
    let mut records = runner::run_rows(model, &mut rows, &settings)?.into_iter();
    let mut out = Vec::with_capacity(puzzles.len());
    for copies in augs {
        let mut trajectories = Vec::with_capacity(per);
        for (c, a) in copies.iter().enumerate() {
            for s in 0..opts.samples {
                let steps = records
                    .next()
                    .ok_or_else(|| eyre!("a trajectory is missing"))?
                    .into_iter()
                    .map(|r| StepRecord {
                        pred: a.invert_tokens(&r.pred),
                        q_halt: r.q_halt,
                        confidence: if r.confidence.is_empty() {
                            r.confidence
                        } else {
                            a.invert_cells(&r.confidence)
                        },
                    })
                    .collect();
                trajectories.push(Trajectory {
                    copy: c,
                    sample: s,
                    augmentation: a.name.clone(),
                    steps,
                });
            }
        }
        out.push(Ensemble { trajectories });
    }
    Ok(out)
}

/// Exact accuracy and, for mazes, the valid-shortest-path rate of one way of choosing.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ChoiceScore {
    pub exact_accuracy: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maze_valid_path: Option<f64>,
}

/// The halting-first choice: its score, the mean step where the first trajectory halts, and
/// what the policy would cost run alone (every trajectory until that step).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct HaltFirstScore {
    pub exact_accuracy: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maze_valid_path: Option<f64>,
    pub step: f64,
    pub net_calls_per_puzzle: f64,
}

/// What an evaluation with test-time options measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TestTimeReport {
    /// Puzzles evaluated.
    pub count: usize,
    pub steps: usize,
    pub trained_steps: usize,
    pub halt: String,
    pub samples: usize,
    pub noise: f64,
    pub aug_vote: usize,
    pub seed: u64,
    pub trajectories_per_puzzle: usize,
    /// Cost: network calls per supervision step, supervision steps run per trajectory (mean),
    /// network calls per puzzle (mean, all trajectories).
    pub net_calls_per_step: usize,
    pub steps_per_trajectory: f64,
    pub net_calls_per_puzzle: f64,
    /// The answer: `q_pick`, or `vote` with augmented copies.
    pub answer: Rule,
    pub exact_accuracy: f64,
    /// Token accuracy of the answer (labelled cells right, per puzzle, averaged).
    pub accuracy: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maze_valid_path: Option<f64>,
    /// The answer's exact accuracy had the run stopped after each step (a trajectory that
    /// halted earlier keeps its answer).
    pub exact_by_step: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maze_valid_path_by_step: Option<Vec<f64>>,
    /// Per trajectory: the mean first step with `q_halt > 0` (or the last), and the exact
    /// accuracy there.
    pub halt_step: f64,
    pub exact_at_halt: f64,
    pub q_pick: ChoiceScore,
    pub halt_first: HaltFirstScore,
    /// Per-cell vote over all trajectories (also without copies).
    pub vote: ChoiceScore,
    /// Pass@K: any trajectory's final answer right.
    pub oracle: ChoiceScore,
    pub eval_seconds: f64,
}

/// Scores of answers against one puzzle's labels (`-100` ignored).
struct Judge<'a> {
    kind: Option<PuzzleKind>,
    inputs: &'a [i32],
    labels: &'a [i32],
}

impl Judge<'_> {
    fn exact(&self, answer: &[i32]) -> bool {
        self.labels
            .iter()
            .zip(answer)
            .all(|(&l, &a)| l == -100 || l == a)
    }

    fn token_accuracy(&self, answer: &[i32]) -> f64 {
        let counted = self.labels.iter().filter(|&&l| l != -100).count();
        let right = self
            .labels
            .iter()
            .zip(answer)
            .filter(|(&l, &a)| l != -100 && l == a)
            .count();
        right as f64 / counted.max(1) as f64
    }

    /// A valid shortest S-G path (any of them); `None` for other kinds.
    fn valid_path(&self, answer: &[i32]) -> Option<bool> {
        let Some(PuzzleKind::Maze { rows, cols }) = self.kind else {
            return None;
        };
        let q = crate::data::maze::decode(rows, cols, self.inputs);
        let a = crate::data::maze::decode(rows, cols, answer);
        Some(match (q, a) {
            (Ok(q), Ok(a)) => {
                crate::data::maze::check_path(&q, &a) == crate::data::maze::PathCheck::Correct
            }
            _ => false,
        })
    }
}

/// Running sums of a choice.
#[derive(Default, Clone, Copy)]
struct Tally {
    exact: usize,
    valid: usize,
}

impl Tally {
    fn add(&mut self, judge: &Judge, answer: &[i32]) {
        self.exact += judge.exact(answer) as usize;
        self.valid += judge.valid_path(answer).unwrap_or(false) as usize;
    }

    fn score(&self, n: usize, maze: bool) -> ChoiceScore {
        let n = n.max(1) as f64;
        ChoiceScore {
            exact_accuracy: self.exact as f64 / n,
            maze_valid_path: maze.then(|| self.valid as f64 / n),
        }
    }
}

/// Evaluate on a split with test-time options: every labelled example, `batch` rows a batch
/// (`batch / trajectories` puzzles with all their trajectories), at most `limit` examples.
pub fn evaluate(
    model: &TrmModel,
    data: &Dataset,
    kind: Option<PuzzleKind>,
    batch: usize,
    limit: usize,
    opts: &TestTimeOptions,
) -> Result<TestTimeReport> {
    opts.validate().map_err(|e| eyre!(e))?;
    let t0 = std::time::Instant::now();
    let n = if limit > 0 {
        data.num_examples().min(limit)
    } else {
        data.num_examples()
    };
    let all = crate::train::sampler::eval_batches(data, n.max(1), n);
    let Some(all) = all.into_iter().next() else {
        bail!("no example to evaluate");
    };
    let s = all.seq_len;
    let labelled: Vec<usize> = (0..all.size.min(n))
        .filter(|&i| all.labels[i * s..(i + 1) * s].iter().any(|&l| l != -100))
        .collect();
    if labelled.is_empty() {
        bail!("no example with a label to evaluate");
    }
    let maze = matches!(kind, Some(PuzzleKind::Maze { .. }));
    let rule = opts.rule();
    let per_batch = (batch / opts.trajectories()).max(1);
    let calls = net_calls_per_step(&model.config);
    let (mut answer, mut q_pick, mut vote, mut oracle, mut first) = (
        Tally::default(),
        Tally::default(),
        Tally::default(),
        Tally::default(),
        Tally::default(),
    );
    let mut by_step = vec![Tally::default(); opts.steps];
    let (mut token_acc, mut traj_steps, mut first_step, mut first_cost) = (0.0, 0usize, 0usize, 0);
    let (mut halt_steps, mut halt_exact, mut trajs) = (0usize, 0usize, 0usize);
    for chunk in labelled.chunks(per_batch) {
        let inputs: Vec<PuzzleInput> = chunk
            .iter()
            .map(|&i| PuzzleInput {
                inputs: &all.inputs[i * s..(i + 1) * s],
                puzzle_id: all.puzzle_ids[i],
                index: i as u64,
            })
            .collect();
        let ensembles = solve_puzzles(model, kind, &inputs, opts, false)?;
        for (&i, e) in chunk.iter().zip(&ensembles) {
            let judge = Judge {
                kind,
                inputs: &all.inputs[i * s..(i + 1) * s],
                labels: &all.labels[i * s..(i + 1) * s],
            };
            let a = e.answer(rule);
            answer.add(&judge, &a.tokens);
            token_acc += judge.token_accuracy(&a.tokens);
            q_pick.add(&judge, &e.answer(Rule::QPick).tokens);
            vote.add(&judge, &e.answer(Rule::Vote).tokens);
            let any = |f: &dyn Fn(&[i32]) -> bool| e.trajectories.iter().any(|t| f(&t.last().pred));
            oracle.exact += any(&|x| judge.exact(x)) as usize;
            oracle.valid += any(&|x| judge.valid_path(x).unwrap_or(false)) as usize;
            let (ft, fs) = e.halt_first();
            first.add(&judge, &e.trajectories[ft].at(fs).pred);
            first_step += fs;
            first_cost += fs * e.trajectories.len() * calls;
            for (k, t) in by_step.iter_mut().enumerate() {
                t.add(&judge, &e.answer_at(k + 1, rule).tokens);
            }
            traj_steps += e.trajectory_steps();
            for t in &e.trajectories {
                let h = t.halt_step();
                halt_steps += h;
                halt_exact += judge.exact(&t.at(h).pred) as usize;
                trajs += 1;
            }
        }
    }
    let count = labelled.len();
    let nf = count as f64;
    let headline = answer.score(count, maze);
    Ok(TestTimeReport {
        count,
        steps: opts.steps,
        trained_steps: model.config.halt_max_steps,
        halt: opts.halt.to_string(),
        samples: opts.samples,
        noise: opts.noise,
        aug_vote: opts.aug_vote,
        seed: opts.seed,
        trajectories_per_puzzle: opts.trajectories(),
        net_calls_per_step: calls,
        steps_per_trajectory: traj_steps as f64 / trajs.max(1) as f64,
        net_calls_per_puzzle: (traj_steps * calls) as f64 / nf,
        answer: rule,
        exact_accuracy: headline.exact_accuracy,
        accuracy: token_acc / nf,
        maze_valid_path: headline.maze_valid_path,
        exact_by_step: by_step
            .iter()
            .map(|t| t.score(count, maze).exact_accuracy)
            .collect(),
        maze_valid_path_by_step: maze
            .then(|| by_step.iter().map(|t| t.valid as f64 / nf).collect()),
        halt_step: halt_steps as f64 / trajs.max(1) as f64,
        exact_at_halt: halt_exact as f64 / trajs.max(1) as f64,
        q_pick: q_pick.score(count, maze),
        halt_first: HaltFirstScore {
            exact_accuracy: first.score(count, maze).exact_accuracy,
            maze_valid_path: first.score(count, maze).maze_valid_path,
            step: first_step as f64 / nf,
            net_calls_per_puzzle: first_cost as f64 / nf,
        },
        vote: vote.score(count, maze),
        oracle: oracle.score(count, maze),
        eval_seconds: t0.elapsed().as_secs_f64(),
    })
}
