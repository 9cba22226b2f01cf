//! `TrainConfig`: everything a run needs (model architecture, data, recipe, schedule, EMA,
//! checkpoints, seed, device) as one serde/TOML document, with flat `section.key = value`
//! access for `--set` and for the TUI's config form, and validation naming the field.

use serde::{Deserialize, Serialize};

use crate::model::TrmConfig;

/// Dense optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// The official optimizer (`adam_atan2.AdamATan2`, as `pretrain.py` builds it).
    AdamAtan2,
    /// Decoupled AdamW (the paper's text), `eps = 1e-8`.
    AdamW,
}

/// Where training data comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// A built dataset folder (official layout, with `train/` and `test/`) or a puzzle file.
    /// Empty: generate the task below in memory.
    pub path: String,
    /// A separate test source (same kind as `path`); empty: `test_fraction` of `path`.
    pub test_path: String,
    /// Share of `path` held out for test when `test_path` is empty (CSV sources).
    pub test_fraction: f64,
    /// Generated task when `path` is empty: `sudoku`, `maze`.
    pub generate: String,
    /// Grid size of the generated task (sudoku 4/6/9; maze side).
    pub size: usize,
    /// Sudoku difficulty (`easy`, `medium`, `hard`, `extreme`) or maze minimum path length.
    pub difficulty: String,
    pub min_path: usize,
    /// Number of generated train / test puzzles.
    pub train_count: usize,
    pub test_count: usize,
    /// Augmented copies per train puzzle.
    pub augmentations: usize,
    pub seed: u64,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            path: String::new(),
            test_path: String::new(),
            test_fraction: 0.1,
            generate: "sudoku".into(),
            size: 4,
            difficulty: "easy".into(),
            min_path: 0,
            train_count: 1000,
            test_count: 200,
            augmentations: 0,
            seed: 0,
        }
    }
}

/// The training recipe (official names where they exist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub arch: TrmConfig,
    pub data: DataConfig,
    pub global_batch_size: usize,
    /// Split each global batch into micro-batches of this size (gradient accumulation);
    /// 0 = no split.
    pub micro_batch_size: usize,
    pub epochs: usize,
    pub eval_interval: usize,
    /// Stop after this many optimizer steps (0 = derived from epochs, as the official code).
    pub max_steps: u64,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub lr_min_ratio: f64,
    pub lr_warmup_steps: u64,
    pub beta1: f64,
    pub beta2: f64,
    pub weight_decay: f64,
    pub puzzle_emb_lr: f64,
    pub puzzle_emb_weight_decay: f64,
    /// Global-norm gradient clipping (0 = off).
    pub grad_clip: f64,
    pub ema: bool,
    pub ema_rate: f64,
    /// Write a checkpoint every this many steps (0 = only at eval and at the end).
    pub checkpoint_every: u64,
    /// Keep this many most recent checkpoints (the best one is kept as well).
    pub keep_last: usize,
    /// Log training metrics every this many steps.
    pub log_every: u64,
    pub seed: u64,
    /// `cpu`, `cuda:N` or `auto`.
    pub device: String,
    /// Evaluation examples per eval (0 = the whole test split).
    pub eval_limit: usize,
    /// Also evaluate this many training examples at each eval, with the same EMA weights: the
    /// originals of evenly spaced groups ([`Dataset::group_sample`]), so that overfitting
    /// shows as the gap between `train_exact_accuracy` and `exact_accuracy` (0 = off).
    ///
    /// [`Dataset::group_sample`]: crate::data::dataset::Dataset::group_sample
    pub eval_train_sample: usize,
    /// ARC: keep the votes of earlier evals (the official evaluator's accumulation across
    /// evals, an ensemble over EMA checkpoints); off = each eval votes afresh.
    pub arc_accumulate_votes: bool,
}

