//! Core's `Action` as a tagged C struct whose strings point into data the session
//! wrapper keeps (the action itself, the session's current headers, a few formatted
//! texts), so nothing secret is copied to hand it out.

use crate::types::{
    absent_str, bf_bytes, bf_fetch_purpose, bf_header, bf_request_error, bf_str, borrow_bytes,
    borrow_str,
};
use bearerflow::session::{Action, Session};
use core::fmt::Write;
use core::ptr;
use zeroize::Zeroizing;

/// Which member of `bf_action` is filled.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bf_action_kind {
    /// Nothing to do now: wait for `bf_session_poll_timeout` or the next event.
    None = 0,
    /// `send`: send request `id` to the resource with these headers.
    Send = 1,
    /// `fetch`: perform this HTTP request; answer with `bf_session_handle_http_response`
    /// or `bf_session_handle_http_error`.
    Fetch = 2,
    /// Run the header-helper command; answer with `bf_session_handle_helper_stdout` or
    /// `bf_session_handle_helper_failure`. No member.
    RunHelper = 3,
    /// `persist`: store this snapshot durably before anything else.
    Persist = 4,
    /// `fail`: request `id` is over; it cannot be sent.
    Fail = 5,
    /// `authorize`: open this URL in the user's browser (or follow it headlessly), then
    /// hand the redirect to `bf_session_handle_redirect`.
    Authorize = 6,
}

/// `BF_ACTION_KIND_SEND`: send request `id` now with `headers` (none for generation 0: the
/// first request of an OAuth session goes out without a token, MCP authorization), then
/// report the answer with `bf_session_handle_resource_response`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_send {
    /// The request (from `bf_session_begin_request`).
    pub id: u64,
    /// The credential generation whose headers these are.
    pub generation: u64,
    /// The headers to attach (`Authorization: Bearer …` or the helper's); credentials.
    pub headers: *const bf_header,
    /// How many headers.
    pub headers_len: usize,
}

/// `BF_ACTION_KIND_FETCH`: an HTTP request the machine needs (token endpoint, discovery,
/// registration).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_fetch {
    /// Echo this id to `bf_session_handle_http_response` / `_http_error`.
    pub id: u64,
    /// What the exchange is for (for logs; the host treats all alike).
    pub purpose: bf_fetch_purpose,
    /// `GET` or `POST`.
    pub method: bf_str,
    /// Absolute URL.
    pub url: bf_str,
    /// Headers to send.
    pub headers: *const bf_header,
    /// How many headers.
    pub headers_len: usize,
    /// The body (empty for `GET`); may hold a refresh token or a client secret.
    pub body: bf_bytes,
}

/// `BF_ACTION_KIND_PERSIST`: store `snapshot_json` durably (it holds the tokens), then go
/// on; if storing failed, call `bf_session_handle_persist_failed` (asked again later).
/// With rotating refresh tokens the old refresh token is already spent.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_persist {
    /// The snapshot in core's JSON shape; restore it with `bf_session_restore`.
    pub snapshot_json: bf_str,
    /// Whether the snapshot holds tokens (the fields below are meaningful).
    pub has_tokens: bool,
    /// The stored tokens' generation.
    pub generation: u64,
    /// Whether the access token's expiry is known.
    pub has_expires_at: bool,
    /// The access token's absolute expiry, unix milliseconds.
    pub expires_at_ms: u64,
}

/// The cause beneath an error: core's `SessionError` code and message.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_cause {
    /// Stable snake_case code (core's `SessionError::code`, e.g. `token_endpoint`).
    pub code: bf_str,
    /// What went wrong, in words; never holds a secret; server text is escaped.
    pub message: bf_str,
}

/// `BF_ACTION_KIND_FAIL`: request `id` is over, for this reason.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_fail {
    /// The request.
    pub id: u64,
    /// Why, as an enum.
    pub error: bf_request_error,
    /// Why, as core's stable code (`RequestError::code`, e.g. `reauthorization_required`).
    pub error_code: bf_str,
    /// Why, in words.
    pub error_message: bf_str,
    /// Whether `cause` is filled.
    pub has_cause: bool,
    /// What went wrong underneath (this request's own cause).
    pub cause: bf_cause,
}

/// `BF_ACTION_KIND_AUTHORIZE`: the authorization request URL (RFC 6749 §4.1.1).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_authorize {
    /// Open it in a browser, or GET it without following redirects and hand the
    /// `Location` of the 3xx to `bf_session_handle_redirect`.
    pub url: bf_str,
}

/// One action: `kind` says which member is filled; the others are zeroed.
///
/// Lifetime: every pointer in it (strings, header arrays, the snapshot) is borrowed
/// from the session and stays valid until the next call that takes the session as
/// `bf_session *` (any call but the read-only ones taking `const bf_session *`), or
/// until `bf_session_free`. Copy what you need to keep longer. Strings are not
/// NUL-terminated.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_action {
    /// Which member is filled (`BF_ACTION_KIND_NONE`: nothing to do now).
    pub kind: bf_action_kind,
    /// Filled for `BF_ACTION_KIND_SEND`.
    pub send: bf_send,
    /// Filled for `BF_ACTION_KIND_FETCH`.
    pub fetch: bf_fetch,
    /// Filled for `BF_ACTION_KIND_PERSIST`.
    pub persist: bf_persist,
    /// Filled for `BF_ACTION_KIND_FAIL`.
    pub fail: bf_fail,
    /// Filled for `BF_ACTION_KIND_AUTHORIZE`.
    pub authorize: bf_authorize,
}

