//! `service::` and `cmd::` end to end through the real binary, against real managers: pm2 7 from
//! the demo service's node_modules (own `PM2_HOME` in a temporary folder, a free port, `pm2 kill`
//! on teardown even when a test fails), a real supervisord started with its own config and unix
//! socket, and — because systemd cannot run here — a fake `systemctl` on `PATH` that serves
//! outputs recorded from a real systemd.
//!
//! Needs `tests/fixtures/setup.sh` (npm ci of the demo service) and `supervisord` on `PATH`
//! (`pip install supervisor`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::demo::{APP, Demo, fixture_dir, free_port, http, wait_for_health};
use common::{CheckExt, Sandbox};
use serde_json::Value;

fn audit_of<'a>(records: &'a [Value], action: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["action"] == action).collect()
}

/// The key of the demo service's lock and restart history (its manager identity).
fn demo_key(app: &Demo) -> String {
    let spec = runbook::policy::ServiceSpec {
        manager: "pm2".into(),
        pm2_home: Some(app.home.path().to_path_buf()),
        ..Default::default()
    };
    runbook::service::guard_key(APP, &spec)
}

#[test]
fn pm2_status_hang_health_restart_wait_healthy() {
    let app = Demo::start();
    let sb = app.sandbox("");
    let r = sb.run_script(
        "status",
        r#"
        let st = service::status("lowcode-platform");
        print(json::to_string(st));
        check("online", st.state == "online");
        check("pid", type_of(st.pid) == "i64" && st.pid > 0);
        check("no restarts yet", st.restarts == 0);
        let h = service::health("lowcode-platform");
        check("healthy", h.ok && h.status == 200);
        let lf = service::log_files("lowcode-platform");
        check("pm2 log files", lf.out.contains("lowcode-platform-out"));
        let all = service::list();
        check("list", all.len() == 1 && all[0].name == "lowcode-platform" && all[0].state == "online");
        "#,
        &[],
    );
    r.expect_code(0).no_panic();
    // Status maps never carry the process environment.
    let printed = r.output().join("\n");
    for needle in ["pm2_env", "PM2_HOME", "PATH", "LOG_DIR", "HOME"] {
        assert!(
            !printed.contains(needle),
            "{needle} in status output: {printed}"
        );
    }

    // Hang the app: pm2 still says online, the health endpoint no longer answers.
    let (code, _) = http("POST", &app.url("/admin/hang"), Duration::from_secs(5)).unwrap();
    assert_eq!(code, 200);
    let before = app.restart_time();
    let r = sb.run_script(
        "recover",
        r#"
        let st = service::status("lowcode-platform");
        check("still online", st.state == "online");
        let h = service::health("lowcode-platform", #{ timeout_ms: 1000 });
        check("health fails", !h.ok, `${h.error}`);
        check("within its timeout", h.elapsed_ms < 2500, `${h.elapsed_ms} ms`);
        let after = service::restart("lowcode-platform");
        check("restart returns a status", after.name == "lowcode-platform");
        let ok = service::wait_healthy("lowcode-platform", 30);
        check("healthy again", ok);
        let now = service::status("lowcode-platform");
        check("restarts incremented", now.restarts == st.restarts + 1, `${st.restarts} -> ${now.restarts}`);
        check("new pid", now.pid != st.pid);
        "#,
        &[],
    );
    r.expect_code(0).no_panic();
    assert_eq!(app.restart_time(), before + 1);
    let (code, _) = http("GET", &app.url("/health"), Duration::from_secs(5)).unwrap();
    assert_eq!(code, 200);
    let audit = sb.audit();
    let restarts = audit_of(&audit, "service.restart");
    assert_eq!(restarts.len(), 1, "{audit:#?}");
    assert_eq!(restarts[0]["outcome"], "done");
    assert_eq!(restarts[0]["target"], APP);
    // The restart count persisted for the rate limit.
    assert!(
        sb.state()
            .join(format!("restarts/{}.json", demo_key(&app)))
            .exists()
    );
}

#[test]
fn pm2_concurrent_restart_is_refused_by_the_lock() {
    let app = Demo::start();
    let sb = app.sandbox("");
    // Another run (here: this test process, through the same lock file) is acting on the service.
    let other = runbook::service::guard::Holder {
        pid: std::process::id(),
        run_id: "20261129T090000.000Z-4242".into(),
        runbook: "deploy".into(),
        user: "alice".into(),
        action: "service.restart".into(),
        since: "2026-11-29T09:00:00.000Z".into(),
    };
    let cancel = runbook::cancel::Cancel::never();
    let lock = runbook::service::guard::ServiceLock::acquire(
        &sb.state(),
        &demo_key(&app),
        &other,
        None,
        &cancel,
    )
    .unwrap();
    let before = app.restart_time();
    let r = sb.run_script("second", r#"service::restart("lowcode-platform");"#, &[]);
    r.expect_code(5).no_panic();
    let err = r.report["error"].as_str().unwrap_or_default();
    assert!(err.contains("locked by another run"), "{err}");
    assert!(
        err.contains("20261129T090000.000Z-4242")
            && err.contains("deploy")
            && err.contains("alice"),
        "{err}"
    );
    assert_eq!(app.restart_time(), before, "no restart while locked");
    let audit = sb.audit();
    let rec = audit_of(&audit, "service.restart");
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0]["outcome"], "failed");

    // With `wait`, the second run waits for the first to finish, then restarts: the lock is
    // released once the waiter is seen waiting on it (the lock file open in its process).
    let lock_path = lock.path().to_path_buf();
    let waiter = sb
        .invoke()
        .script_named(
            "waiter",
            r#"
        let st = service::restart("lowcode-platform", #{ wait: 30 });
        check("online after waiting", service::wait_healthy("lowcode-platform", 30));
        "#,
        )
        .spawn_json();
    waiter.wait_open(&lock_path, Duration::from_secs(30));
    assert_eq!(app.restart_time(), before, "no restart while still locked");
    drop(lock);
    let r = waiter.wait();
    r.exit(0).no_panic();
    assert_eq!(app.restart_time(), before + 1);
}

#[test]
fn pm2_fourth_restart_in_the_window_is_refused_and_dry_run_changes_nothing() {
    let app = Demo::start();
    let sb = app.sandbox(r#"restart_limit = "3/10m""#);

    // --dry-run: the restart is planned, pm2 is not asked to restart.
    let before = app.restart_time();
    let r = sb.run_script(
        "dry",
        r#"
        let st = service::restart("lowcode-platform");
        check("still online", st.state == "online");
        check("dry run", dry_run());
        "#,
        &["--dry-run"],
    );
    r.expect_code(0).no_panic();
    assert_eq!(app.restart_time(), before, "dry run must not restart");
    let planned = r.effects("service.restart");
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0]["outcome"], "planned");
    assert!(
        !sb.state()
            .join(format!("restarts/{}.json", demo_key(&app)))
            .exists(),
        "a planned restart is not counted"
    );

    // Three restarts in one run, the fourth in the next run: refused (persisted across runs).
    let r = sb.run_script(
        "three",
        r#"
        for i in 0..3 { service::restart("lowcode-platform"); }
        check("healthy", service::wait_healthy("lowcode-platform", 30));
        "#,
        &[],
    );
    r.expect_code(0).no_panic();
    assert_eq!(app.restart_time(), before + 3);
    let r = sb.run_script(
        "fourth",
        r#"
        try {
            service::restart("lowcode-platform");
            check("refused", false);
        } catch (e) {
            print(e.message);
            check("refused", e.kind == "denied");
        }
        service::restart("lowcode-platform");
        "#,
        &[],
    );
    r.expect_code(4).no_panic();
    let msg = r.output().join("\n");
    assert!(
        msg.contains("3 restarts in the last 10m") && msg.contains("policy.restart_limit"),
        "{msg}"
    );
    assert!(msg.contains("next allowed at"), "{msg}");
    assert_eq!(app.restart_time(), before + 3, "no fourth restart");
    let audit = sb.audit();
    let denied: Vec<_> = audit_of(&audit, "service.restart")
        .into_iter()
        .filter(|r| r["outcome"] == "denied")
        .collect();
    assert_eq!(denied.len(), 2, "{audit:#?}");
    // Under --dry-run the limit is reported too.
    let r = sb.run_script(
        "dry4",
        r#"service::restart("lowcode-platform");"#,
        &["--dry-run"],
    );
    r.expect_code(4);
}

