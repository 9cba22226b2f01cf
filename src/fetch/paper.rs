//! The paper presets' datasets: the fetched sources each is built from, the official build
//! settings, and where the built folder lives (`<data root>/datasets/<dataset>`), so that
//! `trm-tui data build --preset NAME` writes it and `train --preset NAME` finds it.
//!
//! Official settings (the TRM README's build commands):
//! - Sudoku-Extreme: `build_sudoku_dataset.py --subsample-size 1000 --num-aug 1000`, the Hub's
//!   train.csv and test.csv (test not subsampled, not augmented);
//! - Maze-Hard: `build_maze_dataset.py` with its defaults: `aug=False` (the README's comment
//!   says "8 augments", but its command passes no flag and the output folder has no "aug");
//! - ARC-1: `build_arc_dataset.py --subsets training evaluation concept --test-set-name
//!   evaluation` with the default 1000 augmentations; ARC-2 the same over training2,
//!   evaluation2, concept with test set evaluation2.

use std::path::{Path, PathBuf};

use super::catalog::SourceId;
use crate::data::build::{self, ArcBuildConfig, Built, GridBuildConfig, Output};
use crate::data::dataset::is_built_dataset;
use crate::data::{DataError, Result};

/// Which builder a paper dataset uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipe {
    Sudoku,
    Maze,
    Arc1,
    Arc2,
}

/// A paper dataset.
#[derive(Debug, Clone, Copy)]
pub struct PaperData {
    /// The presets that train on it.
    pub presets: &'static [&'static str],
    /// Its folder name, as in the official commands' `--output-dir data/<dataset>`.
    pub dataset: &'static str,
    pub sources: &'static [SourceId],
    pub recipe: Recipe,
}

pub const PAPER_DATA: &[PaperData] = &[
    PaperData {
        presets: &["sudoku-extreme-mlp", "sudoku-extreme-att"],
        dataset: "sudoku-extreme-1k-aug-1000",
        sources: &[SourceId::SudokuExtreme],
        recipe: Recipe::Sudoku,
    },
    PaperData {
        presets: &["maze-hard"],
        dataset: "maze-30x30-hard-1k",
        sources: &[SourceId::MazeHard],
        recipe: Recipe::Maze,
    },
    PaperData {
        presets: &["arc1"],
        dataset: "arc1concept-aug-1000",
        sources: &[SourceId::Arc1, SourceId::ConceptArc],
        recipe: Recipe::Arc1,
    },
    PaperData {
        presets: &["arc2"],
        dataset: "arc2concept-aug-1000",
        sources: &[SourceId::Arc2, SourceId::ConceptArc],
        recipe: Recipe::Arc2,
    },
];

/// The paper dataset of a preset, if it is a paper preset.
pub fn for_preset(preset: &str) -> Option<&'static PaperData> {
    PAPER_DATA.iter().find(|d| d.presets.contains(&preset))
}

/// The names of the presets that can be built.
pub fn preset_names() -> Vec<&'static str> {
    PAPER_DATA
        .iter()
        .flat_map(|d| d.presets.iter().copied())
        .collect()
}

/// The official ARC subsets (name, combined file) and test set, read from `base` laid out as
/// `arc1/{training,evaluation}.json`, `arc2/...`, `conceptarc/corpus.json` (the fetched
/// `sources/` folder, or the shared reference data).
pub fn arc_subsets(base: &Path, recipe: Recipe) -> Option<(Vec<(String, PathBuf)>, &'static str)> {
    let (set, suffix, test) = match recipe {
        Recipe::Arc1 => ("arc1", "", "evaluation"),
        Recipe::Arc2 => ("arc2", "2", "evaluation2"),
        Recipe::Sudoku | Recipe::Maze => return None,
    };
    Some((
        vec![
            (
                format!("training{suffix}"),
                base.join(set).join("training.json"),
            ),
            (
                format!("evaluation{suffix}"),
                base.join(set).join("evaluation.json"),
            ),
            (
                "concept".into(),
                base.join("conceptarc").join("corpus.json"),
            ),
        ],
        test,
    ))
}

impl PaperData {
    /// `<root>/datasets/<dataset>`.
    pub fn dir(&self, root: &Path) -> PathBuf {
        root.join("datasets").join(self.dataset)
    }

    /// Sources not (completely) fetched under `root`.
    pub fn missing_sources(&self, root: &Path) -> Vec<SourceId> {
        self.sources
            .iter()
            .copied()
            .filter(|s| !s.source().missing(root).is_empty())
            .collect()
    }

    /// The commands that fetch the sources and build the dataset of `preset`.
    pub fn commands(&self, preset: &str) -> Vec<String> {
        let names: Vec<&str> = self.sources.iter().map(|s| s.name()).collect();
        vec![
            format!("trm-tui data fetch {}", names.join(" ")),
            format!("trm-tui data build --preset {preset}"),
        ]
    }

