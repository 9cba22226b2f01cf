//! Colour assertions (snapshots drop colours): the solver overlays on the real app (cell
//! backgrounds against the model's own numbers), the ARC palette and maze half-blocks, theme
//! switching, and a broken user theme shown as a message with the built-in fallback.

mod tui_common;

use crossterm::event::KeyCode;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;
use trm_tui::data::{Grid, PuzzleKind};
use trm_tui::tui::grid::{CellMode, GridLayout, GridView, Overlay};
use trm_tui::tui::theme::{Theme, ARC_PALETTE};
use tui_common::*;

/// Origin of the solver's grid on a 120x40 screen: pane border, header (4 rows), grid border.
const GX: u16 = 2;
const GY: u16 = 7;

fn solver_app(root: &Root) -> trm_tui::tui::App {
    let mut app = app(root, "dark");
    key(&mut app, KeyCode::Char('3'));
    app
}

#[test]
fn correctness_overlay_matches_the_models_answer() {
    let root = Root::new();
    let mut app = solver_app(&root);
    key(&mut app, KeyCode::End);
    let s = &app.solver;
    assert_eq!(s.overlay(), Overlay::Correctness);
    let p = s.puzzle().cloned().unwrap();
    let PuzzleKind::Sudoku { size } = p.kind else {
        panic!("{:?}", p.kind)
    };
    let layout = GridLayout::new(p.kind, (size, size), Rect::new(0, 0, 60, 30));
    let pred = s.steps()[s.cur()].pred.clone();
    let target = s.target().cloned().unwrap().tokens;
    let input = p.input_tokens();
    let theme = Theme::builtin("dark").unwrap();
    let buf = draw(&mut app, 120, 40);
    let (mut right, mut wrong) = (0, 0);
    for r in 0..size {
        for c in 0..size {
            let i = r * size + c;
            let (x, y) = layout.cell_pos(r, c);
            let cell = &buf[(GX + x + 1, GY + y)];
            let given = input[i] >= 2;
            let expect = if pred[i] as i32 != target[i] {
                wrong += 1;
                theme.wrong_bg
            } else if given {
                theme.bg
            } else {
                right += 1;
                theme.correct_bg
            };
            assert_eq!(
                cell.bg, expect,
                "cell ({r},{c}) pred {} target {}",
                pred[i], target[i]
            );
        }
    }
    assert_eq!(
        right + wrong,
        (0..size * size)
            .filter(|&i| !(input[i] >= 2 && pred[i] as i32 == target[i]))
            .count()
    );
    // The strip agrees: cell accuracy = right cells (givens kept included) / all.
    let acc = app.solver.stats()[app.solver.cur()].accuracy.unwrap();
    let ok = pred
        .iter()
        .zip(&target)
        .filter(|(&a, &b)| a as i32 == b)
        .count();
    assert!((acc - ok as f64 / (size * size) as f64).abs() < 1e-9);
}

#[test]
fn confidence_and_diff_overlays() {
    let root = Root::new();
    let mut app = solver_app(&root);
    key(&mut app, KeyCode::Home);
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Char('o')); // changes
    assert_eq!(app.solver.overlay(), Overlay::Diff);
    let theme = Theme::builtin("dark").unwrap();
    let p = app.solver.puzzle().cloned().unwrap();
    let PuzzleKind::Sudoku { size } = p.kind else {
        panic!()
    };
    let layout = GridLayout::new(p.kind, (size, size), Rect::new(0, 0, 60, 30));
    let (prev, cur) = (
        app.solver.steps()[0].pred.clone(),
        app.solver.steps()[1].pred.clone(),
    );
    let buf = draw(&mut app, 120, 40);
    let mut changed = 0;
    for r in 0..size {
        for c in 0..size {
            let i = r * size + c;
            let (x, y) = layout.cell_pos(r, c);
            let bg = buf[(GX + x + 1, GY + y)].bg;
            if prev[i] != cur[i] {
                changed += 1;
                assert_eq!(bg, theme.changed_bg);
            } else {
                assert_eq!(bg, theme.bg);
            }
        }
    }
    assert_eq!(changed, app.solver.stats()[1].changed);
    key(&mut app, KeyCode::Char('o')); // confidence
    let buf = draw(&mut app, 120, 40);
    let step = &app.solver.steps()[1];
    for r in 0..size {
        for c in 0..size {
            let i = r * size + c;
            let (x, y) = layout.cell_pos(r, c);
            let conf = step.probs[i][step.pred[i] as usize];
            assert_eq!(
                buf[(GX + x + 1, GY + y)].bg,
                theme.heat(conf),
                "cell ({r},{c}) p={conf}"
            );
        }
    }
}

