//! The trainer thread: owns a [`Session`], drives it through the lifecycle state machine
//! ([`super::state`]) on commands received over a channel, and reports progress, metrics and
//! events back; it also writes the run folder (`config.toml`, `metrics.jsonl`,
//! `events.jsonl`, `checkpoints/`). Used by the TUI and by the headless CLI alike.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use candle_core::Device;
use color_eyre::eyre::{bail, Result, WrapErr};

use super::api::{MetricRecord, Progress, RunEvent, TrainCommand, TrainerEvent};
use super::config::TrainConfig;
use super::device::{device_label, dtype_name, resolve_forward_dtype};
pub use super::device::{open_device, open_device_for_rank};
use super::engine::{Session, TrainData};
use super::source::load_train_data;
use super::state::{transition, Effect, Input, TrainerState};
use crate::dist::{self, Collective, Control};
use crate::model::ForwardDtype;
use crate::telemetry::{rss_bytes, Telemetry};

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub config: TrainConfig,
    /// The run folder (`runs/<run-id>`); created if missing.
    pub run_dir: PathBuf,
    /// Continue from this checkpoint (its run's settings must match).
    pub resume: Option<PathBuf>,
    /// The job's other ranks (data-parallel training); `None` = one process. With more than
    /// one rank, the trainer is rank 0 and the others run [`run_follower`].
    pub comm: Option<Arc<dyn Collective>>,
}

/// The caller's side of a running trainer.
pub struct TrainerHandle {
    commands: Sender<TrainCommand>,
    events: Receiver<TrainerEvent>,
    thread: Option<JoinHandle<()>>,
    pub run_dir: PathBuf,
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

/// A fresh run id: `YYYYmmdd-HHMMSS-<preset or name>`.
pub fn new_run_id(label: &str) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}-{label}")
}

fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

