//! Tests of the backup core on real files and real zip archives, including hostile archives
//! built here with the zip crate: zip-slip names, symbolic links, truncation, flipped bytes,
//! trailing junk.

use std::collections::BTreeMap;
use std::fs::{self, File, FileTimes};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::create::hex;
use super::manifest::{FileRecord, Manifest};
use super::*;
use crate::cancel::Cancel;

/// Deterministic pseudo-random bytes (xorshift), incompressible.
fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn text_bytes(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + 200);
    let mut i = 0u64;
    while v.len() < n {
        v.extend_from_slice(
            format!(
                "{{\"level\":\"info\",\"message\":\"request {i} done\",\"duration\":{}}}\n",
                i % 977
            )
            .as_bytes(),
        );
        i += 1;
    }
    v.truncate(n);
    v
}

fn set_mtime(p: &Path, t: SystemTime) {
    File::open(p)
        .unwrap()
        .set_times(FileTimes::new().set_modified(t))
        .unwrap();
}

fn write_file(p: &Path, data: &[u8], mode: u32, mtime: SystemTime) {
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(p, data).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    set_mtime(p, mtime);
}

/// Every path under `root` with its kind, mode and content (files) or link target.
fn snapshot(root: &Path) -> BTreeMap<String, (String, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if m.file_type().is_symlink() {
                out.insert(
                    rel,
                    (
                        "link".into(),
                        0,
                        fs::read_link(&p)
                            .unwrap()
                            .display()
                            .to_string()
                            .into_bytes(),
                    ),
                );
            } else if m.is_dir() {
                out.insert(rel, ("dir".into(), m.mode() & 0o7777, Vec::new()));
                stack.push(p);
            } else {
                out.insert(
                    rel,
                    ("file".into(), m.mode() & 0o7777, fs::read(&p).unwrap()),
                );
            }
        }
    }
    out
}

fn no_cancel() -> Cancel {
    Cancel::never()
}

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::new(1_790_000_000, 123_456_789)
}

