//! One training session in memory: model, optimizers, EMA, persistent ACT carries (one per
//! micro-batch), sampler and RNG; `train_step` runs one optimizer step of the official loop
//! (official `pretrain.py`, `train_batch`, around `TinyRecursiveReasoningModel_ACTV1.forward`),
//! `evaluate` runs the EMA model over the test split for all `halt_max_steps` (`pretrain.py`,
//! `evaluate`), and checkpoints hold everything needed to continue bit-identically.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor, Var};
use color_eyre::eyre::{bail, eyre, Result, WrapErr};

use super::arc_eval::{ArcEvaluator, ArcSolutions, OFFICIAL_PASS_KS};
use super::config::TrainConfig;
use super::optim::{clip_global_norm, lr_at, signsgd_update, DenseOptimizer, Ema, Moments};
use super::run_dir::meta;
use super::sampler::{eval_batches, Sampler, SamplerState};
use crate::data::build::LoadedData;
use crate::data::PuzzleKind;
use crate::dist::{self, Collective, Control};
use crate::model::weights::{
    load_safetensors, save_safetensors_with, tensors_from_bytes, tensors_to_bytes, EMA_PREFIX,
};
use crate::model::{ActCarry, ActOutput, Batch, InnerCarry, LossOutput, MetricSums, TrmModel};
use crate::util::Rng;

/// What one optimizer step produced.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    pub step: u64,
    pub lr: f64,
    pub samples: usize,
    /// Official names, normalised as the official trainer logs them (losses by the global
    /// batch size, the rest by the count of halted sequences); `None` where undefined.
    pub metrics: BTreeMap<String, Option<f64>>,
    pub grad_norm: Option<f64>,
}

/// Small scalar state saved in the checkpoint metadata (JSON).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct SavedState {
    step: u64,
    optimizer_step: u64,
    act_rng: (u64, u64),
    sampler: SamplerState,
    wall_s: f64,
    best_exact_accuracy: Option<f64>,
}

/// Training data with what the engine needs to know about it.
pub struct TrainData {
    pub loaded: LoadedData,
}

impl TrainData {
    pub fn kind(&self) -> Option<PuzzleKind> {
        self.loaded.kind
    }
}

/// A training session.
pub struct Session {
    pub cfg: TrainConfig,
    pub model: TrmModel,
    pub data: Arc<TrainData>,
    pub opt: DenseOptimizer,
    pub ema: Option<Ema>,
    /// The ACT carries of the micro-batches this rank owns (all of them in one process).
    carries: Vec<ActCarry>,
    /// Which micro-batches of each global batch are this rank's (`owned.start` is the index
    /// of `carries[0]`), and how many there are in all.
    owned: std::ops::Range<usize>,
    num_micro: usize,
    /// The other ranks of a data-parallel job ([`dist::Single`] in one process).
    pub comm: Arc<dyn Collective>,
    act_rng: Rng,
    pub sampler: Sampler,
    pub step: u64,
    pub total_steps: u64,
    /// Wall time of earlier sessions of this run (resume), seconds.
    pub wall_s_before: f64,
    pub best_exact_accuracy: Option<f64>,
    /// ARC data: the voting evaluator (kept across evals when `arc_accumulate_votes`) and the
    /// expected outputs of the test inputs.
    arc: Option<(ArcEvaluator, ArcSolutions)>,
    /// The training examples evaluated beside the test split (`eval_train_sample`).
    train_sample: Option<crate::data::dataset::Dataset>,
}

/// Official `total_steps = epochs * total_groups * mean_puzzle_examples / global_batch_size`,
/// or `max_steps` when set.
pub fn total_steps(cfg: &TrainConfig, data: &LoadedData) -> u64 {
    if cfg.max_steps > 0 {
        return cfg.max_steps;
    }
    let meta = &data.train.0;
    (cfg.epochs as f64 * meta.total_groups as f64 * meta.mean_puzzle_examples
        / cfg.global_batch_size as f64) as u64
}

/// Check that the data fits the model (vocabulary, length, identifiers).
pub fn check_data_matches(cfg: &TrainConfig, data: &LoadedData) -> Result<()> {
    let meta = &data.train.0;
    let a = &cfg.arch;
    if meta.seq_len != a.seq_len {
        bail!(
            "the data has seq_len {} ({}), the model expects arch.seq_len = {}",
            meta.seq_len,
            data.kind
                .map_or("unknown kind".to_string(), |k| format!("{k:?}")),
            a.seq_len
        );
    }
    if meta.vocab_size > a.vocab_size {
        bail!(
            "the data uses a vocabulary of {} tokens, the model has arch.vocab_size = {}",
            meta.vocab_size,
            a.vocab_size
        );
    }
    if a.puzzle_emb_ndim > 0 && meta.num_puzzle_identifiers > a.num_puzzle_identifiers {
        bail!(
            "the data has {} puzzle identifiers, the model's table arch.num_puzzle_identifiers = {}",
            meta.num_puzzle_identifiers,
            a.num_puzzle_identifiers
        );
    }
    if data.train.1.num_groups() == 0 || data.train.1.num_examples() == 0 {
        bail!("the train split is empty");
    }
    if data.train.1.num_examples() < cfg.global_batch_size {
        bail!(
            "the train split has {} examples, fewer than one global batch ({})",
            data.train.1.num_examples(),
            cfg.global_batch_size
        );
    }
    Ok(())
}

