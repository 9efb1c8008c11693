//! Building the Rhai engine: limits, the wall-clock deadline and Ctrl-C, print capture, the
//! stdlib module resolver and the host modules.
//!
//! Limits are all set explicitly (see [`Limits`]); the deadline and the cancellation flag are
//! checked in `on_progress` every [`PROGRESS_CHECK_EVERY`] operations, so the check costs a
//! counter test per operation and a clock read per few thousand.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use rhai::module_resolvers::ModuleResolver;
use rhai::{Dynamic, Engine, EvalAltResult, Module, Position, Scope, Shared};

use crate::cancel::Cancel;
use crate::ctx;

/// How often (in Rhai operations) the deadline and the Ctrl-C flag are checked.
pub const PROGRESS_CHECK_EVERY: u64 = 1024;

/// Token carried by `ErrorTerminated` when the wall-clock deadline passed.
pub const TOKEN_TIMEOUT: &str = "wall-clock timeout";
/// Token carried by `ErrorTerminated` when the bytes allocated by the process passed the limit.
pub const TOKEN_MEMORY: &str = "memory limit";
/// Token carried by `ErrorTerminated` after Ctrl-C.
pub const TOKEN_INTERRUPTED: &str = "interrupted";

/// Every limit of the sandbox. Defaults are generous for operations work and small enough
/// that no script can exhaust the host.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Rhai operations per run (policy `max_operations`).
    pub max_operations: u64,
    /// Nested function calls.
    pub max_call_levels: usize,
    /// Expression nesting at global level and inside functions.
    pub max_expr_depth: usize,
    pub max_function_expr_depth: usize,
    /// Bytes in one string made by one `pad` call (checked before it allocates).
    ///
    /// Rhai's own `set_max_string_size` / `set_max_array_size` / `set_max_map_size` are *not*
    /// set: with any of them set, Rhai re-measures the whole value after every mutating call
    /// (`check_data_size` → `calc_data_sizes` in Rhai's `src/eval/data_check.rs` walks every
    /// element), which makes `a.push(x)` in a loop quadratic. The total is bounded instead by
    /// [`Limits::max_memory_bytes`]; these per-value caps remain only where they cost O(1).
    pub max_string_size: usize,
    /// Elements in one array or BLOB made by one `pad` / `blob(n)` call.
    pub max_array_size: usize,
    /// Modules loaded by `import` in one run.
    pub max_modules: usize,
    /// Variables in scope / script functions defined.
    pub max_variables: usize,
    pub max_functions: usize,
    /// Bytes allocated by the process above which the script is stopped (0: no limit);
    /// counted by [`crate::alloc::CountingAlloc`].
    pub max_memory_bytes: u64,
}

impl Limits {
    /// The defaults with the policy's operation and memory budgets.
    pub fn from_policy(p: &crate::policy::Policy) -> Self {
        Limits {
            max_operations: p.max_operations,
            max_memory_bytes: p.max_memory_mb.saturating_mul(1 << 20),
            ..Limits::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 50_000_000,
            max_call_levels: 64,
            max_expr_depth: 64,
            max_function_expr_depth: 48,
            max_string_size: 64 << 20,
            max_array_size: 5_000_000,
            max_modules: 64,
            max_variables: 10_000,
            max_functions: 10_000,
            max_memory_bytes: 1 << 30,
        }
    }
}

/// Stack size of the thread that evaluates scripts: deep (limited) recursion in debug builds
/// needs more than the default 8 MiB.
pub const SCRIPT_STACK_SIZE: usize = 256 << 20;

/// Where `import "NAME"` looks, after the importing script's own folder.
#[derive(Debug, Clone, Default)]
pub struct StdlibPath {
    /// Folders searched in order for `NAME.rhai`.
    pub dirs: Vec<PathBuf>,
}

/// Resolves `import "NAME" as x;`: next to the importing script first, then each stdlib
/// folder, then the stdlib built into the binary. Modules are compiled once per engine.
pub struct StdlibResolver {
    path: StdlibPath,
    cache: RefCell<HashMap<PathBuf, Shared<Module>>>,
    /// The script that started the current chain of imports, then the modules being evaluated
    /// right now, outermost first: an import of one of them is a cycle.
    root: RefCell<Option<PathBuf>>,
    loading: RefCell<Vec<PathBuf>>,
}

