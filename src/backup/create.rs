//! `create`: walk the sources, compress in parallel, write `*.partial`, fsync, publish without
//! clobbering.
//!
//! Pipeline: the calling thread owns the [`ZipWriter`] and writes one entry at a time, in two
//! phases, with bounded memory whatever the files' sizes and count (issue 14.5):
//!
//! 1. Files of at least [`STREAM_MIN`] go through a block pipeline: a reader thread reads each
//!    file in [`BLOCK`]-sized blocks, hashes them in order (SHA-256 for the manifest, CRC-32 for
//!    the zip entry) and hands each block to the worker pool, which deflates the blocks of one
//!    file in parallel the way `pigz` does: each block is a raw deflate stream primed with the
//!    previous block's last 32 KiB as its dictionary and ended with a sync flush, so the blocks
//!    concatenate into one valid deflate stream (one ordinary zip entry, the format unchanged).
//!    The writer appends the deflated blocks in order. At most [`QUEUE_PER_WORKER`] blocks per
//!    worker (plus one being read and one being written) are in flight.
//! 2. Smaller files are read whole, hashed and compressed by the pool into a
//!    [`PreparedZipFile`] each; their content in flight is bounded by [`SMALL_BUDGET_PER_WORKER`]
//!    per worker; the writer appends them as they come.
//!
//! So the data in flight is at most, on `n` worker threads, `(n × QUEUE_PER_WORKER + 2) × 2 ×
//! BLOCK` (a block and its deflated copy) in phase 1 and `n × (SMALL_BUDGET_PER_WORKER +
//! STREAM_MIN)` in phase 2: 6 MiB and 6 MiB on two cores (the zip writer's 1 MiB buffer and one
//! deflate state per worker come on top).
//!
//! Per file, a sample decides between deflate and store: already-compressed or random content
//! is stored, so no core is spent deflating what cannot shrink.
//!
//! The archive is written as `.<name>.<random>.zip.partial` in the backup directory, synced,
//! then given its final name with an atomic no-replace rename (or a hard link), so a killed run
//! never leaves a file under a final name and two runs in the same millisecond both survive
//! (`-1`, `-2` … suffixes).

use std::fs::File;
use std::io::{BufWriter, Read, Seek, Write};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::{Instant, SystemTime};

use flate2::{Compress, Compression, FlushCompress};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use zip::write::{PreparedZipFile, SimpleFileOptions, ZipFileBuilder};
use zip::{CompressionMethod, ZipWriter};

use super::manifest::{DirRecord, FileRecord, MANIFEST_NAME, Manifest, Skipped, time_to_rfc3339};
use super::names;
use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// Files at least this large go through the block pipeline (read in blocks, deflated block
/// by block on every core); smaller ones are read whole by one worker each.
pub const STREAM_MIN: u64 = 1 << 20;
/// Block size of the block pipeline. Each block costs the deflate stream a sync flush (5
/// bytes) and the matches that would reach back past the 32 KiB dictionary: 0.1 % on logs.
pub const BLOCK: usize = 512 << 10;
/// Blocks per worker thread queued between the reader and the writer: enough for the writer
/// never to wait on a worker while another is idle.
pub const QUEUE_PER_WORKER: usize = 2;
/// Bytes of small files' content each worker thread may hold read but not yet written.
pub const SMALL_BUDGET_PER_WORKER: u64 = 2 << 20;
/// The previous block's tail that primes each block's deflate (the deflate window).
const DICT: usize = 32 << 10;
/// Deflate level (zip's usual default).
const LEVEL: u32 = 6;
/// Above this many bytes a progress bar is shown (when stderr is a terminal).
const PROGRESS_MIN: u64 = 64 << 20;
/// Read buffer of [`sha256_file`].
const HASH_BUF: usize = 256 << 10;

/// One top-level source: a file or directory, and the entry name it gets in the archive.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub name: String,
}

impl Source {
    /// A source archived under its own base name (`/srv/app/.env` → `.env`, `/srv/app/logs` → `logs/…`).
    pub fn by_base_name(path: &Path) -> Result<Source> {
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            Error::Usage(format!(
                "backup::create: {} has no usable file name",
                path.display()
            ))
        })?;
        Ok(Source {
            path: path.to_path_buf(),
            name: name.to_string(),
        })
    }
}

/// Options of `create`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Glob patterns to leave out: with a leading `/` matched against the absolute path; with a
    /// `/` elsewhere against the entry name at any depth (`logs/*.gz`, `node_modules/**`, where
    /// `dir/**` also leaves out `dir` itself); otherwise against the base name (`node_modules`,
    /// `*.tmp`). An excluded directory is not descended into.
    pub exclude: Vec<String>,
    /// Archive the readable files and report the unreadable ones instead of failing.
    pub skip_unreadable: bool,
    /// Show a progress bar: `None` = when stderr is a terminal and the job is large.
    pub progress: Option<bool>,
}

/// What `create` made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreateResult {
    /// Final path of the archive.
    pub path: String,
    /// Regular files archived.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Size of the archive on disk in bytes.
    pub stored_bytes: u64,
    /// SHA-256 of the archive file.
    pub sha256: String,
    /// Wall time in ms.
    pub duration_ms: u64,
    /// Paths left out, with the reason (symbolic links, special files, unreadable files).
    pub skipped: Vec<Skipped>,
    /// Entry names of files that changed while they were read, twice in a row: archived as
    /// read the second time and marked `changed` in the manifest (they may be torn).
    pub changed: Vec<String>,
}

