//! Optimizers with checkpointable state: AdamATan2 (the official dense optimizer, spec §5.1),
//! AdamW (option), the sparse sign-SGD update of the puzzle-embedding table (spec §5.2), the
//! warmup + cosine learning-rate schedule (spec §5.3), global-norm clipping, and the EMA of
//! the weights (spec §5.5). State lives in host `f32` buffers so it saves and restores exactly.

use std::collections::BTreeMap;

use candle_core::{Result, Tensor, Var};

use super::config::OptimizerKind;

/// `base * step / warmup` during warmup, then cosine from `base` to `base * min_ratio` over the
/// remaining steps (constant when `min_ratio = 1`, the official setting). `step` starts at 1.
pub fn lr_at(base: f64, step: u64, warmup: u64, total: u64, min_ratio: f64) -> f64 {
    if step < warmup {
        return base * step as f64 / warmup.max(1) as f64;
    }
    let progress = (step - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
    base * (min_ratio
        + (0.0f64).max((1.0 - min_ratio) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())))
}

/// Per-parameter first and second moments.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    pub m: Vec<f32>,
    pub v: Vec<f32>,
}

/// AdamATan2 / AdamW over a list of named variables.
#[derive(Debug, Clone)]
pub struct DenseOptimizer {
    pub kind: OptimizerKind,
    pub beta1: f64,
    pub beta2: f64,
    pub weight_decay: f64,
    /// Steps taken (bias corrections use `t = step`).
    pub step: u64,
    pub state: BTreeMap<String, Moments>,
}

impl DenseOptimizer {
    pub fn new(kind: OptimizerKind, beta1: f64, beta2: f64, weight_decay: f64) -> Self {
        Self {
            kind,
            beta1,
            beta2,
            weight_decay,
            step: 0,
            state: BTreeMap::new(),
        }
    }

    /// One step with learning rate `lr` for every `(name, var, grad)`.
    pub fn step(&mut self, lr: f64, params: &[(String, Var, Tensor)]) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        let decay = (1.0 - lr * self.weight_decay) as f32;
        let b1 = self.beta1 as f32;
        let b2 = self.beta2 as f32;
        let step_size = (lr / bc1) as f32;
        let sqrt_bc2 = bc2.sqrt() as f32;
        for (name, var, grad) in params {
            let shape = var.shape().clone();
            let mut p: Vec<f32> = var.as_tensor().flatten_all()?.to_vec1()?;
            let g: Vec<f32> = grad.flatten_all()?.to_vec1()?;
            let st = self.state.entry(name.clone()).or_insert_with(|| Moments {
                m: vec![0.0; p.len()],
                v: vec![0.0; p.len()],
            });
            if st.m.len() != p.len() {
                candle_core::bail!("optimizer state for {name} has the wrong size");
            }
            match self.kind {
                OptimizerKind::AdamAtan2 => {
                    for i in 0..p.len() {
                        p[i] *= decay;
                        st.m[i] += (g[i] - st.m[i]) * (1.0 - b1);
                        st.v[i] = st.v[i] * b2 + (1.0 - b2) * g[i] * g[i];
                        let denom = st.v[i].sqrt() / sqrt_bc2;
                        p[i] -= step_size * st.m[i].atan2(denom);
                    }
                }
                OptimizerKind::AdamW => {
                    const EPS: f32 = 1e-8;
                    for i in 0..p.len() {
                        p[i] *= decay;
                        st.m[i] += (g[i] - st.m[i]) * (1.0 - b1);
                        st.v[i] = st.v[i] * b2 + (1.0 - b2) * g[i] * g[i];
                        let denom = st.v[i].sqrt() / sqrt_bc2 + EPS;
                        p[i] -= step_size * st.m[i] / denom;
                    }
                }
            }
            var.set(&Tensor::from_vec(p, shape, var.device())?)?;
        }
        Ok(())
    }
}

/// The sparse sign-SGD update of the puzzle-embedding table: gradients of duplicate ids are
/// summed, then only the touched rows are decayed and moved by `-lr * sign(grad)`.
pub fn signsgd_update(
    table: &Tensor,
    ids: &[i32],
    grads: &Tensor,
    lr: f64,
    weight_decay: f64,
) -> Result<Tensor> {
    let (n, d) = table.dims2()?;
    let mut w: Vec<f32> = table.flatten_all()?.to_vec1()?;
    let g: Vec<f32> = grads.flatten_all()?.to_vec1()?;
    let mut summed: BTreeMap<usize, Vec<f32>> = BTreeMap::new();
    for (row, &id) in ids.iter().enumerate() {
        if id < 0 || id as usize >= n {
            candle_core::bail!("puzzle identifier {id} is outside the table (0..{n})");
        }
        let acc = summed.entry(id as usize).or_insert_with(|| vec![0.0; d]);
        for k in 0..d {
            acc[k] += g[row * d + k];
        }
    }
    let decay = (1.0 - lr * weight_decay) as f32;
    let lr = lr as f32;
    for (id, gs) in summed {
        for k in 0..d {
            let s = if gs[k] > 0.0 {
                1.0
            } else if gs[k] < 0.0 {
                -1.0
            } else {
                0.0
            };
            let x = &mut w[id * d + k];
            *x = *x * decay - lr * s;
        }
    }
    Tensor::from_vec(w, (n, d), table.device())
}

