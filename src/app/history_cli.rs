//! The history's part of `runbook run` (record, notify, textfile) and `runbook history`.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_json::json;

use crate::cancel::Cancel;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::history::query;
use crate::policy::Config;
use crate::report::Report;

fn warn(msg: &str) {
    eprintln!("runbook: warning: {msg}");
}

/// After a run: record it in the history, then send the notifications due (their effects are
/// appended to the report). Never fails; problems are warnings on stderr.
pub fn after_run(
    config: &Arc<Config>,
    mut report: Report,
    dry_run: bool,
    cancel: Arc<AtomicBool>,
) -> Report {
    let recorded = crate::history::record(config, &report, dry_run);
    for w in &recorded.warnings {
        warn(w);
    }
    if let (Some(store), false) = (&recorded.store, config.notify.is_empty()) {
        let mut ctx = Ctx::new(config.clone(), &report.runbook, Cancel::new(cancel, None));
        ctx.dry_run = dry_run;
        ctx.yes = true;
        for w in crate::notify::send_due(&ctx, store, &config.notify, &report) {
            warn(&w);
        }
        let sent = ctx.report.borrow().effects.clone();
        report.effects.extend(sent);
    }
    report
}

/// `--prom-textfile PATH`: write the textfile (not under `--dry-run`, which changes nothing).
pub fn prom_textfile(path: &Path, report: &Report, dry_run: bool) {
    if dry_run {
        warn(&format!(
            "--prom-textfile {}: not written under --dry-run",
            path.display()
        ));
        return;
    }
    if let Err(e) = crate::monitor::write_prom_textfile(path, report) {
        warn(&format!("--prom-textfile: {e}"));
    }
}

/// A sparkline of `values` (▁▂▃▄▅▆▇█), at most `width` characters (the newest values).
pub fn sparkline(values: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let v = &values[values.len().saturating_sub(width)..];
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(*x), b.max(*x))
        });
    v.iter()
        .map(|x| {
            if hi > lo {
                BARS[(((x - lo) / (hi - lo)) * 7.0).round() as usize]
            } else {
                BARS[3]
            }
        })
        .collect()
}

/// `runbook history [RUNBOOK] [--check NAME] [--since 7d] [--json]`.
pub fn history(
    config: &Config,
    runbook: Option<&str>,
    check: Option<&str>,
    since: &str,
    limit: usize,
    as_json: bool,
) -> Result<i32> {
    let since_s = crate::timefmt::parse_duration_s(since)
        .map_err(|e| Error::Usage(format!("--since: {e}")))?;
    let since_ms = crate::history::store::now_ms() - since_s as i64 * 1000;
    let store = crate::history::open_read(config)?;
    let limit = if limit == 0 { usize::MAX >> 1 } else { limit };
    if let Some(check) = check {
        let samples = query::series(&store, check, since_ms, limit).map_err(query::db_err)?;
        let avail = query::availability(&store, check, since_ms).map_err(query::db_err)?;
        if as_json {
            let doc = json!({ "check": check, "availability": avail, "samples": samples });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            return Ok(0);
        }
        if samples.is_empty() {
            println!("no samples of {check:?} in the last {since}");
            return Ok(0);
        }
        let values: Vec<f64> = samples.iter().filter_map(|s| s.value).collect();
        let pct = avail
            .availability_pct
            .map(|p| format!("{p:.3} %"))
            .unwrap_or_else(|| "unknown".into());
        println!(
            "{check}: {} sample(s) in {since}, {} ok, {} failed, {} unknown, availability {pct}",
            avail.samples, avail.ok, avail.failed, avail.unknown
        );
        if !values.is_empty() && std::io::stdout().is_terminal() {
            println!("  {}", sparkline(&values, 60));
        }
        for s in &samples {
            let v = s.value.map(|v| format!("{v}")).unwrap_or_default();
            println!("  {}  {:<7}  {:>10}  {}", s.at, s.status, v, s.detail);
        }
        return Ok(0);
    }
    let rows = query::runs(&store, runbook, since_ms, limit).map_err(query::db_err)?;
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(0);
    }
    if rows.is_empty() {
        println!(
            "no runs recorded in the last {since}{}",
            near_names(&store, runbook)
        );
        return Ok(0);
    }
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::NOTHING);
    table.set_header([
        "started", "runbook", "status", "exit", "ms", "checks", "failed", "unknown", "user",
    ]);
    for r in &rows {
        table.add_row([
            r.started.clone(),
            r.runbook.clone(),
            r.status.clone(),
            r.exit_code.to_string(),
            r.duration_ms.to_string(),
            r.checks.to_string(),
            r.failed.to_string(),
            r.unknown.to_string(),
            r.user.clone(),
        ]);
    }
    println!("{table}");
    Ok(0)
}

/// For a runbook name with no runs: ` — runs are recorded for NAME (did you mean it?)` when a
/// recorded runbook's name is within two edits of it (a typo: `helth-check`), else nothing.
fn near_names(store: &crate::history::store::Store, runbook: Option<&str>) -> String {
    let Some(name) = runbook else {
        return String::new();
    };
    let recorded: Vec<String> = store
        .conn()
        .prepare("SELECT DISTINCT runbook FROM runs")
        .and_then(|mut st| {
            st.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or_default();
    recorded
        .into_iter()
        .filter(|r| r != name)
        .map(|r| (strsim::levenshtein(&r, name), r))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, r)| format!(" for {name:?} — runs are recorded for {r:?} (did you mean it?)"))
        .unwrap_or_default()
}
