//! `trm-tui puzzles ...`: generate, check, show and solve puzzle files.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Subcommand, ValueEnum};
use color_eyre::eyre::{bail, eyre};

use crate::data::dataset::{self, DatasetMetadata};
use crate::data::maze::{self, MazeParams, PathCheck};
use crate::data::sudoku::{self, Difficulty, Geometry, Solver};
use crate::data::{self, csv, Grid, Puzzle, PuzzleFile, PuzzleKind};

#[derive(Debug, Subcommand)]
pub enum PuzzlesCommand {
    /// Generate puzzles (seeded, reproducible) into a HF-layout CSV.
    Gen {
        /// What to generate.
        kind: GenKind,
        /// Grid side: sudoku 4, 6 or 9 (default 9); maze any size >= 2 (default 30).
        #[arg(long)]
        size: Option<usize>,
        /// Sudoku difficulty: easy, medium, hard or extreme.
        #[arg(long, default_value = "medium")]
        difficulty: Difficulty,
        /// Maze: minimum shortest-path length in cells, S and G included
        /// (default 110 for 30x30, equally rare for other sizes: 29 at 9x9, 52 at 15x15).
        #[arg(long)]
        min_path: Option<usize>,
        /// Number of puzzles.
        #[arg(long)]
        count: usize,
        /// Random seed: the same seed gives the same file.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output CSV.
        #[arg(long)]
        out: PathBuf,
    },
    /// Read a puzzle file (HF CSV, ARC JSON in any layout, or a built dataset folder) and report
    /// its kind, count and statistics, or its first errors.
    Check {
        file: PathBuf,
        /// How many errors to list before stopping.
        #[arg(long, default_value_t = 10)]
        max_errors: usize,
    },
    /// Render a puzzle (and its label) in the terminal.
    Show {
        file: PathBuf,
        /// Puzzle index (ARC: task index).
        #[arg(long, default_value_t = 0)]
        index: usize,
    },
    /// Solve Sudoku or Maze puzzles with the classical solvers and compare with the labels.
    Solve {
        file: PathBuf,
        /// Solve only this puzzle and print the solution.
        #[arg(long)]
        index: Option<usize>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenKind {
    Sudoku,
    Maze,
}

pub fn run(cmd: PuzzlesCommand) -> color_eyre::Result<()> {
    match cmd {
        PuzzlesCommand::Gen {
            kind,
            size,
            difficulty,
            min_path,
            count,
            seed,
            out,
        } => gen(kind, size, difficulty, min_path, count, seed, &out),
        PuzzlesCommand::Check { file, max_errors } => check(&file, max_errors.max(1)),
        PuzzlesCommand::Show { file, index } => show(&file, index),
        PuzzlesCommand::Solve { file, index } => solve(&file, index),
    }
}

fn gen(
    kind: GenKind,
    size: Option<usize>,
    difficulty: Difficulty,
    min_path: Option<usize>,
    count: usize,
    seed: u64,
    out: &Path,
) -> color_eyre::Result<()> {
    let start = Instant::now();
    let puzzles: Vec<Puzzle> = match kind {
        GenKind::Sudoku => {
            let size = size.unwrap_or(9);
            if min_path.is_some() {
                bail!("--min-path applies to mazes, not sudoku");
            }
            let source = format!("trm-tui-sudoku-{size}x{size}-{difficulty}-seed{seed}");
            sudoku::generate_many(size, difficulty, count, seed)?
                .into_iter()
                .map(|g| g.into_puzzle(source.clone()))
                .collect()
        }
        GenKind::Maze => {
            let side = size.unwrap_or(30);
            let params =
                MazeParams::square(side, min_path.unwrap_or(maze::default_min_path(side, side)));
            let source = format!(
                "trm-tui-maze-{side}x{side}-min{}-seed{seed}",
                params.min_path
            );
            maze::generate_many(&params, count, seed)?
                .into_iter()
                .map(|m| m.into_puzzle(source.clone()))
                .collect()
        }
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            color_eyre::eyre::eyre!("{}: cannot create the folder: {e}", dir.display())
        })?;
    }
    csv::write_hf_csv(out, &puzzles)?;
    println!(
        "wrote {} puzzles to {} in {:.2}s",
        puzzles.len(),
        out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

struct Stats {
    min: f64,
    max: f64,
    sum: f64,
    n: usize,
}

impl Stats {
    fn of(values: impl IntoIterator<Item = f64>) -> Option<Stats> {
        let mut s = Stats {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
            n: 0,
        };
        for v in values {
            s.min = s.min.min(v);
            s.max = s.max.max(v);
            s.sum += v;
            s.n += 1;
        }
        (s.n > 0).then_some(s)
    }
}

fn stat_line(name: &str, values: impl IntoIterator<Item = f64>) {
    if let Some(s) = Stats::of(values) {
        println!(
            "  {name:<14} min {:>7.2}  mean {:>7.2}  max {:>7.2}",
            s.min,
            s.sum / s.n as f64,
            s.max
        );
    }
}

fn check(path: &Path, max_errors: usize) -> color_eyre::Result<()> {
    if path.is_dir() && (dataset::is_built_dataset(path) || path.join("dataset.json").is_file()) {
        return check_built(path);
    }
    let (file, errors) = data::read_puzzle_file_lenient(path, max_errors)?;
    if !errors.is_empty() {
        eprintln!(
            "{}: {} error(s) found (listing at most {max_errors}):",
            path.display(),
            errors.len()
        );
        for e in &errors {
            eprintln!("  {e}");
        }
        let first = errors
            .into_iter()
            .next()
            .map(|e| e.to_string())
            .unwrap_or_default();
        bail!("{first}");
    }
    let file = file.ok_or_else(|| eyre!("{}: no puzzles found", path.display()))?;
    report_file(&file);
    Ok(())
}

fn report_file(file: &PuzzleFile) {
    println!("file:   {}", file.path.display());
    println!("format: {}", file.format);
    println!(
        "kind:   {} (vocab {}, seq_len {})",
        file.kind,
        file.kind.vocab_size(),
        file.kind.seq_len()
    );
    let labelled = file.puzzles.iter().filter(|p| p.label.is_some()).count();
    match file.kind {
        PuzzleKind::Arc => {
            let tasks = &file.arc_tasks;
            let demos: usize = tasks.iter().map(|t| t.train.len()).sum();
            let tests: usize = tasks.iter().map(|t| t.test.len()).sum();
            let known = tasks
                .iter()
                .flat_map(|t| &t.test)
                .filter(|p| p.output.is_some())
                .count();
            println!("count:  {} tasks ({demos} demonstration pairs, {tests} test pairs, {known} test outputs known)", tasks.len());
            println!("stats:");
            stat_line("demos/task", tasks.iter().map(|t| t.train.len() as f64));
            stat_line("tests/task", tasks.iter().map(|t| t.test.len() as f64));
            stat_line(
                "grid rows",
                file.puzzles.iter().map(|p| p.input.rows as f64),
            );
            stat_line(
                "grid cols",
                file.puzzles.iter().map(|p| p.input.cols as f64),
            );
        }
        PuzzleKind::Sudoku { .. } => {
            println!(
                "count:  {} puzzles ({labelled} with answers)",
                file.puzzles.len()
            );
            println!("stats:");
            stat_line(
                "clues",
                file.puzzles
                    .iter()
                    .map(|p| p.input.cells.iter().filter(|&&c| c != 0).count() as f64),
            );
            stat_line(
                "rating",
                file.puzzles
                    .iter()
                    .filter_map(|p| p.rating.map(|r| r as f64)),
            );
        }
        PuzzleKind::Maze { .. } => {
            println!(
                "count:  {} mazes ({labelled} with answers)",
                file.puzzles.len()
            );
            println!("stats:");
            stat_line(
                "wall density",
                file.puzzles.iter().map(|p| {
                    p.input.cells.iter().filter(|&&c| c == maze::WALL).count() as f64
                        / p.input.cells.len() as f64
                }),
            );
            stat_line(
                "path cells",
                file.puzzles.iter().filter_map(|p| {
                    maze::shortest_path_len(&p.input)
                        .ok()
                        .flatten()
                        .map(|n| n as f64)
                }),
            );
            stat_line(
                "rating",
                file.puzzles
                    .iter()
                    .filter_map(|p| p.rating.map(|r| r as f64)),
            );
        }
    }
    println!("ok: every puzzle is well-formed and every answer is valid");
}

fn print_meta(split: &str, meta: &DatasetMetadata, ds: &dataset::Dataset) {
    println!(
        "{split:<5}  examples {:>9}  puzzles {:>8}  groups {:>6}  vocab {:>3}  seq_len {:>4}  ids {}",
        ds.num_examples(),
        ds.num_puzzles(),
        ds.num_groups(),
        meta.vocab_size,
        meta.seq_len,
        meta.num_puzzle_identifiers
    );
}

fn check_built(path: &Path) -> color_eyre::Result<()> {
    println!("file:   {}", path.display());
    println!("format: built dataset (official layout)");
    if dataset::is_built_dataset(path) {
        let built = dataset::load_built_dataset(path)?;
        println!("identifiers: {}", built.identifiers.len());
        print_meta("train", &built.train.0, &built.train.1);
        print_meta("test", &built.test.0, &built.test.1);
    } else {
        let (meta, ds) = dataset::load_dataset_dir(path)?;
        print_meta("split", &meta, &ds);
    }
    println!("ok: metadata and arrays are consistent");
    Ok(())
}

const ARC_COLOURS: [u8; 10] = [0, 27, 196, 40, 226, 248, 201, 208, 45, 88];

fn render_arc_colour(grid: &Grid) -> String {
    let mut out = String::new();
    for r in 0..grid.rows {
        for c in 0..grid.cols {
            let v = grid.get(r, c) as usize;
            out.push_str(&format!("\x1b[48;5;{}m  ", ARC_COLOURS[v.min(9)]));
        }
        out.push_str("\x1b[0m\n");
    }
    out
}

fn render(kind: PuzzleKind, grid: &Grid) -> String {
    if kind == PuzzleKind::Arc && std::io::stdout().is_terminal() {
        render_arc_colour(grid)
    } else {
        grid.render(kind)
    }
}

fn show(path: &Path, index: usize) -> color_eyre::Result<()> {
    let file = data::read_puzzle_file(path)?;
    if file.kind == PuzzleKind::Arc {
        let task = file.arc_tasks.get(index).ok_or_else(|| {
            eyre!(
                "{}: --index {index} is out of range: expected 0..{} (tasks)",
                path.display(),
                file.arc_tasks.len()
            )
        })?;
        println!("task {} ({index} of {})", task.id, file.arc_tasks.len());
        for p in task.puzzles() {
            println!("\n{} input {}x{}:", p.name, p.input.rows, p.input.cols);
            print!("{}", render(p.kind, &p.input));
            match &p.label {
                Some(o) => {
                    println!("{} output {}x{}:", p.name, o.rows, o.cols);
                    print!("{}", render(p.kind, o));
                }
                None => println!("{} output: unknown", p.name),
            }
        }
        return Ok(());
    }
    let p = file.puzzles.get(index).ok_or_else(|| {
        eyre!(
            "{}: --index {index} is out of range: expected 0..{}",
            path.display(),
            file.puzzles.len()
        )
    })?;
    let rating = p
        .rating
        .map(|r| format!(", rating {r}"))
        .unwrap_or_default();
    println!(
        "{} #{index} of {} ({}{rating})",
        file.kind,
        file.puzzles.len(),
        p.name
    );
    println!("\nquestion:");
    print!("{}", p.input.render(p.kind));
    if let Some(l) = &p.label {
        println!("\nanswer:");
        print!("{}", l.render(p.kind));
    }
    Ok(())
}

fn solve(path: &Path, index: Option<usize>) -> color_eyre::Result<()> {
    let file = data::read_puzzle_file(path)?;
    let puzzles: Vec<&Puzzle> = match index {
        Some(i) => vec![file.puzzles.get(i).ok_or_else(|| {
            eyre!(
                "{}: --index {i} is out of range: expected 0..{}",
                path.display(),
                file.puzzles.len()
            )
        })?],
        None => file.puzzles.iter().collect(),
    };
    let start = Instant::now();
    match file.kind {
        PuzzleKind::Sudoku { size } => {
            let geo = Geometry::checked(size)?;
            let solver = Solver::new(geo);
            let mut counts = [0usize; 4];
            let (mut unique, mut multiple, mut none, mut matches) = (0, 0, 0, 0);
            let mut nodes = Vec::with_capacity(puzzles.len());
            for p in &puzzles {
                let (rating, sol) = solver.rate_and_solve(&p.input);
                match rating.solutions {
                    0 => none += 1,
                    1 => unique += 1,
                    _ => multiple += 1,
                }
                if let Some(d) = rating.difficulty {
                    counts[d as usize] += 1;
                }
                nodes.push(rating.branch_nodes as f64);
                if let (Some(s), Some(l)) = (&sol, &p.label) {
                    if sudoku::is_solution_of(&geo, &p.input, s) && s == l {
                        matches += 1;
                    }
                }
                if index.is_some() {
                    println!(
                        "solutions: {}{}, branch nodes {}, difficulty {}",
                        rating.solutions,
                        if rating.solutions >= 2 { "+" } else { "" },
                        rating.branch_nodes,
                        rating.difficulty.map_or("-".to_string(), |d| d.to_string())
                    );
                    if let Some(s) = &sol {
                        print!("{}", s.render(p.kind));
                    }
                }
            }
            println!(
                "{} puzzles in {:.2}s: {unique} unique, {multiple} with several solutions, {none} unsolvable; {matches} solutions equal the answer column",
                puzzles.len(),
                start.elapsed().as_secs_f64()
            );
            let names = Difficulty::ALL.map(|d| d.to_string());
            println!(
                "difficulty: {}",
                names
                    .iter()
                    .zip(counts)
                    .map(|(n, c)| format!("{n} {c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            stat_line("branch nodes", nodes);
        }
        PuzzleKind::Maze { .. } => {
            let (mut solved, mut unreachable, mut label_ok) = (0, 0, 0);
            let mut lens = Vec::new();
            for p in &puzzles {
                match maze::solve(&p.input, None)
                    .map_err(|e| eyre!("{}: {}: {e}", path.display(), p.name))?
                {
                    Some(sol) => {
                        solved += 1;
                        let n = sol.cells.iter().filter(|&&c| c == maze::PATH).count() + 2;
                        lens.push(n as f64);
                        if let Some(l) = &p.label {
                            if maze::check_path(&p.input, l) == PathCheck::Correct {
                                label_ok += 1;
                            }
                        }
                        if index.is_some() {
                            println!("shortest path: {n} cells");
                            print!("{}", sol.render(p.kind));
                        }
                    }
                    None => unreachable += 1,
                }
            }
            println!(
                "{} mazes in {:.2}s: {solved} solved, {unreachable} with G unreachable; {label_ok} answers are shortest paths",
                puzzles.len(),
                start.elapsed().as_secs_f64()
            );
            stat_line("path cells", lens);
        }
        PuzzleKind::Arc => bail!(
            "{}: there is no classical solver for ARC tasks; `puzzles show` renders them",
            path.display()
        ),
    }
    Ok(())
}
