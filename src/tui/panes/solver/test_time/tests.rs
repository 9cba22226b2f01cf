//! The test-time panel: its views rendered from fixed trajectories (insta snapshots), and its
//! keys driving real runs of the shipped 4x4 Sudoku model.

use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::*;
use crate::train::test_time::{StepRecord, Trajectory};

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn screen(p: &TestTimePanel, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| p.draw(f, f.area(), &Theme::default_dark()))
        .unwrap();
    let buf = term.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const KIND: PuzzleKind = PuzzleKind::Sudoku { size: 4 };

/// Held-out 4x4 puzzle 3 and its solution.
fn puzzle() -> (Vec<i32>, Vec<i32>) {
    let input =
        KIND.encode(&crate::data::sudoku::parse_cells("2....1.2...4.4..", 4, true).unwrap());
    let label =
        KIND.encode(&crate::data::sudoku::parse_cells("2341413232141423", 4, false).unwrap());
    (input, label)
}

fn traj(copy: usize, sample: usize, aug: &str, steps: &[(&[i32], f32)]) -> Trajectory {
    Trajectory {
        copy,
        sample,
        augmentation: aug.into(),
        steps: steps
            .iter()
            .map(|(p, q)| StepRecord {
                pred: p.to_vec(),
                q_halt: *q,
                confidence: vec![0.9; p.len()],
            })
            .collect(),
    }
}

fn solved(opts: TestTimeOptions, trajectories: Vec<Trajectory>) -> Solved {
    let (input, label) = puzzle();
    let ensemble = Ensemble { trajectories };
    let trace = SolveTrace::new(&ensemble, &opts, KIND, &input, Some(&label));
    Solved {
        opts,
        trained_steps: 6,
        net_calls: ensemble.trajectory_steps() * 8,
        kind: KIND,
        input,
        ensemble,
        trace,
    }
}

fn opts(
    steps: usize,
    halt: HaltPolicy,
    samples: usize,
    noise: f64,
    aug_vote: usize,
) -> TestTimeOptions {
    TestTimeOptions {
        steps,
        halt,
        samples,
        noise,
        aug_vote,
        seed: 0,
    }
}

/// A right answer and two wrong ones (one cell off).
fn answers() -> (Vec<i32>, Vec<i32>, Vec<i32>) {
    let (_, right) = puzzle();
    let mut w1 = right.clone();
    w1[1] = 5;
    let mut w2 = right.clone();
    w2[6] = 2;
    (right, w1, w2)
}

fn panel() -> TestTimePanel {
    TestTimePanel::new(&KeyOverrides::new()).0
}

#[test]
fn samples_side_by_side_with_the_q_pick_marked_past_the_trained_steps() {
    let (right, w1, w2) = answers();
    let steps = |last: &[i32], q: f32| -> Vec<(Vec<i32>, f32)> {
        (0..8)
            .map(|i| {
                (
                    if i < 2 { w1.clone() } else { last.to_vec() },
                    q - 7.0 + i as f32,
                )
            })
            .collect()
    };
    let mk = |s: usize, last: &[i32], q: f32| {
        let v = steps(last, q);
        let r: Vec<(&[i32], f32)> = v.iter().map(|(p, q)| (p.as_slice(), *q)).collect();
        traj(0, s, "identity", &r)
    };
    let mut p = panel();
    p.show(solved(
        opts(8, HaltPolicy::All, 3, 0.3, 1),
        vec![mk(0, &w2, 0.5), mk(1, &right, 2.0), mk(2, &w1, 1.0)],
    ));
    insta::assert_snapshot!("test_time_samples", screen(&p, 100, 16));
}

#[test]
fn aug_vote_answer_with_per_cell_agreement() {
    let (right, w1, _) = answers();
    let one = |p: &[i32], q: f32| vec![(p.to_vec(), q)];
    let mk = |c: usize, aug: &str, v: Vec<(Vec<i32>, f32)>| {
        let r: Vec<(&[i32], f32)> = v.iter().map(|(p, q)| (p.as_slice(), *q)).collect();
        traj(c, 0, aug, &r)
    };
    let mut p = panel();
    p.show(solved(
        opts(1, HaltPolicy::All, 1, 0.0, 3),
        vec![
            mk(0, "identity", one(&w1, -1.0)),
            mk(1, "sudoku shuffle", one(&right, 1.5)),
            mk(2, "sudoku shuffle", one(&right, 0.5)),
        ],
    ));
    let text = screen(&p, 100, 14);
    assert!(text.contains("answer (vote of 3)"), "{text}");
    insta::assert_snapshot!("test_time_aug_vote", text);
}

