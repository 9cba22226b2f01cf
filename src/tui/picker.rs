//! The picker: one component for every list chooser (puzzles, models, data). Type to filter
//! (fuzzy matching with nucleo, as in helix and television); entries grouped by the file or
//! folder they come from; entries that fit the current choice first, the others dimmed with the
//! reason they do not fit. A pure state machine: keys in, an [`Outcome`] out; the owner acts.

use crossterm::event::KeyEvent;
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState};
use ratatui::Frame;

use super::component::KeyHint;
use super::keys::{nav, Binding, KeyMap, KeyOverrides};
use super::theme::Theme;

/// One entry of a picker.
#[derive(Debug, Clone, PartialEq)]
pub struct PickItem<T> {
    pub value: T,
    /// The file or folder it comes from (the group header).
    pub group: String,
    pub label: String,
    /// Shown dimmed after the label.
    pub detail: String,
    /// Why it does not fit (shown dimmed, listed after the entries that fit).
    pub unfit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickerAction {
    Up,
    Down,
    PageUp,
    PageDown,
    Choose,
    Cancel,
    Erase,
    Type,
}

/// The picker's keys (config table `picker`).
pub const KEYS: &[Binding<PickerAction>] = &[
    Binding::bar(
        PickerAction::Type,
        "filter",
        &["<char>"],
        "filter",
        "type to filter (fuzzy)",
    )
    .labelled("type"),
    Binding::bar(
        PickerAction::Up,
        "up",
        &["Up", "Ctrl-k"],
        "move",
        "previous entry",
    ),
    Binding::bar(
        PickerAction::Down,
        "down",
        &["Down", "Ctrl-j"],
        "move",
        "next entry",
    ),
    Binding::help(
        PickerAction::PageUp,
        "page_up",
        &["PageUp"],
        "ten entries up",
    ),
    Binding::help(
        PickerAction::PageDown,
        "page_down",
        &["PageDown"],
        "ten entries down",
    ),
    Binding::help(
        PickerAction::Erase,
        "erase",
        &["Backspace"],
        "erase a filter character",
    ),
    Binding::bar(
        PickerAction::Choose,
        "choose",
        &["Enter"],
        "choose",
        "choose the entry",
    ),
    Binding::bar(
        PickerAction::Cancel,
        "cancel",
        &["Esc"],
        "cancel",
        "close the picker",
    ),
];

/// The picker's key map with the user's overrides.
pub fn keymap(overrides: &KeyOverrides) -> (KeyMap<PickerAction>, Vec<String>) {
    KeyMap::new("picker", KEYS, overrides)
}

/// What a key did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// Still open.
    Open,
    Cancelled,
    Chosen(T),
}

/// One row on screen: a group header or an entry (index into the items).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Row {
    Group(usize),
    Item(usize),
}

pub struct Picker<T> {
    title: String,
    items: Vec<PickItem<T>>,
    query: String,
    /// Entries passing the filter, in display order.
    shown: Vec<usize>,
    /// Index into `shown`.
    sel: usize,
    matcher: Matcher,
}

impl<T: std::fmt::Debug> std::fmt::Debug for Picker<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Picker")
            .field("title", &self.title)
            .field("query", &self.query)
            .field("shown", &self.shown.len())
            .field("sel", &self.sel)
            .finish()
    }
}

impl<T: Clone> Picker<T> {
    /// A picker over `items` with the entry `selected` (an index into `items`) highlighted.
    pub fn new(title: impl Into<String>, items: Vec<PickItem<T>>, selected: usize) -> Picker<T> {
        let mut p = Picker {
            title: title.into(),
            items,
            query: String::new(),
            shown: Vec::new(),
            sel: 0,
            matcher: Matcher::new(Config::DEFAULT),
        };
        p.refilter();
        p.sel = p.shown.iter().position(|&i| i == selected).unwrap_or(0);
        p
    }

    pub fn query(&self) -> &str {
        &self.query
    }

    /// The highlighted entry.
    pub fn selected(&self) -> Option<&PickItem<T>> {
        self.shown.get(self.sel).map(|&i| &self.items[i])
    }

    /// The entries passing the filter, in display order.
    pub fn shown(&self) -> impl Iterator<Item = &PickItem<T>> {
        self.shown.iter().map(|&i| &self.items[i])
    }

