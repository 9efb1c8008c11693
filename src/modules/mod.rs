//! The Rhai modules: one file per area, each an `#[export_module]` of thin adapters over plain
//! Rust functions elsewhere in the crate. Every function's `///` docs (summary, arguments,
//! return keys, "Throws when") are what `runbook docs` and the REPL's `:help` show.
//!
//! Adapters reach the run through [`crate::ctx::with_ctx`] and return
//! [`crate::error::RhaiResult`]; host errors become a catchable `#{kind, message}` map.

use rhai::{Dynamic, Engine, Map};
use serde::Serialize;

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

/// Typed access to an options map (`#{limit: 10, regex: true}`) that rejects unknown keys
/// and ill-typed values with an error naming the function and the key.
pub struct Opts<'a> {
    func: &'a str,
    map: Map,
}

impl<'a> Opts<'a> {
    /// Wrap `map` for function `func` (used in messages, e.g. `"logs::search"`), allowing only `known` keys.
    pub fn new(func: &'a str, map: Map, known: &[&str]) -> Result<Self> {
        for k in map.keys() {
            if !known.contains(&k.as_str()) {
                return Err(Error::Usage(format!(
                    "{func}: unknown option {k:?} (known: {})",
                    known.join(", ")
                )));
            }
        }
        Ok(Opts { func, map })
    }

    /// An empty options map.
    pub fn empty(func: &'a str) -> Self {
        Opts {
            func,
            map: Map::new(),
        }
    }

    fn bad(&self, key: &str, want: &str, got: &Dynamic) -> Error {
        Error::Usage(format!(
            "{}: option {key:?} must be {want}, got {}",
            self.func,
            got.type_name()
        ))
    }

    /// Whether `key` is present (and not `()`).
    pub fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_unit())
    }

    /// A boolean option.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.map.get(key) {
            None => Ok(default),
            Some(v) if v.is_unit() => Ok(default),
            Some(v) => v.as_bool().map_err(|_| self.bad(key, "a bool", v)),
        }
    }

    /// An integer option.
    pub fn int(&self, key: &str, default: i64) -> Result<i64> {
        match self.map.get(key) {
            None => Ok(default),
            Some(v) if v.is_unit() => Ok(default),
            Some(v) => v.as_int().map_err(|_| self.bad(key, "an int", v)),
        }
    }

    /// A non-negative integer option (sizes, counts, milliseconds).
    pub fn uint(&self, key: &str, default: u64) -> Result<u64> {
        let v = self.int(key, default as i64)?;
        u64::try_from(v).map_err(|_| {
            Error::Usage(format!(
                "{}: option {key:?} must be ≥ 0, got {v}",
                self.func
            ))
        })
    }

    /// A float option (ints accepted).
    pub fn float(&self, key: &str, default: f64) -> Result<f64> {
        match self.map.get(key) {
            None => Ok(default),
            Some(v) if v.is_unit() => Ok(default),
            Some(v) => v
                .as_float()
                .or_else(|_| v.as_int().map(|i| i as f64))
                .map_err(|_| self.bad(key, "a number", v)),
        }
    }

    /// A string option.
    pub fn string(&self, key: &str) -> Result<Option<String>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) if v.is_unit() => Ok(None),
            Some(v) => v
                .clone()
                .into_string()
                .map(Some)
                .map_err(|_| self.bad(key, "a string", v)),
        }
    }

    /// A list-of-strings option (a single string is accepted as a one-element list).
    pub fn strings(&self, key: &str) -> Result<Vec<String>> {
        match self.map.get(key) {
            None => Ok(Vec::new()),
            Some(v) if v.is_unit() => Ok(Vec::new()),
            Some(v) if v.is_string() => Ok(vec![v.clone().into_string().unwrap_or_default()]),
            Some(v) if v.is_array() => {
                let arr = v.clone().into_array().unwrap_or_default();
                arr.into_iter()
                    .map(|item| {
                        item.clone()
                            .into_string()
                            .map_err(|_| self.bad(key, "an array of strings", &item))
                    })
                    .collect()
            }
            Some(v) => Err(self.bad(key, "an array of strings", v)),
        }
    }

    /// A map option (e.g. `headers`).
    pub fn map(&self, key: &str) -> Result<Option<Map>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) if v.is_unit() => Ok(None),
            Some(v) => v
                .clone()
                .try_cast::<Map>()
                .map(Some)
                .ok_or_else(|| self.bad(key, "a map", v)),
        }
    }

    /// The raw value of `key`.
    pub fn raw(&self, key: &str) -> Option<&Dynamic> {
        self.map.get(key).filter(|v| !v.is_unit())
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
