//! Dataset builders in the official layout (`dataset/common.py`; the builders are
//! `dataset/build_sudoku_dataset.py`, `build_maze_dataset.py` and `build_arc_dataset.py`),
//! seeded and reproducible.
//!
//! - Sudoku ([`build_sudoku`]): HF CSVs; the test split is either given files or a fraction of
//!   the source puzzles; the train split is optionally subsampled; each train group holds the
//!   original and `num_aug` shuffles (digits, bands/rows, stacks/columns, transpose), one example
//!   per puzzle; the test split is not augmented. One identifier (0, `<blank>`).
//! - Maze ([`build_maze`]): the same, with up to 7 distinct dihedral variants per train group.
//! - ARC ([`build_arc`]): the official split policy: demonstrations of every task go to train,
//!   test pairs of the `test_set_name` subset to test and of other subsets to train; each task
//!   gets up to `num_aug` distinct (by content hash) colour-permutation + dihedral variants (at
//!   most 5 * num_aug tries), each with its own identifier shared by both splits; train examples
//!   except one per puzzle are translated at random.
//!
//! Splits are by source puzzle: every augmentation of a puzzle is on the same side. Source
//! puzzles are de-duplicated by content, and puzzles of the test files are removed from train.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::arc::{self, ArcTask};
use super::augment::{self, ArcAug, SudokuShuffle};
use super::dataset::{write_json, Dataset, DatasetMetadata, FinishedSplit, SplitBuilder};
use super::sudoku::{stream_rng, Geometry};
use super::{csv, DataError, Grid, PuzzleKind, Result};

/// Where a build goes.
#[derive(Debug, Clone, Copy)]
pub enum Output<'a> {
    /// Write the folder (streaming the example arrays).
    Dir(&'a Path),
    /// Keep both splits in memory.
    Memory,
}

/// Counts of a build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildReport {
    /// Source puzzles (or ARC tasks) read.
    pub source_puzzles: usize,
    /// Exact duplicates dropped from the sources.
    pub duplicates_dropped: usize,
    /// Train puzzles dropped because they are also in the test files.
    pub test_overlap_dropped: usize,
    /// Groups whose augmentation came out short (duplicates by content hash).
    pub short_groups: usize,
}

/// A finished build.
#[derive(Debug, Clone)]
pub struct Built {
    pub kind: PuzzleKind,
    pub identifiers: Vec<String>,
    pub train: FinishedSplit,
    pub test: FinishedSplit,
    pub report: BuildReport,
}

/// Options of the Sudoku and Maze builders.
#[derive(Debug, Clone, PartialEq)]
pub struct GridBuildConfig {
    /// Source CSVs (HF layout) for the train split (and the test split if `test_files` is empty).
    pub train_files: Vec<PathBuf>,
    /// Source CSVs of the test split; when empty, `test_fraction` of the sources go to test.
    pub test_files: Vec<PathBuf>,
    pub test_fraction: f64,
    /// Sample this many train puzzles (before augmentation).
    pub subsample_size: Option<usize>,
    /// Augmented variants per train puzzle, besides the original.
    pub num_aug: usize,
    pub seed: u64,
}

impl Default for GridBuildConfig {
    fn default() -> Self {
        GridBuildConfig {
            train_files: Vec::new(),
            test_files: Vec::new(),
            test_fraction: 0.1,
            subsample_size: None,
            num_aug: 0,
            seed: 0,
        }
    }
}

type Pair = (Grid, Grid);

fn load_pairs(
    files: &[PathBuf],
    kind: &mut Option<PuzzleKind>,
    accept: &dyn Fn(PuzzleKind) -> bool,
    expected: &str,
) -> Result<Vec<Pair>> {
    let mut out = Vec::new();
    for f in files {
        let (k, puzzles) = csv::read_hf_csv(f)?;
        if !accept(k) {
            return Err(DataError::invalid(
                f,
                "line 2",
                format!("holds {k} puzzles, expected {expected}"),
            ));
        }
        match kind {
            Some(prev) if *prev != k => {
                return Err(DataError::invalid(
                    f,
                    "line 2",
                    format!("holds {k} puzzles, expected {prev} like the other files"),
                ))
            }
            _ => *kind = Some(k),
        }
        for (i, p) in puzzles.into_iter().enumerate() {
            let label = p.label.ok_or_else(|| {
                DataError::invalid(
                    f,
                    format!("row {} after the header", i + 1),
                    "answer is empty, expected a solution to build a dataset",
                )
            })?;
            out.push((p.input, label));
        }
    }
    Ok(out)
}