/// A regular file to archive.
#[derive(Debug, Clone)]
struct PlanFile {
    src: PathBuf,
    name: String,
    size: u64,
    mode: u32,
    mtime: SystemTime,
}

#[derive(Debug, Default)]
struct Plan {
    files: Vec<PlanFile>,
    dirs: Vec<DirRecord>,
    skipped: Vec<Skipped>,
    unreadable: Vec<Skipped>,
}

/// The three kinds of exclude pattern.
struct Excludes {
    absolute: GlobSet,
    by_name: GlobSet,
    by_base: GlobSet,
}

impl Excludes {
    fn new(patterns: &[String]) -> Result<Excludes> {
        let (mut a, mut n, mut b) = (
            GlobSetBuilder::new(),
            GlobSetBuilder::new(),
            GlobSetBuilder::new(),
        );
        for p in patterns {
            let pat = p.trim_end_matches('/');
            let glob = |g: &str| {
                GlobBuilder::new(g)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| {
                        Error::Usage(format!("backup::create: exclude pattern {p:?}: {e}"))
                    })
            };
            let set = if pat.starts_with('/') {
                &mut a
            } else if pat.contains('/') {
                &mut n
            } else {
                &mut b
            };
            set.add(glob(pat)?);
            // `dir/**` also excludes `dir` itself, so it is not even listed.
            if let Some(dir) = pat.strip_suffix("/**").filter(|d| !d.is_empty()) {
                let set = if dir.starts_with('/') {
                    &mut a
                } else if dir.contains('/') {
                    &mut n
                } else {
                    &mut b
                };
                set.add(glob(dir)?);
            }
        }
        let build = |s: GlobSetBuilder| {
            s.build()
                .map_err(|e| Error::Usage(format!("backup::create: exclude: {e}")))
        };
        Ok(Excludes {
            absolute: build(a)?,
            by_name: build(n)?,
            by_base: build(b)?,
        })
    }

    fn matches(&self, abs: &Path, name: &str) -> bool {
        let base = name.rsplit('/').next().unwrap_or(name);
        if self.absolute.is_match(abs) || self.by_base.is_match(base) {
            return true;
        }
        // Relative patterns with a `/` match at any depth: against the entry name and each of
        // its tails that starts at a component (`app/node_modules/x` → `node_modules/x`, `x`).
        if self.by_name.is_empty() {
            return false;
        }
        let mut tail = name;
        loop {
            if self.by_name.is_match(tail) {
                return true;
            }
            match tail.split_once('/') {
                Some((_, rest)) => tail = rest,
                None => return false,
            }
        }
    }
}

