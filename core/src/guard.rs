//! The server half: what a protected resource answers to a request, so that an MCP
//! server can say "token expired" the way clients act on (HTTP 401 with a
//! `WWW-Authenticate` challenge) instead of a JSON-RPC error over HTTP 200.
//!
//! Pure and allocation-light: the host extracts the request's `Authorization` lines
//! and query, verifies the token its own way (a JWT library, RFC 7662 introspection),
//! and hands the outcome in; the guard returns the status, the exact
//! `WWW-Authenticate` value and a JSON body.
//!
//! - RFC 6750 §3: `401` with no error code when no credential was presented, `401
//!   invalid_token` for a bad, expired or foreign token, `403 insufficient_scope` with
//!   the `scope` needed, `400 invalid_request` for a malformed request (two
//!   credentials, a token in the query string, a malformed header);
//! - RFC 9728 §5.1: every challenge names the `resource_metadata` URL, so a client that
//!   has nothing can discover the authorization server (MCP authorization 2025-11-25,
//!   "Authorization Server Discovery");
//! - MCP authorization: tokens only in the `Authorization` header, never in the query
//!   string; the audience must be this resource (RFC 8707, "Token Audience Binding").
//!
//! ```
//! use bearerflow::guard::{Guard, Verification};
//!
//! let guard = Guard::new("https://mcp.example.com/mcp")
//!     .with_resource_metadata("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
//!     .unwrap();
//! // No Authorization header: a 401 that says where to discover the server.
//! let refusal = guard.token(&[], None).unwrap_err();
//! assert_eq!(refusal.status, 401);
//! assert_eq!(
//!     refusal.www_authenticate,
//!     r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#
//! );
//! // A token the host found expired.
//! let token = guard.token(&["Bearer mF_9.B5f-4.1JqM"], None).unwrap();
//! assert_eq!(token, "mF_9.B5f-4.1JqM");
//! let refusal = guard.decide(Verification::Expired, "").unwrap_err();
//! assert_eq!(refusal.status, 401);
//! assert!(refusal.www_authenticate.contains(r#"error="invalid_token""#));
//! ```

use crate::challenge::{parse_authorization_bearer, render, RenderError};
use crate::oauth::{form, scope_covers};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// How the host's verification of the token came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verification<'a> {
    /// The token is genuine and unexpired. `scope` is the granted scope (space
    /// separated, RFC 6749 §3.3); `audiences` are the resources it was issued for (the
    /// JWT `aud` claim or the introspection response's `aud`, RFC 7662 §2.2).
    Valid {
        /// Granted scope.
        scope: &'a str,
        /// The token's audiences; the guard checks this resource is among them.
        audiences: &'a [&'a str],
    },
    /// The token was genuine but has expired.
    Expired,
    /// The token is not genuine, revoked, or unknown to the authorization server.
    Invalid,
    /// The request was fine, but a tool handling it found the upstream token it derived
    /// from the client's token expired (a delegated token, a token exchange): the
    /// client's token must be renewed, so it is answered as an expired token.
    UpstreamExpired,
    /// The token is bound to a key (RFC 9449 DPoP); this guard does not verify proofs.
    ProofOfPossession,
}

/// A request the resource refuses, with everything to send back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status: 400, 401 or 403.
    pub status: u16,
    /// Why, as a stable code ([`RefusalKind::code`]).
    pub kind: RefusalKind,
    /// The `WWW-Authenticate` value (RFC 9110 §11.6.1), quoted and escaped.
    pub www_authenticate: String,
    /// A JSON body: `{"error": <RFC 6750 code>, "error_description": …}`, or
    /// `{"error": "unauthorized", …}` when no credential was presented.
    pub body: String,
}

