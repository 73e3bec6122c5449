//! How a handler tells the layer that the answer is not 200 after all: a tool's upstream
//! token expired (answer 401 `invalid_token`, so the client renews its token and
//! retries), or the tool needs more scope (answer 403 `insufficient_scope`).
//!
//! Two ways in:
//! - [`AuthSignal`], a request extension the layer adds to every request it lets
//!   through. It travels with the request's `http::request::Parts`, so it reaches
//!   handlers that never build an HTTP response themselves (rmcp tools get the parts
//!   through `Extension<http::request::Parts>`).
//! - [`UpstreamTokenExpired`], an error an axum handler returns: its response carries a
//!   marker the layer replaces with the 401.
//!
//! # The rule: decide before the first message
//!
//! The layer holds a guarded `POST`'s response head (and buffers its first bytes) until
//! the response's body yields its first *message*: for `text/event-stream`, the first
//! event with a non-empty `data` field (priming events, comments and keep-alives do not
//! count); for any other body, its first data frame. The head is also released when the
//! body ends, when every copy of the request's [`AuthSignal`] is dropped (no handler can
//! signal any more), or when 64 KiB are buffered. A signal raised before that turns the
//! response into the refusal, and the held body is dropped unsent. A signal raised after
//! it is too late: [`AuthSignal::upstream_token_expired`] then returns
//! [`Signalled::TooLate`], and the handler should answer in-band (a JSON-RPC error) — an
//! HTTP status cannot change once its bytes are on the wire.

use core::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// What a handler asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wanted {
    UpstreamExpired,
    InsufficientScope(String),
}

#[derive(Debug)]
enum Phase {
    /// The response is held; a signal still changes it.
    Open,
    /// A handler signalled before the response was released.
    Signalled(Wanted),
    /// The response went out as the handler built it.
    Released,
}

/// State shared by the layer and every copy of the request's signal.
#[derive(Debug)]
pub(crate) struct Shared {
    phase: Mutex<Phase>,
    /// Copies of the [`AuthSignal`] alive (the layer's own reference is not one).
    holders: AtomicUsize,
    pub(crate) changed: Notify,
}

impl Shared {
    pub(crate) fn new() -> Arc<Shared> {
        Arc::new(Shared {
            phase: Mutex::new(Phase::Open),
            holders: AtomicUsize::new(0),
            changed: Notify::new(),
        })
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        // A panic while holding this lock cannot leave the phase half-written (each
        // critical section is one assignment).
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The layer releases the response: from now on signals are too late. Returns what
    /// a handler asked for before, if anything (then the response must not be released).
    pub(crate) fn release(&self) -> Option<Wanted> {
        let mut phase = self.phase();
        match &*phase {
            Phase::Signalled(w) => Some(w.clone()),
            Phase::Open | Phase::Released => {
                *phase = Phase::Released;
                None
            }
        }
    }

    /// What a handler asked for so far.
    pub(crate) fn wanted(&self) -> Option<Wanted> {
        match &*self.phase() {
            Phase::Signalled(w) => Some(w.clone()),
            _ => None,
        }
    }

    /// Whether every copy of the signal is gone (no handler can signal any more).
    pub(crate) fn abandoned(&self) -> bool {
        self.holders.load(Ordering::Acquire) == 0
    }

    fn signal(&self, wanted: Wanted) -> Signalled {
        let outcome = {
            let mut phase = self.phase();
            match &*phase {
                Phase::Open => {
                    *phase = Phase::Signalled(wanted);
                    Signalled::Accepted
                }
                // The first signal wins; a second one changes nothing but is not late.
                Phase::Signalled(_) => Signalled::Accepted,
                Phase::Released => Signalled::TooLate,
            }
        };
        self.changed.notify_waiters();
        outcome
    }
}

/// What became of a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a signal can be too late: answer in-band (a JSON-RPC error) then"]
pub enum Signalled {
    /// The layer will answer with the refusal instead of the handler's response.
    Accepted,
    /// The response was already released; answer in-band instead.
    TooLate,
}

/// A request extension through which a handler changes the answer to a refusal. The
/// layer adds one to every request it lets through; read it from the request's
/// extensions (axum: `Extension<AuthSignal>`; rmcp: the extensions of
/// `Extension<http::request::Parts>`), or use [`signal_upstream_token_expired`].
///
/// Cloning it is cheap; the layer notices when every copy has been dropped.
pub struct AuthSignal {
    shared: Arc<Shared>,
}

impl AuthSignal {
    pub(crate) fn new(shared: &Arc<Shared>) -> AuthSignal {
        shared.holders.fetch_add(1, Ordering::AcqRel);
        AuthSignal {
            shared: Arc::clone(shared),
        }
    }

