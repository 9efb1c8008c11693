//! `runbook` — operations procedures as editable Rhai scripts, run by name, safely and fast.
//!
//! A run flows CLI → [`runbook`] (find the file, parse its header, validate parameters) →
//! [`engine`] (Rhai with limits, host modules, stdlib resolver) → a host primitive → the
//! policy check and the effect gate ([`effects`]) → the OS, and back as a [`report::Report`]
//! printed for humans or as JSON, with an exit code from [`error::Error::exit_code`].

pub mod alloc;
pub mod app;
pub mod audit;
pub mod cancel;
pub mod catalog;
pub mod cli;
pub mod complete;
pub mod ctx;
pub mod effects;
pub mod engine;
pub mod error;
pub mod fleet;
pub mod fspath;
pub mod history;
pub mod monitor;
pub mod notify;
pub mod policy;
pub mod repl;
pub mod report;
pub mod runbook;
pub mod schedule;
pub mod script;
pub mod timefmt;

pub use error::{Error, Result};

/// The version of every JSON document the CLI prints (`"schema_version"`: the run report, and
/// each record of `list --json`, `docs --json`, `audit --json`). Raised when a key changes
/// meaning or goes away; adding a key does not raise it. The run report's schema is
/// `schemas/run-report.schema.json`.
pub const SCHEMA_VERSION: u32 = 1;

pub mod backup;
pub mod host;
pub mod logscan;
pub mod modules;
pub mod proc;
pub mod redact;
pub mod service;
