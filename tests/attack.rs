//! Hostile input through the real binary: archives, symlinks, the audit log, `cmd::run`'s
//! environment, secrets in URLs. Each test is a reproduction of a found bug.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;

use common::{CheckExt, EffectExt, Sandbox};

/// Rewrite archive `src` into `dst` with its manifest changed by `edit`.
fn rewrite_manifest(
    src: &std::path::Path,
    dst: &std::path::Path,
    edit: impl Fn(&mut serde_json::Value),
) {
    let mut zin = zip::ZipArchive::new(std::fs::File::open(src).unwrap()).unwrap();
    let mut zout = zip::ZipWriter::new(std::fs::File::create(dst).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    let mut manifest = None;
    for i in 0..zin.len() {
        let mut e = zin.by_index(i).unwrap();
        let name = e.name().unwrap().to_string();
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).unwrap();
        if name == ".runbook-manifest.json" {
            manifest = Some(serde_json::from_slice::<serde_json::Value>(&buf).unwrap());
        } else if e.is_dir() {
            zout.add_directory(name.trim_end_matches('/'), opts)
                .unwrap();
        } else {
            zout.start_file(name, opts).unwrap();
            zout.write_all(&buf).unwrap();
        }
    }
    let mut m = manifest.expect("manifest");
    edit(&mut m);
    zout.start_file(".runbook-manifest.json", opts).unwrap();
    zout.write_all(m.to_string().as_bytes()).unwrap();
    zout.finish().unwrap();
}

#[test]
fn a_manifest_directory_outside_the_target_is_refused() {
    let sb = Sandbox::new();
    let root = sb.path();
    sb.file("data/src/a.txt", "hello\n");
    std::fs::create_dir_all(root.join("outside/victim")).unwrap();
    std::fs::set_permissions(
        root.join("outside/victim"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    sb.config("[policy]\nread = [\"data\", \"mal\"]\nwrite = [\"data/w\"]\n");
    sb.run_script(
        "mk",
        "let r = backup::create(\"demo\", [\"data/src\"]); print(r.path);",
        &[],
    )
    .expect_code(6);
    let good = std::fs::read_dir(sb.state().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "zip"))
        .unwrap();
    std::fs::create_dir_all(root.join("mal")).unwrap();
    let victim = root.join("outside/victim").display().to_string();
    let dir = |name: &str| serde_json::json!({"name": name, "mode": 0o1777, "mtime": "2000-01-01T00:00:00Z"});
    rewrite_manifest(&good, &root.join("mal/abs.zip"), |m| {
        m["dirs"].as_array_mut().unwrap().push(dir(&victim))
    });
    rewrite_manifest(&good, &root.join("mal/up.zip"), |m| {
        m["dirs"]
            .as_array_mut()
            .unwrap()
            .push(dir("../../outside/victim"))
    });
    rewrite_manifest(&good, &root.join("mal/new.zip"), |m| {
        m["dirs"]
            .as_array_mut()
            .unwrap()
            .push(dir("../../outside/made"))
    });
    // A folder reached through a symbolic link already in the target.
    rewrite_manifest(&good, &root.join("mal/lnk.zip"), |m| {
        m["dirs"].as_array_mut().unwrap().push(dir("lnk/victim"))
    });
    std::fs::create_dir_all(root.join("data/w/r-lnk")).unwrap();
    std::os::unix::fs::symlink(root.join("outside"), root.join("data/w/r-lnk/lnk")).unwrap();
    for a in ["abs", "up", "new", "lnk"] {
        let script = format!(
            "let v = backup::verify(\"mal/{a}.zip\");\n\
             check(\"verify\", !v.ok, `${{v.bad}}`);\n\
             backup::restore(\"mal/{a}.zip\", \"data/w/r-{a}\");"
        );
        let r = sb.run_script(&format!("restore-{a}"), &script, &[]);
        r.no_panic();
        assert_ne!(r.code, 0, "{a}: restored: {}", r.stdout);
        if a != "lnk" {
            r.check("verify").is_ok(); // the script's check: verify said "not ok"
        }
    }
    let mode = std::fs::metadata(root.join("outside/victim"))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o755, "a folder outside the write roots was chmod-ed");
    assert!(
        !root.join("outside/made").exists(),
        "a folder outside the write roots was created"
    );
}

