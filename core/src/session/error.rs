//! The detailed cause behind a [`RequestError`](super::RequestError).
//!
//! A `Fail` action carries a small copyable code and, as its cause, the
//! [`SessionError`] that led to it (which metadata URL, which OAuth error, which
//! status). [`Session::last_error`](super::Session::last_error) says what is wrong with
//! the session now. No variant holds a token or a secret, and text that came from a
//! server is shown escaped and capped (a server must not be able to write control
//! sequences into a terminal or a log through an error message).

use super::action::HttpErrorKind;
use super::helper::HelperOutputError;
use crate::oauth::{AuthorizeError, DiscoveryError, ErrorResponse, RegistrationError, TokenError};
use alloc::string::String;
use core::fmt;

/// Why a credential could not be obtained or kept.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    /// The token endpoint answered with an OAuth error (RFC 6749 §5.2).
    TokenEndpoint(ErrorResponse),
    /// The token endpoint's answer could not be used.
    TokenResponse(TokenError),
    /// An HTTP exchange the machine asked for failed below HTTP.
    Network(HttpErrorKind),
    /// An HTTP exchange the machine asked for got no answer in time.
    Deadline,
    /// A server answered with an unexpected status.
    Status {
        /// What was being fetched.
        what: &'static str,
        /// The status.
        status: u16,
    },
    /// The header helper's output could not be used.
    HelperOutput(HelperOutputError),
    /// The host reported that the header helper failed.
    HelperFailed,
    /// Discovery failed (RFC 9728 / RFC 8414).
    Discovery(DiscoveryError),
    /// Dynamic client registration failed (RFC 7591).
    Registration(RegistrationError),
    /// The authorization request or its redirect was not acceptable.
    Authorize(AuthorizeError),
    /// The protected resource metadata names another resource (RFC 9728 §3.3).
    ResourceMismatch {
        /// The `resource` the metadata declared.
        declared: String,
    },
    /// A `resource_metadata` URL on another origin than the resource (SSRF guard).
    CrossOriginMetadata,
    /// The protected resource metadata lists no authorization server.
    NoAuthorizationServer,
    /// The authorization server does not advertise PKCE S256 (RFC 7636 §4.2, required
    /// by OAuth 2.1 and MCP).
    PkceUnsupported,
    /// Authorization server metadata lacks a required endpoint (RFC 8414 §2).
    MissingEndpoint(&'static str),
    /// No way to identify this client: nothing pre-registered, no Client ID Metadata
    /// Document support, no registration endpoint.
    NoClientIdentity,
    /// This session has no redirect URI, so it cannot run an authorization-code flow.
    CannotAuthorize,
    /// The redirect's `state` does not match the authorization request's.
    StateMismatch,
    /// The redirect's `iss` (RFC 9207) is missing or not the expected issuer.
    IssuerMismatch,
    /// The authorization server refused (`error` on the redirect, RFC 6749 §4.1.2.1).
    AuthorizationDenied {
        /// The `error` code, e.g. `access_denied`.
        error: String,
        /// `error_description`, if any.
        description: Option<String>,
    },
    /// The user did not complete authorization in time.
    AuthorizationTimedOut,
    /// The host could not run the browser part of authorization.
    AuthorizationUnavailable,
    /// The token endpoint answered so slowly that the token had expired on arrival.
    ExpiredOnArrival,
    /// A response body was larger than [`Policy::max_response_body`].
    ///
    /// [`Policy::max_response_body`]: crate::policy::Policy::max_response_body
    BodyTooLarge {
        /// What was being fetched.
        what: &'static str,
        /// The limit, in bytes.
        limit: u32,
    },
    /// A scope list was longer than [`Policy::max_scopes`].
    ///
    /// [`Policy::max_scopes`]: crate::policy::Policy::max_scopes
    TooManyScopes {
        /// Where the list came from.
        what: &'static str,
        /// The limit.
        limit: u32,
    },
    /// The pre-registered client belongs to another authorization server than the one
    /// the resource now names (MCP 2026-07-28 "Authorization Server Binding": clients
    /// SHOULD surface an error rather than use mismatched credentials).
    ClientIssuerMismatch,
    /// The host could not store a snapshot ([`Session::handle_persist_failed`]); the
    /// credentials are kept in memory and the machine asks again.
    ///
    /// [`Session::handle_persist_failed`]: super::Session::handle_persist_failed
    PersistFailed,
}

