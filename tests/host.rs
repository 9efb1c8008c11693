//! `metrics::`, `http::` and `tls::` end to end through the real binary, against real servers
//! on 127.0.0.1 started by the tests and certificates generated at test time.

mod common;

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Run, Sandbox};
use serde_json::Value;

/// The one set of TLS/HTTP test servers and certificates, shared with the unit tests.
#[allow(dead_code)]
#[path = "../src/host/testutil.rs"]
mod testutil;
use testutil::{DAY, Pki, now, self_signed, silent_server, tls_server, trickle_server};

/// Run `script` in the sandbox with extra environment variables and args.
fn run_with_env(
    sb: &Sandbox,
    name: &str,
    script: &str,
    env: &[(&str, &str)],
    extra: &[&str],
) -> Run {
    env.iter()
        .fold(sb.invoke().script_named(name, script), |inv, (k, v)| {
            inv.env(k, v)
        })
        .args(extra)
        .spawn_json()
        .wait()
}

/// A child process killed when dropped.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ------------------------------------------------------------------------------------------
// metrics::

/// A one-shot run samples CPU over its window: it sees the test's own busy loop. No assertion
/// on the host-wide figure (the host is shared), only that it is a percentage.
#[test]
fn cpu_from_a_one_shot_run_sees_a_busy_process() {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let busy = Child(
        std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap(),
    );
    let pid = busy.0.id();
    common::wait_cpu(pid, Duration::from_millis(100), Duration::from_secs(30));
    let sb = Sandbox::new();
    let r = sb.run_script(
        "cpu",
        &format!(
            "let p = metrics::process({pid});\nprint(p.cpu);\nlet c = metrics::cpu();\n\
             check(\"cpu is a percentage\", c >= 0.0 && c <= 100.0, `${{c}}%`);\n\
             print(metrics::cpu_cores().len());\n"
        ),
        &[],
    );
    drop(busy);
    r.exit(0).no_panic();
    let out = r.output();
    // A busy loop is one core's worth: 100/cores % of the machine when it has the core to
    // itself; a quarter of that still tells it from an idle process on a crowded host.
    let share: f64 = out[0].parse().unwrap();
    let floor = 100.0 / cores as f64 / 4.0;
    assert!(
        share > floor && share <= 100.0,
        "busy loop at {share}% (floor {floor}%)"
    );
    assert_eq!(out[1], cores.to_string());
}

fn cgroup_fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

#[test]
fn memory_uses_the_cgroup_limit_from_an_injected_root() {
    let sb = Sandbox::new();
    let script = "let m = metrics::memory();\nprint(m.total);\nprint(m.cgroup_limit);\nprint(m.used <= m.total);\nprint(m.percent);\n";
    let v2_128 = cgroup_fixture(&[
        ("memory.max", "134217728\n"),
        ("memory.current", "67108864\n"),
        ("memory.stat", "anon 1\ninactive_file 0\n"),
    ]);
    let v2_max = cgroup_fixture(&[("memory.max", "max\n"), ("memory.current", "1000\n")]);
    let v1_unlimited = cgroup_fixture(&[("memory/memory.limit_in_bytes", "9223372036854771712\n")]);

    let r = run_with_env(
        &sb,
        "mem",
        script,
        &[("RUNBOOK_CGROUP_ROOT", v2_128.path().to_str().unwrap())],
        &[],
    );
    r.expect_code(6);
    assert_eq!(r.output(), vec!["134217728", "true", "true", "50.0"]);

    let physical = {
        let text = std::fs::read_to_string("/proc/meminfo").unwrap();
        let kb: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kb * 1024
    };
    for root in [&v2_max, &v1_unlimited] {
        let r = run_with_env(
            &sb,
            "mem",
            script,
            &[("RUNBOOK_CGROUP_ROOT", root.path().to_str().unwrap())],
            &[],
        );
        r.expect_code(6);
        let out = r.output();
        assert_eq!(out[0], physical.to_string(), "{out:?}");
        assert_eq!(out[1], "false");
        assert_eq!(out[2], "true");
    }
}

