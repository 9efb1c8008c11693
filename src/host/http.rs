//! Blocking HTTP requests for runbooks and health checks (reqwest, rustls).
//!
//! Every request has one overall deadline (default 5000 ms) covering DNS, connect, TLS, headers
//! and body. Redirects are not followed unless asked, and never to another host. Bodies are read
//! up to a cap (1 MiB by default) and flagged `truncated` beyond it. [`check`] turns every network
//! failure into a result with an error kind instead of an error, so a health check can be written
//! without `try`.
//!
//! Connections go straight to the URL's host: proxy environment variables are ignored, so the
//! host the policy allowed is the peer actually reached.
//!
//! These functions know nothing of the policy: the Rhai adapter checks the host against
//! `policy.http_hosts` and treats `POST` as an effect.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::redirect;
use serde::Serialize;

use crate::cancel::Cancel;
use crate::error::Error;

/// Default overall deadline of a request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5000);
/// Default cap on the bytes of a response body kept.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
/// Hard ceiling of `max_body` (32 MiB): a larger cap is refused, whatever the memory budget.
/// (A script value holds at most 64 MiB of text in all, headers included.)
pub const MAX_BODY_CEILING: usize = 32 << 20;
/// Memory a JSON body may take once parsed, as a multiple of its size (serde_json values of
/// small members take several times their text); a body whose parse could pass the memory
/// budget is refused rather than parsed.
pub const JSON_GROWTH: u64 = 8;
/// Most redirects followed in one request (with `follow_redirects`).
pub const MAX_REDIRECTS: usize = 10;

/// Request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
}

impl Method {
    fn as_reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Head => reqwest::Method::HEAD,
            Method::Post => reqwest::Method::POST,
        }
    }
}

/// A request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Sent as is (`content-type: text/plain; charset=utf-8` unless a header says otherwise).
    Text(String),
    /// Serialized, with `content-type: application/json`.
    Json(serde_json::Value),
}

/// Options of one request.
#[derive(Debug, Clone)]
pub struct RequestOpts {
    /// Overall deadline: connect, TLS, headers and body together.
    pub timeout: Duration,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Follow 3xx redirects to the same host (default: return the 3xx response).
    pub follow_redirects: bool,
    /// Request body (POST).
    pub body: Option<Body>,
    /// Keep at most this many body bytes; more sets `truncated`.
    pub max_body: usize,
    /// Ctrl-C and the run's deadline; the request is cut short by them.
    pub cancel: Cancel,
    /// Bytes the whole process may have allocated (`policy.max_memory_mb`, counted by
    /// [`crate::alloc`]); reading the body stops with a `Memory` error before passing it.
    /// 0: no budget.
    pub max_memory: u64,
}

impl Default for RequestOpts {
    fn default() -> Self {
        RequestOpts {
            timeout: DEFAULT_TIMEOUT,
            headers: Vec::new(),
            follow_redirects: false,
            body: None,
            max_body: DEFAULT_MAX_BODY,
            cancel: Cancel::never(),
            max_memory: 0,
        }
    }
}

/// A response.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Status is 2xx.
    pub ok: bool,
    /// Milliseconds from sending the request to the end of the body.
    pub elapsed_ms: u64,
    /// Response headers, names in lower case; repeated headers joined with `", "`.
    pub headers: BTreeMap<String, String>,
    /// Body as text (invalid UTF-8 replaced), at most `max_body` bytes; empty for HEAD.
    pub body: String,
    /// The body parsed as JSON when it is JSON (and complete), else `None`.
    pub json: Option<serde_json::Value>,
    /// The body was longer than `max_body` and was cut.
    pub truncated: bool,
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The deadline passed before the response was complete.
    Timeout,
    /// The connection was refused, reset or closed early.
    Connect,
    /// The host name did not resolve.
    Dns,
    /// The TLS handshake failed (untrusted or expired certificate, protocol error).
    Tls,
    /// The server answered with a status that is not 2xx ([`check`] only).
    Status,
    /// A redirect to another host was refused (or too many redirects).
    Redirect,
    /// The request itself is invalid (URL, header).
    Request,
    /// Ctrl-C.
    Interrupted,
    /// The run's wall-clock deadline passed.
    Limit,
    /// The body would have passed the run's memory budget (`policy.max_memory_mb`).
    Memory,
}

