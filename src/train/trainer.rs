//! The trainer thread: owns a [`Session`], drives it through the lifecycle state machine
//! ([`super::state`]) on commands received over a channel, and reports progress, metrics and
//! events back; it also writes the run folder ([`RunDir`]: `config.toml`, `metrics.jsonl`,
//! `events.jsonl`, `checkpoints/`). Used by the TUI and by the headless CLI alike.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use candle_core::Device;
use color_eyre::eyre::{bail, Result, WrapErr};

use super::api::{
    Level, LogSource, MetricRecord, Progress, RunEvent, RunEventKind, Split, TrainCommand,
    TrainerEvent,
};
use super::config::TrainConfig;
use super::device::{device_label, dtype_name, resolve_forward_dtype};
pub use super::device::{open_device, open_device_for_rank};
use super::engine::{Session, StepReport, TrainData};
use super::run_dir::RunDir;
use super::source::load_train_data;
use super::state::{transition, Effect, Input, TrainerState};
use crate::dist::{self, Collective, Control};
use crate::model::ForwardDtype;
use crate::telemetry::{rss_bytes, Telemetry};
use crate::util::atomic::{Fs, Writer};

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub config: TrainConfig,
    /// The run folder; created if missing.
    pub run_dir: RunDir,
    /// Continue from this checkpoint (its run's settings must match).
    pub resume: Option<std::path::PathBuf>,
    /// The job's other ranks (data-parallel training); `None` = one process. With more than
    /// one rank, the trainer is rank 0 and the others run [`run_follower`].
    pub comm: Option<Arc<dyn Collective>>,
    /// Where checkpoint files are written: the file system ([`Fs`]); tests give a writer
    /// that fails part-way.
    pub writer: Arc<dyn Writer>,
}

impl RunSpec {
    /// A fresh run of `config` in `run_dir`, in one process, written to the file system.
    pub fn new(config: TrainConfig, run_dir: RunDir) -> Self {
        Self {
            config,
            run_dir,
            resume: None,
            comm: None,
            writer: Arc::new(Fs),
        }
    }
}

/// The caller's side of a running trainer.
pub struct TrainerHandle {
    commands: Sender<TrainCommand>,
    events: Receiver<TrainerEvent>,
    thread: Option<JoinHandle<()>>,
    pub run_dir: RunDir,
}

impl TrainerHandle {
    pub fn send(&self, cmd: TrainCommand) {
        let _ = self.commands.send(cmd);
    }

    /// A sender of commands that can move to another thread (e.g. a Ctrl-C handler).
    pub fn command_sender(&self) -> Sender<TrainCommand> {
        self.commands.clone()
    }

    /// Every event waiting now (non-blocking).
    pub fn try_recv_all(&self) -> Vec<TrainerEvent> {
        self.events.try_iter().collect()
    }

