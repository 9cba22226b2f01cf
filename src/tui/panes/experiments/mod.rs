//! Experiments pane: the experiment folders under `<runs root>/experiments/` (written by
//! `trm-tui experiment run`), the selected one's report table (the same [`Report`] as
//! `trm-tui experiment report`: per-variant means ± standard deviations over seeds), its
//! runs per seed, and the variants' curves overlaid (eval exact accuracy and lm loss, one
//! colour per variant, seeds averaged or drawn one by one). Reloaded when a run's files change,
//! so a running experiment is followed live.

mod draw;
pub mod keys;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::experiment::report::{Report, RunResult, EXPERIMENT_FILE};
use crate::experiment::spec::EXPERIMENTS_DIR;
use crate::experiment::Manifest;
use crate::train::api::Split;
use crate::train::RunDir;
use crate::tui::chart::{ema_debiased, Pt};
use crate::tui::component::{Action, Component, Ctx, EventState, KeyHint, Level, PaneId};
use crate::tui::config::Paths;
use crate::tui::keys::{nav, KeyMap, KeyOverrides};
use crate::tui::theme::Theme;

pub use keys::{ExperimentsAction, KEYS};
use ExperimentsAction as X;

/// One experiment folder.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentEntry {
    pub name: String,
    pub dir: PathBuf,
    /// Finished and planned runs, from the manifest.
    pub progress: Option<(usize, usize)>,
}

/// How the seeds of a variant are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedMode {
    /// One line per variant: the mean over its seeds at each step they all reached.
    Mean,
    /// One line per run.
    Each,
}

/// Which loss the second chart shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossSplit {
    /// Training `lm_loss`, smoothed (debiased EMA).
    Train,
    /// Evaluation `lm_loss`.
    Eval,
}

/// The selected experiment, read.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub dir: PathBuf,
    pub report: Result<Report, String>,
    fingerprint: u64,
}

#[derive(Debug)]
pub struct ExperimentsPane {
    /// `<runs root>/experiments`.
    pub root: PathBuf,
    pub entries: Vec<ExperimentEntry>,
    pub sel: usize,
    pub loaded: Option<Loaded>,
    /// The highlighted variant (table row).
    pub variant_sel: usize,
    /// Variants whose curves are hidden (by name).
    pub hidden: Vec<String>,
    pub seeds: SeedMode,
    pub loss: LossSplit,
    /// Smoothing of the training loss (the Curves pane's setting).
    pub smoothing: f64,
    last_poll: Option<Instant>,
    pub poll_every: Duration,
    keys: KeyMap<ExperimentsAction>,
}

/// A cheap signature of an experiment folder's files (names, sizes, modification times).
fn fingerprint(dir: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut stamp = |p: &Path| {
        p.hash(&mut h);
        if let Ok(m) = std::fs::metadata(p) {
            m.len().hash(&mut h);
            if let Ok(t) = m.modified() {
                t.hash(&mut h);
            }
        }
    };
    stamp(&dir.join(EXPERIMENT_FILE));
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut runs: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        runs.sort();
        for r in runs {
            let run = RunDir::new(r);
            for f in [run.config_path(), run.metrics_path(), run.events_path()] {
                stamp(&f);
            }
        }
    }
    h.finish()
}

/// Mean of several step series at the steps every one of them reached.
fn mean_series(series: &[Vec<Pt>]) -> Vec<Pt> {
    let series: Vec<&Vec<Pt>> = series.iter().filter(|s| !s.is_empty()).collect();
    if series.is_empty() {
        return Vec::new();
    }
    let mut acc: std::collections::BTreeMap<u64, (f64, usize)> = Default::default();
    for s in &series {
        for &(x, y) in s.iter() {
            if y.is_finite() {
                let e = acc.entry(x as u64).or_insert((0.0, 0));
                e.0 += y;
                e.1 += 1;
            }
        }
    }
    acc.into_iter()
        .filter(|(_, (_, n))| *n == series.len())
        .map(|(x, (sum, n))| (x as f64, sum / n as f64))
        .collect()
}

/// (step, value) of a metric on a split.
fn series(run: &RunResult, metric: &str, split: Split) -> Vec<Pt> {
    run.records
        .iter()
        .filter(|r| r.split == split && r.values.contains_key(metric))
        .map(|r| (r.step as f64, r.get(metric).unwrap_or(f64::NAN)))
        .collect()
}

impl ExperimentsPane {
    pub fn new(paths: &Paths, smoothing: f64) -> ExperimentsPane {
        let mut p = ExperimentsPane {
            root: paths.runs_dir.join(EXPERIMENTS_DIR),
            entries: Vec::new(),
            sel: 0,
            loaded: None,
            variant_sel: 0,
            hidden: Vec::new(),
            seeds: SeedMode::Mean,
            loss: LossSplit::Train,
            smoothing: smoothing.clamp(0.0, 0.99),
            last_poll: None,
            poll_every: Duration::from_secs(5),
            keys: KeyMap::defaults("experiments", KEYS),
        };
        p.rescan();
        p
    }

