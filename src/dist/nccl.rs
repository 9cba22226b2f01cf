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
//! NCCL has no time-out of its own: each device sum runs under the step [`Watchdog`] until
//! its stream has finished it, and a rank stuck longer than `TRM_DIST_TIMEOUT_S` (a dead
//! peer) ends itself, naming the operation.
//!
//! The communicator is bound to the thread that created it: NCCL enqueues on candle's stream
//! of the device as that thread sees it, so a sum asked from another thread is an error, not a
//! sum on the wrong stream. Errors carry NCCL's code, its text and the communicator's last
//! error message; dropping the engine aborts the communicator and never panics.

use std::ffi::{c_int, c_void, CStr};
use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use candle_core::cuda_backend::cudarc::driver::{CudaStream, DevicePtrMut};
use candle_core::cuda_backend::cudarc::nccl::{result as nccl, sys};
use candle_core::{CpuStorage, CudaStorage, DType, InplaceOp1, Layout, Tensor};

use super::local::LocalTcp;
use super::watchdog::{end_the_rank, Watchdog};
use super::{Collective, Control, DistEnv, DistError};

/// Where the tensors of the ranks live, agreed on the first device all-reduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    Cpu,
    Cuda,
}

/// `ncclInternalError (3): internal error - please report this issue to the NCCL developers`,
/// and the communicator's last error message when there is one.
fn describe(code: sys::ncclResult_t, comm: Option<sys::ncclComm_t>) -> String {
    // SAFETY: ncclGetErrorString returns a pointer to a static NUL-terminated string for any
    // result code.
    let text = unsafe { CStr::from_ptr(sys::ncclGetErrorString(code)) }
        .to_string_lossy()
        .into_owned();
    let mut out = format!("{code:?} ({}): {text}", code as c_int);
    if let Some(comm) = comm {
        // SAFETY: `comm` is a live communicator; ncclGetLastError returns a NUL-terminated
        // string owned by NCCL (empty when there is none).
        let last = unsafe { CStr::from_ptr(sys::ncclGetLastError(comm)) }.to_string_lossy();
        if !last.trim().is_empty() {
            out.push_str(&format!(" ({})", last.trim()));
        }
    }
    out
}

/// A communicator with the stream and thread it was created on.
struct Comm {
    raw: sys::ncclComm_t,
    stream: Arc<CudaStream>,
    owner: ThreadId,
    rank: usize,
}

// SAFETY: the engine is shared across threads (`Arc<dyn Collective>`), so the `Comm` inside its
// `Mutex` must be `Send`. It is only ever used on the thread that created it: `sum` checks the
// calling thread first and refuses any other, so NCCL only ever sees the communicator with the
// stream (candle's, for the device of that thread) it was made for, one call at a time (the
// `Mutex`). The one use from another thread is `Drop`'s `ncclCommAbort`, which NCCL documents as
// callable from any thread to stop a communicator.
unsafe impl Send for Comm {}

impl Comm {
    fn new(
        stream: Arc<CudaStream>,
        rank: usize,
        world: usize,
        id: sys::ncclUniqueId,
    ) -> Result<Self, DistError> {
        let mut raw = MaybeUninit::uninit();
        // SAFETY: `raw` is a valid out-pointer; the id came from rank 0's ncclGetUniqueId; NCCL
        // makes the communicator on the current device, which the caller bound to this thread.
        unsafe { nccl::comm_init_rank(raw.as_mut_ptr(), world as c_int, id, rank as c_int) }
            .map_err(|e| {
                DistError::Setup(format!(
                    "nccl: ncclCommInitRank (rank {rank} of {world}) failed: {} (NCCL_DEBUG=INFO says more)",
                    describe(e.0, None)
                ))
            })?;
        Ok(Self {
            // SAFETY: ncclCommInitRank succeeded, so it wrote the communicator.
            raw: unsafe { raw.assume_init() },
            stream,
            owner: std::thread::current().id(),
            rank,
        })
    }

