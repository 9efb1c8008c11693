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

use std::fs::File;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// How often [`wait_on_worker`] looks at Ctrl-C and the run's deadline.
pub const CANCEL_POLL: Duration = Duration::from_millis(20);

/// Run the blocking call `f` (a network request, a DNS lookup, a TLS handshake) on a worker
/// thread and wait for its answer, looking at `cancel` every [`CANCEL_POLL`]: Ctrl-C returns
/// `Interrupted` and the run's deadline `Limit` within that time, whatever `f` is blocked on.
/// The abandoned worker ends by itself when `f` returns (every `f` here has its own timeout,
/// capped by the time left in the run), and with the process.
///
/// Errors: the cancellation's, or `failed` when the worker cannot be started or dies.
pub fn wait_on_worker<T: Send + 'static>(
    cancel: &Cancel,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    cancel.check()?;
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("runbook-io".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| Error::failed(format!("cannot start a worker thread: {e}")))?;
    loop {
        match rx.recv_timeout(CANCEL_POLL) {
            Ok(v) => return Ok(v),
            Err(mpsc::RecvTimeoutError::Timeout) => cancel.check()?,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::failed("a worker thread ended without an answer"));
            }
        }
    }
}

/// What kind of non-regular file `ft` is, for messages.
fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a folder"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

fn not_regular(context: &'static str, path: &Path, ft: std::fs::FileType) -> Error {
    Error::io(
        context,
        path,
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "is {} — only regular files are read (a FIFO, socket or device could block or never end)",
                kind_of(ft)
            ),
        ),
    )
}

/// Open `path` for reading, refusing anything but a regular file (FIFO, socket, device, folder)
/// with an `io` error naming it and what it is. Checked before opening (`stat`), then again on
/// the open descriptor (`fstat`) — it is opened with `O_NONBLOCK`, so a FIFO swapped in between
/// cannot block the open either; the descriptor is switched back to blocking for reading.
pub fn open_regular(path: &Path, context: &'static str) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let meta = std::fs::metadata(path).map_err(|e| Error::io(context, path, e))?;
    if !meta.is_file() {
        return Err(not_regular(context, path, meta.file_type()));
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io(context, path, e))?;
    let meta = f.metadata().map_err(|e| Error::io(context, path, e))?;
    if !meta.is_file() {
        return Err(not_regular(context, path, meta.file_type()));
    }
    // SAFETY: plain fcntl on a descriptor we own.
    unsafe {
        let fd = f.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(f)
}

/// Refuse `path` when it exists and is not a regular file (for appends: opening a FIFO for
/// writing blocks until a reader comes). A missing path is fine (it will be created).
pub fn refuse_non_regular(path: &Path, context: &'static str) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(not_regular(context, path, m.file_type())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: plain syscall with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn fifos_sockets_devices_and_folders_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f");
        mkfifo(&fifo);
        let sock = dir.path().join("s");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        for (p, what) in [
            (fifo.as_path(), "FIFO"),
            (sock.as_path(), "socket"),
            (Path::new("/dev/zero"), "character device"),
            (dir.path(), "folder"),
        ] {
            let start = Instant::now();
            let err = open_regular(p, "reading").unwrap_err();
            assert_eq!(err.kind(), "io");
            let msg = err.to_string();
            assert!(
                msg.contains(what) && msg.contains(&p.display().to_string()),
                "{msg}"
            );
            assert!(start.elapsed() < Duration::from_secs(1));
        }
        let file = dir.path().join("x");
        std::fs::write(&file, "hello").unwrap();
        let mut s = String::new();
        use std::io::Read;
        open_regular(&file, "reading")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello");
        assert!(refuse_non_regular(&fifo, "appending to").is_err());
        assert!(refuse_non_regular(&dir.path().join("new"), "appending to").is_ok());
    }

    #[test]
    fn a_blocked_worker_is_left_behind_on_cancel() {
        let cancel = Cancel::never();
        let c2 = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            c2.cancel();
        });
        let start = Instant::now();
        let err =
            wait_on_worker(&cancel, || std::thread::sleep(Duration::from_secs(30))).unwrap_err();
        assert_eq!(err.kind(), "interrupted");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        let deadline = Cancel::never().with_timeout(Duration::from_millis(100));
        let err =
            wait_on_worker(&deadline, || std::thread::sleep(Duration::from_secs(30))).unwrap_err();
        assert_eq!(err.kind(), "limit");
        assert_eq!(wait_on_worker(&Cancel::never(), || 7).unwrap(), 7);
    }
}
