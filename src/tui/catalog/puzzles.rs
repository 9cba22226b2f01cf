//! Puzzle discovery: the puzzle files of the puzzles folder (`.csv`, `.json`), the built
//! dataset folders in it (their test split), and small generated sets when there is nothing
//! else, as named sets of puzzles. Bad files are reported, not fatal.

use std::path::{Path, PathBuf};

use crate::data::{Puzzle, PuzzleKind};
use crate::tui::config::Paths;

/// A list of puzzles to choose from.
#[derive(Debug, Clone)]
pub struct PuzzleSet {
    pub name: String,
    pub kind: PuzzleKind,
    pub puzzles: Vec<Puzzle>,
    /// Puzzle identifier of each puzzle (the model's puzzle embedding), for sets read from a
    /// built dataset; empty (all 0) otherwise.
    pub puzzle_ids: Vec<i32>,
}

impl PuzzleSet {
    /// The puzzle identifier of puzzle `idx` (0 when the set has none).
    pub fn puzzle_id(&self, idx: usize) -> i32 {
        self.puzzle_ids.get(idx).copied().unwrap_or(0)
    }
}

/// Most test examples shown from a built dataset folder.
pub const MAX_DATASET_PUZZLES: usize = 1000;

/// The puzzle files of a folder (`.csv`, `.json`), sorted; none when it cannot be read or is a
/// built dataset folder (whose `identifiers.json` is no puzzle file).
pub fn puzzle_files(dir: &Path) -> Vec<PathBuf> {
    if crate::data::dataset::is_built_dataset(dir) {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("json"))
        })
        .collect();
    paths.sort();
    paths
}

/// Every puzzle set of the puzzles folder (files, then built datasets), else the generated
/// sets; with the problems found (warnings, errors) for the Logs pane.
pub fn discover_all(dir: &Path, seed: u64) -> (Vec<PuzzleSet>, Vec<String>, Vec<String>) {
    let (mut sets, warnings) = discover_puzzle_sets(dir);
    let (datasets, errors) = discover_dataset_sets(dir);
    sets.extend(datasets);
    let mut warnings = warnings;
    if sets.is_empty() {
        let (gen, errs) = generated_sets(seed);
        warnings.extend(errs);
        sets.extend(gen);
    }
    (sets, warnings, errors)
}

/// Read every puzzle file in a folder (`.csv`, `.json`); bad files are reported, not fatal.
pub fn discover_puzzle_sets(dir: &Path) -> (Vec<PuzzleSet>, Vec<String>) {
    let mut sets = Vec::new();
    let mut errors = Vec::new();
    for p in puzzle_files(dir) {
        match crate::data::read_puzzle_file_lenient(&p, 20) {
            Ok((Some(file), errs)) => {
                for e in errs {
                    errors.push(e.to_string());
                }
                if file.puzzles.is_empty() {
                    errors.push(format!("{}: no puzzles", p.display()));
                    continue;
                }
                sets.push(PuzzleSet {
                    name: Paths::display(&p),
                    kind: file.kind,
                    puzzles: file.puzzles,
                    puzzle_ids: Vec::new(),
                });
            }
            Ok((None, errs)) => {
                errors.push(format!(
                    "{}: no readable puzzle ({} errors{})",
                    p.display(),
                    errs.len(),
                    errs.first()
                        .map(|e| format!(", first: {e}"))
                        .unwrap_or_default()
                ));
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    (sets, errors)
}

/// Built dataset folders (official layout: `train/`, `test/`, `identifiers.json`): `dir` itself
/// when it is one, else every folder directly inside it that is one. Each becomes a set of its
/// test split; a folder that cannot be read is reported, not fatal.
pub fn discover_dataset_sets(dir: &Path) -> (Vec<PuzzleSet>, Vec<String>) {
    use crate::data::dataset::is_built_dataset;
    let mut dirs: Vec<PathBuf> = if is_built_dataset(dir) {
        vec![dir.to_path_buf()]
    } else {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir() && is_built_dataset(p))
                    .collect()
            })
            .unwrap_or_default()
    };
    dirs.sort();
    let mut sets = Vec::new();
    let mut errors = Vec::new();
    for d in dirs {
        match dataset_puzzle_set(&d) {
            Ok((set, warnings)) => {
                errors.extend(warnings);
                sets.push(set);
            }
            Err(e) => errors.push(e),
        }
    }
    (sets, errors)
}

/// The token shown for an ignored label position (`-100`): the kind's blank (Sudoku blank,
/// maze open cell) or PAD (ARC).
fn blank_token(kind: PuzzleKind) -> i32 {
    match kind {
        PuzzleKind::Sudoku { .. } => 1,
        PuzzleKind::Maze { .. } => 2,
        PuzzleKind::Arc => 0,
    }
}

