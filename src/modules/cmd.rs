//! `cmd::` — programs the policy allows (`policy.commands`), run without a shell on the same
//! process runner as the service managers: own process group, stdin from `/dev/null`, output
//! capped at 1 MiB per stream, the whole group ended on timeout. Every run is an effect;
//! command lines listed in `policy.read_only_commands` (`npm outdated --json`, `git status`) —
//! matched on the whole argument vector, with no `env` override — also run under `--dry-run`.

use std::path::Path;
use std::time::Duration;

use rhai::plugin::*;
use rhai::{Array, Dynamic, Map};
use serde_json::json;

use crate::ctx::Ctx;
use crate::effects::Need;
use crate::error::{Error, Result};
use crate::proc::{self, Output, Spec};

/// Longest `timeout_s` accepted (a day).
pub const MAX_TIMEOUT_S: u64 = 86_400;

#[export_module]
pub mod cmd_module {
    use crate::error::RhaiResult;
    use rhai::{Array, Map};

    /// Run `program` with `args` (no shell) and wait for it (effect `cmd.run`) →
    /// `#{code, stdout, stderr, duration_ms, timed_out, truncated, planned}`.
    ///
    /// * `program` — a name from `policy.commands` (looked up on `PATH`) or an allowed path.
    /// * `args` — array of strings, passed as they are.
    ///
    /// `code` is the exit code (`128 + N` when killed by signal N; `()` when planned);
    /// `stdout`/`stderr` are text capped at 1 MiB each (`truncated` says whether either was
    /// cut); `duration_ms` wall time; `timed_out` is always false (kept for older scripts: a
    /// timeout throws, see below); `planned` is true under `--dry-run` for a command that is not
    /// read-only, which is then not run. A command is read-only when `program` and every argument
    /// equal an entry of `policy.read_only_commands` (a trailing `*` in the entry allows further
    /// arguments) and no `env` option is given. A non-zero exit code does not throw.
    ///
    /// Throws when `program` is not in `policy.commands` (`denied`), cannot be started
    /// (`failed`, naming it), `args` holds a non-string, or the run is interrupted. A program
    /// still running after `timeout_s` has its whole process group ended and throws `limit`
    /// ("… timeout after N s", exit 3 unless caught; audited `interrupted`).
    ///
    /// Example:
    /// ```rhai
    /// let r = cmd::run("echo", ["hello"]);
    /// print(r.stdout);
    /// ```
    #[rhai_fn(name = "run", return_raw)]
    pub fn run2(ncc: NativeCallContext, program: &str, args: Array) -> RhaiResult<Map> {
        run3(ncc, program, args, Map::new())
    }

    /// `cmd::run` with options:
    /// * `cwd` — working folder (must be inside the policy's read roots);
    /// * `timeout_s` — seconds before the process group is killed and a `limit` error thrown
    ///   (default 60, at most 86400);
    /// * `env` — map of extra environment variables (their values never reach the audit log).
    ///
    /// Throws as `cmd::run(program, args)`, and on unknown or ill-typed options.
    ///
    /// Example:
    /// ```rhai
    /// let r = cmd::run("echo", ["built"], #{ cwd: "logs", timeout_s: 30, env: #{ NODE_ENV: "production" } });
    /// print(r.code);
    /// ```
    #[rhai_fn(name = "run", return_raw)]
    pub fn run3(ncc: NativeCallContext, program: &str, args: Array, opts: Map) -> RhaiResult<Map> {
        crate::modules::host(&ncc, |c| super::run(c, program, args, opts))
    }
}

fn string_args(args: Array) -> Result<Vec<String>> {
    args.into_iter()
        .enumerate()
        .map(|(i, a)| {
            let t = a.type_name();
            a.into_string().map_err(|_| {
                Error::Usage(format!("cmd::run: argument {i} must be a string, got {t}"))
            })
        })
        .collect()
}

fn result_map(out: Option<Output>) -> Result<Map> {
    /// What `cmd::run` returns (`code` is `()` when planned).
    #[derive(serde::Serialize)]
    struct RunOut {
        code: Option<i64>,
        truncated: bool,
        stdout: String,
        stderr: String,
        duration_ms: u64,
        timed_out: bool,
        planned: bool,
    }
    let r = match out {
        Some(o) => RunOut {
            code: Some(i64::from(o.code)),
            truncated: o.stdout_truncated || o.stderr_truncated,
            stdout: o.stdout,
            stderr: o.stderr,
            duration_ms: o.duration_ms,
            timed_out: o.timed_out,
            planned: false,
        },
        None => RunOut {
            code: None,
            truncated: false,
            stdout: String::new(),
            stderr: String::new(),
            duration_ms: 0,
            timed_out: false,
            planned: true,
        },
    };
    crate::modules::to_dynamic(&r)
        .map(|d| d.cast::<Map>())
        .map_err(|e| Error::failed(format!("cmd::run: {e}")))
}