#[test]
fn pm2_maintenance_stop_start_and_heap_snapshot_signal() {
    let app = Demo::start();
    let sb = app.sandbox("");
    let r = sb.run_script(
        "maint",
        r#"
        let st = service::stop("lowcode-platform");
        check("stopped", st.state == "stopped", st.state);
        check("no pid when stopped", type_of(st.pid) == "()");
        let h = service::health("lowcode-platform", #{ timeout_ms: 1000 });
        check("health fails while stopped", !h.ok && type_of(h.status) == "()", `${h.error}`);
        service::stop("lowcode-platform");   // stopping a stopped service is fine
        let st = service::start("lowcode-platform");
        check("started", service::wait_healthy("lowcode-platform", 30));
        check("sent", service::signal("lowcode-platform", "SIGUSR2"));
        "#,
        &[],
    );
    r.expect_code(0).no_panic();
    // Node.js writes the heap snapshot into the diagnostic dir (the app's working folder).
    common::wait_until(
        Duration::from_secs(30),
        "a heap snapshot after SIGUSR2",
        || !app.files_ending(".heapsnapshot").is_empty(),
    );
    let audit = sb.audit();
    for action in ["service.stop", "service.start", "service.signal"] {
        assert!(
            audit_of(&audit, action)
                .iter()
                .all(|r| r["outcome"] == "done"),
            "{action}: {audit:#?}"
        );
    }
    assert_eq!(
        audit_of(&audit, "service.signal")[0]["args"]["signal"],
        "SIGUSR2"
    );

    // A process pm2 no longer knows is started from the inventory's start_script (the
    // ecosystem file, which reads PORT and LOG_DIR from the environment of the run).
    let out = app.pm2(&["delete", APP]);
    assert!(out.status.success());
    sb.file(
        "fresh.rhai",
        r#"
        let st = service::status("lowcode-platform");
        check("unknown to pm2", st.state == "stopped" && st.detail.contains("not in pm2"), st.detail);
        service::start("lowcode-platform");
        check("healthy", service::wait_healthy("lowcode-platform", 30));
        "#,
    );
    let out = sb
        .cmd()
        .envs(app.env())
        .args(["run", "fresh.rhai", "--json"])
        .output()
        .unwrap();
    common::Run::from_output(out).expect_code(0).no_panic();
}

#[test]
fn services_outside_the_inventory_are_denied_and_audited() {
    let sb = Sandbox::new();
    sb.config("[services.web]\nmanager = \"command\"\nstatus_cmd = [\"true\"]\n");
    let r = sb.run_script("deny", r#"service::restart("lowcode-platform");"#, &[]);
    r.expect_code(4).no_panic();
    let audit = sb.audit();
    let rec = audit_of(&audit, "service.restart");
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0]["outcome"], "denied");
    let r = sb.run_script("deny2", r#"service::status("nope");"#, &[]);
    r.expect_code(4);
    // The command manager: status_cmd exit 0 means online.
    let r = sb.run_script(
        "ok",
        r#"check("online", service::status("web").state == "online");"#,
        &[],
    );
    r.expect_code(0);
}

/// supervisord with its own config, socket and pid file in a temp dir; shut down on drop.
struct Supervisord {
    dir: tempfile::TempDir,
    port: u16,
}

impl Supervisord {
    fn start() -> Supervisord {
        let dir = tempfile::Builder::new().prefix("sv-").tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            r#"[unix_http_server]
file={d}/supervisor.sock

[supervisord]
logfile={d}/supervisord.log
pidfile={d}/supervisord.pid
childlogdir={d}
directory={d}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{d}/supervisor.sock

[program:{APP}]
command=node server.js
directory={fixture}
environment=PORT="{port}",LOG_DIR="{d}/logs"
autostart=true
startsecs=1
stopwaitsecs=5
stdout_logfile={d}/app-out.log
stderr_logfile={d}/app-err.log
"#,
            fixture = fixture_dir().display(),
        );
        std::fs::write(dir.path().join("supervisord.conf"), conf).unwrap();
        let out = Command::new("supervisord")
            .arg("-c")
            .arg(dir.path().join("supervisord.conf"))
            .output()
            .expect("supervisord on PATH (pip install supervisor)");
        assert!(
            out.status.success(),
            "supervisord: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sv = Supervisord { dir, port };
        wait_for_health(
            &format!("http://127.0.0.1:{port}/health"),
            Duration::from_secs(30),
        );
        // Answering already, but RUNNING only once `startsecs` has passed.
        common::wait_until(
            Duration::from_secs(30),
            &format!("supervisor to report {APP} RUNNING"),
            || {
                let out = Command::new("supervisorctl")
                    .arg("-c")
                    .arg(sv.conf())
                    .args(["status", APP])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).contains("RUNNING")
            },
        );
        sv
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("supervisord.conf")
    }
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        let _ = Command::new("timeout")
            .arg("30")
            .arg("supervisorctl")
            .arg("-c")
            .arg(self.conf())
            .arg("shutdown")
            .output();
        let pidfile = self.dir.path().join("supervisord.pid");
        // Wait for it to stop its children and exit before the temp dir goes away.
        common::poll_until(Duration::from_secs(15), || !pidfile.exists());
    }
}

