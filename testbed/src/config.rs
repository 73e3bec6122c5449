//! What the testbed serves and how it behaves: token lifetimes, rotation, scopes, which
//! discovery documents exist, and how `/mcp` answers.

use std::time::Duration;

/// Static configuration, fixed when the testbed starts. Runtime knobs (fault injection,
/// revocation, clock skew) live in [`Faults`](crate::Faults).
///
/// Start from [`Config::default`] and change what the test needs:
///
/// ```
/// use std::time::Duration;
/// let config = bearerflow_testbed::Config {
///     access_ttl: Duration::from_millis(500),
///     rotate_refresh_tokens: true,
///     ..Default::default()
/// };
/// assert!(config.refresh_ttl.is_none());
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// Lifetime of every access token. Millisecond precision is honoured by the resource
    /// server; `expires_in` in token responses is whole seconds (RFC 6749 §5.1), rounded
    /// **up**, so a 500 ms token is advertised as `expires_in: 1` and a client learns of
    /// the early expiry from a 401, which is exactly the reactive path worth testing.
    pub access_ttl: Duration,
    /// Lifetime of refresh tokens, counted from their issue; `None` means they never expire.
    pub refresh_ttl: Option<Duration>,
    /// Issue a new refresh token on every refresh and invalidate the old one (OAuth 2.1
    /// §4.3.1, RFC 9700 §4.14.2). Presenting a rotated-out refresh token again revokes the
    /// whole token family. When off, refresh responses carry no `refresh_token` and the
    /// client keeps using the one it has (RFC 6749 §6).
    pub rotate_refresh_tokens: bool,
    /// Issue refresh tokens at all (for clients registered with the `refresh_token` grant).
    pub issue_refresh_tokens: bool,
    /// Scopes this server knows; requesting anything else gives `invalid_scope`. Listed in
    /// both metadata documents (RFC 8414 §2, RFC 9728 §2).
    pub scopes_supported: Vec<String>,
    /// Scopes granted when a request names none, and advertised in the `scope` parameter
    /// of 401 challenges (MCP 2025-11-25 "Scope Selection Strategy").
    pub default_scopes: Vec<String>,
    /// Put `scope="<default_scopes>"` into 401 challenges.
    pub scope_in_challenge: bool,
    /// An extra tool `(tool name, scope)` that answers 403 `insufficient_scope` unless the
    /// token carries that scope (RFC 6750 §3.1; MCP "Scope Challenge Handling"). Add the
    /// scope to [`Config::scopes_supported`] if clients should be able to obtain it.
    pub extra_scope_tool: Option<(String, String)>,
    /// A path component for the issuer, e.g. `/tenant1` gives issuer
    /// `http://127.0.0.1:PORT/tenant1`, endpoints below it, and metadata at
    /// `/.well-known/oauth-authorization-server/tenant1` (RFC 8414 §3.1). Characters are
    /// limited to `A-Z a-z 0-9 - . _ ~ /`.
    pub issuer_path: Option<String>,
    /// Path of the MCP endpoint (default `/mcp`).
    pub mcp_path: String,
    /// Serve RFC 8414 metadata at `/.well-known/oauth-authorization-server[/path]`.
    pub serve_oauth_metadata: bool,
    /// Serve the same document at the OpenID Connect discovery locations too (path
    /// insertion and path appending), to test the MCP discovery fallbacks.
    pub serve_openid_configuration: bool,
    /// Serve RFC 9728 metadata at `/.well-known/oauth-protected-resource<mcp path>`.
    pub serve_resource_metadata_at_path: bool,
    /// Serve RFC 9728 metadata at the root `/.well-known/oauth-protected-resource`.
    pub serve_resource_metadata_at_root: bool,
    /// Put `resource_metadata="…"` into 401/403 challenges (RFC 9728 §5.1). Turn off to
    /// make clients fall back to well-known probing.
    pub resource_metadata_in_challenge: bool,
    /// Offer `/register` (RFC 7591) and list it in the metadata.
    pub dynamic_registration: bool,
    /// Require `state` on `/authorize`.
    pub require_state: bool,
    /// Lifetime of authorization codes.
    pub code_ttl: Duration,
    /// Answer `/mcp` requests with one SSE `message` event whenever the client accepts
    /// `text/event-stream`, instead of `application/json`.
    pub prefer_sse: bool,
    /// Answer requests other than `initialize` that lack `Mcp-Session-Id` with 400
    /// (MCP 2025-11-25 transports, "Session Management").
    pub require_session: bool,
    /// Which MCP wires `/mcp` speaks: the 2026-07-28 stateless one, the 2025-11-25
    /// `initialize` handshake, or both (the default; a dual-era server picks per
    /// request, MCP 2026-07-28 "Versioning and Compatibility").
    pub wires: Wires,
    /// List two more tools that exercise the modern wire: `confirm` (answers
    /// `input_required` with an elicitation and a `requestState`, MRTR) and
    /// `echo_region` (a parameter marked `x-mcp-header: Region`, checked against the
    /// `Mcp-Param-Region` header). Off by default so the tool list stays `echo, add`.
    pub modern_feature_tools: bool,
    /// List the tool `interact`, which sends the client a notification and an
    /// elicitation (a server-to-client request on the 2025-11-25 wire, an
    /// `input_required` result on 2026-07-28) before its result, and count the
    /// notifications and responses clients send. Off by default.
    pub interactive_tools: bool,
    /// Add permissive CORS headers for loopback origins, so browser (WASM) clients served
    /// from another loopback port can talk to the testbed.
    pub cors: bool,
    /// Port to bind on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Other protected resources this authorization server issues tokens for (RFC 8707
    /// `resource`): MCP servers elsewhere that trust this testbed and verify its tokens
    /// through `/introspect` (the token's `aud` names the resource it was issued for).
    pub extra_resources: Vec<String>,
    /// Guard `/mcp` with bearerflow-server's `BearerLayer` (core's refusals, byte for
    /// byte, instead of the testbed's own wording), and list the tool `upstream_echo`,
    /// whose simulated upstream token can be expired
    /// ([`Handle::expire_upstream_tokens`](crate::Handle::expire_upstream_tokens)): the
    /// tool then signals the layer, which answers `401 invalid_token`.
    pub bearer_layer: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            access_ttl: Duration::from_secs(3600),
            refresh_ttl: None,
            rotate_refresh_tokens: true,
            issue_refresh_tokens: true,
            scopes_supported: vec!["mcp:tools".into(), "mcp:admin".into()],
            default_scopes: vec!["mcp:tools".into()],
            scope_in_challenge: true,
            extra_scope_tool: None,
            issuer_path: None,
            mcp_path: "/mcp".into(),
            serve_oauth_metadata: true,
            serve_openid_configuration: false,
            serve_resource_metadata_at_path: true,
            serve_resource_metadata_at_root: true,
            resource_metadata_in_challenge: true,
            dynamic_registration: true,
            require_state: true,
            code_ttl: Duration::from_secs(60),
            prefer_sse: false,
            require_session: true,
            wires: Wires::Both,
            modern_feature_tools: false,
            interactive_tools: false,
            cors: true,
            port: 0,
            extra_resources: Vec::new(),
            bearer_layer: false,
        }
    }
}

