//! `trm-tui data build ...`: build datasets in the official on-disk layout.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum DataCommand {}

pub fn run(cmd: DataCommand) -> color_eyre::Result<()> {
    match cmd {}
}
