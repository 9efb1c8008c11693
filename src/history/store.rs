//! The SQLite file behind the history: schema, migrations, recovery from a corrupt file, and the
//! writes of one run.
//!
//! Schema (version 1, `PRAGMA user_version`):
//!
//! * `runs(id, run_id, runbook, params JSON, status, exit_code, started_ms, duration_ms, user,
//!   host, config, dry_run, error)` — one row per recorded run; times are Unix milliseconds UTC.
//! * `checks(run, name, status, value, value_json, threshold, detail, at_ms)` — one row per
//!   `check(...)`; `status` is 0 ok, 1 failed, 2 unknown; `value` holds numeric values (REAL),
//!   `value_json` anything else; `at_ms` is the end of the run (the report holds no per-check time).
//! * `effects(run, action, target, outcome, detail, at_ms)`.
//! * `meta(key, value)` — `last_prune_ms`.
//!
//! The database runs in WAL mode with a busy timeout so concurrent runs all record.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, params};
use serde_json::Value;

use crate::report::{CheckStatus, Report};

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// How long a writer waits for another run's transaction before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The WAL size (bytes) above which a closing store folds the WAL into the database (see
/// [`Store`]'s `Drop`): 256 KiB, about 60 frames of 4 KiB, 15–20 recorded runs. Every process
/// that opens the database first reads the whole WAL (SQLite rebuilds its index when no other
/// connection holds it), so this also bounds that read: ~0.2 ms instead of a read that grows with
/// every run.
pub const WAL_FOLD_AT: u64 = 256 << 10;

/// Migrations, index = version reached minus one.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    runbook TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    exit_code INTEGER NOT NULL,
    started_ms INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    user TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '',
    config TEXT,
    dry_run INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX runs_by_runbook ON runs(runbook, started_ms);
CREATE INDEX runs_by_time ON runs(started_ms);
CREATE TABLE checks (
    run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    status INTEGER NOT NULL,
    value REAL,
    value_json TEXT,
    threshold TEXT,
    detail TEXT NOT NULL DEFAULT '',
    at_ms INTEGER NOT NULL
);
CREATE INDEX checks_by_name ON checks(name, at_ms, status, value);
CREATE INDEX checks_by_run ON checks(run);
CREATE TABLE effects (
    run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    at_ms INTEGER NOT NULL
);
CREATE INDEX effects_by_run ON effects(run);
CREATE INDEX effects_by_time ON effects(at_ms);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"#];

/// Status as stored: 0 ok, 1 failed, 2 unknown.
pub fn status_code(s: CheckStatus) -> i64 {
    match s {
        CheckStatus::Ok => 0,
        CheckStatus::Failed => 1,
        CheckStatus::Unknown => 2,
    }
}

/// The word for a stored status code.
pub fn status_word(code: i64) -> &'static str {
    match code {
        0 => "ok",
        1 => "failed",
        _ => "unknown",
    }
}

/// Why the history could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not a database or is damaged (it is moved aside by [`Store::open_or_recover`]).
    #[error("{path} is corrupt: {message}")]
    Corrupt { path: PathBuf, message: String },
    /// Any other failure (permissions, full disk, a newer schema).
    #[error("{path}: {message}")]
    Other { path: PathBuf, message: String },
}

/// An open history database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Opened and migrated: only then may closing fold the WAL (a damaged file is moved aside
    /// as it was, not written into).
    migrated: bool,
}

/// Fold a large WAL into the database when the store closes.
///
/// A run is a short process holding the only connection, and it closes without SQLite's
/// checkpoint-on-close (four fsyncs per run). SQLite's automatic checkpoint is no substitute
/// there: it copies the WAL into the database at a commit, but only a later transaction of the
/// *same* connection starts the WAL over, and the next process rebuilds the WAL index with
/// nothing marked as copied. With one recording per process the WAL then grew by every run
/// (measured: 13 MB after 900 runs, start-up 12 → 27 ms, three fsyncs per run once past
/// SQLite's 1000 pages). So the store itself truncates the WAL at close once it passes
/// [`WAL_FOLD_AT`]: one checkpoint (and its fsyncs) per 15–20 runs, a WAL that never grows past
/// one run beyond the mark. It never waits: when another process is reading or writing, the
/// checkpoint gives up at once (busy) and a later close does it.
impl Drop for Store {
    fn drop(&mut self) {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let large = std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_FOLD_AT);
        if self.migrated && large && self.conn.busy_timeout(Duration::ZERO).is_ok() {
            // Busy or read-only: the row says so (or the call fails); either way a later close folds it.
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    r.get::<_, i64>(0)
                });
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn is_corrupt(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt) | Some(ErrorCode::NotADatabase)
    )
}

