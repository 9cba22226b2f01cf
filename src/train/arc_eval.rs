//! The official ARC evaluator (`evaluators/arc.py`, class `ARC`): every test sequence's
//! prediction is cropped (`_crop`), mapped back through its variant's inverse augmentation and
//! hashed; its input gets the same treatment to find the original test input it belongs to;
//! the variants then vote, ranked by `(count, mean sigmoid(q_halt))` in descending order (ties
//! beyond that keep the order of first appearance, as Python's stable sort does). pass@K is
//! whether the expected output is among the top K grids, the submission is the top 2, a task
//! scores the fraction of its test inputs solved and the final score is the mean over tasks.
//!
//! The official evaluator never clears its votes (`aggregated_voting=True`), so each periodic
//! eval adds to the earlier ones; here that is the `accumulate` option, off by default.

use std::collections::{BTreeMap, HashMap, HashSet};

use candle_core::DType;
use color_eyre::eyre::{bail, eyre, Result};
use serde_json::{Map, Value};

use super::engine::for_each_eval_batch;
use crate::data::arc::{self, ArcTask};
use crate::data::augment::{grid_hash, ArcAug};
use crate::data::dataset::{Dataset, IGNORE_LABEL};
use crate::data::Grid;
use crate::model::{ActOutput, Batch, LossOutput, TrmModel};

/// The official `pass_Ks`.
pub const OFFICIAL_PASS_KS: [usize; 6] = [1, 2, 5, 10, 100, 1000];
/// Attempts per test input in the submission (the official `submission_K`).
pub const SUBMISSION_K: usize = 2;
/// Identifier of padding rows (the official `blank_identifier_id`).
pub const BLANK_ID: i32 = 0;

/// The official metric name of pass@`k`.
pub fn pass_key(k: usize) -> String {
    format!("ARC/pass@{k}")
}

/// One test input of an original task with its expected output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// [`grid_hash`] of the original (un-augmented) input grid.
    pub input_hash: String,
    pub expected: Grid,
}

/// The expected outputs: for each original task, its test inputs in order (the official
/// `test_puzzles.json`). Every task listed counts in the final mean, voted on or not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArcSolutions {
    tasks: BTreeMap<String, Vec<TestCase>>,
}

