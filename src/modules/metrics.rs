//! `metrics::` — the host: CPU, memory, disks, network, TCP connections and processes.
//!
//! Thin adapters over [`crate::host::metrics`]. Metrics only read the host, so they need no
//! policy rule; none of them reads file contents. CPU and network figures are rates measured
//! over a short window (CPU: sysinfo's minimum interval, 200 ms on Linux; network: 500 ms), so
//! these calls block for that long and always report real load.

use rhai::plugin::*;
use rhai::{Array, Dynamic, Map};
use serde::Serialize;

use crate::error::{Error, Result, RhaiResult};

/// A serializable value as a Rhai map.
pub(crate) fn to_map<T: Serialize>(v: &T) -> RhaiResult<Map> {
    let d = crate::modules::to_dynamic(v)?;
    let type_name = d.type_name();
    d.try_cast::<Map>()
        .ok_or_else(|| Error::failed(format!("internal: expected a map, got {type_name}")).into())
}

/// A list of serializable values as a Rhai array of maps.
pub(crate) fn to_array<T: Serialize>(v: &[T]) -> RhaiResult<Array> {
    v.iter().map(|x| to_map(x).map(Dynamic::from)).collect()
}

/// A TCP port from a script integer.
fn tcp_port(func: &str, p: i64) -> Result<u16> {
    u16::try_from(p)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::Usage(format!("{func}: port must be 1–65535, got {p}")))
}

#[export_module]
pub mod metrics_module {
    use super::{tcp_port, to_array, to_map};
    use crate::error::{Error, RhaiResult};
    use crate::host::metrics as m;
    use rhai::{Array, Dynamic, FLOAT, INT, Map};
    use std::path::Path;

