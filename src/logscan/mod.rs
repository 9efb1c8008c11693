//! The log scanning core behind `logs::`: search, count, tail, fingerprint top-N and latency
//! statistics over plain-text and JSON-lines logs, single files or rotated sets, plain or gzip.
//!
//! The pieces:
//! * [`reader`] — globs, rotated-set order, gzip detection and decoding, range reads;
//! * [`line`] — line terminators (`\n`, `\r\n`, bare `\r`), lossy text, the 64 KiB cut;
//! * [`matcher`] — literal (memchr `memmem`) and regex matching over whole buffers;
//! * [`filter`] — level, time window and field filters for JSON and plain text;
//! * [`scan`] — the streaming engine and its parallel driver;
//! * [`fingerprint`], [`stats`] — grouping keys and exact nearest-rank percentiles;
//! * [`cleanup`] — finding and deleting or compressing old files (run inside an effect).
//!
//! Semantics shared by every operation:
//! * A pattern is a literal unless `regex`; the empty pattern matches every line.
//! * In a file that looks like JSON lines (half of its first lines start with `{`), a line that
//!   is not one complete JSON object is not matched and is counted in `skipped`; blank lines
//!   are ignored. A line whose time cannot be read while `since`/`until` is set is also skipped.
//! * Results keep the order of the files (oldest first) and of the lines in them.

pub mod cleanup;
pub mod filter;
pub mod fingerprint;
pub mod line;
pub mod matcher;
pub mod reader;
pub mod scan;
pub mod stats;
pub mod window;

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;
use serde_json::Value;

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use filter::{BY, FieldPath, JsonNeeds, LevelFilter, MESSAGE, TimeRange, logfmt_field};
use line::{MAX_TEXT, cut, display_text, trim};
use matcher::{Matcher, build_regex};
pub use reader::{Expansion, LogFile, expand};
#[cfg(test)]
use scan::plan_units;
use scan::{Hit, Plan, Sink, Unit, run_units, scan_unit};

/// Default cap on returned matches / groups.
pub const DEFAULT_LIMIT: usize = 1000;
/// Distinct `top` keys kept per worker before the rest are counted under `(other)`.
pub const MAX_KEYS: usize = 100_000;
/// Longest `top` key or sample kept (bytes).
const MAX_KEY: usize = 4096;

/// What to look for (the options map of `logs::` functions, already validated).
#[derive(Debug, Clone)]
pub struct Query {
    /// Literal (or regex with `regex`); empty: every line.
    pub pattern: String,
    pub regex: bool,
    pub ignore_case: bool,
    /// Accepted levels (empty: any).
    pub levels: Vec<String>,
    /// Inclusive lower bound, Unix ms.
    pub since_ms: Option<i64>,
    /// Exclusive upper bound, Unix ms.
    pub until_ms: Option<i64>,
    /// Match the pattern against this JSON field (or logfmt key) instead of the line.
    pub field: Option<String>,
    /// Cap on returned items.
    pub limit: usize,
    /// Memory budget of the lines `search` keeps, in bytes (0: none). Each kept line is costed
    /// at [`RESULT_COST_FACTOR`] × its kept length + [`RESULT_COST_EACH`] (its text, its parsed
    /// JSON and the script value built from both); once the budget is spent, matches are still
    /// counted in `total` but no more are kept, `truncated` is true and a warning says why.
    pub max_result_bytes: u64,
}

/// Bytes a kept `search` line is assumed to cost per byte of its text (text, JSON value and the
/// script map built from them; measured at 5–7× on Winston lines, rounded up).
pub const RESULT_COST_FACTOR: u64 = 8;
/// Bytes a kept `search` line is assumed to cost besides its text.
pub const RESULT_COST_EACH: u64 = 512;

impl Default for Query {
    fn default() -> Self {
        Query {
            pattern: String::new(),
            regex: false,
            ignore_case: false,
            levels: Vec::new(),
            since_ms: None,
            until_ms: None,
            field: None,
            limit: DEFAULT_LIMIT,
            max_result_bytes: 0,
        }
    }
}

impl Query {
    /// A query for `pattern` with default options.
    pub fn new(pattern: &str) -> Query {
        Query {
            pattern: pattern.to_string(),
            ..Query::default()
        }
    }
}

/// Extra JSON keys an operation needs besides the filters.
#[derive(Default)]
struct Extra {
    message: bool,
    by: Option<FieldPath>,
}

