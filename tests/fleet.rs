//! Fleet runs against real hosts: each host is a network namespace made here (a veth pair,
//! addresses in 10.231.X.0/24 that exist only between the root namespace and that namespace)
//! running its own Debian `sshd` with a host key generated for this test, pinned in a test
//! `known_hosts`, and its own HOME, `runbook.toml`, state folder and audit log (set by the
//! sshd's `SetEnv`). The controller reaches only those addresses.
//!
//! Needs root (`ip netns`) and `tests/fixtures/setup.sh` (openssh-server, iproute2,
//! ansible-core). Every namespace, veth and sshd is removed by `Drop`, also when a test fails.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::Sandbox;
use serde_json::Value;

fn sh(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ip(args: &[&str]) -> Output {
    sh(Command::new("ip").args(args))
}

/// Poll `f` until it is true or `secs` pass (panics with `what`): the kit's `wait_until`.
fn wait_for(secs: u64, what: &str, f: impl FnMut() -> bool) {
    common::wait_until(Duration::from_secs(secs), what, f)
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// One test host: a namespace, its veth pair and its sshd.
struct Host {
    name: String,
    ns: String,
    veth: String,
    addr: String,
    dir: PathBuf,
    sshd: Option<Child>,
    stopped: bool,
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut c) = self.sshd.take() {
            if self.stopped {
                let _ = Command::new("kill")
                    .args(["-CONT", &c.id().to_string()])
                    .status();
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // Deleting the namespace destroys its end of the veth pair, and with it the pair.
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .stderr(Stdio::null())
            .status();
    }
}

impl Host {
    fn home(&self) -> PathBuf {
        self.dir.join("home")
    }
    fn conf(&self) -> PathBuf {
        self.dir.join("conf")
    }
    fn audit(&self) -> Vec<Value> {
        read_jsonl(&self.dir.join("state/audit.jsonl"))
    }
    /// This host's `runbook.toml` (its own policy).
    fn policy(&self, toml: &str) {
        std::fs::write(self.conf().join("runbook.toml"), toml).unwrap();
    }
    /// Stop the sshd (SIGSTOP): connections are accepted by the kernel, never answered.
    fn hang(&mut self) {
        let pid = self.sshd.as_ref().unwrap().id().to_string();
        sh(Command::new("kill").args(["-STOP", &pid]));
        self.stopped = true;
    }
}

fn read_jsonl(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .map(|t| {
            t.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// A fleet of test hosts plus the controller's ssh configuration.
struct Fleet {
    hosts: Vec<Host>,
    dir: tempfile::TempDir,
    sandbox: Sandbox,
}

/// How to make one host.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// sshd running, `runbook` on PATH is the binary under test.
    Normal,
    /// No sshd: connections are refused.
    Down,
    /// `runbook` on PATH is an older release (reports 0.0.1, has no `remote-run`).
    OldVersion,
}

impl Fleet {
    fn new(kinds: &[Kind]) -> Fleet {
        std::fs::create_dir_all("/run/sshd").unwrap();
        let dir = tempfile::Builder::new()
            .prefix("runbook-fleet-")
            .tempdir()
            .unwrap();
        let d = dir.path().to_path_buf();
        sh(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "fleet-test", "-f"])
            .arg(d.join("id")));
        std::fs::copy(d.join("id.pub"), d.join("authorized_keys")).unwrap();
        let mut fleet = Fleet {
            hosts: Vec::new(),
            dir,
            sandbox: Sandbox::new(),
        };
        let mut known = String::new();
        let mut cfg = String::new();
        for (i, kind) in kinds.iter().enumerate() {
            let h = fleet.make_host(i + 1, *kind);
            let pubkey = std::fs::read_to_string(h.dir.join("hostkey.pub")).unwrap();
            let mut parts = pubkey.split_whitespace();
            known.push_str(&format!(
                "{} {} {}\n",
                h.addr,
                parts.next().unwrap(),
                parts.next().unwrap()
            ));
            cfg.push_str(&format!("Host {}\n  HostName {}\n", h.name, h.addr));
            fleet.hosts.push(h);
        }
        std::fs::write(d.join("known_hosts"), known).unwrap();
        cfg.push_str(&format!(
            "Host *\n  User root\n  IdentityFile {id}\n  IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  \
             GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n",
            id = d.join("id").display(),
            kh = d.join("known_hosts").display()
        ));
        std::fs::write(d.join("ssh_config"), cfg).unwrap();
        // Wait for every running sshd to accept connections.
        for h in &fleet.hosts {
            if h.sshd.is_some() {
                let addr: SocketAddr = format!("{}:22", h.addr).parse().unwrap();
                wait_for(10, &format!("sshd on {}", h.addr), || {
                    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                });
            }
        }
        fleet
    }

    fn make_host(&self, i: usize, kind: Kind) -> Host {
        let pid = std::process::id();
        // Claim a free /24: `ip link add` of a veth named after it fails when it is taken.
        let start = (pid as usize * 7 + NEXT.fetch_add(1, Ordering::SeqCst) as usize * 13) % 200;
        let mut octet = None;
        for k in 0..200 {
            let o = 20 + (start + k) % 200;
            let ok = Command::new("ip")
                .args([
                    "link",
                    "add",
                    &format!("rbf{o}h"),
                    "type",
                    "veth",
                    "peer",
                    "name",
                ])
                .arg(format!("rbf{o}n"))
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success();
            if ok {
                octet = Some(o);
                break;
            }
        }
        let o = octet.expect("a free 10.231.X.0/24");
        let name = format!("h{i}");
        let dir = self.dir.path().join(&name);
        for sub in ["home/work", "conf/runbooks", "state", "bin"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let mut host = Host {
            name,
            ns: format!("rbf-{pid}-{o}"),
            veth: format!("rbf{o}h"),
            addr: format!("10.231.{o}.2"),
            dir: dir.clone(),
            sshd: None,
            stopped: false,
        };
        let peer = format!("rbf{o}n");
        ip(&["netns", "add", &host.ns]);
        ip(&["link", "set", &peer, "netns", &host.ns]);
        ip(&[
            "addr",
            "add",
            &format!("10.231.{o}.1/24"),
            "dev",
            &host.veth,
        ]);
        ip(&["link", "set", &host.veth, "up"]);
        let inns = |args: &[&str]| {
            let mut v = vec!["netns", "exec", host.ns.as_str(), "ip"];
            v.extend_from_slice(args);
            ip(&v)
        };
        inns(&["addr", "add", &format!("{}/24", host.addr), "dev", &peer]);
        inns(&["link", "set", &peer, "up"]);
        inns(&["link", "set", "lo", "up"]);

        let bin = common::bin();
        match kind {
            Kind::OldVersion => {
                let script = "#!/bin/sh\n# An older runbook release: another version, no remote-run.\n\
                    if [ \"$1\" = --version ]; then echo 'runbook 0.0.1'; exit 0; fi\n\
                    echo \"error: unrecognized subcommand '$1'\" >&2; exit 2\n";
                let p = dir.join("bin/runbook");
                std::fs::write(&p, script).unwrap();
                sh(Command::new("chmod").arg("755").arg(&p));
            }
            _ => std::os::unix::fs::symlink(&bin, dir.join("bin/runbook")).unwrap(),
        }
        // The default policy of a host: write its work folder, an app it may restart.
        host.policy(&policy_with_app(&host, "/bin/true"));
        sh(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(dir.join("hostkey")));
        let conf = format!(
            "Port 22\nListenAddress {addr}\nHostKey {d}/hostkey\nPidFile none\n\
             AuthorizedKeysFile {root}/authorized_keys\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
             MaxSessions 50\nMaxStartups 100\nLogLevel ERROR\n\
             SetEnv HOME={d}/home RUNBOOK_CONFIG_DIR={d}/conf RUNBOOK_STATE_DIR={d}/state \
             PATH={d}/bin:/usr/local/bin:/usr/bin:/bin\n",
            addr = host.addr,
            d = dir.display(),
            root = self.dir.path().display()
        );
        std::fs::write(dir.join("sshd_config"), conf).unwrap();
        if kind != Kind::Down {
            let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
            let child = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &host.ns,
                    "/usr/sbin/sshd",
                    "-D",
                    "-e",
                    "-f",
                ])
                .arg(dir.join("sshd_config"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("sshd");
            host.sshd = Some(child);
        }
        host
    }

    fn ssh_config(&self) -> String {
        self.dir.path().join("ssh_config").display().to_string()
    }

    fn names(&self) -> String {
        self.hosts
            .iter()
            .map(|h| h.name.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A runbook in the controller's `./runbooks` (never installed on the hosts).
    fn runbook(&self, name: &str, text: &str) {
        self.sandbox.file(&format!("runbooks/{name}.rhai"), text);
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.sandbox.cmd();
        c.args(args).args(["--ssh-config", &self.ssh_config()]);
        c
    }

    /// `runbook ARGS --ssh-config … --json` → (exit code, merged report, stderr).
    fn run_json(&self, args: &[&str]) -> (i32, Value, String) {
        let out = self.cmd(args).arg("--json").output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let doc = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"));
        (out.status.code().unwrap_or(-1), doc, stderr)
    }
}

/// A host policy: writes under its home's `work/`, service `app` (command manager) whose
/// restart runs `restart` and appends a line to `work/restarts` when it is `/bin/true`.
fn policy_with_app(h: &Host, restart: &str) -> String {
    let work = h.home().join("work");
    let restart_cmd = if restart == "/bin/true" {
        format!(
            "[\"/bin/sh\", \"-c\", \"echo restarted >> {}/restarts\"]",
            work.display()
        )
    } else {
        format!("[\"{restart}\"]")
    };
    format!(
        "[policy]\nwrite = [\"{w}\"]\nrestart_limit = \"100/1m\"\n\n\
         [services.app]\nmanager = \"command\"\nstatus_cmd = [\"/bin/true\"]\nrestart_cmd = {restart_cmd}\nsettle_s = 0\n",
        w = work.display()
    )
}

fn policy_without_app(h: &Host) -> String {
    format!(
        "[policy]\nwrite = [\"{}\"]\n",
        h.home().join("work").display()
    )
}

const OK_RUNBOOK: &str = r#"//! Fleet test: report where it ran, through a module only the controller has.
//!
//! @param note: string = "plain"   written to work/note on the host, as data
import "fleetlib" as lib;
fs::write("work/note", note);
print(lib::greeting());
check("bundle module loaded", lib::greeting() == "from the bundle", lib::greeting());
"#;

const FLEETLIB: &str = "fn greeting() { \"from the bundle\" }\n";

const RESTART_RUNBOOK: &str = r#"//! Fleet test: restart the app and check it is online.
let s = service::restart("app");
check("app online after restart", s.state == "online", s.state);
"#;

const SLOW_RUNBOOK: &str = r#"//! Fleet test: mark the start, then wait long (slow hosts only, or all with all=true).
//!
//! @param all: bool = false   sleep on every host
fs::write("work/started", "yes");
if all || fs::exists("work/slow") { sleep_s(120); }
check("finished", true, "");
"#;

fn host<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["hosts"][name]
}

#[test]
fn all_healthy_hosts_run_the_bundle_under_their_own_policy() {
    let f = Fleet::new(&[Kind::Normal, Kind::Normal, Kind::Normal]);
    f.runbook("fleet-ok", OK_RUNBOOK);
    f.sandbox.file("runbooks/fleetlib.rhai", FLEETLIB);
    // A parameter that a remote shell would expand: it must arrive as data.
    let note = "$(touch /tmp/runbook-fleet-pwned) `id` \"quoted\" 'x' ; &";
    let (code, doc, stderr) = f.run_json(&[
        "run",
        "fleet-ok",
        "--hosts",
        &f.names(),
        "-p",
        &format!("note={note}"),
    ]);
    assert_eq!(code, 0, "{doc:#}\n{stderr}");
    assert_eq!(doc["summary"]["hosts"], 3);
    assert_eq!(doc["summary"]["ok"], 3);
    for h in &f.hosts {
        let r = host(&doc, &h.name);
        assert_eq!(r["status"], "ok", "{r:#}");
        assert_eq!(r["checks"][0]["detail"], "from the bundle");
        assert_eq!(r["params"]["note"], note);
        assert_eq!(
            std::fs::read_to_string(h.home().join("work/note")).unwrap(),
            note
        );
        // The host's own audit log holds its own effect.
        let recs = h.audit();
        assert!(
            recs.iter()
                .any(|r| r["action"] == "fs.write" && r["outcome"] == "done"),
            "{recs:?}"
        );
    }
    assert!(!Path::new("/tmp/runbook-fleet-pwned").exists());
    // The controller's audit log records the fan-out, one record per host.
    let local = f.sandbox.audit();
    let runs: Vec<_> = local
        .iter()
        .filter(|r| r["action"] == "fleet.run")
        .collect();
    assert_eq!(runs.len(), 3, "{local:?}");
    assert!(runs.iter().all(|r| r["outcome"] == "done"));
    assert!(!local.iter().any(|r| r["action"] == "fs.write"));
    // Written ahead: each host's `started` record precedes its outcome.
    let raw = f
        .sandbox
        .audit_raw_at(&f.sandbox.state().join("audit.jsonl"));
    let started = raw
        .iter()
        .filter(|r| r["action"] == "fleet.run" && r["outcome"] == "started")
        .count();
    assert_eq!(started, 3, "{raw:?}");

    // Human output: one line per host, the summary on stderr; the hosts from a `[hosts]` group
    // of the controller's runbook.toml.
    let group: Vec<String> = f.hosts.iter().map(|h| format!("{:?}", h.name)).collect();
    f.sandbox
        .config(&format!("[hosts]\nweb = [{}]\n", group.join(", ")));
    let out = f
        .cmd(&["run", "fleet-ok", "--hosts", "web", "--forks", "2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for h in &f.hosts {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&h.name) && l.contains("ok")),
            "{text}"
        );
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("on 3 host(s): 3 ok"));
}

#[test]
fn a_down_host_is_unreachable_and_the_others_complete() {
    let f = Fleet::new(&[Kind::Normal, Kind::Down, Kind::Normal]);
    f.runbook("fleet-ok", OK_RUNBOOK);
    f.sandbox.file("runbooks/fleetlib.rhai", FLEETLIB);
    let (code, doc, _) = f.run_json(&["run", "fleet-ok", "--hosts", &f.names()]);
    assert_eq!(code, 7, "{doc:#}");
    let down = host(&doc, "h2")["unreachable"].as_str().unwrap();
    assert!(down.to_lowercase().contains("refused"), "{down}");
    assert_eq!(host(&doc, "h1")["status"], "ok");
    assert_eq!(host(&doc, "h3")["status"], "ok");
    assert_eq!(doc["summary"]["unreachable"], 1);
    let local = f.sandbox.audit();
    assert!(
        local
            .iter()
            .any(|r| r["action"] == "fleet.run" && r["target"] == "h2" && r["outcome"] == "failed")
    );
}

#[test]
fn a_host_whose_policy_denies_the_restart_is_reported_denied() {
    let f = Fleet::new(&[Kind::Normal, Kind::Normal, Kind::Normal]);
    f.hosts[1].policy(&policy_without_app(&f.hosts[1]));
    f.runbook("fleet-restart", RESTART_RUNBOOK);
    let (code, doc, _) = f.run_json(&["run", "fleet-restart", "--hosts", &f.names()]);
    assert_eq!(code, 4, "{doc:#}");
    let denied = host(&doc, "h2");
    assert_eq!(denied["status"], "denied", "{denied:#}");
    assert_eq!(denied["effects"][0]["outcome"], "denied");
    assert!(!f.hosts[1].home().join("work/restarts").exists());
    assert!(
        f.hosts[1]
            .audit()
            .iter()
            .any(|r| r["action"] == "service.restart" && r["outcome"] == "denied")
    );
    for i in [0, 2] {
        let h = &f.hosts[i];
        assert_eq!(host(&doc, &h.name)["status"], "ok");
        assert_eq!(
            std::fs::read_to_string(h.home().join("work/restarts")).unwrap(),
            "restarted\n"
        );
    }
    // Dry run: planned on the allowed hosts, nothing restarted.
    let (_, doc, _) = f.run_json(&["run", "fleet-restart", "--hosts", "h1", "--dry-run"]);
    assert_eq!(host(&doc, "h1")["effects"][0]["outcome"], "planned");
    assert_eq!(
        std::fs::read_to_string(f.hosts[0].home().join("work/restarts")).unwrap(),
        "restarted\n"
    );
}

#[test]
fn another_runbook_version_is_refused_without_push_and_runs_with_it() {
    let f = Fleet::new(&[Kind::Normal, Kind::OldVersion, Kind::Normal]);
    f.runbook("fleet-ok", OK_RUNBOOK);
    f.sandbox.file("runbooks/fleetlib.rhai", FLEETLIB);
    let (code, doc, _) = f.run_json(&["run", "fleet-ok", "--hosts", &f.names()]);
    assert_eq!(code, 2, "{doc:#}");
    let old = host(&doc, "h2");
    let err = old["error"].as_str().unwrap();
    assert!(
        err.contains("runbook 0.0.1") && err.contains("--push"),
        "{err}"
    );
    assert_eq!(host(&doc, "h1")["status"], "ok");

    let (code, doc, stderr) = f.run_json(&["run", "fleet-ok", "--hosts", &f.names(), "--push"]);
    assert_eq!(code, 0, "{doc:#}\n{stderr}");
    assert_eq!(host(&doc, "h2")["pushed"], true);
    assert_eq!(doc["summary"]["pushed"], serde_json::json!(["h2"]));
    // The copy sits in the host user's cache, named and verified by SHA-256.
    let cache = f.hosts[1].home().join(".cache/runbook");
    let files: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let sum = sh(Command::new("sha256sum").arg(&files[0])).stdout;
    let sum = String::from_utf8_lossy(&sum);
    let mine = sh(Command::new("sha256sum").arg(common::bin())).stdout;
    assert_eq!(
        sum.split(' ').next(),
        String::from_utf8_lossy(&mine).split(' ').next()
    );
    assert!(
        files[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&format!("runbook-{}", &sum[..16]))
    );
    let pushes: Vec<_> = f
        .sandbox
        .audit()
        .into_iter()
        .filter(|r| r["action"] == "fleet.push")
        .collect();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0]["target"], "h2");
    // A second run finds the verified copy and does not copy again.
    let (code, _, _) = f.run_json(&["run", "fleet-ok", "--hosts", "h2", "--push"]);
    assert_eq!(code, 0);
    let n = f
        .sandbox
        .audit()
        .iter()
        .filter(|r| r["action"] == "fleet.push")
        .count();
    assert_eq!(n, 1);
}

#[test]
fn hung_hosts_end_at_the_per_host_timeout() {
    let mut f = Fleet::new(&[Kind::Normal, Kind::Normal, Kind::Normal]);
    f.runbook("fleet-slow", SLOW_RUNBOOK);
    // h2 answers ssh but its runbook hangs; h3's sshd is frozen.
    std::fs::write(f.hosts[1].home().join("work/slow"), "").unwrap();
    f.hosts[2].hang();
    let t0 = Instant::now();
    let (code, doc, stderr) = f.run_json(&[
        "run",
        "fleet-slow",
        "--hosts",
        &f.names(),
        "--host-timeout",
        "3",
    ]);
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(12), "took {took:?}");
    assert_eq!(host(&doc, "h1")["status"], "ok", "{doc:#}\n{stderr}");
    let slow = host(&doc, "h2");
    assert_eq!(slow["exit_code"], 3, "{slow:#}");
    let frozen = host(&doc, "h3")["unreachable"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(frozen.contains("time"), "{frozen}");
    assert_eq!(code, 3);
    let timed_out = doc["summary"]["timed_out"].as_array().unwrap();
    assert!(timed_out.contains(&Value::from("h2")), "{doc:#}");
    // The host's run was stopped, not left running: its sleep is gone.
    wait_for(5, "h2's runbook process to end", || {
        !process_in(&f.hosts[1].home())
    });
}

/// Whether some process runs with `dir` as its working directory.
fn process_in(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return false;
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .any(|e| std::fs::read_link(e.path().join("cwd")).is_ok_and(|p| p == dir))
}

#[test]
fn rolling_restart_stops_after_the_first_failed_host() {
    let f = Fleet::new(&[Kind::Normal, Kind::Normal, Kind::Normal, Kind::Normal]);
    f.hosts[1].policy(&policy_with_app(&f.hosts[1], "/bin/false"));
    f.runbook("fleet-restart", RESTART_RUNBOOK);
    let (code, doc, _) = f.run_json(&[
        "run",
        "fleet-restart",
        "--hosts",
        &f.names(),
        "--serial",
        "1",
        "--max-fail",
        "1",
    ]);
    assert_eq!(code, 5, "{doc:#}");
    assert_eq!(host(&doc, "h1")["status"], "ok");
    assert_eq!(
        host(&doc, "h2")["effects"][0]["outcome"],
        "failed",
        "{doc:#}"
    );
    for name in ["h3", "h4"] {
        assert!(
            host(&doc, name)["skipped"]
                .as_str()
                .unwrap()
                .contains("--max-fail")
        );
    }
    assert!(f.hosts[0].home().join("work/restarts").exists());
    assert!(!f.hosts[2].home().join("work/restarts").exists());
    assert!(!f.hosts[3].home().join("work/restarts").exists());
    assert_eq!(doc["summary"]["skipped"], 2);
}

#[test]
fn ctrl_c_stops_every_host_and_names_them() {
    let f = Fleet::new(&[Kind::Normal, Kind::Normal, Kind::Normal]);
    f.runbook("fleet-slow", SLOW_RUNBOOK);
    use std::os::unix::process::CommandExt;
    // In its own process group, signalled as a group: what a terminal's Ctrl-C does.
    let child = f
        .cmd(&[
            "run",
            "fleet-slow",
            "--hosts",
            &f.names(),
            "-p",
            "all=true",
            "--json",
        ])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(20, "every host to start the runbook", || {
        f.hosts
            .iter()
            .all(|h| h.home().join("work/started").exists())
    });
    let t0 = Instant::now();
    sh(Command::new("kill").args(["-INT", "--", &format!("-{}", child.id())]));
    let out = child.wait_with_output().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3), "{doc:#}");
    let names: Vec<Value> = f
        .hosts
        .iter()
        .map(|h| Value::from(h.name.clone()))
        .collect();
    assert_eq!(doc["summary"]["interrupted"], Value::from(names));
    for h in &f.hosts {
        let r = host(&doc, &h.name);
        assert_eq!(r["exit_code"], 3, "{r:#}");
        assert_eq!(r["status"], "interrupted", "{r:#}");
        // The report came from the host: its run saw the cancel and stopped.
        assert_eq!(r["effects"][0]["action"], "fs.write", "{r:#}");
        wait_for(5, "the host's runbook process to end", || {
            !process_in(&h.home())
        });
    }
    let local = f.sandbox.audit();
    assert_eq!(
        local
            .iter()
            .filter(|r| r["action"] == "fleet.run" && r["outcome"] == "interrupted")
            .count(),
        3,
        "{local:?}"
    );
}

