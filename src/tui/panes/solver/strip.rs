//! The step strip: one row per supervision step (cell accuracy, exact, cells changed,
//! sigmoid(q_halt) and where the model would halt, latent norms and their change, flags).

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Row, Table};
use ratatui::Frame;

use crate::data::maze::PathCheck;
use crate::model::SolveStep;
use crate::tui::theme::Theme;

use super::scoring::StepStats;

/// Draw the strip of `steps` with their `stats`, step `cur` highlighted.
pub fn draw_strip(
    f: &mut Frame,
    area: Rect,
    theme: &Theme,
    steps: &[SolveStep],
    stats: &[StepStats],
    cur: usize,
) {
    let first_halt = stats.iter().position(|s| s.would_halt);
    let header = Row::new(vec![
        "step", "acc", "exact", "chg", "σ(halt)", "|zH|", "|ΔzH|", "|ΔzL|", "",
    ])
    .style(theme.title_style());
    let rows: Vec<Row> = steps
        .iter()
        .zip(stats)
        .enumerate()
        .map(|(i, (s, st))| {
            let mut flag = String::new();
            if Some(i) == first_halt {
                flag.push_str("◀ halt");
            }
            if st.stuck {
                flag.push_str(if flag.is_empty() { "stuck" } else { " stuck" });
            }
            if let Some(c) = &st.path_check {
                if !flag.is_empty() {
                    flag.push(' ');
                }
                flag.push_str(match c {
                    PathCheck::Correct => "✓ shortest",
                    PathCheck::NotShortest { .. } => "longer",
                    PathCheck::Invalid(_) => "✗ path",
                });
            }
            let style = if i == cur {
                theme.selected()
            } else if st.exact == Some(true) {
                Style::default().fg(theme.ok)
            } else {
                Style::default().fg(theme.fg)
            };
            Row::new(vec![
                format!("{:>3}", s.step),
                st.accuracy
                    .map_or("  -".into(), |a| format!("{:>5.1}%", a * 100.0)),
                match st.exact {
                    Some(true) => "  ✓".into(),
                    Some(false) => "  ·".into(),
                    None => "  -".into(),
                },
                format!("{:>4}", st.changed),
                format!(
                    "{:>5.3}{}",
                    st.halt_prob,
                    if st.would_halt { "▲" } else { " " }
                ),
                format!("{:>6.1}", s.z_h_norm),
                format!("{:>7.3}", s.z_h_delta),
                format!("{:>7.3}", s.z_l_delta),
                flag,
            ])
            .style(style)
        })
        .collect();
    let t = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(4),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Min(6),
        ],
    )
    .header(header)
    .block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_style(false))
            .title(Span::styled(" Steps ", theme.title_style())),
    )
    .style(theme.base());
    f.render_widget(t, area);
}
