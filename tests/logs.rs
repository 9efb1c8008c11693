//! `logs::` end to end through the real binary: rotated sets with gzip, every function and
//! its result keys, damage reported as warnings, policy denials for files of a glob, cleanup
//! as an audited effect with `--dry-run`, and a scan stopped by the run's timeout.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use common::Sandbox;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;

fn gzip(bytes: &[u8], level: u32) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::new(level));
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn winston(level: &str, message: &str, ts: &str) -> String {
    format!(
        "{{\"level\":\"{level}\",\"message\":\"{message}\",\"service\":\"lowcode-platform\",\"timestamp\":\"{ts}\"}}\n"
    )
}

/// A rotated Winston set: `combined.log.2.gz` (oldest), `combined.log.1`, `combined.log` (live,
/// ending in a half-written line), plus `error.log`.
fn lowcode_logs(sb: &Sandbox) {
    let mut oldest = String::new();
    oldest += &winston(
        "info",
        "GET /api/pages/1 200 12ms",
        "2026-11-27T10:00:00.000Z",
    );
    oldest += &winston(
        "error",
        "请求失败 GET /api/pages/4048: JWT expired",
        "2026-11-27T10:00:01.000Z",
    );
    oldest += &winston(
        "warn",
        "慢请求 GET /api/x 1500ms",
        "2026-11-27T10:00:02.000Z",
    );
    let p = sb.path().join("logs/combined.log.2.gz");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, gzip(oldest.as_bytes(), 6)).unwrap();
    let mut middle = String::new();
    middle += &winston(
        "error",
        "请求失败 GET /api/pages/17: JWT expired",
        "2026-11-28T10:00:00.000Z",
    );
    middle += &winston(
        "warn",
        "慢请求 GET /api/x 3000ms",
        "2026-11-28T10:00:01.000Z",
    );
    sb.file("logs/combined.log.1", &middle);
    let mut live = String::new();
    live += &winston(
        "warn",
        "慢请求 GET /api/y 2000ms",
        "2026-11-29T09:00:00.000Z",
    );
    live += &winston(
        "error",
        "数据库连接失败 ECONNREFUSED 127.0.0.1:5432",
        "2026-11-29T09:00:01.000Z",
    );
    live += &winston(
        "info",
        "GET /api/pages/2 200 8ms",
        "2026-11-29T09:00:02.000Z",
    );
    live += "{\"level\":\"error\",\"message\":\"请求失败 GET /api/pages/99: JWT exp";
    sb.file("logs/combined.log", &live);
    sb.file(
        "logs/error.log",
        &winston(
            "error",
            "请求失败 GET /api/pages/5: JWT expired",
            "2026-11-29T09:00:03.000Z",
        ),
    );
}

