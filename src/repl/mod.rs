//! The interactive REPL (`runbook repl`): the same engine, policy, inventory, audit log and
//! stdlib as `runbook run`, one input at a time.
//!
//! * The whole session runs on one big-stack thread ([`engine::on_script_thread`]): the
//!   engine and the run context are not `Send`.
//! * Variables live in one [`Scope`]; functions are merged into one accumulated [`AST`] whose
//!   statements are cleared after each input; `import "x" as y;` is kept by registering the
//!   resolved module as a static module `y` on the engine of every later input.
//! * An input that fails is undone as far as names go: variables it declared are dropped and
//!   its functions and imports are not kept (changes it made to existing variables stay). So
//!   what the session holds is what its successful inputs — the ones `:save` writes — define.
//! * Each input gets a fresh engine, run context and deadline: the policy's `timeout_s` per
//!   input (default 600 s), like one `runbook run`. Ctrl-C stops the input through the shared
//!   cancellation flag, which is reset after every input; the session and its variables stay.
//! * Effects ask for confirmation before they run (`Ctx::confirm_effects`) unless `:yes on`;
//!   `:dry on` plans them instead. All of them are audited under the session's run id.
//! * With stdin not a terminal, lines are read plainly (no prompt, no editing), inputs are
//!   still split by the same compile-based completeness rule, and Ctrl-C ends the session.

mod helper;
mod meta;
mod render;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rhai::{AST, Dynamic, Engine, EvalAltResult, Module, Position, Scope, Shared};
use rustyline::config::{ColorMode, CompletionType};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Editor, EventHandler, KeyEvent};

use crate::cancel::Cancel;
use crate::ctx::Ctx;
use crate::engine::{self, Limits, StdlibPath};
use crate::error::{Error, Result, exit_code_for_kind};
use crate::policy::Config;
use crate::runbook::SearchPath;
use crate::runbook::runner;

pub use helper::is_incomplete;
use helper::{Catalog, ReplHelper, SessionNames};

/// File name of the REPL's history in the state dir.
pub const HISTORY_FILE: &str = "repl_history";

/// Start a session: line editing on a terminal, plain line reading otherwise.
/// Returns the exit code: 0, or (piped input) the code of the last input that failed.
pub fn run(config: Arc<Config>, search: SearchPath, cancel: Arc<AtomicBool>) -> Result<i32> {
    let interactive = std::io::stdin().is_terminal();
    engine::on_script_thread(move || {
        let mut session = Session::new(config, search, cancel, interactive);
        if interactive {
            session.run_terminal()
        } else {
            session.run_piped(std::io::stdin().lock())
        }
    })
    .map_err(Error::failed)?
}

/// What to do after one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Ok,
    /// The input failed with this exit code (as `runbook run` would have).
    Failed(i32),
    Quit,
}

/// The state of one session.
pub(crate) struct Session {
    config: Arc<Config>,
    search: SearchPath,
    stdlib: StdlibPath,
    flag: Arc<AtomicBool>,
    limits: Limits,
    /// Variables of the session.
    scope: Scope<'static>,
    /// Functions of the session (no statements).
    lib: AST,
    /// Which input defined each script function (for error positions inside it).
    fn_origin: HashMap<String, usize>,
    /// Imported modules kept across inputs: alias → module.
    modules: BTreeMap<String, Shared<Module>>,
    /// Every code input evaluated, by number (for error positions).
    texts: Vec<String>,
    /// The successful code inputs, in order (what `:save` writes).
    saved: Vec<String>,
    dry_run: bool,
    yes: bool,
    /// One run id for every audit record of the session.
    run_id: String,
    /// Sequence number of the session's last effect that acted: each effect of the session gets
    /// the next one, so its `started` and outcome records pair up under the one run id.
    effect_seq: u64,
    interactive: bool,
    color: bool,
    host: String,
    /// Names for completion, shared with the line editor's helper.
    names: Rc<RefCell<SessionNames>>,
}

