//! Where the engine's per-operation overhead goes: runs one script under engines that add the
//! sandbox's parts one at a time, interleaved round by round (the machine may be shared), and
//! prints each one's best time against the bare engine's.
//!
//! Usage: `overhead FILE.rhai [ROUNDS]` (built with the counting allocator installed, as the
//! `runbook` binary is).

use std::time::Instant;

#[global_allocator]
static ALLOC: runbook::alloc::CountingAlloc = runbook::alloc::CountingAlloc;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: overhead FILE.rhai [ROUNDS]");
    let rounds: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().expect("ROUNDS is a number"))
        .unwrap_or(5);
    let src = std::fs::read_to_string(&path).expect("readable script");

    let mut engines: Vec<(&str, rhai::Engine)> = Vec::new();
    engines.push(("bare rhai::Engine", rhai::Engine::new()));

    let mut e = rhai::Engine::new();
    e.set_max_operations(100_000_000_000)
        .set_max_call_levels(64)
        .set_max_expr_depths(64, 48)
        .set_max_modules(64)
        .set_max_variables(10_000)
        .set_max_functions(10_000)
        .set_strict_variables(true);
    engines.push(("+ scalar limits", e));

    let mut e = rhai::Engine::new();
    e.set_max_operations(100_000_000_000);
    e.on_progress(|ops| {
        if runbook::alloc::allocated() > 1 << 40 {
            return Some(rhai::Dynamic::UNIT);
        }
        if ops % 1024 != 0 {
            return None;
        }
        None
    });
    engines.push(("+ on_progress (memory)", e));

    engines.push(("+ host modules", runbook::engine::metadata_engine()));

    let limits = runbook::engine::Limits {
        max_operations: 100_000_000_000,
        ..Default::default()
    };
    let cancel = runbook::cancel::Cancel::new(
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        None,
    );
    engines.push((
        "runbook engine::build",
        runbook::engine::build(&limits, cancel, Default::default()),
    ));

    for (_, e) in engines.iter_mut() {
        e.on_print(|_| {});
    }
    let ast = engines[0].1.compile(&src).expect("script compiles");
    let mut best = vec![f64::MAX; engines.len()];
    for _ in 0..rounds {
        for (i, (_, e)) in engines.iter().enumerate() {
            let t = Instant::now();
            e.run_ast(&ast).expect("script runs");
            best[i] = best[i].min(t.elapsed().as_secs_f64());
        }
    }
    for (i, (name, _)) in engines.iter().enumerate() {
        println!(
            "{name:<26} {:8.1} ms  {:.3}x",
            best[i] * 1e3,
            best[i] / best[0]
        );
    }
}