impl Session {
    /// A fresh session (model initialised from `cfg.seed`).
    pub fn new(cfg: TrainConfig, data: Arc<TrainData>, device: &Device) -> Result<Self> {
        Self::new_with(cfg, data, device, dist::single())
    }

    /// A fresh session on one rank of a data-parallel job: every rank builds the same model,
    /// then takes rank 0's weights (so a rank can never start from different ones).
    pub fn new_with(
        cfg: TrainConfig,
        data: Arc<TrainData>,
        device: &Device,
        comm: Arc<dyn Collective>,
    ) -> Result<Self> {
        let mut s = Self::build(cfg, data, device, comm)?;
        s.broadcast_weights()?;
        Ok(s)
    }

    fn build(
        cfg: TrainConfig,
        data: Arc<TrainData>,
        device: &Device,
        comm: Arc<dyn Collective>,
    ) -> Result<Self> {
        let cfg = split_for_ranks(cfg, comm.world())?;
        check_data_matches(&cfg, &data.loaded)?;
        let model = TrmModel::new(cfg.arch.clone(), cfg.seed, device)?;
        let ema = cfg.ema.then(|| Ema::new(cfg.ema_rate, model.params()));
        let micro = micro_size(&cfg);
        let num_micro = cfg.global_batch_size / micro;
        let per_rank = num_micro / comm.world();
        let owned = comm.rank() * per_rank..(comm.rank() + 1) * per_rank;
        let carries = owned
            .clone()
            .map(|_| model.act_initial_carry(micro))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let total = total_steps(&cfg, &data.loaded);
        let arc = if data.kind() == Some(PuzzleKind::Arc) {
            let l = &data.loaded;
            let solutions = ArcSolutions::from_dataset(&l.test.1, &l.identifiers)?;
            let ev = ArcEvaluator::new(
                l.identifiers.clone(),
                OFFICIAL_PASS_KS.to_vec(),
                cfg.arc_accumulate_votes,
            );
            Some((ev, solutions))
        } else {
            None
        };
        let train_sample = (cfg.eval_train_sample > 0)
            .then(|| data.loaded.train.1.group_sample(cfg.eval_train_sample));
        Ok(Self {
            arc,
            train_sample,
            opt: DenseOptimizer::new(cfg.optimizer, cfg.beta1, cfg.beta2, cfg.weight_decay),
            act_rng: Rng::derive(cfg.seed, 0xAC7),
            sampler: Sampler::new(cfg.seed, cfg.eval_interval, cfg.global_batch_size),
            cfg,
            model,
            data,
            ema,
            carries,
            owned,
            num_micro,
            comm,
            step: 0,
            total_steps: total,
            wall_s_before: 0.0,
            best_exact_accuracy: None,
        })
    }

    pub fn epoch(&self) -> f64 {
        self.sampler.epoch(self.data.loaded.train.1.num_groups())
    }

    pub fn is_done(&self) -> bool {
        self.step >= self.total_steps
    }

