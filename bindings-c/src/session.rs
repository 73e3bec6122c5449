//! `bf_session`: core's `Session` behind an opaque pointer, one C function per method.
//!
//! Each function checks every argument before it calls core, so a refused call changes
//! nothing; then it calls exactly one core method and translates the result. No auth
//! decision is made here.

use crate::action::{bf_action, bf_action_kind, bf_cause, kind_of, ActionSlot};
use crate::args::{self, Out, OutArray};
use crate::guard::{with_session, with_session_ref, ErrorRecord, Failure};
use crate::types::{
    bf_header, bf_http_error_kind, bf_phase, bf_status, bf_str, bf_string, bf_verdict, borrow_str,
};
use bearerflow::secret::Secret;
use bearerflow::session::{
    Config, FetchId, HttpErrorKind, PendingAuthorization, RequestId, Session, Snapshot, Stats,
};
use bearerflow::time::Timestamp;
use bearerflow::token::Generation;
use core::ffi::c_char;

/// One session: a credential for one protected resource, kept alive. Opaque.
///
/// Threads: a session may be used from any thread, one thread at a time (it has no
/// thread affinity and no lock: the host serializes calls, e.g. with its own mutex).
/// Different sessions are independent.
pub struct bf_session {
    session: Session,
    slot: ActionSlot,
    /// The last failed call on this session (`bf_session_last_error`).
    pub(crate) error: ErrorRecord,
    /// Core's `last_error`, formatted (`bf_session_current_error`).
    current: ErrorRecord,
    /// Set when a call on this session panicked: its state may be half-updated.
    pub(crate) poisoned: bool,
}

// A session may move between threads (the header's thread rule): core's `Session` is
// `Send`, and the wrapper's raw pointers point only into data the wrapper owns.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Session>();
};

/// Counters of what the machine asked for and saw (core's `Stats`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct bf_stats {
    /// Refresh-grant requests emitted (RFC 6749 §6).
    pub refresh_requests: u32,
    /// Authorization-code exchanges emitted.
    pub code_exchanges: u32,
    /// Client-credentials grant requests emitted.
    pub client_credentials_requests: u32,
    /// Metadata discovery requests emitted (RFC 9728, RFC 8414).
    pub discovery_requests: u32,
    /// Dynamic registration requests emitted (RFC 7591).
    pub registration_requests: u32,
    /// `BF_ACTION_KIND_AUTHORIZE` actions emitted.
    pub authorizations: u32,
    /// Header-helper runs asked for.
    pub helper_runs: u32,
    /// `BF_ACTION_KIND_SEND` actions emitted (first sends and retries).
    pub sends: u32,
    /// `BF_ACTION_KIND_FAIL` actions emitted.
    pub fails: u32,
    /// `401` answers the host reported.
    pub unauthorized_seen: u32,
    /// `403 insufficient_scope` answers the host reported.
    pub insufficient_scope_seen: u32,
    /// New credentials installed.
    pub credentials_installed: u32,
    /// Persists the host reported it could not store.
    pub persist_failures: u32,
    /// Authorizations whose tokens came without a refresh token.
    pub grants_without_refresh_token: u32,
}

impl From<Stats> for bf_stats {
    fn from(s: Stats) -> bf_stats {
        // Destructured without `..`: a counter added to core fails to compile here
        // until the C struct has it too.
        let Stats {
            refresh_requests,
            code_exchanges,
            client_credentials_requests,
            discovery_requests,
            registration_requests,
            authorizations,
            helper_runs,
            sends,
            fails,
            unauthorized_seen,
            insufficient_scope_seen,
            credentials_installed,
            persist_failures,
            grants_without_refresh_token,
        } = s;
        bf_stats {
            refresh_requests,
            code_exchanges,
            client_credentials_requests,
            discovery_requests,
            registration_requests,
            authorizations,
            helper_runs,
            sends,
            fails,
            unauthorized_seen,
            insufficient_scope_seen,
            credentials_installed,
            persist_failures,
            grants_without_refresh_token,
        }
    }
}

fn seed_arg(seed: *const u8, seed_len: usize) -> Result<[u8; 32], Failure> {
    if seed_len != 32 {
        return Err(Failure::length(
            "seed",
            &format!("must be 32 bytes from a CSPRNG, got {seed_len}"),
        ));
    }
    // SAFETY: the header requires `seed_len` readable bytes at `seed`.
    let bytes = unsafe { args::bytes(seed, seed_len, "seed") }?;
    let mut out = [0u8; 32];
    out.copy_from_slice(bytes);
    Ok(out)
}

fn config_arg(json: *const c_char, len: usize) -> Result<Config, Failure> {
    // SAFETY: the header requires `len` readable bytes at `json`.
    let bytes = unsafe { args::bytes(json.cast(), len, "config_json") }?;
    Config::from_json(bytes).map_err(|e| Failure::core(bf_status::Config, e.code(), &e))
}

fn snapshot_arg(json: *const c_char, len: usize) -> Result<Snapshot, Failure> {
    // SAFETY: the header requires `len` readable bytes at `json`.
    let bytes = unsafe { args::bytes(json.cast(), len, "snapshot_json") }?;
    Snapshot::from_json(bytes).map_err(|e| Failure::core(bf_status::Snapshot, e.code(), &e))
}

