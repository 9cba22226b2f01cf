//! The `nccl` engine (feature `nccl`): the gradient all-reduce of a GPU job runs in NCCL, in
//! place on the CUDA memory of the flattened gradients and on candle's own stream (so it is
//! ordered after the backward pass that wrote them and before the optimizer that reads them,
//! with no host round trip). Everything else (the id rendezvous, control words, the
//! puzzle-embedding gather, metric sums, weight broadcast) is small and goes over the
//! socket star of [`LocalTcp`], which here may span machines: rank 0 listens on
//! `TRM_DIST_PORT` (default `MASTER_PORT + 1`, as torchrun's agent holds `MASTER_PORT`).
//!
//! The communicator is created on the first device all-reduce, on the device and stream of
//! the tensor being reduced (the model's), after every rank has said that its tensors are on
//! a GPU: a job where one rank fell back to the CPU stops with an error naming it instead of
//! hanging in NCCL's set-up. On CPU tensors the engine sums over the sockets like `local`.
//!
//! NCCL has no time-out of its own: a rank that dies mid-sum is noticed by the next socket
//! operation of its peers (every step has some), which ends the job; dropping the
//! communicator aborts NCCL's pending work.

use std::sync::Mutex;
use std::time::Duration;

use candle_core::cuda_backend::cudarc::nccl::{Comm, Id, ReduceOp};
use candle_core::{CpuStorage, CudaStorage, DType, InplaceOp1, Layout, Tensor};

use super::local::LocalTcp;
use super::{Collective, Control, DistEnv, DistError};

/// Where the tensors of the ranks live, agreed on the first device all-reduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    Cpu,
    Cuda,
}

/// An NCCL communicator. `Comm` holds a raw `ncclComm_t`, so it is neither `Send` nor
/// `Sync` by itself.
struct CommCell(Comm);

// SAFETY: an NCCL communicator may be used from any thread as long as two threads never use
// it at once; every use goes through the `Mutex` in `Nccl`.
unsafe impl Send for CommCell {}

#[derive(Default)]
struct State {
    placement: Option<Placement>,
    comm: Option<CommCell>,
}

pub struct Nccl {
    tcp: LocalTcp,
    state: Mutex<State>,
}

impl std::fmt::Debug for Nccl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nccl")
            .field("rank", &self.tcp.rank())
            .field("world", &self.tcp.world())
            .finish()
    }
}

impl Nccl {
    /// Join the job's socket star (across machines); NCCL itself starts on the first
    /// device all-reduce.
    pub fn connect(env: &DistEnv, timeout: Duration) -> Result<Self, DistError> {
        Ok(Self {
            tcp: LocalTcp::connect_network(env, timeout)?,
            state: Mutex::new(State::default()),
        })
    }

    /// The communicator, created on `storage`'s device and stream on first use: rank 0 makes
    /// the unique id and sends it over the sockets.
    fn init_comm(&self, storage: &CudaStorage) -> Result<Comm, DistError> {
        let mut id_bytes = if self.tcp.rank() == 0 {
            let id = Id::new()
                .map_err(|e| DistError::Setup(format!("nccl: ncclGetUniqueId failed: {e:?}")))?;
            id.internal().iter().map(|&c| c as u8).collect()
        } else {
            Vec::new()
        };
        self.tcp.broadcast_bytes(&mut id_bytes)?;
        let mut internal = [0 as std::ffi::c_char; 128];
        if id_bytes.len() != internal.len() {
            return Err(DistError::Protocol {
                peer: 0,
                op: "the NCCL id exchange",
                got: format!("{} bytes", id_bytes.len()),
                expected: "128 bytes".into(),
            });
        }
        for (d, s) in internal.iter_mut().zip(&id_bytes) {
            *d = *s as std::ffi::c_char;
        }
        let stream = storage.device.cuda_stream();
        stream
            .context()
            .bind_to_thread()
            .map_err(|e| DistError::Setup(format!("nccl: cannot bind the CUDA context: {e}")))?;
        Comm::from_rank(
            stream,
            self.tcp.rank(),
            self.tcp.world(),
            Id::uninit(internal),
        )
        .map_err(|e| {
            DistError::Setup(format!(
                "nccl: ncclCommInitRank (rank {} of {}) failed: {e:?} (NCCL_DEBUG=INFO says more)",
                self.tcp.rank(),
                self.tcp.world()
            ))
        })
    }

