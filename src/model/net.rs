//! The TRM network (`TinyRecursiveReasoningModel_ACTV1_Inner`): parameters with the official
//! names, truncated-LeCun initialisation, input embeddings (tokens, puzzle prefix, positions),
//! the shared reasoning net, and one supervision step of the recursion (T-1 cycles without a
//! graph, one with), returning logits, halting logits and the detached carry.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Result, Tensor, Var, D};

use super::config::{ForwardDtype, Latent, PosEncoding, TrmConfig};
use super::fused::{self, add_rms_norm};
use super::host::check_index;
use super::layers::{attention, linear, swiglu, Rope};
use crate::util::Rng;

/// Official key names of the trainable parameters, in state-dict order.
pub fn parameter_names(cfg: &TrmConfig) -> Vec<String> {
    let mut names = vec!["embed_tokens.embedding_weight".to_string()];
    if cfg.pos_encodings == PosEncoding::Learned {
        names.push("embed_pos.embedding_weight".into());
    }
    names.extend([
        "lm_head.weight".into(),
        "q_head.weight".into(),
        "q_head.bias".into(),
    ]);
    for p in block_prefixes(cfg) {
        if cfg.mlp_t {
            names.push(format!("{p}.mlp_t.gate_up_proj.weight"));
            names.push(format!("{p}.mlp_t.down_proj.weight"));
        } else {
            names.push(format!("{p}.self_attn.qkv_proj.weight"));
            names.push(format!("{p}.self_attn.o_proj.weight"));
        }
        names.push(format!("{p}.mlp.gate_up_proj.weight"));
        names.push(format!("{p}.mlp.down_proj.weight"));
    }
    names
}

/// Key prefixes of the blocks: `L_level.layers.i` (the shared net, or f_L), then
/// `H_level.layers.i` for f_H when the networks are separate (HRM's names).
fn block_prefixes(cfg: &TrmConfig) -> Vec<String> {
    let mut v: Vec<String> = (0..cfg.l_layers)
        .map(|i| format!("L_level.layers.{i}"))
        .collect();
    if cfg.separate_nets {
        v.extend((0..cfg.h_net_layers()).map(|i| format!("H_level.layers.{i}")));
    }
    v
}

/// Shape of `L_init`: `[D]`, or `[n, D]` (one initial value per latent) for multi-scale z.
fn l_init_shape(cfg: &TrmConfig) -> Vec<usize> {
    match cfg.latent {
        Latent::MultiScaleZ => vec![cfg.num_z(), cfg.hidden_size],
        Latent::Yz | Latent::SingleZ => vec![cfg.hidden_size],
    }
}

/// Expected `[out, in]` shape of every tensor of the state dict (parameters and buffers).
pub fn expected_shapes(cfg: &TrmConfig) -> BTreeMap<String, Vec<usize>> {
    let d = cfg.hidden_size;
    let v = cfg.vocab_size;
    let l = cfg.total_len();
    let mut m = BTreeMap::new();
    m.insert("embed_tokens.embedding_weight".into(), vec![v, d]);
    if cfg.pos_encodings == PosEncoding::Learned {
        m.insert("embed_pos.embedding_weight".into(), vec![l, d]);
    }
    m.insert("lm_head.weight".into(), vec![v, d]);
    m.insert("q_head.weight".into(), vec![2, d]);
    m.insert("q_head.bias".into(), vec![2]);
    let inter = cfg.mlp_inter();
    for p in block_prefixes(cfg) {
        if cfg.mlp_t {
            let it = cfg.mlp_t_inter();
            m.insert(format!("{p}.mlp_t.gate_up_proj.weight"), vec![2 * it, l]);
            m.insert(format!("{p}.mlp_t.down_proj.weight"), vec![l, it]);
        } else {
            m.insert(format!("{p}.self_attn.qkv_proj.weight"), vec![3 * d, d]);
            m.insert(format!("{p}.self_attn.o_proj.weight"), vec![d, d]);
        }
        m.insert(format!("{p}.mlp.gate_up_proj.weight"), vec![2 * inter, d]);
        m.insert(format!("{p}.mlp.down_proj.weight"), vec![d, inter]);
    }
    m.insert("H_init".into(), vec![d]);
    m.insert("L_init".into(), l_init_shape(cfg));
    if cfg.puzzle_emb_ndim > 0 {
        m.insert(
            "puzzle_emb.weights".into(),
            vec![cfg.num_puzzle_identifiers, cfg.puzzle_emb_ndim],
        );
    }
    m
}

