//! Unit tests of the Train pane (a real smoke run on the trainer thread).

use super::*;
use crossterm::event::{KeyCode, KeyModifiers};
use std::time::{Duration, Instant};

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

#[test]
fn form_validates_as_typed_and_diffs_against_the_preset() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = TrainPane::new(&Paths::under(dir.path()));
    let mut ctx = Ctx::default();
    assert_eq!(p.preset_name(), "smoke");
    p.handle_key(key(KeyCode::Char('l')), &mut ctx);
    let lr = p.fields().iter().position(|(k, _)| k == "lr").unwrap();
    p.field_sel = lr;
    p.handle_key(key(KeyCode::Enter), &mut ctx);
    assert!(p.capturing_input());
    for _ in 0..10 {
        p.handle_key(key(KeyCode::Backspace), &mut ctx);
    }
    p.handle_key(key(KeyCode::Char('x')), &mut ctx);
    assert!(p
        .edit
        .as_ref()
        .unwrap()
        .error
        .as_ref()
        .unwrap()
        .contains("expected a number"));
    p.handle_key(key(KeyCode::Backspace), &mut ctx);
    p.handle_key(key(KeyCode::Char('-')), &mut ctx);
    p.handle_key(key(KeyCode::Char('1')), &mut ctx);
    assert!(
        p.edit
            .as_ref()
            .unwrap()
            .error
            .as_ref()
            .unwrap()
            .contains("lr"),
        "whole-config validation"
    );
    p.handle_key(key(KeyCode::Backspace), &mut ctx);
    p.handle_key(key(KeyCode::Backspace), &mut ctx);
    for c in "0.01".chars() {
        p.handle_key(key(KeyCode::Char(c)), &mut ctx);
    }
    assert_eq!(p.edit.as_ref().unwrap().error, None);
    p.handle_key(key(KeyCode::Enter), &mut ctx);
    assert!(!p.capturing_input());
    assert_eq!(p.config.lr, 0.01);
    assert_eq!(p.config.diff(&p.base).len(), 1);
    p.handle_key(key(KeyCode::Char('u')), &mut ctx);
    assert!(p.config.diff(&p.base).is_empty());
    // Esc cancels an edit.
    p.handle_key(key(KeyCode::Enter), &mut ctx);
    p.handle_key(key(KeyCode::Char('9')), &mut ctx);
    p.handle_key(key(KeyCode::Esc), &mut ctx);
    assert!(p.config.diff(&p.base).is_empty());
    // Device and preset switching.
    p.handle_key(key(KeyCode::Char('d')), &mut ctx);
    assert_eq!(p.config.device, "auto");
    p.handle_key(key(KeyCode::Char('h')), &mut ctx);
    p.handle_key(key(KeyCode::Char('j')), &mut ctx);
    assert_eq!(p.preset_name(), p.presets[1]);
    assert_eq!(p.config.device, p.base.device);
    // Nothing to pause without a run.
    p.handle_key(key(KeyCode::Char('p')), &mut ctx);
    assert!(matches!(
        ctx.actions.last(),
        Some(Action::Status(Level::Warn, _))
    ));
}

fn status_text(p: &TrainPane) -> String {
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 10)).unwrap();
    term.draw(|f| p.draw_status(f, f.area(), &Theme::default_dark()))
        .unwrap();
    let buf = term.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_paper_preset_without_its_dataset_shows_the_fetch_and_build_commands() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::under(dir.path());
    let mut p = TrainPane::new(&paths);
    let i = p.presets.iter().position(|n| *n == "maze-hard").unwrap();
    p.select_preset(i);
    let text = status_text(&p);
    assert!(text.contains("data missing"), "{text}");
    assert!(text.contains("trm-tui data fetch maze-hard"), "{text}");
    assert!(
        text.contains("trm-tui data build --preset maze-hard"),
        "{text}"
    );
    let mut ctx = Ctx::default();
    p.launch(&mut ctx);
    assert!(p.run.is_none());
    assert!(matches!(
        ctx.actions.last(),
        Some(Action::Status(Level::Error, m)) if m.contains("trm-tui data fetch maze-hard")
    ));
    // Once built where `data build --preset` writes it, the message goes.
    let built = paper::for_preset("maze-hard").unwrap().dir(&paths.data_dir);
    std::fs::create_dir_all(built.join("train")).unwrap();
    std::fs::write(built.join("train/dataset.json"), "{}").unwrap();
    assert!(!status_text(&p).contains("data missing"));
}

