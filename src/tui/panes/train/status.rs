//! The Train pane's run status: the state, progress and next-eval gauges, the latest figures
//! (epoch, samples/s, learning rate, device, memory, CPU, losses and accuracies), the GPU line
//! and the throughput sparkline.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, Paragraph, Sparkline};
use ratatui::Frame;

use crate::fetch::paper;
use crate::train::api::Progress;
use crate::train::presets;
use crate::train::state::TrainerState;
use crate::tui::config::Paths;
use crate::tui::fmt;
use crate::tui::theme::Theme;

use super::*;

impl TrainPane {
    pub(super) fn draw_status(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let state_color = match &self.state {
            TrainerState::Running => theme.ok,
            TrainerState::Paused | TrainerState::Stopping => theme.warn,
            TrainerState::Failed(_) => theme.error,
            _ => theme.dim,
        };
        let title = Line::from(vec![
            Span::styled(" Run ", theme.title_style()),
            Span::styled(
                format!("● {} ", self.state.label()),
                Style::default()
                    .fg(state_color)
                    .add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                self.run_dir
                    .as_ref()
                    .map_or(String::new(), |d| format!("{} ", Paths::display(d))),
                theme.dim_style(),
            ),
        ]);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_style(false))
            .title(title);
        let inner = block.inner(area);
        f.render_widget(block.style(theme.base()), area);
        let Some(p) = &self.progress else {
            let msg = match (&self.state, &self.resume) {
                (TrainerState::Failed(m), _) => {
                    Line::styled(format!("failed: {m}"), Style::default().fg(theme.error))
                }
                (_, Some((ck, dir))) => Line::styled(
                    format!(
                        "press r to resume {} from {}",
                        Paths::display(dir),
                        Paths::display(ck)
                    ),
                    Style::default().fg(theme.accent),
                ),
                _ if self.run.is_some() => Line::styled(
                    "starting: loading data and building the model…",
                    theme.dim_style(),
                ),
                _ => Line::styled(
                    format!(
                        "no run yet: press r to launch `{}` ({})",
                        self.preset_name(),
                        presets::about(self.preset_name()).unwrap_or("")
                    ),
                    theme.dim_style(),
                ),
            };
            let mut text = vec![msg];
            // A paper preset whose dataset is not there: say so, with the commands that make it.
            if let (None, None, Some(Err(_))) = (
                &self.run,
                &self.resume,
                paper::locate(
                    self.preset_name(),
                    &self.config.data.path,
                    &self.paths.data_dir,
                ),
            ) {
                text.push(Line::styled(
                    format!(
                        "data missing: {} is not built; make it with:",
                        self.config.data.path
                    ),
                    Style::default().fg(theme.warn),
                ));
                let commands = paper::for_preset(self.preset_name())
                    .map_or_else(Vec::new, |d| d.commands(self.preset_name()));
                for c in commands {
                    text.push(Line::styled(
                        format!("  {c}"),
                        Style::default().fg(theme.accent),
                    ));
                }
            }
            f.render_widget(Paragraph::new(text).style(theme.base()), inner);
            return;
        };
        let [g1, g2, stats, spark] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(3),
            Constraint::Min(0),
        ])
        .areas(inner);
        let ratio = if p.total_steps > 0 {
            (p.step as f64 / p.total_steps as f64).clamp(0.0, 1.0)
        } else {
            0.0
        };
        f.render_widget(
            Gauge::default()
                .ratio(ratio)
                .gauge_style(Style::default().fg(theme.accent).bg(theme.border))
                .label(format!(
                    "step {}/{} · {:.0}% · elapsed {} · ETA {}",
                    p.step,
                    p.total_steps,
                    ratio * 100.0,
                    fmt::duration(p.elapsed_s),
                    p.eta_s.map_or("--".into(), fmt::duration)
                )),
            g1,
        );
        let every = self.config.eval_interval.max(1) as u64;
        let into = p.step % every;
        let to_eval = every - into;
        let sps = p.samples_per_s / self.config.global_batch_size.max(1) as f64;
        f.render_widget(
            Gauge::default()
                .ratio(into as f64 / every as f64)
                .gauge_style(Style::default().fg(theme.title).bg(theme.border))
                .label(format!(
                    "next eval in {to_eval} steps{}",
                    if sps > 0.0 {
                        format!(" (~{})", fmt::duration(to_eval as f64 / sps))
                    } else {
                        String::new()
                    }
                )),
            g2,
        );
        let lm = self.last_train.as_ref().and_then(|m| m.get("lm_loss"));
        let acc = self.last_train.as_ref().and_then(|m| m.get("accuracy"));
        let ex = self
            .last_eval
            .as_ref()
            .and_then(|m| m.get("exact_accuracy"));
        let stat_lines = vec![
            Line::from(vec![
                Span::styled("epoch ", theme.dim_style()),
                Span::raw(format!("{:.2}  ", p.epoch)),
                Span::styled("samples/s ", theme.dim_style()),
                Span::raw(format!("{}  ", fmt::num(p.samples_per_s))),
                Span::styled("lr ", theme.dim_style()),
                Span::raw(format!("{}  ", fmt::num(p.lr))),
                Span::styled("device ", theme.dim_style()),
                Span::raw(format!("{}  ", p.device)),
                Span::styled("memory ", theme.dim_style()),
                Span::raw(format!(
                    "{}  ",
                    p.memory_bytes.map_or("n/a".into(), fmt::bytes)
                )),
                Span::styled("cpu ", theme.dim_style()),
                Span::raw(p.cpu_percent.map_or("-".into(), |c| format!("{c:.0}%"))),
            ]),
            Line::from(vec![
                Span::styled("lm_loss ", theme.dim_style()),
                Span::raw(format!("{}  ", lm.map_or("-".into(), fmt::num))),
                Span::styled("accuracy ", theme.dim_style()),
                Span::raw(format!(
                    "{}  ",
                    acc.map_or("-".into(), |a| format!("{:.1}%", a * 100.0))
                )),
                Span::styled("eval exact ", theme.dim_style()),
                Span::raw(format!(
                    "{}  ",
                    ex.map_or("-".into(), |a| format!("{:.1}%", a * 100.0))
                )),
                Span::styled("last event ", theme.dim_style()),
                Span::raw(self.last_event.clone().unwrap_or_else(|| "-".into())),
            ]),
            gpu_line(p, theme),
        ];
        f.render_widget(Paragraph::new(stat_lines).style(theme.base()), stats);
        if spark.height > 0 {
            let n = spark.width as usize;
            let data: Vec<u64> = self
                .throughput
                .iter()
                .rev()
                .take(n)
                .rev()
                .cloned()
                .collect();
            f.render_widget(
                Sparkline::default()
                    .data(&data)
                    .style(Style::default().fg(theme.series_color(0))),
                spark,
            );
        }
    }
}

/// The GPU line of the run status: the NVML figures, "GPU n/a" on the CPU, or why a run on a
/// GPU has none.
fn gpu_line(p: &Progress, theme: &Theme) -> Line<'static> {
    let label = Span::styled("GPU ", theme.dim_style());
    match (&p.gpu, &p.gpu_note) {
        (Some(g), _) if g.name.is_some() || g.memory_used_bytes.is_some() => {
            Line::from(vec![label, Span::raw(crate::telemetry::describe_gpu(g))])
        }
        (_, Some(note)) if p.device != "cpu" => Line::from(vec![
            label,
            Span::raw(format!("{} · n/a ", p.device)),
            Span::styled(format!("({note})"), theme.dim_style()),
        ]),
        _ if p.device != "cpu" => Line::from(vec![label, Span::raw(format!("{} · n/a", p.device))]),
        _ => Line::from(vec![label, Span::raw("n/a")]),
    }
}
