//! The CUDA path's host-side contracts, checked on the CPU (no GPU needed):
//! - index tensors reach the model as `u32` made on the host on the train, eval and solve
//!   paths; an `i32` one is refused; the model's code casts no integer tensor (candle's CUDA
//!   kernels have no casts from `i32`, so such a cast fails on the first GPU step);
//! - one training step reads back a few small vectors, the same whatever the parameter count
//!   (before, the optimizer read every parameter and gradient, and clipping one scalar each).

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use trm_tui::model::host;
use trm_tui::model::StepSolver;
use trm_tui::train::engine::{evaluate_model, Session};
use trm_tui::train::{presets, TrainConfig};

fn smoke() -> TrainConfig {
    let mut c = presets::get("smoke").expect("the smoke preset");
    c.max_steps = 10;
    c
}

fn session(cfg: TrainConfig) -> (Session, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let data = trm_tui::train::source::load_train_data(&cfg.data, dir.path()).unwrap();
    let s = Session::new(cfg, Arc::new(data), &Device::Cpu).unwrap();
    (s, dir)
}

#[test]
fn index_tensors_reach_the_model_as_u32_on_train_eval_and_solve() {
    let cfg = smoke();
    assert!(cfg.arch.puzzle_emb_ndim > 0, "the puzzle ids are exercised");
    let (mut s, _dir) = session(cfg);

    let before = host::index_checks();
    s.train_step().unwrap();
    let train = host::index_checks() - before;
    // Token ids and puzzle ids of every micro-batch's supervision step (and its continue target).
    assert!(train >= 2, "train: {train} index tensors checked");

    let model = s.eval_model().unwrap();
    let before = host::index_checks();
    let data = Arc::clone(&s.data);
    let m = evaluate_model(&model, &data.loaded.test.1, data.kind(), 16, 16, None).unwrap();
    assert!(m["count"].unwrap() > 0.0);
    assert!(host::index_checks() - before >= 2, "eval checked its ids");

    let before = host::index_checks();
    let seq_len = model.config.seq_len;
    StepSolver::new(&model, &vec![1; seq_len], 0, false)
        .unwrap()
        .next_step()
        .unwrap();
    assert!(host::index_checks() - before >= 2, "solve checked its ids");

    // An i32 tensor is refused where it enters, naming what it is.
    let ids32 = Tensor::new(&[0i32], &Device::Cpu).unwrap();
    let err = model.puzzle_rows(&ids32).unwrap_err().to_string();
    assert!(err.contains("puzzle ids") && err.contains("u32"), "{err}");
    let tokens32 = Tensor::from_vec(vec![1i32; seq_len], (1, seq_len), &Device::Cpu).unwrap();
    let carry = model.initial_carry(1).unwrap();
    let rows = model
        .puzzle_rows(&Tensor::new(&[0u32], &Device::Cpu).unwrap())
        .unwrap();
    let err = model
        .step(&carry, &tokens32, rows.as_ref(), false, false)
        .map(|_| ())
        .expect_err("i32 token ids are refused")
        .to_string();
    assert!(err.contains("token ids") && err.contains("I32"), "{err}");
}

/// The model's source applies no integer cast: every `to_dtype` in the files on the
/// train/eval/solve path converts a float tensor (the index tensors come made in their dtype).
#[test]
fn the_model_code_casts_no_integer_tensor() {
    let root = env!("CARGO_MANIFEST_DIR");
    for file in ["act.rs", "net.rs", "loss.rs", "solve.rs", "layers.rs"] {
        let path = format!("{root}/src/model/{file}");
        let src = std::fs::read_to_string(&path).unwrap();
        // The tests at the bottom of a file build their own inputs.
        let code = src.split("#[cfg(test)]").next().unwrap_or(&src);
        for (n, line) in code.lines().enumerate() {
            for int in ["U8", "U32", "I16", "I32", "I64"] {
                assert!(
                    !line.contains(&format!("to_dtype(DType::{int})")),
                    "{path}:{}: an integer cast on the model path: {}",
                    n + 1,
                    line.trim()
                );
            }
        }
    }
    // And the dtypes a batch hands over.
    let b = trm_tui::model::Batch::zeros(2, 3);
    let dev = Device::Cpu;
    assert_eq!(b.inputs_tensor(&dev).unwrap().dtype(), DType::U32);
    assert_eq!(b.ids_tensor(&dev).unwrap().dtype(), DType::U32);
    assert_eq!(b.labels_tensor(&dev).unwrap().dtype(), DType::I64);
    let l = b.labels(&dev).unwrap();
    assert_eq!(
        (l.targets.dtype(), l.valid.dtype()),
        (DType::U32, DType::U8)
    );
}

/// What one training step (after a warm-up step) reads back to the host.
fn step_reads(cfg: TrainConfig) -> (host::HostReads, usize) {
    let (mut s, _dir) = session(cfg);
    s.train_step().unwrap();
    let before = host::reads();
    s.train_step().unwrap();
    (host::reads() - before, s.model.num_parameters())
}

#[test]
fn a_training_step_reads_back_a_few_scalars_whatever_the_parameter_count() {
    // With clipping on, so that the gradient norm is read too.
    let small = TrainConfig {
        grad_clip: 1.0,
        ..smoke()
    };
    let mut big = small.clone();
    big.arch.l_layers *= 4;
    big.arch.expansion *= 2.0;
    let (a, pa) = step_reads(small.clone());
    let (b, pb) = step_reads(big);
    assert!(
        pb > 2 * pa,
        "the second model has {pb} parameters, the first {pa}"
    );
    assert_eq!(
        a, b,
        "reads of one step: {pa} parameters {a:?}, {pb} parameters {b:?}"
    );
    // Per micro-batch: the halting logits and the packed losses and metrics; per step: the
    // gradient norm.
    let micro = if small.micro_batch_size == 0 {
        small.global_batch_size
    } else {
        small.micro_batch_size
    };
    let num_micro = (small.global_batch_size / micro) as u64;
    assert!(
        a.reads <= 2 * num_micro + 1,
        "{a:?} for {num_micro} micro-batch(es)"
    );
    // Two halting logits per slot, seven loss and metric sums per micro-batch, one norm.
    let expected = num_micro * (2 * micro as u64 + 7) + 1;
    assert_eq!(a.elements, expected, "{a:?}");
    assert!(
        (a.elements as usize) < pa / 10,
        "{} elements read for {pa} parameters",
        a.elements
    );
}