impl Session {
    pub(crate) fn new(
        config: Arc<Config>,
        search: SearchPath,
        flag: Arc<AtomicBool>,
        interactive: bool,
    ) -> Self {
        let limits = Limits::from_policy(&config.policy);
        let host = sysinfo::System::host_name().unwrap_or_else(|_| "localhost".into());
        Session {
            stdlib: search.stdlib_path(),
            config,
            search,
            flag,
            limits,
            scope: Scope::new(),
            lib: AST::empty(),
            fn_origin: HashMap::new(),
            modules: BTreeMap::new(),
            texts: Vec::new(),
            saved: Vec::new(),
            dry_run: false,
            yes: false,
            run_id: format!("repl-{}", crate::ctx::new_run_id()),
            effect_seq: 0,
            interactive,
            color: std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal(),
            host,
            names: Rc::new(RefCell::new(SessionNames::default())),
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// The prompt: host, and the session's modes. (raw, styled)
    fn prompt(&self) -> (String, String) {
        let mut raw = format!("runbook@{}", self.host);
        let mut styled = format!("runbook@{}", self.paint("1", &self.host));
        if self.dry_run {
            raw.push_str(" [dry-run]");
            styled.push_str(&format!(" [{}]", self.paint("33", "dry-run")));
        }
        if self.yes {
            raw.push_str(" [yes]");
            styled.push_str(&format!(" [{}]", self.paint("31", "yes")));
        }
        raw.push_str("> ");
        styled.push_str("> ");
        (raw, styled)
    }

    fn banner(&self) -> String {
        let policy = match &self.config.source {
            Some(p) => format!("policy {}", p.display()),
            None => "built-in default policy".to_string(),
        };
        format!(
            "runbook repl on {} ({policy}). :help for commands, Tab completes, Ctrl-C stops an input, Ctrl-D leaves.\n\
             Effects ask before they run (:yes on skips that); :dry on only plans them. Each input may run {} s.",
            self.host, self.config.policy.timeout_s
        )
    }

    /// The editor session on a terminal.
    fn run_terminal(&mut self) -> Result<i32> {
        let rl_err = |e: ReadlineError| Error::failed(format!("line editor: {e}"));
        let cfg = rustyline::Config::builder()
            .history_ignore_dups(true)
            .map_err(rl_err)?
            .max_history_size(5000)
            .map_err(rl_err)?
            .history_ignore_space(true)
            .auto_add_history(false)
            .completion_type(CompletionType::List)
            .bracketed_paste(true)
            .color_mode(if self.color {
                ColorMode::Enabled
            } else {
                ColorMode::Disabled
            })
            .build();
        let mut rl: Editor<ReplHelper, DefaultHistory> =
            Editor::with_config(cfg).map_err(rl_err)?;
        let catalog = Catalog {
            host: helper::host_functions(),
            services: self.config.services.keys().cloned().collect(),
            search: self.search.clone(),
            names: self.names.clone(),
        };
        rl.set_helper(Some(ReplHelper::new(catalog, self.color)));
        rl.bind_sequence(
            KeyEvent::ctrl('C'),
            EventHandler::Conditional(Box::new(helper::ClearOnCtrlC)),
        );
        let history = self.config.state_dir.join(HISTORY_FILE);
        if let Err(e) = std::fs::create_dir_all(&self.config.state_dir) {
            eprintln!(
                "runbook: cannot create state dir {}: {e} (history is not kept)",
                self.config.state_dir.display()
            );
        }
        match rl.load_history(&history) {
            Ok(()) => {}
            Err(ReadlineError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => eprintln!("runbook: cannot read history {}: {e}", history.display()),
        }
        println!("{}", self.banner());
        let mut history_warned = false;
        loop {
            self.flag.store(false, Ordering::SeqCst);
            let prompt = self.prompt();
            match rl.readline(&prompt) {
                Ok(line) => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let _ = rl.add_history_entry(line.as_str());
                    if let Err(e) = rl.append_history(&history)
                        && !history_warned
                    {
                        eprintln!("runbook: cannot write history {}: {e}", history.display());
                        history_warned = true;
                    }
                    if self.handle(&line) == Flow::Quit {
                        break;
                    }
                }
                // Ctrl-C on an empty prompt: a fresh prompt; the session goes on.
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(rl_err(e)),
            }
        }
        Ok(0)
    }

    /// Plain line reading (stdin is a pipe or a file): no prompt, no editing. Inputs are
    /// split by the same completeness rule as on a terminal; meta-commands are single lines.
    pub(crate) fn run_piped(&mut self, input: impl BufRead) -> Result<i32> {
        let syntax = Engine::new_raw();
        let mut buf = String::new();
        let mut last_failure = 0;
        for line in input.lines() {
            let line = line.map_err(|e| Error::io("reading", "<stdin>", e))?;
            if buf.is_empty() && line.trim_start().starts_with(':') {
                match self.handle(&line) {
                    Flow::Quit => return Ok(last_failure),
                    Flow::Failed(code) => last_failure = code,
                    Flow::Ok => {}
                }
            } else if !(buf.is_empty() && line.trim().is_empty()) {
                buf.push_str(&line);
                buf.push('\n');
                if !is_incomplete(&syntax, &buf) {
                    let text = std::mem::take(&mut buf);
                    if let Flow::Failed(code) = self.handle(text.trim_end()) {
                        last_failure = code;
                    }
                }
            }
            if self.flag.swap(false, Ordering::SeqCst) {
                eprintln!("interrupted: the piped session stops");
                return Ok(3);
            }
        }
        if !buf.trim().is_empty()
            && let Flow::Failed(code) = self.handle(buf.trim_end())
        {
            last_failure = code;
        }
        Ok(last_failure)
    }

    /// One line (or multi-line input): a meta-command or code.
    pub(crate) fn handle(&mut self, line: &str) -> Flow {
        // On a terminal, a Ctrl-C that arrived before this input was entered is not meant for it.
        if self.interactive {
            self.flag.store(false, Ordering::SeqCst);
        }
        let flow = if line.trim_start().starts_with(':') {
            self.meta(line.trim())
        } else {
            self.eval_code(line, None)
        };
        let _ = std::io::stdout().flush();
        // Ctrl-C concerned the input that just ended; the next one starts clean.
        if self.interactive {
            self.flag.store(false, Ordering::SeqCst);
        }
        flow
    }

    /// The run context of one input.
    fn new_ctx(&self, cancel: Cancel) -> Ctx {
        let mut c = Ctx::new(self.config.clone(), "repl", cancel);
        c.run_id = self.run_id.clone();
        c.effect_seq.set(self.effect_seq);
        c.dry_run = self.dry_run;
        c.yes = self.yes;
        c.confirm_effects = true;
        c.echo_output = true;
        c
    }

    /// An engine for one input: fresh deadline, the session's kept imports as static modules.
    fn input_engine(&self, cancel: Cancel) -> Engine {
        let mut engine = engine::build(&self.limits, cancel, self.stdlib.clone());
        for (alias, m) in &self.modules {
            engine.register_static_module(alias.as_str(), m.clone());
        }
        engine
    }

    /// Evaluate one code input; `file` is set for `:load FILE` (its path names errors and
    /// anchors relative imports).
    pub(crate) fn eval_code(&mut self, text: &str, file: Option<&Path>) -> Flow {
        let idx = self.texts.len();
        self.texts.push(text.to_string());
        let source = file
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<repl>".to_string());
        let timeout = Duration::from_secs(self.config.policy.timeout_s);
        let cancel = Cancel::new(self.flag.clone(), Some(Instant::now() + timeout));
        let engine = self.input_engine(cancel.clone());
        let ctx = Rc::new(self.new_ctx(cancel));
        let code = engine::strip_shebang(text);

        let mut ast = match engine.compile_with_scope(&self.scope, &code) {
            Ok(a) => a,
            Err(e) => {
                let f = runner::parse_error(&e, &source, &code);
                self.show_error(&f.message, Some((idx, e.position())), &source, idx);
                return Flow::Failed(5);
            }
        };
        ast.set_source(source.clone());
        let merged = self.lib.merge(&ast);
        let scope_len = self.scope.len();
        let scope = &mut self.scope;
        let result = engine::with_context(ctx.clone(), || {
            engine.eval_ast_with_scope::<Dynamic>(scope, &merged)
        });
        self.effect_seq = ctx.effect_seq.get();
        self.show_report(&ctx);
        match result {
            Ok(value) => {
                let input_fns: Vec<String> =
                    ast.iter_functions().map(|f| f.name.to_string()).collect();
                for name in input_fns {
                    self.fn_origin.insert(name, idx);
                }
                self.keep_imports(&engine, &code, file);
                self.lib = merged;
                self.lib.clear_statements();
                let rendered = render::render(&value);
                let typed = code.trim_end().to_string();
                self.saved.push(match file {
                    Some(_) => strip_header(&code),
                    // a bare expression shows its value here but would do nothing in a runbook
                    None if rendered.is_some() => {
                        as_print(&engine, &self.scope, &typed).unwrap_or(typed)
                    }
                    None => typed,
                });
                self.refresh_names();
                if let Some(out) = rendered {
                    println!("{out}");
                }
                Flow::Ok
            }
            Err(err) => {
                self.scope.rewind(scope_len);
                let current: HashSet<String> =
                    ast.iter_functions().map(|f| f.name.to_string()).collect();
                let f = runner::eval_error(&err, &source);
                let site = self.error_site(&err, idx, &current);
                let message = match f.kind.as_str() {
                    "interrupted" => {
                        "interrupted (Ctrl-C): the input stopped; the session and its variables are kept".to_string()
                    }
                    "denied" if !self.interactive && f.message.contains("operator declined") => format!(
                        "{}\n(no terminal to confirm effects on: use :yes on to run them, or :dry on to plan them)",
                        f.message
                    ),
                    _ => f.message.clone(),
                };
                self.show_error(&message, site, &source, idx);
                Flow::Failed(exit_code_for_kind(&f.kind))
            }
        }
    }

    /// Keep the modules `code` imported (`import "x" as y;`) for later inputs.
    fn keep_imports(&mut self, engine: &Engine, code: &str, file: Option<&Path>) {
        let (_, _, imports) = crate::runbook::statics::scan(code);
        let source = file.map(|p| p.display().to_string());
        for imp in imports {
            if imp.alias.is_empty() || crate::modules::MODULE_NAMES.contains(&imp.alias.as_str()) {
                continue;
            }
            match engine.module_resolver().resolve(
                engine,
                source.as_deref(),
                &imp.path,
                Position::NONE,
            ) {
                Ok(m) => {
                    self.modules.insert(imp.alias.clone(), m);
                }
                Err(e) => eprintln!(
                    "note: module {:?} is not kept for later inputs: {e}",
                    imp.path
                ),
            }
        }
    }

    /// Update the names completion offers.
    fn refresh_names(&self) {
        let mut names = self.names.borrow_mut();
        names.variables = self
            .scope
            .iter_raw()
            .map(|(n, _, _)| n.to_string())
            .collect();
        names.functions.clear();
        for f in self.lib.iter_functions() {
            if f.name.starts_with("anon$") {
                continue;
            }
            names
                .functions
                .entry(f.name.to_string())
                .or_default()
                .push(format!("{}({})", f.name, f.params.join(", ")));
        }
        names.modules = self
            .modules
            .iter()
            .map(|(alias, m)| {
                (
                    alias.clone(),
                    m.gen_fn_signatures_with_mapper(std::borrow::Cow::Borrowed)
                        .collect(),
                )
            })
            .collect();
    }

    /// Checks and effects the input recorded.
    fn show_report(&self, ctx: &Ctx) {
        let report = ctx.report.borrow();
        for c in &report.checks {
            let mark = match c.status {
                crate::report::CheckStatus::Ok => self.paint("32", "✓"),
                crate::report::CheckStatus::Failed => self.paint("31", "✗"),
                crate::report::CheckStatus::Unknown => self.paint("33", "?"),
            };
            let detail = if c.detail.is_empty() {
                String::new()
            } else {
                format!("  {}", c.detail)
            };
            println!("{mark} check {}{detail}", c.name);
        }
        for e in &report.effects {
            let word = match e.outcome.as_str() {
                "done" => self.paint("32", "done"),
                "planned" => self.paint("36", "planned"),
                other => self.paint("31", other),
            };
            let detail = if e.detail.is_empty() {
                String::new()
            } else {
                format!("  ({})", e.detail)
            };
            println!("⚡ {word} {} {}{detail}", e.action, e.target);
        }
    }

    /// Where an evaluation error happened: (input number, position in that input's text).
    /// Positions inside a script function refer to the input that defined it.
    fn error_site(
        &self,
        err: &EvalAltResult,
        idx: usize,
        current_fns: &HashSet<String>,
    ) -> Option<(usize, Position)> {
        let mut at = Some(idx);
        let mut call: Option<(usize, Position)> = None;
        let mut e = err;
        loop {
            match e {
                EvalAltResult::ErrorInFunctionCall(name, _, inner, pos) => {
                    if let Some(i) = at
                        && !pos.is_none()
                    {
                        call = Some((i, *pos));
                    }
                    at = if current_fns.contains(name) {
                        Some(idx)
                    } else {
                        self.fn_origin.get(name).copied()
                    };
                    e = inner;
                }
                EvalAltResult::ErrorInModule(_, _, pos) => {
                    // Inside a module file: point at the import.
                    return at.filter(|_| !pos.is_none()).map(|i| (i, *pos)).or(call);
                }
                _ => break,
            }
        }
        match (at, e.position()) {
            (Some(i), p) if !p.is_none() => Some((i, p)),
            _ => call,
        }
    }

    /// Print an error with the offending line and a caret under the position.
    fn show_error(&self, message: &str, site: Option<(usize, Position)>, source: &str, idx: usize) {
        eprint!("{}", self.error_text(message, site, source, idx));
    }

    /// The error message, then the input line at `site` with a caret under the column.
    fn error_text(
        &self,
        message: &str,
        site: Option<(usize, Position)>,
        source: &str,
        idx: usize,
    ) -> String {
        let mut out = format!("{} {message}\n", self.paint("31", "error:"));
        let Some((i, pos)) = site else { return out };
        let (Some(line), col) = (pos.line(), pos.position()) else {
            return out;
        };
        let Some(text) = self.texts.get(i) else {
            return out;
        };
        let Some(src_line) = line.checked_sub(1).and_then(|n| {
            engine::strip_shebang(text)
                .lines()
                .nth(n)
                .map(str::to_string)
        }) else {
            return out;
        };
        if i != idx {
            out.push_str(&format!("  (in a function defined by input #{})\n", i + 1));
        } else if source != "<repl>" {
            out.push_str(&format!("  --> {source}:{line}:{}\n", col.unwrap_or(1)));
        }
        let num = line.to_string();
        let pad = " ".repeat(num.len());
        out.push_str(&format!(" {num} | {src_line}\n"));
        if let Some(col) = col {
            // Keep tabs so the caret lines up under tab-indented code.
            let lead: String = src_line
                .chars()
                .take(col.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            out.push_str(&format!(" {pad} | {lead}{}\n", self.paint("31", "^")));
        }
        out
    }
}

/// `print(EXPR);` when `code` is one bare expression (what `:save` writes instead of a value
/// that would be computed and dropped), else `None`. A plain call (`check(…)`,
/// `service::restart(…)`) is kept as it is: as a statement it does what it says.
fn as_print(engine: &Engine, scope: &Scope, code: &str) -> Option<String> {
    let expr = code.trim().trim_end_matches(';').trim_end();
    if expr.is_empty() || expr.starts_with("//") || is_plain_call(expr) {
        return None;
    }
    let wrapped = format!("print({expr});");
    engine
        .compile_with_scope(scope, &wrapped)
        .ok()
        .map(|_| wrapped)
}

/// Whether `expr` is `name(…)` or `ns::name(…)` as a whole (the first `(` closes at the end).
fn is_plain_call(expr: &str) -> bool {
    let Some(open) = expr.find('(') else {
        return false;
    };
    let head = expr[..open].trim_end();
    if head.is_empty()
        || !head
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == ':')
    {
        return false;
    }
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in expr.char_indices().skip_while(|(i, _)| *i < open) {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '`' | '\'' => quote = Some(c),
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1 == expr.len();
                }
            }
            _ => {}
        }
    }
    false
}

