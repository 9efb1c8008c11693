//! systemd: status from `systemctl show -p …`, actions through `systemctl start|stop|restart|reload`.
//!
//! A unit whose start limit was hit (`Result=start-limit-hit`) is reported as such: start and
//! restart fail at once with a message that says so — no retry loop. Only when the inventory
//! sets `allow_reset_failed = true` is `systemctl reset-failed UNIT` run (once) before the action.
//! Calls run with `TZ=UTC` and `LC_ALL=C` so timestamps parse the same everywhere.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use crate::error::{Error, Result};
use crate::policy::ServiceSpec;
use crate::service::{
    Caller, LogFiles, QUOTE_BYTES, ServiceManager, State, Status, fill_from_process_table,
    signal_number,
};

/// The properties read by `status`.
pub const PROPERTIES: &str =
    "LoadState,ActiveState,SubState,MainPID,NRestarts,ExecMainStartTimestamp,Result,MemoryCurrent";

/// What `systemctl show -p PROPERTIES UNIT` says about a unit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UnitInfo {
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    pub main_pid: Option<u32>,
    pub n_restarts: Option<u64>,
    /// `ExecMainStartTimestamp` as seconds since the epoch (UTC), when set.
    pub started_at: Option<i64>,
    pub result: String,
    pub memory_current: Option<u64>,
}

impl UnitInfo {
    /// Whether systemd refuses to start the unit until its start-limit interval passes.
    pub fn start_limit_hit(&self) -> bool {
        self.result == "start-limit-hit"
    }
}

/// Parse `Key=Value` lines of `systemctl show`.
///
/// Errors: no `ActiveState` line (not `systemctl show` output — the start is quoted).
pub fn parse_show(output: &str) -> Result<UnitInfo> {
    let props: HashMap<&str, &str> = output.lines().filter_map(|l| l.split_once('=')).collect();
    if !props.contains_key("ActiveState") {
        let shown = if output.trim().is_empty() {
            "<empty>".to_string()
        } else {
            crate::redact::quote(output.trim(), QUOTE_BYTES)
        };
        return Err(Error::failed(format!(
            "systemctl show: no ActiveState in the output: {shown}"
        )));
    }
    let get = |k: &str| props.get(k).map(|s| s.trim()).unwrap_or("");
    // "[not set]" and "" mean unknown; MemoryCurrent may also be the u64 max "infinity" marker.
    let num = |k: &str| get(k).parse::<u64>().ok().filter(|n| *n != u64::MAX);
    Ok(UnitInfo {
        load_state: get("LoadState").to_string(),
        active_state: get("ActiveState").to_string(),
        sub_state: get("SubState").to_string(),
        main_pid: num("MainPID")
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0),
        n_restarts: num("NRestarts"),
        started_at: parse_timestamp(get("ExecMainStartTimestamp")),
        result: get("Result").to_string(),
        memory_current: num("MemoryCurrent"),
    })
}

/// `Mon 2024-03-11 08:02:11 UTC` → epoch seconds. Only UTC is accepted (calls set `TZ=UTC`).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let mut parts = s.split_whitespace();
    let _weekday = parts.next()?;
    let date = parts.next()?;
    let time = parts.next()?;
    let zone = parts.next()?;
    if !matches!(zone, "UTC" | "GMT") {
        return None;
    }
    NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

/// Map systemd's states onto [`State`].
pub fn state_of(info: &UnitInfo) -> State {
    match info.active_state.as_str() {
        "active" | "reloading" => State::Online,
        "inactive" => State::Stopped,
        "failed" => State::Errored,
        "activating" => State::Starting,
        "deactivating" => State::Stopping,
        _ => State::Unknown,
    }
}

/// The status of service `name` from a unit's properties at `now` (epoch seconds).
pub fn status_from(name: &str, info: &UnitInfo, now: i64) -> Status {
    let state = state_of(info);
    let mut detail = format!("{}/{}", info.active_state, info.sub_state);
    if !info.result.is_empty() && info.result != "success" {
        detail.push_str(&format!(" (result: {})", info.result));
    }
    let running = matches!(state, State::Online | State::Stopping);
    Status {
        name: name.to_string(),
        manager: "systemd".into(),
        state,
        pid: if running { info.main_pid } else { None },
        uptime_s: if running {
            info.started_at.map(|t| now.saturating_sub(t).max(0) as u64)
        } else {
            None
        },
        restarts: info.n_restarts,
        cpu: 0.0,
        memory: if running {
            info.memory_current.unwrap_or(0)
        } else {
            0
        },
        detail,
    }
}

/// The systemd manager for one service.
pub struct Systemd {
    name: String,
    unit: String,
    bin: String,
    allow_reset_failed: bool,
    logs: LogFiles,
    caller: Caller,
}

