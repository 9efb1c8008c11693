//! `backup::` — verified zip archives in the policy's backup directory.
//!
//! Thin adapters over [`crate::backup`]: reads are checked with `Ctx::allow_read`, and the
//! mutations (`create`, `restore`, `prune`) run inside `Ctx::effect` with what they need from
//! the policy (`Need::Read` for what they read, `Need::Write` for the backup directory and the
//! restore target). Under `--dry-run` they write nothing and return what they would do.

use std::path::{Path, PathBuf};

use rhai::plugin::*;
use rhai::{Array, Dynamic, Map};
use serde_json::json;

use crate::backup::{self, CreateOptions, PruneOptions, RestoreOptions, Source};
use crate::ctx::Ctx;
use crate::effects::Need;
use crate::error::{Error, Result};

#[export_module]
pub mod backup_module {
    use crate::error::RhaiResult;
    use rhai::{Array, Dynamic, Map};

    /// The policy's backup directory (`[backup] dir`), where archives are written.
    ///
    /// Throws never.
    ///
    /// Example:
    /// ```rhai
    /// print(`archives go to ${backup::dir()}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn dir(ncc: NativeCallContext) -> RhaiResult<String> {
        crate::modules::host(&ncc, |c| Ok(c.config.backup_dir().display().to_string()))
    }

    /// Archive `paths` (a path or an array of paths: files or folders) as backup `name`
    /// (effect `backup.create`), with default options. See `create(name, paths, opts)`.
    ///
    /// Example:
    /// ```rhai
    /// let b = backup::create("app-logs", "logs");
    /// print(`${b.files} files, ${b.bytes} bytes in ${b.path}`);
    /// ```
    #[rhai_fn(name = "create", return_raw)]
    pub fn create2(ncc: NativeCallContext, name: &str, paths: Dynamic) -> RhaiResult<Dynamic> {
        create3(ncc, name, paths, Map::new())
    }

    /// Archive `paths` as backup `name` in the backup directory (effect `backup.create`).
    ///
    /// Each path is stored under its own base name (`/srv/app/.env` → `.env`,
    /// `/srv/app/logs` → `logs/…`), so the archive restores into the folder that held them.
    /// The archive `NAME-YYYYMMDDTHHMMSS.mmmZ[-N].zip` holds a manifest with each file's size,
    /// mode, mtime and SHA-256; it is written as `*.partial`, synced, then renamed without
    /// replacing anything. Compressed or random content is stored, the rest deflated, on all cores.
    /// File data in flight stays within a few MiB whatever the files' sizes; a large file is
    /// deflated in blocks on all cores (one ordinary zip entry).
    /// Symbolic links inside folders and special files are not archived (listed in `skipped`).
    ///
    /// * `name` — backup name: letters, digits, `.`, `_`, `-` (at most 100)
    /// * `paths` — a path or an array of paths (files or folders) inside the read roots
    /// * `opts.exclude` — globs to leave out: `node_modules` and `*.tmp` match base names,
    ///   `logs/*.gz` and `node_modules/**` match entry names at any depth, `/abs/path/**`
    ///   matches absolute paths
    /// * `opts.skip_unreadable` — archive the rest when some files cannot be read (default false)
    /// * `opts.progress` — progress bar on stderr: default when stderr is a terminal and > 64 MiB
    ///
    /// Returns `#{path, files, bytes, stored_bytes, sha256, duration_ms, skipped, changed}`:
    /// `bytes` is the files' total size, `stored_bytes` the archive's size, `sha256` the
    /// archive's hash, `skipped` an array of `#{path, problem}`, `changed` the entry names of
    /// files that were being written while read (size, mtime or ctime differed before and
    /// after reading, and again on one retry): archived as read, marked `changed` in the
    /// manifest, and a warning on stderr. Under `--dry-run`: `path` and `sha256` are `()`,
    /// `planned` is true, nothing is written.
    ///
    /// Throws when: the name, a glob or an option is invalid (`usage`); a path or the backup
    /// directory is outside the policy (`denied`); a path does not exist; files are unreadable
    /// and `skip_unreadable` is not set (all of them named); writing fails; Ctrl-C or the run's
    /// timeout (no archive is left under a final name).
    ///
    /// Example:
    /// ```rhai
    /// let b = backup::create("app-logs", ["logs", "certs"], #{ exclude: ["*.gz", "*.tmp"] });
    /// if b.skipped.len() > 0 { print(`skipped: ${b.skipped}`); }
    /// print(`${b.stored_bytes} bytes stored, sha256 ${b.sha256}`);
    /// ```
    #[rhai_fn(name = "create", return_raw)]
    pub fn create3(
        ncc: NativeCallContext,
        name: &str,
        paths: Dynamic,
        opts: Map,
    ) -> RhaiResult<Dynamic> {
        let out = crate::modules::host(&ncc, |c| super::create_effect(c, name, &paths, opts))?;
        Ok(out)
    }

    /// Check archive `archive` completely: every entry is read to the end (CRC-32, local header
    /// against the central directory) and its size and SHA-256 compared with the manifest; the
    /// archive must end where its end record says, hold no unsafe names or symbolic links.
    ///
    /// * `archive` — path of the archive (a bare file name is looked up in the backup directory)
    ///
    /// Returns `#{ok, entries, bad, changed}`: `entries` is the number of files in the archive,
    /// `bad` an array of `#{name, problem}`, one per bad entry (`name` is `(archive)` for the
    /// file as a whole), `changed` the names the manifest marks as changed while archived (the
    /// archive is intact, but those files may be torn; they do not make `ok` false).
    ///
    /// Throws when: the archive cannot be opened (missing, unreadable); it is outside the read
    /// roots (`denied`); Ctrl-C or the run's timeout. A damaged archive is reported, not thrown.
    ///
    /// Example:
    /// ```rhai
    /// let b = backup::create("app-logs", "logs");
    /// let v = backup::verify(b.path);
    /// check("备份完整 backup intact", v.ok);
    /// for e in v.bad { print(`${e.name}: ${e.problem}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn verify(ncc: NativeCallContext, archive: &str) -> RhaiResult<Dynamic> {
        let r = crate::modules::host(&ncc, |c| {
            let p = c.allow_read("backup.verify", &super::archive_path(c, archive))?;
            crate::backup::verify(&p, &c.cancel)
        })?;
        crate::modules::to_dynamic(&r)
    }

    /// Archives of backup `name` in the backup directory, newest first.
    ///
    /// Returns an array of `#{path, created, bytes}` (`created` RFC 3339 UTC from the archive's
    /// name, `bytes` its size); empty when there are none.
    ///
    /// Throws when `name` is not a valid backup name (`usage`), or the directory is unreadable.
    ///
    /// Example:
    /// ```rhai
    /// backup::create("app-logs", "logs");
    /// for a in backup::list("app-logs") { print(`${a.created} ${a.bytes} bytes ${a.path}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn list(ncc: NativeCallContext, name: &str) -> RhaiResult<Array> {
        let r = crate::modules::host(&ncc, |c| {
            let dir = c.allow_read("backup.list", &c.config.backup_dir())?;
            crate::backup::list(&dir, name)
        })?;
        r.iter().map(crate::modules::to_dynamic).collect()
    }

    /// The newest archive of backup `name`: `#{path, created, bytes}`, or `()` when there is none.
    ///
    /// Throws when `name` is not a valid backup name (`usage`), or the directory is unreadable.
    ///
    /// Example:
    /// ```rhai
    /// let a = backup::latest("app-logs");
    /// if a == () { print("no backup of app-logs yet"); } else { print(`newest: ${a.path} (${a.created})`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn latest(ncc: NativeCallContext, name: &str) -> RhaiResult<Dynamic> {
        let r = crate::modules::host(&ncc, |c| {
            let dir = c.allow_read("backup.latest", &c.config.backup_dir())?;
            crate::backup::latest(&dir, name)
        })?;
        match r {
            Some(a) => crate::modules::to_dynamic(&a),
            None => Ok(Dynamic::UNIT),
        }
    }

    /// Restore all of archive `archive` into folder `target` (effect `backup.restore`).
    /// See `restore(archive, target, opts)`.
    ///
    /// Example:
    /// ```rhai
    /// let b = backup::create("app-config", "certs");
    /// let r = backup::restore(b.path, "restored");
    /// print(`${r.restored} files restored: ${r.files}`);
    /// ```
    #[rhai_fn(name = "restore", return_raw)]
    pub fn restore2(ncc: NativeCallContext, archive: &str, target: &str) -> RhaiResult<Dynamic> {
        restore3(ncc, archive, target, Map::new())
    }

    /// Restore files of archive `archive` into folder `target` (effect `backup.restore`).
    ///
    /// Every entry name is checked first: an absolute name, a `..` component (with `/` or `\`),
    /// a drive letter, a NUL byte or a symbolic-link entry refuses the whole archive and nothing
    /// is written. The files are extracted into a staging folder inside `target`, each checked
    /// (CRC-32, size, SHA-256 from the manifest) and given its mode and mtime; the files about to
    /// be replaced are saved as archive `NAME-pre_restore-…zip` in the backup directory; then each
    /// file is renamed into place. Files in `target` that the archive does not hold are left alone.
    ///
    /// * `archive` — path of the archive (a bare file name is looked up in the backup directory)
    /// * `target` — the folder the archive's names are relative to (created when missing)
    /// * `opts.only` — entry names (files or folders, e.g. `[".env"]`, `["logs"]`) to restore
    ///
    /// Returns `#{restored, files, pre_restore}`: the number of files put in place, their entry
    /// names, and the path of the pre-restore archive (`()` when nothing was replaced). Under
    /// `--dry-run` the archive and target are checked and nothing is written.
    ///
    /// Throws when: the archive is damaged or unsafe (the entry and problem named, nothing
    /// written); an `only` name is not in the archive (`usage`); `target` holds a symbolic link or
    /// a folder where a file goes; the archive, target or backup directory is outside the policy
    /// (`denied`); writing fails (files already swapped are put back); Ctrl-C or the timeout.
    ///
    /// Example:
    /// ```rhai
    /// let b = backup::create("app-config", ["certs", "logs"]);
    /// let r = backup::restore(b.path, "restored", #{ only: ["certs"] });
    /// if r.pre_restore != () { print(`replaced files saved in ${r.pre_restore}`); }
    /// ```
    #[rhai_fn(name = "restore", return_raw)]
    pub fn restore3(
        ncc: NativeCallContext,
        archive: &str,
        target: &str,
        opts: Map,
    ) -> RhaiResult<Dynamic> {
        crate::modules::host(&ncc, |c| super::restore_effect(c, archive, target, opts))
    }

    /// Delete old archives of backup `name` (effect `backup.prune`). An archive is kept when it
    /// is among the newest `keep_last` or younger than `keep_days`; the newest archive that
    /// verifies is never deleted, whatever the rules say.
    ///
    /// * `opts.keep_last` — number of newest archives to keep
    /// * `opts.keep_days` — keep archives created less than this many days ago
    ///
    /// Partial archives of this name left by killed runs and idle for a day are removed too.
    ///
    /// Returns `#{deleted, kept, deleted_paths, kept_paths, protected, partials_removed}`: counts,
    /// the paths (newest first), the newest verified archive when one had to be found (else
    /// `()`), and the stale partial files removed.
    /// Under `--dry-run` the same lists are computed and nothing is deleted.
    ///
    /// Throws when: neither rule is given, or a value is negative (`usage`); the backup directory
    /// is outside the write roots (`denied`); a deletion fails; Ctrl-C or the timeout.
    ///
    /// Example:
    /// ```rhai
    /// backup::create("app-logs", "logs");
    /// let p = backup::prune("app-logs", #{ keep_last: 2, keep_days: 7 });
    /// print(`${p.deleted} deleted, ${p.kept} kept`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn prune(ncc: NativeCallContext, name: &str, opts: Map) -> RhaiResult<Dynamic> {
        crate::modules::host(&ncc, |c| super::prune_effect(c, name, opts))
    }
}

