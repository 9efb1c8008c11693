//! Reading the history: runs, check series, availability, streaks, incidents and downtime.
//!
//! All times are Unix milliseconds UTC in and RFC 3339 strings out. A *check pattern* is an
//! exact check name, or a prefix followed by `*` (`"lowcode-platform healthy*"`).

use std::path::Path;

use rusqlite::params;
use serde::Serialize;
use serde_json::Value;

use super::store::{Store, ms_to_rfc3339, parse_ms, status_word};

/// Upper bound for a prefix range: every name starting with the prefix sorts below this.
const PREFIX_END: char = '\u{10FFFF}';

/// `(low, high)` of the name range a pattern covers; for an exact name both are the name.
fn name_range(pattern: &str) -> (String, String, bool) {
    match pattern.strip_suffix('*') {
        Some(p) => (p.to_string(), format!("{p}{PREFIX_END}"), true),
        None => (pattern.to_string(), pattern.to_string(), false),
    }
}

/// The pattern of a service's health checks: `SERVICE healthy`, `SERVICE healthy after restart` ….
pub fn health_pattern(service: &str) -> String {
    format!("{service} healthy*")
}

/// One recorded run.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub runbook: String,
    pub status: String,
    pub exit_code: i64,
    pub started: String,
    #[serde(skip)]
    pub started_ms: i64,
    pub duration_ms: i64,
    pub user: String,
    pub host: String,
    pub params: Value,
    pub checks: i64,
    pub failed: i64,
    pub unknown: i64,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Runs since `since_ms`, newest first, of `runbook` (all when `None`), at most `limit`.
pub fn runs(
    store: &Store,
    runbook: Option<&str>,
    since_ms: i64,
    limit: usize,
) -> rusqlite::Result<Vec<RunRow>> {
    let sql = "SELECT r.id, r.runbook, r.status, r.exit_code, r.started_ms, r.duration_ms, r.user, r.host, r.params, r.dry_run, r.error,
                (SELECT count(*) FROM checks c WHERE c.run = r.id),
                (SELECT count(*) FROM checks c WHERE c.run = r.id AND c.status = 1),
                (SELECT count(*) FROM checks c WHERE c.run = r.id AND c.status = 2)
               FROM runs r WHERE r.started_ms >= ?1 AND (?2 IS NULL OR r.runbook = ?2)
               ORDER BY r.started_ms DESC, r.id DESC LIMIT ?3";
    let mut st = store.conn().prepare(sql)?;
    let rows = st.query_map(params![since_ms, runbook, limit as i64], |r| {
        let started_ms: i64 = r.get(4)?;
        let params: String = r.get(8)?;
        Ok(RunRow {
            id: r.get(0)?,
            runbook: r.get(1)?,
            status: r.get(2)?,
            exit_code: r.get(3)?,
            started: ms_to_rfc3339(started_ms),
            started_ms,
            duration_ms: r.get(5)?,
            user: r.get(6)?,
            host: r.get(7)?,
            params: serde_json::from_str(&params).unwrap_or(Value::Null),
            dry_run: r.get::<_, i64>(9)? != 0,
            error: r.get(10)?,
            checks: r.get(11)?,
            failed: r.get(12)?,
            unknown: r.get(13)?,
        })
    })?;
    rows.collect()
}

/// One sample of a check.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub at: String,
    #[serde(skip)]
    pub at_ms: i64,
    pub name: String,
    pub status: &'static str,
    pub value: Option<f64>,
    pub detail: String,
    pub runbook: String,
}

/// Samples of the checks matching `pattern` since `since_ms`, oldest first; at most `limit`
/// (the newest `limit` when there are more).
pub fn series(
    store: &Store,
    pattern: &str,
    since_ms: i64,
    limit: usize,
) -> rusqlite::Result<Vec<Sample>> {
    let (lo, hi, prefix) = name_range(pattern);
    let sql = if prefix {
        "SELECT c.at_ms, c.name, c.status, c.value, c.detail, r.runbook FROM checks c JOIN runs r ON r.id = c.run
         WHERE c.name >= ?1 AND c.name < ?2 AND c.at_ms >= ?3 ORDER BY c.at_ms DESC LIMIT ?4"
    } else {
        "SELECT c.at_ms, c.name, c.status, c.value, c.detail, r.runbook FROM checks c JOIN runs r ON r.id = c.run
         WHERE c.name = ?1 AND ?2 = ?2 AND c.at_ms >= ?3 ORDER BY c.at_ms DESC LIMIT ?4"
    };
    let mut st = store.conn().prepare(sql)?;
    let rows = st.query_map(params![lo, hi, since_ms, limit as i64], |r| {
        let at_ms: i64 = r.get(0)?;
        Ok(Sample {
            at: ms_to_rfc3339(at_ms),
            at_ms,
            name: r.get(1)?,
            status: status_word(r.get(2)?),
            value: r.get(3)?,
            detail: r.get(4)?,
            runbook: r.get(5)?,
        })
    })?;
    let mut v: Vec<Sample> = rows.collect::<rusqlite::Result<_>>()?;
    v.reverse();
    Ok(v)
}

