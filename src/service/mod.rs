//! Service control: one [`ServiceManager`] per kind of manager (pm2, systemd, supervisor, a
//! command set from the inventory), plus what makes acting on a service safe: the per-service
//! lock and the restart rate limit ([`guard`]), the health check and [`wait_healthy`].
//!
//! Every manager call goes through [`crate::proc`]: own process group, stdin from `/dev/null`,
//! a timeout (the inventory's `timeout_s`, default 60 s) after which the whole group is ended,
//! and capped output. Nothing here goes through the effect gate: the Rhai adapters in
//! `modules::service` wrap each mutation in `Ctx::effect`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::policy::ServiceSpec;
use crate::proc::{self, Output, Spec};

pub mod command;
pub mod guard;
pub mod pm2;
pub mod supervisor;
pub mod systemd;

/// Default settle time of [`wait_healthy`] in seconds.
pub const DEFAULT_SETTLE_S: u64 = 2;
/// Bytes of a manager's output quoted in error messages.
pub const QUOTE_BYTES: usize = 200;

/// The state of a service, the same words for every manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Online,
    Stopped,
    Errored,
    Starting,
    Stopping,
    Unknown,
}

impl State {
    /// The word scripts see.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Online => "online",
            State::Stopped => "stopped",
            State::Errored => "errored",
            State::Starting => "starting",
            State::Stopping => "stopping",
            State::Unknown => "unknown",
        }
    }
}

/// What `service::status` returns. Never carries the process environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// Inventory name.
    pub name: String,
    /// `pm2`, `systemd`, `supervisor` or `command`.
    pub manager: String,
    /// Normalised state.
    pub state: State,
    /// Main process id, `None` when not running.
    pub pid: Option<u32>,
    /// Seconds since the process started, `None` when not running or unknown.
    pub uptime_s: Option<u64>,
    /// Restarts counted by the manager (pm2 `restart_time`, systemd `NRestarts`); `None` when the
    /// manager does not count them (supervisor, command).
    pub restarts: Option<u64>,
    /// CPU percent of the main process (0.0–100.0 per core), 0.0 when not running.
    pub cpu: f64,
    /// Resident memory in bytes, 0 when not running.
    pub memory: u64,
    /// The manager's own words (pm2 status, systemd `SubState`/`Result`, supervisor description).
    pub detail: String,
}

impl Status {
    /// A status with nothing known but the state.
    pub fn new(name: &str, manager: &str, state: State) -> Self {
        Status {
            name: name.to_string(),
            manager: manager.to_string(),
            state,
            pid: None,
            uptime_s: None,
            restarts: None,
            cpu: 0.0,
            memory: 0,
            detail: String::new(),
        }
    }
}

/// `service::log_files`: where the service writes stdout and stderr.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogFiles {
    pub out: Option<String>,
    pub err: Option<String>,
}

/// `service::health`: the answer of the health endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// 2xx within the timeout.
    pub ok: bool,
    /// HTTP status, `None` when there was no answer.
    pub status: Option<u16>,
    /// Time to the answer (or to the failure), ms.
    pub elapsed_ms: u64,
    /// Why it failed (timeout, connection refused, non-2xx status), `None` when ok.
    pub error: Option<String>,
}

/// One kind of service manager acting on one inventory service.
pub trait ServiceManager {
    /// `pm2`, `systemd`, `supervisor` or `command`.
    fn kind(&self) -> &'static str;
    /// The current status.
    fn status(&self) -> Result<Status>;
    /// Start the service.
    fn start(&self) -> Result<()>;
    /// Stop the service.
    fn stop(&self) -> Result<()>;
    /// Restart the service.
    fn restart(&self) -> Result<()>;
    /// Reload the service (graceful where the manager supports it).
    fn reload(&self) -> Result<()>;
    /// Send `sig` (a name from [`signal_number`], e.g. `SIGUSR2`) to the main process.
    fn signal(&self, sig: &str) -> Result<()>;
    /// Where the service's stdout and stderr go.
    fn log_files(&self) -> Result<LogFiles>;
    /// Preflight of `verb` (`start`, `stop`, `restart`, `reload`, `signal`): `Err(reason)` when
    /// the manager cannot do it, e.g. it does not know the service. The default asks for the
    /// status (which fails for units and programs the manager does not know).
    fn preflight(&self, verb: &str) -> std::result::Result<(), String> {
        let _ = verb;
        self.status().map(|_| ()).map_err(|e| e.to_string())
    }
}

