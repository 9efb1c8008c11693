//! Command-line definitions (clap derive). See README for the contract.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Operations runbooks as editable Rhai scripts: run by name, safely, and fast.
#[derive(Debug, Parser)]
#[command(name = "runbook", version, about, propagate_version = true)]
pub struct Cli {
    /// Policy and inventory file (default: ./runbook.toml, then the user config dir, then
    /// /etc/runbook/runbook.toml, then built-in).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Extra runbook folder, searched before ./runbooks (repeatable).
    #[arg(long = "runbooks", global = true, value_name = "DIR")]
    pub runbooks: Vec<PathBuf>,

    /// Colour: auto (each stream coloured only when it is a terminal and NO_COLOR is unset),
    /// always, or never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: clap::ColorChoice,

    /// Print only results and errors (no notes such as which config file was loaded).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Say more on stderr: the runbook file and stdlib folders used (repeatable).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every runbook found, with its one-line summary.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a runbook: summary, description, parameters, effects it may cause.
    Show {
        /// Runbook name or path to a .rhai file.
        name: String,
    },
    /// Run a runbook (exit codes: 0 ok, 1 check failed, 2 usage, 3 limit, 4 denied, 5 script error, 6 inconclusive, 7 a host unreachable).
    Run {
        /// Runbook name or path to a .rhai file.
        name: String,
        /// Parameter, KEY=VALUE (repeatable).
        #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Plan effects without executing them.
        #[arg(long)]
        dry_run: bool,
        /// Answer yes to confirmations (needed for confirm() without a terminal).
        #[arg(long)]
        yes: bool,
        /// Print one JSON report on stdout.
        #[arg(long)]
        json: bool,
        /// Wall-clock limit in seconds, at least 1 (default: policy timeout_s, 600).
        #[arg(long, value_name = "SECS", value_parser = positive_secs)]
        timeout: Option<u64>,
        /// Output format: `nagios` prints a Nagios plugin line and exits 0/1/2/3.
        #[arg(long, value_name = "FORMAT", value_parser = ["human", "json", "nagios"])]
        format: Option<String>,
        /// Also write the result for node_exporter's textfile collector (atomically).
        #[arg(long, value_name = "PATH")]
        prom_textfile: Option<PathBuf>,
        /// When another run of this runbook holds its lock, wait for it instead of failing.
        #[arg(long)]
        wait: bool,
        /// Many hosts through ssh (README, "Many hosts").
        #[command(flatten)]
        fleet: crate::fleet::FleetArgs,
    },
    /// Recorded runs, or one check's series, from the history database.
    History {
        /// Only this runbook's runs.
        runbook: Option<String>,
        /// Show this check's samples (a name, or a prefix ending in `*`).
        #[arg(long, value_name = "NAME")]
        check: Option<String>,
        /// How far back (30m, 24h, 7d …).
        #[arg(long, default_value = "7d", value_name = "DURATION")]
        since: String,
        /// At most this many rows.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Install, print or remove systemd timers (or a crontab block) for `@schedule` runbooks.
    Schedule {
        /// Runbooks to schedule (default: every runbook with `@schedule`).
        names: Vec<String>,
        /// A crontab block (with flock) instead of systemd units.
        #[arg(long)]
        cron: bool,
        /// System units in /etc/systemd/system instead of user units.
        #[arg(long)]
        system: bool,
        /// Print what would be installed or removed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Remove the units or the crontab block.
        #[arg(long)]
        remove: bool,
        /// Write units into this folder (no systemctl calls).
        #[arg(long, value_name = "DIR")]
        unit_dir: Option<PathBuf>,
    },
    /// A report over the history: availability, check charts, incidents, effects, failures.
    ///
    /// Give `--html FILE`, `--json`, or both: the report has no plain-text form.
    #[command(group(clap::ArgGroup::new("output").required(true).multiple(true).args(["html", "json"])))]
    Report {
        /// How far back (7d, 30d …).
        #[arg(long, default_value = "7d", value_name = "DURATION")]
        since: String,
        /// Write one self-contained HTML file.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Print the report's data as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Host side of `run --hosts`: read a bundle on stdin, run it under this host's own policy.
    #[command(name = "remote-run", hide = true)]
    RemoteRun,
    /// Compile runbooks and check calls (all runbooks when none is named).
    Check {
        /// Runbook names or .rhai files.
        names: Vec<String>,
    },
    /// Interactive session on the same engine and policy.
    Repl,
    /// Reference of every host function, generated from the engine.
    Docs {
        /// Print JSON instead of Markdown.
        #[arg(long)]
        json: bool,
        /// Write Rhai definition files (`.d.rhai`, for editors and language servers) of every
        /// host function into DIR instead of printing the reference.
        #[arg(long, value_name = "DIR", conflicts_with = "json")]
        definitions: Option<PathBuf>,
    },
    /// Scaffold runbooks/NAME.rhai with a header.
    New {
        /// Name of the new runbook (letters, digits, - and _).
        name: String,
        /// Create it even when a runbook of that name exists elsewhere (it will shadow it, or be
        /// shadowed by it).
        #[arg(long)]
        force: bool,
    },
    /// Show recent audit records.
    Audit {
        /// How many of the newest records (1 or more; default 20).
        #[arg(long, default_value_t = 20, value_name = "N", value_parser = at_least_one,
              conflicts_with = "all")]
        last: usize,
        /// Every record in the log.
        #[arg(long)]
        all: bool,
        /// Print the records as one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout, or write one page per command into a folder.
    ///
    /// `runbook man | man -l -` reads it now; `runbook man --dir /usr/local/share/man/man1`
    /// installs runbook.1 and runbook-COMMAND.1 for `man runbook`.
    Man {
        /// Write runbook.1 and runbook-COMMAND.1 into this folder instead of printing runbook.1.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// `--last N`: a count of 1 or more (0 used to mean "all", which printed the whole log to
/// someone who asked for nothing; `--all` says that).
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be 1 or more (--all shows every record)".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// `--timeout SECS`: a whole number of seconds, at least 1 (clap's own range error printed
/// `0 is not in 1..18446744073709551615`).
fn positive_secs(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("must be 1 or more (seconds)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("must be a whole number of seconds, 1 or more".into()),
    }
}