fn wrap(session: Session) -> *mut bf_session {
    Box::into_raw(Box::new(bf_session {
        session,
        slot: ActionSlot::default(),
        error: ErrorRecord::new(),
        current: ErrorRecord::new(),
        poisoned: false,
    }))
}

fn create(out: *mut *mut bf_session, make: impl FnOnce() -> Result<Session, Failure>) -> bf_status {
    crate::guard::guard(|| {
        let out = Out::new(out, "out")?;
        out.write(core::ptr::null_mut());
        let session = make()?;
        out.write(wrap(session));
        Ok(())
    })
}

/// Create a session from configuration JSON (core's `Config::from_json` shape, e.g.
/// `{"resource_url": "https://mcp.example.com/mcp", "credential": {"kind": "oauth",
/// "redirect_uri": "http://127.0.0.1:8976/callback"}}`) and 32 bytes from the host's
/// CSPRNG, at `now_ms` (unix milliseconds). A header-helper session asks for its first
/// helper run at once: drain `bf_session_poll_action`.
///
/// `config_json` (`config_len` bytes, need not be NUL-terminated) and `seed` are read
/// during the call only. On success `*out` is a new session the host owns: release it
/// with `bf_session_free`. On failure `*out` is NULL. Errors: `BF_STATUS_CONFIG`
/// (code `config_malformed` or `config_invalid`; the message names the field and never
/// quotes a value), `BF_STATUS_INVALID_LENGTH` (seed not 32 bytes),
/// `BF_STATUS_NULL_POINTER`.
#[no_mangle]
pub unsafe extern "C" fn bf_session_new(
    config_json: *const c_char,
    config_len: usize,
    seed: *const u8,
    seed_len: usize,
    now_ms: u64,
    out: *mut *mut bf_session,
) -> bf_status {
    create(out, || {
        let config = config_arg(config_json, config_len)?;
        let seed = seed_arg(seed, seed_len)?;
        Ok(Session::new(config, seed, Timestamp(now_ms)))
    })
}

/// Create a session restored from a snapshot the host stored from a
/// `BF_ACTION_KIND_PERSIST` (or `bf_session_snapshot`). A restored refresh token is tried
/// before any authorization. Same rules as `bf_session_new`; also
/// `BF_STATUS_SNAPSHOT` (code `snapshot_malformed` or `snapshot_unsupported_version`).
#[no_mangle]
pub unsafe extern "C" fn bf_session_restore(
    config_json: *const c_char,
    config_len: usize,
    snapshot_json: *const c_char,
    snapshot_len: usize,
    seed: *const u8,
    seed_len: usize,
    now_ms: u64,
    out: *mut *mut bf_session,
) -> bf_status {
    create(out, || {
        let config = config_arg(config_json, config_len)?;
        let snapshot = snapshot_arg(snapshot_json, snapshot_len)?;
        let seed = seed_arg(seed, seed_len)?;
        Ok(Session::restore(config, snapshot, seed, Timestamp(now_ms)))
    })
}

/// Release a session and everything it handed out (actions, headers, errors). Tokens
/// and other secrets it held are zeroized. NULL does nothing. The pointer must not be
/// used again.
#[no_mangle]
pub unsafe extern "C" fn bf_session_free(session: *mut bf_session) {
    crate::guard::guard_void(|| {
        if session.is_null() || !session.is_aligned() {
            return;
        }
        // SAFETY: the header requires a pointer from `bf_session_new`/`_restore` not
        // freed before; `Box::into_raw` made it, so `Box::from_raw` takes it back once.
        drop(unsafe { Box::from_raw(session) });
    });
}

/// The host wants to send a request to the resource (an MCP call): `*id` is its id
/// (ids grow from 1). A `BF_ACTION_KIND_SEND` or a `BF_ACTION_KIND_FAIL` for it follows, now or
/// later: drain `bf_session_poll_action`.
#[no_mangle]
pub unsafe extern "C" fn bf_session_begin_request(
    session: *mut bf_session,
    now_ms: u64,
    id: *mut u64,
) -> bf_status {
    with_session(session, |s| {
        let id = Out::new(id, "id")?;
        let rid = s.session.begin_request(Timestamp(now_ms));
        id.write(rid.0);
        Ok(())
    })
}

/// The host gives up on request `id`: a pending request ends with a `BF_ACTION_KIND_FAIL`
/// (`cancelled`); an unknown or finished id is left alone.
#[no_mangle]
pub unsafe extern "C" fn bf_session_cancel_request(session: *mut bf_session, id: u64) -> bf_status {
    with_session(session, |s| {
        s.session.cancel_request(RequestId(id));
        Ok(())
    })
}

/// The host finished request `id` without a response to report: it handed the
/// credential to another HTTP stack and does not see the answer. The request ends with
/// no further action (any `SEND` or `FAIL` still queued for it is withdrawn); an
/// unknown or finished id is left alone.
#[no_mangle]
pub unsafe extern "C" fn bf_session_finish_request(session: *mut bf_session, id: u64) -> bf_status {
    with_session(session, |s| {
        s.session.finish_request(RequestId(id));
        Ok(())
    })
}

