//! The boundary: every entry point runs inside [`guard`] (or [`with_session`]), which
//! turns a failure into a status code and a recorded error, and a panic into
//! `BF_STATUS_PANIC`, so that nothing unwinds into C.
//!
//! Errors are recorded in two places: the calling thread's record (read with
//! `bf_last_error`) and, for calls on a session, the session's own record (read with
//! `bf_session_last_error`, useful for a host that moves the session between threads).
//! A successful call leaves both as they were, like `errno`.

use crate::session::bf_session;
use crate::types::{bf_status, bf_str, empty_str};
use core::cell::RefCell;
use core::ffi::c_char;
use core::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A failed call: its status, a stable snake_case code (core's where core has one) and
/// a message that never holds a secret.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: bf_status,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: bf_status, code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            status,
            code,
            message: message.into(),
        }
    }

    /// A failure whose code and message come from one of core's error types.
    pub(crate) fn core(status: bf_status, code: &'static str, e: &dyn fmt::Display) -> Self {
        Failure::new(status, code, e.to_string())
    }

    pub(crate) fn null(what: &str) -> Self {
        Failure::new(
            bf_status::NullPointer,
            "null_pointer",
            format!("{what} is NULL"),
        )
    }

    pub(crate) fn utf8(what: &str, at: usize) -> Self {
        Failure::new(
            bf_status::InvalidUtf8,
            "invalid_utf8",
            format!("{what} is not UTF-8 (first bad byte at offset {at})"),
        )
    }

    pub(crate) fn length(what: &str, why: &str) -> Self {
        Failure::new(
            bf_status::InvalidLength,
            "invalid_length",
            format!("{what}: {why}"),
        )
    }

    pub(crate) fn too_small(what: &str, needed: usize, unit: &str) -> Self {
        Failure::new(
            bf_status::BufferTooSmall,
            "buffer_too_small",
            format!("{what} is too small: {needed} {unit} needed"),
        )
    }

    pub(crate) fn invalid(what: &str, why: &str) -> Self {
        Failure::new(
            bf_status::InvalidArgument,
            "invalid_argument",
            format!("{what}: {why}"),
        )
    }

    fn panic() -> Self {
        Failure::new(
            bf_status::Panic,
            "panic",
            "internal error caught at the C boundary (a bug in bearerflow: please report it)",
        )
    }

    pub(crate) fn poisoned() -> Self {
        Failure::new(
            bf_status::Poisoned,
            "poisoned",
            "this session hit an internal error earlier and can only be freed",
        )
    }
}

/// A call failure as C reads it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_error {
    /// The status the failed call returned (`BF_STATUS_OK` when nothing failed yet).
    pub status: bf_status,
    /// The stable snake_case code (core's where core has one, such as
    /// `config_invalid` or `state_mismatch`). NUL-terminated; empty when nothing failed.
    pub code: bf_str,
    /// What went wrong, in words; never holds a token or a secret. NUL-terminated;
    /// empty when nothing failed.
    pub message: bf_str,
}

/// The storage behind a [`bf_error`]: `code NUL message NUL`.
#[derive(Debug)]
pub(crate) struct ErrorRecord {
    status: bf_status,
    text: Vec<u8>,
    code_len: usize,
}

impl ErrorRecord {
    pub(crate) const fn new() -> ErrorRecord {
        ErrorRecord {
            status: bf_status::Ok,
            text: Vec::new(),
            code_len: 0,
        }
    }

    /// Replace the record; `code` and `message` never contain NUL (codes are ours,
    /// messages come from `Display` impls that escape control characters).
    pub(crate) fn set(&mut self, status: bf_status, code: &str, message: &str) {
        self.status = status;
        self.text.clear();
        self.text.extend_from_slice(code.as_bytes());
        self.text.push(0);
        self.text.extend_from_slice(message.as_bytes());
        self.text.push(0);
        self.code_len = code.len();
    }

    /// Borrow the record: pointers into `self.text`, valid until the next `set`.
    pub(crate) fn view(&self) -> bf_error {
        if self.text.is_empty() {
            return bf_error {
                status: self.status,
                code: empty_str(),
                message: empty_str(),
            };
        }
        let base: *const c_char = self.text.as_ptr().cast();
        bf_error {
            status: self.status,
            code: bf_str {
                ptr: base,
                len: self.code_len,
            },
            message: bf_str {
                // `code NUL message NUL`: the message starts after the code's NUL.
                ptr: base.wrapping_add(self.code_len + 1),
                len: self.text.len() - self.code_len - 2,
            },
        }
    }
}

thread_local! {
    static THREAD_ERROR: RefCell<ErrorRecord> = const { RefCell::new(ErrorRecord::new()) };
}

/// Record a failure for the calling thread. Never panics: during thread teardown, or
/// if the record is somehow borrowed, the failure is not recorded.
pub(crate) fn record_thread(f: &Failure) {
    let _ = THREAD_ERROR.try_with(|cell| {
        if let Ok(mut rec) = cell.try_borrow_mut() {
            rec.set(f.status, f.code, &f.message);
        }
    });
}

/// Run an entry point's body: `Ok` is `BF_STATUS_OK`; a failure is recorded for the
/// thread and returned; a panic is caught and becomes `BF_STATUS_PANIC`.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Failure>) -> bf_status {
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return bf_status::Ok,
        Ok(Err(f)) => f,
        Err(_) => Failure::panic(),
    };
    record_thread(&failure);
    failure.status
}

