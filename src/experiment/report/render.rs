//! Rendering a [`Report`]: the terminal table, `report.md` and `report.csv`, the variant
//! table's columns and the comparison cells (a contrast's are its own, [`ContrastRow::cells`]).

use std::path::{Path, PathBuf};

use color_eyre::eyre::{Result, WrapErr};

use super::{
    is_fraction, CompareRow, ContrastRow, Report, Stat, VariantCell, VariantRow, CONTRAST_HEADER,
    REPORT_CSV, REPORT_MD,
};
use crate::experiment::stats::{Difference, Summary};
use crate::util::format_duration;

impl CompareRow {
    /// Cells: the metric's means and the difference, in percent / points for fractions.
    fn cells(&self) -> Vec<String> {
        let frac = is_fraction(&self.spec.metric);
        let scale = if frac { 100.0 } else { 1.0 };
        let mean = |s: &Summary| {
            s.mean.map_or("-".into(), |m| {
                format!("{:.1}{}", m * scale, if frac { "%" } else { "" })
            })
        };
        let (diff, ci, df) = match &self.difference {
            Some(w) => (
                format!("{:+.1}", w.diff * scale),
                format!(
                    "[{:+.1}, {:+.1}]{}",
                    w.low * scale,
                    w.high * scale,
                    if w.paired { " paired" } else { "" }
                ),
                format!("{:.1}", w.df),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        vec![
            format!("{} vs {}", self.spec.a, self.spec.b),
            self.spec.metric.clone(),
            format!("{} (n={})", mean(&self.a), self.a.n),
            format!("{} (n={})", mean(&self.b), self.b.n),
            diff,
            ci,
            df,
            self.verdict_label(),
            self.paper_label(),
            match self.agrees() {
                Some(true) => "agrees".into(),
                Some(false) => "opposite".into(),
                None => "-".into(),
            },
        ]
    }
}

/// The header of the comparisons table.
pub const COMPARE_HEADER: [&str; 10] = [
    "comparison",
    "metric",
    "a",
    "b",
    "a - b",
    "95% CI",
    "df",
    "verdict",
    "paper",
    "vs paper",
];

impl Report {
    /// The table's header and rows as text cells: the columns of `Report::columns`.
    pub fn table_cells(&self) -> (Vec<&'static str>, Vec<Vec<String>>) {
        let columns = self.columns();
        let header = columns.iter().map(|(h, _)| *h).collect();
        let rows = self
            .variants
            .iter()
            .map(|v| columns.iter().map(|(_, cell)| cell(v)).collect())
            .collect();
        (header, rows)
    }

    /// The variant table's columns, optional ones only where some run has their figure.
    fn columns(&self) -> Vec<(&'static str, VariantCell)> {
        let (cpu, load) = self.has_load();
        let mut c: Vec<(&'static str, VariantCell)> = vec![
            ("variant", |v| v.name.clone()),
            ("params", |v| format_params(v.params)),
            ("depth", |v| v.effective_depth.to_string()),
            ("best exact", |v| v.best_exact.percent()),
            ("final exact", |v| v.final_exact.percent()),
            ("95% CI", |v| v.final_exact.ci_percent()),
        ];
        if self.has_valid_path() {
            c.push(("valid path", |v| v.final_valid_path.percent()));
        }
        if self.has_train_sample() {
            c.push(("train exact", |v| v.final_train_exact.percent()));
            c.push(("gap", |v| v.final_gap.points()));
        }
        c.push(("last 20%", |v| v.late_gain.points()));
        let common: [(&'static str, VariantCell); 5] = [
            ("n", VariantRow::runs_label),
            ("token acc", |v| v.final_token_accuracy.percent()),
            ("avg steps", |v| {
                v.avg_steps.mean.map_or("-".into(), |m| format!("{m:.2}"))
            }),
            ("wall", |v| {
                v.wall_s.mean.map_or("-".into(), format_duration)
            }),
            ("samples/s", |v| {
                v.samples_per_s
                    .mean
                    .map_or("-".into(), |m| format!("{m:.1}"))
            }),
        ];
        c.extend(common);
        if cpu {
            c.push(("samples/cpu-s", |v| {
                v.samples_per_cpu_s
                    .mean
                    .map_or("-".into(), |m| format!("{m:.1}"))
            }));
            c.push(("cpu", |v| {
                v.cpu_percent
                    .mean
                    .map_or("-".into(), |m| format!("{m:.0}%"))
            }));
        }
        if load {
            c.push(("load", |v| {
                v.load_avg.mean.map_or("-".into(), |m| format!("{m:.2}"))
            }));
        }
        c
    }

    /// The comparisons table's rows as text cells (header: [`COMPARE_HEADER`]).
    pub fn compare_cells(&self) -> Vec<Vec<String>> {
        self.compares.iter().map(CompareRow::cells).collect()
    }

    /// The contrasts table's rows as text cells (header: [`CONTRAST_HEADER`]).
    pub fn contrast_cells(&self) -> Vec<Vec<String>> {
        self.contrasts.iter().map(ContrastRow::cells).collect()
    }

    /// The table for the terminal (aligned columns), then the comparisons and contrasts, if
    /// any.
    pub fn table_text(&self) -> String {
        let (header, rows) = self.table_cells();
        let mut out = aligned(&header, rows);
        if !self.compares.is_empty() {
            out.push_str(
                "\ncomparisons (difference of means, 95% interval: Welch, or paired t where \
                 marked):\n",
            );
            out.push_str(&aligned(&COMPARE_HEADER, self.compare_cells()));
        }
        if !self.contrasts.is_empty() {
            out.push_str(
                "\ncontrasts (mean per-seed difference of two differences, 95% paired-t \
                 interval):\n",
            );
            out.push_str(&aligned(&CONTRAST_HEADER, self.contrast_cells()));
        }
        out
    }
}

/// Text columns aligned: the first to the left, the others to the right.
fn aligned(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                let pad = w - c.chars().count();
                if i == 0 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(header.iter().map(|s| s.to_string()).collect());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

impl Report {
    /// `report.md`: the table, the definitions and every run.
    pub fn markdown(&self) -> String {
        let (header, rows) = self.table_cells();
        let mut s = format!("# Experiment `{}`\n\n", self.name);
        if !self.description.is_empty() {
            s.push_str(&format!("{}\n\n", self.description));
        }
        if let Some(at) = self.at_step {
            s.push_str(&format!(
                "**As of training step {at}:** every figure comes from the records up to that \
                 step; a run that reached it and was evaluated by then counts as finished, a \
                 run that ended earlier stands at its end.\n\n"
            ));
            let mut shorter: Vec<String> = Vec::new();
            for r in &self.runs {
                let label = format!("`{}` ({} steps)", r.variant, r.max_steps);
                if r.max_steps != 0 && r.max_steps < at && !shorter.contains(&label) {
                    shorter.push(label);
                }
            }
            if !shorter.is_empty() {
                s.push_str(&format!(
                    "Runs shorter than {at} steps, compared at their own length: {}.\n\n",
                    shorter.join(", ")
                ));
            }
        }
        let (done, total) = self.progress();
        s.push_str(&format!(
            "Base preset `{}`; seeds {}; {done} of {total} runs finished. Figures are means over \
             the finished runs of each variant (± the sample standard deviation over seeds; `n` \
             counts them), read from each run's `metrics.jsonl`.\n\n",
            self.base,
            self.seeds
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let right = |i: usize| if i == 0 { "---" } else { "---:" };
        s.push_str(&format!("| {} |\n", header.join(" | ")));
        s.push_str(&format!(
            "|{}|\n",
            (0..header.len())
                .map(|i| right(i).to_string())
                .collect::<Vec<_>>()
                .join("|")
        ));
        for r in rows {
            s.push_str(&format!("| {} |\n", r.join(" | ")));
        }
        s.push_str(
            "\n- **params**: trainable parameters of the network (`TrmConfig::num_parameters`; the \
             puzzle-embedding table is not counted); **depth**: layers passed per supervision step \
             (`TrmConfig::effective_depth`).\n\
             - **best / final exact**: highest and last eval `exact_accuracy`; **token acc**: last \
             eval `accuracy`; **train exact** (when shown): last eval's exact accuracy on a fixed \
             sample of training puzzles with the same EMA weights (`eval_train_sample`), and \
             **gap**: train minus test exact, in points; **valid path** (mazes): last eval's share \
             of test mazes answered with a valid shortest path.\n\
             - **last 20%**: the change of the final figure (valid path for mazes, else final \
             exact) over the last 20% of the run, in points: the last eval's minus that of the \
             last eval at or before 80% of its step. A run at its plateau changes by no more than \
             its seeds differ.\n\
             - **avg steps**: supervision steps used before halting in training (`steps` of the \
             train records, weighted by `count`, over the last 10% of the run).\n\
             - **wall**: the run's wall time (evaluations included); **samples/s**: mean logged \
             training throughput; the load they were measured under: **cpu**, the mean share of \
             one core the run's process used (100% per thread it could use; less, it waited for \
             a core), and **load**, the machine's mean 1-minute load average while it trained \
             (runnable threads; above the machine's core count, runs shared cores); \
             **samples/cpu-s**: samples/s per core the run used, the cost of a step with the \
             load taken out.\n\
             - **95% CI**: Student-t confidence interval of the mean final exact accuracy over \
             seeds (from two finished seeds on).\n",
        );
        if !self.compares.is_empty() {
            s.push_str(
                "\n## Comparisons\n\nDifference of the means over finished seeds (`a - b`, in \
                 points for accuracies), its 95% Welch confidence interval (unequal variances, \
                 Welch-Satterthwaite `df`), and the verdict: a direction when the interval \
                 excludes zero. A `paired` interval is over the seeds both variants finished: \
                 the mean of the per-seed differences with its paired-t interval (`df` = seeds \
                 - 1), for variants whose runs of one seed start from the same weights.\n\n",
            );
            s.push_str(&format!("| {} |\n", COMPARE_HEADER.join(" | ")));
            s.push_str("|---|---|---:|---:|---:|---:|---:|---|---|---|\n");
            for r in self.compare_cells() {
                s.push_str(&format!("| {} |\n", r.join(" | ")));
            }
        }
        if !self.contrasts.is_empty() {
            s.push_str(
                "\n## Contrasts\n\nWhether one difference is larger than another (`a` and `b` \
                 are each a difference of two variants, in points for accuracies): per seed \
                 that all four variants finished, `a - b`; the mean over those seeds with its \
                 95% paired-t interval (`df` = seeds - 1), and the verdict: a direction when \
                 the interval excludes zero.\n\n",
            );
            s.push_str(&format!("| {} |\n", CONTRAST_HEADER.join(" | ")));
            s.push_str("|---|---|---:|---:|---:|---:|---|\n");
            for r in self.contrast_cells() {
                s.push_str(&format!("| {} |\n", r.join(" | ")));
            }
        }
        let described: Vec<&VariantRow> = self
            .variants
            .iter()
            .filter(|v| !v.description.is_empty())
            .collect();
        if !described.is_empty() {
            s.push_str("\n## Variants\n\n");
            for v in described {
                s.push_str(&format!("- `{}`: {}\n", v.name, v.description));
            }
        }
        let gap = self.has_train_sample();
        let (cpu, load) = self.has_load();
        let mut header = vec!["run", "status", "step", "best exact", "final exact"];
        if gap {
            header.push("train exact");
        }
        header.extend(["token acc", "avg steps", "wall", "samples/s"]);
        if cpu {
            header.extend(["samples/cpu-s", "cpu"]);
        }
        if load {
            header.push("load");
        }
        s.push_str(&format!(
            "\n## Runs\n\n| {} |\n|---|---|{}|\n",
            header.join(" | "),
            vec!["---:"; header.len() - 2].join("|")
        ));
        for r in &self.runs {
            let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.1}%", v * 100.0));
            let mut cells = vec![
                r.dir
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().to_string()),
                r.status.label().to_string(),
                match (r.last_step, r.max_steps) {
                    (Some(s), 0) => s.to_string(),
                    (Some(s), m) => format!("{s}/{m}"),
                    (None, _) => "-".into(),
                },
                pct(r.best_exact),
                pct(r.final_exact),
            ];
            if gap {
                cells.push(pct(r.final_train_exact));
            }
            cells.extend([
                pct(r.final_token_accuracy),
                r.avg_steps.map_or("-".into(), |v| format!("{v:.2}")),
                r.wall_s.map_or("-".into(), format_duration),
                r.samples_per_s.map_or("-".into(), |v| format!("{v:.1}")),
            ]);
            if cpu {
                cells.push(
                    r.samples_per_cpu_s
                        .map_or("-".into(), |v| format!("{v:.1}")),
                );
                cells.push(r.cpu_percent.map_or("-".into(), |v| format!("{v:.0}%")));
            }
            if load {
                cells.push(r.load_avg.map_or("-".into(), |v| format!("{v:.2}")));
            }
            s.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        let warnings = self.warnings();
        if !warnings.is_empty() {
            s.push_str("\n## Warnings\n\n");
            for w in warnings {
                s.push_str(&format!("- {w}\n"));
            }
        }
        s
    }

    /// `report.csv`: one row per variant, full precision, empty where undefined.
    pub fn csv(&self) -> String {
        let mut s = String::from(
            "variant,params,effective_depth,runs_planned,runs_finished,\
             best_exact_mean,best_exact_std,final_exact_mean,final_exact_std,\
             final_token_accuracy_mean,final_token_accuracy_std,avg_steps_mean,avg_steps_std,\
             wall_s_mean,wall_s_std,samples_per_s_mean,samples_per_s_std,\
             final_exact_ci_low,final_exact_ci_high,final_train_exact_mean,final_train_exact_std,\
             final_gap_mean,final_gap_std,final_valid_path_mean,final_valid_path_std,\
             cpu_percent_mean,cpu_percent_std,load_avg_mean,load_avg_std,\
             samples_per_cpu_s_mean,samples_per_cpu_s_std,late_gain_mean,late_gain_std\n",
        );
        let f = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        for v in &self.variants {
            let mut cells = vec![
                v.name.clone(),
                v.params.to_string(),
                v.effective_depth.to_string(),
                v.runs_planned.to_string(),
                v.runs_finished.to_string(),
            ];
            let mean_std = |cells: &mut Vec<String>, stats: [Stat; 6]| {
                for st in stats {
                    cells.push(f(st.mean));
                    cells.push(f(st.std));
                }
            };
            mean_std(
                &mut cells,
                [
                    v.best_exact,
                    v.final_exact,
                    v.final_token_accuracy,
                    v.avg_steps,
                    v.wall_s,
                    v.samples_per_s,
                ],
            );
            cells.push(f(v.final_exact.ci.map(|c| c.0)));
            cells.push(f(v.final_exact.ci.map(|c| c.1)));
            mean_std(
                &mut cells,
                [
                    v.final_train_exact,
                    v.final_gap,
                    v.final_valid_path,
                    v.cpu_percent,
                    v.load_avg,
                    v.samples_per_cpu_s,
                ],
            );
            cells.push(f(v.late_gain.mean));
            cells.push(f(v.late_gain.std));
            s.push_str(&cells.join(","));
            s.push('\n');
        }
        if !self.compares.is_empty() {
            // A second table after a blank line: one row per declared comparison.
            s.push_str(
                "\ncompare_a,compare_b,metric,n_a,n_b,mean_a,mean_b,diff,ci_low,ci_high,df,\
                 verdict,paper_a,paper_b,paired\n",
            );
            for c in &self.compares {
                let cells = [
                    c.spec.a.clone(),
                    c.spec.b.clone(),
                    c.spec.metric.clone(),
                    c.a.n.to_string(),
                    c.b.n.to_string(),
                    f(c.a.mean),
                    f(c.b.mean),
                ]
                .into_iter()
                .chain(interval_cells(c.difference))
                .chain([
                    c.verdict_label().replace(',', ";"),
                    f(c.spec.paper_a),
                    f(c.spec.paper_b),
                    c.spec.paired.to_string(),
                ])
                .collect::<Vec<_>>();
                s.push_str(&cells.join(","));
                s.push('\n');
            }
        }
        if !self.contrasts.is_empty() {
            // A third table after a blank line: one row per declared contrast.
            s.push_str(
                "\ncontrast_a0,contrast_a1,contrast_b0,contrast_b1,metric,n,mean_a,mean_b,diff,\
                 ci_low,ci_high,df,verdict\n",
            );
            for c in &self.contrasts {
                let cells = [
                    c.spec.a[0].clone(),
                    c.spec.a[1].clone(),
                    c.spec.b[0].clone(),
                    c.spec.b[1].clone(),
                    c.spec.metric.clone(),
                    c.a.n.to_string(),
                    f(c.a.mean),
                    f(c.b.mean),
                ]
                .into_iter()
                .chain(interval_cells(c.difference))
                .chain([c.verdict_label().replace(',', ";")])
                .collect::<Vec<_>>();
                s.push_str(&cells.join(","));
                s.push('\n');
            }
        }
        s
    }

    /// Write `report.md` and `report.csv` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir)
            .wrap_err_with(|| format!("{}: cannot create", dir.display()))?;
        let md = dir.join(REPORT_MD);
        let csv = dir.join(REPORT_CSV);
        std::fs::write(&md, self.markdown())
            .wrap_err_with(|| format!("{}: cannot write", md.display()))?;
        std::fs::write(&csv, self.csv())
            .wrap_err_with(|| format!("{}: cannot write", csv.display()))?;
        Ok((md, csv))
    }
}

/// A difference's CSV cells at full precision: `diff`, `ci_low`, `ci_high`, `df` (empty
/// without one).
fn interval_cells(w: Option<Difference>) -> [String; 4] {
    [
        w.map(|w| w.diff),
        w.map(|w| w.low),
        w.map(|w| w.high),
        w.map(|w| w.df),
    ]
    .map(|v| v.map_or(String::new(), |v| v.to_string()))
}

/// `5.03M`, `85.2k`, `960`.
pub fn format_params(n: usize) -> String {
    let f = n as f64;
    if f >= 1e6 {
        format!("{:.2}M", f / 1e6)
    } else if f >= 1e4 {
        format!("{:.1}k", f / 1e3)
    } else {
        n.to_string()
    }
}
