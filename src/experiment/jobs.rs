//! Parallel runs (`trm-tui experiment run --jobs N`): up to N (variant, seed) runs at once,
//! each trained by a child process, the current executable started again as
//! `experiment run DIR/experiment.toml --out DIR --child-run RUN [--child-resume CHECKPOINT]`
//! with `RAYON_NUM_THREADS` set to its share of the cores. The parent prepares each run
//! folder and owns the manifest; a child trains its one run and reports on its stdout, one
//! JSON [`ChildReport`] per line. A stop (Ctrl-C) reaches every child as a `stop` line on its
//! stdin, and a child whose stdin closes (the parent is gone) stops too: each writes a
//! checkpoint, so `--resume` continues every run.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr};
use serde::{Deserialize, Serialize};

use super::report::EXPERIMENT_FILE;
use super::runner::{
    prepare, record_outcome, Manifest, Outcome, RunSummary, RunnerEvent, StopSignal, Todo,
};
use super::spec::PlannedRun;
use crate::train::api::{Level, LogSource, MetricRecord, Progress, TrainerEvent};

/// The line on a child's stdin that stops its run with a checkpoint.
pub const STOP_LINE: &str = "stop";

/// What a child process reports to the parent, one JSON object per stdout line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChildReport {
    Progress {
        progress: Box<Progress>,
    },
    Metrics {
        record: Box<MetricRecord>,
    },
    Log {
        message: String,
    },
    /// The run ended; the last line a child writes.
    Done {
        outcome: Outcome,
    },
}

impl ChildReport {
    /// The report a child sends for one of its runner's events (`None`: not sent).
    pub fn from_event(ev: &RunnerEvent) -> Option<ChildReport> {
        let RunnerEvent::Trainer { event, .. } = ev else {
            return None;
        };
        match event {
            TrainerEvent::Progress(p) => Some(ChildReport::Progress {
                progress: Box::new(p.clone()),
            }),
            TrainerEvent::Metrics(m) => Some(ChildReport::Metrics {
                record: Box::new(m.clone()),
            }),
            TrainerEvent::Log {
                level: Level::Warn | Level::Error,
                message,
                ..
            } => Some(ChildReport::Log {
                message: message.clone(),
            }),
            _ => None,
        }
    }

    /// The JSON line.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The threads each of `jobs` children gets: `RAYON_NUM_THREADS` (when set) or the cores,
/// divided among them, at least one.
pub fn threads_per_job(jobs: usize) -> usize {
    let total = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    (total / jobs.max(1)).max(1)
}

enum Msg {
    Report(ChildReport),
    /// The child's stdout closed (it exited).
    Closed,
}

struct Active<'a> {
    index: usize,
    run: &'a PlannedRun,
    child: Child,
    stdin: Option<ChildStdin>,
    outcome: Option<Outcome>,
}

