//! The REPL's meta-commands (`:help`, `:run`, `:dry`, `:save` …).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use comfy_table::{ContentArrangement, Table, presets};

use super::helper::{self, META, split_words};
use super::{Flow, Session};
use crate::cancel::Cancel;
use crate::effects::AuditLog;
use crate::runbook::runner::{self, RunOptions};

/// Default number of audit records `:audit` shows.
pub const AUDIT_DEFAULT: usize = 10;

fn on_off(word: Option<&str>) -> Result<Option<bool>, String> {
    match word {
        None => Ok(None),
        Some("on" | "true" | "yes" | "1") => Ok(Some(true)),
        Some("off" | "false" | "no" | "0") => Ok(Some(false)),
        Some(w) => Err(format!("expected on or off, got {w:?}")),
    }
}

impl Session {
    /// Run one meta-command line.
    pub(crate) fn meta(&mut self, line: &str) -> Flow {
        let words = split_words(line);
        let args: Vec<&str> = words.iter().skip(1).map(String::as_str).collect();
        let cmd = words.first().map(String::as_str).unwrap_or(":");
        let result: Result<Flow, String> = match cmd {
            ":help" | ":h" | ":?" => self.help(args.first().copied()),
            ":runbooks" => self.runbooks(),
            ":run" => match args.split_first() {
                Some((name, params)) => self.run_runbook(name, params),
                None => Err("usage: :run NAME [key=value …]".into()),
            },
            ":dry" => on_off(args.first().copied()).map(|v| {
                if let Some(v) = v {
                    self.dry_run = v;
                }
                println!(
                    "dry run {}",
                    if self.dry_run {
                        "on: effects are planned and audited, not executed"
                    } else {
                        "off: effects run"
                    }
                );
                Flow::Ok
            }),
            ":yes" => on_off(args.first().copied()).map(|v| {
                if let Some(v) = v {
                    self.yes = v;
                }
                println!(
                    "yes {}",
                    if self.yes {
                        "on: effects run without asking"
                    } else {
                        "off: each effect asks first"
                    }
                );
                Flow::Ok
            }),
            ":load" => match args.as_slice() {
                [file] => self.load(Path::new(file)),
                _ => Err("usage: :load FILE".into()),
            },
            ":save" => match args.as_slice() {
                [file] => self.save(Path::new(file)),
                _ => Err("usage: :save FILE".into()),
            },
            ":audit" => match args.as_slice() {
                [] => self.audit(AUDIT_DEFAULT),
                [n] => match n.parse::<usize>() {
                    Ok(n) => self.audit(n),
                    Err(_) => Err(format!("usage: :audit [N] (N a number, got {n:?})")),
                },
                _ => Err("usage: :audit [N]".into()),
            },
            ":quit" | ":q" | ":exit" => Ok(Flow::Quit),
            other => Err(format!(
                "unknown command {other} (:help lists the commands)"
            )),
        };
        match result {
            Ok(flow) => flow,
            Err(msg) => {
                eprintln!("{} {msg}", self.paint("31", "error:"));
                Flow::Failed(2)
            }
        }
    }

