//! Training-engine integration tests: the smoke preset learns; a run split by a resume is
//! bit-identical to an uninterrupted one; killing the process while checkpoints are written
//! leaves a loadable checkpoint; the headless CLI trains and evaluates and refuses bad input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use trm_tui::model::weights::{load_model, load_safetensors};
use trm_tui::train::api::read_metrics;
use trm_tui::train::trainer::{run_blocking, RunSpec};
use trm_tui::train::TrainerEvent;
use trm_tui::train::{presets, RunDir, Split, TrainConfig, TrainerState};
use trm_tui::util::atomic::{Fs, Writer};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trm-tui"))
}

fn smoke(steps: u64) -> TrainConfig {
    let mut c = presets::get("smoke").unwrap();
    c.max_steps = steps;
    c
}

fn latest_checkpoint(run: &Path) -> Option<PathBuf> {
    RunDir::new(run).latest_checkpoint()
}

fn train(cfg: TrainConfig, dir: &Path, resume: Option<PathBuf>) -> TrainerState {
    run_blocking(
        RunSpec {
            resume,
            ..RunSpec::new(cfg, RunDir::new(dir))
        },
        |_| {},
    )
    .unwrap()
}

#[test]
fn smoke_preset_learns() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = smoke(200);
    assert_eq!(train(cfg, dir.path(), None), TrainerState::Finished);
    let (records, errors) = read_metrics(&dir.path().join("metrics.jsonl")).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let losses: Vec<f64> = records
        .iter()
        .filter(|r| r.split == Split::Train)
        .filter_map(|r| r.get("lm_loss"))
        .collect();
    assert_eq!(losses.len(), 200);
    let first: f64 = losses[..20].iter().sum::<f64>() / 20.0;
    let last: f64 = losses[180..].iter().sum::<f64>() / 20.0;
    assert!(
        last < 0.75 * first,
        "lm_loss fell only from {first:.3} to {last:.3}"
    );
    let eval = records
        .iter()
        .rev()
        .find(|r| r.split == Split::Eval)
        .expect("an eval record");
    let acc = eval.get("accuracy").unwrap();
    // 4x4 Sudoku: 4 digits, chance is 0.25 per cell.
    assert!(
        acc > 0.45,
        "eval token accuracy {acc:.3} is not well above chance (0.25)"
    );
    // Files a TUI can open later.
    assert!(dir.path().join("config.toml").is_file());
    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    assert!(
        events.contains("\"start\"")
            && events.contains("\"finish\"")
            && events.contains("\"eval\"")
    );
    let ckpt = latest_checkpoint(dir.path()).unwrap();
    let (model, meta) = load_model(&ckpt, None, &Device::Cpu).unwrap();
    assert_eq!(meta["step"], "200");
    // The checkpoint records the forward dtype the run used (`auto` is float32 on the CPU).
    let mut arch = presets::get("smoke").unwrap().arch;
    arch.forward_dtype = trm_tui::model::ForwardDtype::Float32;
    assert_eq!(model.config, arch);
}

fn tensors(p: &Path) -> BTreeMap<String, Tensor> {
    load_safetensors(p, &Device::Cpu).unwrap().0
}

fn assert_same_tensors(a: &Path, b: &Path) {
    let (ta, tb) = (tensors(a), tensors(b));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (k, x) in &ta {
        let y = &tb[k];
        let xs: Vec<u8> = bytes(x);
        let ys: Vec<u8> = bytes(y);
        assert!(xs == ys, "tensor {k} differs");
    }
}

fn bytes(t: &Tensor) -> Vec<u8> {
    let t = t.flatten_all().unwrap();
    match t.dtype() {
        candle_core::DType::F32 => t
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        candle_core::DType::I64 => t
            .to_vec1::<i64>()
            .unwrap()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        d => panic!("unexpected dtype {d:?}"),
    }
}

