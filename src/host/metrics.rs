//! System metrics: CPU, memory, disks, network, TCP connections and processes.
//!
//! One [`sysinfo::System`] is kept per thread (a run evaluates its script on one thread, so this
//! is one per run, and one per REPL session) and only the part a function needs is refreshed.
//! Rates (CPU, process CPU, network) are always measured over a fresh window of at least
//! [`sysinfo::MINIMUM_CPU_UPDATE_INTERVAL`]: a one-shot CLI run reports the real load, never the
//! 0.0 of a single sample.
//!
//! Memory is cgroup aware: when the process runs under a cgroup memory limit lower than the
//! physical memory (cgroup v2 `memory.max`, v1 `memory.limit_in_bytes`), that limit is the
//! effective total. The cgroup root is `/sys/fs/cgroup`, or `$RUNBOOK_CGROUP_ROOT` when set
//! (tests point it at fixture directories).

use std::cell::RefCell;
use std::collections::HashSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use sysinfo::{
    CpuRefreshKind, DiskRefreshKind, Disks, MemoryRefreshKind, Networks, Pid, ProcessRefreshKind,
    ProcessesToUpdate, System, ThreadKind, UpdateKind,
};

use crate::error::{Error, Result};

/// Window over which `network()` measures bytes per second.
pub const NETWORK_SAMPLE: Duration = Duration::from_millis(500);

/// Environment variable that replaces the cgroup root `/sys/fs/cgroup` (used by tests).
pub const CGROUP_ROOT_ENV: &str = "RUNBOOK_CGROUP_ROOT";

/// cgroup v1 reports "no limit" as a huge page-aligned number (`9223372036854771712` with 4 KiB
/// pages); anything this large is treated as unlimited whatever the page size.
const V1_UNLIMITED: u64 = 1 << 62;

/// The CPU sampling window: sysinfo's minimum interval between two refreshes.
pub fn cpu_sample_window() -> Duration {
    sysinfo::MINIMUM_CPU_UPDATE_INTERVAL.max(Duration::from_millis(100))
}

thread_local! {
    static SYSTEM: RefCell<Option<System>> = const { RefCell::new(None) };
}

/// Run `f` with this thread's `System`, created (empty) on first use.
fn with_system<R>(f: impl FnOnce(&mut System) -> Result<R>) -> Result<R> {
    SYSTEM.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(System::new().map_err(|e| {
                Error::failed(format!("metrics: cannot read system information: {e}"))
            })?);
        }
        match slot.as_mut() {
            Some(sys) => f(sys),
            None => Err(Error::failed("metrics: system information unavailable")),
        }
    })
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round1(part as f64 * 100.0 / whole as f64).clamp(0.0, 100.0)
    }
}

// ---------------------------------------------------------------------------------------------
// CPU, load, uptime, hostname

/// Whole-machine CPU usage in percent (0.0–100.0), measured over [`cpu_sample_window`].
pub fn cpu() -> Result<f64> {
    with_system(|sys| {
        sample_cpus(sys);
        Ok(round1(f64::from(sys.global_cpu_usage())).clamp(0.0, 100.0))
    })
}

/// Usage of each logical CPU in percent (0.0–100.0), measured over [`cpu_sample_window`].
pub fn cpu_cores() -> Result<Vec<f64>> {
    with_system(|sys| {
        sample_cpus(sys);
        Ok(sys
            .cpus()
            .iter()
            .map(|c| round1(f64::from(c.usage())).clamp(0.0, 100.0))
            .collect())
    })
}

/// Two CPU refreshes one sampling window apart, so usage covers that window.
fn sample_cpus(sys: &mut System) {
    let kind = CpuRefreshKind::nothing().with_usage();
    sys.refresh_cpu_specifics(kind);
    std::thread::sleep(cpu_sample_window());
    sys.refresh_cpu_specifics(kind);
}

/// Load averages over 1, 5 and 15 minutes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Load {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
}

/// The load averages (`/proc/loadavg`).
pub fn load() -> Result<Load> {
    let l = System::load_average().map_err(|e| Error::failed(format!("metrics::load: {e}")))?;
    Ok(Load {
        one: l.one,
        five: l.five,
        fifteen: l.fifteen,
    })
}

/// Seconds since boot.
pub fn uptime_s() -> Result<u64> {
    System::uptime().map_err(|e| Error::failed(format!("metrics::uptime_s: {e}")))
}