fn build_plan(what: &str, q: &Query, extra: Extra) -> Result<Plan> {
    let pattern = Matcher::new(what, &q.pattern, q.regex, q.ignore_case)?;
    let level = (!q.levels.is_empty()).then(|| LevelFilter::new(&q.levels));
    let bad_level = |e: regex::Error| Error::Usage(format!("{what}: level {:?}: {e}", q.levels));
    let (level_re, numeric_re) = match &level {
        Some(l) => {
            // Only whether a line mentions a level matters here, so a spelling that contains
            // another (`error` ⊃ `err`) is dropped: fewer, shorter literals scan faster.
            let minimal: Vec<&String> = l
                .spellings
                .iter()
                .filter(|s| {
                    !l.spellings
                        .iter()
                        .any(|t| t != *s && s.contains(t.as_str()))
                })
                .collect();
            let alt = minimal
                .iter()
                .map(|s| regex::escape(s))
                .collect::<Vec<_>>()
                .join("|");
            let words = Matcher::Regex(build_regex(&alt, true).map_err(bad_level)?);
            let numeric = if l.numbers.is_empty() {
                None
            } else {
                let nums = l
                    .numbers
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join("|");
                let re = build_regex(&format!(r#""level":\s*(?:{nums})\b"#), false)
                    .map_err(bad_level)?;
                Some(Matcher::Regex(re))
            };
            (Some(words), numeric)
        }
        None => (None, None),
    };
    let field = q.field.as_deref().map(FieldPath::new);
    let (driver, field_pattern, driver_is_level) = if field.is_some() {
        // A field value that contains a literal has it verbatim on the line unless the writer
        // escaped something, which always leaves a backslash: that is the prefilter.
        let prefilter = if !q.regex && !q.pattern.is_empty() {
            let re = build_regex(
                &format!("{}|\\\\", regex::escape(&q.pattern)),
                q.ignore_case,
            )
            .map_err(|e| Error::Usage(format!("{what}: pattern {:?}: {e}", q.pattern)))?;
            Some(Matcher::Regex(re))
        } else {
            None
        };
        match (prefilter, level_re.clone()) {
            (Some(p), _) => (p, Some(pattern), false),
            (None, Some(l)) => (l, Some(pattern), true),
            (None, None) => (Matcher::All, Some(pattern), false),
        }
    } else if !pattern.is_all() {
        (pattern, None, false)
    } else {
        match level_re.clone() {
            Some(l) => (l, None, true),
            None => (Matcher::All, None, false),
        }
    };
    let time = (q.since_ms.is_some() || q.until_ms.is_some()).then_some(TimeRange {
        since_ms: q.since_ms,
        until_ms: q.until_ms,
    });
    let needs = JsonNeeds {
        level: level.is_some(),
        message: extra.message,
        time: time.is_some(),
        field: field.clone(),
        by: extra.by,
    };
    Ok(Plan {
        numeric_driver: if driver_is_level {
            numeric_re.clone()
        } else {
            None
        },
        numeric_level_quick: if driver_is_level { None } else { numeric_re },
        driver,
        field_pattern,
        field,
        level_quick: if driver_is_level { None } else { level_re },
        level,
        time,
        time_only: needs.time
            && !needs.level
            && !needs.message
            && needs.field.is_none()
            && needs.by.is_none(),
        needs,
        raw: false,
    })
}

fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

#[cfg(test)]
thread_local! {
    /// A smaller [`scan::MIN_CHUNK`] for queries made on this test thread (0: the real one), so
    /// tests split small files into many ranges.
    static TEST_MIN_CHUNK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The smallest range a plain file is split into.
fn min_chunk() -> u64 {
    #[cfg(test)]
    {
        let t = TEST_MIN_CHUNK.with(|c| c.get());
        if t > 0 {
            return t;
        }
    }
    scan::MIN_CHUNK
}

/// Plan and scan `exp`'s files for `plan`, handing each unit's result to `each` in unit order
/// (file order, then position) on the calling thread while later units are still scanned.
/// Narrowed to the time window when there is one (see [`window`]): then every unit is scanned
/// before the first is handed on, and when a windowed file's times turn out to be out of
/// order, every file is scanned again in full and a warning says so.
fn scan_files<S, F, E>(
    exp: &Expansion,
    plan: &Plan,
    make: F,
    warnings: &mut Vec<String>,
    cancel: &Cancel,
    each: E,
) -> Result<()>
where
    S: Sink,
    F: Fn() -> S + Sync,
    E: FnMut(scan::UnitOut<S>) -> Result<()>,
{
    if let Some(range) = plan.time {
        let window = scan::Window {
            range,
            count_before: make().line_numbers(),
        };
        let mut notes = Vec::new();
        let units =
            scan::plan_units_with(&exp.files, threads(), min_chunk(), Some(window), &mut notes);
        let outs = run_units(&units, plan, &make, cancel)?;
        let disordered: std::collections::BTreeSet<String> = outs
            .iter()
            .filter(|o| o.disorder)
            .map(|o| path_string(&exp.files[o.file].path))
            .collect();
        if disordered.is_empty() {
            warnings.extend(notes);
            return outs.into_iter().try_for_each(each);
        }
        warnings.push(format!(
            "{}: line times go back by more than {} ms, so the time window could not be found by \
             bisection; every file was read in full",
            disordered.into_iter().collect::<Vec<_>>().join(", "),
            window::SLACK_MS
        ));
    }
    let units = scan::plan_units_with(&exp.files, threads(), min_chunk(), None, warnings);
    scan::scan_units_each(&units, &exp.files, plan, make, cancel, each)
}

fn path_string(p: &Path) -> String {
    p.display().to_string()
}

/// The text shown for a kept line: `bytes` (its first [`MAX_TEXT`] + 4 bytes at most) of a
/// line `full_len` bytes long.
fn kept_text(bytes: &[u8], full_len: usize) -> String {
    display_text(&bytes[..bytes.len().min(MAX_TEXT)], full_len)
}

/// Whether the JSON object of a kept line is read from its text: a line of a JSON-lines file,
/// whole (not over [`MAX_TEXT`]) and valid UTF-8, so its text is the line as written (a line
/// with invalid UTF-8 is not valid JSON either).
fn json_in_text(bytes: &[u8], full_len: usize, json_file: bool) -> bool {
    json_file
        && full_len <= MAX_TEXT
        && bytes.len() == full_len
        && std::str::from_utf8(bytes).is_ok()
}

/// A line kept for output: its first [`MAX_TEXT`] bytes and its full length.
struct Kept {
    line_no: u64,
    bytes: Vec<u8>,
    full_len: usize,
}

impl Kept {
    fn fill(&mut self, hit: &Hit<'_, '_>) {
        self.line_no = hit.line_no;
        self.bytes.clear();
        self.bytes.extend_from_slice(cut(hit.line, MAX_TEXT + 4));
        self.full_len = hit.line.len();
    }
    fn text(&self) -> String {
        kept_text(&self.bytes, self.full_len)
    }
}

/// [`Sink::cut_line_rest`] of a sink that keeps lines: when the newest kept line is the cut
/// one (`pending`), its full length `newest_len` grows by the `rest` skipped after it.
fn add_cut_rest(pending: &mut bool, newest_len: Option<&mut usize>, rest: u64) {
    if std::mem::take(pending)
        && let Some(len) = newest_len
    {
        *len = len.saturating_add(rest as usize);
    }
}

/// Keeps the first or the last `limit` hits and counts all of them (`tail`).
struct KeepSink {
    limit: usize,
    last: bool,
    numbered: bool,
    kept: VecDeque<Kept>,
    total: u64,
    /// The newest kept line is the searched prefix of a longer line whose rest is pending.
    cut_pending: bool,
}

impl KeepSink {
    fn new(limit: usize, last: bool, numbered: bool) -> Self {
        KeepSink {
            limit,
            last,
            numbered,
            kept: VecDeque::new(),
            total: 0,
            cut_pending: false,
        }
    }
}

impl Sink for KeepSink {
    fn line_numbers(&self) -> bool {
        self.numbered
    }
    fn cut_line_rest(&mut self, rest: u64) {
        let newest = self.kept.back_mut().map(|k| &mut k.full_len);
        add_cut_rest(&mut self.cut_pending, newest, rest);
    }
    fn accept(&mut self, hit: Hit<'_, '_>) {
        self.total += 1;
        self.cut_pending = false;
        if self.limit == 0 {
            return;
        }
        self.cut_pending = hit.cut && (self.kept.len() < self.limit || self.last);
        if self.kept.len() < self.limit {
            let mut k = Kept {
                line_no: 0,
                bytes: Vec::new(),
                full_len: 0,
            };
            k.fill(&hit);
            self.kept.push_back(k);
        } else if self.last {
            // Reuse the oldest entry's allocation: no allocation per line once the ring is full.
            if let Some(mut k) = self.kept.pop_front() {
                k.fill(&hit);
                self.kept.push_back(k);
            }
        }
    }
}

/// Where one kept line of [`SearchSink`] is in its arena.
struct KeptAt {
    line_no: u64,
    start: usize,
    len: usize,
    full_len: usize,
}

/// A kept line in the form `search` returns it, built on the worker that scanned it.
struct Built {
    line_no: u64,
    text: String,
    json: bool,
}

/// `search`'s sink: keeps the first `limit` hits of its unit (their first [`MAX_TEXT`] + 4
/// bytes, all in one arena: no allocation per line) and counts all of them; when the unit is
/// done it builds the text and JSON of those the result can still take (see `finish`).
struct SearchSink {
    limit: usize,
    arena: Vec<u8>,
    kept: Vec<KeptAt>,
    json_file: bool,
    total: u64,
    /// Lines kept (`kept` is emptied by `finish`).
    kept_count: usize,
    /// The newest kept line is the searched prefix of a longer line whose rest is pending.
    cut_pending: bool,
    /// Shared memory budget of kept lines (bytes spent so far, limit); `None`: unbounded.
    budget: Option<(Arc<AtomicU64>, u64)>,
    /// A hit was not kept because the budget was spent.
    over_budget: bool,
    /// Matches the units before this one have returned so far (a lower bound while they are
    /// still being handed on): the units before can only take more, so building the first
    /// `limit - taken` kept lines always covers what this unit will be asked for.
    taken: Arc<AtomicUsize>,
    built: Vec<Built>,
}

impl Sink for SearchSink {
    fn line_numbers(&self) -> bool {
        true
    }
    fn cut_line_rest(&mut self, rest: u64) {
        let newest = self.kept.last_mut().map(|k| &mut k.full_len);
        add_cut_rest(&mut self.cut_pending, newest, rest);
    }
    fn accept(&mut self, hit: Hit<'_, '_>) {
        self.total += 1;
        self.cut_pending = false;
        if self.kept.len() >= self.limit || self.over_budget {
            return;
        }
        let bytes = cut(hit.line, MAX_TEXT + 4);
        if let Some((spent, max)) = &self.budget {
            let cost =
                RESULT_COST_EACH + RESULT_COST_FACTOR * hit.line.len().min(MAX_TEXT + 4) as u64;
            let before = spent.fetch_add(cost, Ordering::Relaxed);
            if before + cost > *max {
                self.over_budget = true;
                return;
            }
        }
        self.cut_pending = hit.cut;
        self.json_file = hit.json_file;
        self.kept.push(KeptAt {
            line_no: hit.line_no,
            start: self.arena.len(),
            len: bytes.len(),
            full_len: hit.line.len(),
        });
        self.arena.extend_from_slice(bytes);
    }
    fn finish(&mut self) {
        self.kept_count = self.kept.len();
        let n = self
            .limit
            .saturating_sub(self.taken.load(Ordering::Relaxed))
            .min(self.kept.len());
        let arena = std::mem::take(&mut self.arena);
        self.built = self.kept[..n]
            .iter()
            .map(|k| {
                let bytes = &arena[k.start..k.start + k.len];
                Built {
                    line_no: k.line_no,
                    text: kept_text(bytes, k.full_len),
                    json: json_in_text(bytes, k.full_len, self.json_file),
                }
            })
            .collect();
        self.kept = Vec::new();
    }
}

struct CountSink(u64);

impl Sink for CountSink {
    #[inline]
    fn accept(&mut self, _hit: Hit<'_, '_>) {
        self.0 += 1;
    }
}

/// One match of `search`.
#[derive(Debug, Clone, Serialize)]
pub struct Match {
    pub file: String,
    /// 1-based line number in its file.
    pub line: u64,
    /// The line without its terminator, lossy UTF-8, cut at 64 KiB with a marker.
    pub text: String,
    /// The parsed object for JSON lines (not for lines over 64 KiB), else null.
    pub json: Option<Value>,
}

/// Result of [`search`].
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub matches: Vec<Match>,
    pub total: u64,
    pub truncated: bool,
    pub skipped: u64,
    pub warnings: Vec<String>,
}

/// Result of [`count`].
#[derive(Debug, Clone, Serialize)]
pub struct CountResult {
    pub count: u64,
    pub skipped: u64,
    pub warnings: Vec<String>,
}

/// One match of [`search_each`]: `file` is the index of its file in the expansion.
#[derive(Debug, Clone)]
pub struct Found {
    pub file: usize,
    /// 1-based line number in its file.
    pub line: u64,
    /// The line without its terminator, lossy UTF-8, cut at 64 KiB with a marker.
    pub text: String,
    /// `text` is a whole line of a JSON-lines file (not over 64 KiB, valid UTF-8): its object
    /// is parsed from [`Found::json_text`] by the caller, straight into the value it needs
    /// (no intermediate tree built on one thread and converted on another).
    pub json: bool,
}

impl Found {
    /// The JSON text to parse for the line's object (`None`: not a JSON line). A parse that
    /// fails or gives something other than an object means "no object", as in [`Match`].
    pub fn json_text(&self) -> Option<&[u8]> {
        self.json.then(|| trim(self.text.as_bytes()))
    }
}

/// [`search`] without its matches (they went to the caller one by one).
#[derive(Debug, Clone)]
pub struct SearchSummary {
    /// Matches handed on.
    pub returned: usize,
    pub total: u64,
    pub truncated: bool,
    pub skipped: u64,
    pub warnings: Vec<String>,
}

/// The lines matching `q` in `exp`'s files: the first `q.limit` with file and line number, and
/// the total.
pub fn search(exp: &Expansion, q: &Query, cancel: &Cancel) -> Result<SearchResult> {
    let mut matches = Vec::new();
    let s = search_each(exp, q, cancel, |f| {
        let json = f
            .json_text()
            .and_then(|t| serde_json::from_slice::<Value>(t).ok())
            .filter(Value::is_object);
        matches.push(Match {
            file: path_string(&exp.files[f.file].path),
            line: f.line,
            text: f.text,
            json,
        })
    })?;
    Ok(SearchResult {
        matches,
        total: s.total,
        truncated: s.truncated,
        skipped: s.skipped,
        warnings: s.warnings,
    })
}

/// [`search`] handing each returned match to `each`, in order, on the calling thread as soon
/// as the units before it are done: the caller converts the first units' matches while the
/// later ones are still being scanned. The text and JSON of each match are built on the worker
/// that found it.
pub fn search_each(
    exp: &Expansion,
    q: &Query,
    cancel: &Cancel,
    mut each: impl FnMut(Found),
) -> Result<SearchSummary> {
    let plan = build_plan("logs::search", q, Extra::default())?;
    let mut warnings = exp.warnings.clone();
    let spent = Arc::new(AtomicU64::new(0));
    let taken = Arc::new(AtomicUsize::new(0));
    let make = || SearchSink {
        limit: q.limit,
        arena: Vec::new(),
        kept: Vec::new(),
        json_file: false,
        total: 0,
        kept_count: 0,
        cut_pending: false,
        budget: (q.max_result_bytes > 0).then(|| (spent.clone(), q.max_result_bytes)),
        over_budget: false,
        taken: taken.clone(),
        built: Vec::new(),
    };
    // Which kept lines are returned: the first `limit` in file order, stopping at the first
    // unit that ran out of budget, decided in order as the units are handed on.
    let mut base: HashMap<usize, u64> = HashMap::new();
    let (mut total, mut skipped, mut returned) = (0u64, 0u64, 0usize);
    let mut budget_cut = false;
    let mut unit_warnings = Vec::new();
    scan_files(exp, &plan, make, &mut warnings, cancel, |out| {
        let b = base.entry(out.file).or_insert(0);
        let take = if budget_cut {
            0
        } else {
            out.sink.kept_count.min(q.limit - returned)
        };
        debug_assert!(take <= out.sink.built.len());
        for m in out.sink.built.into_iter().take(take) {
            each(Found {
                file: out.file,
                line: *b + m.line_no,
                text: m.text,
                json: m.json,
            });
            returned += 1;
        }
        taken.store(returned, Ordering::Relaxed);
        budget_cut |= out.sink.over_budget;
        *b += out.lines;
        total += out.sink.total;
        skipped += out.skipped;
        unit_warnings.extend(out.warnings);
        Ok(())
    })?;
    warnings.extend(unit_warnings);
    if budget_cut {
        warnings.push(format!(
            "logs::search: stopped keeping matches after {returned} to stay within the memory \
             budget ({} MiB for results; policy.max_memory_mb); `total` still counts every \
             match — narrow the query or lower `limit`",
            q.max_result_bytes >> 20
        ));
    }
    Ok(SearchSummary {
        returned,
        total,
        truncated: total > returned as u64,
        skipped,
        warnings,
    })
}

/// The number of lines matching `q`.
pub fn count(exp: &Expansion, q: &Query, cancel: &Cancel) -> Result<CountResult> {
    let plan = build_plan("logs::count", q, Extra::default())?;
    let mut warnings = exp.warnings.clone();
    let (mut n, mut skipped, mut unit_warnings) = (0, 0, Vec::new());
    scan_files(
        exp,
        &plan,
        || CountSink(0),
        &mut warnings,
        cancel,
        |out| {
            n += out.sink.0;
            skipped += out.skipped;
            unit_warnings.extend(out.warnings);
            Ok(())
        },
    )?;
    warnings.extend(unit_warnings);
    Ok(CountResult {
        count: n,
        skipped,
        warnings,
    })
}

/// Result of [`tail`].
#[derive(Debug, Clone, Serialize)]
pub struct TailResult {
    pub lines: Vec<String>,
    pub skipped: u64,
    pub warnings: Vec<String>,
}

/// The last `n` lines of the rotated set (oldest of them first), reading files newest first and
/// plain files backwards in growing windows, so a tail of a huge file reads only its end.
/// With `q`, only lines matching it count (`q.limit` is ignored; `n` is the cap); without,
/// every line is returned as it is (no JSON checks).
pub fn tail(exp: &Expansion, n: usize, q: Option<&Query>, cancel: &Cancel) -> Result<TailResult> {
    let plan = match q {
        Some(q) => build_plan("logs::tail", q, Extra::default())?,
        None => Plan {
            driver: Matcher::All,
            field_pattern: None,
            field: None,
            level: None,
            level_quick: None,
            numeric_driver: None,
            numeric_level_quick: None,
            time: None,
            needs: JsonNeeds::default(),
            raw: true,
            time_only: false,
        },
    };
    let mut out = TailResult {
        lines: Vec::new(),
        skipped: 0,
        warnings: exp.warnings.clone(),
    };
    let mut got: VecDeque<String> = VecDeque::new();
    for (fi, f) in exp.files.iter().enumerate().rev() {
        if got.len() >= n {
            break;
        }
        cancel.check()?;
        let gz = match reader::is_gzip(&f.path) {
            Ok(g) => g,
            Err(e) => {
                out.warnings.push(e.to_string());
                continue;
            }
        };
        let mut unit = Unit {
            gz,
            ..Unit::whole(fi, f.path.clone())
        };
        if gz {
            tail_window(&plan, &unit, n - got.len(), &mut got, &mut out, cancel)?;
            continue;
        }
        unit.format = Some(reader::sniff(&reader::read_at(&f.path, 0, 64 * 1024)?));
        let mut end = f.size;
        let mut win: u64 = 256 * 1024;
        while got.len() < n && end > 0 {
            let start0 = end.saturating_sub(win);
            let start = if start0 == 0 {
                0
            } else {
                match reader::next_line_start(&f.path, start0, end)? {
                    Some(s) => s,
                    None => {
                        win = win.saturating_mul(2);
                        continue;
                    }
                }
            };
            unit.start = start;
            unit.end = end;
            tail_window(&plan, &unit, n - got.len(), &mut got, &mut out, cancel)?;
            end = start;
            win = (win * 2).min(64 << 20);
        }
    }
    out.lines = got.into_iter().collect();
    Ok(out)
}

/// Scan one window of a tail and put its last `need` lines in front of those found so far.
fn tail_window(
    plan: &Plan,
    unit: &Unit,
    need: usize,
    got: &mut VecDeque<String>,
    out: &mut TailResult,
    cancel: &Cancel,
) -> Result<()> {
    let res = scan_unit(unit, plan, KeepSink::new(need, true, false), cancel)?;
    for k in res.sink.kept.iter().rev() {
        got.push_front(k.text());
    }
    out.skipped += res.skipped;
    out.warnings.extend(res.warnings);
    Ok(())
}

/// How `top` groups lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopBy {
    /// The message with variable parts masked (see [`fingerprint`]).
    Fingerprint,
    /// The message as it is.
    Message,
    /// The value of a JSON field (or logfmt key).
    Field(String),
}

impl TopBy {
    /// Parse the `by` option: `"fingerprint"`, `"message"` or a field name.
    pub fn parse(by: &str) -> TopBy {
        match by {
            "fingerprint" | "" => TopBy::Fingerprint,
            "message" => TopBy::Message,
            other => TopBy::Field(other.to_string()),
        }
    }
}

/// One group of [`top`].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopEntry {
    pub key: String,
    pub count: u64,
    /// The first message of the group, as written.
    pub sample: String,
}

