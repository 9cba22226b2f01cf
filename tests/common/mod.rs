//! Helpers shared by the tests: where their data is, the error measure of the parity
//! fixtures' README (`max|ours - ref| / max|ref|`), and random batches for model tests.
//!
//! A fresh clone tests on its own: the `att_rope` parity fixture is copied into
//! `tests/fixtures/parity` (with its README's provenance in `tests/fixtures/README.md`).
//! Tests that need the large shared data beside the checkout (`../shared`, or
//! `$TRM_SHARED_DIR`) print that they were skipped and why when it is absent, unless
//! `TRM_REQUIRE_SHARED=1` (set by `.ci/run`) makes them fail instead.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};
use trm_tui::model::loss::IGNORE_LABEL_ID;
use trm_tui::model::{Batch, TrmConfig};
use trm_tui::util::Rng;

/// The shared reference data: `$TRM_SHARED_DIR`, default `../shared` beside the checkout.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("TRM_SHARED_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    }
}

/// Whether the tests that read the shared data must run (`TRM_REQUIRE_SHARED=1`).
pub fn shared_required() -> bool {
    std::env::var("TRM_REQUIRE_SHARED").is_ok_and(|v| v == "1")
}

/// `shared_dir()/rel` when it exists. When it does not: a panic under
/// `TRM_REQUIRE_SHARED=1`, else a line saying `test` was skipped and why, and `None`.
pub fn shared_or_skip(rel: &str, test: &str) -> Option<PathBuf> {
    let p = shared_dir().join(rel);
    if p.exists() {
        return Some(p);
    }
    if shared_required() {
        panic!(
            "{test}: {} is missing and TRM_REQUIRE_SHARED=1 (put the shared data beside the \
             checkout or set TRM_SHARED_DIR)",
            p.display()
        );
    }
    // Straight to stderr, past the test harness's capture: `cargo test` lists the skips.
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {test}: needs {} (the shared data beside the checkout, or TRM_SHARED_DIR; \
         TRM_REQUIRE_SHARED=1 makes this a failure)",
        p.display()
    );
    None
}

/// The parity fixtures copied into the repository.
pub fn bundled_parity_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity")
}

/// The parity fixtures to check: every `*.safetensors` of `$TRM_PARITY_DIR` when it is set;
/// otherwise the bundled ones plus those of `../shared/fixtures/parity` not bundled (skipped
/// with a line when that folder is absent, required under `TRM_REQUIRE_SHARED=1`). Sorted by
/// file name.
pub fn fixture_files() -> Vec<PathBuf> {
    let dirs = match std::env::var_os("TRM_PARITY_DIR") {
        Some(d) if !d.is_empty() => vec![PathBuf::from(d)],
        _ => {
            let mut dirs = vec![bundled_parity_dir()];
            dirs.extend(shared_or_skip(
                "fixtures/parity",
                "the shared parity fixtures",
            ));
            dirs
        }
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in &dirs {
        let rd = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("parity fixtures folder {} unreadable: {e}", dir.display()));
        for p in rd.filter_map(|e| e.ok().map(|e| e.path())) {
            let fresh = !files.iter().any(|f| f.file_name() == p.file_name());
            if p.extension().is_some_and(|x| x == "safetensors") && fresh {
                files.push(p);
            }
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    assert!(!files.is_empty(), "no *.safetensors fixture in {dirs:?}");
    files
}

/// `max|ours - ref| / max|ref|` (the absolute error when the reference is all zeros).
pub fn rel_err(ours: &Tensor, reference: &Tensor) -> f64 {
    assert_eq!(
        ours.dims(),
        reference.dims(),
        "shape mismatch: ours {:?} vs fixture {:?}",
        ours.dims(),
        reference.dims()
    );
    let a = ours.to_dtype(DType::F64).unwrap().flatten_all().unwrap();
    let b = reference
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap();
    let diff = (a - &b)
        .unwrap()
        .abs()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    let scale = b.abs().unwrap().max(0).unwrap().to_scalar::<f64>().unwrap();
    if scale == 0.0 {
        diff
    } else {
        diff / scale
    }
}

/// An integer tensor as `i32`s.
pub fn ints(t: &Tensor) -> Vec<i32> {
    t.to_dtype(DType::I64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<i64>()
        .unwrap()
        .into_iter()
        .map(|v| v as i32)
        .collect()
}

/// A batch of `b` random puzzles for `cfg`: random inputs and puzzle ids, labels in
/// `1..vocab_size` with every seventh position (from the fourth) ignored
/// ([`IGNORE_LABEL_ID`]), so that the loss's mask is exercised.
pub fn random_batch(cfg: &TrmConfig, b: usize, seed: u64) -> Batch {
    let mut rng = Rng::new(seed);
    let s = cfg.seq_len;
    let inputs: Vec<i32> = (0..b * s)
        .map(|_| rng.below(cfg.vocab_size) as i32)
        .collect();
    let labels: Vec<i32> = (0..b * s)
        .map(|i| {
            if i % 7 == 3 {
                IGNORE_LABEL_ID as i32
            } else {
                1 + rng.below(cfg.vocab_size - 1) as i32
            }
        })
        .collect();
    let puzzle_ids = (0..b)
        .map(|_| rng.below(cfg.num_puzzle_identifiers.max(1)) as i32)
        .collect();
    Batch {
        size: b,
        seq_len: s,
        inputs,
        labels,
        puzzle_ids,
    }
}
