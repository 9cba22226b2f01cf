//! The step watchdog of the GPU engine. NCCL has no time-out of its own: when a peer rank dies
//! mid-sum, the others wait inside a stream synchronisation behind a spinning NCCL kernel,
//! where no socket time-out fires. Each such wait runs under a [`Guard`]; a thread wakes
//! every second and, when one guard has been held longer than the limit
//! (`TRM_DIST_TIMEOUT_S`, the engines' data time-out), calls the expiry action with what the
//! rank was doing. The engine's action names the rank and the operation and ends the process,
//! so the launcher (or the cluster's) sees the rank fail instead of a job that hangs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Shared {
    /// The operation in flight and when it started.
    armed: Mutex<Option<(String, Instant)>>,
    stop: AtomicBool,
}

/// A thread that watches one operation at a time.
pub struct Watchdog {
    shared: Arc<Shared>,
    limit: Duration,
}

impl std::fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchdog")
            .field("limit", &self.limit)
            .finish()
    }
}

/// An operation under watch; dropping it ends the watch.
pub struct Guard<'a>(&'a Watchdog);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if let Ok(mut a) = self.0.shared.armed.lock() {
            *a = None;
        }
    }
}

impl Watchdog {
    /// Start the watching thread: `on_expire(what, held)` runs once when an operation has been
    /// in flight longer than `limit` (checked every `min(limit, 1 s)`).
    pub fn start(limit: Duration, on_expire: impl Fn(&str, Duration) + Send + 'static) -> Self {
        let shared = Arc::new(Shared {
            armed: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let watched = Arc::clone(&shared);
        let tick = limit.min(Duration::from_secs(1));
        std::thread::Builder::new()
            .name("trm-dist-watchdog".into())
            .spawn(move || {
                while !watched.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    let expired = match watched.armed.lock() {
                        Ok(mut a) => match a.as_ref() {
                            Some((what, since)) if since.elapsed() > limit => {
                                let held = since.elapsed();
                                let what = what.clone();
                                *a = None;
                                Some((what, held))
                            }
                            _ => None,
                        },
                        Err(_) => None,
                    };
                    if let Some((what, held)) = expired {
                        on_expire(&what, held);
                    }
                }
            })
            .expect("spawning the watchdog thread");
        Self { shared, limit }
    }

    /// Watch `what` until the guard is dropped.
    pub fn watch(&self, what: impl Into<String>) -> Guard<'_> {
        if let Ok(mut a) = self.shared.armed.lock() {
            *a = Some((what.into(), Instant::now()));
        }
        Guard(self)
    }

    pub fn limit(&self) -> Duration {
        self.limit
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// The engine's expiry action: name the rank and the operation, then end the process (exit
/// status 124, as `timeout(1)`).
pub fn end_the_rank(rank: usize) -> impl Fn(&str, Duration) + Send + 'static {
    move |what, held| {
        eprintln!(
            "rank {rank}: {what} has not finished after {} s (TRM_DIST_TIMEOUT_S): a peer rank \
             probably died or stopped; ending this rank",
            held.as_secs()
        );
        std::process::exit(124);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn an_operation_held_past_the_limit_is_reported_once_with_its_name() {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let w = Watchdog::start(Duration::from_millis(50), move |what, held| {
            tx.lock().unwrap().send((what.to_string(), held)).unwrap();
        });
        // Short operations are not reported.
        for _ in 0..3 {
            let _g = w.watch("quick");
        }
        {
            let _g = w.watch("the NCCL all-reduce of step 7");
            std::thread::sleep(Duration::from_millis(300));
        }
        let (what, held) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(what, "the NCCL all-reduce of step 7");
        assert!(held > Duration::from_millis(50));
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "reported once"
        );
    }
}
