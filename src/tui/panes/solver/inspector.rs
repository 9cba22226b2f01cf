//! The cell inspector: for the cell under the cursor, its input and target, and the model's
//! top-3 tokens with their probabilities at every step.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::data::{Puzzle, PuzzleKind};
use crate::model::SolveStep;
use crate::tui::grid::token_label;
use crate::tui::theme::Theme;

use super::scoring::Target;

/// What the inspector shows.
pub struct Inspector<'a> {
    pub puzzle: &'a Puzzle,
    pub target: Option<&'a Target>,
    pub steps: &'a [SolveStep],
    /// The step shown (highlighted, kept in view).
    pub cur: usize,
    /// The cell `(row, col)`.
    pub cursor: (usize, usize),
}

impl Inspector<'_> {
    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let p = self.puzzle;
        let (r, c) = self.cursor;
        let stride = match p.kind {
            PuzzleKind::Arc => crate::data::arc::CANVAS,
            _ => p.input.cols,
        };
        let i = r * stride + c;
        let inp = p.input_tokens();
        let given = inp
            .get(i)
            .map_or("?".into(), |&t| token_label(p.kind, t as usize));
        let tgt = self
            .target
            .as_ref()
            .and_then(|t| t.tokens.get(i))
            .map_or("-".into(), |&t| token_label(p.kind, t as usize));
        let mut lines = vec![Line::from(vec![
            Span::styled(format!("cell r{} c{}", r + 1, c + 1), theme.title_style()),
            Span::styled(format!("  input {given} · target {tgt}"), theme.dim_style()),
        ])];
        for (si, s) in self.steps.iter().enumerate() {
            let Some(probs) = s.probs.get(i) else {
                continue;
            };
            let mut idx: Vec<usize> = (0..probs.len()).collect();
            idx.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
            let mut spans = vec![Span::styled(
                format!("s{:<3}", s.step),
                if si == self.cur {
                    theme.selected()
                } else {
                    theme.dim_style()
                },
            )];
            for &t in idx.iter().take(3) {
                let ok = self.target.and_then(|x| x.tokens.get(i)) == Some(&(t as i32));
                spans.push(Span::styled(
                    format!(" {:>5} {:.2}", token_label(p.kind, t), probs[t]),
                    Style::default().fg(if ok { theme.ok } else { theme.fg }),
                ));
            }
            lines.push(Line::from(spans));
        }
        // Keep the current step visible.
        let inner = area.height.saturating_sub(2) as usize;
        let skip = (self.cur + 2).saturating_sub(inner);
        let lines: Vec<Line> = lines
            .into_iter()
            .enumerate()
            .filter(|(k, _)| *k == 0 || *k > skip)
            .map(|(_, l)| l)
            .collect();
        f.render_widget(
            Paragraph::new(lines).style(theme.base()).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border_style(false))
                    .title(Span::styled(
                        " Cell inspector (top-3 per step) ",
                        theme.title_style(),
                    )),
            ),
            area,
        );
    }
}