impl ArcSolutions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a test input of `task`.
    pub fn push(&mut self, task: &str, input: &Grid, expected: Grid) {
        self.tasks
            .entry(task.to_string())
            .or_default()
            .push(TestCase {
                input_hash: grid_hash(input),
                expected,
            });
    }

    /// The test pairs of the original tasks (e.g. the test set's tasks, or `test_puzzles.json`
    /// of a built folder read with [`arc::read_tasks`]). Pairs without a known output are left
    /// out (they cannot be scored); tasks left with no pair are not listed.
    pub fn from_tasks(tasks: &[ArcTask]) -> Self {
        let mut s = Self::new();
        for t in tasks {
            for p in &t.test {
                if let Some(o) = &p.output {
                    s.push(&t.id, &p.input, o.clone());
                }
            }
        }
        s
    }

    /// Recover the solutions from a built ARC test split: each example's input and label are
    /// cropped and mapped back through the inverse augmentation of its puzzle's variant. A
    /// task's test inputs are listed in the order of the first variant seen; later variants
    /// must agree with it. The labels are taken as the truth, so a split built from challenges
    /// without solutions (placeholder `[[0]]` outputs) scores against the placeholders: use
    /// [`ArcSolutions::from_tasks`] with the known solutions then.
    pub fn from_dataset(data: &Dataset, identifiers: &[String]) -> Result<Self> {
        let mut s = Self::new();
        for p in 0..data.num_puzzles() {
            let id = data.puzzle_identifiers[p];
            if id == BLANK_ID {
                continue;
            }
            let name = usize::try_from(id)
                .ok()
                .and_then(|i| identifiers.get(i))
                .ok_or_else(|| {
                    eyre!(
                        "puzzle {p} has identifier {id}, not in the {} identifiers",
                        identifiers.len()
                    )
                })?;
            let (task, aug) = ArcAug::parse_name(name)
                .ok_or_else(|| eyre!("identifier {id} has a malformed variant name {name:?}"))?;
            let offset = |i: usize| {
                data.puzzle_indices
                    .get(i)
                    .and_then(|&o| usize::try_from(o).ok())
                    .ok_or_else(|| eyre!("puzzle {p} has a missing or negative example offset"))
            };
            let (e0, e1) = (offset(p)?, offset(p + 1)?);
            if e1 < e0 || e1 > data.num_examples() {
                bail!(
                    "puzzle {p} spans examples {e0}..{e1}, the split has {}",
                    data.num_examples()
                );
            }
            let mut cases = Vec::with_capacity(e1 - e0);
            for e in e0..e1 {
                let (x, y) = data.example(e);
                let input = arc::crop_top_left(x)
                    .map_err(|m| eyre!("example {e} (variant {name:?}): input {m}"))?;
                let label: Vec<i32> = y
                    .iter()
                    .map(|&t| {
                        if t == IGNORE_LABEL {
                            arc::PAD as i32
                        } else {
                            t
                        }
                    })
                    .collect();
                let label = arc::crop_top_left(&label)
                    .map_err(|m| eyre!("example {e} (variant {name:?}): label {m}"))?;
                cases.push(TestCase {
                    input_hash: grid_hash(&aug.invert(&input)),
                    expected: aug.invert(&label),
                });
            }
            let Some(known) = s.tasks.get_mut(task) else {
                if !cases.is_empty() {
                    s.tasks.insert(task.to_string(), cases);
                }
                continue;
            };
            for c in cases {
                match known.iter().find(|k| k.input_hash == c.input_hash) {
                    Some(k) if k.expected != c.expected => bail!(
                        "variant {name:?} of task {task:?} disagrees with an earlier variant on \
                         the output of one of its test inputs"
                    ),
                    Some(_) => {}
                    None => known.push(c),
                }
            }
        }
        Ok(s)
    }

    /// Original tasks listed.
    pub fn num_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Test inputs over all tasks.
    pub fn num_test_inputs(&self) -> usize {
        self.tasks.values().map(Vec::len).sum()
    }

    pub fn tasks(&self) -> impl Iterator<Item = (&str, &[TestCase])> {
        self.tasks.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    pub fn task(&self, id: &str) -> Option<&[TestCase]> {
        self.tasks.get(id).map(Vec::as_slice)
    }
}

/// What [`ArcEvaluator::add`] did with one sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteOutcome {
    /// A vote was recorded.
    Recorded,
    /// A vote was recorded for the empty grid: the prediction's crop was empty or the tokens
    /// were not an ARC canvas. It never matches an expected output.
    RecordedEmpty,
    /// A padding row (blank identifier): dropped, as the official evaluator does.
    Padding,
    /// The identifier is not in the identifier list: skipped.
    UnknownId,
    /// The identifier's variant name is malformed: skipped.
    BadName,
    /// The input tokens are not an ARC canvas: skipped (no test input to attribute it to).
    BadInput,
}

/// Counts of an evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArcCounts {
    /// Original tasks scored (those in the solutions).
    pub tasks: usize,
    /// Their test inputs.
    pub test_inputs: usize,
    /// Test inputs that received at least one vote.
    pub test_inputs_voted: usize,
    /// Distinct puzzle identifiers (variants) that voted.
    pub variants: usize,
    /// Votes recorded.
    pub votes: usize,
    /// Votes for the empty grid (empty or invalid prediction crops), part of `votes`.
    pub empty_predictions: usize,
    /// Votes whose (task, input) is not among the solutions, part of `votes`.
    pub unmatched_votes: usize,
    /// Padding rows dropped.
    pub padding: usize,
    /// Sequences skipped: identifier out of range.
    pub unknown_ids: usize,
    /// Sequences skipped: malformed variant name.
    pub bad_names: usize,
    /// Sequences skipped: input tokens not an ARC canvas.
    pub bad_inputs: usize,
}

