//! The run report's JSON Schema (`schemas/run-report.schema.json`) describes real reports: runs
//! that pass, fail, are inconclusive, stop on a script error, a denial, a limit, a usage error
//! before the run starts, and a dry run with planned effects — each validated against the
//! schema. Every JSON document the CLI prints carries `schema_version`.
//!
//! The validator is the subset of JSON Schema 2020-12 the file uses (`type`, `required`,
//! `properties`, `additionalProperties`, `items`, `enum`, `minimum`, and annotations); a keyword
//! outside that subset fails the test, so the schema cannot silently outgrow its check.

mod common;

use common::Sandbox;
use serde_json::Value;

const ANNOTATIONS: &[&str] = &["$schema", "$id", "title", "description"];
const KEYWORDS: &[&str] = &[
    "type",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "enum",
    "minimum",
];

fn type_ok(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "null" => v.is_null(),
        other => panic!("schema uses unknown type {other:?}"),
    }
}

/// Every violation of `schema` by `v`, as `path: problem`.
fn validate(schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    let s = schema.as_object().expect("a schema is an object");
    for k in s.keys() {
        assert!(
            ANNOTATIONS.contains(&k.as_str()) || KEYWORDS.contains(&k.as_str()),
            "the schema uses {k:?}, which this validator does not implement"
        );
    }
    if let Some(ty) = s.get("type").and_then(Value::as_str)
        && !type_ok(ty, v)
    {
        errors.push(format!("{path}: expected {ty}, got {v}"));
        return;
    }
    if let Some(allowed) = s.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        errors.push(format!("{path}: {v} not in {allowed:?}"));
    }
    if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64())
        && n < min
    {
        errors.push(format!("{path}: {n} < {min}"));
    }
    if let Some(obj) = v.as_object() {
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                errors.push(format!("{path}: missing {r:?}"));
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(sub) => validate(sub, val, &format!("{path}.{k}"), errors),
                None => {
                    if s.get("additionalProperties") == Some(&Value::Bool(false)) {
                        errors.push(format!("{path}: unexpected key {k:?}"));
                    }
                }
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            validate(items, item, &format!("{path}[{i}]"), errors);
        }
    }
}

fn schema() -> Value {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/run-report.schema.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_validator_rejects_what_the_schema_forbids() {
    let schema = schema();
    let mut errors = Vec::new();
    let bad = serde_json::json!({
        "schema_version": 1, "runbook": "x", "params": {}, "status": "fine", "exit_code": 9,
        "checks": [{"name": "c", "ok": true, "status": "ok", "detail": "", "extra": 1}],
        "effects": [{"action": "a", "target": "t", "outcome": "done"}],
        "output": [1], "started": "now", "duration_ms": -1
    });
    validate(&schema, &bad, "$", &mut errors);
    for needle in [
        "$.status",
        "$.exit_code",
        "unexpected key \"extra\"",
        "missing \"detail\"",
        "$.output[0]",
        "$.duration_ms",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(needle)),
            "{needle}: {errors:#?}"
        );
    }
}

#[test]
fn real_run_reports_match_the_schema() {
    let schema = schema();
    let top_keys: Vec<String> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let sb = Sandbox::new();
    let allowed = sb.path().join("allowed");
    std::fs::create_dir_all(&allowed).unwrap();
    sb.config(&format!(
        "[policy]\nwrite = [\"{}\"]\nmax_operations = 100000\n",
        allowed.display()
    ));
    let cases: &[(&str, &str, &[&str], i32)] = &[
        (
            "ok",
            "//! @param n: int = 3  how many\nprint(n); check(\"mem\", true, \"fine\");",
            &["-p", "n=4"],
            0,
        ),
        ("failed", "check(\"disk\", false, \"full\");", &[], 1),
        ("unknown", "check(\"cpu\", ());", &[], 6),
        ("script", "let x = 1;\nx.nope();", &[], 5),
        (
            "denied",
            "fs::write(\"/tmp/runbook-schema-nope\", \"x\");",
            &[],
            4,
        ),
        ("limit", "loop { }", &[], 3),
        (
            "dry",
            "//! @action\nfs::write(\"allowed/a.txt\", \"x\");",
            &["--dry-run"],
            0,
        ),
        (
            "done",
            "//! @action\nfs::write(\"allowed/b.txt\", \"x\");",
            &[],
            0,
        ),
    ];
    for (name, src, extra, code) in cases {
        let r = sb.run_script(name, src, extra);
        r.expect_code(*code);
        let mut errors = Vec::new();
        validate(&schema, &r.report, "$", &mut errors);
        assert!(errors.is_empty(), "{name}: {errors:#?}\n{}", r.stdout);
        assert_eq!(r.report["schema_version"], 1);
        for k in r.report.as_object().unwrap().keys() {
            assert!(
                top_keys.contains(k),
                "{name}: key {k:?} is not described in the schema"
            );
        }
    }
    // A usage error before the run starts still prints a report that matches.
    let r = sb.runbook("no-such-runbook").json();
    r.exit(2);
    let mut errors = Vec::new();
    validate(&schema, &r.report, "$", &mut errors);
    assert!(errors.is_empty(), "usage: {errors:#?}");
}

#[test]
fn every_json_document_carries_schema_version() {
    let sb = Sandbox::new();
    sb.config("[policy]\nwrite = [\".\"]\n");
    sb.file("w.rhai", "//! @action\nfs::write(\"a.txt\", \"x\");");
    sb.runbook("w.rhai").output().exit(0);
    for args in [&["list"][..], &["docs"][..], &["audit"][..]] {
        let r = sb.invoke().command(args).json();
        r.exit(0);
        let arr = r.report.as_array().unwrap();
        assert!(!arr.is_empty(), "{args:?}");
        for item in arr {
            assert_eq!(item["schema_version"], 1, "{args:?}: {item}");
        }
    }
}