/// A source tree with text, random, empty and nested files, odd modes and ns mtimes.
fn sample_tree(root: &Path) {
    write_file(
        &root.join("app/.env"),
        b"NODE_ENV=production\nSECRET=x\n",
        0o600,
        t0(),
    );
    write_file(
        &root.join("app/config/app.json"),
        br#"{"port":3002}"#,
        0o644,
        t0() + Duration::from_nanos(7),
    );
    write_file(
        &root.join("app/bin/start.sh"),
        b"#!/bin/sh\nexec node server.js\n",
        0o755,
        t0() + Duration::from_secs(60),
    );
    write_file(
        &root.join("app/logs/combined.log"),
        &text_bytes(300_000),
        0o640,
        t0() + Duration::from_millis(1500),
    );
    write_file(
        &root.join("app/uploads/blob.bin"),
        &random_bytes(200_000, 7),
        0o644,
        t0(),
    );
    write_file(&root.join("app/uploads/empty"), b"", 0o644, t0());
    fs::create_dir_all(root.join("app/empty-dir")).unwrap();
    fs::set_permissions(
        root.join("app/empty-dir"),
        fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    set_mtime(&root.join("app/empty-dir"), t0());
}

fn quiet() -> CreateOptions {
    CreateOptions {
        progress: Some(false),
        ..Default::default()
    }
}

fn create_one(
    backup: &Path,
    name: &str,
    paths: &[PathBuf],
    opts: &CreateOptions,
) -> crate::Result<CreateResult> {
    let sources: Vec<Source> = paths
        .iter()
        .map(|p| Source::by_base_name(p).unwrap())
        .collect();
    create(backup, name, &sources, opts, &no_cancel())
}

#[test]
fn round_trip_reproduces_bytes_modes_and_mtimes() {
    let src = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    sample_tree(src.path());
    // A streamed (large) file as well as pool-prepared ones.
    write_file(
        &src.path().join("app/logs/big.log"),
        &text_bytes(create::STREAM_MIN as usize + 12345),
        0o644,
        t0(),
    );

    let made = create_one(backup.path(), "app", &[src.path().join("app")], &quiet()).unwrap();
    assert_eq!(made.files, 7, "{made:?}");
    assert!(made.path.ends_with(".zip") && Path::new(&made.path).starts_with(backup.path()));
    let on_disk = fs::read(&made.path).unwrap();
    assert_eq!(made.stored_bytes, on_disk.len() as u64);
    assert_eq!(made.sha256, hex(&Sha256::digest(&on_disk)));
    assert!(
        made.stored_bytes < made.bytes / 4,
        "text should be deflated: {made:?}"
    );
    // No partial left behind.
    let left: Vec<_> = fs::read_dir(backup.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");

    let report = verify(Path::new(&made.path), &no_cancel()).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.entries, 7, "files only");

    let r = restore(
        Path::new(&made.path),
        dest.path(),
        backup.path(),
        &RestoreOptions::default(),
        &no_cancel(),
    )
    .unwrap();
    assert_eq!(r.restored, 7);
    assert_eq!(r.files.len(), 7);
    assert_eq!(r.pre_restore, None);
    assert_eq!(
        snapshot(&src.path().join("app")),
        snapshot(&dest.path().join("app"))
    );
    // mtimes to the nanosecond, for files and directories.
    for rel in [
        "app/.env",
        "app/config/app.json",
        "app/bin/start.sh",
        "app/logs/combined.log",
        "app/empty-dir",
    ] {
        let a = fs::metadata(src.path().join(rel))
            .unwrap()
            .modified()
            .unwrap();
        let b = fs::metadata(dest.path().join(rel))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(a, b, "{rel}");
    }
    // The staging directory is gone.
    let top: Vec<_> = fs::read_dir(dest.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(top, ["app"]);
}

#[test]
fn random_content_is_stored_and_text_deflated() {
    let src = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    sample_tree(src.path());
    write_file(
        &src.path().join("app/uploads/photo.jpg"),
        &text_bytes(10_000),
        0o644,
        t0(),
    );
    let made = create_one(backup.path(), "app", &[src.path().join("app")], &quiet()).unwrap();
    let mut z = ZipArchive::new(File::open(&made.path).unwrap()).unwrap();
    let method = |z: &mut ZipArchive<File>, n: &str| z.by_name(n).unwrap().compression();
    assert_eq!(
        method(&mut z, "app/uploads/blob.bin"),
        CompressionMethod::Stored
    );
    assert_eq!(
        method(&mut z, "app/logs/combined.log"),
        CompressionMethod::Deflated
    );
    // Tiny files are stored when deflate would not make them smaller.
    assert_eq!(method(&mut z, "app/.env"), CompressionMethod::Stored);
    // Known compressed formats are stored without trying.
    assert_eq!(
        method(&mut z, "app/uploads/photo.jpg"),
        CompressionMethod::Stored
    );
    // The manifest names every file with its hash.
    let mut m = String::new();
    z.by_name(MANIFEST_NAME)
        .unwrap()
        .read_to_string(&mut m)
        .unwrap();
    let m = Manifest::parse(m.as_bytes()).unwrap();
    let env = m.files.iter().find(|f| f.name == "app/.env").unwrap();
    assert_eq!(
        env.sha256,
        hex(&Sha256::digest(b"NODE_ENV=production\nSECRET=x\n"))
    );
    assert_eq!(env.mode, 0o600);
    assert_eq!((m.name.as_str(), m.format), ("app", 1));
    assert!(m.tool.starts_with("runbook "));
}

#[test]
fn several_paths_are_named_by_base_name_and_exclude_globs_apply() {
    let src = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    sample_tree(src.path());
    write_file(&src.path().join("app/logs/old.log.gz"), b"x", 0o644, t0());
    write_file(
        &src.path().join("app/node_modules/x/index.js"),
        b"x",
        0o644,
        t0(),
    );
    let opts = CreateOptions {
        exclude: vec!["node_modules".into(), "logs/*.gz".into(), "*.bin".into()],
        ..quiet()
    };
    let made = create_one(
        backup.path(),
        "app",
        &[
            src.path().join("app/.env"),
            src.path().join("app/logs"),
            src.path().join("app/uploads"),
        ],
        &opts,
    )
    .unwrap();
    let z = ZipArchive::new(File::open(&made.path).unwrap()).unwrap();
    let mut names: Vec<_> = z.file_names().map(|n| n.unwrap().to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".env",
            ".runbook-manifest.json",
            "logs/",
            "logs/combined.log",
            "uploads/",
            "uploads/empty"
        ]
    );

    // Patterns with a `/` match at any depth; `dir/**` leaves out the folder itself too.
    let opts = CreateOptions {
        exclude: vec![
            "node_modules/**".into(),
            "uploads/*.bin".into(),
            "/nowhere/**".into(),
        ],
        ..quiet()
    };
    let made = create_one(backup.path(), "app", &[src.path().join("app")], &opts).unwrap();
    let z = ZipArchive::new(File::open(&made.path).unwrap()).unwrap();
    let names: Vec<String> = z.file_names().map(|n| n.unwrap().to_string()).collect();
    assert!(
        names
            .iter()
            .all(|n| !n.contains("node_modules") && !n.ends_with(".bin")),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "app/uploads/empty"), "{names:?}");
    let abs = format!("{}/**", src.path().join("app/logs").display());
    let made = create_one(
        backup.path(),
        "app",
        &[src.path().join("app")],
        &CreateOptions {
            exclude: vec![abs],
            ..quiet()
        },
    )
    .unwrap();
    let z = ZipArchive::new(File::open(&made.path).unwrap()).unwrap();
    assert!(z.file_names().all(|n| !n.unwrap().starts_with("app/logs")));

    let e = create_one(
        backup.path(),
        "app",
        &[src.path().join("app/logs"), src.path().join("app/logs")],
        &quiet(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), "usage", "{e}");
    let e = create_one(
        backup.path(),
        "app",
        &[src.path().join("app")],
        &CreateOptions {
            exclude: vec!["a[".into()],
            ..quiet()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("a["), "{e}");
}

#[test]
fn two_creates_in_the_same_millisecond_both_survive() {
    let src = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    sample_tree(src.path());
    let sources = [Source::by_base_name(&src.path().join("app")).unwrap()];
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-29T09:00:00.123Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let paths: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    create::create_at(backup.path(), "app", &sources, &quiet(), &no_cancel(), at)
                        .unwrap()
                        .path
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut names: Vec<String> = paths
        .iter()
        .map(|p| {
            Path::new(p)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "app-20261129T090000.123Z-1.zip",
            "app-20261129T090000.123Z-2.zip",
            "app-20261129T090000.123Z-3.zip",
            "app-20261129T090000.123Z.zip"
        ]
    );
    for p in &paths {
        assert!(verify(Path::new(p), &no_cancel()).unwrap().ok, "{p}");
    }
    assert_eq!(list(backup.path(), "app").unwrap().len(), 4);
    assert_eq!(
        fs::read_dir(backup.path()).unwrap().count(),
        4,
        "no partials left"
    );
}

#[test]
fn concurrent_creates_with_real_clock_give_distinct_archives() {
    let src = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    write_file(&src.path().join("a.txt"), b"hello", 0o644, t0());
    let barrier = std::sync::Barrier::new(6);
    let paths: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    create_one(backup.path(), "same", &[src.path().join("a.txt")], &quiet())
                        .unwrap()
                        .path
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let distinct: std::collections::BTreeSet<_> = paths.iter().collect();
    assert_eq!(distinct.len(), 6);
    assert_eq!(list(backup.path(), "same").unwrap().len(), 6);
}

#[test]
fn cancelled_create_leaves_no_file() {
    let src = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    sample_tree(src.path());
    let c = Cancel::never();
    c.cancel();
    let e = create(
        backup.path(),
        "app",
        &[Source::by_base_name(&src.path().join("app")).unwrap()],
        &quiet(),
        &c,
    )
    .unwrap_err();
    assert_eq!(e.kind(), "interrupted");
    assert_eq!(fs::read_dir(backup.path()).unwrap().count(), 0);
    // A deadline in the past is a limit, and also leaves nothing.
    let c = Cancel::never().with_timeout(Duration::ZERO);
    let e = create(
        backup.path(),
        "app",
        &[Source::by_base_name(&src.path().join("app")).unwrap()],
        &quiet(),
        &c,
    )
    .unwrap_err();
    assert_eq!(e.kind(), "limit");
    assert_eq!(fs::read_dir(backup.path()).unwrap().count(), 0);
}

#[test]
fn symlinks_and_special_files_in_a_tree_are_skipped_and_reported() {
    let src = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    write_file(&src.path().join("app/a.txt"), b"a", 0o644, t0());
    std::os::unix::fs::symlink("/etc/passwd", src.path().join("app/passwd")).unwrap();
    let fifo = std::ffi::CString::new(src.path().join("app/fifo").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let made = create_one(backup.path(), "app", &[src.path().join("app")], &quiet()).unwrap();
    assert_eq!(made.files, 1);
    let problems: Vec<_> = made
        .skipped
        .iter()
        .map(|s| {
            (
                Path::new(&s.path).file_name().unwrap().to_owned(),
                s.problem.clone(),
            )
        })
        .collect();
    assert!(
        problems
            .iter()
            .any(|(n, p)| n == "passwd" && p.contains("symbolic link")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|(n, p)| n == "fifo" && p.contains("fifo")),
        "{problems:?}"
    );
}

/// Run `f` on a thread whose file-system uid is `nobody`, so permissions apply even as root.
fn as_nobody<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setfsuid only changes this thread's file-system identity.
            unsafe { libc::setfsuid(65534) };
            f()
        })
        .join()
        .unwrap()
    })
}

