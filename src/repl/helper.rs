//! The rustyline helper of the REPL: completion, signature hints, the compile-based
//! "is this input complete?" validator and a light highlighter (matching brackets, dim hints).
//!
//! The pure parts ([`is_incomplete`], [`Catalog::complete`], [`Catalog::hint`]) take the line
//! and cursor position and return plain data, so they are unit-tested without a terminal.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use rhai::{Engine, LexError, ParseErrorType};
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter, MatchingBracketHighlighter};
use rustyline::hint::{Hint, Hinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{
    Cmd, ConditionalEventHandler, Context, Event, EventContext, Helper, Movement, RepeatCount,
};

use crate::runbook::SearchPath;

/// The meta-commands, for completion and `:help`.
pub const META: &[(&str, &str, &str)] = &[
    (
        ":help",
        "[NAME]",
        "this overview, or the doc of a function or module (`:help logs::search`, `:help logs`)",
    ),
    (":runbooks", "", "the runbooks found, with their summaries"),
    (
        ":run",
        "NAME [key=value …]",
        "run a runbook inside the session and show its report",
    ),
    (
        ":dry",
        "on|off",
        "dry-run mode: effects are planned and audited, not executed (shown in the prompt)",
    ),
    (
        ":yes",
        "on|off",
        "run effects without asking first (shown in the prompt)",
    ),
    (
        ":load",
        "FILE",
        "evaluate a script file in the session (its functions and variables stay)",
    ),
    (
        ":save",
        "FILE",
        "write the session's successful inputs as a draft runbook (`runbook check` accepts it)",
    ),
    (":audit", "[N]", "the last N audit records (default 10)"),
    (":quit", "", "leave the session (Ctrl-D too)"),
];

const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "if", "else", "while", "loop", "for", "in", "do", "until", "break",
    "continue", "return", "throw", "try", "catch", "import", "as", "true", "false", "switch",
    "print", "debug", "type_of",
];

/// Whether `input` is an unfinished piece of Rhai: an open block, bracket, string or block
/// comment. Decided by compiling it with `syntax` (a plain engine, no strict variables):
/// the input is incomplete when the parser ran out of input (`UnexpectedEOF`, an unterminated
/// string) or reports what it was missing at the very end of the text. A block comment left
/// open compiles fine, so it is detected by checking that a closing `*/` is accepted after it.
pub fn is_incomplete(syntax: &Engine, input: &str) -> bool {
    if input.trim().is_empty() {
        return false;
    }
    match syntax.compile(input) {
        Ok(_) => syntax.compile(format!("{input}\n*/")).is_ok(),
        Err(e) => match e.err_type() {
            ParseErrorType::UnexpectedEOF
            | ParseErrorType::BadInput(LexError::UnterminatedString) => true,
            _ => {
                let pos = e.position();
                match (pos.line(), pos.position()) {
                    (Some(line), col) if at_end(input, line, col.unwrap_or(1)) => true,
                    // A syntax error in the middle of a block that is still open: the block is
                    // one input (a paste runs whole or not at all), so keep reading until its
                    // brackets close; then the error is reported and nothing of it runs.
                    _ => open_brackets(input) > 0,
                }
            }
        },
    }
}

/// How many `{`, `(` and `[` of `input` are still open (closers beyond the openers count
/// negative), ignoring those inside strings, characters and comments.
fn open_brackets(input: &str) -> i64 {
    let chars: Vec<char> = input.chars().collect();
    let mut depth = 0i64;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                let mut level = 1;
                i += 2;
                while i < chars.len() && level > 0 {
                    match (chars[i], chars.get(i + 1).copied()) {
                        ('/', Some('*')) => {
                            level += 1;
                            i += 1;
                        }
                        ('*', Some('/')) => {
                            level -= 1;
                            i += 1;
                        }
                        _ => {}
                    }
                    i += 1;
                }
                continue;
            }
            '"' | '`' | '\'' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    depth
}

/// Whether (line, col) (1-based, in chars) is past the last non-blank character of `input`.
fn at_end(input: &str, line: usize, col: usize) -> bool {
    let trimmed = input.trim_end();
    let last_line = trimmed.lines().count().max(1);
    let last_len = trimmed
        .lines()
        .last()
        .map(|l| l.chars().count())
        .unwrap_or(0);
    line > last_line || (line == last_line && col > last_len)
}

