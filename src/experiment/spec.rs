//! The experiment file (TOML): a base preset, overrides shared by every run, a list of seeds
//! and a list of variants, each a table of overrides (and, optionally, its own base preset:
//! comparing tasks needs one per task; and its own seeds). Parsing checks everything up front:
//! unknown keys, value types, and the resolved configuration of every variant (through
//! [`TrainConfig::set`] and [`TrainConfig::validate`]), and its errors name the file, the
//! variant and the key. `[[compare]]` and `[[contrast]]` entries declare the comparisons the
//! report decides ([`super::compare`]).
//!
//! ```toml
//! name = "attention-vs-mlp"
//! description = "Does the MLP over the sequence beat self-attention on small grids?"
//! base = "sudoku6-cpu"
//! seeds = [0, 1]
//!
//! [set]
//! max_steps = 800
//! "arch.hidden_size" = 64
//!
//! [[variant]]
//! name = "mlp"
//! set = { "arch.mlp_t" = true, "arch.pos_encodings" = "none" }
//!
//! [[variant]]
//! name = "attention"
//! seeds = [0, 1, 2]      # a variant may list its own seeds
//! set = { "arch.mlp_t" = false, "arch.pos_encodings" = "rope" }
//!
//! [[compare]]
//! a = "mlp"
//! b = "attention"
//! metric = "final_exact"
//! paper_a = 87.4
//! paper_b = 74.7
//! ```

use std::path::{Path, PathBuf};

use super::compare::{parse_compare, parse_contrast, Compare, Contrast};
use crate::train::config::TrainConfig;
use crate::train::presets;

/// The top-level keys of an experiment file.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "name",
    "description",
    "base",
    "seeds",
    "set",
    "variant",
    "compare",
    "contrast",
];
/// The keys of a `[[variant]]` entry.
pub const VARIANT_KEYS: &[&str] = &["name", "description", "base", "seeds", "set"];
/// What is wrong with an experiment file: the file, where in it (variant, key) and what was
/// expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct SpecError {
    pub file: PathBuf,
    /// The variant the error is in (`None`: the top level or the shared `[set]`).
    pub variant: Option<String>,
    /// The key (a top-level key, `set.KEY`, or the setting that failed validation).
    pub key: Option<String>,
    pub message: String,
}

impl SpecError {
    fn describe(&self) -> String {
        let mut s = self.file.display().to_string();
        if let Some(v) = &self.variant {
            s.push_str(&format!(": variant `{v}`"));
        }
        if let Some(k) = &self.key {
            s.push_str(&format!(": {k}"));
        }
        s.push_str(": ");
        s.push_str(&self.message);
        s
    }
}

/// One variant: a name, its base preset (the experiment's unless it names its own), and its
/// overrides (applied after the shared ones).
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub name: String,
    pub description: String,
    /// The base preset of this variant.
    pub base: String,
    /// `(key, value as text)`, sorted by key.
    pub set: Vec<(String, String)>,
    /// The training seeds of this variant: the file's unless it lists its own (more seeds
    /// for the variants a comparison leaves open).
    pub seeds: Vec<u64>,
    /// The resolved configuration (the variant's base, the shared overrides, the variant's
    /// overrides), with the training seed of its first seed.
    pub config: TrainConfig,
}

/// A parsed and checked experiment file.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// Where it was read from.
    pub file: PathBuf,
    /// The file's text (copied next to the runs).
    pub text: String,
    pub name: String,
    pub description: String,
    /// The base preset's name (a variant may name its own).
    pub base: String,
    /// Shared overrides `(key, value as text)`, sorted by key.
    pub set: Vec<(String, String)>,
    /// Training seeds (`seed`) of the variants that list none of their own; the data seed
    /// stays the base's unless a `set` table changes it.
    pub seeds: Vec<u64>,
    pub variants: Vec<Variant>,
    /// The declared comparisons, in file order.
    pub compare: Vec<Compare>,
    /// The declared contrasts, in file order.
    pub contrast: Vec<Contrast>,
}