#[test]
fn unreadable_files_fail_the_backup_unless_skipped() {
    let src = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    for d in [src.path(), backup.path()] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o777)).unwrap();
    }
    write_file(&src.path().join("app/ok.txt"), b"fine", 0o644, t0());
    write_file(&src.path().join("app/secret.key"), b"no", 0o000, t0());
    write_file(&src.path().join("app/also-secret"), b"no", 0o000, t0());
    fs::set_permissions(src.path().join("app"), fs::Permissions::from_mode(0o755)).unwrap();
    let sources = [Source::by_base_name(&src.path().join("app")).unwrap()];

    let e =
        as_nobody(|| create(backup.path(), "app", &sources, &quiet(), &no_cancel())).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("secret.key") && msg.contains("also-secret") && msg.contains("2 paths"),
        "{msg}"
    );
    assert_eq!(
        fs::read_dir(backup.path()).unwrap().count(),
        0,
        "nothing written"
    );

    let opts = CreateOptions {
        skip_unreadable: true,
        ..quiet()
    };
    let made = as_nobody(|| create(backup.path(), "app", &sources, &opts, &no_cancel())).unwrap();
    assert_eq!(made.files, 1);
    assert_eq!(made.skipped.len(), 2, "{:?}", made.skipped);
    assert!(
        made.skipped
            .iter()
            .all(|s| s.problem.contains("Permission denied")),
        "{:?}",
        made.skipped
    );
}

// ---------- hostile archives ----------

/// Write an archive with the given file entries (and optional symlink entries before them), and
/// a manifest that lists every file entry with its true hash — so only the hostility itself is wrong.
fn hostile_archive(dir: &Path, files: &[(&str, &[u8])], symlinks: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("evil-20261129T090000.000Z.zip");
    let mut z = ZipWriter::new(File::create(&path).unwrap());
    for (name, target) in symlinks {
        z.add_symlink(*name, *target, SimpleFileOptions::default())
            .unwrap();
    }
    let mut recs = Vec::new();
    for (name, data) in files {
        z.start_file(*name, SimpleFileOptions::default().unix_permissions(0o644))
            .unwrap();
        z.write_all(data).unwrap();
        recs.push(FileRecord {
            name: name.to_string(),
            size: data.len() as u64,
            mode: 0o644,
            mtime: "2026-11-29T09:00:00Z".into(),
            sha256: hex(&Sha256::digest(data)),
            changed: false,
        });
    }
    let m = Manifest {
        format: 1,
        name: "evil".into(),
        created: "2026-11-29T09:00:00.000Z".into(),
        host: "h".into(),
        tool: "runbook test".into(),
        sources: vec![],
        files: recs,
        dirs: vec![],
        skipped: vec![],
    };
    z.start_file(MANIFEST_NAME, SimpleFileOptions::default())
        .unwrap();
    z.write_all(&m.to_json()).unwrap();
    z.finish().unwrap();
    path
}

/// A target directory with content, and a snapshot to compare with afterwards.
fn target_with_content() -> (tempfile::TempDir, BTreeMap<String, (String, u32, Vec<u8>)>) {
    let t = tempfile::tempdir().unwrap();
    write_file(&t.path().join("sub/.env"), b"KEEP=1\n", 0o600, t0());
    write_file(&t.path().join("x"), b"original x\n", 0o644, t0());
    let snap = snapshot(t.path());
    (t, snap)
}

