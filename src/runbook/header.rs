//! The `//!` header of a runbook: summary, description and typed parameters.
//!
//! ```text
//! //! Service unresponsive: check status, show recent errors, restart, verify.
//! //!
//! //! Longer description, shown by `runbook show`.
//! //!
//! //! @param service: string = "lowcode-platform"   service name from the inventory
//! //! @param tail: int = 50                          error-log lines to show
//! //! @param window: duration = 10m                  how far back to look (script sees seconds)
//! //! @param tag: string                             required: no default
//! ```

use rhai::Dynamic;
use serde::Serialize;

use crate::error::{Error, Result};

/// Type of a runbook parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Int,
    Float,
    Bool,
    /// `30s`, `5m`, `2h`, `7d`; the script sees whole seconds as an int.
    Duration,
}

impl ParamType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" | "str" => ParamType::String,
            "int" | "integer" => ParamType::Int,
            "float" | "number" => ParamType::Float,
            "bool" | "boolean" => ParamType::Bool,
            "duration" => ParamType::Duration,
            _ => return None,
        })
    }

    /// The type's name as written in headers.
    pub fn name(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Bool => "bool",
            ParamType::Duration => "duration",
        }
    }

    fn expected(self) -> &'static str {
        match self {
            ParamType::String => "a string",
            ParamType::Int => "an int (e.g. 50)",
            ParamType::Float => "a float (e.g. 0.5)",
            ParamType::Bool => "a bool (true/false)",
            ParamType::Duration => "a duration (e.g. 30s, 5m, 2h, 7d)",
        }
    }
}

/// A typed parameter value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    String(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl ParamValue {
    /// As a Rhai value.
    pub fn to_dynamic(&self) -> Dynamic {
        match self {
            ParamValue::String(s) => s.clone().into(),
            ParamValue::Int(i) => (*i).into(),
            ParamValue::Float(f) => (*f).into(),
            ParamValue::Bool(b) => (*b).into(),
        }
    }

    /// As JSON (for the report).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// One `@param` line.
#[derive(Debug, Clone, Serialize)]
pub struct ParamSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ParamType,
    /// Default as written (`None`: the parameter is required).
    pub default: Option<String>,
    pub doc: String,
}

impl ParamSpec {
    /// Parse `raw` as a value of this parameter's type. Errors name the parameter and the type.
    pub fn parse_value(&self, raw: &str) -> Result<ParamValue> {
        let bad = || {
            Error::Usage(format!(
                "parameter {}: expected {}, got {raw:?}",
                self.name,
                self.ty.expected()
            ))
        };
        Ok(match self.ty {
            ParamType::String => ParamValue::String(raw.to_string()),
            ParamType::Int => {
                ParamValue::Int(raw.trim().replace('_', "").parse().map_err(|_| bad())?)
            }
            ParamType::Float => {
                let f: f64 = raw.trim().parse().map_err(|_| bad())?;
                if !f.is_finite() {
                    return Err(bad());
                }
                ParamValue::Float(f)
            }
            ParamType::Bool => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => ParamValue::Bool(true),
                "false" | "no" | "off" | "0" => ParamValue::Bool(false),
                _ => return Err(bad()),
            },
            ParamType::Duration => {
                let s = crate::timefmt::parse_duration_s(raw).map_err(|_| bad())?;
                ParamValue::Int(i64::try_from(s).map_err(|_| bad())?)
            }
        })
    }
}

/// The parsed header.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Header {
    /// First line.
    pub summary: String,
    /// The lines after the summary, up to the parameters.
    pub description: String,
    pub params: Vec<ParamSpec>,
    /// `@action`: the runbook exists to act (back up, clean up), so finishing with no check
    /// at all is a success, not *inconclusive*.
    pub action: bool,
    /// `@schedule hourly|daily|weekly|monthly|ONCALENDAR`: how often `runbook schedule` runs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

const RESERVED: &[&str] = &[
    "params",
    "let",
    "const",
    "if",
    "else",
    "switch",
    "do",
    "while",
    "loop",
    "until",
    "for",
    "in",
    "continue",
    "break",
    "return",
    "throw",
    "try",
    "catch",
    "import",
    "export",
    "as",
    "fn",
    "private",
    "this",
    "true",
    "false",
    "global",
    "Fn",
    "call",
    "curry",
    "eval",
    "print",
    "debug",
    "type_of",
    "is_shared",
    "is_def_var",
    "is_def_fn",
];

/// Parse the header of `source`; `file` names the script in errors (`file:line:col`).
pub fn parse(source: &str, file: &str) -> Result<Header> {
    let mut h = Header::default();
    let mut desc: Vec<String> = Vec::new();
    let mut seen_summary = false;
    for (idx, line) in source.lines().enumerate() {
        let lineno = idx + 1;
        let t = line.trim_start();
        if idx == 0 && t.starts_with("#!") {
            continue;
        }
        let Some(rest) = t.strip_prefix("//!") else {
            if t.is_empty() && !seen_summary {
                continue;
            }
            break;
        };
        let text = rest.strip_prefix(' ').unwrap_or(rest);
        let trimmed = text.trim();
        if trimmed == "@action" || trimmed.starts_with("@action ") {
            h.action = true;
            continue;
        }
        if let Some(s) = trimmed.strip_prefix("@schedule") {
            let col = line.len() - t.len() + 4 + (text.len() - text.trim_start().len()) + 1;
            h.schedule = Some(parse_schedule(s).map_err(|m| Error::Script {
                location: format!("{file}:{lineno}:{col}"),
                message: m,
            })?);
            continue;
        }
        if let Some(p) = trimmed.strip_prefix("@param") {
            let col = line.len() - t.len() + 4 + (text.len() - text.trim_start().len()) + 1;
            let spec = parse_param(p, file, lineno, col)?;
            if h.params.iter().any(|q| q.name == spec.name) {
                return Err(Error::Script {
                    location: format!("{file}:{lineno}:{col}"),
                    message: format!("parameter {} is declared twice", spec.name),
                });
            }
            h.params.push(spec);
            continue;
        }
        if !seen_summary {
            if trimmed.is_empty() {
                continue;
            }
            h.summary = trimmed.to_string();
            seen_summary = true;
        } else if h.params.is_empty() {
            desc.push(text.trim_end().to_string());
        }
    }
    while desc.first().is_some_and(|l| l.is_empty()) {
        desc.remove(0);
    }
    while desc.last().is_some_and(|l| l.is_empty()) {
        desc.pop();
    }
    h.description = desc.join("\n");
    Ok(h)
}