/// The host name.
pub fn hostname() -> Result<String> {
    System::host_name().map_err(|e| Error::failed(format!("metrics::hostname: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Memory

/// Memory figures; `total` is the effective total (the cgroup limit when one applies).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Memory {
    /// Effective total, bytes.
    pub total: u64,
    /// Used, bytes (cgroup: usage minus inactive page cache, like `docker stats`).
    pub used: u64,
    /// Available, bytes.
    pub available: u64,
    /// `used` as a percentage of `total`.
    pub percent: f64,
    /// Swap size, bytes.
    pub swap_total: u64,
    /// Swap in use, bytes.
    pub swap_used: u64,
    /// Whether `total` is a cgroup memory limit (set and lower than physical memory) rather
    /// than the physical memory.
    pub cgroup_limit: bool,
}

/// A cgroup memory limit found for this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMemory {
    /// The limit, bytes (the lowest one on the path from the process's cgroup to the root).
    pub limit: u64,
    /// Usage of the cgroup that sets the limit, minus its inactive file cache, when readable.
    pub used: Option<u64>,
    /// The directory whose file set the limit.
    pub dir: PathBuf,
}

/// Memory of this host as seen by this process (cgroup root from `$RUNBOOK_CGROUP_ROOT`, default
/// `/sys/fs/cgroup`; the process's cgroup from `/proc/self/cgroup`).
pub fn memory() -> Result<Memory> {
    let root = std::env::var_os(CGROUP_ROOT_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup"));
    let self_cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    memory_with(&root, &self_cgroup)
}

/// [`memory`] with an explicit cgroup root and `/proc/self/cgroup` content.
pub fn memory_with(cgroup_root: &Path, self_cgroup: &str) -> Result<Memory> {
    let (phys_total, phys_available, swap_total, swap_used) = with_system(|sys| {
        sys.refresh_memory_specifics(MemoryRefreshKind::everything());
        Ok((
            sys.total_memory(),
            sys.available_memory(),
            sys.total_swap(),
            sys.used_swap(),
        ))
    })?;
    let phys_used = phys_total.saturating_sub(phys_available);
    let cg =
        cgroup_memory(cgroup_root, self_cgroup).filter(|c| phys_total == 0 || c.limit < phys_total);
    Ok(match cg {
        Some(c) => {
            let used = c.used.unwrap_or(phys_used).min(c.limit);
            Memory {
                total: c.limit,
                used,
                available: c.limit - used,
                percent: percent(used, c.limit),
                swap_total,
                swap_used,
                cgroup_limit: true,
            }
        }
        None => Memory {
            total: phys_total,
            used: phys_used,
            available: phys_available,
            percent: percent(phys_used, phys_total),
            swap_total,
            swap_used,
            cgroup_limit: false,
        },
    })
}

/// The process's cgroup paths from `/proc/self/cgroup`: (v2 path, v1 memory-controller path).
fn self_cgroup_paths(text: &str) -> (Option<String>, Option<String>) {
    let mut v2 = None;
    let mut v1 = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            v2 = Some(path.to_string());
        } else if controllers.split(',').any(|c| c == "memory") {
            v1 = Some(path.to_string());
        }
    }
    (v2, v1)
}

/// Directories from `base/rel` up to `base` (deepest first).
fn cgroup_dirs(base: &Path, rel: Option<&str>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut dir = base.to_path_buf();
    let mut chain = vec![dir.clone()];
    for part in rel
        .unwrap_or("/")
        .split('/')
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
    {
        dir.push(part);
        chain.push(dir.clone());
    }
    while let Some(d) = chain.pop() {
        dirs.push(d);
    }
    dirs
}

fn read_trim(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// A `memory.stat` field (`inactive_file 1234`).
fn stat_field(dir: &Path, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join("memory.stat")).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        if k == field {
            v.trim().parse().ok()
        } else {
            None
        }
    })
}

/// The lowest memory limit on the path from this process's cgroup to `root`: cgroup v2
/// (`memory.max`, `"max"` = none) first, then v1 (`memory/…/memory.limit_in_bytes`, the
/// "unlimited" sentinel ignored). `None` when no limit is set.
pub fn cgroup_memory(root: &Path, self_cgroup: &str) -> Option<CgroupMemory> {
    let (v2, v1) = self_cgroup_paths(self_cgroup);

    // cgroup v2: a memory.max anywhere on the path means the memory controller is on v2.
    let mut found_v2 = false;
    let mut best: Option<(u64, PathBuf)> = None;
    for dir in cgroup_dirs(root, v2.as_deref()) {
        let Some(text) = read_trim(&dir.join("memory.max")) else {
            continue;
        };
        found_v2 = true;
        if let Ok(limit) = text.parse::<u64>()
            && best.as_ref().is_none_or(|(b, _)| limit < *b)
        {
            best = Some((limit, dir));
        }
    }
    if found_v2 {
        return best.map(|(limit, dir)| {
            let used = read_trim(&dir.join("memory.current"))
                .and_then(|s| s.parse::<u64>().ok())
                .map(|cur| cur.saturating_sub(stat_field(&dir, "inactive_file").unwrap_or(0)));
            CgroupMemory { limit, used, dir }
        });
    }

    // cgroup v1: the memory controller's hierarchy.
    let base = root.join("memory");
    for dir in cgroup_dirs(&base, v1.as_deref()) {
        let Some(limit) =
            read_trim(&dir.join("memory.limit_in_bytes")).and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        if limit >= V1_UNLIMITED {
            continue;
        }
        if best.as_ref().is_none_or(|(b, _)| limit < *b) {
            best = Some((limit, dir));
        }
    }
    best.map(|(limit, dir)| {
        let used = read_trim(&dir.join("memory.usage_in_bytes"))
            .and_then(|s| s.parse::<u64>().ok())
            .map(|cur| cur.saturating_sub(stat_field(&dir, "total_inactive_file").unwrap_or(0)));
        CgroupMemory { limit, used, dir }
    })
}

// ---------------------------------------------------------------------------------------------
// Disks

