//! The catalogue: what the engine offers, as people read it — host functions with their
//! signatures, docs and return keys (`runbook docs`, the REPL's hints and `:help`, `runbook
//! check`'s key warnings), the effects a runbook may cause, and the runbook list. `app` (the
//! CLI) and `repl` both use it, so neither depends on the other for it.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::error::Result;
use crate::runbook::Runbook;
use crate::script::statics;

/// Print one line per runbook: name, summary, and the folder when it is not built in.
pub fn print_runbook_list(rbs: &[Runbook]) {
    print_runbook_list_marked(rbs, &Default::default());
}

/// [`print_runbook_list`], marking each runbook that hides others of its name
/// (`shadows`: name → the folders or `built-in` it hides).
pub fn print_runbook_list_marked(
    rbs: &[Runbook],
    shadows: &std::collections::HashMap<String, Vec<String>>,
) {
    let width = rbs
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0);
    for rb in rbs {
        let summary = match rb.header() {
            Ok(h) => h.summary,
            Err(e) => format!("(bad header: {e})"),
        };
        let origin = if rb.origin == "built-in" {
            String::new()
        } else {
            format!("  [{}]", rb.origin)
        };
        let hides = match shadows.get(&rb.name) {
            Some(h) if !h.is_empty() => format!("  (shadows {})", h.join(", ")),
            _ => String::new(),
        };
        println!("{:<width$}  {summary}{origin}{hides}", rb.name);
    }
}

/// Effects `rb` may cause, following its imports through `stdlib` (for `show` and the REPL's `:run`).
pub fn effects_of(stdlib: crate::engine::StdlibPath, rb: &Runbook) -> BTreeSet<String> {
    crate::runbook::runner::effects_of(stdlib, rb)
}

/// Rhai type names for the Rust types in metadata signatures.
fn rhai_type(t: &str) -> String {
    let t = t.trim();
    let t = t
        .strip_prefix("RhaiResult<")
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(t);
    let t = t
        .strip_prefix("Result<")
        .and_then(|s| s.split(',').next())
        .unwrap_or(t);
    match t.trim_start_matches("&mut ").trim_start_matches('&') {
        "str" | "ImmutableString" | "String" => "string".into(),
        "i64" | "INT" => "int".into(),
        "f64" | "FLOAT" => "float".into(),
        "bool" => "bool".into(),
        "Map" | "rhai::Map" => "map".into(),
        "Array" | "rhai::Array" => "array".into(),
        "Dynamic" | "rhai::Dynamic" => "any".into(),
        "()" | "" => "()".into(),
        other => other.to_string(),
    }
}

/// The engine's function metadata, our modules only: `[(module or "", [function json])]`.
pub fn function_docs() -> Vec<(String, Vec<Value>)> {
    let engine = crate::engine::metadata_engine();
    let meta: Value = engine
        .gen_fn_metadata_to_json(false)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    let mut out = Vec::new();
    let globals: Vec<Value> = meta["functions"].as_array().cloned().unwrap_or_default();
    out.push((String::new(), globals));
    for m in crate::modules::MODULE_NAMES {
        let fns = meta["modules"][m]["functions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        out.push((m.to_string(), fns));
    }
    out
}

/// The map keys each `module::function` returns, from the first `#{…}` of its docs; `None`
/// when an overload returning a map documents no keys (shape unknown). Computed once.
pub fn return_keys()
-> &'static std::collections::HashMap<String, Option<std::collections::BTreeSet<String>>> {
    static KEYS: std::sync::OnceLock<
        std::collections::HashMap<String, Option<std::collections::BTreeSet<String>>>,
    > = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let mut out: std::collections::HashMap<String, Option<std::collections::BTreeSet<String>>> =
            Default::default();
        for (module, fns) in function_docs() {
            if module.is_empty() {
                continue;
            }
            for f in &fns {
                let Some(name) = f["name"].as_str() else {
                    continue;
                };
                let returns_map = f["returnType"]
                    .as_str()
                    .is_some_and(|t| t.contains("Map") || t.contains("Dynamic"));
                if !returns_map {
                    continue;
                }
                let keys = statics::doc_return_keys(&doc_text(f));
                let entry = out
                    .entry(format!("{module}::{name}"))
                    .or_insert_with(|| Some(Default::default()));
                match (entry.as_mut(), keys) {
                    (Some(all), Some(k)) => all.extend(k),
                    _ => *entry = None,
                }
            }
        }
        out
    })
}