/// Truncated normal ("JAX LeCun") as the official `trunc_normal_init_`: N(0,1) truncated to
/// [-2, 2] scaled so that the result has standard deviation `std`.
pub fn trunc_normal(rng: &mut Rng, n: usize, std: f64) -> Vec<f32> {
    if std == 0.0 {
        return vec![0.0; n];
    }
    const TRUNC_STD: f64 = 0.879_625_661_034_239_8;
    let comp = std / TRUNC_STD;
    (0..n)
        .map(|_| loop {
            let z = rng.normal();
            if (-2.0..=2.0).contains(&z) {
                break (z * comp) as f32;
            }
        })
        .collect()
}

/// One block's weights, borrowed for a forward pass.
#[derive(Debug, Clone)]
struct Block {
    qkv: Option<Tensor>,
    o: Option<Tensor>,
    mlp_t_gate_up: Option<Tensor>,
    mlp_t_down: Option<Tensor>,
    gate_up: Tensor,
    down: Tensor,
}

/// All weights of one forward pass, either the live variables (gradients recorded) or their
/// detached views (no graph at all).
#[derive(Debug, Clone)]
struct Weights {
    embed_tokens: Tensor,
    embed_pos: Option<Tensor>,
    lm_head: Tensor,
    q_head_w: Tensor,
    q_head_b: Tensor,
    /// The shared net (or f_L).
    blocks: Vec<Block>,
    /// f_H with separate networks, else empty (the y update uses `blocks`).
    h_blocks: Vec<Block>,
}

impl Weights {
    /// The weights used as `x @ w^T` (the embeddings are looked up, not multiplied).
    fn matrices(&self) -> impl Iterator<Item = &Tensor> {
        let blocks = self.blocks.iter().chain(&self.h_blocks).flat_map(|b| {
            [&b.qkv, &b.o, &b.mlp_t_gate_up, &b.mlp_t_down]
                .into_iter()
                .flatten()
                .chain([&b.gate_up, &b.down])
        });
        blocks.chain([&self.lm_head, &self.q_head_w])
    }

    fn h_net(&self) -> &[Block] {
        if self.h_blocks.is_empty() {
            &self.blocks
        } else {
            &self.h_blocks
        }
    }
}

/// The recurrent state of one batch: `z_H` (the answer `y`; the only state with a single z)
/// and `z_L` (the latent `z`), `[B, prefix + seq_len, D]`; with multi-scale z, `z_L` holds the
/// n latents as `[B, n, prefix + seq_len, D]`.
#[derive(Debug, Clone)]
pub struct InnerCarry {
    pub z_h: Tensor,
    pub z_l: Tensor,
}

impl InnerCarry {
    pub fn detach(&self) -> Self {
        Self {
            z_h: self.z_h.detach(),
            z_l: self.z_l.detach(),
        }
    }
}

/// The outputs of one supervision step.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// `[B, seq_len, vocab]`, in the forward dtype.
    pub logits: Tensor,
    /// `[B]` f32.
    pub q_halt: Tensor,
    /// `[B]` f32.
    pub q_continue: Tensor,
    /// The new carry, detached.
    pub carry: InnerCarry,
    /// Logits after each H-cycle (only when requested), `T` tensors `[B, seq_len, vocab]`.
    pub cycle_logits: Vec<Tensor>,
}

/// The TRM network with its parameters and buffers.
pub struct TrmModel {
    pub config: TrmConfig,
    device: Device,
    /// Trainable parameters by official name (ordered).
    params: Vec<(String, Var)>,
    /// `H_init`, `L_init`: `[D]` buffers (never trained).
    pub h_init: Tensor,
    pub l_init: Tensor,
    /// The sparse puzzle-embedding table `[num_puzzle_identifiers, puzzle_emb_ndim]` (a buffer
    /// updated by the sign-SGD optimizer; empty when `puzzle_emb_ndim == 0`).
    pub puzzle_emb: Tensor,
    rope: Option<Rope>,
}

