//! Run history on real SQLite, through the real binary: recording (concurrent runs, corrupt and
//! unwritable databases), `runbook history`, the `history::` module, `[[notify]]` webhooks to a
//! real HTTP receiver on loopback, `--format nagios`, `--prom-textfile` checked by the Python
//! `prometheus_client` parser, `runbook schedule` units checked by `systemd-analyze`, the crontab
//! block checked by a cron parser, and `runbook report --html` opened in headless Chromium.
//!
//! Needs `tests/fixtures/setup.sh` (chromium, prometheus_client, systemd-analyze).

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Run, Sandbox};
use serde_json::Value;

/// A runbook with one pass/fail check `disk` and one measured check `latency`.
const PROBE: &str = r#"//! Probe for history tests.
//! @param ok: bool = true
//! @param ms: float = 20.0
import "checks" as checks;
check("disk", ok, if ok { "fine" } else { "full" });
checks::below("latency", ms, 100.0, "ms");
"#;

fn probe(sb: &Sandbox, args: &[&str]) -> Run {
    sb.invoke()
        .script_named("probe", PROBE)
        .args(args)
        .spawn_json()
        .wait()
}

fn history_json(sb: &Sandbox, args: &[&str]) -> Value {
    let mut a = vec!["history", "--json"];
    a.extend_from_slice(args);
    let out = sb.run(&a);
    assert!(
        out.status.success(),
        "history: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("history --json is JSON")
}

#[test]
fn eight_concurrent_runs_are_all_recorded() {
    let sb = Sandbox::new();
    sb.file("probe.rhai", PROBE);
    let children: Vec<_> = (0..8)
        .map(|i| {
            let ms = format!("ms={}", 10 + i);
            sb.cmd()
                .args(["run", "probe.rhai", "--json", "-p", &ms])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let r = Run::from_output(out);
        r.no_panic().expect_code(0);
        assert!(!r.stderr.contains("history"), "{}", r.stderr);
    }
    let runs = history_json(&sb, &["probe"]);
    assert_eq!(runs.as_array().unwrap().len(), 8, "{runs:#}");
    assert!(runs.as_array().unwrap().iter().all(|r| r["status"] == "ok"
        && r["checks"] == 2
        && r["user"].as_str().is_some_and(|u| !u.is_empty())));
    let series = history_json(&sb, &["--check", "latency"]);
    let mut values: Vec<f64> = series["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_f64().unwrap())
        .collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(values, (10..18).map(f64::from).collect::<Vec<_>>());
    assert_eq!(series["availability"]["availability_pct"], 100.0);
    // Dry runs are not recorded (unless [history] dry_runs = true).
    probe(&sb, &["--dry-run"]).expect_code(0);
    assert_eq!(history_json(&sb, &["probe"]).as_array().unwrap().len(), 8);
}

fn corrupt_files(state: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(state)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("history.db.corrupt-")
        })
        .collect()
}

#[test]
fn a_corrupt_database_is_moved_aside_and_a_new_one_started() {
    // Random bytes.
    let sb = Sandbox::new();
    let junk: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(sb.state().join("history.db"), &junk).unwrap();
    let r = probe(&sb, &[]);
    r.no_panic().expect_code(0);
    assert!(
        r.stderr.contains("warning") && r.stderr.contains("corrupt"),
        "{}",
        r.stderr
    );
    let aside = corrupt_files(&sb.state());
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read(&aside[0]).unwrap(),
        junk,
        "moved, not changed"
    );
    assert_eq!(history_json(&sb, &[]).as_array().unwrap().len(), 1);

    // A real database cut short (a disk that filled up, a copy interrupted).
    let sb = Sandbox::new();
    for _ in 0..30 {
        probe(&sb, &[]).expect_code(0);
    }
    // Fold the WAL into the main file first, so the cut really loses pages (runs leave the WAL
    // to SQLite's automatic checkpoint rather than paying for one at every exit).
    let db = sb.state().join("history.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap();
    assert!(wal_folded(&db), "the WAL was checkpointed");
    let len = std::fs::metadata(&db).unwrap().len();
    assert!(len > 8192, "{len}");
    let f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    f.set_len(4096).unwrap();
    drop(f);
    let r = probe(&sb, &[]);
    r.no_panic().expect_code(0);
    assert!(r.stderr.contains("corrupt"), "{}", r.stderr);
    assert_eq!(corrupt_files(&sb.state()).len(), 1);
    assert_eq!(history_json(&sb, &[]).as_array().unwrap().len(), 1);
}

/// Whether the WAL of `db` is folded into the main file (gone or empty).
fn wal_folded(db: &Path) -> bool {
    // After a TRUNCATE checkpoint the WAL is empty (or gone).
    let wal = db.with_file_name("history.db-wal");
    !wal.exists()
        || std::fs::metadata(&wal)
            .map(|m| m.len() == 0)
            .unwrap_or(true)
}

#[test]
fn the_wal_stays_bounded_over_many_runs_and_no_run_is_lost() {
    // Each run is a process with one write transaction. SQLite's automatic checkpoint never
    // starts such a WAL over (only a later transaction of the same connection would), so
    // without the store's own fold the WAL grew by every run (13 MB after 900 runs).
    let sb = Sandbox::new();
    let db = sb.state().join("history.db");
    let wal = db.with_file_name("history.db-wal");
    let cap = runbook::history::store::WAL_FOLD_AT;
    let (mut largest, mut folds, mut last) = (0u64, 0, 0u64);
    let runs = 60;
    for i in 0..runs {
        probe(&sb, &["-p", &format!("ms={}", 10 + i % 50)]).expect_code(0);
        let len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        if len < last {
            folds += 1;
        }
        largest = largest.max(len);
        last = len;
    }
    // One run writes a few 4 KiB pages: the WAL never passes the mark by more than one run.
    assert!(
        largest <= cap + (64 << 10),
        "largest WAL {largest} bytes, mark {cap}"
    );
    assert!(
        folds >= 1,
        "the WAL was never folded (largest {largest} bytes)"
    );
    let all = history_json(&sb, &["probe", "--limit", "0"]);
    assert_eq!(
        all.as_array().unwrap().len(),
        runs as usize,
        "every run recorded"
    );
}

#[test]
fn history_of_a_misspelled_runbook_names_the_recorded_one() {
    let sb = Sandbox::new();
    probe(&sb, &[]).expect_code(0);
    let out = sb.run(&["history", "prbe"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "no runs recorded in the last 7d for \"prbe\" — runs are recorded for \"probe\" (did you mean it?)"
        ),
        "{stdout}"
    );
    // A name far from every recorded one gets no guess.
    let out = sb.run(&["history", "backup"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "no runs recorded in the last 7d"
    );
}

#[test]
fn a_read_only_state_dir_is_a_warning_not_a_failure() {
    let sb = Sandbox::new();
    sb.file("probe.rhai", PROBE);
    let state = sb.state();
    // Root ignores permission bits: make the folder read-only for real with a read-only bind
    // mount in a private mount namespace; as another user, permission bits do it.
    let out = if unsafe { libc::geteuid() } == 0 {
        let script = format!(
            "mount --bind {s} {s} && mount -o remount,bind,ro {s} && exec \"$@\"",
            s = state.display()
        );
        let c = sb.cmd();
        let prog = c.get_program().to_owned();
        Command::new("unshare")
            .args(["-m", "sh", "-c", &script, "sh"])
            .arg(prog)
            .args(["run", "probe.rhai", "--json"])
            .current_dir(sb.path())
            .envs(
                c.get_envs()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
            )
            .output()
            .unwrap()
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o555)).unwrap();
        let out = sb.run(&["run", "probe.rhai", "--json"]);
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
        out
    };
    let r = Run::from_output(out);
    r.no_panic().expect_code(0);
    r.status("ok");
    assert!(
        r.stderr.contains("warning: history: cannot open"),
        "{}",
        r.stderr
    );
    assert!(!state.join("history.db").exists());
}

