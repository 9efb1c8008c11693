//! Line filters: level, time range and field, on JSON lines and on plain text.
//!
//! * JSON lines are read with a streaming visitor that keeps only the wanted keys (borrowed,
//!   no allocation unless a string has escapes) and skips every other value unparsed.
//! * Plain text: the level is the first `[LEVEL]`, ` LEVEL `, `LEVEL:` or `level=LEVEL` token,
//!   the time is the first RFC 3339 timestamp (`T` or space between date and time), and a
//!   field is a logfmt pair `name=value` / `name="quoted value"`.
//! * Timestamps without a zone are read as local time (what Winston's `format` option and most
//!   loggers write); numbers are Unix epoch seconds, or milliseconds when above 10^11.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use chrono::{Local, NaiveDate, TimeZone};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A JSON value kept from a line: borrowed string when possible.
#[derive(Debug, Clone, PartialEq)]
pub enum JVal<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Null,
    /// An object or array (kept whole).
    Json(Value),
}

impl<'a> JVal<'a> {
    /// The value as text for matching: strings as they are, numbers and booleans in their JSON
    /// form, objects/arrays serialized; `None` for null. Non-string forms are written to `scratch`.
    pub fn as_text<'s>(&'s self, scratch: &'s mut String) -> Option<&'s str> {
        scratch.clear();
        match self {
            JVal::Str(s) => return Some(s),
            JVal::Int(i) => write!(scratch, "{i}").ok()?,
            JVal::UInt(u) => write!(scratch, "{u}").ok()?,
            JVal::Float(f) => write!(scratch, "{f}").ok()?,
            JVal::Bool(b) => scratch.push_str(if *b { "true" } else { "false" }),
            JVal::Null => return None,
            JVal::Json(v) => scratch.push_str(&v.to_string()),
        }
        Some(scratch.as_str())
    }

    /// The value as a number, when it is one (or a string holding one).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            JVal::Int(i) => Some(*i as f64),
            JVal::UInt(u) => Some(*u as f64),
            JVal::Float(f) => Some(*f),
            JVal::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn from_value(v: Value) -> JVal<'static> {
        match v {
            Value::String(s) => JVal::Str(Cow::Owned(s)),
            Value::Bool(b) => JVal::Bool(b),
            Value::Null => JVal::Null,
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    JVal::Int(i)
                } else if let Some(u) = n.as_u64() {
                    JVal::UInt(u)
                } else {
                    JVal::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            other => JVal::Json(other),
        }
    }
}

impl<'de> de::Deserialize<'de> for JVal<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JValVisitor)
    }
}

struct JValVisitor;

