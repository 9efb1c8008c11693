//! Transport: the system OpenSSH client, so `~/.ssh/config`, agents, `ProxyJump` and
//! `known_hosts` behave as the user expects.
//!
//! Every invocation gets `BatchMode=yes` (never a password prompt) and `-T`; host-key checking
//! is left as configured (OpenSSH's default refuses an unknown or changed key under
//! `BatchMode`). One master connection per host is started by us (`-M -N`, its control socket
//! in a private `0700` temp folder, `ControlPersist=no`) and every session of that host — the
//! version probe, the push, the run — is multiplexed over it (`-S SOCKET -o ControlMaster=no`).
//! The master is a child process we own: it is stopped when the host is done, on timeout and
//! on Ctrl-C, so nothing lingers.
//!
//! The remote commands are fixed words chosen here (`runbook --version`, `runbook remote-run`,
//! the push script); parameters and the runbook travel on stdin as data.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often waits poll their child, the deadline and the Ctrl-C flag.
pub const POLL: Duration = Duration::from_millis(10);
/// Largest stdout kept from one remote command (64 MiB); the rest is dropped.
pub const MAX_STDOUT: u64 = 64 << 20;
/// Largest stderr kept from one remote command (the last line is what reports show).
pub const MAX_STDERR: u64 = 64 << 10;

/// Why a wait ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The per-host deadline passed.
    Timeout,
    /// Ctrl-C.
    Interrupted,
}

/// Options shared by every ssh call of one fan-out.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// `ssh -F FILE` (else the user's `~/.ssh/config`).
    pub config: Option<PathBuf>,
    /// `ConnectTimeout` in seconds.
    pub connect_timeout_s: u64,
}

/// Whether `dest` may be handed to ssh as a destination: non-empty, no leading `-` (it would
/// be read as an option), no whitespace or control characters.
pub fn valid_destination(dest: &str) -> bool {
    !dest.is_empty()
        && !dest.starts_with('-')
        && dest.len() <= 255
        && !dest.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn base(opts: &SshOptions) -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new("ssh");
    // Its own process group: a Ctrl-C at the terminal reaches only the controller, which then
    // cancels each host in order (a cancel line, the host's report, then the connection) —
    // instead of every ssh dying at once and the hosts' reports being lost.
    c.process_group(0);
    // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death signal, so an
    // ssh never outlives a controller that was killed outright (every ssh is reaped by the
    // thread that started it, so the thread-scoped semantics of PDEATHSIG are what we want).
    unsafe {
        c.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
            Ok(())
        });
    }
    if let Some(f) = &opts.config {
        c.arg("-F").arg(f);
    }
    c.args(["-T", "-o", "BatchMode=yes"])
        .arg("-o")
        .arg(format!("ConnectTimeout={}", opts.connect_timeout_s.max(1)))
        .args(["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]);
    c
}

/// The output of one remote command.
#[derive(Debug, Default)]
pub struct Output {
    /// ssh's exit status: the remote command's, or 255 for a transport error; `None` when
    /// killed by us.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Output {
    /// The last non-empty stderr line (ssh's reason for a failure).
    pub fn reason(&self) -> String {
        self.stderr
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_string()
    }
}

fn reader<R: Read + Send + 'static>(r: R, max: u64) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut r = r;
        let _ = (&mut r).take(max).read_to_end(&mut buf);
        // Drain the rest so the writer never blocks on a full pipe.
        let _ = std::io::copy(&mut r, &mut std::io::sink());
        buf
    })
}

