//! `http::` — HTTP requests (reqwest, blocking, rustls) to hosts the policy allows.
//!
//! Thin adapters over [`crate::host::http`]. Every URL's host is checked against
//! `policy.http_hosts` first (a denial is audited and ends the run with exit 4). `post` is an
//! effect: audited (the URL without its query string; never headers or the body) and only
//! planned under `--dry-run`. Each request has one deadline (`timeout_ms`, default 5000) that
//! covers connecting, TLS, headers and body; the run's own deadline and Ctrl-C cut it short too.

use std::time::Duration;

use rhai::Map;
use rhai::plugin::*;
use serde::Deserialize;
use serde_json::json;

use crate::ctx::Ctx;
use crate::effects::Need;
use crate::error::{Error, Result, RhaiResult};
use crate::host::http::{self as h, Body, Method, RequestOpts};

/// The options of `get`, `head`, `post` and `check`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpOpts {
    timeout_ms: Option<u64>,
    headers: Option<std::collections::BTreeMap<String, Dynamic>>,
    follow_redirects: Option<bool>,
    body: Option<String>,
    json: Option<Dynamic>,
    max_body: Option<u64>,
}

/// The option keys of this module's functions, for [`crate::modules::option_keys`].
pub(crate) fn option_keys() -> Vec<(&'static str, Vec<&'static str>)> {
    let all = crate::modules::fields_of::<HttpOpts>();
    let no_body: Vec<&str> = all
        .iter()
        .copied()
        .filter(|k| !matches!(*k, "body" | "json"))
        .collect();
    vec![
        ("http::get", no_body.clone()),
        ("http::head", no_body.clone()),
        ("http::check", no_body),
        ("http::post", all.to_vec()),
    ]
}

/// Read the options map of `func`; `body`/`json` only when `with_body`.
fn request_opts(func: &str, opts: Map, with_body: bool, c: &Ctx) -> Result<RequestOpts> {
    let o: HttpOpts = crate::modules::options(func, opts)?;
    let timeout_ms = o
        .timeout_ms
        .unwrap_or(h::DEFAULT_TIMEOUT.as_millis() as u64);
    if timeout_ms == 0 {
        return Err(Error::Usage(format!(
            "{func}: option \"timeout_ms\" must be > 0"
        )));
    }
    let headers: Vec<(String, String)> = o
        .headers
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let v = if v.is_string() {
                v.into_string().unwrap_or_default()
            } else {
                v.to_string()
            };
            (k, v)
        })
        .collect();
    let body = match (o.body, o.json) {
        (Some(_), Some(_)) => {
            return Err(Error::Usage(format!(
                "{func}: give either \"body\" or \"json\", not both"
            )));
        }
        (Some(text), None) => Some(Body::Text(text)),
        (None, Some(v)) => Some(Body::Json(crate::modules::dynamic_to_json(&v).map_err(
            |e| {
                Error::Usage(format!(
                    "{func}: option \"json\" cannot be sent as JSON: {e}"
                ))
            },
        )?)),
        (None, None) => None,
    };
    if body.is_some() && !with_body {
        return Err(Error::Usage(format!(
            "{func}: only http::post sends a body (\"body\" or \"json\")"
        )));
    }
    let max_body = o.max_body.unwrap_or(h::DEFAULT_MAX_BODY as u64);
    if max_body > h::MAX_BODY_CEILING as u64 {
        return Err(Error::Usage(format!(
            "{func}: option \"max_body\" must be at most {} (32 MiB), got {max_body}",
            h::MAX_BODY_CEILING
        )));
    }
    Ok(RequestOpts {
        timeout: Duration::from_millis(timeout_ms),
        headers,
        follow_redirects: o.follow_redirects.unwrap_or(false),
        body,
        max_body: usize::try_from(max_body).unwrap_or(usize::MAX),
        cancel: c.cancel.clone(),
        max_memory: c.config.policy.max_memory_mb.saturating_mul(1 << 20),
    })
}

/// The host of `url` (a bad URL is a usage error), checked against `policy.http_hosts`.
fn allowed_host(c: &Ctx, action: &str, url: &str) -> Result<String> {
    let host = h::url_host(url).map_err(|e| Error::Usage(format!("{action}: {}", e.message)))?;
    c.allow_host(action, &host)?;
    Ok(host)
}

