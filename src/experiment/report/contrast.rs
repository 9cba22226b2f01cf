//! A declared `[[contrast]]` decided from the runs: per seed that all four variants finished,
//! the difference of differences `(a0 - a1) - (b0 - b1)`, its mean with a 95% paired-t
//! interval over those seeds, and the verdict (which difference is larger, or none detected).

use super::{finished_by_seed, is_fraction, RunResult};
use crate::experiment::compare::Contrast;
use crate::experiment::stats::{Difference, Summary, Verdict};

/// A contrast with its figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ContrastRow {
    pub spec: Contrast,
    /// The per-seed `a0 - a1` and `b0 - b1` over the seeds used.
    pub a: Summary,
    pub b: Summary,
    /// The mean of the per-seed `(a0 - a1) - (b0 - b1)` with its paired-t interval (two or
    /// more seeds).
    pub difference: Option<Difference>,
    pub verdict: Verdict,
}

/// The header of the contrasts table.
pub const CONTRAST_HEADER: [&str; 7] = [
    "contrast",
    "metric",
    "a",
    "b",
    "a - b",
    "95% CI (paired)",
    "verdict",
];

impl ContrastRow {
    pub(super) fn load(spec: &Contrast, runs: &[RunResult]) -> ContrastRow {
        let by_seed = |v: &str| finished_by_seed(runs, v, &spec.metric);
        let [a0, a1] = [by_seed(&spec.a[0]), by_seed(&spec.a[1])];
        let [b0, b1] = [by_seed(&spec.b[0]), by_seed(&spec.b[1])];
        let (mut da, mut db) = (Vec::new(), Vec::new());
        for (seed, x) in &a0 {
            if let (Some(y), Some(u), Some(w)) = (a1.get(seed), b0.get(seed), b1.get(seed)) {
                da.push(x - y);
                db.push(u - w);
            }
        }
        let contrasts: Vec<f64> = da.iter().zip(&db).map(|(x, y)| x - y).collect();
        let difference = Difference::paired(&contrasts);
        ContrastRow {
            spec: spec.clone(),
            a: Summary::of(&da),
            b: Summary::of(&db),
            difference,
            verdict: difference.map_or(Verdict::TooFewSeeds, |w| w.verdict()),
        }
    }

    /// `(a0 - a1) > (b0 - b1)`, `no difference detected (n = 4, 4)`...
    pub fn verdict_label(&self) -> String {
        self.verdict.label(
            &self.spec.a_label(),
            &self.spec.b_label(),
            self.a.n,
            self.b.n,
        )
    }

