//! `runbook repl` end to end: through a pseudo-terminal (expectrl: line editing, completion,
//! Ctrl-C, Ctrl-D, effect confirmation) and through piped stdin (multi-line input, dry run,
//! `:save` → `runbook check` / `runbook run`, errors with a caret, `:run`, `:load`).

mod common;

use std::io::Write;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{CheckExt, Sandbox};
use expectrl::process::unix::{PtyStream, WaitStatus};
use expectrl::stream::log::LogStream;
use expectrl::{ControlCode, Eof, Expect};

/// Everything written to and read from the pty, shown when an expectation fails.
#[derive(Clone, Default)]
struct Transcript(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Transcript {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type PtySession =
    expectrl::Session<expectrl::process::unix::UnixProcess, LogStream<PtyStream, Transcript>>;

/// A REPL on a pseudo-terminal in the sandbox.
struct Pty {
    s: PtySession,
    log: Transcript,
}

impl Pty {
    fn start(sb: &Sandbox) -> Pty {
        let mut cmd = sb.cmd();
        cmd.arg("repl").env("TERM", "xterm");
        let s = expectrl::Session::spawn(cmd).expect("spawn runbook repl on a pty");
        let log = Transcript::default();
        let mut s = expectrl::session::log(s, log.clone()).expect("log the pty");
        s.set_expect_timeout(Some(Duration::from_secs(30)));
        let mut p = Pty { s, log };
        p.expect("Ctrl-D leaves");
        p.prompt();
        p
    }

    /// Wait for `text` in the output (panics with the transcript on timeout).
    fn expect(&mut self, text: &str) {
        if let Err(e) = self.s.expect(text) {
            let log = String::from_utf8_lossy(&self.log.0.lock().unwrap()).to_string();
            panic!("waiting for {text:?}: {e}\n--- pty transcript ---\n{log}");
        }
    }

    /// Wait for a fresh, empty prompt: the input before it has been evaluated. (`"> "` alone
    /// also matches rustyline's redraws of the line being typed; typing ahead of the prompt
    /// loses keys when the terminal mode switches.)
    fn prompt(&mut self) {
        self.expect("> \r");
    }

    /// The REPL's process id.
    fn pid(&self) -> u32 {
        self.s.get_process().pid().as_raw() as u32
    }

    fn line(&mut self, text: &str) {
        self.s.send_line(text).expect("send line");
    }

    fn send(&mut self, text: &str) {
        self.s.send(text).expect("send");
    }

    fn ctrl_c(&mut self) {
        self.s.send(ControlCode::EndOfText).expect("send Ctrl-C");
    }

    /// Ctrl-D on an empty line: the session ends with exit code 0.
    fn quit(mut self) {
        self.s
            .send(ControlCode::EndOfTransmission)
            .expect("send Ctrl-D");
        self.s.expect(Eof).expect("end of output after Ctrl-D");
        let status = self.s.get_process().wait().expect("wait");
        assert!(
            matches!(status, WaitStatus::Exited(_, 0)),
            "exit status {status:?}"
        );
    }
}

/// Run a piped session: (exit code, stdout, stderr).
fn piped(sb: &Sandbox, input: &str) -> (i32, String, String) {
    let mut child = sb
        .cmd()
        .arg("repl")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn runbook repl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn write_policy(sb: &Sandbox) {
    sb.config(&format!(
        "[policy]\nread = [\"{0}\"]\nwrite = [\"{0}/out\"]\n\n[services.lowcode-platform]\nmanager = \"pm2\"\n",
        sb.path().display()
    ));
    std::fs::create_dir_all(sb.path().join("out")).unwrap();
}

#[test]
fn pty_multi_line_function_then_call() {
    let sb = Sandbox::new();
    let mut p = Pty::start(&sb);
    p.line("fn add(a, b) {");
    p.line("  let sum = a + b;");
    p.line("  sum");
    p.line("}");
    p.prompt();
    p.line("add(40, 2)");
    p.expect("42");
    p.prompt();
    p.quit();
}

#[test]
fn pty_tab_completes_module_functions_and_effects_ask_first() {
    let sb = Sandbox::new();
    write_policy(&sb);
    let mut p = Pty::start(&sb);
    // `fs::wr` + Tab becomes `fs::write`; the call then runs, after a confirmation.
    p.send("fs::wr\t");
    p.expect("fs::write");
    p.line("(\"out/note.txt\", \"from the repl\")");
    p.expect("run effect fs.write on out/note.txt? [y/N]");
    p.line("y");
    p.expect("done fs.write out/note.txt");
    p.prompt();
    assert_eq!(
        std::fs::read_to_string(sb.path().join("out/note.txt")).unwrap(),
        "from the repl"
    );
    // Declining leaves the file alone and audits the refusal.
    p.line("fs::write(\"out/note.txt\", \"overwritten\")");
    p.expect("[y/N]");
    p.line("n");
    p.expect("operator declined");
    p.prompt();
    assert_eq!(
        std::fs::read_to_string(sb.path().join("out/note.txt")).unwrap(),
        "from the repl"
    );
    // Service names from the inventory complete inside strings.
    p.send("let s = \"lowc\t");
    p.expect("lowcode-platform\"");
    p.line("; s.len()");
    p.expect("16");
    p.prompt();
    p.quit();
    let audit = sb.audit();
    let outcomes: Vec<&str> = audit
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, vec!["done", "denied"], "{audit:#?}");
    assert_eq!(audit[0]["runbook"], "repl");
    assert_eq!(
        audit[0]["run_id"], audit[1]["run_id"],
        "one run id per session"
    );
}

#[test]
fn pty_ctrl_c_stops_a_loop_and_keeps_the_variables() {
    let sb = Sandbox::new();
    let mut p = Pty::start(&sb);
    p.line("let keep = 7;");
    p.prompt();
    p.line("print(\"spin\" + \"ning\"); let n = 0; loop { n += 1; }");
    p.expect("spinning");
    p.ctrl_c();
    p.expect("interrupted (Ctrl-C)");
    p.prompt();
    p.line("keep * 6");
    p.expect("42");
    p.prompt();
    // The cancellation was for that input only: a long computation now runs to the end.
    p.line("let t = 0; for i in 0..200000 { t += i; } t");
    p.expect("19999900000");
    p.prompt();
    // A second long input can be stopped the same way: the flag was reset.
    p.line("print(\"again\" + \"!\"); loop { }");
    p.expect("again!");
    p.ctrl_c();
    p.expect("interrupted (Ctrl-C)");
    p.prompt();
    p.line("keep + 1");
    p.expect("8");
    p.prompt();
    p.quit();
}

#[test]
fn pty_ctrl_c_on_the_prompt_clears_the_line_and_keeps_the_session() {
    let sb = Sandbox::new();
    let mut p = Pty::start(&sb);
    p.ctrl_c();
    p.prompt();
    // A half-typed line is dropped, not evaluated with what comes next.
    p.send("let junk = ");
    p.ctrl_c();
    p.prompt();
    p.line("40 + 2");
    p.expect("42");
    p.prompt();
    p.line("is_def_var(\"junk\")");
    p.expect("false");
    p.prompt();
    p.quit();
}

#[test]
fn pty_history_is_kept_in_the_state_dir_without_duplicates() {
    let sb = Sandbox::new();
    let mut p = Pty::start(&sb);
    for _ in 0..2 {
        p.line("let h = 1 + 1;");
        p.prompt();
    }
    p.line(":dry on");
    p.expect("dry-run]> \r");
    p.quit();
    let hist = std::fs::read_to_string(sb.state().join("repl_history")).expect("history file");
    assert_eq!(hist.matches("let h = 1 + 1;").count(), 1, "{hist}");
    assert!(hist.contains(":dry on"), "{hist}");
    // A new session can recall it: Up arrow brings back the last line.
    let mut p = Pty::start(&sb);
    p.send("\x1b[A");
    p.expect(":dry on");
    p.send("\r");
    p.expect("dry run on");
    p.prompt();
    p.quit();
}

#[test]
fn piped_multi_line_input_is_split_by_compiling() {
    let sb = Sandbox::new();
    let input = "fn add(a, b) {\n  a + b\n}\nlet text = `two\nlines`;\nlet m = #{\n  a: add(1, 2),\n  b: [1,\n      2]\n};\nm.a * 10\ntext\n";
    let (code, out, err) = piped(&sb, input);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(
        out, "30\ntwo\nlines\n",
        "no prompts, strings unquoted; stderr:\n{err}"
    );
}

#[test]
fn piped_dry_run_plans_the_write_and_writes_nothing() {
    let sb = Sandbox::new();
    write_policy(&sb);
    let (code, out, err) = piped(
        &sb,
        ":dry on\nfs::write(\"out/planned.txt\", \"x\")\nfs::exists(\"out/planned.txt\")\n",
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("planned fs.write out/planned.txt"), "{out}");
    assert!(out.trim_end().ends_with("false"), "{out}");
    assert!(!sb.path().join("out/planned.txt").exists());
    let audit = sb.audit();
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["outcome"], "planned");
    assert_eq!(audit[0]["dry_run"], true);
    assert_eq!(audit[0]["runbook"], "repl");
}

#[test]
fn piped_effects_without_a_terminal_need_yes() {
    let sb = Sandbox::new();
    write_policy(&sb);
    let (code, _out, err) = piped(&sb, "fs::write(\"out/a.txt\", \"1\")\n");
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("operator declined") && err.contains(":yes on"),
        "{err}"
    );
    assert!(!sb.path().join("out/a.txt").exists());
    let (code, out, err) = piped(&sb, ":yes on\nfs::write(\"out/a.txt\", \"1\")\n");
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        std::fs::read_to_string(sb.path().join("out/a.txt")).unwrap(),
        "1"
    );
}

