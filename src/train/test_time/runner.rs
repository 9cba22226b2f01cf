//! Batched trajectories: many rows (puzzles, their augmented copies, their noisy samples) run
//! through the supervision steps as one batch, evaluation semantics, no graph. Unlike the ACT
//! wrapper, which resets a slot after `halt_max_steps`, the recursion continues for any number
//! of steps. With halting on `q_halt > 0` a row leaves the batch at its first positive
//! `q_halt`, so the compute saved is real. Gaussian noise, when asked, is added to both latents
//! (`z_H` and `z_L`) before every supervision step, from one seeded stream per row.

use candle_core::{DType, Result, Tensor, D};

use super::HaltPolicy;
use crate::model::{Batch, InnerCarry, LossType, TrmModel};
use crate::util::Rng;

/// What one row produced at one supervision step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// Argmax token per cell.
    pub pred: Vec<i32>,
    pub q_halt: f32,
    /// Probability of the argmax token per cell, under the model's loss (only when recorded).
    pub confidence: Vec<f32>,
}

impl StepRecord {
    /// `sigmoid(q_halt)`: the model's belief that the answer is right.
    pub fn halt_prob(&self) -> f32 {
        1.0 / (1.0 + (-self.q_halt).exp())
    }
}

/// How a batch of rows runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunSettings {
    pub steps: usize,
    pub halt: HaltPolicy,
    /// Standard deviation of the noise added to the latents (0 = none).
    pub noise: f64,
    /// Also read each cell's confidence (costs a softmax-like pass per step).
    pub record_confidence: bool,
}

/// One row of a batch: its tokens, puzzle identifier and noise stream.
#[derive(Debug, Clone)]
pub struct Row {
    pub inputs: Vec<i32>,
    pub puzzle_id: i32,
    pub rng: Rng,
}

fn confidence_of(logits: &Tensor, kind: LossType) -> Result<Tensor> {
    let logp = match kind {
        LossType::StablemaxCrossEntropy => crate::model::loss::log_stablemax(logits)?,
        LossType::SoftmaxCrossEntropy => crate::model::loss::log_softmax(logits)?,
    };
    logp.max(D::Minus1)?.exp()?.to_dtype(DType::F32)
}

/// `t + sigma * N(0, 1)`, each batch position drawing from its own row's stream.
fn noisy(t: &Tensor, sigma: f64, rows: &mut [Row], active: &[usize]) -> Result<Tensor> {
    let per_row = t.elem_count() / active.len().max(1);
    let mut v = Vec::with_capacity(t.elem_count());
    for &r in active {
        let rng = &mut rows[r].rng;
        v.extend((0..per_row).map(|_| (rng.normal() * sigma) as f32));
    }
    let n = Tensor::from_vec(v, t.shape(), t.device())?.to_dtype(t.dtype())?;
    t.add(&n)
}

fn select(t: &Tensor, idx: &Tensor) -> Result<Tensor> {
    t.index_select(idx, 0)?.contiguous()
}

/// Run `rows` as one batch; each row's records, one per step it ran (all `steps` with
/// [`HaltPolicy::All`], up to its first `q_halt > 0` with [`HaltPolicy::Q`]).
pub fn run_rows(
    model: &TrmModel,
    rows: &mut [Row],
    settings: &RunSettings,
) -> Result<Vec<Vec<StepRecord>>> {
    let cfg = &model.config;
    let (b, s) = (rows.len(), cfg.seq_len);
    let mut out: Vec<Vec<StepRecord>> = vec![Vec::new(); b];
    if b == 0 {
        return Ok(out);
    }
    let dev = model.device();
    let mut batch = Batch::zeros(b, s);
    for (i, r) in rows.iter().enumerate() {
        if r.inputs.len() != s {
            candle_core::bail!(
                "a row has {} tokens, the model expects seq_len = {s}",
                r.inputs.len()
            );
        }
        batch.inputs[i * s..(i + 1) * s].copy_from_slice(&r.inputs);
        batch.puzzle_ids[i] = r.puzzle_id;
    }
    let mut inputs = batch.inputs_tensor(dev)?;
    let mut puzzle_rows = model.puzzle_rows(&batch.ids_tensor(dev)?)?;
    let mut carry = model.initial_carry(b)?;
    // Batch position -> row.
    let mut active: Vec<usize> = (0..b).collect();
    for _ in 0..settings.steps {
        if settings.noise > 0.0 {
            carry = InnerCarry {
                z_h: noisy(&carry.z_h, settings.noise, rows, &active)?,
                z_l: noisy(&carry.z_l, settings.noise, rows, &active)?,
            };
        }
        let o = model.step(&carry, &inputs, puzzle_rows.as_ref(), false, false)?;
        let pred: Vec<u32> = o.logits.argmax(D::Minus1)?.flatten_all()?.to_vec1()?;
        let q: Vec<f32> = o.q_halt.to_vec1()?;
        let conf: Vec<f32> = if settings.record_confidence {
            confidence_of(&o.logits, cfg.loss_type)?
                .flatten_all()?
                .to_vec1()?
        } else {
            Vec::new()
        };
        let mut keep: Vec<u32> = Vec::with_capacity(active.len());
        for (j, &row) in active.iter().enumerate() {
            out[row].push(StepRecord {
                pred: pred[j * s..(j + 1) * s].iter().map(|&t| t as i32).collect(),
                q_halt: q[j],
                confidence: conf
                    .get(j * s..(j + 1) * s)
                    .map_or(Vec::new(), <[f32]>::to_vec),
            });
            if !(settings.halt == HaltPolicy::Q && q[j] > 0.0) {
                keep.push(j as u32);
            }
        }
        carry = o.carry;
        if keep.is_empty() {
            break;
        }
        if keep.len() < active.len() {
            active = keep.iter().map(|&j| active[j as usize]).collect();
            let idx = Tensor::from_vec(keep, active.len(), dev)?;
            carry = InnerCarry {
                z_h: select(&carry.z_h, &idx)?,
                z_l: select(&carry.z_l, &idx)?,
            };
            inputs = select(&inputs, &idx)?;
            puzzle_rows = puzzle_rows.map(|r| select(&r, &idx)).transpose()?;
        }
    }
    Ok(out)
}
