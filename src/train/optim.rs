//! Optimizers with checkpointable state: AdamATan2 (the official dense optimizer, official
//! `adam_atan2.AdamATan2`), AdamW (option), the sparse sign-SGD update of the puzzle-embedding
//! table (official `models/sparse_embedding.py`, `_sparse_emb_signsgd_dist`), the warmup +
//! cosine learning-rate schedule (official `pretrain.py`, `cosine_schedule_with_warmup_lr_lambda`),
//! global-norm clipping, and the EMA of the weights (official `models/ema.py`).
//!
//! Everything runs as tensor ops on the parameters' device: the moments are float32 tensors
//! beside the weights, and a step reads back one scalar (the gradient norm). Each update is the
//! same sequence of float32 operations, in the same order, as the element loop it replaced, so
//! on the CPU it is bit-identical to it (the optimizer parity test checks the official values).

use std::collections::BTreeMap;

use candle_core::{DType, Device, Result, Tensor, Var};

use super::config::OptimizerKind;
use crate::model::atan2::atan2;
use crate::model::host;

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

/// Per-parameter first and second moments: flat float32 tensors on the parameter's device.
#[derive(Debug, Clone)]
pub struct Moments {
    pub m: Tensor,
    pub v: Tensor,
}

impl Moments {
    /// Zero moments for a parameter of `n` elements.
    pub fn zeros(n: usize, device: &Device) -> Result<Self> {
        Ok(Self {
            m: Tensor::zeros(n, DType::F32, device)?,
            v: Tensor::zeros(n, DType::F32, device)?,
        })
    }

    /// Moments read from a checkpoint (any shape, flattened; converted to float32).
    pub fn from_tensors(m: &Tensor, v: &Tensor) -> Result<Self> {
        Ok(Self {
            m: m.flatten_all()?.to_dtype(DType::F32)?,
            v: v.flatten_all()?.to_dtype(DType::F32)?,
        })
    }
}

/// A float32 scalar on `device`, broadcast against a tensor by the binary ops (an exact
/// element-wise product or quotient, where `affine` would add a zero and lose a sign of zero).
fn scalar(x: f32, device: &Device) -> Result<Tensor> {
    Tensor::new(x, device)
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

    /// One step with learning rate `lr` for every `(name, var, grad)`, on the variables'
    /// device, with no host read. Per element, in float32:
    /// `p *= 1 - lr*wd; m += (g - m)*(1 - b1); v = v*b2 + (1 - b2)*g*g;
    /// p -= lr/bc1 * atan2(m, sqrt(v)/sqrt(bc2))` (AdamW: `(lr/bc1)*m / (sqrt(v)/sqrt(bc2) + eps)`).
    pub fn step(&mut self, lr: f64, params: &[(String, Var, Tensor)]) -> Result<()> {
        self.step += 1;
        let Some((_, first, _)) = params.first() else {
            return Ok(());
        };
        let dev = first.device().clone();
        let t = self.step as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        let b1 = self.beta1 as f32;
        let b2 = self.beta2 as f32;
        let decay = scalar((1.0 - lr * self.weight_decay) as f32, &dev)?;
        let one_minus_b1 = scalar(1.0 - b1, &dev)?;
        let beta2 = scalar(b2, &dev)?;
        let one_minus_b2 = scalar(1.0 - b2, &dev)?;
        let step_size = scalar((lr / bc1) as f32, &dev)?;
        let sqrt_bc2 = scalar(bc2.sqrt() as f32, &dev)?;
        let eps = scalar(1e-8, &dev)?;
        for (name, var, grad) in params {
            let p = var.as_tensor().detach().flatten_all()?;
            let g = grad.detach().flatten_all()?.to_dtype(DType::F32)?;
            let n = p.elem_count();
            if g.elem_count() != n {
                candle_core::bail!(
                    "the gradient of {name} has {} elements, the parameter {n}",
                    g.elem_count()
                );
            }
            if !self.state.contains_key(name) {
                self.state.insert(name.clone(), Moments::zeros(n, &dev)?);
            }
            let st = self.state.get_mut(name).expect("inserted above");
            if st.m.elem_count() != n || st.v.elem_count() != n {
                candle_core::bail!("optimizer state for {name} has the wrong size");
            }
            let p = p.broadcast_mul(&decay)?;
            let m = st.m.add(&g.sub(&st.m)?.broadcast_mul(&one_minus_b1)?)?;
            let v =
                st.v.broadcast_mul(&beta2)?
                    .add(&g.broadcast_mul(&one_minus_b2)?.mul(&g)?)?;
            let denom = v.sqrt()?.broadcast_div(&sqrt_bc2)?;
            let p = match self.kind {
                OptimizerKind::AdamAtan2 => {
                    p.sub(&atan2(&m, &denom)?.broadcast_mul(&step_size)?)?
                }
                OptimizerKind::AdamW => p.sub(
                    &m.broadcast_mul(&step_size)?
                        .div(&denom.broadcast_add(&eps)?)?,
                )?,
            };
            var.set(&p.reshape(var.shape())?)?;
            st.m = m;
            st.v = v;
        }
        Ok(())
    }
}

