//! Runs pane: every run under the runs root with its config, progress and best metrics, and its
//! checkpoints with their metadata (read from the safetensors header, no tensors loaded), plus
//! the shipped `checkpoints/`. Open a checkpoint in the solver, resume a run, compare two
//! runs' configs. (The `experiments/` folder of the runs root has its own pane.)

use std::path::{Path, PathBuf};

use crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use crate::train::api::{RunEventKind, Split};
use crate::train::config::TrainConfig;
use crate::train::RunDir;
use crate::tui::catalog::{self, checkpoints_in, CheckpointInfo};
use crate::tui::component::{Action, Component, Ctx, EventState, KeyHint, Level, PaneId};
use crate::tui::config::Paths;
use crate::tui::fmt;
use crate::tui::keys::{nav, Binding, KeyMap, KeyOverrides};
use crate::tui::theme::Theme;

#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    pub name: String,
    pub dir: PathBuf,
    /// The run's `config.toml`, or why it could not be read (None for the shipped folder).
    pub config: Option<Result<TrainConfig, String>>,
    pub last_step: Option<u64>,
    pub best_exact: Option<f64>,
    pub last_lm_loss: Option<f64>,
    /// The last event of `events.jsonl` (start, pause, finish, error...).
    pub last_event: Option<RunEventKind>,
    pub checkpoints: Vec<CheckpointInfo>,
}

/// Read one run dir.
pub fn read_run(dir: &Path) -> RunInfo {
    read_run_with(dir, &mut MetricsSummary::new(dir))
}

/// The metrics of a run summed up incrementally (the file is tailed, not re-read).
#[derive(Debug, Clone)]
pub struct MetricsSummary {
    tail: crate::train::api::MetricsTail,
    last_step: Option<u64>,
    best_exact: Option<f64>,
    last_lm_loss: Option<f64>,
}

impl MetricsSummary {
    pub fn new(dir: &Path) -> Self {
        Self {
            tail: crate::train::api::MetricsTail::new(RunDir::new(dir).metrics_path()),
            last_step: None,
            best_exact: None,
            last_lm_loss: None,
        }
    }

    fn update(&mut self) {
        for r in self.tail.poll() {
            if r.split == Split::Train {
                self.last_step = Some(r.step);
                if let Some(l) = r.get("lm_loss") {
                    self.last_lm_loss = Some(l);
                }
            }
            if r.split == Split::Eval {
                if let Some(e) = r.get("exact_accuracy") {
                    self.best_exact = Some(self.best_exact.map_or(e, |b| b.max(e)));
                }
            }
        }
    }
}

