//! The results of an experiment, read back from its runs' own files (`config.toml`,
//! `metrics.jsonl`, `events.jsonl`): one summary per run and, per variant, the mean and
//! standard deviation over its finished seeds; rendered as a terminal table, `report.md` and
//! `report.csv`. The TUI's Experiments pane draws the same [`Report`]. The comparisons
//! declared in the experiment file (`[[compare]]`) get the difference of means with its 95%
//! Welch confidence interval and a verdict, next to the direction of the paper's figures
//! ([`CompareRow`], statistics in [`super::stats`]).
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

use std::path::{Path, PathBuf};

use color_eyre::eyre::{Result, WrapErr};

use super::spec::{Compare, Experiment, PlannedRun};
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

/// Where a run stands, from its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// No folder, or nothing trained yet.
    Pending,
    /// Started and not finished (running now, stopped, interrupted or failed).
    Partial,
    /// The last lifecycle event is `finish` (and `max_steps`, when set, was reached).
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
    /// `mean(a) - mean(b)` with its 95% interval (Welch, or paired t; two or more seeds on each side).
    pub difference: Option<Difference>,
    pub verdict: Verdict,
}

/// A run's figure.
type RunFigure = fn(&RunResult) -> Option<f64>;

/// The per-run figures a `[[compare]]` can be on, by name (the report's columns).
pub const RUN_METRICS: &[(&str, RunFigure)] = &[
    ("best_exact", |r| r.best_exact),
    ("final_exact", |r| r.final_exact),
    ("final_token_accuracy", |r| r.final_token_accuracy),
    ("final_valid_path", |r| r.final_valid_path),
    ("final_train_exact", |r| r.final_train_exact),
    ("final_gap", |r| r.final_gap),
    ("avg_steps", |r| r.avg_steps),
    ("wall_s", |r| r.wall_s),
    ("samples_per_s", |r| r.samples_per_s),
    ("cpu_percent", |r| r.cpu_percent),
    ("load_avg", |r| r.load_avg),
    ("samples_per_cpu_s", |r| r.samples_per_cpu_s),
];

/// One run's figure named by a `[[compare]]` metric (`None` for an unknown name).
pub fn run_metric(r: &RunResult, metric: &str) -> Option<f64> {
    RUN_METRICS
        .iter()
        .find(|(name, _)| *name == metric)
        .and_then(|(_, figure)| figure(r))
}

/// Whether a metric is a fraction, shown in percent (points for differences).
pub fn is_fraction(metric: &str) -> bool {
    matches!(
        metric,
        "best_exact"
            | "final_exact"
            | "final_token_accuracy"
            | "final_valid_path"
            | "final_train_exact"
            | "final_gap"
    )
}

