//! Run-time telemetry: the process's own resident memory and CPU use (from the kernel), the
//! machine's load average (how contended the cores were while a run was timed), and the GPU a
//! run is on (utilisation, memory, temperature, power) through NVML. `libnvidia-ml` is
//! loaded at run time the first time a GPU is asked about; where it is missing or refuses, every
//! GPU figure is just unavailable ("n/a"), never an error. With the `cuda` feature the device
//! memory also comes from the CUDA driver when NVML cannot tell.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use candle_core::{Device, DeviceLocation};
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::Nvml;
use serde::{Deserialize, Serialize};

/// One reading of a GPU; each figure is `None` where the driver does not report it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuStats {
    /// The CUDA device (`cuda:N`).
    pub device: String,
    pub name: Option<String>,
    /// Percent of the driver's last sample period during which a kernel ran.
    pub util_percent: Option<u32>,
    /// Device memory in use (all processes), bytes.
    pub memory_used_bytes: Option<u64>,
    pub memory_total_bytes: Option<u64>,
    /// Device memory held by this process, bytes (NVML's per-process accounting).
    pub process_memory_bytes: Option<u64>,
    pub temperature_c: Option<u32>,
    pub power_w: Option<f64>,
}

/// This process: resident memory and CPU use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessStats {
    pub rss_bytes: Option<u64>,
    /// The highest resident memory so far (the kernel's high-water mark).
    pub peak_rss_bytes: Option<u64>,
    /// CPU time of all threads over wall time since the previous reading, in percent of one
    /// core (200 = two cores busy).
    pub cpu_percent: Option<f64>,
}

/// One reading of everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub process: ProcessStats,
    /// The machine's 1-minute load average (runnable threads, to set against its cores;
    /// `/proc/loadavg`, Linux).
    pub load_avg: Option<f64>,
    /// `None` on the CPU, or where neither NVML nor the CUDA driver answered.
    pub gpu: Option<GpuStats>,
}

impl Snapshot {
    /// The figures under their `metrics.jsonl` names (only those available): `cpu_percent`,
    /// `load_avg`, `gpu_util_percent`, `gpu_memory_used_bytes`, `gpu_memory_total_bytes`,
    /// `gpu_process_memory_bytes`, `gpu_temperature_c`, `gpu_power_w`.
    pub fn metric_values(&self) -> Vec<(&'static str, f64)> {
        let mut v = Vec::new();
        if let Some(c) = self.process.cpu_percent {
            v.push(("cpu_percent", c));
        }
        if let Some(l) = self.load_avg {
            v.push(("load_avg", l));
        }
        if let Some(g) = &self.gpu {
            let figures = [
                ("gpu_util_percent", g.util_percent.map(f64::from)),
                (
                    "gpu_memory_used_bytes",
                    g.memory_used_bytes.map(|b| b as f64),
                ),
                (
                    "gpu_memory_total_bytes",
                    g.memory_total_bytes.map(|b| b as f64),
                ),
                (
                    "gpu_process_memory_bytes",
                    g.process_memory_bytes.map(|b| b as f64),
                ),
                ("gpu_temperature_c", g.temperature_c.map(f64::from)),
                ("gpu_power_w", g.power_w),
            ];
            v.extend(figures.into_iter().filter_map(|(k, x)| x.map(|x| (k, x))));
        }
        v
    }
}

/// The process's NVML session, opened once; `Err` says why there is none.
pub fn nvml() -> Result<&'static Nvml, &'static str> {
    static NVML: OnceLock<Result<Nvml, String>> = OnceLock::new();
    NVML.get_or_init(|| Nvml::init().map_err(|e| format!("NVML unavailable: {e}")))
        .as_ref()
        .map_err(String::as_str)
}

/// Device memory (used, total) in bytes from the CUDA driver.
type CudaMemInfo = Box<dyn Fn() -> Option<(u64, u64)> + Send>;

/// Where the GPU figures come from.
enum GpuSource {
    /// The run is on the CPU.
    None,
    Cuda {
        label: String,
        /// NVML's index of the device, or why NVML cannot report on it.
        nvml_index: Result<u32, String>,
        mem_info: Option<CudaMemInfo>,
    },
}

/// Readings for one run: keeps what a CPU percentage needs between two readings.
pub struct Telemetry {
    gpu: GpuSource,
    last_cpu: Option<(Instant, f64)>,
    last: Option<(Instant, Snapshot)>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// The process only (a run on the CPU).
    pub fn new() -> Self {
        Telemetry {
            gpu: GpuSource::None,
            last_cpu: cpu_seconds().map(|c| (Instant::now(), c)),
            last: None,
        }
    }

