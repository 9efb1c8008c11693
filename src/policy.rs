//! `runbook.toml`: the policy (what a run may touch) and the inventory (which services exist).
//!
//! Lookup order: `--config FILE`, `./runbook.toml`, `$XDG_CONFIG_HOME/runbook/runbook.toml`,
//! `/etc/runbook/runbook.toml`, then the built-in default: read the current directory, write only the tool's state
//! directory, loopback HTTP only, no services, no commands.
//!
//! Every path is checked after resolving `..` and symbolic links (for a path that does not
//! exist yet, its deepest existing ancestor is resolved), so a symlink inside an allowed root
//! that points outside is denied. Relative paths in the file are relative to the file's folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub backup: BackupSection,
    #[serde(default)]
    pub audit: AuditSection,
    /// `[history]`: the run history database.
    #[serde(default)]
    pub history: HistorySection,
    /// `[[notify]]`: webhooks on check state changes.
    #[serde(default)]
    pub notify: Vec<NotifySpec>,
    /// The inventory: `[services.NAME]`.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSpec>,
    /// Host groups for `runbook run NAME --hosts GROUP`: `[hosts] web = ["web1", "web2"]`.
    #[serde(default)]
    pub hosts: BTreeMap<String, Vec<String>>,
    /// Where the config came from (`None`: built-in default).
    #[serde(skip)]
    pub source: Option<PathBuf>,
    /// The tool's state directory (locks, restart counters, default backups and audit log).
    #[serde(skip)]
    pub state_dir: PathBuf,
}

/// `[policy]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Roots that may be read (everything under `write` may be read too).
    pub read: Vec<PathBuf>,
    /// Roots that may be written.
    pub write: Vec<PathBuf>,
    /// Program names (or absolute paths) `cmd::run` may start.
    pub commands: Vec<String>,
    /// Whole command lines (`"npm outdated --json"`) that change nothing and so also run under
    /// `--dry-run`; a trailing `*` word allows further arguments (see
    /// [`Config::is_read_only_command`]).
    pub read_only_commands: Vec<String>,
    /// Hosts `http::` and `tls::` may reach (exact names; `*.example.com` matches subdomains).
    pub http_hosts: Vec<String>,
    /// Environment variables `env(name)` may read.
    pub env: Vec<String>,
    /// Rhai operation budget per run.
    pub max_operations: u64,
    /// Memory allocated by the whole process, in MiB, above which a script is stopped (exit 3);
    /// the one bound on what a script's values hold together (at least 1).
    pub max_memory_mb: u64,
    /// Wall-clock limit of a run in seconds (`--timeout` overrides).
    pub timeout_s: u64,
    /// Restarts allowed per service per window, `"N/DURATION"` (e.g. `"3/10m"`).
    pub restart_limit: String,
    /// Effects one run may cause (planned ones count too; read-only commands and
    /// compensations do not); the next one stops the run as a limit (exit 3). At least 1: 0 is
    /// refused when the file is loaded, as for the other limits (there is no "unlimited").
    pub max_effects: u64,
    /// Printed lines a run keeps in its report (and echoes); further lines are counted only.
    pub max_output_lines: u64,
    /// Printed bytes a run keeps in its report (and echoes); further lines are counted only.
    pub max_output_bytes: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            read: Vec::new(),
            write: Vec::new(),
            commands: Vec::new(),
            read_only_commands: Vec::new(),
            http_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            env: Vec::new(),
            max_operations: 50_000_000,
            max_memory_mb: 1024,
            timeout_s: 600,
            restart_limit: "3/10m".into(),
            max_effects: 200,
            max_output_lines: 10_000,
            max_output_bytes: 4 << 20,
        }
    }
}

/// `[backup]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSection {
    /// Where archives are written (default: `STATE_DIR/backups`).
    pub dir: Option<PathBuf>,
}

/// `[audit]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// The audit log (default: `STATE_DIR/audit.jsonl`).
    pub path: Option<PathBuf>,
}

