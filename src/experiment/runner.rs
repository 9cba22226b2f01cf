//! Running an experiment: every (variant, seed) trained one after another through the
//! headless trainer ([`crate::train::trainer::spawn`]), each in its own run folder
//! `DIR/<variant>-s<seed>/`, with a copy of the experiment file and a `manifest.json` in `DIR`.
//! Finished runs are skipped, so an interrupted experiment continues where it stopped; a run
//! that was started and not finished is trained again from scratch, or continued from its
//! latest checkpoint with `resume`. A [`StopSignal`] (Ctrl-C in the CLI) stops the current run
//! with a checkpoint and ends the experiment. With `jobs` above one the runs are trained by
//! child processes, several at once ([`super::jobs`]); one run of a child is trained here by
//! [`train_child`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use color_eyre::eyre::{bail, Result, WrapErr};
use serde::{Deserialize, Serialize};

use super::report::{extends, is_finished, read_run, RunStatus, EXPERIMENT_FILE, MANIFEST_FILE};
use super::spec::{Experiment, PlannedRun};
use crate::train::api::{TrainCommand, TrainerEvent};
use crate::train::config::TrainConfig;
use crate::train::trainer::{spawn, RunSpec};
use crate::train::TrainerState;
use crate::train::{RunDir, RunEventKind};

/// How to run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// The experiment folder.
    pub out_dir: PathBuf,
    /// Only this variant's runs.
    pub only: Option<String>,
    /// Continue unfinished runs from their latest checkpoint (instead of from scratch).
    pub resume: bool,
    /// Runs trained at once, each by a child process (`trm-tui experiment run --jobs N`);
    /// 0 and 1 train them one after another in this process.
    pub jobs: usize,
}

/// Stops the experiment from another thread (a Ctrl-C handler, a test): the current run stops
/// with a checkpoint and no further run starts.
#[derive(Debug, Clone, Default)]
pub struct StopSignal {
    inner: Arc<Mutex<StopInner>>,
}

#[derive(Debug, Default)]
struct StopInner {
    requested: bool,
    current: Option<Sender<TrainCommand>>,
}

impl StopSignal {
    pub fn new() -> StopSignal {
        StopSignal::default()
    }

    /// Ask to stop: the running trainer (if any) stops with a checkpoint.
    pub fn request(&self) {
        if let Ok(mut g) = self.inner.lock() {
            g.requested = true;
            if let Some(tx) = &g.current {
                let _ = tx.send(TrainCommand::Stop { checkpoint: true });
            }
        }
    }

    pub fn is_requested(&self) -> bool {
        self.inner.lock().map(|g| g.requested).unwrap_or(true)
    }

    /// Route a stop to this trainer; true when a stop was already asked for.
    fn attach(&self, tx: Sender<TrainCommand>) -> bool {
        match self.inner.lock() {
            Ok(mut g) => {
                g.current = Some(tx);
                g.requested
            }
            Err(_) => true,
        }
    }

    fn detach(&self) {
        if let Ok(mut g) = self.inner.lock() {
            g.current = None;
        }
    }
}

/// How one run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// Trained to its last step.
    Finished,
    /// Stopped by the [`StopSignal`] (a checkpoint was written).
    Stopped,
    /// The trainer failed (a NaN loss, I/O, data that does not fit...).
    Failed(String),
}

/// What the runner reports while it works.
#[derive(Debug)]
pub enum RunnerEvent<'a> {
    /// A run is already finished and is skipped.
    Skip { run: &'a PlannedRun },
    /// A run starts: its 1-based position among the runs to train now, their count, and the
    /// checkpoint it continues from.
    Start {
        run: &'a PlannedRun,
        index: usize,
        total: usize,
        resume_from: Option<PathBuf>,
        /// An unfinished earlier attempt was cleared to start over.
        restarted: bool,
    },
    /// Something the run's trainer reported.
    Trainer {
        run: &'a PlannedRun,
        event: &'a TrainerEvent,
    },
    /// A run ended.
    Done {
        run: &'a PlannedRun,
        outcome: &'a Outcome,
    },
}

