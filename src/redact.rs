//! One redaction step for every text that comes from a service manager or a program and may
//! reach an error, a report or the audit log (manager failures, `cmd::run` command lines and
//! errors, status details).
//!
//! [`redact`] applies, in order:
//!
//! 1. **Process environments removed.** A JSON member named `pm2_env` or `env` (pm2's `jlist`
//!    carries each process's whole environment there) has its value — object, array, string or
//!    number, even when the text was cut before the value ends — replaced by `"***"`.
//! 2. **Secret-looking members masked.** The value of a JSON member (`"JWT_SECRET": "x"`), a
//!    `KEY=VALUE` pair (`--password=x`, `DB_TOKEN='x'`) or a `Key: value` header line
//!    (`Authorization: Bearer x`) whose key contains, case-insensitively, one of [`SECRET_WORDS`]
//!    becomes `***`.
//! 3. **The caller's own environment never quoted.** Every value of at least [`MIN_ENV_VALUE`]
//!    bytes found in runbook's own process environment is replaced by `***` wherever it
//!    appears, except the values of a few variables that are never secret and that paths in
//!    messages legitimately contain ([`PUBLIC_ENV`]: `PATH`, `HOME`, `PWD`, `USER`, `SHELL`,
//!    `TERM`, `LANG`, `LC_*`, `XDG_*` …).
//!
//! The step errs on the side of hiding: a key like `monkey` is masked too. It works on text that
//! is not well-formed (a cut JSON document, a log line), so it can run before clipping.

/// What a hidden value is replaced with.
pub const MASK: &str = "***";

/// Words that make a key secret (compared case-insensitively, anywhere in the key).
pub const SECRET_WORDS: [&str; 9] = [
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "KEY",
    "AUTH",
    "COOKIE",
    "CREDENTIAL",
    "PRIVATE",
];

/// JSON members that hold a process environment and are removed whole.
pub const ENV_MEMBERS: [&str; 2] = ["pm2_env", "env"];

/// Shortest value of the process environment that is hidden (shorter ones — `1`, `true`,
/// `C` — would mask ordinary words).
pub const MIN_ENV_VALUE: usize = 6;

/// Variables whose values are never secret and are left in messages (paths under `HOME` or the
/// working directory stay readable). `LC_*` and `XDG_*` are public too.
pub const PUBLIC_ENV: [&str; 17] = [
    "PATH",
    "HOME",
    "PWD",
    "OLDPWD",
    "SHELL",
    "USER",
    "LOGNAME",
    "USERNAME",
    "TERM",
    "LANG",
    "LANGUAGE",
    "TMPDIR",
    "HOSTNAME",
    "SHLVL",
    "TZ",
    "_",
    "COLORTERM",
];

/// Whether `key` looks like it names a secret (contains one of [`SECRET_WORDS`]).
pub fn is_secret_key(key: &str) -> bool {
    let up = key.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|w| up.contains(w))
}

fn is_env_member(key: &str) -> bool {
    ENV_MEMBERS.iter().any(|m| key.eq_ignore_ascii_case(m))
}

/// `text` with process environments, secret-looking values and the caller's environment values
/// replaced by [`MASK`] (see the module docs for the rules).
pub fn redact(text: &str) -> String {
    mask_env_values(&mask_members(&mask_url_and_bearer(text)))
}

/// Passwords in URLs (`scheme://user:PASSWORD@host`, RFC 3986 userinfo) and `Bearer TOKEN`
/// credentials (RFC 6750) replaced by [`MASK`]; the user name and the host stay readable.
fn mask_url_and_bearer(text: &str) -> std::borrow::Cow<'_, str> {
    use std::sync::LazyLock;
    static URL: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r#"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@'"`]*):[^\s@/'"`]+@"#)
            .expect("valid regex")
    });
    static BEARER: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r#"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*"#).expect("valid regex")
    });
    if !text.contains("://") && !text.to_ascii_lowercase().contains("bearer") {
        return std::borrow::Cow::Borrowed(text);
    }
    let t = URL.replace_all(text, format!("${{1}}:{MASK}@").as_str());
    std::borrow::Cow::Owned(
        BEARER
            .replace_all(&t, format!("${{1}} {MASK}").as_str())
            .into_owned(),
    )
}