/// One inventory entry, `[services.NAME]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// `pm2` | `systemd` | `supervisor` | `command`.
    pub manager: String,
    /// The application's folder (git checkout, `.env`, `logs/`).
    pub workdir: Option<PathBuf>,
    /// Health endpoint; 2xx means healthy.
    pub health_url: Option<String>,
    /// JSON statistics endpoint (`/api/stats`).
    pub stats_url: Option<String>,
    /// Log globs (combined / out).
    #[serde(default)]
    pub logs: Vec<String>,
    /// Error-log globs.
    #[serde(default)]
    pub error_logs: Vec<String>,
    /// Port the service listens on.
    pub port: Option<u16>,
    /// Name known to the manager when it differs from the inventory name
    /// (pm2 app name, systemd unit, supervisor program).
    pub unit: Option<String>,
    /// Manager binary (`pm2`, `systemctl`, `supervisorctl`) when not on `PATH` under its usual name.
    pub bin: Option<String>,
    /// `PM2_HOME` for pm2.
    pub pm2_home: Option<PathBuf>,
    /// pm2: ecosystem file or script used by `start` when the process is not known to pm2.
    pub start_script: Option<PathBuf>,
    /// supervisor: `supervisorctl -c FILE`.
    pub supervisor_config: Option<PathBuf>,
    /// systemd: whether `reset-failed` may be used when the start limit was hit.
    #[serde(default)]
    pub allow_reset_failed: bool,
    /// command manager: shell-free argv lists.
    pub status_cmd: Option<Vec<String>>,
    pub start_cmd: Option<Vec<String>>,
    pub stop_cmd: Option<Vec<String>>,
    pub restart_cmd: Option<Vec<String>>,
    pub reload_cmd: Option<Vec<String>>,
    /// Seconds a service must stay online before `wait_healthy` trusts it (default 2).
    pub settle_s: Option<u64>,
    /// Timeout of one manager call in seconds (default 60).
    pub timeout_s: Option<u64>,
}

/// The tool's state directory: `$RUNBOOK_STATE_DIR`, else `$XDG_STATE_HOME/runbook`
/// (`~/.local/state/runbook`), else `./.runbook`.
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("RUNBOOK_STATE_DIR") {
        return PathBuf::from(d);
    }
    dirs::state_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))
        .map(|d| d.join("runbook"))
        .unwrap_or_else(|| PathBuf::from(".runbook"))
}

/// The system-wide config, searched after the user's.
pub const SYSTEM_CONFIG: &str = "/etc/runbook/runbook.toml";

/// A config file larger than this (1 MiB) is refused.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The user config directory of runbook (`~/.config/runbook`), `$RUNBOOK_CONFIG_DIR` overrides.
pub fn user_config_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("RUNBOOK_CONFIG_DIR") {
        return Some(PathBuf::from(d));
    }
    dirs::config_dir().map(|d| d.join("runbook"))
}

