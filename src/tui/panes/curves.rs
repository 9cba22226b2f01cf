//! Curves pane: live curves of every run under the runs root (`runs/*/metrics.jsonl`, tailed,
//! so a headless run still writing is followed too): lm loss, q-halt loss, token and exact
//! accuracy, q-halt accuracy, average supervision steps, learning rate and throughput.
//! Debiased EMA smoothing over the dimmed raw line, log-y, step or wall-time x-axis, zoom, pan,
//! follow-tail, spike-keeping downsampling, NaN gaps, run overlay and CSV export.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::tui::chart::themed_axes;
use crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Chart, Dataset, GraphType, Paragraph};
use ratatui::Frame;

use crate::train::api::{MetricRecord, MetricsTail, Split};
use crate::tui::chart::{
    downsample_minmax, ema_debiased, log10_y, nice_bounds, segments, y_range, Pt,
};
use crate::tui::component::{Component, Ctx, EventState, KeyHint, Level};
use crate::tui::config::Paths;
use crate::tui::fmt;
use crate::tui::keys::{nav, Binding, KeyMap, KeyOverrides};
use crate::tui::theme::Theme;

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

/// One run's metrics, tailed from its `metrics.jsonl`.
#[derive(Debug, Clone)]
pub struct RunCurves {
    pub name: String,
    pub dir: PathBuf,
    tail: MetricsTail,
    pub records: Vec<MetricRecord>,
    pub visible: bool,
    /// Records added at the last poll (for "is it moving").
    pub new_records: usize,
    /// Raw and smoothed series per (metric, eval), valid for the key they were built for.
    cache: std::collections::HashMap<(usize, bool), SeriesCache>,
}

/// (metric, eval, x-axis, smoothing bits, record count) a cached series was built for.
type CacheKey = (usize, bool, XAxis, u64, usize);

#[derive(Debug, Clone, Default)]
struct SeriesCache {
    key: Option<CacheKey>,
    raw: Vec<Pt>,
    smooth: Vec<Pt>,
}