/// Whether a request to `url` (UTF-8, read during the call only) is one this session's
/// credential is for: the resource's origin (scheme, host and port). A host wrapping
/// an HTTP client attaches the session's headers only when `*covered` is true (RFC 6750
/// §5.3: a bearer token goes only to the resource it is for).
#[no_mangle]
pub unsafe extern "C" fn bf_session_covers(
    session: *const bf_session,
    url: bf_str,
    covered: *mut bool,
) -> bf_status {
    with_session_ref(session, |s| {
        let out = Out::new(covered, "covered")?;
        // SAFETY: the header requires readable bytes for the call.
        let url = unsafe { args::str_arg(url, "url") }?;
        out.write(s.session.covers(url));
        Ok(())
    })
}

/// Install tokens obtained elsewhere. `access_token` is required; `refresh_token` and
/// `scope` may be NULL (absent); `expires_in_s` may be NULL (unknown lifetime),
/// otherwise it points at the lifetime in seconds from `now_ms` (RFC 6749 §5.1). The
/// strings are copied (the library's copy is zeroized when replaced).
#[no_mangle]
pub unsafe extern "C" fn bf_session_set_tokens(
    session: *mut bf_session,
    access_token: bf_str,
    refresh_token: *const bf_str,
    expires_in_s: *const u64,
    scope: *const bf_str,
    now_ms: u64,
) -> bf_status {
    with_session(session, |s| {
        // SAFETY: the header requires readable strings for the call.
        let access = unsafe { args::str_arg(access_token, "access_token") }?;
        // SAFETY: as above; NULL is absent.
        let refresh = unsafe { args::opt_str_arg(refresh_token, "refresh_token") }?;
        // SAFETY: as above.
        let scope = unsafe { args::opt_str_arg(scope, "scope") }?;
        let expires_in = if expires_in_s.is_null() {
            None
        } else if !expires_in_s.is_aligned() {
            return Err(Failure::invalid("expires_in_s", "misaligned pointer"));
        } else {
            // SAFETY: non-NULL, aligned, and the header requires a readable u64.
            Some(unsafe { expires_in_s.read() })
        };
        s.session.set_tokens(
            Secret::new(access),
            refresh.map(Secret::new),
            expires_in,
            scope.map(String::from),
            Timestamp(now_ms),
        );
        Ok(())
    })
}

/// Start over the way the credential's owner would: an OAuth session authorizes again;
/// a header-helper session runs its helper again (core's `reauthorize`).
#[no_mangle]
pub unsafe extern "C" fn bf_session_reauthorize(
    session: *mut bf_session,
    now_ms: u64,
) -> bf_status {
    with_session(session, |s| {
        s.session.reauthorize(Timestamp(now_ms));
        Ok(())
    })
}

/// Mix more bytes from the host's CSPRNG into the session's generator. Read during the
/// call only.
#[no_mangle]
pub unsafe extern "C" fn bf_session_add_entropy(
    session: *mut bf_session,
    bytes: *const u8,
    len: usize,
) -> bf_status {
    with_session(session, |s| {
        // SAFETY: the header requires `len` readable bytes.
        let b = unsafe { args::bytes(bytes, len, "bytes") }?;
        s.session.add_entropy(b);
        Ok(())
    })
}

/// How the resource answered request `id`: its status and every `WWW-Authenticate`
/// field line (`n_lines` of them; UTF-8; read during the call only). `*verdict` says
/// what to do with the response: `BF_VERDICT_DELIVER` (it is the answer) or
/// `BF_VERDICT_RETRY` (drop it: another `SEND` or a `FAIL` for `id` follows).
#[no_mangle]
pub unsafe extern "C" fn bf_session_handle_resource_response(
    session: *mut bf_session,
    id: u64,
    status: u16,
    www_authenticate: *const bf_str,
    n_lines: usize,
    now_ms: u64,
    verdict: *mut bf_verdict,
) -> bf_status {
    with_session(session, |s| {
        let verdict = Out::new(verdict, "verdict")?;
        // SAFETY: the header requires `n_lines` readable `bf_str`s and their bytes.
        unsafe {
            args::with_lines(www_authenticate, n_lines, "www_authenticate", |lines| {
                let v = s.session.handle_resource_response(
                    RequestId(id),
                    status,
                    lines,
                    Timestamp(now_ms),
                );
                verdict.write(v.into());
                Ok(())
            })
        }
    })
}

/// The answer to `BF_ACTION_KIND_FETCH` `id`: status, response headers (`n_headers`, UTF-8;
/// only `Retry-After` is read) and the body as read. Read during the call only. Read
/// at most one byte more than the policy's `max_response_body` (default 1 MiB) and
/// hand that over: the session refuses it with a typed error. A header that is not
/// UTF-8 is `BF_STATUS_INVALID_UTF8` and the exchange stays unanswered: answer it
/// again without that header.
#[no_mangle]
pub unsafe extern "C" fn bf_session_handle_http_response(
    session: *mut bf_session,
    id: u64,
    status: u16,
    headers: *const bf_header,
    n_headers: usize,
    body: *const u8,
    body_len: usize,
    now_ms: u64,
) -> bf_status {
    with_session(session, |s| {
        // SAFETY: the header requires `n_headers` readable headers and their bytes.
        let hs = unsafe { args::header_pairs(headers, n_headers, "headers") }?;
        // SAFETY: the header requires `body_len` readable bytes.
        let body = unsafe { args::bytes(body, body_len, "body") }?;
        s.session
            .handle_http_response(FetchId(id), status, &hs, body, Timestamp(now_ms));
        Ok(())
    })
}

