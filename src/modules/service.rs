//! `service::` — services declared in the inventory (`[services.NAME]` in `runbook.toml`),
//! run by pm2, systemd, supervisor or commands from the inventory.
//!
//! Only inventory services can be touched: any other name is a denial (exit 4, audited).
//! `start`, `stop`, `restart`, `reload` and `signal` are effects (policy, audit log, dry run)
//! and hold the service's lock while they act, so two runs never act on one service at once;
//! `restart` also counts against `policy.restart_limit`, persisted in the state directory.
//! Status maps never carry the process environment.

use std::time::Duration;

use rhai::plugin::*;
use rhai::{Dynamic, Map};
use serde_json::json;

use crate::ctx::Ctx;
use crate::effects::Need;
use crate::error::{Error, Result};
use crate::policy::ServiceSpec;
use crate::service::guard::{self, Holder, RestartLimit, ServiceLock};
use crate::service::{self as svc, Health, ServiceManager, Status};

/// Default timeout of `service::health`, ms.
pub const HEALTH_TIMEOUT_MS: u64 = 3000;

#[export_module]
pub mod service_module {
    use crate::error::RhaiResult;
    use rhai::{Array, Dynamic, Map};

    /// Status of inventory service `name` from its manager →
    /// `#{name, manager, state, pid, uptime_s, restarts, cpu, memory, detail}`.
    ///
    /// `state` is `online`, `stopped`, `errored`, `starting`, `stopping` or `unknown`; `pid`,
    /// `uptime_s` (seconds) and `restarts` are `()` when not known; `cpu` percent, `memory`
    /// bytes (0 when not running); `detail` the manager's own words (pm2 status, systemd
    /// `SubState`/`Result` such as `start-limit-hit`, supervisor description).
    ///
    /// Throws when `name` is not in the inventory (`denied`), the manager cannot be run or
    /// answers something unexpected (`failed`, quoting it), or its call times out.
    ///
    /// Example:
    /// ```rhai
    /// let s = service::status("lowcode-platform");
    /// print(`${s.name} is ${s.state}, pid ${s.pid}, up ${s.uptime_s} s, ${s.memory} bytes`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn status(ncc: NativeCallContext, name: &str) -> RhaiResult<Map> {
        crate::modules::host(&ncc, |c| super::status_of(c, name, "service.status"))
            .and_then(|s| super::to_map(&ncc, &s))
    }

    /// Status maps (as `service::status`) of every inventory service, in name order. A service
    /// whose manager cannot be asked appears with `state: "unknown"` and the error in `detail`.
    ///
    /// Example:
    /// ```rhai
    /// for s in service::list() {
    ///     if s.state != "online" { print(`${s.name}: ${s.state} ${s.detail}`); }
    /// }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn list(ncc: NativeCallContext) -> RhaiResult<Array> {
        let all = crate::modules::host(&ncc, super::list_all)?;
        all.iter()
            .map(|s| super::to_map(&ncc, s).map(Dynamic::from))
            .collect()
    }

    /// The inventory entry of service `name` →
    /// `#{name, manager, workdir, health_url, stats_url, logs, error_logs, port}`
    /// (absent settings are `()`; `logs`/`error_logs` are arrays of globs).
    ///
    /// Throws `denied` when `name` is not in the inventory.
    ///
    /// Example:
    /// ```rhai
    /// let i = service::info("lowcode-platform");
    /// print(`${i.name} runs under ${i.manager} in ${i.workdir}; logs ${i.logs}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn info(ncc: NativeCallContext, name: &str) -> RhaiResult<Map> {
        crate::modules::host(&ncc, |c| {
            let spec = c.allow_service("service.info", name)?;
            super::info_map(name, &spec)
        })
    }

    /// Probe the service's `health_url` (GET, 3000 ms timeout, redirects not followed) →
    /// `#{ok, status, elapsed_ms, error}`: `ok` for a 2xx answer; `status` is `()` without an
    /// answer; `error` says why it failed (`no answer within 3000 ms`, `cannot connect: …`,
    /// `HTTP 503 …`) and is `()` when ok. Network failures do not throw.
    ///
    /// Throws when `name` is not in the inventory, has no `health_url`, or its host is not in
    /// `policy.http_hosts` (`denied`).
    ///
    /// Example:
    /// ```rhai
    /// let h = service::health("lowcode-platform");
    /// check("lowcode-platform healthy", h.ok);
    /// if !h.ok { print(`health: ${h.error}`); }
    /// ```
    #[rhai_fn(name = "health", return_raw)]
    pub fn health1(ncc: NativeCallContext, name: &str) -> RhaiResult<Map> {
        health2(ncc, name, Map::new())
    }

    /// `service::health` with options: `timeout_ms` (default 3000).
    ///
    /// Throws as `service::health(name)`, and on unknown options.
    ///
    /// Example:
    /// ```rhai
    /// let h = service::health("lowcode-platform", #{ timeout_ms: 1000 });
    /// print(`health answered ${h.status} in ${h.elapsed_ms} ms`);
    /// ```
    #[rhai_fn(name = "health", return_raw)]
    pub fn health2(ncc: NativeCallContext, name: &str, opts: Map) -> RhaiResult<Map> {
        let h = crate::modules::host(&ncc, |c| {
            let o: crate::modules::TimeoutOpts = crate::modules::options("service::health", opts)?;
            let timeout = std::time::Duration::from_millis(
                o.timeout_ms.unwrap_or(super::HEALTH_TIMEOUT_MS).max(1),
            );
            super::health_of(c, name, timeout)
        })?;
        super::to_map(&ncc, &h)
    }

    /// Start service `name` (effect `service.start`) → its status afterwards (under `--dry-run`
    /// the current status; nothing is started). Holds the service lock while acting.
    ///
    /// Throws when `name` is not in the inventory (`denied`), another run holds the service's
    /// lock (`busy`, naming it), or the manager fails or times out (`failed`, quoting it).
    ///
    /// Example:
    /// ```rhai
    /// let s = service::start("lowcode-platform");
    /// print(`now ${s.state}`);
    /// ```
    #[rhai_fn(name = "start", return_raw)]
    pub fn start1(ncc: NativeCallContext, name: &str) -> RhaiResult<Map> {
        start2(ncc, name, Map::new())
    }

    /// `service::start` with options: `wait` — seconds to wait for another run's lock
    /// (default: fail at once; `true`: up to the run's own timeout).
    ///
    /// Throws as `service::start(name)`, and on unknown or ill-typed options (`usage`).
    ///
    /// Example:
    /// ```rhai
    /// let s = service::start("lowcode-platform", #{ wait: 30 });
    /// print(`now ${s.state}`);
    /// ```
    #[rhai_fn(name = "start", return_raw)]
    pub fn start2(ncc: NativeCallContext, name: &str, opts: Map) -> RhaiResult<Map> {
        let s = crate::modules::host(&ncc, |c| super::act(c, name, super::Action::Start, opts))?;
        super::to_map(&ncc, &s)
    }

    /// Stop service `name` (effect `service.stop`) → its status afterwards (under `--dry-run`
    /// the current status). Stopping a stopped service is not an error.
    ///
    /// Throws as `service::start`.
    ///
    /// Example:
    /// ```rhai
    /// let s = service::stop("lowcode-platform");
    /// print(`after stop: ${s.state}`);
    /// service::start("lowcode-platform");
    /// ```
    #[rhai_fn(name = "stop", return_raw)]
    pub fn stop1(ncc: NativeCallContext, name: &str) -> RhaiResult<Map> {
        stop2(ncc, name, Map::new())
    }

    /// `service::stop` with options: `wait` — seconds to wait for another run's lock
    /// (default: fail at once; `true`: up to the run's own timeout).
    ///
    /// Throws as `service::stop(name)`, and on unknown or ill-typed options (`usage`).
    ///
    /// Example:
    /// ```rhai
    /// service::stop("lowcode-platform", #{ wait: 30 });
    /// service::start("lowcode-platform", #{ wait: 30 });
    /// ```
    #[rhai_fn(name = "stop", return_raw)]
    pub fn stop2(ncc: NativeCallContext, name: &str, opts: Map) -> RhaiResult<Map> {
        let s = crate::modules::host(&ncc, |c| super::act(c, name, super::Action::Stop, opts))?;
        super::to_map(&ncc, &s)
    }

    /// Restart service `name` (effect `service.restart`) → its status afterwards (under
    /// `--dry-run` the current status; nothing is restarted). Counts against
    /// `policy.restart_limit` (e.g. `"3/10m"` per service, kept across runs) and holds the
    /// service lock while acting. systemd units that hit their start limit are reported, not
    /// retried.
    ///
    /// Throws when `name` is not in the inventory, or one more restart would exceed
    /// `policy.restart_limit` (`denied`, saying when the next is allowed); when another run
    /// holds the lock (`busy`); when the manager fails or times out (`failed`).
    ///
    /// Example:
    /// ```rhai
    /// let r = service::can_restart("lowcode-platform");
    /// require(r.ok, `cannot restart: ${r.reason}`);
    /// let s = service::restart("lowcode-platform");
    /// print(`restarted: ${s.state}, pid ${s.pid}`);
    /// ```
    #[rhai_fn(name = "restart", return_raw)]
    pub fn restart1(ncc: NativeCallContext, name: &str) -> RhaiResult<Map> {
        restart2(ncc, name, Map::new())
    }

    /// `service::restart` with options: `wait` — seconds to wait for another run's lock
    /// (default: fail at once; `true`: up to the run's own timeout).
    ///
    /// Throws as `service::restart(name)`, and on unknown or ill-typed options (`usage`).
    ///
    /// Example:
    /// ```rhai
    /// let s = service::restart("lowcode-platform", #{ wait: true });
    /// print(`restarted: ${s.state}`);
    /// ```
    #[rhai_fn(name = "restart", return_raw)]
    pub fn restart2(ncc: NativeCallContext, name: &str, opts: Map) -> RhaiResult<Map> {
        let s = crate::modules::host(&ncc, |c| super::act(c, name, super::Action::Restart, opts))?;
        super::to_map(&ncc, &s)
    }

    /// Reload service `name` (effect `service.reload`: `pm2 reload`, `systemctl reload`, the
    /// inventory's `reload_cmd`) → its status afterwards. supervisor has no reload.
    ///
    /// Throws as `service::start`, and for supervisor services.
    ///
    /// Example:
    /// ```rhai
    /// let s = service::reload("lowcode-platform");
    /// print(`reloaded: ${s.state}`);
    /// ```
    #[rhai_fn(name = "reload", return_raw)]
    pub fn reload1(ncc: NativeCallContext, name: &str) -> RhaiResult<Map> {
        reload2(ncc, name, Map::new())
    }

    /// `service::reload` with options: `wait` — seconds to wait for another run's lock
    /// (default: fail at once; `true`: up to the run's own timeout).
    ///
    /// Throws as `service::reload(name)`, and on unknown or ill-typed options (`usage`).
    ///
    /// Example:
    /// ```rhai
    /// let s = service::reload("lowcode-platform", #{ wait: 30 });
    /// print(`reloaded: ${s.state}`);
    /// ```
    #[rhai_fn(name = "reload", return_raw)]
    pub fn reload2(ncc: NativeCallContext, name: &str, opts: Map) -> RhaiResult<Map> {
        let s = crate::modules::host(&ncc, |c| super::act(c, name, super::Action::Reload, opts))?;
        super::to_map(&ncc, &s)
    }

    /// Whether `service::signal(name, sig)` would be safe and could be sent: the manager knows
    /// the service, it runs, and its main process catches or ignores `sig` — unless `sig` is
    /// meant to end it (TERM, KILL, INT, QUIT) or is harmless by default (CONT, WINCH …). Read
    /// from `SigCgt`/`SigIgn` in `/proc/PID/status`: a Node process handles `SIGUSR2` only
    /// when started with `--heapsnapshot-signal=SIGUSR2`; otherwise SIGUSR2 ends it.
    ///
    /// Returns `#{ok, reason}` — `reason` is `()` when `ok`, else why not (and what to change).
    /// Not an effect. Throws on a service not in the inventory (`denied`).
    ///
    /// Example:
    /// ```rhai
    /// let s = service::can_signal("lowcode-platform", "SIGUSR2");
    /// if s.ok { service::signal("lowcode-platform", "SIGUSR2"); } else { print(`no heap snapshot: ${s.reason}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn can_signal(ncc: NativeCallContext, name: &str, sig: &str) -> RhaiResult<Map> {
        crate::modules::host(&ncc, |c| super::can_signal_of(c, name, sig))
    }

    /// Whether `service::restart(name)` could happen now: the manager knows the service and
    /// `policy.restart_limit` leaves a restart for it (counted per manager identity, across runs).
    /// For a runbook's preflight, before its first effect: a rollback that could not restart at
    /// the end should not check anything out.
    ///
    /// Returns `#{ok, reason}` — `reason` is `()` when `ok`, else why not (the limit's message
    /// names how many restarts happened and when the next is allowed). Not an effect.
    /// Throws on a service not in the inventory (`denied`) or a bad `restart_limit` (`config`).
    ///
    /// Example:
    /// ```rhai
    /// let r = service::can_restart("lowcode-platform");
    /// require(r.ok, `cannot restart lowcode-platform at the end: ${r.reason}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn can_restart(ncc: NativeCallContext, name: &str) -> RhaiResult<Map> {
        crate::modules::host(&ncc, |c| super::can_restart_of(c, name))
    }

    /// Send signal `sig` (`"SIGUSR2"`, `"USR2"`, `"SIGHUP"` …) to the service's main process
    /// (effect `service.signal`), e.g. a heap snapshot from Node.js started with
    /// `--heapsnapshot-signal=SIGUSR2`. Returns `true` when sent, `false` under `--dry-run`.
    /// Preflight (see `service::can_signal`): a signal the process does not handle is not sent
    /// (`would_fail` under `--dry-run`, else a `failed` error "preflight: …").
    ///
    /// Throws on an unknown signal name (`usage`), a service not in the inventory (`denied`),
    /// a held lock (`busy`), or when the manager fails (`failed`).
    ///
    /// Example:
    /// ```rhai
    /// if service::signal("lowcode-platform", "SIGCONT") { print("sent SIGCONT"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn signal(ncc: NativeCallContext, name: &str, sig: &str) -> RhaiResult<bool> {
        crate::modules::host(&ncc, |c| super::signal_effect(c, name, sig))
    }

    /// Wait up to `timeout_s` seconds until service `name` is online, has stayed online for its
    /// settle time (inventory `settle_s`, default 2 s) and its `health_url` answers 2xx (pm2
    /// says `online` for a hung app, so both are needed). Returns `true` when it is, `false`
    /// when the time ran out.
    ///
    /// Throws when `name` is not in the inventory, `timeout_s` is negative, the manager
    /// fails, or the run is interrupted or reaches its own timeout.
    ///
    /// Example:
    /// ```rhai
    /// let up = service::wait_healthy("lowcode-platform", 30);
    /// require(up, "lowcode-platform not healthy within 30 s");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn wait_healthy(ncc: NativeCallContext, name: &str, timeout_s: i64) -> RhaiResult<bool> {
        crate::modules::host(&ncc, |c| super::wait_healthy_of(c, name, timeout_s))
    }

    /// Where the service writes its output → `#{out, err}` paths (pm2: its log files from
    /// `pm2 jlist`; other managers: the first `logs` and `error_logs` globs of the inventory;
    /// `()` when unknown).
    ///
    /// Throws when `name` is not in the inventory, or pm2 does not know the process.
    ///
    /// Example:
    /// ```rhai
    /// let l = service::log_files("lowcode-platform");
    /// print(`stdout ${l.out}, stderr ${l.err}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn log_files(ncc: NativeCallContext, name: &str) -> RhaiResult<Map> {
        let l = crate::modules::host(&ncc, |c| {
            let spec = c.allow_service("service.log_files", name)?;
            super::manager(c, name, &spec)?.log_files()
        })?;
        super::to_map(&ncc, &l)
    }
}

