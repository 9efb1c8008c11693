//! supervisor: status from `supervisorctl status NAME`, actions through
//! `supervisorctl start|stop|restart|signal`.
//!
//! supervisorctl's exit codes cannot be trusted on their own (`stop` of a stopped program
//! prints `ERROR (not running)` and exits 0), so its text decides: `status` exits 3 for a
//! program that is not running (LSB) and that is a state, not a failure; any `ERROR (` in the
//! output is a failure whatever the exit code — except the two that mean the wanted state
//! already holds: `ERROR (already started)` for start and `ERROR (not running)` for stop.
//! `supervisor_config` from the inventory is passed as `-c FILE`.

use std::sync::LazyLock;

use regex::Regex;

use crate::error::{Error, Result};
use crate::policy::ServiceSpec;
use crate::proc::Output;
use crate::service::{
    Caller, LogFiles, QUOTE_BYTES, ServiceManager, State, Status, command_line,
    fill_from_process_table, signal_number,
};

static STATUS_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(\S+)\s+(RUNNING|STOPPED|STARTING|BACKOFF|STOPPING|EXITED|FATAL|UNKNOWN)\b\s*(.*)$",
    )
    .expect("static regex")
});
static PID_UPTIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"pid (\d+), uptime (?:(\d+) days?, )?(\d+):(\d{2}):(\d{2})").expect("static regex")
});

/// One `supervisorctl status` line.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramStatus {
    pub name: String,
    pub state: String,
    pub pid: Option<u32>,
    pub uptime_s: Option<u64>,
    pub description: String,
}

