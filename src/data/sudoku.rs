//! Sudoku: geometry (4x4, 6x6, 9x9), tokenisation, validation, an exact solver that counts
//! solutions and measures search effort, difficulty rating and a seeded generator.
//!
//! Tokens: blank 1, digit d -> d + 1, PAD 0; vocab = size + 2 (11 for 9x9, as official).

use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{DataError, Grid, Result};

/// Box shape of a Sudoku size: 4 -> 2x2, 6 -> 2 rows x 3 cols, 9 -> 3x3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub size: usize,
    pub box_rows: usize,
    pub box_cols: usize,
}

pub const SIZES: [usize; 3] = [4, 6, 9];

impl Geometry {
    /// The geometry of a supported size, or `None`.
    pub fn new(size: usize) -> Option<Self> {
        let (box_rows, box_cols) = match size {
            4 => (2, 2),
            6 => (2, 3),
            9 => (3, 3),
            _ => return None,
        };
        Some(Geometry {
            size,
            box_rows,
            box_cols,
        })
    }

    /// The geometry for a supported size, or a [`DataError::Request`] naming the sizes.
    pub fn checked(size: usize) -> Result<Self> {
        Self::new(size).ok_or_else(|| {
            DataError::Request(format!(
                "unsupported sudoku size {size}: expected 4, 6 or 9"
            ))
        })
    }

    pub fn cells(&self) -> usize {
        self.size * self.size
    }

    pub fn box_of(&self, r: usize, c: usize) -> usize {
        (r / self.box_rows) * (self.size / self.box_cols) + c / self.box_cols
    }

    /// Branch nodes (of the exhaustive uniqueness search) from which a puzzle of this size is
    /// rated extreme: 10 for 9x9 (the real hard lists average 46 and 371), 3 for 6x6, 2 for 4x4.
    pub fn extreme_branch_nodes(&self) -> u64 {
        match self.size {
            9 => 10,
            6 => 3,
            _ => 2,
        }
    }

    /// Bit mask with one bit per digit (bit d-1 for digit d).
    pub fn full_mask(&self) -> u16 {
        (1u16 << self.size) - 1
    }

    /// The 3 * size units (rows, columns, boxes), each a list of cell indices.
    pub fn units(&self) -> Vec<Vec<usize>> {
        let n = self.size;
        let mut units = Vec::with_capacity(3 * n);
        for r in 0..n {
            units.push((0..n).map(|c| r * n + c).collect());
        }
        for c in 0..n {
            units.push((0..n).map(|r| r * n + c).collect());
        }
        for b in 0..n {
            let mut unit = Vec::with_capacity(n);
            for r in 0..n {
                for c in 0..n {
                    if self.box_of(r, c) == b {
                        unit.push(r * n + c);
                    }
                }
            }
            units.push(unit);
        }
        units
    }
}

/// Tokens of a Sudoku grid (cells 0 = blank, 1..=size).
pub fn encode(grid: &Grid) -> Vec<i32> {
    grid.cells.iter().map(|&v| i32::from(v) + 1).collect()
}

/// Grid of a token sequence; tokens must be 1..=size+1.
pub fn decode(size: usize, tokens: &[i32]) -> Result<Grid, String> {
    if tokens.len() != size * size {
        return Err(format!(
            "expected {} tokens for a {size}x{size} sudoku, found {}",
            size * size,
            tokens.len()
        ));
    }
    let mut cells = Vec::with_capacity(tokens.len());
    for (i, &t) in tokens.iter().enumerate() {
        if t < 1 || t > size as i32 + 1 {
            return Err(format!(
                "token {t} at position {i} is not a sudoku token (1..={})",
                size + 1
            ));
        }
        cells.push((t - 1) as u8);
    }
    Ok(Grid::new(size, size, cells))
}