fn dedup(pairs: Vec<Pair>, seen: &mut HashSet<Vec<u8>>) -> (Vec<Pair>, usize) {
    let before = pairs.len();
    let kept: Vec<Pair> = pairs
        .into_iter()
        .filter(|(q, _)| seen.insert(q.cells.clone()))
        .collect();
    let dropped = before - kept.len();
    (kept, dropped)
}

fn to_u8(tokens: Vec<i32>) -> Vec<u8> {
    tokens.into_iter().map(|t| t as u8).collect()
}

fn check_grid_config(cfg: &GridBuildConfig) -> Result<()> {
    if cfg.train_files.is_empty() {
        return Err(DataError::Request(
            "no input files: expected at least one CSV".into(),
        ));
    }
    if !(0.0..1.0).contains(&cfg.test_fraction) {
        return Err(DataError::Request(format!(
            "test fraction {} is invalid: expected 0 <= f < 1",
            cfg.test_fraction
        )));
    }
    if cfg.subsample_size == Some(0) {
        return Err(DataError::Request(
            "subsample size 0: expected at least 1".into(),
        ));
    }
    Ok(())
}

/// Stream ids: 0 split shuffle, 1 subsample, 2^32 + g augmentations of train group g.
const AUG_STREAM: u64 = 1 << 32;

fn build_grid(
    cfg: &GridBuildConfig,
    output: Output,
    accept: &dyn Fn(PuzzleKind) -> bool,
    expected: &str,
) -> Result<Built> {
    check_grid_config(cfg)?;
    let mut kind = None;
    let mut report = BuildReport::default();
    let sources = load_pairs(&cfg.train_files, &mut kind, accept, expected)?;
    let tests = load_pairs(&cfg.test_files, &mut kind, accept, expected)?;
    report.source_puzzles = sources.len() + tests.len();
    let kind = kind.ok_or_else(|| DataError::Request("the input files hold no puzzles".into()))?;
    if cfg.num_aug > max_aug(kind) {
        return Err(DataError::Request(format!(
            "--num-aug {} is too many for {kind}: expected at most {} distinct variants",
            cfg.num_aug,
            max_aug(kind)
        )));
    }

    let mut seen = HashSet::new();
    let (mut train, test) = if cfg.test_files.is_empty() {
        let (mut all, d) = dedup(sources, &mut seen);
        report.duplicates_dropped = d;
        all.shuffle(&mut stream_rng(cfg.seed, 0));
        let k = (cfg.test_fraction * all.len() as f64).round() as usize;
        let train = all.split_off(k);
        (train, all)
    } else {
        let (test, d1) = dedup(tests, &mut seen);
        let before = sources.len();
        let mut train_seen = HashSet::new();
        let (train, d2) = dedup(sources, &mut train_seen);
        let train: Vec<Pair> = train
            .into_iter()
            .filter(|(q, _)| !seen.contains(&q.cells))
            .collect();
        report.duplicates_dropped = d1 + d2;
        report.test_overlap_dropped = before - d2 - train.len();
        (train, test)
    };
    if let Some(n) = cfg.subsample_size {
        if n < train.len() {
            train.shuffle(&mut stream_rng(cfg.seed, 1));
            train.truncate(n);
        }
    }
    let seq_len = kind.seq_len();
    let (mut tr, mut te) = match output {
        Output::Dir(dir) => (
            SplitBuilder::disk(&dir.join("train"), seq_len)?,
            SplitBuilder::disk(&dir.join("test"), seq_len)?,
        ),
        Output::Memory => (SplitBuilder::memory(seq_len), SplitBuilder::memory(seq_len)),
    };
    for (g, pair) in train.iter().enumerate() {
        let mut rng = stream_rng(cfg.seed, AUG_STREAM + g as u64);
        tr.push_example(&to_u8(kind.encode(&pair.0)), &to_u8(kind.encode(&pair.1)))?;
        tr.end_puzzle(0);
        let variants = grid_variants(kind, pair, cfg.num_aug, &mut rng);
        if variants.len() < cfg.num_aug {
            report.short_groups += 1;
        }
        for (q, a) in variants {
            tr.push_example(&to_u8(kind.encode(&q)), &to_u8(kind.encode(&a)))?;
            tr.end_puzzle(0);
        }
        tr.end_group();
    }
    for (q, a) in &test {
        te.push_example(&to_u8(kind.encode(q)), &to_u8(kind.encode(a)))?;
        te.end_puzzle(0);
        te.end_group();
    }
    let vocab = kind.vocab_size();
    let identifiers = vec!["<blank>".to_string()];
    if let Output::Dir(dir) = output {
        write_json(&dir.join("identifiers.json"), &identifiers)?;
    }
    Ok(Built {
        kind,
        identifiers,
        train: tr.finish(vocab, 1)?,
        test: te.finish(vocab, 1)?,
        report,
    })
}

