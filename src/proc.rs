//! The process runner behind every service manager and `cmd::run`.
//!
//! Each program runs in its own process group (`setpgid(0, 0)` via
//! [`std::os::unix::process::CommandExt::process_group`]), with stdin from `/dev/null` and
//! stdout/stderr read concurrently into buffers capped at [`Spec::max_output`] bytes each (the rest
//! is read and dropped, so a chatty child never blocks on a full pipe). When the timeout passes,
//! when the run is cancelled (Ctrl-C) or hits its deadline, the *whole group* gets `SIGTERM`, then
//! `SIGKILL` after a short grace, and the child is reaped: nothing the program started in its group
//! outlives the call. Whatever the program left running in its group after it exited is ended the
//! same way (a program that wants a daemon to survive detaches it with `setsid`, as pm2 does).

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// Default timeout of one program run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default cap on each of stdout and stderr.
pub const DEFAULT_MAX_OUTPUT: usize = 1024 * 1024;
/// Time between `SIGTERM` and `SIGKILL` when a group is ended.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long the output readers may still run once the group is gone (a process outside the
/// group, e.g. a daemon that detached with `setsid`, may hold the pipe open).
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Program name (looked up on `PATH`) or path.
    pub program: OsString,
    /// Arguments (no shell is involved).
    pub args: Vec<OsString>,
    /// Working directory (default: the current one).
    pub cwd: Option<PathBuf>,
    /// Variables added to (or replacing in) the inherited environment.
    pub env: Vec<(OsString, OsString)>,
    /// Wall-clock limit of this program.
    pub timeout: Duration,
    /// Cap on each of stdout and stderr, in bytes.
    pub max_output: usize,
}

impl Spec {
    /// `program args…` with the default timeout and output cap.
    pub fn new<P, I, A>(program: P, args: I) -> Self
    where
        P: Into<OsString>,
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        Spec {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            cwd: None,
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            max_output: DEFAULT_MAX_OUTPUT,
        }
    }

    /// Set the working directory.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Add an environment variable.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Set the timeout.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Set the output cap (each stream).
    pub fn max_output(mut self, bytes: usize) -> Self {
        self.max_output = bytes;
        self
    }

    /// `program arg arg…` for messages and audit records (arguments quoted when they hold spaces).
    pub fn display(&self) -> String {
        let mut s = self.program.to_string_lossy().into_owned();
        for a in &self.args {
            let a = a.to_string_lossy();
            s.push(' ');
            if a.is_empty() || a.contains(char::is_whitespace) || a.contains('"') {
                s.push_str(&format!("{a:?}"));
            } else {
                s.push_str(&a);
            }
        }
        s
    }
}

/// The result of one run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Output {
    /// Exit code; `128 + N` when the program was ended by signal N (as shells report it).
    pub code: i32,
    /// The signal that ended the program, if any.
    pub signal: Option<i32>,
    /// Standard output (lossy UTF-8), at most `max_output` bytes.
    pub stdout: String,
    /// Standard error (lossy UTF-8), at most `max_output` bytes.
    pub stderr: String,
    /// Whether stdout was cut at the cap.
    pub stdout_truncated: bool,
    /// Whether stderr was cut at the cap.
    pub stderr_truncated: bool,
    /// Wall-clock time from start to reaping, in ms.
    pub duration_ms: u64,
    /// Whether the timeout ended the program.
    pub timed_out: bool,
}

impl Output {
    /// Exit code 0 and not timed out.
    pub fn success(&self) -> bool {
        self.code == 0 && !self.timed_out
    }

    /// A short description of a failure for error messages: exit code or timeout, then the
    /// first part of stderr (or stdout when stderr is empty), passed through
    /// [`crate::redact::redact`] and then cut to at most `max` bytes.
    pub fn failure_summary(&self, max: usize) -> String {
        let status = if self.timed_out {
            "timed out".to_string()
        } else if let Some(sig) = self.signal {
            format!("killed by signal {sig}")
        } else {
            format!("exit code {}", self.code)
        };
        let text = if self.stderr.trim().is_empty() {
            self.stdout.trim()
        } else {
            self.stderr.trim()
        };
        if text.is_empty() {
            status
        } else {
            format!("{status}: {}", crate::redact::quote(text, max))
        }
    }
}

pub use crate::redact::clip;

/// Captured bytes of one stream.
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

