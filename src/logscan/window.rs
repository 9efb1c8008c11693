//! Time windows without reading everything: `since`/`until` narrowed to byte ranges.
//!
//! Log files are written in time order and a rotated set is ordered by age, so:
//! * a file whose modification time is before `since` holds no line of the window;
//! * in a rotated set (same [`RotationKey::set`](super::reader::RotationKey)), a file is older
//!   than the window when the *next* file of the set starts before `since`, and newer than the
//!   window when its own first line is at or after `until` — that needs only the first line,
//!   so it works for gzip files too (which cannot be bisected);
//! * inside a plain file, the window's first line is found by bisection on byte offsets: probe
//!   the middle, resync to the next line start, read that line's time, halve the range.
//!
//! Every bound is widened by [`SLACK_MS`], so lines written a little out of order (several
//! writers, asynchronous transports) are still found, and every line read is still checked
//! against the exact window. Order is verified as the window is scanned (see
//! `scan::UnitOut::disorder`); a file whose times go back by more than [`SLACK_MS`], or whose
//! probes find no readable time, is read in full instead, with a warning saying so.

use std::path::Path;

use super::filter::{JsonNeeds, TIME, TimeRange, json_time_ms, parse_view, plain_time_ms};
use super::line::trim;
use super::reader::{LogFile, open_range, read_at, rotation_key};

/// How far out of order lines may be and still be found (1 s).
pub const SLACK_MS: i64 = 1000;
/// Bisection stops when the range is this small (and one probe reads at most this much).
const PROBE: usize = 64 * 1024;

/// The time of one line: the JSON `timestamp`/`time`/… member of a JSON line, or the first
/// timestamp of a plain line.
pub fn line_time(line: &[u8], json: bool) -> Option<i64> {
    if json {
        let t = trim(line);
        if t.first() != Some(&b'{') {
            return None;
        }
        let needs = JsonNeeds {
            time: true,
            ..JsonNeeds::default()
        };
        let v = parse_view(t, &needs).ok()?;
        v.get(TIME).and_then(json_time_ms)
    } else {
        plain_time_ms(line)
    }
}

/// The first readable time among the complete lines of `buf` (which starts at a line start),
/// with the offset in `buf` of the line holding it.
fn first_time_in(buf: &[u8], json: bool) -> Option<(usize, i64)> {
    let mut pos = 0;
    while let Some(i) = memchr::memchr(b'\n', &buf[pos..]) {
        if let Some(t) = line_time(&buf[pos..pos + i], json) {
            return Some((pos, t));
        }
        pos += i + 1;
    }
    None
}

/// The first readable time of a file (plain or gzip), from its first 64 KiB of text; `json`
/// `None`: decide from that text.
pub fn first_time(f: &LogFile, gz: bool, json: Option<bool>) -> Option<i64> {
    let mut r = open_range(&f.path, gz, 0, f.size).ok()?;
    let mut buf = Vec::with_capacity(PROBE);
    std::io::Read::read_to_end(&mut std::io::Read::take(&mut r, PROBE as u64), &mut buf).ok()?;
    if buf.len() < PROBE && !buf.ends_with(b"\n") {
        buf.push(b'\n'); // the whole file: its last line is complete
    }
    let json = json.unwrap_or_else(|| super::reader::sniff(&buf).json);
    first_time_in(&buf, json).map(|(_, t)| t)
}

/// The last readable time of plain file `f` (`size` bytes), from its last 64 KiB.
pub fn last_time(f: &LogFile, json: bool) -> Option<i64> {
    let from = f.size.saturating_sub(PROBE as u64);
    let buf = read_at(&f.path, from, PROBE).ok()?;
    // Skip the partial line the probe starts in (unless it starts the file).
    let start = if from == 0 {
        0
    } else {
        memchr::memchr(b'\n', &buf)? + 1
    };
    buf[start..]
        .split(|&b| b == b'\n')
        .rev()
        .find_map(|l| line_time(l, json))
}

/// Result of [`bisect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// `lo`: a line start before which every line is older than the target; `hi`: a line start
    /// from which every line is at or after it (both assuming time order).
    At { lo: u64, hi: u64 },
    /// A probe found no readable time, or the probes' times go backwards: read the file whole.
    Unknown,
}

