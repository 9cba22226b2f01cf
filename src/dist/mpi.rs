//! The `mpi` engine: the job's ranks as MPI_COMM_WORLD, through the machine's MPI library
//! (Open MPI, MPICH) and a small C shim (`mpi_shim.c`, compiled by `mpicc` in build.rs).
//! Built with the `mpi` feature only; chosen under `mpirun`
//! (or with `TRM_DIST_ENGINE=mpi`). Host buffers: on a GPU the gradients go through host
//! memory. Errors come back as codes with the library's message; a rank that dies is noticed
//! by `mpirun`, which ends the job.

use std::os::raw::{c_char, c_int, c_uchar};

use super::{Collective, Control, DistError};

extern "C" {
    fn trm_mpi_init(rank: *mut c_int, size: *mut c_int, provided: *mut c_int) -> c_int;
    fn trm_mpi_allreduce_f32(buf: *mut f32, n: i64) -> c_int;
    fn trm_mpi_allreduce_f64(buf: *mut f64, n: i64) -> c_int;
    fn trm_mpi_allgather_i64(local: i64, all: *mut i64) -> c_int;
    fn trm_mpi_allgatherv_bytes(
        local: *const c_uchar,
        count: c_int,
        out: *mut c_uchar,
        counts: *const c_int,
        displs: *const c_int,
    ) -> c_int;
    fn trm_mpi_bcast_bytes(buf: *mut c_uchar, n: i64) -> c_int;
    fn trm_mpi_bcast_i64(v: *mut i64) -> c_int;
    fn trm_mpi_finalize() -> c_int;
    fn trm_mpi_error_string(code: c_int, out: *mut c_char, cap: c_int) -> c_int;
}

fn check(code: c_int, op: &'static str) -> Result<(), DistError> {
    if code == 0 {
        return Ok(());
    }
    let mut buf = [0 as c_char; 512];
    // SAFETY: the shim writes at most `cap` bytes into `buf`.
    let n = unsafe { trm_mpi_error_string(code, buf.as_mut_ptr(), buf.len() as c_int) };
    let msg: String = buf[..n.max(0) as usize]
        .iter()
        .map(|&c| c as u8 as char)
        .collect();
    Err(DistError::Setup(format!(
        "MPI error {code} during {op}: {msg}"
    )))
}

/// MPI_COMM_WORLD. Finalises MPI when dropped.
#[derive(Debug)]
pub struct Mpi {
    rank: usize,
    world: usize,
    local_rank: usize,
}

impl Mpi {
    /// Initialise MPI (thread level SERIALIZED: the trainer thread makes the calls).
    /// `local_rank` comes from the launcher's environment (MPI does not say it).
    pub fn init(local_rank: usize) -> Result<Self, DistError> {
        let (mut rank, mut size, mut ok) = (0, 0, 0);
        // SAFETY: plain out-parameters.
        check(
            unsafe { trm_mpi_init(&mut rank, &mut size, &mut ok) },
            "MPI_Init_thread",
        )?;
        if ok == 0 {
            return Err(DistError::Setup(
                "the MPI library does not offer MPI_THREAD_SERIALIZED".into(),
            ));
        }
        Ok(Self {
            rank: rank as usize,
            world: size as usize,
            local_rank,
        })
    }
}

impl Drop for Mpi {
    fn drop(&mut self) {
        // SAFETY: no MPI call follows (the communicator is gone).
        unsafe {
            trm_mpi_finalize();
        }
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world(&self) -> usize {
        self.world
    }
    fn local_rank(&self) -> usize {
        self.local_rank
    }
    fn engine(&self) -> &'static str {
        "mpi"
    }

    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), DistError> {
        // SAFETY: `buf` is valid for `len` floats.
        check(
            unsafe { trm_mpi_allreduce_f32(buf.as_mut_ptr(), buf.len() as i64) },
            "all-reduce",
        )
    }

    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), DistError> {
        // SAFETY: `buf` is valid for `len` doubles.
        check(
            unsafe { trm_mpi_allreduce_f64(buf.as_mut_ptr(), buf.len() as i64) },
            "all-reduce",
        )
    }

    fn all_gather_bytes(&self, local: &[u8]) -> Result<Vec<Vec<u8>>, DistError> {
        let mut counts = vec![0i64; self.world];
        // SAFETY: `counts` has one slot per rank.
        check(
            unsafe { trm_mpi_allgather_i64(local.len() as i64, counts.as_mut_ptr()) },
            "all-gather",
        )?;
        let total: i64 = counts.iter().sum();
        if total > i32::MAX as i64 {
            return Err(DistError::Setup(format!(
                "all-gather of {total} bytes: more than one MPI call can carry"
            )));
        }
        let c32: Vec<c_int> = counts.iter().map(|&c| c as c_int).collect();
        let displs: Vec<c_int> = c32
            .iter()
            .scan(0, |at, &c| {
                let d = *at;
                *at += c;
                Some(d)
            })
            .collect();
        let mut out = vec![0u8; total as usize];
        // SAFETY: `out` holds the sum of the counts; counts/displs have one slot per rank.
        check(
            unsafe {
                trm_mpi_allgatherv_bytes(
                    local.as_ptr(),
                    local.len() as c_int,
                    out.as_mut_ptr(),
                    c32.as_ptr(),
                    displs.as_ptr(),
                )
            },
            "all-gather",
        )?;
        Ok(displs
            .iter()
            .zip(&c32)
            .map(|(&d, &c)| out[d as usize..(d + c) as usize].to_vec())
            .collect())
    }

    fn broadcast_bytes(&self, buf: &mut Vec<u8>) -> Result<(), DistError> {
        let mut n = buf.len() as i64;
        // SAFETY: one i64.
        check(unsafe { trm_mpi_bcast_i64(&mut n) }, "broadcast")?;
        if self.rank != 0 {
            *buf = vec![0u8; n as usize];
        }
        // SAFETY: `buf` holds `n` bytes on every rank.
        check(
            unsafe { trm_mpi_bcast_bytes(buf.as_mut_ptr(), n) },
            "broadcast",
        )
    }

    fn control(&self, word: Control) -> Result<Control, DistError> {
        let mut v = i64::from(word.to_byte());
        // SAFETY: one i64.
        check(unsafe { trm_mpi_bcast_i64(&mut v) }, "a control word")?;
        Control::from_byte(v as u8).ok_or_else(|| DistError::Protocol {
            peer: 0,
            op: "a control word",
            got: format!("{v}"),
            expected: "a control word".into(),
        })
    }
}
