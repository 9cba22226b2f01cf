//! Augmentations with their inverses (the official `dataset/build_sudoku_dataset.py`,
//! `shuffle_sudoku`; `dataset/common.py`, `dihedral_transform`; `dataset/build_arc_dataset.py`):
//! - the 8 dihedral transforms with numpy's conventions and the inverse table;
//! - Sudoku shuffles: digit relabel, band/row and stack/column permutations, transpose;
//! - ARC: colour permutation with black fixed, then a dihedral transform; variant names
//!   `"<task>|||t<t>|||<perm as 10 digits>"`; translation offsets;
//! - content hashes (the official `grid_hash`/`puzzle_hash`) for de-duplication.

use rand::seq::SliceRandom;
use rand::Rng;

use super::sudoku::{random_digit_map, Geometry};
use super::{sha256_hex, Grid};

/// `DIHEDRAL_INVERSE[t]` undoes transform `t`.
pub const DIHEDRAL_INVERSE: [u8; 8] = [0, 3, 2, 1, 4, 5, 6, 7];

/// Shape and source indices of dihedral transform `t` of a `rows` x `cols` grid:
/// `out.cells[k] = in.cells[map[k]]`.
/// 0 identity, 1 rot90 (counter-clockwise, numpy `rot90`), 2 rot180, 3 rot270, 4 fliplr,
/// 5 flipud, 6 transpose, 7 anti-diagonal reflection (`fliplr(rot90)`).
pub fn dihedral_map(rows: usize, cols: usize, t: u8) -> (usize, usize, Vec<usize>) {
    let (h, w) = (rows, cols);
    let (out_r, out_c) = if matches!(t, 1 | 3 | 6 | 7) {
        (w, h)
    } else {
        (h, w)
    };
    let mut map = Vec::with_capacity(h * w);
    for i in 0..out_r {
        for j in 0..out_c {
            let (r, c) = match t {
                1 => (j, w - 1 - i),
                2 => (h - 1 - i, w - 1 - j),
                3 => (h - 1 - j, i),
                4 => (i, w - 1 - j),
                5 => (h - 1 - i, j),
                6 => (j, i),
                7 => (h - 1 - j, w - 1 - i),
                _ => (i, j),
            };
            map.push(r * w + c);
        }
    }
    (out_r, out_c, map)
}

/// Apply dihedral transform `t` (0..8; other values act as identity).
pub fn dihedral(grid: &Grid, t: u8) -> Grid {
    let (rows, cols, map) = dihedral_map(grid.rows, grid.cols, t);
    Grid::new(rows, cols, map.iter().map(|&k| grid.cells[k]).collect())
}

/// Undo dihedral transform `t`.
pub fn inverse_dihedral(grid: &Grid, t: u8) -> Grid {
    dihedral(grid, DIHEDRAL_INVERSE[(t % 8) as usize])
}

/// A Sudoku shuffle (the official `shuffle_sudoku`, generalised to 4x4 and 6x6): transpose
/// (square boxes only) first, then new cell `(i, j)` takes old cell `(row_perm[i], col_perm[j])`,
/// digit map last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SudokuShuffle {
    /// `digit_map[d]` is the new digit of old digit `d`; `digit_map[0] = 0`.
    pub digit_map: Vec<u8>,
    pub transpose: bool,
    pub row_perm: Vec<usize>,
    pub col_perm: Vec<usize>,
}

fn banded_perm(groups: usize, width: usize, rng: &mut impl Rng) -> Vec<usize> {
    let mut bands: Vec<usize> = (0..groups).collect();
    bands.shuffle(rng);
    let mut perm = Vec::with_capacity(groups * width);
    for b in bands {
        let mut inner: Vec<usize> = (0..width).collect();
        inner.shuffle(rng);
        perm.extend(inner.into_iter().map(|x| b * width + x));
    }
    perm
}

impl SudokuShuffle {
    /// Draw a random shuffle in the official order: digits, transpose, bands/rows, stacks/columns.
    pub fn random(geo: &Geometry, rng: &mut impl Rng) -> Self {
        let digit_map = random_digit_map(geo.size, rng);
        let coin = rng.gen::<f64>() < 0.5;
        let transpose = geo.box_rows == geo.box_cols && coin;
        let row_perm = banded_perm(geo.size / geo.box_rows, geo.box_rows, rng);
        let col_perm = banded_perm(geo.size / geo.box_cols, geo.box_cols, rng);
        SudokuShuffle {
            digit_map,
            transpose,
            row_perm,
            col_perm,
        }
    }

