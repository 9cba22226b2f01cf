//! The app: owns the panes, routes keys (global keys, then the focused pane), applies the
//! actions panes push, ticks the workers, and draws the frame (tab bar, focused pane, status
//! line, hint bar built from the pane's declared hints, help overlay, quit confirmation).
//! It performs no terminal I/O, so tests drive it headless on a `TestBackend`.

use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use crossterm::event::{KeyEvent, KeyEventKind};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app_keys::{AppKeys, GlobalAction, HelpAction, QuitAction};
use super::component::{fit_bar, Action, Component, Ctx, KeyHint, Level, PaneId};
use super::config::{Paths, UserConfig};
use super::events::{AppEvent, EventTx};
use super::panes::{
    curves::CurvesPane, experiments::ExperimentsPane, logs::LogsPane, runs::RunsPane,
    solver::SolverPane, train::TrainPane,
};
use super::theme::{Theme, ThemeSet};
use crate::train::api::TrainCommand;

/// Smallest usable terminal.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// How the app is set up.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub paths: Paths,
    /// Theme name (overrides the config file).
    pub theme: Option<String>,
    /// Seed of the untrained model and of generated puzzles.
    pub seed: u64,
    /// Log timestamps fixed at 0 (snapshots).
    pub frozen_clock: bool,
}

