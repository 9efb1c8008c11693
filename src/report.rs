//! The report of one run: checks, effects, printed output, status; rendered for humans or as
//! the one JSON document of `--json` (keys in README, "JSON report").

use std::io::Write;

use serde::Serialize;
use serde_json::{Map, Value};

/// The state of one check: passed, failed, or not decided because the data was missing.
///
/// A check never passes on data it did not have: a value of `()` or `unknown(name, reason)`
/// makes it [`CheckStatus::Unknown`], which is its own state in the report, the exit code
/// ([`EXIT_INCONCLUSIVE`]) and the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    #[default]
    Ok,
    Failed,
    Unknown,
}

impl CheckStatus {
    /// The word of the JSON report and the history: `ok`, `failed` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Failed => "failed",
            CheckStatus::Unknown => "unknown",
        }
    }

    /// `Ok` for true, `Failed` for false.
    pub fn from_bool(ok: bool) -> Self {
        if ok {
            CheckStatus::Ok
        } else {
            CheckStatus::Failed
        }
    }
}

/// Exit code of a run that finished with no failed check but with at least one `unknown`
/// check, or with no check at all in a runbook that is not `@action` (README, "Exit codes").
pub const EXIT_INCONCLUSIVE: i32 = 6;

/// One `check(name, ok, detail)` call.
///
/// `ok` is kept for compatibility (true only when `status` is `ok`); `status` is the
/// three-valued state.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRecord {
    pub name: String,
    pub ok: bool,
    pub status: CheckStatus,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Value>,
}

/// One effect, with its outcome (`done`, `planned`, `would_fail`, `denied`, `failed`,
/// `interrupted`).
#[derive(Debug, Clone, Serialize)]
pub struct EffectRecord {
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
    /// Caused by a compensation (`on_failure`) run after the run failed; serialized only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub compensation: bool,
}

/// Final status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Ok,
    Failed,
    Error,
    Denied,
    Limit,
    /// Stopped by Ctrl-C (exit 3, like a limit).
    Interrupted,
    /// No check failed, but at least one was `unknown` (or none was made): exit 6.
    Inconclusive,
}

impl Status {
    /// The status word of the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Error => "error",
            Status::Denied => "denied",
            Status::Limit => "limit",
            Status::Interrupted => "interrupted",
            Status::Inconclusive => "inconclusive",
        }
    }

    /// Status for an exit code (see README, "Exit codes").
    pub fn from_exit_code(code: i32) -> Status {
        match code {
            0 => Status::Ok,
            1 => Status::Failed,
            3 => Status::Limit,
            4 => Status::Denied,
            EXIT_INCONCLUSIVE => Status::Inconclusive,
            _ => Status::Error,
        }
    }
}

/// Everything collected during a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub runbook: String,
    pub params: Map<String, Value>,
    pub checks: Vec<CheckRecord>,
    pub effects: Vec<EffectRecord>,
    pub output: Vec<String>,
    pub started: String,
    pub duration_ms: u64,
    pub status: Status,
    pub exit_code: i32,
    pub error: Option<String>,
    /// The kind of the error that ended the run (typed; `error_kind` in the JSON).
    pub error_kind: Option<crate::error::ErrorKind>,
    /// Printed lines not kept because the output cap was reached.
    pub output_dropped: u64,
    /// Compensations that failed, one message each (`file:line: error`).
    pub compensation_errors: Vec<String>,
}

impl Report {
    /// End the report with an error of `kind`: its exit code, its status (`interrupted` for
    /// Ctrl-C, else by exit code), the message.
    pub fn fail(&mut self, kind: crate::error::ErrorKind, message: String) {
        self.exit_code = kind.exit_code();
        self.status = match kind {
            crate::error::ErrorKind::Interrupted => Status::Interrupted,
            _ => Status::from_exit_code(self.exit_code),
        };
        self.error_kind = Some(kind);
        self.error = Some(message);
    }

    /// Whether every check passed.
    pub fn all_checks_ok(&self) -> bool {
        self.checks.iter().all(|c| c.status == CheckStatus::Ok)
    }

    /// Number of checks in `status`.
    pub fn count(&self, status: CheckStatus) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// Exit code of a script that finished without error: 1 when a check failed, else
    /// [`EXIT_INCONCLUSIVE`] when a check was unknown or (unless `action_only`) none was made,
    /// else 0.
    pub fn finished_exit_code(&self, action_only: bool) -> i32 {
        if self.count(CheckStatus::Failed) > 0 {
            1
        } else if self.count(CheckStatus::Unknown) > 0 || (self.checks.is_empty() && !action_only) {
            EXIT_INCONCLUSIVE
        } else {
            0
        }
    }