    /// Sum `n` float32 values at `ptr` over the ranks, in place, on the communicator's stream.
    fn sum(
        &self,
        slice: &mut candle_core::cuda_backend::cudarc::driver::CudaViewMut<'_, f32>,
    ) -> Result<(), DistError> {
        let here = std::thread::current().id();
        if here != self.owner {
            return Err(DistError::Tensor(format!(
                "nccl: rank {}'s communicator was created on thread {:?} and is used on {here:?}: \
                 it enqueues on the stream of the thread that created it, so every device sum \
                 must run there",
                self.rank, self.owner
            )));
        }
        let n = slice.len();
        let (ptr, _record) = slice.device_ptr_mut(&self.stream);
        // SAFETY: `ptr` addresses `n` float32 values on this communicator's device, alive for
        // the call (and ordered on `self.stream`, whose event `_record` records); send and
        // receive buffers are the same (in place), which ncclAllReduce allows.
        unsafe {
            nccl::all_reduce(
                ptr as *const c_void,
                ptr as *mut c_void,
                n,
                sys::ncclDataType_t::ncclFloat32,
                sys::ncclRedOp_t::ncclSum,
                self.raw,
                self.stream.cu_stream() as _,
            )
        }
        .map_err(|e| {
            DistError::Tensor(format!(
                "nccl: ncclAllReduce of {n} values failed: {}",
                describe(e.0, Some(self.raw))
            ))
        })?;
        Ok(())
    }
}

impl Drop for Comm {
    fn drop(&mut self) {
        // SAFETY: `raw` is a live communicator, aborted once, here.
        let r = unsafe { sys::ncclCommAbort(self.raw) };
        if r != sys::ncclResult_t::ncclSuccess {
            eprintln!(
                "nccl: rank {}: ncclCommAbort failed: {}",
                self.rank,
                describe(r, None)
            );
        }
    }
}

#[derive(Default)]
struct State {
    placement: Option<Placement>,
    comm: Option<Comm>,
}

pub struct Nccl {
    tcp: LocalTcp,
    state: Mutex<State>,
    watchdog: Watchdog,
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
    /// device all-reduce. `timeout` is also the watchdog's limit on one device sum.
    pub fn connect(env: &DistEnv, timeout: Duration) -> Result<Self, DistError> {
        Ok(Self {
            tcp: LocalTcp::connect_network(env, timeout)?,
            state: Mutex::new(State::default()),
            watchdog: Watchdog::start(timeout, end_the_rank(env.rank)),
        })
    }

    /// The communicator, created on `storage`'s device and stream on first use: rank 0 makes
    /// the unique id and sends it over the sockets.
    fn init_comm(&self, storage: &CudaStorage) -> Result<Comm, DistError> {
        let mut id_bytes = if self.tcp.rank() == 0 {
            let id = nccl::get_uniqueid().map_err(|e| {
                DistError::Setup(format!(
                    "nccl: ncclGetUniqueId failed: {}",
                    describe(e.0, None)
                ))
            })?;
            id.internal.iter().map(|&c| c as u8).collect()
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
        let _watch = self
            .watchdog
            .watch("the NCCL communicator's set-up (ncclCommInitRank)");
        Comm::new(
            stream,
            self.tcp.rank(),
            self.tcp.world(),
            sys::ncclUniqueId { internal },
        )
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
            st.comm = Some(comm);
        }
        let comm = st.comm.as_ref().expect("set above");
        let slice = storage.as_cuda_slice_mut::<f32>()?;
        let mut view = slice.slice_mut(start..end);
        // Under the watchdog until the stream has run the sum: a dead peer leaves the kernel
        // spinning and this synchronisation waiting, where nothing else would notice.
        let _watch = self
            .watchdog
            .watch(format!("the NCCL all-reduce of {} values", end - start));
        comm.sum(&mut view)?;
        comm.stream.synchronize().map_err(|e| {
            DistError::Tensor(format!(
                "nccl: the stream failed after the all-reduce: {e:?}"
            ))
        })?;
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
