//! OAuth 2.1 messages as pure functions.
//!
//! Everything here turns values into a [`Request`](crate::http::Request) to send, or
//! turns a status and body bytes into a typed result. Nothing performs I/O, reads a
//! clock or draws randomness: entropy for PKCE and `state` comes in as bytes, and the
//! session machine decides when to call what.
//!
//! | concern | module | specifications |
//! | --- | --- | --- |
//! | discovery | [`discovery`], [`url`] | RFC 9728, RFC 8414, OIDC Discovery 1.0, MCP 2025-11-25 |
//! | registration | [`registration`] | RFC 7591 |
//! | authorization request and redirect | [`authorize`], [`pkce`] | RFC 6749 §4.1, RFC 7636, RFC 8707, RFC 9207 |
//! | token endpoint | [`token`], [`client`], [`error`] | RFC 6749 §2.3, §4.1.3, §4.4, §5, §6 |
//! | `Retry-After` | [`retry`] | RFC 9110 §10.2.3 |
//! | scopes | [`scope`] | RFC 6749 §3.3 |
//! | form encoding | [`form`] | RFC 6749 Appendix B, WHATWG URL §5 |
//!
//! Every item is re-exported here, so `bearerflow::oauth::parse_token_response` works.
//!
//! # Security rules kept throughout
//!
//! - Tokens, codes, client secrets and PKCE verifiers are [`Secret`](crate::secret::Secret)s:
//!   redacted in `Debug`/`Display`, zeroized on drop, and moved (not copied) out of
//!   parsed JSON. Error values never contain them: a token or registration body that
//!   does not parse into the expected response is never quoted, only summarized
//!   ([`BodySummary`]); errors quote only members known to be safe (`error`,
//!   `error_description`, `token_type`), decoded and passed through
//!   [`text::Sanitized`](crate::text::Sanitized).
//! - Endpoints must be `https`, or `http` to a loopback host ([`check_endpoint`]).
//! - Metadata identifiers are checked against where they came from
//!   ([`resource_matches`], exact issuer comparison, RFC 9207 `iss`).
//! - Parsers never panic on any input (property-tested and fuzzed).
//!
//! # A whole authorization-code flow, without I/O
//!
//! ```
//! use bearerflow::oauth::*;
//!
//! // 1. Discovery: where is the resource's metadata, and is it about our server?
//! let server = "https://mcp.example.com/mcp";
//! let prm_url = &protected_resource_metadata_urls(server)?[0];
//! assert_eq!(prm_url, "https://mcp.example.com/.well-known/oauth-protected-resource/mcp");
//! let prm = parse_protected_resource_metadata(
//!     br#"{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://auth.example.com"]}"#)?;
//! assert!(resource_matches(&prm.resource, server));
//! let issuer = &prm.authorization_servers[0];
//! let meta = parse_authorization_server_metadata(br#"{"issuer":"https://auth.example.com",
//!     "authorization_endpoint":"https://auth.example.com/authorize",
//!     "token_endpoint":"https://auth.example.com/token",
//!     "code_challenge_methods_supported":["S256"]}"#, issuer)?;
//! assert!(supports_s256(&meta));
//!
//! // 2. Authorization URL with PKCE; entropy comes from the host's CSPRNG.
//! let pkce = Pkce::from_entropy(&[42u8; 32]);
//! let state = state_from_entropy(&[7u8; 16]);
//! let redirect_uri = "http://127.0.0.1:8765/callback";
//! let url = authorization_url(&AuthorizationRequest {
//!     authorization_endpoint: meta.authorization_endpoint.as_deref().unwrap_or_default(),
//!     client_id: "my-client",
//!     redirect_uri,
//!     code_challenge: &pkce.challenge,
//!     state: &state,
//!     scope: None,
//!     resource: Some(&prm.resource),
//!     prompt: None,
//! })?;
//! assert!(url.contains("code_challenge_method=S256"));
//!
//! // 3. The browser comes back; check it and exchange the code.
//! let back = format!("{redirect_uri}?code=abc123&state={state}");
//! let params = parse_redirect(&back)?;
//! let code = params.verify(&state, issuer, meta.authorization_response_iss_parameter_supported)?;
//! let client = ClientRegistration::public("my-client");
//! let req = authorization_code_request(meta.token_endpoint.as_deref().unwrap_or_default(),
//!     &client, code, &pkce.verifier, redirect_uri, Some(&prm.resource));
//! assert_eq!(req.header("Content-Type"), Some("application/x-www-form-urlencoded"));
//!
//! // 4. The token endpoint answers.
//! let tokens = parse_token_response(200,
//!     br#"{"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt"}"#)?;
//! assert_eq!(tokens.expires_in, Some(3600));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod authorize;
pub mod client;
pub mod discovery;
pub mod error;
pub mod form;
mod json;
pub mod pkce;
pub mod registration;
pub mod retry;
pub mod scope;
pub mod token;
pub mod url;

pub use self::url::{
    canonical_resource, check_endpoint, is_loopback, origin, resource_matches, same_origin,
};
pub use authorize::{
    authorization_url, parse_redirect, AuthorizationRequest, AuthorizeError, RedirectParams,
};
pub use client::{ClientAuthMethod, ClientRegistration, UnknownAuthMethod};
pub use discovery::{
    authorization_server_metadata_urls, legacy_default_metadata,
    parse_authorization_server_metadata, parse_legacy_authorization_server_metadata,
    parse_protected_resource_metadata, protected_resource_metadata_urls, supports_s256,
    AuthorizationServerMetadata, DiscoveryError, ProtectedResourceMetadata,
};
pub use error::{
    parse_error_response, BodyKind, BodyProblem, BodySummary, ErrorCode, ErrorResponse,
};
pub use form::FormError;
pub use pkce::{s256_challenge, state_from_entropy, Pkce, CODE_CHALLENGE_METHOD};
pub use registration::{
    parse_registration_response, registration_request, registration_request_for, ApplicationType,
    RegistrationError, RegistrationErrorCode, RegistrationParams, DEFAULT_GRANT_TYPES,
};
pub use retry::{retry_after, retry_after_at};
pub use scope::{scope_covers, scope_tokens, scope_union};
pub use token::{
    authorization_code_request, client_credentials_request, jwt_bearer_request,
    parse_token_response, parse_token_response_dpop, refresh_request, TokenError, TokenResponse,
    MAX_EXPIRES_IN_SECS,
};