#[test]
fn scripts_cannot_rewrite_or_delete_the_audit_log_or_the_config() {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrite = [\".\"]\n");
    // A first effect so the audit log exists.
    sb.run_script("first", "fs::write(\"note.txt\", \"x\");", &[])
        .expect_code(6);
    let before = sb.audit().len();
    assert!(before >= 1);
    let audit = sb.state().join("audit.jsonl").display().to_string();
    for (name, call) in [
        ("write", format!("fs::write({audit:?}, \"forged\\n\")")),
        ("append", format!("fs::append({audit:?}, \"forged\\n\")")),
        ("remove", format!("fs::remove({audit:?})")),
        ("copy", format!("fs::copy(\"note.txt\", {audit:?})")),
        (
            "cleanup",
            format!(
                "logs::cleanup({:?}, #{{pattern: \"*.jsonl\", older_than: 0}})",
                sb.state().display()
            ),
        ),
        (
            "config",
            "fs::write(\"runbook.toml\", \"[policy]\\nwrite = [\\\"/\\\"]\\n\")".to_string(),
        ),
    ] {
        let r = sb.run_script(name, &format!("{call};"), &[]);
        r.no_panic();
        assert_eq!(r.code, 4, "{name}: not denied: {}\n{}", r.stdout, r.stderr);
    }
    let text = std::fs::read_to_string(sb.state().join("audit.jsonl")).unwrap();
    assert!(!text.contains("forged"), "audit log was forged:\n{text}");
    // Every attempt is itself on record, after the earlier records.
    let recs = sb.audit();
    assert_eq!(recs.len(), before + 6, "{text}");
    assert!(
        recs[before..].iter().all(|r| r["outcome"] == "denied"),
        "{text}"
    );
    let cfg = std::fs::read_to_string(sb.path().join("runbook.toml")).unwrap();
    assert_eq!(cfg, "[policy]\nwrite = [\".\"]\n");
}

#[test]
fn a_chain_of_dangling_symlinks_does_not_lead_out_of_the_write_roots() {
    let sb = Sandbox::new();
    let root = sb.path();
    std::fs::create_dir_all(root.join("w")).unwrap();
    std::fs::create_dir_all(root.join("outside")).unwrap();
    sb.config("[policy]\nwrite = [\"w\"]\n");
    // w/d -> w/e -> outside/new.txt (missing): both links dangle.
    std::os::unix::fs::symlink(root.join("outside/new.txt"), root.join("w/e")).unwrap();
    std::os::unix::fs::symlink(root.join("w/e"), root.join("w/d")).unwrap();
    // A loop of links is an error, not a hang.
    std::os::unix::fs::symlink(root.join("w/l2"), root.join("w/l1")).unwrap();
    std::os::unix::fs::symlink(root.join("w/l1"), root.join("w/l2")).unwrap();
    for call in [
        "fs::append(\"w/d\", \"escaped\\n\")",
        "fs::write(\"w/d\", \"escaped\\n\")",
        "fs::mkdir(\"w/d\")",
    ] {
        let r = sb.run_script("chain", &format!("{call};"), &[]);
        r.no_panic();
        assert_eq!(r.code, 4, "{call}: not denied: {}\n{}", r.stdout, r.stderr);
    }
    assert!(
        !root.join("outside/new.txt").exists(),
        "wrote outside the write roots"
    );
    let r = sb.run_script("loop", "fs::append(\"w/l1\", \"x\");", &[]);
    r.no_panic();
    assert_ne!(r.code, 0, "{}", r.stdout);
}

#[test]
fn a_path_in_cmd_env_does_not_choose_which_program_runs() {
    let sb = Sandbox::new();
    let root = sb.path();
    // An executable named like the allowed program, in a folder the script controls.
    let fake = sb.file("w/bin/git", "#!/bin/sh\necho FAKE > \"$0.ran\"\n");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    sb.config(
        "[policy]\nwrite = [\"w\"]\ncommands = [\"git\"]\nread_only_commands = [\"git status\"]\n",
    );
    let bin = root.join("w/bin").display().to_string();
    let script = format!(
        "let r = cmd::run(\"git\", [\"--version\"], #{{env: #{{PATH: {bin:?}}}}});\nprint(r.stdout);"
    );
    for extra in [&[][..], &["--dry-run"][..]] {
        let script = script.replace(
            "--version",
            if extra.is_empty() {
                "--version"
            } else {
                "status"
            },
        );
        let r = sb.run_script("path", &script, extra);
        r.no_panic();
        assert!(
            !root.join("w/bin/git.ran").exists(),
            "the script's own \"git\" ran ({extra:?}):\n{}\n{}",
            r.stdout,
            r.stderr
        );
    }
}

#[test]
fn a_failed_post_keeps_url_credentials_and_query_out_of_the_audit_log() {
    let sb = Sandbox::new();
    // Port 1 on loopback: nothing listens, the request fails at once.
    let script = "try { http::post(\"http://admin:hunter2@127.0.0.1:1/hook?token=SECRETTOKEN\", \
                  #{body: \"x\", timeout_ms: 2000}); } catch (e) { print(e.kind); }";
    let r = sb.run_script("post", script, &[]);
    r.no_panic().exit(6);
    r.audit().only("http.post").outcome("failed");
    let audit = std::fs::read_to_string(sb.state().join("audit.jsonl")).unwrap();
    for secret in ["hunter2", "SECRETTOKEN"] {
        assert!(
            !audit.contains(secret),
            "audit log holds {secret:?}:\n{audit}"
        );
        let effects = r.report["effects"].to_string();
        assert!(
            !effects.contains(secret),
            "report holds {secret:?}: {effects}"
        );
    }
}