#[test]
fn status_shows_cpu_use_and_a_gpu_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = TrainPane::new(&Paths::under(dir.path()));
    p.progress = Some(Progress {
        step: 5,
        total_steps: 10,
        epoch: 0.5,
        elapsed_s: 1.0,
        eta_s: Some(1.0),
        samples_per_s: 10.0,
        lr: 1e-3,
        device: "cpu".into(),
        memory_bytes: Some(50 << 20),
        cpu_percent: Some(150.0),
        gpu: None,
        gpu_note: None,
    });
    let t = status_text(&p);
    assert!(t.contains("cpu 150%"), "{t}");
    assert!(t.contains("GPU n/a"), "{t}");
    // On a GPU without NVML: the device and why there are no figures.
    if let Some(pr) = &mut p.progress {
        pr.device = "cuda:0".into();
        pr.gpu = Some(crate::telemetry::GpuStats {
            device: "cuda:0".into(),
            ..Default::default()
        });
        pr.gpu_note = Some("NVML unavailable: libnvidia-ml.so.1 not found".into());
    }
    let t = status_text(&p);
    assert!(t.contains("GPU cuda:0 · n/a (NVML unavailable"), "{t}");
    // With NVML figures.
    if let Some(pr) = &mut p.progress {
        pr.gpu = Some(crate::telemetry::GpuStats {
            device: "cuda:0".into(),
            name: Some("NVIDIA H200".into()),
            util_percent: Some(87),
            memory_used_bytes: Some(12 << 30),
            memory_total_bytes: Some(140 << 30),
            process_memory_bytes: Some(10 << 30),
            temperature_c: Some(54),
            power_w: Some(310.0),
        });
        pr.gpu_note = None;
    }
    let t = status_text(&p);
    assert!(
        t.contains("GPU cuda:0 NVIDIA H200 · util 87% · mem 12.0 GiB/140.0 GiB · this process 10.0 GiB · 54°C · 310 W"),
        "{t}"
    );
}

#[test]
fn smoke_run_pauses_resumes_and_stops_with_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::under(dir.path());
    let mut p = TrainPane::new(&paths);
    let mut ctx = Ctx::default();
    p.config.max_steps = 100_000; // long enough to control it
    p.config.device = "auto".into(); // the CPU here, with a warning in the status line
    p.handle_key(key(KeyCode::Char('r')), &mut ctx);
    assert!(p.is_active());
    assert!(ctx.actions.iter().any(|a| matches!(a, Action::WatchRun(_))));
    let wait = |p: &mut TrainPane, ctx: &mut Ctx, what: &dyn Fn(&TrainPane) -> bool| {
        let t = Instant::now();
        while !what(p) {
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "timeout; state {:?}",
                p.state
            );
            p.poll(ctx);
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait(&mut p, &mut ctx, &|p| {
        p.progress.as_ref().is_some_and(|x| x.step >= 2)
    });
    if !crate::train::device::CUDA_BUILT {
        assert_eq!(p.progress.as_ref().unwrap().device, "cpu");
        assert!(
            ctx.actions.iter().any(|a| matches!(a,
                Action::Status(Level::Warn, m) if m.starts_with("device auto:") && m.ends_with("using the CPU"))),
            "the fallback is in the status line"
        );
    }
    p.handle_key(key(KeyCode::Char('p')), &mut ctx);
    wait(&mut p, &mut ctx, &|p| p.state == TrainerState::Paused);
    p.handle_key(key(KeyCode::Char('p')), &mut ctx);
    wait(&mut p, &mut ctx, &|p| p.state == TrainerState::Running);
    p.handle_key(key(KeyCode::Char('S')), &mut ctx);
    wait(&mut p, &mut ctx, &|p| p.state == TrainerState::Finished);
    let run = p.run_dir.clone().unwrap();
    assert!(
        RunDir::new(&run).latest_checkpoint().is_some(),
        "stop wrote a checkpoint"
    );
    assert!(RunDir::new(&run).metrics_path().is_file());
    wait(&mut p, &mut ctx, &|p| !p.is_active());
}