/// A mutating action on a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
    Reload,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
            Action::Reload => "reload",
        }
    }
}

fn to_map<T: serde::Serialize>(ncc: &NativeCallContext, v: &T) -> crate::error::RhaiResult<Map> {
    let d: Dynamic = crate::modules::to_dynamic(v)
        .map_err(|e| crate::modules::at(ncc, Error::failed(e.to_string())))?;
    d.try_cast::<Map>()
        .ok_or_else(|| crate::modules::at(ncc, Error::failed("internal: status is not a map")))
}

fn manager(c: &Ctx, name: &str, spec: &ServiceSpec) -> Result<Box<dyn ServiceManager>> {
    svc::manager_for(name, spec, &c.cancel)
}

/// `service::status`.
pub fn status_of(c: &Ctx, name: &str, action: &str) -> Result<Status> {
    let spec = c.allow_service(action, name)?;
    manager(c, name, &spec)?.status()
}

/// `service::list`: every inventory service; failures become `unknown` with the error.
pub fn list_all(c: &Ctx) -> Result<Vec<Status>> {
    let mut out = Vec::new();
    for (name, spec) in &c.config.services {
        c.cancel.check()?;
        let st = manager(c, name, spec).and_then(|m| m.status());
        out.push(match st {
            Ok(s) => s,
            Err(e @ (Error::Interrupted | Error::Limit(_))) => return Err(e),
            Err(e) => {
                let mut s = Status::new(name, &spec.manager, svc::State::Unknown);
                s.detail = e.to_string();
                s
            }
        });
    }
    Ok(out)
}

