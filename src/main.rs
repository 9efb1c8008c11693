//! The `runbook` binary: parse the command line, run the command, exit with its code.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;

fn main() {
    // Die quietly on a closed pipe (`runbook docs | head`), like other command-line tools.
    // SAFETY: resetting a signal disposition to its default at start-up, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = runbook::cli::Cli::parse();
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    // First Ctrl-C cancels the running script cleanly (exit 3); a second one exits at once.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("runbook: interrupted twice, exiting");
            std::process::exit(3);
        }
    });
    std::process::exit(runbook::app::main(cli, cancel));
}