/// Restore must fail naming `entry`, and leave the target (and its parent) byte-for-byte unchanged.
fn assert_refused(archive: &Path, entry: &str) {
    let (target, before) = target_with_content();
    let outside = target.path().parent().unwrap().join("b");
    let backup = tempfile::tempdir().unwrap();
    for t in [target.path().to_path_buf(), target.path().join("sub")] {
        let e = restore(
            archive,
            &t,
            backup.path(),
            &RestoreOptions::default(),
            &no_cancel(),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("{entry:?}")),
            "message should name {entry:?}: {msg}"
        );
        assert!(msg.contains("nothing was written"), "{msg}");
    }
    assert_eq!(snapshot(target.path()), before, "target changed");
    assert!(!outside.exists());
    assert_eq!(
        fs::read_dir(backup.path()).unwrap().count(),
        0,
        "no pre_restore archive"
    );
}

fn assert_verify_names(archive: &Path, entry: &str, problem: &str) {
    let r = verify(archive, &no_cancel()).unwrap();
    assert!(!r.ok);
    assert!(
        r.bad
            .iter()
            .any(|b| b.name == entry && b.problem.contains(problem)),
        "expected {entry:?} with {problem:?}: {:?}",
        r.bad
    );
}

#[test]
fn zip_slip_names_are_refused_whole() {
    for name in [
        "../x",
        "/abs",
        "..\\x",
        "a/../../b",
        "C:evil",
        "a\\..\\..\\b",
        "./x",
        "a//b",
    ] {
        let dir = tempfile::tempdir().unwrap();
        // A harmless entry first: it must not be written either.
        let archive = hostile_archive(
            dir.path(),
            &[("harmless.txt", b"ok"), (name, b"pwned")],
            &[],
        );
        assert_verify_names(&archive, name, "unsafe entry name");
        assert_refused(&archive, name);
    }
}

#[test]
fn nul_in_a_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let archive = hostile_archive(dir.path(), &[("ok", b"ok"), ("a\0b", b"x")], &[]);
    let r = verify(&archive, &no_cancel()).unwrap();
    assert!(
        r.bad.iter().any(|b| b.problem.contains("NUL")),
        "{:?}",
        r.bad
    );
    assert_refused(&archive, "a\0b");
}

#[test]
fn symlink_entry_and_a_file_through_it_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let archive = hostile_archive(
        dir.path(),
        &[("link/pwned.txt", b"through the link")],
        &[("link", outside.path().to_str().unwrap())],
    );
    assert_verify_names(&archive, "link", "symbolic link");
    assert_refused(&archive, "link");
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
}

/// A real backup of `sample_tree`, for damage tests.
fn real_backup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path());
    let made = create_one(dir.path(), "app", &[src.path().join("app")], &quiet()).unwrap();
    (dir, PathBuf::from(made.path))
}

fn data_start(archive: &Path, name: &str) -> (u64, u64) {
    let mut z = ZipArchive::new(File::open(archive).unwrap()).unwrap();
    let f = z.by_name(name).unwrap();
    (f.data_start().unwrap(), f.compressed_size())
}

#[test]
fn flipped_byte_is_reported_by_entry_and_refused() {
    for entry in ["app/uploads/blob.bin", "app/logs/combined.log"] {
        let (_d, archive) = real_backup();
        let (start, len) = data_start(&archive, entry);
        let mut bytes = fs::read(&archive).unwrap();
        bytes[(start + len / 2) as usize] ^= 0x40;
        fs::write(&archive, &bytes).unwrap();
        let r = verify(&archive, &no_cancel()).unwrap();
        assert!(!r.ok);
        let names: Vec<_> = r.bad.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, [entry], "{:?}", r.bad);
        assert_refused(&archive, entry);
    }
}

#[test]
fn hash_mismatch_with_a_valid_crc_is_reported() {
    // The archive is internally consistent but the manifest claims other content.
    let dir = tempfile::tempdir().unwrap();
    let path = hostile_archive(dir.path(), &[("a.txt", b"real")], &[]);
    let mut z = ZipArchive::new(File::open(&path).unwrap()).unwrap();
    let mut m = String::new();
    z.by_name(MANIFEST_NAME)
        .unwrap()
        .read_to_string(&mut m)
        .unwrap();
    let mut m = Manifest::parse(m.as_bytes()).unwrap();
    m.files[0].sha256 = hex(&Sha256::digest(b"fake"));
    let forged = dir.path().join("forged-20261129T090000.000Z.zip");
    let mut w = ZipWriter::new(File::create(&forged).unwrap());
    w.raw_copy_file(z.by_name("a.txt").unwrap()).unwrap();
    w.start_file(MANIFEST_NAME, SimpleFileOptions::default())
        .unwrap();
    w.write_all(&m.to_json()).unwrap();
    w.finish().unwrap();
    assert_verify_names(&forged, "a.txt", "SHA-256");
    assert_refused(&forged, "a.txt");
}

#[test]
fn truncated_archive_names_the_cut_entry_and_is_refused() {
    let (_d, archive) = real_backup();
    let (start, len) = data_start(&archive, "app/uploads/blob.bin");
    let bytes = fs::read(&archive).unwrap();
    fs::write(&archive, &bytes[..(start + len / 2) as usize]).unwrap();
    let r = verify(&archive, &no_cancel()).unwrap();
    assert!(!r.ok);
    assert!(
        r.bad
            .iter()
            .any(|b| b.name == verify::ARCHIVE && b.problem.contains("truncated")),
        "{:?}",
        r.bad
    );
    assert!(
        r.bad.iter().any(|b| b.name == "app/uploads/blob.bin"),
        "the cut entry is named: {:?}",
        r.bad
    );
    assert_refused(&archive, verify::ARCHIVE);
}

