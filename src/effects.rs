//! The effect gate.
//!
//! Every primitive that changes the world (writes, deletes, restarts, signals, runs a program,
//! sends a non-GET request) goes through [`Ctx::effect`] / [`Ctx::run_effect`]: the policy
//! check, the effect budget, the preflight, `--dry-run` (planned or would-fail, not executed),
//! the write-ahead audit record, the duration and the outcome all happen here and only here.
//! Reads that the policy denies are audited through [`Ctx::deny`].
//!
//! Order of one effect: policy needs (→ `denied`) · effect budget `policy.max_effects`
//! (→ limit, exit 3) · preflight (→ `would_fail` under `--dry-run`, else `failed` with
//! "preflight: …" and nothing done) · dry run (→ `planned`) · confirmation · `started` record
//! written and synced (if that fails, nothing happens and the run stops naming the audit path)
//! · the effect · the outcome record (`done`, `failed`, `interrupted`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

use crate::ctx::Ctx;
use crate::error::{Error, Result};

/// One Rhai host function that is an effect: it acts only through the gate, as `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectFn {
    /// The Rhai name, `module::function`.
    pub function: &'static str,
    /// The gate's action word, in the audit log and the report.
    pub action: &'static str,
    /// What its preflight checks before it acts (shown by `runbook docs`).
    pub preflight: &'static str,
}

/// The registry of effects: every host function that changes the world, with its gate action
/// and preflight. The gate refuses any action not declared here, and every list of effects
/// (`runbook show`, `docs`, `check`, the REPL: [`crate::modules::EFFECT_FUNCTIONS`]) derives
/// from it. A test checks it against the engine's functions and their docs, and calls each
/// function under `--dry-run` expecting a `planned` or `would_fail` record and no change.
pub const REGISTRY: &[EffectFn] = &[
    EffectFn {
        function: "fs::write",
        action: "fs.write",
        preflight: "its folder exists and is writable",
    },
    EffectFn {
        function: "fs::append",
        action: "fs.append",
        preflight: "its folder exists and is writable",
    },
    EffectFn {
        function: "fs::copy",
        action: "fs.copy",
        preflight: "the destination folder exists and is writable",
    },
    EffectFn {
        function: "fs::remove",
        action: "fs.remove",
        preflight: "its folder is writable",
    },
    EffectFn {
        function: "fs::mkdir",
        action: "fs.mkdir",
        preflight: "the nearest existing folder is writable",
    },
    EffectFn {
        function: "logs::cleanup",
        action: "logs.cleanup",
        preflight: "the folder is writable",
    },
    EffectFn {
        function: "backup::create",
        action: "backup.create",
        preflight: "the backup folder is (or can be created) writable",
    },
    EffectFn {
        function: "backup::restore",
        action: "backup.restore",
        preflight: "the archive's files can be swapped into the target by rename",
    },
    EffectFn {
        function: "backup::prune",
        action: "backup.prune",
        preflight: "the backup folder is writable",
    },
    EffectFn {
        function: "service::start",
        action: "service.start",
        preflight: "the manager knows the service (or has its start_script / start_cmd)",
    },
    EffectFn {
        function: "service::stop",
        action: "service.stop",
        preflight: "the manager knows the service",
    },
    EffectFn {
        function: "service::restart",
        action: "service.restart",
        preflight: "the manager knows the service",
    },
    EffectFn {
        function: "service::reload",
        action: "service.reload",
        preflight: "the manager knows the service",
    },
    EffectFn {
        function: "service::signal",
        action: "service.signal",
        preflight: "the service runs and its process handles the signal",
    },
    EffectFn {
        function: "http::post",
        action: "http.post",
        preflight: "the host is allowed",
    },
    EffectFn {
        function: "cmd::run",
        action: "cmd.run",
        preflight: "the program is on PATH; `npm run X`: package.json has script X",
    },
];

/// Effects the tool takes by itself after a run, not callable from scripts: they pass the
/// same gate (policy, write-ahead audit, dry run), so they are declared here rather than in
/// [`REGISTRY`], whose entries are checked against the engine's functions.
pub const HOST_EFFECTS: &[EffectFn] = &[EffectFn {
    function: "[[notify]] webhook",
    action: "notify.webhook",
    preflight: "the webhook's host is in policy.http_hosts",
}];