/// `BF_ACTION_KIND_FETCH` `id` failed before any response: `kind` is a
/// `bf_http_error_kind` value (`BF_STATUS_INVALID_ARGUMENT` for any other).
#[no_mangle]
pub unsafe extern "C" fn bf_session_handle_http_error(
    session: *mut bf_session,
    id: u64,
    kind: u32,
    now_ms: u64,
) -> bf_status {
    with_session(session, |s| {
        let kind = match kind {
            k if k == bf_http_error_kind::Connect as u32 => HttpErrorKind::Connect,
            k if k == bf_http_error_kind::Io as u32 => HttpErrorKind::Io,
            k if k == bf_http_error_kind::Timeout as u32 => HttpErrorKind::Timeout,
            _ => {
                return Err(Failure::invalid(
                    "kind",
                    &format!("{kind} is not a bf_http_error_kind"),
                ))
            }
        };
        s.session
            .handle_http_error(FetchId(id), kind, Timestamp(now_ms));
        Ok(())
    })
}

/// What the header helper printed on standard output (`len` bytes, read during the
/// call only): JSON `{"Name": "value"}` or `Name: value` lines (core's
/// `parse_helper_output`, bounded by the policy's `max_helper_output`).
#[no_mangle]
pub unsafe extern "C" fn bf_session_handle_helper_stdout(
    session: *mut bf_session,
    stdout_bytes: *const u8,
    len: usize,
    now_ms: u64,
) -> bf_status {
    with_session(session, |s| {
        // SAFETY: the header requires `len` readable bytes.
        let b = unsafe { args::bytes(stdout_bytes, len, "stdout_bytes") }?;
        s.session.handle_helper_stdout(b, Timestamp(now_ms));
        Ok(())
    })
}

/// The header helper did not run to completion: `exit_code` points at its non-zero
/// exit status, or is NULL when it could not start, was killed or timed out.
#[no_mangle]
pub unsafe extern "C" fn bf_session_handle_helper_failure(
    session: *mut bf_session,
    exit_code: *const i32,
    now_ms: u64,
) -> bf_status {
    with_session(session, |s| {
        let code = if exit_code.is_null() {
            None
        } else if !exit_code.is_aligned() {
            return Err(Failure::invalid("exit_code", "misaligned pointer"));
        } else {
            // SAFETY: non-NULL, aligned, and the header requires a readable int32_t.
            Some(unsafe { exit_code.read() })
        };
        s.session.handle_helper_failure(code, Timestamp(now_ms));
        Ok(())
    })
}

/// A `401` for a request the host sent with the credential of `generation` (a `SEND`
/// action's generation; 0 for a request sent without one), for hosts that hand the
/// token to another HTTP stack and hear only about `401`s. `www_authenticate` holds each
/// `WWW-Authenticate` field line (`n_lines`, UTF-8, read during the call only). A stale
/// generation changes nothing; the current one is renewed (refresh, helper re-run or
/// authorization: drain the actions), and the next `bf_session_begin_request` waits
/// for it.
#[no_mangle]
pub unsafe extern "C" fn bf_session_handle_unauthorized(
    session: *mut bf_session,
    generation: u64,
    www_authenticate: *const bf_str,
    n_lines: usize,
    now_ms: u64,
) -> bf_status {
    with_session(session, |s| {
        // SAFETY: the header requires `n_lines` readable `bf_str`s and their bytes.
        unsafe {
            args::with_lines(www_authenticate, n_lines, "www_authenticate", |lines| {
                s.session
                    .handle_unauthorized(Generation(generation), lines, Timestamp(now_ms));
                Ok(())
            })
        }
    })
}

/// Wait for the redirect of an authorization another instance of this session started
/// (a process or page that went away while the browser was at the authorization
/// server): `pending_json` (`pending_len` bytes) is what
/// `bf_session_pending_authorization` gave that instance. `bf_session_handle_redirect`
/// then takes the redirect as this session's own. Ignored when other credential work
/// is under way or its deadline has passed. `BF_STATUS_INVALID_ARGUMENT` (code
/// `pending_authorization_malformed`) when the JSON is not of that shape. The library's
/// copy of the verifier is zeroized when it is replaced.
#[no_mangle]
pub unsafe extern "C" fn bf_session_resume_authorization(
    session: *mut bf_session,
    pending_json: *const c_char,
    pending_len: usize,
    now_ms: u64,
) -> bf_status {
    with_session(session, |s| {
        // SAFETY: the header requires `pending_len` readable bytes at `pending_json`.
        let json = unsafe { args::bytes(pending_json.cast(), pending_len, "pending_json") }?;
        let pending = PendingAuthorization::from_json(json).map_err(|_| {
            Failure::new(
                bf_status::InvalidArgument,
                "pending_authorization_malformed",
                "pending_json is not a pending authorization as bf_session_pending_authorization writes it",
            )
        })?;
        s.session.resume_authorization(pending, Timestamp(now_ms));
        Ok(())
    })
}

