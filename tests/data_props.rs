//! Property tests: tokenisation round trips for every kind, every augmentation undone by its
//! inverse, Sudoku shuffles keep solutions valid, maze labels stay shortest paths under the
//! dihedral transforms, and the parsers never panic on arbitrary input.

use proptest::prelude::*;
use trm_tui::data::augment::{self, ArcAug, SudokuShuffle};
use trm_tui::data::maze::{self, MazeParams, PathCheck};
use trm_tui::data::sudoku::{self, stream_rng, Geometry, Solver};
use trm_tui::data::{arc, csv, npy, Grid, PuzzleKind};

fn grid_strategy(max_side: usize, values: std::ops::Range<u8>) -> impl Strategy<Value = Grid> {
    (1..=max_side, 1..=max_side).prop_flat_map(move |(r, c)| {
        proptest::collection::vec(values.clone(), r * c)
            .prop_map(move |cells| Grid::new(r, c, cells))
    })
}

fn sudoku_size() -> impl Strategy<Value = usize> {
    prop_oneof![Just(4usize), Just(6usize), Just(9usize)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sudoku_tokens_round_trip(size in sudoku_size(), seed in any::<u64>()) {
        let geo = Geometry::new(size).unwrap();
        let mut rng = stream_rng(seed, 0);
        let mut g = Solver::new(geo).random_solution(&mut rng);
        for (i, c) in g.cells.iter_mut().enumerate() {
            if (seed >> (i % 64)) & 1 == 1 { *c = 0; }
        }
        let kind = PuzzleKind::Sudoku { size };
        let t = kind.encode(&g);
        prop_assert_eq!(t.len(), kind.seq_len());
        prop_assert!(t.iter().all(|&x| x >= 1 && (x as usize) < kind.vocab_size()));
        prop_assert_eq!(kind.decode(&t).unwrap(), g);
    }

    #[test]
    fn maze_tokens_round_trip(g in grid_strategy(30, 0..5)) {
        let g = Grid::new(g.rows, g.cols, g.cells.iter().map(|&i| maze::CHARSET[i as usize]).collect());
        let kind = PuzzleKind::Maze { rows: g.rows, cols: g.cols };
        let t = kind.encode(&g);
        prop_assert!(t.iter().all(|&x| (1..6).contains(&x)));
        prop_assert_eq!(kind.decode(&t).unwrap(), g);
    }

    #[test]
    fn arc_canvas_round_trip(g in grid_strategy(30, 0..10), dr in 0usize..30, dc in 0usize..30) {
        let t: Vec<i32> = arc::encode_canvas(&g, 0, 0).into_iter().map(i32::from).collect();
        prop_assert_eq!(arc::crop_top_left(&t).unwrap(), g.clone());
        prop_assert_eq!(PuzzleKind::Arc.decode(&t).unwrap(), g.clone());
        let (r, c) = (dr.min(30 - g.rows), dc.min(30 - g.cols));
        let shifted: Vec<i32> = arc::encode_canvas(&g, r, c).into_iter().map(i32::from).collect();
        prop_assert_eq!(arc::decode_canvas(&shifted).unwrap(), g);
    }

    #[test]
    fn dihedral_inverse_is_identity(g in grid_strategy(12, 0..10), t in 0u8..8) {
        prop_assert_eq!(augment::inverse_dihedral(&augment::dihedral(&g, t), t), g.clone());
        // The inverse table: applying t then DIHEDRAL_INVERSE[t] is the identity.
        let inv = augment::DIHEDRAL_INVERSE[t as usize];
        prop_assert_eq!(augment::dihedral(&augment::dihedral(&g, t), inv), g);
    }

    #[test]
    fn arc_aug_inverse_and_name(g in grid_strategy(30, 0..10), seed in any::<u64>()) {
        let aug = ArcAug::random(&mut stream_rng(seed, 1));
        prop_assert_eq!(aug.invert(&aug.apply(&g)), g.clone());
        let black_before = g.cells.iter().filter(|&&c| c == 0).count();
        prop_assert_eq!(aug.apply(&g).cells.iter().filter(|&&c| c == 0).count(), black_before);
        let name = aug.name("task");
        prop_assert_eq!(ArcAug::parse_name(&name), Some(("task", aug)));
    }

    #[test]
    fn sudoku_shuffle_inverts_and_keeps_solutions_valid(size in sudoku_size(), seed in any::<u64>()) {
        let geo = Geometry::new(size).unwrap();
        let solver = Solver::new(geo);
        let mut rng = stream_rng(seed, 2);
        let solution = solver.random_solution(&mut rng);
        let mut puzzle = solution.clone();
        for i in 0..puzzle.cells.len() {
            if i % 3 != 0 { puzzle.cells[i] = 0; }
        }
        let s = SudokuShuffle::random(&geo, &mut rng);
        let (sp, ss) = (s.apply(&puzzle), s.apply(&solution));
        prop_assert_eq!(s.invert(&sp), puzzle.clone());
        prop_assert_eq!(s.invert(&ss), solution);
        prop_assert!(sudoku::solution_error(&geo, &ss).is_none());
        prop_assert!(sudoku::is_solution_of(&geo, &sp, &ss));
        prop_assert_eq!(solver.count_solutions(&sp, 3), solver.count_solutions(&puzzle, 3));
    }

    #[test]
    fn maze_labels_stay_shortest_under_dihedral(seed in 0u64..1000, side in 5usize..12) {
        let params = MazeParams::square(side, side);
        let m = maze::generate(&params, &mut stream_rng(seed, 3)).unwrap();
        for t in 0..8u8 {
            let q = augment::dihedral(&m.question, t);
            let a = augment::dihedral(&m.answer, t);
            prop_assert_eq!(maze::check_path(&q, &a), PathCheck::Correct);
            prop_assert_eq!(maze::shortest_path_len(&q).unwrap(), Some(m.path_len));
        }
    }

    // Parsers: arbitrary bytes never panic, and errors name the file.
    #[test]
    fn csv_parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400), prefix in 0usize..3) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fuzz.csv");
        let mut bytes = match prefix {
            0 => b"source,question,answer,rating\n".to_vec(),
            1 => b"\xEF\xBB\xBFsource,question,answer,rating\r\n".to_vec(),
            _ => Vec::new(),
        };
        bytes.extend(body);
        std::fs::write(&p, &bytes).unwrap();
        if let Err(e) = csv::read_hf_csv(&p) {
            prop_assert!(e.to_string().contains("fuzz.csv"), "{}", e);
        }
    }

    #[test]
    fn csv_parser_survives_mutated_rows(pos in 0usize..81, ch in any::<char>(), cut in 0usize..90) {
        let q = "4...3.......6..8..........1....5..9..8....6...7.2........1.27..5.3....4.9........";
        let a = "468931527751624839392578461134756298289413675675289314846192753513867942927345186";
        let mut chars: Vec<char> = q.chars().collect();
        chars[pos] = ch;
        let mutated: String = chars.into_iter().collect();
        let answer: String = a.chars().take(cut).collect();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        std::fs::write(&p, format!("source,question,answer,rating\nx,{mutated},{answer},1\n")).unwrap();
        match csv::read_hf_csv(&p) {
            Ok((_, puzzles)) => prop_assert_eq!(puzzles.len(), 1),
            Err(e) => prop_assert!(e.to_string().contains("m.csv"), "{}", e),
        }
    }

    #[test]
    fn arc_parser_never_panics(text in "[\\[\\]{}0-9,:\" a-z-]{0,200}") {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.json");
        std::fs::write(&p, format!("{{\"x\": {{\"train\": [{{\"input\": {text}, \"output\": [[1]]}}], \"test\": []}}}}")).unwrap();
        if let Err(e) = arc::read_arc_file(&p) {
            prop_assert!(e.to_string().contains("t.json"), "{}", e);
        }
    }

    #[test]
    fn npy_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), keep in 0usize..200) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        npy::write_i32(&p, Some(2), &[1, 2, 3, 4, 5, 6]).unwrap();
        let good = std::fs::read(&p).unwrap();
        // A truncated valid file, and arbitrary bytes after a valid magic.
        std::fs::write(&p, &good[..keep.min(good.len() - 1)]).unwrap();
        prop_assert!(npy::read_i32(&p).is_err());
        let mut junk = b"\x93NUMPY\x01\x00".to_vec();
        junk.extend(bytes);
        std::fs::write(&p, &junk).unwrap();
        if let Err(e) = npy::read_i32(&p) {
            prop_assert!(e.to_string().contains("a.npy"), "{}", e);
        }
    }
}

#[test]
fn npy_huge_shape_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.npy");
    let dict =
        "{'descr': '<i4', 'fortran_order': False, 'shape': (99999999999999999, 999999999999), }\n";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    std::fs::write(&p, &bytes).unwrap();
    let err = npy::read_i32(&p).unwrap_err().to_string();
    assert!(
        err.contains("huge.npy") && err.contains("too large"),
        "{err}"
    );
}
