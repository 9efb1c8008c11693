//! The engine core end to end through the real binary: parameters, limits, policy denials,
//! dry run, the JSON report, `check`, discovery and stdlib from any directory.

mod common;

use std::time::Duration;

use common::{CheckExt, EffectExt, Run, Sandbox};
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
    r.status("error");

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
    // A small budget keeps the runaway cases quick; the per-value caps are the built-in ones.
    sb.config("[policy]\nmax_memory_mb = 96\n");
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
            "array",
            "let a = [1]; loop { a += a; }",
            &[],
            3,
            "memory limit",
        ),
        (
            "push",
            "let a = []; loop { a.push(\"line\"); }",
            &[],
            3,
            "memory limit",
        ),
        (
            "mapgrow",
            "let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }",
            &[],
            3,
            "memory limit",
        ),
        // One call whose size is set by its argument is checked before it allocates.
        (
            "padarray",
            "let a = []; a.pad(1_000_000_000_000, 0);",
            &[],
            3,
            "exceeds the size limit",
        ),
        (
            "padstring",
            "let s = \"\"; s.pad(1_000_000_000_000, \"ab\");",
            &[],
            3,
            "exceeds the size limit",
        ),
        (
            "padbudget",
            "let a = []; a.pad(4_000_000, 0); let b = []; b.pad(4_000_000, 0);",
            &[],
            3,
            "memory limit",
        ),
        (
            "blob",
            "let b = blob(1_000_000_000_000);",
            &[],
            3,
            "exceeds the size limit",
        ),
        (
            "chars",
            "let s = \"x\"; for j in 0..24 { s += s; } let c = s.to_chars();",
            &[],
            3,
            "memory limit",
        ),
        (
            "split",
            "let s = \"x,\"; for j in 0..22 { s += s; } let c = s.split(\",\");",
            &[],
            3,
            "memory limit",
        ),
        (
            "overflow",
            "let x = 9223372036854775807; x + 1;",
            &[],
            5,
            "overflow",
        ),
    ];
    // Doubling a string: the step from S to 2S holds 3S at once (the shared old value, the
    // copy, its growth), so past half the budget one operation asks for more than the
    // budget + 48 MiB: the allocator's backstop ends the process at once (exit 3, one line on
    // stderr, no report) instead of letting RSS pass the budget + 64 MiB.
    let r = sb.run_script("string", "let s = \"x\"; loop { s += s; }", &[]);
    r.expect_code(3).no_panic();
    assert!(
        r.stderr
            .contains("runbook: memory limit: one operation asked for"),
        "{}",
        r.stderr
    );
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
    r.status("denied");
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
    r.status("failed");
    assert_eq!(r.report["exit_code"], 1);
    assert_eq!(r.check("two")["value"], 3);
    assert_eq!(r.check("two")["threshold"], 2);
    r.check("one").is_ok();
    assert!(r.report["started"].as_str().unwrap().ends_with('Z'));

    let r = sb.run_script("f", "fail(\"disk is full\");\nprint(\"not reached\");", &[]);
    r.expect_code(1);
    r.status("failed");
    assert_eq!(r.report["error"], "disk is full");
    assert!(r.output().is_empty());

    let r = sb.run_script("t", "throw \"boom\";", &[]);
    r.expect_code(5);
    r.status("error");
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

/// Rhai reports a missing `;` or `,` where the next token starts (a new user saw `42:1` for a
/// `;` missing at the end of line 41); the location is the end of the line that lacks it, past
/// blank and comment lines, in `run`, `check` and the REPL's report alike.
#[test]
fn a_missing_separator_is_reported_at_the_end_of_the_line_that_lacks_it() {
    let sb = Sandbox::new();
    sb.file(
        "runbooks/semi.rhai",
        "//! Missing semicolon.\nlet a = 1\n\n// a comment\nlet b = 2;\n",
    );
    sb.file(
        "runbooks/comma.rhai",
        "//! Missing comma.\nlet s = max(1,\n    2\n    3);\n",
    );
    let r = sb.runbook("runbooks/semi.rhai").json();
    r.exit(5);
    r.error_contains("runbooks/semi.rhai:2:10: Expecting ';' to terminate this statement");
    let r = sb.runbook("runbooks/comma.rhai").json();
    r.exit(5);
    r.error_contains("runbooks/comma.rhai:3:6: Expecting ','");
    let out = sb.run(&["check", "runbooks/semi.rhai"]);
    assert_eq!(out.status.code(), Some(5));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("runbooks/semi.rhai:2:10: Expecting ';'"),
        "{stdout}"
    );
    // An error inside a line keeps Rhai's own position.
    sb.file("runbooks/mid.rhai", "//! Mid-line.\nlet y = (2 + ;\n");
    let r = sb.runbook("runbooks/mid.rhai").json();
    r.exit(5);
    r.error_contains("runbooks/mid.rhai:2:14:");
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
    sb.invoke()
        .command(["check", "runbooks/good.rhai"])
        .output()
        .exit(0);
}