/// Result of [`top`].
#[derive(Debug, Clone, Serialize)]
pub struct TopResult {
    pub entries: Vec<TopEntry>,
    /// Lines that matched (and were grouped).
    pub total: u64,
    /// Matched lines that had no value to group by (`by` a field they lack).
    pub without_key: u64,
    pub skipped: u64,
    pub warnings: Vec<String>,
}

struct TopSink {
    by: TopBy,
    field: Option<String>,
    map: HashMap<Box<str>, (u64, Box<str>)>,
    scratch: String,
    key: String,
    other: u64,
    total: u64,
    without_key: u64,
}

fn cut_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Sink for TopSink {
    fn accept(&mut self, hit: Hit<'_, '_>) {
        self.total += 1;
        let TopSink {
            by,
            field,
            map,
            scratch,
            key,
            ..
        } = self;
        let lossy;
        let source: &str = match by {
            TopBy::Field(_) => match hit.view {
                Some(v) => match v.get(BY).and_then(|x| x.as_text(scratch)) {
                    Some(s) => s,
                    None => {
                        self.without_key += 1;
                        return;
                    }
                },
                None => match logfmt_field(hit.line, field.as_deref().unwrap_or("")) {
                    Some(b) => {
                        lossy = String::from_utf8_lossy(b);
                        &lossy
                    }
                    None => {
                        self.without_key += 1;
                        return;
                    }
                },
            },
            _ => match hit
                .view
                .and_then(|v| v.get(MESSAGE))
                .and_then(|x| x.as_text(scratch))
            {
                Some(s) => s,
                None => {
                    lossy = String::from_utf8_lossy(cut(hit.line, MAX_KEY * 4));
                    &lossy
                }
            },
        };
        let k: &str = match by {
            TopBy::Fingerprint => {
                fingerprint::fingerprint(source, key);
                cut_str(key, MAX_KEY)
            }
            _ => cut_str(source, MAX_KEY),
        };
        if let Some(e) = map.get_mut(k) {
            e.0 += 1;
        } else if map.len() < MAX_KEYS {
            let sample = cut_str(source, MAX_KEY);
            map.insert(k.into(), (1, sample.into()));
        } else {
            self.other += 1;
        }
    }
}