/// The runs root: `$TRM_RUNS_DIR` or `./runs`.
pub fn runs_root() -> PathBuf {
    std::env::var_os("TRM_RUNS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("runs"))
}

/// The checkpoint `checkpoints/latest` points to, if any.
pub fn latest_checkpoint(run_dir: &Path) -> Option<PathBuf> {
    let dir = run_dir.join("checkpoints");
    let name = std::fs::read_to_string(dir.join("latest")).ok()?;
    let p = dir.join(name.trim());
    p.is_file().then_some(p)
}

/// How often the trainer reads the process and GPU figures (NVML and the CPU percentage want
/// about a second between readings).
const TELEMETRY_EVERY: Duration = Duration::from_secs(1);

struct RunFiles {
    metrics: std::fs::File,
    events: std::fs::File,
}

impl RunFiles {
    fn open(dir: &Path) -> Result<Self> {
        let open = |name: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
                .wrap_err_with(|| format!("{}: cannot open {name}", dir.display()))
        };
        Ok(Self {
            metrics: open("metrics.jsonl")?,
            events: open("events.jsonl")?,
        })
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Start a trainer thread. Data loading and model construction happen on the thread; their
/// errors arrive as a `Failed` state (and an `error` event), not here. What is checked here:
/// the config, that the device setting can work in this binary, and the run folder.
pub fn spawn(spec: RunSpec) -> Result<TrainerHandle> {
    spec.config.validate()?;
    super::device::precheck(&spec.config.device)?;
    std::fs::create_dir_all(spec.run_dir.join("checkpoints"))
        .wrap_err_with(|| format!("{}: cannot create the run folder", spec.run_dir.display()))?;
    let (cmd_tx, cmd_rx) = channel();
    let (ev_tx, ev_rx) = channel();
    let run_dir = spec.run_dir.clone();
    let thread = std::thread::Builder::new()
        .name("trainer".into())
        .spawn(move || {
            let tx = ev_tx.clone();
            if let Err(e) = run_thread(spec, cmd_rx, ev_tx) {
                let msg = format!("{e:#}");
                let _ = tx.send(TrainerEvent::Log(format!("error: {msg}")));
                let _ = tx.send(TrainerEvent::State(TrainerState::Failed(msg)));
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

struct Ctx {
    tx: Sender<TrainerEvent>,
    files: RunFiles,
    run_dir: PathBuf,
    started: Instant,
}

impl Ctx {
    fn log(&self, s: impl Into<String>) {
        let _ = self.tx.send(TrainerEvent::Log(s.into()));
    }
    fn event(&mut self, kind: &str, step: u64, message: String) {
        let ev = RunEvent {
            kind: kind.into(),
            step,
            time: unix_now(),
            message,
        };
        if let Ok(line) = serde_json::to_string(&ev) {
            let _ = writeln!(self.files.events, "{line}");
        }
        let _ = self.tx.send(TrainerEvent::Event(ev));
    }
    fn metrics(&mut self, rec: MetricRecord) {
        if let Ok(line) = serde_json::to_string(&rec) {
            let _ = writeln!(self.files.metrics, "{line}");
        }
        let _ = self.tx.send(TrainerEvent::Metrics(rec));
    }
}

fn run_thread(spec: RunSpec, cmds: Receiver<TrainCommand>, tx: Sender<TrainerEvent>) -> Result<()> {
    let run_dir = spec.run_dir.clone();
    let files = RunFiles::open(&run_dir)?;
    let mut ctx = Ctx {
        tx: tx.clone(),
        files,
        run_dir: run_dir.clone(),
        started: Instant::now(),
    };
    let mut state = TrainerState::Idle;
    let _ = tx.send(TrainerEvent::State(state.clone()));

    ctx.log(format!("loading data for {}", run_dir.display()));
    let local_rank = spec.comm.as_ref().map_or(0, |c| c.local_rank());
    let (device, notice) = open_device_for_rank(&spec.config.device, local_rank)?;
    let device_name = device_label(&device);
    if let Some(n) = notice {
        // A fallback to the CPU is worth a warning (the TUI shows it in the status line).
        ctx.log(if device.is_cpu() {
            format!("warning: {n}")
        } else {
            n
        });
    }
    let mut telemetry = Telemetry::for_device(&device);
    if let Some(note) = telemetry.gpu_note() {
        ctx.log(format!("GPU telemetry on {device_name}: {note}"));
    }
    let comm = spec.comm.clone().unwrap_or_else(dist::single);
    // Rank 0 tells the other ranks the run is over however this function ends.
    let _exit = AnnounceExitOnDrop(Arc::clone(&comm));
    let (cfg, data, notes) = prepare(&spec, &device)?;
    for n in notes {
        ctx.log(n);
    }
    if comm.world() > 1 {
        comm.control(Control::Ready)?;
        ctx.log(format!(
            "data-parallel: {} ranks ({} engine), {} examples per rank per step",
            comm.world(),
            comm.engine(),
            cfg.global_batch_size / comm.world()
        ));
    }
    let mut session = match &spec.resume {
        Some(p) => Session::resume_with(cfg.clone(), data, p, &device, Arc::clone(&comm))?,
        None => Session::new_with(cfg.clone(), data, &device, Arc::clone(&comm))?,
    };
    std::fs::write(run_dir.join("config.toml"), session.cfg.to_toml_string())
        .wrap_err_with(|| format!("{}: cannot write config.toml", run_dir.display()))?;
    ctx.log(format!(
        "model: {} parameters, effective depth {}; {} train / {} test examples; {} steps",
        session.model.num_parameters(),
        session.cfg.arch.effective_depth(),
        session.data.loaded.train.1.num_examples(),
        session.data.loaded.test.1.num_examples(),
        session.total_steps
    ));

    let mut pending = vec![Input::Start];
    let mut last_progress = Instant::now() - Duration::from_secs(1);
    let mut rate_window: Vec<(Instant, u64)> = Vec::new();
    let mut last_eval: Option<BTreeMap<String, Option<f64>>> = None;
    let resumed = spec.resume.is_some();
    loop {
        // Apply pending inputs through the state machine.
        while let Some(input) = pending.pop() {
            let (next, effects) = transition(&state, &input);
            if next != state {
                state = next;
                let _ = tx.send(TrainerEvent::State(state.clone()));
            }
            for e in effects {
                match e {
                    Effect::Log(kind) => {
                        let kind = if kind == "start" && resumed {
                            "resume"
                        } else {
                            kind
                        };
                        let msg = if let TrainerState::Failed(m) = &state {
                            m.clone()
                        } else {
                            String::new()
                        };
                        ctx.event(kind, session.step, msg);
                    }
                    Effect::SaveCheckpoint => save(&mut ctx, &session, last_eval.as_ref())?,
                    Effect::SaveFinalCheckpoint => {
                        save(&mut ctx, &session, last_eval.as_ref())?;
                        if state == TrainerState::Stopping {
                            pending.push(Input::Stopped);
                        }
                    }
                    Effect::RunSteps => {}
                    Effect::Exit => return Ok(()),
                }
            }
        }
        // Commands: block while paused, poll while running.
        let cmd = if state == TrainerState::Paused {
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
                Err(std::sync::mpsc::TryRecvError::Empty) => None,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    Some(TrainCommand::Stop { checkpoint: true })
                }
            }
        };
        if let Some(c) = cmd {
            pending.push(match c {
                TrainCommand::Pause => Input::Pause,
                TrainCommand::Resume => Input::Resume,
                TrainCommand::Stop { checkpoint } => Input::Stop { checkpoint },
                TrainCommand::CheckpointNow => Input::CheckpointNow,
            });
            continue;
        }
        if state != TrainerState::Running {
            continue;
        }
        if session.is_done() {
            pending.push(Input::Completed);
            continue;
        }
        // One optimizer step (on every rank).
        if let Err(e) = session.announce(Control::Step) {
            pending.push(Input::Error(format!("{e:#}")));
            continue;
        }
        let report = match session.train_step() {
            Ok(r) => r,
            Err(e) => {
                pending.push(Input::Error(format!("{e:#}")));
                continue;
            }
        };
        let now = Instant::now();
        rate_window.push((now, session.step));
        rate_window.retain(|(t, _)| now.duration_since(*t) < Duration::from_secs(10));
        let samples_per_s = match (rate_window.first(), rate_window.last()) {
            (Some((t0, s0)), Some((t1, s1))) if s1 > s0 => {
                (s1 - s0) as f64 * session.cfg.global_batch_size as f64
                    / t1.duration_since(*t0).as_secs_f64().max(1e-9)
            }
            _ => 0.0,
        };
        let wall_s = session.wall_s_before + ctx.started.elapsed().as_secs_f64();
        if session.step % session.cfg.log_every == 0 || session.step == 1 {
            let mut values = report.metrics.clone();
            values.insert("samples_per_s".into(), Some(samples_per_s));
            if let Some(m) = rss_bytes() {
                values.insert("memory_bytes".into(), Some(m as f64));
            }
            let snap = telemetry.sample_at_most_every(TELEMETRY_EVERY);
            for (k, v) in snap.metric_values() {
                values.insert(k.into(), Some(v));
            }
            ctx.metrics(MetricRecord {
                step: session.step,
                epoch: session.epoch(),
                wall_s,
                split: "train".into(),
                values,
            });
        }
        let eval_due = session.step % (session.cfg.eval_interval as u64) == 0 || session.is_done();
        if eval_due {
            match session.evaluate() {
                Ok(m) => {
                    let exact = m.get("exact_accuracy").copied().flatten();
                    ctx.metrics(MetricRecord {
                        step: session.step,
                        epoch: session.epoch(),
                        wall_s,
                        split: "eval".into(),
                        values: m.clone(),
                    });
                    ctx.event(
                        "eval",
                        session.step,
                        format!(
                            "exact_accuracy {}",
                            exact.map_or("n/a".into(), |v| format!("{v:.4}"))
                        ),
                    );
                    let improved = match (exact, session.best_exact_accuracy) {
                        (Some(e), Some(b)) => e > b,
                        (Some(_), None) => true,
                        _ => false,
                    };
                    last_eval = Some(m);
                    if improved {
                        session.best_exact_accuracy = exact;
                        save_named(&mut ctx, &session, last_eval.as_ref(), "best.safetensors")?;
                    }
                    if !session.is_done() {
                        save(&mut ctx, &session, last_eval.as_ref())?;
                    }
                }
                Err(e) => pending.push(Input::Error(format!("evaluation failed: {e:#}"))),
            }
        } else if session.cfg.checkpoint_every > 0
            && session.step % session.cfg.checkpoint_every == 0
        {
            save(&mut ctx, &session, last_eval.as_ref())?;
        }
        if now.duration_since(last_progress) >= Duration::from_millis(100) || session.is_done() {
            last_progress = now;
            let remaining = session.total_steps.saturating_sub(session.step);
            let steps_per_s = samples_per_s / session.cfg.global_batch_size as f64;
            let snap = telemetry.sample_at_most_every(TELEMETRY_EVERY);
            let _ = tx.send(TrainerEvent::Progress(Progress {
                step: session.step,
                total_steps: session.total_steps,
                epoch: session.epoch(),
                elapsed_s: wall_s,
                eta_s: (steps_per_s > 0.0).then(|| remaining as f64 / steps_per_s),
                samples_per_s,
                lr: report.lr,
                device: device_name.clone(),
                memory_bytes: rss_bytes(),
                cpu_percent: snap.process.cpu_percent,
                gpu: snap.gpu,
                gpu_note: telemetry.gpu_note(),
            }));
        }
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
    let data = Arc::new(load_train_data(&spec.config.data, &spec.run_dir)?);
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

fn save(ctx: &mut Ctx, s: &Session, eval: Option<&BTreeMap<String, Option<f64>>>) -> Result<()> {
    let name = format!("step_{}.safetensors", s.step);
    save_named(ctx, s, eval, &name)?;
    let dir = ctx.run_dir.join("checkpoints");
    // Atomic pointer update.
    let tmp = dir.join(".latest.tmp");
    std::fs::write(&tmp, &name).wrap_err("cannot write checkpoints/latest")?;
    std::fs::rename(&tmp, dir.join("latest")).wrap_err("cannot write checkpoints/latest")?;
    prune(&dir, s.cfg.keep_last)?;
    Ok(())
}

fn save_named(
    ctx: &mut Ctx,
    s: &Session,
    eval: Option<&BTreeMap<String, Option<f64>>>,
    name: &str,
) -> Result<()> {
    let path = ctx.run_dir.join("checkpoints").join(name);
    let wall = s.wall_s_before + ctx.started.elapsed().as_secs_f64();
    s.save_checkpoint(&path, wall, eval)?;
    ctx.event("checkpoint", s.step, name.to_string());
    ctx.log(format!("checkpoint {}", path.display()));
    Ok(())
}

/// Keep the `keep` most recent `step_*.safetensors` (and `best.safetensors`).
fn prune(dir: &Path, keep: usize) -> Result<()> {
    if keep == 0 {
        return Ok(());
    }
    let mut steps: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let n = p.file_name()?.to_str()?.to_string();
            let s = n
                .strip_prefix("step_")?
                .strip_suffix(".safetensors")?
                .parse()
                .ok()?;
            Some((s, p))
        })
        .collect();
    steps.sort();
    if steps.len() > keep {
        for (_, p) in &steps[..steps.len() - keep] {
            let _ = std::fs::remove_file(p);
        }
    }
    Ok(())
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