/// A program allowed by name is the one on runbook's own `PATH`: when `env` sets `PATH` (for
/// the child), the OS would look the name up there instead, so the script could pick any
/// program of that name. Then the name is looked up here first; `None` when no pinning is needed.
fn pinned_program(program: &str, env: &[(String, String)]) -> Option<Result<std::path::PathBuf>> {
    use std::os::unix::fs::PermissionsExt;
    if program.contains('/') || !env.iter().any(|(k, _)| k == "PATH") {
        return None;
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(program))
            .find(|f| {
                std::fs::metadata(f)
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    });
    Some(found.ok_or_else(|| {
        Error::failed(format!(
            "cannot start {program:?}: not found on runbook's PATH"
        ))
    }))
}

/// The options of `cmd::run`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RunOpts {
    cwd: Option<String>,
    timeout_s: Option<u64>,
    env: Option<std::collections::BTreeMap<String, Dynamic>>,
}

/// The option keys of this module's functions, for [`crate::modules::option_keys`].
pub(crate) fn option_keys() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![("cmd::run", crate::modules::fields_of::<RunOpts>().to_vec())]
}

/// `cmd::run`.
pub fn run(c: &Ctx, program: &str, args: Array, opts: Map) -> Result<Map> {
    let args = string_args(args)?;
    let o: RunOpts = crate::modules::options("cmd::run", opts)?;
    let timeout_s = o.timeout_s.unwrap_or(proc::DEFAULT_TIMEOUT.as_secs());
    if timeout_s == 0 || timeout_s > MAX_TIMEOUT_S {
        return Err(Error::Usage(format!(
            "cmd::run: timeout_s must be between 1 and {MAX_TIMEOUT_S}, got {timeout_s}"
        )));
    }
    let mut env = Vec::new();
    if let Some(m) = o.env {
        for (k, v) in m {
            let t = v.type_name();
            let v = if v.is_string() {
                v.into_string().unwrap_or_default()
            } else if v.is_int() || v.is_float() || v.is_bool() {
                v.to_string()
            } else {
                return Err(Error::Usage(format!(
                    "cmd::run: env.{k} must be a string, got {t}"
                )));
            };
            if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
                return Err(Error::Usage(format!(
                    "cmd::run: invalid environment variable name {k:?}"
                )));
            }
            env.push((k, v));
        }
    }
    let cwd = match o.cwd {
        Some(d) => Some(c.allow_read("cmd.run", Path::new(&d))?),
        None => None,
    };
    let mut spec = Spec::new(program, args.iter()).timeout(Duration::from_secs(timeout_s));
    spec.cwd = cwd.clone();
    spec.env = env.iter().map(|(k, v)| (k.into(), v.into())).collect();
    // The command line is the audit target and appears in errors: `--password=x` style
    // arguments and values of runbook's own environment are masked there.
    let target = crate::redact::redact(&spec.display());
    // An environment override can change what any program does (`GIT_DIR`, `NODE_OPTIONS`,
    // `npm_config_*`), so a read-only command line with `env` is an ordinary effect.
    let read_only = env.is_empty() && c.config.is_read_only_command(program, &args);
    let audit_args = json!({
        "cwd": cwd.as_ref().map(|d| d.display().to_string()),
        "timeout_s": timeout_s,
        "env": env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        "read_only": read_only,
    });
    let needs = [Need::Command(program.to_string())];
    let npm_cwd = cwd.clone();
    let npm_args = args.clone();
    let is_npm = Path::new(program).file_name().is_some_and(|n| n == "npm");
    let out = c.run_effect(
        crate::effects::Effect {
            action: "cmd.run",
            target: &target,
            args: audit_args,
            needs: &needs,
            read_only,
            preflight: vec![Box::new(move |_| {
                if !is_npm {
                    return Ok(());
                }
                let dir = match npm_cwd {
                    Some(d) => d,
                    None => std::env::current_dir().map_err(|e| e.to_string())?,
                };
                crate::effects::npm_script(&dir, &npm_args)
            })],
        },
        |_| {
            let out = match pinned_program(program, &env) {
                Some(found) => {
                    let mut spec = spec.clone();
                    spec.program = found?.into();
                    proc::run(&spec, &c.cancel)?
                }
                None => proc::run(&spec, &c.cancel)?,
            };
            if out.timed_out {
                return Err(Error::Limit(format!(
                    "`{target}` timeout after {timeout_s} s; its process group was ended"
                )));
            }
            Ok(out)
        },
    )?;
    result_map(out)
}