/// Group the lines matching `q` by fingerprint, message or field and return the `q.limit`
/// largest groups (count descending, then key).
pub fn top(exp: &Expansion, q: &Query, by: &TopBy, cancel: &Cancel) -> Result<TopResult> {
    let extra = match by {
        TopBy::Field(f) => Extra {
            message: false,
            by: Some(FieldPath::new(f)),
        },
        _ => Extra {
            message: true,
            by: None,
        },
    };
    let plan = build_plan("logs::top", q, extra)?;
    let mut warnings = exp.warnings.clone();
    let field = match by {
        TopBy::Field(f) => Some(f.clone()),
        _ => None,
    };
    let make = || TopSink {
        by: by.clone(),
        field: field.clone(),
        map: HashMap::new(),
        scratch: String::new(),
        key: String::new(),
        other: 0,
        total: 0,
        without_key: 0,
    };
    let mut merged: HashMap<Box<str>, (u64, Box<str>)> = HashMap::new();
    let (mut total, mut other, mut without_key, mut skipped) = (0, 0, 0, 0);
    let mut unit_warnings = Vec::new();
    // Each unit's groups are merged as it is handed on, while later units are still scanned.
    scan_files(exp, &plan, make, &mut warnings, cancel, |out| {
        for (k, (c, sample)) in out.sink.map {
            if let Some(e) = merged.get_mut(&k) {
                e.0 += c;
            } else if merged.len() < MAX_KEYS {
                merged.insert(k, (c, sample));
            } else {
                other += c;
            }
        }
        total += out.sink.total;
        other += out.sink.other;
        without_key += out.sink.without_key;
        skipped += out.skipped;
        unit_warnings.extend(out.warnings);
        Ok(())
    })?;
    warnings.extend(unit_warnings);
    let mut entries: Vec<TopEntry> = merged
        .into_iter()
        .map(|(k, (c, s))| TopEntry {
            key: k.into_string(),
            count: c,
            sample: s.into_string(),
        })
        .collect();
    if other > 0 {
        warnings.push(format!(
            "more than {MAX_KEYS} distinct keys: {other} lines were counted under \"(other)\""
        ));
        entries.push(TopEntry {
            key: "(other)".into(),
            count: other,
            sample: String::new(),
        });
    }
    entries.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    entries.truncate(q.limit);
    Ok(TopResult {
        entries,
        total,
        without_key,
        skipped,
        warnings,
    })
}