impl Systemd {
    /// Unit from `unit` (default: the inventory name), `systemctl` from `bin`.
    pub fn new(name: &str, spec: &ServiceSpec, mut caller: Caller) -> Self {
        for (k, v) in [
            ("TZ", "UTC"),
            ("LC_ALL", "C"),
            ("SYSTEMD_PAGER", ""),
            ("SYSTEMD_COLORS", "0"),
        ] {
            caller.env.push((k.into(), v.into()));
        }
        Systemd {
            name: name.to_string(),
            unit: spec.unit.clone().unwrap_or_else(|| name.to_string()),
            bin: spec.bin.clone().unwrap_or_else(|| "systemctl".into()),
            allow_reset_failed: spec.allow_reset_failed,
            logs: LogFiles {
                out: spec.logs.first().cloned(),
                err: spec.error_logs.first().cloned(),
            },
            caller,
        }
    }

    /// The unit's properties.
    pub fn info(&self) -> Result<UnitInfo> {
        let out = self
            .caller
            .call_ok(&self.bin, &["show", "-p", PROPERTIES, &self.unit])?;
        let info = parse_show(&out.stdout)?;
        if info.load_state == "not-found" {
            return Err(Error::failed(format!(
                "systemd unit {:?} not found (LoadState=not-found)",
                self.unit
            )));
        }
        Ok(info)
    }

    fn limit_error(&self) -> Error {
        Error::failed(format!(
            "systemd unit {u:?} hit its start limit (Result=start-limit-hit): systemd refuses to start it until the \
             start-limit interval passes; `systemctl reset-failed {u}` clears it (set allow_reset_failed = true in \
             services.{n} to let runbook do that)",
            u = self.unit,
            n = self.name
        ))
    }

    /// Start or restart, honouring the start limit.
    fn start_like(&self, verb: &str) -> Result<()> {
        if self.info()?.start_limit_hit() {
            if !self.allow_reset_failed {
                return Err(self.limit_error());
            }
            self.caller
                .call_ok(&self.bin, &["reset-failed", &self.unit])?;
        }
        match self
            .caller
            .call_ok(&self.bin, &["--no-ask-password", verb, &self.unit])
        {
            Ok(_) => Ok(()),
            Err(e) => {
                // The failed start may itself have hit the limit: say so rather than echo systemd.
                if self.info().map(|i| i.start_limit_hit()).unwrap_or(false) {
                    Err(self.limit_error())
                } else {
                    Err(e)
                }
            }
        }
    }
}