/// Read one run dir, updating its metrics summary.
pub fn read_run_with(dir: &Path, summary: &mut MetricsSummary) -> RunInfo {
    let run = RunDir::new(dir);
    let config = Some(run.read_config().map_err(|e| e.to_string()));
    summary.update();
    let (last_step, best_exact, last_lm_loss) =
        (summary.last_step, summary.best_exact, summary.last_lm_loss);
    RunInfo {
        name: run.name(),
        dir: dir.to_path_buf(),
        config,
        last_step,
        best_exact,
        last_lm_loss,
        last_event: run.last_event().map(|e| e.kind),
        checkpoints: checkpoints_in(&run.checkpoints_dir()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunsAction {
    Down,
    Up,
    Runs,
    Checkpoints,
    Open,
    Resume,
    Mark,
    Compare,
    Rescan,
}

/// The Runs pane's keys (config table `runs`).
pub const KEYS: &[Binding<RunsAction>] = &[
    Binding::bar(
        RunsAction::Down,
        "down",
        &["j", "Down"],
        "move",
        "next run or checkpoint",
    ),
    Binding::bar(
        RunsAction::Up,
        "up",
        &["k", "Up"],
        "move",
        "previous run or checkpoint",
    ),
    Binding::bar(
        RunsAction::Runs,
        "runs",
        &["h", "Left"],
        "runs/checkpoints",
        "the runs list",
    ),
    Binding::bar(
        RunsAction::Checkpoints,
        "checkpoints",
        &["l", "Right"],
        "runs/checkpoints",
        "the checkpoints of the run",
    ),
    Binding::bar(
        RunsAction::Open,
        "open",
        &["Enter", "o"],
        "open in solver",
        "open the checkpoint (or the run's latest) in the solver",
    ),
    Binding::bar(
        RunsAction::Resume,
        "resume",
        &["R"],
        "resume",
        "resume the run from the checkpoint (Train pane)",
    ),
    Binding::bar(
        RunsAction::Mark,
        "mark",
        &["m"],
        "mark",
        "mark the run for comparison",
    ),
    Binding::bar(
        RunsAction::Compare,
        "compare",
        &["c"],
        "compare",
        "config diff of the marked and the selected run",
    ),
    Binding::help(RunsAction::Rescan, "rescan", &["r"], "rescan the runs root"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Runs,
    Checkpoints,
}

#[derive(Debug)]
pub struct RunsPane {
    pub paths: Paths,
    pub runs: Vec<RunInfo>,
    pub sel: usize,
    pub ck_sel: usize,
    pub focus: Focus,
    /// Run marked for comparison.
    pub marked: Option<usize>,
    /// Show the config diff between the marked and the selected run.
    pub compare: bool,
    summaries: std::collections::HashMap<PathBuf, MetricsSummary>,
    keys: KeyMap<RunsAction>,
}

impl RunsPane {
    pub fn new(paths: &Paths) -> RunsPane {
        let mut p = RunsPane {
            paths: paths.clone(),
            runs: Vec::new(),
            sel: 0,
            ck_sel: 0,
            focus: Focus::Runs,
            marked: None,
            compare: false,
            summaries: Default::default(),
            keys: KeyMap::defaults("runs", KEYS),
        };
        p.rescan();
        p
    }

    /// Apply the user's key overrides; returns the problems found in them.
    pub fn remap(&mut self, overrides: &KeyOverrides) -> Vec<String> {
        let (keys, errs) = KeyMap::new("runs", KEYS, overrides);
        self.keys = keys;
        errs
    }

    pub fn rescan(&mut self) {
        let selected = self.runs.get(self.sel).map(|r| r.dir.clone());
        let marked = self
            .marked
            .and_then(|m| self.runs.get(m))
            .map(|r| r.dir.clone());
        let mut runs = Vec::new();
        // Newest first; experiment folders have their own pane.
        for d in catalog::run_dirs(&self.paths.runs_dir).iter().rev() {
            let sum = self
                .summaries
                .entry(d.clone())
                .or_insert_with(|| MetricsSummary::new(d));
            runs.push(read_run_with(d, sum));
        }
        let shipped = checkpoints_in(&self.paths.checkpoints_dir);
        if !shipped.is_empty() {
            runs.push(RunInfo {
                name: format!("{} (shipped)", Paths::display(&self.paths.checkpoints_dir)),
                dir: self.paths.checkpoints_dir.clone(),
                config: None,
                last_step: None,
                best_exact: shipped.iter().filter_map(|c| c.best_exact).reduce(f64::max),
                last_lm_loss: None,
                last_event: None,
                checkpoints: shipped,
            });
        }
        self.runs = runs;
        self.sel = selected
            .and_then(|d| self.runs.iter().position(|r| r.dir == d))
            .unwrap_or(0);
        self.marked = marked.and_then(|d| self.runs.iter().position(|r| r.dir == d));
        self.ck_sel = self
            .ck_sel
            .min(self.selected_checkpoints().len().saturating_sub(1));
    }

    fn selected_checkpoints(&self) -> &[CheckpointInfo] {
        self.runs
            .get(self.sel)
            .map_or(&[], |r| r.checkpoints.as_slice())
    }

    /// The checkpoint acted on: the highlighted one, else the run's latest (or newest).
    pub fn chosen_checkpoint(&self) -> Option<&CheckpointInfo> {
        let cks = self.selected_checkpoints();
        match self.focus {
            Focus::Checkpoints => cks.get(self.ck_sel),
            Focus::Runs => cks.iter().find(|c| c.latest).or_else(|| cks.first()),
        }
    }

    /// Settings that differ between the marked run and the selected one.
    pub fn config_diff(&self) -> Result<Vec<(String, String, String)>, String> {
        let a = self
            .marked
            .and_then(|m| self.runs.get(m))
            .ok_or("mark a run first (m)")?;
        let b = self.runs.get(self.sel).ok_or("no run selected")?;
        let ca = match &a.config {
            Some(Ok(c)) => c,
            _ => return Err(format!("{} has no readable config", a.name)),
        };
        let cb = match &b.config {
            Some(Ok(c)) => c,
            _ => return Err(format!("{} has no readable config", b.name)),
        };
        Ok(cb.diff(ca))
    }

    fn draw_details(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let mut lines: Vec<Line> = Vec::new();
        let title;
        if self.compare {
            let a = self
                .marked
                .and_then(|m| self.runs.get(m))
                .map_or("-", |r| r.name.as_str());
            let b = self.runs.get(self.sel).map_or("-", |r| r.name.as_str());
            title = format!(" Config diff: {a} → {b} ");
            match self.config_diff() {
                Ok(d) if d.is_empty() => {
                    lines.push(Line::styled("identical configs", theme.dim_style()))
                }
                Ok(d) => {
                    for (k, x, y) in d {
                        lines.push(Line::from(vec![
                            Span::styled(format!("{k:<32}"), Style::default().fg(theme.accent)),
                            Span::styled(format!("{x:>14}"), Style::default().fg(theme.error)),
                            Span::raw(" → "),
                            Span::styled(y, Style::default().fg(theme.ok)),
                        ]));
                    }
                }
                Err(e) => lines.push(Line::styled(e, Style::default().fg(theme.warn))),
            }
        } else {
            title = " Config ".into();
            match self.runs.get(self.sel).and_then(|r| r.config.as_ref()) {
                Some(Ok(c)) => {
                    for (k, v) in c.fields() {
                        lines.push(Line::from(vec![
                            Span::styled(format!("{k:<32}"), theme.dim_style()),
                            Span::raw(v),
                        ]));
                    }
                }
                Some(Err(e)) => {
                    lines.push(Line::styled(e.clone(), Style::default().fg(theme.error)))
                }
                None => lines.push(Line::styled(
                    "shipped checkpoints: the model config is in each file's metadata",
                    theme.dim_style(),
                )),
            }
        }
        f.render_widget(
            Paragraph::new(lines).style(theme.base()).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border_style(false))
                    .title(Span::styled(title, theme.title_style())),
            ),
            area,
        );
    }
}

impl Component for RunsPane {
    fn hints(&self) -> Vec<KeyHint> {
        self.keys.hints()
    }

    fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> EventState {
        let Some(action) = self.keys.action(&key) else {
            return EventState::NotConsumed;
        };
        match action {
            RunsAction::Down | RunsAction::Up => {
                let step = |sel, n| {
                    if action == RunsAction::Down {
                        nav::next(sel, n)
                    } else {
                        nav::prev(sel, n)
                    }
                };
                match self.focus {
                    Focus::Runs if !self.runs.is_empty() => {
                        self.sel = step(self.sel, self.runs.len());
                        self.ck_sel = 0;
                    }
                    Focus::Checkpoints => {
                        self.ck_sel = step(self.ck_sel, self.selected_checkpoints().len());
                    }
                    _ => {}
                }
            }
            RunsAction::Checkpoints => self.focus = Focus::Checkpoints,
            RunsAction::Runs => self.focus = Focus::Runs,
            RunsAction::Open => match self.chosen_checkpoint() {
                Some(c) if c.error.is_none() => {
                    ctx.push(Action::OpenCheckpoint(c.path.clone()));
                    ctx.push(Action::Focus(PaneId::Solver));
                }
                Some(c) => ctx.status(
                    Level::Error,
                    format!("cannot open: {}", c.error.clone().unwrap_or_default()),
                ),
                None => ctx.status(Level::Warn, "this run has no checkpoint yet"),
            },
            RunsAction::Resume => {
                let Some(run) = self.runs.get(self.sel) else {
                    return EventState::Consumed;
                };
                if !matches!(run.config, Some(Ok(_))) {
                    ctx.status(
                        Level::Warn,
                        format!("{}: no readable config.toml to resume", run.name),
                    );
                } else if let Some(c) = self.chosen_checkpoint() {
                    ctx.push(Action::ResumeRun {
                        run_dir: run.dir.clone(),
                        checkpoint: c.path.clone(),
                    });
                    ctx.push(Action::Focus(PaneId::Train));
                } else {
                    ctx.status(
                        Level::Warn,
                        format!("{}: no checkpoint to resume from", run.name),
                    );
                }
            }
            RunsAction::Mark => {
                self.marked = if self.marked == Some(self.sel) {
                    None
                } else {
                    Some(self.sel)
                };
            }
            RunsAction::Compare => self.compare = !self.compare,
            RunsAction::Rescan => {
                self.rescan();
                ctx.status(Level::Info, format!("runs: {} found", self.runs.len()));
            }
        }
        EventState::Consumed
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_style(focused))
            .title(Span::styled(
                format!(" Runs · {} ", Paths::display(&self.paths.runs_dir)),
                theme.title_style(),
            ));
        let inner = block.inner(area);
        f.render_widget(block.style(theme.base()), area);
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
                .areas(inner);
        let [ck_area, cfg_area] =
            Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(right);

        let rows: Vec<Row> = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mark = if self.marked == Some(i) { "◆" } else { " " };
                Row::new(vec![
                    format!("{mark}{}", r.name),
                    r.last_step.map_or("-".into(), |s| s.to_string()),
                    r.best_exact
                        .map_or("-".into(), |b| format!("{:.1}%", b * 100.0)),
                    r.last_lm_loss.map_or("-".into(), fmt::num),
                    r.last_event.map_or_else(|| "-".into(), |k| k.to_string()),
                ])
            })
            .collect();
        let empty = rows.is_empty();
        let hl = |f: Focus| {
            if self.focus == f && focused {
                theme.selected()
            } else {
                Style::default().add_modifier(Modifier::REVERSED)
            }
        };
        let t = Table::new(
            rows,
            [
                Constraint::Min(16),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(8),
                Constraint::Length(9),
            ],
        )
        .header(Row::new(vec!["run", "step", "best", "lm_loss", "last"]).style(theme.title_style()))
        .row_highlight_style(hl(Focus::Runs))
        .style(theme.base())
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border_style(self.focus == Focus::Runs)),
        );
        let mut st = TableState::default().with_selected((!empty).then_some(self.sel));
        f.render_stateful_widget(t, left, &mut st);
        if empty {
            let msg = Paragraph::new(vec![
                Line::raw(""),
                Line::styled(
                    "  no runs yet: launch one from the Train pane (1)",
                    theme.dim_style(),
                ),
            ]);
            f.render_widget(
                msg,
                Rect {
                    y: left.y + 2,
                    height: left.height.saturating_sub(3),
                    x: left.x + 1,
                    width: left.width.saturating_sub(2),
                },
            );
        }

        let cks = self.selected_checkpoints();
        let ck_rows: Vec<Row> = cks
            .iter()
            .map(|c| {
                Row::new(vec![
                    format!(
                        "{}{}",
                        c.path
                            .file_name()
                            .map_or_else(String::new, |n| n.to_string_lossy().to_string()),
                        if c.latest { " (latest)" } else { "" }
                    ),
                    c.step.map_or("-".into(), |s| s.to_string()),
                    c.best_exact
                        .map_or("-".into(), |b| format!("{:.1}%", b * 100.0)),
                    fmt::bytes(c.size),
                    c.error
                        .clone()
                        .map_or(String::new(), |_| "unreadable".into()),
                ])
            })
            .collect();
        let ck_empty = ck_rows.is_empty();
        let t = Table::new(
            ck_rows,
            [
                Constraint::Min(18),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(10),
                Constraint::Length(10),
            ],
        )
        .header(Row::new(vec!["checkpoint", "step", "best", "size", ""]).style(theme.title_style()))
        .row_highlight_style(hl(Focus::Checkpoints))
        .style(theme.base())
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border_style(self.focus == Focus::Checkpoints))
                .title(Span::styled(" Checkpoints ", theme.title_style())),
        );
        let mut st = TableState::default()
            .with_selected((!ck_empty && self.focus == Focus::Checkpoints).then_some(self.ck_sel));
        f.render_stateful_widget(t, ck_area, &mut st);
        self.draw_details(f, cfg_area, theme);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn lists_runs_checkpoints_and_diffs_configs() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        for (name, lr) in [("r1", "0.001"), ("r2", "0.003")] {
            let d = paths.runs_dir.join(name);
            std::fs::create_dir_all(d.join("checkpoints")).unwrap();
            let mut c = TrainConfig::default();
            c.set("lr", lr).unwrap();
            std::fs::write(d.join("config.toml"), c.to_toml_string()).unwrap();
            std::fs::write(
                d.join("metrics.jsonl"),
                "{\"step\":5,\"epoch\":0,\"wall_s\":1,\"split\":\"train\",\"lm_loss\":0.5}\n\
                 {\"step\":5,\"epoch\":0,\"wall_s\":1,\"split\":\"eval\",\"exact_accuracy\":0.25}\n",
            )
            .unwrap();
            std::fs::write(d.join("checkpoints/step_5.safetensors"), b"broken").unwrap();
            std::fs::write(d.join("checkpoints/latest"), "step_5.safetensors").unwrap();
        }
        let mut p = RunsPane::new(&paths);
        let mut ctx = Ctx::default();
        assert_eq!(p.runs.len(), 2);
        assert_eq!(p.runs[0].name, "r2", "newest name first");
        assert_eq!(p.runs[0].last_step, Some(5));
        assert_eq!(p.runs[0].best_exact, Some(0.25));
        let ck = &p.runs[0].checkpoints[0];
        assert!(ck.latest && ck.error.is_some());
        // An unreadable checkpoint is reported, not opened.
        p.handle_key(key(KeyCode::Enter), &mut ctx);
        assert!(matches!(
            ctx.actions.last(),
            Some(Action::Status(Level::Error, _))
        ));
        // Resume pushes the action with the latest checkpoint.
        p.handle_key(key(KeyCode::Char('R')), &mut ctx);
        assert!(ctx.actions.iter().any(|a| matches!(a, Action::ResumeRun { checkpoint, .. } if checkpoint.ends_with("step_5.safetensors"))));
        // Compare.
        p.handle_key(key(KeyCode::Char('m')), &mut ctx);
        p.handle_key(key(KeyCode::Char('j')), &mut ctx);
        p.handle_key(key(KeyCode::Char('c')), &mut ctx);
        assert!(p.compare);
        let d = p.config_diff().unwrap();
        assert_eq!(
            d,
            vec![("lr".to_string(), "0.003".to_string(), "0.001".to_string())]
        );
        // Focus moves to checkpoints.
        p.handle_key(key(KeyCode::Char('l')), &mut ctx);
        assert_eq!(p.focus, Focus::Checkpoints);
    }
}
