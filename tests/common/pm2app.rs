//! One fixture for the Node services in `tests/fixtures/` — each runs under a real, private
//! pm2 7: its own `PM2_HOME`, a free port, a private copy of the app as its working folder (so
//! tests can change `.env`, `public/`, logs and git state), and `pm2 kill` on drop — also when a
//! test panics. [`AppSpec`] says what differs between the services (where the logs go, which
//! path answers health, the inventory's log globs); `demo::Demo` and `second::Second` are this
//! fixture with their spec.
//!
//! Needs `tests/fixtures/setup.sh` (npm ci of the demo service; both apps use its node_modules).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::Sandbox;

/// What differs between the fixture services.
#[derive(Debug)]
pub struct AppSpec {
    /// pm2 / inventory name.
    pub name: &'static str,
    /// Folder under `tests/fixtures/`.
    pub fixture: &'static str,
    /// Prefix of the working copy's temp folder.
    pub prefix: &'static str,
    /// Prefix of the `PM2_HOME` temp folder.
    pub home_prefix: &'static str,
    /// The log folder, relative to the working copy (passed to the app as `LOG_DIR`).
    pub log_dir: &'static str,
    /// Entries of the fixture folder not copied (besides `node_modules`).
    pub skip: &'static [&'static str],
    /// Copy `.env.example` to `.env` when the app has one.
    pub env_file: bool,
    /// Pass `DIAG_DIR` (heap snapshots go to the working copy).
    pub diag_dir: bool,
    /// Path that answers 200 when the app is up.
    pub health_path: &'static str,
    /// Path of the app's counters (`stats_url`).
    pub stats_path: &'static str,
    /// Write roots of the policy, relative to the working copy (`""` is the copy itself).
    pub write: &'static [&'static str],
    /// Inventory `logs` / `error_logs` globs, relative to the working copy.
    pub logs: &'static str,
    pub error_logs: &'static str,
}

/// The demo service's source folder (`tests/fixtures/lowcode-platform`; its node_modules serve both apps).
pub fn demo_fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lowcode-platform")
}

/// pm2 from the demo service's node_modules.
pub fn pm2_bin() -> PathBuf {
    let bin = demo_fixture_dir().join("node_modules/.bin/pm2");
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
    super::wait_until(within, &format!("{url} to answer 200"), || {
        matches!(http("GET", url, Duration::from_secs(1)), Ok((200, _)))
    });
}

