//! `trm-tui data fetch NAME...`: download the paper datasets' sources (see [`crate::fetch`]);
//! `trm-tui data build ...`: build datasets in the official on-disk layout, from files given
//! on the command line or (`--preset NAME`) from the fetched sources with the official settings.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand, ValueEnum};
use color_eyre::eyre::{bail, eyre};

use crate::data::build::{self, ArcBuildConfig, Built, GridBuildConfig, Output};
use crate::data::shared_dir;
use crate::fetch::paper::{self, Recipe};
use crate::fetch::{self, FetchOptions, SourceId, SOURCES};

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Download the sources of the paper datasets into the data directory ($TRM_TUI_DATA, else
    /// the platform's data directory): resumable, checked, never a half-written file.
    Fetch(FetchArgs),
    /// Build a dataset folder (`identifiers.json`, `{train,test}/dataset.json`, `all__*.npy`)
    /// that the trainer, and the official TRM code, can read.
    Build(BuildArgs),
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Sources: sudoku-extreme, maze-hard, arc1, arc2, conceptarc, or `all`.
    #[arg(required = true, num_args = 1.., value_name = "NAME")]
    pub names: Vec<String>,
    /// Do not use the network (also `HF_HUB_OFFLINE=1`): take files already on disk or in the
    /// Hugging Face cache, and say what is missing and where to put it.
    #[arg(long)]
    pub offline: bool,
    /// A revision (Hub branch or commit; GitHub commit) other than the pinned one. ARC files
    /// of another commit are not checked against the pinned commit's digest and task counts.
    #[arg(long)]
    pub revision: Option<String>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BuildArgs {
    /// Build a paper preset's dataset (sudoku-extreme-mlp, sudoku-extreme-att, maze-hard, arc1,
    /// arc2) from the fetched sources, with the official settings, into the data directory's
    /// `datasets/`, where `train --preset NAME` finds it.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    #[command(subcommand)]
    pub what: Option<BuildCommand>,
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
    let what = match cmd {
        DataCommand::Fetch(args) => return run_fetch(&args),
        DataCommand::Build(BuildArgs {
            preset: Some(preset),
            ..
        }) => return run_build_preset(&preset),
        DataCommand::Build(BuildArgs {
            what: Some(what), ..
        }) => what,
        DataCommand::Build(BuildArgs {
            preset: None,
            what: None,
        }) => bail!(
            "data build: give --preset NAME ({}) or one of the subcommands sudoku, maze, arc",
            paper::preset_names().join(", ")
        ),
    };
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

/// The sources named on the command line (`all`: every one), in catalogue order.
fn sources(names: &[String]) -> color_eyre::Result<Vec<SourceId>> {
    let mut ids = Vec::new();
    for n in names {
        if n == "all" {
            ids.extend(SOURCES.iter().map(|s| s.id));
        } else {
            ids.push(
                n.parse::<SourceId>()
                    .map_err(|e| eyre!("data fetch: {e}"))?,
            );
        }
    }
    let mut ordered: Vec<SourceId> = SOURCES.iter().map(|s| s.id).collect();
    ordered.retain(|id| ids.contains(id));
    Ok(ordered)
}

fn run_fetch(args: &FetchArgs) -> color_eyre::Result<()> {
    let ids = sources(&args.names)?;
    let mut opts = FetchOptions::from_env();
    opts.offline |= args.offline;
    opts.revision = args.revision.clone();
    for id in ids {
        let done = fetch::fetch(id, &opts)?;
        let names = |v: &[std::path::PathBuf]| {
            v.iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if done.written.is_empty() {
            println!(
                "{id}: already fetched in {} ({})",
                done.dir.display(),
                names(&done.present)
            );
        } else {
            println!(
                "{id}: fetched {} into {}",
                names(&done.written),
                done.dir.display()
            );
        }
    }
    Ok(())
}

fn run_build_preset(preset: &str) -> color_eyre::Result<()> {
    let Some(data) = paper::for_preset(preset) else {
        bail!(
            "data build --preset {preset}: not a paper preset (known: {})",
            paper::preset_names().join(", ")
        );
    };
    let root = fetch::data_root();
    let start = Instant::now();
    let (out, built) = data.build(preset, &root)?;
    summary(&out, &built, start.elapsed().as_secs_f64());
    println!("  train with: trm-tui train --preset {preset}");
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
    let recipe = a.preset.map(|p| match p {
        ArcPreset::Arc1 => Recipe::Arc1,
        ArcPreset::Arc2 => Recipe::Arc2,
    });
    let (subsets, default_test): (Vec<(String, PathBuf)>, Option<&str>) = match recipe {
        Some(r) => {
            let (subsets, test) =
                paper::arc_subsets(&data, r).ok_or_else(|| eyre!("{r:?} is not an ARC set"))?;
            (subsets, Some(test))
        }
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