impl Default for TrainConfig {
    /// The official recipe (Sudoku-Extreme, `cfg_pretrain.yaml` + README).
    fn default() -> Self {
        Self {
            arch: TrmConfig::default(),
            data: DataConfig::default(),
            global_batch_size: 768,
            micro_batch_size: 0,
            epochs: 50_000,
            eval_interval: 5_000,
            max_steps: 0,
            optimizer: OptimizerKind::AdamAtan2,
            lr: 1e-4,
            lr_min_ratio: 1.0,
            lr_warmup_steps: 2000,
            beta1: 0.9,
            beta2: 0.95,
            weight_decay: 1.0,
            puzzle_emb_lr: 1e-4,
            puzzle_emb_weight_decay: 1.0,
            grad_clip: 0.0,
            ema: true,
            ema_rate: 0.999,
            checkpoint_every: 0,
            keep_last: 3,
            log_every: 1,
            seed: 0,
            device: "cpu".into(),
            eval_limit: 0,
            eval_train_sample: 0,
            arc_accumulate_votes: false,
        }
    }
}

/// A bad setting: which field, and what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SettingError {
    pub field: String,
    pub message: String,
}

fn serr(field: impl Into<String>, message: impl Into<String>) -> SettingError {
    SettingError {
        field: field.into(),
        message: message.into(),
    }
}

impl TrainConfig {
    pub fn from_toml_str(s: &str) -> Result<Self, SettingError> {
        let c: TrainConfig = toml::from_str(s).map_err(|e| {
            serr(
                "config",
                e.to_string().replace('\n', " ").trim().to_string(),
            )
        })?;
        Ok(c)
    }

    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Every setting as flat `(key, value)` pairs, e.g. `("arch.hidden_size", "512")`,
    /// in document order.
    pub fn fields(&self) -> Vec<(String, String)> {
        let v = toml::Value::try_from(self).unwrap_or(toml::Value::Table(Default::default()));
        let mut out = Vec::new();
        flatten("", &v, &mut out);
        out
    }