    /// One optimizer step (one supervision step for every slot of the global batch).
    pub fn train_step(&mut self) -> Result<StepReport> {
        self.step += 1;
        let cfg = &self.cfg;
        let lr = lr_at(
            cfg.lr,
            self.step,
            cfg.lr_warmup_steps,
            self.total_steps,
            cfg.lr_min_ratio,
        );
        let lr_emb = lr_at(
            cfg.puzzle_emb_lr,
            self.step,
            cfg.lr_warmup_steps,
            self.total_steps,
            cfg.lr_min_ratio,
        );
        let batch = self.sampler.next_batch(&self.data.loaded.train.1);
        let micro = micro_size(cfg);
        let scale = 1.0 / cfg.global_batch_size as f64;
        let mut sums = MetricSums::default();
        let mut grads: BTreeMap<String, Tensor> = BTreeMap::new();
        let mut emb_grads: Vec<Tensor> = Vec::new();
        let mut emb_ids: Vec<i32> = Vec::new();
        for k in 0..self.num_micro {
            if !self.owned.contains(&k) {
                // Another rank's micro-batch: draw what it draws, to stay in step.
                crate::model::act::skip_act_draws(&self.cfg.arch, micro, &mut self.act_rng);
                continue;
            }
            let carry = &mut self.carries[k - self.owned.start];
            let chunk = slice_batch(&batch, k * micro, micro);
            let (new_carry, out, loss) =
                self.model
                    .act_loss_step(carry, &chunk, true, &mut self.act_rng)?;
            let total = loss.total_value;
            if !total.is_finite() {
                bail!(
                    "the loss is {total} at step {} (lm_loss {}, q_halt_loss {}): stopping; the last good checkpoint is kept",
                    self.step,
                    loss.metrics.lm_loss,
                    loss.metrics.q_halt_loss
                );
            }
            let g = (loss.total * scale)?.backward()?;
            for (name, var) in self.model.params() {
                if let Some(gt) = g.get(var.as_tensor()) {
                    let gt = gt.to_dtype(DType::F32)?;
                    match grads.get_mut(name) {
                        Some(acc) => *acc = (&*acc + &gt)?,
                        None => {
                            grads.insert(name.clone(), gt);
                        }
                    }
                }
            }
            if let Some(rows) = &out.puzzle_rows {
                if let Some(gr) = g.get(rows.as_tensor()) {
                    emb_grads.push(gr.to_dtype(DType::F32)?);
                    emb_ids.extend_from_slice(&out.puzzle_ids);
                }
            }
            sums.add(&loss.metrics);
            *carry = new_carry;
        }
        let mut list: Vec<(String, Var, Tensor)> = self
            .model
            .params()
            .iter()
            .map(|(n, v)| {
                let g = match grads.remove(n) {
                    Some(g) => g,
                    None => v.as_tensor().zeros_like()?.to_dtype(DType::F32)?,
                };
                Ok((n.clone(), v.clone(), g))
            })
            .collect::<candle_core::Result<_>>()?;
        if self.comm.world() > 1 {
            self.reduce_across_ranks(&mut list, &mut emb_grads, &mut emb_ids, &mut sums)?;
        }
        let grad_norm = if self.cfg.grad_clip > 0.0 {
            Some(clip_global_norm(&mut list, self.cfg.grad_clip)?)
        } else {
            None
        };
        self.opt.step(lr, &list)?;
        if !emb_grads.is_empty() {
            let g = Tensor::cat(&emb_grads, 0)?;
            self.model.puzzle_emb = signsgd_update(
                &self.model.puzzle_emb,
                &emb_ids,
                &g,
                lr_emb,
                self.cfg.puzzle_emb_weight_decay,
            )?;
        }
        if let Some(ema) = &mut self.ema {
            ema.update(self.model.params())?;
        }
        let gb = self.cfg.global_batch_size as f64;
        let mut metrics = normalise(&sums, gb, false);
        metrics.insert("lr".into(), Some(lr));
        if let Some(n) = grad_norm {
            metrics.insert("grad_norm".into(), Some(n));
        }
        Ok(StepReport {
            step: self.step,
            lr,
            samples: self.cfg.global_batch_size,
            metrics,
            grad_norm,
        })
    }

    /// Data parallelism, after this rank's micro-batches: sum the gradients over the ranks
    /// (one buffer, in parameter order), gather the puzzle-embedding gradients and ids in
    /// rank order (= micro-batch order), and sum the metric sums.
    fn reduce_across_ranks(
        &self,
        list: &mut [(String, Var, Tensor)],
        emb_grads: &mut Vec<Tensor>,
        emb_ids: &mut Vec<i32>,
        sums: &mut MetricSums,
    ) -> Result<()> {
        let comm = &*self.comm;
        // One buffer on the model's device (NCCL sums it there, the host engines in memory).
        let parts = list
            .iter()
            .map(|(_, _, g)| g.flatten_all())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let flat = comm.all_reduce_sum_tensor(Tensor::cat(&parts, 0)?)?;
        let mut at = 0;
        for (_, _, g) in list.iter_mut() {
            let n = g.elem_count();
            *g = flat.narrow(0, at, n)?.reshape(g.shape())?;
            at += n;
        }
        let dev = self.model.device().clone();
        let local: Vec<f32> = if emb_grads.is_empty() {
            Vec::new()
        } else {
            crate::model::host::to_vec(&Tensor::cat(emb_grads, 0)?)?
        };
        let all = dist::all_gather_f32(comm, &local)?;
        let ids = dist::all_gather_i32(comm, emb_ids)?;
        emb_grads.clear();
        if !ids.is_empty() {
            let width = all.len() / ids.len();
            emb_grads.push(Tensor::from_vec(all, (ids.len(), width), &dev)?);
        }
        *emb_ids = ids;
        let qc = sums.q_continue_loss;
        let mut v = [
            sums.count,
            sums.accuracy,
            sums.exact_accuracy,
            sums.q_halt_accuracy,
            sums.steps,
            sums.lm_loss,
            sums.q_halt_loss,
            qc.unwrap_or(0.0),
            f64::from(u8::from(qc.is_some())),
        ];
        comm.all_reduce_sum_f64(&mut v)?;
        *sums = MetricSums {
            count: v[0],
            accuracy: v[1],
            exact_accuracy: v[2],
            q_halt_accuracy: v[3],
            steps: v[4],
            lm_loss: v[5],
            q_halt_loss: v[6],
            q_continue_loss: (v[8] > 0.0).then_some(v[7]),
        };
        Ok(())
    }

