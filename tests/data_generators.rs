//! Generators and builders: unique Sudokus of the requested size and difficulty, mazes with S,
//! G and a shortest-path label of at least the requested length, reproducibility by seed, and
//! datasets whose every example is valid, split by source puzzle and readable back.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use trm_tui::data::augment::ArcAug;
use trm_tui::data::build::{
    build_arc, build_maze, build_sudoku, load_source, ArcBuildConfig, GridBuildConfig, Output,
    SourceOptions,
};
use trm_tui::data::dataset::{load_built_dataset, Dataset};
use trm_tui::data::maze::{self, MazeParams, PathCheck};
use trm_tui::data::sudoku::{self, Difficulty, Geometry, Solver};
use trm_tui::data::{arc, csv, PuzzleKind};

const BIN: &str = env!("CARGO_BIN_EXE_trm-tui");

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn sudokus_are_unique_with_the_requested_size_and_difficulty() {
    let cases = [
        (4, Difficulty::Easy),
        (6, Difficulty::Easy),
        (6, Difficulty::Medium),
        (6, Difficulty::Hard),
        (9, Difficulty::Easy),
        (9, Difficulty::Medium),
        (9, Difficulty::Hard),
        (9, Difficulty::Extreme),
    ];
    for (size, difficulty) in cases {
        let geo = Geometry::new(size).unwrap();
        let solver = Solver::new(geo);
        let gens = sudoku::generate_many(size, difficulty, 4, 11).unwrap();
        assert_eq!(gens.len(), 4);
        for g in gens {
            assert_eq!((g.puzzle.rows, g.puzzle.cols), (size, size));
            assert_eq!(
                solver.count_solutions(&g.puzzle, 10),
                1,
                "{size} {difficulty}"
            );
            assert!(sudoku::is_solution_of(&geo, &g.puzzle, &g.solution));
            let rating = solver.rate(&g.puzzle);
            assert_eq!(rating.difficulty, Some(difficulty));
            assert_eq!(rating, g.rating);
            if difficulty >= Difficulty::Hard {
                assert!(rating.branch_nodes >= 1);
            }
            if difficulty == Difficulty::Extreme {
                assert!(rating.branch_nodes >= geo.extreme_branch_nodes());
            }
        }
    }
}

#[test]
fn unreachable_difficulty_is_an_error_not_a_hang() {
    let err = sudoku::generate_many(4, Difficulty::Hard, 1, 0).unwrap_err();
    assert!(err.to_string().contains("4x4"), "{err}");
    let err = sudoku::generate_many(5, Difficulty::Easy, 1, 0).unwrap_err();
    assert!(err.to_string().contains("expected 4, 6 or 9"), "{err}");
}

#[test]
fn mazes_have_endpoints_and_a_shortest_label_of_the_minimum_length() {
    for (side, min_path) in [(9, 25), (15, 45), (30, 110)] {
        let params = MazeParams::square(side, min_path);
        for m in maze::generate_many(&params, 6, 5).unwrap() {
            assert_eq!((m.question.rows, m.question.cols), (side, side));
            let (s, g) = maze::endpoints(&m.question).unwrap();
            assert_ne!(s, g);
            let len = maze::shortest_path_len(&m.question).unwrap().unwrap();
            assert_eq!(len, m.path_len);
            assert!(len >= min_path);
            assert_eq!(maze::check_path(&m.question, &m.answer), PathCheck::Correct);
            assert_eq!(maze::example_error(&m.question, &m.answer), None);
            let walls = m.question.cells.iter().filter(|&&c| c == b'#').count() as f64;
            assert!((0.2..0.6).contains(&(walls / (side * side) as f64)));
        }
    }
    assert!(maze::generate_many(&MazeParams::square(3, 10), 1, 0).is_err());
    assert_eq!(maze::default_min_path(30, 30), 110);
}