    /// The upstream token this request's work needed has expired: answer `401
    /// invalid_token` (core's `UpstreamExpired`) so the client renews its own token and
    /// retries. See the module docs for when it is too late.
    pub fn upstream_token_expired(&self) -> Signalled {
        self.shared.signal(Wanted::UpstreamExpired)
    }

    /// The work needs `scope` (space separated) beyond what the token grants: answer
    /// `403 insufficient_scope` naming it, so the client steps up (RFC 6750 §3.1; MCP
    /// "Scope Challenge Handling": name the granted scopes and the new ones, so nothing
    /// is lost on step-up).
    pub fn insufficient_scope(&self, scope: impl Into<String>) -> Signalled {
        self.shared.signal(Wanted::InsufficientScope(scope.into()))
    }
}

impl Clone for AuthSignal {
    fn clone(&self) -> AuthSignal {
        AuthSignal::new(&self.shared)
    }
}

impl Drop for AuthSignal {
    fn drop(&mut self) {
        if self.shared.holders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.changed.notify_waiters();
        }
    }
}

impl fmt::Debug for AuthSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSignal").finish_non_exhaustive()
    }
}

/// The request was not let through by a [`BearerLayer`](crate::BearerLayer), so there
/// is no one to signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotGuarded;

impl fmt::Display for NotGuarded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request did not pass through a bearerflow BearerLayer")
    }
}

impl std::error::Error for NotGuarded {}

/// Signal upstream expiry through the [`AuthSignal`] in `extensions` (a request's, or
/// the `http::request::Parts` rmcp hands a tool).
///
/// ```
/// # use bearerflow_server::{signal_upstream_token_expired, Signalled};
/// # fn tool(parts: &http::request::Parts) -> Result<String, String> {
/// // The upstream API answered 401 to the token derived from the client's.
/// match signal_upstream_token_expired(&parts.extensions) {
///     Ok(Signalled::Accepted) => Err("upstream token expired".into()), // never reaches the client
///     _ => Err("upstream token expired; reconnect".into()),            // in-band after all
/// }
/// # }
/// ```
pub fn signal_upstream_token_expired(
    extensions: &http::Extensions,
) -> Result<Signalled, NotGuarded> {
    extensions
        .get::<AuthSignal>()
        .map(AuthSignal::upstream_token_expired)
        .ok_or(NotGuarded)
}

/// The error an axum handler returns when its upstream token expired: the layer turns
/// its response into `401 invalid_token` with core's challenge. Without the layer it is
/// a bare `401` (no challenge: only the layer knows the resource's settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpstreamTokenExpired;

impl fmt::Display for UpstreamTokenExpired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the upstream token expired")
    }
}

impl std::error::Error for UpstreamTokenExpired {}

/// The marker a response carries when a handler returned [`UpstreamTokenExpired`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct UpstreamExpiredMarker;

impl UpstreamTokenExpired {
    /// The response the layer replaces (status 401, a marker extension, empty body).
    pub fn into_http_response<B: Default>(self) -> http::Response<B> {
        let mut response = http::Response::new(B::default());
        *response.status_mut() = http::StatusCode::UNAUTHORIZED;
        response.extensions_mut().insert(UpstreamExpiredMarker);
        response
    }
}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for UpstreamTokenExpired {
    fn into_response(self) -> axum_core::response::Response {
        self.into_http_response()
    }
}

/// Whether a response is the marker response of [`UpstreamTokenExpired`].
pub(crate) fn has_marker<B>(response: &http::Response<B>) -> bool {
    response
        .extensions()
        .get::<UpstreamExpiredMarker>()
        .is_some()
}
