//! `fs::` — files inside the policy's roots.
//!
//! Reads are checked against `policy.read` (and `policy.write`), writes against
//! `policy.write`, both after resolving `..` and symbolic links. Writes are effects: audited,
//! planned only under `--dry-run`. `write` replaces a file atomically (temporary file in the
//! same folder, fsync, rename), so a reader never sees half a file.
//!
//! This file is the pattern for every module: thin `#[export_module]` adapters over the plain
//! functions at the bottom, policy through [`Ctx`], mutations through [`Ctx::effect`].

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rhai::plugin::*;
use serde_json::json;

use crate::ctx::Ctx;
use crate::effects::Need;
use crate::error::{Error, Result};

/// Default cap of `fs::read`, bytes.
pub const READ_CAP: u64 = 16 << 20;

#[export_module]
pub mod fs_module {
    use crate::error::RhaiResult;
    use rhai::{Array, Dynamic, Map};
    use std::path::Path;

    /// Whether `path` exists (file, folder or anything else).
    ///
    /// Throws `denied` when `path` is outside the policy's read roots.
    ///
    /// Example:
    /// ```rhai
    /// print(fs::exists("logs/combined.log"));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn exists(ncc: NativeCallContext, path: &str) -> RhaiResult<bool> {
        crate::modules::host(&ncc, |c| {
            let p = c.allow_read("fs.exists", Path::new(path))?;
            Ok(p.exists())
        })
    }

    /// The text of file `path`, decoded as UTF-8 (invalid bytes replaced), at most 16 MiB.
    ///
    /// Throws when the file is missing or unreadable, larger than 16 MiB (`limit`), or outside
    /// the policy's read roots (`denied`).
    ///
    /// Example:
    /// ```rhai
    /// let text = fs::read("logs/combined.log");
    /// print(text.len());
    /// ```
    #[rhai_fn(return_raw)]
    pub fn read(ncc: NativeCallContext, path: &str) -> RhaiResult<String> {
        crate::modules::host(&ncc, |c| {
            let p = c.allow_read("fs.read", Path::new(path))?;
            super::read_capped(&p, super::READ_CAP)
        })
    }

    /// Size, modification time and kind of `path` → `#{size, modified, is_dir}`
    /// (`size` bytes, `modified` RFC 3339 UTC).
    ///
    /// Throws when the path does not exist or is outside the policy's read roots.
    ///
    /// Example:
    /// ```rhai
    /// let s = fs::stat("logs/combined.log");
    /// print(s.size);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn stat(ncc: NativeCallContext, path: &str) -> RhaiResult<Map> {
        crate::modules::host(&ncc, |c| {
            let p = c.allow_read("fs.stat", Path::new(path))?;
            let m = std::fs::metadata(&p).map_err(|e| crate::error::Error::io("stat", &p, e))?;
            let mut out = Map::new();
            out.insert("size".into(), (m.len() as i64).into());
            let modified = m
                .modified()
                .map(crate::timefmt::system_time)
                .unwrap_or_default();
            out.insert("modified".into(), modified.into());
            out.insert("is_dir".into(), m.is_dir().into());
            Ok(out)
        })
    }

    /// Paths of the entries of folder `dir`, sorted (not recursive).
    ///
    /// Throws when `dir` is not a readable folder or outside the policy's read roots.
    ///
    /// Example:
    /// ```rhai
    /// print(fs::list("logs"));
    /// ```
    #[rhai_fn(name = "list", return_raw)]
    pub fn list1(ncc: NativeCallContext, dir: &str) -> RhaiResult<Array> {
        list2(ncc, dir, "*")
    }

    /// Paths of the entries of folder `dir` whose file name matches `glob` (`*.log`), sorted.
    ///
    /// Throws when `glob` is invalid, `dir` is not a readable folder, or outside the read roots.
    ///
    /// Example:
    /// ```rhai
    /// print(fs::list("logs", "*.log"));
    /// ```
    #[rhai_fn(name = "list", return_raw)]
    pub fn list2(ncc: NativeCallContext, dir: &str, glob: &str) -> RhaiResult<Array> {
        crate::modules::host(&ncc, |c| {
            let p = c.allow_read("fs.list", Path::new(dir))?;
            let names = super::list_dir(&p, glob)?;
            Ok(names
                .into_iter()
                .map(|n| Dynamic::from(n.to_string_lossy().to_string()))
                .collect())
        })
    }

    /// Files below folder `dir` (recursively, symbolic links not followed) whose path relative to
    /// `dir` matches `glob` (`*.pem`, `logs/**/*.gz`; `*` also crosses `/`), sorted. At most
    /// 100 000 paths.
    ///
    /// Throws when `glob` is invalid, `dir` is not a readable folder, outside the read roots,
    /// or holds more than 100 000 matching files (`limit`).
    ///
    /// Example:
    /// ```rhai
    /// print(fs::find(".", "*.log"));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn find(ncc: NativeCallContext, dir: &str, glob: &str) -> RhaiResult<Array> {
        crate::modules::host(&ncc, |c| {
            let p = c.allow_read("fs.find", Path::new(dir))?;
            let found = super::find_files(&p, glob, 100_000, &c.cancel)?;
            Ok(found
                .into_iter()
                .map(|n| Dynamic::from(n.to_string_lossy().to_string()))
                .collect())
        })
    }

    /// SHA-256 of the contents of file `path`, as 64 lowercase hex digits (streamed; any size).
    ///
    /// Throws when the file is missing or unreadable, or outside the policy's read roots.
    ///
    /// Example:
    /// ```rhai
    /// print(fs::sha256("logs/combined.log"));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn sha256(ncc: NativeCallContext, path: &str) -> RhaiResult<String> {
        crate::modules::host(&ncc, |c| {
            let p = c.allow_read("fs.sha256", Path::new(path))?;
            super::sha256_file(&p, &c.cancel)
        })
    }

    /// Replace the contents of `path` with `text`, atomically (effect `fs.write`).
    ///
    /// Throws `denied` outside the policy's write roots, or an I/O error naming the path.
    ///
    /// Example:
    /// ```rhai
    /// fs::write("notes.txt", "checked by runbook\n");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn write(ncc: NativeCallContext, path: &str, text: &str) -> RhaiResult<()> {
        crate::modules::host(&ncc, |c| {
            super::write_effect(c, Path::new(path), text.as_bytes(), false)
        })
    }

    /// Append `text` to `path`, creating it if needed (effect `fs.append`).
    ///
    /// Throws `denied` outside the policy's write roots, or an I/O error naming the path.
    ///
    /// Example:
    /// ```rhai
    /// fs::append("notes.txt", "one more line\n");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn append(ncc: NativeCallContext, path: &str, text: &str) -> RhaiResult<()> {
        crate::modules::host(&ncc, |c| {
            super::write_effect(c, Path::new(path), text.as_bytes(), true)
        })
    }

    /// Copy file `from` to `to` (replacing `to` atomically; effect `fs.copy`). Returns bytes copied.
    ///
    /// Throws `denied` when `from` is not readable or `to` not writable by policy, or an I/O error.
    ///
    /// Example:
    /// ```rhai
    /// fs::copy("logs/combined.log", "combined.copy");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn copy(ncc: NativeCallContext, from: &str, to: &str) -> RhaiResult<i64> {
        crate::modules::host(&ncc, |c| {
            super::copy_effect(c, Path::new(from), Path::new(to))
        })
    }

    /// Remove file `path`, or folder `path` when it is empty (effect `fs.remove`).
    /// Removing a path that does not exist is not an error (returns `false`).
    ///
    /// Throws `denied` outside the write roots, or an I/O error (e.g. folder not empty).
    ///
    /// Example:
    /// ```rhai
    /// fs::write("old.tmp", "x");
    /// print(fs::remove("old.tmp"));   // true
    /// ```
    #[rhai_fn(return_raw)]
    pub fn remove(ncc: NativeCallContext, path: &str) -> RhaiResult<bool> {
        crate::modules::host(&ncc, |c| super::remove_effect(c, Path::new(path)))
    }

    /// Create folder `path` and its parents (effect `fs.mkdir`).
    ///
    /// Throws `denied` outside the write roots, or an I/O error.
    ///
    /// Example:
    /// ```rhai
    /// fs::mkdir("reports/2026");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn mkdir(ncc: NativeCallContext, path: &str) -> RhaiResult<()> {
        crate::modules::host(&ncc, |c| {
            let needs = [crate::effects::Need::Write(path.into())];
            c.run_effect_or(
                crate::effects::Effect {
                    action: "fs.mkdir",
                    target: path,
                    args: serde_json::Value::Null,
                    needs: &needs,
                    read_only: false,
                    preflight: Vec::new(),
                },
                |_| Ok(()),
                |r| {
                    let real = r.path(0)?;
                    std::fs::create_dir_all(real)
                        .map_err(|e| crate::error::Error::io("creating folder", real, e))
                },
            )
        })
    }
}

