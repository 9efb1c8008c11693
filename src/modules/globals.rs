//! Global functions.
pub fn register(_engine: &mut rhai::Engine) {}