    /// Every rank takes rank 0's weights, puzzle embeddings and EMA shadow.
    fn broadcast_weights(&mut self) -> Result<()> {
        if self.comm.world() == 1 {
            return Ok(());
        }
        let mut t = self.model.state_dict();
        if let Some(ema) = &self.ema {
            for (n, s) in &ema.shadow {
                t.insert(format!("{EMA_PREFIX}{n}"), s.clone());
            }
        }
        let mut bytes = if self.comm.rank() == 0 {
            tensors_to_bytes(&t)?
        } else {
            Vec::new()
        };
        self.comm.broadcast_bytes(&mut bytes)?;
        if self.comm.rank() == 0 {
            return Ok(());
        }
        let dev = self.model.device().clone();
        let mut got = tensors_from_bytes(&bytes, &dev)?;
        if let Some(ema) = &mut self.ema {
            for (n, sh) in ema.shadow.iter_mut() {
                *sh = got
                    .remove(&format!("{EMA_PREFIX}{n}"))
                    .ok_or_else(|| eyre!("rank 0 sent no EMA tensor for {n}"))?;
            }
        }
        let sd: BTreeMap<String, Tensor> = got
            .into_iter()
            .filter(|(n, _)| !n.starts_with(EMA_PREFIX))
            .collect();
        self.model = TrmModel::from_tensors(self.cfg.arch.clone(), sd, &dev)?;
        Ok(())
    }

    /// The carry tensors of this rank's micro-batches, by global micro-batch index.
    fn own_carry_tensors(&self) -> Result<BTreeMap<String, Tensor>> {
        let dev = Device::Cpu;
        let mut t = BTreeMap::new();
        for (i, c) in self.carries.iter().enumerate() {
            let k = self.owned.start + i;
            let b = c.current.size;
            let s = c.current.seq_len;
            t.insert(format!("carry.{k}.z_H"), c.inner.z_h.clone());
            t.insert(format!("carry.{k}.z_L"), c.inner.z_l.clone());
            let ints = |v: &[i32], shape: (usize, usize)| -> candle_core::Result<Tensor> {
                Tensor::from_vec(v.iter().map(|&x| x as i64).collect::<Vec<_>>(), shape, &dev)
            };
            t.insert(
                format!("carry.{k}.inputs"),
                ints(&c.current.inputs, (b, s))?,
            );
            t.insert(
                format!("carry.{k}.labels"),
                ints(&c.current.labels, (b, s))?,
            );
            t.insert(
                format!("carry.{k}.puzzle_ids"),
                ints(&c.current.puzzle_ids, (b, 1))?,
            );
            let steps: Vec<i32> = c.steps.iter().map(|&x| x as i32).collect();
            t.insert(format!("carry.{k}.steps"), ints(&steps, (b, 1))?);
            let halted: Vec<i32> = c.halted.iter().map(|&x| x as i32).collect();
            t.insert(format!("carry.{k}.halted"), ints(&halted, (b, 1))?);
        }
        Ok(t)
    }

    /// Every rank's carries (rank 0 writes them into the checkpoint). In a job, all ranks
    /// call this together: rank 0 from [`Session::save_checkpoint`], the others on
    /// [`Control::Save`].
    fn all_carry_tensors(&self) -> Result<BTreeMap<String, Tensor>> {
        let own = self.own_carry_tensors()?;
        if self.comm.world() == 1 {
            return Ok(own);
        }
        let parts = self.comm.all_gather_bytes(&tensors_to_bytes(&own)?)?;
        let mut all = BTreeMap::new();
        for p in parts {
            all.extend(tensors_from_bytes(&p, &Device::Cpu)?);
        }
        Ok(all)
    }

    /// A rank other than 0 follows rank 0's control words until it says [`Control::Exit`].
    pub fn follow(&mut self) -> Result<()> {
        loop {
            match self.comm.control(Control::Exit)? {
                Control::Step => {
                    self.train_step()?;
                }
                Control::Save => {
                    self.all_carry_tensors()?;
                }
                Control::Exit => return Ok(()),
                Control::Ready => bail!("rank 0 sent `ready` in the middle of a run"),
            }
        }
    }

