//! What keeps acting on a service safe across runs: the per-service lock and the restart rate
//! limit, both kept in the tool's state directory (`Config::state_dir`).
//!
//! Both are keyed by [`crate::service::guard_key`] (`NAME@KIND-HASH` of the manager's identity),
//! not the inventory name alone: a same-named service under another pm2 home is another service.
//!
//! * `STATE_DIR/locks/KEY.lock` — an exclusive `flock` (fs4) held while a run acts on the
//!   service. The holder writes who it is (pid, run id, runbook, user, action, since) into the
//!   file, so a second run is told who holds it; it fails at once, or waits up to a given time.
//!   The kernel drops the lock when the holder exits, however it exits.
//! * `STATE_DIR/restarts/KEY.json` — the times of recent restarts. `policy.restart_limit`
//!   (`"3/10m"`) allows N restarts per window; one more is refused with the time it will be
//!   allowed again. Read and written only under the lock.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs4::{FileExt, TryLockError};
use serde::{Deserialize, Serialize};

use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// Who holds a service lock; written into the lock file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub run_id: String,
    pub runbook: String,
    pub user: String,
    pub action: String,
    /// RFC 3339 UTC.
    pub since: String,
}

impl Holder {
    /// This process, acting for run `run_id` of `runbook`.
    pub fn me(run_id: &str, runbook: &str, action: &str) -> Self {
        Holder {
            pid: std::process::id(),
            run_id: run_id.to_string(),
            runbook: runbook.to_string(),
            user: crate::audit::current_user(),
            action: action.to_string(),
            since: crate::timefmt::now_rfc3339(),
        }
    }
}

/// A file-name-safe form of a service name (`/` and other odd characters become `_`).
fn file_stem(service: &str) -> String {
    service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating state folder", dir, e))
}

/// An exclusive lock on one service; released on drop.
#[derive(Debug)]
pub struct ServiceLock {
    file: File,
    path: PathBuf,
}

impl ServiceLock {
    /// The lock file of `service` in `state_dir`.
    pub fn path_for(state_dir: &Path, service: &str) -> PathBuf {
        state_dir
            .join("locks")
            .join(format!("{}.lock", file_stem(service)))
    }

