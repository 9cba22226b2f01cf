//! Keys declared once (after gitui's key config): every pane and popup has one table of
//! [`Binding`]s (action, config name, default keys, help text, bar text). The table drives the
//! dispatch ([`KeyMap::action`]), the hint bar and the `?` help ([`KeyMap::hints`]), so a key
//! cannot be matched in code without being listed, nor listed without being matched. Users remap
//! keys in the config file (`[keys.<table>] <action> = ["x", "Ctrl-x"]`); the hints and the help
//! then show the keys in effect.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::component::KeyHint;

/// A key with its modifiers, or any printable character (text typed into a field or a grid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Chord(KeyCode, KeyModifiers),
    /// Any character without Ctrl or Alt; written `<char>` in a table.
    AnyChar,
}

impl Key {
    /// Parse `x`, `X`, `Ctrl-x`, `Alt-x`, `Shift-Tab`, `Enter`, `Esc`, `Space`, `Tab`, `Left`,
    /// `Right`, `Up`, `Down`, `Home`, `End`, `PageUp`, `PageDown`, `Backspace`, `Delete`, `F1`..
    pub fn parse(s: &str) -> Result<Key, String> {
        if s == "<char>" {
            return Ok(Key::AnyChar);
        }
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            let (m, len) = if lower.starts_with("ctrl-") {
                (KeyModifiers::CONTROL, 5)
            } else if lower.starts_with("alt-") {
                (KeyModifiers::ALT, 4)
            } else if lower.starts_with("shift-") && rest.len() > 6 {
                (KeyModifiers::SHIFT, 6)
            } else {
                break;
            };
            mods |= m;
            rest = &rest[len..];
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "space" => KeyCode::Char(' '),
            "tab" if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "backspace" => KeyCode::Backspace,
            "delete" => KeyCode::Delete,
            f if f.len() >= 2 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => return Err(format!("`{s}` is not a key")),
                }
            }
        };
        Ok(Key::Chord(code, mods))
    }

    /// Whether a key event is this key. Shift is part of a character (`S`), not a modifier.
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let plain = |m: KeyModifiers| m - KeyModifiers::SHIFT;
        match (*self, ev.code) {
            (Key::AnyChar, KeyCode::Char(_)) => !ev
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT),
            (Key::AnyChar, _) => false,
            (Key::Chord(KeyCode::Char(a), m), KeyCode::Char(b)) => {
                a == b && plain(m) == plain(ev.modifiers)
            }
            (Key::Chord(code, m), c) => code == c && m == ev.modifiers,
        }
    }

    /// How the key is shown: `x`, `Ctrl-x`, `←`, `Enter`, `space`.
    pub fn label(&self) -> String {
        let Key::Chord(code, mods) = *self else {
            return "type".into();
        };
        let mut s = String::new();
        if mods.contains(KeyModifiers::CONTROL) {
            s.push_str("Ctrl-");
        }
        if mods.contains(KeyModifiers::ALT) {
            s.push_str("Alt-");
        }
        let name = match code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "Shift-Tab".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Backspace => "Bksp".into(),
            KeyCode::Delete => "Del".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        s.push_str(&name);
        s
    }
}

/// One row of a key table.
#[derive(Debug, Clone, Copy)]
pub struct Binding<A: 'static> {
    pub action: A,
    /// The action's name in the config file.
    pub name: &'static str,
    /// The default keys (see [`Key::parse`]).
    pub keys: &'static [&'static str],
    /// How the default keys are shown, when not each key in turn (`1-6`, `digits # s g .`).
    pub label: Option<&'static str>,
    /// What the action does (the help).
    pub desc: &'static str,
    /// The text in the bottom hint bar; bindings next to each other with the same text share
    /// one hint (`←/→ step`). `None`: in the help only.
    pub bar: Option<&'static str>,
}

