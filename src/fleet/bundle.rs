//! The bundle a controller sends to each host: the runbook, every module it imports (followed
//! transitively), the parameters as data, and the run flags — one JSON line on the remote
//! `runbook remote-run`'s stdin.
//!
//! What a bundle can NOT carry is as important: no policy, no config path, no environment.
//! The host loads its own `runbook.toml`; the bundle's `timeout_s` can only shorten the host
//! policy's `timeout_s`, never lengthen it. Unknown fields are rejected (`deny_unknown_fields`),
//! so a newer controller cannot slip a widening field past an older host.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::StdlibResolver;
use crate::error::{Error, Result};
use crate::runbook::Runbook;
use crate::runbook::statics;

/// Bundle format number; a host refuses another one.
pub const FORMAT: u32 = 1;
/// Largest bundle line a host reads (16 MiB); longer input is refused before parsing.
pub const MAX_BUNDLE_BYTES: usize = 16 << 20;
/// Most modules one bundle may carry.
pub const MAX_MODULES: usize = 64;

/// One run, as sent to a host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// [`FORMAT`].
    pub format: u32,
    /// The controller's `runbook` version (`CARGO_PKG_VERSION`); the host refuses another.
    pub version: String,
    /// Runbook name (file stem).
    pub runbook: String,
    /// The runbook's text.
    pub source: String,
    /// Imported modules: import name (`checks`) → text. Names are plain file stems.
    pub modules: BTreeMap<String, String>,
    /// `-p KEY=VALUE` pairs, validated on the host against the runbook's header.
    pub params: Vec<(String, String)>,
    pub dry_run: bool,
    pub yes: bool,
    /// `--timeout` seconds: the host uses the smaller of this and its policy's `timeout_s`.
    pub timeout_s: Option<u64>,
    /// `--wait`: wait for another run's lock on the host instead of failing.
    #[serde(default)]
    pub wait: bool,
}

/// Whether `name` may name a module file in a bundle: letters, digits, `-`, `_`, `.` and no
/// leading dot (so never `..` or a path).
pub fn valid_module_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn stem(import: &str) -> &str {
    import.strip_suffix(".rhai").unwrap_or(import)
}

/// Build the bundle of `rb` with every import it reaches through `resolver` (the same lookup a
/// local run uses). Errors (usage, exit 2): an import that is a path rather than a name, one
/// that cannot be found, two different texts under one name, more than [`MAX_MODULES`].
pub fn build(
    resolver: &StdlibResolver,
    rb: &Runbook,
    params: Vec<(String, String)>,
    dry_run: bool,
    yes: bool,
    timeout_s: Option<u64>,
) -> Result<Bundle> {
    let mut modules = BTreeMap::new();
    // (importer's path, its text)
    let mut todo: Vec<(String, String)> = vec![(rb.display_path.clone(), rb.source.clone())];
    while let Some((from, text)) = todo.pop() {
        let (_, _, imports) = statics::scan(&crate::engine::strip_shebang(&text));
        for imp in imports {
            let name = stem(&imp.path).to_string();
            if !valid_module_name(&name) {
                return Err(Error::Usage(format!(
                    "{from}: import {:?}: only plain module names can be sent to other hosts",
                    imp.path
                )));
            }
            let Some((file, module_text)) = resolver.locate(Some(&from), &imp.path) else {
                return Err(Error::Usage(format!(
                    "{from}: import {:?}: no such module",
                    imp.path
                )));
            };
            match modules.get(&name) {
                Some(existing) if existing == &module_text => continue,
                Some(_) => {
                    return Err(Error::Usage(format!(
                        "{from}: import {:?} resolves to {} but another module of that name is \
                         already in the bundle; rename one",
                        imp.path,
                        file.display()
                    )));
                }
                None => {}
            }
            if modules.len() >= MAX_MODULES {
                return Err(Error::Usage(format!(
                    "runbook {} imports more than {MAX_MODULES} modules",
                    rb.name
                )));
            }
            modules.insert(name, module_text.clone());
            todo.push((file.to_string_lossy().into_owned(), module_text));
        }
    }
    Ok(Bundle {
        format: FORMAT,
        version: env!("CARGO_PKG_VERSION").to_string(),
        runbook: rb.name.clone(),
        source: rb.source.clone(),
        modules,
        params,
        dry_run,
        yes,
        timeout_s,
        wait: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::StdlibPath;

    fn rb(dir: &std::path::Path, name: &str, src: &str) -> Runbook {
        let p = dir.join(format!("{name}.rhai"));
        std::fs::write(&p, src).unwrap();
        Runbook {
            name: name.into(),
            display_path: p.display().to_string(),
            path: Some(p),
            source: src.into(),
            origin: dir.display().to_string(),
        }
    }

    #[test]
    fn follows_imports_transitively_and_round_trips() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("a.rhai"),
            "import \"b\" as b;\nfn f() { b::g() }",
        )
        .unwrap();
        std::fs::write(d.path().join("b.rhai"), "fn g() { 1 }").unwrap();
        let r = rb(
            d.path(),
            "main",
            "import \"a\" as a;\nimport \"checks\" as c;\na::f();",
        );
        let res = StdlibResolver::new(StdlibPath::default());
        let b = build(
            &res,
            &r,
            vec![("k".into(), "v w".into())],
            true,
            false,
            Some(5),
        )
        .unwrap();
        assert_eq!(
            b.modules.keys().collect::<Vec<_>>(),
            vec!["a", "b", "checks"]
        );
        let line = serde_json::to_string(&b).unwrap();
        assert!(!line.contains('\n'));
        let back: Bundle = serde_json::from_str(&line).unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn refuses_paths_missing_modules_and_unknown_fields() {
        let d = tempfile::tempdir().unwrap();
        let res = StdlibResolver::new(StdlibPath::default());
        let r = rb(d.path(), "p", "import \"../x\" as x;");
        let e = build(&res, &r, vec![], false, false, None).unwrap_err();
        assert!(e.to_string().contains("only plain module names"), "{e}");
        let r = rb(d.path(), "m", "import \"nosuchmod\" as x;");
        let e = build(&res, &r, vec![], false, false, None).unwrap_err();
        assert!(e.to_string().contains("no such module"), "{e}");
        let r = rb(d.path(), "ok", "1;");
        let b = build(&res, &r, vec![], false, false, None).unwrap();
        let mut v = serde_json::to_value(&b).unwrap();
        v["policy"] = serde_json::json!({"commands": ["rm"]});
        let e = serde_json::from_value::<Bundle>(v).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
