//! Fleet runs: the same runbook on many hosts through OpenSSH, one merged report.
//!
//! `runbook run NAME --hosts a,b | GROUP | @FILE` builds a [`bundle::Bundle`] (the runbook and
//! every module it imports), connects to each host with the system `ssh` ([`ssh`]), checks that
//! the host's installed `runbook` is this version (or, with `--push`, copies this binary to
//! `~/.cache/runbook/runbook-SHA16` on the host and verifies its SHA-256 there), and runs
//! `runbook remote-run` ([`remote`]) with the bundle on stdin. Each host applies its own
//! `runbook.toml` and audits its own effects; the controller's audit log gets one `fleet.run`
//! record per host (and `fleet.push` per copy).
//!
//! Concurrency: `--forks N` hosts at a time (default 10); `--serial N` runs batches of N and,
//! with `--max-fail N`, stops after N failed hosts (the rest are reported `skipped`); each host
//! has a deadline (`--host-timeout`, default the run timeout + 30 s); Ctrl-C sends every host
//! a cancel line, waits a short grace for its report, then cuts the connection.

pub mod bundle;
pub mod remote;
pub mod ssh;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::effects::AuditLog;
use crate::error::{Error, Result};
use crate::policy::Config;
use crate::runbook::Runbook;

/// Exit code of a fleet run whose worst result is an unreachable host (README, "Exit codes").
pub const EXIT_UNREACHABLE: i32 = 7;
/// How long a host gets to send its report after a cancel line (Ctrl-C or per-host timeout)
/// before the connection is cut.
pub const CANCEL_GRACE: Duration = Duration::from_secs(3);
/// Default `--forks` (Ansible's default too).
pub const DEFAULT_FORKS: usize = 10;
/// Most hosts one run accepts (a guard against a runaway `@FILE`).
pub const MAX_HOSTS: usize = 100_000;

/// The fleet flags of `runbook run`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FleetArgs {
    /// Run on these hosts through ssh: `a,b`, a group from `[hosts]` in runbook.toml, or `@FILE`
    /// (one host per line).
    #[arg(long, value_name = "HOSTS")]
    pub hosts: Option<String>,
    /// Hosts at a time (default 10).
    #[arg(long, value_name = "N", requires = "hosts")]
    pub forks: Option<usize>,
    /// Rolling: run N hosts, then the next N, …
    #[arg(long, value_name = "N", requires = "hosts")]
    pub serial: Option<usize>,
    /// Start no more hosts once N hosts failed (unreachable counts).
    #[arg(long, value_name = "N", requires = "hosts")]
    pub max_fail: Option<usize>,
    /// Deadline of one host (connect, version check, push, run), in seconds
    /// (default: the run timeout + 30).
    #[arg(long, value_name = "SECS", requires = "hosts")]
    pub host_timeout: Option<u64>,
    /// Copy this binary to a host whose `runbook` is another version (~/.cache/runbook).
    #[arg(long, requires = "hosts")]
    pub push: bool,
    /// ssh configuration file (`ssh -F FILE`), else the user's ~/.ssh/config.
    #[arg(long, value_name = "FILE", requires = "hosts")]
    pub ssh_config: Option<PathBuf>,
}

/// Expand `--hosts`: comma-separated items, each a `[hosts]` group of `config`, `@FILE` (one
/// host per line, `#` comments), or an ssh destination. Duplicates are dropped, order kept.
/// Errors (usage): an unreadable file, a destination ssh would read as an option, no hosts.
pub fn expand_hosts(spec: &str, groups: &BTreeMap<String, Vec<String>>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |h: &str, from: &str| -> Result<()> {
        let h = h.trim();
        if h.is_empty() {
            return Ok(());
        }
        if !ssh::valid_destination(h) {
            return Err(Error::Usage(format!(
                "--hosts: {h:?} (from {from}) is not a host name ssh can be given"
            )));
        }
        if !out.iter().any(|x| x == h) {
            if out.len() >= MAX_HOSTS {
                return Err(Error::Usage(format!(
                    "--hosts: more than {MAX_HOSTS} hosts"
                )));
            }
            out.push(h.to_string());
        }
        Ok(())
    };
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(file) = item.strip_prefix('@') {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Error::Usage(format!("--hosts @{file}: {e}")))?;
            for (i, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or("");
                push(line, &format!("{file}:{}", i + 1))?;
            }
        } else if let Some(members) = groups.get(item) {
            for m in members {
                push(m, &format!("[hosts] {item}"))?;
            }
        } else {
            push(item, "--hosts")?;
        }
    }
    if out.is_empty() {
        return Err(Error::Usage(format!("--hosts {spec:?}: no hosts")));
    }
    Ok(out)
}

