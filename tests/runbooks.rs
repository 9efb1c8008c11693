//! Every shipped runbook, run by name through the real binary. Where a runbook touches the
//! service it runs against the real demo service (Express + Winston) under a real, private pm2,
//! with real Winston logs produced by real requests. Each test asserts on the report's checks
//! and effects (`--json`), not only the exit code.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::demo::{APP, Demo, http};
use common::second::{APP2, Second};
use common::{CheckExt, Run, Sandbox};
use serde_json::Value;

/// `runbook run NAME --json ARGS…` in `sb`.
fn run(sb: &Sandbox, name: &str, args: &[&str]) -> Run {
    sb.run_json(name, args)
}

/// Real traffic: `n` page reads (half of them cache hits), a few component lists.
fn traffic(demo: &Demo, n: usize) {
    for i in 0..n {
        let (code, _) = demo.get(&format!("/api/pages/{}", i % (n / 2).max(1) + 1));
        assert_eq!(code, 200);
    }
    demo.get("/api/components");
}

/// Run `f` while a thread sends GET requests to `{base}1` … `{base}5` back to back (real traffic
/// during a sampling window); the traffic stops when `f` returns.
fn during_traffic<T>(base: String, f: impl FnOnce() -> T) -> T {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let t = std::thread::spawn(move || {
        let mut i = 0;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            i += 1;
            let _ = http(
                "GET",
                &format!("{base}{}", i % 5 + 1),
                Duration::from_secs(5),
            );
        }
    });
    let out = f();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    t.join().unwrap();
    out
}

fn names(r: &Run) -> Vec<String> {
    r.check_names()
}

/// Set a file's modification time into the past with `touch -d`.
fn age(path: &Path, ago: &str) {
    let st = Command::new("touch")
        .arg("-d")
        .arg(ago)
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn every_shipped_runbook_checks_and_shows_its_params() {
    let sb = Sandbox::new();
    let out = sb.run(&["check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let list: Value = serde_json::from_slice(&sb.run(&["list", "--json"]).stdout).unwrap();
    let list = list.as_array().unwrap();
    let expected = [
        "backup",
        "cache-check",
        "cert-check",
        "config-review",
        "data-recovery",
        "dependency-audit",
        "health-check",
        "log-analysis",
        "log-cleanup",
        "maintenance-mode",
        "memory-leak",
        "performance-check",
        "performance-issue",
        "restore-test",
        "rollback",
        "security-scan",
        "service-unresponsive",
        "slo-report",
    ];
    for name in expected {
        let entry = list
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed"));
        assert_eq!(entry["origin"], "built-in");
        assert!(!entry["summary"].as_str().unwrap().is_empty());
        let out = sb.run(&["show", name]);
        assert!(out.status.success(), "show {name}");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(text.contains("Parameters:"), "{name}: {text}");
        // every parameter line carries a doc
        let params = text
            .split("Parameters:")
            .nth(1)
            .unwrap()
            .split("\n\n")
            .next()
            .unwrap();
        for line in params.lines().skip(1) {
            assert!(
                line.split_whitespace().count() >= 4,
                "{name}: undocumented parameter line {line:?}"
            );
        }
    }
}

#[test]
fn health_check_with_inventory_checks_the_service() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    let r = run(
        &sb,
        "health-check",
        &["-p", "cpu_max=100", "-p", "cpu_window=1s"],
    );
    r.no_panic();
    assert_eq!(
        r.check(&format!("{APP} online"))["ok"],
        true,
        "{:#}",
        r.report
    );
    assert_eq!(r.check(&format!("{APP} healthy"))["ok"], true);
    assert!(
        r.check(&format!("{APP} latency"))["value"]
            .as_f64()
            .unwrap()
            < 1000.0
    );
    assert!(
        r.output()
            .iter()
            .any(|l| l.contains(&format!("port {}", demo.port)) && l.contains("1 listening")),
        "{:?}",
        r.output()
    );
}

#[test]
fn service_unresponsive_detects_a_hang_restarts_and_verifies() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    traffic(&demo, 6);
    demo.post("/admin/errors?count=0&log=3");
    demo.post("/admin/hang");
    // pm2 still says online while the app answers nothing.
    assert!(http("GET", &demo.url("/health"), Duration::from_secs(1)).is_err());
    let before = demo.restart_time();

    // Dry run: the restart is planned, pm2's restart count is unchanged.
    let r = run(
        &sb,
        "service-unresponsive",
        &["--dry-run", "-p", "wait=30s"],
    );
    r.no_panic().expect_code(1);
    assert_eq!(demo.restart_time(), before);
    let restarts = r.effects("service.restart");
    assert_eq!(restarts.len(), 1, "{:#}", r.report);
    assert_eq!(restarts[0]["outcome"], "planned");
    assert!(
        r.output().iter().any(|l| l.starts_with("health: FAILED")),
        "{:?}",
        r.output()
    );
    assert!(
        r.output().iter().any(|l| l.contains("请求失败")),
        "error-log tail missing: {:?}",
        r.output()
    );

    // For real: restart through pm2, healthy again, exit 0, audited.
    let r = run(&sb, "service-unresponsive", &["-p", "wait=30s"]);
    r.no_panic().expect_code(0);
    assert_eq!(r.check(&format!("{APP} healthy after restart"))["ok"], true);
    assert_eq!(demo.restart_time(), before + 1);
    let (code, _) = demo.get("/health");
    assert_eq!(code, 200);
    let audit = sb.audit();
    let restarts: Vec<&Value> = audit
        .iter()
        .filter(|a| a["action"] == "service.restart")
        .collect();
    assert_eq!(restarts.len(), 2, "{audit:#?}");
    assert_eq!(restarts[0]["outcome"], "planned");
    assert_eq!(restarts[1]["outcome"], "done");
    assert_eq!(restarts[1]["target"], APP);

    // Healthy service: nothing to do, no restart.
    let r = run(&sb, "service-unresponsive", &[]);
    r.expect_code(0);
    assert!(r.effects("service.restart").is_empty());
    assert_eq!(demo.restart_time(), before + 1);
}

#[test]
fn performance_check_and_slo_report_read_stats_and_logs() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    traffic(&demo, 20);
    demo.post("/admin/slow?ms=1100");
    demo.get("/api/pages/3");
    demo.get("/api/pages/4");
    demo.post("/admin/reset");

    // the rates are those of the sampling window: slow traffic during it
    demo.post("/admin/slow?ms=300");
    let url = demo.url("/api/pages/");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let t = std::thread::spawn(move || {
        let mut i = 0;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            i += 1;
            let _ = http(
                "GET",
                &format!("{url}{}", i % 5 + 1),
                Duration::from_secs(5),
            );
        }
    });
    let r = run(&sb, "performance-check", &["-p", "sample=2s"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    t.join().unwrap();
    demo.post("/admin/reset");
    r.no_panic();
    assert!(r.report["error"].is_null(), "{:#}", r.report);
    r.check("error rate").is_ok();
    // every request of the window took ≥ 300 ms: above the 200 ms target (since start it is not)
    let avg = r.check("average response time");
    assert_eq!(avg["ok"], false, "{avg:#}");
    // (the demo's average is over completed requests, its count includes those in flight)
    assert!(avg["value"].as_f64().unwrap() > 200.0, "{avg:#}");
    // the two 1.1 s requests were before the window: not in its slow ratio
    r.check("slow-request ratio").is_ok();
    assert!(
        r.output()
            .iter()
            .any(|l| l.starts_with("slow requests in the last 60 min: 2")),
        "{:?}",
        r.output()
    );
    r.expect_code(1);

    // its request targets are over a window too: traffic during it
    let r = during_traffic(demo.url("/api/pages/"), || {
        run(&sb, "slo-report", &["-p", "sample=2s"])
    });
    r.no_panic();
    assert!(r.report["error"].is_null(), "{:#}", r.report);
    for name in [
        "平均响应时间 average response",
        "错误率 error rate",
        "API 成功率 success rate",
        "内存使用率 memory",
        "未授权访问 unauthorized access",
        "网络延迟 latency",
    ] {
        assert!(
            names(&r).iter().any(|n| n == name),
            "{name} missing: {:?}",
            names(&r)
        );
    }
    r.check("错误率 error rate").is_ok();
    r.check("未授权访问 unauthorized access").is_ok();
    // the demo reports every counter but timeouts: that target is unknown, not 0 %; so are the
    // targets that exist only over time, with a fresh history (saying how much there is)
    let over_time = [
        "服务可用性 availability",
        "平均恢复时间 mean time to recover",
        "计划内停机时间 planned downtime",
        "错误预算 error budget left",
        "错误预算消耗速率 burn rate 1h/5m",
    ];
    for c in r.report["checks"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let unknown = name == "API 超时率 timeout rate" || over_time.contains(&name);
        assert_eq!(c["status"] == "unknown", unknown, "{c:#}");
        if over_time.contains(&name) {
            assert!(c["detail"].as_str().unwrap().contains("history"), "{c:#}");
        }
    }
}

#[test]
fn log_analysis_groups_errors_by_fingerprint() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    traffic(&demo, 4);
    demo.post("/admin/errors?count=0&log=10"); // 10 error lines, 5 distinct messages with varying ids
    demo.post("/admin/slow?ms=1100");
    demo.get("/api/pages/2");
    demo.post("/admin/reset");
    // Two /api/pages/2 from traffic(), one just now: all written once the third is.
    demo.wait_logged("GET /api/pages/2 ", 3);
    let r = run(&sb, "log-analysis", &["-p", "error_max=5"]);
    r.no_panic().expect_code(1);
    let errs = r.check("errors in window");
    assert_eq!(errs["value"], 10, "{errs:#}");
    assert_eq!(errs["ok"], false);
    let out = r.output();
    // /api/pages/4000 and /api/pages/4005 carry the same message: one fingerprint, counted twice
    assert!(
        out.iter()
            .any(|l| l.contains("2×") && l.contains("JWT expired")),
        "{out:?}"
    );
    assert!(
        out.iter().any(|l| l.starts_with("slow requests: 1")),
        "{out:?}"
    );
}