/// [`redact`], then the first `max` bytes (on a char boundary, `…` when cut) — the form in which
/// a manager's or a program's output is quoted in an error.
pub fn quote(text: &str, max: usize) -> String {
    clip(&redact(text), max)
}

/// Index just after the string literal whose opening quote `q` is at `start` (escapes honoured);
/// the text's length when it is not closed.
fn string_end(b: &[u8], start: usize, q: u8) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == q => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// Index just after the JSON value starting at `i` (string, balanced object/array, or scalar up
/// to `,` `}` `]` or a line end); the text's length when it is cut.
fn json_value_end(b: &[u8], i: usize) -> usize {
    if i >= b.len() {
        return i;
    }
    match b[i] {
        b'"' => string_end(b, i, b'"'),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j, b'"');
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            b.len()
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b'\n' | b'\r') {
                j += 1;
            }
            j
        }
    }
}

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

/// The key made of key bytes that ends just before `end`.
fn key_before(s: &str, end: usize) -> &str {
    let b = s.as_bytes();
    let mut k = end;
    while k > 0 && is_key_byte(b[k - 1]) {
        k -= 1;
    }
    &s[k..end]
}

/// Steps 1 and 2: JSON members, `KEY=VALUE` and `Key: value`.
fn mask_members(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        // The value to mask when byte `i` starts a secret member: (start, end, quote it).
        let value = match b[i] {
            // Every quote is tried as the start of a member name: a wrong guess can only hide
            // more, never less.
            b'"' => {
                let end = string_end(b, i, b'"');
                let colon = skip_ws(b, end);
                let member = end <= b.len() && end > i + 1 && colon < b.len() && b[colon] == b':';
                if member
                    && (is_env_member(&s[i + 1..end - 1]) || is_secret_key(&s[i + 1..end - 1]))
                {
                    let v = skip_ws(b, colon + 1);
                    Some((v, json_value_end(b, v), true))
                } else {
                    None
                }
            }
            b'=' => {
                let key = key_before(s, i);
                let v = i + 1;
                if !key.is_empty() && is_secret_key(key) && v < b.len() && b[v] != b'=' {
                    let vend = match b[v] {
                        q @ (b'"' | b'\'') => string_end(b, v, q),
                        _ => {
                            let mut j = v;
                            while j < b.len()
                                && !b[j].is_ascii_whitespace()
                                && !matches!(b[j], b'&' | b',' | b';' | b'"' | b'\'' | b'}' | b']')
                            {
                                j += 1;
                            }
                            j
                        }
                    };
                    Some((v, vend, false))
                } else {
                    None
                }
            }
            // `Authorization: Bearer x` — a header-like line; the value runs to the line end.
            b':' if i + 1 < b.len() && b[i + 1] == b' ' => {
                let key = key_before(s, i);
                if !key.is_empty() && is_secret_key(key) {
                    let v = skip_ws(b, i + 1);
                    let vend = memchr::memchr2(b'\n', b'\r', &b[v..]).map_or(b.len(), |n| v + n);
                    Some((v, vend, false))
                } else {
                    None
                }
            }
            _ => None,
        };
        match value {
            Some((v, vend, quoted)) if vend > v => {
                out.push_str(&s[copied..v]);
                if quoted {
                    out.push('"');
                    out.push_str(MASK);
                    out.push('"');
                } else {
                    out.push_str(MASK);
                }
                copied = vend;
                i = vend;
            }
            _ => i += 1,
        }
    }
    out.push_str(&s[copied..]);
    out
}

fn is_public_env(name: &str) -> bool {
    PUBLIC_ENV.contains(&name) || name.starts_with("LC_") || name.starts_with("XDG_")
}

/// Step 3: values of the process environment.
fn mask_env_values(s: &str) -> String {
    let mut values: Vec<String> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.to_str()?;
            let v = v.into_string().ok()?;
            (!is_public_env(k) && v.len() >= MIN_ENV_VALUE && v != MASK).then_some(v)
        })
        .collect();
    // Longer values first, so a value containing another is hidden whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values.dedup();
    let mut out = s.to_string();
    for v in values {
        if out.contains(&v) {
            out = out.replace(&v, MASK);
        }
    }
    out
}