/// Build the manager for inventory service `name` (the spec's `manager` decides which).
pub fn manager_for(
    name: &str,
    spec: &ServiceSpec,
    cancel: &Cancel,
) -> Result<Box<dyn ServiceManager>> {
    let caller = Caller::new(spec, cancel);
    Ok(match spec.manager.as_str() {
        "pm2" => Box::new(pm2::Pm2::new(name, spec, caller)),
        "systemd" => Box::new(systemd::Systemd::new(name, spec, caller)),
        "supervisor" => Box::new(supervisor::Supervisor::new(name, spec, caller)),
        "command" => Box::new(command::CommandManager::new(name, spec, caller)),
        other => {
            return Err(Error::Config {
                path: PathBuf::from("runbook.toml"),
                message: format!(
                    "services.{name}.manager = {other:?}: expected pm2, systemd, supervisor or command"
                ),
            });
        }
    })
}

/// Runs manager programs with the service's timeout and the run's cancellation.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Timeout of one call.
    pub timeout: Duration,
    /// The run's cancellation (Ctrl-C, deadline).
    pub cancel: Cancel,
    /// Variables added to every call (`PM2_HOME`, `TZ` …).
    pub env: Vec<(OsString, OsString)>,
    /// Working directory of every call.
    pub cwd: Option<PathBuf>,
    /// Output cap of one call.
    pub max_output: usize,
}

impl Caller {
    /// A caller for `spec`: its `timeout_s` (default 60 s) and no extra environment.
    pub fn new(spec: &ServiceSpec, cancel: &Cancel) -> Self {
        Caller {
            timeout: spec
                .timeout_s
                .map(Duration::from_secs)
                .unwrap_or(proc::DEFAULT_TIMEOUT),
            cancel: cancel.clone(),
            env: Vec::new(),
            cwd: None,
            max_output: proc::DEFAULT_MAX_OUTPUT,
        }
    }

    /// Run `program args…`. A timeout is an error naming the command; a non-zero exit is not
    /// (the caller decides what the code means).
    pub fn call(&self, program: &str, args: &[&str]) -> Result<Output> {
        let mut spec = Spec::new(program, args.iter().copied())
            .timeout(self.timeout)
            .max_output(self.max_output);
        spec.env = self.env.clone();
        spec.cwd = self.cwd.clone();
        let out = proc::run(&spec, &self.cancel)?;
        if out.timed_out {
            return Err(Error::failed(format!(
                "`{}` timed out after {} s; its process group was ended",
                spec.display(),
                self.timeout.as_secs_f64()
            )));
        }
        Ok(out)
    }

    /// Run and require exit code 0; the error quotes the command and the start of its output.
    pub fn call_ok(&self, program: &str, args: &[&str]) -> Result<Output> {
        let out = self.call(program, args)?;
        if out.code != 0 {
            return Err(Error::failed(format!(
                "`{}` failed: {}",
                command_line(program, args),
                out.failure_summary(QUOTE_BYTES)
            )));
        }
        Ok(out)
    }
}

/// `program arg…` for messages.
pub fn command_line(program: &str, args: &[&str]) -> String {
    Spec::new(program, args.iter().copied()).display()
}

/// The signals `service::signal` accepts, by name (with or without the `SIG` prefix).
pub fn signal_number(name: &str) -> Result<(String, i32)> {
    let upper = name.trim().to_ascii_uppercase();
    let short = upper.strip_prefix("SIG").unwrap_or(&upper);
    let n = match short {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        "KILL" => libc::SIGKILL,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "WINCH" => libc::SIGWINCH,
        _ => {
            return Err(Error::Usage(format!(
                "unknown signal {name:?} (known: SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGKILL, SIGCONT, SIGSTOP, SIGWINCH)"
            )));
        }
    };
    Ok((format!("SIG{short}"), n))
}

/// Send signal `sig` to `pid` directly (the command manager, which has no daemon to ask).
pub fn kill_pid(pid: u32, sig: i32) -> Result<()> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| Error::failed(format!("pid {pid} out of range")))?;
    if pid <= 1 {
        return Err(Error::failed(format!("refusing to signal pid {pid}")));
    }
    // SAFETY: plain syscall; pid > 1 so never a group or init.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(Error::failed(format!(
            "kill({pid}, {sig}): {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// CPU percent and resident memory of `pid`, sampled over sysinfo's minimum interval
/// (a single sample would always say 0 % CPU). `None` when the process does not exist.
pub fn sample_process(pid: u32) -> Option<(f64, u64)> {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
    let mut sys = System::new().ok()?;
    let pids = [Pid::from_u32(pid)];
    let kind = ProcessRefreshKind::nothing().with_cpu().with_memory();
    sys.refresh_processes_specifics(ProcessesToUpdate::Some(&pids), true, kind);
    sys.process(pids[0])?;
    std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
    sys.refresh_processes_specifics(ProcessesToUpdate::Some(&pids), true, kind);
    let p = sys.process(pids[0])?;
    Some((f64::from(p.cpu_usage()), p.memory()))
}

