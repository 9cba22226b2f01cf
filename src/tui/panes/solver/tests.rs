//! Unit tests of the solver pane on the real worker (untrained models, generated puzzles).

use super::*;
use crate::data::maze::PathCheck;
use crate::data::Grid;
use crate::tui::catalog::generated_sets;
use crate::tui::worker::untrained_config;
use crossterm::event::{KeyCode, KeyModifiers};
use std::time::Duration;

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn pane() -> (SolverPane, Ctx, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = Ctx::default();
    let mut p = SolverPane::new(Paths::under(dir.path()), 0, &mut ctx);
    p.start(&mut ctx, None);
    assert!(p.wait_idle(Duration::from_secs(120), &mut ctx));
    (p, ctx, dir)
}

#[test]
fn default_is_untrained_on_a_generated_sudoku_and_steps_through() {
    let (mut p, mut ctx, _d) = pane();
    assert_eq!(p.phase, Phase::Ready, "{:?}", p.phase);
    let l = p.loaded.as_ref().unwrap();
    assert!(l.untrained);
    assert_eq!(p.steps.len(), 16);
    assert_eq!(p.cur(), 15, "follows the newest step while solving");
    p.handle_key(key(KeyCode::Home), &mut ctx);
    assert_eq!(p.cur(), 0);
    p.handle_key(key(KeyCode::Right), &mut ctx);
    p.handle_key(key(KeyCode::Right), &mut ctx);
    assert_eq!(p.cur(), 2);
    p.handle_key(key(KeyCode::Left), &mut ctx);
    assert_eq!(p.cur(), 1);
    p.handle_key(key(KeyCode::End), &mut ctx);
    assert_eq!(p.cur(), 15);
    p.handle_key(key(KeyCode::Right), &mut ctx);
    assert_eq!(p.cur(), 15, "clamped at the end");
    // The lens walks H-cycles inside steps.
    p.handle_key(key(KeyCode::Home), &mut ctx);
    p.handle_key(key(KeyCode::Char('c')), &mut ctx);
    assert_eq!(p.lens(), Some(2));
    p.handle_key(key(KeyCode::Right), &mut ctx);
    assert_eq!((p.cur(), p.lens()), (1, Some(0)));
    p.handle_key(key(KeyCode::Left), &mut ctx);
    assert_eq!((p.cur(), p.lens()), (0, Some(2)));
    p.handle_key(key(KeyCode::Char('c')), &mut ctx);
    assert_eq!(p.lens(), None);
    // Overlay cycles.
    let o = p.overlay;
    for _ in 0..4 {
        p.handle_key(key(KeyCode::Char('o')), &mut ctx);
    }
    assert_eq!(p.overlay, o);
    let stats = p.stats();
    assert_eq!(stats.len(), 16);
    assert!(stats.iter().all(|s| s.accuracy.is_some()));
}

#[test]
fn play_advances_and_stops_at_the_end() {
    let (mut p, mut ctx, _d) = pane();
    p.handle_key(key(KeyCode::Home), &mut ctx);
    p.set_play_interval(Duration::ZERO);
    p.handle_key(key(KeyCode::Char(' ')), &mut ctx);
    assert!(p.playing());
    for _ in 0..20 {
        p.tick(&mut ctx);
    }
    assert_eq!(p.cur(), 15);
    assert!(!p.playing());
}

#[test]
fn pick_next_puzzle_and_maze_reloads_untrained_model() {
    let (mut p, mut ctx, _d) = pane();
    p.handle_key(key(KeyCode::Char('n')), &mut ctx);
    assert_eq!(p.puzzle_idx, 1);
    assert!(p.wait_idle(Duration::from_secs(120), &mut ctx));
    // Pick the first maze in the picker by typing a filter.
    p.handle_key(key(KeyCode::Char('p')), &mut ctx);
    assert!(p.capturing_input());
    for c in "maze9-0".chars() {
        p.handle_key(key(KeyCode::Char(c)), &mut ctx);
    }
    assert_eq!(p.picker_query(), Some("maze9-0"));
    p.handle_key(key(KeyCode::Enter), &mut ctx);
    assert!(matches!(p.mode, Mode::Normal));
    assert!(matches!(
        p.puzzle.as_ref().unwrap().kind,
        PuzzleKind::Maze { .. }
    ));
    assert_eq!(
        p.phase,
        Phase::Loading,
        "an untrained model is rebuilt for the maze shape"
    );
    assert!(p.wait_idle(Duration::from_secs(120), &mut ctx));
    assert_eq!(p.phase, Phase::Ready);
    assert_eq!(p.loaded.as_ref().unwrap().config.seq_len, 81);
    assert_eq!(p.loaded.as_ref().unwrap().config.vocab_size, 6);
    assert_eq!(p.target.as_ref().unwrap().source, "label");
}

