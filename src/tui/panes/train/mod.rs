//! Train pane: pick a preset, edit its settings in a form (each edit validated as typed, the
//! diff against the preset shown), pick the data and the device, launch a run on the trainer
//! thread (`train::trainer::spawn`), then pause, resume, stop (with a checkpoint) or checkpoint
//! now, with progress gauges, ETA, samples/s, step, epoch, device, memory, CPU use and a GPU line
//! (utilisation, memory, temperature, power through NVML; "GPU n/a" on the CPU).

pub mod keys;

use std::path::PathBuf;

use crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Gauge, List, ListItem, ListState, Paragraph, Row, Sparkline, Table, TableState,
};
use ratatui::Frame;

use crate::fetch::paper;
use crate::train::api::{MetricRecord, Progress, RunEventKind, Split, TrainCommand, TrainerEvent};
use crate::train::config::TrainConfig;
use crate::train::presets;
use crate::train::run_dir::{new_run_id, RunDir};
use crate::train::state::TrainerState;
use crate::train::trainer::{self, RunSpec, TrainerHandle};
use crate::tui::component::{Action, Component, Ctx, EventState, KeyHint, Level};
use crate::tui::config::Paths;
use crate::tui::fmt;
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
    pub handle: Option<TrainerHandle>,
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
            handle: None,
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
        self.handle.as_ref().is_some_and(|h| !h.is_finished()) && !self.state.is_terminal()
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
                self.handle = Some(h);
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
        match &self.handle {
            Some(h) if self.is_active() => {
                ctx.log(Level::Info, "train", format!("{cmd:?}"));
                h.send(cmd);
            }
            _ => ctx.status(Level::Warn, "no active run"),
        }
    }

    /// Drain the trainer's events; true when something changed.
    pub fn poll(&mut self, ctx: &mut Ctx) -> bool {
        let Some(h) = &self.handle else { return false };
        let events = h.try_recv_all();
        let changed = !events.is_empty();
        for ev in events {
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
        changed
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

    fn draw_status(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let state_color = match &self.state {
            TrainerState::Running => theme.ok,
            TrainerState::Paused | TrainerState::Stopping => theme.warn,
            TrainerState::Failed(_) => theme.error,
            _ => theme.dim,
        };
        let title = Line::from(vec![
            Span::styled(" Run ", theme.title_style()),
            Span::styled(
                format!("● {} ", self.state.label()),
                Style::default()
                    .fg(state_color)
                    .add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                self.run_dir
                    .as_ref()
                    .map_or(String::new(), |d| format!("{} ", Paths::display(d))),
                theme.dim_style(),
            ),
        ]);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_style(false))
            .title(title);
        let inner = block.inner(area);
        f.render_widget(block.style(theme.base()), area);
        let Some(p) = &self.progress else {
            let msg = match (&self.state, &self.resume) {
                (TrainerState::Failed(m), _) => {
                    Line::styled(format!("failed: {m}"), Style::default().fg(theme.error))
                }
                (_, Some((ck, dir))) => Line::styled(
                    format!(
                        "press r to resume {} from {}",
                        Paths::display(dir),
                        Paths::display(ck)
                    ),
                    Style::default().fg(theme.accent),
                ),
                _ if self.handle.is_some() => Line::styled(
                    "starting: loading data and building the model…",
                    theme.dim_style(),
                ),
                _ => Line::styled(
                    format!(
                        "no run yet: press r to launch `{}` ({})",
                        self.preset_name(),
                        presets::about(self.preset_name()).unwrap_or("")
                    ),
                    theme.dim_style(),
                ),
            };
            let mut text = vec![msg];
            // A paper preset whose dataset is not there: say so, with the commands that make it.
            if let (None, None, Some(Err(_))) = (
                &self.handle,
                &self.resume,
                paper::locate(
                    self.preset_name(),
                    &self.config.data.path,
                    &self.paths.data_dir,
                ),
            ) {
                text.push(Line::styled(
                    format!(
                        "data missing: {} is not built; make it with:",
                        self.config.data.path
                    ),
                    Style::default().fg(theme.warn),
                ));
                let commands = paper::for_preset(self.preset_name())
                    .map_or_else(Vec::new, |d| d.commands(self.preset_name()));
                for c in commands {
                    text.push(Line::styled(
                        format!("  {c}"),
                        Style::default().fg(theme.accent),
                    ));
                }
            }
            f.render_widget(Paragraph::new(text).style(theme.base()), inner);
            return;
        };
        let [g1, g2, stats, spark] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(3),
            Constraint::Min(0),
        ])
        .areas(inner);
        let ratio = if p.total_steps > 0 {
            (p.step as f64 / p.total_steps as f64).clamp(0.0, 1.0)
        } else {
            0.0
        };
        f.render_widget(
            Gauge::default()
                .ratio(ratio)
                .gauge_style(Style::default().fg(theme.accent).bg(theme.border))
                .label(format!(
                    "step {}/{} · {:.0}% · elapsed {} · ETA {}",
                    p.step,
                    p.total_steps,
                    ratio * 100.0,
                    fmt::duration(p.elapsed_s),
                    p.eta_s.map_or("--".into(), fmt::duration)
                )),
            g1,
        );
        let every = self.config.eval_interval.max(1) as u64;
        let into = p.step % every;
        let to_eval = every - into;
        let sps = p.samples_per_s / self.config.global_batch_size.max(1) as f64;
        f.render_widget(
            Gauge::default()
                .ratio(into as f64 / every as f64)
                .gauge_style(Style::default().fg(theme.title).bg(theme.border))
                .label(format!(
                    "next eval in {to_eval} steps{}",
                    if sps > 0.0 {
                        format!(" (~{})", fmt::duration(to_eval as f64 / sps))
                    } else {
                        String::new()
                    }
                )),
            g2,
        );
        let lm = self.last_train.as_ref().and_then(|m| m.get("lm_loss"));
        let acc = self.last_train.as_ref().and_then(|m| m.get("accuracy"));
        let ex = self
            .last_eval
            .as_ref()
            .and_then(|m| m.get("exact_accuracy"));
        let stat_lines = vec![
            Line::from(vec![
                Span::styled("epoch ", theme.dim_style()),
                Span::raw(format!("{:.2}  ", p.epoch)),
                Span::styled("samples/s ", theme.dim_style()),
                Span::raw(format!("{}  ", fmt::num(p.samples_per_s))),
                Span::styled("lr ", theme.dim_style()),
                Span::raw(format!("{}  ", fmt::num(p.lr))),
                Span::styled("device ", theme.dim_style()),
                Span::raw(format!("{}  ", p.device)),
                Span::styled("memory ", theme.dim_style()),
                Span::raw(format!(
                    "{}  ",
                    p.memory_bytes.map_or("n/a".into(), fmt::bytes)
                )),
                Span::styled("cpu ", theme.dim_style()),
                Span::raw(p.cpu_percent.map_or("-".into(), |c| format!("{c:.0}%"))),
            ]),
            Line::from(vec![
                Span::styled("lm_loss ", theme.dim_style()),
                Span::raw(format!("{}  ", lm.map_or("-".into(), fmt::num))),
                Span::styled("accuracy ", theme.dim_style()),
                Span::raw(format!(
                    "{}  ",
                    acc.map_or("-".into(), |a| format!("{:.1}%", a * 100.0))
                )),
                Span::styled("eval exact ", theme.dim_style()),
                Span::raw(format!(
                    "{}  ",
                    ex.map_or("-".into(), |a| format!("{:.1}%", a * 100.0))
                )),
                Span::styled("last event ", theme.dim_style()),
                Span::raw(self.last_event.clone().unwrap_or_else(|| "-".into())),
            ]),
            gpu_line(p, theme),
        ];
        f.render_widget(Paragraph::new(stat_lines).style(theme.base()), stats);
        if spark.height > 0 {
            let n = spark.width as usize;
            let data: Vec<u64> = self
                .throughput
                .iter()
                .rev()
                .take(n)
                .rev()
                .cloned()
                .collect();
            f.render_widget(
                Sparkline::default()
                    .data(&data)
                    .style(Style::default().fg(theme.series_color(0))),
                spark,
            );
        }
    }
}

