//! What the machine asks of the host, and the small ids and errors that go with it.
//!
//! Every type here is plain data with one JSON shape (snake_case, stable codes), the
//! shape the C ABI and WASM bindings hand to their hosts and the session vectors record:
//! see [`Action::to_json`].

use super::error::SessionError;
use super::snapshot::Snapshot;
use crate::http::{Header, Request};
use crate::token::Generation;
use alloc::boxed::Box;
use core::fmt;

/// One request the host makes to the protected resource (an MCP call). Ids grow from 1.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct RequestId(pub u64);

/// One HTTP exchange the machine asked for (token endpoint, discovery, registration).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct FetchId(pub u64);

/// Something the host must do. Drain with [`Session::poll_action`] until `None`.
///
/// [`Session::poll_action`]: super::Session::poll_action
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send request `id` to the resource now, with the headers of `generation`:
    /// [`Session::headers`] gives them (none for [`Generation::NONE`]). Read them before
    /// the next `handle_*` call. Then report the answer with
    /// [`Session::handle_resource_response`].
    ///
    /// [`Session::headers`]: super::Session::headers
    /// [`Session::handle_resource_response`]: super::Session::handle_resource_response
    Send {
        /// The request.
        id: RequestId,
        /// Whose headers to attach.
        generation: Generation,
    },
    /// Perform this HTTP request and report the answer with
    /// [`Session::handle_http_response`] or [`Session::handle_http_error`].
    ///
    /// [`Session::handle_http_response`]: super::Session::handle_http_response
    /// [`Session::handle_http_error`]: super::Session::handle_http_error
    Fetch {
        /// Echo this id back.
        id: FetchId,
        /// What the exchange is for (for logs and timelines; the host treats all alike).
        purpose: FetchPurpose,
        /// What to send (boxed: keeps every queued action small).
        request: alloc::boxed::Box<Request>,
    },
    /// Run the header-helper command and report with [`Session::handle_helper_output`].
    ///
    /// [`Session::handle_helper_output`]: super::Session::handle_helper_output
    RunHelper,
    /// Store this snapshot (tokens, registration) durably before doing anything else:
    /// with rotating refresh tokens the old refresh token is already spent.
    Persist(alloc::boxed::Box<Snapshot>),
    /// Request `id` is over: it cannot be sent, for this reason.
    Fail {
        /// The request.
        id: RequestId,
        /// Why, as a small stable code.
        error: RequestError,
        /// What went wrong underneath, when something did (a refused refresh token, a
        /// failed discovery): this request's own cause, not whatever failed last.
        cause: Option<Box<SessionError>>,
    },
    /// Open this URL in the user's browser (or follow it headlessly), then hand the
    /// redirect back with [`Session::handle_redirect`].
    ///
    /// [`Session::handle_redirect`]: super::Session::handle_redirect
    Authorize {
        /// The authorization request URL (RFC 6749 §4.1.1).
        url: alloc::string::String,
    },
    /// ([`Policy::shared_store`] only.) A refresh is due: take the shared store's
    /// refresh lease for `ttl` (a lock with an expiry: `SET NX PX` in Redis, an advisory
    /// file lock with a timestamp) and answer with [`Session::handle_lease`]. A host that
    /// gets it refreshes; one that does not waits for the holder's tokens and hands them
    /// in with [`Session::handle_store_update`].
    ///
    /// [`Policy::shared_store`]: crate::policy::Policy::shared_store
    /// [`Session::handle_lease`]: super::Session::handle_lease
    /// [`Session::handle_store_update`]: super::Session::handle_store_update
    AcquireLease {
        /// How long the lease lasts if it is not released.
        ttl: crate::time::Millis,
    },
    /// Give the shared store's refresh lease back (the refresh is over and its tokens,
    /// if any, were handed out to persist first).
    ReleaseLease,
}

impl Action {
    /// The action's JSON form, the one shape every binding hands to its host and the
    /// session vectors record (see `tests/vectors/README.md`):
    ///
    /// - `{"send": {"id", "generation", "headers": [[name, value], …]}}`: the headers
    ///   are [`Session::headers`] for that generation, read now;
    /// - `{"fetch": {"id", "purpose", "method", "url", "headers", "body"}}` (`body` as
    ///   UTF-8 text: the machine only builds form and JSON bodies);
    /// - `{"run_helper": {}}`, `{"persist": <snapshot>}`, `{"authorize": {"url"}}`;
    /// - `{"acquire_lease": {"ttl_ms"}}`, `{"release_lease": {}}`;
    /// - `{"fail": {"id", "error": <RequestError code>, "cause": null | {"code",
    ///   "message"}}}`.
    ///
    /// The text carries secrets (header values, form bodies, snapshots), so it comes
    /// back in a buffer that is zeroized when dropped.
    ///
    /// [`Session::headers`]: super::Session::headers
    pub fn to_json(&self, session: &super::Session) -> zeroize::Zeroizing<alloc::string::String> {
        super::json::to_string(&self.view(session))
    }

