//! `trm-tui solve`: one puzzle (from a file and index, or typed) through a model, printing each
//! supervision step's answer (coloured on a terminal, plain otherwise), the cells that changed,
//! the confidence and `q_halt`; `--json` writes the whole trace, `--svg` animates the
//! refinement. Also the test-time options that `solve` and `eval` share, and `eval`'s report
//! of them.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use color_eyre::eyre::{bail, eyre, Result, WrapErr};

use crate::data::sudoku::Geometry;
use crate::data::{maze, PuzzleKind};
use crate::model::weights::load_model;
use crate::model::TrmConfig;
use crate::train::test_time::trace::{SolveTrace, TraceStep};
use crate::train::test_time::{
    net_calls_per_step, solve_puzzles, HaltPolicy, PuzzleInput, TestTimeOptions, TestTimeReport,
};
use crate::train::trainer::open_device;

pub mod svg;

/// The test-time options of `eval` and `solve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TestTimeArgs {
    /// Supervision steps to run (default: the model's `halt_max_steps`); more than the model
    /// was trained with is allowed.
    #[arg(long, value_name = "N")]
    pub steps: Option<usize>,
    /// Halting: `all` runs every step (the official metric); `q` stops each trajectory at its
    /// first `q_halt > 0`, the model's own decision.
    #[arg(long, value_name = "all|q")]
    pub halt: Option<HaltPolicy>,
    /// Trajectories per puzzle (per augmented copy), run as one batch; the answer is the one
    /// with the highest sigmoid(q_halt). Give them --noise to differ.
    #[arg(long, value_name = "K")]
    pub samples: Option<usize>,
    /// Standard deviation of the Gaussian noise added to both latents (z_H, z_L) before every
    /// supervision step.
    #[arg(long, value_name = "SIGMA")]
    pub noise: Option<f64>,
    /// Augmented copies per puzzle (Sudoku digit, band/stack permutations and transposes; maze
    /// dihedral transforms), run as one batch; each answer is un-augmented, then they vote per
    /// cell.
    #[arg(long, value_name = "K")]
    pub aug_vote: Option<usize>,
    /// Seed of the noise and the augmentations.
    #[arg(long, value_name = "SEED")]
    pub seed: Option<u64>,
}

impl TestTimeArgs {
    /// Whether any test-time option was given.
    pub fn any(&self) -> bool {
        self.steps.is_some()
            || self.halt.is_some()
            || self.samples.is_some()
            || self.noise.is_some()
            || self.aug_vote.is_some()
            || self.seed.is_some()
    }

    /// The options for a model, checked.
    pub fn options(&self, cfg: &TrmConfig) -> Result<TestTimeOptions> {
        let plain = TestTimeOptions::plain(cfg);
        let o = TestTimeOptions {
            steps: self.steps.unwrap_or(plain.steps),
            halt: self.halt.unwrap_or(plain.halt),
            samples: self.samples.unwrap_or(plain.samples),
            noise: self.noise.unwrap_or(plain.noise),
            aug_vote: self.aug_vote.unwrap_or(plain.aug_vote),
            seed: self.seed.unwrap_or(plain.seed),
        };
        o.validate().map_err(|e| eyre!(e))?;
        if o.samples > 1 && o.noise == 0.0 {
            eprintln!(
                "note: --samples {} without --noise runs {} identical trajectories",
                o.samples, o.samples
            );
        }
        Ok(o)
    }
}

fn pct(v: f64) -> String {
    format!("{:.3}", v)
}