#[test]
fn typed_sudoku_gets_the_classical_target() {
    let (mut p, mut ctx, _d) = pane();
    assert_eq!(
        p.puzzle.as_ref().unwrap().kind,
        PuzzleKind::Sudoku { size: 4 }
    );
    p.handle_key(key(KeyCode::Char('e')), &mut ctx);
    assert!(p.capturing_input());
    // Clear everything, then type a 4x4 puzzle row by row.
    assert!(p.editing());
    p.edit_blank();
    for ch in "12..34..........".chars() {
        p.handle_key(key(KeyCode::Char(ch)), &mut ctx);
    }
    p.handle_key(key(KeyCode::Char('q')), &mut ctx); // not a value: a warning, not a quit
    p.handle_key(key(KeyCode::Enter), &mut ctx);
    assert!(matches!(p.mode, Mode::Normal));
    let t = p.target.as_ref().unwrap();
    assert_eq!(t.source, "classical solver");
    assert_eq!(&t.tokens[..4], &[2, 3, 4, 5]);
    assert_eq!(p.puzzle.as_ref().unwrap().name, "typed");
    assert!(p.wait_idle(Duration::from_secs(120), &mut ctx));
    assert_eq!(p.steps.len(), 16);
}

#[test]
fn built_dataset_folders_are_puzzle_sets_of_their_test_split() {
    use crate::data::build::{build_maze, GridBuildConfig, Output};
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::under(dir.path());
    std::fs::create_dir_all(&paths.puzzles_dir).unwrap();
    // A tiny maze CSV from the generated set, built into a dataset folder inside the
    // puzzles dir (outside it, the CSV itself would also be a set).
    let (gen, errs) = generated_sets(0);
    assert!(errs.is_empty(), "{errs:?}");
    let mazes = gen
        .iter()
        .find(|s| matches!(s.kind, PuzzleKind::Maze { .. }))
        .unwrap();
    let csv = dir.path().join("mazes.csv");
    crate::data::csv::write_hf_csv(&csv, &mazes.puzzles).unwrap();
    let cfg = GridBuildConfig {
        train_files: vec![csv],
        test_fraction: 0.5,
        num_aug: 0,
        seed: 1,
        ..GridBuildConfig::default()
    };
    let built = build_maze(&cfg, Output::Dir(&paths.puzzles_dir.join("maze-ds"))).unwrap();
    let n_test = built.test.meta.total_groups;
    assert!(n_test > 0);
    // A broken dataset folder: an error in the Logs and the status line, not a crash.
    let broken = paths.puzzles_dir.join("broken-ds");
    for split in ["train", "test"] {
        std::fs::create_dir_all(broken.join(split)).unwrap();
        std::fs::write(broken.join(split).join("dataset.json"), "{ nope").unwrap();
    }
    let mut ctx = Ctx::default();
    let mut p = SolverPane::new(paths.clone(), 0, &mut ctx);
    let set = p.sets.iter().position(|s| s.name == "maze-ds").unwrap();
    let s = &p.sets[set];
    assert_eq!(s.kind, PuzzleKind::Maze { rows: 9, cols: 9 });
    assert_eq!(s.puzzles.len(), n_test);
    assert_eq!(s.puzzle_ids.len(), n_test);
    for q in &s.puzzles {
        let label = q.label.as_ref().unwrap();
        assert_eq!(
            crate::data::maze::check_path(&q.input, label),
            PathCheck::Correct
        );
        assert!(mazes.puzzles.iter().any(|m| m.input == q.input));
    }
    assert!(!p.sets.iter().any(|s| s.name == "broken-ds"));
    // An error log line is also put on the status line by the app.
    assert!(
        ctx.actions.iter().any(|a| matches!(
            a,
            crate::tui::component::Action::Log { level: Level::Error, message: m, .. } if m.contains("broken-ds")
        )),
        "{:?}",
        ctx.actions
    );
    // Solving one of its puzzles passes the example's identifier.
    p.set_puzzle(set, 0, &mut ctx, true);
    assert_eq!(p.puzzle_id, p.sets[set].puzzle_id(0));
    assert!(p.wait_idle(Duration::from_secs(120), &mut ctx));
    assert_eq!(p.phase, Phase::Ready, "{:?}", p.phase);
    assert_eq!(p.target.as_ref().unwrap().source, "label");
    // `--puzzles DIR` pointing at the folder itself.
    let only = Paths {
        puzzles_dir: paths.puzzles_dir.join("maze-ds"),
        ..paths
    };
    let mut ctx = Ctx::default();
    let p = SolverPane::new(only, 0, &mut ctx);
    assert_eq!(p.sets.len(), 1, "{:?}", ctx.actions);
    assert_eq!(p.sets[0].name, "maze-ds");
    assert_eq!(p.sets[0].puzzles.len(), n_test);
}

