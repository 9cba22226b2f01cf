//! The `trm-tui` binary: parse the command line and hand over to the library.

/// mimalloc instead of the system allocator: candle's CPU backend allocates a fresh buffer
/// for every op, and glibc's malloc hands big freed blocks back to the kernel, so every step
/// would pay page faults and page clearing for the same memory again; mimalloc keeps them.
///
/// By default mimalloc still hands freed pages back to the kernel shortly after they are
/// freed (`purge_delay`), and the next step faults and clears them again: purging is turned
/// off unless `MIMALLOC_PURGE_DELAY` is set. Resident memory stays at the peak of the run
/// instead of shrinking between steps. docs/performance.md has the figures.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (v2 and v3); the sys crate names no
/// constant for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// After each of its parallel element-wise ops (the gradient sums of backprop, mostly),
/// candle's own worker pool spins for 25,000 `pause`s before it sleeps, and the spinning
/// worker holds a core that the matrix products after it need. A short spin still catches
/// back-to-back ops.
const CANDLE_SPIN_LIMIT: &str = "1000";

fn main() {
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        // No other thread exists yet (candle reads the variable when it starts its pool).
        std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", CANDLE_SPIN_LIMIT);
    }
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting an option is allowed at any time; no allocation is in flight here.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
    std::process::exit(trm_tui::cli::main());
}