/// What happened on one host.
#[derive(Debug, Clone)]
pub enum HostResult {
    /// The host's JSON report (from the host, or made here when the host never sent one).
    Report(Value),
    /// No connection: ssh's reason.
    Unreachable(String),
    /// Not started: `--max-fail` reached, or Ctrl-C before its turn.
    Skipped(String),
}

/// One host's line in the merged report.
#[derive(Debug, Clone)]
pub struct HostOutcome {
    pub host: String,
    pub result: HostResult,
    pub exit_code: i32,
    pub duration_ms: u64,
    /// Stopped by Ctrl-C while it ran.
    pub interrupted: bool,
    /// Stopped by its per-host deadline.
    pub timed_out: bool,
    /// This binary was copied to the host.
    pub pushed: bool,
}

impl HostOutcome {
    fn failed(&self) -> bool {
        !matches!(self.result, HostResult::Skipped(_)) && self.exit_code != 0
    }
}

/// How bad an exit code is, for "the worst of the hosts": ok < inconclusive < failed <
/// unreachable < limit < denied < script error < usage.
pub fn severity(code: i32) -> u8 {
    match code {
        0 => 0,
        6 => 1,
        1 => 2,
        EXIT_UNREACHABLE => 3,
        3 => 4,
        4 => 5,
        5 => 6,
        2 => 7,
        _ => 6,
    }
}

/// A report made on the controller for a host that never sent one.
fn made_report(runbook: &str, exit_code: i32, error: String, ms: u64) -> Value {
    json!({
        "runbook": runbook,
        "params": {},
        "status": crate::report::Status::from_exit_code(exit_code).as_str(),
        "exit_code": exit_code,
        "checks": [],
        "effects": [],
        "output": [],
        "started": crate::timefmt::now_rfc3339(),
        "duration_ms": ms,
        "error": error,
    })
}

/// Everything the per-host workers share.
struct Shared<'a> {
    bundle_line: String,
    runbook: String,
    opts: ssh::SshOptions,
    control_dir: &'a Path,
    host_timeout: Duration,
    push: bool,
    /// (sha256 hex, path) of this binary, when `--push`.
    exe: Option<(String, PathBuf)>,
    cancel: Arc<AtomicBool>,
    audit: &'a AuditLog,
    run_id: String,
    dry_run: bool,
    /// `seq` of the last audit record pair (`started` + outcome) of this fan-out.
    seq: AtomicUsize,
}

fn sha256_of(path: &Path) -> Result<String> {
    crate::modules::fs::sha256_file(path, &crate::cancel::Cancel::never())
}

fn parse_version(stdout: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(stdout);
    let mut it = s.split_whitespace();
    match (it.next(), it.next()) {
        (Some("runbook"), Some(v)) => Some(v.to_string()),
        _ => None,
    }
}