fn mtime_of(meta: &std::fs::Metadata) -> SystemTime {
    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Walk every source: regular files and directories are planned; symbolic links inside a tree,
/// special files and the backup directory itself are skipped (reported); what cannot be read
/// (directory listing, file open) is collected in `unreadable`.
fn plan(
    sources: &[Source],
    excludes: &Excludes,
    backup_dir: &Path,
    cancel: &Cancel,
) -> Result<Plan> {
    let mut plan = Plan::default();
    let backup_real = std::fs::canonicalize(backup_dir).ok();
    let mut seen = std::collections::BTreeSet::new();
    for src in sources {
        if let Some(p) = super::entry_name_problem(src.name.as_bytes()) {
            return Err(Error::Usage(format!(
                "backup::create: entry name {:?}: {p}",
                src.name
            )));
        }
        // A top-level source is followed if it is a symbolic link: it was named on purpose.
        let meta = std::fs::metadata(&src.path)
            .map_err(|e| Error::io("backup::create: reading", &src.path, e))?;
        let mut stack = vec![(src.path.clone(), src.name.clone(), meta)];
        while let Some((path, name, meta)) = stack.pop() {
            cancel.check()?;
            if !seen.insert(name.clone()) {
                return Err(Error::Usage(format!(
                    "backup::create: two sources give the same entry name {name:?} ({}); back them up separately",
                    path.display()
                )));
            }
            let shown = path.display().to_string();
            if meta.is_dir() {
                if backup_real
                    .as_deref()
                    .is_some_and(|b| std::fs::canonicalize(&path).ok().as_deref() == Some(b))
                {
                    plan.skipped.push(Skipped {
                        path: shown,
                        problem: "the backup directory itself".into(),
                    });
                    continue;
                }
                let rd = match std::fs::read_dir(&path) {
                    Ok(rd) => rd,
                    Err(e) => {
                        plan.unreadable.push(Skipped {
                            path: shown,
                            problem: format!("cannot list directory: {e}"),
                        });
                        continue;
                    }
                };
                plan.dirs.push(DirRecord {
                    name: name.clone(),
                    mode: meta.permissions().mode() & 0o7777,
                    mtime: time_to_rfc3339(mtime_of(&meta)),
                });
                let mut children = Vec::new();
                for ent in rd {
                    let ent = match ent {
                        Ok(e) => e,
                        Err(e) => {
                            plan.unreadable.push(Skipped {
                                path: shown.clone(),
                                problem: format!("cannot list directory: {e}"),
                            });
                            break;
                        }
                    };
                    let child = ent.path();
                    let Some(base) = ent.file_name().to_str().map(str::to_string) else {
                        plan.unreadable.push(Skipped {
                            path: child.display().to_string(),
                            problem: "file name is not valid UTF-8".into(),
                        });
                        continue;
                    };
                    let child_name = format!("{name}/{base}");
                    if excludes.matches(&child, &child_name) {
                        continue;
                    }
                    if let Some(p) = super::entry_name_problem(child_name.as_bytes()) {
                        plan.unreadable.push(Skipped {
                            path: child.display().to_string(),
                            problem: p,
                        });
                        continue;
                    }
                    match std::fs::symlink_metadata(&child) {
                        Ok(m) if m.file_type().is_symlink() => plan.skipped.push(Skipped {
                            path: child.display().to_string(),
                            problem: "symbolic link (not archived)".into(),
                        }),
                        Ok(m) => children.push((child, child_name, m)),
                        Err(e) => plan.unreadable.push(Skipped {
                            path: child.display().to_string(),
                            problem: e.to_string(),
                        }),
                    }
                }
                // Reverse so that popping visits children in name order.
                children.sort_by(|a, b| b.1.cmp(&a.1));
                stack.extend(children);
            } else if meta.is_file() {
                if excludes.matches(&path, &name) && path != src.path {
                    continue;
                }
                match File::open(&path) {
                    Ok(_) => plan.files.push(PlanFile {
                        src: path,
                        name,
                        size: meta.len(),
                        mode: meta.permissions().mode() & 0o7777,
                        mtime: mtime_of(&meta),
                    }),
                    Err(e) => plan.unreadable.push(Skipped {
                        path: shown,
                        problem: format!("cannot open: {e}"),
                    }),
                }
            } else {
                plan.skipped.push(Skipped {
                    path: shown,
                    problem: format!("not a regular file ({})", kind_of(&meta)),
                });
            }
        }
    }
    plan.files.sort_by(|a, b| a.name.cmp(&b.name));
    plan.dirs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(plan)
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_fifo() {
        "fifo"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

/// Extensions of formats that are already compressed: stored without trying.
const COMPRESSED_EXT: &[&str] = &[
    "gz", "tgz", "zip", "jar", "war", "apk", "xz", "txz", "bz2", "tbz2", "zst", "lz4", "lzma",
    "7z", "rar", "br", "jpg", "jpeg", "png", "gif", "webp", "avif", "heic", "mp3", "mp4", "m4a",
    "m4v", "aac", "ogg", "opus", "webm", "mkv", "mov", "avi", "flac", "woff", "woff2", "docx",
    "xlsx", "pptx", "odt", "ods", "epub",
];

/// Whether a sample of the content looks compressible. Cheap first: the byte entropy of text is
/// far below 7 bits; only high-entropy samples get a fast trial deflate.
fn compressible(sample: &[u8]) -> bool {
    if sample.len() < 64 {
        return true;
    }
    let mut hist = [0u32; 256];
    for &b in sample {
        hist[b as usize] += 1;
    }
    let n = sample.len() as f64;
    let entropy: f64 = hist
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum();
    if entropy < 7.0 {
        return true;
    }
    let mut c = Compress::new(Compression::fast(), false);
    let mut out = Vec::with_capacity(sample.len() + 1024);
    if c.compress_vec(sample, &mut out, FlushCompress::Finish)
        .is_err()
    {
        return true;
    }
    // Finish may need more room than given; a full buffer means no gain anyway.
    let done = c.total_in() as usize == sample.len() && out.len() < out.capacity();
    done && (out.len() as f64) < 0.95 * sample.len() as f64
}

fn has_compressed_ext(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.rsplit_once('.')
        .is_some_and(|(_, ext)| COMPRESSED_EXT.iter().any(|c| c.eq_ignore_ascii_case(ext)))
}

/// Samples of up to 32 KiB at the start, middle and end of a large file.
fn sample_large(f: &File, size: u64) -> std::io::Result<Vec<u8>> {
    const S: u64 = 32 << 10;
    let mut out = Vec::with_capacity(3 * S as usize);
    for off in [0, size / 2, size.saturating_sub(S)] {
        let mut buf = vec![0u8; S.min(size) as usize];
        let n = f.read_at(&mut buf, off)?;
        out.extend_from_slice(&buf[..n]);
    }
    Ok(out)
}

fn zip_time(t: SystemTime) -> zip::DateTime {
    use chrono::{Datelike, Timelike};
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    zip::DateTime::from_date_and_time(
        u16::try_from(dt.year()).unwrap_or(1980),
        dt.month() as u8,
        dt.day() as u8,
        dt.hour() as u8,
        dt.minute() as u8,
        dt.second() as u8,
    )
    .unwrap_or_default()
}

fn entry_options(f: &PlanFile, method: CompressionMethod) -> SimpleFileOptions {
    let level = if method == CompressionMethod::Deflated {
        Some(i64::from(LEVEL))
    } else {
        None
    };
    SimpleFileOptions::default()
        .compression_method(method)
        .compression_level(level)
        .unix_permissions(f.mode)
        .last_modified_time(zip_time(f.mtime))
        .large_file(f.size >= 0xFFFF_0000)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn zerr(what: &str, e: zip::result::ZipError) -> Error {
    Error::failed(format!("backup::create: {what}: {e}"))
}

/// A file read, hashed and compressed by a worker.
struct Prepared {
    zf: PreparedZipFile,
    record: FileRecord,
    held: u64,
}

enum WorkerOut {
    Ready(Box<Prepared>),
    Unreadable(Skipped, u64),
}

/// Counts bytes in flight between the workers and the writer.
struct Budget {
    cap: u64,
    avail: Mutex<u64>,
    cv: Condvar,
}

impl Budget {
    fn new(cap: u64) -> Budget {
        Budget {
            cap,
            avail: Mutex::new(cap),
            cv: Condvar::new(),
        }
    }

    fn acquire(&self, n: u64, abort: &AtomicBool) -> bool {
        let n = n.min(self.cap);
        let mut a = self.avail.lock().unwrap_or_else(|p| p.into_inner());
        while *a < n {
            if abort.load(Ordering::Relaxed) {
                return false;
            }
            a = self
                .cv
                .wait_timeout(a, std::time::Duration::from_millis(50))
                .map(|r| r.0)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        *a -= n;
        true
    }

    fn release(&self, n: u64) {
        let n = n.min(self.cap);
        let mut a = self.avail.lock().unwrap_or_else(|p| p.into_inner());
        *a += n;
        self.cv.notify_all();
    }
}

/// What identifies one version of a file's content: size, mtime and ctime (ns). A write
/// between two looks changes at least the ctime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn stamp_of(f: &File) -> std::io::Result<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = f.metadata()?;
    Ok(Stamp {
        size: m.len(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}

/// Called between reading a file and looking at it again (tests make a file change there).
#[cfg(test)]
pub(crate) static AFTER_READ: Mutex<Option<fn(&Path)>> = Mutex::new(None);

fn after_read(_path: &Path) {
    #[cfg(test)]
    if let Some(hook) = *AFTER_READ.lock().unwrap_or_else(|p| p.into_inner()) {
        hook(_path);
    }
}

/// Read a whole small file, looking at its stamp before and after: when it changed meanwhile
/// it is read once more; `changed` when it changed both times (the second read is kept).
fn read_stable(f: &PlanFile) -> std::result::Result<(Vec<u8>, SystemTime, bool), String> {
    let mut data = Vec::new();
    for attempt in 0..2 {
        let mut file = File::open(&f.src).map_err(|e| format!("cannot open: {e}"))?;
        let before = stamp_of(&file).map_err(|e| format!("cannot read: {e}"))?;
        data.clear();
        data.reserve(before.size.min(STREAM_MIN) as usize);
        (&mut file)
            .take(before.size.max(f.size))
            .read_to_end(&mut data)
            .map_err(|e| format!("cannot read: {e}"))?;
        after_read(&f.src);
        let after = stamp_of(&file).map_err(|e| format!("cannot read: {e}"))?;
        let mtime = SystemTime::UNIX_EPOCH
            + std::time::Duration::new(before.mtime.0.max(0) as u64, before.mtime.1 as u32);
        if before == after && data.len() as u64 == after.size {
            return Ok((data, mtime, false));
        }
        if attempt == 1 {
            return Ok((data, mtime, true));
        }
    }
    unreachable!("the loop returns on its second attempt")
}

/// Read, hash and compress one small file (runs on a pool thread).
fn prepare(f: &PlanFile) -> std::result::Result<Prepared, String> {
    let (data, mtime, changed) = read_stable(f)?;
    let f = &PlanFile { mtime, ..f.clone() };
    let sha = hex(&Sha256::digest(&data));
    let mut method =
        if has_compressed_ext(&f.name) || !compressible(&data[..data.len().min(32 << 10)]) {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
    let build = |method| -> std::result::Result<PreparedZipFile, String> {
        let mut b =
            ZipFileBuilder::new(&f.name, entry_options(f, method)).map_err(|e| e.to_string())?;
        b.write_all(&data).map_err(|e| e.to_string())?;
        b.finish().map_err(|e| e.to_string())
    };
    let mut zf = build(method)?;
    if method == CompressionMethod::Deflated && zf.compressed_size() >= data.len() as u64 {
        method = CompressionMethod::Stored;
        zf = build(method)?;
    }
    let record = FileRecord {
        name: f.name.clone(),
        size: data.len() as u64,
        mode: f.mode,
        mtime: time_to_rfc3339(f.mtime),
        sha256: sha,
        changed,
    };
    Ok(Prepared {
        zf,
        record,
        held: f.size,
    })
}

/// What the reader thread of the block pipeline sends the writer, in archive order.
enum Item {
    /// Start entry `plan.files[idx]` with this method.
    Start(usize, CompressionMethod),
    /// The next block of a stored entry, as read.
    Stored(Vec<u8>),
    /// The next block of a deflated entry: deflated by a worker, delivered here.
    Deflated(mpsc::Receiver<std::result::Result<Vec<u8>, String>>),
    /// The file changed while it was read: drop the entry (it is sent again), or it could no
    /// longer be read (an `Unreadable` follows).
    Abort,
    /// The entry is complete: its record and CRC-32.
    End(FileRecord, u32),
    /// `plan.files[idx]` cannot be read.
    Unreadable(usize, String),
}

thread_local! {
    /// Each worker's deflate state, reset for every block (allocated once per thread).
    static DEFLATE: std::cell::RefCell<Option<Compress>> = const { std::cell::RefCell::new(None) };
}

/// Deflate one block as a raw deflate stream primed with `dict` (the previous block's tail)
/// and ended with a sync flush: not final, byte-aligned, so the blocks of a file concatenate
/// into one deflate stream (what `pigz` does). The zip writer's own deflater, given no input,
/// ends the entry with an empty final block.
pub(crate) fn deflate_block(data: &[u8], dict: &[u8]) -> std::result::Result<Vec<u8>, String> {
    DEFLATE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let c = cell.get_or_insert_with(|| Compress::new(Compression::new(LEVEL), false));
        c.reset();
        if !dict.is_empty() {
            c.set_dictionary(dict).map_err(|e| e.to_string())?;
        }
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        loop {
            let done = c.total_in() as usize;
            c.compress_vec(&data[done..], &mut out, FlushCompress::Sync)
                .map_err(|e| e.to_string())?;
            // zlib's rule: the flush is complete once all input is taken and output room is left.
            if c.total_in() as usize == data.len() && out.len() < out.capacity() {
                return Ok(out);
            }
            out.reserve(out.capacity().max(1024));
        }
    })
}

/// Make glibc's allocator give freed memory back instead of keeping it for later.
///
/// Left to itself, glibc raises its mmap threshold (up to 32 MiB) each time a large mmapped
/// block is freed, and with it the trim threshold (twice that) of every thread's arena: the
/// pipeline's blocks, allocated on one thread and freed on another, then leave up to 64 MiB of
/// free memory resident per arena. Measured on benches/backup.sh's tree: 84–143 MiB peak RSS
/// for 6 MiB in flight; 21 MiB with fixed thresholds (the process's own floor is 14 MiB). The
/// setting is process-wide and only changes when free memory is returned to the system.
fn keep_freed_memory_small() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets two allocator parameters; it is thread-safe in glibc.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 20);
    }
}

/// Read into `buf` until it is full or the file ends; the bytes read.
fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The reader thread of the block pipeline: read every large file in blocks, hash them, queue
/// deflate jobs on `pool`, send the writer one [`Item`] per step. A file that changed while it
/// was read (stamp before ≠ after) is aborted and read once more; `changed` when that happens
/// twice. Stops quietly when the writer hangs up or the run is cancelled.
fn read_large(
    files: &[&PlanFile],
    tx: &mpsc::SyncSender<Item>,
    pool: &rayon::ThreadPool,
    cancel: &Cancel,
    bar: &ProgressBar,
) {
    let send = |item: Item| tx.send(item).is_ok();
    for (idx, f) in files.iter().enumerate() {
        let mut attempt = 0;
        loop {
            let mut file = match File::open(&f.src) {
                Ok(file) => file,
                Err(e) => {
                    if !send(Item::Unreadable(idx, format!("cannot open: {e}"))) {
                        return;
                    }
                    break;
                }
            };
            let before = match stamp_of(&file) {
                Ok(s) => s,
                Err(e) => {
                    if !send(Item::Unreadable(idx, format!("cannot read: {e}"))) {
                        return;
                    }
                    break;
                }
            };
            let method = match sample_large(&file, before.size) {
                Ok(s) if has_compressed_ext(&f.name) || !compressible(&s) => {
                    CompressionMethod::Stored
                }
                Ok(_) => CompressionMethod::Deflated,
                Err(e) => {
                    if !send(Item::Unreadable(idx, format!("cannot read: {e}"))) {
                        return;
                    }
                    break;
                }
            };
            if !send(Item::Start(idx, method)) {
                return;
            }
            let mut sha = Sha256::new();
            let mut crc = flate2::Crc::new();
            let mut total = 0u64;
            let mut dict: Vec<u8> = Vec::new();
            let mut failed = None;
            loop {
                if cancel.check().is_err() {
                    return;
                }
                let mut block = vec![0u8; BLOCK];
                let n = match read_full(&mut file, &mut block) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        failed = Some(format!("cannot read: {e}"));
                        break;
                    }
                };
                block.truncate(n);
                sha.update(&block);
                crc.update(&block);
                total += n as u64;
                bar.inc(n as u64);
                let item = if method == CompressionMethod::Deflated {
                    let next_dict = block[n.saturating_sub(DICT)..].to_vec();
                    let (btx, brx) = mpsc::sync_channel(1);
                    let prev = std::mem::replace(&mut dict, next_dict);
                    pool.spawn(move || {
                        let _ = btx.send(deflate_block(&block, &prev));
                    });
                    Item::Deflated(brx)
                } else {
                    Item::Stored(block)
                };
                if !send(item) {
                    return;
                }
            }
            if let Some(problem) = failed {
                if !send(Item::Abort) || !send(Item::Unreadable(idx, problem)) {
                    return;
                }
                break;
            }
            after_read(&f.src);
            let after = match stamp_of(&file) {
                Ok(s) => s,
                Err(e) => {
                    if !send(Item::Abort)
                        || !send(Item::Unreadable(idx, format!("cannot read: {e}")))
                    {
                        return;
                    }
                    break;
                }
            };
            let changed = before != after || total != after.size;
            if changed && attempt == 0 {
                if !send(Item::Abort) {
                    return;
                }
                attempt += 1;
                continue;
            }
            let mtime = SystemTime::UNIX_EPOCH
                + std::time::Duration::new(before.mtime.0.max(0) as u64, before.mtime.1 as u32);
            let record = FileRecord {
                name: f.name.clone(),
                size: total,
                mode: f.mode,
                mtime: time_to_rfc3339(mtime),
                sha256: hex(&sha.finalize()),
                changed,
            };
            if !send(Item::End(record, crc.sum())) {
                return;
            }
            break;
        }
    }
}

/// Receive from `rx`, noticing Ctrl-C and the deadline every 200 ms; `Ok(None)` when the
/// sender is gone.
fn recv_or_cancel<T>(rx: &mpsc::Receiver<T>, cancel: &Cancel) -> Result<Option<T>> {
    loop {
        cancel.check()?;
        match rx.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(v) => return Ok(Some(v)),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                cancel.check()?;
                return Ok(None);
            }
        }
    }
}