/// `service::info`: the inventory entry, without anything secret (there is nothing secret in it).
pub fn info_map(name: &str, spec: &ServiceSpec) -> Result<Map> {
    #[derive(serde::Serialize)]
    struct Info<'a> {
        name: &'a str,
        manager: &'a str,
        workdir: Option<String>,
        health_url: Option<&'a str>,
        stats_url: Option<&'a str>,
        logs: &'a [String],
        error_logs: &'a [String],
        port: Option<u16>,
    }
    crate::modules::to_dynamic(&Info {
        name,
        manager: &spec.manager,
        workdir: spec
            .workdir
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
        health_url: spec.health_url.as_deref(),
        stats_url: spec.stats_url.as_deref(),
        logs: &spec.logs,
        error_logs: &spec.error_logs,
        port: spec.port,
    })
    .map(|d| d.cast::<Map>())
    .map_err(|e| Error::failed(format!("service::info: {e}")))
}

/// The host of `url`, checked against `policy.http_hosts` (denial audited).
fn allowed_url(c: &Ctx, action: &str, url: &str) -> Result<()> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| Error::failed(format!("health_url {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::failed(format!(
            "health_url {url:?}: only http and https are supported"
        )));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| Error::failed(format!("health_url {url:?} has no host")))?;
    c.allow_host(action, host)
}