#[test]
fn supervisor_status_restart_stop_start() {
    let sv = Supervisord::start();
    let sb = Sandbox::new();
    sb.config(&format!(
        r#"[policy]
http_hosts = ["127.0.0.1"]

[services.{APP}]
manager = "supervisor"
supervisor_config = "{conf}"
health_url = "http://127.0.0.1:{port}/health"
settle_s = 1
"#,
        conf = sv.conf().display(),
        port = sv.port
    ));
    let r = sb.run_script(
        "sv",
        r#"
        let st = service::status("lowcode-platform");
        print(json::to_string(st));
        check("online", st.state == "online" && st.manager == "supervisor");
        check("pid and uptime", st.pid > 0 && st.uptime_s >= 0);
        check("memory sampled", st.memory > 0);
        let after = service::restart("lowcode-platform");
        check("healthy after restart", service::wait_healthy("lowcode-platform", 30));
        let now = service::status("lowcode-platform");
        check("new pid", now.pid != st.pid, `${st.pid} -> ${now.pid}`);
        let s = service::stop("lowcode-platform");
        check("stopped", s.state == "stopped", s.detail);
        service::stop("lowcode-platform");
        service::start("lowcode-platform");
        check("healthy after start", service::wait_healthy("lowcode-platform", 30));
        try { service::reload("lowcode-platform"); check("reload refused", false); }
        catch (e) { check("reload refused", e.message.contains("no reload")); }
        "#,
        &[],
    );
    r.expect_code(0).no_panic();
    let audit = sb.audit();
    assert_eq!(audit_of(&audit, "service.restart")[0]["outcome"], "done");
}