    /// Apply the user's key overrides; returns the problems found in them.
    pub fn remap(&mut self, overrides: &KeyOverrides) -> Vec<String> {
        let (keys, errs) = KeyMap::new("experiments", KEYS, overrides);
        self.keys = keys;
        errs
    }

    /// List the experiment folders (those holding `experiment.toml`), keep the selection, and
    /// read the selected one.
    pub fn rescan(&mut self) {
        let selected = self.entries.get(self.sel).map(|e| e.dir.clone());
        let mut entries = Vec::new();
        for d in crate::tui::catalog::dirs_holding(&self.root, EXPERIMENT_FILE) {
            let progress = Manifest::read(&d).ok().map(|m| {
                (
                    m.runs.iter().filter(|r| r.status == "finished").count(),
                    m.runs.len(),
                )
            });
            entries.push(ExperimentEntry {
                name: d.file_name().map_or_else(
                    || d.display().to_string(),
                    |n| n.to_string_lossy().to_string(),
                ),
                dir: d,
                progress,
            });
        }
        self.entries = entries;
        self.sel = selected
            .and_then(|d| self.entries.iter().position(|e| e.dir == d))
            .unwrap_or(0);
        self.reload(true);
    }

    /// Read the selected experiment again when its files changed (or when `force`).
    pub fn reload(&mut self, force: bool) -> bool {
        self.last_poll = Some(Instant::now());
        let Some(dir) = self.entries.get(self.sel).map(|e| e.dir.clone()) else {
            let changed = self.loaded.is_some();
            self.loaded = None;
            return changed;
        };
        let fp = fingerprint(&dir);
        if !force
            && self
                .loaded
                .as_ref()
                .is_some_and(|l| l.dir == dir && l.fingerprint == fp)
        {
            return false;
        }
        let same = self.loaded.as_ref().is_some_and(|l| l.dir == dir);
        let report = Report::open_dir(&dir)
            .map(|(_, r)| r)
            .map_err(|e| format!("{e:#}"));
        if let Ok(r) = &report {
            let (done, total) = r.progress();
            if let Some(e) = self.entries.get_mut(self.sel) {
                e.progress = Some((done, total));
            }
        }
        self.loaded = Some(Loaded {
            dir,
            report,
            fingerprint: fp,
        });
        if !same {
            self.variant_sel = 0;
            self.hidden.clear();
        }
        true
    }

    pub fn report(&self) -> Option<&Report> {
        self.loaded.as_ref().and_then(|l| l.report.as_ref().ok())
    }

    fn variant_count(&self) -> usize {
        self.report().map_or(0, |r| r.variants.len())
    }

    fn selected_variant(&self) -> Option<&str> {
        self.report()
            .and_then(|r| r.variants.get(self.variant_sel))
            .map(|v| v.name.as_str())
    }

    /// The lines of one chart: (variant index, points), one per variant (mean over its seeds)
    /// or one per run.
    fn lines(&self, metric: &str, split: Split, smooth: bool) -> Vec<(usize, Vec<Pt>)> {
        let Some(r) = self.report() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (vi, v) in r.variants.iter().enumerate() {
            if self.hidden.contains(&v.name) {
                continue;
            }
            let runs: Vec<Vec<Pt>> = r
                .runs
                .iter()
                .filter(|x| x.variant == v.name)
                .map(|x| series(x, metric, split))
                .collect();
            let finish = |pts: Vec<Pt>| {
                if smooth {
                    ema_debiased(&pts, self.smoothing)
                } else {
                    pts
                }
            };
            match self.seeds {
                SeedMode::Mean => {
                    let m = mean_series(&runs);
                    if !m.is_empty() {
                        out.push((vi, finish(m)));
                    }
                }
                SeedMode::Each => {
                    for s in runs.into_iter().filter(|s| !s.is_empty()) {
                        out.push((vi, finish(s)));
                    }
                }
            }
        }
        out
    }
}

impl Component for ExperimentsPane {
    fn hints(&self) -> Vec<KeyHint> {
        self.keys.hints()
    }

    fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> EventState {
        let Some(action) = self.keys.action(&key) else {
            return EventState::NotConsumed;
        };
        match action {
            X::Next | X::Prev => {
                if !self.entries.is_empty() {
                    let n = self.entries.len();
                    self.sel = if action == X::Next {
                        nav::next(self.sel, n)
                    } else {
                        nav::prev(self.sel, n)
                    };
                    self.reload(true);
                }
            }
            X::NextVariant => self.variant_sel = nav::next(self.variant_sel, self.variant_count()),
            X::PrevVariant => self.variant_sel = nav::prev(self.variant_sel, self.variant_count()),
            X::ToggleVariant => {
                if let Some(name) = self.selected_variant().map(str::to_string) {
                    if let Some(i) = self.hidden.iter().position(|h| *h == name) {
                        self.hidden.remove(i);
                    } else {
                        self.hidden.push(name);
                    }
                }
            }
            X::Seeds => {
                self.seeds = match self.seeds {
                    SeedMode::Mean => SeedMode::Each,
                    SeedMode::Each => SeedMode::Mean,
                }
            }
            X::Loss => {
                self.loss = match self.loss {
                    LossSplit::Train => LossSplit::Eval,
                    LossSplit::Eval => LossSplit::Train,
                }
            }
            X::Rescan => {
                self.rescan();
                ctx.status(
                    Level::Info,
                    format!("experiments: {} found", self.entries.len()),
                );
            }
            X::Write => match (self.report(), self.loaded.as_ref()) {
                (Some(r), Some(l)) => match r.write(&l.dir) {
                    Ok((md, csv)) => ctx.status(
                        Level::Info,
                        format!("wrote {} and {}", Paths::display(&md), Paths::display(&csv)),
                    ),
                    Err(e) => ctx.log(Level::Error, "exps", format!("{e:#}")),
                },
                _ => ctx.status(Level::Warn, "no experiment to report on"),
            },
            X::Open => {
                let Some(name) = self.selected_variant().map(str::to_string) else {
                    ctx.status(Level::Warn, "no experiment selected");
                    return EventState::Consumed;
                };
                let found = self.report().and_then(|r| {
                    r.runs.iter().filter(|x| x.variant == name).find_map(|x| {
                        let run = RunDir::new(&x.dir);
                        let best = run.best_path();
                        if best.is_file() {
                            Some(best)
                        } else {
                            run.latest_checkpoint()
                        }
                    })
                });
                match found {
                    Some(p) => {
                        ctx.push(Action::OpenCheckpoint(p));
                        ctx.push(Action::Focus(PaneId::Solver));
                    }
                    None => ctx.status(Level::Warn, format!("{name}: no checkpoint yet")),
                }
            }
            X::Curves => {
                let Some(name) = self.selected_variant().map(str::to_string) else {
                    ctx.status(Level::Warn, "no experiment selected");
                    return EventState::Consumed;
                };
                let dirs: Vec<PathBuf> = self
                    .report()
                    .map(|r| {
                        r.runs
                            .iter()
                            .filter(|x| x.variant == name && !x.records.is_empty())
                            .map(|x| x.dir.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                if dirs.is_empty() {
                    ctx.status(Level::Warn, format!("{name}: no run has metrics yet"));
                } else {
                    for d in dirs {
                        ctx.push(Action::WatchRun(d));
                    }
                    ctx.push(Action::Focus(PaneId::Curves));
                }
            }
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
        self.reload(false)
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_style(focused))
            .title(Span::styled(
                format!(" Experiments · {} ", Paths::display(&self.root)),
                theme.title_style(),
            ));
        let inner = block.inner(area);
        f.render_widget(block.style(theme.base()), area);
        let list_w = 26.min(inner.width / 4);
        let [list, right] =
            Layout::horizontal([Constraint::Length(list_w), Constraint::Min(20)]).areas(inner);
        self.draw_list(f, list, theme, focused);
        let this: &Self = self;
        let report = match this.loaded.as_ref().map(|l| &l.report) {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                f.render_widget(
                    Paragraph::new(Line::styled(e.clone(), Style::default().fg(theme.error)))
                        .wrap(ratatui::widgets::Wrap { trim: true })
                        .style(theme.base())
                        .block(Block::default().borders(Borders::ALL)),
                    right,
                );
                return;
            }
            None => {
                f.render_widget(
                    Paragraph::new(vec![
                        Line::raw(""),
                        Line::styled(
                            format!("  no experiment under {}", Paths::display(&self.root)),
                            theme.dim_style(),
                        ),
                        Line::styled(
                            "  `trm-tui experiment run FILE` runs one (experiments/README.md)",
                            theme.dim_style(),
                        ),
                    ])
                    .style(theme.base()),
                    right,
                );
                return;
            }
        };
        let table_h = (report.variants.len() as u16 + 4)
            .min(right.height / 3)
            .max(5)
            + report.verdict_count() as u16;
        let seeds_h = (report.seeds.len() as u16 + 2).min(8);
        let [table, runs, charts] = Layout::vertical([
            Constraint::Length(table_h),
            Constraint::Length(seeds_h),
            Constraint::Min(6),
        ])
        .areas(right);
        this.draw_table(f, table, theme, report);
        this.draw_runs(f, runs, theme, report);
        let [a, b] =
            Layout::horizontal([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)]).areas(charts);
        this.draw_chart(
            f,
            a,
            theme,
            "eval exact accuracy",
            "exact_accuracy",
            Split::Eval,
            false,
        );
        match this.loss {
            LossSplit::Train => this.draw_chart(
                f,
                b,
                theme,
                "train lm loss (smoothed)",
                "lm_loss",
                Split::Train,
                true,
            ),
            LossSplit::Eval => {
                this.draw_chart(f, b, theme, "eval lm loss", "lm_loss", Split::Eval, false)
            }
        }
    }
}
