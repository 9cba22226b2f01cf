//! Maze: tokenisation over `# SGo`, BFS shortest paths, path checking and a seeded generator.
//!
//! Tokens: PAD 0, `#` 1 (wall), space 2 (open), `S` 3, `G` 4, `o` 5 (path); vocab 6.
//! A maze's "path length" counts the cells of the path including S and G (the `rating` column
//! of the Maze-Hard CSVs).

use std::collections::VecDeque;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::sudoku::stream_rng;
use super::{DataError, Grid, Result};

pub const CHARSET: &[u8; 5] = b"# SGo";
pub const VOCAB_SIZE: usize = 6;
pub const WALL: u8 = b'#';
pub const OPEN: u8 = b' ';
pub const START: u8 = b'S';
pub const GOAL: u8 = b'G';
pub const PATH: u8 = b'o';

/// The Maze-Hard minimum path length (cells including S and G).
pub const HARD_MIN_PATH: usize = 110;

/// Default minimum path for a maze of the given sides: as rare as Maze-Hard's 110 at 30x30.
/// Measured on random layouts with p ~ U(0.30, 0.50), the 99th percentile of the longest
/// shortest path is about 3.8 * side - 6 cells (17 at 6, 28 at 9, 49 at 15, 68 at 20, 108 at
/// 30); this scales it so that 30x30 gives exactly 110.
pub fn default_min_path(rows: usize, cols: usize) -> usize {
    let side = rows.max(cols) as f64;
    let p99 = (3.8 * side - 6.0).max(1.0);
    ((p99 * HARD_MIN_PATH as f64 / 108.0).ceil() as usize).clamp(2, (rows * cols).max(2))
}

/// Tokens of a maze grid.
pub fn encode(grid: &Grid) -> Vec<i32> {
    grid.cells
        .iter()
        .map(|&ch| {
            CHARSET
                .iter()
                .position(|&c| c == ch)
                .map_or(0, |i| i as i32 + 1)
        })
        .collect()
}

/// Grid of a token sequence; tokens must be 1..=5.
pub fn decode(rows: usize, cols: usize, tokens: &[i32]) -> Result<Grid, String> {
    if tokens.len() != rows * cols {
        return Err(format!(
            "expected {} tokens for a {rows}x{cols} maze, found {}",
            rows * cols,
            tokens.len()
        ));
    }
    let mut cells = Vec::with_capacity(tokens.len());
    for (i, &t) in tokens.iter().enumerate() {
        if !(1..=5).contains(&t) {
            return Err(format!(
                "token {t} at position {i} is not a maze token (1..=5)"
            ));
        }
        cells.push(CHARSET[(t - 1) as usize]);
    }
    Ok(Grid::new(rows, cols, cells))
}

/// Side of a square maze string of `len` characters, if `len` is a square.
pub fn square_side(len: usize) -> Option<usize> {
    let side = (len as f64).sqrt().round() as usize;
    (side * side == len && side > 0).then_some(side)
}

/// Parse a maze string (`# SG`, plus `o` when `allow_path`), never trimming spaces.
pub fn parse_cells(s: &str, rows: usize, cols: usize, allow_path: bool) -> Result<Grid, String> {
    let n = s.chars().count();
    if n != rows * cols {
        return Err(format!(
            "has {n} characters, expected {} (a {rows}x{cols} maze)",
            rows * cols
        ));
    }
    let mut cells = Vec::with_capacity(n);
    for (i, ch) in s.chars().enumerate() {
        let ok = matches!(ch, '#' | ' ' | 'S' | 'G') || (allow_path && ch == 'o');
        if !ok {
            let what = if allow_path {
                "'#', ' ', 'S', 'G' or 'o'"
            } else {
                "'#', ' ', 'S' or 'G'"
            };
            return Err(format!(
                "character {} (row {}, column {}) is {ch:?}, expected {what}",
                i + 1,
                i / cols + 1,
                i % cols + 1
            ));
        }
        cells.push(ch as u8);
    }
    Ok(Grid::new(rows, cols, cells))
}

/// The CSV string form.
pub fn to_string(grid: &Grid) -> String {
    grid.cells.iter().map(|&b| b as char).collect()
}

/// Text rendering: one line per row.
pub fn render(grid: &Grid) -> String {
    let mut out = String::with_capacity(grid.cells.len() + grid.rows);
    for r in 0..grid.rows {
        for c in 0..grid.cols {
            out.push(match grid.get(r, c) {
                WALL => '█',
                PATH => '·',
                ch => ch as char,
            });
        }
        out.push('\n');
    }
    out
}