/// Why a request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalKind {
    /// No `Authorization` header.
    MissingToken,
    /// The `Authorization` value is not `Bearer <b64token>` (RFC 6750 §2.1).
    MalformedAuthorization,
    /// More than one credential (RFC 6750 §2: one method per request).
    MultipleTokens,
    /// An `access_token` in the query string (MCP forbids it; RFC 6750 §2.3).
    TokenInQuery,
    /// The token is not genuine, revoked or unknown.
    InvalidToken,
    /// The token expired.
    ExpiredToken,
    /// The token names no audience.
    MissingAudience,
    /// The token is for another resource.
    WrongAudience,
    /// The token lacks a scope the request needs.
    InsufficientScope,
    /// A tool's upstream token expired.
    UpstreamTokenExpired,
    /// A DPoP-bound token, which this guard does not verify.
    ProofOfPossessionNotSupported,
}

impl RefusalKind {
    /// A stable snake_case code.
    pub const fn code(self) -> &'static str {
        match self {
            RefusalKind::MissingToken => "missing_token",
            RefusalKind::MalformedAuthorization => "malformed_authorization",
            RefusalKind::MultipleTokens => "multiple_tokens",
            RefusalKind::TokenInQuery => "token_in_query",
            RefusalKind::InvalidToken => "invalid_token",
            RefusalKind::ExpiredToken => "expired_token",
            RefusalKind::MissingAudience => "missing_audience",
            RefusalKind::WrongAudience => "wrong_audience",
            RefusalKind::InsufficientScope => "insufficient_scope",
            RefusalKind::UpstreamTokenExpired => "upstream_token_expired",
            RefusalKind::ProofOfPossessionNotSupported => "proof_of_possession_not_supported",
        }
    }

    /// The RFC 6750 §3.1 error code and the status that goes with it; `None` for a
    /// request that presented no credential (§3.1: no error code then).
    const fn oauth(self) -> (Option<&'static str>, u16) {
        match self {
            RefusalKind::MissingToken => (None, 401),
            RefusalKind::MalformedAuthorization
            | RefusalKind::MultipleTokens
            | RefusalKind::TokenInQuery
            | RefusalKind::ProofOfPossessionNotSupported => (Some("invalid_request"), 400),
            RefusalKind::InvalidToken
            | RefusalKind::ExpiredToken
            | RefusalKind::MissingAudience
            | RefusalKind::WrongAudience
            | RefusalKind::UpstreamTokenExpired => (Some("invalid_token"), 401),
            RefusalKind::InsufficientScope => (Some("insufficient_scope"), 403),
        }
    }

    /// What a client developer reads (`error_description`). Fixed text: nothing the
    /// request or the token held goes into a header.
    const fn description(self) -> &'static str {
        match self {
            RefusalKind::MissingToken => "no access token was presented",
            RefusalKind::MalformedAuthorization => {
                "the Authorization header is not \"Bearer <token>\""
            }
            RefusalKind::MultipleTokens => "more than one access token was presented",
            RefusalKind::TokenInQuery => {
                "access tokens must be sent in the Authorization header, not the query string"
            }
            RefusalKind::InvalidToken => "the access token is not valid",
            RefusalKind::ExpiredToken => "the access token expired",
            RefusalKind::MissingAudience => "the access token names no audience",
            RefusalKind::WrongAudience => "the access token was issued for another resource",
            RefusalKind::InsufficientScope => "the request needs more scope than the token has",
            RefusalKind::UpstreamTokenExpired => {
                "the access token expired upstream; renew it and retry"
            }
            RefusalKind::ProofOfPossessionNotSupported => {
                "DPoP-bound access tokens are not supported by this resource"
            }
        }
    }
}

impl fmt::Display for RefusalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// A [`Guard`] setting that cannot go into a challenge (a control character, a
/// non-ASCII byte: RFC 9110 §5.6.4, §5.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardError {
    /// Which setting.
    pub field: &'static str,
    /// Why.
    pub reason: RenderError,
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "guard {}: {}", self.field, self.reason)
    }
}

impl core::error::Error for GuardError {}

/// One protected resource's answers. Borrowed settings: build one per server and keep
/// it, or one per request; it allocates only when it refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guard<'a> {
    resource: &'a str,
    realm: Option<&'a str>,
    resource_metadata: Option<&'a str>,
}