#[test]
fn history_module_availability_consecutive_series_runs() {
    let sb = Sandbox::new();
    for (ok, ms) in [
        ("true", "10"),
        ("true", "20"),
        ("false", "30"),
        ("true", "40"),
        ("false", "50"),
        ("false", "60"),
    ] {
        probe(&sb, &["-p", &format!("ok={ok}"), "-p", &format!("ms={ms}")]);
    }
    let r = sb.run_script(
        "ask",
        r#"//! Ask the history.
//! @action
let a = history::availability("disk", "1h");
print(`avail ${a.availability_pct} ${a.samples} ${a.ok} ${a.failed}`);
print(`failed ${history::consecutive("disk", "failed")} ok ${history::consecutive("disk", "ok")}`);
let s = history::series("latency", 3600);
print(`series ${s.len()} ${s[0].value} ${s[5].value} ${s[5].status}`);
let runs = history::runs("probe", "1h");
print(`runs ${runs.len()} ${runs[0].status}`);
print(`none ${history::availability("nothing", "1h").availability_pct}`);
let bad = "";
try { history::consecutive("disk", "red"); } catch (e) { bad = e.message; }
print(bad);
"#,
        &[],
    );
    r.no_panic().expect_code(0);
    let out = r.output();
    assert_eq!(out[0], "avail 50.0 6 3 3", "{out:?}");
    assert_eq!(out[1], "failed 2 ok 0");
    assert_eq!(out[2], "series 6 10.0 60.0 ok");
    assert_eq!(out[3], "runs 6 failed");
    assert_eq!(out[4], "none ");
    assert!(
        out[5].contains("\"ok\", \"failed\" or \"unknown\""),
        "{out:?}"
    );
    // The human table lists the runs.
    let table = sb.run(&["history", "probe"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert_eq!(
        text.lines().filter(|l| l.contains("probe")).count(),
        6,
        "{text}"
    );
}

/// A webhook receiver on loopback: every request body goes to the channel before the answer.
fn receiver(hang: bool) -> (u16, mpsc::Receiver<Value>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Requests left unanswered: held (connection open) for as long as the server runs.
        let mut held = Vec::new();
        for mut req in server.incoming_requests() {
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let _ = tx.send(serde_json::from_str(&body).unwrap_or(Value::String(body)));
            if hang {
                held.push(req);
                continue;
            }
            let _ = req.respond(tiny_http::Response::from_string("ok"));
        }
    });
    (port, rx)
}

