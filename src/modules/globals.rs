//! Global functions every runbook can call without a module prefix:
//! `check`, `unknown`, `fail`, `require`, `on_failure`, `confirm`, `sleep_s`, `now`,
//! `days_until`, `age_s`, `env`.

use rhai::Engine;
use rhai::plugin::*;

/// Register the global functions.
pub fn register(engine: &mut Engine) {
    engine.register_global_module(rhai::exported_module!(globals_module).into());
}

#[export_module]
pub mod globals_module {
    use crate::error::{Error, RhaiResult};
    use rhai::{Dynamic, Map};

    /// Record a check in the report; a failed check makes the run exit 1.
    ///
    /// * `name` — what is checked, e.g. `"disk /srv"`.
    /// * `ok` — `true` (passed), `false` (failed) or `()` (unknown: the value was not
    ///   measured; the run is then *inconclusive*, exit 6, unless another check failed).
    ///
    /// Returns `true` only when the check passed, so `if !check("health", h.ok) { … }` reads
    /// naturally. Throws (`usage`) when `ok` is neither a bool nor `()`.
    ///
    /// ```rhai
    /// check("pm2 online", s.state == "online");
    /// check("api timeout rate", stats.timeouts);   // () when the service has no such counter → unknown
    /// ```
    ///
    /// Example:
    /// ```rhai
    /// check("disk / below 85 %", metrics::disk("/").percent < 85.0);
    /// ```
    #[rhai_fn(name = "check", return_raw)]
    pub fn check2(ncc: NativeCallContext, name: &str, ok: Dynamic) -> RhaiResult<bool> {
        super::record(&ncc, name, &ok, "", Map::new())
    }

    /// Record a check with a readable detail (`"82.1% used (threshold 85%)"`).
    ///
    /// * `name`, `ok` as above (`()` makes the check unknown); `detail` — shown next to it.
    ///
    /// Returns `true` only when the check passed.
    ///
    /// ```rhai
    /// check("disk /", d.percent < 85.0, `${d.percent}% used`);
    /// ```
    ///
    /// Example:
    /// ```rhai
    /// let d = metrics::disk("/");
    /// check("disk /", d.percent < 85.0, `${d.percent}% used`);
    /// ```
    #[rhai_fn(name = "check", return_raw)]
    pub fn check3(
        ncc: NativeCallContext,
        name: &str,
        ok: Dynamic,
        detail: &str,
    ) -> RhaiResult<bool> {
        super::record(&ncc, name, &ok, detail, Map::new())
    }

    /// Record a check with its measured value and threshold.
    ///
    /// * `extra` — `#{value, threshold}` (any values; both optional), copied into the
    ///   JSON report's check as `value` and `threshold`.
    ///
    /// Returns `true` only when the check passed. Throws when `extra` has other keys.
    ///
    /// ```rhai
    /// check("memory", m.percent < 80.0, `${m.percent}%`, #{ value: m.percent, threshold: 80.0 });
    /// ```
    ///
    /// Example:
    /// ```rhai
    /// let m = metrics::memory();
    /// check("memory", m.percent < 80.0, `${m.percent}%`, #{ value: m.percent, threshold: 80.0 });
    /// ```
    #[rhai_fn(name = "check", return_raw)]
    pub fn check4(
        ncc: NativeCallContext,
        name: &str,
        ok: Dynamic,
        detail: &str,
        extra: Map,
    ) -> RhaiResult<bool> {
        super::record(&ncc, name, &ok, detail, extra)
    }

    /// Record an `unknown` check: the value could not be measured, so the check neither
    /// passes nor fails. The run is *inconclusive* (exit 6) unless another check failed.
    ///
    /// * `name` — what would have been checked; `reason` — why it could not be (shown as detail).
    ///
    /// Returns `false`. Never throws.
    ///
    /// ```rhai
    /// if stats.timeouts == () { unknown("API timeout rate", "the stats endpoint has no timeout counter"); }
    /// ```
    ///
    /// Example:
    /// ```rhai
    /// unknown("API timeout rate", "the stats endpoint has no timeout counter");
    /// ```
    #[rhai_fn(name = "unknown", return_raw)]
    pub fn unknown(ncc: NativeCallContext, name: &str, reason: &str) -> RhaiResult<bool> {
        super::record(&ncc, name, &Dynamic::UNIT, reason, Map::new())
    }

