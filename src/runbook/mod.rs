//! Runbooks: finding them ([`discover`]), reading their header ([`header`]), running them
//! ([`runner`]).

pub mod discover;
pub mod header;
pub mod problems;
pub mod runner;

/// Script reading and the built-in scripts live below the engine ([`crate::script`]); kept
/// here under their old names.
pub use crate::script::{embedded, statics};

pub use discover::{Runbook, SearchPath};
pub use header::{Header, ParamSpec, ParamType};
