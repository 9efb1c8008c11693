//! Message fingerprints: the variable parts of a message masked so that messages from the same
//! code path group together.
//!
//! Masked (in this order, each only where a token starts, i.e. not inside a word):
//! UUIDs → `<uuid>`; dates/times (`2026-11-29T09:00:00.123Z`, `09:00:00`) → `<ts>`;
//! IPv4 addresses with optional port → `<ip>`; `0x…` and hex runs of 8+ with a digit → `<hex>`;
//! other letter/digit runs of 16+ with a digit (tokens, keys) → `<id>`; numbers → `<n>`;
//! quoted values (`"…"`, `'…'`) → `"<s>"` / `'<s>'`. A number's unit stays: `1234ms` → `<n>ms`.
//!
//! `请求失败 GET /api/pages/4048: JWT expired` → `请求失败 GET /api/pages/<n>: JWT expired`.

/// Write the fingerprint of `msg` into `out` (cleared first).
pub fn fingerprint(msg: &str, out: &mut String) {
    out.clear();
    let b = msg.as_bytes();
    let mut i = 0;
    let mut copied = 0; // b[copied..i] is pending literal text
    while i < b.len() {
        let c = b[i];
        let word_start = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if !word_start || !(c.is_ascii_alphanumeric() || c == b'"' || c == b'\'') {
            i += 1;
            continue;
        }
        let (mask, len): (&str, usize) = if c == b'"' || c == b'\'' {
            match quoted_len(b, i) {
                Some(n) => (if c == b'"' { "\"<s>\"" } else { "'<s>'" }, n),
                None => {
                    i += 1;
                    continue;
                }
            }
        } else if let Some(n) = uuid_len(&b[i..]) {
            ("<uuid>", n)
        } else if let Some(n) = timestamp_len(&b[i..]) {
            ("<ts>", n)
        } else if let Some(n) = ipv4_len(&b[i..]) {
            ("<ip>", n)
        } else {
            let run = b[i..]
                .iter()
                .take_while(|x| x.is_ascii_alphanumeric())
                .count();
            let word = &b[i..i + run];
            let has_digit = word.iter().any(u8::is_ascii_digit);
            let prefixed_hex = word.len() > 2
                && word[0] == b'0'
                && (word[1] == b'x' || word[1] == b'X')
                && word[2..].iter().all(u8::is_ascii_hexdigit);
            let bare_hex = run >= 8 && has_digit && word.iter().all(u8::is_ascii_hexdigit);
            if prefixed_hex || bare_hex {
                ("<hex>", run)
            } else if run >= 16 && has_digit {
                ("<id>", run)
            } else if c.is_ascii_digit() {
                ("<n>", number_len(&b[i..]))
            } else {
                i += run;
                continue;
            }
        };
        out.push_str(&msg[copied..i]);
        out.push_str(mask);
        i += len;
        copied = i;
    }
    out.push_str(&msg[copied..]);
}

fn quoted_len(b: &[u8], i: usize) -> Option<usize> {
    let q = b[i];
    let close = memchr::memchr(q, &b[i + 1..])? + i + 1;
    if q == b'\'' && b.get(close + 1).is_some_and(|x| x.is_ascii_alphanumeric()) {
        return None; // an apostrophe (don't, it's), not a quote
    }
    Some(close + 1 - i)
}

fn run_of(b: &[u8], f: impl Fn(u8) -> bool) -> usize {
    b.iter().take_while(|&&x| f(x)).count()
}

fn ends_token(b: &[u8], n: usize) -> bool {
    b.get(n).is_none_or(|x| !x.is_ascii_alphanumeric())
}

fn uuid_len(b: &[u8]) -> Option<usize> {
    let groups = [8, 4, 4, 4, 12];
    let mut at = 0;
    for (k, g) in groups.iter().enumerate() {
        if run_of(&b[at.min(b.len())..], |x| x.is_ascii_hexdigit()) != *g {
            return None;
        }
        at += g;
        if k < 4 {
            if b.get(at) != Some(&b'-') {
                return None;
            }
            at += 1;
        }
    }
    ends_token(b, at).then_some(at)
}

fn two_digits(b: &[u8], at: usize) -> bool {
    b.len() >= at + 2 && b[at].is_ascii_digit() && b[at + 1].is_ascii_digit()
}