    /// The process and, for a CUDA device, that GPU. The NVML device is found by the CUDA
    /// device's UUID (NVML and CUDA number devices differently under `CUDA_VISIBLE_DEVICES`),
    /// or by the ordinal when the UUID is unknown.
    pub fn for_device(device: &Device) -> Self {
        let mut t = Self::new();
        if let DeviceLocation::Cuda { gpu_id } = device.location() {
            let uuid = cuda_uuid(device);
            let nvml_index = nvml().map_err(str::to_string).and_then(|n| {
                let d = match &uuid {
                    Some(u) => n.device_by_uuid(u.as_str()),
                    None => n.device_by_index(gpu_id as u32),
                };
                d.and_then(|d| d.index())
                    .map_err(|e| format!("NVML does not know cuda:{gpu_id}: {e}"))
            });
            t.gpu = GpuSource::Cuda {
                label: format!("cuda:{gpu_id}"),
                nvml_index,
                mem_info: cuda_mem_info(device),
            };
        }
        t
    }

    /// Why a run on a GPU has no NVML figures (`None` on the CPU or when NVML works).
    pub fn gpu_note(&self) -> Option<String> {
        match &self.gpu {
            GpuSource::Cuda {
                nvml_index: Err(e), ..
            } => Some(e.clone()),
            _ => None,
        }
    }

    /// Read everything now.
    pub fn sample(&mut self) -> Snapshot {
        let now = Instant::now();
        let cpu = cpu_seconds();
        let cpu_percent = match (self.last_cpu, cpu) {
            (Some((t0, c0)), Some(c1)) => cpu_percent(c1 - c0, now.duration_since(t0)),
            _ => None,
        };
        // The window starts over only once a percentage could be computed over it (readings
        // closer together than the minimum window would otherwise never give one).
        if cpu.is_some() && (cpu_percent.is_some() || self.last_cpu.is_none()) {
            self.last_cpu = cpu.map(|c| (now, c));
        }
        let process = ProcessStats {
            rss_bytes: rss_bytes(),
            peak_rss_bytes: peak_rss_bytes(),
            cpu_percent,
        };
        let gpu = match &self.gpu {
            GpuSource::None => None,
            GpuSource::Cuda {
                label,
                nvml_index,
                mem_info,
            } => {
                let mut g = match nvml_index {
                    Ok(i) => nvml_stats(*i),
                    Err(_) => GpuStats::default(),
                };
                g.device = label.clone();
                if g.memory_used_bytes.is_none() {
                    if let Some((used, total)) = mem_info.as_ref().and_then(|f| f()) {
                        g.memory_used_bytes = Some(used);
                        g.memory_total_bytes = Some(total);
                    }
                }
                Some(g)
            }
        };
        let snap = Snapshot {
            process,
            load_avg: load_avg(),
            gpu,
        };
        self.last = Some((now, snap.clone()));
        snap
    }

    /// The last reading if it is younger than `max_age` (and complete), else a new one (NVML
    /// queries and the CPU percentage want a second or so between readings).
    pub fn sample_at_most_every(&mut self, max_age: Duration) -> Snapshot {
        match &self.last {
            Some((t, s)) if t.elapsed() < max_age && s.process.cpu_percent.is_some() => s.clone(),
            _ => self.sample(),
        }
    }
}

fn nvml_stats(index: u32) -> GpuStats {
    let Ok(n) = nvml() else {
        return GpuStats::default();
    };
    let Ok(d) = n.device_by_index(index) else {
        return GpuStats::default();
    };
    let mem = d.memory_info().ok();
    let pid = std::process::id();
    // None when NVML does not list this process (another PID namespace) or has no figure.
    let process_memory_bytes = d.running_compute_processes().ok().and_then(|ps| {
        let mine: Vec<u64> = ps
            .iter()
            .filter(|p| p.pid == pid)
            .filter_map(|p| match p.used_gpu_memory {
                UsedGpuMemory::Used(b) => Some(b),
                UsedGpuMemory::Unavailable => None,
            })
            .collect();
        (!mine.is_empty()).then(|| mine.iter().sum())
    });
    GpuStats {
        device: String::new(),
        name: d.name().ok(),
        util_percent: d.utilization_rates().ok().map(|u| u.gpu),
        memory_used_bytes: mem.as_ref().map(|m| m.used),
        memory_total_bytes: mem.as_ref().map(|m| m.total),
        process_memory_bytes,
        temperature_c: d.temperature(TemperatureSensor::Gpu).ok(),
        power_w: d.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
    }
}

/// The CUDA device's UUID in NVML's spelling (`GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`).
#[cfg(feature = "cuda")]
fn cuda_uuid(device: &Device) -> Option<String> {
    let Device::Cuda(d) = device else {
        return None;
    };
    let uuid = d.cuda_stream().context().uuid().ok()?;
    Some(format_gpu_uuid(&uuid.bytes.map(|b| b as u8)))
}

