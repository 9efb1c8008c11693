//! TLS certificates: expiry and trust of a live server's certificate or of a PEM file.
//!
//! The server's chain is fetched with rustls and a verifier that accepts anything, so an
//! expired, self-signed or wrongly named certificate is still read and reported with its dates
//! instead of failing the handshake. Whether it is `trusted` is decided afterwards, separately:
//! the chain must lead to a root of the operating system's certificate store (loaded with
//! `rustls-native-certs`, which reads `/etc/ssl/certs` and the like and honours `SSL_CERT_FILE` /
//! `SSL_CERT_DIR`) — the same store `http::` trusts — be valid now, and (for a server) name the
//! host asked for.
//!
//! Certificates are parsed with x509-parser. The crypto provider is rustls' `ring`.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use serde::Serialize;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::error::{Error, Result};

/// Largest PEM file `cert_file` reads (a bundle of a few hundred certificates fits).
pub const MAX_PEM_BYTES: u64 = 4 << 20;

/// Default deadline for connecting and completing the handshake.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5000);

/// What `tls::cert` and `tls::cert_file` report about a certificate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CertInfo {
    /// Subject distinguished name (`CN=example.com, O=…`).
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Subject alternative names: DNS names, IP addresses, e-mail addresses and URIs.
    pub sans: Vec<String>,
    /// Start of validity, RFC 3339 UTC.
    pub not_before: String,
    /// End of validity, RFC 3339 UTC.
    pub not_after: String,
    /// Whole days until `not_after`, truncated toward zero: 9.9 days left → 9, expired 1.5 days
    /// ago → -1, expired 23 hours ago → 0 (then `expired` is true — test `expired`, not the sign).
    pub days_left: i64,
    /// `not_after` has passed.
    pub expired: bool,
    /// The chain verifies now against the system's roots (and names the host, for a server).
    pub trusted: bool,
    /// SHA-256 of the leaf certificate's DER bytes, upper-case hex pairs joined by `:` — the
    /// form of `openssl x509 -noout -fingerprint -sha256`.
    pub fingerprint: String,
    /// The serial number, lower-case hex pairs joined by `:` (as x509-parser and
    /// `openssl x509 -noout -serial` print it, the latter without colons).
    pub serial: String,
}

/// The process-wide rustls crypto provider (`ring`), installed as the default on first use so
/// reqwest (built with `rustls-no-provider`) finds it too.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            // Err only when another provider was installed first; that one is then used.
            let _ = rustls::crypto::ring::default_provider().install_default();
            CryptoProvider::get_default()
                .cloned()
                .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
        })
        .clone()
}

/// The operating system's trusted roots, loaded once. Unreadable entries are skipped.
pub fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let loaded = rustls_native_certs::load_native_certs();
            let mut store = RootCertStore::empty();
            let (_added, _ignored) = store.add_parsable_certificates(loaded.certs);
            Arc::new(store)
        })
        .clone()
}

/// Options of [`cert_with`].
#[derive(Debug, Clone)]
pub struct CertOpts {
    /// Deadline for resolving, connecting and the handshake.
    pub timeout: Duration,
    /// Roots deciding `trusted` (default: the system's).
    pub roots: Option<Arc<RootCertStore>>,
    /// Ctrl-C and the run's deadline: the wait for resolving, connecting and the handshake ends
    /// within [`crate::host::CANCEL_POLL`] of either.
    pub cancel: crate::cancel::Cancel,
}

impl Default for CertOpts {
    fn default() -> Self {
        CertOpts {
            timeout: DEFAULT_TIMEOUT,
            roots: None,
            cancel: crate::cancel::Cancel::never(),
        }
    }
}

/// A verifier that accepts every certificate and signature: we only want to read the chain.
#[derive(Debug)]
struct AcceptAnything {
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_tls12_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// Split `host:port` (`[v6]:port`; the port defaults to 443 when absent).
pub fn split_host_port(s: &str) -> Result<(String, u16)> {
    let bad = || Error::Usage(format!("tls::cert: {s:?} is not host:port"));
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => 443,
            None => return Err(bad()),
        };
        return Ok((host.to_string(), port));
    }
    match s.rsplit_once(':') {
        // A bare IPv6 address without brackets has several colons and no port.
        Some((h, _)) if h.contains(':') => Ok((s.to_string(), 443)),
        Some((h, p)) if !h.is_empty() => Ok((h.to_string(), p.parse().map_err(|_| bad())?)),
        Some(_) => Err(bad()),
        None => Ok((s.to_string(), 443)),
    }
}

