//! The trace of one puzzle's solve: for every supervision step, the answer the ensemble would
//! give if the run stopped there, the cells that changed, the confidence, `q_halt`, which
//! trajectory the Q head picks, the per-cell agreement and whether the answer is right. Pure
//! data built from an [`Ensemble`]; `trm-tui solve` prints, serialises and animates it.

use super::{Ensemble, Rule, TestTimeOptions};
use crate::data::sudoku::{is_solution_of, Geometry};
use crate::data::{maze, PuzzleKind};

/// Whether an answer solves a puzzle: a valid shortest S-G path for a maze (any of them); the
/// label for a Sudoku with one, else a valid completion of its clues; the label for ARC.
/// `None` when it cannot be told (ARC without a label).
pub fn is_right(
    kind: PuzzleKind,
    input: &[i32],
    label: Option<&[i32]>,
    answer: &[i32],
) -> Option<bool> {
    match kind {
        PuzzleKind::Maze { rows, cols } => Some(
            match (
                maze::decode(rows, cols, input),
                maze::decode(rows, cols, answer),
            ) {
                (Ok(q), Ok(a)) => maze::check_path(&q, &a) == maze::PathCheck::Correct,
                _ => false,
            },
        ),
        _ if label.is_some() => {
            label.map(|l| l.iter().zip(answer).all(|(&l, &a)| l == -100 || l == a))
        }
        PuzzleKind::Sudoku { size } => {
            let geo = Geometry::new(size)?;
            let q = crate::data::sudoku::decode(size, input).ok()?;
            Some(
                crate::data::sudoku::decode(size, answer)
                    .is_ok_and(|a| is_solution_of(&geo, &q, &a)),
            )
        }
        PuzzleKind::Arc => None,
    }
}

/// One trajectory's state after a step.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrajectoryState {
    pub copy: usize,
    pub sample: usize,
    pub augmentation: String,
    pub q_halt: f32,
    pub halt_prob: f32,
    /// Whether it ran this step (false once it halted under `--halt q`).
    pub running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub right: Option<bool>,
}

/// The ensemble's answer after one supervision step.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TraceStep {
    /// 1-based.
    pub step: usize,
    pub answer: Vec<i32>,
    /// Cells whose token differs from the previous step's answer (step 1: from the input).
    pub changed: Vec<usize>,
    /// Per cell, the probability of the picked trajectory's token.
    pub confidence: Vec<f32>,
    pub confidence_mean: f32,
    pub confidence_min: f32,
    /// The picked trajectory's `q_halt` and `sigmoid(q_halt)`.
    pub q_halt: f32,
    pub halt_prob: f32,
    /// The trajectory the Q head picks.
    pub picked: usize,
    /// Per cell, the share of trajectories agreeing with the answer.
    pub agreement: Vec<f32>,
    pub trajectories: Vec<TrajectoryState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub right: Option<bool>,
}

/// The whole solve.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SolveTrace {
    pub rule: Rule,
    pub steps: Vec<TraceStep>,
    /// The first trajectory to halt and its step (1-based).
    pub halt_first: (usize, usize),
}

impl SolveTrace {
    pub fn new(
        e: &Ensemble,
        opts: &TestTimeOptions,
        kind: PuzzleKind,
        input: &[i32],
        label: Option<&[i32]>,
    ) -> Self {
        let rule = opts.rule();
        let mut prev = input.to_vec();
        let mut steps = Vec::with_capacity(e.ran());
        for step in 1..=e.ran() {
            let a = e.answer_at(step, rule);
            let rec = e.trajectories[a.picked].at(step);
            let confidence = rec.confidence.clone();
            let n = confidence.len().max(1) as f32;
            let changed = (0..a.tokens.len())
                .filter(|&k| prev.get(k) != Some(&a.tokens[k]))
                .collect();
            let trajectories = e
                .trajectories
                .iter()
                .map(|t| {
                    let r = t.at(step);
                    TrajectoryState {
                        copy: t.copy,
                        sample: t.sample,
                        augmentation: t.augmentation.clone(),
                        q_halt: r.q_halt,
                        halt_prob: r.halt_prob(),
                        running: t.steps.len() >= step,
                        right: is_right(kind, input, label, &r.pred),
                    }
                })
                .collect();
            steps.push(TraceStep {
                step,
                right: is_right(kind, input, label, &a.tokens),
                changed,
                confidence_mean: confidence.iter().sum::<f32>() / n,
                confidence_min: confidence.iter().copied().fold(1.0, f32::min),
                confidence,
                q_halt: rec.q_halt,
                halt_prob: rec.halt_prob(),
                picked: a.picked,
                agreement: a.agreement,
                trajectories,
                answer: a.tokens.clone(),
            });
            prev = a.tokens;
        }
        SolveTrace {
            rule,
            steps,
            halt_first: e.halt_first(),
        }
    }
}