#[cfg(not(feature = "cuda"))]
fn cuda_uuid(_device: &Device) -> Option<String> {
    None
}

#[cfg(feature = "cuda")]
fn cuda_mem_info(device: &Device) -> Option<CudaMemInfo> {
    let Device::Cuda(d) = device else {
        return None;
    };
    let ctx = d.cuda_stream().context().clone();
    Some(Box::new(move || {
        let (free, total) = ctx.mem_get_info().ok()?;
        Some(((total - free) as u64, total as u64))
    }))
}

#[cfg(not(feature = "cuda"))]
fn cuda_mem_info(_device: &Device) -> Option<CudaMemInfo> {
    None
}

/// 16 UUID bytes as NVML writes them.
pub fn format_gpu_uuid(b: &[u8; 16]) -> String {
    let hex =
        |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "GPU-{}-{}-{}-{}-{}",
        hex(0..4),
        hex(4..6),
        hex(6..8),
        hex(8..10),
        hex(10..16)
    )
}

/// CPU percentage of `cpu_s` CPU seconds over `wall` (None over too short a window).
pub fn cpu_percent(cpu_s: f64, wall: Duration) -> Option<f64> {
    let w = wall.as_secs_f64();
    (w >= 0.05 && cpu_s >= 0.0).then(|| 100.0 * cpu_s / w)
}

/// User + system CPU seconds of every thread of this process so far.
#[cfg(unix)]
fn cpu_seconds() -> Option<f64> {
    rusage().map(|r| {
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        tv(r.ru_utime) + tv(r.ru_stime)
    })
}

#[cfg(not(unix))]
fn cpu_seconds() -> Option<f64> {
    None
}

#[cfg(unix)]
fn rusage() -> Option<libc::rusage> {
    let mut r = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes the struct it is given; RUSAGE_SELF is always valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, r.as_mut_ptr()) };
    // SAFETY: on success the struct is initialised (and it was zeroed before).
    (rc == 0).then(|| unsafe { r.assume_init() })
}

/// The machine's 1-minute load average (`/proc/loadavg`, Linux).
pub fn load_avg() -> Option<f64> {
    parse_loadavg(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

/// The first field of `/proc/loadavg`.
pub fn parse_loadavg(s: &str) -> Option<f64> {
    s.split_whitespace()
        .next()?
        .parse()
        .ok()
        .filter(|l: &f64| l.is_finite())
}

/// Resident memory now, bytes (`/proc/self/statm`, Linux).
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    parse_statm_resident(&s).map(|pages| pages * page_size())
}

/// The resident high-water mark, bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    if let Some(b) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| parse_status_kb(&s, "VmHWM:"))
    {
        return Some(b);
    }
    #[cfg(unix)]
    {
        // ru_maxrss: kilobytes on Linux, bytes on macOS.
        let r = rusage()?;
        let v = u64::try_from(r.ru_maxrss).ok()?;
        if cfg!(target_os = "macos") {
            Some(v)
        } else {
            Some(v * 1024)
        }
    }
    #[cfg(not(unix))]
    None
}

fn page_size() -> u64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if p > 0 {
            return p as u64;
        }
    }
    4096
}

/// The second field of `/proc/self/statm` (resident pages).
pub fn parse_statm_resident(s: &str) -> Option<u64> {
    s.split_whitespace().nth(1)?.parse().ok()
}

