//! `trm-tui experiment`: run an experiment file (every variant and seed, one after another,
//! headless), report on it (table on stdout, `report.md` and `report.csv` in its folder), or
//! check it without training. Bad files exit with status 2 and name the file, the variant and
//! the key; failed runs exit with 1; Ctrl-C stops the current run with a checkpoint (130).
//! `--jobs N` trains N runs at once as child processes (this executable with the hidden
//! `--child-run`), printing one progress line per running run and the experiment's ETA.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Subcommand;
use color_eyre::eyre::{bail, eyre, Result, WrapErr};

use super::{Interrupted, RunFailure};
use crate::experiment::jobs::{ChildReport, STOP_LINE};
use crate::experiment::report::{format_duration, format_params, Report};
use crate::experiment::runner::{self, Outcome, RunOptions, RunnerEvent, StopSignal};
use crate::experiment::Experiment;
use crate::train::{Level, Split, TrainerEvent};

#[derive(Debug, Subcommand)]
pub enum ExperimentCommand {
    /// Train every (variant, seed) of an experiment file, one after another; finished runs
    /// are skipped, so running it again continues an interrupted experiment.
    Run(RunArgs),
    /// Summarise an experiment's runs: a table on stdout, `report.md` and `report.csv` in the
    /// experiment folder.
    Report(ReportArgs),
    /// Check an experiment file and list its runs, without training.
    Check(CheckArgs),
    /// Evaluate every finished run's final model with more supervision steps than it was
    /// trained with: exact accuracy after each step count, per variant over seeds
    /// (`steps.md`, `steps.csv` and `steps.svg` in the experiment folder).
    Steps(StepsArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The experiment file (TOML; see experiments/README.md).
    pub file: PathBuf,
    /// The experiment folder (default: RUNS/experiments/NAME under the runs root RUNS).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only this variant's runs.
    #[arg(long, value_name = "VARIANT")]
    pub only: Option<String>,
    /// Continue unfinished runs from their latest checkpoint (default: train them again).
    #[arg(long)]
    pub resume: bool,
    /// Train this many runs at once, each in its own process with its share of the cores
    /// (RAYON_NUM_THREADS, or all cores, divided by N).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub jobs: usize,
    /// (Internal, set by --jobs) train only this run of the prepared folder and report on
    /// stdout.
    #[arg(long, hide = true, value_name = "RUN")]
    pub child_run: Option<String>,
    /// (Internal, set by --jobs) the checkpoint the child run continues from.
    #[arg(long, hide = true, requires = "child_run", value_name = "CHECKPOINT")]
    pub child_resume: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// An experiment file, or an experiment folder (holding `experiment.toml`).
    pub path: PathBuf,
    /// The experiment folder of FILE (default: RUNS/experiments/NAME under the runs root RUNS).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also draw the figures into the experiment folder (SVG): exact accuracy against step
    /// per variant with a band over seeds, train-sample against test accuracy, and final
    /// accuracy per variant with its 95% CI.
    #[arg(long)]
    pub plots: bool,
    /// The report as of training step N (every figure from the records up to N), written to
    /// `<folder>/at-step-N/`: the comparison at a matched budget when some variants trained on.
    #[arg(long, value_name = "N")]
    pub at_step: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct StepsArgs {
    /// An experiment file, or an experiment folder (holding `experiment.toml`).
    pub path: PathBuf,
    /// The experiment folder of FILE (default: RUNS/experiments/NAME under the runs root RUNS).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Supervision steps to run [default: twice the number each model was trained with].
    #[arg(long, value_name = "N")]
    pub steps: Option<usize>,
    /// Examples per evaluation batch.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The experiment file.
    pub file: PathBuf,
}

pub fn run(cmd: ExperimentCommand) -> Result<()> {
    match cmd {
        ExperimentCommand::Run(a) => run_experiment(a),
        ExperimentCommand::Report(a) => report(a),
        ExperimentCommand::Steps(a) => more_steps(a),
        ExperimentCommand::Check(a) => check(a),
    }
}

fn check(args: CheckArgs) -> Result<()> {
    let exp = Experiment::load(&args.file)?;
    println!(
        "{}: experiment `{}` on `{}`, seeds {:?}, {} variant(s), {} run(s)",
        args.file.display(),
        exp.name,
        exp.base,
        exp.seeds,
        exp.variants.len(),
        exp.plan().len()
    );
    if !exp.description.is_empty() {
        println!("  {}", exp.description);
    }
    for (k, v) in &exp.set {
        println!("  set {k} = {v}");
    }
    for v in &exp.variants {
        let c = &v.config;
        let mut changes: Vec<String> = Vec::new();
        if v.base != exp.base {
            changes.push(format!("base {}", v.base));
        }
        if v.seeds != exp.seeds {
            changes.push(format!("seeds {:?}", v.seeds));
        }
        changes.extend(v.set.iter().map(|(k, x)| format!("{k}={x}")));
        println!(
            "  {:<20} {:>9} params  depth {:>3}  {:<14}  {}",
            v.name,
            format_params(c.arch.num_parameters()),
            c.arch.effective_depth(),
            if c.max_steps > 0 {
                format!("{} steps", c.max_steps)
            } else {
                format!("{} epochs", c.epochs)
            },
            changes.join(" ")
        );
    }
    println!("  folder: {}", exp.default_dir().display());
    Ok(())
}

/// The experiment and its folder, from an experiment file (and `--out`) or a folder.
fn open_experiment(path: &Path, out: Option<&Path>) -> Result<(Experiment, PathBuf)> {
    let (exp, dir) = if path.is_dir() {
        if out.is_some() {
            bail!(
                "--out: {} is already an experiment folder (--out names the folder of an \
                 experiment FILE)",
                path.display()
            );
        }
        let (exp, _) = Report::open_dir(path)?;
        (exp, path.to_path_buf())
    } else {
        let exp = Experiment::load(path)?;
        let dir = runner::resolve_dir(&exp, out);
        (exp, dir)
    };
    if !dir.is_dir() {
        bail!(
            "{}: no such experiment folder (run `trm-tui experiment run {}` first, or give --out)",
            dir.display(),
            path.display()
        );
    }
    Ok((exp, dir))
}

fn report(args: ReportArgs) -> Result<()> {
    let (exp, dir) = open_experiment(&args.path, args.out.as_deref())?;
    if args.at_step == Some(0) {
        bail!("--at-step takes a positive step, got 0");
    }
    let r = Report::load_at(&exp, &dir, args.at_step);
    let out = match args.at_step {
        None => dir.clone(),
        Some(n) => {
            let out = dir.join(format!("at-step-{n}"));
            std::fs::create_dir_all(&out)
                .wrap_err_with(|| format!("{}: cannot create the folder", out.display()))?;
            out
        }
    };
    print_report(&r, &dir, &out)?;
    if args.plots {
        let files = crate::experiment::plots::write_plots(&r, &out)?;
        if files.is_empty() {
            println!("no figures: no run has an evaluation yet");
        }
        for f in files {
            println!("wrote {}", f.display());
        }
    }
    Ok(())
}

fn print_report(r: &Report, dir: &Path, out: &Path) -> Result<()> {
    let (done, total) = r.progress();
    println!(
        "experiment `{}` ({}): {done} of {total} runs finished{}",
        r.name,
        dir.display(),
        r.at_step
            .map_or(String::new(), |n| format!(" as of step {n}"))
    );
    print!("{}", r.table_text());
    for w in r.warnings() {
        eprintln!("warning: {w}");
    }
    let (md, csv) = r.write(out)?;
    println!("wrote {} and {}", md.display(), csv.display());
    Ok(())
}

fn more_steps(args: StepsArgs) -> Result<()> {
    use crate::experiment::more_steps as ms;
    if args.steps == Some(0) || args.batch == 0 {
        bail!("--steps and --batch take a positive number");
    }
    let (exp, dir) = open_experiment(&args.path, args.out.as_deref())?;
    let r = Report::load(&exp, &dir);
    let (done, total) = r.progress();
    if done == 0 {
        bail!(
            "{}: no finished run to evaluate ({total} planned)",
            dir.display()
        );
    }
    eprintln!("evaluating the final models of {done} finished runs (of {total})");
    let runs = ms::eval_all(&r, args.steps.unwrap_or(0), args.batch, |s| {
        eprintln!(
            "  {}-s{}: exact {}",
            s.variant,
            s.seed,
            s.exact_by_step
                .iter()
                .map(|x| format!("{:.1}", 100.0 * x))
                .collect::<Vec<_>>()
                .join(" ")
        )
    })?;
    let vs = ms::summarise(r.variants.iter().map(|v| v.name.as_str()), &runs);
    print!("{}", ms::table_text(&vs));
    let write = |name: &str, text: String| -> Result<PathBuf> {
        let p = dir.join(name);
        std::fs::write(&p, text).wrap_err_with(|| format!("{}: cannot write", p.display()))?;
        Ok(p)
    };
    let md = write(ms::STEPS_MD, ms::markdown(&r, &vs))?;
    let csv = write(ms::STEPS_CSV, ms::csv(&vs))?;
    let svg = dir.join(ms::STEPS_SVG);
    ms::draw(&r, &vs, &svg)?;
    println!(
        "wrote {}, {} and {}",
        md.display(),
        csv.display(),
        svg.display()
    );
    Ok(())
}

/// The terminal side of a run: a progress bar on a TTY, else a line every few seconds. With
/// several jobs, every few seconds one line per running run and the experiment's ETA.
struct Printer {
    bar: Option<indicatif::ProgressBar>,
    last_line: Instant,
    started: Instant,
    train_loss: Option<f64>,
    /// `--jobs` above one: the runs are tracked in `jobs`.
    parallel: bool,
    jobs: JobsProgress,
}

/// The progress of the runs of a `--jobs` invocation: each run's (step, total steps, rate,
/// ETA), for the lines and the experiment's ETA.
#[derive(Default)]
struct JobsProgress {
    /// Running runs: (step, total steps, samples/s, eta s).
    running: BTreeMap<String, (u64, u64, f64, Option<f64>)>,
    /// Planned steps of the runs not started yet in this invocation.
    waiting_steps: u64,
    /// Runs still to train (running or waiting), and how many run at once.
    remaining: usize,
    jobs: usize,
}

impl JobsProgress {
    /// The experiment's ETA: the steps left over every job's current rate (the slowest
    /// running run bounds it), `None` until every running run reports one.
    fn eta_s(&self) -> Option<f64> {
        let rates: Vec<f64> = self
            .running
            .values()
            .map(|&(step, total, _, eta)| {
                eta.filter(|e| *e > 0.0)
                    .map(|e| total.saturating_sub(step) as f64 / e)
            })
            .collect::<Option<Vec<f64>>>()?;
        let rate: f64 = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
        if rate <= 0.0 {
            return None;
        }
        let running_left = self
            .running
            .values()
            .map(|&(s, t, _, _)| t.saturating_sub(s))
            .sum::<u64>() as f64;
        let parallel = self.jobs.min(self.remaining).max(1) as f64;
        Some((running_left + self.waiting_steps as f64) / (rate * parallel))
    }

    fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .running
            .iter()
            .map(|(name, &(step, total, rate, eta))| {
                format!(
                    "  {name:<24} step {step}/{total}  {rate:.1} samples/s  eta {}",
                    eta.map_or("-".into(), format_duration)
                )
            })
            .collect();
        out.push(format!(
            "  experiment: {} run(s) to go ({} running), eta {}",
            self.remaining,
            self.running.len(),
            self.eta_s().map_or("-".into(), format_duration)
        ));
        out
    }
}

impl Printer {
    fn line(&self, s: String) {
        match &self.bar {
            Some(b) => b.println(s),
            None => eprintln!("{s}"),
        }
    }

