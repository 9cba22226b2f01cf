//! The Experiments pane's keys (config table `experiments`).

use crate::tui::keys::Binding;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExperimentsAction {
    Next,
    Prev,
    PrevVariant,
    NextVariant,
    ToggleVariant,
    Seeds,
    Loss,
    Curves,
    Open,
    Write,
    Rescan,
}

use ExperimentsAction as X;

/// The Experiments pane's keys (config table `experiments`).
pub const KEYS: &[Binding<ExperimentsAction>] = &[
    Binding::bar(
        X::Next,
        "next",
        &["j", "Down"],
        "experiment",
        "next experiment",
    ),
    Binding::bar(
        X::Prev,
        "previous",
        &["k", "Up"],
        "experiment",
        "previous experiment",
    ),
    Binding::bar(
        X::PrevVariant,
        "previous_variant",
        &["Left", "h"],
        "variant",
        "previous variant",
    ),
    Binding::bar(
        X::NextVariant,
        "next_variant",
        &["Right", "l"],
        "variant",
        "next variant",
    ),
    Binding::bar(
        X::ToggleVariant,
        "show_variant",
        &["Space"],
        "show/hide",
        "show / hide the variant's curve",
    ),
    Binding::bar(
        X::Seeds,
        "seeds",
        &["s"],
        "seeds",
        "curves: mean over seeds / each seed",
    ),
    Binding::bar(
        X::Loss,
        "loss",
        &["L"],
        "loss",
        "loss curve: train (smoothed) / eval",
    ),
    Binding::bar(
        X::Curves,
        "curves",
        &["Enter"],
        "curves",
        "follow the variant's runs in the Curves pane",
    ),
    Binding::help(
        X::Open,
        "open",
        &["o"],
        "open the variant's best checkpoint in the Solver",
    ),
    Binding::help(
        X::Write,
        "write_report",
        &["w"],
        "write report.md and report.csv into the experiment folder",
    ),
    Binding::help(
        X::Rescan,
        "rescan",
        &["r"],
        "rescan runs/experiments and reload",
    ),
];