/// Parse a question/answer string: digits, with `.` or `0` as blank.
/// Returns the grid, or a message saying what was expected.
pub fn parse_cells(s: &str, size: usize, allow_blank: bool) -> Result<Grid, String> {
    let n = s.chars().count();
    if n != size * size {
        return Err(format!(
            "has {n} characters, expected {} (a {size}x{size} sudoku)",
            size * size
        ));
    }
    let mut cells = Vec::with_capacity(n);
    for (i, ch) in s.chars().enumerate() {
        let v = match ch {
            '.' | '0' if allow_blank => 0,
            '1'..='9' if (ch as usize - '0' as usize) <= size => ch as u8 - b'0',
            _ => {
                let what = if allow_blank {
                    format!("a digit 1..{size} or '.'/'0' for a blank")
                } else {
                    format!("a digit 1..{size}")
                };
                return Err(format!("character {} is {ch:?}, expected {what}", i + 1));
            }
        };
        cells.push(v);
    }
    Ok(Grid::new(size, size, cells))
}

/// The string form used in CSV files (`.` for blanks).
pub fn to_string(grid: &Grid) -> String {
    grid.cells
        .iter()
        .map(|&v| if v == 0 { '.' } else { (b'0' + v) as char })
        .collect()
}

/// Box-drawn text rendering.
pub fn render(size: usize, grid: &Grid) -> String {
    let Some(geo) = Geometry::new(size) else {
        return to_string(grid);
    };
    let mut out = String::new();
    let sep: String = (0..size / geo.box_cols)
        .map(|_| "-".repeat(geo.box_cols * 2 + 1))
        .collect::<Vec<_>>()
        .join("+");
    for r in 0..size {
        if r > 0 && r % geo.box_rows == 0 {
            out.push_str(&sep);
            out.push('\n');
        }
        for c in 0..size {
            if c > 0 && c % geo.box_cols == 0 {
                out.push_str(" |");
            }
            let v = grid.get(r, c);
            out.push(' ');
            out.push(if v == 0 { '.' } else { (b'0' + v) as char });
        }
        out.push('\n');
    }
    out
}

/// The first rule a complete solution breaks, or `None` if it is a valid solution.
pub fn solution_error(geo: &Geometry, solution: &Grid) -> Option<String> {
    let n = geo.size;
    if solution.rows != n || solution.cols != n {
        return Some(format!(
            "is {}x{}, expected {n}x{n}",
            solution.rows, solution.cols
        ));
    }
    for (i, &v) in solution.cells.iter().enumerate() {
        if v == 0 || v as usize > n {
            return Some(format!(
                "cell r{}c{} is {v}, expected a digit 1..{n}",
                i / n + 1,
                i % n + 1
            ));
        }
    }
    let names = ["row", "column", "box"];
    for (u, unit) in geo.units().iter().enumerate() {
        let mut seen = 0u16;
        for &cell in unit {
            let bit = 1u16 << (solution.cells[cell] - 1);
            if seen & bit != 0 {
                return Some(format!(
                    "{} {} repeats the digit {}",
                    names[u / n],
                    u % n + 1,
                    solution.cells[cell]
                ));
            }
            seen |= bit;
        }
    }
    None
}

/// Whether `solution` is a valid solution that agrees with every clue of `puzzle`.
pub fn is_solution_of(geo: &Geometry, puzzle: &Grid, solution: &Grid) -> bool {
    solution_error(geo, solution).is_none()
        && puzzle.cells.len() == solution.cells.len()
        && puzzle
            .cells
            .iter()
            .zip(&solution.cells)
            .all(|(&p, &s)| p == 0 || p == s)
}

/// Search statistics of a solve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SolveStats {
    /// Number of solutions found (stops at the requested limit).
    pub solutions: usize,
    /// Branch nodes: search states where the solver had to guess.
    pub branch_nodes: u64,
}

/// Outcome of [`Solver::solve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolveResult {
    pub stats: SolveStats,
    /// The first solution found.
    pub solution: Option<Grid>,
}