/// The registry entry of gate action `action` (script functions first, then host effects).
pub fn registered(action: &str) -> Option<&'static EffectFn> {
    REGISTRY
        .iter()
        .chain(HOST_EFFECTS)
        .find(|e| e.action == action)
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
    /// Remove this path: its folder is resolved (`..`, links) and must be writable, its last
    /// component is kept as given (a symbolic link is removed itself, never what it points
    /// to), and the path with its last link followed must be writable too.
    Remove(PathBuf),
    /// A path the effect uses whose permission the other needs already cover (e.g. the target
    /// folder of a restore limited to some entries): only resolved, no policy rule of its own.
    Path(PathBuf),
}

/// The paths of an effect's needs as the gate resolved them (`..` applied, links followed —
/// for [`Need::Remove`] all but the last), in the order of the needs: the path checked is the
/// path acted on. Handed to the effect's closure, its preflight and its dry-run answer.
#[derive(Debug, Default, Clone)]
pub struct Resolved {
    paths: Vec<Option<PathBuf>>,
}

impl Resolved {
    /// The resolved path of need `i` (a `Write`, `Read`, `Remove` or `Path` need).
    ///
    /// Errors: need `i` has no path (an internal error: the call site's index is wrong).
    pub fn path(&self, i: usize) -> Result<&Path> {
        self.paths
            .get(i)
            .and_then(|p| p.as_deref())
            .ok_or_else(|| Error::failed(format!("internal error: effect need {i} has no path")))
    }

    /// Every resolved path, in the order of the needs (`None` for needs without a path).
    pub fn all(&self) -> &[Option<PathBuf>] {
        &self.paths
    }
}

pub use crate::audit::{AuditLog, Outcome, current_user};

impl Ctx {
    /// Check one need against the policy; the resolved path of a path need.
    fn check_need(&self, need: &Need) -> Result<Option<PathBuf>> {
        let cfg = &self.config;
        match need {
            Need::Write(p) => cfg.check_write(p).map(Some),
            Need::Read(p) => cfg.check_read(p).map(Some),
            Need::Remove(p) => resolved_keep_last(cfg, p).map(Some),
            Need::Path(p) => crate::fspath::resolve(p).map(Some),
            Need::Service(s) => cfg.service(s).map(|_| None),
            Need::Command(c) => cfg.check_command(c).map(|_| None),
            Need::Host(h) => cfg.check_host(h).map(|_| None),
        }
    }

