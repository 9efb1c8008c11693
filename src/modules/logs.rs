//! `logs::` — search and aggregate log files: plain text and JSON lines (Winston, pino), single
//! files or globs over rotated sets (`logs/combined*.log*`, read oldest first), gzip included.
//!
//! Thin adapters over [`crate::logscan`]: options are validated here, every file a path or glob
//! stands for is checked against the policy's read roots (a denial is audited and thrown), and
//! `cleanup` runs its deletions/compressions inside [`Ctx::effect`] (audited, planned only under
//! `--dry-run`). Damage found while reading (truncated gzip, over-long lines, unreadable files)
//! never stops a scan: it is returned in `warnings` where the result is a map, and always
//! written to stderr as `runbook: warning: …`.
//!
//! Options map keys shared by `search`, `count`, `top`, `stats` and `tail`:
//! `regex` (bool, default false: the pattern is a literal), `ignore_case` (bool), `level`
//! (string or array of strings: JSON `level` field or the `[LEVEL]` / ` LEVEL ` token of plain
//! text; `warn`/`warning` and `err`/`error` are the same), `since` / `until` (RFC 3339
//! timestamp, or a duration back from now such as `"24h"`, or an int of seconds back from now;
//! `until` is a Rhai keyword, so write that key quoted: `#{"until": "2026-11-29T00:00:00Z"}`),
//! `limit` (int, default 1000), `field` (match the pattern against this JSON field — dots
//! descend, `req.url` — or logfmt key `field=value` of plain text, instead of the whole line).

use std::path::Path;
use std::time::{Duration, SystemTime};

use rhai::plugin::*;
use rhai::{Array, Dynamic, Map};
use serde_json::json;

use crate::ctx::Ctx;
use crate::effects::Need;
use crate::error::{Error, Result};
use crate::logscan::{self, Expansion, Query, TopBy};
use crate::modules::{IntOrText, Strings};
use serde::Deserialize;

/// Largest `limit` / `n` accepted.
pub const MAX_LIMIT: u64 = 1_000_000;
/// Warnings written to stderr per call before they are summarised.
const MAX_PRINTED_WARNINGS: usize = 20;

#[export_module]
pub mod logs_module {
    use super::*;
    use crate::error::RhaiResult;

    /// Lines of the log file or glob `path` that contain `pattern` (a literal; empty matches
    /// every line) → `#{matches: [#{file, line, text, json}], total, truncated, skipped, warnings}`.
    ///
    /// Same as `search(path, pattern, #{})`; see that form for the keys.
    ///
    /// Throws when the path is missing (a glob matching nothing is not an error), outside the
    /// policy's read roots (`denied`), or the scan is interrupted (`interrupted` / `limit`).
    ///
    /// Example:
    /// ```rhai
    /// let r = logs::search("logs/combined*.log*", "boom");
    /// print(r.total);
    /// ```
    #[rhai_fn(name = "search", return_raw)]
    pub fn search2(ncc: NativeCallContext, path: &str, pattern: &str) -> RhaiResult<Map> {
        search3(ncc, path, pattern, Map::new())
    }