/// One training run of the plan: a variant with a seed.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    pub variant: String,
    pub seed: u64,
    /// The run folder's name inside the experiment folder: `<variant>-s<seed>`.
    pub dir_name: String,
    pub config: TrainConfig,
}

/// The run folder's name of a variant and seed.
pub fn run_dir_name(variant: &str, seed: u64) -> String {
    format!("{variant}-s{seed}")
}

/// Names used as folder names: letters, digits, `-`, `_` and `.` (not leading).
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.starts_with('.') || name.starts_with('-') {
        return Err(format!("`{name}` must start with a letter, digit or `_`"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "`{name}` contains `{c}` (expected letters, digits, `-`, `_` or `.`: it names folders)"
        ));
    }
    Ok(())
}

pub(super) fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

/// Flatten a `set` table into dotted keys: `"arch.hidden_size" = 64` and
/// `arch = { hidden_size = 64 }` both give `arch.hidden_size`.
fn flatten_set(
    prefix: &str,
    table: &toml::Table,
    out: &mut Vec<(String, toml::Value)>,
) -> Result<(), (String, String)> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten_set(&key, t, out)?,
            toml::Value::Array(_) | toml::Value::Datetime(_) => {
                return Err((
                    key,
                    format!(
                        "expected a single value (string, number or boolean), got {}",
                        type_name(v)
                    ),
                ))
            }
            _ => out.push((key, v.clone())),
        }
    }
    Ok(())
}

/// The current value of a dotted key in a config document, if the key exists.
fn lookup<'a>(doc: &'a toml::Value, key: &str) -> Option<&'a toml::Value> {
    key.split('.')
        .try_fold(doc, |cur, part| cur.as_table().and_then(|t| t.get(part)))
}

/// Apply one override: the value's TOML type must fit the setting's type (an integer is
/// accepted for a number), then [`TrainConfig::set`] parses it.
fn apply(cfg: &mut TrainConfig, key: &str, value: &toml::Value) -> Result<String, String> {
    if key == "seed" {
        return Err("the training seed comes from `seeds`; do not set it here".into());
    }
    let text = match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Ok(doc) = toml::Value::try_from(&*cfg) {
        if let Some(current) = lookup(&doc, key) {
            let fits = matches!(
                (current, value),
                (toml::Value::String(_), toml::Value::String(_))
                    | (toml::Value::Integer(_), toml::Value::Integer(_))
                    | (toml::Value::Float(_), toml::Value::Float(_))
                    | (toml::Value::Float(_), toml::Value::Integer(_))
                    | (toml::Value::Boolean(_), toml::Value::Boolean(_))
            );
            if !fits && !current.is_table() {
                let expected = match current {
                    toml::Value::Float(_) => "a number".to_string(),
                    toml::Value::String(s) => format!("a string (like \"{s}\")"),
                    other => type_name(other).to_string(),
                };
                return Err(format!("expected {expected}, got {}", type_name(value)));
            }
        }
    }
    cfg.set(key, &text).map_err(|e| e.message)?;
    Ok(text)
}