/// Steps 1..N in one go, and 1..N/2 then a resume for N/2+1..N, give the same weights, EMA,
/// optimizer moments, ACT carry and training metrics, bit for bit.
#[test]
fn resume_is_bit_identical() {
    let n = 16;
    let mut cfg = smoke(n);
    cfg.eval_interval = 1000;
    cfg.data.train_count = 96;
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    train(cfg.clone(), a.path(), None);
    let mut half = cfg.clone();
    half.max_steps = n / 2;
    train(half, b.path(), None);
    let mid = latest_checkpoint(b.path()).unwrap();
    assert!(mid.ends_with(format!("step_{}.safetensors", n / 2)));
    train(cfg.clone(), b.path(), Some(mid));
    let (ca, cb) = (
        latest_checkpoint(a.path()).unwrap(),
        latest_checkpoint(b.path()).unwrap(),
    );
    assert!(
        ca.ends_with(format!("step_{n}.safetensors"))
            && cb.ends_with(format!("step_{n}.safetensors"))
    );
    assert_same_tensors(&ca, &cb);
    let strip = |dir: &Path| -> Vec<BTreeMap<String, Option<f64>>> {
        let (r, _) = read_metrics(&dir.join("metrics.jsonl")).unwrap();
        r.into_iter()
            .filter(|r| r.split == Split::Train)
            .map(|r| {
                let mut v = r.values.clone();
                // Wall-clock and machine figures differ between runs.
                v.retain(|k, _| !trm_tui::train::api::is_machine_metric(k));
                v.insert("step".into(), Some(r.step as f64));
                v.insert("epoch".into(), Some(r.epoch));
                v
            })
            .collect()
    };
    assert_eq!(strip(a.path()), strip(b.path()));
}

/// Kill the training process (SIGKILL) while it writes a checkpoint every step: whatever
/// `checkpoints/latest` names afterwards is intact, loads, and resumes.
#[test]
fn killing_during_checkpoint_writes_keeps_a_loadable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut child = bin()
        .args([
            "train",
            "--preset",
            "smoke",
            "--steps",
            "100000",
            "--set",
            "checkpoint_every=1",
            "--set",
            "keep_last=2",
            "--set",
            "eval_interval=100000",
        ])
        .arg("--run-dir")
        .arg(&run)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    // Wait until a few checkpoints exist, then kill at once (very likely mid-write).
    loop {
        let n = std::fs::read_dir(run.join("checkpoints"))
            .map(|d| d.count())
            .unwrap_or(0);
        if n >= 3 || t0.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(37));
    child.kill().unwrap();
    child.wait().unwrap();
    let latest = latest_checkpoint(&run).expect("a latest checkpoint survives");
    load_model(&latest, None, &Device::Cpu).expect("latest checkpoint loads");
    let cfg =
        TrainConfig::from_toml_str(&std::fs::read_to_string(run.join("config.toml")).unwrap())
            .unwrap();
    let mut more = cfg.clone();
    let step: u64 = latest
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_start_matches("step_")
        .trim_end_matches(".safetensors")
        .parse()
        .unwrap();
    more.max_steps = step + 1;
    more.checkpoint_every = 0;
    assert_eq!(train(more, &run, Some(latest)), TrainerState::Finished);
}

