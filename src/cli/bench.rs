//! `trm-tui bench`: time one training supervision step (forward, backward, optimizer, EMA)
//! after warm-up, and one full solve of a single puzzle through all supervision steps, for a
//! preset (with `--set` overrides) on synthetic data of the preset's shape, on the CPU or a
//! CUDA device; reports throughput and peak memory (resident memory, and on a GPU the device
//! memory sampled every 50 ms while it runs). With `--nproc N` it times the data-parallel
//! training step with 1, 2, ..., N ranks (the local engine, MPI with `--engine mpi`, NCCL
//! with `--engine nccl`) and prints the throughput scaling.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use color_eyre::eyre::{eyre, Result, WrapErr};

use crate::data::build::LoadedData;
use crate::data::dataset::single_example_split;
use crate::model::StepSolver;
use crate::telemetry::{peak_rss_bytes, Snapshot, Telemetry};
use crate::train::device::{device_label, dtype_name, open_device_for_rank, resolve_forward_dtype};
use crate::train::engine::{Session, TrainData};
use crate::train::presets;
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
    /// `cpu`, `auto` (the first CUDA device if one opens, else the CPU) or `cuda:N`.
    #[arg(long, default_value = "cpu", value_name = "auto|cpu|cuda:N")]
    pub device: String,
    #[arg(long)]
    pub json: bool,
    /// Data-parallel scaling: time the training step (of the same global batch) with 1, 2,
    /// ..., N ranks on this machine.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub nproc: usize,
    /// The engine of the scaling runs: `local` (`train --nproc`), `mpi` (`mpirun`) or `nccl`
    /// (`train --nproc` with NCCL; one GPU per rank with `--device auto` or `cuda`).
    #[arg(long, default_value = "local", value_name = "local|mpi|nccl")]
    pub engine: String,
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

/// The highest device memory seen while the bench ran (this process's where NVML reports it,
/// else the whole device's), and the last GPU reading.
#[derive(Debug, Default)]
struct GpuPeak {
    process_bytes: Option<u64>,
    device_used_bytes: Option<u64>,
    last: Option<Snapshot>,
}

impl GpuPeak {
    fn add(&mut self, s: Snapshot) {
        if let Some(g) = &s.gpu {
            let max = |a: Option<u64>, b: Option<u64>| match (a, b) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            self.process_bytes = max(self.process_bytes, g.process_memory_bytes);
            self.device_used_bytes = max(self.device_used_bytes, g.memory_used_bytes);
        }
        self.last = Some(s);
    }
}

