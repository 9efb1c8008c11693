//! Outputs for monitoring systems: the Nagios plugin format (`--format nagios`) and the
//! node_exporter textfile-collector format (`--prom-textfile PATH`).

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use crate::report::{CheckStatus, Report, Status};

/// Nagios plugin exit codes (Nagios Plugin Development Guidelines, "Plugin Return Codes").
pub const NAGIOS_OK: i32 = 0;
pub const NAGIOS_WARNING: i32 = 1;
pub const NAGIOS_CRITICAL: i32 = 2;
pub const NAGIOS_UNKNOWN: i32 = 3;

/// The Nagios state of a run: OK when every check passed, CRITICAL when one failed, WARNING
/// when none failed but some were unknown among passing ones, UNKNOWN when nothing was decided
/// or the run itself did not work (script error, limit, denial).
pub fn nagios_code(report: &Report) -> i32 {
    match report.status {
        Status::Ok => NAGIOS_OK,
        Status::Failed => NAGIOS_CRITICAL,
        Status::Inconclusive if report.count(CheckStatus::Ok) > 0 => NAGIOS_WARNING,
        _ => NAGIOS_UNKNOWN,
    }
}

fn nagios_word(code: i32) -> &'static str {
    match code {
        NAGIOS_OK => "OK",
        NAGIOS_WARNING => "WARNING",
        NAGIOS_CRITICAL => "CRITICAL",
        _ => "UNKNOWN",
    }
}

/// A perfdata label: quoted, `'` and `=` replaced (the guidelines forbid both).
fn perf_label(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c == '\'' || c == '=' || c == '|' {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("'{clean}'")
}

fn number(v: &Option<Value>) -> Option<f64> {
    match v {
        Some(Value::Number(n)) => n.as_f64(),
        _ => None,
    }
}

/// Write the plugin output: `RUNBOOK STATUS - summary | perfdata` on the first line, one line
/// per check after it (long output). Returns the plugin exit code.
pub fn write_nagios(out: &mut dyn Write, report: &Report) -> std::io::Result<i32> {
    let code = nagios_code(report);
    let failed: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Failed)
        .map(|c| c.name.as_str())
        .collect();
    let unknown = report.count(CheckStatus::Unknown);
    let mut summary = format!(
        "{} of {} check(s) ok",
        report.count(CheckStatus::Ok),
        report.checks.len()
    );
    if !failed.is_empty() {
        summary.push_str(&format!("; failed: {}", failed.join(", ")));
    }
    if unknown > 0 {
        summary.push_str(&format!("; {unknown} unknown"));
    }
    if let Some(e) = &report.error {
        summary = format!("{summary}; error: {e}");
    }
    // The first line must stay one line and must not contain '|' outside the perfdata.
    let summary = summary.replace(['\n', '\r'], " ").replace('|', "/");
    let mut perf = vec![format!(
        "'duration'={:.3}s",
        report.duration_ms as f64 / 1000.0
    )];
    for c in &report.checks {
        if let Some(v) = number(&c.value) {
            let crit = number(&c.threshold)
                .map(|t| t.to_string())
                .unwrap_or_default();
            perf.push(format!("{}={v};;{crit}", perf_label(&c.name)));
        }
    }
    writeln!(
        out,
        "{} {} - {summary} | {}",
        report.runbook.to_uppercase(),
        nagios_word(code),
        perf.join(" ")
    )?;
    for c in &report.checks {
        let detail = c.detail.replace(['\n', '\r'], " ").replace('|', "/");
        writeln!(
            out,
            "[{}] {}: {detail}",
            c.status.as_str(),
            c.name.replace('|', "/")
        )?;
    }
    Ok(code)
}

/// Escape a Prometheus label value (backslash, double quote, newline).
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The textfile-collector exposition of `report` (text format 0.0.4): per check
/// `runbook_check_status` (0 ok, 1 failed, 2 unknown) and `runbook_check_value` (numeric
/// values only), per run `runbook_run_duration_seconds`, `runbook_run_exit_code` and
/// `runbook_run_timestamp_seconds`. A check name recorded twice keeps its last record.
pub fn prom_text(report: &Report) -> String {
    let rb = label_value(&report.runbook);
    let mut last: Vec<&crate::report::CheckRecord> = Vec::new();
    for c in report.checks.iter().rev() {
        if !last.iter().any(|l| l.name == c.name) {
            last.push(c);
        }
    }
    last.reverse();
    let mut s = String::new();
    s.push_str(
        "# HELP runbook_check_status State of a runbook check: 0 ok, 1 failed, 2 unknown.\n",
    );
    s.push_str("# TYPE runbook_check_status gauge\n");
    for c in &last {
        let v = match c.status {
            CheckStatus::Ok => 0,
            CheckStatus::Failed => 1,
            CheckStatus::Unknown => 2,
        };
        s.push_str(&format!(
            "runbook_check_status{{runbook=\"{rb}\",check=\"{}\"}} {v}\n",
            label_value(&c.name)
        ));
    }
    s.push_str("# HELP runbook_check_value Measured value of a runbook check.\n");
    s.push_str("# TYPE runbook_check_value gauge\n");
    for c in &last {
        if let Some(v) = number(&c.value) {
            s.push_str(&format!(
                "runbook_check_value{{runbook=\"{rb}\",check=\"{}\"}} {v}\n",
                label_value(&c.name)
            ));
        }
    }
    s.push_str("# HELP runbook_run_duration_seconds Duration of the last run.\n");
    s.push_str("# TYPE runbook_run_duration_seconds gauge\n");
    s.push_str(&format!(
        "runbook_run_duration_seconds{{runbook=\"{rb}\"}} {}\n",
        report.duration_ms as f64 / 1000.0
    ));
    s.push_str("# HELP runbook_run_exit_code Exit code of the last run.\n");
    s.push_str("# TYPE runbook_run_exit_code gauge\n");
    s.push_str(&format!(
        "runbook_run_exit_code{{runbook=\"{rb}\"}} {}\n",
        report.exit_code
    ));
    s.push_str("# HELP runbook_run_timestamp_seconds Start of the last run, Unix seconds.\n");
    s.push_str("# TYPE runbook_run_timestamp_seconds gauge\n");
    let ts = crate::timefmt::parse_ms(&report.started).unwrap_or(0) as f64 / 1000.0;
    s.push_str(&format!(
        "runbook_run_timestamp_seconds{{runbook=\"{rb}\"}} {ts}\n"
    ));
    s
}

/// Write [`prom_text`] to `path` atomically: a temporary file in the same folder, then rename.
pub fn write_prom_textfile(path: &Path, report: &Report) -> crate::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".runbook-prom-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| crate::Error::io("creating textfile", dir, e))?;
    tmp.write_all(prom_text(report).as_bytes())
        .map_err(|e| crate::Error::io("writing textfile", tmp.path(), e))?;
    // node_exporter runs as another user: the file must be readable.
    let _ = std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    );
    tmp.persist(path)
        .map_err(|e| crate::Error::io("renaming textfile", path, e.error))?;
    Ok(())
}
