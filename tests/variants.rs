//! The paper's ablation variants as config options of one model family (paper Tables 1-3;
//! the official `trm.py`, `trm_singlez.py`, `trm_hier6.py` and `config/arch/hrm.yaml`): every
//! variant trains end to end at smoke size, its gradients reach every parameter, and the
//! switches that should reduce to TRM do so exactly.

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};
use trm_tui::model::weights::load_model;
use trm_tui::model::{Batch, Latent, PosEncoding, TrmConfig, TrmModel};
use trm_tui::train::api::read_metrics;
use trm_tui::train::config::TrainConfig;
use trm_tui::train::presets;
use trm_tui::train::state::TrainerState;
use trm_tui::train::trainer::{run_blocking, RunSpec};
use trm_tui::train::{RunDir, Split};
use trm_tui::util::Rng;

fn small() -> TrmConfig {
    TrmConfig {
        hidden_size: 32,
        num_heads: 4,
        l_layers: 2,
        h_cycles: 2,
        l_cycles: 3,
        halt_max_steps: 3,
        puzzle_emb_ndim: 32,
        puzzle_emb_len: 1,
        vocab_size: 6,
        seq_len: 16,
        num_puzzle_identifiers: 2,
        ..TrmConfig::default()
    }
}

/// Each named variant as the overrides a user (or an experiment file) would give.
fn variants() -> Vec<(&'static str, TrmConfig)> {
    let b = small();
    vec![
        ("trm-att", b.clone()),
        (
            "trm-mlp",
            TrmConfig {
                mlp_t: true,
                pos_encodings: PosEncoding::None,
                ..b.clone()
            },
        ),
        (
            "one-layer",
            TrmConfig {
                l_layers: 1,
                ..b.clone()
            },
        ),
        (
            "four-layers",
            TrmConfig {
                l_layers: 4,
                ..b.clone()
            },
        ),
        (
            "T1-n1",
            TrmConfig {
                h_cycles: 1,
                l_cycles: 1,
                ..b.clone()
            },
        ),
        (
            "continue-loss",
            TrmConfig {
                no_act_continue: false,
                ..b.clone()
            },
        ),
        (
            "one-step-gradient",
            TrmConfig {
                one_step_gradient: true,
                ..b.clone()
            },
        ),
        (
            "separate-nets",
            TrmConfig {
                separate_nets: true,
                ..b.clone()
            },
        ),
        (
            "single-z",
            TrmConfig {
                latent: Latent::SingleZ,
                ..b.clone()
            },
        ),
        (
            "multi-scale-z",
            TrmConfig {
                latent: Latent::MultiScaleZ,
                ..b.clone()
            },
        ),
        (
            "hrm",
            TrmConfig {
                hidden_size: 32,
                num_heads: 4,
                l_layers: 2,
                h_layers: 2,
                halt_max_steps: 3,
                puzzle_emb_ndim: 32,
                num_puzzle_identifiers: 2,
                ..TrmConfig::hrm(6, 16)
            },
        ),
    ]
}

fn random_batch(cfg: &TrmConfig, b: usize, seed: u64) -> Batch {
    let mut rng = Rng::new(seed);
    let s = cfg.seq_len;
    Batch {
        size: b,
        seq_len: s,
        inputs: (0..b * s)
            .map(|_| rng.below(cfg.vocab_size) as i32)
            .collect(),
        labels: (0..b * s)
            .map(|_| 1 + rng.below(cfg.vocab_size - 1) as i32)
            .collect(),
        puzzle_ids: (0..b)
            .map(|_| rng.below(cfg.num_puzzle_identifiers) as i32)
            .collect(),
    }
}