    fn on(&mut self, ev: RunnerEvent) {
        if self.parallel {
            return self.on_parallel(ev);
        }
        match ev {
            RunnerEvent::Skip { run } => {
                eprintln!("{}: finished before; skipped", run.dir_name)
            }
            RunnerEvent::Start {
                run,
                index,
                total,
                resume_from,
                restarted,
            } => {
                self.started = Instant::now();
                self.train_loss = None;
                let how = match (&resume_from, restarted) {
                    (Some(ck), _) => format!(", resuming from {}", ck.display()),
                    (None, true) => ", unfinished before: trained again from scratch".into(),
                    _ => String::new(),
                };
                eprintln!(
                    "[{index}/{total}] {} (variant {}, seed {}){how}",
                    run.dir_name, run.variant, run.seed
                );
                if std::io::stderr().is_terminal() {
                    let b = indicatif::ProgressBar::new(0);
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} steps  eta {eta}  {msg}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    self.bar = Some(b);
                }
            }
            RunnerEvent::Trainer { run, event } => match event {
                TrainerEvent::Progress(p) => {
                    let loss = self
                        .train_loss
                        .map_or("-".into(), |v: f64| format!("{v:.4}"));
                    if let Some(b) = &self.bar {
                        b.set_length(p.total_steps);
                        b.set_position(p.step);
                        b.set_message(format!("{:.1} samples/s  lm_loss {loss}", p.samples_per_s));
                    } else if self.last_line.elapsed() > Duration::from_secs(10) {
                        self.last_line = Instant::now();
                        eprintln!(
                            "  {} step {}/{}  {:.1} samples/s  lm_loss {loss}  eta {}",
                            run.dir_name,
                            p.step,
                            p.total_steps,
                            p.samples_per_s,
                            p.eta_s.map_or("-".into(), format_duration)
                        );
                    }
                }
                TrainerEvent::Metrics(m) if m.split == Split::Train => {
                    self.train_loss = m.get("lm_loss");
                }
                TrainerEvent::Metrics(m) => {
                    let pct = |k: &str| {
                        m.get(k)
                            .map_or("-".into(), |v| format!("{:.1}%", v * 100.0))
                    };
                    self.line(format!(
                        "  {} eval @ step {}: exact {}  token {}",
                        run.dir_name,
                        m.step,
                        pct("exact_accuracy"),
                        pct("accuracy")
                    ));
                }
                TrainerEvent::Log {
                    level: Level::Info | Level::Warn | Level::Error,
                    message,
                    ..
                } => self.line(format!("  {message}")),
                _ => {}
            },
            RunnerEvent::Done { run, outcome } => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                let t = format_duration(self.started.elapsed().as_secs_f64());
                match outcome {
                    Outcome::Finished => eprintln!("  {} finished in {t}", run.dir_name),
                    Outcome::Stopped => {
                        eprintln!("  {} stopped after {t} (checkpoint written)", run.dir_name)
                    }
                    Outcome::Failed(m) => eprintln!("  {} FAILED after {t}: {m}", run.dir_name),
                }
            }
        }
    }
}

