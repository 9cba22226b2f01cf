//! Choosing the compute device and the forward dtype that goes with it.
//!
//! `--device` (and the `device` setting) is `cpu`, `auto` or `cuda:N` (`cuda` = `cuda:0`):
//! `auto` takes the first CUDA device when it really opens (creating the device, not asking
//! whether the `cuda` feature was compiled in) and otherwise the CPU, with a notice saying why;
//! `cuda:N` is that device or an error naming it and the reason (a binary built without the
//! `cuda` feature, or the driver's error). In a data-parallel job, `auto` and a bare `cuda`
//! mean GPU `LOCAL_RANK % visible devices`: the rank's own GPU when a machine's ranks see all
//! its GPUs (torchrun), and the one GPU a rank sees under `srun --gpus-per-task 1`; an
//! explicit `cuda:N` is taken as it is (several ranks can then share one GPU). In a multi-rank
//! job with the `nccl` engine (a GPU job), `auto` does not fall back to the CPU: a rank without
//! a GPU is an error naming it.
//!
//! Opening a CUDA device raises its memory pool's release threshold, so that memory freed
//! between steps stays in the pool instead of going back to the driver at every
//! synchronisation (the pool's default threshold is 0).
//!
//! `arch.forward_dtype = "auto"` (the default) is bfloat16 on a CUDA device with float32
//! master weights, as the official code trains, and float32 on the CPU; `float32` or
//! `bfloat16` force one type on any device.

use std::fmt;
use std::str::FromStr;

use candle_core::{Device, DeviceLocation};
use color_eyre::eyre::{eyre, Result};

use crate::model::ForwardDtype;

