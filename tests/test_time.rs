//! Test-time compute (`eval --steps/--halt/--samples/--noise/--aug-vote`, `trm-tui solve`):
//! the plain settings reproduce the official evaluation, halting on q never costs more steps
//! than running them all, aug-vote brings every copy's answer back to the puzzle's frame, and
//! `solve` shows every step or refuses bad input with exit status 2.

use std::path::PathBuf;
use std::process::{Command, Output};

use candle_core::Device;
use proptest::prelude::*;
use serde_json::Value;
use trm_tui::data::sudoku::{is_solution_of, Geometry, Solver};
use trm_tui::data::{maze, read_puzzle_file, Puzzle, PuzzleKind};
use trm_tui::model::weights::load_model;
use trm_tui::train::test_time::aug::augmentations;
use trm_tui::train::test_time::{solve_puzzles, HaltPolicy, PuzzleInput, TestTimeOptions};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped models with the held-out puzzles their cards name.
const SHIPPED: [(&str, &str); 3] = [
    ("sudoku4-cpu", "sudoku-4x4-heldout"),
    ("sudoku6-cpu", "sudoku-6x6-heldout"),
    ("maze-small-cpu", "maze-7x7-heldout"),
];

/// A few puzzles keep the debug build quick; 70 spans a full batch of 64 and a partial one.
const LIMIT: &str = "70";

fn checkpoint(name: &str) -> PathBuf {
    root()
        .join("checkpoints")
        .join(format!("{name}.safetensors"))
}

fn puzzles(name: &str) -> PathBuf {
    root().join("puzzles").join(format!("{name}.csv"))
}

fn trm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trm-tui"))
        .args(args)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap()
}

fn eval_json(model: &str, data: &str, extra: &[&str]) -> Value {
    let (c, d) = (checkpoint(model), puzzles(data));
    let mut args = vec![
        "eval",
        "--json",
        "--limit",
        LIMIT,
        "--checkpoint",
        c.to_str().unwrap(),
        "--data",
        d.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = trm(&args);
    assert!(
        out.status.success(),
        "{model} {extra:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number `{key}` in {v}"))
}

/// The test-time report `t` gives the plain evaluation's figures `plain` exactly (token
/// accuracy up to the order of a floating-point sum).
fn assert_same_figures(model: &str, plain: &Value, t: &Value) {
    for key in ["count", "exact_accuracy", "halt_step", "exact_at_halt"] {
        assert_eq!(f(plain, key), f(t, key), "{model}: {key}");
    }
    assert!(
        (f(plain, "accuracy") - f(t, "accuracy")).abs() < 1e-12,
        "{model}: token accuracy {} vs {}",
        plain["accuracy"],
        t["accuracy"]
    );
    if plain.get("maze_valid_path").is_some() {
        assert_eq!(
            f(plain, "maze_valid_path"),
            f(t, "maze_valid_path"),
            "{model}"
        );
    }
    let by_step = t["exact_by_step"].as_array().unwrap();
    assert_eq!(by_step.len(), f(t, "trained_steps") as usize, "{model}");
    for (k, v) in by_step.iter().enumerate() {
        let key = format!("exact_step_{:02}", k + 1);
        assert_eq!(f(plain, &key), v.as_f64().unwrap(), "{model}: {key}");
    }
}

#[test]
fn steps_equal_to_the_trained_number_reproduce_the_plain_eval() {
    for (model, data) in SHIPPED {
        let plain = eval_json(model, data, &[]);
        let trained = {
            let (m, _) = load_model(&checkpoint(model), None, &Device::Cpu).unwrap();
            m.config.halt_max_steps.to_string()
        };
        let t = eval_json(model, data, &["--steps", &trained]);
        assert_eq!(t["steps"], t["trained_steps"]);
        assert_same_figures(model, &plain, &t);
        // Cost: every trajectory ran every step.
        assert_eq!(f(&t, "steps_per_trajectory"), f(&t, "trained_steps"));
    }
}

