//! The results of an experiment, read back from its runs' own files (`config.toml`,
//! `metrics.jsonl`, `events.jsonl`): one summary per run and, per variant, the mean and
//! standard deviation over its finished seeds; rendered as a terminal table, `report.md` and
//! `report.csv` (`render`). The TUI's Experiments pane draws the same [`Report`]. The
//! comparisons declared in the experiment file (`[[compare]]`) get the difference of means
//! with its 95% confidence interval (Welch, or paired t) and a verdict, next to the direction
//! of the paper's figures ([`CompareRow`], statistics in [`super::stats`]); the declared
//! contrasts (`[[contrast]]`) get the mean per-seed difference of two differences with its
//! paired-t interval ([`ContrastRow`]).
//!
//! Definitions (per run; the variant's figure is the mean over its finished runs, ± the sample
//! standard deviation when there are two or more, with the 95% Student-t confidence interval
//! of the mean):
//! - best / final exact: the highest / the last `exact_accuracy` of the `eval` records;
//! - token accuracy: the last `eval` record's `accuracy`;
//! - valid path (mazes): the last `eval` record's `maze_valid_path`, the share of test mazes
//!   answered with a valid shortest path; shown when some run has it;
//! - train exact and gap: the last `eval` record's `train_exact_accuracy` (a fixed sample of
//!   training puzzles evaluated with the same EMA weights, `eval_train_sample`) and
//!   `exact_accuracy_gap` (train minus test exact); shown when some run has them;
//! - last 20%: the change of the run's headline test figure (valid path for mazes, else final
//!   exact) over the last 20% of its evaluated steps, the plateau check ([`late_gain`]);
//! - avg steps: the supervision steps used before halting in training, i.e. the `train`
//!   records' `steps`, weighted by their `count` (halted sequences), over the last 10% of the
//!   run's logged steps (or the last record where some sequence halted, when none did there);
//! - wall: the last record's `wall_s` (all sessions of the run, evaluations included);
//! - samples/s: the mean of the `train` records' `samples_per_s` (zeros, logged before a rate
//!   is known, left out);
//! - cpu, load (the load the times were measured under): the means of the `train` records'
//!   `cpu_percent` (the share of one core the run's process used) and `load_avg` (the
//!   machine's 1-minute load average); shown when some run logged them;
//! - samples/cpu-s: the mean over the `train` records of `samples_per_s` divided by the cores
//!   the process used (`cpu_percent / 100`): throughput per CPU-second, the cost of a step
//!   with the load taken out (runs that shared a core and runs that did not compare);
//! - params, depth: [`TrmConfig::num_parameters`](crate::model::TrmConfig::num_parameters) and
//!   [`TrmConfig::effective_depth`](crate::model::TrmConfig::effective_depth) of the run's
//!   `config.toml` (of the planned config while the run has none).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod contrast;
mod render;
pub use contrast::{ContrastRow, CONTRAST_HEADER};
pub use render::{format_params, COMPARE_HEADER};

use color_eyre::eyre::Result;

use super::compare::Compare;
use super::spec::{Experiment, PlannedRun};
use super::stats::{paper_direction, Difference, Summary, Verdict};
use crate::train::api::{MetricRecord, RunEvent, RunEventKind, Split};
use crate::train::config::TrainConfig;
use crate::train::run_dir::{RunDir, RunDirError};

/// The file names inside an experiment folder.
pub const EXPERIMENT_FILE: &str = "experiment.toml";
pub const MANIFEST_FILE: &str = "manifest.json";
pub const REPORT_MD: &str = "report.md";
pub const REPORT_CSV: &str = "report.csv";

/// Share of the last logged steps over which `avg steps` is taken.
pub const AVG_STEPS_TAIL: f64 = 0.1;

/// Share of the run, at its end, over which `last 20%` (the plateau check) is taken.
pub const LATE_GAIN_TAIL: f64 = 0.2;