impl ErrorKind {
    /// The word scripts see (`"timeout"`, `"connect"`, `"dns"`, `"tls"`, `"status"` …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Dns => "dns",
            ErrorKind::Tls => "tls",
            ErrorKind::Status => "status",
            ErrorKind::Redirect => "redirect",
            ErrorKind::Request => "request",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Limit => "limit",
            ErrorKind::Memory => "memory",
        }
    }
}

/// A failed request: its kind, a message naming the URL, and the time spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub kind: ErrorKind,
    pub message: String,
    pub elapsed_ms: u64,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for Error {
    fn from(e: HttpError) -> Self {
        match e.kind {
            ErrorKind::Interrupted => Error::Interrupted,
            ErrorKind::Limit => Error::Limit(format!("wall-clock timeout during {}", e.message)),
            ErrorKind::Memory => Error::Limit(e.message),
            _ => Error::Failed(e.to_string()),
        }
    }
}

/// Result of [`check`].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckResult {
    /// The server answered 2xx in time.
    pub ok: bool,
    /// The status code when the server answered.
    pub status: Option<u16>,
    /// Milliseconds until the answer or the failure.
    pub elapsed_ms: u64,
    /// The error kind when not ok: `timeout`, `connect`, `dns`, `tls`, `status`, `redirect`, `request`.
    pub error: Option<String>,
    /// A human-readable description of the failure (not part of the script-visible map).
    #[serde(skip)]
    pub message: Option<String>,
}

