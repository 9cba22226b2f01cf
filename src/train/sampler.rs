//! The official training sampler (`puzzle_dataset.py`, `PuzzleDataset._iter_train` and
//! `_sample_batch`): each "iteration" covers `eval_interval` epochs;
//! its group order is `eval_interval` shuffles of the groups; each group contributes one random
//! puzzle (augmented variant) whose examples fill the batch; incomplete last batches are
//! dropped. Its whole state (iteration, position, RNG) is saved in checkpoints, so a resumed
//! run draws exactly the batches the uninterrupted one would have.

use serde::{Deserialize, Serialize};

use crate::data::dataset::Dataset;
use crate::model::Batch;
use crate::util::Rng;

/// Saved position of the sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplerState {
    pub seed: u64,
    /// Iteration (block of `eval_interval` epochs) being drawn.
    pub iteration: u64,
    /// Next index into the iteration's group order.
    pub position: u64,
    pub rng: (u64, u64),
}

/// Draws global batches from a split.
#[derive(Debug, Clone)]
pub struct Sampler {
    pub state: SamplerState,
    epochs_per_iteration: usize,
    batch_size: usize,
    order: Vec<u32>,
}

impl Sampler {
    pub fn new(seed: u64, epochs_per_iteration: usize, batch_size: usize) -> Self {
        Self::from_state(
            SamplerState {
                seed,
                iteration: 0,
                position: 0,
                rng: Rng::derive(seed, 0).state(),
            },
            epochs_per_iteration,
            batch_size,
        )
    }

    pub fn from_state(state: SamplerState, epochs_per_iteration: usize, batch_size: usize) -> Self {
        Self {
            state,
            epochs_per_iteration: epochs_per_iteration.max(1),
            batch_size,
            order: Vec::new(),
        }
    }

    fn group_order(&self, groups: usize) -> Vec<u32> {
        let mut rng = Rng::derive(self.state.seed ^ 0x5EED, self.state.iteration);
        let mut order = Vec::with_capacity(groups * self.epochs_per_iteration);
        for _ in 0..self.epochs_per_iteration {
            let mut perm: Vec<u32> = (0..groups as u32).collect();
            rng.shuffle(&mut perm);
            order.extend(perm);
        }
        order
    }

    /// Epochs completed so far (fractional), counted in groups visited.
    pub fn epoch(&self, groups: usize) -> f64 {
        let per_iter = (groups * self.epochs_per_iteration).max(1) as f64;
        (self.state.iteration as f64 + self.state.position as f64 / per_iter)
            * self.epochs_per_iteration as f64
    }

    /// The next global batch.
    pub fn next_batch(&mut self, data: &Dataset) -> Batch {
        let groups = data.num_groups();
        assert!(
            groups > 0,
            "the dataset has no groups (checked when the run starts)"
        );
        loop {
            if self.order.is_empty() {
                self.order = self.group_order(groups);
            }
            let mut rng = Rng::from_state(self.state.rng.0, self.state.rng.1);
            let mut batch = Batch {
                size: self.batch_size,
                seq_len: data.seq_len,
                inputs: Vec::with_capacity(self.batch_size * data.seq_len),
                labels: Vec::with_capacity(self.batch_size * data.seq_len),
                puzzle_ids: Vec::with_capacity(self.batch_size),
            };
            let mut pos = self.state.position as usize;
            let mut filled = 0;
            while pos < self.order.len() && filled < self.batch_size {
                let g = self.order[pos] as usize;
                pos += 1;
                let (p0, p1) = (
                    data.group_indices[g] as i64,
                    data.group_indices[g + 1] as i64,
                );
                let puzzle = rng.int_inclusive(p0, p1 - 1) as usize;
                let (e0, e1) = (
                    data.puzzle_indices[puzzle] as usize,
                    data.puzzle_indices[puzzle + 1] as usize,
                );
                let mut examples: Vec<usize> = (e0..e1).collect();
                rng.shuffle(&mut examples);
                let take = examples.len().min(self.batch_size - filled);
                for &e in &examples[..take] {
                    let (x, y) = data.example(e);
                    batch.inputs.extend_from_slice(x);
                    batch.labels.extend_from_slice(y);
                    batch.puzzle_ids.push(data.puzzle_identifiers[puzzle]);
                }
                filled += take;
            }
            self.state.rng = rng.state();
            if filled == self.batch_size {
                self.state.position = pos as u64;
                return batch;
            }
            // Incomplete last batch: dropped; next iteration.
            self.state.iteration += 1;
            self.state.position = 0;
            self.order.clear();
        }
    }
}