impl Config {
    /// Find and load the configuration (see module docs for the order).
    ///
    /// Errors: an explicit `--config` that does not exist, unreadable or invalid TOML,
    /// unknown keys, an unknown service manager — each naming the file.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        let candidates: Vec<PathBuf> = match explicit {
            Some(p) => {
                if !p.exists() {
                    return Err(Error::Config {
                        path: p.into(),
                        message: "file not found".into(),
                    });
                }
                vec![p.to_path_buf()]
            }
            None => {
                let mut v = vec![PathBuf::from("runbook.toml")];
                if let Some(d) = user_config_dir() {
                    v.push(d.join("runbook.toml"));
                }
                v.push(PathBuf::from(SYSTEM_CONFIG));
                v
            }
        };
        for c in candidates {
            // A path that exists but is not a readable text file is an error naming it, never
            // a silent fall-through to the next file or the default.
            let Ok(meta) = std::fs::metadata(&c) else {
                continue;
            };
            let bad = |message: String| Error::Config {
                path: c.clone(),
                message,
            };
            if !meta.is_file() {
                let what = if meta.is_dir() {
                    "a directory"
                } else {
                    "not a regular file"
                };
                return Err(bad(format!("is {what}, not a config file")));
            }
            if meta.len() > MAX_CONFIG_BYTES {
                return Err(bad(format!(
                    "is larger than {} KiB; is it really a config file?",
                    MAX_CONFIG_BYTES >> 10
                )));
            }
            let bytes = std::fs::read(&c).map_err(|e| Error::io("reading config", &c, e))?;
            let text = String::from_utf8(bytes).map_err(|e| {
                bad(format!(
                    "is not UTF-8 text (invalid byte at offset {}); is it a binary file?",
                    e.utf8_error().valid_up_to()
                ))
            })?;
            if text.contains('\0') {
                return Err(bad("contains NUL bytes; is it a binary file?".into()));
            }
            return Config::from_toml(&text, Some(&c));
        }
        Ok(Config::builtin_default())
    }

    /// The built-in default policy (no file found).
    pub fn builtin_default() -> Config {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let mut cfg = Config {
            state_dir: default_state_dir(),
            ..Config::default()
        };
        cfg.policy.read = vec![cwd];
        cfg.finish(None);
        cfg
    }

    /// Parse a config from TOML text; `path` is used for messages and relative paths.
    pub fn from_toml(text: &str, path: Option<&Path>) -> Result<Config> {
        let where_ = path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("<config>"));
        let mut cfg: Config = toml::from_str(text).map_err(|e| Error::Config {
            path: where_.clone(),
            message: e.to_string().trim().to_string(),
        })?;
        for (name, s) in &cfg.services {
            if !matches!(
                s.manager.as_str(),
                "pm2" | "systemd" | "supervisor" | "command"
            ) {
                return Err(Error::Config {
                    path: where_.clone(),
                    message: format!(
                        "services.{name}.manager = {:?}: expected pm2, systemd, supervisor or command",
                        s.manager
                    ),
                });
            }
        }
        for (key, value) in [
            ("max_operations", cfg.policy.max_operations),
            ("max_memory_mb", cfg.policy.max_memory_mb),
            ("timeout_s", cfg.policy.timeout_s),
            ("max_effects", cfg.policy.max_effects),
        ] {
            if value == 0 {
                return Err(Error::Config {
                    path: where_.clone(),
                    message: format!(
                        "policy.{key} = 0: must be at least 1 (there is no \"unlimited\"; use a large number)"
                    ),
                });
            }
        }
        crate::policy::parse_rate(&cfg.policy.restart_limit).map_err(|m| Error::Config {
            path: where_.clone(),
            message: format!("policy.restart_limit: {m}"),
        })?;
        validate_history(&cfg.history)
            .and_then(|()| validate_notify(&cfg.notify))
            .map_err(|message| Error::Config {
                path: where_.clone(),
                message,
            })?;
        cfg.state_dir = default_state_dir();
        cfg.source = path.map(Path::to_path_buf);
        cfg.finish(path.and_then(Path::parent));
        Ok(cfg)
    }

    /// Make relative paths absolute against `base` and add the state dir to the write roots.
    fn finish(&mut self, base: Option<&Path>) {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let base = match base {
            Some(b) if b.as_os_str().is_empty() => cwd.clone(),
            Some(b) => cwd.join(b),
            None => cwd,
        };
        let abs = |p: &PathBuf| {
            if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            }
        };
        self.policy.read = self.policy.read.iter().map(abs).collect();
        self.policy.write = self.policy.write.iter().map(abs).collect();
        self.backup.dir = Some(
            self.backup
                .dir
                .as_ref()
                .map(abs)
                .unwrap_or_else(|| self.state_dir.join("backups")),
        );
        self.audit.path = Some(
            self.audit
                .path
                .as_ref()
                .map(abs)
                .unwrap_or_else(|| self.state_dir.join("audit.jsonl")),
        );
        for s in self.services.values_mut() {
            s.workdir = s.workdir.as_ref().map(abs);
            s.pm2_home = s.pm2_home.as_ref().map(abs);
            s.start_script = s.start_script.as_ref().map(abs);
            s.supervisor_config = s.supervisor_config.as_ref().map(abs);
            // A program given as a relative path (`node_modules/.bin/pm2`) is relative to this
            // file, like every other path; a bare name (`pm2`) is looked up on PATH.
            let abs_prog = |p: &String| {
                if p.contains('/') && !Path::new(p).is_absolute() {
                    base.join(p).to_string_lossy().into_owned()
                } else {
                    p.clone()
                }
            };
            s.bin = s.bin.as_ref().map(abs_prog);
            for argv in [
                &mut s.status_cmd,
                &mut s.start_cmd,
                &mut s.stop_cmd,
                &mut s.restart_cmd,
                &mut s.reload_cmd,
            ]
            .into_iter()
            .flatten()
            {
                if let Some(first) = argv.first_mut() {
                    *first = abs_prog(first);
                }
            }
            let absg = |g: &String| {
                if Path::new(g).is_absolute() {
                    g.clone()
                } else {
                    base.join(g).to_string_lossy().into_owned()
                }
            };
            s.logs = s.logs.iter().map(absg).collect();
            s.error_logs = s.error_logs.iter().map(absg).collect();
        }
        // The tool's own state (backups, audit log, locks) is always writable.
        let mut own = vec![self.state_dir.clone()];
        own.extend(self.backup.dir.clone());
        for d in own {
            if !self.policy.write.contains(&d) {
                self.policy.write.push(d);
            }
        }
    }

    /// Where backups go.
    pub fn backup_dir(&self) -> PathBuf {
        self.backup
            .dir
            .clone()
            .unwrap_or_else(|| self.state_dir.join("backups"))
    }

    /// Where the audit log is.
    pub fn audit_path(&self) -> PathBuf {
        self.audit
            .path
            .clone()
            .unwrap_or_else(|| self.state_dir.join("audit.jsonl"))
    }

    /// The inventory entry for `name`, or `Denied` (rule `services`).
    pub fn service(&self, name: &str) -> Result<&ServiceSpec> {
        self.services.get(name).ok_or_else(|| {
            // A typo names the close one; an empty inventory usually means no config was loaded.
            let hint = if self.services.is_empty() {
                " — the inventory is empty (no [services.NAME] in the config in use)".to_string()
            } else {
                self.services
                    .keys()
                    .map(|k| (strsim::levenshtein(k, name), k))
                    .filter(|(d, _)| *d <= 2)
                    .min()
                    .map(|(_, k)| format!(" (did you mean {k:?}?)"))
                    .unwrap_or_default()
            };
            Error::denied(
                format!("service {name:?} is not in the inventory{hint}"),
                "services",
            )
        })
    }

    /// Check that `path` may be read; returns the resolved path.
    pub fn check_read(&self, path: &Path) -> Result<PathBuf> {
        let real = resolve(path)?;
        if self
            .policy
            .read
            .iter()
            .chain(self.policy.write.iter())
            .any(|root| under(&real, root))
        {
            Ok(real)
        } else {
            Err(Error::denied(
                format!("read {} (resolves to {})", path.display(), real.display()),
                "policy.read",
            ))
        }
    }

    /// Check that `path` may be written (created, changed or deleted); returns the resolved path.
    pub fn check_write(&self, path: &Path) -> Result<PathBuf> {
        let real = resolve(path)?;
        // The audit log and the config are inside write roots by default (the state dir, the
        // current folder) but are never a script's to change: that would erase the record.
        let db = self.history_db_path();
        let beside = |suffix: &str| {
            let mut name = db.file_name().unwrap_or_default().to_os_string();
            name.push(suffix);
            db.with_file_name(name)
        };
        // The history database's WAL and shared-memory files are part of it (the WAL stays
        // between runs until SQLite checkpoints it).
        let own = [
            Some(self.audit_path()),
            self.source.clone(),
            Some(beside("-wal")),
            Some(beside("-shm")),
            Some(db),
        ];
        if let Some(file) = own
            .iter()
            .flatten()
            .find(|f| resolve(f).is_ok_and(|f| f == real))
        {
            return Err(Error::denied(
                format!(
                    "write {} (resolves to {}, runbook's own {})",
                    path.display(),
                    real.display(),
                    if Some(file) == self.source.as_ref() {
                        "config"
                    } else if *file == self.audit_path() {
                        "audit log"
                    } else {
                        "history database"
                    }
                ),
                "policy.write",
            ));
        }
        if self.policy.write.iter().any(|root| under(&real, root)) {
            Ok(real)
        } else {
            Err(Error::denied(
                format!("write {} (resolves to {})", path.display(), real.display()),
                "policy.write",
            ))
        }
    }

    /// Check that `program` may be started by `cmd::run`.
    pub fn check_command(&self, program: &str) -> Result<()> {
        let base = Path::new(program)
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or(program);
        let ok = self
            .policy
            .commands
            .iter()
            .any(|c| c == program || (!program.contains('/') && c == base));
        if ok {
            Ok(())
        } else {
            Err(Error::denied(
                format!("command {program:?}"),
                "policy.commands",
            ))
        }
    }

    /// Whether `program args…` is one of `read_only_commands`.
    ///
    /// An entry is split on whitespace into a program and arguments and matches only the **whole**
    /// argument vector: `"git status"` matches `git status` and nothing else (not
    /// `git status --short`, not `git -c core.pager=x status`). The program is compared as written
    /// (`"git"` does not match `/usr/bin/git`). A trailing `*` word (`"git log *"`) allows any further
    /// arguments after the fixed ones — a promise the operator makes that no argument can turn the
    /// command into one that changes something. A `*` anywhere else is a literal argument.
    pub fn is_read_only_command(&self, program: &str, args: &[String]) -> bool {
        self.policy
            .read_only_commands
            .iter()
            .any(|rc| read_only_entry_matches(rc, program, args))
    }

    pub fn check_host(&self, host: &str) -> Result<()> {
        let h = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let ok = self.policy.http_hosts.iter().any(|allowed| {
            let a = allowed.to_ascii_lowercase();
            if let Some(suffix) = a.strip_prefix("*.") {
                h.ends_with(&format!(".{suffix}"))
            } else {
                a == h
            }
        });
        if ok {
            Ok(())
        } else {
            Err(Error::denied(format!("host {host:?}"), "policy.http_hosts"))
        }
    }

    /// Check that environment variable `name` may be read.
    pub fn check_env(&self, name: &str) -> Result<()> {
        if self.policy.env.iter().any(|e| e == name) {
            Ok(())
        } else {
            Err(Error::denied(
                format!("environment variable {name:?}"),
                "policy.env",
            ))
        }
    }
}