impl Shared<'_> {
    /// Write the `started` record of `action` on `host` (durably, before anything is done);
    /// returns its `seq` for the outcome record. An error means: do not act.
    fn audit_started(&self, action: &str, host: &str, args: Value) -> Result<u64> {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) as u64 + 1;
        let mut rec = self.audit_record(action, host, "started", args, 0, None);
        rec["seq"] = json!(seq);
        self.audit.append_durable(&rec)?;
        Ok(seq)
    }

    /// Write the outcome record of the action started as `seq`.
    #[allow(clippy::too_many_arguments)]
    fn audit_host(
        &self,
        seq: u64,
        action: &str,
        host: &str,
        outcome: &str,
        args: Value,
        ms: u64,
        err: Option<&str>,
    ) {
        let mut rec = self.audit_record(action, host, outcome, args, ms, err);
        rec["seq"] = json!(seq);
        if let Err(e) = self.audit.append(&rec) {
            eprintln!("runbook: {e}");
        }
    }

    fn audit_record(
        &self,
        action: &str,
        host: &str,
        outcome: &str,
        args: Value,
        ms: u64,
        err: Option<&str>,
    ) -> Value {
        crate::effects::audit_record(
            &crate::effects::AuditWho {
                run_id: &self.run_id,
                runbook: &self.runbook,
                dry_run: self.dry_run,
            },
            action,
            host,
            args,
            outcome,
            ms,
            err,
        )
    }

    /// Copy this binary to `~/.cache/runbook/runbook-SHA16` on the host unless an identical
    /// copy is there; returns the remote command word that runs it.
    fn push_to(
        &self,
        m: &ssh::Master,
        host: &str,
        deadline: Instant,
    ) -> std::result::Result<std::result::Result<String, String>, ssh::Stop> {
        let (sha, exe) = self.exe.as_ref().expect("push has the exe");
        let name = format!("runbook-{}", &sha[..16]);
        let word = format!("\"$HOME/.cache/runbook/{name}\"");
        let verify = |m: &ssh::Master| -> std::result::Result<bool, ssh::Stop> {
            let out = m.exec(&["sha256sum", &word], None, deadline, &self.cancel)?;
            Ok(out.code == Some(0)
                && String::from_utf8_lossy(&out.stdout).starts_with(sha.as_str()))
        };
        if verify(m)? {
            return Ok(Ok(word));
        }
        let t0 = Instant::now();
        let script = format!(
            "umask 077 && d=\"$HOME/.cache/runbook\" && mkdir -p \"$d\" && t=\"$d/.{name}.$$\" && \
             cat > \"$t\" && s=$(sha256sum < \"$t\") && [ \"${{s%% *}}\" = {sha} ] && chmod 700 \"$t\" && \
             mv -f \"$t\" \"$d/{name}\" || {{ rm -f \"$t\"; echo 'push: copy or SHA-256 check failed' >&2; exit 1; }}"
        );
        let file = match std::fs::File::open(exe) {
            Ok(f) => f,
            Err(e) => return Ok(Err(format!("--push: reading {}: {e}", exe.display()))),
        };
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let args =
            json!({"sha256": sha, "bytes": size, "path": format!("~/.cache/runbook/{name}")});
        let seq = match self.audit_started("fleet.push", host, args.clone()) {
            Ok(s) => s,
            Err(e) => return Ok(Err(format!("--push to {host}: not copied: {e}"))),
        };
        let copied = m
            .exec(
                &[&script],
                Some(Box::new(file) as Box<dyn Read + Send>),
                deadline,
                &self.cancel,
            )
            .and_then(|out| Ok((out.code == Some(0) && verify(m)?, out)));
        let ms = t0.elapsed().as_millis() as u64;
        match copied {
            Ok((true, _)) => {
                self.audit_host(seq, "fleet.push", host, "done", args, ms, None);
                Ok(Ok(word))
            }
            Ok((false, out)) => {
                let why = format!("--push to {host} failed: {}", out.reason());
                self.audit_host(seq, "fleet.push", host, "failed", args, ms, Some(&why));
                Ok(Err(why))
            }
            Err(stop) => {
                let why = match stop {
                    ssh::Stop::Timeout => "per-host timeout",
                    ssh::Stop::Interrupted => "Ctrl-C",
                };
                self.audit_host(seq, "fleet.push", host, "interrupted", args, ms, Some(why));
                Err(stop)
            }
        }
    }

    fn run_host(&self, idx: usize, host: &str) -> HostOutcome {
        let t0 = Instant::now();
        let deadline = t0 + self.host_timeout;
        let mut o = HostOutcome {
            host: host.to_string(),
            result: HostResult::Unreachable(String::new()),
            exit_code: EXIT_UNREACHABLE,
            duration_ms: 0,
            interrupted: false,
            timed_out: false,
            pushed: false,
        };
        let stopped = |o: &mut HostOutcome, s: ssh::Stop, phase: &str| {
            let ms = t0.elapsed().as_millis() as u64;
            match s {
                ssh::Stop::Timeout => {
                    o.timed_out = true;
                    o.exit_code = EXIT_UNREACHABLE;
                    o.result = HostResult::Unreachable(format!(
                        "no answer within the per-host timeout of {} s ({phase})",
                        self.host_timeout.as_secs()
                    ));
                }
                ssh::Stop::Interrupted => {
                    o.interrupted = true;
                    o.exit_code = 3;
                    let mut r = made_report(
                        &self.runbook,
                        3,
                        format!("interrupted (Ctrl-C) while {phase}; the runbook did not start"),
                        ms,
                    );
                    r["status"] = json!("interrupted");
                    o.result = HostResult::Report(r);
                }
            }
        };
        // Write-ahead: the fan-out to this host is on record before the host is contacted.
        let seq = match self.audit_started("fleet.run", host, json!({})) {
            Ok(s) => s,
            Err(e) => {
                o.exit_code = 5;
                o.result = HostResult::Report(made_report(
                    &self.runbook,
                    5,
                    format!("not contacted: {e}"),
                    0,
                ));
                return o;
            }
        };
        let socket = self.control_dir.join(format!("h{idx}"));
        let master = match ssh::Master::connect(host, &socket, &self.opts, deadline, &self.cancel) {
            Ok(Ok(m)) => m,
            Ok(Err(reason)) => {
                o.result = HostResult::Unreachable(reason);
                return self.finish(o, t0, seq);
            }
            Err(s) => {
                stopped(&mut o, s, "connecting");
                return self.finish(o, t0, seq);
            }
        };
        // Which runbook does the host run?
        let probe = match master.exec(&["runbook", "--version"], None, deadline, &self.cancel) {
            Ok(p) => p,
            Err(s) => {
                stopped(&mut o, s, "checking the host's runbook version");
                return self.finish(o, t0, seq);
            }
        };
        if probe.code == Some(255) || probe.code.is_none() {
            o.result = HostResult::Unreachable(probe.reason());
            return self.finish(o, t0, seq);
        }
        let mine = env!("CARGO_PKG_VERSION");
        let theirs = if probe.code == Some(0) {
            parse_version(&probe.stdout)
        } else {
            None
        };
        let bin = if theirs.as_deref() == Some(mine) {
            "runbook".to_string()
        } else if self.push {
            match self.push_to(&master, host, deadline) {
                Ok(Ok(word)) => {
                    o.pushed = true;
                    word
                }
                Ok(Err(why)) => {
                    o.exit_code = 5;
                    o.result = HostResult::Report(made_report(
                        &self.runbook,
                        5,
                        why,
                        t0.elapsed().as_millis() as u64,
                    ));
                    return self.finish(o, t0, seq);
                }
                Err(s) => {
                    stopped(&mut o, s, "pushing the binary");
                    return self.finish(o, t0, seq);
                }
            }
        } else {
            let what = match &theirs {
                Some(v) => format!("the host has runbook {v}, this is {mine}"),
                None => format!("no runbook on the host's PATH ({})", probe.reason()),
            };
            o.exit_code = 2;
            o.result = HostResult::Report(made_report(
                &self.runbook,
                2,
                format!("refused: {what}; install {mine} there or pass --push"),
                t0.elapsed().as_millis() as u64,
            ));
            return self.finish(o, t0, seq);
        };
        // Run: the bundle on stdin, then stdin stays open for a cancel line.
        let mut running = match master.spawn(&[&bin, "remote-run"]) {
            Ok(r) => r,
            Err(e) => {
                o.result = HostResult::Unreachable(format!("cannot start ssh: {e}"));
                return self.finish(o, t0, seq);
            }
        };
        let (tx, rx) = mpsc::channel::<()>();
        let stdin = running.stdin.take();
        let line = self.bundle_line.clone();
        let writer = std::thread::spawn(move || {
            if let Some(mut w) = stdin {
                if w.write_all(line.as_bytes())
                    .and_then(|_| w.flush())
                    .is_err()
                {
                    return;
                }
                // Wait for a cancel request (or the end of the run: the sender is dropped).
                if rx.recv().is_ok() {
                    let _ = w.write_all(b"cancel\n").and_then(|_| w.flush());
                    // Keep stdin open for the grace period; the host stops on the line.
                    let _ = rx.recv();
                }
            }
        });
        let out = match running.wait_until(deadline, Some(&self.cancel)) {
            Some(out) => Some(out),
            None => {
                if self.cancel.load(Ordering::SeqCst) {
                    o.interrupted = true;
                } else {
                    o.timed_out = true;
                }
                let _ = tx.send(());
                let got = running.wait_until(Instant::now() + CANCEL_GRACE, None);
                if got.is_none() {
                    running.kill();
                }
                got
            }
        };
        drop(tx);
        let _ = writer.join();
        let ms = t0.elapsed().as_millis() as u64;
        let report = out.as_ref().and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .rev()
                .find(|l| l.trim_start().starts_with('{'))
                .and_then(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|v| v.get("exit_code").is_some())
        });
        match (report, out) {
            (Some(mut r), _) => {
                o.exit_code = r["exit_code"].as_i64().unwrap_or(5) as i32;
                if o.timed_out && r.get("error").is_none() {
                    r["error"] = Value::String(format!(
                        "per-host timeout of {} s",
                        self.host_timeout.as_secs()
                    ));
                }
                o.result = HostResult::Report(r);
            }
            (None, Some(out)) if out.code == Some(255) => {
                o.result = HostResult::Unreachable(format!("connection lost: {}", out.reason()));
            }
            (None, Some(out)) => {
                o.exit_code = 5;
                o.result = HostResult::Report(made_report(
                    &self.runbook,
                    5,
                    format!(
                        "the host sent no report (exit {:?}): {}",
                        out.code,
                        out.reason()
                    ),
                    ms,
                ));
            }
            (None, None) => {
                o.exit_code = 3;
                let why = if o.interrupted {
                    "interrupted (Ctrl-C); the host did not report within the grace period, connection cut".to_string()
                } else {
                    format!(
                        "per-host timeout of {} s; the host did not report within the grace period, connection cut",
                        self.host_timeout.as_secs()
                    )
                };
                let mut r = made_report(&self.runbook, 3, why, ms);
                if o.interrupted {
                    r["status"] = json!("interrupted");
                }
                o.result = HostResult::Report(r);
            }
        }
        drop(running);
        drop(master);
        self.finish(o, t0, seq)
    }

    fn finish(&self, mut o: HostOutcome, t0: Instant, seq: u64) -> HostOutcome {
        o.duration_ms = t0.elapsed().as_millis() as u64;
        let (outcome, err) = match &o.result {
            HostResult::Unreachable(r) => ("failed", Some(format!("unreachable: {r}"))),
            HostResult::Skipped(r) => ("denied", Some(format!("skipped: {r}"))),
            HostResult::Report(r) => {
                let e = r["error"].as_str().map(str::to_string);
                if o.interrupted || o.timed_out {
                    ("interrupted", e)
                } else if o.exit_code == 0 || o.exit_code == 6 || o.exit_code == 1 {
                    ("done", e)
                } else {
                    ("failed", e)
                }
            }
        };
        self.audit_host(
            seq,
            "fleet.run",
            &o.host,
            outcome,
            json!({"exit_code": o.exit_code, "pushed": o.pushed}),
            o.duration_ms,
            err.as_deref(),
        );
        o
    }
}

