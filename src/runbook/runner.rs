//! Running one runbook: validate parameters, build the engine, evaluate on a big-stack thread
//! with the run's context installed, and turn the outcome into a [`Report`] and exit code.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rhai::{Dynamic, EvalAltResult, Map, ParseError, Position, Scope};

use crate::cancel::Cancel;
use crate::ctx::Ctx;
use crate::engine::{self, Limits, StdlibPath};
use crate::error::{Error, ErrorKind, Result};
use crate::policy::Config;
use crate::report::{Report, Status};
use crate::runbook::discover::Runbook;
use crate::runbook::header::{Header, ParamSpec, ParamValue};

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `-p KEY=VALUE` pairs as given.
    pub params: Vec<(String, String)>,
    pub dry_run: bool,
    pub yes: bool,
    /// `--timeout SECS` (else the policy's `timeout_s`).
    pub timeout_s: Option<u64>,
    /// Print `print` output as it happens (human mode).
    pub echo: bool,
    /// Shared Ctrl-C flag.
    pub cancel_flag: Arc<AtomicBool>,
    /// `--wait`: when another run of the same runbook holds its lock, wait for it (within the
    /// run's timeout, Ctrl-C stops the wait) instead of failing at once.
    pub wait: bool,
}

/// Validate `given` against the header: unknown, missing and ill-typed parameters are usage
/// errors (exit 2) naming the parameter and the expected type.
pub fn resolve_params(
    rb_name: &str,
    header: &Header,
    given: &[(String, String)],
) -> Result<Vec<(ParamSpec, ParamValue)>> {
    for (k, _) in given {
        if !header.params.iter().any(|p| &p.name == k) {
            let known: Vec<&str> = header.params.iter().map(|p| p.name.as_str()).collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            return Err(Error::Usage(format!(
                "unknown parameter {k:?} for runbook {rb_name} (it takes: {known})"
            )));
        }
    }
    let mut out = Vec::new();
    for spec in &header.params {
        let raw = given
            .iter()
            .rev()
            .find(|(k, _)| k == &spec.name)
            .map(|(_, v)| v.clone());
        let raw = match raw.or_else(|| spec.default.clone()) {
            Some(r) => r,
            None => {
                return Err(Error::Usage(format!(
                    "missing parameter {} ({}) for runbook {rb_name}: pass -p {}=VALUE",
                    spec.name,
                    spec.ty.name(),
                    spec.name
                )));
            }
        };
        let value = spec.parse_value(&raw)?;
        out.push((spec.clone(), value));
    }
    Ok(out)
}

/// Parse `KEY=VALUE` (usage error otherwise).
pub fn parse_kv(s: &str) -> Result<(String, String)> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| Error::Usage(format!("-p {s:?}: expected KEY=VALUE")))?;
    Ok((k.trim().to_string(), v.to_string()))
}

/// A scope holding each parameter as a constant and the map `params`.
pub fn params_scope(values: &[(ParamSpec, ParamValue)]) -> Scope<'static> {
    let mut scope = Scope::new();
    let mut map = Map::new();
    for (spec, v) in values {
        scope.push_constant(spec.name.clone(), v.to_dynamic());
        map.insert(spec.name.clone().into(), v.to_dynamic());
    }
    scope.push_constant("params", map);
    scope
}

/// The scope a runbook is *compiled* with: the parameters' names (so strict variables know
/// them) bound to `()` as plain variables, so the optimizer cannot fold a parameter's value
/// into code where a `let` of the same name shadows it — a closure given to `on_failure`
/// capturing the shadowing variable would otherwise see the parameter's value. The run itself
/// uses [`params_scope`], where they are constants.
pub fn compile_scope(values: &[(ParamSpec, ParamValue)]) -> Scope<'static> {
    let mut scope = Scope::new();
    for (spec, _) in values {
        scope.push_dynamic(spec.name.clone(), Dynamic::UNIT);
    }
    scope.push_dynamic("params", Dynamic::UNIT);
    scope
}