/// A `Key:   N kB` line of `/proc/self/status`, in bytes.
pub fn parse_status_kb(s: &str, key: &str) -> Option<u64> {
    let line = s.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A GPU reading on one line: `NVIDIA H200 · util 87% · mem 12.3 GiB/139.8 GiB (this run
/// 10.1 GiB) · 54°C · 310 W`; figures the driver did not give are left out.
pub fn describe_gpu(g: &GpuStats) -> String {
    let gib = |b: u64| {
        if b >= 1 << 30 {
            format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
        } else {
            format!("{} MiB", b >> 20)
        }
    };
    let mut parts = vec![match &g.name {
        Some(n) => format!("{} {n}", g.device),
        None => g.device.clone(),
    }];
    if let Some(u) = g.util_percent {
        parts.push(format!("util {u}%"));
    }
    match (g.memory_used_bytes, g.memory_total_bytes) {
        (Some(u), Some(t)) => parts.push(format!("mem {}/{}", gib(u), gib(t))),
        (Some(u), None) => parts.push(format!("mem {}", gib(u))),
        _ => {}
    }
    if let Some(p) = g.process_memory_bytes {
        parts.push(format!("this process {}", gib(p)));
    }
    if let Some(t) = g.temperature_c {
        parts.push(format!("{t}°C"));
    }
    if let Some(w) = g.power_w {
        parts.push(format!("{w:.0} W"));
    }
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        assert_eq!(parse_statm_resident("12345 678 90 1 0 2 0\n"), Some(678));
        assert_eq!(parse_statm_resident("12345"), None);
        let status = "Name:\ttrm-tui\nVmPeak:\t  100 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(parse_status_kb(status, "VmHWM:"), Some(2048 * 1024));
        assert_eq!(parse_status_kb(status, "VmSwap:"), None);
        assert_eq!(parse_loadavg("2.41 1.97 1.80 3/412 9876\n"), Some(2.41));
        assert_eq!(parse_loadavg(""), None);
        assert_eq!(parse_loadavg("nan 1 1"), None);
    }

    #[test]
    fn cpu_percentage() {
        assert_eq!(cpu_percent(1.0, Duration::from_secs(1)), Some(100.0));
        assert_eq!(cpu_percent(3.0, Duration::from_secs(2)), Some(150.0));
        assert_eq!(
            cpu_percent(0.0, Duration::from_millis(1)),
            None,
            "too short a window"
        );
    }

    #[test]
    fn uuid_in_nvml_spelling() {
        let b: [u8; 16] = core::array::from_fn(|i| (i * 17) as u8);
        assert_eq!(
            format_gpu_uuid(&b),
            "GPU-00112233-4455-6677-8899-aabbccddeeff"
        );
    }

    #[test]
    fn the_process_is_measured_and_the_cpu_has_no_gpu() {
        let mut t = Telemetry::for_device(&Device::Cpu);
        // Burn a little CPU so the percentage has something to measure.
        let t0 = Instant::now();
        let mut x = 0u64;
        while t0.elapsed() < Duration::from_millis(80) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let s = t.sample();
        assert!(s.gpu.is_none());
        assert!(t.gpu_note().is_none());
        if cfg!(target_os = "linux") {
            assert!(s.process.rss_bytes.unwrap() > 0);
            assert!(s.process.peak_rss_bytes.unwrap() >= s.process.rss_bytes.unwrap() / 2);
            let c = s.process.cpu_percent.unwrap();
            assert!(c > 0.0, "cpu {c}");
            assert!(s.load_avg.is_some_and(|l| l >= 0.0));
        }
        assert_eq!(
            s.metric_values().len(),
            usize::from(s.process.cpu_percent.is_some()) + usize::from(s.load_avg.is_some())
        );
        // A cached reading comes back unchanged within the window.
        let again = t.sample_at_most_every(Duration::from_secs(60));
        assert_eq!(again, s);
    }

    #[test]
    fn nvml_missing_or_present_never_fails() {
        // Without libnvidia-ml (no NVIDIA driver) this is an error message; with it, a session.
        // Either way no panic, and asking twice gives the same answer.
        let a = nvml().map(|_| ()).map_err(str::to_string);
        let b = nvml().map(|_| ()).map_err(str::to_string);
        assert_eq!(a, b);
        if let Err(e) = a {
            assert!(e.starts_with("NVML unavailable"), "{e}");
            // Asking for a GPU's figures without NVML gives empty figures, not an error.
            assert_eq!(nvml_stats(0), GpuStats::default());
        }
    }

    #[test]
    fn gpu_figures_as_metrics_and_text() {
        let g = GpuStats {
            device: "cuda:0".into(),
            name: Some("NVIDIA H200".into()),
            util_percent: Some(87),
            memory_used_bytes: Some(13 << 30),
            memory_total_bytes: Some(140 << 30),
            process_memory_bytes: None,
            temperature_c: Some(54),
            power_w: Some(310.4),
        };
        let s = Snapshot {
            process: ProcessStats {
                cpu_percent: Some(99.0),
                ..Default::default()
            },
            load_avg: Some(2.5),
            gpu: Some(g.clone()),
        };
        let m = s.metric_values();
        assert_eq!(m.len(), 7);
        assert!(m.contains(&("load_avg", 2.5)));
        assert!(m.contains(&("gpu_util_percent", 87.0)));
        assert!(m.contains(&("gpu_power_w", 310.4)));
        assert!(!m.iter().any(|(k, _)| *k == "gpu_process_memory_bytes"));
        assert_eq!(
            describe_gpu(&g),
            "cuda:0 NVIDIA H200 · util 87% · mem 13.0 GiB/140.0 GiB · 54°C · 310 W"
        );
        let bare = GpuStats {
            device: "cuda:1".into(),
            ..Default::default()
        };
        assert_eq!(describe_gpu(&bare), "cuda:1");
    }
}
