//! Experiments end to end: bad experiment files are refused with errors naming the file, the
//! variant and the key (exit status 2); a two-variant smoke experiment trains every (variant,
//! seed) run and reports numbers that match the runs' own metrics files (read here
//! independently); running it again skips the finished runs; a stopped run continues from its
//! checkpoint with `resume`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use trm_tui::experiment::runner::{self, RunOptions, RunnerEvent, StopSignal};
use trm_tui::experiment::{Experiment, Manifest, Report, RunStatus};
use trm_tui::train::{Split, TrainConfig, TrainerEvent};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trm-tui"));
    // Never write into the repository's runs/.
    c.env(
        "TRM_RUNS_DIR",
        std::env::temp_dir().join("trm-tui-test-runs"),
    );
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

/// `trm-tui experiment run FILE --out OUT`, then `extra`.
fn run_experiment(file: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "experiment",
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Two variants x two seeds of the smoke model, a few steps each.
const PAIR: &str = r#"
name = "smoke-pair"
description = "n = 2 against n = 1 on the smoke model"
base = "smoke"
seeds = [0, 1]

[set]
max_steps = 24
eval_interval = 12
eval_limit = 32
eval_train_sample = 16
"data.train_count" = 128
"data.test_count" = 32

[[variant]]
name = "n2"

[[variant]]
name = "n1"
description = "one latent update per cycle"
set = { "arch.L_cycles" = 1 }

# Same parameter shapes, same seeds: each seed's two runs start from the same weights.
[[compare]]
a = "n2"
b = "n1"
metric = "final_token_accuracy"
paired = true

# n = 2's gain over n = 1 against its opposite: twice the paired difference.
[[contrast]]
a = ["n2", "n1"]
b = ["n1", "n2"]
metric = "final_token_accuracy"
"#;

#[test]
fn bad_files_name_the_file_the_variant_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "bad-type.toml",
            &PAIR.replace("\"arch.L_cycles\" = 1", "\"arch.L_cycles\" = \"one\""),
            &["variant `n1`", "set.arch.L_cycles", "expected an integer"],
        ),
        (
            "bad-key.toml",
            &PAIR.replace("\"arch.L_cycles\" = 1", "\"arch.L_cycle\" = 1"),
            &["variant `n1`", "set.arch.L_cycle", "unknown setting"],
        ),
        (
            "bad-top.toml",
            &format!("seed = 3\n{PAIR}"),
            &["seed: unknown key", "known: name, description, base"],
        ),
        (
            "bad-base.toml",
            &PAIR.replace("base = \"smoke\"", "base = \"smok\""),
            &["base: unknown preset `smok`", "sudoku4-cpu"],
        ),
        (
            "bad-shared.toml",
            &PAIR.replace("eval_limit = 32", "eval_limit = -1"),
            &["set.eval_limit"],
        ),
        (
            // Valid overrides, invalid together: the failing setting is named.
            "bad-invalid.toml",
            &PAIR.replace("\"arch.L_cycles\" = 1", "\"arch.L_cycles\" = 0"),
            &["variant `n1`", "arch.L_cycles", "must be >= 1"],
        ),
        (
            "bad-variant-key.toml",
            &PAIR.replace("name = \"n2\"", "name = \"n2\"\nsets = {}"),
            &["variant `n2`", "sets: unknown key"],
        ),
        (
            "bad-new-key.toml",
            &PAIR.replace("\"arch.L_cycles\" = 1", "\"arch.latent\" = \"double_z\""),
            &["variant `n1`", "set.arch.latent", "single_z"],
        ),
    ];
    for (name, text, wanted) in cases {
        let f = write(dir.path(), name, text);
        let out = dir.path().join("out");
        let check = ["experiment", "check", f.to_str().unwrap()];
        let run_it = [
            "experiment",
            "run",
            f.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        for (sub, args) in [("check", &check[..]), ("run", &run_it[..])] {
            let o = run(args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{name} {sub}: {err}");
            assert!(err.contains(f.to_str().unwrap()), "{name}: {err}");
            for w in *wanted {
                assert!(err.contains(w), "{name} {sub}: `{w}` not in: {err}");
            }
        }
    }
    assert!(!dir.path().join("out").exists(), "nothing trained");
    // The library error carries the same parts.
    let e = Experiment::parse(cases[0].1, Path::new("x.toml")).unwrap_err();
    assert_eq!(
        (e.variant.as_deref(), e.key.as_deref()),
        (Some("n1"), Some("set.arch.L_cycles"))
    );
    // A variant that is not in the file, and a folder with no experiment.
    let f = write(dir.path(), "ok.toml", PAIR);
    let o = run(&["experiment", "run", f.to_str().unwrap(), "--only", "n3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no variant `n3`"), "{}", stderr(&o));
    let o = run(&["experiment", "report", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("experiment.toml"), "{}", stderr(&o));
}

/// A run's figures, computed here from its files with serde_json.
#[derive(Debug)]
struct Own {
    params: usize,
    best: f64,
    last: f64,
    token: f64,
    /// The last eval's train-sample exact accuracy and train - test gap.
    train: f64,
    gap: f64,
    /// Exact accuracy at the last eval minus at the last eval by 80% of its step.
    late: f64,
    avg_steps: Option<f64>,
    wall: f64,
    rate: f64,
    /// Means over the train records of the process's CPU use and the machine's load, and of
    /// samples/s per core used.
    cpu: f64,
    load: f64,
    per_cpu_s: f64,
}

fn own_figures(run_dir: &Path) -> Own {
    let cfg =
        TrainConfig::from_toml_str(&std::fs::read_to_string(run_dir.join("config.toml")).unwrap())
            .unwrap();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let f = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_f64());
    let evals: Vec<&serde_json::Value> = lines.iter().filter(|v| v["split"] == "eval").collect();
    let train: Vec<&serde_json::Value> = lines.iter().filter(|v| v["split"] == "train").collect();
    assert!(!evals.is_empty() && !train.is_empty());
    let last_step = train
        .iter()
        .map(|v| v["step"].as_u64().unwrap())
        .max()
        .unwrap();
    let from = (last_step as f64 * 0.9).floor() as u64;
    let halted: Vec<(u64, f64, f64)> = train
        .iter()
        .filter_map(|v| {
            let (s, c) = (f(v, "steps")?, f(v, "count")?);
            (c > 0.0).then(|| (v["step"].as_u64().unwrap(), s, c))
        })
        .collect();
    let tail: Vec<&(u64, f64, f64)> = halted.iter().filter(|h| h.0 > from).collect();
    let avg_steps = if tail.is_empty() {
        halted.last().map(|h| h.1)
    } else {
        Some(tail.iter().map(|h| h.1 * h.2).sum::<f64>() / tail.iter().map(|h| h.2).sum::<f64>())
    };
    let rates: Vec<f64> = train
        .iter()
        .filter_map(|v| f(v, "samples_per_s"))
        .filter(|r| *r > 0.0)
        .collect();
    let train_mean = |key: &str| -> f64 {
        let v: Vec<f64> = train.iter().filter_map(|v| f(v, key)).collect();
        assert!(!v.is_empty(), "{key} is logged");
        v.iter().sum::<f64>() / v.len() as f64
    };
    let per_cpu: Vec<f64> = train
        .iter()
        .filter_map(|v| Some((f(v, "samples_per_s")?, f(v, "cpu_percent")?)))
        .filter(|(r, c)| *r > 0.0 && *c > 0.0)
        .map(|(r, c)| r / (c / 100.0))
        .collect();
    Own {
        per_cpu_s: per_cpu.iter().sum::<f64>() / per_cpu.len() as f64,
        cpu: train_mean("cpu_percent"),
        load: train_mean("load_avg"),
        params: cfg.arch.num_parameters(),
        best: evals
            .iter()
            .map(|v| f(v, "exact_accuracy").unwrap())
            .fold(f64::MIN, f64::max),
        last: f(evals.last().unwrap(), "exact_accuracy").unwrap(),
        token: f(evals.last().unwrap(), "accuracy").unwrap(),
        train: f(evals.last().unwrap(), "train_exact_accuracy").unwrap(),
        gap: f(evals.last().unwrap(), "exact_accuracy_gap").unwrap(),
        late: {
            let step = |v: &serde_json::Value| v["step"].as_u64().unwrap();
            let last = evals.last().unwrap();
            let by = step(last) * 4 / 5;
            let earlier = evals.iter().rev().find(|v| step(v) <= by).unwrap();
            f(last, "exact_accuracy").unwrap() - f(earlier, "exact_accuracy").unwrap()
        },
        avg_steps,
        wall: f(lines.last().unwrap(), "wall_s").unwrap(),
        rate: rates.iter().sum::<f64>() / rates.len() as f64,
    }
}

/// A variant's `final_exact_mean` in the experiment's `report.csv`.
fn rows_final_exact(out: &Path, variant: &str) -> String {
    let csv = std::fs::read_to_string(out.join("report.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "final_exact_mean")
        .unwrap();
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|c| c[0] == variant)
        .map(|c| c[col].to_string())
        .unwrap()
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let s = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
    (m, s)
}

fn close(a: f64, b: &str, what: &str) {
    let b: f64 = b
        .parse()
        .unwrap_or_else(|_| panic!("{what}: `{b}` is not a number"));
    assert!(
        (a - b).abs() <= 1e-9 * a.abs().max(1.0),
        "{what}: ours {a}, report {b}"
    );
}

#[test]
fn runs_every_variant_and_seed_reports_from_the_metrics_and_skips_finished_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "pair.toml", PAIR);
    let out = dir.path().join("exp");
    let o = run_experiment(&file, &out, &[]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        std::fs::read_to_string(out.join("experiment.toml")).unwrap(),
        PAIR,
        "a copy of the experiment file"
    );
    let manifest = Manifest::read(&out).unwrap();
    assert_eq!(manifest.name, "smoke-pair");
    assert_eq!(manifest.runs.len(), 4);
    assert!(
        manifest.runs.iter().all(|r| r.status == "finished"),
        "{manifest:?}"
    );
    let n1 = manifest.variants.iter().find(|v| v.name == "n1").unwrap();
    assert!(n1
        .diff_from_base
        .iter()
        .any(|c| c.key == "arch.L_cycles" && c.base == "2" && c.value == "1"));

    // The report's numbers are the runs' own.
    let csv = std::fs::read_to_string(out.join("report.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    // The variants' table ends at a blank line; the comparisons' table follows.
    let rows: BTreeMap<String, BTreeMap<&str, String>> = lines
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let row: BTreeMap<&str, String> = header
                .iter()
                .copied()
                .zip(cells.iter().map(|c| c.to_string()))
                .collect();
            (cells[0].to_string(), row)
        })
        .collect();
    assert_eq!(
        rows.keys().cloned().collect::<Vec<_>>(),
        vec!["n1".to_string(), "n2".to_string()]
    );
    for (variant, l_cycles) in [("n2", 2usize), ("n1", 1)] {
        let row = &rows[variant];
        let runs: Vec<Own> = [0, 1]
            .iter()
            .map(|s| {
                let d = out.join(format!("{variant}-s{s}"));
                let cfg = TrainConfig::from_toml_str(
                    &std::fs::read_to_string(d.join("config.toml")).unwrap(),
                )
                .unwrap();
                assert_eq!(cfg.seed, *s, "the seed override sets the training seed");
                assert_eq!(cfg.arch.l_cycles, l_cycles);
                assert_eq!(cfg.max_steps, 24);
                own_figures(&d)
            })
            .collect();
        // Same data for every run: the data seed is the base's.
        let data = |s: u64| {
            std::fs::read_to_string(out.join(format!("{variant}-s{s}/data/train.csv"))).unwrap()
        };
        assert_eq!(data(0), data(1));
        assert_eq!(row["runs_finished"], "2");
        assert_eq!(row["params"], runs[0].params.to_string());
        let cfg = TrainConfig::from_toml_str(
            &std::fs::read_to_string(out.join(format!("{variant}-s0/config.toml"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            row["effective_depth"],
            cfg.arch.effective_depth().to_string()
        );
        for r in &runs {
            assert!(
                (0.0..=1.0).contains(&r.train),
                "train-sample exact {}",
                r.train
            );
            assert!(
                (r.gap - (r.train - r.last)).abs() < 1e-12,
                "the gap is train minus test: {} vs {} - {}",
                r.gap,
                r.train,
                r.last
            );
        }
        type Get = fn(&Own) -> f64;
        let columns: [(&str, Get); 11] = [
            ("best_exact", |r| r.best),
            ("final_exact", |r| r.last),
            ("final_token_accuracy", |r| r.token),
            ("final_train_exact", |r| r.train),
            ("final_gap", |r| r.gap),
            ("late_gain", |r| r.late),
            ("wall_s", |r| r.wall),
            ("samples_per_s", |r| r.rate),
            ("cpu_percent", |r| r.cpu),
            ("load_avg", |r| r.load),
            ("samples_per_cpu_s", |r| r.per_cpu_s),
        ];
        for (col, get) in columns {
            let v: Vec<f64> = runs.iter().map(get).collect();
            let (m, s) = mean_std(&v);
            close(
                m,
                &row[format!("{col}_mean").as_str()],
                &format!("{variant} {col} mean"),
            );
            close(
                s,
                &row[format!("{col}_std").as_str()],
                &format!("{variant} {col} std"),
            );
        }
        let steps: Vec<f64> = runs.iter().filter_map(|r| r.avg_steps).collect();
        assert_eq!(steps.len(), 2, "every run halted some sequences");
        close(mean_std(&steps).0, &row["avg_steps_mean"], "avg steps");
    }
    // The paired comparison: the mean of the per-seed differences, its paired-t interval.
    let compare_row = csv
        .lines()
        .skip_while(|l| !l.starts_with("compare_a,"))
        .nth(1)
        .expect("the comparisons' table");
    let cells: Vec<&str> = compare_row.split(',').collect();
    assert_eq!(
        (cells[0], cells[1], cells[2], cells[14]),
        ("n2", "n1", "final_token_accuracy", "true"),
        "{compare_row}"
    );
    let token = |v: &str, s: u64| own_figures(&out.join(format!("{v}-s{s}"))).token;
    let d = [
        token("n2", 0) - token("n1", 0),
        token("n2", 1) - token("n1", 1),
    ];
    let mean = (d[0] + d[1]) / 2.0;
    close(mean, cells[7], "paired mean difference");
    // Two pairs: df 1, t(0.975, 1) = 12.706204736, se = |d0 - d1| / 2.
    let half = 12.706_204_736 * (d[0] - d[1]).abs() / 2.0;
    assert!(
        (cells[8].parse::<f64>().unwrap() - (mean - half)).abs() < 1e-6,
        "{compare_row}"
    );
    assert_eq!(cells[10], "1", "{compare_row}");
    // The contrast (n2 - n1) - (n1 - n2): per seed twice the paired difference, so its mean
    // and interval are twice the comparison's.
    let contrast_row = csv
        .lines()
        .skip_while(|l| !l.starts_with("contrast_a0,"))
        .nth(1)
        .expect("the contrasts' table");
    let c: Vec<&str> = contrast_row.split(',').collect();
    assert_eq!(
        (c[0], c[1], c[2], c[3], c[4], c[5]),
        ("n2", "n1", "n1", "n2", "final_token_accuracy", "2"),
        "{contrast_row}"
    );
    close(2.0 * mean, c[8], "the contrast's mean");
    assert!(
        (c[9].parse::<f64>().unwrap() - 2.0 * (mean - half)).abs() < 2e-6,
        "the contrast's interval: {contrast_row}"
    );
    assert_eq!(c[11], "1", "{contrast_row}");

    // The same report from the folder, on stdout, with the figures.
    let o = run(&["experiment", "report", out.to_str().unwrap(), "--plots"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("4 of 4 runs finished"), "{text}");
    assert!(
        text.contains("contrasts (") && text.contains("(n2 - n1) vs (n1 - n2)"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("variant")
            && l.contains("best exact")
            && l.contains("train exact")
            && l.contains("gap")),
        "{text}"
    );
    assert!(
        !out.join("valid-path.svg").exists(),
        "the valid-path figure is for mazes"
    );
    for fig in ["curves.svg", "train-test.svg", "final.svg"] {
        let svg =
            std::fs::read_to_string(out.join(fig)).unwrap_or_else(|e| panic!("{fig}: {e}\n{text}"));
        assert!(text.contains(fig), "the report names {fig}: {text}");
        assert!(
            svg.starts_with("<svg") && svg.contains("n1") && svg.contains("n2"),
            "{fig} names both variants"
        );
    }
    assert!(text.lines().any(|l| l.starts_with("n1 ")), "{text}");

    // The final models with more supervision steps than trained: at the trained count, the
    // same exact accuracy as the runs' last evaluation (the whole test split, EMA weights).
    let o = run(&["experiment", "steps", out.to_str().unwrap(), "--steps", "5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let steps = std::fs::read_to_string(out.join("steps.csv")).unwrap();
    let trained = TrainConfig::from_toml_str(
        &std::fs::read_to_string(out.join("n2-s0/config.toml")).unwrap(),
    )
    .unwrap()
    .arch
    .halt_max_steps;
    assert!(trained < 5);
    for variant in ["n1", "n2"] {
        let rows: Vec<Vec<&str>> = steps
            .lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|c| c[0] == variant)
            .collect();
        assert_eq!(rows.len(), 5, "{steps}");
        assert!(rows
            .iter()
            .all(|c| c[1] == trained.to_string() && c[3] == "2"));
        close(
            rows[trained - 1][4].parse().unwrap(),
            &rows_final_exact(&out, variant),
            &format!("{variant} exact at the trained step count"),
        );
    }
    assert!(out.join("steps.md").is_file() && out.join("steps.svg").is_file());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("| n2 |") && md.contains("one latent update per cycle"),
        "{md}"
    );

    // Again: every run is finished, nothing is trained or rewritten.
    let before: Vec<(PathBuf, String)> = ["n2-s0", "n2-s1", "n1-s0", "n1-s1"]
        .iter()
        .map(|r| {
            let p = out.join(r).join("metrics.jsonl");
            let t = std::fs::read_to_string(&p).unwrap();
            (p, t)
        })
        .collect();
    let o = run_experiment(&file, &out, &[]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("finished before; skipped").count(), 4, "{err}");
    assert!(err.contains("0 trained, 4 skipped"), "{err}");
    for (p, t) in before {
        assert_eq!(std::fs::read_to_string(&p).unwrap(), t, "{}", p.display());
    }

    // The file changed under finished runs: refused, naming the run and the setting.
    let changed = write(
        dir.path(),
        "pair.toml",
        &PAIR.replace("eval_interval = 12", "eval_interval = 8"),
    );
    let o = run_experiment(&changed, &out, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("n2-s0") && err.contains("eval_interval = 12 (the file says 8)"),
        "{err}"
    );
}

#[test]
fn a_stopped_run_continues_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let text = PAIR
        .replace("seeds = [0, 1]", "seeds = [5]")
        .replace("name = \"smoke-pair\"", "name = \"smoke-stop\"");
    let exp = Experiment::parse(&text, &dir.path().join("stop.toml")).unwrap();
    let out = dir.path().join("exp");
    let opts = RunOptions {
        out_dir: out.clone(),
        only: Some("n1".into()),
        resume: true,
        jobs: 1,
    };
    // Stop after step 8.
    let stop = StopSignal::new();
    let s = runner::run(&exp, &opts, &stop, |ev| {
        if let RunnerEvent::Trainer {
            event: TrainerEvent::Progress(p),
            ..
        } = ev
        {
            if p.step >= 8 {
                stop.request();
            }
        }
    })
    .unwrap();
    assert_eq!(s.stopped.as_deref(), Some("n1-s5"), "{s:?}");
    assert!(s.finished.is_empty());
    let m = Manifest::read(&out).unwrap();
    let status = |m: &Manifest, d: &str| m.runs.iter().find(|r| r.dir == d).unwrap().status.clone();
    assert_eq!(status(&m, "n1-s5"), "stopped");
    assert_eq!(status(&m, "n2-s5"), "pending", "--only leaves the others");
    let r = Report::load(&exp, &out);
    let run = r.runs.iter().find(|r| r.variant == "n1").unwrap();
    assert_eq!(run.status, RunStatus::Partial);
    let stopped_at = run.last_step.unwrap();
    assert!((8..24).contains(&stopped_at), "{stopped_at}");

    // Again with resume: continues from the stop checkpoint to the end.
    let s = runner::run(&exp, &opts, &StopSignal::new(), |_| {}).unwrap();
    assert_eq!(s.finished, vec!["n1-s5".to_string()], "{s:?}");
    let r = Report::load(&exp, &out);
    let run = r.runs.iter().find(|r| r.variant == "n1").unwrap();
    assert_eq!(run.status, RunStatus::Finished);
    let steps: Vec<u64> = run
        .records
        .iter()
        .filter(|r| r.split == Split::Train)
        .map(|r| r.step)
        .collect();
    assert_eq!(steps, (1..=24).collect::<Vec<_>>(), "each step logged once");
    let events = std::fs::read_to_string(out.join("n1-s5/events.jsonl")).unwrap();
    assert!(events.contains("\"resume\""), "{events}");
    assert_eq!(r.variants[1].runs_finished, 1);
    assert_eq!(r.variants[0].runs_finished, 0);
    assert_eq!(r.progress(), (1, 2));
}

#[test]
fn shipped_experiment_files_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let mut names = Vec::new();
    for size in ["cpu", "paper"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(size))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        let stems: Vec<String> = files
            .iter()
            .map(|p| p.file_stem().unwrap().to_string_lossy().to_string())
            .collect();
        for wanted in [
            "attention-vs-mlp",
            "layers-2-vs-4",
            "continue-loss",
            "recursion-T-n",
            "tasks",
            "trm-vs-hrm",
        ] {
            assert!(stems.iter().any(|s| s == wanted), "{size}/{wanted}.toml");
        }
        for f in &files {
            let e = Experiment::load(f).unwrap_or_else(|e| panic!("{e}"));
            assert!(e.name.ends_with(&format!("-{size}")), "{}", f.display());
            assert!(!names.contains(&e.name), "two files named {}", e.name);
            names.push(e.name.clone());
            assert!(!e.description.is_empty(), "{}", f.display());
            for v in &e.variants {
                let c = &v.config;
                if size == "cpu" {
                    assert!(v.base.ends_with("-cpu"), "{}: {}", f.display(), v.name);
                    assert!(c.max_steps > 0 && c.max_steps <= 1500, "{}", f.display());
                    assert!(c.arch.hidden_size <= 64 && c.global_batch_size == 64);
                } else {
                    assert!(!c.data.path.is_empty(), "{}: {}", f.display(), v.name);
                }
                // HRM is HRM's size (27,275,266 parameters for Sudoku).
                if v.name.starts_with("hrm") && size == "paper" {
                    assert_eq!(c.arch.num_parameters(), 27_275_266, "{}", f.display());
                }
            }
        }
    }
    // The study (experiments/study): each claim's file has at least 4 seeds, decides
    // comparisons between its variants (a one-variant file's verdict is its interval), scores a
    // training sample (the train/test gap), and plans its CPU time.
    let study = root.join("study");
    let mut claims = Vec::new();
    for entry in std::fs::read_dir(&study).unwrap() {
        let f = entry.unwrap().path();
        if f.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.contains("Planned CPU time"), "{}", f.display());
        let e = Experiment::load(&f).unwrap_or_else(|e| panic!("{e}"));
        assert!(e.name.starts_with("study-"), "{}", f.display());
        for v in &e.variants {
            assert!(
                v.config.eval_train_sample > 0,
                "{}: {}",
                f.display(),
                v.name
            );
        }
        if e.name != "study-pilot" {
            assert!(e.seeds.len() >= 4, "{}", f.display());
            assert!(
                e.variants.len() == 1 || !e.compare.is_empty(),
                "{}",
                f.display()
            );
            claims.push(e.name);
        }
    }
    claims.sort();
    assert_eq!(
        claims,
        [
            "study-m1-m3-sudoku",
            "study-m2-layers",
            "study-m4-matched-compute",
            "study-m4-recursion",
            "study-m5-maze"
        ]
    );
}

