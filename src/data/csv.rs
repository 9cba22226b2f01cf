//! The Hugging Face CSV layout of sapientinc/sudoku-extreme and sapientinc/maze-30x30-hard-1k:
//! a header `source,question,answer,rating`, then one puzzle per row. Fields are never trimmed
//! (maze strings start and end with spaces). A UTF-8 BOM and CRLF line endings are accepted.
//!
//! The kind is detected from the first row: a question of 16, 36 or 81 characters over digits and
//! `.` is a 4x4, 6x6 or 9x9 Sudoku; a square string over `# SG` is a maze. Every row is then
//! checked: lengths, characters, and that the answer (when present) is a valid solution that
//! keeps the clues (Sudoku) or marks a shortest path (Maze).

use std::io::Write;
use std::path::Path;

use super::{maze, sudoku, DataError, Grid, Puzzle, PuzzleKind, Result};

pub const HEADER: [&str; 4] = ["source", "question", "answer", "rating"];

struct Columns {
    source: Option<usize>,
    question: usize,
    answer: usize,
    rating: Option<usize>,
}

fn columns(path: &Path, header: &csv::StringRecord) -> Result<Columns> {
    let find = |name: &str| header.iter().position(|h| h == name);
    match (find("question"), find("answer")) {
        (Some(question), Some(answer)) => Ok(Columns {
            source: find("source"),
            question,
            answer,
            rating: find("rating"),
        }),
        _ => Err(DataError::invalid(
            path,
            "line 1",
            format!(
                "header is {:?}, expected `source,question,answer,rating`",
                header.iter().collect::<Vec<_>>().join(",")
            ),
        )),
    }
}

/// 1-based line numbers from byte offsets, counted incrementally (the csv crate's own line
/// numbers are off by one after CRLF line endings).
#[derive(Default)]
struct LineCounter {
    offset: usize,
    line: u64,
}

impl LineCounter {
    fn line_at(&mut self, bytes: &[u8], mut offset: usize) -> u64 {
        // A record position may point at the `\n` of the CRLF ending the previous record.
        while offset < bytes.len() && (bytes[offset] == b'\n' || bytes[offset] == b'\r') {
            offset += 1;
        }
        let offset = offset.min(bytes.len());
        if offset < self.offset {
            self.offset = 0;
            self.line = 0;
        }
        self.line += bytes[self.offset..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        self.offset = offset;
        self.line + 1
    }
}

fn csv_error(path: &Path, line: u64, e: &csv::Error) -> DataError {
    let line = format!("line {line}");
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("has {len} fields, expected {expected_len} like the header"),
        csv::ErrorKind::Utf8 { err, .. } => format!("is not valid UTF-8 ({err})"),
        _ => format!("malformed CSV: {e}"),
    };
    DataError::invalid(path, line, message)
}

/// Detect the kind of puzzle from a question string: by majority, digits and `.` make a
/// Sudoku (16, 36 or 81 characters: 4x4, 6x6, 9x9) and `# SGo` a maze (a square number of
/// characters); the row's own parse then reports any stray character precisely.
pub fn detect_kind(question: &str) -> Result<PuzzleKind, String> {
    let n = question.chars().count();
    let sudoku_like = question
        .chars()
        .filter(|&c| c == '.' || c.is_ascii_digit())
        .count();
    let maze_like = question
        .chars()
        .filter(|&c| matches!(c, '#' | ' ' | 'S' | 'G' | 'o'))
        .count();
    if n == 0 {
        return Err("question is empty, expected a sudoku or maze string".to_string());
    }
    if sudoku_like >= maze_like {
        let size = match n {
            16 => 4,
            36 => 6,
            81 => 9,
            _ => {
                return Err(format!(
                    "question has {n} characters, expected 16, 36 or 81 (a 4x4, 6x6 or 9x9 \
                     sudoku)"
                ))
            }
        };
        return Ok(PuzzleKind::Sudoku { size });
    }
    match maze::square_side(n) {
        Some(side) => Ok(PuzzleKind::Maze {
            rows: side,
            cols: side,
        }),
        None => Err(format!(
            "question has {n} characters, expected a square number for a maze (e.g. 900 for \
             30x30)"
        )),
    }
}

/// Parse one question/answer pair of a known kind; `Err` says what is wrong.
pub fn parse_pair(
    kind: PuzzleKind,
    question: &str,
    answer: &str,
) -> Result<(Grid, Option<Grid>), String> {
    match kind {
        PuzzleKind::Sudoku { size } => {
            let q =
                sudoku::parse_cells(question, size, true).map_err(|e| format!("question {e}"))?;
            if answer.is_empty() {
                return Ok((q, None));
            }
            let a = sudoku::parse_cells(answer, size, false).map_err(|e| format!("answer {e}"))?;
            let geo = sudoku::Geometry::checked(size).map_err(|e| e.to_string())?;
            if let Some(e) = sudoku::solution_error(&geo, &a) {
                return Err(format!("answer is not a valid solution: {e}"));
            }
            if let Some(i) =
                (0..q.cells.len()).find(|&i| q.cells[i] != 0 && q.cells[i] != a.cells[i])
            {
                return Err(format!(
                    "answer changes the clue at r{}c{} ({} -> {}), expected it kept",
                    i / size + 1,
                    i % size + 1,
                    q.cells[i],
                    a.cells[i]
                ));
            }
            Ok((q, Some(a)))
        }
        PuzzleKind::Maze { rows, cols } => {
            let q = maze::parse_cells(question, rows, cols, false)
                .map_err(|e| format!("question {e}"))?;
            if let Err(e) = maze::endpoints(&q) {
                return Err(format!("question {e}"));
            }
            if answer.is_empty() {
                return Ok((q, None));
            }
            let a =
                maze::parse_cells(answer, rows, cols, true).map_err(|e| format!("answer {e}"))?;
            if let Some(e) = maze::example_error(&q, &a) {
                return Err(e);
            }
            Ok((q, Some(a)))
        }
        PuzzleKind::Arc => Err("ARC puzzles are not stored in CSV files".to_string()),
    }
}