/// The file name shown for a module in an import chain (`b.rhai`).
fn chain_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| p.to_string_lossy().to_string())
}

/// One identity per file, however it was named (`./a.rhai`, `dir/../a.rhai`).
fn file_key(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The message for an import cycle: `import cycle: a.rhai → b.rhai → a.rhai`.
pub fn cycle_message(chain: &[PathBuf]) -> String {
    let names: Vec<String> = chain.iter().map(|p| chain_name(p)).collect();
    format!("import cycle: {}", names.join(" → "))
}

impl StdlibResolver {
    pub fn new(path: StdlibPath) -> Self {
        StdlibResolver {
            path,
            cache: RefCell::new(HashMap::new()),
            root: RefCell::new(None),
            loading: RefCell::new(Vec::new()),
        }
    }

    /// Follow the `import` statements of `src` (the script at `source`) through every module
    /// they reach, without running anything, and return the first cycle found as the chain of
    /// files from `source` back to the repeated one (`a.rhai → b.rhai → a.rhai`).
    pub fn find_cycle(&self, source: &str, src: &str) -> Option<Vec<PathBuf>> {
        fn walk(
            r: &StdlibResolver,
            file: &Path,
            src: &str,
            stack: &mut Vec<PathBuf>,
            done: &mut std::collections::HashSet<PathBuf>,
        ) -> Option<Vec<PathBuf>> {
            let key = file_key(file);
            if let Some(i) = stack.iter().position(|k| *k == key) {
                let mut chain = stack[i..].to_vec();
                chain.push(key);
                return Some(chain);
            }
            if !done.insert(key.clone()) {
                return None;
            }
            stack.push(key);
            let shown = file.to_string_lossy().to_string();
            let (_, _, imports) = crate::script::statics::scan(src);
            for imp in imports {
                if let Some((next, text)) = r.locate(Some(&shown), &imp.path) {
                    if let Some(chain) = walk(r, &next, &text, stack, done) {
                        return Some(chain);
                    }
                }
            }
            stack.pop();
            None
        }
        walk(
            self,
            Path::new(source),
            src,
            &mut Vec::new(),
            &mut Default::default(),
        )
    }

    /// Find the source of module `name` imported from `source` (the importer's path).
    pub fn locate(&self, source: Option<&str>, name: &str) -> Option<(PathBuf, String)> {
        let file = if name.ends_with(".rhai") {
            name.to_string()
        } else {
            format!("{name}.rhai")
        };
        let mut candidates = Vec::new();
        if let Some(src) = source.filter(|s| !s.starts_with('<')) {
            if let Some(dir) = Path::new(src).parent() {
                candidates.push(dir.join(&file));
            }
        }
        for d in &self.path.dirs {
            candidates.push(d.join(&file));
        }
        for c in candidates {
            if c.is_file()
                && let Ok(text) = crate::script::read_script(&c)
            {
                return Some((c, text));
            }
        }
        let stem = file.trim_end_matches(".rhai");
        crate::script::embedded::STDLIB
            .iter()
            .find(|(n, _)| *n == stem)
            .map(|(n, text)| {
                (
                    PathBuf::from(format!("<built-in>/stdlib/{n}.rhai")),
                    text.to_string(),
                )
            })
    }
}

impl ModuleResolver for StdlibResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let (file, text) = self
            .locate(source, path)
            .ok_or_else(|| Box::new(EvalAltResult::ErrorModuleNotFound(path.to_string(), pos)))?;
        if let Some(m) = self.cache.borrow().get(&file) {
            return Ok(m.clone());
        }
        let key = file_key(&file);
        {
            let mut loading = self.loading.borrow_mut();
            let mut root = self.root.borrow_mut();
            if loading.is_empty() {
                *root = source
                    .filter(|s| !s.starts_with('<'))
                    .map(|s| file_key(Path::new(s)));
            }
            let open: Vec<&PathBuf> = root.iter().chain(loading.iter()).collect();
            if let Some(i) = open.iter().position(|k| **k == key) {
                let mut chain: Vec<PathBuf> = open[i..].iter().map(|p| (*p).clone()).collect();
                chain.push(key);
                if loading.is_empty() {
                    *root = None;
                }
                return Err(Box::new(EvalAltResult::ErrorRuntime(
                    Dynamic::from(cycle_message(&chain)),
                    pos,
                )));
            }
            loading.push(key);
        }
        let shown = file.to_string_lossy().to_string();
        let result = (|| {
            let mut ast = engine.compile(strip_shebang(&text)).map_err(|e| {
                Box::new(EvalAltResult::ErrorInModule(shown.clone(), e.into(), pos))
            })?;
            ast.set_source(shown.clone());
            Module::eval_ast_as_new(Scope::new(), &ast, engine).map_err(|e| match *e {
                // The cycle's message already names every file: keep it on top, at this
                // importer's `import` statement.
                EvalAltResult::ErrorRuntime(v, _)
                    if v.clone()
                        .into_string()
                        .is_ok_and(|m| m.starts_with("import cycle:")) =>
                {
                    Box::new(EvalAltResult::ErrorRuntime(v, pos))
                }
                other => Box::new(EvalAltResult::ErrorInModule(
                    shown.clone(),
                    other.into(),
                    pos,
                )),
            })
        })();
        {
            let mut loading = self.loading.borrow_mut();
            loading.pop();
            if loading.is_empty() {
                *self.root.borrow_mut() = None;
            }
        }
        let module = result?;
        let shared: Shared<Module> = module.into();
        self.cache.borrow_mut().insert(file, shared.clone());
        Ok(shared)
    }
}

