//! The TRM model: configuration, layers, the recursive network, ACT halting, the loss head,
//! and weights I/O. It knows nothing of the terminal, of training loops or of data files.
//!
//! Submodules: [`config`] (official field names, validation, sizes), [`layers`] (differentiable
//! building blocks), [`fused`] (fused CPU kernels with hand-written backward), [`sgemm`] (the f32 matrix product
//! of the CPU path), [`team`] (the threads the CPU kernels fork and join on), [`net`] (parameters, init, one supervision step), [`act`] (persistent
//! batch carry and halting), [`loss`] (stable-max CE, BCE halting loss, metrics), [`weights`]
//! (safetensors and official checkpoint import), [`solve`] (step-by-step inference), [`host`]
//! (the counted device-to-host reads of the step path), [`atan2`] (the element-wise op candle
//! lacks, with a CUDA kernel).

pub mod act;
pub mod atan2;
pub mod config;
pub mod fused;
pub mod host;
pub mod layers;
pub mod loss;
pub mod net;
pub mod sgemm;
pub mod solve;
pub mod team;
pub mod weights;

pub use act::{ActCarry, ActOutput, Batch};
pub use config::{ConfigError, ForwardDtype, Latent, LossType, PosEncoding, TrmConfig};
pub use loss::{LossOutput, MetricSums};
pub use net::{InnerCarry, StepOutput, TrmModel};
pub use solve::{SolveStep, StepSolver};