#[test]
fn cli_trains_then_evaluates_and_refuses_bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = bin()
        .args(["train", "--preset", "smoke", "--steps", "50", "--run-dir"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ckpt = latest_checkpoint(&run).unwrap();
    let out = bin()
        .args(["eval", "--json", "--checkpoint"])
        .arg(&ckpt)
        .arg("--data")
        .arg(run.join("data/test.csv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: BTreeMap<String, Option<f64>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["count"], Some(64.0));
    assert!(m["accuracy"].unwrap() > 0.0);
    // Without --data, a checkpoint of a run folder is evaluated on the run's own test split
    // (here the same 64 generated puzzles), and eval says so.
    let out = bin()
        .args(["eval", "--json", "--checkpoint"])
        .arg(&ckpt)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("no --data: evaluating on the test split of the run"),
        "{err}"
    );
    let own: BTreeMap<String, Option<f64>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(own["count"], m["count"]);
    assert_eq!(own["exact_accuracy"], m["exact_accuracy"]);

    let fails = |args: &[&str], needle: &str| {
        let out = bin().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected `{needle}` in: {err}"
        );
    };
    let r2 = dir.path().join("r2");
    let r2s = r2.to_str().unwrap();
    fails(
        &[
            "train",
            "--preset",
            "smoke",
            "--set",
            "bogus=1",
            "--run-dir",
            r2s,
        ],
        "bogus",
    );
    fails(
        &[
            "train",
            "--preset",
            "smoke",
            "--set",
            "lr=fast",
            "--run-dir",
            r2s,
        ],
        "expected a number",
    );
    fails(
        &["train", "--preset", "nope", "--run-dir", r2s],
        "unknown preset",
    );
    // A fresh run never writes into a finished run's folder: its metrics and checkpoints stay.
    let metrics_before = std::fs::read(run.join("metrics.jsonl")).unwrap();
    fails(
        &[
            "train",
            "--preset",
            "smoke",
            "--steps",
            "5",
            "--run-dir",
            run.to_str().unwrap(),
        ],
        "already holds a run",
    );
    assert_eq!(
        std::fs::read(run.join("metrics.jsonl")).unwrap(),
        metrics_before
    );
    assert_eq!(latest_checkpoint(&run).unwrap(), ckpt);
    // A checkpoint outside a run folder has no split of its own: --data is needed.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("checkpoints/sudoku6-cpu.safetensors");
    fails(
        &["eval", "--checkpoint", shipped.to_str().unwrap()],
        "give --data",
    );
    fails(
        &[
            "train",
            "--preset",
            "smoke",
            "--set",
            "arch.num_heads=7",
            "--run-dir",
            r2s,
        ],
        "divisible by num_heads",
    );
    // Data of another kind than the model expects: a 9x9 Sudoku file for a 4x4 model.
    let sudoku9 = Path::new(env!("CARGO_MANIFEST_DIR")).join("puzzles/sudoku-9x9-easy.csv");
    fails(
        &[
            "train",
            "--preset",
            "smoke",
            "--steps",
            "5",
            "--run-dir",
            r2s,
            "--data",
            sudoku9.to_str().unwrap(),
        ],
        "seq_len",
    );
    // Resuming with another architecture.
    fails(
        &[
            "train",
            "--preset",
            "smoke",
            "--set",
            "arch.hidden_size=64",
            "--steps",
            "60",
            "--run-dir",
            run.to_str().unwrap(),
            "--resume",
            "latest",
        ],
        "arch.hidden_size",
    );
    fails(
        &[
            "eval",
            "--checkpoint",
            ckpt.to_str().unwrap(),
            "--data",
            sudoku9.to_str().unwrap(),
        ],
        "does not fit the model",
    );
}

/// ARC data goes through the voting evaluator at every eval: `ARC/pass@K` in the metrics.
#[test]
fn arc_runs_report_pass_at_k() {
    let dir = tempfile::tempdir().unwrap();
    let tasks = r#"{
      "t1": {"train": [{"input": [[1,2],[3,4]], "output": [[4,3],[2,1]]}, {"input": [[5,6],[7,8]], "output": [[8,7],[6,5]]}],
             "test": [{"input": [[1,1],[2,3]], "output": [[3,2],[1,1]]}]},
      "t2": {"train": [{"input": [[0,1,0]], "output": [[1,0,1]]}, {"input": [[1,1,0]], "output": [[0,0,1]]}],
             "test": [{"input": [[0,0,1]], "output": [[1,1,0]]}]}
    }"#;
    let file = dir.path().join("tiny.json");
    std::fs::write(&file, tasks).unwrap();
    let mut cfg = smoke(2);
    cfg.data.path = file.display().to_string();
    cfg.data.augmentations = 2;
    cfg.arch.seq_len = 900;
    cfg.arch.vocab_size = 12;
    cfg.arch.hidden_size = 16;
    cfg.arch.num_heads = 2;
    cfg.arch.puzzle_emb_ndim = 16;
    cfg.global_batch_size = 4;
    cfg.eval_interval = 2;
    let run = dir.path().join("run");
    assert_eq!(train(cfg, &run, None), TrainerState::Finished);
    let (records, _) = read_metrics(&run.join("metrics.jsonl")).unwrap();
    let eval = records
        .iter()
        .find(|r| r.split == Split::Eval)
        .expect("an eval record");
    for k in [1, 2, 5, 10, 100, 1000] {
        let v = eval
            .get(&format!("ARC/pass@{k}"))
            .unwrap_or_else(|| panic!("ARC/pass@{k} missing"));
        assert!((0.0..=1.0).contains(&v));
    }
}

/// Gradient accumulation over micro-batches is the same optimisation as the whole batch at
/// once (up to float summation order): each micro-batch keeps its own slots of the carry.
#[test]
fn micro_batches_match_the_full_batch() {
    use std::sync::Arc;
    use trm_tui::train::engine::Session;
    use trm_tui::train::source::load_train_data;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = smoke(3);
    cfg.data.train_count = 64;
    cfg.data.test_count = 8;
    let data = Arc::new(load_train_data(&cfg.data, dir.path()).unwrap());
    let mut whole = Session::new(cfg.clone(), Arc::clone(&data), &Device::Cpu).unwrap();
    let mut micro_cfg = cfg.clone();
    micro_cfg.micro_batch_size = 8;
    let mut micro = Session::new(micro_cfg, data, &Device::Cpu).unwrap();
    for _ in 0..3 {
        let a = whole.train_step().unwrap();
        let b = micro.train_step().unwrap();
        let (la, lb) = (a.metrics["lm_loss"].unwrap(), b.metrics["lm_loss"].unwrap());
        assert!((la - lb).abs() < 1e-5 * la.abs(), "lm_loss {la} vs {lb}");
    }
    for ((n, va), (_, vb)) in whole.model.params().iter().zip(micro.model.params()) {
        let d = (va.as_tensor() - vb.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-4, "{n} differs by {d}");
    }
}

