//! The scanning engine: streams one file (or one byte range of a large file) through a fixed
//! buffer, finds candidate lines with the driver matcher over the whole buffer, applies the
//! filters only to candidates, and hands surviving lines to a [`Sink`].
//!
//! * Memory: one buffer per worker (256 KiB, grown up to [`MAX_LINE`] only while a single line
//!   needs it). Lines longer than [`MAX_LINE`] are searched in their first [`MAX_LINE`] bytes,
//!   the rest is skipped, and a warning says so.
//! * No allocation per line on the hot path: counting allocates nothing; JSON is parsed only on
//!   lines the driver already selected, borrowing its strings from the buffer.
//! * Damage never stops a scan: a read or gzip error ends that file with a warning after the
//!   lines before the damage; JSON-lines files count lines that are not one complete object
//!   (a half-written last line, a fragment at the start of the next rotated file) in `skipped`.
//! * Cancellation (`Cancel::check`) is polled every 4 MiB.

use std::io::{ErrorKind, Read};
use std::path::PathBuf;

use memchr::memchr2;
use rayon::prelude::*;

use super::filter::{FIELD, LEVEL, TIME, json_time_ms, logfmt_field, parse_view, plain_time_ms};
use super::filter::{FieldPath, JsonNeeds, JsonView, LevelFilter, TimeRange};
use super::line::{
    complete_end, count_byte, count_terminators, line_end, line_start, terminator_len, trim,
};
use super::matcher::Matcher;
use super::reader::{Format, LogFile, is_gzip, open_detect, open_range, read_at, sniff};
use crate::cancel::Cancel;
use crate::error::Result;

/// Initial buffer per worker.
pub const BUF: usize = 256 * 1024;
/// Longest line searched in full (8 MiB).
pub const MAX_LINE: usize = 8 << 20;
/// Cancellation is checked after this many bytes.
const CHECK_EVERY: usize = 4 << 20;
/// Plain files at least twice this size are split into ranges scanned in parallel.
pub const MIN_CHUNK: u64 = 16 << 20;
/// How much of a file's start is looked at to tell JSON lines from plain text.
const SNIFF: usize = 64 * 1024;

/// What a scan looks for; built once, shared by all workers.
#[derive(Debug)]
pub struct Plan {
    /// Finds candidate lines in a buffer.
    pub driver: Matcher,
    /// Pattern applied to the `field` value instead of the line.
    pub field_pattern: Option<Matcher>,
    pub field: Option<FieldPath>,
    pub level: Option<LevelFilter>,
    /// Cheap "line mentions the level" check when the driver is something else.
    pub level_quick: Option<Matcher>,
    /// Replacements of `driver` and `level_quick` for files with numeric levels (pino).
    pub numeric_driver: Option<Matcher>,
    pub numeric_level_quick: Option<Matcher>,
    pub time: Option<TimeRange>,
    pub needs: JsonNeeds,
    /// Every line as it is: no JSON checks, no `skipped` (plain `tail`).
    pub raw: bool,
    /// JSON lines are needed for their time only (see [`quick_json_time`]).
    pub time_only: bool,
}

/// The time of a JSON line read without parsing it: the one `"timestamp":"…"` member (no
/// escapes inside, exactly one occurrence on the line). `None`: parse the line instead.
#[inline]
pub fn quick_json_time(line: &[u8]) -> Option<i64> {
    quick_json_time_cached(line, &mut TimeCache::default())
}

/// The `"timestamp":"` searcher, built once (building a memmem searcher per line cost a
/// quarter of a time-window scan).
static TIMESTAMP_KEY: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"timestamp\":\""));

/// The last timestamp parsed in full, split into the part up to its seconds, the zone text
/// after its fraction, and the Unix ms of that second: a later value with the same second
/// and the same zone text differs only in its fraction, so it is read without a date
/// parse. Consecutive log lines mostly share their second.
#[derive(Default)]
pub struct TimeCache {
    second: [u8; 19],
    zone: [u8; 8],
    zone_len: u8,
    base_ms: i64,
    valid: bool,
}

