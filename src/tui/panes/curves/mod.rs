//! Curves pane: live curves of every run under the runs root (`runs/*/metrics.jsonl`, tailed,
//! so a headless run still writing is followed too): lm loss, q-halt loss, token and exact
//! accuracy (with the evaluated training sample as dots when the run has one), q-halt
//! accuracy, average supervision steps, learning rate and throughput.
//! Debiased EMA smoothing over the dimmed raw line, log-y, step or wall-time x-axis, zoom, pan,
//! follow-tail, spike-keeping downsampling, NaN gaps, run overlay and CSV export.

mod draw;
pub mod keys;
mod run;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders};
use ratatui::Frame;

use crate::tui::component::{Component, Ctx, EventState, KeyHint, Level};
use crate::tui::config::Paths;
use crate::tui::keys::{nav, KeyMap, KeyOverrides};
use crate::tui::theme::Theme;

pub use keys::{CurvesAction, KEYS};
pub use run::RunCurves;
use CurvesAction as C;

/// The metrics shown, with their titles.
pub const METRICS: &[(&str, &str)] = &[
    ("lm_loss", "lm loss"),
    ("q_halt_loss", "q-halt loss"),
    ("accuracy", "token accuracy"),
    ("exact_accuracy", "exact accuracy"),
    ("q_halt_accuracy", "q-halt accuracy"),
    ("steps", "avg supervision steps"),
    ("lr", "learning rate"),
    ("samples_per_s", "samples/s"),
];

/// Eval-record series drawn as dots on a metric's chart, with their labels: the evaluated
/// training sample beside the test split (`eval_train_sample`), so that the gap shows.
pub const COMPANIONS: &[(&str, &str, &str)] =
    &[("exact_accuracy", "train_exact_accuracy", "train sample")];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XAxis {
    Step,
    /// Seconds since the run started.
    Wall,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitFilter {
    Both,
    Train,
    Eval,
}

impl SplitFilter {
    fn next(self) -> Self {
        match self {
            SplitFilter::Both => SplitFilter::Train,
            SplitFilter::Train => SplitFilter::Eval,
            SplitFilter::Eval => SplitFilter::Both,
        }
    }
    fn label(self) -> &'static str {
        match self {
            SplitFilter::Both => "train+eval",
            SplitFilter::Train => "train",
            SplitFilter::Eval => "eval",
        }
    }
}

pub struct CurvesPane {
    pub runs_dir: PathBuf,
    pub data_dir: PathBuf,
    pub runs: Vec<RunCurves>,
    /// Selected run (legend cursor).
    pub sel: usize,
    pub metric: usize,
    /// Show every metric in a grid (true) or the selected one large.
    pub grid: bool,
    pub smoothing: f64,
    pub log_y: bool,
    pub x_axis: XAxis,
    pub split: SplitFilter,
    pub robust: bool,
    /// Visible x-window; None = everything.
    pub window: Option<(f64, f64)>,
    pub follow: bool,
    last_poll: Option<Instant>,
    pub poll_every: Duration,
    keys: KeyMap<CurvesAction>,
}

impl std::fmt::Debug for CurvesPane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurvesPane")
            .field("runs", &self.runs.len())
            .finish()
    }
}

impl CurvesPane {
    pub fn new(paths: &Paths, smoothing: f64) -> CurvesPane {
        let mut p = CurvesPane {
            runs_dir: paths.runs_dir.clone(),
            data_dir: paths.data_dir.clone(),
            runs: Vec::new(),
            sel: 0,
            metric: 0,
            grid: true,
            smoothing: smoothing.clamp(0.0, 0.99),
            log_y: false,
            x_axis: XAxis::Step,
            split: SplitFilter::Both,
            robust: false,
            window: None,
            follow: true,
            last_poll: None,
            poll_every: Duration::from_millis(500),
            keys: KeyMap::defaults("curves", KEYS),
        };
        p.rescan();
        p.poll_all();
        p
    }