    /// Lines of `path` (a file or a glob such as `logs/combined*.log*`; rotated sets oldest
    /// first, `.gz` read transparently) matching `pattern` under `opts`.
    ///
    /// Options (shared by `count`, `top`, `stats`, `tail`): `regex` (bool, default false: the
    /// pattern is a literal; regexes anchor `^`/`$` at line ends, before a `\r`),
    /// `ignore_case` (bool), `level` (string or array: JSON `level` field or the `[LEVEL]` /
    /// ` LEVEL ` token of plain text; `warn`/`warning`, `err`/`error` alike; pino numbers too),
    /// `since` / `until` (RFC 3339 timestamp, a duration back from now like `"24h"`, or an int
    /// of seconds back from now; JSON `timestamp`/`time` or the first timestamp of a plain line;
    /// `until` is a Rhai keyword: quote it, `#{"until": …}`), `limit` (int, default 1000, at
    /// most 1 000 000), `field` (match the pattern against this JSON field — dots descend,
    /// `req.url` — or logfmt `key=value` of plain text, instead of the whole line).
    ///
    /// Returns `#{matches, total, truncated, skipped, warnings}`:
    /// `matches` — the first `limit` (default 1000) matching lines, oldest first, each
    /// `#{file, line, text, json}` (`line` 1-based in its file; `text` without the line end,
    /// invalid UTF-8 shown as U+FFFD, cut at 64 KiB with a `…[truncated: line is N bytes]`
    /// marker; `json` the parsed object for JSON lines, else `()`); `total` — all matching
    /// lines; `truncated` — `total` exceeds the matches returned (by `limit`, or because the
    /// matches kept would outgrow half of what `policy.max_memory_mb` has left: then a warning
    /// says so and `total` still counts them all); `skipped` — lines of JSON-lines
    /// files that are not a complete object (half-written, a fragment after rotation) or whose
    /// time could not be read while `since`/`until` is set; `warnings` — damage met (strings).
    ///
    /// Throws when an option is unknown or ill-typed (`usage`), the regex is invalid (`usage`),
    /// the path is missing, a file is outside the policy's read roots (`denied`), or the scan
    /// is interrupted (Ctrl-C: `interrupted`; run timeout: `limit`).
    ///
    /// Example:
    /// ```rhai
    /// let r = logs::search("logs/error*.log*", "", #{ level: "error", since: "24h", limit: 20 });
    /// for m in r.matches { print(m.text); }
    /// ```
    #[rhai_fn(name = "search", return_raw)]
    pub fn search3(
        ncc: NativeCallContext,
        path: &str,
        pattern: &str,
        opts: Map,
    ) -> RhaiResult<Map> {
        crate::modules::host(&ncc, |c| {
            let (mut q, _) = query("logs::search", Some(pattern), opts, &[])?;
            q.max_result_bytes = result_budget(c);
            let exp = expand_checked(c, "logs.search", path)?;
            // Each match becomes its script value as soon as the units before it are done,
            // while the later ones are still being scanned (the path of each file made once).
            let files: Vec<rhai::ImmutableString> = exp
                .files
                .iter()
                .map(|f| f.path.display().to_string().into())
                .collect();
            let mut matches = Array::new();
            let r = logscan::search_each(&exp, &q, &c.cancel, |m| {
                matches.push(found_to_dynamic(m, &files));
            })?;
            print_warnings("logs::search", &r.warnings);
            let mut out = Map::new();
            out.insert("matches".into(), Dynamic::from_array(matches));
            out.insert("total".into(), int(r.total).into());
            out.insert("truncated".into(), r.truncated.into());
            out.insert("skipped".into(), int(r.skipped).into());
            out.insert("warnings".into(), Dynamic::from_array(strings(r.warnings)));
            Ok(out)
        })
    }

    /// Number of lines of `path` containing the literal `pattern` (empty: every line).
    ///
    /// Throws when the path is missing, outside the policy's read roots (`denied`), or the scan
    /// is interrupted.
    ///
    /// Example:
    /// ```rhai
    /// print(logs::count("logs/combined*.log*", "up"));
    /// ```
    #[rhai_fn(name = "count", return_raw)]
    pub fn count2(ncc: NativeCallContext, path: &str, pattern: &str) -> RhaiResult<i64> {
        count3(ncc, path, pattern, Map::new())
    }

    /// Number of lines of `path` (file or glob, rotated and `.gz` included) matching `pattern`
    /// under `opts` (`regex`, `ignore_case`, `level`, `since`, `until`, `field`). Lines of
    /// JSON-lines files that are not a complete object are not counted. Damage met is written
    /// to stderr as warnings.
    ///
    /// Throws when an option is unknown or ill-typed, the regex is invalid, the path is
    /// missing, a file is outside the policy's read roots (`denied`), or the scan is interrupted.
    ///
    /// Example:
    /// ```rhai
    /// print(logs::count("logs/combined*.log*", "timeout|refused", #{ regex: true, ignore_case: true }));
    /// ```
    #[rhai_fn(name = "count", return_raw)]
    pub fn count3(ncc: NativeCallContext, path: &str, pattern: &str, opts: Map) -> RhaiResult<i64> {
        crate::modules::host(&ncc, |c| {
            let (q, _) = query("logs::count", Some(pattern), opts, &[])?;
            let exp = expand_checked(c, "logs.count", path)?;
            let r = logscan::count(&exp, &q, &c.cancel)?;
            print_warnings("logs::count", &r.warnings);
            Ok(int(r.count))
        })
    }