/// `s` as `YYYY-MM-DDTHH:MM:SS`, an optional `.` and 1–9 digits, then the rest: (the
/// fraction in ms, truncated as the full parse does, the rest).
#[inline]
fn split_fraction(s: &[u8]) -> Option<(i64, &[u8])> {
    if s.len() < 20 {
        return None;
    }
    let tail = &s[19..];
    if tail[0] != b'.' {
        return Some((0, tail));
    }
    let digits = tail[1..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 9 {
        return None;
    }
    let mut ms = 0i64;
    for k in 0..3 {
        ms = ms * 10
            + tail
                .get(1 + k)
                .filter(|_| k < digits)
                .map_or(0, |d| (d - b'0') as i64);
    }
    Some((ms, &tail[1 + digits..]))
}

/// Whether `p` is laid out exactly as `YYYY-MM-DDTHH:MM:SS` (`T`, `t` or a space).
fn is_second_prefix(p: &[u8]) -> bool {
    p.iter().enumerate().all(|(i, &b)| match i {
        4 | 7 => b == b'-',
        10 => matches!(b, b'T' | b't' | b' '),
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    })
}

impl TimeCache {
    #[inline]
    fn parse(&mut self, s: &[u8]) -> Option<i64> {
        if self.valid
            && s.len() >= 20
            && s[..19] == self.second
            && let Some((frac, zone)) = split_fraction(s)
            && zone == &self.zone[..self.zone_len as usize]
        {
            return Some(self.base_ms + frac);
        }
        let ms = super::filter::parse_timestamp(std::str::from_utf8(s).ok()?)?;
        self.valid = false;
        if s.len() >= 20
            && is_second_prefix(&s[..19])
            && let Some((frac, zone)) = split_fraction(s)
            && zone.len() <= self.zone.len()
        {
            self.second.copy_from_slice(&s[..19]);
            self.zone[..zone.len()].copy_from_slice(zone);
            self.zone_len = zone.len() as u8;
            self.base_ms = ms - frac;
            self.valid = true;
        }
        Some(ms)
    }
}

/// [`quick_json_time`] reusing the second already parsed on an earlier line (`cache`).
#[inline]
pub fn quick_json_time_cached(line: &[u8], cache: &mut TimeCache) -> Option<i64> {
    let key = TIMESTAMP_KEY.needle().len();
    let at = TIMESTAMP_KEY.find(line)?;
    let rest = &line[at + key..];
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    if rest[end] != b'"' || TIMESTAMP_KEY.find(&rest[end..]).is_some() {
        return None;
    }
    cache.parse(&rest[..end])
}

/// A line that passed every filter.
pub struct Hit<'l, 'v> {
    pub line: &'l [u8],
    pub view: Option<&'v JsonView<'l>>,
    pub json_file: bool,
    /// 1-based line number within the unit (0 unless the sink asked for line numbers).
    pub line_no: u64,
    /// `line` is only the first [`MAX_LINE`] bytes of a longer line; the length of the rest
    /// follows in [`Sink::cut_line_rest`] once the scan has skipped it.
    pub cut: bool,
}

/// Receives the lines of one unit.
pub trait Sink: Send {
    /// Whether hits need line numbers (costs a count of every terminator).
    fn line_numbers(&self) -> bool {
        false
    }
    fn accept(&mut self, hit: Hit<'_, '_>);
    /// The bytes of the line last passed with `cut: true` that followed its searched prefix
    /// (called once that line's end is found, so a sink can report the line's real length).
    fn cut_line_rest(&mut self, _rest: u64) {}
    /// The unit is done (called on the worker that scanned it, before its result is handed
    /// on): a sink may prepare its result here, on all cores, rather than in the caller.
    fn finish(&mut self) {}
}

/// A piece of work: a whole file, or a byte range of a plain file starting at a line start.
#[derive(Debug, Clone)]
pub struct Unit {
    pub file: usize,
    pub path: PathBuf,
    pub gz: bool,
    pub start: u64,
    pub end: u64,
    /// How lines are written; `None`: decide from the first buffer (gzip).
    pub format: Option<Format>,
    /// Only count the lines (the part of a file before a time window, for line numbers).
    pub count_only: bool,
    /// The unit was narrowed to a time window: its times must be in order (see `disorder`).
    pub windowed: bool,
    /// A whole file not looked at yet: gzip and the format are told from its first bytes
    /// when it is scanned (one open per file).
    pub detect: bool,
    /// The whole file is inside the time window (see [`super::window::Span::inside`]): lines
    /// are not checked against the window one by one, only each buffer's first line is.
    pub inside: bool,
}

impl Unit {
    /// The whole of plain file `file` (`path`), format told from its first buffer, no window:
    /// the defaults every other kind of unit starts from.
    pub fn whole(file: usize, path: PathBuf) -> Unit {
        Unit {
            file,
            path,
            gz: false,
            start: 0,
            end: u64::MAX,
            format: None,
            count_only: false,
            windowed: false,
            detect: false,
            inside: false,
        }
    }
}

/// What one unit produced.
pub struct UnitOut<S> {
    pub file: usize,
    pub sink: S,
    /// Complete lines in the unit (only counted when the sink wants line numbers).
    pub lines: u64,
    pub skipped: u64,
    pub warnings: Vec<String>,
    /// A windowed unit met a time more than [`SLACK_MS`](super::window::SLACK_MS) before
    /// one already seen: the bisection's assumption does not hold; scan the file whole.
    pub disorder: bool,
}

/// Numbers lines by counting terminators between hits (never line by line).
#[derive(Default)]
struct LineCounter {
    before: u64,
    upto: usize,
    /// The current region holds a `\r`: count `\r\n` once and bare `\r` too. Told once per
    /// region, so the usual all-`\n` text costs one vectorised `\n` count per gap.
    cr: bool,
}

impl LineCounter {
    #[inline]
    fn start(&mut self, region: &[u8]) {
        self.cr = memchr::memchr(b'\r', region).is_some();
    }
    #[inline]
    fn count(&self, gap: &[u8]) -> u64 {
        if self.cr {
            count_terminators(gap)
        } else {
            count_byte(gap, b'\n') as u64
        }
    }
    #[inline]
    fn at(&mut self, region: &[u8], ls: usize) -> u64 {
        self.before += self.count(&region[self.upto..ls]);
        self.upto = ls;
        self.before + 1
    }
    fn finish(&mut self, region: &[u8]) {
        self.before += self.count(&region[self.upto..]);
        self.upto = 0;
    }
}

struct State<'p, S> {
    plan: &'p Plan,
    driver: &'p Matcher,
    level_quick: Option<&'p Matcher>,
    sink: S,
    json: bool,
    skipped: u64,
    counter: LineCounter,
    want_lines: bool,
    scratch: String,
    /// The region being scanned is the searched prefix of an over-long line.
    cut: bool,
    count_only: bool,
    /// Latest line time seen (windowed units), and whether one went back past the slack.
    max_t: i64,
    disorder: bool,
    times: TimeCache,
    /// The unit is inside the window as a whole: the time filter is not applied per line
    /// (`needs` is the plan's without the time), only each region's first time is checked.
    inside: bool,
    needs: JsonNeeds,
}