/// Parse `url` (http or https with a host) and return it with its host (brackets removed from IPv6).
pub fn parse_url(url: &str) -> std::result::Result<(reqwest::Url, String), HttpError> {
    let bad = |m: String| HttpError {
        kind: ErrorKind::Request,
        message: m,
        elapsed_ms: 0,
    };
    let u = reqwest::Url::parse(url).map_err(|e| bad(format!("invalid URL {url:?}: {e}")))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(bad(format!(
            "invalid URL {url:?}: scheme must be http or https"
        )));
    }
    let host = u
        .host_str()
        .ok_or_else(|| bad(format!("invalid URL {url:?}: no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok((u, host))
}

/// `u` without user info, query or fragment: what messages may show.
pub fn public_url(u: &reqwest::Url) -> String {
    let mut u = u.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// The host of `url`, for the policy check.
pub fn url_host(url: &str) -> std::result::Result<String, HttpError> {
    parse_url(url).map(|(_, h)| h)
}

/// The two shared clients: without and with (same-host) redirect following.
fn clients() -> std::result::Result<&'static (Client, Client), HttpError> {
    static CLIENTS: OnceLock<std::result::Result<(Client, Client), String>> = OnceLock::new();
    let built = CLIENTS.get_or_init(|| {
        crate::host::tls::crypto_provider();
        let build = |policy: redirect::Policy| {
            Client::builder()
                .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
                .redirect(policy)
                // Straight to the host the policy allowed: no HTTP(S)_PROXY detour.
                .no_proxy()
                .timeout(None)
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {}", chain(&e)))
        };
        let follow = redirect::Policy::custom(|attempt| {
            let from = attempt
                .previous()
                .first()
                .and_then(|u| u.host_str())
                .unwrap_or("")
                .to_string();
            let to = attempt.url().host_str().unwrap_or("").to_string();
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if !from.eq_ignore_ascii_case(&to) {
                attempt.error(format!(
                    "redirect from host {from:?} to another host {to:?} refused"
                ))
            } else {
                attempt.follow()
            }
        });
        Ok((build(redirect::Policy::none())?, build(follow)?))
    });
    built.as_ref().map_err(|m| HttpError {
        kind: ErrorKind::Request,
        message: m.clone(),
        elapsed_ms: 0,
    })
}

/// The messages of an error and all its sources, joined with ": " (duplicates dropped).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        // reqwest's and hyper's wrappers repeat the URL or say nothing the cause does not.
        let noise = s.starts_with("error sending request for url")
            || s.starts_with("error following redirect for url")
            || s.starts_with("client error (");
        if !noise && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

/// Whether the error or one of its sources is a rustls error.
fn has_tls_source(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
        {
            return true;
        }
        cur = err.source();
    }
    false
}

fn has_timeout_source(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        if err
            .downcast_ref::<reqwest::Error>()
            .is_some_and(|r| r.is_timeout())
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Classify a failure of reqwest (or of reading its body).
fn classify(e: &(dyn std::error::Error + 'static), timed_out: bool) -> ErrorKind {
    let text = chain(e).to_ascii_lowercase();
    if timed_out || has_timeout_source(e) {
        ErrorKind::Timeout
    } else if has_tls_source(e) || text.contains("certificate") || text.contains("tls handshake") {
        ErrorKind::Tls
    } else if text.contains("dns error") || text.contains("failed to lookup address") {
        ErrorKind::Dns
    } else if e
        .downcast_ref::<reqwest::Error>()
        .is_some_and(|r| r.is_redirect())
    {
        ErrorKind::Redirect
    } else if e
        .downcast_ref::<reqwest::Error>()
        .is_some_and(|r| r.is_builder())
    {
        ErrorKind::Request
    } else {
        ErrorKind::Connect
    }
}

/// Whether a body looks like JSON: a JSON content type, or it starts with `{` or `[`.
fn looks_like_json(content_type: Option<&str>, body: &[u8]) -> bool {
    if content_type.is_some_and(|c| c.to_ascii_lowercase().contains("json")) {
        return true;
    }
    matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{') | Some(b'[')
    )
}

/// Send one request and read the response (body capped). Errors carry a kind; a non-2xx status is
/// not an error here (`ok` is false).
///
/// The request runs on a worker thread ([`crate::host::wait_on_worker`]): Ctrl-C
/// (`Interrupted`) and the run's deadline (`Limit`) end the wait within
/// [`crate::host::CANCEL_POLL`] whatever the request is blocked on (DNS, connect, TLS, a server
/// that never answers); the request's own timeout is capped by the time left in the run.
pub fn request(
    method: Method,
    url: &str,
    opts: &RequestOpts,
) -> std::result::Result<Response, HttpError> {
    let start = Instant::now();
    let (u, _host) = parse_url(url)?;
    let (owned_url, owned_opts) = (url.to_string(), opts.clone());
    match crate::host::wait_on_worker(&opts.cancel, move || {
        request_on_this_thread(method, &owned_url, &owned_opts)
    }) {
        Ok(r) => r,
        Err(e) => Err(HttpError {
            kind: match e {
                Error::Interrupted => ErrorKind::Interrupted,
                Error::Limit(_) => ErrorKind::Limit,
                _ => ErrorKind::Request,
            },
            message: match e {
                Error::Interrupted | Error::Limit(_) => {
                    format!("{} {}", method.as_reqwest(), public_url(&u))
                }
                other => format!("{} {}: {other}", method.as_reqwest(), public_url(&u)),
            },
            elapsed_ms: start.elapsed().as_millis() as u64,
        }),
    }
}

/// [`request`] on the calling thread (blocking until the request's own timeout).
fn request_on_this_thread(
    method: Method,
    url: &str,
    opts: &RequestOpts,
) -> std::result::Result<Response, HttpError> {
    let start = Instant::now();
    let ms = |s: Instant| s.elapsed().as_millis() as u64;
    let (u, _host) = parse_url(url)?;
    // Messages end up in the audit log and reports: never the URL's credentials or query.
    let url = &public_url(&u);
    let (plain, follow) = clients()?;
    let client = if opts.follow_redirects { follow } else { plain };

    // The run's own deadline may be nearer than the request's.
    let run_left = opts.cancel.remaining();
    let timeout = match run_left {
        Some(left) if left < opts.timeout => left,
        _ => opts.timeout,
    };
    let cut_by_run = |start: Instant| -> Option<HttpError> {
        opts.cancel.check().err().map(|e| HttpError {
            kind: if matches!(e, Error::Interrupted) {
                ErrorKind::Interrupted
            } else {
                ErrorKind::Limit
            },
            message: format!("{} {url}", method.as_reqwest()),
            elapsed_ms: ms(start),
        })
    };
    if let Some(e) = cut_by_run(start) {
        return Err(e);
    }

    let mut req = client
        .request(method.as_reqwest(), u.clone())
        .timeout(timeout);
    for (k, v) in &opts.headers {
        let name =
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|_| HttpError {
                kind: ErrorKind::Request,
                message: format!("invalid header name {k:?}"),
                elapsed_ms: 0,
            })?;
        let value = reqwest::header::HeaderValue::from_str(v).map_err(|_| HttpError {
            kind: ErrorKind::Request,
            message: format!("invalid value for header {k:?}"),
            elapsed_ms: 0,
        })?;
        req = req.header(name, value);
    }
    let has_ct = opts
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    match &opts.body {
        Some(Body::Text(t)) => {
            if !has_ct {
                req = req.header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8");
            }
            req = req.body(t.clone());
        }
        Some(Body::Json(v)) => {
            if !has_ct {
                req = req.header(reqwest::header::CONTENT_TYPE, "application/json");
            }
            req = req.body(v.to_string());
        }
        None => {}
    }

    let fail = |e: &(dyn std::error::Error + 'static), start: Instant| -> HttpError {
        if let Some(run) = cut_by_run(start) {
            return run;
        }
        let elapsed = start.elapsed();
        let timed_out = elapsed >= timeout;
        let kind = classify(e, timed_out);
        let message = if kind == ErrorKind::Timeout {
            format!(
                "{} {url}: no complete response within {} ms",
                method.as_reqwest(),
                timeout.as_millis()
            )
        } else {
            format!("{} {url}: {}", method.as_reqwest(), chain(e))
        };
        HttpError {
            kind,
            message,
            elapsed_ms: elapsed.as_millis() as u64,
        }
    };

    let mut resp = req.send().map_err(|e| fail(&e, start))?;
    let status = resp.status().as_u16();
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in resp.headers() {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        headers
            .entry(k.as_str().to_string())
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(&v);
            })
            .or_insert(v);
    }

    let over_budget = |what: &str| HttpError {
        kind: ErrorKind::Memory,
        message: format!(
            "{} {url}: {what} would pass the memory budget of {} MiB (policy.max_memory_mb)",
            method.as_reqwest(),
            opts.max_memory >> 20
        ),
        elapsed_ms: ms(start),
    };
    let mut body = Vec::new();
    let mut truncated = false;
    if method != Method::Head {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if let Some(e) = cut_by_run(start) {
                return Err(e);
            }
            let n = match resp.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(fail(&e, start)),
            };
            if n == 0 {
                break;
            }
            if opts.max_memory > 0 && crate::alloc::allocated() + n as u64 > opts.max_memory {
                return Err(over_budget(&format!(
                    "{} bytes of the body",
                    body.len() + n
                )));
            }
            let room = opts
                .max_body
                .min(MAX_BODY_CEILING)
                .saturating_sub(body.len());
            if n > room {
                body.extend_from_slice(&buf[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&buf[..n]);
            if start.elapsed() >= timeout {
                let e = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "deadline passed while reading the body",
                );
                return Err(fail(&e, start));
            }
        }
    }

    let is_json =
        !truncated && looks_like_json(headers.get("content-type").map(String::as_str), &body);
    if is_json
        && opts.max_memory > 0
        && crate::alloc::allocated() + JSON_GROWTH * body.len() as u64 > opts.max_memory
    {
        return Err(over_budget(&format!(
            "parsing the {}-byte JSON body",
            body.len()
        )));
    }
    let json = if is_json {
        serde_json::from_slice(&body).ok()
    } else {
        None
    };
    // Valid UTF-8 (the usual case) is kept without a copy.
    let body = String::from_utf8(body)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Ok(Response {
        status,
        ok: (200..300).contains(&status),
        elapsed_ms: ms(start),
        headers,
        body,
        json,
        truncated,
    })
}

