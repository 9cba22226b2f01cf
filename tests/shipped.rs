//! Every shipped checkpoint reproduces its model card: the card's eval command gives the card's
//! held-out figures, the untrained model of the same architecture solves nothing, and the
//! step-through solver shows answers that improve over the supervision steps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::Device;
use trm_tui::data::read_puzzle_file;
use trm_tui::model::weights::load_model;
use trm_tui::model::StepSolver;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A model card's checked figures: its held-out table.
struct Card {
    name: String,
    checkpoint: PathBuf,
    data: PathBuf,
    exact: f64,
    token: f64,
    valid_path: Option<f64>,
    q_halt: f64,
    /// Exact accuracy after each supervision step.
    by_step: Vec<f64>,
    halt_step: f64,
    exact_at_halt: f64,
    /// The untrained model's token accuracy.
    untrained_token: f64,
}

/// The second cell of the table row whose first cell starts with `label`.
fn table_cell<'a>(card: &'a str, label: &str) -> Option<&'a str> {
    card.lines().find_map(|l| {
        let cells: Vec<&str> = l.split('|').map(str::trim).collect();
        (cells.len() >= 3 && cells[1].starts_with(label)).then(|| cells[2].trim_matches('*'))
    })
}

/// The number in the second cell of the row `label` (its first word: `1.36 of 6` is 1.36).
fn table_value(card: &str, label: &str) -> Option<f64> {
    table_cell(card, label)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The number after `word` in the second cell of the row `label` (`exact 0.000, token 0.118`).
fn table_named(card: &str, label: &str, word: &str) -> Option<f64> {
    let cell = table_cell(card, label)?;
    let rest = cell.split(&format!("{word} ")).nth(1)?;
    rest.split(|c: char| c == ',' || c.is_whitespace())
        .next()?
        .parse()
        .ok()
}

fn cards() -> Vec<Card> {
    let dir = root().join("checkpoints");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let md = path.with_extension("md");
        let text = std::fs::read_to_string(&md)
            .unwrap_or_else(|_| panic!("{name}: a shipped checkpoint needs a model card {md:?}"));
        let eval_line = text
            .lines()
            .find(|l| l.contains("trm-tui eval --checkpoint") && !l.contains("--untrained"))
            .unwrap_or_else(|| panic!("{name}: the card has no eval command"));
        let data = eval_line
            .split_whitespace()
            .skip_while(|w| *w != "--data")
            .nth(1)
            .unwrap_or_else(|| panic!("{name}: the eval command has no --data"));
        assert!(
            text.contains("--untrained 0"),
            "{name}: the card gives the untrained baseline command"
        );
        let need = |v: Option<f64>, row: &str| v.unwrap_or_else(|| panic!("{name}: no {row} row"));
        let by_step: Vec<f64> = table_cell(&text, "exact accuracy after supervision step")
            .unwrap_or_else(|| panic!("{name}: no exact-by-step row"))
            .split('/')
            .map(|v| {
                v.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: by step {v:?}"))
            })
            .collect();
        let untrained = "untrained model of the same architecture";
        out.push(Card {
            checkpoint: path.clone(),
            data: root().join(data),
            exact: need(
                table_value(&text, "exact accuracy (whole grid right"),
                "exact accuracy",
            ),
            token: need(table_value(&text, "token accuracy"), "token accuracy"),
            valid_path: table_value(&text, "valid shortest path"),
            q_halt: need(table_value(&text, "q-halt accuracy"), "q-halt accuracy"),
            by_step,
            halt_step: need(table_value(&text, "average halting step"), "halting step"),
            exact_at_halt: need(
                table_value(&text, "exact accuracy at the halting step"),
                "exact at halting",
            ),
            untrained_token: need(table_named(&text, untrained, "token"), "untrained token"),
            name,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn eval(card: &Card, extra: &[&str]) -> BTreeMap<String, Option<f64>> {
    let out = Command::new(env!("CARGO_BIN_EXE_trm-tui"))
        .args(["eval", "--json", "--checkpoint"])
        .arg(&card.checkpoint)
        .arg("--data")
        .arg(&card.data)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        card.name,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn at_least_a_sudoku_and_a_maze_model_are_shipped() {
    let names: Vec<String> = cards().into_iter().map(|c| c.name).collect();
    assert!(names.iter().any(|n| n.starts_with("sudoku")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("maze")), "{names:?}");
}

#[test]
fn every_shipped_checkpoint_reproduces_its_model_card() {
    for card in cards() {
        let m = eval(&card, &[]);
        let count = m["count"].unwrap();
        // One puzzle is 1/count of exact accuracy; the card rounds to 3 decimals.
        let exact = m["exact_accuracy"].unwrap();
        let token = m["accuracy"].unwrap();
        assert!(
            (exact - card.exact).abs() <= 1.0 / count + 1e-9,
            "{}: exact accuracy {exact}, card {}",
            card.name,
            card.exact
        );
        assert!(
            (token - card.token).abs() < 0.005,
            "{}: token accuracy {token}, card {}",
            card.name,
            card.token
        );
        if let Some(v) = card.valid_path {
            let got = m["maze_valid_path"].unwrap();
            assert!(
                (got - v).abs() <= 1.0 / count + 1e-9,
                "{}: valid path {got}, card {v}",
                card.name
            );
        }
        // The rest of the held-out table: halting and exact accuracy after each step.
        let near = |key: &str, want: f64, tol: f64| {
            let got = m[key].unwrap_or_else(|| panic!("{}: no {key}", card.name));
            assert!(
                (got - want).abs() <= tol,
                "{}: {key} {got}, card {want}",
                card.name
            );
        };
        let one = 1.0 / count + 1e-9;
        near("q_halt_accuracy", card.q_halt, one);
        near("exact_at_halt", card.exact_at_halt, one);
        near("halt_step", card.halt_step, 0.006);
        for (k, &want) in card.by_step.iter().enumerate() {
            near(&format!("exact_step_{:02}", k + 1), want, one);
        }
        assert!(
            m.contains_key(&format!("exact_step_{:02}", card.by_step.len()))
                && !m.contains_key(&format!("exact_step_{:02}", card.by_step.len() + 1)),
            "{}: the card gives every supervision step",
            card.name
        );
        // Clearly better than the untrained model of the same architecture.
        let u = eval(&card, &["--untrained", "0"]);
        assert_eq!(u["exact_accuracy"], Some(0.0), "{}", card.name);
        let ut = u["accuracy"].unwrap();
        assert!(
            (ut - card.untrained_token).abs() < 0.0005 + 1e-9,
            "{}: untrained token accuracy {ut}, card {}",
            card.name,
            card.untrained_token
        );
        assert!(exact >= 0.05, "{}: exact accuracy {exact}", card.name);
        // Answers improve over the supervision steps.
        assert!(
            m["exact_step_01"].unwrap() < exact,
            "{}: no improvement after step 1",
            card.name
        );
    }
}

/// The solver pane's step-through API shows, on held-out puzzles, answers that are wrong after
/// the first supervision step and right after the last.
#[test]
fn step_through_solver_shows_answers_improving() {
    for card in cards() {
        let (model, _) = load_model(&card.checkpoint, None, &Device::Cpu).unwrap();
        let file = read_puzzle_file(Path::new(&card.data)).unwrap();
        let mut improved = 0;
        for p in file.puzzles.iter().take(60) {
            let Some(label) = p.label_tokens() else {
                continue;
            };
            let mut solver = StepSolver::new(&model, &p.input_tokens(), 0, false).unwrap();
            let mut right = Vec::new();
            while !solver.finished() {
                let s = solver.next_step().unwrap();
                right.push(s.pred.iter().zip(&label).all(|(&a, &b)| a as i32 == b));
            }
            if !right[0] && *right.last().unwrap() {
                improved += 1;
            }
        }
        assert!(
            improved >= 1,
            "{}: no held-out puzzle goes from wrong to right",
            card.name
        );
    }
}