impl TrmModel {
    /// A freshly initialised model (official init, seeded).
    pub fn new(config: TrmConfig, seed: u64, device: &Device) -> Result<Self> {
        config
            .validate()
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let mut rng = Rng::new(seed);
        let shapes = expected_shapes(&config);
        let mut tensors = BTreeMap::new();
        for name in parameter_names(&config)
            .into_iter()
            .chain(["H_init".to_string(), "L_init".to_string()])
        {
            let shape = shapes[&name].clone();
            let n: usize = shape.iter().product();
            let data = if name == "q_head.weight" {
                vec![0.0; n]
            } else if name == "q_head.bias" {
                vec![-5.0; n]
            } else if name == "H_init" || name == "L_init" {
                trunc_normal(&mut rng, n, 1.0)
            } else {
                // CastedLinear: 1/sqrt(in_features); CastedEmbedding: 1/sqrt(hidden_size),
                // which is the second dimension in both cases.
                trunc_normal(&mut rng, n, 1.0 / (shape[1] as f64).sqrt())
            };
            tensors.insert(name, Tensor::from_vec(data, shape, device)?);
        }
        if config.puzzle_emb_ndim > 0 {
            tensors.insert(
                "puzzle_emb.weights".into(),
                Tensor::zeros(
                    (config.num_puzzle_identifiers, config.puzzle_emb_ndim),
                    DType::F32,
                    device,
                )?,
            );
        }
        Self::from_tensors(config, tensors, device)
    }