impl Printer {
    /// The `--jobs` lines: starts, evaluations and ends as they happen, and every 10 s one
    /// line per running run and the experiment's ETA.
    fn on_parallel(&mut self, ev: RunnerEvent) {
        let p = &mut self.jobs;
        match ev {
            RunnerEvent::Skip { run } => {
                eprintln!("{}: finished before; skipped", run.dir_name)
            }
            RunnerEvent::Start {
                run,
                index,
                total,
                resume_from,
                ..
            } => {
                p.waiting_steps = p.waiting_steps.saturating_sub(run.config.max_steps);
                p.running
                    .insert(run.dir_name.clone(), (0, run.config.max_steps, 0.0, None));
                eprintln!(
                    "[{index}/{total}] {} started (variant {}, seed {}){}",
                    run.dir_name,
                    run.variant,
                    run.seed,
                    resume_from.map_or(String::new(), |ck| format!(
                        ", resuming from {}",
                        ck.display()
                    ))
                );
            }
            RunnerEvent::Trainer { run, event } => match event {
                TrainerEvent::Progress(pr) => {
                    p.running.insert(
                        run.dir_name.clone(),
                        (pr.step, pr.total_steps, pr.samples_per_s, pr.eta_s),
                    );
                    if self.last_line.elapsed() > Duration::from_secs(10) {
                        self.last_line = Instant::now();
                        for l in p.lines() {
                            eprintln!("{l}");
                        }
                    }
                }
                TrainerEvent::Metrics(m) if m.split != Split::Train => {
                    let pct = |k: &str| {
                        m.get(k)
                            .map_or("-".into(), |v| format!("{:.1}%", v * 100.0))
                    };
                    eprintln!(
                        "  {} eval @ step {}: exact {}  token {}",
                        run.dir_name,
                        m.step,
                        pct("exact_accuracy"),
                        pct("accuracy")
                    );
                }
                TrainerEvent::Log { message, .. } => eprintln!("  {}: {message}", run.dir_name),
                _ => {}
            },
            RunnerEvent::Done { run, outcome } => {
                p.running.remove(&run.dir_name);
                p.remaining = p.remaining.saturating_sub(1);
                match outcome {
                    Outcome::Finished => eprintln!("  {} finished", run.dir_name),
                    Outcome::Stopped => {
                        eprintln!("  {} stopped (checkpoint written)", run.dir_name)
                    }
                    Outcome::Failed(m) => eprintln!("  {} FAILED: {m}", run.dir_name),
                }
            }
        }
    }
}

