//! Paths as the OS resolves them, and programs as `PATH` finds them: the filesystem facts the
//! policy decides on and the core acts on (below both, so neither reaches up for them).

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Lexically remove `.` and `..` (no filesystem access).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Resolve `path` as the OS would: absolute, symlinks followed, `..` applied.
/// For a path that does not exist yet, the deepest existing ancestor is resolved
/// and the rest appended (after removing `.`/`..`).
pub fn resolve(path: &Path) -> Result<PathBuf> {
    resolve_links(path, 0)
}

/// Symbolic links followed when resolving one path (as the kernel's `ELOOP` limit).
const MAX_LINKS: usize = 40;

fn resolve_links(path: &Path, links: usize) -> Result<PathBuf> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("current directory", ".", e))?
            .join(path)
    };
    if let Ok(real) = std::fs::canonicalize(&abs) {
        return Ok(real);
    }
    // Walk up to the deepest existing ancestor, resolving `..` lexically only in the missing tail.
    let mut tail = Vec::new();
    let mut cur = abs.as_path();
    loop {
        match cur.parent() {
            Some(parent) => {
                tail.push(
                    cur.components()
                        .next_back()
                        .map(|c| c.as_os_str().to_os_string())
                        .unwrap_or_default(),
                );
                if let Ok(real) = std::fs::canonicalize(parent) {
                    let mut out = real;
                    for part in tail.iter().rev() {
                        if part == ".." {
                            out.pop();
                        } else if part != "." && !part.is_empty() {
                            out.push(part);
                        }
                    }
                    // A dangling symlink as the last component must not be followed blindly.
                    if let Ok(meta) = std::fs::symlink_metadata(&out) {
                        if meta.file_type().is_symlink() {
                            if let Ok(target) = std::fs::read_link(&out) {
                                let t = if target.is_absolute() {
                                    target
                                } else {
                                    out.parent().unwrap_or(Path::new("/")).join(target)
                                };
                                // The target may be a dangling link itself, or run through
                                // links: resolve it the same way, as opening it would.
                                if links >= MAX_LINKS {
                                    return Err(Error::io(
                                        "resolving",
                                        &abs,
                                        std::io::Error::from_raw_os_error(libc::ELOOP),
                                    ));
                                }
                                return resolve_links(&t, links + 1);
                            }
                        }
                    }
                    return Ok(out);
                }
                cur = parent;
            }
            None => return Ok(normalize(&abs)),
        }
    }
}

/// Preflight of starting `program`: a path must be an executable file; a bare name must be
/// found as one in a folder of `PATH`.
pub fn on_path(program: &str) -> std::result::Result<(), String> {
    if program.contains('/') {
        return if is_executable(Path::new(program)) {
            Ok(())
        } else {
            Err(format!("{program} is not an executable file"))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|d| is_executable(&d.join(program))) {
        Ok(())
    } else {
        Err(format!("command {program:?} is not on PATH"))
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