/// GET `url` and report whether it answered 2xx within `timeout`. Never an error: a failure is
/// `ok: false` with its kind in `error`.
pub fn check(url: &str, timeout: Duration) -> CheckResult {
    check_with(
        url,
        &RequestOpts {
            timeout,
            max_body: 64 * 1024,
            ..RequestOpts::default()
        },
    )
}

/// [`check`] with full request options (headers, redirects, cancellation).
pub fn check_with(url: &str, opts: &RequestOpts) -> CheckResult {
    match request(Method::Get, url, opts) {
        Ok(r) if r.ok => CheckResult {
            ok: true,
            status: Some(r.status),
            elapsed_ms: r.elapsed_ms,
            error: None,
            message: None,
        },
        Ok(r) => CheckResult {
            ok: false,
            status: Some(r.status),
            elapsed_ms: r.elapsed_ms,
            error: Some(ErrorKind::Status.as_str().to_string()),
            message: Some(format!("GET {url}: status {}", r.status)),
        },
        Err(e) => CheckResult {
            ok: false,
            status: None,
            elapsed_ms: e.elapsed_ms,
            error: Some(e.kind.as_str().to_string()),
            message: Some(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::testutil::{
        DAY, Pki, closed_port, now, self_signed, silent_server, tls_server, trickle_server,
    };
    /// A tiny_http server on 127.0.0.1 with the routes the tests use. Returns the port.
    fn server() -> u16 {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        std::thread::spawn(move || {
            for mut req in server.incoming_requests() {
                let header = |k: &str, v: &str| {
                    tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap()
                };
                let url = req.url().to_string();
                let resp = match url.as_str() {
                    "/health" => tiny_http::Response::from_string(r#"{"status":"ok","uptime":12}"#)
                        .with_header(header("Content-Type", "application/json")),
                    "/text" => tiny_http::Response::from_string("plain words"),
                    "/fail" => tiny_http::Response::from_string("down").with_status_code(503),
                    "/big" => {
                        tiny_http::Response::from_string("a".repeat(2 * DEFAULT_MAX_BODY + 17))
                    }
                    "/redirect" => tiny_http::Response::from_string("")
                        .with_status_code(302)
                        .with_header(header("Location", "/health")),
                    "/redirect-other-host" => tiny_http::Response::from_string("")
                        .with_status_code(302)
                        .with_header(header(
                            "Location",
                            &format!("http://localhost:{port}/health"),
                        )),
                    "/loop" => tiny_http::Response::from_string("")
                        .with_status_code(302)
                        .with_header(header("Location", "/loop")),
                    "/echo" => {
                        let mut body = String::new();
                        let _ = req.as_reader().read_to_string(&mut body);
                        let ct = req
                            .headers()
                            .iter()
                            .find(|h| h.field.equiv("Content-Type"))
                            .map(|h| h.value.to_string())
                            .unwrap_or_default();
                        let token = req
                            .headers()
                            .iter()
                            .find(|h| h.field.equiv("X-Token"))
                            .map(|h| h.value.to_string())
                            .unwrap_or_default();
                        let out = serde_json::json!({"method": req.method().to_string(), "body": body, "content_type": ct, "token": token});
                        tiny_http::Response::from_string(out.to_string())
                    }
                    _ => tiny_http::Response::from_string("not found").with_status_code(404),
                };
                let _ = req.respond(resp);
            }
        });
        port
    }

    fn opts(timeout_ms: u64) -> RequestOpts {
        RequestOpts {
            timeout: Duration::from_millis(timeout_ms),
            ..RequestOpts::default()
        }
    }

    #[test]
    fn get_health_parses_json() {
        let port = server();
        let r = request(
            Method::Get,
            &format!("http://127.0.0.1:{port}/health"),
            &RequestOpts::default(),
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert!(r.ok);
        assert!(!r.truncated);
        assert_eq!(
            r.json,
            Some(serde_json::json!({"status": "ok", "uptime": 12}))
        );
        assert_eq!(
            r.headers.get("content-type").map(String::as_str),
            Some("application/json")
        );
        assert!(r.elapsed_ms < 5000);
    }

    #[test]
    fn text_body_has_no_json_and_errors_status_is_not_ok() {
        let port = server();
        let r = request(
            Method::Get,
            &format!("http://127.0.0.1:{port}/text"),
            &opts(2000),
        )
        .unwrap();
        assert_eq!(r.body, "plain words");
        assert_eq!(r.json, None);
        let r = request(
            Method::Get,
            &format!("http://127.0.0.1:{port}/fail"),
            &opts(2000),
        )
        .unwrap();
        assert_eq!(r.status, 503);
        assert!(!r.ok);
        assert_eq!(r.body, "down");
    }

    #[test]
    fn head_has_no_body() {
        let port = server();
        let r = request(
            Method::Head,
            &format!("http://127.0.0.1:{port}/health"),
            &opts(2000),
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "");
        assert_eq!(r.json, None);
    }

    #[test]
    fn body_is_capped_and_flagged() {
        let port = server();
        let r = request(
            Method::Get,
            &format!("http://127.0.0.1:{port}/big"),
            &opts(5000),
        )
        .unwrap();
        assert!(r.truncated);
        assert_eq!(r.body.len(), DEFAULT_MAX_BODY);
        let small = RequestOpts {
            max_body: 10,
            ..opts(5000)
        };
        let r = request(
            Method::Get,
            &format!("http://127.0.0.1:{port}/health"),
            &small,
        )
        .unwrap();
        assert!(r.truncated);
        assert_eq!(r.body, r#"{"status":"#);
        assert_eq!(r.json, None, "a cut body is not parsed");
    }

    #[test]
    fn post_sends_json_and_headers() {
        let port = server();
        let o = RequestOpts {
            body: Some(Body::Json(serde_json::json!({"a": 1}))),
            headers: vec![("X-Token".into(), "abc".into())],
            ..opts(2000)
        };
        let r = request(Method::Post, &format!("http://127.0.0.1:{port}/echo"), &o).unwrap();
        let j = r.json.unwrap();
        assert_eq!(j["method"], "POST");
        assert_eq!(j["body"], r#"{"a":1}"#);
        assert_eq!(j["content_type"], "application/json");
        assert_eq!(j["token"], "abc");

        let o = RequestOpts {
            body: Some(Body::Text("hello".into())),
            ..opts(2000)
        };
        let r = request(Method::Post, &format!("http://127.0.0.1:{port}/echo"), &o).unwrap();
        let j = r.json.unwrap();
        assert_eq!(j["body"], "hello");
        assert_eq!(j["content_type"], "text/plain; charset=utf-8");
    }

    #[test]
    fn redirects_are_not_followed_by_default() {
        let port = server();
        let r = request(
            Method::Get,
            &format!("http://127.0.0.1:{port}/redirect"),
            &opts(2000),
        )
        .unwrap();
        assert_eq!(r.status, 302);
        assert!(!r.ok);
        assert_eq!(
            r.headers.get("location").map(String::as_str),
            Some("/health")
        );
    }

    #[test]
    fn redirects_to_the_same_host_are_followed_when_asked() {
        let port = server();
        let o = RequestOpts {
            follow_redirects: true,
            ..opts(2000)
        };
        let r = request(
            Method::Get,
            &format!("http://127.0.0.1:{port}/redirect"),
            &o,
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.json.unwrap()["status"], "ok");
    }

    #[test]
    fn redirects_to_another_host_are_refused() {
        let port = server();
        let o = RequestOpts {
            follow_redirects: true,
            ..opts(2000)
        };
        let e = request(
            Method::Get,
            &format!("http://127.0.0.1:{port}/redirect-other-host"),
            &o,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Redirect, "{e}");
        assert!(e.message.contains("another host"), "{e}");
        let e = request(Method::Get, &format!("http://127.0.0.1:{port}/loop"), &o).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Redirect, "{e}");
    }

    #[test]
    fn a_server_that_never_answers_hits_the_deadline() {
        let port = silent_server();
        let start = Instant::now();
        let e = request(
            Method::Get,
            &format!("http://127.0.0.1:{port}/"),
            &opts(300),
        )
        .unwrap_err();
        let took = start.elapsed();
        assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(3),
            "took {took:?}"
        );
        assert!(e.message.contains("300 ms"), "{e}");
    }

    #[test]
    fn a_trickling_body_hits_the_same_deadline() {
        let port = trickle_server(Duration::from_millis(20));
        let start = Instant::now();
        let e = request(
            Method::Get,
            &format!("http://127.0.0.1:{port}/"),
            &opts(500),
        )
        .unwrap_err();
        let took = start.elapsed();
        assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
        assert!(
            took >= Duration::from_millis(500) && took < Duration::from_secs(3),
            "took {took:?}"
        );
        let c = check(
            &format!("http://127.0.0.1:{port}/"),
            Duration::from_millis(300),
        );
        assert!(!c.ok);
        assert_eq!(c.error.as_deref(), Some("timeout"));
    }

    #[test]
    fn check_never_throws() {
        let port = server();
        let c = check(
            &format!("http://127.0.0.1:{port}/health"),
            Duration::from_secs(2),
        );
        assert!(c.ok, "{c:?}");
        assert_eq!(c.status, Some(200));
        assert_eq!(c.error, None);

        let c = check(
            &format!("http://127.0.0.1:{port}/fail"),
            Duration::from_secs(2),
        );
        assert!(!c.ok);
        assert_eq!(c.status, Some(503));
        assert_eq!(c.error.as_deref(), Some("status"));

        let closed = closed_port();
        let c = check(
            &format!("http://127.0.0.1:{closed}/health"),
            Duration::from_secs(2),
        );
        assert!(!c.ok);
        assert_eq!(c.status, None);
        assert_eq!(c.error.as_deref(), Some("connect"), "{c:?}");

        let c = check("http://no-such-host.invalid/health", Duration::from_secs(2));
        assert_eq!(c.error.as_deref(), Some("dns"), "{c:?}");

        let silent = silent_server();
        let c = check(
            &format!("http://127.0.0.1:{silent}/health"),
            Duration::from_millis(200),
        );
        assert_eq!(c.error.as_deref(), Some("timeout"), "{c:?}");

        let c = check("ftp://127.0.0.1/", Duration::from_secs(1));
        assert_eq!(c.error.as_deref(), Some("request"), "{c:?}");
    }

    #[test]
    fn untrusted_tls_is_a_tls_error() {
        let leaf = self_signed(&["localhost"], now() - DAY, now() + DAY);
        let port = tls_server(&leaf);
        let c = check(
            &format!("https://localhost:{port}/"),
            Duration::from_secs(3),
        );
        assert_eq!(c.error.as_deref(), Some("tls"), "{c:?}");

        let pki = Pki::new();
        let leaf = pki.leaf(&["localhost"], now() - 30 * DAY, now() - DAY);
        let port = tls_server(&leaf);
        let e = request(
            Method::Get,
            &format!("https://localhost:{port}/"),
            &opts(3000),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Tls, "{e}");
    }

    #[test]
    fn invalid_urls_and_headers() {
        assert_eq!(url_host("http://[::1]:8080/x").unwrap(), "::1");
        assert_eq!(url_host("https://Example.COM/").unwrap(), "example.com");
        assert_eq!(
            url_host("file:///etc/passwd").unwrap_err().kind,
            ErrorKind::Request
        );
        assert_eq!(url_host("not a url").unwrap_err().kind, ErrorKind::Request);
        let port = server();
        let o = RequestOpts {
            headers: vec![("bad header".into(), "x".into())],
            ..opts(1000)
        };
        let e = request(Method::Get, &format!("http://127.0.0.1:{port}/health"), &o).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Request);
    }

    #[test]
    fn cancellation_cuts_a_request_short() {
        let port = silent_server();
        let cancel = Cancel::never().with_timeout(Duration::from_millis(200));
        let o = RequestOpts {
            cancel,
            ..opts(5000)
        };
        let start = Instant::now();
        let e = request(Method::Get, &format!("http://127.0.0.1:{port}/"), &o).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Limit, "{e}");
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(matches!(Error::from(e), Error::Limit(_)));
    }
}
