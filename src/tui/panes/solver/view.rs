//! The solver's layout and grid: the header on top, the puzzle grid (with the overlay, or the
//! editor's grid) and the cell inspector on the left, the step strip and the legend on the
//! right, and the open picker over it all.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::tui::grid::{GridLayout, GridView, Overlay};
use crate::tui::theme::Theme;

use super::inspector::Inspector;
use super::strip::draw_strip;
use super::{Mode, SolverPane};

impl SolverPane {
    pub(super) fn draw_pane(&mut self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_style(focused))
            .title(Span::styled(" Solver ", theme.title_style()));
        let inner = block.inner(area);
        f.render_widget(block.style(theme.base()), area);
        let [head, body] =
            Layout::vertical([Constraint::Length(4), Constraint::Min(1)]).areas(inner);
        f.render_widget(
            Paragraph::new(self.header(theme))
                .wrap(ratatui::widgets::Wrap { trim: false })
                .style(theme.base()),
            head,
        );

        let right_w = 64u16.min(body.width / 2);
        let left_max = Rect::new(
            0,
            0,
            body.width.saturating_sub(right_w + 2),
            body.height.saturating_sub(8),
        );
        let (rows, cols) = self.dims();
        let (kind, input_tokens) = match (&self.mode, &self.puzzle) {
            (Mode::Edit(e), Some(p)) => (p.kind, p.kind.encode(e.grid())),
            (_, Some(p)) => (p.kind, p.input_tokens()),
            _ => {
                f.render_widget(
                    Paragraph::new("No puzzle: press p to pick one.").style(theme.dim_style()),
                    body,
                );
                return;
            }
        };
        let layout = GridLayout::new(kind, (rows, cols), left_max);
        let (gw, gh) = layout.size();
        let left_w = (gw + 2).max(42).min(body.width.saturating_sub(right_w));
        let [left, right] =
            Layout::horizontal([Constraint::Length(left_w), Constraint::Min(10)]).areas(body);
        let [grid_area, insp_area] =
            Layout::vertical([Constraint::Length(gh + 2), Constraint::Min(3)]).areas(left);

        let step = self.steps.current();
        let shown = self.steps.shown_pred();
        let overlay_target = self.overlay_target();
        let prev = self.steps.prev_pred();
        let conf: Option<Vec<f32>> = step.map(|s| {
            s.probs
                .iter()
                .zip(shown.unwrap_or(&s.pred))
                .map(|(p, &t)| p.get(t as usize).copied().unwrap_or(0.0))
                .collect()
        });
        let edit_cursor = match &self.mode {
            Mode::Edit(e) => Some(e.cursor()),
            _ => None,
        };
        let editing = edit_cursor.is_some();
        let view = GridView {
            layout,
            input: &input_tokens,
            shown: if editing { None } else { shown },
            prev: if editing { None } else { prev },
            target: if editing {
                None
            } else {
                overlay_target.as_deref()
            },
            confidence: if editing { None } else { conf.as_deref() },
            overlay: if editing { Overlay::None } else { self.overlay },
            cursor: edit_cursor.or(Some(self.cursor)),
            theme,
        };
        let gblock = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_style(editing))
            .title(Span::styled(
                if editing {
                    " Edit grid ".to_string()
                } else {
                    format!(" {} ", kind)
                },
                theme.title_style(),
            ));
        let ginner = gblock.inner(grid_area);
        f.render_widget(gblock.style(theme.base()), grid_area);
        view.render(ginner, f.buffer_mut());
        if let Some(puzzle) = &self.puzzle {
            Inspector {
                puzzle,
                target: self.target.as_ref(),
                steps: self.steps.all(),
                cur: self.steps.cur(),
                cursor: self.cursor,
            }
            .draw(f, insp_area, theme);
        }

        let strip_h = (self.steps.len() as u16 + 3)
            .max(5)
            .min(right.height.saturating_sub(4));
        let [strip, legend] =
            Layout::vertical([Constraint::Length(strip_h), Constraint::Min(1)]).areas(right);
        draw_strip(
            f,
            strip,
            theme,
            self.steps.all(),
            &self.stats(),
            self.steps.cur(),
        );
        let legend_lines = vec![
            Line::from(vec![
                Span::styled("correctness ", theme.dim_style()),
                Span::styled(" right ", Style::default().bg(theme.correct_bg).fg(theme.fg)),
                Span::raw(" "),
                Span::styled(" wrong ", Style::default().bg(theme.wrong_bg).fg(theme.fg)),
                Span::styled("  changes ", theme.dim_style()),
                Span::styled(" changed ", Style::default().bg(theme.changed_bg).fg(theme.fg)),
                Span::styled("  confidence ", theme.dim_style()),
                Span::styled(" 0 ", Style::default().bg(theme.heat(0.0)).fg(theme.fg)),
                Span::styled(" .5 ", Style::default().bg(theme.heat(0.5)).fg(theme.bg)),
                Span::styled(" 1 ", Style::default().bg(theme.heat(1.0)).fg(theme.bg)),
            ]),
            Line::styled(
                "σ(halt) ▲ = q_halt > 0 (would halt); ◀ halt = first such step; stuck = |ΔzH|/|zH| < 1e-3 while wrong",
                theme.dim_style(),
            ),
        ];
        f.render_widget(
            Paragraph::new(legend_lines)
                .wrap(ratatui::widgets::Wrap { trim: true })
                .style(theme.base()),
            legend,
        );
        self.draw_picker(f, area, theme);
    }
}