#[test]
fn log_cleanup_compresses_and_deletes_only_old_rotated_files() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    traffic(&demo, 2);
    let logs = demo.logs.clone();
    std::fs::write(
        logs.join("combined.log.1"),
        "{\"level\":\"info\",\"message\":\"old\"}\n".repeat(500),
    )
    .unwrap();
    std::fs::write(logs.join("combined.log.2"), "ancient\n").unwrap();
    std::fs::write(logs.join("combined-2026-10-01.log"), "dated\n").unwrap();
    age(&logs.join("combined.log.1"), "3 days ago");
    age(&logs.join("combined.log.2"), "40 days ago");
    age(&logs.join("combined-2026-10-01.log"), "45 days ago");
    age(&logs.join("combined.log"), "50 days ago"); // live file: never touched, however old

    let r = run(&sb, "log-cleanup", &["--dry-run"]);
    r.no_panic().expect_code(0);
    assert!(logs.join("combined.log.2").exists() && logs.join("combined.log.1").exists());
    assert!(
        r.report["effects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["outcome"] == "planned"),
        "{:#}",
        r.report
    );

    let r = run(&sb, "log-cleanup", &[]);
    r.no_panic().expect_code(0);
    assert!(!logs.join("combined.log.2").exists());
    assert!(!logs.join("combined-2026-10-01.log").exists());
    assert!(!logs.join("combined.log.1").exists() && logs.join("combined.log.1.gz").exists());
    assert!(logs.join("combined.log").exists() && logs.join("error.log").exists());
    assert!(
        r.output()
            .iter()
            .any(|l| l.starts_with("removed 2 file(s), compressed 1")),
        "{:?}",
        r.output()
    );
    assert!(
        sb.audit()
            .iter()
            .any(|a| a["action"] == "logs.cleanup" && a["outcome"] == "done")
    );
}

#[test]
fn cache_check_reads_hit_rate_and_removes_expired_files() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    traffic(&demo, 20); // pages 1..10 twice: 50 % hits
    let cache = demo.workdir().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("old.json"), "{}").unwrap();
    std::fs::write(cache.join("fresh.json"), "{}").unwrap();
    age(&cache.join("old.json"), "2 days ago");

    let r = run(&sb, "cache-check", &["-p", "hit_min=40"]);
    r.no_panic().expect_code(0);
    let hit = r.check("cache hit rate");
    assert!(
        (hit["value"].as_f64().unwrap() - 50.0).abs() < 0.01,
        "{hit:#}"
    );
    assert!(!cache.join("old.json").exists() && cache.join("fresh.json").exists());
    assert_eq!(r.effects("fs.remove").len(), 1);

    let r = run(&sb, "cache-check", &["-p", "hit_min=80"]);
    r.expect_code(1);
    assert_eq!(r.check("cache hit rate")["ok"], false);
}

#[test]
fn backup_restore_test_and_data_recovery_round_trip() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    traffic(&demo, 4);
    let env_path = demo.workdir().join(".env");
    let original_env = std::fs::read_to_string(&env_path).unwrap();

    let r = run(&sb, "backup", &[]);
    r.no_panic().expect_code(0);
    r.check("backup verifies").is_ok();
    let created = r.effects("backup.create");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["outcome"], "done");
    let archives: Vec<_> = std::fs::read_dir(sb.state().join("backups"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(archives.len(), 1, "one archive in the backup dir");

    let r = run(&sb, "restore-test", &[]);
    r.no_panic().expect_code(0);
    r.check("archive verifies").is_ok();
    r.check("restore wrote every entry").is_ok();
    assert!(
        r.output()
            .iter()
            .any(|l| l.contains("identical to the live copy")),
        "{:?}",
        r.output()
    );

    // Lose the .env, recover it from the latest verified backup.
    std::fs::write(&env_path, "BROKEN=1\n").unwrap();
    let r = run(&sb, "data-recovery", &["--dry-run"]);
    r.expect_code(0);
    assert_eq!(std::fs::read_to_string(&env_path).unwrap(), "BROKEN=1\n");
    let r = run(&sb, "data-recovery", &["-p", "what=env"]);
    r.no_panic().expect_code(0);
    r.check("env restored").is_ok();
    assert_eq!(std::fs::read_to_string(&env_path).unwrap(), original_env);
}

#[test]
fn security_scan_finds_refusals_floods_and_injection_attempts() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    traffic(&demo, 10);
    for _ in 0..3 {
        demo.get("/api/admin/users"); // 401
    }
    demo.get("/api/pages/..%2f..%2fetc%2fpasswd");
    demo.get("/api/pages/%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    demo.get("/api/pages/1'%20OR%201=1");
    demo.wait_logged("OR%201=1", 1);

    let r = run(
        &sb,
        "security-scan",
        &["-p", "refused_max=2", "-p", "rate_max=10000"],
    );
    r.no_panic().expect_code(1);
    let refused = r.check("401/403 per IP");
    assert_eq!(refused["value"], 3, "{refused:#}");
    assert_eq!(refused["ok"], false);
    let sus = r.check("suspicious requests");
    assert_eq!(sus["value"], 3, "{:#}", r.report);
    r.check("request rate per IP").is_ok();
    assert!(
        r.output()
            .iter()
            .any(|l| l.contains("refused 3× from 127.0.0.1")),
        "{:?}",
        r.output()
    );

    let r = run(
        &sb,
        "security-scan",
        &["-p", "rate_max=0.01", "-p", "refused_max=100"],
    );
    assert_eq!(r.check("request rate per IP")["ok"], false);

    // a burst: 250 requests in a few seconds is ≥ 125 in some minute, not 250/60 ≈ 4/min
    for i in 0..250 {
        demo.get(&format!("/api/components?burst={i}"));
    }
    let r = run(
        &sb,
        "security-scan",
        &["-p", "rate_max=100", "-p", "refused_max=100"],
    );
    let rate = r.check("request rate per IP");
    assert_eq!(rate["status"], "failed", "{rate:#}");
    assert!(rate["value"].as_f64().unwrap() >= 125.0, "{rate:#}");
}

/// A PEM certificate for localhost valid from a day ago until `days` from now.
fn cert_pem(days: i64) -> String {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let from = chrono::Utc::now() - chrono::Duration::days(1);
    let to = chrono::Utc::now() + chrono::Duration::days(days);
    use chrono::Datelike;
    params.not_before = rcgen::date_time_ymd(from.year(), from.month() as u8, from.day() as u8);
    params.not_after = rcgen::date_time_ymd(to.year(), to.month() as u8, to.day() as u8);
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem()
}

#[test]
fn cert_check_warns_30_days_ahead_and_backs_up_the_files() {
    let sb = Sandbox::new();
    let good = sb.file("certs/good.pem", &cert_pem(365));
    let soon = sb.file("certs/soon.pem", &cert_pem(10));
    let files = format!("{},{}", good.display(), soon.display());
    let r = run(&sb, "cert-check", &["-p", &format!("files={files}")]);
    r.no_panic().expect_code(1);
    let g = r.check(&format!("{} expiry", good.display()));
    assert_eq!(g["ok"], true);
    assert!(g["value"].as_f64().unwrap() >= 363.0);
    let s = r.check(&format!("{} expiry", soon.display()));
    assert_eq!(s["ok"], false);
    let days = s["value"].as_f64().unwrap();
    assert!((9.0..=10.0).contains(&days), "{s:#}");
    assert_eq!(r.effects("backup.create")[0]["outcome"], "done");

    // nothing configured: measured nothing, so inconclusive (exit 6) with what to configure
    let r = run(&sb, "cert-check", &[]);
    r.no_panic().expect_code(6);
    assert_eq!(r.report["status"], "inconclusive");
    assert_eq!(
        r.report["checks"].as_array().unwrap().len(),
        1,
        "{:#}",
        r.report
    );
    let c = r.check("certificates");
    assert_eq!(c["status"], "unknown");
    let why = c["detail"].as_str().unwrap();
    assert!(
        why.contains("nothing configured")
            && why.contains("-p endpoints=")
            && why.contains("-p files="),
        "{why}"
    );
    assert!(r.report["effects"].as_array().unwrap().is_empty());
}

#[test]
fn config_review_reports_keys_without_printing_values() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    let r = run(&sb, "config-review", &[]);
    r.no_panic().expect_code(1);
    r.check("NODE_ENV set").is_ok();
    r.check("JWT_SECRET set").is_ok();
    assert_eq!(r.check("RATE_LIMIT_MAX set")["ok"], false); // not in the demo's .env
    assert_eq!(r.check("JWT_SECRET not a placeholder")["ok"], false); // change-me-in-production
    r.check("LOG_LEVEL valid").is_ok();
    let doc = r.stdout.clone();
    for secret in ["change-me-in-production", "postgres://lowcode:secret"] {
        assert!(
            !doc.contains(secret),
            "value {secret:?} leaked into the report"
        );
    }
    let audit = std::fs::read_to_string(sb.state().join("audit.jsonl")).unwrap_or_default();
    assert!(!audit.contains("change-me"));
}

