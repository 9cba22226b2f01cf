//! The statistics of an experiment report: the mean, sample standard deviation and 95%
//! Student-t confidence interval of a figure over seeds ([`Summary`]), the difference of two
//! variants' means with its 95% confidence interval, Welch's or, for runs paired by seed, the
//! paired t's ([`Difference`]), and the verdict drawn from it ([`Verdict`]). The t quantiles
//! come from the Student-t distribution function, written through the regularized incomplete
//! beta function (Numerical Recipes, 3rd ed., section 6.4, `betai`/`betacf`) and inverted by
//! bisection: no statistics crate needed.

/// The confidence level of every interval in the report.
pub const CONFIDENCE: f64 = 0.95;

/// `ln Γ(x)` for `x > 0` (Lanczos approximation, g = 7, n = 9; relative error near 1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The continued fraction of the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The regularized incomplete beta function `I_x(a, b)`.
pub fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

/// The Student-t distribution function `P(T <= t)` with `df > 0` degrees of freedom (not
/// necessarily an integer).
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * inc_beta(df / 2.0, 0.5, df / (df + t * t));
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The Student-t quantile: the `t` with `P(T <= t) = p`, for `0 < p < 1` and `df > 0`
/// (bisection on [`t_cdf`] to a relative precision near 1e-12).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if !(p > 0.0 && p < 1.0 && df > 0.0) {
        return f64::NAN;
    }
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while t_cdf(hi, df) < p {
        hi *= 2.0;
        if hi > 1e12 {
            return f64::INFINITY;
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-13 * hi.max(1.0) {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// The two-sided critical value of a [`CONFIDENCE`] interval.
fn t_crit(df: f64) -> f64 {
    t_quantile(1.0 - (1.0 - CONFIDENCE) / 2.0, df)
}

/// A figure over seeds: count, mean, sample standard deviation and the 95% Student-t
/// confidence interval of the mean (the last two need two or more values).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    pub n: usize,
    pub mean: Option<f64>,
    pub sd: Option<f64>,
    /// `(low, high)`: mean ± t_{0.975, n-1} · sd / √n.
    pub ci: Option<(f64, f64)>,
}

impl Summary {
    pub fn of(values: &[f64]) -> Summary {
        let n = values.len();
        if n == 0 {
            return Summary::default();
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Summary {
                n,
                mean: Some(mean),
                sd: None,
                ci: None,
            };
        }
        let sd = (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        let half = t_crit((n - 1) as f64) * sd / (n as f64).sqrt();
        Summary {
            n,
            mean: Some(mean),
            sd: Some(sd),
            ci: Some((mean - half, mean + half)),
        }
    }
}

/// The difference of two means, `mean(a) - mean(b)`, with its 95% Welch confidence interval
/// (unequal variances; Welch-Satterthwaite degrees of freedom), or, built by
/// [`Difference::paired`], the mean of per-seed differences with its paired-t interval
/// (`df = n - 1`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    pub n_a: usize,
    pub n_b: usize,
    pub diff: f64,
    /// Standard error of the difference.
    pub se: f64,
    pub df: f64,
    pub low: f64,
    pub high: f64,
    /// A paired comparison ([`Difference::paired`]).
    pub paired: bool,
}

impl Difference {
    /// The mean of paired differences `a_i - b_i` (one per seed) with its 95% paired-t
    /// interval; `None` below two pairs. Runs of two variants that share a seed and their
    /// parameter shapes start from the same weights, so pairing removes the initial draw's
    /// share of the spread.
    pub fn paired(diffs: &[f64]) -> Option<Difference> {
        let s = Summary::of(diffs);
        let (mean, sd) = (s.mean?, s.sd?);
        let n = diffs.len();
        let se = sd / (n as f64).sqrt();
        let df = (n - 1) as f64;
        let half = if se == 0.0 { 0.0 } else { t_crit(df) * se };
        Some(Difference {
            n_a: n,
            n_b: n,
            diff: mean,
            se,
            df,
            low: mean - half,
            high: mean + half,
            paired: true,
        })
    }

    /// `None` unless both samples have two or more values.
    pub fn of(a: &[f64], b: &[f64]) -> Option<Difference> {
        let (sa, sb) = (Summary::of(a), Summary::of(b));
        let (ma, mb, da, db) = (sa.mean?, sb.mean?, sa.sd?, sb.sd?);
        let (na, nb) = (a.len() as f64, b.len() as f64);
        let (va, vb) = (da * da / na, db * db / nb);
        let diff = ma - mb;
        let se = (va + vb).sqrt();
        if se == 0.0 {
            // Both samples constant: the difference is exact.
            return Some(Difference {
                n_a: a.len(),
                n_b: b.len(),
                diff,
                se,
                df: na + nb - 2.0,
                low: diff,
                high: diff,
                paired: false,
            });
        }
        let df = (va + vb).powi(2) / (va * va / (na - 1.0) + vb * vb / (nb - 1.0));
        let half = t_crit(df) * se;
        Some(Difference {
            n_a: a.len(),
            n_b: b.len(),
            diff,
            se,
            df,
            low: diff - half,
            high: diff + half,
            paired: false,
        })
    }

    /// What the interval says: a direction when it excludes zero.
    pub fn verdict(&self) -> Verdict {
        if self.low > 0.0 {
            Verdict::AGreater
        } else if self.high < 0.0 {
            Verdict::BGreater
        } else {
            Verdict::NoDifference
        }
    }
}

/// The outcome of a comparison of `a` against `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The 95% interval of `a - b` lies above zero.
    AGreater,
    /// It lies below zero.
    BGreater,
    /// It contains zero.
    NoDifference,
    /// Fewer than two finished seeds on a side.
    TooFewSeeds,
}

impl Verdict {
    /// `a > b`, `b > a`, `no difference detected (n = 4, 4)` or
    /// `too few seeds (n = 1, 2; two each needed)`, with the variants' names.
    pub fn label(self, a: &str, b: &str, n_a: usize, n_b: usize) -> String {
        match self {
            Verdict::AGreater => format!("{a} > {b}"),
            Verdict::BGreater => format!("{b} > {a}"),
            Verdict::NoDifference => format!("no difference detected (n = {n_a}, {n_b})"),
            Verdict::TooFewSeeds => {
                format!("too few seeds (n = {n_a}, {n_b}; two each needed)")
            }
        }
    }
}

/// The direction a pair of published figures shows: `a > b`, `b > a` or `a = b`.
pub fn paper_direction(a: &str, b: &str, paper_a: f64, paper_b: f64) -> String {
    if paper_a > paper_b {
        format!("{a} > {b}")
    } else if paper_b > paper_a {
        format!("{b} > {a}")
    } else {
        format!("{a} = {b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// t_{0.975, df}, from `scipy.stats.t.ppf(0.975, df)` (scipy 1.x).
    const T975: [(f64, f64); 7] = [
        (1.0, 12.706204736174694),
        (2.0, 4.302652729749462),
        (3.0, 3.1824463052837078),
        (5.0, 2.5705818356363146),
        (10.0, 2.228138851986274),
        (30.0, 2.0422724563012378),
        (7.3, 2.345066736547703),
    ];

    #[test]
    fn t_quantiles_match_published_values() {
        for (df, want) in T975 {
            let got = t_quantile(0.975, df);
            assert!(
                (got - want).abs() < 1e-9 * want,
                "t(0.975, {df}) = {got}, expected {want}"
            );
            assert!((t_quantile(0.025, df) + want).abs() < 1e-9 * want);
            assert!((t_cdf(want, df) - 0.975).abs() < 1e-12);
        }
        assert!(t_quantile(0.5, 4.0).abs() < 1e-9);
        assert!(t_quantile(1.0, 4.0).is_nan() && t_quantile(0.9, 0.0).is_nan());
    }

    #[test]
    fn summary_and_welch_match_an_independent_computation() {
        // Expected values from scipy: the mean, `np.std(ddof=1)` and
        // mean ± t.ppf(0.975, 3) * sd / 2; Welch: `ttest_ind(a, b, equal_var=False).df` and
        // diff ± t.ppf(0.975, df) * se.
        let a = [0.62, 0.55, 0.70, 0.58];
        let b = [0.41, 0.50, 0.47];
        let s = Summary::of(&a);
        assert_eq!(s.n, 4);
        assert!((s.mean.unwrap() - 0.6125).abs() < 1e-12);
        assert!((s.sd.unwrap() - 0.065).abs() < 1e-12);
        let (lo, hi) = s.ci.unwrap();
        assert!((lo - 0.5090704950782795).abs() < 1e-9, "{lo}");
        assert!((hi - 0.7159295049217204).abs() < 1e-9, "{hi}");
        let w = Difference::of(&a, &b).unwrap();
        assert!((w.diff - 0.1525).abs() < 1e-12);
        assert!((w.df - 4.999957785423306).abs() < 1e-9, "{}", w.df);
        assert!((w.low - 0.04477271717831108).abs() < 1e-9, "{}", w.low);
        assert!((w.high - 0.26022728282168883).abs() < 1e-9, "{}", w.high);
        assert_eq!(w.verdict(), Verdict::AGreater);
        assert_eq!(Difference::of(&b, &a).unwrap().verdict(), Verdict::BGreater);
        // Overlapping samples: no direction.
        let w = Difference::of(&[0.5, 0.6, 0.4], &[0.55, 0.45, 0.52]).unwrap();
        assert_eq!(w.verdict(), Verdict::NoDifference);
        assert_eq!(
            w.verdict().label("mlp", "att", 3, 3),
            "no difference detected (n = 3, 3)"
        );
        assert!(Difference::of(&[0.5], &[0.4, 0.3]).is_none());
        assert_eq!(Summary::of(&[0.3]).ci, None);
        assert_eq!(paper_direction("mlp", "att", 87.4, 74.7), "mlp > att");
    }

    #[test]
    fn paired_interval_matches_an_independent_computation() {
        // a = [0.90, 0.85, 0.95, 0.80], b = [0.86, 0.80, 0.93, 0.78]: differences
        // [0.04, 0.05, 0.02, 0.02], mean 0.0325, sd 0.015, se 0.0075, t(0.975, 3) =
        // 3.182446305; scipy.stats.ttest_rel gives t = 4.3333 (p = 0.0227).
        let d = [0.90 - 0.86, 0.85 - 0.80, 0.95 - 0.93, 0.80 - 0.78];
        let w = Difference::paired(&d).unwrap();
        assert!(w.paired && w.n_a == 4 && w.df == 3.0);
        assert!((w.diff - 0.0325).abs() < 1e-12);
        assert!((w.se - 0.0075).abs() < 1e-12);
        assert!((w.low - 0.008_631_652_710_372).abs() < 1e-9, "{}", w.low);
        assert!((w.high - 0.056_368_347_289_628).abs() < 1e-9, "{}", w.high);
        assert!((w.diff / w.se - 4.333_333_333).abs() < 1e-6);
        assert_eq!(w.verdict(), Verdict::AGreater);
        assert!(Difference::paired(&[0.1]).is_none());
    }
}
