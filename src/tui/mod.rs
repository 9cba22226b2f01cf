//! The terminal workbench: ratatui + crossterm on a tokio event loop.
//!
//! - [`app`]: the app (panes, key routing, actions, drawing), headless-testable;
//! - [`catalog`]: what is on disk (puzzle sets, checkpoints, run and experiment folders);
//! - [`keys`]: the key tables (dispatch, hint bar, help, remapping) and list navigation;
//! - [`picker`]: the fuzzy-filtered chooser every list choice uses;
//! - [`component`]: the pane contract (keys, declared hints, draw) and the actions;
//! - [`panes`]: Train, Curves, Solver, Runs, Logs, Experiments;
//! - [`theme`], [`config`]: themes (`themes/*.toml`, built in and user), dirs and config file;
//! - [`grid`], [`chart`]: the puzzle grid widget and the curve processing;
//! - [`worker`]: the solver thread.
//!
//! [`run`] owns the terminal: raw mode and the alternate screen, restored on exit, on error and
//! on a panic of the UI thread (color-eyre hooks chained after the restore). A panic on another
//! thread (solver, trainer) does not tear the screen down: it is reported in the Logs pane.

pub mod app;
pub mod app_keys;
pub mod catalog;
pub mod chart;
pub mod component;
pub mod config;
pub mod fmt;
pub mod grid;
pub mod keys;
pub mod panes;
pub mod picker;
pub mod theme;
pub mod worker;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use color_eyre::eyre::{bail, Result, WrapErr};
use crossterm::event::{Event, KeyEventKind};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

pub use app::{App, AppOptions};

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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .wrap_err("cannot start the async runtime")?;
    crossterm::terminal::enable_raw_mode().wrap_err("cannot switch the terminal to raw mode")?;
    TUI_ACTIVE.store(true, Ordering::SeqCst);
    let res = (|| -> Result<()> {
        crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen)?;
        let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
        terminal.clear()?;
        rt.block_on(event_loop(&mut terminal, opts))
    })();
    restore_terminal();
    // The runtime holds no task of ours; do not wait for the input thread's blocking poll.
    rt.shutdown_timeout(Duration::from_millis(100));
    res
}

async fn event_loop<B: ratatui::backend::Backend>(
    terminal: &mut Terminal<B>,
    opts: AppOptions,
) -> Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_reader = stop.clone();
    std::thread::Builder::new()
        .name("input".into())
        .spawn(move || {
            while !stop_reader.load(Ordering::SeqCst) {
                match crossterm::event::poll(Duration::from_millis(100)) {
                    Ok(true) => match crossterm::event::read() {
                        Ok(ev) => {
                            if tx.send(ev).is_err() {
                                break;
                            }
                        }
                        Err(_) => break,
                    },
                    Ok(false) => {}
                    Err(_) => break,
                }
            }
        })
        .wrap_err("cannot start the input thread")?;
    let mut app = App::new(opts);
    app.start();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let result = loop {
        if app.dirty {
            if let Err(e) = terminal.draw(|f| app.draw(f)) {
                break Err(e).wrap_err("drawing failed");
            }
            app.dirty = false;
        }
        if app.should_quit {
            break Ok(());
        }
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break Ok(()) };
                handle_event(&mut app, ev);
                // Take every event already queued before drawing again.
                while let Ok(ev) = rx.try_recv() {
                    handle_event(&mut app, ev);
                }
            }
            _ = tick.tick() => {
                app.tick();
                let panics: Vec<String> = BACKGROUND_PANICS.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
                for p in panics {
                    app.apply(component::Ctx { actions: vec![component::Action::Log { level: component::Level::Error, source: "panic", message: p }] });
                }
            }
        }
    };
    stop.store(true, Ordering::SeqCst);
    result
}

fn handle_event(app: &mut App, ev: Event) {
    match ev {
        Event::Key(k) if k.kind != KeyEventKind::Release => app.handle_key(k),
        Event::Resize(_, _) => app.dirty = true,
        _ => {}
    }
}
