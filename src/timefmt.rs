//! Timestamps and durations as scripts, logs and the config write them: the one place that
//! parses a duration ([`parse_duration_s`], through `humantime`) and formats RFC 3339
//! ([`rfc3339`]; [`rfc3339_exact`] where sub-millisecond precision must survive a round trip).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::error::{Error, Result};

/// Parse a timestamp: RFC 3339 (`2026-11-29T09:00:00.123Z`, any offset), `YYYY-MM-DD HH:MM:SS[.fff]`
/// (taken as UTC), or a date `YYYY-MM-DD` (midnight UTC).
///
/// Errors: anything else, with the text quoted.
pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>> {
    let t = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(n.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if let Some(n) = d.and_hms_opt(0, 0, 0) {
            return Ok(n.and_utc());
        }
    }
    Err(Error::Usage(format!(
        "{s:?} is not a timestamp (expected RFC 3339, e.g. 2026-11-29T09:00:00Z)"
    )))
}

/// A point in time given either as a timestamp or as a duration back from now (`"24h"`, `"7d"`).
pub fn parse_since(s: &str) -> Result<DateTime<Utc>> {
    if let Ok(secs) = parse_duration_s(s) {
        return Ok(Utc::now() - chrono::Duration::seconds(secs.min(i64::MAX as u64 / 2) as i64));
    }
    parse_timestamp(s)
}

/// Parse a duration into whole seconds: a bare number of seconds (`45`), or what `humantime`
/// reads — `30s`, `15m`, `1h`, `7d`, `2w`, `1h 30m`, `90sec`, `2days` (units: `s`/`sec`/
/// `second(s)`, `m`/`min`/`minute(s)`, `h`/`hr`/`hour(s)`, `d`/`day(s)`, `w`/`week(s)`, `M`/`month(s)`
/// = 30.44 d, `y`/`year(s)` = 365.25 d). A duration that is not a whole number of seconds
/// (`1500ms`) is refused, as is anything else; the error quotes the text.
pub fn parse_duration_s(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let bad = || format!("{t:?} is not a duration (expected e.g. 30s, 5m, 2h, 7d)");
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<u64>().map_err(|_| bad());
    }
    let d = humantime::parse_duration(t).map_err(|_| bad())?;
    if d.subsec_nanos() != 0 {
        return Err(format!(
            "{t:?} is not a whole number of seconds (durations here count seconds)"
        ));
    }
    Ok(d.as_secs())
}

/// Format as RFC 3339 UTC with milliseconds (`2026-11-29T09:00:00.123Z`): the form of every
/// timestamp the tool writes (reports, audit records, history, manifests' `created`).
pub fn rfc3339(dt: DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// RFC 3339 UTC keeping sub-second precision up to nanoseconds (backup manifests' file
/// mtimes, which must compare equal after a round trip).
pub fn rfc3339_exact(dt: DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Now, as [`rfc3339`].
pub fn now_rfc3339() -> String {
    rfc3339(Utc::now())
}

/// Unix milliseconds as [`rfc3339`] (empty when out of range).
pub fn ms_to_rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(rfc3339)
        .unwrap_or_default()
}

/// An RFC 3339 timestamp in Unix milliseconds.
pub fn parse_ms(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// Format a `SystemTime` (file mtimes) as RFC 3339 UTC with milliseconds.
pub fn system_time(t: std::time::SystemTime) -> String {
    rfc3339(DateTime::<Utc>::from(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            rfc3339(parse_timestamp("2026-11-29T09:00:00.123Z").unwrap()),
            "2026-11-29T09:00:00.123Z"
        );
        assert_eq!(
            rfc3339(parse_timestamp("2026-11-29T10:00:00+01:00").unwrap()),
            "2026-11-29T09:00:00.000Z"
        );
        assert_eq!(
            rfc3339(parse_timestamp("2026-11-29 09:00:00").unwrap()),
            "2026-11-29T09:00:00.000Z"
        );
        assert_eq!(
            rfc3339(parse_timestamp("2026-11-29").unwrap()),
            "2026-11-29T00:00:00.000Z"
        );
        assert!(parse_timestamp("yesterday").is_err());
        assert_eq!(
            ms_to_rfc3339(parse_ms("2026-11-29T09:00:00.123Z").unwrap()),
            "2026-11-29T09:00:00.123Z"
        );
        let d = Utc::now() - parse_since("24h").unwrap();
        assert!((d.num_seconds() - 86_400).abs() <= 2);
    }

    /// What the README documents (`30s`, `5m`, `2h`, `7d`, bare seconds) and the old parser's
    /// `w` keep working; humantime adds compound and spelled-out forms.
    #[test]
    fn durations() {
        for (s, v) in [
            ("30s", 30),
            ("90s", 90),
            ("5m", 300),
            ("15m", 900),
            ("1h", 3600),
            ("2h", 7200),
            ("7d", 604_800),
            ("400d", 400 * 86_400),
            ("2w", 14 * 86_400),
            ("45", 45),
            (" 10m ", 600),
            ("1h 30m", 5400),
            ("2days", 172_800),
        ] {
            assert_eq!(parse_duration_s(s), Ok(v), "{s}");
        }
        for s in ["", "5 parsecs", "m", "-5m", "1500ms"] {
            let e = parse_duration_s(s).unwrap_err();
            assert!(e.contains(&format!("{:?}", s.trim())), "{s}: {e}");
        }
    }
}