#[test]
fn arc_palette_and_maze_half_blocks() {
    let theme = Theme::builtin("dark").unwrap();
    // ARC: a 2x5 grid of colours 0..9, drawn 2 columns per cell.
    let grid = Grid::new(2, 5, (0..10).collect());
    let tokens = PuzzleKind::Arc.encode(&grid);
    let area = Rect::new(0, 0, 40, 10);
    let layout = GridLayout::new(PuzzleKind::Arc, (2, 5), area);
    assert_eq!(layout.mode, CellMode::Wide);
    let view = GridView {
        layout,
        input: &tokens,
        shown: None,
        prev: None,
        target: None,
        confidence: None,
        overlay: Overlay::None,
        cursor: None,
        theme: &theme,
    };
    let mut buf = Buffer::empty(area);
    view.render(area, &mut buf);
    for (v, &colour) in ARC_PALETTE.iter().enumerate() {
        let (x, y) = layout.cell_pos(v / 5, v % 5);
        assert_eq!(buf[(x, y)].bg, colour);
        assert_eq!(buf[(x + 1, y)].bg, colour);
    }
    assert_eq!(
        ARC_PALETTE[1],
        Color::Rgb(0x00, 0x74, 0xD9),
        "canonical blue"
    );
    // A 30x30 maze in a small area: half-blocks, top cell = fg, bottom cell = bg.
    let mut cells = vec![b' '; 900];
    cells[0] = b'#';
    cells[30] = b'S';
    cells[899] = b'G';
    let maze = Grid::new(30, 30, cells);
    let kind = PuzzleKind::Maze { rows: 30, cols: 30 };
    let tokens = kind.encode(&maze);
    let area = Rect::new(0, 0, 40, 20);
    let layout = GridLayout::new(kind, (30, 30), area);
    assert_eq!(layout.mode, CellMode::HalfBlock);
    let view = GridView {
        layout,
        input: &tokens,
        ..view
    };
    let mut buf = Buffer::empty(area);
    view.render(area, &mut buf);
    assert_eq!(buf[(0, 0)].symbol(), "▀");
    assert_eq!(buf[(0, 0)].fg, theme.wall);
    assert_eq!(buf[(0, 0)].bg, theme.start);
    assert_eq!(buf[(29, 14)].bg, theme.goal);
}

