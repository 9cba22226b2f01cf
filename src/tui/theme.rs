//! Themes: flat TOML files (`themes/*.toml`), three built into the binary (dark, light,
//! high-contrast) and more, or overrides of the built-in ones, from `<config dir>/themes/`.
//! Every key of a theme file is optional and falls back to the built-in dark theme; a file
//! that does not parse gives a message (shown in the UI) and is skipped, never a crash.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

/// The built-in theme files, embedded in the binary.
pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

/// The canonical ARC-AGI palette (`fchollet/ARC-AGI:apps/css/common.css`), colours 0..=9.
/// Not themeable: the colours carry meaning in the tasks.
pub const ARC_PALETTE: [Color; 10] = [
    Color::Rgb(0x00, 0x00, 0x00),
    Color::Rgb(0x00, 0x74, 0xD9),
    Color::Rgb(0xFF, 0x41, 0x36),
    Color::Rgb(0x2E, 0xCC, 0x40),
    Color::Rgb(0xFF, 0xDC, 0x00),
    Color::Rgb(0xAA, 0xAA, 0xAA),
    Color::Rgb(0xF0, 0x12, 0xBE),
    Color::Rgb(0xFF, 0x85, 0x1B),
    Color::Rgb(0x7F, 0xDB, 0xFF),
    Color::Rgb(0x87, 0x0C, 0x25),
];

/// A resolved theme: every colour the UI uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub bg: Color,
    pub fg: Color,
    pub dim: Color,
    pub accent: Color,
    pub border: Color,
    pub border_focus: Color,
    pub title: Color,
    pub selection_fg: Color,
    pub selection_bg: Color,
    pub hint_key: Color,
    pub hint_text: Color,
    pub ok: Color,
    pub warn: Color,
    pub error: Color,
    pub given: Color,
    pub predicted: Color,
    pub correct_bg: Color,
    pub wrong_bg: Color,
    pub changed_bg: Color,
    pub heat_low: Color,
    pub heat_high: Color,
    pub wall: Color,
    pub path: Color,
    pub start: Color,
    pub goal: Color,
    pub cursor: Color,
    /// Colours of the runs in the curves pane, cycled.
    pub series: Vec<Color>,
    /// Colour of the raw (unsmoothed) curves.
    pub raw: Color,
}

/// A theme file as written: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    bg: Option<String>,
    fg: Option<String>,
    dim: Option<String>,
    accent: Option<String>,
    border: Option<String>,
    border_focus: Option<String>,
    title: Option<String>,
    selection_fg: Option<String>,
    selection_bg: Option<String>,
    hint_key: Option<String>,
    hint_text: Option<String>,
    ok: Option<String>,
    warn: Option<String>,
    error: Option<String>,
    given: Option<String>,
    predicted: Option<String>,
    correct_bg: Option<String>,
    wrong_bg: Option<String>,
    changed_bg: Option<String>,
    heat_low: Option<String>,
    heat_high: Option<String>,
    wall: Option<String>,
    path: Option<String>,
    start: Option<String>,
    goal: Option<String>,
    cursor: Option<String>,
    series: Option<Vec<String>>,
    raw: Option<String>,
}

fn color(key: &str, v: &Option<String>, fallback: Color) -> Result<Color, String> {
    match v {
        None => Ok(fallback),
        Some(s) => Color::from_str(s.trim()).map_err(|_| format!("`{key}`: `{s}` is not a colour")),
    }
}

