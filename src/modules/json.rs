//! `json::` — parse and print JSON.

use rhai::plugin::*;

#[export_module]
pub mod json_module {
    use crate::error::{Error, RhaiResult};
    use rhai::Dynamic;

    /// Parse JSON text into Rhai values (objects → maps, arrays → arrays, numbers → int or float).
    ///
    /// Throws when `text` is not valid JSON; the message gives line and column.
    ///
    /// Example:
    /// ```rhai
    /// let j = json::parse(`{"status": "ok", "uptime": 12}`);
    /// print(j.status);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn parse(ncc: NativeCallContext, text: &str) -> RhaiResult<Dynamic> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| crate::modules::at(&ncc, Error::failed(format!("json::parse: {e}"))))?;
        crate::modules::json_to_dynamic(&v)
    }

    /// Compact JSON text of `value`.
    ///
    /// Throws when the value holds something JSON cannot express (a function pointer).
    ///
    /// Example:
    /// ```rhai
    /// print(json::to_string(#{ ok: true, n: 3 }));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn to_string(ncc: NativeCallContext, value: Dynamic) -> RhaiResult<String> {
        let v = crate::modules::dynamic_to_json(&value).map_err(|mut e| {
            e.set_position(ncc.call_position());
            e
        })?;
        Ok(v.to_string())
    }

    /// Indented JSON text of `value` (two spaces).
    ///
    /// Throws when the value holds something JSON cannot express.
    ///
    /// Example:
    /// ```rhai
    /// print(json::pretty(#{ ok: true }));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn pretty(ncc: NativeCallContext, value: Dynamic) -> RhaiResult<String> {
        let v = crate::modules::dynamic_to_json(&value).map_err(|mut e| {
            e.set_position(ncc.call_position());
            e
        })?;
        serde_json::to_string_pretty(&v)
            .map_err(|e| crate::modules::at(&ncc, Error::failed(format!("json::pretty: {e}"))))
    }
}
