//! Discovery: from an MCP server URL to the authorization server's endpoints.
//!
//! The MCP authorization specification (2025-11-25) chains three documents:
//!
//! 1. The resource server's **protected resource metadata** (RFC 9728), found through
//!    the `resource_metadata` parameter of its `WWW-Authenticate` challenge or, failing
//!    that, at the well-known URLs from [`protected_resource_metadata_urls`]. It names
//!    the authorization servers.
//! 2. The authorization server's **metadata** (RFC 8414, or OpenID Connect Discovery
//!    1.0), tried at the URLs from [`authorization_server_metadata_urls`] in order.
//! 3. For servers from before RFC 9728 support (MCP 2025-03-26), a fallback:
//!    [`legacy_default_metadata`].
//!
//! Each document's identifier is checked against where it came from
//! ([`resource_matches`](super::resource_matches), the exact issuer comparison of RFC
//! 8414 §3.3), so that a compromised or confused server cannot redirect the client's
//! tokens elsewhere.

use super::error::BodyProblem;
use super::json;
use super::url::{origin_of, parse_http_url};
use crate::text::Sanitized;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Why a discovery URL or document was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiscoveryError {
    /// The URL does not parse.
    InvalidUrl {
        /// Which URL ("server URL", "issuer", "endpoint", ...).
        what: &'static str,
        /// The reader's reason.
        reason: super::url::UrlError,
    },
    /// The URL's scheme is neither `https` nor `http`.
    UnsupportedScheme {
        /// Which URL.
        what: &'static str,
        /// The scheme found.
        scheme: String,
    },
    /// The URL has no host.
    MissingHost {
        /// Which URL.
        what: &'static str,
    },
    /// Plain `http` to a host that is not loopback (OAuth 2.1 §1.5 requires TLS).
    Insecure {
        /// The host that would have been contacted in clear.
        host: String,
    },
    /// The URL has a fragment, which endpoints and issuers must not have (RFC 6749
    /// §3.1, RFC 8414 §2).
    FragmentNotAllowed {
        /// Which URL.
        what: &'static str,
    },
    /// The issuer has a query component (RFC 8414 §2 forbids it).
    QueryNotAllowed {
        /// Which URL.
        what: &'static str,
    },
    /// The metadata document is malformed.
    Metadata(BodyProblem),
    /// The authorization server metadata names a different issuer than the one it was
    /// fetched for (RFC 8414 §3.3: MUST NOT be used).
    IssuerMismatch {
        /// The issuer the metadata was fetched for.
        expected: String,
        /// The `issuer` in the document (cut to 200 bytes).
        found: String,
    },
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::InvalidUrl { what, reason } => write!(f, "invalid {what}: {reason}"),
            DiscoveryError::UnsupportedScheme { what, scheme } => {
                write!(
                    f,
                    "{what} has scheme {scheme:?}; only https (or http to loopback) is allowed"
                )
            }
            DiscoveryError::MissingHost { what } => write!(f, "{what} has no host"),
            DiscoveryError::Insecure { host } => write!(
                f,
                "refusing plain http to {host:?}: only loopback hosts may be contacted without TLS"
            ),
            DiscoveryError::FragmentNotAllowed { what } => {
                write!(f, "{what} must not have a fragment")
            }
            DiscoveryError::QueryNotAllowed { what } => write!(f, "{what} must not have a query"),
            DiscoveryError::Metadata(p) => write!(f, "malformed metadata: {p}"),
            DiscoveryError::IssuerMismatch { expected, found } => write!(
                f,
                "authorization server metadata names issuer \"{}\", expected \"{}\"",
                Sanitized::quoted(found),
                Sanitized::quoted(expected)
            ),
        }
    }
}

impl core::error::Error for DiscoveryError {}

impl From<BodyProblem> for DiscoveryError {
    fn from(p: BodyProblem) -> DiscoveryError {
        DiscoveryError::Metadata(p)
    }
}