impl Theme {
    /// Parse a theme file over a base theme (keys it leaves out keep the base's colours).
    pub fn parse_over(text: &str, base: &Theme, default_name: &str) -> Result<Theme, String> {
        let f: ThemeFile = toml::from_str(text).map_err(|e| {
            e.message().replace('\n', " ").trim().to_string()
                + &e.span()
                    .map(|s| {
                        let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                        format!(" (line {line})")
                    })
                    .unwrap_or_default()
        })?;
        let mut series = base.series.clone();
        if let Some(list) = &f.series {
            if list.is_empty() {
                return Err("`series`: needs at least one colour".into());
            }
            series = list
                .iter()
                .map(|s| color("series", &Some(s.clone()), Color::Reset))
                .collect::<Result<_, _>>()?;
        }
        Ok(Theme {
            name: f.name.clone().unwrap_or_else(|| default_name.to_string()),
            bg: color("bg", &f.bg, base.bg)?,
            fg: color("fg", &f.fg, base.fg)?,
            dim: color("dim", &f.dim, base.dim)?,
            accent: color("accent", &f.accent, base.accent)?,
            border: color("border", &f.border, base.border)?,
            border_focus: color("border_focus", &f.border_focus, base.border_focus)?,
            title: color("title", &f.title, base.title)?,
            selection_fg: color("selection_fg", &f.selection_fg, base.selection_fg)?,
            selection_bg: color("selection_bg", &f.selection_bg, base.selection_bg)?,
            hint_key: color("hint_key", &f.hint_key, base.hint_key)?,
            hint_text: color("hint_text", &f.hint_text, base.hint_text)?,
            ok: color("ok", &f.ok, base.ok)?,
            warn: color("warn", &f.warn, base.warn)?,
            error: color("error", &f.error, base.error)?,
            given: color("given", &f.given, base.given)?,
            predicted: color("predicted", &f.predicted, base.predicted)?,
            correct_bg: color("correct_bg", &f.correct_bg, base.correct_bg)?,
            wrong_bg: color("wrong_bg", &f.wrong_bg, base.wrong_bg)?,
            changed_bg: color("changed_bg", &f.changed_bg, base.changed_bg)?,
            heat_low: color("heat_low", &f.heat_low, base.heat_low)?,
            heat_high: color("heat_high", &f.heat_high, base.heat_high)?,
            wall: color("wall", &f.wall, base.wall)?,
            path: color("path", &f.path, base.path)?,
            start: color("start", &f.start, base.start)?,
            goal: color("goal", &f.goal, base.goal)?,
            cursor: color("cursor", &f.cursor, base.cursor)?,
            series,
            raw: color("raw", &f.raw, base.raw)?,
        })
    }

    /// A hard-coded last resort, only used to parse the embedded default over.
    fn fallback() -> Theme {
        Theme {
            name: "fallback".into(),
            bg: Color::Reset,
            fg: Color::Reset,
            dim: Color::DarkGray,
            accent: Color::Cyan,
            border: Color::DarkGray,
            border_focus: Color::Cyan,
            title: Color::Yellow,
            selection_fg: Color::Black,
            selection_bg: Color::Cyan,
            hint_key: Color::Yellow,
            hint_text: Color::Gray,
            ok: Color::Green,
            warn: Color::Yellow,
            error: Color::Red,
            given: Color::White,
            predicted: Color::Cyan,
            correct_bg: Color::Green,
            wrong_bg: Color::Red,
            changed_bg: Color::Yellow,
            heat_low: Color::Black,
            heat_high: Color::Yellow,
            wall: Color::Gray,
            path: Color::Yellow,
            start: Color::Green,
            goal: Color::Red,
            cursor: Color::Magenta,
            series: vec![Color::Cyan, Color::Red, Color::Green, Color::Yellow],
            raw: Color::DarkGray,
        }
    }

    /// The built-in default (dark) theme.
    pub fn default_dark() -> Theme {
        Theme::parse_over(BUILTIN[0].1, &Theme::fallback(), BUILTIN[0].0)
            .unwrap_or_else(|_| Theme::fallback())
    }

    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Option<Theme> {
        let base = Theme::default_dark();
        BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(n, text)| Theme::parse_over(text, &base, n).ok())
    }

    pub fn base(&self) -> Style {
        Style::default().fg(self.fg).bg(self.bg)
    }
    pub fn dim_style(&self) -> Style {
        Style::default().fg(self.dim)
    }
    pub fn title_style(&self) -> Style {
        Style::default().fg(self.title).add_modifier(Modifier::BOLD)
    }
    pub fn selected(&self) -> Style {
        Style::default().fg(self.selection_fg).bg(self.selection_bg)
    }
    pub fn border_style(&self, focused: bool) -> Style {
        Style::default().fg(if focused {
            self.border_focus
        } else {
            self.border
        })
    }
    pub fn series_color(&self, i: usize) -> Color {
        self.series
            .get(i % self.series.len().max(1))
            .copied()
            .unwrap_or(self.accent)
    }

    /// Linear blend between `heat_low` and `heat_high` for `t` in [0, 1] (RGB colours only;
    /// named colours switch at 0.5).
    pub fn heat(&self, t: f32) -> Color {
        let t = if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.0
        };
        match (rgb_of(self.heat_low), rgb_of(self.heat_high)) {
            (Some(a), Some(b)) => {
                let mix = |x: u8, y: u8| (x as f32 + (y as f32 - x as f32) * t).round() as u8;
                Color::Rgb(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
            }
            _ => {
                if t < 0.5 {
                    self.heat_low
                } else {
                    self.heat_high
                }
            }
        }
    }
}