/// [`guard`] for the functions that return nothing (the `*_free` functions).
pub(crate) fn guard_void(body: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(body)).is_err() {
        record_thread(&Failure::panic());
    }
}

/// Run an entry point's body on a session: checks the pointer and the poison flag, then
/// records a failure both for the thread and in the session; a panic poisons the
/// session (its state may be half-updated), so later calls fail with
/// `BF_STATUS_POISONED` instead of acting on it.
pub(crate) fn with_session(
    session: *mut bf_session,
    body: impl FnOnce(&mut bf_session) -> Result<(), Failure>,
) -> bf_status {
    if session.is_null() {
        let f = Failure::null("session");
        record_thread(&f);
        return f.status;
    }
    if !session.is_aligned() {
        let f = Failure::invalid("session", "misaligned pointer (not from bf_session_new)");
        record_thread(&f);
        return f.status;
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: non-NULL and aligned (checked above); the header requires a live
        // session from `bf_session_new`/`bf_session_restore` that no other thread uses
        // during this call, so this is the only reference to it.
        let s = unsafe { &mut *session };
        if s.poisoned {
            return Err(Failure::poisoned());
        }
        body(s)
    }));
    let failure = match result {
        Ok(Ok(())) => return bf_status::Ok,
        Ok(Err(f)) => f,
        Err(_) => {
            // SAFETY: as above; the reference taken inside the closure ended with the
            // unwind, so this one is again the only one.
            unsafe { (*session).poisoned = true };
            Failure::panic()
        }
    };
    record_thread(&failure);
    // SAFETY: as above. Recording is plain field writes that cannot panic (short of an
    // allocation failure, which aborts).
    unsafe {
        (*session)
            .error
            .set(failure.status, failure.code, &failure.message)
    };
    failure.status
}

/// Run a read-only entry point's body on a session. Failures are recorded for the
/// thread only (the session is not written).
pub(crate) fn with_session_ref(
    session: *const bf_session,
    body: impl FnOnce(&bf_session) -> Result<(), Failure>,
) -> bf_status {
    guard(|| {
        if session.is_null() {
            return Err(Failure::null("session"));
        }
        if !session.is_aligned() {
            return Err(Failure::invalid(
                "session",
                "misaligned pointer (not from bf_session_new)",
            ));
        }
        // SAFETY: non-NULL and aligned; the header requires a live session that no
        // other thread mutates during this call.
        let s = unsafe { &*session };
        if s.poisoned {
            return Err(Failure::poisoned());
        }
        body(s)
    })
}

/// The calling thread's last failure: status, code and message, or `BF_STATUS_OK` with
/// empty strings when no call on this thread has failed yet. The strings are
/// NUL-terminated and stay valid until the next call on this thread that fails (a
/// successful call leaves the record alone). `out` must not be NULL.
#[no_mangle]
pub unsafe extern "C" fn bf_last_error(out: *mut bf_error) -> bf_status {
    if out.is_null() || !out.is_aligned() {
        // Nothing to write into; do not overwrite the record the host wants to read.
        return if out.is_null() {
            bf_status::NullPointer
        } else {
            bf_status::InvalidArgument
        };
    }
    let result = catch_unwind(|| {
        THREAD_ERROR
            .try_with(|cell| cell.try_borrow().map(|r| r.view()).ok())
            .ok()
            .flatten()
    });
    let view = match result {
        Ok(Some(v)) => v,
        _ => bf_error {
            status: bf_status::Ok,
            code: empty_str(),
            message: empty_str(),
        },
    };
    // SAFETY: `out` is non-NULL and aligned; the header requires it to point at
    // writable memory for one `bf_error`.
    unsafe { out.write(view) };
    bf_status::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: bf_str) -> String {
        // SAFETY: test-only; `s` comes from a live record.
        let b = unsafe { core::slice::from_raw_parts(s.ptr.cast::<u8>(), s.len) };
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn a_panic_becomes_a_status_and_a_record() {
        let status = guard(|| panic!("boom"));
        assert_eq!(status, bf_status::Panic);
        let mut e = core::mem::MaybeUninit::<bf_error>::uninit();
        // SAFETY: a valid out pointer.
        assert_eq!(unsafe { bf_last_error(e.as_mut_ptr()) }, bf_status::Ok);
        // SAFETY: written by bf_last_error.
        let e = unsafe { e.assume_init() };
        assert_eq!(e.status, bf_status::Panic);
        assert_eq!(text(e.code), "panic");
        // The code is NUL-terminated.
        // SAFETY: the record holds `code NUL message NUL`.
        assert_eq!(unsafe { *e.code.ptr.add(e.code.len) }, 0);
    }

    #[test]
    fn success_leaves_the_record_alone() {
        let _ = guard(|| Err(Failure::null("thing")));
        assert_eq!(guard(|| Ok(())), bf_status::Ok);
        let mut e = core::mem::MaybeUninit::<bf_error>::uninit();
        // SAFETY: a valid out pointer.
        unsafe { bf_last_error(e.as_mut_ptr()) };
        // SAFETY: written above.
        let e = unsafe { e.assume_init() };
        assert_eq!(e.status, bf_status::NullPointer);
        assert_eq!(text(e.message), "thing is NULL");
    }
}
