//! The backup core behind `backup::`: verified zip archives in the policy's backup directory.
//!
//! - [`create`]: parallel, sampled store-or-deflate, written as `*.partial`, synced, published
//!   under `NAME-YYYYMMDDTHHMMSS.mmmZ[-N].zip` without clobbering ([`create.rs`](create)).
//! - [`verify`]: every entry read to the end (CRC) and its SHA-256 checked against the
//!   manifest `.runbook-manifest.json`; each bad entry reported by name.
//! - [`restore`]: every entry name checked before anything is written (absolute, `..`, drive
//!   letters, NUL, symbolic links refuse the whole archive), extraction into a staging directory
//!   inside the target, verification, a `pre_restore` archive of what is replaced, then a swap
//!   by rename.
//! - [`list`], [`latest`], [`prune`]: retention that never deletes the newest archive that verifies.
//!
//! Nothing here checks the policy or writes the audit log: the Rhai adapter
//! (`crate::modules::backup`) wraps every mutation in `Ctx::effect`.

pub mod create;
pub mod manifest;
pub mod names;
pub mod restore;
pub mod retain;
pub mod verify;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use create::{CreateOptions, CreateResult, Source, create};
pub use manifest::{MANIFEST_NAME, Manifest};
pub use restore::{RestoreOptions, RestoreResult, restore};
pub use retain::{PruneOptions, PruneResult, prune};
pub use verify::{BadEntry, VerifyReport, verify};

use crate::error::Result;

/// One archive as `list` shows it.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct ArchiveInfo {
    /// Absolute path of the archive.
    pub path: String,
    /// Creation time from its name, RFC 3339 UTC with milliseconds.
    pub created: String,
    /// Size of the archive in bytes.
    pub bytes: u64,
}

/// Archives of backup `name` in `dir`, newest first.
pub fn list(dir: &Path, name: &str) -> Result<Vec<ArchiveInfo>> {
    names::check_name("backup::list", name)?;
    Ok(names::find(dir, name)?
        .into_iter()
        .map(|f| ArchiveInfo {
            path: f.path.display().to_string(),
            created: crate::timefmt::rfc3339(f.parsed.created),
            bytes: f.bytes,
        })
        .collect())
}

/// The newest archive of backup `name`, if any.
pub fn latest(dir: &Path, name: &str) -> Result<Option<ArchiveInfo>> {
    Ok(list(dir, name)?.into_iter().next())
}

/// Why an entry name is unsafe to extract, or `None` when it is a plain relative path.
///
/// Refused: empty names, NUL bytes, names that are not UTF-8, absolute names (`/x`, `\x`),
/// drive letters (`C:x`), `..` components (split on `/` and `\`), and `.` or empty
/// components (`a//b`, `./a`). One trailing `/` (a directory entry) is allowed.
pub fn entry_name_problem(raw: &[u8]) -> Option<String> {
    if raw.is_empty() {
        return Some("empty entry name".into());
    }
    if raw.contains(&0) {
        return Some("name contains a NUL byte".into());
    }
    let Ok(name) = std::str::from_utf8(raw) else {
        return Some("name is not valid UTF-8".into());
    };
    if name.starts_with('/') || name.starts_with('\\') {
        return Some("absolute path".into());
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Some("drive letter".into());
    }
    let body = name.strip_suffix('/').unwrap_or(name);
    for comp in body.split(['/', '\\']) {
        match comp {
            ".." => return Some("contains a `..` component".into()),
            "." | "" => return Some("contains an empty or `.` component".into()),
            _ => {}
        }
    }
    None
}

/// Whether a zip entry's Unix mode marks a symbolic link.
pub(crate) fn mode_is_symlink(mode: Option<u32>) -> bool {
    mode.is_some_and(|m| m & 0o170000 == 0o120000)
}
