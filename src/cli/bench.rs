//! `trm-tui bench`: time one training supervision step (forward, backward, optimizer, EMA)
//! after warm-up, and one full solve of a single puzzle through all supervision steps, for a
//! preset (with `--set` overrides) on synthetic data of the preset's shape.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use color_eyre::eyre::{eyre, Result, WrapErr};

use crate::data::build::LoadedData;
use crate::data::dataset::single_example_split;
use crate::model::StepSolver;
use crate::train::engine::{Session, TrainData};
use crate::train::presets;
use crate::train::trainer::open_device;
use crate::util::Rng;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The preset whose model to time.
    #[arg(long, default_value = "sudoku-extreme-mlp")]
    pub preset: String,
    /// Override settings: `--set arch.hidden_size=128`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Batch size of the training step.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Timed training steps (after 1 warm-up step).
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[arg(long)]
    pub json: bool,
}

/// Synthetic data of the model's shape: `n` random examples, one per group.
fn synthetic(seq_len: usize, vocab: usize, n: usize, seed: u64) -> LoadedData {
    let mut rng = Rng::new(seed);
    let examples = (0..n)
        .map(|_| {
            let input = (0..seq_len)
                .map(|_| 1 + rng.below(vocab - 1) as i32)
                .collect();
            let label = (0..seq_len)
                .map(|_| 2 + rng.below(vocab.saturating_sub(2).max(1)) as i32)
                .collect();
            (input, label)
        })
        .collect::<Vec<_>>();
    let split = single_example_split(seq_len, vocab, examples);
    LoadedData {
        kind: None,
        identifiers: vec!["<blank>".into()],
        train: split.clone(),
        test: split,
    }
}

fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub fn run(args: BenchArgs) -> Result<()> {
    let mut cfg = presets::get(&args.preset).ok_or_else(|| {
        eyre!(
            "--preset: unknown preset `{}` (known: {})",
            args.preset,
            presets::names().join(", ")
        )
    })?;
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| eyre!("--set {kv}: expected KEY=VALUE"))?;
        cfg.set(k.trim(), v).wrap_err("--set")?;
    }
    cfg.global_batch_size = args.batch.max(1);
    cfg.micro_batch_size = 0;
    cfg.max_steps = (args.steps + 1) as u64;
    cfg.arch.num_puzzle_identifiers = cfg.arch.num_puzzle_identifiers.max(1);
    cfg.validate()?;
    let (device, notice) = open_device(&args.device)?;
    if let Some(n) = notice {
        eprintln!("{n}");
    }
    let data = synthetic(
        cfg.arch.seq_len,
        cfg.arch.vocab_size,
        cfg.global_batch_size * 4,
        1,
    );
    let mut session = Session::new(
        cfg.clone(),
        Arc::new(TrainData {
            loaded: data.clone(),
        }),
        &device,
    )?;
    session.train_step()?; // warm-up
    let t0 = Instant::now();
    for _ in 0..args.steps {
        session.train_step()?;
    }
    let step_s = t0.elapsed().as_secs_f64() / args.steps.max(1) as f64;
    let model = session.eval_model()?;
    let puzzle = &data.test.1.inputs[..cfg.arch.seq_len];
    // One warm-up solve step, then a full solve.
    StepSolver::new(&model, puzzle, 0, false)?.next_step()?;
    let t1 = Instant::now();
    let mut solver = StepSolver::new(&model, puzzle, 0, false)?;
    solver.run_all()?;
    let solve_s = t1.elapsed().as_secs_f64();
    let mut out = BTreeMap::new();
    out.insert("preset", serde_json::json!(args.preset));
    out.insert("parameters", serde_json::json!(cfg.arch.num_parameters()));
    out.insert("batch", serde_json::json!(cfg.global_batch_size));
    out.insert("device", serde_json::json!(args.device));
    out.insert(
        "threads",
        serde_json::json!(std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)),
    );
    out.insert("train_step_s", serde_json::json!(step_s));
    out.insert(
        "samples_per_s",
        serde_json::json!(cfg.global_batch_size as f64 / step_s),
    );
    out.insert("solve_s", serde_json::json!(solve_s));
    out.insert(
        "supervision_steps",
        serde_json::json!(cfg.arch.halt_max_steps),
    );
    out.insert("peak_rss_bytes", serde_json::json!(peak_rss()));
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "{} ({} params, batch {}, {}): train step {:.3} s ({:.2} samples/s); solve one puzzle ({} steps) {:.3} s; peak RSS {}",
            args.preset,
            cfg.arch.num_parameters(),
            cfg.global_batch_size,
            args.device,
            step_s,
            cfg.global_batch_size as f64 / step_s,
            cfg.arch.halt_max_steps,
            solve_s,
            peak_rss().map_or("n/a".into(), |b| format!("{} MiB", b >> 20))
        );
    }
    Ok(())
}
