//! `tls::` — certificate expiry and trust of TLS servers and PEM files.
//!
//! Thin adapters over [`crate::host::tls`]. `cert` reaches hosts the policy's `http_hosts`
//! allow; `cert_file` reads files inside the policy's read roots. An expired, self-signed or
//! misnamed certificate is reported with its dates, never thrown as a handshake error; `trusted`
//! says whether the chain verifies now against the system's certificate store.

use std::path::Path;
use std::time::Duration;

use rhai::Map;
use rhai::plugin::*;

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::host::tls::{self as t, CertInfo, CertOpts};
use crate::modules::TimeoutOpts;

/// The option keys of this module's functions, for [`crate::modules::option_keys`].
pub(crate) fn option_keys() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![(
        "tls::cert",
        crate::modules::fields_of::<TimeoutOpts>().to_vec(),
    )]
}

fn cert_at(c: &Ctx, host_port: &str, opts: Map) -> Result<CertInfo> {
    let o: TimeoutOpts = crate::modules::options("tls::cert", opts)?;
    let timeout_ms = o
        .timeout_ms
        .unwrap_or(t::DEFAULT_TIMEOUT.as_millis() as u64);
    if timeout_ms == 0 {
        return Err(Error::Usage(
            "tls::cert: option \"timeout_ms\" must be > 0".into(),
        ));
    }
    let (host, _port) = t::split_host_port(host_port)?;
    c.allow_host("tls.cert", &host)?;
    let mut timeout = Duration::from_millis(timeout_ms);
    if let Some(left) = c.cancel.remaining() {
        timeout = timeout.min(left.max(Duration::from_millis(1)));
    }
    let r = t::cert_with(
        host_port,
        &CertOpts {
            timeout,
            roots: None,
            cancel: c.cancel.clone(),
        },
    );
    c.cancel.check()?;
    r
}

fn cert_in_file(c: &Ctx, path: &str) -> Result<CertInfo> {
    let real = c.allow_read("tls.cert_file", Path::new(path))?;
    t::cert_file(&real)
}

#[export_module]
pub mod tls_module {
    use super::{cert_at, cert_in_file};
    use crate::error::RhaiResult;
    use crate::modules::metrics::to_map;
    use rhai::Map;

    /// The certificate of the TLS server at `host_port` (`"example.com:443"`, `"[::1]:8443"`; the
    /// port defaults to 443) → `#{subject, issuer, sans, not_before, not_after, days_left, expired, trusted, fingerprint, serial}`.
    ///
    /// `subject`/`issuer` are distinguished names (`CN=…, O=…`), `sans` the subject alternative
    /// names (DNS names and IP addresses), `not_before`/`not_after` RFC 3339 UTC, `days_left`
    /// whole days until `not_after` truncated toward zero (9.9 → 9; expired 23 h ago → 0,
    /// 1.5 days ago → -1), `expired` whether `not_after` has passed (test it, not the sign),
    /// `fingerprint` the SHA-256 of the leaf's DER (`AB:CD:…`, as openssl prints it), `serial`
    /// the serial number in hex (`01:a2:…`), `trusted` whether the chain the server sent verifies now against
    /// the system's certificate store for this host name. An expired, self-signed or misnamed
    /// certificate is reported, not thrown. Deadline 5000 ms for connect and handshake.
    ///
    /// Throws `denied` when the host is not in `policy.http_hosts`; `usage` when `host_port` is not
    /// host:port; `failed` when the server cannot be reached, completes no TLS handshake in time,
    /// or does not speak TLS (a plain-HTTP port: "… does not speak TLS").
    ///
    /// Example:
    /// ```rhai
    /// let c = tls::cert("example.com:443");
    /// check("certificate valid 30 more days", c.days_left > 30, `${c.days_left} days`);
    /// ```
    #[rhai_fn(name = "cert", return_raw)]
    pub fn cert1(ncc: NativeCallContext, host_port: &str) -> RhaiResult<Map> {
        cert2(ncc, host_port, Map::new())
    }

    /// `cert(host_port)` with options: `timeout_ms` — deadline for connect and handshake
    /// (default 5000) → `#{subject, issuer, sans, not_before, not_after, days_left, expired, trusted, fingerprint, serial}`.
    ///
    /// Throws like `cert(host_port)`, and `usage` for an unknown or ill-typed option.
    ///
    /// Example:
    /// ```rhai
    /// let c = tls::cert("example.com:443", #{ timeout_ms: 3000 });
    /// print(c.not_after);
    /// ```
    #[rhai_fn(name = "cert", return_raw)]
    pub fn cert2(ncc: NativeCallContext, host_port: &str, opts: Map) -> RhaiResult<Map> {
        let info = crate::modules::host(&ncc, |c| cert_at(c, host_port, opts))?;
        to_map(&info)
    }

    /// The certificate in PEM file `path` → `#{subject, issuer, sans, not_before, not_after, days_left, expired, trusted, fingerprint, serial}`.
    ///
    /// For a chain (`fullchain.pem`) the leaf is reported: the first certificate that is not a CA;
    /// the others serve as intermediates. `trusted`: the chain verifies now against the system's
    /// certificate store (no host name is checked). Other PEM blocks (keys) are ignored.
    ///
    /// Throws `denied` outside the policy's read roots; an I/O error when the file cannot be read;
    /// `failed` when it holds no certificate or a malformed one.
    ///
    /// Example:
    /// ```rhai
    /// let c = tls::cert_file("certs/server.pem");
    /// print(`${c.subject}: ${c.days_left} days left`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cert_file(ncc: NativeCallContext, path: &str) -> RhaiResult<Map> {
        let info = crate::modules::host(&ncc, |c| cert_in_file(c, path))?;
        to_map(&info)
    }
}
