//! The CPU matrix product (`trm_tui::model::sgemm`) against candle's (the `gemm` crate) on the
//! shapes of the reasoning net: `x @ w^T` with a transposed weight view (forward), and the
//! two backward products. Prints GFLOP/s for each; the binary's allocator settings (mimalloc,
//! no purging) are copied so that both sides reuse memory as they do in `trm-tui`.
//!
//! Run: `cargo bench --bench sgemm` (`RAYON_NUM_THREADS=1` for one core).

use std::time::Instant;

use candle_core::{Device, Tensor};
use trm_tui::model::sgemm::{available, linear_packed, matmul, pack_scope, packed_for, MatRef};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// GFLOP/s of the fastest of 30 timed calls (after 3 untimed): the least disturbed by other
/// work on the machine.
fn gflops(flop: f64, f: &mut dyn FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let best = (0..30)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    flop / best / 1e9
}

fn main() {
    // mimalloc's `purge_delay` (option 15), as src/main.rs sets it.
    unsafe { libmimalloc_sys::mi_option_set(15, -1) };
    if !available() {
        println!("this CPU lacks AVX2/FMA: trm-tui uses candle's product here");
        return;
    }
    println!("threads: {}", rayon::current_num_threads());
    // (label, m, k, n, b transposed): paper size, batch 1 solve (97 rows) and batch 16 (1552).
    let shapes = [
        ("solve gate_up  x@w^T", 97, 512, 3072, true),
        ("solve down     x@w^T", 97, 1536, 512, true),
        ("train gate_up  x@w^T", 1552, 512, 3072, true),
        ("train down     x@w^T", 1552, 1536, 512, true),
        ("train dgate_up dy@w ", 1552, 3072, 512, false),
        ("train dw       dy^T@x", 3072, 1552, 512, false),
    ];
    for (label, m, k, n, bt) in shapes {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1 - 0.2).collect();
        let flop = 2.0 * (m * k * n) as f64;
        let am = MatRef::new(&a, 0, m, k, k, 1).expect("in bounds");
        let bm = if bt {
            MatRef::new(&b, 0, k, n, 1, k)
        } else {
            MatRef::new(&b, 0, k, n, n, 1)
        }
        .expect("in bounds");
        let ours = gflops(flop, &mut || {
            std::hint::black_box(matmul(am, bm, m, k, n));
        });
        let ta = Tensor::from_slice(&a, (m, k), &Device::Cpu).expect("tensor");
        let tb = if bt {
            Tensor::from_slice(&b, (n, k), &Device::Cpu).and_then(|t| t.t())
        } else {
            Tensor::from_slice(&b, (k, n), &Device::Cpu)
        }
        .expect("tensor");
        let candle = gflops(flop, &mut || {
            std::hint::black_box(ta.matmul(&tb).expect("matmul"));
        });
        // As the model runs it in a no-gradient pass: the weight packed once, beforehand.
        let packed = if bt {
            let w = Tensor::from_slice(&b, (n, k), &Device::Cpu).expect("tensor");
            let _scope = pack_scope([&w]).expect("pack");
            let pw = packed_for(&w).expect("packed");
            let rate = gflops(flop, &mut || {
                std::hint::black_box(linear_packed(&ta, &pw).expect("matmul"));
            });
            format!(", packed weight {rate:6.1} GFLOP/s")
        } else {
            String::new()
        };
        println!(
            "{label} {m:>5}x{k:>4}x{n:>4}: sgemm {ours:6.1} GFLOP/s, candle {candle:6.1} GFLOP/s{packed}"
        );
    }
}
