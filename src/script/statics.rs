//! Static checks on a script's text, used by `runbook check` (calls to functions nobody
//! defines) and `runbook show` (effects a runbook may cause). A small tokenizer skips
//! comments and string literals, so a word inside a string is never taken for a call.

use std::collections::{BTreeSet, HashMap, HashSet};

/// A call site: `ns::name(` (ns empty for a plain call), `.name(` for a method call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub namespace: String,
    pub name: String,
    pub method: bool,
    pub line: usize,
    pub col: usize,
}

/// `import "PATH" as ALIAS;` statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub path: String,
    pub alias: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Sym(&'static str),
}

fn tokenize(src: &str) -> Vec<(Tok, usize, usize)> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let adv = |i: &mut usize, line: &mut usize, col: &mut usize, chars: &[char]| {
        if chars[*i] == '\n' {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
        *i += 1;
    };
    while i < chars.len() {
        let c = chars[i];
        let (l0, c0) = (line, col);
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                adv(&mut i, &mut line, &mut col, &chars);
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    adv(&mut i, &mut line, &mut col, &chars);
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    adv(&mut i, &mut line, &mut col, &chars);
                    if depth == 0 {
                        adv(&mut i, &mut line, &mut col, &chars);
                        break;
                    }
                }
                adv(&mut i, &mut line, &mut col, &chars);
            }
        } else if c == '"' || c == '`' || c == '\'' {
            let quote = c;
            let mut s = String::new();
            adv(&mut i, &mut line, &mut col, &chars);
            while i < chars.len() && chars[i] != quote {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    adv(&mut i, &mut line, &mut col, &chars);
                }
                s.push(chars[i]);
                adv(&mut i, &mut line, &mut col, &chars);
            }
            if i < chars.len() {
                adv(&mut i, &mut line, &mut col, &chars);
            }
            out.push((Tok::Str(s), l0, c0));
        } else if c.is_alphabetic() || c == '_' {
            let mut s = String::new();
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                s.push(chars[i]);
                adv(&mut i, &mut line, &mut col, &chars);
            }
            out.push((Tok::Ident(s), l0, c0));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            adv(&mut i, &mut line, &mut col, &chars);
            adv(&mut i, &mut line, &mut col, &chars);
            out.push((Tok::Sym("::"), l0, c0));
        } else {
            let sym = match c {
                '(' => Some("("),
                '.' => Some("."),
                '|' => Some("|"),
                '!' => Some("!"),
                '=' => Some("="),
                '[' => Some("["),
                _ => None,
            };
            if let Some(s) = sym {
                out.push((Tok::Sym(s), l0, c0));
            } else if !c.is_whitespace() {
                out.push((Tok::Sym("other"), l0, c0));
            }
            adv(&mut i, &mut line, &mut col, &chars);
        }
    }
    out
}

/// Words that look like calls but are syntax or engine built-ins.
const BUILTIN_WORDS: &[&str] = &[
    "if",
    "while",
    "for",
    "switch",
    "return",
    "throw",
    "fn",
    "loop",
    "do",
    "until",
    "catch",
    "try",
    "in",
    "let",
    "const",
    "Fn",
    "call",
    "curry",
    "print",
    "debug",
    "type_of",
    "is_def_var",
    "is_def_fn",
    "is_shared",
    "eval",
    "this",
    "import",
    "export",
    "as",
    "private",
    "global",
    "else",
    "break",
    "continue",
    "sleep",
];