    /// The last `n` lines of `path` (file or glob; across a rotated set, oldest of them first),
    /// as they are in the file: without the line end, invalid UTF-8 as U+FFFD, cut at 64 KiB.
    /// Reads only the end of large files.
    ///
    /// Throws when `n` is negative or above 1 000 000, the path is missing, a file is outside
    /// the policy's read roots (`denied`), or the read is interrupted.
    ///
    /// Example:
    /// ```rhai
    /// for line in logs::tail("logs/combined.log", 5) { print(line); }
    /// ```
    #[rhai_fn(name = "tail", return_raw)]
    pub fn tail2(ncc: NativeCallContext, path: &str, n: i64) -> RhaiResult<Array> {
        crate::modules::host(&ncc, |c| {
            let n = count_arg("logs::tail", "n", n)?;
            let exp = expand_checked(c, "logs.tail", path)?;
            let r = logscan::tail(&exp, n, None, &c.cancel)?;
            print_warnings("logs::tail", &r.warnings);
            Ok(strings(r.lines))
        })
    }

    /// The last `n` lines of `path` that match `opts`: `pattern` (string, default every line)
    /// plus the shared filters (`regex`, `ignore_case`, `level`, `since`, `until`, `field`),
    /// oldest of them first — e.g. the last 20 errors: `tail(log, 20, #{level: "error"})`.
    ///
    /// Throws when `n` is negative or above 1 000 000, an option is unknown or ill-typed, the
    /// path is missing, a file is outside the policy's read roots (`denied`), or interrupted.
    ///
    /// Example:
    /// ```rhai
    /// print(logs::tail("logs/error*.log*", 20, #{ level: "error" }));
    /// ```
    #[rhai_fn(name = "tail", return_raw)]
    pub fn tail3(ncc: NativeCallContext, path: &str, n: i64, opts: Map) -> RhaiResult<Array> {
        crate::modules::host(&ncc, |c| {
            let n = count_arg("logs::tail", "n", n)?;
            let (q, _) = query("logs::tail", None, opts, &["pattern"])?;
            let exp = expand_checked(c, "logs.tail", path)?;
            let r = logscan::tail(&exp, n, Some(&q), &c.cancel)?;
            print_warnings("logs::tail", &r.warnings);
            Ok(strings(r.lines))
        })
    }

    /// The most frequent kinds of lines of `path` matching `pattern`, grouped by fingerprint
    /// (see the `top(path, pattern, opts)` form).
    ///
    /// Throws when the path is missing, outside the policy's read roots (`denied`), or the scan
    /// is interrupted.
    ///
    /// Example:
    /// ```rhai
    /// for g in logs::top("logs/error*.log*", "") { print(`${g.count}× ${g.key}`); }
    /// ```
    #[rhai_fn(name = "top", return_raw)]
    pub fn top2(ncc: NativeCallContext, path: &str, pattern: &str) -> RhaiResult<Array> {
        top3(ncc, path, pattern, Map::new())
    }

    /// The largest groups of lines of `path` matching `pattern` under `opts` → array of
    /// `#{key, count, sample}`, largest first (ties by key), at most `limit` (default 1000).
    ///
    /// `opts.by` chooses the key: `"fingerprint"` (default: the message — JSON `message`/`msg`,
    /// or the whole plain line — with numbers, ids, hex, UUIDs, IPs, timestamps and quoted values
    /// masked, so `请求失败 GET /api/pages/4048: JWT expired` and `…/17: JWT expired` are one
    /// group), `"message"` (the message as it is), or any other name: that JSON field (dots
    /// descend) or logfmt key; lines without it are not counted. `sample` is the first message
    /// of the group as written. Shared filters apply (`level`, `since`, …).
    ///
    /// Throws when an option is unknown or ill-typed, the regex is invalid, the path is missing,
    /// a file is outside the policy's read roots (`denied`), or the scan is interrupted.
    ///
    /// Example:
    /// ```rhai
    /// print(logs::top("logs/combined*.log*", "", #{ by: "level", limit: 5 }));
    /// ```
    #[rhai_fn(name = "top", return_raw)]
    pub fn top3(ncc: NativeCallContext, path: &str, pattern: &str, opts: Map) -> RhaiResult<Array> {
        crate::modules::host(&ncc, |c| {
            let (q, extra) = query("logs::top", Some(pattern), opts, &["by"])?;
            let by = TopBy::parse(extra.by.as_deref().unwrap_or("fingerprint"));
            let exp = expand_checked(c, "logs.top", path)?;
            let r = logscan::top(&exp, &q, &by, &c.cancel)?;
            print_warnings("logs::top", &r.warnings);
            array(&r.entries)
        })
    }