const PRM_WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";
const AS_WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";
const OIDC_WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// Where to look for protected resource metadata when the server's challenge did not
/// say (RFC 9728 §3.1; MCP 2025-11-25 "Protected Resource Metadata Discovery").
///
/// First the path-aware URL, with the well-known suffix inserted between the host and
/// the path (the query is kept); then the root URL. When the server URL has no path
/// (or just `/`) and no query, the two coincide and only one is returned.
///
/// ```
/// use bearerflow::oauth::protected_resource_metadata_urls;
/// assert_eq!(
///     protected_resource_metadata_urls("https://h.example/p/n?q=1").unwrap(),
///     ["https://h.example/.well-known/oauth-protected-resource/p/n?q=1",
///      "https://h.example/.well-known/oauth-protected-resource"]
/// );
/// assert_eq!(
///     protected_resource_metadata_urls("https://h.example/").unwrap(),
///     ["https://h.example/.well-known/oauth-protected-resource"]
/// );
/// ```
pub fn protected_resource_metadata_urls(server_url: &str) -> Result<Vec<String>, DiscoveryError> {
    let u = parse_http_url(server_url, "server URL")?;
    let origin = origin_of(&u);
    let path = match u.path() {
        "/" => "",
        p => p,
    };
    let mut first = format!("{origin}{PRM_WELL_KNOWN}{path}");
    if let Some(q) = u.query() {
        first.push('?');
        first.push_str(q);
    }
    let root = format!("{origin}{PRM_WELL_KNOWN}");
    let mut urls = alloc::vec![first];
    if !urls.contains(&root) {
        urls.push(root);
    }
    Ok(urls)
}

/// Where to look for an authorization server's metadata, in the order MCP 2025-11-25
/// prescribes ("Authorization Server Metadata Discovery").
///
/// - Issuer without a path: `/.well-known/oauth-authorization-server` (RFC 8414 §3.1),
///   then `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4).
/// - Issuer with path `/p`: `/.well-known/oauth-authorization-server/p` (RFC 8414
///   insertion), `/.well-known/openid-configuration/p` (RFC 8414 §5 insertion for
///   OIDC), then `/p/.well-known/openid-configuration` (OIDC appending).
///
/// The issuer must be an http(s) URL without query or fragment (RFC 8414 §2).
///
/// ```
/// use bearerflow::oauth::authorization_server_metadata_urls;
/// assert_eq!(
///     authorization_server_metadata_urls("https://auth.example/tenant1").unwrap(),
///     ["https://auth.example/.well-known/oauth-authorization-server/tenant1",
///      "https://auth.example/.well-known/openid-configuration/tenant1",
///      "https://auth.example/tenant1/.well-known/openid-configuration"]
/// );
/// ```
pub fn authorization_server_metadata_urls(issuer: &str) -> Result<Vec<String>, DiscoveryError> {
    const WHAT: &str = "issuer";
    let u = parse_http_url(issuer, WHAT)?;
    if u.query().is_some() {
        return Err(DiscoveryError::QueryNotAllowed { what: WHAT });
    }
    if u.fragment().is_some() {
        return Err(DiscoveryError::FragmentNotAllowed { what: WHAT });
    }
    let origin = origin_of(&u);
    let path = match u.path() {
        "/" => "",
        p => p,
    };
    if path.is_empty() {
        return Ok(alloc::vec![
            format!("{origin}{AS_WELL_KNOWN}"),
            format!("{origin}{OIDC_WELL_KNOWN}"),
        ]);
    }
    let appended = path.trim_end_matches('/');
    Ok(alloc::vec![
        format!("{origin}{AS_WELL_KNOWN}{path}"),
        format!("{origin}{OIDC_WELL_KNOWN}{path}"),
        format!("{origin}{appended}{OIDC_WELL_KNOWN}"),
    ])
}

/// OAuth 2.0 Protected Resource Metadata (RFC 9728 §2), the members a client uses.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ProtectedResourceMetadata {
    /// The resource identifier (REQUIRED); check it with
    /// [`resource_matches`](super::resource_matches) before trusting the rest.
    pub resource: String,
    /// Issuer identifiers of the authorization servers that can issue tokens for it.
    pub authorization_servers: Vec<String>,
    /// Scopes the resource understands (MCP: the default scope to request when the
    /// challenge names none).
    pub scopes_supported: Vec<String>,
    /// How bearer tokens may be presented (`header`, `body`, `query`).
    pub bearer_methods_supported: Vec<String>,
    /// Human-readable name.
    pub resource_name: Option<String>,
}