    /// Wait up to `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<TrainerEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Wait for the thread to end.
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How often the trainer reads the process and GPU figures (NVML and the CPU percentage want
/// about a second between readings).
const TELEMETRY_EVERY: Duration = Duration::from_secs(1);

/// How often progress goes out at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// The span of recent steps the throughput is measured over.
const RATE_WINDOW: Duration = Duration::from_secs(10);

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Start a trainer thread. Data loading and model construction happen on the thread; their
/// errors arrive as a `Failed` state, not here. What is checked here: the config, that the
/// device setting can work in this binary, and the run folder.
pub fn spawn(spec: RunSpec) -> Result<TrainerHandle> {
    spec.config.validate()?;
    super::device::precheck(&spec.config.device)?;
    spec.run_dir.create().wrap_err_with(|| {
        format!(
            "{}: cannot create the run folder",
            spec.run_dir.path().display()
        )
    })?;
    let (cmd_tx, cmd_rx) = channel();
    let (ev_tx, ev_rx) = channel();
    let run_dir = spec.run_dir.clone();
    let thread = std::thread::Builder::new()
        .name("trainer".into())
        .spawn(move || {
            let tx = ev_tx.clone();
            let result = Trainer::start(spec, ev_tx).and_then(|mut t| t.run(&cmd_rx));
            if let Err(e) = result {
                // Said once: the state carries the message.
                let _ = tx.send(TrainerEvent::State(TrainerState::Failed(format!("{e:#}"))));
            }
        })
        .wrap_err("cannot start the trainer thread")?;
    Ok(TrainerHandle {
        commands: cmd_tx,
        events: ev_rx,
        thread: Some(thread),
        run_dir,
    })
}

/// Where the trainer's records go: the run's files and the caller's channel.
struct Reporter {
    tx: Sender<TrainerEvent>,
    metrics: std::fs::File,
    events: std::fs::File,
}

impl Reporter {
    fn open(run: &RunDir, tx: Sender<TrainerEvent>) -> Result<Self> {
        let open = |path: std::path::PathBuf| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .wrap_err_with(|| format!("{}: cannot open", path.display()))
        };
        Ok(Self {
            tx,
            metrics: open(run.metrics_path())?,
            events: open(run.events_path())?,
        })
    }

    fn send(&self, ev: TrainerEvent) {
        let _ = self.tx.send(ev);
    }

    fn log(&self, level: Level, source: LogSource, message: impl Into<String>) {
        self.send(TrainerEvent::Log {
            level,
            source,
            message: message.into(),
        });
    }

    fn event(&mut self, kind: RunEventKind, step: u64, message: String) {
        let ev = RunEvent {
            kind,
            step,
            time: unix_now(),
            message,
        };
        if let Ok(line) = serde_json::to_string(&ev) {
            let _ = writeln!(self.events, "{line}");
        }
        self.send(TrainerEvent::Event(ev));
    }

    fn metrics(&mut self, rec: MetricRecord) {
        if let Ok(line) = serde_json::to_string(&rec) {
            let _ = writeln!(self.metrics, "{line}");
        }
        self.send(TrainerEvent::Metrics(rec));
    }
}

/// Samples per second over the last [`RATE_WINDOW`] of steps.
#[derive(Default)]
struct Rate {
    window: Vec<(Instant, u64)>,
}

impl Rate {
    fn record(&mut self, now: Instant, step: u64, global_batch: usize) -> f64 {
        self.window.push((now, step));
        self.window
            .retain(|(t, _)| now.duration_since(*t) < RATE_WINDOW);
        match (self.window.first(), self.window.last()) {
            (Some((t0, s0)), Some((t1, s1))) if s1 > s0 => {
                (s1 - s0) as f64 * global_batch as f64
                    / t1.duration_since(*t0).as_secs_f64().max(1e-9)
            }
            _ => 0.0,
        }
    }
}

/// What the trainer thread holds while a run goes on.
struct Trainer {
    out: Reporter,
    run: RunDir,
    writer: Arc<dyn Writer>,
    session: Session,
    state: TrainerState,
    /// The run continues an earlier one (its start is recorded as `resume`).
    resumed: bool,
    started: Instant,
    device_name: String,
    telemetry: Telemetry,
    rate: Rate,
    last_progress: Option<Instant>,
    /// The last evaluation's metrics (saved with each checkpoint).
    last_eval: Option<BTreeMap<String, Option<f64>>>,
    /// Rank 0 tells the other ranks the run is over however it ends (dropped last).
    _exit: AnnounceExitOnDrop,
}

impl Trainer {
    /// Open the device, load the data, build (or resume) the session and write the run's
    /// `config.toml`.
    fn start(spec: RunSpec, tx: Sender<TrainerEvent>) -> Result<Self> {
        let run = spec.run_dir.clone();
        let out = Reporter::open(&run, tx)?;
        out.send(TrainerEvent::State(TrainerState::Idle));
        for p in run.remove_stale_temp_files() {
            out.log(
                Level::Info,
                LogSource::Checkpoint,
                format!("removed {}, left by an interrupted write", p.display()),
            );
        }
        out.log(
            Level::Debug,
            LogSource::Data,
            format!("loading data for {}", run.path().display()),
        );
        let local_rank = spec.comm.as_ref().map_or(0, |c| c.local_rank());
        let (device, notice) = open_device_for_rank(&spec.config.device, local_rank)?;
        let device_name = device_label(&device);
        if let Some(n) = notice {
            // A fallback to the CPU is worth a warning (the TUI shows it in the status line).
            let level = if device.is_cpu() {
                Level::Warn
            } else {
                Level::Info
            };
            out.log(level, LogSource::Device, n);
        }
        let telemetry = Telemetry::for_device(&device);
        if let Some(note) = telemetry.gpu_note() {
            out.log(
                Level::Debug,
                LogSource::Device,
                format!("GPU telemetry on {device_name}: {note}"),
            );
        }
        let comm = spec.comm.clone().unwrap_or_else(dist::single);
        let exit = AnnounceExitOnDrop(Arc::clone(&comm));
        let (cfg, data, notes) = prepare(&spec, &device)?;
        for n in notes {
            out.log(Level::Debug, LogSource::Data, n);
        }
        if comm.world() > 1 {
            comm.control(Control::Ready)?;
            out.log(
                Level::Debug,
                LogSource::Dist,
                format!(
                    "data-parallel: {} ranks ({} engine), {} examples per rank per step",
                    comm.world(),
                    comm.engine(),
                    cfg.global_batch_size / comm.world()
                ),
            );
        }
        let session = match &spec.resume {
            Some(p) => Session::resume_with(cfg, data, p, &device, Arc::clone(&comm))?,
            None => Session::new_with(cfg, data, &device, Arc::clone(&comm))?,
        };
        let config_path = run.config_path();
        std::fs::write(&config_path, session.cfg.to_toml_string())
            .wrap_err_with(|| format!("{}: cannot write", config_path.display()))?;
        out.log(
            Level::Info,
            LogSource::Trainer,
            format!(
                "model: {} parameters, effective depth {}; {} train / {} test examples; {} steps",
                session.model.num_parameters(),
                session.cfg.arch.effective_depth(),
                session.data.loaded.train.1.num_examples(),
                session.data.loaded.test.1.num_examples(),
                session.total_steps
            ),
        );
        Ok(Self {
            out,
            run,
            writer: spec.writer,
            session,
            state: TrainerState::Idle,
            resumed: spec.resume.is_some(),
            started: Instant::now(),
            device_name,
            telemetry,
            rate: Rate::default(),
            last_progress: None,
            last_eval: None,
            _exit: exit,
        })
    }