/// One function known to completion and hints.
#[derive(Debug, Clone)]
pub struct FnInfo {
    /// Module name, `""` for a global function.
    pub module: String,
    pub name: String,
    /// `logs::search(path: string, pattern: string, opts: map) -> map`.
    pub signature: String,
    /// The doc comment as text.
    pub doc: String,
}

impl FnInfo {
    /// `module::name` or `name`.
    pub fn full_name(&self) -> String {
        if self.module.is_empty() {
            self.name.clone()
        } else {
            format!("{}::{}", self.module, self.name)
        }
    }
}

/// The host functions, from the engine's metadata (the same source as `runbook docs`).
pub fn host_functions() -> Vec<FnInfo> {
    let mut out = Vec::new();
    for (module, fns) in crate::catalog::function_docs() {
        for f in &fns {
            let Some(name) = f["name"].as_str() else {
                continue;
            };
            out.push(FnInfo {
                module: module.clone(),
                name: name.to_string(),
                signature: crate::catalog::signature(&module, f),
                doc: crate::catalog::doc_text(f),
            });
        }
    }
    out.sort_by(|a, b| (&a.module, &a.name).cmp(&(&b.module, &b.name)));
    out
}

/// What the session defined so far, updated after every input.
#[derive(Debug, Default, Clone)]
pub struct SessionNames {
    /// Variables in scope.
    pub variables: Vec<String>,
    /// Script functions: name → signatures (`f(a, b)`).
    pub functions: BTreeMap<String, Vec<String>>,
    /// Imported modules: alias → function signatures (`name(a, b)`).
    pub modules: BTreeMap<String, Vec<String>>,
}

/// Everything completion and hints draw from.
pub struct Catalog {
    pub host: Vec<FnInfo>,
    pub services: Vec<String>,
    pub search: SearchPath,
    pub names: Rc<RefCell<SessionNames>>,
}

/// Characters of a Rhai identifier path (`logs::search`).
fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Byte offset where the identifier path (`logs::se`) ending `text` starts.
fn ident_start(text: &str) -> usize {
    text.char_indices()
        .rev()
        .find(|(_, c)| !is_ident(*c))
        .map(|(i, c)| i + c.len_utf8())
        .unwrap_or(0)
}

/// State of the text before the cursor: inside a string literal (with the byte offset just
/// after its opening quote) or in code.
fn string_start(text: &str) -> Option<usize> {
    let mut open: Option<(char, usize)> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match open {
            Some((q, _)) => {
                if c == '\\' && q == '"' {
                    chars.next();
                } else if c == q {
                    open = None;
                }
            }
            None => match c {
                '"' | '`' => open = Some((c, i + 1)),
                '\'' => {
                    // A character literal: skip it.
                    if let Some(&(_, '\\')) = chars.peek() {
                        chars.next();
                    }
                    chars.next();
                    if let Some(&(_, '\'')) = chars.peek() {
                        chars.next();
                    }
                }
                '/' if matches!(chars.peek(), Some(&(_, '/'))) => {
                    // Line comment: skip to the end of the line.
                    for (_, c) in chars.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                _ => {}
            },
        }
    }
    open.map(|(_, start)| start)
}

/// Split a meta-command line into words (quotes group, as in a shell).
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                any = true;
            }
            None if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            None => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        words.push(cur);
    }
    words
}

fn pairs(prefix: &str, items: impl IntoIterator<Item = String>) -> Vec<Pair> {
    let mut v: Vec<String> = items
        .into_iter()
        .filter(|s| s.starts_with(prefix))
        .collect();
    v.sort();
    v.dedup();
    v.into_iter()
        .map(|s| Pair {
            display: s.clone(),
            replacement: s,
        })
        .collect()
}

/// The hint shown after the cursor: what it displays, and what Right-arrow inserts (if anything).
#[derive(Debug, Clone, PartialEq)]
pub struct SigHint {
    pub display: String,
    pub insert: Option<String>,
}