/// Where a run stands, from its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// No folder, or nothing trained yet.
    Pending,
    /// Started and not finished (running now, stopped, interrupted or failed).
    Partial,
    /// The last lifecycle event is `finish` (and `max_steps`, when set, was reached); in a
    /// report as of step N, also a run that trained to step N and was evaluated by then.
    Finished,
}

impl RunStatus {
    pub fn label(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Partial => "partial",
            RunStatus::Finished => "finished",
        }
    }
}

/// The lifecycle events of a run (`start`, `resume`, `stop`, `finish`, `error`), in order.
pub fn lifecycle_events(run_dir: &Path) -> Vec<RunEvent> {
    let Ok(text) = std::fs::read_to_string(RunDir::new(run_dir).events_path()) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<RunEvent>(l).ok())
        .filter(|e| {
            use RunEventKind as K;
            matches!(
                e.kind,
                K::Start | K::Resume | K::Stop | K::Finish | K::Error
            )
        })
        .collect()
}

/// Whether a run folder holds a finished run: its last lifecycle event is `finish` and, when
/// `max_steps` is set, its metrics reached it.
pub fn is_finished(run_dir: &Path, max_steps: u64, records: &[MetricRecord]) -> bool {
    let finished = lifecycle_events(run_dir)
        .last()
        .is_some_and(|e| e.kind == RunEventKind::Finish);
    let last_step = records
        .iter()
        .filter(|r| r.split == Split::Train)
        .map(|r| r.step)
        .max()
        .unwrap_or(0);
    finished && (max_steps == 0 || last_step >= max_steps)
}

/// The mean over the train records that have both of `samples_per_s` per core used
/// (`cpu_percent / 100`): samples per CPU-second.
fn samples_per_cpu_s(records: &[MetricRecord]) -> Option<f64> {
    let v: Vec<f64> = records
        .iter()
        .filter(|r| r.split == Split::Train)
        .filter_map(|r| {
            let (rate, cpu) = (r.get("samples_per_s")?, r.get("cpu_percent")?);
            (rate > 0.0 && cpu > 0.0).then(|| rate * 100.0 / cpu)
        })
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Whether the plan extends a run trained with `own` settings: it raises `max_steps` and
/// nothing else, and the learning-rate schedule does not depend on the run's length (constant
/// after warm-up, `lr_min_ratio = 1`), so continuing the run from its last checkpoint is the
/// same training as running the longer plan from the start.
pub fn extends(own: &TrainConfig, planned: &TrainConfig) -> bool {
    let constant = |c: &TrainConfig| c.lr_min_ratio == 1.0;
    own.max_steps > 0
        && planned.max_steps > own.max_steps
        && constant(own)
        && constant(planned)
        && TrainConfig {
            max_steps: planned.max_steps,
            ..own.clone()
        }
        .diff(planned)
        .into_iter()
        .all(|(k, _, _)| k == "arch.num_puzzle_identifiers" || k == "arch.forward_dtype")
}

/// One run's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub variant: String,
    pub seed: u64,
    pub dir: PathBuf,
    pub status: RunStatus,
    /// The run's own `config.toml` (or why it could not be read; `None`: not written yet).
    pub config: Option<Result<TrainConfig, String>>,
    pub params: usize,
    pub effective_depth: usize,
    /// The last logged training step, and the planned number of steps (0: from epochs).
    pub last_step: Option<u64>,
    pub max_steps: u64,
    pub best_exact: Option<f64>,
    pub final_exact: Option<f64>,
    pub final_token_accuracy: Option<f64>,
    /// Mazes: the share of valid shortest paths at the last eval.
    pub final_valid_path: Option<f64>,
    /// The train-sample exact accuracy and the train - test gap at the last eval.
    pub final_train_exact: Option<f64>,
    pub final_gap: Option<f64>,
    /// The headline test figure's change over the last 20% of the run ([`late_gain`]).
    pub late_gain: Option<f64>,
    pub avg_steps: Option<f64>,
    pub wall_s: Option<f64>,
    pub samples_per_s: Option<f64>,
    /// Means over the train records: the process's CPU use (percent of one core) and the
    /// machine's 1-minute load average.
    pub cpu_percent: Option<f64>,
    pub load_avg: Option<f64>,
    /// Mean training samples per CPU-second (samples/s over the cores the process used).
    pub samples_per_cpu_s: Option<f64>,
    /// Every metrics record (for the curves).
    pub records: Vec<MetricRecord>,
    /// Unreadable lines of `metrics.jsonl`, `config.toml` errors.
    pub warnings: Vec<String>,
}