/// Dihedral transforms that keep a `rows` x `cols` maze's shape.
fn maze_transforms(kind: PuzzleKind) -> Vec<u8> {
    match kind {
        PuzzleKind::Maze { rows, cols } if rows == cols => (1..8).collect(),
        _ => vec![2, 4, 5],
    }
}

/// Most variants a train puzzle of this kind can have.
fn max_aug(kind: PuzzleKind) -> usize {
    match kind {
        PuzzleKind::Maze { .. } => maze_transforms(kind).len(),
        _ => usize::MAX,
    }
}

/// `n` augmented variants of a source pair: Sudoku shuffles, or distinct dihedral transforms of
/// a maze (de-duplicated by content hash, so symmetric mazes get fewer).
fn grid_variants(kind: PuzzleKind, (q, a): &Pair, n: usize, rng: &mut ChaCha8Rng) -> Vec<Pair> {
    match kind {
        PuzzleKind::Sudoku { size } => {
            let Some(geo) = Geometry::new(size) else {
                return Vec::new();
            };
            (0..n)
                .map(|_| {
                    let s = SudokuShuffle::random(&geo, rng);
                    (s.apply(q), s.apply(a))
                })
                .collect()
        }
        PuzzleKind::Maze { .. } => {
            let mut ts = maze_transforms(kind);
            if n < ts.len() {
                ts.shuffle(rng);
                ts.truncate(n);
                ts.sort_unstable();
            }
            let mut seen = HashSet::from([augment::pairs_hash([(q, a)])]);
            ts.into_iter()
                .map(|t| (augment::dihedral(q, t), augment::dihedral(a, t)))
                .filter(|(vq, va)| seen.insert(augment::pairs_hash([(vq, va)])))
                .collect()
        }
        PuzzleKind::Arc => Vec::new(),
    }
}

/// Build a Sudoku dataset (any supported size) from HF CSVs.
pub fn build_sudoku(cfg: &GridBuildConfig, output: Output) -> Result<Built> {
    build_grid(
        cfg,
        output,
        &|k| matches!(k, PuzzleKind::Sudoku { .. }),
        "sudoku",
    )
}

/// Build a Maze dataset from HF CSVs; `num_aug` distinct dihedral variants per train maze
/// (at most 7 for square mazes: `num_aug = 7` is the official `aug=True`).
pub fn build_maze(cfg: &GridBuildConfig, output: Output) -> Result<Built> {
    build_grid(
        cfg,
        output,
        &|k| matches!(k, PuzzleKind::Maze { .. }),
        "mazes",
    )
}

/// Build from HF CSVs of either kind (all files must hold the same kind).
pub fn build_csv(cfg: &GridBuildConfig, output: Output) -> Result<Built> {
    build_grid(cfg, output, &|k| k != PuzzleKind::Arc, "sudoku or mazes")
}

/// Options of the ARC builder.
#[derive(Debug, Clone, PartialEq)]
pub struct ArcBuildConfig {
    /// `(subset name, ARC JSON file or folder)`, e.g. `("training", ".../training.json")`.
    pub subsets: Vec<(String, PathBuf)>,
    /// The subset whose test pairs form the test split.
    pub test_set_name: String,
    pub num_aug: usize,
    pub seed: u64,
}

/// Tries per requested ARC variant (the official `ARCAugmentRetriesFactor`).
pub const ARC_RETRIES_FACTOR: usize = 5;

struct ArcPuzzle {
    name: String,
    train: Vec<Pair>,
    test: Vec<Pair>,
}

