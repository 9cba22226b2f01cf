//! Model-core integration tests: gradients reach every parameter, paper parameter counts,
//! the continue-loss and softmax variants, other shapes
//! of the prefix and positions, weights round trip, the step solver, checkpoint import, and
//! the gradient sums of the patched candle backprop (vendor/README.md).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use candle_core::{DType, Device, Tensor};
use trm_tui::model::weights::{load_safetensors, save_safetensors};
use trm_tui::model::{LossType, PosEncoding, StepSolver, TrmConfig, TrmModel};
use trm_tui::util::Rng;

mod common;
use common::random_batch;

fn small(mlp_t: bool, pos: PosEncoding) -> TrmConfig {
    TrmConfig {
        hidden_size: 32,
        num_heads: 4,
        l_layers: 2,
        h_cycles: 2,
        l_cycles: 2,
        halt_max_steps: 4,
        puzzle_emb_ndim: 32,
        puzzle_emb_len: 2,
        mlp_t,
        pos_encodings: pos,
        vocab_size: 6,
        seq_len: 16,
        num_puzzle_identifiers: 3,
        ..TrmConfig::default()
    }
}

/// After one backward pass every trainable tensor (and the gathered puzzle rows) has a
/// non-zero gradient: no op on the path silently lacks a backward.
#[test]
fn every_parameter_gets_a_gradient() {
    for (mlp_t, pos) in [
        (false, PosEncoding::Rope),
        (true, PosEncoding::None),
        (false, PosEncoding::Learned),
    ] {
        let cfg = small(mlp_t, pos);
        let model = TrmModel::new(cfg.clone(), 3, &Device::Cpu).unwrap();
        let batch = random_batch(&cfg, 3, 1);
        let carry = model.act_initial_carry(3).unwrap();
        let mut rng = Rng::new(0);
        let (_, out, loss) = model.act_loss_step(&carry, &batch, true, &mut rng).unwrap();
        let grads = loss.total.backward().unwrap();
        for (name, var) in model.params() {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{mlp_t}/{pos:?}: no gradient for {name}"));
            let n = g
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(
                n > 0.0 && n.is_finite(),
                "{mlp_t}/{pos:?}: gradient of {name} is {n}"
            );
        }
        let rows = out.puzzle_rows.expect("rows are a variable");
        let g = grads.get(rows.as_tensor()).expect("puzzle rows gradient");
        assert!(
            g.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 0.0
        );
    }
}

/// The vendored backprop stores a node's first gradient instead of adding it to zeroes: sums
/// over several uses (added and subtracted) stay right, and two variables that receive the
/// same gradient tensor (`a + b`) still get buffers of their own.
#[test]
fn backprop_sums_reused_tensors_and_keeps_variable_gradients_apart() {
    let dev = Device::Cpu;
    let a = candle_core::Var::from_slice(&[1f32, 2., 3.], 3, &dev).unwrap();
    let b = candle_core::Var::from_slice(&[4f32, 5., 6.], 3, &dev).unwrap();
    // y = sum(a + b) + sum(a * a) - sum(b): dy/da = 1 + 2a, dy/db = 1 - 1 = 0.
    let s = a.as_tensor().add(b.as_tensor()).unwrap();
    let y = (s.sum_all().unwrap() + a.as_tensor().sqr().unwrap().sum_all().unwrap())
        .unwrap()
        .sub(&b.as_tensor().sum_all().unwrap())
        .unwrap();
    let grads = y.backward().unwrap();
    let ga = grads.get(a.as_tensor()).unwrap();
    let gb = grads.get(b.as_tensor()).unwrap();
    assert_eq!(ga.to_vec1::<f32>().unwrap(), vec![3., 5., 7.]);
    assert_eq!(gb.to_vec1::<f32>().unwrap(), vec![0., 0., 0.]);
    // z = sum(a + b) alone: both variables get the same upstream gradient.
    let z = a.as_tensor().add(b.as_tensor()).unwrap().sum_all().unwrap();
    let grads = z.backward().unwrap();
    let ptr = |t: &Tensor| {
        let (storage, layout) = t.storage_and_layout();
        match &*storage {
            candle_core::Storage::Cpu(candle_core::CpuStorage::F32(v)) => {
                v[layout.start_offset()..].as_ptr() as usize
            }
            _ => panic!("expected f32 CPU storage"),
        }
    };
    let (ga, gb) = (
        grads.get(a.as_tensor()).unwrap(),
        grads.get(b.as_tensor()).unwrap(),
    );
    assert_eq!(ga.to_vec1::<f32>().unwrap(), vec![1., 1., 1.]);
    assert_eq!(gb.to_vec1::<f32>().unwrap(), vec![1., 1., 1.]);
    assert_ne!(ptr(ga), ptr(gb), "two variables share one gradient buffer");
}

