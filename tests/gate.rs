//! The effect gate: preconditions (`require`), preflight (`would_fail`), undo on failure
//! (`on_failure`), the write-ahead audit, the runbook lock, the effect budget and the output cap.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Run, Sandbox};
use serde_json::Value;

/// Poll `cond` until it holds or `limit` passes (then panic with `what`): the kit's `wait_until`.
fn wait_for(what: &str, limit: Duration, cond: impl FnMut() -> bool) {
    common::wait_until(limit, what, cond)
}

fn outcomes(r: &Run) -> Vec<(String, String, bool)> {
    r.report["effects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
                e["compensation"] == true,
            )
        })
        .collect()
}

#[test]
fn require_false_fails_before_any_effect_in_real_and_dry_runs() {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrite = [\".\"]\n");
    let script = r#"
require(fs::exists("public"), "public/ does not exist: create it first");
fs::write("marker.txt", "x");
"#;
    for extra in [&["--dry-run"][..], &[][..]] {
        let r = sb.run_script("pre", script, extra);
        r.expect_code(1);
        r.status("failed");
        let err = r.report["error"].as_str().unwrap();
        assert!(
            err.contains("precondition failed: public/ does not exist"),
            "{err}"
        );
        assert_eq!(r.report["effects"], Value::Array(vec![]), "{:#}", r.report);
        assert!(!sb.path().join("marker.txt").exists());
    }
    assert!(sb.audit().is_empty(), "{:?}", sb.audit());
    // `()` is not a met condition; a non-bool is a usage error.
    let r = sb.run_script("pre2", "require((), \"stats have no counter\");", &[]);
    r.expect_code(1);
    assert!(r.report["error"].as_str().unwrap().contains("unknown"));
    let r = sb.run_script("pre3", "require(1, \"x\");", &[]);
    r.expect_code(2);
    assert_eq!(r.report["error_kind"], "usage");
}

/// A new user's script wrote a file and then called a misspelled function: the write was done
/// and audited, then the run died on the typo (`runbook check` had it). A runbook that may
/// cause effects now starts only without what `check` finds; a read-only one runs as before.
#[test]
fn a_runbook_with_effects_and_a_typo_check_finds_runs_nothing() {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrite = [\".\"]\ncommands = [\"true\"]\n");
    let script = "fs::write(\"marker.txt\", \"x\");\n\
                  let m = metrics::memroy();\n\
                  cmd::run(\"true\", [], #{ timeot_s: 5 });\n";
    for extra in [&["--dry-run"][..], &["--yes"][..]] {
        let r = sb.run_script("typo", script, extra);
        r.no_panic().expect_code(5);
        assert_eq!(r.report["error_kind"], "script", "{:#}", r.report);
        let err = r.report["error"].as_str().unwrap();
        assert!(
            err.contains("typo.rhai:2:18: unknown function metrics::memroy")
                && err.contains("typo.rhai:3:25: cmd::run: unknown option \"timeot_s\"")
                && err.contains("nothing was run"),
            "{err}"
        );
        assert_eq!(r.report["effects"], Value::Array(vec![]), "{:#}", r.report);
        assert!(!sb.path().join("marker.txt").exists());
    }
    assert!(sb.audit().is_empty(), "{:?}", sb.audit());
    // Read-only: runs up to the typo (its output so far is kept), as before.
    let r = sb.run_script(
        "ro",
        "print(\"before\");\nlet m = metrics::memroy();\n",
        &[],
    );
    r.no_panic().expect_code(5);
    assert_eq!(r.output(), vec!["before"], "{:#}", r.report);
}

