//! Unit tests of the Curves pane.

use super::*;
use crate::train::api::Split;
use crossterm::event::{KeyCode, KeyModifiers};
use std::io::Write;

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn write_run(root: &Path, name: &str, n: u64) -> PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let mut f = std::fs::File::create(d.join("metrics.jsonl")).unwrap();
    for s in 1..=n {
        writeln!(
            f,
            "{{\"step\":{s},\"epoch\":0,\"wall_s\":{},\"split\":\"train\",\"lm_loss\":{},\"accuracy\":null}}",
            s as f64 * 0.5,
            1.0 / s as f64
        )
        .unwrap();
    }
    d
}

#[test]
fn tails_runs_and_handles_view_keys() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::under(dir.path());
    let d = write_run(&paths.runs_dir, "a", 100);
    let mut p = CurvesPane::new(&paths, 0.6);
    let mut ctx = Ctx::default();
    assert_eq!(p.runs.len(), 1);
    assert_eq!(p.runs[0].records.len(), 100);
    assert_eq!(p.view(), (1.0, 100.0));
    // Growing file: tailed.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(d.join("metrics.jsonl"))
        .unwrap();
    writeln!(
        f,
        "{{\"step\":101,\"epoch\":0,\"wall_s\":51,\"split\":\"train\",\"lm_loss\":0.001}}"
    )
    .unwrap();
    assert_eq!(p.poll_all(), 1);
    p.handle_key(key(KeyCode::Char('+')), &mut ctx);
    let (a, b) = p.view();
    assert_eq!(b, 101.0);
    assert!((b - a - 50.0).abs() < 1e-9, "{a} {b}");
    p.handle_key(key(KeyCode::Char('h')), &mut ctx);
    assert!(!p.follow);
    let (a2, _) = p.view();
    assert!(a2 < a);
    p.handle_key(key(KeyCode::Char('0')), &mut ctx);
    assert_eq!(p.view().1, 101.0);
    p.handle_key(key(KeyCode::Char('=')), &mut ctx);
    assert_eq!(p.window, None);
    p.handle_key(key(KeyCode::Char(']')), &mut ctx);
    assert!((p.smoothing - 0.65).abs() < 1e-9);
    for _ in 0..30 {
        p.handle_key(key(KeyCode::Char(']')), &mut ctx);
    }
    assert!(p.smoothing <= 0.99);
    p.handle_key(key(KeyCode::Char('x')), &mut ctx);
    assert_eq!(p.x_axis, XAxis::Wall);
    assert_eq!(p.view(), (0.5, 51.0));
    p.handle_key(key(KeyCode::Char('L')), &mut ctx);
    assert!(p.log_y);
    p.handle_key(key(KeyCode::Left), &mut ctx);
    assert_eq!(p.metric, METRICS.len() - 1);
    // A null accuracy is a gap, not a zero.
    let s = p.runs[0].series("accuracy", Split::Train, XAxis::Step);
    assert_eq!(s.len(), 100);
    assert!(s.iter().all(|p| p.1.is_nan()));
    // New run appears on rescan; space hides it.
    write_run(&paths.runs_dir, "b", 3);
    p.handle_key(key(KeyCode::Char('r')), &mut ctx);
    assert_eq!(p.runs.len(), 2);
    p.handle_key(key(KeyCode::Char('j')), &mut ctx);
    p.handle_key(key(KeyCode::Char(' ')), &mut ctx);
    assert!(!p.runs[1].visible);
}

#[test]
fn csv_export_writes_every_metric() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::under(dir.path());
    write_run(&paths.runs_dir, "a", 3);
    let p = CurvesPane::new(&paths, 0.6);
    let files = p.export_csv().unwrap();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "step,epoch,wall_s,split,accuracy,lm_loss");
    assert_eq!(lines[1], "1,0,0.5,train,NaN,1");
    assert_eq!(lines.len(), 4);
}
