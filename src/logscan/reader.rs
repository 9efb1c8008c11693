//! Finding log files and reading them: globs, rotated-set order, gzip, and splitting large
//! files into independently scanned ranges.
//!
//! ## Rotated-set order
//! Files are grouped into sets by their name with the rotation marks removed (`.gz`, a trailing
//! `.N`, a date such as `-2026-11-28`, `.20261128` or `__2026-11-28_00-00-00`), so
//! `combined.log`, `combined.log.1`, `combined.log.2.gz` and `combined-2026-11-28.log.gz` are one
//! set `combined.log`. Sets are read in name order, each oldest first:
//! * dated names by date; a name without a date (the live file of logrotate `dateext`) last;
//! * logrotate numbering without a date: a higher `.N` is older, the live file is newest;
//! * numbering on a dated name (winston-daily-rotate-file / file-stream-rotator size rotation,
//!   `combined-2026-11-28.log.1`) counts up, so a higher `.N` is newer;
//! * Winston's own size rotation (`combined1.log`, `combined2.log` beside `combined.log`) by
//!   modification time, since Winston numbers towards the newest file by default and towards
//!   the oldest with `tailable`; on equal times as `tailable` (higher number older);
//! * ties by modification time, then by name.
//!
//! ## Compression
//! A file is read through flate2's `MultiGzDecoder` when it starts with the gzip magic bytes
//! (whatever its name); multi-member files are read to the end.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flate2::read::MultiGzDecoder;

use crate::error::{Error, Result};

/// One log file found for a path or glob.
#[derive(Debug, Clone)]
pub struct LogFile {
    pub path: PathBuf,
    pub size: u64,
    pub modified: SystemTime,
    /// Found in a folder listing as a regular file, not through a symbolic link: its real path
    /// is its folder's real path plus its name (the policy check can be made per folder).
    pub plain_entry: bool,
}

/// The files a path or glob stands for, in reading order, and what went wrong on the way.
#[derive(Debug, Default)]
pub struct Expansion {
    pub files: Vec<LogFile>,
    pub warnings: Vec<String>,
}

fn has_glob_meta(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b'*' | b'?' | b'[' | b'{'))
}

/// Expand `pattern` (a file, or a glob such as `logs/combined*.log*`) into files in rotated-set
/// order. A plain path that does not exist is an error; a glob that matches nothing gives an
/// empty list and a warning.
pub fn expand(pattern: &str) -> Result<Expansion> {
    if pattern.trim().is_empty() {
        return Err(Error::Usage("log path is empty".into()));
    }
    let mut out = Expansion::default();
    if !has_glob_meta(pattern) {
        let path = PathBuf::from(pattern);
        let meta = std::fs::metadata(&path).map_err(|e| Error::io("opening log file", &path, e))?;
        if meta.is_dir() {
            return Err(Error::Usage(format!(
                "{pattern} is a directory; give a file or a glob such as {}/*.log*",
                pattern.trim_end_matches('/')
            )));
        }
        if !meta.is_file() {
            // A FIFO or device would block or never end; logs are regular files.
            return Err(Error::Usage(format!("{pattern} is not a regular file")));
        }
        out.files.push(LogFile {
            path,
            size: meta.len(),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            plain_entry: false,
        });
        return Ok(out);
    }
    let (base, rest) = split_glob(pattern);
    let recursive = rest.iter().any(|c| c.contains("**"));
    let depth = if recursive { 16 } else { rest.len() };
    let glob = globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| Error::Usage(format!("invalid glob {pattern:?}: {e}")))?
        .compile_matcher();
    let walk_root = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base.clone()
    };
    let (found, warnings) = walk(&walk_root, base.as_os_str().is_empty(), depth, &glob, true)?;
    out.warnings.extend(warnings);
    if found.is_empty() {
        out.warnings.push(format!("no file matches {pattern}"));
    }
    out.files = order_rotated(found);
    Ok(out)
}

/// The folder a glob's walk starts in (its leading components without glob characters) and the
/// remaining components.
fn split_glob(pattern: &str) -> (PathBuf, Vec<String>) {
    let mut base = PathBuf::new();
    let mut rest = Vec::new();
    for comp in Path::new(pattern).components() {
        let s = comp.as_os_str().to_string_lossy();
        if rest.is_empty() && !has_glob_meta(&s) {
            base.push(comp);
        } else {
            rest.push(s.into_owned());
        }
    }
    (base, rest)
}

