//! The report of one run: checks, effects, printed output, status; rendered for humans or as
//! the one JSON document of `--json` (keys in README, "JSON report").

use std::io::Write;

use serde::Serialize;
use serde_json::{Map, Value};

/// One `check(name, ok, detail)` call.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRecord {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Value>,
}

/// One effect, with its outcome (`done`, `planned`, `denied`, `failed`, `interrupted`).
#[derive(Debug, Clone, Serialize)]
pub struct EffectRecord {
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
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
        }
    }

    /// Status for an exit code (see README, "Exit codes").
    pub fn from_exit_code(code: i32) -> Status {
        match code {
            0 => Status::Ok,
            1 => Status::Failed,
            3 => Status::Limit,
            4 => Status::Denied,
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
}

impl Report {
    /// Whether every check passed.
    pub fn all_checks_ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
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
                let mark = if c.ok {
                    paint("32", "✓")
                } else {
                    paint("31", "✗")
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
                writeln!(out, "  {word:<8} {} {}{detail}", e.action, e.target)?;
            }
        }
        let failed = self.checks.iter().filter(|c| !c.ok).count();
        let summary = format!(
            "{}: {} in {} ms — {} check(s), {} failed, {} effect(s)",
            self.runbook,
            self.status.as_str(),
            self.duration_ms,
            self.checks.len(),
            failed,
            self.effects.len()
        );
        let summary = match self.status {
            Status::Ok => paint("32", &summary),
            _ => paint("31", &summary),
        };
        if let Some(e) = &self.error {
            writeln!(err, "error: {e}")?;
        }
        writeln!(err, "{summary}")?;
        Ok(())
    }
}