#[test]
fn one_sample_without_noise_is_the_plain_eval() {
    for (model, data) in SHIPPED {
        let plain = eval_json(model, data, &[]);
        let t = eval_json(model, data, &["--samples", "1", "--noise", "0"]);
        assert_eq!(f(&t, "trajectories_per_puzzle"), 1.0);
        assert_same_figures(model, &plain, &t);
    }
}

#[test]
fn halting_on_q_never_uses_more_steps_than_running_them_all() {
    for (model, data) in SHIPPED {
        let (m, _) = load_model(&checkpoint(model), None, &Device::Cpu).unwrap();
        let file = read_puzzle_file(&puzzles(data)).unwrap();
        let inputs: Vec<Vec<i32>> = file.puzzles[..12]
            .iter()
            .map(Puzzle::input_tokens)
            .collect();
        let batch: Vec<PuzzleInput> = inputs
            .iter()
            .enumerate()
            .map(|(i, x)| PuzzleInput {
                inputs: x,
                puzzle_id: 0,
                index: i as u64,
            })
            .collect();
        let mut opts = TestTimeOptions::plain(&m.config);
        // Past the trained maximum, with noisy samples: halting must still only cut.
        opts.steps = m.config.halt_max_steps + 3;
        opts.samples = 2;
        opts.noise = 0.1;
        let all = solve_puzzles(&m, Some(file.kind), &batch, &opts, false).unwrap();
        opts.halt = HaltPolicy::Q;
        let q = solve_puzzles(&m, Some(file.kind), &batch, &opts, false).unwrap();
        let mut saved = 0;
        for (ea, eq) in all.iter().zip(&q) {
            assert!(eq.trajectory_steps() <= ea.trajectory_steps(), "{model}");
            for (ta, tq) in ea.trajectories.iter().zip(&eq.trajectories) {
                assert_eq!(ta.steps.len(), opts.steps, "{model}");
                // It stops exactly where the full run first has q_halt > 0.
                assert_eq!(tq.steps.len(), ta.halt_step(), "{model}");
                // Leaving the batch changes nothing for the others: the same answers.
                for (ra, rq) in ta.steps.iter().zip(&tq.steps) {
                    assert_eq!(ra.pred, rq.pred, "{model}");
                    assert!((ra.q_halt - rq.q_halt).abs() < 1e-4, "{model}");
                }
            }
            saved += ea.trajectory_steps() - eq.trajectory_steps();
        }
        if model.starts_with("sudoku") {
            assert!(saved > 0, "{model}: its halting head stops early");
        }
        // The eval report says the same.
        let ja = eval_json(model, data, &["--steps", "8"]);
        let jq = eval_json(model, data, &["--steps", "8", "--halt", "q"]);
        assert!(f(&jq, "steps_per_trajectory") <= f(&ja, "steps_per_trajectory"));
        assert!(f(&jq, "net_calls_per_puzzle") <= f(&ja, "net_calls_per_puzzle"));
        assert_eq!(
            f(&jq, "steps_per_trajectory"),
            f(&jq, "halt_step"),
            "{model}"
        );
    }
}