impl<'p, S: Sink> State<'p, S> {
    fn set_format(&mut self, f: Format) {
        self.json = f.json;
        let numeric = f.numeric_levels;
        self.driver = match (&self.plan.numeric_driver, numeric) {
            (Some(d), true) => d,
            _ => &self.plan.driver,
        };
        self.level_quick = match (&self.plan.numeric_level_quick, numeric) {
            (Some(q), true) => Some(q),
            _ => self.plan.level_quick.as_ref(),
        };
    }

    /// Every complete line of `region` (which ends after a terminator or at the end of data).
    fn region(&mut self, region: &[u8]) {
        if self.want_lines {
            self.counter.start(region);
        }
        if self.count_only {
            if self.want_lines {
                self.counter.finish(region);
            }
            return;
        }
        if self.inside {
            self.check_inside(region);
        }
        let n = region.len();
        let mut pos = 0;
        while pos < n {
            let Some((ms, me)) = self.driver.find_at(region, pos) else {
                break;
            };
            if ms == n && super::line::is_terminator(region[n - 1]) {
                break; // an empty match after the last terminator is not a line
            }
            let ls = if ms == pos {
                pos
            } else {
                line_start(region, pos, ms)
            };
            let le = line_end(region, ms);
            self.handle(region, ls, le, me > le);
            pos = if le < n {
                le + terminator_len(region, le)
            } else {
                n
            };
        }
        if self.want_lines {
            self.counter.finish(region);
        }
    }

