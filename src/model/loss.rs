//! The loss head (`ACTLossHead`): stable-max (or softmax) cross-entropy in float64 with
//! per-sequence normalisation and `-100` ignored, the BCE halting loss, the optional
//! q-continue loss, and the official metric sums.

use candle_core::{DType, Result, Tensor, D};

use super::config::LossType;

/// The ignored label id (`IGNORE_LABEL_ID`).
pub const IGNORE_LABEL_ID: i64 = -100;

/// `s(x) = 1/(1 - x + 1e-30)` for x < 0, `x + 1` otherwise; each branch is evaluated on the
/// clamped input so that the unused branch never produces inf/NaN gradients.
fn stablemax_s(x: &Tensor) -> Result<Tensor> {
    let zeros = x.zeros_like()?;
    let neg = x.minimum(&zeros)?;
    let pos = x.maximum(&zeros)?;
    let s_neg = ((neg.neg()? + 1.0)? + 1e-30)?.recip()?;
    let s_pos = (pos + 1.0)?;
    let is_neg = x.lt(&zeros)?;
    is_neg.where_cond(&s_neg, &s_pos)
}

/// Log-probabilities under stable-max over the last dimension (input cast to f64).
pub fn log_stablemax(logits: &Tensor) -> Result<Tensor> {
    let x = logits.to_dtype(DType::F64)?;
    let s = stablemax_s(&x)?;
    let sum = s.sum_keepdim(D::Minus1)?;
    s.log()?.broadcast_sub(&sum.log()?)
}

/// Log-softmax over the last dimension (input cast to f64).
pub fn log_softmax(logits: &Tensor) -> Result<Tensor> {
    let x = logits.to_dtype(DType::F64)?;
    let max = x.max_keepdim(D::Minus1)?.detach();
    let shifted = x.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    shifted.broadcast_sub(&lse)
}

/// Per-token cross-entropy `[...]` (f64), 0 where the label is `-100`.
/// `logits: [..., V]`, `labels: [...]` integer.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor, kind: LossType) -> Result<Tensor> {
    let logp = match kind {
        LossType::StablemaxCrossEntropy => log_stablemax(logits)?,
        LossType::SoftmaxCrossEntropy => log_softmax(logits)?,
    };
    let labels = labels.to_dtype(DType::I64)?;
    let valid = labels.ne(IGNORE_LABEL_ID)?;
    let safe = valid.where_cond(&labels, &labels.zeros_like()?)?;
    let picked = logp
        .gather(&safe.to_dtype(DType::U32)?.unsqueeze(D::Minus1)?, D::Minus1)?
        .squeeze(D::Minus1)?;
    valid.where_cond(&picked.neg()?, &picked.zeros_like()?)
}

/// `sum(BCEWithLogits(x, t))`, numerically stable, in the dtype of `x`.
pub fn bce_with_logits_sum(x: &Tensor, target: &Tensor) -> Result<Tensor> {
    let t = target.to_dtype(x.dtype())?;
    let relu = x.maximum(&x.zeros_like()?)?;
    let softplus = (x.abs()?.neg()?.exp()? + 1.0)?.log()?;
    relu.sub(&x.mul(&t)?)?.add(&softplus)?.sum_all()
}

/// Metric sums of one supervision step (divide by `count`, or losses by the batch size).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricSums {
    pub count: f64,
    pub accuracy: f64,
    pub exact_accuracy: f64,
    pub q_halt_accuracy: f64,
    pub steps: f64,
    pub lm_loss: f64,
    pub q_halt_loss: f64,
    pub q_continue_loss: Option<f64>,
}

impl MetricSums {
    pub fn add(&mut self, o: &MetricSums) {
        self.count += o.count;
        self.accuracy += o.accuracy;
        self.exact_accuracy += o.exact_accuracy;
        self.q_halt_accuracy += o.q_halt_accuracy;
        self.steps += o.steps;
        self.lm_loss += o.lm_loss;
        self.q_halt_loss += o.q_halt_loss;
        if let Some(q) = o.q_continue_loss {
            *self.q_continue_loss.get_or_insert(0.0) += q;
        }
    }
}

/// The output of the loss head.
pub struct LossOutput {
    /// `lm_loss + 0.5 * (q_halt_loss + q_continue_loss)`, f64 scalar (differentiable).
    pub total: Tensor,
    pub metrics: MetricSums,
    /// Per sequence: every valid token predicted correctly.
    pub seq_correct: Vec<bool>,
    /// Argmax predictions `[B][S]`.
    pub preds: Vec<Vec<u32>>,
}

