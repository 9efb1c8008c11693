//! `runbook report [--since 7d] (--html FILE | --json)` (either or both): the handbook's weekly 性能分析/日志分析
//! in one page — availability per service, the check series as small charts, incidents with
//! their recovery time, effects taken and failed checks. The HTML is one self-contained file
//! (inline CSS and SVG, no script, no external asset).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::query::{self, Availability, Downtime, Incident, Sample};
use crate::error::{Error, Result};
use crate::policy::Config;

/// Samples per chart at most (the newest).
pub const MAX_POINTS: usize = 2_000;
/// Failed checks and effects listed at most.
pub const MAX_LIST: usize = 200;

/// One service's part of the report.
#[derive(Debug, Serialize)]
pub struct ServiceReport {
    pub service: String,
    pub availability: Availability,
    pub incidents: Vec<Incident>,
    pub downtime: Downtime,
}

/// One numeric check series.
#[derive(Debug, Serialize)]
pub struct Series {
    pub check: String,
    pub samples: Vec<Sample>,
}

/// One effect taken.
#[derive(Debug, Serialize)]
pub struct EffectRow {
    pub at: String,
    pub runbook: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
}

/// Everything the report shows.
#[derive(Debug, Serialize)]
pub struct ReportData {
    pub since: String,
    pub generated: String,
    pub runs: usize,
    pub services: Vec<ServiceReport>,
    pub series: Vec<Series>,
    pub failed: Vec<Sample>,
    pub effects: Vec<EffectRow>,
}

