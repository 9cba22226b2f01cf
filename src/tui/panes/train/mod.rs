//! Train pane: pick a preset, edit its settings in a form (each edit validated as typed, the
//! diff against the preset shown), pick the data and the device, launch a run on the trainer
//! thread (`train::trainer::spawn`), then pause, resume, stop (with a checkpoint) or checkpoint
//! now, with progress gauges, ETA, samples/s, step, epoch, device, memory, CPU use and a GPU line
//! (utilisation, memory, temperature, power through NVML; "GPU n/a" on the CPU).

pub mod keys;
mod status;
#[cfg(test)]
mod tests;
mod view;

use std::path::PathBuf;

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::Frame;

use crate::fetch::paper;
use crate::train::api::{MetricRecord, Progress, RunEventKind, Split, TrainCommand, TrainerEvent};
use crate::train::config::TrainConfig;
use crate::train::presets;
use crate::train::run_dir::{new_run_id, RunDir};
use crate::train::state::TrainerState;
use crate::train::trainer::{self, RunSpec};
use crate::tui::component::{Action, Component, Ctx, EventState, KeyHint, Level};
use crate::tui::config::Paths;
use crate::tui::events::{EventTx, Run};
use crate::tui::keys::{nav, KeyMap, KeyOverrides, Shown};
use crate::tui::theme::Theme;

use keys::{EditAction, TrainAction};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Presets,
    Form,
}

/// A field being edited: the text typed and the problem with it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub key: String,
    pub buffer: String,
    pub error: Option<String>,
}

/// The data sources offered by `D`: the preset's own (generated) data, then puzzle files.
fn data_choices(paths: &Paths) -> Vec<String> {
    let mut v = vec![String::new()];
    v.extend(
        crate::tui::catalog::puzzle_files(&paths.puzzles_dir)
            .iter()
            .map(|p| p.display().to_string()),
    );
    v
}

pub const DEVICES: &[&str] = &["cpu", "auto", "cuda:0"];

pub struct TrainPane {
    pub paths: Paths,
    pub presets: Vec<&'static str>,
    pub preset_idx: usize,
    /// The preset's config (what the diff is against).
    pub base: TrainConfig,
    pub config: TrainConfig,
    pub field_sel: usize,
    pub edit: Option<Edit>,
    pub focus: Focus,
    /// Resume from this checkpoint into `resume_dir` at the next launch.
    pub resume: Option<(PathBuf, PathBuf)>,
    /// The current run's trainer (polled, or forwarded to the app's channel).
    pub run: Option<Run>,
    /// The app's event channel, when attached: runs are forwarded to it.
    events: Option<EventTx>,
    pub state: TrainerState,
    pub progress: Option<Progress>,
    pub last_train: Option<MetricRecord>,
    pub last_eval: Option<MetricRecord>,
    /// samples/s history for the sparkline.
    pub throughput: Vec<u64>,
    pub run_dir: Option<PathBuf>,
    pub last_event: Option<String>,
    keys: KeyMap<TrainAction>,
    edit_keys: KeyMap<EditAction>,
}

impl std::fmt::Debug for TrainPane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainPane")
            .field("state", &self.state)
            .field("preset", &self.presets.get(self.preset_idx))
            .finish()
    }
}

impl TrainPane {
    pub fn new(paths: &Paths) -> TrainPane {
        let presets = presets::names();
        let preset_idx = presets.iter().position(|&n| n == "smoke").unwrap_or(0);
        let base = presets
            .get(preset_idx)
            .and_then(|n| presets::get(n))
            .unwrap_or_default();
        TrainPane {
            paths: paths.clone(),
            presets,
            preset_idx,
            config: base.clone(),
            base,
            field_sel: 0,
            edit: None,
            focus: Focus::Presets,
            resume: None,
            run: None,
            events: None,
            state: TrainerState::Idle,
            progress: None,
            last_train: None,
            last_eval: None,
            throughput: Vec::new(),
            run_dir: None,
            last_event: None,
            keys: KeyMap::defaults("train", keys::KEYS),
            edit_keys: KeyMap::defaults("train_edit", keys::EDIT_KEYS),
        }
    }