/// Result of [`stats`].
#[derive(Debug, Clone, Serialize)]
pub struct StatsResult {
    #[serde(flatten)]
    pub summary: stats::Summary,
    /// Matched lines where `extract` found no number.
    pub unmatched: u64,
    pub skipped: u64,
    pub warnings: Vec<String>,
}

struct StatsSink {
    extract: regex::bytes::Regex,
    locs: regex::bytes::CaptureLocations,
    group: usize,
    field: Option<String>,
    hist: stats::Histogram,
    unmatched: u64,
    scratch: String,
}

fn extract_number(
    re: &regex::bytes::Regex,
    locs: &mut regex::bytes::CaptureLocations,
    group: usize,
    text: &[u8],
) -> Option<f64> {
    re.captures_read(locs, text)?;
    let (s, e) = locs.get(group)?;
    std::str::from_utf8(&text[s..e])
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
}

impl Sink for StatsSink {
    fn accept(&mut self, hit: Hit<'_, '_>) {
        let StatsSink {
            extract,
            locs,
            group,
            field,
            scratch,
            ..
        } = self;
        let value = match field {
            None => extract_number(extract, locs, *group, hit.line),
            Some(name) => match hit.view {
                Some(v) => v
                    .get(filter::FIELD)
                    .and_then(|x| x.as_text(scratch))
                    .and_then(|s| extract_number(extract, locs, *group, s.as_bytes())),
                None => logfmt_field(hit.line, name)
                    .and_then(|b| extract_number(extract, locs, *group, b)),
            },
        };
        match value {
            Some(v) if self.hist.add(v) => {}
            _ => self.unmatched += 1,
        }
    }