impl<'de> Visitor<'de> for JValVisitor {
    type Value = JVal<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(JVal::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(JVal::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(JVal::Str(Cow::Owned(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(JVal::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(JVal::UInt(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(JVal::Float(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(JVal::Bool(v))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(JVal::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(JVal::Null)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let v: Value = de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(JVal::Json(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let v: Value = de::Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(JVal::Json(v))
    }
}

/// Slots of a [`JsonView`].
pub const LEVEL: usize = 0;
pub const MESSAGE: usize = 1;
pub const TIME: usize = 2;
pub const FIELD: usize = 3;
pub const BY: usize = 4;
const SLOTS: usize = 5;

/// Keys read for the level, the message and the time, in order of preference.
const LEVEL_KEYS: &[&str] = &["level", "levelname", "severity"];
const MESSAGE_KEYS: &[&str] = &["message", "msg"];
const TIME_KEYS: &[&str] = &["timestamp", "time", "@timestamp", "ts"];

/// A field path such as `status` or `req.url` (dots descend into objects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    pub name: String,
    head: String,
    rest: Vec<String>,
}

impl FieldPath {
    /// Parse `name`; a name that exists verbatim with dots is not supported (dots always descend).
    pub fn new(name: &str) -> FieldPath {
        let mut parts = name.split('.').map(str::to_string);
        let head = parts.next().unwrap_or_default();
        FieldPath {
            name: name.to_string(),
            head,
            rest: parts.collect(),
        }
    }
}

/// Which JSON keys a scan needs from each line.
#[derive(Debug, Clone, Default)]
pub struct JsonNeeds {
    pub level: bool,
    pub message: bool,
    pub time: bool,
    pub field: Option<FieldPath>,
    pub by: Option<FieldPath>,
}

impl JsonNeeds {
    /// Whether any key is needed (otherwise JSON lines are not parsed at all).
    pub fn any(&self) -> bool {
        self.level || self.message || self.time || self.field.is_some() || self.by.is_some()
    }
}

/// The wanted values of one JSON line.
#[derive(Debug, Default)]
pub struct JsonView<'a> {
    slots: [Option<JVal<'a>>; SLOTS],
    /// Preference rank of the key that filled each slot (lower wins).
    rank: [u8; SLOTS],
}

impl<'a> JsonView<'a> {
    /// The value in `slot` ([`LEVEL`], [`MESSAGE`], [`TIME`], [`FIELD`], [`BY`]).
    pub fn get(&self, slot: usize) -> Option<&JVal<'a>> {
        self.slots[slot].as_ref()
    }

    fn offer(&mut self, slot: usize, rank: u8, v: JVal<'a>) {
        if self.slots[slot].is_none() || rank < self.rank[slot] {
            self.slots[slot] = Some(v);
            self.rank[slot] = rank;
        }
    }
}

fn key_rank(keys: &[&str], key: &str) -> Option<u8> {
    keys.iter().position(|k| *k == key).map(|p| p as u8)
}

struct ViewSeed<'n> {
    needs: &'n JsonNeeds,
}

impl<'de> DeserializeSeed<'de> for ViewSeed<'_> {
    type Value = JsonView<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ViewSeed<'_> {
    type Value = JsonView<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let n = self.needs;
        let mut view = JsonView::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let key: &str = &key;
            let field_hit = n.field.as_ref().is_some_and(|f| f.head == key);
            let by_hit = n.by.as_ref().is_some_and(|f| f.head == key);
            let level_rank = if n.level {
                key_rank(LEVEL_KEYS, key)
            } else {
                None
            };
            let msg_rank = if n.message {
                key_rank(MESSAGE_KEYS, key)
            } else {
                None
            };
            let time_rank = if n.time {
                key_rank(TIME_KEYS, key)
            } else {
                None
            };
            if !(field_hit
                || by_hit
                || level_rank.is_some()
                || msg_rank.is_some()
                || time_rank.is_some())
            {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let v: JVal<'de> = map.next_value()?;
            if let Some(r) = level_rank {
                view.offer(LEVEL, r, v.clone());
            }
            if let Some(r) = msg_rank {
                view.offer(MESSAGE, r, v.clone());
            }
            if let Some(r) = time_rank {
                view.offer(TIME, r, v.clone());
            }
            for (hit, slot, path) in [(field_hit, FIELD, &n.field), (by_hit, BY, &n.by)] {
                if let (true, Some(path)) = (hit, path)
                    && let Some(found) = descend(&v, &path.rest)
                {
                    view.offer(slot, 0, found);
                }
            }
        }
        Ok(view)
    }
}

fn descend<'a>(v: &JVal<'a>, rest: &[String]) -> Option<JVal<'a>> {
    if rest.is_empty() {
        return Some(v.clone());
    }
    let JVal::Json(obj) = v else { return None };
    let mut cur = obj;
    for part in rest {
        cur = cur.get(part.as_str())?;
    }
    Some(JVal::from_value(cur.clone()))
}

/// Read the wanted keys of one JSON object line. Errors when the line is not exactly one
/// JSON object (half-written lines, fragments, trailing garbage).
pub fn parse_view<'a>(
    line: &'a [u8],
    needs: &JsonNeeds,
) -> Result<JsonView<'a>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(line);
    let view = ViewSeed { needs }.deserialize(&mut de)?;
    de.end()?;
    Ok(view)
}

/// Canonical spelling of a level name (`warning` → `warn`, `err` → `error`, pino/bunyan numbers).
pub fn canonical_level(name: &str) -> Cow<'_, str> {
    let lower: Cow<str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    };
    match &*lower {
        "warning" => Cow::Borrowed("warn"),
        "err" | "eror" => Cow::Borrowed("error"),
        "crit" => Cow::Borrowed("critical"),
        "emergency" => Cow::Borrowed("emerg"),
        "information" | "informational" => Cow::Borrowed("info"),
        "dbg" => Cow::Borrowed("debug"),
        _ => lower,
    }
}

/// Known level words (canonical or alias) that may appear as a plain-text level token.
const LEVEL_WORDS: &[&str] = &[
    "error",
    "err",
    "warn",
    "warning",
    "info",
    "information",
    "debug",
    "dbg",
    "trace",
    "fatal",
    "critical",
    "crit",
    "notice",
    "verbose",
    "silly",
    "http",
    "emerg",
    "emergency",
    "alert",
    "panic",
    "severe",
];

fn numeric_level(n: f64) -> Option<&'static str> {
    // pino / bunyan numeric levels.
    Some(match n as i64 {
        10 => "trace",
        20 => "debug",
        30 => "info",
        40 => "warn",
        50 => "error",
        60 => "fatal",
        _ => return None,
    })
}

