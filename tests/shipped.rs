//! The shipped checkpoints reproduce their model cards' held-out figures.

use std::collections::BTreeMap;
use std::process::Command;

#[test]
fn sudoku4_checkpoint_reproduces_its_model_card() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(env!("CARGO_BIN_EXE_trm-tui"))
        .args(["eval", "--json", "--checkpoint"])
        .arg(format!("{root}/checkpoints/sudoku4-cpu.safetensors"))
        .arg("--data")
        .arg(format!("{root}/puzzles/sudoku-4x4-heldout.csv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: BTreeMap<String, Option<f64>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["count"], Some(200.0));
    // Model card: exact 0.910, token 0.978 (one puzzle is 0.005 of exact accuracy).
    let exact = m["exact_accuracy"].unwrap();
    let token = m["accuracy"].unwrap();
    assert!((exact - 0.910).abs() < 0.011, "exact accuracy {exact}");
    assert!((token - 0.978).abs() < 0.005, "token accuracy {token}");
}
