//! `trm-tui train` and `trm-tui eval`: headless training with a progress bar (or plain log
//! lines when stderr is not a terminal), graceful Ctrl-C, and evaluation of a checkpoint.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{bail, eyre, Result, WrapErr};

use super::RunFailure;
use crate::data::build::{load_source, SourceOptions};
use crate::data::dataset::{single_example_split, Dataset, DatasetMetadata};
use crate::data::PuzzleKind;
use crate::model::weights::load_model;
use crate::train::device::{device_label, dtype_name, resolve_forward_dtype};
use crate::train::engine::evaluate_model;
use crate::train::run_dir::{new_run_id, runs_root, CheckpointMeta, RunDir};
use crate::train::trainer::{open_device, spawn, RunSpec};
use crate::train::{presets, Level, Split, TrainCommand, TrainConfig, TrainerEvent, TrainerState};

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// A named preset (see `trm-tui presets`).
    #[arg(long, conflicts_with = "config")]
    pub preset: Option<String>,
    /// A config file (TOML; the `config.toml` of any run works).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override settings: `--set arch.L_cycles=4 --set lr=3e-4`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Data: a built dataset folder or a puzzle file (sets `data.path`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Stop after this many optimizer steps (sets `max_steps`).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Continue from `latest` (of --run-dir) or from a checkpoint file.
    #[arg(long)]
    pub resume: Option<String>,
    /// The run folder (default `runs/<time>-<preset>`).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// `cpu`, `auto` (the first CUDA device if one opens, else the CPU) or `cuda:N`; sets
    /// `device`.
    #[arg(long, value_name = "auto|cpu|cuda:N")]
    pub device: Option<String>,
    /// Data-parallel training on this machine: start this many ranks (processes joined by
    /// the local engine), each with 1/N of every global batch. Under torchrun, srun or
    /// mpirun, leave it out: the launcher's environment says the rank and world size.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub nproc: usize,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// A checkpoint or weights file written by trm-tui (EMA weights are used when present).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// A built dataset folder (its test split) or a puzzle file (every puzzle with a label).
    /// Without it, a checkpoint of a run folder (`<run>/checkpoints/`) is evaluated on that
    /// run's own test split.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Evaluate at most this many examples.
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Examples per batch.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// `cpu`, `auto` (the first CUDA device if one opens, else the CPU) or `cuda:N`.
    #[arg(long, default_value = "cpu", value_name = "auto|cpu|cuda:N")]
    pub device: String,
    /// Print the metrics as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Evaluate a freshly initialised model (this seed) with the checkpoint's architecture
    /// instead of its weights: the untrained baseline a model card compares against.
    #[arg(long, value_name = "SEED")]
    pub untrained: Option<u64>,
    /// Test-time compute: steps, halting, noisy samples, aug-vote (docs/test-time.md).
    #[command(flatten)]
    pub test_time: super::solve::TestTimeArgs,
}

/// Resolve the config of a `train` invocation.
pub fn resolve_config(args: &TrainArgs) -> Result<(TrainConfig, String)> {
    let (mut cfg, label) = match (&args.preset, &args.config) {
        (Some(p), _) => (
            presets::get(p).ok_or_else(|| {
                eyre!(
                    "--preset: unknown preset `{p}` (known: {})",
                    presets::names().join(", ")
                )
            })?,
            p.clone(),
        ),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .wrap_err_with(|| format!("{}: cannot read", path.display()))?;
            let cfg = TrainConfig::from_toml_str(&text)
                .wrap_err_with(|| format!("{}: bad config", path.display()))?;
            let label = path
                .file_stem()
                .map_or("run".into(), |s| s.to_string_lossy().to_string());
            (cfg, label)
        }
        (None, None) => match (&args.resume, &args.run_dir) {
            (Some(_), Some(dir)) => (
                RunDir::new(dir)
                    .read_config()
                    .wrap_err("give --preset or --config, or a --run-dir with its config")?,
                "resume".into(),
            ),
            _ => bail!(
                "give --preset NAME or --config FILE (presets: {})",
                presets::names().join(", ")
            ),
        },
    };
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| eyre!("--set {kv}: expected KEY=VALUE"))?;
        cfg.set(k.trim(), v).wrap_err("--set")?;
    }
    if let Some(d) = &args.data {
        cfg.data.path = d.display().to_string();
    } else if let Some(p) = &args.preset {
        // A paper preset's dataset: `data/<dataset>` here, else where `data build --preset` put it.
        presets::locate_data(p, &mut cfg).map_err(|m| eyre!(m))?;
    }
    if let Some(s) = args.steps {
        cfg.max_steps = s;
    }
    if let Some(d) = &args.device {
        cfg.device = d.clone();
    }
    cfg.validate()?;
    Ok((cfg, label))
}

