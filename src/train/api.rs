//! The typed messages between a trainer thread and whoever drives it (the TUI, the headless
//! CLI, tests): commands in, events out; plus the on-disk records of a run (`metrics.jsonl`,
//! `events.jsonl`) that the TUI reads back, also while a headless run is still writing them.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::state::TrainerState;
use crate::telemetry::GpuStats;

/// A command to a running trainer.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainCommand {
    Pause,
    Resume,
    /// Stop; write a final checkpoint first when `checkpoint`.
    Stop {
        checkpoint: bool,
    },
    CheckpointNow,
}

/// Live progress, sent at most a few times a second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub step: u64,
    pub total_steps: u64,
    pub epoch: f64,
    pub elapsed_s: f64,
    /// Estimated seconds to the last step at the recent rate.
    pub eta_s: Option<f64>,
    pub samples_per_s: f64,
    pub lr: f64,
    /// The device in use: `cpu` or `cuda:N` (what `auto` became).
    pub device: String,
    /// Resident memory of the process, bytes.
    pub memory_bytes: Option<u64>,
    /// CPU use of the process over about the last second, percent of one core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    /// The GPU of a run on CUDA (`None` on the CPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuStats>,
    /// Why a run on CUDA has no NVML figures (e.g. no libnvidia-ml).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_note: Option<String>,
}

/// What a trainer reports.
// A few events a second: boxing the large `Progress` would save nothing measurable.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum TrainerEvent {
    State(TrainerState),
    Progress(Progress),
    Metrics(MetricRecord),
    Event(RunEvent),
    /// A message for the logs. A failure is not logged: it arrives once, as
    /// [`TrainerState::Failed`].
    Log {
        level: Level,
        source: LogSource,
        message: String,
    },
}

/// Severity of a log message (the trainer's and the workbench's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn label(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// The part of the trainer a log message comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogSource {
    /// The run as a whole: the model and data summary, settings taken from the data.
    Trainer,
    /// Loading or generating the data.
    Data,
    /// The device and its telemetry.
    Device,
    /// Checkpoint writes.
    Checkpoint,
    /// The ranks of a data-parallel job.
    Dist,
}

impl LogSource {
    /// A short name (at most 8 characters) for a log column.
    pub fn label(self) -> &'static str {
        match self {
            LogSource::Trainer => "trainer",
            LogSource::Data => "data",
            LogSource::Device => "device",
            LogSource::Checkpoint => "ckpt",
            LogSource::Dist => "dist",
        }
    }
}

/// Which split a metric record was measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Eval,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Eval => "eval",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a run (one line of `events.jsonl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunEventKind {
    Start,
    Resume,
    Pause,
    Stop,
    Eval,
    Checkpoint,
    Finish,
    Error,
}

impl RunEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunEventKind::Start => "start",
            RunEventKind::Resume => "resume",
            RunEventKind::Pause => "pause",
            RunEventKind::Stop => "stop",
            RunEventKind::Eval => "eval",
            RunEventKind::Checkpoint => "checkpoint",
            RunEventKind::Finish => "finish",
            RunEventKind::Error => "error",
        }
    }
}

impl std::fmt::Display for RunEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of `metrics.jsonl`: one logged step of one split. `values` holds the official
/// metric names (`lm_loss`, `q_halt_loss`, `q_continue_loss`, `accuracy`, `exact_accuracy`,
/// `q_halt_accuracy`, `steps`) and extra ones (`lr`, `samples_per_s`, `memory_bytes`,
/// `maze_valid_path`, `ARC/pass@2`, ...; train records also `cpu_percent`, `load_avg` and, on a
/// GPU, the `gpu_*` figures of [`crate::telemetry::Snapshot::metric_values`]). A NaN is written
/// as `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRecord {
    pub step: u64,
    pub epoch: f64,
    /// Seconds since the run started (summed over resumed sessions).
    pub wall_s: f64,
    pub split: Split,
    #[serde(flatten)]
    pub values: BTreeMap<String, Option<f64>>,
}

/// Whether a metrics key is a figure of the machine (time, speed, memory, CPU use, load, GPU):
/// two trainings of the same deterministic run share every other figure, not these.
pub fn is_machine_metric(key: &str) -> bool {
    matches!(
        key,
        "wall_s" | "samples_per_s" | "memory_bytes" | "cpu_percent" | "load_avg" | "eval_seconds"
    ) || key.starts_with("gpu_")
}

