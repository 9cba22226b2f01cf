//! TUI benchmarks (plain harness, no extra crates):
//! 1. frame time at 200x60 of the Curves pane with four runs of 10,000 steps each (every metric,
//!    train and eval), in the all-metrics grid and in the single-metric view;
//! 2. frame time of the Solver pane (9x9 Sudoku, 16 steps);
//! 3. key-to-screen latency (key handled, workers polled, frame drawn) while a real `smoke`
//!    training run is going on the trainer thread.
//!
//! Frames are drawn on ratatui's `TestBackend` (the app's work; terminal I/O excluded).
//! Run: `cargo bench --bench tui_frame`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use trm_tui::tui::component::PaneId;
use trm_tui::tui::config::Paths;
use trm_tui::tui::{App, AppOptions};

fn write_run(root: &Path, name: &str, steps: u64, seed: f64) {
    let d = root.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let mut f = std::io::BufWriter::new(std::fs::File::create(d.join("metrics.jsonl")).unwrap());
    for s in 1..=steps {
        let x = s as f64;
        let n = ((x * 12.9898 + seed).sin() * 43758.5453).fract() * 0.1;
        writeln!(
            f,
            "{{\"step\":{s},\"epoch\":{},\"wall_s\":{},\"split\":\"train\",\"lm_loss\":{},\"q_halt_loss\":{},\"accuracy\":{},\"exact_accuracy\":{},\"q_halt_accuracy\":{},\"steps\":{},\"lr\":0.001,\"samples_per_s\":{}}}",
            x / 100.0,
            x * 0.1,
            2.0 * (-x / 3000.0).exp() + 0.1 + n,
            0.5 * (-x / 2000.0).exp() + n / 5.0,
            1.0 - (-x / 2500.0).exp(),
            1.0 - (-x / 6000.0).exp(),
            0.9 - n,
            3.0 - x / 10_000.0,
            100.0 + 100.0 * n
        )
        .unwrap();
        if s % 500 == 0 {
            writeln!(
                f,
                "{{\"step\":{s},\"epoch\":0,\"wall_s\":{},\"split\":\"eval\",\"lm_loss\":{},\"exact_accuracy\":{}}}",
                x * 0.1,
                1.8 * (-x / 3000.0).exp() + 0.2,
                1.0 - (-x / 7000.0).exp()
            )
            .unwrap();
        }
    }
}

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = v.iter().map(|d| ms(*d)).sum::<f64>() / v.len() as f64;
    format!(
        "mean {:7.2} ms  p50 {:7.2} ms  p95 {:7.2} ms  max {:7.2} ms  (n={})",
        mean,
        ms(v[v.len() / 2]),
        ms(v[(v.len() * 95 / 100).min(v.len() - 1)]),
        ms(v[v.len() - 1]),
        v.len()
    )
}

fn key(app: &mut App, c: KeyCode) {
    app.handle_key(KeyEvent::new(c, KeyModifiers::NONE));
}

fn frames(app: &mut App, term: &mut Terminal<TestBackend>, n: usize) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            term.draw(|f| app.draw(f)).unwrap();
            t.elapsed()
        })
        .collect()
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = Paths::under(tmp.path());
    for (i, name) in ["run-a", "run-b", "run-c", "run-d"].iter().enumerate() {
        write_run(&paths.runs_dir, name, 10_000, i as f64);
    }
    let opts = AppOptions {
        paths: paths.clone(),
        theme: Some("dark".into()),
        seed: 0,
        frozen_clock: true,
    };
    let mut app = App::new(opts.clone());
    app.start();
    app.wait_solver(Duration::from_secs(600));
    let mut term = Terminal::new(TestBackend::new(200, 60)).unwrap();
    println!(
        "trm-tui TUI benchmarks ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    println!("4 runs x 10,000 steps (8 metrics, train + eval), 200x60:");

    app.focus = PaneId::Curves;
    frames(&mut app, &mut term, 5);
    println!(
        "  curves, 8-metric grid     {}",
        stats(frames(&mut app, &mut term, 60))
    );
    key(&mut app, KeyCode::Char('a'));
    println!(
        "  curves, one metric        {}",
        stats(frames(&mut app, &mut term, 60))
    );
    key(&mut app, KeyCode::Char('L'));
    key(&mut app, KeyCode::Char('+'));
    println!(
        "  curves, log-y, zoomed     {}",
        stats(frames(&mut app, &mut term, 60))
    );
    key(&mut app, KeyCode::Char('a'));

    app.focus = PaneId::Solver;
    println!(
        "  solver                    {}",
        stats(frames(&mut app, &mut term, 60))
    );

    // Key-to-screen latency while a smoke run trains on its own thread.
    let mut app = App::new(opts);
    app.start();
    app.wait_solver(Duration::from_secs(600));
    app.train.config.max_steps = 1_000_000;
    key(&mut app, KeyCode::Char('r'));
    let t0 = Instant::now();
    while app.train.progress.is_none() && t0.elapsed() < Duration::from_secs(120) {
        app.tick();
        std::thread::sleep(Duration::from_millis(20));
    }
    let training = app.train.is_active();
    app.focus = PaneId::Curves;
    let keys = [
        KeyCode::Right,
        KeyCode::Char('L'),
        KeyCode::Char('a'),
        KeyCode::Char(']'),
        KeyCode::Left,
    ];
    let (mut lat, mut k_t, mut tick_t, mut draw_t) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..100 {
        let t = Instant::now();
        key(&mut app, keys[i % keys.len()]);
        let t1 = Instant::now();
        app.tick();
        let t2 = Instant::now();
        term.draw(|f| app.draw(f)).unwrap();
        let t3 = Instant::now();
        lat.push(t3 - t);
        k_t.push(t1 - t);
        tick_t.push(t2 - t1);
        draw_t.push(t3 - t2);
        std::thread::sleep(Duration::from_millis(30));
    }
    println!("  of which key handling     {}", stats(k_t));
    println!("  of which tick (poll)      {}", stats(tick_t));
    println!("  of which draw             {}", stats(draw_t));
    let steps = app.train.progress.as_ref().map_or(0, |p| p.step);
    println!(
        "key-to-screen while training (smoke, {} steps done, trainer {}): {}",
        steps,
        if training { "running" } else { "NOT running" },
        stats(lat)
    );
    app.train.command(
        trm_tui::train::api::TrainCommand::Stop { checkpoint: false },
        &mut trm_tui::tui::component::Ctx::default(),
    );
}
