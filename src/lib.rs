//! trm-tui: a terminal workbench for Tiny Recursive Models (TRM).
//!
//! The library holds everything; the `trm-tui` binary is a thin shell over [`cli`].
//! Modules are named for what they own (CONTRIBUTING.md has the module map, with what each may
//! import):
//! - [`model`]: the TRM network (config, layers, recursion, ACT, loss head, weights I/O,
//!   step-by-step solving) and its CPU kernels;
//! - [`data`]: puzzles (Sudoku, Maze, ARC): tokenisation, readers/writers, solvers, generators,
//!   augmentation, dataset builds;
//! - [`train`]: the training engine (recipe, optimizers, sampler, evaluation, checkpoints, run
//!   folders, presets, test-time compute) and the trainer thread driven by typed messages
//!   through a pure state machine;
//! - [`dist`]: data-parallel jobs: the launch environment, the collective engines, the
//!   `--nproc` launcher;
//! - [`fetch`]: `data fetch`: the paper datasets' sources downloaded (resumable, checked) into
//!   the user's data directory, and where the paper presets' built datasets live;
//! - [`experiment`]: ablation experiments as files (variants x seeds), run headless through
//!   the trainer, and their reports (per-variant means and spreads from the runs' metrics);
//! - [`tui`]: the terminal workbench (panes, keys, catalog, themes), talking to the trainer and
//!   the solver worker over channels;
//! - [`cli`]: command-line parsing and dispatch of the headless subcommands;
//! - [`telemetry`]: process and GPU figures (RSS, CPU %, NVML loaded at run time);
//! - [`util`]: the portable seeded RNG, duration formatting, atomic file writes.

pub mod cli;
pub mod data;
pub mod dist;
pub mod experiment;
pub mod fetch;
pub mod model;
pub mod telemetry;
pub mod train;
pub mod tui;
pub mod util;