#[test]
fn halting_on_q_marks_the_halted_trajectories_and_steps_back() {
    let (right, w1, _) = answers();
    let mut p = panel();
    p.show(solved(
        opts(6, HaltPolicy::Q, 2, 0.1, 1),
        vec![
            traj(0, 0, "identity", &[(&w1, -2.0), (&right, 0.7)]),
            traj(
                0,
                1,
                "identity",
                &[(&w1, -2.0), (&w1, -1.0), (&right, -0.5), (&right, 0.2)],
            ),
        ],
    ));
    assert_eq!(p.shown(), 4);
    let mut ctx = Ctx::default();
    p.handle_key(&KeyEvent::new(KeyCode::Left, KeyModifiers::NONE), &mut ctx);
    p.handle_key(&KeyEvent::new(KeyCode::Left, KeyModifiers::NONE), &mut ctx);
    assert_eq!(p.shown(), 2);
    insta::assert_snapshot!("test_time_halt_q", screen(&p, 100, 14));
    // Stepping stops at the ends.
    for _ in 0..5 {
        p.handle_key(&KeyEvent::new(KeyCode::Left, KeyModifiers::NONE), &mut ctx);
    }
    assert_eq!(p.shown(), 1);
    for _ in 0..9 {
        p.handle_key(&KeyEvent::new(KeyCode::Right, KeyModifiers::NONE), &mut ctx);
    }
    assert_eq!(p.shown(), 4);
    p.handle_key(&key('t'), &mut ctx);
    assert!(!p.is_open());
}

fn shipped() -> (ModelSource, TrmConfig, Puzzle) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let ck = root.join("checkpoints/sudoku4-cpu.safetensors");
    let (m, _) = crate::model::weights::load_model(&ck, None, &Device::Cpu).unwrap();
    let file = crate::data::read_puzzle_file(&root.join("puzzles/sudoku-4x4-heldout.csv")).unwrap();
    (
        ModelSource::Checkpoint(ck),
        m.config.clone(),
        file.puzzles[3].clone(),
    )
}

#[test]
fn keys_run_the_shipped_model_past_its_steps_with_samples_and_copies() {
    let (source, config, puzzle) = shipped();
    let mut p = panel();
    let mut ctx = Ctx::default();
    p.open_on(source, &config, puzzle, 0);
    assert!(p.wait(Duration::from_secs(120)));
    let s = p.solved().unwrap();
    assert_eq!(s.trace.steps.len(), 6);
    assert_eq!(s.trace.steps.last().unwrap().right, Some(true));
    for _ in 0..3 {
        p.handle_key(&key('+'), &mut ctx);
    }
    assert!(p.wait(Duration::from_secs(120)));
    assert_eq!(p.solved().unwrap().trace.steps.len(), 9);
    assert_eq!(p.shown(), 9);
    // Halting on q: this puzzle halts at step 2.
    p.handle_key(&key('a'), &mut ctx);
    assert!(p.wait(Duration::from_secs(120)));
    let s = p.solved().unwrap();
    assert_eq!(s.opts.halt, HaltPolicy::Q);
    assert!(s.trace.steps.len() < 9);
    // Three noisy samples, then two copies each.
    p.handle_key(&key('a'), &mut ctx);
    p.handle_key(&key('s'), &mut ctx);
    p.handle_key(&key('s'), &mut ctx);
    p.handle_key(&key('n'), &mut ctx);
    p.handle_key(&key('v'), &mut ctx);
    assert!(p.wait(Duration::from_secs(120)));
    let s = p.solved().unwrap();
    assert_eq!((s.opts.samples, s.opts.noise, s.opts.aug_vote), (3, 0.1, 2));
    assert_eq!(s.ensemble.trajectories.len(), 6);
    assert_eq!(s.net_calls, 6 * 9 * 8);
    let text = screen(&p, 120, 40);
    assert!(text.contains("◀Q"), "{text}");
    assert!(text.contains("agreeing"), "{text}");
    assert!(p.error().is_none());
}

#[test]
fn t_opens_the_panel_on_the_solver_s_model_and_puzzle() {
    use crate::tui::component::Component;
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = Ctx::default();
    let mut pane = SolverPane::new(crate::tui::config::Paths::under(dir.path()), 0, &mut ctx);
    pane.start(&mut ctx, None);
    assert!(pane.wait_idle(Duration::from_secs(120), &mut ctx));
    let trained = pane.loaded().unwrap().config.halt_max_steps;
    pane.handle_key(key('t'), &mut ctx);
    assert!(pane.test_time().is_open());
    assert!(pane.capturing_input());
    assert!(pane.hints().iter().any(|h| h.desc.contains("aug-vote")));
    assert!(pane.test_time.wait(Duration::from_secs(120)));
    assert_eq!(
        pane.test_time().solved().unwrap().trace.steps.len(),
        trained
    );
    // Its keys are the panel's while it is open: `+` runs one step more, Esc closes.
    pane.handle_key(key('+'), &mut ctx);
    assert!(pane.test_time.wait(Duration::from_secs(120)));
    assert_eq!(
        pane.test_time().solved().unwrap().trace.steps.len(),
        trained + 1
    );
    pane.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE), &mut ctx);
    assert!(!pane.test_time().is_open());
    assert!(!pane.capturing_input());
}
