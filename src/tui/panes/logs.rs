//! Logs pane: every message of the session (app, trainer, solver, file problems) in a bounded
//! buffer, with a level filter, scrolling and follow-tail.

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::tui::component::{Component, Ctx, EventState, KeyHint, Level};
use crate::tui::keys::{Binding, KeyMap, KeyOverrides};
use crate::tui::theme::Theme;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogsAction {
    Down,
    Up,
    Follow,
    Filter,
    Oldest,
    PageUp,
    PageDown,
    Clear,
}

/// The Logs pane's keys (config table `logs`).
pub const KEYS: &[Binding<LogsAction>] = &[
    Binding::bar(
        LogsAction::Down,
        "down",
        &["j", "Down"],
        "scroll",
        "newer line",
    ),
    Binding::bar(LogsAction::Up, "up", &["k", "Up"], "scroll", "older line"),
    Binding::bar(
        LogsAction::Follow,
        "follow",
        &["G", "End"],
        "follow",
        "follow the newest line",
    ),
    Binding::bar(
        LogsAction::Filter,
        "level_filter",
        &["f"],
        "level filter",
        "lowest level shown: debug, info, warn, error",
    ),
    Binding::help(LogsAction::Oldest, "oldest", &["g", "Home"], "oldest line"),
    Binding::help(
        LogsAction::PageUp,
        "page_up",
        &["Ctrl-u", "PageUp"],
        "page up",
    ),
    Binding::help(
        LogsAction::PageDown,
        "page_down",
        &["Ctrl-d", "PageDown"],
        "page down",
    ),
    Binding::help(LogsAction::Clear, "clear", &["c"], "clear"),
];

/// Lines kept; older ones are dropped.
pub const CAPACITY: usize = 5000;

#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Seconds since the app started.
    pub t: f64,
    pub level: Level,
    pub source: String,
    pub text: String,
}

#[derive(Debug)]
pub struct LogsPane {
    pub lines: std::collections::VecDeque<LogLine>,
    /// Lines below this level are hidden.
    pub min_level: Level,
    /// Scroll offset from the bottom (0 = following the tail).
    pub scroll: usize,
    start: std::time::Instant,
    /// Fixed clock for tests and snapshots.
    pub frozen_clock: bool,
    /// Number of lines shown at the last draw (page size).
    page: usize,
    keys: KeyMap<LogsAction>,
}

impl Default for LogsPane {
    fn default() -> Self {
        Self::new()
    }
}

impl LogsPane {
    pub fn new() -> Self {
        Self {
            lines: Default::default(),
            min_level: Level::Debug,
            scroll: 0,
            start: std::time::Instant::now(),
            frozen_clock: false,
            page: 10,
            keys: KeyMap::defaults("logs", KEYS),
        }
    }

    /// Apply the user's key overrides; returns the problems found in them.
    pub fn remap(&mut self, overrides: &KeyOverrides) -> Vec<String> {
        let (keys, errs) = KeyMap::new("logs", KEYS, overrides);
        self.keys = keys;
        errs
    }

    pub fn push(&mut self, level: Level, source: &str, text: impl Into<String>) {
        let t = if self.frozen_clock {
            0.0
        } else {
            self.start.elapsed().as_secs_f64()
        };
        for part in text.into().lines() {
            self.lines.push_back(LogLine {
                t,
                level,
                source: source.to_string(),
                text: part.to_string(),
            });
        }
        while self.lines.len() > CAPACITY {
            self.lines.pop_front();
        }
        if self.scroll > 0 {
            // Keep the view still while scrolled back.
            self.scroll += 1;
        }
    }

    pub fn visible(&self) -> Vec<&LogLine> {
        self.lines
            .iter()
            .filter(|l| l.level >= self.min_level)
            .collect()
    }

    pub fn following(&self) -> bool {
        self.scroll == 0
    }

    fn max_scroll(&self) -> usize {
        self.visible().len().saturating_sub(1)
    }
}

impl Component for LogsPane {
    fn hints(&self) -> Vec<KeyHint> {
        self.keys.hints()
    }

