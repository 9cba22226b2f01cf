//! Adaptive computation time (`TinyRecursiveReasoningModel_ACTV1`): the persistent batch carry,
//! halted slots reset and refilled from the offered batch at the same index, the halting rule
//! (q_halt > 0, or q_halt > q_continue with the continue loss) with exploration during
//! training, evaluation running all `halt_max_steps`, and the HRM-style continue target.

use candle_core::{Device, Result, Tensor, Var};

use super::config::TrmConfig;
use super::host;
use super::loss::{loss_head, Labels, LossOutput};
use super::net::{InnerCarry, StepOutput, TrmModel};
use crate::util::Rng;

/// One batch of examples on the host: row-major `[B, S]` inputs and labels (`-100` ignored),
/// `[B]` puzzle identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub size: usize,
    pub seq_len: usize,
    pub inputs: Vec<i32>,
    pub labels: Vec<i32>,
    pub puzzle_ids: Vec<i32>,
}

impl Batch {
    pub fn zeros(size: usize, seq_len: usize) -> Self {
        Self {
            size,
            seq_len,
            inputs: vec![0; size * seq_len],
            labels: vec![-100; size * seq_len],
            puzzle_ids: vec![0; size],
        }
    }

    /// `[B, S]` u32 token ids (converted on the host: the model casts no integer tensor).
    pub fn inputs_tensor(&self, dev: &Device) -> Result<Tensor> {
        Tensor::from_vec(
            to_u32(&self.inputs, "token id")?,
            (self.size, self.seq_len),
            dev,
        )
    }

    /// `[B, S]` i64 labels (`-100` ignored), converted on the host.
    pub fn labels_tensor(&self, dev: &Device) -> Result<Tensor> {
        let labels: Vec<i64> = self.labels.iter().map(|&l| i64::from(l)).collect();
        Tensor::from_vec(labels, (self.size, self.seq_len), dev)
    }

    /// The labels as the loss head takes them (counted-position mask and gather targets).
    pub fn labels(&self, dev: &Device) -> Result<Labels> {
        Labels::new(&self.labels, self.size, self.seq_len, dev)
    }

    /// `[B]` u32 puzzle identifiers, converted on the host.
    pub fn ids_tensor(&self, dev: &Device) -> Result<Tensor> {
        Tensor::from_vec(to_u32(&self.puzzle_ids, "puzzle id")?, self.size, dev)
    }

    /// Copy row `i` of `other` into row `i` of `self`.
    pub fn take_row(&mut self, other: &Batch, i: usize) {
        let s = self.seq_len;
        self.inputs[i * s..(i + 1) * s].copy_from_slice(&other.inputs[i * s..(i + 1) * s]);
        self.labels[i * s..(i + 1) * s].copy_from_slice(&other.labels[i * s..(i + 1) * s]);
        self.puzzle_ids[i] = other.puzzle_ids[i];
    }
}

/// Host ids as the u32 an index op takes; a negative one is an error naming it.
fn to_u32(v: &[i32], what: &str) -> Result<Vec<u32>> {
    v.iter()
        .map(|&x| {
            u32::try_from(x).map_err(|_| candle_core::Error::Msg(format!("{what} {x} is negative")))
        })
        .collect()
}

/// The ACT carry: recurrent state, per-slot step counts and halting flags, and the examples
/// the slots currently hold.
#[derive(Debug, Clone)]
pub struct ActCarry {
    pub inner: InnerCarry,
    pub steps: Vec<u32>,
    pub halted: Vec<bool>,
    pub current: Batch,
}

/// Outputs of one ACT call.
pub struct ActOutput {
    pub step: StepOutput,
    /// The continue-loss target (training with `no_ACT_continue = false` only).
    pub target_q_continue: Option<Tensor>,
    /// The gathered puzzle-embedding rows as a leaf variable (training only), whose gradient
    /// feeds the sparse sign-SGD update; and the ids they came from.
    pub puzzle_rows: Option<Var>,
    pub puzzle_ids: Vec<i32>,
}

impl TrmModel {
    /// The initial carry: every slot halted (so it is reset and filled on the first call).
    pub fn act_initial_carry(&self, batch: usize) -> Result<ActCarry> {
        Ok(ActCarry {
            inner: self.initial_carry(batch)?,
            steps: vec![0; batch],
            halted: vec![true; batch],
            current: Batch::zeros(batch, self.config.seq_len),
        })
    }

