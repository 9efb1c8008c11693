//! Cleaning a log folder: delete, or gzip-compress, files older than a given age.
//!
//! [`plan`] only reads (it lists what would be done); [`apply`] performs the plan and is meant
//! to run as the closure of `Ctx::effect`, so policy, audit and `--dry-run` stay in one place.
//!
//! Only regular files directly in the folder are considered (symbolic links and folders are
//! left alone). Compression writes `NAME.gz` next to the file through a temporary file in the
//! same folder (fsynced, renamed without overwriting, modification time kept), and removes the
//! original only after the compressed copy is in place; a file that changed since the plan
//! (a live log still being written) is left as it is and reported.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use flate2::{Compression, GzBuilder};
use serde::Serialize;

use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// One file to delete or compress.
#[derive(Debug, Clone)]
pub struct CleanupItem {
    pub path: PathBuf,
    pub size: u64,
    pub modified: SystemTime,
    pub compress: bool,
}

/// A file that could not be cleaned, and why.
#[derive(Debug, Clone, Serialize)]
pub struct CleanupFailure {
    pub path: String,
    pub error: String,
}

/// What [`apply`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CleanupOutcome {
    pub removed: u64,
    pub compressed: u64,
    pub bytes_freed: u64,
    /// Files deleted or compressed.
    pub files: Vec<String>,
    pub failed: Vec<CleanupFailure>,
}

/// The files in `dir` whose name matches `pattern` (a glob on the file name, e.g. `*.log*`) and
/// whose modification time is more than `older_than` before `now`. With `compress`, files
/// already ending in `.gz` are left out.
pub fn plan(
    dir: &Path,
    pattern: &str,
    older_than: Duration,
    compress: bool,
    now: SystemTime,
) -> Result<Vec<CleanupItem>> {
    let glob = globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| Error::Usage(format!("logs::cleanup: invalid pattern {pattern:?}: {e}")))?
        .compile_matcher();
    let cutoff = now
        .checked_sub(older_than)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut items = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("listing log folder", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("listing log folder", dir, e))?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if !glob.is_match(Path::new(&*name_str)) {
            continue;
        }
        if compress && name_str.ends_with(".gz") {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| Error::io("reading file metadata", &path, e))?;
        if !meta.file_type().is_file() {
            continue;
        }
        let modified = meta
            .modified()
            .map_err(|e| Error::io("reading modification time", &path, e))?;
        if modified < cutoff {
            items.push(CleanupItem {
                path,
                size: meta.len(),
                modified,
                compress,
            });
        }
    }
    items.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(items)
}

/// Delete or compress every item of a plan. A file that fails is reported in `failed` and the
/// others continue; Ctrl-C or the deadline stops between files (and during a compression).
pub fn apply(items: &[CleanupItem], cancel: &Cancel) -> Result<CleanupOutcome> {
    let mut out = CleanupOutcome::default();
    for item in items {
        cancel.check()?;
        let result = if item.compress {
            compress_one(item, cancel)
        } else {
            delete_one(item)
        };
        match result {
            Ok(freed) => {
                out.bytes_freed += freed;
                if item.compress {
                    out.compressed += 1;
                } else {
                    out.removed += 1;
                }
                out.files.push(item.path.display().to_string());
            }
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(e @ Error::Limit(_)) => return Err(e),
            Err(e) => out.failed.push(CleanupFailure {
                path: item.path.display().to_string(),
                error: e.to_string(),
            }),
        }
    }
    Ok(out)
}

fn unchanged(item: &CleanupItem) -> Result<()> {
    let meta = std::fs::symlink_metadata(&item.path)
        .map_err(|e| Error::io("reading file metadata", &item.path, e))?;
    let same = meta.file_type().is_file()
        && meta.len() == item.size
        && meta.modified().ok() == Some(item.modified);
    if same {
        Ok(())
    } else {
        Err(Error::failed(format!(
            "{}: changed since it was selected; left as it is",
            item.path.display()
        )))
    }
}

fn delete_one(item: &CleanupItem) -> Result<u64> {
    unchanged(item)?;
    std::fs::remove_file(&item.path).map_err(|e| Error::io("deleting", &item.path, e))?;
    Ok(item.size)
}

fn compress_one(item: &CleanupItem, cancel: &Cancel) -> Result<u64> {
    unchanged(item)?;
    let path = &item.path;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target = dir.join(format!("{name}.gz"));
    if std::fs::symlink_metadata(&target).is_ok() {
        return Err(Error::failed(format!(
            "{}: {} already exists; not overwritten",
            path.display(),
            target.display()
        )));
    }
    let mut src = File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".gz.tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io("creating temporary file in", dir, e))?;
    let mtime_s = item
        .modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as u32;
    let writer = BufWriter::with_capacity(
        256 * 1024,
        tmp.as_file()
            .try_clone()
            .map_err(|e| Error::io("opening", tmp.path(), e))?,
    );
    let mut enc = GzBuilder::new()
        .filename(name.as_bytes())
        .mtime(mtime_s)
        .write(writer, Compression::default());
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("reading", path, e)),
        };
        enc.write_all(&buf[..n])
            .map_err(|e| Error::io("writing", tmp.path(), e))?;
        cancel.check()?;
    }
    let mut writer = enc
        .finish()
        .map_err(|e| Error::io("writing", tmp.path(), e))?;
    writer
        .flush()
        .map_err(|e| Error::io("writing", tmp.path(), e))?;
    drop(writer);
    let file = tmp.as_file();
    file.sync_all()
        .map_err(|e| Error::io("syncing", tmp.path(), e))?;
    file.set_modified(item.modified)
        .map_err(|e| Error::io("setting modification time of", tmp.path(), e))?;
    // the compressed copy keeps the source's permissions (tempfile creates 0600)
    let mode = src
        .metadata()
        .map_err(|e| Error::io("reading metadata of", path, e))?
        .permissions();
    file.set_permissions(mode)
        .map_err(|e| Error::io("setting permissions of", tmp.path(), e))?;
    let gz_size = file
        .metadata()
        .map_err(|e| Error::io("reading file metadata", tmp.path(), e))?
        .len();
    // A live file written while we compressed keeps its new lines: do not delete it.
    unchanged(item)?;
    tmp.persist_noclobber(&target)
        .map_err(|e| Error::io("renaming compressed file to", &target, e.error))?;
    if let Ok(d) = OpenOptions::new().read(true).open(dir) {
        let _ = d.sync_all(); // make the rename durable where the platform allows
    }
    std::fs::remove_file(path).map_err(|e| Error::io("deleting", path, e))?;
    Ok(item.size.saturating_sub(gz_size))
}
