//! `trm-tui train --nproc N`: start N ranks of this program on this machine (the local
//! engine) and watch them. Each rank gets the torchrun environment (`RANK`, `WORLD_SIZE`,
//! `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`) plus `TRM_DIST_PORT`, the engine
//! (`TRM_DIST_ENGINE` as given, else `nccl` in a build with NCCL for a GPU job, else `local`), and its share of the
//! cores (`RAYON_NUM_THREADS`, unless set already); each runs in its own
//! process group, so Ctrl-C reaches rank 0 once, through the launcher, and rank 0 stops
//! the job with a checkpoint. When a rank fails or is killed, the launcher names it, stops
//! the others and returns its exit status: a job never hangs on a dead rank.

use std::ffi::{OsStr, OsString};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::DistError;

/// How a finished job went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    /// The exit code the launcher should return: 0, or that of the first failing rank.
    pub code: i32,
    /// What went wrong (None when every rank succeeded).
    pub failure: Option<String>,
}

/// `status` in words: `exited with status 2`, `was killed by signal 9 (SIGKILL)`.
pub fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            let name = match sig {
                1 => " (SIGHUP)",
                2 => " (SIGINT)",
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                _ => "",
            };
            return format!("was killed by signal {sig}{name}");
        }
    }
    match status.code() {
        Some(c) => format!("exited with status {c}"),
        None => "ended".into(),
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return 128 + sig;
        }
    }
    status.code().unwrap_or(1)
}

/// The value of `--device X` or `--device=X` among a rank's arguments.
pub fn device_arg(args: &[OsString]) -> Option<String> {
    let mut it = args.iter().map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if a == "--device" {
            return it.next().map(|v| v.into_owned());
        }
        if let Some(v) = a.strip_prefix("--device=") {
            return Some(v.to_string());
        }
    }
    None
}

/// Threads for each of `nproc` ranks: the user's `RAYON_NUM_THREADS` when given, else an equal
/// share of this machine's cores.
pub fn threads_per_rank(nproc: usize, user: Option<&str>) -> String {
    match user {
        Some(t) => t.to_string(),
        None => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            (cores / nproc.max(1)).max(1).to_string()
        }
    }
}

fn free_port() -> Result<u16, DistError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| DistError::Setup(format!("no free local port for the ranks: {e}")))
}

fn signal(child: &Child, sig: i32) {
    #[cfg(unix)]
    {
        // SAFETY: kill(2) on the pid of a child we own and have not reaped.
        unsafe {
            libc::kill(child.id() as i32, sig);
        }
    }
    #[cfg(not(unix))]
    let _ = (child, sig);
}

