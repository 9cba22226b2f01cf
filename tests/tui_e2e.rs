//! End-to-end: the real `trm-tui` binary in a pseudo-terminal (portable-pty + vt100). It starts
//! the workbench, launches the `smoke` preset, sees the curves move, opens the solver on a
//! shipped puzzle, steps forward and back, quits, and finds the terminal restored (alternate
//! screen left, cursor shown, exit status 0).

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize};

const ROWS: u16 = 40;
const COLS: u16 = 120;

struct Pty {
    parser: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl Pty {
    fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    fn send(&mut self, s: &str) {
        self.writer.write_all(s.as_bytes()).unwrap();
        self.writer.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Wait until `pred` holds on the screen text.
    fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let t = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if t.elapsed() > timeout {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_for(&self, text: &str, timeout: Duration) -> String {
        self.wait(text, timeout, |s| s.contains(text))
    }
}

/// The highest `@<step>` of the curves legend.
fn legend_step(screen: &str) -> Option<u64> {
    screen
        .split('@')
        .skip(1)
        .filter_map(|t| t.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .max()
}

#[test]
fn drive_the_workbench_in_a_pty() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let pair = portable_pty::native_pty_system()
        .openpty(PtySize {
            rows: ROWS,
            cols: COLS,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_trm-tui"));
    cmd.cwd(root);
    cmd.env("TERM", "xterm-256color");
    cmd.env("TRM_TUI_CONFIG", root.join("config"));
    cmd.env("TRM_TUI_DATA", root.join("data"));
    cmd.env("TRM_RUNS_DIR", root.join("runs"));
    cmd.env("TRM_CHECKPOINTS_DIR", root.join("checkpoints"));
    cmd.env(
        "TRM_PUZZLES_DIR",
        concat!(env!("CARGO_MANIFEST_DIR"), "/puzzles"),
    );
    let child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let writer = pair.master.take_writer().unwrap();
    let parser = Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0)));
    let raw = Arc::new(Mutex::new(Vec::new()));
    let (p2, r2) = (parser.clone(), raw.clone());
    // Drain the pty until EOF so the child never blocks on a full buffer.
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    p2.lock().unwrap().process(&buf[..n]);
                    r2.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            }
        }
    });
    let mut pty = Pty {
        parser,
        raw,
        writer,
        child,
    };
    let long = Duration::from_secs(240);

    // The default screen: the Train pane with `smoke` ready.
    pty.wait_for("press r to launch `smoke`", long);
    assert!(pty.parser.lock().unwrap().screen().alternate_screen());

    // Make the run long enough to watch (edit `max_steps` in the form), then launch it.
    let fields = trm_tui::train::presets::get("smoke").unwrap().fields();
    let idx = fields.iter().position(|(k, _)| k == "max_steps").unwrap();
    pty.send("l");
    for _ in 0..idx {
        pty.writer.write_all(b"j").unwrap();
    }
    pty.send("");
    pty.send("\r");
    for _ in 0..12 {
        pty.writer.write_all(b"\x7f").unwrap();
    }
    pty.send("100000");
    pty.send("\r");
    pty.wait_for("1 change(s) vs preset", long);
    pty.send("r");
    pty.wait("the run to make progress", long, |s| {
        s.contains("step ") && s.contains("ETA")
    });

    // Curves: the legend's last step grows.
    pty.send("2");
    let s = pty.wait("curves with data", long, |s| {
        legend_step(s).is_some_and(|n| n >= 1)
    });
    let first = legend_step(&s).unwrap();
    let s = pty.wait("the curves to move", long, |s| {
        legend_step(s).is_some_and(|n| n > first)
    });
    assert!(s.contains("lm loss"), "{s}");

    // Solver on a shipped 4x4 sudoku: step back and forth.
    pty.send("3");
    let s = pty.wait_for("✓ done", long);
    assert!(s.contains("sudoku-4x4-easy.csv"), "{s}");
    pty.send("\x1b[H"); // Home
    pty.wait_for("step 1/", long);
    pty.send("\x1b[C"); // Right
    pty.wait_for("step 2/", long);
    pty.send("\x1b[C");
    pty.wait_for("step 3/", long);
    pty.send("\x1b[D"); // Left
    pty.wait_for("step 2/", long);

    // Help overlay opens and closes.
    pty.send("?");
    pty.wait_for("(this pane)", long);
    pty.send("\x1b");
    pty.wait("help to close", long, |s| !s.contains("(this pane)"));

    // Quit: asks first while the run is active, stops it with a checkpoint.
    pty.send("q");
    let t = Instant::now();
    loop {
        if let Ok(Some(status)) = pty.child.try_wait() {
            assert!(status.success(), "exit status {status:?}");
            break;
        }
        if pty.screen().contains("A training run is active") {
            pty.send("s");
        }
        assert!(
            t.elapsed() < long,
            "did not exit; screen:\n{}",
            pty.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let raw = pty.raw.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&raw);
    let enter = text
        .rfind("\x1b[?1049h")
        .expect("entered the alternate screen");
    let leave = text
        .rfind("\x1b[?1049l")
        .expect("left the alternate screen");
    assert!(leave > enter, "the alternate screen was left last");
    let screen = pty.parser.lock().unwrap();
    assert!(
        !screen.screen().alternate_screen(),
        "back on the main screen"
    );
    assert!(!screen.screen().hide_cursor(), "cursor visible");
    // The run left metrics and a checkpoint behind.
    let runs: Vec<_> = std::fs::read_dir(root.join("runs"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(runs.len(), 1);
    let run = runs[0].path();
    assert!(run.join("metrics.jsonl").is_file());
    assert!(
        std::fs::read_dir(run.join("checkpoints"))
            .unwrap()
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "safetensors")),
        "a checkpoint was written"
    );
}