    /// Cells under [`CONTRAST_HEADER`], in points for fractions.
    pub fn cells(&self) -> Vec<String> {
        let scale = if is_fraction(&self.spec.metric) {
            100.0
        } else {
            1.0
        };
        let mean = |s: &Summary| {
            s.mean
                .map_or("-".into(), |m| format!("{:+.1} (n={})", m * scale, s.n))
        };
        let (diff, ci) = match &self.difference {
            Some(w) => (
                format!("{:+.1}", w.diff * scale),
                format!("[{:+.1}, {:+.1}]", w.low * scale, w.high * scale),
            ),
            None => ("-".into(), "-".into()),
        };
        vec![
            format!("{} vs {}", self.spec.a_label(), self.spec.b_label()),
            self.spec.metric.clone(),
            mean(&self.a),
            mean(&self.b),
            diff,
            ci,
            self.verdict_label(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::report::RunStatus;
    use std::path::PathBuf;

    fn run(variant: &str, seed: u64, exact: f64, status: RunStatus) -> RunResult {
        RunResult {
            variant: variant.into(),
            seed,
            dir: PathBuf::from(format!("{variant}-s{seed}")),
            status,
            config: None,
            params: 0,
            effective_depth: 0,
            last_step: Some(10),
            max_steps: 10,
            best_exact: Some(exact),
            final_exact: Some(exact),
            final_token_accuracy: None,
            final_valid_path: None,
            final_train_exact: None,
            final_gap: None,
            late_gain: None,
            avg_steps: None,
            wall_s: None,
            samples_per_s: None,
            cpu_percent: None,
            load_avg: None,
            samples_per_cpu_s: None,
            records: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn spec() -> Contrast {
        Contrast {
            a: ["hard-deep".into(), "hard-shallow".into()],
            b: ["easy-deep".into(), "easy-shallow".into()],
            metric: "final_exact".into(),
        }
    }

    #[test]
    fn the_contrast_is_the_mean_per_seed_difference_of_differences_with_a_paired_interval() {
        use RunStatus::*;
        // Per seed: hard gain, easy gain.
        // seed 0: 0.90 - 0.60 = 0.30, 0.99 - 0.95 = 0.04 -> 0.26
        // seed 1: 0.85 - 0.65 = 0.20, 1.00 - 0.97 = 0.03 -> 0.17
        // seed 2: 0.92 - 0.52 = 0.40, 0.98 - 0.96 = 0.02 -> 0.38
        // seed 3: finished by three variants only: left out.
        let runs = vec![
            run("hard-deep", 0, 0.90, Finished),
            run("hard-shallow", 0, 0.60, Finished),
            run("easy-deep", 0, 0.99, Finished),
            run("easy-shallow", 0, 0.95, Finished),
            run("hard-deep", 1, 0.85, Finished),
            run("hard-shallow", 1, 0.65, Finished),
            run("easy-deep", 1, 1.00, Finished),
            run("easy-shallow", 1, 0.97, Finished),
            run("hard-deep", 2, 0.92, Finished),
            run("hard-shallow", 2, 0.52, Finished),
            run("easy-deep", 2, 0.98, Finished),
            run("easy-shallow", 2, 0.96, Finished),
            run("hard-deep", 3, 0.10, Finished),
            run("hard-shallow", 3, 0.90, Finished),
            run("easy-deep", 3, 0.90, Finished),
            run("easy-shallow", 3, 0.10, Partial),
        ];
        let row = ContrastRow::load(&spec(), &runs);
        assert_eq!((row.a.n, row.b.n), (3, 3));
        // Computed independently: d = [0.26, 0.17, 0.38], mean 0.27, sample sd
        // sqrt(((-0.01)^2 + (-0.10)^2 + 0.11^2) / 2) = sqrt(0.0111), se = sd / sqrt(3);
        // t(0.975, 2) = 4.302652729749462 (scipy); half = t * se = 0.2617202...
        let w = row.difference.unwrap();
        assert!((w.diff - 0.27).abs() < 1e-12, "{w:?}");
        assert_eq!(w.df, 2.0);
        let half = 4.302_652_729_749_462 * (0.0111f64 / 3.0).sqrt();
        assert!((half - 0.261_720_2).abs() < 1e-6, "{half}");
        assert!((w.high - w.diff - half).abs() < 1e-9, "{w:?} {half}");
        assert!((w.diff - w.low - half).abs() < 1e-9, "{w:?} {half}");
        assert_eq!(row.verdict, Verdict::AGreater);
        let mean_a = row.a.mean.unwrap();
        assert!((mean_a - 0.30).abs() < 1e-12, "{mean_a}");
        let cells = row.cells();
        assert_eq!(
            cells[0],
            "(hard-deep - hard-shallow) vs (easy-deep - easy-shallow)"
        );
        assert_eq!(cells[2], "+30.0 (n=3)");
        assert_eq!(cells[3], "+3.0 (n=3)");
        assert_eq!(cells[4], "+27.0");
        assert_eq!(cells[5], "[+0.8, +53.2]");
        assert_eq!(
            cells[6],
            "(hard-deep - hard-shallow) > (easy-deep - easy-shallow)"
        );
    }

    #[test]
    fn one_seed_is_too_few_and_an_interval_over_zero_detects_nothing() {
        use RunStatus::Finished;
        let one = ["hard-deep", "hard-shallow", "easy-deep", "easy-shallow"]
            .iter()
            .map(|v| run(v, 0, 0.5, Finished))
            .collect::<Vec<_>>();
        let row = ContrastRow::load(&spec(), &one);
        assert_eq!(row.verdict, Verdict::TooFewSeeds);
        assert!(row.cells()[4] == "-" && row.cells()[6].starts_with("too few seeds"));
        // Opposite signs over two seeds: the interval straddles zero.
        let mut two = one.clone();
        two.extend([
            run("hard-deep", 1, 0.9, Finished),
            run("hard-shallow", 1, 0.5, Finished),
            run("easy-deep", 1, 0.5, Finished),
            run("easy-shallow", 1, 0.5, Finished),
        ]);
        two[0].final_exact = Some(0.3);
        let row = ContrastRow::load(&spec(), &two);
        assert_eq!(row.verdict, Verdict::NoDifference);
        assert_eq!(row.verdict_label(), "no difference detected (n = 2, 2)");
    }
}
