//! Property tests (proptest): the runbook header parser and the policy file parser take
//! thousands of generated inputs — near-valid ones built from their grammar and arbitrary text —
//! without a panic, and every error they return carries a position (`file:line:col`) or a name
//! (the config file; the parameter).

use proptest::prelude::*;
use runbook::Error;
use runbook::policy::Config;
use runbook::runbook::header;

/// One header line: a prefix (doc comment or not) and a body from the header grammar or noise.
fn header_line() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec!["//! ", "//!", "  //! ", "//!\t", "", "#!", "// "]);
    let name = prop_oneof![
        "[a-z_][a-z0-9_]{0,6}",
        "[0-9A-Z-]{1,3}",
        Just(String::new()),
        "\\PC{0,4}"
    ];
    let ty = prop::sample::select(vec![
        "int", "string", "float", "bool", "duration", "Int", "list", "", " ",
    ]);
    let default = prop_oneof![
        Just(String::new()),
        "-?[0-9_]{1,25}",
        "[0-9]{1,4}(ms|s|m|h|d|x)?",
        "-?[0-9]{0,3}\\.[0-9]{0,3}(e[0-9]{1,3})?",
        "\"[^\"]{0,6}\"?",
        prop::sample::select(vec!["true", "no", "on", "maybe", "NaN", "inf"])
            .prop_map(String::from),
        "\\PC{0,8}",
    ];
    let param = (
        name,
        any::<bool>(),
        ty,
        any::<bool>(),
        default,
        "\\PC{0,12}",
    )
        .prop_map(|(n, colon, t, eq, d, doc)| {
            format!(
                "@param {n}{} {t}{} {d}   {doc}",
                if colon { ":" } else { "" },
                if eq { " =" } else { "" }
            )
        });
    let body = prop_oneof![
        4 => param,
        1 => Just("@action".to_string()),
        1 => Just("@action extra".to_string()),
        2 => "\\PC{0,30}",
        1 => "[ \t]{0,3}",
        1 => any::<String>(),
    ];
    (prefix, body).prop_map(|(p, b)| format!("{p}{b}"))
}

/// An error from the header parser names the file, line and column.
fn assert_located(e: &Error, file: &str) {
    let s = e.to_string();
    let rest = s
        .strip_prefix(&format!("{file}:"))
        .unwrap_or_else(|| panic!("no file in {s:?}"));
    let mut parts = rest.splitn(3, ':');
    let line = parts.next().unwrap_or_default();
    let col = parts.next().unwrap_or_default();
    assert!(
        line.parse::<usize>().is_ok_and(|l| l >= 1) && col.parse::<usize>().is_ok_and(|c| c >= 1),
        "no line:col in {s:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn header_parser_never_panics_and_locates_errors(
        lines in prop::collection::vec(header_line(), 0..12),
        tail in "\\PC{0,40}",
    ) {
        let src = format!("{}\n{tail}", lines.join("\n"));
        match header::parse(&src, "gen.rhai") {
            Err(e) => assert_located(&e, "gen.rhai"),
            Ok(h) => {
                // Every declared parameter can be given values from the command line: parsing
                // any text either works or names the parameter.
                for p in &h.params {
                    for raw in ["", "0", "-1", "1.5", "yes", "10m", "9999999999999999999999", "\u{0}"] {
                        if let Err(e) = p.parse_value(raw) {
                            let s = e.to_string();
                            prop_assert!(s.contains(&format!("parameter {}", p.name)), "{}", s);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn header_parser_takes_arbitrary_text(src in any::<String>()) {
        if let Err(e) = header::parse(&src, "any.rhai") {
            assert_located(&e, "any.rhai");
        }
    }
}

/// One `key = value` line for the policy file: known keys with values of every type, and noise.
fn policy_line() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "read",
        "write",
        "commands",
        "read_only_commands",
        "http_hosts",
        "env",
        "max_operations",
        "max_memory_mb",
        "timeout_s",
        "restart_limit",
        "dir",
        "path",
        "manager",
        "workdir",
        "health_url",
        "logs",
        "port",
        "settle_s",
        "wrtie",
        "x-y",
    ]);
    let value = prop_oneof![
        "-?[0-9_]{1,22}",
        Just("0".to_string()),
        "\"[^\"\\\\]{0,12}\"",
        "\"[0-9]{0,3}/[0-9]{0,3}[smhdx]?\"",
        prop::sample::select(vec!["pm2", "systemd", "supervisor", "command", "docker"])
            .prop_map(|m| format!("\"{m}\"")),
        "\\[(\"[a-z/ *.]{0,8}\", ?){0,3}\\]",
        prop::sample::select(vec!["true", "1.5", "[]", "{}", "[1, \"a\"]", "inf"])
            .prop_map(String::from),
        "\\PC{0,10}",
    ];
    prop_oneof![
        6 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => prop::sample::select(vec![
            "[policy]", "[backup]", "[audit]", "[services.api]", "[services.\"a b\"]", "[nope]", "[[policy]]",
        ]).prop_map(String::from),
        1 => "\\PC{0,30}",
    ]
}

/// An error from the config parser names the file.
fn assert_named(e: &Error) {
    let s = e.to_string();
    assert!(
        matches!(e, Error::Config { .. }),
        "not a config error: {s:?}"
    );
    assert!(s.contains("gen.toml"), "no file name in {s:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn policy_parser_never_panics_and_names_the_file(
        lines in prop::collection::vec(policy_line(), 0..14),
    ) {
        let text = format!("[policy]\n{}\n", lines.join("\n"));
        if let Err(e) = Config::from_toml(&text, Some(std::path::Path::new("gen.toml"))) {
            assert_named(&e);
        }
    }

    #[test]
    fn policy_parser_takes_arbitrary_text(text in any::<String>()) {
        if let Err(e) = Config::from_toml(&text, Some(std::path::Path::new("gen.toml"))) {
            assert_named(&e);
        }
    }
}
