//! pm2: status from `pm2 jlist`, actions through `pm2 start|stop|restart|reload|sendSignal`.
//!
//! `PM2_HOME` comes from the inventory (`pm2_home`) and the binary from `bin` (default `pm2` on
//! `PATH`). `pm2 jlist` may print banner lines first (the first call spawns the daemon and
//! prints its logo); they are skipped. Anything that is not the expected JSON array is an error
//! that quotes the start of the output — it is never taken for "no processes".
//!
//! `pm2 jlist` carries each process's full environment in `pm2_env` (and `pm2_env.env`): the
//! parser reads only the named fields it needs and nothing of the environment is ever kept,
//! returned or quoted in an error.

use std::path::PathBuf;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::policy::ServiceSpec;
use crate::proc::clip;
use crate::service::{Caller, LogFiles, QUOTE_BYTES, ServiceManager, State, Status, signal_number};

/// `pm2 jlist` output may be large (every process carries its environment).
const JLIST_MAX_OUTPUT: usize = 64 * 1024 * 1024;

/// One process from `pm2 jlist`, only the fields runbook uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Pm2Process {
    pub name: String,
    pub pm_id: u64,
    pub pid: Option<u32>,
    pub status: String,
    pub restart_time: u64,
    pub unstable_restarts: u64,
    /// Start time of the current process, ms since the epoch.
    pub pm_uptime: Option<u64>,
    pub cpu: f64,
    pub memory: u64,
    pub out_log: Option<String>,
    pub err_log: Option<String>,
}

/// Parse `pm2 jlist` output (banner lines before the JSON are allowed).
///
/// Errors: no JSON array found (quotes the first 200 bytes), malformed JSON or entries without
/// a name (the JSON itself is not quoted: it holds the processes' environments).
pub fn parse_jlist(output: &str) -> Result<Vec<Pm2Process>> {
    let start = find_json_start(output).ok_or_else(|| {
        let shown = output.trim();
        let shown = if shown.is_empty() {
            "<empty>".to_string()
        } else {
            clip(shown, QUOTE_BYTES)
        };
        Error::failed(format!(
            "pm2 jlist: expected a JSON array of processes, got: {shown}"
        ))
    })?;
    let json_text = &output[start..];
    let mut stream = serde_json::Deserializer::from_str(json_text).into_iter::<Value>();
    let value = match stream.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            let banner = output[..start].trim();
            let banner = if banner.is_empty() {
                String::new()
            } else {
                format!(" after {:?}", clip(banner, QUOTE_BYTES))
            };
            return Err(Error::failed(format!(
                "pm2 jlist: malformed JSON{banner} at line {} column {} ({} bytes; not quoted because it holds process environments)",
                e.line(),
                e.column(),
                json_text.len()
            )));
        }
        None => {
            return Err(Error::failed(
                "pm2 jlist: output ended before the JSON array",
            ));
        }
    };
    let Value::Array(items) = value else {
        return Err(Error::failed(
            "pm2 jlist: expected a JSON array of processes",
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| process_from(i, item))
        .collect()
}

/// The byte offset of the JSON array: the first line that starts with `[`.
fn find_json_start(output: &str) -> Option<usize> {
    let mut offset = 0;
    for line in output.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix('[') {
            // `[PM2] Spawning …` is a banner line, not JSON: JSON continues with `]`, `{` or space.
            let after = rest.trim_start();
            if after.is_empty() || after.starts_with('{') || after.starts_with(']') {
                return Some(offset + (line.len() - trimmed.len()));
            }
        }
        offset += line.len();
    }
    None
}

fn process_from(i: usize, item: &Value) -> Result<Pm2Process> {
    let bad = |what: &str| Error::failed(format!("pm2 jlist: entry {i}: {what}"));
    let obj = item.as_object().ok_or_else(|| bad("not an object"))?;
    let env = obj
        .get("pm2_env")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no pm2_env object"))?;
    let name = obj
        .get("name")
        .or_else(|| env.get("name"))
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no name"))?
        .to_string();
    let uint = |v: Option<&Value>| {
        v.and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f.max(0.0) as u64)))
    };
    let string = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let monit = obj.get("monit").and_then(Value::as_object);
    Ok(Pm2Process {
        pm_id: uint(obj.get("pm_id").or_else(|| env.get("pm_id"))).unwrap_or(i as u64),
        pid: uint(obj.get("pid"))
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0),
        status: string(env.get("status")).unwrap_or_else(|| "unknown".into()),
        restart_time: uint(env.get("restart_time")).unwrap_or(0),
        unstable_restarts: uint(env.get("unstable_restarts")).unwrap_or(0),
        pm_uptime: uint(env.get("pm_uptime")),
        cpu: monit
            .and_then(|m| m.get("cpu"))
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        memory: uint(monit.and_then(|m| m.get("memory"))).unwrap_or(0),
        out_log: string(env.get("pm_out_log_path")),
        err_log: string(env.get("pm_err_log_path")),
        name,
    })
}