#[test]
fn check_reports_option_keys_a_function_does_not_take_at_their_position() {
    let sb = Sandbox::new();
    sb.file(
        "runbooks/typo.rhai",
        "//! Option typos.\n//! @action\n\
         let r = cmd::run(\"true\", [], #{ cwd: \"/\", timeot_s: 5 });\n\
         metrics::processes(#{ sort: \"cpu\", lmit: 3 });\n\
         if true { service::restart(\"x\", #{ wiat: true }); }\n",
    );
    sb.file(
        "runbooks/fine.rhai",
        "//! Right keys; a map in a variable is checked when the call runs.\n//! @action\n\
         let o = #{ anything: 1 };\n\
         let r = cmd::run(\"true\", [], #{ cwd: \"/\", timeout_s: 5, env: #{ A: \"1\" } });\n\
         let p = metrics::processes(#{ sort: \"cpu\", limit: 3 });\n",
    );
    let out = sb.run(&["check", "runbooks/typo.rhai", "runbooks/fine.rhai"]);
    assert_eq!(out.status.code(), Some(5));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "runbooks/typo.rhai:3:43: cmd::run: unknown option \"timeot_s\" (allowed: cwd, timeout_s, env)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "runbooks/typo.rhai:4:36: metrics::processes: unknown option \"lmit\" (allowed: sort, limit)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "runbooks/typo.rhai:5:36: service::restart: unknown option \"wiat\" (allowed: wait)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("ok    runbooks/fine.rhai"), "{stdout}");
    // The same typo is refused when the call runs, with the same words.
    sb.runbook("runbooks/typo.rhai")
        .json()
        .error_contains("cmd::run: unknown option \"timeot_s\" (allowed: cwd, timeout_s, env)");
}

#[test]
fn builtin_stdlib_and_runbooks_work_from_an_unrelated_directory() {
    let sb = Sandbox::new();
    let elsewhere = sb.path().join("some/other/dir");
    std::fs::create_dir_all(&elsewhere).unwrap();
    // A script outside any repository importing the built-in stdlib.
    let script = elsewhere.join("t.rhai");
    std::fs::write(&script, "import \"thresholds\" as t;\nimport \"checks\" as c;\nprint(t::DISK_PCT);\nc::below(\"x\", 1.0, t::DISK_PCT, \"%\");\n").unwrap();
    let r = sb.runbook("t.rhai").dir(&elsewhere).json();
    r.exit(0);
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
    let r = sb.run_json("lib/main.rhai", &[]);
    r.expect_code(6);
    assert_eq!(r.output(), vec!["1.0"]);
    sb.file("lib/broken.rhai", "import \"missing_mod\" as m;\nm::f();\n");
    let r = sb.run_json("lib/broken.rhai", &[]);
    r.expect_code(5);
    assert!(r.report["error"].as_str().unwrap().contains("missing_mod"));
}

/// What a bare `rhai::Engine` (as `rhai-run` builds it) prints for `src`.
fn bare_rhai_output(src: &str, source_name: &str) -> Vec<String> {
    bare_rhai_output_in(src, source_name, None)
}

