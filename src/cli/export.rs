//! `trm-tui export`: a training checkpoint -> a small weights file for inference and sharing
//! (the EMA weights under the official names, the puzzle-embedding table, `H_init`/`L_init`,
//! and the model config in the metadata; no optimizer state, no carry).

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::Device;
use color_eyre::eyre::Result;

use crate::model::weights::{load_model, save_safetensors, META_MODEL_CONFIG};

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A checkpoint written by `trm-tui train` (or any weights file trm-tui can open).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The weights file to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Metadata keys copied from the checkpoint (provenance).
const KEEP: &[&str] = &[
    "step",
    "train_config",
    "eval_metrics",
    "best_exact_accuracy",
];

pub fn run(args: ExportArgs) -> Result<()> {
    let (model, meta) = load_model(&args.checkpoint, None, &Device::Cpu)?;
    let mut out_meta: HashMap<String, String> = KEEP
        .iter()
        .filter_map(|k| meta.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    out_meta.insert("format".into(), "trm-tui/weights".into());
    out_meta.insert(META_MODEL_CONFIG.into(), model.config.to_toml_string());
    let tensors = model.state_dict();
    save_safetensors(&args.out, &tensors, &out_meta)?;
    println!(
        "wrote {} ({} tensors, {} parameters{})",
        args.out.display(),
        tensors.len(),
        model.num_parameters(),
        meta.get("step")
            .map_or(String::new(), |s| format!(", step {s}"))
    );
    Ok(())
}
