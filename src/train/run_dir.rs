//! One run's folder and what a checkpoint says about itself: the layout of `runs/<run-id>/`
//! (`config.toml`, `metrics.jsonl`, `events.jsonl`, `data/`, `checkpoints/` with `step_N`,
//! `best` and the `latest` pointer) and the metadata key names of a training checkpoint. The
//! trainer writes through it, and the CLI, the experiment runner and the TUI read through it,
//! so no other module spells a file name of a run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::api::{read_metrics, MetricRecord, RunEvent};
use super::config::TrainConfig;
use crate::util::atomic::{write_atomic, WriteError, Writer};

/// The metadata keys of a training checkpoint (safetensors string metadata).
pub mod meta {
    /// The format marker: [`CHECKPOINT_FORMAT`] in a training checkpoint.
    pub const FORMAT: &str = "format";
    pub const CHECKPOINT_FORMAT: &str = "trm-tui/checkpoint-v1";
    /// The model's `ModelConfig` as TOML (also in weights-only files).
    pub const MODEL_CONFIG: &str = crate::model::weights::META_MODEL_CONFIG;
    /// The run's `TrainConfig` as TOML.
    pub const TRAIN_CONFIG: &str = "train_config";
    /// The optimizer step the checkpoint was written at.
    pub const STEP: &str = "step";
    /// The trainer's scalar state (JSON): RNG, sampler, wall time.
    pub const STATE: &str = "trainer_state";
    /// The best evaluation `exact_accuracy` so far.
    pub const BEST: &str = "best_exact_accuracy";
    /// The last evaluation's metrics (JSON object).
    pub const METRICS: &str = "eval_metrics";
}

/// What a checkpoint's metadata says about the training behind it (absent fields: a
/// weights-only file, or a field that does not parse).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckpointMeta {
    pub step: Option<u64>,
    pub best_exact_accuracy: Option<f64>,
    /// True for a resumable training checkpoint (the format marker is there).
    pub resumable: bool,
}

impl CheckpointMeta {
    pub fn from_metadata(m: &HashMap<String, String>) -> Self {
        Self {
            step: m.get(meta::STEP).and_then(|s| s.parse().ok()),
            best_exact_accuracy: m.get(meta::BEST).and_then(|s| s.parse().ok()),
            resumable: m.get(meta::FORMAT).map(String::as_str) == Some(meta::CHECKPOINT_FORMAT),
        }
    }
}

/// The runs root: `$TRM_RUNS_DIR` or `./runs`.
pub fn runs_root() -> PathBuf {
    std::env::var_os("TRM_RUNS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("runs"))
}

/// A fresh run id: `YYYYmmdd-HHMMSS-<preset or name>`.
pub fn new_run_id(label: &str) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}-{label}")
}

/// Unix seconds to UTC (year, month, day, hour, minute, second), after Howard Hinnant's
/// `civil_from_days`.
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

/// Why a run's config could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: bad config: {message}")]
    Config { path: String, message: String },
}

