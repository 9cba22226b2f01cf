//! The refinement of one solve as an animated SVG (SMIL, no script): the input, then one frame
//! per supervision step with its answer, the cells that changed outlined, wrong Sudoku cells
//! tinted, and a caption with `q_halt`, the confidence and the verdict. It loops; the last
//! frame holds longer. Browsers and most slide tools play it.

use std::fmt::Write;

use super::{cell_mark, glyph, shape, CellMark};
use crate::data::sudoku::Geometry;
use crate::data::PuzzleKind;
use crate::train::test_time::trace::SolveTrace;

/// Seconds a frame shows; the last one holds `HOLD` frames.
const FRAME_S: f64 = 0.9;
const HOLD: f64 = 3.0;
const CELL: usize = 32;
const MARGIN: usize = 12;
const CAPTION: usize = 44;
/// The caption's font size (px) and the advance of one character of the monospace font at
/// that size (DejaVu Sans Mono's 0.602 em, Menlo's 0.602 em), rounded up.
const CAPTION_FONT: usize = 15;
const CAPTION_CHAR_W: f64 = 0.61 * CAPTION_FONT as f64;
/// The narrowest figure, so that a small grid's slide keeps its size.
const MIN_WIDTH: usize = 380;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The fill and text colour of a cell.
fn colours(kind: PuzzleKind, token: i32, mark: CellMark) -> (&'static str, &'static str) {
    let ch = glyph(kind, token);
    let base = match kind {
        PuzzleKind::Maze { .. } => match ch {
            '#' => ("#2e3440", "#2e3440"),
            'S' => ("#a3be8c", "#1b1b1b"),
            'G' => ("#bf616a", "#ffffff"),
            'o' => ("#ebcb8b", "#1b1b1b"),
            _ => ("#fafafa", "#1b1b1b"),
        },
        _ => ("#fafafa", "#1f4e99"),
    };
    match mark {
        CellMark::Wrong => ("#f4c7c3", "#b00020"),
        CellMark::Given => ("#eceff4", "#1b1b1b"),
        _ => base,
    }
}

fn frame(
    out: &mut String,
    kind: PuzzleKind,
    input: &[i32],
    label: Option<&[i32]>,
    answer: &[i32],
    changed: &[usize],
    caption: &str,
) {
    let (rows, cols) = shape(kind);
    let _ = writeln!(
        out,
        r##"<text x="{MARGIN}" y="{}" font-size="{CAPTION_FONT}" xml:space="preserve">{}</text>"##,
        MARGIN + 16,
        escape(caption)
    );
    let top = MARGIN + CAPTION;
    for r in 0..rows {
        for c in 0..cols {
            let k = r * cols + c;
            let mark = cell_mark(kind, input, label, answer, changed, k);
            let (fill, ink) = colours(kind, answer[k], mark);
            let (x, y) = (MARGIN + c * CELL, top + r * CELL);
            let stroke = if mark == CellMark::Changed {
                r##" stroke="#d08700" stroke-width="3""##
            } else {
                r##" stroke="#c0c4cc" stroke-width="1""##
            };
            let _ = writeln!(
                out,
                r##"<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{fill}"{stroke}/>"##
            );
            let ch = glyph(kind, answer[k]);
            let text = match kind {
                PuzzleKind::Sudoku { .. } if ch == '.' => None,
                PuzzleKind::Maze { .. } if matches!(ch, '#' | ' ' | 'o') => None,
                _ => Some(ch),
            };
            if let Some(ch) = text {
                let weight = if mark == CellMark::Given {
                    "bold"
                } else {
                    "normal"
                };
                let _ = writeln!(
                    out,
                    r##"<text x="{}" y="{}" font-size="18" font-weight="{weight}" text-anchor="middle" fill="{ink}">{}</text>"##,
                    x + CELL / 2,
                    y + CELL / 2 + 6,
                    escape(&ch.to_string())
                );
            }
        }
    }
    if let PuzzleKind::Sudoku { size } = kind {
        if let Some(g) = Geometry::new(size) {
            for i in (0..=size).step_by(g.box_rows) {
                let y = top + i * CELL;
                let _ = writeln!(
                    out,
                    r##"<line x1="{MARGIN}" y1="{y}" x2="{}" y2="{y}" stroke="#1b1b1b" stroke-width="2"/>"##,
                    MARGIN + size * CELL
                );
            }
            for j in (0..=size).step_by(g.box_cols) {
                let x = MARGIN + j * CELL;
                let _ = writeln!(
                    out,
                    r##"<line x1="{x}" y1="{top}" x2="{x}" y2="{}" stroke="#1b1b1b" stroke-width="2"/>"##,
                    top + size * CELL
                );
            }
        }
    }
}