fn rgb_of(c: Color) -> Option<(u8, u8, u8)> {
    match c {
        Color::Rgb(r, g, b) => Some((r, g, b)),
        Color::Black => Some((0, 0, 0)),
        Color::White => Some((255, 255, 255)),
        _ => None,
    }
}

/// The themes available at run time, and the problems met while loading them.
#[derive(Debug, Clone)]
pub struct ThemeSet {
    pub themes: Vec<Theme>,
    /// One message per theme file that could not be used (shown in the UI and the logs).
    pub errors: Vec<String>,
}

impl ThemeSet {
    /// The built-in themes only.
    pub fn builtin() -> ThemeSet {
        let base = Theme::default_dark();
        let themes = BUILTIN
            .iter()
            .filter_map(|(n, text)| Theme::parse_over(text, &base, n).ok())
            .collect();
        ThemeSet {
            themes,
            errors: Vec::new(),
        }
    }

    /// Built-in themes, then `<dir>/*.toml` (a file named like a built-in theme overrides it,
    /// key by key; other files add themes). Bad files are reported and skipped.
    pub fn load(dir: Option<&Path>) -> ThemeSet {
        let mut set = ThemeSet::builtin();
        let Some(dir) = dir else { return set };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return set;
        };
        let mut files: BTreeMap<String, std::path::PathBuf> = BTreeMap::new();
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "toml") {
                if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                    files.insert(stem.to_string(), p);
                }
            }
        }
        let default = Theme::default_dark();
        for (stem, path) in files {
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    set.errors
                        .push(format!("theme {}: cannot read: {e}", path.display()));
                    continue;
                }
            };
            let existing = set.themes.iter().position(|t| t.name == stem);
            let base = existing
                .map(|i| set.themes[i].clone())
                .unwrap_or_else(|| default.clone());
            match Theme::parse_over(&text, &base, &stem) {
                Ok(mut t) => {
                    if existing.is_some() {
                        t.name = stem.clone();
                    }
                    match set.themes.iter().position(|x| x.name == t.name) {
                        Some(i) => set.themes[i] = t,
                        None => set.themes.push(t),
                    }
                }
                Err(e) => set.errors.push(format!(
                    "theme {}: {e}; using the built-in theme instead",
                    path.display()
                )),
            }
        }
        set
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.themes.iter().position(|t| t.name == name)
    }

    pub fn names(&self) -> Vec<String> {
        self.themes.iter().map(|t| t.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_differ() {
        let set = ThemeSet::builtin();
        assert_eq!(set.names(), vec!["dark", "light", "high-contrast"]);
        assert_ne!(set.themes[0].bg, set.themes[1].bg);
        assert_eq!(set.themes[2].bg, Color::Black);
        for (name, text) in BUILTIN {
            // Every built-in file is complete on its own (parses over the fallback).
            let t = Theme::parse_over(text, &Theme::fallback(), name).unwrap();
            assert_eq!(&t.name, name);
        }
    }

    #[test]
    fn partial_user_theme_falls_back_per_key() {
        let base = Theme::default_dark();
        let t = Theme::parse_over("name = 'mine'\naccent = '#ff0000'", &base, "x").unwrap();
        assert_eq!(t.accent, Color::Rgb(255, 0, 0));
        assert_eq!(t.bg, base.bg);
        assert_eq!(t.name, "mine");
    }

    #[test]
    fn bad_files_are_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("broken.toml"), "accent = [").unwrap();
        std::fs::write(dir.path().join("badcolor.toml"), "accent = 'blurple'").unwrap();
        std::fs::write(dir.path().join("unknown.toml"), "acent = 'red'").unwrap();
        std::fs::write(dir.path().join("light.toml"), "accent = 'red'").unwrap();
        std::fs::write(dir.path().join("ocean.toml"), "bg = '#001122'").unwrap();
        let set = ThemeSet::load(Some(dir.path()));
        assert_eq!(set.errors.len(), 3, "{:?}", set.errors);
        assert!(set.errors.iter().any(|e| e.contains("blurple")));
        assert!(set.errors.iter().any(|e| e.contains("acent")));
        let light = &set.themes[set.index_of("light").unwrap()];
        assert_eq!(light.accent, Color::Red);
        assert_eq!(light.bg, Theme::builtin("light").unwrap().bg);
        assert!(set.index_of("ocean").is_some());
        assert!(set.index_of("broken").is_none());
    }

    #[test]
    fn heat_blends() {
        let t = Theme::default_dark();
        assert_eq!(t.heat(0.0), t.heat_low);
        assert_eq!(t.heat(1.0), t.heat_high);
        assert_eq!(t.heat(f32::NAN), t.heat_low);
    }
}