/// One cell of a variant row.
type VariantCell = fn(&VariantRow) -> String;

/// A figure over seeds: mean, sample standard deviation and 95% Student-t confidence interval
/// of the mean (both from two values on), and count.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stat {
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub ci: Option<(f64, f64)>,
    pub n: usize,
}

impl From<Summary> for Stat {
    fn from(s: Summary) -> Stat {
        Stat {
            mean: s.mean,
            std: s.sd,
            ci: s.ci,
            n: s.n,
        }
    }
}

impl Stat {
    pub fn of(values: impl IntoIterator<Item = Option<f64>>) -> Stat {
        let v: Vec<f64> = values
            .into_iter()
            .flatten()
            .filter(|x| x.is_finite())
            .collect();
        Summary::of(&v).into()
    }

    /// `[38.1, 44.3]` (as percentages) or `-`.
    pub fn ci_percent(&self) -> String {
        self.ci.map_or("-".into(), |(lo, hi)| {
            format!("[{:.1}, {:.1}]", lo * 100.0, hi * 100.0)
        })
    }

    /// `+6.1 ± 2.0 pts` (a difference of fractions, in points) or `-`.
    pub fn points(&self) -> String {
        match (self.mean, self.std) {
            (Some(m), Some(s)) => format!("{:+.1} ± {:.1} pts", m * 100.0, s * 100.0),
            (Some(m), None) => format!("{:+.1} pts", m * 100.0),
            _ => "-".into(),
        }
    }

    /// `41.2 ± 1.3%` (as percentages) or `-`.
    pub fn percent(&self) -> String {
        match (self.mean, self.std) {
            (Some(m), Some(s)) => format!("{:.1} ± {:.1}%", m * 100.0, s * 100.0),
            (Some(m), None) => format!("{:.1}%", m * 100.0),
            _ => "-".into(),
        }
    }
}

/// One variant's row.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantRow {
    pub name: String,
    pub description: String,
    pub params: usize,
    pub effective_depth: usize,
    pub runs_planned: usize,
    pub runs_finished: usize,
    /// Runs started and not finished.
    pub runs_partial: usize,
    pub best_exact: Stat,
    pub final_exact: Stat,
    pub final_token_accuracy: Stat,
    pub final_valid_path: Stat,
    pub final_train_exact: Stat,
    pub final_gap: Stat,
    pub late_gain: Stat,
    pub avg_steps: Stat,
    pub wall_s: Stat,
    pub samples_per_s: Stat,
    pub cpu_percent: Stat,
    pub load_avg: Stat,
    pub samples_per_cpu_s: Stat,
}

impl VariantRow {
    /// Seeds the statistics are over (finished runs).
    pub fn n(&self) -> usize {
        self.runs_finished
    }

    /// Finished runs, and the planned ones while some are missing (`3/4`).
    pub fn runs_label(&self) -> String {
        if self.runs_finished == self.runs_planned {
            self.runs_finished.to_string()
        } else {
            format!("{}/{}", self.runs_finished, self.runs_planned)
        }
    }
}

/// A declared comparison, decided from the finished runs of its two variants.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRow {
    pub spec: Compare,
    pub a: Summary,
    pub b: Summary,
    /// `mean(a) - mean(b)` with its 95% interval (Welch, or paired t; two or more seeds on
    /// each side).
    pub difference: Option<Difference>,
    pub verdict: Verdict,
}

/// A run's figure.
type RunFigure = fn(&RunResult) -> Option<f64>;

/// A per-run figure a `[[compare]]` can be on: its name (the report's column), how it is read
/// from a run, and whether it is a fraction (shown in percent, differences in points).
pub struct RunMetric {
    pub name: &'static str,
    pub figure: RunFigure,
    pub fraction: bool,
}