/// Parse protected resource metadata (RFC 9728 §3.2).
///
/// `resource` is required; array members default to empty; unknown members are
/// ignored; `null` counts as absent; a member of the wrong type is a typed error naming
/// it.
///
/// ```
/// use bearerflow::oauth::parse_protected_resource_metadata;
/// let m = parse_protected_resource_metadata(br#"{
///   "resource": "https://mcp.example.com/mcp",
///   "authorization_servers": ["https://auth.example.com"],
///   "scopes_supported": ["mcp:tools"]
/// }"#).unwrap();
/// assert_eq!(m.authorization_servers, ["https://auth.example.com"]);
/// ```
pub fn parse_protected_resource_metadata(
    body: &[u8],
) -> Result<ProtectedResourceMetadata, DiscoveryError> {
    let mut o = json::parse_object(body)?;
    Ok(ProtectedResourceMetadata {
        resource: json::require_string(&mut o, "resource")?,
        authorization_servers: json::take_string_array(&mut o, "authorization_servers")?
            .unwrap_or_default(),
        scopes_supported: json::take_string_array(&mut o, "scopes_supported")?.unwrap_or_default(),
        bearer_methods_supported: json::take_string_array(&mut o, "bearer_methods_supported")?
            .unwrap_or_default(),
        resource_name: json::take_string(&mut o, "resource_name")?,
    })
}

/// OAuth 2.0 Authorization Server Metadata (RFC 8414 §2; OIDC Discovery 1.0 §3), the
/// members a bearer client uses.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AuthorizationServerMetadata {
    /// The issuer identifier; equal to the one the metadata was fetched for.
    pub issuer: String,
    /// Where the user agent is sent to authorize (RFC 6749 §3.1).
    pub authorization_endpoint: Option<String>,
    /// Where codes and refresh tokens are exchanged (RFC 6749 §3.2).
    pub token_endpoint: Option<String>,
    /// Dynamic client registration endpoint (RFC 7591).
    pub registration_endpoint: Option<String>,
    /// Scopes the server supports.
    pub scopes_supported: Vec<String>,
    /// `response_type` values supported (REQUIRED by RFC 8414, defaulted to empty).
    pub response_types_supported: Vec<String>,
    /// Grant types supported; absent means `authorization_code` and `implicit`.
    pub grant_types_supported: Vec<String>,
    /// PKCE methods (RFC 7636 §6.2 via RFC 8414 §2). `None` when absent, which MCP
    /// treats as "no PKCE support": the client must refuse to proceed.
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// Client authentication methods at the token endpoint; empty means
    /// `client_secret_basic` (RFC 8414 §2). See
    /// [`ClientAuthMethod::choose`](super::ClientAuthMethod::choose).
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Whether authorization responses carry `iss` (RFC 9207 §3); when true the client
    /// must require and check it.
    pub authorization_response_iss_parameter_supported: bool,
    /// Whether the server accepts URL-formatted client IDs that point at a client
    /// metadata document (MCP 2025-11-25, draft-ietf-oauth-client-id-metadata-document).
    pub client_id_metadata_document_supported: bool,
}

/// Parse authorization server metadata fetched for `expected_issuer`.
///
/// The document's `issuer` must equal `expected_issuer` exactly, character for
/// character (RFC 8414 §3.3; OIDC Discovery §4.3), else
/// [`DiscoveryError::IssuerMismatch`]. Unknown members are ignored, `null` counts as
/// absent, a member of the wrong type is a typed error naming it. Endpoint URLs are
/// not validated here: pass each through [`check_endpoint`](super::check_endpoint)
/// before use.
///
/// ```
/// use bearerflow::oauth::{parse_authorization_server_metadata, supports_s256};
/// let m = parse_authorization_server_metadata(br#"{
///   "issuer": "https://auth.example.com",
///   "authorization_endpoint": "https://auth.example.com/authorize",
///   "token_endpoint": "https://auth.example.com/token",
///   "response_types_supported": ["code"],
///   "code_challenge_methods_supported": ["S256"]
/// }"#, "https://auth.example.com").unwrap();
/// assert!(supports_s256(&m));
/// assert!(parse_authorization_server_metadata(br#"{"issuer":"https://evil.example"}"#,
///     "https://auth.example.com").is_err());
/// ```
pub fn parse_authorization_server_metadata(
    body: &[u8],
    expected_issuer: &str,
) -> Result<AuthorizationServerMetadata, DiscoveryError> {
    let mut o = json::parse_object(body)?;
    let issuer = json::require_string(&mut o, "issuer")?;
    if issuer != expected_issuer {
        return Err(issuer_mismatch(expected_issuer, issuer));
    }
    read_server_metadata(&mut o, issuer)
}

