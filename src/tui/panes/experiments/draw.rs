//! Drawing the Experiments pane: the experiment list, the report table (means ± standard
//! deviations per variant), the runs per seed and the variants' curves.

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Chart, Dataset, GraphType, Paragraph, Row, Table, TableState,
};
use ratatui::Frame;

use crate::experiment::report::{format_duration, Report, RunStatus};
use crate::train::api::Split;
use crate::tui::chart::themed_axes;
use crate::tui::chart::{downsample_minmax, nice_bounds, segments, y_range, Pt};
use crate::tui::columns;
use crate::tui::fmt;
use crate::tui::theme::Theme;

use super::*;

/// The variant table's columns in the order they go when the pane is too narrow for all.
const DROP_ORDER: &[&str] = &[
    "best exact",
    "load",
    "cpu",
    "samples/cpu-s",
    "samples/s",
    "wall",
    "params",
    "depth",
    "token acc",
    "last 20%",
    "avg steps",
];

impl ExperimentsPane {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn draw_chart(
        &self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        title: &str,
        metric: &str,
        split: Split,
        smooth: bool,
    ) {
        let lines = self.lines(metric, split, smooth);
        let x_hi = lines
            .iter()
            .flat_map(|(_, p)| p.iter().map(|q| q.0))
            .fold(0.0f64, f64::max);
        let x_lo = lines
            .iter()
            .flat_map(|(_, p)| p.iter().map(|q| q.0))
            .fold(f64::INFINITY, f64::min);
        let (x0, x1) = if x_lo.is_finite() && x_hi > x_lo {
            (x_lo, x_hi)
        } else {
            (0.0, x_hi.max(1.0))
        };
        let buckets = area.width.saturating_sub(10).max(4) as usize;
        let drawn: Vec<(usize, Vec<Pt>)> = lines
            .iter()
            .map(|(vi, p)| (*vi, downsample_minmax(p, x0, x1, buckets)))
            .collect();
        let yr = y_range(drawn.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)), false);
        let ticks = if area.height >= 12 { 5 } else { 3 };
        let (y0, y1) = match yr {
            Some((a, b)) => nice_bounds(a, b, ticks),
            None => (0.0, 1.0),
        };
        let segs: Vec<(usize, Vec<Pt>)> = drawn
            .iter()
            .flat_map(|(vi, p)| segments(p).into_iter().map(move |s| (*vi, s)))
            .collect();
        let datasets: Vec<Dataset> = segs
            .iter()
            .map(|(vi, pts)| {
                let mut st = Style::default().fg(theme.series_color(*vi));
                if self
                    .report()
                    .and_then(|r| r.variants.get(*vi))
                    .map(|v| v.name.as_str())
                    == self.selected_variant()
                {
                    st = st.add_modifier(Modifier::BOLD);
                }
                Dataset::default()
                    .marker(if pts.len() == 1 {
                        Marker::Dot
                    } else {
                        Marker::Braille
                    })
                    .graph_type(GraphType::Line)
                    .style(st)
                    .data(pts)
            })
            .collect();
        let ylabels: Vec<Span> = (0..ticks)
            .map(|i| {
                Span::styled(
                    fmt::num(y0 + (y1 - y0) * i as f64 / (ticks - 1) as f64),
                    theme.dim_style(),
                )
            })
            .collect();
        let xlabels: Vec<Span> = [x0, (x0 + x1) / 2.0, x1]
            .iter()
            .map(|&v| Span::styled(fmt::num(v.round()), theme.dim_style()))
            .collect();
        let mut t = format!(
            " {title} · {} ",
            match self.seeds {
                SeedMode::Mean => "mean over seeds",
                SeedMode::Each => "each seed",
            }
        );
        if yr.is_none() {
            t.push_str("· no data ");
        }
        let chart = Chart::new(datasets).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border_style(false))
                .title(Span::styled(t, Style::default().fg(theme.fg))),
        );
        let chart = themed_axes(chart, theme, ([x0, x1], xlabels), ([y0, y1], ylabels));
        f.render_widget(chart, area);
    }

    pub(super) fn draw_list(&self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        let mut lines = Vec::new();
        if self.entries.is_empty() {
            lines.push(Line::styled("no experiments yet", theme.dim_style()));
            lines.push(Line::raw(""));
            lines.push(Line::styled("trm-tui experiment run", theme.dim_style()));
            lines.push(Line::styled("  experiments/cpu/FILE", theme.dim_style()));
            lines.push(Line::styled("writes them here", theme.dim_style()));
        }
        for (i, e) in self.entries.iter().enumerate() {
            let st = if i == self.sel {
                if focused {
                    theme.selected()
                } else {
                    Style::default().add_modifier(Modifier::REVERSED)
                }
            } else {
                Style::default().fg(theme.fg)
            };
            lines.push(Line::from(vec![
                Span::styled(e.name.clone(), st),
                Span::styled(
                    e.progress
                        .map_or(String::new(), |(d, t)| format!(" {d}/{t}")),
                    theme.dim_style(),
                ),
            ]));
        }
        f.render_widget(
            Paragraph::new(lines).style(theme.base()).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border_style(false))
                    .title(Span::styled(" Experiments ", theme.title_style())),
            ),
            area,
        );
    }

    /// The variant table, as many of the report's columns as fit ([`DROP_ORDER`]).
    pub(super) fn draw_table(&self, f: &mut Frame, area: Rect, theme: &Theme, r: &Report) {
        let (done, total) = r.progress();
        let title = format!(
            " {} · base {} · {done}/{total} runs finished ",
            r.name, r.base
        );
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_style(false))
            .title(Span::styled(title, theme.title_style()));
        let inner = block.inner(area);
        f.render_widget(block.style(theme.base()), area);
        let [desc, table, compares] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(r.verdict_count() as u16),
        ])
        .areas(inner);
        draw_compares(f, compares, theme, r);
        f.render_widget(
            Paragraph::new(Line::styled(
                if r.description.is_empty() {
                    format!("seeds {:?}", r.seeds)
                } else {
                    r.description.clone()
                },
                theme.dim_style(),
            )),
            desc,
        );
        let (header, rows) = r.table_cells();
        // Columns that do not fit go, the least telling first (`report.md` has them all; the
        // runs panel below shows each run's best and wall time). The first column also holds
        // the colour mark (2 cells), and one cell is kept spare.
        let drop: Vec<usize> = DROP_ORDER
            .iter()
            .filter_map(|name| header.iter().position(|h| h == name))
            .collect();
        let room = usize::from(table.width).saturating_sub(3);
        let kept = columns::fitting(&column_widths(&header, &rows), &drop, room);
        let header: Vec<&str> = kept.iter().map(|&c| header[c]).collect();
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|row| kept.iter().map(|&c| row[c].clone()).collect())
            .collect();
        let widths: Vec<Constraint> = column_widths(&header, &rows)
            .into_iter()
            .enumerate()
            .map(|(c, w)| {
                if c == 0 {
                    Constraint::Min(w + 2)
                } else {
                    Constraint::Length(w)
                }
            })
            .collect();
        let rows: Vec<Row> = rows
            .into_iter()
            .enumerate()
            .map(|(i, cells)| {
                let shown = !self.hidden.contains(&cells[0]);
                let mut spans = vec![Line::from(vec![
                    Span::styled(
                        if shown { "■ " } else { "□ " },
                        Style::default().fg(theme.series_color(i)),
                    ),
                    Span::raw(cells[0].clone()),
                ])];
                spans.extend(
                    cells
                        .into_iter()
                        .skip(1)
                        .map(|c| Line::from(c).alignment(Alignment::Right)),
                );
                Row::new(spans)
            })
            .collect();
        let header: Vec<Line> = header
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let l = Line::from(*h);
                if i == 0 {
                    l
                } else {
                    l.alignment(Alignment::Right)
                }
            })
            .collect();
        let t = Table::new(rows, widths)
            .header(Row::new(header).style(theme.title_style()))
            .row_highlight_style(theme.selected())
            .style(theme.base());
        let mut st = TableState::default()
            .with_selected((!r.variants.is_empty()).then_some(self.variant_sel));
        f.render_stateful_widget(t, table, &mut st);
    }
}

