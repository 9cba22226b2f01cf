//! Drawing the curves: one metric's chart (raw line dimmed under the smoothed one, NaN gaps,
//! the visible window) and the legend of runs.

use crate::tui::chart::themed_axes;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Chart, Dataset, GraphType, Paragraph};
use ratatui::Frame;

use crate::train::api::Split;
use crate::tui::chart::{downsample_minmax, log10_y, nice_bounds, segments, y_range, Pt};
use crate::tui::config::Paths;
use crate::tui::fmt;
use crate::tui::theme::Theme;

use super::{CurvesPane, SplitFilter, XAxis, COMPANIONS, METRICS};

impl CurvesPane {
    /// Draw one metric's chart in `area`.
    #[allow(clippy::too_many_arguments)]
    pub fn draw_metric(
        &mut self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        metric: usize,
        selected: bool,
        view: (f64, f64),
    ) {
        let title = METRICS[metric % METRICS.len()].1;
        let (x0, x1) = view;
        let (smoothing, x_axis, split, log_y) =
            (self.smoothing, self.x_axis, self.split, self.log_y);
        let inner_w = area.width.saturating_sub(10).max(4) as usize;
        // Braille: 2 dots per cell; min+max per bucket.
        let buckets = inner_w;
        let transform = |pts: Vec<Pt>| if log_y { log10_y(&pts) } else { pts };
        // (points, style, graph type) of every line to draw.
        let mut lines: Vec<(Vec<Pt>, Style, GraphType)> = Vec::new();
        let mut last_values: Vec<String> = Vec::new();
        for (ri, r) in self.runs.iter_mut().enumerate() {
            if !r.visible {
                continue;
            }
            let color = theme.series_color(ri);
            if split != SplitFilter::Eval {
                let (raw, smooth) = r.cached(metric, false, x_axis, smoothing);
                if !raw.is_empty() {
                    if let Some(v) = smooth.iter().rev().find(|p| p.1.is_finite()) {
                        last_values.push(fmt::num(v.1));
                    }
                    if smoothing > 0.0 {
                        lines.push((
                            transform(downsample_minmax(raw, x0, x1, buckets)),
                            Style::default().fg(theme.raw),
                            GraphType::Line,
                        ));
                    }
                    lines.push((
                        transform(downsample_minmax(smooth, x0, x1, buckets)),
                        Style::default().fg(color),
                        GraphType::Line,
                    ));
                }
            }
            if split != SplitFilter::Train {
                let (ev, _) = r.cached(metric, true, x_axis, smoothing);
                if !ev.is_empty() {
                    if let Some(v) = ev.iter().rev().find(|p| p.1.is_finite()) {
                        last_values.push(format!("eval {}", fmt::num(v.1)));
                    }
                    lines.push((
                        transform(downsample_minmax(ev, x0, x1, buckets)),
                        Style::default().fg(color).add_modifier(Modifier::BOLD),
                        GraphType::Line,
                    ));
                }
                // Companion series of this metric (COMPANIONS), as dots.
                let name = METRICS[metric % METRICS.len()].0;
                for &(_, key, label) in COMPANIONS.iter().filter(|c| c.0 == name) {
                    let pts = r.series(key, Split::Eval, x_axis);
                    if let Some(v) = pts.iter().rev().find(|p| p.1.is_finite()) {
                        last_values.push(format!("{label} {}", fmt::num(v.1)));
                        lines.push((
                            transform(pts),
                            Style::default().fg(color),
                            GraphType::Scatter,
                        ));
                    }
                }
            }
        }
        let in_window = |p: &&Pt| p.0 >= x0 && p.0 <= x1;
        let yr = y_range(
            lines
                .iter()
                .flat_map(|(pts, _, _)| pts.iter().filter(in_window).map(|p| p.1)),
            self.robust,
        );
        let ticks = if area.height >= 12 { 5 } else { 3 };
        let (y0, y1) = match yr {
            // Large charts: round bounds for 5 round labels; small ones: the data range, padded.
            Some((a, b)) if ticks >= 5 => nice_bounds(a, b, ticks),
            Some((a, b)) => {
                // At least 2% of the magnitude, so a flat line gets distinct labels.
                let pad = ((b - a) * 0.05).max(a.abs().max(b.abs()) * 0.02).max(1e-9);
                (a - pad, b + pad)
            }
            None => (0.0, 1.0),
        };
        let segs: Vec<(Vec<Pt>, Style, GraphType)> = lines
            .into_iter()
            .flat_map(|(pts, st, gt)| segments(&pts).into_iter().map(move |s| (s, st, gt)))
            .collect();
        let datasets: Vec<Dataset> = segs
            .iter()
            .map(|(pts, st, gt)| {
                Dataset::default()
                    .marker(if pts.len() == 1 || *gt == GraphType::Scatter {
                        Marker::Dot
                    } else {
                        Marker::Braille
                    })
                    .graph_type(*gt)
                    .style(*st)
                    .data(pts)
            })
            .collect();
        let ylabel = |v: f64| {
            if self.log_y {
                fmt::num(10f64.powf(v))
            } else {
                fmt::num(v)
            }
        };
        let xlabel = |v: f64| match self.x_axis {
            XAxis::Step => fmt::num(v.round()),
            XAxis::Wall => fmt::duration(v),
        };
        let ylabels: Vec<Span> = (0..ticks)
            .map(|i| {
                Span::styled(
                    ylabel(y0 + (y1 - y0) * i as f64 / (ticks - 1) as f64),
                    theme.dim_style(),
                )
            })
            .collect();
        let xlabels: Vec<Span> = [x0, (x0 + x1) / 2.0, x1]
            .iter()
            .map(|&v| Span::styled(xlabel(v), theme.dim_style()))
            .collect();
        let mut t = format!(" {title}{} ", if self.log_y { " (log)" } else { "" });
        if !last_values.is_empty() {
            t.push_str(&format!("· {} ", last_values.join(" / ")));
        }
        if yr.is_none() {
            t.push_str("· no data ");
        }
        let chart = Chart::new(datasets).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border_style(selected))
                .title(Span::styled(
                    t,
                    if selected {
                        theme.title_style()
                    } else {
                        Style::default().fg(theme.fg)
                    },
                )),
        );
        let chart = themed_axes(chart, theme, ([x0, x1], xlabels), ([y0, y1], ylabels));
        f.render_widget(chart, area);
    }

    pub(super) fn draw_legend(&self, f: &mut Frame, area: Rect, theme: &Theme, view: (f64, f64)) {
        let mut lines = vec![Line::styled("Runs", theme.title_style())];
        if self.runs.is_empty() {
            lines.push(Line::styled(
                format!("no runs under {}", Paths::display(&self.runs_dir)),
                theme.dim_style(),
            ));
        }
        for (i, r) in self.runs.iter().enumerate() {
            let mark = if r.visible { "■" } else { "□" };
            let last = r
                .records
                .iter()
                .filter(|x| x.split == Split::Train)
                .map(|x| x.step)
                .max();
            let name_style = if i == self.sel {
                theme.selected()
            } else {
                Style::default().fg(theme.fg)
            };
            lines.push(Line::from(vec![
                Span::styled(
                    format!("{mark} "),
                    Style::default().fg(theme.series_color(i)),
                ),
                Span::styled(r.name.clone(), name_style),
                Span::styled(
                    last.map_or(" (no data)".into(), |s| format!(" @{s}")),
                    theme.dim_style(),
                ),
            ]));
        }
        lines.push(Line::raw(""));
        let (x0, x1) = view;
        let settings = [
            format!("smoothing {:.2}", self.smoothing),
            format!("y {}", if self.log_y { "log10" } else { "linear" }),
            format!(
                "x {}",
                match self.x_axis {
                    XAxis::Step => "step",
                    XAxis::Wall => "wall time",
                }
            ),
            format!("split {}", self.split.label()),
            format!(
                "outliers {}",
                if self.robust {
                    "ignored (p1-p99)"
                } else {
                    "shown"
                }
            ),
            format!(
                "view {}..{}{}",
                fmt::num(x0),
                fmt::num(x1),
                if self.window.is_none() {
                    " (all)"
                } else if self.follow {
                    " (follow)"
                } else {
                    ""
                }
            ),
        ];
        for s in settings {
            lines.push(Line::styled(s, theme.dim_style()));
        }
        lines.push(Line::from(vec![
            Span::styled("── ", Style::default().fg(theme.raw)),
            Span::styled("raw  ", theme.dim_style()),
            Span::styled("── ", Style::default().fg(theme.series_color(0))),
            Span::styled("smoothed", theme.dim_style()),
        ]));
        f.render_widget(
            Paragraph::new(lines).style(theme.base()).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border_style(false)),
            ),
            area,
        );
    }
}
