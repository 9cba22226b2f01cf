//! Scoring a solve: the target the answer is compared with (the label, else a classical
//! solver's answer), the per-step numbers of the step strip, and the maze path check (any
//! valid shortest path is right, not only the label's), and the choice of a puzzle whose
//! steps matter to open on.

use crate::data::maze::PathCheck;
use crate::data::{Puzzle, PuzzleKind};
use crate::model::SolveStep;

/// What the correctness overlay compares against.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub tokens: Vec<i32>,
    /// `label` or `classical solver`.
    pub source: &'static str,
}

/// Per-step derived numbers (from the step and the target).
#[derive(Debug, Clone, PartialEq)]
pub struct StepStats {
    pub accuracy: Option<f64>,
    pub exact: Option<bool>,
    pub changed: usize,
    pub halt_prob: f32,
    pub would_halt: bool,
    /// Converged (relative change of z_H below 1e-3) while not exactly right.
    pub stuck: bool,
    /// Mazes: the prediction scored by the classical checker (any shortest path is right).
    pub path_check: Option<PathCheck>,
}

/// The answer a classical solver gives (Sudoku search, maze BFS), as tokens.
pub fn classical_target(p: &Puzzle) -> Option<Vec<i32>> {
    match p.kind {
        PuzzleKind::Sudoku { size } => {
            let geo = crate::data::sudoku::Geometry::new(size)?;
            let sol = crate::data::sudoku::Solver::new(geo)
                .solve(&p.input, 1)
                .solution?;
            Some(p.kind.encode(&sol))
        }
        PuzzleKind::Maze { .. } => {
            let sol = crate::data::maze::solve(&p.input, None).ok()??;
            Some(p.kind.encode(&sol))
        }
        PuzzleKind::Arc => None,
    }
}

/// Mazes: a predicted answer scored against the question by [`crate::data::maze::check_path`]
/// (a valid shortest path is correct even when it is not the label's); `None` for other kinds.
pub fn maze_check(p: &Puzzle, pred: &[u32]) -> Option<PathCheck> {
    if !matches!(p.kind, PuzzleKind::Maze { .. }) {
        return None;
    }
    let tokens: Vec<i32> = pred.iter().map(|&t| t as i32).collect();
    Some(match p.kind.decode(&tokens) {
        Ok(answer) => crate::data::maze::check_path(&p.input, &answer),
        Err(e) => PathCheck::Invalid(format!("not a maze grid: {e}")),
    })
}

/// The verdict of a maze check in words.
pub fn path_verdict(c: &PathCheck) -> String {
    match c {
        PathCheck::Correct => "valid shortest path".into(),
        PathCheck::NotShortest { found, shortest } => {
            format!("valid path, not shortest ({found} cells, shortest {shortest})")
        }
        PathCheck::Invalid(why) => format!("no valid path: {why}"),
    }
}

pub fn target_of(p: &Puzzle) -> Option<Target> {
    if let Some(t) = p.label_tokens() {
        return Some(Target {
            tokens: t,
            source: "label",
        });
    }
    classical_target(p).map(|tokens| Target {
        tokens,
        source: "classical solver",
    })
}

/// An answer is right: a valid shortest path for a maze, else every token of the target.
pub fn answer_right(p: &Puzzle, target: Option<&Target>, pred: &[u32]) -> bool {
    if let Some(c) = maze_check(p, pred) {
        return c == PathCheck::Correct;
    }
    target.is_some_and(|t| cells_right(pred, &t.tokens) == Some(t.tokens.len()))
}

/// How many cells of `pred` equal the target's; `None` when the two do not line up (an empty
/// or differently sized target).
fn cells_right(pred: &[u32], target: &[i32]) -> Option<usize> {
    (!target.is_empty() && target.len() == pred.len()).then(|| {
        pred.iter()
            .zip(target)
            .filter(|(&p, &t)| p as i32 == t)
            .count()
    })
}

/// The 1-based supervision step from which a solve's answer is right and stays right to its
/// last step; `None` when the last answer is wrong.
pub fn right_from(right: &[bool]) -> Option<usize> {
    if !right.last().copied().unwrap_or(false) {
        return None;
    }
    let wrong_before = right.iter().rposition(|&r| !r);
    Some(wrong_before.map_or(1, |i| i + 2))
}