/// Keys of map literals passed straight to a host function that takes an options map, which
/// that function does not accept: `(line, col, message)` for each, the position being the key's.
/// `keys` maps `ns::name` to the accepted keys ([`crate::modules::option_keys`]). Only literals
/// are seen (`logs::search(f, p, #{sinse: "1h"})`); a map built in a variable is checked when
/// the call runs. `ast` must be compiled without optimisation: the optimiser folds a constant
/// map into a value without positions.
pub fn unknown_option_keys(
    ast: &rhai::AST,
    keys: &HashMap<&'static str, Vec<&'static str>>,
) -> Vec<(usize, usize, String)> {
    use rhai::{ASTNode, Expr, Stmt};
    let mut out = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        let call = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, _))) => call,
            Some(ASTNode::Stmt(Stmt::FnCall(call, _))) => call,
            _ => return true,
        };
        if call.namespace.is_empty() {
            return true;
        }
        let func = format!("{}::{}", call.namespace, call.name);
        let Some(allowed) = keys.get(func.as_str()) else {
            return true;
        };
        for arg in &call.args {
            let Expr::Map(map, _) = arg else { continue };
            for (key, _) in map.0.iter() {
                if !allowed.contains(&key.name.as_str()) {
                    out.push((
                        key.pos.line().unwrap_or(0),
                        key.pos.position().unwrap_or(0),
                        format!(
                            "{func}: unknown option {:?} (allowed: {})",
                            key.name.as_str(),
                            allowed.join(", ")
                        ),
                    ));
                }
            }
        }
        true
    });
    out.sort();
    out
}

/// Script-defined functions, calls and imports of `src`.
pub fn scan(src: &str) -> (HashSet<String>, Vec<Call>, Vec<Import>) {
    let toks = tokenize(src);
    let mut defs = HashSet::new();
    let mut calls = Vec::new();
    let mut imports = Vec::new();
    for i in 0..toks.len() {
        let (tok, line, col) = &toks[i];
        let Tok::Ident(word) = tok else { continue };
        let prev = if i > 0 { Some(&toks[i - 1].0) } else { None };
        let next = toks.get(i + 1).map(|t| &t.0);
        if word == "fn" {
            if let Some(Tok::Ident(n)) = next {
                defs.insert(n.clone());
            }
            continue;
        }
        if word == "import" {
            if let (Some(Tok::Str(p)), Some(Tok::Ident(a)), Some(Tok::Ident(alias))) = (
                next,
                toks.get(i + 2).map(|t| &t.0),
                toks.get(i + 3).map(|t| &t.0),
            ) {
                if a == "as" {
                    imports.push(Import {
                        path: p.clone(),
                        alias: alias.clone(),
                    });
                }
            }
            continue;
        }
        if matches!(prev, Some(Tok::Ident(p)) if p == "fn") {
            continue;
        }
        // ns::name( — handled at the name token
        if matches!(next, Some(Tok::Sym("::"))) {
            continue;
        }
        let is_call = matches!(next, Some(Tok::Sym("(")))
            || (matches!(next, Some(Tok::Sym("!")))
                && matches!(toks.get(i + 2).map(|t| &t.0), Some(Tok::Sym("("))));
        if !is_call {
            continue;
        }
        if matches!(prev, Some(Tok::Sym("::"))) {
            if let Some((Tok::Ident(ns), _, _)) = toks.get(i.wrapping_sub(2)) {
                calls.push(Call {
                    namespace: ns.clone(),
                    name: word.clone(),
                    method: false,
                    line: *line,
                    col: *col,
                });
            }
        } else if matches!(prev, Some(Tok::Sym("."))) {
            calls.push(Call {
                namespace: String::new(),
                name: word.clone(),
                method: true,
                line: *line,
                col: *col,
            });
        } else if !BUILTIN_WORDS.contains(&word.as_str()) {
            calls.push(Call {
                namespace: String::new(),
                name: word.clone(),
                method: false,
                line: *line,
                col: *col,
            });
        }
    }
    (defs, calls, imports)
}

/// Functions known to an engine: plain names, and per namespace.
#[derive(Debug, Default, Clone)]
pub struct Known {
    pub plain: HashSet<String>,
    pub namespaced: HashMap<String, HashSet<String>>,
}