/// `true` when `path` equals `root` or lies below it (both already resolved or absolute).
/// Whether one `read_only_commands` entry matches `program args…` (see
/// [`Config::is_read_only_command`]).
fn read_only_entry_matches(entry: &str, program: &str, args: &[String]) -> bool {
    let mut words: Vec<&str> = entry.split_whitespace().collect();
    if words.is_empty() || words.remove(0) != program {
        return false;
    }
    match words.split_last() {
        Some((&"*", fixed)) => {
            fixed.len() <= args.len() && fixed.iter().zip(args).all(|(a, b)| *a == b)
        }
        _ => words.len() == args.len() && words.iter().zip(args).all(|(a, b)| *a == b),
    }
}

fn under(path: &Path, root: &Path) -> bool {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| normalize(root));
    path.starts_with(&root)
}

pub use crate::fspath::{normalize, resolve};

/// `[history]` in `runbook.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistorySection {
    /// Record runs at all (default true).
    pub enabled: bool,
    /// The database (default `STATE_DIR/history.db`; relative to the config file's folder).
    pub path: Option<PathBuf>,
    /// How long runs are kept, a duration (`"400d"`).
    pub keep: String,
    /// Record `--dry-run` runs too (default false).
    pub dry_runs: bool,
}

impl Default for HistorySection {
    fn default() -> Self {
        HistorySection {
            enabled: true,
            path: None,
            keep: "400d".into(),
            dry_runs: false,
        }
    }
}