    /// Apply the user's key overrides; returns the problems found in them.
    pub fn remap(&mut self, overrides: &KeyOverrides) -> Vec<String> {
        let (keys, errs) = KeyMap::new("curves", KEYS, overrides);
        self.keys = keys;
        errs
    }

    /// Add every run dir with a `metrics.jsonl` not followed yet (sorted by name).
    pub fn rescan(&mut self) -> usize {
        let mut added = 0;
        for d in crate::tui::catalog::run_dirs_with_metrics(&self.runs_dir) {
            if !self.runs.iter().any(|r| r.dir == d) {
                self.runs.push(RunCurves::new(&d));
                added += 1;
            }
        }
        added
    }

    /// Follow a run dir (e.g. one just launched; its metrics file may not exist yet).
    pub fn watch(&mut self, dir: &Path) {
        if !self.runs.iter().any(|r| r.dir == dir) {
            self.runs.push(RunCurves::new(dir));
            self.sel = self.runs.len() - 1;
        }
    }

    /// Tail every run; returns the number of new records.
    pub fn poll_all(&mut self) -> usize {
        self.last_poll = Some(Instant::now());
        self.runs.iter_mut().map(|r| r.poll()).sum()
    }

    /// Largest x over the visible runs.
    fn x_extent(&self) -> Option<(f64, f64)> {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for r in self.runs.iter().filter(|r| r.visible) {
            for rec in &r.records {
                let x = match self.x_axis {
                    XAxis::Step => rec.step as f64,
                    XAxis::Wall => rec.wall_s,
                };
                if x.is_finite() {
                    lo = lo.min(x);
                    hi = hi.max(x);
                }
            }
        }
        (lo <= hi).then_some((lo, hi))
    }

    /// The x-window drawn.
    pub fn view(&self) -> (f64, f64) {
        let (lo, hi) = self.x_extent().unwrap_or((0.0, 1.0));
        let (lo, hi) = if hi > lo { (lo, hi) } else { (lo, lo + 1.0) };
        match self.window {
            None => (lo, hi),
            Some((a, b)) if self.follow => {
                let w = b - a;
                (hi - w, hi)
            }
            Some(w) => w,
        }
    }

    fn zoom(&mut self, factor: f64) {
        let (a, b) = self.view();
        let (lo, hi) = self.x_extent().unwrap_or((0.0, 1.0));
        let w = ((b - a) * factor).max(1e-9);
        if factor > 1.0 && w >= hi - lo {
            self.window = None;
            return;
        }
        let (na, nb) = if self.follow {
            (b - w, b)
        } else {
            let c = (a + b) / 2.0;
            (c - w / 2.0, c + w / 2.0)
        };
        self.window = Some((na, nb));
    }

    fn pan(&mut self, dir: f64) {
        let (a, b) = self.view();
        let (lo, hi) = self.x_extent().unwrap_or((0.0, 1.0));
        let w = b - a;
        let shift = w / 4.0 * dir;
        let na = (a + shift).clamp(lo.min(hi - w), hi - w).max(lo.min(a));
        self.window = Some((na, na + w));
        self.follow = dir > 0.0 && na + w >= hi;
    }

    /// Write one CSV per visible run into `<data dir>/exports/`; returns the files.
    pub fn export_csv(&self) -> std::io::Result<Vec<PathBuf>> {
        let dir = self.data_dir.join("exports");
        std::fs::create_dir_all(&dir)?;
        let mut out = Vec::new();
        for r in self.runs.iter().filter(|r| r.visible) {
            let mut keys: std::collections::BTreeSet<&str> = Default::default();
            for rec in &r.records {
                keys.extend(rec.values.keys().map(|k| k.as_str()));
            }
            let mut text = String::from("step,epoch,wall_s,split");
            for k in &keys {
                text.push(',');
                text.push_str(k);
            }
            text.push('\n');
            for rec in &r.records {
                text.push_str(&format!(
                    "{},{},{},{}",
                    rec.step, rec.epoch, rec.wall_s, rec.split
                ));
                for k in &keys {
                    text.push(',');
                    if let Some(v) = rec.get(k) {
                        text.push_str(&v.to_string());
                    } else if rec.values.contains_key(*k) {
                        text.push_str("NaN");
                    }
                }
                text.push('\n');
            }
            let p = dir.join(format!("{}.csv", r.name));
            std::fs::write(&p, text)?;
            out.push(p);
        }
        Ok(out)
    }
}

