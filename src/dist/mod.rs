//! Data-parallel training: who this process is among the job's ranks (the launch
//! environment of torchrun, Slurm or Open MPI), and the collective operations the trainer
//! needs (all-reduce, all-gather, broadcast, control words) behind one [`Collective`]
//! trait. Engines: [`Single`] (one process, no communication), [`local::LocalTcp`] (the
//! ranks of `trm-tui train --nproc N` on one machine, over loopback sockets) and `mpi::Mpi`
//! (MPI_COMM_WORLD under `mpirun`/`srun`, built where an MPI compiler wrapper is found). The
//! launcher that starts and supervises local ranks is [`launch`].
//!
//! With the `nccl` feature, `nccl::Nccl` sums CUDA tensors with NCCL on the device and
//! uses the local engine's sockets (across machines) for everything else.
//!
//! Every host collective here is deterministic: sums are taken in rank order (rank 0's
//! values, plus rank 1's, ...), so a run gives the same bits every time, and a 2-rank run the
//! same bits as one process accumulating the same two micro-batches. NCCL's device sums are
//! the same bits on every rank and in every run of one topology, but not in rank order.

pub mod launch;
pub mod local;
#[cfg(trm_mpi)]
pub mod mpi;
#[cfg(feature = "nccl")]
pub mod nccl;
pub mod watchdog;

use std::fmt;
use std::sync::Arc;

use candle_core::{DType, Tensor};

/// What went wrong between ranks. Every error names the operation and the rank, so a job
/// never ends in a silent hang or an anonymous socket error.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("rank {peer} is gone ({why}) during {op}: the job stops")]
    PeerLost {
        peer: usize,
        op: &'static str,
        why: String,
    },
    #[error("rank {peer} did not answer within {secs} s during {op} (TRM_DIST_TIMEOUT_S sets the limit): the job stops")]
    Timeout {
        peer: usize,
        op: &'static str,
        secs: u64,
    },
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Tensor(String),
    #[error("rank {peer} sent {got} during {op}, expected {expected}")]
    Protocol {
        peer: usize,
        op: &'static str,
        got: String,
        expected: String,
    },
}

/// The word rank 0 sends before each action, so that every rank takes the same branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Data is ready in the run folder; build the session.
    Ready,
    /// Run one optimizer step.
    Step,
    /// Rank 0 is writing a checkpoint: send it this rank's ACT carries.
    Save,
    /// The run is over (finished, stopped or failed on rank 0): exit.
    Exit,
}

impl From<candle_core::Error> for DistError {
    fn from(e: candle_core::Error) -> Self {
        DistError::Tensor(e.to_string())
    }
}

impl Control {
    pub fn to_byte(self) -> u8 {
        match self {
            Control::Ready => 1,
            Control::Step => 2,
            Control::Save => 3,
            Control::Exit => 4,
        }
    }

    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Control::Ready,
            2 => Control::Step,
            3 => Control::Save,
            4 => Control::Exit,
            _ => return None,
        })
    }
}

/// The collective operations of data-parallel training. Every rank calls the same
/// operations in the same order; results are the same bits on every rank.
pub trait Collective: Send + Sync + fmt::Debug {
    fn rank(&self) -> usize;
    fn world(&self) -> usize;
    /// This rank's index among the ranks of its machine (which GPU it takes).
    fn local_rank(&self) -> usize;
    /// The engine's name (`single`, `local`, `mpi`, `nccl`).
    fn engine(&self) -> &'static str;
    /// Element-wise sum over the ranks, in rank order; the result replaces `buf` everywhere.
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), DistError>;
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), DistError>;
    /// The element-wise sum over the ranks of an `f32` tensor, on the tensor's device. It may
    /// work in place: `t`'s storage (and any tensor sharing it) can be overwritten. The host
    /// engines go through [`Collective::all_reduce_sum_f32`]; NCCL sums CUDA memory in place.
    fn all_reduce_sum_tensor(&self, t: Tensor) -> Result<Tensor, DistError> {
        if self.world() == 1 {
            return Ok(t);
        }
        sum_through_host(self, t)
    }
    /// Every rank's bytes, in rank order, on every rank.
    fn all_gather_bytes(&self, local: &[u8]) -> Result<Vec<Vec<u8>>, DistError>;
    /// Rank 0's bytes on every rank (`buf` is replaced on the others).
    fn broadcast_bytes(&self, buf: &mut Vec<u8>) -> Result<(), DistError>;
    /// Rank 0 sends `word` (its argument); the others receive it. Waits without a time-out
    /// (rank 0 may be paused for hours), but a rank 0 that is gone ends the wait at once.
    fn control(&self, word: Control) -> Result<Control, DistError>;
}

