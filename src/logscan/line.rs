//! Lines inside a byte buffer: terminators, counting, and the text a user sees.
//!
//! A line ends at `\n`, at `\r\n` (one terminator) or at a bare `\r` (old Mac files, progress
//! output). Returned lines never contain their terminator, so a `$`-anchored pattern and the
//! text shown both behave as if every file used `\n`.

use memchr::{memchr, memchr_iter, memchr2, memrchr2};

/// Longest text returned for one line (64 KiB). Longer lines are still matched in full and
/// returned cut at a character boundary, followed by [`truncation_marker`].
pub const MAX_TEXT: usize = 64 * 1024;

/// Whether `b` ends a line.
#[inline]
pub fn is_terminator(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// Index of the first terminator at or after `from` (the content end of the line holding `from`),
/// or `buf.len()` when the line runs to the end of `buf`.
#[inline]
pub fn line_end(buf: &[u8], from: usize) -> usize {
    match memchr2(b'\n', b'\r', &buf[from..]) {
        Some(i) => from + i,
        None => buf.len(),
    }
}

/// Start of the line holding position `at`, looking no further back than `floor` (a known line start).
#[inline]
pub fn line_start(buf: &[u8], floor: usize, at: usize) -> usize {
    match memrchr2(b'\n', b'\r', &buf[floor..at]) {
        Some(i) => floor + i + 1,
        None => floor,
    }
}

/// Length of the terminator at `buf[i]` (which must be `\n` or `\r`): 2 for `\r\n`, else 1.
/// A `\r` that is the last byte of `buf` counts as a bare `\r`.
#[inline]
pub fn terminator_len(buf: &[u8], i: usize) -> usize {
    if buf[i] == b'\r' && buf.get(i + 1) == Some(&b'\n') {
        2
    } else {
        1
    }
}

/// End (just past the terminator) of the last complete line in `buf`; 0 when `buf` holds no
/// complete line. When `last` is false a `\r` as the very last byte is undecided (a `\n` may
/// follow in the next read), so the line it ends is left for the next round.
pub fn complete_end(buf: &[u8], last: bool) -> usize {
    match memrchr2(b'\n', b'\r', buf) {
        None => 0,
        Some(i) if buf[i] == b'\r' && i + 1 == buf.len() && !last => {
            match memrchr2(b'\n', b'\r', &buf[..i]) {
                None => 0,
                Some(j) => j + 1,
            }
        }
        Some(i) => i + 1,
    }
}

/// Number of line terminators in `buf` (`\r\n` counts once). `buf` must not end between a `\r`
/// and its `\n`.
pub fn count_terminators(buf: &[u8]) -> u64 {
    // Bare `\r` are rare and only looked at when present.
    let newlines = count_byte(buf, b'\n');
    let mut bare_cr = 0usize;
    if memchr(b'\r', buf).is_some() {
        bare_cr = memchr_iter(b'\r', buf)
            .filter(|&i| buf.get(i + 1) != Some(&b'\n'))
            .count();
    }
    (newlines + bare_cr) as u64
}

/// Occurrences of `needle` in `hay`: memchr's vectorised count (AVX2 chosen at run time,
/// 32 bytes per step with a popcount of the compare mask, as ripgrep's line counter does).
/// The earlier portable loop (a `u8` per 255-byte block, compiled for baseline SSE2) cost
/// a third of `logs::search`'s time when it numbered lines (issue 14.6).
#[inline]
pub fn count_byte(hay: &[u8], needle: u8) -> usize {
    memchr_iter(needle, hay).count()
}

/// `buf` without leading and trailing ASCII whitespace (and without a UTF-8 byte-order mark).
#[inline]
pub fn trim(buf: &[u8]) -> &[u8] {
    let buf = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(buf);
    buf.trim_ascii()
}

/// The marker appended to a line cut at [`MAX_TEXT`] bytes.
pub fn truncation_marker(full_len: usize) -> String {
    format!(" …[truncated: line is {full_len} bytes]")
}

/// The first `max` bytes of `line`, backed off to a UTF-8 character boundary when the cut
/// would split a character.
pub fn cut(line: &[u8], max: usize) -> &[u8] {
    if line.len() <= max {
        return line;
    }
    let mut end = max;
    // Back off over continuation bytes (at most 3) so a multi-byte character is not split.
    let mut steps = 0;
    while end > 0 && steps < 3 && (line[end] & 0xC0) == 0x80 {
        end -= 1;
        steps += 1;
    }
    if (line[end] & 0xC0) == 0x80 {
        // Not UTF-8 there anyway; the plain cut is as good as any.
        end = max;
    }
    &line[..end]
}

/// The text shown for a line: lossy UTF-8 (invalid bytes become U+FFFD, NUL stays NUL),
/// cut to [`MAX_TEXT`] with a marker naming the full length `full_len`. `line` may already be
/// a prefix of the real line (then `full_len` is larger than `line.len()`).
pub fn display_text(line: &[u8], full_len: usize) -> String {
    if full_len <= MAX_TEXT && line.len() == full_len {
        return String::from_utf8_lossy(line).into_owned();
    }
    let mut s = String::from_utf8_lossy(cut(line, MAX_TEXT)).into_owned();
    s.push_str(&truncation_marker(full_len));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminators_and_ends() {
        let b = b"a\r\nb\rc\nd";
        assert_eq!(line_end(b, 0), 1);
        assert_eq!(terminator_len(b, 1), 2);
        assert_eq!(line_end(b, 3), 4);
        assert_eq!(terminator_len(b, 4), 1);
        assert_eq!(line_start(b, 0, 5), 5);
        assert_eq!(line_start(b, 0, 7), 7);
        assert_eq!(count_terminators(&b[..7]), 3);
        assert_eq!(complete_end(b, false), 7);
        assert_eq!(complete_end(b"a\nb\r", false), 2);
        assert_eq!(complete_end(b"a\nb\r", true), 4);
        assert_eq!(complete_end(b"abc", false), 0);
        assert_eq!(count_terminators(b"x\r\r\ny\r"), 3);
        let big: Vec<u8> = (0..100_000u32)
            .map(|i| if i % 7 == 0 { b'\n' } else { b'a' })
            .collect();
        assert_eq!(
            count_byte(&big, b'\n'),
            big.iter().filter(|&&b| b == b'\n').count()
        );
        assert_eq!(
            count_byte(&big[3..9_000], b'\n'),
            big[3..9_000].iter().filter(|&&b| b == b'\n').count()
        );
        let mixed: Vec<u8> = (0..10_000u32)
            .map(|i| [b'\n', 0x8a, 0xff, 0, b'\r', 0x0b][(i * 7 % 13 % 6) as usize])
            .collect();
        for needle in [b'\n', 0x8a, 0xff, 0, b'\r'] {
            assert_eq!(
                count_byte(&mixed, needle),
                mixed.iter().filter(|&&b| b == needle).count()
            );
        }
        assert_eq!(count_byte(&[b'\n'; 1000], b'\n'), 1000);
    }

    #[test]
    fn text_is_lossy_and_cut_with_a_marker() {
        assert_eq!(display_text(b"ok\xFFok\0", 6), "ok\u{FFFD}ok\0");
        let mut long = "é".repeat(MAX_TEXT); // 2 bytes each
        long.push('x');
        let t = display_text(long.as_bytes(), long.len());
        assert!(
            t.ends_with(&truncation_marker(long.len())),
            "{}",
            &t[t.len() - 60..]
        );
        let body = t
            .strip_suffix(&truncation_marker(long.len()))
            .unwrap_or_default();
        assert_eq!(body.len(), MAX_TEXT);
        assert!(!body.contains('\u{FFFD}'));
        // A character split at the cut is backed off rather than turned into U+FFFD.
        let odd = format!("a{}", "é".repeat(MAX_TEXT));
        let t = display_text(odd.as_bytes(), odd.len());
        assert!(!t.contains('\u{FFFD}'));
    }

    #[test]
    fn trim_drops_bom_and_spaces() {
        assert_eq!(trim(b"\xEF\xBB\xBF {\"a\":1}\t"), b"{\"a\":1}");
    }
}