/// The browser came back to the redirect URI with `url` (the full URL or its query;
/// UTF-8; read during the call only). `BF_STATUS_REDIRECT` when it is not accepted,
/// with core's `RedirectError` code: `state_mismatch` and `malformed` leave the flow
/// waiting; `denied`, `issuer_mismatch` and `missing_code` end it (drain the actions).
#[no_mangle]
pub unsafe extern "C" fn bf_session_handle_redirect(
    session: *mut bf_session,
    url: bf_str,
    now_ms: u64,
) -> bf_status {
    with_session(session, |s| {
        // SAFETY: the header requires readable bytes for the call.
        let url = unsafe { args::str_arg(url, "url") }?;
        s.session
            .handle_redirect(url, Timestamp(now_ms))
            .map_err(|e| Failure::core(bf_status::Redirect, e.code(), &e))
    })
}

/// The host could not run the browser part of authorization (no browser, the redirect
/// listener failed, the authorization endpoint did not redirect): waiting requests fail
/// at once.
#[no_mangle]
pub unsafe extern "C" fn bf_session_handle_authorize_error(
    session: *mut bf_session,
    now_ms: u64,
) -> bf_status {
    with_session(session, |s| {
        s.session.handle_authorize_error(Timestamp(now_ms));
        Ok(())
    })
}

/// The host could not store the last `BF_ACTION_KIND_PERSIST`: the credentials stay in
/// memory and the session asks again after a backoff.
#[no_mangle]
pub unsafe extern "C" fn bf_session_handle_persist_failed(
    session: *mut bf_session,
    now_ms: u64,
) -> bf_status {
    with_session(session, |s| {
        s.session.handle_persist_failed(Timestamp(now_ms));
        Ok(())
    })
}

/// The answer to `BF_ACTION_KIND_ACQUIRE_LEASE`: `granted` when this process took the
/// shared store's refresh lease (it then refreshes); otherwise the session waits for the
/// holder's tokens (`bf_session_handle_store_update`) and asks again later.
#[no_mangle]
pub unsafe extern "C" fn bf_session_handle_lease(
    session: *mut bf_session,
    granted: bool,
    now_ms: u64,
) -> bf_status {
    with_session(session, |s| {
        s.session.handle_lease(granted, Timestamp(now_ms));
        Ok(())
    })
}

/// The shared store holds a newer snapshot (`snapshot_json`, `snapshot_len` bytes)
/// written by another process: the session takes its tokens on instead of refreshing.
/// One that is not newer (by its `revision`) is ignored. `BF_STATUS_SNAPSHOT` when it
/// cannot be read.
#[no_mangle]
pub unsafe extern "C" fn bf_session_handle_store_update(
    session: *mut bf_session,
    snapshot_json: *const c_char,
    snapshot_len: usize,
    now_ms: u64,
) -> bf_status {
    with_session(session, |s| {
        let snapshot = snapshot_arg(snapshot_json, snapshot_len)?;
        s.session.handle_store_update(snapshot, Timestamp(now_ms));
        Ok(())
    })
}

/// The last `BF_ACTION_KIND_PERSIST` could not be stored because the store holds a
/// newer snapshot (a failed compare-and-swap): `snapshot_json` is what it holds; the
/// session takes it on. `BF_STATUS_SNAPSHOT` when it cannot be read.
#[no_mangle]
pub unsafe extern "C" fn bf_session_handle_persist_conflict(
    session: *mut bf_session,
    snapshot_json: *const c_char,
    snapshot_len: usize,
    now_ms: u64,
) -> bf_status {
    with_session(session, |s| {
        let snapshot = snapshot_arg(snapshot_json, snapshot_len)?;
        s.session
            .handle_persist_conflict(snapshot, Timestamp(now_ms));
        Ok(())
    })
}

/// Time passed: act on every deadline at or before `now_ms`. Calling it early or
/// spuriously does nothing.
#[no_mangle]
pub unsafe extern "C" fn bf_session_handle_timeout(
    session: *mut bf_session,
    now_ms: u64,
) -> bf_status {
    with_session(session, |s| {
        s.session.handle_timeout(Timestamp(now_ms));
        Ok(())
    })
}

/// The next thing the host must do, into `*action` (`kind` `BF_ACTION_KIND_NONE` when
/// there is nothing). Call it until NONE after every other call on the session.
///
/// Lifetime: the pointers in `*action` stay valid until the next call that takes this
/// session as `bf_session *` (including the next poll), or `bf_session_free`. The
/// previous action's memory is released (secrets zeroized) by the next poll.
#[no_mangle]
pub unsafe extern "C" fn bf_session_poll_action(
    session: *mut bf_session,
    action: *mut bf_action,
) -> bf_status {
    with_session(session, |s| {
        let out = Out::new(action, "action")?;
        s.slot.clear();
        out.write(match s.session.poll_action() {
            Some(a) => s.slot.fill(&s.session, a),
            None => bf_action::none(),
        });
        Ok(())
    })
}