fn gen_file(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let out = dir.join(name);
    let mut all = vec!["puzzles", "gen"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let o = run(&all);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(out).unwrap()
}

#[test]
fn the_same_seed_gives_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = [
        "sudoku",
        "--size",
        "6",
        "--difficulty",
        "hard",
        "--count",
        "8",
        "--seed",
        "3",
    ];
    assert_eq!(gen_file(d, "a.csv", &s), gen_file(d, "b.csv", &s));
    let mut other = s;
    other[8] = "4";
    assert_ne!(gen_file(d, "a.csv", &s), gen_file(d, "c.csv", &other));
    let m = ["maze", "--size", "12", "--count", "5", "--seed", "9"];
    let bytes = gen_file(d, "m.csv", &m);
    assert_eq!(bytes, gen_file(d, "m2.csv", &m));
    // The generated files read back with their kind and count.
    let (kind, puzzles) = csv::read_hf_csv(&d.join("m.csv")).unwrap();
    assert_eq!(kind, PuzzleKind::Maze { rows: 12, cols: 12 });
    assert_eq!(puzzles.len(), 5);
    let (kind, puzzles) = csv::read_hf_csv(&d.join("a.csv")).unwrap();
    assert_eq!(kind, PuzzleKind::Sudoku { size: 6 });
    assert_eq!(puzzles.len(), 8);
}

fn puzzles_of_group(ds: &Dataset, g: usize) -> std::ops::Range<usize> {
    ds.group_indices[g] as usize..ds.group_indices[g + 1] as usize
}

#[test]
fn sudoku_build_is_valid_split_by_source_and_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    gen_file(
        d,
        "src.csv",
        &[
            "sudoku",
            "--size",
            "4",
            "--difficulty",
            "easy",
            "--count",
            "40",
            "--seed",
            "1",
        ],
    );
    let cfg = GridBuildConfig {
        train_files: vec![d.join("src.csv")],
        test_fraction: 0.25,
        num_aug: 20,
        seed: 7,
        ..GridBuildConfig::default()
    };
    let mem = build_sudoku(&cfg, Output::Memory).unwrap();
    let train = mem.train.dataset.as_ref().unwrap();
    let test = mem.test.dataset.as_ref().unwrap();
    assert_eq!(test.num_groups(), 10);
    assert_eq!(train.num_groups(), 30);
    assert_eq!(train.num_puzzles(), 30 * 21);
    assert_eq!(mem.train.meta.vocab_size, 6);
    assert_eq!(mem.train.meta.seq_len, 16);
    let geo = Geometry::new(4).unwrap();
    let solver = Solver::new(geo);
    let decode = |t: &[i32]| sudoku::decode(4, t).unwrap();
    for e in 0..train.num_examples() {
        let (i, l) = train.example(e);
        let (q, a) = (decode(i), decode(l));
        assert!(sudoku::is_solution_of(&geo, &q, &a));
        assert_eq!(solver.count_solutions(&q, 2), 1);
    }
    // Split by source puzzle: no augmentation of a test puzzle is in train.
    let clues = |t: &[i32]| t.iter().filter(|&&x| x != 1).count();
    let test_inputs: HashSet<Vec<i32>> = (0..test.num_examples())
        .map(|e| test.example(e).0.to_vec())
        .collect();
    for g in 0..train.num_groups() {
        let first = train.puzzle_indices[puzzles_of_group(train, g).start] as usize;
        for p in puzzles_of_group(train, g) {
            let e = train.puzzle_indices[p] as usize;
            assert!(!test_inputs.contains(train.example(e).0));
            // Every variant of a group keeps its original's number of clues.
            assert_eq!(clues(train.example(e).0), clues(train.example(first).0));
        }
    }
    // On disk: the same data, and the same bytes for the same seed.
    build_sudoku(&cfg, Output::Dir(&d.join("a"))).unwrap();
    build_sudoku(&cfg, Output::Dir(&d.join("b"))).unwrap();
    let loaded = load_built_dataset(&d.join("a")).unwrap();
    assert_eq!(&loaded.train.1, train);
    assert_eq!(&loaded.test.1, test);
    assert_eq!(loaded.train.0, mem.train.meta);
    assert_eq!(loaded.identifiers, vec!["<blank>".to_string()]);
    for f in [
        "train/all__inputs.npy",
        "train/all__labels.npy",
        "test/all__inputs.npy",
        "train/dataset.json",
    ] {
        assert_eq!(
            std::fs::read(d.join("a").join(f)).unwrap(),
            std::fs::read(d.join("b").join(f)).unwrap()
        );
    }
    // load_source gives the same splits from the CSV and from the folder.
    let opts = SourceOptions {
        num_aug: 20,
        test_fraction: 0.25,
        seed: 7,
    };
    let from_csv = load_source(&d.join("src.csv"), &opts).unwrap();
    assert_eq!(from_csv.kind, Some(PuzzleKind::Sudoku { size: 4 }));
    assert_eq!(&from_csv.train.1, train);
    let from_dir = load_source(&d.join("a"), &opts).unwrap();
    assert_eq!(from_dir.kind, Some(PuzzleKind::Sudoku { size: 4 }));
    assert_eq!(&from_dir.test.1, test);
}