/// `(at_ms, status)` of every sample matching `pattern` since `since_ms`, oldest first.
fn statuses(store: &Store, pattern: &str, since_ms: i64) -> rusqlite::Result<Vec<(i64, i64)>> {
    let (lo, hi, prefix) = name_range(pattern);
    let sql = if prefix {
        "SELECT at_ms, status FROM checks WHERE name >= ?1 AND name < ?2 AND at_ms >= ?3 ORDER BY at_ms"
    } else {
        "SELECT at_ms, status FROM checks WHERE name = ?1 AND ?2 = ?2 AND at_ms >= ?3 ORDER BY at_ms"
    };
    let mut st = store.conn().prepare(sql)?;
    let rows = st.query_map(params![lo, hi, since_ms], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Share of `ok` among `ok + failed` samples, with what it rests on.
#[derive(Debug, Clone, Serialize)]
pub struct Availability {
    pub check: String,
    /// Percent, `None` when there is no ok or failed sample.
    pub availability_pct: Option<f64>,
    pub samples: i64,
    pub ok: i64,
    pub failed: i64,
    pub unknown: i64,
    pub first: Option<String>,
    pub last: Option<String>,
    /// Seconds of history the samples span (first to last).
    pub span_s: i64,
    /// The median time between samples, seconds.
    pub interval_s: Option<f64>,
    /// Intervals longer than three times the median: nothing was measured then.
    pub gaps: i64,
    /// Seconds inside those gaps.
    pub gap_s: i64,
}

/// Availability of the checks matching `pattern` since `since_ms`.
pub fn availability(store: &Store, pattern: &str, since_ms: i64) -> rusqlite::Result<Availability> {
    let rows = statuses(store, pattern, since_ms)?;
    let (mut ok, mut failed, mut unknown) = (0i64, 0i64, 0i64);
    for (_, s) in &rows {
        match s {
            0 => ok += 1,
            1 => failed += 1,
            _ => unknown += 1,
        }
    }
    let mut intervals: Vec<i64> = rows.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let (mut gaps, mut gap_ms, mut median) = (0i64, 0i64, None);
    if !intervals.is_empty() {
        let mid = intervals.len() / 2;
        let (_, m, _) = intervals.select_nth_unstable(mid);
        let m = *m;
        median = Some(m as f64 / 1000.0);
        for w in rows.windows(2) {
            let d = w[1].0 - w[0].0;
            if m > 0 && d > 3 * m {
                gaps += 1;
                gap_ms += d;
            }
        }
    }
    let first = rows.first().map(|r| r.0);
    let last = rows.last().map(|r| r.0);
    Ok(Availability {
        check: pattern.to_string(),
        availability_pct: (ok + failed > 0).then(|| 100.0 * ok as f64 / (ok + failed) as f64),
        samples: rows.len() as i64,
        ok,
        failed,
        unknown,
        first: first.map(ms_to_rfc3339),
        last: last.map(ms_to_rfc3339),
        span_s: match (first, last) {
            (Some(a), Some(b)) => (b - a) / 1000,
            _ => 0,
        },
        interval_s: median,
        gaps,
        gap_s: gap_ms / 1000,
    })
}

/// How many of the newest samples of `pattern` in a row have `status` (`ok`, `failed`,
/// `unknown`) — Monit's "for N cycles".
pub fn consecutive(store: &Store, pattern: &str, status: i64) -> rusqlite::Result<i64> {
    let (lo, hi, prefix) = name_range(pattern);
    let sql = if prefix {
        "SELECT status FROM checks WHERE name >= ?1 AND name < ?2 ORDER BY at_ms DESC, rowid DESC"
    } else {
        "SELECT status FROM checks WHERE name = ?1 AND ?2 = ?2 ORDER BY at_ms DESC, rowid DESC"
    };
    let mut st = store.conn().prepare(sql)?;
    let mut rows = st.query(params![lo, hi])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        if r.get::<_, i64>(0)? != status {
            break;
        }
        n += 1;
    }
    Ok(n)
}

/// The newest `n` statuses of check `name` that are ok or failed (unknown skipped), newest first.
pub fn last_decided(store: &Store, name: &str, n: usize) -> rusqlite::Result<Vec<i64>> {
    let mut st = store.conn().prepare(
        "SELECT status FROM checks WHERE name = ?1 AND status < 2 ORDER BY at_ms DESC, rowid DESC LIMIT ?2",
    )?;
    let rows = st.query_map(params![name, n as i64], |r| r.get(0))?;
    rows.collect()
}

/// An audit record reduced to what incidents and downtime need.
#[derive(Debug, Clone)]
struct AuditEvent {
    /// When the effect finished.
    at_ms: i64,
    duration_ms: i64,
    action: String,
    runbook: String,
}

/// Done (not dry-run) `service.*` effects on `service` from the audit log, oldest first.
fn service_events(audit: &Path, service: &str) -> crate::Result<Vec<AuditEvent>> {
    let recs = crate::audit::AuditLog::read_last(audit, 0)?;
    let mut out: Vec<AuditEvent> = recs
        .iter()
        .filter(|r| {
            r["outcome"] == "done"
                && r["dry_run"] != Value::Bool(true)
                && r["target"].as_str() == Some(service)
                && r["action"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("service."))
        })
        .filter_map(|r| {
            Some(AuditEvent {
                at_ms: parse_ms(r["time"].as_str()?)?,
                duration_ms: r["duration_ms"].as_i64().unwrap_or(0),
                action: r["action"].as_str()?.to_string(),
                runbook: r["runbook"].as_str().unwrap_or("").to_string(),
            })
        })
        .collect();
    out.sort_by_key(|e| e.at_ms);
    Ok(out)
}

/// A stretch of time.
#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    pub from: String,
    pub to: String,
    pub seconds: f64,
    /// Still going on at the end of the window.
    pub ongoing: bool,
    #[serde(skip)]
    pub from_ms: i64,
    #[serde(skip)]
    pub to_ms: i64,
}

