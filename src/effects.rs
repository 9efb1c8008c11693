//! The effect gate and the audit log.
//!
//! Every primitive that changes the world (writes, deletes, restarts, signals, runs a program,
//! sends a non-GET request) goes through [`Ctx::effect`]: the policy check, the audit record,
//! `--dry-run` (planned, not executed), the duration and the outcome all happen here and only
//! here. Reads that the policy denies are audited through [`Ctx::deny`].
//!
//! Audit records are JSON lines (see README, "Audit log"), appended with `O_APPEND` and flushed
//! before the primitive returns. The log is opened before an effect runs: if it cannot be
//! opened, the effect does not happen.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{Value, json};

use crate::ctx::Ctx;
use crate::error::{Error, Result};

/// Outcome of one effect, as written to the audit log and the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Planned,
    Denied,
    Failed,
    Interrupted,
}

impl Outcome {
    /// The word used in the audit log and the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Planned => "planned",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// What an effect needs from the policy; checked before anything happens.
#[derive(Debug, Clone)]
pub enum Need {
    /// Write, create or delete this path (checked after resolving links and `..`).
    Write(PathBuf),
    /// Read this path.
    Read(PathBuf),
    /// Act on this inventory service.
    Service(String),
    /// Start this program.
    Command(String),
    /// Reach this host.
    Host(String),
}

/// An append-only JSON-lines audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<Option<File>>,
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

    /// Open (creating parents) if not yet open. Errors name the path.
    pub fn ensure_open(&self) -> Result<()> {
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| Error::io("creating audit log folder", parent, e))?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| Error::io("opening audit log", &self.path, e))?;
            *guard = Some(f);
        }
        Ok(())
    }

    /// Append one record (a JSON object) as a single `write` and flush it to the OS.
    pub fn append(&self, record: &Value) -> Result<()> {
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
        Ok(())
    }

    /// The last `n` records (all when `n` is 0), oldest first. Lines that are not JSON are skipped.
    pub fn read_last(path: &Path, n: usize) -> Result<Vec<Value>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("reading audit log", path, e)),
        };
        let mut recs: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if n > 0 && recs.len() > n {
            recs.drain(..recs.len() - n);
        }
        Ok(recs)
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

impl Ctx {
    /// Check one need against the policy; a denial is audited and reported before it is returned.
    fn check_need(&self, need: &Need) -> Result<()> {
        let cfg = &self.config;
        match need {
            Need::Write(p) => cfg.check_write(p).map(|_| ()),
            Need::Read(p) => cfg.check_read(p).map(|_| ()),
            Need::Service(s) => cfg.service(s).map(|_| ()),
            Need::Command(c) => cfg.check_command(c),
            Need::Host(h) => cfg.check_host(h),
        }
    }

    /// Record a denial of `action` on `target` (audit + report) and return the error to throw.
    /// Used by reads (`fs::read`, `logs::search`, `http::get` …) that are not effects.
    pub fn deny(&self, action: &str, target: &str, err: Error) -> Error {
        let rec = self.audit_record(
            action,
            target,
            &Value::Null,
            Outcome::Denied,
            0,
            Some(&err.to_string()),
        );
        if let Err(audit_err) = self.audit.append(&rec) {
            return audit_err;
        }
        self.report_effect(action, target, Outcome::Denied, &err.to_string());
        err
    }

    /// Check a read of `path`; returns the resolved path, or the (audited) denial.
    pub fn allow_read(&self, action: &str, path: &Path) -> Result<PathBuf> {
        self.config
            .check_read(path)
            .map_err(|e| self.deny(action, &path.display().to_string(), e))
    }

    /// Check that `host` may be reached; the denial is audited.
    pub fn allow_host(&self, action: &str, host: &str) -> Result<()> {
        self.config
            .check_host(host)
            .map_err(|e| self.deny(action, host, e))
    }

    /// The inventory entry of `service`; a missing one is a denial (audited).
    pub fn allow_service(&self, action: &str, service: &str) -> Result<crate::policy::ServiceSpec> {
        self.config
            .service(service)
            .cloned()
            .map_err(|e| self.deny(action, service, e))
    }

    /// Run `f` as an effect.
    ///
    /// * `action` — dotted name, e.g. `fs.write`, `service.restart`.
    /// * `target` — what it acts on (a path, a service, a program line).
    /// * `args` — extra audit data; never secrets (no file contents, env values, bodies).
    /// * `needs` — policy requirements, all checked first.
    /// * `read_only` — runs even under `--dry-run` (e.g. `npm outdated`).
    ///
    /// Returns `Ok(None)` when the run is a dry run (the effect is planned, not executed),
    /// `Ok(Some(value))` when done. Errors: `Denied` (audited as `denied`), an audit log that
    /// cannot be opened (nothing happens), or `f`'s own error (audited as `failed`, or
    /// `interrupted` for Ctrl-C).
    pub fn effect<T>(
        &self,
        action: &str,
        target: &str,
        args: Value,
        needs: &[Need],
        read_only: bool,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<Option<T>> {
        for need in needs {
            if let Err(e) = self.check_need(need) {
                let rec = self.audit_record(
                    action,
                    target,
                    &args,
                    Outcome::Denied,
                    0,
                    Some(&e.to_string()),
                );
                self.audit.append(&rec)?;
                self.report_effect(action, target, Outcome::Denied, &e.to_string());
                return Err(e);
            }
        }
        if self.dry_run && !read_only {
            let rec = self.audit_record(action, target, &args, Outcome::Planned, 0, None);
            self.audit.append(&rec)?;
            self.report_effect(action, target, Outcome::Planned, "dry run: not executed");
            return Ok(None);
        }
        if !self.confirm_effect(action, target)? {
            let msg = "declined at the confirmation prompt";
            let rec = self.audit_record(action, target, &args, Outcome::Denied, 0, Some(msg));
            self.audit.append(&rec)?;
            self.report_effect(action, target, Outcome::Denied, msg);
            return Err(Error::denied(
                format!("{action} {target}"),
                "operator declined",
            ));
        }
        // If the audit log cannot be opened, the effect must not happen.
        self.audit.ensure_open()?;
        let start = Instant::now();
        let result = f();
        let ms = start.elapsed().as_millis() as u64;
        match &result {
            Ok(_) => {
                let rec = self.audit_record(action, target, &args, Outcome::Done, ms, None);
                self.audit.append(&rec)?;
                self.report_effect(action, target, Outcome::Done, "");
            }
            Err(e) => {
                // Ctrl-C, the run's deadline and a program's own timeout cut the effect short.
                let outcome = if matches!(e, Error::Interrupted | Error::Limit(_)) {
                    Outcome::Interrupted
                } else {
                    Outcome::Failed
                };
                let rec =
                    self.audit_record(action, target, &args, outcome, ms, Some(&e.to_string()));
                self.audit.append(&rec)?;
                self.report_effect(action, target, outcome, &e.to_string());
            }
        }
        result.map(Some)
    }

    fn audit_record(
        &self,
        action: &str,
        target: &str,
        args: &Value,
        outcome: Outcome,
        duration_ms: u64,
        error: Option<&str>,
    ) -> Value {
        let mut rec = json!({
            "time": crate::ctx::now_rfc3339(),
            "run_id": self.run_id,
            "runbook": self.runbook,
            "user": current_user(),
            "action": action,
            "target": target,
            "args": args,
            "outcome": outcome.as_str(),
            "dry_run": self.dry_run,
            "duration_ms": duration_ms,
        });
        if let Some(e) = error {
            rec["error"] = Value::String(e.to_string());
        }
        rec
    }
}