/// `values` and `keyTimes` of a discrete opacity animation showing frame `i` of frames that
/// start at `starts` (fractions of the loop).
fn visibility(i: usize, starts: &[f64]) -> (String, String) {
    let n = starts.len();
    let t = |v: f64| format!("{v:.4}");
    if i == 0 {
        (
            "1;0".into(),
            format!("0;{}", t(starts.get(1).copied().unwrap_or(1.0))),
        )
    } else if i + 1 == n {
        ("0;1".into(), format!("0;{}", t(starts[i])))
    } else {
        (
            "0;1;0".into(),
            format!("0;{};{}", t(starts[i]), t(starts[i + 1])),
        )
    }
}

/// The width (px) that holds the grid and every caption, spaces kept.
fn width_for(cols: usize, captions: &[String]) -> usize {
    let text = captions
        .iter()
        .map(|c| (c.chars().count() as f64 * CAPTION_CHAR_W).ceil() as usize)
        .max()
        .unwrap_or(0);
    (2 * MARGIN + (cols * CELL).max(text)).max(MIN_WIDTH)
}

/// The caption of every frame: "input", then each step's figures and verdict.
fn captions(trace: &SolveTrace) -> Vec<String> {
    let total_steps = trace.steps.len();
    let steps = trace.steps.iter().map(|s| {
        let verdict = match s.right {
            Some(true) => "  right",
            Some(false) => "  wrong",
            None => "",
        };
        format!(
            "step {}/{}  q_halt {:+.2}  conf {:.2}  changed {}{}",
            s.step,
            total_steps,
            s.q_halt,
            s.confidence_mean,
            s.changed.len(),
            verdict
        )
    });
    std::iter::once("input".to_string()).chain(steps).collect()
}

/// The whole animation.
pub fn animated(
    kind: PuzzleKind,
    input: &[i32],
    label: Option<&[i32]>,
    trace: &SolveTrace,
    title: &str,
) -> String {
    let (rows, cols) = shape(kind);
    let captions = captions(trace);
    let width = width_for(cols, &captions);
    let height = 2 * MARGIN + CAPTION + rows * CELL;
    let n = trace.steps.len() + 1;
    let durations: Vec<f64> = (0..n)
        .map(|i| if i + 1 == n { FRAME_S * HOLD } else { FRAME_S })
        .collect();
    let total: f64 = durations.iter().sum();
    let mut starts = Vec::with_capacity(n);
    let mut acc = 0.0;
    for d in &durations {
        starts.push(acc / total);
        acc += d;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans Mono, Menlo, monospace">"##
    );
    let _ = writeln!(out, "<title>{}</title>", escape(title));
    let _ = writeln!(
        out,
        r##"<rect width="{width}" height="{height}" fill="#ffffff"/>"##
    );
    for (i, caption) in captions.iter().enumerate() {
        let (answer, changed) = match i.checked_sub(1) {
            None => (input, &[][..]),
            Some(k) => (
                trace.steps[k].answer.as_slice(),
                trace.steps[k].changed.as_slice(),
            ),
        };
        let (values, times) = visibility(i, &starts);
        let initial = if i == 0 { 1 } else { 0 };
        let _ = writeln!(out, r##"<g opacity="{initial}">"##);
        if n > 1 {
            let _ = writeln!(
                out,
                r##"<animate attributeName="opacity" calcMode="discrete" dur="{total:.2}s" repeatCount="indefinite" values="{values}" keyTimes="{times}"/>"##
            );
        }
        frame(&mut out, kind, input, label, answer, changed, caption);
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_frame_shows_in_its_own_slot() {
        let starts = [0.0, 0.25, 0.5];
        assert_eq!(visibility(0, &starts), ("1;0".into(), "0;0.2500".into()));
        assert_eq!(
            visibility(1, &starts),
            ("0;1;0".into(), "0;0.2500;0.5000".into())
        );
        assert_eq!(visibility(2, &starts), ("0;1".into(), "0;0.5000".into()));
    }

    #[test]
    fn the_figure_is_wide_enough_for_its_longest_caption() {
        // A small grid and short captions keep the minimum width.
        assert_eq!(width_for(6, &["input".into()]), MIN_WIDTH);
        // The 7x7 maze's step caption with its verdict, 51 characters at 9.15 px: 467 px of
        // text plus the margins (it was cut at 380 px, losing the verdict).
        let long = "step 6/6  q_halt -4.98  conf 0.87  changed 0  right".to_string();
        assert_eq!(long.chars().count(), 51);
        assert_eq!(width_for(7, &["input".into(), long]), 467 + 2 * MARGIN);
        // A grid wider than any caption sets the width.
        assert_eq!(width_for(30, &["input".into()]), 30 * CELL + 2 * MARGIN);
    }
}