    /// Statistics of the number captured by regex `extract` on the lines of `path` matching
    /// `pattern` (see the `stats(path, pattern, extract, opts)` form).
    ///
    /// Throws when `extract` is not a valid regex, the path is missing, outside the policy's
    /// read roots (`denied`), or the scan is interrupted.
    ///
    /// Example:
    /// ```rhai
    /// let s = logs::stats("logs/combined*.log*", "", "(\\d+)ms");
    /// print(s.p95);
    /// ```
    #[rhai_fn(name = "stats", return_raw)]
    pub fn stats3(
        ncc: NativeCallContext,
        path: &str,
        pattern: &str,
        extract: &str,
    ) -> RhaiResult<Map> {
        stats4(ncc, path, pattern, extract, Map::new())
    }

    /// count/min/max/avg and p50/p95/p99 of the number that regex `extract` captures (its first
    /// group, or the whole match without groups; e.g. `"(\\d+)ms"`) on each line of `path`
    /// matching `pattern` under `opts` (on the `field` value when `opts.field` is set) →
    /// `#{count, min, max, avg, p50, p95, p99, unmatched, skipped, warnings}`.
    ///
    /// Percentiles are exact, by the nearest-rank method (pN is the smallest value with at least
    /// N % of the values ≤ it). Units are those of the captured number (ms for `(\\d+)ms`).
    /// All figures are 0 when `count` is 0. `unmatched`: matching lines where `extract` found no
    /// number; `skipped` and `warnings` as in `search`.
    ///
    /// Throws when an option is unknown or ill-typed, `pattern` or `extract` is an invalid
    /// regex, the path is missing, a file is outside the policy's read roots (`denied`), or
    /// the scan is interrupted.
    ///
    /// Example:
    /// ```rhai
    /// let s = logs::stats("logs/combined*.log*", "", "(\\d+)", #{ field: "duration" });
    /// print(s.count);
    /// ```
    #[rhai_fn(name = "stats", return_raw)]
    pub fn stats4(
        ncc: NativeCallContext,
        path: &str,
        pattern: &str,
        extract: &str,
        opts: Map,
    ) -> RhaiResult<Map> {
        crate::modules::host(&ncc, |c| {
            let (q, _) = query("logs::stats", Some(pattern), opts, &[])?;
            let exp = expand_checked(c, "logs.stats", path)?;
            let r = logscan::stats(&exp, &q, extract, &c.cancel)?;
            print_warnings("logs::stats", &r.warnings);
            #[derive(serde::Serialize)]
            struct Out<'a> {
                count: u64,
                min: f64,
                max: f64,
                avg: f64,
                p50: f64,
                p95: f64,
                p99: f64,
                unmatched: u64,
                skipped: u64,
                warnings: &'a [String],
            }
            let s = r.summary;
            map(&Out {
                count: s.count,
                min: s.min,
                max: s.max,
                avg: s.avg,
                p50: s.p50,
                p95: s.p95,
                p99: s.p99,
                unmatched: r.unmatched,
                skipped: r.skipped,
                warnings: &r.warnings,
            })
        })
    }

    /// The files `path` stands for, in reading order (rotated sets oldest first) → array of
    /// `#{path, size, modified}` (`size` bytes, `modified` RFC 3339 UTC).
    ///
    /// Throws when a plain path is missing (a glob matching nothing gives `[]`), or a file is
    /// outside the policy's read roots (`denied`).
    ///
    /// Example:
    /// ```rhai
    /// for f in logs::files("logs/*.log*") { print(`${f.path} ${f.size}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn files(ncc: NativeCallContext, path: &str) -> RhaiResult<Array> {
        crate::modules::host(&ncc, |c| {
            let exp = expand_checked(c, "logs.files", path)?;
            array(&logscan::files(&exp))
        })
    }

    /// Delete — or with `compress: true` gzip-compress — the files directly in folder `dir` whose
    /// name matches `opts.pattern` (a glob on the name, e.g. `"*.log.*"`) and that were last
    /// modified more than `opts.older_than` ago (a duration such as `"30d"`, or an int of
    /// seconds) — and, with `opts.younger_than`, at most that long ago (so a compress pass
    /// `#{older_than: "2d", younger_than: "30d"}` leaves the files a `"30d"` delete pass takes
    /// to it, also under `--dry-run`). Effect `logs.cleanup`: checked against the policy's write roots, audited, and
    /// under `--dry-run` only planned. Symbolic links and folders are never touched; with
    /// `compress`, files already ending in `.gz` are left out; compression writes `NAME.gz`
    /// (modification time kept) and removes `NAME` only once the copy is complete and synced;
    /// a file that changes meanwhile (still being written) is left alone.
    ///
    /// Returns `#{removed, compressed, bytes_freed, files, failed, dry_run}`: counts, bytes
    /// freed, the paths acted on (under `--dry-run`: the paths that would be, with counts 0 and
    /// `dry_run: true`), and `failed` — `#{path, error}` for files that could not be cleaned.
    ///
    /// Throws when `pattern` or `older_than` is missing or invalid (`usage`), `dir` is not a
    /// readable folder, outside the policy's roots (`denied`), or the run is interrupted.
    ///
    /// Example:
    /// ```rhai
    /// let r = logs::cleanup("logs", #{ pattern: "*.log.*", older_than: "30d", compress: true });
    /// print(r.files);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cleanup(ncc: NativeCallContext, dir: &str, opts: Map) -> RhaiResult<Map> {
        crate::modules::host(&ncc, |c| super::cleanup_effect(c, dir, opts))
    }
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn strings(v: Vec<String>) -> Array {
    v.into_iter().map(Dynamic::from).collect()
}

