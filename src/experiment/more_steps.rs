//! `experiment steps`: every finished run's final model (EMA weights) evaluated on its own test
//! split with more supervision steps than it was trained with (all steps run, as the official
//! evaluation does), and per variant the exact accuracy after each step count, over seeds: the
//! mean, the sample standard deviation and the 95% Student-t interval. Does more recursion at
//! test time help a model trained with fewer steps? Written as `steps.md`, `steps.csv` and
//! `steps.svg` in the experiment folder.

use std::path::{Path, PathBuf};

use color_eyre::eyre::{eyre, Result, WrapErr};
use plotters::prelude::*;

use super::report::{Report, RunResult, RunStatus, Stat};
use super::stats::Summary;
use crate::model::weights::load_model;
use crate::train::run_dir::RunDir;
use crate::train::test_time::{self, HaltPolicy, TestTimeOptions};

pub const STEPS_MD: &str = "steps.md";
pub const STEPS_CSV: &str = "steps.csv";
pub const STEPS_SVG: &str = "steps.svg";

/// One run's exact accuracy after each supervision step `1..=steps`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSteps {
    pub variant: String,
    pub seed: u64,
    pub checkpoint: PathBuf,
    /// The `halt_max_steps` the model was trained with.
    pub trained_steps: usize,
    pub exact_by_step: Vec<f64>,
}

/// A variant's figures: per step count, the summary over its finished seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantSteps {
    pub variant: String,
    pub trained_steps: usize,
    pub by_step: Vec<Summary>,
    /// Per seed, exact accuracy at the last step minus at the trained count: its mean and
    /// 95% interval (a paired comparison, each model against itself).
    pub gain: Summary,
}

/// Evaluate one finished run's final checkpoint with `steps` supervision steps (0: twice the
/// trained number).
pub fn eval_run(r: &RunResult, steps: usize, batch: usize) -> Result<RunSteps> {
    let run = RunDir::new(&r.dir);
    let checkpoint = run
        .latest_checkpoint()
        .ok_or_else(|| eyre!("{}: no checkpoint (checkpoints/latest)", r.dir.display()))?;
    let device = candle_core::Device::Cpu;
    let (model, _) = load_model(&checkpoint, None, &device)?;
    let cfg = run.read_config()?;
    let data = crate::train::source::load_train_data(&cfg.data, run.path())
        .wrap_err_with(|| format!("{}: the run's data", run.path().display()))?;
    let trained = model.config.halt_max_steps;
    let opts = TestTimeOptions {
        steps: if steps == 0 { 2 * trained } else { steps },
        halt: HaltPolicy::All,
        ..TestTimeOptions::plain(&model.config)
    };
    let rep = test_time::evaluate(&model, &data.loaded.test.1, data.kind(), batch, 0, &opts)
        .wrap_err_with(|| format!("{}: evaluation", checkpoint.display()))?;
    Ok(RunSteps {
        variant: r.variant.clone(),
        seed: r.seed,
        checkpoint,
        trained_steps: trained,
        exact_by_step: rep.exact_by_step,
    })
}

/// Per variant (in the order given), the summaries of the runs' step curves.
pub fn summarise<'a>(
    variants: impl IntoIterator<Item = &'a str>,
    runs: &[RunSteps],
) -> Vec<VariantSteps> {
    variants
        .into_iter()
        .filter_map(|name| {
            let of: Vec<&RunSteps> = runs.iter().filter(|r| r.variant == name).collect();
            let first = of.first()?;
            let n = of.iter().map(|r| r.exact_by_step.len()).min().unwrap_or(0);
            let by_step = (0..n)
                .map(|k| Summary::of(&of.iter().map(|r| r.exact_by_step[k]).collect::<Vec<_>>()))
                .collect();
            let trained = first.trained_steps;
            let gains: Vec<f64> = if (1..=n).contains(&trained) {
                of.iter()
                    .map(|r| r.exact_by_step[n - 1] - r.exact_by_step[trained - 1])
                    .collect()
            } else {
                Vec::new()
            };
            Some(VariantSteps {
                variant: name.to_string(),
                trained_steps: trained,
                by_step,
                gain: Summary::of(&gains),
            })
        })
        .collect()
}

