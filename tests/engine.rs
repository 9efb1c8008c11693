//! The engine core end to end through the real binary: parameters, limits, policy denials,
//! dry run, the JSON report, `check`, discovery and stdlib from any directory.

mod common;

use common::Sandbox;
use serde_json::Value;

const PARAMS: &str = r#"//! Params demo.
//! @param n: int = 3            how many
//! @param name: string = "x"    a name
//! @param wait: duration = 2m   a duration
//! @param on: bool = false      a switch
//! @param ratio: float = 0.5    a ratio
print(`${n} ${name} ${wait} ${on} ${ratio}`);
print(params.n + 1);
"#;

#[test]
fn params_are_typed_constants_and_a_map() {
    let sb = Sandbox::new();
    let r = sb.run_script(
        "p",
        PARAMS,
        &["-p", "n=7", "-p", "wait=1h", "-p", "on=true"],
    );
    r.expect_code(6);
    assert_eq!(r.output(), vec!["7 x 3600 true 0.5", "8"]);
    assert_eq!(r.report["params"]["wait"], 3600);
}

#[test]
fn parameter_errors_exit_2_naming_the_parameter() {
    let sb = Sandbox::new();
    let r = sb.run_script("p", PARAMS, &["-p", "n=many"]);
    r.expect_code(2);
    let err = r.report["error"].as_str().unwrap();
    assert!(err.contains("parameter n") && err.contains("int"), "{err}");
    assert_eq!(r.report["status"], "error");

    let r = sb.run_script("p", PARAMS, &["-p", "bogus=1"]);
    r.expect_code(2);
    assert!(
        r.report["error"]
            .as_str()
            .unwrap()
            .contains("unknown parameter \"bogus\"")
    );

    let r = sb.run_script("p", PARAMS, &["-p", "wait=soon"]);
    r.expect_code(2);
    assert!(r.report["error"].as_str().unwrap().contains("duration"));

    let r = sb.run_script(
        "q",
        "//! needs tag\n//! @param tag: string   required\nprint(tag);\n",
        &[],
    );
    r.expect_code(2);
    assert!(
        r.report["error"]
            .as_str()
            .unwrap()
            .contains("missing parameter tag")
    );

    let out = sb.run(&["run", "no-such-runbook"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown runbook"));

    let out = sb.run(&["run", "p.rhai", "-p", "novalue"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Each limit ends the run with exit 3 (or 5 for arithmetic), a clear message, and no panic.
#[test]
fn limits_stop_runaway_scripts_without_panics() {
    let sb = Sandbox::new();
    let cases: &[(&str, &str, &[&str], i32, &str)] = &[
        (
            "ops",
            "let x = 0; loop { x += 1; }",
            &[],
            3,
            "too many operations",
        ),
        (
            "recursion",
            "fn f(n) { f(n + 1) } f(0);",
            &[],
            3,
            "call nesting too deep",
        ),
        (
            "string",
            "let s = \"x\"; loop { s += s; }",
            &[],
            3,
            "exceeds the size limit",
        ),
        (
            "array",
            "let a = [1]; loop { a += a; }",
            &[],
            3,
            "exceeds the size limit",
        ),
        (
            "overflow",
            "let x = 9223372036854775807; x + 1;",
            &[],
            5,
            "overflow",
        ),
    ];
    for (name, src, extra, code, needle) in cases {
        let r = sb.run_script(name, src, extra);
        r.expect_code(*code).no_panic();
        let err = r.report["error"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        assert!(err.contains(needle), "{name}: {err}");
        assert!(
            err.starts_with(&format!("{name}.rhai:1:")),
            "{name}: no position in {err}"
        );
    }
}

#[test]
fn wall_clock_timeout_stops_a_loop() {
    let sb = Sandbox::new();
    sb.config("[policy]\nmax_operations = 100_000_000_000\n");
    let t0 = std::time::Instant::now();
    let r = sb.run_script("timeout", "loop { }", &["--timeout", "1"]);
    r.expect_code(3).no_panic();
    assert!(
        r.report["error"].as_str().unwrap().contains("time limit"),
        "{}",
        r.report["error"]
    );
    assert!(t0.elapsed() < std::time::Duration::from_secs(30));
    // sleep_s is bounded by the same deadline
    let r = sb.run_script("sleepy", "sleep_s(600);", &["--timeout", "1"]);
    r.expect_code(3).no_panic();
}

#[test]
fn deep_nesting_is_a_parse_error_not_a_crash() {
    let sb = Sandbox::new();
    for (open, close) in [("(", ")"), ("[", "]"), ("{", "}")] {
        let src = format!(
            "let x = {}1{};",
            open.repeat(100_000),
            close.repeat(100_000)
        );
        let r = sb.run_script("deep", &src, &[]);
        r.no_panic();
        assert!(
            r.code == 3 || r.code == 5,
            "code {} for {open}: {}",
            r.code,
            r.stderr
        );
        assert!(
            r.report["error"].as_str().unwrap().contains("deep.rhai:1:"),
            "{}",
            r.report["error"]
        );
    }
}

#[test]
fn eval_is_disabled_and_variables_are_strict() {
    let sb = Sandbox::new();
    let r = sb.run_script("ev", "eval(\"1\");", &[]);
    r.expect_code(5);
    let r = sb.run_script("strict", "let a = 1;\nprint(b);", &[]);
    r.expect_code(5);
    assert!(
        r.report["error"]
            .as_str()
            .unwrap()
            .starts_with("strict.rhai:2:"),
        "{}",
        r.report["error"]
    );
}

#[test]
fn denied_write_outside_roots_and_through_symlink_is_audited() {
    let sb = Sandbox::new();
    let root = sb.path().join("allowed");
    std::fs::create_dir_all(&root).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("escape")).unwrap();
    sb.config(&format!("[policy]\nwrite = [\"{}\"]\n", root.display()));

    let r = sb.run_script("ok", "fs::write(\"allowed/a.txt\", \"hello\");", &[]);
    r.expect_code(6);
    assert_eq!(
        std::fs::read_to_string(root.join("a.txt")).unwrap(),
        "hello"
    );

    let r = sb.run_script(
        "out",
        "let x = 1;\nfs::write(\"/tmp/runbook-nope.txt\", \"x\");",
        &[],
    );
    r.expect_code(4);
    assert_eq!(r.report["status"], "denied");
    let err = r.report["error"].as_str().unwrap();
    assert!(
        err.starts_with("out.rhai:2:") && err.contains("policy.write"),
        "{err}"
    );

    let r = sb.run_script("link", "fs::write(\"allowed/escape/x.txt\", \"x\");", &[]);
    r.expect_code(4);
    assert!(
        !outside.path().join("x.txt").exists(),
        "write escaped through the symlink"
    );

    let audit = sb.audit();
    let denied: Vec<&Value> = audit.iter().filter(|a| a["outcome"] == "denied").collect();
    assert_eq!(denied.len(), 2, "{audit:#?}");
    assert!(
        denied
            .iter()
            .any(|a| a["target"] == "allowed/escape/x.txt" && a["runbook"] == "link")
    );
    let done: Vec<&Value> = audit.iter().filter(|a| a["outcome"] == "done").collect();
    assert_eq!(done.len(), 1);
    for key in [
        "time",
        "run_id",
        "runbook",
        "user",
        "action",
        "target",
        "args",
        "outcome",
        "dry_run",
        "duration_ms",
    ] {
        assert!(
            done[0].get(key).is_some(),
            "audit record lacks {key}: {:#}",
            done[0]
        );
    }
}

#[test]
fn a_script_may_catch_a_denial() {
    let sb = Sandbox::new();
    let r = sb.run_script(
        "catch",
        "try { fs::write(\"/etc/runbook-x\", \"x\"); } catch (e) { print(e.kind); }\ncheck(\"went on\", true);",
        &[],
    );
    r.expect_code(0);
    assert_eq!(r.output(), vec!["denied"]);
}

#[test]
fn dry_run_writes_nothing_and_reports_planned() {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrite = [\".\"]\n");
    let r = sb.run_script(
        "dry",
        "fs::write(\"a.txt\", \"x\");\nfs::mkdir(\"d\");\nprint(fs::exists(\"a.txt\"));",
        &["--dry-run"],
    );
    r.expect_code(6);
    assert!(!sb.path().join("a.txt").exists());
    assert!(!sb.path().join("d").exists());
    assert_eq!(r.output(), vec!["false"]);
    let planned = r.effects("fs.write");
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0]["outcome"], "planned");
    let audit = sb.audit();
    assert_eq!(audit.len(), 2);
    assert!(
        audit
            .iter()
            .all(|a| a["outcome"] == "planned" && a["dry_run"] == true)
    );
}

#[test]
fn json_report_has_the_contract_keys_and_exit_codes() {
    let sb = Sandbox::new();
    let r = sb.run_script(
        "rep",
        "print(\"hi\");\ncheck(\"one\", true, \"fine\");\ncheck(\"two\", false, \"bad\", #{value: 3, threshold: 2});",
        &[],
    );
    r.expect_code(1);
    for key in [
        "runbook",
        "params",
        "status",
        "exit_code",
        "checks",
        "effects",
        "output",
        "started",
        "duration_ms",
    ] {
        assert!(r.report.get(key).is_some(), "missing {key}");
    }
    assert_eq!(r.report["status"], "failed");
    assert_eq!(r.report["exit_code"], 1);
    assert_eq!(r.check("two")["value"], 3);
    assert_eq!(r.check("two")["threshold"], 2);
    assert_eq!(r.check("one")["ok"], true);
    assert!(r.report["started"].as_str().unwrap().ends_with('Z'));

    let r = sb.run_script("f", "fail(\"disk is full\");\nprint(\"not reached\");", &[]);
    r.expect_code(1);
    assert_eq!(r.report["status"], "failed");
    assert_eq!(r.report["error"], "disk is full");
    assert!(r.output().is_empty());

    let r = sb.run_script("t", "throw \"boom\";", &[]);
    r.expect_code(5);
    assert_eq!(r.report["status"], "error");
}

#[test]
fn human_output_goes_to_stdout_and_status_to_stderr() {
    let sb = Sandbox::new();
    sb.file("h.rhai", "print(\"line one\");\ncheck(\"c\", true, \"d\");");
    let out = sb.run(&["run", "h.rhai"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.starts_with("line one\n"), "{stdout}");
    assert!(stdout.contains("✓ c"), "{stdout}");
    assert!(!stdout.contains("\x1b["), "colour with NO_COLOR");
    assert!(stderr.contains("h: ok"), "{stderr}");
}

#[test]
fn check_reports_syntax_errors_and_unknown_functions_with_positions() {
    let sb = Sandbox::new();
    sb.file(
        "runbooks/good.rhai",
        "//! Good.\nlet m = metrics::memory;\nprint(\"x\");\n",
    );
    sb.file(
        "runbooks/syntax.rhai",
        "//! Bad syntax.\nlet x = 1;\nlet y = (2 + ;\n",
    );
    sb.file(
        "runbooks/unknown.rhai",
        "//! Unknown fn.\nfs::wrte(\"a\", \"b\");\nfrobnicate(1);\n",
    );
    sb.file(
        "runbooks/nomod.rhai",
        "//! Unknown module.\nnosuchmod::f();\n",
    );
    let out = sb.run(&[
        "check",
        "runbooks/syntax.rhai",
        "runbooks/unknown.rhai",
        "runbooks/nomod.rhai",
    ]);
    assert_eq!(out.status.code(), Some(5));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("runbooks/syntax.rhai:3:"), "{stdout}");
    assert!(
        stdout.contains("runbooks/unknown.rhai:2:5: unknown function fs::wrte"),
        "{stdout}"
    );
    assert!(
        stdout.contains("runbooks/unknown.rhai:3:1: unknown function frobnicate"),
        "{stdout}"
    );
    assert!(
        stdout.contains("runbooks/nomod.rhai:2:1: Undefined module: nosuchmod"),
        "{stdout}"
    );
    let out = sb.run(&["check", "runbooks/good.rhai"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn builtin_stdlib_and_runbooks_work_from_an_unrelated_directory() {
    let sb = Sandbox::new();
    let elsewhere = sb.path().join("some/other/dir");
    std::fs::create_dir_all(&elsewhere).unwrap();
    // A script outside any repository importing the built-in stdlib.
    let script = elsewhere.join("t.rhai");
    std::fs::write(&script, "import \"thresholds\" as t;\nimport \"checks\" as c;\nprint(t::DISK_PCT);\nc::below(\"x\", 1.0, t::DISK_PCT, \"%\");\n").unwrap();
    let out = sb
        .cmd()
        .current_dir(&elsewhere)
        .args(["run", "t.rhai", "--json"])
        .output()
        .unwrap();
    let r = common::Run::from_output(out);
    r.expect_code(0);
    assert_eq!(r.output(), vec!["85.0"]);
    assert_eq!(r.check("x")["threshold"], 85.0);

    // `list` works from there and shows the built-in runbooks.
    let out = sb
        .cmd()
        .current_dir(&elsewhere)
        .args(["list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(list.as_array().is_some());
}

#[test]
fn import_resolves_next_to_the_script_first() {
    let sb = Sandbox::new();
    sb.file("lib/thresholds.rhai", "export const DISK_PCT = 1.0;\n");
    sb.file(
        "lib/main.rhai",
        "import \"thresholds\" as t;\nprint(t::DISK_PCT);\n",
    );
    let r = common::Run::from_output(sb.run(&["run", "lib/main.rhai", "--json"]));
    r.expect_code(6);
    assert_eq!(r.output(), vec!["1.0"]);
    sb.file("lib/broken.rhai", "import \"missing_mod\" as m;\nm::f();\n");
    let r = common::Run::from_output(sb.run(&["run", "lib/broken.rhai", "--json"]));
    r.expect_code(5);
    assert!(r.report["error"].as_str().unwrap().contains("missing_mod"));
}

/// What a bare `rhai::Engine` (as `rhai-run` builds it) prints for `src`.
fn bare_rhai_output(src: &str, source_name: &str) -> Vec<String> {
    let lines = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let mut engine = rhai::Engine::new();
    // rhai-run is a release build: its call-depth limit is 64 (debug builds default to 8).
    engine.set_max_call_levels(64);
    let l1 = lines.clone();
    engine.on_print(move |s| l1.borrow_mut().push(s.to_string()));
    let l2 = lines.clone();
    engine.on_debug(move |s, src, pos| {
        l2.borrow_mut().push(match src {
            Some(src) => format!("{src} @ {pos:?} | {s}"),
            None => format!("{pos:?} | {s}"),
        })
    });
    let mut ast = engine.compile(src).unwrap();
    ast.set_source(source_name.to_string());
    engine
        .run_ast(&ast)
        .unwrap_or_else(|e| panic!("{src}: {e}"));
    let out = lines.borrow().clone();
    out
}

/// Plain Rhai (no host functions) prints exactly what a bare `rhai::Engine` prints.
#[test]
fn it_stays_rhai() {
    let scripts = [
        "fn fib(n) { if n < 2 { n } else { fib(n-1) + fib(n-2) } }\nprint(fib(20));",
        "let a = [3, 1, 2]; a.sort(); print(a); print(a.map(|x| x * 2));",
        "let m = #{b: 2, a: 1}; print(m); print(m.keys());",
        "let s = \"Hello\"; s += \", 世界\"; print(s.len()); print(s.to_upper()); print(`x = ${40 + 2}`);",
        "let x = 5; switch x { 1 => print(\"one\"), 5 => print(\"five\"), _ => print(\"other\") }",
        "let f = |x| x + 1; print(f.call(41)); print(type_of(f));",
        "for i in range(0, 3) { print(i); } let n = 0; while n < 2 { n += 1; } print(n);",
        "print(1.5 * 2); print(10 / 3); print(10 % 3); print(2 ** 10); print(0x10);",
        "try { throw 42; } catch (e) { print(e); }",
        "let t = [1, \"two\", 3.0, true, ()]; for v in t { print(type_of(v)); }",
        "debug(\"dbg\"); print(\"after\");",
    ];
    let sb = Sandbox::new();
    for (i, src) in scripts.iter().enumerate() {
        let name = format!("s{i}");
        let r = sb.run_script(&name, src, &[]);
        r.expect_code(6);
        let (src_owned, source_name) = (src.to_string(), format!("{name}.rhai"));
        let expected = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || bare_rhai_output(&src_owned, &source_name))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(r.output(), expected, "script {i}: {src}");
    }
}

#[test]
fn show_lists_params_and_effects_and_new_scaffolds() {
    let sb = Sandbox::new();
    let out = sb.run(&["new", "my-check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(sb.path().join("runbooks/my-check.rhai").exists());
    let out = sb.run(&["new", "my-check"]);
    assert_eq!(out.status.code(), Some(2), "refuses to overwrite");
    let out = sb.run(&["check", "my-check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    sb.file("runbooks/eff.rhai", "//! Effects.\n//! @param p: string = \"x\"   the path\nfs::write(p, \"1\");\nlet s = \"cmd::run(\";\n");
    let out = sb.run(&["show", "eff"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("fs::write"), "{text}");
    assert!(!text.contains("cmd::run"), "{text}");
    assert!(text.contains("the path"), "{text}");
}

#[test]
fn docs_cover_every_function_with_text() {
    let sb = Sandbox::new();
    let out = sb.run(&["docs", "--json"]);
    assert!(out.status.success());
    let docs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let docs = docs.as_array().unwrap();
    assert!(docs.len() > 15);
    for d in docs {
        assert!(
            !d["doc"].as_str().unwrap().is_empty(),
            "undocumented: {}",
            d["signature"]
        );
    }
    assert!(
        docs.iter()
            .any(|d| d["signature"] == "fs::write(path: string, text: string) -> ()"),
        "{docs:#?}"
    );
}

#[test]
fn audit_command_shows_recent_records() {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrite = [\".\"]\n");
    sb.run_script(
        "w",
        "fs::write(\"a.txt\", \"x\"); fs::remove(\"a.txt\");",
        &[],
    )
    .expect_code(6);
    let out = sb.run(&["audit", "--last", "1", "--json"]);
    let recs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(recs.as_array().unwrap().len(), 1);
    assert_eq!(recs[0]["action"], "fs.remove");
}

#[test]
fn env_only_reads_listed_variables() {
    let sb = Sandbox::new();
    sb.config("[policy]\nenv = [\"RB_TEST_OK\"]\n");
    let mut c = sb.cmd();
    sb.file(
        "e.rhai",
        "print(env(\"RB_TEST_OK\"));\nprint(env(\"RB_TEST_SECRET\"));",
    );
    let out = c
        .env("RB_TEST_OK", "yes")
        .env("RB_TEST_SECRET", "hunter2")
        .args(["run", "e.rhai", "--json"])
        .output()
        .unwrap();
    let r = common::Run::from_output(out);
    r.expect_code(4);
    assert_eq!(r.output(), vec!["yes"]);
    let audit = std::fs::read_to_string(sb.state().join("audit.jsonl")).unwrap();
    assert!(!audit.contains("hunter2"));
}

#[test]
fn bad_config_is_a_usage_error_naming_the_file() {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrtie = []\n");
    sb.file("x.rhai", "print(1);");
    let out = sb.run(&["run", "x.rhai"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("runbook.toml") && err.contains("wrtie"),
        "{err}"
    );
}

#[test]
fn ctrl_c_cancels_cleanly_with_exit_3() {
    let sb = Sandbox::new();
    sb.config("[policy]\nmax_operations = 100_000_000_000\n");
    sb.file(
        "spin.rhai",
        "print(\"started\");\nlet n = 0;\nloop { n += 1; }\n",
    );
    let child = sb
        .cmd()
        .args(["run", "spin.rhai", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    // SAFETY: sending SIGINT to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let r = common::Run::from_output(child.wait_with_output().unwrap());
    r.expect_code(3).no_panic();
    assert_eq!(r.report["status"], "interrupted");
    assert!(r.report["error"].as_str().unwrap().contains("interrupted"));
    assert_eq!(r.output(), vec!["started"]);
}

#[test]
fn fs_read_functions_work_inside_the_roots() {
    let sb = Sandbox::new();
    sb.file("data/a.txt", "abc");
    sb.file("data/sub/b.pem", "x");
    sb.file("data/sub/c.txt", "y");
    let r = sb.run_script(
        "rd",
        r#"print(fs::read("data/a.txt"));
print(fs::sha256("data/a.txt"));
print(fs::stat("data/a.txt").size);
print(fs::find("data", "*.txt").len());
print(fs::find("data", "sub/*.pem").len());
print(fs::list("data").len());
print(json::to_string(json::parse("{\"k\":[1,2.5,\"x\",null]}")));
"#,
        &[],
    );
    r.expect_code(6);
    assert_eq!(
        r.output(),
        vec![
            "abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "3",
            "2",
            "1",
            "2",
            "{\"k\":[1,2.5,\"x\",null]}"
        ]
    );
    let r = sb.run_script("rd2", "fs::read(\"/etc/hostname\");", &[]);
    r.expect_code(4);
}

#[test]
fn an_unwritable_audit_log_stops_the_effect() {
    let sb = Sandbox::new();
    // The audit path is a folder: it cannot be opened for appending.
    std::fs::create_dir_all(sb.path().join("auditdir")).unwrap();
    sb.config("[policy]\nwrite = [\".\"]\n[audit]\npath = \"auditdir\"\n");
    let r = sb.run_script("w", "fs::write(\"a.txt\", \"x\");", &[]);
    assert_ne!(r.code, 0);
    assert!(
        !sb.path().join("a.txt").exists(),
        "effect happened without an audit record"
    );
    assert!(
        r.report["error"].as_str().unwrap().contains("audit log"),
        "{}",
        r.report["error"]
    );
}

#[test]
fn ctrl_c_during_an_effect_audits_it_as_interrupted() {
    let sb = Sandbox::new();
    sb.config("[policy]\ncommands = [\"sleep\"]\n");
    sb.file("slow.rhai", "print(\"go\");\ncmd::run(\"sleep\", [\"30\"], #{ timeout_s: 60 });\nprint(\"not reached\");\n");
    let t0 = std::time::Instant::now();
    let child = sb
        .cmd()
        .args(["run", "slow.rhai", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    // SAFETY: sending SIGINT to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let r = common::Run::from_output(child.wait_with_output().unwrap());
    r.expect_code(3).no_panic();
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(20),
        "the sleep was not cut short"
    );
    assert_eq!(r.output(), vec!["go"]);
    let audit = sb.audit();
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["action"], "cmd.run");
    assert_eq!(audit[0]["outcome"], "interrupted");
}

#[test]
fn total_memory_is_bounded_by_the_policy() {
    let sb = Sandbox::new();
    sb.config("[policy]\nmax_memory_mb = 200\n");
    // Each 16 MiB string is under the 64 MiB cap; 17 of them pass the 200 MiB budget.
    let r = sb.run_script(
        "mem",
        "let s = \"x\"; for j in 0..24 { s += s; }\nlet a = s + \"a\"; let b = s + \"b\"; let c = s + \"c\"; let d = s + \"d\";\nlet e = s + \"e\"; let f = s + \"f\"; let g = s + \"g\"; let h = s + \"h\";\nlet i = s + \"i\"; let j = s + \"j\"; let k = s + \"k\"; let l = s + \"l\";\nlet m = s + \"m\"; let n = s + \"n\"; let o = s + \"o\"; let p = s + \"p\";\nprint(\"not reached\");",
        &[],
    );
    r.expect_code(3).no_panic();
    let err = r.report["error"].as_str().unwrap();
    assert!(
        err.contains("memory limit") && err.starts_with("mem.rhai:"),
        "{err}"
    );
}

/// A check never passes on data it did not have: `()` and `unknown()` are their own state,
/// a run with unknown (and no failed) checks is inconclusive (exit 6), a failed check wins (exit 1),
/// a runbook that measured nothing is inconclusive unless it is marked `@action`.
#[test]
fn unknown_checks_make_a_run_inconclusive() {
    let sb = Sandbox::new();
    let r = sb.run_script(
        "u",
        r#"import "checks" as checks;
check("measured", true);
check("not measured", ());
unknown("timeouts", "the stats endpoint has no timeout counter");
let ok = checks::below("latency", (), 200, "ms");
print(ok);
"#,
        &[],
    );
    r.expect_code(6);
    assert_eq!(r.report["status"], "inconclusive");
    assert_eq!(r.check("measured")["status"], "ok");
    assert_eq!(r.check("measured")["ok"], true);
    for name in ["not measured", "timeouts", "latency"] {
        assert_eq!(r.check(name)["status"], "unknown", "{name}");
        assert_eq!(r.check(name)["ok"], false, "{name}");
    }
    assert!(
        r.check("timeouts")["detail"]
            .as_str()
            .unwrap()
            .contains("no timeout counter")
    );
    assert_eq!(r.output(), ["false"]);

    let r = sb.run_script("f", "check(\"a\", ()); check(\"b\", false);", &[]);
    r.expect_code(1);
    assert_eq!(r.report["status"], "failed");

    let r = sb.run_script("n", "print(1);", &[]);
    r.expect_code(6);
    let r = sb.run_script("a", "//! Acts only.\n//! @action\nprint(1);", &[]);
    r.expect_code(0);
    assert_eq!(r.report["status"], "ok");

    let r = sb.run_script("bad", "check(\"x\", 3);", &[]);
    r.expect_code(2); // a bad argument is a usage error, positioned at the call

    assert!(r.report["error"].as_str().unwrap().contains("bad.rhai:1:1"));

    // Human output marks unknown distinctly and names the count.
    let out = sb.run(&["run", "u.rhai"]);
    assert_eq!(out.status.code(), Some(6));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("? not measured"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("inconclusive") && stderr.contains("3 unknown"),
        "{stderr}"
    );
}