#[test]
fn dry_run_reports_effects_that_would_fail_and_a_real_run_does_not_attempt_them() {
    let sb = Sandbox::new();
    sb.file(
        "app/package.json",
        r#"{"name":"x","scripts":{"start":"node s.js"}}"#,
    );
    sb.config(
        "[policy]\nwrite = [\".\"]\ncommands = [\"npm\", \"no-such-command-4711\", \"true\"]\n",
    );
    let script = r#"
fs::write("app/public/maintenance.html", "<h1>down</h1>");
fs::write("app/ok.txt", "fine");
cmd::run("no-such-command-4711", []);
cmd::run("npm", ["run", "build"], #{cwd: "app"});
cmd::run("true", []);
"#;
    let r = sb.run_script("wf", script, &["--dry-run"]);
    let effects = r.report["effects"].as_array().unwrap();
    let got: Vec<(&str, &str)> = effects
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("fs.write", "would_fail"),
            ("fs.write", "planned"),
            ("cmd.run", "would_fail"),
            ("cmd.run", "would_fail"),
            ("cmd.run", "planned"),
        ],
        "{:#}",
        r.report
    );
    assert!(
        effects[0]["detail"]
            .as_str()
            .unwrap()
            .contains("app/public does not exist")
    );
    assert!(
        effects[2]["detail"]
            .as_str()
            .unwrap()
            .contains("not on PATH")
    );
    let npm = effects[3]["detail"].as_str().unwrap();
    assert!(
        npm.contains("no script \"build\"") && npm.contains("start"),
        "{npm}"
    );
    assert!(r.stderr.is_empty() || !r.stderr.contains("panicked"));
    assert!(!sb.path().join("app/ok.txt").exists());
    let audit = sb.audit();
    assert_eq!(audit[0]["outcome"], "would_fail");
    assert!(
        audit[0]["error"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );

    // A real run: the write is not attempted, reported failed with "preflight:".
    let r = sb.run_script("wf", script, &[]);
    r.expect_code(5);
    let e = &r.report["effects"][0];
    assert_eq!(e["outcome"], "failed");
    assert!(
        e["detail"].as_str().unwrap().starts_with("preflight: "),
        "{e}"
    );
    assert!(!sb.path().join("app/public").exists());
    assert!(!sb.path().join("app/ok.txt").exists());
}