/// Map pm2's status words onto [`State`].
pub fn state_of(pm2_status: &str) -> State {
    match pm2_status {
        "online" => State::Online,
        "stopped" | "one-launch-status" => State::Stopped,
        "stopping" => State::Stopping,
        "launching" | "waiting restart" => State::Starting,
        "errored" => State::Errored,
        _ => State::Unknown,
    }
}

/// The status of `name` from the processes pm2 lists (several instances are summed up:
/// online only when all are, restarts/cpu/memory added, the first instance's pid).
pub fn status_from(name: &str, app: &str, procs: &[Pm2Process], now_ms: u64) -> Status {
    let mine: Vec<&Pm2Process> = procs.iter().filter(|p| p.name == app).collect();
    let Some(first) = mine.first() else {
        let mut st = Status::new(name, "pm2", State::Stopped);
        st.detail = format!("{app:?} is not in pm2's process list");
        return st;
    };
    let states: Vec<State> = mine.iter().map(|p| state_of(&p.status)).collect();
    let state = if states.iter().all(|s| *s == states[0]) {
        states[0]
    } else if states.contains(&State::Errored) {
        State::Errored
    } else if states.contains(&State::Starting) {
        State::Starting
    } else {
        State::Unknown
    };
    let online = state == State::Online;
    let mut detail = first.status.clone();
    if mine.len() > 1 {
        detail = format!(
            "{} instances: {}",
            mine.len(),
            mine.iter()
                .map(|p| p.status.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let unstable: u64 = mine.iter().map(|p| p.unstable_restarts).sum();
    if unstable > 0 {
        detail.push_str(&format!("; {unstable} unstable restarts"));
    }
    Status {
        name: name.to_string(),
        manager: "pm2".into(),
        state,
        pid: if online { first.pid } else { None },
        uptime_s: if online {
            first.pm_uptime.map(|t| now_ms.saturating_sub(t) / 1000)
        } else {
            None
        },
        restarts: Some(mine.iter().map(|p| p.restart_time).sum()),
        cpu: mine.iter().map(|p| p.cpu).sum(),
        memory: mine.iter().map(|p| p.memory).sum(),
        detail,
    }
}

/// The pm2 manager for one service.
pub struct Pm2 {
    name: String,
    app: String,
    bin: String,
    start_script: Option<PathBuf>,
    caller: Caller,
}

impl Pm2 {
    /// `bin` from the inventory (default `pm2`), `PM2_HOME` from `pm2_home`, the pm2 app name
    /// from `unit` (default: the inventory name); calls run in `workdir`.
    pub fn new(name: &str, spec: &ServiceSpec, mut caller: Caller) -> Self {
        if let Some(home) = &spec.pm2_home {
            caller
                .env
                .push(("PM2_HOME".into(), home.clone().into_os_string()));
        }
        // Plain output: no colours, no update notices.
        caller.env.push(("FORCE_COLOR".into(), "0".into()));
        caller.env.push(("NO_COLOR".into(), "1".into()));
        caller.cwd = spec.workdir.clone().filter(|d| d.is_dir());
        Pm2 {
            name: name.to_string(),
            app: spec.unit.clone().unwrap_or_else(|| name.to_string()),
            bin: spec.bin.clone().unwrap_or_else(|| "pm2".into()),
            start_script: spec.start_script.clone(),
            caller,
        }
    }

    /// All processes pm2 knows.
    pub fn list(&self) -> Result<Vec<Pm2Process>> {
        let mut caller = self.caller.clone();
        caller.max_output = JLIST_MAX_OUTPUT;
        let out = caller.call(&self.bin, &["jlist"])?;
        if out.stdout_truncated {
            return Err(Error::failed(format!(
                "pm2 jlist: output larger than {JLIST_MAX_OUTPUT} bytes"
            )));
        }
        if out.code != 0 {
            // The output of a failed jlist is an error text, not process data.
            return Err(Error::failed(format!(
                "`{} jlist` failed: {}",
                self.bin,
                out.failure_summary(QUOTE_BYTES)
            )));
        }
        parse_jlist(&out.stdout)
    }

    fn act(&self, verb: &str) -> Result<()> {
        self.caller
            .call_ok(&self.bin, &[verb, &self.app])
            .map(|_| ())
    }
}

impl ServiceManager for Pm2 {
    fn kind(&self) -> &'static str {
        "pm2"
    }

    fn status(&self) -> Result<Status> {
        let procs = self.list()?;
        let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
        Ok(status_from(&self.name, &self.app, &procs, now_ms))
    }

    fn start(&self) -> Result<()> {
        let known = self.list()?.iter().any(|p| p.name == self.app);
        if known {
            return self.act("start");
        }
        let Some(script) = &self.start_script else {
            return Err(Error::failed(format!(
                "pm2 does not know {:?} and services.{}.start_script is not set",
                self.app, self.name
            )));
        };
        let script = script.to_string_lossy();
        let is_ecosystem = script.ends_with(".config.js")
            || script.ends_with(".config.cjs")
            || script.ends_with(".json");
        if is_ecosystem {
            self.caller
                .call_ok(&self.bin, &["start", &script, "--only", &self.app])
                .map(|_| ())
        } else {
            self.caller
                .call_ok(&self.bin, &["start", &script, "--name", &self.app])
                .map(|_| ())
        }
    }

    fn stop(&self) -> Result<()> {
        self.act("stop")
    }

    fn preflight(&self, verb: &str) -> std::result::Result<(), String> {
        let known = self
            .list()
            .map_err(|e| e.to_string())?
            .iter()
            .any(|p| p.name == self.app);
        if known || (verb == "start" && self.start_script.is_some()) {
            Ok(())
        } else {
            Err(format!(
                "pm2 does not know {:?}{}",
                self.app,
                if verb == "start" {
                    format!(" and services.{}.start_script is not set", self.name)
                } else {
                    String::new()
                }
            ))
        }
    }

    fn restart(&self) -> Result<()> {
        self.act("restart")
    }

    fn reload(&self) -> Result<()> {
        self.act("reload")
    }

    fn signal(&self, sig: &str) -> Result<()> {
        let (name, _) = signal_number(sig)?;
        self.caller
            .call_ok(&self.bin, &["sendSignal", &name, &self.app])
            .map(|_| ())
    }

    fn log_files(&self) -> Result<LogFiles> {
        let procs = self.list()?;
        let p = procs
            .iter()
            .find(|p| p.name == self.app)
            .ok_or_else(|| Error::failed(format!("pm2 does not know {:?}", self.app)))?;
        Ok(LogFiles {
            out: p.out_log.clone(),
            err: p.err_log.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real `pm2 jlist` entry (pm2 7.0.4), environment values replaced by secrets to look for.
    const ENTRY: &str = r#"{"pid":17763,"name":"lowcode-platform","pm2_env":{"name":"lowcode-platform","cwd":"/srv/lowcode-platform","node_args":["--heapsnapshot-signal=SIGUSR2"],"env":{"SHELL":"/bin/bash","JWT_SECRET":"s3cr3t-jwt","PORT":"3002"},"namespace":"default","kill_timeout":3000,"exec_mode":"fork_mode","instances":1,"pm_exec_path":"/srv/lowcode-platform/server.js","pm_out_log_path":"/root/.pm2/logs/lowcode-platform-out-0.log","pm_err_log_path":"/root/.pm2/logs/lowcode-platform-error-0.log","pm_pid_path":"/root/.pm2/pids/lowcode-platform-0.pid","km_link":false,"vizion_running":false,"NODE_APP_INSTANCE":0,"JWT_SECRET":"s3cr3t-jwt","DATABASE_URL":"postgres://u:hunter2@db/x","status":"online","pm_uptime":1795947713552,"axm_actions":[],"axm_monitor":{},"axm_options":{},"axm_dynamic":{},"created_at":1795947713552,"pm_id":0,"restart_time":4,"unstable_restarts":1,"version":"1.4.2","node_version":"20.20.2","unique_id":"f8d1c0a4"},"pm_id":0,"monit":{"memory":65105920,"cpu":11.6}}"#;

    fn jlist(entries: &[&str]) -> String {
        format!("[{}]", entries.join(","))
    }

    #[test]
    fn parses_the_fields_of_a_real_entry() {
        let procs = parse_jlist(&jlist(&[ENTRY])).unwrap();
        assert_eq!(procs.len(), 1);
        let p = &procs[0];
        assert_eq!(p.name, "lowcode-platform");
        assert_eq!(p.pid, Some(17763));
        assert_eq!(p.status, "online");
        assert_eq!((p.restart_time, p.unstable_restarts), (4, 1));
        assert_eq!(p.memory, 65_105_920);
        assert!((p.cpu - 11.6).abs() < 1e-9);
        assert_eq!(
            p.out_log.as_deref(),
            Some("/root/.pm2/logs/lowcode-platform-out-0.log")
        );
        let st = status_from(
            "web",
            "lowcode-platform",
            &procs,
            1_795_947_713_552 + 90_500,
        );
        assert_eq!(st.state, State::Online);
        assert_eq!(st.uptime_s, Some(90));
        assert_eq!(st.restarts, Some(4));
        assert!(st.detail.contains("1 unstable restarts"), "{}", st.detail);
    }

    #[test]
    fn the_environment_never_leaves_the_parser() {
        let procs = parse_jlist(&jlist(&[ENTRY])).unwrap();
        let st = status_from("web", "lowcode-platform", &procs, 0);
        let all = format!("{procs:?} {}", serde_json::to_string(&st).unwrap());
        for secret in ["s3cr3t-jwt", "hunter2", "JWT_SECRET", "SHELL"] {
            assert!(!all.contains(secret), "{secret} leaked: {all}");
        }
        // Not in errors either: a truncated document is reported without quoting it.
        let cut = &jlist(&[ENTRY])[..400];
        let err = parse_jlist(cut).unwrap_err().to_string();
        assert!(err.contains("malformed JSON"), "{err}");
        assert!(!err.contains("hunter2") && !err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn banner_lines_before_the_json_are_skipped() {
        // What the first `pm2 jlist` prints when it has to spawn the daemon.
        let out = format!(
            "\n                        -------------\n\n__/\\\\\\\\\\\\\\\\\\\\\\\\\\____/\\\\\\\\____\n                http://pm2.io/\n\n[PM2] Spawning PM2 daemon with pm2_home=/tmp/pm2t\n[PM2] PM2 Successfully daemonized\n{}\n",
            jlist(&[ENTRY])
        );
        let procs = parse_jlist(&out).unwrap();
        assert_eq!(procs[0].name, "lowcode-platform");
        let empty = "[PM2] Spawning PM2 daemon with pm2_home=/tmp/x\n[PM2] PM2 Successfully daemonized\n[]\n";
        assert_eq!(parse_jlist(empty).unwrap(), Vec::new());
        let upd = ">>>> In-memory PM2 is out-of-date, do:\n>>>> $ pm2 update\nIn memory PM2 version: 6.0.5\nLocal PM2 version: 7.0.4\n\n[]";
        assert_eq!(parse_jlist(upd).unwrap(), Vec::new());
    }

    #[test]
    fn garbage_is_an_error_quoting_the_start_not_an_empty_list() {
        for out in [
            "",
            "   \n",
            "[PM2][ERROR] Daemon not launched\n",
            "Error: EACCES: permission denied, open '/root/.pm2/pm2.log'",
        ] {
            let err = parse_jlist(out).unwrap_err().to_string();
            assert!(err.contains("pm2 jlist"), "{err}");
            if !out.trim().is_empty() {
                assert!(err.contains(out.trim()), "{err}");
            }
        }
        let long = "x".repeat(1000);
        let err = parse_jlist(&long).unwrap_err().to_string();
        assert!(err.len() < 400, "quote is capped: {}", err.len());
        let err = parse_jlist("{\"not\":\"an array\"}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a JSON array"), "{err}");
        let err = parse_jlist("[{\"pid\":1}]").unwrap_err().to_string();
        assert!(err.contains("entry 0"), "{err}");
    }

    #[test]
    fn states_and_missing_processes() {
        assert_eq!(state_of("launching"), State::Starting);
        assert_eq!(state_of("waiting restart"), State::Starting);
        assert_eq!(state_of("errored"), State::Errored);
        assert_eq!(state_of("stopped"), State::Stopped);
        assert_eq!(state_of("weird"), State::Unknown);
        let st = status_from(
            "web",
            "other-app",
            &parse_jlist(&jlist(&[ENTRY])).unwrap(),
            0,
        );
        assert_eq!(st.state, State::Stopped);
        assert!(st.detail.contains("not in pm2's process list"));
        let stopped = ENTRY
            .replace("\"status\":\"online\"", "\"status\":\"stopped\"")
            .replace("\"pid\":17763", "\"pid\":0");
        let st = status_from(
            "web",
            "lowcode-platform",
            &parse_jlist(&jlist(&[&stopped])).unwrap(),
            0,
        );
        assert_eq!(
            (st.state, st.pid, st.uptime_s),
            (State::Stopped, None, None)
        );
    }

    #[test]
    fn cluster_instances_are_summed() {
        let second = ENTRY
            .replace("\"pid\":17763", "\"pid\":17800")
            .replace("\"pm_id\":0", "\"pm_id\":1");
        let procs = parse_jlist(&jlist(&[ENTRY, &second])).unwrap();
        let st = status_from("web", "lowcode-platform", &procs, 1_795_947_713_552);
        assert_eq!(st.state, State::Online);
        assert_eq!(st.restarts, Some(8));
        assert_eq!(st.memory, 2 * 65_105_920);
        assert!(st.detail.starts_with("2 instances"), "{}", st.detail);
    }
}