fn interval(from_ms: i64, to_ms: i64, ongoing: bool) -> Interval {
    Interval {
        from: ms_to_rfc3339(from_ms),
        to: ms_to_rfc3339(to_ms),
        seconds: (to_ms - from_ms).max(0) as f64 / 1000.0,
        ongoing,
        from_ms,
        to_ms,
    }
}

/// Planned downtime of `service`: from each `service.stop` to the next `service.start` or
/// `service.restart` (times the audit log gives for when each finished), clipped to
/// `[since_ms, now_ms]`.
fn planned(events: &[AuditEvent], since_ms: i64, now_ms: i64) -> Vec<Interval> {
    let mut out = Vec::new();
    let mut down: Option<i64> = None;
    for e in events {
        match e.action.as_str() {
            "service.stop" => {
                down.get_or_insert(e.at_ms);
            }
            "service.start" | "service.restart" | "service.reload" => {
                if let Some(d) = down.take()
                    && e.at_ms > since_ms
                {
                    out.push(interval(d.max(since_ms), e.at_ms, false));
                }
            }
            _ => {}
        }
    }
    if let Some(d) = down {
        out.push(interval(d.max(since_ms), now_ms, true));
    }
    out
}

/// One incident of a service: health went bad, maybe restarts, health ok again.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub service: String,
    /// When the trouble was first seen: the first failed health check, or the start of the run
    /// that restarted the service (it found it unhealthy).
    pub started: String,
    /// When each restart finished (audit log).
    pub restarts: Vec<String>,
    /// First ok health check afterwards (`None`: still open).
    pub recovered: Option<String>,
    /// `recovered - started`, seconds (`None`: still open).
    pub recovery_s: Option<f64>,
    pub failed_checks: i64,
    /// Runbooks that acted (restarted) during the incident.
    pub runbooks: Vec<String>,
    #[serde(skip)]
    pub started_ms: i64,
    #[serde(skip)]
    pub recovered_ms: Option<i64>,
}