/// How to fan out.
#[derive(Debug, Clone)]
pub struct FleetRun {
    pub hosts: Vec<String>,
    pub forks: usize,
    pub serial: Option<usize>,
    pub max_fail: Option<usize>,
    pub host_timeout: Duration,
    pub push: bool,
    pub ssh_config: Option<PathBuf>,
}

/// Run `rb` on every host; returns each host's outcome in host order.
///
/// Errors (before any host is contacted): the local audit log cannot be opened, the control
/// socket folder cannot be made, `--push` cannot read this binary.
pub fn fan_out(
    plan: &FleetRun,
    bundle: &bundle::Bundle,
    audit: &AuditLog,
    cancel: Arc<AtomicBool>,
) -> Result<Vec<HostOutcome>> {
    audit.ensure_open()?;
    let control = tempfile::Builder::new()
        .prefix("runbook-ssh-")
        .tempdir()
        .map_err(|e| Error::failed(format!("control socket folder: {e}")))?;
    let exe = if plan.push {
        let p = std::env::current_exe().map_err(|e| Error::failed(format!("--push: {e}")))?;
        Some((sha256_of(&p)?, p))
    } else {
        None
    };
    let shared = Shared {
        bundle_line: format!(
            "{}\n",
            serde_json::to_string(bundle).map_err(|e| Error::failed(e.to_string()))?
        ),
        runbook: bundle.runbook.clone(),
        opts: ssh::SshOptions {
            config: plan.ssh_config.clone(),
            connect_timeout_s: plan.host_timeout.as_secs().clamp(1, 10),
        },
        control_dir: control.path(),
        host_timeout: plan.host_timeout,
        push: plan.push,
        exe,
        cancel: cancel.clone(),
        audit,
        run_id: crate::ctx::new_run_id(),
        dry_run: bundle.dry_run,
        seq: AtomicUsize::new(0),
    };
    let n = plan.hosts.len();
    let results: Vec<Mutex<Option<HostOutcome>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let failed = AtomicUsize::new(0);
    let max_fail = plan.max_fail.unwrap_or(usize::MAX);
    let batch = plan.serial.unwrap_or(n).max(1);
    let skipped = |host: &str, why: &str| HostOutcome {
        host: host.to_string(),
        result: HostResult::Skipped(why.to_string()),
        exit_code: 0,
        duration_ms: 0,
        interrupted: false,
        timed_out: false,
        pushed: false,
    };
    let mut start = 0;
    while start < n {
        let end = (start + batch).min(n);
        let next = AtomicUsize::new(start);
        let workers = plan.forks.max(1).min(end - start);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= end {
                            break;
                        }
                        let host = &plan.hosts[i];
                        let o = if cancel.load(Ordering::SeqCst) {
                            skipped(host, "not started: interrupted (Ctrl-C)")
                        } else if failed.load(Ordering::SeqCst) >= max_fail {
                            skipped(host, "not started: --max-fail reached")
                        } else {
                            let o = shared.run_host(i, host);
                            if o.failed() {
                                failed.fetch_add(1, Ordering::SeqCst);
                            }
                            o
                        };
                        *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(o);
                    }
                });
            }
        });
        start = end;
    }
    Ok(results
        .into_iter()
        .zip(&plan.hosts)
        .map(|(m, h)| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| skipped(h, "not started"))
        })
        .collect())
}