/// `#{file, line, text, json}` of one match, built directly (not through serde's conversion of
/// a result struct: this runs once per match on the script's thread). `json` is parsed from
/// the text straight into a script value (the values `json::parse` gives), `()` when the line
/// is not a JSON object.
fn found_to_dynamic(m: logscan::Found, files: &[rhai::ImmutableString]) -> Dynamic {
    let json = m
        .json_text()
        .and_then(|t| serde_json::from_slice::<Dynamic>(t).ok())
        .filter(Dynamic::is_map)
        .unwrap_or(Dynamic::UNIT);
    let mut map = Map::new();
    map.insert("file".into(), files[m.file].clone().into());
    map.insert("line".into(), int(m.line).into());
    map.insert("text".into(), m.text.into());
    map.insert("json".into(), json);
    Dynamic::from_map(map)
}

fn count_arg(func: &str, name: &str, n: i64) -> Result<usize> {
    if n < 0 || n as u64 > MAX_LIMIT {
        return Err(Error::Usage(format!(
            "{func}: {name} must be between 0 and {MAX_LIMIT}, got {n}"
        )));
    }
    Ok(n as usize)
}

/// Write damage found during a scan to stderr (diagnostics channel), at most 20 lines per call.
fn print_warnings(func: &str, warnings: &[String]) {
    for w in warnings.iter().take(MAX_PRINTED_WARNINGS) {
        eprintln!("runbook: warning: {func}: {w}");
    }
    if warnings.len() > MAX_PRINTED_WARNINGS {
        eprintln!(
            "runbook: warning: {func}: … and {} more",
            warnings.len() - MAX_PRINTED_WARNINGS
        );
    }
}

/// A point in time from a `since`/`until` option: a timestamp, a duration back from now, or an
/// int of seconds back from now. Unix milliseconds.
fn time_opt(v: Option<IntOrText>, func: &str, key: &str) -> Result<Option<i64>> {
    match v {
        None => Ok(None),
        Some(IntOrText::Int(secs)) if secs < 0 => Err(Error::Usage(format!(
            "{func}: option {key:?} must be ≥ 0 seconds, got {secs}"
        ))),
        Some(IntOrText::Int(secs)) => Ok(Some(
            chrono::Utc::now()
                .timestamp_millis()
                .saturating_sub(secs.saturating_mul(1000)),
        )),
        Some(IntOrText::Text(s)) => {
            let t = crate::timefmt::parse_since(&s)
                .map_err(|e| Error::Usage(format!("{func}: option {key:?}: {e}")))?;
            Ok(Some(t.timestamp_millis()))
        }
    }
}