    /// A serializable view of this action with the headers a `Send` needs, for hosts
    /// that serialize into their own buffers or values.
    pub fn view<'a>(&'a self, session: &'a super::Session) -> ActionView<'a> {
        let headers = match self {
            Action::Send { generation, .. } => session.headers(*generation),
            _ => None,
        };
        ActionView {
            action: self,
            headers,
        }
    }
}

/// [`Action`] with the headers of its generation, serialized in the one JSON shape
/// described at [`Action::to_json`].
#[derive(Clone, Copy, Debug)]
pub struct ActionView<'a> {
    action: &'a Action,
    headers: Option<&'a [Header]>,
}

impl serde::Serialize for ActionView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use super::json::{HeaderPairs, Text};
        use serde::ser::SerializeMap;
        #[derive(serde::Serialize)]
        struct Send<'a> {
            id: RequestId,
            generation: Generation,
            headers: HeaderPairs<'a>,
        }
        #[derive(serde::Serialize)]
        struct Fetch<'a> {
            id: FetchId,
            purpose: FetchPurpose,
            method: &'static str,
            url: &'a str,
            headers: HeaderPairs<'a>,
            body: Text<'a>,
        }
        #[derive(serde::Serialize)]
        struct Empty {}
        #[derive(serde::Serialize)]
        struct Fail<'a> {
            id: RequestId,
            error: RequestError,
            cause: Option<&'a SessionError>,
        }
        #[derive(serde::Serialize)]
        struct Authorize<'a> {
            url: &'a str,
        }
        #[derive(serde::Serialize)]
        struct Lease {
            ttl_ms: u64,
        }
        let mut map = s.serialize_map(Some(1))?;
        match self.action {
            Action::Send { id, generation } => map.serialize_entry(
                "send",
                &Send {
                    id: *id,
                    generation: *generation,
                    headers: HeaderPairs(self.headers.unwrap_or(&[])),
                },
            )?,
            Action::Fetch {
                id,
                purpose,
                request,
            } => map.serialize_entry(
                "fetch",
                &Fetch {
                    id: *id,
                    purpose: *purpose,
                    method: request.method.as_str(),
                    url: &request.url,
                    headers: HeaderPairs(&request.headers),
                    body: Text(&request.body),
                },
            )?,
            Action::RunHelper => map.serialize_entry("run_helper", &Empty {})?,
            Action::Persist(snapshot) => map.serialize_entry("persist", snapshot)?,
            Action::Fail { id, error, cause } => map.serialize_entry(
                "fail",
                &Fail {
                    id: *id,
                    error: *error,
                    cause: cause.as_deref(),
                },
            )?,
            Action::Authorize { url } => map.serialize_entry("authorize", &Authorize { url })?,
            Action::AcquireLease { ttl } => {
                map.serialize_entry("acquire_lease", &Lease { ttl_ms: ttl.0 })?
            }
            Action::ReleaseLease => map.serialize_entry("release_lease", &Empty {})?,
        }
        map.end()
    }
}

/// What a [`Action::Fetch`] is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum FetchPurpose {
    /// Refresh-token grant (RFC 6749 §6).
    Refresh = 0,
    /// Protected resource metadata (RFC 9728).
    ResourceMetadata = 1,
    /// Authorization server metadata (RFC 8414, OIDC Discovery).
    ServerMetadata = 2,
    /// Dynamic client registration (RFC 7591).
    Registration = 3,
    /// Authorization-code exchange (RFC 6749 §4.1.3).
    CodeExchange = 4,
    /// Client-credentials grant (RFC 6749 §4.4).
    ClientCredentials = 5,
}

impl FetchPurpose {
    /// A stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            FetchPurpose::Refresh => "refresh",
            FetchPurpose::ResourceMetadata => "resource_metadata",
            FetchPurpose::ServerMetadata => "server_metadata",
            FetchPurpose::Registration => "registration",
            FetchPurpose::CodeExchange => "code_exchange",
            FetchPurpose::ClientCredentials => "client_credentials",
        }
    }

    /// What the exchange fetches, in words for error messages.
    pub const fn what(self) -> &'static str {
        match self {
            FetchPurpose::Refresh => "token endpoint (refresh)",
            FetchPurpose::ResourceMetadata => "protected resource metadata",
            FetchPurpose::ServerMetadata => "authorization server metadata",
            FetchPurpose::Registration => "client registration",
            FetchPurpose::CodeExchange => "token endpoint (code exchange)",
            FetchPurpose::ClientCredentials => "token endpoint (client credentials)",
        }
    }

    /// Whether this is a request to the token endpoint.
    pub const fn is_token_request(self) -> bool {
        matches!(
            self,
            FetchPurpose::Refresh | FetchPurpose::CodeExchange | FetchPurpose::ClientCredentials
        )
    }
}