impl Config {
    /// Where the history database is: `[history] path` (relative to the config file's folder),
    /// else `STATE_DIR/history.db`.
    pub fn history_db_path(&self) -> PathBuf {
        match &self.history.path {
            Some(p) if p.is_absolute() => p.clone(),
            Some(p) => self
                .source
                .as_ref()
                .and_then(|s| s.parent())
                .filter(|d| !d.as_os_str().is_empty())
                .map(|d| d.join(p))
                .unwrap_or_else(|| p.clone()),
            None => self.state_dir.join("history.db"),
        }
    }
}

/// Validate `[history]` (called when the config loads): `keep` must be a duration.
fn validate_history(section: &HistorySection) -> std::result::Result<(), String> {
    crate::timefmt::parse_duration_s(&section.keep)
        .map(|_| ())
        .map_err(|e| format!("history.keep: {e}"))
}

/// One `[[notify]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySpec {
    /// Webhook URL (http or https). Its path and query may hold a token: only scheme, host and
    /// port appear in the audit log and reports.
    pub url: String,
    /// `"json"` (generic, default) or `"slack"` (a Slack-compatible `{"text": …}` body).
    #[serde(default = "default_format")]
    pub format: String,
    /// Runbook names this entry covers (empty: all).
    #[serde(default)]
    pub runbooks: Vec<String>,
    /// Check names (or prefixes ending in `*`) this entry covers (empty: all).
    #[serde(default)]
    pub checks: Vec<String>,
    /// Consecutive failures before the message fires (default 1).
    #[serde(default = "default_after")]
    pub after: u32,
    /// Also send a message when the check recovers.
    #[serde(default)]
    pub resolved: bool,
    /// Seconds for the delivery, retry included (default 5).
    #[serde(default = "default_timeout")]
    pub timeout_s: u64,
}