/// Scale gradients so their global L2 norm is at most `max_norm`; returns the norm before.
pub fn clip_global_norm(grads: &mut [(String, Var, Tensor)], max_norm: f64) -> Result<f64> {
    let mut sq = 0f64;
    for (_, _, g) in grads.iter() {
        sq += g
            .sqr()?
            .sum_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
    }
    let norm = sq.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let s = max_norm / (norm + 1e-6);
        for (_, _, g) in grads.iter_mut() {
            *g = (&*g * s)?;
        }
    }
    Ok(norm)
}

/// Exponential moving average of the weights (`shadow = (1-rate)*param + rate*shadow`),
/// initialised to the initial parameters, no bias correction (official `EMAHelper`).
#[derive(Debug, Clone)]
pub struct Ema {
    pub rate: f64,
    pub shadow: BTreeMap<String, Tensor>,
}

impl Ema {
    pub fn new(rate: f64, params: &[(String, Var)]) -> Self {
        Self {
            rate,
            shadow: params
                .iter()
                .map(|(n, v)| {
                    (
                        n.clone(),
                        v.as_tensor()
                            .detach()
                            .copy()
                            .unwrap_or_else(|_| v.as_tensor().detach()),
                    )
                })
                .collect(),
        }
    }

    pub fn update(&mut self, params: &[(String, Var)]) -> Result<()> {
        for (n, v) in params {
            if let Some(s) = self.shadow.get_mut(n) {
                let p = v.as_tensor().detach();
                *s = ((&p * (1.0 - self.rate))? + (&*s * self.rate)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn schedule_warms_up_then_holds_or_decays() {
        assert_eq!(lr_at(1e-4, 1, 2000, 10_000, 1.0), 1e-4 / 2000.0);
        assert_eq!(lr_at(1e-4, 2000, 2000, 10_000, 1.0), 1e-4);
        assert_eq!(lr_at(1e-4, 9000, 2000, 10_000, 1.0), 1e-4);
        assert!((lr_at(1.0, 10_000, 0, 10_000, 0.1) - 0.1).abs() < 1e-12);
        assert!((lr_at(1.0, 5_000, 0, 10_000, 0.0) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn signsgd_sums_duplicates_and_leaves_untouched_rows() -> Result<()> {
        let dev = Device::Cpu;
        let table = Tensor::new(&[[1.0f32, 1.0], [2.0, 2.0], [3.0, 3.0]], &dev)?;
        let grads = Tensor::new(&[[1.0f32, -1.0], [-2.0, 0.5], [0.0, 0.0]], &dev)?;
        let out = signsgd_update(&table, &[0, 0, 2], &grads, 0.1, 0.5)?;
        let out: Vec<Vec<f32>> = out.to_vec2()?;
        // row 0: grads summed to (-1, -0.5) -> sign (-1, -1); 1*(1-0.05) + 0.1
        assert!((out[0][0] - 1.05).abs() < 1e-6 && (out[0][1] - 1.05).abs() < 1e-6);
        assert_eq!(out[1], vec![2.0, 2.0]);
        // row 2: zero gradient: decayed only.
        assert!((out[2][0] - 3.0 * 0.95).abs() < 1e-6);
        assert!(signsgd_update(&table, &[5], &grads.narrow(0, 0, 1)?, 0.1, 0.0).is_err());
        Ok(())
    }

    #[test]
    fn clipping_bounds_the_norm() -> Result<()> {
        let dev = Device::Cpu;
        let v = Var::new(&[0f32, 0.0], &dev)?;
        let mut g = vec![("a".to_string(), v, Tensor::new(&[3f32, 4.0], &dev)?)];
        let n = clip_global_norm(&mut g, 1.0)?;
        assert!((n - 5.0).abs() < 1e-9);
        let after: f32 = g[0].2.sqr()?.sum_all()?.sqrt()?.to_scalar()?;
        assert!((after - 1.0).abs() < 1e-4);
        Ok(())
    }
}
