//! The terminal workbench: ratatui + crossterm, one event channel ([`events`]).
//!
//! - [`app`]: the app (panes, key routing, actions, drawing), headless-testable;
//! - [`catalog`]: what is on disk (puzzle sets, checkpoints, run and experiment folders);
//! - [`keys`]: the key tables (dispatch, hint bar, help, remapping) and list navigation;
//! - [`picker`]: the fuzzy-filtered chooser every list choice uses;
//! - [`component`]: the pane contract (keys, declared hints, draw) and the actions;
//! - [`panes`]: Train, Curves, Solver, Runs, Logs, Experiments;
//! - [`theme`], [`config`]: themes (`themes/*.toml`, built in and user), dirs and config file;
//! - [`grid`], [`chart`]: the puzzle grid widget and the curve processing;
//! - [`events`]: the app's event channel (input, trainer, solver, tick);
//! - [`worker`]: the solver thread.
//!
//! [`run`] owns the terminal: raw mode and the alternate screen, restored on exit, on error and
//! on a panic of the UI thread (color-eyre hooks chained after the restore). A panic on another
//! thread (solver, trainer) does not tear the screen down: it is reported in the Logs pane.

pub mod app;
pub mod app_keys;
pub mod catalog;
pub mod chart;
pub mod columns;
pub mod component;
pub mod config;
pub mod events;
pub mod fmt;
pub mod grid;
pub mod keys;
pub mod panes;
pub mod picker;
pub mod theme;
pub mod worker;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use color_eyre::eyre::{bail, Result, WrapErr};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

pub use app::{App, AppOptions};
use events::AppEvent;

/// True while the terminal is in raw mode / the alternate screen.
static TUI_ACTIVE: AtomicBool = AtomicBool::new(false);
/// Panics of background threads, drained into the Logs pane.
static BACKGROUND_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Leave raw mode and the alternate screen (idempotent).
pub fn restore_terminal() {
    if TUI_ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = crossterm::terminal::disable_raw_mode();
        let _ = crossterm::execute!(
            std::io::stdout(),
            crossterm::terminal::LeaveAlternateScreen,
            crossterm::cursor::Show
        );
    }
}

/// color-eyre's panic and error hooks, with the terminal restored before a UI-thread panic is
/// printed; background-thread panics are kept for the Logs pane instead.
pub fn install_hooks() -> Result<()> {
    let (panic_hook, eyre_hook) = color_eyre::config::HookBuilder::default().into_hooks();
    eyre_hook.install()?;
    let panic_hook = panic_hook.into_panic_hook();
    std::panic::set_hook(Box::new(move |info| {
        let name = std::thread::current().name().unwrap_or("?").to_string();
        if name == "main" || !TUI_ACTIVE.load(Ordering::SeqCst) {
            restore_terminal();
            panic_hook(info);
        } else if let Ok(mut v) = BACKGROUND_PANICS.lock() {
            v.push(format!("thread `{name}` panicked: {info}"));
        }
    }));
    Ok(())
}

/// Open the workbench in this terminal and run it until the user quits.
pub fn run(opts: AppOptions) -> Result<()> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        bail!("the workbench needs a terminal (stdin and stdout are not both a TTY); see `trm-tui --help` for the headless commands");
    }
    install_hooks()?;
    crossterm::terminal::enable_raw_mode().wrap_err("cannot switch the terminal to raw mode")?;
    TUI_ACTIVE.store(true, Ordering::SeqCst);
    let res = (|| -> Result<()> {
        crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen)?;
        let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
        terminal.clear()?;
        event_loop(&mut terminal, opts)
    })();
    restore_terminal();
    res
}

/// Animation frame interval (solver playback, the quit countdown).
const TICK: Duration = Duration::from_millis(50);

/// Draw when something changed, then block on the app's channel and handle each event as it
/// arrives (with every event already queued before the next draw). The input thread blocks in
/// crossterm's `read` (no polling) and is left blocked at exit.
fn event_loop<B: ratatui::backend::Backend>(
    terminal: &mut Terminal<B>,
    opts: AppOptions,
) -> Result<()> {
    let mut app = App::new(opts);
    let tx = app.event_sender();
    std::thread::Builder::new()
        .name("input".into())
        .spawn(move || {
            while let Ok(ev) = crossterm::event::read() {
                if tx.send(AppEvent::Input(ev)).is_err() {
                    break;
                }
            }
        })
        .wrap_err("cannot start the input thread")?;
    let tx = app.event_sender();
    std::thread::Builder::new()
        .name("tick".into())
        .spawn(move || loop {
            std::thread::sleep(TICK);
            if tx.send(AppEvent::Tick).is_err() {
                break;
            }
        })
        .wrap_err("cannot start the tick thread")?;
    app.start();
    loop {
        if app.dirty {
            terminal.draw(|f| app.draw(f)).wrap_err("drawing failed")?;
            app.dirty = false;
        }
        if app.should_quit {
            return Ok(());
        }
        let Some(ev) = app.recv() else {
            return Ok(());
        };
        let tick = matches!(ev, AppEvent::Tick);
        app.handle_event(ev);
        app.drain_events();
        if tick {
            let panics: Vec<String> = BACKGROUND_PANICS
                .lock()
                .map(|mut v| std::mem::take(&mut *v))
                .unwrap_or_default();
            let mut ctx = component::Ctx::default();
            for p in panics {
                ctx.log(component::Level::Error, "app", p);
            }
            app.apply(ctx);
        }
    }
}