/// `service::health`.
pub fn health_of(c: &Ctx, name: &str, timeout: Duration) -> Result<Health> {
    let spec = c.allow_service("service.health", name)?;
    let url = spec.health_url.as_deref().ok_or_else(|| {
        Error::failed(format!(
            "service {name:?} has no health_url in the inventory"
        ))
    })?;
    allowed_url(c, "service.health", url)?;
    c.cancel.check()?;
    let h = svc::check_health(url, bounded(c, timeout), &c.cancel);
    c.cancel.check()?;
    Ok(h)
}

/// `timeout`, but never past the run's deadline.
fn bounded(c: &Ctx, timeout: Duration) -> Duration {
    match c.cancel.remaining() {
        Some(left) => timeout.min(left.max(Duration::from_millis(1))),
        None => timeout,
    }
}

/// The options of `service::start|stop|restart|reload`: `wait: true` waits up to the run's own
/// timeout for another run's lock; a number is seconds.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitOpts {
    wait: Option<Wait>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(untagged, expecting = "a bool or a number of seconds")]
enum Wait {
    Flag(bool),
    Secs(crate::modules::Number),
}

/// The option keys of this module's functions, for [`crate::modules::option_keys`].
pub(crate) fn option_keys() -> Vec<(&'static str, Vec<&'static str>)> {
    let wait = crate::modules::fields_of::<WaitOpts>().to_vec();
    let mut out = vec![(
        "service::health",
        crate::modules::fields_of::<crate::modules::TimeoutOpts>().to_vec(),
    )];
    for f in [
        "service::start",
        "service::stop",
        "service::restart",
        "service::reload",
    ] {
        out.push((f, wait.clone()));
    }
    out
}