#[test]
fn maze_valid_shortest_path_other_than_the_label_is_coloured_right() {
    use trm_tui::data::Puzzle;
    use trm_tui::model::SolveStep;
    use trm_tui::tui::panes::solver::Target;
    let root = Root::new();
    let mut app = solver_app(&root);
    let theme = Theme::builtin("dark").unwrap();
    let kind = PuzzleKind::Maze { rows: 5, cols: 5 };
    let g = |rows: [&str; 5]| Grid::new(5, 5, rows.concat().into_bytes());
    let question = g(["#####", "#S  #", "#   #", "#  G#", "#####"]);
    // Two shortest paths from S to G: the label goes right then down, the model down then right.
    let label = g(["#####", "#Soo#", "#  o#", "#  G#", "#####"]);
    let other = g(["#####", "#S  #", "#o  #", "#ooG#", "#####"]);
    let broken = g(["#####", "#So #", "#   #", "#  G#", "#####"]);
    let step = |n: usize, grid: &Grid| SolveStep {
        step: n,
        pred: kind.encode(grid).iter().map(|&t| t as u32).collect(),
        probs: vec![vec![1.0 / 6.0; 6]; 25],
        q_halt: -1.0,
        q_continue: 0.0,
        z_h_norm: 1.0,
        z_l_norm: 1.0,
        z_h_delta: 0.5,
        z_l_delta: 0.5,
        cycle_preds: Vec::new(),
    };
    // A finished solve of a maze with two shortest paths, the correctness overlay on.
    app.solver.show_solve(
        Puzzle {
            name: "two-paths".into(),
            kind,
            input: question,
            label: Some(label.clone()),
            rating: None,
        },
        Some(Target {
            tokens: kind.encode(&label),
            source: "label",
        }),
        vec![step(1, &broken), step(2, &other)],
        1,
    );
    assert_eq!(app.solver.overlay(), Overlay::Correctness);
    let layout = GridLayout::new(kind, (5, 5), Rect::new(0, 0, 60, 30));
    assert_eq!(layout.mode, CellMode::Wide);
    let bg = |buf: &Buffer, r: usize, c: usize| {
        let (x, y) = layout.cell_pos(r, c);
        let a = buf[(GX + x, GY + y)].bg;
        assert_eq!(a, buf[(GX + x + 1, GY + y)].bg, "both columns of ({r},{c})");
        a
    };
    let buf = draw(&mut app, 120, 40);
    let screen = text(&buf);
    for (r, c) in [(2, 1), (3, 1), (3, 2)] {
        assert_eq!(bg(&buf, r, c), theme.correct_bg, "path cell ({r},{c})");
    }
    // The label's own path cells are not wrong: the model left them open, as it should.
    for (r, c) in [(1, 2), (1, 3), (2, 3)] {
        let b = bg(&buf, r, c);
        assert_ne!(b, theme.wrong_bg, "label-only cell ({r},{c})");
        assert_ne!(b, theme.correct_bg, "label-only cell ({r},{c})");
    }
    assert!(
        screen.contains("Path   step 2: valid shortest path"),
        "{screen}"
    );
    assert!(screen.contains("✓ shortest"), "{screen}");
    let st = app.solver.stats();
    assert_eq!((st[1].accuracy, st[1].exact), (Some(1.0), Some(true)));
    // The broken path of step 1 is judged against the label: its cells are wrong.
    app.solver.show_step(0);
    let buf = draw(&mut app, 120, 40);
    assert_eq!(bg(&buf, 1, 2), theme.correct_bg, "on the label's path");
    assert_eq!(
        bg(&buf, 1, 3),
        theme.wrong_bg,
        "the label's path is missing here"
    );
    let screen = text(&buf);
    assert!(
        screen.contains("Path   step 1: no valid path: the path stops"),
        "{screen}"
    );
}

#[test]
fn theme_switch_and_broken_user_theme() {
    let root = Root::new();
    let themes = root.paths().themes_dir().unwrap();
    std::fs::create_dir_all(&themes).unwrap();
    std::fs::write(themes.join("dark.toml"), "accent = 'blurple'").unwrap();
    std::fs::write(themes.join("ocean.toml"), "bg = '#001122'\nname = 'ocean'").unwrap();
    let mut app = app(&root, "dark");
    let dark = Theme::builtin("dark").unwrap();
    assert_eq!(app.theme(), &dark, "the broken override is skipped");
    let screen = text(&draw(&mut app, 120, 40));
    assert!(
        screen.contains("blurple"),
        "the problem is shown:\n{screen}"
    );
    let buf = draw(&mut app, 120, 40);
    assert_eq!(buf[(119, 20)].bg, dark.bg);
    key(&mut app, KeyCode::Char('T'));
    let light = Theme::builtin("light").unwrap();
    assert_eq!(app.theme().name, "light");
    let buf = draw(&mut app, 120, 40);
    assert_eq!(buf[(60, 20)].bg, light.bg);
    // The choice is saved to the config file and picked up by the next start.
    let saved = std::fs::read_to_string(root.paths().config_file().unwrap()).unwrap();
    assert!(saved.contains("light"), "{saved}");
    key(&mut app, KeyCode::Char('T'));
    key(&mut app, KeyCode::Char('T'));
    assert_eq!(app.theme().name, "ocean");
    assert_eq!(
        draw(&mut app, 120, 40)[(60, 20)].bg,
        Color::Rgb(0, 0x11, 0x22)
    );
}