/// Evaluation batches: sequential over all examples, the last one padded with inputs 0,
/// labels -100 and puzzle id 0 (padding rows count in no metric).
pub fn eval_batches(data: &Dataset, batch_size: usize, limit: usize) -> Vec<Batch> {
    let n = if limit > 0 {
        data.num_examples().min(limit)
    } else {
        data.num_examples()
    };
    // Puzzle of each example.
    let mut puzzle_of = vec![0i32; data.num_examples()];
    for p in 0..data.num_puzzles() {
        for e in data.puzzle_indices[p] as usize..data.puzzle_indices[p + 1] as usize {
            if e < puzzle_of.len() {
                puzzle_of[e] = data.puzzle_identifiers[p];
            }
        }
    }
    let s = data.seq_len;
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let end = (start + batch_size).min(n);
        let mut b = Batch::zeros(batch_size, s);
        for (row, e) in (start..end).enumerate() {
            let (x, y) = data.example(e);
            b.inputs[row * s..(row + 1) * s].copy_from_slice(x);
            b.labels[row * s..(row + 1) * s].copy_from_slice(y);
            b.puzzle_ids[row] = puzzle_of[e];
        }
        out.push(b);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 5 groups; group g has g+1 puzzles of 2 examples; example tokens encode their index.
    fn toy() -> Dataset {
        let mut d = Dataset {
            seq_len: 1,
            ..Default::default()
        };
        let mut e = 0;
        d.puzzle_indices.push(0);
        d.group_indices.push(0);
        let mut p = 0;
        for g in 0..5 {
            for _ in 0..=g {
                for _ in 0..2 {
                    d.inputs.push(e);
                    d.labels.push(e);
                    e += 1;
                }
                d.puzzle_identifiers.push(p);
                p += 1;
                d.puzzle_indices.push(e);
            }
            d.group_indices.push(p);
        }
        d
    }

    #[test]
    fn batches_are_full_reproducible_and_resumable() {
        let d = toy();
        let mut a = Sampler::new(7, 2, 4);
        let first: Vec<Batch> = (0..6).map(|_| a.next_batch(&d)).collect();
        assert!(first
            .iter()
            .all(|b| b.inputs.len() == 4 && b.puzzle_ids.len() == 4));
        let mut b = Sampler::new(7, 2, 4);
        for x in &first[..3] {
            assert_eq!(&b.next_batch(&d), x);
        }
        let mut c = Sampler::from_state(b.state, 2, 4);
        for x in &first[3..] {
            assert_eq!(&c.next_batch(&d), x);
        }
        assert_ne!(Sampler::new(8, 2, 4).next_batch(&d), first[0]);
    }

    #[test]
    fn each_batch_row_belongs_to_its_puzzle() {
        let d = toy();
        let mut s = Sampler::new(1, 1, 3);
        for _ in 0..10 {
            let b = s.next_batch(&d);
            for (row, &pid) in b.puzzle_ids.iter().enumerate() {
                let e = b.inputs[row] as usize;
                let p = pid as usize;
                assert!(e >= d.puzzle_indices[p] as usize && e < d.puzzle_indices[p + 1] as usize);
            }
        }
        assert!(s.epoch(d.num_groups()) > 1.0);
    }

    #[test]
    fn eval_batches_pad_the_last_one() {
        let d = toy();
        let bs = eval_batches(&d, 4, 0);
        assert_eq!(bs.len(), d.num_examples().div_ceil(4));
        let last = bs.last().unwrap();
        let used = d.num_examples() % 4;
        assert!(last.labels[used..].iter().all(|&l| l == -100));
        assert_eq!(eval_batches(&d, 4, 5).len(), 2);
    }
}