/// One voted grid of a test input.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub hash: String,
    pub grid: Grid,
    pub count: usize,
    /// Mean sigmoid(q_halt) of its votes.
    pub mean_q: f64,
}

/// The outcome of one test input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestInputResult {
    pub votes: usize,
    /// Distinct grids voted for.
    pub candidates: usize,
    /// 0-based rank of the expected output among the candidates, if voted for.
    pub label_rank: Option<usize>,
}

/// The result of an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct ArcResult {
    /// Mean over tasks of the fraction of a task's test inputs whose expected output is among
    /// the top K candidates. Empty when there is no task.
    pub pass_at: BTreeMap<usize, f64>,
    /// The pass@K values asked for (the keys of [`ArcResult::metrics`]).
    pub pass_ks: Vec<usize>,
    /// Per task, per test input (in order), the top [`SUBMISSION_K`] grids, padded with the
    /// first; empty where the test input received no vote.
    pub submission: BTreeMap<String, Vec<Vec<Grid>>>,
    /// Per task, per test input (in order), its outcome.
    pub tasks: BTreeMap<String, Vec<TestInputResult>>,
    pub counts: ArcCounts,
}

impl ArcResult {
    /// `ARC/pass@K` for each K asked for (`None` when there is no task to score).
    pub fn metrics(&self) -> BTreeMap<String, Option<f64>> {
        self.pass_ks
            .iter()
            .map(|&k| (pass_key(k), self.pass_at.get(&k).copied()))
            .collect()
    }

    /// The submission in the Kaggle layout `{task: [{"attempt_1": grid, "attempt_2": grid}]}`,
    /// one entry per test input; a test input without votes gets `[[0]]` attempts.
    pub fn submission_json(&self) -> Value {
        let placeholder = Grid::new(1, 1, vec![0]);
        let mut out = Map::new();
        for (task, inputs) in &self.submission {
            let entries = inputs
                .iter()
                .map(|attempts| {
                    let mut m = Map::new();
                    for i in 0..SUBMISSION_K {
                        let g = attempts.get(i).unwrap_or(&placeholder);
                        m.insert(format!("attempt_{}", i + 1), arc::grid_to_json(g));
                    }
                    Value::Object(m)
                })
                .collect();
            out.insert(task.clone(), Value::Array(entries));
        }
        Value::Object(out)
    }
}

#[derive(Debug, Clone)]
struct Tally {
    count: usize,
    q_sum: f64,
    /// Order of first appearance (the tie-break after count and mean q).
    first: u64,
}

/// `sigmoid(q)` in f64 as the official code computes it; a NaN logit counts as 0 (least
/// confident), so the ranking stays a total order.
fn confidence(q_halt: f32) -> f64 {
    let q = 1.0 / (1.0 + (-f64::from(q_halt)).exp());
    if q.is_nan() {
        0.0
    } else {
        q
    }
}

fn empty_grid() -> Grid {
    Grid::new(0, 0, Vec::new())
}

/// Collects the votes of one or more evaluations and scores them.
#[derive(Debug, Clone)]
pub struct ArcEvaluator {
    identifiers: Vec<String>,
    pass_ks: Vec<usize>,
    accumulate: bool,
    /// task -> original input hash -> predicted grid hash -> tally.
    votes: HashMap<String, HashMap<String, HashMap<String, Tally>>>,
    /// Predicted grid hash -> grid.
    grids: HashMap<String, Grid>,
    variants: HashSet<i32>,
    seq: u64,
    counts: ArcCounts,
}

impl ArcEvaluator {
    /// `identifiers` maps puzzle identifier -> variant name (`identifiers.json`, `"<blank>"` at
    /// 0); `pass_ks` the K of the pass@K metrics (the official ones: [`OFFICIAL_PASS_KS`]);
    /// `accumulate` keeps votes across [`ArcEvaluator::begin_eval`] (the official behaviour).
    pub fn new(identifiers: Vec<String>, pass_ks: Vec<usize>, accumulate: bool) -> Self {
        Self {
            identifiers,
            pass_ks,
            accumulate,
            votes: HashMap::new(),
            grids: HashMap::new(),
            variants: HashSet::new(),
            seq: 0,
            counts: ArcCounts::default(),
        }
    }

