//! The puzzle grid widget: Sudoku with box lines and givens distinct from predictions, mazes
//! with walls, start, goal and path, ARC in the canonical palette (2-column cells, or `▀`
//! half-blocks (top cell = foreground, bottom cell = background) to fit 30x30 in 15 rows).
//! Overlays colour the cells: correctness against a target, changes since the previous step,
//! or a confidence heat-map. It writes buffer cells directly (fast, and easy to test).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};

use super::theme::{Theme, ARC_PALETTE};
use crate::data::{arc::CANVAS, PuzzleKind};

/// What the cell colours mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    None,
    /// Green/red against the target (the label, or the classical solver's answer).
    Correctness,
    /// Cells that changed since the previous step.
    Diff,
    /// Heat-map of the probability of the predicted token.
    Confidence,
}

impl Overlay {
    pub const ALL: [Overlay; 4] = [
        Overlay::None,
        Overlay::Correctness,
        Overlay::Diff,
        Overlay::Confidence,
    ];
    pub fn next(self) -> Overlay {
        let i = Overlay::ALL.iter().position(|&o| o == self).unwrap_or(0);
        Overlay::ALL[(i + 1) % Overlay::ALL.len()]
    }
    pub fn label(self) -> &'static str {
        match self {
            Overlay::None => "plain",
            Overlay::Correctness => "correctness",
            Overlay::Diff => "changes",
            Overlay::Confidence => "confidence",
        }
    }
}

/// How cells are laid out on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellMode {
    /// Sudoku: 3 columns per cell, box lines between boxes.
    Sudoku { box_rows: usize, box_cols: usize },
    /// 2 columns per cell.
    Wide,
    /// 1 column per 2 rows (`▀`).
    HalfBlock,
}

/// Geometry of a drawn grid: which tokens, which region, how big.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridLayout {
    pub kind: PuzzleKind,
    /// Rows and columns shown.
    pub rows: usize,
    pub cols: usize,
    /// Row length of the token sequence (the ARC canvas is 30 wide).
    pub stride: usize,
    pub mode: CellMode,
}

impl GridLayout {
    /// Choose the layout of a puzzle kind for an area (`shown` = rows, cols of the region to
    /// show; for ARC the cropped size).
    pub fn new(kind: PuzzleKind, shown: (usize, usize), area: Rect) -> GridLayout {
        let (rows, cols) = shown;
        let stride = match kind {
            PuzzleKind::Sudoku { size } => size,
            PuzzleKind::Maze { cols, .. } => cols,
            PuzzleKind::Arc => CANVAS,
        };
        let mode = match kind {
            PuzzleKind::Sudoku { size } => {
                let geo = crate::data::sudoku::Geometry::new(size);
                CellMode::Sudoku {
                    box_rows: geo.map_or(size, |g| g.box_rows),
                    box_cols: geo.map_or(size, |g| g.box_cols),
                }
            }
            _ => {
                if (area.width as usize) >= cols * 2 && (area.height as usize) >= rows {
                    CellMode::Wide
                } else {
                    CellMode::HalfBlock
                }
            }
        };
        GridLayout {
            kind,
            rows,
            cols,
            stride,
            mode,
        }
    }

    /// Width and height on screen.
    pub fn size(&self) -> (u16, u16) {
        let (w, h) = match self.mode {
            CellMode::Sudoku { box_rows, box_cols } => (
                self.cols * 3 + (self.cols / box_cols.max(1)).saturating_sub(1),
                self.rows + (self.rows / box_rows.max(1)).saturating_sub(1),
            ),
            CellMode::Wide => (self.cols * 2, self.rows),
            CellMode::HalfBlock => (self.cols, self.rows.div_ceil(2)),
        };
        (
            w.min(u16::MAX as usize) as u16,
            h.min(u16::MAX as usize) as u16,
        )
    }

    /// Screen position (relative to the grid's origin) of cell (r, c): its first column and row.
    pub fn cell_pos(&self, r: usize, c: usize) -> (u16, u16) {
        let (x, y) = match self.mode {
            CellMode::Sudoku { box_rows, box_cols } => {
                (c * 3 + c / box_cols.max(1), r + r / box_rows.max(1))
            }
            CellMode::Wide => (c * 2, r),
            CellMode::HalfBlock => (c, r / 2),
        };
        (x as u16, y as u16)
    }