/// Sample the GPU every 50 ms on a thread until dropped (nothing to do on the CPU, where the
/// kernel keeps the resident high-water mark).
struct GpuSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<Mutex<GpuPeak>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GpuSampler {
    fn start(mut telemetry: Telemetry, on_gpu: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(Mutex::new(GpuPeak::default()));
        let thread = on_gpu.then(|| {
            let (stop, peak) = (Arc::clone(&stop), Arc::clone(&peak));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let s = telemetry.sample();
                    if let Ok(mut p) = peak.lock() {
                        p.add(s);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        });
        Self { stop, peak, thread }
    }

    fn finish(mut self) -> GpuPeak {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }
}

fn mib(b: Option<u64>) -> String {
    b.map_or("n/a".into(), |b| format!("{} MiB", b >> 20))
}

/// The benchmark's arguments for one child run of the scaling table.
fn child_args(args: &BenchArgs) -> Vec<String> {
    let mut v = vec![
        "bench".to_string(),
        "--preset".into(),
        args.preset.clone(),
        "--batch".into(),
        args.batch.to_string(),
        "--steps".into(),
        args.steps.to_string(),
        "--device".into(),
        args.device.clone(),
        "--json".into(),
    ];
    for kv in &args.set {
        v.push("--set".into());
        v.push(kv.clone());
    }
    v
}

/// `bench --nproc N`: one child run per world size, each writing its figures to a file.
fn run_scaling(args: &BenchArgs) -> Result<()> {
    if !["local", "mpi", "nccl"].contains(&args.engine.as_str()) {
        color_eyre::eyre::bail!("--engine {}: expected local, mpi or nccl", args.engine);
    }
    if args.engine == "mpi" && !crate::dist::engines().contains(&"mpi") {
        color_eyre::eyre::bail!(
            "--engine mpi: this build has no MPI engine (build with --features mpi)"
        );
    }
    if args.engine == "nccl" && !crate::dist::engines().contains(&"nccl") {
        color_eyre::eyre::bail!(
            "--engine nccl: this build has no NCCL engine (scripts/build-cuda.sh --nccl builds one)"
        );
    }
    let exe = std::env::current_exe().wrap_err("cannot find this program")?;
    let dir = tempfile_dir()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The user's thread setting, shared out per world size below.
    let user_threads = std::env::var("RAYON_NUM_THREADS").ok();
    let mut rows: Vec<(usize, String, f64, f64)> = Vec::new();
    for n in 1..=args.nproc {
        if !args.batch.is_multiple_of(n) {
            eprintln!("{n} ranks: skipped (batch {} does not split)", args.batch);
            continue;
        }
        let out = dir.join(format!("ranks-{n}.json"));
        let threads = crate::dist::launch::threads_per_rank(n, user_threads.as_deref());
        let status = if n == 1 || args.engine == "mpi" {
            let mut cmd = if n == 1 {
                std::process::Command::new(&exe)
            } else {
                let mut c = std::process::Command::new("mpirun");
                c.args(["--oversubscribe", "-np", &n.to_string()]).arg(&exe);
                c
            };
            cmd.args(child_args(args))
                .env("TRM_BENCH_OUT", &out)
                .env("RAYON_NUM_THREADS", &threads)
                .stdout(std::process::Stdio::null())
                .status()
                .wrap_err_with(|| format!("cannot start the {n}-rank bench"))?
                .success()
        } else {
            let argv: Vec<std::ffi::OsString> =
                child_args(args).into_iter().map(Into::into).collect();
            let env = [
                ("TRM_BENCH_OUT", out.as_os_str()),
                ("RAYON_NUM_THREADS", std::ffi::OsStr::new(&threads)),
                ("TRM_DIST_ENGINE", std::ffi::OsStr::new(&args.engine)),
            ];
            let job =
                crate::dist::launch::run_local(&exe.clone().into_os_string(), &argv, n, &env)?;
            if let Some(f) = &job.failure {
                eprintln!("{n} ranks: {f}");
            }
            job.failure.is_none()
        };
        if !status {
            color_eyre::eyre::bail!("the {n}-rank bench failed");
        }
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&out).wrap_err_with(|| format!("{}", out.display()))?,
        )?;
        let sps = v["samples_per_s"].as_f64().unwrap_or(0.0);
        let step = v["train_step_s"].as_f64().unwrap_or(0.0);
        rows.push((n, threads, step, sps));
    }
    let base = rows.first().map_or(1.0, |r| r.3.max(1e-12));
    if args.json {
        let j: Vec<_> = rows
            .iter()
            .map(|(n, threads, step, sps)| {
                serde_json::json!({"ranks": n, "engine": if *n == 1 { "single" } else { args.engine.as_str() },
                    "threads_per_rank": threads, "train_step_s": step, "samples_per_s": sps,
                    "speedup": sps / base})
            })
            .collect();
        println!("{}", serde_json::to_string(&j)?);
    } else {
        println!(
            "{} (batch {} per step, {}): data-parallel scaling on {cores} cores",
            args.preset, args.batch, args.device
        );
        println!("ranks  engine  threads/rank  step s   samples/s  speed-up  efficiency");
        for (n, threads, step, sps) in &rows {
            println!(
                "{n:>5}  {:<6}  {threads:>12}  {step:>6.3}  {sps:>10.2}  {:>7.2}x  {:>9.0}%",
                if *n == 1 {
                    "single"
                } else {
                    args.engine.as_str()
                },
                sps / base,
                100.0 * sps / base / *n as f64
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("trm-tui-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).wrap_err_with(|| format!("{}: cannot create", d.display()))?;
    Ok(d)
}

pub fn run(args: BenchArgs) -> Result<()> {
    if args.nproc == 0 {
        color_eyre::eyre::bail!("--nproc 0: expected at least 1 rank");
    }
    if args.nproc > 1 {
        if crate::dist::env()?.is_some() {
            color_eyre::eyre::bail!("--nproc inside a launched job: leave it out");
        }
        return run_scaling(&args);
    }
    let comm = crate::dist::from_env()?;
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
    let (device, notice) = open_device_for_rank(&args.device, comm.local_rank())?;
    if let Some(n) = notice {
        eprintln!("{n}");
    }
    let device_name = device_label(&device);
    cfg.arch.forward_dtype = resolve_forward_dtype(cfg.arch.forward_dtype, &device);
    let telemetry = Telemetry::for_device(&device);
    if let Some(note) = telemetry.gpu_note() {
        eprintln!("GPU telemetry on {device_name}: {note}");
    }
    let sampler = GpuSampler::start(telemetry, device.is_cuda());
    let data = synthetic(
        cfg.arch.seq_len,
        cfg.arch.vocab_size,
        cfg.global_batch_size * 4,
        1,
    );
    let mut session = Session::new_with(
        cfg.clone(),
        Arc::new(TrainData {
            loaded: data.clone(),
        }),
        &device,
        Arc::clone(&comm),
    )?;
    session.train_step()?; // warm-up
                           // GPU work is queued: wait for it at both ends of the timed steps (a no-op on the CPU).
    device.synchronize()?;
    let t0 = Instant::now();
    for _ in 0..args.steps {
        session.train_step()?;
    }
    device.synchronize()?;
    let step_s = t0.elapsed().as_secs_f64() / args.steps.max(1) as f64;
    if comm.world() > 1 {
        // A rank of a scaling run: the training step is what scales; rank 0 reports it.
        if comm.rank() == 0 {
            let j = serde_json::json!({
                "ranks": comm.world(), "engine": comm.engine(), "batch": cfg.global_batch_size,
                "train_step_s": step_s, "samples_per_s": cfg.global_batch_size as f64 / step_s,
            });
            write_result(&j)?;
        }
        return Ok(());
    }
    let model = session.eval_model()?;
    let puzzle = &data.test.1.inputs[..cfg.arch.seq_len];
    // One warm-up solve step, then a full solve.
    StepSolver::new(&model, puzzle, 0, false)?.next_step()?;
    let t1 = Instant::now();
    let mut solver = StepSolver::new(&model, puzzle, 0, false)?;
    solver.run_all()?;
    device.synchronize()?;
    let solve_s = t1.elapsed().as_secs_f64();
    let gpu = sampler.finish();
    let peak_rss = peak_rss_bytes();
    let mut out = BTreeMap::new();
    out.insert("preset", serde_json::json!(args.preset));
    out.insert("parameters", serde_json::json!(cfg.arch.num_parameters()));
    out.insert("batch", serde_json::json!(cfg.global_batch_size));
    out.insert("device", serde_json::json!(device_name));
    out.insert(
        "forward_dtype",
        serde_json::json!(dtype_name(cfg.arch.forward_dtype)),
    );
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
    out.insert("peak_rss_bytes", serde_json::json!(peak_rss));
    let gpu_last = gpu.last.as_ref().and_then(|s| s.gpu.clone());
    if device.is_cuda() {
        out.insert(
            "peak_gpu_process_memory_bytes",
            serde_json::json!(gpu.process_bytes),
        );
        out.insert(
            "peak_gpu_memory_used_bytes",
            serde_json::json!(gpu.device_used_bytes),
        );
        out.insert("gpu", serde_json::json!(gpu_last));
    }
    if std::env::var_os("TRM_BENCH_OUT").is_some() {
        write_result(&serde_json::to_value(&out)?)?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        let gpu_text = if device.is_cuda() {
            format!(
                "; peak device memory {} (this process), {} (whole device){}",
                mib(gpu.process_bytes),
                mib(gpu.device_used_bytes),
                gpu_last
                    .as_ref()
                    .and_then(|g| g.name.as_ref())
                    .map_or(String::new(), |n| format!(" on {n}"))
            )
        } else {
            String::new()
        };
        println!(
            "{} ({} params, batch {}, {}, {}): train step {:.3} s ({:.2} samples/s); solve one puzzle ({} steps) {:.3} s; peak RSS {}{gpu_text}",
            args.preset,
            cfg.arch.num_parameters(),
            cfg.global_batch_size,
            device_name,
            dtype_name(cfg.arch.forward_dtype),
            step_s,
            cfg.global_batch_size as f64 / step_s,
            cfg.arch.halt_max_steps,
            solve_s,
            mib(peak_rss)
        );
    }
    Ok(())
}

/// A scaling run's figures: into `TRM_BENCH_OUT` when the parent asked for them, else on
/// stdout.
fn write_result(v: &serde_json::Value) -> Result<()> {
    match std::env::var_os("TRM_BENCH_OUT") {
        Some(p) => std::fs::write(&p, serde_json::to_string(v)?)
            .wrap_err_with(|| format!("{}: cannot write", p.to_string_lossy())),
        None => {
            println!("{}", serde_json::to_string(v)?);
            Ok(())
        }
    }
}
