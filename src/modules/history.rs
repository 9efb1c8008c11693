//! `history::` — what earlier runs recorded: runs, check series, availability, streaks,
//! incidents and downtime (see `src/history`).

use rhai::Dynamic;
use rhai::plugin::*;

use crate::error::{Error, Result};

/// At most this many samples or runs come back from one call (scripts' values are bounded).
pub const MAX_ROWS: usize = 100_000;

/// A window given as a duration string (`"7d"`) or whole seconds → the start, Unix ms.
fn since_ms(func: &str, window: &Dynamic) -> Result<i64> {
    let secs: i64 = if let Some(s) = window.read_lock::<rhai::ImmutableString>() {
        crate::timefmt::parse_duration_s(s.as_str())
            .map_err(|e| Error::Usage(format!("{func}: window {e}")))? as i64
    } else if let Ok(i) = window.as_int() {
        if i < 0 {
            return Err(Error::Usage(format!(
                "{func}: window must not be negative, got {i}"
            )));
        }
        i
    } else {
        return Err(Error::Usage(format!(
            "{func}: window must be a duration (\"7d\") or seconds, got {}",
            window.type_name()
        )));
    };
    Ok(crate::history::store::now_ms().saturating_sub(secs.saturating_mul(1000)))
}

fn status_code(func: &str, status: &str) -> Result<i64> {
    match status {
        "ok" => Ok(0),
        "failed" => Ok(1),
        "unknown" => Ok(2),
        other => Err(Error::Usage(format!(
            "{func}: status must be \"ok\", \"failed\" or \"unknown\", got {other:?}"
        ))),
    }
}

fn with_store<T>(
    ncc: &NativeCallContext,
    f: impl FnOnce(&crate::ctx::Ctx, &crate::history::Store) -> Result<T>,
) -> Result<T, Box<EvalAltResult>> {
    crate::modules::host(ncc, |c| {
        let store = crate::history::open_read(&c.config)?;
        f(c, &store)
    })
}

fn db(e: rusqlite::Error) -> Error {
    crate::history::query::db_err(e)
}

#[export_module]
pub mod history_module {
    use super::*;
    use crate::error::RhaiResult;
    use crate::history::query;

