//! Shared test helpers: a sandbox folder with its own state and config dirs, the result of a
//! `runbook` invocation ([`Run`]: exit code, parsed `--json` report, output), and the test kit
//! ([`kit`]: the [`Invocation`] builder, typed assertions, the audit reader, readiness waits).
//! Each test binary compiles this module on its own, so helpers one binary does not use are fine.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use serde_json::Value;

pub mod demo;
pub mod kit;
pub mod pm2app;
pub mod second;

// Each test binary uses some of these: the rest are not unused, only unused there.
#[allow(unused_imports)]
pub use kit::{
    Audit, CheckExt, EffectExt, Invocation, Running, children_of, comm_of, cpu_time_of,
    descendants_of, open_files, poll_until, signal, wait_cpu, wait_exit, wait_for_descendant,
    wait_until,
};

/// Path of the binary under test: `$RUNBOOK_BIN` (e.g. a release build) or cargo's debug build.
pub fn bin() -> PathBuf {
    match std::env::var_os("RUNBOOK_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_runbook")),
    }
}

/// A temporary working folder with isolated state (`RUNBOOK_STATE_DIR`) and user config
/// (`RUNBOOK_CONFIG_DIR`), so tests never touch the real ones or each other.
#[derive(Debug)]
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("runbook-test-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        std::fs::create_dir_all(dir.path().join("userconf")).unwrap();
        Sandbox { dir }
    }

    /// The sandbox folder (the working directory of every command).
    pub fn path(&self) -> PathBuf {
        std::fs::canonicalize(self.dir.path()).unwrap()
    }

    /// The state dir (audit log, default backups, locks).
    pub fn state(&self) -> PathBuf {
        self.path().join("state")
    }

    /// Write `rel` (creating parents) and return its path.
    pub fn file(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        p
    }

    /// Write `runbook.toml` in the sandbox.
    pub fn config(&self, toml: &str) -> PathBuf {
        self.file("runbook.toml", toml)
    }

    /// A command for the binary, in the sandbox, with isolated state and config.
    pub fn cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(bin());
        c.current_dir(self.path())
            .env("RUNBOOK_STATE_DIR", self.state())
            .env("RUNBOOK_CONFIG_DIR", self.path().join("userconf"))
            .env("NO_COLOR", "1")
            .env_remove("RUST_BACKTRACE");
        c
    }

    /// Run `runbook ARGS…` and return its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("spawn runbook")
    }

    /// Write `script` to `NAME.rhai` and `runbook run` it with `--json` plus `extra` args;
    /// returns (exit code, report, stderr).
    pub fn run_script(&self, name: &str, script: &str, extra: &[&str]) -> Run {
        let file = format!("{name}.rhai");
        self.file(&file, script);
        let mut args = vec!["run", file.as_str(), "--json"];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        let mut r = Run::from_output(out);
        r.audit_path = Some(self.state().join("audit.jsonl"));
        r
    }

    /// All audit records of the sandbox (default audit path).
    pub fn audit(&self) -> Vec<Value> {
        self.audit_at(&self.state().join("audit.jsonl"))
    }

    /// All audit records at `path`, with each write-ahead `started` record that has its
    /// outcome record left out (see `audit_raw_at` for every line).
    pub fn audit_at(&self, path: &Path) -> Vec<Value> {
        Audit::read(path).0
    }

    /// Every line of the audit log at `path`, parsed (`started` records included).
    pub fn audit_raw_at(&self, path: &Path) -> Vec<Value> {
        Audit::read_raw(path)
    }
}

/// The result of one `runbook run --json`.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub report: Value,
    pub stdout: String,
    pub stderr: String,
    /// The audit log of the run's sandbox (set by the kit; `Run::audit` reads it).
    pub audit_path: Option<PathBuf>,
    /// The sandbox a `Run::new()` invocation made, kept alive with its result.
    pub sandbox: Option<Arc<Sandbox>>,
}

impl Run {
    pub fn from_output(out: Output) -> Run {
        Run::from_parts(
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    /// A result from an exit code and the captured streams (the report parsed from stdout).
    pub fn from_parts(code: i32, stdout: String, stderr: String) -> Run {
        let report = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        Run {
            code,
            report,
            stdout,
            stderr,
            audit_path: None,
            sandbox: None,
        }
    }

    /// The check named `name` (panics with the report when missing).
    pub fn check(&self, name: &str) -> &Value {
        self.report["checks"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == name))
            .unwrap_or_else(|| panic!("no check {name:?} in {:#}", self.report))
    }

    /// Effects with action `action`.
    pub fn effects(&self, action: &str) -> Vec<&Value> {
        self.report["effects"]
            .as_array()
            .map(|es| es.iter().filter(|e| e["action"] == action).collect())
            .unwrap_or_default()
    }

    /// The printed output lines.
    pub fn output(&self) -> Vec<String> {
        self.report["output"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|l| l.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Assert the exit code, showing everything on failure.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Assert no panic or abort text reached stderr.
    pub fn no_panic(&self) -> &Self {
        for bad in [
            "panicked",
            "stack overflow",
            "RUST_BACKTRACE",
            "SIGSEGV",
            "Aborted",
        ] {
            assert!(
                !self.stderr.contains(bad),
                "stderr has {bad:?}:\n{}",
                self.stderr
            );
        }
        self
    }
}