/// Evaluate every finished run of the report (`on_run` hears each as it is done).
pub fn eval_all(
    report: &Report,
    steps: usize,
    batch: usize,
    mut on_run: impl FnMut(&RunSteps),
) -> Result<Vec<RunSteps>> {
    let mut out = Vec::new();
    for r in report
        .runs
        .iter()
        .filter(|r| r.status == RunStatus::Finished)
    {
        let s = eval_run(r, steps, batch)?;
        on_run(&s);
        out.push(s);
    }
    Ok(out)
}

/// `95.0 ± 1.2% [93.1, 96.9]`: mean ± sd and the 95% interval, in percent.
fn pct_ci(s: &Summary) -> String {
    let st = Stat::from(*s);
    format!("{} {}", st.percent(), st.ci_percent())
}

/// The step counts a table shows: 1, the trained count, and the last (each once, in order).
fn shown_steps(v: &VariantSteps) -> Vec<usize> {
    let mut s = vec![1, v.trained_steps, v.by_step.len()];
    s.retain(|&k| k >= 1 && k <= v.by_step.len());
    s.dedup();
    s
}

/// `steps.md`: per variant, exact accuracy (%) at 1 step, the trained count and the last,
/// then the whole curve.
pub fn markdown(report: &Report, vs: &[VariantSteps]) -> String {
    let mut s = format!(
        "# Experiment `{}`: more supervision steps at test time\n\n\
         Each finished run's final model (EMA weights) on its own test split, every supervision \
         step run (the official evaluation), past the number it was trained with. Exact \
         accuracy (%) over seeds: mean ± sample sd, and the 95% Student-t interval of the mean.\n\n\
         | variant | trained steps | n | exact at step 1 | at the trained count | at the last step | last − trained [95% paired CI] |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        report.name
    );
    for v in vs {
        let at = |k: usize| v.by_step.get(k.saturating_sub(1));
        let n = v.by_step.first().map_or(0, |x| x.n);
        let cell = |k: usize| at(k).map_or("-".into(), pct_ci);
        let gain = match (v.gain.mean, v.gain.ci) {
            (Some(m), Some((lo, hi))) => {
                format!("{:+.1} [{:+.1}, {:+.1}]", 100.0 * m, 100.0 * lo, 100.0 * hi)
            }
            (Some(m), None) => format!("{:+.1}", 100.0 * m),
            _ => "-".into(),
        };
        s.push_str(&format!(
            "| {} | {} | {n} | {} | {} | {} | {gain} |\n",
            v.variant,
            v.trained_steps,
            cell(1),
            cell(v.trained_steps),
            cell(v.by_step.len()),
        ));
    }
    s.push_str("\nWhole curves (mean exact accuracy %, per step):\n\n| variant |");
    let width = vs.iter().map(|v| v.by_step.len()).max().unwrap_or(0);
    for k in 1..=width {
        s.push_str(&format!(" {k} |"));
    }
    s.push_str(&format!("\n|---|{}\n", "---:|".repeat(width)));
    for v in vs {
        s.push_str(&format!("| {} |", v.variant));
        for k in 0..width {
            s.push_str(
                &v.by_step
                    .get(k)
                    .and_then(|x| x.mean)
                    .map_or(" - |".into(), |m| format!(" {:.1} |", 100.0 * m)),
            );
        }
        s.push('\n');
    }
    s
}

/// `steps.csv`: one row per (variant, step).
pub fn csv(vs: &[VariantSteps]) -> String {
    let f = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    let mut s = String::from("variant,trained_steps,step,n,exact_mean,exact_sd,ci_low,ci_high\n");
    for v in vs {
        for (k, x) in v.by_step.iter().enumerate() {
            s.push_str(&format!(
                "{},{},{},{},{},{},{},{}\n",
                v.variant,
                v.trained_steps,
                k + 1,
                x.n,
                f(x.mean),
                f(x.sd),
                f(x.ci.map(|c| c.0)),
                f(x.ci.map(|c| c.1)),
            ));
        }
    }
    s
}

