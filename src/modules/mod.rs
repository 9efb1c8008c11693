//! The Rhai modules: one file per area, each an `#[export_module]` of thin adapters over plain
//! Rust functions elsewhere in the crate. Every function's `///` docs (summary, arguments,
//! return keys, "Throws when") are what `runbook docs` and the REPL's `:help` show.
//!
//! Adapters reach the run through [`crate::ctx::with_ctx`] and return
//! [`crate::error::RhaiResult`]; host errors become a catchable `#{kind, message}` map.

use rhai::{Dynamic, Engine, Map};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result, RhaiResult};

pub mod backup;
pub mod cmd;
pub mod fs;
pub mod globals;
pub mod history;
pub mod http;
pub mod json;
pub mod logs;
pub mod metrics;
pub mod service;
pub mod tls;

/// Names of the host modules, for docs, completion and `runbook check`.
pub const MODULE_NAMES: &[&str] = &[
    "metrics", "logs", "backup", "service", "http", "tls", "fs", "cmd", "json", "history",
];

/// Register every host module and the global functions on `engine`.
pub fn register_all(engine: &mut Engine) {
    globals::register(engine);
    engine.register_static_module(
        "metrics",
        rhai::exported_module!(metrics::metrics_module).into(),
    );
    engine.register_static_module("logs", rhai::exported_module!(logs::logs_module).into());
    engine.register_static_module(
        "backup",
        rhai::exported_module!(backup::backup_module).into(),
    );
    engine.register_static_module(
        "service",
        rhai::exported_module!(service::service_module).into(),
    );
    engine.register_static_module("http", rhai::exported_module!(http::http_module).into());
    engine.register_static_module("tls", rhai::exported_module!(tls::tls_module).into());
    engine.register_static_module("fs", rhai::exported_module!(fs::fs_module).into());
    engine.register_static_module("cmd", rhai::exported_module!(cmd::cmd_module).into());
    engine.register_static_module("json", rhai::exported_module!(json::json_module).into());
    engine.register_static_module(
        "history",
        rhai::exported_module!(history::history_module).into(),
    );
}

/// Run an adapter body with the current run's context and turn a host error into a Rhai
/// error at the script's call site (`file:line:col` in messages). Every module function uses it:
///
/// ```text
/// #[rhai_fn(return_raw)]
/// pub fn read(ncc: NativeCallContext, path: &str) -> RhaiResult<String> {
///     host(&ncc, |c| { let p = c.allow_read("fs.read", Path::new(path))?; read_capped(&p, CAP) })
/// }
/// ```
pub fn host<T>(
    ncc: &rhai::NativeCallContext,
    f: impl FnOnce(&crate::ctx::Ctx) -> Result<T>,
) -> RhaiResult<T> {
    crate::ctx::with_ctx(f).map_err(|e| at(ncc, e))
}

/// A host error as a Rhai error positioned at the call site of `ncc`.
pub fn at(ncc: &rhai::NativeCallContext, e: Error) -> Box<rhai::EvalAltResult> {
    let mut err: Box<rhai::EvalAltResult> = e.into();
    err.set_position(ncc.call_position());
    err
}

/// Convert any serializable Rust value into a Rhai value (maps, arrays, strings, numbers).
pub fn to_dynamic<T: Serialize>(value: &T) -> RhaiResult<Dynamic> {
    rhai::serde::to_dynamic(value)
}

/// Convert a serde_json value into a Rhai value.
pub fn json_to_dynamic(value: &serde_json::Value) -> RhaiResult<Dynamic> {
    rhai::serde::to_dynamic(value)
}

/// Convert a Rhai value into serde_json (for audit args, JSON bodies, `json::to_string`).
pub fn dynamic_to_json(value: &Dynamic) -> RhaiResult<serde_json::Value> {
    rhai::serde::from_dynamic(value)
}

/// Parse the options map of `func` (`#{limit: 10, regex: true}`) into `T`, a serde struct
/// with `#[serde(deny_unknown_fields)]` whose fields are all optional (a key set to `()` counts
/// as absent). An unknown key is a usage error naming it and the allowed ones
/// (`logs::search: unknown option "limt" (allowed: regex, ignore_case, …)`), an ill-typed
/// value one naming the key and the type it must have.
pub fn options<T: DeserializeOwned>(func: &str, map: Map) -> Result<T> {
    options_with(func, map, &[]).map(|(t, _)| t)
}