impl MetricRecord {
    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.get(key).copied().flatten()
    }
}

/// One line of `events.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    pub kind: RunEventKind,
    pub step: u64,
    /// Unix time, seconds.
    pub time: f64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// Read every complete record of a `metrics.jsonl` (a partly written last line is skipped, so a
/// file that is being appended to can be read at any time). Bad lines are returned as errors
/// naming the file and line, after the good ones.
pub fn read_metrics(path: &Path) -> std::io::Result<(Vec<MetricRecord>, Vec<String>)> {
    let f = std::fs::File::open(path)?;
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let reader = std::io::BufReader::new(f);
    let mut lines = reader.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<MetricRecord>(&line) {
            Ok(r) => records.push(r),
            Err(e) => {
                let is_last = lines.peek().is_none();
                if !is_last {
                    errors.push(format!("{}:{}: {e}", path.display(), i + 1));
                }
            }
        }
    }
    Ok((records, errors))
}

/// Incremental reader of a growing `metrics.jsonl` (tail -f): remembers its byte offset and
/// returns only new complete lines.
#[derive(Debug, Clone)]
pub struct MetricsTail {
    pub path: PathBuf,
    offset: u64,
    partial: String,
}

impl MetricsTail {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            offset: 0,
            partial: String::new(),
        }
    }

    /// New records since the last call (empty if the file does not exist yet).
    pub fn poll(&mut self) -> Vec<MetricRecord> {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // Truncated or replaced: start over.
            self.offset = 0;
            self.partial.clear();
        }
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = String::new();
        if f.read_to_string(&mut buf).is_err() {
            return Vec::new();
        }
        self.offset += buf.len() as u64;
        self.partial.push_str(&buf);
        let mut out = Vec::new();
        while let Some(pos) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=pos).collect();
            if let Ok(r) = serde_json::from_str::<MetricRecord>(line.trim()) {
                out.push(r);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_nan_is_null() {
        let mut values = BTreeMap::new();
        values.insert("lm_loss".to_string(), Some(1.5));
        values.insert("accuracy".to_string(), None);
        let r = MetricRecord {
            step: 3,
            epoch: 0.5,
            wall_s: 2.0,
            split: Split::Train,
            values,
        };
        let s = serde_json::to_string(&r).unwrap();
        assert!(
            s.contains("\"lm_loss\":1.5") && s.contains("\"accuracy\":null"),
            "{s}"
        );
        let back: MetricRecord = serde_json::from_str(&s).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.get("accuracy"), None);
    }

    #[test]
    fn split_and_event_kind_keep_their_json_names() {
        let r = MetricRecord {
            step: 1,
            epoch: 0.0,
            wall_s: 0.0,
            split: Split::Eval,
            values: BTreeMap::new(),
        };
        assert!(serde_json::to_string(&r)
            .unwrap()
            .contains("\"split\":\"eval\""));
        let e: RunEvent =
            serde_json::from_str("{\"kind\":\"checkpoint\",\"step\":3,\"time\":1.0}").unwrap();
        assert_eq!(e.kind, RunEventKind::Checkpoint);
        assert_eq!(e.kind.to_string(), "checkpoint");
        assert!(
            serde_json::from_str::<RunEvent>("{\"kind\":\"bogus\",\"step\":3,\"time\":1.0}")
                .is_err()
        );
    }

    #[test]
    fn tail_returns_only_complete_new_lines() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.jsonl");
        let mut t = MetricsTail::new(&p);
        assert!(t.poll().is_empty());
        let mut f = std::fs::File::create(&p).unwrap();
        write!(f, "{{\"step\":1,\"epoch\":0,\"wall_s\":0,\"split\":\"train\",\"lm_loss\":2}}\n{{\"step\":2,").unwrap();
        f.flush().unwrap();
        let got = t.poll();
        assert_eq!(got.len(), 1);
        writeln!(
            f,
            "\"epoch\":0,\"wall_s\":1,\"split\":\"train\",\"lm_loss\":1}}"
        )
        .unwrap();
        f.flush().unwrap();
        let got = t.poll();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].step, 2);
        let (all, errs) = read_metrics(&p).unwrap();
        assert_eq!(all.len(), 2);
        assert!(errs.is_empty());
    }
}