/// A process that ignores SIGUSR2 (`trap '' USR2` is inherited across exec) or not.
fn sleeper(handles_usr2: bool) -> Child {
    let script = if handles_usr2 {
        "trap '' USR2; exec sleep 60"
    } else {
        "exec sleep 60"
    };
    Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_signal_the_process_does_not_handle_is_never_sent() {
    let sb = Sandbox::new();
    let mut plain = sleeper(false);
    let mut trapped = sleeper(true);
    // Wait until the trapped shell has exec'd sleep with USR2 ignored.
    wait_for(
        "sleep with SIGUSR2 ignored",
        Duration::from_secs(10),
        || {
            std::fs::read_to_string(format!("/proc/{}/status", trapped.id()))
                .map(|s| {
                    s.lines().any(|l| {
                        l.starts_with("SigIgn:")
                            && u64::from_str_radix(l[7..].trim(), 16).unwrap_or(0) & (1 << 11) != 0
                    })
                })
                .unwrap_or(false)
        },
    );
    sb.file("plain.pid", &plain.id().to_string());
    sb.file("trapped.pid", &trapped.id().to_string());
    let dir = sb.path();
    sb.config(&format!(
        "[services.plain]\nmanager = \"command\"\nstatus_cmd = [\"cat\", \"{0}/plain.pid\"]\n\
         [services.trapped]\nmanager = \"command\"\nstatus_cmd = [\"cat\", \"{0}/trapped.pid\"]\n",
        dir.display()
    ));
    let script = r#"
let a = service::can_signal("plain", "SIGUSR2");
let b = service::can_signal("trapped", "USR2");
print(`${a.ok} ${b.ok}`);
print(a.reason);
service::signal("trapped", "SIGUSR2");
service::signal("plain", "SIGUSR2");
"#;
    let r = sb.run_script("sig", script, &["--dry-run"]);
    assert_eq!(r.output()[0], "false true", "{:#}", r.report);
    assert!(
        r.output()[1].contains("does not handle SIGUSR2"),
        "{:?}",
        r.output()
    );
    let got = outcomes(&r);
    assert_eq!(got[0].1, "planned");
    assert_eq!(got[1].1, "would_fail", "{:#}", r.report);

    let r = sb.run_script("sig", script, &[]);
    r.expect_code(5);
    let got = outcomes(&r);
    assert_eq!(got[0].1, "done");
    assert_eq!(got[1].1, "failed");
    assert!(r.report["error"].as_str().unwrap().contains("preflight"));
    // Both processes are alive: the trapped one ignored it, the plain one never got it.
    assert!(
        plain.try_wait().unwrap().is_none(),
        "the plain sleeper was killed"
    );
    assert!(trapped.try_wait().unwrap().is_none());
    let _ = plain.kill();
    let _ = trapped.kill();
    let _ = plain.wait();
    let _ = trapped.wait();
}

#[test]
fn compensations_run_in_reverse_through_the_gate_and_are_marked() {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrite = [\".\"]\n");
    let script = r#"
fs::write("a.txt", "a");
on_failure(|| fs::remove("a.txt"));
fs::write("b.txt", "b");
on_failure(|| fs::append("undo.log", "b undone\n"));
fail("something broke after the effects");
"#;
    let r = sb.run_script("undo", script, &[]);
    r.expect_code(1);
    r.status("failed");
    assert_eq!(
        r.report["error"], "something broke after the effects",
        "the original failure stays the error"
    );
    let got = outcomes(&r);
    assert_eq!(
        got,
        [
            ("fs.write".into(), "done".into(), false),
            ("fs.write".into(), "done".into(), false),
            ("fs.append".into(), "done".into(), true),
            ("fs.remove".into(), "done".into(), true),
        ]
    );
    assert!(!sb.path().join("a.txt").exists());
    assert_eq!(
        std::fs::read_to_string(sb.path().join("undo.log")).unwrap(),
        "b undone\n"
    );
    let audit = sb.audit();
    let comp: Vec<&Value> = audit.iter().filter(|a| a["compensation"] == true).collect();
    assert_eq!(comp.len(), 2);
    assert_eq!(comp[0]["action"], "fs.append");

    // A run that succeeds does not undo.
    let r = sb.run_script(
        "fine",
        "fs::write(\"c.txt\", \"c\");\non_failure(|| fs::remove(\"c.txt\"));\ncheck(\"x\", true);",
        &[],
    );
    r.expect_code(0);
    assert!(sb.path().join("c.txt").exists());
}

#[test]
fn compensations_run_after_the_deadline_and_a_failing_one_is_loud() {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrite = [\".\"]\n");
    let script = r#"
fs::write("a.txt", "a");
on_failure(|| fs::remove("a.txt"));
on_failure(|| fs::write("/definitely/not/allowed.txt", "x"));
loop { }
"#;
    let r = sb.run_script("late", script, &["--timeout", "1"]);
    r.expect_code(3);
    r.status("limit");
    assert!(
        !sb.path().join("a.txt").exists(),
        "the undo ran after the deadline"
    );
    let errs = r.report["compensation_errors"].as_array().unwrap();
    assert_eq!(errs.len(), 1, "{:#}", r.report);
    assert!(
        errs[0].as_str().unwrap().contains("late.rhai:4"),
        "{errs:?}"
    );
    assert!(r.stderr.contains("COMPENSATION FAILED"), "{}", r.stderr);
    let got = outcomes(&r);
    assert_eq!(got[1], ("fs.write".into(), "denied".into(), true));
    assert_eq!(got[2], ("fs.remove".into(), "done".into(), true));

    // Human output shows it loudly too.
    let out = sb.run(&["run", "late.rhai", "--timeout", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("COMPENSATION FAILED (undo incomplete)"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn dry_run_lists_compensations_as_planned() {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrite = [\".\"]\n");
    let r = sb.run_script(
        "plan",
        "fs::write(\"a.txt\", \"a\");\non_failure(|| fs::remove(\"a.txt\"));\ncheck(\"x\", true);",
        &["--dry-run"],
    );
    r.expect_code(0);
    assert_eq!(
        outcomes(&r),
        [
            ("fs.write".into(), "planned".into(), false),
            ("fs.remove".into(), "planned".into(), true),
        ]
    );
    assert!(!sb.path().join("a.txt").exists());
}

#[test]
fn interrupt_is_its_own_status() {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrite = [\".\"]\n");
    let running = sb
        .invoke()
        .script_named("spin", "print(\"go\");\nloop { }\n")
        .spawn_json();
    // The run is going once the script's thread exists; poll for it, then SIGINT.
    running.wait_script_thread(Duration::from_secs(10));
    let r = running.sigint().wait();
    r.exit(3).status("interrupted");
    assert_eq!(r.report["error_kind"], "interrupted");
}

#[test]
fn the_effect_budget_stops_a_runaway_loop_as_a_limit() {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrite = [\".\"]\nmax_effects = 7\n");
    let r = sb.run_script("many", "while true { fs::append(\"f.txt\", \"x\"); }", &[]);
    r.expect_code(3);
    assert!(
        r.report["error"]
            .as_str()
            .unwrap()
            .contains("policy.max_effects"),
        "{:#}",
        r.report
    );
    assert_eq!(
        std::fs::read_to_string(sb.path().join("f.txt")).unwrap(),
        "xxxxxxx"
    );
    // The default budget is 200.
    sb.config("[policy]\nwrite = [\".\"]\n");
    let r = sb.run_script("many", "while true { fs::append(\"g.txt\", \"x\"); }", &[]);
    r.expect_code(3);
    assert_eq!(
        std::fs::read_to_string(sb.path().join("g.txt"))
            .unwrap()
            .len(),
        200
    );
}

#[test]
fn two_runs_of_one_runbook_do_not_interleave() {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrite = [\".\"]\n");
    sb.file(
        "slow.rhai",
        "//! @action\nfs::append(\"log.txt\", \"a\\n\");\nsleep_s(2);\nfs::append(\"log.txt\", \"b\\n\");\n",
    );
    let log = sb.path().join("log.txt");
    let first = sb
        .cmd()
        .args(["run", "slow.rhai", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(
        "the first run's first effect",
        Duration::from_secs(10),
        || log.exists(),
    );
    let second = sb.run(&["run", "slow.rhai", "--json"]);
    let r = Run::from_output(second);
    r.expect_code(5);
    let err = r.report["error"].as_str().unwrap();
    assert!(
        err.contains("already running")
            && err.contains(&format!("pid {}", first.id()))
            && err.contains("user ")
            && err.contains("started "),
        "{err}"
    );
    // With --wait the second run follows the first.
    let waited = sb.run(&["run", "slow.rhai", "--json", "--wait"]);
    assert_eq!(waited.status.code(), Some(0));
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "a\nb\na\nb\n");
    // A dry run takes no lock.
    assert!(sb.path().join("state/locks/runbooks").is_dir());
}

#[test]
fn output_is_capped_and_memory_stays_bounded() {
    let sb = Sandbox::new();
    // The process's own peak RSS, from wait4's rusage.
    let (r, rss_mib) = sb
        .invoke()
        .script_named("loud", "loop { print(\"x\".pad(100, \"x\")); }\n")
        .args(["--timeout", "5"])
        .spawn_json()
        .wait_peak_rss();
    let (report, out) = (&r.report, &r.stdout);
    assert_eq!(report["exit_code"], 3);
    assert_eq!(report["output_truncated"], true);
    assert_eq!(report["output"].as_array().unwrap().len(), 10_000);
    assert!(report["output_dropped_lines"].as_u64().unwrap() > 10_000);
    assert!(out.len() < 2 << 20, "report of {} bytes", out.len());
    assert!(rss_mib < 300, "peak RSS {rss_mib} MiB");

    // The byte cap: lines of 1000 bytes stop at 4 MiB, long before 10 000 lines.
    sb.config("[policy]\nmax_output_bytes = 100_000\n");
    let r = sb.run_script(
        "wide",
        "let s = \"y\"; s.pad(1000, \"y\");\nfor i in 0..500 { print(s); }\ncheck(\"x\", true);",
        &[],
    );
    r.expect_code(0);
    assert_eq!(r.report["output_truncated"], true);
    assert_eq!(r.report["output"].as_array().unwrap().len(), 99);
    assert_eq!(r.report["output_dropped_lines"], 401);
    let human = sb.run(&["run", "wide.rhai"]);
    let stdout = String::from_utf8_lossy(&human.stdout);
    assert_eq!(stdout.matches("output truncated").count(), 1, "one notice");
}

#[test]
fn fs_remove_removes_the_path_it_checked() {
    let sb = Sandbox::new();
    let root = sb.path();
    sb.file("outside/dir/keep.txt", "k");
    sb.file("outside/victim.txt", "v");
    sb.file("allowed/victim.txt", "mine");
    std::os::unix::fs::symlink(root.join("outside/dir"), root.join("allowed/sub")).unwrap();
    sb.config("[policy]\nwrite = [\"allowed\"]\n");
    let r = sb.run_script("rm", "fs::remove(\"allowed/sub/../victim.txt\");", &[]);
    assert!(
        root.join("outside/victim.txt").exists(),
        "a file outside policy.write was removed: {:#}",
        r.report
    );
    // Under --dry-run nothing is removed either, and the record is there.
    let r = sb.run_script("rm2", "fs::remove(\"allowed/victim.txt\");", &["--dry-run"]);
    assert_eq!(outcomes(&r)[0].1, "planned");
    assert!(root.join("allowed/victim.txt").exists());
    let r = sb.run_script("rm2", "fs::remove(\"allowed/victim.txt\");", &[]);
    assert_eq!(outcomes(&r)[0].1, "done");
    assert!(!root.join("allowed/victim.txt").exists());
}

#[test]
fn every_effect_has_a_started_record_before_its_outcome() {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrite = [\".\"]\n");
    let r = sb.run_script(
        "wa",
        "//! @action\nfs::write(\"a.txt\", \"a\");\nfs::remove(\"a.txt\");",
        &[],
    );
    r.expect_code(0);
    let raw = sb.audit_raw_at(&sb.state().join("audit.jsonl"));
    let seq: Vec<(&str, &str, u64)> = raw
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap(),
                a["outcome"].as_str().unwrap(),
                a["seq"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seq,
        [
            ("fs.write", "started", 1),
            ("fs.write", "done", 1),
            ("fs.remove", "started", 2),
            ("fs.remove", "done", 2),
        ]
    );
}

#[test]
fn a_process_killed_mid_effect_leaves_a_record_shown_as_no_outcome() {
    let sb = Sandbox::new();
    sb.config("[policy]\ncommands = [\"sleep\"]\n");
    sb.file("hang.rhai", "//! @action\ncmd::run(\"sleep\", [\"30\"]);\n");
    let mut child = sb.cmd().args(["run", "hang.rhai"]).spawn().unwrap();
    let audit = sb.state().join("audit.jsonl");
    wait_for("the started record", Duration::from_secs(10), || {
        std::fs::read_to_string(&audit).is_ok_and(|t| t.contains("\"started\""))
    });
    // The sleep child, to end it too once its parent is gone.
    let pid = child.id();
    let mut kids = Vec::new();
    wait_for("the sleep child", Duration::from_secs(10), || {
        kids = children_of(pid);
        !kids.is_empty()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    for k in kids {
        unsafe { libc::kill(k as i32, libc::SIGKILL) };
    }
    let out = sb.run(&["audit"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("no outcome (process ended)") && text.contains("cmd.run"),
        "{text}"
    );
    // A torn last line does not swallow the next record, and is counted.
    let mut t = std::fs::read_to_string(&audit).unwrap();
    t.push_str("{\"time\":\"2026-");
    std::fs::write(&audit, t).unwrap();
    sb.config("[policy]\nwrite = [\".\"]\n");
    sb.run_script("after", "//! @action\nfs::write(\"z.txt\", \"z\");", &[])
        .expect_code(0);
    let out = sb.run(&["audit", "--json"]);
    let recs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let last = recs.as_array().unwrap().last().unwrap();
    assert_eq!(last["action"], "fs.write");
    assert_eq!(last["outcome"], "done");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("skipped 1 damaged line"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn children_of(pid: u32) -> Vec<u32> {
    common::children_of(pid)
}

/// Whether this test process may create mount namespaces (root, `unshare` present).
fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["-m", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn an_audit_log_on_a_full_disk_stops_the_effect_before_it_happens() {
    if !can_unshare() {
        panic!("this test needs root and unshare(1) to mount a private tmpfs");
    }
    let sb = Sandbox::new();
    let full = sb.path().join("full");
    std::fs::create_dir(&full).unwrap();
    let audit = full.join("audit.jsonl");
    sb.config(&format!(
        "[policy]\nwrite = [\"data\"]\n[audit]\npath = \"{}\"\n",
        audit.display()
    ));
    sb.file("data/.keep", "");
    sb.file("w.rhai", "//! @action\nfs::write(\"data/x.txt\", \"d\");\n");
    // A 4 KiB tmpfs over `full`, filled, in a private mount namespace; then the run.
    let script = format!(
        "mount -t tmpfs -o size=4k tmpfs {dir} && touch {audit} && \
         (dd if=/dev/zero of={dir}/fill bs=1k count=64 2>/dev/null; true) && \
         exec \"$0\" run w.rhai --json",
        dir = full.display(),
        audit = audit.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .arg(common::bin())
        .current_dir(sb.path())
        .env("RUNBOOK_STATE_DIR", sb.state())
        .env("RUNBOOK_CONFIG_DIR", sb.path().join("userconf"))
        .output()
        .unwrap();
    let r = Run::from_output(out);
    assert_ne!(r.code, 0, "{:#}", r.report);
    let err = r.report["error"].as_str().unwrap_or_default();
    assert!(
        err.contains(&audit.display().to_string()) && err.contains("was not done"),
        "{err} / {}",
        r.stderr
    );
    assert!(
        !Path::new(&sb.path().join("data/x.txt")).exists(),
        "the write happened without an audit record"
    );
}

/// Content and mode of every file under `root` (the audit log and locks left out).
fn tree(root: &Path) -> std::collections::BTreeMap<String, (Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            if rel == "state/audit.jsonl" || rel.starts_with("state/locks") {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
                out.insert(rel, (Vec::new(), m.permissions().mode()));
            } else if m.is_file() {
                out.insert(rel, (std::fs::read(&p).unwrap(), m.permissions().mode()));
            } else {
                let t = std::fs::read_link(&p).unwrap();
                out.insert(rel, (t.to_string_lossy().as_bytes().to_vec(), 0));
            }
        }
    }
    out
}

#[test]
fn every_registered_effect_function_is_gated_under_dry_run() {
    let sb = Sandbox::new();
    let mut target = sleeper(false);
    sb.file("svc.pid", &target.id().to_string());
    sb.file("data/a.txt", "a");
    sb.file("data/logs/old.log.1", "old");
    sb.file("data/app/package.json", r#"{"scripts":{"build":"true"}}"#);
    let root = sb.path();
    sb.config(&format!(
        "[policy]\nwrite = [\"data\"]\ncommands = [\"true\", \"npm\"]\n\
         [backup]\ndir = \"data/bk\"\n\
         [services.web]\nmanager = \"command\"\nstatus_cmd = [\"cat\", \"{0}/svc.pid\"]\n\
         start_cmd = [\"true\"]\nstop_cmd = [\"true\"]\nrestart_cmd = [\"true\"]\nreload_cmd = [\"true\"]\n",
        root.display()
    ));
    // An archive to restore, made by a real run before the world is fixed.
    sb.run_script(
        "mk",
        "//! @action\nbackup::create(\"t\", [\"data/a.txt\"]);",
        &[],
    )
    .expect_code(0);
    let archive = std::fs::read_dir(root.join("data/bk"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .find(|n| n.ends_with(".zip"))
        .unwrap();
    let calls: &[(&str, String)] = &[
        ("fs::write", "fs::write(\"data/a.txt\", \"changed\")".into()),
        ("fs::append", "fs::append(\"data/a.txt\", \"more\")".into()),
        (
            "fs::copy",
            "fs::copy(\"data/a.txt\", \"data/b.txt\")".into(),
        ),
        ("fs::remove", "fs::remove(\"data/a.txt\")".into()),
        ("fs::mkdir", "fs::mkdir(\"data/new/dir\")".into()),
        (
            "logs::cleanup",
            "logs::cleanup(\"data/logs\", #{pattern: \"*.log.*\", older_than: 0})".into(),
        ),
        (
            "backup::create",
            "backup::create(\"t\", [\"data/a.txt\"])".into(),
        ),
        (
            "backup::restore",
            format!("backup::restore(\"{archive}\", \"data\")"),
        ),
        (
            "backup::prune",
            "backup::prune(\"t\", #{keep_last: 0})".into(),
        ),
        ("service::start", "service::start(\"web\")".into()),
        ("service::stop", "service::stop(\"web\")".into()),
        ("service::restart", "service::restart(\"web\")".into()),
        ("service::reload", "service::reload(\"web\")".into()),
        (
            "service::signal",
            "service::signal(\"web\", \"SIGTERM\")".into(),
        ),
        (
            "http::post",
            "http::post(\"http://127.0.0.1:9/x\", #{body: \"x\"})".into(),
        ),
        (
            "cmd::run",
            "cmd::run(\"npm\", [\"run\", \"build\"], #{cwd: \"data/app\"})".into(),
        ),
    ];
    let covered: Vec<&str> = calls.iter().map(|(f, _)| *f).collect();
    let registered: Vec<&str> = runbook::effects::REGISTRY
        .iter()
        .map(|e| e.function)
        .collect();
    assert_eq!(
        covered, registered,
        "every registered effect has a call here"
    );
    let before = tree(&root);
    for (i, (func, call)) in calls.iter().enumerate() {
        let name = format!("e{i}");
        let r = sb.run_script(&name, &format!("//! @action\n{call};\n"), &["--dry-run"]);
        std::fs::remove_file(root.join(format!("{name}.rhai"))).unwrap();
        let action = runbook::effects::REGISTRY[i].action;
        let recs: Vec<Value> = sb
            .audit()
            .into_iter()
            .filter(|a| a["runbook"] == name.as_str())
            .collect();
        assert!(
            recs.iter().any(|a| a["action"] == action
                && (a["outcome"] == "planned" || a["outcome"] == "would_fail")),
            "{func}: no planned/would_fail record for {action}: {recs:?}\n{:#}",
            r.report
        );
        assert!(
            recs.iter()
                .all(|a| a["outcome"] != "done" && a["outcome"] != "started"),
            "{func} acted under --dry-run: {recs:?}"
        );
        assert_eq!(
            tree(&root),
            before,
            "{func} changed the world under --dry-run"
        );
    }
    assert!(
        target.try_wait().unwrap().is_none(),
        "the service process was signalled"
    );
    let _ = target.kill();
    let _ = target.wait();
}

/// Denials are written to the audit log and the report too: a script that catches them in a
/// loop must not grow either without end (attack finding). They use the effect budget.
#[test]
fn caught_denials_in_a_loop_stay_bounded() {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrite = [\"w\"]\nmax_effects = 50\n");
    let r = sb.run_script(
        "deny-loop",
        "let kinds = #{};\nfor i in 0..20000 { try { fs::write(\"/etc/nope\", \"x\"); } catch (e) { kinds[e.kind] = true; } }\nprint(kinds.keys().len());",
        &["--dry-run"],
    );
    r.no_panic();
    let effects = r.report["effects"].as_array().unwrap().len();
    assert!(effects <= 50, "{effects} effects in the report");
    let lines = std::fs::read_to_string(sb.state().join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .count();
    assert!(lines <= 50, "{lines} audit lines");
    // The script saw the denials, then the budget's limit.
    assert_eq!(r.output(), ["2"], "{:#}", r.report);
}
