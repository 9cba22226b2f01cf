//! `trm-tui import-checkpoint`: official PyTorch checkpoint -> safetensors with the official
//! key names (prefix `_orig_mod.model.inner.` stripped), optionally checked against a config.

use std::collections::HashMap;
use std::path::PathBuf;

use color_eyre::eyre::{bail, WrapErr};

use crate::model::weights::{import_pytorch_checkpoint, save_safetensors};
use crate::model::TrmConfig;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The official checkpoint (a torch.save state dict, e.g. `step_65104`).
    pub file: PathBuf,
    /// Where to write the safetensors file.
    #[arg(long)]
    pub out: PathBuf,
    /// A model config (TOML, official field names) to check the tensors against and to store
    /// in the file's metadata, so the workbench can open it directly.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn run(args: ImportArgs) -> color_eyre::Result<()> {
    let tensors = import_pytorch_checkpoint(&args.file)?;
    let mut metadata = HashMap::new();
    metadata.insert("format".to_string(), "trm-tui/weights".to_string());
    metadata.insert("imported_from".to_string(), args.file.display().to_string());
    if let Some(cfg_path) = &args.config {
        let text = std::fs::read_to_string(cfg_path)
            .wrap_err_with(|| format!("{}: cannot read", cfg_path.display()))?;
        let cfg = TrmConfig::from_toml_str(&text)
            .wrap_err_with(|| format!("{}: bad model config", cfg_path.display()))?;
        let expected = crate::model::net::expected_shapes(&cfg);
        for (name, shape) in &expected {
            match tensors.get(name) {
                None => bail!(
                    "{}: has no tensor `{name}` that {} requires",
                    args.file.display(),
                    cfg_path.display()
                ),
                Some(t) if t.dims() != shape.as_slice() => bail!(
                    "{}: tensor `{name}` is {:?}, {} expects {shape:?}",
                    args.file.display(),
                    t.dims(),
                    cfg_path.display()
                ),
                _ => {}
            }
        }
        metadata.insert("model_config".to_string(), cfg.to_toml_string());
    }
    save_safetensors(&args.out, &tensors, &metadata)?;
    println!(
        "wrote {} tensors ({} values) to {}",
        tensors.len(),
        tensors.values().map(|t| t.elem_count()).sum::<usize>(),
        args.out.display()
    );
    Ok(())
}