impl<A> Binding<A> {
    /// A binding shown in the hint bar as `bar` and in the help as `desc`.
    pub const fn bar(
        action: A,
        name: &'static str,
        keys: &'static [&'static str],
        bar: &'static str,
        desc: &'static str,
    ) -> Self {
        Binding {
            action,
            name,
            keys,
            label: None,
            desc,
            bar: Some(bar),
        }
    }
    /// A binding shown in the help only.
    pub const fn help(
        action: A,
        name: &'static str,
        keys: &'static [&'static str],
        desc: &'static str,
    ) -> Self {
        Binding {
            action,
            name,
            keys,
            label: None,
            desc,
            bar: None,
        }
    }
    /// The same binding shown with `label` for its default keys.
    pub const fn labelled(mut self, label: &'static str) -> Self {
        self.label = Some(label);
        self
    }
}

/// What a hint filter says about an action in the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Yes,
    No,
    /// Shown with another text (bar and help), e.g. `pause` / `resume`.
    As(&'static str),
}

/// Users' key overrides: table name -> action name -> keys.
pub type KeyOverrides = BTreeMap<String, BTreeMap<String, KeyList>>;

/// One key or several, as written in the config file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum KeyList {
    One(String),
    Many(Vec<String>),
}

impl KeyList {
    fn keys(&self) -> Vec<&str> {
        match self {
            KeyList::One(k) => vec![k.as_str()],
            KeyList::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone)]
struct Entry<A: 'static> {
    binding: Binding<A>,
    keys: Vec<Key>,
    /// The user changed the keys (the default label no longer applies).
    remapped: bool,
}

/// A key table with the user's overrides applied.
#[derive(Debug, Clone)]
pub struct KeyMap<A: 'static> {
    table: &'static str,
    entries: Vec<Entry<A>>,
}

impl<A: Copy + PartialEq + 'static> KeyMap<A> {
    /// The table `bindings` (named `table` in the config file) with the overrides of
    /// `overrides[table]`. Problems (unknown action, bad key) come back as messages; the
    /// default keys stay in force where an override is bad.
    pub fn new(
        table: &'static str,
        bindings: &'static [Binding<A>],
        overrides: &KeyOverrides,
    ) -> (KeyMap<A>, Vec<String>) {
        let mut errors = Vec::new();
        let mine = overrides.get(table);
        let mut entries = Vec::with_capacity(bindings.len());
        for b in bindings {
            let defaults: Vec<Key> = b.keys.iter().filter_map(|k| Key::parse(k).ok()).collect();
            let (keys, remapped) = match mine.and_then(|m| m.get(b.name)) {
                None => (defaults, false),
                Some(_) if defaults.contains(&Key::AnyChar) => {
                    errors.push(format!(
                        "keys.{table}.{}: typed text cannot be remapped",
                        b.name
                    ));
                    (defaults, false)
                }
                Some(list) => {
                    let parsed: Result<Vec<Key>, String> =
                        list.keys().into_iter().map(Key::parse).collect();
                    match parsed {
                        Ok(k) if !k.is_empty() => (k, true),
                        Ok(_) => {
                            errors.push(format!("keys.{table}.{}: no key given", b.name));
                            (defaults, false)
                        }
                        Err(e) => {
                            errors.push(format!("keys.{table}.{}: {e}", b.name));
                            (defaults, false)
                        }
                    }
                }
            };
            entries.push(Entry {
                binding: *b,
                keys,
                remapped,
            });
        }
        if let Some(m) = mine {
            for name in m.keys() {
                if !bindings.iter().any(|b| b.name == name) {
                    let known: Vec<&str> = bindings.iter().map(|b| b.name).collect();
                    errors.push(format!(
                        "keys.{table}: no action `{name}` (actions: {})",
                        known.join(", ")
                    ));
                }
            }
        }
        (KeyMap { table, entries }, errors)
    }

    /// The table with its default keys.
    pub fn defaults(table: &'static str, bindings: &'static [Binding<A>]) -> KeyMap<A> {
        KeyMap::new(table, bindings, &KeyOverrides::new()).0
    }

    pub fn table(&self) -> &'static str {
        self.table
    }

    /// The action of a key, the first in table order.
    pub fn action(&self, ev: &KeyEvent) -> Option<A> {
        self.entries
            .iter()
            .find(|e| e.keys.iter().any(|k| k.matches(ev)))
            .map(|e| e.binding.action)
    }

    /// The action of a key and which of its keys matched (the n-th key of `1-6` is pane n).
    pub fn action_at(&self, ev: &KeyEvent) -> Option<(A, usize)> {
        self.entries.iter().find_map(|e| {
            e.keys
                .iter()
                .position(|k| k.matches(ev))
                .map(|i| (e.binding.action, i))
        })
    }

    /// The action of a key among those `allowed` (a pane whose mode disables some).
    pub fn action_where(&self, ev: &KeyEvent, allowed: impl Fn(A) -> bool) -> Option<A> {
        self.entries
            .iter()
            .filter(|e| allowed(e.binding.action))
            .find(|e| e.keys.iter().any(|k| k.matches(ev)))
            .map(|e| e.binding.action)
    }

    /// The keys of an action as shown (`Enter`, `s`, `j/↓`).
    pub fn label_of(&self, action: A) -> String {
        self.entries
            .iter()
            .find(|e| e.binding.action == action)
            .map_or_else(String::new, |e| entry_label(e, false))
    }

    /// The hints of every action.
    pub fn hints(&self) -> Vec<KeyHint> {
        self.hints_where(|_| Shown::Yes)
    }

    /// The hints of the actions `shown` keeps, the bar's merged where they share a text.
    pub fn hints_where(&self, shown: impl Fn(A) -> Shown) -> Vec<KeyHint> {
        let mut out: Vec<KeyHint> = Vec::new();
        let mut bar_of_last: Option<&str> = None;
        for e in &self.entries {
            let (bar, desc) = match shown(e.binding.action) {
                Shown::No => continue,
                Shown::Yes => (e.binding.bar, e.binding.desc),
                Shown::As(t) => (e.binding.bar.map(|_| t), t),
            };
            // Bar hints: merge with the previous one of the same text.
            if let (Some(text), Some(prev)) = (bar, bar_of_last) {
                if text == prev {
                    if let Some(h) = out.last_mut() {
                        h.merged.push(first_label(e));
                        h.keys = merged_label(&h.merged);
                        h.help.push((entry_label(e, true), desc.to_string()));
                        continue;
                    }
                }
            }
            bar_of_last = bar;
            out.push(KeyHint {
                keys: match bar {
                    Some(_) => first_label(e),
                    None => entry_label(e, true),
                },
                desc: bar.unwrap_or(desc).to_string(),
                in_bar: bar.is_some(),
                merged: vec![first_label(e)],
                help: vec![(entry_label(e, true), desc.to_string())],
            });
        }
        out
    }
}