/// Raising `max_steps` in an experiment file extends its finished runs: `--resume` continues
/// them from their last checkpoint, and the result is the longer run trained from the start
/// (the learning rate is constant after warm-up). Where the schedule depends on the length,
/// the raised file is refused.
#[test]
fn raising_max_steps_continues_finished_runs() {
    let dir = tempfile::tempdir().unwrap();
    let text = |steps: u32, min_ratio: f64| {
        format!(
            "name = \"extend\"\nbase = \"smoke\"\nseeds = [0]\n\n[set]\nmax_steps = {steps}\n\
             eval_interval = 6\neval_limit = 16\nlr_min_ratio = {min_ratio}\n\
             \"data.train_count\" = 128\n\"data.test_count\" = 16\n\n[[variant]]\nname = \"v\"\n"
        )
    };
    let go = |file: &Path, out: &Path| run_experiment(file, out, &["--resume"]);
    let (short, long) = (dir.path().join("short"), dir.path().join("long"));
    let file = write(dir.path(), "e.toml", &text(12, 1.0));
    let o = go(&file, &short);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["experiment", "report", short.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let at_12 = std::fs::read_to_string(short.join("report.csv")).unwrap();
    write(dir.path(), "e.toml", &text(24, 1.0));
    let o = go(&file, &short);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = go(&file, &long);
    assert!(o.status.success(), "{}", stderr(&o));
    let (a, b) = (
        deterministic_metrics(&short.join("v-s0")),
        deterministic_metrics(&long.join("v-s0")),
    );
    assert!(a.iter().any(|r| r["step"] == 24), "continued to step 24");
    let events = std::fs::read_to_string(short.join("v-s0/events.jsonl")).unwrap();
    assert!(
        events.contains("\"resume\"") && events.matches("\"finish\"").count() == 2,
        "trained to 12, then resumed to 24: {events}"
    );
    assert_eq!(a, b, "the extended run is the 24-step run");
    let o = run(&["experiment", "report", short.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 of 1 runs finished"));
    // The report as of step 12 gives the 12-step run's accuracies back.
    let report_at = |step: &str| {
        run(&[
            "experiment",
            "report",
            short.to_str().unwrap(),
            "--at-step",
            step,
            "--plots",
        ])
    };
    let o = report_at("12");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("1 of 1 runs finished as of step 12"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let then = std::fs::read_to_string(short.join("at-step-12/report.csv")).unwrap();
    let accuracies = |csv: &str| -> Vec<String> {
        let mut lines = csv.lines().map(|l| l.split(',').collect::<Vec<_>>());
        let header = lines.next().unwrap();
        let row = lines.next().unwrap();
        header
            .iter()
            .zip(&row)
            .filter(|(h, _)| h.contains("exact") || h.contains("accuracy"))
            .map(|(h, v)| format!("{h}={v}"))
            .collect()
    };
    assert!(!accuracies(&at_12).is_empty());
    assert_eq!(accuracies(&then), accuracies(&at_12));
    let md = std::fs::read_to_string(short.join("at-step-12/report.md")).unwrap();
    assert!(md.contains("As of training step 12"), "{md}");
    assert!(md.contains("| v-s0 | finished | 12/12 |"), "{md}");
    let svg = std::fs::read_to_string(short.join("at-step-12/final.svg")).unwrap();
    assert!(svg.contains("as of step 12"), "the figures say the step");
    let full = std::fs::read_to_string(short.join("report.md")).unwrap();
    assert!(full.contains("| v-s0 | finished | 24/24 |"), "{full}");
    // Past a run's length, the report says which runs stand at their own end.
    let o = report_at("30");
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(short.join("at-step-30/report.md")).unwrap();
    assert!(
        md.contains("Runs shorter than 30 steps, compared at their own length: `v` (24 steps)."),
        "{md}"
    );

    // A cosine schedule to 10% depends on the length: the raised file is refused.
    let other = dir.path().join("cosine");
    write(dir.path(), "e.toml", &text(12, 0.1));
    assert!(go(&file, &other).status.success());
    write(dir.path(), "e.toml", &text(24, 0.1));
    let o = go(&file, &other);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("max_steps"), "{}", stderr(&o));
}

/// A maze experiment's report has the valid-path column and figure.
#[test]
fn maze_reports_show_valid_paths() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("maze.toml");
    std::fs::write(
        &file,
        r#"
name = "maze-smoke"
base = "maze-small-cpu"
seeds = [0]

[set]
max_steps = 6
eval_interval = 3
lr_warmup_steps = 2
global_batch_size = 16
"data.train_count" = 32
"data.test_count" = 8
"arch.halt_max_steps" = 2

[[variant]]
name = "maze7"
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = run_experiment(&file, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["experiment", "report", out.to_str().unwrap(), "--plots"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("variant") && l.contains("valid path")),
        "{text}"
    );
    let svg = std::fs::read_to_string(out.join("valid-path.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("maze7"), "{svg}");
}

/// A run's metrics without what depends on the machine's speed (wall times, rates, memory):
/// what two trainings of the same deterministic run must share.
fn deterministic_metrics(run_dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if let Some(o) = v.as_object_mut() {
                o.retain(|k, _| !trm_tui::train::api::is_machine_metric(k));
            }
            v
        })
        .collect()
}

#[test]
fn jobs_2_gives_the_same_metrics_as_jobs_1_and_the_report_decides_the_comparison() {
    let dir = tempfile::tempdir().unwrap();
    let text = PAIR
        .replace("max_steps = 24", "max_steps = 12")
        .replace("eval_interval = 12", "eval_interval = 6")
        .replace("name = \"smoke-pair\"", "name = \"smoke-jobs\"")
        + "\n[[compare]]\na = \"n2\"\nb = \"n1\"\nmetric = \"final_token_accuracy\"\npaper_a = 87.4\npaper_b = 74.7\n";
    let file = write(dir.path(), "jobs.toml", &text);
    let runs = ["n2-s0", "n2-s1", "n1-s0", "n1-s1"];
    let mut metrics = Vec::new();
    for jobs in ["1", "2"] {
        let out = dir.path().join(format!("jobs{jobs}"));
        let o = run(&[
            "experiment",
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--jobs",
            jobs,
        ]);
        let err = stderr(&o);
        assert!(o.status.success(), "--jobs {jobs}: {err}");
        let manifest = Manifest::read(&out).unwrap();
        assert!(
            manifest.runs.iter().all(|r| r.status == "finished"),
            "--jobs {jobs}: {manifest:?}"
        );
        if jobs == "2" {
            assert!(err.contains("2 job(s) at once"), "{err}");
            assert_eq!(err.matches(" started (variant ").count(), 4, "{err}");
            assert!(err.contains("4 trained, 0 skipped"), "{err}");
        }
        metrics.push(
            runs.iter()
                .map(|r| deterministic_metrics(&out.join(r)))
                .collect::<Vec<_>>(),
        );
        // The comparison: printed, in report.md and report.csv.
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("comparisons (difference of means"), "{text}");
        assert!(text.contains("n2 vs n1"), "{text}");
        let md = std::fs::read_to_string(out.join("report.md")).unwrap();
        assert!(
            md.contains("## Comparisons")
                && md.contains("| n2 vs n1 |")
                && md.contains("## Contrasts")
                && md.contains("| (n2 - n1) vs (n1 - n2) |"),
            "{md}"
        );
        let csv = std::fs::read_to_string(out.join("report.csv")).unwrap();
        let (_, compare) = csv.split_once("\n\n").expect("a comparisons table");
        let mut lines = compare.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        // The Welch comparison (PAIR's own one is paired).
        let welch_row = lines
            .find(|l| l.ends_with(",false"))
            .expect("an unpaired row");
        let row: BTreeMap<&str, &str> = header.iter().copied().zip(welch_row.split(',')).collect();
        // The difference and its Welch interval, from the runs' own token accuracies.
        let token = |v: &str| -> Vec<f64> {
            [0, 1]
                .iter()
                .map(|s| own_figures(&out.join(format!("{v}-s{s}"))).token)
                .collect()
        };
        let (a, b) = (token("n2"), token("n1"));
        let (ma, sa) = mean_std(&a);
        let (mb, sb) = mean_std(&b);
        close(ma - mb, row["diff"], "diff");
        let (va, vb) = (sa * sa / 2.0, sb * sb / 2.0);
        if va + vb > 0.0 {
            let df = (va + vb).powi(2) / (va * va + vb * vb);
            close(df, row["df"], "welch df");
            let lo: f64 = row["ci_low"].parse().unwrap();
            let hi: f64 = row["ci_high"].parse().unwrap();
            assert!(lo <= ma - mb && ma - mb <= hi, "{row:?}");
            let verdict = if lo > 0.0 {
                "n2 > n1".to_string()
            } else if hi < 0.0 {
                "n1 > n2".to_string()
            } else {
                "no difference detected (n = 2; 2)".to_string()
            };
            assert_eq!(row["verdict"], verdict, "{row:?}");
            assert!(text.contains(verdict.replace(';', ",").as_str()), "{text}");
        }
    }
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(
            metrics[0][i], metrics[1][i],
            "{r}: --jobs 2 differs from --jobs 1"
        );
    }
}

/// The lines of a run's metrics file (0 when there is none yet).
fn metric_lines(run_dir: &Path) -> usize {
    std::fs::read_to_string(run_dir.join("metrics.jsonl")).map_or(0, |t| t.lines().count())
}

#[cfg(unix)]
#[test]
fn one_interrupt_stops_every_job_with_a_checkpoint_and_resume_finishes_them() {
    let dir = tempfile::tempdir().unwrap();
    let text = PAIR
        .replace("seeds = [0, 1]", "seeds = [0]")
        .replace("max_steps = 24", "max_steps = 200")
        .replace("eval_interval = 12", "eval_interval = 200")
        .replace("name = \"smoke-pair\"", "name = \"smoke-jobs-stop\"");
    let file = write(dir.path(), "stop.toml", &text);
    let out = dir.path().join("exp");
    let child = bin()
        .args(["experiment", "run", file.to_str().unwrap(), "--out"])
        .arg(&out)
        .args(["--jobs", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Both runs train at once: interrupt as soon as each has logged a step.
    let started = std::time::Instant::now();
    while ["n2-s0", "n1-s0"]
        .iter()
        .any(|r| metric_lines(&out.join(r)) == 0)
    {
        assert!(started.elapsed().as_secs() < 120, "the jobs did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{err}");
    let m = Manifest::read(&out).unwrap();
    for r in ["n2-s0", "n1-s0"] {
        let run = m.runs.iter().find(|x| x.dir == r).unwrap();
        assert_eq!(run.status, "stopped", "{r}: {err}");
        let ck: Vec<_> = std::fs::read_dir(out.join(r).join("checkpoints"))
            .unwrap()
            .collect();
        assert!(!ck.is_empty(), "{r}: no checkpoint");
    }
    // Resumed, both finish, each step logged once.
    let o = run_experiment(&file, &out, &["--jobs", "2", "--resume"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("resuming from").count(), 2, "{err}");
    let (exp, r) = Report::open_dir(&out).unwrap();
    assert_eq!(exp.name, "smoke-jobs-stop");
    for run in &r.runs {
        assert_eq!(run.status, RunStatus::Finished, "{}", run.dir.display());
        let steps: Vec<u64> = run
            .records
            .iter()
            .filter(|x| x.split == Split::Train)
            .map(|x| x.step)
            .collect();
        assert_eq!(
            steps,
            (1..=200).collect::<Vec<_>>(),
            "each step logged once"
        );
    }
}