    /// Index of cell (r, c) in the token sequence.
    pub fn index(&self, r: usize, c: usize) -> usize {
        r * self.stride + c
    }
}

/// Everything a grid draw needs.
#[derive(Debug, Clone)]
pub struct GridView<'a> {
    pub layout: GridLayout,
    pub input: &'a [i32],
    /// The tokens to show (a prediction); `None` shows the input.
    pub shown: Option<&'a [u32]>,
    pub prev: Option<&'a [u32]>,
    pub target: Option<&'a [i32]>,
    /// Probability of the shown token, per cell.
    pub confidence: Option<&'a [f32]>,
    pub overlay: Overlay,
    /// Cursor cell (r, c).
    pub cursor: Option<(usize, usize)>,
    pub theme: &'a Theme,
}

/// The colour a cell's state gets under the overlay, if any.
fn overlay_bg(v: &GridView, i: usize, given: bool, tok: i32) -> Option<Color> {
    let t = v.theme;
    match v.overlay {
        Overlay::None => None,
        Overlay::Correctness => {
            let target = v.target?.get(i).copied()?;
            if given && tok == target {
                // Givens the model kept: not judged (drawn dim).
                return None;
            }
            if tok != target {
                Some(t.wrong_bg)
            } else if matches!(v.layout.kind, PuzzleKind::Maze { .. }) && target != MAZE_PATH {
                // Mazes: only the path is interesting when right.
                None
            } else {
                Some(t.correct_bg)
            }
        }
        Overlay::Diff => {
            let prev = v.prev?.get(i).copied()? as i32;
            (prev != tok).then_some(t.changed_bg)
        }
        Overlay::Confidence => {
            let c = v.confidence?.get(i).copied()?;
            Some(t.heat(c))
        }
    }
}

/// Maze token of the path (`o`).
const MAZE_PATH: i32 = 5;
const MAZE_WALL: i32 = 1;
const MAZE_START: i32 = 3;
const MAZE_GOAL: i32 = 4;

fn maze_color(t: &Theme, tok: i32) -> Color {
    match tok {
        MAZE_WALL => t.wall,
        MAZE_START => t.start,
        MAZE_GOAL => t.goal,
        MAZE_PATH => t.path,
        2 => t.bg,
        _ => t.error,
    }
}

fn arc_color(t: &Theme, tok: i32) -> Color {
    match tok {
        2..=11 => ARC_PALETTE[(tok - 2) as usize],
        1 => t.dim,
        _ => t.bg,
    }
}

/// Text of a Sudoku token (blank `·`, PAD or out of range `?`).
pub fn sudoku_glyph(tok: i32, size: usize) -> char {
    match tok {
        1 => '·',
        t if t >= 2 && (t as usize) <= size + 1 => {
            char::from_digit((t - 1) as u32, 10).unwrap_or('?')
        }
        _ => '?',
    }
}

/// A short label of a token for the inspector.
pub fn token_label(kind: PuzzleKind, tok: usize) -> String {
    match kind {
        PuzzleKind::Sudoku { size } => match sudoku_glyph(tok as i32, size) {
            '·' => "blank".into(),
            '?' => format!("tok{tok}"),
            d => d.to_string(),
        },
        PuzzleKind::Maze { .. } => match tok {
            1 => "wall".into(),
            2 => "open".into(),
            3 => "S".into(),
            4 => "G".into(),
            5 => "path".into(),
            _ => "pad".into(),
        },
        PuzzleKind::Arc => match tok {
            0 => "pad".into(),
            1 => "eos".into(),
            t => format!("c{}", t - 2),
        },
    }
}