/// Run `rb` and return its report (never panics; every failure is in the report).
pub fn run(config: Arc<Config>, stdlib: StdlibPath, rb: Runbook, opts: RunOptions) -> Report {
    let started = crate::timefmt::now_rfc3339();
    let t0 = Instant::now();
    let mut base = Report {
        runbook: rb.name.clone(),
        started: started.clone(),
        ..Report::default()
    };

    let prepared = rb.header().and_then(|h| {
        let values = resolve_params(&rb.name, &h, &opts.params)?;
        Ok((h.action, values))
    });
    let (action_only, values) = match prepared {
        Ok(v) => v,
        Err(e) => {
            base.fail(e.error_kind(), e.to_string());
            base.duration_ms = t0.elapsed().as_millis() as u64;
            return base;
        }
    };
    for (spec, v) in &values {
        base.params.insert(spec.name.clone(), v.to_json());
    }

    let timeout = opts.timeout_s.unwrap_or(config.policy.timeout_s);
    let cancel = Cancel::new(
        opts.cancel_flag.clone(),
        Some(Instant::now() + Duration::from_secs(timeout)),
    );
    let may_affect = !effects_of(stdlib.clone(), &rb).is_empty();
    // A run that can cause effects holds the runbook's lock for its whole duration.
    let _lock = if opts.dry_run || !may_affect {
        None
    } else {
        match RunbookLock::acquire(&config.state_dir, &rb, opts.wait, &cancel) {
            Ok(l) => Some(l),
            Err(e) => {
                base.fail(e.error_kind(), e.to_string());
                base.duration_ms = t0.elapsed().as_millis() as u64;
                return base;
            }
        }
    };
    let limits = Limits::from_policy(&config.policy);
    let base_for_thread = base.clone();
    let echo = opts.echo;
    let joined = engine::on_script_thread(move || {
        let mut ctx = Ctx::new(config, &rb.name, cancel.clone());
        ctx.dry_run = opts.dry_run;
        ctx.yes = opts.yes;
        ctx.echo_output = opts.echo;
        let ctx = Rc::new(ctx);
        *ctx.report.borrow_mut() = base_for_thread;
        let mut engine = engine::build(&limits, cancel, stdlib.clone());
        // A runbook that may cause effects starts only without the problems `runbook check`
        // finds: an unknown function or option key met at run time would stop it after its
        // earlier effects (preflight before the first effect). Read-only runbooks skip this
        // (a few ms: their failure midway changes nothing).
        let problems = if may_affect {
            engine.set_optimization_level(rhai::OptimizationLevel::None);
            let known = crate::runbook::statics::Known::from_engine(&engine);
            let found = super::problems::problems(stdlib.clone(), &rb, &known, &engine);
            engine.set_optimization_level(rhai::OptimizationLevel::Simple);
            // A script that does not compile gets the compiler's own error below.
            if found.compiled {
                found.problems
            } else {
                Vec::new()
            }
        } else {
            Vec::new()
        };
        let mut ast = None;
        let outcome = engine::with_context(ctx.clone(), || {
            if !problems.is_empty() {
                return Err(Failure {
                    kind: ErrorKind::Script,
                    location: String::new(),
                    message: format!(
                        "{}\nnothing was run: a runbook that may cause effects starts only when \
                         `runbook check {}` finds no problem",
                        problems.join("\n"),
                        rb.name
                    ),
                });
            }
            let mut scope = params_scope(&values);
            let source = engine::strip_shebang(&rb.source);
            let compiled = ast.insert(
                engine
                    .compile_with_scope(&compile_scope(&values), &source)
                    .map_err(|e| parse_error(&e, &rb.display_path, &source))?,
            );
            compiled.set_source(rb.display_path.clone());
            engine
                .run_ast_with_scope(&mut scope, compiled)
                .map_err(|e| eval_error(&e, &rb.display_path))
        });
        let comps = ctx.compensations.take();
        let ctx = match &ast {
            Some(ast) if !comps.is_empty() && (outcome.is_err() || ctx.dry_run) => {
                compensate(ctx, comps, ast, &limits, &stdlib, &rb.display_path, echo)
            }
            _ => ctx,
        };
        let mut report = ctx.report.borrow().clone();
        match &outcome {
            Ok(()) => {
                report.exit_code = report.finished_exit_code(action_only);
                report.status = Status::from_exit_code(report.exit_code);
            }
            Err(f) => report.fail(f.kind, f.to_string()),
        }
        report
    });
    let mut report = joined.unwrap_or_else(|msg| {
        let mut r = base;
        r.fail(ErrorKind::Script, msg);
        r
    });
    report.duration_ms = t0.elapsed().as_millis() as u64;
    report
}