    /// Recorded runs of `runbook` (`""` for every runbook) within `window`, newest first
    /// (at most 100 000).
    ///
    /// * `runbook` — runbook name, or `""`.
    /// * `window` — how far back: a duration (`"7d"`) or seconds.
    ///
    /// Returns an array of maps: `id`, `runbook`, `status`, `exit_code`, `started` (RFC 3339),
    /// `duration_ms`, `user`, `host`, `params`, `checks`, `failed`, `unknown`, `dry_run`, `error`.
    ///
    /// Throws when the window is not a duration, or no history exists yet / it cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// let last = history::runs("", "1d");
    /// print(`${last.len()} runs today`);
    /// for r in last { if r.failed > 0 { print(`${r.started} ${r.runbook}: ${r.failed} failed`); } }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn runs(ncc: NativeCallContext, runbook: &str, window: Dynamic) -> RhaiResult<Dynamic> {
        let rows = with_store(&ncc, |_, s| {
            let since = since_ms("history::runs", &window)?;
            let rb = (!runbook.is_empty()).then_some(runbook);
            query::runs(s, rb, since, MAX_ROWS).map_err(db)
        })?;
        crate::modules::to_dynamic(&rows)
    }

    /// Samples of a check within `window`, oldest first (the newest 100 000 at most).
    ///
    /// * `check` — the check's name, or a prefix ending in `*` (`"lowcode-platform healthy*"`).
    /// * `window` — a duration (`"7d"`) or seconds.
    ///
    /// Returns an array of maps: `at` (RFC 3339, end of the run), `name`, `status`
    /// (`ok`|`failed`|`unknown`), `value` (number or `()`), `detail`, `runbook`.
    ///
    /// Throws when the window is not a duration or the history cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// for s in history::series("平均响应时间 average response", "24h") { print(`${s.at} ${s.value}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn series(ncc: NativeCallContext, check: &str, window: Dynamic) -> RhaiResult<Dynamic> {
        let rows = with_store(&ncc, |_, s| {
            let since = since_ms("history::series", &window)?;
            query::series(s, check, since, MAX_ROWS).map_err(db)
        })?;
        crate::modules::to_dynamic(&rows)
    }

    /// Availability of a check over `window`: the share of `ok` among `ok` + `failed` samples
    /// (`unknown` samples are counted but decide nothing).
    ///
    /// * `check` — name, or prefix ending in `*`.
    /// * `window` — a duration (`"30d"`) or seconds.
    ///
    /// Returns a map: `availability_pct` (float, `()` with no decided sample), `samples`, `ok`,
    /// `failed`, `unknown`, `first`, `last`, `span_s` (seconds the samples cover), `interval_s`
    /// (median seconds between samples), `gaps` (intervals over 3× the median), `gap_s`.
    ///
    /// Throws when the window is not a duration or the history cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// import "checks" as checks;
    /// let a = history::availability("lowcode-platform healthy*", "30d");
    /// checks::above("服务可用性 availability", a.availability_pct, 99.9, "%");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn availability(
        ncc: NativeCallContext,
        check: &str,
        window: Dynamic,
    ) -> RhaiResult<Dynamic> {
        let a = with_store(&ncc, |_, s| {
            let since = since_ms("history::availability", &window)?;
            query::availability(s, check, since).map_err(db)
        })?;
        crate::modules::to_dynamic(&a)
    }

    /// How many of the newest samples of `check` in a row have `status` — Monit's "for N cycles".
    ///
    /// * `check` — name, or prefix ending in `*`.
    /// * `status` — `"ok"`, `"failed"` or `"unknown"`.
    ///
    /// Returns an int (0 when the newest sample has another status or there is none).
    ///
    /// Throws on another status word or when the history cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// if history::consecutive("磁盘使用率 disk", "failed") >= 3 { print("disk full for 3 runs"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn consecutive(ncc: NativeCallContext, check: &str, status: &str) -> RhaiResult<i64> {
        with_store(&ncc, |_, s| {
            let code = status_code("history::consecutive", status)?;
            query::consecutive(s, check, code).map_err(db)
        })
    }

    /// Incidents of an inventory service within `window`, from the history (health checks
    /// named `SERVICE healthy…`) and the audit log (`service.restart` effects): when trouble was
    /// first seen, the restarts, when health was ok again, and the time to recover.
    /// Health checks during planned downtime (a stop until the next start) do not count.
    ///
    /// * `service` — the service's inventory name.
    /// * `window` — a duration (`"30d"`) or seconds.
    ///
    /// Returns an array of maps: `service`, `started`, `restarts` (array of times), `recovered`
    /// (`()` while open), `recovery_s` (float seconds, `()` while open), `failed_checks`,
    /// `runbooks`.
    ///
    /// Throws when the window is not a duration, or the history or audit log cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// let inc = history::incidents("lowcode-platform", "30d");
    /// for i in inc {
    ///     if i.recovered == () { print(`${i.started}: still open, ${i.restarts.len()} restarts`); }
    ///     else { print(`${i.started}: recovered in ${i.recovery_s} s`); }
    /// }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn incidents(
        ncc: NativeCallContext,
        service: &str,
        window: Dynamic,
    ) -> RhaiResult<Dynamic> {
        let v = with_store(&ncc, |c, s| {
            let since = since_ms("history::incidents", &window)?;
            query::incidents(s, &c.config.audit_path(), service, since)
        })?;
        crate::modules::to_dynamic(&v)
    }

    /// Downtime of an inventory service within `window`: planned (from each `service.stop` to the
    /// next `service.start`/`restart` in the audit log — e.g. maintenance-mode on/off) and
    /// unplanned (incidents, first failure to recovery).
    ///
    /// * `service` — the service's inventory name.
    /// * `window` — a duration (`"30d"`) or seconds.
    ///
    /// Returns a map: `service`, `window_s`, `planned_s`, `unplanned_s` (float seconds),
    /// `planned` and `unplanned` (arrays of `#{from, to, seconds, ongoing}`).
    ///
    /// Throws when the window is not a duration, or the history or audit log cannot be read.
    ///
    /// Example:
    /// ```rhai
    /// import "checks" as checks;
    /// let d = history::downtime("lowcode-platform", "30d");
    /// checks::below("计划内停机时间 planned downtime", d.planned_s / 3600.0, 2.0, " h");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn downtime(ncc: NativeCallContext, service: &str, window: Dynamic) -> RhaiResult<Dynamic> {
        let v = with_store(&ncc, |c, s| {
            let since = since_ms("history::downtime", &window)?;
            query::downtime(s, &c.config.audit_path(), service, since)
        })?;
        crate::modules::to_dynamic(&v)
    }
}
