//! The demo service (`tests/fixtures/lowcode-platform`, Express 5 + Winston 3) under a real,
//! private pm2 7: its own `PM2_HOME`, a free port, a private copy of the app as its working
//! folder (so tests can change `.env`, `public/`, logs and git state), and `pm2 kill` on drop —
//! also when a test panics.
//!
//! Needs `tests/fixtures/setup.sh` (npm ci of the demo service).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Sandbox;

/// The pm2 / inventory name of the demo service.
pub const APP: &str = "lowcode-platform";

/// The demo service's source folder.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lowcode-platform")
}

/// pm2 from the demo service's node_modules.
pub fn pm2_bin() -> PathBuf {
    let bin = fixture_dir().join("node_modules/.bin/pm2");
    assert!(
        bin.exists(),
        "{} missing: run tests/fixtures/setup.sh (npm ci of the demo service)",
        bin.display()
    );
    bin
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP request from the test itself → (status, body).
pub fn http(method: &str, url: &str, timeout: Duration) -> Result<(u16, String), String> {
    // reqwest is built with `rustls-no-provider`: install the crate's (ring) provider first.
    runbook::host::tls::crypto_provider();
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let req = match method {
        "POST" => client.post(url),
        _ => client.get(url),
    };
    let resp = req.send().map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().unwrap_or_default()))
}

/// Wait until `url` answers 200 (panics after `within`).
pub fn wait_for_health(url: &str, within: Duration) {
    let end = Instant::now() + within;
    loop {
        if let Ok((200, _)) = http("GET", url, Duration::from_secs(1)) {
            return;
        }
        assert!(
            Instant::now() < end,
            "{url} did not answer 200 within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Copy `from` into `to` recursively, leaving out `node_modules`, `logs` and heap snapshots.
fn copy_app(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        let n = name.to_string_lossy();
        if n == "node_modules" || n == "logs" || n.ends_with(".heapsnapshot") {
            continue;
        }
        let src = entry.path();
        let dst = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_app(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// The demo service running under a private pm2 daemon.
pub struct Demo {
    /// `PM2_HOME`.
    pub home: tempfile::TempDir,
    /// The app's private working folder (a copy of the fixture; node_modules linked).
    pub work: tempfile::TempDir,
    /// `WORKDIR/logs`, where Winston writes `combined.log` and `error.log`.
    pub logs: PathBuf,
    pub port: u16,
}

impl Demo {
    /// Copy the app, start it with `pm2 start ecosystem.config.js`, wait for `/health`.
    pub fn start() -> Demo {
        let work = tempfile::Builder::new().prefix("lcp-").tempdir().unwrap();
        copy_app(&fixture_dir(), work.path());
        std::os::unix::fs::symlink(
            fixture_dir().join("node_modules"),
            work.path().join("node_modules"),
        )
        .unwrap();
        if !work.path().join(".env").exists() && work.path().join(".env.example").exists() {
            std::fs::copy(work.path().join(".env.example"), work.path().join(".env")).unwrap();
        }
        let logs = work.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let app = Demo {
            home: tempfile::Builder::new().prefix("pm2-").tempdir().unwrap(),
            work,
            logs,
            port: free_port(),
        };
        let out = app.pm2(&["start", "ecosystem.config.js", "--only", APP]);
        assert!(
            out.status.success(),
            "pm2 start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_for_health(&app.url("/health"), Duration::from_secs(30));
        app
    }

    /// Give the working copy its own `node_modules` (a copy instead of the link to the fixture's),
    /// for tests that run `npm ci` there: npm would otherwise empty the shared folder.
    pub fn own_node_modules(&self) {
        let link = self.work.path().join("node_modules");
        std::fs::remove_file(&link).unwrap();
        let st = Command::new("cp")
            .arg("-a")
            .arg(fixture_dir().join("node_modules"))
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
            .envs(self.env())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run pm2")
    }

    /// The environment a `pm2 start` of this app needs (PM2_HOME, PORT, LOG_DIR, DIAG_DIR).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("PM2_HOME".into(), self.home.path().display().to_string()),
            ("PORT".into(), self.port.to_string()),
            ("LOG_DIR".into(), self.logs.display().to_string()),
            ("DIAG_DIR".into(), self.work.path().display().to_string()),
        ]
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// GET `path` from the app (panics on network errors).
    pub fn get(&self, path: &str) -> (u16, String) {
        http("GET", &self.url(path), Duration::from_secs(10)).unwrap()
    }

    /// POST `path` (the `/admin/…` switches).
    pub fn post(&self, path: &str) -> (u16, String) {
        http("POST", &self.url(path), Duration::from_secs(10)).unwrap()
    }

    /// `pm2_env.restart_time` of the app, straight from pm2.
    pub fn restart_time(&self) -> u64 {
        let out = self.pm2(&["jlist"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let start = text.find("\n[").map(|i| i + 1).unwrap_or(0);
        let list: Value = serde_json::from_str(&text[start..]).expect("jlist JSON");
        list.as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == APP))
            .and_then(|p| p["pm2_env"]["restart_time"].as_u64())
            .expect("restart_time")
    }

    /// The runbook.toml lines for this app (policy roots + inventory), with `extra_policy`
    /// lines added to `[policy]`.
    pub fn config_toml(&self, extra_policy: &str) -> String {
        format!(
            r#"[policy]
read = ["{work}"]
write = ["{work}/logs", "{work}/public", "{work}/cache", "{work}"]
http_hosts = ["127.0.0.1", "localhost"]
{extra_policy}

[services.{APP}]
manager = "pm2"
bin = "{bin}"
pm2_home = "{home}"
workdir = "{work}"
start_script = "{work}/ecosystem.config.js"
health_url = "{health}"
stats_url = "{stats}"
logs = ["{work}/logs/combined*.log*"]
error_logs = ["{work}/logs/error*.log*"]
port = {port}
settle_s = 1
timeout_s = 60
"#,
            work = self.workdir().display(),
            bin = pm2_bin().display(),
            home = self.home.path().display(),
            health = self.url("/health"),
            stats = self.url("/api/stats"),
            port = self.port,
        )
    }

    /// A sandbox whose `runbook.toml` has this app in the inventory.
    pub fn sandbox(&self, extra_policy: &str) -> Sandbox {
        let sb = Sandbox::new();
        sb.config(&self.config_toml(extra_policy));
        sb
    }

    /// Files in the working folder whose name ends with `suffix`.
    pub fn files_ending(&self, suffix: &str) -> Vec<PathBuf> {
        std::fs::read_dir(self.work.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
            .map(|e| e.path())
            .collect()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = Command::new("timeout")
            .arg("60")
            .arg(pm2_bin())
            .arg("kill")
            .env("PM2_HOME", self.home.path())
            .output();
    }
}