/// For a glob, the folder that is listed to expand it (`.` for a relative glob without one);
/// `None` for a plain path. The policy must allow reading it before [`expand`] runs.
pub fn glob_base(pattern: &str) -> Option<PathBuf> {
    if !has_glob_meta(pattern) {
        return None;
    }
    let (base, _) = split_glob(pattern);
    Some(if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    })
}

/// The files under `dir` (to `depth` levels) that `glob` matches, with what went wrong on the
/// way. Folders are listed on all cores, and the regular files a listing names are looked at
/// (size, time) while it is open: one `stat` each relative to the folder (`fstatat` of the
/// name, no walk of the whole path; a name that has become a symbolic link meanwhile is not
/// followed), on all cores for a large folder. A folder is closed before its subfolders are
/// listed, so a deep tree holds few descriptors.
fn walk(
    dir: &Path,
    strip_dot: bool,
    depth: usize,
    glob: &globset::GlobMatcher,
    top: bool,
) -> Result<(Vec<LogFile>, Vec<String>)> {
    use rayon::prelude::*;
    let (mut files, mut warnings) = (Vec::new(), Vec::new());
    if depth == 0 {
        return Ok((files, warnings));
    }
    let mut subdirs = Vec::new();
    {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if top => return Err(Error::io("listing log folder", dir, e)),
            Err(e) => {
                warnings.push(format!("{}: cannot list folder: {e}", dir.display()));
                return Ok((files, warnings));
            }
        };
        let mut listed = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    warnings.push(format!("{}: cannot list folder entry: {e}", dir.display()));
                    continue;
                }
            };
            let mut path = entry.path();
            if strip_dot && let Ok(p) = path.strip_prefix(".") {
                path = p.to_path_buf();
            }
            // The listing's own type (no system call) decides whether to look further: a
            // regular file the glob does not match is not looked at at all.
            let kind = entry.file_type().ok();
            if kind.is_some_and(|k| k.is_file()) {
                if glob.is_match(&path) {
                    listed.push((path, entry));
                }
                continue;
            }
            if kind.is_some_and(|k| k.is_dir()) {
                subdirs.push(path);
                continue;
            }
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    warnings.push(format!("{}: {e}", path.display()));
                    continue;
                }
            };
            if meta.is_dir() {
                subdirs.push(path);
            } else if meta.is_file() && glob.is_match(&path) {
                files.push(LogFile {
                    path,
                    size: meta.len(),
                    modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    plain_entry: false,
                });
            }
        }
        let stat = |(path, entry): (PathBuf, std::fs::DirEntry)| match entry.metadata() {
            Ok(m) if m.is_file() => Ok(LogFile {
                path,
                size: m.len(),
                modified: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                plain_entry: true,
            }),
            Ok(_) => Err(format!("{}: no longer a regular file", path.display())),
            Err(e) => Err(format!("{}: {e}", path.display())),
        };
        let done: Vec<std::result::Result<LogFile, String>> = if listed.len() >= 256 {
            listed.into_par_iter().with_min_len(64).map(stat).collect()
        } else {
            listed.into_iter().map(stat).collect()
        };
        for r in done {
            match r {
                Ok(f) => files.push(f),
                Err(w) => warnings.push(w),
            }
        }
    } // the folder is closed here
    let sub = |p: &PathBuf| walk(p, false, depth - 1, glob, false);
    let subs: Vec<Result<(Vec<LogFile>, Vec<String>)>> = if subdirs.len() > 1 {
        subdirs.par_iter().map(sub).collect()
    } else {
        subdirs.iter().map(sub).collect()
    };
    for r in subs {
        let (f, w) = r?;
        files.extend(f);
        warnings.extend(w);
    }
    Ok((files, warnings))
}

/// How a file name places a file in its rotated set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationKey {
    /// The set: folder plus the name without rotation marks.
    pub set: String,
    /// Date (and time) digits from the name, `YYYYMMDD[HH[MM[SS]]]`.
    pub date: Option<String>,
    /// A trailing `.N`.
    pub index: Option<u64>,
}

