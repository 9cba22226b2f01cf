//! The solver's header: the model (with a warning when untrained), the puzzle and its target,
//! the step (and H-cycle) shown, the overlay, playback and the phase, and for mazes the verdict
//! of the path check.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::data::maze::PathCheck;
use crate::tui::config::Paths;
use crate::tui::theme::Theme;
use crate::tui::worker::ModelSource;

use super::protocol::{Phase, Showcase};
use super::scoring::{maze_check, path_verdict};
use super::{Mode, SolverPane};

impl SolverPane {
    pub(super) fn header(&self, theme: &Theme) -> Vec<Line<'static>> {
        let model = match &self.loaded {
            Some(l) if l.untrained => Span::styled(
                format!(
                    "UNTRAINED model ({} params, random init, seed {})",
                    l.params, self.seed
                ),
                Style::default().fg(theme.warn).add_modifier(Modifier::BOLD),
            ),
            Some(l) => Span::styled(
                format!(
                    "{}{} ({} params)",
                    short_label(&l.source),
                    if l.note.is_empty() {
                        String::new()
                    } else {
                        format!(" · {}", l.note)
                    },
                    l.params
                ),
                Style::default().fg(theme.accent),
            ),
            None => Span::styled("no model loaded", theme.dim_style()),
        };
        let puzzle = match &self.puzzle {
            Some(p) => {
                let set = if p.name == "typed" {
                    "typed".to_string()
                } else {
                    format!(
                        "{} #{}/{}",
                        self.sets.get(self.set_idx).map_or("", |s| s.name.as_str()),
                        self.puzzle_idx + 1,
                        self.sets.get(self.set_idx).map_or(0, |s| s.puzzles.len())
                    )
                };
                format!("{} · {} ({})", p.name, set, p.kind)
            }
            None => "no puzzle".into(),
        };
        let n = self.loaded.as_ref().map_or(0, |l| l.config.halt_max_steps);
        let phase = match &self.phase {
            Phase::Idle => Span::styled("idle", theme.dim_style()),
            Phase::Loading => Span::styled("● loading model", Style::default().fg(theme.warn)),
            Phase::Solving if self.showcase == Showcase::Scanning => Span::styled(
                "● choosing a puzzle whose steps matter",
                Style::default().fg(theme.warn),
            ),
            Phase::Solving => Span::styled(
                format!("● solving {}/{}", self.steps.len(), n),
                Style::default().fg(theme.warn),
            ),
            Phase::Ready => Span::styled("✓ done", Style::default().fg(theme.ok)),
            Phase::Failed(m) => Span::styled(format!("✗ {m}"), Style::default().fg(theme.error)),
        };
        let step = if self.steps.is_empty() {
            "step -".to_string()
        } else {
            let lens = match (self.steps.lens(), self.steps.current()) {
                (Some(k), Some(s)) => format!(" · H-cycle {}/{}", k + 1, s.cycle_preds.len()),
                _ => String::new(),
            };
            format!(
                "step {}/{}{lens}",
                self.steps.cur() + 1,
                n.max(self.steps.len())
            )
        };
        let target = self
            .target
            .as_ref()
            .map_or("no target".to_string(), |t| format!("target: {}", t.source));
        let edit = matches!(self.mode, Mode::Edit(_));
        let check = match (&self.puzzle, self.steps.shown_pred()) {
            (Some(p), Some(shown)) if !edit => maze_check(p, shown).map(|c| {
                let colour = match c {
                    PathCheck::Correct => theme.ok,
                    PathCheck::NotShortest { .. } => theme.warn,
                    PathCheck::Invalid(_) => theme.error,
                };
                let at = match self.steps.lens() {
                    Some(k) => format!("step {} H-cycle {}", self.steps.cur() + 1, k + 1),
                    None => format!("step {}", self.steps.cur() + 1),
                };
                Line::from(vec![
                    Span::styled(format!("Path   {at}: "), theme.dim_style()),
                    Span::styled(path_verdict(&c), Style::default().fg(colour)),
                ])
            }),
            _ => None,
        };
        let mut lines = vec![
            Line::from(vec![Span::styled("Model  ", theme.dim_style()), model]),
            Line::from(vec![
                Span::styled("Puzzle ", theme.dim_style()),
                Span::raw(puzzle),
                Span::styled(format!(" · {target}"), theme.dim_style()),
            ]),
            Line::from(vec![
                Span::styled(
                    if edit {
                        "EDITING ".to_string()
                    } else {
                        format!("{step} · ")
                    },
                    Style::default()
                        .fg(theme.title)
                        .add_modifier(Modifier::BOLD),
                ),
                Span::styled(
                    format!("overlay: {} · ", self.overlay.label()),
                    Style::default().fg(theme.fg),
                ),
                if self.steps.playing() {
                    Span::styled("▶ playing · ", Style::default().fg(theme.ok))
                } else {
                    Span::raw("")
                },
                phase,
            ]),
        ];
        lines.extend(check);
        lines
    }
}

/// `run/file.safetensors` for a run's checkpoint, the path otherwise.
fn short_label(src: &ModelSource) -> String {
    match src {
        ModelSource::Checkpoint(p) => {
            let file = p
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().to_string());
            let parent = p.parent();
            match (
                parent.and_then(|d| d.file_name()),
                parent.and_then(|d| d.parent()).and_then(|r| r.file_name()),
            ) {
                (Some(d), Some(run)) if d == "checkpoints" => {
                    format!("{}/{file}", run.to_string_lossy())
                }
                _ => Paths::display(p),
            }
        }
        other => other.label(),
    }
}