    /// Order check of a unit inside the window: the first readable time among the first few
    /// lines of `region` must be inside the window and not go back past the slack; else the
    /// unit is marked `disorder` (the caller scans everything again, line by line).
    fn check_inside(&mut self, region: &[u8]) {
        let plan = self.plan;
        let Some(tr) = &plan.time else {
            return;
        };
        let t = region.split(|&b| b == b'\n').take(16).find_map(|l| {
            if self.json {
                quick_json_time_cached(l, &mut self.times)
                    .or_else(|| super::window::line_time(l, true))
            } else {
                plain_time_ms(l)
            }
        });
        if let Some(t) = t {
            if !tr.contains(t) || t < self.max_t - super::window::SLACK_MS {
                self.disorder = true;
            }
            self.max_t = self.max_t.max(t);
        }
    }

    #[inline]
    fn handle(&mut self, region: &[u8], ls: usize, le: usize, crossed: bool) {
        let plan = self.plan;
        let line = &region[ls..le];
        // A regex hit that ran past the end of the line is re-checked on the line alone.
        if crossed && !self.driver.is_match(line) {
            return;
        }
        if self.json && !plan.raw {
            let t = trim(line);
            if t.is_empty() {
                return;
            }
            if t[0] != b'{' || t[t.len() - 1] != b'}' {
                self.skipped += 1;
                return;
            }
        }
        if let Some(q) = self.level_quick
            && !q.is_match(line)
        {
            return;
        }
        // Only the time is needed: read the `"timestamp":"…"` member by a byte search and
        // parse the JSON only when that fails (issue 14.4).
        let quick_t = if self.json && !plan.raw && plan.time_only && !self.inside {
            quick_json_time_cached(line, &mut self.times)
        } else {
            None
        };
        let view = if quick_t.is_none() && self.json && !plan.raw && self.needs.any() {
            match parse_view(trim(line), &self.needs) {
                Ok(v) => Some(v),
                Err(_) => {
                    self.skipped += 1;
                    return;
                }
            }
        } else {
            None
        };
        if let Some(lv) = &plan.level {
            let ok = match &view {
                Some(v) => lv.matches_json(v.get(LEVEL)),
                None => lv.matches_plain(line),
            };
            if !ok {
                return;
            }
        }
        if let Some(tr) = plan.time.as_ref().filter(|_| !self.inside) {
            let t = match (&view, quick_t) {
                (_, Some(t)) => Some(t),
                (Some(v), None) => v.get(TIME).and_then(json_time_ms),
                (None, None) => plain_time_ms(line),
            };
            if let Some(t) = t {
                if t < self.max_t - super::window::SLACK_MS {
                    self.disorder = true;
                }
                self.max_t = self.max_t.max(t);
            }
            match t {
                Some(t) if tr.contains(t) => {}
                Some(_) => return,
                None => {
                    self.skipped += 1;
                    return;
                }
            }
        }
        if let (Some(m), Some(f)) = (&plan.field_pattern, &plan.field) {
            let ok = match &view {
                Some(v) => v
                    .get(FIELD)
                    .and_then(|x| x.as_text(&mut self.scratch))
                    .is_some_and(|s| m.is_match(s.as_bytes())),
                None => logfmt_field(line, &f.name).is_some_and(|val| m.is_match(val)),
            };
            if !ok {
                return;
            }
        }
        let line_no = if self.want_lines {
            self.counter.at(region, ls)
        } else {
            0
        };
        self.sink.accept(Hit {
            line,
            view: view.as_ref(),
            json_file: self.json,
            line_no,
            cut: self.cut,
        });
    }
}