impl AppOptions {
    pub fn from_env() -> AppOptions {
        AppOptions {
            paths: Paths::from_env(),
            theme: std::env::var("TRM_TUI_THEME")
                .ok()
                .filter(|s| !s.is_empty()),
            seed: 0,
            frozen_clock: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    None,
    Help {
        scroll: u16,
    },
    /// A run is active: stop it with a checkpoint, without one, or cancel.
    QuitConfirm,
    /// Stopping with a checkpoint before quitting; quit when the trainer is done.
    Quitting {
        since_ms: u128,
    },
}

pub struct App {
    pub paths: Paths,
    pub themes: ThemeSet,
    pub theme_idx: usize,
    pub user_config: UserConfig,
    pub focus: PaneId,
    pub train: TrainPane,
    pub curves: CurvesPane,
    pub solver: SolverPane,
    pub runs: RunsPane,
    pub logs: LogsPane,
    pub experiments: ExperimentsPane,
    pub popup: Popup,
    pub status: Option<(Level, String)>,
    pub should_quit: bool,
    /// Something changed since the last draw.
    pub dirty: bool,
    quit_started: Option<Instant>,
    keys: AppKeys,
    /// The one event channel: input, trainer, solver and tick messages.
    events_tx: EventTx,
    events_rx: Receiver<AppEvent>,
}

impl App {
    pub fn new(opts: AppOptions) -> App {
        let paths = opts.paths.clone();
        let mut ctx = Ctx::default();
        let (user_config, cfg_err) = UserConfig::load(paths.config_file().as_deref());
        let themes = ThemeSet::load(paths.themes_dir().as_deref());
        let wanted = opts.theme.clone().or_else(|| user_config.theme.clone());
        let theme_idx = match &wanted {
            Some(name) => match themes.index_of(name) {
                Some(i) => i,
                None => {
                    ctx.status(
                        Level::Warn,
                        format!(
                            "theme `{name}` not found; using dark (available: {})",
                            themes.names().join(", ")
                        ),
                    );
                    0
                }
            },
            None => 0,
        };
        if let Some(e) = cfg_err {
            ctx.log(Level::Error, "config", e.to_string());
            ctx.status(Level::Error, format!("config: {e}"));
        }
        for e in &themes.errors {
            ctx.log(Level::Error, "theme", e.clone());
            ctx.status(Level::Error, e.clone());
        }
        let (keys, key_errors) = AppKeys::new(&user_config.keys);
        let (events_tx, events_rx) = channel();
        let mut logs = LogsPane::new();
        logs.frozen_clock = opts.frozen_clock;
        let solver = SolverPane::new(paths.clone(), opts.seed, &mut ctx);
        let mut app = App {
            train: TrainPane::new(&paths),
            curves: CurvesPane::new(&paths, user_config.smoothing.unwrap_or(0.6)),
            solver,
            runs: RunsPane::new(&paths),
            experiments: ExperimentsPane::new(&paths, user_config.smoothing.unwrap_or(0.6)),
            logs,
            paths,
            themes,
            theme_idx,
            user_config,
            focus: PaneId::Train,
            popup: Popup::None,
            status: None,
            should_quit: false,
            dirty: true,
            quit_started: None,
            keys,
            events_tx,
            events_rx,
        };
        app.solver.attach(app.events_tx.clone());
        app.train.attach(app.events_tx.clone());
        let mut key_errors = key_errors;
        let overrides = &app.user_config.keys;
        key_errors.extend(app.train.remap(overrides));
        key_errors.extend(app.curves.remap(overrides));
        key_errors.extend(app.solver.remap(overrides));
        key_errors.extend(app.runs.remap(overrides));
        key_errors.extend(app.logs.remap(overrides));
        key_errors.extend(app.experiments.remap(overrides));
        for e in key_errors {
            ctx.log(Level::Error, "config", e.clone());
            ctx.status(Level::Error, format!("config: {e}"));
        }
        app.logs.push(
            Level::Info,
            "app",
            format!(
                "trm-tui workbench; runs {}, puzzles {}, checkpoints {}, config {}",
                Paths::display(&app.paths.runs_dir),
                Paths::display(&app.paths.puzzles_dir),
                Paths::display(&app.paths.checkpoints_dir),
                app.paths
                    .config_dir
                    .as_deref()
                    .map_or("-".into(), Paths::display),
            ),
        );
        app.apply(ctx);
        app
    }

    /// A sender into the app's event channel (the input and tick threads of [`crate::tui::run`]).
    pub fn event_sender(&self) -> EventTx {
        self.events_tx.clone()
    }

    /// Handle one event.
    pub fn handle_event(&mut self, ev: AppEvent) {
        let mut ctx = Ctx::default();
        match ev {
            AppEvent::Input(crossterm::event::Event::Key(k)) => self.handle_key(k),
            AppEvent::Input(crossterm::event::Event::Resize(_, _)) => self.dirty = true,
            AppEvent::Input(_) => {}
            AppEvent::Trainer(e) => {
                self.train.on_event(e, &mut ctx);
                self.dirty = true;
            }
            AppEvent::TrainerExited => self.dirty = true,
            AppEvent::Solver(r) => self.dirty |= self.solver.on_reply(r, &mut ctx),
            AppEvent::Tick => {
                self.tick();
            }
        }
        self.apply(ctx);
    }

    /// Wait up to `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<AppEvent> {
        self.events_rx.recv_timeout(timeout).ok()
    }

    /// Wait for the next event (the event loop; the app holds a sender, so there always is
    /// one eventually).
    pub fn recv(&self) -> Option<AppEvent> {
        self.events_rx.recv().ok()
    }

    /// Handle every message waiting now (not ticks: those are the event loop's); true when
    /// there was one.
    pub fn drain_events(&mut self) -> bool {
        let mut any = false;
        while let Ok(ev) = self.events_rx.try_recv() {
            any = true;
            match ev {
                AppEvent::Tick => {}
                ev => self.handle_event(ev),
            }
        }
        any
    }

    /// Handle events until the solver has finished its load or solve (tests, benches).
    pub fn wait_solver(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.solver.busy() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.recv_timeout(left) {
                Some(AppEvent::Tick) | None => {}
                Some(ev) => self.handle_event(ev),
            }
        }
        true
    }

    /// Start the background work of the default screen (the solver's model and puzzle). With a
    /// trained model to show (a shipped checkpoint, else a run's), the workbench opens on the
    /// solver.
    pub fn start(&mut self) {
        let mut ctx = Ctx::default();
        let arch = &self.train.config.arch;
        let prefer = Some((arch.seq_len, arch.vocab_size));
        self.solver.start(&mut ctx, prefer);
        if self.solver.checkpoint_selected() {
            self.focus = PaneId::Solver;
        }
        self.apply(ctx);
    }

    pub fn theme(&self) -> &Theme {
        &self.themes.themes[self.theme_idx.min(self.themes.themes.len() - 1)]
    }