impl Hint for SigHint {
    fn display(&self) -> &str {
        &self.display
    }
    fn completion(&self) -> Option<&str> {
        self.insert.as_deref()
    }
}

impl Catalog {
    /// Module names: host modules then imported aliases.
    fn module_names(&self) -> Vec<String> {
        let mut v: Vec<String> = crate::modules::MODULE_NAMES
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(self.names.borrow().modules.keys().cloned());
        v
    }

    /// Function names of `module` (host or imported).
    fn functions_of(&self, module: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .host
            .iter()
            .filter(|f| f.module == module)
            .map(|f| f.name.clone())
            .collect();
        if let Some(sigs) = self.names.borrow().modules.get(module) {
            v.extend(
                sigs.iter()
                    .map(|s| s.split('(').next().unwrap_or(s).to_string()),
            );
        }
        v
    }

    /// Signatures of the function called `name` (`module::fn`, a global, or a session function).
    fn signatures(&self, name: &str) -> Vec<String> {
        let (module, func) = match name.rsplit_once("::") {
            Some((m, f)) => (m, f),
            None => ("", name),
        };
        let mut v: Vec<String> = self
            .host
            .iter()
            .filter(|f| f.module == module && f.name == func)
            .map(|f| f.signature.clone())
            .collect();
        let names = self.names.borrow();
        if module.is_empty() {
            if let Some(sigs) = names.functions.get(func) {
                v.extend(sigs.iter().cloned());
            }
        } else if let Some(sigs) = names.modules.get(module) {
            v.extend(
                sigs.iter()
                    .filter(|s| s.split('(').next() == Some(func))
                    .map(|s| format!("{module}::{s}")),
            );
        }
        v
    }

    /// Completion candidates for `line` with the cursor at byte `pos`: (start of the replaced
    /// text, candidates).
    pub fn complete(&self, line: &str, pos: usize) -> (usize, Vec<Pair>) {
        let before = &line[..pos];
        if before.trim_start().starts_with(':') {
            return self.complete_meta(before);
        }
        if let Some(start) = string_start(before) {
            let typed = &before[start..];
            if typed.contains(['\n', '/']) {
                return (pos, Vec::new());
            }
            // A chosen name closes the string, unless the closing quote is already there.
            let quote = &before[start - 1..start];
            let close = if line[pos..].starts_with(quote) {
                ""
            } else {
                quote
            };
            let cands = pairs(typed, self.services.iter().cloned())
                .into_iter()
                .map(|p| Pair {
                    replacement: format!("{}{close}", p.display),
                    display: p.display,
                })
                .collect();
            return (start, cands);
        }
        let start = ident_start(before);
        let word = &before[start..];
        if start > 0 && before[..start].ends_with('.') {
            return (pos, Vec::new());
        }
        if let Some((module, prefix)) = word.rsplit_once("::") {
            let cands = self
                .functions_of(module)
                .into_iter()
                .filter(|f| f.starts_with(prefix))
                .map(|f| format!("{module}::{f}"));
            return (start, pairs(word, cands));
        }
        if word.is_empty() {
            return (pos, Vec::new());
        }
        let names = self.names.borrow();
        let mut all: Vec<String> = self
            .module_names()
            .into_iter()
            .map(|m| format!("{m}::"))
            .collect();
        all.extend(
            self.host
                .iter()
                .filter(|f| f.module.is_empty())
                .map(|f| f.name.clone()),
        );
        all.extend(names.variables.iter().cloned());
        all.extend(names.functions.keys().cloned());
        all.extend(KEYWORDS.iter().map(|k| k.to_string()));
        (start, pairs(word, all))
    }

