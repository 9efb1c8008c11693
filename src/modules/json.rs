//! `json::`
use rhai::plugin::*;

#[export_module]
pub mod json_module {}
