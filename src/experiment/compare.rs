//! The comparisons an experiment file declares, parsed and checked against its variants:
//! `[[compare]]`, one variant against another on a metric (optionally with the paper's figure
//! for each, and paired by seed), and `[[contrast]]`, one difference against another: whether
//! `a[0] - a[1]` is larger than `b[0] - b[1]` (does deeper recursion help the hard puzzles more
//! than the easy ones?). The report decides both ([`super::report`]).
//!
//! ```toml
//! [[compare]]
//! a = "hard-T3-n6"
//! b = "hard-T1-n2"
//! paper_a = 87.4
//! paper_b = 63.2
//! paired = true
//!
//! [[contrast]]
//! a = ["hard-T3-n6", "hard-T1-n2"]
//! b = ["easy-T3-n6", "easy-T1-n2"]
//! ```

use super::report::RUN_METRICS;
use super::spec::{type_name, Variant};

/// The keys of a `[[compare]]` entry.
pub const COMPARE_KEYS: &[&str] = &["a", "b", "metric", "paper_a", "paper_b", "paired"];
/// The keys of a `[[contrast]]` entry.
pub const CONTRAST_KEYS: &[&str] = &["a", "b", "metric"];
/// The metric of an entry that names none.
pub const DEFAULT_COMPARE_METRIC: &str = "final_exact";

/// A comparison the report decides: `a` against `b` on `metric`, with the paper's figures for
/// each when given (in the paper's units, e.g. percent).
#[derive(Debug, Clone, PartialEq)]
pub struct Compare {
    pub a: String,
    pub b: String,
    pub metric: String,
    pub paper_a: Option<f64>,
    pub paper_b: Option<f64>,
    /// Pair the runs by seed (a paired-t interval of the per-seed differences) instead of
    /// comparing two independent samples (Welch): for variants whose runs of one seed start
    /// from the same weights and are offered the same batches (same parameter shapes, data).
    pub paired: bool,
}

/// A difference of differences the report decides: per seed that all four variants ran,
/// `(a[0] - a[1]) - (b[0] - b[1])` on `metric`, with its paired-t interval over seeds (valid
/// whether or not a seed's runs share their initial weights: each seed's four runs are one
/// unit, independent of the other seeds').
#[derive(Debug, Clone, PartialEq)]
pub struct Contrast {
    pub a: [String; 2],
    pub b: [String; 2],
    pub metric: String,
}

impl Contrast {
    /// `(a0 - a1)`, the first difference's name.
    pub fn a_label(&self) -> String {
        format!("({} - {})", self.a[0], self.a[1])
    }

    /// `(b0 - b1)`.
    pub fn b_label(&self) -> String {
        format!("({} - {})", self.b[0], self.b[1])
    }
}

/// An error in one entry: the key as `compare#N.KEY` and the message.
type EntryError = (String, String);

/// One entry's table, its keys checked, and how to name its keys in errors.
struct Entry<'a> {
    table: &'a toml::Table,
    /// `compare#N`.
    at: String,
    names: &'a [&'a str],
}

impl Entry<'_> {
    fn key(&self, k: &str) -> String {
        format!("{}.{k}", self.at)
    }

    fn error(&self, k: &str, message: String) -> EntryError {
        (self.key(k), message)
    }

    /// A variant of the file, named by a string.
    fn variant_name(&self, k: &str, v: Option<&toml::Value>) -> Result<String, EntryError> {
        match v {
            Some(toml::Value::String(s)) if self.names.contains(&s.as_str()) => Ok(s.clone()),
            Some(toml::Value::String(s)) => Err(self.error(
                k,
                format!("no variant `{s}` (variants: {})", self.names.join(", ")),
            )),
            Some(v) => Err(self.error(k, format!("expected a variant name, got {}", type_name(v)))),
            None => Err(self.error(k, "missing (expected a variant name)".into())),
        }
    }

    /// `metric`, one of the report's per-run figures ([`RUN_METRICS`]).
    fn metric(&self) -> Result<String, EntryError> {
        match self.table.get("metric") {
            None => Ok(DEFAULT_COMPARE_METRIC.to_string()),
            Some(toml::Value::String(s)) if RUN_METRICS.iter().any(|m| m.name == s) => {
                Ok(s.clone())
            }
            Some(toml::Value::String(s)) => Err(self.error(
                "metric",
                format!(
                    "unknown metric `{s}` (known: {})",
                    RUN_METRICS
                        .iter()
                        .map(|m| m.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            Some(v) => Err(self.error(
                "metric",
                format!("expected a metric name, got {}", type_name(v)),
            )),
        }
    }

    fn number(&self, k: &str) -> Result<Option<f64>, EntryError> {
        match self.table.get(k) {
            None => Ok(None),
            Some(toml::Value::Float(f)) => Ok(Some(*f)),
            Some(toml::Value::Integer(i)) => Ok(Some(*i as f64)),
            Some(v) => Err(self.error(k, format!("expected a number, got {}", type_name(v)))),
        }
    }
}

/// The entries of `[[TABLE]]`, each a table with only `keys`.
fn entries<'a>(
    value: Option<&'a toml::Value>,
    table: &str,
    keys: &[&str],
    names: &'a [&'a str],
) -> Result<Vec<Entry<'a>>, EntryError> {
    let list = match value {
        None => return Ok(Vec::new()),
        Some(toml::Value::Array(a)) => a,
        Some(v) => {
            return Err((
                table.into(),
                format!(
                    "expected `[[{table}]]` entries (an array of tables), got {}",
                    type_name(v)
                ),
            ))
        }
    };
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let at = format!("{table}#{}", i + 1);
        let t = item.as_table().ok_or_else(|| {
            (
                at.clone(),
                format!("expected a table, got {}", type_name(item)),
            )
        })?;
        let entry = Entry {
            table: t,
            at,
            names,
        };
        if let Some(k) = t.keys().find(|k| !keys.contains(&k.as_str())) {
            return Err(entry.error(k, format!("unknown key (known: {})", keys.join(", "))));
        }
        out.push(entry);
    }
    Ok(out)
}

