//! The loss head (`ACTLossHead`): stable-max (or softmax) cross-entropy in float64 with
//! per-sequence normalisation and `-100` ignored, the BCE halting loss, the optional
//! q-continue loss, and the official metric sums.

use candle_core::{DType, Device, Result, Tensor, D};

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

/// The labels of a batch: the host copy (the metrics' token counts) and, made on the host in
/// the dtypes their ops take, the `u8` mask of counted positions and the `u32` gather targets
/// (ignored positions point at class 0); no integer tensor is cast on the device.
#[derive(Debug, Clone)]
pub struct Labels {
    /// `[B, S]` row-major, `-100` ignored.
    pub host: Vec<i64>,
    pub size: usize,
    pub seq_len: usize,
    /// `[B, S]` u8: 1 where the label counts.
    pub valid: Tensor,
    /// `[B, S]` u32: the label, or 0 where ignored.
    pub targets: Tensor,
}

impl Labels {
    /// `host` is `[size, seq_len]` row-major.
    pub fn new(host: &[i32], size: usize, seq_len: usize, dev: &Device) -> Result<Self> {
        Self::from_host(
            host.iter().map(|&l| l as i64).collect(),
            &[size, seq_len],
            dev,
        )
    }

    /// Labels of any shape (`dims`), the last dimension being the sequence.
    fn from_host(host: Vec<i64>, dims: &[usize], dev: &Device) -> Result<Self> {
        if let Some(bad) = host.iter().find(|&&l| l < 0 && l != IGNORE_LABEL_ID) {
            candle_core::bail!("label {bad} is negative and not the ignored id {IGNORE_LABEL_ID}");
        }
        let valid: Vec<u8> = host
            .iter()
            .map(|&l| u8::from(l != IGNORE_LABEL_ID))
            .collect();
        let targets: Vec<u32> = host.iter().map(|&l| l.max(0) as u32).collect();
        let seq_len = dims.last().copied().unwrap_or(1);
        Ok(Self {
            size: host.len() / seq_len.max(1),
            seq_len,
            valid: Tensor::from_vec(valid, dims, dev)?,
            targets: Tensor::from_vec(targets, dims, dev)?,
            host,
        })
    }

    /// Labels held in an integer tensor (fixtures, tests): read to the host once.
    pub fn from_tensor(labels: &Tensor) -> Result<Self> {
        let host: Vec<i64> = match labels.dtype() {
            DType::I64 => labels.flatten_all()?.to_vec1()?,
            DType::I32 => labels
                .flatten_all()?
                .to_vec1::<i32>()?
                .into_iter()
                .map(i64::from)
                .collect(),
            DType::U32 => labels
                .flatten_all()?
                .to_vec1::<u32>()?
                .into_iter()
                .map(i64::from)
                .collect(),
            other => candle_core::bail!("labels must be integers, got {other:?}"),
        };
        Self::from_host(host, labels.dims(), labels.device())
    }
}

/// Per-token cross-entropy `[...]` (f64), 0 where the label is `-100`.
/// `logits: [..., V]`, `labels: [...]` integer.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor, kind: LossType) -> Result<Tensor> {
    cross_entropy_of(logits, &Labels::from_tensor(labels)?, kind)
}

fn cross_entropy_of(logits: &Tensor, labels: &Labels, kind: LossType) -> Result<Tensor> {
    let logp = match kind {
        LossType::StablemaxCrossEntropy => log_stablemax(logits)?,
        LossType::SoftmaxCrossEntropy => log_softmax(logits)?,
    };
    let picked = logp
        .gather(&labels.targets.unsqueeze(D::Minus1)?, D::Minus1)?
        .squeeze(D::Minus1)?;
    labels
        .valid
        .where_cond(&picked.neg()?, &picked.zeros_like()?)
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
    /// The value of `total`, read with the metrics.
    pub total_value: f64,
    pub metrics: MetricSums,
    /// Per sequence: every valid token predicted correctly (with `detail` only, else empty).
    pub seq_correct: Vec<bool>,
    /// Argmax predictions `[B][S]` (with `detail` only, else empty).
    pub preds: Vec<Vec<u32>>,
}