    pub fn accumulate(&self) -> bool {
        self.accumulate
    }

    pub fn pass_ks(&self) -> &[usize] {
        &self.pass_ks
    }

    /// Start an evaluation: forget the earlier votes unless accumulating.
    pub fn begin_eval(&mut self) {
        if !self.accumulate {
            self.votes.clear();
            self.grids.clear();
            self.variants.clear();
            self.seq = 0;
            self.counts = ArcCounts::default();
        }
    }

    /// Record the votes of one evaluated batch (the last supervision step's predictions and
    /// q_halt of every row the batch holds); returns how many rows were real (not padding).
    pub fn add_batch(
        &mut self,
        batch: &Batch,
        out: &ActOutput,
        loss: &LossOutput,
    ) -> Result<usize> {
        let q_halt: Vec<f32> = out.step.q_halt.to_dtype(DType::F32)?.to_vec1()?;
        let s = batch.seq_len;
        if q_halt.len() != batch.size || loss.preds.len() != batch.size {
            bail!(
                "the model returned {} predictions and {} q_halt values for a batch of {}",
                loss.preds.len(),
                q_halt.len(),
                batch.size
            );
        }
        let mut offered = 0;
        for (row, (pred, &q)) in loss.preds.iter().zip(&q_halt).enumerate() {
            let id = batch.puzzle_ids[row];
            if id != BLANK_ID {
                offered += 1;
            }
            self.add(id, &batch.inputs[row * s..(row + 1) * s], pred, q);
        }
        Ok(offered)
    }

    /// Record one test sequence: its puzzle identifier, the input tokens (a 30x30 canvas), the
    /// predicted tokens (argmax) and the halting logit of the step read.
    pub fn add(
        &mut self,
        puzzle_identifier: i32,
        input_tokens: &[i32],
        pred_tokens: &[u32],
        q_halt: f32,
    ) -> VoteOutcome {
        if puzzle_identifier == BLANK_ID {
            self.counts.padding += 1;
            return VoteOutcome::Padding;
        }
        let Some(name) = usize::try_from(puzzle_identifier)
            .ok()
            .and_then(|i| self.identifiers.get(i))
        else {
            self.counts.unknown_ids += 1;
            return VoteOutcome::UnknownId;
        };
        let Some((task, aug)) = ArcAug::parse_name(name) else {
            self.counts.bad_names += 1;
            return VoteOutcome::BadName;
        };
        let Ok(input) = arc::crop_top_left(input_tokens) else {
            self.counts.bad_inputs += 1;
            return VoteOutcome::BadInput;
        };
        let input_hash = grid_hash(&aug.invert(&input));
        let pred: Vec<i32> = pred_tokens
            .iter()
            .map(|&t| i32::try_from(t).unwrap_or(-1))
            .collect();
        let pred = arc::crop_top_left(&pred)
            .map(|g| aug.invert(&g))
            .unwrap_or_else(|_| empty_grid());
        let empty = pred.cells.is_empty();
        let pred_hash = grid_hash(&pred);
        let task = task.to_string();
        let seq = self.seq;
        self.seq += 1;
        let tally = self
            .votes
            .entry(task)
            .or_default()
            .entry(input_hash)
            .or_default()
            .entry(pred_hash.clone())
            .or_insert(Tally {
                count: 0,
                q_sum: 0.0,
                first: seq,
            });
        tally.count += 1;
        tally.q_sum += confidence(q_halt);
        self.grids.entry(pred_hash).or_insert(pred);
        self.variants.insert(puzzle_identifier);
        self.counts.votes += 1;
        if empty {
            self.counts.empty_predictions += 1;
            VoteOutcome::RecordedEmpty
        } else {
            VoteOutcome::Recorded
        }
    }