    /// Apply the user's key overrides; returns the problems found in them.
    pub fn remap(&mut self, overrides: &KeyOverrides) -> Vec<String> {
        let (k, mut errs) = KeyMap::new("train", keys::KEYS, overrides);
        let (e, more) = KeyMap::new("train_edit", keys::EDIT_KEYS, overrides);
        errs.extend(more);
        self.keys = k;
        self.edit_keys = e;
        errs
    }

    pub fn preset_name(&self) -> &'static str {
        self.presets
            .get(self.preset_idx)
            .copied()
            .unwrap_or("custom")
    }

    /// A run is going (or stopping): quitting must ask first.
    pub fn is_active(&self) -> bool {
        self.run.as_ref().is_some_and(|h| !h.is_finished()) && !self.state.is_terminal()
    }

    pub fn select_preset(&mut self, i: usize) {
        if let Some(c) = self.presets.get(i).and_then(|n| presets::get(n)) {
            self.preset_idx = i;
            self.base = c.clone();
            self.config = c;
            self.resume = None;
            self.field_sel = self
                .field_sel
                .min(self.config.fields().len().saturating_sub(1));
        }
    }

    /// Prepare a resume: the run's own config, its checkpoint, its folder.
    pub fn prepare_resume(&mut self, run_dir: PathBuf, checkpoint: PathBuf, ctx: &mut Ctx) {
        if self.is_active() {
            ctx.status(
                Level::Warn,
                "a run is active: stop it before resuming another",
            );
            return;
        }
        match RunDir::new(&run_dir).read_config() {
            Ok(c) => {
                self.base = c.clone();
                self.config = c;
                ctx.status(
                    Level::Info,
                    format!(
                        "ready to resume {} from {}: press r",
                        Paths::display(&run_dir),
                        checkpoint
                            .file_name()
                            .map_or(String::new(), |n| n.to_string_lossy().to_string())
                    ),
                );
                self.resume = Some((checkpoint, run_dir));
            }
            Err(e) => ctx.status(Level::Error, format!("cannot resume: {e}")),
        }
    }

    /// Start the configured run (or the prepared resume).
    pub fn launch(&mut self, ctx: &mut Ctx) {
        if self.is_active() {
            ctx.status(Level::Warn, "a run is already active");
            return;
        }
        if let Err(e) = self.config.validate() {
            ctx.status(Level::Error, format!("cannot launch: {e}"));
            return;
        }
        // A paper preset's dataset: `data/<dataset>` here, else where `data build --preset` put it.
        match paper::locate(
            self.preset_name(),
            &self.config.data.path,
            &self.paths.data_dir,
        ) {
            Some(Ok(dir)) => self.config.data.path = dir.display().to_string(),
            Some(Err(missing)) => {
                ctx.status(Level::Error, format!("cannot launch: {missing}"));
                return;
            }
            None => {}
        }
        let (run_dir, resume) = match self.resume.take() {
            Some((ck, dir)) => (dir, Some(ck)),
            None => (
                self.paths.runs_dir.join(new_run_id(self.preset_name())),
                None,
            ),
        };
        let spec = RunSpec {
            resume: resume.clone(),
            ..RunSpec::new(self.config.clone(), RunDir::new(&run_dir))
        };
        match trainer::spawn(spec) {
            Ok(h) => {
                ctx.log(
                    Level::Info,
                    "train",
                    format!(
                        "{} {} in {}",
                        if resume.is_some() {
                            "resuming"
                        } else {
                            "launched"
                        },
                        self.preset_name(),
                        Paths::display(&run_dir)
                    ),
                );
                self.run = Some(Run::new(h, self.events.as_ref()));
                self.state = TrainerState::Idle;
                self.progress = None;
                self.last_train = None;
                self.last_eval = None;
                self.throughput.clear();
                self.run_dir = Some(run_dir.clone());
                ctx.push(Action::WatchRun(run_dir));
                ctx.push(Action::RescanRuns);
            }
            Err(e) => ctx.status(Level::Error, format!("cannot launch: {e:#}")),
        }
    }

    pub fn command(&mut self, cmd: TrainCommand, ctx: &mut Ctx) {
        match &self.run {
            Some(h) if self.is_active() => {
                ctx.log(Level::Info, "train", format!("{cmd:?}"));
                h.send(cmd);
            }
            _ => ctx.status(Level::Warn, "no active run"),
        }
    }

    /// Drain the trainer's events; true when something changed.
    pub fn poll(&mut self, ctx: &mut Ctx) -> bool {
        let Some(h) = &self.run else { return false };
        let events = h.try_recv_all();
        let changed = !events.is_empty();
        for ev in events {
            self.on_event(ev, ctx);
        }
        changed
    }

    /// Send the runs this pane launches to the app's event channel.
    pub fn attach(&mut self, tx: EventTx) {
        self.events = Some(tx);
    }

    /// Apply one message of the trainer.
    pub fn on_event(&mut self, ev: TrainerEvent, ctx: &mut Ctx) {
        {
            match ev {
                TrainerEvent::State(s) => {
                    if s != self.state {
                        let lvl = if matches!(s, TrainerState::Failed(_)) {
                            Level::Error
                        } else {
                            Level::Info
                        };
                        let msg = match &s {
                            TrainerState::Failed(m) => format!("failed: {m}"),
                            other => other.label().to_string(),
                        };
                        ctx.log(lvl, "train", msg.clone());
                        if lvl == Level::Error || s.is_terminal() {
                            ctx.status(lvl, format!("train: {msg}"));
                            ctx.push(Action::RescanRuns);
                        }
                    }
                    self.state = s;
                }
                TrainerEvent::Progress(p) => {
                    self.throughput
                        .push(p.samples_per_s.max(0.0).round() as u64);
                    if self.throughput.len() > 300 {
                        self.throughput.remove(0);
                    }
                    self.progress = Some(p);
                }
                TrainerEvent::Metrics(m) => {
                    if m.split == Split::Eval {
                        self.last_eval = Some(m);
                    } else {
                        self.last_train = Some(m);
                    }
                }
                TrainerEvent::Event(e) => {
                    self.last_event = Some(format!("{} @ step {}", e.kind, e.step));
                    if e.kind == RunEventKind::Checkpoint {
                        ctx.push(Action::RescanRuns);
                    }
                    // A failure is logged once, from the `Failed` state.
                    if e.kind != RunEventKind::Error {
                        let msg = if e.message.is_empty() {
                            format!("{} at step {}", e.kind, e.step)
                        } else {
                            format!("{} at step {}: {}", e.kind, e.step, e.message)
                        };
                        ctx.log(Level::Info, "run", msg);
                    }
                }
                TrainerEvent::Log {
                    level,
                    source,
                    message,
                } => {
                    if level == Level::Warn {
                        // E.g. `auto` fell back to the CPU: worth the status line.
                        ctx.status(level, message.clone());
                    }
                    ctx.log(level, source.label(), message);
                }
            }
        }
    }

    fn fields(&self) -> Vec<(String, String)> {
        self.config.fields()
    }

    fn start_edit(&mut self) {
        if let Some((k, v)) = self.fields().get(self.field_sel) {
            self.edit = Some(Edit {
                key: k.clone(),
                buffer: v.clone(),
                error: None,
            });
        }
    }

    /// Re-validate the edit buffer (as typed): the field's parse, then the whole config.
    fn revalidate(&mut self) {
        let Some(e) = &mut self.edit else { return };
        let mut trial = self.config.clone();
        e.error = match trial.set(&e.key, &e.buffer) {
            Err(err) => Some(err.message),
            Ok(()) => trial
                .validate()
                .err()
                .map(|v| format!("{}: {}", v.field, v.message)),
        };
    }

    fn commit_edit(&mut self, ctx: &mut Ctx) {
        let Some(e) = self.edit.clone() else { return };
        match self.config.set(&e.key, &e.buffer) {
            Ok(()) => {
                self.edit = None;
                if let Err(v) = self.config.validate() {
                    ctx.status(Level::Warn, format!("config not valid yet: {v}"));
                }
            }
            Err(err) => {
                if let Some(ed) = &mut self.edit {
                    ed.error = Some(err.message);
                }
            }
        }
    }

    fn cycle_device(&mut self) {
        let i = DEVICES
            .iter()
            .position(|&d| d == self.config.device)
            .map_or(0, |i| i + 1);
        self.config.device = DEVICES[i % DEVICES.len()].to_string();
    }

    fn cycle_data(&mut self, ctx: &mut Ctx) {
        let choices = data_choices(&self.paths);
        let i = choices
            .iter()
            .position(|c| *c == self.config.data.path)
            .map_or(0, |i| i + 1);
        self.config.data.path = choices[i % choices.len()].clone();
        ctx.status(
            Level::Info,
            if self.config.data.path.is_empty() {
                format!(
                    "data: generated {} (the preset's)",
                    self.config.data.generate
                )
            } else {
                format!("data: {}", self.config.data.path)
            },
        );
    }
}