/// Space on one mounted file system.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DiskInfo {
    /// Mount point.
    pub mount: String,
    /// File system type (`ext4`, `xfs`, `overlay`, `tmpfs` …).
    pub fs: String,
    /// Size, bytes.
    pub total: u64,
    /// Used, bytes (`total` minus free blocks, as `df` counts it).
    pub used: u64,
    /// Available to unprivileged users, bytes.
    pub available: u64,
    /// `used / (used + available)` in percent, as `df`'s `Use%`.
    pub percent: f64,
}

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Mount point (octal escapes such as `\040` decoded).
    pub mount_point: PathBuf,
    /// File system type.
    pub fs: String,
    /// Mount source (device).
    pub source: String,
    /// Per-superblock options (`upperdir=…` for overlays).
    pub super_options: String,
}

/// Decode the octal escapes the kernel uses in mount tables (`\040` space, `\011` tab …).
fn unescape_mount(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|o| b[i] == b'\\' && o.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(o) => {
                let v = o.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

/// Parse `/proc/self/mountinfo`; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    let mut mounts = Vec::new();
    for line in text.lines() {
        // id parent major:minor root mount_point options [optional fields…] - fstype source super_options
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        if left.len() < 5 {
            continue;
        }
        let mut right = right.split(' ');
        let fs = right.next().unwrap_or("").to_string();
        let source =
            String::from_utf8_lossy(&unescape_mount(right.next().unwrap_or(""))).into_owned();
        let super_options = right.next().unwrap_or("").to_string();
        mounts.push(Mount {
            mount_point: PathBuf::from(std::ffi::OsStr::from_bytes(&unescape_mount(left[4]))),
            fs,
            source,
            super_options,
        });
    }
    mounts
}

/// The mount holding `path` (already resolved): the longest mount point that is a prefix of it;
/// of two mounts on the same point, the later one (it hides the earlier).
pub fn mount_for<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    let mut best: Option<&Mount> = None;
    for m in mounts {
        if path.starts_with(&m.mount_point)
            && best.is_none_or(|b| {
                m.mount_point.components().count() >= b.mount_point.components().count()
            })
        {
            best = Some(m);
        }
    }
    best
}

/// `statvfs(2)` of `path`: (total, used, available) in bytes.
pub fn statvfs(path: &Path) -> std::io::Result<(u64, u64, u64)> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains a NUL byte")
    })?;
    // SAFETY: `c` is a valid NUL-terminated string and `st` a properly sized out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = if st.f_frsize > 0 {
        st.f_frsize as u64
    } else {
        st.f_bsize as u64
    };
    let total = (st.f_blocks as u64).saturating_mul(frsize);
    let free = (st.f_bfree as u64).saturating_mul(frsize);
    let available = (st.f_bavail as u64).saturating_mul(frsize);
    Ok((total, total.saturating_sub(free), available))
}

fn disk_info(mount: &Path, fs: &str) -> std::io::Result<DiskInfo> {
    let (total, used, available) = statvfs(mount)?;
    Ok(DiskInfo {
        mount: mount.display().to_string(),
        fs: fs.to_string(),
        total,
        used,
        available,
        percent: percent(used, used.saturating_add(available)),
    })
}

fn read_mountinfo() -> Result<Vec<Mount>> {
    let p = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(p).map_err(|e| Error::io("reading mount table", p, e))?;
    Ok(parse_mountinfo(&text))
}

/// Space on the file system that holds `path` (resolved first: symbolic links and `..`; a path
/// that does not exist yet is looked up through its deepest existing ancestor).
pub fn disk(path: &Path) -> Result<DiskInfo> {
    let real = crate::fspath::resolve(path)?;
    let mounts = read_mountinfo()?;
    let m = mount_for(&mounts, &real).ok_or_else(|| {
        Error::failed(format!("metrics::disk: no mount holds {}", real.display()))
    })?;
    disk_info(&m.mount_point, &m.fs)
        .map_err(|e| Error::io("reading file system size of", &m.mount_point, e))
}

/// The `upperdir=` option of an overlay mount.
fn overlay_upperdir(super_options: &str) -> Option<&str> {
    super_options
        .split(',')
        .find_map(|o| o.strip_prefix("upperdir="))
}

/// Every file system that holds files once, keyed by device id (`st_dev` of the mount point, or
/// of an overlay's upper layer): each device is listed under its shortest mount point, so bind
/// mounts and overlays whose upper layer lives on an already listed device are not counted twice.
/// tmpfs mounts are listed (they fill up like disks: `/dev/shm`, `/run`); pseudo file systems
/// (proc, sysfs, cgroup, devtmpfs …, as sysinfo leaves them out) and file systems of size 0
/// (container runtimes mask paths with empty read-only tmpfs) are not.
pub fn disks() -> Result<Vec<DiskInfo>> {
    let list = Disks::new_with_refreshed_list_specifics(DiskRefreshKind::nothing())
        .map_err(|e| Error::failed(format!("metrics::disks: {e}")))?;
    let mounts = read_mountinfo().unwrap_or_default();
    let mut entries: Vec<(PathBuf, String, u64)> = Vec::new();
    for d in list.iter() {
        let mp = d.mount_point().to_path_buf();
        let fs = d.file_system().to_string_lossy().into_owned();
        let upper = mounts
            .iter()
            .rev()
            .find(|m| m.mount_point == mp)
            .filter(|m| m.fs == "overlay")
            .and_then(|m| overlay_upperdir(&m.super_options))
            .and_then(|u| std::fs::metadata(u).ok())
            .map(|meta| meta.dev());
        let key = upper
            .or_else(|| d.id())
            .or_else(|| std::fs::metadata(&mp).ok().map(|m| m.dev()));
        let Some(key) = key else { continue };
        entries.push((mp, fs, key));
    }
    entries.sort_by(|a, b| {
        a.0.components()
            .count()
            .cmp(&b.0.components().count())
            .then(a.0.cmp(&b.0))
    });
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (mp, fs, key) in entries {
        if !seen.insert(key) {
            continue;
        }
        if let Ok(info) = disk_info(&mp, &fs)
            && info.total > 0
        {
            out.push(info);
        }
    }
    out.sort_by(|a, b| a.mount.cmp(&b.mount));
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Network

/// Traffic of one interface since boot.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Interface {
    pub name: String,
    /// Bytes received since boot.
    pub rx_bytes: u64,
    /// Bytes sent since boot.
    pub tx_bytes: u64,
}