/// Read `r` to its end, keeping the first `cap` bytes.
fn capture(mut r: impl Read, cap: usize) -> Captured {
    let mut bytes = Vec::new();
    let mut truncated = false;
    let mut buf = [0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = cap.saturating_sub(bytes.len());
                if n > room {
                    truncated = true;
                }
                bytes.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    Captured { bytes, truncated }
}

/// Why the runner stopped waiting for the program.
enum Stop {
    Timeout,
    Cancelled(Error),
}

/// Run `spec` to completion (or timeout), honouring `cancel`.
///
/// Errors: the program cannot be started (not found, not executable, bad `cwd`) — the message
/// names the program; `Interrupted` after Ctrl-C and `Limit` past the run's deadline, in both
/// cases after the whole process group was ended. A timeout is *not* an error: the output says
/// `timed_out: true`.
pub fn run(spec: &Spec, cancel: &Cancel) -> Result<Output> {
    cancel.check()?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        let place = spec
            .cwd
            .as_ref()
            .map(|d| format!(" in {}", d.display()))
            .unwrap_or_default();
        Error::failed(format!(
            "cannot start {:?}{place}: {e}",
            spec.program.to_string_lossy()
        ))
    })?;
    let pgid = child.id() as libc::pid_t;

    let (tx, rx) = mpsc::channel::<(bool, Captured)>();
    let mut readers = 0;
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        let cap = spec.max_output;
        readers += 1;
        thread::spawn(move || {
            let _ = tx.send((true, capture(out, cap)));
        });
    }
    if let Some(err) = child.stderr.take() {
        let tx = tx.clone();
        let cap = spec.max_output;
        readers += 1;
        thread::spawn(move || {
            let _ = tx.send((false, capture(err, cap)));
        });
    }
    drop(tx);

    let deadline = start + spec.timeout;
    let mut stop = None;
    let mut pause = Duration::from_millis(1);
    loop {
        if exited_unreaped(pgid) {
            break;
        }
        if let Err(e) = cancel.check() {
            stop = Some(Stop::Cancelled(e));
            break;
        }
        if Instant::now() >= deadline {
            stop = Some(Stop::Timeout);
            break;
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    // The leader is either still running or an unreaped zombie, so its pid (= the group id)
    // cannot have been reused: signalling the group is safe here.
    end_group(pgid, &mut child, stop.is_some());
    let status = reap(&mut child, &spec.program)?;

    let mut stdout = Captured {
        bytes: Vec::new(),
        truncated: false,
    };
    let mut stderr = Captured {
        bytes: Vec::new(),
        truncated: false,
    };
    let drain_until = Instant::now() + DRAIN_GRACE;
    for _ in 0..readers {
        let left = drain_until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((true, c)) => stdout = c,
            Ok((false, c)) => stderr = c,
            // A process outside the group still holds the pipe: keep what we have not, and move on.
            Err(_) => break,
        }
    }
    let duration_ms = start.elapsed().as_millis() as u64;
    match stop {
        Some(Stop::Cancelled(e)) => Err(e),
        _ => Ok(Output {
            code: status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            signal: status.signal(),
            stdout: String::from_utf8_lossy(&stdout.bytes).into_owned(),
            stderr: String::from_utf8_lossy(&stderr.bytes).into_owned(),
            stdout_truncated: stdout.truncated,
            stderr_truncated: stderr.truncated,
            duration_ms,
            timed_out: matches!(stop, Some(Stop::Timeout)),
        }),
    }
}

/// Whether the child `pid` has exited, without reaping it (`waitid` with `WNOWAIT`).
fn exited_unreaped(pid: libc::pid_t) -> bool {
    // SAFETY: `info` is a plain C struct that waitid fills in; zeroed is a valid initial value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    if rc != 0 {
        // ECHILD: already reaped (cannot happen here) — treat as exited so the loop ends.
        return true;
    }
    // With WNOHANG and no state change, si_pid is left 0.
    unsafe { info.si_pid() != 0 }
}

/// Whether any process other than zombies is still in group `pgid`.
pub fn group_alive(pgid: libc::pid_t) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        // No /proc: fall back to kill(0), which also counts zombies.
        return unsafe { libc::kill(-pgid, 0) } == 0;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command (which is in parentheses and may contain spaces):
        // state ppid pgrp …
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().unwrap_or("");
        let _ppid = f.next();
        let pgrp = f.next().and_then(|s| s.parse::<i32>().ok());
        if pgrp == Some(pgid) && state != "Z" && state != "X" {
            return true;
        }
    }
    false
}