/// The exit code of the whole fan-out: the worst host's (see [`severity`]); skipped hosts
/// do not count.
pub fn worst_exit_code(outcomes: &[HostOutcome]) -> i32 {
    outcomes
        .iter()
        .filter(|o| !matches!(o.result, HostResult::Skipped(_)))
        .map(|o| o.exit_code)
        .max_by_key(|c| severity(*c))
        .unwrap_or(0)
}

/// The merged `--json` document: `{"runbook", "hosts": {NAME: report | {"unreachable": why} |
/// {"skipped": why}}, "summary": {…}}`.
pub fn merged_json(runbook: &str, outcomes: &[HostOutcome], duration_ms: u64) -> Value {
    let mut hosts = serde_json::Map::new();
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let (mut unreachable, mut skipped) = (0, 0);
    for o in outcomes {
        let v = match &o.result {
            HostResult::Report(r) => {
                *by_status
                    .entry(r["status"].as_str().unwrap_or("error").to_string())
                    .or_default() += 1;
                let mut r = r.clone();
                if o.pushed {
                    r["pushed"] = Value::Bool(true);
                }
                r
            }
            HostResult::Unreachable(why) => {
                unreachable += 1;
                json!({"unreachable": why})
            }
            HostResult::Skipped(why) => {
                skipped += 1;
                json!({"skipped": why})
            }
        };
        hosts.insert(o.host.clone(), v);
    }
    let names = |f: &dyn Fn(&HostOutcome) -> bool| -> Vec<String> {
        outcomes
            .iter()
            .filter(|o| f(o))
            .map(|o| o.host.clone())
            .collect()
    };
    json!({
        "runbook": runbook,
        "hosts": hosts,
        "summary": {
            "hosts": outcomes.len(),
            "by_status": by_status,
            "ok": by_status.get("ok").copied().unwrap_or(0),
            "unreachable": unreachable,
            "skipped": skipped,
            "failed_hosts": names(&|o| o.failed()),
            "interrupted": names(&|o| o.interrupted),
            "timed_out": names(&|o| o.timed_out),
            "pushed": names(&|o| o.pushed),
            "exit_code": worst_exit_code(outcomes),
            "duration_ms": duration_ms,
        }
    })
}