fn describe_read_error(e: &std::io::Error, gz: bool) -> String {
    if gz {
        format!("gzip data is truncated or corrupt ({e})")
    } else {
        format!("read error ({e})")
    }
}

/// Scan one unit to the end (or to the first damage) into `sink`.
pub fn scan_unit<S: Sink>(
    unit: &Unit,
    plan: &Plan,
    sink: S,
    cancel: &Cancel,
) -> Result<UnitOut<S>> {
    let mut warnings = Vec::new();
    // One buffer per worker thread, kept across units: no fresh zeroed 256 KiB per file.
    let mut buf = BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
    if buf.len() < BUF {
        buf.resize(BUF, 0);
    }
    let opened = if unit.detect {
        open_detect(&unit.path, &mut buf)
    } else {
        open_range(&unit.path, unit.gz, unit.start, unit.end).map(|r| (r, unit.gz, 0))
    };
    let (mut rdr, gz, prefilled): (Box<dyn Read + Send>, bool, usize) = match opened {
        Ok(r) => r,
        Err(e) => {
            BUFFER.with(|b| *b.borrow_mut() = buf);
            warnings.push(e.to_string());
            return Ok(UnitOut {
                file: unit.file,
                sink,
                lines: 0,
                skipped: 0,
                warnings,
                disorder: false,
            });
        }
    };
    let want_lines = sink.line_numbers();
    let mut st = State {
        plan,
        sink,
        driver: &plan.driver,
        level_quick: plan.level_quick.as_ref(),
        json: false,
        skipped: 0,
        counter: LineCounter::default(),
        want_lines,
        scratch: String::new(),
        cut: false,
        count_only: unit.count_only,
        max_t: i64::MIN + super::window::SLACK_MS,
        disorder: false,
        times: TimeCache::default(),
        inside: unit.inside && plan.time.is_some() && !plan.raw,
        needs: JsonNeeds {
            time: plan.needs.time && !unit.inside,
            ..plan.needs.clone()
        },
    };
    if let Some(f) = unit.format {
        st.set_format(f);
    }
    let out = scan_loop(
        unit,
        gz,
        &mut st,
        &mut rdr,
        &mut buf,
        prefilled,
        cancel,
        &mut warnings,
    );
    buf.truncate(BUF);
    buf.shrink_to(BUF);
    BUFFER.with(|b| *b.borrow_mut() = buf);
    out?;
    st.sink.finish();
    Ok(UnitOut {
        file: unit.file,
        disorder: st.disorder && unit.windowed,
        lines: st.counter.before,
        skipped: st.skipped,
        sink: st.sink,
        warnings,
    })
}

