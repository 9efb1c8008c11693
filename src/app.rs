//! The commands behind the CLI. Each returns the process exit code.

mod history_cli;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_json::{Value, json};

use crate::cli::{Cli, Command};
use crate::effects::AuditLog;
use crate::error::{Error, Result};
use crate::policy::Config;
use crate::runbook::runner::{self, RunOptions};
use crate::runbook::statics::{self, Known};
use crate::runbook::{Runbook, SearchPath};

/// Whether to colour stdout: a terminal and no `NO_COLOR`.
pub fn color_stdout() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

/// Apply `--color` for every stream the process writes through `anstream`.
fn set_color(when: clap::ColorChoice) {
    let choice = match when {
        clap::ColorChoice::Auto => anstream::ColorChoice::Auto,
        clap::ColorChoice::Always => anstream::ColorChoice::Always,
        clap::ColorChoice::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
}

/// Run the parsed command line; `cancel` is the Ctrl-C flag.
pub fn main(cli: Cli, cancel: Arc<AtomicBool>) -> i32 {
    match dispatch(cli, cancel) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("runbook: {e}");
            e.exit_code()
        }
    }
}

fn dispatch(cli: Cli, cancel: Arc<AtomicBool>) -> Result<i32> {
    let search = SearchPath::new(&cli.runbooks);
    let (quiet, verbose) = (cli.quiet, cli.verbose);
    set_color(cli.color);
    match cli.command {
        Command::List { json } => list(&search, json),
        Command::Show { name } => show(&search, &name),
        Command::Run {
            name,
            params,
            dry_run,
            yes,
            json,
            timeout,
            format,
            prom_textfile,
            wait,
            fleet,
        } => {
            let json = json || format.as_deref() == Some("json");
            let nagios = format.as_deref() == Some("nagios");
            if fleet.hosts.is_some() {
                let run = crate::fleet::CliRun {
                    name: &name,
                    params: &params,
                    dry_run,
                    yes,
                    timeout_s: timeout,
                    json,
                    wait,
                };
                return Ok(crate::fleet::run_cli(
                    cli.config.as_deref(),
                    &search,
                    &fleet,
                    run,
                    cancel,
                ));
            }
            let prepared = Config::load(cli.config.as_deref()).and_then(|config| {
                let params = params
                    .iter()
                    .map(|p| runner::parse_kv(p))
                    .collect::<Result<Vec<_>>>()?;
                Ok((Arc::new(config), params, search.find(&name)?))
            });
            let (config, params, rb) = match prepared {
                Ok(p) => p,
                // `--json` promises one JSON document, also when the run never started.
                Err(e) if json => {
                    let mut report = crate::report::Report {
                        runbook: name.clone(),
                        started: crate::timefmt::now_rfc3339(),
                        ..Default::default()
                    };
                    report.fail(e.error_kind(), e.to_string());
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
                    );
                    return Ok(report.exit_code);
                }
                Err(e) => return Err(e),
            };
            if !quiet {
                note_config(&config);
            }
            if verbose > 0 {
                eprintln!("runbook: runbook {} ({})", rb.display_path, rb.origin);
                let dirs: Vec<String> = search
                    .stdlib_path()
                    .dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect();
                eprintln!(
                    "runbook: stdlib from {} and the built-in stdlib",
                    dirs.join(", ")
                );
            }
            let opts = RunOptions {
                params,
                dry_run,
                yes,
                timeout_s: timeout,
                echo: !json && !nagios,
                cancel_flag: cancel.clone(),
                wait,
            };
            let report = runner::run(config.clone(), search.stdlib_path(), rb, opts);
            let report = history_cli::after_run(&config, report, dry_run, cancel);
            if let Some(path) = &prom_textfile {
                history_cli::prom_textfile(path, &report, dry_run);
            }
            if nagios {
                let mut out = std::io::stdout().lock();
                let code = crate::monitor::write_nagios(&mut out, &report).unwrap_or(3);
                let _ = out.flush();
                return Ok(code);
            }
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            if json {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
                );
            } else {
                // Paint always; each stream strips the codes unless it is coloured (its own
                // terminal test, NO_COLOR, `--color`).
                let mut out = anstream::AutoStream::auto(&mut out);
                let mut err = anstream::AutoStream::auto(std::io::stderr());
                let _ = report.render_human(&mut out, &mut err, true);
            }
            let _ = out.flush();
            Ok(report.exit_code)
        }
        Command::RemoteRun => Ok(crate::fleet::remote::main(cancel)),
        Command::Check { names } => check(&search, &names),
        Command::History {
            runbook,
            check,
            since,
            limit,
            json,
        } => history_cli::history(
            &Config::load(cli.config.as_deref())?,
            runbook.as_deref(),
            check.as_deref(),
            &since,
            limit,
            json,
        ),
        Command::Schedule {
            names,
            cron,
            system,
            dry_run,
            remove,
            unit_dir,
        } => crate::schedule::command(
            &Config::load(cli.config.as_deref())?,
            cli.config.as_deref(),
            &cli.runbooks,
            &search,
            &crate::schedule::ScheduleArgs {
                names,
                cron,
                system,
                dry_run,
                remove,
                unit_dir,
            },
        ),
        Command::Report { since, html, json } => crate::history::report::command(
            &Config::load(cli.config.as_deref())?,
            &since,
            html.as_deref(),
            json,
        ),
        Command::Repl => {
            let config = Arc::new(Config::load(cli.config.as_deref())?);
            crate::repl::run(config, search, cancel)
        }
        Command::Docs {
            definitions: Some(dir),
            ..
        } => {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
            crate::engine::metadata_engine()
                .definitions()
                .write_to_dir(&dir)
                .map_err(|e| Error::io("writing definitions to", &dir, e))?;
            if !quiet {
                eprintln!("runbook: wrote Rhai definition files to {}", dir.display());
            }
            Ok(0)
        }
        Command::Docs { json, .. } => crate::catalog::docs(json),
        Command::New { name, force } => new_runbook(&search, &name, force),
        // `AuditLog::read_view` takes 0 for "all"; `--last` is never 0 (see `cli::at_least_one`).
        Command::Audit { last, all, json } => {
            audit(cli.config.as_deref(), if all { 0 } else { last }, json)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "runbook", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man { dir } => man(dir.as_deref()),
    }
}