    fn complete_meta(&self, before: &str) -> (usize, Vec<Pair>) {
        let lead = before.len() - before.trim_start().len();
        let text = &before[lead..];
        let word_start = before
            .rfind(char::is_whitespace)
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &before[word_start..];
        let words: Vec<&str> = text.split_whitespace().collect();
        let n_done = if text.ends_with(char::is_whitespace) {
            words.len()
        } else {
            words.len().saturating_sub(1)
        };
        if n_done == 0 {
            return (
                word_start,
                pairs(word, META.iter().map(|(m, _, _)| m.to_string())),
            );
        }
        match words[0] {
            ":run" if n_done == 1 => (
                word_start,
                pairs(word, self.search.list().into_iter().map(|r| r.name)),
            ),
            ":run" => {
                let params = self
                    .search
                    .find(words[1])
                    .ok()
                    .and_then(|rb| rb.header().ok())
                    .map(|h| {
                        h.params
                            .into_iter()
                            .map(|p| format!("{}=", p.name))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                (word_start, pairs(word, params))
            }
            ":help" if n_done == 1 => {
                let mut all: Vec<String> = self.host.iter().map(FnInfo::full_name).collect();
                all.extend(crate::modules::MODULE_NAMES.iter().map(|s| s.to_string()));
                all.extend(META.iter().map(|(m, _, _)| m.to_string()));
                (word_start, pairs(word, all))
            }
            ":dry" | ":yes" if n_done == 1 => (
                word_start,
                pairs(word, ["on".to_string(), "off".to_string()]),
            ),
            _ => (before.len(), Vec::new()),
        }
    }

    /// The hint for `line` with the cursor at `pos` (only at the end of the line): the rest of
    /// a uniquely typed function name with its signature, or the signature of the call the
    /// cursor is in.
    pub fn hint(&self, line: &str, pos: usize) -> Option<SigHint> {
        if pos < line.len() || line.trim_start().starts_with(':') || string_start(line).is_some() {
            return None;
        }
        // A partly typed `module::fun` with one match: complete it, show its parameters.
        let start = ident_start(line);
        let word = &line[start..];
        if let Some((module, prefix)) = word.rsplit_once("::")
            && !prefix.is_empty()
        {
            let mut names: Vec<String> = self
                .functions_of(module)
                .into_iter()
                .filter(|f| f.starts_with(prefix))
                .collect();
            names.sort();
            names.dedup();
            if let [only] = names.as_slice() {
                let rest = &only[prefix.len()..];
                let sigs = self.signatures(&format!("{module}::{only}"));
                let params: Vec<String> = sigs
                    .iter()
                    .map(|s| s[s.find('(').unwrap_or(0)..].to_string())
                    .collect();
                return Some(SigHint {
                    display: format!("{rest}{}", params.join("  |  ")),
                    insert: if rest.is_empty() {
                        None
                    } else {
                        Some(rest.to_string())
                    },
                });
            }
        }
        // Inside an unclosed call: show the called function's signature.
        let callee = open_call(line)?;
        let sigs = self.signatures(&callee);
        if sigs.is_empty() {
            return None;
        }
        Some(SigHint {
            display: format!("   ‹ {} ›", sigs.join("  |  ")),
            insert: None,
        })
    }
}

/// The name of the innermost call left open at the end of `text` (`logs::search(` → `logs::search`).
fn open_call(text: &str) -> Option<String> {
    let mut stack: Vec<Option<String>> = Vec::new();
    let mut in_str: Option<char> = None;
    let mut prev_escape = false;
    for (i, c) in text.char_indices() {
        if let Some(q) = in_str {
            if prev_escape {
                prev_escape = false;
            } else if c == '\\' && q == '"' {
                prev_escape = true;
            } else if c == q {
                in_str = None;
            }
            continue;
        }
        match c {
            '"' | '`' => in_str = Some(c),
            '(' => {
                let head = text[..i].trim_end();
                let s = ident_start(head);
                let name = &head[s..];
                stack.push(if name.is_empty() || name.ends_with(':') {
                    None
                } else {
                    Some(name.to_string())
                });
            }
            '[' | '{' => stack.push(None),
            ')' | ']' | '}' => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack
        .into_iter()
        .rev()
        .find_map(|x| x)
        .filter(|_| in_str.is_none())
}

/// Ctrl-C while typing clears what was typed (all lines of an unfinished input) and stays on
/// the prompt; on an empty line it is rustyline's interrupt (a fresh prompt). Clearing by a
/// redraw also erases a hint shown after the cursor, which an interrupt would leave on screen.
pub struct ClearOnCtrlC;

impl ConditionalEventHandler for ClearOnCtrlC {
    fn handle(
        &self,
        _evt: &Event,
        _n: RepeatCount,
        _positive: bool,
        ctx: &EventContext,
    ) -> Option<Cmd> {
        if ctx.line().is_empty() {
            None
        } else {
            Some(Cmd::Kill(Movement::WholeBuffer))
        }
    }
}

/// The rustyline helper.
pub struct ReplHelper {
    pub catalog: Catalog,
    syntax: Engine,
    color: bool,
    files: FilenameCompleter,
    brackets: MatchingBracketHighlighter,
}

impl ReplHelper {
    pub fn new(catalog: Catalog, color: bool) -> Self {
        ReplHelper {
            catalog,
            syntax: Engine::new_raw(),
            color,
            files: FilenameCompleter::new(),
            brackets: MatchingBracketHighlighter::new(),
        }
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let t = line[..pos].trim_start();
        if (t.starts_with(":load ") || t.starts_with(":save ")) && !line.contains('\n') {
            return self.files.complete(line, pos, ctx);
        }
        Ok(self.catalog.complete(line, pos))
    }
}

impl Hinter for ReplHelper {
    type Hint = SigHint;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<SigHint> {
        self.catalog.hint(line, pos)
    }
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, pos: usize) -> Cow<'l, str> {
        if self.color {
            self.brackets.highlight(line, pos)
        } else {
            Cow::Borrowed(line)
        }
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }

    fn highlight_char(&self, line: &str, pos: usize, kind: CmdKind) -> bool {
        self.color && self.brackets.highlight_char(line, pos, kind)
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        if input.trim_start().starts_with(':') || !is_incomplete(&self.syntax, input) {
            Ok(ValidationResult::Valid(None))
        } else {
            Ok(ValidationResult::Incomplete)
        }
    }
}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let names = SessionNames {
            variables: vec!["total".into(), "tally".into()],
            functions: BTreeMap::from([("twice".to_string(), vec!["twice(x)".to_string()])]),
            modules: BTreeMap::from([(
                "util".to_string(),
                vec!["percent(a, b)".to_string(), "pad(s)".to_string()],
            )]),
        };
        Catalog {
            host: host_functions(),
            services: vec!["lowcode-platform".into(), "nginx".into()],
            search: SearchPath { dirs: vec![] },
            names: Rc::new(RefCell::new(names)),
        }
    }