/// A script's archive argument: a bare file name that exists in the backup directory is taken
/// from there, anything else is a path.
fn archive_path(c: &Ctx, archive: &str) -> PathBuf {
    if !archive.contains('/') {
        let in_dir = c.config.backup_dir().join(archive);
        if in_dir.is_file() {
            return in_dir;
        }
    }
    PathBuf::from(archive)
}

fn dynamic(v: &impl serde::Serialize) -> Result<Dynamic> {
    crate::modules::to_dynamic(v).map_err(|e| Error::failed(format!("converting the result: {e}")))
}

/// `paths` as a list of strings: one string or an array of strings.
fn path_list(func: &str, paths: &Dynamic) -> Result<Vec<String>> {
    if paths.is_string() {
        return Ok(vec![paths.clone().into_string().unwrap_or_default()]);
    }
    if let Some(arr) = paths.clone().try_cast::<Array>() {
        return arr
            .into_iter()
            .map(|p| {
                p.clone().into_string().map_err(|_| {
                    Error::Usage(format!(
                        "{func}: paths must be strings, got {}",
                        p.type_name()
                    ))
                })
            })
            .collect();
    }
    Err(Error::Usage(format!(
        "{func}: paths must be a string or an array of strings, got {}",
        paths.type_name()
    )))
}

