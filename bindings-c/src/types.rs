//! The plain C types every part of the ABI shares: borrowed strings, owned strings,
//! status codes and the enums that mirror core's.

use crate::guard::guard_void;
use bearerflow::session::{FetchPurpose, RequestError, Verdict};
use bearerflow::token::Phase;
use core::ffi::c_char;
use core::ptr;
use zeroize::Zeroize;

/// A run of `len` bytes at `ptr`: a string (UTF-8 where the function says so) or
/// bytes. Not NUL-terminated unless the function that hands it out says so.
///
/// Handed out by the library: `ptr` is never NULL, except where a field's comment says
/// that NULL means "absent"; an empty string points at a valid, empty location. The
/// bytes are borrowed: how long they stay valid is written beside each function.
///
/// Handed in by the host: `ptr` may be NULL only when `len` is 0; the bytes need to stay
/// valid only for the duration of the call (the library copies what it keeps).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_str {
    /// The first byte.
    pub ptr: *const c_char,
    /// How many bytes.
    pub len: usize,
}

/// A run of `len` raw bytes at `ptr` (an HTTP body). Same rules as `bf_str`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_bytes {
    /// The first byte.
    pub ptr: *const u8,
    /// How many bytes.
    pub len: usize,
}

/// One HTTP header: a name and a value. Values handed out may be credentials
/// (`Authorization: Bearer …`, a form body's refresh token): do not log them.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_header {
    /// Header name as written (compare case-insensitively).
    pub name: bf_str,
    /// Header value.
    pub value: bf_str,
}

/// An owned, NUL-terminated string the library allocated for the host (a snapshot's
/// JSON). `len` counts the bytes before the terminating NUL. The host owns it: release
/// it exactly once with `bf_string_free`, which overwrites the bytes with zeros before
/// freeing them (a snapshot holds tokens). Do not change `ptr` or `len`.
#[repr(C)]
#[derive(Debug)]
pub struct bf_string {
    /// The first byte; NULL after `bf_string_free`, or when nothing was handed out.
    pub ptr: *mut c_char,
    /// Bytes before the terminating NUL.
    pub len: usize,
}

/// What every function reports. `BF_STATUS_OK` is 0; anything else is a failure whose
/// code and message `bf_last_error` (and, for calls on a session,
/// `bf_session_last_error`) give. A failed call changes nothing, unless its comment
/// says otherwise.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bf_status {
    /// Success.
    Ok = 0,
    /// A pointer the call needs is NULL (code `null_pointer`).
    NullPointer = 1,
    /// A string that must be UTF-8 is not (code `invalid_utf8`).
    InvalidUtf8 = 2,
    /// A length is wrong: a seed that is not 32 bytes, a length above `PTRDIFF_MAX`
    /// (code `invalid_length`).
    InvalidLength = 3,
    /// A caller-provided array or buffer is too small; the call says how much is needed
    /// (code `buffer_too_small`).
    BufferTooSmall = 4,
    /// An argument is out of range (an unknown enum value) or misaligned (code
    /// `invalid_argument`).
    InvalidArgument = 5,
    /// The configuration JSON was refused (core's `ConfigError` codes:
    /// `config_malformed`, `config_invalid`).
    Config = 6,
    /// The snapshot JSON was refused (core's `SnapshotError` codes:
    /// `snapshot_malformed`, `snapshot_unsupported_version`).
    Snapshot = 7,
    /// The redirect was not accepted (core's `RedirectError` codes: `not_authorizing`,
    /// `malformed`, `state_mismatch`, `denied`, `issuer_mismatch`, `missing_code`).
    Redirect = 8,
    /// A `WWW-Authenticate` value is malformed (core's `ChallengeErrorKind` codes, with
    /// the byte offset in the parse result).
    Challenge = 9,
    /// A challenge cannot be rendered (see `bf_render_error`).
    Render = 10,
    /// An `Authorization: Bearer` value is malformed or a token cannot be rendered.
    Authorization = 11,
    /// This session is unusable: an earlier call on it hit an internal bug (reported as
    /// `BF_STATUS_PANIC`). Only `bf_session_free` is still allowed (code `poisoned`).
    Poisoned = 12,
    /// An internal bug was caught at the boundary (code `panic`). Please report it.
    Panic = 13,
    /// A `bf_guard` setting cannot go into a `WWW-Authenticate` challenge (core's render
    /// codes: `control_character`, `non_ascii`).
    Guard = 14,
}

