//! The app's one event channel: key presses and resizes, the trainer's messages, the solver
//! worker's replies and the animation tick all arrive as [`AppEvent`]s on one
//! `std::sync::mpsc` channel, and the app handles each when it arrives. Threads feed it: the
//! input reader (blocking on crossterm, no polling), one forwarder per trainer run and one for
//! the solver worker, and a ticker for animation only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use crate::train::api::{TrainCommand, TrainerEvent};
use crate::train::trainer::TrainerHandle;
use crate::tui::worker::Reply;

/// Something for the app to handle.
#[derive(Debug)]
pub enum AppEvent {
    Input(crossterm::event::Event),
    Trainer(TrainerEvent),
    /// The trainer thread of the current run has ended.
    TrainerExited,
    Solver(Reply),
    /// Animation (solver playback, the quit countdown) and the panes' file tailing.
    Tick,
}

pub type EventTx = Sender<AppEvent>;

/// A running trainer as the Train pane sees it: its handle polled by the pane (headless use,
/// tests), or moved to a thread that forwards its messages to the app's channel.
pub enum Run {
    Local(TrainerHandle),
    Forwarded {
        commands: Sender<TrainCommand>,
        finished: Arc<AtomicBool>,
    },
}

impl Run {
    /// The trainer of `h` forwarded to `tx` when given, else kept for polling.
    pub fn new(h: TrainerHandle, tx: Option<&EventTx>) -> Run {
        let Some(tx) = tx.cloned() else {
            return Run::Local(h);
        };
        let commands = h.command_sender();
        let finished = Arc::new(AtomicBool::new(false));
        let done = finished.clone();
        let spawned = std::thread::Builder::new()
            .name("trainer-events".into())
            .spawn(move || {
                // Blocks on the trainer's channel; wakes once a second to see whether the
                // trainer thread has ended without a last message.
                loop {
                    match h.recv_timeout(Duration::from_secs(1)) {
                        Some(ev) => {
                            if tx.send(AppEvent::Trainer(ev)).is_err() {
                                break;
                            }
                        }
                        None if h.is_finished() => {
                            for ev in h.try_recv_all() {
                                let _ = tx.send(AppEvent::Trainer(ev));
                            }
                            break;
                        }
                        // Disconnected while the thread winds down.
                        None => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
                done.store(true, Ordering::SeqCst);
                let _ = tx.send(AppEvent::TrainerExited);
                h.join();
            });
        match spawned {
            Ok(_) => Run::Forwarded { commands, finished },
            // No thread: the pane polls the handle itself. `h` moved into the failed spawn,
            // so report the run as finished rather than keep a dead link.
            Err(_) => Run::Forwarded {
                commands,
                finished: Arc::new(AtomicBool::new(true)),
            },
        }
    }

    pub fn send(&self, cmd: TrainCommand) {
        match self {
            Run::Local(h) => h.send(cmd),
            Run::Forwarded { commands, .. } => {
                let _ = commands.send(cmd);
            }
        }
    }

    /// The trainer thread has ended.
    pub fn is_finished(&self) -> bool {
        match self {
            Run::Local(h) => h.is_finished(),
            Run::Forwarded { finished, .. } => finished.load(Ordering::SeqCst),
        }
    }

    /// The messages waiting now (a forwarded run has none: they go to the app's channel).
    pub fn try_recv_all(&self) -> Vec<TrainerEvent> {
        match self {
            Run::Local(h) => h.try_recv_all(),
            Run::Forwarded { .. } => Vec::new(),
        }
    }
}
