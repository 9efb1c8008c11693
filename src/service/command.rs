//! command: a service controlled by argv lists from the inventory (`status_cmd`, `start_cmd`,
//! `stop_cmd`, `restart_cmd`, `reload_cmd`), run without a shell in the service's `workdir`.
//!
//! `status_cmd` follows the LSB convention of init scripts: exit 0 running, 3 not running,
//! 1 or 2 dead (errored), anything else unknown. A pid is taken from its output when it prints
//! one (`pid 1234`, `pid=1234`, `PID: 1234` or a line that is only a number). `restart` without
//! `restart_cmd` is `stop_cmd` then `start_cmd`.

use std::sync::LazyLock;

use regex::Regex;

use crate::error::{Error, Result};
use crate::policy::ServiceSpec;
use crate::service::{
    Caller, LogFiles, ServiceManager, State, Status, fill_from_process_table, kill_pid,
    signal_number,
};

static PID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?im)(?:\bpid\b\s*[:=]?\s*(\d+))|^\s*(\d+)\s*$").expect("static regex")
});

/// Map a `status_cmd` exit code onto [`State`] (LSB init-script convention).
pub fn state_of_code(code: i32) -> State {
    match code {
        0 => State::Online,
        3 => State::Stopped,
        1 | 2 => State::Errored,
        _ => State::Unknown,
    }
}

/// The first pid printed in `text`, if any.
pub fn pid_in(text: &str) -> Option<u32> {
    let c = PID.captures(text)?;
    c.get(1)
        .or_else(|| c.get(2))?
        .as_str()
        .parse()
        .ok()
        .filter(|p| *p > 0)
}

/// The command manager for one service.
pub struct CommandManager {
    name: String,
    status_cmd: Option<Vec<String>>,
    start_cmd: Option<Vec<String>>,
    stop_cmd: Option<Vec<String>>,
    restart_cmd: Option<Vec<String>>,
    reload_cmd: Option<Vec<String>>,
    logs: LogFiles,
    caller: Caller,
}

impl CommandManager {
    /// Commands from the inventory; they run in `workdir` when it is set.
    pub fn new(name: &str, spec: &ServiceSpec, mut caller: Caller) -> Self {
        caller.cwd = spec.workdir.clone();
        CommandManager {
            name: name.to_string(),
            status_cmd: spec.status_cmd.clone(),
            start_cmd: spec.start_cmd.clone(),
            stop_cmd: spec.stop_cmd.clone(),
            restart_cmd: spec.restart_cmd.clone(),
            reload_cmd: spec.reload_cmd.clone(),
            logs: LogFiles {
                out: spec.logs.first().cloned(),
                err: spec.error_logs.first().cloned(),
            },
            caller,
        }
    }

    fn argv<'a>(&self, key: &str, cmd: &'a Option<Vec<String>>) -> Result<(&'a str, Vec<&'a str>)> {
        let v = cmd.as_ref().ok_or_else(|| {
            Error::failed(format!(
                "services.{}.{key} is not set in the inventory",
                self.name
            ))
        })?;
        let (program, args) = v.split_first().ok_or_else(|| {
            Error::failed(format!("services.{}.{key} is an empty list", self.name))
        })?;
        Ok((program.as_str(), args.iter().map(String::as_str).collect()))
    }

    fn run_ok(&self, key: &str, cmd: &Option<Vec<String>>) -> Result<()> {
        let (program, args) = self.argv(key, cmd)?;
        self.caller.call_ok(program, &args).map(|_| ())
    }
}