    fn pane(&mut self, id: PaneId) -> &mut dyn Component {
        match id {
            PaneId::Train => &mut self.train,
            PaneId::Curves => &mut self.curves,
            PaneId::Solver => &mut self.solver,
            PaneId::Runs => &mut self.runs,
            PaneId::Logs => &mut self.logs,
            PaneId::Experiments => &mut self.experiments,
        }
    }

    fn pane_ref(&self, id: PaneId) -> &dyn Component {
        match id {
            PaneId::Train => &self.train,
            PaneId::Curves => &self.curves,
            PaneId::Solver => &self.solver,
            PaneId::Runs => &self.runs,
            PaneId::Logs => &self.logs,
            PaneId::Experiments => &self.experiments,
        }
    }

    /// The global keys (help and hint bar).
    pub fn global_hints(&self) -> Vec<KeyHint> {
        self.keys.global.hints()
    }

    /// Handle one key press.
    pub fn handle_key(&mut self, key: KeyEvent) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        self.dirty = true;
        let global = self.keys.global.action_at(&key);
        let interrupt = matches!(global, Some((GlobalAction::ForceQuit, _)));
        let mut ctx = Ctx::default();
        match self.popup.clone() {
            Popup::Help { scroll } => {
                match self.keys.help.action(&key) {
                    Some(HelpAction::Down) => {
                        self.popup = Popup::Help {
                            scroll: scroll.saturating_add(1),
                        }
                    }
                    Some(HelpAction::Up) => {
                        self.popup = Popup::Help {
                            scroll: scroll.saturating_sub(1),
                        }
                    }
                    _ if interrupt => self.request_quit(&mut ctx),
                    // Close, and any other key.
                    _ => self.popup = Popup::None,
                }
                self.apply(ctx);
                return;
            }
            Popup::QuitConfirm => {
                match self.keys.quit.action(&key) {
                    Some(QuitAction::StopWithCheckpoint) => {
                        self.train
                            .command(TrainCommand::Stop { checkpoint: true }, &mut ctx);
                        self.popup = Popup::Quitting { since_ms: 0 };
                        self.quit_started = Some(Instant::now());
                    }
                    Some(QuitAction::StopNow) => {
                        self.train
                            .command(TrainCommand::Stop { checkpoint: false }, &mut ctx);
                        self.should_quit = true;
                    }
                    _ if interrupt => {
                        self.train
                            .command(TrainCommand::Stop { checkpoint: false }, &mut ctx);
                        self.should_quit = true;
                    }
                    Some(QuitAction::Cancel) => self.popup = Popup::None,
                    None => {}
                }
                self.apply(ctx);
                return;
            }
            Popup::Quitting { .. } => {
                if interrupt {
                    self.should_quit = true;
                }
                return;
            }
            Popup::None => {}
        }
        if interrupt {
            self.request_quit(&mut ctx);
            self.apply(ctx);
            return;
        }
        let focus = self.focus;
        if self.pane_ref(focus).capturing_input() {
            self.pane(focus).handle_key(key, &mut ctx);
            self.apply(ctx);
            return;
        }
        // Global keys first.
        let n = PaneId::ALL.len();
        match global {
            Some((GlobalAction::Help, _)) => self.popup = Popup::Help { scroll: 0 },
            Some((GlobalAction::NextPane, _)) => {
                self.focus = PaneId::ALL[(focus.index() + 1) % n];
            }
            Some((GlobalAction::PrevPane, _)) => {
                self.focus = PaneId::ALL[(focus.index() + n - 1) % n];
            }
            Some((GlobalAction::FocusPane, i)) => self.focus = PaneId::ALL[i.min(n - 1)],
            Some((GlobalAction::Quit, _)) => self.request_quit(&mut ctx),
            Some((GlobalAction::NextTheme, _)) => self.next_theme(&mut ctx),
            Some((GlobalAction::ClearStatus, _)) => self.status = None,
            Some((GlobalAction::ForceQuit, _)) => {}
            None => {
                self.pane(focus).handle_key(key, &mut ctx);
            }
        }
        self.apply(ctx);
    }

    fn request_quit(&mut self, _ctx: &mut Ctx) {
        if self.train.is_active() {
            self.popup = Popup::QuitConfirm;
        } else {
            self.should_quit = true;
        }
    }

    fn next_theme(&mut self, ctx: &mut Ctx) {
        self.theme_idx = (self.theme_idx + 1) % self.themes.themes.len();
        let name = self.theme().name.clone();
        self.user_config.theme = Some(name.clone());
        if let Some(p) = self.paths.config_file() {
            if let Err(e) = self.user_config.save(&p) {
                ctx.log(
                    Level::Warn,
                    "config",
                    format!("cannot save {}: {e}", p.display()),
                );
            }
        }
        ctx.status(Level::Info, format!("theme: {name}"));
    }

    /// Apply the actions panes pushed.
    pub fn apply(&mut self, mut ctx: Ctx) {
        let mut guard = 0;
        while !ctx.actions.is_empty() && guard < 16 {
            guard += 1;
            let actions = std::mem::take(&mut ctx.actions);
            for a in actions {
                self.dirty = true;
                match a {
                    Action::Log {
                        level,
                        source,
                        message,
                    } => {
                        if level >= Level::Warn {
                            self.status = Some((level, format!("{source}: {message}")));
                        }
                        self.logs.push(level, source, message);
                    }
                    Action::Status(level, msg) => self.status = Some((level, msg)),
                    Action::Focus(p) => self.focus = p,
                    Action::OpenCheckpoint(path) => self.solver.open_checkpoint(&path, &mut ctx),
                    Action::ResumeRun {
                        run_dir,
                        checkpoint,
                    } => self.train.prepare_resume(run_dir, checkpoint, &mut ctx),
                    Action::WatchRun(dir) => self.curves.watch(&dir),
                    Action::RescanRuns => {
                        self.runs.rescan();
                        self.solver.rescan();
                        self.curves.rescan();
                        self.experiments.rescan();
                    }
                    Action::Quit => self.request_quit(&mut ctx),
                }
            }
        }
    }

    /// Periodic work: the messages waiting (headless use), then animation (solver playback,
    /// the quit countdown) and the panes' file tailing. Returns true when a redraw is needed.
    pub fn tick(&mut self) -> bool {
        // Messages first (headless callers tick in a loop).
        let mut changed = self.drain_events();
        let mut ctx = Ctx::default();
        changed |= self.train.tick(&mut ctx);
        changed |= self.curves.tick(&mut ctx);
        changed |= self.solver.tick(&mut ctx);
        changed |= self.runs.tick(&mut ctx);
        changed |= self.logs.tick(&mut ctx);
        changed |= self.experiments.tick(&mut ctx);
        if let Some(t) = self.quit_started {
            // Quit once the final checkpoint is written (or after a minute at most).
            if !self.train.is_active() || t.elapsed() > Duration::from_secs(60) {
                self.should_quit = true;
            }
            if let Popup::Quitting { since_ms } = &mut self.popup {
                *since_ms = t.elapsed().as_millis();
            }
            changed = true;
        }
        if !ctx.actions.is_empty() {
            changed = true;
        }
        self.apply(ctx);
        self.dirty |= changed;
        changed
    }

    pub fn draw(&mut self, f: &mut Frame) {
        let area = f.area();
        let theme = self.theme().clone();
        f.render_widget(Block::default().style(theme.base()), area);
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            let msg = vec![
                Line::styled("terminal too small", theme.title_style()),
                Line::raw(format!(
                    "{}x{} here; trm-tui needs at least {MIN_WIDTH}x{MIN_HEIGHT}",
                    area.width, area.height
                )),
                Line::styled("enlarge the window, or press q to quit", theme.dim_style()),
            ];
            f.render_widget(
                Paragraph::new(msg)
                    .wrap(Wrap { trim: true })
                    .style(theme.base()),
                area,
            );
            return;
        }
        let [tabs, body, status, hints] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(5),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        self.draw_tabs(f, tabs, &theme);
        let focus = self.focus;
        self.pane(focus).draw(f, body, &theme, true);
        let status_line = match &self.status {
            Some((lvl, msg)) => {
                let c = match lvl {
                    Level::Error => theme.error,
                    Level::Warn => theme.warn,
                    _ => theme.ok,
                };
                Line::from(Span::styled(format!(" {msg}"), Style::default().fg(c)))
            }
            None => Line::from(Span::styled(
                format!(
                    " theme {} · {} run(s) · {} puzzle set(s)",
                    theme.name,
                    self.runs.runs.len(),
                    self.solver.sets().len()
                ),
                theme.dim_style(),
            )),
        };
        f.render_widget(Paragraph::new(status_line).style(theme.base()), status);
        let mut spans = Vec::new();
        let in_bar = |hs: Vec<KeyHint>| hs.into_iter().filter(|h| h.in_bar).collect::<Vec<_>>();
        let all = fit_bar(
            in_bar(self.pane_ref(focus).hints()),
            in_bar(self.global_hints()),
            usize::from(hints.width),
        );
        for h in all {
            spans.push(Span::styled(
                format!(" {} ", h.keys),
                Style::default()
                    .fg(theme.hint_key)
                    .add_modifier(Modifier::BOLD),
            ));
            spans.push(Span::styled(
                format!("{} ", h.desc),
                Style::default().fg(theme.hint_text),
            ));
        }
        f.render_widget(Paragraph::new(Line::from(spans)).style(theme.base()), hints);
        match self.popup.clone() {
            Popup::Help { scroll } => self.draw_help(f, area, &theme, scroll),
            Popup::QuitConfirm => {
                let key_st = Style::default()
                    .fg(theme.hint_key)
                    .add_modifier(Modifier::BOLD);
                let mut lines = vec![
                    Line::styled("A training run is active.", theme.title_style()),
                    Line::raw(""),
                ];
                // One line per action: its first key, then what it does (other keys after).
                for h in self.keys.quit.hints() {
                    let all = h.help.first().map_or(h.keys.as_str(), |(k, _)| k.as_str());
                    let mut keys = all.split('/');
                    let first = keys.next().unwrap_or_default().to_string();
                    let rest: Vec<&str> = keys.collect();
                    let desc = if rest.is_empty() {
                        h.desc.clone()
                    } else {
                        format!("{} ({})", h.desc, rest.join("/"))
                    };
                    lines.push(Line::from(vec![
                        Span::styled(format!(" {first} "), key_st),
                        Span::raw(desc),
                    ]));
                }
                popup(f, area, 52, 9, " Quit? ", lines, &theme);
            }
            Popup::Quitting { since_ms } => {
                let lines = vec![
                    Line::raw("Stopping the run and writing its checkpoint…"),
                    Line::styled(
                        format!(
                            "{:.1}s ({} to quit now)",
                            since_ms as f64 / 1000.0,
                            self.keys.global.label_of(GlobalAction::ForceQuit)
                        ),
                        theme.dim_style(),
                    ),
                ];
                popup(f, area, 52, 5, " Quitting ", lines, &theme);
            }
            Popup::None => {}
        }
    }

    fn draw_tabs(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let mut spans = vec![
            Span::styled(
                " trm-tui ",
                Style::default()
                    .fg(theme.bg)
                    .bg(theme.accent)
                    .add_modifier(Modifier::BOLD),
            ),
            Span::raw(" "),
        ];
        let run = match (&self.train.progress, self.train.is_active()) {
            (Some(p), true) => format!(
                "● {} step {}/{} ",
                self.train.state.label(),
                p.step,
                p.total_steps
            ),
            (_, true) => format!("● {} ", self.train.state.label()),
            _ => format!("{} ", self.train.state.label()),
        };
        // Full pane titles when they fit beside the run state, short ones otherwise.
        let full: usize = PaneId::ALL.iter().map(|p| p.title().len() + 5).sum();
        let short = spans.iter().map(|s| s.width()).sum::<usize>() + full + run.chars().count()
            > area.width as usize;
        for (i, p) in PaneId::ALL.iter().enumerate() {
            let st = if *p == self.focus {
                theme.selected().add_modifier(Modifier::BOLD)
            } else {
                Style::default().fg(theme.fg)
            };
            let title = if short { p.short_title() } else { p.title() };
            spans.push(Span::styled(format!(" {} {title} ", i + 1), st));
            spans.push(Span::raw(" "));
        }
        let used: usize = spans.iter().map(|s| s.width()).sum();
        let pad = (area.width as usize).saturating_sub(used + run.chars().count());
        spans.push(Span::raw(" ".repeat(pad)));
        spans.push(Span::styled(
            run,
            Style::default().fg(if self.train.is_active() {
                theme.ok
            } else {
                theme.dim
            }),
        ));
        f.render_widget(Paragraph::new(Line::from(spans)).style(theme.base()), area);
    }

    fn draw_help(&self, f: &mut Frame, area: Rect, theme: &Theme, scroll: u16) {
        let key_st = Style::default()
            .fg(theme.hint_key)
            .add_modifier(Modifier::BOLD);
        let mut lines = Vec::new();
        let mut order = vec![self.focus];
        order.extend(PaneId::ALL.iter().filter(|&&p| p != self.focus));
        let section = |lines: &mut Vec<Line>, title: String, hints: Vec<KeyHint>| {
            lines.push(Line::styled(title, theme.title_style()));
            for (keys, desc) in hints.iter().flat_map(|h| &h.help) {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {keys:<20}"), key_st),
                    Span::styled(desc.clone(), Style::default().fg(theme.fg)),
                ]));
            }
            lines.push(Line::raw(""));
        };
        section(&mut lines, "Global".into(), self.global_hints());
        for p in order {
            for (sub, hints) in self.pane_ref(p).all_hints() {
                let mut title = p.title().to_string();
                if !sub.is_empty() {
                    title = format!("{title} · {sub}");
                }
                if p == self.focus {
                    title.push_str(" (this pane)");
                }
                section(&mut lines, title, hints);
            }
        }
        section(&mut lines, "Help window".into(), self.keys.help.hints());
        section(&mut lines, "Quit question".into(), self.keys.quit.hints());
        let w = 72.min(area.width.saturating_sub(4));
        let h = area.height.saturating_sub(4);
        let r = Rect::new(area.x + (area.width - w) / 2, area.y + 2, w, h);
        f.render_widget(Clear, r);
        f.render_widget(
            Paragraph::new(lines)
                .scroll((scroll, 0))
                .style(theme.base())
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(Style::default().fg(theme.border_focus))
                        .title(Span::styled(" Help ", theme.title_style()))
                        .title_bottom(Line::styled(
                            format!(
                                " {} ",
                                self.keys
                                    .help
                                    .hints()
                                    .iter()
                                    .map(|h| format!("{} {}", h.keys, h.desc))
                                    .collect::<Vec<_>>()
                                    .join(" · ")
                            ),
                            theme.dim_style(),
                        )),
                ),
            r,
        );
    }
}