/// A parsed device setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Cpu,
    Auto,
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}`: expected cpu, auto, cuda or cuda:N (N = 0, 1, ...)");
        match s.trim() {
            "cpu" => Ok(DeviceSpec::Cpu),
            "auto" => Ok(DeviceSpec::Auto),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            t => {
                let n = t.strip_prefix("cuda:").ok_or_else(bad)?;
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                n.parse().map(DeviceSpec::Cuda).map_err(|_| bad())
            }
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Auto => write!(f, "auto"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Whether this binary was built with the `cuda` feature.
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

const NOT_BUILT: &str =
    "this binary was built without the `cuda` feature (scripts/build-cuda.sh builds one)";

/// Open the device a setting names. Returns the device and, for `auto`, a notice saying which
/// device it became and why (to show the user).
pub fn open_device(spec: &str) -> Result<(Device, Option<String>)> {
    open_with(spec, CUDA_BUILT, new_cuda)
}

/// [`open_device`] for the rank whose index on its machine is `local_rank`: `auto` and a
/// bare `cuda` take `cuda:<local_rank % visible devices>`; in a multi-rank `nccl` job `auto`
/// refuses the CPU.
pub fn open_device_for_rank(spec: &str, local_rank: usize) -> Result<(Device, Option<String>)> {
    let rank = RankPlacement {
        local_rank,
        visible: crate::dist::visible_cuda_devices(),
        gpu_job: crate::dist::is_multi_rank_gpu_job(),
    };
    open_ranked(spec, rank, CUDA_BUILT, new_cuda)
}

/// A CUDA device with its memory pool set to keep freed memory.
fn new_cuda(n: usize) -> candle_core::Result<Device> {
    let d = Device::new_cuda(n)?;
    keep_freed_memory(&d)?;
    Ok(d)
}

/// Raise the release threshold of the device's default memory pool (the one candle's stream
/// allocations come from) to its maximum: freed blocks stay cached for the next step instead
/// of being returned to the driver at each synchronisation.
#[cfg(feature = "cuda")]
fn keep_freed_memory(device: &Device) -> candle_core::Result<()> {
    use candle_core::cuda_backend::cudarc::driver::sys;
    let Device::Cuda(d) = device else {
        return Ok(());
    };
    let stream = d.cuda_stream();
    let ctx = stream.context();
    let fail = |what: &str, r: sys::CUresult| {
        candle_core::Error::Msg(format!("cuda:{}: {what} failed: {r:?}", ctx.ordinal()))
    };
    ctx.bind_to_thread()
        .map_err(|e| candle_core::Error::Msg(format!("cannot bind the CUDA context: {e:?}")))?;
    let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
    // SAFETY: `pool` is a valid out-pointer, and the device handle comes from the live context
    // candle opened (bound to this thread above).
    let r = unsafe { sys::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device()) };
    if r != sys::CUresult::CUDA_SUCCESS {
        return Err(fail("cuDeviceGetDefaultMemPool", r));
    }
    let mut threshold: u64 = u64::MAX;
    // SAFETY: `pool` is the device's default pool returned above; the release threshold
    // attribute takes a pointer to a cuuint64_t, which `threshold` is and outlives the call.
    let r = unsafe {
        sys::cuMemPoolSetAttribute(
            pool,
            sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
            (&mut threshold as *mut u64).cast(),
        )
    };
    if r != sys::CUresult::CUDA_SUCCESS {
        return Err(fail("cuMemPoolSetAttribute(RELEASE_THRESHOLD)", r));
    }
    Ok(())
}

#[cfg(not(feature = "cuda"))]
fn keep_freed_memory(_device: &Device) -> candle_core::Result<()> {
    Ok(())
}

/// [`open_device`] with the CUDA constructor and the build flag given (for tests).
pub fn open_with(
    spec: &str,
    cuda_built: bool,
    new_cuda: impl Fn(usize) -> candle_core::Result<Device>,
) -> Result<(Device, Option<String>)> {
    let alone = RankPlacement {
        local_rank: 0,
        visible: 0,
        gpu_job: false,
    };
    open_ranked(spec, alone, cuda_built, new_cuda)
}

/// Where a rank stands: its index on its machine, the CUDA devices it sees (0 when unknown or
/// none), and whether it is one rank of a multi-rank GPU (`nccl`) job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankPlacement {
    pub local_rank: usize,
    pub visible: usize,
    pub gpu_job: bool,
}

impl RankPlacement {
    /// The GPU `auto` and a bare `cuda` mean: `local_rank % visible`.
    fn gpu(&self) -> usize {
        if self.visible > 0 {
            self.local_rank % self.visible
        } else {
            self.local_rank
        }
    }
}

/// [`open_device_for_rank`] with the placement, build flag and CUDA constructor given (tests).
pub fn open_ranked(
    spec_text: &str,
    rank: RankPlacement,
    cuda_built: bool,
    new_cuda: impl Fn(usize) -> candle_core::Result<Device>,
) -> Result<(Device, Option<String>)> {
    let mut spec: DeviceSpec = spec_text.parse().map_err(|e| eyre!("device {e}"))?;
    let local_rank = rank.gpu();
    if spec_text.trim() == "cuda" {
        spec = DeviceSpec::Cuda(local_rank);
    }
    // A driver that misbehaves must not take the program down with it: a panic while opening
    // is reported like an error.
    let try_open = |n: usize| -> std::result::Result<Device, String> {
        if !cuda_built {
            return Err(NOT_BUILT.to_string());
        }
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| new_cuda(n))) {
            Ok(Ok(d)) => Ok(d),
            Ok(Err(e)) => Err(e.to_string()),
            Err(p) => Err(format!(
                "the CUDA driver panicked: {}",
                p.downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| p.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)")
            )),
        }
    };
    match spec {
        DeviceSpec::Cpu => Ok((Device::Cpu, None)),
        DeviceSpec::Auto => match try_open(local_rank) {
            Ok(d) => {
                let label = device_label(&d);
                Ok((d, Some(format!("device auto: using {label}"))))
            }
            Err(e) if rank.gpu_job => Err(eyre!(
                "device auto: no usable CUDA device for this rank (LOCAL_RANK {}, cuda:{local_rank}: {}); \
                 a multi-rank nccl job does not fall back to the CPU: give every rank a GPU, or run \
                 a CPU job (--device cpu, or TRM_DIST_ENGINE=local)",
                rank.local_rank,
                first_line(&e)
            )),
            Err(e) => Ok((
                Device::Cpu,
                Some(format!(
                    "device auto: no usable CUDA device (cuda:{local_rank}: {}); using the CPU",
                    first_line(&e)
                )),
            )),
        },
        DeviceSpec::Cuda(n) => try_open(n).map(|d| (d, None)).map_err(|e| {
            if cuda_built {
                eyre!(
                    "device cuda:{n}: cannot open it: {} (--device auto falls back to the CPU)",
                    first_line(&e)
                )
            } else {
                eyre!("device cuda:{n}: {e}; use --device cpu or auto here")
            }
        }),
    }
}

/// What can be told about a device setting without opening it: that it parses, and that a
/// `cuda:N` asks for a binary built with the `cuda` feature. (Lets a run fail before its
/// folder is made.)
pub fn precheck(spec: &str) -> Result<()> {
    match spec
        .parse::<DeviceSpec>()
        .map_err(|e| eyre!("device {e}"))?
    {
        DeviceSpec::Cuda(n) if !CUDA_BUILT => Err(eyre!(
            "device cuda:{n}: {NOT_BUILT}; use --device cpu or auto here"
        )),
        _ => Ok(()),
    }
}

/// candle errors carry a backtrace after the first line; the message is the first line.
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// `cpu`, `cuda:N` (or `metal:N`): the device actually in use.
pub fn device_label(device: &Device) -> String {
    match device.location() {
        DeviceLocation::Cpu => "cpu".into(),
        DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

/// The forward dtype a model runs in on `device`: `auto` becomes bfloat16 on CUDA and float32
/// elsewhere; an explicit type stays.
pub fn resolve_forward_dtype(dtype: ForwardDtype, device: &Device) -> ForwardDtype {
    resolve_for(dtype, device.is_cuda())
}

fn resolve_for(dtype: ForwardDtype, on_cuda: bool) -> ForwardDtype {
    match dtype {
        ForwardDtype::Auto if on_cuda => ForwardDtype::Bfloat16,
        ForwardDtype::Auto => ForwardDtype::Float32,
        explicit => explicit,
    }
}

/// The serialized name of a forward dtype (`float32`, `bfloat16`, `auto`).
pub fn dtype_name(dtype: ForwardDtype) -> &'static str {
    match dtype {
        ForwardDtype::Float32 => "float32",
        ForwardDtype::Bfloat16 => "bfloat16",
        ForwardDtype::Auto => "auto",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver_error(n: usize) -> candle_core::Result<Device> {
        Err(candle_core::Error::Msg(format!(
            "DriverError(CUDA_ERROR_NO_DEVICE, \"no CUDA-capable device is detected\") opening {n}"
        )))
    }

    #[test]
    fn parses_device_settings() {
        assert_eq!("cpu".parse::<DeviceSpec>(), Ok(DeviceSpec::Cpu));
        assert_eq!(" auto ".parse::<DeviceSpec>(), Ok(DeviceSpec::Auto));
        assert_eq!("cuda".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(0)));
        assert_eq!("cuda:3".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(3)));
        for bad in [
            "gpu",
            "cuda:",
            "cuda:x",
            "cuda:-1",
            "cuda:+1",
            "CUDA:0",
            "",
            "cuda:99999999999999999999",
        ] {
            let e = bad.parse::<DeviceSpec>().unwrap_err();
            assert!(
                e.contains("expected cpu, auto, cuda or cuda:N"),
                "{bad}: {e}"
            );
            assert!(e.contains(&format!("`{bad}`")), "names the value: {e}");
        }
        for s in ["cpu", "auto", "cuda:0", "cuda:7"] {
            assert_eq!(s.parse::<DeviceSpec>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn ranks_take_the_gpu_of_their_local_rank() {
        // A "device" that records which ordinal was opened (it fails, so auto falls back).
        let opened = std::sync::Mutex::new(Vec::new());
        let record = |n: usize| {
            opened.lock().unwrap().push(n);
            driver_error(n)
        };
        let at = |local_rank, visible| RankPlacement {
            local_rank,
            visible,
            gpu_job: false,
        };
        let (_, notice) = open_ranked("auto", at(3, 0), true, record).unwrap();
        assert!(notice.unwrap().contains("cuda:3"));
        let e = open_ranked("cuda", at(2, 8), true, record).unwrap_err();
        assert!(e.to_string().contains("device cuda:2"), "{e}");
        let e = open_ranked("cuda:0", at(2, 8), true, record).unwrap_err();
        assert!(e.to_string().contains("device cuda:0"), "{e}");
        // One GPU visible per task (srun --gpus-per-task 1): every rank takes cuda:0; two
        // visible to four ranks: 0, 1, 0, 1.
        open_ranked("auto", at(5, 1), true, record).unwrap();
        for r in 0..4 {
            assert!(open_ranked("cuda", at(r, 2), true, record).is_err());
        }
        assert_eq!(*opened.lock().unwrap(), vec![3, 2, 0, 0, 0, 1, 0, 1]);
        assert!(open_ranked("cpu", at(5, 1), true, record)
            .unwrap()
            .0
            .is_cpu());
    }

    #[test]
    fn a_multi_rank_gpu_job_does_not_fall_back_to_the_cpu() {
        let job = RankPlacement {
            local_rank: 1,
            visible: 1,
            gpu_job: true,
        };
        let e = open_ranked("auto", job, true, driver_error)
            .unwrap_err()
            .to_string();
        assert!(e.contains("LOCAL_RANK 1") && e.contains("cuda:0"), "{e}");
        assert!(e.contains("does not fall back to the CPU"), "{e}");
        assert!(e.contains("CUDA_ERROR_NO_DEVICE"), "{e}");
        // A build without CUDA in such a job says so too; --device cpu is still a choice.
        assert!(open_ranked("auto", job, false, driver_error).is_err());
        assert!(open_ranked("cpu", job, true, driver_error)
            .unwrap()
            .0
            .is_cpu());
        // When the GPU opens, it is used.
        assert!(open_ranked("auto", job, true, |_| Ok(Device::Cpu)).is_ok());
    }

    #[test]
    fn auto_falls_back_to_the_cpu_with_a_notice() {
        // Built with CUDA, but the driver has no device.
        let (d, notice) = open_with("auto", true, driver_error).unwrap();
        assert!(d.is_cpu());
        let n = notice.unwrap();
        assert!(
            n.contains("no usable CUDA device") && n.contains("CUDA_ERROR_NO_DEVICE"),
            "{n}"
        );
        assert!(n.ends_with("using the CPU"), "{n}");
        // Built without CUDA: the constructor is not even tried.
        let (d, notice) = open_with("auto", false, |_| panic!("must not be called")).unwrap();
        assert!(d.is_cpu());
        assert!(notice.unwrap().contains("without the `cuda` feature"));
        // A panicking driver is a fallback too.
        let (d, notice) = open_with("auto", true, |_| panic!("driver exploded")).unwrap();
        assert!(d.is_cpu());
        assert!(notice.unwrap().contains("driver exploded"));
        // When the device opens, auto uses it (here a stand-in: the CPU device).
        let (d, notice) = open_with("auto", true, |_| Ok(Device::Cpu)).unwrap();
        assert!(d.is_cpu());
        assert_eq!(notice.as_deref(), Some("device auto: using cpu"));
    }

    #[test]
    fn explicit_cuda_fails_naming_the_device_and_the_reason() {
        let e = open_with("cuda:1", true, driver_error)
            .unwrap_err()
            .to_string();
        assert!(e.contains("device cuda:1: cannot open it"), "{e}");
        assert!(e.contains("no CUDA-capable device is detected"), "{e}");
        let e = open_with("cuda:0", false, driver_error)
            .unwrap_err()
            .to_string();
        assert!(e.contains("device cuda:0"), "{e}");
        assert!(e.contains("built without the `cuda` feature"), "{e}");
        assert!(e.contains("scripts/build-cuda.sh"), "{e}");
        let e = open_with("gpu:0", true, driver_error)
            .unwrap_err()
            .to_string();
        assert!(e.contains("device `gpu:0`: expected"), "{e}");
        let (d, n) = open_with("cpu", true, driver_error).unwrap();
        assert!(d.is_cpu() && n.is_none());
    }

    #[test]
    fn precheck_catches_what_needs_no_device() {
        assert!(precheck("cpu").is_ok() && precheck("auto").is_ok());
        assert!(precheck("tpu").unwrap_err().to_string().contains("`tpu`"));
        assert_eq!(precheck("cuda:2").is_ok(), CUDA_BUILT);
    }

    #[test]
    fn the_real_opener_on_this_build() {
        // Whatever this machine has, `auto` gives a device and `cpu` never fails.
        let (d, _) = open_device("auto").unwrap();
        assert!(d.is_cpu() || d.is_cuda());
        assert!(open_device("cpu").unwrap().0.is_cpu());
        if !CUDA_BUILT {
            let e = open_device("cuda:0").unwrap_err().to_string();
            assert!(e.contains("without the `cuda` feature"), "{e}");
        }
    }

    #[test]
    fn forward_dtype_rule() {
        assert_eq!(
            resolve_for(ForwardDtype::Auto, true),
            ForwardDtype::Bfloat16
        );
        assert_eq!(
            resolve_for(ForwardDtype::Auto, false),
            ForwardDtype::Float32
        );
        for on_cuda in [false, true] {
            assert_eq!(
                resolve_for(ForwardDtype::Float32, on_cuda),
                ForwardDtype::Float32
            );
            assert_eq!(
                resolve_for(ForwardDtype::Bfloat16, on_cuda),
                ForwardDtype::Bfloat16
            );
        }
        assert_eq!(
            resolve_forward_dtype(ForwardDtype::Auto, &Device::Cpu),
            ForwardDtype::Float32
        );
        assert_eq!(device_label(&Device::Cpu), "cpu");
        assert_eq!(dtype_name(ForwardDtype::Bfloat16), "bfloat16");
    }
}
