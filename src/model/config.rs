//! `TrmConfig`: the architecture settings with the official field names and defaults
//! (spec §1.1), validation with errors that name the field, derived sizes and parameter counts.

use serde::{Deserialize, Serialize};

/// Positional encoding of the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PosEncoding {
    Rope,
    Learned,
    None,
}

/// Floating-point type of the forward pass (master weights are always f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardDtype {
    Float32,
    Bfloat16,
}

/// Token loss of the language-model head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossType {
    /// The official default (Prieto et al. 2025), computed in float64.
    StablemaxCrossEntropy,
    /// Ordinary softmax cross-entropy (the paper's pseudocode), computed in float64.
    SoftmaxCrossEntropy,
}

/// The TRM architecture. Field names are the official ones (`config/arch/trm.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrmConfig {
    pub hidden_size: usize,
    pub num_heads: usize,
    pub expansion: f64,
    #[serde(rename = "L_layers")]
    pub l_layers: usize,
    /// Kept for file compatibility; TRM ignores it.
    #[serde(rename = "H_layers")]
    pub h_layers: usize,
    #[serde(rename = "H_cycles")]
    pub h_cycles: usize,
    #[serde(rename = "L_cycles")]
    pub l_cycles: usize,
    pub halt_max_steps: usize,
    pub halt_exploration_prob: f64,
    pub puzzle_emb_ndim: usize,
    /// Prefix positions; 0 means `ceil(puzzle_emb_ndim / hidden_size)` as in the official code.
    pub puzzle_emb_len: usize,
    pub pos_encodings: PosEncoding,
    pub rope_theta: f64,
    pub rms_norm_eps: f64,
    pub mlp_t: bool,
    #[serde(rename = "no_ACT_continue")]
    pub no_act_continue: bool,
    pub forward_dtype: ForwardDtype,
    pub loss_type: LossType,
    pub vocab_size: usize,
    pub seq_len: usize,
    pub num_puzzle_identifiers: usize,
}

impl Default for TrmConfig {
    /// The official defaults (`trm.yaml`), sized for Sudoku-Extreme (vocab 11, 81 cells).
    fn default() -> Self {
        Self {
            hidden_size: 512,
            num_heads: 8,
            expansion: 4.0,
            l_layers: 2,
            h_layers: 0,
            h_cycles: 3,
            l_cycles: 6,
            halt_max_steps: 16,
            halt_exploration_prob: 0.1,
            puzzle_emb_ndim: 512,
            puzzle_emb_len: 16,
            pos_encodings: PosEncoding::Rope,
            rope_theta: 10000.0,
            rms_norm_eps: 1e-5,
            mlp_t: false,
            no_act_continue: true,
            forward_dtype: ForwardDtype::Float32,
            loss_type: LossType::StablemaxCrossEntropy,
            vocab_size: 11,
            seq_len: 81,
            num_puzzle_identifiers: 1,
        }
    }
}

/// A setting that cannot work, naming the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid model config: {field} {message}")]
pub struct ConfigError {
    pub field: &'static str,
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        message: message.into(),
    }
}

/// Python's `round` (half to even), as used for the SwiGLU width.
fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

/// `_find_multiple(round(expansion * h * 2 / 3), 256)`: the SwiGLU inner width.
pub fn swiglu_inter(hidden: usize, expansion: f64) -> usize {
    let inter = round_half_even(expansion * hidden as f64 * 2.0 / 3.0) as usize;
    inter.div_ceil(256) * 256
}