/// A child of `--jobs`: train one run of the prepared folder, report on stdout (one JSON
/// [`ChildReport`] per line), stop with a checkpoint on a `stop` line or the end of stdin.
fn run_child(args: &RunArgs, run_name: &str) -> Result<()> {
    let exp = Experiment::load(&args.file)?;
    let dir = runner::resolve_dir(&exp, args.out.as_deref());
    let stop = StopSignal::new();
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                match line {
                    Ok(l) if l.trim() == STOP_LINE => break,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            stop.request();
        });
    }
    {
        // Ctrl-C in the terminal reaches the whole process group: the child stops too.
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.request());
    }
    let send = |r: ChildReport| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", r.to_line()).and_then(|_| out.flush());
    };
    let outcome = runner::train_child(
        &exp,
        &dir,
        run_name,
        args.child_resume.clone(),
        &stop,
        |ev| {
            if let Some(r) = ChildReport::from_event(&ev) {
                send(r);
            }
        },
    )
    .unwrap_or_else(|e| Outcome::Failed(format!("{e:#}")));
    send(ChildReport::Done { outcome });
    Ok(())
}

fn run_experiment(args: RunArgs) -> Result<()> {
    if let Some(name) = &args.child_run {
        return run_child(&args, name);
    }
    if args.jobs == 0 {
        bail!("--jobs: expected 1 or more runs at once, got 0");
    }
    let exp = Experiment::load(&args.file)?;
    let dir = runner::resolve_dir(&exp, args.out.as_deref());
    let stop = StopSignal::new();
    {
        let stop = stop.clone();
        let presses = Arc::new(AtomicUsize::new(0));
        let _ = ctrlc::set_handler(move || {
            if presses.fetch_add(1, Ordering::SeqCst) == 0 {
                eprintln!(
                    "\nstopping: the running run(s) write a checkpoint, no further run starts \
                     (Ctrl-C again to abort)"
                );
                stop.request();
            } else {
                eprintln!("\naborted");
                std::process::exit(130);
            }
        });
    }
    eprintln!(
        "experiment `{}`: {} variant(s), {} run(s) into {}",
        exp.name,
        exp.variants.len(),
        exp.plan().len(),
        dir.display()
    );
    let mut printer = Printer {
        bar: None,
        last_line: Instant::now() - Duration::from_secs(60),
        started: Instant::now(),
        train_loss: None,
        parallel: args.jobs > 1,
        jobs: JobsProgress {
            jobs: args.jobs,
            ..JobsProgress::default()
        },
    };
    if args.jobs > 1 {
        let todo: Vec<_> = exp
            .plan()
            .into_iter()
            .filter(|p| args.only.as_ref().is_none_or(|o| *o == p.variant))
            .filter(|p| {
                let r = crate::experiment::report::read_run(&dir.join(&p.dir_name), p);
                r.status != crate::experiment::RunStatus::Finished
            })
            .collect();
        printer.jobs.remaining = todo.len();
        printer.jobs.waiting_steps = todo.iter().map(|p| p.config.max_steps).sum();
        eprintln!(
            "{} job(s) at once, {} thread(s) each",
            args.jobs,
            crate::experiment::jobs::threads_per_job(args.jobs)
        );
    }
    let opts = RunOptions {
        out_dir: dir.clone(),
        only: args.only.clone(),
        resume: args.resume,
        jobs: args.jobs,
    };
    let summary = runner::run(&exp, &opts, &stop, |ev| printer.on(ev))?;
    eprintln!(
        "{} trained, {} skipped (finished before), {} failed{}",
        summary.finished.len(),
        summary.skipped.len(),
        summary.failed.len(),
        summary
            .stopped
            .as_ref()
            .map_or(String::new(), |s| format!(", {s} stopped"))
    );
    let r = Report::load(&exp, &dir);
    print_report(&r, &dir, &dir)?;
    if summary.stopped.is_some() || !summary.not_started.is_empty() {
        return Err(eyre!(Interrupted(format!(
            "stopped{} ({} run(s) not started); `trm-tui experiment run {} --resume` continues \
             from the last checkpoint",
            summary
                .stopped
                .as_ref()
                .map_or(String::new(), |s| format!(" during {s}")),
            summary.not_started.len(),
            args.file.display()
        ))));
    }
    if !summary.failed.is_empty() {
        let list: Vec<String> = summary
            .failed
            .iter()
            .map(|(r, m)| format!("{r}: {m}"))
            .collect();
        return Err(eyre!(RunFailure(format!(
            "{} run(s) failed: {}",
            list.len(),
            list.join("; ")
        ))));
    }
    Ok(())
}