/// Like `bf_session_poll_action`, but the action comes as JSON in core's one shape
/// (`{"send": {"id", "generation", "headers": [[name, value], …]}}`, `{"fetch": …}`,
/// `{"run_helper": {}}`, `{"persist": <snapshot>}`, `{"fail": {"id", "error",
/// "cause"}}`, `{"authorize": {"url"}}`; see core's `Action::to_json`). `*kind` says
/// which (NONE: `*json` is empty). The JSON holds credentials; it is not
/// NUL-terminated and stays valid until the next call that takes this session as
/// `bf_session *`, or `bf_session_free` (then its bytes are zeroized).
#[no_mangle]
pub unsafe extern "C" fn bf_session_poll_action_json(
    session: *mut bf_session,
    kind: *mut bf_action_kind,
    json: *mut bf_str,
) -> bf_status {
    with_session(session, |s| {
        let kind_out = Out::new(kind, "kind")?;
        let json_out = Out::new(json, "json")?;
        s.slot.clear();
        match s.session.poll_action() {
            Some(a) => {
                s.slot.json = a.to_json(&s.session);
                kind_out.write(kind_of(&a));
                json_out.write(borrow_str(&s.slot.json));
            }
            None => {
                kind_out.write(bf_action_kind::None);
                json_out.write(borrow_str(""));
            }
        }
        Ok(())
    })
}

/// When to call `bf_session_handle_timeout` next: `*has_deadline` is false when never
/// (until the next event), else `*deadline_ms` is the unix-millisecond deadline.
#[no_mangle]
pub unsafe extern "C" fn bf_session_poll_timeout(
    session: *const bf_session,
    has_deadline: *mut bool,
    deadline_ms: *mut u64,
) -> bf_status {
    with_session_ref(session, |s| {
        let has = Out::new(has_deadline, "has_deadline")?;
        let at = Out::new(deadline_ms, "deadline_ms")?;
        let t = s.session.poll_timeout();
        has.write(t.is_some());
        at.write(t.map_or(0, |t| t.0));
        Ok(())
    })
}

/// The session's phase at `now_ms`.
#[no_mangle]
pub unsafe extern "C" fn bf_session_phase(
    session: *const bf_session,
    now_ms: u64,
    phase: *mut bf_phase,
) -> bf_status {
    with_session_ref(session, |s| {
        let out = Out::new(phase, "phase")?;
        out.write(s.session.phase(Timestamp(now_ms)).into());
        Ok(())
    })
}

/// Counters of what happened so far.
#[no_mangle]
pub unsafe extern "C" fn bf_session_stats(
    session: *const bf_session,
    stats: *mut bf_stats,
) -> bf_status {
    with_session_ref(session, |s| {
        let out = Out::new(stats, "stats")?;
        out.write(s.session.stats().into());
        Ok(())
    })
}

/// How many begun requests are not finished yet.
#[no_mangle]
pub unsafe extern "C" fn bf_session_pending_requests(
    session: *const bf_session,
    count: *mut usize,
) -> bf_status {
    with_session_ref(session, |s| {
        let out = Out::new(count, "count")?;
        out.write(s.session.pending_requests());
        Ok(())
    })
}

/// The headers to attach for a send of `generation`, into the caller's array of `cap`
/// elements. `*is_current` is false (and `*len` 0) when that generation is no longer
/// current; generation 0 has no headers. Too small: `BF_STATUS_BUFFER_TOO_SMALL` with
/// `*len` the count needed. The strings are credentials, borrowed from the session
/// until the next call that takes it as `bf_session *`.
#[no_mangle]
pub unsafe extern "C" fn bf_session_headers(
    session: *const bf_session,
    generation: u64,
    headers: *mut bf_header,
    cap: usize,
    len: *mut usize,
    is_current: *mut bool,
) -> bf_status {
    with_session_ref(session, |s| {
        let arr = OutArray::new(headers, cap, "headers")?;
        let len = Out::new(len, "len")?;
        let current = Out::new(is_current, "is_current")?;
        let Some(hs) = s.session.headers(Generation(generation)) else {
            len.write(0);
            current.write(false);
            return Ok(());
        };
        current.write(true);
        len.write(hs.len());
        if hs.len() > arr.cap() {
            return Err(Failure::too_small("headers", hs.len(), "elements"));
        }
        for (i, h) in hs.iter().enumerate() {
            arr.put(
                i,
                bf_header {
                    name: borrow_str(&h.name),
                    value: borrow_str(h.value.expose()),
                },
            );
        }
        Ok(())
    })
}

/// What to persist now, as core's snapshot JSON, in a new `bf_string` the host owns
/// (release it with `bf_string_free`, which zeroizes it: it holds the tokens). The
/// same text a `BF_ACTION_KIND_PERSIST` carries when it changes.
#[no_mangle]
pub unsafe extern "C" fn bf_session_snapshot(
    session: *const bf_session,
    snapshot_json: *mut bf_string,
) -> bf_status {
    with_session_ref(session, |s| {
        let out = Out::new(snapshot_json, "snapshot_json")?;
        out.write(bf_string::null());
        let json = s.session.snapshot().to_json();
        out.write(bf_string::from_text(&json));
        Ok(())
    })
}