    /// Handle a key (mapped by the picker's key map).
    pub fn handle(&mut self, keys: &KeyMap<PickerAction>, key: &KeyEvent) -> Outcome<T> {
        let n = self.shown.len();
        match keys.action(key) {
            Some(PickerAction::Up) => self.sel = nav::prev(self.sel, n),
            Some(PickerAction::Down) => self.sel = nav::next(self.sel, n),
            Some(PickerAction::PageUp) => self.sel = nav::page(self.sel, -10, n),
            Some(PickerAction::PageDown) => self.sel = nav::page(self.sel, 10, n),
            Some(PickerAction::Cancel) => return Outcome::Cancelled,
            Some(PickerAction::Choose) => {
                if let Some(item) = self.selected() {
                    return Outcome::Chosen(item.value.clone());
                }
            }
            Some(PickerAction::Erase) => {
                self.query.pop();
                self.refilter();
            }
            Some(PickerAction::Type) => {
                if let crossterm::event::KeyCode::Char(c) = key.code {
                    self.query.push(c);
                    self.refilter();
                }
            }
            None => {}
        }
        Outcome::Open
    }

    /// Type a filter (tests, and a picker opened with a query).
    pub fn set_query(&mut self, q: &str) {
        self.query = q.to_string();
        self.refilter();
    }