/// The test split of a built dataset folder as a puzzle set named after the folder: its first
/// [`MAX_DATASET_PUZZLES`] examples, decoded with the kind told from the metadata, each with its
/// puzzle identifier. Returns the set and warnings (examples that could not be decoded).
pub fn dataset_puzzle_set(dir: &Path) -> Result<(PuzzleSet, Vec<String>), String> {
    use crate::data::dataset::{load_dataset_dir, load_identifiers};
    let shown = Paths::display(dir);
    let name = dir
        .file_name()
        .map_or_else(|| shown.clone(), |n| n.to_string_lossy().into_owned());
    let (meta, data) =
        load_dataset_dir(&dir.join("test")).map_err(|e| format!("dataset {shown}: {e}"))?;
    let kind = crate::data::build::infer_kind(&meta, &data).ok_or_else(|| {
        format!(
            "dataset {shown}: cannot tell the puzzle kind (vocabulary {}, {} cells per example)",
            meta.vocab_size, meta.seq_len
        )
    })?;
    if kind.seq_len() != meta.seq_len {
        return Err(format!(
            "dataset {shown}: {} cells per example, a {kind} has {}",
            meta.seq_len,
            kind.seq_len()
        ));
    }
    // Names are optional: without identifiers.json the ids are shown as numbers.
    let identifiers = load_identifiers(dir).unwrap_or_default();
    let ignore = meta.ignore_label_id.unwrap_or(-100);
    let blank = blank_token(kind);
    let mut puzzles = Vec::new();
    let mut puzzle_ids = Vec::new();
    let mut bad = 0usize;
    let mut first_bad = None;
    'puzzles: for p in 0..data.num_puzzles() {
        let (Some(&start), Some(&end)) =
            (data.puzzle_indices.get(p), data.puzzle_indices.get(p + 1))
        else {
            break;
        };
        let pid = data.puzzle_identifiers.get(p).copied().unwrap_or(0);
        for e in start.max(0) as usize..(end.max(0) as usize).min(data.num_examples()) {
            if puzzles.len() + bad >= MAX_DATASET_PUZZLES {
                break 'puzzles;
            }
            let (inp, lab) = data.example(e);
            let label: Vec<i32> = lab
                .iter()
                .map(|&t| if t == ignore || t == -100 { blank } else { t })
                .collect();
            let input = match kind.decode(inp) {
                Ok(g) => g,
                Err(err) => {
                    bad += 1;
                    first_bad.get_or_insert_with(|| format!("test example {e}: {err}"));
                    continue;
                }
            };
            let ident = identifiers
                .get(pid.max(0) as usize)
                .filter(|n| !n.is_empty() && n.as_str() != "<blank>")
                .map_or_else(|| format!("id {pid}"), |n| n.clone());
            puzzles.push(Puzzle {
                name: format!("{name} test[{e}] {ident}"),
                kind,
                input,
                label: kind.decode(&label).ok(),
                rating: None,
            });
            puzzle_ids.push(pid);
        }
    }
    let mut warnings = Vec::new();
    if let Some(first) = first_bad {
        if puzzles.is_empty() {
            return Err(format!(
                "dataset {shown}: no test example could be decoded as {kind} ({bad}, first: {first})"
            ));
        }
        warnings.push(format!(
            "dataset {shown}: {bad} test examples skipped (first: {first})"
        ));
    }
    if puzzles.is_empty() {
        return Err(format!("dataset {shown}: the test split has no examples"));
    }
    Ok((
        PuzzleSet {
            name,
            kind,
            puzzles,
            puzzle_ids,
        },
        warnings,
    ))
}

/// Small puzzle sets made by the data layer's generators (seeded): always available, so the
/// solver works without any file.
pub fn generated_sets(seed: u64) -> (Vec<PuzzleSet>, Vec<String>) {
    use crate::data::{maze, sudoku};
    let mut sets = Vec::new();
    let mut errors = Vec::new();
    let mut sudokus =
        |size: usize, diff: sudoku::Difficulty, count: usize| match sudoku::generate_many(
            size, diff, count, seed,
        ) {
            Ok(g) => sets.push(PuzzleSet {
                name: format!("generated sudoku {size}x{size} {diff} (seed {seed})"),
                kind: PuzzleKind::Sudoku { size },
                puzzles: g
                    .into_iter()
                    .enumerate()
                    .map(|(i, g)| g.into_puzzle(format!("sudoku{size}-{diff}-{i}")))
                    .collect(),
                puzzle_ids: Vec::new(),
            }),
            Err(e) => errors.push(e.to_string()),
        };
    sudokus(4, sudoku::Difficulty::Easy, 8);
    sudokus(9, sudoku::Difficulty::Medium, 4);
    let side = 9;
    let params = maze::MazeParams::square(side, maze::default_min_path(side, side));
    match maze::generate_many(&params, 4, seed) {
        Ok(g) => sets.push(PuzzleSet {
            name: format!("generated maze {side}x{side} (seed {seed})"),
            kind: PuzzleKind::Maze {
                rows: side,
                cols: side,
            },
            puzzles: g
                .into_iter()
                .enumerate()
                .map(|(i, m)| m.into_puzzle(format!("maze{side}-{i}")))
                .collect(),
            puzzle_ids: Vec::new(),
        }),
        Err(e) => errors.push(e.to_string()),
    }
    (sets, errors)
}