/// The loss head for one supervision step. `halted` and `steps` are the carry after the step
/// (metrics count halted slots only); `target_q_continue` enables the continue loss.
/// The metrics are computed on the device and read back with the losses in one host read;
/// `detail` (evaluation) also reads the predictions and gives `preds` and `seq_correct`.
#[allow(clippy::too_many_arguments)]
pub fn loss_head(
    logits: &Tensor,
    q_halt: &Tensor,
    q_continue: &Tensor,
    target_q_continue: Option<&Tensor>,
    labels: &Labels,
    halted: &[bool],
    steps: &[u32],
    kind: LossType,
    detail: bool,
) -> Result<LossOutput> {
    let (b, s) = (labels.size, labels.seq_len);
    if labels.host.len() != b * s || halted.len() != b || steps.len() != b {
        candle_core::bail!(
            "loss head: {} labels, {} halting flags and {} step counts for a batch of [{b}, {s}]",
            labels.host.len(),
            halted.len(),
            steps.len()
        );
    }
    let dev = logits.device();
    // What the host knows: the counted tokens of each row, and which rows the metrics count.
    let counts: Vec<f64> = labels
        .host
        .chunks(s.max(1))
        .map(|row| row.iter().filter(|&&l| l != IGNORE_LABEL_ID).count() as f64)
        .collect();
    let divisors: Vec<f64> = counts.iter().map(|&c| c.max(1.0)).collect();
    let counted: Vec<u8> = (0..b)
        .map(|i| u8::from(halted[i] && counts[i] > 0.0))
        .collect();
    let mut metrics = MetricSums::default();
    for i in (0..b).filter(|&i| counted[i] == 1) {
        metrics.count += 1.0;
        metrics.steps += steps[i] as f64;
    }
    // On the device: correct tokens per row, whole-row correctness, and the masked sums.
    let preds = logits.detach().argmax(D::Minus1)?; // [B, S] u32
    let hit = preds.eq(&labels.targets)?.mul(&labels.valid)?;
    let correct = hit
        .where_cond(
            &Tensor::ones((b, s), DType::F64, dev)?,
            &Tensor::zeros((b, s), DType::F64, dev)?,
        )?
        .sum(1)?; // [B] f64
    let seq_ok = correct.eq(&Tensor::from_vec(counts.clone(), b, dev)?)?; // [B] u8
    let counted = Tensor::from_vec(counted, b, dev)?;
    let ones = Tensor::ones(b, DType::F64, dev)?;
    let zeros = Tensor::zeros(b, DType::F64, dev)?;
    let masked_sum = |x: &Tensor| counted.where_cond(x, &zeros)?.sum_all();
    let accuracy = masked_sum(&correct.div(&Tensor::from_vec(divisors, b, dev)?)?)?;
    let exact = masked_sum(&seq_ok.where_cond(&ones, &zeros)?)?;
    let q_halt_ok = q_halt.detach().ge(0.0)?.eq(&seq_ok)?;
    let q_halt_acc = masked_sum(&q_halt_ok.where_cond(&ones, &zeros)?)?;

    let ce = cross_entropy_of(logits, labels, kind)?; // [B, S] f64
    let div = Tensor::from_vec(counts.iter().map(|&c| c.max(1.0)).collect(), (b, 1), dev)?;
    let lm_loss = ce.broadcast_div(&div)?.sum_all()?;
    let target = seq_ok.where_cond(
        &Tensor::ones(b, DType::F32, dev)?,
        &Tensor::zeros(b, DType::F32, dev)?,
    )?;
    let q_halt_loss = bce_with_logits_sum(q_halt, &target)?.to_dtype(DType::F64)?;
    let q_cont_loss = match target_q_continue {
        Some(tq) => Some(bce_with_logits_sum(q_continue, tq)?.to_dtype(DType::F64)?),
        None => None,
    };
    let q_sum = match &q_cont_loss {
        Some(qc) => q_halt_loss.add(qc)?,
        None => q_halt_loss.clone(),
    };
    let total = lm_loss.add(&(q_sum * 0.5)?)?;
    let zero = Tensor::zeros((), DType::F64, dev)?;
    let packed = Tensor::stack(
        &[
            total.detach(),
            lm_loss.detach(),
            q_halt_loss.detach(),
            q_cont_loss.as_ref().map_or(zero, Tensor::detach),
            accuracy,
            exact,
            q_halt_acc,
        ],
        0,
    )?;
    let v: Vec<f64> = super::host::to_vec(&packed)?;
    metrics.lm_loss = v[1];
    metrics.q_halt_loss = v[2];
    metrics.q_continue_loss = q_cont_loss.is_some().then_some(v[3]);
    metrics.accuracy = v[4];
    metrics.exact_accuracy = v[5];
    metrics.q_halt_accuracy = v[6];
    let (preds, seq_correct) = if detail {
        let preds: Vec<Vec<u32>> = super::host::to_vec2(&preds)?;
        let seq_correct = (0..b)
            .map(|i| {
                let row = &labels.host[i * s..(i + 1) * s];
                row.iter()
                    .zip(&preds[i])
                    .all(|(&l, &p)| l == IGNORE_LABEL_ID || p as i64 == l)
            })
            .collect();
        (preds, seq_correct)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(LossOutput {
        total,
        total_value: v[0],
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