#[test]
fn paper_models_have_the_papers_parameter_counts() {
    let dev = Device::Cpu;
    for (cfg, expected) in [
        (TrmConfig::paper(11, 81, true), 5_028_866),
        (TrmConfig::paper(11, 81, false), 6_828_034),
        (TrmConfig::paper(12, 900, false), 6_829_058),
        (TrmConfig::paper(6, 900, true), 18_795_522),
    ] {
        let m = TrmModel::new(cfg.clone(), 0, &dev).unwrap();
        assert_eq!(m.num_parameters(), expected);
        assert_eq!(cfg.num_parameters(), expected);
    }
}

#[test]
fn continue_loss_variant_trains() {
    let cfg = TrmConfig {
        no_act_continue: false,
        ..small(false, PosEncoding::Rope)
    };
    let model = TrmModel::new(cfg.clone(), 4, &Device::Cpu).unwrap();
    // At init both q outputs are -5 and the target sigmoid(max(next q)) equals sigmoid(q_cont)
    // exactly (zero gradient); move the bias so the continue loss has something to learn.
    let bias = Tensor::new(&[0.3f32, -0.7], &Device::Cpu).unwrap();
    model.param("q_head.bias").unwrap().set(&bias).unwrap();
    let batch = random_batch(&cfg, 4, 3);
    let mut carry = model.act_initial_carry(4).unwrap();
    let mut rng = Rng::new(0);
    for _ in 0..cfg.halt_max_steps {
        let (c, out, loss) = model.act_loss_step(&carry, &batch, true, &mut rng).unwrap();
        let qc = loss.metrics.q_continue_loss.expect("continue loss present");
        assert!(qc.is_finite() && qc > 0.0);
        assert!(out.target_q_continue.is_some());
        let grads = loss.total.backward().unwrap();
        let gb = grads
            .get(model.param("q_head.bias").unwrap().as_tensor())
            .unwrap();
        let gb: Vec<f32> = gb.to_vec1().unwrap();
        assert!(gb[0] != 0.0 && gb[1] != 0.0, "both q outputs learn: {gb:?}");
        carry = c;
    }
    assert!(
        carry.halted.iter().all(|&h| h),
        "every slot halts by halt_max_steps"
    );
}

#[test]
fn softmax_loss_option_works() {
    let cfg = TrmConfig {
        loss_type: LossType::SoftmaxCrossEntropy,
        ..small(true, PosEncoding::None)
    };
    let model = TrmModel::new(cfg.clone(), 4, &Device::Cpu).unwrap();
    let batch = random_batch(&cfg, 2, 3);
    let carry = model.act_initial_carry(2).unwrap();
    let (_, _, loss) = model
        .act_loss_step(&carry, &batch, true, &mut Rng::new(1))
        .unwrap();
    let v = loss.total.to_scalar::<f64>().unwrap();
    assert!(v.is_finite() && v > 0.0);
    loss.total.backward().unwrap();
}

/// Prefix shapes other than the fixtures': no prefix at all, an embedding narrower than the
/// hidden size, one wider (two prefix positions derived from `puzzle_emb_len = 0`).
#[test]
fn other_prefix_shapes_run_forward_and_backward() {
    for (ndim, len, expect_prefix) in [(0, 0, 0), (16, 1, 1), (64, 0, 2), (32, 3, 3)] {
        let cfg = TrmConfig {
            puzzle_emb_ndim: ndim,
            puzzle_emb_len: len,
            ..small(false, PosEncoding::Learned)
        };
        assert_eq!(cfg.prefix_len(), expect_prefix);
        let model = TrmModel::new(cfg.clone(), 9, &Device::Cpu).unwrap();
        let batch = random_batch(&cfg, 2, 3);
        let carry = model.act_initial_carry(2).unwrap();
        let (c, out, loss) = model
            .act_loss_step(&carry, &batch, true, &mut Rng::new(1))
            .unwrap();
        assert_eq!(c.inner.z_h.dims(), &[2, cfg.seq_len + expect_prefix, 32]);
        assert_eq!(out.step.logits.dims(), &[2, cfg.seq_len, cfg.vocab_size]);
        loss.total.backward().unwrap();
    }
}

