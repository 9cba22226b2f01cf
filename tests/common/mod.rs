//! Helpers shared by the parity tests: where the fixtures are, and the error measure of the
//! fixture README (`max|ours - ref| / max|ref|`).

use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};

/// `TRM_PARITY_DIR`, default `../shared/fixtures/parity`.
pub fn parity_dir() -> PathBuf {
    match std::env::var("TRM_PARITY_DIR") {
        Ok(d) => PathBuf::from(d),
        Err(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/parity"),
    }
}

/// Every `*.safetensors` fixture of the parity folder, sorted.
pub fn fixture_files() -> Vec<PathBuf> {
    let dir = parity_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("parity fixtures folder {} unreadable: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no *.safetensors fixture in {}",
        dir.display()
    );
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