/// What an invocation did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    pub finished: Vec<String>,
    pub skipped: Vec<String>,
    pub failed: Vec<(String, String)>,
    /// The run that was stopped by the signal, if any.
    pub stopped: Option<String>,
    /// Runs not started because of the stop.
    pub not_started: Vec<String>,
}

/// `manifest.json`: what the experiment is and where each run stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub name: String,
    pub description: String,
    /// The experiment file this folder was run from.
    pub source: String,
    pub base: String,
    pub seeds: Vec<u64>,
    /// Shared overrides.
    pub set: BTreeMap<String, String>,
    pub variants: Vec<ManifestVariant>,
    pub runs: Vec<ManifestRun>,
    /// Unix time of the last update.
    pub updated: f64,
    pub trm_tui_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestVariant {
    pub name: String,
    pub description: String,
    /// The variant's base preset.
    pub base: String,
    /// The variant's seeds (absent from manifests written before variants had their own).
    #[serde(default)]
    pub seeds: Vec<u64>,
    pub set: BTreeMap<String, String>,
    pub params: usize,
    pub effective_depth: usize,
    /// Settings that differ from the base preset (the seed aside).
    pub diff_from_base: Vec<Change>,
}

/// A setting that differs from the base preset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub key: String,
    pub base: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRun {
    pub variant: String,
    pub seed: u64,
    /// Relative to the experiment folder.
    pub dir: String,
    /// `pending`, `running`, `finished`, `stopped`, `failed` or `partial`.
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

pub const MANIFEST_FORMAT: &str = "trm-tui/experiment-v1";

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Manifest {
    fn new(exp: &Experiment, dir: &Path) -> Manifest {
        let previous = Manifest::read(dir).ok();
        let runs = exp
            .plan()
            .iter()
            .map(|p| {
                let d = dir.join(&p.dir_name);
                let records = RunDir::new(&d)
                    .read_metrics()
                    .map(|(r, _)| r)
                    .unwrap_or_default();
                let status = if is_finished(&d, p.config.max_steps, &records) {
                    "finished"
                } else if RunDir::new(&d).events_path().is_file() {
                    "partial"
                } else {
                    "pending"
                };
                // An unfinished run keeps what the last invocation knew about it (stopped,
                // failed and why).
                let earlier = previous
                    .as_ref()
                    .and_then(|m| m.runs.iter().find(|r| r.dir == p.dir_name))
                    .filter(|r| {
                        status == "partial" && matches!(r.status.as_str(), "stopped" | "failed")
                    });
                ManifestRun {
                    variant: p.variant.clone(),
                    seed: p.seed,
                    dir: p.dir_name.clone(),
                    status: earlier.map_or(status.to_string(), |r| r.status.clone()),
                    message: earlier.map_or(String::new(), |r| r.message.clone()),
                }
            })
            .collect();
        Manifest {
            format: MANIFEST_FORMAT.into(),
            name: exp.name.clone(),
            description: exp.description.clone(),
            source: std::fs::canonicalize(&exp.file)
                .unwrap_or_else(|_| exp.file.clone())
                .display()
                .to_string(),
            base: exp.base.clone(),
            seeds: exp.all_seeds(),
            set: exp.set.iter().cloned().collect(),
            variants: exp
                .variants
                .iter()
                .map(|v| ManifestVariant {
                    name: v.name.clone(),
                    description: v.description.clone(),
                    base: v.base.clone(),
                    seeds: v.seeds.clone(),
                    set: v.set.iter().cloned().collect(),
                    params: v.config.arch.num_parameters(),
                    effective_depth: v.config.arch.effective_depth(),
                    diff_from_base: {
                        let base = crate::train::presets::get(&v.base).unwrap_or_default();
                        let mut c = v.config.clone();
                        c.seed = base.seed;
                        c.diff(&base)
                            .into_iter()
                            .map(|(key, base, value)| Change { key, base, value })
                            .collect()
                    },
                })
                .collect(),
            runs,
            updated: unix_now(),
            trm_tui_version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    pub(super) fn set_status(&mut self, dir_name: &str, status: &str, message: String) {
        if let Some(r) = self.runs.iter_mut().find(|r| r.dir == dir_name) {
            r.status = status.into();
            r.message = message;
        }
        self.updated = unix_now();
    }

    pub(super) fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST_FILE);
        let tmp = dir.join(".manifest.json.tmp");
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(&tmp, text + "\n")
            .wrap_err_with(|| format!("{}: cannot write", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .wrap_err_with(|| format!("{}: cannot write", path.display()))?;
        Ok(())
    }

    /// Read an experiment folder's manifest.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path)
            .wrap_err_with(|| format!("{}: cannot read", path.display()))?;
        serde_json::from_str(&text).wrap_err_with(|| format!("{}: not a manifest", path.display()))
    }
}

/// Settings where a run folder's `config.toml` differs from the plan, as `(key, planned,
/// found)`. What the trainer resolves when a run starts is not a difference: it raises
/// `arch.num_puzzle_identifiers` to the dataset's and writes the forward type that `auto`
/// became. Nor is a raised `max_steps` where the plan [`extends`] the run: `--resume`
/// continues it.
pub fn config_mismatch(
    existing: &TrainConfig,
    planned: &TrainConfig,
) -> Vec<(String, String, String)> {
    let extended = extends(existing, planned);
    existing
        .diff(planned)
        .into_iter()
        .filter(|(k, planned_value, _)| {
            !(k == "arch.num_puzzle_identifiers"
                || (k == "arch.forward_dtype" && planned_value == "auto")
                || (k == "max_steps" && extended))
        })
        .collect()
}

/// Check, before training anything, that every run can start: data paths exist and no run
/// folder holds a run made with other settings.
fn preflight(runs: &[&PlannedRun], out_dir: &Path) -> Result<()> {
    for p in runs {
        let d = &p.config.data;
        if !d.path.is_empty() && !Path::new(&d.path).exists() {
            bail!(
                "variant `{}`: data.path {} does not exist (build it with `trm-tui data build`, \
                 or set data.path in the experiment file)",
                p.variant,
                d.path
            );
        }
        if !d.test_path.is_empty() && !Path::new(&d.test_path).exists() {
            bail!(
                "variant `{}`: data.test_path {} does not exist",
                p.variant,
                d.test_path
            );
        }
        let cfg_path = RunDir::new(out_dir.join(&p.dir_name)).config_path();
        if let Ok(text) = std::fs::read_to_string(&cfg_path) {
            let existing = TrainConfig::from_toml_str(&text)
                .wrap_err_with(|| format!("{}: bad config", cfg_path.display()))?;
            let diff = config_mismatch(&existing, &p.config);
            if !diff.is_empty() {
                let shown: Vec<String> = diff
                    .iter()
                    .take(6)
                    .map(|(k, planned, old)| format!("{k} = {old} (the file says {planned})"))
                    .collect();
                bail!(
                    "{}: this run was trained with other settings: {}{}; remove the folder, or \
                     give another --out",
                    cfg_path.display(),
                    shown.join(", "),
                    if diff.len() > 6 { ", ..." } else { "" }
                );
            }
        }
    }
    Ok(())
}

/// Remove what a previous, unfinished attempt left (the generated data is kept: it is the
/// same).
fn clear_attempt(dir: &Path) -> Result<()> {
    let run = RunDir::new(dir);
    for p in [run.config_path(), run.metrics_path(), run.events_path()] {
        if p.exists() {
            std::fs::remove_file(&p).wrap_err_with(|| format!("{}: cannot remove", p.display()))?;
        }
    }
    let ck = run.checkpoints_dir();
    if ck.exists() {
        std::fs::remove_dir_all(&ck)
            .wrap_err_with(|| format!("{}: cannot remove", ck.display()))?;
    }
    Ok(())
}

/// Keep only the metrics logged up to `step` (records after the checkpoint a run resumes
/// from would otherwise appear twice).
fn truncate_metrics(dir: &Path, step: u64) -> Result<()> {
    let path = RunDir::new(dir).metrics_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<crate::train::api::MetricRecord>(l)
                .map(|r| r.step <= step)
                .unwrap_or(false)
        })
        .collect();
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    let tmp = dir.join(".metrics.jsonl.tmp");
    std::fs::write(&tmp, out).wrap_err_with(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, &path).wrap_err_with(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}

/// The step of a checkpoint named `step_N.safetensors`.
fn checkpoint_step(path: &Path) -> Option<u64> {
    path.file_name()?
        .to_str()?
        .strip_prefix("step_")?
        .strip_suffix(".safetensors")?
        .parse()
        .ok()
}

/// Train one run to its end (or until stopped); `Err` only when it could not be started.
fn train_one(
    run: &PlannedRun,
    dir: &Path,
    resume: Option<PathBuf>,
    stop: &StopSignal,
    on_event: &mut dyn FnMut(RunnerEvent),
) -> Result<Outcome> {
    // A resumed run continues with its own config.toml: the plan's settings (checked by
    // `preflight`) plus what the trainer resolved when it started, which its checkpoint holds.
    let config = match &resume {
        Some(_) => {
            let mut own = RunDir::new(dir)
                .read_config()
                .unwrap_or_else(|_| run.config.clone());
            if extends(&own, &run.config) {
                own.max_steps = run.config.max_steps;
            }
            own
        }
        None => run.config.clone(),
    };
    let handle = spawn(RunSpec {
        resume,
        ..RunSpec::new(config, RunDir::new(dir))
    })?;
    if stop.attach(handle.command_sender()) {
        handle.send(TrainCommand::Stop { checkpoint: true });
    }
    let mut last_state = TrainerState::Idle;
    let mut finished = false;
    loop {
        let ev = handle.recv_timeout(Duration::from_millis(200));
        let done = ev.is_none() && handle.is_finished();
        if let Some(ev) = ev {
            match &ev {
                TrainerEvent::State(s) => last_state = s.clone(),
                TrainerEvent::Event(e) if e.kind == RunEventKind::Finish => finished = true,
                _ => {}
            }
            on_event(RunnerEvent::Trainer { run, event: &ev });
        }
        if done {
            break;
        }
    }
    stop.detach();
    handle.join();
    Ok(match last_state {
        TrainerState::Failed(m) => Outcome::Failed(m),
        _ if finished => Outcome::Finished,
        _ => Outcome::Stopped,
    })
}

/// Run an experiment into `opts.out_dir`.
pub fn run(
    exp: &Experiment,
    opts: &RunOptions,
    stop: &StopSignal,
    mut on_event: impl FnMut(RunnerEvent),
) -> Result<RunSummary> {
    let plan = exp.plan();
    if let Some(only) = &opts.only {
        if exp.variant(only).is_none() {
            bail!(
                "--only: no variant `{only}` in {} (variants: {})",
                exp.file.display(),
                exp.variants
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let selected: Vec<&PlannedRun> = plan
        .iter()
        .filter(|p| opts.only.as_ref().is_none_or(|o| *o == p.variant))
        .collect();
    let dir = &opts.out_dir;
    // A folder of another experiment is not reused.
    if let Ok(m) = Manifest::read(dir) {
        if m.name != exp.name {
            bail!(
                "{}: holds experiment `{}`, not `{}`; give another --out",
                dir.display(),
                m.name,
                exp.name
            );
        }
    }
    preflight(&selected, dir)?;
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("{}: cannot create", dir.display()))?;
    std::fs::write(dir.join(EXPERIMENT_FILE), &exp.text)
        .wrap_err_with(|| format!("{}: cannot write {EXPERIMENT_FILE}", dir.display()))?;
    let mut manifest = Manifest::new(exp, dir);
    manifest.write(dir)?;

    let mut summary = RunSummary::default();
    // Decide what each selected run needs.
    let mut todo: Vec<Todo> = Vec::new();
    for p in &selected {
        let rd = dir.join(&p.dir_name);
        let r = read_run(&rd, p);
        match r.status {
            RunStatus::Finished => {
                summary.skipped.push(p.dir_name.clone());
                on_event(RunnerEvent::Skip { run: p });
            }
            RunStatus::Pending => todo.push((p, None, RunDir::new(&rd).events_path().exists())),
            RunStatus::Partial => {
                let ck = if opts.resume {
                    RunDir::new(&rd).latest_checkpoint()
                } else {
                    None
                };
                todo.push((p, ck, true));
            }
        }
    }
    if opts.jobs > 1 {
        super::jobs::run_jobs(
            dir,
            opts.jobs,
            &todo,
            &mut manifest,
            &mut summary,
            stop,
            &mut on_event,
        )?;
        return Ok(summary);
    }
    let total = todo.len();
    for (i, (p, resume_from, had_attempt)) in todo.iter().enumerate() {
        if stop.is_requested() {
            summary.not_started.push(p.dir_name.clone());
            continue;
        }
        let rd = dir.join(&p.dir_name);
        let restarted = prepare(&rd, resume_from.as_deref(), *had_attempt)?;
        on_event(RunnerEvent::Start {
            run: p,
            index: i + 1,
            total,
            resume_from: resume_from.clone(),
            restarted,
        });
        manifest.set_status(&p.dir_name, "running", String::new());
        manifest.write(dir)?;
        let outcome = train_one(p, &rd, resume_from.clone(), stop, &mut on_event)
            .unwrap_or_else(|e| Outcome::Failed(format!("{e:#}")));
        record_outcome(p, &outcome, &mut summary, &mut manifest, dir)?;
        on_event(RunnerEvent::Done {
            run: p,
            outcome: &outcome,
        });
    }
    Ok(summary)
}

/// A run to train now: the plan's run, the checkpoint it continues from, and whether an
/// unfinished earlier attempt is in its folder.
pub(super) type Todo<'a> = (&'a PlannedRun, Option<PathBuf>, bool);

/// Ready a run folder before training: metrics after the checkpoint are dropped, or an
/// unfinished attempt is cleared; true when the run starts over.
pub(super) fn prepare(rd: &Path, resume_from: Option<&Path>, had_attempt: bool) -> Result<bool> {
    match resume_from {
        Some(ck) => {
            if let Some(step) = checkpoint_step(ck) {
                truncate_metrics(rd, step)?;
            }
        }
        None if had_attempt => clear_attempt(rd)?,
        None => {}
    }
    Ok(had_attempt && resume_from.is_none())
}

/// Note how a run ended in the summary and the manifest.
pub(super) fn record_outcome(
    p: &PlannedRun,
    outcome: &Outcome,
    summary: &mut RunSummary,
    manifest: &mut Manifest,
    dir: &Path,
) -> Result<()> {
    let (status, message) = match outcome {
        Outcome::Finished => {
            summary.finished.push(p.dir_name.clone());
            ("finished", String::new())
        }
        Outcome::Stopped => {
            // With several jobs more than one run can be stopped; the first is named.
            summary.stopped.get_or_insert_with(|| p.dir_name.clone());
            ("stopped", String::new())
        }
        Outcome::Failed(m) => {
            summary.failed.push((p.dir_name.clone(), m.clone()));
            ("failed", m.clone())
        }
    };
    manifest.set_status(&p.dir_name, status, message);
    manifest.write(dir)
}

/// Train one run of an experiment folder prepared by the parent process (a child of
/// `--jobs`): no manifest is written, events go to `on_event`.
pub fn train_child(
    exp: &Experiment,
    dir: &Path,
    dir_name: &str,
    resume: Option<PathBuf>,
    stop: &StopSignal,
    mut on_event: impl FnMut(RunnerEvent),
) -> Result<Outcome> {
    let plan = exp.plan();
    let Some(p) = plan.iter().find(|p| p.dir_name == dir_name) else {
        bail!("{}: no run `{dir_name}` in this experiment", dir.display());
    };
    train_one(p, &dir.join(dir_name), resume, stop, &mut on_event)
}

/// Resolve the experiment folder of `experiment report/run`: `--out`, else the default.
pub fn resolve_dir(exp: &Experiment, out: Option<&Path>) -> PathBuf {
    out.map_or_else(|| exp.default_dir(), Path::to_path_buf)
}