#[test]
fn connections_match_what_the_test_opened() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let clients: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let servers: Vec<TcpStream> = (0..3).map(|_| listener.accept().unwrap().0).collect();
    let sb = Sandbox::new();
    let r = sb.run_script(
        "conn",
        "//! Connections.\n//! @param port: int = 0   the port\nlet c = metrics::connections(port);\nprint(`${c.listen} ${c.established} ${c.time_wait} ${c.close_wait} ${c.total}`);\n",
        &["-p", &format!("port={port}")],
    );
    r.expect_code(6);
    assert_eq!(r.output(), vec!["1 3 0 0 4"]);
    drop(clients);
    drop(servers);

    let r = sb.run_script("badport", "metrics::connections(70000);", &[]);
    r.expect_code(2).no_panic();
    assert!(
        r.report["error"].as_str().unwrap().contains("1–65535"),
        "{}",
        r.report
    );
}

#[test]
fn disks_network_processes_through_scripts() {
    let sb = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let prog = dir.path().join("rbk-itest-sleeper");
    std::fs::copy("/bin/sleep", &prog).unwrap();
    let child = Child(std::process::Command::new(&prog).arg("30").spawn().unwrap());
    // Found by name once it has exec'd.
    common::wait_until(Duration::from_secs(10), "the sleeper to exec", || {
        common::comm_of(child.0.id()).as_deref() == Some("rbk-itest-sleep")
    });
    let script = r#"
let d = metrics::disk(".");
print(d.mount);
print(d.total > 0 && d.percent >= 0.0 && d.percent <= 100.0);
let all = metrics::disks();
print(all.len() > 0);
let n = metrics::network();
print(n.interfaces.filter(|i| i.name == "lo").len());
print(n.rx_bytes_per_s >= 0.0);
let top = metrics::processes(#{ sort: "memory", limit: 3 });
print(top.len());
print(top[0].memory >= top[1].memory);
let p = metrics::process("rbk-itest-sleeper");
print(p.pid);
print(type_of(metrics::process("no-such-process-xyz")));
print(metrics::hostname().len() > 0);
print(metrics::uptime_s() > 0);
print(metrics::load().one >= 0.0);
"#;
    let r = sb.run_script("m", script, &[]);
    r.expect_code(6).no_panic();
    let out = r.output();
    let sandbox_mount = {
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let real = sb.path();
        text.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|mp| real.starts_with(mp))
            .max_by_key(|mp| mp.len())
            .unwrap()
            .to_string()
    };
    assert_eq!(out[0], sandbox_mount);
    assert_eq!(&out[1..6], &["true", "true", "1", "true", "3"]);
    assert_eq!(out[6], "true");
    assert_eq!(out[7], child.0.id().to_string());
    assert_eq!(&out[8..], &["()", "true", "true", "true"]);

    let r = sb.run_script("bad", "metrics::processes(#{ sort: \"disk\" });", &[]);
    r.expect_code(2);
    let r = sb.run_script("bad2", "metrics::processes(#{ top: 3 });", &[]);
    r.expect_code(2);
    assert!(
        r.report["error"]
            .as_str()
            .unwrap()
            .contains("unknown option \"top\"")
    );
}

// ------------------------------------------------------------------------------------------
// http::