/// The writer's side of the block pipeline: append what [`read_large`] sends, in order.
/// Records go to `records`, files that could not be read to `unreadable` (an error at once
/// unless `skip_unreadable`).
fn write_large<W: Write + Seek>(
    zip: &mut ZipWriter<W>,
    files: &[&PlanFile],
    rx: &mpsc::Receiver<Item>,
    cancel: &Cancel,
    skip_unreadable: bool,
    records: &mut Vec<FileRecord>,
    unreadable: &mut Vec<Skipped>,
) -> Result<()> {
    let mut current: Option<(usize, CompressionMethod)> = None;
    let mut done = 0;
    let name = |cur: &Option<(usize, CompressionMethod)>| {
        cur.map(|(i, _)| files[i].name.as_str()).unwrap_or("?")
    };
    while let Some(item) = recv_or_cancel(rx, cancel)? {
        match item {
            Item::Start(idx, method) => {
                let f = files[idx];
                zip.start_file(f.name.as_str(), entry_options(f, method))
                    .map_err(|e| zerr(&f.name, e))?;
                current = Some((idx, method));
            }
            Item::Stored(block) => {
                zip.write_all(&block).map_err(|e| {
                    Error::failed(format!("backup::create: writing {}: {e}", name(&current)))
                })?;
            }
            Item::Deflated(brx) => {
                let block = match brx.recv() {
                    Ok(Ok(b)) => b,
                    Ok(Err(e)) => {
                        return Err(Error::failed(format!(
                            "backup::create: deflating {}: {e}",
                            name(&current)
                        )));
                    }
                    Err(_) => {
                        cancel.check()?;
                        return Err(Error::failed(format!(
                            "backup::create: deflating {}: worker thread stopped",
                            name(&current)
                        )));
                    }
                };
                // The deflated bytes go straight to the archive file, past the zip writer's
                // own deflater (which gets no input; it ends the entry with an empty final
                // block). `End` gives the writer the entry's true size and CRC.
                // SAFETY (an API contract, not memory safety): we write valid deflate data for
                // the open entry at the current position and do not seek.
                let w = unsafe { zip.get_mut() }.ok_or_else(|| {
                    Error::failed("backup::create: the zip writer is closed".to_string())
                })?;
                w.write_all(&block).map_err(|e| {
                    Error::failed(format!("backup::create: writing {}: {e}", name(&current)))
                })?;
            }
            Item::Abort => {
                zip.abort_file().map_err(|e| zerr(name(&current), e))?;
                current = None;
            }
            Item::End(record, crc) => {
                if let Some((_, CompressionMethod::Deflated)) = current {
                    // SAFETY (an API contract): `record.size` bytes with this CRC-32 were
                    // deflated into the open entry (the reader hashed exactly what it sent).
                    unsafe { zip.set_file_metadata(record.size, crc) }
                        .map_err(|e| zerr(&record.name, e))?;
                }
                records.push(record);
                current = None;
                done += 1;
            }
            Item::Unreadable(idx, problem) => {
                unreadable.push(Skipped {
                    path: files[idx].src.display().to_string(),
                    problem,
                });
                done += 1;
                if !skip_unreadable {
                    return Err(unreadable_error(unreadable));
                }
            }
        }
    }
    // The reader stops early only on cancellation (checked by `recv_or_cancel`) or a panic.
    if done < files.len() {
        return Err(Error::failed(
            "backup::create: the reader thread stopped early",
        ));
    }
    Ok(())
}