    /// Record a denial of `action` on `target` (audit + report) and return the error to throw.
    /// Used by reads (`fs::read`, `logs::search`, `http::get` …) that are not effects.
    pub fn deny(&self, action: &str, target: &str, err: Error) -> Error {
        if let Err(limit) = self.charge_denial() {
            return limit;
        }
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

    /// Run `f` as an effect, with the preflight its needs imply (see [`Ctx::run_effect`]).
    ///
    /// * `action` — dotted name, e.g. `fs.write`, `service.restart`.
    /// * `target` — what it acts on (a path, a service, a program line).
    /// * `args` — extra audit data; never secrets (no file contents, env values, bodies).
    /// * `needs` — policy requirements, all checked first.
    /// * `read_only` — runs even under `--dry-run` (e.g. `npm outdated`).
    pub fn effect<T>(
        &self,
        action: &str,
        target: &str,
        args: Value,
        needs: &[Need],
        read_only: bool,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<Option<T>> {
        self.run_effect(
            Effect {
                action,
                target,
                args,
                needs,
                read_only,
                preflight: Vec::new(),
            },
            |_| f(),
        )
    }

    /// Run `f` as the effect `e` with the paths the gate resolved; when the effect is not
    /// executed under `--dry-run` (`planned` or `would_fail`), the answer is `planned`'s, given
    /// the same resolved paths. Errors as [`Ctx::run_effect`].
    pub fn run_effect_or<T>(
        &self,
        e: Effect<'_>,
        planned: impl FnOnce(&Resolved) -> Result<T>,
        f: impl FnOnce(&Resolved) -> Result<T>,
    ) -> Result<T> {
        let (done, resolved) = self.gate(e, f)?;
        match done {
            Some(v) => Ok(v),
            None => planned(&resolved),
        }
    }

    /// Run `f` as the effect `e` (order of the steps: module docs).
    ///
    /// Besides `e.preflight`, every [`Need::Write`] is preflighted with [`folder_writable`] and
    /// every [`Need::Command`] with [`on_path`].
    ///
    /// Returns `Ok(None)` when the effect was not executed under `--dry-run` (outcome `planned`,
    /// or `would_fail` when a preflight failed), `Ok(Some(value))` when done. Errors: `Denied`
    /// (audited as `denied`); `Limit` when the run used up `policy.max_effects`; `Failed`
    /// "ACTION TARGET: preflight: REASON" in a real run (audited as `failed`, nothing done);
    /// an audit log that cannot take the `started` record (nothing done, the error names the
    /// log); or `f`'s own error (audited as `failed`, or `interrupted` for Ctrl-C, the deadline
    /// and timeouts that are limits).
    pub fn run_effect<T>(
        &self,
        e: Effect<'_>,
        f: impl FnOnce(&Resolved) -> Result<T>,
    ) -> Result<Option<T>> {
        self.gate(e, f).map(|(done, _)| done)
    }

    /// [`Ctx::run_effect`], also returning the resolved paths (for the dry-run answer).
    fn gate<T>(
        &self,
        e: Effect<'_>,
        f: impl FnOnce(&Resolved) -> Result<T>,
    ) -> Result<(Option<T>, Resolved)> {
        let Effect {
            action,
            target,
            args,
            needs,
            read_only,
            preflight,
        } = e;
        if registered(action).is_none() {
            return Err(Error::failed(format!(
                "internal error: effect {action:?} is not declared in the effect registry (effects::REGISTRY)"
            )));
        }
        let mut resolved = Resolved::default();
        for need in needs {
            match self.check_need(need) {
                Ok(p) => resolved.paths.push(p),
                Err(e) => {
                    self.charge_denial()?;
                    self.record(action, target, &args, Outcome::Denied, 0, &e.to_string())?;
                    return Err(e);
                }
            }
        }
        if !read_only && !self.compensating {
            let used = self.effects_used.get() + 1;
            let max = self.config.policy.max_effects;
            if used > max {
                let e = Error::Limit(format!(
                    "effect budget: this run already caused {max} effects (policy.max_effects)"
                ));
                self.record(action, target, &args, Outcome::Denied, 0, &e.to_string())?;
                return Err(e);
            }
            self.effects_used.set(used);
        }
        if let Err(reason) = self.preflight(needs, &resolved, preflight) {
            if self.dry_run && !read_only {
                self.record(action, target, &args, Outcome::WouldFail, 0, &reason)?;
                return Ok((None, resolved));
            }
            let detail = format!("preflight: {reason}");
            self.record(action, target, &args, Outcome::Failed, 0, &detail)?;
            return Err(Error::failed(format!("{action} {target}: {detail}")));
        }
        if self.dry_run && !read_only {
            self.record(
                action,
                target,
                &args,
                Outcome::Planned,
                0,
                "dry run: not executed",
            )?;
            return Ok((None, resolved));
        }
        if !self.confirm_effect(action, target)? {
            let msg = "declined at the confirmation prompt";
            self.record(action, target, &args, Outcome::Denied, 0, msg)?;
            return Err(Error::denied(
                format!("{action} {target}"),
                "operator declined",
            ));
        }
        // Write-ahead: no record on disk, no effect.
        let seq = self.effect_seq.get() + 1;
        self.effect_seq.set(seq);
        let started = self.audit_record(action, target, &args, Outcome::Started, 0, None);
        let mut started = started;
        started["seq"] = json!(seq);
        if let Err(e) = self.audit.append_durable(&started) {
            let msg = format!(
                "{action} {target} was not done: the audit log {} cannot take its record ({e})",
                self.audit.path().display()
            );
            self.report_effect(action, target, Outcome::Failed, &msg);
            return Err(Error::AuditUnwritable(msg));
        }
        let start = Instant::now();
        let result = f(&resolved);
        let ms = start.elapsed().as_millis() as u64;
        let (outcome, detail) = match &result {
            Ok(_) => (Outcome::Done, String::new()),
            Err(e) if matches!(e, Error::Interrupted | Error::Limit(_)) => {
                (Outcome::Interrupted, e.to_string())
            }
            Err(e) => (Outcome::Failed, e.to_string()),
        };
        let err = (!detail.is_empty()).then_some(detail.as_str());
        let mut rec = self.audit_record(action, target, &args, outcome, ms, err);
        rec["seq"] = json!(seq);
        self.report_effect(action, target, outcome, &detail);
        if let Err(e) = self.audit.append(&rec) {
            return Err(Error::AuditUnwritable(format!(
                "{action} {target} ran, but the audit log {} cannot take its outcome ({e})",
                self.audit.path().display()
            )));
        }
        result.map(|v| (Some(v), resolved))
    }

    /// A denial writes an audit record and a report entry too, so a script that catches denials
    /// in a loop would grow both without end: each denial uses one unit of `policy.max_effects`,
    /// and past it the run stops as a limit (nothing more is written).
    fn charge_denial(&self) -> Result<()> {
        if self.compensating {
            return Ok(());
        }
        let used = self.effects_used.get() + 1;
        let max = self.config.policy.max_effects;
        if used > max {
            return Err(Error::Limit(format!(
                "effect budget: this run already caused or was denied {max} effects (policy.max_effects)"
            )));
        }
        self.effects_used.set(used);
        Ok(())
    }

    /// Audit and report an effect that did not act (denied, planned, would fail, failed preflight).
    fn record(
        &self,
        action: &str,
        target: &str,
        args: &Value,
        outcome: Outcome,
        ms: u64,
        detail: &str,
    ) -> Result<()> {
        let err = (!detail.is_empty() && outcome != Outcome::Planned).then_some(detail);
        let rec = self.audit_record(action, target, args, outcome, ms, err);
        self.audit.append(&rec)?;
        self.report_effect(action, target, outcome, detail);
        Ok(())
    }

    /// The implied preflight of `needs` (on their resolved paths), then the effect's own; the
    /// first failure's reason.
    fn preflight(
        &self,
        needs: &[Need],
        resolved: &Resolved,
        own: Vec<Preflight<'_>>,
    ) -> std::result::Result<(), String> {
        for (need, real) in needs.iter().zip(&resolved.paths) {
            match (need, real) {
                (Need::Write(_) | Need::Remove(_), Some(real)) => folder_writable(real)?,
                (Need::Command(c), _) => on_path(c)?,
                _ => {}
            }
        }
        for check in own {
            check(resolved)?;
        }
        Ok(())
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
        let mut rec = audit_record(
            &AuditWho {
                run_id: &self.run_id,
                runbook: &self.runbook,
                dry_run: self.dry_run,
            },
            action,
            target,
            args.clone(),
            outcome.as_str(),
            duration_ms,
            error,
        );
        if self.compensating {
            rec["compensation"] = Value::Bool(true);
        }
        rec
    }
}

/// Who writes an audit record: the run it belongs to.
pub struct AuditWho<'a> {
    pub run_id: &'a str,
    pub runbook: &'a str,
    pub dry_run: bool,
}

/// One audit record (README, "Audit log"): time, run, pid, user, action, target, args, outcome,
/// dry run, duration in ms and, when given, the error. The one builder for the gate and the
/// fleet controller, so every record has the same keys.
#[allow(clippy::too_many_arguments)]
pub fn audit_record(
    who: &AuditWho<'_>,
    action: &str,
    target: &str,
    args: Value,
    outcome: &str,
    duration_ms: u64,
    error: Option<&str>,
) -> Value {
    let mut rec = json!({
        "time": crate::timefmt::now_rfc3339(),
        "run_id": who.run_id,
        "pid": std::process::id(),
        "runbook": who.runbook,
        "user": current_user(),
        "action": action,
        "target": target,
        "args": args,
        "outcome": outcome,
        "dry_run": who.dry_run,
        "duration_ms": duration_ms,
    });
    if let Some(e) = error {
        rec["error"] = Value::String(e.to_string());
    }
    rec
}

/// One check made before an effect acts, on the paths the gate resolved: `Err(reason)` when
/// the effect would fail.
pub type Preflight<'a> = Box<dyn FnOnce(&Resolved) -> std::result::Result<(), String> + 'a>;

/// `path` with its folder resolved through the policy (`..` and links, checked against
/// `policy.write`) and its last component kept as given; the whole resolved path (following a
/// last-component link) must be writable too. What [`Need::Remove`] resolves to.
fn resolved_keep_last(cfg: &crate::policy::Config, path: &Path) -> Result<PathBuf> {
    cfg.check_write(path)?;
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return cfg.check_write(path);
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let real = cfg.check_write(parent)?.join(name);
    cfg.check_write(&real)?;
    Ok(real)
}

/// Everything the gate needs to know about one effect (see [`Ctx::run_effect`]).
pub struct Effect<'a> {
    /// Dotted name, e.g. `fs.write`, `service.restart`.
    pub action: &'a str,
    /// What it acts on (a path, a service, a program line).
    pub target: &'a str,
    /// Extra audit data; never secrets (no file contents, env values, bodies).
    pub args: Value,
    /// Policy requirements, all checked first.
    pub needs: &'a [Need],
    /// Runs even under `--dry-run` (e.g. `npm outdated`).
    pub read_only: bool,
    /// The effect's own preflight checks, beyond what `needs` imply.
    pub preflight: Vec<Preflight<'a>>,
}