    /// What a user reads when the dataset of `preset` is missing: where it was looked for
    /// and the commands that make it.
    pub fn missing_message(&self, preset: &str, configured: &str, root: &Path) -> String {
        format!(
            "{preset}: its dataset {} is not built (looked in {} and {}); make it with:\n  {}",
            self.dataset,
            configured,
            self.dir(root).display(),
            self.commands(preset).join("\n  ")
        )
    }

    /// The build settings, reading the fetched sources under `root`.
    fn config(&self, root: &Path) -> Config {
        let sources = root.join("sources");
        match self.recipe {
            Recipe::Sudoku | Recipe::Maze => {
                let dir = self.sources[0].source().dir(root);
                let sudoku = self.recipe == Recipe::Sudoku;
                Config::Grid(GridBuildConfig {
                    train_files: vec![dir.join("train.csv")],
                    test_files: vec![dir.join("test.csv")],
                    subsample_size: sudoku.then_some(1000),
                    num_aug: if sudoku { 1000 } else { 0 },
                    seed: 0,
                    ..GridBuildConfig::default()
                })
            }
            Recipe::Arc1 | Recipe::Arc2 => {
                let (subsets, test) =
                    arc_subsets(&sources, self.recipe).expect("ARC recipes have subsets");
                Config::Arc(ArcBuildConfig {
                    subsets,
                    test_set_name: test.into(),
                    num_aug: 1000,
                    seed: 42,
                })
            }
        }
    }

    /// Build the dataset of `preset` from the sources fetched under `root` into
    /// [`PaperData::dir`]. The folder is written as `<dir>.building` and renamed when complete,
    /// so a half-built dataset is never found under the final name.
    pub fn build(&self, preset: &str, root: &Path) -> Result<(PathBuf, Built)> {
        let missing = self.missing_sources(root);
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|s| s.name()).collect();
            return Err(DataError::Request(format!(
                "{preset}: sources not fetched: {} (under {}); run `trm-tui data fetch {}` first",
                names.join(", "),
                root.join("sources").display(),
                names.join(" ")
            )));
        }
        let dir = self.dir(root);
        let mut tmp = dir.clone().into_os_string();
        tmp.push(".building");
        let tmp = PathBuf::from(tmp);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| DataError::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| DataError::io(&tmp, e))?;
        let built = match self.config(root) {
            Config::Grid(c) if self.recipe == Recipe::Sudoku => {
                build::build_sudoku(&c, Output::Dir(&tmp))?
            }
            Config::Grid(c) => build::build_maze(&c, Output::Dir(&tmp))?,
            Config::Arc(c) => build::build_arc(&c, Output::Dir(&tmp))?,
        };
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
        }
        std::fs::rename(&tmp, &dir).map_err(|e| DataError::io(&dir, e))?;
        Ok((dir, built))
    }
}

enum Config {
    Grid(GridBuildConfig),
    Arc(ArcBuildConfig),
}

/// Where the dataset of a paper preset is: `configured` (the preset's `data.path`, the
/// official relative `data/<dataset>`) when it exists, else the built folder under `root`.
/// `None` for presets that are not paper presets; `Some(Err(message))` when it is not built.
pub fn locate(preset: &str, configured: &str, root: &Path) -> Option<Result<PathBuf, String>> {
    let paper = for_preset(preset)?;
    let configured_path = Path::new(configured);
    if configured_path.exists() {
        return Some(Ok(configured_path.to_path_buf()));
    }
    let dir = paper.dir(root);
    if is_built_dataset(&dir) {
        Some(Ok(dir))
    } else {
        Some(Err(paper.missing_message(preset, configured, root)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_paper_preset_is_a_preset_with_the_same_dataset_folder() {
        for d in PAPER_DATA {
            for p in d.presets {
                let cfg = crate::train::presets::get(p).unwrap_or_else(|| panic!("{p}"));
                assert_eq!(cfg.data.path, format!("data/{}", d.dataset), "{p}");
            }
        }
        assert!(for_preset("smoke").is_none());
    }

    #[test]
    fn a_missing_dataset_names_both_commands_and_a_built_one_is_found() {
        let root = tempfile::tempdir().unwrap();
        let err = locate("arc1", "data/nowhere", root.path())
            .unwrap()
            .unwrap_err();
        assert!(err.contains("trm-tui data fetch arc1 conceptarc"), "{err}");
        assert!(err.contains("trm-tui data build --preset arc1"), "{err}");
        let dir = for_preset("arc1").unwrap().dir(root.path());
        std::fs::create_dir_all(dir.join("train")).unwrap();
        std::fs::write(dir.join("train/dataset.json"), "{}").unwrap();
        assert_eq!(locate("arc1", "data/nowhere", root.path()), Some(Ok(dir)));
        assert_eq!(locate("smoke", "", root.path()), None);
    }
}