    /// Build from a state dict with the official names (`[out, in]` layout). Every expected
    /// tensor must be present with the expected shape; extra keys are an error.
    pub fn from_tensors(
        config: TrmConfig,
        mut tensors: BTreeMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self> {
        config
            .validate()
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let shapes = expected_shapes(&config);
        for (name, shape) in &shapes {
            match tensors.get(name) {
                None => candle_core::bail!("missing tensor `{name}` (expected shape {shape:?})"),
                Some(t) if t.dims() != shape.as_slice() => candle_core::bail!(
                    "tensor `{name}` has shape {:?}, expected {shape:?} for this config",
                    t.dims()
                ),
                Some(_) => {}
            }
        }
        if let Some(extra) = tensors.keys().find(|k| !shapes.contains_key(*k)) {
            candle_core::bail!("unexpected tensor `{extra}` for this config");
        }
        let mut take = |name: &str| -> Result<Tensor> {
            let t = tensors
                .remove(name)
                .ok_or_else(|| candle_core::Error::Msg(format!("missing tensor `{name}`")))?;
            t.to_device(device)?.to_dtype(DType::F32)
        };
        let mut params = Vec::new();
        for name in parameter_names(&config) {
            let t = take(&name)?;
            params.push((name, Var::from_tensor(&t)?));
        }
        let h_init = take("H_init")?;
        let l_init = take("L_init")?;
        let puzzle_emb = if config.puzzle_emb_ndim > 0 {
            take("puzzle_emb.weights")?
        } else {
            Tensor::zeros((0, 0), DType::F32, device)?
        };
        let rope = if config.pos_encodings == PosEncoding::Rope && !config.mlp_t {
            Some(Rope::new(
                config.head_dim(),
                config.total_len(),
                config.rope_theta,
                device,
            )?)
        } else {
            None
        };
        Ok(Self {
            config,
            device: device.clone(),
            params,
            h_init,
            l_init,
            puzzle_emb,
            rope,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The trainable parameters, by official name, in state-dict order.
    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    pub fn param(&self, name: &str) -> Option<&Var> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Number of trainable scalars (buffers excluded).
    pub fn num_parameters(&self) -> usize {
        self.params.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// The whole state dict (parameters and buffers) with official names, as plain tensors.
    pub fn state_dict(&self) -> BTreeMap<String, Tensor> {
        let mut m: BTreeMap<String, Tensor> = self
            .params
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().detach()))
            .collect();
        m.insert("H_init".into(), self.h_init.clone());
        m.insert("L_init".into(), self.l_init.clone());
        if self.config.puzzle_emb_ndim > 0 {
            m.insert("puzzle_emb.weights".into(), self.puzzle_emb.clone());
        }
        m
    }

    fn forward_dtype(&self) -> DType {
        match self.config.forward_dtype {
            ForwardDtype::Float32 => DType::F32,
            ForwardDtype::Bfloat16 => DType::BF16,
            ForwardDtype::Auto if self.device.is_cuda() => DType::BF16,
            ForwardDtype::Auto => DType::F32,
        }
    }

    fn weights(&self, track: bool) -> Weights {
        let opt = |name: &str| -> Option<Tensor> {
            self.params.iter().find(|(n, _)| n == name).map(|(_, v)| {
                if track {
                    v.as_tensor().clone()
                } else {
                    v.as_tensor().detach()
                }
            })
        };
        let get = |name: &str| -> Tensor {
            opt(name).unwrap_or_else(|| panic!("parameter {name} exists by construction"))
        };
        let block = |p: String| Block {
            qkv: opt(&format!("{p}.self_attn.qkv_proj.weight")),
            o: opt(&format!("{p}.self_attn.o_proj.weight")),
            mlp_t_gate_up: opt(&format!("{p}.mlp_t.gate_up_proj.weight")),
            mlp_t_down: opt(&format!("{p}.mlp_t.down_proj.weight")),
            gate_up: get(&format!("{p}.mlp.gate_up_proj.weight")),
            down: get(&format!("{p}.mlp.down_proj.weight")),
        };
        let (blocks, h_blocks): (Vec<_>, Vec<_>) = block_prefixes(&self.config)
            .into_iter()
            .partition(|p| p.starts_with("L_level"));
        let blocks = blocks.into_iter().map(block).collect();
        let h_blocks = h_blocks.into_iter().map(block).collect();
        Weights {
            embed_tokens: get("embed_tokens.embedding_weight"),
            embed_pos: opt("embed_pos.embedding_weight"),
            lm_head: get("lm_head.weight"),
            q_head_w: get("q_head.weight"),
            q_head_b: get("q_head.bias"),
            blocks,
            h_blocks,
        }
    }

    /// Gather the puzzle-embedding rows of a batch: `[B, puzzle_emb_ndim]` (None without one).
    /// `puzzle_ids` are `u32`, made on the host.
    pub fn puzzle_rows(&self, puzzle_ids: &Tensor) -> Result<Option<Tensor>> {
        check_index(puzzle_ids, "puzzle ids")?;
        if self.config.puzzle_emb_ndim == 0 {
            return Ok(None);
        }
        Ok(Some(self.puzzle_emb.index_select(puzzle_ids, 0)?))
    }

    /// `[B, L, D]` input embedding: tokens (and the puzzle prefix), positions, times sqrt(D).
    /// `inputs` are `u32` token ids, made on the host.
    fn input_embeddings(
        &self,
        w: &Weights,
        inputs: &Tensor,
        puzzle_rows: Option<&Tensor>,
    ) -> Result<Tensor> {
        let cfg = &self.config;
        let dt = self.forward_dtype();
        let (b, s) = inputs.dims2()?;
        let d = cfg.hidden_size;
        check_index(inputs, "token ids")?;
        // Gather from the float32 table, then cast: the gradient of the lookup accumulates
        // (index_add) into a float32 buffer, not a bfloat16 one.
        let tok = w
            .embed_tokens
            .index_select(&inputs.flatten_all()?, 0)?
            .to_dtype(dt)?
            .reshape((b, s, d))?;
        let prefix = cfg.prefix_len();
        let mut emb = match puzzle_rows {
            Some(rows) if prefix > 0 => {
                let ndim = rows.dim(1)?;
                let pad = prefix * d - ndim;
                let rows = if pad > 0 {
                    rows.pad_with_zeros(1, 0, pad)?
                } else {
                    rows.clone()
                };
                let rows = rows.reshape((b, prefix, d))?.to_dtype(dt)?;
                Tensor::cat(&[&rows, &tok], 1)?
            }
            _ if prefix > 0 => {
                let zeros = Tensor::zeros((b, prefix, d), dt, &self.device)?;
                Tensor::cat(&[&zeros, &tok], 1)?
            }
            _ => tok,
        };
        if let Some(pos) = &w.embed_pos {
            // The official constant (not exactly 1/sqrt(2)).
            #[allow(clippy::approx_constant)]
            let scale = 0.707106781;
            emb = (emb.broadcast_add(&pos.to_dtype(dt)?.unsqueeze(0)?)? * scale)?;
        }
        emb * (d as f64).sqrt()
    }

    /// A reasoning net: `layers(h + injection)` (`layers(h)` without an injection).
    fn net(&self, blocks: &[Block], h: &Tensor, injection: Option<&Tensor>) -> Result<Tensor> {
        let eps = self.config.rms_norm_eps;
        let mut h = match injection {
            Some(inj) => h.add(inj)?,
            None => h.clone(),
        };
        for blk in blocks {
            if let (Some(gu), Some(dn)) = (&blk.mlp_t_gate_up, &blk.mlp_t_down) {
                let ht = fused::transpose12(&h)?; // [B, D, L]
                let out = swiglu(&ht, gu, dn)?;
                h = fused::transpose12(&add_rms_norm(&ht, &out, eps)?)?;
            } else {
                let qkv = blk.qkv.as_ref().ok_or_else(|| {
                    candle_core::Error::Msg("attention block without qkv_proj".into())
                })?;
                let o = blk.o.as_ref().ok_or_else(|| {
                    candle_core::Error::Msg("attention block without o_proj".into())
                })?;
                let att = attention(&h, qkv, o, self.config.num_heads, self.rope.as_ref())?;
                h = add_rms_norm(&h, &att, eps)?;
            }
            let out = swiglu(&h, &blk.gate_up, &blk.down)?;
            h = add_rms_norm(&h, &out, eps)?;
        }
        Ok(h)
    }

    /// A carry with every slot at `H_init`/`L_init`.
    pub fn initial_carry(&self, batch: usize) -> Result<InnerCarry> {
        let (l, d) = (self.config.total_len(), self.config.hidden_size);
        let dt = self.forward_dtype();
        let z_l = match self.config.latent {
            Latent::MultiScaleZ => self.l_init.to_dtype(dt)?.unsqueeze(1)?.broadcast_as((
                batch,
                self.config.num_z(),
                l,
                d,
            ))?,
            Latent::Yz | Latent::SingleZ => {
                self.l_init.to_dtype(dt)?.broadcast_as((batch, l, d))?
            }
        };
        Ok(InnerCarry {
            z_h: self
                .h_init
                .to_dtype(dt)?
                .broadcast_as((batch, l, d))?
                .contiguous()?,
            z_l: z_l.contiguous()?,
        })
    }

    /// Reset the slots where `reset[b]` to `H_init`/`L_init`, keep the others.
    pub fn reset_carry(&self, reset: &[bool], carry: &InnerCarry) -> Result<InnerCarry> {
        if !reset.iter().any(|&r| r) {
            return Ok(carry.clone());
        }
        let b = carry.z_h.dim(0)?;
        let init = self.initial_carry(b)?;
        let mask: Vec<u8> = reset.iter().map(|&r| r as u8).collect();
        let mask = Tensor::from_vec(mask, b, &self.device)?;
        let pick = |init: &Tensor, old: &Tensor| -> Result<Tensor> {
            let mut shape = vec![b];
            shape.resize(old.rank(), 1);
            mask.reshape(shape)?
                .broadcast_as(old.shape())?
                .where_cond(init, old)
        };
        Ok(InnerCarry {
            z_h: pick(&init.z_h, &carry.z_h)?,
            z_l: pick(&init.z_l, &carry.z_l)?,
        })
    }

    fn heads(&self, w: &Weights, z_h: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let prefix = self.config.prefix_len();
        let s = self.config.seq_len;
        let logits = linear(&z_h.narrow(1, prefix, s)?, &w.lm_head, None)?;
        let first = z_h.narrow(1, 0, 1)?.squeeze(1)?;
        let q = linear(&first, &w.q_head_w, Some(&w.q_head_b))?.to_dtype(DType::F32)?;
        let q_halt = q.narrow(D::Minus1, 0, 1)?.squeeze(D::Minus1)?;
        let q_cont = q.narrow(D::Minus1, 1, 1)?.squeeze(D::Minus1)?;
        Ok((logits, q_halt, q_cont))
    }

    /// One supervision step: `T-1` cycles without a graph, then one cycle through which
    /// gradients flow when `grad` is true (and `puzzle_rows` may then be a `Var`); with the
    /// 1-step gradient only its last z update and the y update are differentiated.
    /// `record_cycles` also decodes the answer after every H-cycle (for the solver pane).
    pub fn step(
        &self,
        carry: &InnerCarry,
        inputs: &Tensor,
        puzzle_rows: Option<&Tensor>,
        grad: bool,
        record_cycles: bool,
    ) -> Result<StepOutput> {
        let cfg = &self.config;
        let w_ng = self.weights(false);
        // The detached weights are the same for every product of this step: pack them once.
        let _packed = crate::model::sgemm::pack_scope(w_ng.matrices())?;
        let w_g = if grad {
            self.weights(true)
        } else {
            w_ng.clone()
        };
        let x_g = self.input_embeddings(&w_g, inputs, puzzle_rows)?;
        let x_ng = x_g.detach();
        let mut z_h = carry.z_h.detach();
        // The latents as a list (one entry except for multi-scale z).
        let mut zs: Vec<Tensor> = match cfg.latent {
            Latent::MultiScaleZ => (0..cfg.num_z())
                .map(|i| carry.z_l.narrow(1, i, 1)?.squeeze(1))
                .collect::<Result<_>>()?,
            Latent::Yz | Latent::SingleZ => vec![carry.z_l.detach()],
        };
        let sum = |zs: &[Tensor]| -> Result<Tensor> {
            let mut acc = zs[0].clone();
            for z in &zs[1..] {
                acc = acc.add(z)?;
            }
            Ok(acc)
        };
        let mut cycle_logits = Vec::new();
        let mut heads = None;
        for cycle in 0..cfg.h_cycles {
            let last_cycle = cycle + 1 == cfg.h_cycles;
            let tracked =
                |last_call: bool| grad && last_cycle && (last_call || !cfg.one_step_gradient);
            // Pick the weights and embedding of a call, and whether its output keeps a graph.
            let pick = |t: bool| if t { (&w_g, &x_g) } else { (&w_ng, &x_ng) };
            let keep = |t: bool, z: Tensor| if t { z } else { z.detach() };
            for i in 0..cfg.l_cycles {
                let t = tracked(i + 1 == cfg.l_cycles);
                let (w, x) = pick(t);
                match cfg.latent {
                    Latent::Yz => {
                        let z = self.net(&w.blocks, &zs[0], Some(&z_h.add(x)?))?;
                        zs[0] = keep(t, z);
                    }
                    Latent::SingleZ => {
                        let z = self.net(&w.blocks, &z_h, Some(x))?;
                        z_h = keep(t, z);
                    }
                    Latent::MultiScaleZ => {
                        let z = self.net(&w.blocks, &sum(&zs)?, Some(&z_h.add(x)?))?;
                        zs[i] = keep(t, z);
                    }
                }
            }
            let t = tracked(true);
            let (w, _) = pick(t);
            let z = match cfg.latent {
                Latent::Yz => self.net(w.h_net(), &z_h, Some(&zs[0]))?,
                Latent::SingleZ => self.net(w.h_net(), &z_h, None)?,
                Latent::MultiScaleZ => self.net(w.h_net(), &z_h, Some(&sum(&zs)?))?,
            };
            z_h = keep(t, z);
            if last_cycle {
                heads = Some(self.heads(w, &z_h)?);
            } else if record_cycles {
                cycle_logits.push(self.heads(&w_ng, &z_h)?.0);
            }
        }
        let (logits, q_halt, q_continue) =
            heads.ok_or_else(|| candle_core::Error::Msg("H_cycles must be >= 1".into()))?;
        if record_cycles {
            cycle_logits.push(logits.detach());
        }
        let z_l = match cfg.latent {
            Latent::MultiScaleZ => Tensor::stack(&zs, 1)?.detach(),
            Latent::Yz | Latent::SingleZ => zs[0].detach(),
        };
        Ok(StepOutput {
            logits,
            q_halt,
            q_continue,
            carry: InnerCarry {
                z_h: z_h.detach(),
                z_l,
            },
            cycle_logits,
        })
    }
}
