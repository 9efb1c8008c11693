//! Run history: every `runbook run` recorded in an embedded SQLite database
//! (`STATE_DIR/history.db`, `[history] path`), read back by `runbook history`, `runbook report`,
//! the `history::` Rhai module and the notifications.
//!
//! History never fails a run: a database that cannot be opened or written is a warning on
//! stderr, a corrupt one is moved aside and a new one started. The audit log stays the
//! authoritative record of effects.

pub mod query;
pub mod report;

pub mod store;

use std::path::PathBuf;

use crate::policy::Config;
use crate::report::Report;
pub use store::{RunMeta, Store, StoreError};

pub use crate::policy::HistorySection;

/// Where the history database of `config` is.
pub fn db_path(config: &Config) -> PathBuf {
    config.history_db_path()
}

/// How long runs are kept, seconds (`keep` was validated when the config loaded; a bad value
/// keeps 400 days).
pub fn keep_s(config: &Config) -> u64 {
    crate::timefmt::parse_duration_s(&config.history.keep).unwrap_or(400 * 86_400)
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
            store.close_unfolded();
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