    /// Rank 0 tells the other ranks what comes next (no-op in one process).
    pub fn announce(&self, word: Control) -> Result<()> {
        if self.comm.world() > 1 && self.comm.rank() == 0 {
            self.comm.control(word)?;
        }
        Ok(())
    }

    /// The model evaluation uses: the EMA weights (when EMA is on) with the current puzzle
    /// embeddings, as the official trainer's deep copy.
    pub fn eval_model(&self) -> Result<TrmModel> {
        let mut sd = self.model.state_dict();
        if let Some(ema) = &self.ema {
            for (n, t) in &ema.shadow {
                sd.insert(n.clone(), t.clone());
            }
        }
        Ok(TrmModel::from_tensors(
            self.cfg.arch.clone(),
            sd,
            self.model.device(),
        )?)
    }

    /// Evaluate on the test split (every example runs all `halt_max_steps` steps); ARC data
    /// adds the voting evaluator's `ARC/pass@K`.
    pub fn evaluate(&mut self) -> Result<BTreeMap<String, Option<f64>>> {
        let model = self.eval_model()?;
        let batch_size = micro_size(&self.cfg);
        let data = Arc::clone(&self.data);
        let mut evaluator = self.arc.as_mut().map(|(ev, _)| ev);
        if let Some(ev) = evaluator.as_deref_mut() {
            ev.begin_eval();
        }
        let mut m = evaluate_model(
            &model,
            &data.loaded.test.1,
            data.kind(),
            batch_size,
            self.cfg.eval_limit,
            evaluator,
        )?;
        if let Some((ev, solutions)) = &self.arc {
            m.extend(ev.result(solutions).metrics());
        }
        if let Some(sample) = &self.train_sample {
            let t = evaluate_model(&model, sample, data.kind(), batch_size, 0, None)?;
            let get = |k: &str| t.get(k).copied().flatten();
            let train_exact = get("exact_accuracy");
            m.insert("train_exact_accuracy".into(), train_exact);
            m.insert("train_accuracy".into(), get("accuracy"));
            m.insert("train_lm_loss".into(), get("lm_loss"));
            let test_exact = m.get("exact_accuracy").copied().flatten();
            m.insert(
                "exact_accuracy_gap".into(),
                train_exact.zip(test_exact).map(|(a, b)| a - b),
            );
        }
        Ok(m)
    }

    /// All tensors and metadata of a checkpoint.
    fn checkpoint_contents(
        &self,
        wall_s: f64,
        eval_metrics: Option<&BTreeMap<String, Option<f64>>>,
    ) -> Result<(BTreeMap<String, Tensor>, HashMap<String, String>)> {
        let mut t = self.model.state_dict();
        if let Some(ema) = &self.ema {
            for (n, s) in &ema.shadow {
                t.insert(format!("{EMA_PREFIX}{n}"), s.clone());
            }
        }
        for (n, m) in &self.opt.state {
            t.insert(format!("optim.m.{n}"), m.m.clone());
            t.insert(format!("optim.v.{n}"), m.v.clone());
        }
        if self.comm.world() > 1 {
            self.announce(Control::Save)?;
        }
        t.extend(self.all_carry_tensors()?);
        let state = SavedState {
            step: self.step,
            optimizer_step: self.opt.step,
            act_rng: self.act_rng.state(),
            sampler: self.sampler.state,
            wall_s,
            best_exact_accuracy: self.best_exact_accuracy,
        };
        let mut meta = HashMap::new();
        meta.insert(meta::FORMAT.into(), meta::CHECKPOINT_FORMAT.into());
        meta.insert(meta::MODEL_CONFIG.into(), self.cfg.arch.to_toml_string());
        meta.insert(meta::TRAIN_CONFIG.into(), self.cfg.to_toml_string());
        meta.insert(meta::STEP.into(), self.step.to_string());
        meta.insert(meta::STATE.into(), serde_json::to_string(&state)?);
        if let Some(b) = self.best_exact_accuracy {
            meta.insert(meta::BEST.into(), b.to_string());
        }
        if let Some(m) = eval_metrics {
            meta.insert(meta::METRICS.into(), serde_json::to_string(m)?);
        }
        Ok((t, meta))
    }

    /// Write a checkpoint atomically.
    pub fn save_checkpoint(
        &self,
        path: &Path,
        wall_s: f64,
        eval_metrics: Option<&BTreeMap<String, Option<f64>>>,
    ) -> Result<()> {
        self.save_checkpoint_with(path, wall_s, eval_metrics, &crate::util::atomic::Fs)
    }

    /// [`Session::save_checkpoint`] through `writer`: a failed write leaves no temporary
    /// file and says what failed.
    pub fn save_checkpoint_with(
        &self,
        path: &Path,
        wall_s: f64,
        eval_metrics: Option<&BTreeMap<String, Option<f64>>>,
        writer: &dyn crate::util::atomic::Writer,
    ) -> Result<()> {
        let (t, meta) = self.checkpoint_contents(wall_s, eval_metrics)?;
        save_safetensors_with(path, &t, &meta, writer)?;
        Ok(())
    }