/// Effects `rb` may cause, following its imports through `stdlib` (for `show`, the REPL's `:run` and the runbook lock).
pub fn effects_of(
    stdlib: crate::engine::StdlibPath,
    rb: &Runbook,
) -> std::collections::BTreeSet<String> {
    let resolver = crate::engine::StdlibResolver::new(stdlib);
    let src_path = rb.display_path.clone();
    fn imported(
        resolver: &crate::engine::StdlibResolver,
        from: &str,
        path: &str,
        depth: usize,
    ) -> std::collections::BTreeSet<String> {
        if depth > 8 {
            return std::collections::BTreeSet::new();
        }
        match resolver.locate(Some(from), path) {
            Some((file, text)) => {
                let f = file.to_string_lossy().to_string();
                crate::runbook::statics::effects_of(&text, &|p| {
                    imported(resolver, &f, p, depth + 1)
                })
            }
            None => std::collections::BTreeSet::new(),
        }
    }
    crate::runbook::statics::effects_of(&rb.source, &|p| imported(&resolver, &src_path, p, 0))
}

/// Who holds a runbook's lock; written into the lock file.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct LockHolder {
    pid: u32,
    user: String,
    since: String,
    runbook: String,
}

/// The exclusive lock (`flock`, dropped by the kernel however the holder ends) that one run
/// of a runbook that can cause effects holds: `STATE_DIR/locks/runbooks/NAME-HASH.lock`, keyed
/// by the runbook's file (HASH of its path), holding the holder's pid, user and start time.
pub struct RunbookLock {
    file: std::fs::File,
}

impl RunbookLock {
    /// The lock file of `rb` under `state_dir`.
    pub fn path_for(state_dir: &std::path::Path, rb: &Runbook) -> std::path::PathBuf {
        use sha2::Digest;
        let key = rb
            .path
            .as_ref()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .map(|p| p.to_string_lossy().to_string())
            .unwrap_or_else(|| rb.display_path.clone());
        let hash = sha2::Sha256::digest(key.as_bytes());
        let stem: String = rb
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        let hex: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
        state_dir
            .join("locks")
            .join("runbooks")
            .join(format!("{stem}-{hex}.lock"))
    }

    /// Take the lock of `rb`: at once, or (with `wait`) polling every 100 ms until it is free,
    /// the deadline passes or Ctrl-C.
    ///
    /// Errors: `Busy` naming the holder's pid, user and start time and the lock file; I/O
    /// errors naming the file; `Interrupted`/`Limit` while waiting.
    pub fn acquire(
        state_dir: &std::path::Path,
        rb: &Runbook,
        wait: bool,
        cancel: &Cancel,
    ) -> Result<RunbookLock> {
        use fs4::{FileExt, TryLockError};
        use std::io::{Read, Seek, Write};
        let path = Self::path_for(state_dir, rb);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("creating lock folder", dir, e))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("opening runbook lock", &path, e))?;
        loop {
            match FileExt::try_lock(&file) {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if wait => {
                    cancel.sleep(Duration::from_millis(100))?;
                }
                Err(TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    let who = match serde_json::from_str::<LockHolder>(&text) {
                        Ok(h) => format!("pid {}, user {}, started {}", h.pid, h.user, h.since),
                        Err(_) => "a run that has not written its name yet".into(),
                    };
                    return Err(Error::Busy(format!(
                        "runbook {} is already running ({who}; lock file {}); pass --wait to wait for it",
                        rb.name,
                        path.display()
                    )));
                }
                Err(TryLockError::Error(e)) => return Err(Error::io("locking", &path, e)),
            }
        }
        let me = LockHolder {
            pid: std::process::id(),
            user: crate::audit::current_user(),
            since: crate::timefmt::now_rfc3339(),
            runbook: rb.display_path.clone(),
        };
        let text = serde_json::to_string(&me).unwrap_or_default();
        file.set_len(0)
            .and_then(|_| file.seek(std::io::SeekFrom::Start(0)))
            .and_then(|_| file.write_all(text.as_bytes()))
            .map_err(|e| Error::io("writing runbook lock", &path, e))?;
        Ok(RunbookLock { file })
    }
}