/// Incidents of `service` overlapping `[since_ms, now]`, oldest first; health checks taken
/// during planned downtime do not count.
pub fn incidents(
    store: &Store,
    audit: &Path,
    service: &str,
    since_ms: i64,
) -> crate::Result<Vec<Incident>> {
    let now = super::store::now_ms();
    let events = service_events(audit, service)?;
    let planned_iv = planned(&events, i64::MIN / 2, now);
    let in_planned = |t: i64| planned_iv.iter().any(|p| t >= p.from_ms && t <= p.to_ms);
    let samples = statuses(store, &health_pattern(service), i64::MIN / 2).map_err(db_err)?;
    // Merge: 0 ok sample, 1 failed sample, 3 restart.
    let mut timeline: Vec<(i64, i64, Option<&AuditEvent>)> = samples
        .iter()
        .filter(|(t, s)| *s < 2 && !in_planned(*t))
        .map(|(t, s)| (*t, *s, None))
        .collect();
    for e in events.iter().filter(|e| e.action == "service.restart") {
        timeline.push((e.at_ms, 3, Some(e)));
    }
    timeline.sort_by_key(|(t, k, _)| (*t, if *k == 0 { 1 } else { 0 }));
    let mut out: Vec<Incident> = Vec::new();
    let mut open: Option<Incident> = None;
    for (t, kind, ev) in timeline {
        match kind {
            1 => {
                let inc = open.get_or_insert_with(|| new_incident(service, t));
                inc.failed_checks += 1;
            }
            3 => {
                let ev = ev.expect("restart event");
                if open.is_none() {
                    let began = run_containing(store, &ev.runbook, t).unwrap_or(t - ev.duration_ms);
                    open = Some(new_incident(service, began));
                }
                let inc = open.as_mut().expect("opened above");
                inc.restarts.push(ms_to_rfc3339(t));
                if !ev.runbook.is_empty() && !inc.runbooks.contains(&ev.runbook) {
                    inc.runbooks.push(ev.runbook.clone());
                }
            }
            _ => {
                if let Some(mut inc) = open.take() {
                    inc.recovered = Some(ms_to_rfc3339(t));
                    inc.recovered_ms = Some(t);
                    inc.recovery_s = Some((t - inc.started_ms) as f64 / 1000.0);
                    out.push(inc);
                }
            }
        }
    }
    out.extend(open);
    out.retain(|i| i.recovered_ms.is_none_or(|r| r >= since_ms));
    Ok(out)
}

fn new_incident(service: &str, started_ms: i64) -> Incident {
    Incident {
        service: service.to_string(),
        started: ms_to_rfc3339(started_ms),
        restarts: Vec::new(),
        recovered: None,
        recovery_s: None,
        failed_checks: 0,
        runbooks: Vec::new(),
        started_ms,
        recovered_ms: None,
    }
}

/// Start of the recorded run of `runbook` that was going on at `t`.
fn run_containing(store: &Store, runbook: &str, t: i64) -> Option<i64> {
    store
        .conn()
        .query_row(
            "SELECT started_ms FROM runs WHERE runbook = ?1 AND started_ms <= ?2 AND started_ms + duration_ms >= ?2
             ORDER BY started_ms DESC LIMIT 1",
            params![runbook, t],
            |r| r.get(0),
        )
        .ok()
}

/// Planned and unplanned downtime of a service over a window.
#[derive(Debug, Clone, Serialize)]
pub struct Downtime {
    pub service: String,
    pub window_s: i64,
    pub planned_s: f64,
    pub unplanned_s: f64,
    pub planned: Vec<Interval>,
    pub unplanned: Vec<Interval>,
}

/// Downtime of `service` since `since_ms`: planned from stop/start effects in the audit log,
/// unplanned from incidents (first failure to recovery), both clipped to the window.
pub fn downtime(
    store: &Store,
    audit: &Path,
    service: &str,
    since_ms: i64,
) -> crate::Result<Downtime> {
    let now = super::store::now_ms();
    let events = service_events(audit, service)?;
    let planned_iv = planned(&events, since_ms, now);
    let unplanned: Vec<Interval> = incidents(store, audit, service, since_ms)?
        .iter()
        .map(|i| {
            let to = i.recovered_ms.unwrap_or(now);
            interval(i.started_ms.max(since_ms), to, i.recovered_ms.is_none())
        })
        .collect();
    Ok(Downtime {
        service: service.to_string(),
        window_s: (now - since_ms) / 1000,
        planned_s: planned_iv.iter().map(|i| i.seconds).sum(),
        unplanned_s: unplanned.iter().map(|i| i.seconds).sum(),
        planned: planned_iv,
        unplanned,
    })
}

/// Names of the checks recorded since `since_ms`, with their sample counts, by name.
pub fn check_names(store: &Store, since_ms: i64) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut st = store.conn().prepare(
        "SELECT name, count(*) FROM checks WHERE at_ms >= ?1 GROUP BY name ORDER BY name",
    )?;
    let rows = st.query_map([since_ms], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// One recorded effect: `(at, runbook, action, target, outcome)`.
pub type EffectTuple = (String, String, String, String, String);

/// Effects recorded since `since_ms`, newest first, at most `limit`.
pub fn effects(store: &Store, since_ms: i64, limit: usize) -> rusqlite::Result<Vec<EffectTuple>> {
    let mut st = store.conn().prepare(
        "SELECT e.at_ms, r.runbook, e.action, e.target, e.outcome FROM effects e JOIN runs r ON r.id = e.run
         WHERE e.at_ms >= ?1 ORDER BY e.at_ms DESC LIMIT ?2",
    )?;
    let rows = st.query_map(params![since_ms, limit as i64], |r| {
        Ok((
            ms_to_rfc3339(r.get(0)?),
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
        ))
    })?;
    rows.collect()
}

/// A database error as a crate error naming the history.
pub fn db_err(e: rusqlite::Error) -> crate::Error {
    crate::Error::failed(format!("history: {e}"))
}