/// Where a session stands (core's `Phase`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bf_phase {
    /// No credential yet, and nothing under way to get one.
    Unauthorized = 0,
    /// The authorization flow is running.
    Authorizing = 1,
    /// A valid credential, well before its refresh window.
    Fresh = 2,
    /// Inside the refresh window: still valid and still sent; a refresh is due.
    Expiring = 3,
    /// Past its expiry, or rejected by the resource.
    Expired = 4,
    /// A token request (or helper run) is in flight.
    Refreshing = 5,
    /// No usable credential, and the last attempt to get one failed.
    Failed = 6,
}

impl From<Phase> for bf_phase {
    fn from(p: Phase) -> bf_phase {
        match p {
            Phase::Unauthorized => bf_phase::Unauthorized,
            Phase::Authorizing => bf_phase::Authorizing,
            Phase::Fresh => bf_phase::Fresh,
            Phase::Expiring => bf_phase::Expiring,
            Phase::Expired => bf_phase::Expired,
            Phase::Refreshing => bf_phase::Refreshing,
            Phase::Failed => bf_phase::Failed,
        }
    }
}

/// What a `BF_ACTION_KIND_FETCH` is for (core's `FetchPurpose`); the host treats all alike.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bf_fetch_purpose {
    /// Refresh-token grant (RFC 6749 §6).
    Refresh = 0,
    /// Protected resource metadata (RFC 9728).
    ResourceMetadata = 1,
    /// Authorization server metadata (RFC 8414).
    ServerMetadata = 2,
    /// Dynamic client registration (RFC 7591).
    Registration = 3,
    /// Authorization-code exchange (RFC 6749 §4.1.3).
    CodeExchange = 4,
    /// Client-credentials grant (RFC 6749 §4.4).
    ClientCredentials = 5,
}

impl From<FetchPurpose> for bf_fetch_purpose {
    fn from(p: FetchPurpose) -> bf_fetch_purpose {
        match p {
            FetchPurpose::Refresh => bf_fetch_purpose::Refresh,
            FetchPurpose::ResourceMetadata => bf_fetch_purpose::ResourceMetadata,
            FetchPurpose::ServerMetadata => bf_fetch_purpose::ServerMetadata,
            FetchPurpose::Registration => bf_fetch_purpose::Registration,
            FetchPurpose::CodeExchange => bf_fetch_purpose::CodeExchange,
            FetchPurpose::ClientCredentials => bf_fetch_purpose::ClientCredentials,
        }
    }
}

/// Why a request failed (core's `RequestError`). The `error_code` string beside it is
/// the stable form; `BF_REQUEST_ERROR_OTHER` stands for a code newer than this header.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bf_request_error {
    /// A code this header does not know yet: read `error_code`.
    Other = 0,
    /// `reauthorization_required`: no usable credential and none can be obtained
    /// without the user.
    ReauthorizationRequired = 1,
    /// `unauthorized`: the resource answered 401 again after a retry.
    Unauthorized = 2,
    /// `insufficient_scope`: 403 after the allowed step-ups.
    InsufficientScope = 3,
    /// `token_endpoint_unavailable`: transient token-endpoint failures, token expired.
    TokenEndpointUnavailable = 4,
    /// `token_endpoint_rejected`: an OAuth error that does not revoke the grant.
    TokenEndpointRejected = 5,
    /// `helper_failed`: the header helper failed.
    HelperFailed = 6,
    /// `authorization_failed`: authorization could not be completed.
    AuthorizationFailed = 7,
    /// `timeout`: waited longer than the policy allows for a credential.
    Timeout = 8,
    /// `cancelled`: the host cancelled the request.
    Cancelled = 9,
    /// `too_many_pending`: too many requests already unfinished.
    TooManyPending = 10,
}

impl From<RequestError> for bf_request_error {
    fn from(e: RequestError) -> bf_request_error {
        match e {
            RequestError::ReauthorizationRequired => bf_request_error::ReauthorizationRequired,
            RequestError::Unauthorized => bf_request_error::Unauthorized,
            RequestError::InsufficientScope => bf_request_error::InsufficientScope,
            RequestError::TokenEndpointUnavailable => bf_request_error::TokenEndpointUnavailable,
            RequestError::TokenEndpointRejected => bf_request_error::TokenEndpointRejected,
            RequestError::HelperFailed => bf_request_error::HelperFailed,
            RequestError::AuthorizationFailed => bf_request_error::AuthorizationFailed,
            RequestError::Timeout => bf_request_error::Timeout,
            RequestError::Cancelled => bf_request_error::Cancelled,
            RequestError::TooManyPending => bf_request_error::TooManyPending,
            _ => bf_request_error::Other,
        }
    }
}