impl Drop for RunbookLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = fs4::FileExt::unlock(&self.file);
    }
}

/// Time each compensation may take. Its own budget: the deadline or Ctrl-C that ended the run
/// must not stop the undo.
pub const COMPENSATION_BUDGET: Duration = Duration::from_secs(60);

/// Run the compensations `comps` (registered by `on_failure`) newest first, each in a fresh
/// context and engine with its own [`COMPENSATION_BUDGET`] and cancellation flag, and return
/// the context that holds the report. A compensation that fails is recorded in the report's
/// `compensation_errors` (and printed on stderr at once unless the report is printed for
/// humans, which shows them) and the next one still runs.
fn compensate(
    mut ctx: Rc<Ctx>,
    comps: Vec<crate::ctx::Compensation>,
    ast: &rhai::AST,
    limits: &Limits,
    stdlib: &StdlibPath,
    display_path: &str,
    human: bool,
) -> Rc<Ctx> {
    for comp in comps.iter().rev() {
        let cancel = Cancel::new(
            Arc::new(AtomicBool::new(false)),
            Some(Instant::now() + COMPENSATION_BUDGET),
        );
        let next = Rc::new(ctx.for_compensation(cancel.clone()));
        let engine = engine::build(limits, cancel, stdlib.clone());
        let result = engine::with_context(next.clone(), || {
            comp.closure.call::<Dynamic>(&engine, ast, ())
        });
        if let Err(e) = result {
            let f = eval_error(&e, display_path);
            let msg = format!(
                "the compensation registered at {} failed: {f}",
                comp.registered_at
            );
            if !human {
                eprintln!("runbook: COMPENSATION FAILED (undo incomplete): {msg}");
            }
            next.report.borrow_mut().compensation_errors.push(msg);
        }
        ctx = next;
    }
    ctx
}

/// A classified script failure: the error kind, where, and what.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: ErrorKind,
    pub location: String,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind == ErrorKind::Fail {
            write!(f, "{}", self.message)
        } else if self.location.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.location, self.message)
        }
    }
}

fn loc(source: &str, pos: Position) -> String {
    match (pos.line(), pos.position()) {
        (Some(l), Some(c)) => format!("{source}:{l}:{c}"),
        (Some(l), None) => format!("{source}:{l}"),
        _ => source.to_string(),
    }
}

/// Classify a compile error of `text` (shown as `source`): `file:line:col: message`, kind `script`.
///
/// A missing `;` or `,` is reported by Rhai where the *next* token starts, often the first
/// column of a later line (`let a = 1⏎⏎let b = 2;` → 3:1); when only blanks and `//` comment
/// lines lie between, the location is moved to just after the last character of the line that
/// lacks it (1:10), where the operator has to type it.
pub fn parse_error(e: &ParseError, source: &str, text: &str) -> Failure {
    let pos = e.position();
    let location = match (e.err_type(), pos.line(), pos.position()) {
        (rhai::ParseErrorType::MissingToken(..), Some(line), Some(col)) => {
            missing_token_at(text, line, col).map(|(l, c)| format!("{source}:{l}:{c}"))
        }
        _ => None,
    };
    Failure {
        kind: ErrorKind::Script,
        location: location.unwrap_or_else(|| loc(source, pos)),
        message: e.err_type().to_string(),
    }
}

/// Where a token missing before `line:col` (1-based) belongs: after the last character of the
/// closest earlier line with code, when nothing but blanks precede `col` on `line` and only
/// blank or `//` comment lines lie between.
fn missing_token_at(text: &str, line: usize, col: usize) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let here = lines.get(line.checked_sub(1)?)?;
    if !here
        .chars()
        .take(col.saturating_sub(1))
        .all(char::is_whitespace)
    {
        return None;
    }
    (0..line - 1).rev().find_map(|i| {
        let t = lines[i].trim_end();
        let code = t.trim_start();
        if code.is_empty() || code.starts_with("//") {
            None
        } else {
            Some(Some((i + 1, t.chars().count() + 1)))
        }
    })?
}