/// Parse authorization server metadata found the MCP 2025-03-26 way, for a server
/// without protected resource metadata.
///
/// That revision does not derive the document's location from an issuer: it fixes it
/// at `/.well-known/oauth-authorization-server` under the *authorization base URL*,
/// the MCP server URL with its path discarded (MCP 2025-03-26 §2.3.2 "Authorization
/// Base URL"). There is no issuer the client looked the document up by, so the exact
/// comparison of RFC 8414 §3.3 has nothing to compare with, and servers of that
/// revision commonly mount the authorization server under a path of their own origin
/// (`"issuer": "https://mcp.example.com/oauth"`).
///
/// What still holds is the point of RFC 8414 §3.3: a document must not send the client
/// to another party. So the `issuer` must be an `http`/`https` URL without query or
/// fragment (RFC 8414 §2) on the **same origin** as `base_url`, the origin that serves
/// both the MCP endpoint and this document; its path may differ. Anything else is
/// [`DiscoveryError::IssuerMismatch`]. The returned metadata keeps the document's
/// issuer, which is what RFC 9207 `iss` values are then compared with.
///
/// ```
/// use bearerflow::oauth::parse_legacy_authorization_server_metadata;
/// let m = parse_legacy_authorization_server_metadata(br#"{
///   "issuer": "https://mcp.example.com/oauth",
///   "authorization_endpoint": "https://mcp.example.com/oauth/authorize",
///   "token_endpoint": "https://mcp.example.com/oauth/token"
/// }"#, "https://mcp.example.com").unwrap();
/// assert_eq!(m.issuer, "https://mcp.example.com/oauth");
/// // Another origin is refused, as with any issuer mismatch.
/// assert!(parse_legacy_authorization_server_metadata(
///     br#"{"issuer":"https://evil.example/oauth"}"#, "https://mcp.example.com").is_err());
/// ```
pub fn parse_legacy_authorization_server_metadata(
    body: &[u8],
    base_url: &str,
) -> Result<AuthorizationServerMetadata, DiscoveryError> {
    let mut o = json::parse_object(body)?;
    let issuer = json::require_string(&mut o, "issuer")?;
    let acceptable = parse_http_url(&issuer, "issuer").is_ok_and(|u| {
        u.query().is_none() && u.fragment().is_none() && super::same_origin(&issuer, base_url)
    });
    if !acceptable {
        return Err(issuer_mismatch(base_url, issuer));
    }
    read_server_metadata(&mut o, issuer)
}

/// Longest `issuer` kept in [`DiscoveryError::IssuerMismatch`].
const FOUND_ISSUER_MAX: usize = 200;

/// [`DiscoveryError::IssuerMismatch`] with the found issuer cut to
/// [`FOUND_ISSUER_MAX`] bytes.
fn issuer_mismatch(expected: &str, mut found: String) -> DiscoveryError {
    if found.len() > FOUND_ISSUER_MAX {
        let mut cut = FOUND_ISSUER_MAX;
        while !found.is_char_boundary(cut) {
            cut -= 1;
        }
        found.truncate(cut);
    }
    DiscoveryError::IssuerMismatch {
        expected: String::from(expected),
        found,
    }
}

/// The members after `issuer` (already checked by the caller).
fn read_server_metadata(
    o: &mut json::Object,
    issuer: String,
) -> Result<AuthorizationServerMetadata, DiscoveryError> {
    Ok(AuthorizationServerMetadata {
        issuer,
        authorization_endpoint: json::take_string(o, "authorization_endpoint")?,
        token_endpoint: json::take_string(o, "token_endpoint")?,
        registration_endpoint: json::take_string(o, "registration_endpoint")?,
        scopes_supported: json::take_string_array(o, "scopes_supported")?.unwrap_or_default(),
        response_types_supported: json::take_string_array(o, "response_types_supported")?
            .unwrap_or_default(),
        grant_types_supported: json::take_string_array(o, "grant_types_supported")?
            .unwrap_or_default(),
        code_challenge_methods_supported: json::take_string_array(
            o,
            "code_challenge_methods_supported",
        )?,
        token_endpoint_auth_methods_supported: json::take_string_array(
            o,
            "token_endpoint_auth_methods_supported",
        )?
        .unwrap_or_default(),
        authorization_response_iss_parameter_supported: json::take_bool(
            o,
            "authorization_response_iss_parameter_supported",
        )?
        .unwrap_or(false),
        client_id_metadata_document_supported: json::take_bool(
            o,
            "client_id_metadata_document_supported",
        )?
        .unwrap_or(false),
    })
}