/// Network throughput over [`NETWORK_SAMPLE`] and per-interface totals.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Network {
    /// Bytes received per second, summed over all interfaces (loopback included).
    pub rx_bytes_per_s: f64,
    /// Bytes sent per second, summed over all interfaces (loopback included).
    pub tx_bytes_per_s: f64,
    /// Every interface, sorted by name.
    pub interfaces: Vec<Interface>,
}

/// Measure throughput over [`NETWORK_SAMPLE`] (blocks that long).
pub fn network() -> Result<Network> {
    let mut nets = Networks::new_with_refreshed_list()
        .map_err(|e| Error::failed(format!("metrics::network: {e}")))?;
    let start = Instant::now();
    std::thread::sleep(NETWORK_SAMPLE);
    nets.refresh(true);
    let secs = start.elapsed().as_secs_f64().max(0.001);
    let (mut rx, mut tx) = (0u64, 0u64);
    let mut interfaces = Vec::new();
    for (name, data) in nets.iter() {
        rx = rx.saturating_add(data.received());
        tx = tx.saturating_add(data.transmitted());
        interfaces.push(Interface {
            name: name.to_string_lossy().into_owned(),
            rx_bytes: data.total_received(),
            tx_bytes: data.total_transmitted(),
        });
    }
    interfaces.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Network {
        rx_bytes_per_s: round1(rx as f64 / secs),
        tx_bytes_per_s: round1(tx as f64 / secs),
        interfaces,
    })
}

// ---------------------------------------------------------------------------------------------
// TCP connections

/// TCP sockets whose local port is the one asked for, by state.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Connections {
    pub listen: u64,
    pub established: u64,
    pub time_wait: u64,
    pub close_wait: u64,
    /// Every socket on the port, in any state (listening ones included).
    pub total: u64,
}

/// Count sockets of one `/proc/net/tcp`-format table whose local port is `port` (0: every port).
pub fn count_connections(table: &str, port: u16, into: &mut Connections) {
    for line in table.lines().skip(1) {
        let mut fields = line.split_whitespace();
        let (Some(_sl), Some(local), Some(_remote), Some(state)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some((_, hex_port)) = local.rsplit_once(':') else {
            continue;
        };
        let Ok(p) = u16::from_str_radix(hex_port, 16) else {
            continue;
        };
        if port != 0 && p != port {
            continue;
        }
        into.total += 1;
        match u8::from_str_radix(state, 16) {
            Ok(0x01) => into.established += 1,
            Ok(0x06) => into.time_wait += 1,
            Ok(0x08) => into.close_wait += 1,
            Ok(0x0A) => into.listen += 1,
            _ => {}
        }
    }
}

/// TCP sockets on local port `port` (0: on every port, the whole host) by state, from
/// `/proc/net/tcp` and `/proc/net/tcp6` (what `netstat -an | grep PORT` is used for on the
/// server side).
pub fn connections(port: u16) -> Result<Connections> {
    let mut c = Connections::default();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        match std::fs::read_to_string(file) {
            Ok(text) => count_connections(&text, port, &mut c),
            // No IPv6 on this host: tcp6 is absent.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && file.ends_with('6') => {}
            Err(e) => return Err(Error::io("reading", file, e)),
        }
    }
    Ok(c)
}

// ---------------------------------------------------------------------------------------------
// Processes

/// One process.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub name: String,
    /// Share of the whole machine's CPU in percent (0.0–100.0) over the sampling window.
    pub cpu: f64,
    /// Resident memory, bytes.
    pub memory: u64,
    /// Seconds since the process started.
    pub uptime_s: u64,
    /// Command line, arguments separated by spaces.
    pub command: String,
}

/// Sort key of [`processes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Cpu,
    Memory,
}

impl SortBy {
    /// Parse `"cpu"` or `"memory"`.
    pub fn parse(s: &str) -> Result<SortBy> {
        match s {
            "cpu" => Ok(SortBy::Cpu),
            "memory" | "mem" => Ok(SortBy::Memory),
            other => Err(Error::Usage(format!(
                "metrics::processes: sort must be \"cpu\" or \"memory\", got {other:?}"
            ))),
        }
    }
}

fn proc_kind() -> ProcessRefreshKind {
    ProcessRefreshKind::nothing()
        .with_cpu()
        .with_memory()
        .with_cmd(UpdateKind::OnlyIfNotSet)
        .with_exe(UpdateKind::OnlyIfNotSet)
        .without_tasks()
}

