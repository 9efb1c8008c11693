//! Host primitives behind `metrics::`, `http::` and `tls::`: plain Rust functions with no
//! knowledge of Rhai or of the run's policy, so other parts of the crate (the service health
//! check, the REPL) can call them directly. The Rhai adapters in [`crate::modules`] add the
//! policy checks, the audit log and the conversion into script values.
//!
//! * [`metrics`] — CPU, memory (cgroup aware), disks, network, TCP connections, processes (sysinfo
//!   and `/proc`).
//! * [`http`] — blocking HTTP requests with one overall deadline, capped bodies, no cross-host
//!   redirects, and a health check that never fails on network errors.
//! * [`tls`] — certificate expiry and trust, read from a live TLS server or a PEM file.
//!
//! TLS uses rustls with the `ring` crypto provider (installed once as the process default, see
//! [`tls::crypto_provider`]), and trust is decided against the operating system's certificate
//! store (`rustls-native-certs`, which honours `SSL_CERT_FILE` / `SSL_CERT_DIR`).

pub mod http;
pub mod metrics;
pub mod tls;

#[cfg(test)]
pub(crate) mod testutil;
