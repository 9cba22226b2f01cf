//! The fork-join team of the CPU kernels (matrix products, packing, the fused row-wise ops,
//! the transposes):
//! `for_each(tasks, f)` runs `f(0) .. f(tasks - 1)` on the calling thread and on helper
//! threads that wait for the next job by spinning for a short while before they sleep;
//! `fill` builds a fresh buffer from chunks written by such tasks.
//!
//! A paper-size solve forks and joins about 6,900 times (attention 10,900: a few per product
//! or row-wise op, 21 net calls per supervision step), often only microseconds apart. rayon's
//! idle workers sleep after a few dozen `sched_yield`s, and waking a sleeping thread goes
//! through the kernel's scheduler (slower still when its CPU has gone idle), while the caller,
//! not being a pool thread, sleeps and is woken itself at every join. The team's helpers see a
//! new job as soon as it is published as long as they are spinning, and the caller takes tasks
//! too.
//!
//! One job runs at a time. A call that finds the team busy (another thread's kernels) or comes
//! from a rayon pool thread (a pool the caller chose, as in tests) runs on rayon's pool; a call
//! nested inside a task, or with one thread in all (`RAYON_NUM_THREADS=1`), runs on the calling
//! thread alone. The team has `rayon::current_num_threads() - 1` helpers (so
//! `RAYON_NUM_THREADS` still sets how many cores the kernels use), started on first use.

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rayon::prelude::*;

/// How long a helper waits for the next job before it sleeps: longer than the gaps between
/// the kernels of a step, short enough that an idle program soon stops using the CPU. After
/// [`SPIN_HARD`] it yields between checks, so that other threads (candle's own pool runs the
/// element-wise ops) get the core when they want it.
const SPIN: Duration = Duration::from_micros(200);
const SPIN_HARD: Duration = Duration::from_micros(50);

/// A job: `tasks` calls of `f`, handed out one index at a time.
struct Job {
    /// The caller's closure with its lifetime erased. It is called only for indices below
    /// `tasks` that were claimed from `next`, and the caller returns only after `done` has
    /// counted every one of them, so it outlives every call.
    f: *const (dyn Fn(usize) + Sync),
    tasks: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    panicked: AtomicBool,
}

// SAFETY: `f` is `Sync` and only called while the caller keeps it alive (see `Job::f`).
unsafe impl Send for Job {}
unsafe impl Sync for Job {}

impl Job {
    /// Claims and runs tasks until none is left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.tasks {
                return;
            }
            // SAFETY: `i < tasks` was claimed, so the caller is still waiting (`Job::f`).
            let f = unsafe { &*self.f };
            if catch_unwind(AssertUnwindSafe(|| f(i))).is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

struct Team {
    /// The latest job (helpers that find an old one get no task from it).
    job: Mutex<Option<Arc<Job>>>,
    /// Bumped (under `job`'s lock) for every job.
    generation: AtomicUsize,
    wake: Condvar,
    sleeping: AtomicUsize,
    busy: AtomicBool,
}

thread_local! {
    /// True on helper threads, and on a caller while it takes part in its own job.
    static IN_TEAM: Cell<bool> = const { Cell::new(false) };
}

fn team() -> &'static Team {
    static TEAM: OnceLock<&'static Team> = OnceLock::new();
    TEAM.get_or_init(|| {
        let helpers = rayon::current_num_threads().saturating_sub(1);
        let team: &'static Team = Box::leak(Box::new(Team {
            job: Mutex::new(None),
            generation: AtomicUsize::new(0),
            wake: Condvar::new(),
            sleeping: AtomicUsize::new(0),
            busy: AtomicBool::new(false),
        }));
        let mut started = 0;
        for i in 0..helpers {
            let spawned = std::thread::Builder::new()
                .name(format!("trm-team-{i}"))
                .spawn(move || helper(team));
            if spawned.is_ok() {
                started += 1;
            }
        }
        if started < helpers {
            // Too few threads could start: never hand out jobs (rayon's pool does the work).
            team.busy.store(true, Ordering::Relaxed);
        }
        team
    })
}

