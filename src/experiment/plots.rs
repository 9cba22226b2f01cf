//! The figures of `experiment report --plots`, as SVG files in the experiment folder, drawn
//! with plotters from the same [`Report`] the tables come from:
//! - `curves.svg`: held-out exact accuracy against step, per variant: the mean over seeds with
//!   a band of ± one sample standard deviation;
//! - `valid-path.svg` (mazes): the same for the share of test mazes answered with a valid
//!   shortest path (any shortest path counts, where exact accuracy asks for the label's);
//! - `train-test.svg` (when the runs evaluated a training sample, `eval_train_sample`): per
//!   variant, the test curve (line) and the training-sample curve (dots) of the seed means, so
//!   that overfitting shows as the space between them;
//! - `final.svg`: final exact accuracy per variant, its 95% confidence interval over seeds
//!   (Student t) as a whisker, and each seed as a dot, on an axis from a round figure below the
//!   lowest of them to 100, so that variants near the ceiling stay apart.
//!
//! Accuracy curves rise from the lower left, so their legends sit in the lower right.
//!
//! Curves use the finished runs of a variant, or every run with evaluations while none has
//! finished (the figure says so in its title).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use color_eyre::eyre::{eyre, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::report::{Report, RunResult, RunStatus};
use super::stats::Summary;
use crate::train::api::Split;

/// The figure files.
pub const CURVES_SVG: &str = "curves.svg";
pub const VALID_PATH_SVG: &str = "valid-path.svg";
pub const TRAIN_TEST_SVG: &str = "train-test.svg";
pub const FINAL_SVG: &str = "final.svg";

const SIZE: (u32, u32) = (900, 520);

/// Colour of the `i`-th variant: a qualitative, colour-blind-safe palette (Okabe-Ito, with Paul
/// Tol's wine in place of its yellow, which thin lines and small dots lose on white).
pub fn colour(i: usize) -> RGBColor {
    const P: [RGBColor; 8] = [
        RGBColor(0, 114, 178),
        RGBColor(230, 159, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(86, 180, 233),
        RGBColor(213, 94, 0),
        RGBColor(136, 34, 85),
        RGBColor(0, 0, 0),
    ];
    P[i % P.len()]
}

/// One variant's curve of a metric over steps: (step, mean, sd) over the runs evaluated there.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    pub variant: String,
    pub points: Vec<(f64, f64, f64)>,
    /// Runs the curve is over, and whether they are finished ones.
    pub runs: usize,
    pub finished: bool,
}

/// The runs a variant's curves are drawn from: its finished runs, or, while none has
/// finished, every run with evaluations.
fn curve_runs<'a>(r: &'a Report, variant: &str) -> (Vec<&'a RunResult>, bool) {
    let of: Vec<&RunResult> = r.runs.iter().filter(|x| x.variant == variant).collect();
    let done: Vec<&RunResult> = of
        .iter()
        .copied()
        .filter(|x| x.status == RunStatus::Finished)
        .collect();
    if !done.is_empty() {
        (done, true)
    } else {
        (of, false)
    }
}

/// Per variant, the seed mean and standard deviation of an eval metric at each eval step
/// (percent for fractions); variants without any value are left out.
pub fn curves(r: &Report, metric: &str) -> Vec<Curve> {
    r.variants
        .iter()
        .filter_map(|v| {
            let (runs, finished) = curve_runs(r, &v.name);
            let mut at: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
            for run in &runs {
                for rec in run.records.iter().filter(|x| x.split == Split::Eval) {
                    if let Some(y) = rec.get(metric).filter(|y| y.is_finite()) {
                        at.entry(rec.step).or_default().push(100.0 * y);
                    }
                }
            }
            let points: Vec<(f64, f64, f64)> = at
                .into_iter()
                .filter_map(|(step, ys)| {
                    let s = Summary::of(&ys);
                    s.mean.map(|m| (step as f64, m, s.sd.unwrap_or(0.0)))
                })
                .collect();
            (!points.is_empty()).then(|| Curve {
                variant: v.name.clone(),
                points,
                runs: runs.len(),
                finished,
            })
        })
        .collect()
}

pub(super) fn plot_err<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> color_eyre::Report + '_ {
    move |e| eyre!("{}: cannot draw the figure: {e:?}", path.display())
}

/// A chart of an accuracy (%, 0-100; `y_desc` names it) against `x_desc` over `x`, with its
/// mesh drawn.
pub(super) type AccuracyChart<'a> =
    ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

pub(super) fn accuracy_chart<'a>(
    root: &DrawingArea<SVGBackend<'a>, plotters::coord::Shift>,
    path: &Path,
    caption: String,
    x: std::ops::Range<f64>,
    (x_desc, y_desc): (&str, &str),
    x_labels: Option<usize>,
) -> Result<AccuracyChart<'a>> {
    let e = plot_err(path);
    root.fill(&WHITE).map_err(&e)?;
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(x, 0f64..100f64)
        .map_err(&e)?;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_desc)
        .x_label_formatter(&|x: &f64| format!("{x:.0}"))
        .y_desc(y_desc)
        .y_label_formatter(&|y: &f64| format!("{y:.0}"));
    if let Some(n) = x_labels {
        mesh.x_labels(n);
    }
    mesh.draw().map_err(&e)?;
    Ok(chart)
}

