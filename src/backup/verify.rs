//! `verify`: prove an archive is whole. Structure first (end record where the file ends, no data
//! before the first entry, unique and safe entry names, no symbolic links, a readable manifest),
//! then every entry read to the end on all cores: the zip reader checks the CRC-32 and the local
//! header against the central directory, and the SHA-256 and size are compared with the manifest.
//!
//! Problems are collected as [`BadEntry`] values naming the entry (or `(archive)` for the file
//! as a whole); only failing to open the file at all is an error.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use zip::{ZipArchive, ZipReadOptions};

use super::create::hex;
use super::manifest::{FileRecord, MANIFEST_NAME, Manifest};
use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// Name used in [`BadEntry::name`] for problems of the archive as a whole.
pub const ARCHIVE: &str = "(archive)";
/// Largest manifest accepted (a manifest of a million files is ~200 MB).
const MANIFEST_MAX: u64 = 512 << 20;

/// One problem found in an archive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadEntry {
    /// Entry name, or `(archive)`.
    pub name: String,
    /// What is wrong.
    pub problem: String,
}

/// Result of `verify`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    /// No problem found.
    pub ok: bool,
    /// File entries in the archive (directories and the manifest not counted).
    pub entries: u64,
    /// Every problem, sorted by entry name.
    pub bad: Vec<BadEntry>,
    /// Entries the manifest marks `changed`: the file was being written while it was archived
    /// (the archive is whole; the file's content may be torn). Sorted.
    pub changed: Vec<String>,
}

/// A file read with `pread`, so clones share one descriptor but each keeps its own position.
#[derive(Debug, Clone)]
pub(crate) struct SharedFile {
    file: Arc<File>,
    pos: u64,
    len: u64,
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, from: SeekFrom) -> std::io::Result<u64> {
        let new = match from {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let new = new.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before start")
        })?;
        self.pos = new;
        Ok(new)
    }
}

/// An archive opened and checked for structure.
pub(crate) struct Opened {
    /// `None` when the central directory could not be read at all.
    pub archive: Option<ZipArchive<SharedFile>>,
    pub manifest: Option<Manifest>,
    /// Structural problems found so far.
    pub bad: Vec<BadEntry>,
    /// File entries in the central directory (not directories, not the manifest).
    pub entries: u64,
}

fn bad(name: impl Into<String>, problem: impl Into<String>) -> BadEntry {
    BadEntry {
        name: name.into(),
        problem: problem.into(),
    }
}

/// Where the end-of-central-directory record must be: at the very end of the file (after its
/// comment). Anything else is trailing data or a truncated file.
fn end_problem(f: &File, len: u64) -> std::io::Result<Option<String>> {
    const SIG: &[u8; 4] = b"PK\x05\x06";
    if len < 22 {
        return Ok(Some(format!("{len} bytes: too short to be a zip archive")));
    }
    let tail_len = len.min(22 + 0xFFFF) as usize;
    let mut tail = vec![0u8; tail_len];
    f.read_exact_at(&mut tail, len - tail_len as u64)?;
    let mut trailing: Option<usize> = None;
    for i in (0..=tail_len - 22).rev() {
        if &tail[i..i + 4] == SIG {
            let clen = u16::from_le_bytes([tail[i + 20], tail[i + 21]]) as usize;
            let end = i + 22 + clen;
            if end == tail_len {
                return Ok(None);
            }
            if end < tail_len && trailing.is_none() {
                trailing = Some(tail_len - end);
            }
        }
    }
    Ok(Some(match trailing {
        Some(n) => format!("{n} bytes of trailing data after the end of the archive"),
        None => {
            "no end-of-central-directory record: the archive is truncated or not a zip file".into()
        }
    }))
}