fn date_at(b: &[u8], i: usize) -> Option<(usize, String)> {
    // YYYY[-]MM[-]DD followed by an optional time part [T_ -]HH([-:]MM([-:]SS)?)?
    let digit = |k: usize| b.get(k).is_some_and(u8::is_ascii_digit);
    if !(digit(i) && digit(i + 1) && digit(i + 2) && digit(i + 3))
        || (i > 0 && b[i - 1].is_ascii_digit())
    {
        return None;
    }
    let mut j = i + 4;
    let dashed = b.get(j) == Some(&b'-');
    if dashed {
        j += 1;
    }
    if !(digit(j) && digit(j + 1)) {
        return None;
    }
    let month = &b[j..j + 2];
    j += 2;
    if dashed {
        if b.get(j) != Some(&b'-') {
            return None;
        }
        j += 1;
    }
    if !(digit(j) && digit(j + 1)) {
        return None;
    }
    let day = &b[j..j + 2];
    j += 2;
    if digit(j) {
        return None;
    }
    let m: u32 = std::str::from_utf8(month).ok()?.parse().ok()?;
    let d: u32 = std::str::from_utf8(day).ok()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut digits: String = std::str::from_utf8(&b[i..i + 4]).ok()?.to_string();
    digits.push_str(std::str::from_utf8(month).ok()?);
    digits.push_str(std::str::from_utf8(day).ok()?);
    // Optional time: up to three 2-digit groups.
    let mut k = j;
    for group in 0..3 {
        let sep_ok = if group == 0 {
            matches!(b.get(k), Some(b'T' | b'_' | b'-' | b' '))
        } else {
            matches!(b.get(k), Some(b'-' | b':'))
        };
        if sep_ok && digit(k + 1) && digit(k + 2) && !digit(k + 3) {
            digits.push_str(std::str::from_utf8(&b[k + 1..k + 3]).ok()?);
            k += 3;
        } else {
            break;
        }
    }
    Some((k, digits))
}

/// Split a file name into its rotated set, date and index.
pub fn rotation_key(path: &Path) -> RotationKey {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let folder = path
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut stem = name.strip_suffix(".gz").unwrap_or(&name).to_string();
    let mut index = None;
    if let Some(dot) = stem.rfind('.') {
        let tail = &stem[dot + 1..];
        if !tail.is_empty() && tail.len() <= 6 && tail.bytes().all(|b| b.is_ascii_digit()) {
            index = tail.parse().ok();
            stem.truncate(dot);
        }
    }
    let b = stem.as_bytes();
    let mut date = None;
    let mut i = 0;
    while i < b.len() {
        if let Some((end, digits)) = date_at(b, i) {
            // Remove the date with the separators before it (`-`, `.`, `_`, `__`).
            let mut start = i;
            while start > 0 && matches!(b[start - 1], b'-' | b'.' | b'_') && i - start < 2 {
                start -= 1;
            }
            let mut s = String::from(&stem[..start]);
            let after = &stem[end..];
            if start == 0 {
                s.push_str(after.trim_start_matches(['-', '.', '_']));
            } else {
                s.push_str(after);
            }
            stem = s;
            date = Some(digits);
            break;
        }
        i += 1;
    }
    RotationKey {
        set: format!("{folder}/{stem}"),
        date,
        index,
    }
}

/// Winston's size rotation numbers files before the extension: `combined1.log`,
/// `combined2.log.gz` next to `combined.log`. Returns the base name (`combined.log`) and the
/// number, when `name` has that shape.
fn winston_numbered(name: &str) -> Option<(String, u64)> {
    let stem = name.strip_suffix(".gz").unwrap_or(name);
    let dot = stem.rfind('.')?;
    let (body, ext) = stem.split_at(dot);
    let digits = body.bytes().rev().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 6 || digits == body.len() || ext.len() < 2 {
        return None;
    }
    let (prefix, num) = body.split_at(body.len() - digits);
    Some((format!("{prefix}{ext}"), num.parse().ok()?))
}

