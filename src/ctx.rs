//! The context of one run (or one REPL session): configuration, flags, cancellation, the
//! report being collected and the audit log.
//!
//! Rhai host functions reach it through [`with_ctx`]: the runner installs the context in a
//! thread-local for the thread that evaluates the script, so every module function sees the
//! policy, the dry-run flag and the report of the run it belongs to.

use std::cell::{Cell, RefCell};
use std::io::IsTerminal;
use std::rc::Rc;
use std::sync::Arc;

use serde_json::Value;

use crate::audit::{AuditLog, Outcome};
use crate::cancel::Cancel;
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
    /// This context runs the compensations of a failed run: effects are audited and reported
    /// with `compensation: true` and do not count against `policy.max_effects`.
    pub compensating: bool,
    /// Effects (not read-only ones, not compensations) that passed the policy so far.
    pub effects_used: Cell<u64>,
    /// Sequence number of the last effect that acted; pairs `started` and outcome records.
    pub effect_seq: Cell<u64>,
    /// Compensations registered by `on_failure`, oldest first.
    pub compensations: RefCell<Vec<Compensation>>,
    /// Printed lines and bytes kept in the report so far (capped by the policy).
    output_lines: Cell<u64>,
    output_bytes: Cell<u64>,
}

/// One `on_failure(closure)` registration: the closure and where it was registered.
#[derive(Debug, Clone)]
pub struct Compensation {
    /// The closure to call (no arguments).
    pub closure: rhai::FnPtr,
    /// `file:line` of the `on_failure` call, for messages.
    pub registered_at: String,
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
            compensating: false,
            effects_used: Cell::new(0),
            effect_seq: Cell::new(0),
            compensations: RefCell::new(Vec::new()),
            output_lines: Cell::new(0),
            output_bytes: Cell::new(0),
        }
    }

    /// The context in which the compensations of this (failed) run are called: same run id,
    /// policy, flags, audit log and report (moved over), a fresh `cancel` (its own budget, so
    /// the deadline or Ctrl-C that ended the run does not stop the undo), marked `compensating`.
    pub fn for_compensation(&self, cancel: Cancel) -> Ctx {
        let mut c = Ctx::new(self.config.clone(), &self.runbook, cancel);
        c.dry_run = self.dry_run;
        c.yes = self.yes;
        c.confirm_effects = self.confirm_effects;
        c.run_id = self.run_id.clone();
        c.echo_output = self.echo_output;
        c.compensating = true;
        c.effect_seq.set(self.effect_seq.get());
        c.output_lines.set(self.output_lines.get());
        c.output_bytes.set(self.output_bytes.get());
        *c.report.borrow_mut() = self.report.take();
        c
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

    /// Add a printed line to the report (and echo it when in human mode), up to
    /// `policy.max_output_lines` lines and `policy.max_output_bytes` bytes; past either cap the
    /// line is only counted (`output_dropped`), and one notice is printed in human mode.
    pub fn record_output(&self, line: &str) {
        let p = &self.config.policy;
        let lines = self.output_lines.get() + 1;
        let bytes = self.output_bytes.get() + line.len() as u64 + 1;
        if lines > p.max_output_lines || bytes > p.max_output_bytes {
            let mut r = self.report.borrow_mut();
            if r.output_dropped == 0 && self.echo_output {
                println!(
                    "… output truncated: more than {} lines or {} bytes were printed (policy.max_output_lines / max_output_bytes); further lines are counted, not kept",
                    p.max_output_lines, p.max_output_bytes
                );
            }
            r.output_dropped += 1;
            return;
        }
        self.output_lines.set(lines);
        self.output_bytes.set(bytes);
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
            compensation: self.compensating,
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