fn popup(f: &mut Frame, area: Rect, w: u16, h: u16, title: &str, lines: Vec<Line>, theme: &Theme) {
    let w = w.min(area.width);
    let h = h.min(area.height);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).style(theme.base()).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(Style::default().fg(theme.warn))
                .title(Span::styled(title.to_string(), theme.title_style())),
        ),
        r,
    );
}

/// `trm-tui tui`: open the workbench with explicit settings (each also has an environment
/// variable, read when the flag is absent).
#[derive(Debug, Clone, clap::Args)]
pub struct TuiArgs {
    /// Theme name: dark, light, high-contrast or a file in `<config dir>/themes/` [env: TRM_TUI_THEME].
    #[arg(long)]
    pub theme: Option<String>,
    /// Runs root [env: TRM_RUNS_DIR; default ./runs].
    #[arg(long)]
    pub runs: Option<std::path::PathBuf>,
    /// Folder of puzzle files [env: TRM_PUZZLES_DIR; default ./puzzles].
    #[arg(long)]
    pub puzzles: Option<std::path::PathBuf>,
    /// Folder of shipped checkpoints [env: TRM_CHECKPOINTS_DIR; default ./checkpoints].
    #[arg(long)]
    pub checkpoints: Option<std::path::PathBuf>,
    /// Seed of the untrained model and of generated puzzles.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl TuiArgs {
    pub fn options(&self) -> AppOptions {
        let mut o = AppOptions::from_env();
        if self.theme.is_some() {
            o.theme = self.theme.clone();
        }
        if let Some(r) = &self.runs {
            o.paths.runs_dir = r.clone();
        }
        if let Some(p) = &self.puzzles {
            o.paths.puzzles_dir = p.clone();
        }
        if let Some(c) = &self.checkpoints {
            o.paths.checkpoints_dir = c.clone();
        }
        o.seed = self.seed;
        o
    }
}
