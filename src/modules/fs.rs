//! `fs::` — files inside the policy's roots.
use rhai::plugin::*;

#[export_module]
pub mod fs_module {}