impl SessionError {
    /// A stable snake_case code for logs, JSON and the C ABI.
    pub const fn code(&self) -> &'static str {
        match self {
            SessionError::TokenEndpoint(_) => "token_endpoint",
            SessionError::TokenResponse(_) => "token_response",
            SessionError::Network(_) => "network",
            SessionError::Deadline => "deadline",
            SessionError::Status { .. } => "status",
            SessionError::HelperOutput(_) => "helper_output",
            SessionError::HelperFailed => "helper_failed",
            SessionError::Discovery(_) => "discovery",
            SessionError::Registration(_) => "registration",
            SessionError::Authorize(_) => "authorize",
            SessionError::ResourceMismatch { .. } => "resource_mismatch",
            SessionError::CrossOriginMetadata => "cross_origin_metadata",
            SessionError::NoAuthorizationServer => "no_authorization_server",
            SessionError::PkceUnsupported => "pkce_unsupported",
            SessionError::MissingEndpoint(_) => "missing_endpoint",
            SessionError::NoClientIdentity => "no_client_identity",
            SessionError::CannotAuthorize => "cannot_authorize",
            SessionError::StateMismatch => "state_mismatch",
            SessionError::IssuerMismatch => "issuer_mismatch",
            SessionError::AuthorizationDenied { .. } => "authorization_denied",
            SessionError::AuthorizationTimedOut => "authorization_timed_out",
            SessionError::AuthorizationUnavailable => "authorization_unavailable",
            SessionError::ExpiredOnArrival => "expired_on_arrival",
            SessionError::BodyTooLarge { .. } => "body_too_large",
            SessionError::TooManyScopes { .. } => "too_many_scopes",
            SessionError::ClientIssuerMismatch => "client_issuer_mismatch",
            SessionError::PersistFailed => "persist_failed",
        }
    }

    /// Whether trying again later can help: network trouble, 5xx, deadlines. Anything
    /// else (a refusal, a failed security check) will fail the same way until something
    /// changes, so the machine waits its longest backoff before trying again.
    pub const fn is_transient(&self) -> bool {
        match self {
            SessionError::Network(_)
            | SessionError::Deadline
            | SessionError::BodyTooLarge { .. }
            | SessionError::TokenResponse(_)
            | SessionError::ExpiredOnArrival
            | SessionError::HelperFailed
            | SessionError::PersistFailed => true,
            SessionError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// `{"code": …, "message": …}`: the code to branch on and the text to show.
impl serde::Serialize for SessionError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("code", self.code())?;
        map.serialize_entry("message", &alloc::format!("{self}"))?;
        map.end()
    }
}

/// Text a server chose (an `error_description`, a `resource`), shown through core's one
/// sanitizer: unsafe characters escaped visibly, length capped.
fn server_text(text: &str) -> crate::text::Sanitized<'_> {
    crate::text::Sanitized::quoted(text)
}

/// An RFC 6749 §5.2 error as a session shows it: the code, then the server's
/// description and page, escaped.
struct OAuthText<'a>(&'a ErrorResponse);

impl fmt::Display for OAuthText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", server_text(self.0.error.as_str()))?;
        if let Some(d) = &self.0.error_description {
            write!(f, ": {}", server_text(d))?;
        }
        if let Some(u) = &self.0.error_uri {
            write!(f, " (see {})", server_text(u))?;
        }
        Ok(())
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::TokenEndpoint(e) => write!(f, "token endpoint error: {}", OAuthText(e)),
            SessionError::TokenResponse(e) => write!(f, "token response: {e}"),
            SessionError::Network(k) => write!(f, "network failure: {k}"),
            SessionError::Deadline => f.write_str("no answer before the deadline"),
            SessionError::Status { what, status } => write!(f, "{what} answered HTTP {status}"),
            SessionError::HelperOutput(e) => write!(f, "{e}"),
            SessionError::HelperFailed => f.write_str("the header helper failed"),
            SessionError::Discovery(e) => write!(f, "discovery: {e}"),
            SessionError::Registration(e) => write!(f, "client registration: {e}"),
            SessionError::Authorize(e) => write!(f, "authorization: {e}"),
            SessionError::ResourceMismatch { declared } => write!(
                f,
                "protected resource metadata is for \"{}\", not this server",
                server_text(declared)
            ),
            SessionError::CrossOriginMetadata => {
                f.write_str("resource_metadata URL is on another origin than the resource")
            }
            SessionError::NoAuthorizationServer => {
                f.write_str("protected resource metadata lists no authorization server")
            }
            SessionError::PkceUnsupported => {
                f.write_str("authorization server does not support PKCE S256")
            }
            SessionError::MissingEndpoint(name) => {
                write!(f, "authorization server metadata has no {name}")
            }
            SessionError::NoClientIdentity => f.write_str(
                "no client identity: nothing pre-registered, no metadata document support, no registration endpoint",
            ),
            SessionError::CannotAuthorize => f.write_str(
                "no usable credential, and this session cannot authorize (no redirect URI or client)",
            ),
            SessionError::StateMismatch => f.write_str("redirect state does not match"),
            SessionError::IssuerMismatch => {
                f.write_str("redirect iss is missing or not the authorization server's issuer")
            }
            SessionError::AuthorizationDenied { error, description } => match description {
                Some(d) => write!(
                    f,
                    "authorization denied: {}: {}",
                    server_text(error),
                    server_text(d)
                ),
                None => write!(f, "authorization denied: {}", server_text(error)),
            },
            SessionError::AuthorizationTimedOut => {
                f.write_str("authorization was not completed in time")
            }
            SessionError::AuthorizationUnavailable => {
                f.write_str("the host could not open the authorization URL or receive the redirect")
            }
            SessionError::ExpiredOnArrival => f.write_str(
                "the token endpoint answered after the new token's lifetime had already passed",
            ),
            SessionError::BodyTooLarge { what, limit } => {
                write!(f, "{what} response body is larger than the {limit}-byte limit")
            }
            SessionError::TooManyScopes { what, limit } => {
                write!(f, "{what} lists more than {limit} scopes")
            }
            SessionError::ClientIssuerMismatch => f.write_str(
                "the pre-registered client belongs to another authorization server than the one the resource now names",
            ),
            SessionError::PersistFailed => f.write_str(
                "the host could not store the credentials; they are kept in memory and storing is retried",
            ),
        }
    }
}

impl core::error::Error for SessionError {}