/// Seconds since `pid` started (from the process table), `None` when it does not exist.
pub fn process_uptime_s(pid: u32) -> Option<u64> {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
    let mut sys = System::new().ok()?;
    let pids = [Pid::from_u32(pid)];
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&pids),
        true,
        ProcessRefreshKind::nothing(),
    );
    sys.process(pids[0]).map(|p| p.run_time())
}

/// Fill `cpu`, `memory` (and `uptime_s` when unknown) from the process table for a running pid.
pub fn fill_from_process_table(st: &mut Status) {
    if let Some(pid) = st.pid {
        if let Some((cpu, mem)) = sample_process(pid) {
            st.cpu = cpu;
            if st.memory == 0 {
                st.memory = mem;
            }
        }
        if st.uptime_s.is_none() {
            st.uptime_s = process_uptime_s(pid);
        }
    }
}

/// GET `url` with a whole-request `timeout` through [`crate::host::http::check`]; 2xx is
/// healthy. Never errors: failures are in the result (`ok: false`, `error` = the error kind
/// followed by the readable cause, e.g. `timeout: no answer within 3000 ms`). Redirects are not
/// followed.
pub fn check_health(url: &str, timeout: Duration) -> Health {
    let r = crate::host::http::check(url, timeout);
    let error = match (r.error, r.message) {
        (Some(kind), Some(msg)) if !msg.starts_with(&kind) => Some(format!("{kind}: {msg}")),
        (Some(_), Some(msg)) => Some(msg),
        (kind, None) => kind,
        (None, Some(_)) => None,
    };
    Health {
        ok: r.ok,
        status: r.status,
        elapsed_ms: r.elapsed_ms,
        error,
    }
}