/// Fails as a full disk does from the `ok`-th file on (after writing half of it), and lets the
/// files before it through.
#[derive(Debug)]
struct DiskFillsUp {
    ok: usize,
    calls: AtomicUsize,
}

impl Writer for DiskFillsUp {
    fn write_file(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.ok {
            return Fs.write_file(path, bytes);
        }
        std::fs::write(path, &bytes[..bytes.len() / 2])?;
        Err(std::io::Error::from_raw_os_error(28)) // ENOSPC
    }
}

/// Train `cfg` in `dir` on a disk that fills after `ok` writes; returns the run's error (it
/// must fail) and every event it sent.
fn run_until_the_disk_fills(
    cfg: TrainConfig,
    dir: &Path,
    ok: usize,
) -> (String, Vec<TrainerEvent>) {
    let writer = Arc::new(DiskFillsUp {
        ok,
        calls: AtomicUsize::new(0),
    });
    let mut events = Vec::new();
    let result = run_blocking(
        RunSpec {
            writer,
            ..RunSpec::new(cfg, RunDir::new(dir))
        },
        |e| events.push(e.clone()),
    );
    (format!("{:#}", result.unwrap_err()), events)
}

/// The trainer states among `events`, in order.
fn states(events: &[TrainerEvent]) -> Vec<&TrainerState> {
    events
        .iter()
        .filter_map(|e| match e {
            TrainerEvent::State(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[test]
fn a_full_disk_during_a_checkpoint_keeps_the_previous_one_and_says_so_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = smoke(30);
    cfg.checkpoint_every = 10;
    cfg.eval_interval = 1000;
    // Step 10: the checkpoint and the `latest` pointer go through; step 20's checkpoint fails.
    let (err, events) = run_until_the_disk_fills(cfg, dir.path(), 2);
    assert!(
        err.contains("step_20.safetensors")
            && err.contains("the disk is full")
            && err.contains("bytes needed")
            && err.contains("previous file is kept"),
        "{err}"
    );
    // Said once: as the Failed state, never also as a log line.
    let failed = states(&events)
        .into_iter()
        .filter(|s| matches!(s, TrainerState::Failed(_)))
        .count();
    assert_eq!(failed, 1, "{events:?}");
    assert!(
        !events.iter().any(|e| matches!(e,
            TrainerEvent::Log { message, .. } if message.contains("disk is full"))),
        "{events:?}"
    );
    let run = RunDir::new(dir.path());
    let errors = std::fs::read_to_string(run.events_path())
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"error\""))
        .count();
    assert_eq!(errors, 1);
    // The previous checkpoint is still `latest`, loads, and no temporary file is left.
    let latest = run.latest_checkpoint().expect("latest survives");
    assert_eq!(latest, run.checkpoints_dir().join("step_10.safetensors"));
    let (_, meta) = load_model(&latest, None, &Device::Cpu).unwrap();
    assert_eq!(meta["step"], "10");
    let left: Vec<String> = std::fs::read_dir(run.checkpoints_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        left.iter().all(|n| !n.ends_with(".tmp")) && !left.contains(&"step_20.safetensors".into()),
        "{left:?}"
    );
}

#[test]
fn a_failed_final_checkpoint_fails_the_run_without_reporting_it_finished() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = smoke(10);
    cfg.checkpoint_every = 0;
    cfg.eval_interval = 1000;
    // The last evaluation writes `best`; the final step checkpoint after it fails.
    let (err, events) = run_until_the_disk_fills(cfg, dir.path(), 1);
    let states = states(&events);
    assert!(err.contains("step_10.safetensors"), "{err}");
    assert!(!states.contains(&&TrainerState::Finished), "{states:?}");
    assert!(
        matches!(states.last(), Some(TrainerState::Failed(_))),
        "{states:?}"
    );
    let run = RunDir::new(dir.path());
    let events = std::fs::read_to_string(run.events_path()).unwrap();
    assert!(!events.contains("\"finish\""), "{events}");
    assert_eq!(events.matches("\"error\"").count(), 1, "{events}");
    assert!(run.best_path().is_file());
    assert_eq!(run.latest_checkpoint(), None);
}