/// One process: every collective is the identity.
#[derive(Debug, Default, Clone, Copy)]
pub struct Single;

impl Collective for Single {
    fn rank(&self) -> usize {
        0
    }
    fn world(&self) -> usize {
        1
    }
    fn local_rank(&self) -> usize {
        0
    }
    fn engine(&self) -> &'static str {
        "single"
    }
    fn all_reduce_sum_f32(&self, _buf: &mut [f32]) -> Result<(), DistError> {
        Ok(())
    }
    fn all_reduce_sum_f64(&self, _buf: &mut [f64]) -> Result<(), DistError> {
        Ok(())
    }
    fn all_gather_bytes(&self, local: &[u8]) -> Result<Vec<Vec<u8>>, DistError> {
        Ok(vec![local.to_vec()])
    }
    fn broadcast_bytes(&self, _buf: &mut Vec<u8>) -> Result<(), DistError> {
        Ok(())
    }
    fn control(&self, word: Control) -> Result<Control, DistError> {
        Ok(word)
    }
}

/// The default communicator: one process.
pub fn single() -> Arc<dyn Collective> {
    Arc::new(Single)
}

/// An `f32` tensor summed over the ranks through host memory
/// ([`Collective::all_reduce_sum_f32`]), back on its device.
pub fn sum_through_host<C: Collective + ?Sized>(c: &C, t: Tensor) -> Result<Tensor, DistError> {
    let mut v = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    c.all_reduce_sum_f32(&mut v)?;
    Ok(Tensor::from_vec(v, t.shape(), t.device())?)
}

/// Every rank says whether its tensors are on a GPU; all must agree, or every rank fails with
/// an error naming the ranks on the CPU (a job where `--device auto` fell back to the CPU on
/// some machine must stop, not hang in a GPU engine's set-up).
pub fn agree_on_gpu(c: &dyn Collective, on_gpu: bool, engine: &str) -> Result<(), DistError> {
    let parts = c.all_gather_bytes(&[u8::from(on_gpu)])?;
    let on_cpu: Vec<String> = parts
        .iter()
        .enumerate()
        .filter(|(_, b)| b.as_slice() != [1])
        .map(|(r, _)| r.to_string())
        .collect();
    if on_cpu.is_empty() || on_cpu.len() == parts.len() {
        return Ok(());
    }
    Err(DistError::Setup(format!(
        "{engine} engine: rank(s) {} train on the CPU while the others are on GPUs (did \
         --device auto fall back?); every rank must use a CUDA device",
        on_cpu.join(", ")
    )))
}

/// `f32`s gathered from every rank, concatenated in rank order.
pub fn all_gather_f32(c: &dyn Collective, local: &[f32]) -> Result<Vec<f32>, DistError> {
    let bytes: Vec<u8> = local.iter().flat_map(|v| v.to_le_bytes()).collect();
    Ok(c.all_gather_bytes(&bytes)?
        .iter()
        .flat_map(|b| {
            b.chunks_exact(4)
                .map(|x| f32::from_le_bytes([x[0], x[1], x[2], x[3]]))
        })
        .collect())
}

/// `i32`s gathered from every rank, concatenated in rank order.
pub fn all_gather_i32(c: &dyn Collective, local: &[i32]) -> Result<Vec<i32>, DistError> {
    let bytes: Vec<u8> = local.iter().flat_map(|v| v.to_le_bytes()).collect();
    Ok(c.all_gather_bytes(&bytes)?
        .iter()
        .flat_map(|b| {
            b.chunks_exact(4)
                .map(|x| i32::from_le_bytes([x[0], x[1], x[2], x[3]]))
        })
        .collect())
}

/// Where this process sits in a job, from the launcher's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistEnv {
    pub rank: usize,
    pub world: usize,
    pub local_rank: usize,
    pub master_addr: String,
    pub master_port: u16,
    /// Which variables it came from (for messages).
    pub source: &'static str,
}