/// `wait` option: seconds to wait for another run's lock (`None`: do not wait).
fn lock_wait(func: &str, opts: Map) -> Result<Option<Duration>> {
    let o: WaitOpts = crate::modules::options(func, opts)?;
    let s = match o.wait {
        None => return Ok(None),
        Some(Wait::Flag(b)) => return Ok(b.then(|| Duration::from_secs(365 * 86_400))),
        Some(Wait::Secs(n)) => n.get(),
    };
    if !(0.0..=86_400.0 * 365.0).contains(&s) {
        return Err(Error::Usage(format!(
            "{func}: option \"wait\" must be between 0 and one year of seconds, got {s}"
        )));
    }
    Ok(Some(Duration::from_secs_f64(s)))
}

fn now_ms() -> i64 {
    guard::now_ms()
}

/// `service::start|stop|restart|reload`: policy, restart limit, effect gate, lock, manager.
pub fn act(c: &Ctx, name: &str, action: Action, opts: Map) -> Result<Status> {
    let func = format!("service::{}", action.verb());
    let wait = lock_wait(&func, opts)?;
    let effect = format!("service.{}", action.verb());
    let spec = c.allow_service(&effect, name)?;
    let mgr = manager(c, name, &spec)?;
    // Keyed by the manager's identity, not the name alone: a same-named service under another
    // pm2 home (or manager) has its own lock and restart budget.
    let key = svc::guard_key(name, &spec);
    let limit = if action == Action::Restart {
        let lim = RestartLimit::new(&c.config.state_dir, &key, &c.config.policy.restart_limit)?;
        // Checked before the effect too, so a refusal is audited as a denial, also in a dry run.
        lim.check(now_ms()).map_err(|e| c.deny(&effect, name, e))?;
        Some(lim)
    } else {
        None
    };
    let args = json!({ "manager": spec.manager });
    let needs = [Need::Service(name.to_string())];
    let verb = action.verb();
    let mgr_pre = &mgr;
    c.run_effect(
        crate::effects::Effect {
            action: &effect,
            target: name,
            args,
            needs: &needs,
            read_only: false,
            preflight: vec![Box::new(move |_| mgr_pre.preflight(verb))],
        },
        |_| {
            let _lock = ServiceLock::acquire(
                &c.config.state_dir,
                &key,
                &Holder::me(&c.run_id, &c.runbook, &effect),
                wait,
                &c.cancel,
            )?;
            if let Some(lim) = &limit {
                // Again under the lock: another run may have restarted it meanwhile.
                lim.check_and_record(now_ms())?;
            }
            match action {
                Action::Start => mgr.start(),
                Action::Stop => mgr.stop(),
                Action::Restart => mgr.restart(),
                Action::Reload => mgr.reload(),
            }
        },
    )?;
    mgr.status()
}