/// Preflight of a write to `path`: the folder that will hold it can be written. An existing
/// folder must itself be writable; an existing file's folder must be (files are replaced by
/// renaming); for a missing path, the nearest existing ancestor must be a writable folder.
pub fn folder_writable(path: &Path) -> std::result::Result<(), String> {
    let dir = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => path.to_path_buf(),
        Ok(_) => path.parent().unwrap_or(Path::new("/")).to_path_buf(),
        Err(_) => {
            let mut a = path.parent();
            while let Some(p) = a {
                if std::fs::symlink_metadata(p).is_ok() {
                    break;
                }
                a = p.parent();
            }
            let a = a.unwrap_or(Path::new("/"));
            if !a.is_dir() {
                return Err(format!("{} is not a folder", a.display()));
            }
            a.to_path_buf()
        }
    };
    writable(&dir)
}

/// Preflight of a file written at `path` (not its folders): the folder holding it exists and
/// can be written.
pub fn parent_exists(path: &Path) -> std::result::Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => writable(dir),
        Ok(_) => Err(format!("{} is not a folder", dir.display())),
        Err(_) => Err(format!("folder {} does not exist", dir.display())),
    }
}

fn writable(dir: &Path) -> std::result::Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| format!("{}: path holds a NUL byte", dir.display()))?;
    // SAFETY: access only reads the NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0 {
        Ok(())
    } else {
        let e = std::io::Error::last_os_error();
        Err(format!("folder {} is not writable ({e})", dir.display()))
    }
}