impl Known {
    /// Everything registered on `engine`, standard packages included.
    pub fn from_engine(engine: &rhai::Engine) -> Self {
        let mut k = Known::default();
        for sig in engine.gen_fn_signatures(true) {
            let head = sig.split('(').next().unwrap_or("").trim();
            let head = head.rsplit(' ').next().unwrap_or(head);
            match head.rsplit_once("::") {
                Some((ns, name)) => {
                    k.namespaced
                        .entry(ns.to_string())
                        .or_default()
                        .insert(name.to_string());
                }
                None => {
                    k.plain.insert(head.to_string());
                }
            }
        }
        k
    }
}

/// Effects (`module::function` names from [`crate::modules::EFFECT_FUNCTIONS`]) that `src`
/// may cause, directly; `imported` gives the effects of each imported module by path.
pub fn effects_of(src: &str, imported: &dyn Fn(&str) -> BTreeSet<String>) -> BTreeSet<String> {
    let (_, calls, imports) = scan(src);
    let mut out = BTreeSet::new();
    for c in &calls {
        let full = format!("{}::{}", c.namespace, c.name);
        if crate::modules::EFFECT_FUNCTIONS.contains(&full.as_str()) {
            out.insert(full);
        }
    }
    for imp in &imports {
        if calls.iter().any(|c| c.namespace == imp.alias) {
            out.extend(imported(&imp.path));
        }
    }
    out
}

/// A map-key read `VAR.key` (not a method call) whose key no primitive bound to `VAR`
/// returns: `(line, col, message)`. `VAR` must be bound only by `let VAR = ns::f(…)` /
/// `VAR = ns::f(…)` with functions whose return keys `keys_of` knows (`None`: shape unknown,
/// no warning); a variable written any other way (`VAR.k = …`, `VAR[…]`, another value) is
/// left alone. The keys of all its bindings count.
pub fn unknown_key_reads(
    src: &str,
    keys_of: &dyn Fn(&str, &str) -> Option<BTreeSet<String>>,
) -> Vec<(usize, usize, String)> {
    let toks = tokenize(src);
    let tok = |i: usize| toks.get(i).map(|t| &t.0);
    let is = |i: usize, s: &str| matches!(tok(i), Some(Tok::Sym(x)) if *x == s);
    let ident = |i: usize| match tok(i) {
        Some(Tok::Ident(w)) => Some(w.as_str()),
        _ => None,
    };
    // var → Some((keys, functions)) while every binding is a known-shape call, else None
    type Shape = Option<(BTreeSet<String>, Vec<String>)>;
    let mut vars: HashMap<String, Shape> = HashMap::new();
    for i in 0..toks.len() {
        let Some(var) = ident(i) else { continue };
        // `VAR =` (not `==`), after `let`/`const` or at a statement start
        if !is(i + 1, "=")
            || is(i + 2, "=")
            || matches!(i.checked_sub(1).map(tok), Some(Some(Tok::Sym("."))))
        {
            continue;
        }
        let call = match (ident(i + 2), is(i + 3, "::"), ident(i + 4), is(i + 5, "(")) {
            (Some(ns), true, Some(name), true) => {
                keys_of(ns, name).map(|k| (k, format!("{ns}::{name}")))
            }
            _ => None,
        };
        let entry = vars
            .entry(var.to_string())
            .or_insert_with(|| Some((BTreeSet::new(), Vec::new())));
        match (entry.as_mut(), call) {
            (Some((keys, fns)), Some((k, f))) => {
                keys.extend(k);
                fns.push(f);
            }
            _ => *entry = None,
        }
    }
    // written through a key or an index: its shape is the script's own
    for i in 0..toks.len() {
        if let Some(var) = ident(i)
            && (is(i + 1, "[")
                || (is(i + 1, ".") && ident(i + 2).is_some() && is(i + 3, "=") && !is(i + 4, "=")))
        {
            vars.insert(var.to_string(), None);
        }
    }
    let mut out = Vec::new();
    for i in 0..toks.len() {
        let Some(var) = ident(i) else { continue };
        if is(i.wrapping_sub(1), ".") || is(i.wrapping_sub(1), "::") {
            continue;
        }
        let (Some(Some((keys, fns))), true, Some(key)) =
            (vars.get(var), is(i + 1, "."), ident(i + 2))
        else {
            continue;
        };
        if is(i + 3, "(") || keys.contains(key) {
            continue;
        }
        let (line, col) = (toks[i + 2].1, toks[i + 2].2);
        let known: Vec<&str> = keys.iter().map(String::as_str).collect();
        out.push((
            line,
            col,
            format!(
                "{var}.{key}: no key {key:?} in what {} returns ({})",
                fns.join(" / "),
                known.join(", ")
            ),
        ));
    }
    out
}