/// Which deductions propagation may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deductions {
    NakedSingles,
    AllSingles,
}

const MAX_CELLS: usize = 81;

#[derive(Clone, Copy)]
struct State {
    cand: [u16; MAX_CELLS],
    placed: [bool; MAX_CELLS],
}

/// An exact Sudoku solver: constraint propagation (naked and hidden singles) and depth-first
/// search on the cell with the fewest candidates.
#[derive(Debug, Clone)]
pub struct Solver {
    geo: Geometry,
    units: Vec<Vec<usize>>,
    peers: Vec<Vec<usize>>,
}

impl Solver {
    pub fn new(geo: Geometry) -> Self {
        let units = geo.units();
        let mut peers = vec![Vec::new(); geo.cells()];
        for unit in &units {
            for &a in unit {
                for &b in unit {
                    if a != b && !peers[a].contains(&b) {
                        peers[a].push(b);
                    }
                }
            }
        }
        Solver { geo, units, peers }
    }

    pub fn geometry(&self) -> Geometry {
        self.geo
    }

    fn initial_state(&self, puzzle: &Grid) -> Option<State> {
        let n = self.geo.cells();
        if puzzle.cells.len() != n {
            return None;
        }
        let mut st = State {
            cand: [0; MAX_CELLS],
            placed: [true; MAX_CELLS],
        };
        let full = self.geo.full_mask();
        for i in 0..n {
            st.placed[i] = false;
            let v = puzzle.cells[i] as usize;
            st.cand[i] = if v == 0 {
                full
            } else if v <= self.geo.size {
                1 << (v - 1)
            } else {
                return None;
            };
        }
        Some(st)
    }

    /// Propagate until nothing changes. Returns false on a contradiction.
    fn propagate(&self, st: &mut State, deductions: Deductions) -> bool {
        let n = self.geo.cells();
        let full = self.geo.full_mask();
        loop {
            let mut changed = false;
            for i in 0..n {
                if st.placed[i] {
                    continue;
                }
                let c = st.cand[i];
                if c == 0 {
                    return false;
                }
                if c.count_ones() == 1 {
                    st.placed[i] = true;
                    for &p in &self.peers[i] {
                        if st.cand[p] & c != 0 {
                            if st.placed[p] {
                                return false;
                            }
                            st.cand[p] &= !c;
                            if st.cand[p] == 0 {
                                return false;
                            }
                            changed = true;
                        }
                    }
                }
            }
            if deductions == Deductions::AllSingles {
                for unit in &self.units {
                    let mut once = 0u16;
                    let mut twice = 0u16;
                    for &cell in unit {
                        let c = st.cand[cell];
                        twice |= once & c;
                        once |= c;
                    }
                    if once != full {
                        return false;
                    }
                    let mut exactly = once & !twice;
                    while exactly != 0 {
                        let bit = exactly & exactly.wrapping_neg();
                        exactly &= !bit;
                        for &cell in unit {
                            if st.cand[cell] & bit != 0 {
                                if st.cand[cell] != bit {
                                    st.cand[cell] = bit;
                                    changed = true;
                                }
                                break;
                            }
                        }
                    }
                }
            }
            if !changed {
                return true;
            }
        }
    }