#[test]
fn a_restore_into_the_state_dir_cannot_replace_the_audit_log() {
    let sb = Sandbox::new();
    sb.file("forge/audit.jsonl", "{\"forged\":true}\n");
    sb.config("[policy]\nread = [\"forge\"]\n");
    let state = sb.state().display().to_string();
    let script = format!(
        "let b = backup::create(\"forge\", [\"forge/audit.jsonl\"]);\nbackup::restore(b.path, {state:?});"
    );
    let r = sb.run_script("restore", &script, &[]);
    r.no_panic().exit(4);
    let audit = std::fs::read_to_string(sb.state().join("audit.jsonl")).unwrap();
    assert!(!audit.contains("forged"), "audit log replaced:\n{audit}");
    r.audit().only("backup.create").outcome("done");
    // The restore is refused inside the gate (after its record), as a policy denial.
    let restore = r.audit();
    let restore = restore.only("backup.restore");
    assert!(
        restore["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("denied by policy")),
        "{restore:#}"
    );
}

#[test]
fn an_audit_log_that_is_a_fifo_stops_the_run_instead_of_blocking_it() {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrite = [\"w\"]\n");
    std::fs::create_dir_all(sb.path().join("w")).unwrap();
    let fifo = sb.state().join("audit.jsonl");
    let c = std::ffi::CString::new(fifo.display().to_string()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Denials are audited too: enough of them fill a pipe's buffer (64 KiB).
    sb.file(
        "fifo.rhai",
        "for i in 0..2000 { try { fs::write(\"/etc/runbook-nope\", \"x\"); } catch (e) {} }\n\
         fs::write(\"w/done.txt\", \"x\");",
    );
    let (r, ended) = run_bounded(
        &sb,
        &["run", "fifo.rhai", "--json", "--timeout", "5"],
        std::time::Duration::from_secs(30),
    );
    assert!(
        ended,
        "the run blocked on the audit FIFO past its deadline:\n{}",
        r.stderr
    );
    r.no_panic();
    assert_ne!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("audit.jsonl") || r.stdout.contains("audit.jsonl"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert!(!sb.path().join("w/done.txt").exists());
}

/// Run `runbook ARGS…` in `sb`, killing it when it has not ended after `limit`; returns the
/// output and whether it ended on its own.
fn run_bounded(sb: &Sandbox, args: &[&str], limit: std::time::Duration) -> (common::Run, bool) {
    let mut running = sb.invoke().command(args).spawn();
    let ended = common::wait_exit(&mut running.child, limit).is_some();
    (running.wait(), ended)
}

/// Run `runbook ARGS` in the sandbox; return its exit code, stderr and peak RSS in MiB (wait4's
/// rusage of that one child).
fn run_with_peak_rss(sb: &Sandbox, args: &[&str]) -> (Option<i32>, String, i64) {
    let (r, rss_mib) = sb.invoke().command(args).spawn().wait_peak_rss();
    ((r.code >= 0).then_some(r.code), r.stderr, rss_mib)
}

#[test]
fn one_operation_cannot_take_memory_past_the_budget_plus_64_mib() {
    // Found: the allocator's backstop let one operation grow to 4× the budget + 64 MiB and then
    // aborted (SIGABRT). Each script below makes a single operation ask for far more than the
    // 64 MiB budget: the process stops with exit 3 and a clear line, peak RSS under 128 MiB.
    let sb = Sandbox::new();
    sb.config("[policy]\nmax_memory_mb = 64\n");
    let scripts = [
        // 60 MB string (within the budget), then one append that doubles it.
        (
            "double",
            "let s = \"x\"; s.pad(60_000_000, \"x\");\ns += s;\n",
        ),
        // An array holding one 30 MB string 40 times, turned into one string.
        (
            "join",
            "let s = \"y\"; s.pad(30_000_000, \"y\");\nlet a = []; a.pad(40, s);\nlet t = a.to_string();\n",
        ),
        // A map holding one 30 MB string under ten keys, in its debug form.
        (
            "map",
            "let s = \"z\"; s.pad(30_000_000, \"z\");\nlet m = #{};\nfor i in 0..10 { m[`k${i}`] = s; }\nlet t = m.to_debug();\n",
        ),
    ];
    for (name, body) in scripts {
        sb.file(&format!("{name}.rhai"), &format!("//! @action\n{body}"));
        let (code, stderr, rss_mib) = run_with_peak_rss(&sb, &["run", &format!("{name}.rhai")]);
        assert_eq!(code, Some(3), "{name}: exit {code:?}, stderr {stderr}");
        assert!(stderr.contains("memory limit"), "{name}: {stderr}");
        assert!(rss_mib < 64 + 64, "{name}: peak RSS {rss_mib} MiB");
    }
}