impl ServiceManager for Systemd {
    fn kind(&self) -> &'static str {
        "systemd"
    }

    fn status(&self) -> Result<Status> {
        let info = self.info()?;
        let mut st = status_from(&self.name, &info, chrono::Utc::now().timestamp());
        fill_from_process_table(&mut st);
        Ok(st)
    }

    fn start(&self) -> Result<()> {
        self.start_like("start")
    }

    fn stop(&self) -> Result<()> {
        self.caller
            .call_ok(&self.bin, &["--no-ask-password", "stop", &self.unit])
            .map(|_| ())
    }

    fn restart(&self) -> Result<()> {
        self.start_like("restart")
    }

    fn reload(&self) -> Result<()> {
        self.caller
            .call_ok(&self.bin, &["--no-ask-password", "reload", &self.unit])
            .map(|_| ())
    }

    fn signal(&self, sig: &str) -> Result<()> {
        let (name, _) = signal_number(sig)?;
        // `--kill-who` is accepted by old and new systemd (252 renamed it `--kill-whom`).
        self.caller
            .call_ok(
                &self.bin,
                &[
                    "--no-ask-password",
                    "kill",
                    "--kill-who=main",
                    "-s",
                    &name,
                    &self.unit,
                ],
            )
            .map(|_| ())
    }

    fn log_files(&self) -> Result<LogFiles> {
        Ok(self.logs.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn fixture(name: &str) -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/systemd")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn active_unit() {
        let info = parse_show(&fixture("active.txt")).unwrap();
        assert_eq!(info.main_pid, Some(812));
        assert_eq!(info.n_restarts, Some(2));
        assert_eq!(info.memory_current, Some(48_234_496));
        let st = status_from("web", &info, info.started_at.unwrap() + 3600);
        assert_eq!(st.state, State::Online);
        assert_eq!(st.uptime_s, Some(3600));
        assert_eq!(st.restarts, Some(2));
        assert_eq!(st.detail, "active/running");
    }

    #[test]
    fn timestamps_are_utc() {
        assert_eq!(
            parse_timestamp("Mon 2024-03-11 08:02:11 UTC"),
            Some(1_710_144_131)
        );
        assert_eq!(parse_timestamp("Mon 2024-03-11 08:02:11 CET"), None);
        assert_eq!(parse_timestamp(""), None);
        assert_eq!(parse_timestamp("n/a"), None);
    }

    #[test]
    fn start_limit_hit_is_reported() {
        let info = parse_show(&fixture("start-limit-hit.txt")).unwrap();
        assert!(info.start_limit_hit());
        let st = status_from("web", &info, 0);
        assert_eq!(st.state, State::Errored);
        assert_eq!(st.pid, None);
        assert!(st.detail.contains("start-limit-hit"), "{}", st.detail);
    }

    #[test]
    fn other_states() {
        let st = status_from("web", &parse_show(&fixture("inactive.txt")).unwrap(), 0);
        assert_eq!((st.state, st.pid, st.memory), (State::Stopped, None, 0));
        let st = status_from("web", &parse_show(&fixture("auto-restart.txt")).unwrap(), 0);
        assert_eq!(st.state, State::Starting);
        assert!(
            st.detail.contains("auto-restart") && st.detail.contains("exit-code"),
            "{}",
            st.detail
        );
        let info = parse_show(&fixture("not-found.txt")).unwrap();
        assert_eq!(info.load_state, "not-found");
    }

    #[test]
    fn not_show_output_is_an_error_quoting_it() {
        let err = parse_show(
            "System has not been booted with systemd as init system (PID 1). Can't operate.\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not been booted with systemd"), "{err}");
    }

    /// A fake `systemctl` in `dir` (with copies of the recordings) whose unit starts in `state`.
    fn fake_systemctl(dir: &Path, state: &str, start_fails: bool) -> PathBuf {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/systemd");
        for entry in std::fs::read_dir(&src).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
        std::fs::copy(src.join(state), dir.join("state.txt")).unwrap();
        if start_fails {
            std::fs::copy(src.join("start-limit-hit.stderr"), dir.join("start-fails")).unwrap();
        }
        dir.join("fake-systemctl")
    }

    fn manager(bin: &Path, allow_reset_failed: bool) -> Systemd {
        let spec = ServiceSpec {
            manager: "systemd".into(),
            unit: Some("lowcode-platform.service".into()),
            bin: Some(bin.to_string_lossy().into_owned()),
            allow_reset_failed,
            ..ServiceSpec::default()
        };
        Systemd::new(
            "web",
            &spec,
            Caller::new(&spec, &crate::cancel::Cancel::never()),
        )
    }

    fn calls(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("calls")).unwrap_or_default()
    }

    #[test]
    fn fake_systemctl_status_and_restart() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_systemctl(dir.path(), "active.txt", false);
        let m = manager(&bin, false);
        let st = m.status().unwrap();
        assert_eq!(st.state, State::Online);
        m.restart().unwrap();
        m.signal("USR2").unwrap();
        let c = calls(dir.path());
        assert!(
            c.contains(&format!("show -p {PROPERTIES} lowcode-platform.service")),
            "{c}"
        );
        assert!(
            c.contains("--no-ask-password restart lowcode-platform.service"),
            "{c}"
        );
        assert!(
            c.contains("kill --kill-who=main -s SIGUSR2 lowcode-platform.service"),
            "{c}"
        );
    }

    #[test]
    fn start_limit_blocks_without_retry_unless_reset_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_systemctl(dir.path(), "start-limit-hit.txt", true);
        let m = manager(&bin, false);
        let err = m.restart().unwrap_err().to_string();
        assert!(
            err.contains("start limit") && err.contains("allow_reset_failed"),
            "{err}"
        );
        let c = calls(dir.path());
        assert!(
            !c.contains("restart") && !c.contains("reset-failed"),
            "no action, no retry: {c}"
        );

        // Allowed: one reset-failed, then one restart (the fake then reports active).
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_systemctl(dir.path(), "start-limit-hit.txt", false);
        let m = manager(&bin, true);
        m.restart().unwrap();
        let c = calls(dir.path());
        assert_eq!(
            c.matches("reset-failed lowcode-platform.service").count(),
            1,
            "{c}"
        );
        assert_eq!(c.matches("--no-ask-password restart").count(), 1, "{c}");
    }

    #[test]
    fn a_start_that_hits_the_limit_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_systemctl(dir.path(), "auto-restart.txt", true);
        let m = manager(&bin, false);
        let err = m.start().unwrap_err().to_string();
        assert!(err.contains("hit its start limit"), "{err}");
        assert_eq!(
            calls(dir.path()).matches("--no-ask-password start").count(),
            1
        );
    }

    #[test]
    fn unknown_unit_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_systemctl(dir.path(), "not-found.txt", false);
        let err = manager(&bin, false).status().unwrap_err().to_string();
        assert!(err.contains("not found"), "{err}");
    }
}