impl Component for TrainPane {
    fn hints(&self) -> Vec<KeyHint> {
        if self.edit.is_some() {
            return self.edit_keys.hints();
        }
        let active = self.is_active();
        self.keys.hints_where(|a| match a {
            TrainAction::Pause if !active => Shown::No,
            TrainAction::Pause if self.state == TrainerState::Paused => Shown::As("resume"),
            TrainAction::Stop | TrainAction::CheckpointNow if !active => Shown::No,
            TrainAction::Launch if active => Shown::No,
            TrainAction::Launch if self.resume.is_some() => Shown::As("resume run"),
            _ => Shown::Yes,
        })
    }

    fn all_hints(&self) -> Vec<(&'static str, Vec<KeyHint>)> {
        vec![
            ("", self.keys.hints()),
            ("editing a field", self.edit_keys.hints()),
        ]
    }

    fn capturing_input(&self) -> bool {
        self.edit.is_some()
    }

    fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> EventState {
        if let Some(e) = &mut self.edit {
            match self.edit_keys.action(&key) {
                Some(EditAction::Cancel) => self.edit = None,
                Some(EditAction::Set) => self.commit_edit(ctx),
                Some(EditAction::Erase) => {
                    e.buffer.pop();
                    self.revalidate();
                }
                Some(EditAction::Type) => {
                    if let crossterm::event::KeyCode::Char(c) = key.code {
                        e.buffer.push(c);
                        self.revalidate();
                    }
                }
                None => {}
            }
            return EventState::Consumed;
        }
        let Some(action) = self.keys.action(&key) else {
            return EventState::NotConsumed;
        };
        let nfields = self.fields().len();
        match action {
            TrainAction::Down | TrainAction::Up => {
                let step = |sel, n| {
                    if action == TrainAction::Down {
                        nav::next(sel, n)
                    } else {
                        nav::prev(sel, n)
                    }
                };
                match self.focus {
                    Focus::Presets => self.select_preset(step(self.preset_idx, self.presets.len())),
                    Focus::Form => self.field_sel = step(self.field_sel, nfields),
                }
            }
            TrainAction::PageDown if self.focus == Focus::Form => {
                self.field_sel = nav::page(self.field_sel, 10, nfields)
            }
            TrainAction::PageUp if self.focus == Focus::Form => {
                self.field_sel = nav::page(self.field_sel, -10, nfields)
            }
            TrainAction::PageUp | TrainAction::PageDown => {}
            TrainAction::Form => self.focus = Focus::Form,
            TrainAction::Presets => self.focus = Focus::Presets,
            TrainAction::Edit => match self.focus {
                Focus::Presets => self.focus = Focus::Form,
                Focus::Form => self.start_edit(),
            },
            TrainAction::Undo => {
                if self.focus != Focus::Form {
                    return EventState::NotConsumed;
                }
                if let Some((k, _)) = self.fields().get(self.field_sel) {
                    if let Some((_, v)) = self.base.fields().into_iter().find(|(bk, _)| bk == k) {
                        let _ = self.config.set(k, &v);
                    }
                }
            }
            TrainAction::Device => self.cycle_device(),
            TrainAction::Data => self.cycle_data(ctx),
            TrainAction::Launch => self.launch(ctx),
            TrainAction::Pause => {
                let cmd = if self.state == TrainerState::Paused {
                    TrainCommand::Resume
                } else {
                    TrainCommand::Pause
                };
                self.command(cmd, ctx);
            }
            TrainAction::Stop => self.command(TrainCommand::Stop { checkpoint: true }, ctx),
            TrainAction::StopNow => self.command(TrainCommand::Stop { checkpoint: false }, ctx),
            TrainAction::CheckpointNow => self.command(TrainCommand::CheckpointNow, ctx),
        }
        EventState::Consumed
    }

    fn tick(&mut self, ctx: &mut Ctx) -> bool {
        self.poll(ctx)
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        self.draw_pane(f, area, theme, focused);
    }
}
