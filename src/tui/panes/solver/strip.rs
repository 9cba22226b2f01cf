//! The step strip: one row per supervision step (cell accuracy, exact, cells changed,
//! sigmoid(q_halt) and where the model would halt, latent norms and their change, flags).

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Row, Table};
use ratatui::Frame;

use crate::data::maze::PathCheck;
use crate::model::SolveStep;
use crate::tui::columns;
use crate::tui::theme::Theme;

use super::scoring::StepStats;

/// A column of the strip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Step,
    Acc,
    Exact,
    Changed,
    Halt,
    ZhNorm,
    ZhDelta,
    ZlDelta,
    Flags,
}

impl Col {
    /// Left to right, as drawn.
    const ORDER: [Col; 9] = [
        Col::Step,
        Col::Acc,
        Col::Exact,
        Col::Changed,
        Col::Halt,
        Col::ZhNorm,
        Col::ZhDelta,
        Col::ZlDelta,
        Col::Flags,
    ];
    /// What a narrow strip drops first: the latent norms, then the cells changed; the answer's
    /// quality and the halting decision last. The step stays.
    const DROP: [Col; 8] = [
        Col::ZhNorm,
        Col::ZlDelta,
        Col::ZhDelta,
        Col::Changed,
        Col::Flags,
        Col::Halt,
        Col::Exact,
        Col::Acc,
    ];

    fn header(self) -> &'static str {
        match self {
            Col::Step => "step",
            Col::Acc => "acc",
            Col::Exact => "exact",
            Col::Changed => "chg",
            Col::Halt => "σ(halt)",
            Col::ZhNorm => "|zH|",
            Col::ZhDelta => "|ΔzH|",
            Col::ZlDelta => "|ΔzL|",
            Col::Flags => "",
        }
    }

    /// The column's width: its widest value (the flags take any width left, at least 6).
    fn width(self) -> u16 {
        match self {
            Col::Step | Col::Changed => 4,
            Col::Acc | Col::ZhNorm | Col::Flags => 6,
            Col::Exact => 5,
            Col::Halt | Col::ZhDelta | Col::ZlDelta => 7,
        }
    }
}

/// The columns that fit `inner` cells ([`columns::fitting`], in `Col::DROP`'s order), drawn
/// in their usual order.
pub fn columns_for(inner: u16) -> Vec<Col> {
    // `ORDER` lists the columns in declaration order, so `c as usize` is `c`'s index there.
    let widths = Col::ORDER.map(Col::width);
    let drop = Col::DROP.map(|c| c as usize);
    columns::fitting(&widths, &drop, usize::from(inner))
        .into_iter()
        .map(|i| Col::ORDER[i])
        .collect()
}

/// The flags of a step: where the model first would halt, a stuck latent, a maze path's check.
fn flags(i: usize, first_halt: Option<usize>, st: &StepStats) -> String {
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
    flag
}

/// One cell of a step's row.
fn cell(c: Col, s: &SolveStep, st: &StepStats, flags: &str) -> String {
    match c {
        Col::Step => format!("{:>3}", s.step),
        Col::Acc => st
            .accuracy
            .map_or("  -".into(), |a| format!("{:>5.1}%", a * 100.0)),
        Col::Exact => match st.exact {
            Some(true) => "  ✓".into(),
            Some(false) => "  ·".into(),
            None => "  -".into(),
        },
        Col::Changed => format!("{:>4}", st.changed),
        Col::Halt => format!(
            "{:>5.3}{}",
            st.halt_prob,
            if st.would_halt { "▲" } else { " " }
        ),
        Col::ZhNorm => format!("{:>6.1}", s.z_h_norm),
        Col::ZhDelta => format!("{:>7.3}", s.z_h_delta),
        Col::ZlDelta => format!("{:>7.3}", s.z_l_delta),
        Col::Flags => flags.to_string(),
    }
}

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
    let cols = columns_for(area.width.saturating_sub(2));
    let header = Row::new(cols.iter().map(|c| c.header())).style(theme.title_style());
    let rows: Vec<Row> = steps
        .iter()
        .zip(stats)
        .enumerate()
        .map(|(i, (s, st))| {
            let style = if i == cur {
                theme.selected()
            } else if st.exact == Some(true) {
                Style::default().fg(theme.ok)
            } else {
                Style::default().fg(theme.fg)
            };
            let flags = flags(i, first_halt, st);
            Row::new(cols.iter().map(|&c| cell(c, s, st, &flags))).style(style)
        })
        .collect();
    let widths = cols.iter().map(|&c| match c {
        Col::Flags => Constraint::Min(c.width()),
        _ => Constraint::Length(c.width()),
    });
    let t = Table::new(rows, widths)
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

#[cfg(test)]
mod tests {
    use super::{columns_for, Col};

    #[test]
    fn a_narrow_strip_drops_whole_columns_in_priority_order() {
        use Col::*;
        // Every column: 4+6+5+4+7+6+7+7+6 and 8 spaces.
        let all = Col::ORDER.to_vec();
        assert_eq!(columns_for(60), all);
        assert_eq!(columns_for(200), all);
        // An 80-column terminal leaves the strip 37 cells: the latent norms go.
        assert_eq!(
            columns_for(37),
            vec![Step, Acc, Exact, Changed, Halt, Flags]
        );
        // One short of that: the changed-cells count goes too.
        assert_eq!(columns_for(36), vec![Step, Acc, Exact, Halt, Flags]);
        // Room for |ΔzH| but not |ΔzL|.
        assert_eq!(
            columns_for(45),
            vec![Step, Acc, Exact, Changed, Halt, ZhDelta, Flags]
        );
        // The step column stays however narrow.
        assert_eq!(columns_for(0), vec![Step]);
    }
}