/// The `level` option: one or more level names, compared case-insensitively with aliases.
#[derive(Debug, Clone)]
pub struct LevelFilter {
    wanted: Vec<String>,
    /// Every spelling of every wanted level, for the cheap "line mentions it" prefilter.
    pub spellings: Vec<String>,
    /// The pino / bunyan numbers of the wanted levels (`50` for error).
    pub numbers: Vec<u32>,
}

impl LevelFilter {
    /// A filter accepting any of `levels`.
    pub fn new(levels: &[String]) -> LevelFilter {
        let wanted: Vec<String> = levels
            .iter()
            .map(|l| canonical_level(l.trim()).into_owned())
            .collect();
        let mut spellings: Vec<String> = Vec::new();
        let mut numbers = Vec::new();
        for w in &wanted {
            spellings.push(w.clone());
            for alias in LEVEL_WORDS {
                if canonical_level(alias) == w.as_str() && !spellings.iter().any(|s| s == alias) {
                    spellings.push(alias.to_string());
                }
            }
            for (n, name) in [
                (10, "trace"),
                (20, "debug"),
                (30, "info"),
                (40, "warn"),
                (50, "error"),
                (60, "fatal"),
            ] {
                if name == w {
                    numbers.push(n);
                }
            }
        }
        LevelFilter {
            wanted,
            spellings,
            numbers,
        }
    }

    /// Whether the level value of a JSON line is wanted.
    pub fn matches_json(&self, v: Option<&JVal<'_>>) -> bool {
        match v {
            Some(JVal::Str(s)) => self.accepts(s),
            Some(other) => other
                .as_f64()
                .and_then(numeric_level)
                .is_some_and(|l| self.accepts(l)),
            None => false,
        }
    }

    /// Whether the level token of a plain-text line is wanted.
    pub fn matches_plain(&self, line: &[u8]) -> bool {
        plain_level(line).is_some_and(|l| self.accepts(l))
    }

    fn accepts(&self, level: &str) -> bool {
        let c = canonical_level(level);
        self.wanted.iter().any(|w| *w == c)
    }
}

/// The level token of a plain-text line: the first known level word within its first 512 bytes
/// that stands as `[WORD]`, ` WORD `, `WORD:`, `.WORD:` or `level=WORD`.
pub fn plain_level(line: &[u8]) -> Option<&str> {
    let head = &line[..line.len().min(512)];
    let mut i = 0;
    while i < head.len() {
        if !head[i].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let start = i;
        while i < head.len() && head[i].is_ascii_alphabetic() {
            i += 1;
        }
        let before = if start == 0 { b' ' } else { head[start - 1] };
        let after = if i == head.len() { b' ' } else { head[i] };
        let left_ok = matches!(
            before,
            b' ' | b'\t' | b'[' | b'.' | b'|' | b'=' | b'(' | b'<'
        );
        let right_ok = matches!(
            after,
            b' ' | b'\t' | b']' | b':' | b'|' | b',' | b')' | b'>'
        );
        if left_ok && right_ok {
            let word = std::str::from_utf8(&head[start..i]).unwrap_or("");
            if let Some(w) = LEVEL_WORDS.iter().find(|w| w.eq_ignore_ascii_case(word)) {
                if before == b'=' {
                    // Only `level=` / `lvl=` / `severity=` introduce a level in logfmt.
                    let key_end = start - 1;
                    let key_start = head[..key_end]
                        .iter()
                        .rposition(|b| !b.is_ascii_alphabetic())
                        .map_or(0, |p| p + 1);
                    let key = &head[key_start..key_end];
                    if !(key.eq_ignore_ascii_case(b"level")
                        || key.eq_ignore_ascii_case(b"lvl")
                        || key.eq_ignore_ascii_case(b"severity"))
                    {
                        continue;
                    }
                }
                return Some(w);
            }
        }
    }
    None
}

