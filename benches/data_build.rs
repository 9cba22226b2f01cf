//! Data-layer benchmarks (figures, not timed tests): `cargo bench --bench data_build`.
//!
//! 1. Build a 1000-puzzle x 1000-augmentation Sudoku dataset (1,001,000 examples) on disk in the
//!    official layout, from the magictour top1465 list (or 1000 generated 9x9 puzzles when
//!    ../shared is absent).
//! 2. Generate 30x30 mazes with a shortest path of at least 110 cells (Maze-Hard settings).
//! 3. Rate/solve the 375 puzzles of the forum-hardest 1106 list (exhaustive uniqueness search).

use std::time::Instant;

use trm_tui::data::build::{build_sudoku, GridBuildConfig, Output};
use trm_tui::data::maze::{self, MazeParams};
use trm_tui::data::sudoku::{self, Difficulty, Geometry, Solver};
use trm_tui::data::{csv, shared_dir, Puzzle, PuzzleKind};

fn main() {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let shared = shared_dir().join("data/sudoku/hard_magictour_top1465.csv");
    let source = if shared.is_file() {
        shared
    } else {
        let path = tmp.path().join("generated.csv");
        let puzzles: Vec<Puzzle> = sudoku::generate_many(9, Difficulty::Hard, 1000, 1)
            .expect("generate sudokus")
            .into_iter()
            .map(|g| Puzzle {
                name: String::new(),
                kind: PuzzleKind::Sudoku { size: 9 },
                input: g.puzzle,
                label: Some(g.solution),
                rating: None,
            })
            .collect();
        csv::write_hf_csv(&path, &puzzles).expect("write generated sudokus");
        path
    };
    let cfg = GridBuildConfig {
        train_files: vec![source.clone()],
        test_fraction: 0.1,
        subsample_size: Some(1000),
        num_aug: 1000,
        seed: 0,
        ..GridBuildConfig::default()
    };
    let out = tmp.path().join("sudoku-1k-aug-1000");
    let start = Instant::now();
    let built = build_sudoku(&cfg, Output::Dir(&out)).expect("build sudoku dataset");
    let secs = start.elapsed().as_secs_f64();
    let examples = built.train.meta.total_puzzles.unwrap_or(0);
    println!(
        "sudoku build 1000 x (1 + 1000 aug) from {}: {examples} train examples in {secs:.2}s ({:.0} examples/s)",
        source.display(),
        examples as f64 / secs
    );

    let count = 200;
    let start = Instant::now();
    let mazes =
        maze::generate_many(&MazeParams::square(30, 110), count, 0).expect("generate mazes");
    let secs = start.elapsed().as_secs_f64();
    let mean_len = mazes.iter().map(|m| m.path_len).sum::<usize>() as f64 / count as f64;
    println!(
        "maze gen 30x30, path >= 110: {count} mazes in {secs:.2}s ({:.1} ms/maze, mean path {mean_len:.1} cells, {} threads)",
        1000.0 * secs / count as f64,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let hardest = shared_dir().join("data/sudoku/hard_forum_hardest_1106.csv");
    if let Ok((_, puzzles)) = csv::read_hf_csv(&hardest) {
        let solver = Solver::new(Geometry::new(9).expect("9x9"));
        let start = Instant::now();
        let nodes: u64 = puzzles
            .iter()
            .map(|p| solver.rate(&p.input).branch_nodes)
            .sum();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "sudoku rate (exhaustive uniqueness search) of {} forum-hardest puzzles: {secs:.2}s ({:.2} ms/puzzle, mean {:.0} branch nodes)",
            puzzles.len(),
            1000.0 * secs / puzzles.len() as f64,
            nodes as f64 / puzzles.len() as f64
        );
    }
}