/// A script value from a serialisable result (a struct becomes a map).
fn dynamic<T: serde::Serialize>(v: &T) -> Result<Dynamic> {
    crate::modules::to_dynamic(v).map_err(|e| Error::failed(format!("logs: result: {e}")))
}

fn map<T: serde::Serialize>(v: &T) -> Result<Map> {
    Ok(dynamic(v)?.cast::<Map>())
}

fn array<T: serde::Serialize>(v: &[T]) -> Result<Array> {
    Ok(dynamic(&v)?.cast::<Array>())
}

/// Bytes `search` may keep for its matches: half of what the policy's memory budget
/// (`policy.max_memory_mb`) has left now, so the script values built from them fit too
/// (0: no budget set).
fn result_budget(c: &Ctx) -> u64 {
    let max = c.config.policy.max_memory_mb.saturating_mul(1 << 20);
    if max == 0 {
        return 0;
    }
    (max.saturating_sub(crate::alloc::allocated()) / 2).max(1 << 20)
}

/// The options `search`, `count`, `stats`, `top` and `tail` share.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryOpts {
    regex: Option<bool>,
    ignore_case: Option<bool>,
    level: Option<Strings>,
    since: Option<IntOrText>,
    until: Option<IntOrText>,
    limit: Option<u64>,
    field: Option<String>,
}

/// Keys one function adds to [`QueryOpts`]: `top`'s `by`, `tail`'s `pattern`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtraOpts {
    by: Option<String>,
    pattern: Option<String>,
}

/// Validate an options map into a [`Query`] for `pattern` (`None`: the `pattern` option, default
/// every line); `extra` are the function's own keys, returned parsed.
fn query(
    func: &str,
    pattern: Option<&str>,
    opts: Map,
    extra: &[&str],
) -> Result<(Query, ExtraOpts)> {
    let (o, rest): (QueryOpts, Map) = crate::modules::options_with(func, opts, extra)?;
    let x: ExtraOpts = crate::modules::options(func, rest)?;
    let limit = o.limit.unwrap_or(logscan::DEFAULT_LIMIT as u64);
    if limit > MAX_LIMIT {
        return Err(Error::Usage(format!(
            "{func}: option \"limit\" must be ≤ {MAX_LIMIT}, got {limit}"
        )));
    }
    let q = Query {
        pattern: pattern
            .map(str::to_string)
            .or_else(|| x.pattern.clone())
            .unwrap_or_default(),
        regex: o.regex.unwrap_or(false),
        ignore_case: o.ignore_case.unwrap_or(false),
        levels: o.level.map(Strings::into_vec).unwrap_or_default(),
        since_ms: time_opt(o.since, func, "since")?,
        until_ms: time_opt(o.until, func, "until")?,
        field: o.field.filter(|f| !f.is_empty()),
        limit: limit as usize,
        max_result_bytes: 0,
    };
    Ok((q, x))
}

/// Expand `path` after checking that the policy allows reading the folder a glob lists, then
/// check every file found (each denial is audited and thrown).
fn expand_checked(c: &Ctx, action: &str, path: &str) -> Result<Expansion> {
    match logscan::reader::glob_base(path) {
        Some(base) => {
            c.allow_read(action, &base)?;
        }
        None => {
            c.allow_read(action, Path::new(path))?;
        }
    }
    let exp = logscan::expand(path)?;
    // The policy is checked once per folder: a regular file listed in a folder whose real
    // path is allowed is allowed (its real path is that folder's plus its name). Anything
    // else — a symbolic link, a folder not allowed — gets the full check (audited on denial).
    let mut folders: std::collections::HashMap<&Path, bool> = std::collections::HashMap::new();
    for f in &exp.files {
        let folder_ok = f.plain_entry
            && match f.path.parent() {
                Some(dir) => *folders
                    .entry(dir)
                    .or_insert_with(|| c.config.check_read(dir).is_ok()),
                None => false,
            };
        if !folder_ok {
            c.allow_read(action, &f.path)?;
        }
    }
    Ok(exp)
}

/// The options of `logs::cleanup`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CleanupOpts {
    pattern: Option<String>,
    older_than: Option<IntOrText>,
    younger_than: Option<IntOrText>,
    compress: Option<bool>,
}

