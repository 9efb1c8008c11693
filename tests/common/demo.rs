//! The demo service (`tests/fixtures/lowcode-platform`, Express 5 + Winston 3) under a real,
//! private pm2 7: the [`Pm2App`] fixture with the demo's [`SPEC`] (logs in `WORKDIR/logs`,
//! `/health`, `/api/stats`, heap snapshots into the working copy).
//!
//! Needs `tests/fixtures/setup.sh` (npm ci of the demo service).

use std::ops::Deref;
use std::path::PathBuf;

#[allow(unused_imports)] // what a test file does not use
pub use super::pm2app::{AppSpec, Pm2App, free_port, http, pm2_bin, wait_for_health};

/// The pm2 / inventory name of the demo service.
pub const APP: &str = "lowcode-platform";

/// What makes the demo service the demo service.
pub static SPEC: AppSpec = AppSpec {
    name: APP,
    fixture: "lowcode-platform",
    prefix: "lcp-",
    home_prefix: "pm2-",
    log_dir: "logs",
    skip: &["logs"],
    env_file: true,
    diag_dir: true,
    health_path: "/health",
    stats_path: "/api/stats",
    write: &["logs", "public", "cache", ""],
    logs: "logs/combined*.log*",
    error_logs: "logs/error*.log*",
};

/// The demo service's source folder.
pub fn fixture_dir() -> PathBuf {
    super::pm2app::demo_fixture_dir()
}

/// The demo service running under a private pm2 daemon (derefs to [`Pm2App`]).
pub struct Demo(pub Pm2App);

impl Demo {
    /// Copy the app, start it with `pm2 start ecosystem.config.js`, wait for `/health`.
    pub fn start() -> Demo {
        Demo(Pm2App::start(&SPEC))
    }
}

impl Deref for Demo {
    type Target = Pm2App;
    fn deref(&self) -> &Pm2App {
        &self.0
    }
}