impl GridView<'_> {
    fn tok(&self, i: usize) -> i32 {
        match self.shown {
            Some(s) => s.get(i).map_or(0, |&t| t as i32),
            None => self.input.get(i).copied().unwrap_or(0),
        }
    }

    fn is_given(&self, i: usize) -> bool {
        match self.layout.kind {
            PuzzleKind::Sudoku { .. } => self.input.get(i).is_some_and(|&t| t >= 2),
            // In a maze, everything but the path is given.
            PuzzleKind::Maze { .. } => self.input.get(i).is_some_and(|&t| t != 2),
            PuzzleKind::Arc => false,
        }
    }

    /// Draw at `area`'s top-left corner (clipped to it).
    pub fn render(&self, area: Rect, buf: &mut Buffer) {
        let l = self.layout;
        let t = self.theme;
        let put = |buf: &mut Buffer, x: u16, y: u16, s: &str, st: Style| {
            if x < area.width && y < area.height {
                let max = (area.width - x) as usize;
                buf.set_stringn(area.x + x, area.y + y, s, max, st);
            }
        };
        match l.mode {
            CellMode::Sudoku { box_rows, box_cols } => {
                let size = l.cols;
                let (w, h) = l.size();
                // Box lines.
                for y in 0..h {
                    for x in 0..w {
                        let vline = (x + 1) % (box_cols as u16 * 3 + 1) == 0;
                        let hline = (y + 1) % (box_rows as u16 + 1) == 0;
                        let ch = match (vline, hline) {
                            (true, true) => "┼",
                            (true, false) => "│",
                            (false, true) => "─",
                            _ => continue,
                        };
                        put(buf, x, y, ch, Style::default().fg(t.border).bg(t.bg));
                    }
                }
                for r in 0..l.rows {
                    for c in 0..l.cols {
                        let i = l.index(r, c);
                        let tok = self.tok(i);
                        let given = self.is_given(i);
                        let mut st = if given {
                            Style::default().fg(t.given).add_modifier(Modifier::BOLD)
                        } else if self.shown.is_some() {
                            Style::default().fg(t.predicted)
                        } else {
                            Style::default().fg(t.dim)
                        };
                        if given && self.overlay == Overlay::Correctness {
                            st = Style::default().fg(t.dim).add_modifier(Modifier::BOLD);
                        }
                        st = st.bg(overlay_bg(self, i, given, tok).unwrap_or(t.bg));
                        let g = sudoku_glyph(tok, size);
                        let (x, y) = l.cell_pos(r, c);
                        let text = if self.cursor == Some((r, c)) {
                            st = st.fg(t.cursor).add_modifier(Modifier::BOLD);
                            format!("[{g}]")
                        } else {
                            format!(" {g} ")
                        };
                        put(buf, x, y, &text, st);
                    }
                }
            }
            CellMode::Wide => {
                for r in 0..l.rows {
                    for c in 0..l.cols {
                        let i = l.index(r, c);
                        let tok = self.tok(i);
                        let given = self.is_given(i);
                        let (text, mut st) = self.wide_cell(tok);
                        if let Some(bg) = overlay_bg(self, i, given, tok) {
                            st = st.bg(bg);
                        }
                        if self.cursor == Some((r, c)) {
                            st = st.add_modifier(Modifier::REVERSED);
                        }
                        let (x, y) = l.cell_pos(r, c);
                        put(buf, x, y, text, st);
                    }
                }
            }
            CellMode::HalfBlock => {
                for r in (0..l.rows).step_by(2) {
                    for c in 0..l.cols {
                        let top = self.half_color(r, c);
                        let bottom = if r + 1 < l.rows {
                            self.half_color(r + 1, c)
                        } else {
                            t.bg
                        };
                        let mut st = Style::default().fg(top).bg(bottom);
                        if let Some((cr, cc)) = self.cursor {
                            if cc == c && (cr == r || cr == r + 1) {
                                st = st.add_modifier(Modifier::REVERSED);
                            }
                        }
                        let (x, y) = l.cell_pos(r, c);
                        put(buf, x, y, "▀", st);
                    }
                }
            }
        }
    }

    fn wide_cell(&self, tok: i32) -> (&'static str, Style) {
        let t = self.theme;
        match self.layout.kind {
            PuzzleKind::Maze { .. } => match tok {
                MAZE_WALL => ("██", Style::default().fg(t.wall).bg(t.bg)),
                2 => ("  ", Style::default().bg(t.bg)),
                MAZE_START => (
                    "S ",
                    Style::default()
                        .fg(t.start)
                        .bg(t.bg)
                        .add_modifier(Modifier::BOLD),
                ),
                MAZE_GOAL => (
                    "G ",
                    Style::default()
                        .fg(t.goal)
                        .bg(t.bg)
                        .add_modifier(Modifier::BOLD),
                ),
                MAZE_PATH => ("()", Style::default().fg(t.path).bg(t.bg)),
                0 => ("··", Style::default().fg(t.dim).bg(t.bg)),
                _ => ("??", Style::default().fg(t.error).bg(t.bg)),
            },
            _ => match tok {
                0 => ("··", Style::default().fg(t.dim).bg(t.bg)),
                1 => ("┼┼", Style::default().fg(t.dim).bg(t.bg)),
                _ => ("  ", Style::default().bg(arc_color(t, tok))),
            },
        }
    }

    fn half_color(&self, r: usize, c: usize) -> Color {
        let i = self.layout.index(r, c);
        let tok = self.tok(i);
        if let Some(bg) = overlay_bg(self, i, self.is_given(i), tok) {
            return bg;
        }
        match self.layout.kind {
            PuzzleKind::Maze { .. } => maze_color(self.theme, tok),
            _ => arc_color(self.theme, tok),
        }
    }
}