impl Experiment {
    /// Read and check an experiment file.
    pub fn load(path: &Path) -> Result<Experiment, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            file: path.to_path_buf(),
            variant: None,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        Experiment::parse(&text, path)
    }

    /// Parse and check the text of an experiment file (`file` names it in errors).
    pub fn parse(text: &str, file: &Path) -> Result<Experiment, SpecError> {
        let err = |variant: Option<&str>, key: Option<&str>, message: String| SpecError {
            file: file.to_path_buf(),
            variant: variant.map(str::to_string),
            key: key.map(str::to_string),
            message,
        };
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            err(
                None,
                None,
                format!("not valid TOML: {}", e.to_string().trim_end()),
            )
        })?;
        for k in doc.keys() {
            if !TOP_LEVEL_KEYS.contains(&k.as_str()) {
                return Err(err(
                    None,
                    Some(k),
                    format!("unknown key (known: {})", TOP_LEVEL_KEYS.join(", ")),
                ));
            }
        }
        let string = |key: &str, required: bool| -> Result<String, SpecError> {
            match doc.get(key) {
                Some(toml::Value::String(s)) => Ok(s.clone()),
                Some(v) => Err(err(
                    None,
                    Some(key),
                    format!("expected a string, got {}", type_name(v)),
                )),
                None if required => Err(err(None, Some(key), "missing (expected a string)".into())),
                None => Ok(String::new()),
            }
        };
        let name = string("name", true)?;
        check_name(&name).map_err(|m| err(None, Some("name"), m))?;
        let description = string("description", false)?;
        let base = string("base", true)?;
        let preset = |name: &str, variant: Option<&str>| {
            presets::get(name).ok_or_else(|| {
                err(
                    variant,
                    Some("base"),
                    format!(
                        "unknown preset `{name}` (expected one of: {})",
                        presets::names().join(", ")
                    ),
                )
            })
        };
        let base_cfg = preset(&base, None)?;

        let seeds = match doc.get("seeds") {
            None => vec![0],
            Some(v) => parse_seeds(v).map_err(|m| err(None, Some("seeds"), m))?,
        };

        // The shared overrides (checked on the experiment's base here, and applied to each
        // variant's base below).
        let mut shared_cfg = base_cfg;
        let mut set = Vec::new();
        let mut shared = Vec::new();
        match doc.get("set") {
            None => {}
            Some(toml::Value::Table(t)) => {
                flatten_set("", t, &mut shared)
                    .map_err(|(k, m)| err(None, Some(&format!("set.{k}")), m))?;
                for (k, v) in &shared {
                    let text = apply(&mut shared_cfg, k, v)
                        .map_err(|m| err(None, Some(&format!("set.{k}")), m))?;
                    set.push((k.clone(), text));
                }
            }
            Some(v) => {
                return Err(err(
                    None,
                    Some("set"),
                    format!(
                        "expected a table of overrides (`[set]`), got {}",
                        type_name(v)
                    ),
                ))
            }
        }

        // The variants.
        let entries = match doc.get("variant") {
            Some(toml::Value::Array(a)) => a,
            Some(v) => {
                return Err(err(
                    None,
                    Some("variant"),
                    format!(
                        "expected `[[variant]]` entries (an array of tables), got {}",
                        type_name(v)
                    ),
                ))
            }
            None => {
                return Err(err(
                    None,
                    Some("variant"),
                    "missing: add at least one `[[variant]]` with a `name` (and a `set` table)"
                        .into(),
                ))
            }
        };
        if entries.is_empty() {
            return Err(err(
                None,
                Some("variant"),
                "expected at least one `[[variant]]`".into(),
            ));
        }
        let mut variants: Vec<Variant> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let label = format!("#{}", i + 1);
            let t = entry.as_table().ok_or_else(|| {
                err(
                    Some(&label),
                    None,
                    format!("expected a table, got {}", type_name(entry)),
                )
            })?;
            let vname = match t.get("name") {
                Some(toml::Value::String(s)) => s.clone(),
                Some(v) => {
                    return Err(err(
                        Some(&label),
                        Some("name"),
                        format!("expected a string, got {}", type_name(v)),
                    ))
                }
                None => {
                    return Err(err(
                        Some(&label),
                        Some("name"),
                        "missing (expected a string)".into(),
                    ))
                }
            };
            check_name(&vname).map_err(|m| err(Some(&label), Some("name"), m))?;
            if variants.iter().any(|v| v.name == vname) {
                return Err(err(
                    Some(&vname),
                    Some("name"),
                    "another variant has the same name".into(),
                ));
            }
            for k in t.keys() {
                if !VARIANT_KEYS.contains(&k.as_str()) {
                    return Err(err(
                        Some(&vname),
                        Some(k),
                        format!("unknown key (known: {})", VARIANT_KEYS.join(", ")),
                    ));
                }
            }
            let vdesc = match t.get("description") {
                None => String::new(),
                Some(toml::Value::String(s)) => s.clone(),
                Some(v) => {
                    return Err(err(
                        Some(&vname),
                        Some("description"),
                        format!("expected a string, got {}", type_name(v)),
                    ))
                }
            };
            let vbase = match t.get("base") {
                None => base.clone(),
                Some(toml::Value::String(s)) => s.clone(),
                Some(v) => {
                    return Err(err(
                        Some(&vname),
                        Some("base"),
                        format!("expected a preset name, got {}", type_name(v)),
                    ))
                }
            };
            let mut cfg = if vbase == base {
                shared_cfg.clone()
            } else {
                let mut c = preset(&vbase, Some(&vname))?;
                for (k, v) in &shared {
                    apply(&mut c, k, v)
                        .map_err(|m| err(Some(&vname), Some(&format!("set.{k}")), m))?;
                }
                c
            };
            let mut vset = Vec::new();
            match t.get("set") {
                None => {}
                Some(toml::Value::Table(st)) => {
                    let mut flat = Vec::new();
                    flatten_set("", st, &mut flat)
                        .map_err(|(k, m)| err(Some(&vname), Some(&format!("set.{k}")), m))?;
                    for (k, v) in flat {
                        let text = apply(&mut cfg, &k, &v)
                            .map_err(|m| err(Some(&vname), Some(&format!("set.{k}")), m))?;
                        vset.push((k, text));
                    }
                }
                Some(v) => {
                    return Err(err(
                        Some(&vname),
                        Some("set"),
                        format!("expected a table of overrides, got {}", type_name(v)),
                    ))
                }
            }
            let vseeds = match t.get("seeds") {
                None => seeds.clone(),
                Some(v) => parse_seeds(v).map_err(|m| err(Some(&vname), Some("seeds"), m))?,
            };
            cfg.seed = vseeds[0];
            cfg.validate()
                .map_err(|e| err(Some(&vname), Some(&e.field), e.message))?;
            variants.push(Variant {
                name: vname,
                description: vdesc,
                base: vbase,
                set: vset,
                seeds: vseeds,
                config: cfg,
            });
        }
        let compare = parse_compare(doc.get("compare"), &variants)
            .map_err(|(key, message)| err(None, Some(&key), message))?;
        let contrast = parse_contrast(doc.get("contrast"), &variants)
            .map_err(|(key, message)| err(None, Some(&key), message))?;
        Ok(Experiment {
            compare,
            contrast,
            file: file.to_path_buf(),
            text: text.to_string(),
            name,
            description,
            base,
            set,
            seeds,
            variants,
        })
    }

    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// Every seed some variant runs, in order of appearance (a variant without its own list
    /// runs the file's).
    pub fn all_seeds(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for &s in self.variants.iter().flat_map(|v| &v.seeds) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// Every (variant, seed) run, variants in file order, seeds in list order.
    pub fn plan(&self) -> Vec<PlannedRun> {
        let mut out = Vec::new();
        for v in &self.variants {
            for &seed in &v.seeds {
                let mut config = v.config.clone();
                config.seed = seed;
                out.push(PlannedRun {
                    variant: v.name.clone(),
                    seed,
                    dir_name: run_dir_name(&v.name, seed),
                    config,
                });
            }
        }
        out
    }

    /// The default experiment folder: `<runs root>/experiments/<name>`.
    pub fn default_dir(&self) -> PathBuf {
        experiments_root().join(&self.name)
    }
}