impl CompareRow {
    fn load(spec: &Compare, runs: &[RunResult]) -> CompareRow {
        let values = |v: &str| -> Vec<f64> {
            runs.iter()
                .filter(|r| r.variant == v && r.status == RunStatus::Finished)
                .filter_map(|r| run_metric(r, &spec.metric))
                .filter(|x| x.is_finite())
                .collect()
        };
        let (mut va, mut vb) = (values(&spec.a), values(&spec.b));
        let difference = if spec.paired {
            // The seeds both variants finished, in order; the means are over those.
            let by_seed = |v: &str| -> std::collections::BTreeMap<u64, f64> {
                runs.iter()
                    .filter(|r| r.variant == v && r.status == RunStatus::Finished)
                    .filter_map(|r| Some((r.seed, run_metric(r, &spec.metric)?)))
                    .filter(|(_, x)| x.is_finite())
                    .collect()
            };
            let (sa, sb) = (by_seed(&spec.a), by_seed(&spec.b));
            let pairs: Vec<(f64, f64)> = sa
                .iter()
                .filter_map(|(seed, &x)| Some((x, *sb.get(seed)?)))
                .collect();
            va = pairs.iter().map(|p| p.0).collect();
            vb = pairs.iter().map(|p| p.1).collect();
            Difference::paired(&pairs.iter().map(|p| p.0 - p.1).collect::<Vec<_>>())
        } else {
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

    /// Cells: the metric's means and the difference, in percent / points for fractions.
    fn cells(&self) -> Vec<String> {
        let frac = is_fraction(&self.spec.metric);
        let scale = if frac { 100.0 } else { 1.0 };
        let mean = |s: &Summary| {
            s.mean.map_or("-".into(), |m| {
                format!("{:.1}{}", m * scale, if frac { "%" } else { "" })
            })
        };
        let (diff, ci, df) = match &self.difference {
            Some(w) => (
                format!("{:+.1}", w.diff * scale),
                format!(
                    "[{:+.1}, {:+.1}]{}",
                    w.low * scale,
                    w.high * scale,
                    if w.paired { " paired" } else { "" }
                ),
                format!("{:.1}", w.df),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        vec![
            format!("{} vs {}", self.spec.a, self.spec.b),
            self.spec.metric.clone(),
            format!("{} (n={})", mean(&self.a), self.a.n),
            format!("{} (n={})", mean(&self.b), self.b.n),
            diff,
            ci,
            df,
            self.verdict_label(),
            self.paper_label(),
            match self.agrees() {
                Some(true) => "agrees".into(),
                Some(false) => "opposite".into(),
                None => "-".into(),
            },
        ]
    }
}

/// The header of the comparisons table.
pub const COMPARE_HEADER: [&str; 10] = [
    "comparison",
    "metric",
    "a",
    "b",
    "a - b",
    "95% CI",
    "df",
    "verdict",
    "paper",
    "vs paper",
];

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

/// Read one planned run's folder.
pub fn read_run(dir: &Path, planned: &PlannedRun) -> RunResult {
    read_run_at(dir, planned, None)
}

/// Read one planned run's folder as it stood at training step `at` (every figure from the
/// records up to that step; a run that got there counts as finished), or as it stands.
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
        let reached = records
            .iter()
            .any(|r| r.split == Split::Train && r.step >= at);
        if reached {
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
        Report {
            compares,
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

    /// The table's header and rows as text cells: the columns of [`Report::columns`].
    pub fn table_cells(&self) -> (Vec<&'static str>, Vec<Vec<String>>) {
        let columns = self.columns();
        let header = columns.iter().map(|(h, _)| *h).collect();
        let rows = self
            .variants
            .iter()
            .map(|v| columns.iter().map(|(_, cell)| cell(v)).collect())
            .collect();
        (header, rows)
    }

    /// The variant table's columns, optional ones only where some run has their figure.
    fn columns(&self) -> Vec<(&'static str, VariantCell)> {
        let (cpu, load) = self.has_load();
        let mut c: Vec<(&'static str, VariantCell)> = vec![
            ("variant", |v| v.name.clone()),
            ("params", |v| format_params(v.params)),
            ("depth", |v| v.effective_depth.to_string()),
            ("best exact", |v| v.best_exact.percent()),
            ("final exact", |v| v.final_exact.percent()),
            ("95% CI", |v| v.final_exact.ci_percent()),
        ];
        if self.has_valid_path() {
            c.push(("valid path", |v| v.final_valid_path.percent()));
        }
        if self.has_train_sample() {
            c.push(("train exact", |v| v.final_train_exact.percent()));
            c.push(("gap", |v| v.final_gap.points()));
        }
        let common: [(&'static str, VariantCell); 5] = [
            ("n", VariantRow::runs_label),
            ("token acc", |v| v.final_token_accuracy.percent()),
            ("avg steps", |v| {
                v.avg_steps.mean.map_or("-".into(), |m| format!("{m:.2}"))
            }),
            ("wall", |v| {
                v.wall_s.mean.map_or("-".into(), format_duration)
            }),
            ("samples/s", |v| {
                v.samples_per_s
                    .mean
                    .map_or("-".into(), |m| format!("{m:.1}"))
            }),
        ];
        c.extend(common);
        if cpu {
            c.push(("samples/cpu-s", |v| {
                v.samples_per_cpu_s
                    .mean
                    .map_or("-".into(), |m| format!("{m:.1}"))
            }));
            c.push(("cpu", |v| {
                v.cpu_percent
                    .mean
                    .map_or("-".into(), |m| format!("{m:.0}%"))
            }));
        }
        if load {
            c.push(("load", |v| {
                v.load_avg.mean.map_or("-".into(), |m| format!("{m:.2}"))
            }));
        }
        c
    }

    /// The comparisons table's rows as text cells (header: [`COMPARE_HEADER`]).
    pub fn compare_cells(&self) -> Vec<Vec<String>> {
        self.compares.iter().map(CompareRow::cells).collect()
    }

    /// The table for the terminal (aligned columns), then the comparisons, if any.
    pub fn table_text(&self) -> String {
        let (header, rows) = self.table_cells();
        let mut out = aligned(&header, rows);
        if !self.compares.is_empty() {
            out.push_str("\ncomparisons (difference of means, 95% interval: Welch, or paired t where marked):\n");
            out.push_str(&aligned(&COMPARE_HEADER, self.compare_cells()));
        }
        out
    }
}

/// Text columns aligned: the first to the left, the others to the right.
fn aligned(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                let pad = w - c.chars().count();
                if i == 0 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(header.iter().map(|s| s.to_string()).collect());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

impl Report {
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

    /// `report.md`: the table, the definitions and every run.
    pub fn markdown(&self) -> String {
        let (header, rows) = self.table_cells();
        let mut s = format!("# Experiment `{}`\n\n", self.name);
        if !self.description.is_empty() {
            s.push_str(&format!("{}\n\n", self.description));
        }
        if let Some(at) = self.at_step {
            s.push_str(&format!(
                "**As of training step {at}:** every figure comes from the records up to that \
                 step; a run that reached it counts as finished, a run that ended earlier stands \
                 at its end.\n\n"
            ));
        }
        let (done, total) = self.progress();
        s.push_str(&format!(
            "Base preset `{}`; seeds {}; {done} of {total} runs finished. Figures are means over \
             the finished runs of each variant (± the sample standard deviation over seeds; `n` \
             counts them), read from each run's `metrics.jsonl`.\n\n",
            self.base,
            self.seeds
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let right = |i: usize| if i == 0 { "---" } else { "---:" };
        s.push_str(&format!("| {} |\n", header.join(" | ")));
        s.push_str(&format!(
            "|{}|\n",
            (0..header.len())
                .map(|i| right(i).to_string())
                .collect::<Vec<_>>()
                .join("|")
        ));
        for r in rows {
            s.push_str(&format!("| {} |\n", r.join(" | ")));
        }
        s.push_str(
            "\n- **params**: trainable parameters of the network (`TrmConfig::num_parameters`; the \
             puzzle-embedding table is not counted); **depth**: layers passed per supervision step \
             (`TrmConfig::effective_depth`).\n\
             - **best / final exact**: highest and last eval `exact_accuracy`; **token acc**: last \
             eval `accuracy`; **train exact** (when shown): last eval's exact accuracy on a fixed \
             sample of training puzzles with the same EMA weights (`eval_train_sample`), and \
             **gap**: train minus test exact, in points; **valid path** (mazes): last eval's share \
             of test mazes answered with a valid shortest path.\n\
             - **avg steps**: supervision steps used before halting in training (`steps` of the \
             train records, weighted by `count`, over the last 10% of the run).\n\
             - **wall**: the run's wall time (evaluations included); **samples/s**: mean logged \
             training throughput; the load they were measured under: **cpu**, the mean share of \
             one core the run's process used (100% per thread it could use; less, it waited for \
             a core), and **load**, the machine's mean 1-minute load average while it trained \
             (runnable threads; above the machine's core count, runs shared cores); \
             **samples/cpu-s**: samples/s per core the run used, the cost of a step with the \
             load taken out.\n\
             - **95% CI**: Student-t confidence interval of the mean final exact accuracy over \
             seeds (from two finished seeds on).\n",
        );
        if !self.compares.is_empty() {
            s.push_str(
                "\n## Comparisons\n\nDifference of the means over finished seeds (`a - b`, in \
                 points for accuracies), its 95% Welch confidence interval (unequal variances, \
                 Welch-Satterthwaite `df`), and the verdict: a direction when the interval \
                 excludes zero. A `paired` interval is over the seeds both variants finished: \
                 the mean of the per-seed differences with its paired-t interval (`df` = seeds \
                 - 1), for variants whose runs of one seed start from the same weights.\n\n",
            );
            s.push_str(&format!("| {} |\n", COMPARE_HEADER.join(" | ")));
            s.push_str("|---|---|---:|---:|---:|---:|---:|---|---|---|\n");
            for r in self.compare_cells() {
                s.push_str(&format!("| {} |\n", r.join(" | ")));
            }
        }
        let described: Vec<&VariantRow> = self
            .variants
            .iter()
            .filter(|v| !v.description.is_empty())
            .collect();
        if !described.is_empty() {
            s.push_str("\n## Variants\n\n");
            for v in described {
                s.push_str(&format!("- `{}`: {}\n", v.name, v.description));
            }
        }
        let gap = self.has_train_sample();
        let (cpu, load) = self.has_load();
        let mut header = vec!["run", "status", "step", "best exact", "final exact"];
        if gap {
            header.push("train exact");
        }
        header.extend(["token acc", "avg steps", "wall", "samples/s"]);
        if cpu {
            header.extend(["samples/cpu-s", "cpu"]);
        }
        if load {
            header.push("load");
        }
        s.push_str(&format!(
            "\n## Runs\n\n| {} |\n|---|---|{}|\n",
            header.join(" | "),
            vec!["---:"; header.len() - 2].join("|")
        ));
        for r in &self.runs {
            let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.1}%", v * 100.0));
            let mut cells = vec![
                r.dir
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().to_string()),
                r.status.label().to_string(),
                match (r.last_step, r.max_steps) {
                    (Some(s), 0) => s.to_string(),
                    (Some(s), m) => format!("{s}/{m}"),
                    (None, _) => "-".into(),
                },
                pct(r.best_exact),
                pct(r.final_exact),
            ];
            if gap {
                cells.push(pct(r.final_train_exact));
            }
            cells.extend([
                pct(r.final_token_accuracy),
                r.avg_steps.map_or("-".into(), |v| format!("{v:.2}")),
                r.wall_s.map_or("-".into(), format_duration),
                r.samples_per_s.map_or("-".into(), |v| format!("{v:.1}")),
            ]);
            if cpu {
                cells.push(
                    r.samples_per_cpu_s
                        .map_or("-".into(), |v| format!("{v:.1}")),
                );
                cells.push(r.cpu_percent.map_or("-".into(), |v| format!("{v:.0}%")));
            }
            if load {
                cells.push(r.load_avg.map_or("-".into(), |v| format!("{v:.2}")));
            }
            s.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        let warnings = self.warnings();
        if !warnings.is_empty() {
            s.push_str("\n## Warnings\n\n");
            for w in warnings {
                s.push_str(&format!("- {w}\n"));
            }
        }
        s
    }

    /// `report.csv`: one row per variant, full precision, empty where undefined.
    pub fn csv(&self) -> String {
        let mut s = String::from(
            "variant,params,effective_depth,runs_planned,runs_finished,\
             best_exact_mean,best_exact_std,final_exact_mean,final_exact_std,\
             final_token_accuracy_mean,final_token_accuracy_std,avg_steps_mean,avg_steps_std,\
             wall_s_mean,wall_s_std,samples_per_s_mean,samples_per_s_std,\
             final_exact_ci_low,final_exact_ci_high,final_train_exact_mean,final_train_exact_std,\
             final_gap_mean,final_gap_std,final_valid_path_mean,final_valid_path_std,\
             cpu_percent_mean,cpu_percent_std,load_avg_mean,load_avg_std,\
             samples_per_cpu_s_mean,samples_per_cpu_s_std\n",
        );
        let f = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        for v in &self.variants {
            let mut cells = vec![
                v.name.clone(),
                v.params.to_string(),
                v.effective_depth.to_string(),
                v.runs_planned.to_string(),
                v.runs_finished.to_string(),
            ];
            for st in [
                v.best_exact,
                v.final_exact,
                v.final_token_accuracy,
                v.avg_steps,
                v.wall_s,
                v.samples_per_s,
            ] {
                cells.push(f(st.mean));
                cells.push(f(st.std));
            }
            cells.push(f(v.final_exact.ci.map(|c| c.0)));
            cells.push(f(v.final_exact.ci.map(|c| c.1)));
            for st in [
                v.final_train_exact,
                v.final_gap,
                v.final_valid_path,
                v.cpu_percent,
                v.load_avg,
                v.samples_per_cpu_s,
            ] {
                cells.push(f(st.mean));
                cells.push(f(st.std));
            }
            s.push_str(&cells.join(","));
            s.push('\n');
        }
        if !self.compares.is_empty() {
            // A second table after a blank line: one row per declared comparison.
            s.push_str(
                "\ncompare_a,compare_b,metric,n_a,n_b,mean_a,mean_b,diff,ci_low,ci_high,df,\
                 verdict,paper_a,paper_b,paired\n",
            );
            for c in &self.compares {
                let w = c.difference;
                let cells = [
                    c.spec.a.clone(),
                    c.spec.b.clone(),
                    c.spec.metric.clone(),
                    c.a.n.to_string(),
                    c.b.n.to_string(),
                    f(c.a.mean),
                    f(c.b.mean),
                    f(w.map(|w| w.diff)),
                    f(w.map(|w| w.low)),
                    f(w.map(|w| w.high)),
                    f(w.map(|w| w.df)),
                    c.verdict_label().replace(',', ";"),
                    f(c.spec.paper_a),
                    f(c.spec.paper_b),
                    c.spec.paired.to_string(),
                ];
                s.push_str(&cells.join(","));
                s.push('\n');
            }
        }
        s
    }

    /// Write `report.md` and `report.csv` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir)
            .wrap_err_with(|| format!("{}: cannot create", dir.display()))?;
        let md = dir.join(REPORT_MD);
        let csv = dir.join(REPORT_CSV);
        std::fs::write(&md, self.markdown())
            .wrap_err_with(|| format!("{}: cannot write", md.display()))?;
        std::fs::write(&csv, self.csv())
            .wrap_err_with(|| format!("{}: cannot write", csv.display()))?;
        Ok((md, csv))
    }
}

/// `5.03M`, `85.2k`, `960`.
pub fn format_params(n: usize) -> String {
    let f = n as f64;
    if f >= 1e6 {
        format!("{:.2}M", f / 1e6)
    } else if f >= 1e4 {
        format!("{:.1}k", f / 1e3)
    } else {
        n.to_string()
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
    fn stats_and_avg_steps() {
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
        assert_eq!(format_params(5_028_866), "5.03M");
        assert_eq!(format_params(85_250), "85.2k");
        assert_eq!(format_duration(125.0), "2m05s");
    }
}