/// [`bare_rhai_output`] with `import` resolving files in `modules`.
fn bare_rhai_output_in(
    src: &str,
    source_name: &str,
    modules: Option<std::path::PathBuf>,
) -> Vec<String> {
    let lines = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let mut engine = rhai::Engine::new();
    if let Some(dir) = modules {
        engine.set_module_resolver(rhai::module_resolvers::FileModuleResolver::new_with_path(
            dir,
        ));
    }
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

/// Scripts that build data, use closures, nested functions, modules, `switch` and loops print
/// through `runbook run` exactly what a bare `rhai::Engine` prints (the speed side of this is
/// `benches/growth.sh`). The growth sizes are large enough that a quadratic size check would
/// show (they took minutes before the Rhai per-value caps were dropped).
#[test]
fn same_output_as_bare_rhai_on_data_building_scripts() {
    let sb = Sandbox::new();
    sb.config("[policy]\nmax_operations = 100_000_000_000\n");
    sb.file(
        "shapes.rhai",
        "export const SIDES = 4;\nfn area(w, h) { w * h }\nfn label(n) { `shape-${n}` }\nlet hidden = 1;\nexport let registry = #{square: 4, triangle: 3};\n",
    );
    let scripts = [
        // Array building, pop and remove.
        "let a = []; for i in 0..60000 { a.push(i * 2); }\nprint(a.len()); print(a[59999]);\nlet t = 0; for i in 0..30000 { t += a.pop(); }\nprint(t); a.remove(0); a.insert(1, \"x\"); print(a.len()); print(a.extract(0, 4));\nlet b = a.extract(10, 5); print(b); a.append(b); a += [1, 2]; print(a.len());",
        // String building.
        "let s = \"\"; for i in 0..40000 { s += \"ab\"; s.append(i % 10); }\nprint(s.len()); print(s.sub_string(0, 12));\nlet p = \"\"; p.pad(7, '*'); p.pad(10, \"-=\"); print(p);\nlet parts = \"a,b,,c\".split(\",\"); print(parts); print(\"x y  z\".split()); print(\"q:w\".split(':')); print(\"héllo\".to_chars());\nlet bl = blob(3, 0x41); bl.pad(5, 0x42); print(bl); print(blob(2));",
        // Map building and removal.
        "let m = #{}; for i in 0..30000 { m[`k${i}`] = i; }\nprint(m.len()); print(m.k29999);\nfor i in 0..29990 { m.remove(`k${i}`); }\nlet keys = m.keys(); keys.sort(); print(keys); m.nested = #{deep: [1, #{x: 2}]}; print(m.nested.deep[1].x);",
        // Closures and captured state.
        "let count = 0; let inc = |n| { count += n; count }; for i in 0..5 { inc.call(i); } print(count);\nfn make_adder(k) { |x| x + k } let add3 = make_adder(3); print(add3.call(4));\nlet fs = []; for i in 0..3 { fs.push(|x| x * i); } print(fs.map(|f| f.call(10)));\nprint([5, 3, 9].reduce(|acc, v| acc.max(v), 0)); print([1, 2, 3, 4].filter(|v| v % 2 == 0));",
        // Nested and recursive functions, methods with `this`.
        "fn outer(n) { fn_inner(n) + 1 } fn fn_inner(n) { if n == 0 { 0 } else { fn_inner(n - 1) + 2 } }\nprint(outer(30));\nfn grow(a, n) { if n > 0 { a.push(n); grow(a, n - 1); } a }\nprint(grow([], 5));\nfn bump() { this += 1; } let v = 41; v.bump(); print(v);\nfn ack(m, n) { if m == 0 { n + 1 } else if n == 0 { ack(m - 1, 1) } else { ack(m - 1, ack(m, n - 1)) } } print(ack(2, 3));",
        // Modules.
        "import \"shapes\" as sh;\nprint(sh::SIDES); print(sh::area(3, 4)); print(sh::label(7)); print(sh::registry.square);",
        // switch and loops.
        "let out = []; for i in 0..12 { out.push(switch i % 5 { 0 => \"zero\", 1 | 2 => \"small\", 3 if i > 5 => \"late three\", 3 => \"three\", _ => `other ${i}` }); }\nprint(out);\nlet n = 0; loop { n += 1; if n > 7 { break; } if n % 2 == 0 { continue; } } print(n);\nlet w = 0; do { w += 3; } while w < 10; print(w); let x = 0; for (v, i) in [10, 20, 30] { x += v * i; } print(x);\nswitch [1, 2] { [1, 2] => print(\"array arm\"), _ => print(\"no\") }",
    ];
    for (i, src) in scripts.iter().enumerate() {
        let name = format!("g{i}");
        let r = sb.run_script(&name, src, &[]);
        r.expect_code(6);
        let (src_owned, source_name, dir) = (src.to_string(), format!("{name}.rhai"), sb.path());
        let expected = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || bare_rhai_output_in(&src_owned, &source_name, Some(dir)))
            .unwrap()
            .join()
            .unwrap();
        assert!(!expected.is_empty(), "script {i} printed nothing");
        assert_eq!(r.output(), expected, "script {i}: {src}");
    }
}

/// An import cycle is a script error naming the chain (exit 5) for `run` and for `check`, not
/// a stack overflow; a diamond (two modules importing one) is not a cycle.
#[test]
fn import_cycles_are_errors_naming_the_chain() {
    let sb = Sandbox::new();
    sb.file("a.rhai", "//! @action\nimport \"b\" as b;\nprint(\"a\");\n");
    sb.file("b.rhai", "import \"a\" as a;\nexport const X = 1;\n");
    let r = sb.run_json("a.rhai", &[]);
    r.expect_code(5).no_panic();
    let err = r.report["error"].as_str().unwrap();
    assert!(
        err.contains("import cycle: a.rhai → b.rhai → a.rhai"),
        "{err}"
    );
    assert!(err.starts_with("a.rhai:2:"), "{err}");

    let out = sb.run(&["check", "a.rhai"]);
    assert_eq!(out.status.code(), Some(5));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("a.rhai → b.rhai → a.rhai"), "{text}");

    // A longer loop further down: c → d → e → d.
    sb.file("c.rhai", "//! @action\nimport \"d\" as d;\n");
    sb.file("d.rhai", "import \"e\" as e;\n");
    sb.file("e.rhai", "import \"d\" as d;\n");
    let r = sb.run_json("c.rhai", &[]);
    r.expect_code(5).no_panic();
    let err = r.report["error"].as_str().unwrap();
    assert!(err.contains("d.rhai → e.rhai → d.rhai"), "{err}");
    let out = sb.run(&["check", "c.rhai"]);
    assert_eq!(out.status.code(), Some(5));

    // A diamond is fine.
    sb.file(
        "top.rhai",
        "//! @action\nimport \"left\" as l;\nimport \"right\" as r;\nprint(l::V + r::V);\n",
    );
    sb.file(
        "left.rhai",
        "import \"base\" as base;\nexport const V = base::B + 1;\n",
    );
    sb.file(
        "right.rhai",
        "import \"base\" as base;\nexport const V = base::B + 2;\n",
    );
    sb.file("base.rhai", "export const B = 10;\n");
    let r = sb.run_json("top.rhai", &[]);
    r.expect_code(0);
    assert_eq!(r.output(), vec!["23"]);
    sb.invoke().command(["check", "top.rhai"]).output().exit(0);
}