fn arc_variants(
    task: &ArcTask,
    to_test: bool,
    num_aug: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<ArcPuzzle> {
    let mut train: Vec<Pair> = task
        .train
        .iter()
        .filter_map(|p| p.output.clone().map(|o| (p.input.clone(), o)))
        .collect();
    let mut test = Vec::new();
    for p in &task.test {
        match (&p.output, to_test) {
            (Some(o), true) => test.push((p.input.clone(), o.clone())),
            (Some(o), false) => train.push((p.input.clone(), o.clone())),
            // Unknown solution: a placeholder output in the test split (as the official builder
            // does); nothing to learn from in train.
            (None, true) => test.push((p.input.clone(), Grid::new(1, 1, vec![0]))),
            (None, false) => {}
        }
    }
    let hash =
        |tr: &[Pair], te: &[Pair]| augment::pairs_hash(tr.iter().chain(te).map(|(i, o)| (i, o)));
    let mut hashes = HashSet::from([hash(&train, &test)]);
    let mut group = vec![ArcPuzzle {
        name: task.id.clone(),
        train,
        test,
    }];
    for _ in 0..ARC_RETRIES_FACTOR * num_aug {
        if group.len() > num_aug {
            break;
        }
        let aug = ArcAug::random(rng);
        let map = |pairs: &[Pair]| -> Vec<Pair> {
            pairs
                .iter()
                .map(|(i, o)| (aug.apply(i), aug.apply(o)))
                .collect()
        };
        let (tr, te) = (map(&group[0].train), map(&group[0].test));
        if hashes.insert(hash(&tr, &te)) {
            group.push(ArcPuzzle {
                name: aug.name(&task.id),
                train: tr,
                test: te,
            });
        }
    }
    group
}

/// Build an ARC dataset with the official split policy.
pub fn build_arc(cfg: &ArcBuildConfig, output: Output) -> Result<Built> {
    if cfg.subsets.is_empty() {
        return Err(DataError::Request("no ARC subsets given".into()));
    }
    if !cfg.subsets.iter().any(|(n, _)| *n == cfg.test_set_name) {
        return Err(DataError::Request(format!(
            "test set {:?} is not one of the subsets ({})",
            cfg.test_set_name,
            cfg.subsets
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let seq_len = arc::CANVAS * arc::CANVAS;
    let (mut tr, mut te) = match output {
        Output::Dir(dir) => (
            SplitBuilder::disk(&dir.join("train"), seq_len)?,
            SplitBuilder::disk(&dir.join("test"), seq_len)?,
        ),
        Output::Memory => (SplitBuilder::memory(seq_len), SplitBuilder::memory(seq_len)),
    };
    let mut report = BuildReport::default();
    let mut identifiers = vec!["<blank>".to_string()];
    let mut ids: HashMap<String, i32> = HashMap::new();
    let mut test_tasks = Vec::new();
    let mut canvas_in = vec![0u8; seq_len];
    let mut canvas_out = vec![0u8; seq_len];
    let mut task_counter = 0u64;
    for (s, (subset, path)) in cfg.subsets.iter().enumerate() {
        let mut tasks = arc::read_tasks(path)?;
        tasks.shuffle(&mut stream_rng(cfg.seed, s as u64));
        let to_test = *subset == cfg.test_set_name;
        for task in tasks {
            report.source_puzzles += 1;
            let mut rng = stream_rng(cfg.seed, AUG_STREAM + task_counter);
            task_counter += 1;
            let group = arc_variants(&task, to_test, cfg.num_aug, &mut rng);
            if group.len() < cfg.num_aug + 1 {
                report.short_groups += 1;
            }
            for puzzle in &group {
                let id = *ids.entry(puzzle.name.clone()).or_insert_with(|| {
                    identifiers.push(puzzle.name.clone());
                    (identifiers.len() - 1) as i32
                });
                // Train: every example but one (`no_aug_id`) is translated.
                let no_aug = rng.gen_range(0..puzzle.train.len().max(1));
                for (k, (i, o)) in puzzle.train.iter().enumerate() {
                    let (r, c) = if k == no_aug {
                        (0, 0)
                    } else {
                        augment::random_offset(i, o, &mut rng)
                    };
                    arc::write_canvas(&mut canvas_in, i, r, c);
                    arc::write_canvas(&mut canvas_out, o, r, c);
                    tr.push_example(&canvas_in, &canvas_out)?;
                }
                tr.end_puzzle(id);
                if to_test && !puzzle.test.is_empty() {
                    for (i, o) in &puzzle.test {
                        arc::write_canvas(&mut canvas_in, i, 0, 0);
                        arc::write_canvas(&mut canvas_out, o, 0, 0);
                        te.push_example(&canvas_in, &canvas_out)?;
                    }
                    te.end_puzzle(id);
                }
            }
            tr.end_group();
            if to_test && !task.test.is_empty() {
                te.end_group();
                test_tasks.push(task);
            }
        }
    }
    let n_ids = identifiers.len();
    if let Output::Dir(dir) = output {
        write_json(&dir.join("identifiers.json"), &identifiers)?;
        arc::write_combined(&dir.join("test_puzzles.json"), &test_tasks)?;
    }
    Ok(Built {
        kind: PuzzleKind::Arc,
        identifiers,
        train: tr.finish(arc::VOCAB_SIZE, n_ids)?,
        test: te.finish(arc::VOCAB_SIZE, n_ids)?,
        report,
    })
}

/// Options for building a dataset on the fly from a puzzle file ([`load_source`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceOptions {
    /// Variants per train puzzle (Sudoku shuffles, Maze dihedral (at most 7), ARC variants).
    pub num_aug: usize,
    /// Sudoku/Maze: fraction of puzzles held out for test.
    pub test_fraction: f64,
    pub seed: u64,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            num_aug: 0,
            test_fraction: 0.1,
            seed: 0,
        }
    }
}

/// Train and test splits ready for the trainer.
#[derive(Debug, Clone)]
pub struct LoadedData {
    /// The puzzle kind (for decoding tokens), when it can be told from the source.
    pub kind: Option<PuzzleKind>,
    pub identifiers: Vec<String>,
    pub train: (DatasetMetadata, Dataset),
    pub test: (DatasetMetadata, Dataset),
}

/// The kind a built split holds, told from its vocabulary and sequence length (and, for the
/// vocabulary 6 that 4x4 Sudoku shares with Maze, from the first label: a maze label holds
/// exactly one S and one G token, a Sudoku label four of each digit).
pub fn infer_kind(meta: &DatasetMetadata, data: &Dataset) -> Option<PuzzleKind> {
    let side = super::maze::square_side(meta.seq_len)?;
    let maze = PuzzleKind::Maze {
        rows: side,
        cols: side,
    };
    match meta.vocab_size {
        12 if side == arc::CANVAS => Some(PuzzleKind::Arc),
        6 if side == 4 => {
            let label = data.labels.get(..meta.seq_len)?;
            let count = |t: i32| label.iter().filter(|&&x| x == t).count();
            if count(3) == 1 && count(4) == 1 {
                Some(maze)
            } else {
                Some(PuzzleKind::Sudoku { size: 4 })
            }
        }
        6 => Some(maze),
        v if v == side + 2 && Geometry::new(side).is_some() => {
            Some(PuzzleKind::Sudoku { size: side })
        }
        _ => None,
    }
}

/// Load a data source for training: an official built-dataset folder (read as is), a HF-layout
/// Sudoku or Maze CSV, or ARC JSON (a file of any layout or a folder of task files; its test
/// pairs form the test split). CSV and ARC sources are built in memory with `opts`.
pub fn load_source(path: &Path, opts: &SourceOptions) -> Result<LoadedData> {
    if path.is_dir() && super::dataset::is_built_dataset(path) {
        let b = super::dataset::load_built_dataset(path)?;
        return Ok(LoadedData {
            kind: infer_kind(&b.train.0, &b.train.1),
            identifiers: b.identifiers,
            train: b.train,
            test: b.test,
        });
    }
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let built = if is_csv {
        let cfg = GridBuildConfig {
            train_files: vec![path.to_path_buf()],
            test_fraction: opts.test_fraction,
            num_aug: opts.num_aug,
            seed: opts.seed,
            ..GridBuildConfig::default()
        };
        build_csv(&cfg, Output::Memory)?
    } else {
        let name = path
            .file_stem()
            .map_or_else(|| "arc".to_string(), |s| s.to_string_lossy().into_owned());
        let cfg = ArcBuildConfig {
            subsets: vec![(name.clone(), path.to_path_buf())],
            test_set_name: name,
            num_aug: opts.num_aug,
            seed: opts.seed,
        };
        build_arc(&cfg, Output::Memory)?
    };
    let split = |s: FinishedSplit| -> Result<(DatasetMetadata, Dataset)> {
        let ds = s
            .dataset
            .ok_or_else(|| DataError::Request("an in-memory build kept no data".into()))?;
        Ok((s.meta, ds))
    };
    Ok(LoadedData {
        kind: Some(built.kind),
        identifiers: built.identifiers,
        train: split(built.train)?,
        test: split(built.test)?,
    })
}