/// The sparse sign-SGD update of the puzzle-embedding table, in place on its device: the
/// gradients of duplicate ids are summed (in row order, from zero), then only the touched rows
/// are decayed and moved by `-lr * sign(grad)`; the other rows are not read or written.
/// Returns the table (the same storage).
pub fn signsgd_update(
    table: &Tensor,
    ids: &[i32],
    grads: &Tensor,
    lr: f64,
    weight_decay: f64,
) -> Result<Tensor> {
    let (n, d) = table.dims2()?;
    if grads.elem_count() != ids.len() * d {
        candle_core::bail!(
            "sign-SGD: {} gradient values for {} ids of width {d}",
            grads.elem_count(),
            ids.len()
        );
    }
    // The distinct ids in ascending order, and each gradient row's slot among them.
    let mut slot_of: BTreeMap<u32, u32> = BTreeMap::new();
    for &id in ids {
        if id < 0 || id as usize >= n {
            candle_core::bail!("puzzle identifier {id} is outside the table (0..{n})");
        }
        slot_of.insert(id as u32, 0);
    }
    if slot_of.is_empty() {
        return Ok(table.clone());
    }
    for (k, slot) in slot_of.values_mut().enumerate() {
        *slot = k as u32;
    }
    let rows: Vec<u32> = ids.iter().map(|&id| slot_of[&(id as u32)]).collect();
    let unique: Vec<u32> = slot_of.keys().copied().collect();
    let u = unique.len();
    let dev = table.device();
    let g = grads.to_dtype(DType::F32)?.reshape((ids.len(), d))?;
    let summed = Tensor::zeros((u, d), DType::F32, dev)?.index_add(
        &Tensor::from_vec(rows, ids.len(), dev)?,
        &g,
        0,
    )?;
    let unique = Tensor::from_vec(unique, u, dev)?;
    let decay = scalar((1.0 - lr * weight_decay) as f32, dev)?;
    let lr = scalar(lr as f32, dev)?;
    let updated = table
        .index_select(&unique, 0)?
        .broadcast_mul(&decay)?
        .sub(&summed.sign()?.broadcast_mul(&lr)?)?;
    let at = unique.unsqueeze(1)?.broadcast_as((u, d))?.contiguous()?;
    table.scatter_set(&at, &updated, 0)?;
    Ok(table.clone())
}