#[test]
fn save_writes_a_draft_that_check_accepts_and_run_runs() {
    let sb = Sandbox::new();
    write_policy(&sb);
    let input = "\
let base = 20
fn twice(x) {
  x * 2
}
let bad = nope + 1;
let m = #{ total: twice(base) + 2 }
check(\"total is 42\", m.total == 42, `total ${m.total}`)
print(`total=${m.total}`)
:save drafts/session
:save drafts/session
";
    let (code, out, err) = piped(&sb, input);
    // The second :save refuses to overwrite: a usage error, the last failure of the session.
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("already exists"), "{err}");
    assert!(out.contains("✓ check total is 42"), "{out}");
    let draft =
        std::fs::read_to_string(sb.path().join("drafts/session.rhai")).expect("draft written");
    assert!(
        draft.starts_with("//! Draft from a runbook repl session"),
        "{draft}"
    );
    assert!(
        !draft.contains("nope"),
        "failed inputs are not saved:\n{draft}"
    );
    assert!(draft.contains("let base = 20;\n"), "{draft}");

    let out = sb.run(&["check", "drafts/session.rhai"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r = sb.run_json("drafts/session.rhai", &[]);
    r.expect_code(0);
    r.check("total is 42").is_ok();
    assert_eq!(r.output(), vec!["total=42"]);
}

#[test]
fn errors_show_the_line_with_a_caret() {
    let sb = Sandbox::new();
    let (code, _out, err) = piped(&sb, "let a = 1;\nlet b = a +\n   missing_thing;\n");
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("missing_thing"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains("|    missing_thing;"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(lines[i].starts_with(" 2 |"), "{err}");
    assert_eq!(lines[i + 1], "   |    ^", "{err}");

    // A run-time error inside a function points into the input that defined it.
    let (_, _, err) = piped(&sb, "fn f(x) {\n  x / 0\n}\nf(1)\n");
    assert!(err.contains("Division by zero"), "{err}");
    assert!(
        err.contains("defined by input #1") && err.contains(" 2 |   x / 0"),
        "{err}"
    );
}

#[test]
fn meta_commands_help_run_load_audit() {
    let sb = Sandbox::new();
    write_policy(&sb);
    sb.file(
        "runbooks/greet.rhai",
        "//! Greet someone.\n//! @param who: string = \"world\"   whom to greet\nprint(`hello ${who}`);\ncheck(\"greeted\", true);\n",
    );
    sb.file("lib.rhai", "fn triple(x) { x * 3 }\nlet loaded = 5;\n");
    let input = ":help\n:help fs::write\n:help no_such_fn\n:runbooks\n:run greet who=operator\n:load lib.rhai\ntriple(loaded)\n:audit 5\n:bogus\n:quit\nprint(\"not reached\")\n";
    let (code, out, err) = piped(&sb, input);
    assert_eq!(
        code, 2,
        "the last failure was an unknown command\n{out}\n{err}"
    );
    assert!(out.contains(":run NAME [key=value …]"), "{out}");
    assert!(
        out.contains("fs::write(path: string, text: string)") && out.contains("⚡ effect"),
        "{out}"
    );
    assert!(
        err.contains("no function, module or command named \"no_such_fn\""),
        "{err}"
    );
    assert!(
        out.contains("greet") && out.contains("Greet someone."),
        "{out}"
    );
    assert!(
        out.contains("hello operator") && out.contains("✓ greeted"),
        "{out}"
    );
    assert!(err.contains("greet: ok"), "{err}");
    assert!(out.contains("\n15\n"), "{out}");
    assert!(out.contains("no audit records"), "{out}");
    assert!(err.contains("unknown command :bogus"), "{err}");
    assert!(!out.contains("not reached"), "{out}");
}

#[test]
fn imports_persist_across_inputs() {
    let sb = Sandbox::new();
    sb.file("stdlib/fmt.rhai", "fn pct(a, b) { a * 100 / b }\n");
    let (code, out, err) = piped(
        &sb,
        "import \"fmt\" as fmt;\nfmt::pct(1, 4)\nfn quarter(x) { fmt::pct(x, 4) }\nquarter(3)\n",
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(out, "25\n75\n", "{err}");
}

#[test]
fn values_render_as_tables() {
    let sb = Sandbox::new();
    let (code, out, err) = piped(
        &sb,
        "[#{pid: 1, name: \"init\"}, #{pid: 42, name: \"node\"}]\n#{used: 10, mount: \"/\"}\n",
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[1].contains("name") && lines[1].contains("pid"),
        "{out}"
    );
    assert!(out.contains("│ node ┆ 42  │"), "{out}");
    assert!(out.contains("│ mount ┆ /     │"), "{out}");
}

/// An input waiting on a program that ignores SIGTERM stops at the first Ctrl-C: the input is
/// interrupted, the program's whole group is ended, the session and its variables are kept.
/// (Every primitive's wait now ends on Ctrl-C — file reads refuse FIFOs before opening them —
/// so the REPL's last resort, three presses end the session, has no primitive left to trigger it.)
#[test]
fn pty_ctrl_c_stops_an_input_stuck_on_a_stubborn_program_and_keeps_the_session() {
    let sb = Sandbox::new();
    sb.config(&format!(
        "[policy]\nread = [\"{0}\"]\nwrite = [\"{0}/out\"]\ncommands = [\"sh\"]\n",
        sb.path().display()
    ));
    std::fs::create_dir_all(sb.path().join("out")).unwrap();
    let ready = sb.path().join("out/ready");
    std::process::Command::new("mkfifo")
        .arg(sb.path().join("out/fifo"))
        .status()
        .expect("mkfifo");
    // The program ignores SIGTERM (inherited by its sleep) and says when it is in place.
    let stubborn = format!(
        "cmd::run(\"sh\", [\"-c\", \"trap '' TERM; touch {}; exec sleep 31\"], #{{}})",
        ready.display()
    );
    let mut p = Pty::start(&sb);
    p.line(":yes on");
    p.prompt();
    p.line("let kept = 1;");
    p.prompt();
    // A FIFO nobody writes is refused at once, not waited on.
    p.line("try { fs::read(\"out/fifo\") } catch (e) { print(`refused: ${e.kind}`) }");
    p.expect("refused: io");
    p.prompt();
    p.line(&stubborn);
    common::wait_until(Duration::from_secs(20), "the program to start", || {
        ready.exists()
    });
    let pressed = std::time::Instant::now();
    p.ctrl_c();
    p.expect("interrupted (Ctrl-C)");
    p.prompt();
    assert!(
        pressed.elapsed() < Duration::from_secs(3),
        "{:?}",
        pressed.elapsed()
    );
    p.line("kept + 41");
    p.expect("42");
    p.prompt();
    // No process of the program's group is left (SIGKILL follows the ignored SIGTERM).
    let mut left = String::new();
    let gone = common::poll_until(Duration::from_secs(10), || {
        let out = std::process::Command::new("pgrep")
            .args(["-f", "exec sleep 31|^sleep 31$"])
            .output()
            .expect("pgrep");
        left = String::from_utf8_lossy(&out.stdout).to_string();
        left.is_empty()
    });
    assert!(gone, "left running: {left}");
}

/// `:run` of a runbook that may cause effects asks once before it starts; declining runs nothing.
#[test]
fn pty_run_asks_before_a_runbook_with_effects() {
    let sb = Sandbox::new();
    write_policy(&sb);
    sb.file(
        "runbooks/stamp.rhai",
        "//! Write a stamp file.\n//! @param text: string = \"stamp\"   what to write\nfs::write(\"out/stamp.txt\", text);\ncheck(\"stamped\", fs::exists(\"out/stamp.txt\"));\n",
    );
    let mut p = Pty::start(&sb);
    p.line(":run stamp text=first");
    p.expect("stamp may cause effects (fs::write). Run it? [y/N]");
    p.line("n");
    p.expect("stamp not run");
    p.prompt();
    assert!(!sb.path().join("out/stamp.txt").exists());
    p.send(":run st\t");
    p.expect(":run stamp");
    p.line(" text=second");
    p.expect("[y/N]");
    p.line("y");
    p.expect("done     fs.write");
    p.expect("stamp: ok");
    p.prompt();
    assert_eq!(
        std::fs::read_to_string(sb.path().join("out/stamp.txt")).unwrap(),
        "second"
    );
    // Under :dry on it plans without asking.
    p.line(":dry on");
    p.prompt();
    p.line(":run stamp text=third");
    p.expect("planned  fs.write");
    p.prompt();
    assert_eq!(
        std::fs::read_to_string(sb.path().join("out/stamp.txt")).unwrap(),
        "second"
    );
    p.quit();
}

/// A bracketed paste of several lines is one input (one history entry), run on Enter.
#[test]
fn pty_bracketed_paste_is_one_input() {
    let sb = Sandbox::new();
    let mut p = Pty::start(&sb);
    p.send("\x1b[200~let pasted = 40;\nfn bump(x) {\n  x + 2\n}\nbump(pasted)\x1b[201~");
    p.send("\r");
    p.expect("42");
    p.prompt();
    p.quit();
    let hist = std::fs::read_to_string(sb.state().join("repl_history")).expect("history file");
    assert!(
        hist.contains("let pasted = 40;\\nfn bump(x) {\\n  x + 2\\n}\\nbump(pasted)"),
        "{hist}"
    );
}

/// Each input gets the policy's wall-clock limit; hitting it ends that input, not the session.
#[test]
fn piped_each_input_gets_the_policy_timeout() {
    let sb = Sandbox::new();
    sb.config("[policy]\ntimeout_s = 1\nmax_operations = 100_000_000_000\n");
    let t0 = std::time::Instant::now();
    let (code, out, err) = piped(
        &sb,
        "let kept = 2;\nloop { }\nsleep_s(0.6); kept * 21\nsleep_s(0.6); kept * 50\n",
    );
    let elapsed = t0.elapsed();
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(err.contains("wall-clock timeout"), "{err}");
    // Two more inputs of 0.6 s each ran after the first used up its 1 s: the deadline is per input.
    assert_eq!(out, "42\n100\n", "{err}");
    assert!(elapsed >= Duration::from_millis(2000), "{elapsed:?}");
}

/// Ctrl-C during an effect (a command that runs for a while) stops it; the audit log records
/// the effect as `interrupted` and the session goes on.
#[test]
fn pty_ctrl_c_during_an_effect_audits_it_interrupted() {
    let sb = Sandbox::new();
    sb.config(&format!(
        "[policy]\nread = [\"{}\"]\ncommands = [\"sleep\"]\n",
        sb.path().display()
    ));
    let mut p = Pty::start(&sb);
    p.line(":yes on");
    p.expect("yes]> \r");
    p.line("let before = 1; print(\"start\" + \"ing\"); cmd::run(\"sleep\", [\"30\"])");
    p.expect("starting");
    // Ctrl-C once the command runs.
    common::wait_for_descendant(p.pid(), "sleep", Duration::from_secs(30));
    let t0 = std::time::Instant::now();
    p.ctrl_c();
    p.expect("interrupted cmd.run sleep");
    p.expect("yes]> \r");
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "the command was stopped, not waited for"
    );
    p.line("before + 1");
    p.expect("2");
    p.prompt();
    p.quit();
    let audit = sb.audit();
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["action"], "cmd.run");
    assert_eq!(audit[0]["outcome"], "interrupted", "{audit:#?}");
}

/// `logs::se` + Tab becomes `logs::search`, with its signature as a hint, and the call runs.
#[test]
fn pty_tab_completes_logs_search() {
    let sb = Sandbox::new();
    sb.file(
        "app.log",
        "2026-11-29 09:00:01 INFO started\n2026-11-29 09:00:02 ERROR db timeout\n2026-11-29 09:00:03 ERROR db timeout again\n",
    );
    let mut p = Pty::start(&sb);
    p.send("logs::se\t");
    p.expect("logs::search");
    p.send("(");
    p.expect("‹ logs::search(path: string, pattern: string");
    p.line("\"app.log\", \"ERROR\").total * 21");
    p.expect("42");
    p.prompt();
    p.quit();
}

/// Issue 12: a syntax error in the middle of a pasted block used to end the block there, and
/// the rest ran as top-level statements (an effect inside an `if` ran unconditionally).
#[test]
fn piped_block_with_a_syntax_error_in_the_middle_runs_not_at_all() {
    let sb = Sandbox::new();
    write_policy(&sb);
    let marker = sb.path().join("out/ran.txt");
    let input = format!(
        "let proceed = false;\nif proceed {{\n  let a = ;\n  fs::write(\"{m}\", \"x\");\n  print(\"INSIDE\");\n}}\nprint(\"after the block\");\n",
        m = marker.display()
    );
    let (code, out, err) = piped(&sb, &format!(":yes on\n{input}"));
    assert!(err.contains("Unexpected ';'"), "{err}");
    assert!(!out.contains("INSIDE"), "{out}");
    assert!(!marker.exists(), "a line of the broken block ran");
    assert!(out.contains("after the block"), "{out}\n{err}");
    assert_eq!(code, 5, "{out}\n{err}");
}

#[test]
fn save_turns_a_bare_expression_into_a_print() {
    let sb = Sandbox::new();
    write_policy(&sb);
    let (_, out, err) = piped(
        &sb,
        "let m = #{ total: 40 }\nm.total + 2\ncheck(\"total\", m.total == 40)\n:save drafts/bare\n",
    );
    assert!(out.contains("42"), "{out}\n{err}");
    let draft = std::fs::read_to_string(sb.path().join("drafts/bare.rhai")).expect("draft");
    assert!(draft.contains("print(m.total + 2);"), "{draft}");
    assert!(
        draft.contains("\ncheck(\"total\", m.total == 40)"),
        "{draft}"
    );
    let r = sb.run_json("drafts/bare.rhai", &[]);
    r.expect_code(0);
    assert_eq!(r.output(), vec!["42"]);
}

/// Each effect of a REPL session gets its own `seq` under the session's one run id, so its
/// `started` record pairs with its own outcome (every input used to start again at seq 1).
#[test]
fn piped_effects_of_one_session_get_increasing_seqs_that_pair() {
    let sb = Sandbox::new();
    write_policy(&sb);
    let (code, out, err) = piped(
        &sb,
        ":yes on\nfs::write(\"out/a.txt\", \"1\")\nfs::write(\"out/b.txt\", \"2\"); fs::write(\"out/c.txt\", \"3\")\n",
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let raw = sb.audit_raw_at(&sb.state().join("audit.jsonl"));
    assert_eq!(raw.len(), 6, "{raw:#?}");
    let run_id = raw[0]["run_id"].as_str().expect("run_id").to_string();
    assert!(run_id.starts_with("repl-"), "{run_id}");
    for (i, target) in ["out/a.txt", "out/b.txt", "out/c.txt"].iter().enumerate() {
        let seq = i as u64 + 1;
        let recs: Vec<&serde_json::Value> = raw
            .iter()
            .filter(|r| r["seq"].as_u64() == Some(seq))
            .collect();
        let outcomes: Vec<&str> = recs
            .iter()
            .map(|r| r["outcome"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(outcomes, vec!["started", "done"], "seq {seq}: {raw:#?}");
        for r in &recs {
            assert_eq!(r["run_id"], run_id.as_str(), "{raw:#?}");
            assert!(
                r["target"].as_str().unwrap_or("").ends_with(target),
                "seq {seq} is {target}: {raw:#?}"
            );
        }
    }
    let shown = sb.run(&["audit", "--json", "--all"]);
    assert!(shown.status.success());
    let shown: Vec<serde_json::Value> =
        serde_json::from_slice(&shown.stdout).expect("audit --json");
    let outcomes: Vec<(&str, u64)> = shown
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap_or(""),
                r["seq"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![("done", 1), ("done", 2), ("done", 3)],
        "{shown:#?}"
    );
}
