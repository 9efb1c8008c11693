//! Every `Example:` block of `runbook docs` runs (nushell's habit; issue 13.9).
//!
//! The examples are taken from the same catalogue `runbook docs` prints (host functions and
//! the stdlib modules' `///` docs), each written to a file and run by the real binary in a
//! sandbox: a permissive policy on the sandbox folder, loopback HTTP only, and an inventory
//! entry `lowcode-platform` whose `stats_url` is a local tiny_http server. An example passes
//! when the run finishes (exit 0, 1 or 6: a check may fail or be unknown, which is what some
//! examples show); a script error, a denial, a limit or a usage error fails the test.

mod common;

use common::Sandbox;

/// Examples not run, each with the reason (kept short: the test checks it stays small).
const NOT_RUN: &[(&str, &str)] = &[(
    "tls::cert",
    "reaches a public TLS endpoint; tests/host.rs runs tls::cert against a local rustls server",
)];

/// Host modules (`""`: the global functions) every function of which must carry an example.
/// The others do not all have one yet; any example they have is run all the same.
const EVERY_FUNCTION_HAS_AN_EXAMPLE: &[&str] = &[
    "", "json", "fs", "metrics", "logs", "cmd", "http", "tls", "backup", "service", "history",
];

/// The sandbox service's process (`sleep`), killed when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every stdlib function, and every function of the modules above, must carry an example.
#[test]
fn every_documented_example_runs() {
    assert!(NOT_RUN.len() <= 5, "the not-run list must stay short");
    for (name, why) in NOT_RUN {
        assert!(
            !why.trim().is_empty(),
            "{name}: give the reason it is not run"
        );
    }
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        let mut n = 0;
        for req in server.incoming_requests() {
            n += 10;
            let body = format!(
                r#"{{"requests": {n}, "errors": 1, "slowRequests": 0, "timeouts": 0, "avgResponseTime": 12, "concurrency": 1}}"#
            );
            let _ = req.respond(
                tiny_http::Response::from_string(body).with_header(
                    "Content-Type: application/json"
                        .parse::<tiny_http::Header>()
                        .unwrap(),
                ),
            );
        }
    });
    // The `service::` examples act on `lowcode-platform`, a `command` service: its status_cmd
    // reports this process (so `signal` and `can_signal` have a real pid to read and send to),
    // its start/stop/restart/reload commands succeed, and its health_url is the local server.
    let process = Child(
        std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .expect("spawn sleep"),
    );
    let pid = process.0.id();
    let sb = Sandbox::new();
    let root = sb.path();
    sb.file(
        "logs/combined.log",
        "{\"level\":\"info\",\"message\":\"up\"}\n",
    );
    sb.file(
        "logs/error.log",
        "{\"level\":\"error\",\"message\":\"boom\"}\n",
    );
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    sb.file("certs/server.pem", &cert.cert.pem());
    sb.config(&format!(
        r#"
[policy]
read = [{root:?}]
write = [{root:?}]
http_hosts = ["127.0.0.1", "localhost"]
env = ["NODE_ENV"]
commands = ["echo"]

[services.lowcode-platform]
manager = "command"
status_cmd = ["echo", "pid {pid}"]
start_cmd = ["true"]
stop_cmd = ["true"]
reload_cmd = ["true"]
workdir = {root:?}
health_url = "http://127.0.0.1:{port}/health"
stats_url = "http://127.0.0.1:{port}/api/stats"
logs = [{logs:?}]
error_logs = [{errors:?}]
"#,
        logs = root.join("logs/combined*.log"),
        errors = root.join("logs/error*.log"),
    ));

    let mut examples: Vec<(String, String)> = Vec::new();
    for m in runbook::catalog::stdlib_docs() {
        for (name, _, doc) in &m.functions {
            let full = format!("{}::{name}", m.name);
            let found = runbook::catalog::examples(doc);
            assert!(
                !found.is_empty(),
                "{full}: its docs have no `Example:` block"
            );
            examples.extend(found.into_iter().map(|code| (full.clone(), code)));
        }
    }
    for (module, fns) in runbook::catalog::function_docs() {
        for f in &fns {
            let full = if module.is_empty() {
                f["name"].as_str().unwrap_or("").to_string()
            } else {
                format!("{module}::{}", f["name"].as_str().unwrap_or(""))
            };
            let doc = runbook::catalog::doc_text(f);
            let found = runbook::catalog::examples(&doc);
            assert!(
                !found.is_empty() || !EVERY_FUNCTION_HAS_AN_EXAMPLE.contains(&module.as_str()),
                "{full}: its docs have no `Example:` block"
            );
            examples.extend(found.into_iter().map(|code| (full.clone(), code)));
        }
    }
    assert!(examples.len() >= 90, "{} examples found", examples.len());
    let mut failures = Vec::new();
    for (i, (name, code)) in examples.iter().enumerate() {
        if NOT_RUN.iter().any(|(n, _)| n == name) {
            continue;
        }
        let r = sb.run_script(&format!("example{i}"), code, &[]);
        r.no_panic();
        if ![0, 1, 6].contains(&r.code) {
            failures.push(format!(
                "{name} (exit {}): {}\n--- example:\n{code}\n--- stderr:\n{}",
                r.code, r.report["error"], r.stderr
            ));
        }
    }
    drop(process);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `runbook docs` shows the stdlib modules with their functions, docs and constants, for
/// people and as JSON.
#[test]
fn docs_include_the_stdlib_modules() {
    let sb = Sandbox::new();
    let out = sb.run(&["docs"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "## `checks` (stdlib)",
        "### `checks::below(name, value, max, unit)`",
        "## `svc` (stdlib)",
        "## `text` (stdlib)",
        "## `thresholds` (stdlib)",
        "`thresholds::CPU_PCT` = `70.0`",
        "Example:",
    ] {
        assert!(text.contains(needle), "{needle} missing from runbook docs");
    }
    let out = sb.run(&["docs", "--json"]);
    let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let below = all
        .iter()
        .find(|e| e["module"] == "checks" && e["name"] == "below")
        .expect("checks::below in docs --json");
    assert_eq!(below["stdlib"], true);
    assert!(below["doc"].as_str().unwrap().contains("Example:"));
    assert!(all.iter().any(|e| e["module"] == "thresholds"
        && e["name"] == "DISK_PCT"
        && e["constant"] == "85.0"));
}