/// The keys of an entry: its label, else every key (`j/↓`); `all` = every key even when long.
fn entry_label<A>(e: &Entry<A>, all: bool) -> String {
    if let (Some(l), false) = (e.binding.label, e.remapped) {
        return l.to_string();
    }
    let labels: Vec<String> = e.keys.iter().map(Key::label).collect();
    if all {
        labels.join("/")
    } else {
        labels.first().cloned().unwrap_or_default()
    }
}

/// The key shown for an entry in a merged bar hint: its label or its first key.
fn first_label<A>(e: &Entry<A>) -> String {
    entry_label(e, false)
}

/// `hjkl` for three or more single letters, else the keys with `/` between them.
fn merged_label(keys: &[String]) -> String {
    if keys.len() >= 3 && keys.iter().all(|k| k.chars().count() == 1) {
        keys.concat()
    } else {
        keys.join("/")
    }
}

/// List navigation shared by every list: wrap-around next and previous, and page moves that
/// stop at the ends.
pub mod nav {
    /// The item after `sel` in a list of `n`, wrapping to the first (0 for an empty list).
    pub fn next(sel: usize, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (sel + 1) % n
        }
    }
    /// The item before `sel` in a list of `n`, wrapping to the last (0 for an empty list).
    pub fn prev(sel: usize, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (sel.min(n - 1) + n - 1) % n
        }
    }
    /// `sel` moved by `delta` items, clamped to the list.
    pub fn page(sel: usize, delta: i64, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (sel as i64 + delta).clamp(0, n as i64 - 1) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum A {
        Left,
        Right,
        Quit,
        Type,
    }
    const TABLE: &[Binding<A>] = &[
        Binding::bar(A::Left, "left", &["Left", "h"], "move", "move left"),
        Binding::bar(A::Right, "right", &["Right", "l"], "move", "move right"),
        Binding::help(A::Quit, "quit", &["q", "Ctrl-c"], "quit"),
        Binding::bar(A::Type, "type", &["<char>"], "value", "type a value").labelled("type"),
    ];

    fn ev(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn parse_and_label() {
        for (s, l) in [
            ("x", "x"),
            ("Ctrl-c", "Ctrl-c"),
            ("Shift-Tab", "Shift-Tab"),
            ("Left", "←"),
            ("Space", "space"),
            ("F1", "F1"),
            ("PageDown", "PgDn"),
            ("S", "S"),
        ] {
            assert_eq!(Key::parse(s).unwrap().label(), l, "{s}");
        }
        assert!(Key::parse("Nope").is_err());
        assert!(Key::parse("").is_err());
    }

    #[test]
    fn dispatch_defaults_and_any_char() {
        let m = KeyMap::defaults("t", TABLE);
        let none = KeyModifiers::NONE;
        assert_eq!(m.action(&ev(KeyCode::Char('h'), none)), Some(A::Left));
        assert_eq!(m.action(&ev(KeyCode::Right, none)), Some(A::Right));
        assert_eq!(
            m.action(&ev(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(A::Quit)
        );
        // An uppercase letter arrives with or without Shift.
        assert_eq!(
            m.action(&ev(KeyCode::Char('z'), KeyModifiers::SHIFT)),
            Some(A::Type)
        );
        assert_eq!(m.action(&ev(KeyCode::Enter, none)), None);
        assert_eq!(
            m.action(&ev(KeyCode::Char('z'), KeyModifiers::ALT)),
            None,
            "Alt-z is no typed text"
        );
    }

    #[test]
    fn hints_merge_and_follow_remaps() {
        let m = KeyMap::defaults("t", TABLE);
        let h = m.hints();
        assert_eq!(h[0].keys, "←/→");
        assert_eq!(h[0].desc, "move");
        assert_eq!(h[1].keys, "q/Ctrl-c");
        assert!(!h[1].in_bar);
        assert_eq!(h[2].keys, "type");
        let mut o = KeyOverrides::new();
        o.entry("t".into()).or_default().insert(
            "left".into(),
            KeyList::Many(vec!["a".into(), "Ctrl-b".into()]),
        );
        o.entry("t".into())
            .or_default()
            .insert("jump".into(), KeyList::One("j".into()));
        o.entry("t".into())
            .or_default()
            .insert("quit".into(), KeyList::One("Hyper-q".into()));
        let (m, errs) = KeyMap::new("t", TABLE, &o);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs.iter().any(|e| e.contains("no action `jump`")));
        assert!(errs.iter().any(|e| e.contains("keys.t.quit")));
        let none = KeyModifiers::NONE;
        assert_eq!(m.action(&ev(KeyCode::Char('a'), none)), Some(A::Left));
        assert_eq!(m.action(&ev(KeyCode::Left, none)), None, "replaced");
        assert_eq!(
            m.action(&ev(KeyCode::Char('q'), none)),
            Some(A::Quit),
            "a bad override keeps the defaults"
        );
        let h = m.hints();
        assert_eq!(h[0].keys, "a/→");
        assert_eq!(h[0].help[0].0, "a/Ctrl-b");
        let shown = m.hints_where(|a| match a {
            A::Quit => Shown::No,
            A::Type => Shown::As("text"),
            _ => Shown::Yes,
        });
        assert_eq!(shown.len(), 2);
        assert_eq!(shown[1].desc, "text");
    }

    #[test]
    fn navigation_wraps_and_pages_clamp() {
        assert_eq!(nav::next(2, 3), 0);
        assert_eq!(nav::prev(0, 3), 2);
        assert_eq!(nav::prev(5, 3), 1, "a stale selection stays in the list");
        assert_eq!((nav::next(0, 0), nav::prev(0, 0)), (0, 0));
        assert_eq!(nav::page(5, 10, 8), 7);
        assert_eq!(nav::page(5, -10, 8), 0);
    }
}