thread_local! {
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The read loop of [`scan_unit`] over `rdr` with the worker's `buf`, whose first `prefilled`
/// bytes were already read from the unit's start.
#[allow(clippy::too_many_arguments)]
fn scan_loop<S: Sink>(
    unit: &Unit,
    gz: bool,
    st: &mut State<'_, S>,
    rdr: &mut Box<dyn Read + Send>,
    buf: &mut Vec<u8>,
    prefilled: usize,
    cancel: &Cancel,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let label = unit.path.display(); // formatted only into a warning
    let want_lines = st.want_lines;
    let mut sniffed = unit.format.is_some();
    let mut filled = prefilled;
    let (mut eof, mut skipping) = (false, false);
    let mut damage: Option<String> = None;
    let mut offset: u64 = unit.start; // stream offset of buf[0]
    let mut read_total: u64 = prefilled as u64;
    let mut since_check = 0usize;
    let mut long_lines: u64 = 0;
    let mut first_long: u64 = 0;
    // Bytes of the current over-long line skipped after its searched prefix.
    let mut rest: u64 = 0;
    loop {
        while filled < buf.len() && !eof {
            match rdr.read(&mut buf[filled..]) {
                Ok(0) => eof = true,
                Ok(n) => {
                    filled += n;
                    read_total += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    eof = true;
                    damage = Some(format!(
                        "{label}: {} after {read_total} bytes of text; the lines before the damage were read",
                        describe_read_error(&e, gz)
                    ));
                }
            }
        }
        if !sniffed {
            st.set_format(sniff(&buf[..filled.min(SNIFF)]));
            sniffed = true;
        }
        let mut start = 0;
        if skipping {
            match memchr2(b'\n', b'\r', &buf[..filled]) {
                Some(i) if buf[i] == b'\r' && i + 1 == filled && !eof => {
                    buf.copy_within(i..filled, 0);
                    offset += i as u64;
                    rest += i as u64;
                    filled -= i;
                    continue;
                }
                Some(i) => {
                    start = i + terminator_len(&buf[..filled], i);
                    skipping = false;
                    st.sink.cut_line_rest(rest + i as u64);
                    rest = 0;
                    if want_lines {
                        st.counter.before += 1;
                    }
                }
                None => {
                    offset += filled as u64;
                    rest += filled as u64;
                    filled = 0;
                    if eof {
                        st.sink.cut_line_rest(rest);
                        break;
                    }
                    continue;
                }
            }
        }
        let data = &buf[start..filled];
        let damaged = damage.is_some();
        let end = if eof && !damaged {
            data.len()
        } else {
            complete_end(data, eof)
        };
        if end == 0 && !eof {
            if start > 0 {
                buf.copy_within(start..filled, 0);
                offset += start as u64;
                filled -= start;
                continue;
            }
            if buf.len() < MAX_LINE {
                let grown = (buf.len() * 2).min(MAX_LINE);
                buf.resize(grown, 0);
                continue;
            }
            // One line fills the largest buffer: search its first MAX_LINE bytes, skip the rest.
            long_lines += 1;
            if long_lines == 1 {
                first_long = offset;
            }
            st.cut = true;
            st.region(&buf[..filled]);
            st.cut = false;
            skipping = true;
            rest = 0;
            offset += filled as u64;
            filled = 0;
            continue;
        }
        if end > 0 {
            st.region(&buf[start..start + end]);
        }
        let consumed = start + end;
        if eof {
            if let Some(mut d) = damage.take() {
                if consumed < filled {
                    d.push_str(&format!(
                        " (the partial line cut by the damage, {} bytes, was not)",
                        filled - consumed
                    ));
                }
                warnings.push(d);
            }
            break;
        }
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
        offset += consumed as u64;
        since_check += consumed;
        if since_check >= CHECK_EVERY {
            since_check = 0;
            cancel.check()?;
        }
        if buf.len() > BUF && filled <= BUF / 2 {
            buf.truncate(BUF);
            buf.shrink_to_fit();
        }
    }
    if let Some(d) = damage {
        warnings.push(d); // met while skipping the rest of an over-long line
    }
    if long_lines > 0 {
        warnings.push(format!(
            "{label}: {long_lines} line(s) longer than {} MiB (the first at byte {first_long}); only the first {} MiB of each were searched",
            MAX_LINE >> 20,
            MAX_LINE >> 20
        ));
    }
    cancel.check()
}

/// Split `files` into units: a gzip file is one unit; a plain file of at least 2 × [`MIN_CHUNK`]
/// is cut at line starts into ranges of decreasing size (see [`split_range`]: a core slowed by
/// other work does not leave the other waiting at the end). Files that cannot be opened become
/// warnings.
pub fn plan_units(files: &[LogFile], threads: usize, warnings: &mut Vec<String>) -> Vec<Unit> {
    plan_units_with(files, threads, MIN_CHUNK, None, warnings)
}

/// A time window to narrow the units to (see [`super::window`]).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub range: TimeRange,
    /// Add count-only units for the part of each file before its window (line numbers).
    pub count_before: bool,
}

