//! Step-by-step inference for the solver pane: run one supervision step at a time (evaluation
//! semantics, no graph) and keep, for every step, the predicted tokens, their probabilities,
//! the halting logits, the carries' norms and, on request, the answer after each H-cycle.

use candle_core::{DType, Device, Result, Tensor, D};

use super::config::LossType;
use super::net::{InnerCarry, TrmModel};

/// What one supervision step produced for a single puzzle.
#[derive(Debug, Clone, PartialEq)]
pub struct SolveStep {
    /// 1-based supervision step.
    pub step: usize,
    /// Argmax token per cell.
    pub pred: Vec<u32>,
    /// Probability of every token per cell (`[seq_len][vocab]`), under the model's loss
    /// (stable-max or softmax), so confidence means what the training objective means.
    pub probs: Vec<Vec<f32>>,
    pub q_halt: f32,
    pub q_continue: f32,
    /// Frobenius norms of z_H and z_L after the step, and of their change during the step.
    pub z_h_norm: f32,
    pub z_l_norm: f32,
    pub z_h_delta: f32,
    pub z_l_delta: f32,
    /// Argmax answer after each H-cycle of this step (only when requested).
    pub cycle_preds: Vec<Vec<u32>>,
}

impl SolveStep {
    /// `sigmoid(q_halt)`: the model's belief that the answer is already right.
    pub fn halt_prob(&self) -> f32 {
        1.0 / (1.0 + (-self.q_halt).exp())
    }

    /// The training rule for halting (`q_halt > 0`, or `q_halt > q_continue` with the
    /// continue loss).
    pub fn would_halt(&self, no_act_continue: bool) -> bool {
        if no_act_continue {
            self.q_halt > 0.0
        } else {
            self.q_halt > self.q_continue
        }
    }
}

/// Runs the supervision steps of one puzzle one at a time.
pub struct StepSolver<'m> {
    model: &'m TrmModel,
    inputs: Tensor,
    rows: Option<Tensor>,
    carry: InnerCarry,
    record_cycles: bool,
    steps: Vec<SolveStep>,
}

fn probs_of(logits: &Tensor, kind: LossType) -> Result<Tensor> {
    let x = logits.to_dtype(DType::F64)?;
    let p = match kind {
        LossType::StablemaxCrossEntropy => super::loss::log_stablemax(&x)?.exp()?,
        LossType::SoftmaxCrossEntropy => super::loss::log_softmax(&x)?.exp()?,
    };
    p.to_dtype(DType::F32)
}

impl<'m> StepSolver<'m> {
    /// Start on one puzzle: `inputs` are its `seq_len` tokens, `puzzle_id` its identifier.
    pub fn new(
        model: &'m TrmModel,
        inputs: &[i32],
        puzzle_id: i32,
        record_cycles: bool,
    ) -> Result<Self> {
        let cfg = &model.config;
        if inputs.len() != cfg.seq_len {
            candle_core::bail!(
                "the puzzle has {} tokens, the model expects seq_len = {}",
                inputs.len(),
                cfg.seq_len
            );
        }
        if let Some(bad) = inputs
            .iter()
            .find(|&&t| t < 0 || t as usize >= cfg.vocab_size)
        {
            candle_core::bail!(
                "token {bad} is outside the model's vocabulary 0..{}",
                cfg.vocab_size
            );
        }
        let dev: &Device = model.device();
        // u32 ids made on the host (checked non-negative above): the model casts no integer
        // tensor on the device.
        let tokens: Vec<u32> = inputs.iter().map(|&t| t as u32).collect();
        let inputs = Tensor::from_vec(tokens, (1, cfg.seq_len), dev)?;
        let id = if cfg.puzzle_emb_ndim > 0 {
            puzzle_id.clamp(0, cfg.num_puzzle_identifiers as i32 - 1)
        } else {
            0
        };
        let rows = model.puzzle_rows(&Tensor::new(&[id as u32], dev)?)?;
        Ok(Self {
            model,
            inputs,
            rows,
            carry: model.initial_carry(1)?,
            record_cycles,
            steps: Vec::new(),
        })
    }

    pub fn steps(&self) -> &[SolveStep] {
        &self.steps
    }

    /// True once `halt_max_steps` steps have run.
    pub fn finished(&self) -> bool {
        self.steps.len() >= self.model.config.halt_max_steps
    }

    /// Run the next supervision step (no-op returning the last one when finished).
    pub fn next_step(&mut self) -> Result<&SolveStep> {
        if self.finished() {
            return self
                .steps
                .last()
                .ok_or_else(|| candle_core::Error::Msg("no step".into()));
        }
        let out = self.model.step(
            &self.carry,
            &self.inputs,
            self.rows.as_ref(),
            false,
            self.record_cycles,
        )?;
        let kind = self.model.config.loss_type;
        let pred: Vec<u32> = out.logits.argmax(D::Minus1)?.squeeze(0)?.to_vec1()?;
        let probs: Vec<Vec<f32>> = probs_of(&out.logits, kind)?.squeeze(0)?.to_vec2()?;
        let norm = |t: &Tensor| -> Result<f32> {
            t.to_dtype(DType::F32)?
                .sqr()?
                .sum_all()?
                .sqrt()?
                .to_scalar::<f32>()
        };
        let step = SolveStep {
            step: self.steps.len() + 1,
            pred,
            probs,
            q_halt: out.q_halt.to_vec1::<f32>()?[0],
            q_continue: out.q_continue.to_vec1::<f32>()?[0],
            z_h_norm: norm(&out.carry.z_h)?,
            z_l_norm: norm(&out.carry.z_l)?,
            z_h_delta: norm(&(&out.carry.z_h - &self.carry.z_h)?)?,
            z_l_delta: norm(&(&out.carry.z_l - &self.carry.z_l)?)?,
            cycle_preds: out
                .cycle_logits
                .iter()
                .map(|l| l.argmax(D::Minus1)?.squeeze(0)?.to_vec1())
                .collect::<Result<_>>()?,
        };
        self.carry = out.carry;
        self.steps.push(step);
        Ok(self.steps.last().expect("just pushed"))
    }

    /// Run every remaining step.
    pub fn run_all(&mut self) -> Result<&[SolveStep]> {
        while !self.finished() {
            self.next_step()?;
        }
        Ok(&self.steps)
    }
}
