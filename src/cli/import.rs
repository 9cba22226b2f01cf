//! `trm-tui import-checkpoint`: official PyTorch checkpoint -> safetensors.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The official checkpoint (a torch.save state dict, e.g. `step_65104`).
    pub file: PathBuf,
    /// Where to write the safetensors file.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(_args: ImportArgs) -> color_eyre::Result<()> {
    color_eyre::eyre::bail!("not implemented yet")
}
