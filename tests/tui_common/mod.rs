//! Shared helpers of the TUI tests: a hermetic workbench (fixed theme, seed and clock) over a
//! temporary root with a deterministic run fixture, and text rendering of a `TestBackend`.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use trm_tui::tui::config::Paths;
use trm_tui::tui::{App, AppOptions};

/// A temp root whose name is replaced by a fixed string of the same length in snapshots.
pub struct Root {
    pub dir: tempfile::TempDir,
}

impl Root {
    pub fn new() -> Root {
        Root {
            dir: tempfile::Builder::new().prefix("trm").tempdir().unwrap(),
        }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn paths(&self) -> Paths {
        Paths::under(self.path())
    }
    /// Replace the random part of the root's name (same length, so layouts do not move).
    pub fn scrub(&self, s: &str) -> String {
        let name = self
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        s.replace(&name, &"X".repeat(name.len()))
    }
}

/// A finished run: config, metrics (train every step, eval every 50, one NaN gap), events.
pub fn write_run(root: &Path, name: &str, steps: u64, scale: f64) -> PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(d.join("checkpoints")).unwrap();
    let cfg = trm_tui::train::presets::get("smoke").unwrap();
    std::fs::write(d.join("config.toml"), cfg.to_toml_string()).unwrap();
    let mut f = std::fs::File::create(d.join("metrics.jsonl")).unwrap();
    for s in 1..=steps {
        let x = s as f64;
        // Deterministic "noise" with a spike.
        let noise = ((x * 12.9898).sin() * 43758.5453).fract() * 0.1;
        let spike = if s == steps / 2 { 1.5 } else { 0.0 };
        let lm = if s == steps / 3 {
            "null".to_string()
        } else {
            format!(
                "{}",
                scale * (2.0 * (-x / 60.0).exp() + 0.1 + noise + spike)
            )
        };
        writeln!(
            f,
            "{{\"step\":{s},\"epoch\":{},\"wall_s\":{},\"split\":\"train\",\"lm_loss\":{lm},\"q_halt_loss\":{},\"accuracy\":{},\"exact_accuracy\":{},\"q_halt_accuracy\":{},\"steps\":{},\"lr\":{},\"samples_per_s\":{}}}",
            x / 8.0,
            x * 0.25,
            0.5 * (-x / 40.0).exp() + noise / 5.0,
            (1.0 - (-x / 50.0).exp()) * 0.9,
            (1.0 - (-x / 120.0).exp()) * 0.6,
            0.5 + 0.4 * (1.0 - (-x / 30.0).exp()),
            3.0 - 1.5 * (1.0 - (-x / 80.0).exp()),
            if s < 10 { 3e-3 * x / 10.0 } else { 3e-3 },
            120.0 + 20.0 * noise * 10.0,
        )
        .unwrap();
        if s % 50 == 0 {
            writeln!(
                f,
                "{{\"step\":{s},\"epoch\":{},\"wall_s\":{},\"split\":\"eval\",\"lm_loss\":{},\"accuracy\":{},\"exact_accuracy\":{}}}",
                x / 8.0,
                x * 0.25,
                scale * (1.8 * (-x / 60.0).exp() + 0.15),
                (1.0 - (-x / 50.0).exp()) * 0.85,
                (1.0 - (-x / 120.0).exp()) * 0.5,
            )
            .unwrap();
        }
    }
    std::fs::write(
        d.join("events.jsonl"),
        format!("{{\"kind\":\"start\",\"step\":0,\"time\":0}}\n{{\"kind\":\"finish\",\"step\":{steps},\"time\":1}}\n"),
    )
    .unwrap();
    d
}

/// A real checkpoint file (untrained smoke-sized weights, training metadata).
pub fn write_checkpoint(run_dir: &Path, step: u64, best: f64) -> PathBuf {
    let cfg = trm_tui::train::presets::get("smoke").unwrap().arch;
    let m = trm_tui::model::TrmModel::new(cfg.clone(), 7, &candle_core::Device::Cpu).unwrap();
    let mut meta = std::collections::HashMap::new();
    meta.insert("model_config".to_string(), cfg.to_toml_string());
    meta.insert("step".to_string(), step.to_string());
    meta.insert("best_exact_accuracy".to_string(), best.to_string());
    let name = format!("step_{step}.safetensors");
    let p = run_dir.join("checkpoints").join(&name);
    trm_tui::model::weights::save_safetensors(&p, &m.state_dict(), &meta).unwrap();
    std::fs::write(run_dir.join("checkpoints/latest"), &name).unwrap();
    p
}

pub fn options(root: &Root, theme: &str) -> AppOptions {
    AppOptions {
        paths: root.paths(),
        theme: Some(theme.to_string()),
        seed: 0,
        frozen_clock: true,
    }
}

/// An app over `root`, started, with the solver finished.
pub fn app(root: &Root, theme: &str) -> App {
    let mut app = App::new(options(root, theme));
    app.start();
    settle(&mut app);
    app
}

/// Wait for the solver to finish (its replies come through the app's event channel).
pub fn settle(app: &mut App) {
    assert!(app.wait_solver(Duration::from_secs(300)));
}

pub fn key(app: &mut App, code: KeyCode) {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
}

pub fn chars(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

pub fn draw(app: &mut App, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.draw(f)).unwrap();
    t.backend().buffer().clone()
}

/// The buffer as text, one line per row, trailing spaces trimmed.
pub fn text(buf: &Buffer) -> String {
    let a = buf.area;
    let mut out = String::new();
    for y in 0..a.height {
        let mut line = String::new();
        for x in 0..a.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn screen(app: &mut App, root: &Root, w: u16, h: u16) -> String {
    root.scrub(&text(&draw(app, w, h)))
}
