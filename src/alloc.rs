//! A counting global allocator: the bytes currently allocated by the process, so the engine can
//! stop a script whose values together outgrow `policy.max_memory_mb` (Rhai caps each value,
//! not their sum). The binary installs it (`#[global_allocator]` in `main.rs`); a program that
//! does not reads 0 and gets no memory limit.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATED: AtomicU64 = AtomicU64::new(0);
/// Live bytes above which an allocation fails (0: no ceiling); see [`set_ceiling`].
static CEILING: AtomicU64 = AtomicU64::new(0);

/// Refuse any allocation that would take the live bytes above `bytes` (0: no ceiling).
///
/// This is the backstop behind the engine's per-operation memory check: one native call (a
/// `print` of an array holding the same large string many times, say) can ask for more than
/// the budget before the check runs again. A refused allocation ends the process through
/// Rust's allocation-error handler ("memory allocation of N bytes failed", SIGABRT), which
/// is crude but keeps the host alive. The engine sets it to four times the budget plus 64 MiB:
/// an operation that doubles a value within the budget (`s += s` holds the old value, a copy
/// and the grown buffer at once) still ends in the engine's clean "memory limit" stop.
pub fn set_ceiling(bytes: u64) {
    CEILING.store(bytes, Ordering::Relaxed);
}

#[inline]
fn over_ceiling(more: usize) -> bool {
    let ceiling = CEILING.load(Ordering::Relaxed);
    ceiling != 0
        && ALLOCATED
            .load(Ordering::Relaxed)
            .saturating_add(more as u64)
            > ceiling
}

/// The system allocator, counting live bytes.
pub struct CountingAlloc;

// SAFETY: every method forwards to `System` unchanged and only adjusts a counter.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if over_ceiling(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if over_ceiling(layout.size()) {
            return std::ptr::null_mut();
        }
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
        if new_size > layout.size() && over_ceiling(new_size - layout.size()) {
            return std::ptr::null_mut();
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