/// The MCP wires a testbed serves ([`Config::wires`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wires {
    /// Both: a request carrying modern `_meta` (or a modern `MCP-Protocol-Version`) is
    /// served statelessly; anything else takes the legacy path (`initialize`, sessions).
    #[default]
    Both,
    /// Only MCP 2026-07-28: every request must carry `_meta` and the request headers.
    Modern,
    /// Only MCP 2025-11-25 and earlier: a modern request is refused with a `400` that
    /// carries no modern error, as a 2025-11-25 server does.
    Legacy,
}

impl Wires {
    /// `both`, `modern` or `legacy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Wires::Both => "both",
            Wires::Modern => "modern",
            Wires::Legacy => "legacy",
        }
    }

    /// Parse `both`, `modern` or `legacy`.
    pub fn parse(s: &str) -> Option<Wires> {
        match s {
            "both" => Some(Wires::Both),
            "modern" => Some(Wires::Modern),
            "legacy" => Some(Wires::Legacy),
            _ => None,
        }
    }

    /// Whether the legacy wire is served.
    pub fn legacy(self) -> bool {
        self != Wires::Modern
    }

    /// Whether the modern wire is served.
    pub fn modern(self) -> bool {
        self != Wires::Legacy
    }
}

/// How a client authenticates at the token endpoint (RFC 7591 §2
/// `token_endpoint_auth_method`, RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// Public client: sends only `client_id` (native apps, MCP clients using PKCE).
    None,
    /// Confidential client: HTTP Basic with the form-urlencoded id and secret.
    ClientSecretBasic,
    /// Confidential client: `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl AuthMethod {
    /// The registered name of the method.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
        }
    }

    /// Parse a registered method name.
    pub fn parse(s: &str) -> Option<AuthMethod> {
        match s {
            "none" => Some(AuthMethod::None),
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            _ => None,
        }
    }
}

/// An OAuth grant type the testbed implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    /// RFC 6749 §4.1 with PKCE (RFC 7636), as OAuth 2.1 requires.
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4, confidential clients only.
    ClientCredentials,
}

impl GrantType {
    /// The registered name of the grant type.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    /// Parse a registered grant type name.
    pub fn parse(s: &str) -> Option<GrantType> {
        match s {
            "authorization_code" => Some(GrantType::AuthorizationCode),
            "refresh_token" => Some(GrantType::RefreshToken),
            "client_credentials" => Some(GrantType::ClientCredentials),
            _ => None,
        }
    }
}

/// What the token endpoint does with a refresh response it was told to drop
/// ([`Faults::drop_next_refresh_responses`](crate::Faults::drop_next_refresh_responses)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropMode {
    /// Answer `500` with an empty body.
    Status500,
    /// Close the connection without sending a response.
    CloseConnection,
}