fn host_name() -> String {
    sysinfo::System::host_name().unwrap_or_else(|_| "unknown".into())
}

/// Give `from` the name `to` unless `to` exists (atomic). `Ok(false)`: `to` exists.
fn publish_noreplace(from: &Path, to: &Path) -> Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| {
            CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::failed("path contains NUL"))
        };
        let (cf, ct) = (c(from)?, c(to)?);
        // SAFETY: both are valid NUL-terminated paths; renameat2 does not keep the pointers.
        let r = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                cf.as_ptr(),
                libc::AT_FDCWD,
                ct.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if r == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EEXIST) => return Ok(false),
            // File systems without RENAME_NOREPLACE: fall back to a hard link below.
            Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => {}
            _ => return Err(Error::io("backup::create: publishing archive", to, e)),
        }
    }
    match std::fs::hard_link(from, to) {
        Ok(()) => {
            std::fs::remove_file(from)
                .map_err(|e| Error::io("backup::create: removing partial", from, e))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io("backup::create: publishing archive", to, e)),
    }
}

fn sync_dir(dir: &Path) {
    // Best effort: some file systems refuse fsync on directories.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Streamed SHA-256 of a file as lower-case hex, checking `cancel` between reads; anything but
/// a regular file is an `io` error. The one file hash of the crate (`fs::sha256`, archives,
/// pushed binaries).
pub fn sha256_file(path: &Path, cancel: &Cancel) -> Result<String> {
    let mut f = crate::host::open_regular(path, "reading")?;
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; HASH_BUF];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("reading", path, e)),
        };
        sha.update(&buf[..n]);
        cancel.check()?;
    }
    Ok(hex(&sha.finalize()))
}