/// [`options`] for a function that also takes the keys `extra` (handled by the caller, e.g. a
/// key only one of several functions sharing `T` takes): those are returned apart.
pub fn options_with<T: DeserializeOwned>(func: &str, map: Map, extra: &[&str]) -> Result<(T, Map)> {
    let fields = fields_of::<T>();
    let (mut own, mut rest) = (Map::new(), Map::new());
    for (k, v) in map {
        if v.is_unit() {
            continue;
        }
        if extra.contains(&k.as_str()) {
            rest.insert(k, v);
        } else if fields.contains(&k.as_str()) {
            own.insert(k, v);
        } else {
            let allowed: Vec<&str> = fields.iter().chain(extra).copied().collect();
            return Err(Error::Usage(format!(
                "{func}: unknown option {k:?} (allowed: {})",
                allowed.join(", ")
            )));
        }
    }
    let value = Dynamic::from_map(own.clone());
    match rhai::serde::from_dynamic::<T>(&value) {
        Ok(t) => Ok((t, rest)),
        Err(e) => {
            // Name the key: the first one that fails on its own.
            for (k, v) in own {
                let one = Dynamic::from_map(Map::from([(k.clone(), v.clone())]));
                if let Err(e) = rhai::serde::from_dynamic::<T>(&one) {
                    return Err(Error::Usage(format!(
                        "{func}: option {k:?} {}",
                        serde_message(&e, &v)
                    )));
                }
            }
            Err(Error::Usage(format!(
                "{func}: {}",
                serde_message(&e, &value)
            )))
        }
    }
}

/// What a deserialisation error says, for a message after `option "KEY"`.
fn serde_message(e: &rhai::EvalAltResult, got: &Dynamic) -> String {
    let kind = |t: &str| match t {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "INT" => {
            "an int".to_string()
        }
        "f32" | "f64" | "FLOAT" => "a number".into(),
        "bool" => "a bool".into(),
        "string" | "String" | "&str" | "char" => "a string".into(),
        "map" | "Map" => "a map".into(),
        "array" | "Array" => "an array".into(),
        other => other.to_string(),
    };
    match e {
        rhai::EvalAltResult::ErrorMismatchOutputType(want, _, _) => {
            format!("must be {}, got {}", kind(want), got.type_name())
        }
        rhai::EvalAltResult::ErrorParsing(
            rhai::ParseErrorType::BadInput(rhai::LexError::ImproperSymbol(_, m)),
            _,
        ) => {
            let m = m
                .replace("expected u64", "expected an int ≥ 0")
                .replace("expected u32", "expected an int ≥ 0");
            // serde's own messages start with these; an `expecting = "…"` text is the rest.
            let standard = [
                "invalid ",
                "unknown ",
                "missing ",
                "duplicate ",
                "data did not",
            ];
            if standard.iter().any(|p| m.starts_with(p)) {
                format!("is invalid: {m}")
            } else {
                format!("must be {m}, got {}", got.type_name())
            }
        }
        other => format!("is invalid: {other}"),
    }
}

/// The field names of a serde struct (what `#[derive(Deserialize)]` passes to
/// `deserialize_struct`), found by asking it to deserialise from a probe that records them.
pub fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{Deserializer, Visitor};
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("probe")
        }
    }
    impl std::error::Error for Stop {}
    impl serde::de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    struct Probe<'a>(&'a std::cell::Cell<&'static [&'static str]>);
    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> std::result::Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> std::result::Result<V::Value, Stop> {
            self.0.set(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let cell = std::cell::Cell::new(&[][..]);
    let _ = T::deserialize(Probe(&cell));
    cell.get()
}

/// Every host function that takes an options map (`ns::name`), with the keys it accepts, in
/// the order its options struct declares them. `runbook check` reports a literal `#{…}` passed
/// to one of these with any other key (see [`crate::script::statics`]); at run time
/// [`options`] refuses the same keys. A test checks that every registered function whose last
/// parameter is a map is listed here.
pub fn option_keys() -> &'static std::collections::HashMap<&'static str, Vec<&'static str>> {
    static KEYS: std::sync::OnceLock<std::collections::HashMap<&'static str, Vec<&'static str>>> =
        std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        [
            backup::option_keys(),
            cmd::option_keys(),
            http::option_keys(),
            logs::option_keys(),
            metrics::option_keys(),
            service::option_keys(),
            tls::option_keys(),
        ]
        .into_iter()
        .flatten()
        .collect()
    })
}

/// The options of functions that take only a `timeout_ms` (`tls::cert`, `service::health`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutOpts {
    pub timeout_ms: Option<u64>,
}

/// An option that is a string or a list of strings (`level: "error"` or `level: ["warn", "error"]`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged, expecting = "a string or an array of strings")]
pub enum Strings {
    One(String),
    Many(Vec<String>),
}

impl Strings {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Strings::One(s) => vec![s],
            Strings::Many(v) => v,
        }
    }
}

/// An option that is a number of seconds or a text (a timestamp or a duration: `"24h"`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged, expecting = "an int (seconds) or a string")]
pub enum IntOrText {
    Int(i64),
    Text(String),
}

/// An option that is any number (an int is accepted where a float is meant).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(untagged, expecting = "a number")]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    pub fn get(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// Host functions that are effects (change the world), for `runbook show`, `docs`, `check`
/// and the REPL: derived from the gate's registry ([`crate::effects::REGISTRY`]).
pub const EFFECT_FUNCTIONS: [&str; crate::effects::REGISTRY.len()] = {
    let mut out = [""; crate::effects::REGISTRY.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = crate::effects::REGISTRY[i].function;
        i += 1;
    }
    out
};