/// The seeds every named variant runs.
fn shared_seeds(variants: &[Variant], names: &[&String]) -> Vec<u64> {
    let seeds_of = |name: &str| {
        variants
            .iter()
            .find(|v| v.name == name)
            .map_or(&[][..], |v| &v.seeds[..])
    };
    let first = names.first().map_or(&[][..], |n| seeds_of(n));
    first
        .iter()
        .copied()
        .filter(|s| names.iter().all(|n| seeds_of(n).contains(s)))
        .collect()
}

/// Read the `[[compare]]` entries; errors are `(key, message)` with the key as
/// `compare#N.KEY`.
pub fn parse_compare(
    value: Option<&toml::Value>,
    variants: &[Variant],
) -> Result<Vec<Compare>, EntryError> {
    let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
    let mut out = Vec::new();
    for e in entries(value, "compare", COMPARE_KEYS, &names)? {
        let a = e.variant_name("a", e.table.get("a"))?;
        let b = e.variant_name("b", e.table.get("b"))?;
        if a == b {
            return Err(e.error("b", format!("compares `{a}` with itself")));
        }
        let paired = match e.table.get("paired") {
            None => false,
            Some(toml::Value::Boolean(p)) => *p,
            Some(v) => {
                return Err(e.error(
                    "paired",
                    format!("expected true or false, got {}", type_name(v)),
                ))
            }
        };
        // One shared seed is a file still growing (the report says "too few seeds"); none can
        // never pair.
        if paired && shared_seeds(variants, &[&a, &b]).is_empty() {
            return Err(e.error(
                "paired",
                format!("`{a}` and `{b}` share no seed: runs pair by seed"),
            ));
        }
        out.push(Compare {
            metric: e.metric()?,
            paper_a: e.number("paper_a")?,
            paper_b: e.number("paper_b")?,
            a,
            b,
            paired,
        });
    }
    Ok(out)
}

