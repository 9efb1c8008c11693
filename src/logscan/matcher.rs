//! Pattern matching over whole buffers of lines.
//!
//! A case-sensitive literal is found with `memchr::memmem` (SIMD substring search, the same
//! prefilter ripgrep uses); everything else goes through the `regex` crate, which extracts its
//! own literal prefilters. Regexes run in multi-line CRLF mode, so `^`/`$` anchor at line
//! boundaries and `$` matches before a `\r`.

use memchr::memmem;
use regex::bytes::{Regex, RegexBuilder};

use crate::error::{Error, Result};

/// How candidate lines are found in a buffer.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Every line is a candidate (empty pattern).
    All,
    /// A case-sensitive literal.
    Literal(Box<memmem::Finder<'static>>),
    /// A regular expression (also used for case-insensitive literals and prefilter sets).
    Regex(Regex),
}

/// Build a multi-line, CRLF-aware regex with bounded compile size.
pub fn build_regex(pattern: &str, ignore_case: bool) -> std::result::Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .multi_line(true)
        .crlf(true)
        .case_insensitive(ignore_case)
        .size_limit(64 << 20)
        .dfa_size_limit(16 << 20)
        .build()
}

impl Matcher {
    /// A matcher for `pattern`: a literal unless `regex`; case-insensitive with `ignore_case`.
    /// An empty pattern matches every line. `what` names the caller in error messages.
    pub fn new(what: &str, pattern: &str, regex: bool, ignore_case: bool) -> Result<Matcher> {
        if pattern.is_empty() {
            return Ok(Matcher::All);
        }
        if !regex && pattern.bytes().any(|b| b == b'\n' || b == b'\r') {
            return Err(Error::Usage(format!(
                "{what}: the pattern {pattern:?} contains a line break; lines are matched one at a time"
            )));
        }
        if !regex && !ignore_case {
            return Ok(Matcher::Literal(Box::new(
                memmem::Finder::new(pattern.as_bytes()).into_owned(),
            )));
        }
        let source = if regex {
            pattern.to_string()
        } else {
            regex::escape(pattern)
        };
        build_regex(&source, ignore_case)
            .map(Matcher::Regex)
            .map_err(|e| Error::Usage(format!("{what}: invalid regex {pattern:?}: {e}")))
    }

    /// Whether this matcher accepts every line.
    pub fn is_all(&self) -> bool {
        matches!(self, Matcher::All)
    }

    /// The first match at or after `pos` in `hay` as `(start, end)`. `pos` must be a line start;
    /// bytes before it still count as context for `^` and `\b`.
    #[inline]
    pub fn find_at(&self, hay: &[u8], pos: usize) -> Option<(usize, usize)> {
        match self {
            Matcher::All => Some((pos, pos)),
            Matcher::Literal(f) => f
                .find(&hay[pos..])
                .map(|i| (pos + i, pos + i + f.needle().len())),
            Matcher::Regex(r) => r.find_at(hay, pos).map(|m| (m.start(), m.end())),
        }
    }

    /// Whether `text` (one line or one field value) contains a match.
    #[inline]
    pub fn is_match(&self, text: &[u8]) -> bool {
        match self {
            Matcher::All => true,
            Matcher::Literal(f) => f.find(text).is_some(),
            Matcher::Regex(r) => r.is_match(text),
        }
    }

    /// Whether a hit found by [`Matcher::find_at`] is confined to its line by construction
    /// (literals cannot contain a line break; a regex hit is re-checked when it crosses one).
    pub fn needs_verify(&self) -> bool {
        matches!(self, Matcher::Regex(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_regex_and_case() {
        let m = Matcher::new("t", "慢请求", false, false).unwrap();
        assert!(matches!(m, Matcher::Literal(_)));
        assert_eq!(m.find_at("ab慢请求".as_bytes(), 0), Some((2, 11)));
        let m = Matcher::new("t", "JWT", false, true).unwrap();
        assert!(m.is_match(b"jwt expired"));
        let m = Matcher::new("t", "a.c", false, false).unwrap();
        assert!(!m.is_match(b"abc"));
        let m = Matcher::new("t", r"\d+ms$", true, false).unwrap();
        assert_eq!(m.find_at(b"x 12ms\r\ny", 0), Some((2, 6)));
        assert!(Matcher::new("t", "(", true, false).is_err());
        assert!(Matcher::new("t", "a\nb", false, false).is_err());
        assert!(Matcher::new("t", "", false, false).unwrap().is_all());
    }
}