/// A tiny_http server with `/health`, `/redirect`, `/elsewhere` (to `localhost`), `/hook`
/// (counts POSTs). Returns the port and the POST counter.
fn http_server() -> (u16, Arc<AtomicUsize>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let posts = Arc::new(AtomicUsize::new(0));
    let counter = posts.clone();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let header = |k: &str, v: &str| {
                tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap()
            };
            let path = req.url().split('?').next().unwrap_or("").to_string();
            let resp = match path.as_str() {
                "/health" => tiny_http::Response::from_string(r#"{"status":"ok"}"#)
                    .with_header(header("Content-Type", "application/json")),
                "/redirect" => tiny_http::Response::from_string("")
                    .with_status_code(302)
                    .with_header(header("Location", "/health")),
                "/elsewhere" => tiny_http::Response::from_string("")
                    .with_status_code(302)
                    .with_header(header(
                        "Location",
                        &format!("http://localhost:{port}/health"),
                    )),
                "/hook" => {
                    let mut body = String::new();
                    let _ = req.as_reader().read_to_string(&mut body);
                    counter.fetch_add(1, Ordering::SeqCst);
                    tiny_http::Response::from_string(format!("{{\"got\":{body}}}"))
                }
                _ => tiny_http::Response::from_string("nope").with_status_code(404),
            };
            let _ = req.respond(resp);
        }
    });
    (port, posts)
}