fn abs_sum(t: &Tensor) -> f32 {
    t.abs()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn every_variant_gets_gradients_on_every_parameter() {
    for (name, cfg) in variants() {
        let model = TrmModel::new(cfg.clone(), 5, &Device::Cpu).unwrap();
        assert_eq!(
            model.num_parameters(),
            cfg.num_parameters(),
            "{name}: parameter arithmetic"
        );
        let batch = random_batch(&cfg, 3, 2);
        let carry = model.act_initial_carry(3).unwrap();
        let mut rng = Rng::new(0);
        // Two supervision steps, so that the carried state (and the continue target) is used.
        let (carry, _, _) = model.act_loss_step(&carry, &batch, true, &mut rng).unwrap();
        let (_, _, loss) = model.act_loss_step(&carry, &batch, true, &mut rng).unwrap();
        let grads = loss.total.backward().unwrap();
        for (pname, var) in model.params() {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{name}: no gradient for {pname}"));
            let n = abs_sum(g);
            assert!(
                n > 0.0 && n.is_finite(),
                "{name}: gradient of {pname} is {n}"
            );
        }
        if cfg.separate_nets {
            assert!(model
                .param("H_level.layers.0.mlp.down_proj.weight")
                .is_some());
        }
    }
}

/// Gradients of one training step (ACT loss head, fixed RNG) by parameter name.
fn grads_of(model: &TrmModel, batch: &Batch) -> (f32, BTreeMap<String, Tensor>) {
    let carry = model.act_initial_carry(batch.size).unwrap();
    let mut rng = Rng::new(0);
    let (_, out, loss) = model.act_loss_step(&carry, batch, true, &mut rng).unwrap();
    let grads = loss.total.backward().unwrap();
    let m = model
        .params()
        .iter()
        .map(|(n, v)| (n.clone(), grads.get(v.as_tensor()).unwrap().clone()))
        .collect();
    let logits = abs_sum(&out.step.logits.to_dtype(candle_core::DType::F32).unwrap());
    (logits, m)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn one_step_gradient_differs_from_full_recursion_but_not_when_n_is_1() {
    let base = small();
    let batch = random_batch(&base, 2, 4);
    let full = TrmModel::new(base.clone(), 1, &Device::Cpu).unwrap();
    let one = TrmModel::from_tensors(
        TrmConfig {
            one_step_gradient: true,
            ..base.clone()
        },
        full.state_dict(),
        &Device::Cpu,
    )
    .unwrap();
    let (lf, gf) = grads_of(&full, &batch);
    let (lo, go) = grads_of(&one, &batch);
    assert_eq!(lf, lo, "the forward pass is the same");
    let name = "L_level.layers.0.mlp.down_proj.weight";
    assert!(
        max_diff(&gf[name], &go[name]) > 1e-6,
        "n = 3: the 1-step gradient must drop the first z updates"
    );
    // With n = 1 the only z update is the last one: identical gradients.
    let n1 = TrmConfig {
        l_cycles: 1,
        ..base
    };
    let full = TrmModel::new(n1.clone(), 1, &Device::Cpu).unwrap();
    let one = TrmModel::from_tensors(
        TrmConfig {
            one_step_gradient: true,
            ..n1
        },
        full.state_dict(),
        &Device::Cpu,
    )
    .unwrap();
    let (_, gf) = grads_of(&full, &batch);
    let (_, go) = grads_of(&one, &batch);
    for (k, g) in &gf {
        assert!(max_diff(g, &go[k]) < 1e-7, "{k}");
    }
}

#[test]
fn separate_nets_with_copied_weights_equal_the_shared_net() {
    let base = small();
    let shared = TrmModel::new(base.clone(), 9, &Device::Cpu).unwrap();
    let mut sd = shared.state_dict();
    let copies: Vec<(String, Tensor)> = sd
        .iter()
        .filter(|(k, _)| k.starts_with("L_level."))
        .map(|(k, v)| (k.replacen("L_level.", "H_level.", 1), v.clone()))
        .collect();
    sd.extend(copies);
    let sep_cfg = TrmConfig {
        separate_nets: true,
        ..base.clone()
    };
    let sep = TrmModel::from_tensors(sep_cfg, sd, &Device::Cpu).unwrap();
    let batch = random_batch(&base, 2, 7);
    let (a, _) = grads_of(&shared, &batch);
    let (b, _) = grads_of(&sep, &batch);
    assert!((a - b).abs() <= 1e-6 * a.abs(), "{a} vs {b}");
}

#[test]
fn multi_scale_z_with_one_latent_is_trm() {
    let base = TrmConfig {
        l_cycles: 1,
        ..small()
    };
    let trm = TrmModel::new(base.clone(), 3, &Device::Cpu).unwrap();
    let mut sd = trm.state_dict();
    let l_init = sd["L_init"].unsqueeze(0).unwrap();
    sd.insert("L_init".into(), l_init);
    let ms = TrmModel::from_tensors(
        TrmConfig {
            latent: Latent::MultiScaleZ,
            ..base.clone()
        },
        sd,
        &Device::Cpu,
    )
    .unwrap();
    let batch = random_batch(&base, 2, 8);
    let (a, _) = grads_of(&trm, &batch);
    let (b, _) = grads_of(&ms, &batch);
    assert_eq!(a, b);
}

#[test]
fn multi_scale_carry_resets_per_slot() {
    let cfg = TrmConfig {
        latent: Latent::MultiScaleZ,
        ..small()
    };
    let model = TrmModel::new(cfg.clone(), 3, &Device::Cpu).unwrap();
    let init = model.initial_carry(2).unwrap();
    assert_eq!(init.z_l.dims(), &[2, 3, cfg.total_len(), 32]);
    let moved = trm_tui::model::InnerCarry {
        z_h: (&init.z_h + 1.0).unwrap(),
        z_l: (&init.z_l + 1.0).unwrap(),
    };
    let reset = model.reset_carry(&[true, false], &moved).unwrap();
    let row = |t: &Tensor, i: usize| t.narrow(0, i, 1).unwrap();
    assert_eq!(max_diff(&row(&reset.z_l, 0), &row(&init.z_l, 0)), 0.0);
    assert_eq!(max_diff(&row(&reset.z_l, 1), &row(&moved.z_l, 1)), 0.0);
    assert_eq!(max_diff(&row(&reset.z_h, 0), &row(&init.z_h, 0)), 0.0);
}

/// Each variant trains through the real trainer at smoke size (its loss falls) and its
/// checkpoint reloads with the variant's config.
#[test]
fn every_variant_trains_at_smoke_size() {
    let steps = 60;
    for (name, arch) in variants() {
        let mut cfg: TrainConfig = presets::get("smoke").unwrap();
        let mut arch = TrmConfig {
            vocab_size: cfg.arch.vocab_size,
            seq_len: cfg.arch.seq_len,
            num_puzzle_identifiers: cfg.arch.num_puzzle_identifiers,
            ..arch
        };
        arch.hidden_size = 32;
        cfg.arch = arch;
        cfg.max_steps = steps;
        cfg.eval_interval = steps as usize;
        cfg.eval_limit = 16;
        cfg.checkpoint_every = 0;
        if name == "trm-att" {
            cfg.ema = false; // the "no EMA" row of Table 1
        }
        let dir = tempfile::tempdir().unwrap();
        let state =
            run_blocking(RunSpec::new(cfg.clone(), RunDir::new(dir.path())), |_| {}).unwrap();
        assert_eq!(state, TrainerState::Finished, "{name}");
        let (records, errors) = read_metrics(&dir.path().join("metrics.jsonl")).unwrap();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        let losses: Vec<f64> = records
            .iter()
            .filter(|r| r.split == Split::Train)
            .filter_map(|r| r.get("lm_loss"))
            .collect();
        assert_eq!(losses.len(), steps as usize, "{name}");
        let first = losses[..10].iter().sum::<f64>() / 10.0;
        let last = losses[steps as usize - 10..].iter().sum::<f64>() / 10.0;
        assert!(
            last.is_finite() && last < first,
            "{name}: lm_loss went from {first:.3} to {last:.3}"
        );
        let ckpt = RunDir::new(dir.path()).latest_checkpoint().unwrap();
        let (model, _) = load_model(&ckpt, None, &Device::Cpu).unwrap();
        // The checkpoint holds the resolved forward dtype; everything else is the variant's.
        let expected = TrmConfig {
            forward_dtype: model.config.forward_dtype,
            ..cfg.arch.clone()
        };
        assert_eq!(model.config, expected, "{name}");
    }
}
