//! `trm-tui data build ...`: build datasets in the official on-disk layout.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand, ValueEnum};
use color_eyre::eyre::bail;

use crate::data::build::{self, ArcBuildConfig, Built, GridBuildConfig, Output};
use crate::data::shared_dir;

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Build a dataset folder (`identifiers.json`, `{train,test}/dataset.json`, `all__*.npy`)
    /// that the trainer, and the official TRM code, can read.
    #[command(subcommand)]
    Build(BuildCommand),
}

#[derive(Debug, Subcommand)]
pub enum BuildCommand {
    /// Sudoku from HF-layout CSVs (any of 4x4, 6x6, 9x9): digit/row/column/transpose shuffles.
    Sudoku(GridArgs),
    /// Maze from HF-layout CSVs: dihedral variants (`--num-aug 7` is the official `aug=True`).
    Maze(GridArgs),
    /// ARC with the official split policy, colour-permutation + dihedral variants, translations.
    Arc(ArcArgs),
}

#[derive(Debug, Args)]
pub struct GridArgs {
    /// Source CSVs (HF layout `source,question,answer,rating`).
    #[arg(long = "input", required = true, num_args = 1..)]
    pub inputs: Vec<PathBuf>,
    /// CSVs for the test split; without them `--test-fraction` of the sources go to test.
    #[arg(long = "test-input", num_args = 1..)]
    pub test_inputs: Vec<PathBuf>,
    /// Fraction of source puzzles held out for test when no `--test-input` is given.
    #[arg(long, default_value_t = 0.1)]
    pub test_fraction: f64,
    /// Keep this many train puzzles (sampled) before augmentation.
    #[arg(long)]
    pub subsample_size: Option<usize>,
    /// Augmented variants per train puzzle, besides the original.
    #[arg(long, default_value_t = 0)]
    pub num_aug: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ArcPreset {
    /// training + evaluation + concept, test set evaluation (960 tasks).
    Arc1,
    /// training2 + evaluation2 + concept, test set evaluation2 (1280 tasks).
    Arc2,
}

#[derive(Debug, Args)]
pub struct ArcArgs {
    /// Subsets as NAME=PATH (ARC JSON file of any layout, or a folder of task files).
    #[arg(long = "subset", value_name = "NAME=PATH", num_args = 1..)]
    pub subsets: Vec<String>,
    /// The official ARC-1 or ARC-2 subsets, read from $TRM_SHARED_DIR/data (default ../shared).
    #[arg(long, conflicts_with = "subsets")]
    pub preset: Option<ArcPreset>,
    /// The subset whose test pairs form the test split (default: the preset's).
    #[arg(long)]
    pub test_set_name: Option<String>,
    #[arg(long, default_value_t = 1000)]
    pub num_aug: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(cmd: DataCommand) -> color_eyre::Result<()> {
    let DataCommand::Build(what) = cmd;
    let start = Instant::now();
    let (out, built) = match what {
        BuildCommand::Sudoku(a) => {
            let cfg = grid_config(&a);
            (
                a.out.clone(),
                build::build_sudoku(&cfg, Output::Dir(&a.out))?,
            )
        }
        BuildCommand::Maze(a) => {
            let cfg = grid_config(&a);
            (a.out.clone(), build::build_maze(&cfg, Output::Dir(&a.out))?)
        }
        BuildCommand::Arc(a) => {
            let cfg = arc_config(&a)?;
            (a.out.clone(), build::build_arc(&cfg, Output::Dir(&a.out))?)
        }
    };
    summary(&out, &built, start.elapsed().as_secs_f64());
    Ok(())
}

fn grid_config(a: &GridArgs) -> GridBuildConfig {
    GridBuildConfig {
        train_files: a.inputs.clone(),
        test_files: a.test_inputs.clone(),
        test_fraction: a.test_fraction,
        subsample_size: a.subsample_size,
        num_aug: a.num_aug,
        seed: a.seed,
    }
}

fn arc_config(a: &ArcArgs) -> color_eyre::Result<ArcBuildConfig> {
    let data = shared_dir().join("data");
    let (subsets, default_test): (Vec<(String, PathBuf)>, Option<&str>) = match a.preset {
        Some(ArcPreset::Arc1) => (
            vec![
                ("training".into(), data.join("arc1/training.json")),
                ("evaluation".into(), data.join("arc1/evaluation.json")),
                ("concept".into(), data.join("conceptarc/corpus.json")),
            ],
            Some("evaluation"),
        ),
        Some(ArcPreset::Arc2) => (
            vec![
                ("training2".into(), data.join("arc2/training.json")),
                ("evaluation2".into(), data.join("arc2/evaluation.json")),
                ("concept".into(), data.join("conceptarc/corpus.json")),
            ],
            Some("evaluation2"),
        ),
        None => {
            let mut subsets = Vec::new();
            for s in &a.subsets {
                let Some((name, path)) = s.split_once('=') else {
                    bail!("--subset {s:?}: expected NAME=PATH, e.g. training=arc1/training.json");
                };
                if name.is_empty() || path.is_empty() {
                    bail!("--subset {s:?}: expected NAME=PATH with both parts non-empty");
                }
                subsets.push((name.to_string(), PathBuf::from(path)));
            }
            if subsets.is_empty() {
                bail!(
                    "no ARC subsets: pass --subset NAME=PATH (one or more) or --preset arc1|arc2"
                );
            }
            (subsets, None)
        }
    };
    let test_set_name = match (&a.test_set_name, default_test) {
        (Some(t), _) => t.clone(),
        (None, Some(t)) => t.to_string(),
        (None, None) => bail!("--test-set-name is required with --subset"),
    };
    Ok(ArcBuildConfig {
        subsets,
        test_set_name,
        num_aug: a.num_aug,
        seed: a.seed,
    })
}

fn summary(out: &Path, built: &Built, secs: f64) {
    println!(
        "built {} dataset in {} ({secs:.2}s)",
        built.kind,
        out.display()
    );
    for (name, split) in [("train", &built.train), ("test", &built.test)] {
        let m = &split.meta;
        println!(
            "  {name:<5} groups {:>7}  puzzles {:>9}  examples/puzzle {:>6.2}  seq_len {}  vocab {}",
            m.total_groups,
            m.total_puzzles.unwrap_or(0),
            m.mean_puzzle_examples,
            m.seq_len,
            m.vocab_size
        );
    }
    println!("  identifiers {}", built.identifiers.len());
    let r = &built.report;
    println!(
        "  sources {}, duplicates dropped {}, train puzzles dropped as in test {}, groups with fewer variants than asked {}",
        r.source_puzzles, r.duplicates_dropped, r.test_overlap_dropped, r.short_groups
    );
}