/// A script must be a regular file of at most 1 MiB: `/dev/zero`, a FIFO, a directory and a big
/// file are usage errors (exit 2) naming the file, without blocking or growing.
#[test]
fn script_files_must_be_small_regular_files() {
    let sb = Sandbox::new();
    let fifo = sb.path().join("pipe.rhai");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::create_dir(sb.path().join("dir.rhai")).unwrap();
    sb.file(
        "big.rhai",
        &format!("//! @action\n{}", "let x = 1;\n".repeat(100_000)),
    );
    sb.file("ok.rhai", "//! @action\nprint(\"fine\");\n");
    let cases = [
        ("/dev/zero", "character device"),
        ("pipe.rhai", "FIFO"),
        ("dir.rhai", "directory"),
        ("big.rhai", "larger than 1024 KiB"),
    ];
    for (arg, needle) in cases {
        for cmd in ["run", "check", "show"] {
            let t0 = std::time::Instant::now();
            let out = sb.run(&[cmd, arg]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} {arg}: {err}");
            assert!(
                err.contains(arg) && err.contains(needle),
                "{cmd} {arg}: {err}"
            );
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(20),
                "{cmd} {arg} blocked"
            );
        }
    }
    let r = Run::from_output(sb.run(&["run", "ok.rhai"]));
    r.expect_code(0);
}

