//! Optimizer parity with the official code: for every parity fixture (`tests/common`), one
//! AdamATan2 step (lr 1e-3, wd 0.1, betas 0.9/0.95, zero moments) from the fixture's own
//! gradients reproduces `optim.adam_atan2.*`, and one sign-SGD step (lr 1e-2, wd 0.1) of the
//! puzzle-embedding table reproduces `optim.signsgd.puzzle_emb.weights`.

use std::collections::BTreeMap;

mod common;
use common::{fixture_files, ints, rel_err};

use candle_core::{Device, Tensor, Var};
use trm_tui::train::optim::{signsgd_update, DenseOptimizer};
use trm_tui::train::OptimizerKind;

/// The ids the official sparse optimizer used. Its `local_ids` buffer holds the ids of the most
/// recent training-mode forward, and the fixture generator ran the `act.call*` training-mode
/// calls after the backward pass and before the optimizer step: so the ids are those the ACT
/// carry held after the last call (halted slots take the offered row at the same index).
/// Without act calls they are the batch's own ids.
fn sparse_optimizer_ids(t: &BTreeMap<String, Tensor>) -> Vec<i32> {
    let mut ids = ints(&t["batch.puzzle_identifiers"]);
    let mut halted = vec![1; ids.len()];
    let mut k = 1;
    while let Some(offered) = t.get(&format!("act.call{k}.offered.puzzle_identifiers")) {
        let offered = ints(offered);
        for i in 0..ids.len() {
            if halted[i] != 0 {
                ids[i] = offered[i];
            }
        }
        halted = ints(&t[&format!("act.call{k}.halted")]);
        k += 1;
    }
    ids
}

#[test]
fn optimizer_steps_match_the_fixtures() {
    let files = fixture_files();
    let dev = Device::Cpu;
    let mut failures = Vec::new();
    for f in files {
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        let t: BTreeMap<String, Tensor> = candle_core::safetensors::load(&f, &dev)
            .unwrap()
            .into_iter()
            .collect();
        let mut params = Vec::new();
        for (key, expected) in t.iter().filter(|(k, _)| k.starts_with("optim.adam_atan2.")) {
            let pname = key.strip_prefix("optim.adam_atan2.").unwrap();
            let w = &t[&format!("weights.{pname}")];
            let g = t[&format!("train.grad.{pname}")].clone();
            params.push((
                pname.to_string(),
                Var::from_tensor(w).unwrap(),
                g,
                expected.clone(),
            ));
        }
        let mut opt = DenseOptimizer::new(OptimizerKind::AdamAtan2, 0.9, 0.95, 0.1);
        let list: Vec<_> = params
            .iter()
            .map(|(n, v, g, _)| (n.clone(), v.clone(), g.clone()))
            .collect();
        opt.step(1e-3, &list).unwrap();
        let mut worst = 0f64;
        for (n, v, _, expected) in &params {
            let e = rel_err(v.as_tensor(), expected);
            if e > worst {
                worst = e;
            }
            if e > 1e-6 {
                failures.push(format!("{name}: adam_atan2 {n} rel err {e:.3e}"));
            }
        }
        println!(
            "[{name}] optim.adam_atan2 worst rel err {worst:.3e} over {} tensors",
            params.len()
        );
        if let Some(expected) = t.get("optim.signsgd.puzzle_emb.weights") {
            let ids = sparse_optimizer_ids(&t);
            let out = signsgd_update(
                &t["weights.puzzle_emb.weights"],
                &ids,
                &t["train.grad.puzzle_emb.local_weights"],
                1e-2,
                0.1,
            )
            .unwrap();
            let e = rel_err(&out, expected);
            println!("[{name}] optim.signsgd rel err {e:.3e}");
            if e > 1e-6 {
                failures.push(format!("{name}: signsgd rel err {e:.3e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