    /// The loop: apply inputs through the state machine, take commands, step while running.
    fn run(&mut self, cmds: &Receiver<TrainCommand>) -> Result<()> {
        let mut pending = vec![Input::Start];
        loop {
            while let Some(input) = pending.pop() {
                if self.apply(&input, &mut pending) {
                    return Ok(());
                }
            }
            if let Some(input) = self.next_command(cmds) {
                pending.push(input);
                continue;
            }
            if self.state != TrainerState::Running {
                continue;
            }
            if self.session.is_done() {
                pending.push(Input::Completed);
                continue;
            }
            if let Err(e) = self.step() {
                pending.push(Input::Error(format!("{e:#}")));
            }
        }
    }

    fn set_state(&mut self, next: TrainerState) {
        if next != self.state {
            self.state = next;
            self.out.send(TrainerEvent::State(self.state.clone()));
        }
    }

    /// Move the state machine on `input` and perform its effects; true when the thread must
    /// end. A new state goes out at once, except a final one (finished, failed), which goes
    /// out after the effects: a run is not reported finished before its final checkpoint is
    /// written, nor both finished and failed when that write fails.
    fn apply(&mut self, input: &Input, pending: &mut Vec<Input>) -> bool {
        let (next, effects) = transition(&self.state, input);
        let announce_later = next != self.state && next.is_terminal();
        if announce_later {
            self.state = next;
        } else {
            self.set_state(next);
        }
        let announce = |t: &mut Self| {
            if announce_later {
                t.out.send(TrainerEvent::State(t.state.clone()));
            }
        };
        for effect in effects {
            let saved = match effect {
                Effect::Record(kind) => {
                    let kind = match kind {
                        RunEventKind::Start if self.resumed => RunEventKind::Resume,
                        k => k,
                    };
                    let msg = match &self.state {
                        TrainerState::Failed(m) => m.clone(),
                        _ => String::new(),
                    };
                    self.out.event(kind, self.session.step, msg);
                    Ok(())
                }
                Effect::SaveCheckpoint => self.checkpoint(),
                Effect::SaveFinalCheckpoint => {
                    let r = self.checkpoint();
                    if r.is_ok() && self.state == TrainerState::Stopping {
                        pending.push(Input::Stopped);
                    }
                    r
                }
                Effect::RunSteps => Ok(()),
                Effect::Exit => {
                    announce(self);
                    return true;
                }
            };
            if let Err(e) = saved {
                self.fail_on_write(format!("{e:#}"));
                return true;
            }
        }
        announce(self);
        false
    }