    /// Apply to a grid (puzzle or solution alike).
    pub fn apply(&self, grid: &Grid) -> Grid {
        let n = grid.rows;
        let mut out = Grid::filled(n, n, 0);
        self.apply_into(&grid.cells, n, &mut out.cells);
        out
    }

    /// Apply to raw cells of an `n` x `n` grid, writing into `out` (hot path of the builder).
    pub fn apply_into(&self, cells: &[u8], n: usize, out: &mut [u8]) {
        for i in 0..n {
            for j in 0..n {
                let (r, c) = (self.row_perm[i], self.col_perm[j]);
                let src = if self.transpose { c * n + r } else { r * n + c };
                out[i * n + j] = self.digit_map[cells[src] as usize];
            }
        }
    }

    /// The cell moves of [`SudokuShuffle::apply`] on an `n` x `n` grid: new cell `k` takes old
    /// cell `map[k]` (before the digit map), so a caller can move other per-cell values (tokens,
    /// predictions, confidences) the same way and back.
    pub fn cell_map(&self, n: usize) -> Vec<usize> {
        let mut map = Vec::with_capacity(n * n);
        for i in 0..n {
            for j in 0..n {
                let (r, c) = (self.row_perm[i], self.col_perm[j]);
                map.push(if self.transpose { c * n + r } else { r * n + c });
            }
        }
        map
    }

    /// Undo [`SudokuShuffle::apply`].
    pub fn invert(&self, grid: &Grid) -> Grid {
        let n = grid.rows;
        let mut inv_digit = vec![0u8; self.digit_map.len()];
        for (d, &m) in self.digit_map.iter().enumerate() {
            inv_digit[m as usize] = d as u8;
        }
        let mut out = Grid::filled(n, n, 0);
        for i in 0..n {
            for j in 0..n {
                let (r, c) = (self.row_perm[i], self.col_perm[j]);
                let dst = if self.transpose { c * n + r } else { r * n + c };
                out.cells[dst] = inv_digit[grid.cells[i * n + j] as usize];
            }
        }
        out
    }
}

/// Separator of ARC variant names.
pub const ID_SEPARATOR: &str = "|||";

/// An ARC augmentation: colour map (black fixed) then dihedral transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArcAug {
    pub trans_id: u8,
    /// `colour_map[c]` is the new colour of `c`; `colour_map[0] = 0`.
    pub colour_map: [u8; 10],
}

impl ArcAug {
    pub const IDENTITY: ArcAug = ArcAug {
        trans_id: 0,
        colour_map: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    };

    /// Draw a dihedral id and a colour permutation of 1..=9 (official order).
    pub fn random(rng: &mut impl Rng) -> Self {
        let trans_id = rng.gen_range(0..8u8);
        let mut colours: Vec<u8> = (1..=9).collect();
        colours.shuffle(rng);
        let mut colour_map = [0u8; 10];
        colour_map[1..].copy_from_slice(&colours);
        ArcAug {
            trans_id,
            colour_map,
        }
    }

    /// The variant name `"<task>|||t<t>|||<perm as 10 digits>"`.
    pub fn name(&self, task: &str) -> String {
        let perm: String = self
            .colour_map
            .iter()
            .map(|&c| (b'0' + c) as char)
            .collect();
        format!("{task}{ID_SEPARATOR}t{}{ID_SEPARATOR}{perm}", self.trans_id)
    }

    /// Split a variant name into the task id and its augmentation (identity for plain names).
    /// `None` when the suffix is malformed.
    pub fn parse_name(name: &str) -> Option<(&str, ArcAug)> {
        let parts: Vec<&str> = name.split(ID_SEPARATOR).collect();
        if parts.len() == 1 {
            return Some((name, ArcAug::IDENTITY));
        }
        if parts.len() != 3 {
            return None;
        }
        let trans_id: u8 = parts[1].strip_prefix('t')?.parse().ok()?;
        if trans_id >= 8 || parts[2].len() != 10 {
            return None;
        }
        let mut colour_map = [0u8; 10];
        let mut seen = [false; 10];
        for (i, ch) in parts[2].bytes().enumerate() {
            let c = ch.checked_sub(b'0').filter(|&c| c <= 9)?;
            if seen[c as usize] {
                return None;
            }
            seen[c as usize] = true;
            colour_map[i] = c;
        }
        Some((
            parts[0],
            ArcAug {
                trans_id,
                colour_map,
            },
        ))
    }