/// Human output: one line per host, then its failed and unknown checks, failed or denied
/// effects and error; the summary line goes to `err`.
pub fn render_human(
    runbook: &str,
    outcomes: &[HostOutcome],
    duration_ms: u64,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    let w = outcomes
        .iter()
        .map(|o| o.host.chars().count())
        .max()
        .unwrap_or(0);
    for o in outcomes {
        let pad = " ".repeat(w - o.host.chars().count());
        match &o.result {
            HostResult::Unreachable(why) => writeln!(out, "{}{pad}  unreachable  {why}", o.host)?,
            HostResult::Skipped(why) => writeln!(out, "{}{pad}  skipped      {why}", o.host)?,
            HostResult::Report(r) => {
                let checks = r["checks"].as_array().cloned().unwrap_or_default();
                let effects = r["effects"].as_array().cloned().unwrap_or_default();
                let count = |s: &str| checks.iter().filter(|c| c["status"] == s).count();
                let mut tags = Vec::new();
                if o.pushed {
                    tags.push("pushed");
                }
                if o.interrupted {
                    tags.push("interrupted");
                }
                if o.timed_out {
                    tags.push("timed out");
                }
                let tags = if tags.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", tags.join(", "))
                };
                writeln!(
                    out,
                    "{}{pad}  {:<11}  {} check(s), {} failed, {} unknown, {} effect(s), {} ms{tags}",
                    o.host,
                    r["status"].as_str().unwrap_or("?"),
                    checks.len(),
                    count("failed"),
                    count("unknown"),
                    effects.len(),
                    o.duration_ms
                )?;
                for c in checks.iter().filter(|c| c["status"] != "ok") {
                    let mark = if c["status"] == "failed" { "✗" } else { "?" };
                    writeln!(
                        out,
                        "{}  {mark} {}  {}",
                        " ".repeat(w),
                        c["name"].as_str().unwrap_or(""),
                        c["detail"].as_str().unwrap_or("")
                    )?;
                }
                for e in effects
                    .iter()
                    .filter(|e| !matches!(e["outcome"].as_str(), Some("done") | Some("planned")))
                {
                    writeln!(
                        out,
                        "{}  {} {} {}  {}",
                        " ".repeat(w),
                        e["outcome"].as_str().unwrap_or(""),
                        e["action"].as_str().unwrap_or(""),
                        e["target"].as_str().unwrap_or(""),
                        e["detail"].as_str().unwrap_or("")
                    )?;
                }
                if let Some(e) = r["error"].as_str() {
                    writeln!(out, "{}  error: {e}", " ".repeat(w))?;
                }
            }
        }
    }
    let doc = merged_json(runbook, outcomes, duration_ms);
    let s = &doc["summary"];
    writeln!(
        err,
        "{runbook} on {} host(s): {} ok, {} failed, {} unreachable, {} skipped in {duration_ms} ms — exit {}",
        outcomes.len(),
        s["ok"],
        s["failed_hosts"].as_array().map_or(0, Vec::len)
            - s["unreachable"].as_u64().unwrap_or(0) as usize,
        s["unreachable"],
        s["skipped"],
        s["exit_code"]
    )?;
    Ok(())
}