#[test]
fn webhook_fires_once_after_n_failures_and_once_on_recovery() {
    let (port, rx) = receiver(false);
    let sb = Sandbox::new();
    sb.config(&format!(
        r#"[[notify]]
url = "http://127.0.0.1:{port}/hook?token=s3cret"
checks = ["disk"]
after = 2
resolved = true
timeout_s = 5
"#
    ));
    let mut got = Vec::new();
    for ok in ["true", "false", "false", "false", "false", "true", "true"] {
        let r = probe(&sb, &["-p", &format!("ok={ok}")]);
        r.no_panic();
        got.push(rx.try_iter().collect::<Vec<_>>());
    }
    let counts: Vec<usize> = got.iter().map(Vec::len).collect();
    assert_eq!(counts, [0, 0, 1, 0, 0, 1, 0], "{got:#?}");
    assert_eq!(got[2][0]["check"], "disk");
    assert_eq!(got[2][0]["state"], "failed");
    assert_eq!(got[2][0]["detail"], "full");
    assert_eq!(got[5][0]["state"], "resolved");
    // Audited as effects, without the URL's token.
    let audit = sb.audit();
    let sent: Vec<&Value> = audit
        .iter()
        .filter(|a| a["action"] == "notify.webhook")
        .collect();
    assert_eq!(sent.len(), 2, "{audit:#?}");
    assert!(sent.iter().all(|a| a["outcome"] == "done"));
    let text = std::fs::read_to_string(sb.state().join("audit.jsonl")).unwrap();
    assert!(!text.contains("s3cret"), "{text}");

    // Slack-compatible body.
    let (port, rx) = receiver(false);
    let sb = Sandbox::new();
    sb.config(&format!(
        "[[notify]]\nurl = \"http://127.0.0.1:{port}/\"\nformat = \"slack\"\n"
    ));
    probe(&sb, &["-p", "ok=false"]).expect_code(1);
    let msg: Vec<Value> = rx.try_iter().collect();
    assert_eq!(msg.len(), 1);
    assert!(
        msg[0]["text"].as_str().unwrap().contains("disk failed"),
        "{msg:?}"
    );
}

