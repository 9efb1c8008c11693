//! The test kit: one builder for every `runbook` invocation ([`Invocation`], made by
//! [`Run::new`] or [`Sandbox::runbook`]), typed assertions on its result ([`Run`], [`CheckExt`],
//! [`EffectExt`]), an audit-log reader ([`Audit`]) and readiness waits ([`wait_until`]) instead
//! of fixed sleeps.
//!
//! ```ignore
//! let r = Run::new()
//!     .runbook("health-check")
//!     .policy("commands = [\"sleep\"]")
//!     .args(["--dry-run"])
//!     .json();
//! r.exit(6).status("inconclusive");
//! r.check("cpu").is_unknown();
//! r.effect("fs.write").outcome("planned");
//! r.audit().only("fs.write").outcome("planned");
//! ```

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Run, Sandbox};

// ---------------------------------------------------------------------------------------------
// Readiness waits

/// Poll `cond` (every 10 ms for the first 2 s, then every 50 ms) until it holds; false when
/// `within` passes first. The one place in the tests that sleeps to wait for something.
pub fn poll_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() >= within {
            return false;
        }
        let step = if start.elapsed() < Duration::from_secs(2) {
            10
        } else {
            50
        };
        std::thread::sleep(Duration::from_millis(step));
    }
}

/// Poll `cond` until it holds; panics naming `what` when `within` passes first.
pub fn wait_until(within: Duration, what: &str, cond: impl FnMut() -> bool) {
    assert!(
        poll_until(within, cond),
        "timed out after {within:?} waiting for {what}"
    );
}

/// Wait for `child` to exit; on `within` passing first, kill it and return None.
pub fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let mut status = None;
    poll_until(within, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
}

/// Direct children of `pid` (from `/proc/PID/task/*/children`).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    out
}

/// Every descendant of `pid`, depth first.
pub fn descendants_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for c in children_of(pid) {
        out.push(c);
        out.extend(descendants_of(c));
    }
    out
}

