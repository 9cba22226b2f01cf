//! Where a run's data comes from: a built dataset folder or puzzle file (`data.path`, read in
//! place), or a task generated from the config's seed (`data.generate`), written once into the
//! run folder as HF-layout CSVs (`data/train.csv`, `data/test.csv`; the test puzzles use their
//! own seed so they are never seen in training) and built in memory from there.

use std::path::Path;

use color_eyre::eyre::{bail, Result, WrapErr};

use super::config::DataConfig;
use super::engine::TrainData;
use crate::data::build::{
    build_csv, load_source, GridBuildConfig, LoadedData, Output, SourceOptions,
};
use crate::data::{maze, sudoku, Puzzle};

/// Seed offset of the held-out test puzzles of a generated task.
pub const TEST_SEED_OFFSET: u64 = 1_000_003;

/// Generate `count` puzzles of the configured task with `seed`.
pub fn generate_puzzles(cfg: &DataConfig, count: usize, seed: u64) -> Result<Vec<Puzzle>> {
    match cfg.generate.as_str() {
        "sudoku" => {
            let difficulty: sudoku::Difficulty = cfg
                .difficulty
                .parse()
                .map_err(|e: String| color_eyre::eyre::eyre!("data.difficulty: {e}"))?;
            Ok(sudoku::generate_many(cfg.size, difficulty, count, seed)
                .wrap_err("data.size / data.difficulty")?
                .into_iter()
                .enumerate()
                .map(|(i, g)| {
                    g.into_puzzle(format!(
                        "gen-sudoku{}-{}-s{seed}#{i}",
                        cfg.size, cfg.difficulty
                    ))
                })
                .collect())
        }
        "maze" => {
            let min_path = if cfg.min_path > 0 {
                cfg.min_path
            } else {
                maze::default_min_path(cfg.size, cfg.size)
            };
            let params = maze::MazeParams::square(cfg.size, min_path);
            Ok(maze::generate_many(&params, count, seed)
                .wrap_err("data.size / data.min_path")?
                .into_iter()
                .enumerate()
                .map(|(i, m)| m.into_puzzle(format!("gen-maze{}-s{seed}#{i}", cfg.size)))
                .collect())
        }
        other => bail!(
            "data.generate: unknown task `{other}` (expected sudoku or maze, or set data.path)"
        ),
    }
}

/// Load (or generate into `run_dir/data/`) the train and test splits of a run.
pub fn load_train_data(cfg: &DataConfig, run_dir: &Path) -> Result<TrainData> {
    let opts = SourceOptions {
        num_aug: cfg.augmentations,
        test_fraction: cfg.test_fraction,
        seed: cfg.seed,
    };
    let loaded: LoadedData = if !cfg.path.is_empty() {
        let path = Path::new(&cfg.path);
        if !path.exists() {
            bail!("data.path: {} does not exist", path.display());
        }
        if cfg.test_path.is_empty() {
            load_source(path, &opts)?
        } else {
            build_split_csvs(path, Path::new(&cfg.test_path), cfg)?
        }
    } else {
        let dir = run_dir.join("data");
        let train = dir.join("train.csv");
        let test = dir.join("test.csv");
        if !train.exists() || !test.exists() {
            std::fs::create_dir_all(&dir)
                .wrap_err_with(|| format!("{}: cannot create", dir.display()))?;
            let tr = generate_puzzles(cfg, cfg.train_count, cfg.seed)?;
            let te = generate_puzzles(cfg, cfg.test_count, cfg.seed + TEST_SEED_OFFSET)?;
            crate::data::csv::write_hf_csv(&train, &tr)?;
            crate::data::csv::write_hf_csv(&test, &te)?;
        }
        build_split_csvs(&train, &test, cfg)?
    };
    Ok(TrainData { loaded })
}

/// Build train and test splits in memory from a train CSV and a separate test CSV.
fn build_split_csvs(train: &Path, test: &Path, cfg: &DataConfig) -> Result<LoadedData> {
    let b = build_csv(
        &GridBuildConfig {
            train_files: vec![train.to_path_buf()],
            test_files: vec![test.to_path_buf()],
            test_fraction: cfg.test_fraction,
            num_aug: cfg.augmentations,
            seed: cfg.seed,
            ..GridBuildConfig::default()
        },
        Output::Memory,
    )?;
    into_loaded(b)
}

fn into_loaded(b: crate::data::build::Built) -> Result<LoadedData> {
    let split = |s: crate::data::dataset::FinishedSplit| -> Result<_> {
        let meta = s.meta;
        let ds = s
            .dataset
            .ok_or_else(|| color_eyre::eyre::eyre!("an in-memory build kept no data"))?;
        Ok((meta, ds))
    };
    Ok(LoadedData {
        kind: Some(b.kind),
        identifiers: b.identifiers,
        train: split(b.train)?,
        test: split(b.test)?,
    })
}
