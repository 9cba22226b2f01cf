//! Checkpoint discovery: the `.safetensors` files of a folder, each with what its header says
//! (step, best exact accuracy, model shape), read once here for the Solver and Runs panes. No
//! tensor is loaded.

use std::path::{Path, PathBuf};

use crate::model::TrmConfig;
use crate::train::run_dir::{checkpoint_files_in, meta, CheckpointMeta, RunDir};

/// One checkpoint file and its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointInfo {
    pub path: PathBuf,
    pub step: Option<u64>,
    pub best_exact: Option<f64>,
    /// The model it holds (`model_config` metadata), when readable.
    pub model: Option<ModelShape>,
    pub size: u64,
    /// The folder's `latest` file names it.
    pub latest: bool,
    /// Why the header could not be read.
    pub error: Option<String>,
}

/// What a checkpoint's model takes: cells per puzzle, vocabulary, hidden width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelShape {
    pub seq_len: usize,
    pub vocab_size: usize,
    pub hidden_size: usize,
}

impl CheckpointInfo {
    /// Read a checkpoint's header.
    pub fn read(path: &Path, latest: bool) -> CheckpointInfo {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        match crate::model::weights::read_safetensors_metadata(path) {
            Ok(m) => CheckpointInfo {
                path: path.to_path_buf(),
                step: CheckpointMeta::from_metadata(&m).step,
                best_exact: CheckpointMeta::from_metadata(&m).best_exact_accuracy,
                model: m
                    .get(meta::MODEL_CONFIG)
                    .and_then(|t| TrmConfig::from_toml_str(t).ok())
                    .map(|c| ModelShape {
                        seq_len: c.seq_len,
                        vocab_size: c.vocab_size,
                        hidden_size: c.hidden_size,
                    }),
                size,
                latest,
                error: None,
            },
            Err(e) => CheckpointInfo {
                path: path.to_path_buf(),
                step: None,
                best_exact: None,
                model: None,
                size,
                latest,
                error: Some(e.to_string()),
            },
        }
    }

    /// `(seq_len, vocab_size)` of the model, when known.
    pub fn shape(&self) -> Option<(usize, usize)> {
        self.model.map(|m| (m.seq_len, m.vocab_size))
    }

    /// One line of its metadata (step, best exact accuracy, shape), or why it is unreadable.
    pub fn summary(&self) -> String {
        if let Some(e) = &self.error {
            return format!("unreadable: {e}");
        }
        let mut parts = Vec::new();
        if let Some(s) = self.step {
            parts.push(format!("step {s}"));
        }
        if let Some(b) = self.best_exact {
            parts.push(format!("best exact {:.1}%", b * 100.0));
        }
        match &self.model {
            Some(m) => parts.push(format!(
                "hidden {} · {} cells · vocab {}",
                m.hidden_size, m.seq_len, m.vocab_size
            )),
            None => parts.push("no model_config metadata".into()),
        }
        parts.join(" · ")
    }
}

/// The checkpoints of one folder, highest step first; the one `latest` names is marked.
pub fn checkpoints_in(dir: &Path) -> Vec<CheckpointInfo> {
    let latest = std::fs::read_to_string(dir.join(RunDir::LATEST))
        .ok()
        .map(|s| s.trim().to_string());
    let mut out: Vec<CheckpointInfo> = checkpoint_files_in(dir)
        .iter()
        .map(|p| {
            let is_latest = latest.as_deref().is_some_and(|l| {
                p.file_name().is_some_and(|n| n.to_string_lossy() == l) || Path::new(l) == p
            });
            CheckpointInfo::read(p, is_latest)
        })
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.step.unwrap_or(0)));
    out
}
