//! The panes of the workbench, one component each.

pub mod curves;
pub mod experiments;
pub mod logs;
pub mod runs;
pub mod solver;
pub mod train;
