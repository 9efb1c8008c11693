//! The manifest stored in every archive as `.runbook-manifest.json`: what was archived, with a
//! SHA-256 per file, so `verify` and `restore` can prove each entry is what was backed up.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Entry name of the manifest inside an archive.
pub const MANIFEST_NAME: &str = ".runbook-manifest.json";

/// Format version written by this build.
pub const FORMAT: u32 = 1;

/// The manifest of one archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format version (1).
    pub format: u32,
    /// Backup name (`app`).
    pub name: String,
    /// Creation time, RFC 3339 UTC with milliseconds.
    pub created: String,
    /// Host name of the machine that made the archive.
    pub host: String,
    /// `runbook X.Y.Z`.
    pub tool: String,
    /// Absolute source paths given to `create`.
    pub sources: Vec<String>,
    /// Every regular file, sorted by name.
    pub files: Vec<FileRecord>,
    /// Every directory, sorted by name (entries `NAME/` in the archive).
    #[serde(default)]
    pub dirs: Vec<DirRecord>,
    /// What was not archived, and why (symbolic links, special files, unreadable files
    /// under `skip_unreadable`).
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

/// One archived file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// Entry name (`/`-separated, relative).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Unix permission bits (`0o644` = 420).
    pub mode: u32,
    /// Modification time, RFC 3339 UTC with up to nanoseconds.
    pub mtime: String,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
    /// The file changed while it was read, twice in a row (size, mtime or ctime differed
    /// before and after reading): the content archived may be torn. Written only when true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub changed: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One archived directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DirRecord {
    pub name: String,
    pub mode: u32,
    pub mtime: String,
}

/// A path left out of the archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Skipped {
    pub path: String,
    pub problem: String,
}

impl Manifest {
    /// Parse manifest JSON read from archive entry `MANIFEST_NAME`.
    pub fn parse(bytes: &[u8]) -> Result<Manifest> {
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| Error::failed(format!("{MANIFEST_NAME}: not a valid manifest: {e}")))?;
        if m.format != FORMAT {
            return Err(Error::failed(format!(
                "{MANIFEST_NAME}: format {} is not supported by this runbook (expected {FORMAT})",
                m.format
            )));
        }
        Ok(m)
    }

    /// Serialize (compact JSON).
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings and integers always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A `SystemTime` as RFC 3339 UTC, keeping sub-second precision (up to nanoseconds).
pub fn time_to_rfc3339(t: SystemTime) -> String {
    crate::timefmt::rfc3339_exact(t.into())
}

/// Parse an RFC 3339 time back into a `SystemTime`.
pub fn rfc3339_to_time(s: &str) -> Result<SystemTime> {
    let dt = DateTime::parse_from_rfc3339(s)
        .map_err(|e| Error::failed(format!("{MANIFEST_NAME}: bad time {s:?}: {e}")))?
        .with_timezone(&Utc);
    let secs = dt.timestamp();
    let nanos = dt.timestamp_subsec_nanos();
    Ok(if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_keep_nanoseconds() {
        let t = UNIX_EPOCH + Duration::new(1_795_000_000, 123_456_789);
        let s = time_to_rfc3339(t);
        assert_eq!(s, "2026-11-18T11:06:40.123456789Z");
        assert_eq!(rfc3339_to_time(&s).unwrap(), t);
        let old = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(rfc3339_to_time(&time_to_rfc3339(old)).unwrap(), old);
    }

    #[test]
    fn manifest_round_trip_and_rejects_unknown_format() {
        let m = Manifest {
            format: FORMAT,
            name: "app".into(),
            created: "2026-11-29T09:00:00.123Z".into(),
            host: "h".into(),
            tool: "runbook 0.1.0".into(),
            sources: vec!["/srv/app/.env".into()],
            files: vec![FileRecord {
                name: ".env".into(),
                size: 3,
                mode: 0o600,
                mtime: "2026-11-29T09:00:00Z".into(),
                sha256: "ab".into(),
                changed: false,
            }],
            dirs: vec![],
            skipped: vec![],
        };
        assert_eq!(Manifest::parse(&m.to_json()).unwrap(), m);
        let mut v: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
        v["format"] = 9.into();
        let e = Manifest::parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(e.to_string().contains("format 9"), "{e}");
        assert!(Manifest::parse(b"{").is_err());
    }
}