/// When the central directory is unreadable, walk the local headers from the start to name
/// the entries that are intact and the first one that is not.
fn scan_local_entries(path: &Path, cancel: &Cancel, out: &mut Vec<BadEntry>) {
    let Ok(f) = File::open(path) else { return };
    let mut r = std::io::BufReader::new(f);
    loop {
        if cancel.check().is_err() {
            return;
        }
        match zip::read::read_zipfile_from_stream(&mut r) {
            Ok(Some(mut zf)) => {
                let name = String::from_utf8_lossy(zf.name_raw()).into_owned();
                if let Err(e) = std::io::copy(&mut zf, &mut std::io::sink()) {
                    out.push(bad(name, format!("truncated or damaged: {e}")));
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                out.push(bad(
                    ARCHIVE,
                    format!("entry after the last intact one is truncated or damaged: {e}"),
                ));
                return;
            }
        }
    }
}

/// Open `path` and check everything but the entries' contents.
pub(crate) fn open(path: &Path, cancel: &Cancel) -> Result<Opened> {
    let file = File::open(path).map_err(|e| Error::io("opening archive", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("reading archive", path, e))?
        .len();
    let mut out = Opened {
        archive: None,
        manifest: None,
        bad: Vec::new(),
        entries: 0,
    };
    if let Some(p) = end_problem(&file, len).map_err(|e| Error::io("reading archive", path, e))? {
        out.bad.push(bad(ARCHIVE, p));
    }
    let shared = SharedFile {
        file: Arc::new(file),
        pos: 0,
        len,
    };
    let mut archive = match ZipArchive::new(shared) {
        Ok(a) => a,
        Err(e) => {
            out.bad
                .push(bad(ARCHIVE, format!("central directory unreadable: {e}")));
            scan_local_entries(path, cancel, &mut out.bad);
            return Ok(out);
        }
    };
    if archive.offset() > 0 {
        out.bad.push(bad(
            ARCHIVE,
            format!(
                "{} bytes of unexpected data before the first entry",
                archive.offset()
            ),
        ));
    }
    if archive.has_duplicate_names() {
        out.bad.push(bad(
            ARCHIVE,
            "the central directory lists the same entry name more than once",
        ));
    }
    let mut files = HashSet::new();
    let mut all = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let e = match archive.by_index_data(i) {
            Ok(e) => e,
            Err(err) => {
                out.bad.push(bad(
                    format!("#{i}"),
                    format!("unreadable entry header: {err}"),
                ));
                continue;
            }
        };
        let name = String::from_utf8_lossy(e.name_raw()).into_owned();
        if let Some(p) = super::entry_name_problem(e.name_raw()) {
            out.bad.push(bad(&name, format!("unsafe entry name: {p}")));
        }
        if super::mode_is_symlink(e.unix_mode()) {
            out.bad
                .push(bad(&name, "symbolic link entry (not allowed in a backup)"));
        }
        if e.encrypted() {
            out.bad
                .push(bad(&name, "encrypted entry (not made by runbook)"));
        }
        if !e.is_dir() {
            files.insert(name.clone());
            if name != MANIFEST_NAME {
                out.entries += 1;
            }
        }
        all.push(name);
    }
    // A file entry `a` and an entry `a/b` cannot both be extracted.
    for name in &all {
        let body = name.strip_suffix('/').unwrap_or(name);
        let mut idx = 0;
        while let Some(p) = body[idx..].find(['/', '\\']) {
            let prefix = &body[..idx + p];
            if files.contains(prefix) {
                out.bad.push(bad(
                    name,
                    format!("lies inside {prefix:?}, which is a file entry"),
                ));
                break;
            }
            idx += p + 1;
        }
    }
    match archive.index_for_name(MANIFEST_NAME) {
        None => out.bad.push(bad(
            MANIFEST_NAME,
            "missing: not an archive made by backup::create",
        )),
        Some(i) => match read_manifest(&mut archive, i) {
            Ok(m) => {
                // Restore creates and chmods the manifest's folders: their names must be as safe
                // as entry names, or `../..` and absolute names reach outside the target.
                for d in &m.dirs {
                    if let Some(p) = super::entry_name_problem(d.name.as_bytes()) {
                        out.bad.push(bad(
                            MANIFEST_NAME,
                            format!("folder {:?}: unsafe name: {p}", d.name),
                        ));
                    }
                }
                out.manifest = Some(m);
            }
            Err(p) => out.bad.push(bad(MANIFEST_NAME, p)),
        },
    }
    out.archive = Some(archive);
    Ok(out)
}

fn read_manifest(
    archive: &mut ZipArchive<SharedFile>,
    i: usize,
) -> std::result::Result<Manifest, String> {
    let mut zf = archive
        .by_index_with_options(i, ZipReadOptions::new().enforce_header_consistency(true))
        .map_err(|e| e.to_string())?;
    if zf.size() > MANIFEST_MAX {
        return Err(format!(
            "{} bytes: larger than any manifest runbook writes",
            zf.size()
        ));
    }
    let mut buf = Vec::with_capacity(zf.size() as usize);
    (&mut zf)
        .take(MANIFEST_MAX)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    Manifest::parse(&buf).map_err(|e| e.to_string())
}

/// Read entry `i` to the end into `sink`, checking CRC (by the zip reader), header consistency,
/// and — when `expected` is given — size and SHA-256. `Err(problem)` on any mismatch; cancellation
/// is `Err(Some(error))` in the outer result.
/// `buf` is the caller's read buffer (grown to 256 KiB once, reused across entries).
pub(crate) fn read_entry(
    archive: &mut ZipArchive<SharedFile>,
    i: usize,
    expected: Option<&FileRecord>,
    sink: &mut dyn Write,
    cancel: &Cancel,
    buf: &mut Vec<u8>,
) -> Result<std::result::Result<(), String>> {
    let mut zf = match archive
        .by_index_with_options(i, ZipReadOptions::new().enforce_header_consistency(true))
    {
        Ok(zf) => zf,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let mut sha = Sha256::new();
    if buf.len() < 256 << 10 {
        buf.resize(256 << 10, 0);
    }
    let mut total = 0u64;
    loop {
        cancel.check()?;
        let n = match zf.read(&mut buf[..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Ok(Err(describe_read_error(&e))),
        };
        sha.update(&buf[..n]);
        total += n as u64;
        if let Err(e) = sink.write_all(&buf[..n]) {
            return Err(Error::failed(format!("writing extracted data: {e}")));
        }
    }
    if let Some(rec) = expected {
        if total != rec.size {
            return Ok(Err(format!(
                "size {total} differs from the manifest's {}",
                rec.size
            )));
        }
        let got = hex(&sha.finalize());
        if got != rec.sha256 {
            return Ok(Err(format!(
                "SHA-256 {got} differs from the manifest's {}",
                rec.sha256
            )));
        }
    }
    Ok(Ok(()))
}

fn describe_read_error(e: &std::io::Error) -> String {
    let s = e.to_string();
    if s.to_ascii_lowercase().contains("checksum") || s.contains("CRC") {
        format!("CRC-32 mismatch: the data is damaged ({s})")
    } else {
        format!("damaged data: {s}")
    }
}

/// Verify the archive at `path` (see module docs). Errors only when it cannot be opened or on
/// cancellation.
pub fn verify(path: &Path, cancel: &Cancel) -> Result<VerifyReport> {
    let opened = open(path, cancel)?;
    let mut bad = opened.bad;
    if let (Some(archive), manifest) = (opened.archive, opened.manifest.as_ref()) {
        bad.extend(check_contents(&archive, manifest, cancel)?);
    }
    bad.sort_by(|a, b| a.name.cmp(&b.name).then(a.problem.cmp(&b.problem)));
    bad.dedup();
    let changed = opened
        .manifest
        .as_ref()
        .map(|m| {
            m.files
                .iter()
                .filter(|f| f.changed)
                .map(|f| f.name.clone())
                .collect()
        })
        .unwrap_or_default();
    Ok(VerifyReport {
        ok: bad.is_empty(),
        entries: opened.entries,
        bad,
        changed,
    })
}

/// Read every file entry (all cores) and compare with the manifest.
pub(crate) fn check_contents(
    archive: &ZipArchive<SharedFile>,
    manifest: Option<&Manifest>,
    cancel: &Cancel,
) -> Result<Vec<BadEntry>> {
    let by_name: BTreeMap<&str, &FileRecord> = manifest
        .map(|m| m.files.iter().map(|f| (f.name.as_str(), f)).collect())
        .unwrap_or_default();
    let mut todo: Vec<(usize, String, u64)> = Vec::new();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let Ok(e) = archive.by_index_data(i) else {
            continue;
        };
        let name = String::from_utf8_lossy(e.name_raw()).into_owned();
        if e.is_dir() || super::mode_is_symlink(e.unix_mode()) {
            continue;
        }
        if name != MANIFEST_NAME {
            seen.insert(name.clone());
            if manifest.is_some() && !by_name.contains_key(name.as_str()) {
                out.push(bad(&name, "not listed in the manifest"));
            }
        }
        todo.push((i, name, e.compressed_size()));
    }
    for f in by_name.keys() {
        if !seen.contains(*f) {
            out.push(bad(
                *f,
                "listed in the manifest but missing from the archive",
            ));
        }
    }
    // Largest first, so one big entry does not finish last on a lone core.
    todo.sort_by(|a, b| b.2.cmp(&a.2));
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::failed(format!("starting worker threads: {e}")))?;
    let results: Vec<Result<Option<BadEntry>>> = pool.install(|| {
        todo.par_iter()
            .with_max_len(1)
            .map_init(
                || (archive.clone(), Vec::new()),
                |(arch, buf), (i, name, _)| {
                    let rec = by_name.get(name.as_str()).copied();
                    Ok(
                        read_entry(arch, *i, rec, &mut std::io::sink(), cancel, buf)?
                            .err()
                            .map(|p| bad(name, p)),
                    )
                },
            )
            .collect()
    });
    for r in results {
        if let Some(b) = r? {
            out.push(b);
        }
    }
    Ok(out)
}
