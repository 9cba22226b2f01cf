//! The training engine: the official recipe (AdamATan2 + sparse sign-SGD, warmup/cosine
//! schedule, EMA, persistent ACT carry), runs on disk (`runs/<id>/`), checkpoints, evaluation,
//! presets, and a trainer thread driven by typed messages through a pure state machine.
//! Nothing here knows about the terminal.

pub mod api;
pub mod arc_eval;
pub mod config;
pub mod device;
pub mod engine;
pub mod optim;
pub mod presets;
pub mod run_dir;
pub mod sampler;
pub mod source;
pub mod state;
pub mod test_time;
pub mod trainer;

pub use api::{
    Level, LogSource, MetricRecord, Progress, RunEvent, RunEventKind, Split, TrainCommand,
    TrainerEvent,
};
pub use config::{DataConfig, OptimizerKind, TrainConfig};
pub use run_dir::RunDir;
pub use state::TrainerState;