/// Read at most `cap` bytes of `path` as lossy UTF-8; larger files are a `Limit` error, and
/// anything but a regular file (FIFO, socket, device) an `io` error naming it.
pub fn read_capped(path: &Path, cap: u64) -> Result<String> {
    let f = crate::host::open_regular(path, "reading")?;
    let mut buf = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io("reading", path, e))?;
    if buf.len() as u64 > cap {
        return Err(Error::Limit(format!(
            "{} is larger than {} bytes (fs::read cap)",
            path.display(),
            cap
        )));
    }
    Ok(match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Entries of `dir` whose file name matches `glob`, sorted.
pub fn list_dir(dir: &Path, glob: &str) -> Result<Vec<PathBuf>> {
    let matcher = globset::Glob::new(glob)
        .map_err(|e| Error::Usage(format!("fs::list: bad glob {glob:?}: {e}")))?
        .compile_matcher();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("listing", dir, e))?;
        if matcher.is_match(entry.file_name()) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Files below `dir` whose relative path matches `glob`, sorted; symlinks are not followed.
/// Errors: bad glob, unreadable folder, more than `cap` matches (`Limit`), cancellation.
pub fn find_files(
    dir: &Path,
    glob: &str,
    cap: usize,
    cancel: &crate::cancel::Cancel,
) -> Result<Vec<PathBuf>> {
    let matcher = globset::GlobBuilder::new(glob)
        .literal_separator(false)
        .build()
        .map_err(|e| Error::Usage(format!("fs::find: bad glob {glob:?}: {e}")))?
        .compile_matcher();
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        cancel.check()?;
        let rd = std::fs::read_dir(&d).map_err(|e| Error::io("listing", &d, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| Error::io("listing", &d, e))?;
            let ft = entry
                .file_type()
                .map_err(|e| Error::io("listing", entry.path(), e))?;
            let path = entry.path();
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() {
                let rel = path.strip_prefix(dir).unwrap_or(&path);
                if matcher.is_match(rel) {
                    if out.len() >= cap {
                        return Err(Error::Limit(format!(
                            "more than {cap} files match {glob:?} under {}",
                            dir.display()
                        )));
                    }
                    out.push(path);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Streamed SHA-256 of a file as lowercase hex; anything but a regular file is an `io` error
/// (one implementation, shared with `backup::create`).
pub use crate::backup::create::sha256_file;

/// Write `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".runbook-")
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(|e| Error::io("creating temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .map_err(|e| Error::io("writing", tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("syncing", tmp.path(), e))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(path)
        .map_err(|e| Error::io("replacing", path, e.error))?;
    Ok(())
}

fn write_effect(c: &Ctx, path: &Path, bytes: &[u8], append: bool) -> Result<()> {
    let action = if append { "fs.append" } else { "fs.write" };
    let target = path.display().to_string();
    let args = json!({ "bytes": bytes.len() });
    let needs = [Need::Write(path.into())];
    c.run_effect(
        crate::effects::Effect {
            action,
            target: &target,
            args,
            needs: &needs,
            read_only: false,
            preflight: vec![Box::new(|r| {
                crate::effects::parent_exists(r.path(0).map_err(|e| e.to_string())?)
            })],
        },
        |r| {
            let real = r.path(0)?;
            if append {
                crate::host::refuse_non_regular(real, "appending to")?;
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(real)
                    .map_err(|e| Error::io("opening for append", real, e))?;
                f.write_all(bytes)
                    .map_err(|e| Error::io("appending to", real, e))?;
                f.flush().map_err(|e| Error::io("appending to", real, e))
            } else {
                write_atomic(real, bytes)
            }
        },
    )?;
    Ok(())
}

fn copy_effect(c: &Ctx, from: &Path, to: &Path) -> Result<i64> {
    let target = format!("{} -> {}", from.display(), to.display());
    let src = c.allow_read("fs.copy", from)?;
    let needs = [Need::Write(to.into())];
    c.run_effect_or(
        crate::effects::Effect {
            action: "fs.copy",
            target: &target,
            args: json!({}),
            needs: &needs,
            read_only: false,
            preflight: vec![Box::new(|r| {
                crate::effects::parent_exists(r.path(0).map_err(|e| e.to_string())?)
            })],
        },
        |_| Ok(0),
        |r| {
            let dst = r.path(0)?;
            let dir = dst.parent().unwrap_or(Path::new("."));
            let tmp = tempfile::Builder::new()
                .prefix(".runbook-")
                .suffix(".partial")
                .tempfile_in(dir)
                .map_err(|e| Error::io("creating temporary file in", dir, e))?;
            let mut from_file = crate::host::open_regular(&src, "copying")?;
            let n = std::io::copy(&mut from_file, &mut tmp.as_file())
                .map_err(|e| Error::io("copying", &src, e))?;
            if let Ok(meta) = from_file.metadata() {
                let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
            }
            tmp.as_file()
                .sync_all()
                .map_err(|e| Error::io("syncing", tmp.path(), e))?;
            tmp.persist(dst)
                .map_err(|e| Error::io("replacing", dst, e.error))?;
            Ok(n as i64)
        },
    )
}

fn remove_effect(c: &Ctx, path: &Path) -> Result<bool> {
    let target = path.display().to_string();
    // The path checked is the path removed: the gate resolves the folder part (`..`, links)
    // and keeps the last component, so a symlink is removed itself, never its target.
    let needs = [Need::Remove(path.into())];
    c.run_effect_or(
        crate::effects::Effect {
            action: "fs.remove",
            target: &target,
            args: json!({}),
            needs: &needs,
            read_only: false,
            preflight: Vec::new(),
        },
        |_| Ok(false),
        |r| {
            let real = r.path(0)?;
            match std::fs::symlink_metadata(real) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(Error::io("removing", real, e)),
                Ok(m) if m.is_dir() => std::fs::remove_dir(real)
                    .map(|_| true)
                    .map_err(|e| Error::io("removing folder", real, e)),
                Ok(_) => std::fs::remove_file(real)
                    .map(|_| true)
                    .map_err(|e| Error::io("removing", real, e)),
            }
        },
    )
}
