//! The second fixture service (`tests/fixtures/order-service`), shaped unlike the demo: plain-text
//! Winston logs without IP or status (`WORKDIR/var/log/app.log`, rotated to `app1.log`, `app2.log`
//! …), no `build` script, no `public/` folder, no `.env`, not started with
//! `--heapsnapshot-signal` (SIGUSR2 ends it), and a `/metrics` endpoint with only request, failure
//! and latency counters. It is the [`Pm2App`] fixture with this app's [`SPEC`].
//!
//! Uses the demo service's node_modules (Express, Winston, pm2): needs `tests/fixtures/setup.sh`.

use std::ops::Deref;
use std::path::{Path, PathBuf};

use super::pm2app::{AppSpec, Pm2App};

/// The pm2 / inventory name of the second service.
pub const APP2: &str = "order-service";

/// What makes the second service unlike the demo.
pub static SPEC: AppSpec = AppSpec {
    name: APP2,
    fixture: "order-service",
    prefix: "orders-",
    home_prefix: "pm2b-",
    log_dir: "var/log",
    skip: &["var"],
    env_file: false,
    diag_dir: false,
    health_path: "/healthz",
    stats_path: "/metrics",
    write: &["var/log", ""],
    logs: "var/log/app*.log*",
    error_logs: "var/log/failures*.log*",
};

/// The second service's source folder.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/order-service")
}

/// The second service running under its own private pm2 daemon (derefs to [`Pm2App`]).
pub struct Second(pub Pm2App);

impl Second {
    /// Copy the app, `pm2 start ecosystem.config.js`, wait until `/healthz` answers.
    pub fn start() -> Second {
        Second(Pm2App::start(&SPEC))
    }
}

impl Deref for Second {
    type Target = Pm2App;
    fn deref(&self) -> &Pm2App {
        &self.0
    }
}
