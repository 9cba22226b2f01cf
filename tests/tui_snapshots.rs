//! Insta snapshots of every pane of the real app on a fixed-size `TestBackend` (120x40), with a
//! fixed theme, seed and clock, over a hermetic root (generated puzzles, a run fixture with a
//! real checkpoint, an experiment fixture). Snapshots are text: the colours are asserted in
//! `tui_colours.rs`.

mod tui_common;

use std::io::Write;
use std::path::Path;

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
    // A checkpoint to show: the workbench opens on the solver.
    assert_eq!(app.focus, PaneId::Solver);
    key(&mut app, KeyCode::Char('1'));
    insta::assert_snapshot!("train_idle", screen(&mut app, &root, W, H));
    // An 80x24 terminal: narrower presets and changes leave the form its whole keys.
    insta::assert_snapshot!("train_idle_80x24", screen(&mut app, &root, 80, 24));
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
    // An 80x24 terminal: the step strip drops its latent-norm columns whole, and keeps every
    // figure it shows at full width.
    insta::assert_snapshot!("solver_step2_80x24", screen(&mut app, &root, 80, 24));
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
    // The puzzle picker lists the puzzles the checkpoint cannot take last, dimmed with the
    // reason; typing filters them (fuzzy) down to one maze.
    key(&mut app, KeyCode::Char('p'));
    insta::assert_snapshot!("solver_puzzle_picker", screen(&mut app, &root, W, H));
    chars(&mut app, "maze9-1");
    insta::assert_snapshot!("solver_puzzle_picker_filter", screen(&mut app, &root, W, H));
    key(&mut app, KeyCode::Enter);
    settle(&mut app);
    assert_eq!(app.solver.puzzle().unwrap().name, "maze9-1");
    // The smoke checkpoint cannot take a 9x9 maze: a clear message, no crash.
    insta::assert_snapshot!("solver_maze_mismatch", screen(&mut app, &root, W, H));
    // The model picker puts the untrained model, which fits, first; the checkpoint after it,
    // with why it does not fit. Filter, then switch to the untrained model.
    key(&mut app, KeyCode::Char('m'));
    chars(&mut app, "untr");
    insta::assert_snapshot!("solver_model_picker_filter", screen(&mut app, &root, W, H));
    key(&mut app, KeyCode::Enter);
    settle(&mut app);
    assert!(app.solver.loaded().unwrap().untrained);
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

/// An experiment folder as `trm-tui experiment run` leaves it: the experiment file and, per
/// (variant, seed), a finished run with its planned config and deterministic metrics whose
/// quality depends on the variant and seed.
fn write_experiment(runs_dir: &Path) {
    let text = r#"name = "pair"
description = "n = 2 against n = 1 on the smoke model"
base = "smoke"
seeds = [0, 1]

[set]
max_steps = 200

[[variant]]
name = "n2"

[[variant]]
name = "n1"
set = { "arch.L_cycles" = 1 }

[[compare]]
a = "n2"
b = "n1"
paper_a = 87.4
paper_b = 79.5

[[contrast]]
a = ["n2", "n1"]
b = ["n1", "n2"]
"#;
    let dir = runs_dir.join("experiments").join("pair");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("experiment.toml"), text).unwrap();
    let exp = trm_tui::experiment::Experiment::parse(text, &dir.join("experiment.toml")).unwrap();
    for (i, run) in exp.plan().iter().enumerate() {
        let d = dir.join(&run.dir_name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("config.toml"), run.config.to_toml_string()).unwrap();
        // n2 learns faster than n1; seeds differ a little.
        let rate = if run.variant == "n2" { 60.0 } else { 110.0 } + 10.0 * run.seed as f64;
        let mut f = std::fs::File::create(d.join("metrics.jsonl")).unwrap();
        for s in 1..=200u64 {
            let x = s as f64;
            let noise = ((x * 12.9898 + i as f64).sin() * 43758.5453).fract() * 0.1;
            writeln!(
                f,
                "{{\"step\":{s},\"epoch\":{},\"wall_s\":{},\"split\":\"train\",\"lm_loss\":{},\"accuracy\":{},\"count\":{},\"steps\":{},\"samples_per_s\":{}}}",
                x / 8.0,
                x * 0.25 * (1.0 + i as f64 / 10.0),
                2.0 * (-x / rate).exp() + 0.1 + noise,
                0.9 * (1.0 - (-x / rate).exp()),
                if s % 3 == 0 { 32 } else { 0 },
                3.0 - (x / 200.0),
                128.0 / (1.0 + i as f64 / 10.0),
            )
            .unwrap();
            if s % 50 == 0 {
                writeln!(
                    f,
                    "{{\"step\":{s},\"epoch\":{},\"wall_s\":{},\"split\":\"eval\",\"lm_loss\":{},\"accuracy\":{},\"exact_accuracy\":{}}}",
                    x / 8.0,
                    x * 0.25 * (1.0 + i as f64 / 10.0),
                    1.8 * (-x / rate).exp() + 0.15,
                    0.85 * (1.0 - (-x / rate).exp()),
                    0.6 * (1.0 - (-x / (2.0 * rate)).exp()),
                )
                .unwrap();
            }
        }
        std::fs::write(
            d.join("events.jsonl"),
            "{\"kind\":\"start\",\"step\":0,\"time\":0}\n{\"kind\":\"finish\",\"step\":200,\"time\":1}\n",
        )
        .unwrap();
    }
}

#[test]
fn experiments_pane() {
    let root = fixture();
    // No experiment yet: how to make one.
    let mut app = app(&root, "dark");
    key(&mut app, KeyCode::Char('6'));
    assert_eq!(app.focus, PaneId::Experiments);
    insta::assert_snapshot!("experiments_empty", screen(&mut app, &root, W, H));
    write_experiment(&root.paths().runs_dir);
    key(&mut app, KeyCode::Char('r'));
    let report = app.experiments.report().unwrap();
    assert_eq!(report.progress(), (4, 4));
    insta::assert_snapshot!("experiments_report", screen(&mut app, &root, W, H));
    // The second variant, every seed, the eval loss.
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Char('s'));
    key(&mut app, KeyCode::Char('L'));
    insta::assert_snapshot!(
        "experiments_each_seed_eval_loss",
        screen(&mut app, &root, W, H)
    );
    // The Runs pane does not list the experiments folder as a run.
    assert!(app.runs.runs.iter().all(|r| r.name != "experiments"));
    // Enter follows the variant's runs in the Curves pane.
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.focus, PaneId::Curves);
    assert!(app
        .curves
        .runs
        .iter()
        .any(|r| r.dir.ends_with("pair/n1-s1")));
}