/// `eval` with test-time options, as text.
pub fn print_report(r: &TestTimeReport) {
    let rule = match r.answer {
        crate::train::test_time::Rule::QPick => "Q-head pick",
        crate::train::test_time::Rule::Vote => "per-cell vote",
    };
    println!(
        "  {} puzzles  steps {} (trained {})  halt {}  samples {}  noise {}  aug-vote {}  seed {}",
        r.count, r.steps, r.trained_steps, r.halt, r.samples, r.noise, r.aug_vote, r.seed
    );
    let k = r.trajectories_per_puzzle;
    println!(
        "  cost: {k} trajector{} per puzzle, {:.2} supervision steps each, {:.1} network calls per puzzle ({} per step)",
        if k == 1 { "y" } else { "ies" },
        r.steps_per_trajectory,
        r.net_calls_per_puzzle,
        r.net_calls_per_step
    );
    let valid = |v: Option<f64>| v.map_or(String::new(), |v| format!("  valid path {}", pct(v)));
    println!(
        "  answer ({rule}): exact {}  token {}{}",
        pct(r.exact_accuracy),
        pct(r.accuracy),
        valid(r.maze_valid_path)
    );
    if r.trajectories_per_puzzle > 1 {
        println!(
            "  Q-head pick      exact {}{}",
            pct(r.q_pick.exact_accuracy),
            valid(r.q_pick.maze_valid_path)
        );
        println!(
            "  per-cell vote    exact {}{}",
            pct(r.vote.exact_accuracy),
            valid(r.vote.maze_valid_path)
        );
        println!(
            "  oracle pass@{:<4} exact {}{}",
            r.trajectories_per_puzzle,
            pct(r.oracle.exact_accuracy),
            valid(r.oracle.maze_valid_path)
        );
    }
    println!(
        "  halting-first    exact {}{}  at step {:.2}, {:.1} network calls per puzzle run alone",
        pct(r.halt_first.exact_accuracy),
        valid(r.halt_first.maze_valid_path),
        r.halt_first.step,
        r.halt_first.net_calls_per_puzzle
    );
    println!(
        "  per trajectory: first q_halt > 0 at step {:.2}, exact there {}",
        r.halt_step,
        pct(r.exact_at_halt)
    );
    let by: Vec<String> = r
        .exact_by_step
        .iter()
        .enumerate()
        .map(|(k, v)| format!("{} {}", k + 1, pct(*v)))
        .collect();
    println!("  exact after step: {}", by.join("  "));
    if let Some(v) = &r.maze_valid_path_by_step {
        let by: Vec<String> = v
            .iter()
            .enumerate()
            .map(|(k, v)| format!("{} {}", k + 1, pct(*v)))
            .collect();
        println!("  valid path after step: {}", by.join("  "));
    }
    println!("  eval_seconds {:.3}", r.eval_seconds);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, clap::Args)]
