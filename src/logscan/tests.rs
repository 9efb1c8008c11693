//! Tests of the scanning core on real files built in temporary folders: every kind of damage
//! the issue lists, rotated sets with gzip, truncated and multi-member gzip, parallel ranges.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use flate2::Compression;
use flate2::write::GzEncoder;
use tempfile::TempDir;

use super::*;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn exp(p: &Path) -> Expansion {
    expand(p.to_str().unwrap()).unwrap()
}

fn glob(dir: &Path, pat: &str) -> Expansion {
    expand(dir.join(pat).to_str().unwrap()).unwrap()
}

fn never() -> Cancel {
    Cancel::never()
}

fn q(pattern: &str) -> Query {
    Query::new(pattern)
}

fn texts(r: &SearchResult) -> Vec<&str> {
    r.matches.iter().map(|m| m.text.as_str()).collect()
}

fn winston(level: &str, message: &str, ts: &str) -> String {
    format!(
        "{{\"level\":\"{level}\",\"message\":\"{message}\",\"service\":\"lowcode-platform\",\"timestamp\":\"{ts}\"}}\n"
    )
}

#[test]
fn nul_bytes_and_invalid_utf8_are_matched_and_shown_lossy() {
    let d = TempDir::new().unwrap();
    let p = write(
        d.path(),
        "app.log",
        b"first line\nbad \xff\xfe ERROR here\0\0 tail\nERROR\x00 again\nlast\n",
    );
    let e = exp(&p);
    assert_eq!(count(&e, &q("ERROR"), &never()).unwrap().count, 2);
    let r = search(&e, &q("ERROR"), &never()).unwrap();
    assert_eq!(r.total, 2);
    assert_eq!(r.matches[0].line, 2);
    assert_eq!(
        r.matches[0].text,
        "bad \u{FFFD}\u{FFFD} ERROR here\0\0 tail"
    );
    assert_eq!(r.matches[1].text, "ERROR\0 again");
    assert_eq!(r.matches[1].line, 3);
    let mut rq = q(r"ERROR.*tail$");
    rq.regex = true;
    assert_eq!(count(&e, &rq, &never()).unwrap().count, 1);
}

