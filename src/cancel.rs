//! Cooperative cancellation: Ctrl-C and the run's wall-clock deadline.
//!
//! The engine checks it every few thousand operations; long host primitives (scans, archive
//! writes, waits, child processes) call [`Cancel::check`] in their loops so a stuck primitive
//! cannot outlive the run's `--timeout`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A cheap, cloneable cancellation handle (flag + optional deadline).
#[derive(Clone, Debug, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

impl Cancel {
    /// A handle that is never cancelled and has no deadline.
    pub fn never() -> Self {
        Self::default()
    }

    /// A handle sharing `flag` (set by the SIGINT handler) with an optional deadline.
    pub fn new(flag: Arc<AtomicBool>, deadline: Option<Instant>) -> Self {
        Self { flag, deadline }
    }

    /// The same flag with a new deadline `timeout` from now.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            flag: self.flag.clone(),
            deadline: Some(Instant::now() + timeout),
        }
    }

    /// Request cancellation (what Ctrl-C does).
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Clear a previous cancellation (the REPL does this before each input).
    pub fn reset(&self) {
        self.flag.store(false, Ordering::SeqCst);
    }

    /// The shared flag.
    pub fn flag(&self) -> &Arc<AtomicBool> {
        &self.flag
    }

    /// The deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left before the deadline (`None`: no deadline).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether cancellation was requested (ignores the deadline).
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// `Err(Interrupted)` after Ctrl-C, `Err(Limit)` past the deadline, else `Ok(())`.
    pub fn check(&self) -> Result<()> {
        if self.flag.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        if let Some(d) = self.deadline {
            if Instant::now() >= d {
                return Err(Error::Limit("wall-clock timeout".into()));
            }
        }
        Ok(())
    }

    /// Sleep up to `dur`, waking early (with an error) on cancellation or deadline.
    pub fn sleep(&self, dur: Duration) -> Result<()> {
        let end = Instant::now() + dur;
        loop {
            self.check()?;
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            std::thread::sleep((end - now).min(Duration::from_millis(50)));
        }
    }
}