impl bf_action {
    pub(crate) fn none() -> bf_action {
        bf_action {
            kind: bf_action_kind::None,
            send: bf_send {
                id: 0,
                generation: 0,
                headers: ptr::null(),
                headers_len: 0,
            },
            fetch: bf_fetch {
                id: 0,
                purpose: bf_fetch_purpose::Refresh,
                method: absent_str(),
                url: absent_str(),
                headers: ptr::null(),
                headers_len: 0,
                body: bf_bytes {
                    ptr: ptr::null(),
                    len: 0,
                },
            },
            persist: bf_persist {
                snapshot_json: absent_str(),
                has_tokens: false,
                generation: 0,
                has_expires_at: false,
                expires_at_ms: 0,
            },
            fail: bf_fail {
                id: 0,
                error: bf_request_error::Other,
                error_code: absent_str(),
                error_message: absent_str(),
                has_cause: false,
                cause: bf_cause {
                    code: absent_str(),
                    message: absent_str(),
                },
            },
            authorize: bf_authorize { url: absent_str() },
        }
    }
}

/// The kind of an action, for the JSON poll.
pub(crate) fn kind_of(a: &Action) -> bf_action_kind {
    match a {
        Action::Send { .. } => bf_action_kind::Send,
        Action::Fetch { .. } => bf_action_kind::Fetch,
        Action::RunHelper => bf_action_kind::RunHelper,
        Action::Persist(_) => bf_action_kind::Persist,
        Action::Fail { .. } => bf_action_kind::Fail,
        Action::Authorize { .. } => bf_action_kind::Authorize,
    }
}

/// What the last polled action's pointers borrow: the action, the header array built
/// for it, and texts formatted for it. Replaced (and the old secrets zeroized by their
/// own `Drop`s) on every poll.
#[derive(Default)]
pub(crate) struct ActionSlot {
    action: Option<Action>,
    headers: Vec<bf_header>,
    error_message: String,
    cause_message: String,
    snapshot: Zeroizing<String>,
    /// The last action in core's JSON shape (`bf_session_poll_action_json`).
    pub(crate) json: Zeroizing<String>,
}

impl ActionSlot {
    /// Forget the previous action: its secrets are zeroized as it drops.
    pub(crate) fn clear(&mut self) {
        self.action = None;
        self.headers.clear();
        self.error_message.clear();
        self.cause_message.clear();
        self.snapshot = Zeroizing::new(String::new());
        self.json = Zeroizing::new(String::new());
    }

    /// Keep `action` and describe it for C. Pointers go into `self` and into
    /// `session`'s current headers.
    pub(crate) fn fill(&mut self, session: &Session, action: Action) -> bf_action {
        self.clear();
        let ActionSlot {
            action: slot,
            headers,
            error_message,
            cause_message,
            snapshot,
            ..
        } = self;
        let action = slot.insert(action);
        let mut out = bf_action::none();
        out.kind = kind_of(action);
        match action {
            Action::Send { id, generation } => {
                // Core's contract: a drained `Send`'s headers are those of its
                // generation until the next input; for generation 0 there are none.
                let hs = session.headers(*generation).unwrap_or(&[]);
                headers.extend(hs.iter().map(|h| bf_header {
                    name: borrow_str(&h.name),
                    value: borrow_str(h.value.expose()),
                }));
                out.send = bf_send {
                    id: id.0,
                    generation: generation.0,
                    headers: headers.as_ptr(),
                    headers_len: headers.len(),
                };
            }
            Action::Fetch {
                id,
                purpose,
                request,
            } => {
                headers.extend(request.headers.iter().map(|h| bf_header {
                    name: borrow_str(&h.name),
                    value: borrow_str(h.value.expose()),
                }));
                out.fetch = bf_fetch {
                    id: id.0,
                    purpose: (*purpose).into(),
                    method: borrow_str(request.method.as_str()),
                    url: borrow_str(&request.url),
                    headers: headers.as_ptr(),
                    headers_len: headers.len(),
                    body: borrow_bytes(&request.body),
                };
            }
            Action::RunHelper => {}
            Action::Persist(snap) => {
                *snapshot = snap.to_json();
                let tokens = snap.tokens.as_ref();
                out.persist = bf_persist {
                    snapshot_json: borrow_str(snapshot),
                    has_tokens: tokens.is_some(),
                    generation: tokens.map_or(0, |t| t.generation),
                    has_expires_at: tokens.and_then(|t| t.expires_at).is_some(),
                    expires_at_ms: tokens.and_then(|t| t.expires_at).unwrap_or(0),
                };
            }
            Action::Fail { id, error, cause } => {
                let _ = write!(error_message, "{error}");
                out.fail = bf_fail {
                    id: id.0,
                    error: (*error).into(),
                    error_code: borrow_str(error.code()),
                    error_message: borrow_str(error_message),
                    has_cause: cause.is_some(),
                    cause: bf_cause {
                        code: absent_str(),
                        message: absent_str(),
                    },
                };
                if let Some(c) = cause {
                    let _ = write!(cause_message, "{c}");
                    out.fail.cause = bf_cause {
                        code: borrow_str(c.code()),
                        message: borrow_str(cause_message),
                    };
                }
            }
            Action::Authorize { url } => {
                out.authorize = bf_authorize {
                    url: borrow_str(url),
                };
            }
        }
        out
    }
}