/// A list of distinct non-negative seeds (at least one).
fn parse_seeds(value: &toml::Value) -> Result<Vec<u64>, String> {
    let toml::Value::Array(a) = value else {
        return Err(format!(
            "expected an array of integers, got {}",
            type_name(value)
        ));
    };
    let mut seeds = Vec::new();
    for v in a {
        match v.as_integer() {
            Some(i) if i >= 0 => {
                let s = i as u64;
                if seeds.contains(&s) {
                    return Err(format!("seed {s} is listed twice"));
                }
                seeds.push(s);
            }
            _ => {
                return Err(format!(
                    "expected non-negative integers, got {}",
                    match v {
                        toml::Value::Integer(i) => i.to_string(),
                        other => type_name(other).to_string(),
                    }
                ))
            }
        }
    }
    if seeds.is_empty() {
        return Err("expected at least one seed".into());
    }
    Ok(seeds)
}

/// Where experiments live by default: `<runs root>/experiments` (`$TRM_RUNS_DIR` or `runs`).
pub fn experiments_root() -> PathBuf {
    crate::train::run_dir::runs_root().join(EXPERIMENTS_DIR)
}

/// The folder of the runs root that holds experiments.
pub const EXPERIMENTS_DIR: &str = "experiments";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Experiment, SpecError> {
        Experiment::parse(s, Path::new("exp.toml"))
    }

    const OK: &str = r#"