#[test]
fn a_valid_shortest_maze_path_other_than_the_label_counts_as_right() {
    let (mut p, _ctx, _d) = pane();
    let kind = PuzzleKind::Maze { rows: 5, cols: 5 };
    let g = |rows: [&str; 5]| Grid::new(5, 5, rows.concat().into_bytes());
    let q = g(["#####", "#S  #", "#   #", "#  G#", "#####"]);
    let label = g(["#####", "#Soo#", "#  o#", "#  G#", "#####"]);
    let other = g(["#####", "#S  #", "#o  #", "#ooG#", "#####"]);
    let broken = g(["#####", "#So #", "#   #", "#  G#", "#####"]);
    p.puzzle = Some(Puzzle {
        name: "two paths".into(),
        kind,
        input: q,
        label: Some(label),
        rating: None,
    });
    p.target = scoring::target_of(p.puzzle.as_ref().unwrap());
    let step = |g: &Grid| SolveStep {
        step: 1,
        pred: kind.encode(g).iter().map(|&t| t as u32).collect(),
        probs: vec![vec![0.0; 6]; 25],
        q_halt: 0.0,
        q_continue: 0.0,
        z_h_norm: 1.0,
        z_l_norm: 1.0,
        z_h_delta: 0.0,
        z_l_delta: 0.0,
        cycle_preds: Vec::new(),
    };
    p.steps.set(vec![step(&other), step(&broken)], 0);
    let st = p.stats();
    assert_eq!(st[0].path_check, Some(PathCheck::Correct));
    assert_eq!((st[0].accuracy, st[0].exact), (Some(1.0), Some(true)));
    assert_eq!(
        p.overlay_target().unwrap(),
        kind.encode(&other),
        "the overlay judges against the valid path"
    );
    assert!(matches!(st[1].path_check, Some(PathCheck::Invalid(_))));
    assert_eq!(st[1].exact, Some(false));
    p.steps.show(1);
    assert_eq!(
        p.overlay_target().unwrap(),
        p.target.as_ref().unwrap().tokens
    );
    assert_eq!(
        path_verdict(&PathCheck::Correct),
        "valid shortest path".to_string()
    );
}

#[test]
fn mismatched_checkpoint_is_an_error_message() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::under(dir.path());
    // A real weights file for 900-cell inputs (no puzzle of that shape exists here).
    let cfg = untrained_config(6, 100);
    let m = crate::model::TrmModel::new(cfg.clone(), 0, &candle_core::Device::Cpu).unwrap();
    let mut meta = std::collections::HashMap::new();
    meta.insert("model_config".to_string(), cfg.to_toml_string());
    std::fs::create_dir_all(&paths.checkpoints_dir).unwrap();
    let ck = paths.checkpoints_dir.join("maze10.safetensors");
    crate::model::weights::save_safetensors(&ck, &m.state_dict(), &meta).unwrap();
    std::fs::write(paths.checkpoints_dir.join("garbage.safetensors"), b"nope").unwrap();
    let mut ctx = Ctx::default();
    let mut p = SolverPane::new(paths, 0, &mut ctx);
    assert_eq!(p.models.len(), 3);
    p.start(&mut ctx, None);
    assert!(p.wait_idle(Duration::from_secs(120), &mut ctx));
    assert!(
        p.loaded.as_ref().unwrap().untrained,
        "no puzzle fits the checkpoint"
    );
    p.open_checkpoint(&ck, &mut ctx);
    assert!(p.wait_idle(Duration::from_secs(120), &mut ctx));
    match &p.phase {
        Phase::Failed(m) => assert!(m.contains("100 cells"), "{m}"),
        other => panic!("{other:?}"),
    }
    let garbage = p
        .models
        .iter()
        .position(|m| matches!(m, ModelChoice::Checkpoint { info, .. } if info.path.ends_with("garbage.safetensors")))
        .unwrap();
    p.model_idx = garbage;
    p.load_selected(&mut ctx);
    assert!(p.wait_idle(Duration::from_secs(60), &mut ctx));
    assert!(matches!(p.phase, Phase::Failed(_)));
}