/// The authorization waiting for the browser's redirect, as core's
/// `PendingAuthorization` JSON (`state`, `code_verifier`, `redirect_uri`, `deadline` in
/// unix ms, `issuer`, `iss_required`): what a host that goes away while the user
/// authorizes keeps, to hand to `bf_session_resume_authorization` in the session it
/// builds when the redirect arrives. `*has_pending` is false (and `*pending_json`
/// `{NULL, 0}`) when none is waiting. Otherwise `*pending_json` is a new `bf_string` the
/// host owns: release it with `bf_string_free`, which zeroizes it (it holds the PKCE
/// verifier; keep it only as long as the redirect takes, where no one else reads it).
#[no_mangle]
pub unsafe extern "C" fn bf_session_pending_authorization(
    session: *const bf_session,
    has_pending: *mut bool,
    pending_json: *mut bf_string,
) -> bf_status {
    with_session_ref(session, |s| {
        let has = Out::new(has_pending, "has_pending")?;
        let out = Out::new(pending_json, "pending_json")?;
        has.write(false);
        out.write(bf_string::null());
        let Some(pending) = s.session.pending_authorization() else {
            return Ok(());
        };
        has.write(true);
        out.write(bf_string::from_text(&pending.to_json()));
        Ok(())
    })
}

/// The last call on this session that failed (status, code, message), or
/// `BF_STATUS_OK` with empty strings. Read-only calls (`const bf_session *`) record
/// their failures only for the thread (`bf_last_error`). The strings are
/// NUL-terminated and stay valid until the next failing call on this session or
/// `bf_session_free`.
#[no_mangle]
pub unsafe extern "C" fn bf_session_last_error(
    session: *const bf_session,
    error: *mut crate::guard::bf_error,
) -> bf_status {
    // Reads the record even of a poisoned session: it says why.
    crate::guard::guard(|| {
        let out = Out::new(error, "error")?;
        if session.is_null() {
            return Err(Failure::null("session"));
        }
        if !session.is_aligned() {
            return Err(Failure::invalid("session", "misaligned pointer"));
        }
        // SAFETY: non-NULL and aligned; the header requires a live session no other
        // thread mutates during the call.
        let s = unsafe { &*session };
        out.write(s.error.view());
        Ok(())
    })
}