#[test]
fn supervisor_unknown_program_is_an_error_quoting_supervisorctl() {
    let sv = Supervisord::start();
    let sb = Sandbox::new();
    sb.config(&format!(
        "[services.ghost]\nmanager = \"supervisor\"\nsupervisor_config = \"{}\"\n",
        sv.conf().display()
    ));
    let r = sb.run_script("ghost", r#"service::status("ghost");"#, &[]);
    r.expect_code(5);
    assert!(
        r.report["error"]
            .as_str()
            .unwrap_or_default()
            .contains("ERROR (no such process)"),
        "{}",
        r.stdout
    );
}

/// A PATH with the fake `systemctl` (and its recordings) first; the unit starts in `state`.
fn fake_systemd_path(sb: &Sandbox, state: &str, start_fails: bool) -> String {
    let bin = sb.path().join("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/systemd");
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        std::fs::copy(e.path(), bin.join(e.file_name())).unwrap();
    }
    std::fs::rename(bin.join("fake-systemctl"), bin.join("systemctl")).unwrap();
    std::fs::copy(src.join(state), bin.join("state.txt")).unwrap();
    if start_fails {
        std::fs::copy(src.join("start-limit-hit.stderr"), bin.join("start-fails")).unwrap();
    }
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn systemd_through_a_fake_systemctl_on_path() {
    let sb = Sandbox::new();
    sb.config(&format!(
        "[services.{APP}]\nmanager = \"systemd\"\nunit = \"lowcode-platform.service\"\n"
    ));
    let path = fake_systemd_path(&sb, "active.txt", false);
    sb.file(
        "s.rhai",
        r#"
        let st = service::status("lowcode-platform");
        check("online", st.state == "online" && st.restarts == 2 && st.manager == "systemd");
        check("memory from MemoryCurrent", st.memory == 48234496);
        service::restart("lowcode-platform");
        "#,
    );
    let r = sb.runbook("s.rhai").env("PATH", &path).json();
    r.expect_code(0).no_panic();
    let calls = std::fs::read_to_string(sb.path().join("fakebin/calls")).unwrap();
    assert!(
        calls.contains("--no-ask-password restart lowcode-platform.service"),
        "{calls}"
    );

    // A unit that hit its start limit: reported, not retried, no reset-failed without permission.
    let sb = Sandbox::new();
    sb.config(&format!(
        "[services.{APP}]\nmanager = \"systemd\"\nunit = \"lowcode-platform.service\"\n"
    ));
    let path = fake_systemd_path(&sb, "start-limit-hit.txt", true);
    sb.file(
        "s.rhai",
        r#"
        let st = service::status("lowcode-platform");
        check("errored", st.state == "errored" && st.detail.contains("start-limit-hit"), st.detail);
        service::restart("lowcode-platform");
        "#,
    );
    let r = sb.runbook("s.rhai").env("PATH", &path).json();
    r.expect_code(5).no_panic();
    let err = r.report["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("hit its start limit") && err.contains("allow_reset_failed"),
        "{err}"
    );
    let calls = std::fs::read_to_string(sb.path().join("fakebin/calls")).unwrap();
    assert!(
        !calls.contains("restart") && !calls.contains("reset-failed"),
        "{calls}"
    );
    r.check("errored").is_ok();
}

// ---- cmd:: -------------------------------------------------------------------------------

fn cmd_sandbox() -> Sandbox {
    let sb = Sandbox::new();
    sb.config(
        r#"[policy]
read = ["."]
write = ["."]
commands = ["sh", "git"]
read_only_commands = ["git status --porcelain"]
"#,
    );
    sb
}

#[test]
fn cmd_run_returns_code_and_output_and_is_audited_without_env_values() {
    let sb = cmd_sandbox();
    let r = sb.run_script(
        "c",
        r#"
        let r = cmd::run("sh", ["-c", "echo out; echo err >&2; echo $TOKEN_FOR_TEST > token.txt; exit 3"],
                         #{ env: #{ TOKEN_FOR_TEST: "hunter2" }, timeout_s: 30 });
        check("code", r.code == 3);
        check("stdout", r.stdout == "out\n");
        check("stderr", r.stderr == "err\n");
        check("not timed out", !r.timed_out && !r.truncated && !r.planned);
        "#,
        &[],
    );
    r.expect_code(0).no_panic();
    assert_eq!(
        std::fs::read_to_string(sb.path().join("token.txt")).unwrap(),
        "hunter2\n"
    );
    let audit = std::fs::read_to_string(sb.state().join("audit.jsonl")).unwrap();
    assert!(
        audit.contains("TOKEN_FOR_TEST") && !audit.contains("hunter2"),
        "{audit}"
    );
}

#[test]
fn cmd_run_denies_programs_outside_the_policy() {
    let sb = cmd_sandbox();
    let r = sb.run_script("c", r#"cmd::run("rm", ["-rf", "x"]);"#, &[]);
    r.expect_code(4).no_panic();
    assert!(
        r.report["error"]
            .as_str()
            .unwrap_or_default()
            .contains("policy.commands")
    );
    assert_eq!(sb.audit().last().unwrap()["outcome"], "denied");
}

#[test]
fn cmd_run_dry_run_plans_mutations_but_runs_read_only_commands() {
    let sb = cmd_sandbox();
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(sb.path())
        .status()
        .unwrap();
    assert!(git.success());
    let r = sb.run_script(
        "c",
        r#"
        let w = cmd::run("sh", ["-c", "touch made.txt"]);
        check("planned", w.planned && type_of(w.code) == "()");
        let s = cmd::run("git", ["status", "--porcelain"], #{ cwd: "." });
        check("git status ran", !s.planned && s.code == 0);
        "#,
        &["--dry-run"],
    );
    r.expect_code(0).no_panic();
    assert!(!sb.path().join("made.txt").exists());
    let outcomes: Vec<String> = r
        .effects("cmd.run")
        .iter()
        .map(|e| e["outcome"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(outcomes, ["planned", "done"]);
}

/// A sandbox with fake `npm` and `git` in `bin/` that append their arguments to `bin/ran`, and
/// the PATH that finds them first.
fn fake_tools_sandbox(policy: &str) -> (Sandbox, String) {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    for tool in ["npm", "git"] {
        let f = sb.file(
            &format!("bin/{tool}"),
            &format!("#!/bin/sh\necho \"{tool} $*\" >> \"$(dirname \"$0\")/ran\"\n"),
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    sb.config(&format!(
        "[policy]\nread = [\".\"]\nwrite = [\".\"]\ncommands = [\"npm\", \"git\"]\n{policy}\n"
    ));
    let path = format!(
        "{}:{}",
        sb.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (sb, path)
}

#[test]
fn read_only_commands_match_the_whole_command_line_under_dry_run() {
    let (sb, path) = fake_tools_sandbox(
        r#"read_only_commands = ["npm audit", "git tag", "git status", "git log *"]"#,
    );
    sb.file(
        "ro.rhai",
        r#"
        let runs = [
            cmd::run("npm", ["audit"]),
            cmd::run("npm", ["audit", "fix", "--force"]),
            cmd::run("git", ["tag", "-d", "v1"]),
            cmd::run("git", ["-c", "core.pager=x", "status"]),
            cmd::run("git", ["status"], #{ env: #{ GIT_DIR: "elsewhere" } }),
            cmd::run("git", ["log", "--oneline", "-3"]),
        ];
        check("six runs", runs.len() == 6);
        "#,
    );
    let out = sb
        .cmd()
        .env("PATH", &path)
        .args(["run", "ro.rhai", "--json", "--dry-run"])
        .output()
        .unwrap();
    let r = common::Run::from_output(out);
    r.no_panic();
    let outcomes: Vec<String> = r
        .effects("cmd.run")
        .iter()
        .map(|e| e["outcome"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        outcomes,
        ["done", "planned", "planned", "planned", "planned", "done"],
        "{:#}",
        r.report
    );
    let ran = std::fs::read_to_string(sb.path().join("bin/ran")).unwrap_or_default();
    assert_eq!(ran, "npm audit\ngit log --oneline -3\n", "{ran}");
}

/// Processes whose command line contains `marker`, not zombies.
fn live_with(marker: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat
            .rfind(')')
            .is_some_and(|i| stat[i + 1..].trim_start().starts_with('Z'));
        if !zombie
            && String::from_utf8_lossy(&cmdline)
                .replace('\0', " ")
                .contains(marker)
        {
            out.push(pid);
        }
    }
    out
}

#[test]
fn cmd_run_timeout_kills_the_whole_group() {
    let sb = cmd_sandbox();
    // A grandchild that ignores SIGTERM; a unique duration marks it.
    let marker = format!("6{}.5", std::process::id() % 100_000);
    let r = sb.run_script(
        "c",
        &format!(
            r#"
            cmd::run("sh", ["-c", "(trap '' TERM; exec sleep {marker}) & wait"], #{{ timeout_s: 1 }});
            "#
        ),
        &[],
    );
    // A program's timeout is a limit: exit 3, audited `interrupted` with the timeout.
    r.expect_code(3).no_panic();
    r.status("limit");
    let err = r.report["error"].as_str().unwrap_or_default();
    assert!(err.contains("timeout after 1 s"), "{err}");
    let audit = sb.audit();
    let rec = audit_of(&audit, "cmd.run");
    assert_eq!(rec.last().unwrap()["outcome"], "interrupted", "{audit:#?}");
    assert!(
        rec.last().unwrap()["error"]
            .as_str()
            .unwrap_or_default()
            .contains("timeout after 1 s")
    );
    assert!(
        live_with(&format!("sleep {marker}")).is_empty(),
        "grandchild sleep {marker} survived"
    );
}

// ---- redaction -----------------------------------------------------------------------------

/// Every manager (and `cmd::run`) quoting output that holds a secret: a fake manager binary that
/// prints a pm2-style process list with `JWT_SECRET`, a `KEY=VALUE` secret and a value of
/// runbook's own environment, and exits 1. The secrets appear nowhere: not on stdout or stderr,
/// not in the JSON report, not in the audit log.
#[test]
fn manager_and_command_output_is_redacted_everywhere() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let opaque = "0paqu3-env-v4lue";
    let fake = sb.file(
        "bin/fake-manager",
        "#!/bin/sh\necho \"$RB_TEST_OPAQUE\"\necho 'DB_PASSWORD=hunter22 and more'\n\
         echo '[{\"name\":\"api\",\"pm2_env\":{\"env\":{\"JWT_SECRET\":\"s3cr3t\"}}}]'\nexit 1\n",
    );
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fake = fake.display().to_string();
    // A "daemon" listening in the pm2 home, so pm2 status asks the fake pm2.
    std::fs::create_dir_all(sb.path().join("pm2home")).unwrap();
    let _daemon =
        std::os::unix::net::UnixListener::bind(sb.path().join("pm2home/rpc.sock")).unwrap();
    sb.config(&format!(
        r#"[policy]
read = ["."]
write = ["."]
commands = ["{fake}"]

[services.api-pm2]
manager = "pm2"
unit = "api"
bin = "{fake}"
pm2_home = "pm2home"

[services.api-sup]
manager = "supervisor"
unit = "api"
bin = "{fake}"

[services.api-sd]
manager = "systemd"
unit = "api"
bin = "{fake}"

[services.api-cmd]
manager = "command"
status_cmd = ["{fake}", "status"]
start_cmd = ["{fake}", "start", "--token=tok3n-arg"]
"#
    ));
    let secrets = ["s3cr3t", "hunter22", opaque, "tok3n-arg"];
    let run = |name: &str, script: &str| {
        sb.file(&format!("{name}.rhai"), script);
        let out = sb
            .cmd()
            .env("RB_TEST_OPAQUE", opaque)
            .args(["run", &format!("{name}.rhai"), "--json"])
            .output()
            .unwrap();
        common::Run::from_output(out)
    };
    let mut seen = Vec::new();
    for svc in ["api-pm2", "api-sup", "api-sd", "api-cmd"] {
        // Caught: the message printed by the script; uncaught: the run's error.
        let r = run(
            "caught",
            &format!(
                r#"try {{ service::status("{svc}"); }} catch (e) {{ print(e.message); }}
                   try {{ service::start("{svc}"); }} catch (e) {{ print(e.message); }}"#
            ),
        );
        r.no_panic();
        seen.push((format!("{svc} caught"), r));
        let r = run("uncaught", &format!(r#"service::start("{svc}");"#));
        r.no_panic();
        assert_ne!(r.code, 0, "{svc}: {}", r.stdout);
        seen.push((format!("{svc} uncaught"), r));
    }
    // cmd::run: the command line (audit target, errors) and a timeout message.
    let r = run(
        "cmd",
        &format!(
            r#"let r = cmd::run("{fake}", ["--password=hunter22", "x"]); fail(`code ${{r.code}}`);"#
        ),
    );
    seen.push(("cmd::run".to_string(), r));
    let audit = std::fs::read_to_string(sb.state().join("audit.jsonl")).unwrap_or_default();
    for (what, r) in &seen {
        for s in secrets {
            assert!(
                !r.stdout.contains(s) && !r.stderr.contains(s),
                "{what}: {s} leaked:\nstdout: {}\nstderr: {}",
                r.stdout,
                r.stderr
            );
        }
        // The report exists and says something about the failure.
        assert!(r.report.is_object(), "{what}: {}", r.stdout);
    }
    for s in secrets {
        assert!(!audit.contains(s), "{s} in the audit log:\n{audit}");
    }
    // The errors still say what failed.
    let printed = seen[0].1.output().join("\n");
    assert!(printed.contains("exit code 1"), "{printed}");
    assert!(audit.contains("--password=***"), "{audit}");
}

// ---- identity of a service ------------------------------------------------------------------

/// The restart limit and the lock belong to the service the manager runs, not to its inventory
/// name: `lowcode-platform` under one pm2 home does not use up the budget of a
/// `lowcode-platform` under another.
#[test]
fn restart_limit_is_keyed_by_the_pm2_home_not_the_name() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let fake = sb.file(
        "bin/pm2",
        "#!/bin/sh\necho \"$PM2_HOME $*\" >> \"$(dirname \"$0\")/calls\"\n\
         [ \"$1\" = jlist ] && echo '[{\"name\":\"lowcode-platform\",\"pid\":1,\"pm2_env\":{\"status\":\"online\",\"restart_time\":0}}]'\n\
         exit 0\n",
    );
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut daemons = Vec::new();
    for home in ["home1", "home2"] {
        std::fs::create_dir_all(sb.path().join(home)).unwrap();
        daemons.push(
            std::os::unix::net::UnixListener::bind(sb.path().join(home).join("rpc.sock")).unwrap(),
        );
    }
    let config = |home: &str| {
        sb.config(&format!(
            "[policy]\nrestart_limit = \"1/10m\"\n\n[services.lowcode-platform]\nmanager = \"pm2\"\nbin = \"{}\"\npm2_home = \"{home}\"\n",
            fake.display()
        ));
    };
    let restart = || {
        sb.run_script(
            "r",
            r#"let st = service::restart("lowcode-platform"); check("online", st.state == "online");"#,
            &[],
        )
    };
    config("home1");
    restart().expect_code(0).no_panic();
    // Another pm2 home, same inventory name: its own budget.
    config("home2");
    restart().expect_code(0).no_panic();
    // The first one's budget is used up.
    config("home1");
    let r = restart();
    r.expect_code(4).no_panic();
    assert!(
        r.report["error"]
            .as_str()
            .unwrap_or_default()
            .contains("policy.restart_limit"),
        "{:#}",
        r.report
    );
    let calls = std::fs::read_to_string(sb.path().join("bin/calls")).unwrap();
    let restarts: Vec<&str> = calls
        .lines()
        .filter(|l| l.ends_with("restart lowcode-platform"))
        .collect();
    assert_eq!(restarts.len(), 2, "{calls}");
    assert!(
        restarts[0].contains("home1") && restarts[1].contains("home2"),
        "{calls}"
    );
    // Two keys, two lock files.
    // (The folder also holds the runbook's own run lock.)
    let locks = std::fs::read_dir(sb.state().join("locks"))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("lowcode-platform@pm2-")
        })
        .count();
    assert_eq!(locks, 2);
}

/// `pm2 jlist` on a pm2 home with no daemon spawns one; `service::status` must not.
#[test]
fn pm2_status_does_not_start_a_daemon() {
    let sb = Sandbox::new();
    let home = sb.path().join("emptyhome");
    std::fs::create_dir_all(&home).unwrap();
    sb.config(&format!(
        "[services.api]\nmanager = \"pm2\"\nbin = \"{}\"\npm2_home = \"{}\"\n",
        common::demo::pm2_bin().display(),
        home.display()
    ));
    let r = sb.run_script(
        "st",
        r#"let st = service::status("api"); print(st.state); print(st.detail);"#,
        &[],
    );
    r.expect_code(6).no_panic();
    assert_eq!(r.output()[0], "stopped", "{:?}", r.output());
    assert!(r.output()[1].contains("no pm2 daemon"), "{:?}", r.output());
    for f in ["rpc.sock", "pub.sock", "pm2.pid"] {
        assert!(!home.join(f).exists(), "{f} appeared: a daemon was started");
    }
    assert!(live_with(&home.display().to_string()).is_empty());
}