/// A mean line with a shaded band (`(x, mean, low, high)` points, in percent) and its legend
/// entry.
pub(super) fn band_line(
    chart: &mut AccuracyChart<'_>,
    path: &Path,
    points: &[(f64, f64, f64, f64)],
    col: RGBColor,
    label: String,
) -> Result<()> {
    let e = plot_err(path);
    let band: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.0, p.3.min(100.0)))
        .chain(points.iter().rev().map(|p| (p.0, p.2.max(0.0))))
        .collect();
    chart
        .draw_series(std::iter::once(Polygon::new(band, col.mix(0.15).filled())))
        .map_err(&e)?;
    chart
        .draw_series(LineSeries::new(
            points.iter().map(|p| (p.0, p.1)),
            col.stroke_width(2),
        ))
        .map_err(&e)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
    Ok(())
}

/// The legend box, then the file written.
pub(super) fn finish(
    mut chart: AccuracyChart<'_>,
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    path: &Path,
    legend: SeriesLabelPosition,
) -> Result<()> {
    let e = plot_err(path);
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(&e)?;
    root.present().map_err(&e)?;
    Ok(())
}

/// The x range of some curves (at least one step wide).
fn x_range(curves: &[&Curve]) -> (f64, f64) {
    let xs = curves.iter().flat_map(|c| c.points.iter().map(|p| p.0));
    let lo = xs.clone().fold(f64::INFINITY, f64::min);
    let hi = xs.fold(f64::NEG_INFINITY, f64::max);
    if lo.is_finite() && hi > lo {
        (lo.min(0.0), hi)
    } else {
        (0.0, hi.max(1.0))
    }
}

fn legend_name(c: &Curve) -> String {
    let kind = if c.finished { "" } else { " unfinished" };
    format!("{} (n = {}{kind})", c.variant, c.runs)
}

/// `curves.svg`.
fn draw_curves(r: &Report, path: &Path) -> Result<bool> {
    draw_metric(r, path, "exact_accuracy", "held-out exact accuracy")
}

/// `valid-path.svg`.
fn draw_valid_path(r: &Report, path: &Path) -> Result<bool> {
    draw_metric(r, path, "maze_valid_path", "held-out valid shortest paths")
}

/// An eval metric's curves, one per variant that has it (coloured as in the other figures),
/// with a band of ± one sd over seeds; false when no variant has it.
fn draw_metric(r: &Report, path: &Path, metric: &str, what: &str) -> Result<bool> {
    let cs = curves(r, metric);
    if cs.is_empty() {
        return Ok(false);
    }
    let refs: Vec<&Curve> = cs.iter().collect();
    let (x0, x1) = x_range(&refs);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    let caption = format!("{}: {what} (mean ± 1 sd over seeds)", title(r));
    let axes = ("optimizer step", &*format!("{what} (%)"));
    let mut chart = accuracy_chart(&root, path, caption, x0..x1, axes, None)?;
    for c in &cs {
        let i = r
            .variants
            .iter()
            .position(|v| v.name == c.variant)
            .unwrap_or(0);
        let pts: Vec<(f64, f64, f64, f64)> = c
            .points
            .iter()
            .map(|p| (p.0, p.1, p.1 - p.2, p.1 + p.2))
            .collect();
        band_line(&mut chart, path, &pts, colour(i), legend_name(c))?;
    }
    finish(chart, &root, path, SeriesLabelPosition::LowerRight)?;
    Ok(true)
}

/// `train-test.svg`: test (line) and training-sample (dots) exact accuracy per variant.
fn draw_train_test(r: &Report, path: &Path) -> Result<bool> {
    let test = curves(r, "exact_accuracy");
    let train = curves(r, "train_exact_accuracy");
    if train.is_empty() {
        return Ok(false);
    }
    let refs: Vec<&Curve> = test.iter().chain(&train).collect();
    let (x0, x1) = x_range(&refs);
    let e = plot_err(path);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    let caption = format!(
        "{}: exact accuracy, test (lines) and training sample (dots), seed means",
        title(r)
    );
    let axes = ("optimizer step", "exact accuracy (%)");
    let mut chart = accuracy_chart(&root, path, caption, x0..x1, axes, None)?;
    for (i, v) in r.variants.iter().enumerate() {
        let col = colour(i);
        if let Some(c) = test.iter().find(|c| c.variant == v.name) {
            chart
                .draw_series(LineSeries::new(
                    c.points.iter().map(|p| (p.0, p.1)),
                    col.stroke_width(2),
                ))
                .map_err(&e)?
                .label(format!("{} test", v.name))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2))
                });
        }
        if let Some(c) = train.iter().find(|c| c.variant == v.name) {
            chart
                .draw_series(
                    c.points
                        .iter()
                        .map(|p| Circle::new((p.0, p.1), 4, col.filled())),
                )
                .map_err(&e)?
                .label(format!("{} train sample", v.name))
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, col.filled()));
        }
    }
    finish(chart, &root, path, SeriesLabelPosition::LowerRight)?;
    Ok(true)
}

