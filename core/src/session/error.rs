//! The detailed cause behind a [`RequestError`](super::RequestError).
//!
//! `Fail` actions carry a small copyable code; the full story of the last thing that
//! went wrong (which metadata URL, which OAuth error, which status) is kept here and
//! read with [`Session::last_error`](super::Session::last_error). No variant holds a
//! token or a secret.

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
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::TokenEndpoint(e) => write!(f, "token endpoint error: {e}"),
            SessionError::TokenResponse(e) => write!(f, "token response: {e}"),
            SessionError::Network(k) => write!(f, "network failure: {k:?}"),
            SessionError::Deadline => f.write_str("no answer before the deadline"),
            SessionError::Status { what, status } => write!(f, "{what} answered HTTP {status}"),
            SessionError::HelperOutput(e) => write!(f, "{e}"),
            SessionError::HelperFailed => f.write_str("the header helper failed"),
            SessionError::Discovery(e) => write!(f, "discovery: {e}"),
            SessionError::Registration(e) => write!(f, "client registration: {e}"),
            SessionError::Authorize(e) => write!(f, "authorization: {e}"),
            SessionError::ResourceMismatch { declared } => write!(
                f,
                "protected resource metadata is for {declared:?}, not this server"
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
            SessionError::CannotAuthorize => {
                f.write_str("this session has no redirect URI and cannot authorize")
            }
            SessionError::StateMismatch => f.write_str("redirect state does not match"),
            SessionError::IssuerMismatch => {
                f.write_str("redirect iss is missing or not the authorization server's issuer")
            }
            SessionError::AuthorizationDenied { error, description } => match description {
                Some(d) => write!(f, "authorization denied: {error}: {d}"),
                None => write!(f, "authorization denied: {error}"),
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
        }
    }
}

impl core::error::Error for SessionError {}