/// The options of `backup::create`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateOpts {
    exclude: Option<crate::modules::Strings>,
    skip_unreadable: Option<bool>,
    progress: Option<bool>,
}

/// The options of `backup::restore`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreOpts {
    only: Option<crate::modules::Strings>,
}

/// The options of `backup::prune`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PruneOpts {
    keep_last: Option<u64>,
    keep_days: Option<u64>,
}

/// The option keys of this module's functions, for [`crate::modules::option_keys`].
pub(crate) fn option_keys() -> Vec<(&'static str, Vec<&'static str>)> {
    use crate::modules::fields_of;
    vec![
        ("backup::create", fields_of::<CreateOpts>().to_vec()),
        ("backup::restore", fields_of::<RestoreOpts>().to_vec()),
        ("backup::prune", fields_of::<PruneOpts>().to_vec()),
    ]
}

fn create_effect(c: &Ctx, name: &str, paths: &Dynamic, opts: Map) -> Result<Dynamic> {
    let func = "backup::create";
    let o: CreateOpts = crate::modules::options(func, opts)?;
    let exclude = o
        .exclude
        .map(crate::modules::Strings::into_vec)
        .unwrap_or_default();
    let opts = CreateOptions {
        exclude: exclude.clone(),
        skip_unreadable: o.skip_unreadable.unwrap_or(false),
        progress: o.progress,
    };
    let paths = path_list(func, paths)?;
    let dir = c.config.backup_dir();
    let mut needs = vec![Need::Write(dir.clone())];
    needs.extend(paths.iter().map(|p| Need::Read(PathBuf::from(p))));
    let args = json!({ "name": name, "paths": paths, "exclude": exclude, "skip_unreadable": opts.skip_unreadable });
    // Sources: the path the gate resolved (need i + 1), named after the path as given.
    let sources = |r: &crate::effects::Resolved| -> Result<Vec<Source>> {
        paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut s = Source::by_base_name(Path::new(p))?;
                s.path = r.path(i + 1)?.to_path_buf();
                Ok(s)
            })
            .collect()
    };
    c.run_effect_or(
        crate::effects::Effect {
            action: "backup.create",
            target: name,
            args,
            needs: &needs,
            read_only: false,
            preflight: Vec::new(),
        },
        |r| {
            dynamic(&backup::create::plan_only(
                r.path(0)?,
                name,
                &sources(r)?,
                &opts,
                &c.cancel,
            )?)
        },
        |r| {
            let res = backup::create(r.path(0)?, name, &sources(r)?, &opts, &c.cancel)?;
            for n in &res.changed {
                eprintln!(
                    "runbook: warning: {func}: {n} changed while it was read (twice); archived \
                     as read the second time and marked `changed` in the manifest"
                );
            }
            dynamic(&res)
        },
    )
}

