//! Text screenshots of the real app for the docs: a real `smoke` run trained to the end on
//! the trainer thread, its curves, the runs pane, and its checkpoint opened in the solver on a
//! shipped puzzle. Ignored by default (it trains); run with
//! `cargo test --test tui_screenshots -- --ignored` and find the files in
//! `target/tui-screenshots/`.

mod tui_common;

use std::time::{Duration, Instant};

use crossterm::event::KeyCode;
use trm_tui::tui::component::PaneId;
use trm_tui::tui::App;
use tui_common::*;

const W: u16 = 120;
const H: u16 = 40;

fn save(app: &mut App, root: &Root, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.txt")), screen(app, root, W, H)).unwrap();
}

#[test]
#[ignore = "trains the smoke preset; writes target/tui-screenshots"]
fn screenshots_of_a_real_smoke_run() {
    let root = Root::new();
    let mut opts = options(&root, "dark");
    opts.paths.puzzles_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/puzzles").into();
    let mut app = App::new(opts);
    app.start();
    settle(&mut app);
    save(&mut app, &root, "0-start-train");
    key(&mut app, KeyCode::Char('3'));
    save(&mut app, &root, "1-start-solver-untrained");
    key(&mut app, KeyCode::Char('1'));
    key(&mut app, KeyCode::Char('r'));
    let t = Instant::now();
    let mut mid = false;
    while !app.train.state.is_terminal() {
        assert!(
            t.elapsed() < Duration::from_secs(900),
            "{:?}",
            app.train.state
        );
        app.tick();
        if !mid && app.train.progress.as_ref().is_some_and(|p| p.step >= 60) {
            save(&mut app, &root, "2-train-running");
            mid = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..20 {
        app.tick();
        std::thread::sleep(Duration::from_millis(30));
    }
    save(&mut app, &root, "3-train-finished");
    app.focus = PaneId::Curves;
    app.curves.poll_all();
    save(&mut app, &root, "4-curves-grid");
    key(&mut app, KeyCode::Char('a'));
    save(&mut app, &root, "5-curves-lm-loss");
    app.focus = PaneId::Runs;
    app.runs.rescan();
    save(&mut app, &root, "6-runs");
    key(&mut app, KeyCode::Enter);
    settle(&mut app);
    assert_eq!(app.focus, PaneId::Solver);
    key(&mut app, KeyCode::Home);
    key(&mut app, KeyCode::Char('j'));
    save(&mut app, &root, "7-solver-checkpoint-step1");
    key(&mut app, KeyCode::End);
    save(&mut app, &root, "8-solver-checkpoint-last");
    key(&mut app, KeyCode::Char('?'));
    save(&mut app, &root, "9-help");
}