#[test]
fn performance_issue_lists_processes_connections_and_slow_requests() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    demo.post("/admin/slow?ms=1100");
    demo.get("/api/pages/1");
    // a second slow request with a 3000-character query: newest first, and clipped
    let long = "x".repeat(3000);
    demo.get(&format!("/api/pages/2?q={long}"));
    demo.post("/admin/reset");
    // The host CPU is shared with parallel tests (it can read 100.0): not what this test is about.
    let r = run(
        &sb,
        "performance-issue",
        &["-p", "cpu_max=101", "-p", "clip=120"],
    );
    r.no_panic().expect_code(0);
    assert_eq!(
        r.check(&format!("{APP} listening on {}", demo.port))["ok"],
        true
    );
    let out = r.output();
    assert!(out.iter().any(|l| l == "top processes by CPU:"));
    assert!(
        out.iter()
            .any(|l| l.starts_with("slow requests in the last 15 min: 2")),
        "{out:?}"
    );
    let first = out
        .iter()
        .position(|l| l.contains("慢请求 GET /api/pages/1"))
        .expect("slow request 1 listed");
    let second = out
        .iter()
        .position(|l| l.contains("慢请求 GET /api/pages/2"))
        .expect("slow request 2 listed");
    assert!(second < first, "not newest first: {out:?}");
    assert!(
        out[second].chars().count() <= 2 + 120 + 1,
        "not clipped: {}",
        out[second]
    );
    // this tool is not among the suspects
    let top = out
        .iter()
        .position(|l| l == "top processes by CPU:")
        .unwrap();
    for l in out[top + 1..].iter().take_while(|l| l.starts_with("  ")) {
        assert!(!l.ends_with(" runbook"), "lists itself: {l}");
    }
}

#[test]
fn memory_leak_detects_growth_and_takes_a_heap_snapshot() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    demo.post("/admin/leak?mb=8&every_ms=250");
    let r = run(
        &sb,
        "memory-leak",
        &[
            "-p",
            "samples=5",
            "-p",
            "interval=1s",
            "-p",
            "growth_pct=5",
            "-p",
            "warmup=0s",
            "-p",
            "min_growth_mb=4",
        ],
    );
    r.no_panic().expect_code(1);
    let c = r.check("memory stable");
    assert_eq!(c["ok"], false, "{c:#}");
    assert!(c["value"].as_f64().unwrap() > 5.0);
    assert_eq!(r.effects("service.signal")[0]["outcome"], "done");
    assert!(
        !demo.files_ending(".heapsnapshot").is_empty(),
        "no heap snapshot written"
    );

    demo.post("/admin/reset");
    let r = run(
        &sb,
        "memory-leak",
        &[
            "-p",
            "samples=3",
            "-p",
            "interval=1s",
            "-p",
            "growth_pct=50",
            "-p",
            "warmup=0s",
        ],
    );
    r.expect_code(0);
    assert!(r.effects("service.signal").is_empty());
}