/// `--nproc N`: start N ranks of this command (without `--nproc`, with one run folder for
/// all) and supervise them.
fn launch_local(args: &TrainArgs) -> Result<()> {
    if crate::dist::env()?.is_some() {
        bail!("--nproc {}: this process is already a rank of a launched job (RANK/WORLD_SIZE are set); leave --nproc out under torchrun, srun or mpirun", args.nproc);
    }
    let (cfg, label) = resolve_config(args)?;
    crate::train::engine::split_for_ranks(cfg, args.nproc).wrap_err("--nproc")?;
    let mut argv: Vec<std::ffi::OsString> = Vec::new();
    let mut it = std::env::args_os().skip(1).peekable();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--nproc" {
            it.next();
        } else if !s.starts_with("--nproc=") {
            argv.push(a);
        }
    }
    if args.run_dir.is_none() {
        argv.push("--run-dir".into());
        argv.push(runs_root().join(new_run_id(&label)).into_os_string());
    }
    let program = std::env::current_exe()
        .wrap_err("cannot find this program to start the ranks")?
        .into_os_string();
    let out = crate::dist::launch::run_local(&program, &argv, args.nproc, &[])?;
    match out.failure {
        None => Ok(()),
        Some(message) => Err(eyre!(super::JobFailed {
            code: out.code,
            message,
        })),
    }
}