#[test]
fn search_count_top_stats_tail_files_over_a_rotated_gzip_set() {
    let sb = Sandbox::new();
    lowcode_logs(&sb);
    let script = r#"
let r = logs::search("logs/combined*.log*", "JWT", #{ limit: 1 });
print(json::to_string(#{ total: r.total, truncated: r.truncated, skipped: r.skipped, n: r.matches.len(),
    file: r.matches[0].file, line: r.matches[0].line, level: r.matches[0].json.level, warnings: r.warnings }));
print(logs::count("logs/combined*.log*", "慢请求"));
print(logs::count("logs/*.log*", "", #{ level: "error" }));
print(logs::count("logs/combined*.log*", "", #{ level: "error", since: "2026-11-28T00:00:00Z", "until": "2026-11-29T00:00:00Z" }));
print(logs::count("logs/combined*.log*", "^/api/x$", #{ regex: true, field: "message" }));
print(logs::count("logs/combined*.log*", "慢请求 get", #{ ignore_case: true }));
let t = logs::top("logs/*.log*", "", #{ level: "error" });
print(json::to_string(t));
let s = logs::stats("logs/combined*.log*", "慢请求", "(\\d+)ms");
print(json::to_string([s.count, s.min, s.max, s.avg, s.p50, s.p95, s.p99, s.unmatched]));
print(json::to_string(logs::tail("logs/combined*.log*", 2)));
print(json::to_string(logs::tail("logs/combined*.log*", 2, #{ pattern: "慢请求" })));
let f = logs::files("logs/combined*");
print(json::to_string(f.map(|x| x.path)));
print(type_of(f[0].size) + " " + type_of(f[0].modified));
"#;
    let r = sb.run_script("logs", script, &[]);
    r.expect_code(6).no_panic();
    let out = r.output();
    let first: Value = serde_json::from_str(&out[0]).unwrap();
    assert_eq!(first["total"], 2);
    assert_eq!(first["truncated"], true);
    assert_eq!(
        first["skipped"], 1,
        "the half-written last line mentions JWT"
    );
    assert_eq!(first["n"], 1);
    assert_eq!(first["file"], "logs/combined.log.2.gz", "oldest file first");
    assert_eq!(
        (first["line"].as_i64(), first["level"].as_str()),
        (Some(2), Some("error"))
    );
    assert_eq!(first["warnings"], serde_json::json!([]));
    assert_eq!(out[1], "3");
    assert_eq!(
        out[2], "4",
        "three complete errors in combined + one in error.log"
    );
    assert_eq!(out[3], "1");
    assert_eq!(out[4], "0", "the field is the whole message, not /api/x");
    assert_eq!(out[5], "3");
    let top: Value = serde_json::from_str(&out[6]).unwrap();
    assert_eq!(top[0]["key"], "请求失败 GET /api/pages/<n>: JWT expired");
    assert_eq!(top[0]["count"], 3);
    assert_eq!(
        top[0]["sample"],
        "请求失败 GET /api/pages/4048: JWT expired"
    );
    assert_eq!(top[1]["key"], "数据库连接失败 ECONNREFUSED <ip>");
    assert_eq!(
        out[7],
        "[3,1500.0,3000.0,2166.6666666666665,2000.0,3000.0,3000.0,0]"
    );
    let tail: Vec<String> = serde_json::from_str(&out[8]).unwrap();
    assert!(
        tail[0].contains("GET /api/pages/2 200") && tail[1].ends_with("JWT exp"),
        "{tail:?}"
    );
    let tail: Vec<String> = serde_json::from_str(&out[9]).unwrap();
    assert!(
        tail[0].contains("3000ms") && tail[1].contains("2000ms"),
        "{tail:?}"
    );
    assert_eq!(
        out[10],
        r#"["logs/combined.log.2.gz","logs/combined.log.1","logs/combined.log"]"#
    );
    assert_eq!(out[11], "i64 string");
}

#[test]
fn damage_is_reported_as_warnings_not_errors() {
    let sb = Sandbox::new();
    let body: String = (0..30_000)
        .map(|i| {
            format!(
                "line {i} {:x}\n",
                (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            )
        })
        .collect();
    let gz = gzip(body.as_bytes(), 6);
    std::fs::create_dir_all(sb.path().join("logs")).unwrap();
    std::fs::write(sb.path().join("logs/app.log.1.gz"), &gz[..gz.len() / 2]).unwrap();
    sb.file("logs/app.log", "line live\r\nbad \u{0}bytes\r\n");
    let r = sb.run_script(
        "damage",
        r#"let r = logs::search("logs/app.log*", "line", #{ limit: 0 });
print(r.total); print(r.warnings.len()); print(r.warnings[0]);
print(logs::count("logs/app.log*", "line"));
print(logs::tail("logs/app.log", 5));"#,
        &[],
    );
    r.expect_code(6).no_panic();
    let out = r.output();
    let total: u64 = out[0].parse().unwrap();
    assert!(total > 1000 && total < 30_001, "{total}");
    assert_eq!(out[1], "1");
    assert!(
        out[2].contains("app.log.1.gz") && out[2].contains("truncated or corrupt"),
        "{}",
        out[2]
    );
    assert_eq!(out[3], out[0]);
    assert_eq!(out[4], "[\"line live\", \"bad \\0bytes\"]");
    assert!(
        r.stderr.contains("runbook: warning: logs::count:"),
        "stderr: {}",
        r.stderr
    );
}

#[test]
fn every_file_of_a_glob_is_checked_against_the_policy() {
    let sb = Sandbox::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.log"), "password=hunter2\n").unwrap();
    sb.file("logs/app.log", "ok\n");
    std::os::unix::fs::symlink(
        outside.path().join("secret.log"),
        sb.path().join("logs/zz.log"),
    )
    .unwrap();
    let r = sb.run_script(
        "deny",
        r#"print(logs::count("logs/*.log", "password"));"#,
        &[],
    );
    r.expect_code(4).no_panic();
    r.status("denied");
    assert!(r.output().is_empty());
    let audit = sb.audit();
    assert!(
        audit.iter().any(|a| a["action"] == "logs.count"
            && a["outcome"] == "denied"
            && a["target"].as_str().unwrap_or("").ends_with("zz.log")),
        "{audit:?}"
    );
    let r = sb.run_script(
        "deny2",
        &format!(
            "logs::tail({:?}, 1);",
            outside.path().join("secret.log").display()
        ),
        &[],
    );
    r.expect_code(4);
    let r = sb.run_script(
        "deny3",
        &format!(
            "logs::files({:?});",
            format!("{}/*.log", outside.path().display())
        ),
        &[],
    );
    r.expect_code(4);
}

#[test]
fn bad_options_are_usage_errors() {
    let sb = Sandbox::new();
    sb.file("app.log", "x\n");
    for (src, needle) in [
        (
            r#"logs::count("app.log", "x", #{ regexp: true });"#,
            "unknown option \"regexp\"",
        ),
        (
            r#"logs::count("app.log", "(", #{ regex: true });"#,
            "invalid regex",
        ),
        (
            r#"logs::count("app.log", "x", #{ since: "last tuesday" });"#,
            "since",
        ),
        (r#"logs::search("app.log", "x", #{ limit: -1 });"#, "limit"),
        (r#"logs::tail("app.log", -5);"#, "n must be between"),
        (r#"logs::stats("app.log", "x", "([");"#, "extract"),
        (r#"logs::cleanup(".", #{ older_than: "1d" });"#, "pattern"),
        (
            r#"logs::cleanup(".", #{ pattern: "*.log", older_than: "soon" });"#,
            "older_than",
        ),
        (r#"logs::count("missing.log", "x");"#, "missing.log"),
    ] {
        let r = sb.run_script("bad", src, &[]);
        let err = r.report["error"].as_str().unwrap_or_default().to_string();
        assert!(err.contains(needle), "{src}: {err}");
        assert!(r.code == 2 || r.code == 5, "{src}: exit {}", r.code);
        r.no_panic();
    }
    // A host error is catchable with its kind.
    let r = sb.run_script(
        "catch",
        r#"try { logs::count("app.log", "x", #{ nope: 1 }); } catch (e) { print(e.kind); }"#,
        &[],
    );
    r.expect_code(6);
    assert_eq!(r.output(), ["usage"]);
}

fn age(p: &Path, days: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(days * 86_400))
        .unwrap();
}

#[test]
fn cleanup_is_an_audited_effect_that_honours_dry_run() {
    let sb = Sandbox::new();
    sb.config("[policy]\nread = [\".\"]\nwrite = [\"logs\"]\n");
    let rotated = sb.file("logs/combined.log.3", &"old line\n".repeat(5000));
    let dated = sb.file("logs/combined-2026-10-01.log", "older\n");
    let live = sb.file("logs/combined.log", "live\n");
    age(&rotated, 5);
    age(&dated, 60);
    let script = r#"
let c = logs::cleanup("logs", #{ pattern: "*.log.*", older_than: "2d", compress: true });
let d = logs::cleanup("logs", #{ pattern: "*-*.log", older_than: 30 * 86400 });
print(json::to_string([c.compressed, c.removed, c.dry_run, c.files.len(), d.removed, d.dry_run, d.files.len()]));
print(c.bytes_freed > 0);
"#;
    let r = sb.run_script("clean", script, &["--dry-run"]);
    r.expect_code(6).no_panic();
    assert_eq!(r.output()[0], "[0,0,true,1,0,true,1]");
    assert!(rotated.exists() && dated.exists());
    let planned = r.effects("logs.cleanup");
    assert_eq!(planned.len(), 2);
    assert!(planned.iter().all(|e| e["outcome"] == "planned"));

    let r = sb.run_script("clean", script, &[]);
    r.expect_code(6).no_panic();
    assert_eq!(r.output(), ["[1,0,false,1,1,false,1]", "true"]);
    assert!(!rotated.exists() && !dated.exists() && live.exists());
    assert!(sb.path().join("logs/combined.log.3.gz").exists());
    let audit = sb.audit();
    let done: Vec<&Value> = audit
        .iter()
        .filter(|a| a["action"] == "logs.cleanup" && a["outcome"] == "done")
        .collect();
    assert_eq!(done.len(), 2, "{audit:?}");
    assert_eq!(done[0]["args"]["compress"], true);
    assert_eq!(done[0]["args"]["files"], 1);
    // The compressed file reads back through logs::.
    let r = sb.run_script(
        "read",
        r#"print(logs::count("logs/combined.log*", "old line"));"#,
        &[],
    );
    assert_eq!(r.output(), ["5000"]);

    // Outside the write roots: denied, nothing removed.
    let other = sb.file("other/app.log.1", "x\n");
    age(&other, 10);
    let r = sb.run_script(
        "deny",
        r#"logs::cleanup("other", #{ pattern: "*", older_than: "1d" });"#,
        &[],
    );
    r.expect_code(4);
    assert!(other.exists());
}

#[test]
fn a_long_scan_stops_at_the_run_timeout() {
    let sb = Sandbox::new();
    // ~13 GB of text in a 64 MiB-member gzip repeated: far more than a second of work.
    let member = gzip(
        "all work and no play makes jack a dull boy\n"
            .repeat(1 << 20)
            .as_bytes(),
        9,
    );
    let mut f = std::fs::File::create(sb.path().join("huge.log.gz")).unwrap();
    for _ in 0..300 {
        f.write_all(&member).unwrap();
    }
    drop(f);
    let start = Instant::now();
    let r = sb.run_script(
        "slow",
        r#"print(logs::count("huge.log.gz", "needle"));"#,
        &["--timeout", "1"],
    );
    let took = start.elapsed();
    r.expect_code(3).no_panic();
    r.status("limit");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// Issue 11.5: a search with a huge `limit` keeps matches only within the memory budget and says
/// so (`truncated`, a warning), instead of failing with an unrelated error or growing without end.
#[test]
fn a_huge_search_limit_stops_at_the_memory_budget_with_truncated() {
    let sb = Sandbox::new();
    sb.config("[policy]\nread = [\".\"]\nmax_memory_mb = 64\n");
    let pad = "x".repeat(900);
    let mut body = String::with_capacity(20_000 * 1000);
    for i in 0..20_000 {
        body += &winston(
            "info",
            &format!("request {i} {pad}"),
            "2026-11-29T09:00:00.000Z",
        );
    }
    sb.file("big.log", &body);
    let script = r#"
let r = logs::search("big.log", "request", #{ limit: 1000000 });
print(json::to_string(#{ total: r.total, truncated: r.truncated, n: r.matches.len(),
    last: r.matches[r.matches.len() - 1].line, warnings: r.warnings }));
"#;
    let r = sb.run_script("huge", script, &[]);
    r.expect_code(6).no_panic();
    let out: Value = serde_json::from_str(&r.output()[0]).unwrap();
    assert_eq!(out["total"], 20_000);
    assert_eq!(out["truncated"], true);
    let n = out["n"].as_u64().unwrap();
    assert!((100..20_000).contains(&n), "{out}");
    assert_eq!(
        out["last"].as_u64(),
        Some(n),
        "the first matches, in order, no gap"
    );
    let w = out["warnings"][0].as_str().unwrap_or_default();
    assert!(
        w.contains("memory budget") && w.contains("policy.max_memory_mb"),
        "{out}"
    );
}

/// The script values of `search`'s matches are built directly, not through serde: they must be
/// the values `json::parse` gives for the same line (ints, big and negative numbers, floats,
/// nested objects and arrays, null, booleans), with the file and line of each match.
#[test]
fn search_match_values_equal_json_parse_of_their_text() {
    let sb = Sandbox::new();
    let mut body = String::new();
    for i in 0..300 {
        body += &format!(
            "{{\"level\":\"error\",\"message\":\"boom {i}\",\"n\":{i},\"neg\":-{i},\"big\":18446744073709551615,\"f\":{i}.25,\"nested\":{{\"a\":[1,\"x\",null,true,{{\"b\":false}}]}},\"nothing\":null}}\n"
        );
        body += "{\"level\":\"info\",\"message\":\"quiet\"}\n";
    }
    sb.file("logs/app.log", &body);
    let r = sb.run_script(
        "values",
        r#"let r = logs::search("logs/*.log", "boom", #{ limit: 1000 });
let same = 0;
for m in r.matches { if json::to_string(m.json) == json::to_string(json::parse(m.text)) { same += 1; } }
print(same); print(r.matches.len()); print(r.total);
let m = r.matches[7];
print(`${m.file} ${m.line} ${type_of(m.json.n)} ${type_of(m.json.big)} ${type_of(m.json.f)} ${type_of(m.json.nothing)} ${m.json.nested.a[4].b}`);"#,
        &[],
    );
    r.expect_code(6).no_panic();
    let out = r.output();
    assert_eq!(out[..3], ["300", "300", "300"]);
    assert_eq!(out[3], "logs/app.log 15 i64 f64 f64 () false");
}