/// Bisect plain file `path` (`size` bytes) for `target_ms`.
pub fn bisect(path: &Path, size: u64, json: bool, target_ms: i64) -> Cut {
    let (mut lo, mut hi) = (0u64, size);
    // (offset, time) of the probes so far, to notice times that go backwards.
    let mut seen: Vec<(u64, i64)> = Vec::new();
    while hi - lo > PROBE as u64 {
        let mid = lo + (hi - lo) / 2;
        let Ok(buf) = read_at(path, mid, PROBE) else {
            return Cut::Unknown;
        };
        let Some(nl) = memchr::memchr(b'\n', &buf) else {
            break; // one line longer than a probe: scan from `lo`
        };
        let s = mid + nl as u64 + 1;
        if s >= hi {
            break;
        }
        let rest = &buf[nl + 1..];
        let limit = ((hi - s) as usize).min(rest.len());
        let Some((off, t)) = first_time_in(&rest[..limit], json) else {
            if limit < rest.len() || (limit as u64) < hi - s {
                return Cut::Unknown; // 64 KiB of lines without a readable time
            }
            break;
        };
        let ls = s + off as u64;
        if seen
            .iter()
            .any(|&(o, pt)| (o < ls && pt > t + SLACK_MS) || (o > ls && pt + SLACK_MS < t))
        {
            return Cut::Unknown;
        }
        seen.push((ls, t));
        if t < target_ms {
            lo = ls;
        } else {
            hi = s;
        }
    }
    Cut::At { lo, hi }
}

/// Byte range of one file to scan for `range`; `None`: no line of the window can be in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub end: u64,
    /// The whole file, whose first and last times are inside the window: by the time order
    /// assumed of every file, each of its lines is, so they are not checked one by one (the
    /// scan still checks the time of each buffer's first line and falls back to a full scan
    /// when one is outside the window or goes back).
    pub inside: bool,
}

/// Narrow each file of `files` to the part that can hold lines of `range`, given whether each
/// is gzip (`gz`) and JSON lines (`json`, `None` for gzip: judged from its text). `None` for a file means "skip it whole"; a plain
/// file's span starts and ends at line starts. A file whose probes fail is scanned whole and
/// named in the returned notes.
pub fn narrow(
    files: &[LogFile],
    gz: &[bool],
    json: &[Option<bool>],
    range: TimeRange,
) -> (Vec<Option<Span>>, Vec<String>) {
    let since = range.since_ms.map(|s| s.saturating_sub(SLACK_MS));
    let until = range.until_ms.map(|u| u.saturating_add(SLACK_MS));
    let sets: Vec<String> = files.iter().map(|f| rotation_key(&f.path).set).collect();
    let mut notes = Vec::new();
    let mut firsts: Vec<Option<Option<i64>>> = vec![None; files.len()];
    let mut first = |i: usize| -> Option<i64> {
        *firsts[i].get_or_insert_with(|| first_time(&files[i], gz[i], json[i]))
    };
    let mut out = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        let whole = Some(Span {
            start: 0,
            end: f.size,
            inside: false,
        });
        // Inside the window as a whole: the first line at/after `since` and the last line
        // (or, for gzip, the next file of the set's first line) before `until`, exactly.
        let after_since = |first: Option<i64>| match range.since_ms {
            None => true,
            Some(s) => first.is_some_and(|t| t >= s),
        };
        if let Some(s) = since {
            let mtime_ms = f
                .modified
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(i64::MAX);
            if mtime_ms < s {
                out.push(None);
                continue;
            }
            // The next file of the same rotated set starts before the window: this one is older.
            if i + 1 < files.len() && sets[i + 1] == sets[i] && first(i + 1).is_some_and(|t| t < s)
            {
                out.push(None);
                continue;
            }
        }
        if let Some(u) = until
            && first(i).is_some_and(|t| t >= u)
        {
            out.push(None);
            continue;
        }
        if gz[i] || f.size <= PROBE as u64 {
            let mut span = whole;
            if gz[i] {
                let next_first = (i + 1 < files.len() && sets[i + 1] == sets[i])
                    .then(|| first(i + 1))
                    .flatten();
                let before_until = match range.until_ms {
                    None => true,
                    Some(u) => next_first.is_some_and(|t| t < u),
                };
                if before_until && after_since(first(i)) {
                    span = span.map(|s| Span { inside: true, ..s });
                }
            }
            out.push(span);
            continue;
        }
        let mut span = Span {
            start: 0,
            end: f.size,
            inside: false,
        };
        let mut unknown = false;
        if let Some(s) = since {
            match bisect(&f.path, f.size, json[i].unwrap_or(false), s) {
                Cut::At { lo, .. } => span.start = lo,
                Cut::Unknown => unknown = true,
            }
        }
        if let Some(u) = until
            && !unknown
        {
            match bisect(&f.path, f.size, json[i].unwrap_or(false), u) {
                Cut::At { hi, .. } => span.end = hi,
                Cut::Unknown => unknown = true,
            }
        }
        if unknown {
            notes.push(format!(
                "{}: times could not be bisected (no readable time near a probe, or times out of \
                 order); the file was read in full",
                f.path.display()
            ));
            out.push(whole);
        } else if span.start >= span.end {
            out.push(None);
        } else {
            if span.start == 0 && span.end == f.size {
                let json = json[i].unwrap_or(false);
                span.inside = after_since(first(i))
                    && match range.until_ms {
                        None => true,
                        Some(u) => last_time(f, json).is_some_and(|t| t < u),
                    };
            }
            out.push(Some(span));
        }
    }
    (out, notes)
}