impl Component for CurvesPane {
    fn hints(&self) -> Vec<KeyHint> {
        self.keys.hints()
    }

    fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> EventState {
        let Some(action) = self.keys.action(&key) else {
            return EventState::NotConsumed;
        };
        match action {
            C::NextMetric => self.metric = nav::next(self.metric, METRICS.len()),
            C::PrevMetric => self.metric = nav::prev(self.metric, METRICS.len()),
            C::Grid => self.grid = !self.grid,
            C::LessSmoothing => {
                self.smoothing = ((self.smoothing - 0.05).max(0.0) * 100.0).round() / 100.0
            }
            C::MoreSmoothing => {
                self.smoothing = ((self.smoothing + 0.05).min(0.99) * 100.0).round() / 100.0
            }
            C::LogY => self.log_y = !self.log_y,
            C::XAxis => {
                self.x_axis = match self.x_axis {
                    XAxis::Step => XAxis::Wall,
                    XAxis::Wall => XAxis::Step,
                };
                self.window = None;
                self.follow = true;
            }
            C::ZoomIn => self.zoom(0.5),
            C::ZoomOut => self.zoom(2.0),
            C::ResetZoom => {
                self.window = None;
                self.follow = true;
            }
            C::PanLeft => self.pan(-1.0),
            C::PanRight => self.pan(1.0),
            C::Follow => self.follow = true,
            C::Split => self.split = self.split.next(),
            C::Robust => self.robust = !self.robust,
            C::NextRun => self.sel = nav::next(self.sel, self.runs.len()),
            C::PrevRun => self.sel = nav::prev(self.sel, self.runs.len()),
            C::ToggleRun => {
                if let Some(r) = self.runs.get_mut(self.sel) {
                    r.visible = !r.visible;
                }
            }
            C::Rescan => {
                let n = self.rescan();
                self.poll_all();
                ctx.status(Level::Info, format!("curves: {n} new run(s)"));
            }
            C::Export => match self.export_csv() {
                Ok(files) => {
                    let m = format!(
                        "exported {} file(s) to {}",
                        files.len(),
                        Paths::display(&self.data_dir.join("exports"))
                    );
                    ctx.status(Level::Info, format!("curves: {m}"));
                    ctx.log(Level::Info, "curves", m);
                }
                Err(e) => ctx.status(Level::Error, format!("curves: export failed: {e}")),
            },
        }
        EventState::Consumed
    }

    fn tick(&mut self, _ctx: &mut Ctx) -> bool {
        if self
            .last_poll
            .is_some_and(|t| t.elapsed() < self.poll_every)
        {
            return false;
        }
        self.poll_all() > 0
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_style(focused))
            .title(Span::styled(" Curves ", theme.title_style()));
        let inner = block.inner(area);
        f.render_widget(block.style(theme.base()), area);
        let legend_w = 34.min(inner.width / 3);
        let [charts, legend] =
            Layout::horizontal([Constraint::Min(20), Constraint::Length(legend_w)]).areas(inner);
        let view = self.view();
        self.draw_legend(f, legend, theme, view);
        if self.grid {
            let rows = Layout::vertical([Constraint::Ratio(1, 4); 4]).split(charts);
            for (ri, row) in rows.iter().enumerate() {
                let cols = Layout::horizontal([Constraint::Ratio(1, 2); 2]).split(*row);
                for (ci, cell) in cols.iter().enumerate() {
                    let m = ri * 2 + ci;
                    self.draw_metric(f, *cell, theme, m, m == self.metric, view);
                }
            }
        } else {
            let m = self.metric;
            self.draw_metric(f, charts, theme, m, true, view);
        }
    }
}