    /// The voted grids of one test input (`task`, original input hash), best first.
    pub fn ranked(&self, task: &str, input_hash: &str) -> Vec<Candidate> {
        let Some(tallies) = self.votes.get(task).and_then(|m| m.get(input_hash)) else {
            return Vec::new();
        };
        let mut ranked: Vec<(&String, &Tally, f64)> = tallies
            .iter()
            .map(|(h, t)| (h, t, t.q_sum / t.count as f64))
            .collect();
        ranked.sort_by(|a, b| {
            b.1.count
                .cmp(&a.1.count)
                .then(b.2.total_cmp(&a.2))
                .then(a.1.first.cmp(&b.1.first))
        });
        ranked
            .into_iter()
            .map(|(h, t, mean_q)| Candidate {
                hash: h.clone(),
                grid: self.grids.get(h).cloned().unwrap_or_else(empty_grid),
                count: t.count,
                mean_q,
            })
            .collect()
    }

    /// Score the votes against `solutions`.
    pub fn result(&self, solutions: &ArcSolutions) -> ArcResult {
        let mut counts = self.counts.clone();
        counts.tasks = solutions.num_tasks();
        counts.test_inputs = solutions.num_test_inputs();
        counts.variants = self.variants.len();
        let mut sums: BTreeMap<usize, f64> = self.pass_ks.iter().map(|&k| (k, 0.0)).collect();
        let mut submission = BTreeMap::new();
        let mut tasks = BTreeMap::new();
        let mut matched_votes = 0usize;
        for (task, cases) in solutions.tasks() {
            let mut solved: BTreeMap<usize, usize> = self.pass_ks.iter().map(|&k| (k, 0)).collect();
            let mut attempts = Vec::with_capacity(cases.len());
            let mut outcomes = Vec::with_capacity(cases.len());
            for case in cases {
                let ranked = self.ranked(task, &case.input_hash);
                let votes: usize = ranked.iter().map(|c| c.count).sum();
                if votes > 0 {
                    counts.test_inputs_voted += 1;
                }
                let label_hash = grid_hash(&case.expected);
                let label_rank = ranked.iter().position(|c| c.hash == label_hash);
                for (&k, n) in solved.iter_mut() {
                    if label_rank.is_some_and(|r| r < k) {
                        *n += 1;
                    }
                }
                let mut top: Vec<Grid> = ranked
                    .iter()
                    .take(SUBMISSION_K)
                    .map(|c| c.grid.clone())
                    .collect();
                if let Some(first) = top.first().cloned() {
                    top.resize(SUBMISSION_K, first);
                }
                attempts.push(top);
                outcomes.push(TestInputResult {
                    votes,
                    candidates: ranked.len(),
                    label_rank,
                });
            }
            // Votes of every input of this task that is among the solutions (an input listed
            // twice shares its votes; count them once).
            let hashes: HashSet<&str> = cases.iter().map(|c| c.input_hash.as_str()).collect();
            if let Some(by_input) = self.votes.get(task) {
                matched_votes += hashes
                    .iter()
                    .filter_map(|h| by_input.get(*h))
                    .flat_map(|m| m.values())
                    .map(|t| t.count)
                    .sum::<usize>();
            }
            if !cases.is_empty() {
                for (k, n) in &solved {
                    if let Some(s) = sums.get_mut(k) {
                        *s += *n as f64 / cases.len() as f64;
                    }
                }
            }
            submission.insert(task.to_string(), attempts);
            tasks.insert(task.to_string(), outcomes);
        }
        counts.unmatched_votes = counts.votes.saturating_sub(matched_votes);
        let pass_at = if counts.tasks == 0 {
            BTreeMap::new()
        } else {
            sums.into_iter()
                .map(|(k, s)| (k, s / counts.tasks as f64))
                .collect()
        };
        ArcResult {
            pass_at,
            pass_ks: self.pass_ks.clone(),
            submission,
            tasks,
            counts,
        }
    }
}

