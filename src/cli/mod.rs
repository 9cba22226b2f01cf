//! Command-line interface: argument parsing (clap) and dispatch of the headless subcommands.
//!
//! Exit status: 0 on success, 2 when the input (a file, a flag, a setting) is wrong, 1 when a
//! run failed for another reason (an error wrapped in [`RunFailure`]), 130 when Ctrl-C stopped
//! it before the end ([`Interrupted`]); a data-parallel job launched with `--nproc` exits
//! with the status of its first failing rank ([`JobFailed`]).

use clap::{Parser, Subcommand};

pub mod bench;
pub mod check;
pub mod data;
pub mod experiment;
pub mod export;
pub mod import;
pub mod puzzles;
pub mod solve;
pub mod train;

/// Marks an error as a failure of the run itself (not of its input): exit status 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RunFailure(pub String);

/// A data-parallel job whose rank failed: the launcher exits with that rank's status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct JobFailed {
    pub code: i32,
    pub message: String,
}

/// Marks an error as a stop asked for by the user (Ctrl-C): exit status 130.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

#[derive(Debug, Parser)]
#[command(
    name = "trm-tui",
    version,
    about = "A terminal workbench for Tiny Recursive Models"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert an official PyTorch TRM checkpoint to safetensors with the official key names.
    ImportCheckpoint(import::ImportArgs),
    /// Generate, check, show and solve puzzle files.
    #[command(subcommand)]
    Puzzles(puzzles::PuzzlesCommand),
    /// Build training datasets in the official on-disk format.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Train a TRM headless (progress on stderr; Ctrl-C stops with a checkpoint).
    Train(train::TrainArgs),
    /// Evaluate a checkpoint on a dataset or puzzle file.
    Eval(train::EvalArgs),
    /// Solve one puzzle with a model, step by step (grids, changes, confidence, q_halt).
    Solve(solve::SolveArgs),
    /// List the training presets.
    Presets,
    /// Time a training step and a full solve of one puzzle.
    Bench(bench::BenchArgs),
    /// Ablation experiments: run every variant and seed of an experiment file, report on them.
    #[command(subcommand)]
    Experiment(experiment::ExperimentCommand),
    /// Write the EMA weights of a training checkpoint as a small weights file.
    Export(export::ExportArgs),
    /// Correctness checks on a device (parity fixtures, eval in a chosen dtype).
    #[command(subcommand)]
    Check(check::CheckCommand),
    /// Open the workbench (the default without a subcommand).
    Tui(crate::tui::app::TuiArgs),
}

/// Entry point of the binary; returns the process exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::ImportCheckpoint(args)) => import::run(args),
        Some(Command::Puzzles(cmd)) => puzzles::run(cmd),
        Some(Command::Data(cmd)) => data::run(cmd),
        Some(Command::Train(args)) => train::run_train(args),
        Some(Command::Eval(args)) => train::run_eval(args),
        Some(Command::Solve(args)) => solve::run(args),
        Some(Command::Presets) => train::run_presets(),
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::Export(args)) => export::run(args),
        Some(Command::Check(cmd)) => check::run(cmd),
        Some(Command::Experiment(cmd)) => experiment::run(cmd),
        Some(Command::Tui(args)) => crate::tui::run(args.options()),
        None => crate::tui::run(crate::tui::AppOptions::from_env()),
    };
    match result {
        Ok(()) => 0,
        Err(err) => report(&err),
    }
}

/// Print an error chain on stderr and choose the exit status.
pub fn report(err: &color_eyre::Report) -> i32 {
    eprintln!("error: {err:#}");
    if let Some(j) = err.chain().find_map(|e| e.downcast_ref::<JobFailed>()) {
        j.code
    } else if err.chain().any(|e| e.is::<Interrupted>()) {
        130
    } else if err.chain().any(|e| e.is::<RunFailure>()) {
        1
    } else {
        2
    }
}