/// Gather the report's data for the window starting `since_ms`.
pub fn gather(config: &Config, since_label: &str, since_ms: i64) -> Result<ReportData> {
    let store = super::open_read(config)?;
    let audit = config.audit_path();
    let mut services = Vec::new();
    for name in config.services.keys() {
        services.push(ServiceReport {
            service: name.clone(),
            availability: query::availability(&store, &query::health_pattern(name), since_ms)
                .map_err(query::db_err)?,
            incidents: query::incidents(&store, &audit, name, since_ms)?,
            downtime: query::downtime(&store, &audit, name, since_ms)?,
        });
    }
    let mut series = Vec::new();
    let mut failed = Vec::new();
    for (name, _) in query::check_names(&store, since_ms).map_err(query::db_err)? {
        let samples = query::series(&store, &name, since_ms, MAX_POINTS).map_err(query::db_err)?;
        failed.extend(samples.iter().filter(|s| s.status == "failed").cloned());
        if samples.iter().any(|s| s.value.is_some()) {
            series.push(Series {
                check: name,
                samples,
            });
        }
    }
    failed.sort_by_key(|s| std::cmp::Reverse(s.at_ms));
    failed.truncate(MAX_LIST);
    let effects = query::effects(&store, since_ms, MAX_LIST)
        .map_err(query::db_err)?
        .into_iter()
        .map(|(at, runbook, action, target, outcome)| EffectRow {
            at,
            runbook,
            action,
            target,
            outcome,
        })
        .collect();
    let runs = query::runs(&store, None, since_ms, usize::MAX >> 1)
        .map_err(query::db_err)?
        .len();
    Ok(ReportData {
        since: since_label.to_string(),
        generated: crate::timefmt::now_rfc3339(),
        runs,
        services,
        series,
        failed,
        effects,
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// An inline SVG line chart of the numeric samples (failed samples marked red).
pub fn svg_chart(samples: &[Sample]) -> String {
    let (w, h, pad) = (360.0f64, 70.0f64, 4.0f64);
    let pts: Vec<(i64, f64, &str)> = samples
        .iter()
        .filter_map(|s| s.value.map(|v| (s.at_ms, v, s.status)))
        .collect();
    let (t0, t1) = (
        pts.first().map(|p| p.0).unwrap_or(0),
        pts.last().map(|p| p.0).unwrap_or(1),
    );
    let (lo, hi) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    let x = |t: i64| {
        if t1 > t0 {
            pad + (t - t0) as f64 / (t1 - t0) as f64 * (w - 2.0 * pad)
        } else {
            w / 2.0
        }
    };
    let y = |v: f64| {
        if hi > lo {
            h - pad - (v - lo) / (hi - lo) * (h - 2.0 * pad)
        } else {
            h / 2.0
        }
    };
    let mut d = String::new();
    for (i, (t, v, _)) in pts.iter().enumerate() {
        let _ = write!(
            d,
            "{}{:.1} {:.1} ",
            if i == 0 { "M" } else { "L" },
            x(*t),
            y(*v)
        );
    }
    if pts.len() == 1 {
        // One sample: a short flat line so the chart is never empty.
        let _ = write!(d, "L{:.1} {:.1}", x(pts[0].0) + 1.0, y(pts[0].1));
    }
    let mut marks = String::new();
    for (t, v, st) in &pts {
        if *st == "failed" {
            let _ = write!(
                marks,
                r##"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="#c0392b"/>"##,
                x(*t),
                y(*v)
            );
        }
    }
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img"><rect width="{w}" height="{h}" fill="#fafafa" stroke="#ddd"/><path d="{}" fill="none" stroke="#2c7be5" stroke-width="1.5"/>{marks}</svg>"##,
        d.trim_end()
    )
}

/// The self-contained HTML page.
pub fn html(data: &ReportData) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>runbook report — last {since}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:.5em 0 1.5em}}td,th{{border:1px solid #ddd;padding:3px 8px;text-align:left}}.bad{{color:#c0392b}}.ok{{color:#1e8449}}.chart{{display:inline-block;margin:0 1em 1em 0}}.chart h3{{font-size:13px;margin:0 0 4px}}</style></head><body>
<h1>runbook report — last {since}</h1><p>{runs} run(s) recorded; generated {gen}.</p>
"#,
        since = esc(&data.since),
        runs = data.runs,
        gen = esc(&data.generated)
    );
    s.push_str("<h2>Availability per service</h2><table><tr><th>service</th><th>availability</th><th>samples</th><th>failed</th><th>unknown</th><th>incidents</th><th>mean recovery</th><th>planned downtime</th><th>unplanned downtime</th></tr>");
    for sv in &data.services {
        let a = &sv.availability;
        let pct = a
            .availability_pct
            .map(|p| format!("{p:.3} %"))
            .unwrap_or_else(|| "unknown".into());
        let rec: Vec<f64> = sv.incidents.iter().filter_map(|i| i.recovery_s).collect();
        let mttr = if rec.is_empty() {
            "—".to_string()
        } else {
            format!("{:.1} s", rec.iter().sum::<f64>() / rec.len() as f64)
        };
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{pct}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{mttr}</td><td>{:.0} s</td><td>{:.0} s</td></tr>",
            esc(&sv.service),
            a.samples,
            a.failed,
            a.unknown,
            sv.incidents.len(),
            sv.downtime.planned_s,
            sv.downtime.unplanned_s
        );
    }
    s.push_str("</table><h2>Check series</h2><div>");
    for se in &data.series {
        let last = se.samples.iter().rev().find_map(|x| x.value);
        let _ = write!(
            s,
            r#"<div class="chart"><h3>{} <small>(last {})</small></h3>{}</div>"#,
            esc(&se.check),
            last.map(|v| format!("{v}")).unwrap_or_default(),
            svg_chart(&se.samples)
        );
    }
    s.push_str("</div><h2>Incidents</h2><table><tr><th>service</th><th>started</th><th>restarts</th><th>recovered</th><th>recovery</th></tr>");
    for sv in &data.services {
        for i in &sv.incidents {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&i.service),
                esc(&i.started),
                i.restarts.len(),
                esc(i.recovered.as_deref().unwrap_or("open")),
                i.recovery_s
                    .map(|r| format!("{r:.1} s"))
                    .unwrap_or_else(|| "—".into())
            );
        }
    }
    s.push_str("</table><h2>Effects taken</h2><table><tr><th>time</th><th>runbook</th><th>action</th><th>target</th><th>outcome</th></tr>");
    for e in &data.effects {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&e.at),
            esc(&e.runbook),
            esc(&e.action),
            esc(&e.target),
            esc(&e.outcome)
        );
    }
    s.push_str("</table><h2>Failed checks</h2><table><tr><th>time</th><th>runbook</th><th>check</th><th>detail</th></tr>");
    for f in &data.failed {
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td>{}</td><td class="bad">{}</td><td>{}</td></tr>"#,
            esc(&f.at),
            esc(&f.runbook),
            esc(&f.name),
            esc(&f.detail)
        );
    }
    s.push_str("</table></body></html>\n");
    s
}

/// `runbook report`.
pub fn command(
    config: &Config,
    since: &str,
    html_out: Option<&Path>,
    as_json: bool,
) -> Result<i32> {
    let secs = crate::timefmt::parse_duration_s(since)
        .map_err(|e| Error::Usage(format!("--since: {e}")))?;
    let data = gather(config, since, super::store::now_ms() - secs as i64 * 1000)?;
    if let Some(path) = html_out {
        std::fs::write(path, html(&data)).map_err(|e| Error::io("writing report", path, e))?;
        if !as_json {
            println!(
                "wrote {} ({} service(s), {} chart(s), {} failed check(s))",
                path.display(),
                data.services.len(),
                data.series.len(),
                data.failed.len()
            );
        }
    }
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&data).unwrap_or_default()
        );
    } else if html_out.is_none() {
        return Err(Error::Usage(
            "runbook report: give --html FILE or --json".into(),
        ));
    }
    Ok(0)
}