    /// End the run now with status `failed` (exit 1) and `message` as the report's error.
    ///
    /// Throws always (that is how it ends the run); a surrounding `try` sees `e.kind == "fail"`.
    ///
    /// Example:
    /// ```rhai
    /// if !fs::exists("logs") { fail("no logs folder: run this from the app's folder"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn fail(ncc: NativeCallContext, message: &str) -> RhaiResult<()> {
        Err(crate::modules::at(&ncc, Error::Fail(message.to_string())))
    }

    /// State a precondition of the runbook: when `condition` is `false` (or `()`: not known),
    /// the run ends now with status `failed`, exit 1, and `message` as its error.
    ///
    /// Put `require` calls before the first effect: then a false precondition fails the run
    /// before anything changed — in dry runs too. After an effect it is an ordinary failure,
    /// and the compensations registered with `on_failure` run.
    ///
    /// * `condition` — a bool (or `()`, which counts as not met).
    /// * `message` — what must hold and what to do about it; shown as the run's error.
    ///
    /// Throws (`fail`, exit 1) when the condition is not met; `usage` when `condition` is
    /// neither a bool nor `()`.
    ///
    /// ```rhai
    /// require(fs::exists(`${dir}/public`), `${dir}/public does not exist: create it before maintenance`);
    /// require(service::status(name).state == "online", `${name} is not online`);
    /// ```
    ///
    /// Example:
    /// ```rhai
    /// require(fs::exists("logs"), "logs/ is missing: run this from the app's folder");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn require(ncc: NativeCallContext, condition: Dynamic, message: &str) -> RhaiResult<()> {
        let met = if condition.is_unit() {
            false
        } else {
            condition.as_bool().map_err(|_| {
                crate::modules::at(
                    &ncc,
                    Error::Usage(format!(
                        "require: the condition must be a bool, got {}",
                        condition.type_name()
                    )),
                )
            })?
        };
        if met {
            return Ok(());
        }
        let unknown = if condition.is_unit() {
            " (condition unknown: ())"
        } else {
            ""
        };
        Err(crate::modules::at(
            &ncc,
            Error::Fail(format!("precondition failed: {message}{unknown}")),
        ))
    }

    /// Register a compensation: a closure that undoes an effect that just succeeded. When the
    /// run later fails — an uncaught error, `fail()`, a failed `require`, a limit, Ctrl-C or
    /// the deadline — the registered closures run in reverse order of registration, each with
    /// its own short time budget (60 s, not cut by the deadline or Ctrl-C that ended the
    /// run). Their effects pass the effect gate like any other, marked `compensation: true` in
    /// the audit log and the JSON report (`undo:` in the human report). A compensation that
    /// fails is reported on stderr and in the report's `compensation_errors`; the exit code
    /// stays that of the original failure. Under `--dry-run` the compensations run at the end
    /// of the run so that their effects are listed as `planned`. A run that succeeds does not
    /// run them.
    ///
    /// * `closure` — a closure without parameters, e.g. `|| service::start(name)`.
    ///
    /// Never throws.
    ///
    /// ```rhai
    /// service::stop(name);
    /// on_failure(|| service::start(name));   // undo the stop if anything below fails
    /// fs::write(page, html);
    /// ```
    ///
    /// Example:
    /// ```rhai
    /// fs::write("maintenance.html", "<h1>back soon</h1>");
    /// on_failure(|| fs::remove("maintenance.html"));   // undone if the run fails later
    /// ```
    #[rhai_fn(return_raw)]
    pub fn on_failure(ncc: NativeCallContext, closure: rhai::FnPtr) -> RhaiResult<()> {
        let pos = ncc.call_position();
        let at = match (ncc.call_source(), pos.line()) {
            (Some(s), Some(l)) => format!("{s}:{l}"),
            (None, Some(l)) => format!("line {l}"),
            (s, None) => s.unwrap_or("<script>").to_string(),
        };
        crate::modules::host(&ncc, |c| {
            c.compensations.borrow_mut().push(crate::ctx::Compensation {
                closure,
                registered_at: at,
            });
            Ok(())
        })
    }

    /// Ask a yes/no question on the terminal.
    ///
    /// Returns `true` for `y`/`yes`. Without a terminal (CI, cron) the answer is `true` only
    /// when the run has `--yes`.
    ///
    /// Example:
    /// ```rhai
    /// if confirm("restart lowcode-platform now?") { print("restarting"); } else { print("left alone"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn confirm(ncc: NativeCallContext, question: &str) -> RhaiResult<bool> {
        crate::modules::host(&ncc, |c| c.ask(question))
    }

    /// Sleep `seconds` (int), bounded by the run's timeout and interrupted by Ctrl-C.
    ///
    /// Throws when the deadline passes (exit 3) or on Ctrl-C; a negative value is an error.
    ///
    /// Example:
    /// ```rhai
    /// sleep_s(1);
    /// ```
    #[rhai_fn(name = "sleep_s", return_raw)]
    pub fn sleep_s_int(ncc: NativeCallContext, seconds: i64) -> RhaiResult<()> {
        sleep_s_float(ncc, seconds as f64)
    }

    /// Sleep `seconds` (float, e.g. `0.5`), bounded by the run's timeout and interrupted by Ctrl-C.
    ///
    /// Example:
    /// ```rhai
    /// sleep_s(0.2);
    /// ```
    #[rhai_fn(name = "sleep_s", return_raw)]
    pub fn sleep_s_float(ncc: NativeCallContext, seconds: f64) -> RhaiResult<()> {
        if !seconds.is_finite() || seconds < 0.0 {
            return Err(crate::modules::at(
                &ncc,
                Error::Usage(format!("sleep_s: {seconds} is not a number of seconds ≥ 0")),
            ));
        }
        crate::modules::host(&ncc, |c| {
            c.cancel
                .sleep(std::time::Duration::from_secs_f64(seconds.min(1e9)))
        })
    }

    /// Whether this run is a dry run (`--dry-run`, or `:dry on` in the REPL): effects are only planned.
    ///
    /// Example:
    /// ```rhai
    /// if dry_run() { print("planning only: nothing will change"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn dry_run(ncc: NativeCallContext) -> RhaiResult<bool> {
        crate::modules::host(&ncc, |c| Ok(c.dry_run))
    }

    /// The current time, RFC 3339 UTC with milliseconds (`2026-11-29T09:00:00.123Z`).
    ///
    /// Example:
    /// ```rhai
    /// print(now());   // e.g. 2026-11-29T09:00:00.123Z
    /// ```
    pub fn now() -> String {
        crate::timefmt::now_rfc3339()
    }

    /// Days from now until `timestamp` (RFC 3339; negative when it is in the past), as a float.
    ///
    /// Throws when `timestamp` is not a timestamp.
    ///
    /// Example:
    /// ```rhai
    /// print(days_until("2030-01-01T00:00:00Z"));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn days_until(ncc: NativeCallContext, timestamp: &str) -> RhaiResult<f64> {
        let t =
            crate::timefmt::parse_timestamp(timestamp).map_err(|e| crate::modules::at(&ncc, e))?;
        Ok((t - chrono::Utc::now()).num_milliseconds() as f64 / 86_400_000.0)
    }

    /// Seconds elapsed since `timestamp` (RFC 3339), as an int (negative for the future).
    ///
    /// Throws when `timestamp` is not a timestamp.
    ///
    /// Example:
    /// ```rhai
    /// print(age_s("2026-01-01T00:00:00Z"));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn age_s(ncc: NativeCallContext, timestamp: &str) -> RhaiResult<i64> {
        let t =
            crate::timefmt::parse_timestamp(timestamp).map_err(|e| crate::modules::at(&ncc, e))?;
        Ok((chrono::Utc::now() - t).num_seconds())
    }

    /// The value of environment variable `name`, or `()` when unset.
    ///
    /// Only variables listed in the policy's `env` may be read. Throws `denied` (exit 4,
    /// audited) for any other name.
    ///
    /// Example:
    /// ```rhai
    /// print(env("NODE_ENV"));   // () when it is not set
    /// ```
    #[rhai_fn(return_raw)]
    pub fn env(ncc: NativeCallContext, name: &str) -> RhaiResult<Dynamic> {
        crate::modules::host(&ncc, |c| {
            c.config
                .check_env(name)
                .map_err(|e| c.deny("env", name, e))?;
            Ok(std::env::var(name)
                .map(Dynamic::from)
                .unwrap_or(Dynamic::UNIT))
        })
    }
}