/// `service::signal`.
pub fn signal_effect(c: &Ctx, name: &str, sig: &str) -> Result<bool> {
    let (sig_name, _) = svc::signal_number(sig)?;
    let spec = c.allow_service("service.signal", name)?;
    let mgr = manager(c, name, &spec)?;
    let key = svc::guard_key(name, &spec);
    let args = json!({ "manager": spec.manager, "signal": sig_name });
    let needs = [Need::Service(name.to_string())];
    let mgr_pre = &mgr;
    let sig_pre = sig_name.clone();
    let done = c.run_effect(
        crate::effects::Effect {
            action: "service.signal",
            target: name,
            args,
            needs: &needs,
            read_only: false,
            preflight: vec![Box::new(move |_| {
                can_signal(mgr_pre.as_ref(), name, &sig_pre)
            })],
        },
        |_| {
            let _lock = ServiceLock::acquire(
                &c.config.state_dir,
                &key,
                &Holder::me(&c.run_id, &c.runbook, "service.signal"),
                None,
                &c.cancel,
            )?;
            mgr.signal(&sig_name)
        },
    )?;
    Ok(done.is_some())
}

/// Preflight of `service::signal`: the manager knows the service, it runs, and its main
/// process handles `sig` (see [`crate::effects::signal_handled`]). `Err(reason)` otherwise.
pub fn can_signal(
    mgr: &dyn ServiceManager,
    name: &str,
    sig: &str,
) -> std::result::Result<(), String> {
    let (sig_name, signo) = svc::signal_number(sig).map_err(|e| e.to_string())?;
    mgr.preflight("signal")?;
    let st = mgr.status().map_err(|e| e.to_string())?;
    let pid = st
        .pid
        .ok_or_else(|| format!("service {name} is not running ({})", st.state.as_str()))?;
    crate::effects::signal_handled(pid, signo, &sig_name)
}

