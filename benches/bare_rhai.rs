//! The reference for the engine-overhead benchmark: a bare `rhai::Engine` running a script
//! file the way `rhai-run` does (no limits, no host modules, no deadline check).
//!
//! Usage: `bare_rhai FILE.rhai`

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: bare_rhai FILE.rhai");
        std::process::exit(2);
    };
    let mut engine = rhai::Engine::new();
    engine.set_optimization_level(rhai::OptimizationLevel::Simple);
    if let Err(e) = engine.run_file(path.into()) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
