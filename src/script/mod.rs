//! Script files below the runbook layer: reading one ([`read_script`], size-capped, regular
//! files only), the scripts built into the binary ([`embedded`]), and reading a script without
//! running it ([`statics`]: imports, calls, effects). The engine's module resolver and the
//! runbook layer both use it, so neither reaches into the other.

use std::path::Path;

use crate::error::{Error, Result};

pub mod statics;

/// The runbooks and stdlib modules compiled into the binary.
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The largest script or module file `runbook` reads (1 MiB): a runbook is a page of code, and
/// a bigger file (or `/dev/zero`) must not grow the process.
pub const MAX_SCRIPT_BYTES: u64 = 1 << 20;

/// Read a script file: it must be a regular file (not a directory, FIFO, socket or device —
/// checked before it is opened, so a FIFO cannot block) of at most [`MAX_SCRIPT_BYTES`], and at
/// most that many bytes are read even if it grows meanwhile. Errors are usage errors (exit 2)
/// naming the file; a file that is not UTF-8 is one too.
pub fn read_script(p: &Path) -> Result<String> {
    use std::io::Read;
    let shown = p.display();
    let meta = std::fs::metadata(p).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Usage(format!("no runbook file {shown}")),
        _ => Error::io("reading runbook", p, e),
    })?;
    if !meta.is_file() {
        let what = file_kind(&meta);
        return Err(Error::Usage(format!(
            "{shown} is {what}, not a runbook file (a script must be a regular file)"
        )));
    }
    let too_big = || {
        Error::Usage(format!(
            "{shown} is larger than {} KiB, the limit for a script file",
            MAX_SCRIPT_BYTES >> 10
        ))
    };
    if meta.len() > MAX_SCRIPT_BYTES {
        return Err(too_big());
    }
    let f = std::fs::File::open(p).map_err(|e| Error::io("reading runbook", p, e))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(MAX_SCRIPT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("reading runbook", p, e))?;
    if bytes.len() as u64 > MAX_SCRIPT_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        Error::Usage(format!(
            "{shown} is not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// "a directory", "a FIFO", … for a message.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}