fn cpu_count(sys: &mut System) -> usize {
    if sys.cpus().is_empty() {
        sys.refresh_cpu_list(CpuRefreshKind::nothing());
    }
    sys.cpus().len().max(1)
}

/// Two process refreshes one sampling window apart (CPU usage needs two samples).
fn sample_processes(sys: &mut System, which: ProcessesToUpdate<'_>) {
    let pids: Option<Vec<Pid>> = match which {
        ProcessesToUpdate::Some(p) => Some(p.to_vec()),
        _ => None,
    };
    let again = || match &pids {
        Some(p) => ProcessesToUpdate::Some(p.as_slice()),
        None => ProcessesToUpdate::All,
    };
    sys.refresh_processes_specifics(again(), true, proc_kind());
    std::thread::sleep(cpu_sample_window());
    sys.refresh_processes_specifics(again(), true, proc_kind());
}

fn is_thread(p: &sysinfo::Process) -> bool {
    matches!(p.thread_kind(), Some(ThreadKind::Userland))
}

fn info(p: &sysinfo::Process, ncpu: usize) -> ProcessInfo {
    let command = p
        .cmd()
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    ProcessInfo {
        pid: p.pid().as_u32(),
        name: p.name().to_string_lossy().into_owned(),
        cpu: round1(f64::from(p.cpu_usage()) / ncpu as f64).clamp(0.0, 100.0),
        memory: p.memory(),
        uptime_s: p.run_time(),
        command,
    }
}

/// The top `limit` processes (threads excluded) by CPU or resident memory, highest first.
pub fn processes(sort: SortBy, limit: usize) -> Result<Vec<ProcessInfo>> {
    with_system(|sys| {
        let ncpu = cpu_count(sys);
        sample_processes(sys, ProcessesToUpdate::All);
        let mut list: Vec<ProcessInfo> = sys
            .processes()
            .values()
            .filter(|p| !is_thread(p))
            .map(|p| info(p, ncpu))
            .collect();
        match sort {
            SortBy::Cpu => {
                list.sort_by(|a, b| b.cpu.total_cmp(&a.cpu).then(b.memory.cmp(&a.memory)))
            }
            SortBy::Memory => {
                list.sort_by(|a, b| b.memory.cmp(&a.memory).then(b.cpu.total_cmp(&a.cpu)))
            }
        }
        list.truncate(limit);
        Ok(list)
    })
}

/// Which process [`process`] looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessRef {
    Pid(u32),
    Name(String),
}

impl ProcessRef {
    /// A string of digits is a pid, anything else a name.
    pub fn parse(s: &str) -> ProcessRef {
        match s.trim().parse::<u32>() {
            Ok(pid) => ProcessRef::Pid(pid),
            Err(_) => ProcessRef::Name(s.to_string()),
        }
    }
}

/// Whether process `p` is called `name`: its name (the kernel keeps 15 bytes), the file name of
/// its executable, or of its first argument.
fn name_matches(p: &sysinfo::Process, name: &str) -> bool {
    let pname = p.name().to_string_lossy();
    if pname == name || (pname.len() == 15 && name.len() > 15 && name.starts_with(pname.as_ref())) {
        return true;
    }
    if p.exe()
        .and_then(|e| e.file_name())
        .is_some_and(|f| f.to_string_lossy() == name)
    {
        return true;
    }
    p.cmd()
        .first()
        .and_then(|a| Path::new(a).file_name())
        .is_some_and(|f| f.to_string_lossy() == name)
}