impl<'a> Guard<'a> {
    /// A guard for `resource`, the canonical URI tokens must name as their audience
    /// (RFC 8707 §2; the MCP server's URL).
    pub fn new(resource: &'a str) -> Guard<'a> {
        Guard {
            resource,
            realm: None,
            resource_metadata: None,
        }
    }

    /// The `resource_metadata` URL every challenge names (RFC 9728 §5.1).
    pub fn with_resource_metadata(mut self, url: &'a str) -> Result<Guard<'a>, GuardError> {
        check("resource_metadata", url)?;
        self.resource_metadata = Some(url);
        Ok(self)
    }

    /// The `realm` every challenge names (RFC 9110 §11.5).
    pub fn with_realm(mut self, realm: &'a str) -> Result<Guard<'a>, GuardError> {
        check("realm", realm)?;
        self.realm = Some(realm);
        Ok(self)
    }

    /// The token the request presents, from every `Authorization` line and the raw query
    /// string, or the refusal to send back. Refused: no header (401, no error code), a
    /// header that is not `Bearer <b64token>` or a DPoP one, two credentials, and an
    /// `access_token` in the query (400 `invalid_request`).
    pub fn token<'r>(
        &self,
        authorization: &[&'r str],
        query: Option<&str>,
    ) -> Result<&'r str, Refusal> {
        if query.is_some_and(query_has_token) {
            return Err(self.refuse(RefusalKind::TokenInQuery, None));
        }
        let lines: Vec<&str> = authorization
            .iter()
            .copied()
            .filter(|l| !l.trim().is_empty())
            .collect();
        match lines.as_slice() {
            [] => Err(self.refuse(RefusalKind::MissingToken, None)),
            [one] => {
                let scheme = one.trim_start().split([' ', '\t']).next().unwrap_or("");
                if scheme.eq_ignore_ascii_case("dpop") {
                    return Err(self.refuse(RefusalKind::ProofOfPossessionNotSupported, None));
                }
                parse_authorization_bearer(one)
                    .map_err(|_| self.refuse(RefusalKind::MalformedAuthorization, None))
            }
            _ => Err(self.refuse(RefusalKind::MultipleTokens, None)),
        }
    }

    /// The answer once the host has verified the token: `Ok(())` to serve the request,
    /// or the refusal. `required_scope` is what this request needs (space separated;
    /// empty for nothing); a valid token without it gets `403 insufficient_scope` naming
    /// it (RFC 6750 §3.1).
    pub fn decide(
        &self,
        verification: Verification<'_>,
        required_scope: &str,
    ) -> Result<(), Refusal> {
        let kind = match verification {
            Verification::Valid { scope, audiences } => {
                if audiences.is_empty() {
                    RefusalKind::MissingAudience
                } else if !audiences.iter().any(|a| audience_is(a, self.resource)) {
                    RefusalKind::WrongAudience
                } else if !scope_covers(scope, required_scope) {
                    return Err(self.refuse(RefusalKind::InsufficientScope, Some(required_scope)));
                } else {
                    return Ok(());
                }
            }
            Verification::Expired => RefusalKind::ExpiredToken,
            Verification::Invalid => RefusalKind::InvalidToken,
            Verification::UpstreamExpired => RefusalKind::UpstreamTokenExpired,
            Verification::ProofOfPossession => RefusalKind::ProofOfPossessionNotSupported,
        };
        Err(self.refuse(kind, None))
    }

    /// The refusal for `kind`; `scope` for `insufficient_scope`.
    pub fn refuse(&self, kind: RefusalKind, scope: Option<&str>) -> Refusal {
        let (error, status) = kind.oauth();
        let mut params: Vec<(&str, &str)> = Vec::with_capacity(5);
        if let Some(r) = self.realm {
            params.push(("realm", r));
        }
        if let Some(e) = error {
            params.push(("error", e));
            params.push(("error_description", kind.description()));
        }
        // A scope that cannot be quoted (a control character) is left out rather than
        // sent broken: the error code still tells the client what happened.
        let scope = scope
            .filter(|s| !s.is_empty())
            .filter(|s| check("scope", s).is_ok());
        if let Some(s) = scope {
            params.push(("scope", s));
        }
        if let Some(m) = self.resource_metadata {
            params.push(("resource_metadata", m));
        }
        // Every value was checked (fixed text, checked settings, checked scope), so
        // rendering cannot fail; should it, the bare scheme still is a valid challenge.
        let www_authenticate = render("Bearer", &params).unwrap_or_else(|_| String::from("Bearer"));
        let body = serde_json::json!({
            "error": error.unwrap_or("unauthorized"),
            "error_description": kind.description(),
        });
        Refusal {
            status,
            kind,
            www_authenticate,
            body: body.to_string(),
        }
    }
}

/// Whether a value can go into a quoted-string as it is.
fn check(field: &'static str, value: &str) -> Result<(), GuardError> {
    render("Bearer", &[("x", value)])
        .map(|_| ())
        .map_err(|reason| GuardError { field, reason })
}

/// An `access_token` parameter in a raw query string (RFC 6750 §2.3).
fn query_has_token(query: &str) -> bool {
    query
        .trim_start_matches('?')
        .split('&')
        .filter_map(|kv| kv.split('=').next())
        .any(|name| form::decode(name).is_ok_and(|n| n == "access_token"))
}

/// Whether a token audience names this resource: the same URI, ignoring a trailing
/// slash and the case of scheme and host (RFC 3986 §6.2.2.1).
fn audience_is(audience: &str, resource: &str) -> bool {
    if audience == resource {
        return true;
    }
    crate::oauth::resource_matches(audience, resource)
}

/// Protected resource metadata (RFC 9728 §2) as JSON, for the well-known document the
/// `resource_metadata` URL serves. `bearer_methods_supported` is always `["header"]`:
/// MCP sends tokens in the `Authorization` header only.
pub fn protected_resource_metadata(
    resource: &str,
    authorization_servers: &[&str],
    scopes_supported: &[&str],
    resource_name: Option<&str>,
) -> String {
    let mut doc = serde_json::json!({
        "resource": resource,
        "authorization_servers": authorization_servers,
        "bearer_methods_supported": ["header"],
    });
    if !scopes_supported.is_empty() {
        doc["scopes_supported"] = serde_json::json!(scopes_supported);
    }
    if let Some(name) = resource_name {
        doc["resource_name"] = serde_json::json!(name);
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::{find_bearer, BearerError};
    use alloc::format;

    const RES: &str = "https://mcp.example.com/mcp";
    const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

    fn guard() -> Guard<'static> {
        Guard::new(RES)
            .with_resource_metadata(PRM)
            .and_then(|g| g.with_realm("mcp"))
            .unwrap()
    }

    #[test]
    fn the_answers_of_rfc_6750_section_3() {
        let g = guard();
        let r = g.token(&[], None).unwrap_err();
        assert_eq!((r.status, r.kind), (401, RefusalKind::MissingToken));
        assert_eq!(
            r.www_authenticate,
            format!(r#"Bearer realm="mcp", resource_metadata="{PRM}""#)
        );
        let r = g.decide(Verification::Expired, "").unwrap_err();
        assert_eq!(
            r.www_authenticate,
            format!(
                r#"Bearer realm="mcp", error="invalid_token", error_description="the access token expired", resource_metadata="{PRM}""#
            )
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap(),
            serde_json::json!({"error": "invalid_token", "error_description": "the access token expired"})
        );
        let valid = |scope| Verification::Valid {
            scope,
            audiences: &[RES],
        };
        let r = g
            .decide(valid("mcp:tools"), "mcp:tools mcp:admin")
            .unwrap_err();
        assert_eq!((r.status, r.kind), (403, RefusalKind::InsufficientScope));
        assert!(r
            .www_authenticate
            .contains(r#"scope="mcp:tools mcp:admin""#));
        assert_eq!(g.decide(valid("mcp:admin mcp:tools"), "mcp:tools"), Ok(()));
        assert_eq!(g.decide(valid(""), ""), Ok(()));
        let r = g.token(&["Basic YWxhZGRpbjpvcGVu"], None).unwrap_err();
        assert_eq!(
            (r.status, r.kind),
            (400, RefusalKind::MalformedAuthorization)
        );
        assert!(r.www_authenticate.contains(r#"error="invalid_request""#));
        let r = g.token(&["Bearer a", "Bearer b"], None).unwrap_err();
        assert_eq!(r.kind, RefusalKind::MultipleTokens);
        let r = g
            .token(&["Bearer a"], Some("x=1&access_token=abc"))
            .unwrap_err();
        assert_eq!((r.status, r.kind), (400, RefusalKind::TokenInQuery));
        let r = g.token(&["DPoP abc"], None).unwrap_err();
        assert_eq!(r.kind, RefusalKind::ProofOfPossessionNotSupported);
        assert_eq!(
            g.token(&["Bearer abc"], Some("x=1&access_tokens=2")),
            Ok("abc")
        );
    }

    /// The check list of the proposed conformance scenario for server token validation:
    /// unauthenticated rejected, valid audience accepted, wrong or missing audience
    /// rejected, expired rejected, untrusted rejected.
    #[test]
    fn audience_and_trust() {
        let g = guard();
        let ok = Verification::Valid {
            scope: "",
            audiences: &["https://other.example/", RES],
        };
        assert_eq!(g.decide(ok, ""), Ok(()));
        let trailing = Verification::Valid {
            scope: "",
            audiences: &["https://MCP.example.com/mcp"],
        };
        assert_eq!(g.decide(trailing, ""), Ok(()));
        for (v, kind) in [
            (
                Verification::Valid {
                    scope: "",
                    audiences: &["https://other.example/mcp"],
                },
                RefusalKind::WrongAudience,
            ),
            (
                Verification::Valid {
                    scope: "",
                    audiences: &[],
                },
                RefusalKind::MissingAudience,
            ),
            (Verification::Expired, RefusalKind::ExpiredToken),
            (Verification::Invalid, RefusalKind::InvalidToken),
            (
                Verification::UpstreamExpired,
                RefusalKind::UpstreamTokenExpired,
            ),
        ] {
            let r = g.decide(v, "").unwrap_err();
            assert_eq!((r.status, r.kind), (401, kind));
            // A client (ours) reads it as invalid_token with the metadata URL.
            let c = find_bearer(&[&r.www_authenticate]).unwrap();
            assert_eq!(c.error, Some(BearerError::InvalidToken));
            assert_eq!(c.resource_metadata.as_deref(), Some(PRM));
        }
    }

    #[test]
    fn settings_with_control_characters_are_refused_and_quotes_are_escaped() {
        assert!(Guard::new(RES).with_realm("a\r\nSet-Cookie: x").is_err());
        assert!(Guard::new(RES)
            .with_resource_metadata("https://x/\u{7}")
            .is_err());
        let g = Guard::new(RES).with_realm(r#"say "hi" \ bye"#).unwrap();
        let r = g.token(&[], None).unwrap_err();
        assert_eq!(r.www_authenticate, r#"Bearer realm="say \"hi\" \\ bye""#);
        // A required scope that cannot be quoted is left out, not sent broken.
        let valid = Verification::Valid {
            scope: "",
            audiences: &[RES],
        };
        let r = Guard::new(RES).decide(valid, "a\nb").unwrap_err();
        assert!(!r.www_authenticate.contains('\n'));
        assert!(!r.www_authenticate.contains("scope="));
    }

    #[test]
    fn metadata_document() {
        let doc = protected_resource_metadata(RES, &["https://as.example"], &["mcp:tools"], None);
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(v["resource"], RES);
        assert_eq!(v["authorization_servers"][0], "https://as.example");
        assert_eq!(v["bearer_methods_supported"][0], "header");
        let parsed = crate::oauth::parse_protected_resource_metadata(doc.as_bytes()).unwrap();
        assert_eq!(parsed.scopes_supported, ["mcp:tools"]);
    }
}