/// The first `max` bytes of `s` (on a char boundary), with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pm2_environments_are_removed() {
        let jlist =
            r#"[{"name":"api","pm2_env":{"env":{"JWT_SECRET":"s3cr3t"},"status":"online"}}]"#;
        let r = redact(jlist);
        assert!(!r.contains("s3cr3t"), "{r}");
        assert!(r.contains(r#""name":"api""#), "{r}");
        assert!(r.contains(r#""pm2_env":"***""#), "{r}");
        // Cut in the middle of the environment: the rest is hidden too.
        let cut = &jlist[..jlist.find("s3cr").unwrap() + 2];
        assert!(!redact(cut).contains("s3"), "{}", redact(cut));
        // A member named env holding a plain value.
        assert_eq!(redact(r#"{"env": "A=1 B=2"}"#), r#"{"env": "***"}"#);
    }

    #[test]
    fn secret_members_and_pairs_are_masked() {
        assert_eq!(
            redact(r#"{"DB_PASSWORD": "hunter2", "port": 5432, "api_key": 12345}"#),
            r#"{"DB_PASSWORD": "***", "port": 5432, "api_key": "***"}"#
        );
        assert_eq!(
            redact("start failed: JWT_SECRET=s3cr3t PORT=3002 --password='a b' x"),
            "start failed: JWT_SECRET=*** PORT=3002 --password=*** x"
        );
        assert_eq!(
            redact("Environment=NODE_ENV=production AUTH_TOKEN=abc123"),
            "Environment=NODE_ENV=production AUTH_TOKEN=***"
        );
        assert_eq!(redact("GET /x?token=abc&page=2"), "GET /x?token=***&page=2");
        assert_eq!(
            redact("Authorization: Bearer abc.def\nnext line"),
            "Authorization: ***\nnext line"
        );
        assert_eq!(redact("Cookie: sid=1"), "Cookie: ***");
        // Comparisons and ordinary text stay.
        assert_eq!(
            redact("a == b; x=1; error: boom"),
            "a == b; x=1; error: boom"
        );
    }

    #[test]
    fn url_passwords_and_bearer_tokens_are_masked() {
        let r = redact(
            "git -c remote.x.url=https://u:Pa55wordXYZ@example.com/r.git DATABASE_URL=postgres://app:pw1@db/x curl -H 'Authorization: Bearer abc.DEF-123' ok",
        );
        assert!(
            !r.contains("Pa55wordXYZ") && !r.contains("pw1@") && !r.contains("abc.DEF"),
            "{r}"
        );
        assert!(r.contains("https://u:***@example.com/r.git"), "{r}");
        assert_eq!(
            redact("see https://example.com/a:b"),
            "see https://example.com/a:b"
        );
    }

    #[test]
    fn keys_match_case_insensitively() {
        for k in [
            "secret",
            "Token",
            "PASSWD",
            "private_key",
            "credentials",
            "x-auth",
            "session_cookie",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["name", "port", "status", "pm_id"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn values_of_the_callers_environment_are_never_quoted() {
        // cargo sets CARGO_MANIFEST_DIR (a path of this crate) in the environment of tests.
        let v = std::env::var("CARGO_MANIFEST_DIR").expect("run under cargo test");
        assert!(v.len() >= MIN_ENV_VALUE);
        let r = redact(&format!("output: {v}/x end"));
        assert_eq!(r, "output: ***/x end");
        // Public values stay: paths under HOME remain readable.
        assert!(is_public_env("HOME") && is_public_env("LC_ALL") && is_public_env("PATH"));
        assert!(!is_public_env("JWT_SECRET") && !is_public_env("DATABASE_URL"));
    }

    #[test]
    fn multibyte_text_is_kept_whole() {
        assert_eq!(redact("慢请求 token=秘密 完成"), "慢请求 token=*** 完成");
        assert_eq!(quote("错误: 密码=x", 100), "错误: 密码=x");
    }
}