/// [`plan_units`] with a chosen minimum range size, narrowed to `window` when given.
pub fn plan_units_with(
    files: &[LogFile],
    threads: usize,
    min_chunk: u64,
    window: Option<Window>,
    warnings: &mut Vec<String>,
) -> Vec<Unit> {
    // Gzip or not, and the format of plain files, once per file.
    // A file that will be one unit anyway is not opened here: the scan tells gzip and the
    // format from its first bytes (one open per file, not three).
    let single = |f: &LogFile| window.is_none() && (threads <= 1 || f.size < 2 * min_chunk);
    let mut kinds: Vec<Option<(bool, Option<Format>)>> = Vec::with_capacity(files.len());
    for f in files {
        if single(f) {
            kinds.push(Some((false, None)));
            continue;
        }
        let gz = match is_gzip(&f.path) {
            Ok(g) => g,
            Err(e) => {
                warnings.push(e.to_string());
                kinds.push(None);
                continue;
            }
        };
        if gz {
            kinds.push(Some((true, None)));
            continue;
        }
        match read_at(&f.path, 0, SNIFF) {
            Ok(head) => kinds.push(Some((false, Some(sniff(&head))))),
            Err(e) => {
                warnings.push(e.to_string());
                kinds.push(None);
            }
        }
    }
    let spans: Vec<Option<(u64, u64, bool)>> = match window {
        Some(w) => {
            let gz: Vec<bool> = kinds.iter().map(|k| k.is_some_and(|k| k.0)).collect();
            let json: Vec<Option<bool>> = kinds
                .iter()
                .map(|k| match k {
                    Some((false, Some(fmt))) => Some(fmt.json),
                    Some((true, _)) => None,
                    _ => Some(false),
                })
                .collect();
            let (spans, notes) = super::window::narrow(files, &gz, &json, w.range);
            warnings.extend(notes);
            spans
                .into_iter()
                .map(|s| s.map(|s| (s.start, s.end, s.inside)))
                .collect()
        }
        None => files.iter().map(|f| Some((0, f.size, false))).collect(),
    };
    let windowed = window.is_some();
    let mut units = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let (Some((gz, format)), Some((lo, hi, inside))) = (kinds[i], spans[i]) else {
            continue;
        };
        if single(f) {
            units.push(Unit {
                detect: true,
                ..Unit::whole(i, f.path.clone())
            });
            continue;
        }
        if gz {
            units.push(Unit {
                gz,
                windowed,
                inside,
                ..Unit::whole(i, f.path.clone())
            });
            continue;
        }
        if lo > 0 && window.is_some_and(|w| w.count_before) {
            split_range(
                f, i, 0, lo, format, threads, min_chunk, warnings, &mut units,
            );
            for u in units.iter_mut().filter(|u| u.file == i) {
                u.count_only = true;
            }
        }
        let first = units.len();
        split_range(
            f, i, lo, hi, format, threads, min_chunk, warnings, &mut units,
        );
        for u in &mut units[first..] {
            u.windowed = windowed;
            u.inside = inside;
        }
    }
    units
}

/// Cut `lo..hi` of plain file `f` at line starts into pieces of at least `min_chunk`, each an
/// eighth (for 2 threads; `1 / (4 × threads)`) of what is left: large pieces first, then ever
/// smaller ones down to `min_chunk` (a 4 GiB file: about 33 pieces, the last ones 16 MiB).
/// Units are taken in order, so the last ones to finish are short and both cores stay busy to
/// the end, while the pieces stay few (each is one sink whose result the caller merges).
#[allow(clippy::too_many_arguments)]
fn split_range(
    f: &LogFile,
    i: usize,
    lo: u64,
    hi: u64,
    format: Option<Format>,
    threads: usize,
    min_chunk: u64,
    warnings: &mut Vec<String>,
    units: &mut Vec<Unit>,
) {
    let unit = |start, end| Unit {
        start,
        end,
        format,
        ..Unit::whole(i, f.path.clone())
    };
    let mut start = lo;
    if threads > 1 && hi - lo >= 2 * min_chunk {
        loop {
            let left = hi - start;
            let piece = (left / (4 * threads as u64)).max(min_chunk);
            if left < piece + min_chunk {
                break; // the rest is the last piece
            }
            match super::reader::next_line_start(&f.path, start + piece, hi) {
                Ok(Some(cut)) if cut > start => {
                    units.push(unit(start, cut));
                    start = cut;
                }
                Ok(_) => break,
                Err(e) => {
                    warnings.push(e.to_string());
                    break;
                }
            }
        }
    }
    units.push(unit(start, hi));
}