/// A function's signature in Rhai terms: `logs::search(path: string, pattern: string) -> map`.
pub fn signature(module: &str, f: &Value) -> String {
    let name = f["name"].as_str().unwrap_or("?");
    let params: Vec<String> = f["params"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let n = p["name"].as_str().unwrap_or("_");
                    match p["type"].as_str() {
                        Some(t) => format!("{n}: {}", rhai_type(t)),
                        None => n.to_string(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let ret = f["returnType"]
        .as_str()
        .map(rhai_type)
        .unwrap_or_else(|| "()".into());
    let prefix = if module.is_empty() {
        String::new()
    } else {
        format!("{module}::")
    };
    format!("{prefix}{name}({}) -> {ret}", params.join(", "))
}

/// A function's doc comment as plain text.
pub fn doc_text(f: &Value) -> String {
    f["docComments"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| l.as_str())
                .flat_map(|block| block.lines())
                .map(|l| {
                    l.trim_start()
                        .trim_start_matches("///")
                        .trim_start_matches("/**")
                        .trim_end_matches("*/")
                })
                .map(|l| l.strip_prefix(' ').unwrap_or(l).to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// One stdlib module (`stdlib/NAME.rhai`, built into the binary) as `runbook docs` shows it.
#[derive(Debug, Clone)]
pub struct StdlibModule {
    /// The import name (`checks`).
    pub name: String,
    /// Its `//!` header, as plain text.
    pub summary: String,
    /// Its public functions: name, parameter names, `///` doc as plain text.
    pub functions: Vec<(String, Vec<String>, String)>,
    /// Its `export const`s: name, value as written, the `//` lines above it.
    pub constants: Vec<(String, String, String)>,
}

/// The stdlib modules built into the binary, with their docs (from the parsed scripts: Rhai
/// keeps each function's `///` comments), in name order. A module that does not parse is
/// listed with its error as summary.
pub fn stdlib_docs() -> Vec<StdlibModule> {
    let mut engine = rhai::Engine::new_raw();
    // Only parsed, never run: no depth limit (the running engine sets its own).
    engine.set_max_expr_depths(0, 0);
    let mut out: Vec<StdlibModule> = crate::script::embedded::STDLIB
        .iter()
        .map(|(name, text)| {
            let summary = text
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .map(|l| l.trim_start_matches("//!").trim())
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_string();
            let (functions, summary) = match engine.compile(*text) {
                Ok(ast) => (
                    ast.iter_functions()
                        .filter(|f| f.access != rhai::FnAccess::Private)
                        .map(|f| {
                            let doc = f
                                .comments
                                .iter()
                                .flat_map(|c| c.lines())
                                .map(|l| {
                                    let l = l.trim_start().trim_start_matches("///");
                                    l.strip_prefix(' ').unwrap_or(l).to_string()
                                })
                                .collect::<Vec<_>>()
                                .join("\n");
                            (
                                f.name.to_string(),
                                f.params.iter().map(|p| p.to_string()).collect(),
                                doc.trim().to_string(),
                            )
                        })
                        .collect(),
                    summary,
                ),
                Err(e) => (Vec::new(), format!("(does not parse: {e})")),
            };
            let mut constants = Vec::new();
            let mut above: Vec<&str> = Vec::new();
            for line in text.lines() {
                let t = line.trim();
                if let Some(rest) = t.strip_prefix("export const ") {
                    if let Some((n, v)) = rest.split_once('=') {
                        constants.push((
                            n.trim().to_string(),
                            v.trim().trim_end_matches(';').trim().to_string(),
                            above.join("\n"),
                        ));
                    }
                    above.clear();
                } else if let Some(c) = t.strip_prefix("//").filter(|_| !t.starts_with("//!")) {
                    above.push(c.trim());
                } else {
                    above.clear();
                }
            }
            StdlibModule {
                name: name.to_string(),
                summary,
                functions,
                constants,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The ```` ```rhai ```` blocks that follow an `Example:` line in `doc`, each as code.
pub fn examples(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = doc.lines();
    let mut armed = false;
    while let Some(l) = lines.next() {
        let t = l.trim();
        if t.starts_with("Example:") || t.starts_with("Examples:") {
            armed = true;
        } else if armed && t.starts_with("```") {
            let mut code = Vec::new();
            for l in lines.by_ref() {
                if l.trim().starts_with("```") {
                    break;
                }
                code.push(l);
            }
            out.push(code.join("\n"));
        } else if !t.is_empty() {
            armed = false;
        }
    }
    out
}

/// `runbook docs [--json]`: the reference of every host function.
pub fn docs(as_json: bool) -> Result<i32> {
    let docs = function_docs();
    if as_json {
        let arr: Vec<Value> = docs
            .iter()
            .flat_map(|(m, fns)| {
                fns.iter().map(move |f| {
                    json!({
                        "schema_version": crate::SCHEMA_VERSION,
                        "module": m,
                        "name": f["name"],
                        "signature": signature(m, f),
                        "doc": doc_text(f),
                        "effect": crate::modules::EFFECT_FUNCTIONS.contains(&format!("{m}::{}", f["name"].as_str().unwrap_or("")).as_str()),
                    })
                })
            })
            .collect();
        let mut arr = arr;
        for m in stdlib_docs() {
            for (name, params, doc) in &m.functions {
                arr.push(json!({
                    "schema_version": crate::SCHEMA_VERSION,
                    "module": m.name,
                    "name": name,
                    "signature": format!("{}::{name}({})", m.name, params.join(", ")),
                    "doc": doc,
                    "effect": false,
                    "stdlib": true,
                }));
            }
            for (name, value, doc) in &m.constants {
                arr.push(json!({
                    "schema_version": crate::SCHEMA_VERSION,
                    "module": m.name,
                    "name": name,
                    "constant": value,
                    "doc": doc,
                    "effect": false,
                    "stdlib": true,
                }));
            }
        }
        println!("{}", serde_json::to_string_pretty(&arr).unwrap_or_default());
        return Ok(0);
    }
    println!("# runbook host functions\n");
    println!(
        "Generated from the engine by `runbook docs`. Effects are marked ⚡: checked against the policy,"
    );
    println!("audited, and only planned under `--dry-run`.\n");
    for (m, fns) in &docs {
        if fns.is_empty() {
            continue;
        }
        if m.is_empty() {
            println!("## Global functions\n");
        } else {
            println!("## `{m}::`\n");
        }
        let mut fns = fns.clone();
        fns.sort_by(|a, b| {
            a["name"]
                .as_str()
                .cmp(&b["name"].as_str())
                .then(a["numParams"].as_u64().cmp(&b["numParams"].as_u64()))
        });
        for f in &fns {
            let full = format!("{m}::{}", f["name"].as_str().unwrap_or(""));
            let mark = if crate::modules::EFFECT_FUNCTIONS.contains(&full.as_str()) {
                " ⚡"
            } else {
                ""
            };
            println!("### `{}`{mark}\n", signature(m, f));
            let d = doc_text(f);
            if !d.is_empty() {
                println!("{d}\n");
            }
        }
    }
    println!("# stdlib modules\n");
    println!(
        "Rhai modules built into the binary: `import \"NAME\" as NAME;` (a file of the same name next"
    );
    println!("to the runbook or in a `stdlib/` folder beside its runbooks folder comes first).\n");
    for m in stdlib_docs() {
        println!("## `{}` (stdlib)\n", m.name);
        if !m.summary.is_empty() {
            println!("{}\n", m.summary);
        }
        for (name, params, doc) in &m.functions {
            println!("### `{}::{name}({})`\n", m.name, params.join(", "));
            if !doc.is_empty() {
                println!("{doc}\n");
            }
        }
        if !m.constants.is_empty() {
            println!("Constants:\n");
            for (name, value, doc) in &m.constants {
                let doc = if doc.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", doc.replace('\n', " "))
                };
                println!("* `{}::{name}` = `{value}`{doc}", m.name);
            }
            println!();
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry names functions the engine has, and agrees with their docs: a function
    /// documented as "effect `x.y`" is registered with action `x.y`, and the other way round.
    #[test]
    fn effect_registry_matches_the_engine_and_the_docs() {
        let re = regex::Regex::new(r"(?i)effect `([a-z]+\.[a-z_]+)`").unwrap();
        let mut documented = std::collections::BTreeSet::new();
        for (module, fns) in function_docs() {
            for f in fns {
                let name = f["name"].as_str().unwrap_or("");
                let full = if module.is_empty() {
                    name.to_string()
                } else {
                    format!("{module}::{name}")
                };
                let docs: String = f["docComments"]
                    .as_array()
                    .map(|d| {
                        d.iter()
                            .filter_map(|l| l.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
                for c in re.captures_iter(&docs) {
                    documented.insert((full.clone(), c[1].to_string()));
                }
            }
        }
        let registered: std::collections::BTreeSet<(String, String)> = crate::effects::REGISTRY
            .iter()
            .map(|e| (e.function.to_string(), e.action.to_string()))
            .collect();
        assert_eq!(documented, registered);
    }
}

#[cfg(test)]
mod option_key_tests {
    /// Every registered function whose last parameter is a map takes options, so `runbook check`
    /// must know its keys; a function added without an entry in [`crate::modules::option_keys`] fails here.
    #[test]
    fn every_function_taking_an_options_map_lists_its_keys() {
        let keys = crate::modules::option_keys();
        let mut missing = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (module, fns) in super::function_docs() {
            if module.is_empty() {
                continue;
            }
            for f in &fns {
                let takes_map = f["params"]
                    .as_array()
                    .and_then(|ps| ps.last())
                    .and_then(|p| p["type"].as_str())
                    .is_some_and(|t| t.ends_with("Map"));
                let name = format!("{module}::{}", f["name"].as_str().unwrap_or("?"));
                if takes_map {
                    seen.insert(name.clone());
                    if !keys.contains_key(name.as_str()) {
                        missing.push(name);
                    }
                }
            }
        }
        assert!(missing.is_empty(), "no option keys listed for {missing:?}");
        // And nothing listed that takes no options map (a renamed function left behind).
        let stale: Vec<_> = keys.keys().filter(|k| !seen.contains(**k)).collect();
        assert!(stale.is_empty(), "option keys listed for {stale:?}");
        assert_eq!(keys["cmd::run"], ["cwd", "timeout_s", "env"]);
    }
}