/// A loaded file's text without its `//!` header (the saved draft gets its own header).
fn strip_header(text: &str) -> String {
    let mut lines = text.lines().peekable();
    while lines
        .peek()
        .is_some_and(|l| l.trim_start().starts_with("//!") || l.trim().is_empty())
    {
        lines.next();
    }
    lines.collect::<Vec<_>>().join("\n").trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(dir: &Path) -> Session {
        let toml = format!(
            "[policy]\nread = [\"{0}\"]\nwrite = [\"{0}\"]\n",
            dir.display()
        );
        let mut cfg = Config::from_toml(&toml, None).unwrap();
        cfg.state_dir = dir.join("state");
        cfg.audit.path = Some(dir.join("state/audit.jsonl"));
        Session::new(
            Arc::new(cfg),
            SearchPath {
                dirs: vec![dir.join("runbooks")],
            },
            Arc::new(AtomicBool::new(false)),
            false,
        )
    }

    /// Run `f` on a big-stack thread (debug builds recurse deeply in Rhai).
    fn big<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        engine::on_script_thread(f).unwrap()
    }

    #[test]
    fn variables_functions_and_imports_persist() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        std::fs::create_dir_all(d.join("stdlib")).unwrap();
        std::fs::write(d.join("stdlib/util.rhai"), "fn double(x) { x * 2 }\n").unwrap();
        big(move || {
            let mut s = session(&d);
            assert_eq!(s.handle("let x = 20"), Flow::Ok);
            assert_eq!(s.handle("fn add(a, b) {\n  a + b\n}"), Flow::Ok);
            assert_eq!(s.handle("import \"util\" as util;"), Flow::Ok);
            assert_eq!(s.handle("let y = util::double(add(x, 1))"), Flow::Ok);
            let y = s.scope.get_value::<i64>("y");
            assert_eq!(y, Some(42));
            // A failing input leaves no new variable behind and is not saved.
            assert_eq!(s.handle("let z = 1; let w = nope + 1;"), Flow::Failed(5));
            assert_eq!(s.handle("let z2 = 1; throw \"x\";"), Flow::Failed(5));
            assert!(s.scope.get_value::<i64>("z2").is_none());
            assert_eq!(s.saved.len(), 4);
            let names = s.names.borrow();
            assert!(names.variables.contains(&"y".to_string()));
            assert!(names.functions.contains_key("add"));
            assert_eq!(names.modules.get("util").map(|v| v.len()), Some(1));
        });
    }

    #[test]
    fn error_sites_point_into_the_right_input() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        big(move || {
            let mut s = session(&d);
            assert_eq!(s.handle("fn f(x) {\n  x + undefined_thing()\n}"), Flow::Ok);
            let engine = s.input_engine(Cancel::never());
            let ast = engine.compile("let a = 1;\nf(a)").unwrap();
            let merged = s.lib.merge(&ast);
            let err = engine
                .eval_ast_with_scope::<Dynamic>(&mut Scope::new(), &merged)
                .unwrap_err();
            let (i, pos) = s.error_site(&err, 1, &HashSet::new()).expect("site");
            assert_eq!(i, 0, "inside f, defined by input 0");
            assert_eq!((pos.line(), pos.position()), (Some(2), Some(7)));
        });
    }

    #[test]
    fn error_text_puts_a_caret_under_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        big(move || {
            let mut s = session(&d);
            s.texts.push("let a = 1;\n\tlet b = a +  zzz;".into());
            let t = s.error_text(
                "Undefined variable: zzz",
                Some((0, Position::new(2, 15))),
                "<repl>",
                0,
            );
            assert_eq!(
                t,
                "error: Undefined variable: zzz\n 2 | \tlet b = a +  zzz;\n   | \t             ^\n"
            );
            let t = s.error_text("boom", Some((0, Position::new(1, 5))), "lib.rhai", 0);
            assert!(
                t.contains("  --> lib.rhai:1:5\n 1 | let a = 1;\n   |     ^\n"),
                "{t}"
            );
            assert_eq!(
                s.error_text("no position", None, "<repl>", 0),
                "error: no position\n"
            );
        });
    }

    #[test]
    fn save_turns_bare_expressions_into_prints_and_keeps_calls() {
        let e = Engine::new_raw();
        let scope = Scope::new();
        let as_print = |c: &str| as_print(&e, &scope, c);
        assert_eq!(as_print("1 + 2").as_deref(), Some("print(1 + 2);"));
        assert_eq!(as_print("m.total;").as_deref(), Some("print(m.total);"));
        assert_eq!(
            as_print("service::status(\"web\").state").as_deref(),
            Some("print(service::status(\"web\").state);")
        );
        for kept in [
            "check(\"a\", x == 1)",
            "service::restart(\"web\")",
            "let x = 1;",
            "fn f() { 1 }",
            "x = 1; y",
        ] {
            assert_eq!(as_print(kept), None, "{kept}");
        }
    }

    #[test]
    fn strip_header_drops_doc_lines() {
        assert_eq!(
            strip_header("//! Title\n//!\n//! @param x: int = 1\n\nlet a = x;\n"),
            "let a = x;"
        );
    }
}
