//! The interactive REPL (`runbook repl`).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::error::{Error, Result};
use crate::policy::Config;
use crate::runbook::SearchPath;

/// Start an interactive session.
pub fn run(_config: Arc<Config>, _search: SearchPath, _cancel: Arc<AtomicBool>) -> Result<i32> {
    Err(Error::Usage(
        "runbook repl: not yet available in this build".into(),
    ))
}