/// `service::can_signal`.
pub fn can_signal_of(c: &Ctx, name: &str, sig: &str) -> Result<Map> {
    let spec = c.allow_service("service.can_signal", name)?;
    let mgr = manager(c, name, &spec)?;
    verdict_map(can_signal(mgr.as_ref(), name, sig))
}

/// `service::can_restart`: the manager's preflight for a restart, then the restart limit.
pub fn can_restart_of(c: &Ctx, name: &str) -> Result<Map> {
    let spec = c.allow_service("service.can_restart", name)?;
    let mgr = manager(c, name, &spec)?;
    let key = svc::guard_key(name, &spec);
    let verdict = match mgr.preflight("restart") {
        Err(r) => Err(r),
        Ok(()) => RestartLimit::new(&c.config.state_dir, &key, &c.config.policy.restart_limit)?
            .check(now_ms())
            .map_err(|e| e.to_string()),
    };
    verdict_map(verdict)
}

/// `#{ok, reason}` of a preflight verdict (`reason` is `()` when ok).
fn verdict_map(verdict: std::result::Result<(), String>) -> Result<Map> {
    #[derive(serde::Serialize)]
    struct Verdict {
        ok: bool,
        reason: Option<String>,
    }
    crate::modules::to_dynamic(&Verdict {
        ok: verdict.is_ok(),
        reason: verdict.err(),
    })
    .map(|d| d.cast::<Map>())
    .map_err(|e| Error::failed(format!("service: {e}")))
}

/// `service::wait_healthy`.
pub fn wait_healthy_of(c: &Ctx, name: &str, timeout_s: i64) -> Result<bool> {
    let timeout_s = u64::try_from(timeout_s).map_err(|_| {
        Error::Usage(format!(
            "service::wait_healthy: timeout_s must be ≥ 0, got {timeout_s}"
        ))
    })?;
    let spec = c.allow_service("service.wait_healthy", name)?;
    if let Some(url) = &spec.health_url {
        allowed_url(c, "service.wait_healthy", url)?;
    }
    let mgr = manager(c, name, &spec)?;
    let settle = Duration::from_secs(spec.settle_s.unwrap_or(svc::DEFAULT_SETTLE_S));
    let url = spec.health_url.clone();
    let probe = |u: &str| {
        svc::check_health(
            u,
            bounded(c, Duration::from_millis(HEALTH_TIMEOUT_MS)),
            &c.cancel,
        )
    };
    let health_fn;
    let health: Option<&dyn Fn() -> Health> = match &url {
        Some(u) => {
            health_fn = move || probe(u);
            Some(&health_fn)
        }
        None => None,
    };
    svc::wait_healthy(
        mgr.as_ref(),
        health,
        Duration::from_secs(timeout_s),
        settle,
        &c.cancel,
    )
}