/// The MCP 2025-03-26 fallback for servers without any metadata: the authorization
/// base URL is the server URL's origin (path discarded), and the endpoints are
/// `/authorize`, `/token` and `/register` there.
///
/// That revision made PKCE mandatory for every client, so the fallback advertises
/// `S256`; it also advertises the `code` response type and the `authorization_code`
/// and `refresh_token` grants, and leaves the authentication methods empty (meaning
/// `client_secret_basic` for clients with a secret, RFC 8414 §2).
///
/// ```
/// use bearerflow::oauth::legacy_default_metadata;
/// let m = legacy_default_metadata("https://api.example.com/v1/mcp").unwrap();
/// assert_eq!(m.issuer, "https://api.example.com");
/// assert_eq!(m.token_endpoint.as_deref(), Some("https://api.example.com/token"));
/// ```
pub fn legacy_default_metadata(
    server_url: &str,
) -> Result<AuthorizationServerMetadata, DiscoveryError> {
    let origin = origin_of(&parse_http_url(server_url, "server URL")?);
    let s = |v: &[&str]| v.iter().map(|x| String::from(*x)).collect::<Vec<_>>();
    Ok(AuthorizationServerMetadata {
        authorization_endpoint: Some(format!("{origin}/authorize")),
        token_endpoint: Some(format!("{origin}/token")),
        registration_endpoint: Some(format!("{origin}/register")),
        scopes_supported: Vec::new(),
        response_types_supported: s(&["code"]),
        grant_types_supported: s(&["authorization_code", "refresh_token"]),
        code_challenge_methods_supported: Some(s(&["S256"])),
        token_endpoint_auth_methods_supported: Vec::new(),
        authorization_response_iss_parameter_supported: false,
        client_id_metadata_document_supported: false,
        issuer: origin,
    })
}