    /// One ACT call. `train` selects training semantics (gradients, q-based halting with
    /// exploration drawn from `rng`); otherwise every slot runs `halt_max_steps` steps.
    pub fn act_step(
        &self,
        carry: &ActCarry,
        offered: &Batch,
        train: bool,
        rng: &mut Rng,
    ) -> Result<(ActCarry, ActOutput)> {
        let cfg = &self.config;
        let dev = self.device().clone();
        if offered.size != carry.current.size || offered.seq_len != carry.current.seq_len {
            candle_core::bail!(
                "offered batch is [{}, {}], the carry holds [{}, {}]",
                offered.size,
                offered.seq_len,
                carry.current.size,
                carry.current.seq_len
            );
        }
        let inner = self.reset_carry(&carry.halted, &carry.inner)?;
        let mut steps: Vec<u32> = carry
            .steps
            .iter()
            .zip(&carry.halted)
            .map(|(&s, &h)| if h { 0 } else { s })
            .collect();
        let mut current = carry.current.clone();
        for (i, &h) in carry.halted.iter().enumerate() {
            if h {
                current.take_row(offered, i);
            }
        }
        let inputs = current.inputs_tensor(&dev)?;
        let ids = current.ids_tensor(&dev)?;
        let rows = self.puzzle_rows(&ids)?;
        let rows_var = match (&rows, train) {
            (Some(r), true) => Some(Var::from_tensor(r)?),
            _ => None,
        };
        let rows_ref: Option<Tensor> = match &rows_var {
            Some(v) => Some(v.as_tensor().clone()),
            None => rows,
        };
        let step = self.step(&inner, &inputs, rows_ref.as_ref(), train, false)?;

        // Halting (no gradient).
        for s in steps.iter_mut() {
            *s += 1;
        }
        let max = cfg.halt_max_steps as u32;
        let is_last: Vec<bool> = steps.iter().map(|&s| s >= max).collect();
        let mut halted = is_last.clone();
        let mut target_q_continue = None;
        if train && cfg.halt_max_steps > 1 {
            // The halting logits in one host read: `[q_halt; q_continue]`.
            let q: Vec<f32> = host::to_vec(&Tensor::stack(
                &[step.q_halt.detach(), step.q_continue.detach()],
                0,
            )?)?;
            let (qh, qc) = q.split_at(halted.len());
            for i in 0..halted.len() {
                let wants = if cfg.no_act_continue {
                    qh[i] > 0.0
                } else {
                    qh[i] > qc[i]
                };
                halted[i] |= wants;
            }
            // Exploration: with probability p, forbid halting before a random step in 2..=max.
            let min_steps = exploration_min_steps(cfg, halted.len(), rng);
            for i in 0..halted.len() {
                halted[i] &= steps[i] >= min_steps[i];
            }
            if !cfg.no_act_continue {
                // HRM-style target: sigmoid of the next step's q_halt (at the last step) or
                // max(q_halt, q_continue), from the new carry, on the device (no gradient).
                let next = self.step(&step.carry, &inputs, rows_ref.as_ref(), false, false)?;
                let last: Vec<u8> = is_last.iter().map(|&l| u8::from(l)).collect();
                let v = Tensor::from_vec(last, halted.len(), &dev)?
                    .where_cond(&next.q_halt, &next.q_halt.maximum(&next.q_continue)?)?;
                target_q_continue = Some(((v.neg()?.exp()? + 1.0)?.recip()?).detach());
            }
        }
        let new_carry = ActCarry {
            inner: step.carry.clone(),
            steps,
            halted,
            current: current.clone(),
        };
        Ok((
            new_carry,
            ActOutput {
                step,
                target_q_continue,
                puzzle_rows: rows_var,
                puzzle_ids: current.puzzle_ids.clone(),
            },
        ))
    }

    /// One ACT call followed by the loss head (`ACTLossHead.forward`).
    pub fn act_loss_step(
        &self,
        carry: &ActCarry,
        offered: &Batch,
        train: bool,
        rng: &mut Rng,
    ) -> Result<(ActCarry, ActOutput, LossOutput)> {
        let (new_carry, out) = self.act_step(carry, offered, train, rng)?;
        let labels = new_carry.current.labels(self.device())?;
        let loss = loss_head(
            &out.step.logits,
            &out.step.q_halt,
            &out.step.q_continue,
            out.target_q_continue.as_ref(),
            &labels,
            &new_carry.halted,
            &new_carry.steps,
            self.config.loss_type,
            !train,
        )?;
        Ok((new_carry, out, loss))
    }
}

/// The halting exploration of one training ACT call over `rows` sequences: for each, with
/// probability `halt_exploration_prob`, a minimum step drawn from 2..=`halt_max_steps` (0 =
/// no minimum). These are the only draws a training step makes from its RNG, and they do not
/// depend on the model, so a data-parallel rank replays the draws of the micro-batches it does
/// not own to stay in step with the others.
pub fn exploration_min_steps(cfg: &TrmConfig, rows: usize, rng: &mut Rng) -> Vec<u32> {
    let max = cfg.halt_max_steps as u32;
    (0..rows)
        .map(|_| {
            if rng.uniform() < cfg.halt_exploration_prob {
                rng.int_inclusive(2, max.max(2) as i64) as u32
            } else {
                0
            }
        })
        .collect()
}

/// Advance `rng` exactly as a training ACT call over `rows` sequences would.
pub fn skip_act_draws(cfg: &TrmConfig, rows: usize, rng: &mut Rng) {
    if cfg.halt_max_steps > 1 {
        exploration_min_steps(cfg, rows, rng);
    }
}