    /// Continue a run from a checkpoint written by [`Session::save_checkpoint`]. The
    /// architecture must match `cfg.arch`; other recipe settings are taken from `cfg` (so a
    /// run can be continued with, say, more steps).
    pub fn resume(
        cfg: TrainConfig,
        data: Arc<TrainData>,
        path: &Path,
        device: &Device,
    ) -> Result<Self> {
        Self::resume_with(cfg, data, path, device, dist::single())
    }

    /// [`Session::resume`] on one rank of a data-parallel job: every rank reads the
    /// checkpoint (its own carries from it), then takes rank 0's weights.
    pub fn resume_with(
        cfg: TrainConfig,
        data: Arc<TrainData>,
        path: &Path,
        device: &Device,
        comm: Arc<dyn Collective>,
    ) -> Result<Self> {
        let cfg = split_for_ranks(cfg, comm.world())?;
        let (mut t, meta) = load_safetensors(path, device)?;
        let p = path.display();
        if meta.get(meta::FORMAT).map(String::as_str) != Some(meta::CHECKPOINT_FORMAT) {
            bail!(
                "{p}: not a trm-tui training checkpoint (no `{} = {}` metadata); weights-only files can be evaluated or opened in the solver, not resumed",
                meta::FORMAT,
                meta::CHECKPOINT_FORMAT
            );
        }
        let saved: TrainConfig = TrainConfig::from_toml_str(
            meta.get(meta::TRAIN_CONFIG)
                .ok_or_else(|| eyre!("{p}: no train_config metadata"))?,
        )
        .wrap_err_with(|| format!("{p}: bad train_config metadata"))?;
        if saved.arch != cfg.arch {
            let diffs: Vec<String> = cfg
                .diff(&saved)
                .into_iter()
                .filter(|(k, _, _)| k.starts_with("arch."))
                .map(|(k, a, b)| format!("{k} is {a} in the checkpoint, {b} here"))
                .collect();
            bail!(
                "{p}: the checkpoint's model does not match this config: {}",
                diffs.join("; ")
            );
        }
        if saved.global_batch_size != cfg.global_batch_size
            || micro_size(&saved) != micro_size(&cfg)
        {
            bail!(
                "{p}: the checkpoint was trained with global_batch_size {} / micro_batch_size {}, this config has {} / {}",
                saved.global_batch_size, saved.micro_batch_size, cfg.global_batch_size, cfg.micro_batch_size
            );
        }
        let state: SavedState = serde_json::from_str(
            meta.get(meta::STATE)
                .ok_or_else(|| eyre!("{p}: no trainer_state metadata"))?,
        )
        .wrap_err_with(|| format!("{p}: bad trainer_state metadata"))?;
        let mut s = Session::build(cfg, data, device, comm)?;
        let mut weights = BTreeMap::new();
        for name in crate::model::net::expected_shapes(&s.cfg.arch).keys() {
            let v = t
                .remove(name)
                .ok_or_else(|| eyre!("{p}: missing tensor {name}"))?;
            weights.insert(name.clone(), v);
        }
        s.model = TrmModel::from_tensors(s.cfg.arch.clone(), weights, device)?;
        if let Some(ema) = &mut s.ema {
            for (n, sh) in ema.shadow.iter_mut() {
                *sh = t.remove(&format!("{EMA_PREFIX}{n}")).ok_or_else(|| {
                    eyre!("{p}: missing EMA tensor for {n} (was the run trained without EMA?)")
                })?;
            }
        }
        s.opt.step = state.optimizer_step;
        for (n, _) in s.model.params() {
            if let (Some(m), Some(v)) = (
                t.remove(&format!("optim.m.{n}")),
                t.remove(&format!("optim.v.{n}")),
            ) {
                s.opt
                    .state
                    .insert(n.clone(), Moments::from_tensors(&m, &v)?);
            }
        }
        let first = s.owned.start;
        for (i, c) in s.carries.iter_mut().enumerate() {
            let k = first + i;
            let mut get = |f: &str| {
                t.remove(&format!("carry.{k}.{f}"))
                    .ok_or_else(|| eyre!("{p}: missing carry.{k}.{f}"))
            };
            let z_h = get("z_H")?;
            let z_l = get("z_L")?;
            let ints = |x: Tensor| -> Result<Vec<i32>> {
                Ok(x.flatten_all()?
                    .to_dtype(DType::I64)?
                    .to_vec1::<i64>()?
                    .into_iter()
                    .map(|v| v as i32)
                    .collect())
            };
            let inputs = ints(get("inputs")?)?;
            let labels = ints(get("labels")?)?;
            let ids = ints(get("puzzle_ids")?)?;
            let steps = ints(get("steps")?)?;
            let halted = ints(get("halted")?)?;
            if z_h.dims() != c.inner.z_h.dims() || inputs.len() != c.current.inputs.len() {
                bail!("{p}: carry {k} has the wrong shape");
            }
            c.inner = InnerCarry { z_h, z_l };
            c.current = Batch {
                size: c.current.size,
                seq_len: c.current.seq_len,
                inputs,
                labels,
                puzzle_ids: ids,
            };
            c.steps = steps.into_iter().map(|v| v as u32).collect();
            c.halted = halted.into_iter().map(|v| v != 0).collect();
        }
        s.step = state.step;
        s.act_rng = Rng::from_state(state.act_rng.0, state.act_rng.1);
        s.sampler =
            Sampler::from_state(state.sampler, s.cfg.eval_interval, s.cfg.global_batch_size);
        s.wall_s_before = state.wall_s;
        s.best_exact_accuracy = state.best_exact_accuracy;
        s.broadcast_weights()?;
        Ok(s)
    }
}