const fn metric(name: &'static str, figure: RunFigure, fraction: bool) -> RunMetric {
    RunMetric {
        name,
        figure,
        fraction,
    }
}

/// The per-run figures a `[[compare]]` can be on.
pub const RUN_METRICS: &[RunMetric] = &[
    metric("best_exact", |r| r.best_exact, true),
    metric("final_exact", |r| r.final_exact, true),
    metric("final_token_accuracy", |r| r.final_token_accuracy, true),
    metric("final_valid_path", |r| r.final_valid_path, true),
    metric("final_train_exact", |r| r.final_train_exact, true),
    metric("final_gap", |r| r.final_gap, true),
    metric("late_gain", |r| r.late_gain, true),
    metric("avg_steps", |r| r.avg_steps, false),
    metric("wall_s", |r| r.wall_s, false),
    metric("samples_per_s", |r| r.samples_per_s, false),
    metric("cpu_percent", |r| r.cpu_percent, false),
    metric("load_avg", |r| r.load_avg, false),
    metric("samples_per_cpu_s", |r| r.samples_per_cpu_s, false),
];

fn find_metric(name: &str) -> Option<&'static RunMetric> {
    RUN_METRICS.iter().find(|m| m.name == name)
}

/// One run's figure named by a `[[compare]]` metric (`None` for an unknown name).
pub fn run_metric(r: &RunResult, metric: &str) -> Option<f64> {
    find_metric(metric).and_then(|m| (m.figure)(r))
}

/// Whether a metric is a fraction, shown in percent (points for differences).
pub fn is_fraction(metric: &str) -> bool {
    find_metric(metric).is_some_and(|m| m.fraction)
}

/// A variant's finished runs' figures on `metric` (finite ones), by seed.
fn finished_by_seed(runs: &[RunResult], variant: &str, metric: &str) -> BTreeMap<u64, f64> {
    runs.iter()
        .filter(|r| r.variant == variant && r.status == RunStatus::Finished)
        .filter_map(|r| Some((r.seed, run_metric(r, metric)?)))
        .filter(|(_, x)| x.is_finite())
        .collect()
}

impl CompareRow {
    fn load(spec: &Compare, runs: &[RunResult]) -> CompareRow {
        let sa = finished_by_seed(runs, &spec.a, &spec.metric);
        let sb = finished_by_seed(runs, &spec.b, &spec.metric);
        let (va, vb): (Vec<f64>, Vec<f64>);
        let difference = if spec.paired {
            // The seeds both variants finished, in order; the means are over those.
            let pairs: Vec<(f64, f64)> = sa
                .iter()
                .filter_map(|(seed, &x)| Some((x, *sb.get(seed)?)))
                .collect();
            va = pairs.iter().map(|p| p.0).collect();
            vb = pairs.iter().map(|p| p.1).collect();
            Difference::paired(&pairs.iter().map(|p| p.0 - p.1).collect::<Vec<_>>())
        } else {
            va = sa.into_values().collect();
            vb = sb.into_values().collect();
            Difference::of(&va, &vb)
        };
        CompareRow {
            spec: spec.clone(),
            a: Summary::of(&va),
            b: Summary::of(&vb),
            difference,
            verdict: difference.map_or(Verdict::TooFewSeeds, |w| w.verdict()),
        }
    }

    /// The verdict in words: `mlp > att`, `no difference detected (n = 4, 4)`...
    pub fn verdict_label(&self) -> String {
        self.verdict
            .label(&self.spec.a, &self.spec.b, self.a.n, self.b.n)
    }

    /// The paper's direction and figures (`mlp > att (87.4 vs 74.7)`), or `-`.
    pub fn paper_label(&self) -> String {
        match (self.spec.paper_a, self.spec.paper_b) {
            (Some(pa), Some(pb)) => format!(
                "{} ({pa} vs {pb})",
                paper_direction(&self.spec.a, &self.spec.b, pa, pb)
            ),
            (Some(pa), None) => format!("{}: {pa}", self.spec.a),
            (None, Some(pb)) => format!("{}: {pb}", self.spec.b),
            (None, None) => "-".into(),
        }
    }