    /// Set one field from text (`--set arch.L_cycles=4`, or an edit in the TUI form). The value
    /// is parsed with the field's type; unknown keys and bad values are errors naming the key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), SettingError> {
        let mut doc = toml::Value::try_from(&*self).map_err(|e| serr(key, e.to_string()))?;
        let parts: Vec<&str> = key.split('.').collect();
        let (last, sections) = parts.split_last().ok_or_else(|| serr(key, "empty key"))?;
        let mut cur = &mut doc;
        for p in sections {
            let table = cur
                .as_table_mut()
                .ok_or_else(|| serr(key, "is not a section"))?;
            let known: Vec<String> = table.keys().cloned().collect();
            cur = table.get_mut(*p).ok_or_else(|| {
                serr(
                    key,
                    format!("unknown section `{p}` (known: {})", known.join(", ")),
                )
            })?;
        }
        let table = cur
            .as_table_mut()
            .ok_or_else(|| serr(key, "is not a section"))?;
        let known: Vec<String> = table.keys().cloned().collect();
        let entry = table.get_mut(*last).ok_or_else(|| {
            serr(
                key,
                format!("unknown setting (known here: {})", known.join(", ")),
            )
        })?;
        *entry = parse_like(entry, value).map_err(|m| serr(key, m))?;
        let new: TrainConfig = doc
            .try_into()
            .map_err(|e: toml::de::Error| serr(key, e.message().to_string()))?;
        *self = new;
        Ok(())
    }

    /// Settings that differ from `base`, as `(key, base value, our value)`.
    pub fn diff(&self, base: &TrainConfig) -> Vec<(String, String, String)> {
        let a = base.fields();
        let b = self.fields();
        b.into_iter()
            .filter_map(|(k, v)| {
                let old = a.iter().find(|(ka, _)| *ka == k).map(|(_, va)| va.clone());
                match old {
                    Some(o) if o == v => None,
                    o => Some((k, o.unwrap_or_default(), v)),
                }
            })
            .collect()
    }

    /// Check the whole recipe (the architecture included). (Comparisons are written so that
    /// NaN fails them.)
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub fn validate(&self) -> Result<(), SettingError> {
        self.arch
            .validate()
            .map_err(|e| serr(format!("arch.{}", e.field), e.message.clone()))?;
        if self.global_batch_size == 0 {
            return Err(serr("global_batch_size", "must be >= 1"));
        }
        if self.micro_batch_size > 0
            && !self.global_batch_size.is_multiple_of(self.micro_batch_size)
        {
            return Err(serr(
                "micro_batch_size",
                format!(
                    "must divide global_batch_size ({} % {} != 0)",
                    self.global_batch_size, self.micro_batch_size
                ),
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(serr("lr", "must be a positive number"));
        }
        if !(0.0..=1.0).contains(&self.lr_min_ratio) {
            return Err(serr("lr_min_ratio", "must be in [0, 1]"));
        }
        for (f, v) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return Err(serr(f, "must be in [0, 1)"));
            }
        }
        if !(self.weight_decay >= 0.0) {
            return Err(serr("weight_decay", "must be >= 0"));
        }
        if !(self.puzzle_emb_lr >= 0.0) {
            return Err(serr("puzzle_emb_lr", "must be >= 0"));
        }
        if !(self.ema_rate > 0.0 && self.ema_rate < 1.0) {
            return Err(serr("ema_rate", "must be in (0, 1)"));
        }
        if !(self.grad_clip >= 0.0) {
            return Err(serr("grad_clip", "must be >= 0 (0 = off)"));
        }
        if self.epochs == 0 && self.max_steps == 0 {
            return Err(serr("epochs", "epochs or max_steps must be > 0"));
        }
        if self.eval_interval == 0 {
            return Err(serr("eval_interval", "must be >= 1"));
        }
        if self.log_every == 0 {
            return Err(serr("log_every", "must be >= 1"));
        }
        if let Err(e) = self.device.parse::<super::device::DeviceSpec>() {
            return Err(serr("device", e));
        }
        Ok(())
    }
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// Parse `text` as a value of the same TOML type as `like`.
fn parse_like(like: &toml::Value, text: &str) -> Result<toml::Value, String> {
    let t = text.trim();
    Ok(match like {
        toml::Value::String(_) => toml::Value::String(t.trim_matches('"').to_string()),
        toml::Value::Integer(_) => toml::Value::Integer(
            t.replace('_', "")
                .parse()
                .map_err(|_| format!("expected an integer, got `{t}`"))?,
        ),
        toml::Value::Float(_) => toml::Value::Float(
            t.replace('_', "")
                .parse()
                .map_err(|_| format!("expected a number, got `{t}`"))?,
        ),
        toml::Value::Boolean(_) => toml::Value::Boolean(match t {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err(format!("expected true or false, got `{t}`")),
        }),
        _ => return Err("cannot be set from text".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_parses_by_type_and_names_bad_keys() {
        let mut c = TrainConfig::default();
        c.set("arch.L_cycles", "4").unwrap();
        assert_eq!(c.arch.l_cycles, 4);
        c.set("lr", "3e-4").unwrap();
        assert_eq!(c.lr, 3e-4);
        c.set("ema", "off").unwrap();
        assert!(!c.ema);
        c.set("arch.pos_encodings", "none").unwrap();
        assert_eq!(c.arch.pos_encodings, crate::model::PosEncoding::None);
        let e = c.set("arch.hiden_size", "3").unwrap_err();
        assert_eq!(e.field, "arch.hiden_size");
        assert!(e.message.contains("hidden_size"), "{e}");
        let e = c.set("lr", "fast").unwrap_err();
        assert!(e.to_string().contains("expected a number"), "{e}");
        let e = c.set("arch.pos_encodings", "sinusoid").unwrap_err();
        assert_eq!(e.field, "arch.pos_encodings");
    }

    #[test]
    fn fields_and_diff() {
        let base = TrainConfig::default();
        let mut c = base.clone();
        c.set("arch.hidden_size", "128").unwrap();
        let d = c.diff(&base);
        assert_eq!(
            d,
            vec![("arch.hidden_size".into(), "512".into(), "128".into())]
        );
        assert!(base
            .fields()
            .iter()
            .any(|(k, _)| k == "arch.no_ACT_continue"));
    }

    #[test]
    fn toml_round_trip_and_validation() {
        let c = TrainConfig::default();
        let back = TrainConfig::from_toml_str(&c.to_toml_string()).unwrap();
        assert_eq!(back, c);
        assert!(TrainConfig::from_toml_str("bogus = 1")
            .unwrap_err()
            .to_string()
            .contains("bogus"));
        let mut c = TrainConfig::default();
        c.arch.num_heads = 7;
        assert_eq!(c.validate().unwrap_err().field, "arch.hidden_size");
        c = TrainConfig {
            device: "gpu".into(),
            ..TrainConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "device");
    }
}