#[test]
fn maintenance_mode_on_and_off() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    let page = demo.workdir().join("public/maintenance.html");
    let r = run(&sb, "maintenance-mode", &["-p", "action=on"]);
    r.no_panic().expect_code(0);
    assert_eq!(r.check(&format!("{APP} stopped"))["ok"], true);
    assert!(
        std::fs::read_to_string(&page)
            .unwrap()
            .contains("系统维护中")
    );
    assert!(http("GET", &demo.url("/health"), Duration::from_secs(2)).is_err());

    let r = run(
        &sb,
        "maintenance-mode",
        &["-p", "action=off", "-p", "wait=30s"],
    );
    r.no_panic().expect_code(0);
    assert_eq!(r.check(&format!("{APP} healthy"))["ok"], true);
    assert!(!page.exists());
    assert_eq!(demo.get("/api/components").0, 200);

    let r = run(&sb, "maintenance-mode", &["-p", "action=sideways"]);
    r.expect_code(1);
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rollback_checks_out_the_tag_rebuilds_restarts_and_verifies() {
    let demo = Demo::start();
    demo.own_node_modules(); // the rollback runs `npm ci` in the working copy
    let work = demo.workdir();
    std::fs::write(
        work.join(".gitignore"),
        "node_modules/\nlogs/\n.env\ndist/\n*.heapsnapshot\ncache/\n",
    )
    .unwrap();
    git(&work, &["init", "-q"]);
    git(
        &work,
        &["-c", "user.email=t@t", "-c", "user.name=t", "add", "-A"],
    );
    git(
        &work,
        &[
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "v1.4.2",
        ],
    );
    git(&work, &["tag", "v1.4.2"]);
    let pkg = std::fs::read_to_string(work.join("package.json"))
        .unwrap()
        .replace("\"1.4.2\"", "\"1.5.0\"");
    std::fs::write(work.join("package.json"), pkg).unwrap();
    git(
        &work,
        &[
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-qam",
            "v1.5.0",
        ],
    );
    git(&work, &["tag", "v1.5.0"]);
    let sb = demo.sandbox("commands = [\"git\", \"npm\"]\nread_only_commands = [\"git status --porcelain --untracked-files=no\", \"git tag --list *\", \"npm outdated --json\", \"npm audit --json\"]");

    let r = run(&sb, "rollback", &["-p", "tag=v9.9.9"]);
    r.expect_code(1);
    assert!(
        r.report["error"]
            .as_str()
            .unwrap()
            .contains("no git tag v9.9.9")
    );

    let r = run(&sb, "rollback", &["-p", "tag=v1.4.2", "--dry-run"]);
    r.no_panic().expect_code(0);
    assert!(
        std::fs::read_to_string(work.join("package.json"))
            .unwrap()
            .contains("1.5.0")
    );
    assert!(
        r.report["effects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["outcome"] == "planned")
            .count()
            >= 4
    );

    let before = demo.restart_time();
    let r = run(
        &sb,
        "rollback",
        &["-p", "tag=v1.4.2", "-p", "wait=60s", "--timeout", "900"],
    );
    r.no_panic().expect_code(0);
    for step in [
        "git checkout v1.4.2",
        "npm ci",
        "npm run build",
        &format!("{APP} healthy on v1.4.2"),
    ] {
        r.check(step).is_ok();
    }
    assert!(
        std::fs::read_to_string(work.join("package.json"))
            .unwrap()
            .contains("1.4.2")
    );
    assert_eq!(demo.restart_time(), before + 1);
    let (_, health) = demo.get("/health");
    assert!(health.contains("\"version\":\"1.4.2\""), "{health}");

    // A failing step stops the run there: a broken build script.
    git(&work, &["checkout", "-q", "v1.5.0"]);
    std::fs::write(work.join("scripts/build.js"), "process.exit(3);\n").unwrap();
    git(
        &work,
        &[
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-qam",
            "broken build",
        ],
    );
    git(&work, &["tag", "v1.5.1-broken"]);
    let before = demo.restart_time();
    let r = run(
        &sb,
        "rollback",
        &["-p", "tag=v1.5.1-broken", "--timeout", "900"],
    );
    r.expect_code(1);
    assert_eq!(r.check("npm run build")["ok"], false);
    assert!(
        r.effects("service.restart").is_empty(),
        "restarted after a failed build"
    );
    assert_eq!(demo.restart_time(), before);
}

#[test]
fn dependency_audit_summarises_npm_outdated_and_audit() {
    let demo = Demo::start();
    let sb = demo
        .sandbox("commands = [\"npm\"]\nread_only_commands = [\"npm outdated --json\", \"npm audit --json\"]");
    // Read-only commands run even under --dry-run.
    let r = run(&sb, "dependency-audit", &["--dry-run", "--timeout", "300"]);
    r.no_panic();
    let runs = r.effects("cmd.run");
    assert_eq!(runs.len(), 2, "{:#}", r.report);
    assert!(
        runs.iter().all(|e| e["outcome"] == "done"),
        "{:#}",
        r.report
    );
    assert!(
        r.output().iter().any(|l| l.contains("outdated package(s)")),
        "{:?}",
        r.output()
    );
    // npm audit needs the registry; either it ran and gave counts, or the check says why not.
    assert!(
        names(&r)
            .iter()
            .any(|n| n == "no high+ vulnerabilities" || n == "npm audit ran"),
        "{:?}",
        names(&r)
    );
}

// ---------------------------------------------------------------------------------------------
// The second service (order-service): plain-text logs without ip/status, numeric rotation, no
// build script, no public/, no .env, no --heapsnapshot-signal, partial stats. The harmful cases of
// issue 12 on a service the runbooks were not written for.

/// Statuses of the report's checks by name.
fn statuses(r: &Run) -> Vec<(String, String)> {
    r.report["checks"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or("").to_string(),
                        c["status"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The documented exit code for a finished run: 1 when a check failed, else 6 when one is
/// unknown, else 0.
fn documented_code(r: &Run) -> i32 {
    let s = statuses(r);
    if s.iter().any(|(_, st)| st == "failed") {
        1
    } else if s.iter().any(|(_, st)| st == "unknown") {
        6
    } else {
        0
    }
}

fn status_of(r: &Run, name: &str) -> String {
    r.check(name)["status"].as_str().unwrap_or("").to_string()
}

/// Requests against the second service.
fn orders(s: &Second, n: usize) {
    for i in 0..n {
        assert_eq!(s.get(&format!("/orders/{}", i + 1)).0, 200);
    }
}

#[test]
fn memory_leak_never_sends_sigusr2_to_a_process_that_does_not_handle_it() {
    let s = Second::start();
    let sb = s.sandbox("");
    let pid = s.pid();
    s.post("/admin/leak?mb=8&every_ms=200");
    let r = run(
        &sb,
        "memory-leak",
        &[
            "-p",
            &format!("service={APP2}"),
            "-p",
            "samples=4",
            "-p",
            "interval=1s",
            "-p",
            "warmup=0s",
            "-p",
            "growth_pct=5",
            "-p",
            "min_growth_mb=4",
        ],
    );
    r.no_panic().expect_code(1);
    assert_eq!(status_of(&r, "memory stable"), "failed", "{:#}", r.report);
    assert_eq!(status_of(&r, "heap snapshot"), "unknown");
    assert!(r.effects("service.signal").is_empty(), "{:#}", r.report);
    assert!(
        r.output()
            .iter()
            .any(|l| l.contains("--heapsnapshot-signal=SIGUSR2")),
        "{:?}",
        r.output()
    );
    // the service is the same process, still up
    assert!(s.up());
    assert_eq!(s.pid(), pid);
    s.post("/admin/reset");

    // a young process: growth during warm-up is not judged, and not passed either
    let r = run(
        &sb,
        "memory-leak",
        &[
            "-p",
            &format!("service={APP2}"),
            "-p",
            "samples=3",
            "-p",
            "interval=1s",
            "-p",
            "warmup=1h",
        ],
    );
    r.no_panic().expect_code(6);
    assert_eq!(status_of(&r, "memory stable"), "unknown");
}

#[test]
fn maintenance_mode_without_a_public_folder_leaves_the_service_running() {
    let s = Second::start();
    let sb = s.sandbox("");
    let before = s.restart_time();
    let pid = s.pid();
    for dry in [true, false] {
        let mut args = vec!["-p", "action=on", "-p", "service=order-service"];
        if dry {
            args.push("--dry-run");
        }
        let r = run(&sb, "maintenance-mode", &args);
        r.no_panic().expect_code(1);
        assert!(
            r.report["error"]
                .as_str()
                .unwrap_or("")
                .contains("was not stopped"),
            "{:#}",
            r.report
        );
        assert!(r.effects("service.stop").is_empty(), "{:#}", r.report);
        assert!(s.up(), "the service was left down");
    }
    assert_eq!((s.pid(), s.restart_time()), (pid, before));
    assert!(!s.workdir().join("public").exists());

    // `off` with no page: honest, and the service stays up
    let r = run(
        &sb,
        "maintenance-mode",
        &[
            "-p",
            "action=off",
            "-p",
            "service=order-service",
            "-p",
            "wait=30s",
        ],
    );
    r.no_panic().expect_code(0);
    assert!(names(&r).iter().all(|n| n != "maintenance page removed"));
    assert!(
        r.output().iter().any(|l| l.contains("no maintenance page")),
        "{:?}",
        r.output()
    );
    assert!(s.up());

    // with a page folder given, on/off round trip: down with the page, then back up without it
    let pages = s.workdir().join("www");
    std::fs::create_dir_all(&pages).unwrap();
    let page = pages.join("maintenance.html");
    let page_arg = format!("page={}", page.display());
    let r = run(
        &sb,
        "maintenance-mode",
        &[
            "-p",
            "action=on",
            "-p",
            "service=order-service",
            "-p",
            &page_arg,
        ],
    );
    r.no_panic().expect_code(0);
    assert!(page.exists() && !s.up());
    let r = run(
        &sb,
        "maintenance-mode",
        &[
            "-p",
            "action=off",
            "-p",
            "service=order-service",
            "-p",
            &page_arg,
            "-p",
            "wait=30s",
        ],
    );
    r.no_panic().expect_code(0);
    assert!(!page.exists() && s.up());
}

/// `git` in `dir` with a fixed identity.
fn commit_all(dir: &Path, msg: &str) {
    git(
        dir,
        &["-c", "user.email=t@t", "-c", "user.name=t", "add", "-A"],
    );
    git(
        dir,
        &[
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            msg,
        ],
    );
}

fn head(dir: &Path) -> String {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn rollback_without_build_script_skips_it_and_a_failing_step_returns_the_tree() {
    let s = Second::start();
    s.own_node_modules();
    let work = s.workdir();
    std::fs::write(work.join(".gitignore"), "node_modules/\nvar/\n").unwrap();
    git(&work, &["init", "-q"]);
    commit_all(&work, "v0.9.0");
    git(&work, &["tag", "v0.9.0"]);
    // a release whose lock file is broken: npm ci fails there
    std::fs::write(work.join("package-lock.json"), "{ not json").unwrap();
    commit_all(&work, "v0.9.1 broken lock");
    git(&work, &["tag", "v0.9.1-broken"]);
    git(&work, &["checkout", "-q", "v0.9.0"]);
    let pkg = std::fs::read_to_string(work.join("package.json"))
        .unwrap()
        .replace("\"0.9.0\"", "\"1.0.0\"");
    std::fs::write(work.join("package.json"), pkg).unwrap();
    git(&work, &["checkout", "-q", "-b", "main"]);
    commit_all(&work, "v1.0.0");
    let sb = s.sandbox(
        "commands = [\"git\", \"npm\"]\nread_only_commands = [\"git status --porcelain --untracked-files=no\", \"git tag --list *\", \"git rev-parse HEAD\", \"git show *\"]\nrestart_limit = \"1/1h\"",
    );
    let tree_at = head(&work);

    // dry run: the current commit is printed, the missing build script said, nothing changes
    let r = run(
        &sb,
        "rollback",
        &[
            "-p",
            "tag=v0.9.0",
            "-p",
            "service=order-service",
            "--dry-run",
        ],
    );
    r.no_panic().expect_code(0);
    let out = r.output();
    assert!(
        out.iter().any(|l| l.contains(&tree_at)),
        "current commit not printed: {out:?}"
    );
    assert!(out.iter().any(|l| l.contains("no build script")), "{out:?}");
    assert_eq!(head(&work), tree_at);

    // a failing step: the tree goes back to the recorded commit, the service is not restarted
    let before = s.restart_time();
    let r = run(
        &sb,
        "rollback",
        &[
            "-p",
            "tag=v0.9.1-broken",
            "-p",
            "service=order-service",
            "--timeout",
            "600",
        ],
    );
    r.no_panic().expect_code(1);
    assert_eq!(status_of(&r, "npm ci"), "failed");
    assert_eq!(
        status_of(&r, &format!("undo: tree back at {tree_at}")),
        "ok",
        "{:#}",
        r.report
    );
    assert_eq!(head(&work), tree_at, "the tree stayed at the new tag");
    assert!(r.effects("service.restart").is_empty());
    assert_eq!(s.restart_time(), before);
    assert!(s.up());

    // the real rollback: no build step, restart, healthy
    let r = run(
        &sb,
        "rollback",
        &[
            "-p",
            "tag=v0.9.0",
            "-p",
            "service=order-service",
            "-p",
            "wait=60s",
            "--timeout",
            "600",
        ],
    );
    r.no_panic().expect_code(0);
    assert!(names(&r).iter().all(|n| n != "npm run build"));
    assert_eq!(status_of(&r, "order-service healthy on v0.9.0"), "ok");
    assert_eq!(s.restart_time(), before + 1);
    assert!(s.up());

    // the restart limit (1 per hour) is used up: refused before anything is checked out
    let tree_now = head(&work);
    let r = run(
        &sb,
        "rollback",
        &["-p", "tag=v0.9.1-broken", "-p", "service=order-service"],
    );
    r.no_panic().expect_code(1);
    let err = r.report["error"].as_str().unwrap_or_default();
    assert!(err.contains("restart_limit"), "{err}");
    assert!(
        r.effects("cmd.run").iter().all(|e| e["outcome"] != "done"
            || !e["target"]
                .as_str()
                .unwrap_or_default()
                .contains("checkout")),
        "{:#}",
        r.report
    );
    assert_eq!(head(&work), tree_now, "nothing was checked out");
    assert_eq!(s.restart_time(), before + 1);
}

#[test]
fn no_green_without_data_on_the_second_service() {
    let s = Second::start();
    let sb = s.sandbox("");
    orders(&s, 12);
    let svc = format!("service={APP2}");

    // slo-report: no timeout/slow counters, no status field in the log → unknown, not 0 %
    let r = during_traffic(s.url("/orders/"), || {
        run(&sb, "slo-report", &["-p", &svc, "-p", "sample=2s"])
    });
    r.no_panic();
    assert!(r.report["error"].is_null(), "{:#}", r.report);
    for name in [
        "API 超时率 timeout rate",
        "慢请求比例 slow-request ratio",
        "未授权访问 unauthorized access",
    ] {
        assert_eq!(status_of(&r, name), "unknown", "{name}: {:#}", r.report);
    }
    assert_eq!(status_of(&r, "错误率 error rate"), "ok");
    r.expect_code(documented_code(&r));
    assert_ne!(r.code, 0);

    // security-scan: no ip and no status field → per-IP checks unknown
    let r = run(&sb, "security-scan", &["-p", &svc]);
    r.no_panic();
    assert_eq!(status_of(&r, "401/403 per IP"), "unknown", "{:#}", r.report);
    assert_eq!(status_of(&r, "request rate per IP"), "unknown");
    assert_eq!(status_of(&r, "suspicious requests"), "ok");
    r.expect_code(6);

    // cache-check: no hit rate anywhere → unknown, exit 6 (was: 0 with no checks)
    let r = run(&sb, "cache-check", &["-p", &svc]);
    r.no_panic().expect_code(6);
    assert_eq!(status_of(&r, "cache hit rate"), "unknown");

    // config-review: no .env is a failed check, not a script error
    let r = run(&sb, "config-review", &["-p", &svc]);
    r.no_panic().expect_code(1);
    assert!(r.report["error"].is_null(), "{:#}", r.report);
    assert_eq!(status_of(&r, ".env present"), "failed");

    // cert-check on a plain-HTTP port: a failed check saying so, not exit 5
    let r = run(
        &sb,
        "cert-check",
        &["-p", &format!("endpoints=127.0.0.1:{}", s.port)],
    );
    r.no_panic().expect_code(1);
    let c = r.check(&format!("127.0.0.1:{} expiry", s.port));
    assert_eq!(c["status"], "failed");
    assert!(
        c["detail"]
            .as_str()
            .unwrap_or("")
            .starts_with("no certificate:"),
        "{c:#}"
    );
    // an endpoint the policy does not let this host reach was not looked at: unknown, naming
    // the rule (a new user's host missing from http_hosts read as a failed certificate)
    let r = run(
        &sb,
        "cert-check",
        &["-p", "endpoints=cert.example.invalid:443"],
    );
    r.no_panic().expect_code(6);
    let c = r.check("cert.example.invalid:443 expiry");
    assert_eq!(c["status"], "unknown", "{c:#}");
    let why = c["detail"].as_str().unwrap_or("");
    assert!(
        why.starts_with("not checked: ") && why.contains("policy.http_hosts"),
        "{c:#}"
    );
    assert!(s.up());
}

#[test]
fn performance_check_rates_come_from_a_recent_window() {
    let s = Second::start();
    let sb = s.sandbox("");
    orders(&s, 5);
    // traffic during the window: error rate measured over it; the slow counter is not reported
    let url = s.url("/orders/");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let t = std::thread::spawn(move || {
        let mut i = 0;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            i += 1;
            let _ = http("GET", &format!("{url}{i}"), Duration::from_secs(5));
        }
    });
    let r = run(
        &sb,
        "performance-check",
        &["-p", &format!("service={APP2}"), "-p", "sample=2s"],
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    t.join().unwrap();
    r.no_panic();
    assert_eq!(status_of(&r, "error rate"), "ok", "{:#}", r.report);
    assert_eq!(status_of(&r, "average response time"), "ok");
    assert_eq!(status_of(&r, "slow-request ratio"), "unknown");
    r.expect_code(6);
    assert!(
        r.output()
            .iter()
            .any(|l| l.starts_with("in the last 2 s:") && l.contains("not reported slow")),
        "{:?}",
        r.output()
    );
}

#[test]
fn health_check_counts_sockets_and_checks_the_second_service_port() {
    let s = Second::start();
    let sb = s.sandbox("");
    let r = run(
        &sb,
        "health-check",
        &["-p", "cpu_max=101", "-p", "cpu_window=1s"],
    );
    r.no_panic();
    assert_eq!(status_of(&r, "close-wait sockets"), "ok", "{:#}", r.report);
    assert_eq!(status_of(&r, "time-wait sockets"), "ok");
    assert_eq!(
        status_of(&r, &format!("{APP2} listening on {}", s.port)),
        "ok"
    );
    assert_eq!(status_of(&r, &format!("{APP2} healthy")), "ok");
    r.expect_code(documented_code(&r));
}

#[test]
fn log_cleanup_handles_winston_numeric_rotation_and_keeps_modes() {
    use std::os::unix::fs::PermissionsExt;
    let s = Second::start();
    let sb = s.sandbox("");
    orders(&s, 3);
    let logs = s.logs.clone();
    let dir_arg = format!("dir={}", logs.display());
    for (name, ago) in [
        ("app1.log", "40 days ago"),
        ("app2.log", "5 days ago"),
        ("app3.log", "4 days ago"),
    ] {
        std::fs::write(
            logs.join(name),
            format!("2026-01-01T00:00:00.000Z info: {name}\n"),
        )
        .unwrap();
        std::fs::set_permissions(logs.join(name), std::fs::Permissions::from_mode(0o644)).unwrap();
        age(&logs.join(name), ago);
    }
    // app3.log is the newest of the numbered files: Winston without `tailable` writes there
    let r = run(
        &sb,
        "log-cleanup",
        &["-p", "service=order-service", "-p", &dir_arg, "--dry-run"],
    );
    r.no_panic().expect_code(0);
    let out = r.output();
    for f in ["app1.log", "app2.log"] {
        assert!(
            out.iter()
                .any(|l| l.starts_with("planned: ") && l.ends_with(f)),
            "{f} not listed: {out:?}"
        );
    }
    assert!(!out.iter().any(|l| l.ends_with("app3.log")), "{out:?}");
    assert!(logs.join("app1.log").exists() && logs.join("app2.log").exists());

    let r = run(
        &sb,
        "log-cleanup",
        &["-p", "service=order-service", "-p", &dir_arg],
    );
    r.no_panic().expect_code(0);
    assert!(!logs.join("app1.log").exists());
    assert!(!logs.join("app2.log").exists());
    let gz = logs.join("app2.log.gz");
    assert_eq!(
        std::fs::metadata(&gz).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert!(logs.join("app3.log").exists() && logs.join("app.log").exists());
    let named = sb
        .audit()
        .iter()
        .any(|a| a["action"] == "logs.cleanup" && a.to_string().contains("app1.log"));
    assert!(named, "audit does not name the files: {:#?}", sb.audit());
    assert!(s.up());
}

#[test]
fn data_recovery_works_with_a_narrow_write_policy() {
    let demo = Demo::start();
    let work = demo.workdir();
    let sb = demo.sandbox("");
    let r = run(&sb, "backup", &[]);
    r.no_panic().expect_code(0);
    let env_path = work.join(".env");
    let original = std::fs::read_to_string(&env_path).unwrap();
    std::fs::write(&env_path, "BROKEN=1\n").unwrap();
    // only .env (and the state dir) writable
    let narrow = demo.config_toml("").replace(
        &format!(
            "write = [\"{w}/logs\", \"{w}/public\", \"{w}/cache\", \"{w}\"]",
            w = work.display()
        ),
        &format!(
            "write = [\"{}\", \"{}\"]",
            env_path.display(),
            sb.state().display()
        ),
    );
    assert!(narrow.contains("/.env\""), "{narrow}");
    sb.config(&narrow);
    let r = run(&sb, "data-recovery", &["-p", "what=env"]);
    r.no_panic().expect_code(0);
    assert_eq!(std::fs::read_to_string(&env_path).unwrap(), original);
}

#[test]
fn restore_test_uses_a_fresh_scratch_folder_and_removes_it() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    run(&sb, "backup", &[]).no_panic().expect_code(0);
    for _ in 0..2 {
        let r = run(&sb, "restore-test", &[]);
        r.no_panic().expect_code(0);
        assert_eq!(
            status_of(&r, "scratch folder removed"),
            "ok",
            "{:#}",
            r.report
        );
    }
    let left: Vec<_> = std::fs::read_dir(sb.state().join("backups"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("restore-test"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Every shipped runbook's name (from `runbooks/`).
fn shipped() -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks"))
            .unwrap()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_suffix(".rhai")
                    .map(str::to_string)
            })
            .collect();
    v.sort();
    v
}

/// Parameters that make `name` run quickly against `service` (whose plain port is `port`).
fn quick_params(name: &str, service: &str, port: u16) -> Vec<String> {
    let mut p = vec![format!("service={service}")];
    match name {
        "memory-leak" => p.extend(["samples=3", "interval=1s", "warmup=0s"].map(String::from)),
        "performance-check" | "slo-report" => p.push("sample=1s".into()),
        "health-check" => p.extend(["cpu_window=1s", "cpu_max=101"].map(String::from)),
        "performance-issue" => p.push("cpu_max=101".into()),
        "rollback" => p.push("tag=v0.0.0-none".into()),
        "cert-check" => {
            p = vec![format!("endpoints=127.0.0.1:{port}")];
        }
        "maintenance-mode" => p.push("wait=30s".into()),
        _ => {}
    }
    p.into_iter().flat_map(|x| ["-p".to_string(), x]).collect()
}

/// SHA-256 of every file below `dir` (symbolic links and `skip` folders left out), sorted by path.
fn tree_hash(dir: &Path, skip: &[&str]) -> Vec<(String, String)> {
    use sha2::Digest;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let ft = e.file_type().unwrap();
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            if ft.is_symlink() || skip.contains(&rel.as_str()) {
                continue;
            }
            if ft.is_dir() {
                stack.push(e.path());
            } else {
                let bytes = std::fs::read(e.path()).unwrap();
                let sum: String = sha2::Sha256::digest(&bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                out.push((rel, sum));
            }
        }
    }
    out.sort();
    out
}

const POLICY_CMDS: &str = "commands = [\"git\", \"npm\"]\nread_only_commands = [\"git status --porcelain --untracked-files=no\", \"git tag --list *\", \"git rev-parse HEAD\", \"git show *\", \"npm outdated --json\", \"npm audit --json\"]";

/// Run every shipped runbook against `app` (its quick parameters, `--dry-run` when `dry`):
/// no panic, no script error, the documented exit code when the run did not end in an error;
/// then `after(name, run)` for the test's own assertions.
fn run_every_shipped(
    sb: &Sandbox,
    app: &common::pm2app::Pm2App,
    dry: bool,
    mut after: impl FnMut(&str, &Run),
) {
    for name in shipped() {
        let params = quick_params(&name, app.spec.name, app.port);
        let mut args: Vec<&str> = params.iter().map(String::as_str).collect();
        if dry {
            args.push("--dry-run");
        }
        args.extend(["--timeout", "300"]);
        let r = run(sb, &name, &args);
        r.no_panic();
        assert_ne!(
            r.code, 5,
            "{name}: script error (dry run: {dry}): {:#}",
            r.report
        );
        if r.report["error"].is_null() {
            assert_eq!(r.code, documented_code(&r), "{name}: {:#}", r.report);
        }
        after(&name, &r);
    }
}

#[test]
fn every_shipped_runbook_dry_run_leaves_the_demo_untouched() {
    let demo = Demo::start();
    let sb = demo.sandbox(POLICY_CMDS);
    traffic(&demo, 6);
    let work = demo.workdir();
    let before = tree_hash(&work, &["logs"]);
    let restarts = demo.restart_time();
    run_every_shipped(&sb, &demo, true, |name, r| {
        for e in r.report["effects"].as_array().into_iter().flatten() {
            let ro = e["action"] == "cmd.run" && e["outcome"] == "done";
            assert!(
                e["outcome"] == "planned" || ro || e["outcome"] == "denied",
                "{name}: effect ran under --dry-run: {e:#}"
            );
        }
        assert_eq!(
            tree_hash(&work, &["logs"]),
            before,
            "{name} changed the demo's files"
        );
        assert_eq!(demo.restart_time(), restarts, "{name} restarted the demo");
    });
}

#[test]
fn every_shipped_runbook_runs_for_real_on_the_second_service_and_leaves_it_up() {
    let s = Second::start();
    let sb = s.sandbox(POLICY_CMDS);
    orders(&s, 6);
    let pid = s.pid();
    // dry runs first: nothing changes, the process is the same
    run_every_shipped(&sb, &s, true, |name, _| {
        assert!(
            s.up() && s.pid() == pid,
            "{name} --dry-run touched the service"
        );
    });
    run_every_shipped(&sb, &s, false, |name, r| {
        if !r.report["error"].is_null() {
            assert_eq!(r.code, 1, "{name}: {:#}", r.report);
        }
        // no check passes on data it did not have: the checks the service cannot feed are unknown
        if name == "maintenance-mode" {
            // no public/ folder: refused before the stop
            assert_eq!(r.code, 1, "{:#}", r.report);
        }
        assert!(
            s.up(),
            "{name} left the second service down: {:#}",
            r.report
        );
    });
}

/// A fresh demo with no traffic (fresh-user finding): the stats endpoint says 0 % cache hits
/// over no lookup, and counts the tool's own readings as requests. Neither is a measurement:
/// the cache hit rate and the windowed rates are unknown, never a pass or a fail.
#[test]
fn no_traffic_is_no_measurement() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    let r = run(&sb, "cache-check", &[]);
    r.no_panic();
    assert_eq!(status_of(&r, "cache hit rate"), "unknown", "{:#}", r.report);

    let r = run(&sb, "performance-check", &["-p", "sample=1s"]);
    r.no_panic();
    for name in ["average response time", "error rate", "slow-request ratio"] {
        assert_eq!(status_of(&r, name), "unknown", "{name}: {:#}", r.report);
    }
    assert!(
        r.output()
            .iter()
            .any(|l| l.contains("no requests completed")),
        "{:?}",
        r.output()
    );
    r.expect_code(6);
}

/// A sandbox whose inventory has `app` with its workdir `SANDBOX/app` holding the demo's
/// package.json (and lock file when `with_lock`); npm may run `npm outdated/audit --json`.
fn npm_sandbox(with_lock: bool) -> Sandbox {
    let sb = Sandbox::new();
    let src = common::demo::fixture_dir();
    sb.file(
        "app/package.json",
        &std::fs::read_to_string(src.join("package.json")).unwrap(),
    );
    if with_lock {
        sb.file(
            "app/package-lock.json",
            &std::fs::read_to_string(src.join("package-lock.json")).unwrap(),
        );
    }
    sb.config(&format!(
        "[policy]\nread = [\"{0}\"]\ncommands = [\"npm\"]\nread_only_commands = [\"npm outdated --json\", \"npm audit --json\"]\n\n[services.app]\nmanager = \"pm2\"\nworkdir = \"{0}/app\"\n",
        sb.path().display()
    ));
    sb
}

/// `runbook run dependency-audit -p service=app` with npm's registry at `registry` and npm's
/// cache inside the sandbox (nothing reaches the internet or the user's cache).
fn dependency_audit_with_registry(sb: &Sandbox, registry: &str) -> Run {
    let out = sb
        .cmd()
        .args(["run", "dependency-audit", "--json", "-p", "service=app"])
        .env("npm_config_registry", registry)
        .env("npm_config_cache", sb.path().join("npm-cache"))
        .env("npm_config_update_notifier", "false")
        // npm retries an unreachable registry for ~70 s by default
        .env("npm_config_fetch_retries", "0")
        .output()
        .expect("spawn runbook");
    Run::from_output(out)
}

/// A fake npm registry on loopback whose bulk advisory endpoint answers `advisories` (JSON) and
/// every other request 404; serves until the test ends.
fn fake_registry(advisories: &'static str) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind fake registry");
    let url = format!("http://{}/", server.server_addr().to_ip().unwrap());
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut body = Vec::new();
            let _ = std::io::Read::read_to_end(req.as_reader(), &mut body);
            let resp = if req.url().starts_with("/-/npm/v1/security/advisories/bulk") {
                tiny_http::Response::from_string(advisories).with_header(
                    "Content-Type: application/json"
                        .parse::<tiny_http::Header>()
                        .unwrap(),
                )
            } else {
                tiny_http::Response::from_string("{}").with_status_code(404)
            };
            let _ = req.respond(resp);
        }
    });
    url
}

/// A dry run under a policy that does not list `npm outdated --json` as read-only (a typo, as a
/// new user made: "npm outdatd --json") only plans the command: the outdated count is unknown,
/// never "0 outdated", and the vulnerability check is unknown too.
#[test]
fn dependency_audit_dry_run_with_npm_outdated_only_planned_reports_no_count() {
    let sb = npm_sandbox(true);
    sb.config(&format!(
        "[policy]\nread = [\"{0}\"]\ncommands = [\"npm\"]\nread_only_commands = [\"npm outdatd --json\"]\n\n[services.app]\nmanager = \"pm2\"\nworkdir = \"{0}/app\"\n",
        sb.path().display()
    ));
    let r = run(&sb, "dependency-audit", &["--dry-run", "-p", "service=app"]);
    r.no_panic().expect_code(6);
    let runs = r.effects("cmd.run");
    assert_eq!(runs.len(), 2, "{:#}", r.report);
    assert!(
        runs.iter().all(|e| e["outcome"] == "planned"),
        "{:#}",
        r.report
    );
    let out = r.output();
    assert!(
        out.iter().any(|l| l
            .starts_with("outdated package(s) unknown: npm outdated was only planned (--dry-run)")),
        "{out:?}"
    );
    assert!(
        !out.iter().any(|l| l.ends_with("outdated package(s):")),
        "a count npm never gave: {out:?}"
    );
    assert_eq!(status_of(&r, "no high+ vulnerabilities"), "unknown");
}

/// Issue 12: an audit that could not run (registry unreachable, no lock file) measured nothing:
/// the vulnerability check is unknown with npm's own message (exit 6), never failed; only
/// vulnerabilities npm reports fail it.
#[test]
fn dependency_audit_is_unknown_when_npm_cannot_audit_and_fails_only_on_vulnerabilities() {
    // registry unreachable (nothing listens on port 9 of loopback)
    let sb = npm_sandbox(true);
    let r = dependency_audit_with_registry(&sb, "http://127.0.0.1:9/");
    r.no_panic().expect_code(6);
    assert_eq!(
        statuses(&r),
        vec![(
            "no high+ vulnerabilities".to_string(),
            "unknown".to_string()
        )]
    );
    let why = r.check("no high+ vulnerabilities")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.starts_with("npm audit could not run: ") && why.contains("ECONNREFUSED 127.0.0.1:9"),
        "{why}"
    );
    assert!(
        r.output().iter().any(|l| l
            .starts_with("outdated package(s) unknown: npm outdated could not run:")
            && l.contains("ECONNREFUSED")),
        "{:?}",
        r.output()
    );

    // no lock file: npm's ENOLOCK words
    let sb = npm_sandbox(false);
    let r = dependency_audit_with_registry(&sb, "http://127.0.0.1:9/");
    r.no_panic().expect_code(6);
    let why = r.check("no high+ vulnerabilities")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.contains("ENOLOCK") && why.contains("requires an existing lockfile"),
        "{why}"
    );

    // a registry that knows one high advisory for express: failed, with the count
    let sb = npm_sandbox(true);
    let reg = fake_registry(
        r#"{"express":[{"id":1,"url":"http://127.0.0.1/advisory/1","title":"test advisory","severity":"high","vulnerable_versions":"<99.0.0","cwe":[],"cvss":{"score":7.5,"vectorString":null}}]}"#,
    );
    let r = dependency_audit_with_registry(&sb, &reg);
    r.no_panic().expect_code(1);
    let c = r.check("no high+ vulnerabilities");
    assert_eq!(c["status"], "failed", "{c:#}");
    assert_eq!(c["value"], 1, "{c:#}");

    // the same registry with no advisory: ok
    let sb = npm_sandbox(true);
    let reg = fake_registry("{}");
    let r = dependency_audit_with_registry(&sb, &reg);
    r.no_panic();
    let c = r.check("no high+ vulnerabilities");
    assert_eq!(c["status"], "ok", "{c:#}");
    assert_eq!(c["value"], 0, "{c:#}");
}

