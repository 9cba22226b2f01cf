//! The solver worker: a thread that owns the model, loads checkpoints and runs the supervision
//! steps of a puzzle one at a time (`model::StepSolver`), streaming each step back over a
//! channel so the UI never blocks (a paper-size step takes about half a second on a CPU).
//! A newer request cancels the running solve between steps. It also scans a set of puzzles
//! (every step's answer to each, not streamed) so the pane can open on one where the steps
//! matter.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use candle_core::Device;

use crate::model::{SolveStep, StepSolver, TrmConfig, TrmModel};

/// Where the solver's model comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// A safetensors file written by trm-tui (weights or training checkpoint).
    Checkpoint(PathBuf),
    /// A randomly initialised model of this config (clearly labelled "untrained").
    Untrained { config: Box<TrmConfig>, seed: u64 },
}

impl ModelSource {
    pub fn label(&self) -> String {
        match self {
            ModelSource::Checkpoint(p) => super::config::Paths::display(p),
            ModelSource::Untrained { config, seed } => format!(
                "untrained (random init, seed {seed}, hidden {}, vocab {}, {} cells)",
                config.hidden_size, config.vocab_size, config.seq_len
            ),
        }
    }
}

#[derive(Debug)]
pub enum Request {
    Load {
        id: u64,
        source: ModelSource,
    },
    Solve {
        id: u64,
        tokens: Vec<i32>,
        puzzle_id: i32,
        record_cycles: bool,
    },
    /// Every supervision step's answer to each puzzle (`tokens`, `puzzle_id`).
    Scan {
        id: u64,
        puzzles: Vec<(Vec<i32>, i32)>,
    },
}

#[derive(Debug, Clone)]
pub enum Reply {
    Loaded {
        id: u64,
        config: Box<TrmConfig>,
        metadata: HashMap<String, String>,
        params: usize,
    },
    Step {
        id: u64,
        step: Box<SolveStep>,
    },
    Done {
        id: u64,
    },
    /// The answer after each supervision step (`answers[puzzle][step]`), in request order.
    Scanned {
        id: u64,
        answers: Vec<Vec<Vec<u32>>>,
    },
    Failed {
        id: u64,
        message: String,
    },
}

/// Handle of the worker thread.
pub struct SolverWorker {
    tx: Sender<Request>,
    rx: Receiver<Reply>,
    latest: Arc<AtomicU64>,
    next_id: u64,
}

impl std::fmt::Debug for SolverWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SolverWorker")
            .field("next_id", &self.next_id)
            .finish()
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".into()
    }
}

impl SolverWorker {
    pub fn spawn() -> SolverWorker {
        let (req_tx, req_rx) = channel::<Request>();
        let (rep_tx, rep_rx) = channel::<Reply>();
        let latest = Arc::new(AtomicU64::new(0));
        let latest_w = latest.clone();
        let spawned = std::thread::Builder::new()
            .name("trm-solver".into())
            .spawn(move || worker_loop(req_rx, rep_tx, latest_w));
        if let Err(e) = spawned {
            // Without a thread every request fails; report it through the channel instead.
            let (tx, rx) = channel::<Reply>();
            let _ = tx.send(Reply::Failed {
                id: 0,
                message: format!("cannot start the solver thread: {e}"),
            });
            return SolverWorker {
                tx: channel().0,
                rx,
                latest,
                next_id: 1,
            };
        }
        SolverWorker {
            tx: req_tx,
            rx: rep_rx,
            latest,
            next_id: 1,
        }
    }

    fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.latest.store(id, Ordering::SeqCst);
        id
    }

    /// Load a model; cancels any running solve. Returns the request id.
    pub fn load(&mut self, source: ModelSource) -> u64 {
        let id = self.id();
        let _ = self.tx.send(Request::Load { id, source });
        id
    }

    /// Solve a puzzle with the loaded model; cancels any running solve.
    pub fn solve(&mut self, tokens: Vec<i32>, puzzle_id: i32, record_cycles: bool) -> u64 {
        let id = self.id();
        let _ = self.tx.send(Request::Solve {
            id,
            tokens,
            puzzle_id,
            record_cycles,
        });
        id
    }

    /// Every step's answer to each puzzle, in one reply; cancels any running solve.
    pub fn scan(&mut self, puzzles: Vec<(Vec<i32>, i32)>) -> u64 {
        let id = self.id();
        let _ = self.tx.send(Request::Scan { id, puzzles });
        id
    }

    /// Every reply available now.
    pub fn drain(&self) -> Vec<Reply> {
        self.rx.try_iter().collect()
    }

    /// Send every reply to the app's event channel from now on (a thread forwards them as they
    /// come); [`SolverWorker::drain`] and [`SolverWorker::recv_timeout`] then have nothing.
    pub fn forward_to(&mut self, tx: crate::tui::events::EventTx) {
        let (_closed, empty) = channel::<Reply>();
        let rx = std::mem::replace(&mut self.rx, empty);
        let spawned = std::thread::Builder::new()
            .name("solver-events".into())
            .spawn(move || {
                for r in rx {
                    if tx.send(crate::tui::events::AppEvent::Solver(r)).is_err() {
                        break;
                    }
                }
            });
        if let Err(e) = spawned {
            // Without the thread the replies cannot reach the app: say so as a reply.
            let (tx, rx) = channel::<Reply>();
            let _ = tx.send(Reply::Failed {
                id: self.next_id.saturating_sub(1),
                message: format!("cannot start the solver's event thread: {e}"),
            });
            self.rx = rx;
        }
    }

    /// Wait for the next reply (tests, headless use).
    pub fn recv_timeout(&self, t: std::time::Duration) -> Option<Reply> {
        self.rx.recv_timeout(t).ok()
    }
}

fn worker_loop(rx: Receiver<Request>, tx: Sender<Reply>, latest: Arc<AtomicU64>) {
    let mut model: Option<TrmModel> = None;
    while let Ok(req) = rx.recv() {
        let reply = match req {
            Request::Load { id, source } => {
                let reply = guarded(id, "loading", || load(&source));
                match reply {
                    Ok((m, metadata)) => {
                        let r = Reply::Loaded {
                            id,
                            config: Box::new(m.config.clone()),
                            metadata,
                            params: m.num_parameters(),
                        };
                        model = Some(m);
                        r
                    }
                    Err(failed) => {
                        model = None;
                        failed
                    }
                }
            }
            Request::Solve {
                id,
                tokens,
                puzzle_id,
                record_cycles,
            } => {
                let m = model.as_ref();
                guarded(id, "the solver", || {
                    let m = m.ok_or("no model is loaded")?;
                    solve(m, &tokens, puzzle_id, record_cycles, id, &tx, &latest)
                })
                .map_or_else(|failed| failed, |()| Reply::Done { id })
            }
            Request::Scan { id, puzzles } => {
                let m = model.as_ref();
                guarded(id, "the solver", || {
                    scan(m.ok_or("no model is loaded")?, &puzzles, id, &latest)
                })
                .map_or_else(|failed| failed, |answers| Reply::Scanned { id, answers })
            }
        };
        if tx.send(reply).is_err() {
            return;
        }
    }
}

/// Run a request's work; an error or a panic becomes the request's `Failed` reply.
fn guarded<T>(id: u64, what: &str, work: impl FnOnce() -> Result<T, String>) -> Result<T, Reply> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(message)) => Err(Reply::Failed { id, message }),
        Err(p) => Err(Reply::Failed {
            id,
            message: format!("{what} crashed: {}", panic_message(p)),
        }),
    }
}

/// Every step's answer to each puzzle; stops early when a newer request comes.
fn scan(
    m: &TrmModel,
    puzzles: &[(Vec<i32>, i32)],
    id: u64,
    latest: &AtomicU64,
) -> Result<Vec<Vec<Vec<u32>>>, String> {
    let mut out = Vec::with_capacity(puzzles.len());
    for (tokens, puzzle_id) in puzzles {
        let mut s = StepSolver::new(m, tokens, *puzzle_id, false).map_err(|e| e.to_string())?;
        let mut answers = Vec::new();
        while !s.finished() {
            if latest.load(Ordering::SeqCst) != id {
                return Err("cancelled".into());
            }
            answers.push(s.next_step().map_err(|e| e.to_string())?.pred.clone());
        }
        out.push(answers);
    }
    Ok(out)
}

fn load(source: &ModelSource) -> Result<(TrmModel, HashMap<String, String>), String> {
    match source {
        ModelSource::Checkpoint(p) => {
            crate::model::weights::load_model(p, None, &Device::Cpu).map_err(|e| e.to_string())
        }
        ModelSource::Untrained { config, seed } => {
            config.validate().map_err(|e| e.to_string())?;
            TrmModel::new((**config).clone(), *seed, &Device::Cpu)
                .map(|m| (m, HashMap::new()))
                .map_err(|e| e.to_string())
        }
    }
}