/// Each column as wide as its widest cell or header.
fn column_widths(header: &[&str], rows: &[Vec<String>]) -> Vec<u16> {
    (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|row| row[c].chars().count())
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(1) as u16
        })
        .collect()
}

/// One line per `[[compare]]`: the difference with its 95% interval (Welch or paired), the
/// verdict and the paper's direction; then one per `[[contrast]]`: the difference of
/// differences with its paired interval and the verdict.
fn draw_compares(f: &mut Frame, area: Rect, theme: &Theme, r: &Report) {
    let lines: Vec<Line> = r
        .compares
        .iter()
        .zip(r.compare_cells())
        .map(|(c, cells)| {
            // cells: comparison, metric, a, b, a - b, CI, df, verdict, paper, vs paper.
            let agree = match c.agrees() {
                Some(true) => Span::styled(" · agrees", theme.title_style()),
                Some(false) => Span::styled(" · OPPOSITE", theme.title_style()),
                None => Span::raw(""),
            };
            Line::from(vec![
                Span::raw(format!(
                    "{} {} {} {} → {}",
                    cells[0], cells[1], cells[4], cells[5], cells[7]
                )),
                Span::styled(format!(" · paper {}", cells[8]), theme.dim_style()),
                agree,
            ])
        })
        .chain(r.contrast_cells().into_iter().map(|cells| {
            // cells: contrast, metric, a, b, a - b, CI, verdict.
            Line::raw(format!(
                "{} {} {} {} → {}",
                cells[0], cells[1], cells[4], cells[5], cells[6]
            ))
        }))
        .collect();
    f.render_widget(Paragraph::new(lines).style(theme.base()), area);
}

