//! The Train pane's layout: the presets list, the config form (changed fields marked, the
//! field being edited with its problem), the diff against the preset, and the run status.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, List, ListItem, ListState, Paragraph, Row, Table, TableState,
};
use ratatui::Frame;

use crate::train::presets;
use crate::tui::theme::Theme;

use super::*;

impl TrainPane {
    pub(super) fn draw_pane(&mut self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_style(focused))
            .title(Span::styled(" Train ", theme.title_style()));
        let inner = block.inner(area);
        f.render_widget(block.style(theme.base()), area);
        let [top, bottom] =
            Layout::vertical([Constraint::Min(6), Constraint::Length(8)]).areas(inner);
        // Below 100 columns the presets and the changes give the form room for its keys.
        let narrow = top.width < 100;
        let [pre, form, diff_area] = Layout::horizontal([
            Constraint::Length(if narrow { 20 } else { 24 }),
            Constraint::Min(30),
            Constraint::Length(if narrow {
                top.width / 4
            } else {
                40.min(top.width / 3)
            }),
        ])
        .areas(top);

        // Presets.
        let items: Vec<ListItem> = self.presets.iter().map(|n| ListItem::new(*n)).collect();
        let list = List::new(items)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border_style(self.focus == Focus::Presets))
                    .title(Span::styled(" Presets ", theme.title_style())),
            )
            .style(theme.base())
            .highlight_style(if self.focus == Focus::Presets {
                theme.selected()
            } else {
                Style::default().add_modifier(Modifier::REVERSED)
            });
        let mut st = ListState::default().with_selected(Some(self.preset_idx));
        f.render_stateful_widget(list, pre, &mut st);

        // Form.
        let base_fields = self.base.fields();
        let fields = self.fields();
        let rows: Vec<Row> = fields
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                let base = base_fields
                    .iter()
                    .find(|(bk, _)| bk == k)
                    .map(|(_, bv)| bv.as_str());
                let changed = base != Some(v.as_str());
                let value = match &self.edit {
                    Some(e) if i == self.field_sel => format!("{}▏", e.buffer),
                    _ => v.clone(),
                };
                let st = if changed {
                    Style::default()
                        .fg(theme.accent)
                        .add_modifier(Modifier::BOLD)
                } else {
                    Style::default().fg(theme.fg)
                };
                Row::new(vec![
                    Span::styled(
                        if changed { "●" } else { " " },
                        Style::default().fg(theme.accent),
                    ),
                    Span::styled(k.clone(), theme.dim_style()),
                    Span::styled(value, st),
                ])
            })
            .collect();
        let form_title = match &self.edit {
            Some(Edit { error: Some(e), .. }) => Line::from(vec![
                Span::styled(" Config ", theme.title_style()),
                Span::styled(format!("✗ {e} "), Style::default().fg(theme.error)),
            ]),
            Some(_) => Line::from(vec![
                Span::styled(" Config ", theme.title_style()),
                Span::styled("✓ valid ", Style::default().fg(theme.ok)),
            ]),
            None => Line::from(Span::styled(
                format!(" Config ({}) ", self.preset_name()),
                theme.title_style(),
            )),
        };
        let key_width = fields
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0)
            .min(30) as u16;
        let t = Table::new(
            rows,
            [
                Constraint::Length(1),
                Constraint::Length(key_width),
                Constraint::Min(8),
            ],
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border_style(self.focus == Focus::Form))
                .title(form_title),
        )
        .style(theme.base())
        .row_highlight_style(if self.focus == Focus::Form {
            theme.selected()
        } else {
            Style::default()
        });
        let mut ts = TableState::default().with_selected(Some(self.field_sel));
        f.render_stateful_widget(t, form, &mut ts);

        // Diff and validity.
        let mut lines = vec![match self.config.validate() {
            Ok(()) => Line::styled("✓ config valid", Style::default().fg(theme.ok)),
            Err(e) => Line::styled(format!("✗ {e}"), Style::default().fg(theme.error)),
        }];
        lines.push(Line::from(vec![
            Span::styled("data   ", theme.dim_style()),
            Span::raw(if self.config.data.path.is_empty() {
                format!(
                    "generated {} {}x{}",
                    self.config.data.generate, self.config.data.size, self.config.data.size
                )
            } else {
                self.config.data.path.clone()
            }),
        ]));
        lines.push(Line::from(vec![
            Span::styled("device ", theme.dim_style()),
            Span::raw(self.config.device.clone()),
        ]));
        lines.push(Line::raw(""));
        let diff = self.config.diff(&self.base);
        if diff.is_empty() {
            lines.push(Line::styled(
                format!("same as preset {}", self.preset_name()),
                theme.dim_style(),
            ));
        } else {
            lines.push(Line::styled(
                format!("{} change(s) vs preset:", diff.len()),
                theme.title_style(),
            ));
            for (k, a, b) in diff {
                lines.push(Line::from(vec![Span::styled(
                    k,
                    Style::default().fg(theme.accent),
                )]));
                lines.push(Line::from(vec![
                    Span::styled(format!("  {a}"), Style::default().fg(theme.error)),
                    Span::raw(" → "),
                    Span::styled(b, Style::default().fg(theme.ok)),
                ]));
            }
        }
        if let Some(about) = presets::about(self.preset_name()) {
            lines.push(Line::raw(""));
            lines.push(Line::styled(about.to_string(), theme.dim_style()));
        }
        f.render_widget(
            Paragraph::new(lines)
                .wrap(ratatui::widgets::Wrap { trim: false })
                .style(theme.base())
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(theme.border_style(false))
                        .title(Span::styled(" Changes ", theme.title_style())),
                ),
            diff_area,
        );
        self.draw_status(f, bottom, theme);
    }
}