fn helper(team: &'static Team) {
    IN_TEAM.with(|c| c.set(true));
    let mut seen = 0;
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        let mut polite = false;
        while team.generation.load(Ordering::Acquire) == seen {
            if polite {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
            spins = spins.wrapping_add(1);
            if !polite && spins.is_multiple_of(256) && start.elapsed() > SPIN_HARD {
                polite = true;
            }
            if polite && start.elapsed() > SPIN {
                let mut guard = team.job.lock().unwrap_or_else(|e| e.into_inner());
                team.sleeping.fetch_add(1, Ordering::SeqCst);
                while team.generation.load(Ordering::Acquire) == seen {
                    guard = team.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
                team.sleeping.fetch_sub(1, Ordering::SeqCst);
                break;
            }
        }
        let job = {
            let guard = team.job.lock().unwrap_or_else(|e| e.into_inner());
            seen = team.generation.load(Ordering::Acquire);
            guard.clone()
        };
        if let Some(job) = job {
            job.work();
        }
    }
}

/// The number of threads a [`for_each`] from this thread runs on.
pub fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

/// Calls `f(i)` for every `i < tasks`, in parallel where it can (see the module header), and
/// returns when all calls have. A panic in a task is re-raised here once all tasks are done.
pub fn for_each(tasks: usize, f: impl Fn(usize) + Sync) {
    if tasks == 0 {
        return;
    }
    // One task, a nested call, or one thread in all (`RAYON_NUM_THREADS=1`, a one-thread
    // pool): no hand-off at all.
    if tasks == 1 || IN_TEAM.with(Cell::get) || rayon::current_num_threads() < 2 {
        (0..tasks).for_each(f);
        return;
    }
    // From a rayon pool thread the team is not created (it would take that pool's size).
    let team = (rayon::current_thread_index().is_none()).then(team);
    let Some(team) = team.filter(|t| !t.busy.swap(true, Ordering::Acquire)) else {
        (0..tasks).into_par_iter().for_each(&f);
        return;
    };
    let f: &(dyn Fn(usize) + Sync) = &f;
    // SAFETY: only the lifetime is erased; see `Job::f` for why every call happens while `f`
    // is alive.
    let f: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(f) };
    let job = Arc::new(Job {
        f,
        tasks,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
    });
    {
        let mut guard = team.job.lock().unwrap_or_else(|e| e.into_inner());
        *guard = Some(Arc::clone(&job));
        team.generation.fetch_add(1, Ordering::Release);
        if team.sleeping.load(Ordering::SeqCst) > 0 {
            team.wake.notify_all();
        }
    }
    IN_TEAM.with(|c| c.set(true));
    job.work();
    IN_TEAM.with(|c| c.set(false));
    // The helpers' last tasks: spin, then let them have the core if they were descheduled.
    let start = Instant::now();
    let (mut spins, mut late) = (0u32, false);
    while job.done.load(Ordering::Acquire) < tasks {
        spins = spins.wrapping_add(1);
        if !late && spins.is_multiple_of(256) && start.elapsed() > SPIN {
            late = true;
        }
        if late {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    team.job.lock().unwrap_or_else(|e| e.into_inner()).take();
    team.busy.store(false, Ordering::Release);
    if job.panicked.load(Ordering::Relaxed) {
        panic!("a task of a parallel CPU kernel panicked");
    }
}

/// An output buffer shared by the tasks that write disjoint parts of it.
#[derive(Clone, Copy)]
pub(super) struct SendPtr(pub(super) *mut f32);
impl SendPtr {
    /// # Safety
    /// The result stays inside the same allocation.
    pub(super) unsafe fn offset(self, n: usize) -> Self {
        Self(self.0.add(n))
    }
}

// SAFETY: the tasks write disjoint blocks of the buffer the pointer addresses.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// A buffer of `n` floats filled chunk by chunk by `write(chunk_index, chunk)` (chunks of
/// `chunk` floats, the last one shorter), in parallel through [`for_each`] when `parallel`,
/// without zeroing it first: each chunk is handed over as uninitialised memory.
///
/// # Safety
/// `write` must initialise every element of its chunk (the buffer is returned as floats).
pub(super) unsafe fn fill(
    n: usize,
    chunk: usize,
    parallel: bool,
    write: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let chunk = chunk.max(1);
    let mut out: Vec<f32> = Vec::with_capacity(n);
    let base = SendPtr(out.spare_capacity_mut()[..n].as_mut_ptr().cast::<f32>());
    let each = |i: usize| {
        let len = chunk.min(n - i * chunk);
        // SAFETY: chunk i is elements `i * chunk .. i * chunk + len` of the `n` allocated,
        // handed to this task only (the chunks are disjoint), and viewed as `MaybeUninit`,
        // which may hold anything; no reference to an uninitialised `f32` is made.
        let c = unsafe {
            std::slice::from_raw_parts_mut(base.offset(i * chunk).0.cast::<MaybeUninit<f32>>(), len)
        };
        write(i, c);
    };
    let tasks = n.div_ceil(chunk);
    if parallel {
        for_each(tasks, each);
    } else {
        (0..tasks).for_each(each);
    }
    // SAFETY: the chunks cover `0..n`, and the caller's `write` initialised each of them
    // (a panic in `write` leaves here before this line, with the length still 0).
    unsafe { out.set_len(n) };
    out
}

/// [`fill`] for writers that want plain floats (they read back what they wrote, or hand the
/// chunk to code taking `&mut [f32]`): each task zeroes its chunk first, while the chunk is
/// about to be written anyway, so every element is initialised whatever `write` does.
pub(super) fn fill_zeroed(
    n: usize,
    chunk: usize,
    parallel: bool,
    write: impl Fn(usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    // SAFETY: `init_zeroed` initialises the whole chunk before `write` sees it.
    unsafe { fill(n, chunk, parallel, |i, c| write(i, init_zeroed(c))) }
}

/// Zero `c` and view it as floats.
pub(super) fn init_zeroed(c: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    c.fill(MaybeUninit::new(0.0));
    // SAFETY: every element was initialised on the line above, and `MaybeUninit<f32>` has
    // the size, alignment and layout of `f32`.
    unsafe { &mut *(c as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once_from_concurrent_and_nested_callers() {
        let callers: Vec<_> = (0..3)
            .map(|c| {
                std::thread::spawn(move || {
                    // Miri interprets every spin: a few rounds there.
                    let rounds = if cfg!(miri) { 3 } else { 200 };
                    for round in 0..rounds {
                        let n = 1 + (round * 7 + c) % 40;
                        let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                        for_each(n, |i| {
                            hits[i].fetch_add(1, Ordering::Relaxed);
                            // A nested call runs on the calling thread.
                            let inner = AtomicUsize::new(0);
                            for_each(3, |_| {
                                inner.fetch_add(1, Ordering::Relaxed);
                            });
                            assert_eq!(inner.load(Ordering::Relaxed), 3);
                        });
                        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
                    }
                })
            })
            .collect();
        for c in callers {
            c.join().unwrap();
        }
    }

    #[test]
    fn fill_writes_every_chunk_once_in_order_whatever_the_split() {
        for parallel in [false, true] {
            for (n, chunk) in [(0, 4), (1, 4), (10, 3), (12, 4), (7, 0), (1000, 64)] {
                // SAFETY: the closure writes every element of its chunk.
                let got = unsafe {
                    fill(n, chunk, parallel, |i, c| {
                        let first = i * chunk.max(1);
                        for (j, v) in c.iter_mut().enumerate() {
                            v.write((first + j) as f32);
                        }
                    })
                };
                let want: Vec<f32> = (0..n).map(|x| x as f32).collect();
                assert_eq!(got, want, "n {n}, chunk {chunk}, parallel {parallel}");
                // Writers of plain floats see a zeroed chunk; what they skip stays 0.
                let got = fill_zeroed(n, chunk, parallel, |i, c| {
                    let first = i * chunk.max(1);
                    assert!(c.iter().all(|&v| v == 0.0));
                    if let Some(v) = c.first_mut() {
                        *v = first as f32 + 0.5;
                    }
                });
                let want: Vec<f32> = (0..n)
                    .map(|x| {
                        if x % chunk.max(1) == 0 {
                            x as f32 + 0.5
                        } else {
                            0.0
                        }
                    })
                    .collect();
                assert_eq!(
                    got, want,
                    "zeroed: n {n}, chunk {chunk}, parallel {parallel}"
                );
            }
        }
    }

    #[test]
    fn a_panicking_task_reaches_the_caller_and_the_team_still_works() {
        let r = catch_unwind(|| {
            for_each(8, |i| {
                if i == 5 {
                    panic!("task 5");
                }
            })
        });
        assert!(r.is_err());
        let sum = AtomicUsize::new(0);
        for_each(10, |i| {
            sum.fetch_add(i, Ordering::Relaxed);
        });
        assert_eq!(sum.load(Ordering::Relaxed), 45);
    }
}
