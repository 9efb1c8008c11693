//! A counting global allocator: the bytes currently allocated by the process, so the engine can
//! stop a script whose values together outgrow `policy.max_memory_mb` (Rhai caps each value,
//! not their sum). The binary installs it (`#[global_allocator]` in `main.rs`); a program that
//! does not reads 0 and gets no memory limit.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATED: AtomicU64 = AtomicU64::new(0);
/// Live bytes above which the process stops (0: no ceiling); see [`set_ceiling`].
static CEILING: AtomicU64 = AtomicU64::new(0);

/// End the process, with exit code 3 (limit) and one line on stderr, before any allocation
/// that would take the live bytes above `bytes` (0: no ceiling).
///
/// This is the backstop behind the engine's per-operation memory check: one native call (`s += s`
/// on a large string, a `print` of an array holding the same large string many times) can ask
/// for more than the budget before the check runs again. The engine sets it to the budget plus
/// [`HEADROOM`], so no input raises the live heap above `policy.max_memory_mb` + 48 MiB, and the
/// process's peak RSS (heap plus ~16 MiB of code, stacks and allocator slack) stays under the
/// budget + 64 MiB (issue 11's bound). The stop is immediate: nothing more can be allocated, so no
/// report is written and no `on_failure` compensation runs; an effect in flight keeps its
/// `started` audit record, which `runbook audit` shows as "no outcome (process ended)".
pub const HEADROOM: u64 = 48 << 20;

/// Set the ceiling (see [`HEADROOM`]); 0 removes it.
pub fn set_ceiling(bytes: u64) {
    CEILING.store(bytes, Ordering::Relaxed);
}

/// Stop the process (see [`stop_at_ceiling`]) if `more` bytes would pass the ceiling.
#[inline]
fn check_ceiling(more: usize) {
    let ceiling = CEILING.load(Ordering::Relaxed);
    if ceiling != 0
        && ALLOCATED
            .load(Ordering::Relaxed)
            .saturating_add(more as u64)
            > ceiling
    {
        stop_at_ceiling(more, ceiling);
    }
}

/// Say why on stderr and end the process with exit code 3, without allocating (the allocator
/// cannot call itself): the message is assembled in a stack buffer and written with `write(2)`,
/// then `_exit(2)` skips destructors that could allocate.
#[cold]
#[inline(never)]
fn stop_at_ceiling(more: usize, ceiling: u64) -> ! {
    let mut buf = [0u8; 256];
    let mut n = 0;
    let mut put = |b: &[u8]| {
        let k = b.len().min(buf.len() - n);
        buf[n..n + k].copy_from_slice(&b[..k]);
        n += k;
    };
    put(b"runbook: memory limit: one operation asked for ");
    put(decimal(&mut [0; 20], (more as u64) >> 20));
    put(b" MiB with ");
    put(decimal(
        &mut [0; 20],
        ALLOCATED.load(Ordering::Relaxed) >> 20,
    ));
    put(b" MiB in use, above policy.max_memory_mb + 48 MiB (");
    put(decimal(&mut [0; 20], ceiling >> 20));
    put(b" MiB); stopped at once (no report, no compensations)\n");
    // SAFETY: write(2) and _exit(2) are async-signal-safe and touch no Rust state.
    unsafe {
        libc::write(2, buf.as_ptr().cast(), n);
        libc::_exit(3);
    }
}

/// `v` in decimal, written into the end of `buf`.
fn decimal(buf: &mut [u8; 20], mut v: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[i..];
        }
    }
}

/// The system allocator, counting live bytes.
pub struct CountingAlloc;

// SAFETY: every method forwards to `System` unchanged and only adjusts a counter.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check_ceiling(layout.size());
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check_ceiling(layout.size());
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        ALLOCATED.fetch_sub(layout.size() as u64, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            check_ceiling(new_size - layout.size());
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                ALLOCATED.fetch_add((new_size - layout.size()) as u64, Ordering::Relaxed);
            } else {
                ALLOCATED.fetch_sub((layout.size() - new_size) as u64, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Bytes currently allocated through [`CountingAlloc`] (0 when it is not installed).
pub fn allocated() -> u64 {
    ALLOCATED.load(Ordering::Relaxed)
}
