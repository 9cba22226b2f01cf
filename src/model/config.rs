//! `TrmConfig`: the architecture settings with the official field names and defaults
//! (`config/arch/trm.yaml` of the official code), validation with errors that name the field,
//! derived sizes and parameter counts.

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
    /// bfloat16 on a CUDA device (as the official code), float32 on the CPU. A run resolves it
    /// when it starts and records the resolved type in its config and checkpoints.
    Auto,
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

/// Which latent features the recursion carries (paper Table 2; the official
/// `models/recursive_reasoning/trm.py`, `trm_singlez.py` and `trm_hier6.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Latent {
    /// TRM: the answer `y` (`z_H`) and one latent `z` (`z_L`).
    #[default]
    Yz,
    /// `trm_singlez`: one state `z`; each cycle runs `z = net(z + x)` n times, then `z = net(z)`,
    /// and the heads read `z`.
    SingleZ,
    /// `trm_hier6` ("multi-scale z"): n latents `z_1..z_n`, one per L step; step i sets
    /// `z_i = net(sum(z) + y + x)` and the y update reads `sum(z)`.
    MultiScaleZ,
}

/// The TRM architecture. Field names are the official ones (`config/arch/trm.yaml`); the
/// ablation switches (`one_step_gradient`, `separate_nets`, `latent`) default to TRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrmConfig {
    pub hidden_size: usize,
    pub num_heads: usize,
    pub expansion: f64,
    #[serde(rename = "L_layers")]
    pub l_layers: usize,
    /// Layers of the separate H network (`separate_nets`); 0 means as many as `L_layers`.
    /// TRM with one shared network ignores it.
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
    /// HRM's 1-step gradient approximation: in the cycle with gradients only the last z update
    /// and the y update are differentiated (paper Table 1 "w/ 1-step gradient").
    pub one_step_gradient: bool,
    /// Two networks, f_L for the z updates (`L_level`) and f_H for the y update (`H_level`,
    /// `H_layers` layers), as HRM has (paper Table 1 "w/ separate f_H, f_L").
    pub separate_nets: bool,
    /// The latent features carried (paper Table 2).
    pub latent: Latent,
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
            forward_dtype: ForwardDtype::Auto,
            loss_type: LossType::StablemaxCrossEntropy,
            vocab_size: 11,
            seq_len: 81,
            num_puzzle_identifiers: 1,
            one_step_gradient: false,
            separate_nets: false,
            latent: Latent::Yz,
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

    /// The HRM baseline (`config/arch/hrm.yaml` of the official repository): separate
    /// 4-layer H and L attention networks, H/L cycles 2/2, the 1-step gradient, the Q-learning
    /// continue loss, one puzzle-prefix position. 27,275,266 parameters for Sudoku.
    pub fn hrm(vocab_size: usize, seq_len: usize) -> Self {
        Self {
            l_layers: 4,
            h_layers: 4,
            h_cycles: 2,
            l_cycles: 2,
            puzzle_emb_len: 0,
            no_act_continue: false,
            one_step_gradient: true,
            separate_nets: true,
            ..Self::paper(vocab_size, seq_len, false)
        }
    }

    /// Layers of the network that updates y: `H_layers` (or `L_layers` when 0) with separate
    /// networks, else the shared network's `L_layers`.
    pub fn h_net_layers(&self) -> usize {
        if self.separate_nets && self.h_layers > 0 {
            self.h_layers
        } else {
            self.l_layers
        }
    }

    /// Number of z latents the carry holds (`L_cycles` for multi-scale z, else 1; single z
    /// keeps its state where y would be).
    pub fn num_z(&self) -> usize {
        match self.latent {
            Latent::MultiScaleZ => self.l_cycles,
            Latent::Yz | Latent::SingleZ => 1,
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
        let h_blocks = if self.separate_nets {
            self.h_net_layers()
        } else {
            0
        };
        let blocks = (self.l_layers + h_blocks) * (channel + mixer);
        let pos = if self.pos_encodings == PosEncoding::Learned {
            self.total_len() * d
        } else {
            0
        };
        blocks + 2 * self.vocab_size * d + 2 * d + 2 + pos
    }

    /// Layers traversed per supervision step: T * (n * L_layers + H layers), which is the
    /// paper's T * (n + 1) * layers with one shared network (42 for Sudoku, 24 for HRM).
    pub fn effective_depth(&self) -> usize {
        self.h_cycles * (self.l_cycles * self.l_layers + self.h_net_layers())
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
    fn variant_parameter_counts_and_depths() {
        // HRM = 8 attention blocks + embeddings and heads (the paper's 27M, Table 1).
        let hrm = TrmConfig::hrm(11, 81);
        assert_eq!(hrm.num_parameters(), 27_275_266);
        assert_eq!(hrm.effective_depth(), 24);
        // Separate f_H, f_L and 4 layers both double the blocks: about 10M for Sudoku-MLP.
        let sep = TrmConfig {
            separate_nets: true,
            ..TrmConfig::paper(11, 81, true)
        };
        assert_eq!(sep.num_parameters(), 10_045_442);
        assert_eq!(sep.effective_depth(), 42);
        let four = TrmConfig {
            l_layers: 4,
            l_cycles: 3,
            ..TrmConfig::paper(11, 81, true)
        };
        assert_eq!(four.num_parameters(), 10_045_442);
        assert_eq!(four.effective_depth(), 48);
        // Table 3: TRM (T, n) = (2, 4) has depth 20, (4, 8) 72.
        let t2 = TrmConfig {
            h_cycles: 2,
            l_cycles: 4,
            ..TrmConfig::paper(11, 81, true)
        };
        assert_eq!(t2.effective_depth(), 20);
        // Single and multi-scale z, the 1-step gradient: same weights as TRM.
        for v in [
            TrmConfig {
                latent: Latent::SingleZ,
                ..TrmConfig::paper(11, 81, true)
            },
            TrmConfig {
                latent: Latent::MultiScaleZ,
                ..TrmConfig::paper(11, 81, true)
            },
            TrmConfig {
                one_step_gradient: true,
                ..TrmConfig::paper(11, 81, true)
            },
        ] {
            assert_eq!(v.num_parameters(), 5_028_866);
            assert_eq!(v.effective_depth(), 42);
        }
    }

    #[test]
    fn variant_keys_parse_from_toml() {
        let c = TrmConfig::from_toml_str(
            "latent = \"multi_scale_z\"\nseparate_nets = true\none_step_gradient = true\nH_layers = 3",
        )
        .unwrap();
        assert_eq!(c.latent, Latent::MultiScaleZ);
        assert_eq!(c.h_net_layers(), 3);
        assert_eq!(c.num_z(), 6);
        let e = TrmConfig::from_toml_str("latent = \"triple_z\"").unwrap_err();
        assert!(e.to_string().contains("triple_z"), "{e}");
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