/// The puzzle to open on, from each puzzle's [`right_from`]: the first of those right in the
/// end that need the most supervision steps to get there (several steps change cells before
/// the grid is right); `None` when every solved puzzle is right from the first step.
pub fn showcase(right_from: &[Option<usize>]) -> Option<usize> {
    let best = right_from.iter().flatten().copied().max()?;
    if best < 2 {
        return None;
    }
    right_from.iter().position(|&r| r == Some(best))
}

/// The numbers of every step: accuracy against the target (or the maze check), cells changed
/// since the previous step (the input for the first), the halting head, and "stuck" flags.
pub fn step_stats(
    steps: &[SolveStep],
    puzzle: Option<&Puzzle>,
    target: Option<&Target>,
    no_act_continue: bool,
) -> Vec<StepStats> {
    let target = target.map(|t| &t.tokens);
    let mut out = Vec::with_capacity(steps.len());
    for (i, s) in steps.iter().enumerate() {
        let path_check = puzzle.and_then(|p| maze_check(p, &s.pred));
        let right = target.and_then(|t| Some((cells_right(&s.pred, t)?, t.len())));
        let (accuracy, exact) = match right {
            // Any shortest path is right, not only the label's.
            _ if path_check == Some(PathCheck::Correct) => (Some(1.0), Some(true)),
            Some((ok, n)) => (Some(ok as f64 / n as f64), Some(ok == n)),
            None => (None, None),
        };
        let changed = if i == 0 {
            puzzle.map_or(0, |p| {
                let inp = p.input_tokens();
                s.pred
                    .iter()
                    .zip(&inp)
                    .filter(|(&a, &b)| a as i32 != b)
                    .count()
            })
        } else {
            s.pred
                .iter()
                .zip(&steps[i - 1].pred)
                .filter(|(a, b)| a != b)
                .count()
        };
        let rel = if s.z_h_norm > 0.0 {
            s.z_h_delta / s.z_h_norm
        } else {
            0.0
        };
        out.push(StepStats {
            accuracy,
            exact,
            changed,
            halt_prob: s.halt_prob(),
            would_halt: s.would_halt(no_act_continue),
            stuck: i > 0 && rel < 1e-3 && exact == Some(false),
            path_check,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_from_is_the_step_the_answer_becomes_right_for_good() {
        assert_eq!(right_from(&[]), None);
        assert_eq!(right_from(&[true, true]), Some(1));
        assert_eq!(right_from(&[false, false, true, true]), Some(3));
        // Right, lost, right again: right for good from step 4.
        assert_eq!(right_from(&[true, false, false, true]), Some(4));
        assert_eq!(right_from(&[false, true, false]), None);
    }

    #[test]
    fn showcase_prefers_the_first_puzzle_needing_the_most_steps() {
        assert_eq!(
            showcase(&[Some(1), Some(3), None, Some(3), Some(2)]),
            Some(1)
        );
        assert_eq!(showcase(&[None, Some(2)]), Some(1));
        // Nothing to show: every solved puzzle is right after one step, or none is solved.
        assert_eq!(showcase(&[Some(1), None, Some(1)]), None);
        assert_eq!(showcase(&[None, None]), None);
        assert_eq!(showcase(&[]), None);
    }

    #[test]
    fn answer_right_compares_with_the_target() {
        let kind = PuzzleKind::Sudoku { size: 4 };
        let solved = crate::data::sudoku::parse_cells("1234341221434321", 4, false).unwrap();
        let p = Puzzle {
            name: String::new(),
            kind,
            input: solved.clone(),
            label: Some(solved),
            rating: None,
        };
        let t = target_of(&p);
        let tokens: Vec<u32> = p.input_tokens().iter().map(|&t| t as u32).collect();
        assert!(answer_right(&p, t.as_ref(), &tokens));
        let mut wrong = tokens.clone();
        wrong[0] = wrong[1];
        assert!(!answer_right(&p, t.as_ref(), &wrong));
        assert!(!answer_right(&p, None, &tokens));
    }
}
