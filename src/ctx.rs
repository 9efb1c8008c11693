//! The context of one run (or one REPL session): configuration, flags, cancellation, the
//! report being collected and the audit log.
//!
//! Rhai host functions reach it through [`with_ctx`]: the runner installs the context in a
//! thread-local for the thread that evaluates the script, so every module function sees the
//! policy, the dry-run flag and the report of the run it belongs to.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::rc::Rc;
use std::sync::Arc;

use serde_json::Value;

use crate::cancel::Cancel;
use crate::effects::{AuditLog, Outcome};
use crate::error::{Error, Result};
use crate::policy::Config;
use crate::report::{CheckRecord, CheckStatus, EffectRecord, Report};

/// Everything a host function may need to know about the run it serves.
#[derive(Debug)]
pub struct Ctx {
    /// Policy and inventory.
    pub config: Arc<Config>,
    /// `--dry-run`: effects are planned, not executed.
    pub dry_run: bool,
    /// `--yes`: `confirm()` answers yes without a terminal, effects need no confirmation.
    pub yes: bool,
    /// Ask before each effect (the REPL without `:yes on`).
    pub confirm_effects: bool,
    /// Unique id of this run, in every audit record.
    pub run_id: String,
    /// Name of the runbook (or `repl`).
    pub runbook: String,
    /// Ctrl-C flag and deadline.
    pub cancel: Cancel,
    /// The audit log.
    pub audit: AuditLog,
    /// Checks, effects and output collected so far.
    pub report: RefCell<Report>,
    /// Echo `print` lines to stdout as they happen (human mode).
    pub echo_output: bool,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Ctx>>> = const { RefCell::new(None) };
}

/// Install `ctx` as the current context of this thread (returns the previous one).
pub fn install(ctx: Rc<Ctx>) -> Option<Rc<Ctx>> {
    CURRENT.with(|c| c.borrow_mut().replace(ctx))
}

/// Remove the current context of this thread.
pub fn uninstall() -> Option<Rc<Ctx>> {
    CURRENT.with(|c| c.borrow_mut().take())
}

/// The current context of this thread, if any.
pub fn current() -> Option<Rc<Ctx>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Run `f` with the current context. Errors when no run is active on this thread
/// (a host function called outside the runner).
pub fn with_ctx<R>(f: impl FnOnce(&Ctx) -> Result<R>) -> Result<R> {
    let ctx = current().ok_or_else(|| Error::failed("no active run context on this thread"))?;
    f(&ctx)
}

/// Now as RFC 3339 UTC with milliseconds (`2026-11-29T09:00:00.123Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A fresh run id: UTC time plus pid, unique per host.
pub fn new_run_id() -> String {
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    )
}

impl Ctx {
    /// A context for `runbook` with the given config; audit log at the config's path.
    pub fn new(config: Arc<Config>, runbook: &str, cancel: Cancel) -> Self {
        let audit = AuditLog::new(config.audit_path());
        Ctx {
            config,
            dry_run: false,
            yes: false,
            confirm_effects: false,
            run_id: new_run_id(),
            runbook: runbook.to_string(),
            cancel,
            audit,
            report: RefCell::new(Report::default()),
            echo_output: false,
        }
    }

    /// Add a check to the report.
    pub fn record_check(
        &self,
        name: &str,
        status: CheckStatus,
        detail: &str,
        value: Option<Value>,
        threshold: Option<Value>,
    ) {
        self.report.borrow_mut().checks.push(CheckRecord {
            name: name.to_string(),
            ok: status == CheckStatus::Ok,
            status,
            detail: detail.to_string(),
            value,
            threshold,
        });
    }

    /// Add a printed line to the report (and echo it when in human mode).
    pub fn record_output(&self, line: &str) {
        if self.echo_output {
            println!("{line}");
        }
        self.report.borrow_mut().output.push(line.to_string());
    }

    pub(crate) fn report_effect(&self, action: &str, target: &str, outcome: Outcome, detail: &str) {
        self.report.borrow_mut().effects.push(EffectRecord {
            action: action.to_string(),
            target: target.to_string(),
            outcome: outcome.as_str().to_string(),
            detail: detail.to_string(),
        });
    }

    /// Ask before an effect when the context wants confirmation (interactive sessions).
    pub(crate) fn confirm_effect(&self, action: &str, target: &str) -> Result<bool> {
        if !self.confirm_effects || self.yes {
            return Ok(true);
        }
        self.ask(&format!("run effect {action} on {target}?"))
    }

    /// Ask a yes/no question on the terminal. Without a terminal: true only with `--yes`.
    pub fn ask(&self, question: &str) -> Result<bool> {
        if self.yes {
            return Ok(true);
        }
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            return Ok(false);
        }
        eprint!("{question} [y/N] ");
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| Error::io("reading answer", "<stdin>", e))?;
        Ok(matches!(
            line.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
    }
}