/// Read the rank and world size: torchrun's `RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
/// `MASTER_ADDR`, `MASTER_PORT`; else Slurm's `SLURM_PROCID`, `SLURM_NTASKS`,
/// `SLURM_LOCALID`; else Open MPI's `OMPI_COMM_WORLD_RANK`, `OMPI_COMM_WORLD_SIZE`,
/// `OMPI_COMM_WORLD_LOCAL_RANK`. `None` when none is set (or the world is one process).
pub fn env_from(get: impl Fn(&str) -> Option<String>) -> Result<Option<DistEnv>, DistError> {
    let sets: [(&'static str, [&str; 3]); 3] = [
        ("torchrun", ["RANK", "WORLD_SIZE", "LOCAL_RANK"]),
        ("slurm", ["SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"]),
        (
            "openmpi",
            [
                "OMPI_COMM_WORLD_RANK",
                "OMPI_COMM_WORLD_SIZE",
                "OMPI_COMM_WORLD_LOCAL_RANK",
            ],
        ),
    ];
    for (source, [r, w, l]) in sets {
        let (Some(rank), Some(world)) = (get(r), get(w)) else {
            continue;
        };
        let num = |name: &str, v: &str| -> Result<usize, DistError> {
            v.trim().parse().map_err(|_| {
                DistError::Setup(format!(
                    "{name}={v}: expected a non-negative integer ({source} launch environment)"
                ))
            })
        };
        let rank = num(r, &rank)?;
        let world = num(w, &world)?;
        if world == 0 || rank >= world {
            return Err(DistError::Setup(format!(
                "{r}={rank} with {w}={world}: the rank must be below the world size"
            )));
        }
        let local_rank = match get(l) {
            Some(v) => num(l, &v)?,
            None => rank,
        };
        if world == 1 {
            return Ok(None);
        }
        let master_addr = get("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".into());
        let master_port = match get("MASTER_PORT") {
            Some(v) => v.trim().parse().map_err(|_| {
                DistError::Setup(format!("MASTER_PORT={v}: expected a port number"))
            })?,
            None => 29500,
        };
        return Ok(Some(DistEnv {
            rank,
            world,
            local_rank,
            master_addr,
            master_port,
            source,
        }));
    }
    Ok(None)
}

/// [`env_from`] on this process's environment.
pub fn env() -> Result<Option<DistEnv>, DistError> {
    env_from(|k| std::env::var(k).ok())
}

/// The engines this build has, besides `single`.
pub fn engines() -> Vec<&'static str> {
    let mut e = vec!["local"];
    if cfg!(trm_mpi) {
        e.push("mpi");
    }
    if cfg!(feature = "nccl") {
        e.push("nccl");
    }
    e
}

/// The engine a job uses when `TRM_DIST_ENGINE` is unset: `nccl` in a build that has it, when
/// the job trains on GPUs (`on_gpu`); else `mpi` under `mpirun` in a build with MPI; else
/// `local` (a CPU job of an `nccl` build sums over sockets, not through NCCL's CPU fallback).
pub fn default_engine(source: &str, on_gpu: bool) -> &'static str {
    if cfg!(feature = "nccl") && on_gpu {
        "nccl"
    } else if source == "openmpi" && cfg!(trm_mpi) {
        "mpi"
    } else {
        "local"
    }
}

/// Whether a job whose device setting is `device` (`cpu`, `auto`, `cuda`, `cuda:N`) trains on
/// GPUs: `cuda*` does; `auto` does where a CUDA device is visible; `cpu` does not.
pub fn device_is_gpu(device: &str) -> bool {
    match device.trim() {
        "cpu" => false,
        "auto" => visible_cuda_devices() > 0,
        _ => true,
    }
}

/// CUDA devices this process sees (0 in a build without CUDA, or without a driver or device).
pub fn visible_cuda_devices() -> usize {
    #[cfg(feature = "cuda")]
    {
        use candle_core::cuda_backend::cudarc::driver::CudaContext;
        // A driver that misbehaves counts as none (the device opener reports why).
        std::panic::catch_unwind(CudaContext::device_count)
            .ok()
            .and_then(Result::ok)
            .map_or(0, |n| n.max(0) as usize)
    }
    #[cfg(not(feature = "cuda"))]
    0
}

/// The engine this process's job uses: `TRM_DIST_ENGINE` (the `--nproc` launcher always sets
/// it), else [`default_engine`] for a GPU job where this process sees a GPU.
pub fn engine_from_env(source: &str) -> String {
    std::env::var("TRM_DIST_ENGINE")
        .unwrap_or_else(|_| default_engine(source, device_is_gpu("auto")).into())
}

/// Whether this process is one rank of a multi-rank job on the `nccl` engine (a GPU job, whose
/// ranks must not fall back to the CPU).
pub fn is_multi_rank_gpu_job() -> bool {
    match env() {
        Ok(Some(e)) => e.world > 1 && engine_from_env(e.source) == "nccl",
        _ => false,
    }
}