/// The top-level keys of the first `#{…}` in a function's documentation
/// (`"→ #{pid, name, matches: [#{file}]}"` → `pid, name, matches`), `None` when there is none.
pub fn doc_return_keys(doc: &str) -> Option<BTreeSet<String>> {
    let start = doc.find("#{")? + 2;
    let mut keys = BTreeSet::new();
    let mut depth = 0i32;
    let mut word = String::new();
    let mut in_key = true;
    for c in doc[start..].chars() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' if depth == 0 => break,
            '}' | ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                in_key = true;
                continue;
            }
            _ => {}
        }
        if depth == 0 && in_key {
            if c.is_alphanumeric() || c == '_' {
                word.push(c);
                continue;
            }
            if !word.is_empty() {
                keys.insert(std::mem::take(&mut word));
            }
            if !c.is_whitespace() {
                in_key = false;
            }
        }
    }
    if !word.is_empty() {
        keys.insert(word);
    }
    if keys.is_empty() { None } else { Some(keys) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_calls_not_strings_or_comments() {
        let src = r#"
import "thresholds" as t;
fn helper(x) { x + 1 }
// fs::write("no", "call") in a comment
let s = "logs::search(in a string)";
let r = logs::search("a", "b");
helper(2);
[1].push(3);
t::cpu_max();
"#;
        let (defs, calls, imports) = scan(src);
        assert!(defs.contains("helper"));
        assert_eq!(
            imports,
            vec![Import {
                path: "thresholds".into(),
                alias: "t".into()
            }]
        );
        let names: Vec<String> = calls
            .iter()
            .map(|c| format!("{}::{}", c.namespace, c.name))
            .collect();
        assert_eq!(
            names,
            vec!["logs::search", "::helper", "::push", "t::cpu_max"]
        );
        assert_eq!((calls[0].line, calls[0].col), (6, 15));
        assert!(!names.iter().any(|n| n.contains("write")));
    }

    #[test]
    fn warns_on_a_key_no_primitive_returns() {
        let keys = |ns: &str, name: &str| match (ns, name) {
            ("tls", "cert") => Some(
                ["days_left", "expired"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            _ => None,
        };
        let src = "let c = tls::cert(\"a:443\");\nprint(c.days_lef);\nprint(c.days_left);\nlet d = c.len();\n";
        let w = unknown_key_reads(src, &keys);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!((w[0].0, w[0].1), (2, 9));
        assert!(
            w[0].2.contains("days_lef") && w[0].2.contains("tls::cert"),
            "{w:?}"
        );
        // another binding of unknown shape, or a key written by the script: no warning
        let src = "let c = tls::cert(\"a\");\nc = other();\nprint(c.x);";
        assert!(unknown_key_reads(src, &keys).is_empty());
        let src = "let c = tls::cert(\"a\");\nc.note = 1;\nprint(c.note);";
        assert!(unknown_key_reads(src, &keys).is_empty());
        let src = "let c = tls::cert(\"a\"); if c.expired == true { }";
        assert!(unknown_key_reads(src, &keys).is_empty());
    }

    #[test]
    fn return_keys_come_from_the_first_map_in_the_docs() {
        let k =
            doc_return_keys("→ `#{matches: [#{file, line}], total, truncated}` and more").unwrap();
        assert_eq!(
            k.into_iter().collect::<Vec<_>>(),
            ["matches", "total", "truncated"]
        );
        assert!(doc_return_keys("returns an array").is_none());
    }
}