/// Run `model` over `data` (the ARC test split) like [`super::engine::evaluate_model`]: every
/// batch runs all `halt_max_steps` supervision steps, and the last step's argmax predictions
/// and q_halt logits vote in `evaluator`. `limit` > 0 caps the examples. Padding rows of the
/// last batch are dropped by the evaluator. Returns the number of sequences offered.
pub fn collect_arc_votes(
    model: &TrmModel,
    data: &Dataset,
    evaluator: &mut ArcEvaluator,
    batch_size: usize,
    limit: usize,
) -> Result<usize> {
    if batch_size == 0 {
        bail!("the ARC evaluation batch size is 0");
    }
    if data.seq_len != arc::CANVAS * arc::CANVAS {
        bail!(
            "the ARC evaluator needs 30x30 canvases (seq_len {}), the data has seq_len {}",
            arc::CANVAS * arc::CANVAS,
            data.seq_len
        );
    }
    let mut offered = 0usize;
    for_each_eval_batch(model, data, batch_size, limit, |batch, out, loss, _| {
        offered += evaluator.add_batch(batch, out, loss)?;
        Ok(())
    })?;
    Ok(offered)
}

/// One fresh ARC evaluation of `model` on `data` with the official pass@K (no accumulation):
/// the `ARC/pass@K` metrics for K in [`OFFICIAL_PASS_KS`].
pub fn evaluate_arc(
    model: &TrmModel,
    data: &Dataset,
    identifiers: &[String],
    solutions: &ArcSolutions,
    batch_size: usize,
    limit: usize,
) -> Result<BTreeMap<String, Option<f64>>> {
    let mut ev = ArcEvaluator::new(identifiers.to_vec(), OFFICIAL_PASS_KS.to_vec(), false);
    ev.begin_eval();
    collect_arc_votes(model, data, &mut ev, batch_size, limit)?;
    Ok(ev.result(solutions).metrics())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::arc::encode_canvas;

    fn tokens_i32(g: &Grid) -> Vec<i32> {
        encode_canvas(g, 0, 0).into_iter().map(i32::from).collect()
    }

    fn tokens_u32(g: &Grid) -> Vec<u32> {
        encode_canvas(g, 0, 0).into_iter().map(u32::from).collect()
    }

    fn g(rows: usize, cols: usize, cells: &[u8]) -> Grid {
        Grid::new(rows, cols, cells.to_vec())
    }

    /// Task "t" with one test input; identifiers: blank, the original, two variants.
    fn setup() -> (Vec<String>, Vec<ArcAug>, Grid, Grid, ArcSolutions) {
        let augs = vec![
            ArcAug::IDENTITY,
            ArcAug {
                trans_id: 1,
                colour_map: [0, 2, 3, 1, 4, 5, 6, 7, 8, 9],
            },
            ArcAug {
                trans_id: 7,
                colour_map: [0, 9, 8, 7, 6, 5, 4, 3, 2, 1],
            },
        ];
        let mut ids = vec!["<blank>".to_string()];
        ids.extend(augs.iter().map(|a| {
            if *a == ArcAug::IDENTITY {
                "t".to_string()
            } else {
                a.name("t")
            }
        }));
        let input = g(2, 3, &[1, 2, 3, 0, 0, 4]);
        let output = g(3, 2, &[5, 1, 0, 2, 3, 3]);
        let mut sol = ArcSolutions::new();
        sol.push("t", &input, output.clone());
        (ids, augs, input, output, sol)
    }

    #[test]
    fn augmented_votes_are_inverted_before_counting() {
        let (ids, augs, input, output, sol) = setup();
        let mut ev = ArcEvaluator::new(ids, vec![1, 2], false);
        ev.begin_eval();
        for (i, aug) in augs.iter().enumerate().skip(1) {
            let out = ev.add(
                i as i32 + 1,
                &tokens_i32(&aug.apply(&input)),
                &tokens_u32(&aug.apply(&output)),
                0.3,
            );
            assert_eq!(out, VoteOutcome::Recorded);
        }
        let r = ev.result(&sol);
        assert_eq!(r.pass_at[&1], 1.0);
        assert_eq!(r.counts.votes, 2);
        assert_eq!(r.counts.variants, 2);
        assert_eq!(r.counts.unmatched_votes, 0);
        assert_eq!(r.submission["t"], vec![vec![output.clone(), output]]);
        // Without inversion the same grids would be a different input and answer.
        let mut raw = ArcEvaluator::new(vec!["<blank>".into(), "t".into()], vec![1], false);
        raw.add(
            1,
            &tokens_i32(&augs[1].apply(&input)),
            &tokens_u32(&augs[1].apply(&sol.tasks["t"][0].expected)),
            0.0,
        );
        let r = raw.result(&sol);
        assert_eq!(r.pass_at[&1], 0.0);
        assert_eq!(r.counts.unmatched_votes, 1);
    }

    #[test]
    fn ties_are_broken_by_mean_confidence() {
        let (ids, augs, input, output, sol) = setup();
        let wrong = g(1, 1, &[7]);
        for (q_right, q_wrong, expect) in [(2.0f32, -1.0f32, 1.0), (-1.0, 2.0, 0.0)] {
            for right_first in [true, false] {
                let mut ev = ArcEvaluator::new(ids.clone(), vec![1, 2], false);
                let mut votes = vec![(1usize, &output, q_right), (2, &wrong, q_wrong)];
                if !right_first {
                    votes.reverse();
                }
                for (i, grid, q) in votes {
                    let aug = augs[i];
                    ev.add(
                        i as i32 + 1,
                        &tokens_i32(&aug.apply(&input)),
                        &tokens_u32(&aug.apply(grid)),
                        q,
                    );
                }
                let r = ev.result(&sol);
                assert_eq!(r.pass_at[&1], expect, "q {q_right} vs {q_wrong}");
                assert_eq!(r.pass_at[&2], 1.0);
                let ranked = ev.ranked("t", &sol.tasks["t"][0].input_hash);
                assert_eq!(ranked.len(), 2);
                assert!(ranked[0].mean_q > ranked[1].mean_q);
            }
        }
    }

    #[test]
    fn counts_beat_confidence_and_first_seen_breaks_exact_ties() {
        let (ids, augs, input, output, sol) = setup();
        let wrong = g(1, 2, &[7, 7]);
        let mut ev = ArcEvaluator::new(ids, vec![1], false);
        // Two confident votes for the wrong grid, three unconfident for the right one.
        for (i, grid, q) in [
            (1usize, &wrong, 9.0f32),
            (2, &wrong, 9.0),
            (0, &output, -9.0),
            (1, &output, -9.0),
            (2, &output, -9.0),
        ] {
            ev.add(
                i as i32 + 1,
                &tokens_i32(&augs[i].apply(&input)),
                &tokens_u32(&augs[i].apply(grid)),
                q,
            );
        }
        assert_eq!(ev.result(&sol).pass_at[&1], 1.0);
        // Exact tie (same count and q): the first grid seen wins, as in Python's stable sort.
        let mut ev = ArcEvaluator::new(vec!["<blank>".into(), "t".into()], vec![1], false);
        ev.add(1, &tokens_i32(&input), &tokens_u32(&wrong), 0.5);
        ev.add(1, &tokens_i32(&input), &tokens_u32(&output), 0.5);
        assert_eq!(ev.result(&sol).pass_at[&1], 0.0);
    }

    #[test]
    fn empty_and_invalid_predictions_vote_for_the_empty_grid() {
        let (ids, _, input, _, sol) = setup();
        let mut ev = ArcEvaluator::new(ids, vec![1, 2], false);
        let x = tokens_i32(&input);
        assert_eq!(
            ev.add(1, &x, &[0; 900], 0.0),
            VoteOutcome::RecordedEmpty,
            "all PAD"
        );
        assert_eq!(ev.add(1, &x, &[5; 10], 0.0), VoteOutcome::RecordedEmpty);
        assert_eq!(
            ev.add(1, &x, &[u32::MAX; 900], 0.0),
            VoteOutcome::RecordedEmpty
        );
        let r = ev.result(&sol);
        assert_eq!(r.counts.empty_predictions, 3);
        assert_eq!(r.pass_at[&2], 0.0);
        assert_eq!(r.tasks["t"][0].candidates, 1);
        assert_eq!(r.submission["t"][0], vec![empty_grid(), empty_grid()]);
        assert_eq!(
            r.submission_json()["t"][0]["attempt_1"],
            serde_json::json!([])
        );
    }

    #[test]
    fn padding_unknown_ids_bad_names_and_bad_inputs_are_skipped_and_counted() {
        let (mut ids, _, input, output, sol) = setup();
        ids.push("t|||t9|||0123456789".into());
        let bad_name = ids.len() as i32 - 1;
        let mut ev = ArcEvaluator::new(ids, vec![1], false);
        let (x, y) = (tokens_i32(&input), tokens_u32(&output));
        assert_eq!(ev.add(0, &x, &y, 0.0), VoteOutcome::Padding);
        assert_eq!(ev.add(99, &x, &y, 0.0), VoteOutcome::UnknownId);
        assert_eq!(ev.add(-3, &x, &y, 0.0), VoteOutcome::UnknownId);
        assert_eq!(ev.add(bad_name, &x, &y, 0.0), VoteOutcome::BadName);
        assert_eq!(ev.add(1, &x[..899], &y, 0.0), VoteOutcome::BadInput);
        let mut bad = x.clone();
        bad[5] = 12;
        assert_eq!(ev.add(1, &bad, &y, 0.0), VoteOutcome::BadInput);
        let r = ev.result(&sol);
        let c = &r.counts;
        assert_eq!(
            (c.padding, c.unknown_ids, c.bad_names, c.bad_inputs, c.votes),
            (1, 2, 1, 2, 0)
        );
        assert_eq!(r.pass_at[&1], 0.0);
        assert_eq!(c.test_inputs_voted, 0);
        // No votes: an empty submission entry, a placeholder in the JSON.
        assert!(r.submission["t"][0].is_empty());
        assert_eq!(
            r.submission_json()["t"][0]["attempt_2"],
            serde_json::json!([[0]])
        );
    }

    #[test]
    fn accumulate_keeps_votes_across_evals() {
        let (ids, augs, input, output, sol) = setup();
        let wrong = g(2, 2, &[1, 1, 1, 1]);
        for accumulate in [false, true] {
            let mut ev = ArcEvaluator::new(ids.clone(), vec![1], accumulate);
            ev.begin_eval();
            for (i, aug) in augs.iter().enumerate().take(2) {
                ev.add(
                    i as i32 + 1,
                    &tokens_i32(&aug.apply(&input)),
                    &tokens_u32(&aug.apply(&output)),
                    0.0,
                );
            }
            assert_eq!(ev.result(&sol).pass_at[&1], 1.0);
            ev.begin_eval();
            ev.add(
                3,
                &tokens_i32(&augs[2].apply(&input)),
                &tokens_u32(&augs[2].apply(&wrong)),
                0.0,
            );
            let r = ev.result(&sol);
            let expect = if accumulate { 1.0 } else { 0.0 };
            assert_eq!(r.pass_at[&1], expect, "accumulate {accumulate}");
            assert_eq!(r.counts.votes, if accumulate { 3 } else { 1 });
            assert_eq!(r.counts.variants, if accumulate { 3 } else { 1 });
        }
    }

    #[test]
    fn no_tasks_gives_undefined_metrics() {
        let ev = ArcEvaluator::new(vec!["<blank>".into()], OFFICIAL_PASS_KS.to_vec(), false);
        let m = ev.result(&ArcSolutions::new()).metrics();
        assert_eq!(m.len(), 6);
        assert!(m.values().all(Option::is_none));
        assert!(m.contains_key("ARC/pass@1000"));
    }

    #[test]
    fn nan_confidence_ranks_last() {
        assert_eq!(confidence(f32::NAN), 0.0);
        assert!((confidence(0.0) - 0.5).abs() < 1e-12);
        assert!(confidence(40.0) > confidence(3.0));
    }
}