/// Create archive `name` in `backup_dir` from `sources` (see module docs).
///
/// Errors: a bad name or exclude pattern (`Usage`), a missing source, unreadable files without
/// `skip_unreadable` (all of them listed), I/O errors on the backup directory, cancellation.
/// On any error no file is left under a final name (the partial is removed).
pub fn create(
    backup_dir: &Path,
    name: &str,
    sources: &[Source],
    opts: &CreateOptions,
    cancel: &Cancel,
) -> Result<CreateResult> {
    create_at(backup_dir, name, sources, opts, cancel, chrono::Utc::now())
}

/// [`create`] with the creation time given (the archive's name and manifest use it).
pub fn create_at(
    backup_dir: &Path,
    name: &str,
    sources: &[Source],
    opts: &CreateOptions,
    cancel: &Cancel,
    created: chrono::DateTime<chrono::Utc>,
) -> Result<CreateResult> {
    let start = Instant::now();
    names::check_name("backup::create", name)?;
    if sources.is_empty() {
        return Err(Error::Usage("backup::create: no paths given".into()));
    }
    let excludes = Excludes::new(&opts.exclude)?;
    let stamp = names::stamp(created);
    std::fs::create_dir_all(backup_dir)
        .map_err(|e| Error::io("backup::create: creating backup directory", backup_dir, e))?;
    let mut plan = plan(sources, &excludes, backup_dir, cancel)?;
    if !plan.unreadable.is_empty() && !opts.skip_unreadable {
        return Err(unreadable_error(&plan.unreadable));
    }

    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", names::file_name(name, &stamp, 0)))
        .suffix(".partial")
        .tempfile_in(backup_dir)
        .map_err(|e| Error::io("backup::create: creating partial archive in", backup_dir, e))?;
    let (file, tmp_path) = tmp.into_parts();

    let total: u64 = plan.files.iter().map(|f| f.size).sum();
    let show = opts.progress.unwrap_or_else(|| {
        use std::io::IsTerminal;
        std::io::stderr().is_terminal() && total >= PROGRESS_MIN
    });
    let bar = if show {
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "backup {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b.set_message(name.to_string());
        b
    } else {
        ProgressBar::hidden()
    };

    keep_freed_memory_small();
    let (large, small): (Vec<&PlanFile>, Vec<&PlanFile>) =
        plan.files.iter().partition(|f| f.size >= STREAM_MIN);
    let mut records: Vec<FileRecord> = Vec::with_capacity(plan.files.len());
    let mut late_unreadable: Vec<Skipped> = Vec::new();

    let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, &file));
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("backup-{i}"))
        .build()
        .map_err(|e| Error::failed(format!("backup::create: starting worker threads: {e}")))?;

    // Phase 1: large files through the block pipeline.
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<Item>(threads * QUEUE_PER_WORKER);
        let (large, pool, bar) = (&large, &pool, &bar);
        let reader_cancel = cancel.clone();
        s.spawn(move || read_large(large, &tx, pool, &reader_cancel, bar));
        let r = write_large(
            &mut zip,
            large,
            &rx,
            cancel,
            opts.skip_unreadable,
            &mut records,
            &mut late_unreadable,
        );
        drop(rx);
        r
    })?;

    // Phase 2: small files, read whole and compressed by the pool.
    let abort = AtomicBool::new(false);
    let budget = Budget::new(SMALL_BUDGET_PER_WORKER * threads as u64);
    let written: Result<()> = std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<WorkerOut>(256);
        let (abort, budget, small) = (&abort, &budget, &small);
        let worker_cancel = cancel.clone();
        s.spawn(move || {
            pool.install(|| {
                small.par_iter().for_each_with(tx, |tx, f| {
                    if abort.load(Ordering::Relaxed) || worker_cancel.check().is_err() {
                        return;
                    }
                    if !budget.acquire(f.size, abort) {
                        return;
                    }
                    let out = match prepare(f) {
                        Ok(p) => WorkerOut::Ready(Box::new(p)),
                        Err(problem) => WorkerOut::Unreadable(
                            Skipped {
                                path: f.src.display().to_string(),
                                problem,
                            },
                            f.size,
                        ),
                    };
                    if tx.send(out).is_err() {
                        abort.store(true, Ordering::Relaxed);
                    }
                });
            });
        });

        let result = (|| -> Result<()> {
            for _ in 0..small.len() {
                let Some(out) = recv_or_cancel(&rx, cancel)? else {
                    return Err(Error::failed(
                        "backup::create: worker threads stopped early",
                    ));
                };
                match out {
                    WorkerOut::Ready(p) => {
                        let held = p.held;
                        bar.inc(p.record.size);
                        records.push(p.record);
                        let r = zip.add_prepared_file(p.zf);
                        budget.release(held);
                        r.map_err(|e| zerr("writing entry", e))?;
                    }
                    WorkerOut::Unreadable(sk, held) => {
                        budget.release(held);
                        late_unreadable.push(sk);
                        if !opts.skip_unreadable {
                            return Err(unreadable_error(&late_unreadable));
                        }
                    }
                }
            }
            Ok(())
        })();
        if result.is_err() {
            abort.store(true, Ordering::Relaxed);
            budget.cv.notify_all();
        }
        drop(rx);
        result
    });
    written?;
    bar.finish_and_clear();

    plan.unreadable.extend(late_unreadable);
    records.sort_by(|a, b| a.name.cmp(&b.name));
    for d in &plan.dirs {
        let opts = SimpleFileOptions::default()
            .unix_permissions(d.mode)
            .last_modified_time(
                super::manifest::rfc3339_to_time(&d.mtime)
                    .map(zip_time)
                    .unwrap_or_default(),
            );
        zip.add_directory(format!("{}/", d.name), opts)
            .map_err(|e| zerr(&d.name, e))?;
    }
    let mut skipped = plan.skipped;
    skipped.extend(plan.unreadable);
    let manifest = Manifest {
        format: super::manifest::FORMAT,
        name: name.to_string(),
        created: crate::timefmt::rfc3339(created),
        host: host_name(),
        tool: format!("runbook {}", env!("CARGO_PKG_VERSION")),
        sources: sources
            .iter()
            .map(|s| s.path.display().to_string())
            .collect(),
        files: records,
        dirs: plan.dirs,
        skipped,
    };
    zip.start_file(
        MANIFEST_NAME,
        SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .unix_permissions(0o644)
            .last_modified_time(zip_time(created.into())),
    )
    .map_err(|e| zerr(MANIFEST_NAME, e))?;
    zip.write_all(&manifest.to_json())
        .map_err(|e| Error::io("backup::create: writing", &tmp_path, e))?;
    let mut buf = zip.finish().map_err(|e| zerr("finishing archive", e))?;
    let end = buf
        .stream_position()
        .map_err(|e| Error::io("backup::create: writing", &tmp_path, e))?;
    buf.into_inner()
        .map_err(|e| Error::io("backup::create: writing", &tmp_path, e.into_error()))?;
    // An entry dropped and written again (a file that changed while read) can leave bytes past
    // the end record; the archive ends where the writer stopped.
    file.set_len(end)
        .map_err(|e| Error::io("backup::create: writing", &tmp_path, e))?;
    file.sync_all()
        .map_err(|e| Error::io("backup::create: syncing", &tmp_path, e))?;
    let stored_bytes = file
        .metadata()
        .map_err(|e| Error::io("backup::create: reading", &tmp_path, e))?
        .len();
    drop(file);
    cancel.check()?;
    let sha256 = sha256_file(&tmp_path, cancel)?;

    let mut n = 0u32;
    let final_path = loop {
        let candidate = backup_dir.join(names::file_name(name, &stamp, n));
        if publish_noreplace(&tmp_path, &candidate)? {
            break candidate;
        }
        n += 1;
        if n > 10_000 {
            return Err(Error::failed(format!(
                "backup::create: could not find a free archive name for {name} at {stamp} in {}",
                backup_dir.display()
            )));
        }
    };
    // The partial's name is gone now; do not let the guard remove some other file later.
    let _ = tmp_path.keep();
    sync_dir(backup_dir);

    Ok(CreateResult {
        path: final_path.display().to_string(),
        files: manifest.files.len() as u64,
        bytes: manifest.files.iter().map(|f| f.size).sum(),
        stored_bytes,
        sha256,
        duration_ms: start.elapsed().as_millis() as u64,
        changed: manifest
            .files
            .iter()
            .filter(|f| f.changed)
            .map(|f| f.name.clone())
            .collect(),
        skipped: manifest.skipped,
    })
}