fn find_unique(grid: &Grid, ch: u8) -> Result<usize, String> {
    let mut found = grid.cells.iter().enumerate().filter(|(_, &c)| c == ch);
    let name = ch as char;
    match (found.next(), found.next()) {
        (Some((i, _)), None) => Ok(i),
        (None, _) => Err(format!("has no {name:?}, expected exactly one")),
        (Some(_), Some(_)) => Err(format!("has more than one {name:?}, expected exactly one")),
    }
}

/// Positions of S and G, each required exactly once.
pub fn endpoints(grid: &Grid) -> Result<(usize, usize), String> {
    Ok((find_unique(grid, START)?, find_unique(grid, GOAL)?))
}

fn neighbours(rows: usize, cols: usize, i: usize) -> impl Iterator<Item = usize> {
    let (r, c) = (i / cols, i % cols);
    let up = (r > 0).then(|| i - cols);
    let down = (r + 1 < rows).then(|| i + cols);
    let left = (c > 0).then(|| i - 1);
    let right = (c + 1 < cols).then(|| i + 1);
    [up, down, left, right].into_iter().flatten()
}

/// BFS distances (in steps) from `from` over non-wall cells; `u32::MAX` = unreachable.
pub fn distances(grid: &Grid, from: usize) -> Vec<u32> {
    let mut dist = vec![u32::MAX; grid.cells.len()];
    let mut queue = VecDeque::new();
    dist[from] = 0;
    queue.push_back(from);
    while let Some(i) = queue.pop_front() {
        for j in neighbours(grid.rows, grid.cols, i) {
            if grid.cells[j] != WALL && dist[j] == u32::MAX {
                dist[j] = dist[i] + 1;
                queue.push_back(j);
            }
        }
    }
    dist
}

/// Shortest path length from S to G in cells (S and G included), or `None` if unreachable.
pub fn shortest_path_len(grid: &Grid) -> Result<Option<usize>, String> {
    let (s, g) = endpoints(grid)?;
    let d = distances(grid, s)[g];
    Ok((d != u32::MAX).then_some(d as usize + 1))
}

/// Mark one shortest path (interior cells as `o`). With `rng`, a random one among the
/// predecessors at each step; without, the first in up/down/left/right order.
pub fn solve(grid: &Grid, mut rng: Option<&mut ChaCha8Rng>) -> Result<Option<Grid>, String> {
    let (s, g) = endpoints(grid)?;
    let from_goal = distances(grid, g);
    if from_goal[s] == u32::MAX {
        return Ok(None);
    }
    let mut out = grid.clone();
    for cell in out.cells.iter_mut() {
        if *cell == PATH {
            *cell = OPEN;
        }
    }
    let mut cur = s;
    while from_goal[cur] > 1 {
        let mut next: Vec<usize> = neighbours(grid.rows, grid.cols, cur)
            .filter(|&j| grid.cells[j] != WALL && from_goal[j] == from_goal[cur] - 1)
            .collect();
        if let Some(r) = rng.as_deref_mut() {
            next.shuffle(r);
        }
        cur = next[0];
        out.cells[cur] = PATH;
    }
    Ok(Some(out))
}

/// How a predicted answer scores against a maze question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathCheck {
    /// A valid path from S to G of the optimal length.
    Correct,
    /// A valid path from S to G, but longer than the shortest (lengths in cells).
    NotShortest { found: usize, shortest: usize },
    /// Not a valid path: the reason.
    Invalid(String),
}

/// Score a predicted answer (the question with `o` on a path's interior): it is correct when the
/// `o` cells form a simple 4-connected path from S to G through open cells, it changes nothing
/// else, and its length is the BFS optimum. Any shortest path is accepted, not only the label.
pub fn check_path(question: &Grid, answer: &Grid) -> PathCheck {
    if question.rows != answer.rows || question.cols != answer.cols {
        return PathCheck::Invalid(format!(
            "answer is {}x{}, question is {}x{}",
            answer.rows, answer.cols, question.rows, question.cols
        ));
    }
    let (s, g) = match endpoints(question) {
        Ok(e) => e,
        Err(e) => return PathCheck::Invalid(format!("question {e}")),
    };
    let cols = question.cols;
    for (i, (&q, &a)) in question.cells.iter().zip(&answer.cells).enumerate() {
        let ok = q == a || (q == OPEN && a == PATH);
        if !ok {
            return PathCheck::Invalid(format!(
                "cell (row {}, column {}) is {:?} in the answer but {:?} in the question",
                i / cols + 1,
                i % cols + 1,
                a as char,
                q as char
            ));
        }
    }
    let on_path = |i: usize| answer.cells[i] == PATH || i == g;
    let total_path = answer.cells.iter().filter(|&&c| c == PATH).count();
    let mut visited = vec![false; answer.cells.len()];
    visited[s] = true;
    let mut cur = s;
    let mut steps = 0usize;
    while cur != g {
        let next: Vec<usize> = neighbours(answer.rows, cols, cur)
            .filter(|&j| on_path(j) && !visited[j])
            .collect();
        match next.as_slice() {
            [] => {
                return PathCheck::Invalid(format!(
                    "the path stops at (row {}, column {}) before reaching G",
                    cur / cols + 1,
                    cur % cols + 1
                ))
            }
            [j] => {
                visited[*j] = true;
                cur = *j;
                steps += 1;
            }
            _ if next.contains(&g) => {
                visited[g] = true;
                cur = g;
                steps += 1;
            }
            _ => {
                return PathCheck::Invalid(format!(
                    "the path branches at (row {}, column {})",
                    cur / cols + 1,
                    cur % cols + 1
                ))
            }
        }
    }
    if steps != total_path + 1 {
        return PathCheck::Invalid(format!(
            "{} path cells are not on the route from S to G",
            total_path + 1 - steps
        ));
    }
    let shortest = distances(question, s)[g] as usize + 1;
    let found = steps + 1;
    if found == shortest {
        PathCheck::Correct
    } else {
        PathCheck::NotShortest { found, shortest }
    }
}