impl RunCurves {
    pub fn new(dir: &Path) -> RunCurves {
        RunCurves {
            name: dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().to_string(),
            ),
            dir: dir.to_path_buf(),
            tail: MetricsTail::new(dir.join("metrics.jsonl")),
            records: Vec::new(),
            visible: true,
            new_records: 0,
            cache: Default::default(),
        }
    }

    pub fn poll(&mut self) -> usize {
        let new = self.tail.poll();
        self.new_records = new.len();
        self.records.extend(new);
        self.new_records
    }

    /// Raw and smoothed series of a metric (index into [`METRICS`]), rebuilt only when the
    /// records, the axis or the smoothing changed.
    pub fn cached(&mut self, metric: usize, eval: bool, x: XAxis, w: f64) -> (&[Pt], &[Pt]) {
        let key = (metric, eval, x, w.to_bits(), self.records.len());
        let fresh = self
            .cache
            .get(&(metric, eval))
            .is_some_and(|c| c.key == Some(key));
        if !fresh {
            let name = METRICS[metric % METRICS.len()].0;
            let raw = self.series(name, if eval { Split::Eval } else { Split::Train }, x);
            let smooth = if eval {
                Vec::new()
            } else {
                ema_debiased(&raw, w)
            };
            self.cache.insert(
                (metric, eval),
                SeriesCache {
                    key: Some(key),
                    raw,
                    smooth,
                },
            );
        }
        let c = &self.cache[&(metric, eval)];
        (&c.raw, &c.smooth)
    }

    /// (x, y) of a metric on a split; a missing or null value is NaN (a gap).
    pub fn series(&self, metric: &str, split: Split, x: XAxis) -> Vec<Pt> {
        self.records
            .iter()
            .filter(|r| r.split == split)
            .filter(|r| r.values.contains_key(metric))
            .map(|r| {
                let xv = match x {
                    XAxis::Step => r.step as f64,
                    XAxis::Wall => r.wall_s,
                };
                (xv, r.get(metric).unwrap_or(f64::NAN))
            })
            .collect()
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurvesAction {
    PrevMetric,
    NextMetric,
    Grid,
    LessSmoothing,
    MoreSmoothing,
    LogY,
    XAxis,
    ZoomIn,
    ZoomOut,
    PanLeft,
    PanRight,
    Follow,
    ResetZoom,
    Split,
    Robust,
    NextRun,
    PrevRun,
    ToggleRun,
    Rescan,
    Export,
}

use CurvesAction as C;

/// The Curves pane's keys (config table `curves`).
pub const KEYS: &[Binding<CurvesAction>] = &[
    Binding::bar(
        C::PrevMetric,
        "previous_metric",
        &["Left"],
        "metric",
        "previous metric",
    ),
    Binding::bar(
        C::NextMetric,
        "next_metric",
        &["Right"],
        "metric",
        "next metric",
    ),
    Binding::bar(
        C::Grid,
        "all_or_one",
        &["a"],
        "all/one",
        "all metrics in a grid, or one",
    ),
    Binding::bar(
        C::LessSmoothing,
        "less_smoothing",
        &["["],
        "smoothing",
        "less smoothing",
    ),
    Binding::bar(
        C::MoreSmoothing,
        "more_smoothing",
        &["]"],
        "smoothing",
        "more smoothing",
    ),
    Binding::bar(C::LogY, "log_y", &["L"], "log-y", "logarithmic y axis"),
    Binding::bar(
        C::XAxis,
        "x_axis",
        &["x"],
        "x-axis",
        "x axis: step or wall time",
    ),
    Binding::bar(C::ZoomIn, "zoom_in", &["+"], "zoom", "zoom in"),
    Binding::bar(C::ZoomOut, "zoom_out", &["-"], "zoom", "zoom out"),
    Binding::bar(C::PanLeft, "pan_left", &["h"], "pan", "pan left"),
    Binding::bar(C::PanRight, "pan_right", &["l"], "pan", "pan right"),
    Binding::bar(
        C::Follow,
        "follow",
        &["0"],
        "follow",
        "follow the newest steps",
    ),
    Binding::help(C::ResetZoom, "reset_zoom", &["="], "reset zoom (whole run)"),
    Binding::help(
        C::Split,
        "split",
        &["s"],
        "split: train+eval / train / eval",
    ),
    Binding::help(
        C::Robust,
        "ignore_outliers",
        &["i"],
        "ignore outliers (p1-p99 y-range)",
    ),
    Binding::help(
        C::NextRun,
        "next_run",
        &["j", "Down"],
        "select the next run",
    ),
    Binding::help(
        C::PrevRun,
        "previous_run",
        &["k", "Up"],
        "select the previous run",
    ),
    Binding::help(
        C::ToggleRun,
        "show_run",
        &["Space"],
        "show / hide the selected run",
    ),
    Binding::help(C::Rescan, "rescan", &["r"], "rescan runs/ for new runs"),
    Binding::help(
        C::Export,
        "export_csv",
        &["E"],
        "export visible runs to CSV (data dir)",
    ),
];

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

    /// Draw one metric's chart in `area`.
    #[allow(clippy::too_many_arguments)]
    pub fn draw_metric(
        &mut self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        metric: usize,
        selected: bool,
        view: (f64, f64),
    ) {
        let title = METRICS[metric % METRICS.len()].1;
        let (x0, x1) = view;
        let (smoothing, x_axis, split, log_y) =
            (self.smoothing, self.x_axis, self.split, self.log_y);
        let inner_w = area.width.saturating_sub(10).max(4) as usize;
        // Braille: 2 dots per cell; min+max per bucket.
        let buckets = inner_w;
        let transform = |pts: Vec<Pt>| if log_y { log10_y(&pts) } else { pts };
        // (points, style, graph type) of every line to draw.
        let mut lines: Vec<(Vec<Pt>, Style, GraphType)> = Vec::new();
        let mut last_values: Vec<String> = Vec::new();
        for (ri, r) in self.runs.iter_mut().enumerate() {
            if !r.visible {
                continue;
            }
            let color = theme.series_color(ri);
            if split != SplitFilter::Eval {
                let (raw, smooth) = r.cached(metric, false, x_axis, smoothing);
                if !raw.is_empty() {
                    if let Some(v) = smooth.iter().rev().find(|p| p.1.is_finite()) {
                        last_values.push(fmt::num(v.1));
                    }
                    if smoothing > 0.0 {
                        lines.push((
                            transform(downsample_minmax(raw, x0, x1, buckets)),
                            Style::default().fg(theme.raw),
                            GraphType::Line,
                        ));
                    }
                    lines.push((
                        transform(downsample_minmax(smooth, x0, x1, buckets)),
                        Style::default().fg(color),
                        GraphType::Line,
                    ));
                }
            }
            if split != SplitFilter::Train {
                let (ev, _) = r.cached(metric, true, x_axis, smoothing);
                if !ev.is_empty() {
                    if let Some(v) = ev.iter().rev().find(|p| p.1.is_finite()) {
                        last_values.push(format!("eval {}", fmt::num(v.1)));
                    }
                    lines.push((
                        transform(downsample_minmax(ev, x0, x1, buckets)),
                        Style::default().fg(color).add_modifier(Modifier::BOLD),
                        GraphType::Line,
                    ));
                }
            }
        }
        let in_window = |p: &&Pt| p.0 >= x0 && p.0 <= x1;
        let yr = y_range(
            lines
                .iter()
                .flat_map(|(pts, _, _)| pts.iter().filter(in_window).map(|p| p.1)),
            self.robust,
        );
        let ticks = if area.height >= 12 { 5 } else { 3 };
        let (y0, y1) = match yr {
            // Large charts: round bounds for 5 round labels; small ones: the data range, padded.
            Some((a, b)) if ticks >= 5 => nice_bounds(a, b, ticks),
            Some((a, b)) => {
                // At least 2% of the magnitude, so a flat line gets distinct labels.
                let pad = ((b - a) * 0.05).max(a.abs().max(b.abs()) * 0.02).max(1e-9);
                (a - pad, b + pad)
            }
            None => (0.0, 1.0),
        };
        let segs: Vec<(Vec<Pt>, Style, GraphType)> = lines
            .into_iter()
            .flat_map(|(pts, st, gt)| segments(&pts).into_iter().map(move |s| (s, st, gt)))
            .collect();
        let datasets: Vec<Dataset> = segs
            .iter()
            .map(|(pts, st, gt)| {
                Dataset::default()
                    .marker(if pts.len() == 1 {
                        Marker::Dot
                    } else {
                        Marker::Braille
                    })
                    .graph_type(*gt)
                    .style(*st)
                    .data(pts)
            })
            .collect();
        let ylabel = |v: f64| {
            if self.log_y {
                fmt::num(10f64.powf(v))
            } else {
                fmt::num(v)
            }
        };
        let xlabel = |v: f64| match self.x_axis {
            XAxis::Step => fmt::num(v.round()),
            XAxis::Wall => fmt::duration(v),
        };
        let ylabels: Vec<Span> = (0..ticks)
            .map(|i| {
                Span::styled(
                    ylabel(y0 + (y1 - y0) * i as f64 / (ticks - 1) as f64),
                    theme.dim_style(),
                )
            })
            .collect();
        let xlabels: Vec<Span> = [x0, (x0 + x1) / 2.0, x1]
            .iter()
            .map(|&v| Span::styled(xlabel(v), theme.dim_style()))
            .collect();
        let mut t = format!(" {title}{} ", if self.log_y { " (log)" } else { "" });
        if !last_values.is_empty() {
            t.push_str(&format!("· {} ", last_values.join(" / ")));
        }
        if yr.is_none() {
            t.push_str("· no data ");
        }
        let chart = Chart::new(datasets).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border_style(selected))
                .title(Span::styled(
                    t,
                    if selected {
                        theme.title_style()
                    } else {
                        Style::default().fg(theme.fg)
                    },
                )),
        );
        let chart = themed_axes(chart, theme, ([x0, x1], xlabels), ([y0, y1], ylabels));
        f.render_widget(chart, area);
    }

    fn draw_legend(&self, f: &mut Frame, area: Rect, theme: &Theme, view: (f64, f64)) {
        let mut lines = vec![Line::styled("Runs", theme.title_style())];
        if self.runs.is_empty() {
            lines.push(Line::styled(
                format!("no runs under {}", Paths::display(&self.runs_dir)),
                theme.dim_style(),
            ));
        }
        for (i, r) in self.runs.iter().enumerate() {
            let mark = if r.visible { "■" } else { "□" };
            let last = r
                .records
                .iter()
                .filter(|x| x.split == Split::Train)
                .map(|x| x.step)
                .max();
            let name_style = if i == self.sel {
                theme.selected()
            } else {
                Style::default().fg(theme.fg)
            };
            lines.push(Line::from(vec![
                Span::styled(
                    format!("{mark} "),
                    Style::default().fg(theme.series_color(i)),
                ),
                Span::styled(r.name.clone(), name_style),
                Span::styled(
                    last.map_or(" (no data)".into(), |s| format!(" @{s}")),
                    theme.dim_style(),
                ),
            ]));
        }
        lines.push(Line::raw(""));
        let (x0, x1) = view;
        let settings = [
            format!("smoothing {:.2}", self.smoothing),
            format!("y {}", if self.log_y { "log10" } else { "linear" }),
            format!(
                "x {}",
                match self.x_axis {
                    XAxis::Step => "step",
                    XAxis::Wall => "wall time",
                }
            ),
            format!("split {}", self.split.label()),
            format!(
                "outliers {}",
                if self.robust {
                    "ignored (p1-p99)"
                } else {
                    "shown"
                }
            ),
            format!(
                "view {}..{}{}",
                fmt::num(x0),
                fmt::num(x1),
                if self.window.is_none() {
                    " (all)"
                } else if self.follow {
                    " (follow)"
                } else {
                    ""
                }
            ),
        ];
        for s in settings {
            lines.push(Line::styled(s, theme.dim_style()));
        }
        lines.push(Line::from(vec![
            Span::styled("── ", Style::default().fg(theme.raw)),
            Span::styled("raw  ", theme.dim_style()),
            Span::styled("── ", Style::default().fg(theme.series_color(0))),
            Span::styled("smoothed", theme.dim_style()),
        ]));
        f.render_widget(
            Paragraph::new(lines).style(theme.base()).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border_style(false)),
            ),
            area,
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};
    use std::io::Write;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn write_run(root: &Path, name: &str, n: u64) -> PathBuf {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let mut f = std::fs::File::create(d.join("metrics.jsonl")).unwrap();
        for s in 1..=n {
            writeln!(
                f,
                "{{\"step\":{s},\"epoch\":0,\"wall_s\":{},\"split\":\"train\",\"lm_loss\":{},\"accuracy\":null}}",
                s as f64 * 0.5,
                1.0 / s as f64
            )
            .unwrap();
        }
        d
    }

    #[test]
    fn tails_runs_and_handles_view_keys() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let d = write_run(&paths.runs_dir, "a", 100);
        let mut p = CurvesPane::new(&paths, 0.6);
        let mut ctx = Ctx::default();
        assert_eq!(p.runs.len(), 1);
        assert_eq!(p.runs[0].records.len(), 100);
        assert_eq!(p.view(), (1.0, 100.0));
        // Growing file: tailed.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(d.join("metrics.jsonl"))
            .unwrap();
        writeln!(
            f,
            "{{\"step\":101,\"epoch\":0,\"wall_s\":51,\"split\":\"train\",\"lm_loss\":0.001}}"
        )
        .unwrap();
        assert_eq!(p.poll_all(), 1);
        p.handle_key(key(KeyCode::Char('+')), &mut ctx);
        let (a, b) = p.view();
        assert_eq!(b, 101.0);
        assert!((b - a - 50.0).abs() < 1e-9, "{a} {b}");
        p.handle_key(key(KeyCode::Char('h')), &mut ctx);
        assert!(!p.follow);
        let (a2, _) = p.view();
        assert!(a2 < a);
        p.handle_key(key(KeyCode::Char('0')), &mut ctx);
        assert_eq!(p.view().1, 101.0);
        p.handle_key(key(KeyCode::Char('=')), &mut ctx);
        assert_eq!(p.window, None);
        p.handle_key(key(KeyCode::Char(']')), &mut ctx);
        assert!((p.smoothing - 0.65).abs() < 1e-9);
        for _ in 0..30 {
            p.handle_key(key(KeyCode::Char(']')), &mut ctx);
        }
        assert!(p.smoothing <= 0.99);
        p.handle_key(key(KeyCode::Char('x')), &mut ctx);
        assert_eq!(p.x_axis, XAxis::Wall);
        assert_eq!(p.view(), (0.5, 51.0));
        p.handle_key(key(KeyCode::Char('L')), &mut ctx);
        assert!(p.log_y);
        p.handle_key(key(KeyCode::Left), &mut ctx);
        assert_eq!(p.metric, METRICS.len() - 1);
        // A null accuracy is a gap, not a zero.
        let s = p.runs[0].series("accuracy", Split::Train, XAxis::Step);
        assert_eq!(s.len(), 100);
        assert!(s.iter().all(|p| p.1.is_nan()));
        // New run appears on rescan; space hides it.
        write_run(&paths.runs_dir, "b", 3);
        p.handle_key(key(KeyCode::Char('r')), &mut ctx);
        assert_eq!(p.runs.len(), 2);
        p.handle_key(key(KeyCode::Char('j')), &mut ctx);
        p.handle_key(key(KeyCode::Char(' ')), &mut ctx);
        assert!(!p.runs[1].visible);
    }

    #[test]
    fn csv_export_writes_every_metric() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        write_run(&paths.runs_dir, "a", 3);
        let p = CurvesPane::new(&paths, 0.6);
        let files = p.export_csv().unwrap();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(&files[0]).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "step,epoch,wall_s,split,accuracy,lm_loss");
        assert_eq!(lines[1], "1,0,0.5,train,NaN,1");
        assert_eq!(lines.len(), 4);
    }
}