/// The out-of-line part of the `on_progress` check: the memory limit, then (every
/// [`PROGRESS_CHECK_EVERY`] operations) Ctrl-C and the deadline. `Some(token)` stops the script.
#[cold]
#[inline(never)]
fn progress_check(
    memory_limit: u64,
    flag: &std::sync::atomic::AtomicBool,
    deadline: Option<Instant>,
) -> Option<Dynamic> {
    if crate::alloc::allocated() > memory_limit {
        return Some(Dynamic::from(TOKEN_MEMORY));
    }
    if flag.load(Ordering::Relaxed) {
        return Some(Dynamic::from(TOKEN_INTERRUPTED));
    }
    match deadline {
        Some(d) if Instant::now() >= d => Some(Dynamic::from(TOKEN_TIMEOUT)),
        _ => None,
    }
}

/// Drop a `#!` first line, keeping line numbers (the line is blanked, not removed).
pub fn strip_shebang(text: &str) -> String {
    if text.starts_with("#!") {
        let end = text.find('\n').unwrap_or(text.len());
        text[end..].to_string()
    } else {
        text.to_string()
    }
}

/// Build an engine with every limit set, `eval` disabled, strict variables, the host modules,
/// output captured into the current run context, and the deadline/Ctrl-C check.
pub fn build(limits: &Limits, cancel: Cancel, stdlib: StdlibPath) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth)
        .set_max_modules(limits.max_modules)
        .set_max_variables(limits.max_variables)
        .set_max_functions(limits.max_functions)
        .set_strict_variables(true);
    engine.disable_symbol("eval");
    // An integer literal too large for 64 bits (or a float literal that overflows) is an error,
    // not a silent float or `inf` (Rhai's tokenizer falls back to a float for both).
    #[allow(deprecated)] // `on_parse_token` is marked volatile, not deprecated.
    engine.on_parse_token(|token, _pos, _state| match token {
        rhai::Token::FloatConstant(ref f) => {
            let text = f.1.as_str();
            let integral = !text.contains(['.', 'e', 'E']);
            if !integral && f.0.is_finite() {
                return token;
            }
            let digits = text.trim_start_matches('-').len();
            let shown: String = text.chars().take(24).collect();
            let more = if text.len() > shown.len() { "…" } else { "" };
            rhai::Token::LexError(Box::new(rhai::LexError::Runtime(if integral {
                format!(
                    "integer literal {shown}{more} ({digits} digits) is out of the 64-bit range \
                     (-9223372036854775808 to 9223372036854775807)"
                )
            } else {
                format!("float literal {shown}{more} is out of range")
            })))
        }
        _ => token,
    });

    let flag = cancel.flag().clone();
    let deadline = cancel.deadline();
    let max_memory = limits.max_memory_bytes;
    crate::alloc::set_ceiling(if max_memory == 0 {
        0
    } else {
        max_memory.saturating_add(crate::alloc::HEADROOM)
    });
    register_size_guards(&mut engine, limits);
    let memory_limit = if max_memory == 0 {
        u64::MAX
    } else {
        max_memory
    };
    // The hot path is two compares; everything else lives out of line so the closure stays
    // small (it runs once per Rhai operation: see benches/engine.sh for what it costs).
    engine.on_progress(move |ops| {
        // One relaxed load per operation: a few operations can allocate a lot.
        if crate::alloc::allocated() <= memory_limit && ops % PROGRESS_CHECK_EVERY != 0 {
            return None;
        }
        progress_check(memory_limit, &flag, deadline)
    });

    engine.on_print(|s| match ctx::current() {
        Some(c) => c.record_output(s),
        None => println!("{s}"),
    });
    engine.on_debug(|s, src, pos| {
        let line = match (src, pos) {
            (Some(src), pos) => format!("{src} @ {pos:?} | {s}"),
            (None, Position::NONE) => s.to_string(),
            (None, pos) => format!("{pos:?} | {s}"),
        };
        match ctx::current() {
            Some(c) => c.record_output(&line),
            None => println!("{line}"),
        }
    });

    engine.set_module_resolver(StdlibResolver::new(stdlib));
    crate::modules::register_all(&mut engine);
    engine
}

