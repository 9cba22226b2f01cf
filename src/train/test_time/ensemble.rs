//! The choice among one puzzle's trajectories (its noisy samples and augmented copies, every
//! answer already brought back to the puzzle's own frame): the Q-head pick (highest
//! `sigmoid(q_halt)`), the per-cell vote, the first trajectory to halt, and the oracle.
//! Pure functions of the records; nothing here runs the model.

use super::runner::StepRecord;

/// One trajectory of a puzzle, in the puzzle's own frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// Which augmented copy (0 = the puzzle itself) and which noisy sample of it.
    pub copy: usize,
    pub sample: usize,
    /// The copy's augmentation (`identity`, `sudoku shuffle`, `dihedral 3`).
    pub augmentation: String,
    /// One record per supervision step run, answers un-augmented.
    pub steps: Vec<StepRecord>,
}

impl Trajectory {
    /// The record in effect after supervision step `step` (1-based) of the run: its own step
    /// `step`, or its last one when it halted before.
    pub fn at(&self, step: usize) -> &StepRecord {
        &self.steps[step.clamp(1, self.steps.len()) - 1]
    }

    pub fn last(&self) -> &StepRecord {
        self.at(self.steps.len())
    }

    /// The first step (1-based) whose `q_halt` is positive.
    pub fn first_halt(&self) -> Option<usize> {
        self.steps
            .iter()
            .position(|r| r.q_halt > 0.0)
            .map(|i| i + 1)
    }

    /// Where the model would halt: its first positive `q_halt`, else its last step.
    pub fn halt_step(&self) -> usize {
        self.first_halt().unwrap_or(self.steps.len())
    }
}

/// How the answer of several trajectories is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The trajectory with the highest `sigmoid(q_halt)`.
    QPick,
    /// The most frequent token of each cell.
    Vote,
}

/// A per-cell vote: the answer and, per cell, the share of trajectories that gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    pub answer: Vec<i32>,
    pub agreement: Vec<f32>,
}

/// The most frequent token of each cell; a tie goes to the token of the earliest answer
/// (copy 0, the un-augmented puzzle, first).
pub fn vote(answers: &[&[i32]]) -> Vote {
    let len = answers.first().map_or(0, |a| a.len());
    let mut answer = Vec::with_capacity(len);
    let mut agreement = Vec::with_capacity(len);
    for k in 0..len {
        // (token, count) in order of first appearance.
        let mut counts: Vec<(i32, usize)> = Vec::new();
        for a in answers {
            match counts.iter_mut().find(|(t, _)| *t == a[k]) {
                Some((_, c)) => *c += 1,
                None => counts.push((a[k], 1)),
            }
        }
        let (tok, n) = counts.iter().fold(
            (0, 0),
            |best, &(t, c)| if c > best.1 { (t, c) } else { best },
        );
        answer.push(tok);
        agreement.push(n as f32 / answers.len().max(1) as f32);
    }
    Vote { answer, agreement }
}

/// An answer with how it was chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub tokens: Vec<i32>,
    /// The trajectory the Q head picked (also given for a vote: the one it would pick).
    pub picked: usize,
    /// Per cell, the share of trajectories that agree with the answer.
    pub agreement: Vec<f32>,
}

/// All trajectories of one puzzle.
#[derive(Debug, Clone, PartialEq)]
pub struct Ensemble {
    pub trajectories: Vec<Trajectory>,
}

impl Ensemble {
    /// Supervision steps the run lasted (its longest trajectory).
    pub fn ran(&self) -> usize {
        self.trajectories
            .iter()
            .map(|t| t.steps.len())
            .max()
            .unwrap_or(0)
    }

    /// Supervision steps run, summed over the trajectories.
    pub fn trajectory_steps(&self) -> usize {
        self.trajectories.iter().map(|t| t.steps.len()).sum()
    }