#[test]
fn a_hanging_receiver_does_not_hold_the_run_past_its_timeout() {
    let (port, rx) = receiver(true);
    let sb = Sandbox::new();
    sb.config(&format!(
        "[[notify]]\nurl = \"http://127.0.0.1:{port}/hook\"\ntimeout_s = 1\n"
    ));
    let t = Instant::now();
    let r = probe(&sb, &["-p", "ok=false"]);
    let took = t.elapsed();
    r.no_panic().expect_code(1);
    assert!(took < Duration::from_secs(4), "run took {took:?}");
    assert_eq!(rx.try_iter().count(), 1, "one attempt reached the receiver");
    assert!(r.stderr.contains("warning: notify"), "{}", r.stderr);
    let audit = sb.audit();
    let sent: Vec<&Value> = audit
        .iter()
        .filter(|a| a["action"] == "notify.webhook")
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["outcome"], "failed");

    // A host the policy does not allow: denied and audited, nothing sent, run unaffected.
    let sb = Sandbox::new();
    sb.config("[[notify]]\nurl = \"http://hooks.example.invalid/x\"\n");
    let r = probe(&sb, &["-p", "ok=false"]);
    r.no_panic().expect_code(1);
    let audit: Vec<Value> = sb
        .audit()
        .into_iter()
        .filter(|a| a["outcome"] != "started")
        .collect();
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["outcome"], "denied");

    // Under --dry-run (with dry runs recorded) the message is planned, not sent.
    let (port, rx) = receiver(false);
    let sb = Sandbox::new();
    sb.config(&format!(
        "[history]\ndry_runs = true\n[[notify]]\nurl = \"http://127.0.0.1:{port}/\"\n"
    ));
    let r = probe(&sb, &["-p", "ok=false", "--dry-run"]);
    r.no_panic().expect_code(1);
    assert_eq!(rx.try_iter().count(), 0);
    assert_eq!(r.effects("notify.webhook")[0]["outcome"], "planned");
}