    pub fn apply(&self, grid: &Grid) -> Grid {
        let mapped = Grid::new(
            grid.rows,
            grid.cols,
            grid.cells
                .iter()
                .map(|&c| self.colour_map[c as usize])
                .collect(),
        );
        dihedral(&mapped, self.trans_id)
    }

    /// Undo: the dihedral first, then the colours (`argsort(perm)`).
    pub fn invert(&self, grid: &Grid) -> Grid {
        let mut inv = [0u8; 10];
        for (c, &m) in self.colour_map.iter().enumerate() {
            inv[m as usize] = c as u8;
        }
        let mut g = inverse_dihedral(grid, self.trans_id);
        for c in g.cells.iter_mut() {
            *c = inv[*c as usize];
        }
        g
    }
}

/// A random top-left offset on the 30x30 canvas for a pair of grids (shared by both).
pub fn random_offset(input: &Grid, output: &Grid, rng: &mut impl Rng) -> (usize, usize) {
    let canvas = super::arc::CANVAS;
    let max_r = canvas - input.rows.max(output.rows);
    let max_c = canvas - input.cols.max(output.cols);
    (rng.gen_range(0..=max_r), rng.gen_range(0..=max_c))
}

/// The official `grid_hash`: SHA-256 over the shape bytes and the cells.
pub fn grid_hash(grid: &Grid) -> String {
    let mut buf = Vec::with_capacity(2 + grid.cells.len());
    buf.push(grid.rows as u8);
    buf.push(grid.cols as u8);
    buf.extend_from_slice(&grid.cells);
    sha256_hex(&buf)
}

/// The official `puzzle_hash`: SHA-256 of the sorted `"<input hash>|<output hash>"` strings.
pub fn pairs_hash<'a>(pairs: impl IntoIterator<Item = (&'a Grid, &'a Grid)>) -> String {
    let mut hashes: Vec<String> = pairs
        .into_iter()
        .map(|(i, o)| format!("{}|{}", grid_hash(i), grid_hash(o)))
        .collect();
    hashes.sort();
    sha256_hex(hashes.join("|").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dihedral_matches_numpy() {
        // a = [[1,2,3],[4,5,6]]
        let a = Grid::new(2, 3, vec![1, 2, 3, 4, 5, 6]);
        let expect: [(u8, usize, usize, [u8; 6]); 8] = [
            (0, 2, 3, [1, 2, 3, 4, 5, 6]),
            (1, 3, 2, [3, 6, 2, 5, 1, 4]), // np.rot90
            (2, 2, 3, [6, 5, 4, 3, 2, 1]),
            (3, 3, 2, [4, 1, 5, 2, 6, 3]),
            (4, 2, 3, [3, 2, 1, 6, 5, 4]),
            (5, 2, 3, [4, 5, 6, 1, 2, 3]),
            (6, 3, 2, [1, 4, 2, 5, 3, 6]),
            (7, 3, 2, [6, 3, 5, 2, 4, 1]),
        ];
        for (t, r, c, cells) in expect {
            let d = dihedral(&a, t);
            assert_eq!(
                (d.rows, d.cols, d.cells.as_slice()),
                (r, c, &cells[..]),
                "t={t}"
            );
            assert_eq!(inverse_dihedral(&d, t), a);
        }
    }

    #[test]
    fn arc_names_round_trip() {
        let aug = ArcAug {
            trans_id: 5,
            colour_map: [0, 3, 1, 2, 9, 8, 7, 6, 5, 4],
        };
        let name = aug.name("007bbfb7");
        assert_eq!(name, "007bbfb7|||t5|||0312987654");
        assert_eq!(ArcAug::parse_name(&name), Some(("007bbfb7", aug)));
        assert_eq!(ArcAug::parse_name("abc"), Some(("abc", ArcAug::IDENTITY)));
        assert_eq!(ArcAug::parse_name("abc|||t9|||0123456789"), None);
    }
}