#[test]
fn weights_round_trip_through_safetensors() {
    let cfg = small(false, PosEncoding::Rope);
    let dev = Device::Cpu;
    let model = TrmModel::new(cfg.clone(), 11, &dev).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let mut meta = HashMap::new();
    meta.insert("model_config".to_string(), cfg.to_toml_string());
    save_safetensors(&path, &model.state_dict(), &meta).unwrap();
    let (tensors, meta2) = load_safetensors(&path, &dev).unwrap();
    let cfg2 = TrmConfig::from_toml_str(&meta2["model_config"]).unwrap();
    assert_eq!(cfg2, cfg);
    let model2 = TrmModel::from_tensors(cfg2, tensors, &dev).unwrap();
    let batch = random_batch(&cfg, 2, 4);
    let inputs = batch.inputs_tensor(&dev).unwrap();
    let ids = batch.ids_tensor(&dev).unwrap();
    let a = model
        .step(
            &model.initial_carry(2).unwrap(),
            &inputs,
            model.puzzle_rows(&ids).unwrap().as_ref(),
            false,
            false,
        )
        .unwrap();
    let b = model2
        .step(
            &model2.initial_carry(2).unwrap(),
            &inputs,
            model2.puzzle_rows(&ids).unwrap().as_ref(),
            false,
            false,
        )
        .unwrap();
    let d = (a.logits - b.logits)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(d, 0.0);
    // A tensor of the wrong shape is refused with its name.
    let mut bad = model.state_dict();
    bad.insert(
        "lm_head.weight".into(),
        Tensor::zeros((3, 3), DType::F32, &dev).unwrap(),
    );
    let e = TrmModel::from_tensors(cfg, bad, &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("lm_head.weight"), "{e}");
}

#[test]
fn step_solver_runs_every_supervision_step() {
    let cfg = small(false, PosEncoding::Rope);
    let model = TrmModel::new(cfg.clone(), 2, &Device::Cpu).unwrap();
    let batch = random_batch(&cfg, 1, 5);
    let mut solver = StepSolver::new(&model, &batch.inputs, 1, true).unwrap();
    let steps = solver.run_all().unwrap().to_vec();
    assert_eq!(steps.len(), cfg.halt_max_steps);
    for (k, s) in steps.iter().enumerate() {
        assert_eq!(s.step, k + 1);
        assert_eq!(s.pred.len(), cfg.seq_len);
        assert_eq!(s.cycle_preds.len(), cfg.h_cycles);
        assert_eq!(s.cycle_preds.last().unwrap(), &s.pred);
        let p: f32 = s.probs[0].iter().sum();
        assert!((p - 1.0).abs() < 1e-4);
        assert!(s.z_h_norm > 0.0 && s.z_h_delta > 0.0);
    }
    // The same puzzle through the batched ACT path gives the same last step.
    let mut carry = model.act_initial_carry(1).unwrap();
    let mut rng = Rng::new(0);
    let mut last = None;
    for _ in 0..cfg.halt_max_steps {
        let (c, out) = model.act_step(&carry, &batch, false, &mut rng).unwrap();
        carry = c;
        last = Some(out.step.q_halt.to_vec1::<f32>().unwrap()[0]);
    }
    assert!((last.unwrap() - steps.last().unwrap().q_halt).abs() < 1e-5);
    assert!(
        StepSolver::new(&model, &[0; 3], 0, false).is_err(),
        "wrong length refused"
    );
}

/// The bundled parity fixtures (a copy of the shared ones; tests/fixtures/README.md).
fn fixture_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity")
}

#[test]
fn import_checkpoint_reproduces_fixture_weights() {
    let ckpt = fixture_dir().join("att_rope_official_checkpoint.pt");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.safetensors");
    let st = Command::new(env!("CARGO_BIN_EXE_trm-tui"))
        .args([
            "import-checkpoint",
            ckpt.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let dev = Device::Cpu;
    let (ours, _) = load_safetensors(&out, &dev).unwrap();
    let (fixture, _) = load_safetensors(&fixture_dir().join("att_rope.safetensors"), &dev).unwrap();
    let expected: Vec<(&str, &Tensor)> = fixture
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("weights.").map(|n| (n, v)))
        .collect();
    assert_eq!(ours.len(), expected.len(), "same set of tensors");
    for (name, t) in expected {
        let o = ours.get(name).unwrap_or_else(|| panic!("missing {name}"));
        assert_eq!(o.dims(), t.dims(), "{name}");
        let a: Vec<f32> = o.flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(a, b, "{name} differs");
    }
}

#[test]
fn import_checkpoint_refuses_truncated_and_foreign_files() {
    let ckpt = fixture_dir().join("att_rope_official_checkpoint.pt");
    let bytes = std::fs::read(&ckpt).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.pt");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, "hello, not a checkpoint\n").unwrap();
    let empty = dir.path().join("empty.pt");
    std::fs::write(&empty, b"").unwrap();
    for (file, needle) in [
        (&truncated, "truncated"),
        (&foreign, "truncated or of another kind"),
        (&empty, "empty.pt"),
        (&dir.path().join("missing.pt"), "no such file"),
    ] {
        let out = dir.path().join("o.safetensors");
        let st = Command::new(env!("CARGO_BIN_EXE_trm-tui"))
            .args([
                "import-checkpoint",
                file.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&st.stderr);
        assert_eq!(st.status.code(), Some(2), "{err}");
        assert!(err.contains(needle), "{file:?}: {err}");
        assert!(
            err.contains(file.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.exists());
    }
}