impl TrmConfig {
    /// Parse a TOML document (unknown keys and bad values are errors naming the key).
    pub fn from_toml_str(s: &str) -> Result<Self, ConfigError> {
        let cfg: TrmConfig = toml::from_str(s).map_err(|e| err("(toml)", e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// The paper's architecture (official defaults: D 512, T 3, n 6, 2 layers, 16 prefix
    /// positions) for a task's vocabulary and grid length; the MLP-over-sequence variant has no
    /// positional encoding, attention uses RoPE.
    pub fn paper(vocab_size: usize, seq_len: usize, mlp_t: bool) -> Self {
        Self {
            vocab_size,
            seq_len,
            mlp_t,
            pos_encodings: if mlp_t {
                PosEncoding::None
            } else {
                PosEncoding::Rope
            },
            ..Self::default()
        }
    }

    /// Check every constraint the network relies on. (Comparisons are written so that NaN
    /// fails them.)
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.hidden_size == 0 {
            return Err(err("hidden_size", "must be > 0"));
        }
        if !self.mlp_t || self.pos_encodings == PosEncoding::Rope {
            if self.num_heads == 0 {
                return Err(err("num_heads", "must be > 0"));
            }
            if !self.hidden_size.is_multiple_of(self.num_heads) {
                return Err(err(
                    "hidden_size",
                    format!(
                        "must be divisible by num_heads ({} % {} != 0)",
                        self.hidden_size, self.num_heads
                    ),
                ));
            }
        }
        if self.pos_encodings == PosEncoding::Rope && !self.head_dim().is_multiple_of(2) {
            return Err(err(
                "num_heads",
                format!(
                    "gives an odd head_dim {} (RoPE rotates halves)",
                    self.head_dim()
                ),
            ));
        }
        if !(self.expansion > 0.0 && self.expansion.is_finite()) {
            return Err(err("expansion", "must be a positive number"));
        }
        if self.l_layers == 0 {
            return Err(err("L_layers", "must be >= 1"));
        }
        if self.h_cycles == 0 {
            return Err(err("H_cycles", "must be >= 1"));
        }
        if self.l_cycles == 0 {
            return Err(err("L_cycles", "must be >= 1"));
        }
        if self.halt_max_steps == 0 {
            return Err(err("halt_max_steps", "must be >= 1"));
        }
        if !(0.0..=1.0).contains(&self.halt_exploration_prob) {
            return Err(err("halt_exploration_prob", "must be in [0, 1]"));
        }
        if self.puzzle_emb_ndim == 0 && self.puzzle_emb_len != 0 {
            return Err(err(
                "puzzle_emb_len",
                "must be 0 when puzzle_emb_ndim is 0 (no puzzle embedding, no prefix)",
            ));
        }
        if self.puzzle_emb_ndim > self.prefix_len() * self.hidden_size {
            return Err(err(
                "puzzle_emb_ndim",
                format!(
                    "({}) does not fit in puzzle_emb_len * hidden_size = {}",
                    self.puzzle_emb_ndim,
                    self.prefix_len() * self.hidden_size
                ),
            ));
        }
        if !(self.rope_theta > 0.0) {
            return Err(err("rope_theta", "must be > 0"));
        }
        if !(self.rms_norm_eps >= 0.0) {
            return Err(err("rms_norm_eps", "must be >= 0"));
        }
        if self.vocab_size < 2 {
            return Err(err("vocab_size", "must be >= 2"));
        }
        if self.seq_len == 0 {
            return Err(err("seq_len", "must be >= 1"));
        }
        if self.puzzle_emb_ndim > 0 && self.num_puzzle_identifiers == 0 {
            return Err(err(
                "num_puzzle_identifiers",
                "must be >= 1 when puzzle_emb_ndim > 0",
            ));
        }
        Ok(())
    }

    /// Number of prefix (puzzle-embedding) positions, as the official code derives it.
    pub fn prefix_len(&self) -> usize {
        if self.puzzle_emb_len == 0 {
            self.puzzle_emb_ndim.div_ceil(self.hidden_size)
        } else {
            self.puzzle_emb_len
        }
    }

    /// Full sequence length: prefix + grid tokens.
    pub fn total_len(&self) -> usize {
        self.prefix_len() + self.seq_len
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads.max(1)
    }

    /// SwiGLU width over channels.
    pub fn mlp_inter(&self) -> usize {
        swiglu_inter(self.hidden_size, self.expansion)
    }

    /// SwiGLU width over the sequence (`mlp_t`).
    pub fn mlp_t_inter(&self) -> usize {
        swiglu_inter(self.total_len(), self.expansion)
    }

    /// Trainable parameters (`sum(p.numel() for p in model.parameters())`; buffers excluded).
    pub fn num_parameters(&self) -> usize {
        let d = self.hidden_size;
        let channel = d * 2 * self.mlp_inter() + self.mlp_inter() * d;
        let mixer = if self.mlp_t {
            let l = self.total_len();
            l * 2 * self.mlp_t_inter() + self.mlp_t_inter() * l
        } else {
            d * 3 * d + d * d
        };
        let blocks = self.l_layers * (channel + mixer);
        let pos = if self.pos_encodings == PosEncoding::Learned {
            self.total_len() * d
        } else {
            0
        };
        blocks + 2 * self.vocab_size * d + 2 * d + 2 + pos
    }

    /// Net calls whose depth counts per supervision step: T * (n + 1) * layers.
    pub fn effective_depth(&self) -> usize {
        self.h_cycles * (self.l_cycles + 1) * self.l_layers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_parameter_counts() {
        assert_eq!(TrmConfig::paper(11, 81, true).num_parameters(), 5_028_866);
        assert_eq!(TrmConfig::paper(11, 81, false).num_parameters(), 6_828_034);
        assert_eq!(TrmConfig::paper(12, 900, false).num_parameters(), 6_829_058);
        assert_eq!(TrmConfig::paper(6, 900, true).num_parameters(), 18_795_522);
        assert_eq!(TrmConfig::paper(6, 900, false).num_parameters(), 6_822_914);
        assert_eq!(TrmConfig::paper(12, 900, true).num_parameters(), 18_801_666);
    }

    #[test]
    fn swiglu_widths() {
        assert_eq!(swiglu_inter(512, 4.0), 1536);
        assert_eq!(swiglu_inter(97, 4.0), 512);
        assert_eq!(swiglu_inter(916, 4.0), 2560);
        assert_eq!(swiglu_inter(64, 4.0), 256);
    }

    #[test]
    fn validation_names_the_field() {
        let bad = TrmConfig {
            hidden_size: 100,
            num_heads: 8,
            ..TrmConfig::default()
        };
        let e = bad.validate().unwrap_err();
        assert_eq!(e.field, "hidden_size");
        assert!(e.to_string().contains("divisible by num_heads"), "{e}");
        let bad = TrmConfig {
            puzzle_emb_ndim: 0,
            ..TrmConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "puzzle_emb_len");
        assert!(TrmConfig::default().validate().is_ok());
    }

    #[test]
    fn toml_round_trip_and_unknown_key() {
        let c = TrmConfig::paper(11, 81, true);
        let s = c.to_toml_string();
        assert!(s.contains("L_layers = 2"), "{s}");
        assert_eq!(TrmConfig::from_toml_str(&s).unwrap(), c);
        let e = TrmConfig::from_toml_str("hiden_size = 3").unwrap_err();
        assert!(e.to_string().contains("hiden_size"), "{e}");
    }

    #[test]
    fn prefix_len_follows_official_rule() {
        let c = TrmConfig {
            puzzle_emb_len: 0,
            puzzle_emb_ndim: 512,
            ..TrmConfig::default()
        };
        assert_eq!(c.prefix_len(), 1);
        let c = TrmConfig {
            puzzle_emb_len: 0,
            puzzle_emb_ndim: 0,
            ..TrmConfig::default()
        };
        assert_eq!(c.prefix_len(), 0);
        assert_eq!(c.total_len(), 81);
    }
}