/// `work(i)` for every `i < n` on the rayon pool, each result handed to `each(i, result)` on
/// the calling thread in index order as soon as it and every one before it are done.
///
/// Workers take indices in order from one counter (so results arrive nearly in order and the
/// last pieces of work are the last ones started: no core idles while another finishes a long
/// tail), and the caller merges or converts what is done while the rest is still being
/// worked on. The first error in index order (from `work` or `each`) stops the workers after
/// their current item and is returned.
pub fn ordered<T, W, E>(n: usize, work: W, mut each: E) -> Result<()>
where
    T: Send,
    W: Fn(usize) -> Result<T> + Sync,
    E: FnMut(usize, T) -> Result<()>,
{
    let workers = rayon::current_num_threads().min(n);
    // On a pool thread the caller would block a worker while waiting: collect instead.
    if workers <= 1 || rayon::current_thread_index().is_some() {
        let done: Vec<Result<T>> = if workers <= 1 {
            return (0..n).try_for_each(|i| each(i, work(i)?));
        } else {
            (0..n).into_par_iter().map(&work).collect()
        };
        return done
            .into_iter()
            .enumerate()
            .try_for_each(|(i, r)| each(i, r?));
    }
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<T>)>();
    rayon::in_place_scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, stop, work) = (&next, &stop, &work);
            scope.spawn(move |_| {
                while !stop.load(Relaxed) {
                    let i = next.fetch_add(1, Relaxed);
                    if i >= n || tx.send((i, work(i))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut pending: std::collections::BTreeMap<usize, Result<T>> = Default::default();
        let mut want = 0;
        let mut result = Ok(());
        // Ends when every worker has finished (all senders dropped).
        for (i, r) in rx.iter() {
            pending.insert(i, r);
            while let Some(r) = pending.remove(&want) {
                if result.is_ok() {
                    result = r.and_then(|t| each(want, t));
                    if result.is_err() {
                        stop.store(true, Relaxed);
                    }
                }
                want += 1;
            }
        }
        result
    })
}

/// Units handed over together are at least this many bytes…
const BATCH_BYTES: u64 = 1 << 20;
/// …or this many units (20 000 small files: a few hundred hand-overs, not one per file).
const BATCH_UNITS: usize = 64;

/// [`scan_unit`] of every unit (of `files`), each result handed to `each` on the calling
/// thread in unit order while later units are still being scanned (see [`ordered`]). Small
/// units go to a worker and back in batches of consecutive units.
pub fn scan_units_each<S, F, E>(
    units: &[Unit],
    files: &[LogFile],
    plan: &Plan,
    make: F,
    cancel: &Cancel,
    mut each: E,
) -> Result<()>
where
    S: Sink,
    F: Fn() -> S + Sync,
    E: FnMut(UnitOut<S>) -> Result<()>,
{
    let mut bounds = vec![0];
    let mut bytes = 0u64;
    for (i, u) in units.iter().enumerate() {
        let size = files.get(u.file).map_or(0, |f| f.size);
        bytes += u.end.min(size).saturating_sub(u.start);
        if bytes >= BATCH_BYTES || i + 1 - bounds[bounds.len() - 1] >= BATCH_UNITS {
            bounds.push(i + 1);
            bytes = 0;
        }
    }
    if bounds[bounds.len() - 1] != units.len() {
        bounds.push(units.len());
    }
    ordered(
        bounds.len() - 1,
        |b| {
            (bounds[b]..bounds[b + 1])
                .map(|i| scan_unit(&units[i], plan, make(), cancel))
                .collect::<Result<Vec<_>>>()
        },
        |_, outs| outs.into_iter().try_for_each(&mut each),
    )
}

/// Scan `units` on the rayon pool (in parallel when there are several), results in unit order.
pub fn run_units<S, F>(
    units: &[Unit],
    plan: &Plan,
    make: F,
    cancel: &Cancel,
) -> Result<Vec<UnitOut<S>>>
where
    S: Sink,
    F: Fn() -> S + Sync,
{
    if units.len() <= 1 {
        return units
            .iter()
            .map(|u| scan_unit(u, plan, make(), cancel))
            .collect();
    }
    units
        .par_iter()
        .map(|u| scan_unit(u, plan, make(), cancel))
        .collect()
}
