//! The Curves pane's keys (config table `curves`).

use crate::tui::keys::Binding;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurvesAction {
    PrevMetric,
    NextMetric,
    Grid,
    LessSmoothing,
    MoreSmoothing,
    LogY,
    XAxis,
    ZoomIn,
    ZoomOut,
    PanLeft,
    PanRight,
    Follow,
    ResetZoom,
    Split,
    Robust,
    NextRun,
    PrevRun,
    ToggleRun,
    Rescan,
    Export,
}

use CurvesAction as C;

/// The Curves pane's keys (config table `curves`).
pub const KEYS: &[Binding<CurvesAction>] = &[
    Binding::bar(
        C::PrevMetric,
        "previous_metric",
        &["Left"],
        "metric",
        "previous metric",
    ),
    Binding::bar(
        C::NextMetric,
        "next_metric",
        &["Right"],
        "metric",
        "next metric",
    ),
    Binding::bar(
        C::Grid,
        "all_or_one",
        &["a"],
        "all/one",
        "all metrics in a grid, or one",
    ),
    Binding::bar(
        C::LessSmoothing,
        "less_smoothing",
        &["["],
        "smoothing",
        "less smoothing",
    ),
    Binding::bar(
        C::MoreSmoothing,
        "more_smoothing",
        &["]"],
        "smoothing",
        "more smoothing",
    ),
    Binding::bar(C::LogY, "log_y", &["L"], "log-y", "logarithmic y axis"),
    Binding::bar(
        C::XAxis,
        "x_axis",
        &["x"],
        "x-axis",
        "x axis: step or wall time",
    ),
    Binding::bar(C::ZoomIn, "zoom_in", &["+"], "zoom", "zoom in"),
    Binding::bar(C::ZoomOut, "zoom_out", &["-"], "zoom", "zoom out"),
    Binding::bar(C::PanLeft, "pan_left", &["h"], "pan", "pan left"),
    Binding::bar(C::PanRight, "pan_right", &["l"], "pan", "pan right"),
    Binding::bar(
        C::Follow,
        "follow",
        &["0"],
        "follow",
        "follow the newest steps",
    ),
    Binding::help(C::ResetZoom, "reset_zoom", &["="], "reset zoom (whole run)"),
    Binding::help(
        C::Split,
        "split",
        &["s"],
        "split: train+eval / train / eval",
    ),
    Binding::help(
        C::Robust,
        "ignore_outliers",
        &["i"],
        "ignore outliers (p1-p99 y-range)",
    ),
    Binding::help(
        C::NextRun,
        "next_run",
        &["j", "Down"],
        "select the next run",
    ),
    Binding::help(
        C::PrevRun,
        "previous_run",
        &["k", "Up"],
        "select the previous run",
    ),
    Binding::help(
        C::ToggleRun,
        "show_run",
        &["Space"],
        "show / hide the selected run",
    ),
    Binding::help(C::Rescan, "rescan", &["r"], "rescan runs/ for new runs"),
    Binding::help(
        C::Export,
        "export_csv",
        &["E"],
        "export visible runs to CSV (data dir)",
    ),
];