/// Sort files into rotated-set order (see the module docs).
///
/// Winston's numbered files (`combined1.log`, … beside `combined.log`) join the set of the
/// unnumbered file and are ordered by modification time — Winston counts up towards the newest
/// file by default and towards the oldest with `tailable` — and on equal times as `tailable`
/// does (the unnumbered file newest, a higher number older).
pub fn order_rotated(files: Vec<LogFile>) -> Vec<LogFile> {
    use rayon::prelude::*;
    // Keys are computed on all cores for large sets (20 000 small files: a few string
    // allocations each were a serial tenth of a glob's cost), then the indices are sorted.
    let par = files.len() >= 1024;
    let keys: Vec<RotationKey> = if par {
        files.par_iter().map(|f| rotation_key(&f.path)).collect()
    } else {
        files.iter().map(|f| rotation_key(&f.path)).collect()
    };
    let plain_sets: std::collections::HashSet<&str> = keys
        .iter()
        .filter(|k| k.date.is_none() && k.index.is_none())
        .map(|k| k.set.as_str())
        .collect();
    // (set, Winston number) for numbered files whose unnumbered sibling is present.
    let winston_of = |i: usize| -> Option<(String, u64)> {
        let (f, k) = (&files[i], &keys[i]);
        if k.date.is_some() || k.index.is_some() {
            return None;
        }
        let name = f.path.file_name()?.to_string_lossy();
        let (base, n) = winston_numbered(&name)?;
        let folder = f
            .path
            .parent()
            .map(|p| p.to_string_lossy())
            .unwrap_or_default();
        let set = format!("{folder}/{base}");
        plain_sets.contains(set.as_str()).then_some((set, n))
    };
    let winston: Vec<Option<(String, u64)>> = if par {
        (0..files.len()).into_par_iter().map(winston_of).collect()
    } else {
        (0..files.len()).map(winston_of).collect()
    };
    let winston_sets: std::collections::HashSet<&str> =
        winston.iter().flatten().map(|(s, _)| s.as_str()).collect();
    let sort_key = |i: usize| {
        let (f, k) = (&files[i], &keys[i]);
        let (set, winston_n) = match &winston[i] {
            Some((set, n)) => (set.as_str(), Some(*n)),
            None => (k.set.as_str(), None),
        };
        let by_time = winston_sets.contains(set).then_some(f.modified);
        // Without a date a higher index is older (logrotate, Winston tailable); with a date it
        // is newer (file-stream-rotator).
        let idx_order: i64 = match (&k.date, k.index.or(winston_n)) {
            (Some(_), i) => i.map_or(0, |i| i as i64),
            (None, i) => -(i.map_or(0, |i| i as i64)),
        };
        (
            set,
            k.date.is_none(),
            k.date.as_deref().unwrap_or_default(),
            by_time,
            idx_order,
            f.modified,
            f.path.as_path(),
        )
    };
    let mut order: Vec<usize> = (0..files.len()).collect();
    if par {
        order.par_sort_unstable_by(|&a, &b| sort_key(a).cmp(&sort_key(b)));
    } else {
        order.sort_unstable_by(|&a, &b| sort_key(a).cmp(&sort_key(b)));
    }
    let mut slots: Vec<Option<LogFile>> = files.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// Whether the file at `path` starts with the gzip magic bytes.
pub fn is_gzip(path: &Path) -> Result<bool> {
    let mut f = File::open(path).map_err(|e| Error::io("opening log file", path, e))?;
    let mut magic = [0u8; 2];
    let got = read_head(&mut f, path, &mut magic)?;
    Ok(is_gzip_magic(&magic[..got]))
}

/// Whether `head` (a file's first bytes) starts with the gzip magic bytes.
fn is_gzip_magic(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
}

/// Read the start of `f` into `buf` until it holds at least the two bytes that tell gzip from
/// text (or the file ended): the number of bytes read, retrying interrupted reads.
fn read_head(f: &mut File, path: &Path, buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < 2.min(buf.len()) {
        match f.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("reading log file", path, e)),
        }
    }
    Ok(got)
}

