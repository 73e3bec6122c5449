//! How a session is set up: which resource, which kind of credential, which policy.
//!
//! Plain data (strings, booleans, small enums) so that the C ABI and WASM bindings can
//! build it field by field, and so it round-trips through JSON.

use crate::oauth::ClientRegistration;
use crate::policy::Policy;
use alloc::string::String;
use alloc::vec::Vec;

/// Everything a [`Session`](super::Session) needs to start.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Config {
    /// The protected resource: the MCP server URL the host sends requests to.
    pub resource_url: String,
    /// What kind of credential this session keeps alive.
    pub credential: Credential,
    /// Refresh, retry and wait tunables.
    #[serde(default)]
    pub policy: Policy,
}

/// The kind of credential.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// OAuth 2.1: refresh tokens, then the authorization flow.
    #[serde(rename = "oauth")]
    OAuth(OAuthConfig),
    /// A command that prints headers (for example `{"Authorization": "Bearer …"}`),
    /// re-run on `401` and when its TTL passes. Never falls into OAuth discovery unless
    /// `oauth_fallback` is set.
    HeaderHelper(HelperConfig),
}

/// Which grant obtains the first token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// Authorization code with PKCE (RFC 6749 §4.1, RFC 7636): a user in a browser.
    #[default]
    AuthorizationCode,
    /// Client credentials (RFC 6749 §4.4): a machine client with its own secret.
    ClientCredentials,
}

/// OAuth settings. Everything is optional: discovery fills in what is missing.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct OAuthConfig {
    /// A pre-registered client. Without one the session uses a Client ID Metadata
    /// Document or dynamic client registration (RFC 7591).
    pub client: Option<ClientRegistration>,
    /// The token endpoint, when known without discovery.
    pub token_endpoint: Option<String>,
    /// The authorization server's issuer, when known without discovery.
    pub issuer: Option<String>,
    /// Which grant gets the first token.
    pub grant: Grant,
    /// Where the browser comes back to (a loopback URL or a custom scheme). `None` means
    /// this host cannot complete an authorization-code flow: when a refresh token is
    /// refused, requests fail with `ReauthorizationRequired`.
    pub redirect_uri: Option<String>,
    /// Scope to ask for when neither the challenge nor the metadata says.
    pub scope: Option<String>,
    /// `client_name` for dynamic registration.
    pub client_name: Option<String>,
    /// An https URL whose document is this client's metadata (MCP Client ID Metadata
    /// Documents), used as `client_id` when the server supports it.
    pub client_id_metadata_url: Option<String>,
    /// Allow a `resource_metadata` URL on another origin than the resource (off: SSRF
    /// guard).
    pub allow_cross_origin_metadata: bool,
    /// Allow plain `http` for non-loopback endpoints (off; only for tests on private
    /// networks).
    pub allow_insecure_http: bool,
}

/// Header-helper settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct HelperConfig {
    /// How long the helper's output stays valid, in ms. `None`: until a `401`.
    pub ttl_ms: Option<u64>,
    /// When the helper's fresh output is still refused with a challenge that names a
    /// `resource_metadata`, switch to OAuth with these settings. `None`: never.
    pub oauth_fallback: Option<OAuthConfig>,
}

impl Config {
    /// An OAuth session for `resource_url` with default policy.
    pub fn oauth(resource_url: impl Into<String>, oauth: OAuthConfig) -> Config {
        Config {
            resource_url: resource_url.into(),
            credential: Credential::OAuth(oauth),
            policy: Policy::default(),
        }
    }

    /// A header-helper session for `resource_url` with default policy.
    pub fn header_helper(resource_url: impl Into<String>, helper: HelperConfig) -> Config {
        Config {
            resource_url: resource_url.into(),
            credential: Credential::HeaderHelper(helper),
            policy: Policy::default(),
        }
    }
}

/// Output of the header-helper command: the headers to attach.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HelperOutput {
    /// Headers in order.
    pub headers: Vec<crate::http::Header>,
    /// How long they stay valid (overrides [`HelperConfig::ttl_ms`]), in ms.
    pub ttl_ms: Option<u64>,
}