/// Whether the server advertises PKCE `S256` (method names are case-sensitive, RFC
/// 7636 §4.2). MCP 2025-11-25 requires clients to refuse authorization when
/// `code_challenge_methods_supported` is absent or lacks `S256`.
pub fn supports_s256(meta: &AuthorizationServerMetadata) -> bool {
    meta.code_challenge_methods_supported
        .as_ref()
        .is_some_and(|m| m.iter().any(|x| x == super::pkce::CODE_CHALLENGE_METHOD))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::string::ToString;
    use proptest::prelude::*;

    #[test]
    fn prm_urls() {
        assert_eq!(
            protected_resource_metadata_urls("https://example.com/public/mcp").unwrap(),
            [
                "https://example.com/.well-known/oauth-protected-resource/public/mcp",
                "https://example.com/.well-known/oauth-protected-resource"
            ]
        );
        assert_eq!(
            protected_resource_metadata_urls("https://example.com").unwrap(),
            ["https://example.com/.well-known/oauth-protected-resource"]
        );
        assert_eq!(
            protected_resource_metadata_urls("http://127.0.0.1:8080/mcp#frag").unwrap(),
            [
                "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp",
                "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
            ]
        );
        assert_eq!(
            protected_resource_metadata_urls("https://example.com/?x=1").unwrap(),
            [
                "https://example.com/.well-known/oauth-protected-resource?x=1",
                "https://example.com/.well-known/oauth-protected-resource"
            ]
        );
        assert!(protected_resource_metadata_urls("nope").is_err());
    }

    #[test]
    fn as_urls() {
        assert_eq!(
            authorization_server_metadata_urls("https://auth.example.com").unwrap(),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server",
                "https://auth.example.com/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            authorization_server_metadata_urls("https://auth.example.com/")
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            authorization_server_metadata_urls("https://auth.example.com/a/b/").unwrap(),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server/a/b/",
                "https://auth.example.com/.well-known/openid-configuration/a/b/",
                "https://auth.example.com/a/b/.well-known/openid-configuration"
            ]
        );
        assert!(matches!(
            authorization_server_metadata_urls("https://a.example/?x=1"),
            Err(DiscoveryError::QueryNotAllowed { what: "issuer" })
        ));
        assert!(matches!(
            authorization_server_metadata_urls("https://a.example/#x"),
            Err(DiscoveryError::FragmentNotAllowed { what: "issuer" })
        ));
    }

    #[test]
    fn prm_parse_rfc9728_example() {
        // RFC 9728 §3.2 example (trimmed).
        let m = parse_protected_resource_metadata(
            br#"{
              "resource": "https://resource.example.com",
              "authorization_servers": ["https://as1.example.com", "https://as2.example.net"],
              "bearer_methods_supported": ["header", "body"],
              "scopes_supported": ["profile", "email", "phone"],
              "resource_documentation": "https://resource.example.com/resource_documentation.html"
            }"#,
        )
        .unwrap();
        assert_eq!(m.resource, "https://resource.example.com");
        assert_eq!(m.authorization_servers.len(), 2);
        assert_eq!(m.bearer_methods_supported, ["header", "body"]);
        assert_eq!(m.resource_name, None);
    }

    #[test]
    fn prm_errors_name_fields() {
        assert_eq!(
            parse_protected_resource_metadata(b"{}"),
            Err(DiscoveryError::Metadata(BodyProblem::MissingField(
                "resource"
            )))
        );
        assert_eq!(
            parse_protected_resource_metadata(
                br#"{"resource":"r","authorization_servers":"https://as"}"#
            ),
            Err(DiscoveryError::Metadata(BodyProblem::WrongType {
                field: "authorization_servers",
                expected: "an array of strings"
            }))
        );
        assert_eq!(
            parse_protected_resource_metadata(br#"{"resource":"r","resource_name":["x"]}"#),
            Err(DiscoveryError::Metadata(BodyProblem::WrongType {
                field: "resource_name",
                expected: "a string"
            }))
        );
        let e = parse_protected_resource_metadata(b"<html>").unwrap_err();
        assert_eq!(
            e,
            DiscoveryError::Metadata(BodyProblem::NotJson { offset: 0 })
        );
        assert!(e.to_string().contains("byte 0"));
        let m = parse_protected_resource_metadata(br#"{"resource":"r","scopes_supported":null}"#)
            .unwrap();
        assert!(m.scopes_supported.is_empty());
    }

    const AS_META: &[u8] = br#"{
      "issuer": "https://server.example.com",
      "authorization_endpoint": "https://server.example.com/authorize",
      "token_endpoint": "https://server.example.com/token",
      "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
      "registration_endpoint": "https://server.example.com/register",
      "scopes_supported": ["openid", "profile"],
      "response_types_supported": ["code", "code token"],
      "grant_types_supported": ["authorization_code", "refresh_token"],
      "code_challenge_methods_supported": ["plain", "S256"],
      "authorization_response_iss_parameter_supported": true,
      "service_documentation": "http://server.example.com/service_documentation.html"
    }"#;

    #[test]
    fn as_parse_rfc8414_example() {
        let m = parse_authorization_server_metadata(AS_META, "https://server.example.com").unwrap();
        assert_eq!(m.issuer, "https://server.example.com");
        assert_eq!(
            m.token_endpoint.as_deref(),
            Some("https://server.example.com/token")
        );
        assert_eq!(
            m.registration_endpoint.as_deref(),
            Some("https://server.example.com/register")
        );
        assert_eq!(m.token_endpoint_auth_methods_supported.len(), 2);
        assert!(m.authorization_response_iss_parameter_supported);
        assert!(!m.client_id_metadata_document_supported);
        assert!(supports_s256(&m));
    }

    #[test]
    fn as_issuer_must_match_exactly() {
        for expected in [
            "https://server.example.com/",
            "https://SERVER.example.com",
            "https://other.example",
        ] {
            match parse_authorization_server_metadata(AS_META, expected) {
                Err(DiscoveryError::IssuerMismatch { expected: e, found }) => {
                    assert_eq!(e, expected);
                    assert_eq!(found, "https://server.example.com");
                }
                other => panic!("{expected}: {other:?}"),
            }
        }
        let long = std::format!(r#"{{"issuer":"{}"}}"#, "é".repeat(300));
        match parse_authorization_server_metadata(long.as_bytes(), "x") {
            Err(DiscoveryError::IssuerMismatch { found, .. }) => assert!(found.len() <= 200),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn as_wrong_types() {
        let cases: [(&[u8], &str); 4] = [
            (br#"{"issuer":"i","token_endpoint":5}"#, "token_endpoint"),
            (
                br#"{"issuer":"i","code_challenge_methods_supported":"S256"}"#,
                "code_challenge_methods_supported",
            ),
            (
                br#"{"issuer":"i","authorization_response_iss_parameter_supported":"true"}"#,
                "authorization_response_iss_parameter_supported",
            ),
            (
                br#"{"issuer":"i","grant_types_supported":[1]}"#,
                "grant_types_supported",
            ),
        ];
        for (body, field) in cases {
            match parse_authorization_server_metadata(body, "i") {
                Err(DiscoveryError::Metadata(BodyProblem::WrongType { field: f, .. })) => {
                    assert_eq!(f, field)
                }
                other => panic!("{field}: {other:?}"),
            }
        }
        assert_eq!(
            parse_authorization_server_metadata(br#"{"issuer":7}"#, "i"),
            Err(DiscoveryError::Metadata(BodyProblem::WrongType {
                field: "issuer",
                expected: "a string"
            }))
        );
    }

    #[test]
    fn s256_support() {
        let mut m = parse_authorization_server_metadata(br#"{"issuer":"i"}"#, "i").unwrap();
        assert_eq!(m.code_challenge_methods_supported, None);
        assert!(!supports_s256(&m));
        m.code_challenge_methods_supported = Some(std::vec!["plain".to_string()]);
        assert!(!supports_s256(&m));
        m.code_challenge_methods_supported = Some(std::vec!["s256".to_string()]);
        assert!(!supports_s256(&m));
        m.code_challenge_methods_supported = Some(std::vec!["S256".to_string()]);
        assert!(supports_s256(&m));
    }

    #[test]
    fn legacy_defaults() {
        let m = legacy_default_metadata("http://127.0.0.1:9000/some/path/mcp?x=1").unwrap();
        assert_eq!(m.issuer, "http://127.0.0.1:9000");
        assert_eq!(
            m.authorization_endpoint.as_deref(),
            Some("http://127.0.0.1:9000/authorize")
        );
        assert_eq!(
            m.token_endpoint.as_deref(),
            Some("http://127.0.0.1:9000/token")
        );
        assert_eq!(
            m.registration_endpoint.as_deref(),
            Some("http://127.0.0.1:9000/register")
        );
        assert!(supports_s256(&m));
        assert!(legacy_default_metadata("file:///x").is_err());
    }

    /// The metadata the official MCP conformance scenario
    /// `auth/2025-03-26-oauth-metadata-backcompat` serves at the server's origin: an
    /// authorization server mounted under `/oauth` of the MCP server's own origin.
    const BACKCOMPAT_META: &[u8] = br#"{"issuer":"http://localhost:41234/oauth",
        "authorization_endpoint":"http://localhost:41234/oauth/authorize",
        "token_endpoint":"http://localhost:41234/oauth/token",
        "registration_endpoint":"http://localhost:41234/oauth/register",
        "response_types_supported":["code"],
        "grant_types_supported":["authorization_code","refresh_token"],
        "code_challenge_methods_supported":["S256"],
        "token_endpoint_auth_methods_supported":["none"]}"#;

    #[test]
    fn legacy_metadata_accepts_an_issuer_path_on_the_same_origin() {
        // The strict RFC 8414 §3.3 parser refuses it (this is what failed the scenario).
        assert!(matches!(
            parse_authorization_server_metadata(BACKCOMPAT_META, "http://localhost:41234"),
            Err(DiscoveryError::IssuerMismatch { .. })
        ));
        let m =
            parse_legacy_authorization_server_metadata(BACKCOMPAT_META, "http://localhost:41234")
                .unwrap();
        assert_eq!(m.issuer, "http://localhost:41234/oauth");
        assert_eq!(
            m.token_endpoint.as_deref(),
            Some("http://localhost:41234/oauth/token")
        );
        assert!(supports_s256(&m));
        // The issuer equal to the base URL is fine too, as is a base URL given with a path.
        let same = br#"{"issuer":"http://localhost:41234"}"#;
        assert!(parse_legacy_authorization_server_metadata(same, "http://localhost:41234").is_ok());
        assert!(
            parse_legacy_authorization_server_metadata(same, "http://localhost:41234/mcp").is_ok()
        );
    }

    #[test]
    fn legacy_metadata_refuses_other_origins_and_bad_issuers() {
        for issuer in [
            "http://localhost:41235/oauth",
            "https://localhost:41234/oauth",
            "http://127.0.0.1:41234/oauth",
            "http://evil.example/oauth",
            "http://localhost:41234/oauth?x=1",
            "http://localhost:41234/oauth#f",
            "localhost:41234/oauth",
            "",
        ] {
            let body = std::format!(r#"{{"issuer":"{issuer}"}}"#);
            match parse_legacy_authorization_server_metadata(
                body.as_bytes(),
                "http://localhost:41234",
            ) {
                Err(DiscoveryError::IssuerMismatch { expected, found }) => {
                    assert_eq!(expected, "http://localhost:41234");
                    assert_eq!(found, issuer);
                }
                other => panic!("{issuer}: {other:?}"),
            }
        }
        assert!(matches!(
            parse_legacy_authorization_server_metadata(br#"{}"#, "http://localhost:41234"),
            Err(DiscoveryError::Metadata(BodyProblem::MissingField(
                "issuer"
            )))
        ));
    }

    #[test]
    fn metadata_serde_round_trip() {
        let m = parse_authorization_server_metadata(AS_META, "https://server.example.com").unwrap();
        let json = serde_json::to_vec(&m).unwrap();
        let back =
            parse_authorization_server_metadata(&json, "https://server.example.com").unwrap();
        assert_eq!(back, m);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_protected_resource_metadata(&body);
            let _ = parse_authorization_server_metadata(&body, "https://as.example");
            let _ = parse_legacy_authorization_server_metadata(&body, "https://as.example");
        }

        #[test]
        fn structured_metadata_never_panics(
            fields in proptest::collection::vec((
                prop_oneof![Just("issuer".to_string()), Just("resource".to_string()), Just("token_endpoint".to_string()),
                            Just("scopes_supported".to_string()), Just("code_challenge_methods_supported".to_string()),
                            Just("authorization_servers".to_string()),
                            Just("authorization_response_iss_parameter_supported".to_string()), "[a-z_]{1,8}"],
                prop_oneof![Just("null".to_string()), Just("true".to_string()), Just("1".to_string()),
                            Just("\"https://as.example\"".to_string()), Just("[\"S256\",1]".to_string()),
                            Just("[\"a\"]".to_string()), Just("{}".to_string())],
            ), 0..8)
        ) {
            let inner: Vec<std::string::String> =
                fields.iter().map(|(k, v)| std::format!("\"{k}\":{v}")).collect();
            let body = std::format!("{{{}}}", inner.join(","));
            match parse_authorization_server_metadata(body.as_bytes(), "https://as.example") {
                Ok(m) => prop_assert_eq!(m.issuer, "https://as.example"),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
            let _ = parse_protected_resource_metadata(body.as_bytes());
        }

        #[test]
        fn url_lists_never_panic(s in any::<std::string::String>()) {
            let _ = protected_resource_metadata_urls(&s);
            let _ = authorization_server_metadata_urls(&s);
            let _ = legacy_default_metadata(&s);
        }

        #[test]
        fn prm_urls_shape(host in "[a-z]{1,8}\\.[a-z]{2,3}", path in "(/[a-z0-9]{1,6}){0,3}") {
            let urls = protected_resource_metadata_urls(&std::format!("https://{host}{path}")).unwrap();
            prop_assert_eq!(urls.len(), if path.is_empty() { 1 } else { 2 });
            prop_assert_eq!(&urls[0], &std::format!("https://{host}/.well-known/oauth-protected-resource{path}"));
            let prefix = std::format!("https://{host}/.well-known/");
            prop_assert!(urls.iter().all(|u| u.starts_with(&prefix)));
        }
    }
}