pub struct SolveArgs {
    /// A checkpoint or weights file written by trm-tui (EMA weights are used when present).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// A puzzle file (HF CSV of Sudokus or mazes, ARC JSON); --index picks the puzzle.
    #[arg(long, conflicts_with = "grid", required_unless_present = "grid")]
    pub file: Option<PathBuf>,
    /// The puzzle's 0-based position in --file.
    #[arg(long, default_value_t = 0)]
    pub index: usize,
    /// A typed puzzle: a Sudoku of 16, 36 or 81 characters (digits, `.` or `0` for blanks), or
    /// a square maze over `# SG` (walls, open, start, goal).
    #[arg(long)]
    pub grid: Option<String>,
    /// `cpu`, `auto` (the first CUDA device if one opens, else the CPU) or `cuda:N`.
    #[arg(long, default_value = "cpu", value_name = "auto|cpu|cuda:N")]
    pub device: String,
    #[command(flatten)]
    pub test_time: TestTimeArgs,
    /// Print the whole trace as one JSON object instead of the grids.
    #[arg(long)]
    pub json: bool,
    /// Write the refinement as an animated SVG (one frame per supervision step).
    #[arg(long, value_name = "PATH")]
    pub svg: Option<PathBuf>,
    /// Colours: on a terminal without NO_COLOR (`auto`), `always` or `never`.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// The puzzle of a solve, with where it came from.
struct Chosen {
    kind: PuzzleKind,
    input: Vec<i32>,
    label: Option<Vec<i32>>,
    source: String,
}

fn choose_puzzle(args: &SolveArgs) -> Result<Chosen> {
    if let Some(g) = &args.grid {
        let g = g.trim_end_matches(['\n', '\r']);
        let kind = crate::data::csv::detect_kind(g).map_err(|e| eyre!("--grid: {e}"))?;
        let (q, _) = crate::data::csv::parse_pair(kind, g, "").map_err(|e| eyre!("--grid: {e}"))?;
        return Ok(Chosen {
            kind,
            input: kind.encode(&q),
            label: None,
            source: "--grid".into(),
        });
    }
    let path = args
        .file
        .as_ref()
        .ok_or_else(|| eyre!("give --file PATH (with --index N) or --grid STRING"))?;
    if !path.exists() {
        bail!("{}: no such puzzle file", path.display());
    }
    let file = crate::data::read_puzzle_file(path)?;
    let n = file.puzzles.len();
    let p = file.puzzles.get(args.index).ok_or_else(|| {
        eyre!(
            "{}: --index {} is out of range: the file has {n} puzzle{} (0..={})",
            path.display(),
            args.index,
            if n == 1 { "" } else { "s" },
            n.saturating_sub(1)
        )
    })?;
    Ok(Chosen {
        kind: p.kind,
        input: p.input_tokens(),
        label: p.label_tokens(),
        source: format!("{} #{}", path.display(), args.index),
    })
}

/// The character of a token, as the puzzle files write it.
pub fn glyph(kind: PuzzleKind, token: i32) -> char {
    match kind {
        PuzzleKind::Sudoku { size } => match token {
            1 => '.',
            t if t >= 2 && t <= size as i32 + 1 => char::from(b'0' + (t - 1) as u8),
            _ => '?',
        },
        PuzzleKind::Maze { .. } => usize::try_from(token - 1)
            .ok()
            .and_then(|i| maze::CHARSET.get(i))
            .map_or('?', |&c| c as char),
        PuzzleKind::Arc => match token {
            0 => ' ',
            1 => '|',
            t @ 2..=11 => char::from(b'0' + (t - 2) as u8),
            _ => '?',
        },
    }
}

/// Rows and columns of a kind's token grid.
pub fn shape(kind: PuzzleKind) -> (usize, usize) {
    match kind {
        PuzzleKind::Sudoku { size } => (size, size),
        PuzzleKind::Maze { rows, cols } => (rows, cols),
        PuzzleKind::Arc => (crate::data::arc::CANVAS, crate::data::arc::CANVAS),
    }
}

/// How a cell is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellMark {
    Plain,
    /// A given clue (Sudoku) or the question's walls and endpoints (maze).
    Given,
    Changed,
    /// Differs from the label.
    Wrong,
    /// A maze path cell.
    Path,
}

/// The mark of cell `k` of an answer.
pub fn cell_mark(
    kind: PuzzleKind,
    input: &[i32],
    label: Option<&[i32]>,
    answer: &[i32],
    changed: &[usize],
    k: usize,
) -> CellMark {
    let sudoku = matches!(kind, PuzzleKind::Sudoku { .. });
    if sudoku && label.is_some_and(|l| l[k] != -100 && l[k] != answer[k]) {
        CellMark::Wrong
    } else if changed.contains(&k) {
        CellMark::Changed
    } else if sudoku && input[k] > 1 {
        CellMark::Given
    } else if matches!(kind, PuzzleKind::Maze { .. }) && glyph(kind, answer[k]) == 'o' {
        CellMark::Path
    } else {
        CellMark::Plain
    }
}

fn paint(c: char, mark: CellMark, colour: bool) -> String {
    if !colour {
        return c.to_string();
    }
    let code = match mark {
        CellMark::Plain => return c.to_string(),
        CellMark::Given => "2",
        CellMark::Changed => "1;33",
        CellMark::Wrong => "1;31",
        CellMark::Path => "32",
    };
    format!("\x1b[{code}m{c}\x1b[0m")
}