fn micro_size(cfg: &TrainConfig) -> usize {
    if cfg.micro_batch_size == 0 {
        cfg.global_batch_size
    } else {
        cfg.micro_batch_size
    }
}

/// The recipe as a job of `world` ranks runs it: without an explicit `micro_batch_size`,
/// each rank takes one micro-batch of `global_batch_size / world`; the micro-batches of a
/// global batch must split evenly over the ranks. One process with the same
/// `micro_batch_size` computes the same sums in the same order.
pub fn split_for_ranks(mut cfg: TrainConfig, world: usize) -> Result<TrainConfig> {
    if world > 1 && cfg.micro_batch_size == 0 {
        if !cfg.global_batch_size.is_multiple_of(world) {
            bail!(
                "global_batch_size {} does not split over {world} ranks (set global_batch_size to a multiple of {world}, or micro_batch_size)",
                cfg.global_batch_size
            );
        }
        cfg.micro_batch_size = cfg.global_batch_size / world;
    }
    cfg.validate()?;
    let micro = micro_size(&cfg);
    let num_micro = cfg.global_batch_size / micro;
    if !num_micro.is_multiple_of(world) {
        bail!(
            "global_batch_size {} in micro-batches of {micro} makes {num_micro}, which do not split evenly over {world} ranks (set micro_batch_size so that global_batch_size / micro_batch_size is a multiple of {world})",
            cfg.global_batch_size
        );
    }
    Ok(cfg)
}

fn slice_batch(b: &Batch, start: usize, len: usize) -> Batch {
    let s = b.seq_len;
    Batch {
        size: len,
        seq_len: s,
        inputs: b.inputs[start * s..(start + len) * s].to_vec(),
        labels: b.labels[start * s..(start + len) * s].to_vec(),
        puzzle_ids: b.puzzle_ids[start..start + len].to_vec(),
    }
}

/// Official normalisation: in training, losses by the global batch size and the rest by the
/// halted count; in evaluation everything by the count.
pub fn normalise(s: &MetricSums, global_batch: f64, eval: bool) -> BTreeMap<String, Option<f64>> {
    let by_count = |v: f64| {
        if s.count > 0.0 {
            Some(v / s.count)
        } else {
            None
        }
    };
    let loss = |v: f64| {
        if eval {
            by_count(v)
        } else {
            Some(v / global_batch)
        }
    };
    let mut m = BTreeMap::new();
    m.insert("count".into(), Some(s.count));
    m.insert("accuracy".into(), by_count(s.accuracy));
    m.insert("exact_accuracy".into(), by_count(s.exact_accuracy));
    m.insert("q_halt_accuracy".into(), by_count(s.q_halt_accuracy));
    m.insert("steps".into(), by_count(s.steps));
    m.insert("lm_loss".into(), loss(s.lm_loss));
    m.insert("q_halt_loss".into(), loss(s.q_halt_loss));
    if let Some(q) = s.q_continue_loss {
        m.insert("q_continue_loss".into(), loss(q));
    }
    m
}