    /// The trajectory with the highest `q_halt` after step `step` (the first on ties).
    pub fn q_pick_at(&self, step: usize) -> usize {
        let mut best = 0;
        for (i, t) in self.trajectories.iter().enumerate() {
            if t.at(step).q_halt > self.trajectories[best].at(step).q_halt {
                best = i;
            }
        }
        best
    }

    /// The answer after step `step` under `rule`.
    pub fn answer_at(&self, step: usize, rule: Rule) -> Answer {
        let picked = self.q_pick_at(step);
        let answers: Vec<&[i32]> = self
            .trajectories
            .iter()
            .map(|t| t.at(step).pred.as_slice())
            .collect();
        let v = vote(&answers);
        match rule {
            Rule::Vote => Answer {
                tokens: v.answer,
                picked,
                agreement: v.agreement,
            },
            Rule::QPick => {
                let tokens = answers[picked].to_vec();
                let agreement = (0..tokens.len())
                    .map(|k| {
                        let same = answers.iter().filter(|a| a[k] == tokens[k]).count();
                        same as f32 / answers.len() as f32
                    })
                    .collect();
                Answer {
                    tokens,
                    picked,
                    agreement,
                }
            }
        }
    }

    /// The final answer under `rule`.
    pub fn answer(&self, rule: Rule) -> Answer {
        self.answer_at(self.ran(), rule)
    }

    /// The first trajectory to halt and its step: the earliest first positive `q_halt`, the
    /// higher `q_halt` on ties; when none halts, the Q-head pick at the last step.
    pub fn halt_first(&self) -> (usize, usize) {
        let mut best: Option<(usize, usize)> = None;
        for (i, t) in self.trajectories.iter().enumerate() {
            let Some(s) = t.first_halt() else { continue };
            best = match best {
                Some((j, bs))
                    if bs < s
                        || (bs == s && self.trajectories[j].at(bs).q_halt >= t.at(s).q_halt) =>
                {
                    Some((j, bs))
                }
                _ => Some((i, s)),
            };
        }
        best.unwrap_or_else(|| (self.q_pick_at(self.ran()), self.ran()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traj(steps: &[(&[i32], f32)]) -> Trajectory {
        Trajectory {
            copy: 0,
            sample: 0,
            augmentation: "identity".into(),
            steps: steps
                .iter()
                .map(|(p, q)| StepRecord {
                    pred: p.to_vec(),
                    q_halt: *q,
                    confidence: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn vote_takes_the_majority_and_the_first_on_ties() {
        let v = vote(&[&[1, 2, 3], &[1, 4, 5], &[2, 4, 6]]);
        assert_eq!(v.answer, vec![1, 4, 3]);
        assert_eq!(v.agreement[0], 2.0 / 3.0);
        assert_eq!(v.agreement[2], 1.0 / 3.0);
    }

    #[test]
    fn choices_follow_q_halt() {
        let e = Ensemble {
            trajectories: vec![
                traj(&[(&[1, 1], -2.0), (&[1, 2], -1.0), (&[2, 2], 3.0)]),
                traj(&[(&[3, 3], -1.0), (&[4, 4], 0.5)]),
                traj(&[(&[5, 5], -3.0), (&[6, 6], 0.7), (&[7, 7], 0.1)]),
            ],
        };
        assert_eq!(e.ran(), 3);
        assert_eq!(e.trajectory_steps(), 8);
        // After step 3 the second trajectory (halted at 2) keeps its last answer.
        assert_eq!(e.q_pick_at(3), 0);
        assert_eq!(e.q_pick_at(1), 1);
        assert_eq!(e.answer(Rule::QPick).tokens, vec![2, 2]);
        // Two halt at step 2; the higher q_halt wins.
        assert_eq!(e.halt_first(), (2, 2));
        let none = Ensemble {
            trajectories: vec![traj(&[(&[1], -1.0), (&[2], -0.5)])],
        };
        assert_eq!(none.halt_first(), (0, 2));
    }
}