fn unreadable_error(list: &[Skipped]) -> Error {
    let shown: Vec<String> = list
        .iter()
        .take(20)
        .map(|s| format!("{} ({})", s.path, s.problem))
        .collect();
    let more = if list.len() > 20 {
        format!(" and {} more", list.len() - 20)
    } else {
        String::new()
    };
    Error::failed(format!(
        "backup::create: {} unreadable: {}{more}; nothing was archived (pass skip_unreadable: true to back up the rest)",
        if list.len() == 1 {
            "1 path is".to_string()
        } else {
            format!("{} paths are", list.len())
        },
        shown.join(", ")
    ))
}

/// What `create` would archive, for `--dry-run`: nothing is written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatePlan {
    /// Always `None`: no archive is made.
    pub path: Option<String>,
    /// Regular files that would be archived.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// 0: nothing is written.
    pub stored_bytes: u64,
    /// Always `None`.
    pub sha256: Option<String>,
    /// Time taken to walk the sources, ms.
    pub duration_ms: u64,
    /// Paths that would be left out, with the reason.
    pub skipped: Vec<Skipped>,
    /// Always `true`.
    pub planned: bool,
}

/// Walk the sources as [`create`] would and report what it would archive. Fails as `create`
/// would on a bad name, pattern, missing source, or unreadable files without `skip_unreadable`.
pub fn plan_only(
    backup_dir: &Path,
    name: &str,
    sources: &[Source],
    opts: &CreateOptions,
    cancel: &Cancel,
) -> Result<CreatePlan> {
    let start = Instant::now();
    names::check_name("backup::create", name)?;
    if sources.is_empty() {
        return Err(Error::Usage("backup::create: no paths given".into()));
    }
    let excludes = Excludes::new(&opts.exclude)?;
    let plan = plan(sources, &excludes, backup_dir, cancel)?;
    if !plan.unreadable.is_empty() && !opts.skip_unreadable {
        return Err(unreadable_error(&plan.unreadable));
    }
    let mut skipped = plan.skipped;
    skipped.extend(plan.unreadable);
    Ok(CreatePlan {
        path: None,
        files: plan.files.len() as u64,
        bytes: plan.files.iter().map(|f| f.size).sum(),
        stored_bytes: 0,
        sha256: None,
        duration_ms: start.elapsed().as_millis() as u64,
        skipped,
        planned: true,
    })
}