pub fn run_train(args: TrainArgs) -> Result<()> {
    if args.nproc == 0 {
        bail!("--nproc 0: expected at least 1 rank");
    }
    if args.nproc > 1 {
        return launch_local(&args);
    }
    let comm = crate::dist::from_env()?;
    let (cfg, label) = resolve_config(&args)?;
    let run_dir = args
        .run_dir
        .clone()
        .unwrap_or_else(|| runs_root().join(new_run_id(&label)));
    let resume = match args.resume.as_deref() {
        // Rank 0 resolves the checkpoint and sends it to the others (below).
        _ if comm.rank() > 0 => None,
        None => None,
        Some("latest") => Some(RunDir::new(&run_dir).latest_checkpoint().ok_or_else(|| {
            eyre!(
                "--resume latest: {} has no checkpoints/latest",
                run_dir.display()
            )
        })?),
        Some(p) => {
            let p = PathBuf::from(p);
            if !p.is_file() {
                bail!("--resume: {} is not a file", p.display());
            }
            Some(p)
        }
    };
    if resume.is_none() && comm.rank() == 0 {
        refuse_to_overwrite(&RunDir::new(&run_dir))?;
    }
    // In a job, rank 0's run folder and checkpoint are everyone's.
    let (run_dir, resume) = if comm.world() > 1 {
        let mut b = if comm.rank() == 0 {
            serde_json::to_vec(&(&run_dir, &resume))?
        } else {
            Vec::new()
        };
        comm.broadcast_bytes(&mut b)?;
        serde_json::from_slice::<(PathBuf, Option<PathBuf>)>(&b)?
    } else {
        (run_dir, resume)
    };
    if comm.rank() > 0 {
        // Ctrl-C goes to rank 0, which stops every rank.
        let _ = ctrlc::set_handler(|| {});
        return crate::train::trainer::run_follower(RunSpec {
            resume,
            comm: Some(comm),
            ..RunSpec::new(cfg, RunDir::new(run_dir))
        });
    }
    let handle = spawn(RunSpec {
        resume,
        comm: (comm.world() > 1).then_some(comm),
        ..RunSpec::new(cfg, RunDir::new(&run_dir))
    })?;
    let presses = Arc::new(AtomicUsize::new(0));
    {
        let h = std::sync::Mutex::new(handle.command_sender());
        let presses = Arc::clone(&presses);
        let _ = ctrlc::set_handler(move || {
            if presses.fetch_add(1, Ordering::SeqCst) == 0 {
                eprintln!("\nstopping: writing a checkpoint (Ctrl-C again to abort)");
                if let Ok(h) = h.lock() {
                    let _ = h.send(TrainCommand::Stop { checkpoint: true });
                }
            } else {
                eprintln!("\naborted");
                std::process::exit(130);
            }
        });
    }
    let tty = std::io::stderr().is_terminal();
    let bar = if tty {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} steps  eta {eta}  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    eprintln!("run folder: {}", run_dir.display());
    let mut last_state = TrainerState::Idle;
    let mut last_line = std::time::Instant::now() - Duration::from_secs(60);
    let mut train_loss = None;
    let mut stepped = false;
    loop {
        let ev = handle.recv_timeout(Duration::from_millis(200));
        let done = ev.is_none() && handle.is_finished();
        if let Some(ev) = ev {
            match &ev {
                TrainerEvent::State(s) => last_state = s.clone(),
                TrainerEvent::Progress(p) => {
                    stepped = true;
                    if let Some(b) = &bar {
                        b.set_length(p.total_steps);
                        b.set_position(p.step);
                        b.set_message(format!(
                            "{:.1} samples/s  lm_loss {}",
                            p.samples_per_s,
                            train_loss.map_or("-".into(), |v: f64| format!("{v:.4}"))
                        ));
                    } else if last_line.elapsed() > Duration::from_secs(5)
                        || p.step == p.total_steps
                    {
                        last_line = std::time::Instant::now();
                        eprintln!(
                            "step {}/{}  epoch {:.2}  {:.1} samples/s  lr {:.2e}  lm_loss {}  eta {}",
                            p.step,
                            p.total_steps,
                            p.epoch,
                            p.samples_per_s,
                            p.lr,
                            train_loss.map_or("-".into(), |v: f64| format!("{v:.4}")),
                            p.eta_s.map_or("-".into(), |s| format!("{s:.0}s"))
                        );
                    }
                }
                TrainerEvent::Metrics(m) => {
                    if m.split == Split::Train {
                        train_loss = m.get("lm_loss");
                    } else {
                        let line = format_metrics(&m.values);
                        match &bar {
                            Some(b) => b.println(format!("eval @ step {}: {line}", m.step)),
                            None => eprintln!("eval @ step {}: {line}", m.step),
                        }
                    }
                }
                TrainerEvent::Log {
                    level,
                    source,
                    message,
                } => {
                    let line = match level {
                        Level::Warn => format!("warning: {message}"),
                        Level::Error => format!("error: {message}"),
                        Level::Debug | Level::Info => format!("{}: {message}", source.label()),
                    };
                    match &bar {
                        Some(b) => b.println(line),
                        None => eprintln!("{line}"),
                    }
                }
                TrainerEvent::Event(_) => {}
            }
        }
        if done {
            break;
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    match last_state {
        // A run that fails before its first step failed on its input (config, data,
        // checkpoint): exit status 2; later failures (a NaN loss, I/O) are run failures: 1.
        TrainerState::Failed(m) if !stepped => Err(eyre!(m)),
        TrainerState::Failed(m) => Err(eyre!(RunFailure(m))),
        _ => {
            if let Some(p) = RunDir::new(&run_dir).latest_checkpoint() {
                eprintln!("latest checkpoint: {}", p.display());
            }
            Ok(())
        }
    }
}

/// A fresh run never writes into a folder that already holds a run's metrics or checkpoints:
/// it would append to the metrics and prune the checkpoints of the run that is there.
fn refuse_to_overwrite(dir: &RunDir) -> Result<()> {
    let has_checkpoints = std::fs::read_dir(dir.checkpoints_dir())
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    if dir.metrics_path().exists() || has_checkpoints {
        bail!(
            "{} already holds a run (its metrics or checkpoints); continue it with `--resume latest`, or choose another --run-dir",
            dir.path().display()
        );
    }
    Ok(())
}

fn format_metrics(m: &BTreeMap<String, Option<f64>>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {}", v.map_or("n/a".into(), |v| format!("{v:.4}"))))
        .collect::<Vec<_>>()
        .join("  ")
}

/// The split to evaluate from `--data`: the test split of a built dataset, or every labelled
/// puzzle of a puzzle file.
pub fn eval_split(path: &Path) -> Result<(DatasetMetadata, Dataset, Option<PuzzleKind>)> {
    if path.is_dir() && crate::data::dataset::is_built_dataset(path) {
        let l = load_source(path, &SourceOptions::default())?;
        return Ok((l.test.0, l.test.1, l.kind));
    }
    let file = crate::data::read_puzzle_file(path)?;
    let kind = file.kind;
    let s = kind.seq_len();
    let examples = file.puzzles.iter().filter_map(|p| {
        let label = p.label_tokens()?;
        let input = p.input_tokens();
        (input.len() == s && label.len() == s).then(|| {
            let label = label.into_iter().map(|t| if t == 0 { -100 } else { t });
            (input, label.collect())
        })
    });
    let (meta, ds) = single_example_split(s, kind.vocab_size(), examples);
    if ds.num_examples() == 0 {
        bail!("{}: no puzzle with a label to evaluate", path.display());
    }
    Ok((meta, ds, Some(kind)))
}

/// What `eval` runs on, named for the output: `--data`, or else the test split of the run
/// folder the checkpoint is in (said on stderr).
fn eval_data(args: &EvalArgs) -> Result<(String, DatasetMetadata, Dataset, Option<PuzzleKind>)> {
    if let Some(d) = &args.data {
        let (meta, ds, kind) = eval_split(d)?;
        return Ok((d.display().to_string(), meta, ds, kind));
    }
    let run = RunDir::of_checkpoint(&args.checkpoint).ok_or_else(|| {
        eyre!(
            "{}: give --data (a built dataset folder or a puzzle file): the checkpoint is not in \
             a run folder (<run>/{}/ beside a {}), whose own test split eval uses otherwise",
            args.checkpoint.display(),
            RunDir::CHECKPOINTS,
            RunDir::CONFIG
        )
    })?;
    let cfg = run.read_config()?;
    let data = crate::train::source::load_train_data(&cfg.data, run.path())
        .wrap_err_with(|| format!("{}: the run's data", run.path().display()))?;
    let kind = data.kind();
    let (meta, ds) = data.loaded.test;
    let label = format!("{} (the run's test split)", run.path().display());
    eprintln!(
        "no --data: evaluating on the test split of the run {} ({} examples)",
        run.path().display(),
        ds.num_examples()
    );
    Ok((label, meta, ds, kind))
}

pub fn run_eval(args: EvalArgs) -> Result<()> {
    let (device, notice) = open_device(&args.device)?;
    if let Some(n) = notice {
        eprintln!("{n}");
    }
    let (model, meta) = load_model(&args.checkpoint, None, &device)?;
    let model = match args.untrained {
        Some(seed) => crate::model::TrmModel::new(model.config.clone(), seed, &device)?,
        None => model,
    };
    let (data_label, dmeta, ds, kind) = eval_data(&args)?;
    let cfg = &model.config;
    if dmeta.seq_len != cfg.seq_len || dmeta.vocab_size > cfg.vocab_size {
        bail!(
            "{}: the data ({:?}, seq_len {}, vocab {}) does not fit the model in {} (seq_len {}, vocab {})",
            data_label,
            kind,
            dmeta.seq_len,
            dmeta.vocab_size,
            args.checkpoint.display(),
            cfg.seq_len,
            cfg.vocab_size
        );
    }
    if args.test_time.any() {
        let opts = args.test_time.options(cfg)?;
        let header = format!(
            "checkpoint {}  data {}  device {} ({})",
            args.checkpoint.display(),
            data_label,
            device_label(&device),
            dtype_name(resolve_forward_dtype(cfg.forward_dtype, &device))
        );
        let batch = args.batch.max(1);
        return super::solve::eval(
            &model, &ds, kind, batch, args.limit, &opts, args.json, &header,
        );
    }
    let t0 = std::time::Instant::now();
    let mut m = evaluate_model(&model, &ds, kind, args.batch.max(1), args.limit, None)?;
    m.insert("eval_seconds".into(), Some(t0.elapsed().as_secs_f64()));
    match args.untrained {
        Some(seed) => {
            m.insert("untrained_seed".into(), Some(seed as f64));
        }
        None => {
            if let Some(step) = CheckpointMeta::from_metadata(&meta).step {
                m.insert("checkpoint_step".into(), Some(step as f64));
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string(&m)?);
    } else {
        println!(
            "checkpoint {}  data {}  device {} ({})",
            args.checkpoint.display(),
            data_label,
            device_label(&device),
            dtype_name(resolve_forward_dtype(cfg.forward_dtype, &device))
        );
        for (k, v) in &m {
            println!(
                "  {k:<18} {}",
                v.map_or("n/a".into(), |v| format!("{v:.6}"))
            );
        }
    }
    Ok(())
}

/// `trm-tui presets`: list the presets.
pub fn run_presets() -> Result<()> {
    for name in presets::names() {
        let c = presets::get(name).ok_or_else(|| eyre!("preset {name}"))?;
        println!(
            "{name:<20} {:>10} params  {}",
            c.arch.num_parameters(),
            presets::about(name).unwrap_or("")
        );
    }
    Ok(())
}