/// Classify a run-time error, following nested function-call and module errors to the
/// innermost one and the file it happened in.
pub fn eval_error(e: &EvalAltResult, default_source: &str) -> Failure {
    let mut source = default_source.to_string();
    let mut err = e;
    // Host functions throw without a position; the call site's position is the useful one.
    let mut call_site = Position::NONE;
    loop {
        match err {
            EvalAltResult::ErrorInFunctionCall(_, src, inner, pos) => {
                if !src.is_empty() && *src != source {
                    source = src.clone();
                    call_site = Position::NONE;
                } else {
                    call_site = *pos;
                }
                err = inner;
            }
            EvalAltResult::ErrorInModule(path, inner, _) => {
                source = path.clone();
                call_site = Position::NONE;
                err = inner;
            }
            _ => break,
        }
    }
    let pos = if err.position().is_none() {
        call_site
    } else {
        err.position()
    };
    let location = loc(&source, pos);
    let (kind, message) = match err {
        EvalAltResult::ErrorRuntime(value, _) => runtime_value(value),
        EvalAltResult::ErrorTerminated(token, _) if token.is_map() => runtime_value(token),
        EvalAltResult::ErrorTerminated(token, _) => {
            let t = token.to_string();
            if t == engine::TOKEN_INTERRUPTED {
                (ErrorKind::Interrupted, "interrupted (Ctrl-C)".to_string())
            } else if t == engine::TOKEN_MEMORY {
                (
                    ErrorKind::Limit,
                    "memory limit: the script's values grew past policy.max_memory_mb".to_string(),
                )
            } else {
                (
                    ErrorKind::Limit,
                    format!("{t}: the run exceeded its time limit (--timeout / policy.timeout_s)"),
                )
            }
        }
        EvalAltResult::ErrorTooManyOperations(_) => (
            ErrorKind::Limit,
            "too many operations (policy.max_operations); a runaway loop?".into(),
        ),
        EvalAltResult::ErrorStackOverflow(_) => (
            ErrorKind::Limit,
            "call nesting too deep (max 64 levels); runaway recursion?".into(),
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            (ErrorKind::Limit, format!("{what} exceeds the size limit"))
        }
        EvalAltResult::ErrorTooManyModules(_) => {
            (ErrorKind::Limit, "too many modules imported".into())
        }
        EvalAltResult::ErrorTooManyVariables(_) => (ErrorKind::Limit, "too many variables".into()),
        other => (ErrorKind::Script, strip_position(&other.to_string())),
    };
    let location = if kind == ErrorKind::Fail {
        String::new()
    } else {
        location
    };
    Failure {
        kind,
        location,
        message,
    }
}

/// The kind and message of a thrown value: a host error's `#{kind, message}` map read back into
/// its typed kind, or any other value a script threw (kind `script`).
fn runtime_value(value: &Dynamic) -> (ErrorKind, String) {
    if let Some(map) = value.read_lock::<Map>()
        && let (Some(k), Some(m)) = (map.get("kind"), map.get("message"))
    {
        return (ErrorKind::from_word(&k.to_string()), m.to_string());
    }
    (ErrorKind::Script, format!("uncaught exception: {value}"))
}

/// Rhai appends ` (line L, position C)` to messages; the location is printed separately.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" (line ") {
        Some(i) if msg.ends_with(')') => msg[..i].to_string(),
        _ => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::header;

    #[test]
    fn params_validation() {
        let h = header::parse(
            "//! s\n//! @param n: int = 5\n//! @param tag: string\n",
            "x",
        )
        .unwrap();
        let e = resolve_params("x", &h, &[]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("missing parameter tag"), "{e}");
        let e = resolve_params(
            "x",
            &h,
            &[("nope".into(), "1".into()), ("tag".into(), "v".into())],
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown parameter \"nope\""), "{e}");
        let e = resolve_params(
            "x",
            &h,
            &[("n".into(), "x".into()), ("tag".into(), "v".into())],
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("parameter n: expected an int"),
            "{e}"
        );
        let v = resolve_params("x", &h, &[("tag".into(), "v1".into())]).unwrap();
        assert_eq!(v[0].1, ParamValue::Int(5));
        assert_eq!(v[1].1, ParamValue::String("v1".into()));
    }
}