    fn search(
        &self,
        st: &mut State,
        limit: usize,
        stats: &mut SolveStats,
        first: &mut Option<Grid>,
        rng: &mut Option<&mut ChaCha8Rng>,
    ) {
        if !self.propagate(st, Deductions::AllSingles) {
            return;
        }
        let n = self.geo.cells();
        let mut best = usize::MAX;
        let mut best_count = u32::MAX;
        for i in 0..n {
            let k = st.cand[i].count_ones();
            if k > 1 && k < best_count {
                best_count = k;
                best = i;
                if k == 2 {
                    break;
                }
            }
        }
        if best == usize::MAX {
            stats.solutions += 1;
            if first.is_none() {
                *first = Some(self.grid_of(st));
            }
            return;
        }
        stats.branch_nodes += 1;
        let mut digits: Vec<u16> = (0..16)
            .filter(|b| st.cand[best] & (1 << b) != 0)
            .map(|b| 1u16 << b)
            .collect();
        if let Some(r) = rng.as_deref_mut() {
            digits.shuffle(r);
        }
        for bit in digits {
            let mut next = *st;
            next.cand[best] = bit;
            self.search(&mut next, limit, stats, first, rng);
            if stats.solutions >= limit {
                return;
            }
        }
    }

    fn grid_of(&self, st: &State) -> Grid {
        let n = self.geo.cells();
        let cells = (0..n)
            .map(|i| {
                let c = st.cand[i];
                if c.count_ones() == 1 {
                    c.trailing_zeros() as u8 + 1
                } else {
                    0
                }
            })
            .collect();
        Grid::new(self.geo.size, self.geo.size, cells)
    }

    /// Solve, counting solutions up to `limit` (use 2 to test uniqueness). With `limit = 2` on a
    /// puzzle with a unique solution the search is exhaustive, so `branch_nodes` measures the
    /// whole search effort.
    pub fn solve(&self, puzzle: &Grid, limit: usize) -> SolveResult {
        let mut stats = SolveStats::default();
        let mut first = None;
        if let Some(mut st) = self.initial_state(puzzle) {
            self.search(&mut st, limit.max(1), &mut stats, &mut first, &mut None);
        }
        SolveResult {
            stats,
            solution: first,
        }
    }

    /// Number of solutions, counting at most `limit`.
    pub fn count_solutions(&self, puzzle: &Grid, limit: usize) -> usize {
        self.solve(puzzle, limit).stats.solutions
    }

    /// Whether propagation alone (no guessing) solves the puzzle with the given deductions.
    fn solves_by(&self, puzzle: &Grid, deductions: Deductions) -> bool {
        match self.initial_state(puzzle) {
            Some(mut st) => {
                self.propagate(&mut st, deductions)
                    && st.cand[..self.geo.cells()]
                        .iter()
                        .all(|c| c.count_ones() == 1)
            }
            None => false,
        }
    }

    /// A random complete grid (search with shuffled digit order).
    pub fn random_solution(&self, rng: &mut ChaCha8Rng) -> Grid {
        let empty = Grid::filled(self.geo.size, self.geo.size, 0);
        let mut stats = SolveStats::default();
        let mut first = None;
        if let Some(mut st) = self.initial_state(&empty) {
            self.search(&mut st, 1, &mut stats, &mut first, &mut Some(rng));
        }
        // An empty grid of a supported size always has a solution.
        first.unwrap_or(empty)
    }

    /// Rate a puzzle: its difficulty (None if it has no unique solution) and search effort.
    pub fn rate(&self, puzzle: &Grid) -> Rating {
        self.rate_and_solve(puzzle).0
    }

    /// [`Solver::rate`], also returning the first solution found.
    pub fn rate_and_solve(&self, puzzle: &Grid) -> (Rating, Option<Grid>) {
        let result = self.solve(puzzle, 2);
        let branch_nodes = result.stats.branch_nodes;
        let difficulty = if result.stats.solutions != 1 {
            None
        } else if self.solves_by(puzzle, Deductions::NakedSingles) {
            Some(Difficulty::Easy)
        } else if self.solves_by(puzzle, Deductions::AllSingles) {
            Some(Difficulty::Medium)
        } else if branch_nodes < self.geo.extreme_branch_nodes() {
            Some(Difficulty::Hard)
        } else {
            Some(Difficulty::Extreme)
        };
        let rating = Rating {
            solutions: result.stats.solutions,
            branch_nodes,
            difficulty,
        };
        (rating, result.solution)
    }
}

