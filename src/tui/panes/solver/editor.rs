//! The grid editor: type a puzzle cell by cell (digits for Sudoku and ARC, `# s g .` for
//! mazes), then solve it. A pure state machine: keys in, an [`EditOutcome`] out; the checks of
//! the finished grid (a maze's endpoints, a Sudoku's number of solutions) are
//! [`check_typed`].

use crossterm::event::{KeyCode, KeyEvent};

use crate::data::{Grid, PuzzleKind};
use crate::tui::keys::{Binding, KeyMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditAction {
    Left,
    Down,
    Up,
    Right,
    Set,
    Clear,
    Done,
    Cancel,
}

/// The editor's keys (config table `solver_edit`).
pub const KEYS: &[Binding<EditAction>] = &[
    Binding::bar(
        EditAction::Left,
        "left",
        &["h", "Left"],
        "move",
        "cell to the left",
    ),
    Binding::bar(
        EditAction::Down,
        "down",
        &["j", "Down"],
        "move",
        "cell below",
    ),
    Binding::bar(EditAction::Up, "up", &["k", "Up"], "move", "cell above"),
    Binding::bar(
        EditAction::Right,
        "right",
        &["l", "Right"],
        "move",
        "cell to the right",
    ),
    Binding::bar(
        EditAction::Set,
        "set",
        &["<char>"],
        "set cell",
        "set the cell and move on (digits; mazes: # wall, s start, g goal, . open)",
    )
    .labelled("digits # s g ."),
    Binding::bar(
        EditAction::Clear,
        "clear",
        &["Backspace", "Delete"],
        "clear",
        "clear the cell",
    ),
    Binding::bar(
        EditAction::Done,
        "done",
        &["Enter"],
        "solve it",
        "solve the typed puzzle",
    ),
    Binding::bar(
        EditAction::Cancel,
        "cancel",
        &["Esc"],
        "cancel",
        "leave the editor",
    ),
];

/// A grid being typed and its cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct GridEditor {
    kind: PuzzleKind,
    grid: Grid,
    r: usize,
    c: usize,
}

/// What a key did to the editor.
#[derive(Debug, Clone, PartialEq)]
pub enum EditOutcome {
    Editing,
    /// A character that is no value of this kind's cells.
    NotAValue(char),
    Cancelled,
    Done(Grid),
}

impl GridEditor {
    /// Edit `grid` (a puzzle of `kind`) from the cursor `(r, c)`; `None` for an empty grid.
    pub fn new(kind: PuzzleKind, grid: Grid, (r, c): (usize, usize)) -> Option<GridEditor> {
        if grid.rows == 0 || grid.cols == 0 {
            return None;
        }
        let (r, c) = (r.min(grid.rows - 1), c.min(grid.cols - 1));
        Some(GridEditor { kind, grid, r, c })
    }

    pub fn kind(&self) -> PuzzleKind {
        self.kind
    }
    pub fn grid(&self) -> &Grid {
        &self.grid
    }
    pub fn cursor(&self) -> (usize, usize) {
        (self.r, self.c)
    }

    /// Every cell emptied (the start of typing a new puzzle).
    pub fn clear_all(&mut self) {
        let blank = blank(self.kind);
        self.grid = Grid::filled(self.grid.rows, self.grid.cols, blank);
        self.r = 0;
        self.c = 0;
    }

    pub fn handle(&mut self, keys: &KeyMap<EditAction>, key: &KeyEvent) -> EditOutcome {
        let (rows, cols) = (self.grid.rows, self.grid.cols);
        match keys.action(key) {
            Some(EditAction::Cancel) => return EditOutcome::Cancelled,
            Some(EditAction::Done) => return EditOutcome::Done(self.grid.clone()),
            Some(EditAction::Left) => self.c = self.c.saturating_sub(1),
            Some(EditAction::Right) => self.c = (self.c + 1).min(cols - 1),
            Some(EditAction::Up) => self.r = self.r.saturating_sub(1),
            Some(EditAction::Down) => self.r = (self.r + 1).min(rows - 1),
            Some(EditAction::Clear) => self.grid.set(self.r, self.c, blank(self.kind)),
            Some(EditAction::Set) => {
                let KeyCode::Char(ch) = key.code else {
                    return EditOutcome::Editing;
                };
                let Some(v) = cell_value(self.kind, ch) else {
                    return EditOutcome::NotAValue(ch);
                };
                self.grid.set(self.r, self.c, v);
                if self.c + 1 < cols {
                    self.c += 1;
                } else if self.r + 1 < rows {
                    self.c = 0;
                    self.r += 1;
                }
            }
            None => {}
        }
        EditOutcome::Editing
    }
}

/// An empty cell of a kind.
fn blank(kind: PuzzleKind) -> u8 {
    match kind {
        PuzzleKind::Sudoku { .. } | PuzzleKind::Arc => 0,
        PuzzleKind::Maze { .. } => crate::data::maze::OPEN,
    }
}

/// The cell value a typed character stands for in a puzzle of `kind`.
fn cell_value(kind: PuzzleKind, ch: char) -> Option<u8> {
    match kind {
        PuzzleKind::Sudoku { size } => match ch {
            '.' | '0' | ' ' => Some(0),
            d if d.is_ascii_digit() && (d as u8 - b'0') as usize <= size => Some(d as u8 - b'0'),
            _ => None,
        },
        PuzzleKind::Maze { .. } => match ch {
            '#' | 'w' => Some(b'#'),
            ' ' | '.' => Some(b' '),
            's' | 'S' => Some(b'S'),
            'g' | 'G' => Some(b'G'),
            _ => None,
        },
        PuzzleKind::Arc => ch.to_digit(10).map(|d| d as u8),
    }
}

/// What is wrong with a typed puzzle, if anything (it is solved all the same): a maze without
/// its endpoints, a Sudoku without a solution or with several.
pub fn check_typed(kind: PuzzleKind, grid: &Grid) -> Option<String> {
    match kind {
        PuzzleKind::Maze { .. } => crate::data::maze::endpoints(grid)
            .err()
            .map(|e| format!("typed maze: {e}; still solving it")),
        PuzzleKind::Sudoku { size } => {
            let geo = crate::data::sudoku::Geometry::new(size)?;
            match crate::data::sudoku::Solver::new(geo).count_solutions(grid, 2) {
                0 => Some("typed sudoku has no solution: no correctness target".into()),
                2 => Some("typed sudoku has several solutions: the target is one of them".into()),
                _ => None,
            }
        }
        PuzzleKind::Arc => None,
    }
}
