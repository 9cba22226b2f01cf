//! trm-tui: a terminal workbench for Tiny Recursive Models (TRM).
//!
//! The library holds everything; the `trm-tui` binary is a thin shell over [`cli`].
//! Modules are named for what they own:
//! - [`model`]: the TRM network (config, layers, recursion, ACT, loss head, weights I/O);
//! - [`data`]: puzzles (Sudoku, Maze, ARC): tokenisation, readers/writers, solvers, generators, augmentation, dataset builds;
//! - [`train`]: the training engine (recipe, optimizers, sampler, evaluation, checkpoints,
//!   presets) and the trainer thread driven by typed messages through a pure state machine;
//! - [`tui`]: the terminal workbench (panes, themes), talking to the trainer over channels;
//! - [`cli`]: command-line parsing and dispatch of the headless subcommands;
//! - [`util`]: the portable seeded RNG.

pub mod cli;
pub mod data;
pub mod model;
pub mod train;
pub mod tui;
pub mod util;