fn time_len(b: &[u8]) -> Option<usize> {
    // HH:MM:SS(.frac)?
    if !(two_digits(b, 0)
        && b.get(2) == Some(&b':')
        && two_digits(b, 3)
        && b.get(5) == Some(&b':')
        && two_digits(b, 6))
    {
        return None;
    }
    let mut n = 8;
    if matches!(b.get(n), Some(b'.') | Some(b',')) && b.get(n + 1).is_some_and(u8::is_ascii_digit) {
        n += 1 + run_of(&b[n + 1..], |x| x.is_ascii_digit());
    }
    Some(n)
}

fn timestamp_len(b: &[u8]) -> Option<usize> {
    let date = b.len() >= 10
        && run_of(b, |x| x.is_ascii_digit()) == 4
        && b[4] == b'-'
        && two_digits(b, 5)
        && b[7] == b'-'
        && two_digits(b, 8);
    if !date {
        return time_len(b).filter(|&n| ends_token(b, n));
    }
    let mut n = 10;
    if matches!(b.get(n), Some(b'T') | Some(b' '))
        && let Some(t) = time_len(&b[n + 1..])
    {
        n += 1 + t;
        match b.get(n) {
            Some(b'Z') => n += 1,
            Some(b'+') | Some(b'-') if two_digits(b, n + 1) => {
                n += 3;
                if b.get(n) == Some(&b':') && two_digits(b, n + 1) {
                    n += 3;
                } else if two_digits(b, n) {
                    n += 2;
                }
            }
            _ => {}
        }
    }
    Some(n)
}

fn ipv4_len(b: &[u8]) -> Option<usize> {
    let mut n = 0;
    for k in 0..4 {
        let d = run_of(&b[n..], |x| x.is_ascii_digit());
        if !(1..=3).contains(&d) {
            return None;
        }
        n += d;
        if k < 3 {
            if b.get(n) != Some(&b'.') {
                return None;
            }
            n += 1;
        }
    }
    if b.get(n) == Some(&b':') && b.get(n + 1).is_some_and(u8::is_ascii_digit) {
        n += 1 + run_of(&b[n + 1..], |x| x.is_ascii_digit());
    }
    ends_token(b, n).then_some(n)
}

fn number_len(b: &[u8]) -> usize {
    let mut n = run_of(b, |x| x.is_ascii_digit());
    if b.get(n) == Some(&b'.') && b.get(n + 1).is_some_and(u8::is_ascii_digit) {
        n += 1 + run_of(&b[n + 1..], |x| x.is_ascii_digit());
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(s: &str) -> String {
        let mut out = String::new();
        fingerprint(s, &mut out);
        out
    }

    #[test]
    fn groups_variable_parts() {
        assert_eq!(
            fp("请求失败 GET /api/pages/4048: JWT expired"),
            "请求失败 GET /api/pages/<n>: JWT expired"
        );
        assert_eq!(
            fp("请求失败 GET /api/pages/17: JWT expired"),
            "请求失败 GET /api/pages/<n>: JWT expired"
        );
        assert_eq!(fp("慢请求 GET /api/x 1234ms"), "慢请求 GET /api/x <n>ms");
        assert_eq!(
            fp(
                "user 3f2b8c1e-9a4d-4e1f-8b2a-0c9d8e7f6a5b from 10.0.0.12:5432 at 2026-11-29T09:00:00.123Z"
            ),
            "user <uuid> from <ip> at <ts>"
        );
        assert_eq!(
            fp("job 0xdeadBEEF id 5f3a9c2b7e1d4a6b8c9d0e1f took 1.5s"),
            "job <hex> id <hex> took <n>s"
        );
        assert_eq!(fp("token eyJhbGciOiJIUzI1NiJ9 bad"), "token <id> bad");
        assert_eq!(
            fp("key \"abc def\" and 'x' don't"),
            "key \"<s>\" and '<s>' don't"
        );
        assert_eq!(fp("utf8 v2 at 09:15:02"), "utf8 v2 at <ts>");
        assert_eq!(fp("ECONNREFUSED 127.0.0.1"), "ECONNREFUSED <ip>");
        assert_eq!(fp(""), "");
        assert_eq!(fp("\"unclosed"), "\"unclosed");
    }
}