#[test]
fn trailing_junk_is_reported_and_refused() {
    let (_d, archive) = real_backup();
    let mut f = fs::OpenOptions::new().append(true).open(&archive).unwrap();
    f.write_all(b"junk appended after the archive").unwrap();
    drop(f);
    assert_verify_names(&archive, verify::ARCHIVE, "trailing data");
    assert_refused(&archive, verify::ARCHIVE);
}

#[test]
fn archives_without_a_manifest_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.zip");
    let mut z = ZipWriter::new(File::create(&path).unwrap());
    z.start_file("a.txt", SimpleFileOptions::default()).unwrap();
    z.write_all(b"a").unwrap();
    z.finish().unwrap();
    assert_verify_names(&path, MANIFEST_NAME, "missing");
    assert_refused(&path, MANIFEST_NAME);
}

// ---------- restore behaviour ----------

#[test]
fn restore_only_a_subset_saves_what_it_replaces() {
    let src = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    sample_tree(src.path());
    let made = create_one(
        backup.path(),
        "app",
        &[src.path().join("app/.env"), src.path().join("app/logs")],
        &quiet(),
    )
    .unwrap();

    let target = tempfile::tempdir().unwrap();
    write_file(&target.path().join(".env"), b"BROKEN=1\n", 0o644, t0());
    write_file(&target.path().join("other.txt"), b"untouched", 0o644, t0());
    let r = restore(
        Path::new(&made.path),
        target.path(),
        backup.path(),
        &RestoreOptions {
            only: vec![".env".into()],
        },
        &no_cancel(),
    )
    .unwrap();
    assert_eq!(
        (r.restored, r.files.as_slice()),
        (1, [".env".to_string()].as_slice())
    );
    assert_eq!(
        fs::read(target.path().join(".env")).unwrap(),
        b"NODE_ENV=production\nSECRET=x\n"
    );
    assert_eq!(
        fs::metadata(target.path().join(".env")).unwrap().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::read(target.path().join("other.txt")).unwrap(),
        b"untouched"
    );
    assert!(!target.path().join("logs").exists(), "only .env was chosen");

    // The replaced file is in a verified pre_restore archive.
    let pre = PathBuf::from(r.pre_restore.unwrap());
    assert!(
        pre.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("app-pre_restore-"),
        "{pre:?}"
    );
    assert!(verify(&pre, &no_cancel()).unwrap().ok);
    let mut z = ZipArchive::new(File::open(&pre).unwrap()).unwrap();
    let mut old = String::new();
    z.by_name(".env").unwrap().read_to_string(&mut old).unwrap();
    assert_eq!(old, "BROKEN=1\n");
    assert_eq!(
        latest(backup.path(), "app-pre_restore")
            .unwrap()
            .unwrap()
            .path,
        pre.display().to_string()
    );

    // A directory subset.
    let r = restore(
        Path::new(&made.path),
        target.path(),
        backup.path(),
        &RestoreOptions {
            only: vec!["logs/".into()],
        },
        &no_cancel(),
    )
    .unwrap();
    assert_eq!(r.files, ["logs/combined.log"]);
    assert_eq!(r.pre_restore, None);

    let e = restore(
        Path::new(&made.path),
        target.path(),
        backup.path(),
        &RestoreOptions {
            only: vec!["nope".into()],
        },
        &no_cancel(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), "usage");
    assert!(e.to_string().contains("nope"), "{e}");
}