/// Open `path` for reading the byte range `start..end` (plain files) or whole (gzip).
pub fn open_range(path: &Path, gz: bool, start: u64, end: u64) -> Result<Box<dyn Read + Send>> {
    let mut f = File::open(path).map_err(|e| Error::io("opening log file", path, e))?;
    if gz {
        return Ok(Box::new(MultiGzDecoder::new(BufReader::with_capacity(
            128 * 1024,
            f,
        ))));
    }
    if start > 0 {
        f.seek(SeekFrom::Start(start))
            .map_err(|e| Error::io("seeking in log file", path, e))?;
    }
    Ok(Box::new(f.take(end.saturating_sub(start))))
}

/// Open a whole file once, reading its first bytes into `buf` (which must hold at least 2)
/// and telling gzip from plain text by them: the reader of the rest, whether it is gzip, and
/// how many bytes of text `buf` already holds (for gzip none: the bytes read are handed on to
/// the decoder). A plain file costs no read besides those of its text.
pub fn open_detect(path: &Path, buf: &mut [u8]) -> Result<(Box<dyn Read + Send>, bool, usize)> {
    let mut f = File::open(path).map_err(|e| Error::io("opening log file", path, e))?;
    let got = read_head(&mut f, path, buf)?;
    if is_gzip_magic(&buf[..got]) {
        let head = std::io::Cursor::new(buf[..got].to_vec());
        let inner = BufReader::with_capacity(128 * 1024, head.chain(f));
        return Ok((Box::new(MultiGzDecoder::new(inner)), true, 0));
    }
    Ok((Box::new(f), false, got))
}

/// Read up to `max` bytes at `offset` (fewer at the end of the file).
pub fn read_at(path: &Path, offset: u64, max: usize) -> Result<Vec<u8>> {
    let mut f = File::open(path).map_err(|e| Error::io("opening log file", path, e))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io("seeking in log file", path, e))?;
    let mut buf = Vec::with_capacity(max.min(1 << 20));
    (&mut f)
        .take(max as u64)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io("reading log file", path, e))?;
    Ok(buf)
}

/// The first position at or after `from` (and before `limit`) that starts a line after a `\n`,
/// reading forward in growing windows; `None` when there is none before `limit`.
pub fn next_line_start(path: &Path, from: u64, limit: u64) -> Result<Option<u64>> {
    let mut pos = from;
    // Log lines are short: a small first read (splitting a 4 GiB file reads 128 of these).
    let mut win = 4096;
    while pos < limit {
        let want = win.min((limit - pos) as usize);
        let buf = read_at(path, pos, want)?;
        if buf.is_empty() {
            return Ok(None);
        }
        if let Some(i) = memchr::memchr(b'\n', &buf) {
            let at = pos + i as u64 + 1;
            return Ok((at < limit).then_some(at));
        }
        pos += buf.len() as u64;
        win = (win * 2).min(4 << 20);
    }
    Ok(None)
}

/// How a file's lines are written, judged from its first 64 KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Format {
    /// JSON lines (see [`sniff_json`]).
    pub json: bool,
    /// Levels are numbers (`"level":30`, pino / bunyan).
    pub numeric_levels: bool,
}

/// The [`Format`] of a file starting with `head`.
pub fn sniff(head: &[u8]) -> Format {
    // Built once: a searcher per file cost more than the look itself over 20 000 small files.
    static LEVEL_KEY: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"level\":"));
    let json = sniff_json(head);
    let numeric_levels = json
        && LEVEL_KEY.find_iter(head).any(|i| {
            let rest = &head[i + 8..];
            rest.iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(u8::is_ascii_digit)
        });
    Format {
        json,
        numeric_levels,
    }
}

