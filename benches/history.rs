//! History benchmark (printed figures, not a timed test):
//!
//! * recording overhead per run: open the database (with its 1 million checks), record a run of
//!   10 checks and 2 effects, close — what `runbook run` adds after the script (target ≤ 2 ms);
//! * what `runbook history` asks (the newest 50 runs of the last 7 days, with check counts) and
//!   `history::availability` of one check over 30 and 400 days, on 1 million recorded checks
//!   (target < 100 ms);
//! * database size per million checks.
//!
//! Run: `flock /work/bench.lock cargo run --release --example history_bench [CHECKS]`
//! (CHECKS defaults to 1 000 000: 100 000 runs of 10 checks, hourly-ish over 400 days).

use std::time::{Duration, Instant};

use runbook::history::query;
use runbook::history::store::{RunMeta, Store, now_ms};
use runbook::report::{CheckRecord, CheckStatus, EffectRecord, Report};
use serde_json::json;

fn report(i: usize) -> Report {
    let checks = (0..10)
        .map(|c| {
            let failed = (i + c) % 97 == 0;
            CheckRecord {
                name: format!("check {c}"),
                ok: !failed,
                status: CheckStatus::from_bool(!failed),
                detail: format!("{} ms (must be < 200 ms)", i % 300),
                value: Some(json!((i % 300) as f64 + c as f64)),
                threshold: Some(json!(200.0)),
            }
        })
        .collect();
    Report {
        runbook: "bench".into(),
        started: runbook::timefmt::now_rfc3339(),
        duration_ms: 120,
        checks,
        effects: vec![
            EffectRecord {
                action: "service.restart".into(),
                target: "app".into(),
                outcome: "done".into(),
                detail: String::new(),
                compensation: false,
            };
            2
        ],
        ..Report::default()
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(n: usize, mut f: impl FnMut() -> T) -> Duration {
    median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let checks: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let runs = checks / 10;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let span_ms: i64 = 400 * 86_400_000;
    let now = now_ms();
    {
        let store = Store::open(&path, true).unwrap();
        let c = store.conn();
        let t = Instant::now();
        c.execute_batch("BEGIN").unwrap();
        {
            let mut run = c
                .prepare("INSERT INTO runs(run_id, runbook, params, status, exit_code, started_ms, duration_ms, user, host) VALUES (?1, 'bench', '{}', 'ok', 0, ?2, 120, 'ops', 'host')")
                .unwrap();
            let mut chk = c
                .prepare("INSERT INTO checks(run, name, status, value, threshold, detail, at_ms) VALUES (?1, ?2, ?3, ?4, '200.0', ?5, ?6)")
                .unwrap();
            let names: Vec<String> = (0..10).map(|c| format!("check {c}")).collect();
            for i in 0..runs {
                let at = now - span_ms + (i as i64) * (span_ms / runs as i64);
                run.execute(rusqlite::params![format!("r{i}"), at]).unwrap();
                let id = c.last_insert_rowid();
                for (k, name) in names.iter().enumerate() {
                    let status = i64::from((i + k) % 97 == 0);
                    chk.execute(rusqlite::params![
                        id,
                        name,
                        status,
                        (i % 300) as f64,
                        "123 ms (must be < 200 ms)",
                        at + 120
                    ])
                    .unwrap();
                }
            }
        }
        c.execute_batch("COMMIT").unwrap();
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        println!(
            "setup: {runs} runs, {checks} checks inserted in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "database size: {:.1} MiB for {checks} checks = {:.1} MiB per million checks ({:.0} bytes/check)",
        size as f64 / 1048576.0,
        size as f64 / 1048576.0 * 1e6 / checks as f64,
        size as f64 / checks as f64
    );

    // Recording overhead: what one `runbook run` process does after its script.
    let meta = RunMeta::current(None, false);
    let mut i = 0;
    let rec = time(200, || {
        i += 1;
        let (s, _) = Store::open_or_recover(&path);
        let mut s = s.unwrap();
        s.record(&meta, &report(i)).unwrap();
        s.prune(400 * 86_400).unwrap();
    });
    println!(
        "record one run (open + 10 checks + 2 effects + prune check): median {:.3} ms (target ≤ 2 ms)",
        rec.as_secs_f64() * 1e3
    );

    let store = Store::open(&path, false).unwrap();
    let week = now - 7 * 86_400_000;
    let t_hist = time(20, || query::runs(&store, None, week, 50).unwrap());
    println!(
        "runbook history (newest 50 runs of 7 d): median {:.2} ms (target < 100 ms)",
        t_hist.as_secs_f64() * 1e3
    );
    let t_series = time(20, || query::series(&store, "check 3", week, 50).unwrap());
    println!(
        "runbook history --check (newest 50 samples of 7 d): median {:.2} ms",
        t_series.as_secs_f64() * 1e3
    );
    for (label, days) in [("30 d", 30i64), ("400 d", 400)] {
        let since = now - days * 86_400_000;
        let mut n = 0;
        let t = time(10, || {
            let a = query::availability(&store, "check 3", since).unwrap();
            n = a.samples;
            a
        });
        println!(
            "history::availability(one check, {label}: {n} samples of {checks}): median {:.2} ms (target < 100 ms)",
            t.as_secs_f64() * 1e3
        );
    }
    let t = time(5, || {
        query::availability(&store, "check *", now - 30 * 86_400_000).unwrap()
    });
    println!(
        "history::availability(\"check *\" = all 10 checks, 30 d): median {:.2} ms",
        t.as_secs_f64() * 1e3
    );
}
