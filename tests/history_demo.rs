//! History of the real demo service (Express + Winston under a private pm2): a hang healed by
//! service-unresponsive is one incident whose times agree with the audit log; maintenance-mode
//! on/off is planned downtime equal to the audit log's stop-to-start interval.
//!
//! Needs `tests/fixtures/setup.sh` (npm ci of the demo service).

mod common;

use std::time::Duration;

use common::demo::{APP, Demo, http};
use common::{CheckExt, Run, Sandbox};
use serde_json::Value;

/// `runbook run NAME --json ARGS…` in `sb`.
fn run(sb: &Sandbox, name: &str, args: &[&str]) -> Run {
    sb.run_json(name, args)
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .timestamp_millis()
}

/// Evaluate `expr` in a script and return it as JSON.
fn ask(sb: &Sandbox, expr: &str) -> Value {
    let r = sb.run_script(
        "ask",
        &format!("//! ask\n//! @action\nprint(json::to_string({expr}));\n"),
        &[],
    );
    r.no_panic().expect_code(0);
    serde_json::from_str(&r.output()[0]).unwrap()
}

fn audit_done(sb: &Sandbox, action: &str) -> Vec<Value> {
    sb.audit()
        .into_iter()
        .filter(|a| a["action"] == action && a["outcome"] == "done")
        .collect()
}

