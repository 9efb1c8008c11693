//! Test helpers for the host primitives: real servers on 127.0.0.1 and certificates generated at
//! test time with rcgen. The unit tests use it as `crate::host::testutil`; `tests/host.rs`
//! includes this same file (`#[path]`), so it uses nothing of the crate.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub const DAY: i64 = 86_400;

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Set the validity of `p` to [not_before, not_after] (Unix seconds, after 1975).
fn set_validity(p: &mut CertificateParams, not_before: i64, not_after: i64) {
    let base = p.not_before; // 1975-01-01, rcgen's default
    let from_base = |t: i64| Duration::from_secs((t - base.unix_timestamp()) as u64);
    p.not_before = base + from_base(not_before);
    p.not_after = base + from_base(not_after);
}

/// A certificate with its key and the chain to serve.
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// Leaf PEM followed by the issuer's PEM (for a CA-signed leaf).
    pub chain_pem: String,
    pub leaf_pem: String,
    pub key_pem: String,
}

/// A test certificate authority.
pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    pub ca_pem: String,
}

impl Pki {
    pub fn new() -> Pki {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.remove(DnType::CommonName);
        p.distinguished_name
            .push(DnType::CommonName, "runbook test CA");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut p, now() - 10 * DAY, now() + 3650 * DAY);
        let ca = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
        let ca_pem = ca.pem();
        Pki { ca, ca_pem }
    }

    /// Roots containing only this CA.
    pub fn roots(&self) -> Arc<RootCertStore> {
        let mut r = RootCertStore::empty();
        r.add(self.ca.der().clone()).unwrap();
        Arc::new(r)
    }

    /// A leaf for `names`, valid over [not_before, not_after] (Unix seconds), signed by this CA.
    pub fn leaf(&self, names: &[&str], not_before: i64, not_after: i64) -> Leaf {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name.remove(DnType::CommonName);
        p.distinguished_name.push(DnType::CommonName, names[0]);
        p.distinguished_name
            .push(DnType::OrganizationName, "runbook tests");
        set_validity(&mut p, not_before, not_after);
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.ca).unwrap();
        let leaf_pem = cert.pem();
        Leaf {
            chain: vec![cert.der().clone(), self.ca.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            chain_pem: format!("{}{}", leaf_pem, self.ca_pem),
            leaf_pem,
            key_pem: key.serialize_pem(),
        }
    }
}

/// A self-signed certificate for `names`.
pub fn self_signed(names: &[&str], not_before: i64, not_after: i64) -> Leaf {
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.remove(DnType::CommonName);
    p.distinguished_name.push(DnType::CommonName, names[0]);
    set_validity(&mut p, not_before, not_after);
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    let pem = cert.pem();
    Leaf {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        chain_pem: pem.clone(),
        leaf_pem: pem,
        key_pem: key.serialize_pem(),
    }
}

/// A rustls TLS server on 127.0.0.1 serving `leaf`; it answers any request with `200 ok`.
/// Returns the port. The server lives until the test process ends.
pub fn tls_server(leaf: &Leaf) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(leaf.chain.clone(), leaf.key.clone_key())
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut sock) = stream else { continue };
            let config = config.clone();
            std::thread::spawn(move || {
                let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
                let Ok(mut conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::Stream::new(&mut conn, &mut sock);
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
                conn.send_close_notify();
                let _ = conn.complete_io(&mut sock);
            });
        }
    });
    port
}

/// A TCP server that accepts connections and never says anything. Returns the port.
pub fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

/// An HTTP server that sends its headers at once and then its body one byte every `every`,
/// for ever (content-length 1 000 000). Returns the port.
pub fn trickle_server(every: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 4096];
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = s.read(&mut buf);
                if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n").is_err() {
                    return;
                }
                loop {
                    std::thread::sleep(every);
                    if s.write_all(b"x").is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// Poll `cond` every 10 ms until it holds (true) or `within` passes (false): a readiness wait
/// instead of a fixed sleep.
pub fn poll_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The program name of `pid` (`/proc/PID/comm`, at most 15 bytes), once it has exec'd.
pub fn comm_of(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// CPU ticks (user + system) `pid` has used, from `/proc/PID/stat`.
pub fn cpu_ticks_of(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// A port on 127.0.0.1 where nothing listens.
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