/// Kill `child` and reap it.
/// Poll `child` every [`POLL`] until `ready` gives a value. On Ctrl-C or at `deadline` the
/// child is killed first and the wait ends with [`Stop::Interrupted`] or [`Stop::Timeout`].
fn poll_child<T>(
    child: &mut Child,
    deadline: Instant,
    cancel: &AtomicBool,
    mut ready: impl FnMut(&mut Child) -> Option<T>,
) -> Result<T, Stop> {
    loop {
        if let Some(v) = ready(child) {
            return Ok(v);
        }
        if cancel.load(Ordering::SeqCst) {
            kill(child);
            return Err(Stop::Interrupted);
        }
        if Instant::now() >= deadline {
            kill(child);
            return Err(Stop::Timeout);
        }
        std::thread::sleep(POLL);
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A live master connection to one host.
pub struct Master {
    child: Child,
    socket: PathBuf,
    dest: String,
    opts: SshOptions,
}

impl Drop for Master {
    fn drop(&mut self) {
        kill(&mut self.child);
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Master {
    /// Start the master for `dest` with its control socket at `socket`, and wait until it is
    /// usable (the socket appears once authentication succeeded). Errors: the reason ssh gave
    /// (`Ok(Err)` — the host is unreachable), or the deadline / Ctrl-C.
    pub fn connect(
        dest: &str,
        socket: &Path,
        opts: &SshOptions,
        deadline: Instant,
        cancel: &AtomicBool,
    ) -> Result<std::result::Result<Master, String>, Stop> {
        let mut c = base(opts);
        c.arg("-M")
            .arg("-N")
            .arg("-S")
            .arg(socket)
            .args(["-o", "ControlPersist=no"])
            .arg("--")
            .arg(dest)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = match c.spawn() {
            Ok(ch) => ch,
            Err(e) => return Ok(Err(format!("cannot start ssh: {e}"))),
        };
        let err = reader(child.stderr.take().expect("piped"), MAX_STDERR);
        // `None`: the socket is there; `Some(status)`: ssh gave up first.
        let exited = poll_child(&mut child, deadline, cancel, |ch| {
            if socket.exists() {
                return Some(None);
            }
            ch.try_wait().ok().flatten().map(Some)
        })?;
        let Some(status) = exited else {
            // Leave the stderr reader running; it ends with the master.
            return Ok(Ok(Master {
                child,
                socket: socket.to_path_buf(),
                dest: dest.to_string(),
                opts: opts.clone(),
            }));
        };
        let text = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
        let out = Output {
            code: status.code(),
            stdout: vec![],
            stderr: text,
        };
        let reason = out.reason();
        Ok(Err(if reason.is_empty() {
            format!("ssh exited with {status}")
        } else {
            reason
        }))
    }

    /// A command for `remote` (fixed words) on this host, multiplexed over the master.
    fn session(&self, remote: &[&str]) -> Command {
        let mut c = base(&self.opts);
        c.arg("-S")
            .arg(&self.socket)
            .args(["-o", "ControlMaster=no"])
            .arg("--")
            .arg(&self.dest)
            .args(remote);
        c
    }

    /// Run `remote`, feed it `input` (then close stdin), collect its output. The wait ends
    /// at `deadline` or on Ctrl-C (the session is killed).
    pub fn exec(
        &self,
        remote: &[&str],
        input: Option<Box<dyn Read + Send>>,
        deadline: Instant,
        cancel: &AtomicBool,
    ) -> Result<Output, Stop> {
        let mut c = self.session(remote);
        c.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = match c.spawn() {
            Ok(ch) => ch,
            Err(e) => {
                return Ok(Output {
                    code: None,
                    stdout: vec![],
                    stderr: format!("cannot start ssh: {e}"),
                });
            }
        };
        if let (Some(mut data), Some(mut stdin)) = (input, child.stdin.take()) {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut data, &mut stdin);
            });
        }
        let out = reader(child.stdout.take().expect("piped"), MAX_STDOUT);
        let err = reader(child.stderr.take().expect("piped"), MAX_STDERR);
        let status = poll_child(&mut child, deadline, cancel, |ch| {
            ch.try_wait().ok().flatten()
        })?;
        Ok(Output {
            code: status.code(),
            stdout: out.join().unwrap_or_default(),
            stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
        })
    }

    /// Start `remote` with a piped stdin that stays open (for `remote-run`'s cancel line).
    pub fn spawn(&self, remote: &[&str]) -> std::io::Result<Running> {
        let mut child = self
            .session(remote)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let out = reader(child.stdout.take().expect("piped"), MAX_STDOUT);
        let err = reader(child.stderr.take().expect("piped"), MAX_STDERR);
        Ok(Running {
            stdin: child.stdin.take(),
            child,
            out: Some(out),
            err: Some(err),
        })
    }
}

/// A remote command in flight.
pub struct Running {
    pub child: Child,
    pub stdin: Option<std::process::ChildStdin>,
    out: Option<std::thread::JoinHandle<Vec<u8>>>,
    err: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Running {
    /// Wait until it exits or `deadline`; `None` when the deadline passed first.
    pub fn wait_until(&mut self, deadline: Instant, cancel: Option<&AtomicBool>) -> Option<Output> {
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(Output {
                    code: status.code(),
                    stdout: self
                        .out
                        .take()
                        .and_then(|h| h.join().ok())
                        .unwrap_or_default(),
                    stderr: String::from_utf8_lossy(
                        &self
                            .err
                            .take()
                            .and_then(|h| h.join().ok())
                            .unwrap_or_default(),
                    )
                    .into_owned(),
                });
            }
            if Instant::now() >= deadline || cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Kill the local ssh (the host's run then sees end of input and stops).
    pub fn kill(&mut self) {
        kill(&mut self.child);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            kill(&mut self.child);
        }
    }
}

/// A flag that is never set, for waits that ignore Ctrl-C (the grace period after a cancel).
pub fn never() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}