// ----- Ansible -------------------------------------------------------------------------------

/// `ansible all -i INVENTORY -m runbook -a ARGS` with the module from contrib/ansible and
/// this fleet's ssh settings → `{host: result}`.
fn ansible(f: &Fleet, args: &str, check: bool) -> serde_json::Map<String, Value> {
    let d = f.dir.path();
    let python = String::from_utf8(
        sh(Command::new("python3").args(["-c", "import sys; print(sys.executable)"])).stdout,
    )
    .unwrap();
    let mut inv = String::from("[fleet]\n");
    for h in &f.hosts {
        inv.push_str(&format!("{}\n", h.name));
    }
    inv.push_str(&format!(
        "\n[fleet:vars]\nansible_python_interpreter={}\n",
        python.trim()
    ));
    std::fs::write(d.join("inventory"), inv).unwrap();
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/ansible");
    // `--tree DIR` (ansible-core's tree callback) writes each host's result as one JSON file.
    let tree = d.join(format!("tree-{}", NEXT.fetch_add(1, Ordering::SeqCst)));
    let mut c = Command::new("ansible");
    c.args(["all", "-i"])
        .arg(d.join("inventory"))
        .args(["-m", "runbook", "-a", args, "--one-line", "--tree"])
        .arg(&tree)
        .env("ANSIBLE_LIBRARY", &lib)
        .env("ANSIBLE_HOME", d.join("ansible"))
        .env("ANSIBLE_LOCAL_TEMP", d.join("ansible/tmp"))
        .env(
            "ANSIBLE_SSH_ARGS",
            format!("-F {} -o ControlMaster=no", f.ssh_config()),
        )
        .env("ANSIBLE_PIPELINING", "1")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORKS", "10");
    if check {
        c.arg("--check");
    }
    let out = c
        .output()
        .expect("ansible (tests/fixtures/setup.sh installs ansible-core)");
    let mut hosts = serde_json::Map::new();
    for h in &f.hosts {
        let text = std::fs::read_to_string(tree.join(&h.name)).unwrap_or_else(|e| {
            panic!(
                "no ansible result for {} ({e}): {}\n{}",
                h.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let mut r: Value = serde_json::from_str(&text).unwrap();
        // The tree file holds the module's return values; Ansible's verdict is on the
        // one-line output: `h1 | SUCCESS => …`, `h1 | CHANGED => …`, `h1 | FAILED! => …`.
        let stdout = String::from_utf8_lossy(&out.stdout);
        let state = stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{} | ", h.name)))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no one-line result for {}: {stdout}", h.name))
            .to_string();
        r["failed"] = Value::Bool(state.starts_with("FAILED"));
        r["ansible_state"] = Value::String(state);
        hosts.insert(h.name.clone(), r);
    }
    hosts
}

#[test]
fn ansible_module_maps_ok_changed_failed_and_check_mode() {
    let f = Fleet::new(&[Kind::Normal, Kind::Normal, Kind::Normal]);
    // The module runs each host's installed runbook by name: install the test runbooks there.
    for h in &f.hosts {
        std::fs::write(
            h.conf().join("runbooks/fleet-restart.rhai"),
            RESTART_RUNBOOK,
        )
        .unwrap();
    }
    f.hosts[2].policy(&policy_with_app(&f.hosts[2], "/bin/false"));

    // health-check, the built-in runbook: every host answers with its report; `failed` follows
    // the report's status (a busy machine may miss the CPU target — that is the check working).
    let res = ansible(&f, "name=health-check", false);
    assert_eq!(res.len(), 3, "{res:?}");
    for (name, r) in &res {
        let status = r["report"]["status"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {r:#}"));
        assert_eq!(r["report"]["runbook"], "health-check");
        assert_eq!(
            r["failed"].as_bool().unwrap_or(false),
            status != "ok" && status != "inconclusive",
            "{r:#}"
        );
        assert_eq!(r["changed"], false);
    }

    // Check mode → --dry-run: the restart is planned, reported as a change, not done.
    let res = ansible(&f, "name=fleet-restart", true);
    for h in &f.hosts[..2] {
        let r = &res[&h.name];
        assert_eq!(r["report"]["effects"][0]["outcome"], "planned", "{r:#}");
        assert_eq!(r["changed"], true);
        assert!(!r["failed"].as_bool().unwrap_or(false));
        assert!(!h.home().join("work/restarts").exists());
    }

    // For real: changed on h1/h2, failed on h3 (its restart command fails).
    let res = ansible(&f, "name=fleet-restart", false);
    for h in &f.hosts[..2] {
        let r = &res[&h.name];
        assert_eq!(r["changed"], true, "{r:#}");
        assert_eq!(r["ansible_state"], "CHANGED", "{r:#}");
        assert!(h.home().join("work/restarts").exists());
    }
    let bad = &res["h3"];
    assert_eq!(bad["failed"], true, "{bad:#}");
    assert_eq!(bad["report"]["status"], "error");
    assert_eq!(bad["rc"], 5);

    // ok and unchanged: a runbook with no effect, all checks passing.
    for h in &f.hosts {
        std::fs::write(
            h.conf().join("runbooks/fleet-quiet.rhai"),
            "//! Fleet test: one passing check.\ncheck(\"quiet\", true, \"\");\n",
        )
        .unwrap();
    }
    let res = ansible(&f, "name=fleet-quiet", false);
    for h in &f.hosts {
        let r = &res[&h.name];
        assert_eq!(r["changed"], false, "{r:#}");
        assert_eq!(r["ansible_state"], "SUCCESS", "{r:#}");
        assert_eq!(r["report"]["status"], "ok");
    }
}

#[test]
fn a_host_that_ssh_would_read_as_an_option_is_refused_before_any_connection() {
    let sb = Sandbox::new();
    let out = sb
        .cmd()
        .args([
            "run",
            "health-check",
            "--hosts",
            "ok1,-oProxyCommand=touch /tmp/x",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["error"].as_str().unwrap().contains("not a host name"),
        "{doc:#}"
    );
    assert_eq!(doc["summary"]["hosts"], 0);
    assert!(sb.audit().is_empty());
}