/// The `runbook run` flags a fleet run uses.
#[derive(Debug, Clone, Copy)]
pub struct CliRun<'a> {
    pub name: &'a str,
    /// `-p KEY=VALUE` as given.
    pub params: &'a [String],
    pub dry_run: bool,
    pub yes: bool,
    pub timeout_s: Option<u64>,
    pub json: bool,
    /// `--wait` (sent to each host).
    pub wait: bool,
}

/// `runbook run NAME --hosts …` from the command line: load the controller's config, find the
/// runbook, fan out. Returns the exit code; an error before any host is contacted is printed
/// (as the one JSON document under `--json`: `{"runbook", "hosts": {}, "summary": {"hosts": 0,
/// "exit_code"}, "error"}`) and gives its own exit code.
pub fn run_cli(
    config: Option<&Path>,
    search: &crate::runbook::SearchPath,
    args: &FleetArgs,
    run: CliRun<'_>,
    cancel: Arc<AtomicBool>,
) -> i32 {
    let result = Config::load(config).and_then(|config| {
        let params = run
            .params
            .iter()
            .map(|p| crate::runbook::runner::parse_kv(p))
            .collect::<Result<Vec<_>>>()?;
        let rb = search.find(run.name)?;
        let resolver = crate::engine::StdlibResolver::new(search.stdlib_path());
        run_command(&config, &resolver, &rb, args, params, run, cancel)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            let code = e.exit_code();
            if run.json {
                let doc = json!({
                    "runbook": run.name,
                    "hosts": {},
                    "summary": {"hosts": 0, "exit_code": code},
                    "error": e.to_string(),
                });
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            } else {
                eprintln!("runbook: {e}");
            }
            code
        }
    }
}

