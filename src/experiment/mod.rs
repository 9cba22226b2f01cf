//! Experiments: ablations as files. This module owns the experiment file format (a base
//! preset, shared overrides, seeds and variants, [`spec`]; the comparisons and contrasts it
//! declares, [`compare`]), running every (variant, seed) headless through the trainer into one
//! folder per run with a manifest, skipping finished runs and stopping cleanly ([`runner`]),
//! and the report read back from the runs' own metrics files: per-variant means, standard
//! deviations and 95% confidence intervals over seeds and the declared comparisons with their
//! verdicts, as a table, `report.md` and `report.csv` ([`report`], with the statistics in
//! [`stats`]), its figures ([`plots`]), and the final models evaluated with more supervision
//! steps than they were trained with ([`more_steps`]). The CLI (`trm-tui experiment`) and the
//! TUI's Experiments pane are thin layers over it.

pub mod compare;
pub mod jobs;
pub mod more_steps;
pub mod plots;
pub mod report;
pub mod runner;
pub mod spec;
pub mod stats;

pub use report::{Report, RunResult, RunStatus, Stat, VariantRow};
pub use runner::{Manifest, RunOptions, RunSummary, RunnerEvent, StopSignal};
pub use spec::{experiments_root, Experiment, PlannedRun, SpecError, Variant};