impl Store {
    fn err(&self, e: rusqlite::Error) -> StoreError {
        classify(&self.path, e)
    }

    /// Open (creating it and its folder when `create`) and migrate. Readers open read-write
    /// too (WAL needs its `-shm` file); a missing file with `!create` is an error.
    pub fn open(path: &Path, create: bool) -> Result<Store, StoreError> {
        if create {
            if let Some(parent) = path.parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::Other {
                    path: path.into(),
                    message: format!("creating {}: {e}", parent.display()),
                })?;
            }
        } else if !path.exists() {
            return Err(StoreError::Other {
                path: path.into(),
                message: "no history recorded yet".into(),
            });
        }
        let flags = if create {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(path, e))?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            migrated: false,
        };
        store
            .conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| store.err(e))?;
        store.migrate()?;
        store.migrated = true;
        Ok(store)
    }

    /// Open for recording; a corrupt file (and its `-wal`/`-shm`) is renamed to
    /// `NAME.corrupt-YYYYMMDDTHHMMSSZ` and a new database started. The warnings say what happened.
    pub fn open_or_recover(path: &Path) -> (Result<Store, StoreError>, Vec<String>) {
        let mut warnings = Vec::new();
        match Store::open(path, true) {
            Err(StoreError::Corrupt { message, .. }) => {
                match move_aside(path) {
                    Ok(to) => warnings.push(format!(
                        "history database {} is corrupt ({message}); moved aside to {} and started a new one",
                        path.display(),
                        to.display()
                    )),
                    Err(e) => {
                        return (
                            Err(StoreError::Other {
                                path: path.into(),
                                message: format!("corrupt ({message}) and cannot be moved aside: {e}"),
                            }),
                            warnings,
                        );
                    }
                }
                (Store::open(path, true), warnings)
            }
            other => (other, warnings),
        }
    }

    /// Close without folding the WAL: a file found damaged is moved aside as it was, not
    /// written into by a checkpoint.
    pub fn close_unfolded(mut self) {
        self.migrated = false;
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying connection (queries).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let c = &self.conn;
        // journal_mode reads the header: the first statement that fails on a non-database.
        let mode: String = c
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let _ = mode;
        c.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
            .map_err(|e| self.err(e))?;
        // Each `runbook run` is a short process holding the only connection: without this, its
        // close checkpoints the WAL into the database every time (four fsyncs, 2–15 ms of the
        // run's start-up on this machine's disk). The store folds the WAL when it closes past
        // `WAL_FOLD_AT` instead (see `Drop for Store`); readers see the same rows either way.
        c.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .map_err(|e| self.err(e))?;
        let version: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Other {
                path: self.path.clone(),
                message: format!(
                    "schema version {version} is newer than this runbook build knows ({SCHEMA_VERSION})"
                ),
            });
        }
        if version == SCHEMA_VERSION {
            // A file whose header is fine but whose schema is gone is damaged.
            let n: i64 = c
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN ('runs','checks','effects','meta')",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| self.err(e))?;
            if n != 4 {
                return Err(StoreError::Corrupt {
                    path: self.path.clone(),
                    message: format!("schema version {version} but {n} of 4 tables"),
                });
            }
            return Ok(());
        }
        // Under the write lock, re-read the version: another run may have migrated meanwhile.
        c.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        let result = (|| -> rusqlite::Result<()> {
            let now: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(now.max(0) as usize) {
                c.execute_batch(sql)?;
                c.execute_batch(&format!("PRAGMA user_version={}", i + 1))?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => c.execute_batch("COMMIT").map_err(|e| self.err(e))?,
            Err(e) => {
                let _ = c.execute_batch("ROLLBACK");
                return Err(self.err(e));
            }
        }
        Ok(())
    }

    /// Record one finished run with its checks and effects; returns the row id.
    pub fn record(&mut self, run: &RunMeta, report: &Report) -> Result<i64, StoreError> {
        let path = self.path.clone();
        let e = |e: rusqlite::Error| classify(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        let started_ms = parse_ms(&report.started).unwrap_or_else(now_ms);
        let end_ms = started_ms + report.duration_ms as i64;
        tx.execute(
            "INSERT INTO runs(run_id, runbook, params, status, exit_code, started_ms, duration_ms, user, host, config, dry_run, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                run.run_id,
                report.runbook,
                Value::Object(report.params.clone()).to_string(),
                report.status.as_str(),
                report.exit_code,
                started_ms,
                report.duration_ms as i64,
                run.user,
                run.host,
                run.config,
                run.dry_run as i64,
                report.error,
            ],
        )
        .map_err(e)?;
        let id = tx.last_insert_rowid();
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO checks(run, name, status, value, value_json, threshold, detail, at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(e)?;
            for c in &report.checks {
                let (num, other) = match &c.value {
                    Some(Value::Number(n)) => (n.as_f64(), None),
                    Some(Value::Bool(b)) => (Some(if *b { 1.0 } else { 0.0 }), None),
                    Some(Value::Null) | None => (None, None),
                    Some(v) => (None, Some(v.to_string())),
                };
                ins.execute(params![
                    id,
                    c.name,
                    status_code(c.status),
                    num,
                    other,
                    c.threshold.as_ref().map(Value::to_string),
                    c.detail,
                    end_ms,
                ])
                .map_err(e)?;
            }
            let mut ins = tx
                .prepare(
                    "INSERT INTO effects(run, action, target, outcome, detail, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(e)?;
            for f in &report.effects {
                ins.execute(params![id, f.action, f.target, f.outcome, f.detail, end_ms])
                    .map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        Ok(id)
    }

    /// Delete runs that started before `now - keep_s`, at most once a day (the time of the
    /// last prune is kept in `meta`). Returns the number of runs deleted.
    pub fn prune(&mut self, keep_s: u64) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let e = |e: rusqlite::Error| classify(&path, e);
        let now = now_ms();
        let last: Option<i64> = self
            .conn
            .query_row(
                "SELECT CAST(value AS INTEGER) FROM meta WHERE key='last_prune_ms'",
                [],
                |r| r.get(0),
            )
            .ok();
        if last.is_some_and(|l| now - l < 86_400_000) {
            return Ok(0);
        }
        let cutoff = now.saturating_sub((keep_s as i64).saturating_mul(1000));
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        tx.execute(
            "DELETE FROM checks WHERE run IN (SELECT id FROM runs WHERE started_ms < ?1)",
            [cutoff],
        )
        .map_err(e)?;
        tx.execute(
            "DELETE FROM effects WHERE run IN (SELECT id FROM runs WHERE started_ms < ?1)",
            [cutoff],
        )
        .map_err(e)?;
        let n = tx
            .execute("DELETE FROM runs WHERE started_ms < ?1", [cutoff])
            .map_err(e)?;
        tx.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('last_prune_ms', ?1)",
            [now.to_string()],
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(n)
    }
}

/// Who ran, where, with which config: the parts of a history row the report does not hold.
#[derive(Debug, Clone, Default)]
pub struct RunMeta {
    pub run_id: String,
    pub user: String,
    pub host: String,
    pub config: Option<String>,
    pub dry_run: bool,
}

impl RunMeta {
    /// The current user and host, `config` as given.
    pub fn current(config: Option<&Path>, dry_run: bool) -> RunMeta {
        RunMeta {
            run_id: crate::ctx::new_run_id(),
            user: crate::audit::current_user(),
            host: hostname(),
            config: config.map(|p| p.display().to_string()),
            dry_run,
        }
    }
}

/// This machine's host name (`gethostname(2)`), or `""`.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    if is_corrupt(&e) {
        StoreError::Corrupt {
            path: path.into(),
            message: e.to_string(),
        }
    } else {
        StoreError::Other {
            path: path.into(),
            message: e.to_string(),
        }
    }
}

/// Rename `path` and its `-wal`/`-shm` companions aside; returns the new name of the main file.
pub fn move_aside(path: &Path) -> std::io::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "history.db".into());
    let to = path.with_file_name(format!("{name}.corrupt-{stamp}"));
    std::fs::rename(path, &to)?;
    for suffix in ["-wal", "-shm"] {
        let side = path.with_file_name(format!("{name}{suffix}"));
        if side.exists() {
            let _ = std::fs::rename(
                &side,
                to.with_file_name(format!("{name}.corrupt-{stamp}{suffix}")),
            );
        }
    }
    Ok(to)
}

/// Now in Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub use crate::timefmt::{ms_to_rfc3339, parse_ms};