#[test]
fn restore_does_not_write_through_a_symlinked_directory() {
    let src = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    sample_tree(src.path());
    let made = create_one(
        backup.path(),
        "app",
        &[src.path().join("app/logs")],
        &quiet(),
    )
    .unwrap();
    let target = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), target.path().join("logs")).unwrap();
    let before = snapshot(target.path());
    let e = restore(
        Path::new(&made.path),
        target.path(),
        backup.path(),
        &RestoreOptions::default(),
        &no_cancel(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert_eq!(snapshot(target.path()), before);
    assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

// ---------- retention ----------

fn backups_at(dir: &Path, stamps: &[&str]) -> Vec<PathBuf> {
    let src = tempfile::tempdir().unwrap();
    write_file(&src.path().join("a.txt"), b"a", 0o644, t0());
    let sources = [Source::by_base_name(&src.path().join("a.txt")).unwrap()];
    stamps
        .iter()
        .map(|s| {
            let at = chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&chrono::Utc);
            PathBuf::from(
                create::create_at(dir, "db", &sources, &quiet(), &no_cancel(), at)
                    .unwrap()
                    .path,
            )
        })
        .collect()
}

#[test]
fn prune_keeps_last_and_recent_and_never_the_newest_verified() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now();
    let day = |d: i64| {
        (now - chrono::Duration::days(d)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let p = backups_at(dir.path(), &[&day(10), &day(5), &day(3), &day(1)]);
    // Newest first: p[3], p[2], p[1], p[0].
    let r = prune(
        dir.path(),
        "db",
        &PruneOptions {
            keep_last: Some(2),
            keep_days: None,
        },
        &no_cancel(),
    )
    .unwrap();
    let s = |v: &[&PathBuf]| {
        v.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(r.kept_paths, s(&[&p[3], &p[2]]));
    assert_eq!(r.deleted_paths, s(&[&p[1], &p[0]]));
    assert!(!p[0].exists() && !p[1].exists() && p[2].exists());

    // keep_days alone.
    let dir = tempfile::tempdir().unwrap();
    let p = backups_at(dir.path(), &[&day(10), &day(5), &day(1)]);
    let r = prune(
        dir.path(),
        "db",
        &PruneOptions {
            keep_last: None,
            keep_days: Some(4),
        },
        &no_cancel(),
    )
    .unwrap();
    assert_eq!(r.kept_paths, s(&[&p[2]]));
    assert_eq!((r.deleted, r.kept), (2, 1));

    // The newest two are corrupt: the newest one that verifies survives keep_last = 1.
    let dir = tempfile::tempdir().unwrap();
    let p = backups_at(dir.path(), &[&day(10), &day(5), &day(3), &day(1)]);
    for bad in [&p[3], &p[2]] {
        let mut b = fs::read(bad).unwrap();
        let n = b.len();
        b.truncate(n - 10);
        fs::write(bad, b).unwrap();
    }
    let r = prune(
        dir.path(),
        "db",
        &PruneOptions {
            keep_last: Some(1),
            keep_days: None,
        },
        &no_cancel(),
    )
    .unwrap();
    assert_eq!(r.protected, Some(p[1].display().to_string()));
    assert_eq!(r.kept_paths, s(&[&p[3], &p[1]]));
    assert_eq!(r.deleted_paths, s(&[&p[2], &p[0]]));
    assert!(p[1].exists());

    let e = prune(dir.path(), "db", &PruneOptions::default(), &no_cancel()).unwrap_err();
    assert_eq!(e.kind(), "usage");
}

#[test]
fn list_and_latest() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(latest(dir.path(), "db").unwrap(), None);
    let p = backups_at(
        dir.path(),
        &["2026-11-28T09:00:00.000Z", "2026-11-29T09:00:00.500Z"],
    );
    let l = list(dir.path(), "db").unwrap();
    assert_eq!(l.len(), 2);
    assert_eq!(l[0].path, p[1].display().to_string());
    assert_eq!(l[0].created, "2026-11-29T09:00:00.500Z");
    assert_eq!(l[0].bytes, fs::metadata(&p[1]).unwrap().len());
    assert_eq!(latest(dir.path(), "db").unwrap().unwrap(), l[0]);
    assert_eq!(list(dir.path(), "../x").unwrap_err().kind(), "usage");
}

#[test]
fn entry_names() {
    for ok in ["a", "a/b", "dir/", ".env", "a b/c..d", "..a", "a.."] {
        assert_eq!(entry_name_problem(ok.as_bytes()), None, "{ok}");
    }
    for bad in [
        "", "/a", "\\a", "../a", "a/..", "a\\..\\b", "C:\\x", "c:x", "a\0", "./a", "a//b", "a/./b",
    ] {
        assert!(entry_name_problem(bad.as_bytes()).is_some(), "{bad:?}");
    }
    assert!(entry_name_problem(&[0xff, 0xfe]).is_some());
}

#[test]
fn the_backup_directory_inside_a_source_is_not_archived() {
    let src = tempfile::tempdir().unwrap();
    write_file(&src.path().join("app/a.txt"), b"a", 0o644, t0());
    let backup = src.path().join("app/backups");
    fs::create_dir_all(&backup).unwrap();
    let first = create_one(&backup, "app", &[src.path().join("app")], &quiet()).unwrap();
    let second = create_one(&backup, "app", &[src.path().join("app")], &quiet()).unwrap();
    for made in [&first, &second] {
        assert_eq!(made.files, 1, "{made:?}");
        assert!(
            made.skipped
                .iter()
                .any(|s| s.problem == "the backup directory itself"),
            "{:?}",
            made.skipped
        );
        let z = ZipArchive::new(File::open(&made.path).unwrap()).unwrap();
        assert!(
            z.file_names()
                .all(|n| !n.unwrap().starts_with("app/backups")),
            "{:?}",
            z.file_names_raw()
                .map(String::from_utf8_lossy)
                .collect::<Vec<_>>()
        );
    }
}

/// Rewrites the files of `files_rewritten_while_read_are_retried_or_marked_changed` between
/// the read and the second look: `always-*` every time, `once-*` only the first time.
fn rewrite_hook(p: &Path) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static ONCE_SMALL: AtomicBool = AtomicBool::new(false);
    static ONCE_BIG: AtomicBool = AtomicBool::new(false);
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let rewrite = match name {
        "always-torn.txt" | "always-torn-big.log" => true,
        "once-torn.txt" => !ONCE_SMALL.swap(true, Ordering::SeqCst),
        "once-torn-big.log" => !ONCE_BIG.swap(true, Ordering::SeqCst),
        _ => false,
    };
    if rewrite {
        let mut f = fs::OpenOptions::new().append(true).open(p).unwrap();
        f.write_all(b"appended while read\n").unwrap();
    }
}

#[test]
fn files_rewritten_while_read_are_retried_or_marked_changed() {
    let src = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let tree = src.path().join("app");
    write_file(&tree.join("steady.txt"), b"steady\n", 0o644, t0());
    write_file(&tree.join("once-torn.txt"), b"v1\n", 0o644, t0());
    write_file(&tree.join("always-torn.txt"), b"v1\n", 0o644, t0());
    let big = text_bytes(create::STREAM_MIN as usize + 1024);
    write_file(&tree.join("once-torn-big.log"), &big, 0o644, t0());
    write_file(&tree.join("always-torn-big.log"), &big, 0o644, t0());
    *create::AFTER_READ.lock().unwrap() = Some(rewrite_hook);
    let made = create_one(backup.path(), "torn", std::slice::from_ref(&tree), &quiet());
    *create::AFTER_READ.lock().unwrap() = None;
    let made = made.unwrap();
    assert_eq!(
        made.changed,
        ["app/always-torn-big.log", "app/always-torn.txt"],
        "{made:?}"
    );
    let v = verify(Path::new(&made.path), &no_cancel()).unwrap();
    assert!(
        v.ok,
        "a retried entry leaves the archive whole: {:?}",
        v.bad
    );
    assert_eq!(v.changed, made.changed);
    // A file changed once is archived as read the second time, with its new content, unmarked.
    let mut z = ZipArchive::new(File::open(&made.path).unwrap()).unwrap();
    let mut s = String::new();
    z.by_name("app/once-torn.txt")
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "v1\nappended while read\n");
    let mut m = String::new();
    z.by_name(MANIFEST_NAME)
        .unwrap()
        .read_to_string(&mut m)
        .unwrap();
    let m = Manifest::parse(m.as_bytes()).unwrap();
    let rec = |n: &str| m.files.iter().find(|f| f.name == n).unwrap().clone();
    assert!(!rec("app/once-torn.txt").changed);
    assert!(!rec("app/once-torn-big.log").changed);
    assert_eq!(rec("app/once-torn-big.log").size, big.len() as u64 + 20);
    assert!(rec("app/always-torn.txt").changed);
    assert!(m.to_json().windows(9).any(|w| w == b"\"changed\""));
    // Restoring still checks every entry against the manifest.
    let out = tempfile::tempdir().unwrap();
    restore::restore(
        Path::new(&made.path),
        out.path(),
        backup.path(),
        &RestoreOptions::default(),
        &no_cancel(),
    )
    .unwrap();
    assert_eq!(
        fs::read(out.path().join("app/steady.txt")).unwrap(),
        b"steady\n"
    );
}