/// Record one check of `check`/`unknown`: `ok` is a bool or `()` (unknown).
fn record(
    ncc: &rhai::NativeCallContext,
    name: &str,
    ok: &rhai::Dynamic,
    detail: &str,
    extra: rhai::Map,
) -> crate::error::RhaiResult<bool> {
    use crate::report::CheckStatus;
    let status = if ok.is_unit() {
        CheckStatus::Unknown
    } else if let Ok(b) = ok.as_bool() {
        CheckStatus::from_bool(b)
    } else {
        return Err(crate::modules::at(
            ncc,
            crate::error::Error::Usage(format!(
                "check {name:?}: the 2nd argument must be a bool or () (unknown), got {}",
                ok.type_name()
            )),
        ));
    };
    for k in extra.keys() {
        if k.as_str() != "value" && k.as_str() != "threshold" {
            return Err(crate::modules::at(
                ncc,
                crate::error::Error::Usage(format!(
                    "check: unknown key {k:?} in the 4th argument (known: value, threshold)"
                )),
            ));
        }
    }
    let value = match extra.get("value") {
        Some(v) if !v.is_unit() => Some(crate::modules::dynamic_to_json(v)?),
        _ => None,
    };
    let threshold = match extra.get("threshold") {
        Some(v) if !v.is_unit() => Some(crate::modules::dynamic_to_json(v)?),
        _ => None,
    };
    let detail = if status == CheckStatus::Unknown && detail.is_empty() {
        "unknown: no value was measured"
    } else {
        detail
    };
    crate::modules::host(ncc, |c| {
        c.record_check(name, status, detail, value, threshold);
        Ok(status == CheckStatus::Ok)
    })
}