#[test]
fn a_hang_healed_by_service_unresponsive_is_one_incident() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    run(&sb, "service-unresponsive", &[]).expect_code(0);
    demo.post("/admin/hang");
    assert!(http("GET", &demo.url("/health"), Duration::from_secs(1)).is_err());
    let healed = run(&sb, "service-unresponsive", &["-p", "wait=30s"]);
    healed.no_panic().expect_code(0);
    let started = ms(healed.report["started"].as_str().unwrap());
    let ended = started + healed.report["duration_ms"].as_i64().unwrap();

    let restarts = audit_done(&sb, "service.restart");
    assert_eq!(restarts.len(), 1, "{:#?}", sb.audit());
    let restarted = ms(restarts[0]["time"].as_str().unwrap());

    let inc = ask(&sb, &format!("history::incidents(\"{APP}\", \"1h\")"));
    let inc = inc.as_array().unwrap();
    assert_eq!(inc.len(), 1, "{inc:#?}");
    let i = &inc[0];
    // Trouble was seen when the healing run started; the restart is the audit log's.
    assert_eq!(ms(i["started"].as_str().unwrap()), started, "{i:#}");
    let r: Vec<i64> = i["restarts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| ms(t.as_str().unwrap()))
        .collect();
    assert_eq!(r.len(), 1);
    assert!((r[0] - restarted).abs() < 1000, "{r:?} vs {restarted}");
    // Health was ok again after the audited restart, within a second of the run's end.
    let recovered = ms(i["recovered"].as_str().unwrap());
    assert!(recovered >= restarted, "{recovered} < {restarted}");
    assert!((recovered - ended).abs() < 1000, "{recovered} vs {ended}");
    // Recovery runs from the first sight of trouble to the first healthy sample, which came
    // after the audited restart (how long the app took to come up is the machine's business).
    let recovery_s = i["recovery_s"].as_f64().unwrap();
    let by_audit = (restarted - started) as f64 / 1000.0;
    assert!(
        recovery_s >= by_audit,
        "recovery {recovery_s} s, but the audit log says the restart was done {by_audit} s in"
    );
    assert!(
        (recovery_s * 1000.0 - (recovered - started) as f64).abs() <= 1.0,
        "recovery {recovery_s} s is not recovered - started ({} ms)",
        recovered - started
    );
    assert_eq!(i["runbooks"][0], "service-unresponsive");

    // The healthy run afterwards opens nothing new.
    run(&sb, "service-unresponsive", &[]).expect_code(0);
    assert_eq!(
        ask(&sb, &format!("history::incidents(\"{APP}\", \"1h\")"))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let a = ask(
        &sb,
        &format!("history::availability(\"{APP} healthy*\", \"1h\")"),
    );
    assert_eq!(a["samples"], 3, "{a:#}");
    assert_eq!(a["availability_pct"], 100.0, "{a:#}");
}

#[test]
fn maintenance_mode_is_planned_downtime_of_the_stop_to_start_interval() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    run(&sb, "maintenance-mode", &["-p", "action=on"])
        .no_panic()
        .expect_code(0);
    // Stay in maintenance for a measurable while (an interval to measure, not a readiness wait).
    std::thread::sleep(Duration::from_millis(1500));
    run(
        &sb,
        "maintenance-mode",
        &["-p", "action=off", "-p", "wait=30s"],
    )
    .no_panic()
    .expect_code(0);
    let stop = audit_done(&sb, "service.stop");
    let start = audit_done(&sb, "service.start");
    assert_eq!((stop.len(), start.len()), (1, 1), "{:#?}", sb.audit());
    let interval = (ms(start[0]["time"].as_str().unwrap()) - ms(stop[0]["time"].as_str().unwrap()))
        as f64
        / 1000.0;
    assert!(interval >= 1.5, "{interval}");

    let d = ask(&sb, &format!("history::downtime(\"{APP}\", \"1h\")"));
    assert_eq!(d["planned"].as_array().unwrap().len(), 1, "{d:#}");
    assert!(
        (d["planned_s"].as_f64().unwrap() - interval).abs() < 1e-6,
        "{d:#} vs {interval}"
    );
    assert_eq!(d["planned"][0]["ongoing"], false);
    assert_eq!(d["unplanned_s"], 0.0, "{d:#}");
    // The health check at the end of maintenance is no incident.
    assert!(
        ask(&sb, &format!("history::incidents(\"{APP}\", \"1h\")"))
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn slo_report_measures_availability_recovery_downtime_and_error_budget_from_history() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    let time_checks = [
        "服务可用性 availability",
        "平均恢复时间 mean time to recover",
        "计划内停机时间 planned downtime",
        "错误预算 error budget left",
        "错误预算消耗速率 burn rate 1h/5m",
    ];
    // No history yet: each is unknown and says so.
    let r = run(&sb, "slo-report", &["-p", "sample=1s"]);
    r.no_panic();
    for n in time_checks {
        r.check(n).is_unknown();
        assert!(
            r.check(n)["detail"]
                .as_str()
                .unwrap()
                .contains("no history")
        );
    }
    // A database now exists, but holds no health samples.
    let r = run(&sb, "slo-report", &["-p", "sample=1s"]);
    assert!(
        r.check(time_checks[0])["detail"]
            .as_str()
            .unwrap()
            .contains("0 health sample(s) over 0.0 h of history; need at least 24 h"),
        "{:#}",
        r.check(time_checks[0])
    );

    // Two days of hourly health checks, one failed (10 h ago) and ok again an hour later.
    let db = rusqlite::Connection::open(sb.state().join("history.db")).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    for k in 0..48i64 {
        let t = now - k * 3_600_000 - 60_000;
        db.execute(
            "INSERT INTO runs(run_id, runbook, status, exit_code, started_ms, duration_ms) VALUES (?1, 'health-check', 'ok', 0, ?2, 100)",
            rusqlite::params![format!("seed-{k}"), t],
        )
        .unwrap();
        let run = db.last_insert_rowid();
        db.execute(
            "INSERT INTO checks(run, name, status, detail, at_ms) VALUES (?1, ?2, ?3, '', ?4)",
            rusqlite::params![run, format!("{APP} healthy"), i64::from(k == 10), t + 100],
        )
        .unwrap();
    }
    drop(db);
    let r = run(&sb, "slo-report", &["-p", "sample=1s"]);
    r.no_panic();
    let a = r.check(time_checks[0]);
    assert_eq!(a["status"], "failed", "{a:#}");
    assert!(
        (a["value"].as_f64().unwrap() - 100.0 * 47.0 / 48.0).abs() < 1e-9,
        "{a:#}"
    );
    let m = r.check(time_checks[1]);
    assert_eq!(m["status"], "failed", "{m:#}");
    assert_eq!(m["value"], 3600.0, "{m:#}");
    assert_eq!(r.check(time_checks[2])["status"], "ok");
    assert_eq!(r.check(time_checks[3])["status"], "failed");
    let b = r.check(time_checks[4]);
    assert_eq!(b["status"], "ok", "{b:#}");
    assert_eq!(b["value"], 0.0, "{b:#}");
}