name = "t"
base = "smoke"
seeds = [0, 3]
[set]
max_steps = 30
arch = { hidden_size = 64, num_heads = 2 }
[[variant]]
name = "mlp"
set = { "arch.mlp_t" = true, "arch.pos_encodings" = "none" }
[[variant]]
name = "att"
"#;

    #[test]
    fn parses_and_plans() {
        let e = parse(OK).unwrap();
        assert_eq!(e.seeds, vec![0, 3]);
        assert_eq!(
            e.set,
            vec![
                ("arch.hidden_size".to_string(), "64".to_string()),
                ("arch.num_heads".to_string(), "2".to_string()),
                ("max_steps".to_string(), "30".to_string()),
            ]
        );
        let plan = e.plan();
        assert_eq!(plan.len(), 4);
        assert_eq!(plan[1].dir_name, "mlp-s3");
        assert_eq!(plan[1].config.seed, 3);
        assert!(plan[1].config.arch.mlp_t);
        assert!(!plan[2].config.arch.mlp_t);
        assert_eq!(plan[2].config.arch.hidden_size, 64);
        assert_eq!(plan[2].config.max_steps, 30);
        // A variant with its own base gets the shared overrides on top of it.
        let e =
            parse(&OK.replace("name = \"att\"", "name = \"att\"\nbase = \"sudoku4-cpu\"")).unwrap();
        let att = e.variant("att").unwrap();
        assert_eq!(att.base, "sudoku4-cpu");
        assert_eq!(att.config.max_steps, 30);
        assert_eq!(
            att.config.data.train_count,
            presets::get("sudoku4-cpu").unwrap().data.train_count
        );
        assert!(e.compare.is_empty());
        let e = parse(&format!(
            "{OK}[[compare]]\na = \"mlp\"\nb = \"att\"\npaper_a = 87.4\npaper_b = 74\n"
        ))
        .unwrap();
        assert_eq!(
            e.compare,
            vec![Compare {
                a: "mlp".into(),
                b: "att".into(),
                metric: crate::experiment::compare::DEFAULT_COMPARE_METRIC.into(),
                paper_a: Some(87.4),
                paper_b: Some(74.0),
                paired: false,
            }]
        );
        // A variant's own seeds replace the file's for that variant only.
        let e = parse(&OK.replace("name = \"att\"", "name = \"att\"\nseeds = [3, 5, 7]")).unwrap();
        let planned: Vec<String> = e.plan().into_iter().map(|p| p.dir_name).collect();
        assert_eq!(planned, ["mlp-s0", "mlp-s3", "att-s3", "att-s5", "att-s7"]);
        assert_eq!(e.variant("att").unwrap().config.seed, 3);
        assert_eq!(e.all_seeds(), vec![0, 3, 5, 7]);
        let bad =
            parse(&OK.replace("name = \"att\"", "name = \"att\"\nseeds = [1, 1]")).unwrap_err();
        assert_eq!(bad.variant.as_deref(), Some("att"));
        assert_eq!(bad.key.as_deref(), Some("seeds"));
        assert!(bad.message.contains("listed twice"), "{bad}");
        // Seeds the file lists but no variant runs are not the experiment's.
        let e = parse(
            &OK.replace("name = \"mlp\"", "name = \"mlp\"\nseeds = [3, 4]")
                .replace("name = \"att\"", "name = \"att\"\nseeds = [4, 5]"),
        )
        .unwrap();
        assert_eq!(e.all_seeds(), vec![3, 4, 5]);
        // A paired comparison needs a shared seed.
        let paired = |att: &str| {
            parse(&format!(
                "{}[[compare]]\na = \"mlp\"\nb = \"att\"\npaired = true\n",
                OK.replace("name = \"att\"", &format!("name = \"att\"\nseeds = {att}"))
            ))
        };
        assert!(paired("[3, 5]").is_ok());
        let bad = paired("[4, 5]").unwrap_err();
        assert_eq!(bad.key.as_deref(), Some("compare#1.paired"));
        assert!(bad.message.contains("share no seed"), "{bad}");
        // The data seed is left alone.
        let base = presets::get("smoke").unwrap();
        assert!(plan.iter().all(|p| p.config.data.seed == base.data.seed));
    }

    #[test]
    fn errors_name_file_variant_and_key() {
        let e = parse(&OK.replace("\"arch.mlp_t\" = true", "\"arch.mlp_t\" = 3")).unwrap_err();
        assert_eq!(e.variant.as_deref(), Some("mlp"));
        assert_eq!(e.key.as_deref(), Some("set.arch.mlp_t"));
        let s = e.to_string();
        assert!(
            s.starts_with("exp.toml: variant `mlp`: set.arch.mlp_t: expected a boolean"),
            "{s}"
        );
        let e = parse(&format!("{OK}\nbogus = 1\n")).unwrap_err();
        assert!(e.to_string().contains("bogus: unknown key"), "{e}");
        let e = parse(&OK.replace("smoke", "smok")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("base"));
        let e = parse(&OK.replace("max_steps = 30", "max_step = 30")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("set.max_step"));
        assert_eq!(e.variant, None);
        let e = parse(&OK.replace("max_steps = 30", "lr = \"fast\"")).unwrap_err();
        assert!(e.message.contains("expected a number"), "{e}");
        let e = parse(&OK.replace("max_steps = 30", "seed = 4")).unwrap_err();
        assert!(e.message.contains("seeds"), "{e}");
        // A variant whose resolved config does not validate: the failing field is named.
        let e = parse(&OK.replace("\"arch.mlp_t\" = true", "\"arch.num_heads\" = 3")).unwrap_err();
        assert_eq!(e.variant.as_deref(), Some("mlp"));
        assert_eq!(e.key.as_deref(), Some("arch.hidden_size"));
        let e = parse(&OK.replace("name = \"att\"", "name = \"mlp\"")).unwrap_err();
        assert!(e.message.contains("same name"), "{e}");
        let e = parse(&OK.replace("name = \"att\"", "name = \"a/b\"")).unwrap_err();
        assert!(e.message.contains("names folders"), "{e}");
        let e = parse(&OK.replace("seeds = [0, 3]", "seeds = [0, 0]")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("seeds"));
        let e =
            parse(&OK.replace("name = \"att\"", "name = \"att\"\nbase = \"nope\"")).unwrap_err();
        assert_eq!(
            (e.variant.as_deref(), e.key.as_deref()),
            (Some("att"), Some("base"))
        );
        let e = parse(&format!("{OK}[[compare]]\na = \"mlp\"\nb = \"nope\"\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("compare#1.b"));
        assert!(e.message.contains("no variant `nope`"), "{e}");
        let e = parse(&format!(
            "{OK}[[compare]]\na = \"mlp\"\nb = \"att\"\nmetric = \"speed\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("compare#1.metric"));
        let e = parse(&format!(
            "{OK}[[compare]]\na = \"mlp\"\nb = \"att\"\npaper_a = \"high\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("compare#1.paper_a"));
        let e = parse("name = \"x\"\nbase = \"smoke\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("variant"));
        let e = parse("name = \n").unwrap_err();
        assert!(e.message.contains("not valid TOML"), "{e}");
    }
}