/// Run every evaluation batch of a split through all `halt_max_steps` supervision steps (the
/// official evaluation) and hand the last step of each batch to `on_batch`.
pub fn for_each_eval_batch(
    model: &TrmModel,
    data: &crate::data::dataset::Dataset,
    batch_size: usize,
    limit: usize,
    mut on_batch: impl FnMut(&Batch, &ActOutput, &LossOutput, &[Halt]) -> Result<()>,
) -> Result<()> {
    if batch_size == 0 {
        bail!("the evaluation batch size is 0");
    }
    let mut rng = Rng::new(0);
    let max = model.config.halt_max_steps;
    for batch in eval_batches(data, batch_size, limit) {
        let mut carry = model.act_initial_carry(batch.size)?;
        let mut last = None;
        let mut halts = vec![
            Halt {
                step: max,
                correct_by_step: Vec::with_capacity(max),
            };
            batch.size
        ];
        let mut halted = vec![false; batch.size];
        for step in 1..=max {
            let (c, out, loss) = model.act_loss_step(&carry, &batch, false, &mut rng)?;
            let q_halt = out.step.q_halt.to_vec1::<f32>()?;
            for (row, h) in halts.iter_mut().enumerate() {
                h.correct_by_step.push(loss.seq_correct[row]);
                if !halted[row] && q_halt[row] > 0.0 {
                    halted[row] = true;
                    h.step = step;
                }
            }
            carry = c;
            last = Some((out, loss));
        }
        let (out, loss) = last.ok_or_else(|| eyre!("halt_max_steps is 0"))?;
        on_batch(&carry.current, &out, &loss, &halts)?;
    }
    Ok(())
}

/// One example's trace at evaluation (which runs every supervision step, as the official code
/// does): where the model would halt, the first step (1-based) whose `q_halt` logit is
/// positive, or the last step; and whether the answer was exactly right after each step.
#[derive(Debug, Clone, PartialEq)]
pub struct Halt {
    pub step: usize,
    pub correct_by_step: Vec<bool>,
}

impl Halt {
    /// Whether the answer at the halting step was exactly right.
    pub fn correct_at_halt(&self) -> bool {
        self.correct_by_step
            .get(self.step.saturating_sub(1))
            .copied()
            .unwrap_or(false)
    }
}

/// Evaluate a model on a split: every example runs all `halt_max_steps` supervision steps;
/// metrics from the last step (official), plus `maze_valid_path` (a valid S-G path of optimal
/// length, any shortest path accepted) for mazes, and the ARC votes when `arc` is given.
pub fn evaluate_model(
    model: &TrmModel,
    data: &crate::data::dataset::Dataset,
    kind: Option<PuzzleKind>,
    batch_size: usize,
    limit: usize,
    mut arc: Option<&mut ArcEvaluator>,
) -> Result<BTreeMap<String, Option<f64>>> {
    let mut sums = MetricSums::default();
    let mut maze_ok = 0usize;
    let mut maze_n = 0usize;
    let (mut halt_steps, mut halt_correct, mut halt_n) = (0usize, 0usize, 0usize);
    let mut by_step = vec![0usize; model.config.halt_max_steps];
    for_each_eval_batch(model, data, batch_size, limit, |batch, out, loss, halts| {
        sums.add(&loss.metrics);
        let s = batch.seq_len;
        for (row, h) in halts.iter().enumerate() {
            // Padding rows of the last batch have no label.
            if batch.labels[row * s..(row + 1) * s]
                .iter()
                .any(|&l| l != -100)
            {
                halt_steps += h.step;
                halt_correct += h.correct_at_halt() as usize;
                halt_n += 1;
                for (k, &c) in h.correct_by_step.iter().enumerate() {
                    by_step[k] += c as usize;
                }
            }
        }
        if let Some(ev) = arc.as_deref_mut() {
            ev.add_batch(batch, out, loss)?;
        }
        if let Some(PuzzleKind::Maze { rows, cols }) = kind {
            let s = batch.seq_len;
            for row in 0..batch.size {
                let labels = &batch.labels[row * s..(row + 1) * s];
                if labels.iter().all(|&l| l == -100) {
                    continue;
                }
                maze_n += 1;
                let q =
                    crate::data::maze::decode(rows, cols, &batch.inputs[row * s..(row + 1) * s]);
                let pred: Vec<i32> = loss.preds[row].iter().map(|&v| v as i32).collect();
                let a = crate::data::maze::decode(rows, cols, &pred);
                if let (Ok(q), Ok(a)) = (q, a) {
                    if crate::data::maze::check_path(&q, &a)
                        == crate::data::maze::PathCheck::Correct
                    {
                        maze_ok += 1;
                    }
                }
            }
        }
        Ok(())
    })?;
    let mut m = normalise(&sums, 1.0, true);
    if halt_n > 0 {
        m.insert("halt_step".into(), Some(halt_steps as f64 / halt_n as f64));
        m.insert(
            "exact_at_halt".into(),
            Some(halt_correct as f64 / halt_n as f64),
        );
        // Exact accuracy after each supervision step: how the answer improves (or "overthinks").
        for (k, c) in by_step.iter().enumerate() {
            m.insert(
                format!("exact_step_{:02}", k + 1),
                Some(*c as f64 / halt_n as f64),
            );
        }
    }
    if maze_n > 0 {
        m.insert(
            "maze_valid_path".into(),
            Some(maze_ok as f64 / maze_n as f64),
        );
    }
    Ok(m)
}