/// Copy `from` into `to` recursively, leaving out `node_modules`, heap snapshots and `skip`.
fn copy_app(from: &Path, to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        let n = name.to_string_lossy();
        if n == "node_modules" || n.ends_with(".heapsnapshot") || skip.contains(&n.as_ref()) {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            copy_app(&src, &dst, skip);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A fixture service running under its own private pm2 daemon.
pub struct Pm2App {
    pub spec: &'static AppSpec,
    /// `PM2_HOME`.
    pub home: tempfile::TempDir,
    /// The app's private working folder (a copy of the fixture; node_modules linked).
    pub work: tempfile::TempDir,
    /// The log folder (`spec.log_dir` in the working copy).
    pub logs: PathBuf,
    pub port: u16,
}

impl Pm2App {
    /// Copy the app, `pm2 start ecosystem.config.js --only NAME`, wait until health answers 200.
    pub fn start(spec: &'static AppSpec) -> Pm2App {
        let work = tempfile::Builder::new()
            .prefix(spec.prefix)
            .tempdir()
            .unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(spec.fixture);
        copy_app(&src, work.path(), spec.skip);
        std::os::unix::fs::symlink(
            demo_fixture_dir().join("node_modules"),
            work.path().join("node_modules"),
        )
        .unwrap();
        let example = work.path().join(".env.example");
        if spec.env_file && !work.path().join(".env").exists() && example.exists() {
            std::fs::copy(&example, work.path().join(".env")).unwrap();
        }
        let logs = work.path().join(spec.log_dir);
        std::fs::create_dir_all(&logs).unwrap();
        let app = Pm2App {
            spec,
            home: tempfile::Builder::new()
                .prefix(spec.home_prefix)
                .tempdir()
                .unwrap(),
            work,
            logs,
            port: free_port(),
        };
        let out = app.pm2(&["start", "ecosystem.config.js", "--only", spec.name]);
        assert!(
            out.status.success(),
            "pm2 start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_for_health(&app.url(spec.health_path), Duration::from_secs(30));
        app
    }

    /// Give the working copy its own `node_modules` (a copy instead of the link to the fixture's),
    /// for tests that run `npm ci` there: npm would otherwise empty the shared folder.
    pub fn own_node_modules(&self) {
        let link = self.work.path().join("node_modules");
        std::fs::remove_file(&link).unwrap();
        let st = Command::new("cp")
            .arg("-a")
            .arg(demo_fixture_dir().join("node_modules"))
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
        let mut env = vec![
            ("PM2_HOME".into(), self.home.path().display().to_string()),
            ("PORT".into(), self.port.to_string()),
            ("LOG_DIR".into(), self.logs.display().to_string()),
        ];
        if self.spec.diag_dir {
            env.push(("DIAG_DIR".into(), self.work.path().display().to_string()));
        }
        env
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

    /// Whether the health path answers 200 right now.
    pub fn up(&self) -> bool {
        matches!(
            http(
                "GET",
                &self.url(self.spec.health_path),
                Duration::from_secs(2)
            ),
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
            .and_then(|a| a.iter().find(|p| p["name"] == self.spec.name))
            .cloned()
            .unwrap_or_else(|| panic!("{} in pm2 jlist", self.spec.name))
    }

    /// `pm2_env.restart_time` of the app, straight from pm2.
    pub fn restart_time(&self) -> u64 {
        self.jlist()["pm2_env"]["restart_time"]
            .as_u64()
            .expect("restart_time")
    }

    /// The main process id as pm2 reports it.
    pub fn pid(&self) -> u64 {
        self.jlist()["pid"].as_u64().unwrap()
    }

    /// The runbook.toml lines for this app (policy roots + inventory), with `extra_policy`
    /// lines added to `[policy]`.
    pub fn config_toml(&self, extra_policy: &str) -> String {
        let work = self.workdir().display().to_string();
        let rel = |r: &str| {
            if r.is_empty() {
                work.clone()
            } else {
                format!("{work}/{r}")
            }
        };
        let read = rel("");
        let write = self
            .spec
            .write
            .iter()
            .map(|r| format!("{:?}", rel(r)))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            r#"[policy]
read = [{read:?}]
write = [{write}]
http_hosts = ["127.0.0.1", "localhost"]
{extra_policy}

[services.{name}]
manager = "pm2"
bin = "{bin}"
pm2_home = "{home}"
workdir = "{work}"
start_script = "{work}/ecosystem.config.js"
health_url = "{health}"
stats_url = "{stats}"
logs = [{logs:?}]
error_logs = [{error_logs:?}]
port = {port}
settle_s = 1
timeout_s = 60
"#,
            name = self.spec.name,
            bin = pm2_bin().display(),
            home = self.home.path().display(),
            health = self.url(self.spec.health_path),
            stats = self.url(self.spec.stats_path),
            logs = rel(self.spec.logs),
            error_logs = rel(self.spec.error_logs),
            port = self.port,
        )
    }

    /// A sandbox whose `runbook.toml` has this app in the inventory.
    pub fn sandbox(&self, extra_policy: &str) -> Sandbox {
        let sb = Sandbox::new();
        sb.config(&self.config_toml(extra_policy));
        sb
    }

    /// How often `needle` occurs in the app's request logs (the files the inventory's `logs`
    /// glob names, in the log folder).
    pub fn logged(&self, needle: &str) -> usize {
        let stem = Path::new(self.spec.logs)
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .split('*')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .unwrap_or_default();
        std::fs::read_dir(&self.logs)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&stem))
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .map(|t| t.matches(needle).count())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Wait until the request logs hold `needle` at least `count` times (the logger writes
    /// after the answer, asynchronously).
    pub fn wait_logged(&self, needle: &str, count: usize) {
        super::wait_until(
            Duration::from_secs(30),
            &format!("{count} × {needle:?} in {}", self.logs.display()),
            || self.logged(needle) >= count,
        );
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

impl Drop for Pm2App {
    fn drop(&mut self) {
        let _ = Command::new("timeout")
            .arg("60")
            .arg(pm2_bin())
            .arg("kill")
            .env("PM2_HOME", self.home.path())
            .output();
    }
}
