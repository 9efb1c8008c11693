//! The audit log: an append-only file of JSON lines, written ahead of every effect.
//!
//! Each effect leaves two records with the same `run_id` and `seq`: a `started` record written
//! (one `write(2)` with `O_APPEND`, then `fdatasync`) *before* the effect acts, and the outcome
//! record (`done`, `failed`, `interrupted`) after it. A `started` record with no outcome is what
//! a process killed mid-effect leaves; [`AuditLog::read_view`] shows it as
//! [`NO_OUTCOME`]. Effects that never act (`planned`, `would_fail`, `denied`) leave one record.
//!
//! A crash can leave a torn last line (no newline). Opening the log for appending first ends such
//! a line, so the next record starts on a fresh line; readers skip and count lines that are not
//! JSON objects.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

use crate::error::{Error, Result};

/// What `runbook audit` shows as the outcome of a `started` record whose process ended
/// before writing the outcome (killed, power loss).
pub const NO_OUTCOME: &str = "no outcome (process ended)";

/// What `runbook audit` shows for a `started` record whose run is still going.
pub const IN_PROGRESS: &str = "in progress";

/// An append-only JSON-lines audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

/// The records of a log as `runbook audit` shows them.
#[derive(Debug, Default)]
pub struct AuditView {
    /// Records, oldest first. `started` records that have an outcome record are folded into it;
    /// those without one carry `"outcome": "no outcome (process ended)"` (or `"in progress"`).
    pub records: Vec<Value>,
    /// Lines that were not a JSON object (a torn write, a foreign line); skipped.
    pub damaged: usize,
}

impl AuditLog {
    /// An audit log at `path`, opened lazily on the first record.
    pub fn new(path: PathBuf) -> Self {
        AuditLog {
            path,
            file: Mutex::new(None),
        }
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Open (creating parents) if not yet open, and end a torn last line so the next record
    /// starts on a fresh line. Errors name the path.
    pub fn ensure_open(&self) -> Result<()> {
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| Error::io("creating audit log folder", parent, e))?;
            }
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&self.path)
                .map_err(|e| Error::io("opening audit log", &self.path, e))?;
            let meta = f
                .metadata()
                .map_err(|e| Error::io("opening audit log", &self.path, e))?;
            // A FIFO takes records until its buffer is full and then blocks the run for good
            // (no deadline, no Ctrl-C); a device may swallow them. Only a regular file keeps them.
            if !meta.file_type().is_file() {
                return Err(Error::io(
                    "opening audit log",
                    &self.path,
                    std::io::Error::other("not a regular file"),
                ));
            }
            let len = meta.len();
            if len > 0 {
                let mut last = [0u8; 1];
                f.read_exact_at(&mut last, len - 1)
                    .map_err(|e| Error::io("reading audit log", &self.path, e))?;
                if last[0] != b'\n' {
                    f.write_all(b"\n")
                        .map_err(|e| Error::io("writing audit log", &self.path, e))?;
                }
            }
            *guard = Some(f);
        }
        Ok(())
    }

    /// Append one record (a JSON object) as a single `write` and flush it to the OS.
    pub fn append(&self, record: &Value) -> Result<()> {
        self.write_record(record, false)
    }

    /// Append one record and wait until it is on disk (`fdatasync`): the write-ahead record of
    /// an effect must outlive a crash of the host, not only of the process.
    pub fn append_durable(&self, record: &Value) -> Result<()> {
        self.write_record(record, true)
    }

    fn write_record(&self, record: &Value, durable: bool) -> Result<()> {
        self.ensure_open()?;
        let mut line =
            serde_json::to_vec(record).map_err(|e| Error::failed(format!("audit record: {e}")))?;
        line.push(b'\n');
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let f = guard.as_mut().expect("opened above");
        f.write_all(&line)
            .map_err(|e| Error::io("writing audit log", &self.path, e))?;
        f.flush()
            .map_err(|e| Error::io("writing audit log", &self.path, e))?;
        if durable {
            f.sync_data()
                .map_err(|e| Error::io("syncing audit log", &self.path, e))?;
        }
        Ok(())
    }

    /// The last `n` records (all when `n` is 0), oldest first, as [`AuditLog::read_view`]
    /// shows them; damaged lines are skipped.
    pub fn read_last(path: &Path, n: usize) -> Result<Vec<Value>> {
        Ok(Self::read_view(path, n)?.records)
    }

    /// The last `n` records (all when `n` is 0) with `started` records folded into their
    /// outcome, and the number of damaged lines in the whole file.
    pub fn read_view(path: &Path, n: usize) -> Result<AuditView> {
        let bytes = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(AuditView::default()),
            Err(e) => return Err(Error::io("reading audit log", path, e)),
        };
        let mut view = AuditView::default();
        // Index of the pending `started` record of each (run_id, seq).
        let mut pending: std::collections::HashMap<(String, u64), usize> = Default::default();
        let mut keep: Vec<Option<Value>> = Vec::new();
        for line in bytes.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let rec: Value = match serde_json::from_slice(line) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    view.damaged += 1;
                    continue;
                }
            };
            let key = match (rec["run_id"].as_str(), rec["seq"].as_u64()) {
                (Some(r), Some(s)) => Some((r.to_string(), s)),
                _ => None,
            };
            if let Some(key) = key {
                if rec["outcome"] == "started" {
                    pending.insert(key, keep.len());
                } else if let Some(i) = pending.remove(&key) {
                    keep[i] = None;
                }
            }
            keep.push(Some(rec));
        }
        for i in pending.into_values() {
            if let Some(rec) = keep[i].as_mut() {
                let alive = rec["pid"]
                    .as_u64()
                    .is_some_and(|p| p == std::process::id() as u64 || pid_alive(p));
                rec["outcome"] = Value::String(if alive { IN_PROGRESS } else { NO_OUTCOME }.into());
            }
        }
        view.records = keep.into_iter().flatten().collect();
        if n > 0 && view.records.len() > n {
            view.records.drain(..view.records.len() - n);
        }
        Ok(view)
    }
}

