//! Unit tests of the Experiments pane.

use super::*;
use crossterm::event::{KeyCode, KeyModifiers};

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

#[test]
fn mean_series_keeps_steps_every_seed_reached() {
    let a = vec![(1.0, 1.0), (2.0, 3.0), (3.0, 5.0)];
    let b = vec![(1.0, 3.0), (2.0, f64::NAN)];
    assert_eq!(mean_series(&[a.clone(), b]), vec![(1.0, 2.0)]);
    assert_eq!(mean_series(&[a.clone(), Vec::new()]), a);
    assert!(mean_series(&[]).is_empty());
}

#[test]
fn lists_experiment_folders_and_handles_keys() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::under(dir.path());
    let mut p = ExperimentsPane::new(&paths, 0.6);
    assert!(p.entries.is_empty() && p.loaded.is_none());
    let e = paths.runs_dir.join("experiments").join("abc");
    std::fs::create_dir_all(&e).unwrap();
    std::fs::write(
        e.join("experiment.toml"),
        "name = \"abc\"\nbase = \"smoke\"\n[[variant]]\nname = \"a\"\n[[variant]]\nname = \"b\"\n",
    )
    .unwrap();
    // A folder without experiment.toml is not an experiment.
    std::fs::create_dir_all(paths.runs_dir.join("experiments").join("junk")).unwrap();
    let mut ctx = Ctx::default();
    p.handle_key(key(KeyCode::Char('r')), &mut ctx);
    assert_eq!(p.entries.len(), 1);
    let r = p.report().unwrap();
    assert_eq!(r.variants.len(), 2);
    assert_eq!(r.progress(), (0, 2));
    p.handle_key(key(KeyCode::Right), &mut ctx);
    assert_eq!(p.selected_variant(), Some("b"));
    p.handle_key(key(KeyCode::Char(' ')), &mut ctx);
    assert_eq!(p.hidden, vec!["b".to_string()]);
    p.handle_key(key(KeyCode::Char('s')), &mut ctx);
    assert_eq!(p.seeds, SeedMode::Each);
    p.handle_key(key(KeyCode::Char('L')), &mut ctx);
    assert_eq!(p.loss, LossSplit::Eval);
    // No run has metrics: Enter says so instead of switching panes.
    ctx.actions.clear();
    p.handle_key(key(KeyCode::Enter), &mut ctx);
    assert!(matches!(
        ctx.actions.as_slice(),
        [Action::Status(Level::Warn, _)]
    ));
    ctx.actions.clear();
    p.handle_key(key(KeyCode::Char('o')), &mut ctx);
    assert!(matches!(
        ctx.actions.as_slice(),
        [Action::Status(Level::Warn, _)]
    ));
    // Unchanged files are not read again.
    assert!(!p.reload(false));
    p.handle_key(key(KeyCode::Char('w')), &mut ctx);
    assert!(e.join("report.md").is_file() && e.join("report.csv").is_file());
}