/// Read the `[[contrast]]` entries; errors are `(key, message)` with the key as
/// `contrast#N.KEY`.
pub fn parse_contrast(
    value: Option<&toml::Value>,
    variants: &[Variant],
) -> Result<Vec<Contrast>, EntryError> {
    let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
    let mut out = Vec::new();
    for e in entries(value, "contrast", CONTRAST_KEYS, &names)? {
        let pair = |k: &str| -> Result<[String; 2], EntryError> {
            let expected = "expected two variant names, [\"minuend\", \"subtrahend\"]";
            match e.table.get(k) {
                Some(toml::Value::Array(items)) if items.len() == 2 => {
                    let first = e.variant_name(k, items.first())?;
                    let second = e.variant_name(k, items.get(1))?;
                    if first == second {
                        return Err(e.error(k, format!("subtracts `{first}` from itself")));
                    }
                    Ok([first, second])
                }
                Some(toml::Value::Array(items)) => {
                    Err(e.error(k, format!("{expected}, got {} name(s)", items.len())))
                }
                Some(v) => Err(e.error(k, format!("{expected}, got {}", type_name(v)))),
                None => Err(e.error(k, format!("missing ({expected})"))),
            }
        };
        let (a, b) = (pair("a")?, pair("b")?);
        if a == b {
            return Err(e.error("b", "is the same difference as `a`".into()));
        }
        let all = [&a[0], &a[1], &b[0], &b[1]];
        if shared_seeds(variants, &all).is_empty() {
            return Err(e.error(
                "b",
                "the four variants share no seed: a contrast pairs their runs by seed".into(),
            ));
        }
        out.push(Contrast {
            metric: e.metric()?,
            a,
            b,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::experiment::spec::{Experiment, SpecError};
    use std::path::Path;

    fn parse(s: &str) -> Result<Experiment, SpecError> {
        Experiment::parse(s, Path::new("exp.toml"))
    }

    /// Four variants of one smoke preset, two seeds each (`d` runs its own).
    const FOUR: &str = r#"
name = "t"
base = "smoke"
seeds = [0, 1]
[set]
max_steps = 30
[[variant]]
name = "a"
[[variant]]
name = "b"
[[variant]]
name = "c"
[[variant]]
name = "d"
seeds = [1, 2]
"#;

    #[test]
    fn a_contrast_names_two_differences_of_the_files_variants() {
        let e = parse(&format!(
            "{FOUR}[[contrast]]\na = [\"a\", \"b\"]\nb = [\"c\", \"d\"]\nmetric = \"final_valid_path\"\n"
        ))
        .unwrap();
        assert_eq!(e.contrast.len(), 1);
        let c = &e.contrast[0];
        assert_eq!(c.a, ["a".to_string(), "b".to_string()]);
        assert_eq!(c.b, ["c".to_string(), "d".to_string()]);
        assert_eq!(c.metric, "final_valid_path");
        assert_eq!(
            (c.a_label(), c.b_label()),
            ("(a - b)".into(), "(c - d)".into())
        );
        // The default metric.
        let e = parse(&format!(
            "{FOUR}[[contrast]]\na = [\"a\", \"b\"]\nb = [\"c\", \"a\"]\n"
        ))
        .unwrap();
        assert_eq!(e.contrast[0].metric, "final_exact");
    }

    #[test]
    fn contrast_errors_name_the_entry_and_key() {
        let err = |body: &str| {
            let e = parse(&format!("{FOUR}{body}")).unwrap_err();
            (e.key.clone().unwrap_or_default(), e.message.clone())
        };
        let (k, m) = err("[[contrast]]\na = [\"a\", \"b\"]\nb = [\"c\", \"nope\"]\n");
        assert_eq!(k, "contrast#1.b");
        assert!(m.contains("no variant `nope`"), "{m}");
        let (k, m) = err("[[contrast]]\na = [\"a\", \"b\", \"c\"]\nb = [\"c\", \"d\"]\n");
        assert_eq!(k, "contrast#1.a");
        assert!(m.contains("got 3 name(s)"), "{m}");
        let (k, m) = err("[[contrast]]\na = \"a\"\nb = [\"c\", \"d\"]\n");
        assert_eq!(k, "contrast#1.a");
        assert!(m.contains("got a string"), "{m}");
        let (k, m) = err("[[contrast]]\na = [\"a\", \"a\"]\nb = [\"c\", \"d\"]\n");
        assert_eq!(k, "contrast#1.a");
        assert!(m.contains("from itself"), "{m}");
        let (k, m) = err("[[contrast]]\na = [\"a\", \"b\"]\nb = [\"a\", \"b\"]\n");
        assert_eq!(k, "contrast#1.b");
        assert!(m.contains("same difference"), "{m}");
        let (k, _) = err("[[contrast]]\na = [\"a\", \"b\"]\n");
        assert_eq!(k, "contrast#1.b");
        let (k, m) = err("[[contrast]]\na = [\"a\", \"b\"]\nb = [\"c\", \"d\"]\npaired = true\n");
        assert_eq!(k, "contrast#1.paired");
        assert!(m.contains("unknown key"), "{m}");
        let (k, m) =
            err("[[contrast]]\na = [\"a\", \"b\"]\nb = [\"c\", \"d\"]\nmetric = \"speed\"\n");
        assert_eq!(k, "contrast#1.metric");
        assert!(m.contains("unknown metric"), "{m}");
        let (k, m) = err("[contrast]\na = 1\n");
        assert_eq!(k, "contrast");
        assert!(m.contains("array of tables"), "{m}");
        // `d` runs seeds 1 and 2, `a` 0 and 1: they share seed 1, so this pairs; with `d` on
        // seed 2 alone nothing pairs.
        let four = FOUR.replace("seeds = [1, 2]", "seeds = [2]");
        let e = parse(&format!(
            "{four}[[contrast]]\na = [\"a\", \"b\"]\nb = [\"c\", \"d\"]\n"
        ))
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("contrast#1.b"));
        assert!(e.message.contains("share no seed"), "{e}");
    }
}