    fn help(&self, name: Option<&str>) -> Result<Flow, String> {
        let host = helper::host_functions();
        let Some(name) = name else {
            println!(
                "Type Rhai code: variables, functions and imports stay for the whole session."
            );
            println!(
                "Values are printed as tables; effects ask first (:yes on to skip, :dry on to plan only; under :dry only exact policy.read_only_commands lines run).\n"
            );
            println!("Commands:");
            for (m, args, what) in META {
                println!("  {:<24} {what}", format!("{m} {args}"));
            }
            println!(
                "\nModules (:help MODULE lists its functions, :help module::function shows its doc):"
            );
            for m in crate::modules::MODULE_NAMES {
                let fns: BTreeSet<&str> = host
                    .iter()
                    .filter(|f| f.module == *m)
                    .map(|f| f.name.as_str())
                    .collect();
                if fns.is_empty() {
                    println!("  {m}::  (not available in this build)");
                } else {
                    println!(
                        "  {m}::  {}",
                        fns.into_iter().collect::<Vec<_>>().join(", ")
                    );
                }
            }
            let globals: BTreeSet<&str> = host
                .iter()
                .filter(|f| f.module.is_empty())
                .map(|f| f.name.as_str())
                .collect();
            println!(
                "  global: {}",
                globals.into_iter().collect::<Vec<_>>().join(", ")
            );
            println!(
                "\nKeys: Tab completes (modules, functions, :run runbooks, service names in strings);"
            );
            println!(
                "an open block, bracket or string continues on the next line; Ctrl-C stops a running input."
            );
            return Ok(Flow::Ok);
        };
        if let Some((m, args, what)) = META
            .iter()
            .find(|(m, _, _)| *m == name || m.trim_start_matches(':') == name)
        {
            println!("{m} {args}\n  {what}");
            return Ok(Flow::Ok);
        }
        if crate::modules::MODULE_NAMES.contains(&name) {
            let fns: Vec<_> = host.iter().filter(|f| f.module == name).collect();
            if fns.is_empty() {
                println!("{name}:: has no functions in this build");
            }
            for f in fns {
                let summary = f.doc.lines().next().unwrap_or("");
                println!("{}\n    {summary}", f.signature);
            }
            return Ok(Flow::Ok);
        }
        let mut found: Vec<_> = host.iter().filter(|f| f.full_name() == name).collect();
        if found.is_empty() && !name.contains("::") {
            found = host.iter().filter(|f| f.name == name).collect();
        }
        if !found.is_empty() {
            for (i, f) in found.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                println!("{}", self.paint("1", &f.signature));
                if !f.doc.is_empty() {
                    println!("\n{}", f.doc);
                }
                if crate::modules::EFFECT_FUNCTIONS.contains(&f.full_name().as_str()) {
                    println!(
                        "\n⚡ effect: checked against the policy, audited, asks first here, planned only under :dry on."
                    );
                }
            }
            return Ok(Flow::Ok);
        }
        let names = self.names.borrow();
        if let Some(sigs) = names.functions.get(name) {
            println!("{}  (defined in this session)", sigs.join("  |  "));
            return Ok(Flow::Ok);
        }
        if let Some((alias, func)) = name.split_once("::") {
            if let Some(sigs) = names.modules.get(alias) {
                let m: Vec<&String> = sigs
                    .iter()
                    .filter(|s| s.split('(').next() == Some(func))
                    .collect();
                if !m.is_empty() {
                    for s in m {
                        println!("{alias}::{s}  (imported module)");
                    }
                    return Ok(Flow::Ok);
                }
            }
        } else if let Some(sigs) = names.modules.get(name) {
            for s in sigs {
                println!("{name}::{s}");
            }
            return Ok(Flow::Ok);
        }
        Err(format!(
            "no function, module or command named {name:?} (:help lists them)"
        ))
    }

    fn runbooks(&self) -> Result<Flow, String> {
        crate::catalog::print_runbook_list(&self.search.list());
        Ok(Flow::Ok)
    }

    /// `:run NAME key=value …`: the runbook runs as with `runbook run` (its own engine and
    /// deadline) under the session's `:dry` and `:yes`. A runbook that may cause effects asks
    /// once before it starts (unless `:dry on` or `:yes on`); its own `confirm()` calls still ask.
    fn run_runbook(&mut self, name: &str, params: &[&str]) -> Result<Flow, String> {
        let params = params
            .iter()
            .map(|p| runner::parse_kv(p))
            .collect::<crate::Result<Vec<_>>>()
            .map_err(|e| e.to_string())?;
        let rb = self.search.find(name).map_err(|e| e.to_string())?;
        if !self.dry_run && !self.yes {
            let effects = crate::catalog::effects_of(self.stdlib.clone(), &rb);
            if !effects.is_empty() {
                let list = effects.into_iter().collect::<Vec<_>>().join(", ");
                let ctx = self.new_ctx(Cancel::never());
                let ok = ctx
                    .ask(&format!("{} may cause effects ({list}). Run it?", rb.name))
                    .map_err(|e| e.to_string())?;
                if !ok {
                    let why = if self.interactive {
                        ""
                    } else {
                        " (no terminal to confirm on: :yes on or :dry on)"
                    };
                    return Err(format!("{} not run{why}", rb.name));
                }
            }
        }
        let opts = RunOptions {
            params,
            dry_run: self.dry_run,
            yes: self.yes,
            timeout_s: None,
            echo: true,
            cancel_flag: self.flag.clone(),
            wait: false,
        };
        let report = runner::run(self.config.clone(), self.stdlib.clone(), rb, opts);
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let _ = report.render_human(&mut out, &mut std::io::stderr(), self.color);
        let _ = out.flush();
        Ok(if report.exit_code == 0 {
            Flow::Ok
        } else {
            Flow::Failed(report.exit_code)
        })
    }

    fn load(&mut self, file: &Path) -> Result<Flow, String> {
        let text = crate::runbook::discover::read_script(file).map_err(|e| e.to_string())?;
        Ok(self.eval_code(&text, Some(file)))
    }

    /// The draft runbook `:save` writes: a header, then each successful input.
    pub(crate) fn draft(&self) -> String {
        let syntax = rhai::Engine::new_raw();
        let mut out = String::new();
        out.push_str("//! Draft from a runbook repl session: replace this line with what the runbook does.\n");
        out.push_str("//!\n");
        out.push_str(&format!(
            "//! Saved by {} on {} at {} from {} input(s). Review each step, turn fixed values\n",
            crate::audit::current_user(),
            self.host,
            crate::timefmt::now_rfc3339(),
            self.saved.len()
        ));
        out.push_str("//! into @param lines, and check the effects before running it for real.\n");
        for text in &self.saved {
            out.push('\n');
            out.push_str(&terminated(&syntax, text));
            out.push('\n');
        }
        out
    }

    fn save(&self, file: &Path) -> Result<Flow, String> {
        if self.saved.is_empty() {
            return Err("nothing to save yet: no input has succeeded in this session".into());
        }
        let path: PathBuf = if file.extension().is_none() {
            file.with_extension("rhai")
        } else {
            file.to_path_buf()
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    format!(
                        "{} already exists: choose another name (nothing was overwritten)",
                        path.display()
                    )
                }
                _ => format!("cannot create {}: {e}", path.display()),
            })?;
        f.write_all(self.draft().as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!(
            "saved {} input(s) to {} (check it with `runbook check {}`)",
            self.saved.len(),
            path.display(),
            path.display()
        );
        Ok(Flow::Ok)
    }

    fn audit(&self, n: usize) -> Result<Flow, String> {
        let path = self.config.audit_path();
        let recs = AuditLog::read_last(&path, n).map_err(|e| e.to_string())?;
        if recs.is_empty() {
            println!("no audit records in {}", path.display());
            return Ok(Flow::Ok);
        }
        let mut t = Table::new();
        t.load_style(presets::UTF8_FULL_CONDENSED);
        t.set_content_arrangement(ContentArrangement::Dynamic);
        t.set_header(vec![
            "time", "outcome", "runbook", "action", "target", "error",
        ]);
        for r in &recs {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            let outcome = if r["dry_run"].as_bool() == Some(true) {
                format!("{} (dry)", s("outcome"))
            } else {
                s("outcome")
            };
            t.add_row(vec![
                s("time"),
                outcome,
                s("runbook"),
                s("action"),
                s("target"),
                s("error"),
            ]);
        }
        println!("{t}");
        Ok(Flow::Ok)
    }
}