/// Wait until the service is online, has stayed so for `settle` (same pid, same restart
/// count — or the manager reports an uptime of at least `settle`), and `health` says ok.
/// Returns `false` when `timeout` passes first. `health` is `None` when the service has no
/// health endpoint (then online + settled is enough).
///
/// Errors: a status call that fails (manager unreachable, bad output), cancellation.
pub fn wait_healthy(
    mgr: &dyn ServiceManager,
    health: Option<&dyn Fn() -> Health>,
    timeout: Duration,
    settle: Duration,
    cancel: &Cancel,
) -> Result<bool> {
    let end = Instant::now() + timeout;
    let mut stable: Option<(Option<u32>, Option<u64>, Instant)> = None;
    loop {
        cancel.check()?;
        let st = mgr.status()?;
        if st.state == State::Online {
            let key = (st.pid, st.restarts);
            let since = match stable {
                Some((pid, restarts, since)) if (pid, restarts) == key => since,
                _ => Instant::now(),
            };
            stable = Some((key.0, key.1, since));
            let settled = since.elapsed() >= settle
                || st.uptime_s.is_some_and(|u| u >= settle.as_secs().max(1));
            if settled && health.is_none_or(|h| h().ok) {
                return Ok(true);
            }
        } else {
            stable = None;
        }
        if Instant::now() >= end {
            return Ok(false);
        }
        cancel.sleep((end - Instant::now()).min(Duration::from_millis(500)))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A manager that plays back a list of statuses.
    struct Scripted {
        states: RefCell<Vec<Status>>,
    }

    impl ServiceManager for Scripted {
        fn kind(&self) -> &'static str {
            "command"
        }
        fn status(&self) -> Result<Status> {
            let mut v = self.states.borrow_mut();
            Ok(if v.len() > 1 {
                v.remove(0)
            } else {
                v[0].clone()
            })
        }
        fn start(&self) -> Result<()> {
            Ok(())
        }
        fn stop(&self) -> Result<()> {
            Ok(())
        }
        fn restart(&self) -> Result<()> {
            Ok(())
        }
        fn reload(&self) -> Result<()> {
            Ok(())
        }
        fn signal(&self, _: &str) -> Result<()> {
            Ok(())
        }
        fn log_files(&self) -> Result<LogFiles> {
            Ok(LogFiles {
                out: None,
                err: None,
            })
        }
    }

    fn st(state: State, pid: Option<u32>) -> Status {
        Status {
            pid,
            ..Status::new("x", "command", state)
        }
    }

    /// A fake manager binary that forks a grandchild `sleep 600` and never answers: the call
    /// times out and no process of its group remains.
    #[test]
    fn manager_timeout_ends_the_whole_group() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let fake = dir.path().join("fake-pm2");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\necho $$ > {p}\nsleep 600 &\necho $! >> {p}\nwait\n",
                p = pids.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        for manager in ["pm2", "supervisor", "systemd"] {
            let spec = ServiceSpec {
                manager: manager.into(),
                bin: Some(fake.to_string_lossy().into_owned()),
                timeout_s: Some(1),
                ..ServiceSpec::default()
            };
            let m = manager_for("web", &spec, &Cancel::never()).unwrap();
            let start = Instant::now();
            let err = m.status().unwrap_err().to_string();
            assert!(err.contains("timed out after 1 s"), "{manager}: {err}");
            assert!(
                start.elapsed() < Duration::from_secs(6),
                "{manager}: {:?}",
                start.elapsed()
            );
            let text = std::fs::read_to_string(&pids).unwrap();
            let ids: Vec<i32> = text
                .split_whitespace()
                .map(|s| s.parse().unwrap())
                .collect();
            assert!(
                !crate::proc::group_alive(ids[0]),
                "{manager}: group {} survived",
                ids[0]
            );
            let stat =
                std::fs::read_to_string(format!("/proc/{}/stat", ids[1])).unwrap_or_default();
            assert!(
                stat.is_empty() || stat.contains(") Z"),
                "{manager}: grandchild sleep survived: {stat}"
            );
        }
    }

    #[test]
    fn signals_by_name() {
        assert_eq!(
            signal_number("SIGUSR2").unwrap(),
            ("SIGUSR2".to_string(), libc::SIGUSR2)
        );
        assert_eq!(signal_number("hup").unwrap().1, libc::SIGHUP);
        assert_eq!(signal_number("SIGBOGUS").unwrap_err().kind(), "usage");
    }

    #[test]
    fn wait_healthy_needs_settled_online_and_health() {
        let mgr = Scripted {
            states: RefCell::new(vec![
                st(State::Starting, None),
                st(State::Online, Some(10)),
                st(State::Online, Some(10)),
            ]),
        };
        let calls = RefCell::new(0);
        let health = || {
            *calls.borrow_mut() += 1;
            Health {
                ok: *calls.borrow() > 1,
                status: Some(200),
                elapsed_ms: 1,
                error: None,
            }
        };
        let ok = wait_healthy(
            &mgr,
            Some(&health),
            Duration::from_secs(5),
            Duration::from_millis(400),
            &Cancel::never(),
        )
        .unwrap();
        assert!(ok);
        assert!(*calls.borrow() >= 2);
    }

    #[test]
    fn wait_healthy_times_out_when_health_never_answers() {
        let mgr = Scripted {
            states: RefCell::new(vec![st(State::Online, Some(10))]),
        };
        let health = || Health {
            ok: false,
            status: None,
            elapsed_ms: 1,
            error: Some("no answer".into()),
        };
        let start = Instant::now();
        let ok = wait_healthy(
            &mgr,
            Some(&health),
            Duration::from_millis(800),
            Duration::ZERO,
            &Cancel::never(),
        )
        .unwrap();
        assert!(!ok);
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn wait_healthy_resets_settling_when_the_pid_changes() {
        // A crash loop: online with a new pid every poll never settles.
        let states = (0..40).map(|i| st(State::Online, Some(100 + i))).collect();
        let mgr = Scripted {
            states: RefCell::new(states),
        };
        let ok = wait_healthy(
            &mgr,
            None,
            Duration::from_millis(1600),
            Duration::from_secs(1),
            &Cancel::never(),
        )
        .unwrap();
        assert!(!ok);
    }

    #[test]
    fn health_against_a_real_server() {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let t = std::thread::spawn(move || {
            for (i, req) in server.incoming_requests().take(2).enumerate() {
                let code = if i == 0 { 200 } else { 503 };
                let _ = req.respond(tiny_http::Response::from_string("x").with_status_code(code));
            }
        });
        let url = format!("http://127.0.0.1:{port}/health");
        let h = check_health(&url, Duration::from_secs(2));
        assert!(h.ok && h.status == Some(200), "{h:?}");
        let h = check_health(&url, Duration::from_secs(2));
        assert!(!h.ok && h.status == Some(503), "{h:?}");
        t.join().unwrap();
        // Nobody listens any more.
        let h = check_health(&url, Duration::from_secs(2));
        assert!(!h.ok && h.status.is_none() && h.error.is_some(), "{h:?}");
    }

    #[test]
    fn health_times_out_on_a_silent_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        let start = Instant::now();
        let h = check_health(&url, Duration::from_millis(300));
        assert!(!h.ok, "{h:?}");
        assert!(
            h.error.as_deref().unwrap_or("").starts_with("timeout:"),
            "{h:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(3));
        drop(listener);
    }
}
