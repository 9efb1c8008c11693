//! The reference for the engine-overhead benchmark: a bare `rhai::Engine` running a script
//! file the way `rhai-run` does (no limits, no host modules, no deadline check).
//!
//! Usage: `bare_rhai [--progress] FILE.rhai`
//!
//! `--progress` installs an empty `on_progress` callback: the floor that any Rhai host able to
//! stop a CPU-bound script pays, because with a callback installed Rhai counts every operation
//! and calls it (the bare engine skips both). `benches/engine.sh` prints both references.

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let progress = args.first().is_some_and(|a| a == "--progress");
    if progress {
        args.remove(0);
    }
    let [path] = args.as_slice() else {
        eprintln!("usage: bare_rhai [--progress] FILE.rhai");
        std::process::exit(2);
    };
    let mut engine = rhai::Engine::new();
    engine.set_optimization_level(rhai::OptimizationLevel::Simple);
    if progress {
        engine.on_progress(|_| None);
    }
    if let Err(e) = engine.run_file(path.into()) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
