//! Runbooks: finding them ([`discover`]), reading their header ([`header`]), running them
//! ([`runner`]).

pub mod discover;
pub mod header;
pub mod runner;
pub mod statics;

/// The runbooks and stdlib modules compiled into the binary.
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

pub use discover::{Runbook, SearchPath};
pub use header::{Header, ParamSpec, ParamType};