/// Rows and columns to show for a puzzle: the whole grid, or for ARC the larger of the input
/// and target crops (at least 1x1).
pub fn shown_dims(
    kind: PuzzleKind,
    input: &crate::data::Grid,
    target: Option<(usize, usize)>,
) -> (usize, usize) {
    match kind {
        PuzzleKind::Sudoku { size } => (size, size),
        PuzzleKind::Maze { rows, cols } => (rows, cols),
        PuzzleKind::Arc => {
            let (tr, tc) = target.unwrap_or((0, 0));
            (
                input.rows.max(tr).clamp(1, CANVAS),
                input.cols.max(tc).clamp(1, CANVAS),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudoku_layout_has_box_lines() {
        let l = GridLayout::new(
            PuzzleKind::Sudoku { size: 9 },
            (9, 9),
            Rect::new(0, 0, 80, 40),
        );
        assert_eq!(l.size(), (29, 11));
        assert_eq!(l.cell_pos(0, 3), (10, 0));
        assert_eq!(l.cell_pos(3, 0), (0, 4));
        let l4 = GridLayout::new(
            PuzzleKind::Sudoku { size: 4 },
            (4, 4),
            Rect::new(0, 0, 80, 40),
        );
        assert_eq!(l4.size(), (13, 5));
    }

    #[test]
    fn arc_30x30_falls_back_to_half_blocks() {
        let l = GridLayout::new(PuzzleKind::Arc, (30, 30), Rect::new(0, 0, 50, 20));
        assert_eq!(l.mode, CellMode::HalfBlock);
        assert_eq!(l.size(), (30, 15));
        let l = GridLayout::new(PuzzleKind::Arc, (5, 5), Rect::new(0, 0, 50, 20));
        assert_eq!(l.mode, CellMode::Wide);
        assert_eq!(l.index(1, 2), 32);
    }

    #[test]
    fn correctness_and_diff_colours() {
        let theme = Theme::default_dark();
        let kind = PuzzleKind::Sudoku { size: 4 };
        let area = Rect::new(0, 0, 20, 10);
        let layout = GridLayout::new(kind, (4, 4), area);
        // Given 1 at cell 0; the rest blank.
        let mut input = vec![1i32; 16];
        input[0] = 2;
        let target: Vec<i32> = vec![2, 3, 4, 5, 4, 5, 2, 3, 3, 2, 5, 4, 5, 4, 3, 2];
        let mut pred: Vec<u32> = target.iter().map(|&t| t as u32).collect();
        pred[1] = 4; // wrong
        let prev: Vec<u32> = pred.iter().map(|&t| if t == 5 { 1 } else { t }).collect();
        let mut v = GridView {
            layout,
            input: &input,
            shown: Some(&pred),
            prev: Some(&prev),
            target: Some(&target),
            confidence: None,
            overlay: Overlay::Correctness,
            cursor: None,
            theme: &theme,
        };
        let mut buf = Buffer::empty(area);
        v.render(area, &mut buf);
        let at = |buf: &Buffer, r, c| {
            let (x, y) = layout.cell_pos(r, c);
            buf[(x + 1, y)].clone()
        };
        assert_eq!(at(&buf, 0, 1).bg, theme.wrong_bg);
        assert_eq!(at(&buf, 0, 2).bg, theme.correct_bg);
        assert_eq!(at(&buf, 0, 0).bg, theme.bg, "kept givens are not judged");
        assert_eq!(at(&buf, 0, 0).fg, theme.dim);
        assert_eq!(at(&buf, 0, 1).symbol(), "3");
        v.overlay = Overlay::Diff;
        let mut buf = Buffer::empty(area);
        v.render(area, &mut buf);
        assert_eq!(
            at(&buf, 0, 3).bg,
            theme.changed_bg,
            "token 5 changed from blank"
        );
        assert_eq!(at(&buf, 0, 2).bg, theme.bg);
    }
}