#[test]
fn noisy_samples_are_reproducible_by_seed_and_pick_by_q_halt() {
    let (model, data) = SHIPPED[1];
    let a = eval_json(
        model,
        data,
        &["--samples", "3", "--noise", "0.2", "--seed", "7"],
    );
    let b = eval_json(
        model,
        data,
        &["--samples", "3", "--noise", "0.2", "--seed", "7"],
    );
    for key in ["exact_accuracy", "accuracy", "halt_step"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(f(&a, "trajectories_per_puzzle"), 3.0);
    assert_eq!(
        f(&a, "net_calls_per_puzzle"),
        3.0 * 6.0 * f(&a, "net_calls_per_step")
    );
    // The oracle is an upper bound of every choice.
    let oracle = a["oracle"]["exact_accuracy"].as_f64().unwrap();
    for choice in ["q_pick", "vote", "halt_first"] {
        assert!(
            a[choice]["exact_accuracy"].as_f64().unwrap() <= oracle,
            "{choice}"
        );
    }
    assert_eq!(a["q_pick"]["exact_accuracy"], a["exact_accuracy"]);
}

fn sudoku_case(file: &str) -> (Vec<Puzzle>, Solver, Geometry) {
    let f = read_puzzle_file(&root().join("puzzles").join(file)).unwrap();
    let PuzzleKind::Sudoku { size } = f.kind else {
        panic!("{file} is not a sudoku file")
    };
    let geo = Geometry::new(size).unwrap();
    (f.puzzles, Solver::new(geo), geo)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// An augmented Sudoku is a Sudoku whose (unique) solution, solved from scratch by the
    /// classical solver and un-augmented, is the original's solution.
    #[test]
    fn sudoku_copies_un_augment_to_the_original_answer(
        file in prop::sample::select(vec!["sudoku-4x4-heldout.csv", "sudoku-6x6-heldout.csv", "sudoku-9x9-hard.csv"]),
        index in 0usize..40,
        seed in any::<u64>(),
    ) {
        let (puzzles, solver, geo) = sudoku_case(file);
        let p = &puzzles[index % puzzles.len()];
        let (input, label) = (p.input_tokens(), p.label_tokens().unwrap());
        for a in augmentations(p.kind, 4, seed).unwrap() {
            let aug_input = p.kind.decode(&a.apply(&input)).unwrap();
            let solved = solver.solve(&aug_input, 2).solution.unwrap();
            prop_assert!(is_solution_of(&geo, &aug_input, &solved));
            prop_assert_eq!(a.invert_tokens(&p.kind.encode(&solved)), label.clone(), "{}", a.name);
            prop_assert_eq!(a.invert_tokens(&a.apply(&label)), label.clone());
        }
    }

    /// A maze under any dihedral transform, solved by BFS and un-augmented, is a valid shortest
    /// path of the original maze.
    #[test]
    fn maze_copies_un_augment_to_a_shortest_path_of_the_original(
        index in 0usize..200,
        copies in 2usize..9,
    ) {
        let f = read_puzzle_file(&puzzles("maze-7x7-heldout")).unwrap();
        let p = &f.puzzles[index % f.puzzles.len()];
        let input = p.input_tokens();
        for a in augmentations(p.kind, copies, 0).unwrap() {
            let aug_q = p.kind.decode(&a.apply(&input)).unwrap();
            let path = maze::solve(&aug_q, None).unwrap().unwrap();
            let back = p.kind.decode(&a.invert_tokens(&p.kind.encode(&path))).unwrap();
            prop_assert_eq!(maze::check_path(&p.input, &back), maze::PathCheck::Correct, "{}", a.name);
        }
    }
}

/// The model's own answers under aug-vote: each copy's un-augmented answer is a real answer
/// of the original puzzle (the sudoku6 model solves most of them), so the vote agrees.
#[test]
fn aug_vote_copies_answer_the_original_puzzle() {
    let (m, _) = load_model(&checkpoint("sudoku6-cpu"), None, &Device::Cpu).unwrap();
    let f = read_puzzle_file(&puzzles("sudoku-6x6-heldout")).unwrap();
    let mut opts = TestTimeOptions::plain(&m.config);
    opts.aug_vote = 4;
    let inputs: Vec<Vec<i32>> = f.puzzles[..8].iter().map(Puzzle::input_tokens).collect();
    let batch: Vec<PuzzleInput> = inputs
        .iter()
        .enumerate()
        .map(|(i, x)| PuzzleInput {
            inputs: x,
            puzzle_id: 0,
            index: i as u64,
        })
        .collect();
    let ens = solve_puzzles(&m, Some(f.kind), &batch, &opts, false).unwrap();
    let mut right_copies = 0;
    for (e, p) in ens.iter().zip(&f.puzzles) {
        let label = p.label_tokens().unwrap();
        assert_eq!(e.trajectories.len(), 4);
        assert_eq!(e.trajectories[0].augmentation, "identity");
        for t in &e.trajectories {
            // Un-augmented, every copy keeps the original's clues.
            let ans = &t.last().pred;
            for (k, &x) in p.input_tokens().iter().enumerate() {
                if x > 1 {
                    assert_eq!(
                        ans[k], x,
                        "copy {} ({}) moved a clue",
                        t.copy, t.augmentation
                    );
                }
            }
            right_copies += (*ans == label) as usize;
        }
    }
    assert!(right_copies >= 24, "{right_copies} of 32 copies right");
}

fn solve_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["solve", "--color", "never"];
    v.extend_from_slice(extra);
    v
}