#[test]
fn http_get_check_and_redirects() {
    let (port, _) = http_server();
    let silent = silent_server();
    let trickle = trickle_server(Duration::from_millis(50));
    let sb = Sandbox::new();
    let script = format!(
        r#"
let base = "http://127.0.0.1:{port}";
let r = http::get(`${{base}}/health`);
print(`${{r.status}} ${{r.ok}} ${{r.json.status}} ${{r.truncated}} ${{r.headers["content-type"]}}`);
let c = http::check(`${{base}}/health`);
print(`${{c.ok}} ${{c.status}} ${{c.error}}`);
let c = http::check(`${{base}}/missing`);
print(`${{c.ok}} ${{c.status}} ${{c.error}}`);
let c = http::check("http://127.0.0.1:{silent}/health", #{{ timeout_ms: 300 }});
print(`${{c.ok}} ${{c.status}} ${{c.error}} ${{c.elapsed_ms >= 300 && c.elapsed_ms < 3000}}`);
let c = http::check("http://127.0.0.1:{trickle}/", #{{ timeout_ms: 400 }});
print(`${{c.ok}} ${{c.error}}`);
try {{
    http::get("http://127.0.0.1:{silent}/", #{{ timeout_ms: 200 }});
    print("no error");
}} catch (e) {{
    print(`${{e.kind}} ${{e.message.contains("timeout")}}`);
}}
let r = http::get(`${{base}}/redirect`);
print(`${{r.status}} ${{r.headers.location}}`);
let r = http::get(`${{base}}/redirect`, #{{ follow_redirects: true }});
print(`${{r.status}} ${{r.json.status}}`);
try {{
    http::get(`${{base}}/elsewhere`, #{{ follow_redirects: true }});
}} catch (e) {{
    print(`${{e.kind}} ${{e.message.contains("another host")}}`);
}}
let r = http::head(`${{base}}/health`);
print(`${{r.status}} [${{r.body}}]`);
let r = http::get(`${{base}}/health`, #{{ max_body: 4 }});
print(`${{r.body}} ${{r.truncated}} ${{type_of(r.json)}}`);
"#
    );
    // A proxy in the environment is not used: requests go straight to the allowed host.
    let proxy = format!("http://127.0.0.1:{}", silent_server());
    let env = [
        ("HTTP_PROXY", proxy.as_str()),
        ("http_proxy", proxy.as_str()),
        ("ALL_PROXY", proxy.as_str()),
    ];
    let r = run_with_env(&sb, "h", &script, &env, &[]);
    r.expect_code(6).no_panic();
    assert_eq!(
        r.output(),
        vec![
            "200 true ok false application/json",
            "true 200 ",
            "false 404 status",
            "false  timeout true",
            "false timeout",
            "failed true",
            "302 /health",
            "200 ok",
            "failed true",
            "200 []",
            "{\"st true ()",
        ]
    );
    // Reads are not effects: nothing in the audit log.
    assert!(sb.audit().is_empty(), "{:?}", sb.audit());
}

#[test]
fn a_denied_host_exits_4_with_an_audit_record() {
    let sb = Sandbox::new();
    sb.config("[policy]\nhttp_hosts = [\"127.0.0.1\"]\n");
    let r = sb.run_script(
        "deny",
        "print(\"before\");\nhttp::get(\"http://localhost:1/health\");\nprint(\"after\");\n",
        &[],
    );
    r.expect_code(4).no_panic();
    assert_eq!(r.output(), vec!["before"]);
    r.status("denied");
    let audit = sb.audit();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["action"], "http.get");
    assert_eq!(audit[0]["target"], "localhost");
    assert_eq!(audit[0]["outcome"], "denied");
    assert!(
        audit[0]["error"]
            .as_str()
            .unwrap()
            .contains("policy.http_hosts")
    );

    // check() throws for a denial too (it never throws for network errors only).
    let r = sb.run_script("deny2", "http::check(\"http://10.20.30.40/\");", &[]);
    r.expect_code(4);
    let r = sb.run_script("deny3", "tls::cert(\"example.com:443\");", &[]);
    r.expect_code(4);
    let last = sb.audit().last().cloned().unwrap();
    assert_eq!(last["action"], "tls.cert");
    assert_eq!(last["target"], "example.com");
}

#[test]
fn http_post_is_an_effect() {
    let (port, posts) = http_server();
    let sb = Sandbox::new();
    let script = format!(
        "let r = http::post(\"http://127.0.0.1:{port}/hook?token=s3cret\", #{{ json: #{{ n: 1 }} }});\nprint(`${{r.status}} ${{r.ok}}`);\nprint(r.json);\n"
    );
    let r = sb.run_script("post", &script, &["--dry-run"]);
    r.expect_code(6);
    assert_eq!(r.output()[0], "0 true");
    assert_eq!(posts.load(Ordering::SeqCst), 0, "a dry run sent the POST");
    assert_eq!(r.effects("http.post")[0]["outcome"], "planned");

    let r = sb.run_script("post", &script, &[]);
    r.expect_code(6);
    assert_eq!(r.output(), vec!["200 true", "#{\"got\": #{\"n\": 1}}"]);
    assert_eq!(posts.load(Ordering::SeqCst), 1);
    let audit = sb.audit();
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert_eq!(audit[0]["outcome"], "planned");
    assert_eq!(audit[1]["outcome"], "done");
    assert_eq!(audit[1]["action"], "http.post");
    assert_eq!(audit[1]["target"], format!("http://127.0.0.1:{port}/hook"));
    let text = std::fs::read_to_string(sb.state().join("audit.jsonl")).unwrap();
    assert!(
        !text.contains("s3cret"),
        "query string in the audit log: {text}"
    );
    assert!(
        !text.contains("\"n\":1") && !text.contains("\"n\": 1"),
        "body in the audit log: {text}"
    );

    // A POST to a denied host is denied by the effect gate.
    sb.config("[policy]\nhttp_hosts = [\"localhost\"]\n");
    let r = sb.run_script("post", &script, &[]);
    r.expect_code(4);
    assert_eq!(posts.load(Ordering::SeqCst), 1);
    assert_eq!(sb.audit().last().unwrap()["outcome"], "denied");

    // get() does not take a body.
    let r = sb.run_script(
        "bodyget",
        "http::get(\"http://127.0.0.1:1/\", #{ body: \"x\" });",
        &[],
    );
    r.expect_code(2);
}

// ------------------------------------------------------------------------------------------
// tls::

#[test]
fn tls_cert_reports_expiry_and_trust() {
    let pki = Pki::new();
    let names = ["localhost", "127.0.0.1"];
    let valid = tls_server(&pki.leaf(&names, now() - DAY, now() + 90 * DAY + 3600));
    let expired = tls_server(&pki.leaf(&names, now() - 30 * DAY, now() - DAY + 3600));
    let soon = tls_server(&pki.leaf(&names, now() - DAY, now() + 10 * DAY + 3600));
    let selfsigned = tls_server(&self_signed(
        &["localhost"],
        now() - DAY,
        now() + 60 * DAY + 3600,
    ));

    let sb = Sandbox::new();
    let ca_file = sb.file("test-ca.pem", &pki.ca_pem);
    let script = format!(
        r#"
for hp in ["localhost:{valid}", "localhost:{expired}", "127.0.0.1:{soon}", "localhost:{selfsigned}"] {{
    let c = tls::cert(hp);
    print(`${{c.days_left}} ${{c.expired}} ${{c.trusted}} ${{c.sans}}`);
}}
let r = http::check("https://localhost:{valid}/");
print(`${{r.ok}} ${{r.error}}`);
let r = http::check("https://localhost:{selfsigned}/");
print(`${{r.ok}} ${{r.error}}`);
"#
    );
    // The test CA is the system's only root for this run.
    let r = run_with_env(
        &sb,
        "tls",
        &script,
        &[("SSL_CERT_FILE", ca_file.to_str().unwrap())],
        &[],
    );
    r.expect_code(6).no_panic();
    assert_eq!(
        r.output(),
        vec![
            "90 false true [\"localhost\", \"127.0.0.1\"]",
            "0 true false [\"localhost\", \"127.0.0.1\"]",
            "10 false true [\"localhost\", \"127.0.0.1\"]",
            "60 false false [\"localhost\"]",
            "true ",
            "false tls",
        ]
    );

    // Without the test CA nothing is trusted, and https fails with a TLS error.
    let empty = sb.file("empty-roots.pem", "");
    let r = run_with_env(
        &sb,
        "tls",
        &script,
        &[("SSL_CERT_FILE", empty.to_str().unwrap())],
        &[],
    );
    r.expect_code(6);
    let out = r.output();
    assert!(out[0].starts_with("90 false false"), "{out:?}");
    assert_eq!(out[4], "false tls");
}

#[test]
fn tls_cert_of_a_silent_server_throws_after_its_deadline() {
    let port = silent_server();
    let sb = Sandbox::new();
    let start = Instant::now();
    let r = sb.run_script(
        "silent",
        &format!("try {{ tls::cert(\"127.0.0.1:{port}\", #{{ timeout_ms: 300 }}); }} catch (e) {{ print(e.kind); print(e.message); }}"),
        &[],
    );
    r.expect_code(6);
    assert!(start.elapsed() < Duration::from_secs(10));
    let out = r.output();
    assert_eq!(out[0], "failed");
    assert!(out[1].contains("no TLS handshake within 300 ms"), "{out:?}");
}

#[test]
fn tls_cert_file_reads_the_leaf_inside_the_read_roots() {
    let pki = Pki::new();
    let leaf = pki.leaf(
        &["localhost", "127.0.0.1"],
        now() - DAY,
        now() + 45 * DAY + 3600,
    );
    let leaf_pem = leaf.leaf_pem.clone();
    let sb = Sandbox::new();
    sb.file("certs/fullchain.pem", &leaf.chain_pem);
    let ca_file = sb.file("ca.pem", &pki.ca_pem);
    let script = "let c = tls::cert_file(\"certs/fullchain.pem\");\nprint(`${c.subject} | ${c.issuer} | ${c.days_left} ${c.expired} ${c.trusted}`);\n";
    let r = run_with_env(
        &sb,
        "f",
        script,
        &[("SSL_CERT_FILE", ca_file.to_str().unwrap())],
        &[],
    );
    r.expect_code(6).no_panic();
    assert_eq!(
        r.output(),
        vec!["CN=localhost, O=runbook tests | CN=runbook test CA | 45 false true"]
    );

    // Outside the read roots: denied, exit 4, audited.
    let outside = tempfile::tempdir().unwrap();
    let path = outside.path().join("c.pem");
    std::fs::write(&path, &leaf_pem).unwrap();
    let r = sb.run_script(
        "f2",
        &format!("tls::cert_file({:?});", path.to_str().unwrap()),
        &[],
    );
    r.expect_code(4);
    let last: Value = sb.audit().last().cloned().unwrap();
    assert_eq!(last["action"], "tls.cert_file");
    assert_eq!(last["outcome"], "denied");

    // Not a certificate: a catchable error naming the file.
    sb.file("certs/notes.txt", "hello");
    let r = sb.run_script(
        "f3",
        "try { tls::cert_file(\"certs/notes.txt\"); } catch (e) { print(e.message); }",
        &[],
    );
    r.expect_code(6);
    assert!(r.output()[0].contains("notes.txt"), "{:?}", r.output());
}

#[test]
fn docs_list_every_host_function() {
    let sb = Sandbox::new();
    let out = sb.run(&["docs", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let docs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let have: Vec<String> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{}::{}",
                d["module"].as_str().unwrap(),
                d["name"].as_str().unwrap()
            )
        })
        .collect();
    for f in [
        "metrics::cpu",
        "metrics::cpu_cores",
        "metrics::load",
        "metrics::uptime_s",
        "metrics::hostname",
        "metrics::memory",
        "metrics::disk",
        "metrics::disks",
        "metrics::network",
        "metrics::connections",
        "metrics::processes",
        "metrics::process",
        "http::get",
        "http::head",
        "http::post",
        "http::check",
        "tls::cert",
        "tls::cert_file",
    ] {
        assert!(have.iter().any(|h| h == f), "{f} missing from runbook docs");
    }
    for d in docs.as_array().unwrap() {
        let m = d["module"].as_str().unwrap();
        if ["metrics", "http", "tls"].contains(&m) {
            let doc = d["doc"].as_str().unwrap();
            assert!(
                doc.contains("Throws"),
                "{}::{} has no \"Throws\" section",
                m,
                d["name"]
            );
        }
    }
    let post = docs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["module"] == "http" && d["name"] == "post")
        .unwrap();
    assert_eq!(post["effect"], true);
}

// ------------------------------------------------------------------------------------------
// Every wait ends on Ctrl-C or the run's deadline.

/// Start `runbook run` of `script` (with `extra` args), wait until it has connected to
/// `listener` (which never answers), and return the child and the accepted connection.
fn start_stuck_run(
    sb: &Sandbox,
    script: &str,
    extra: &[&str],
    listener: &TcpListener,
) -> (std::process::Child, TcpStream) {
    sb.file("stuck.rhai", script);
    let child = sb
        .cmd()
        .args(["run", "stuck.rhai", "--json"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    listener.set_nonblocking(true).unwrap();
    let mut conn = None;
    common::wait_until(Duration::from_secs(20), "runbook to connect", || {
        match listener.accept() {
            Ok((c, _)) => conn = Some(c),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("accept: {e}"),
        }
        conn.is_some()
    });
    (child, conn.unwrap())
}

/// A listener that never answers, a fresh sandbox, and `call` with `URL` / `HP` (host:port)
/// pointing at the listener.
fn stuck_target(call: &str) -> (TcpListener, Sandbox, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = call
        .replace("URL", &format!("\"http://127.0.0.1:{port}/\""))
        .replace("HP", &format!("\"127.0.0.1:{port}\""));
    (listener, Sandbox::new(), script)
}

#[test]
fn ctrl_c_ends_stuck_http_and_tls_waits_within_a_second() {
    for call in [
        "http::check(URL, #{ timeout_ms: 60000 })",
        "http::get(URL, #{ timeout_ms: 60000 })",
        "tls::cert(HP, #{ timeout_ms: 60000 })",
    ] {
        let (listener, sb, script) = stuck_target(call);
        let (child, _conn) = start_stuck_run(
            &sb,
            &format!("{script};\nprint(\"after\");"),
            &[],
            &listener,
        );
        let start = Instant::now();
        // SAFETY: plain syscall on our own child.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
        let out = child.wait_with_output().unwrap();
        let took = start.elapsed();
        let r = Run::from_output(out);
        r.no_panic();
        assert_eq!(r.code, 3, "{call}: {}\n{}", r.stdout, r.stderr);
        assert!(
            took < Duration::from_secs(1),
            "{call}: Ctrl-C took {took:?}"
        );
        assert!(r.output().is_empty(), "{call}: {:?}", r.output());
    }
}

#[test]
fn the_run_deadline_caps_a_request_timeout() {
    for call in [
        "http::check(URL, #{ timeout_ms: 60000 })",
        "tls::cert(HP, #{ timeout_ms: 60000 })",
    ] {
        let (listener, sb, script) = stuck_target(call);
        let start = Instant::now();
        let (child, _conn) =
            start_stuck_run(&sb, &format!("{script};"), &["--timeout", "1"], &listener);
        let out = child.wait_with_output().unwrap();
        let took = start.elapsed();
        let r = Run::from_output(out);
        r.no_panic();
        assert_eq!(r.code, 3, "{call}: {}\n{}", r.stdout, r.stderr);
        r.status("limit");
        assert!(
            took < Duration::from_millis(2500),
            "{call}: deadline took {took:?}"
        );
    }
}

#[test]
fn files_that_are_not_regular_are_refused_before_reading() {
    let sb = Sandbox::new();
    let fifo = sb.path().join("f");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: plain syscall with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    sb.config("[policy]\nread = [\".\"]\nwrite = [\".\"]\n");
    for call in [
        "fs::read(\"f\")",
        "fs::sha256(\"f\")",
        "tls::cert_file(\"f\")",
        "fs::copy(\"f\", \"g\")",
        "fs::append(\"f\", \"x\")",
        "fs::read(\"/dev/zero\")",
    ] {
        let start = Instant::now();
        let r = sb.run_script(
            "fifo",
            &format!("try {{ {call}; print(\"no error\"); }} catch (e) {{ print(e.kind); print(e.message); }}"),
            &["--timeout", "3"],
        );
        let took = start.elapsed();
        r.no_panic();
        assert!(took < Duration::from_millis(1500), "{call}: took {took:?}");
        let out = r.output();
        if call.contains("/dev/zero") {
            // Outside the read roots: denied first.
            assert!(
                r.code == 4 || out.first().is_some_and(|k| k == "denied"),
                "{call}: {out:?}"
            );
            continue;
        }
        assert_eq!(
            out.first().map(String::as_str),
            Some("io"),
            "{call}: {out:?}\n{}",
            r.stderr
        );
        let msg = &out[1];
        assert!(msg.contains("FIFO") && msg.contains("/f"), "{call}: {msg}");
    }
    // A device inside the read roots is refused the same way.
    sb.config("[policy]\nread = [\".\", \"/dev\"]\n");
    let r = sb.run_script(
        "dev",
        "try { fs::read(\"/dev/zero\"); } catch (e) { print(e.kind); print(e.message); }",
        &["--timeout", "3"],
    );
    assert_eq!(r.output()[0], "io", "{:?}", r.output());
    assert!(
        r.output()[1].contains("character device"),
        "{:?}",
        r.output()
    );
}

/// An HTTP server whose every answer is a `len`-byte body streamed as fast as the client reads.
fn big_body_server(len: u64) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
                if s.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = vec![b'x'; 1 << 20];
                let mut sent = 0;
                while sent < len {
                    let n = chunk.len().min((len - sent) as usize);
                    if s.write_all(&chunk[..n]).is_err() {
                        return;
                    }
                    sent += n as u64;
                }
            });
        }
    });
    port
}

