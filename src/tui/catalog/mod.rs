//! The catalog: what the workbench finds on disk, in one place. Puzzle sets (files, built
//! datasets, generated), checkpoints (the shipped folder and every run's), run folders and
//! experiment folders. Panes ask the catalog instead of reading folders themselves; its calls
//! read the disk, so panes make them when the user or a message asks for a rescan, never while
//! drawing.

pub mod checkpoints;
pub mod puzzles;

use std::path::{Path, PathBuf};

pub use checkpoints::{checkpoints_in, CheckpointInfo, ModelShape};
pub use puzzles::{discover_all, generated_sets, puzzle_files, PuzzleSet};

use crate::train::RunDir;
use crate::tui::config::Paths;

/// The folders directly inside `dir` that `keep` accepts, sorted by name (none when `dir`
/// cannot be read).
fn subdirs(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && keep(p))
        .collect();
    dirs.sort();
    dirs
}

/// The run folders of the runs root, oldest name first; the experiments folder is not a run.
pub fn run_dirs(runs_dir: &Path) -> Vec<PathBuf> {
    subdirs(runs_dir, |p| {
        p.file_name()
            .is_none_or(|n| n != crate::experiment::spec::EXPERIMENTS_DIR)
    })
}

/// The run folders that have a metrics file (what the curves follow).
pub fn run_dirs_with_metrics(runs_dir: &Path) -> Vec<PathBuf> {
    subdirs(runs_dir, |p| RunDir::new(p).metrics_path().is_file())
}

/// The folders inside `dir` holding a file named `marker` (experiment folders).
pub fn dirs_holding(dir: &Path, marker: &str) -> Vec<PathBuf> {
    subdirs(dir, |p| p.join(marker).is_file())
}

/// The order of distinct models, the one to open on first: Sudoku models before others (the
/// paper's headline task, and the grid whose refinement reads best), larger grids first, then
/// the more accurate; unreadable files last.
pub fn showcase_order(a: &CheckpointInfo, b: &CheckpointInfo) -> std::cmp::Ordering {
    let key = |c: &CheckpointInfo| {
        let shape = c.model.as_ref();
        let sudoku = shape.is_some_and(|m| {
            [4, 6, 9]
                .iter()
                .any(|&n| m.seq_len == n * n && m.vocab_size == n + 2)
        });
        (
            shape.is_some(),
            sudoku,
            shape.map_or(0, |m| m.seq_len),
            c.best_exact.unwrap_or(f64::NEG_INFINITY),
        )
    };
    let (ka, kb) = (key(a), key(b));
    (kb.0, kb.1, kb.2)
        .cmp(&(ka.0, ka.1, ka.2))
        .then(kb.3.total_cmp(&ka.3))
}

/// A group of checkpoints: the folder they are in, named for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointGroup {
    /// `checkpoints (shipped)` or the run's folder name.
    pub name: String,
    pub checkpoints: Vec<CheckpointInfo>,
}

/// Every checkpoint: the shipped folder's first, in [`showcase_order`] (it holds distinct
/// models, not one run's history, and the solver opens on the first), then each run's, newest
/// run first.
pub fn all_checkpoints(paths: &Paths) -> Vec<CheckpointGroup> {
    let mut groups = Vec::new();
    let mut shipped = checkpoints_in(&paths.checkpoints_dir);
    shipped.sort_by(showcase_order);
    if !shipped.is_empty() {
        groups.push(CheckpointGroup {
            name: format!("{} (shipped)", Paths::display(&paths.checkpoints_dir)),
            checkpoints: shipped,
        });
    }
    for run in run_dirs(&paths.runs_dir).into_iter().rev() {
        let cks = checkpoints_in(&RunDir::new(&run).checkpoints_dir());
        if !cks.is_empty() {
            groups.push(CheckpointGroup {
                name: run
                    .file_name()
                    .map_or_else(|| Paths::display(&run), |n| n.to_string_lossy().into()),
                checkpoints: cks,
            });
        }
    }
    groups
}