/// `runbook man`: the roff manual page of the CLI (from the same clap definitions as `--help`),
/// on stdout or, with `dir`, one file per command (`runbook.1`, `runbook-run.1`, …).
/// Errors: the folder cannot be created or written (exit 5, naming the path).
fn man(dir: Option<&std::path::Path>) -> Result<i32> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    match dir {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| Error::io("writing the manual page", "<stdout>", e))?;
            Ok(0)
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
            let mut written = Vec::new();
            let mut pages = vec![("runbook".to_string(), cmd.clone())];
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                let name = format!("runbook-{}", sub.get_name());
                // clap takes a 'static name; a handful of short strings for a one-shot command.
                let page = sub.clone().name(&*String::leak(name.clone()));
                pages.push((name, page));
            }
            for (name, page) in pages {
                let path = dir.join(format!("{name}.1"));
                let mut buf = Vec::new();
                clap_mangen::Man::new(page)
                    .render(&mut buf)
                    .map_err(|e| Error::io("rendering the manual page", &path, e))?;
                std::fs::write(&path, buf).map_err(|e| Error::io("writing", &path, e))?;
                written.push(path);
            }
            for p in &written {
                println!("{}", p.display());
            }
            Ok(0)
        }
    }
}

/// Say on stderr which config file a run uses, or warn that none was found and the built-in
/// default policy applies.
fn note_config(config: &Config) {
    match &config.source {
        Some(p) => eprintln!("runbook: config {}", p.display()),
        None => {
            let mut looked = vec!["./runbook.toml".to_string()];
            if let Some(d) = crate::policy::user_config_dir() {
                looked.push(d.join("runbook.toml").display().to_string());
            }
            looked.push(crate::policy::SYSTEM_CONFIG.to_string());
            eprintln!(
                "runbook: warning: no config file found (looked for {}); using the built-in default policy",
                looked.join(", ")
            );
        }
    }
}