/// `runbook new` refuses a name that another runbook (built-in or in another folder) has, unless
/// `--force`; `runbook list` marks the runbook that hides another.
#[test]
fn new_refuses_to_shadow_and_list_marks_shadowing() {
    let sb = Sandbox::new();
    let out = sb.run(&["new", "health-check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("<built-in>/runbooks/health-check.rhai") && err.contains("--force"),
        "{err}"
    );
    assert!(!sb.path().join("runbooks/health-check.rhai").exists());

    let out = sb.run(&["new", "health-check", "--force"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sb.run(&["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("health-check "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("(shadows built-in)"), "{line}");
    let other = text.lines().find(|l| l.starts_with("backup ")).unwrap();
    assert!(!other.contains("shadows"), "{other}");
    let out = sb.run(&["list", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let hc = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "health-check")
        .unwrap();
    assert_eq!(hc["shadows"], serde_json::json!(["built-in"]));

    // A byte-identical copy hides nothing (the repository's runbooks/ next to the same built-in
    // ones, found by a fresh user): it is not marked.
    let same = include_str!("../runbooks/backup.rhai");
    sb.file("runbooks/backup.rhai", same);
    let out = sb.run(&["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("backup ")).unwrap();
    assert!(!line.contains("shadows"), "{line}");
    // `run NAME.rhai` where no such file is: the error says to drop the .rhai.
    let out = sb.run(&["run", "health-check.rhai"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("drop the .rhai: `health-check`"), "{err}");
    sb.file("runbooks/backup.rhai", &format!("{same}\n// edited\n"));
    let out = sb.run(&["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("backup ")).unwrap();
    assert!(line.contains("(shadows built-in)"), "{line}");
}

/// `run` says on stderr which config file it loaded, or warns that none was found; `-q` keeps
/// quiet, `-v` adds the runbook file and the stdlib folders.
#[test]
fn run_names_its_config_and_quiet_and_verbose_work() {
    let sb = Sandbox::new();
    sb.file("x.rhai", "//! @action\nprint(1);");
    let out = sb.run(&["run", "x.rhai"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: no config file found") && err.contains("built-in default policy"),
        "{err}"
    );
    sb.config("[policy]\n");
    let out = sb.run(&["run", "x.rhai"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("runbook: config runbook.toml"), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    let out = sb.run(&["-q", "run", "x.rhai"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("config"), "{err}");
    let out = sb.run(&["run", "x.rhai", "-v"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("runbook x.rhai") && err.contains("stdlib from"),
        "{err}"
    );
    let out = sb.run(&["run", "x.rhai", "-q", "-v"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `--color always` paints the checks table even into a pipe, `never` and the default (`auto`,
/// a pipe is not a terminal) do not; NO_COLOR turns `auto` off.
#[test]
fn color_follows_the_flag_and_each_streams_terminal_test() {
    let sb = Sandbox::new();
    sb.file("c.rhai", "check(\"disk\", true, \"fine\");");
    let esc = |b: &[u8]| String::from_utf8_lossy(b).contains('\x1b');
    let out = sb.run(&["run", "c.rhai", "--color", "always"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(esc(&out.stdout), "{}", String::from_utf8_lossy(&out.stdout));
    let out = sb.run(&["run", "c.rhai", "--color", "never"]);
    assert!(!esc(&out.stdout) && !esc(&out.stderr));
    let out = sb.run(&["run", "c.rhai"]);
    assert!(!esc(&out.stdout) && !esc(&out.stderr));
    let out = sb
        .cmd()
        .args(["run", "c.rhai"])
        .env("NO_COLOR", "1")
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    assert!(!esc(&out.stdout), "NO_COLOR wins over auto");
    let out = sb.run(&["run", "c.rhai", "--color", "sometimes"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `runbook docs --definitions DIR` writes Rhai definition files naming the host modules and
/// their functions.
#[test]
fn docs_writes_rhai_definition_files() {
    let sb = Sandbox::new();
    let out = sb.run(&["docs", "--definitions", "defs"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut all = String::new();
    for e in std::fs::read_dir(sb.path().join("defs")).unwrap() {
        let p = e.unwrap().path();
        assert!(p.to_string_lossy().ends_with(".d.rhai"), "{}", p.display());
        all += &std::fs::read_to_string(&p).unwrap();
    }
    assert!(
        all.contains("module fs") || all.contains("fs::"),
        "no fs module"
    );
    assert!(all.contains("fn write("), "no fs::write");
    assert!(all.contains("fn restart("), "no service::restart");
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

/// A sandbox whose audit log holds two effects: `fs.write`, then `fs.remove`.
fn two_audited_effects() -> Sandbox {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrite = [\".\"]\n");
    sb.run_script(
        "w",
        "fs::write(\"a.txt\", \"x\"); fs::remove(\"a.txt\");",
        &[],
    )
    .expect_code(6);
    sb
}

#[test]
fn audit_command_shows_recent_records() {
    let sb = two_audited_effects();
    let out = sb.run(&["audit", "--last", "1", "--json"]);
    let recs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(recs.as_array().unwrap().len(), 1);
    assert_eq!(recs[0]["action"], "fs.remove");
}

/// `--last 0` is refused (clap's range, naming the flag) instead of printing the whole log;
/// `--all` is how to see every record.
#[test]
fn audit_last_zero_is_a_usage_error_and_all_shows_every_record() {
    let sb = two_audited_effects();
    for args in [
        &["audit", "--last", "0"][..],
        &["audit", "--last", "0", "--json"][..],
    ] {
        let out = sb.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?} printed records");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--last") && err.contains("--all"), "{err}");
    }
    let out = sb.run(&["audit", "--all", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(recs.as_array().unwrap().len(), 2, "{recs:#}");
    let out = sb.run(&["audit", "--all", "--last", "1"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `runbook report` has no plain-text form: its usage says one of `--html FILE` / `--json` is
/// required (as the README's synopsis does), and without either it is a usage error.
#[test]
fn report_usage_requires_html_or_json() {
    let sb = Sandbox::new();
    let help = sb.run(&["report", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    let usage = help
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap_or_default();
    assert!(
        usage.contains("<--html <FILE>|--json>"),
        "usage shows the output as required: {usage}"
    );
    let out = sb.run(&["report", "--since", "1d"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--html") && err.contains("--json"), "{err}");
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

/// `0` is not a limit: `max_operations`, `max_memory_mb` and `timeout_s` of 0 (and `--timeout 0`)
/// are usage errors; a config that is a directory or a binary file is one too (exit 2, naming
/// the file), whether given with `--config` or found as `./runbook.toml`.
#[test]
fn zero_limits_and_non_text_configs_are_config_errors() {
    let sb = Sandbox::new();
    sb.file("x.rhai", "//! @action\nprint(1);");
    for key in ["max_operations", "max_memory_mb", "timeout_s"] {
        sb.config(&format!("[policy]\n{key} = 0\n"));
        let out = sb.run(&["run", "x.rhai"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {err}");
        assert!(
            err.contains("runbook.toml") && err.contains(&format!("policy.{key} = 0")),
            "{key}: {err}"
        );
    }
    std::fs::remove_file(sb.path().join("runbook.toml")).unwrap();
    let out = sb.run(&["run", "x.rhai", "--timeout", "0"]);
    assert_eq!(out.status.code(), Some(2));

    std::fs::create_dir(sb.path().join("confdir")).unwrap();
    let out = sb.run(&["run", "x.rhai", "--config", "confdir"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("confdir") && err.contains("directory"),
        "{err}"
    );

    std::fs::write(
        sb.path().join("bin.toml"),
        [0x7f, b'E', b'L', b'F', 0, 0xff, 0xfe, 1],
    )
    .unwrap();
    let out = sb.run(&["run", "x.rhai", "--config", "bin.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bin.toml") && err.contains("binary"), "{err}");

    // Found by the search rather than named: still an error, not the default policy.
    std::fs::create_dir(sb.path().join("runbook.toml")).unwrap();
    let out = sb.run(&["run", "x.rhai"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("runbook.toml") && err.contains("directory"),
        "{err}"
    );
}

/// An integer literal beyond 64 bits (or a float literal that overflows) is a script error with
/// its position — not a silent `inf` — in `run` and in `check`.
#[test]
fn out_of_range_number_literals_are_script_errors() {
    let sb = Sandbox::new();
    let cases = [
        (
            "huge",
            format!("//! @action\nlet x = {};\nprint(x);\n", "9".repeat(100_000)),
            "out of the 64-bit range",
        ),
        (
            "big",
            "//! @action\nlet x = 9223372036854775808;\nprint(x);\n".to_string(),
            "out of the 64-bit range",
        ),
        (
            "flt",
            "//! @action\nlet x = 1.0e400;\nprint(x);\n".to_string(),
            "out of range",
        ),
    ];
    for (name, src, needle) in cases {
        let r = sb.run_script(name, &src, &[]);
        r.expect_code(5).no_panic();
        let err = r.report["error"].as_str().unwrap();
        assert!(err.starts_with(&format!("{name}.rhai:2:")), "{err}");
        assert!(err.contains(needle) && err.len() < 400, "{err}");
        let out = sb.run(&["check", &format!("{name}.rhai")]);
        assert_eq!(out.status.code(), Some(5), "{name}");
    }
    let r = sb.run_script(
        "fine",
        "//! @action\nprint(9223372036854775807); print(-9223372036854775807 - 1); print(1.5e300);\n",
        &[],
    );
    r.expect_code(0);
    assert_eq!(
        r.output(),
        vec!["9223372036854775807", "-9223372036854775808", "1.5e300"]
    );
}

#[test]
fn ctrl_c_cancels_cleanly_with_exit_3() {
    let sb = Sandbox::new();
    let running = sb
        .invoke()
        .policy("max_operations = 100_000_000_000")
        .script_named(
            "spin",
            "print(\"started\");\nlet n = 0;\nloop { n += 1; }\n",
        )
        .spawn_json();
    // In its loop once it has spent 300 ms of CPU (start-up takes ~10 ms).
    common::wait_cpu(
        running.pid(),
        Duration::from_millis(300),
        Duration::from_secs(60),
    );
    let r = running.sigint().wait();
    r.exit(3)
        .no_panic()
        .status("interrupted")
        .error_contains("interrupted");
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
    let t0 = std::time::Instant::now();
    let running = sb
        .invoke()
        .policy("commands = [\"sleep\"]")
        .script_named(
            "slow",
            "print(\"go\");\ncmd::run(\"sleep\", [\"30\"], #{ timeout_s: 60 });\nprint(\"not reached\");\n",
        )
        .spawn_json();
    running.wait_descendant("sleep", Duration::from_secs(30));
    let r = running.sigint().wait();
    r.exit(3).no_panic();
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "the sleep was not cut short"
    );
    assert_eq!(r.output(), vec!["go"]);
    let audit = r.audit();
    assert_eq!(audit.len(), 1, "{audit:#?}");
    audit.only("cmd.run").outcome("interrupted");
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
    r.status("inconclusive");
    r.check("measured").is_ok();
    r.check("measured").is_ok();
    for name in ["not measured", "timeouts", "latency"] {
        r.check(name).is_unknown();
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
    r.status("failed");

    let r = sb.run_script("n", "print(1);", &[]);
    r.expect_code(6);
    let r = sb.run_script("a", "//! Acts only.\n//! @action\nprint(1);", &[]);
    r.expect_code(0);
    r.status("ok");

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

/// `runbook man` renders through groff without warnings and names every visible command;
/// `--dir` writes one page per command.
#[test]
fn man_pages_render_with_groff() {
    let sb = Sandbox::new();
    let out = sb.run(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let roff = String::from_utf8(out.stdout).unwrap();
    assert!(
        roff.starts_with(".ie \\n(.g .ds Aq") || roff.contains(".TH runbook 1"),
        "{roff}"
    );
    for cmd in [
        "list", "show", "run", "check", "repl", "docs", "new", "audit", "man",
    ] {
        assert!(roff.contains(cmd), "man page lacks {cmd}");
    }
    let dir = sb.path().join("man1");
    let out = sb.run(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for page in ["runbook.1", "runbook-run.1", "runbook-audit.1"] {
        let p = dir.join(page);
        assert!(p.is_file(), "{page} not written");
        let rendered = std::process::Command::new("groff")
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(&p)
            .output()
            .expect("groff (Debian groff-base) is needed to check the manual page; -k runs preconv as man does");
        assert!(rendered.status.success(), "{page}");
        let warnings = String::from_utf8_lossy(&rendered.stderr);
        assert!(
            warnings.trim().is_empty(),
            "groff warns on {page}: {warnings}"
        );
    }
    let text = std::process::Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-P", "-cbou"])
        .arg(dir.join("runbook-run.1"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("dry") && text.contains("timeout"), "{text}");
}

/// A closure given to `on_failure` sees the variable it captured, also when a `let` shadows a
/// parameter of the same name (the optimizer must not fold the parameter's value into it).
#[test]
fn compensation_closures_see_a_let_that_shadows_a_parameter() {
    let sb = Sandbox::new();
    let r = sb.run_script(
        "shadow",
        "//! Shadowing.\n//! @param page: string = \"\"\nlet page = \"/x\";\non_failure(|| print(`undo sees ${page}`));\nprint(`body sees ${page}`);\nfail(\"boom\");\n",
        &[],
    );
    r.expect_code(1);
    assert_eq!(
        r.output(),
        ["body sees /x", "undo sees /x"],
        "{:#}",
        r.report
    );
}

/// Complete `line` (cursor at its end) in a real bash with the dynamic completion script
/// sourced (`source <(COMPLETE=bash runbook)`), returning COMPREPLY. Bash calls the function
/// with the command, the current word and the previous word, as here.
fn bash_complete(sb: &Sandbox, line: &str) -> Vec<String> {
    let bin = common::bin();
    let dir = bin.parent().unwrap();
    let words: Vec<&str> = line.split(' ').collect();
    let script = format!(
        "export PATH={dir}:$PATH\nsource <(COMPLETE=bash runbook)\n\
         COMP_WORDS=({words})\nCOMP_CWORD={cword}\nCOMP_LINE='{line}'\nCOMP_POINT={point}\n\
         _clap_complete_runbook runbook '{cur}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        dir = dir.display(),
        words = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1,
        point = line.len(),
        cur = words[words.len() - 1],
        prev = words[words.len().saturating_sub(2)],
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(sb.path())
        .env("RUNBOOK_STATE_DIR", sb.path().join("state"))
        .env("RUNBOOK_CONFIG_DIR", sb.path().join("userconf"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_runbook_names_and_their_parameters() {
    let sb = Sandbox::new();
    sb.file(
        "runbooks/disk-sweep.rhai",
        "//! Sweep a disk.\n//! @param path: string = \"/var\"  folder to sweep\n//! @param depth: int  how deep\ncheck(\"x\", true);\n",
    );
    // Built-in and local runbook names.
    let names = bash_complete(&sb, "runbook run he");
    assert!(names.contains(&"health-check".to_string()), "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("he")), "{names:?}");
    assert_eq!(bash_complete(&sb, "runbook show disk-"), ["disk-sweep"]);
    // Parameters of the runbook named on the line, as KEY=.
    let mut params = bash_complete(&sb, "runbook run disk-sweep -p ");
    params.sort();
    assert_eq!(params, ["depth=", "path="]);
    assert_eq!(
        bash_complete(&sb, "runbook run --dry-run disk-sweep --param de"),
        ["depth="]
    );
    // A folder given with --runbooks is searched too.
    sb.file(
        "more/zz-extra.rhai",
        "//! Extra.\n//! @param level: int = 1  level\ncheck(\"x\", true);\n",
    );
    assert_eq!(
        bash_complete(&sb, "runbook --runbooks more run zz-"),
        ["zz-extra"]
    );
}

/// `policy.max_effects = 0` used to mean "no limit" while the other limits refuse 0: it is
/// refused the same way (exit 2, naming the file and the key), and 1 allows exactly one effect.
#[test]
fn max_effects_zero_is_a_config_error_like_the_other_limits() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path().join("w")).unwrap();
    sb.file(
        "x.rhai",
        "//! @action\nfs::write(\"w/a.txt\", \"1\");\nfs::write(\"w/b.txt\", \"2\");\n",
    );
    sb.config("[policy]\nwrite = [\"w\"]\nmax_effects = 0\n");
    let out = sb.run(&["run", "x.rhai"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("config runbook.toml: policy.max_effects = 0: must be at least 1"),
        "{err}"
    );
    assert!(
        !sb.path().join("w/a.txt").exists(),
        "ran with a refused config"
    );
    assert!(sb.audit().is_empty());
    // the same message from every command that loads the config
    let out = sb.run(&["audit"]);
    assert_eq!(out.status.code(), Some(2));

    sb.config("[policy]\nwrite = [\"w\"]\nmax_effects = 1\n");
    let r = common::Run::from_output(sb.run(&["run", "x.rhai", "--json"]));
    r.expect_code(3);
    assert!(sb.path().join("w/a.txt").exists());
    assert!(!sb.path().join("w/b.txt").exists());
    assert!(
        r.report["error"]
            .as_str()
            .unwrap()
            .contains("policy.max_effects"),
        "{:#}",
        r.report
    );
}

/// Every options map is parsed into a serde struct (issue 13.5): an unknown key is a usage
/// error naming the key and listing the allowed ones, for each function that takes options;
/// an ill-typed value names the key and the type it must have. Nothing is reached or changed:
/// the options are read before the policy, the network or the gate.
#[test]
fn unknown_option_keys_are_named_with_the_allowed_ones() {
    const QUERY: &str = "regex, ignore_case, level, since, until, limit, field";
    const HTTP: &str = "timeout_ms, headers, follow_redirects, body, json, max_body";
    let cases: Vec<(&str, String)> = vec![
        (r#"logs::search("a.log", "x", #{bogus: 1})"#, QUERY.into()),
        (r#"logs::count("a.log", "x", #{bogus: 1})"#, QUERY.into()),
        (
            r#"logs::stats("a.log", "x", "(\\d+)", #{bogus: 1})"#,
            QUERY.into(),
        ),
        (
            r#"logs::top("a.log", "x", #{bogus: 1})"#,
            format!("{QUERY}, by"),
        ),
        (
            r#"logs::tail("a.log", 5, #{bogus: 1})"#,
            format!("{QUERY}, pattern"),
        ),
        (
            r#"logs::cleanup(".", #{bogus: 1})"#,
            "pattern, older_than, younger_than, compress".into(),
        ),
        (
            r#"http::get("http://127.0.0.1:9/", #{bogus: 1})"#,
            HTTP.into(),
        ),
        (
            r#"http::head("http://127.0.0.1:9/", #{bogus: 1})"#,
            HTTP.into(),
        ),
        (
            r#"http::post("http://127.0.0.1:9/", #{bogus: 1})"#,
            HTTP.into(),
        ),
        (
            r#"http::check("http://127.0.0.1:9/", #{bogus: 1})"#,
            HTTP.into(),
        ),
        (
            r#"tls::cert("127.0.0.1:9", #{bogus: 1})"#,
            "timeout_ms".into(),
        ),
        (
            r#"service::health("web", #{bogus: 1})"#,
            "timeout_ms".into(),
        ),
        (r#"service::start("web", #{bogus: 1})"#, "wait".into()),
        (r#"service::stop("web", #{bogus: 1})"#, "wait".into()),
        (r#"service::restart("web", #{bogus: 1})"#, "wait".into()),
        (r#"service::reload("web", #{bogus: 1})"#, "wait".into()),
        (
            r#"backup::create("b", ["a.log"], #{bogus: 1})"#,
            "exclude, skip_unreadable, progress".into(),
        ),
        (
            r#"backup::restore("b.zip", "out", #{bogus: 1})"#,
            "only".into(),
        ),
        (
            r#"backup::prune("b", #{bogus: 1})"#,
            "keep_last, keep_days".into(),
        ),
        (
            r#"cmd::run("true", [], #{bogus: 1})"#,
            "cwd, timeout_s, env".into(),
        ),
        (r#"metrics::processes(#{bogus: 1})"#, "sort, limit".into()),
    ];
    let sb = Sandbox::new();
    sb.file("a.log", "x 1\n");
    // The map is in a variable: `runbook check` (and so `run`, for a runbook that may cause
    // effects) refuses a literal map's unknown keys before anything runs; this is the run-time
    // refusal, for maps built while the script runs.
    let mut script = String::from("let opts = #{bogus: 1};\n");
    for (call, _) in &cases {
        let call = call.replace("#{bogus: 1}", "opts");
        script.push_str(&format!(
            "try {{ {call}; print(\"no error\"); }} catch (e) {{ print(`${{e.kind}}: ${{e.message}}`); }}\n"
        ));
    }
    let r = sb.run_script("opts", &script, &[]);
    r.no_panic();
    let out = r.output();
    assert_eq!(out.len(), cases.len(), "{out:?}");
    for ((call, allowed), line) in cases.iter().zip(&out) {
        let func = call.split('(').next().unwrap();
        let want = format!("usage: {func}: unknown option \"bogus\" (allowed: {allowed})");
        assert!(
            line.starts_with(&want),
            "{call}:\n got  {line}\n want {want}"
        );
    }
    assert!(sb.audit().is_empty(), "{:?}", sb.audit());

    // Ill-typed values name the key and the type.
    let r = sb.run_script(
        "types",
        r#"
        try { logs::count("a.log", "x", #{limit: "ten"}); } catch (e) { print(e.message); }
        try { logs::count("a.log", "x", #{level: 5}); } catch (e) { print(e.message); }
        try { logs::count("a.log", "x", #{limit: -1}); } catch (e) { print(e.message); }
        try { service::start("web", #{wait: "soon"}); } catch (e) { print(e.message); }
        print(logs::count("a.log", "x", #{limit: (), level: "info", since: 3600}));
        "#,
        &[],
    );
    let out = r.output();
    assert_eq!(out.len(), 5, "{out:?}");
    assert!(
        out[0].contains("logs::count: option \"limit\" must be an int"),
        "{}",
        out[0]
    );
    assert!(out[0].contains("got string"), "{}", out[0]);
    assert!(
        out[1].contains("option \"level\" must be a string or an array of strings"),
        "{}",
        out[1]
    );
    assert!(out[2].contains("option \"limit\""), "{}", out[2]);
    assert!(
        out[3].contains("service::start: option \"wait\" must be a bool or a number of seconds"),
        "{}",
        out[3]
    );
    assert_eq!(out[4], "0");
}

/// A tired operator's typos get words that say what to type: `--timeout 0` (clap's range error
/// printed `0 is not in 1..18446744073709551615`) and a misspelled service (a denial naming the
/// close inventory entry, or saying the inventory is empty when no config was loaded).
#[test]
fn timeout_zero_and_a_misspelled_service_say_what_to_type() {
    let sb = Sandbox::new();
    sb.file("s.rhai", "//! S.\nservice::status(\"wbe\");\n");
    let out = sb.run(&["run", "s.rhai", "--timeout", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid value '0' for '--timeout <SECS>': must be 1 or more (seconds)"),
        "{err}"
    );
    let r = sb.run_script("s", "service::status(\"wbe\");", &[]);
    r.expect_code(4);
    let e = r.report["error"].as_str().unwrap();
    assert!(
        e.contains("service \"wbe\" is not in the inventory — the inventory is empty"),
        "{e}"
    );
    sb.config("[services.web]\nmanager = \"command\"\nstatus_cmd = [\"true\"]\n");
    let r = sb.run_script("s", "service::status(\"wbe\");", &[]);
    r.expect_code(4);
    let e = r.report["error"].as_str().unwrap();
    assert!(
        e.contains("service \"wbe\" is not in the inventory (did you mean \"web\"?)"),
        "{e}"
    );
}