/// `url` without user info, query or fragment: what the audit log may show.
fn audit_target(url: &str) -> String {
    match h::parse_url(url) {
        Ok((mut u, _)) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

fn response_map(r: &h::Response) -> RhaiResult<Map> {
    crate::modules::metrics::to_map(r)
}

/// GET or HEAD (not effects).
fn read_request(
    c: &Ctx,
    method: Method,
    func: &str,
    action: &str,
    url: &str,
    opts: Map,
) -> Result<h::Response> {
    let o = request_opts(func, opts, false, c)?;
    allowed_host(c, action, url)?;
    Ok(h::request(method, url, &o)?)
}

/// POST as an effect; under `--dry-run` nothing is sent and a `status: 0` response is returned.
fn post_effect(c: &Ctx, url: &str, opts: Map) -> Result<h::Response> {
    let o = request_opts("http::post", opts, true, c)?;
    let host = h::url_host(url).map_err(|e| Error::Usage(format!("http.post: {}", e.message)))?;
    let target = audit_target(url);
    let args = json!({
        "method": "POST",
        "timeout_ms": o.timeout.as_millis() as u64,
        "body": match &o.body { Some(Body::Json(_)) => "json", Some(Body::Text(_)) => "text", None => "none" },
    });
    let done = c.effect(
        "http.post",
        &target,
        args,
        &[Need::Host(host)],
        false,
        || Ok(h::request(Method::Post, url, &o)?),
    )?;
    Ok(done.unwrap_or(h::Response {
        status: 0,
        ok: true,
        elapsed_ms: 0,
        headers: Default::default(),
        body: String::new(),
        json: None,
        truncated: false,
    }))
}

fn check_request(c: &Ctx, url: &str, opts: Map) -> Result<h::CheckResult> {
    let o = request_opts("http::check", opts, false, c)?;
    allowed_host(c, "http.check", url)?;
    let r = h::check_with(url, &o);
    // Ctrl-C, the run's deadline and the memory budget still stop the run.
    c.cancel.check()?;
    if r.error.as_deref() == Some(h::ErrorKind::Memory.as_str()) {
        return Err(Error::Limit(r.message.unwrap_or_default()));
    }
    Ok(r)
}

#[export_module]
pub mod http_module {
    use super::{check_request, post_effect, read_request, response_map};
    use crate::error::RhaiResult;
    use crate::host::http::Method;
    use rhai::Map;

    /// GET `url` → `#{status, ok, elapsed_ms, headers, body, json, truncated}` (see `get(url, opts)`).
    ///
    /// Throws `denied` when the URL's host is not in `policy.http_hosts`; an error whose message
    /// starts with its kind (`timeout`, `connect`, `dns`, `tls`) when there is no answer.
    ///
    /// Example:
    /// ```rhai
    /// let url = service::info("lowcode-platform").stats_url;   // any URL whose host is in http_hosts
    /// let r = http::get(url);
    /// print(r.status);
    /// ```
    #[rhai_fn(name = "get", return_raw)]
    pub fn get1(ncc: NativeCallContext, url: &str) -> RhaiResult<Map> {
        get2(ncc, url, Map::new())
    }

    /// GET `url` → `#{status, ok, elapsed_ms, headers, body, json, truncated}`.
    ///
    /// * `opts.timeout_ms` — deadline for the whole request, connect to last body byte (default 5000).
    /// * `opts.headers` — map of request headers.
    /// * `opts.follow_redirects` — follow 3xx to the same host (default false: the 3xx is returned;
    ///   a redirect to another host is refused).
    /// * `opts.max_body` — body bytes kept (default 1048576, at most 33554432 = 32 MiB); beyond
    ///   it `truncated` is true. What is read counts against `policy.max_memory_mb`: a body that
    ///   would pass it (or whose JSON parse could, at 8× its size) throws `limit` (exit 3).
    ///
    /// `status` is the HTTP code, `ok` whether it is 2xx, `elapsed_ms` the time taken, `headers` a
    /// map with lower-case names, `body` the text, `json` the body parsed as JSON when it is JSON
    /// (else `()`). A 4xx/5xx answer is not an error: check `ok`.
    ///
    /// Throws `denied` when the host is not in `policy.http_hosts`; `usage` for a bad URL or
    /// option; a `failed` error whose message starts with `timeout`, `connect`, `dns`, `tls` or
    /// `redirect` when no answer came.
    ///
    /// Example:
    /// ```rhai
    /// let url = service::info("lowcode-platform").stats_url;   // any URL whose host is in http_hosts
    /// let r = http::get(url, #{ timeout_ms: 2000, headers: #{ accept: "application/json" } });
    /// print(r.json);
    /// ```
    #[rhai_fn(name = "get", return_raw)]
    pub fn get2(ncc: NativeCallContext, url: &str, opts: Map) -> RhaiResult<Map> {
        let r = crate::modules::host(&ncc, |c| {
            read_request(c, Method::Get, "http::get", "http.get", url, opts)
        })?;
        response_map(&r)
    }

    /// HEAD `url` → `#{status, ok, elapsed_ms, headers, body, json, truncated}` with an empty body.
    ///
    /// Throws like `get`.
    ///
    /// Example:
    /// ```rhai
    /// let url = service::info("lowcode-platform").stats_url;   // any URL whose host is in http_hosts
    /// print(http::head(url).status);
    /// ```
    #[rhai_fn(name = "head", return_raw)]
    pub fn head1(ncc: NativeCallContext, url: &str) -> RhaiResult<Map> {
        head2(ncc, url, Map::new())
    }

    /// HEAD `url` with the options of `get` → `#{status, ok, elapsed_ms, headers, body, json, truncated}`
    /// (`body` empty).
    ///
    /// Throws like `get`.
    ///
    /// Example:
    /// ```rhai
    /// let url = service::info("lowcode-platform").stats_url;   // any URL whose host is in http_hosts
    /// print(http::head(url, #{ timeout_ms: 2000 }).ok);
    /// ```
    #[rhai_fn(name = "head", return_raw)]
    pub fn head2(ncc: NativeCallContext, url: &str, opts: Map) -> RhaiResult<Map> {
        let r = crate::modules::host(&ncc, |c| {
            read_request(c, Method::Head, "http::head", "http.head", url, opts)
        })?;
        response_map(&r)
    }

    /// POST to `url` (effect `http.post`) → `#{status, ok, elapsed_ms, headers, body, json, truncated}`.
    ///
    /// Options of `get`, plus `opts.body` (text, sent as `text/plain`) or `opts.json` (any value,
    /// sent as `application/json`). The audit log records the URL without its query string, never
    /// headers or the body. Under `--dry-run` nothing is sent and the map has `status: 0`, `ok: true`.
    ///
    /// Throws `denied` when the host is not in `policy.http_hosts`; `usage` for a bad URL or
    /// option (both `body` and `json`); a `failed` error starting with its kind when no answer came.
    ///
    /// Example:
    /// ```rhai
    /// let url = service::info("lowcode-platform").stats_url;   // any URL whose host is in http_hosts
    /// let r = http::post(url, #{ json: #{ event: "deploy", version: "1.4.2" } });
    /// print(r.status);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn post(ncc: NativeCallContext, url: &str, opts: Map) -> RhaiResult<Map> {
        let r = crate::modules::host(&ncc, |c| post_effect(c, url, opts))?;
        response_map(&r)
    }

    /// Health check: GET `url` (deadline 5000 ms) → `#{ok, status, elapsed_ms, error}`.
    ///
    /// Never throws for network errors: `ok` is true only for a 2xx answer; otherwise `error` is
    /// the kind — `"timeout"`, `"connect"`, `"dns"`, `"tls"`, `"status"` (answered, not 2xx) or
    /// `"redirect"` — and `status` is the HTTP code, or `()` when nothing answered.
    ///
    /// Throws `denied` when the host is not in `policy.http_hosts`, `usage` for a bad URL.
    ///
    /// Example:
    /// ```rhai
    /// let url = service::info("lowcode-platform").stats_url;   // any URL whose host is in http_hosts
    /// let h = http::check(url);
    /// check("stats endpoint answers", h.ok, `${h.elapsed_ms} ms`);
    /// ```
    #[rhai_fn(name = "check", return_raw)]
    pub fn check1(ncc: NativeCallContext, url: &str) -> RhaiResult<Map> {
        check2(ncc, url, Map::new())
    }

    /// Health check with options `timeout_ms`, `headers`, `follow_redirects` (as for `get`) →
    /// `#{ok, status, elapsed_ms, error}`; never throws for network errors (see `check(url)`).
    ///
    /// Throws `denied` when the host is not in `policy.http_hosts`, `usage` for a bad URL or option.
    ///
    /// Example:
    /// ```rhai
    /// let url = service::info("lowcode-platform").stats_url;   // any URL whose host is in http_hosts
    /// let h = http::check(url, #{ timeout_ms: 1000 });
    /// print(h.error);   // () when it answered 2xx
    /// ```
    #[rhai_fn(name = "check", return_raw)]
    pub fn check2(ncc: NativeCallContext, url: &str, opts: Map) -> RhaiResult<Map> {
        let r = crate::modules::host(&ncc, |c| check_request(c, url, opts))?;
        crate::modules::metrics::to_map(&r)
    }
}
