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

/// The variant table keeps the columns that fit: every one on a wide terminal, the accuracy
/// ones on a narrow one (the load and throughput columns go first).
#[test]
fn the_table_drops_the_least_telling_columns_to_fit() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::under(dir.path());
    let e = paths.runs_dir.join("experiments").join("cols");
    let run = e.join("a-s0");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(
        e.join("experiment.toml"),
        "name = \"cols\"\nbase = \"smoke\"\n[set]\nmax_steps = 2\n[[variant]]\nname = \"a\"\n",
    )
    .unwrap();
    std::fs::write(
        run.join("metrics.jsonl"),
        "{\"step\":1,\"epoch\":0.0,\"wall_s\":1.0,\"split\":\"train\",\"samples_per_s\":100.0,\
         \"cpu_percent\":50.0,\"load_avg\":2.0,\"lm_loss\":1.0}\n\
         {\"step\":2,\"epoch\":0.0,\"wall_s\":2.0,\"split\":\"train\",\"samples_per_s\":100.0,\
         \"cpu_percent\":50.0,\"load_avg\":2.0,\"lm_loss\":1.0}\n\
         {\"step\":2,\"epoch\":0.0,\"wall_s\":2.0,\"split\":\"eval\",\"exact_accuracy\":0.5,\
         \"accuracy\":0.9}\n",
    )
    .unwrap();
    std::fs::write(
        run.join("events.jsonl"),
        "{\"kind\":\"start\",\"step\":0,\"time\":0}\n{\"kind\":\"finish\",\"step\":2,\"time\":1}\n",
    )
    .unwrap();
    let mut p = ExperimentsPane::new(&paths, 0.6);
    assert_eq!(p.report().unwrap().progress(), (1, 1));
    let mut header = |w: u16| -> String {
        let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, 30)).unwrap();
        term.draw(|f| p.draw(f, f.area(), &Theme::default_dark(), true))
            .unwrap();
        let buf = term.backend().buffer();
        (0..buf.area.height)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>())
            .find(|l| l.contains("variant"))
            .unwrap_or_default()
    };
    let wide = header(240);
    for col in ["best exact", "final exact", "samples/cpu-s", "cpu", "load"] {
        assert!(wide.contains(col), "{col}: {wide}");
    }
    let narrow = header(110);
    assert!(
        narrow.contains("final exact") && narrow.contains("95% CI"),
        "{narrow}"
    );
    assert!(
        !narrow.contains("load") && !narrow.contains("samples/cpu-s"),
        "{narrow}"
    );
}