/// A grid as text lines (Sudoku boxes separated), cells marked in colour when `colour`.
fn grid_text(
    kind: PuzzleKind,
    input: &[i32],
    label: Option<&[i32]>,
    answer: &[i32],
    changed: &[usize],
    colour: bool,
) -> String {
    let (rows, cols) = shape(kind);
    let boxes = match kind {
        PuzzleKind::Sudoku { size } => Geometry::new(size).map(|g| (g.box_rows, g.box_cols)),
        _ => None,
    };
    let mut out = String::new();
    for r in 0..rows {
        if let Some((br, bc)) = boxes {
            if r > 0 && r % br == 0 {
                let sep: Vec<String> = (0..cols / bc).map(|_| "-".repeat(bc * 2 + 1)).collect();
                out.push_str(&format!("    {}\n", sep.join("+")));
            }
        }
        out.push_str("    ");
        for c in 0..cols {
            let k = r * cols + c;
            let mark = cell_mark(kind, input, label, answer, changed, k);
            let ch = glyph(kind, answer[k]);
            match boxes {
                Some((_, bc)) => {
                    if c > 0 && c % bc == 0 {
                        out.push_str(" |");
                    }
                    out.push(' ');
                    out.push_str(&paint(ch, mark, colour));
                }
                None => out.push_str(&paint(ch, mark, colour)),
            }
        }
        out.push('\n');
    }
    out
}

fn cell_name(kind: PuzzleKind, k: usize) -> String {
    let (_, cols) = shape(kind);
    format!("r{}c{}", k / cols + 1, k % cols + 1)
}

fn changed_text(kind: PuzzleKind, prev: &[i32], s: &TraceStep) -> String {
    const SHOWN: usize = 24;
    let mut parts: Vec<String> = s
        .changed
        .iter()
        .take(SHOWN)
        .map(|&k| {
            let (a, b) = (glyph(kind, prev[k]), glyph(kind, s.answer[k]));
            match kind {
                PuzzleKind::Maze { .. } => format!("{} '{a}'->'{b}'", cell_name(kind, k)),
                _ => format!("{} {a}->{b}", cell_name(kind, k)),
            }
        })
        .collect();
    if s.changed.len() > SHOWN {
        parts.push(format!("... {} more", s.changed.len() - SHOWN));
    }
    parts.join(", ")
}

fn verdict(right: Option<bool>) -> &'static str {
    match right {
        Some(true) => "right",
        Some(false) => "wrong",
        None => "",
    }
}

/// The JSON of a solve.
#[derive(serde::Serialize)]
struct SolveJson<'a> {
    checkpoint: String,
    source: &'a str,
    kind: String,
    input: &'a [i32],
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'a [i32]>,
    steps: usize,
    trained_steps: usize,
    halt: String,
    samples: usize,
    noise: f64,
    aug_vote: usize,
    seed: u64,
    net_calls_per_step: usize,
    net_calls: usize,
    /// The answer of each step as the puzzle files write it.
    grids: Vec<String>,
    trace: &'a SolveTrace,
}