/// The communicator of this process: [`Single`] outside a multi-rank launch; in one, the
/// engine named by `TRM_DIST_ENGINE`, by default [`default_engine`].
pub fn from_env() -> Result<Arc<dyn Collective>, DistError> {
    let Some(e) = env()? else {
        return Ok(single());
    };
    let engine = engine_from_env(e.source);
    match engine.as_str() {
        "local" => Ok(Arc::new(local::LocalTcp::connect(
            &e,
            local::timeout_from_env()?,
        )?)),
        #[cfg(feature = "nccl")]
        "nccl" => Ok(Arc::new(nccl::Nccl::connect(
            &e,
            local::timeout_from_env()?,
        )?)),
        #[cfg(trm_mpi)]
        "mpi" => {
            let m = mpi::Mpi::init(e.local_rank)?;
            if m.world() != e.world || m.rank() != e.rank {
                return Err(DistError::Setup(format!(
                    "MPI says rank {} of {}, the {} environment says {} of {}",
                    m.rank(),
                    m.world(),
                    e.source,
                    e.rank,
                    e.world
                )));
            }
            Ok(Arc::new(m))
        }
        other => Err(DistError::Setup(format!(
            "TRM_DIST_ENGINE={other}: this build has the engines {} (the mpi engine is built \
             with --features mpi; nccl with --features nccl, \
             scripts/build-cuda.sh --nccl)",
            engines().join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> Result<Option<DistEnv>, DistError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env_from(|k| m.get(k).cloned())
    }

    #[test]
    fn launch_environments_are_read_in_order() {
        assert_eq!(env_of(&[]).unwrap(), None);
        let t = env_of(&[
            ("RANK", "1"),
            ("WORLD_SIZE", "4"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "10.0.0.2"),
            ("MASTER_PORT", "1234"),
            ("SLURM_PROCID", "3"),
            ("SLURM_NTASKS", "8"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (t.rank, t.world, t.local_rank, t.source),
            (1, 4, 1, "torchrun")
        );
        assert_eq!((t.master_addr.as_str(), t.master_port), ("10.0.0.2", 1234));
        let s = env_of(&[
            ("SLURM_PROCID", "3"),
            ("SLURM_NTASKS", "8"),
            ("SLURM_LOCALID", "1"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.rank, s.world, s.local_rank, s.source),
            (3, 8, 1, "slurm")
        );
        assert_eq!(s.master_port, 29500);
        let o = env_of(&[("OMPI_COMM_WORLD_RANK", "0"), ("OMPI_COMM_WORLD_SIZE", "2")])
            .unwrap()
            .unwrap();
        assert_eq!((o.rank, o.world, o.source), (0, 2, "openmpi"));
        // A world of one is a plain single-process run.
        assert_eq!(env_of(&[("RANK", "0"), ("WORLD_SIZE", "1")]).unwrap(), None);
    }

    #[test]
    fn bad_launch_environments_are_named() {
        let e = env_of(&[("RANK", "x"), ("WORLD_SIZE", "2")]).unwrap_err();
        assert!(e.to_string().contains("RANK=x"), "{e}");
        let e = env_of(&[("RANK", "2"), ("WORLD_SIZE", "2")]).unwrap_err();
        assert!(e.to_string().contains("below the world size"), "{e}");
        let e =
            env_of(&[("RANK", "0"), ("WORLD_SIZE", "2"), ("MASTER_PORT", "99999")]).unwrap_err();
        assert!(e.to_string().contains("MASTER_PORT=99999"), "{e}");
    }

    #[test]
    fn a_cpu_job_takes_the_local_engine() {
        use std::ffi::OsString;
        assert_eq!(default_engine("torchrun", false), "local");
        let gpu = if cfg!(feature = "nccl") {
            "nccl"
        } else {
            "local"
        };
        assert_eq!(default_engine("torchrun", true), gpu);
        assert_eq!(default_engine("slurm", true), gpu);
        assert!(!device_is_gpu("cpu") && device_is_gpu("cuda") && device_is_gpu("cuda:1"));
        assert_eq!(device_is_gpu("auto"), visible_cuda_devices() > 0);
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let arg = |v: &[&str]| launch::device_arg(&args(v));
        assert_eq!(arg(&["train", "--device", "cpu"]).as_deref(), Some("cpu"));
        assert_eq!(
            arg(&["train", "--device=cuda:1"]).as_deref(),
            Some("cuda:1")
        );
        assert_eq!(arg(&["train", "--preset", "smoke"]), None);
    }

    #[test]
    fn control_words_round_trip() {
        for w in [Control::Ready, Control::Step, Control::Save, Control::Exit] {
            assert_eq!(Control::from_byte(w.to_byte()), Some(w));
        }
        assert_eq!(Control::from_byte(0), None);
    }
}