/// `text` so that another statement may follow it in one script: a `;` is added when the
/// parser needs one (decided by compiling, e.g. after `let m = #{a: 1}` but not after `if … {}`).
fn terminated(syntax: &rhai::Engine, text: &str) -> String {
    let t = text.trim_end();
    if syntax.compile(format!("{t}\n0")).is_ok() {
        return t.to_string();
    }
    if syntax.compile(format!("{t};\n0")).is_ok() {
        return format!("{t};");
    }
    format!("{t}\n;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminated_adds_semicolons_only_when_needed() {
        let e = rhai::Engine::new_raw();
        assert_eq!(terminated(&e, "let x = 5"), "let x = 5;");
        assert_eq!(terminated(&e, "let x = 5;\n"), "let x = 5;");
        assert_eq!(terminated(&e, "let m = #{a: 1}"), "let m = #{a: 1};");
        assert_eq!(terminated(&e, "fn f() { 1 }"), "fn f() { 1 }");
        assert_eq!(
            terminated(&e, "if true { 1 } else { 2 }"),
            "if true { 1 } else { 2 }"
        );
        assert_eq!(terminated(&e, "x + 1 // note"), "x + 1 // note\n;");
    }

    #[test]
    fn on_off_words() {
        assert_eq!(on_off(Some("on")), Ok(Some(true)));
        assert_eq!(on_off(Some("off")), Ok(Some(false)));
        assert_eq!(on_off(None), Ok(None));
        assert!(on_off(Some("maybe")).is_err());
    }
}
