//! `[[notify]]`: webhooks sent when a check's state changes, like Gatus' alerting.
//!
//! After a run is recorded, each check of the run that an entry covers is compared with its
//! history: a *firing* message goes out when the check has failed exactly `after` times in a
//! row (so once per outage, none while it keeps failing), a *resolved* message (with
//! `resolved = true`) when it is ok again after such a streak. `unknown` samples neither count
//! nor break a streak. Each message is an effect (`notify.webhook`): the policy's `http_hosts`
//! decides, it is audited, and under `--dry-run` it is only planned. A failed delivery is
//! retried once within the entry's timeout and is a warning — never a failed run.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::ctx::Ctx;
use crate::effects::Need;
use crate::error::{Error, Result};
use crate::history::Store;
use crate::report::{CheckStatus, Report};

pub use crate::policy::NotifySpec;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The check just reached `after` failures in a row.
    Firing,
    /// The check is ok after at least `after` failures in a row.
    Resolved,
}

/// Decide from the newest decided statuses (0 ok / 1 failed, newest first, the current run's
/// first; at least `after + 1` asked for) whether a message is due.
pub fn transition(newest_first: &[i64], after: usize, resolved: bool) -> Option<Change> {
    let cur = *newest_first.first()?;
    if cur == 1 {
        let streak = newest_first.iter().take_while(|s| **s == 1).count();
        (streak == after).then_some(Change::Firing)
    } else if resolved
        && newest_first.len() > after
        && newest_first[1..=after].iter().all(|s| *s == 1)
    {
        Some(Change::Resolved)
    } else {
        None
    }
}

fn covers(patterns: &[String], name: &str) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => p == name,
        })
}

/// The message body for one change.
pub fn body(
    spec: &NotifySpec,
    report: &Report,
    check: &crate::report::CheckRecord,
    change: Change,
) -> Value {
    let state = match change {
        Change::Firing => "failed",
        Change::Resolved => "resolved",
    };
    let host = crate::history::store::hostname();
    if spec.format == "slack" {
        let icon = match change {
            Change::Firing => ":red_circle:",
            Change::Resolved => ":large_green_circle:",
        };
        json!({
            "text": format!("{icon} {} — {} {state} on {host}: {}", report.runbook, check.name, check.detail),
        })
    } else {
        json!({
            "runbook": report.runbook,
            "check": check.name,
            "state": state,
            "status": check.status.as_str(),
            "detail": check.detail,
            "value": check.value,
            "threshold": check.threshold,
            "after": spec.after,
            "host": host,
            "time": crate::timefmt::now_rfc3339(),
        })
    }
}

/// Send the messages due for `report` (already recorded in `store`) through the effect gate of
/// `ctx`. Returns warnings (deliveries that failed); effects land in `ctx`'s report.
pub fn send_due(ctx: &Ctx, store: &Store, entries: &[NotifySpec], report: &Report) -> Vec<String> {
    let mut warnings = Vec::new();
    for spec in entries {
        if !spec.runbooks.is_empty() && !spec.runbooks.iter().any(|r| r == &report.runbook) {
            continue;
        }
        let mut seen = std::collections::BTreeSet::new();
        // The last record of each name in this run decides.
        for check in report.checks.iter().rev() {
            if !seen.insert(check.name.clone()) || !covers(&spec.checks, &check.name) {
                continue;
            }
            if check.status == CheckStatus::Unknown {
                continue;
            }
            let after = spec.after as usize;
            let hist = match crate::history::query::last_decided(store, &check.name, after + 1) {
                Ok(h) => h,
                Err(e) => {
                    warnings.push(format!("notify: reading history of {:?}: {e}", check.name));
                    continue;
                }
            };
            let Some(change) = transition(&hist, after, spec.resolved) else {
                continue;
            };
            if let Err(e) = deliver(
                ctx,
                spec,
                &body(spec, report, check, change),
                &check.name,
                change,
            ) {
                warnings.push(format!("notify: {e}"));
            }
        }
    }
    warnings
}

/// POST `body` to the entry's URL as the effect `notify.webhook`; one retry within the timeout.
fn deliver(ctx: &Ctx, spec: &NotifySpec, body: &Value, check: &str, change: Change) -> Result<()> {
    let (u, host) =
        crate::host::http::parse_url(&spec.url).map_err(|e| Error::failed(e.message))?;
    let target = format!(
        "{}://{}{}",
        u.scheme(),
        u.host_str().unwrap_or(&host),
        u.port().map(|p| format!(":{p}")).unwrap_or_default()
    );
    let args = json!({
        "check": check,
        "state": match change { Change::Firing => "failed", Change::Resolved => "resolved" },
        "format": spec.format,
    });
    let deadline = Instant::now() + Duration::from_secs(spec.timeout_s);
    ctx.effect(
        "notify.webhook",
        &target,
        args,
        &[Need::Host(host)],
        false,
        || {
            let mut last = String::new();
            for _attempt in 0..2 {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let opts = crate::host::http::RequestOpts {
                    timeout: left,
                    body: Some(crate::host::http::Body::Json(body.clone())),
                    max_body: 64 * 1024,
                    ..Default::default()
                };
                match crate::host::http::request(crate::host::http::Method::Post, &spec.url, &opts)
                {
                    Ok(r) if r.ok => return Ok(()),
                    Ok(r) => last = format!("{target} answered HTTP {}", r.status),
                    Err(e) => last = format!("{target}: {}", e.message),
                }
            }
            if last.is_empty() {
                last = format!("{target}: no answer within {} s", spec.timeout_s);
            }
            Err(Error::failed(last))
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_per_streak_and_resolves_after_it() {
        // after = 2: ok, fail → nothing; fail, fail → fire; third fail → nothing.
        assert_eq!(transition(&[1, 0, 0], 2, true), None);
        assert_eq!(transition(&[1, 1, 0], 2, true), Some(Change::Firing));
        assert_eq!(transition(&[1, 1], 2, true), Some(Change::Firing));
        assert_eq!(transition(&[1, 1, 1], 2, true), None);
        // Recovery after a streak that fired; not after a short one; not without `resolved`.
        assert_eq!(transition(&[0, 1, 1], 2, true), Some(Change::Resolved));
        assert_eq!(transition(&[0, 1, 0], 2, true), None);
        assert_eq!(transition(&[0, 1, 1], 2, false), None);
        assert_eq!(transition(&[0, 0, 0], 2, true), None);
        assert_eq!(transition(&[], 2, true), None);
    }

    #[test]
    fn patterns() {
        assert!(covers(&[], "x"));
        assert!(covers(
            &["svc healthy*".into()],
            "svc healthy after restart"
        ));
        assert!(!covers(&["disk".into()], "disk usage"));
    }
}