/// Read a HF-layout CSV of Sudoku or Maze puzzles; the first bad row is an error.
pub fn read_hf_csv(path: &Path) -> Result<(PuzzleKind, Vec<Puzzle>)> {
    let read = read_hf_csv_lenient(path, 1)?;
    if let Some(e) = read.errors.into_iter().next() {
        return Err(e);
    }
    let kind = read.kind.ok_or_else(|| {
        DataError::invalid(
            path,
            "line 2",
            "no puzzles after the header, expected at least one row",
        )
    })?;
    Ok((kind, read.puzzles))
}

/// What [`read_hf_csv_lenient`] read: the good rows and the errors of the bad ones.
#[derive(Debug)]
pub struct CsvRead {
    /// Detected from the first good row.
    pub kind: Option<PuzzleKind>,
    pub puzzles: Vec<Puzzle>,
    pub errors: Vec<DataError>,
}

/// Read a HF-layout CSV, recording bad rows (up to `max_errors`, then stopping) instead of
/// failing; an unreadable file or header is still an `Err`.
pub fn read_hf_csv_lenient(path: &Path, max_errors: usize) -> Result<CsvRead> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::None)
        .from_reader(bytes);
    let mut records = reader.records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(csv_error(path, 1, &e)),
        None => {
            return Err(DataError::invalid(
                path,
                "line 1",
                "the file is empty, expected the header `source,question,answer,rating`",
            ))
        }
    };
    let cols = columns(path, &header)?;
    let mut out = CsvRead {
        kind: None,
        puzzles: Vec::new(),
        errors: Vec::new(),
    };
    let mut lines = LineCounter::default();
    for rec in records {
        if out.errors.len() >= max_errors {
            break;
        }
        let line = match &rec {
            Ok(r) => r
                .position()
                .map(|p| lines.line_at(bytes, p.byte() as usize)),
            Err(e) => e
                .position()
                .map(|p| lines.line_at(bytes, p.byte() as usize)),
        };
        match read_row(path, &cols, rec, line.unwrap_or(0), &mut out.kind) {
            Ok(p) => out.puzzles.push(p),
            Err(e) => out.errors.push(e),
        }
    }
    Ok(out)
}

fn read_row(
    path: &Path,
    cols: &Columns,
    rec: std::result::Result<csv::StringRecord, csv::Error>,
    line: u64,
    kind: &mut Option<PuzzleKind>,
) -> Result<Puzzle> {
    let rec = rec.map_err(|e| csv_error(path, line, &e))?;
    let at = format!("line {line}");
    let field = |i: usize| rec.get(i).unwrap_or("");
    let question = field(cols.question);
    let answer = field(cols.answer);
    let k = match *kind {
        Some(k) => k,
        None => {
            let k = detect_kind(question).map_err(|m| DataError::invalid(path, &at, m))?;
            *kind = Some(k);
            k
        }
    };
    let (input, label) =
        parse_pair(k, question, answer).map_err(|m| DataError::invalid(path, &at, m))?;
    let rating = match cols.rating.map(field) {
        None | Some("") => None,
        Some(r) => Some(r.trim().parse::<i64>().map_err(|_| {
            DataError::invalid(path, &at, format!("rating is {r:?}, expected an integer"))
        })?),
    };
    Ok(Puzzle {
        name: cols.source.map(field).unwrap_or("").to_string(),
        kind: k,
        input,
        label,
        rating,
    })
}

/// The CSV string of a grid of the given kind.
pub fn grid_string(kind: PuzzleKind, grid: &Grid) -> String {
    match kind {
        PuzzleKind::Sudoku { .. } => sudoku::to_string(grid),
        _ => maze::to_string(grid),
    }
}

/// Write Sudoku or Maze puzzles in the HF layout (`\n` line endings, no trimming or quoting of
/// spaces). `Puzzle::name` goes to `source`.
pub fn write_hf_csv(path: &Path, puzzles: &[Puzzle]) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| DataError::io(path, e))?;
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(std::io::BufWriter::new(file));
    let to_err =
        |e: csv::Error| DataError::Request(format!("cannot write {}: {e}", path.display()));
    w.write_record(HEADER).map_err(to_err)?;
    for p in puzzles {
        if p.kind == PuzzleKind::Arc {
            return Err(DataError::Request(
                "ARC puzzles cannot be written as CSV".into(),
            ));
        }
        let answer = p
            .label
            .as_ref()
            .map(|g| grid_string(p.kind, g))
            .unwrap_or_default();
        let rating = p.rating.map(|r| r.to_string()).unwrap_or_default();
        w.write_record([
            p.name.as_str(),
            &grid_string(p.kind, &p.input),
            &answer,
            &rating,
        ])
        .map_err(to_err)?;
    }
    let mut inner = w
        .into_inner()
        .map_err(|e| DataError::Request(format!("cannot write {}: {e}", path.display())))?;
    inner.flush().map_err(|e| DataError::io(path, e))
}