    /// A checkpoint could not be written: the run ends as failed (also when the state machine
    /// had moved to `Finished` before its final checkpoint), with the previous checkpoint
    /// still `latest`. The message goes out once, in the `Failed` state and the `error`
    /// record of `events.jsonl`.
    fn fail_on_write(&mut self, message: String) {
        self.state = TrainerState::Failed(message.clone());
        self.out.send(TrainerEvent::State(self.state.clone()));
        self.out
            .event(RunEventKind::Error, self.session.step, message);
    }

    /// The next command as an input: blocks briefly while paused, polls while running. A
    /// caller that went away stops the run with a checkpoint.
    fn next_command(&self, cmds: &Receiver<TrainCommand>) -> Option<Input> {
        let cmd = if self.state == TrainerState::Paused {
            match cmds.recv_timeout(Duration::from_millis(200)) {
                Ok(c) => Some(c),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    Some(TrainCommand::Stop { checkpoint: true })
                }
            }
        } else {
            match cmds.try_recv() {
                Ok(c) => Some(c),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => Some(TrainCommand::Stop { checkpoint: true }),
            }
        };
        cmd.map(|c| match c {
            TrainCommand::Pause => Input::Pause,
            TrainCommand::Resume => Input::Resume,
            TrainCommand::Stop { checkpoint } => Input::Stop { checkpoint },
            TrainCommand::CheckpointNow => Input::CheckpointNow,
        })
    }

    /// Seconds of training in this run (summed over resumed sessions).
    fn wall_s(&self) -> f64 {
        self.session.wall_s_before + self.started.elapsed().as_secs_f64()
    }

    /// One optimizer step on every rank, then what falls due after it: the train metrics,
    /// an evaluation with its checkpoints, a periodic checkpoint, progress.
    fn step(&mut self) -> Result<()> {
        self.session.announce(Control::Step)?;
        let report = self.session.train_step()?;
        let now = Instant::now();
        let samples_per_s =
            self.rate
                .record(now, self.session.step, self.session.cfg.global_batch_size);
        let s = &self.session;
        if s.step.is_multiple_of(s.cfg.log_every) || s.step == 1 {
            self.log_train_metrics(&report, samples_per_s);
        }
        let s = &self.session;
        if s.step.is_multiple_of(s.cfg.eval_interval as u64) || s.is_done() {
            self.evaluate()?;
        } else if s.cfg.checkpoint_every > 0 && s.step.is_multiple_of(s.cfg.checkpoint_every) {
            self.checkpoint()?;
        }
        let due = self
            .last_progress
            .is_none_or(|t| now.duration_since(t) >= PROGRESS_EVERY);
        if due || self.session.is_done() {
            self.last_progress = Some(now);
            self.progress(&report, samples_per_s);
        }
        Ok(())
    }