/// The GPU line of the run status: the NVML figures, "GPU n/a" on the CPU, or why a run on a
/// GPU has none.
fn gpu_line(p: &Progress, theme: &Theme) -> Line<'static> {
    let label = Span::styled("GPU ", theme.dim_style());
    match (&p.gpu, &p.gpu_note) {
        (Some(g), _) if g.name.is_some() || g.memory_used_bytes.is_some() => {
            Line::from(vec![label, Span::raw(crate::telemetry::describe_gpu(g))])
        }
        (_, Some(note)) if p.device != "cpu" => Line::from(vec![
            label,
            Span::raw(format!("{} · n/a ", p.device)),
            Span::styled(format!("({note})"), theme.dim_style()),
        ]),
        _ if p.device != "cpu" => Line::from(vec![label, Span::raw(format!("{} · n/a", p.device))]),
        _ => Line::from(vec![label, Span::raw("n/a")]),
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
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_style(focused))
            .title(Span::styled(" Train ", theme.title_style()));
        let inner = block.inner(area);
        f.render_widget(block.style(theme.base()), area);
        let [top, bottom] =
            Layout::vertical([Constraint::Min(6), Constraint::Length(8)]).areas(inner);
        let [pre, form, diff_area] = Layout::horizontal([
            Constraint::Length(24),
            Constraint::Min(30),
            Constraint::Length(40.min(top.width / 3)),
        ])
        .areas(top);

        // Presets.
        let items: Vec<ListItem> = self.presets.iter().map(|n| ListItem::new(*n)).collect();
        let list = List::new(items)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border_style(self.focus == Focus::Presets))
                    .title(Span::styled(" Presets ", theme.title_style())),
            )
            .style(theme.base())
            .highlight_style(if self.focus == Focus::Presets {
                theme.selected()
            } else {
                Style::default().add_modifier(Modifier::REVERSED)
            });
        let mut st = ListState::default().with_selected(Some(self.preset_idx));
        f.render_stateful_widget(list, pre, &mut st);

        // Form.
        let base_fields = self.base.fields();
        let fields = self.fields();
        let rows: Vec<Row> = fields
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                let base = base_fields
                    .iter()
                    .find(|(bk, _)| bk == k)
                    .map(|(_, bv)| bv.as_str());
                let changed = base != Some(v.as_str());
                let value = match &self.edit {
                    Some(e) if i == self.field_sel => format!("{}▏", e.buffer),
                    _ => v.clone(),
                };
                let st = if changed {
                    Style::default()
                        .fg(theme.accent)
                        .add_modifier(Modifier::BOLD)
                } else {
                    Style::default().fg(theme.fg)
                };
                Row::new(vec![
                    Span::styled(
                        if changed { "●" } else { " " },
                        Style::default().fg(theme.accent),
                    ),
                    Span::styled(k.clone(), theme.dim_style()),
                    Span::styled(value, st),
                ])
            })
            .collect();
        let form_title = match &self.edit {
            Some(Edit { error: Some(e), .. }) => Line::from(vec![
                Span::styled(" Config ", theme.title_style()),
                Span::styled(format!("✗ {e} "), Style::default().fg(theme.error)),
            ]),
            Some(_) => Line::from(vec![
                Span::styled(" Config ", theme.title_style()),
                Span::styled("✓ valid ", Style::default().fg(theme.ok)),
            ]),
            None => Line::from(Span::styled(
                format!(" Config ({}) ", self.preset_name()),
                theme.title_style(),
            )),
        };
        let t = Table::new(
            rows,
            [
                Constraint::Length(1),
                Constraint::Length(30),
                Constraint::Min(8),
            ],
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border_style(self.focus == Focus::Form))
                .title(form_title),
        )
        .style(theme.base())
        .row_highlight_style(if self.focus == Focus::Form {
            theme.selected()
        } else {
            Style::default()
        });
        let mut ts = TableState::default().with_selected(Some(self.field_sel));
        f.render_stateful_widget(t, form, &mut ts);

        // Diff and validity.
        let mut lines = vec![match self.config.validate() {
            Ok(()) => Line::styled("✓ config valid", Style::default().fg(theme.ok)),
            Err(e) => Line::styled(format!("✗ {e}"), Style::default().fg(theme.error)),
        }];
        lines.push(Line::from(vec![
            Span::styled("data   ", theme.dim_style()),
            Span::raw(if self.config.data.path.is_empty() {
                format!(
                    "generated {} {}x{}",
                    self.config.data.generate, self.config.data.size, self.config.data.size
                )
            } else {
                self.config.data.path.clone()
            }),
        ]));
        lines.push(Line::from(vec![
            Span::styled("device ", theme.dim_style()),
            Span::raw(self.config.device.clone()),
        ]));
        lines.push(Line::raw(""));
        let diff = self.config.diff(&self.base);
        if diff.is_empty() {
            lines.push(Line::styled(
                format!("same as preset {}", self.preset_name()),
                theme.dim_style(),
            ));
        } else {
            lines.push(Line::styled(
                format!("{} change(s) vs preset:", diff.len()),
                theme.title_style(),
            ));
            for (k, a, b) in diff {
                lines.push(Line::from(vec![Span::styled(
                    k,
                    Style::default().fg(theme.accent),
                )]));
                lines.push(Line::from(vec![
                    Span::styled(format!("  {a}"), Style::default().fg(theme.error)),
                    Span::raw(" → "),
                    Span::styled(b, Style::default().fg(theme.ok)),
                ]));
            }
        }
        if let Some(about) = presets::about(self.preset_name()) {
            lines.push(Line::raw(""));
            lines.push(Line::styled(about.to_string(), theme.dim_style()));
        }
        f.render_widget(
            Paragraph::new(lines)
                .wrap(ratatui::widgets::Wrap { trim: false })
                .style(theme.base())
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(theme.border_style(false))
                        .title(Span::styled(" Changes ", theme.title_style())),
                ),
            diff_area,
        );
        self.draw_status(f, bottom, theme);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};
    use std::time::{Duration, Instant};

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn form_validates_as_typed_and_diffs_against_the_preset() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = TrainPane::new(&Paths::under(dir.path()));
        let mut ctx = Ctx::default();
        assert_eq!(p.preset_name(), "smoke");
        p.handle_key(key(KeyCode::Char('l')), &mut ctx);
        let lr = p.fields().iter().position(|(k, _)| k == "lr").unwrap();
        p.field_sel = lr;
        p.handle_key(key(KeyCode::Enter), &mut ctx);
        assert!(p.capturing_input());
        for _ in 0..10 {
            p.handle_key(key(KeyCode::Backspace), &mut ctx);
        }
        p.handle_key(key(KeyCode::Char('x')), &mut ctx);
        assert!(p
            .edit
            .as_ref()
            .unwrap()
            .error
            .as_ref()
            .unwrap()
            .contains("expected a number"));
        p.handle_key(key(KeyCode::Backspace), &mut ctx);
        p.handle_key(key(KeyCode::Char('-')), &mut ctx);
        p.handle_key(key(KeyCode::Char('1')), &mut ctx);
        assert!(
            p.edit
                .as_ref()
                .unwrap()
                .error
                .as_ref()
                .unwrap()
                .contains("lr"),
            "whole-config validation"
        );
        p.handle_key(key(KeyCode::Backspace), &mut ctx);
        p.handle_key(key(KeyCode::Backspace), &mut ctx);
        for c in "0.01".chars() {
            p.handle_key(key(KeyCode::Char(c)), &mut ctx);
        }
        assert_eq!(p.edit.as_ref().unwrap().error, None);
        p.handle_key(key(KeyCode::Enter), &mut ctx);
        assert!(!p.capturing_input());
        assert_eq!(p.config.lr, 0.01);
        assert_eq!(p.config.diff(&p.base).len(), 1);
        p.handle_key(key(KeyCode::Char('u')), &mut ctx);
        assert!(p.config.diff(&p.base).is_empty());
        // Esc cancels an edit.
        p.handle_key(key(KeyCode::Enter), &mut ctx);
        p.handle_key(key(KeyCode::Char('9')), &mut ctx);
        p.handle_key(key(KeyCode::Esc), &mut ctx);
        assert!(p.config.diff(&p.base).is_empty());
        // Device and preset switching.
        p.handle_key(key(KeyCode::Char('d')), &mut ctx);
        assert_eq!(p.config.device, "auto");
        p.handle_key(key(KeyCode::Char('h')), &mut ctx);
        p.handle_key(key(KeyCode::Char('j')), &mut ctx);
        assert_eq!(p.preset_name(), p.presets[1]);
        assert_eq!(p.config.device, p.base.device);
        // Nothing to pause without a run.
        p.handle_key(key(KeyCode::Char('p')), &mut ctx);
        assert!(matches!(
            ctx.actions.last(),
            Some(Action::Status(Level::Warn, _))
        ));
    }

    fn status_text(p: &TrainPane) -> String {
        let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 10)).unwrap();
        term.draw(|f| p.draw_status(f, f.area(), &Theme::default_dark()))
            .unwrap();
        let buf = term.backend().buffer();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_paper_preset_without_its_dataset_shows_the_fetch_and_build_commands() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let mut p = TrainPane::new(&paths);
        let i = p.presets.iter().position(|n| *n == "maze-hard").unwrap();
        p.select_preset(i);
        let text = status_text(&p);
        assert!(text.contains("data missing"), "{text}");
        assert!(text.contains("trm-tui data fetch maze-hard"), "{text}");
        assert!(
            text.contains("trm-tui data build --preset maze-hard"),
            "{text}"
        );
        let mut ctx = Ctx::default();
        p.launch(&mut ctx);
        assert!(p.handle.is_none());
        assert!(matches!(
            ctx.actions.last(),
            Some(Action::Status(Level::Error, m)) if m.contains("trm-tui data fetch maze-hard")
        ));
        // Once built where `data build --preset` writes it, the message goes.
        let built = paper::for_preset("maze-hard").unwrap().dir(&paths.data_dir);
        std::fs::create_dir_all(built.join("train")).unwrap();
        std::fs::write(built.join("train/dataset.json"), "{}").unwrap();
        assert!(!status_text(&p).contains("data missing"));
    }

    #[test]
    fn status_shows_cpu_use_and_a_gpu_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = TrainPane::new(&Paths::under(dir.path()));
        p.progress = Some(Progress {
            step: 5,
            total_steps: 10,
            epoch: 0.5,
            elapsed_s: 1.0,
            eta_s: Some(1.0),
            samples_per_s: 10.0,
            lr: 1e-3,
            device: "cpu".into(),
            memory_bytes: Some(50 << 20),
            cpu_percent: Some(150.0),
            gpu: None,
            gpu_note: None,
        });
        let t = status_text(&p);
        assert!(t.contains("cpu 150%"), "{t}");
        assert!(t.contains("GPU n/a"), "{t}");
        // On a GPU without NVML: the device and why there are no figures.
        if let Some(pr) = &mut p.progress {
            pr.device = "cuda:0".into();
            pr.gpu = Some(crate::telemetry::GpuStats {
                device: "cuda:0".into(),
                ..Default::default()
            });
            pr.gpu_note = Some("NVML unavailable: libnvidia-ml.so.1 not found".into());
        }
        let t = status_text(&p);
        assert!(t.contains("GPU cuda:0 · n/a (NVML unavailable"), "{t}");
        // With NVML figures.
        if let Some(pr) = &mut p.progress {
            pr.gpu = Some(crate::telemetry::GpuStats {
                device: "cuda:0".into(),
                name: Some("NVIDIA H200".into()),
                util_percent: Some(87),
                memory_used_bytes: Some(12 << 30),
                memory_total_bytes: Some(140 << 30),
                process_memory_bytes: Some(10 << 30),
                temperature_c: Some(54),
                power_w: Some(310.0),
            });
            pr.gpu_note = None;
        }
        let t = status_text(&p);
        assert!(
            t.contains("GPU cuda:0 NVIDIA H200 · util 87% · mem 12.0 GiB/140.0 GiB · this process 10.0 GiB · 54°C · 310 W"),
            "{t}"
        );
    }

    #[test]
    fn smoke_run_pauses_resumes_and_stops_with_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let mut p = TrainPane::new(&paths);
        let mut ctx = Ctx::default();
        p.config.max_steps = 100_000; // long enough to control it
        p.config.device = "auto".into(); // the CPU here, with a warning in the status line
        p.handle_key(key(KeyCode::Char('r')), &mut ctx);
        assert!(p.is_active());
        assert!(ctx.actions.iter().any(|a| matches!(a, Action::WatchRun(_))));
        let wait = |p: &mut TrainPane, ctx: &mut Ctx, what: &dyn Fn(&TrainPane) -> bool| {
            let t = Instant::now();
            while !what(p) {
                assert!(
                    t.elapsed() < Duration::from_secs(120),
                    "timeout; state {:?}",
                    p.state
                );
                p.poll(ctx);
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        wait(&mut p, &mut ctx, &|p| {
            p.progress.as_ref().is_some_and(|x| x.step >= 2)
        });
        if !crate::train::device::CUDA_BUILT {
            assert_eq!(p.progress.as_ref().unwrap().device, "cpu");
            assert!(
                ctx.actions.iter().any(|a| matches!(a,
                    Action::Status(Level::Warn, m) if m.starts_with("device auto:") && m.ends_with("using the CPU"))),
                "the fallback is in the status line"
            );
        }
        p.handle_key(key(KeyCode::Char('p')), &mut ctx);
        wait(&mut p, &mut ctx, &|p| p.state == TrainerState::Paused);
        p.handle_key(key(KeyCode::Char('p')), &mut ctx);
        wait(&mut p, &mut ctx, &|p| p.state == TrainerState::Running);
        p.handle_key(key(KeyCode::Char('S')), &mut ctx);
        wait(&mut p, &mut ctx, &|p| p.state == TrainerState::Finished);
        let run = p.run_dir.clone().unwrap();
        assert!(
            RunDir::new(&run).latest_checkpoint().is_some(),
            "stop wrote a checkpoint"
        );
        assert!(RunDir::new(&run).metrics_path().is_file());
        wait(&mut p, &mut ctx, &|p| !p.is_active());
    }
}