fn parse_param(p: &str, file: &str, line: usize, col: usize) -> Result<ParamSpec> {
    let err = |m: String| Error::Script {
        location: format!("{file}:{line}:{col}"),
        message: m,
    };
    let p = p.trim();
    let (name, rest) = p.split_once(':').ok_or_else(|| {
        err(format!(
            "@param {p:?}: expected `@param name: type = default  doc`"
        ))
    })?;
    let name = name.trim();
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(err(format!(
            "@param {name:?}: a parameter name is letters, digits and _"
        )));
    }
    if RESERVED.contains(&name) {
        return Err(err(format!(
            "@param {name}: reserved word, choose another name"
        )));
    }
    let rest = rest.trim_start();
    let ty_end = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let ty_word = &rest[..ty_end];
    let ty = ParamType::parse(ty_word).ok_or_else(|| {
        err(format!("@param {name}: unknown type {ty_word:?} (expected string, int, float, bool or duration)"))
    })?;
    let mut rest = rest[ty_end..].trim_start();
    let mut default = None;
    if let Some(after) = rest.strip_prefix('=') {
        let after = after.trim_start();
        let (value, remaining) = if let Some(q) = after.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, ch)) = chars.next() {
                match ch {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => out.push(c),
                }
            }
            let end =
                end.ok_or_else(|| err(format!("@param {name}: unterminated string default")))?;
            (out, &q[end + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        let spec = ParamSpec {
            name: name.to_string(),
            ty,
            default: None,
            doc: String::new(),
        };
        spec.parse_value(&value)
            .map_err(|e| err(format!("default of {e}")))?;
        default = Some(value);
        rest = remaining.trim_start();
    }
    Ok(ParamSpec {
        name: name.to_string(),
        ty,
        default,
        doc: rest.trim().to_string(),
    })
}

/// The shorthands `@schedule` accepts besides a systemd `OnCalendar` expression.
pub const SCHEDULE_SHORTHANDS: &[&str] = &["hourly", "daily", "weekly", "monthly"];

/// Parse the text after `@schedule`: a shorthand or an `OnCalendar` expression (letters,
/// digits, `*-:,./~` and spaces). Errors say what is expected.
pub fn parse_schedule(rest: &str) -> std::result::Result<String, String> {
    let s = rest.trim();
    if s.is_empty() {
        return Err("@schedule needs a value: hourly, daily, weekly, monthly or a systemd OnCalendar expression".into());
    }
    if let Some(bad) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || " *-:,./~".contains(*c)))
    {
        return Err(format!(
            "@schedule {s:?}: {bad:?} is not allowed in a calendar expression (expected hourly, daily, weekly, monthly or e.g. \"Mon *-*-* 03:00\")"
        ));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"//! Service unresponsive: check, restart, verify.
//!
//! Longer text
//! on two lines.
//!
//! @param service: string = "lowcode-platform"   service name
//! @param tail: int = 50                          lines to show
//! @param window: duration = 10m                  how far back
//! @param ratio: float = 0.5
//! @param restart: bool = true                    restart when unhealthy
//! @param tag: string                             required
let x = 1;
"#;

    #[test]
    fn parses_header() {
        let h = parse(SRC, "x.rhai").unwrap();
        assert_eq!(h.summary, "Service unresponsive: check, restart, verify.");
        assert_eq!(h.description, "Longer text\non two lines.");
        assert_eq!(h.params.len(), 6);
        assert_eq!(h.params[0].default.as_deref(), Some("lowcode-platform"));
        assert_eq!(h.params[0].doc, "service name");
        assert_eq!(
            h.params[2].parse_value("2h").unwrap(),
            ParamValue::Int(7200)
        );
        assert_eq!(h.params[3].doc, "");
        assert!(h.params[5].default.is_none());
    }

    #[test]
    fn bad_values_name_param_and_type() {
        let h = parse(SRC, "x.rhai").unwrap();
        let e = h.params[1].parse_value("fifty").unwrap_err().to_string();
        assert!(e.contains("tail") && e.contains("int"), "{e}");
        let e = h.params[4].parse_value("maybe").unwrap_err().to_string();
        assert!(e.contains("restart") && e.contains("bool"), "{e}");
    }

    #[test]
    fn bad_header_lines_have_positions() {
        let e = parse("//! s\n//! @param x: widget = 1\n", "a.rhai")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("a.rhai:2:"), "{e}");
        assert!(e.contains("widget"), "{e}");
        let e = parse("//! s\n//! @param n: int = many\n", "a.rhai")
            .unwrap_err()
            .to_string();
        assert!(e.contains("default of parameter n"), "{e}");
    }
}