fn solve(
    m: &TrmModel,
    tokens: &[i32],
    puzzle_id: i32,
    record_cycles: bool,
    id: u64,
    tx: &Sender<Reply>,
    latest: &AtomicU64,
) -> Result<(), String> {
    let mut s = StepSolver::new(m, tokens, puzzle_id, record_cycles).map_err(|e| e.to_string())?;
    while !s.finished() {
        if latest.load(Ordering::SeqCst) != id {
            return Err("cancelled".into());
        }
        let step = s.next_step().map_err(|e| e.to_string())?.clone();
        if tx
            .send(Reply::Step {
                id,
                step: Box::new(step),
            })
            .is_err()
        {
            return Ok(());
        }
    }
    Ok(())
}

/// A small untrained config matching a puzzle's tokens (for the solver before any checkpoint).
pub fn untrained_config(vocab_size: usize, seq_len: usize) -> TrmConfig {
    TrmConfig {
        hidden_size: 64,
        num_heads: 4,
        expansion: 2.0,
        l_layers: 2,
        h_cycles: 3,
        l_cycles: 4,
        halt_max_steps: 16,
        puzzle_emb_ndim: 0,
        puzzle_emb_len: 0,
        vocab_size,
        seq_len,
        num_puzzle_identifiers: 1,
        ..TrmConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn untrained_solve_streams_every_step_then_done() {
        let mut w = SolverWorker::spawn();
        let cfg = TrmConfig {
            halt_max_steps: 3,
            ..untrained_config(6, 16)
        };
        let id = w.load(ModelSource::Untrained {
            config: Box::new(cfg),
            seed: 1,
        });
        match w.recv_timeout(Duration::from_secs(60)) {
            Some(Reply::Loaded {
                id: got, config, ..
            }) => {
                assert_eq!(got, id);
                assert_eq!(config.seq_len, 16);
            }
            other => panic!("{other:?}"),
        }
        let id = w.solve(vec![1; 16], 0, true);
        let mut steps = 0;
        loop {
            match w.recv_timeout(Duration::from_secs(60)) {
                Some(Reply::Step { id: got, step }) => {
                    assert_eq!(got, id);
                    steps += 1;
                    assert_eq!(step.step, steps);
                    assert_eq!(step.pred.len(), 16);
                    assert_eq!(step.cycle_preds.len(), 3);
                }
                Some(Reply::Done { id: got }) => {
                    assert_eq!(got, id);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(steps, 3);
        // Bad input is an error reply, not a crash.
        let id = w.solve(vec![1; 5], 0, false);
        match w.recv_timeout(Duration::from_secs(60)) {
            Some(Reply::Failed { id: got, message }) => {
                assert_eq!(got, id);
                assert!(message.contains("seq_len"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scan_answers_every_step_of_every_puzzle() {
        let mut w = SolverWorker::spawn();
        let id = w.scan(vec![(vec![1; 16], 0)]);
        match w.recv_timeout(Duration::from_secs(60)) {
            Some(Reply::Failed { id: got, message }) => {
                assert_eq!(got, id);
                assert!(message.contains("no model"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let cfg = TrmConfig {
            halt_max_steps: 3,
            ..untrained_config(6, 16)
        };
        w.load(ModelSource::Untrained {
            config: Box::new(cfg),
            seed: 1,
        });
        assert!(matches!(
            w.recv_timeout(Duration::from_secs(60)),
            Some(Reply::Loaded { .. })
        ));
        let id = w.scan(vec![(vec![1; 16], 0), (vec![2; 16], 0)]);
        match w.recv_timeout(Duration::from_secs(60)) {
            Some(Reply::Scanned { id: got, answers }) => {
                assert_eq!(got, id);
                assert_eq!(answers.len(), 2);
                assert!(answers.iter().all(|a| a.len() == 3 && a[0].len() == 16));
            }
            other => panic!("{other:?}"),
        }
        // A puzzle of the wrong length is an error reply.
        w.scan(vec![(vec![1; 5], 0)]);
        assert!(matches!(
            w.recv_timeout(Duration::from_secs(60)),
            Some(Reply::Failed { .. })
        ));
    }

    #[test]
    fn missing_checkpoint_fails_cleanly() {
        let mut w = SolverWorker::spawn();
        w.load(ModelSource::Checkpoint("/nonexistent/x.safetensors".into()));
        match w.recv_timeout(Duration::from_secs(30)) {
            Some(Reply::Failed { message, .. }) => assert!(message.contains("x.safetensors")),
            other => panic!("{other:?}"),
        }
        w.solve(vec![1; 16], 0, false);
        match w.recv_timeout(Duration::from_secs(30)) {
            Some(Reply::Failed { message, .. }) => assert!(message.contains("no model")),
            other => panic!("{other:?}"),
        }
    }
}