/// service-unresponsive on a service whose inventory entry has no `health_url`: health cannot
/// be probed, so the check is unknown naming the key (exit 6, not a script error) and nothing
/// is restarted.
#[test]
fn service_unresponsive_without_health_url_is_unknown_and_restarts_nothing() {
    let s = Second::start();
    let toml: String = s
        .config_toml("")
        .lines()
        .filter(|l| !l.starts_with("health_url"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!toml.contains("health_url"), "{toml}");
    let sb = Sandbox::new();
    sb.config(&toml);
    let before = s.restart_time();
    let r = run(
        &sb,
        "service-unresponsive",
        &["-p", &format!("service={APP2}")],
    );
    r.no_panic().expect_code(6);
    assert_eq!(r.report["status"], "inconclusive");
    assert_eq!(
        statuses(&r),
        vec![(format!("{APP2} healthy"), "unknown".to_string())]
    );
    let why = r.check(&format!("{APP2} healthy"))["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.contains("no health_url") && why.contains(&format!("services.{APP2}.health_url")),
        "{why}"
    );
    assert!(
        r.report["effects"].as_array().unwrap().is_empty(),
        "{:#}",
        r.report
    );
    assert!(sb.audit().is_empty(), "{:#?}", sb.audit());
    assert_eq!(s.restart_time(), before);
    assert!(s.up());
}

/// log-cleanup's dry run lists each file once, with the one action the real run then takes:
/// a rotated file old enough to delete is not also listed for compression, and a dated name
/// with a rotation suffix is not listed by both patterns.
#[test]
fn log_cleanup_dry_run_lists_each_file_once() {
    let sb = Sandbox::new();
    let logs = sb.path().join("logs");
    sb.config(&format!(
        "[policy]\nread = [\"{0}\"]\nwrite = [\"{0}/logs\"]\n",
        sb.path().display()
    ));
    let files = [
        ("combined.log", "now"),                      // live: never
        ("error.log", "60 days ago"),                 // live: never
        ("combined.log.1", "3 days ago"),             // compress
        ("combined.log.2", "40 days ago"),            // delete (not also compress)
        ("combined-2026-10-01.log", "45 days ago"),   // delete
        ("combined-2026-11-20.log.1", "3 days ago"),  // compress (rotated and dated: once)
        ("combined-2026-09-01.log.3", "50 days ago"), // delete (rotated and dated: once)
        ("app1.log", "40 days ago"),                  // Winston set: delete
        ("app2.log", "5 days ago"),                   // Winston set: compress
        ("app3.log", "now"),                          // Winston set: the one being written
    ];
    for (name, ago) in files {
        sb.file(&format!("logs/{name}"), &format!("{name}\n"));
        age(&logs.join(name), ago);
    }
    let dir = format!("dir={}", logs.display());
    let mut expected: Vec<String> = [
        "combined.log.1",
        "combined.log.2",
        "combined-2026-10-01.log",
        "combined-2026-11-20.log.1",
        "combined-2026-09-01.log.3",
        "app1.log",
        "app2.log",
    ]
    .iter()
    .map(|n| logs.join(n).display().to_string())
    .collect();
    expected.sort();

    let r = run(&sb, "log-cleanup", &["--dry-run", "-p", &dir]);
    r.no_panic().expect_code(0);
    let mut planned: Vec<String> = r
        .output()
        .iter()
        .filter_map(|l| l.strip_prefix("planned: ").map(String::from))
        .collect();
    planned.sort();
    assert_eq!(planned, expected, "{:?}", r.output());
    // the planned effects' audit records name each file once too
    let mut audited: Vec<String> = sb
        .audit()
        .iter()
        .filter(|a| a["action"] == "logs.cleanup" && a["outcome"] == "planned")
        .flat_map(|a| {
            a["args"]["paths"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    audited.sort();
    assert_eq!(audited, expected);
    for (name, _) in files {
        assert!(logs.join(name).exists(), "dry run touched {name}");
    }

    // the real run does exactly what the dry run listed
    let r = run(&sb, "log-cleanup", &["-p", &dir]);
    r.no_panic().expect_code(0);
    let mut cleaned: Vec<String> = r
        .output()
        .iter()
        .filter_map(|l| l.strip_prefix("cleaned: ").map(String::from))
        .collect();
    cleaned.sort();
    assert_eq!(cleaned, expected, "{:?}", r.output());
    let mut left: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    left.sort();
    assert_eq!(
        left,
        vec![
            "app2.log.gz",
            "app3.log",
            "combined-2026-11-20.log.1.gz",
            "combined.log",
            "combined.log.1.gz",
            "error.log",
        ]
    );
}

/// slo-report's request targets are rates over a recent window (two stats readings `sample`
/// apart), not since the process started: an error burst before the window does not fail it,
/// and a window without traffic measures nothing (unknown, saying so).
#[test]
fn slo_report_request_rates_are_over_the_window_not_since_start() {
    let demo = Demo::start();
    let sb = demo.sandbox("");
    // before the window: 10 failed requests out of 16 since start
    demo.post("/admin/errors?count=10");
    for i in 0..10 {
        assert_eq!(demo.get(&format!("/api/pages/{}", i + 1)).0, 500);
    }
    traffic(&demo, 6);
    let since_start: Value = serde_json::from_str(&demo.get("/api/stats").1).unwrap();
    assert!(
        since_start["errorRate"].as_f64().unwrap() > 50.0,
        "{since_start:#}"
    );

    let r = during_traffic(demo.url("/api/pages/"), || {
        run(&sb, "slo-report", &["-p", "sample=2s"])
    });
    r.no_panic();
    assert!(r.report["error"].is_null(), "{:#}", r.report);
    let e = r.check("错误率 error rate");
    assert_eq!(e["status"], "ok", "{e:#}");
    assert_eq!(e["value"].as_f64(), Some(0.0), "{e:#}");
    let s = r.check("API 成功率 success rate");
    assert_eq!(s["status"], "ok", "{s:#}");
    assert_eq!(s["value"].as_f64(), Some(100.0), "{s:#}");
    assert_eq!(r.check("平均响应时间 average response")["status"], "ok");
    assert!(
        r.output()
            .iter()
            .any(|l| l.starts_with("in the last 2 s: ") && !l.contains(": 0 request")),
        "{:?}",
        r.output()
    );
    r.expect_code(documented_code(&r));

    // no traffic in the window: every request target is unknown, saying why
    let r = run(&sb, "slo-report", &["-p", "sample=1s"]);
    r.no_panic();
    for name in [
        "平均响应时间 average response",
        "错误率 error rate",
        "慢请求比例 slow-request ratio",
        "API 超时率 timeout rate",
        "API 成功率 success rate",
    ] {
        let c = r.check(name);
        assert_eq!(c["status"], "unknown", "{c:#}");
        assert!(
            c["detail"]
                .as_str()
                .unwrap()
                .contains("no request completed in the 1 s window"),
            "{c:#}"
        );
    }
    r.expect_code(documented_code(&r));
    assert_ne!(r.code, 0);
}

/// A loopback HTTP endpoint that answers exactly one request `200 ok`, then closes (the port is
/// refused after the returned thread has ended).
fn answer_once() -> (u16, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            .unwrap();
    });
    (port, t)
}

/// A pm2 service whose `pm2_home` has no daemon (pm2 killed, or the wrong folder): the status
/// line is the manager's own words, never `pid ,  restart(s), up  s`.
fn no_daemon_sandbox(port: u16) -> (Sandbox, PathBuf) {
    let sb = Sandbox::new();
    let home = sb.path().join("no-pm2-here");
    std::fs::create_dir_all(&home).unwrap();
    let log = sb.file("ghost.log", "");
    sb.config(&format!(
        r#"[policy]
read = [{dir:?}]
http_hosts = ["127.0.0.1"]

[services.ghost]
manager = "pm2"
pm2_home = {home:?}
health_url = "http://127.0.0.1:{port}/health"
logs = [{log:?}]
"#,
        dir = sb.path().display().to_string(),
        home = home.display().to_string(),
        log = log.display().to_string(),
    ));
    (sb, home)
}

fn assert_daemon_detail(text: &str, home: &Path) {
    assert!(
        text.contains(&format!(
            "no pm2 daemon runs for PM2_HOME={}",
            home.display()
        )),
        "{text}"
    );
    for empty in ["pid ,", ",  restart(s)", "up  s"] {
        assert!(!text.contains(empty), "empty field {empty:?} in {text}");
    }
}

/// health-check's health check is `NAME healthy`, the series history availability, incidents,
/// `runbook report` and notify read: an hourly run that fails lowers availability. A probe that
/// got no answer leaves latency `unknown`, not missing. With no pm2 daemon for the service's
/// `pm2_home`, both service runbooks print pm2's own words instead of empty pid/uptime fields.
#[test]
fn health_check_feeds_availability_and_says_why_without_a_daemon() {
    let (port, server) = answer_once();
    let (sb, home) = no_daemon_sandbox(port);
    let quick = ["-p", "cpu_window=1s", "-p", "cpu_max=101"];

    // The endpoint answers: healthy, latency measured; pm2 has no daemon: online failed, saying so.
    let r = run(&sb, "health-check", &quick);
    r.no_panic();
    server.join().unwrap();
    assert_eq!(status_of(&r, "ghost healthy"), "ok", "{:#}", r.report);
    assert_eq!(status_of(&r, "ghost latency"), "ok");
    assert_eq!(status_of(&r, "ghost online"), "failed");
    let online = r.check("ghost online")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(online.starts_with("pm2: stopped"), "{online}");
    assert_daemon_detail(&online, &home);

    // The endpoint is gone: healthy failed, latency unknown (nothing to time), exit 1.
    let r = run(&sb, "health-check", &quick);
    r.no_panic().expect_code(1);
    assert_eq!(status_of(&r, "ghost healthy"), "failed", "{:#}", r.report);
    let latency = r.check("ghost latency");
    assert_eq!(latency["status"], "unknown", "{latency:#}");
    assert!(
        latency["detail"]
            .as_str()
            .unwrap()
            .contains("no response to time"),
        "{latency:#}"
    );

    // Both runs are in the service's health series: availability 50 %, in history and report.
    let out = sb.run(&["history", "--json", "--check", "ghost healthy*"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(h["availability"]["ok"], 1, "{h:#}");
    assert_eq!(h["availability"]["failed"], 1, "{h:#}");
    assert_eq!(h["availability"]["availability_pct"].as_f64(), Some(50.0));
    let out = sb.run(&["report", "--since", "1d", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rep: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ghost = &rep["services"][0];
    assert_eq!(ghost["service"], "ghost", "{rep:#}");
    assert_eq!(
        ghost["availability"]["availability_pct"].as_f64(),
        Some(50.0)
    );
    assert_eq!(ghost["incidents"].as_array().unwrap().len(), 1, "{rep:#}");

    // service-unresponsive's status line says the same; nothing restarted.
    let r = run(
        &sb,
        "service-unresponsive",
        &["-p", "service=ghost", "-p", "restart=false"],
    );
    r.no_panic().expect_code(1);
    let first = r.output().first().cloned().unwrap_or_default();
    assert!(first.starts_with("ghost: stopped"), "{:?}", r.output());
    assert_daemon_detail(&first, &home);
    assert!(r.effects("service.restart").is_empty());
}