/// Problems of a question/label pair as data (None when it is a valid Maze example): the
/// question has one S and one G and no path, and the label marks one shortest path.
pub fn example_error(question: &Grid, label: &Grid) -> Option<String> {
    if question.cells.contains(&PATH) {
        return Some("question contains 'o' path cells".to_string());
    }
    if let Err(e) = endpoints(question) {
        return Some(format!("question {e}"));
    }
    match check_path(question, label) {
        PathCheck::Correct => None,
        PathCheck::NotShortest { found, shortest } => Some(format!(
            "answer path has {found} cells, expected a shortest path of {shortest}"
        )),
        PathCheck::Invalid(why) => Some(format!("answer is not a valid path: {why}")),
    }
}

/// Parameters of the maze generator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MazeParams {
    pub rows: usize,
    pub cols: usize,
    /// Minimum shortest-path length in cells, S and G included (110 for Maze-Hard).
    pub min_path: usize,
    /// Wall density range; each maze draws p uniformly from it.
    pub wall_density: (f64, f64),
}

impl MazeParams {
    /// Square maze with the Maze-Hard density range U(0.30, 0.50).
    pub fn square(size: usize, min_path: usize) -> Self {
        MazeParams {
            rows: size,
            cols: size,
            min_path,
            wall_density: (0.30, 0.50),
        }
    }

    fn check(&self) -> Result<()> {
        let cells = self.rows * self.cols;
        if self.rows == 0 || self.cols == 0 || cells < 2 {
            return Err(DataError::Request(format!(
                "a {}x{} maze has no room for S and G",
                self.rows, self.cols
            )));
        }
        if self.rows > 256 || self.cols > 256 {
            return Err(DataError::Request(format!(
                "a {}x{} maze is too large: at most 256x256",
                self.rows, self.cols
            )));
        }
        if self.min_path < 2 || self.min_path > cells {
            return Err(DataError::Request(format!(
                "minimum path {} is impossible in a {}x{} maze: expected 2..={cells}",
                self.min_path, self.rows, self.cols
            )));
        }
        let (lo, hi) = self.wall_density;
        if !(0.0..1.0).contains(&lo) || !(lo..1.0).contains(&hi) {
            return Err(DataError::Request(format!(
                "wall density range {lo}..{hi} is invalid: expected 0 <= lo <= hi < 1"
            )));
        }
        Ok(())
    }
}

/// A generated maze: the question, the label (one shortest path) and its length in cells.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedMaze {
    pub question: Grid,
    pub answer: Grid,
    pub path_len: usize,
}

impl GeneratedMaze {
    /// As a labelled puzzle named `name` (rating: the shortest path length).
    pub fn into_puzzle(self, name: String) -> super::Puzzle {
        super::Puzzle {
            name,
            kind: super::PuzzleKind::Maze {
                rows: self.question.rows,
                cols: self.question.cols,
            },
            input: self.question,
            label: Some(self.answer),
            rating: Some(self.path_len as i64),
        }
    }
}

/// Wall layouts tried per maze before giving up.
pub const MAX_LAYOUTS: usize = 20_000;
/// Start cells tried per wall layout.
const STARTS_PER_LAYOUT: usize = 16;

/// The farthest reachable cell of a distance map and its distance.
fn farthest(dist: &[u32]) -> (usize, u32) {
    dist.iter()
        .enumerate()
        .filter(|(_, &d)| d != u32::MAX)
        .max_by_key(|(_, &d)| d)
        .map_or((0, 0), |(i, &d)| (i, d))
}