#[test]
fn nagios_format_and_prometheus_textfile() {
    let sb = Sandbox::new();
    sb.file("probe.rhai", PROBE);
    let out = sb.run(&["run", "probe.rhai", "--format", "nagios", "-p", "ok=false"]);
    assert_eq!(out.status.code(), Some(2), "CRITICAL");
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap();
    let re = regex::Regex::new(
        r"^PROBE CRITICAL - 1 of 2 check\(s\) ok; failed: disk \| 'duration'=[0-9.]+s 'latency'=20;;100$",
    )
    .unwrap();
    assert!(re.is_match(first), "{text}");
    assert!(text.lines().any(|l| l == "[failed] disk: full"), "{text}");
    let out = sb.run(&["run", "probe.rhai", "--format", "nagios"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("PROBE OK - 2 of 2"));
    sb.file(
        "unk.rhai",
        "//! u\ncheck(\"a\", true, \"\");\nunknown(\"b\", \"no data\");\n",
    );
    let out = sb.run(&["run", "unk.rhai", "--format", "nagios"]);
    assert_eq!(out.status.code(), Some(1), "WARNING");
    sb.file("err.rhai", "//! e\nthrow \"boom\";\n");
    let out = sb.run(&["run", "err.rhai", "--format", "nagios"]);
    assert_eq!(out.status.code(), Some(3), "UNKNOWN");

    // Textfile: parsed by the Python prometheus_client parser.
    sb.file(
        "names.rhai",
        "//! n\ncheck(\"quote \\\" and \\\\ back\", true, \"\");\nimport \"checks\" as c;\nc::below(\"磁盘 disk\", 42.5, 85.0, \"%\");\n",
    );
    let prom = sb.path().join("out.prom");
    let r = Run::from_output(sb.run(&[
        "run",
        "names.rhai",
        "--json",
        "--prom-textfile",
        prom.to_str().unwrap(),
    ]));
    r.expect_code(0);
    let py = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
for f in sorted(fams):
    for s in fams[f].samples:
        print(f"{s.name}|{s.labels.get('check','')}|{s.value}")
"#;
    let out = Command::new("python3")
        .args(["-c", py, prom.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed = String::from_utf8_lossy(&out.stdout);
    assert!(
        parsed.contains("runbook_check_status|quote \" and \\ back|0"),
        "{parsed}"
    );
    assert!(
        parsed.contains("runbook_check_value|磁盘 disk|42.5"),
        "{parsed}"
    );
    assert!(parsed.contains("runbook_run_exit_code||0"), "{parsed}");
    // No temporary file left beside it; under --dry-run it is not written.
    let leftovers: Vec<_> = std::fs::read_dir(sb.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    std::fs::remove_file(&prom).unwrap();
    let out = sb.run(&[
        "run",
        "names.rhai",
        "--dry-run",
        "--prom-textfile",
        prom.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not written under --dry-run"));
    assert!(!prom.exists());
}

#[test]
fn schedule_units_pass_systemd_analyze_and_the_crontab_block_parses() {
    let sb = Sandbox::new();
    sb.config("[policy]\ntimeout_s = 120\n");
    let units = sb.path().join("units");
    let out = sb.run(&["schedule", "--unit-dir", units.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<String> = std::fs::read_dir(&units)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    for want in [
        "runbook-health-check.timer",
        "runbook-health-check.service",
        "runbook-config-review.timer",
        "runbook-restore-test.timer",
    ] {
        assert!(
            files.iter().any(|f| f == want),
            "{want} missing in {files:?}"
        );
    }
    assert!(
        !files.iter().any(|f| f.contains("service-unresponsive")),
        "on demand only"
    );
    let svc = std::fs::read_to_string(units.join("runbook-health-check.service")).unwrap();
    assert!(svc.contains("TimeoutStartSec=150"), "{svc}");
    assert!(svc.contains("run health-check --timeout 120"), "{svc}");
    let timer = std::fs::read_to_string(units.join("runbook-health-check.timer")).unwrap();
    for line in [
        "OnCalendar=hourly",
        "Persistent=true",
        "RandomizedDelaySec=300",
    ] {
        assert!(timer.lines().any(|l| l == line), "{line}: {timer}");
    }
    let paths: Vec<PathBuf> = files.iter().map(|f| units.join(f)).collect();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&paths)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for t in files.iter().filter(|f| f.ends_with(".timer")) {
        let text = std::fs::read_to_string(units.join(t)).unwrap();
        let cal = text
            .lines()
            .find_map(|l| l.strip_prefix("OnCalendar="))
            .unwrap();
        let out = Command::new("systemd-analyze")
            .args(["calendar", cal])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cal}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("Next elapse"));
    }
    // --remove takes them away again.
    let out = sb.run(&[
        "schedule",
        "--remove",
        "--unit-dir",
        units.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert_eq!(std::fs::read_dir(&units).unwrap().count(), 0);

    // Crontab block: markers, flock against overlap, five fields a cron parser accepts.
    let out = sb.run(&[
        "schedule",
        "--cron",
        "--dry-run",
        "health-check",
        "log-analysis",
        "config-review",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let block = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = block.lines().collect();
    assert!(lines[0].starts_with("# BEGIN runbook schedule"));
    assert_eq!(*lines.last().unwrap(), "# END runbook schedule");
    assert_eq!(lines.len(), 5, "{block}");
    let now = chrono::Utc::now();
    for (line, gap) in lines[1..4].iter().zip([3600i64, 7 * 86_400, 31 * 86_400]) {
        let fields: Vec<&str> = line.splitn(6, ' ').collect();
        let expr = fields[..5].join(" ");
        let cron: croner::Cron = expr.parse().unwrap_or_else(|e| panic!("{expr}: {e:?}"));
        let next = cron.find_next_occurrence(&now, false).unwrap();
        assert!((next - now).num_seconds() <= gap, "{expr}");
        assert!(fields[5].contains("flock -n "), "{line}");
        assert!(fields[5].contains(" run "), "{line}");
    }
    // OnCalendar expressions have no cron form: a clear error.
    let out = sb.run(&["schedule", "--cron", "--dry-run", "restore-test"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no crontab form"));
}

/// Run `chromium ARGS… file` headless with a fresh profile; kill it after `within`.
fn chromium(args: &[&str], file: &Path, within: Duration) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", file.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium (tests/fixtures/setup.sh installs it)");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    if common::wait_exit(&mut child, within).is_none() {
        panic!("chromium did not finish within {within:?}");
    }
    (t_out.join().unwrap(), t_err.join().unwrap())
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let sb = Sandbox::new();
    for (ok, ms) in [
        ("true", "12"),
        ("false", "80"),
        ("true", "35"),
        ("true", "20"),
    ] {
        probe(&sb, &["-p", &format!("ok={ok}"), "-p", &format!("ms={ms}")]);
    }
    sb.file(
        "disk.rhai",
        "//! d\nimport \"checks\" as c;\nc::below(\"disk <used>\", 61.0, 85.0, \"%\");\n",
    );
    sb.run(&["run", "disk.rhai"]);
    let html = sb.path().join("week.html");
    let out = sb.run(&["report", "--since", "7d", "--html", html.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&html).unwrap();
    for external in ["src=", "href=", "<script", "url("] {
        assert!(!text.contains(external), "self-contained: found {external}");
    }
    // --json carries the same data.
    let out = sb.run(&["report", "--since", "7d", "--json"]);
    let data: Value = serde_json::from_slice(&out.stdout).unwrap();
    let series: Vec<&str> = data["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["check"].as_str().unwrap())
        .collect();
    assert_eq!(series, ["disk <used>", "latency"]);
    assert_eq!(data["failed"].as_array().unwrap().len(), 1);
    assert_eq!(data["runs"], 5);

    let t = Instant::now();
    let (dom, log) = chromium(&["--dump-dom"], &html, Duration::from_secs(40));
    assert!(
        !log.contains("CONSOLE") && !log.contains("Uncaught"),
        "console: {log}"
    );
    assert_eq!(dom.matches("<svg").count(), series.len(), "{dom}");
    let path_re = regex::Regex::new(r#"<path d="(M[0-9. ]+(?:L[0-9. ]+)+)""#).unwrap();
    let paths: Vec<&str> = path_re
        .captures_iter(&dom)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert_eq!(paths.len(), series.len(), "non-empty paths: {dom}");
    assert!(dom.contains("disk &lt;used&gt;"), "escaped names");
    let shot = sb.path().join("shot.png");
    let left = Duration::from_secs(55).saturating_sub(t.elapsed());
    chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1000,900",
        ],
        &html,
        left,
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "{}",
        png.len()
    );
}