fn list(search: &SearchPath, as_json: bool) -> Result<i32> {
    let rbs = search.list();
    if as_json {
        let arr: Vec<Value> = rbs
            .iter()
            .map(|rb| {
                let h = rb.header().ok();
                json!({
                    "schema_version": crate::SCHEMA_VERSION,
                    "name": rb.name,
                    "summary": h.as_ref().map(|h| h.summary.clone()).unwrap_or_default(),
                    "origin": rb.origin,
                    "path": rb.display_path,
                    "header_error": rb.header().err().map(|e| e.to_string()),
                    "shadows": search.shadowed(&rb.name),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&arr).unwrap_or_default());
        return Ok(0);
    }
    let shadows: std::collections::HashMap<String, Vec<String>> = rbs
        .iter()
        .map(|rb| (rb.name.clone(), search.shadowed(&rb.name)))
        .collect();
    crate::catalog::print_runbook_list_marked(&rbs, &shadows);
    Ok(0)
}

fn show(search: &SearchPath, name: &str) -> Result<i32> {
    let rb = search.find(name)?;
    let h = rb.header()?;
    println!("{} — {}", rb.name, h.summary);
    println!("from: {}", rb.display_path);
    if !h.description.is_empty() {
        println!();
        println!("{}", h.description);
    }
    println!();
    if h.params.is_empty() {
        println!("Parameters: none");
    } else {
        println!("Parameters:");
        let w = h.params.iter().map(|p| p.name.len()).max().unwrap_or(0);
        let defaults: Vec<String> = h
            .params
            .iter()
            .map(|p| match &p.default {
                Some(d) => format!("= {d}"),
                None => "(required)".into(),
            })
            .collect();
        // Long defaults get their own line so the docs stay in one column.
        let wd = defaults
            .iter()
            .map(|d| d.chars().count())
            .filter(|&n| n <= 24)
            .max()
            .unwrap_or(10);
        for (p, default) in h.params.iter().zip(&defaults) {
            if default.chars().count() > wd {
                println!("  {:<w$}  {:<8} {default}", p.name, p.ty.name());
                println!("  {:<w$}  {:<8} {:<wd$}  {}", "", "", "", p.doc);
            } else {
                println!(
                    "  {:<w$}  {:<8} {default:<wd$}  {}",
                    p.name,
                    p.ty.name(),
                    p.doc
                );
            }
        }
    }
    let effects = crate::catalog::effects_of(search.stdlib_path(), &rb);
    println!();
    if effects.is_empty() {
        println!("Effects: none (read-only)");
    } else {
        println!("Effects it may cause (all audited; planned only under --dry-run):");
        for e in effects {
            println!("  {e}");
        }
    }
    Ok(0)
}

/// One runbook for `runbook check`: its problems (see [`crate::runbook::problems`]) on stdout,
/// reads of keys a host function's result does not have as warnings on stderr.
fn check_one(
    search: &SearchPath,
    rb: &Runbook,
    known: &Known,
    engine: &rhai::Engine,
) -> Vec<String> {
    let found = crate::runbook::problems::problems(search.stdlib_path(), rb, known, engine);
    if found.compiled {
        let source = crate::engine::strip_shebang(&rb.source);
        for (line, col, msg) in statics::unknown_key_reads(&source, &|ns, name| {
            crate::catalog::return_keys()
                .get(&format!("{ns}::{name}"))
                .cloned()
                .flatten()
        }) {
            eprintln!("runbook: warning: {}:{line}:{col}: {msg}", rb.display_path);
        }
    }
    found.problems
}

fn check(search: &SearchPath, names: &[String]) -> Result<i32> {
    let rbs: Vec<Runbook> = if names.is_empty() {
        search.list()
    } else {
        names
            .iter()
            .map(|n| search.find(n))
            .collect::<Result<_>>()?
    };
    let mut engine = crate::engine::build(
        &crate::engine::Limits::default(),
        crate::cancel::Cancel::never(),
        search.stdlib_path(),
    );
    // Unoptimised, so option-map literals keep their keys' positions.
    engine.set_optimization_level(rhai::OptimizationLevel::None);
    let known = Known::from_engine(&engine);
    let mut bad = 0;
    for rb in &rbs {
        let problems = check_one(search, rb, &known, &engine);
        if problems.is_empty() {
            println!("ok    {}", rb.display_path);
        } else {
            bad += 1;
            for p in problems {
                println!("{p}");
            }
        }
    }
    eprintln!("{} runbook(s) checked, {} with problems", rbs.len(), bad);
    Ok(if bad == 0 { 0 } else { 5 })
}

fn new_runbook(search: &SearchPath, name: &str, force: bool) -> Result<i32> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(Error::Usage(format!(
            "runbook name {name:?}: use letters, digits, - and _"
        )));
    }
    let dir = std::path::Path::new("runbooks");
    // A second runbook of the same name changes what `runbook run NAME` means: refuse unless asked.
    if !force {
        let here = dir.join(format!("{name}.rhai"));
        if let Ok(existing) = search.find(name) {
            let same = existing.path.as_deref().is_some_and(|p| {
                std::fs::canonicalize(p).ok() == std::fs::canonicalize(&here).ok() && here.exists()
            });
            if !same {
                return Err(Error::Usage(format!(
                    "a runbook named {name:?} already exists ({}); a new {} would shadow it or be \
                     shadowed by it — pick another name, or pass --force",
                    existing.display_path,
                    here.display()
                )));
            }
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    let path = dir.join(format!("{name}.rhai"));
    let text = format!(
        r#"//! {name}: one line saying what this runbook does.
//!
//! What it checks, what it changes, and when to run it.
//!
//! @param threshold: float = 80.0   percent of memory above which the check fails

import "checks" as checks;

let mem = metrics::memory();
checks::below("memory", mem.percent, threshold, "%");
"#
    );
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                Error::Usage(format!("{} already exists", path.display()))
            }
            _ => Error::io("creating", &path, e),
        })?;
    f.write_all(text.as_bytes())
        .map_err(|e| Error::io("writing", &path, e))?;
    println!("created {}", path.display());
    Ok(0)
}

