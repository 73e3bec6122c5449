//! The C ABI of bearerflow: core's session machine and header layer behind `bf_`
//! functions, for any native host (C, C++, Swift, Go through cgo, Zig, Python through
//! ctypes). The header `include/bearerflow.h` is generated from this crate by cbindgen
//! (`cbindgen.toml`) and committed; `cargo xtask ci` regenerates it and fails on a
//! difference. Its opening comment (in `cbindgen.toml`) states the rules every host
//! follows: ownership, lifetimes, threads, errors and panics.
//!
//! This crate translates only. Each function checks its arguments (NULL, alignment,
//! lengths, UTF-8, enum values), calls one core function, and translates the result
//! into C types and a [`bf_status`]; every auth decision stays in core.
//!
//! # Panics
//!
//! Every entry point runs inside `catch_unwind` (the `guard` module), and the
//! library is built with `panic = "unwind"` (the `c-release` profile), so a bug becomes
//! `BF_STATUS_PANIC` (and poisons the session it happened on) instead of unwinding into
//! C or aborting the host. Core claims no panic is reachable from input; the guard is
//! for the bugs nobody has found.
//!
//! All `unsafe` of the project lives here, each block with a `// SAFETY:` comment.
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![allow(non_camel_case_types)]
// The entry points are `unsafe extern "C"`: their safety contract is the header's
// comments on each function, not a `# Safety` section here.
#![allow(clippy::missing_safety_doc)]
#![allow(clippy::too_many_arguments)]

mod action;
mod args;
mod guard;
mod header;
mod resource;
mod session;
mod types;

pub use action::{
    bf_action, bf_action_kind, bf_authorize, bf_cause, bf_fail, bf_fetch, bf_persist, bf_send,
};
pub use guard::{bf_error, bf_last_error};
pub use header::{
    bf_authorization_bearer_parse, bf_authorization_bearer_render, bf_bearer,
    bf_bearer_challenge_find, bf_bearer_challenge_parse, bf_bearer_challenge_render, bf_challenge,
    bf_challenge_list, bf_challenge_parse, bf_challenge_render, bf_challenge_render_token68,
    bf_param, bf_render_error, bf_render_error_kind, BF_TOLERATED_DUPLICATE_PARAM,
    BF_TOLERATED_MISSING_COMMA, BF_TOLERATED_TAB_AFTER_SCHEME, BF_TOLERATED_UNQUOTED_NON_TOKEN,
};
pub use resource::{
    bf_guard, bf_guard_decide, bf_guard_refuse, bf_guard_resource_metadata, bf_guard_token,
    bf_refusal, bf_refusal_kind, bf_verification, bf_verification_kind,
};
pub use session::*;
pub use types::{
    bf_bytes, bf_fetch_purpose, bf_header, bf_http_error_kind, bf_parse_mode, bf_phase,
    bf_request_error, bf_status, bf_str, bf_string, bf_string_free, bf_verdict,
};

/// A global allocator for the unit tests that looks for a marker in every block freed
/// while armed: how the tests check that secrets are zeroized before their memory is
/// released.
#[cfg(test)]
mod alloc_probe {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// Text no other test uses.
    pub const MARKER: &[u8] = b"zq-secret-marker-7";
    thread_local! {
        /// Armed on the test's own thread only: other tests run in parallel.
        static ARMED: Cell<bool> = const { Cell::new(false) };
    }
    static FOUND: AtomicUsize = AtomicUsize::new(0);
    static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
    /// One armed test at a time.
    static LOCK: Mutex<()> = Mutex::new(());

    struct Probe;

    // SAFETY: forwards to `System`. Every block is zeroed when allocated, so the read in
    // `dealloc` (inside the block being freed, still allocated at that point) reads
    // initialized bytes.
    unsafe impl GlobalAlloc for Probe {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if is_armed() {
                ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
            }
            // SAFETY: forwarded contract.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if is_armed() {
                // SAFETY: `ptr` is a live block of `layout.size()` bytes until the
                // `System.dealloc` below, initialized since `alloc` zeroed it.
                let block = unsafe { core::slice::from_raw_parts(ptr, layout.size()) };
                if block.windows(MARKER.len()).any(|w| w == MARKER) {
                    FOUND.fetch_add(1, Ordering::SeqCst);
                }
            }
            // SAFETY: forwarded contract.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static GLOBAL: Probe = Probe;

    /// Whether this thread is armed (a const-initialized thread-local without a
    /// destructor: reading it never allocates; false while the thread is torn down).
    fn is_armed() -> bool {
        ARMED.try_with(Cell::get).unwrap_or(false)
    }

    /// Run `f` armed on this thread: how many blocks it freed still held the marker,
    /// and how many allocations it made.
    fn armed(f: impl FnOnce()) -> (usize, usize) {
        let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        FOUND.store(0, Ordering::SeqCst);
        ALLOCATIONS.store(0, Ordering::SeqCst);
        ARMED.with(|a| a.set(true));
        f();
        ARMED.with(|a| a.set(false));
        (
            FOUND.load(Ordering::SeqCst),
            ALLOCATIONS.load(Ordering::SeqCst),
        )
    }

    /// How many blocks freed while `f` ran still held the marker.
    pub fn freed_with_marker(f: impl FnOnce()) -> usize {
        armed(f).0
    }

    /// How many allocations were made while `f` ran.
    pub fn allocations_during(f: impl FnOnce()) -> usize {
        armed(f).1
    }
}
