//! `trm-tui puzzles ...`: generate, check, show and solve puzzle files.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum PuzzlesCommand {}

pub fn run(cmd: PuzzlesCommand) -> color_eyre::Result<()> {
    match cmd {}
}