/// `final.svg`: final exact accuracy per variant with its 95% CI and every seed.
fn draw_final(r: &Report, path: &Path) -> Result<bool> {
    let cols: Vec<(String, Vec<f64>, Summary)> = r
        .variants
        .iter()
        .map(|v| {
            let ys: Vec<f64> = r
                .runs
                .iter()
                .filter(|x| x.variant == v.name && x.status == RunStatus::Finished)
                .filter_map(|x| x.final_exact)
                .filter(|y| y.is_finite())
                .map(|y| 100.0 * y)
                .collect();
            let s = Summary::of(&ys);
            (v.name.clone(), ys, s)
        })
        .collect();
    if cols.iter().all(|c| c.1.is_empty()) {
        return Ok(false);
    }
    let n = cols.len();
    let floor = final_axis_floor(
        cols.iter()
            .flat_map(|(_, ys, s)| ys.iter().copied().chain(s.ci.map(|c| c.0))),
    );
    let e = plot_err(path);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(&e)?;
    let names: Vec<String> = cols.iter().map(|c| c.0.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{}: final exact accuracy, mean with 95% CI (finished seeds as dots)",
                title(r)
            ),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), floor..100f64)
        .map_err(&e)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.max(1))
        .x_label_formatter(&|x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("exact accuracy (%)")
        .y_label_formatter(&|y: &f64| format!("{y:.0}"))
        .draw()
        .map_err(&e)?;
    for (i, (_, ys, s)) in cols.iter().enumerate() {
        let col = colour(i);
        let x = i as f64;
        // Seeds, spread sideways so that equal values stay visible.
        let k = ys.len().max(1) as f64;
        chart
            .draw_series(ys.iter().enumerate().map(|(j, &y)| {
                let dx = 0.25 * ((j as f64 + 0.5) / k - 0.5);
                Circle::new((x + dx, y), 3, col.mix(0.6).filled())
            }))
            .map_err(&e)?;
        if let Some(m) = s.mean {
            let (lo, hi) = s.ci.unwrap_or((m, m));
            chart
                .draw_series(std::iter::once(ErrorBar::new_vertical(
                    x,
                    lo.max(floor),
                    m,
                    hi.min(100.0),
                    col.stroke_width(2),
                    16,
                )))
                .map_err(&e)?;
        }
    }
    root.present().map_err(&e)?;
    Ok(true)
}

/// The lower end of `final.svg`'s axis (%): a multiple of 10 at least 5 points below every
/// value shown (seeds and interval ends), and 0 when something is below 15.
fn final_axis_floor(values: impl Iterator<Item = f64>) -> f64 {
    let lowest = values.filter(|v| v.is_finite()).fold(100f64, f64::min);
    (((lowest - 5.0) / 10.0).floor() * 10.0).clamp(0.0, 90.0)
}

/// A figure's title: the experiment's name, and the step of an as-of-step report
/// (`experiment report --at-step N`), whose figures stop there.
fn title(r: &Report) -> String {
    match r.at_step {
        Some(n) => format!("{} as of step {n}", r.name),
        None => r.name.clone(),
    }
}

/// Write the experiment's figures into `dir`; returns the files written (a figure with no
/// data yet is skipped).
pub fn write_plots(r: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    type Draw = fn(&Report, &Path) -> Result<bool>;
    let figures: [(&str, Draw); 4] = [
        (CURVES_SVG, draw_curves),
        (VALID_PATH_SVG, draw_valid_path),
        (TRAIN_TEST_SVG, draw_train_test),
        (FINAL_SVG, draw_final),
    ];
    for (name, draw) in figures {
        let path = dir.join(name);
        if draw(r, &path)? {
            out.push(path);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::final_axis_floor;

    #[test]
    fn the_final_axis_starts_a_round_figure_below_the_lowest_value() {
        // M4's hard seeds and intervals: the lowest seed 78.5 gives 70.
        let m4 = [88.8, 83.4, 78.5, 97.6, 95.8, 100.0];
        assert_eq!(final_axis_floor(m4.into_iter()), 70.0);
        // Exactly 5 above a multiple of 10 still leaves 5 points of room.
        assert_eq!(final_axis_floor([85.0, 99.0].into_iter()), 80.0);
        assert_eq!(final_axis_floor([84.9].into_iter()), 70.0);
        // Low values and a negative interval end reach 0; all at 100 leaves 90..100.
        assert_eq!(final_axis_floor([2.5, 53.7].into_iter()), 0.0);
        assert_eq!(final_axis_floor([-12.0].into_iter()), 0.0);
        assert_eq!(final_axis_floor([100.0, 100.0].into_iter()), 90.0);
        // Nothing finite: the top 10 points, as for values all at 100.
        assert_eq!(final_axis_floor([f64::NAN].into_iter()), 90.0);
    }
}