fn child_command(exe: &Path, dir: &Path, run: &PlannedRun, resume: Option<&PathBuf>) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(["experiment", "run"])
        .arg(dir.join(EXPERIMENT_FILE))
        .arg("--out")
        .arg(dir)
        .arg("--child-run")
        .arg(&run.dir_name);
    if let Some(ck) = resume {
        cmd.arg("--child-resume").arg(ck);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

/// Train `todo` with up to `jobs` children at once (the parent's side; see the module
/// header). Runs not started because of a stop go to `summary.not_started`.
pub(super) fn run_jobs(
    dir: &Path,
    jobs: usize,
    todo: &[Todo],
    manifest: &mut Manifest,
    summary: &mut RunSummary,
    stop: &StopSignal,
    on_event: &mut dyn FnMut(RunnerEvent),
) -> Result<()> {
    let exe =
        std::env::current_exe().wrap_err("cannot find the current executable to start the jobs")?;
    let threads = threads_per_job(jobs);
    let (tx, rx) = mpsc::channel::<(usize, Msg)>();
    let mut active: Vec<Active> = Vec::new();
    let mut next = 0;
    let mut stop_sent = false;
    loop {
        while active.len() < jobs && next < todo.len() && !stop.is_requested() {
            let (run, resume_from, had_attempt) = &todo[next];
            let index = next;
            next += 1;
            let restarted = prepare(
                &dir.join(&run.dir_name),
                resume_from.as_deref(),
                *had_attempt,
            )?;
            on_event(RunnerEvent::Start {
                run,
                index: index + 1,
                total: todo.len(),
                resume_from: resume_from.clone(),
                restarted,
            });
            manifest.set_status(&run.dir_name, "running", String::new());
            manifest.write(dir)?;
            let mut cmd = child_command(&exe, dir, run, resume_from.as_ref());
            cmd.env("RAYON_NUM_THREADS", threads.to_string());
            match cmd.spawn() {
                Err(e) => {
                    let outcome = Outcome::Failed(format!("cannot start {}: {e}", exe.display()));
                    record_outcome(run, &outcome, summary, manifest, dir)?;
                    on_event(RunnerEvent::Done {
                        run,
                        outcome: &outcome,
                    });
                }
                Ok(mut child) => {
                    let stdout = child.stdout.take();
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        if let Some(out) = stdout {
                            for line in BufReader::new(out).lines() {
                                let Ok(line) = line else { break };
                                // Lines that are not reports (none are expected) are skipped.
                                if let Ok(r) = serde_json::from_str::<ChildReport>(&line) {
                                    if tx.send((index, Msg::Report(r))).is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                        let _ = tx.send((index, Msg::Closed));
                    });
                    active.push(Active {
                        index,
                        run,
                        stdin: child.stdin.take(),
                        child,
                        outcome: None,
                    });
                }
            }
        }
        if stop.is_requested() && !stop_sent {
            stop_sent = true;
            for a in &mut active {
                if let Some(s) = &mut a.stdin {
                    let _ = writeln!(s, "{STOP_LINE}").and_then(|_| s.flush());
                }
            }
        }
        if active.is_empty() {
            break;
        }
        let (index, msg) = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let Some(pos) = active.iter().position(|a| a.index == index) else {
            continue;
        };
        let run = active[pos].run;
        match msg {
            Msg::Report(ChildReport::Progress { progress }) => on_event(RunnerEvent::Trainer {
                run,
                event: &TrainerEvent::Progress(*progress),
            }),
            Msg::Report(ChildReport::Metrics { record }) => on_event(RunnerEvent::Trainer {
                run,
                event: &TrainerEvent::Metrics(*record),
            }),
            Msg::Report(ChildReport::Log { message }) => on_event(RunnerEvent::Trainer {
                run,
                event: &TrainerEvent::Log {
                    level: Level::Warn,
                    source: LogSource::Trainer,
                    message,
                },
            }),
            Msg::Report(ChildReport::Done { outcome }) => active[pos].outcome = Some(outcome),
            Msg::Closed => {
                let mut a = active.remove(pos);
                drop(a.stdin.take());
                let status = a.child.wait();
                let outcome = a.outcome.take().unwrap_or_else(|| {
                    Outcome::Failed(match status {
                        Ok(s) => format!("the job process ended ({s}) without a result"),
                        Err(e) => format!("the job process could not be waited for: {e}"),
                    })
                });
                record_outcome(run, &outcome, summary, manifest, dir)?;
                on_event(RunnerEvent::Done {
                    run,
                    outcome: &outcome,
                });
            }
        }
    }
    summary
        .not_started
        .extend(todo[next..].iter().map(|(p, _, _)| p.dir_name.clone()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_as_json_lines() {
        for r in [
            ChildReport::Done {
                outcome: Outcome::Failed("nan loss".into()),
            },
            ChildReport::Log {
                message: "x".into(),
            },
        ] {
            let line = r.to_line();
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<ChildReport>(&line).unwrap(), r);
        }
        assert!(threads_per_job(64) >= 1);
    }
}