    fn log_train_metrics(&mut self, report: &StepReport, samples_per_s: f64) {
        let mut values = report.metrics.clone();
        values.insert("samples_per_s".into(), Some(samples_per_s));
        if let Some(m) = rss_bytes() {
            values.insert("memory_bytes".into(), Some(m as f64));
        }
        let snap = self.telemetry.sample_at_most_every(TELEMETRY_EVERY);
        for (k, v) in snap.metric_values() {
            values.insert(k.into(), Some(v));
        }
        let rec = MetricRecord {
            step: self.session.step,
            epoch: self.session.epoch(),
            wall_s: self.wall_s(),
            split: Split::Train,
            values,
        };
        self.out.metrics(rec);
    }

    /// Evaluate the EMA model on the test split; write `best` when exact accuracy improved
    /// and a step checkpoint unless the run is done (the final one follows).
    fn evaluate(&mut self) -> Result<()> {
        let m = self.session.evaluate().wrap_err("evaluation failed")?;
        let exact = m.get("exact_accuracy").copied().flatten();
        let rec = MetricRecord {
            step: self.session.step,
            epoch: self.session.epoch(),
            wall_s: self.wall_s(),
            split: Split::Eval,
            values: m.clone(),
        };
        self.out.metrics(rec);
        self.out.event(
            RunEventKind::Eval,
            self.session.step,
            format!(
                "exact_accuracy {}",
                exact.map_or("n/a".into(), |v| format!("{v:.4}"))
            ),
        );
        let improved = match (exact, self.session.best_exact_accuracy) {
            (Some(e), Some(b)) => e > b,
            (Some(_), None) => true,
            _ => false,
        };
        self.last_eval = Some(m);
        if improved {
            self.session.best_exact_accuracy = exact;
            self.write_checkpoint(RunDir::BEST)?;
        }
        if !self.session.is_done() {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Write `step_N.safetensors`, point `latest` at it, prune old ones. When the write
    /// fails, `latest` still names the previous checkpoint.
    fn checkpoint(&mut self) -> Result<()> {
        let name = RunDir::step_file_name(self.session.step);
        self.write_checkpoint(&name)?;
        self.run
            .set_latest(&name, &*self.writer)
            .wrap_err("cannot update checkpoints/latest")?;
        self.run.prune(self.session.cfg.keep_last);
        Ok(())
    }

    fn write_checkpoint(&mut self, name: &str) -> Result<()> {
        let path = self.run.checkpoints_dir().join(name);
        let wall = self.wall_s();
        self.session
            .save_checkpoint_with(&path, wall, self.last_eval.as_ref(), &*self.writer)?;
        self.out.event(
            RunEventKind::Checkpoint,
            self.session.step,
            name.to_string(),
        );
        self.out.log(
            Level::Debug,
            LogSource::Checkpoint,
            format!("wrote {}", path.display()),
        );
        Ok(())
    }

    fn progress(&mut self, report: &StepReport, samples_per_s: f64) {
        let s = &self.session;
        let remaining = s.total_steps.saturating_sub(s.step);
        let steps_per_s = samples_per_s / s.cfg.global_batch_size as f64;
        let snap = self.telemetry.sample_at_most_every(TELEMETRY_EVERY);
        let p = Progress {
            step: s.step,
            total_steps: s.total_steps,
            epoch: s.epoch(),
            elapsed_s: self.wall_s(),
            eta_s: (steps_per_s > 0.0).then(|| remaining as f64 / steps_per_s),
            samples_per_s,
            lr: report.lr,
            device: self.device_name.clone(),
            memory_bytes: rss_bytes(),
            cpu_percent: snap.process.cpu_percent,
            gpu: snap.gpu,
            gpu_note: self.telemetry.gpu_note(),
        };
        self.out.send(TrainerEvent::Progress(p));
    }
}

/// Sends [`Control::Exit`] to the other ranks when rank 0's trainer ends (finished,
/// stopped or failed), so that they exit instead of waiting.
struct AnnounceExitOnDrop(Arc<dyn Collective>);

impl Drop for AnnounceExitOnDrop {
    fn drop(&mut self) {
        if self.0.world() > 1 && self.0.rank() == 0 {
            let _ = self.0.control(Control::Exit);
        }
    }
}

/// Load the run's data and settle the settings that depend on it and on the device (the
/// forward dtype, the puzzle-identifier table): the same on every rank. Returns log lines.
fn prepare(spec: &RunSpec, device: &Device) -> Result<(TrainConfig, Arc<TrainData>, Vec<String>)> {
    let mut notes = Vec::new();
    let data = Arc::new(load_train_data(&spec.config.data, spec.run_dir.path())?);
    let mut cfg = spec.config.clone();
    let device_name = device_label(device);
    let forward = resolve_forward_dtype(cfg.arch.forward_dtype, device);
    if cfg.arch.forward_dtype == ForwardDtype::Auto {
        notes.push(format!(
            "arch.forward_dtype auto: {} on {device_name}",
            dtype_name(forward)
        ));
    }
    cfg.arch.forward_dtype = forward;
    let ids = data
        .loaded
        .train
        .0
        .num_puzzle_identifiers
        .max(data.loaded.test.0.num_puzzle_identifiers);
    if cfg.arch.puzzle_emb_ndim > 0
        && cfg.arch.num_puzzle_identifiers < ids
        && spec.resume.is_none()
    {
        notes.push(format!(
            "arch.num_puzzle_identifiers set to {ids} from the dataset"
        ));
        cfg.arch.num_puzzle_identifiers = ids;
    }
    Ok((cfg, data, notes))
}

/// A rank other than 0 of a data-parallel job: wait until rank 0 has the data ready, build
/// the same session, then follow rank 0's control words (steps, checkpoint gathers) until it
/// ends the run. Writes nothing: rank 0 owns the run folder.
pub fn run_follower(spec: RunSpec) -> Result<()> {
    let comm = spec
        .comm
        .clone()
        .ok_or_else(|| color_eyre::eyre::eyre!("run_follower needs the job's communicator"))?;
    let (device, _) = open_device_for_rank(&spec.config.device, comm.local_rank())?;
    match comm.control(Control::Exit)? {
        Control::Ready => {}
        Control::Exit => return Ok(()),
        other => bail!("rank 0 sent {other:?} before the data was ready"),
    }
    let (cfg, data, _) = prepare(&spec, &device)?;
    let mut session = match &spec.resume {
        Some(p) => Session::resume_with(cfg, data, p, &device, Arc::clone(&comm))?,
        None => Session::new_with(cfg, data, &device, Arc::clone(&comm))?,
    };
    session.follow()
}

/// Run to the end on the calling thread's behalf (headless use and tests): spawn, forward
/// every event to `on_event`, return the final state.
pub fn run_blocking(
    spec: RunSpec,
    mut on_event: impl FnMut(&TrainerEvent),
) -> Result<TrainerState> {
    let handle = spawn(spec)?;
    let mut last = TrainerState::Idle;
    loop {
        match handle.recv_timeout(Duration::from_millis(200)) {
            Some(ev) => {
                if let TrainerEvent::State(s) = &ev {
                    last = s.clone();
                }
                on_event(&ev);
            }
            None => {
                if handle.is_finished() {
                    for ev in handle.try_recv_all() {
                        if let TrainerEvent::State(s) = &ev {
                            last = s.clone();
                        }
                        on_event(&ev);
                    }
                    break;
                }
            }
        }
    }
    handle.join();
    if let TrainerState::Failed(m) = &last {
        bail!("{m}");
    }
    Ok(last)
}