/// Difficulty by the solver's effort:
/// - easy: naked singles alone solve it;
/// - medium: naked and hidden singles solve it, naked singles alone do not;
/// - hard: it needs search, with fewer than [`Geometry::extreme_branch_nodes`] branch nodes;
/// - extreme: at least that many.
///
/// Branch nodes are counted in the exhaustive search that proves uniqueness (MRV, naked and
/// hidden singles); on the magictour top1465 list they equal the file's `rating` column.
/// A 4x4 Sudoku with a unique solution is always solved by naked singles: only easy exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Difficulty {
    Easy,
    Medium,
    Hard,
    Extreme,
}

impl Difficulty {
    pub const ALL: [Difficulty; 4] = [
        Difficulty::Easy,
        Difficulty::Medium,
        Difficulty::Hard,
        Difficulty::Extreme,
    ];
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Difficulty::Easy => "easy",
            Difficulty::Medium => "medium",
            Difficulty::Hard => "hard",
            Difficulty::Extreme => "extreme",
        })
    }
}

impl FromStr for Difficulty {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "easy" => Ok(Difficulty::Easy),
            "medium" => Ok(Difficulty::Medium),
            "hard" => Ok(Difficulty::Hard),
            "extreme" => Ok(Difficulty::Extreme),
            _ => Err(format!(
                "unknown difficulty {s:?}: expected easy, medium, hard or extreme"
            )),
        }
    }
}

/// The rating of a puzzle by [`Solver::rate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rating {
    /// Solutions found, at most 2.
    pub solutions: usize,
    /// Branch nodes of the exhaustive uniqueness search.
    pub branch_nodes: u64,
    /// `None` unless the solution is unique.
    pub difficulty: Option<Difficulty>,
}

/// A generated puzzle with its unique solution and rating.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub puzzle: Grid,
    pub solution: Grid,
    pub rating: Rating,
}

impl Generated {
    /// As a labelled puzzle named `name` (rating: the branch nodes).
    pub fn into_puzzle(self, name: String) -> super::Puzzle {
        super::Puzzle {
            name,
            kind: super::PuzzleKind::Sudoku {
                size: self.puzzle.rows,
            },
            input: self.puzzle,
            label: Some(self.solution),
            rating: Some(self.rating.branch_nodes as i64),
        }
    }
}

/// Attempts (fresh solution grids) per requested puzzle before giving up on a difficulty.
pub const MAX_ATTEMPTS: usize = 2000;

/// Generate one puzzle with a unique solution at exactly the requested difficulty.
///
/// Clues are removed in random order; for easy (medium) puzzles a removal is kept only while
/// naked singles (all singles) still solve the puzzle, for hard and extreme while the solution
/// stays unique. The result is then rated, and a fresh grid is tried until the rating matches.
pub fn generate(geo: Geometry, difficulty: Difficulty, rng: &mut ChaCha8Rng) -> Result<Generated> {
    let solver = Solver::new(geo);
    for _ in 0..MAX_ATTEMPTS {
        let solution = solver.random_solution(rng);
        let mut puzzle = solution.clone();
        let mut order: Vec<usize> = (0..geo.cells()).collect();
        order.shuffle(rng);
        for cell in order {
            let keep = puzzle.cells[cell];
            puzzle.cells[cell] = 0;
            let still_ok = match difficulty {
                Difficulty::Easy => solver.solves_by(&puzzle, Deductions::NakedSingles),
                Difficulty::Medium => solver.solves_by(&puzzle, Deductions::AllSingles),
                Difficulty::Hard | Difficulty::Extreme => solver.count_solutions(&puzzle, 2) == 1,
            };
            if !still_ok {
                puzzle.cells[cell] = keep;
            }
        }
        let rating = solver.rate(&puzzle);
        if rating.difficulty == Some(difficulty) {
            return Ok(Generated {
                puzzle,
                solution,
                rating,
            });
        }
    }
    Err(DataError::Request(format!(
        "could not generate a {difficulty} {0}x{0} sudoku in {MAX_ATTEMPTS} attempts; \
         this difficulty is rare or unreachable at this size (try an easier one or size 9)",
        geo.size
    )))
}