fn restore_effect(c: &Ctx, archive: &str, target: &str, opts: Map) -> Result<Dynamic> {
    let func = "backup::restore";
    let o: RestoreOpts = crate::modules::options(func, opts)?;
    let opts = RestoreOptions {
        only: o
            .only
            .map(crate::modules::Strings::into_vec)
            .unwrap_or_default(),
    };
    let archive = archive_path(c, archive);
    let target = PathBuf::from(target);
    let dir = c.config.backup_dir();
    // With `only`, the write need is each chosen entry, not the whole target: a policy that
    // lists just `WORKDIR/.env` under `write` can restore `.env` (the staging folder inside the
    // target is the tool's own, removed afterwards, and every destination is checked below).
    // Needs: 0 the archive, 1 the target (resolved only, with `only`), …, last the backup folder.
    let mut needs = vec![Need::Read(archive.clone())];
    if opts.only.is_empty() {
        needs.push(Need::Write(target.clone()));
    } else {
        needs.push(Need::Path(target.clone()));
        needs.extend(opts.only.iter().map(|e| Need::Write(target.join(e))));
    }
    needs.push(Need::Write(dir.clone()));
    let dir_need = needs.len() - 1;
    let args = json!({ "archive": archive.display().to_string(), "only": opts.only });
    let shown = target.display().to_string();
    c.run_effect_or(
        crate::effects::Effect {
            action: "backup.restore",
            target: &shown,
            args,
            needs: &needs,
            read_only: false,
            preflight: vec![Box::new(|r| {
                let (archive, target) = (r.path(0), r.path(1));
                let (archive, target) = (
                    archive.map_err(|e| e.to_string())?,
                    target.map_err(|e| e.to_string())?,
                );
                let plan = backup::restore::plan(archive, target, &opts, &c.cancel)
                    .map_err(|e| e.to_string())?;
                let files: Vec<PathBuf> = plan.files.iter().map(PathBuf::from).collect();
                crate::effects::swappable(target, &files)
            })],
        },
        |r| {
            dynamic(&backup::restore::plan(
                r.path(0)?,
                r.path(1)?,
                &opts,
                &c.cancel,
            )?)
        },
        |r| {
            let (real_archive, real_target) = (r.path(0)?, r.path(1)?);
            // Each destination too: the target may hold files no script may replace (the
            // audit log in the state dir).
            let plan = backup::restore::plan(real_archive, real_target, &opts, &c.cancel)?;
            for f in &plan.files {
                c.config.check_write(&real_target.join(f))?;
            }
            dynamic(&backup::restore(
                real_archive,
                real_target,
                r.path(dir_need)?,
                &opts,
                &c.cancel,
            )?)
        },
    )
}

fn prune_effect(c: &Ctx, name: &str, opts: Map) -> Result<Dynamic> {
    let func = "backup::prune";
    let o: PruneOpts = crate::modules::options(func, opts)?;
    let (keep_last, keep_days) = (o.keep_last, o.keep_days);
    let opts = PruneOptions {
        keep_last,
        keep_days,
    };
    let dir = c.config.backup_dir();
    let args = json!({ "keep_last": keep_last, "keep_days": keep_days });
    let needs = [Need::Write(dir)];
    c.run_effect_or(
        crate::effects::Effect {
            action: "backup.prune",
            target: name,
            args,
            needs: &needs,
            read_only: false,
            preflight: Vec::new(),
        },
        |r| dynamic(&backup::retain::plan(r.path(0)?, name, &opts, &c.cancel)?),
        |r| dynamic(&backup::prune(r.path(0)?, name, &opts, &c.cancel)?),
    )
}