/// A `since`/`until` window in Unix milliseconds (`since` inclusive, `until` exclusive).
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeRange {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

impl TimeRange {
    /// Whether `ms` lies in the window.
    pub fn contains(&self, ms: i64) -> bool {
        self.since_ms.is_none_or(|s| ms >= s) && self.until_ms.is_none_or(|u| ms < u)
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &d| {
        acc.checked_mul(10)?.checked_add((d - b'0') as u32)
    })
}

/// Parse a timestamp at the start of `s`: `YYYY-MM-DD[T ]HH:MM[:SS[.frac]][Z|±HH[:]MM]`, or a
/// date alone (midnight). No zone: local time. Returns Unix milliseconds and the bytes used.
pub fn parse_timestamp_prefix(s: &[u8]) -> Option<(i64, usize)> {
    if s.len() < 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (digits(&s[0..4])?, digits(&s[5..7])?, digits(&s[8..10])?);
    let date = NaiveDate::from_ymd_opt(y as i32, mo, d)?;
    let mut i = 10;
    let (mut h, mut mi, mut sec, mut nanos) = (0, 0, 0, 0u32);
    if s.len() >= i + 6 && matches!(s[i], b'T' | b't' | b' ') && s[i + 3] == b':' {
        h = digits(&s[i + 1..i + 3])?;
        mi = digits(&s[i + 4..i + 6])?;
        i += 6;
        if s.len() >= i + 3 && s[i] == b':' {
            sec = digits(&s[i + 1..i + 3])?;
            i += 3;
            if s.len() > i + 1 && (s[i] == b'.' || s[i] == b',') && s[i + 1].is_ascii_digit() {
                let start = i + 1;
                let mut end = start;
                while end < s.len() && s[end].is_ascii_digit() {
                    end += 1;
                }
                let frac = &s[start..end.min(start + 9)];
                nanos = digits(frac)? * 10u32.pow(9 - frac.len() as u32);
                i = end;
            }
        }
    } else if s.len() > i && s[i].is_ascii_digit() {
        return None;
    }
    let naive = date.and_hms_nano_opt(h, mi, sec.min(59), nanos)?;
    // Zone.
    let offset_s: Option<i64> = match s.get(i) {
        Some(b'Z') | Some(b'z') => {
            i += 1;
            Some(0)
        }
        Some(&c @ (b'+' | b'-'))
            if s.len() >= i + 3 && s[i + 1].is_ascii_digit() && s[i + 2].is_ascii_digit() =>
        {
            let oh = digits(&s[i + 1..i + 3])? as i64;
            let mut j = i + 3;
            if s.get(j) == Some(&b':') {
                j += 1;
            }
            let om = if s.len() >= j + 2 {
                digits(&s[j..j + 2]).map(|m| m as i64)
            } else {
                None
            };
            let om = match om {
                Some(m) => {
                    j += 2;
                    m
                }
                None => {
                    j = i + 3;
                    0
                }
            };
            i = j;
            let sign = if c == b'-' { -1 } else { 1 };
            Some(sign * (oh * 3600 + om * 60))
        }
        _ => None,
    };
    let ms = match offset_s {
        Some(off) => naive.and_utc().timestamp_millis() - off * 1000,
        None => Local
            .from_local_datetime(&naive)
            .earliest()?
            .timestamp_millis(),
    };
    Some((ms, i))
}

/// Parse a whole timestamp string (RFC 3339, the space variant, or a date).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    match parse_timestamp_prefix(s.as_bytes()) {
        Some((ms, used)) if used == s.len() => Some(ms),
        _ => None,
    }
}

/// The time of a JSON line's timestamp value (string or epoch number).
pub fn json_time_ms(v: &JVal<'_>) -> Option<i64> {
    match v {
        JVal::Str(s) => parse_timestamp(s),
        other => {
            let n = other.as_f64()?;
            if !n.is_finite() {
                return None;
            }
            Some(if n.abs() > 1e11 {
                n as i64
            } else {
                (n * 1000.0) as i64
            })
        }
    }
}

/// The first timestamp on a plain-text line (within its first 512 bytes).
pub fn plain_time_ms(line: &[u8]) -> Option<i64> {
    let head = &line[..line.len().min(512)];
    let mut from = 0;
    while let Some(p) = memchr::memchr(b'-', &head[from..]) {
        let dash = from + p;
        from = dash + 1;
        if dash < 4 {
            continue;
        }
        let start = dash - 4;
        if start > 0 && head[start - 1].is_ascii_digit() {
            continue;
        }
        if let Some((ms, _)) = parse_timestamp_prefix(&head[start..]) {
            return Some(ms);
        }
    }
    None
}