    fn sum_on_device(&self, storage: &mut CudaStorage, layout: &Layout) -> Result<(), DistError> {
        let (start, end) = layout.contiguous_offsets().ok_or_else(|| {
            DistError::Tensor("nccl all-reduce: the tensor is not contiguous".into())
        })?;
        let mut st = self
            .state
            .lock()
            .map_err(|_| DistError::Setup("nccl: lock poisoned".into()))?;
        if st.comm.is_none() {
            let comm = self.init_comm(storage)?;
            st.comm = Some(CommCell(comm));
        }
        let comm = &st.comm.as_ref().expect("set above").0;
        let slice = storage.as_cuda_slice_mut::<f32>()?;
        let mut view = slice.slice_mut(start..end);
        comm.all_reduce_in_place(&mut view, &ReduceOp::Sum)
            .map_err(|e| DistError::Tensor(format!("nccl all-reduce failed: {e:?}")))?;
        Ok(())
    }
}

/// The in-place device sum as a candle op, so that it runs on the tensor's own storage.
struct DeviceSum<'a>(&'a Nccl);

impl InplaceOp1 for DeviceSum<'_> {
    fn name(&self) -> &'static str {
        "nccl-all-reduce-sum"
    }

    fn cpu_fwd(&self, _: &mut CpuStorage, _: &Layout) -> candle_core::Result<()> {
        candle_core::bail!("the nccl device sum runs on CUDA tensors only")
    }

    fn cuda_fwd(&self, storage: &mut CudaStorage, layout: &Layout) -> candle_core::Result<()> {
        self.0
            .sum_on_device(storage, layout)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))
    }
}

impl Collective for Nccl {
    fn rank(&self) -> usize {
        self.tcp.rank()
    }
    fn world(&self) -> usize {
        self.tcp.world()
    }
    fn local_rank(&self) -> usize {
        self.tcp.local_rank()
    }
    fn engine(&self) -> &'static str {
        "nccl"
    }

    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), DistError> {
        self.tcp.all_reduce_sum_f32(buf)
    }

    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), DistError> {
        self.tcp.all_reduce_sum_f64(buf)
    }

    fn all_reduce_sum_tensor(&self, t: Tensor) -> Result<Tensor, DistError> {
        let mine = if t.device().is_cuda() {
            Placement::Cuda
        } else {
            Placement::Cpu
        };
        let agreed = self
            .state
            .lock()
            .map_err(|_| DistError::Setup("nccl: lock poisoned".into()))?
            .placement;
        match agreed {
            Some(p) if p == mine => {}
            Some(p) => {
                return Err(DistError::Tensor(format!(
                    "nccl engine: this rank's gradients moved from {p:?} to {mine:?}"
                )))
            }
            None => {
                super::agree_on_gpu(&self.tcp, mine == Placement::Cuda, "nccl")?;
                self.state
                    .lock()
                    .map_err(|_| DistError::Setup("nccl: lock poisoned".into()))?
                    .placement = Some(mine);
            }
        }
        if mine == Placement::Cpu {
            return super::sum_through_host(&self.tcp, t);
        }
        let t = if t.dtype() == DType::F32 {
            t.contiguous()?
        } else {
            t.to_dtype(DType::F32)?.contiguous()?
        };
        t.inplace_op1(&DeviceSum(self))?;
        Ok(t)
    }

    fn all_gather_bytes(&self, local: &[u8]) -> Result<Vec<Vec<u8>>, DistError> {
        self.tcp.all_gather_bytes(local)
    }

    fn broadcast_bytes(&self, buf: &mut Vec<u8>) -> Result<(), DistError> {
        self.tcp.broadcast_bytes(buf)
    }

    fn control(&self, word: Control) -> Result<Control, DistError> {
        self.tcp.control(word)
    }
}
