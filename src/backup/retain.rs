//! `prune`: retention. An archive is kept when it is among the newest `keep_last`, or younger
//! than `keep_days`; the others are deleted — except the newest archive that verifies, which is
//! never deleted, so a run of corrupt recent backups cannot leave nothing to restore.

use std::path::Path;

use super::names;
use super::verify::verify;
use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// Retention rules (at least one must be given).
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Keep the newest N archives.
    pub keep_last: Option<u64>,
    /// Keep archives created less than N days ago.
    pub keep_days: Option<u64>,
}

/// What `prune` did.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct PruneResult {
    /// Number of archives deleted.
    pub deleted: u64,
    /// Number of archives kept.
    pub kept: u64,
    /// Paths deleted, newest first.
    pub deleted_paths: Vec<String>,
    /// Paths kept, newest first.
    pub kept_paths: Vec<String>,
    /// The newest archive that verifies (kept whatever the rules say), if one was needed and found.
    pub protected: Option<String>,
    /// Partial archives of this name left by killed runs (idle for a day) that were removed.
    pub partials_removed: Vec<String>,
}

/// A partial archive untouched this long belongs to a run that died.
const STALE_PARTIAL: std::time::Duration = std::time::Duration::from_secs(86_400);

/// What `prune` would delete and keep, without deleting: `(delete, keep, protected)`.
fn decide(
    dir: &Path,
    name: &str,
    opts: &PruneOptions,
    cancel: &Cancel,
) -> Result<(Vec<names::Found>, Vec<names::Found>, Option<String>)> {
    names::check_name("backup::prune", name)?;
    if opts.keep_last.is_none() && opts.keep_days.is_none() {
        return Err(Error::Usage(
            "backup::prune: give keep_last and/or keep_days".into(),
        ));
    }
    let all = names::find(dir, name)?;
    let now = chrono::Utc::now();
    let young = |f: &names::Found| {
        opts.keep_days.is_some_and(|d| {
            let days = i64::try_from(d)
                .unwrap_or(i64::MAX / 86_400_000)
                .min(i64::MAX / 86_400_000);
            now.signed_duration_since(f.parsed.created)
                < chrono::Duration::milliseconds(days * 86_400_000)
        })
    };
    let (mut keep, mut delete) = (Vec::new(), Vec::new());
    for (i, f) in all.into_iter().enumerate() {
        if opts.keep_last.is_some_and(|n| (i as u64) < n) || young(&f) {
            keep.push(f);
        } else {
            delete.push(f);
        }
    }
    let mut protected = None;
    if !delete.is_empty() {
        // Find the newest archive that verifies, among all of them, newest first.
        let mut candidates: Vec<&names::Found> = keep.iter().chain(delete.iter()).collect();
        candidates
            .sort_by(|a, b| (b.parsed.created, b.parsed.n).cmp(&(a.parsed.created, a.parsed.n)));
        let mut newest_ok = None;
        for c in candidates {
            cancel.check()?;
            if verify(&c.path, cancel)?.ok {
                newest_ok = Some(c.path.clone());
                break;
            }
        }
        if let Some(p) = newest_ok {
            if let Some(pos) = delete.iter().position(|f| f.path == p) {
                keep.push(delete.remove(pos));
                keep.sort_by(|a, b| {
                    (b.parsed.created, b.parsed.n).cmp(&(a.parsed.created, a.parsed.n))
                });
            }
            protected = Some(p.display().to_string());
        }
    }
    Ok((delete, keep, protected))
}

/// Apply the retention rules to the archives of backup `name` in `dir`.
pub fn prune(dir: &Path, name: &str, opts: &PruneOptions, cancel: &Cancel) -> Result<PruneResult> {
    let (delete, keep, protected) = decide(dir, name, opts, cancel)?;
    let mut deleted = Vec::new();
    for f in &delete {
        cancel.check()?;
        std::fs::remove_file(&f.path)
            .map_err(|e| Error::io("backup::prune: deleting", &f.path, e))?;
        deleted.push(f.path.display().to_string());
    }
    let mut partials_removed = Vec::new();
    for p in names::stale_partials(dir, name, STALE_PARTIAL)? {
        match std::fs::remove_file(&p) {
            Ok(()) => partials_removed.push(p.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("backup::prune: deleting", &p, e)),
        }
    }
    let kept_paths: Vec<String> = keep.iter().map(|f| f.path.display().to_string()).collect();
    Ok(PruneResult {
        deleted: deleted.len() as u64,
        kept: kept_paths.len() as u64,
        deleted_paths: deleted,
        kept_paths,
        protected,
        partials_removed,
    })
}

/// What `prune` would do (for `--dry-run` plans): the same lists, nothing deleted.
pub fn plan(dir: &Path, name: &str, opts: &PruneOptions, cancel: &Cancel) -> Result<PruneResult> {
    let (delete, keep, protected) = decide(dir, name, opts, cancel)?;
    let p = |v: &[names::Found]| {
        v.iter()
            .map(|f| f.path.display().to_string())
            .collect::<Vec<_>>()
    };
    let (deleted_paths, kept_paths) = (p(&delete), p(&keep));
    let partials_removed = names::stale_partials(dir, name, STALE_PARTIAL)?
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    Ok(PruneResult {
        deleted: deleted_paths.len() as u64,
        kept: kept_paths.len() as u64,
        deleted_paths,
        kept_paths,
        protected,
        partials_removed,
    })
}
