//! One run's curves: its `metrics.jsonl` tailed, the records kept, and the smoothed and
//! downsampled series of a metric cached per view.

use std::path::{Path, PathBuf};

use crate::train::api::{MetricRecord, MetricsTail, Split};
use crate::tui::chart::{ema_debiased, Pt};

use super::{XAxis, METRICS};

/// One run's metrics, tailed from its `metrics.jsonl`.
#[derive(Debug, Clone)]
pub struct RunCurves {
    pub name: String,
    pub dir: PathBuf,
    tail: MetricsTail,
    pub records: Vec<MetricRecord>,
    pub visible: bool,
    /// Records added at the last poll (for "is it moving").
    pub new_records: usize,
    /// Raw and smoothed series per (metric, eval), valid for the key they were built for.
    cache: std::collections::HashMap<(usize, bool), SeriesCache>,
}

/// (metric, eval, x-axis, smoothing bits, record count) a cached series was built for.
type CacheKey = (usize, bool, XAxis, u64, usize);

#[derive(Debug, Clone, Default)]
struct SeriesCache {
    key: Option<CacheKey>,
    raw: Vec<Pt>,
    smooth: Vec<Pt>,
}

impl RunCurves {
    pub fn new(dir: &Path) -> RunCurves {
        RunCurves {
            name: dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().to_string(),
            ),
            dir: dir.to_path_buf(),
            tail: MetricsTail::new(crate::train::RunDir::new(dir).metrics_path()),
            records: Vec::new(),
            visible: true,
            new_records: 0,
            cache: Default::default(),
        }
    }

    pub fn poll(&mut self) -> usize {
        let new = self.tail.poll();
        self.new_records = new.len();
        self.records.extend(new);
        self.new_records
    }

    /// Raw and smoothed series of a metric (index into [`METRICS`]), rebuilt only when the
    /// records, the axis or the smoothing changed.
    pub fn cached(&mut self, metric: usize, eval: bool, x: XAxis, w: f64) -> (&[Pt], &[Pt]) {
        let key = (metric, eval, x, w.to_bits(), self.records.len());
        let fresh = self
            .cache
            .get(&(metric, eval))
            .is_some_and(|c| c.key == Some(key));
        if !fresh {
            let name = METRICS[metric % METRICS.len()].0;
            let raw = self.series(name, if eval { Split::Eval } else { Split::Train }, x);
            let smooth = if eval {
                Vec::new()
            } else {
                ema_debiased(&raw, w)
            };
            self.cache.insert(
                (metric, eval),
                SeriesCache {
                    key: Some(key),
                    raw,
                    smooth,
                },
            );
        }
        let c = &self.cache[&(metric, eval)];
        (&c.raw, &c.smooth)
    }

    /// (x, y) of a metric on a split; a missing or null value is NaN (a gap).
    pub fn series(&self, metric: &str, split: Split, x: XAxis) -> Vec<Pt> {
        self.records
            .iter()
            .filter(|r| r.split == split)
            .filter(|r| r.values.contains_key(metric))
            .map(|r| {
                let xv = match x {
                    XAxis::Step => r.step as f64,
                    XAxis::Wall => r.wall_s,
                };
                (xv, r.get(metric).unwrap_or(f64::NAN))
            })
            .collect()
    }
}
