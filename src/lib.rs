//! trm-tui: a terminal workbench for Tiny Recursive Models (TRM).
//!
//! The library holds everything; the `trm-tui` binary is a thin shell over [`cli`].
//! Modules are named for what they own:
//! - [`model`]: the TRM network (config, layers, recursion, ACT, loss head, weights I/O);
//! - [`data`]: puzzles (Sudoku, Maze, ARC): tokenisation, readers/writers, solvers, generators, augmentation, dataset builds;
//! - [`cli`]: command-line parsing and dispatch of the headless subcommands.

pub mod cli;
pub mod data;
pub mod model;
pub mod train;
pub mod tui;
pub mod util;
