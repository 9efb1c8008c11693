//! The second fixture service (`tests/fixtures/order-service`), shaped unlike the demo: plain-text
//! Winston logs without IP or status (`WORKDIR/var/log/app.log`, rotated to `app1.log`, `app2.log`
//! …), no `build` script, no `public/` folder, no `.env`, not started with
//! `--heapsnapshot-signal` (SIGUSR2 ends it), and a `/metrics` endpoint with only request, failure
//! and latency counters. It runs under its own private pm2 (own `PM2_HOME`, a free port), from a
//! private copy of the app, and `pm2 kill` runs on drop — also when a test panics.
//!
//! Uses the demo service's node_modules (Express, Winston, pm2): needs `tests/fixtures/setup.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::Sandbox;
use super::demo::{free_port, http, pm2_bin, wait_for_health};

/// The pm2 / inventory name of the second service.
pub const APP2: &str = "order-service";

/// The second service's source folder.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/order-service")
}

/// The second service running under its own private pm2 daemon.
pub struct Second {
    /// `PM2_HOME`.
    pub home: tempfile::TempDir,
    /// The app's private working folder (a copy of the fixture; node_modules linked).
    pub work: tempfile::TempDir,
    /// `WORKDIR/var/log` (`app.log`, `app1.log` …, `failures.log`).
    pub logs: PathBuf,
    pub port: u16,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let n = entry.file_name();
        if n == "node_modules" || n == "var" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&n));
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

impl Second {
    /// Copy the app, `pm2 start ecosystem.config.js`, wait until `/healthz` answers.
    pub fn start() -> Second {
        let work = tempfile::Builder::new()
            .prefix("orders-")
            .tempdir()
            .unwrap();
        copy_dir(&fixture_dir(), work.path());
        std::os::unix::fs::symlink(
            super::demo::fixture_dir().join("node_modules"),
            work.path().join("node_modules"),
        )
        .unwrap();
        let logs = work.path().join("var/log");
        std::fs::create_dir_all(&logs).unwrap();
        let app = Second {
            home: tempfile::Builder::new().prefix("pm2b-").tempdir().unwrap(),
            work,
            logs,
            port: free_port(),
        };
        let out = app.pm2(&["start", "ecosystem.config.js"]);
        assert!(
            out.status.success(),
            "pm2 start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_for_health(&app.url("/healthz"), Duration::from_secs(30));
        app
    }

    /// Give the working copy its own `node_modules` (a copy instead of the link), for tests that
    /// run `npm ci` there: npm would otherwise empty the shared folder.
    pub fn own_node_modules(&self) {
        let link = self.work.path().join("node_modules");
        std::fs::remove_file(&link).unwrap();
        let st = Command::new("cp")
            .arg("-a")
            .arg(super::demo::fixture_dir().join("node_modules"))
            .arg(&link)
            .status()
            .unwrap();
        assert!(st.success(), "copying node_modules");
    }

    /// The app's working folder.
    pub fn workdir(&self) -> PathBuf {
        std::fs::canonicalize(self.work.path()).unwrap()
    }

    /// Run pm2 against this app's daemon.
    pub fn pm2(&self, args: &[&str]) -> std::process::Output {
        Command::new(pm2_bin())
            .args(args)
            .current_dir(self.work.path())
            .env("PM2_HOME", self.home.path())
            .env("PORT", self.port.to_string())
            .env("LOG_DIR", &self.logs)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run pm2")
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// GET `path` (panics on network errors).
    pub fn get(&self, path: &str) -> (u16, String) {
        http("GET", &self.url(path), Duration::from_secs(10)).unwrap()
    }

    /// POST `path` (the `/admin/…` switches).
    pub fn post(&self, path: &str) -> (u16, String) {
        http("POST", &self.url(path), Duration::from_secs(10)).unwrap()
    }

    /// Whether `/healthz` answers 200 right now.
    pub fn up(&self) -> bool {
        matches!(
            http("GET", &self.url("/healthz"), Duration::from_secs(2)),
            Ok((200, _))
        )
    }

    /// pm2's record of the app from `pm2 jlist`.
    pub fn jlist(&self) -> Value {
        let out = self.pm2(&["jlist"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let start = text.find("\n[").map(|i| i + 1).unwrap_or(0);
        let list: Value = serde_json::from_str(&text[start..]).expect("jlist JSON");
        list.as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == APP2))
            .cloned()
            .expect("order-service in pm2 jlist")
    }

    /// `pm2_env.restart_time`.
    pub fn restart_time(&self) -> u64 {
        self.jlist()["pm2_env"]["restart_time"].as_u64().unwrap()
    }

    /// The main process id as pm2 reports it.
    pub fn pid(&self) -> u64 {
        self.jlist()["pid"].as_u64().unwrap()
    }

    /// The runbook.toml for this app (policy roots + inventory), `extra_policy` lines added to `[policy]`.
    pub fn config_toml(&self, extra_policy: &str) -> String {
        format!(
            r#"[policy]
read = ["{work}"]
write = ["{work}/var/log", "{work}"]
http_hosts = ["127.0.0.1", "localhost"]
{extra_policy}

[services.{APP2}]
manager = "pm2"
bin = "{bin}"
pm2_home = "{home}"
workdir = "{work}"
start_script = "{work}/ecosystem.config.js"
health_url = "{health}"
stats_url = "{stats}"
logs = ["{work}/var/log/app*.log*"]
error_logs = ["{work}/var/log/failures*.log*"]
port = {port}
settle_s = 1
timeout_s = 60
"#,
            work = self.workdir().display(),
            bin = pm2_bin().display(),
            home = self.home.path().display(),
            health = self.url("/healthz"),
            stats = self.url("/metrics"),
            port = self.port,
        )
    }

    /// A sandbox whose `runbook.toml` has this app in the inventory.
    pub fn sandbox(&self, extra_policy: &str) -> Sandbox {
        let sb = Sandbox::new();
        sb.config(&self.config_toml(extra_policy));
        sb
    }
}

impl Drop for Second {
    fn drop(&mut self) {
        let _ = Command::new("timeout")
            .arg("60")
            .arg(pm2_bin())
            .arg("kill")
            .env("PM2_HOME", self.home.path())
            .output();
    }
}
