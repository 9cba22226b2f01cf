//! Insta snapshots of every pane of the real app on a fixed-size `TestBackend` (120x40), with a
//! fixed theme, seed and clock, over a hermetic root (generated puzzles, a run fixture with a
//! real checkpoint). Snapshots are text: the colours are asserted in `tui_colours.rs`.

mod tui_common;

use crossterm::event::KeyCode;
use trm_tui::tui::app::Popup;
use trm_tui::tui::component::PaneId;
use tui_common::*;

const W: u16 = 120;
const H: u16 = 40;

fn fixture() -> Root {
    let root = Root::new();
    let runs = root.paths().runs_dir;
    let a = write_run(&runs, "20250101-000000-smoke", 200, 1.0);
    write_run(&runs, "20250102-000000-smoke", 120, 1.3);
    write_checkpoint(&a, 200, 0.5);
    root
}

#[test]
fn train_pane() {
    let root = fixture();
    let mut app = app(&root, "dark");
    assert_eq!(app.focus, PaneId::Train);
    insta::assert_snapshot!("train_idle", screen(&mut app, &root, W, H));
    // Edit a field: the form shows the edit, the diff panel the change.
    key(&mut app, KeyCode::Char('l'));
    for _ in 0..3 {
        key(&mut app, KeyCode::Char('j'));
    }
    key(&mut app, KeyCode::Enter);
    chars(&mut app, "x");
    insta::assert_snapshot!("train_editing_invalid", screen(&mut app, &root, W, H));
    key(&mut app, KeyCode::Esc);
}

#[test]
fn curves_pane() {
    let root = fixture();
    let mut app = app(&root, "dark");
    key(&mut app, KeyCode::Char('2'));
    insta::assert_snapshot!("curves_grid", screen(&mut app, &root, W, H));
    // One metric, log-y, wall-time axis, zoomed in.
    key(&mut app, KeyCode::Char('a'));
    key(&mut app, KeyCode::Char('L'));
    key(&mut app, KeyCode::Char('+'));
    insta::assert_snapshot!("curves_single_log_zoom", screen(&mut app, &root, W, H));
}

#[test]
fn solver_pane() {
    let root = fixture();
    let mut app = app(&root, "dark");
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::Home);
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Char('l'));
    key(&mut app, KeyCode::Char('j'));
    insta::assert_snapshot!("solver_step2", screen(&mut app, &root, W, H));
    key(&mut app, KeyCode::Char('m'));
    insta::assert_snapshot!("solver_model_picker", screen(&mut app, &root, W, H));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('e'));
    insta::assert_snapshot!("solver_editing", screen(&mut app, &root, W, H));
}

#[test]
fn solver_maze_and_checkpoint() {
    let root = fixture();
    let mut app = app(&root, "dark");
    key(&mut app, KeyCode::Char('3'));
    // The generated maze set is the last one; pick its first puzzle.
    key(&mut app, KeyCode::Char('p'));
    key(&mut app, KeyCode::Char('k'));
    key(&mut app, KeyCode::Char('k'));
    key(&mut app, KeyCode::Char('k'));
    key(&mut app, KeyCode::Enter);
    settle(&mut app);
    // The smoke checkpoint cannot take a 9x9 maze: a clear message, no crash.
    insta::assert_snapshot!("solver_maze_mismatch", screen(&mut app, &root, W, H));
    // Switch to the untrained model (the last entry of the picker).
    key(&mut app, KeyCode::Char('m'));
    key(&mut app, KeyCode::Char('k'));
    key(&mut app, KeyCode::Enter);
    settle(&mut app);
    assert!(app.solver.loaded.as_ref().unwrap().untrained);
    key(&mut app, KeyCode::End);
    insta::assert_snapshot!("solver_maze", screen(&mut app, &root, W, H));
}

#[test]
fn runs_pane() {
    let root = fixture();
    let mut app = app(&root, "dark");
    key(&mut app, KeyCode::Char('4'));
    key(&mut app, KeyCode::Char('j'));
    insta::assert_snapshot!("runs_list", screen(&mut app, &root, W, H));
    key(&mut app, KeyCode::Char('m'));
    key(&mut app, KeyCode::Char('k'));
    key(&mut app, KeyCode::Char('c'));
    key(&mut app, KeyCode::Char('l'));
    insta::assert_snapshot!("runs_compare", screen(&mut app, &root, W, H));
}

#[test]
fn logs_help_quit_and_small_terminal() {
    let root = fixture();
    let mut app = app(&root, "dark");
    key(&mut app, KeyCode::Char('5'));
    insta::assert_snapshot!("logs", screen(&mut app, &root, W, H));
    key(&mut app, KeyCode::Char('?'));
    assert!(matches!(app.popup, Popup::Help { .. }));
    insta::assert_snapshot!("help", screen(&mut app, &root, W, H));
    key(&mut app, KeyCode::Esc);
    app.popup = Popup::QuitConfirm;
    insta::assert_snapshot!("quit_confirm", screen(&mut app, &root, W, H));
    app.popup = Popup::None;
    insta::assert_snapshot!("too_small", screen(&mut app, &root, 60, 20));
}

#[test]
fn light_theme_solver() {
    let root = fixture();
    let mut app = app(&root, "light");
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::Char('o'));
    insta::assert_snapshot!("solver_light_diff", screen(&mut app, &root, W, H));
}