/// The loss head for one supervision step. `halted` and `steps` are the carry after the step
/// (metrics count halted slots only); `target_q_continue` enables the continue loss.
#[allow(clippy::too_many_arguments)]
pub fn loss_head(
    logits: &Tensor,
    q_halt: &Tensor,
    q_continue: &Tensor,
    target_q_continue: Option<&Tensor>,
    labels: &Tensor,
    halted: &[bool],
    steps: &[u32],
    kind: LossType,
) -> Result<LossOutput> {
    let (b, s) = labels.dims2()?;
    let labels_v: Vec<Vec<i64>> = labels.to_dtype(DType::I64)?.to_vec2()?;
    let preds: Vec<Vec<u32>> = logits.detach().argmax(D::Minus1)?.to_vec2()?;
    let q_halt_v: Vec<f32> = q_halt.detach().to_dtype(DType::F32)?.to_vec1()?;
    let mut metrics = MetricSums::default();
    let mut seq_correct = Vec::with_capacity(b);
    let mut divisors = Vec::with_capacity(b);
    for i in 0..b {
        let mut count = 0usize;
        let mut correct = 0usize;
        for t in 0..s {
            let l = labels_v[i][t];
            if l != IGNORE_LABEL_ID {
                count += 1;
                if preds[i][t] as i64 == l {
                    correct += 1;
                }
            }
        }
        let is_correct = correct == count;
        seq_correct.push(is_correct);
        let divisor = count.max(1) as f64;
        divisors.push(divisor);
        let valid = halted[i] && count > 0;
        if valid {
            metrics.count += 1.0;
            metrics.accuracy += correct as f64 / divisor;
            metrics.exact_accuracy += is_correct as u8 as f64;
            metrics.q_halt_accuracy += ((q_halt_v[i] >= 0.0) == is_correct) as u8 as f64;
            metrics.steps += steps[i] as f64;
        }
    }
    let dev = logits.device();
    let ce = cross_entropy(logits, labels, kind)?; // [B, S] f64
    let div = Tensor::from_vec(divisors, (b, 1), dev)?;
    let lm_loss = ce.broadcast_div(&div)?.sum_all()?;
    let target: Vec<f32> = seq_correct.iter().map(|&c| c as u8 as f32).collect();
    let target = Tensor::from_vec(target, b, dev)?;
    let q_halt_loss = bce_with_logits_sum(q_halt, &target)?;
    let mut q_sum = q_halt_loss.to_dtype(DType::F64)?;
    metrics.lm_loss = lm_loss.to_scalar::<f64>()?;
    metrics.q_halt_loss = q_halt_loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    if let Some(tq) = target_q_continue {
        let q_cont_loss = bce_with_logits_sum(q_continue, tq)?;
        metrics.q_continue_loss = Some(q_cont_loss.to_dtype(DType::F64)?.to_scalar::<f64>()?);
        q_sum = q_sum.add(&q_cont_loss.to_dtype(DType::F64)?)?;
    }
    let total = lm_loss.add(&(q_sum * 0.5)?)?;
    Ok(LossOutput {
        total,
        metrics,
        seq_correct,
        preds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn stablemax_matches_closed_form() -> Result<()> {
        let x = Tensor::new(&[[-2.0f64, 0.0, 3.0]], &Device::Cpu)?;
        let lp = log_stablemax(&x)?.to_vec2::<f64>()?;
        let s = [1.0 / 3.0, 1.0, 4.0];
        let z: f64 = s.iter().sum();
        for k in 0..3 {
            assert!((lp[0][k] - (s[k] / z).ln()).abs() < 1e-12);
        }
        Ok(())
    }

    #[test]
    fn ignored_labels_give_zero_and_softmax_works() -> Result<()> {
        let x = Tensor::new(&[[1.0f32, 2.0], [3.0, -1.0]], &Device::Cpu)?;
        let y = Tensor::new(&[1i64, -100], &Device::Cpu)?;
        for kind in [
            LossType::StablemaxCrossEntropy,
            LossType::SoftmaxCrossEntropy,
        ] {
            let ce = cross_entropy(&x, &y, kind)?.to_vec1::<f64>()?;
            assert_eq!(ce[1], 0.0);
            assert!(ce[0] > 0.0);
        }
        let ce = cross_entropy(&x, &y, LossType::SoftmaxCrossEntropy)?.to_vec1::<f64>()?;
        let expect = -(2f64.exp() / (1f64.exp() + 2f64.exp())).ln();
        assert!((ce[0] - expect).abs() < 1e-6);
        Ok(())
    }

    #[test]
    fn bce_is_stable_for_large_logits() -> Result<()> {
        let x = Tensor::new(&[100.0f32, -100.0], &Device::Cpu)?;
        let t = Tensor::new(&[1.0f32, 0.0], &Device::Cpu)?;
        let l = bce_with_logits_sum(&x, &t)?.to_scalar::<f32>()?;
        assert!(l.abs() < 1e-6, "{l}");
        Ok(())
    }
}
