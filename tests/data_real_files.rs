//! Every file of ../shared/data (or $TRM_SHARED_DIR/data) reads with the counts of its README,
//! `puzzles check` reports them, the CSV writer reproduces the files byte for byte, and a real
//! ARC build inverts back to the original tasks.

use std::path::PathBuf;
use std::process::Command;

use trm_tui::data::augment::ArcAug;
use trm_tui::data::build::{build_arc, ArcBuildConfig, Output};
use trm_tui::data::{self, arc, csv, FileFormat, PuzzleKind};

mod common;

/// The shared data folder, or `None` (with a line saying `test` was skipped) when it is absent;
/// required under `TRM_REQUIRE_SHARED=1`.
fn data_dir(test: &str) -> Option<PathBuf> {
    common::shared_or_skip("data", test)
}

/// (path, kind, tasks or puzzles, demonstration pairs, test pairs) from the README and the files.
const ARC_FILES: [(&str, usize, usize, usize); 5] = [
    ("arc1/training.json", 400, 1302, 416),
    ("arc1/evaluation.json", 400, 1363, 419),
    ("arc2/training.json", 1000, 3232, 1076),
    ("arc2/evaluation.json", 120, 359, 167),
    ("conceptarc/corpus.json", 160, 427, 480),
];

const CSV_FILES: [(&str, PuzzleKind, usize); 5] = [
    (
        "maze/train.csv",
        PuzzleKind::Maze { rows: 30, cols: 30 },
        1000,
    ),
    (
        "maze/test.csv",
        PuzzleKind::Maze { rows: 30, cols: 30 },
        1000,
    ),
    (
        "sudoku/hard_magictour_top1465.csv",
        PuzzleKind::Sudoku { size: 9 },
        1465,
    ),
    (
        "sudoku/hard_forum_hardest_1905_11plus.csv",
        PuzzleKind::Sudoku { size: 9 },
        48766,
    ),
    (
        "sudoku/hard_forum_hardest_1106.csv",
        PuzzleKind::Sudoku { size: 9 },
        375,
    ),
];

#[test]
fn arc_files_read_with_readme_counts() {
    let Some(dir) = data_dir("arc_files_read_with_readme_counts") else {
        return;
    };
    for (rel, tasks, demos, tests) in ARC_FILES {
        let f = data::read_puzzle_file(&dir.join(rel)).unwrap();
        assert_eq!(f.format, FileFormat::ArcCombined, "{rel}");
        assert_eq!(f.kind, PuzzleKind::Arc);
        assert_eq!(f.arc_tasks.len(), tasks, "{rel}");
        let d: usize = f.arc_tasks.iter().map(|t| t.train.len()).sum();
        let t: usize = f.arc_tasks.iter().map(|t| t.test.len()).sum();
        assert_eq!((d, t), (demos, tests), "{rel}");
        assert_eq!(f.puzzles.len(), demos + tests);
        assert!(f
            .arc_tasks
            .iter()
            .flat_map(|t| &t.test)
            .all(|p| p.output.is_some()));
        // Every grid encodes on the canvas and decodes back.
        for p in f.puzzles.iter().take(300) {
            assert_eq!(PuzzleKind::Arc.decode(&p.input_tokens()).unwrap(), p.input);
        }
    }
}

#[test]
fn csv_files_read_with_readme_counts_and_valid_answers() {
    let Some(dir) = data_dir("csv_files_read_with_readme_counts_and_valid_answers") else {
        return;
    };
    for (rel, kind, count) in CSV_FILES {
        let f = data::read_puzzle_file(&dir.join(rel)).unwrap();
        assert_eq!(f.format, FileFormat::HfCsv);
        assert_eq!(f.kind, kind, "{rel}");
        assert_eq!(f.puzzles.len(), count, "{rel}");
        assert!(f
            .puzzles
            .iter()
            .all(|p| p.label.is_some() && p.rating.is_some()));
        if let PuzzleKind::Maze { .. } = kind {
            // The README: rating = path cells including S and G, at least 110.
            for p in &f.puzzles {
                let len = trm_tui::data::maze::shortest_path_len(&p.input)
                    .unwrap()
                    .unwrap();
                assert_eq!(Some(len as i64), p.rating);
                assert!(len >= 110);
            }
        }
    }
}

#[test]
fn csv_writer_reproduces_the_real_files() {
    let Some(dir) = data_dir("csv_writer_reproduces_the_real_files") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for rel in ["maze/test.csv", "sudoku/hard_forum_hardest_1106.csv"] {
        let src = dir.join(rel);
        let (_, puzzles) = csv::read_hf_csv(&src).unwrap();
        let out = tmp.path().join("copy.csv");
        csv::write_hf_csv(&out, &puzzles).unwrap();
        assert!(
            std::fs::read(&src).unwrap() == std::fs::read(&out).unwrap(),
            "{rel} is not reproduced byte for byte"
        );
    }
}

#[test]
fn puzzles_check_reports_the_counts() {
    let Some(dir) = data_dir("puzzles_check_reports_the_counts") else {
        return;
    };
    let bin = env!("CARGO_BIN_EXE_trm-tui");
    let expect: Vec<(String, String)> = ARC_FILES
        .iter()
        .map(|(rel, n, _, _)| (rel.to_string(), format!("count:  {n} tasks")))
        .chain(CSV_FILES.iter().map(|(rel, kind, n)| {
            let what = if matches!(kind, PuzzleKind::Maze { .. }) {
                "mazes"
            } else {
                "puzzles"
            };
            (rel.to_string(), format!("count:  {n} {what}"))
        }))
        .collect();
    for (rel, line) in expect {
        let out = Command::new(bin)
            .args(["puzzles", "check"])
            .arg(dir.join(&rel))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(&line), "{rel}: {stdout}");
    }
}

#[test]
fn real_arc_build_inverts_to_the_original_test_grids() {
    let Some(dir) = data_dir("real_arc_build_inverts_to_the_original_test_grids") else {
        return;
    };
    let path = dir.join("arc2/evaluation.json");
    let cfg = ArcBuildConfig {
        subsets: vec![("evaluation2".into(), path.clone())],
        test_set_name: "evaluation2".into(),
        num_aug: 4,
        seed: 42,
    };
    let built = build_arc(&cfg, Output::Memory).unwrap();
    let tasks = arc::read_tasks(&path).unwrap();
    let test = built.test.dataset.as_ref().unwrap();
    assert_eq!(test.num_groups(), 120);
    let mut checked = 0;
    for p in 0..test.num_puzzles() {
        let name = &built.identifiers[test.puzzle_identifiers[p] as usize];
        let (task_id, aug) = ArcAug::parse_name(name).unwrap();
        let task = tasks.iter().find(|t| t.id == task_id).unwrap();
        let (lo, hi) = (
            test.puzzle_indices[p] as usize,
            test.puzzle_indices[p + 1] as usize,
        );
        assert_eq!(hi - lo, task.test.len());
        for (k, e) in (lo..hi).enumerate() {
            let (inp, lab) = test.example(e);
            let grid = arc::crop_top_left(inp).unwrap();
            assert_eq!(aug.invert(&grid), task.test[k].input, "{name}");
            // Labels: PAD is ignored (-100); the crop sees colours only.
            let lab: Vec<i32> = lab.iter().map(|&t| t.max(0)).collect();
            let out = arc::crop_top_left(&lab).unwrap();
            assert_eq!(Some(aug.invert(&out)), task.test[k].output, "{name}");
            checked += 1;
        }
    }
    assert_eq!(checked, test.num_examples());
    assert!(test.num_puzzles() > 120 && checked > 167);
}
