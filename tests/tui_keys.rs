//! Key remapping end to end: a `[keys.<table>]` section of the config file changes what a key
//! does in the real app, and the hint bar and the help show the keys in effect; a bad entry is
//! reported and the default keys stay.

mod tui_common;

use crossterm::event::KeyCode;
use trm_tui::tui::app::Popup;
use trm_tui::tui::component::PaneId;
use tui_common::*;

#[test]
fn config_remaps_dispatch_bar_and_help() {
    let root = Root::new();
    let cfg = root.paths().config_file().unwrap();
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(
        &cfg,
        "[keys.global]\nhelp = [\"F2\"]\n\n[keys.solver]\nstep_forward = [\"f\", \"Right\"]\nno_such_action = \"z\"\n",
    )
    .unwrap();
    let mut app = app(&root, "dark");
    // The unknown action is reported, naming the table and the actions it has.
    let s = screen(&mut app, &root, 120, 40);
    assert!(s.contains("keys.solver: no action `no_such_action`"), "{s}");
    key(&mut app, KeyCode::Char('3'));
    assert_eq!(app.focus, PaneId::Solver);
    key(&mut app, KeyCode::Home);
    key(&mut app, KeyCode::Char('f'));
    assert_eq!(app.solver.cur(), 1, "f steps forward");
    // `?` is no longer help; F2 is, and the bar says so.
    key(&mut app, KeyCode::Char('?'));
    assert_eq!(app.popup, Popup::None);
    let s = screen(&mut app, &root, 120, 40);
    let bar = s.lines().last().unwrap();
    assert!(bar.contains("F2 help") && bar.contains("←/f step"), "{bar}");
    key(&mut app, KeyCode::F(2));
    assert!(matches!(app.popup, Popup::Help { .. }));
    let s = screen(&mut app, &root, 120, 40);
    assert!(s.contains("f/→"), "the help lists the keys in effect:\n{s}");
}