    /// The JSON document of `--json`.
    pub fn to_json(&self) -> Value {
        let mut doc = serde_json::json!({
            "runbook": self.runbook,
            "params": self.params,
            "status": self.status.as_str(),
            "exit_code": self.exit_code,
            "checks": self.checks,
            "effects": self.effects,
            "output": self.output,
            "started": self.started,
            "duration_ms": self.duration_ms,
        });
        if let Some(e) = &self.error {
            doc["error"] = Value::String(e.clone());
        }
        if let Some(k) = self.error_kind {
            doc["error_kind"] = Value::String(k.as_str().into());
        }
        doc["output_truncated"] = Value::Bool(self.output_dropped > 0);
        if self.output_dropped > 0 {
            doc["output_dropped_lines"] = self.output_dropped.into();
        }
        if !self.compensation_errors.is_empty() {
            doc["compensation_errors"] = serde_json::json!(self.compensation_errors);
        }
        doc
    }

    /// Human rendering: checks table, effects, then the status line on stderr.
    /// Printed output was already echoed while the script ran.
    pub fn render_human(
        &self,
        out: &mut dyn Write,
        err: &mut dyn Write,
        color: bool,
    ) -> std::io::Result<()> {
        let paint = |code: &str, s: &str| {
            if color {
                format!("\x1b[{code}m{s}\x1b[0m")
            } else {
                s.to_string()
            }
        };
        if !self.checks.is_empty() {
            writeln!(out)?;
            writeln!(out, "Checks")?;
            let width = self
                .checks
                .iter()
                .map(|c| c.name.chars().count())
                .max()
                .unwrap_or(0);
            for c in &self.checks {
                let mark = match c.status {
                    CheckStatus::Ok => paint("32", "✓"),
                    CheckStatus::Failed => paint("31", "✗"),
                    CheckStatus::Unknown => paint("33", "?"),
                };
                let pad = width - c.name.chars().count();
                writeln!(out, "  {mark} {}{}  {}", c.name, " ".repeat(pad), c.detail)?;
            }
        }
        if !self.effects.is_empty() {
            writeln!(out)?;
            writeln!(out, "Effects")?;
            for e in &self.effects {
                let word = match e.outcome.as_str() {
                    "done" => paint("32", "done"),
                    "planned" => paint("36", "planned"),
                    other => paint("31", other),
                };
                let detail = if e.detail.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", e.detail)
                };
                let undo = if e.compensation { "undo: " } else { "" };
                writeln!(out, "  {word:<8} {undo}{} {}{detail}", e.action, e.target)?;
            }
        }
        let failed = self.count(CheckStatus::Failed);
        let unknown = self.count(CheckStatus::Unknown);
        let unknown_part = if unknown > 0 {
            format!(", {unknown} unknown")
        } else {
            String::new()
        };
        let none_part = if self.checks.is_empty() && self.status == Status::Inconclusive {
            " (nothing was measured)"
        } else {
            ""
        };
        let summary = format!(
            "{}: {} in {} ms — {} check(s){none_part}, {} failed{unknown_part}, {} effect(s)",
            self.runbook,
            self.status.as_str(),
            self.duration_ms,
            self.checks.len(),
            failed,
            self.effects.len()
        );
        let summary = match self.status {
            Status::Ok => paint("32", &summary),
            Status::Inconclusive => paint("33", &summary),
            _ => paint("31", &summary),
        };
        if let Some(e) = &self.error {
            writeln!(err, "error: {e}")?;
        }
        for c in &self.compensation_errors {
            writeln!(
                err,
                "{}",
                paint(
                    "1;31",
                    &format!("COMPENSATION FAILED (undo incomplete): {c}")
                )
            )?;
        }
        let would_fail = self
            .effects
            .iter()
            .filter(|e| e.outcome == "would_fail")
            .count();
        if would_fail > 0 {
            writeln!(
                err,
                "{}",
                paint(
                    "33",
                    &format!("dry run: {would_fail} effect(s) would fail (see Effects)")
                )
            )?;
        }
        writeln!(err, "{summary}")?;
        Ok(())
    }
}
