//! The one error type of the crate.
//!
//! Every variant carries the context a user needs to act on it (the path, the rule, the parameter).
//! [`Error::exit_code`] maps each variant onto the exit codes of `runbook run` documented in
//! `README.md` (0 ok, 1 failed check, 2 usage, 3 limit, 4 denied, 5 script error), and
//! [`Error::kind`] gives the stable word scripts see in `catch (e) { e.kind }`.

use std::path::{Path, PathBuf};

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `runbook`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command line or parameters (exit 2).
    #[error("{0}")]
    Usage(String),

    /// The policy does not allow the action (exit 4). `rule` names the policy key that decided.
    #[error("denied by policy: {what} (rule: {rule})")]
    Denied { what: String, rule: String },

    /// A limit stopped the run: operations, wall clock, size (exit 3).
    #[error("limit reached: {0}")]
    Limit(String),

    /// Ctrl-C (SIGINT) or an explicit cancellation (exit 3).
    #[error("interrupted")]
    Interrupted,

    /// The runbook called `fail(message)` (exit 1).
    #[error("{0}")]
    Fail(String),

    /// An I/O error with what we were doing and on which path.
    #[error("{context} {}: {source}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `runbook.toml` could not be read or is invalid.
    #[error("config {}: {message}", path.display())]
    Config { path: PathBuf, message: String },

    /// A script does not compile or threw; `location` is `file:line:col` when known.
    #[error("{location}: {message}")]
    Script { location: String, message: String },

    /// A primitive failed on its input (bad archive, malformed pm2 output, HTTP error …).
    /// Exit 5 when the script does not catch it.
    #[error("{0}")]
    Failed(String),

    /// Another run holds a lock (service restart lock, backup name …).
    #[error("{0}")]
    Busy(String),

    /// The audit log cannot take an effect's record: the effect was not done (or its outcome
    /// could not be recorded) and the run stops — a script cannot catch this (exit 5).
    #[error("{0}")]
    AuditUnwritable(String),
}

impl Error {
    /// Build an [`Error::Io`] for `path`.
    pub fn io(context: &'static str, path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            context,
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// Build an [`Error::Failed`] from anything printable.
    pub fn failed(msg: impl Into<String>) -> Self {
        Error::Failed(msg.into())
    }

    /// Build an [`Error::Denied`].
    pub fn denied(what: impl Into<String>, rule: impl Into<String>) -> Self {
        Error::Denied {
            what: what.into(),
            rule: rule.into(),
        }
    }

    /// The typed kind.
    pub fn error_kind(&self) -> ErrorKind {
        ErrorKind::from_word(self.kind())
    }

    /// Stable one-word kind, visible to scripts as `e.kind` and in the JSON report's `status`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Usage(_) => "usage",
            Error::Denied { .. } => "denied",
            Error::Limit(_) => "limit",
            Error::Interrupted => "interrupted",
            Error::Fail(_) => "fail",
            Error::Io { .. } => "io",
            Error::Config { .. } => "config",
            Error::Script { .. } => "script",
            Error::Failed(_) => "failed",
            Error::Busy(_) => "busy",
            Error::AuditUnwritable(_) => "audit",
        }
    }

    /// Exit code of `runbook run` when this error ends the run (see README, "Exit codes").
    pub fn exit_code(&self) -> i32 {
        self.error_kind().exit_code()
    }
}

/// The kind of an error, kept typed from the host error through the script's failure to the
/// report (scripts see it as the word [`ErrorKind::as_str`] in `e.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Usage,
    Denied,
    Limit,
    Interrupted,
    Fail,
    Io,
    Config,
    Script,
    Failed,
    Busy,
    Audit,
}

impl ErrorKind {
    /// Every kind, for docs and tests.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::Usage,
        ErrorKind::Denied,
        ErrorKind::Limit,
        ErrorKind::Interrupted,
        ErrorKind::Fail,
        ErrorKind::Io,
        ErrorKind::Config,
        ErrorKind::Script,
        ErrorKind::Failed,
        ErrorKind::Busy,
        ErrorKind::Audit,
    ];

    /// The stable word (`e.kind` in scripts, `error_kind` in the JSON report).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Usage => "usage",
            ErrorKind::Denied => "denied",
            ErrorKind::Limit => "limit",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Fail => "fail",
            ErrorKind::Io => "io",
            ErrorKind::Config => "config",
            ErrorKind::Script => "script",
            ErrorKind::Failed => "failed",
            ErrorKind::Busy => "busy",
            ErrorKind::Audit => "audit",
        }
    }

    /// The kind of a word read back from a script's error value; anything else (a value a
    /// script threw itself) is [`ErrorKind::Script`].
    pub fn from_word(word: &str) -> ErrorKind {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == word)
            .unwrap_or(ErrorKind::Script)
    }

    /// Exit code of `runbook run` when an error of this kind ends the run (README, "Exit codes").
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Fail => 1,
            ErrorKind::Usage | ErrorKind::Config => 2,
            ErrorKind::Limit | ErrorKind::Interrupted => 3,
            ErrorKind::Denied => 4,
            _ => 5,
        }
    }
}

impl AsRef<str> for ErrorKind {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Exit code for an error kind, typed or as its word (as produced by [`Error::kind`]).
pub fn exit_code_for_kind(kind: impl AsRef<str>) -> i32 {
    ErrorKind::from_word(kind.as_ref()).exit_code()
}

impl From<Error> for Box<rhai::EvalAltResult> {
    /// Host errors reach scripts as a runtime error whose value is a map
    /// `#{kind, message}`, so `try { … } catch (e) { print(e.kind) }` works;
    /// the engine fills in the position of the call.
    fn from(e: Error) -> Self {
        let mut map = rhai::Map::new();
        map.insert("kind".into(), e.kind().into());
        map.insert("message".into(), e.to_string().into());
        if matches!(e, Error::AuditUnwritable(_)) {
            // Not catchable: no script may go on causing effects without an audit trail.
            return Box::new(rhai::EvalAltResult::ErrorTerminated(
                map.into(),
                rhai::Position::NONE,
            ));
        }
        Box::new(rhai::EvalAltResult::ErrorRuntime(
            map.into(),
            rhai::Position::NONE,
        ))
    }
}

/// Result type of every Rhai-visible host function.
pub type RhaiResult<T> = std::result::Result<T, Box<rhai::EvalAltResult>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_words_with_their_exit_codes() {
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_word(k.as_str()), k);
            assert_eq!(exit_code_for_kind(k.as_str()), k.exit_code());
        }
        assert_eq!(Error::Interrupted.error_kind(), ErrorKind::Interrupted);
        assert_eq!(Error::Interrupted.exit_code(), 3);
        assert_eq!(Error::Fail("x".into()).exit_code(), 1);
        assert_eq!(
            ErrorKind::from_word("thrown by a script"),
            ErrorKind::Script
        );
    }
}
