//! `http::` — placeholder until its issue lands (replaced by the module's owner).

use rhai::plugin::*;

#[export_module]
pub mod http_module {}