/// What the host does with a resource response it reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[must_use]
pub enum Verdict {
    /// This response is the request's answer: hand it to the caller. The request is over.
    Deliver,
    /// Drop this response: the machine will emit another `Send` or a `Fail` for the same
    /// request id.
    Retry,
}

impl Verdict {
    /// A stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Deliver => "deliver",
            Verdict::Retry => "retry",
        }
    }
}

/// How an HTTP exchange the machine asked for failed before any response arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum HttpErrorKind {
    /// Could not connect (DNS, refused, TLS).
    Connect = 0,
    /// The connection broke or timed out mid-exchange.
    Io = 1,
    /// The host gave up waiting.
    Timeout = 2,
}

impl HttpErrorKind {
    /// A stable snake_case code.
    pub const fn code(self) -> &'static str {
        match self {
            HttpErrorKind::Connect => "connect",
            HttpErrorKind::Io => "io",
            HttpErrorKind::Timeout => "timeout",
        }
    }

    /// The kind named by [`HttpErrorKind::code`], for hosts that pass it as text.
    pub fn from_code(code: &str) -> Option<HttpErrorKind> {
        match code {
            "connect" => Some(HttpErrorKind::Connect),
            "io" => Some(HttpErrorKind::Io),
            "timeout" => Some(HttpErrorKind::Timeout),
            _ => None,
        }
    }
}

impl fmt::Display for HttpErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HttpErrorKind::Connect => "could not connect",
            HttpErrorKind::Io => "the connection broke mid-exchange",
            HttpErrorKind::Timeout => "no answer in time",
        })
    }
}

/// Why a request failed. Plain data; `Display` says what happened and what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[repr(u8)]
pub enum RequestError {
    /// The authorization server refused the refresh token (`invalid_grant`, RFC 6749
    /// §5.2) or there is no credential, and this session cannot start authorization.
    ReauthorizationRequired = 1,
    /// The resource answered `401` again after a retry with a new credential.
    Unauthorized = 2,
    /// The resource kept answering `403 insufficient_scope` (RFC 6750 §3.1) after the
    /// allowed step-ups.
    InsufficientScope = 3,
    /// The token endpoint kept failing transiently and the token has expired. The
    /// refresh token is kept; a later request tries again.
    TokenEndpointUnavailable = 4,
    /// The token endpoint refused with an OAuth error that does not revoke the grant
    /// (the `Fail`'s cause says which). The refresh token is kept.
    TokenEndpointRejected = 5,
    /// The header helper failed.
    HelperFailed = 6,
    /// Authorization could not be completed (the `Fail`'s cause says why). A later
    /// request starts it again, after a backoff.
    AuthorizationFailed = 7,
    /// The request waited longer than the policy allows for a credential.
    Timeout = 8,
    /// The host cancelled the request.
    Cancelled = 9,
    /// [`Policy::max_pending_requests`] requests were already unfinished.
    ///
    /// [`Policy::max_pending_requests`]: crate::policy::Policy::max_pending_requests
    TooManyPending = 10,
}

impl RequestError {
    /// A stable snake_case code for logs, JSON and the C ABI.
    pub const fn code(self) -> &'static str {
        match self {
            RequestError::ReauthorizationRequired => "reauthorization_required",
            RequestError::Unauthorized => "unauthorized",
            RequestError::InsufficientScope => "insufficient_scope",
            RequestError::TokenEndpointUnavailable => "token_endpoint_unavailable",
            RequestError::TokenEndpointRejected => "token_endpoint_rejected",
            RequestError::HelperFailed => "helper_failed",
            RequestError::AuthorizationFailed => "authorization_failed",
            RequestError::Timeout => "timeout",
            RequestError::Cancelled => "cancelled",
            RequestError::TooManyPending => "too_many_pending",
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestError::ReauthorizationRequired => {
                "reauthorization required: no usable credential, and this session cannot get one by itself"
            }
            RequestError::Unauthorized => "the resource rejected the request again after a fresh credential",
            RequestError::InsufficientScope => "the resource requires a scope that authorization did not grant",
            RequestError::TokenEndpointUnavailable => {
                "the token endpoint is unavailable and the access token has expired"
            }
            RequestError::TokenEndpointRejected => "the token endpoint rejected the request",
            RequestError::HelperFailed => "the header helper failed",
            RequestError::AuthorizationFailed => "authorization failed",
            RequestError::Timeout => "timed out waiting for a credential",
            RequestError::Cancelled => "cancelled by the host",
            RequestError::TooManyPending => "too many requests are already waiting or in flight",
        })
    }
}

impl core::error::Error for RequestError {}