/// Generate `count` puzzles; puzzle `i` uses its own ChaCha8 stream of `seed`, so the output
/// depends only on (`seed`, `size`, `difficulty`, `i`).
pub fn generate_many(
    size: usize,
    difficulty: Difficulty,
    count: usize,
    seed: u64,
) -> Result<Vec<Generated>> {
    let geo = Geometry::checked(size)?;
    super::par_collect(count, |i| {
        generate(geo, difficulty, &mut stream_rng(seed, i as u64))
    })
}

/// A ChaCha8 generator for item `index` of a seeded run.
pub fn stream_rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// A random digit relabelling helper shared by augmentations: a permutation of 1..=n with 0 fixed.
pub(crate) fn random_digit_map(n: usize, rng: &mut impl Rng) -> Vec<u8> {
    let mut digits: Vec<u8> = (1..=n as u8).collect();
    digits.shuffle(rng);
    let mut map = vec![0u8];
    map.extend(digits);
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid9(s: &str) -> Grid {
        parse_cells(s, 9, true).unwrap()
    }

    #[test]
    fn solves_a_known_hard_puzzle() {
        let q = grid9(
            "4...3.......6..8..........1....5..9..8....6...7.2........1.27..5.3....4.9........",
        );
        let a = grid9(
            "468931527751624839392578461134756298289413675675289314846192753513867942927345186",
        );
        let solver = Solver::new(Geometry::new(9).unwrap());
        let res = solver.solve(&q, 2);
        assert_eq!(res.stats.solutions, 1);
        assert_eq!(res.solution.as_ref(), Some(&a));
        assert!(res.stats.branch_nodes > 0);
        assert!(is_solution_of(&Geometry::new(9).unwrap(), &q, &a));
    }

    #[test]
    fn counts_multiple_solutions() {
        let solver = Solver::new(Geometry::new(4).unwrap());
        let empty = Grid::filled(4, 4, 0);
        assert_eq!(solver.count_solutions(&empty, 1000), 288);
        let solver6 = Solver::new(Geometry::new(6).unwrap());
        assert_eq!(solver6.count_solutions(&Grid::filled(6, 6, 0), 2), 2);
    }

    #[test]
    fn contradictory_puzzle_has_no_solution() {
        let mut q = Grid::filled(4, 4, 0);
        q.set(0, 0, 1);
        q.set(0, 1, 1);
        let solver = Solver::new(Geometry::new(4).unwrap());
        assert_eq!(solver.count_solutions(&q, 2), 0);
    }

    #[test]
    fn solution_error_names_the_rule() {
        let geo = Geometry::new(4).unwrap();
        let bad = Grid::new(4, 4, vec![1, 2, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 1, 2]);
        let msg = solution_error(&geo, &bad).unwrap();
        assert!(msg.contains("column 3"), "{msg}");
    }

    #[test]
    fn parse_reports_position_and_expectation() {
        let err = parse_cells("12x4123412341234", 4, true).unwrap_err();
        assert!(err.contains("character 3") && err.contains("'x'"), "{err}");
        let err = parse_cells("123", 4, true).unwrap_err();
        assert!(err.contains("expected 16"), "{err}");
    }

    #[test]
    fn tokens_round_trip() {
        let q = grid9(
            "4...3.......6..8..........1....5..9..8....6...7.2........1.27..5.3....4.9........",
        );
        let t = encode(&q);
        assert_eq!(t[0], 5);
        assert_eq!(t[1], 1);
        assert_eq!(decode(9, &t).unwrap(), q);
        assert!(decode(9, &t[1..]).is_err());
    }
}