/// Whether the start of a file looks like JSON lines: at least half of its first non-blank
/// lines (up to 32) start with `{`.
pub fn sniff_json(head: &[u8]) -> bool {
    let (mut json, mut total) = (0, 0);
    let mut pos = 0;
    while pos <= head.len() && total < 32 {
        let end = memchr::memchr2(b'\n', b'\r', &head[pos..]).map_or(head.len(), |i| pos + i);
        let t = super::line::trim(&head[pos..end]);
        if !t.is_empty() {
            total += 1;
            if t[0] == b'{' {
                json += 1;
            }
        }
        pos = end + 1;
    }
    json > 0 && json * 2 >= total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(files: &[LogFile]) -> Vec<String> {
        files
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    fn lf(name: &str) -> LogFile {
        LogFile {
            path: PathBuf::from("/l").join(name),
            size: 0,
            modified: SystemTime::UNIX_EPOCH,
            plain_entry: false,
        }
    }

    #[test]
    fn rotation_keys() {
        let k = rotation_key(Path::new("/l/combined-2026-11-28.log.gz"));
        assert_eq!(
            (k.set.as_str(), k.date.as_deref(), k.index),
            ("/l/combined.log", Some("20261128"), None)
        );
        let k = rotation_key(Path::new("/l/combined.log.2.gz"));
        assert_eq!(
            (k.set.as_str(), k.date, k.index),
            ("/l/combined.log", None, Some(2))
        );
        let k = rotation_key(Path::new("/l/combined.log-20261128.gz"));
        assert_eq!(
            (k.set.as_str(), k.date.as_deref()),
            ("/l/combined.log", Some("20261128"))
        );
        let k = rotation_key(Path::new("/l/out__2026-11-28_00-00-00.log"));
        assert_eq!(
            (k.set.as_str(), k.date.as_deref()),
            ("/l/out.log", Some("20261128000000"))
        );
        let k = rotation_key(Path::new("/l/app-2026-11-28-09.log.3"));
        assert_eq!(
            (k.set.as_str(), k.date.as_deref(), k.index),
            ("/l/app.log", Some("2026112809"), Some(3))
        );
        let k = rotation_key(Path::new("/l/build-12345678.log"));
        assert_eq!(k.date, None, "not a valid month/day");
    }

    #[test]
    fn rotated_sets_oldest_first() {
        let files = [
            "combined.log",
            "combined.log.1",
            "error.log",
            "combined.log.3.gz",
            "combined.log.2.gz",
            "error.log.1",
        ]
        .map(lf)
        .to_vec();
        assert_eq!(
            names(&order_rotated(files)),
            [
                "combined.log.3.gz",
                "combined.log.2.gz",
                "combined.log.1",
                "combined.log",
                "error.log.1",
                "error.log"
            ]
        );
        let files = [
            "combined-2026-11-29.log",
            "combined-2026-11-28.log.gz",
            "combined-2026-11-27.log.gz",
            "combined-2026-11-28.log.1.gz",
            "combined-2026-11-28.log.2",
        ]
        .map(lf)
        .to_vec();
        assert_eq!(
            names(&order_rotated(files)),
            [
                "combined-2026-11-27.log.gz",
                "combined-2026-11-28.log.gz",
                "combined-2026-11-28.log.1.gz",
                "combined-2026-11-28.log.2",
                "combined-2026-11-29.log"
            ]
        );
        // Winston size rotation: `tailable` (equal times) and default (times decide).
        let files = [
            "combined.log",
            "combined2.log",
            "combined1.log.gz",
            "app2.log",
        ]
        .map(lf)
        .to_vec();
        assert_eq!(
            names(&order_rotated(files)),
            [
                "app2.log",
                "combined2.log",
                "combined1.log.gz",
                "combined.log"
            ]
        );
        let at = |name: &str, s: u64| LogFile {
            modified: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s),
            ..lf(name)
        };
        let files = vec![
            at("combined2.log", 30),
            at("combined.log", 10),
            at("combined1.log", 20),
        ];
        assert_eq!(
            names(&order_rotated(files)),
            ["combined.log", "combined1.log", "combined2.log"]
        );
        let files = ["app.log", "app.log-20261128.gz", "app.log-20261127.gz"]
            .map(lf)
            .to_vec();
        assert_eq!(
            names(&order_rotated(files)),
            ["app.log-20261127.gz", "app.log-20261128.gz", "app.log"]
        );
    }

    #[test]
    fn sniffing() {
        assert!(sniff_json(b"{\"a\":1}\n{\"a\":2}\n"));
        assert!(
            sniff_json(b"age\":\"x\"}\n{\"a\":2}\n"),
            "a leading fragment does not hide JSON lines"
        );
        assert!(!sniff_json(b"2026-11-29 INFO x\n2026-11-29 INFO {y}\n"));
        assert!(!sniff_json(b""));
        assert!(sniff(b"{\"level\": 30,\"msg\":\"x\"}\n").numeric_levels);
        assert!(!sniff(b"{\"level\":\"info\"}\n").numeric_levels);
    }
}
