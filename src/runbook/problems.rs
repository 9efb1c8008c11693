//! What a runbook's text shows is wrong before it runs: `runbook check` prints these, and
//! `runbook run` refuses to start a runbook that may cause effects while it has any (a typo in
//! a function name found only at run time, after an earlier effect, would leave the work half
//! done — preflight before the first effect).

use crate::engine::{StdlibPath, StdlibResolver};
use crate::runbook::Runbook;
use crate::runbook::statics::{self, Known};

/// What [`problems`] found.
#[derive(Debug, Default)]
pub struct Found {
    /// One line each, `file:line:col: message` (or `file: message`).
    pub problems: Vec<String>,
    /// The header parsed and the script compiled (the later checks ran).
    pub compiled: bool,
}

/// The problems of `rb` found without running it, each `file:line:col: message` (or
/// `file: message`): header errors, compile errors, option-map keys a host function does not take,
/// unknown functions, methods and modules, functions an imported stdlib module does not define,
/// import cycles and imports that do not resolve. `engine` must be built unoptimised
/// (`OptimizationLevel::None`: an optimised AST loses option-map literals' key positions) and
/// `known` taken from it.
pub fn problems(stdlib: StdlibPath, rb: &Runbook, known: &Known, engine: &rhai::Engine) -> Found {
    let mut problems = Vec::new();
    let header = match rb.header() {
        Ok(h) => h,
        Err(e) => {
            return Found {
                problems: vec![e.to_string()],
                compiled: false,
            };
        }
    };
    // Compile with the parameters in scope (strict variables).
    let values: Vec<_> = header
        .params
        .iter()
        .map(|p| {
            let v = match p.ty {
                crate::runbook::ParamType::String => {
                    crate::runbook::header::ParamValue::String(String::new())
                }
                crate::runbook::ParamType::Int | crate::runbook::ParamType::Duration => {
                    crate::runbook::header::ParamValue::Int(0)
                }
                crate::runbook::ParamType::Float => crate::runbook::header::ParamValue::Float(0.0),
                crate::runbook::ParamType::Bool => crate::runbook::header::ParamValue::Bool(false),
            };
            (p.clone(), v)
        })
        .collect();
    let scope = super::runner::params_scope(&values);
    let source = crate::engine::strip_shebang(&rb.source);
    match engine.compile_with_scope(&scope, &source) {
        Ok(ast) => {
            for (line, col, msg) in
                statics::unknown_option_keys(&ast, crate::modules::option_keys())
            {
                problems.push(format!("{}:{line}:{col}: {msg}", rb.display_path));
            }
        }
        Err(e) => {
            problems.push(super::runner::parse_error(&e, &rb.display_path, &source).to_string());
            return Found {
                problems,
                compiled: false,
            };
        }
    }
    let (defs, calls, imports) = statics::scan(&source);
    let resolver = StdlibResolver::new(stdlib);
    if let Some(chain) = resolver.find_cycle(&rb.display_path, &source) {
        problems.push(format!(
            "{}: {}",
            rb.display_path,
            crate::engine::cycle_message(&chain)
        ));
    }
    let mut alias_fns: std::collections::HashMap<
        String,
        Option<std::collections::HashSet<String>>,
    > = Default::default();
    for imp in &imports {
        match resolver.locate(Some(&rb.display_path), &imp.path) {
            Some((file, text)) => {
                let shown = file.to_string_lossy().to_string();
                match engine.compile(crate::engine::strip_shebang(&text)) {
                    Ok(ast) => {
                        let fns = ast.iter_functions().map(|f| f.name.to_string()).collect();
                        alias_fns.insert(imp.alias.clone(), Some(fns));
                    }
                    Err(e) => {
                        problems.push(
                            super::runner::parse_error(
                                &e,
                                &shown,
                                &crate::engine::strip_shebang(&text),
                            )
                            .to_string(),
                        );
                        alias_fns.insert(imp.alias.clone(), None);
                    }
                }
            }
            None => problems.push(format!(
                "{}: import {:?}: no such module in stdlib",
                rb.display_path, imp.path
            )),
        }
    }
    for c in calls {
        let at = format!("{}:{}:{}", rb.display_path, c.line, c.col);
        if !c.namespace.is_empty() {
            if let Some(fns) = alias_fns.get(&c.namespace) {
                if let Some(fns) = fns {
                    if !fns.contains(&c.name) {
                        problems.push(format!(
                            "{at}: {}::{} is not defined by module {:?}",
                            c.namespace, c.name, c.namespace
                        ));
                    }
                }
            } else if let Some(fns) = known.namespaced.get(&c.namespace) {
                if !fns.contains(&c.name) {
                    problems.push(format!(
                        "{at}: unknown function {}::{} (see `runbook docs`)",
                        c.namespace, c.name
                    ));
                }
            } else if c.namespace != "global"
                && !crate::modules::MODULE_NAMES.contains(&c.namespace.as_str())
            {
                problems.push(format!(
                    "{at}: unknown module {:?} in {}::{}",
                    c.namespace, c.namespace, c.name
                ));
            }
        } else if !defs.contains(&c.name) && !known.plain.contains(&c.name) {
            let what = if c.method { "method" } else { "function" };
            problems.push(format!("{at}: unknown {what} {}", c.name));
        }
    }
    Found {
        problems,
        compiled: true,
    }
}