impl ServiceManager for CommandManager {
    fn kind(&self) -> &'static str {
        "command"
    }

    fn status(&self) -> Result<Status> {
        let (program, args) = self.argv("status_cmd", &self.status_cmd)?;
        let out = self.caller.call(program, &args)?;
        let state = state_of_code(out.code);
        let mut st = Status::new(&self.name, "command", state);
        if state == State::Online {
            st.pid = pid_in(&out.stdout);
        }
        let first = out
            .stdout
            .lines()
            .chain(out.stderr.lines())
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        st.detail = format!(
            "status_cmd exit {}{}",
            out.code,
            if first.is_empty() {
                String::new()
            } else {
                format!(": {}", crate::redact::quote(first.trim(), 200))
            }
        );
        fill_from_process_table(&mut st);
        Ok(st)
    }

    fn start(&self) -> Result<()> {
        self.run_ok("start_cmd", &self.start_cmd)
    }

    fn stop(&self) -> Result<()> {
        self.run_ok("stop_cmd", &self.stop_cmd)
    }

    fn restart(&self) -> Result<()> {
        if self.restart_cmd.is_some() {
            return self.run_ok("restart_cmd", &self.restart_cmd);
        }
        if self.stop_cmd.is_none() || self.start_cmd.is_none() {
            return Err(Error::failed(format!(
                "services.{}: set restart_cmd, or both stop_cmd and start_cmd",
                self.name
            )));
        }
        self.stop()?;
        self.start()
    }

    fn reload(&self) -> Result<()> {
        self.run_ok("reload_cmd", &self.reload_cmd)
    }

    fn signal(&self, sig: &str) -> Result<()> {
        let (_, n) = signal_number(sig)?;
        let st = self.status()?;
        let pid = st.pid.ok_or_else(|| {
            Error::failed(format!(
                "service {:?}: status_cmd printed no pid ({}), cannot signal it",
                self.name, st.detail
            ))
        })?;
        kill_pid(pid, n)
    }

    fn log_files(&self) -> Result<LogFiles> {
        Ok(self.logs.clone())
    }

    /// The inventory has the command(s) for `verb`, and each program can be started.
    fn preflight(&self, verb: &str) -> std::result::Result<(), String> {
        let cmds = match verb {
            "start" => vec![("start_cmd", &self.start_cmd)],
            "stop" => vec![("stop_cmd", &self.stop_cmd)],
            "restart" if self.restart_cmd.is_some() => vec![("restart_cmd", &self.restart_cmd)],
            "restart" => vec![("stop_cmd", &self.stop_cmd), ("start_cmd", &self.start_cmd)],
            "reload" => vec![("reload_cmd", &self.reload_cmd)],
            // signal: the pid comes from status_cmd.
            _ => vec![("status_cmd", &self.status_cmd)],
        };
        for (key, cmd) in cmds {
            let (program, _) = self.argv(key, cmd).map_err(|e| e.to_string())?;
            let program = match &self.caller.cwd {
                Some(dir) if program.contains('/') && !program.starts_with('/') => {
                    dir.join(program).to_string_lossy().to_string()
                }
                _ => program.to_string(),
            };
            crate::fspath::on_path(&program)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cancel::Cancel;

    #[test]
    fn pids_in_status_output() {
        assert_eq!(pid_in("lowcode is running, pid 4242\n"), Some(4242));
        assert_eq!(pid_in("PID: 17\n"), Some(17));
        assert_eq!(pid_in("pid=9"), Some(9));
        assert_eq!(pid_in("4243\n"), Some(4243));
        assert_eq!(pid_in("running since 10:00, 3 workers"), None);
        assert_eq!(pid_in("rapid 12"), None);
    }

    #[test]
    fn lsb_codes() {
        assert_eq!(state_of_code(0), State::Online);
        assert_eq!(state_of_code(3), State::Stopped);
        assert_eq!(state_of_code(1), State::Errored);
        assert_eq!(state_of_code(4), State::Unknown);
    }

    /// A real little service: a pid file and `sleep`, controlled by shell commands.
    #[test]
    fn start_status_signal_restart_stop_a_real_process() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let sh = |s: &str| Some(vec!["sh".to_string(), "-c".to_string(), s.to_string()]);
        let spec = ServiceSpec {
            manager: "command".into(),
            workdir: Some(dir.path().to_path_buf()),
            status_cmd: sh(
                "test -f svc.pid && kill -0 $(cat svc.pid) 2>/dev/null && echo \"pid $(cat svc.pid)\" || exit 3",
            ),
            // setsid: the daemon leaves the start command's process group, as real daemons do.
            // The start command returns once the daemon leads its own session (field 6 of
            // /proc/PID/stat), as a real start script returns once its daemon is in place: until
            // then it is still in the start command's process group, which is ended with it.
            start_cmd: sh(
                "setsid sleep 300 >/dev/null 2>&1 < /dev/null & p=$!; echo $p > svc.pid; \
                 while [ \"$(cut -d' ' -f6 /proc/$p/stat 2>/dev/null)\" != \"$p\" ]; do sleep 0.01; done",
            ),
            stop_cmd: sh("kill $(cat svc.pid) && rm svc.pid"),
            ..ServiceSpec::default()
        };
        let m = CommandManager::new("demo", &spec, Caller::new(&spec, &Cancel::never()));
        assert_eq!(m.status().unwrap().state, State::Stopped);
        m.start().unwrap();
        // The daemon may still be exec'ing `sleep` (no resident memory yet): wait, with a
        // deadline, until the process table shows it.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let st = loop {
            let st = m.status().unwrap();
            assert_eq!(st.state, State::Online, "{st:?} in {d}");
            if st.memory > 0 || std::time::Instant::now() >= until {
                break st;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let pid = st.pid.unwrap();
        assert!(st.memory > 0, "no memory within 10 s: {st:?}");
        m.signal("SIGCONT").unwrap();
        m.restart().unwrap();
        let st2 = m.status().unwrap();
        assert_eq!(st2.state, State::Online);
        assert_ne!(
            st2.pid,
            Some(pid),
            "restart = stop + start gives a new process"
        );
        m.stop().unwrap();
        assert_eq!(m.status().unwrap().state, State::Stopped);
        let err = m.reload().unwrap_err().to_string();
        assert!(err.contains("services.demo.reload_cmd is not set"), "{err}");
        let err = m.signal("SIGHUP").unwrap_err().to_string();
        assert!(err.contains("no pid"), "{err}");
    }
}
