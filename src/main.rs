//! The `trm-tui` binary: parse the command line and hand over to the library.

/// mimalloc instead of the system allocator: candle's CPU backend allocates a fresh buffer
/// for every op, and glibc's malloc hands big freed blocks back to the kernel, so every step
/// paid page faults and page clearing for the same memory again. `trm-tui bench --preset
/// sudoku6-cpu --batch 64`, one thread: 1.70 s per step with glibc, 0.85 s with mimalloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(trm_tui::cli::main());
}