/// A run folder (`runs/<run-id>`). Cheap to make: nothing is read until asked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    pub const CONFIG: &'static str = "config.toml";
    pub const METRICS: &'static str = "metrics.jsonl";
    pub const EVENTS: &'static str = "events.jsonl";
    pub const CHECKPOINTS: &'static str = "checkpoints";
    /// A file in `checkpoints/` holding the file name of the newest step checkpoint.
    pub const LATEST: &'static str = "latest";
    /// The checkpoint with the best evaluation `exact_accuracy`.
    pub const BEST: &'static str = "best.safetensors";
    /// A generated task's CSVs (`train.csv`, `test.csv`).
    pub const DATA: &'static str = "data";

    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The run folder that holds `checkpoint` (`<run>/checkpoints/<file>`, with a
    /// `config.toml`), if it is in one.
    pub fn of_checkpoint(checkpoint: &Path) -> Option<Self> {
        let dir = checkpoint.parent()?;
        if dir.file_name()? != Self::CHECKPOINTS {
            return None;
        }
        let run = Self::new(dir.parent()?);
        run.config_path().is_file().then_some(run)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder's name (the run id).
    pub fn name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().to_string(),
        )
    }

    pub fn config_path(&self) -> PathBuf {
        self.path.join(Self::CONFIG)
    }
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join(Self::METRICS)
    }
    pub fn events_path(&self) -> PathBuf {
        self.path.join(Self::EVENTS)
    }
    pub fn data_dir(&self) -> PathBuf {
        self.path.join(Self::DATA)
    }
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.path.join(Self::CHECKPOINTS)
    }
    pub fn best_path(&self) -> PathBuf {
        self.checkpoints_dir().join(Self::BEST)
    }

    /// The file name of the checkpoint written after `step` optimizer steps.
    pub fn step_file_name(step: u64) -> String {
        format!("step_{step}.safetensors")
    }

    /// The step of a `step_N.safetensors` file name.
    pub fn step_of_file_name(name: &str) -> Option<u64> {
        name.strip_prefix("step_")?
            .strip_suffix(".safetensors")?
            .parse()
            .ok()
    }

    /// Create the folder and its `checkpoints/`.
    pub fn create(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(self.checkpoints_dir())
    }

    /// Whether the folder looks like a run (it has a config or a metrics file).
    pub fn is_run(&self) -> bool {
        self.config_path().is_file() || self.metrics_path().is_file()
    }

    /// The run's `config.toml`.
    pub fn read_config(&self) -> Result<TrainConfig, RunDirError> {
        let path = self.config_path();
        let text = std::fs::read_to_string(&path).map_err(|source| RunDirError::Read {
            path: path.display().to_string(),
            source,
        })?;
        TrainConfig::from_toml_str(&text).map_err(|e| RunDirError::Config {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Every complete record of `metrics.jsonl` and the bad lines (see [`read_metrics`]).
    pub fn read_metrics(&self) -> std::io::Result<(Vec<MetricRecord>, Vec<String>)> {
        read_metrics(&self.metrics_path())
    }

    /// The last readable record of `events.jsonl`.
    pub fn last_event(&self) -> Option<RunEvent> {
        let text = std::fs::read_to_string(self.events_path()).ok()?;
        text.lines()
            .rev()
            .find_map(|l| serde_json::from_str::<RunEvent>(l).ok())
    }

    /// The file name `checkpoints/latest` holds, if any.
    pub fn latest_name(&self) -> Option<String> {
        let name = std::fs::read_to_string(self.checkpoints_dir().join(Self::LATEST)).ok()?;
        let name = name.trim();
        (!name.is_empty()).then(|| name.to_string())
    }

    /// The checkpoint `checkpoints/latest` points to, if it exists.
    pub fn latest_checkpoint(&self) -> Option<PathBuf> {
        let p = self.checkpoints_dir().join(self.latest_name()?);
        p.is_file().then_some(p)
    }

    /// Point `checkpoints/latest` at `file_name` (atomically: the old pointer stays if the
    /// write fails).
    pub fn set_latest(&self, file_name: &str, writer: &dyn Writer) -> Result<(), WriteError> {
        write_atomic(
            &self.checkpoints_dir().join(Self::LATEST),
            file_name.as_bytes(),
            writer,
        )
    }

    /// Every `*.safetensors` in `checkpoints/`, sorted by file name.
    pub fn checkpoint_files(&self) -> Vec<PathBuf> {
        checkpoint_files_in(&self.checkpoints_dir())
    }

    /// The `step_N.safetensors` checkpoints with their steps, oldest first.
    pub fn step_checkpoints(&self) -> Vec<(u64, PathBuf)> {
        let mut steps: Vec<(u64, PathBuf)> = self
            .checkpoint_files()
            .into_iter()
            .filter_map(|p| {
                let step = Self::step_of_file_name(p.file_name()?.to_str()?)?;
                Some((step, p))
            })
            .collect();
        steps.sort();
        steps
    }

    /// Keep the `keep` newest step checkpoints (0 keeps all); `best` and the one `latest`
    /// names are never removed.
    pub fn prune(&self, keep: usize) {
        if keep == 0 {
            return;
        }
        let latest = self.latest_name();
        let steps = self.step_checkpoints();
        if steps.len() > keep {
            for (_, p) in &steps[..steps.len() - keep] {
                let is_latest = latest
                    .as_deref()
                    .is_some_and(|l| p.file_name().is_some_and(|n| n == l));
                if !is_latest {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
    }

    /// Remove the temporary files an interrupted write left in `checkpoints/` (a killed
    /// process cannot clean up after itself); returns what was removed.
    pub fn remove_stale_temp_files(&self) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(self.checkpoints_dir()) else {
            return Vec::new();
        };
        let mut removed = Vec::new();
        for p in rd.flatten().map(|e| e.path()) {
            let is_tmp = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(crate::util::atomic::is_temp_name);
            if is_tmp && std::fs::remove_file(&p).is_ok() {
                removed.push(p);
            }
        }
        removed
    }
}

/// Every `*.safetensors` directly in `dir` (a run's `checkpoints/` or the shipped folder),
/// sorted by file name; none when `dir` cannot be read.
pub fn checkpoint_files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors") && p.is_file())
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::atomic::Fs;

    #[test]
    fn layout_latest_and_prune() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::new(tmp.path().join("r1"));
        run.create().unwrap();
        assert!(!run.is_run());
        assert_eq!(run.latest_checkpoint(), None);
        for s in [10u64, 20, 30] {
            std::fs::write(run.checkpoints_dir().join(RunDir::step_file_name(s)), b"x").unwrap();
        }
        std::fs::write(run.best_path(), b"x").unwrap();
        run.set_latest(&RunDir::step_file_name(10), &Fs).unwrap();
        assert_eq!(
            run.latest_checkpoint(),
            Some(run.checkpoints_dir().join("step_10.safetensors"))
        );
        run.prune(1);
        let left: Vec<u64> = run.step_checkpoints().iter().map(|(s, _)| *s).collect();
        assert_eq!(
            left,
            vec![10, 30],
            "the newest and the one `latest` names stay"
        );
        assert!(run.best_path().is_file());
        assert_eq!(RunDir::step_of_file_name("step_7.safetensors"), Some(7));
        assert_eq!(RunDir::step_of_file_name("best.safetensors"), None);
    }

    #[test]
    fn of_checkpoint_needs_a_config_beside_checkpoints() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::new(tmp.path().join("r"));
        run.create().unwrap();
        let ck = run.checkpoints_dir().join("step_1.safetensors");
        assert_eq!(RunDir::of_checkpoint(&ck), None);
        std::fs::write(run.config_path(), "").unwrap();
        assert_eq!(RunDir::of_checkpoint(&ck), Some(run.clone()));
        assert_eq!(
            RunDir::of_checkpoint(&tmp.path().join("x.safetensors")),
            None
        );
    }

    #[test]
    fn checkpoint_meta_reads_the_keys() {
        let mut m = HashMap::new();
        m.insert(meta::STEP.to_string(), "12".to_string());
        m.insert(meta::BEST.to_string(), "0.5".to_string());
        m.insert(
            meta::FORMAT.to_string(),
            meta::CHECKPOINT_FORMAT.to_string(),
        );
        let c = CheckpointMeta::from_metadata(&m);
        assert_eq!(c.step, Some(12));
        assert_eq!(c.best_exact_accuracy, Some(0.5));
        assert!(c.resumable);
        assert_eq!(
            CheckpointMeta::from_metadata(&HashMap::new()),
            CheckpointMeta::default()
        );
    }
}