pub use crate::fspath::on_path;

/// Preflight of `npm run SCRIPT` (also `run-script`) in `cwd`: `package.json` there defines
/// `scripts.SCRIPT`. Other npm command lines pass.
pub fn npm_script(cwd: &Path, args: &[String]) -> std::result::Result<(), String> {
    let script = match args {
        [verb, script, ..] if verb == "run" || verb == "run-script" => script,
        _ => return Ok(()),
    };
    let pkg = cwd.join("package.json");
    let text = std::fs::read_to_string(&pkg)
        .map_err(|e| format!("npm run {script}: cannot read {} ({e})", pkg.display()))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("npm run {script}: {} is not JSON ({e})", pkg.display()))?;
    if v["scripts"].get(script).is_some() {
        Ok(())
    } else {
        let known: Vec<&str> = v["scripts"]
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        Err(format!(
            "npm run {script}: {} has no script {script:?} (it has: {})",
            pkg.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
    }
}

/// Signals sent to end a process: the target need not handle them.
const ENDING_SIGNALS: &[i32] = &[libc::SIGTERM, libc::SIGKILL, libc::SIGINT, libc::SIGQUIT];

/// Preflight of sending signal `sig` (number) to process `pid`: unless the signal is meant to end
/// the process (TERM, KILL, INT, QUIT) or does not end it by default (CHLD, CONT, STOP, TSTP,
/// TTIN, TTOU, URG, WINCH), the process must catch or ignore it (`SigCgt`/`SigIgn` of
/// `/proc/PID/status`) — otherwise the kernel's default action would end it. For Node, the
/// reason names `--heapsnapshot-signal`, the flag that makes Node handle `SIGUSR2`.
pub fn signal_handled(pid: u32, sig: i32, sig_name: &str) -> std::result::Result<(), String> {
    let harmless = [
        libc::SIGCHLD,
        libc::SIGCONT,
        libc::SIGSTOP,
        libc::SIGTSTP,
        libc::SIGTTIN,
        libc::SIGTTOU,
        libc::SIGURG,
        libc::SIGWINCH,
    ];
    if ENDING_SIGNALS.contains(&sig) || harmless.contains(&sig) {
        return Ok(());
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status ({e})"))?;
    let mask = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    let bit = 1u64 << (sig - 1);
    if (mask("SigCgt:") | mask("SigIgn:")) & bit != 0 {
        return Ok(());
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let node = cmdline
        .split_whitespace()
        .next()
        .is_some_and(|p| p.rsplit('/').next().is_some_and(|b| b.starts_with("node")));
    let hint = if node && sig == libc::SIGUSR2 {
        "; Node handles it only when started with --heapsnapshot-signal=SIGUSR2 (node_args / \
         NODE_OPTIONS); restart the service with that flag first"
    } else {
        ""
    };
    Err(format!(
        "process {pid} does not handle {sig_name}: its default action would end the process{hint}"
    ))
}

/// Preflight of restoring `files` (paths relative to `target`) into folder `target`: files are
/// staged inside `target` and renamed over the old ones, so `target` must be (or be creatable
/// as) a writable folder, and each existing file to be replaced must be on the same file system
/// as `target` (a bind-mounted file cannot be renamed over) and not be a folder.
pub fn swappable(target: &Path, files: &[PathBuf]) -> std::result::Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let t = match std::fs::metadata(target) {
        Err(_) => return folder_writable(target),
        Ok(m) if !m.is_dir() => return Err(format!("{} is not a folder", target.display())),
        Ok(m) => m,
    };
    writable(target)?;
    for f in files {
        let path = target.join(f);
        let Ok(m) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if m.is_dir() {
            return Err(format!(
                "{} is a folder, the archive holds a file",
                path.display()
            ));
        }
        if m.dev() != t.dev() {
            return Err(format!(
                "{} is on another file system than {} (a mount point?): it cannot be swapped by rename",
                path.display(),
                target.display()
            ));
        }
        if path.parent().is_some_and(|p| p != target) {
            folder_writable(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod resolved_tests {
    use super::*;
    use crate::cancel::Cancel;
    use std::sync::Arc;

    fn ctx(root: &Path, dry_run: bool) -> Ctx {
        let toml = format!(
            "[policy]\nwrite = [{:?}]\n[audit]\npath = {:?}\n",
            root.join("w"),
            root.join("audit.jsonl")
        );
        let config = crate::policy::Config::from_toml(&toml, None).unwrap();
        let mut c = Ctx::new(Arc::new(config), "t", Cancel::never());
        c.dry_run = dry_run;
        c.yes = true;
        c
    }

    /// The gate resolves each path need once and hands the result to the effect, its preflight
    /// and its dry-run answer: `..` and links applied (a `Remove` keeps the last component, so
    /// a link is removed itself); under `--dry-run` the answer is the planned closure's.
    #[test]
    fn the_gate_hands_the_resolved_paths_to_the_effect_and_the_dry_run_answer() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let w = root.join("w");
        std::fs::create_dir_all(w.join("real")).unwrap();
        std::os::unix::fs::symlink(w.join("real"), w.join("link")).unwrap();
        let needs = [
            Need::Write(w.join("link/../real/f.txt")),
            Need::Remove(w.join("real/../link")),
            Need::Path(w.join("link/x")),
        ];
        let effect = |needs| Effect {
            action: "fs.write",
            target: "t",
            args: Value::Null,
            needs,
            read_only: false,
            preflight: vec![Box::new(|r: &Resolved| {
                // The preflight sees the same resolved paths.
                (r.path(0).map_err(|e| e.to_string())? == w.join("real/f.txt"))
                    .then_some(())
                    .ok_or_else(|| "preflight saw another path".to_string())
            })],
        };
        let seen = ctx(&root, false)
            .run_effect(effect(&needs[..3]), |r| Ok(r.all().to_vec()))
            .unwrap()
            .unwrap();
        assert_eq!(
            seen,
            [
                Some(w.join("real/f.txt")),
                Some(w.join("link")),
                Some(w.join("real/x")),
            ]
        );
        // A need without a path (a host) has none to hand out: an internal error, not a panic.
        let no_path = Resolved { paths: vec![None] };
        assert!(no_path.path(0).is_err() && no_path.path(1).is_err());

        // Dry run: not executed; the answer comes from the planned closure, same paths.
        let c = ctx(&root, true);
        let answer = c
            .run_effect_or(
                effect(&needs[..1]),
                |r| Ok(format!("planned {}", r.path(0)?.display())),
                |_| panic!("executed under --dry-run"),
            )
            .unwrap();
        assert_eq!(
            answer,
            format!("planned {}", w.join("real/f.txt").display())
        );
        assert_eq!(c.report.borrow().effects[0].outcome, "planned");

        // A path outside the write roots is denied before anything (also the planned answer).
        let outside = [Need::Write(root.join("elsewhere"))];
        let e = ctx(&root, true)
            .run_effect_or(effect(&outside), |_| Ok(()), |_| Ok(()))
            .unwrap_err();
        assert_eq!(e.kind(), "denied", "{e}");
    }
}
