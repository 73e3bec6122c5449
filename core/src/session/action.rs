//! What the machine asks of the host, and the small ids and errors that go with it.

use super::snapshot::Snapshot;
use crate::http::Request;
use crate::token::Generation;
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
        /// Why.
        error: RequestError,
    },
    /// Open this URL in the user's browser (or follow it headlessly), then hand the
    /// redirect back with [`Session::handle_redirect`].
    ///
    /// [`Session::handle_redirect`]: super::Session::handle_redirect
    Authorize {
        /// The authorization request URL (RFC 6749 §4.1.1).
        url: alloc::string::String,
    },
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
#[must_use]
pub enum Verdict {
    /// This response is the request's answer: hand it to the caller. The request is over.
    Deliver,
    /// Drop this response: the machine will emit another `Send` or a `Fail` for the same
    /// request id.
    Retry,
}

/// How an HTTP exchange the machine asked for failed before any response arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum HttpErrorKind {
    /// Could not connect (DNS, refused, TLS).
    Connect = 0,
    /// The connection broke or timed out mid-exchange.
    Io = 1,
    /// The host gave up waiting.
    Timeout = 2,
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
    /// The token endpoint kept failing transiently and the token has expired.
    TokenEndpointUnavailable = 4,
    /// The token endpoint answered in a way that cannot be used (see
    /// [`Session::last_error`](super::Session::last_error)).
    TokenEndpointRejected = 5,
    /// The header helper failed.
    HelperFailed = 6,
    /// Authorization could not be completed (see
    /// [`Session::last_error`](super::Session::last_error)).
    AuthorizationFailed = 7,
    /// The request waited longer than the policy allows for a credential.
    Timeout = 8,
    /// The host cancelled the request.
    Cancelled = 9,
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
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestError::ReauthorizationRequired => {
                "reauthorization required: the refresh token was refused and this session cannot authorize"
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
        })
    }
}

impl core::error::Error for RequestError {}