    fn handle_key(&mut self, key: KeyEvent, _ctx: &mut Ctx) -> EventState {
        let Some(action) = self.keys.action(&key) else {
            return EventState::NotConsumed;
        };
        match action {
            LogsAction::Up => self.scroll = (self.scroll + 1).min(self.max_scroll()),
            LogsAction::Down => self.scroll = self.scroll.saturating_sub(1),
            LogsAction::PageUp => self.scroll = (self.scroll + self.page).min(self.max_scroll()),
            LogsAction::PageDown => self.scroll = self.scroll.saturating_sub(self.page),
            LogsAction::Follow => self.scroll = 0,
            LogsAction::Oldest => self.scroll = self.max_scroll(),
            LogsAction::Filter => {
                self.min_level = match self.min_level {
                    Level::Debug => Level::Info,
                    Level::Info => Level::Warn,
                    Level::Warn => Level::Error,
                    Level::Error => Level::Debug,
                };
                self.scroll = 0;
            }
            LogsAction::Clear => {
                self.lines.clear();
                self.scroll = 0;
            }
        }
        EventState::Consumed
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        let inner_h = area.height.saturating_sub(2) as usize;
        self.page = inner_h.max(1);
        let vis = self.visible();
        let end = vis.len().saturating_sub(self.scroll);
        let start = end.saturating_sub(inner_h);
        let lines: Vec<Line> = vis[start..end]
            .iter()
            .map(|l| {
                let lc = match l.level {
                    Level::Debug => theme.dim,
                    Level::Info => theme.ok,
                    Level::Warn => theme.warn,
                    Level::Error => theme.error,
                };
                Line::from(vec![
                    Span::styled(format!("{:>8.1}s ", l.t), theme.dim_style()),
                    Span::styled(
                        format!("{:<5} ", l.level.label()),
                        Style::default().fg(lc).add_modifier(Modifier::BOLD),
                    ),
                    Span::styled(
                        format!("{:<8} ", l.source),
                        Style::default().fg(theme.accent),
                    ),
                    Span::styled(l.text.clone(), Style::default().fg(theme.fg)),
                ])
            })
            .collect();
        let title = format!(
            " Logs · {} lines · level ≥ {} · {} ",
            vis.len(),
            self.min_level.label(),
            if self.following() {
                "following".to_string()
            } else {
                format!("scrolled back {}", self.scroll)
            }
        );
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_style(focused))
            .title(Span::styled(title, theme.title_style()));
        let body = if lines.is_empty() {
            Paragraph::new(Line::styled("(no messages)", theme.dim_style()))
        } else {
            Paragraph::new(lines)
        };
        f.render_widget(body.block(block).style(theme.base()), area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn filter_scroll_and_follow() {
        let mut p = LogsPane::new();
        let mut ctx = Ctx::default();
        for i in 0..20 {
            let lvl = if i % 5 == 0 { Level::Warn } else { Level::Info };
            p.push(lvl, "app", format!("line {i}"));
        }
        assert!(p.following());
        p.handle_key(key('k'), &mut ctx);
        p.handle_key(key('k'), &mut ctx);
        assert_eq!(p.scroll, 2);
        p.push(Level::Info, "app", "new");
        assert_eq!(p.scroll, 3, "view stays still while scrolled back");
        p.handle_key(key('G'), &mut ctx);
        assert!(p.following());
        p.handle_key(key('f'), &mut ctx); // >= Info
        p.handle_key(key('f'), &mut ctx); // >= Warn
        assert_eq!(p.min_level, Level::Warn);
        assert_eq!(p.visible().len(), 4);
        p.handle_key(key('g'), &mut ctx);
        assert_eq!(p.scroll, 3);
        p.handle_key(key('c'), &mut ctx);
        assert!(p.lines.is_empty());
        assert_eq!(p.handle_key(key('z'), &mut ctx), EventState::NotConsumed);
    }

    #[test]
    fn capacity_is_bounded_and_multiline_splits() {
        let mut p = LogsPane::new();
        p.push(Level::Info, "x", "a\nb");
        assert_eq!(p.lines.len(), 2);
        for _ in 0..CAPACITY + 10 {
            p.push(Level::Debug, "x", "y");
        }
        assert_eq!(p.lines.len(), CAPACITY);
    }
}