/// The program name of `pid` (`/proc/PID/comm`), once it has exec'd.
pub fn comm_of(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// Wait until `pid` has a descendant named `comm` (e.g. the `sleep` a runbook started); its pid.
pub fn wait_for_descendant(pid: u32, comm: &str, within: Duration) -> u32 {
    let mut found = None;
    wait_until(
        within,
        &format!("a {comm:?} process under pid {pid}"),
        || {
            found = descendants_of(pid)
                .into_iter()
                .find(|c| comm_of(*c).as_deref() == Some(comm));
            found.is_some()
        },
    );
    found.unwrap()
}

/// The files `pid` has open (`/proc/PID/fd/*`, resolved).
pub fn open_files(pid: u32) -> Vec<PathBuf> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// CPU time `pid` has used (user + system), from `/proc/PID/stat`; None once it is gone.
pub fn cpu_time_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`, which may itself hold spaces: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_millis(ticks * 1000 / hz))
}

/// Wait until `pid` has used `cpu` of CPU time (a busy script is in its loop, past start-up).
pub fn wait_cpu(pid: u32, cpu: Duration, within: Duration) {
    wait_until(within, &format!("pid {pid} to use {cpu:?} of CPU"), || {
        cpu_time_of(pid).is_some_and(|t| t >= cpu)
    });
}

/// Send `sig` to `pid` (a process the test started).
pub fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on a pid of our own child; no memory is touched.
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

// ---------------------------------------------------------------------------------------------
// The builder

enum Sb<'a> {
    Owned(Arc<Sandbox>),
    Borrowed(&'a Sandbox),
}

/// One `runbook` invocation being put together; run it with [`Invocation::output`],
/// [`Invocation::json`] or [`Invocation::spawn`].
pub struct Invocation<'a> {
    sb: Sb<'a>,
    command: Option<Vec<String>>,
    target: Option<String>,
    script: Option<(String, String)>,
    policy: Option<String>,
    config: Option<String>,
    config_path: Option<PathBuf>,
    args: Vec<String>,
    env: Vec<(String, Option<String>)>,
    dir: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
}

impl Run {
    /// A new invocation in a fresh [`Sandbox`] (kept alive by the result, so its audit log
    /// can still be read).
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> Invocation<'static> {
        Invocation::with(Sb::Owned(Arc::new(Sandbox::new())))
    }
}

impl Sandbox {
    /// A new invocation in this sandbox (`runbook run NAME …` once a runbook is set).
    pub fn invoke(&self) -> Invocation<'_> {
        Invocation::with(Sb::Borrowed(self))
    }

    /// `runbook run NAME …` in this sandbox.
    pub fn runbook(&self, name: &str) -> Invocation<'_> {
        self.invoke().runbook(name)
    }

    /// `runbook run NAME --json ARGS…` in this sandbox (report `Value::Null` when stdout is
    /// not JSON, e.g. a usage error).
    pub fn run_json(&self, name: &str, args: &[&str]) -> Run {
        self.runbook(name).args(args).spawn_json().wait()
    }

    /// The audit log at the default path, as an [`Audit`].
    pub fn audit_log(&self) -> Audit {
        Audit::read(&self.state().join("audit.jsonl"))
    }
}

impl<'a> Invocation<'a> {
    fn with(sb: Sb<'a>) -> Self {
        Invocation {
            sb,
            command: None,
            target: None,
            script: None,
            policy: None,
            config: None,
            config_path: None,
            args: Vec::new(),
            env: Vec::new(),
            dir: None,
            stdin: None,
            timeout: Duration::from_secs(300),
        }
    }

    /// The sandbox this runs in.
    pub fn sandbox(&self) -> &Sandbox {
        match &self.sb {
            Sb::Owned(s) => s,
            Sb::Borrowed(s) => s,
        }
    }

    /// Run the runbook `name` (a built-in or shipped name, or a `.rhai` path): `runbook run NAME`.
    pub fn runbook(mut self, name: &str) -> Self {
        self.target = Some(name.to_string());
        self
    }

    /// Run `source` as a script: written to `script.rhai` in the sandbox, then `runbook run` it.
    pub fn script(self, source: &str) -> Self {
        self.script_named("script", source)
    }

    /// Like [`Invocation::script`], written to `NAME.rhai`.
    pub fn script_named(mut self, name: &str, source: &str) -> Self {
        let file = format!("{name}.rhai");
        self.script = Some((file.clone(), source.to_string()));
        self.target = Some(file);
        self
    }

    /// Any other subcommand instead of `run`: `runbook ARGS…` (e.g. `["audit", "--last", "5"]`).
    pub fn command<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, args: I) -> Self {
        self.command = Some(args.into_iter().map(|s| s.as_ref().to_string()).collect());
        self
    }

    /// The `[policy]` of the sandbox's `runbook.toml`: TOML lines (with or without the
    /// `[policy]` header), or the path of a whole `runbook.toml` (then `--config PATH`).
    pub fn policy(mut self, toml_or_path: impl AsRef<str>) -> Self {
        let s = toml_or_path.as_ref();
        if !s.contains('\n') && !s.contains('=') && Path::new(s).is_file() {
            self.config_path = Some(PathBuf::from(s));
        } else {
            let body = s.trim_start();
            let body = body.strip_prefix("[policy]").unwrap_or(body);
            self.policy = Some(body.to_string());
        }
        self
    }

    /// More of the sandbox's `runbook.toml` (services, hosts, audit …), after the policy.
    pub fn config(mut self, toml: impl AsRef<str>) -> Self {
        self.config = Some(toml.as_ref().to_string());
        self
    }

    /// `--config PATH`.
    pub fn config_file(mut self, path: impl AsRef<Path>) -> Self {
        self.config_path = Some(path.as_ref().to_path_buf());
        self
    }

    /// Arguments after the runbook (`--dry-run`, `-p k=v`, …).
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, args: I) -> Self {
        self.args
            .extend(args.into_iter().map(|s| s.as_ref().to_string()));
        self
    }

    /// One argument.
    pub fn arg(self, a: impl AsRef<str>) -> Self {
        self.args([a])
    }

    /// `-p KEY=VALUE`.
    pub fn param(self, key: &str, value: impl std::fmt::Display) -> Self {
        self.args(["-p".to_string(), format!("{key}={value}")])
    }

    /// `--dry-run`.
    pub fn dry_run(self) -> Self {
        self.arg("--dry-run")
    }

    /// Set an environment variable of the process.
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.env.push((
            key.to_string(),
            Some(value.as_ref().to_string_lossy().into_owned()),
        ));
        self
    }

    /// Remove an environment variable (also one the sandbox sets).
    pub fn env_remove(mut self, key: &str) -> Self {
        self.env.push((key.to_string(), None));
        self
    }

    /// The working directory (default: the sandbox folder).
    pub fn dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Bytes for standard input (default: none, stdin is /dev/null).
    pub fn stdin(mut self, input: impl AsRef<[u8]>) -> Self {
        self.stdin = Some(input.as_ref().to_vec());
        self
    }

    /// Kill the process and fail the test when it runs longer (default 300 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    fn argv(&self, json: bool) -> Vec<String> {
        let mut argv = Vec::new();
        if let Some(p) = &self.config_path {
            argv.push("--config".to_string());
            argv.push(p.display().to_string());
        }
        match (&self.command, &self.target) {
            (Some(c), _) => argv.extend(c.iter().cloned()),
            (None, Some(t)) => argv.extend(["run".to_string(), t.clone()]),
            (None, None) => panic!("Invocation: neither .runbook(), .script() nor .command()"),
        }
        if json {
            argv.push("--json".to_string());
        }
        argv.extend(self.args.iter().cloned());
        argv
    }

    fn prepare(&self, json: bool) -> Command {
        let sb = self.sandbox();
        if let Some((file, source)) = &self.script {
            sb.file(file, source);
        }
        if self.policy.is_some() || self.config.is_some() {
            let mut toml = String::new();
            if let Some(p) = &self.policy {
                toml.push_str("[policy]\n");
                toml.push_str(p);
                toml.push('\n');
            }
            if let Some(c) = &self.config {
                toml.push_str(c);
                toml.push('\n');
            }
            sb.config(&toml);
        }
        let mut cmd = sb.cmd();
        cmd.args(self.argv(json));
        if let Some(d) = &self.dir {
            cmd.current_dir(d);
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        cmd
    }

    /// Start it without waiting (for tests that signal it or watch it while it runs).
    pub fn spawn(self) -> Running {
        self.spawn_as(false)
    }

    /// Start it with `--json` without waiting.
    pub fn spawn_json(self) -> Running {
        self.spawn_as(true)
    }

    fn spawn_as(self, json: bool) -> Running {
        let mut child = self.prepare(json).spawn().expect("spawn runbook");
        if let Some(input) = &self.stdin {
            let mut w = child.stdin.take().unwrap();
            let input = input.clone();
            std::thread::spawn(move || {
                let _ = w.write_all(&input);
            });
        }
        let out = child.stdout.take().map(reader);
        let err = child.stderr.take().map(reader);
        let audit = self.sandbox().state().join("audit.jsonl");
        let keep = match self.sb {
            Sb::Owned(s) => Some(s),
            Sb::Borrowed(_) => None,
        };
        Running {
            child,
            out,
            err,
            timeout: self.timeout,
            keep,
            audit,
        }
    }

    /// Run it and wait; the report is parsed when stdout is JSON (else `Value::Null`).
    pub fn output(self) -> Run {
        self.spawn().wait()
    }

    /// Run it with `--json` and wait; panics when stdout is not a JSON document.
    pub fn json(self) -> Run {
        let r = self.spawn_json().wait();
        assert!(
            !r.report.is_null(),
            "stdout is not JSON (exit {})\nstdout:\n{}\nstderr:\n{}",
            r.code,
            r.stdout,
            r.stderr
        );
        r
    }
}

fn reader<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// A started invocation.
pub struct Running {
    pub child: Child,
    out: Option<std::thread::JoinHandle<Vec<u8>>>,
    err: Option<std::thread::JoinHandle<Vec<u8>>>,
    timeout: Duration,
    keep: Option<Arc<Sandbox>>,
    audit: PathBuf,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send SIGINT (what Ctrl-C sends); chain `.wait()` for the result.
    pub fn sigint(self) -> Self {
        signal(self.pid(), libc::SIGINT);
        self
    }

    /// Wait until the audit log has a record of `action` with `outcome` (e.g. the write-ahead
    /// `started` record of the effect the test wants to interrupt).
    pub fn wait_audit(&self, action: &str, outcome: &str, within: Duration) -> &Self {
        wait_until(
            within,
            &format!("an audit record {action} {outcome}"),
            || {
                Audit::read_raw(&self.audit)
                    .iter()
                    .any(|r| r["action"] == action && r["outcome"] == outcome)
            },
        );
        self
    }

    /// Wait until the process has `path` open (e.g. a lock file it is waiting on).
    pub fn wait_open(&self, path: &Path, within: Duration) -> &Self {
        let pid = self.pid();
        wait_until(
            within,
            &format!("pid {pid} to open {}", path.display()),
            || open_files(pid).iter().any(|p| p == path),
        );
        self
    }

    /// Wait until the script runs: the process has its `runbook-script` thread.
    pub fn wait_script_thread(&self, within: Duration) -> &Self {
        let pid = self.pid();
        wait_until(within, "the runbook-script thread", || {
            std::fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|d| {
                d.flatten().any(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.starts_with("runbook-script"))
                })
            })
        });
        self
    }

    /// Wait until a descendant process named `comm` runs (e.g. the command of a `cmd::run`).
    pub fn wait_descendant(&self, comm: &str, within: Duration) -> u32 {
        wait_for_descendant(self.pid(), comm, within)
    }

    /// Wait for the exit and read the process's own peak resident memory (wait4's rusage,
    /// `ru_maxrss`) in MiB; kills it and fails after the invocation's timeout.
    pub fn wait_peak_rss(mut self) -> (Run, i64) {
        let pid = self.pid() as libc::pid_t;
        let mut status = 0;
        // SAFETY: rusage is plain old data; all-zero is a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let exited = poll_until(self.timeout, || {
            // SAFETY: wait4 on our own child, not reaped elsewhere, with valid out-pointers.
            unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) == pid }
        });
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let stdout = self
            .out
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        let stderr = self
            .err
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&stdout).to_string(),
            String::from_utf8_lossy(&stderr).to_string(),
        );
        assert!(
            exited,
            "runbook ran longer than {:?}; killed\nstdout:\n{stdout}\nstderr:\n{stderr}",
            self.timeout
        );
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        };
        let mut r = Run::from_parts(code, stdout, stderr);
        r.audit_path = Some(self.audit.clone());
        r.sandbox = self.keep.take();
        (r, usage.ru_maxrss / 1024)
    }

    /// Wait for the exit (killing it and failing after the invocation's timeout).
    pub fn wait(mut self) -> Run {
        let status = wait_exit(&mut self.child, self.timeout);
        let stdout = self
            .out
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        let stderr = self
            .err
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        let stdout = String::from_utf8_lossy(&stdout).to_string();
        let stderr = String::from_utf8_lossy(&stderr).to_string();
        let Some(status) = status else {
            panic!(
                "runbook ran longer than {:?}; killed\nstdout:\n{stdout}\nstderr:\n{stderr}",
                self.timeout
            );
        };
        let mut r = Run::from_parts(status.code().unwrap_or(-1), stdout, stderr);
        r.audit_path = Some(self.audit.clone());
        r.sandbox = self.keep.take();
        r
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Assertions on the result

impl Run {
    /// Assert the exit code (same as [`Run::expect_code`]).
    pub fn exit(&self, code: i32) -> &Self {
        self.expect_code(code)
    }

    /// Assert the report's `status` (ok, failed, inconclusive, limit, interrupted …).
    pub fn status(&self, status: &str) -> &Self {
        assert_eq!(
            self.report["status"], status,
            "report status\n{:#}\nstderr:\n{}",
            self.report, self.stderr
        );
        self
    }

    /// Assert stderr contains `s`.
    pub fn stderr_contains(&self, s: &str) -> &Self {
        assert!(
            self.stderr.contains(s),
            "stderr lacks {s:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Assert stdout contains `s`.
    pub fn stdout_contains(&self, s: &str) -> &Self {
        assert!(
            self.stdout.contains(s),
            "stdout lacks {s:?}:\n{}",
            self.stdout
        );
        self
    }

    /// Assert some printed line of the report contains `s`.
    pub fn output_contains(&self, s: &str) -> &Self {
        let out = self.output();
        assert!(
            out.iter().any(|l| l.contains(s)),
            "no output line has {s:?}: {out:#?}"
        );
        self
    }

    /// Assert the report's `error` contains `s`.
    pub fn error_contains(&self, s: &str) -> &Self {
        let e = self.report["error"].as_str().unwrap_or_default();
        assert!(e.contains(s), "error lacks {s:?}: {:#}", self.report);
        self
    }

    /// The names of the report's checks, in order.
    pub fn check_names(&self) -> Vec<String> {
        self.report["checks"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|c| c["name"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The only effect with action `action` (panics when there is none or more than one).
    pub fn effect(&self, action: &str) -> &Value {
        let es = self.effects(action);
        assert!(
            es.len() == 1,
            "{} effects {action:?} (want 1) in {:#}",
            es.len(),
            self.report
        );
        es[0]
    }

    /// The audit log this run wrote to (the sandbox's default path).
    pub fn audit(&self) -> Audit {
        Audit::read(
            self.audit_path
                .as_deref()
                .expect("Run::audit: run through the kit (Run::new / Sandbox::runbook)"),
        )
    }
}

fn show(v: &Value) -> String {
    format!("{v:#}")
}

/// Typed assertions on a check of a report (`r.check("name").is_unknown()`).
pub trait CheckExt {
    /// Assert `status` is ok (and `ok` is true).
    fn is_ok(&self) -> &Self;
    /// Assert `status` is failed.
    fn is_failed(&self) -> &Self;
    /// Assert `status` is unknown (and `ok` is not true).
    fn is_unknown(&self) -> &Self;
    /// Assert the `detail` contains `s`.
    fn detail_contains(&self, s: &str) -> &Self;
}

impl CheckExt for Value {
    fn is_ok(&self) -> &Self {
        assert!(
            self["status"] == "ok" && self["ok"] == true,
            "want ok: {}",
            show(self)
        );
        self
    }
    fn is_failed(&self) -> &Self {
        assert!(
            self["status"] == "failed" && self["ok"] == false,
            "want failed: {}",
            show(self)
        );
        self
    }
    fn is_unknown(&self) -> &Self {
        assert!(
            self["status"] == "unknown" && self["ok"] != true,
            "want unknown: {}",
            show(self)
        );
        self
    }
    fn detail_contains(&self, s: &str) -> &Self {
        let d = self["detail"].as_str().unwrap_or_default();
        assert!(d.contains(s), "detail lacks {s:?}: {}", show(self));
        self
    }
}

/// Typed assertions on an effect of a report or a record of the audit log.
pub trait EffectExt {
    /// Assert the `outcome` (planned, done, failed, denied, would_fail, interrupted …).
    fn outcome(&self, outcome: &str) -> &Self;
    /// Assert the `target` contains `s`.
    fn target_contains(&self, s: &str) -> &Self;
}

impl EffectExt for Value {
    fn outcome(&self, outcome: &str) -> &Self {
        assert_eq!(self["outcome"], outcome, "outcome of {}", show(self));
        self
    }
    fn target_contains(&self, s: &str) -> &Self {
        let t = self["target"].as_str().unwrap_or_default();
        assert!(t.contains(s), "target lacks {s:?}: {}", show(self));
        self
    }
}

// ---------------------------------------------------------------------------------------------
// The audit log

/// The records of an audit log, each write-ahead `started` record that has its outcome record
/// folded away (see [`Audit::read_raw`] for every line).
#[derive(Debug, Clone)]
pub struct Audit(pub Vec<Value>);

impl Audit {
    /// Read (and fold) the audit log at `path`; empty when there is none.
    pub fn read(path: &Path) -> Audit {
        let raw = Self::read_raw(path);
        let key = |r: &Value| (r["run_id"].as_str().map(String::from), r["seq"].as_u64());
        let folded = raw
            .iter()
            .enumerate()
            .filter(|(i, r)| {
                r["outcome"] != "started"
                    || !raw[i + 1..]
                        .iter()
                        .any(|o| o["outcome"] != "started" && key(o) == key(r))
            })
            .map(|(_, r)| r.clone())
            .collect();
        Audit(folded)
    }

    /// Every line of the audit log at `path`, parsed (`started` records included).
    pub fn read_raw(path: &Path) -> Vec<Value> {
        match std::fs::read_to_string(path) {
            Ok(t) => t
                .lines()
                .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Records of `action`.
    pub fn of(&self, action: &str) -> Vec<&Value> {
        self.0.iter().filter(|r| r["action"] == action).collect()
    }

    /// The only record of `action` (panics when there is none or more than one).
    pub fn only(&self, action: &str) -> &Value {
        let rs = self.of(action);
        assert!(
            rs.len() == 1,
            "{} audit records {action:?} (want 1): {:#?}",
            rs.len(),
            self.0
        );
        rs[0]
    }

    /// The outcomes of the records of `action`, oldest first.
    pub fn outcomes(&self, action: &str) -> Vec<String> {
        self.of(action)
            .iter()
            .map(|r| r["outcome"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::ops::Deref for Audit {
    type Target = [Value];
    fn deref(&self) -> &[Value] {
        &self.0
    }
}
