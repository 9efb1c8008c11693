//! `restore`: put files from an archive back, safely.
//!
//! 1. The whole archive is checked before anything is written: its structure, every entry
//!    name (absolute, `..` with `/` or `\`, drive letter, NUL), symbolic-link entries, and the
//!    manifest. Any problem refuses the whole archive.
//! 2. The chosen entries are extracted into a staging directory inside the target (same file
//!    system, so the final step is a rename), each read to the end (CRC) and checked against
//!    the manifest's size and SHA-256; modes and mtimes are set there.
//! 3. The files about to be replaced are saved as an archive `NAME-pre_restore-…zip` in the
//!    backup directory.
//! 4. Each file is swapped into place by rename; if one rename fails, those already done are
//!    put back. Files in the target that the archive does not contain are left alone.
//!
//! Any failure before step 4 leaves the target as it was (the staging directory is removed).

use std::collections::{BTreeSet, HashMap};
use std::fs::{File, FileTimes};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::create::{self, CreateOptions, Source};
use super::manifest::{DirRecord, FileRecord, MANIFEST_NAME, rfc3339_to_time};
use super::names;
use super::verify::SharedFile;
use super::verify::{self, BadEntry};
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use rayon::prelude::*;
use zip::ZipArchive;

/// Options of `restore`.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Entry names (files or directories, e.g. `.env`, `logs`) to restore; empty: everything.
    pub only: Vec<String>,
}

/// What `restore` did (or, from [`plan`], would do).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreResult {
    /// Number of files put in place.
    pub restored: u64,
    /// Their entry names, sorted.
    pub files: Vec<String>,
    /// Path of the archive holding what was replaced (`None` when nothing was replaced).
    pub pre_restore: Option<String>,
}

/// Mode bits restored: permissions and sticky; setuid/setgid are never restored.
const MODE_MASK: u32 = 0o1777;

fn refuse(archive: &Path, bad: &[BadEntry]) -> Error {
    let shown: Vec<String> = bad
        .iter()
        .take(10)
        .map(|b| format!("{:?}: {}", b.name, b.problem))
        .collect();
    let more = if bad.len() > 10 {
        format!(" (and {} more)", bad.len() - 10)
    } else {
        String::new()
    };
    Error::failed(format!(
        "backup::restore: refusing {}: {}{more}; nothing was written",
        archive.display(),
        shown.join("; ")
    ))
}

/// Whether entry `name` is selected by `only` (exact name or inside a chosen directory).
fn selected(name: &str, only: &[String]) -> bool {
    only.is_empty()
        || only.iter().any(|o| {
            name == o
                || name
                    .strip_prefix(o.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        })
}

/// Check that every existing component from `target` down to `dest`'s parent is a real
/// directory, and that `dest` itself is absent or a regular file. Returns whether it exists.
///
/// `dirs` caches what is already known per directory prefix (relative to `target`): `true` a
/// real directory, `false` absent — so each directory is looked at once, not once per file.
fn check_destination(
    target: &Path,
    name: &str,
    dirs: &mut HashMap<String, bool>,
) -> std::result::Result<bool, String> {
    let mut cur = target.to_path_buf();
    let parts: Vec<&str> = name.split('/').collect();
    let mut prefix_len = 0usize;
    for (i, part) in parts.iter().enumerate() {
        cur.push(part);
        prefix_len += part.len() + usize::from(i > 0);
        let last = i + 1 == parts.len();
        if !last {
            match dirs.get(&name[..prefix_len]) {
                Some(true) => continue,
                Some(false) => return Ok(false),
                None => {}
            }
        }
        match std::fs::symlink_metadata(&cur) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !last {
                    dirs.insert(name[..prefix_len].to_string(), false);
                }
                return Ok(false);
            }
            Err(e) => return Err(format!("{}: {e}", cur.display())),
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "{} is a symbolic link; restore will not write through it",
                    cur.display()
                ));
            }
            Ok(m) if last => {
                return if m.is_file() {
                    Ok(true)
                } else {
                    Err(format!(
                        "{} exists and is not a regular file",
                        cur.display()
                    ))
                };
            }
            Ok(m) if !m.is_dir() => {
                return Err(format!("{} exists and is not a directory", cur.display()));
            }
            Ok(_) => {
                dirs.insert(name[..prefix_len].to_string(), true);
            }
        }
    }
    Ok(false)
}

fn set_mode_and_time(path: &Path, mode: u32, mtime: &str) -> Result<()> {
    // Times first, through a descriptor opened while the mode still allows it, then the mode.
    let f = File::open(path).map_err(|e| Error::io("backup::restore: opening", path, e))?;
    set_mode_and_time_of(&f, path, mode, mtime)
}

