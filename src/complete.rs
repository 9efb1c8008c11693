//! Dynamic shell completion (clap_complete's `COMPLETE=$SHELL runbook` protocol): runbook names
//! for `run`/`show`/`check`, and `KEY=` of the named runbook's parameters after `-p`/`--param`.
//!
//! The shell's completion script calls the binary back with `COMPLETE` set and the words typed
//! so far after `--`; [`complete_if_asked`] answers and exits before anything else runs.
//! Set up (README, "Commands"): `source <(COMPLETE=bash runbook)` in `~/.bashrc`, or
//! `source <(COMPLETE=zsh runbook)`, or `COMPLETE=fish runbook | source`.

use std::ffi::OsStr;
use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};

use crate::runbook::SearchPath;

/// Answer a completion request from the shell and exit, or return when `COMPLETE` is unset.
pub fn complete_if_asked() {
    clap_complete::CompleteEnv::with_factory(command).complete();
}

/// The clap command with the dynamic completers attached.
fn command() -> clap::Command {
    let runbook_names = ArgValueCompleter::new(runbook_names);
    let params = ArgValueCompleter::new(param_keys);
    crate::cli::Cli::command()
        .mut_subcommand("run", |c| {
            c.mut_arg("name", |a| a.add(runbook_names.clone()))
                .mut_arg("params", |a| a.add(params))
        })
        .mut_subcommand("show", |c| {
            c.mut_arg("name", |a| a.add(runbook_names.clone()))
        })
        .mut_subcommand("check", |c| {
            c.mut_arg("names", |a| a.add(runbook_names.clone()))
        })
}

/// The words the shell passed after `--` (the command line being completed).
fn typed_words() -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--") {
        Some(i) => args[i + 1..].to_vec(),
        None => Vec::new(),
    }
}

/// The search path the completed command would use: its `--runbooks DIR` folders first.
fn search_path(words: &[String]) -> SearchPath {
    let mut extra = Vec::new();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if w == "--runbooks" {
            if let Some(d) = it.next() {
                extra.push(PathBuf::from(d));
            }
        } else if let Some(d) = w.strip_prefix("--runbooks=") {
            extra.push(PathBuf::from(d));
        }
    }
    SearchPath::new(&extra)
}

/// Runbook names starting with what is typed, each with its one-line summary as help.
fn runbook_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    let mut seen = std::collections::BTreeSet::new();
    search_path(&typed_words())
        .list()
        .into_iter()
        .filter(|rb| rb.name.starts_with(prefix.as_ref()) && seen.insert(rb.name.clone()))
        .map(|rb| {
            let summary = rb.header().map(|h| h.summary).unwrap_or_default();
            CompletionCandidate::new(rb.name).help(Some(summary.into()))
        })
        .collect()
}

/// `KEY=` for each parameter of the runbook named after `run`, with its type, default and doc.
fn param_keys(current: &OsStr) -> Vec<CompletionCandidate> {
    let words = typed_words();
    let Some(name) = runbook_after_run(&words) else {
        return Vec::new();
    };
    let Ok(rb) = search_path(&words).find(&name) else {
        return Vec::new();
    };
    let Ok(header) = rb.header() else {
        return Vec::new();
    };
    let typed = current.to_string_lossy();
    header
        .params
        .into_iter()
        .filter(|p| format!("{}=", p.name).starts_with(typed.as_ref()))
        .map(|p| {
            let default = p
                .default
                .map(|d| format!(" (default {d})"))
                .unwrap_or_else(|| " (required)".into());
            CompletionCandidate::new(format!("{}=", p.name)).help(Some(
                format!("{}{}: {}", p.ty.name(), default, p.doc).into(),
            ))
        })
        .collect()
}

/// The first word after `run` that is not an option or an option's value.
fn runbook_after_run(words: &[String]) -> Option<String> {
    let at = words.iter().position(|w| w == "run")?;
    let mut it = words[at + 1..].iter();
    // Options of `run` (and global ones) that take a value in the next word.
    const WITH_VALUE: &[&str] = &[
        "-p",
        "--param",
        "--timeout",
        "--format",
        "--prom-textfile",
        "--config",
        "--runbooks",
        "--color",
        "--hosts",
        "--forks",
        "--serial",
        "--max-fail",
        "--host-timeout",
        "--ssh-config",
    ];
    while let Some(w) = it.next() {
        if WITH_VALUE.contains(&w.as_str()) {
            it.next();
        } else if !w.starts_with('-') {
            return Some(w.clone());
        }
    }
    None
}