/// Scale gradients so their global L2 norm is at most `max_norm`; returns the norm before.
/// The squared norms are summed on the device in float64 (in parameter order, as the host sum
/// they replaced) and read back as one scalar.
pub fn clip_global_norm(grads: &mut [(String, Var, Tensor)], max_norm: f64) -> Result<f64> {
    if grads.is_empty() {
        return Ok(0.0);
    }
    let squares = grads
        .iter()
        .map(|(_, _, g)| g.sqr()?.sum_all()?.to_dtype(DType::F64))
        .collect::<Result<Vec<_>>>()?;
    let sq: f64 = host::to_scalar(&Tensor::stack(&squares, 0)?.sum_all()?)?;
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

    /// The element loop the optimizer ran on the host before it moved to the device.
    #[allow(clippy::too_many_arguments)]
    fn reference_step(
        kind: OptimizerKind,
        t: i32,
        lr: f64,
        (beta1, beta2, wd): (f64, f64, f64),
        p: &mut [f32],
        g: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) {
        let bc1 = 1.0 - beta1.powi(t);
        let bc2 = 1.0 - beta2.powi(t);
        let decay = (1.0 - lr * wd) as f32;
        let (b1, b2) = (beta1 as f32, beta2 as f32);
        let step_size = (lr / bc1) as f32;
        let sqrt_bc2 = bc2.sqrt() as f32;
        for i in 0..p.len() {
            p[i] *= decay;
            m[i] += (g[i] - m[i]) * (1.0 - b1);
            v[i] = v[i] * b2 + (1.0 - b2) * g[i] * g[i];
            let denom = v[i].sqrt() / sqrt_bc2;
            match kind {
                OptimizerKind::AdamAtan2 => p[i] -= step_size * m[i].atan2(denom),
                OptimizerKind::AdamW => p[i] -= step_size * m[i] / (denom + 1e-8),
            }
        }
    }

    #[test]
    fn dense_steps_match_the_host_element_loop_bit_for_bit() -> Result<()> {
        let dev = Device::Cpu;
        let mut rng = crate::util::Rng::new(7);
        for kind in [OptimizerKind::AdamAtan2, OptimizerKind::AdamW] {
            let hyper = (0.9, 0.95, 0.1);
            let mut opt = DenseOptimizer::new(kind, hyper.0, hyper.1, hyper.2);
            let n = 37;
            let mut p: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
            p[3] = 0.0;
            let var = Var::from_tensor(&Tensor::from_vec(p.clone(), (n,), &dev)?)?;
            let (mut m, mut v) = (vec![0f32; n], vec![0f32; n]);
            for step in 1..=4 {
                let mut g: Vec<f32> = (0..n).map(|_| (rng.normal() * 1e-3) as f32).collect();
                g[5] = 0.0;
                g[6] = -0.0;
                let lr = 1e-3 * step as f64;
                let gt = Tensor::from_vec(g.clone(), n, &dev)?.reshape((1, n))?;
                opt.step(lr, &[("w".into(), var.clone(), gt)])?;
                reference_step(kind, step, lr, hyper, &mut p, &g, &mut m, &mut v);
                let got: Vec<f32> = var.as_tensor().to_vec1()?;
                let bits = |x: &[f32]| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&p), "{kind:?} step {step}: weights");
                let st = &opt.state["w"];
                assert_eq!(bits(&st.m.to_vec1::<f32>()?), bits(&m), "{kind:?}: m");
                assert_eq!(bits(&st.v.to_vec1::<f32>()?), bits(&v), "{kind:?}: v");
            }
        }
        Ok(())
    }

    #[test]
    fn signsgd_writes_only_the_rows_of_its_ids_in_place() -> Result<()> {
        let dev = Device::Cpu;
        let table = Tensor::new(&[[1.0f32, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]], &dev)?;
        let grads = Tensor::new(&[[1.0f32, -1.0], [0.5, 0.5]], &dev)?;
        let out = signsgd_update(&table, &[3, 1], &grads, 0.5, 0.0)?;
        // The update is in place: the caller's handle sees it.
        let t: Vec<Vec<f32>> = table.to_vec2()?;
        assert_eq!(t, out.to_vec2::<f32>()?);
        assert_eq!(t[0], vec![1.0, 1.0]);
        assert_eq!(t[2], vec![3.0, 3.0]);
        assert_eq!(t[1], vec![1.5, 1.5]);
        assert_eq!(t[3], vec![3.5, 4.5]);
        assert!(signsgd_update(&table, &[0, 1], &grads.narrow(0, 0, 1)?, 0.1, 0.0).is_err());
        Ok(())
    }

    #[test]
    fn clipping_reads_one_scalar() -> Result<()> {
        let dev = Device::Cpu;
        let mut g: Vec<_> = (0..5)
            .map(|i| {
                let v = Var::new(&[0f32; 3], &dev)?;
                Ok((format!("p{i}"), v, Tensor::new(&[1f32, 2.0, 2.0], &dev)?))
            })
            .collect::<Result<_>>()?;
        let before = host::reads();
        let n = clip_global_norm(&mut g, 0.0)?;
        assert!((n - 45f64.sqrt()).abs() < 1e-12);
        assert_eq!((host::reads() - before).reads, 1);
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