#[test]
fn http_bodies_have_a_ceiling_and_count_against_the_memory_budget() {
    let port = big_body_server(512 << 20);
    let sb = Sandbox::new();
    // Beyond the hard ceiling: a usage error naming it, nothing read.
    let r = sb.run_script(
        "huge",
        &format!("http::get(\"http://127.0.0.1:{port}/\", #{{ max_body: 4000000000 }});"),
        &[],
    );
    r.expect_code(2).no_panic();
    assert!(
        r.report["error"]
            .as_str()
            .unwrap_or_default()
            .contains("32 MiB"),
        "{:#}",
        r.report
    );
    // Within the ceiling but over the run's memory budget: a limit, never an OOM.
    sb.config("[policy]\nmax_memory_mb = 24\n");
    let r = sb.run_script(
        "budget",
        &format!("let r = http::get(\"http://127.0.0.1:{port}/\", #{{ max_body: 33554432 }});\nprint(r.body.len());"),
        &[],
    );
    r.expect_code(3).no_panic();
    let err = r.report["error"].as_str().unwrap_or_default();
    assert!(err.contains("policy.max_memory_mb"), "{err}");
    assert!(r.output().is_empty(), "{:?}", r.output());
    // The ceiling itself holds with a budget that allows it: 32 MiB kept, truncated.
    sb.config("[policy]\nmax_memory_mb = 1024\n");
    let r = sb.run_script(
        "ceiling",
        &format!("let r = http::get(\"http://127.0.0.1:{port}/\", #{{ max_body: 33554432 }});\nprint(`${{r.body.len()}} ${{r.truncated}}`);"),
        &[],
    );
    r.no_panic();
    assert_eq!(
        r.output(),
        vec![format!("{} true", 32 << 20)],
        "{}",
        r.stderr
    );
}