/// [`set_mode_and_time`] through a descriptor already open (`path` only names it in errors).
fn set_mode_and_time_of(f: &File, path: &Path, mode: u32, mtime: &str) -> Result<()> {
    let t = rfc3339_to_time(mtime)?;
    f.set_times(FileTimes::new().set_modified(t).set_accessed(t))
        .map_err(|e| Error::io("backup::restore: setting mtime of", path, e))?;
    f.set_permissions(std::fs::Permissions::from_mode(mode & MODE_MASK))
        .map_err(|e| Error::io("backup::restore: setting mode of", path, e))
}

/// Make everything written under `dir` durable: `syncfs` of its file system (one call for
/// the whole tree, instead of one `fsync` per file), then an `fsync` of `dir` itself.
fn sync_tree(dir: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let d = File::open(dir).map_err(|e| Error::io("backup::restore: opening", dir, e))?;
    // SAFETY: `d` is an open descriptor for the duration of the call.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(Error::io(
            "backup::restore: syncing",
            dir,
            std::io::Error::last_os_error(),
        ));
    }
    d.sync_all()
        .map_err(|e| Error::io("backup::restore: syncing", dir, e))
}

/// An archive that passed every check, with what to restore from it.
struct Checked {
    archive: ZipArchive<SharedFile>,
    chosen: Vec<(usize, FileRecord)>,
    dirs: Vec<DirRecord>,
    replaced: Vec<String>,
}

/// Step 1: check the archive and the destinations; nothing is written.
fn check(
    archive_path: &Path,
    target: &Path,
    opts: &RestoreOptions,
    cancel: &Cancel,
) -> Result<Checked> {
    // 1. Structure, names, manifest — before touching the target.
    let opened = verify::open(archive_path, cancel)?;
    if !opened.bad.is_empty() {
        return Err(refuse(archive_path, &opened.bad));
    }
    let (Some(archive), Some(manifest)) = (opened.archive, opened.manifest) else {
        return Err(refuse(
            archive_path,
            &[BadEntry {
                name: verify::ARCHIVE.into(),
                problem: "unreadable".into(),
            }],
        ));
    };
    let mut only = Vec::new();
    for o in &opts.only {
        let o = o.trim_end_matches('/').to_string();
        if let Some(p) = super::entry_name_problem(o.as_bytes()) {
            return Err(Error::Usage(format!("backup::restore: only {o:?}: {p}")));
        }
        only.push(o);
    }
    let records: std::collections::BTreeMap<&str, &FileRecord> = manifest
        .files
        .iter()
        .map(|f| (f.name.as_str(), f))
        .collect();
    let mut chosen: Vec<(usize, FileRecord)> = Vec::new();
    let mut listed = BTreeSet::new();
    for i in 0..archive.len() {
        let e = archive
            .by_index_data(i)
            .map_err(|e| Error::failed(format!("backup::restore: entry #{i}: {e}")))?;
        let name = String::from_utf8_lossy(e.name_raw()).into_owned();
        if e.is_dir() || name == MANIFEST_NAME {
            continue;
        }
        let Some(rec) = records.get(name.as_str()) else {
            return Err(refuse(
                archive_path,
                &[BadEntry {
                    name,
                    problem: "not listed in the manifest".into(),
                }],
            ));
        };
        listed.insert(name.clone());
        if selected(&name, &only) {
            chosen.push((i, (*rec).clone()));
        }
    }
    if let Some(missing) = records.keys().find(|n| !listed.contains(**n)) {
        return Err(refuse(
            archive_path,
            &[BadEntry {
                name: missing.to_string(),
                problem: "listed in the manifest but missing from the archive".into(),
            }],
        ));
    }
    for o in &only {
        let any = chosen
            .iter()
            .any(|(_, r)| selected(&r.name, std::slice::from_ref(o)))
            || manifest
                .dirs
                .iter()
                .any(|d| selected(&d.name, std::slice::from_ref(o)));
        if !any {
            return Err(Error::Usage(format!(
                "backup::restore: only {o:?}: no such file or directory in {}",
                archive_path.display()
            )));
        }
    }
    let dirs: Vec<DirRecord> = manifest
        .dirs
        .iter()
        .filter(|d| selected(&d.name, &only))
        .cloned()
        .collect();

    // Where each file goes, and which existing files it replaces.
    let mut replaced = Vec::new();
    let mut known_dirs = HashMap::new();
    for (_, rec) in &chosen {
        match check_destination(target, &rec.name, &mut known_dirs) {
            Ok(true) => replaced.push(rec.name.clone()),
            Ok(false) => {}
            Err(p) => {
                return Err(Error::failed(format!(
                    "backup::restore: {:?}: {p}; nothing was written",
                    rec.name
                )));
            }
        }
    }
    for d in &dirs {
        // No component may be a symbolic link: the folder's mode and time are set through it.
        let mut p = target.to_path_buf();
        for part in d.name.split('/') {
            p.push(part);
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(Error::failed(format!(
                    "backup::restore: {} is a symbolic link; restore will not write through it; \
                     nothing was written",
                    p.display()
                )));
            }
        }
        if let Ok(m) = std::fs::symlink_metadata(&p) {
            if !m.is_dir() {
                return Err(Error::failed(format!(
                    "backup::restore: {}: exists and is not a directory; nothing was written",
                    p.display()
                )));
            }
        }
    }

    Ok(Checked {
        archive,
        chosen,
        dirs,
        replaced,
    })
}

