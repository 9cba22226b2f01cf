//! Series processing for the curves: TensorBoard's debiased EMA, min/max downsampling that
//! keeps spikes, NaN gaps as separate segments, log-y, robust (p1-p99) ranges and nice bounds.
//! Pure functions: the curves pane composes them and ratatui's `Chart` draws the result.

/// A point: (x, y); y may be NaN (a gap).
pub type Pt = (f64, f64);

/// Debiased exponential moving average (TensorBoard): `last = last*w + (1-w)*y`, divided by
/// `1 - w^n` where n counts finite values so far. Non-finite values stay gaps (NaN) and do not
/// update the average.
pub fn ema_debiased(points: &[Pt], w: f64) -> Vec<Pt> {
    let w = if w.is_finite() {
        w.clamp(0.0, 0.999)
    } else {
        0.0
    };
    let mut last = 0.0;
    let mut n = 0i32;
    points
        .iter()
        .map(|&(x, y)| {
            if !y.is_finite() {
                return (x, f64::NAN);
            }
            last = last * w + (1.0 - w) * y;
            n += 1;
            let debias = 1.0 - w.powi(n);
            (x, if debias > 0.0 { last / debias } else { y })
        })
        .collect()
}

/// Points with x in `[lo, hi]` plus the nearest one outside on each side (so lines reach the
/// edges), reduced to at most about `2 * buckets` points: per bucket the min and the max (in
/// x order), so spikes survive. NaN points are kept as gap markers (one per bucket at most).
pub fn downsample_minmax(points: &[Pt], lo: f64, hi: f64, buckets: usize) -> Vec<Pt> {
    if points.is_empty() {
        return Vec::new();
    }
    // Points are sorted by x (steps or wall time only grow).
    let start = points.partition_point(|p| p.0 < lo).saturating_sub(1);
    let end = (points.partition_point(|p| p.0 <= hi) + 1).min(points.len());
    let slice = &points[start..end.max(start)];
    let buckets = buckets.max(1);
    if slice.len() <= 2 * buckets {
        return slice.to_vec();
    }
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let mut out = Vec::with_capacity(2 * buckets + 4);
    let mut i = 0;
    while i < slice.len() {
        let b = (((slice[i].0 - lo) / span) * buckets as f64).floor();
        let mut j = i;
        let mut min: Option<Pt> = None;
        let mut max: Option<Pt> = None;
        let mut gap: Option<Pt> = None;
        while j < slice.len() && (((slice[j].0 - lo) / span) * buckets as f64).floor() == b {
            let p = slice[j];
            if p.1.is_finite() {
                if min.is_none_or(|m| p.1 < m.1) {
                    min = Some(p);
                }
                if max.is_none_or(|m| p.1 > m.1) {
                    max = Some(p);
                }
            } else if gap.is_none() {
                gap = Some(p);
            }
            j += 1;
        }
        let mut group: Vec<Pt> = [min, max, gap].into_iter().flatten().collect();
        group.sort_by(|a, b| a.0.total_cmp(&b.0));
        group.dedup();
        out.extend(group);
        i = j;
    }
    out
}