pub fn run(args: SolveArgs) -> Result<()> {
    let chosen = choose_puzzle(&args)?;
    let (device, notice) = open_device(&args.device)?;
    if let Some(n) = notice {
        eprintln!("{n}");
    }
    let (model, _) = load_model(&args.checkpoint, None, &device)?;
    let cfg = &model.config;
    let kind = chosen.kind;
    if kind.seq_len() != cfg.seq_len || kind.vocab_size() > cfg.vocab_size {
        bail!(
            "{}: the puzzle ({kind}, {} cells) does not fit the model in {} (seq_len {}, vocab {})",
            chosen.source,
            kind.seq_len(),
            args.checkpoint.display(),
            cfg.seq_len,
            cfg.vocab_size
        );
    }
    let opts = args.test_time.options(cfg)?;
    let ensembles = solve_puzzles(
        &model,
        Some(kind),
        &[PuzzleInput {
            inputs: &chosen.input,
            puzzle_id: 0,
            index: args.index as u64,
        }],
        &opts,
        true,
    )?;
    let e = ensembles
        .into_iter()
        .next()
        .ok_or_else(|| eyre!("the solve returned no trajectory"))?;
    let label = chosen.label.as_deref();
    let trace = SolveTrace::new(&e, &opts, kind, &chosen.input, label);
    let calls = net_calls_per_step(cfg);
    if let Some(path) = &args.svg {
        let title = format!("{} - {}", chosen.source, file_name(&args.checkpoint));
        let text = svg::animated(kind, &chosen.input, label, &trace, &title);
        std::fs::write(path, text)
            .wrap_err_with(|| format!("{}: cannot write the SVG", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if args.json {
        let grids = trace
            .steps
            .iter()
            .map(|s| s.answer.iter().map(|&t| glyph(kind, t)).collect())
            .collect();
        let j = SolveJson {
            checkpoint: args.checkpoint.display().to_string(),
            source: &chosen.source,
            kind: kind.to_string(),
            input: &chosen.input,
            label,
            steps: opts.steps,
            trained_steps: cfg.halt_max_steps,
            halt: opts.halt.to_string(),
            samples: opts.samples,
            noise: opts.noise,
            aug_vote: opts.aug_vote,
            seed: opts.seed,
            net_calls_per_step: calls,
            net_calls: e.trajectory_steps() * calls,
            grids,
            trace: &trace,
        };
        println!("{}", serde_json::to_string(&j)?);
        return Ok(());
    }
    let colour = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    print_trace(
        &chosen,
        &args.checkpoint,
        &opts,
        &trace,
        e.trajectory_steps() * calls,
        colour,
    );
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
}

fn print_trace(
    chosen: &Chosen,
    checkpoint: &Path,
    opts: &TestTimeOptions,
    trace: &SolveTrace,
    net_calls: usize,
    colour: bool,
) {
    let kind = chosen.kind;
    let label = chosen.label.as_deref();
    let k = opts.trajectories();
    println!(
        "{} ({kind})  model {}  steps {}  halt {}  {k} trajector{}{}",
        chosen.source,
        file_name(checkpoint),
        opts.steps,
        opts.halt,
        if k == 1 { "y" } else { "ies" },
        if k > 1 {
            format!(
                " (samples {}, noise {}, aug-vote {}, seed {})",
                opts.samples, opts.noise, opts.aug_vote, opts.seed
            )
        } else {
            String::new()
        }
    );
    println!("input");
    print!(
        "{}",
        grid_text(kind, &chosen.input, None, &chosen.input, &[], colour)
    );
    let mut prev = chosen.input.clone();
    for s in &trace.steps {
        println!(
            "step {}/{}  q_halt {:+.3} (p {:.3})  confidence mean {:.3} min {:.3}  changed {}  {}",
            s.step,
            opts.steps,
            s.q_halt,
            s.halt_prob,
            s.confidence_mean,
            s.confidence_min,
            s.changed.len(),
            verdict(s.right)
        );
        if s.trajectories.len() > 1 {
            let qs: Vec<String> = s
                .trajectories
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    format!(
                        "{:+.2}{}{}",
                        t.q_halt,
                        if i == s.picked { "*" } else { "" },
                        if t.running { "" } else { "(halted)" }
                    )
                })
                .collect();
            let n = s.agreement.len().max(1) as f32;
            println!(
                "  q_halt by trajectory (* = Q-head pick): {}  agreement mean {:.3} min {:.3}",
                qs.join(" "),
                s.agreement.iter().sum::<f32>() / n,
                s.agreement.iter().copied().fold(1.0, f32::min)
            );
        }
        print!(
            "{}",
            grid_text(kind, &chosen.input, label, &s.answer, &s.changed, colour)
        );
        if !s.changed.is_empty() {
            println!("  changed: {}", changed_text(kind, &prev, s));
        }
        prev = s.answer.clone();
    }
    if let Some(last) = trace.steps.last() {
        let (t, step) = trace.halt_first;
        println!(
            "answer after step {} ({}): {}  halting-first: trajectory {t} at step {step}  cost {net_calls} network calls",
            last.step,
            match trace.rule {
                crate::train::test_time::Rule::QPick => "Q-head pick",
                crate::train::test_time::Rule::Vote => "per-cell vote",
            },
            match last.right {
                Some(true) => "right",
                Some(false) => "wrong",
                None => "no label to check",
            }
        );
    }
}

/// `eval` with test-time options: the report as text under `header`, or as JSON.
#[allow(clippy::too_many_arguments)]
pub fn eval(
    model: &crate::model::TrmModel,
    data: &crate::data::dataset::Dataset,
    kind: Option<PuzzleKind>,
    batch: usize,
    limit: usize,
    opts: &TestTimeOptions,
    json: bool,
    header: &str,
) -> Result<()> {
    let r = crate::train::test_time::evaluate(model, data, kind, batch, limit, opts)?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!("{header}");
        print_report(&r);
    }
    Ok(())
}