/// What `restore` would do (for `--dry-run`): every check of step 1 is made, nothing is
/// written; `pre_restore` is `None`.
pub fn plan(
    archive_path: &Path,
    target: &Path,
    opts: &RestoreOptions,
    cancel: &Cancel,
) -> Result<RestoreResult> {
    let c = check(archive_path, target, opts, cancel)?;
    let mut files: Vec<String> = c.chosen.into_iter().map(|(_, r)| r.name).collect();
    files.sort();
    Ok(RestoreResult {
        restored: files.len() as u64,
        files,
        pre_restore: None,
    })
}

/// Restore `archive` into `target` (see module docs). `backup_dir` receives the `pre_restore`
/// archive. Errors name the archive and the entry, and say whether anything was written.
pub fn restore(
    archive_path: &Path,
    target: &Path,
    backup_dir: &Path,
    opts: &RestoreOptions,
    cancel: &Cancel,
) -> Result<RestoreResult> {
    let Checked {
        archive,
        chosen,
        dirs,
        replaced,
    } = check(archive_path, target, opts, cancel)?;

    // 2. Extract and verify into staging.
    std::fs::create_dir_all(target)
        .map_err(|e| Error::io("backup::restore: creating", target, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".runbook-restore-")
        .tempdir_in(target)
        .map_err(|e| Error::io("backup::restore: creating staging directory in", target, e))?;
    // The staging root is resolved once; every file is staged at its own name under
    // `staging/t` (names were checked in step 1: relative, no `..`, no empty component), so a
    // folder the target lacks is moved into place by one rename, not one per file, and the
    // files are created across many folders instead of all in one (whose lock both cores
    // would queue on).
    let root = staging.path().join("t");
    let staged: Vec<(PathBuf, PathBuf, String)> = chosen
        .iter()
        .map(|(_, rec)| {
            (
                root.join(&rec.name),
                target.join(&rec.name),
                rec.name.clone(),
            )
        })
        .collect();
    let mut parents: BTreeSet<&Path> = BTreeSet::new();
    for (from, _, _) in &staged {
        if let Some(p) = from.parent() {
            parents.insert(p);
        }
    }
    std::fs::create_dir(&root).map_err(|e| Error::io("backup::restore: creating", &root, e))?;
    for p in parents {
        std::fs::create_dir_all(p).map_err(|e| Error::io("backup::restore: creating", p, e))?;
    }
    // Largest first on all cores, so one big entry does not finish last on a lone core. Each
    // entry is read once: the zip reader checks CRC-32 and header while the SHA-256 and size
    // are compared with the manifest — verification and extraction share the pass.
    let mut order: Vec<usize> = (0..chosen.len()).collect();
    order.sort_by_key(|&n| std::cmp::Reverse(chosen[n].1.size));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        )
        .build()
        .map_err(|e| Error::failed(format!("starting worker threads: {e}")))?;
    pool.install(|| {
        order.par_iter().with_max_len(64).try_for_each_init(
            || (archive.clone(), Vec::new()),
            |(arch, buf), &n| -> Result<()> {
                cancel.check()?;
                let (i, rec) = &chosen[n];
                let path = &staged[n].0;
                let mut out = File::create(path)
                    .map_err(|e| Error::io("backup::restore: writing", path, e))?;
                if let Err(problem) =
                    verify::read_entry(arch, *i, Some(rec), &mut out, cancel, buf)?
                {
                    return Err(refuse(
                        archive_path,
                        &[BadEntry {
                            name: rec.name.clone(),
                            problem,
                        }],
                    ));
                }
                set_mode_and_time_of(&out, path, rec.mode, &rec.mtime)
            },
        )
    })?;
    // No fsync per file: one sync of the staging folder's file system makes every staged
    // file durable before anything in the target is touched.
    sync_tree(&root)?;

    // 3. Save what is about to be replaced.
    let pre_restore = if replaced.is_empty() {
        None
    } else {
        cancel.check()?;
        let base = archive_path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(names::parse_file_name)
            .map(|p| p.name)
            .unwrap_or_else(|| "restore".into());
        let mut pre_name = format!("{base}-pre_restore");
        if names::check_name("", &pre_name).is_err() {
            pre_name = "pre_restore".into();
        }
        let sources: Vec<Source> = replaced
            .iter()
            .map(|n| Source {
                path: target.join(n),
                name: n.clone(),
            })
            .collect();
        let made = create::create(
            backup_dir,
            &pre_name,
            &sources,
            &CreateOptions {
                progress: Some(false),
                ..Default::default()
            },
            cancel,
        )
        .map_err(|e| {
            Error::failed(format!(
                "backup::restore: saving the files to be replaced failed, nothing was restored: {e}"
            ))
        })?;
        Some(made.path)
    };

    // 4. Swap into place.
    cancel.check()?;
    let old_dir = staging.path().join("old");
    std::fs::create_dir(&old_dir)
        .map_err(|e| Error::io("backup::restore: creating", &old_dir, e))?;
    // What was moved: (destination, what it replaced) for a file; a whole folder the target
    // lacked is (destination, None) with its staging path kept for the way back.
    let mut done: Vec<(PathBuf, Option<PathBuf>, Option<PathBuf>)> = Vec::new();
    let swap = (|| -> Result<()> {
        // Per folder of the target (relative name → exists), looked at once each.
        let mut exists: HashMap<String, bool> = HashMap::new();
        let mut moved_dirs: BTreeSet<String> = BTreeSet::new();
        for (n, (from, to, name)) in staged.iter().enumerate() {
            // The shallowest folder on the way to `name` that the target lacks: moved whole.
            let mut missing = None;
            let mut end = 0;
            while let Some(i) = name[end..].find('/') {
                let prefix = &name[..end + i];
                let here = *exists
                    .entry(prefix.to_string())
                    .or_insert_with(|| std::fs::symlink_metadata(target.join(prefix)).is_ok());
                if !here {
                    missing = Some(prefix);
                    break;
                }
                end += i + 1;
            }
            if let Some(dir) = missing {
                if moved_dirs.insert(dir.to_string()) {
                    let (src, dst) = (root.join(dir), target.join(dir));
                    std::fs::rename(&src, &dst)
                        .map_err(|e| Error::io("backup::restore: moving into place", &dst, e))?;
                    done.push((dst, None, Some(src)));
                }
                continue;
            }
            let saved = if std::fs::symlink_metadata(to).is_ok() {
                let keep = old_dir.join(format!("{n}"));
                std::fs::rename(to, &keep)
                    .map_err(|e| Error::io("backup::restore: moving aside", to, e))?;
                Some(keep)
            } else {
                None
            };
            if let Err(e) = std::fs::rename(from, to) {
                if let Some(keep) = &saved {
                    let _ = std::fs::rename(keep, to);
                }
                return Err(Error::io("backup::restore: moving into place", to, e));
            }
            done.push((to.clone(), saved, None));
        }
        Ok(())
    })();
    if let Err(e) = swap {
        // Put back what was already swapped, newest first.
        for (to, saved, dir_from) in done.iter().rev() {
            match (saved, dir_from) {
                (Some(keep), _) => {
                    let _ = std::fs::rename(keep, to);
                }
                (None, Some(from)) => {
                    let _ = std::fs::rename(to, from);
                }
                (None, None) => {
                    let _ = std::fs::remove_file(to);
                }
            }
        }
        return Err(e);
    }
    // Directory modes and times last (deepest first), once their contents are in place.
    for d in dirs.iter().rev() {
        let p = target.join(&d.name);
        if !p.exists() {
            std::fs::create_dir_all(&p)
                .map_err(|e| Error::io("backup::restore: creating", &p, e))?;
        }
        set_mode_and_time(&p, d.mode, &d.mtime)?;
    }
    drop(staging);
    let mut files: Vec<String> = staged.into_iter().map(|(_, _, n)| n).collect();
    files.sort();
    Ok(RestoreResult {
        restored: files.len() as u64,
        files,
        pre_restore,
    })
}