/// One process by pid or by name; of several with the same name, the oldest (usually the parent
/// of the others). `None` when there is none.
pub fn process(which: &ProcessRef) -> Result<Option<ProcessInfo>> {
    with_system(|sys| {
        let ncpu = cpu_count(sys);
        let pid = match which {
            ProcessRef::Pid(pid) => Pid::from_u32(*pid),
            ProcessRef::Name(name) => {
                sys.refresh_processes_specifics(
                    ProcessesToUpdate::All,
                    true,
                    ProcessRefreshKind::nothing()
                        .with_cmd(UpdateKind::OnlyIfNotSet)
                        .with_exe(UpdateKind::OnlyIfNotSet)
                        .without_tasks(),
                );
                let found = sys
                    .processes()
                    .values()
                    .filter(|p| !is_thread(p) && name_matches(p, name))
                    .min_by_key(|p| (p.start_time(), p.pid().as_u32()))
                    .map(|p| p.pid());
                match found {
                    Some(pid) => pid,
                    None => return Ok(None),
                }
            }
        };
        sample_processes(sys, ProcessesToUpdate::Some(&[pid]));
        Ok(sys
            .process(pid)
            .filter(|p| !is_thread(p) && p.exists())
            .map(|p| info(p, ncpu)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    const MIB: u64 = 1024 * 1024;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn physical() -> u64 {
        let m = memory_with(Path::new("/nonexistent-cgroup-root"), "").unwrap();
        assert!(!m.cgroup_limit);
        m.total
    }

    #[test]
    fn cgroup_v1_unlimited_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        write(dir.path(), "memory/memory.usage_in_bytes", "4055040\n");
        let m = memory_with(dir.path(), "4:memory:/\n0::/\n").unwrap();
        assert!(!m.cgroup_limit);
        assert_eq!(m.total, physical());
        // 64 KiB pages give another sentinel; also ignored.
        write(
            dir.path(),
            "memory/memory.limit_in_bytes",
            "9223372036854710272\n",
        );
        assert_eq!(cgroup_memory(dir.path(), "4:memory:/\n"), None);
    }

    #[test]
    fn cgroup_v2_max_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "memory.max", "max\n");
        write(dir.path(), "memory.current", "1000000\n");
        let m = memory_with(dir.path(), "0::/\n").unwrap();
        assert!(!m.cgroup_limit);
        assert_eq!(m.total, physical());
        assert!(m.used <= m.total && m.available <= m.total);
    }

    #[test]
    fn cgroup_v2_limit_of_128_mib_is_the_total() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "memory.max", "134217728\n");
        write(dir.path(), "memory.current", &format!("{}\n", 64 * MIB));
        write(
            dir.path(),
            "memory.stat",
            &format!(
                "anon 1000\nfile 2000\ninactive_file {}\nactive_file 0\n",
                16 * MIB
            ),
        );
        let m = memory_with(dir.path(), "0::/\n").unwrap();
        assert!(m.cgroup_limit);
        assert_eq!(m.total, 128 * MIB);
        assert_eq!(m.used, 48 * MIB);
        assert_eq!(m.available, 80 * MIB);
        assert_eq!(m.percent, 37.5);
    }

    #[test]
    fn cgroup_v2_limit_on_a_parent_applies() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "cgroup.controllers", "cpu memory\n");
        write(dir.path(), "app.slice/memory.max", "268435456\n");
        write(
            dir.path(),
            "app.slice/memory.current",
            &format!("{}\n", 100 * MIB),
        );
        write(dir.path(), "app.slice/web.service/memory.max", "max\n");
        write(
            dir.path(),
            "app.slice/web.service/memory.current",
            &format!("{}\n", 10 * MIB),
        );
        let c = cgroup_memory(dir.path(), "0::/app.slice/web.service\n").unwrap();
        assert_eq!(c.limit, 256 * MIB);
        assert_eq!(c.used, Some(100 * MIB));
        assert!(c.dir.ends_with("app.slice"));
        // A lower limit deeper down wins.
        write(
            dir.path(),
            "app.slice/web.service/memory.max",
            "134217728\n",
        );
        let c = cgroup_memory(dir.path(), "0::/app.slice/web.service\n").unwrap();
        assert_eq!(c.limit, 128 * MIB);
        assert_eq!(c.used, Some(10 * MIB));
    }

    #[test]
    fn cgroup_v1_limit_applies_in_a_hybrid_layout() {
        let dir = tempfile::tempdir().unwrap();
        // v2 mounted at unified/ without the memory controller, memory on v1.
        write(dir.path(), "unified/cgroup.controllers", "");
        write(
            dir.path(),
            "memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        write(
            dir.path(),
            "memory/job/42/memory.limit_in_bytes",
            "536870912\n",
        );
        write(
            dir.path(),
            "memory/job/42/memory.usage_in_bytes",
            &format!("{}\n", 200 * MIB),
        );
        write(
            dir.path(),
            "memory/job/42/memory.stat",
            &format!("cache 5\ntotal_inactive_file {}\n", 50 * MIB),
        );
        let m = memory_with(dir.path(), "9:name=systemd:/\n4:memory:/job/42\n0::/\n").unwrap();
        assert!(m.cgroup_limit);
        assert_eq!(m.total, 512 * MIB);
        assert_eq!(m.used, 150 * MIB);
        assert_eq!(m.available, 362 * MIB);
    }

    #[test]
    fn a_limit_above_physical_memory_does_not_apply() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "memory.max", &format!("{}\n", physical() * 2));
        let m = memory_with(dir.path(), "0::/\n").unwrap();
        assert!(!m.cgroup_limit);
        assert_eq!(m.total, physical());
    }

    #[test]
    fn memory_of_this_host() {
        let m = memory().unwrap();
        assert!(m.total > 0);
        assert!(m.used + m.available <= m.total + MIB, "{m:?}");
        assert!((0.0..=100.0).contains(&m.percent));
        assert!(m.swap_used <= m.swap_total);
    }

    #[test]
    fn cpu_reports_real_load() {
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let stop = Arc::new(AtomicBool::new(false));
        let busy: Vec<_> = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = x.wrapping_mul(31).wrapping_add(7);
                    }
                    x
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        let c = cpu().unwrap();
        let cores = cpu_cores().unwrap();
        stop.store(true, Ordering::Relaxed);
        for b in busy {
            let _ = b.join();
        }
        assert!(start.elapsed() >= 2 * cpu_sample_window());
        assert!(c > 50.0, "cpu() = {c} with every core busy");
        assert!(!cores.is_empty());
        assert!(cores.iter().all(|u| (0.0..=100.0).contains(u)));
    }

    #[test]
    fn load_uptime_hostname() {
        let l = load().unwrap();
        assert!(l.one >= 0.0 && l.five >= 0.0 && l.fifteen >= 0.0);
        let proc_up: f64 = std::fs::read_to_string("/proc/uptime")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let up = uptime_s().unwrap() as f64;
        assert!((up - proc_up).abs() < 5.0, "{up} vs {proc_up}");
        let want = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(hostname().unwrap(), want.trim());
    }

    #[test]
    fn mountinfo_parsing_and_longest_prefix() {
        let text = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
40 27 0:40 / /srv rw shared:5 - xfs /dev/vdb1 rw
41 40 0:41 / /srv/my\\040data rw - ext4 /dev/vdc rw
42 27 0:42 / /var/lib/docker/overlay2/abc/merged rw - overlay overlay rw,lowerdir=/l,upperdir=/u/diff,workdir=/w
43 40 0:43 / /srv rw - tmpfs tmpfs rw
malformed line
";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 6);
        assert_eq!(mounts[3].mount_point, PathBuf::from("/srv/my data"));
        assert_eq!(mounts[2].fs, "xfs");
        assert_eq!(overlay_upperdir(&mounts[4].super_options), Some("/u/diff"));
        let at = |p: &str| {
            mount_for(&mounts, Path::new(p))
                .map(|m| (m.mount_point.display().to_string(), m.fs.clone()))
        };
        assert_eq!(at("/etc/passwd"), Some(("/".into(), "ext4".into())));
        assert_eq!(
            at("/srv/my data/x"),
            Some(("/srv/my data".into(), "ext4".into()))
        );
        // /srv is mounted twice: the later tmpfs hides the xfs.
        assert_eq!(at("/srv/app"), Some(("/srv".into(), "tmpfs".into())));
        // A prefix must end at a path component.
        assert_eq!(at("/srvx"), Some(("/".into(), "ext4".into())));
        assert_eq!(at("/proc/1/stat"), Some(("/proc".into(), "proc".into())));
    }

    #[test]
    fn disk_of_a_path_matches_statvfs() {
        let dir = tempfile::tempdir().unwrap();
        let d = disk(dir.path()).unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        assert!(
            real.starts_with(&d.mount),
            "{} not under {}",
            real.display(),
            d.mount
        );
        let (total, _used, _avail) = statvfs(dir.path()).unwrap();
        assert_eq!(d.total, total);
        assert!(d.used <= d.total && d.available <= d.total);
        assert!((0.0..=100.0).contains(&d.percent));
        // A path that does not exist yet is looked up through its parent.
        let later = disk(&dir.path().join("not/yet/created")).unwrap();
        assert_eq!(later.mount, d.mount);
        // A symbolic link is resolved first.
        let link = dir.path().join("proc-link");
        std::os::unix::fs::symlink("/proc", &link).unwrap();
        let p = disk(&link.join("self")).unwrap();
        assert_eq!(p.mount, "/proc");
        assert_eq!(p.fs, "proc");
    }

    #[test]
    fn disks_lists_each_device_once() {
        let list = disks().unwrap();
        assert!(!list.is_empty());
        let mut devs = HashSet::new();
        for d in &list {
            let dev = std::fs::metadata(&d.mount).unwrap().dev();
            assert!(devs.insert(dev), "device of {} listed twice", d.mount);
            assert!(d.total > 0, "{d:?}");
            assert!(
                !["proc", "sysfs", "cgroup", "cgroup2", "devpts"].contains(&d.fs.as_str()),
                "{d:?}"
            );
        }
        let root = disk(Path::new("/")).unwrap();
        assert!(list.iter().any(|d| d.mount == root.mount), "{list:?}");
    }

    #[test]
    fn network_rate_sees_loopback_traffic() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let reader = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 1 << 16];
            while s.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
        });
        let writer = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                let chunk = vec![7u8; 1 << 16];
                while !stop.load(Ordering::Relaxed) {
                    if s.write_all(&chunk).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        let n = network().unwrap();
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        reader.join().unwrap();
        let lo = n
            .interfaces
            .iter()
            .find(|i| i.name == "lo")
            .expect("loopback interface listed");
        assert!(lo.rx_bytes > 0 && lo.tx_bytes > 0);
        // 64 KiB per millisecond at most; well over 1 MB/s even on a slow box.
        assert!(n.rx_bytes_per_s > 1_000_000.0, "{n:?}");
        assert!(n.tx_bytes_per_s > 1_000_000.0, "{n:?}");
    }

    #[test]
    fn connections_count_what_the_test_opened() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let c = connections(port).unwrap();
        assert_eq!((c.listen, c.established, c.total), (1, 0, 1));

        let clients: Vec<TcpStream> = (0..5)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        let servers: Vec<TcpStream> = (0..5).map(|_| listener.accept().unwrap().0).collect();
        let c = connections(port).unwrap();
        assert_eq!(c.listen, 1, "{c:?}");
        assert_eq!(c.established, 5, "{c:?}");
        assert_eq!(c.total, 6, "{c:?}");

        // Clients hang up on two connections the server keeps: CLOSE_WAIT on the server side.
        let mut clients = clients;
        let mut servers = servers;
        drop(clients.drain(..2));
        // The server closes the next two first, then the clients: TIME_WAIT on the server side.
        for s in servers.drain(2..4) {
            drop(s);
        }
        // Each client has the server's FIN (reads end of file) before it closes in turn.
        for c in clients.iter_mut().take(2) {
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            assert_eq!(c.read(&mut [0u8; 1]).unwrap(), 0, "the server's FIN");
        }
        drop(clients.drain(..2));
        // The kernel moves the sockets on as the FINs and ACKs cross loopback: poll for it.
        crate::host::testutil::poll_until(Duration::from_secs(10), || {
            connections(port).is_ok_and(|c| c.close_wait == 2 && c.time_wait == 2)
        });
        let c = connections(port).unwrap();
        assert_eq!(c.close_wait, 2, "{c:?}");
        assert_eq!(c.time_wait, 2, "{c:?}");
        assert_eq!(c.established, 1, "{c:?}");
        assert_eq!(c.listen, 1, "{c:?}");
        drop(servers);
    }

    #[test]
    fn proc_net_tcp_format() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0BBA 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 100 0 0 10 0
   1: 0100007F:0BBA 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 2 1 0 20 4 30 10 -1
   2: 0100007F:D2F0 0100007F:0BBA 01 00000000:00000000 00:00000000 00000000  1000        0 3 1 0 20 4 30 10 -1
   3: 0100007F:0BBA 0100007F:D2F2 06 00000000:00000000 03:00000F9E 00000000     0        0 0 3 0
   4: 0100007F:0BBA 0100007F:D2F4 08 00000000:00000000 00:00000000 00000000  1000        0 4 1 0 20 4 30 10 -1
