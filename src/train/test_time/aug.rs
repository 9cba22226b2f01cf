//! The augmented copies of aug-vote, on tokens: a cell permutation and a token relabelling
//! built from the data layer's augmentations (Sudoku digit relabelling, band/row and
//! stack/column permutations and transposes, the official `shuffle_sudoku`; a maze's dihedral
//! transforms, the official `dihedral_transform`), with the inverse that brings a copy's answer
//! (tokens, or any per-cell value such as a confidence) back to the original puzzle's frame.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::augment::{dihedral_map, SudokuShuffle};
use crate::data::sudoku::Geometry;
use crate::data::PuzzleKind;

/// One augmentation of a puzzle's token sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellAug {
    /// Augmented cell `k` takes original cell `cells[k]`.
    pub cells: Vec<usize>,
    /// `tokens[t]` is the augmented token of original token `t`; tokens past the table are
    /// kept as they are.
    pub tokens: Vec<i32>,
    /// What it is, for traces: `identity`, `sudoku shuffle`, `dihedral 3`.
    pub name: String,
}

impl CellAug {
    pub fn identity(seq_len: usize) -> Self {
        Self {
            cells: (0..seq_len).collect(),
            tokens: Vec::new(),
            name: "identity".into(),
        }
    }

    /// A Sudoku shuffle of a `size` x `size` grid (tokens: PAD 0, blank 1, digit d -> d + 1).
    pub fn sudoku(shuffle: &SudokuShuffle, size: usize) -> Self {
        let mut tokens = vec![0i32; size + 2];
        for (d, &m) in shuffle.digit_map.iter().enumerate().take(size + 1) {
            tokens[d + 1] = i32::from(m) + 1;
        }
        Self {
            cells: shuffle.cell_map(size),
            tokens,
            name: "sudoku shuffle".into(),
        }
    }

    /// Dihedral transform `t` of a `rows` x `cols` maze; `None` when it changes the shape (a
    /// rotation or transpose of a non-square grid), which the model's sequence cannot hold.
    pub fn dihedral(rows: usize, cols: usize, t: u8) -> Option<Self> {
        let (r, c, cells) = dihedral_map(rows, cols, t);
        (r == rows && c == cols).then(|| Self {
            cells,
            tokens: Vec::new(),
            name: format!("dihedral {t}"),
        })
    }

    fn map_token(&self, t: i32) -> i32 {
        usize::try_from(t)
            .ok()
            .and_then(|i| self.tokens.get(i))
            .copied()
            .unwrap_or(t)
    }

    fn unmap_token(&self, t: i32) -> i32 {
        self.tokens
            .iter()
            .position(|&m| m == t)
            .map_or(t, |i| i as i32)
    }

    /// The augmented copy of an original token sequence.
    pub fn apply(&self, tokens: &[i32]) -> Vec<i32> {
        self.cells
            .iter()
            .map(|&k| self.map_token(tokens[k]))
            .collect()
    }

    /// Per-cell values of the augmented frame moved back to the original cells.
    pub fn invert_cells<T: Copy + Default>(&self, values: &[T]) -> Vec<T> {
        let mut out = vec![T::default(); values.len()];
        for (k, &src) in self.cells.iter().enumerate() {
            out[src] = values[k];
        }
        out
    }

    /// An answer of the augmented copy as an answer of the original puzzle.
    pub fn invert_tokens(&self, tokens: &[i32]) -> Vec<i32> {
        let moved = self.invert_cells(tokens);
        moved.into_iter().map(|t| self.unmap_token(t)).collect()
    }
}

/// The `count` copies of aug-vote for a puzzle of `kind`: copy 0 is the puzzle itself; a Sudoku
/// gets random shuffles drawn from `seed`; a maze the dihedral transforms 1, 2, ... in order
/// (those that keep its shape), repeating once all are used.
pub fn augmentations(kind: PuzzleKind, count: usize, seed: u64) -> Result<Vec<CellAug>, String> {
    let mut out = vec![CellAug::identity(kind.seq_len())];
    if count <= 1 {
        return Ok(out);
    }
    match kind {
        PuzzleKind::Sudoku { size } => {
            let geo = Geometry::new(size)
                .ok_or_else(|| format!("no Sudoku augmentation for size {size}"))?;
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            while out.len() < count {
                out.push(CellAug::sudoku(
                    &SudokuShuffle::random(&geo, &mut rng),
                    size,
                ));
            }
        }
        PuzzleKind::Maze { rows, cols } => {
            let shapes: Vec<CellAug> = (0u8..8)
                .filter_map(|t| CellAug::dihedral(rows, cols, t))
                .collect();
            while out.len() < count {
                out.push(shapes[out.len() % shapes.len()].clone());
            }
        }
        PuzzleKind::Arc => {
            return Err(
                "aug-vote augments Sudoku and maze puzzles; ARC has its own voting (arc_eval)"
                    .into(),
            )
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maze_copies_cycle_through_the_shape_keeping_transforms() {
        let sq = augmentations(PuzzleKind::Maze { rows: 3, cols: 3 }, 10, 0).unwrap();
        let names: Vec<&str> = sq.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names[..3], ["identity", "dihedral 1", "dihedral 2"]);
        assert_eq!(names[8], "dihedral 0");
        let wide = augmentations(PuzzleKind::Maze { rows: 2, cols: 3 }, 4, 0).unwrap();
        let names: Vec<&str> = wide.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            ["identity", "dihedral 2", "dihedral 4", "dihedral 5"]
        );
        assert!(augmentations(PuzzleKind::Arc, 2, 0).is_err());
    }

    #[test]
    fn tokens_past_the_table_are_kept() {
        let shuffle = SudokuShuffle {
            digit_map: vec![0, 2, 1, 4, 3],
            transpose: false,
            row_perm: vec![0, 1, 2, 3],
            col_perm: vec![0, 1, 2, 3],
        };
        let a = CellAug::sudoku(&shuffle, 4);
        let x = [0, 1, 2, 3, 4, 5, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let y = a.apply(&x);
        assert_eq!(&y[..7], &[0, 1, 3, 2, 5, 4, 9]);
        assert_eq!(a.invert_tokens(&y), x);
    }
}