    fn replacements(c: &Catalog, line: &str) -> (usize, Vec<String>) {
        let (start, v) = c.complete(line, line.len());
        (start, v.into_iter().map(|p| p.replacement).collect())
    }

    #[test]
    fn incomplete_inputs_keep_reading() {
        let e = Engine::new_raw();
        for src in [
            "fn f(x) {",
            "fn f(x) {\n  x + 1",
            "let x = [1, 2,",
            "let s = \"abc",
            "let s = `multi\nline",
            "foo(1,",
            "let m = #{a: 1",
            "if x > 1 {",
            "/* a comment",
            "/* outer /* inner */",
            "let x = 1 +",
            "print(\"a\"",
            "let m = #{a: 1\n",
            // a syntax error inside a block still open: the paste goes on until it closes
            "if x {\n  let a = ;\n",
            "if x {\n  let a = ;\n  service::restart(\"web\");\n",
            "fn f() {\n  let s = \"}\"; let = 1;\n",
        ] {
            assert!(is_incomplete(&e, src), "{src:?} should be incomplete");
        }
        for src in [
            "",
            "let x = 5",
            "fn f(x) { x + 1 }",
            "let y = [1,2]]",
            "let = 5;",
            "}",
            "x + 1 // trailing /* not a comment",
            "/* closed */ 1",
            "let s = \"a\"; s",
            "undefined_var + 1",
            "if x {\n  let a = ;\n  service::restart(\"web\");\n}",
        ] {
            assert!(!is_incomplete(&e, src), "{src:?} should be complete");
        }
    }