";
        let mut c = Connections::default();
        count_connections(table, 3002, &mut c);
        assert_eq!(
            c,
            Connections {
                listen: 1,
                established: 1,
                time_wait: 1,
                close_wait: 1,
                total: 4
            }
        );
        let tcp6 = "  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:0BBA 00000000000000000000000000000000:0000 0A 00000000:00000000
";
        count_connections(tcp6, 3002, &mut c);
        assert_eq!(c.listen, 2);
        assert_eq!(c.total, 5);
    }

    /// A child process that burns CPU until killed.
    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn processes_top_by_cpu_and_memory() {
        let busy = Child(
            std::process::Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .unwrap(),
        );
        // Running its loop once it has used 0.1 s of CPU.
        crate::host::testutil::poll_until(Duration::from_secs(30), || {
            crate::host::testutil::cpu_ticks_of(busy.0.id()).is_some_and(|t| t >= 10)
        });
        let top = processes(SortBy::Cpu, 5).unwrap();
        assert!(top.len() <= 5);
        assert!(top.windows(2).all(|w| w[0].cpu >= w[1].cpu), "{top:?}");
        // On a shared host more than five processes may be busier: look the loop up in a long list.
        let top = processes(SortBy::Cpu, 10_000).unwrap();
        assert!(top.windows(2).all(|w| w[0].cpu >= w[1].cpu), "{top:?}");
        let me = top
            .iter()
            .find(|p| p.pid == busy.0.id())
            .unwrap_or_else(|| panic!("busy child not in {top:?}"));
        // Other tests (and builds) share the cores: only ask for a clearly measured share.
        assert!(me.cpu > 5.0, "{me:?}");
        assert!(me.command.contains("while :; do :; done"), "{me:?}");

        let by_mem = processes(SortBy::Memory, 1000).unwrap();
        assert!(by_mem.windows(2).all(|w| w[0].memory >= w[1].memory));
        // Threads are not listed: every entry is a thread group leader.
        for p in &by_mem {
            let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", p.pid)) else {
                continue;
            };
            let tgid = status
                .lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .map(|v| v.trim().to_string());
            assert_eq!(tgid, Some(p.pid.to_string()), "{p:?} is a thread");
        }
        assert!(SortBy::parse("disk").is_err());
    }

    #[test]
    fn process_by_pid_and_by_name() {
        let me = process(&ProcessRef::Pid(std::process::id()))
            .unwrap()
            .unwrap();
        assert_eq!(me.pid, std::process::id());
        assert!(me.memory > 0);

        // A program whose name is longer than the kernel's 15-byte comm.
        let dir = tempfile::tempdir().unwrap();
        let prog = dir.path().join("rbk-test-sleeper-long");
        std::fs::copy("/bin/sleep", &prog).unwrap();
        let child = Child(std::process::Command::new(&prog).arg("30").spawn().unwrap());
        // Found by its name once it has exec'd.
        crate::host::testutil::poll_until(Duration::from_secs(10), || {
            crate::host::testutil::comm_of(child.0.id()).as_deref() == Some("rbk-test-sleepe")
        });
        let p = process(&ProcessRef::parse("rbk-test-sleeper-long"))
            .unwrap()
            .unwrap();
        assert_eq!(p.pid, child.0.id());
        assert!(p.cpu < 5.0, "{p:?}");
        let by_pid = process(&ProcessRef::parse(&child.0.id().to_string()))
            .unwrap()
            .unwrap();
        assert_eq!(by_pid.pid, child.0.id());
        drop(child);

        assert_eq!(
            process(&ProcessRef::parse("no-such-process-name-xyz")).unwrap(),
            None
        );
        assert_eq!(process(&ProcessRef::Pid(u32::MAX - 1)).unwrap(), None);

        // A thread id is not a process.
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let tid = unsafe { libc::gettid() } as u32;
            tx.send(tid).unwrap();
            let _ = done_rx.recv();
        });
        let tid = rx.recv().unwrap();
        assert_eq!(process(&ProcessRef::Pid(tid)).unwrap(), None);
        done_tx.send(()).unwrap();
        t.join().unwrap();
    }

    #[test]
    fn port_zero_counts_sockets_on_every_port() {
        let table = "  sl  local_address rem_address   st\n   0: 0100007F:0BBA 00000000:0000 0A\n   1: 0100007F:1F90 0100007F:D2F0 08\n";
        let mut c = Connections::default();
        count_connections(table, 0, &mut c);
        assert_eq!((c.listen, c.close_wait, c.total), (1, 1, 2));
    }
}