/// Stop a single native call that would allocate `bytes` more than the memory budget has left
/// (the per-operation check in `on_progress` runs only between calls).
fn ensure_room(max_memory: u64, bytes: u64) -> Result<(), Box<EvalAltResult>> {
    if max_memory > 0 && crate::alloc::allocated().saturating_add(bytes) > max_memory {
        return Err(Box::new(EvalAltResult::ErrorTerminated(
            Dynamic::from(TOKEN_MEMORY),
            Position::NONE,
        )));
    }
    Ok(())
}

fn too_large(what: &str) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorDataTooLarge(
        what.to_string(),
        Position::NONE,
    ))
}

/// Replace the Rhai functions whose result size is set by an argument (`pad`, `blob(n)`) or is
/// a multiple of their input (`to_chars`, `split`) with versions that check, in O(1) or in one
/// pass over the input, the per-value cap and the memory budget *before* they allocate.
/// Functions registered on the engine are found before the standard package's, and each one
/// returns exactly what Rhai's own does.
fn register_size_guards(engine: &mut Engine, limits: &Limits) {
    use rhai::{Array, Blob, INT, ImmutableString};
    const DYNAMIC: u64 = std::mem::size_of::<Dynamic>() as u64;
    // One piece of a split: its `Dynamic`, the shared string's allocation, and its bytes.
    const PIECE: u64 = DYNAMIC + 48;
    let mem = limits.max_memory_bytes;
    let (max_str, max_arr) = (limits.max_string_size, limits.max_array_size);

    engine.register_fn(
        "pad",
        move |array: &mut Array, len: INT, item: Dynamic| -> Result<(), Box<EvalAltResult>> {
            let Ok(len) = usize::try_from(len) else {
                return Ok(());
            };
            if len <= array.len() {
                return Ok(());
            }
            if len > max_arr {
                return Err(too_large("Size of array"));
            }
            ensure_room(mem, (len - array.len()) as u64 * DYNAMIC)?;
            array.resize(len, item);
            Ok(())
        },
    );
    let string_pad =
        move |s: &mut ImmutableString, len: INT, fill: &str| -> Result<(), Box<EvalAltResult>> {
            let Ok(len) = usize::try_from(len) else {
                return Err(too_large("Length of string"));
            };
            if len > max_str {
                return Err(too_large("Length of string"));
            }
            let have = s.chars().count();
            if len <= have || fill.is_empty() {
                return Ok(());
            }
            let per_char = fill.len().div_ceil(fill.chars().count()) as u64;
            ensure_room(mem, (len - have) as u64 * per_char)?;
            let p = s.make_mut();
            let mut n = have;
            while n < len {
                for c in fill.chars().take(len - n) {
                    p.push(c);
                    n += 1;
                }
            }
            Ok(())
        };
    engine.register_fn(
        "pad",
        move |s: &mut ImmutableString, len: INT, c: char| -> Result<(), Box<EvalAltResult>> {
            string_pad(s, len, c.encode_utf8(&mut [0; 4]))
        },
    );
    engine.register_fn("pad", string_pad);
    let blob_new = move |len: INT, value: INT| -> Result<Blob, Box<EvalAltResult>> {
        if len <= 0 {
            return Ok(Blob::new());
        }
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > max_arr {
            return Err(too_large("Size of array/BLOB"));
        }
        ensure_room(mem, len as u64)?;
        Ok(vec![(value & 0xff) as u8; len])
    };
    engine.register_fn("blob", move |len: INT| blob_new(len, 0));
    engine.register_fn("blob", blob_new);
    engine.register_fn(
        "pad",
        move |blob: &mut Blob, len: INT, value: INT| -> Result<(), Box<EvalAltResult>> {
            if len <= 0 {
                return Ok(());
            }
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if len > max_arr {
                return Err(too_large("Size of BLOB"));
            }
            if len > blob.len() {
                ensure_room(mem, (len - blob.len()) as u64)?;
                blob.resize(len, (value & 0xff) as u8);
            }
            Ok(())
        },
    );
    engine.register_fn(
        "to_chars",
        move |s: &str| -> Result<Array, Box<EvalAltResult>> {
            ensure_room(mem, s.chars().count() as u64 * DYNAMIC)?;
            Ok(s.chars().map(Into::into).collect())
        },
    );
    engine.register_fn(
        "split",
        move |s: ImmutableString, delim: &str| -> Result<Array, Box<EvalAltResult>> {
            if s.is_empty() || (!delim.is_empty() && !s.contains(delim)) {
                return Ok(vec![s.into()]);
            }
            let pieces = if delim.is_empty() {
                s.chars().count() + 2
            } else {
                s.matches(delim).count() + 1
            };
            ensure_room(mem, pieces as u64 * PIECE + s.len() as u64)?;
            Ok(s.split(delim).map(Into::into).collect())
        },
    );
    engine.register_fn(
        "split",
        move |s: ImmutableString, delim: char| -> Result<Array, Box<EvalAltResult>> {
            if s.is_empty() || !s.contains(delim) {
                return Ok(vec![s.into()]);
            }
            let pieces = s.matches(delim).count() + 1;
            ensure_room(mem, pieces as u64 * PIECE + s.len() as u64)?;
            Ok(s.split(delim).map(Into::into).collect())
        },
    );
    engine.register_fn(
        "split",
        move |s: ImmutableString| -> Result<Array, Box<EvalAltResult>> {
            if s.is_empty() {
                return Ok(vec![s.into()]);
            }
            let pieces = s.split_whitespace().count();
            ensure_room(mem, pieces as u64 * PIECE + s.len() as u64)?;
            Ok(s.split_whitespace().map(Into::into).collect())
        },
    );
}

/// A bare engine with only the host modules (no limits, no resolver): for docs, completion and
/// `runbook check`'s list of known functions.
pub fn metadata_engine() -> Engine {
    let mut engine = Engine::new();
    crate::modules::register_all(&mut engine);
    engine
}

/// Run `f` on a thread with a large stack and return its result (a panic becomes an error
/// string rather than taking the process down).
pub fn on_script_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let handle = std::thread::Builder::new()
        .name("runbook-script".into())
        .stack_size(SCRIPT_STACK_SIZE)
        .spawn(f)
        .map_err(|e| format!("cannot start script thread: {e}"))?;
    handle.join().map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        format!("internal error (please report): {msg}")
    })
}

/// Keep the context alive for the engine's callbacks: install it for the current thread.
pub fn with_context<T>(c: Rc<ctx::Ctx>, f: impl FnOnce() -> T) -> T {
    let prev = ctx::install(c);
    let out = f();
    ctx::uninstall();
    if let Some(p) = prev {
        ctx::install(p);
    }
    out
}