    /// Recompute the shown entries: those matching the filter; fitting ones first; grouped,
    /// the groups in order of their best match (their order in the list without a filter);
    /// inside a group, best match first.
    fn refilter(&mut self) {
        let keep = self.shown.get(self.sel).copied();
        let pattern = Pattern::parse(&self.query, CaseMatching::Ignore, Normalization::Smart);
        let mut buf = Vec::new();
        let mut scored: Vec<(usize, u32)> = Vec::new();
        for (i, it) in self.items.iter().enumerate() {
            if self.query.is_empty() {
                scored.push((i, 0));
                continue;
            }
            let hay = format!("{} {} {}", it.group, it.label, it.detail);
            if let Some(s) = pattern.score(Utf32Str::new(&hay, &mut buf), &mut self.matcher) {
                scored.push((i, s));
            }
        }
        // Groups in order of first appearance, each with its best score.
        let mut groups: Vec<&str> = Vec::new();
        let mut best: Vec<u32> = Vec::new();
        let mut keyed: Vec<(bool, usize, u32, usize)> = Vec::with_capacity(scored.len());
        for &(i, s) in &scored {
            let g = self.items[i].group.as_str();
            let k = match groups.iter().position(|x| *x == g) {
                Some(k) => {
                    best[k] = best[k].max(s);
                    k
                }
                None => {
                    groups.push(g);
                    best.push(s);
                    groups.len() - 1
                }
            };
            keyed.push((self.items[i].unfit.is_some(), k, s, i));
        }
        keyed.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(best[b.1].cmp(&best[a.1]))
                .then(a.1.cmp(&b.1))
                .then(b.2.cmp(&a.2))
                .then(a.3.cmp(&b.3))
        });
        self.shown = keyed.into_iter().map(|k| k.3).collect();
        self.sel = if self.query.is_empty() {
            keep.and_then(|k| self.shown.iter().position(|&i| i == k))
                .unwrap_or(0)
        } else {
            0
        };
    }

    /// The rows on screen: a header before each run of entries of one group.
    fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        let mut last: Option<(&str, bool)> = None;
        for &i in &self.shown {
            let it = &self.items[i];
            let key = (it.group.as_str(), it.unfit.is_some());
            if last != Some(key) {
                rows.push(Row::Group(i));
                last = Some(key);
            }
            rows.push(Row::Item(i));
        }
        rows
    }

    /// Draw the picker as a popup over `area`; `hints` are the picker's key hints.
    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme, hints: &[KeyHint]) {
        let rows = self.rows();
        let sel_item = self.shown.get(self.sel).copied();
        let mut sel_row = None;
        let items: Vec<ListItem> = rows
            .iter()
            .enumerate()
            .map(|(r, row)| match *row {
                Row::Group(i) => {
                    let it = &self.items[i];
                    let text = match &it.unfit {
                        Some(_) => format!("{} · does not fit", it.group),
                        None => it.group.clone(),
                    };
                    ListItem::new(Line::styled(text, theme.title_style()))
                }
                Row::Item(i) => {
                    if Some(i) == sel_item {
                        sel_row = Some(r);
                    }
                    let it = &self.items[i];
                    let mut spans = vec![Span::raw("  ")];
                    match &it.unfit {
                        None => {
                            spans.push(Span::raw(it.label.clone()));
                            if !it.detail.is_empty() {
                                spans.push(Span::styled(
                                    format!("  {}", it.detail),
                                    theme.dim_style(),
                                ));
                            }
                        }
                        Some(why) => {
                            spans.push(Span::styled(it.label.clone(), theme.dim_style()));
                            spans.push(Span::styled(
                                format!("  ✗ {why}"),
                                Style::default().fg(theme.warn),
                            ));
                        }
                    }
                    ListItem::new(Line::from(spans))
                }
            })
            .collect();
        let w = area.width.saturating_sub(8).min(100);
        let h = area
            .height
            .saturating_sub(4)
            .min(items.len() as u16 + 3)
            .max(4);
        let r = Rect::new(area.x + (area.width - w) / 2, area.y + 2, w, h);
        f.render_widget(Clear, r);
        let bottom: Vec<String> = hints
            .iter()
            .filter(|h| h.in_bar)
            .map(|h| format!("{} {}", h.keys, h.desc))
            .collect();
        let filter = Line::from(vec![
            Span::styled(" filter ", theme.dim_style()),
            Span::styled(
                format!("{}▏", self.query),
                Style::default().fg(theme.accent),
            ),
            Span::styled(
                format!(" {}/{}", self.shown.len(), self.items.len()),
                theme.dim_style(),
            ),
        ]);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(Style::default().fg(theme.border_focus))
            .title(Span::styled(
                format!(" {} ({}) ", self.title, self.items.len()),
                theme.title_style(),
            ))
            .title_bottom(Line::styled(
                format!(" {} ", bottom.join(" · ")),
                theme.dim_style(),
            ));
        let inner = block.inner(r);
        f.render_widget(block.style(theme.base()), r);
        if inner.height == 0 {
            return;
        }
        f.render_widget(
            ratatui::widgets::Paragraph::new(filter).style(theme.base()),
            Rect::new(inner.x, inner.y, inner.width, 1),
        );
        let list_area = Rect::new(
            inner.x,
            inner.y + 1,
            inner.width,
            inner.height.saturating_sub(1),
        );
        let list = if items.is_empty() {
            List::new(vec![ListItem::new(Line::styled(
                "  nothing matches the filter",
                theme.dim_style(),
            ))])
        } else {
            List::new(items)
        }
        .style(theme.base())
        .highlight_style(theme.selected());
        let mut st = ListState::default().with_selected(sel_row);
        f.render_stateful_widget(list, list_area, &mut st);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn item(group: &str, label: &str, unfit: Option<&str>) -> PickItem<String> {
        PickItem {
            value: format!("{group}/{label}"),
            group: group.into(),
            label: label.into(),
            detail: String::new(),
            unfit: unfit.map(String::from),
        }
    }

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn fitting_first_grouped_filtered_and_chosen() {
        let items = vec![
            item("a.csv", "maze-1", Some("81 cells, the model takes 16")),
            item("b.csv", "sudoku-1", None),
            item("a.csv", "sudoku-2", None),
            item("b.csv", "sudoku-3", None),
        ];
        let mut p = Picker::new("Pick", items, 2);
        let order: Vec<&str> = p.shown().map(|i| i.label.as_str()).collect();
        assert_eq!(order, ["sudoku-2", "sudoku-1", "sudoku-3", "maze-1"]);
        assert_eq!(
            p.selected().unwrap().label,
            "sudoku-2",
            "starts on the current one"
        );
        assert_eq!(
            p.rows()
                .iter()
                .filter(|r| matches!(r, Row::Group(_)))
                .count(),
            3,
            "a, b, then the unfit a entries"
        );
        let keys = KeyMap::defaults("picker", KEYS);
        for c in "mz".chars() {
            assert_eq!(p.handle(&keys, &key(KeyCode::Char(c))), Outcome::Open);
        }
        let order: Vec<&str> = p.shown().map(|i| i.label.as_str()).collect();
        assert_eq!(order, ["maze-1"]);
        p.handle(&keys, &key(KeyCode::Backspace));
        p.handle(&keys, &key(KeyCode::Backspace));
        assert_eq!(p.shown().count(), 4);
        p.set_query("sdk3");
        assert_eq!(p.selected().unwrap().label, "sudoku-3");
        assert_eq!(
            p.handle(&keys, &key(KeyCode::Enter)),
            Outcome::Chosen("b.csv/sudoku-3".to_string())
        );
        p.set_query("zzzz");
        assert_eq!(p.shown().count(), 0);
        assert_eq!(p.handle(&keys, &key(KeyCode::Enter)), Outcome::Open);
        assert_eq!(p.handle(&keys, &key(KeyCode::Esc)), Outcome::Cancelled);
    }

    #[test]
    fn arrows_wrap_around() {
        let items = vec![item("g", "x", None), item("g", "y", None)];
        let mut p = Picker::new("Pick", items, 0);
        let keys = KeyMap::defaults("picker", KEYS);
        p.handle(&keys, &key(KeyCode::Up));
        assert_eq!(p.selected().unwrap().label, "y");
        p.handle(&keys, &key(KeyCode::Down));
        assert_eq!(p.selected().unwrap().label, "x");
    }
}