/// End every process of group `pgid`: SIGTERM, wait up to the grace, then SIGKILL.
/// With `force` false (the leader exited by itself), only what it left behind is ended.
fn end_group(pgid: libc::pid_t, child: &mut Child, force: bool) {
    if !force && !group_alive(pgid) {
        return;
    }
    // SAFETY: plain syscalls on a process group we created and whose leader is not yet reaped.
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    let until = Instant::now() + KILL_GRACE;
    while Instant::now() < until {
        if !group_alive(pgid) {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.kill();
    // SIGKILL cannot be ignored; wait (bounded) until the kernel has ended them all.
    let until = Instant::now() + KILL_GRACE;
    while Instant::now() < until && group_alive(pgid) {
        thread::sleep(Duration::from_millis(10));
    }
}

fn reap(child: &mut Child, program: &OsString) -> Result<ExitStatus> {
    child
        .wait()
        .map_err(|e| Error::failed(format!("waiting for {:?}: {e}", program.to_string_lossy())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Spec {
        Spec::new("sh", ["-c", script])
    }

    #[test]
    fn captures_code_and_both_streams() {
        let out = run(&sh("echo out; echo err >&2; exit 7"), &Cancel::never()).unwrap();
        assert_eq!(out.code, 7);
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        assert!(!out.timed_out && !out.stdout_truncated);
        assert!(!out.success());
    }

    #[test]
    fn stdin_is_dev_null_and_env_cwd_apply() {
        let dir = tempfile::tempdir().unwrap();
        let spec = sh("cat; echo \"$RB_TEST_VAR\"; pwd")
            .env("RB_TEST_VAR", "hello")
            .cwd(dir.path());
        let out = run(&spec, &Cancel::never()).unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(out.stdout, format!("hello\n{}\n", real.display()));
        assert_eq!(out.code, 0);
    }

    #[test]
    fn runs_in_its_own_process_group() {
        let out = run(
            &Spec::new("sh", ["-c", "ps -o pgid= -p $$; echo $$"]),
            &Cancel::never(),
        )
        .unwrap();
        let nums: Vec<i32> = out
            .stdout
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(
            nums[0], nums[1],
            "child is the leader of its own group: {out:?}"
        );
        let ours = unsafe { libc::getpgrp() };
        assert_ne!(nums[0], ours);
    }

    #[test]
    fn output_is_capped_without_blocking_the_child() {
        // 4 MiB on stdout would block forever on a full pipe if nobody drained it.
        let spec = sh("head -c 4194304 /dev/zero; echo done >&2").max_output(1000);
        let out = run(&spec, &Cancel::never()).unwrap();
        assert_eq!(out.stdout.len(), 1000);
        assert!(out.stdout_truncated);
        assert_eq!(out.stderr, "done\n");
        assert!(!out.stderr_truncated);
        assert_eq!(out.code, 0);
    }

    /// The pid printed on the first line of a spec's stdout is inspected after the run.
    fn assert_group_gone(pgid: i32) {
        assert!(
            !group_alive(pgid),
            "process group {pgid} still has live members"
        );
    }

    #[test]
    fn timeout_kills_the_whole_group_including_grandchildren() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pids");
        // The grandchild ignores SIGTERM so only the SIGKILL after the grace ends it.
        let script = format!(
            "(trap '' TERM; exec sleep 600) & echo $! > {p}; echo $$ >> {p}; wait",
            p = pidfile.display()
        );
        let start = Instant::now();
        let out = run(
            &sh(&script).timeout(Duration::from_millis(300)),
            &Cancel::never(),
        )
        .unwrap();
        assert!(out.timed_out, "{out:?}");
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "took {:?}",
            start.elapsed()
        );
        let pids = std::fs::read_to_string(&pidfile).unwrap();
        let pids: Vec<i32> = pids
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        let (grandchild, leader) = (pids[0], pids[1]);
        assert_group_gone(leader);
        let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z"),
            "grandchild sleep 600 survived: {stat}"
        );
    }

    #[test]
    fn leftovers_of_an_exited_program_are_ended() {
        // The shell exits at once; its background sleep still holds stdout.
        let start = Instant::now();
        let out = run(&sh("sleep 600 & echo $!"), &Cancel::never()).unwrap();
        assert_eq!(out.code, 0);
        assert!(!out.timed_out);
        let pid: i32 = out.stdout.trim().parse().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "took {:?}",
            start.elapsed()
        );
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z"),
            "background sleep survived: {stat}"
        );
    }

    #[test]
    fn cancellation_kills_the_group_and_reports_interrupted() {
        let cancel = Cancel::never();
        let c2 = cancel.clone();
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(200));
            c2.cancel();
        });
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let script = format!("echo $$ > {}; sleep 600 & wait", pidfile.display());
        let start = Instant::now();
        let err = run(&sh(&script), &cancel).unwrap_err();
        t.join().unwrap();
        assert!(matches!(err, Error::Interrupted), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
        let leader: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_group_gone(leader);
    }

    #[test]
    fn run_deadline_is_a_limit() {
        let cancel = Cancel::never().with_timeout(Duration::from_millis(200));
        let err = run(&sh("sleep 600"), &cancel).unwrap_err();
        assert_eq!(err.kind(), "limit", "{err}");
    }

    #[test]
    fn missing_program_names_it() {
        let err = run(
            &Spec::new("/nonexistent/runbook-prog", Vec::<String>::new()),
            &Cancel::never(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/runbook-prog"),
            "{err}"
        );
    }

    #[test]
    fn killed_by_signal_reports_128_plus_n() {
        let out = run(&sh("kill -9 $$"), &Cancel::never()).unwrap();
        assert_eq!(out.signal, Some(9));
        assert_eq!(out.code, 137);
        assert!(out.failure_summary(100).contains("signal 9"));
    }

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("慢请求", 4), "慢…");
        assert_eq!(clip("abc", 10), "abc");
    }
}