fn default_format() -> String {
    "json".into()
}
fn default_after() -> u32 {
    1
}
fn default_timeout() -> u64 {
    5
}

/// Validate the entries when the config loads: URL, format, `after`, timeout.
fn validate_notify(entries: &[NotifySpec]) -> std::result::Result<(), String> {
    for (i, n) in entries.iter().enumerate() {
        crate::host::http::parse_url(&n.url)
            .map_err(|e| format!("notify[{i}].url: {}", e.message))?;
        if n.format != "json" && n.format != "slack" {
            return Err(format!(
                "notify[{i}].format = {:?}: expected \"json\" or \"slack\"",
                n.format
            ));
        }
        if n.after == 0 {
            return Err(format!("notify[{i}].after must be at least 1"));
        }
        if n.timeout_s == 0 || n.timeout_s > 60 {
            return Err(format!(
                "notify[{i}].timeout_s = {}: expected 1 to 60 seconds",
                n.timeout_s
            ));
        }
    }
    Ok(())
}

/// Parse a rate like `"3/10m"` into (count, window seconds).
pub fn parse_rate(s: &str) -> std::result::Result<(u32, u64), String> {
    let (n, w) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?}: expected N/DURATION, e.g. \"3/10m\""))?;
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: {n:?} is not a count"))?;
    let w = crate::timefmt::parse_duration_s(w.trim()).map_err(|e| format!("{s:?}: {e}"))?;
    Ok((n, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_rate("3/10m"), Ok((3, 600)));
        assert!(parse_rate("3").is_err());
    }

    #[test]
    fn read_only_entries_match_the_whole_argv() {
        let mut c = Config::builtin_default();
        c.policy.read_only_commands = vec![
            "npm audit".into(),
            "git status".into(),
            "git tag".into(),
            "git log *".into(),
            "npm outdated --json".into(),
        ];
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(c.is_read_only_command("npm", &v(&["audit"])));
        assert!(!c.is_read_only_command("npm", &v(&["audit", "fix", "--force"])));
        assert!(c.is_read_only_command("git", &v(&["tag"])));
        assert!(!c.is_read_only_command("git", &v(&["tag", "-d", "v1"])));
        assert!(c.is_read_only_command("git", &v(&["status"])));
        assert!(!c.is_read_only_command("git", &v(&["-c", "core.pager=x", "status"])));
        assert!(!c.is_read_only_command("git", &v(&[])));
        assert!(!c.is_read_only_command("/usr/bin/git", &v(&["status"])));
        assert!(c.is_read_only_command("npm", &v(&["outdated", "--json"])));
        assert!(!c.is_read_only_command("npm", &v(&["outdated"])));
        // A trailing `*` is the only way to allow more arguments.
        assert!(c.is_read_only_command("git", &v(&["log"])));
        assert!(c.is_read_only_command("git", &v(&["log", "--oneline", "-5"])));
        assert!(!c.is_read_only_command("git", &v(&["-p", "log"])));
    }

    #[test]
    fn symlink_out_of_root_is_denied() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
        let mut c = Config::builtin_default();
        c.policy.write = vec![root.path().to_path_buf()];
        assert!(c.check_write(&root.path().join("a.txt")).is_ok());
        assert!(c.check_write(&root.path().join("new/dir/a.txt")).is_ok());
        let e = c.check_write(&root.path().join("link/a.txt")).unwrap_err();
        assert_eq!(e.kind(), "denied");
        let e = c
            .check_write(&root.path().join("x/../../escape"))
            .unwrap_err();
        assert_eq!(e.kind(), "denied");
    }

    #[test]
    fn the_history_database_and_its_wal_are_not_a_scripts_to_write() {
        let root = tempfile::tempdir().unwrap();
        let mut c = Config::builtin_default();
        c.state_dir = root.path().to_path_buf();
        c.policy.write = vec![root.path().to_path_buf()];
        for name in ["history.db", "history.db-wal", "history.db-shm"] {
            std::fs::write(root.path().join(name), b"").unwrap();
            let e = c.check_write(&root.path().join(name)).unwrap_err();
            assert_eq!(e.kind(), "denied", "{name}");
            assert!(e.to_string().contains("history database"), "{e}");
        }
        assert!(c.check_write(&root.path().join("history.db-other")).is_ok());
    }

    #[test]
    fn relative_paths_and_programs_are_relative_to_the_config_file() {
        let text = "[services.app]\nmanager = \"pm2\"\nbin = \"node_modules/.bin/pm2\"\nworkdir = \"app\"\n\
                    [services.cmd]\nmanager = \"command\"\nstatus_cmd = [\"./ctl\", \"status\"]\nstart_cmd = [\"systemctl\", \"start\"]\n";
        let c = Config::from_toml(text, Some(Path::new("/etc/rb/runbook.toml"))).unwrap();
        let app = &c.services["app"];
        assert_eq!(app.bin.as_deref(), Some("/etc/rb/node_modules/.bin/pm2"));
        assert_eq!(app.workdir.as_deref(), Some(Path::new("/etc/rb/app")));
        let cmd = &c.services["cmd"];
        assert_eq!(cmd.status_cmd.as_ref().unwrap()[0], "/etc/rb/./ctl");
        assert_eq!(cmd.start_cmd.as_ref().unwrap()[0], "systemctl");
    }

    #[test]
    fn unknown_keys_and_managers_are_errors() {
        let e = Config::from_toml("[policy]\nreed = []\n", None).unwrap_err();
        assert!(e.to_string().contains("reed"), "{e}");
        let e = Config::from_toml("[services.x]\nmanager = \"docker\"\n", None).unwrap_err();
        assert!(e.to_string().contains("services.x.manager"), "{e}");
    }
}
