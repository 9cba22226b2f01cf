//! `--device` and the forward dtype through the binary, on whatever this machine has (the CPU
//! here): `auto` falls back to the CPU with a notice, `cuda:N` fails naming the device, a
//! bfloat16 forward works on the CPU, and runs record the resolved dtype and the telemetry.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_trm-tui");
const CUDA_BUILT: bool = cfg!(feature = "cuda");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("TRM_RUNS_DIR", std::env::temp_dir())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `train --preset smoke` for `steps` steps on `device` into `run_dir`, with `--set` for each
/// of `sets`.
fn train_smoke(run_dir: &Path, steps: &str, device: &str, sets: &[&str]) -> Output {
    let mut args = vec![
        "train", "--preset", "smoke", "--steps", steps, "--device", device,
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    args.extend(["--run-dir", run_dir.to_str().unwrap()]);
    run(&args)
}

/// The records of a run's `metrics.jsonl`.
fn metric_records(run_dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn bench_json(extra: &[&str]) -> (serde_json::Value, String) {
    let mut args = vec![
        "bench", "--preset", "smoke", "--batch", "4", "--steps", "1", "--json",
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "bench {extra:?} failed: {stderr}");
    let json = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    (json, stderr)
}

#[test]
fn bench_runs_a_bfloat16_forward_on_the_cpu() {
    let (j, _) = bench_json(&["--device", "cpu", "--set", "arch.forward_dtype=bfloat16"]);
    assert_eq!(j["device"], "cpu");
    assert_eq!(j["forward_dtype"], "bfloat16");
    assert!(j["samples_per_s"].as_f64().unwrap() > 0.0, "{j}");
    assert!(j["solve_s"].as_f64().unwrap() > 0.0, "{j}");
    assert!(j["peak_rss_bytes"].as_u64().unwrap() > 0, "{j}");
    // The default (`auto`) is float32 on the CPU.
    let (j, _) = bench_json(&["--device", "cpu"]);
    assert_eq!(j["forward_dtype"], "float32");
}

#[test]
fn auto_falls_back_to_the_cpu_with_a_notice() {
    if CUDA_BUILT {
        return; // a CUDA build may have a GPU: nothing to assert about the fallback
    }
    let (j, stderr) = bench_json(&["--device", "auto"]);
    assert_eq!(j["device"], "cpu");
    assert!(
        stderr.contains("device auto:") && stderr.contains("using the CPU"),
        "{stderr}"
    );
}

#[test]
fn an_unavailable_cuda_device_is_a_clear_error() {
    if CUDA_BUILT {
        return;
    }
    let out = run(&["bench", "--preset", "smoke", "--device", "cuda:1"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("device cuda:1"), "{stderr}");
    assert!(stderr.contains("without the `cuda` feature"), "{stderr}");
    assert!(stderr.contains("scripts/build-cuda.sh"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("none.safetensors");
    let out = run(&[
        "eval",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--data",
        "puzzles/sudoku-4x4-easy.csv",
        "--device",
        "cuda:0",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("device cuda:0"), "{stderr}");

    // A run that cannot have its device fails before making its folder.
    let run_dir = dir.path().join("run");
    let out = run(&[
        "train",
        "--preset",
        "smoke",
        "--device",
        "cuda:0",
        "--run-dir",
        run_dir.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("device cuda:0"), "{stderr}");
    assert!(
        !run_dir.exists(),
        "no run folder for a run that cannot start"
    );

    let out = run(&["train", "--preset", "smoke", "--device", "gpu"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("device") && stderr.contains("`gpu`"),
        "{stderr}"
    );
}

#[test]
fn a_run_records_the_resolved_dtype_device_and_telemetry() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let out = train_smoke(&run_dir, "10", "auto", &["eval_interval=10"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    let expected = if CUDA_BUILT {
        ""
    } else {
        "forward_dtype = \"float32\""
    };
    assert!(config.contains(expected), "{config}");
    assert!(!config.contains("forward_dtype = \"auto\""), "{config}");

    let records = metric_records(&run_dir);
    let train: Vec<&serde_json::Value> = records.iter().filter(|v| v["split"] == "train").collect();
    assert_eq!(train.len(), 10);
    for r in &train {
        assert!(r["lm_loss"].as_f64().unwrap().is_finite(), "{r}");
        assert!(r["memory_bytes"].as_f64().unwrap() > 0.0, "{r}");
        if !CUDA_BUILT {
            assert!(
                r.get("gpu_util_percent").is_none(),
                "no GPU figures on the CPU: {r}"
            );
        }
    }
    // CPU use is measured once a window has passed (the first record may come too soon).
    assert!(
        train
            .iter()
            .any(|r| r["cpu_percent"].as_f64().is_some_and(|c| c >= 0.0)),
        "{train:?}"
    );
}

#[test]
fn a_bfloat16_run_trains_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let sets = ["arch.forward_dtype=bfloat16", "eval_interval=4"];
    let out = train_smoke(&run_dir, "4", "cpu", &sets);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    assert!(config.contains("forward_dtype = \"bfloat16\""), "{config}");
    let records = metric_records(&run_dir);
    let last_eval = records.iter().rfind(|v| v["split"] == "eval").unwrap();
    assert!(
        last_eval["lm_loss"].as_f64().unwrap().is_finite(),
        "{last_eval}"
    );
}