// ---- property tests over archive entry names (issue 11 acceptance) ----

mod names_prop {
    use super::*;
    use proptest::prelude::*;

    /// Name pieces that exercise every rule: traversal, absolute, drive letters, backslashes,
    /// empty and `.` components, NUL, non-ASCII, trailing slashes.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_string()),
            Just("..".to_string()),
            Just(".".to_string()),
            Just(String::new()),
            Just("C:".to_string()),
            Just("\\".to_string()),
            Just("..\\..".to_string()),
            Just("\0".to_string()),
            Just("日本".to_string()),
            Just(" sp ".to_string()),
            Just(".env".to_string()),
            any::<char>().prop_map(|c| c.to_string()),
            prop::collection::vec(any::<char>(), 1..6).prop_map(|v| v.into_iter().collect()),
        ]
    }

    fn name() -> impl Strategy<Value = String> {
        (
            any::<bool>(),
            prop::collection::vec(piece(), 1..5),
            any::<bool>(),
        )
            .prop_map(|(lead, parts, trail)| {
                let mut s = parts.join("/");
                if lead {
                    s.insert(0, '/');
                }
                if trail {
                    s.push('/');
                }
                s
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

        /// The name check never panics and refuses everything that could leave the target.
        #[test]
        fn entry_name_check_is_total(raw in prop::collection::vec(any::<u8>(), 0..40), n in name()) {
            let _ = entry_name_problem(&raw);
            if entry_name_problem(n.as_bytes()).is_none() {
                let body = n.strip_suffix('/').unwrap_or(&n);
                prop_assert!(!n.starts_with('/') && !n.contains('\0'));
                prop_assert!(body.split(['/', '\\']).all(|c| !c.is_empty() && c != "." && c != ".."));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Restoring an archive holding a generated name either puts the file inside the target
        /// or refuses the whole archive with an error naming the entry; never a panic, never a
        /// file outside the target.
        #[test]
        fn restore_of_any_entry_name_stays_inside_or_names_the_entry(n in name()) {
            let dir = tempfile::tempdir().unwrap();
            let archive = hostile_archive(dir.path(), &[(n.as_str(), b"data")], &[]);
            let target = dir.path().join("t");
            fs::create_dir(&target).unwrap();
            let backup = dir.path().join("b");
            match restore(&archive, &target, &backup, &RestoreOptions::default(), &no_cancel()) {
                Ok(r) => {
                    prop_assert_eq!(r.restored, 1);
                    let p = target.join(&r.files[0]);
                    prop_assert!(p.starts_with(&target));
                    prop_assert_eq!(fs::read(&p).unwrap(), b"data");
                }
                Err(e) => {
                    let msg = e.to_string();
                    let named = msg.contains(&format!("{n:?}"))
                        || msg.contains(&format!("{:?}", n.trim_end_matches('/')))
                        || msg.contains("(archive)");
                    prop_assert!(named, "{} does not name {:?}", msg, n);
                }
            }
            // Nothing beside the archive, the target and the backup folder appeared.
            let mut left: Vec<String> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            left.sort();
            left.retain(|x| x != "b");
            prop_assert_eq!(left, vec!["evil-20261129T090000.000Z.zip".to_string(), "t".to_string()]);
        }
    }
}

#[test]
fn restore_moves_folders_the_target_lacks_whole_and_files_into_folders_it_has() {
    let src = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let files: [(&str, &[u8], u32); 5] = [
        ("app/x.txt", b"x", 0o644),
        ("app/d1/a.txt", b"a", 0o600),
        ("app/d1/d2/b.txt", b"b", 0o640),
        ("app/d1/d2/d4/e.txt", b"e", 0o644),
        ("app/d3/c.txt", b"c", 0o755),
    ];
    for (name, data, mode) in files {
        write_file(&src.path().join(name), data, mode, t0());
    }
    let made = create_one(backup.path(), "app", &[src.path().join("app")], &quiet()).unwrap();
    // The target has `app/d1` (with a file the archive lacks) but not `d1/d2` nor `d3`.
    let target = tempfile::tempdir().unwrap();
    write_file(&target.path().join("app/d1/keep.txt"), b"keep", 0o644, t0());
    write_file(&target.path().join("app/x.txt"), b"old x", 0o644, t0());
    let r = restore(
        Path::new(&made.path),
        target.path(),
        backup.path(),
        &RestoreOptions::default(),
        &no_cancel(),
    )
    .unwrap();
    assert_eq!(r.restored, 5);
    for (name, data, mode) in files {
        let p = target.path().join(name);
        assert_eq!(fs::read(&p).unwrap(), data, "{name}");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, mode, "{name}");
        let mtime = fs::metadata(&p).unwrap().modified().unwrap();
        assert_eq!(mtime, t0(), "{name}");
    }
    assert_eq!(
        fs::read(target.path().join("app/d1/keep.txt")).unwrap(),
        b"keep"
    );
    assert!(r.pre_restore.is_some(), "app/x.txt was replaced");
    // Nothing of the staging folder is left behind.
    let left: Vec<_> = fs::read_dir(target.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["app"], "{left:?}");
}

// ---- the block pipeline (issue 14.5) ----

/// Raw-deflate `data` in one stream at level 6, as zip would without blocks.
fn one_stream_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn deflated_blocks_concatenate_into_one_deflate_stream() {
    let data = text_bytes(3 * create::BLOCK + 777);
    let mut stream = Vec::new();
    let mut prev: &[u8] = &[];
    for block in data.chunks(create::BLOCK) {
        stream.extend(
            create::deflate_block(block, &prev[prev.len().saturating_sub(32 << 10)..]).unwrap(),
        );
        prev = block;
    }
    // What the zip writer's own deflater adds when given no input: an empty final block.
    stream.extend([0x03, 0x00]);
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(&stream[..])
        .read_to_end(&mut out)
        .unwrap();
    assert!(
        out == data,
        "inflated {} bytes of {}",
        out.len(),
        data.len()
    );
    // Priming each block with its predecessor's tail keeps the size of one stream.
    let single = one_stream_deflate(&data).len();
    assert!(
        stream.len() as f64 <= single as f64 * 1.01,
        "blocks {} vs one stream {single}",
        stream.len()
    );
}

#[test]
fn large_files_deflated_in_parallel_blocks_extract_byte_identical_with_right_hashes() {
    let src = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let tree = src.path().join("app");
    let b = create::BLOCK;
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        // Many blocks, the last one partial.
        ("logs/big.log", text_bytes(9 * b + 4321)),
        // An exact multiple of the block size.
        ("logs/exact.log", text_bytes(4 * b)),
        // Just at the threshold: one or two blocks.
        ("logs/edge.log", text_bytes(create::STREAM_MIN as usize)),
        // Incompressible: stored, block by block.
        ("uploads/blob.bin", random_bytes(3 * b + 5, 7)),
        // Small ones next to them.
        ("small.txt", b"small\n".to_vec()),
        ("mid.log", text_bytes(create::STREAM_MIN as usize - 1)),
    ];
    // Text that changes character every block, so each block differs.
    let mut mixed = Vec::new();
    for i in 0..6u8 {
        mixed.extend(text_bytes(b).iter().map(|c| c.wrapping_add(i % 3)));
    }
    files.push(("logs/mixed.log", mixed));
    for (rel, data) in &files {
        write_file(&tree.join(rel), data, 0o640, t0());
    }
    let made = create_one(backup.path(), "big", std::slice::from_ref(&tree), &quiet()).unwrap();
    assert_eq!(made.files, files.len() as u64);
    let v = verify(Path::new(&made.path), &no_cancel()).unwrap();
    assert!(v.ok, "{:?}", v.bad);

    let mut z = ZipArchive::new(File::open(&made.path).unwrap()).unwrap();
    let mut m = String::new();
    z.by_name(MANIFEST_NAME)
        .unwrap()
        .read_to_string(&mut m)
        .unwrap();
    let m = Manifest::parse(m.as_bytes()).unwrap();
    for (rel, data) in &files {
        let name = format!("app/{rel}");
        let mut e = z.by_name(&name).unwrap();
        let method = e.compression();
        let compressed = e.compressed_size();
        let mut got = Vec::new();
        e.read_to_end(&mut got).unwrap();
        assert!(got == *data, "{name}: content differs");
        let rec = m.files.iter().find(|f| f.name == name).unwrap();
        assert_eq!(rec.sha256, hex(&Sha256::digest(data)), "{name}");
        assert_eq!(rec.size, data.len() as u64, "{name}");
        if rel.ends_with(".bin") || rel.ends_with(".txt") {
            // Random content, and a file too small for deflate to win, are stored.
            assert_eq!(method, CompressionMethod::Stored, "{name}");
        } else {
            assert_eq!(method, CompressionMethod::Deflated, "{name}");
            let single = one_stream_deflate(data).len() as f64;
            assert!(
                compressed as f64 <= single * 1.01 + 64.0,
                "{name}: {compressed} bytes vs {single} in one stream"
            );
        }
    }
    drop(z);
    // Another reader agrees (when Info-ZIP's unzip is installed).
    if let Ok(out) = std::process::Command::new("unzip")
        .arg("-tq")
        .arg(&made.path)
        .output()
    {
        assert!(
            out.status.success(),
            "unzip -t: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dest = tempfile::tempdir().unwrap();
    restore(
        Path::new(&made.path),
        dest.path(),
        backup.path(),
        &RestoreOptions::default(),
        &no_cancel(),
    )
    .unwrap();
    assert_eq!(snapshot(&tree), snapshot(&dest.path().join("app")));
}

#[test]
fn sha256_file_hashes_whole_files_and_refuses_non_regular_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = text_bytes(700_000);
    let p = dir.path().join("f");
    fs::write(&p, &data).unwrap();
    assert_eq!(
        create::sha256_file(&p, &no_cancel()).unwrap(),
        hex(&Sha256::digest(&data))
    );
    assert!(create::sha256_file(dir.path(), &no_cancel()).is_err());
}