/// Generate one maze: walls with density p ~ U(lo, hi) (no border), S uniform among open cells
/// that have a cell at least `min_path` cells away (by rejection, a few tries per layout), G
/// uniform among those cells, and the label one shortest path (chosen at random).
pub fn generate(params: &MazeParams, rng: &mut ChaCha8Rng) -> Result<GeneratedMaze> {
    params.check()?;
    let n = params.rows * params.cols;
    let need = (params.min_path - 1) as u32;
    let (lo, hi) = params.wall_density;
    for _ in 0..MAX_LAYOUTS {
        let p = if hi > lo { rng.gen_range(lo..hi) } else { lo };
        let cells: Vec<u8> = (0..n)
            .map(|_| if rng.gen_bool(p) { WALL } else { OPEN })
            .collect();
        let mut grid = Grid::new(params.rows, params.cols, cells);
        let open: Vec<usize> = (0..n).filter(|&i| grid.cells[i] == OPEN).collect();
        if open.len() < params.min_path {
            continue;
        }
        // Double sweep: the farthest cell from a random cell, then the farthest from that one,
        // bounds the longest shortest path of its component from below; skip layouts where it
        // is too short (almost all of them, for Maze-Hard settings).
        let probe = distances(&grid, open[rng.gen_range(0..open.len())]);
        let far_end = farthest(&probe);
        if far_end.1 < need && farthest(&distances(&grid, far_end.0)).1 < need {
            continue;
        }
        for _ in 0..STARTS_PER_LAYOUT {
            let s = open[rng.gen_range(0..open.len())];
            let dist = distances(&grid, s);
            let far: Vec<usize> = (0..n)
                .filter(|&i| dist[i] != u32::MAX && dist[i] >= need)
                .collect();
            if far.is_empty() {
                continue;
            }
            let g = far[rng.gen_range(0..far.len())];
            grid.cells[s] = START;
            grid.cells[g] = GOAL;
            let answer = match solve(&grid, Some(rng)) {
                Ok(Some(a)) => a,
                _ => unreachable!("G was reached by BFS from S"),
            };
            return Ok(GeneratedMaze {
                question: grid,
                answer,
                path_len: dist[g] as usize + 1,
            });
        }
    }
    Err(DataError::Request(format!(
        "could not generate a {}x{} maze with a shortest path of at least {} cells in {} wall \
         layouts: lower --min-path",
        params.rows, params.cols, params.min_path, MAX_LAYOUTS
    )))
}

/// Generate `count` mazes; maze `i` uses its own ChaCha8 stream of `seed`.
pub fn generate_many(params: &MazeParams, count: usize, seed: u64) -> Result<Vec<GeneratedMaze>> {
    params.check()?;
    super::par_collect(count, |i| generate(params, &mut stream_rng(seed, i as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(rows: &[&str]) -> Grid {
        let cols = rows[0].len();
        Grid::new(rows.len(), cols, rows.concat().into_bytes())
    }

    #[test]
    fn bfs_and_check_path() {
        let q = g(&["S  ", "## ", "G  "]);
        assert_eq!(shortest_path_len(&q).unwrap(), Some(7));
        let a = solve(&q, None).unwrap().unwrap();
        assert_eq!(a, g(&["Soo", "##o", "Goo"]));
        assert_eq!(check_path(&q, &a), PathCheck::Correct);
        let broken = g(&["So ", "##o", "Goo"]);
        assert!(matches!(check_path(&q, &broken), PathCheck::Invalid(_)));
        let through_wall = g(&["Soo", "#oo", "Goo"]);
        assert!(matches!(
            check_path(&q, &through_wall),
            PathCheck::Invalid(_)
        ));
    }

    #[test]
    fn longer_path_is_not_shortest() {
        let q = g(&["S G", " # ", "   "]);
        let detour = g(&["S G", "o#o", "ooo"]);
        assert_eq!(
            check_path(&q, &detour),
            PathCheck::NotShortest {
                found: 7,
                shortest: 3
            }
        );
        let stray = g(&["SoG", "o# ", "   "]);
        assert!(matches!(check_path(&q, &stray), PathCheck::Invalid(_)));
    }

    #[test]
    fn unreachable_goal() {
        let q = g(&["S#G"]);
        assert_eq!(shortest_path_len(&q).unwrap(), None);
        assert_eq!(solve(&q, None).unwrap(), None);
    }

    #[test]
    fn tokens_round_trip() {
        let q = g(&["S #", "oG "]);
        let t = encode(&q);
        assert_eq!(t, vec![3, 2, 1, 5, 4, 2]);
        assert_eq!(decode(2, 3, &t).unwrap(), q);
        assert!(decode(2, 3, &[0, 1, 1, 1, 1, 1]).is_err());
    }
}