    /// Take the lock of `service`. When another run holds it: fail at once (`wait` `None`) or
    /// poll until `wait` has passed, honouring `cancel`.
    ///
    /// Errors: `Busy` naming the holder (pid, run id, runbook, user, action, since) and the lock
    /// file; I/O errors naming the file; `Interrupted`/`Limit` from `cancel` while waiting.
    pub fn acquire(
        state_dir: &Path,
        service: &str,
        me: &Holder,
        wait: Option<Duration>,
        cancel: &Cancel,
    ) -> Result<ServiceLock> {
        let path = Self::path_for(state_dir, service);
        if let Some(dir) = path.parent() {
            ensure_dir(dir)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("opening service lock", &path, e))?;
        // `None`: fail at once; `Some(None)`: a wait too long to represent, i.e. until cancelled.
        let until = wait.map(|w| Instant::now().checked_add(w));
        loop {
            match FileExt::try_lock(&file) {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let waited_out = match until {
                        None => true,
                        Some(None) => false,
                        Some(Some(u)) => Instant::now() >= u,
                    };
                    if waited_out {
                        return Err(Error::Busy(busy_message(service, &path, wait)));
                    }
                    cancel.sleep(Duration::from_millis(100))?;
                }
                Err(TryLockError::Error(e)) => return Err(Error::io("locking", &path, e)),
            }
        }
        let mut lock = ServiceLock { file, path };
        lock.write_holder(me)?;
        Ok(lock)
    }

    fn write_holder(&mut self, me: &Holder) -> Result<()> {
        let text =
            serde_json::to_string(me).map_err(|e| Error::failed(format!("lock holder: {e}")))?;
        let f = &mut self.file;
        f.set_len(0)
            .and_then(|_| f.seek(SeekFrom::Start(0)))
            .and_then(|_| f.write_all(text.as_bytes()))
            .and_then(|_| f.flush())
            .map_err(|e| Error::io("writing service lock", &self.path, e))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ServiceLock {
    fn drop(&mut self) {
        // Clear the holder first so a reader never sees a stale one; closing releases the lock.
        let _ = self.file.set_len(0);
        let _ = FileExt::unlock(&self.file);
    }
}

/// The holder recorded in a lock file, if readable.
pub fn read_holder(path: &Path) -> Option<Holder> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn busy_message(service: &str, path: &Path, wait: Option<Duration>) -> String {
    let who = match read_holder(path) {
        Some(h) => format!(
            "pid {}, run {}, runbook {:?}, user {}, action {}, since {}",
            h.pid, h.run_id, h.runbook, h.user, h.action, h.since
        ),
        None => "a run that has not written its name yet".to_string(),
    };
    let waited = match wait {
        Some(w) => format!("waited {} s", w.as_secs_f64()),
        None => "pass #{wait: SECONDS} to wait for it".to_string(),
    };
    format!(
        "service {service:?} is locked by another run ({who}; lock file {}); {waited}",
        path.display()
    )
}

/// Restart times of one service, persisted across runs.
#[derive(Debug, Default, Serialize, Deserialize)]
struct History {
    /// Milliseconds since the epoch, oldest first.
    restarts: Vec<i64>,
}

/// The restart rate limit of one service (`policy.restart_limit`).
#[derive(Debug, Clone)]
pub struct RestartLimit {
    path: PathBuf,
    service: String,
    /// The policy text, for messages (`"3/10m"`).
    rule: String,
    max: u32,
    window_s: u64,
}

impl RestartLimit {
    /// The limit `rule` (`"N/DURATION"`) for `service`, history in `state_dir/restarts/`.
    ///
    /// Errors: a rule that does not parse (`Config`).
    pub fn new(state_dir: &Path, service: &str, rule: &str) -> Result<Self> {
        let (max, window_s) = crate::policy::parse_rate(rule).map_err(|m| Error::Config {
            path: PathBuf::from("runbook.toml"),
            message: format!("policy.restart_limit: {m}"),
        })?;
        Ok(RestartLimit {
            path: state_dir
                .join("restarts")
                .join(format!("{}.json", file_stem(service))),
            service: service.to_string(),
            rule: rule.to_string(),
            max,
            window_s,
        })
    }

    fn load(&self) -> Result<History> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                Error::failed(format!(
                    "restart history {} is not valid ({e}); delete it to reset the restart count",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(History::default()),
            Err(e) => Err(Error::io("reading restart history", &self.path, e)),
        }
    }

    /// Restarts inside the window ending at `now_ms`.
    pub fn recent(&self, now_ms: i64) -> Result<Vec<i64>> {
        let from = now_ms - (self.window_s as i64).saturating_mul(1000);
        Ok(self
            .load()?
            .restarts
            .into_iter()
            .filter(|t| *t > from && *t <= now_ms)
            .collect())
    }

    /// `Ok` when one more restart is allowed at `now_ms`; otherwise `Denied` (rule
    /// `policy.restart_limit`) saying how many restarts happened and when the next is allowed.
    pub fn check(&self, now_ms: i64) -> Result<()> {
        let recent = self.recent(now_ms)?;
        if (recent.len() as u64) < u64::from(self.max) {
            return Ok(());
        }
        let next = recent
            .iter()
            .rev()
            .nth(self.max.saturating_sub(1) as usize)
            .map(|oldest_counted| oldest_counted + (self.window_s as i64) * 1000)
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(crate::timefmt::rfc3339)
            .unwrap_or_else(|| "never (the limit allows no restarts)".into());
        Err(Error::denied(
            format!(
                "restart of service {:?}: {} restarts in the last {} already (limit {}); next allowed at {next}",
                self.service,
                recent.len(),
                human_window(self.window_s),
                self.rule
            ),
            format!("policy.restart_limit = {:?}", self.rule),
        ))
    }

    /// Check, then record a restart at `now_ms` (atomically replacing the history file).
    /// Call it under the service lock, right before restarting.
    pub fn check_and_record(&self, now_ms: i64) -> Result<()> {
        self.check(now_ms)?;
        let mut recent = self.recent(now_ms)?;
        recent.push(now_ms);
        let dir = self.path.parent().unwrap_or(Path::new("."));
        ensure_dir(dir)?;
        let text = serde_json::to_vec(&History { restarts: recent })
            .map_err(|e| Error::failed(format!("restart history: {e}")))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .map_err(|e| Error::io("writing restart history", dir, e))?;
        tmp.write_all(&text)
            .map_err(|e| Error::io("writing restart history", tmp.path(), e))?;
        tmp.persist(&self.path)
            .map_err(|e| Error::io("writing restart history", &self.path, e.error))?;
        Ok(())
    }
}

fn human_window(s: u64) -> String {
    match s {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(run: &str) -> Holder {
        Holder::me(run, "service-unresponsive", "service.restart")
    }

    #[test]
    fn second_lock_fails_naming_the_holder_then_succeeds_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let first = ServiceLock::acquire(
            dir.path(),
            "lowcode-platform",
            &me("run-1"),
            None,
            &Cancel::never(),
        )
        .unwrap();
        let err = ServiceLock::acquire(
            dir.path(),
            "lowcode-platform",
            &me("run-2"),
            None,
            &Cancel::never(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), "busy");
        let msg = err.to_string();
        assert!(
            msg.contains("run-1") && msg.contains(&std::process::id().to_string()),
            "{msg}"
        );
        assert!(
            msg.contains("service-unresponsive") && msg.contains("service.restart"),
            "{msg}"
        );
        // Another service is independent.
        let _other =
            ServiceLock::acquire(dir.path(), "api", &me("run-2"), None, &Cancel::never()).unwrap();
        drop(first);
        let again = ServiceLock::acquire(
            dir.path(),
            "lowcode-platform",
            &me("run-3"),
            None,
            &Cancel::never(),
        )
        .unwrap();
        assert_eq!(read_holder(again.path()).unwrap().run_id, "run-3");
    }

    #[test]
    fn waiting_gets_the_lock_when_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let first =
            ServiceLock::acquire(dir.path(), "svc", &me("run-1"), None, &Cancel::never()).unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
        });
        let start = Instant::now();
        let lock = ServiceLock::acquire(
            dir.path(),
            "svc",
            &me("run-2"),
            Some(Duration::from_secs(5)),
            &Cancel::never(),
        );
        t.join().unwrap();
        assert!(lock.is_ok());
        assert!(start.elapsed() >= Duration::from_millis(250));
        // A wait that runs out is still Busy, and says it waited.
        let _held = lock.unwrap();
        let err = ServiceLock::acquire(
            dir.path(),
            "svc",
            &me("run-3"),
            Some(Duration::from_millis(200)),
            &Cancel::never(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("waited 0.2 s"), "{err}");
    }

    #[test]
    fn lock_is_held_across_processes() {
        // flock(1) from util-linux in another process blocks us until it ends.
        let dir = tempfile::tempdir().unwrap();
        let path = ServiceLock::path_for(dir.path(), "svc");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "").unwrap();
        // flock starts its command once it holds the lock: `cat` waits on its stdin, which
        // the test closes when it is done.
        let mut child = std::process::Command::new("flock")
            .arg(&path)
            .arg("cat")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("flock(1) from util-linux");
        let flock_pid = child.id();
        let end = std::time::Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(format!("/proc/{flock_pid}/task/{flock_pid}/children"))
            .is_ok_and(|c| !c.trim().is_empty())
        {
            assert!(std::time::Instant::now() < end, "flock never took the lock");
            std::thread::sleep(Duration::from_millis(10));
        }
        let err = ServiceLock::acquire(dir.path(), "svc", &me("run-x"), None, &Cancel::never())
            .unwrap_err();
        assert_eq!(err.kind(), "busy", "{err}");
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
        assert!(
            ServiceLock::acquire(dir.path(), "svc", &me("run-x"), None, &Cancel::never()).is_ok()
        );
    }

    #[test]
    fn rate_limit_allows_n_per_window_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = 1_800_000_000_000;
        let lim = RestartLimit::new(dir.path(), "svc", "3/10m").unwrap();
        for i in 0..3 {
            lim.check_and_record(t0 + i * 1000).unwrap();
        }
        // A fresh limiter (another run) sees the same history.
        let lim2 = RestartLimit::new(dir.path(), "svc", "3/10m").unwrap();
        let err = lim2.check_and_record(t0 + 5000).unwrap_err();
        assert_eq!(err.kind(), "denied");
        let msg = err.to_string();
        assert!(
            msg.contains("3 restarts in the last 10m") && msg.contains("policy.restart_limit"),
            "{msg}"
        );
        assert!(
            msg.contains("next allowed at 2027-01-15T08:10:00.000Z"),
            "{msg}"
        );
        assert_eq!(
            lim2.recent(t0 + 5000).unwrap().len(),
            3,
            "a refused restart is not recorded"
        );
        // Once the first falls out of the window, one more is allowed.
        lim2.check_and_record(t0 + 600_001).unwrap();
        assert!(lim2.check(t0 + 600_002).is_err());
    }

    #[test]
    fn zero_allows_nothing_and_corrupt_history_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let lim = RestartLimit::new(dir.path(), "svc", "0/1h").unwrap();
        let msg = lim.check(now_ms()).unwrap_err().to_string();
        assert!(msg.contains("never"), "{msg}");
        let lim = RestartLimit::new(dir.path(), "bad", "3/10m").unwrap();
        std::fs::create_dir_all(dir.path().join("restarts")).unwrap();
        std::fs::write(dir.path().join("restarts/bad.json"), "{not json").unwrap();
        let msg = lim.check(now_ms()).unwrap_err().to_string();
        assert!(msg.contains("restarts/bad.json"), "{msg}");
        assert!(RestartLimit::new(dir.path(), "svc", "three").is_err());
    }

    #[test]
    fn odd_service_names_stay_inside_the_state_dir() {
        let p = ServiceLock::path_for(Path::new("/state"), "../../etc/passwd");
        assert_eq!(p, Path::new("/state/locks/.._.._etc_passwd.lock"));
    }
}