/// `runbook run NAME --hosts …`: expand the hosts, bundle the runbook, fan out, print the
/// merged report, return the worst exit code.
pub fn run_command(
    config: &Config,
    resolver: &crate::engine::StdlibResolver,
    rb: &Runbook,
    args: &FleetArgs,
    params: Vec<(String, String)>,
    run: CliRun<'_>,
    cancel: Arc<AtomicBool>,
) -> Result<i32> {
    let (dry_run, yes, timeout_s, json_out) = (run.dry_run, run.yes, run.timeout_s, run.json);
    let hosts = expand_hosts(args.hosts.as_deref().unwrap_or(""), &config.hosts)?;
    let forks = args.forks.unwrap_or(DEFAULT_FORKS);
    if forks == 0 || args.serial == Some(0) || args.max_fail == Some(0) {
        return Err(Error::Usage(
            "--forks, --serial and --max-fail take a number of hosts ≥ 1".into(),
        ));
    }
    rb.header()?;
    let mut bundle = bundle::build(resolver, rb, params, dry_run, yes, timeout_s)?;
    bundle.wait = run.wait;
    let host_timeout = Duration::from_secs(
        args.host_timeout
            .unwrap_or(timeout_s.unwrap_or(config.policy.timeout_s) + 30)
            .max(1),
    );
    let plan = FleetRun {
        hosts,
        forks,
        serial: args.serial,
        max_fail: args.max_fail,
        host_timeout,
        push: args.push,
        ssh_config: args.ssh_config.clone(),
    };
    let audit = AuditLog::new(config.audit_path());
    let t0 = Instant::now();
    let outcomes = fan_out(&plan, &bundle, &audit, cancel)?;
    let ms = t0.elapsed().as_millis() as u64;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json_out {
        let doc = merged_json(&rb.name, &outcomes, ms);
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        );
    } else {
        let _ = render_human(&rb.name, &outcomes, ms, &mut out, &mut std::io::stderr());
    }
    let _ = out.flush();
    Ok(worst_exit_code(&outcomes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_expand_groups_files_and_refuse_options() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("hosts");
        std::fs::write(&f, "# web tier\nweb3\n\nweb1  # dup\n").unwrap();
        let mut groups = BTreeMap::new();
        groups.insert(
            "web".to_string(),
            vec!["web1".to_string(), "web2".to_string()],
        );
        let got = expand_hosts(&format!("web,@{},db1", f.display()), &groups).unwrap();
        assert_eq!(got, vec!["web1", "web2", "web3", "db1"]);
        let e = expand_hosts("-oProxyCommand=x", &groups).unwrap_err();
        assert!(e.to_string().contains("not a host name"), "{e}");
        assert!(expand_hosts(" , ", &groups).is_err());
        assert!(expand_hosts("@/nonexistent/file", &groups).is_err());
    }

    fn outcome(code: i32, result: HostResult) -> HostOutcome {
        HostOutcome {
            host: format!("h{code}"),
            result,
            exit_code: code,
            duration_ms: 1,
            interrupted: false,
            timed_out: false,
            pushed: false,
        }
    }

    #[test]
    fn worst_exit_code_orders_hosts_and_ignores_skipped() {
        let ok = outcome(0, HostResult::Report(made_report("x", 0, String::new(), 1)));
        let failed = outcome(1, HostResult::Report(made_report("x", 1, String::new(), 1)));
        let unreach = outcome(EXIT_UNREACHABLE, HostResult::Unreachable("down".into()));
        let denied = outcome(4, HostResult::Report(made_report("x", 4, String::new(), 1)));
        let skipped = outcome(2, HostResult::Skipped("max-fail".into()));
        assert_eq!(worst_exit_code(std::slice::from_ref(&ok)), 0);
        assert_eq!(worst_exit_code(&[ok.clone(), failed.clone()]), 1);
        assert_eq!(
            worst_exit_code(&[failed.clone(), unreach.clone()]),
            EXIT_UNREACHABLE
        );
        assert_eq!(worst_exit_code(&[unreach.clone(), denied.clone()]), 4);
        assert_eq!(worst_exit_code(&[ok.clone(), skipped]), 0);
        let doc = merged_json("x", &[ok, unreach], 5);
        assert_eq!(doc["hosts"]["h7"]["unreachable"], "down");
        assert_eq!(doc["summary"]["unreachable"], 1);
        assert_eq!(doc["summary"]["exit_code"], EXIT_UNREACHABLE);
    }
}
