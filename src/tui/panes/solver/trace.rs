//! The step trace exporter: a solve as JSON (the puzzle, the target, and every step's answer,
//! halting head, latent norms, scores and per-cell confidence), written to
//! `<data dir>/traces/<puzzle>.json`.

use std::path::{Path, PathBuf};

use crate::data::Puzzle;
use crate::model::SolveStep;

use super::scoring::{StepStats, Target};

/// The trace document of a solve.
pub fn trace_json(
    puzzle: &Puzzle,
    target: Option<&Target>,
    model: Option<String>,
    steps: &[SolveStep],
    stats: &[StepStats],
) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = steps
        .iter()
        .zip(stats)
        .map(|(s, st)| {
            serde_json::json!({
                "step": s.step, "pred": s.pred, "q_halt": s.q_halt, "q_continue": s.q_continue,
                "halt_prob": s.halt_prob(), "would_halt": st.would_halt,
                "z_h_norm": s.z_h_norm, "z_l_norm": s.z_l_norm,
                "z_h_delta": s.z_h_delta, "z_l_delta": s.z_l_delta,
                "accuracy": st.accuracy, "exact": st.exact, "changed": st.changed,
                "confidence": s.probs.iter().map(|c| c.iter().cloned().fold(0.0f32, f32::max)).collect::<Vec<_>>(),
                "cycle_preds": s.cycle_preds,
            })
        })
        .collect();
    serde_json::json!({
        "puzzle": puzzle.name, "kind": puzzle.kind.to_string(), "input": puzzle.input_tokens(),
        "target": target.map(|t| &t.tokens),
        "target_source": target.map(|t| t.source),
        "model": model,
        "steps": steps,
    })
}

/// Where the trace of a puzzle goes: its name with every character but letters, digits and
/// `-` replaced by `_`.
pub fn trace_path(data_dir: &Path, puzzle_name: &str) -> PathBuf {
    let safe: String = puzzle_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    data_dir.join("traces").join(format!("{safe}.json"))
}

/// Write a trace document (creating its folder).
pub fn write_trace(path: &Path, doc: &serde_json::Value) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(doc).map_err(std::io::Error::other)?;
    std::fs::write(path, text)
}