impl ExperimentsPane {
    pub(super) fn draw_runs(&self, f: &mut Frame, area: Rect, theme: &Theme, r: &Report) {
        let name = self.selected_variant().unwrap_or("-").to_string();
        let mut lines = Vec::new();
        let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.1}%", v * 100.0));
        for run in r.runs.iter().filter(|x| x.variant == name) {
            let status_style = match run.status {
                RunStatus::Finished => Style::default().fg(theme.ok),
                RunStatus::Partial => Style::default().fg(theme.warn),
                RunStatus::Pending => theme.dim_style(),
            };
            let run_name = run
                .dir
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().to_string());
            lines.push(Line::from(vec![
                Span::raw(format!("{run_name}  ")),
                Span::styled(format!("{:<8}", run.status.label()), status_style),
                Span::raw(format!(
                    "  {:<9} best {:>6}  final {:>6}{}  token {:>6}  steps {:>4}  wall {}",
                    match (run.last_step, run.max_steps) {
                        (Some(s), 0) => s.to_string(),
                        (Some(s), m) => format!("{s}/{m}"),
                        (None, _) => "-".into(),
                    },
                    pct(run.best_exact),
                    pct(run.final_exact),
                    run.final_train_exact
                        .map_or(String::new(), |t| format!("  train {:>6}", pct(Some(t)))),
                    pct(run.final_token_accuracy),
                    run.avg_steps.map_or("-".into(), |v| format!("{v:.2}")),
                    run.wall_s.map_or("-".into(), format_duration),
                )),
            ]));
        }
        f.render_widget(
            Paragraph::new(lines).style(theme.base()).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border_style(false))
                    .title(Span::styled(
                        format!(" Runs of {name} "),
                        Style::default().fg(theme.fg),
                    )),
            ),
            area,
        );
    }
}