#[test]
fn solve_prints_every_step_of_a_shipped_puzzle() {
    let c = checkpoint("sudoku4-cpu");
    let d = puzzles("sudoku-4x4-heldout");
    let (c, d) = (c.to_str().unwrap(), d.to_str().unwrap());
    let out = trm(&solve_args(&[
        "--checkpoint",
        c,
        "--file",
        d,
        "--index",
        "3",
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for k in 1..=6 {
        assert!(
            text.contains(&format!("step {k}/6  q_halt")),
            "step {k}:\n{text}"
        );
    }
    assert!(text.contains("changed: r1c2 .->"), "{text}");
    assert!(!text.contains('\x1b'), "plain output has no colour codes");
    // Past the trained maximum, with halting on q, noisy samples, JSON and an SVG.
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("refine.svg");
    let out = trm(&solve_args(&[
        "--checkpoint",
        c,
        "--file",
        d,
        "--index",
        "3",
        "--steps",
        "9",
        "--samples",
        "3",
        "--noise",
        "0.1",
        "--json",
        "--svg",
        svg.to_str().unwrap(),
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = j["trace"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 9);
    assert_eq!(steps[0]["trajectories"].as_array().unwrap().len(), 3);
    assert_eq!(j["grids"].as_array().unwrap().len(), 9);
    assert_eq!(j["net_calls"], 3 * 9 * 8);
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(
        svg.matches("<g opacity").count(),
        10,
        "the input and 9 steps"
    );
    assert!(svg.contains("step 9/9"));
    // A typed grid, coloured on request.
    let out = trm(&[
        "solve",
        "--checkpoint",
        c,
        "--grid",
        "2...1..2...4.4..",
        "--color",
        "always",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("\x1b[1;33m"));
}

#[test]
fn solve_refuses_a_bad_file_index_or_grid_with_status_2() {
    let c = checkpoint("sudoku4-cpu");
    let c = c.to_str().unwrap();
    let d = puzzles("sudoku-4x4-heldout");
    let d = d.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.csv");
    std::fs::write(&broken, "source,question,answer,rating\nx,12..3,,0\n").unwrap();
    let broken = broken.to_str().unwrap();
    let blank6 = ".".repeat(36);
    let cases: [(Vec<&str>, &str); 7] = [
        (
            vec!["--file", "/no/such/puzzles.csv"],
            "no such puzzle file",
        ),
        (vec!["--file", broken], "broken.csv"),
        (
            vec!["--file", d, "--index", "200"],
            "--index 200 is out of range: the file has 200 puzzles",
        ),
        (vec!["--grid", "12345"], "--grid: question has 5 characters"),
        (vec!["--grid", "1.3.2...1.....3x"], "--grid"),
        (
            vec!["--grid", "1.3.2...1.....3.", "--steps", "0"],
            "--steps 0",
        ),
        (vec!["--grid", &blank6], "does not fit the model"),
    ];
    for (extra, message) in cases {
        let mut args = vec!["solve", "--checkpoint", c];
        args.extend_from_slice(&extra);
        let out = trm(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(message), "{extra:?}: {err}");
        assert!(out.stdout.is_empty(), "{extra:?}");
    }
}

#[test]
fn eval_refuses_bad_test_time_options_with_status_2() {
    let out = trm(&[
        "eval",
        "--checkpoint",
        checkpoint("sudoku4-cpu").to_str().unwrap(),
        "--data",
        puzzles("sudoku-4x4-heldout").to_str().unwrap(),
        "--aug-vote",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--aug-vote 0"));
}