    /// A finished unit waits for its turn to be merged: count its values now and free its batch.
    fn finish(&mut self) {
        self.hist.flush();
    }
}

/// count/min/max/avg and exact nearest-rank p50/p95/p99 of the number that regex `extract`
/// captures (group 1, or the whole match without groups) on each line matching `q` (on the
/// `field` value when `q.field` is set).
pub fn stats(exp: &Expansion, q: &Query, extract: &str, cancel: &Cancel) -> Result<StatsResult> {
    let plan = build_plan("logs::stats", q, Extra::default())?;
    let re = build_regex(extract, false).map_err(|e| {
        Error::Usage(format!(
            "logs::stats: invalid extract regex {extract:?}: {e}"
        ))
    })?;
    let group = if re.captures_len() > 1 { 1 } else { 0 };
    let mut warnings = exp.warnings.clone();
    let make = || StatsSink {
        locs: re.capture_locations(),
        extract: re.clone(),
        group,
        field: q.field.clone(),
        hist: stats::Histogram::default(),
        unmatched: 0,
        scratch: String::new(),
    };
    let mut hist = stats::Histogram::default();
    let (mut unmatched, mut skipped, mut unit_warnings) = (0, 0, Vec::new());
    scan_files(exp, &plan, make, &mut warnings, cancel, |out| {
        hist.merge(out.sink.hist);
        unmatched += out.sink.unmatched;
        skipped += out.skipped;
        unit_warnings.extend(out.warnings);
        Ok(())
    })?;
    warnings.extend(unit_warnings);
    Ok(StatsResult {
        summary: hist.summary(),
        unmatched,
        skipped,
        warnings,
    })
}

/// One file of [`files`].
#[derive(Debug, Clone, Serialize)]
pub struct FileInfo {
    pub path: String,
    pub size: u64,
    /// RFC 3339 UTC.
    pub modified: String,
}

/// The files of `exp` in reading order with size and modification time.
pub fn files(exp: &Expansion) -> Vec<FileInfo> {
    exp.files
        .iter()
        .map(|f| FileInfo {
            path: path_string(&f.path),
            size: f.size,
            modified: crate::timefmt::system_time(f.modified),
        })
        .collect()
}

#[cfg(test)]
mod tests;