/// Whether a process with this pid exists (signal 0).
fn pid_alive(pid: u64) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Outcome of one effect, as written to the audit log and the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Planned,
    /// Under `--dry-run`: the effect's preflight says it would fail (the reason is the detail).
    WouldFail,
    Denied,
    Failed,
    Interrupted,
    /// The write-ahead record, written before the effect acts.
    Started,
}

impl Outcome {
    /// The word used in the audit log and the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Planned => "planned",
            Outcome::WouldFail => "would_fail",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
            Outcome::Started => "started",
        }
    }
}

/// The user running the tool: the account name of the real uid (from the password database),
/// else `$USER`, else `uid:N`. `$USER` is not trusted first: it is whatever the caller set.
pub fn current_user() -> String {
    // SAFETY: getuid cannot fail; getpwuid_r writes only into the buffers we pass.
    let uid = unsafe { libc::getuid() };
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc == 0 && !result.is_null() && !pwd.pw_name.is_null() {
        // SAFETY: pw_name points into `buf`, NUL-terminated by getpwuid_r.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        if let Ok(n) = name.to_str() {
            return n.to_string();
        }
    }
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| format!("uid:{uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn torn_line_does_not_swallow_the_next_record_and_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(
            &path,
            "{\"outcome\":\"done\",\"action\":\"a\"}\n{\"outcome\":\"do",
        )
        .unwrap();
        let log = AuditLog::new(path.clone());
        log.append(&json!({"outcome": "done", "action": "b"}))
            .unwrap();
        let view = AuditLog::read_view(&path, 0).unwrap();
        assert_eq!(view.damaged, 1);
        let actions: Vec<&str> = view
            .records
            .iter()
            .map(|r| r["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["a", "b"]);
    }

    #[test]
    fn started_records_fold_into_their_outcome_or_show_no_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::new(path.clone());
        // A pid that cannot exist (above pid_max's ceiling of 2^22).
        let dead = 1u64 << 23;
        for r in [
            json!({"run_id": "r1", "seq": 1, "pid": dead, "outcome": "started", "action": "x"}),
            json!({"run_id": "r1", "seq": 1, "pid": dead, "outcome": "done", "action": "x"}),
            json!({"run_id": "r1", "seq": 2, "pid": dead, "outcome": "started", "action": "y"}),
        ] {
            log.append(&r).unwrap();
        }
        let view = AuditLog::read_view(&path, 0).unwrap();
        let outs: Vec<&str> = view
            .records
            .iter()
            .map(|r| r["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(outs, ["done", NO_OUTCOME]);
        assert_eq!(view.damaged, 0);
    }
}