#[test]
fn crlf_and_bare_cr_end_lines_and_dollar_matches_before_cr() {
    let d = TempDir::new().unwrap();
    let p = write(
        d.path(),
        "win.log",
        b"a one\r\nb two\rc three\r\n\r\nd four 12ms\r\n",
    );
    let e = exp(&p);
    let r = search(&e, &q(""), &never()).unwrap();
    assert_eq!(texts(&r), ["a one", "b two", "c three", "", "d four 12ms"]);
    assert_eq!(
        r.matches.iter().map(|m| m.line).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    for (pat, want) in [
        ("one$", 1),
        ("two$", 1),
        ("^c three$", 1),
        (r"\d+ms$", 1),
        ("^$", 1),
        ("e$", 2),
    ] {
        let mut rq = q(pat);
        rq.regex = true;
        assert_eq!(
            count(&e, &rq, &never()).unwrap().count,
            want,
            "pattern {pat}"
        );
    }
    let mut rq = q("four");
    rq.regex = true;
    let r = search(&e, &rq, &never()).unwrap();
    assert_eq!(
        (r.matches[0].line, r.matches[0].text.as_str()),
        (5, "d four 12ms")
    );
    let t = tail(&e, 2, None, &never()).unwrap();
    assert_eq!(t.lines, ["", "d four 12ms"]);
    let st = stats(&e, &q("four"), r"(\d+)ms$", &never()).unwrap();
    assert_eq!((st.summary.count, st.summary.max), (1, 12.0));
}

#[test]
fn long_lines_are_matched_in_full_and_returned_cut_with_a_marker() {
    let d = TempDir::new().unwrap();
    let mut body = b"short before\n".to_vec();
    let long_len = 300 * 1024; // longer than the initial buffer too
    let mut long = vec![b'x'; long_len];
    long[long_len - 20..long_len - 14].copy_from_slice(b"NEEDLE");
    body.extend_from_slice(&long);
    body.extend_from_slice(b"\nafter NEEDLE\n");
    let p = write(d.path(), "long.log", &body);
    let r = search(&exp(&p), &q("NEEDLE"), &never()).unwrap();
    assert_eq!(r.total, 2);
    assert_eq!(r.matches[0].line, 2);
    let t = &r.matches[0].text;
    assert!(
        t.ends_with(&line::truncation_marker(long_len)),
        "marker missing"
    );
    assert_eq!(
        t.len(),
        line::MAX_TEXT + line::truncation_marker(long_len).len()
    );
    assert_eq!(
        (r.matches[1].line, r.matches[1].text.as_str()),
        (3, "after NEEDLE")
    );
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn lines_beyond_the_search_limit_are_searched_in_their_head_with_a_warning() {
    let d = TempDir::new().unwrap();
    let mut body = b"one HEAD\n".to_vec();
    let mut giant = vec![b'y'; scan::MAX_LINE + 1024 * 1024];
    giant[..4].copy_from_slice(b"HEAD");
    let tail_at = giant.len() - 10;
    giant[tail_at..tail_at + 4].copy_from_slice(b"TAIL");
    body.extend_from_slice(&giant);
    body.extend_from_slice(b"\r\nthree HEAD TAIL\n");
    let p = write(d.path(), "giant.log", &body);
    let e = exp(&p);
    let r = search(&e, &q("HEAD"), &never()).unwrap();
    assert_eq!(
        r.matches.iter().map(|m| m.line).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(r.matches[2].text, "three HEAD TAIL");
    assert!(
        r.warnings.iter().any(|w| w.contains("longer than 8 MiB")),
        "{:?}",
        r.warnings
    );
    // The part after the first 8 MiB is not searched: only line 3 has TAIL for the scan.
    assert_eq!(count(&e, &q("TAIL"), &never()).unwrap().count, 1);
    // The marker names the whole line's length, not the searched prefix's (issue 11.9).
    assert!(
        r.matches[1]
            .text
            .ends_with(&line::truncation_marker(giant.len())),
        "{}",
        &r.matches[1].text[r.matches[1].text.len() - 60..]
    );
    // Also when the over-long line is the file's last and has no terminator, and for `tail`.
    let p2 = write(d.path(), "giant-last.log", &body[..9 + giant.len()]);
    let r2 = search(&exp(&p2), &q("HEAD"), &never()).unwrap();
    assert!(
        r2.matches[1]
            .text
            .ends_with(&line::truncation_marker(giant.len())),
        "{:?}",
        r2.matches.len()
    );
    let t = tail(&exp(&p2), 1, None, &never()).unwrap();
    assert!(t.lines[0].ends_with(&line::truncation_marker(giant.len())));
}

#[test]
fn half_written_last_json_line_is_skipped_not_matched() {
    let d = TempDir::new().unwrap();
    let mut body = String::new();
    body += &winston("info", "GET /api/x 200 5ms", "2026-11-29T09:00:00.000Z");
    body += &winston(
        "error",
        "请求失败 GET /api/pages/4048: JWT expired",
        "2026-11-29T09:00:01.000Z",
    );
    body += "{\"level\":\"error\",\"message\":\"请求失败 GET /api/pages/17: JWT exp";
    let p = write(d.path(), "combined.log", body.as_bytes());
    let e = exp(&p);
    let r = search(&e, &q("请求失败"), &never()).unwrap();
    assert_eq!((r.total, r.skipped), (1, 1));
    assert_eq!(r.matches[0].json.as_ref().unwrap()["level"], "error");
    assert_eq!(count(&e, &q("请求失败"), &never()).unwrap().count, 1);
    // The half line is still shown by a plain tail (it is what the file holds).
    let t = tail(&e, 1, None, &never()).unwrap();
    assert!(t.lines[0].ends_with("JWT exp"));
}

#[test]
fn fragment_at_start_of_next_rotated_file_is_skipped() {
    let d = TempDir::new().unwrap();
    let mut old = winston("error", "boom 1", "2026-11-28T23:59:59.000Z");
    old += "{\"level\":\"error\",\"mess";
    let mut new = String::from("age\":\"boom 2\",\"timestamp\":\"2026-11-29T00:00:00.000Z\"}\n");
    new += &winston("error", "boom 3", "2026-11-29T00:00:01.000Z");
    new += &winston("info", "ok", "2026-11-29T00:00:02.000Z");
    write(d.path(), "combined.log.1", old.as_bytes());
    write(d.path(), "combined.log", new.as_bytes());
    let e = glob(d.path(), "combined.log*");
    let r = search(&e, &q("boom"), &never()).unwrap();
    assert_eq!(texts(&r).len(), 2);
    assert!(r.matches[0].text.contains("boom 1") && r.matches[1].text.contains("boom 3"));
    assert_eq!(r.matches[1].line, 2);
    assert_eq!(r.skipped, 1, "the fragment matched 'boom' and was skipped");
    let mut lq = q("");
    lq.levels = vec!["error".into()];
    // Only lines that mention the level are looked at: the fragment does not, the half line does.
    let c = count(&e, &lq, &never()).unwrap();
    assert_eq!((c.count, c.skipped), (2, 1));
}

fn seq_lines(tag: &str, n: usize) -> String {
    (0..n).map(|i| format!("{tag} line {i}\n")).collect()
}

#[test]
fn rotated_sets_with_mixed_gzip_are_read_oldest_first() {
    let d = TempDir::new().unwrap();
    // logrotate numbering
    write(d.path(), "combined.log", b"seq 5 live\n");
    write(d.path(), "combined.log.1", b"seq 4\n");
    write(d.path(), "combined.log.2.gz", &gzip(b"seq 3\n"));
    write(d.path(), "combined.log.3.gz", &gzip(b"seq 2\n"));
    // winston-daily-rotate-file, with a size-rotated piece on the 28th
    write(d.path(), "combined-2026-11-27.log.gz", &gzip(b"seq 0\n"));
    write(d.path(), "combined-2026-11-28.log.gz", &gzip(b"seq 1a\n"));
    write(d.path(), "combined-2026-11-28.log.1.gz", &gzip(b"seq 1b\n"));
    write(d.path(), "combined-2026-11-29.log", b"seq 1c today\n");
    let e = glob(d.path(), "combined*.log*");
    let r = search(&e, &q("seq"), &never()).unwrap();
    assert_eq!(
        texts(&r),
        [
            "seq 0",
            "seq 1a",
            "seq 1b",
            "seq 1c today",
            "seq 2",
            "seq 3",
            "seq 4",
            "seq 5 live"
        ],
        "sets by name (combined-DATE → combined.log), each oldest first"
    );
    let names: Vec<String> = files(&e)
        .iter()
        .map(|f| f.path.rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(names[0], "combined-2026-11-27.log.gz");
    assert_eq!(names[7], "combined.log");
    let t = tail(&e, 3, None, &never()).unwrap();
    assert_eq!(t.lines, ["seq 3", "seq 4", "seq 5 live"]);
}

#[test]
fn multi_member_gzip_is_read_to_the_end() {
    let d = TempDir::new().unwrap();
    let mut bytes = gzip(seq_lines("a", 100).as_bytes());
    bytes.extend(gzip(seq_lines("b", 100).as_bytes()));
    let p = write(d.path(), "app.log.1.gz", &bytes);
    let e = exp(&p);
    assert_eq!(count(&e, &q("line"), &never()).unwrap().count, 200);
    let r = search(&e, &q("b line 99"), &never()).unwrap();
    assert_eq!(r.matches[0].line, 200);
    assert_eq!(tail(&e, 1, None, &never()).unwrap().lines, ["b line 99"]);
}

#[test]
fn truncated_gzip_yields_the_lines_before_the_damage_and_a_warning() {
    let d = TempDir::new().unwrap();
    // Varied text so the deflate stream has several blocks worth of data.
    let body: String = (0..40_000)
        .map(|i| {
            format!(
                "{{\"n\":{i},\"h\":\"{:x}\"}}\n",
                (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            )
        })
        .collect();
    let full = gzip(body.as_bytes());
    let p = write(d.path(), "cut.log.gz", &full[..full.len() / 2]);
    let e = exp(&p);
    let r = search(&e, &q(""), &never()).unwrap();
    assert!(r.total > 1000 && r.total < 40_000, "got {}", r.total);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("truncated or corrupt")),
        "{:?}",
        r.warnings
    );
    // Every returned line is complete and in order.
    let c = count(&e, &q("\"n\":"), &never()).unwrap();
    assert_eq!(c.count, r.total);
    assert_eq!(c.skipped, 0);
    let mut lq = q("");
    lq.limit = usize::MAX;
    let all = search(&e, &lq, &never()).unwrap();
    for (i, m) in all.matches.iter().enumerate() {
        assert_eq!(m.json.as_ref().unwrap()["n"], i as u64);
        assert_eq!(m.line, i as u64 + 1);
    }
}

#[test]
fn gzip_is_detected_by_content_not_name() {
    let d = TempDir::new().unwrap();
    let gz_named_log = write(d.path(), "a.log", &gzip(b"zipped x\n"));
    let plain_named_gz = write(d.path(), "b.log.gz", b"plain x\n");
    assert_eq!(
        texts(&search(&exp(&gz_named_log), &q("x"), &never()).unwrap()),
        ["zipped x"]
    );
    assert_eq!(
        texts(&search(&exp(&plain_named_gz), &q("x"), &never()).unwrap()),
        ["plain x"]
    );
}

#[test]
fn parallel_ranges_give_the_same_answers_as_one_pass() {
    let d = TempDir::new().unwrap();
    let mut body = String::new();
    for i in 0..5000 {
        let end = match i % 3 {
            0 => "\n",
            1 => "\r\n",
            _ => "\r",
        };
        body += &format!(
            "{} {i} {}{end}",
            if i % 7 == 0 { "HIT" } else { "miss" },
            "pad".repeat(i % 11)
        );
    }
    let p = write(d.path(), "big.log", body.as_bytes());
    let e = exp(&p);
    let plan = build_plan("t", &q("HIT"), Extra::default()).unwrap();
    let mut w = Vec::new();
    let one = plan_units(&e.files, 1, &mut w);
    assert_eq!(one.len(), 1);
    let many = scan::plan_units_with(&e.files, 4, 2048, None, &mut w);
    assert!(many.len() >= 8, "{} units", many.len());
    for pair in many.windows(2) {
        assert_eq!(pair[0].end, pair[1].start);
    }
    let run = |units: &[Unit]| {
        let outs = run_units(
            units,
            &plan,
            || KeepSink::new(usize::MAX, false, true),
            &never(),
        )
        .unwrap();
        let mut base = 0;
        let mut got = Vec::new();
        for o in outs {
            for k in o.sink.kept {
                got.push((base + k.line_no, k.text()));
            }
            base += o.lines;
        }
        got
    };
    let a = run(&one);
    let b = run(&many);
    assert_eq!(a.len(), (0..5000).filter(|i| i % 7 == 0).count());
    assert_eq!(a, b);
    assert_eq!(a[1], (8, format!("HIT 7 {}", "pad".repeat(7))));
}

#[test]
fn level_time_and_field_filters_on_json_and_plain_text() {
    let d = TempDir::new().unwrap();
    let mut j = String::new();
    j += &winston("info", "GET /api/x 200 5ms", "2026-11-28T10:00:00.000Z");
    j += &winston(
        "warn",
        "慢请求 GET /api/x 1234ms",
        "2026-11-29T08:00:00.000Z",
    );
    j += &winston(
        "error",
        "请求失败 GET /api/pages/4048: JWT expired",
        "2026-11-29T09:00:00.000Z",
    );
    j += "{\"level\":\"error\",\"message\":\"say \\\"hi\\\" error\",\"timestamp\":\"2026-11-29T09:30:00Z\",\"status\":500}\n";
    let jp = write(d.path(), "app.json.log", j.as_bytes());
    let plain = "2026-11-28 10:00:00 [INFO] started\n\
                 2026-11-29T08:00:00Z [WARN] disk 91% path=/srv status=507\n\
                 2026-11-29T09:00:00Z ERROR request failed status=500 url=\"/api/a b\"\n\
                 \tat stack frame without time\n";
    let pp = write(d.path(), "app.txt.log", plain.as_bytes());
    let (je, pe) = (exp(&jp), exp(&pp));
    let since = filter::parse_timestamp("2026-11-29T00:00:00Z").unwrap();
    let until = filter::parse_timestamp("2026-11-29T09:00:00Z").unwrap();

    let mut lq = q("");
    lq.levels = vec!["error".into()];
    assert_eq!(count(&je, &lq, &never()).unwrap().count, 2);
    assert_eq!(count(&pe, &lq, &never()).unwrap().count, 1);
    lq.levels = vec!["WARNING".into(), "error".into()];
    assert_eq!(count(&je, &lq, &never()).unwrap().count, 3);

    let mut tq = q("");
    tq.since_ms = Some(since);
    tq.until_ms = Some(until);
    let r = search(&je, &tq, &never()).unwrap();
    assert_eq!((r.total, r.matches[0].line), (1, 2));
    let r = search(&pe, &tq, &never()).unwrap();
    assert_eq!(
        texts(&r),
        ["2026-11-29T08:00:00Z [WARN] disk 91% path=/srv status=507"]
    );
    assert_eq!(r.skipped, 1, "the stack line has no time");

    let mut fq = q("say \"hi\"");
    fq.field = Some("message".into());
    assert_eq!(
        count(&je, &fq, &never()).unwrap().count,
        1,
        "escaped quotes in the field value"
    );
    let mut fq = q("500");
    fq.field = Some("status".into());
    assert_eq!(count(&je, &fq, &never()).unwrap().count, 1, "numeric field");
    assert_eq!(count(&pe, &fq, &never()).unwrap().count, 1, "logfmt field");
    let mut fq = q("^/api/a b$");
    fq.regex = true;
    fq.field = Some("url".into());
    assert_eq!(
        count(&pe, &fq, &never()).unwrap().count,
        1,
        "quoted logfmt value"
    );
    let mut fq = q("GET");
    fq.field = Some("service".into());
    assert_eq!(
        count(&je, &fq, &never()).unwrap().count,
        0,
        "pattern applies to the field, not the line"
    );

    let mut iq = q("jwt EXPIRED");
    iq.ignore_case = true;
    assert_eq!(count(&je, &iq, &never()).unwrap().count, 1);
}

#[test]
fn top_groups_by_fingerprint_message_and_field() {
    let d = TempDir::new().unwrap();
    let mut j = String::new();
    for id in [4048, 17, 99, 5] {
        j += &winston(
            "error",
            &format!("请求失败 GET /api/pages/{id}: JWT expired"),
            "2026-11-29T09:00:00.000Z",
        );
    }
    j += &winston(
        "error",
        "数据库连接失败 ECONNREFUSED 127.0.0.1:5432",
        "2026-11-29T09:00:01.000Z",
    );
    j += &winston(
        "error",
        "数据库连接失败 ECONNREFUSED 10.0.0.2:5432",
        "2026-11-29T09:00:02.000Z",
    );
    j += &winston("info", "GET /api/x 200 5ms", "2026-11-29T09:00:03.000Z");
    let p = write(d.path(), "error.log", j.as_bytes());
    let e = exp(&p);
    let mut lq = q("");
    lq.levels = vec!["error".into()];
    let t = top(&e, &lq, &TopBy::Fingerprint, &never()).unwrap();
    assert_eq!(
        t.entries,
        [
            TopEntry {
                key: "请求失败 GET /api/pages/<n>: JWT expired".into(),
                count: 4,
                sample: "请求失败 GET /api/pages/4048: JWT expired".into()
            },
            TopEntry {
                key: "数据库连接失败 ECONNREFUSED <ip>".into(),
                count: 2,
                sample: "数据库连接失败 ECONNREFUSED 127.0.0.1:5432".into()
            },
        ]
    );
    assert_eq!(t.total, 6);
    let t = top(&e, &q("ECONNREFUSED"), &TopBy::Message, &never()).unwrap();
    assert_eq!(t.entries.len(), 2);
    let t = top(&e, &q(""), &TopBy::parse("level"), &never()).unwrap();
    assert_eq!(
        (t.entries[0].key.as_str(), t.entries[0].count),
        ("error", 6)
    );
    assert_eq!((t.entries[1].key.as_str(), t.entries[1].count), ("info", 1));
    let mut one = lq.clone();
    one.limit = 1;
    assert_eq!(
        top(&e, &one, &TopBy::Fingerprint, &never())
            .unwrap()
            .entries
            .len(),
        1
    );
}

#[test]
fn stats_of_slow_requests_are_exact() {
    let d = TempDir::new().unwrap();
    let mut j = String::new();
    let mut want = Vec::new();
    for i in 1..=200u32 {
        if i % 2 == 0 {
            let ms = 1000 + (i * 37) % 900;
            want.push(ms as f64);
            j += &winston(
                "warn",
                &format!("慢请求 GET /api/x {ms}ms"),
                "2026-11-29T09:00:00.000Z",
            );
        } else {
            j += &winston(
                "info",
                &format!("GET /api/y 200 {i}ms"),
                "2026-11-29T09:00:00.000Z",
            );
        }
    }
    let p = write(d.path(), "combined.log", j.as_bytes());
    let s = stats(&exp(&p), &q("慢请求"), r"(\d+)ms", &never()).unwrap();
    want.sort_by(f64::total_cmp);
    let rank = |p: f64| want[((p / 100.0 * want.len() as f64).ceil() as usize).max(1) - 1];
    assert_eq!(s.summary.count, 100);
    assert_eq!(s.summary.min, want[0]);
    assert_eq!(s.summary.max, want[99]);
    assert_eq!(
        (s.summary.p50, s.summary.p95, s.summary.p99),
        (rank(50.0), rank(95.0), rank(99.0))
    );
    assert!((s.summary.avg - want.iter().sum::<f64>() / 100.0).abs() < 1e-9);
    assert_eq!(s.unmatched, 0);
    let s = stats(&exp(&p), &q("慢请求"), r"(\d+)s\b", &never()).unwrap();
    assert_eq!((s.summary.count, s.unmatched), (0, 100));
}

#[test]
fn tail_reads_backwards_across_windows_and_files() {
    let d = TempDir::new().unwrap();
    write(d.path(), "app.log.1", seq_lines("old", 10).as_bytes());
    // ~1.5 MiB so several backward windows are needed for a long tail.
    write(d.path(), "app.log", seq_lines("new", 100_000).as_bytes());
    let e = glob(d.path(), "app.log*");
    let t = tail(&e, 3, None, &never()).unwrap();
    assert_eq!(
        t.lines,
        ["new line 99997", "new line 99998", "new line 99999"]
    );
    let t = tail(&e, 100_005, None, &never()).unwrap();
    assert_eq!(t.lines.len(), 100_005);
    assert_eq!(t.lines[0], "old line 5");
    assert_eq!(t.lines[5], "new line 0");
    for (i, l) in t.lines[5..].iter().enumerate() {
        assert_eq!(*l, format!("new line {i}"));
    }
    let mut fq = q("line 9999");
    fq.limit = 1;
    let t = tail(&e, 2, Some(&fq), &never()).unwrap();
    assert_eq!(t.lines, ["new line 99998", "new line 99999"]);
}

#[test]
fn missing_paths_empty_globs_and_cancellation() {
    let d = TempDir::new().unwrap();
    assert!(matches!(
        expand(d.path().join("nope.log").to_str().unwrap()),
        Err(Error::Io { .. })
    ));
    assert!(matches!(
        expand(d.path().to_str().unwrap()),
        Err(Error::Usage(_))
    ));
    let fifo = d.path().join("pipe.log");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    assert!(
        matches!(expand(fifo.to_str().unwrap()), Err(Error::Usage(_))),
        "a FIFO would block"
    );
    assert!(
        glob(d.path(), "*.log").files.is_empty(),
        "globs list regular files only"
    );
    std::fs::remove_file(&fifo).unwrap();
    let e = glob(d.path(), "*.log");
    assert!(e.files.is_empty() && e.warnings[0].contains("no file matches"));
    assert_eq!(count(&e, &q("x"), &never()).unwrap().count, 0);
    let p = write(d.path(), "a.log", b"x\n");
    let c = Cancel::never();
    c.cancel();
    assert!(matches!(
        count(&exp(&p), &q("x"), &c),
        Err(Error::Interrupted)
    ));
    let mut bad = q("(");
    bad.regex = true;
    assert!(matches!(
        count(&exp(&p), &bad, &never()),
        Err(Error::Usage(_))
    ));
}

#[test]
fn search_limit_truncates_but_total_counts_everything() {
    let d = TempDir::new().unwrap();
    let p = write(d.path(), "a.log", seq_lines("x", 50).as_bytes());
    let mut lq = q("line");
    lq.limit = 3;
    let r = search(&exp(&p), &lq, &never()).unwrap();
    assert_eq!((r.matches.len(), r.total, r.truncated), (3, 50, true));
    assert_eq!(r.matches[2].text, "x line 2");
    assert!(r.matches[0].json.is_none());
}

fn set_age(p: &Path, age: Duration) {
    let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

#[test]
fn cleanup_deletes_or_compresses_old_files_only() {
    let d = TempDir::new().unwrap();
    let day = Duration::from_secs(86_400);
    let old1 = write(
        d.path(),
        "combined.log.3",
        seq_lines("old", 2000).as_bytes(),
    );
    let old2 = write(d.path(), "combined.log.2.gz", &gzip(b"older\n"));
    let fresh = write(d.path(), "combined.log", b"live\n");
    let other = write(d.path(), "notes.txt", b"keep\n");
    set_age(&old1, 10 * day);
    set_age(&old2, 20 * day);
    set_age(&other, 30 * day);
    std::os::unix::fs::symlink(&old1, d.path().join("link.log")).unwrap();

    // Compress: only the old uncompressed log.
    let items = cleanup::plan(d.path(), "*.log*", 7 * day, true, SystemTime::now()).unwrap();
    assert_eq!(
        items.iter().map(|i| i.path.clone()).collect::<Vec<_>>(),
        std::slice::from_ref(&old1)
    );
    let before = std::fs::metadata(&old1).unwrap().modified().unwrap();
    let out = cleanup::apply(&items, &never()).unwrap();
    assert_eq!((out.compressed, out.removed), (1, 0));
    assert!(out.bytes_freed > 0 && out.failed.is_empty());
    assert!(!old1.exists());
    let gz = d.path().join("combined.log.3.gz");
    assert_eq!(
        std::fs::metadata(&gz).unwrap().modified().unwrap(),
        before,
        "mtime kept"
    );
    assert_eq!(
        count(&exp(&gz), &q("old line"), &never()).unwrap().count,
        2000
    );

    // Delete: both old logs (the new .gz kept the old mtime), not the live one nor notes.txt.
    let items =
        cleanup::plan(d.path(), "combined.log*", 7 * day, false, SystemTime::now()).unwrap();
    assert_eq!(items.len(), 2);
    let out = cleanup::apply(&items, &never()).unwrap();
    assert_eq!(out.removed, 2);
    assert!(!gz.exists() && !old2.exists() && fresh.exists() && other.exists());

    // A file changed after planning is left alone and reported.
    let late = write(d.path(), "late.log", b"a\n");
    set_age(&late, 9 * day);
    let items = cleanup::plan(d.path(), "late.log", 7 * day, false, SystemTime::now()).unwrap();
    std::fs::write(&late, b"a\nb\n").unwrap();
    let out = cleanup::apply(&items, &never()).unwrap();
    assert_eq!((out.removed, out.failed.len()), (0, 1));
    assert!(late.exists());
    assert!(cleanup::plan(d.path(), "[", day, false, SystemTime::now()).is_err());
}

#[test]
fn pino_numeric_levels_epoch_times_and_msg_keys() {
    let d = TempDir::new().unwrap();
    let t0 = filter::parse_timestamp("2026-11-29T09:00:00Z").unwrap();
    let mut body = String::new();
    for (i, (lvl, msg)) in [
        (30, "listening"),
        (50, "db down 1"),
        (40, "slow"),
        (50, "db down 2"),
        (60, "fatal x"),
    ]
    .iter()
    .enumerate()
    {
        body += &format!(
            "{{\"level\":{lvl},\"time\":{},\"pid\":1,\"msg\":\"{msg}\"}}\n",
            t0 + i as i64 * 1000
        );
    }
    let p = write(d.path(), "pino.log", body.as_bytes());
    let e = exp(&p);
    let mut lq = q("");
    lq.levels = vec!["error".into()];
    assert_eq!(count(&e, &lq, &never()).unwrap().count, 2);
    let mut pq = q("db down");
    pq.levels = vec!["error".into(), "fatal".into()];
    assert_eq!(count(&e, &pq, &never()).unwrap().count, 2);
    let t = top(&e, &lq, &TopBy::Fingerprint, &never()).unwrap();
    assert_eq!(
        (t.entries[0].key.as_str(), t.entries[0].count),
        ("db down <n>", 2)
    );
    let mut tq = q("");
    tq.since_ms = Some(t0 + 2000);
    assert_eq!(count(&e, &tq, &never()).unwrap().count, 3);
}

// ---- time windows by bisection (issue 14.1) ----

const T0: i64 = 1_795_910_400_000; // 2026-11-29T00:00:00Z

/// RFC 3339 of `ms` with the zone `offset_min` minutes east of UTC (`Z` for 0).
fn ts(ms: i64, offset_min: i32) -> String {
    use chrono::{FixedOffset, TimeZone, Utc};
    let utc = Utc.timestamp_millis_opt(ms).unwrap();
    if offset_min == 0 {
        utc.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    } else {
        utc.with_timezone(&FixedOffset::east_opt(offset_min * 60).unwrap())
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
    }
}

/// `n` Winston lines one second apart from `start_ms`; every 10th an error.
fn timed_lines(start_ms: i64, n: usize, offset_min: i32) -> (String, Vec<(i64, bool)>) {
    let mut body = String::new();
    let mut meta = Vec::new();
    for k in 0..n {
        let t = start_ms + k as i64 * 1000;
        let err = k % 10 == 0;
        let level = if err { "error" } else { "info" };
        body += &winston(
            level,
            &format!("GET /api/{k} from 10.0.0.{}", k % 7),
            &ts(t, offset_min),
        );
        meta.push((t, err));
    }
    (body, meta)
}

fn window_q(since: Option<i64>, until: Option<i64>, level: Option<&str>) -> Query {
    Query {
        since_ms: since,
        until_ms: until,
        levels: level.map(|l| vec![l.to_string()]).unwrap_or_default(),
        limit: 100_000,
        ..Query::default()
    }
}

/// The answers a full scan must give, counted here line by line.
fn expected(
    meta: &[(i64, bool)],
    since: Option<i64>,
    until: Option<i64>,
    errors: bool,
) -> Vec<u64> {
    meta.iter()
        .enumerate()
        .filter(|(_, (t, e))| {
            since.is_none_or(|s| *t >= s) && until.is_none_or(|u| *t < u) && (!errors || *e)
        })
        .map(|(i, _)| i as u64 + 1)
        .collect()
}

#[test]
fn window_queries_on_a_sorted_log_equal_a_full_scan_and_read_only_the_window() {
    let d = TempDir::new().unwrap();
    for offset in [0, 120, -330] {
        let (body, meta) = timed_lines(T0, 20_000, offset);
        let p = write(d.path(), &format!("app-{offset}.log"), body.as_bytes());
        let e = exp(&p);
        let last = T0 + 19_999 * 1000;
        let cases = [
            (Some(T0 + 19_000 * 1000), None),
            (Some(T0 + 5_000 * 1000 + 500), Some(T0 + 6_000 * 1000)),
            (None, Some(T0 + 1_234 * 1000)),
            (Some(T0 - 3_600_000), None), // before the first line
            (Some(last + 1), None),       // after the last line
            (Some(T0 - 7_200_000), Some(T0 - 1)), // ends before the first line
        ];
        for (since, until) in cases {
            let want = expected(&meta, since, until, false);
            let r = search(&e, &window_q(since, until, None), &never()).unwrap();
            let got: Vec<u64> = r.matches.iter().map(|m| m.line).collect();
            assert_eq!(got, want, "offset {offset} since {since:?} until {until:?}");
            assert!(r.warnings.is_empty(), "{:?}", r.warnings);
            let errs = expected(&meta, since, until, true);
            let c = count(&e, &window_q(since, until, Some("error")), &never()).unwrap();
            assert_eq!(c.count, errs.len() as u64);
            let t = top(
                &e,
                &window_q(since, until, None),
                &TopBy::Field("message".into()),
                &never(),
            )
            .unwrap();
            assert_eq!(t.total, want.len() as u64);
        }
        // The last-1000-seconds window starts near the end: bisection skipped the rest.
        let (spans, notes) = window::narrow(
            &e.files,
            &[false],
            &[Some(true)],
            filter::TimeRange {
                since_ms: Some(T0 + 19_000 * 1000),
                until_ms: None,
            },
        );
        assert!(notes.is_empty(), "{notes:?}");
        let s = spans[0].unwrap();
        let size = e.files[0].size;
        assert!(s.start > size * 9 / 10 && s.start < size, "{s:?} of {size}");
    }
}

#[test]
fn out_of_order_lines_fall_back_to_a_full_scan_with_a_warning() {
    let d = TempDir::new().unwrap();
    let (body, mut meta) = timed_lines(T0, 20_000, 0);
    let mut lines: Vec<String> = body.lines().map(|l| format!("{l}\n")).collect();
    // A few lines written an hour late, near the end (inside the window).
    for k in [19_500usize, 19_700] {
        let t = T0 - 3_600_000;
        lines[k] = winston("error", "late line", &ts(t, 0));
        meta[k] = (t, true);
    }
    let p = write(d.path(), "late.log", lines.concat().as_bytes());
    let e = exp(&p);
    let since = Some(T0 + 19_000 * 1000);
    let r = search(&e, &window_q(since, None, None), &never()).unwrap();
    let got: Vec<u64> = r.matches.iter().map(|m| m.line).collect();
    assert_eq!(got, expected(&meta, since, None, false));
    assert!(
        r.warnings.iter().any(|w| w.contains("read in full")),
        "{:?}",
        r.warnings
    );
    let c = count(&e, &window_q(since, None, Some("error")), &never()).unwrap();
    assert_eq!(c.count, expected(&meta, since, None, true).len() as u64);
}

#[test]
fn rotated_sets_mixing_plain_and_gzip_skip_whole_files_by_first_line() {
    let d = TempDir::new().unwrap();
    let day = 86_400_000;
    let mut all_meta = Vec::new();
    let names = [
        "combined.log.3.gz",
        "combined.log.2.gz",
        "combined.log.1",
        "combined.log",
    ];
    for (i, name) in names.iter().enumerate() {
        let (body, meta) = timed_lines(T0 + i as i64 * day, 3_000, 0);
        let bytes = if name.ends_with(".gz") {
            gzip(body.as_bytes())
        } else {
            body.into_bytes()
        };
        write(d.path(), name, &bytes);
        all_meta.push(meta);
    }
    let e = glob(d.path(), "combined.log*");
    assert_eq!(e.files.len(), 4);
    let range = |since: Option<i64>, until: Option<i64>| filter::TimeRange {
        since_ms: since,
        until_ms: until,
    };
    let gz = [true, true, false, false];
    let json = [None, None, Some(true), Some(true)];
    // The last day: both gzip files and all of `.1` but its tail are skipped.
    let since = Some(T0 + 3 * day + 600_000);
    let (spans, _) = window::narrow(&e.files, &gz, &json, range(since, None));
    assert_eq!((spans[0], spans[1]), (None, None), "{spans:?}");
    let flat: Vec<(i64, bool)> = all_meta.concat();
    for (since, until) in [
        (since, None),
        (Some(T0 + day + 1_000_000), Some(T0 + 2 * day + 5_000)),
        (None, Some(T0 + 500_000)),
        (Some(T0 - day), None),
        (Some(T0 + 10 * day), None),
    ] {
        let c = count(&e, &window_q(since, until, None), &never()).unwrap();
        let want = expected(&flat, since, until, false).len() as u64;
        assert_eq!(c.count, want, "since {since:?} until {until:?}");
        let s = search(&e, &window_q(since, until, Some("error")), &never()).unwrap();
        assert_eq!(s.total, expected(&flat, since, until, true).len() as u64);
        // Line numbers stay those of each file, also when the window starts mid-file.
        for m in &s.matches {
            assert_eq!((m.line - 1) % 10, 0, "{} {}", m.file, m.line);
        }
    }
    // `until` before the newest file's first line skips it.
    let (spans, _) = window::narrow(&e.files, &gz, &json, range(None, Some(T0 + 2 * day - 5000)));
    assert_eq!((spans[2], spans[3]), (None, None));
    assert!(spans[1].is_some());
}

#[test]
fn plain_text_logs_are_bisected_too() {
    let d = TempDir::new().unwrap();
    let mut body = String::new();
    for k in 0..20_000i64 {
        body += &format!("{} INFO worker {k} done\n", ts(T0 + k * 1000, 60));
    }
    let p = write(d.path(), "plain.log", body.as_bytes());
    let e = exp(&p);
    let since = Some(T0 + 15_000 * 1000);
    let r = search(&e, &window_q(since, None, None), &never()).unwrap();
    assert_eq!(r.total, 5_000);
    assert_eq!(r.matches[0].line, 15_001);
    assert!(r.matches[0].text.contains("worker 15000 done"));
}

// ---- property tests over log-line parsing (issue 11 acceptance) ----

mod lines_prop {
    use super::*;
    use proptest::prelude::*;

    /// Line pieces that exercise the parsers: JSON fragments, timestamps with and without
    /// zones, levels, escapes, terminators, NUL, invalid UTF-8, BOMs.
    fn piece() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"{".to_vec()),
            Just(b"}".to_vec()),
            Just(b"\"timestamp\":\"2026-11-29T09:00:00.123+02:00\"".to_vec()),
            Just(b"\"time\":1795910400".to_vec()),
            Just(b"\"level\":\"error\"".to_vec()),
            Just(b"\"level\":50".to_vec()),
            Just(b"\"message\":\"a\\\"b\\u00e9\"".to_vec()),
            Just(b",".to_vec()),
            Just(b"2026-11-29 09:00:00,5 ERROR ".to_vec()),
            Just(b"2026-02-30T25:61:61Z".to_vec()),
            Just(b"[WARN] ".to_vec()),
            Just(b"ip=10.0.0.1 ".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\xEF\xBB\xBF".to_vec()),
            Just(b"\0\xff\xfe".to_vec()),
            prop::collection::vec(any::<u8>(), 0..12),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any bytes: every operation answers (no panic, no error), `count` agrees with
        /// `search`'s total, line numbers are within the file, and every warning names the file.
        #[test]
        fn any_log_bytes_scan_without_panic(pieces in prop::collection::vec(piece(), 0..60), since in any::<bool>()) {
            let d = TempDir::new().unwrap();
            let body: Vec<u8> = pieces.concat();
            let p = write(d.path(), "p.log", &body);
            let e = exp(&p);
            let mut q = Query::new("");
            q.limit = 100_000;
            if since {
                q.since_ms = Some(T0);
                q.levels = vec!["error".into()];
            }
            let s = search(&e, &q, &never()).unwrap();
            let c = count(&e, &q, &never()).unwrap();
            prop_assert_eq!(s.total, c.count);
            let lines = body.iter().filter(|&&b| b == b'\n' || b == b'\r').count() as u64 + 1;
            prop_assert!(s.matches.iter().all(|m| m.line >= 1 && m.line <= lines));
            let t = top(&e, &q, &TopBy::Field("ip".into()), &never()).unwrap();
            // `top` by a field parses each JSON line; `count` only checks its braces: a line
            // that is braced but not JSON moves from counted to skipped, nothing is lost.
            prop_assert_eq!(t.total + t.skipped, c.count + c.skipped);
            let st = stats(&e, &q, r"(\d+)", &never()).unwrap();
            prop_assert_eq!(st.summary.count + st.unmatched, c.count);
            let name = p.display().to_string();
            for w in s.warnings.iter().chain(&c.warnings) {
                prop_assert!(w.contains(&name), "{}", w);
            }
            let _ = tail(&e, 5, Some(&q), &never()).unwrap();
        }
    }
}

#[test]
fn the_timestamp_member_is_read_without_parsing_and_falls_back_when_unsure() {
    use scan::quick_json_time;
    let l = br#"{"level":"info","message":"x","timestamp":"2026-11-29T01:00:00.000+01:00"}"#;
    assert_eq!(quick_json_time(l), Some(T0));
    // An escape inside the value, or two members named so: the parser decides.
    assert_eq!(
        quick_json_time(br#"{"timestamp":"2026-11-29T00:00:00\u005a"}"#),
        None
    );
    assert_eq!(
        quick_json_time(
            br#"{"a":{"timestamp":"2026-11-28T00:00:00Z"},"timestamp":"2026-11-29T00:00:00Z"}"#
        ),
        None
    );
    assert_eq!(quick_json_time(br#"{"timestamp":1795910400000}"#), None);
    // Same answers through a window query either way.
    let d = TempDir::new().unwrap();
    let body = [
        winston("info", "a", "2026-11-28T23:59:59.000Z"),
        winston("info", "b", "2026-11-29T00:00:00.000Z"),
        "{\"message\":\"c\",\"timestamp\":\"2026-11-29T00:00:00\\u005a\"}\n".to_string(),
        "{\"message\":\"d\",\"time\":1795910400}\n".to_string(),
    ]
    .concat();
    let p = write(d.path(), "q.log", body.as_bytes());
    let r = search(&exp(&p), &window_q(Some(T0), None, None), &never()).unwrap();
    assert_eq!(
        r.matches.iter().map(|m| m.line).collect::<Vec<_>>(),
        [2, 3, 4]
    );
}

#[test]
fn cached_second_gives_the_same_times_as_a_full_parse() {
    use scan::{TimeCache, quick_json_time, quick_json_time_cached};
    let values = [
        "2026-11-29T09:00:00.001Z",
        "2026-11-29T09:00:00.999Z",
        "2026-11-29T09:00:00Z",
        "2026-11-29T09:00:00.5Z",
        "2026-11-29T09:00:00.123456789Z",
        "2026-11-29T09:00:00.1234567891Z",
        "2026-11-29T09:00:00.250+02:00",
        "2026-11-29T09:00:00.250-05:30",
        "2026-11-29T09:00:00.250+0200",
        "2026-11-29T09:00:00.250",
        "2026-11-29 09:00:00,250Z",
        "2026-11-29T09:00:00.250Z ",
        "2026-11-29T09:00:01.000Z",
        "2026-11-29T09:00:60.100Z",
        "2026-11-29T09:00-01:00",
        "2026-11-29T09:00-01.5:00",
        "2026-11-29T09:00:00.Z",
        "2026-11-29T09:00:00.250Zjunk",
        " 2026-11-29T09:00:00.250Z",
        "1969-12-31T23:59:59.750Z",
        "1969-12-31T23:59:59.250Z",
    ];
    let mut cache = TimeCache::default();
    // Every value after every other one: a hit on a stale cache must still be exact.
    for a in values {
        for b in values {
            for v in [a, b] {
                let line = format!(r#"{{"level":"info","message":"m","timestamp":"{v}"}}"#);
                assert_eq!(
                    quick_json_time_cached(line.as_bytes(), &mut cache),
                    quick_json_time(line.as_bytes()),
                    "{v} after {a}"
                );
            }
        }
    }
}

#[test]
fn files_inside_the_window_skip_the_per_line_check_and_equal_a_full_scan() {
    let d = TempDir::new().unwrap();
    let day = 86_400_000;
    let mut all_meta = Vec::new();
    let names = ["combined.log.2.gz", "combined.log.1", "combined.log"];
    for (i, name) in names.iter().enumerate() {
        let (body, meta) = timed_lines(T0 + i as i64 * day, 20_000, 0);
        let bytes = if name.ends_with(".gz") {
            gzip(body.as_bytes())
        } else {
            body.into_bytes()
        };
        write(d.path(), name, &bytes);
        all_meta.push(meta);
    }
    let e = glob(d.path(), "combined.log*");
    let flat: Vec<(i64, bool)> = all_meta.concat();
    let wide = (Some(T0 - day), Some(T0 + 10 * day));
    let (spans, notes) = window::narrow(
        &e.files,
        &[true, false, false],
        &[None, Some(true), Some(true)],
        filter::TimeRange {
            since_ms: wide.0,
            until_ms: wide.1,
        },
    );
    assert!(notes.is_empty(), "{notes:?}");
    assert!(
        spans.iter().all(|s| s.is_some_and(|s| s.inside)),
        "{spans:?}"
    );
    // `until` inside the newest file: that one is not inside, the older ones are.
    let (spans, _) = window::narrow(
        &e.files,
        &[true, false, false],
        &[None, Some(true), Some(true)],
        filter::TimeRange {
            since_ms: Some(T0),
            until_ms: Some(T0 + 2 * day + 5_000_000),
        },
    );
    let inside: Vec<bool> = spans.iter().map(|s| s.is_some_and(|s| s.inside)).collect();
    assert_eq!(inside, [true, true, false]);
    for (since, until) in [wide, (Some(T0), None), (None, Some(T0 + 20 * day))] {
        let r = search(&e, &window_q(since, until, None), &never()).unwrap();
        let all = expected(&flat, since, until, false);
        assert_eq!(r.total, all.len() as u64, "since {since:?} until {until:?}");
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let c = count(&e, &window_q(since, until, Some("error")), &never()).unwrap();
        assert_eq!(c.count, expected(&flat, since, until, true).len() as u64);
        let t = top(
            &e,
            &window_q(since, until, Some("error")),
            &TopBy::Field("message".into()),
            &never(),
        )
        .unwrap();
        assert_eq!(t.total, c.count);
        // The same answers as without a window (every line is inside).
        let full = count(&e, &window_q(None, None, Some("error")), &never()).unwrap();
        assert_eq!(c.count, full.count);
    }
}

#[test]
fn a_file_inside_the_window_whose_times_jump_is_read_line_by_line_with_a_warning() {
    let d = TempDir::new().unwrap();
    // A block of 5 000 lines (several scan buffers) written late, in the last quarter of the
    // file (where bisection does not probe): once still inside the window, once before it.
    // First and last lines are inside, so the file is scanned without per-line checks until
    // a buffer's first time goes back; then every file is read again line by line.
    for late_by in [1_800_000i64, 2 * 86_400_000] {
        let (body, mut meta) = timed_lines(T0, 20_000, 0);
        let mut lines: Vec<String> = body.lines().map(|l| format!("{l}\n")).collect();
        for k in 14_000..19_000 {
            let t = T0 - late_by + k as i64;
            lines[k] = winston("error", "late block", &ts(t, 0));
            meta[k] = (t, true);
        }
        let p = write(d.path(), "jump.log", lines.concat().as_bytes());
        let e = exp(&p);
        let since = Some(T0 - 3_600_000);
        let (spans, _) = window::narrow(
            &e.files,
            &[false],
            &[Some(true)],
            filter::TimeRange {
                since_ms: since,
                until_ms: None,
            },
        );
        assert!(spans[0].is_some_and(|s| s.inside), "{spans:?}");
        let r = search(&e, &window_q(since, None, None), &never()).unwrap();
        let got: Vec<u64> = r.matches.iter().map(|m| m.line).collect();
        assert_eq!(
            got,
            expected(&meta, since, None, false),
            "late by {late_by}"
        );
        assert!(
            r.warnings.iter().any(|w| w.contains("read in full")),
            "{:?}",
            r.warnings
        );
        let c = count(&e, &window_q(since, None, Some("error")), &never()).unwrap();
        assert_eq!(c.count, expected(&meta, since, None, true).len() as u64);
    }
}

/// Runs `f` with files split into ranges of `min_chunk` bytes (0: the real minimum).
fn split_at<T>(min_chunk: u64, f: impl FnOnce() -> T) -> T {
    TEST_MIN_CHUNK.with(|c| c.set(min_chunk));
    let out = f();
    TEST_MIN_CHUNK.with(|c| c.set(0));
    out
}

/// A JSON-lines log with every kind of line end, a few broken lines and matches in every
/// range, with its matching lines' numbers.
fn mixed_json_log(n: usize) -> (String, Vec<u64>) {
    let mut body = String::new();
    let mut hits = Vec::new();
    let mut line = 0u64;
    for i in 0..n {
        let end = ["\n", "\r\n", "\r", "\n"][i % 4];
        line += 1;
        if i % 97 == 5 {
            body += &format!("{{\"level\":\"error\",\"message\":\"JWT expired {i}\"{end}"); // cut short
            continue;
        }
        let (level, msg) = match i % 9 {
            0 => ("error", format!("请求失败 GET /api/pages/{i}: JWT expired")),
            4 => ("warn", format!("慢请求 GET /api/x {}ms", 1000 + i % 700)),
            _ => ("info", format!("GET /api/y/{i} 200 {}ms", i % 50)),
        };
        if msg.contains("JWT") {
            hits.push(line);
        }
        body += &format!(
            "{{\"level\":\"{level}\",\"message\":\"{msg}\",\"n\":{i},\"big\":18446744073709551615,\"f\":1.5,\"pad\":\"{}\"}}{end}",
            "x".repeat(i % 13)
        );
    }
    (body, hits)
}

#[test]
fn search_in_many_ranges_equals_one_pass_with_line_numbers_across_range_ends() {
    let d = TempDir::new().unwrap();
    let (body, hits) = mixed_json_log(6000);
    let p = write(d.path(), "combined.log", body.as_bytes());
    let e = exp(&p);
    for limit in [usize::MAX >> 1, 1000, 37, 1, 0] {
        let query = Query {
            limit,
            ..q("JWT expired")
        };
        let one = split_at(0, || search(&e, &query, &never())).unwrap();
        let many = split_at(2048, || search(&e, &query, &never())).unwrap();
        let lines = |r: &SearchResult| r.matches.iter().map(|m| m.line).collect::<Vec<_>>();
        assert_eq!(lines(&one), hits[..hits.len().min(limit)], "limit {limit}");
        assert_eq!(lines(&many), lines(&one), "limit {limit}");
        assert_eq!(texts(&many), texts(&one));
        let json = |r: &SearchResult| r.matches.iter().map(|m| m.json.clone()).collect::<Vec<_>>();
        assert_eq!(json(&many), json(&one));
        assert_eq!(
            (many.total, many.skipped, many.truncated),
            (one.total, one.skipped, one.truncated)
        );
        assert_eq!(one.total, hits.len() as u64);
        assert_eq!(
            one.skipped,
            (0..6000).filter(|i| i % 97 == 5).count() as u64
        );
    }
    // The text of each match is its line as written, and line N is the N-th line of the file.
    let every = Query {
        limit: 100_000,
        ..q("")
    };
    let all = split_at(2048, || search(&e, &every, &never())).unwrap();
    let first = |r: &SearchResult| r.matches.first().map(|m| (m.line, m.text.clone()));
    assert_eq!(first(&all).map(|f| f.0), Some(1));
    let want: Vec<&str> = body.split(['\n', '\r']).filter(|l| !l.is_empty()).collect();
    let got: Vec<&str> = texts(&all);
    // Broken lines are skipped (not matched), so compare the lines that are complete objects.
    let complete: Vec<&str> = want.iter().copied().filter(|l| l.ends_with('}')).collect();
    assert_eq!(got, complete);
    let numbered: Vec<u64> = all.matches.iter().map(|m| m.line).collect();
    let want_numbers: Vec<u64> = want
        .iter()
        .enumerate()
        .filter(|(_, l)| l.ends_with('}'))
        .map(|(i, _)| i as u64 + 1)
        .collect();
    assert_eq!(numbered, want_numbers);
}

#[test]
fn count_top_and_stats_in_many_ranges_equal_one_pass() {
    let d = TempDir::new().unwrap();
    let (body, _) = mixed_json_log(6000);
    let p = write(d.path(), "combined.log", body.as_bytes());
    let e = exp(&p);
    for pattern in ["", "JWT", "慢请求"] {
        let one = split_at(0, || count(&e, &q(pattern), &never())).unwrap();
        let many = split_at(1024, || count(&e, &q(pattern), &never())).unwrap();
        assert_eq!((one.count, one.skipped), (many.count, many.skipped));
    }
    let lq = Query {
        levels: vec!["error".into()],
        ..q("")
    };
    let one = split_at(0, || top(&e, &lq, &TopBy::Fingerprint, &never())).unwrap();
    let many = split_at(1024, || top(&e, &lq, &TopBy::Fingerprint, &never())).unwrap();
    assert_eq!(one.entries, many.entries);
    assert_eq!((one.total, one.skipped), (many.total, many.skipped));
    let one = split_at(0, || stats(&e, &q("慢请求"), r"(\d+)ms", &never())).unwrap();
    let many = split_at(1024, || stats(&e, &q("慢请求"), r"(\d+)ms", &never())).unwrap();
    assert_eq!(one.summary, many.summary);
    assert_eq!((one.unmatched, one.skipped), (many.unmatched, many.skipped));
    assert_eq!(
        one.summary.count,
        (0..6000).filter(|i| i % 9 == 4 && i % 97 != 5).count() as u64
    );
}

#[test]
fn many_small_files_plain_and_gzip_keep_their_order_and_line_numbers() {
    let d = TempDir::new().unwrap();
    let mut want = Vec::new();
    let mut per_file = Vec::new();
    for f in 0..300 {
        let dir = d.path().join(format!("svc{:02}", f / 30));
        std::fs::create_dir_all(&dir).unwrap();
        let mut body = String::new();
        for k in 0..(f % 7) {
            body += &format!(
                "line {k} of {f}{}\n",
                if (f + k) % 3 == 0 { " HIT" } else { "" }
            );
        }
        let name = format!("app{f:03}.log");
        if f % 5 == 0 {
            write(&dir, &name, &gzip(body.as_bytes()));
        } else {
            write(&dir, &name, body.as_bytes());
        }
        per_file.push((dir.join(&name), body));
    }
    let e = glob(d.path(), "svc*/app*.log");
    assert_eq!(e.files.len(), 300);
    for f in &e.files {
        let (_, body) = per_file.iter().find(|(p, _)| *p == f.path).unwrap();
        for (i, l) in body.lines().enumerate() {
            if l.contains("HIT") {
                want.push((f.path.display().to_string(), i as u64 + 1, l.to_string()));
            }
        }
    }
    let r = search(
        &e,
        &Query {
            limit: 100_000,
            ..q("HIT")
        },
        &never(),
    )
    .unwrap();
    let got: Vec<(String, u64, String)> = r
        .matches
        .iter()
        .map(|m| (m.file.clone(), m.line, m.text.clone()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        count(&e, &q("HIT"), &never()).unwrap().count,
        want.len() as u64
    );
    // The first matches by limit are the first in file order, whatever finished first.
    let r = search(
        &e,
        &Query {
            limit: 10,
            ..q("HIT")
        },
        &never(),
    )
    .unwrap();
    assert_eq!(r.matches.len(), 10);
    assert_eq!(r.matches[9].text, want[9].2);
    assert_eq!(r.total, want.len() as u64);
}

#[test]
fn ordered_hands_results_on_in_order_and_stops_at_the_first_error() {
    for n in [0usize, 1, 2, 3, 100, 1000] {
        let mut seen = Vec::new();
        scan::ordered(
            n,
            |i| Ok(i * 2),
            |i, v| {
                seen.push((i, v));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, (0..n).map(|i| (i, i * 2)).collect::<Vec<_>>());
    }
    let mut seen = Vec::new();
    let r = scan::ordered(
        500,
        |i| {
            if i == 300 || i == 400 {
                Err(crate::error::Error::Usage(format!("bad {i}")))
            } else {
                Ok(i)
            }
        },
        |i, _| {
            seen.push(i);
            Ok(())
        },
    );
    assert!(r.unwrap_err().to_string().contains("bad 300"));
    assert_eq!(seen, (0..300).collect::<Vec<_>>());
    let mut seen = Vec::new();
    let r = scan::ordered(50, Ok, |i, _| {
        seen.push(i);
        if i == 7 {
            Err(crate::error::Error::Usage("stop".into()))
        } else {
            Ok(())
        }
    });
    assert!(r.is_err());
    assert_eq!(seen, (0..=7).collect::<Vec<_>>());
}