/// The value of logfmt field `name` on a plain-text line (`name=value` or `name="value"`).
pub fn logfmt_field<'a>(line: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let key = name.as_bytes();
    let finder = memchr::memmem::Finder::new(key);
    let mut from = 0;
    while let Some(p) = finder.find(&line[from..]) {
        let at = from + p;
        from = at + 1;
        let left_ok = at == 0 || matches!(line[at - 1], b' ' | b'\t' | b',' | b'{' | b'[');
        let eq = at + key.len();
        if !left_ok || line.get(eq) != Some(&b'=') {
            continue;
        }
        let v = eq + 1;
        if line.get(v) == Some(&b'"') {
            let mut end = v + 1;
            while end < line.len() && line[end] != b'"' {
                if line[end] == b'\\' {
                    end += 1;
                }
                end += 1;
            }
            return Some(&line[v + 1..end.min(line.len())]);
        }
        let end = line[v..]
            .iter()
            .position(|b| matches!(b, b' ' | b'\t' | b','))
            .map_or(line.len(), |e| v + e);
        return Some(&line[v..end]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn view_reads_only_wanted_keys_borrowed() {
        let needs = JsonNeeds {
            level: true,
            message: true,
            time: true,
            field: Some(FieldPath::new("req.url")),
            by: None,
        };
        let line = br#"{"level":"error","message":"boom","meta":{"x":[1,2]},"req":{"url":"/a"},"timestamp":"2026-11-29T09:00:00.123Z"}"#;
        let v = parse_view(line, &needs).unwrap();
        assert!(matches!(
            v.get(LEVEL),
            Some(JVal::Str(Cow::Borrowed("error")))
        ));
        assert!(matches!(
            v.get(MESSAGE),
            Some(JVal::Str(Cow::Borrowed("boom")))
        ));
        assert_eq!(v.get(FIELD), Some(&JVal::Str("/a".into())));
        assert_eq!(
            json_time_ms(v.get(TIME).unwrap()),
            Some(ms("2026-11-29T09:00:00.123Z"))
        );
        // Half-written line, fragment, trailing garbage.
        assert!(parse_view(br#"{"level":"error","mess"#, &needs).is_err());
        assert!(parse_view(br#"age":"x"}"#, &needs).is_err());
        assert!(parse_view(br#"{"a":1} x"#, &needs).is_err());
        // msg preferred after message.
        let v = parse_view(br#"{"msg":"b","message":"a","level":30}"#, &needs).unwrap();
        assert_eq!(v.get(MESSAGE), Some(&JVal::Str("a".into())));
        assert!(LevelFilter::new(&["info".into()]).matches_json(v.get(LEVEL)));
    }

    #[test]
    fn levels_plain_and_json() {
        let f = LevelFilter::new(&["WARNING".into()]);
        assert!(f.matches_json(Some(&JVal::Str("warn".into()))));
        assert!(f.matches_plain(b"2026-11-29 10:00:00 [WARN] disk"));
        assert!(f.matches_plain(b"WARNING: disk"));
        assert!(!f.matches_plain(b"2026-11-29 10:00:00 INFO a warn here"));
        assert!(LevelFilter::new(&["error".into()]).matches_plain(b"ts=1 level=error msg=x"));
        assert!(!LevelFilter::new(&["info".into()]).matches_plain(b"GET /api/info 200"));
        assert!(!LevelFilter::new(&["error".into()]).matches_plain(b"code=error msg=x"));
        assert!(f.spellings.contains(&"warning".to_string()) && f.numbers == [40]);
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            parse_timestamp("2026-11-29T09:00:00Z"),
            Some(ms("2026-11-29T09:00:00Z"))
        );
        assert_eq!(
            parse_timestamp("2026-11-29T09:00:00.5+02:00"),
            Some(ms("2026-11-29T07:00:00.5Z"))
        );
        assert_eq!(
            parse_timestamp("2026-11-29 09:00:00+0000"),
            Some(ms("2026-11-29T09:00:00Z"))
        );
        assert_eq!(
            parse_timestamp("2026-11-29T09:00Z"),
            Some(ms("2026-11-29T09:00:00Z"))
        );
        assert!(parse_timestamp("2026-11-29").is_some());
        assert!(parse_timestamp("2026-13-29T09:00:00Z").is_none());
        assert!(parse_timestamp("yesterday").is_none());
        assert_eq!(
            plain_time_ms(b"[app] 2026-11-29T09:00:00Z ERROR x"),
            Some(ms("2026-11-29T09:00:00Z"))
        );
        assert_eq!(plain_time_ms(b"id 12026-11-29T09:00:00Z"), None);
        assert_eq!(
            json_time_ms(&JVal::Int(1_700_000_000_000)),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            json_time_ms(&JVal::Float(1_700_000_000.5)),
            Some(1_700_000_000_500)
        );
    }

    #[test]
    fn logfmt() {
        assert_eq!(
            logfmt_field(b"a=1 status=500 b=2", "status"),
            Some(&b"500"[..])
        );
        assert_eq!(logfmt_field(b"msg=\"a b\" x=1", "msg"), Some(&b"a b"[..]));
        assert_eq!(logfmt_field(b"xstatus=1", "status"), None);
    }
}