/// Start `nproc` ranks of `program args` and wait for them. `args` must already name the run
/// folder, so that every rank uses the same one. `extra_env` is set in every rank last (it
/// may override the thread count or the engine).
pub fn run_local(
    program: &OsString,
    args: &[OsString],
    nproc: usize,
    extra_env: &[(&str, &OsStr)],
) -> Result<JobOutcome, DistError> {
    let port = free_port()?;
    // Without a thread count from the user, the ranks share the cores instead of each
    // taking all of them.
    let threads = threads_per_rank(nproc, std::env::var("RAYON_NUM_THREADS").ok().as_deref());
    // The ranks see torchrun's variables, so they default as they would under torchrun; a
    // CPU job (`--device cpu`, or `auto` without a visible GPU) takes the local engine.
    let engine = std::env::var("TRM_DIST_ENGINE").unwrap_or_else(|_| {
        let device = device_arg(args).unwrap_or_else(|| "auto".into());
        super::default_engine("torchrun", super::device_is_gpu(&device)).into()
    });
    let mut children: Vec<Option<Child>> = Vec::with_capacity(nproc);
    for rank in 0..nproc {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("RANK", rank.to_string())
            .env("WORLD_SIZE", nproc.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.saturating_sub(1).to_string())
            .env("TRM_DIST_PORT", port.to_string())
            .env("TRM_DIST_ENGINE", &engine)
            .env("RAYON_NUM_THREADS", &threads)
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
            #[cfg(target_os = "linux")]
            // SAFETY: prctl in the forked child before exec; async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    // The rank dies with the launcher (no orphaned ranks).
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        match cmd.spawn() {
            Ok(c) => children.push(Some(c)),
            Err(e) => {
                for c in children.iter_mut().flatten() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return Err(DistError::Setup(format!(
                    "cannot start rank {rank} ({}): {e}",
                    program.to_string_lossy()
                )));
            }
        }
    }
    // Ctrl-C: the first press asks rank 0 to stop with a checkpoint; the second aborts.
    let presses = Arc::new(AtomicUsize::new(0));
    {
        let p = Arc::clone(&presses);
        let _ = ctrlc::set_handler(move || {
            p.fetch_add(1, Ordering::SeqCst);
        });
    }
    let mut forwarded = 0;
    let mut failures: Vec<(usize, ExitStatus)> = Vec::new();
    let mut first_failure: Option<Instant> = None;
    loop {
        let pressed = presses.load(Ordering::SeqCst);
        while forwarded < pressed {
            forwarded += 1;
            if forwarded == 1 {
                eprintln!("\nstopping: rank 0 writes a checkpoint (Ctrl-C again to abort)");
            }
            if let Some(Some(c)) = children.first() {
                signal(c, libc::SIGINT);
            }
            if forwarded >= 2 {
                for c in children.iter().flatten() {
                    signal(c, libc::SIGKILL);
                }
            }
        }
        let mut running = 0;
        for (rank, slot) in children.iter_mut().enumerate() {
            let Some(c) = slot else { continue };
            match c.try_wait() {
                Ok(Some(status)) => {
                    *slot = None;
                    if !status.success() {
                        failures.push((rank, status));
                        first_failure.get_or_insert_with(Instant::now);
                    }
                }
                Ok(None) | Err(_) => running += 1,
            }
        }
        // After a failure, give the others half a second to show how they ended (a rank
        // that loses a peer fails at once), then stop the rest: SIGTERM, SIGKILL after 3 s.
        let settle = first_failure.is_some_and(|t| t.elapsed() > Duration::from_millis(500));
        if !failures.is_empty() && (settle || running == 0) {
            for c in children.iter().flatten() {
                signal(c, libc::SIGTERM);
            }
            let until = Instant::now() + Duration::from_secs(3);
            for c in children.iter_mut().flatten() {
                loop {
                    match c.try_wait() {
                        Ok(Some(_)) => break,
                        _ if Instant::now() > until => {
                            let _ = c.kill();
                            let _ = c.wait();
                            break;
                        }
                        _ => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            }
            // The likely cause first: a rank killed by a signal, then the lowest rank.
            failures.sort_by_key(|(rank, status)| (!killed(*status), *rank));
            let (_, first) = failures[0];
            let text: Vec<String> = failures
                .iter()
                .map(|(rank, status)| format!("rank {rank} of {nproc} {}", describe(*status)))
                .collect();
            return Ok(JobOutcome {
                code: exit_code(first).max(1),
                failure: Some(format!("{}; the other ranks were stopped", text.join("; "))),
            });
        }
        if running == 0 {
            return Ok(JobOutcome {
                code: 0,
                failure: None,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn killed(status: ExitStatus) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        status.signal().is_some()
    }
    #[cfg(not(unix))]
    {
        let _ = status;
        false
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_failing_rank_stops_the_others_and_is_named() {
        // Rank 1 fails at once; rank 0 would sleep for a minute.
        let sh = OsString::from("/bin/sh");
        let args: Vec<OsString> = [
            "-c",
            r#"if [ "$RANK" = 1 ]; then exit 3; else sleep 60; fi"#,
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let t0 = Instant::now();
        let out = run_local(&sh, &args, 2, &[]).unwrap();
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        assert_eq!(out.code, 3);
        let msg = out.failure.unwrap();
        assert!(msg.contains("rank 1 of 2 exited with status 3"), "{msg}");
    }

    #[test]
    fn every_rank_sees_its_environment() {
        let sh = OsString::from("/bin/sh");
        let args: Vec<OsString> = [
            "-c",
            r#"[ "$WORLD_SIZE" = 3 ] && [ "$RANK" = "$LOCAL_RANK" ] && [ -n "$TRM_DIST_PORT" ]"#,
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let out = run_local(&sh, &args, 3, &[]).unwrap();
        assert_eq!(
            out,
            JobOutcome {
                code: 0,
                failure: None
            }
        );
    }

    #[test]
    fn signals_are_described() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            describe(ExitStatus::from_raw(9)),
            "was killed by signal 9 (SIGKILL)"
        );
        assert_eq!(
            describe(ExitStatus::from_raw(2 << 8)),
            "exited with status 2"
        );
    }
}
