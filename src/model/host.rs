//! The boundary between host and device on the model's paths.
//!
//! - Device-to-host reads: every read the training step makes (halting logits, the packed loss
//!   and metric sums, the gradient norm, a data-parallel job's puzzle-embedding gradients) goes
//!   through these helpers, which count the reads and the elements read on the calling thread.
//!   On a GPU each read synchronises the stream, so a test holds a step to a few small reads
//!   whatever the parameter count.
//! - Index tensors: token and puzzle ids reach the model as `u32` made on the host (candle's
//!   CUDA kernels have no casts from `i32`, so the model casts no integer tensor at all);
//!   [`check_index`] refuses any other dtype and logs what it saw on this thread for tests.

use std::cell::Cell;

use candle_core::{DType, Result, Tensor, WithDType};

thread_local! {
    static READS: Cell<HostReads> = const { Cell::new(HostReads { reads: 0, elements: 0 }) };
    static INDEX_CHECKS: Cell<u64> = const { Cell::new(0) };
}

/// Refuse an index tensor that is not `u32` (`what` names it in the error); count the check.
pub fn check_index(t: &Tensor, what: &str) -> Result<()> {
    INDEX_CHECKS.with(|c| c.set(c.get() + 1));
    if t.dtype() != DType::U32 {
        candle_core::bail!(
            "{what}: expected a u32 index tensor made on the host, got {:?} (the model casts no \
             integer tensor on the device: candle's CUDA kernels have no casts from i32)",
            t.dtype()
        );
    }
    Ok(())
}

/// Index tensors checked on this thread so far.
pub fn index_checks() -> u64 {
    INDEX_CHECKS.with(Cell::get)
}

/// Reads made on this thread since it started (or since [`reset`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostReads {
    /// Device-to-host copies.
    pub reads: u64,
    /// Elements those copies carried.
    pub elements: u64,
}

impl std::ops::Sub for HostReads {
    type Output = HostReads;
    fn sub(self, o: HostReads) -> HostReads {
        HostReads {
            reads: self.reads - o.reads,
            elements: self.elements - o.elements,
        }
    }
}

/// This thread's count so far.
pub fn reads() -> HostReads {
    READS.with(Cell::get)
}

/// Start this thread's count again from zero.
pub fn reset() {
    READS.with(|c| c.set(HostReads::default()));
}

fn count(elements: usize) {
    READS.with(|c| {
        let mut r = c.get();
        r.reads += 1;
        r.elements += elements as u64;
        c.set(r);
    });
}

/// `t` (any rank) as a flat host vector: one read.
pub fn to_vec<T: WithDType>(t: &Tensor) -> Result<Vec<T>> {
    count(t.elem_count());
    t.flatten_all()?.to_vec1()
}

/// A `[R, C]` tensor as host rows: one read.
pub fn to_vec2<T: WithDType>(t: &Tensor) -> Result<Vec<Vec<T>>> {
    count(t.elem_count());
    t.to_vec2()
}

/// A one-element tensor as a host scalar: one read.
pub fn to_scalar<T: WithDType>(t: &Tensor) -> Result<T> {
    if t.elem_count() != 1 {
        candle_core::bail!("expected one element, the tensor has shape {:?}", t.dims());
    }
    count(1);
    Ok(t.flatten_all()?.to_vec1::<T>()?[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn reads_and_elements_are_counted_per_thread() -> Result<()> {
        reset();
        let t = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &Device::Cpu)?;
        assert_eq!(to_vec::<f32>(&t)?, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(to_vec2::<f32>(&t)?.len(), 2);
        assert_eq!(to_scalar::<f32>(&t.sum_all()?)?, 10.0);
        assert_eq!(
            reads(),
            HostReads {
                reads: 3,
                elements: 9
            }
        );
        std::thread::spawn(|| assert_eq!(reads(), HostReads::default()))
            .join()
            .expect("the other thread counts from zero");
        assert!(to_scalar::<f32>(&t).is_err());
        Ok(())
    }
}
