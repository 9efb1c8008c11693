//! The `runbook` binary: parse the command line, run the command, exit with its code.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use clap::Parser;

/// Count live bytes so `policy.max_memory_mb` can stop a script before the host runs out.
#[global_allocator]
static ALLOC: runbook::alloc::CountingAlloc = runbook::alloc::CountingAlloc;

fn main() {
    // Die quietly on a closed pipe (`runbook docs | head`), like other command-line tools.
    // SAFETY: resetting a signal disposition to its default at start-up, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // `COMPLETE=bash runbook …`: the shell asks for completions (runbook names, parameters).
    runbook::complete::complete_if_asked();
    let cli = runbook::cli::Cli::parse();
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    // First Ctrl-C cancels the running script cleanly (exit 3); a second one while the script
    // has not stopped yet exits at once. The REPL resets the flag after each input and keeps
    // the session, so there a quick double tap must not end it: it takes three presses
    // during one input that does not stop.
    let presses_to_exit = if matches!(cli.command, runbook::cli::Command::Repl) {
        3
    } else {
        2
    };
    let presses = AtomicUsize::new(0);
    let _ = ctrlc::set_handler(move || {
        if !flag.swap(true, Ordering::SeqCst) {
            presses.store(1, Ordering::SeqCst);
            return;
        }
        let n = presses.fetch_add(1, Ordering::SeqCst) + 1;
        if n >= presses_to_exit {
            eprintln!("runbook: interrupted {n} times, exiting");
            std::process::exit(3);
        }
        eprintln!(
            "runbook: still stopping; Ctrl-C {} more time(s) ends the session",
            presses_to_exit - n
        );
    });
    std::process::exit(runbook::app::main(cli, cancel));
}