    /// Whether the verdict agrees with the paper's direction (`None`: no paper figures for
    /// both, or no direction found here).
    pub fn agrees(&self) -> Option<bool> {
        let (pa, pb) = (self.spec.paper_a?, self.spec.paper_b?);
        match self.verdict {
            Verdict::AGreater => Some(pa > pb),
            Verdict::BGreater => Some(pb > pa),
            _ => None,
        }
    }
}

/// An experiment's results.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub name: String,
    pub description: String,
    pub base: String,
    pub dir: PathBuf,
    pub seeds: Vec<u64>,
    pub variants: Vec<VariantRow>,
    pub runs: Vec<RunResult>,
    /// The declared comparisons.
    pub compares: Vec<CompareRow>,
    /// The declared contrasts.
    pub contrasts: Vec<ContrastRow>,
    /// The report as of this training step ([`Report::load_at`]); `None`: as the runs stand.
    pub at_step: Option<u64>,
}

fn last_eval(records: &[MetricRecord]) -> Option<&MetricRecord> {
    records.iter().rev().find(|r| r.split == Split::Eval)
}

/// Count-weighted mean of the training `steps` over the last [`AVG_STEPS_TAIL`] of the run's
/// logged steps (records with `step > floor(last * 0.9)`); when no sequence halted there, the
/// last record where some did.
pub fn avg_steps(records: &[MetricRecord]) -> Option<f64> {
    let halted = |r: &&MetricRecord| -> Option<(f64, f64)> {
        let (s, c) = (r.get("steps")?, r.get("count")?);
        (c > 0.0).then_some((s, c))
    };
    let train: Vec<&MetricRecord> = records.iter().filter(|r| r.split == Split::Train).collect();
    let last = train.iter().map(|r| r.step).max()?;
    let from = (last as f64 * (1.0 - AVG_STEPS_TAIL)).floor() as u64;
    let (mut sum, mut weight) = (0.0, 0.0);
    for (s, c) in train
        .iter()
        .filter(|r| r.step > from || r.step == last)
        .filter_map(halted)
    {
        sum += s * c;
        weight += c;
    }
    if weight > 0.0 {
        return Some(sum / weight);
    }
    train.iter().rev().find_map(halted).map(|(s, _)| s)
}

/// The change of a run's headline test figure over the last [`LATE_GAIN_TAIL`] of its
/// evaluated steps: the last eval's value minus that of the last eval at or before
/// `floor(0.8 * last eval step)`. The headline figure is `maze_valid_path` where the last eval
/// has it (mazes: any shortest path counts), else `exact_accuracy`. A run at its plateau shows
/// a change within the seed spread; `None` without an eval that early.
pub fn late_gain(records: &[MetricRecord]) -> Option<f64> {
    let evals: Vec<&MetricRecord> = records.iter().filter(|r| r.split == Split::Eval).collect();
    let last = *evals.last()?;
    let key = if last.get("maze_valid_path").is_some() {
        "maze_valid_path"
    } else {
        "exact_accuracy"
    };
    let from = (last.step as f64 * (1.0 - LATE_GAIN_TAIL)).floor() as u64;
    let earlier = evals
        .iter()
        .rev()
        .find(|r| r.step <= from)
        .and_then(|r| r.get(key))?;
    Some(last.get(key)? - earlier)
}

/// Read one planned run's folder.
pub fn read_run(dir: &Path, planned: &PlannedRun) -> RunResult {
    read_run_at(dir, planned, None)
}

/// Whether a run stands finished as of step `at`: it trained to `at` and was evaluated by then
/// (a report's figures come from the last evaluation).
fn stands_at(records: &[MetricRecord], at: u64) -> bool {
    let trained = records
        .iter()
        .any(|r| r.split == Split::Train && r.step >= at);
    let evaluated = records
        .iter()
        .any(|r| r.split == Split::Eval && r.step <= at);
    trained && evaluated
}