/// What the host does with a resource response it reported (core's `Verdict`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bf_verdict {
    /// This response is the request's answer: hand it to the caller. The request is over.
    Deliver = 0,
    /// Drop this response: another `BF_ACTION_KIND_SEND` or a `BF_ACTION_KIND_FAIL` for the same
    /// request id follows.
    Retry = 1,
}

impl From<Verdict> for bf_verdict {
    fn from(v: Verdict) -> bf_verdict {
        match v {
            Verdict::Deliver => bf_verdict::Deliver,
            Verdict::Retry => bf_verdict::Retry,
        }
    }
}

/// How an HTTP exchange failed before any response (core's `HttpErrorKind`): the
/// values `bf_session_handle_http_error` takes.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bf_http_error_kind {
    /// Could not connect (DNS, refused, TLS).
    Connect = 0,
    /// The connection broke or timed out mid-exchange.
    Io = 1,
    /// The host gave up waiting.
    Timeout = 2,
}

/// How strictly to read a `WWW-Authenticate` value (core's `challenge::Mode`): the
/// values the `bf_challenge_*` parsers take.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bf_parse_mode {
    /// Any deviation from the RFC 9110 grammar is an error.
    Strict = 0,
    /// Also accept what real servers send; each tolerance is reported.
    Lenient = 1,
}

/// The empty string handed out (a valid pointer to a NUL byte, length 0).
pub(crate) fn empty_str() -> bf_str {
    bf_str {
        ptr: c"".as_ptr(),
        len: 0,
    }
}

/// "Absent": a NULL pointer, length 0.
pub(crate) fn absent_str() -> bf_str {
    bf_str {
        ptr: ptr::null(),
        len: 0,
    }
}

/// Borrow `s` as a `bf_str` (never NULL; empty strings point at a static NUL).
pub(crate) fn borrow_str(s: &str) -> bf_str {
    borrow_bytes_as_str(s.as_bytes())
}

/// Borrow `b` as a `bf_str` (never NULL).
pub(crate) fn borrow_bytes_as_str(b: &[u8]) -> bf_str {
    if b.is_empty() {
        empty_str()
    } else {
        bf_str {
            ptr: b.as_ptr().cast(),
            len: b.len(),
        }
    }
}

/// Borrow `b` as `bf_bytes` (never NULL).
pub(crate) fn borrow_bytes(b: &[u8]) -> bf_bytes {
    let s = borrow_bytes_as_str(b);
    bf_bytes {
        ptr: s.ptr.cast(),
        len: s.len,
    }
}

impl bf_string {
    /// Hand `text` to the host: a fresh allocation of exactly `len + 1` bytes, so that
    /// `bf_string_free` can rebuild and zeroize it.
    pub(crate) fn from_text(text: &str) -> bf_string {
        let mut v = Vec::with_capacity(text.len() + 1);
        v.extend_from_slice(text.as_bytes());
        v.push(0);
        let boxed: Box<[u8]> = v.into_boxed_slice();
        let len = boxed.len() - 1;
        bf_string {
            ptr: Box::into_raw(boxed).cast(),
            len,
        }
    }

    pub(crate) fn null() -> bf_string {
        bf_string {
            ptr: ptr::null_mut(),
            len: 0,
        }
    }
}

/// Release a `bf_string` the library handed out: its bytes are overwritten with zeros,
/// then freed, and `*s` is reset to `{NULL, 0}`, so a second call does nothing. `s` may
/// be NULL, and so may `s->ptr`. Safe on any thread.
#[no_mangle]
pub unsafe extern "C" fn bf_string_free(s: *mut bf_string) {
    guard_void(|| {
        if s.is_null() || !s.is_aligned() {
            return;
        }
        // SAFETY: `s` is non-NULL and aligned, and the header requires it to point at a
        // `bf_string` (which has no invalid bit patterns: a pointer and a length).
        let owned = unsafe { ptr::read(s) };
        if owned.ptr.is_null() {
            return;
        }
        let whole = ptr::slice_from_raw_parts_mut(owned.ptr.cast::<u8>(), owned.len + 1);
        // SAFETY: `owned` was made by `bf_string::from_text` from a `Box<[u8]>` of
        // exactly `len + 1` bytes (the header forbids changing `ptr` or `len`), and it is
        // freed once: `*s` is reset below, so a second call sees NULL.
        let mut boxed = unsafe { Box::from_raw(whole) };
        boxed.zeroize();
        drop(boxed);
        // SAFETY: as above, `s` is valid for writes.
        unsafe { ptr::write(s, bf_string::null()) };
    });
}