/// `steps.svg`: exact accuracy against supervision steps per variant, the 95% CI as a band,
/// the trained count marked by a dot on each curve.
pub fn draw(report: &Report, vs: &[VariantSteps], path: &Path) -> Result<()> {
    use super::plots::{accuracy_chart, band_line, colour, finish, plot_err};
    let e = plot_err(path);
    let width = vs.iter().map(|v| v.by_step.len()).max().unwrap_or(1).max(2);
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    let caption = format!(
        "{}: exact accuracy by supervision steps at test time (mean, 95% CI; dot: trained count)",
        report.name
    );
    let mut chart = accuracy_chart(
        &root,
        path,
        caption,
        1f64..width as f64,
        ("supervision steps", "exact accuracy (%)"),
        Some(width),
    )?;
    for (i, v) in vs.iter().enumerate() {
        let col = colour(i);
        let pts: Vec<(f64, f64, f64, f64)> = v
            .by_step
            .iter()
            .enumerate()
            .filter_map(|(k, x)| {
                let m = x.mean?;
                let (lo, hi) = x.ci.unwrap_or((m, m));
                Some(((k + 1) as f64, 100.0 * m, 100.0 * lo, 100.0 * hi))
            })
            .collect();
        let label = format!("{} (trained with {})", v.variant, v.trained_steps);
        band_line(&mut chart, path, &pts, col, label)?;
        if let Some(p) = pts.get(v.trained_steps.saturating_sub(1)) {
            chart
                .draw_series(std::iter::once(Circle::new((p.0, p.1), 5, col.filled())))
                .map_err(&e)?;
        }
    }
    finish(chart, &root, path, SeriesLabelPosition::LowerRight)
}

/// The table for the terminal: per variant, exact accuracy at the steps `shown_steps` picks.
pub fn table_text(vs: &[VariantSteps]) -> String {
    let mut out = String::new();
    for v in vs {
        let cells: Vec<String> = shown_steps(v)
            .into_iter()
            .map(|k| format!("step {k}: {}", pct_ci(&v.by_step[k - 1])))
            .collect();
        out.push_str(&format!(
            "{} (trained with {} steps, n = {}): {}\n",
            v.variant,
            v.trained_steps,
            v.by_step.first().map_or(0, |x| x.n),
            cells.join("  ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(variant: &str, seed: u64, exact: &[f64]) -> RunSteps {
        RunSteps {
            variant: variant.into(),
            seed,
            checkpoint: PathBuf::new(),
            trained_steps: 2,
            exact_by_step: exact.to_vec(),
        }
    }

    #[test]
    fn summarise_gives_per_step_stats_and_the_paired_gain_over_the_trained_count() {
        let runs = [
            run("a", 0, &[0.1, 0.5, 0.6, 0.7]),
            run("b", 0, &[0.0, 0.2, 0.2, 0.2]),
            run("a", 1, &[0.3, 0.7, 0.7, 0.8]),
        ];
        let vs = summarise(["a", "b", "none"], &runs);
        assert_eq!(vs.len(), 2, "a variant without runs is left out");
        let a = &vs[0];
        assert_eq!((a.variant.as_str(), a.trained_steps), ("a", 2));
        assert_eq!(a.by_step.len(), 4);
        assert!((a.by_step[1].mean.unwrap() - 0.6).abs() < 1e-12);
        // Gains: 0.7 - 0.5 = 0.2 and 0.8 - 0.7 = 0.1; mean 0.15, sd 0.0707, t(0.975, 1) = 12.706.
        assert!((a.gain.mean.unwrap() - 0.15).abs() < 1e-12);
        let (lo, hi) = a.gain.ci.unwrap();
        let half = 12.706_204_736 * (0.005f64).sqrt() / 2f64.sqrt();
        assert!((lo - (0.15 - half)).abs() < 1e-6 && (hi - (0.15 + half)).abs() < 1e-6);
        assert_eq!(vs[1].gain.n, 1);
        assert!(vs[1].gain.ci.is_none());
        let csv = csv(&vs);
        assert_eq!(csv.lines().count(), 1 + 4 + 4);
        assert!(csv.contains("\na,2,2,2,0.6"), "{csv}");
    }
}
