//! Run history: every `runbook run` recorded in an embedded SQLite database
//! (`STATE_DIR/history.db`, `[history] path`), read back by `runbook history`, `runbook report`,
//! the `history::` Rhai module and the notifications.
//!
//! History never fails a run: a database that cannot be opened or written is a warning on
//! stderr, a corrupt one is moved aside and a new one started. The audit log stays the
//! authoritative record of effects.

pub mod cli;
pub mod query;
pub mod report;

pub mod store;

use std::path::PathBuf;

use serde::Deserialize;

use crate::policy::Config;
use crate::report::Report;
pub use store::{RunMeta, Store, StoreError};

/// `[history]` in `runbook.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistorySection {
    /// Record runs at all (default true).
    pub enabled: bool,
    /// The database (default `STATE_DIR/history.db`; relative to the config file's folder).
    pub path: Option<PathBuf>,
    /// How long runs are kept, a duration (`"400d"`).
    pub keep: String,
    /// Record `--dry-run` runs too (default false).
    pub dry_runs: bool,
}

impl Default for HistorySection {
    fn default() -> Self {
        HistorySection {
            enabled: true,
            path: None,
            keep: "400d".into(),
            dry_runs: false,
        }
    }
}

/// Where the history database of `config` is.
pub fn db_path(config: &Config) -> PathBuf {
    match &config.history.path {
        Some(p) if p.is_absolute() => p.clone(),
        Some(p) => config
            .source
            .as_ref()
            .and_then(|s| s.parent())
            .filter(|d| !d.as_os_str().is_empty())
            .map(|d| d.join(p))
            .unwrap_or_else(|| p.clone()),
        None => config.state_dir.join("history.db"),
    }
}

/// How long runs are kept, seconds (`keep` was validated when the config loaded; a bad value
/// keeps 400 days).
pub fn keep_s(config: &Config) -> u64 {
    crate::policy::parse_duration_s(&config.history.keep).unwrap_or(400 * 86_400)
}

/// Validate `[history]` (called when the config loads): `keep` must be a duration.
pub fn validate(section: &HistorySection) -> Result<(), String> {
    crate::policy::parse_duration_s(&section.keep)
        .map(|_| ())
        .map_err(|e| format!("history.keep: {e}"))
}

/// What recording a run did.
#[derive(Debug, Default)]
pub struct Recorded {
    /// The open store (kept for the notifications that follow), when recording worked.
    pub store: Option<Store>,
    /// Row id of the run.
    pub run: Option<i64>,
    /// Warnings for stderr (`history: …`).
    pub warnings: Vec<String>,
}

/// Record `report` in the history of `config`. Never fails: problems become warnings.
pub fn record(config: &Config, report: &Report, dry_run: bool) -> Recorded {
    let mut out = Recorded::default();
    if !config.history.enabled || (dry_run && !config.history.dry_runs) {
        return out;
    }
    let path = db_path(config);
    let (opened, warnings) = Store::open_or_recover(&path);
    out.warnings = warnings;
    let mut store = match opened {
        Ok(s) => s,
        Err(e) => {
            out.warnings.push(format!(
                "history: cannot open {e}; this run is not recorded"
            ));
            return out;
        }
    };
    let meta = RunMeta::current(config.source.as_deref(), dry_run);
    match store.record(&meta, report) {
        Ok(id) => out.run = Some(id),
        Err(StoreError::Corrupt { message, .. }) => {
            // Damage found only past the header: move the file aside, record in a new one.
            drop(store);
            match store::move_aside(&path) {
                Ok(to) => out.warnings.push(format!(
                    "history database {} is corrupt ({message}); moved aside to {} and started a new one",
                    path.display(),
                    to.display()
                )),
                Err(e) => {
                    out.warnings.push(format!(
                        "history: {} is corrupt ({message}) and cannot be moved aside: {e}; this run is not recorded",
                        path.display()
                    ));
                    return out;
                }
            }
            match Store::open(&path, true)
                .and_then(|mut s| s.record(&meta, report).map(|id| (s, id)))
            {
                Ok((s, id)) => {
                    out.run = Some(id);
                    store = s;
                }
                Err(e) => {
                    out.warnings
                        .push(format!("history: cannot record this run: {e}"));
                    return out;
                }
            }
        }
        Err(e) => {
            out.warnings
                .push(format!("history: cannot record this run: {e}"));
            return out;
        }
    }
    if let Err(e) = store.prune(keep_s(config)) {
        out.warnings.push(format!("history: pruning old runs: {e}"));
    }
    out.store = Some(store);
    out
}

/// Open the history of `config` for reading. Errors name the file (none recorded yet,
/// unreadable, corrupt).
pub fn open_read(config: &Config) -> crate::Result<Store> {
    let path = db_path(config);
    Store::open(&path, false).map_err(|e| crate::Error::failed(format!("history: {e}")))
}