/// Read one planned run's folder as it stood at training step `at` (every figure from the
/// records up to that step; a run that got there and was evaluated by then counts as
/// finished), or as it stands.
pub fn read_run_at(dir: &Path, planned: &PlannedRun, at: Option<u64>) -> RunResult {
    let mut warnings = Vec::new();
    let run = RunDir::new(dir);
    let config = match run.read_config() {
        Ok(c) => Some(Ok(c)),
        Err(RunDirError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            None
        }
        Err(e) => {
            let m = e.to_string();
            warnings.push(m.clone());
            Some(Err(m))
        }
    };
    let records = match run.read_metrics() {
        Ok((r, errs)) => {
            warnings.extend(errs);
            r
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            warnings.push(format!("{}: {e}", run.metrics_path().display()));
            Vec::new()
        }
    };
    // The run's own settings where it has them (it trained towards its own max_steps, or the
    // plan's when the plan extends it).
    let own = match &config {
        Some(Ok(c)) => c,
        _ => &planned.config,
    };
    let arch = &own.arch;
    let max_steps = if extends(own, &planned.config) {
        planned.config.max_steps
    } else {
        own.max_steps
    };
    let mut records = records;
    let mut max_steps = max_steps;
    let mut status = if is_finished(dir, max_steps, &records) {
        RunStatus::Finished
    } else if records.is_empty() && lifecycle_events(dir).is_empty() {
        RunStatus::Pending
    } else {
        RunStatus::Partial
    };
    if let Some(at) = at {
        if stands_at(&records, at) {
            status = RunStatus::Finished;
        }
        if max_steps == 0 || max_steps > at {
            max_steps = at;
        }
        records.retain(|r| r.step <= at);
    }
    let evals: Vec<&MetricRecord> = records.iter().filter(|r| r.split == Split::Eval).collect();
    let best_exact = evals
        .iter()
        .filter_map(|r| r.get("exact_accuracy"))
        .reduce(f64::max);
    let last = last_eval(&records);
    let train_mean = |key: &str, keep: fn(f64) -> bool| -> Option<f64> {
        let v: Vec<f64> = records
            .iter()
            .filter(|r| r.split == Split::Train)
            .filter_map(|r| r.get(key))
            .filter(|v| keep(*v))
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    RunResult {
        variant: planned.variant.clone(),
        seed: planned.seed,
        dir: dir.to_path_buf(),
        status,
        params: arch.num_parameters(),
        effective_depth: arch.effective_depth(),
        last_step: records
            .iter()
            .filter(|r| r.split == Split::Train)
            .map(|r| r.step)
            .max(),
        max_steps,
        best_exact,
        final_exact: last.and_then(|r| r.get("exact_accuracy")),
        final_token_accuracy: last.and_then(|r| r.get("accuracy")),
        final_valid_path: last.and_then(|r| r.get("maze_valid_path")),
        final_train_exact: last.and_then(|r| r.get("train_exact_accuracy")),
        final_gap: last.and_then(|r| r.get("exact_accuracy_gap")),
        late_gain: late_gain(&records),
        avg_steps: avg_steps(&records),
        wall_s: records.last().map(|r| r.wall_s),
        samples_per_s: train_mean("samples_per_s", |v| v > 0.0),
        cpu_percent: train_mean("cpu_percent", f64::is_finite),
        load_avg: train_mean("load_avg", f64::is_finite),
        samples_per_cpu_s: samples_per_cpu_s(&records),
        config,
        records,
        warnings,
    }
}

impl Report {
    /// Read every planned run of `exp` under `dir`.
    pub fn load(exp: &Experiment, dir: &Path) -> Report {
        Report::load_at(exp, dir, None)
    }

    /// Read every planned run of `exp` under `dir` as it stood at training step `at`: the
    /// comparison at a matched budget when some variants trained on.
    pub fn load_at(exp: &Experiment, dir: &Path, at: Option<u64>) -> Report {
        let plan = exp.plan();
        let runs: Vec<RunResult> = plan
            .iter()
            .map(|p| read_run_at(&dir.join(&p.dir_name), p, at))
            .collect();
        let variants = exp
            .variants
            .iter()
            .map(|v| {
                let all: Vec<&RunResult> = runs.iter().filter(|r| r.variant == v.name).collect();
                let done: Vec<&RunResult> = all
                    .iter()
                    .copied()
                    .filter(|r| r.status == RunStatus::Finished)
                    .collect();
                let from = |f: fn(&RunResult) -> Option<f64>| Stat::of(done.iter().map(|r| f(r)));
                let first = all.first();
                VariantRow {
                    name: v.name.clone(),
                    description: v.description.clone(),
                    params: first.map_or(v.config.arch.num_parameters(), |r| r.params),
                    effective_depth: first
                        .map_or(v.config.arch.effective_depth(), |r| r.effective_depth),
                    runs_planned: all.len(),
                    runs_finished: done.len(),
                    runs_partial: all
                        .iter()
                        .filter(|r| r.status == RunStatus::Partial)
                        .count(),
                    best_exact: from(|r| r.best_exact),
                    final_exact: from(|r| r.final_exact),
                    final_token_accuracy: from(|r| r.final_token_accuracy),
                    final_valid_path: from(|r| r.final_valid_path),
                    final_train_exact: from(|r| r.final_train_exact),
                    final_gap: from(|r| r.final_gap),
                    late_gain: from(|r| r.late_gain),
                    avg_steps: from(|r| r.avg_steps),
                    wall_s: from(|r| r.wall_s),
                    samples_per_s: from(|r| r.samples_per_s),
                    cpu_percent: from(|r| r.cpu_percent),
                    load_avg: from(|r| r.load_avg),
                    samples_per_cpu_s: from(|r| r.samples_per_cpu_s),
                }
            })
            .collect();
        let compares = exp
            .compare
            .iter()
            .map(|c| CompareRow::load(c, &runs))
            .collect();
        let contrasts = exp
            .contrast
            .iter()
            .map(|c| ContrastRow::load(c, &runs))
            .collect();
        Report {
            compares,
            contrasts,
            name: exp.name.clone(),
            description: exp.description.clone(),
            base: exp.base.clone(),
            dir: dir.to_path_buf(),
            seeds: exp.all_seeds(),
            variants,
            runs,
            at_step: at,
        }
    }

    /// Open an experiment folder (its copy of the experiment file) and read its runs.
    pub fn open_dir(dir: &Path) -> Result<(Experiment, Report)> {
        let file = dir.join(EXPERIMENT_FILE);
        if !file.is_file() {
            color_eyre::eyre::bail!(
                "{}: not an experiment folder (no {EXPERIMENT_FILE}; `trm-tui experiment run` writes one)",
                dir.display()
            );
        }
        let exp = Experiment::load(&file)?;
        let report = Report::load(&exp, dir);
        Ok((exp, report))
    }

    /// Every warning of every run.
    pub fn warnings(&self) -> Vec<String> {
        self.runs
            .iter()
            .flat_map(|r| r.warnings.iter().cloned())
            .collect()
    }

    /// Whether some run is on mazes (the valid path column).
    pub fn has_valid_path(&self) -> bool {
        self.runs.iter().any(|r| r.final_valid_path.is_some())
    }

    /// Whether some run evaluated a training sample (the train exact and gap columns).
    pub fn has_train_sample(&self) -> bool {
        self.runs.iter().any(|r| r.final_train_exact.is_some())
    }

    /// Whether some run logged its CPU use / the machine's load (the cpu and load columns).
    pub fn has_load(&self) -> (bool, bool) {
        (
            self.runs.iter().any(|r| r.cpu_percent.is_some()),
            self.runs.iter().any(|r| r.load_avg.is_some()),
        )
    }

    /// How many runs are finished, of how many planned.
    pub fn progress(&self) -> (usize, usize) {
        (
            self.runs
                .iter()
                .filter(|r| r.status == RunStatus::Finished)
                .count(),
            self.runs.len(),
        )
    }

    /// How many verdicts the report draws: one per comparison and one per contrast.
    pub fn verdict_count(&self) -> usize {
        self.compares.len() + self.contrasts.len()
    }
}

/// `1h02m`, `3m05s`, `12.3s` (`-` when not a duration).
pub use crate::util::format_duration;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn rec(step: u64, split: Split, kv: &[(&str, f64)]) -> MetricRecord {
        MetricRecord {
            step,
            epoch: 0.0,
            wall_s: step as f64,
            split,
            values: kv
                .iter()
                .map(|(k, v)| (k.to_string(), Some(*v)))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn stats_avg_steps_and_the_step_a_run_stands_at() {
        let s = Stat::of([Some(0.5), Some(0.7), None]);
        assert_eq!(s.n, 2);
        assert!((s.mean.unwrap() - 0.6).abs() < 1e-12);
        assert!((s.std.unwrap() - 0.1414213562373095).abs() < 1e-12);
        assert_eq!(s.percent(), "60.0 ± 14.1%");
        assert_eq!(Stat::of([Some(0.25)]).percent(), "25.0%");
        assert_eq!(Stat::of([None]).percent(), "-");
        // Steps 1..=20: the tail is steps 19 and 20 (> 18).
        let mut r: Vec<MetricRecord> = (1..=18)
            .map(|s| rec(s, Split::Train, &[("steps", 6.0), ("count", 10.0)]))
            .collect();
        r.push(rec(19, Split::Train, &[("steps", 2.0), ("count", 10.0)]));
        r.push(rec(20, Split::Train, &[("steps", 4.0), ("count", 30.0)]));
        r.push(rec(20, Split::Eval, &[("steps", 6.0), ("count", 64.0)]));
        assert!((avg_steps(&r).unwrap() - 3.5).abs() < 1e-12);
        // Nothing halted in the tail: the last record where something did.
        r[18] = rec(19, Split::Train, &[("steps", 2.0), ("count", 0.0)]);
        r[19] = rec(20, Split::Train, &[("count", 0.0)]);
        assert_eq!(avg_steps(&r), Some(6.0));
        // As of a step: trained that far and evaluated by then.
        assert!(stands_at(&r, 20));
        assert!(!stands_at(&r, 21), "not trained to 21");
        assert!(!stands_at(&r, 19), "no evaluation by 19");
    }

    #[test]
    fn parameter_counts_and_durations_are_formatted_for_the_table() {
        assert_eq!(format_params(5_028_866), "5.03M");
        assert_eq!(format_params(85_250), "85.2k");
        assert_eq!(format_duration(125.0), "2m05s");
    }

    #[test]
    fn late_gain_is_the_change_since_the_last_eval_by_four_fifths_of_the_run() {
        // The last 20% of evals at 100..=1000 starts at 800: 0.9 - 0.7.
        let evals: Vec<MetricRecord> = (1..=10)
            .map(|i| {
                let exact = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.85, 0.9][i - 1];
                rec(i as u64 * 100, Split::Eval, &[("exact_accuracy", exact)])
            })
            .collect();
        assert!((late_gain(&evals).unwrap() - 0.2).abs() < 1e-12);
        // Evals every 300 steps to 1000: the last at or before 800 is 600's.
        let sparse: Vec<MetricRecord> = [300u64, 600, 900, 1000]
            .iter()
            .zip([0.1, 0.4, 0.5, 0.45])
            .map(|(&s, v)| rec(s, Split::Eval, &[("exact_accuracy", v)]))
            .collect();
        assert!((late_gain(&sparse).unwrap() - 0.05).abs() < 1e-12);
        // Mazes: the valid-path share, not exact accuracy.
        let maze = [
            rec(
                400,
                Split::Eval,
                &[("exact_accuracy", 0.1), ("maze_valid_path", 0.3)],
            ),
            rec(
                500,
                Split::Eval,
                &[("exact_accuracy", 0.1), ("maze_valid_path", 0.5)],
            ),
        ];
        assert!((late_gain(&maze).unwrap() - 0.2).abs() < 1e-12);
        assert_eq!(late_gain(&maze[1..]), None, "no eval at or before step 400");
    }
}