/// With the shipped models and puzzles, the pane opens on the first model in showcase order
/// and on a puzzle it gets right only after several supervision steps, playing them from the
/// first.
#[test]
fn opens_a_shipped_model_on_a_puzzle_whose_steps_matter() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths {
        puzzles_dir: root.join("puzzles"),
        checkpoints_dir: root.join("checkpoints"),
        ..Paths::under(dir.path())
    };
    let mut ctx = Ctx::default();
    let mut p = SolverPane::new(paths, 0, &mut ctx);
    p.start(&mut ctx, None);
    assert!(p.wait_idle(Duration::from_secs(600), &mut ctx));
    assert!(p.checkpoint_selected());
    assert_eq!(p.phase, Phase::Ready, "{:?}", p.phase);
    let first = match &p.models[0] {
        ModelChoice::Checkpoint { info, .. } => info.path.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        p.loaded.as_ref().map(|l| &l.source),
        Some(&crate::tui::worker::ModelSource::Checkpoint(first))
    );
    assert!(
        p.playing() && p.cur() == 0,
        "plays the steps from the first"
    );
    // The shown puzzle is right in the end, and only from step 2 or later.
    let steps_matter = |p: &SolverPane| {
        let right: Vec<bool> = p.stats().iter().map(|s| s.exact == Some(true)).collect();
        let from = scoring::right_from(&right);
        assert!(
            from.is_some_and(|s| s >= 2),
            "puzzle {} of {} is right from step {from:?}: {right:?}",
            p.puzzle_idx,
            p.sets[p.set_idx].name
        );
    };
    steps_matter(&p);

    // Choosing a model the puzzle does not fit moves to that model's own set, and to a puzzle
    // whose steps matter there too: the shipped 9x9 maze model on its held-out mazes.
    let maze = p
        .models
        .iter()
        .position(|m| matches!(m, ModelChoice::Checkpoint { info, .. } if info.path.ends_with("maze9-cpu.safetensors")))
        .expect("maze9-cpu is shipped");
    p.choose_model(maze, &mut ctx);
    assert!(p.wait_idle(Duration::from_secs(600), &mut ctx));
    assert_eq!(p.phase, Phase::Ready, "{:?}", p.phase);
    assert!(p.sets[p.set_idx].name.ends_with("maze-9x9-heldout.csv"));
    steps_matter(&p);
}

/// A model opens on a set of exactly its kind, its held-out set first.
#[test]
fn a_model_opens_on_its_own_kind_and_held_out_set() {
    let set = |name: &str, kind: PuzzleKind| PuzzleSet {
        name: name.into(),
        kind,
        puzzles: Vec::new(),
        puzzle_ids: Vec::new(),
    };
    let maze = PuzzleKind::Maze { rows: 9, cols: 9 };
    let sudoku = PuzzleKind::Sudoku { size: 9 };
    let sets = [
        set("maze-9x9", maze),
        set("sudoku-9x9-easy", sudoku),
        set("sudoku-9x9-heldout", sudoku),
        set("sudoku-9x9-medium", sudoku),
    ];
    let sudoku_model = (sudoku.seq_len(), sudoku.vocab_size());
    assert_eq!(showcase_set(&sets, sudoku_model), Some(2));
    assert_eq!(showcase_set(&sets[..2], sudoku_model), Some(1));
    // A maze fits a 9x9 Sudoku model's vocabulary: the fallback when nothing else does.
    assert_eq!(showcase_set(&sets[..1], sudoku_model), Some(0));
    let maze_model = (maze.seq_len(), maze.vocab_size());
    assert_eq!(showcase_set(&sets, maze_model), Some(0));
    assert_eq!(showcase_set(&sets[1..], (16, 6)), None);
}