/// A `logs::cleanup` age option (`"30d"` or an int of seconds), `None` when not given.
fn age_opt(v: Option<IntOrText>, key: &str) -> Result<Option<Duration>> {
    let secs = match v {
        None => return Ok(None),
        Some(IntOrText::Int(i)) if i >= 0 => i as u64,
        Some(IntOrText::Int(i)) => {
            return Err(Error::Usage(format!(
                "logs::cleanup: option \"{key}\" must be ≥ 0, got {i}"
            )));
        }
        Some(IntOrText::Text(s)) => crate::timefmt::parse_duration_s(&s)
            .map_err(|e| Error::Usage(format!("logs::cleanup: option \"{key}\": {e}")))?,
    };
    Ok(Some(Duration::from_secs(secs)))
}

/// The option keys of this module's functions, for [`crate::modules::option_keys`]: the query
/// options, plus `tail`'s `pattern` and `top`'s `by` (the `extra` keys passed to [`query`]).
pub(crate) fn option_keys() -> Vec<(&'static str, Vec<&'static str>)> {
    use crate::modules::fields_of;
    let q = fields_of::<QueryOpts>();
    let with = |extra: &'static str| q.iter().copied().chain([extra]).collect::<Vec<_>>();
    vec![
        ("logs::search", q.to_vec()),
        ("logs::count", q.to_vec()),
        ("logs::stats", q.to_vec()),
        ("logs::tail", with("pattern")),
        ("logs::top", with("by")),
        ("logs::cleanup", fields_of::<CleanupOpts>().to_vec()),
    ]
}

fn cleanup_effect(c: &Ctx, dir: &str, opts: Map) -> Result<Map> {
    let o: CleanupOpts = crate::modules::options("logs::cleanup", opts)?;
    let pattern = o.pattern.filter(|p| !p.is_empty()).ok_or_else(|| {
        Error::Usage("logs::cleanup: option \"pattern\" is required (e.g. \"*.log.*\")".into())
    })?;
    let age = age_opt(o.older_than, "older_than")?.ok_or_else(|| {
        Error::Usage("logs::cleanup: option \"older_than\" is required (e.g. \"30d\")".into())
    })?;
    let compress = o.compress.unwrap_or(false);
    let dir_path = Path::new(dir);
    c.allow_read("logs.cleanup", dir_path)?;
    let younger = age_opt(o.younger_than, "younger_than")?;
    let now = SystemTime::now();
    let mut items = logscan::cleanup::plan(dir_path, &pattern, age, compress, now)?;
    if let Some(y) = younger {
        // files modified at most `younger_than` ago: keeps a compress pass clear of the files a
        // delete pass with that age takes (under --dry-run both would otherwise list them)
        let since = now.checked_sub(y).unwrap_or(SystemTime::UNIX_EPOCH);
        items.retain(|i| i.modified >= since);
    }
    let listed: Vec<String> = items.iter().map(|i| i.path.display().to_string()).collect();
    if items.is_empty() {
        return map(&CleanupOut {
            dry_run: c.dry_run,
            ..Default::default()
        });
    }
    let mut needs = vec![Need::Write(dir_path.to_path_buf())];
    needs.extend(items.iter().map(|i| Need::Write(i.path.clone())));
    let args = json!({
        "pattern": pattern,
        "older_than_s": age.as_secs(),
        "compress": compress,
        "files": listed.len(),
        // the audit record names the files (the first 200; `files` counts them all)
        "paths": listed.iter().take(200).collect::<Vec<_>>(),
        "bytes": items.iter().map(|i| i.size).sum::<u64>(),
    });
    let done = c.effect("logs.cleanup", dir, args, &needs, false, || {
        logscan::cleanup::apply(&items, &c.cancel)
    })?;
    match done {
        None => map(&CleanupOut {
            files: listed,
            dry_run: true,
            ..Default::default()
        }),
        Some(r) => {
            for f in &r.failed {
                eprintln!("runbook: warning: logs::cleanup: {}: {}", f.path, f.error);
            }
            map(&CleanupOut {
                removed: r.removed,
                compressed: r.compressed,
                bytes_freed: r.bytes_freed,
                files: r.files,
                failed: r.failed,
                dry_run: false,
            })
        }
    }
}

/// What `logs::cleanup` returns.
#[derive(Debug, Default, serde::Serialize)]
struct CleanupOut {
    removed: u64,
    compressed: u64,
    bytes_freed: u64,
    files: Vec<String>,
    failed: Vec<logscan::cleanup::CleanupFailure>,
    dry_run: bool,
}