    #[test]
    fn completes_module_functions_and_names() {
        let c = catalog();
        assert_eq!(
            replacements(&c, "fs::wr"),
            (0, vec!["fs::write".to_string()])
        );
        assert_eq!(
            replacements(&c, "logs::se"),
            (0, vec!["logs::search".to_string()])
        );
        let (start, v) = replacements(&c, "let x = json::p");
        assert_eq!(start, 8);
        assert!(
            v.contains(&"json::parse".to_string()) && v.contains(&"json::pretty".to_string()),
            "{v:?}"
        );
        let (_, v) = replacements(&c, "met");
        assert_eq!(v, vec!["metrics::".to_string()]);
        let (_, v) = replacements(&c, "t");
        for want in ["total", "tally", "twice", "true", "throw", "tls::", "try"] {
            assert!(v.contains(&want.to_string()), "{want} missing in {v:?}");
        }
        assert_eq!(
            replacements(&c, "util::pe"),
            (0, vec!["util::percent".to_string()])
        );
        // A method call is not completed as a module name.
        assert!(replacements(&c, "x.le").1.is_empty());
    }

    #[test]
    fn completes_services_inside_strings() {
        let c = catalog();
        let line = "service::status(\"low";
        let (start, v) = replacements(&c, line);
        assert_eq!(start, line.len() - 3);
        assert_eq!(v, vec!["lowcode-platform\"".to_string()]);
        assert_eq!(
            replacements(&c, "let s = \"done\"; service::health(\"n").1,
            vec!["nginx\"".to_string()]
        );
        assert_eq!(
            replacements(&c, "service::health(`n").1,
            vec!["nginx`".to_string()]
        );
        // The closing quote is already there (cursor inside `""`): not doubled.
        let line = "service::status(\"low\")";
        assert_eq!(
            c.complete(line, line.len() - 2).1[0].replacement,
            "lowcode-platform"
        );
        // After the string is closed we are back in code.
        assert!(
            replacements(&c, "\"nginx\" + lo")
                .1
                .iter()
                .all(|s| !s.starts_with("lowcode"))
        );
    }

    #[test]
    fn completes_meta_commands() {
        let c = catalog();
        assert_eq!(replacements(&c, ":he"), (0, vec![":help".to_string()]));
        assert_eq!(
            replacements(&c, ":dry o").1,
            vec!["off".to_string(), "on".to_string()]
        );
        let (start, v) = replacements(&c, ":help fs::wr");
        assert_eq!(start, 6);
        assert_eq!(v, vec!["fs::write".to_string()]);
        // Runbook names come from the search path (the built-in ones at least).
        let (start, v) = replacements(&c, ":run ");
        assert_eq!(start, 5);
        assert_eq!(v.len(), crate::runbook::embedded::RUNBOOKS.len(), "{v:?}");
    }

    #[test]
    fn hints_show_signatures() {
        let c = catalog();
        let h = c.hint("fs::wri", 7).expect("hint");
        assert_eq!(h.insert.as_deref(), Some("te"));
        assert!(
            h.display.starts_with("te(path: string, text: string)"),
            "{h:?}"
        );
        let h = c.hint("fs::write(\"/tmp/x\", ", 20).expect("hint");
        assert!(
            h.display.contains("fs::write(path: string, text: string)"),
            "{h:?}"
        );
        assert_eq!(h.insert, None);
        let h = c.hint("let y = twice(", 14).expect("hint");
        assert!(h.display.contains("twice(x)"), "{h:?}");
        // A closed call, an unknown function or a cursor inside the line: no hint.
        assert_eq!(c.hint("fs::write(\"a\", \"b\")", 19), None);
        assert_eq!(c.hint("nope(", 5), None);
        assert_eq!(c.hint("fs::wri", 3), None);
        // Multi-byte text before the word is handled on char boundaries.
        assert_eq!(
            c.hint("«fs::wri", "«fs::wri".len()).and_then(|h| h.insert),
            Some("te".to_string())
        );
        assert_eq!(
            replacements(&c, "é(fs::wr").1,
            vec!["fs::write".to_string()]
        );
        assert!(c.hint("«fs::write(«", "«fs::write(«".len()).is_some());
    }

    #[test]
    fn splits_meta_words_with_quotes() {
        assert_eq!(
            split_words(":run x  a=1 b=\"two words\" ''"),
            vec![":run", "x", "a=1", "b=two words", ""]
        );
    }
}