#[test]
fn maze_build_keeps_shortest_labels_and_test_files_leave_train() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    gen_file(
        d,
        "train.csv",
        &[
            "maze",
            "--size",
            "10",
            "--min-path",
            "20",
            "--count",
            "12",
            "--seed",
            "1",
        ],
    );
    gen_file(
        d,
        "test.csv",
        &[
            "maze",
            "--size",
            "10",
            "--min-path",
            "20",
            "--count",
            "4",
            "--seed",
            "2",
        ],
    );
    // Put two test mazes into the train sources too: they must be dropped from train.
    let mut train_src = std::fs::read_to_string(d.join("train.csv")).unwrap();
    let test_src = std::fs::read_to_string(d.join("test.csv")).unwrap();
    for line in test_src.lines().skip(1).take(2) {
        train_src.push_str(line);
        train_src.push('\n');
    }
    std::fs::write(d.join("train.csv"), train_src).unwrap();
    let cfg = GridBuildConfig {
        train_files: vec![d.join("train.csv")],
        test_files: vec![d.join("test.csv")],
        num_aug: 7,
        seed: 3,
        ..GridBuildConfig::default()
    };
    let b = build_maze(&cfg, Output::Memory).unwrap();
    assert_eq!(b.report.test_overlap_dropped, 2);
    let train = b.train.dataset.as_ref().unwrap();
    assert_eq!(train.num_groups(), 12);
    assert_eq!(b.test.dataset.as_ref().unwrap().num_groups(), 4);
    assert!(train.num_puzzles() > 12 * 6);
    for e in 0..train.num_examples() {
        let (i, l) = train.example(e);
        let q = maze::decode(10, 10, i).unwrap();
        let a = maze::decode(10, 10, l).unwrap();
        assert_eq!(maze::check_path(&q, &a), PathCheck::Correct);
    }
    let too_many = GridBuildConfig { num_aug: 8, ..cfg };
    assert!(build_maze(&too_many, Output::Memory)
        .unwrap_err()
        .to_string()
        .contains("at most 7"));
}

const TINY_ARC: &str = r#"{
 "aaa": {"train": [{"input": [[1,2],[3,4]], "output": [[4,3],[2,1]]},
                   {"input": [[5,0,0]], "output": [[0,0,5]]}],
         "test": [{"input": [[6,7]], "output": [[7,6]]}]},
 "bbb": {"train": [{"input": [[1]], "output": [[2]]}],
         "test": [{"input": [[3,3],[3,0]], "output": [[0,3],[3,3]]}, {"input": [[9]], "output": [[8]]}]}
}"#;