/// The certificate of the TLS server at `host_port`, with the default options.
pub fn cert(host_port: &str) -> Result<CertInfo> {
    cert_with(host_port, &CertOpts::default())
}

/// The certificate of the TLS server at `host_port` (the leaf of the chain it sends).
/// Errors when the server cannot be reached or does not complete a TLS handshake in time; an
/// expired, self-signed or misnamed certificate is not an error.
pub fn cert_with(host_port: &str, opts: &CertOpts) -> Result<CertInfo> {
    let (host, port) = split_host_port(host_port)?;
    let (h, timeout) = (host.clone(), opts.timeout);
    let chain = crate::host::wait_on_worker(&opts.cancel, move || fetch_chain(&h, port, timeout))??;
    let server_name = ServerName::try_from(host.clone())
        .map_err(|_| Error::Usage(format!("tls::cert: {host:?} is not a valid host name")))?;
    let roots = opts.roots.clone().unwrap_or_else(system_roots);
    describe(&chain, Some(&server_name), &roots, Utc::now())
        .map_err(|e| Error::failed(format!("tls::cert {host}:{port}: {e}")))
}

fn fetch_chain(host: &str, port: u16, timeout: Duration) -> Result<Vec<CertificateDer<'static>>> {
    let start = Instant::now();
    let place = format!("{host}:{port}");
    let fail = |what: &str| Error::failed(format!("tls::cert {place}: {what}"));
    let left = |start: Instant| timeout.saturating_sub(start.elapsed());

    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| fail(&format!("cannot resolve host: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(fail("host resolves to no address"));
    }
    let mut last_err = None;
    let mut sock = None;
    for addr in &addrs {
        let remaining = left(start);
        if remaining.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(addr, remaining) {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let mut sock = match (sock, last_err) {
        (Some(s), _) => s,
        (None, Some(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
            return Err(fail(&format!(
                "connect timed out after {} ms",
                timeout.as_millis()
            )));
        }
        (None, Some(e)) => return Err(fail(&format!("connect: {e}"))),
        (None, None) => {
            return Err(fail(&format!(
                "connect timed out after {} ms",
                timeout.as_millis()
            )));
        }
    };

    let provider = crypto_provider();
    let verifier = AcceptAnything {
        schemes: provider
            .signature_verification_algorithms
            .supported_schemes(),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(&format!("TLS configuration: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let server_name = ServerName::try_from(host.to_string())
        .map_err(|_| fail("not a valid host name for TLS"))?;
    let mut conn = ClientConnection::new(Arc::new(config), server_name)
        .map_err(|e| fail(&format!("TLS setup: {e}")))?;

    let timed_out = || {
        fail(&format!(
            "no TLS handshake within {} ms",
            timeout.as_millis()
        ))
    };
    while conn.is_handshaking() {
        let remaining = left(start);
        if remaining.is_zero() {
            return Err(timed_out());
        }
        let _ = sock.set_read_timeout(Some(remaining));
        let _ = sock.set_write_timeout(Some(remaining));
        match conn.complete_io(&mut sock) {
            Ok((0, 0)) if conn.is_handshaking() => {
                return Err(fail(
                    "the server closed the connection during the TLS handshake",
                ));
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out());
            }
            // A plain-HTTP (or other) server answers the ClientHello with something that is not
            // a TLS record.
            Err(e)
                if e.get_ref()
                    .and_then(|i| i.downcast_ref::<rustls::Error>())
                    .is_some_and(|r| matches!(r, rustls::Error::InvalidMessage(_))) =>
            {
                return Err(fail(
                    "does not speak TLS (the server answered the TLS handshake with something else, e.g. plain HTTP)",
                ));
            }
            Err(e) => return Err(fail(&format!("TLS handshake: {e}"))),
        }
    }
    let chain: Vec<CertificateDer<'static>> = conn
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
        .unwrap_or_default();
    // Say goodbye politely; failures here do not matter.
    conn.send_close_notify();
    let _ = conn.write_tls(&mut sock);
    let _ = sock.flush();
    if chain.is_empty() {
        return Err(fail("the server sent no certificate"));
    }
    Ok(chain)
}

/// The certificate in the PEM file at `path` (for a chain, the leaf: the first certificate that
/// is not a CA), trust decided against the system's roots without a host name.
pub fn cert_file(path: &Path) -> Result<CertInfo> {
    cert_file_with(path, &system_roots())
}

/// [`cert_file`] with explicit roots.
pub fn cert_file_with(path: &Path, roots: &RootCertStore) -> Result<CertInfo> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(
            crate::host::open_regular(path, "reading certificate")?,
            MAX_PEM_BYTES + 1,
        ),
        &mut bytes,
    )
    .map_err(|e| Error::io("reading certificate", path, e))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(Error::Limit(format!(
            "tls::cert_file {}: larger than {MAX_PEM_BYTES} bytes",
            path.display()
        )));
    }
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(&bytes) {
        let c = item.map_err(|e| {
            Error::failed(format!("tls::cert_file {}: bad PEM: {e}", path.display()))
        })?;
        certs.push(c);
    }
    if certs.is_empty() {
        return Err(Error::failed(format!(
            "tls::cert_file {}: no CERTIFICATE block found",
            path.display()
        )));
    }
    // Put the leaf first, the rest (intermediates, roots) after it in file order.
    let leaf = certs
        .iter()
        .position(|c| X509Certificate::from_der(c.as_ref()).is_ok_and(|(_, x)| !x.is_ca()))
        .unwrap_or(0);
    let leaf_cert = certs.remove(leaf);
    certs.insert(0, leaf_cert);
    describe(&certs, None, roots, Utc::now())
        .map_err(|e| Error::failed(format!("tls::cert_file {}: {e}", path.display())))
}

fn rfc3339(ts: i64) -> std::result::Result<(String, DateTime<Utc>), String> {
    let dt = DateTime::<Utc>::from_timestamp(ts, 0)
        .ok_or_else(|| format!("timestamp {ts} out of range"))?;
    Ok((crate::timefmt::rfc3339(dt), dt))
}

/// Describe `chain[0]` (the leaf), deciding trust with `chain[1..]` as intermediates.
pub fn describe(
    chain: &[CertificateDer<'_>],
    server_name: Option<&ServerName<'_>>,
    roots: &RootCertStore,
    now: DateTime<Utc>,
) -> std::result::Result<CertInfo, String> {
    let leaf = chain.first().ok_or("empty certificate chain")?;
    let (_, x) = X509Certificate::from_der(leaf.as_ref())
        .map_err(|e| format!("cannot parse certificate: {e}"))?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = x.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                    sans.push(s.to_string())
                }
                GeneralName::IPAddress(b) => match b.len() {
                    4 => sans.push(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(b);
                        sans.push(std::net::Ipv6Addr::from(a).to_string());
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    let (not_before, _) = rfc3339(x.validity().not_before.timestamp())?;
    let (not_after, end) = rfc3339(x.validity().not_after.timestamp())?;
    let secs_left = (end - now).num_milliseconds() as f64 / 1000.0;
    let days_left = (secs_left / 86_400.0).trunc() as i64;
    let expired = now > end;

    let trusted = {
        let provider = crypto_provider();
        match rustls::server::ParsedCertificate::try_from(leaf) {
            Ok(parsed) => {
                let now_unix =
                    UnixTime::since_unix_epoch(Duration::from_secs(now.timestamp().max(0) as u64));
                let chain_ok = rustls::client::verify_server_cert_signed_by_trust_anchor(
                    &parsed,
                    roots,
                    &chain[1..],
                    now_unix,
                    provider.signature_verification_algorithms.all,
                )
                .is_ok();
                chain_ok
                    && server_name
                        .is_none_or(|n| rustls::client::verify_server_name(&parsed, n).is_ok())
            }
            Err(_) => false,
        }
    };

    Ok(CertInfo {
        subject: x.subject().to_string(),
        issuer: x.issuer().to_string(),
        sans,
        not_before,
        not_after,
        days_left,
        expired,
        trusted,
        fingerprint: {
            use sha2::Digest;
            sha2::Sha256::digest(leaf.as_ref())
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":")
        },
        serial: x.raw_serial_as_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::testutil::{
        DAY, Pki, closed_port, now, self_signed, silent_server, tls_server,
    };

    fn opts(pki: &Pki) -> CertOpts {
        CertOpts {
            timeout: Duration::from_secs(5),
            roots: Some(pki.roots()),
            ..CertOpts::default()
        }
    }

    #[test]
    fn valid_certificate_from_a_live_server() {
        let pki = Pki::new();
        let leaf = pki.leaf(
            &["localhost", "127.0.0.1"],
            now() - DAY,
            now() + 90 * DAY + 3600,
        );
        let port = tls_server(&leaf);
        let c = cert_with(&format!("localhost:{port}"), &opts(&pki)).unwrap();
        assert_eq!(c.days_left, 90);
        assert!(!c.expired);
        assert!(c.trusted, "{c:?}");
        assert!(c.subject.contains("CN=localhost"), "{}", c.subject);
        assert!(c.issuer.contains("CN=runbook test CA"), "{}", c.issuer);
        assert_eq!(
            c.sans,
            vec!["localhost".to_string(), "127.0.0.1".to_string()]
        );
        assert!(c.not_after.ends_with('Z'));
        // The same server reached by IP address: the IP SAN matches.
        let c = cert_with(&format!("127.0.0.1:{port}"), &opts(&pki)).unwrap();
        assert!(c.trusted);
    }

    #[test]
    fn expired_yesterday_is_reported_not_thrown() {
        let pki = Pki::new();
        let leaf = pki.leaf(&["localhost"], now() - 30 * DAY, now() - DAY + 3600);
        let port = tls_server(&leaf);
        let c = cert_with(&format!("localhost:{port}"), &opts(&pki)).unwrap();
        assert!(c.expired);
        // 23 hours past expiry: no whole day yet.
        assert_eq!(c.days_left, 0);
        assert!(!c.trusted, "an expired certificate is not trusted");
    }

    #[test]
    fn expiring_in_ten_days() {
        let pki = Pki::new();
        let leaf = pki.leaf(&["localhost"], now() - DAY, now() + 10 * DAY + 3600);
        let port = tls_server(&leaf);
        let c = cert_with(&format!("localhost:{port}"), &opts(&pki)).unwrap();
        assert_eq!(c.days_left, 10);
        assert!(!c.expired);
        assert!(c.trusted);
    }

    #[test]
    fn self_signed_is_read_but_not_trusted() {
        let pki = Pki::new();
        let leaf = self_signed(&["localhost"], now() - DAY, now() + 30 * DAY + 3600);
        let port = tls_server(&leaf);
        let c = cert_with(&format!("localhost:{port}"), &opts(&pki)).unwrap();
        assert_eq!(c.days_left, 30);
        assert!(!c.expired);
        assert!(!c.trusted);
        assert_eq!(c.subject, c.issuer);
        // Nor by the system's roots.
        let c = cert(&format!("localhost:{port}")).unwrap();
        assert!(!c.trusted);
    }

    #[test]
    fn a_certificate_for_another_name_is_not_trusted() {
        let pki = Pki::new();
        let leaf = pki.leaf(&["service.example.test"], now() - DAY, now() + 30 * DAY);
        let port = tls_server(&leaf);
        let c = cert_with(&format!("localhost:{port}"), &opts(&pki)).unwrap();
        assert!(!c.trusted);
        assert!(!c.expired);
        assert_eq!(c.sans, vec!["service.example.test".to_string()]);
    }

    #[test]
    fn a_silent_server_hits_the_deadline() {
        let port = silent_server();
        let start = Instant::now();
        let err = cert_with(
            &format!("127.0.0.1:{port}"),
            &CertOpts {
                timeout: Duration::from_millis(300),
                ..CertOpts::default()
            },
        )
        .unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "took {:?}",
            start.elapsed()
        );
        assert!(
            err.to_string().contains("no TLS handshake within 300 ms"),
            "{err}"
        );
    }

    #[test]
    fn nothing_listening_is_a_connect_error() {
        let port = closed_port();
        let err = cert(&format!("127.0.0.1:{port}")).unwrap_err();
        assert!(err.to_string().contains("connect"), "{err}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }

    #[test]
    fn days_left_truncates_toward_zero() {
        let leaf = self_signed(&["localhost"], now() - DAY, now() + 10 * DAY);
        let roots = RootCertStore::empty();
        let at = |t: i64| DateTime::<Utc>::from_timestamp(t, 0).unwrap();
        let end = now() + 10 * DAY;
        // One second short of ten days: 9 whole days left.
        let c = describe(&leaf.chain, None, &roots, at(end - 10 * DAY + 1)).unwrap();
        assert_eq!(c.days_left, 9);
        assert!(!c.expired);
        let c = describe(&leaf.chain, None, &roots, at(end - 10 * DAY)).unwrap();
        assert_eq!(c.days_left, 10);
        // Half a day after expiry: 0 whole days, and expired.
        let c = describe(&leaf.chain, None, &roots, at(end + DAY / 2)).unwrap();
        assert_eq!(c.days_left, 0);
        assert!(c.expired);
        // A day and a minute after expiry: -1 (not -2), expired.
        let c = describe(&leaf.chain, None, &roots, at(end + DAY + 60)).unwrap();
        assert_eq!(c.days_left, -1);
        assert!(c.expired);
        // The fingerprint is the SHA-256 of the DER, the serial in hex.
        use sha2::Digest;
        let want = sha2::Sha256::digest(leaf.chain[0].as_ref())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(c.fingerprint, want);
        assert_eq!(c.fingerprint.len(), 32 * 3 - 1);
        assert!(
            !c.serial.is_empty()
                && c.serial
                    .chars()
                    .all(|ch| ch.is_ascii_hexdigit() || ch == ':')
        );
    }

    #[test]
    fn a_plain_http_port_does_not_speak_tls() {
        // What Node's HTTP server does with bytes that are not HTTP: 400 and close.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            use std::io::Read;
            for mut s in listener.incoming().flatten() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
            }
        });
        let err = cert_with(&format!("127.0.0.1:{port}"), &CertOpts::default()).unwrap_err();
        assert_eq!(err.kind(), "failed");
        assert!(err.to_string().contains("does not speak TLS"), "{err}");
    }

    #[test]
    fn cert_file_takes_the_leaf_of_a_chain() {
        let pki = Pki::new();
        let leaf = pki.leaf(
            &["files.example.test"],
            now() - DAY,
            now() + 20 * DAY + 3600,
        );
        let dir = tempfile::tempdir().unwrap();

        let full = dir.path().join("fullchain.pem");
        std::fs::write(&full, &leaf.chain_pem).unwrap();
        let c = cert_file_with(&full, &pki.roots()).unwrap();
        assert!(c.subject.contains("CN=files.example.test"), "{}", c.subject);
        assert_eq!(c.days_left, 20);
        assert!(c.trusted);

        // CA first, key block mixed in: still the leaf.
        let mixed = dir.path().join("mixed.pem");
        std::fs::write(
            &mixed,
            format!("{}{}{}", pki.ca_pem, leaf.key_pem, leaf.leaf_pem),
        )
        .unwrap();
        let c = cert_file_with(&mixed, &pki.roots()).unwrap();
        assert!(c.subject.contains("CN=files.example.test"), "{}", c.subject);
        assert!(c.trusted);

        // Leaf alone: trusted too (the CA is a root).
        let alone = dir.path().join("leaf.pem");
        std::fs::write(&alone, &leaf.leaf_pem).unwrap();
        assert!(cert_file_with(&alone, &pki.roots()).unwrap().trusted);
        // Against the system's roots it is not.
        assert!(!cert_file(&alone).unwrap().trusted);
    }

    #[test]
    fn cert_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = cert_file(&missing).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");

        let no_cert = dir.path().join("key-only.pem");
        let leaf = self_signed(&["localhost"], now() - DAY, now() + DAY);
        std::fs::write(&no_cert, &leaf.key_pem).unwrap();
        let err = cert_file(&no_cert).unwrap_err();
        assert!(err.to_string().contains("no CERTIFICATE block"), "{err}");
        assert!(err.to_string().contains("key-only.pem"), "{err}");

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\n!!!notbase64\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = cert_file(&garbage).unwrap_err();
        assert!(err.to_string().contains("garbage.pem"), "{err}");
    }

    #[test]
    fn host_port_parsing() {
        assert_eq!(
            split_host_port("example.com:8443").unwrap(),
            ("example.com".into(), 8443)
        );
        assert_eq!(
            split_host_port("example.com").unwrap(),
            ("example.com".into(), 443)
        );
        assert_eq!(split_host_port("[::1]:8443").unwrap(), ("::1".into(), 8443));
        assert_eq!(split_host_port("[::1]").unwrap(), ("::1".into(), 443));
        assert_eq!(split_host_port("::1").unwrap(), ("::1".into(), 443));
        assert!(split_host_port("example.com:http").is_err());
        assert!(split_host_port(":443").is_err());
        assert!(split_host_port("").is_err());
        assert!(split_host_port("example.com:70000").is_err());
    }
}
