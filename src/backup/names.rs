//! Archive names: `NAME-YYYYMMDDTHHMMSS.mmmZ[-N].zip` in the backup directory.
//!
//! The timestamp is the UTC creation time with milliseconds; `-N` (N ≥ 1) separates
//! archives of the same name created in the same millisecond. Names sort by time, then N.
//! Files being written are `.<final name>.<random>.partial` and never match the pattern.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::error::{Error, Result};

/// Longest backup name accepted (the archive's file name adds ~30 characters).
const MAX_NAME: usize = 100;

/// Check a backup name: 1–100 characters of `A-Z a-z 0-9 . _ -`, starting with a letter or digit.
pub fn check_name(func: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "{func}: backup name {name:?} must be 1-{MAX_NAME} characters of letters, digits, '.', '_' or '-', \
             starting with a letter or digit"
        )))
    }
}

/// The timestamp part of an archive name for `t` (`20261129T090000.123Z`).
pub fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%S%.3fZ").to_string()
}

/// The file name of archive `name` created at `stamp`, with the same-millisecond counter `n` (0: none).
pub fn file_name(name: &str, stamp: &str, n: u32) -> String {
    if n == 0 {
        format!("{name}-{stamp}.zip")
    } else {
        format!("{name}-{stamp}-{n}.zip")
    }
}

/// A parsed archive file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveName {
    /// The backup name (`app`).
    pub name: String,
    /// Creation time from the name (millisecond precision).
    pub created: DateTime<Utc>,
    /// Same-millisecond counter (0 when absent).
    pub n: u32,
}

/// Parse `NAME-YYYYMMDDTHHMMSS.mmmZ[-N].zip`; `None` for anything else (partials, other files).
pub fn parse_file_name(file_name: &str) -> Option<ArchiveName> {
    let stem = file_name.strip_suffix(".zip")?;
    // Optional `-N` counter after the stamp.
    let (rest, n) = match stem.rsplit_once('-') {
        Some((head, tail)) if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) => {
            (head, tail.parse::<u32>().ok().filter(|n| *n > 0)?)
        }
        _ => (stem, 0),
    };
    let (name, ts) = rest.rsplit_once('-')?;
    // `YYYYMMDDTHHMMSS.mmmZ` is exactly 20 characters.
    if ts.len() != 20 || !ts.ends_with('Z') || check_name("", name).is_err() {
        return None;
    }
    let naive = NaiveDateTime::parse_from_str(&ts[..19], "%Y%m%dT%H%M%S%.3f").ok()?;
    Some(ArchiveName {
        name: name.to_string(),
        created: naive.and_utc(),
        n,
    })
}

/// One archive found in the backup directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub parsed: ArchiveName,
    pub bytes: u64,
}

/// Every archive of backup `name` in `dir`, newest first (time, then counter).
/// A missing directory means no archives.
pub fn find(dir: &Path, name: &str) -> Result<Vec<Found>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("listing backup directory", dir, e)),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Error::io("listing backup directory", dir, e))?;
        let fname = ent.file_name();
        let Some(parsed) = fname.to_str().and_then(parse_file_name) else {
            continue;
        };
        if parsed.name != name {
            continue;
        }
        // A symlink or directory with an archive's name is not an archive we made.
        let meta = match ent.metadata() {
            Ok(m) if m.is_file() => m,
            _ => continue,
        };
        out.push(Found {
            path: ent.path(),
            parsed,
            bytes: meta.len(),
        });
    }
    out.sort_by(|a, b| (b.parsed.created, b.parsed.n).cmp(&(a.parsed.created, a.parsed.n)));
    Ok(out)
}

/// Partial archives of backup `name` in `dir` (`.NAME-STAMP.zip.RANDOM.partial`, left by a run
/// that was killed) not modified for at least `idle`. A run that is still writing keeps its
/// partial's mtime fresh, so it is never among them.
pub fn stale_partials(dir: &Path, name: &str, idle: std::time::Duration) -> Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("listing backup directory", dir, e)),
    };
    let now = std::time::SystemTime::now();
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Error::io("listing backup directory", dir, e))?;
        let fname = ent.file_name();
        let Some(f) = fname.to_str() else { continue };
        let parsed = f
            .strip_prefix('.')
            .and_then(|f| f.strip_suffix(".partial"))
            .and_then(|f| f.rsplit_once('.'))
            .and_then(|(archive, _random)| parse_file_name(archive));
        if parsed.is_none_or(|p| p.name != name) {
            continue;
        }
        let Ok(meta) = ent.metadata() else { continue };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok());
        if meta.is_file() && age.is_some_and(|a| a >= idle) {
            out.push(ent.path());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort() {
        let t = DateTime::parse_from_rfc3339("2026-11-29T09:00:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        let s = stamp(t);
        assert_eq!(s, "20261129T090000.123Z");
        assert_eq!(file_name("app", &s, 0), "app-20261129T090000.123Z.zip");
        let p = parse_file_name("my-app-20261129T090000.123Z-2.zip").unwrap();
        assert_eq!(
            p,
            ArchiveName {
                name: "my-app".into(),
                created: t,
                n: 2
            }
        );
        let p = parse_file_name("app-20261129T090000.123Z.zip").unwrap();
        assert_eq!((p.name.as_str(), p.n), ("app", 0));
        for bad in [
            "app-20261129T090000.123Z.zip.partial",
            ".app-20261129T090000.123Z.zip.x1.partial",
            "app.zip",
            "app-2026.zip",
            "app-20261329T090000.123Z.zip",
            "-20261129T090000.123Z.zip",
            "app-20261129T090000.123Z-0.zip",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_names_are_usage_errors() {
        for bad in ["", "../x", "a/b", ".hidden", "a b", &"x".repeat(101)] {
            let e = check_name("backup::create", bad).unwrap_err();
            assert_eq!(e.kind(), "usage", "{bad}");
        }
        check_name("backup::create", "lowcode-platform_env.1").unwrap();
    }

    #[test]
    fn find_lists_newest_first_and_ignores_others() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "app-20261129T090000.123Z.zip",
            "app-20261129T090000.123Z-1.zip",
            "app-20261128T090000.000Z.zip",
            "app-20261129T090000.123Z.zip.abc.partial",
            "apps-20261130T090000.000Z.zip",
            "notes.txt",
        ] {
            std::fs::write(d.path().join(f), b"x").unwrap();
        }
        let found = find(d.path(), "app").unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|f| f.path.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "app-20261129T090000.123Z-1.zip",
                "app-20261129T090000.123Z.zip",
                "app-20261128T090000.000Z.zip"
            ]
        );
        assert!(find(&d.path().join("missing"), "app").unwrap().is_empty());
    }

    #[test]
    fn stale_partials_are_found_by_name_and_age() {
        let d = tempfile::tempdir().unwrap();
        let old = d
            .path()
            .join(".app-20261129T090000.123Z.zip.a1b2c3.partial");
        let other = d
            .path()
            .join(".apps-20261129T090000.123Z.zip.a1b2c3.partial");
        for p in [&old, &other] {
            std::fs::write(p, b"x").unwrap();
            let t = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
            std::fs::File::open(p).unwrap().set_modified(t).unwrap();
        }
        let fresh = d.path().join(".app-20261129T100000.000Z.zip.zzz.partial");
        std::fs::write(&fresh, b"x").unwrap();
        let day = std::time::Duration::from_secs(86_400);
        assert_eq!(stale_partials(d.path(), "app", day).unwrap(), [old]);
        assert_eq!(
            stale_partials(d.path(), "app", std::time::Duration::ZERO)
                .unwrap()
                .len(),
            2
        );
    }
}