/// Parse `supervisorctl status NAME` output (exit code `code`).
///
/// Errors: `ERROR (` in the text (`no such process`, connection problems), an exit code other
/// than 0 or 3, or no status line — each quoting the output.
pub fn parse_status(output: &str, code: i32) -> Result<ProgramStatus> {
    let text = output.trim();
    let quote = || {
        if text.is_empty() {
            "<empty>".to_string()
        } else {
            crate::redact::quote(text, QUOTE_BYTES)
        }
    };
    if text.contains("ERROR (") {
        return Err(Error::failed(format!("supervisorctl status: {}", quote())));
    }
    if code != 0 && code != 3 {
        return Err(Error::failed(format!(
            "supervisorctl status: exit code {code}: {}",
            quote()
        )));
    }
    let caps = text
        .lines()
        .find_map(|l| STATUS_LINE.captures(l.trim()))
        .ok_or_else(|| {
            Error::failed(format!(
                "supervisorctl status: no status line in: {}",
                quote()
            ))
        })?;
    let description = caps[3].trim().to_string();
    let (pid, uptime_s) = match PID_UPTIME.captures(&description) {
        Some(c) => {
            let n = |i: usize| {
                c.get(i)
                    .and_then(|m| m.as_str().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            (
                c[1].parse().ok(),
                Some(n(2) * 86_400 + n(3) * 3600 + n(4) * 60 + n(5)),
            )
        }
        None => (None, None),
    };
    Ok(ProgramStatus {
        name: caps[1].to_string(),
        state: caps[2].to_string(),
        pid,
        uptime_s,
        description,
    })
}

/// Map supervisor's process states onto [`State`].
pub fn state_of(supervisor_state: &str) -> State {
    match supervisor_state {
        "RUNNING" => State::Online,
        "STOPPED" | "EXITED" => State::Stopped,
        "STARTING" | "BACKOFF" => State::Starting,
        "STOPPING" => State::Stopping,
        "FATAL" => State::Errored,
        _ => State::Unknown,
    }
}

/// Check the output of an action (`start`, `stop`, `restart`, `signal`): `ERROR (` is a failure
/// whatever the exit code, except `ok_error` (the wanted state already holds).
pub fn check_action(what: &str, out: &Output, ok_error: Option<&str>) -> Result<()> {
    let text = format!("{}{}", out.stdout, out.stderr);
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("ERROR (")).collect();
    let tolerated = |l: &&str| ok_error.is_some_and(|e| l.contains(&format!("ERROR ({e})")));
    if errors.iter().any(|l| !tolerated(l)) || (errors.is_empty() && out.code != 0) {
        return Err(Error::failed(format!(
            "`{}` failed: {}",
            crate::redact::redact(what),
            out.failure_summary(QUOTE_BYTES)
        )));
    }
    Ok(())
}

/// The supervisor manager for one service.
pub struct Supervisor {
    name: String,
    program: String,
    bin: String,
    config: Option<String>,
    logs: LogFiles,
    caller: Caller,
}

impl Supervisor {
    /// Program from `unit` (default: the inventory name), `supervisorctl` from `bin`,
    /// `-c supervisor_config` when set.
    pub fn new(name: &str, spec: &ServiceSpec, caller: Caller) -> Self {
        Supervisor {
            name: name.to_string(),
            program: spec.unit.clone().unwrap_or_else(|| name.to_string()),
            bin: spec.bin.clone().unwrap_or_else(|| "supervisorctl".into()),
            config: spec
                .supervisor_config
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
            logs: LogFiles {
                out: spec.logs.first().cloned(),
                err: spec.error_logs.first().cloned(),
            },
            caller,
        }
    }

    fn args<'a>(&'a self, rest: &[&'a str]) -> Vec<&'a str> {
        let mut v = Vec::new();
        if let Some(c) = &self.config {
            v.push("-c");
            v.push(c.as_str());
        }
        v.extend_from_slice(rest);
        v
    }

    fn act(&self, rest: &[&str], ok_error: Option<&str>) -> Result<()> {
        let args = self.args(rest);
        let out = self.caller.call(&self.bin, &args)?;
        check_action(&command_line(&self.bin, &args), &out, ok_error)
    }
}

impl ServiceManager for Supervisor {
    fn kind(&self) -> &'static str {
        "supervisor"
    }

    fn status(&self) -> Result<Status> {
        let out = self
            .caller
            .call(&self.bin, &self.args(&["status", &self.program]))?;
        let text = format!("{}{}", out.stdout, out.stderr);
        let ps = parse_status(&text, out.code)?;
        let state = state_of(&ps.state);
        let mut st = Status::new(&self.name, "supervisor", state);
        st.pid = if state == State::Online { ps.pid } else { None };
        st.uptime_s = ps.uptime_s;
        st.detail = if ps.description.is_empty() {
            ps.state.clone()
        } else {
            format!("{}: {}", ps.state, crate::redact::redact(&ps.description))
        };
        fill_from_process_table(&mut st);
        Ok(st)
    }

    fn start(&self) -> Result<()> {
        self.act(&["start", &self.program], Some("already started"))
    }

    fn stop(&self) -> Result<()> {
        self.act(&["stop", &self.program], Some("not running"))
    }

    fn restart(&self) -> Result<()> {
        // `restart` stops (maybe "not running") then starts: a stopped program is just started.
        self.act(&["restart", &self.program], Some("not running"))
    }

    fn reload(&self) -> Result<()> {
        Err(Error::failed(format!(
            "supervisor has no reload for program {:?}: use service::restart, or service::signal(\"{}\", \"SIGHUP\") if the program reloads on SIGHUP",
            self.program, self.name
        )))
    }

    fn signal(&self, sig: &str) -> Result<()> {
        let (name, _) = signal_number(sig)?;
        self.act(&["signal", &name, &self.program], None)
    }

    fn log_files(&self) -> Result<LogFiles> {
        Ok(self.logs.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(code: i32, stdout: &str) -> Output {
        Output {
            code,
            signal: None,
            stdout: stdout.into(),
            stderr: String::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            duration_ms: 1,
            timed_out: false,
        }
    }

    // Lines recorded from supervisor 4.3.0.
    #[test]
    fn running_with_pid_and_uptime() {
        let ps = parse_status(
            "web                              RUNNING   pid 23010, uptime 0:00:03\n",
            0,
        )
        .unwrap();
        assert_eq!(
            (ps.name.as_str(), ps.state.as_str(), ps.pid, ps.uptime_s),
            ("web", "RUNNING", Some(23010), Some(3))
        );
        let ps = parse_status("web  RUNNING   pid 7, uptime 2 days, 1:02:03\n", 0).unwrap();
        assert_eq!(ps.uptime_s, Some(2 * 86_400 + 3723));
        let ps = parse_status("grp:web  RUNNING   pid 7, uptime 1 day, 0:00:01\n", 0).unwrap();
        assert_eq!((ps.name.as_str(), ps.uptime_s), ("grp:web", Some(86_401)));
    }

    #[test]
    fn exit_3_is_a_state_not_a_failure() {
        let ps = parse_status(
            "web                              STOPPED   Nov 29 10:24 AM\n",
            3,
        )
        .unwrap();
        assert_eq!(state_of(&ps.state), State::Stopped);
        assert_eq!(ps.pid, None);
        let ps = parse_status("crashy                           FATAL     Exited too quickly (process log may have details)\n", 3)
            .unwrap();
        assert_eq!(state_of(&ps.state), State::Errored);
        assert!(ps.description.contains("Exited too quickly"));
        assert_eq!(state_of("BACKOFF"), State::Starting);
    }

    #[test]
    fn errors_in_the_text_fail_whatever_the_code() {
        let err = parse_status("nope: ERROR (no such process)\n", 4)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such process"), "{err}");
        let err = parse_status("nope: ERROR (no such process)\n", 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such process"), "{err}");
        let err = parse_status("unix:///tmp/sv/nosock no such file\n", 4)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such file"), "{err}");
        let err = parse_status("", 0).unwrap_err().to_string();
        assert!(err.contains("<empty>"), "{err}");
    }

    #[test]
    fn actions() {
        assert!(check_action("start", &out(0, "web: started\n"), None).is_ok());
        // Recorded: `stop` of a stopped program exits 0 with an ERROR.
        let e = check_action("signal", &out(0, "web: ERROR (not running)\n"), None).unwrap_err();
        assert!(e.to_string().contains("not running"), "{e}");
        assert!(
            check_action(
                "stop",
                &out(0, "web: ERROR (not running)\n"),
                Some("not running")
            )
            .is_ok()
        );
        assert!(
            check_action(
                "start",
                &out(0, "web: ERROR (already started)\n"),
                Some("already started")
            )
            .is_ok()
        );
        let e = check_action(
            "start",
            &out(7, "crashy: ERROR (spawn error)\n"),
            Some("already started"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("spawn error"), "{e}");
        assert!(check_action("x", &out(2, ""), None).is_err());
    }
}
