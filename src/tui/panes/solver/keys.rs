//! The solver's keys outside the editor and the pickers (config table `solver`).

use crate::tui::keys::Binding;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SolverAction {
    StepPrev,
    StepNext,
    First,
    Last,
    Play,
    Overlay,
    CellLeft,
    CellDown,
    CellUp,
    CellRight,
    PickPuzzle,
    PickModel,
    Edit,
    NextPuzzle,
    PrevPuzzle,
    Lens,
    Rerun,
    Export,
    TestTime,
}

use SolverAction as A;

pub const KEYS: &[Binding<SolverAction>] = &[
    Binding::bar(
        A::StepPrev,
        "step_back",
        &["Left"],
        "step",
        "previous step (H-cycle under the lens)",
    ),
    Binding::bar(
        A::StepNext,
        "step_forward",
        &["Right"],
        "step",
        "next step (H-cycle under the lens)",
    ),
    Binding::bar(
        A::First,
        "first_step",
        &["Home"],
        "first/last",
        "first step",
    ),
    Binding::bar(
        A::Last,
        "last_step",
        &["End"],
        "first/last",
        "last step (and follow new ones)",
    ),
    Binding::bar(
        A::Play,
        "play",
        &["Space"],
        "play",
        "play the steps / pause",
    ),
    Binding::bar(
        A::Overlay,
        "overlay",
        &["o"],
        "overlay",
        "next overlay: correctness, changes, confidence, none",
    ),
    Binding::bar(
        A::CellLeft,
        "cell_left",
        &["h"],
        "cell",
        "inspect the cell to the left",
    ),
    Binding::bar(
        A::CellDown,
        "cell_down",
        &["j", "Down"],
        "cell",
        "inspect the cell below",
    ),
    Binding::bar(
        A::CellUp,
        "cell_up",
        &["k", "Up"],
        "cell",
        "inspect the cell above",
    ),
    Binding::bar(
        A::CellRight,
        "cell_right",
        &["l"],
        "cell",
        "inspect the cell to the right",
    ),
    Binding::bar(
        A::PickPuzzle,
        "pick_puzzle",
        &["p"],
        "puzzle",
        "pick a puzzle",
    ),
    Binding::bar(
        A::PickModel,
        "pick_model",
        &["m"],
        "model",
        "pick a model (checkpoint or untrained)",
    ),
    Binding::bar(
        A::Edit,
        "edit",
        &["e"],
        "edit grid",
        "type a puzzle in the grid editor",
    ),
    Binding::help(
        A::NextPuzzle,
        "next_puzzle",
        &["n"],
        "next puzzle of the set",
    ),
    Binding::help(
        A::PrevPuzzle,
        "previous_puzzle",
        &["N"],
        "previous puzzle of the set",
    ),
    Binding::help(
        A::Lens,
        "lens",
        &["c"],
        "H-cycle lens: step through the answer after each inner cycle",
    ),
    Binding::help(A::Rerun, "rerun", &["r"], "run the supervision steps again"),
    Binding::help(
        A::Export,
        "export_trace",
        &["x"],
        "export the step trace as JSON (data dir)",
    ),
    Binding::help(
        A::TestTime,
        "test_time",
        &["t"],
        "test-time compute: more steps, halting, noisy samples, aug-vote",
    ),
];