/// What is wrong with the session now (core's `Session::last_error`: the cause of the
/// last failure to get a credential, kept until a credential arrives). `*has_error` is
/// false when nothing is; else `*cause` has core's `SessionError` code and message,
/// NUL-terminated, valid until the next call that takes this session as
/// `bf_session *`.
#[no_mangle]
pub unsafe extern "C" fn bf_session_current_error(
    session: *mut bf_session,
    has_error: *mut bool,
    cause: *mut bf_cause,
) -> bf_status {
    with_session(session, |s| {
        let has = Out::new(has_error, "has_error")?;
        let out = Out::new(cause, "cause")?;
        match s.session.last_error() {
            Some(e) => {
                let message = e.to_string();
                s.current.set(bf_status::Ok, e.code(), &message);
                let view = s.current.view();
                has.write(true);
                out.write(bf_cause {
                    code: view.code,
                    message: view.message,
                });
            }
            None => {
                has.write(false);
                out.write(bf_cause {
                    code: borrow_str(""),
                    message: borrow_str(""),
                });
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc_probe::{freed_with_marker, MARKER};
    use crate::types::bf_string_free;
    use core::mem::MaybeUninit;

    const CONFIG: &str = r#"{"resource_url": "https://mcp.example.com/mcp", "credential": {"kind": "oauth", "client": {"client_id": "client-1", "auth_method": "none"}, "token_endpoint": "https://auth.example.com/token", "issuer": "https://auth.example.com"}}"#;

    fn new_session() -> *mut bf_session {
        let mut out = core::ptr::null_mut();
        // SAFETY: valid pointers and lengths.
        let st = unsafe {
            bf_session_new(
                CONFIG.as_ptr().cast(),
                CONFIG.len(),
                [7u8; 32].as_ptr(),
                32,
                0,
                &mut out,
            )
        };
        assert_eq!(st, bf_status::Ok);
        out
    }

    fn poll(s: *mut bf_session) -> bf_action {
        let mut a = MaybeUninit::<bf_action>::uninit();
        // SAFETY: a live session and a valid out pointer.
        let st = unsafe { bf_session_poll_action(s, a.as_mut_ptr()) };
        assert_eq!(st, bf_status::Ok);
        // SAFETY: written by the call.
        unsafe { a.assume_init() }
    }

    #[test]
    fn the_probe_sees_a_secret_freed_without_zeroizing() {
        let n = freed_with_marker(|| drop(String::from_utf8_lossy(MARKER).into_owned()));
        assert!(n >= 1, "the probe cannot see freed secrets");
        let n = crate::alloc_probe::allocations_during(|| {
            drop(std::hint::black_box(Vec::<u8>::with_capacity(8)))
        });
        assert_eq!(n, 1, "the probe does not count allocations");
    }

    #[test]
    fn a_handed_out_snapshot_is_zeroized_when_freed() {
        let secret = String::from_utf8_lossy(MARKER).into_owned();
        let n = freed_with_marker(|| {
            let mut s = bf_string::from_text(&secret);
            // SAFETY: a string from `from_text`, freed once.
            unsafe { bf_string_free(&mut s) };
            assert!(s.ptr.is_null());
        });
        assert_eq!(
            n, 0,
            "bf_string_free released the secret without zeroizing it"
        );
    }

    /// A session holding tokens whose value is the marker, its persist drained.
    fn session_with_marked_tokens(token: &str) -> *mut bf_session {
        let s = new_session();
        let secret = borrow_str(token);
        let ttl = 60u64;
        // SAFETY: a live session; the strings are valid for the call.
        let st = unsafe { bf_session_set_tokens(s, secret, &secret, &ttl, core::ptr::null(), 0) };
        assert_eq!(st, bf_status::Ok);
        assert_eq!(poll(s).kind, bf_action_kind::Persist);
        assert_eq!(poll(s).kind, bf_action_kind::None);
        s
    }

    #[test]
    fn actions_are_zeroized_when_replaced_and_when_the_session_is_freed() {
        let token = String::from_utf8_lossy(MARKER).into_owned();
        let s = session_with_marked_tokens(&token);
        let n = freed_with_marker(|| {
            let mut id = 0;
            // SAFETY: a live session and a valid out pointer.
            unsafe { bf_session_begin_request(s, 1, &mut id) };
            // The send: its headers hold `Bearer <token>`.
            assert_eq!(poll(s).kind, bf_action_kind::Send);
            // The same as JSON, released by the next poll.
            // SAFETY: as above.
            unsafe { bf_session_begin_request(s, 1, &mut id) };
            let mut kind = bf_action_kind::None;
            let mut json = borrow_str("");
            // SAFETY: a live session and valid out pointers.
            unsafe { bf_session_poll_action_json(s, &mut kind, &mut json) };
            assert_eq!(kind, bf_action_kind::Send);
            // SAFETY: the JSON stays valid until the next call on the session.
            let text = unsafe { core::slice::from_raw_parts(json.ptr.cast::<u8>(), json.len) };
            assert!(text.windows(MARKER.len()).any(|w| w == MARKER));
            // Past expiry: the refresh fetch's form body holds the refresh token.
            // SAFETY: as above.
            unsafe { bf_session_begin_request(s, 120_000, &mut id) };
            let fetch = poll(s);
            assert_eq!(fetch.kind, bf_action_kind::Fetch);
            // This poll releases the fetch.
            assert_eq!(poll(s).kind, bf_action_kind::None);
            // SAFETY: a session from `bf_session_new`, freed once.
            unsafe { bf_session_free(s) };
        });
        assert_eq!(n, 0, "{n} freed blocks still held a token");
    }

    /// Core's `Snapshot::to_json` (and `Action::to_json` for a persist) writes into a
    /// buffer that zeroizes what it outgrows, so no copy of a token is freed unzeroized.
    #[test]
    fn a_persisted_snapshot_leaves_no_token_in_freed_memory() {
        let token = String::from_utf8_lossy(MARKER).into_owned();
        let n = freed_with_marker(|| {
            let s = session_with_marked_tokens(&token);
            // SAFETY: a session from `bf_session_new`, freed once.
            unsafe { bf_session_free(s) };
        });
        assert_eq!(n, 0, "{n} freed blocks still held the token");
    }

    /// One request through the C ABI: begin, poll the send, report a 200.
    fn one_request(s: *mut bf_session, now: u64) {
        let mut id = 0;
        // SAFETY: a live session and a valid out pointer.
        let st = unsafe { bf_session_begin_request(s, now, &mut id) };
        assert_eq!(st, bf_status::Ok);
        assert_eq!(poll(s).kind, bf_action_kind::Send);
        let mut verdict = bf_verdict::Retry;
        // SAFETY: as above; no lines.
        let st = unsafe {
            bf_session_handle_resource_response(s, id, 200, core::ptr::null(), 0, now, &mut verdict)
        };
        assert_eq!((st, verdict), (bf_status::Ok, bf_verdict::Deliver));
        assert_eq!(poll(s).kind, bf_action_kind::None);
    }

    #[test]
    fn the_request_hot_path_allocates_nothing() {
        let s = session_with_marked_tokens("at-1");
        one_request(s, 1); // the action slot's header array grows once
        let n = crate::alloc_probe::allocations_during(|| {
            for now in 2..50 {
                one_request(s, now);
            }
        });
        // SAFETY: a session from `bf_session_new`, freed once.
        unsafe { bf_session_free(s) };
        assert_eq!(n, 0, "48 requests allocated {n} times");
    }

    #[test]
    fn a_panic_poisons_the_session() {
        let s = new_session();
        let st = with_session(s, |_| panic!("a bug"));
        assert_eq!(st, bf_status::Panic);
        let mut id = 0;
        // SAFETY: a live (poisoned) session and a valid out pointer.
        let st = unsafe { bf_session_begin_request(s, 0, &mut id) };
        assert_eq!(st, bf_status::Poisoned);
        let mut e = MaybeUninit::uninit();
        // SAFETY: a live session and a valid out pointer.
        let st = unsafe { bf_session_last_error(s, e.as_mut_ptr()) };
        assert_eq!(st, bf_status::Ok);
        // SAFETY: written by the call.
        assert_eq!(unsafe { e.assume_init() }.status, bf_status::Poisoned);
        // SAFETY: a session from `bf_session_new`, freed once.
        unsafe { bf_session_free(s) };
    }
}
