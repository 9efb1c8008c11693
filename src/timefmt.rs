//! Timestamps and durations as scripts and logs write them.

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
    if let Ok(secs) = crate::policy::parse_duration_s(s) {
        return Ok(Utc::now() - chrono::Duration::seconds(secs.min(i64::MAX as u64 / 2) as i64));
    }
    parse_timestamp(s)
}

/// Format as RFC 3339 UTC with milliseconds.
pub fn rfc3339(dt: DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
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
        let d = Utc::now() - parse_since("24h").unwrap();
        assert!((d.num_seconds() - 86_400).abs() <= 2);
    }
}