/// Split at non-finite y: each finite run becomes a segment (a single point is kept).
pub fn segments(points: &[Pt]) -> Vec<Vec<Pt>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for &p in points {
        if p.1.is_finite() && p.0.is_finite() {
            cur.push(p);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `log10(y)` for y > 0, NaN (a gap) otherwise.
pub fn log10_y(points: &[Pt]) -> Vec<Pt> {
    points
        .iter()
        .map(|&(x, y)| (x, if y > 0.0 { y.log10() } else { f64::NAN }))
        .collect()
}

/// Min and max of the finite values; with `robust`, the 1st and 99th percentiles instead.
pub fn y_range(values: impl Iterator<Item = f64>, robust: bool) -> Option<(f64, f64)> {
    let mut v: Vec<f64> = values.filter(|y| y.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    if robust && v.len() >= 20 {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        return Some((at(0.01), at(0.99)));
    }
    let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    Some((lo, hi))
}

/// Expand `[lo, hi]` to multiples of a 1-2-5 step so evenly spaced labels are round; a flat
/// range gets some room.
pub fn nice_bounds(lo: f64, hi: f64, ticks: usize) -> (f64, f64) {
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let (lo, hi) = if (hi - lo).abs() < 1e-12 {
        let pad = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        (lo - pad, hi + pad)
    } else {
        (lo.min(hi), lo.max(hi))
    };
    let intervals = ticks.max(2) as f64 - 1.0;
    let raw = (hi - lo) / intervals;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| (hi / s).ceil() * s - (lo / s).floor() * s <= s * intervals + 1e-9 * s)
        .unwrap_or(10.0 * mag);
    let nlo = (lo / step).floor() * step;
    (nlo, nlo + step * intervals)
}

/// The panes' chart styling: the theme's base, dimmed axes with these bounds and labels, and
/// no built-in legend (the panes draw their own).
pub fn themed_axes<'a>(
    chart: ratatui::widgets::Chart<'a>,
    theme: &crate::tui::theme::Theme,
    x: ([f64; 2], Vec<ratatui::text::Span<'a>>),
    y: ([f64; 2], Vec<ratatui::text::Span<'a>>),
) -> ratatui::widgets::Chart<'a> {
    use ratatui::layout::Constraint;
    use ratatui::widgets::Axis;
    chart
        .style(theme.base())
        .x_axis(
            Axis::default()
                .bounds(x.0)
                .labels(x.1)
                .style(theme.dim_style()),
        )
        .y_axis(
            Axis::default()
                .bounds(y.0)
                .labels(y.1)
                .style(theme.dim_style()),
        )
        .hidden_legend_constraints((Constraint::Length(0), Constraint::Length(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_is_debiased_and_skips_gaps() {
        let pts = vec![(0.0, 10.0), (1.0, 10.0), (2.0, f64::NAN), (3.0, 10.0)];
        let s = ema_debiased(&pts, 0.9);
        assert!(
            (s[0].1 - 10.0).abs() < 1e-9,
            "first value is not biased to 0"
        );
        assert!((s[1].1 - 10.0).abs() < 1e-9);
        assert!(s[2].1.is_nan());
        assert!((s[3].1 - 10.0).abs() < 1e-9);
        let s = ema_debiased(&[(0.0, 0.0), (1.0, 1.0)], 0.5);
        assert!((s[1].1 - 2.0 / 3.0).abs() < 1e-9, "{:?}", s);
        assert_eq!(ema_debiased(&[(0.0, 4.0), (1.0, 2.0)], 0.0)[1].1, 2.0);
    }

    #[test]
    fn downsampling_keeps_spikes_and_bounds_size() {
        let mut pts: Vec<Pt> = (0..10_000).map(|i| (i as f64, 1.0)).collect();
        pts[5_000].1 = 100.0;
        pts[7_000].1 = -50.0;
        let d = downsample_minmax(&pts, 0.0, 9_999.0, 100);
        assert!(d.len() <= 210, "{}", d.len());
        assert!(d.iter().any(|p| p.1 == 100.0));
        assert!(d.iter().any(|p| p.1 == -50.0));
        assert!(d.windows(2).all(|w| w[0].0 <= w[1].0));
        // A window keeps a neighbour on each side.
        let d = downsample_minmax(&pts, 10.5, 20.5, 100);
        assert_eq!(d.first().unwrap().0, 10.0);
        assert_eq!(d.last().unwrap().0, 21.0);
    }

    #[test]
    fn nan_gaps_split_segments_and_survive_downsampling() {
        let mut pts: Vec<Pt> = (0..1000).map(|i| (i as f64, i as f64)).collect();
        for p in pts.iter_mut().skip(400).take(50) {
            p.1 = f64::NAN;
        }
        let d = downsample_minmax(&pts, 0.0, 999.0, 50);
        let segs = segments(&d);
        assert_eq!(segs.len(), 2);
        assert!(segs[0].last().unwrap().0 < 400.0 && segs[1][0].0 >= 450.0);
    }

    #[test]
    fn log_and_ranges() {
        let l = log10_y(&[(0.0, 100.0), (1.0, 0.0), (2.0, -1.0)]);
        assert_eq!(l[0].1, 2.0);
        assert!(l[1].1.is_nan() && l[2].1.is_nan());
        let mut v: Vec<f64> = (0..100).map(|i| i as f64).collect();
        v.push(1e9);
        let (lo, hi) = y_range(v.iter().cloned(), true).unwrap();
        assert!(lo <= 1.0 && hi < 1e9);
        assert_eq!(y_range(v.iter().cloned(), false).unwrap().1, 1e9);
        assert_eq!(y_range([f64::NAN].into_iter(), false), None);
        let (a, b) = nice_bounds(0.13, 0.87, 5);
        assert!(a <= 0.13 && b >= 0.87);
        assert!((a * 100.0).round() == a * 100.0);
        let (a, b) = nice_bounds(3.0, 3.0, 3);
        assert!(a < 3.0 && b > 3.0);
    }
}