fn audit(config: Option<&std::path::Path>, last: usize, as_json: bool) -> Result<i32> {
    let cfg = Config::load(config)?;
    let path = cfg.audit_path();
    let view = AuditLog::read_view(&path, last)?;
    if view.damaged > 0 {
        eprintln!(
            "{}: skipped {} damaged line(s) (not JSON: a torn write or a foreign line)",
            path.display(),
            view.damaged
        );
    }
    let recs = view.records;
    if as_json {
        let recs: Vec<Value> = recs
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut v {
                    m.insert("schema_version".into(), json!(crate::SCHEMA_VERSION));
                }
                v
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&recs).unwrap_or_default()
        );
        return Ok(0);
    }
    if recs.is_empty() {
        eprintln!("no audit records in {}", path.display());
        return Ok(0);
    }
    let s = |r: &Value, k: &str| r[k].as_str().unwrap_or("").to_string();
    let width = |k: &str| {
        recs.iter()
            .map(|r| s(r, k).chars().count())
            .max()
            .unwrap_or(0)
    };
    let (wo, wr, wu, wa) = (
        width("outcome"),
        width("runbook"),
        width("user"),
        width("action"),
    );
    for r in &recs {
        let dry = if r["dry_run"].as_bool() == Some(true) {
            " (dry run)"
        } else {
            ""
        };
        let err = r["error"]
            .as_str()
            .map(|e| format!("  — {e}"))
            .unwrap_or_default();
        let ms = r["duration_ms"]
            .as_u64()
            .map(|m| format!("{m} ms"))
            .unwrap_or_default();
        println!(
            "{}  {:<wo$}  {:<wr$}  {:<wu$}  {:<wa$}  {:>8}  {}{dry}{err}",
            s(r, "time"),
            s(r, "outcome"),
            s(r, "runbook"),
            s(r, "user"),
            s(r, "action"),
            ms,
            s(r, "target")
        );
    }
    Ok(0)
}
