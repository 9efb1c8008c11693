//! The host side of a fleet run: `runbook remote-run` (hidden) reads one [`Bundle`] line on
//! stdin, runs it under THIS host's own `runbook.toml`, and prints one JSON report line.
//!
//! * Config: the login's home is made the working directory, then the usual lookup applies
//!   (`./runbook.toml`, then `$RUNBOOK_CONFIG_DIR` / `~/.config/runbook/runbook.toml`, then the
//!   built-in default). Nothing in the bundle names a config, a policy or an environment.
//! * Timeout: the smaller of the bundle's `timeout_s` and the policy's `timeout_s`.
//! * Cancellation: after the bundle line, stdin stays open. A `cancel` line, or end of input
//!   (the controller or its ssh went away), stops the run as Ctrl-C would (exit 3, effects in
//!   flight audited `interrupted`) — so killing the controller's ssh stops the host's run.
//! * The effects are audited in this host's audit log, as in a local run.

use std::io::{BufRead, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::engine::StdlibPath;
use crate::error::{Error, Result};
use crate::fleet::bundle::{self, Bundle};
use crate::policy::Config;
use crate::report::{Report, Status};
use crate::runbook::Runbook;
use crate::runbook::runner::{self, RunOptions};

/// Read the first line of `input`, at most `max` bytes. Errors: too long, not UTF-8, empty.
pub fn read_bundle_line(input: &mut impl BufRead, max: usize) -> Result<String> {
    let mut buf = Vec::new();
    let n = input
        .take(max as u64 + 1)
        .read_until(b'\n', &mut buf)
        .map_err(|e| Error::failed(format!("reading the bundle on stdin: {e}")))?;
    if n == 0 {
        return Err(Error::Usage("remote-run: no bundle on stdin".into()));
    }
    if buf.last() != Some(&b'\n') && buf.len() > max {
        return Err(Error::Usage(format!(
            "remote-run: bundle longer than {max} bytes"
        )));
    }
    String::from_utf8(buf).map_err(|_| Error::Usage("remote-run: bundle is not UTF-8".into()))
}

/// Parse and check a bundle line: format, version and module names.
pub fn parse_bundle(line: &str) -> Result<Bundle> {
    let b: Bundle = serde_json::from_str(line.trim_end())
        .map_err(|e| Error::Usage(format!("remote-run: bad bundle: {e}")))?;
    if b.format != bundle::FORMAT {
        return Err(Error::Usage(format!(
            "remote-run: bundle format {} (this host reads {})",
            b.format,
            bundle::FORMAT
        )));
    }
    let mine = env!("CARGO_PKG_VERSION");
    if b.version != mine {
        return Err(Error::Usage(format!(
            "remote-run: controller runbook {} differs from this host's {mine} (use --push)",
            b.version
        )));
    }
    if !bundle::valid_module_name(&b.runbook) {
        return Err(Error::Usage(format!(
            "remote-run: bad runbook name {:?}",
            b.runbook
        )));
    }
    if let Some(bad) = b.modules.keys().find(|m| !bundle::valid_module_name(m)) {
        return Err(Error::Usage(format!("remote-run: bad module name {bad:?}")));
    }
    Ok(b)
}

/// Run the bundle read from stdin; prints one JSON line and returns the exit code.
pub fn main(cancel: Arc<AtomicBool>) -> i32 {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let report = match read_bundle_line(&mut input, bundle::MAX_BUNDLE_BYTES)
        .and_then(|l| parse_bundle(&l))
    {
        Ok(b) => {
            drop(input);
            // Watch the rest of stdin: a `cancel` line or EOF stops the run.
            let flag = cancel.clone();
            std::thread::spawn(move || {
                let stdin = std::io::stdin();
                let mut line = String::new();
                let mut lock = stdin.lock();
                loop {
                    line.clear();
                    match (&mut lock).take(4096).read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if line.trim() == "cancel" => break,
                        Ok(_) => {}
                    }
                }
                flag.store(true, Ordering::SeqCst);
            });
            run_bundle(b, cancel)
        }
        Err(e) => error_report("", e),
    };
    let out = std::io::stdout();
    let mut out = out.lock();
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string(&report.to_json()).unwrap_or_default()
    );
    let _ = out.flush();
    report.exit_code
}

fn error_report(runbook: &str, e: Error) -> Report {
    Report {
        runbook: runbook.to_string(),
        started: crate::timefmt::now_rfc3339(),
        exit_code: e.exit_code(),
        status: Status::from_exit_code(e.exit_code()),
        error: Some(e.to_string()),
        ..Default::default()
    }
}

/// Run one parsed bundle under this host's own config (see the module docs).
pub fn run_bundle(b: Bundle, cancel: Arc<AtomicBool>) -> Report {
    if let Some(home) = std::env::var_os("HOME") {
        let _ = std::env::set_current_dir(home);
    }
    let config = match Config::load(None) {
        Ok(c) => c,
        Err(e) => return error_report(&b.runbook, e),
    };
    let dir = match tempfile::Builder::new().prefix("runbook-bundle-").tempdir() {
        Ok(d) => d,
        Err(e) => return error_report(&b.runbook, Error::failed(format!("temp folder: {e}"))),
    };
    for (name, text) in &b.modules {
        let p = dir.path().join(format!("{name}.rhai"));
        if let Err(e) = std::fs::write(&p, text) {
            return error_report(&b.runbook, Error::io("writing module", &p, e));
        }
    }
    let rb = Runbook {
        name: b.runbook.clone(),
        // A `<…>` display path makes imports resolve through the bundle folder only.
        display_path: format!("<bundle>/{}.rhai", b.runbook),
        path: None,
        source: b.source,
        origin: "bundle".into(),
    };
    let policy_timeout = config.policy.timeout_s;
    let timeout = b
        .timeout_s
        .map_or(policy_timeout, |t| t.min(policy_timeout));
    let opts = RunOptions {
        params: b.params,
        dry_run: b.dry_run,
        yes: b.yes,
        timeout_s: Some(timeout),
        echo: false,
        cancel_flag: cancel,
        wait: b.wait,
    };
    let stdlib = StdlibPath {
        dirs: vec![dir.path().to_path_buf()],
    };
    runner::run(Arc::new(config), stdlib, rb, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_line_is_bounded() {
        let mut r = std::io::Cursor::new(b"x".repeat(100));
        let e = read_bundle_line(&mut r, 10).unwrap_err();
        assert!(e.to_string().contains("longer than 10"), "{e}");
        let mut r = std::io::Cursor::new(b"{}\ncancel\n".to_vec());
        assert_eq!(read_bundle_line(&mut r, 10).unwrap(), "{}\n");
        let mut r = std::io::Cursor::new(Vec::new());
        assert!(read_bundle_line(&mut r, 10).is_err());
    }

    #[test]
    fn refuses_other_versions_and_bad_names() {
        let mut b = Bundle {
            format: bundle::FORMAT,
            version: "0.0.0-other".into(),
            runbook: "x".into(),
            source: "1;".into(),
            modules: Default::default(),
            params: vec![],
            dry_run: false,
            yes: false,
            timeout_s: None,
            wait: false,
        };
        let e = parse_bundle(&serde_json::to_string(&b).unwrap()).unwrap_err();
        assert!(e.to_string().contains("differs"), "{e}");
        b.version = env!("CARGO_PKG_VERSION").into();
        b.modules.insert("../evil".into(), String::new());
        let e = parse_bundle(&serde_json::to_string(&b).unwrap()).unwrap_err();
        assert!(e.to_string().contains("bad module name"), "{e}");
    }
}
