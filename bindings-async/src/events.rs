//! Plain events for observers (the CLI demo's timeline, logs, metrics).
//!
//! Events are emitted while the session's lock is held, so every subscriber sees them
//! in the session's order, whichever task took the step.
//!
//! Translation only: every event restates something the session did or the driver
//! performed for it. Events never carry a token, a code or a redirect URL.

use bearerflow::session::{FetchId, FetchPurpose, HttpErrorKind, RequestError, RequestId, Verdict};
use bearerflow::time::Timestamp;
use bearerflow::token::{Generation, Phase};

/// Something that happened in the driver. `at` is unix ms, as the session saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `session.phase(now)` differs after a step from what it was before.
    Phase {
        /// When.
        at: Timestamp,
        /// Before the step.
        from: Phase,
        /// After the step.
        to: Phase,
    },
    /// A caller began a request.
    Begin {
        /// When.
        at: Timestamp,
        /// The session's id for it.
        id: RequestId,
    },
    /// The session released a request to the resource (`Action::Send`).
    Send {
        /// When.
        at: Timestamp,
        /// The request.
        id: RequestId,
        /// Whose headers it carries.
        generation: Generation,
    },
    /// The resource answered and the session judged the answer.
    Response {
        /// When.
        at: Timestamp,
        /// The request.
        id: RequestId,
        /// The resource's status.
        status: u16,
        /// Deliver to the caller, or drop and wait for another `Send`/`Fail`.
        verdict: Verdict,
    },
    /// The session failed a request (`Action::Fail`).
    Fail {
        /// When.
        at: Timestamp,
        /// The request.
        id: RequestId,
        /// Why.
        error: RequestError,
        /// `Session::last_error`, if any.
        detail: Option<String>,
    },
    /// The driver started an HTTP exchange for the session (`Action::Fetch`).
    Fetch {
        /// When.
        at: Timestamp,
        /// The exchange.
        id: FetchId,
        /// What it is for (the session says).
        purpose: FetchPurpose,
        /// Its URL (never carries a secret: secrets travel in bodies and headers).
        url: String,
    },
    /// The exchange ended: a status, or a failure below HTTP.
    FetchDone {
        /// When.
        at: Timestamp,
        /// The exchange.
        id: FetchId,
        /// What it was for.
        purpose: FetchPurpose,
        /// Status, or what failed.
        outcome: Result<u16, HttpErrorKind>,
    },
    /// A snapshot was persisted (`ok`) or the store failed (`Persist` cannot be undone:
    /// the session goes on; a later persist may succeed).
    Persist {
        /// When.
        at: Timestamp,
        /// Whether the store accepted it.
        ok: bool,
        /// The stored token set's generation, if the snapshot holds tokens.
        generation: Option<u64>,
        /// The stored token set's absolute expiry (unix ms), if known.
        expires_at: Option<u64>,
    },
    /// The session asked for authorization (`Action::Authorize`); the URL is not
    /// repeated here.
    Authorize {
        /// When.
        at: Timestamp,
    },
    /// The authorizer came back with a redirect, and the session accepted it or not.
    Redirect {
        /// When.
        at: Timestamp,
        /// Whether `handle_redirect` accepted it.
        accepted: bool,
    },
    /// The authorizer could not produce a redirect.
    AuthorizeFailed {
        /// When.
        at: Timestamp,
        /// What went wrong.
        reason: String,
    },
    /// The header helper was started (`Action::RunHelper`).
    HelperRun {
        /// When.
        at: Timestamp,
    },
    /// The header helper ended.
    HelperDone {
        /// When.
        at: Timestamp,
        /// `None` when its output was handed to the session, else what went wrong.
        error: Option<String>,
    },
    /// A new credential is in use (the session's count of installed credentials
    /// moved), with the running counts a host would otherwise keep by wrapping the
    /// authorizer. Never carries the credential itself.
    Credential {
        /// When.
        at: Timestamp,
        /// How it was obtained.
        obtained: Obtained,
        /// The new token set's generation (`None` for header-helper output).
        generation: Option<Generation>,
        /// Token sets obtained with a refresh token so far ([`Status::refreshes`]).
        ///
        /// [`Status::refreshes`]: crate::Status::refreshes
        refreshes: u32,
        /// Token sets obtained by authorizing so far ([`Status::authorizations`]).
        ///
        /// [`Status::authorizations`]: crate::Status::authorizations
        authorizations: u32,
        /// Whether the new token set holds a refresh token. `false` after an
        /// authorization means no refresh token was issued: each expiry will need a new
        /// authorization (which the session starts ahead of the expiry when it can).
        /// Always `false` for header-helper output.
        refresh_token: bool,
    },
}

/// How a new credential was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Obtained {
    /// A refresh-token grant (RFC 6749 §6).
    Refresh,
    /// An authorization-code exchange after the user authorized (RFC 6749 §4.1.3).
    AuthorizationCode,
    /// A client-credentials grant (RFC 6749 §4.4).
    ClientCredentials,
    /// The header helper's output.
    Helper,
    /// The host handed it over ([`Client::set_tokens`](crate::Client::set_tokens)).
    Host,
    /// Another process stored it in the shared [`TokenStore`](crate::TokenStore): adopted
    /// instead of refreshing.
    Store,
}

impl Obtained {
    /// A stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Obtained::Refresh => "refresh",
            Obtained::AuthorizationCode => "authorization_code",
            Obtained::ClientCredentials => "client_credentials",
            Obtained::Helper => "helper",
            Obtained::Host => "host",
            Obtained::Store => "store",
        }
    }
}

impl Event {
    /// When the event happened.
    pub fn at(&self) -> Timestamp {
        match self {
            Event::Phase { at, .. }
            | Event::Begin { at, .. }
            | Event::Send { at, .. }
            | Event::Response { at, .. }
            | Event::Fail { at, .. }
            | Event::Fetch { at, .. }
            | Event::FetchDone { at, .. }
            | Event::Persist { at, .. }
            | Event::Authorize { at }
            | Event::Redirect { at, .. }
            | Event::AuthorizeFailed { at, .. }
            | Event::HelperRun { at }
            | Event::HelperDone { at, .. }
            | Event::Credential { at, .. } => *at,
        }
    }
}