    /// Whole-machine CPU usage in percent (0.0–100.0), measured over sysinfo's minimum sampling
    /// interval (200 ms on Linux; the call blocks that long) — never the 0.0 of a single sample.
    ///
    /// Throws when the system's CPU statistics cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// let pct = metrics::cpu();
    /// check("CPU below 70 %", pct < 70.0, `${pct}%`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cpu(ncc: NativeCallContext) -> RhaiResult<FLOAT> {
        crate::modules::host(&ncc, |_| m::cpu())
    }

    /// Usage of each logical CPU in percent (0.0–100.0), one float per core, measured like `cpu()`.
    ///
    /// Throws when the system's CPU statistics cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// print(metrics::cpu_cores().len());
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cpu_cores(ncc: NativeCallContext) -> RhaiResult<Array> {
        crate::modules::host(&ncc, |_| m::cpu_cores())
            .map(|v| v.into_iter().map(Dynamic::from).collect())
    }

    /// Load averages → `#{one, five, fifteen}` (runnable tasks averaged over 1, 5 and 15 minutes).
    ///
    /// Throws when `/proc/loadavg` cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// let l = metrics::load();
    /// print(`load ${l.one} ${l.five} ${l.fifteen}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn load(ncc: NativeCallContext) -> RhaiResult<Map> {
        let l = crate::modules::host(&ncc, |_| m::load())?;
        to_map(&l)
    }

    /// Seconds since the host booted.
    ///
    /// Throws when the uptime cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// print(metrics::uptime_s());
    /// ```
    #[rhai_fn(return_raw)]
    pub fn uptime_s(ncc: NativeCallContext) -> RhaiResult<INT> {
        crate::modules::host(&ncc, |_| m::uptime_s()).map(|s| s as INT)
    }

    /// The host's name.
    ///
    /// Throws when it cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// print(metrics::hostname());
    /// ```
    #[rhai_fn(return_raw)]
    pub fn hostname(ncc: NativeCallContext) -> RhaiResult<String> {
        crate::modules::host(&ncc, |_| m::hostname())
    }

    /// Memory → `#{total, used, available, percent, swap_total, swap_used, cgroup_limit}`.
    ///
    /// Sizes in bytes, `percent` = used / total (0.0–100.0). When this process runs under a cgroup
    /// memory limit lower than the physical memory (cgroup v2 `memory.max`, v1
    /// `memory.limit_in_bytes`; "max" and v1's "unlimited" are not limits), `total` is that limit,
    /// `used` the cgroup's usage minus its inactive file cache, and `cgroup_limit` is `true`;
    /// otherwise they are the host's and `cgroup_limit` is `false`.
    ///
    /// Throws when the memory statistics cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// let m = metrics::memory();
    /// print(`${m.percent}% of ${m.total} bytes used`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn memory(ncc: NativeCallContext) -> RhaiResult<Map> {
        let mem = crate::modules::host(&ncc, |_| m::memory())?;
        to_map(&mem)
    }

    /// Space of the file system holding `path` → `#{mount, fs, total, used, available, percent}`.
    ///
    /// `path` is resolved first (symbolic links, `..`; a path that does not exist yet counts as
    /// its deepest existing parent) and the mount is the longest mount point above it. Sizes in
    /// bytes; `used` counts reserved blocks as `df` does, `available` is what unprivileged users
    /// can still write, `percent` = used / (used + available) like `df`'s `Use%`. Needs no
    /// policy rule: only sizes are read.
    ///
    /// Throws when the mount table or the file system's statistics cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// let d = metrics::disk("/");
    /// print(`${d.mount}: ${d.percent}% used`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn disk(ncc: NativeCallContext, path: &str) -> RhaiResult<Map> {
        let d = crate::modules::host(&ncc, |_| m::disk(Path::new(path)))?;
        to_map(&d)
    }

    /// Every file system once → array of `#{mount, fs, total, used, available, percent}` sorted
    /// by mount point, each device (by device id) under its shortest mount point: bind mounts and
    /// overlays of an already listed device are left out, and so are pseudo file systems (proc,
    /// sysfs, cgroup, devtmpfs …) and file systems of size 0; tmpfs mounts are listed.
    ///
    /// Throws when the mount list cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// for d in metrics::disks() { print(`${d.mount} ${d.percent}%`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn disks(ncc: NativeCallContext) -> RhaiResult<Array> {
        let list = crate::modules::host(&ncc, |_| m::disks())?;
        to_array(&list)
    }

    /// Network throughput over a 500 ms sample (the call blocks that long) →
    /// `#{rx_bytes_per_s, tx_bytes_per_s, interfaces: [#{name, rx_bytes, tx_bytes}]}`.
    ///
    /// Rates are bytes per second summed over every interface (loopback included); the
    /// interfaces' `rx_bytes`/`tx_bytes` are totals since boot.
    ///
    /// Throws when the interface statistics cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// print(metrics::network());
    /// ```
    #[rhai_fn(return_raw)]
    pub fn network(ncc: NativeCallContext) -> RhaiResult<Map> {
        let n = crate::modules::host(&ncc, |_| m::network())?;
        to_map(&n)
    }

    /// TCP sockets of the whole host by state → `#{listen, established, time_wait, close_wait,
    /// total}` (IPv4 and IPv6, from `/proc/net/tcp*`): a pile-up of `close_wait` (the program
    /// does not close connections the peer ended) or `time_wait` (connection churn) shows here.
    ///
    /// Throws when `/proc/net/tcp` cannot be read.
    ///
    /// ```rhai
    /// let s = metrics::connections();
    /// checks::at_most("close-wait sockets", s.close_wait, 100, "");
    /// ```
    ///
    /// Example:
    /// ```rhai
    /// let c = metrics::connections();
    /// print(c.total);
    /// ```
    #[rhai_fn(name = "connections", return_raw)]
    pub fn connections_all(ncc: NativeCallContext) -> RhaiResult<Map> {
        let c = crate::modules::host(&ncc, |_| m::connections(0))?;
        to_map(&c)
    }

    /// TCP sockets on local port `port` by state →
    /// `#{listen, established, time_wait, close_wait, total}` (IPv4 and IPv6, from `/proc/net/tcp*`;
    /// `total` counts every state, listening sockets included). What `netstat -an | grep PORT`
    /// is used for on the server: `established` is the number of open client connections.
    ///
    /// Throws when `port` is not 1–65535 or `/proc/net/tcp` cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// print(metrics::connections(3002).total);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn connections(ncc: NativeCallContext, port: INT) -> RhaiResult<Map> {
        let c = crate::modules::host(&ncc, |_| {
            m::connections(tcp_port("metrics::connections", port)?)
        })?;
        to_map(&c)
    }

    /// The 10 processes using the most CPU → array of `#{pid, name, cpu, memory, uptime_s, command}`
    /// (see `processes(opts)`).
    ///
    /// Throws when the process list cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// for p in metrics::processes() { print(`${p.pid} ${p.name} ${p.cpu}%`); }
    /// ```
    #[rhai_fn(name = "processes", return_raw)]
    pub fn processes0(ncc: NativeCallContext) -> RhaiResult<Array> {
        let list = crate::modules::host(&ncc, |_| m::processes(m::SortBy::Cpu, 10))?;
        to_array(&list)
    }

    /// The top processes → array of `#{pid, name, cpu, memory, uptime_s, command}`, highest first.
    ///
    /// Options: `sort` — `"cpu"` (default) or `"memory"`; `limit` — how many (default 10).
    /// `cpu` is the share of the whole machine in percent (0.0–100.0) over a 200 ms sample,
    /// `memory` the resident size in bytes, `uptime_s` seconds since the process started,
    /// `command` its command line. Threads are not listed.
    ///
    /// Throws when an option is unknown or ill-typed, or the process list cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// print(metrics::processes(#{ sort: "memory", limit: 3 }).len());
    /// ```
    #[rhai_fn(name = "processes", return_raw)]
    pub fn processes1(ncc: NativeCallContext, opts: Map) -> RhaiResult<Array> {
        let list = crate::modules::host(&ncc, |_| {
            let o: super::ProcOpts = crate::modules::options("metrics::processes", opts)?;
            let sort = match o.sort {
                Some(s) => m::SortBy::parse(&s)?,
                None => m::SortBy::Cpu,
            };
            let limit = o.limit.unwrap_or(10);
            m::processes(sort, usize::try_from(limit).unwrap_or(usize::MAX))
        })?;
        to_array(&list)
    }

    /// The process with id `pid` → `#{pid, name, cpu, memory, uptime_s, command}`, or `()` when
    /// there is none (a thread id is not a process). `cpu` is measured over a 200 ms sample.
    ///
    /// Throws when `pid` is negative.
    ///
    /// Example:
    /// ```rhai
    /// print(metrics::process(1));
    /// ```
    #[rhai_fn(name = "process", return_raw)]
    pub fn process_pid(ncc: NativeCallContext, pid: INT) -> RhaiResult<Dynamic> {
        let found = crate::modules::host(&ncc, |_| {
            let pid = u32::try_from(pid).map_err(|_| {
                Error::Usage(format!("metrics::process: pid must be ≥ 0, got {pid}"))
            })?;
            m::process(&m::ProcessRef::Pid(pid))
        })?;
        match found {
            Some(p) => to_map(&p).map(Dynamic::from),
            None => Ok(Dynamic::UNIT),
        }
    }

    /// The process called `name` (or with the pid written in `name`) →
    /// `#{pid, name, cpu, memory, uptime_s, command}`, or `()` when there is none.
    ///
    /// The name matches the process name, its executable's file name or its first argument's;
    /// of several matches the oldest wins (usually the parent, e.g. a cluster master).
    ///
    /// Throws when the process list cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// print(metrics::process("node"));   // () when no such process runs
    /// ```
    #[rhai_fn(name = "process", return_raw)]
    pub fn process_name(ncc: NativeCallContext, name: &str) -> RhaiResult<Dynamic> {
        let found = crate::modules::host(&ncc, |_| m::process(&m::ProcessRef::parse(name)))?;
        match found {
            Some(p) => to_map(&p).map(Dynamic::from),
            None => Ok(Dynamic::UNIT),
        }
    }
}

/// The options of `metrics::processes`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcOpts {
    sort: Option<String>,
    limit: Option<u64>,
}

/// The option keys of this module's functions, for [`crate::modules::option_keys`].
pub(crate) fn option_keys() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![(
        "metrics::processes",
        crate::modules::fields_of::<ProcOpts>().to_vec(),
    )]
}