#[test]
fn arc_build_follows_the_official_split_policy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ev.json"), TINY_ARC).unwrap();
    std::fs::write(
        d.join("tr.json"),
        TINY_ARC.replace("aaa", "ccc").replace("bbb", "ddd"),
    )
    .unwrap();
    let cfg = ArcBuildConfig {
        subsets: vec![
            ("training".into(), d.join("tr.json")),
            ("evaluation".into(), d.join("ev.json")),
        ],
        test_set_name: "evaluation".into(),
        num_aug: 3,
        seed: 42,
    };
    let out = d.join("built");
    let b = build_arc(&cfg, Output::Dir(&out)).unwrap();
    let loaded = load_built_dataset(&out).unwrap();
    let (train, test) = (&loaded.train.1, &loaded.test.1);
    assert_eq!(loaded.identifiers, b.identifiers);
    assert_eq!(loaded.identifiers.len(), 1 + 4 * 4);
    assert_eq!(loaded.train.0.num_puzzle_identifiers, 17);
    assert_eq!(train.num_groups(), 4);
    assert_eq!(test.num_groups(), 2);
    // Train: demos of every task (aaa 2, bbb 1, ccc 2, ddd 1), plus the test pairs of the
    // training subset (ccc 1, ddd 2); 4 variants each.
    let train_examples = (2 + 1 + (2 + 1) + (1 + 2)) * 4;
    assert_eq!(train.num_examples(), train_examples);
    // Test: the evaluation tasks' test pairs, at the origin, each variant with its train id.
    assert_eq!(test.num_examples(), (1 + 2) * 4);
    let train_ids: HashSet<i32> = train.puzzle_identifiers.iter().copied().collect();
    let tasks = arc::read_tasks(&d.join("ev.json")).unwrap();
    for p in 0..test.num_puzzles() {
        let id = test.puzzle_identifiers[p];
        assert!(train_ids.contains(&id));
        let (task, aug) = ArcAug::parse_name(&loaded.identifiers[id as usize]).unwrap();
        let task = tasks.iter().find(|t| t.id == task).unwrap();
        for (k, e) in (test.puzzle_indices[p]..test.puzzle_indices[p + 1]).enumerate() {
            let (i, _) = test.example(e as usize);
            assert_eq!(
                aug.invert(&arc::crop_top_left(i).unwrap()),
                task.test[k].input
            );
        }
    }
    // Train examples decode (wherever translated) to the augmented demos.
    for e in 0..train.num_examples() {
        let (i, l) = train.example(e);
        assert!(arc::decode_canvas(i).unwrap().rows >= 1);
        let l: Vec<i32> = l.iter().map(|&t| t.max(0)).collect();
        assert!(arc::decode_canvas(&l).unwrap().rows >= 1);
    }
    let tp = arc::read_tasks(&out.join("test_puzzles.json")).unwrap();
    assert_eq!(tp.len(), 2);
    assert!(tp.iter().all(|t| t.id == "aaa" || t.id == "bbb"));
}

#[test]
fn shipped_puzzle_sets_are_reproduced_by_their_readme_commands() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("puzzles/README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for line in readme
        .lines()
        .filter(|l| l.starts_with("trm-tui puzzles gen "))
    {
        let words: Vec<&str> = line.split_whitespace().skip(1).collect();
        let out_at = words.iter().position(|&w| w == "--out").unwrap() + 1;
        let count_at = words.iter().position(|&w| w == "--count").unwrap() + 1;
        let shipped = root.join(words[out_at]);
        let tmp = dir.path().join(format!("{checked}.csv"));
        let mut args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        args[count_at] = "20".into();
        args[out_at] = tmp.to_str().unwrap().into();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        assert!(
            o.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let want: String = std::fs::read_to_string(&shipped)
            .unwrap()
            .lines()
            .take(21)
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(std::fs::read_to_string(&tmp).unwrap(), want, "{line}");
        checked += 1;
    }
    assert_eq!(checked, 12);
}