/// Issue 11: a device mounted twice counts once in `metrics::disks()`. In a private mount
/// namespace (`unshare -m`, root) the test mounts a 4 MiB tmpfs, binds it to a second folder,
/// and binds a folder of the root file system elsewhere: the tmpfs is listed once, the root
/// file system's bind not at all. No skip: without `unshare` or root the test fails saying so.
#[test]
fn disks_count_a_bind_mounted_device_once_in_a_private_mount_namespace() {
    let unshare = ["/usr/bin/unshare", "/bin/unshare"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("this test needs util-linux `unshare` (apt-get install util-linux) to make a private mount namespace");
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test needs root: it mounts a tmpfs inside `unshare -m`"
    );
    let sb = Sandbox::new();
    let base = sb.path();
    for d in ["a-tmpfs", "b-bind", "c-rootbind", "c-src"] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    sb.file(
        "disks.rhai",
        "//! @action\nfor d in metrics::disks() { print(`${d.mount}|${d.fs}|${d.total}`); }\n",
    );
    let shell = format!(
        "set -e; mount -t tmpfs -o size=4m runbook-test {b}/a-tmpfs; mount --bind {b}/a-tmpfs {b}/b-bind; \
         mount --bind {b}/c-src {b}/c-rootbind; exec {bin} run disks.rhai --json",
        b = base.display(),
        bin = common::bin().display()
    );
    let cmd = sb.cmd();
    let out = std::process::Command::new(unshare)
        .args(["-m", "--propagation", "private", "sh", "-c", &shell])
        .current_dir(&base)
        .envs(
            cmd.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("spawn unshare");
    let r = Run::from_output(out);
    r.no_panic().expect_code(0);
    let lines = r.output();
    let under = |d: &str| -> Vec<&String> {
        lines
            .iter()
            .filter(|l| l.starts_with(&format!("{}|", base.join(d).display())))
            .collect()
    };
    let tmpfs: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("|tmpfs|4194304"))
        .collect();
    assert_eq!(tmpfs.len(), 1, "the 4 MiB tmpfs once: {lines:#?}");
    assert_eq!(
        under("a-tmpfs").len() + under("b-bind").len(),
        1,
        "{lines:#?}"
    );
    // listed under the first of its two mount points of equal depth
    assert_eq!(under("a-tmpfs").len(), 1, "{lines:#?}");
    assert!(under("c-rootbind").is_empty(), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("/|")), "{lines:#?}");
    // the mounts stayed in the test's namespace
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host.contains("a-tmpfs"),
        "mount leaked out of the namespace"
    );
}
