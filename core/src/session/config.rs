//! How a session is set up: which resource, which kind of credential, which policy.
//!
//! Plain data (strings, booleans, small enums) so that the C ABI and WASM bindings can
//! build it field by field, and so it round-trips through JSON.

use super::json::JsonError;
use crate::oauth::ClientRegistration;
use crate::policy::Policy;
use crate::time::Millis;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Everything a [`Session`](super::Session) needs to start.
///
/// Sessions of the same server can share one `Config`: [`Session::new`] takes anything
/// that converts into an `Arc<Config>`, so a gateway keeps one copy for a million
/// sessions.
///
/// [`Session::new`]: super::Session::new
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// JWT-bearer authorization grant (RFC 7523 §2.1) with a JWT the host supplies in
    /// [`OAuthConfig::assertion`] (workload identity: a token from the platform). Like
    /// client credentials it needs no user; its token requests are reported with
    /// [`FetchPurpose::ClientCredentials`](super::FetchPurpose::ClientCredentials).
    JwtBearer,
}

impl Grant {
    /// A grant the client obtains without a user (client credentials, JWT bearer):
    /// no redirect, no refresh token expected, no probe of the resource needed.
    pub const fn is_direct(self) -> bool {
        matches!(self, Grant::ClientCredentials | Grant::JwtBearer)
    }
}

/// OAuth settings. Everything is optional: discovery fills in what is missing.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    /// Sender-constrained tokens (RFC 9449, DPoP): every token request and every
    /// resource request with a DPoP-bound token carries a proof signed with a key the
    /// session generates from the host's seed. Off by default. Resource requests then
    /// take their headers from [`Session::headers_for`](super::Session::headers_for).
    #[serde(skip_serializing_if = "is_false")]
    pub dpop: bool,
    /// The client's private key for `private_key_jwt` client authentication (RFC 7523
    /// §2.2, OpenID Connect Core §9): a PKCS#8 PEM or a private JWK (ES256). With it,
    /// token requests carry a signed `client_assertion` instead of a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_assertion_key: Option<crate::secret::Secret>,
    /// The JWT presented as the authorization grant with [`Grant::JwtBearer`] (RFC 7523
    /// §2.1), for instance a workload identity token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assertion: Option<crate::secret::Secret>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Header-helper settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
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

    /// Read a configuration from JSON (the shape `serde` gives [`Config`]), as C and
    /// JavaScript hosts build it. Unknown fields are refused (a `redirect_url` typo
    /// must not silently give a session that cannot authorize), and so are values
    /// that cannot work (see [`Config::validate`]); the error names the field and
    /// never quotes a value (the configuration may hold a client secret).
    ///
    /// ```
    /// use bearerflow::session::Config;
    /// let c = Config::from_json(br#"{"resource_url": "https://mcp.example.com/mcp",
    ///     "credential": {"kind": "oauth", "redirect_uri": "http://127.0.0.1:8976/callback"}}"#)
    ///     .unwrap();
    /// assert_eq!(c.resource_url, "https://mcp.example.com/mcp");
    /// let typo = Config::from_json(br#"{"resource_url": "https://mcp.example.com/mcp",
    ///     "credential": {"kind": "oauth", "redirect_url": "http://127.0.0.1:8976/callback"}}"#);
    /// assert!(typo.unwrap_err().to_string().contains("redirect_url"));
    /// ```
    pub fn from_json(json: &[u8]) -> Result<Config, ConfigError> {
        let config: Config = super::json::from_slice(json).map_err(ConfigError::Json)?;
        config.validate()?;
        Ok(config)
    }

    /// Check values that parse but cannot work: URLs that are not absolute http(s)
    /// URLs, fractions over 1000‰, zero deadlines and limits, a window floor above its
    /// ceiling. The first problem found is the error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_url("resource_url", &self.resource_url, Scheme::Http)?;
        match &self.credential {
            Credential::OAuth(o) => o.validate("credential")?,
            Credential::HeaderHelper(h) => {
                if h.ttl_ms == Some(0) {
                    return Err(ConfigError::invalid(
                        "credential.ttl_ms",
                        "must be at least 1",
                    ));
                }
                if let Some(o) = &h.oauth_fallback {
                    o.validate("credential.oauth_fallback")?;
                }
            }
        }
        self.policy.validate()
    }
}

impl OAuthConfig {
    fn validate(&self, at: &'static str) -> Result<(), ConfigError> {
        let field = |name: &'static str| FieldPath(at, name);
        if let Some(u) = &self.redirect_uri {
            // A loopback http URL or a private-use scheme (RFC 8252 §7.1, §7.3).
            check_url(field("redirect_uri"), u, Scheme::Any)?;
        }
        if let Some(u) = &self.token_endpoint {
            check_url(field("token_endpoint"), u, Scheme::Http)?;
        }
        if let Some(u) = &self.issuer {
            check_url(field("issuer"), u, Scheme::Http)?;
        }
        if let Some(u) = &self.client_id_metadata_url {
            check_url(field("client_id_metadata_url"), u, Scheme::Https)?;
        }
        if let Some(k) = &self.client_assertion_key {
            if let Err(e) = super::parse_key(k.expose()) {
                let reason = match e {
                    crate::jose::KeyError::Pkcs8 => "is not a PKCS#8 PEM P-256 private key",
                    _ => "is not a private P-256 JWK",
                };
                return Err(ConfigError::invalid(field("client_assertion_key"), reason));
            }
        }
        if let Some(c) = &self.client {
            if c.client_id.is_empty() {
                return Err(ConfigError::invalid(
                    field("client.client_id"),
                    "must not be empty",
                ));
            }
        }
        Ok(())
    }
}

impl Policy {
    /// Check values that cannot work; see [`Config::validate`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let permille = [
            (
                "policy.refresh_window_permille",
                self.refresh_window_permille,
            ),
            ("policy.jitter_permille", self.jitter_permille),
        ];
        for (name, v) in permille {
            if v > 1000 {
                return Err(ConfigError::invalid(
                    name,
                    "must be at most 1000 (per mille)",
                ));
            }
        }
        let spans = [
            ("policy.fetch_deadline", self.fetch_deadline),
            ("policy.wait_deadline", self.wait_deadline),
            ("policy.authorization_deadline", self.authorization_deadline),
            ("policy.backoff_initial", self.backoff_initial),
            ("policy.backoff_max", self.backoff_max),
            ("policy.resource_deadline", self.resource_deadline),
            ("policy.stream_idle_timeout", self.stream_idle_timeout),
            ("policy.lease_ttl", self.lease_ttl),
            ("policy.lease_wait", self.lease_wait),
        ];
        for (name, v) in spans {
            if v == Millis(0) {
                return Err(ConfigError::invalid(name, "must be at least 1 ms"));
            }
        }
        let limits = [
            (
                "policy.max_token_attempts",
                u64::from(self.max_token_attempts),
            ),
            (
                "policy.max_response_body",
                u64::from(self.max_response_body),
            ),
            (
                "policy.max_helper_output",
                u64::from(self.max_helper_output),
            ),
            (
                "policy.max_pending_requests",
                u64::from(self.max_pending_requests),
            ),
            ("policy.max_scopes", u64::from(self.max_scopes)),
            ("policy.max_resource_body", self.max_resource_body),
            ("policy.max_stream_event", u64::from(self.max_stream_event)),
        ];
        for (name, v) in limits {
            if v == 0 {
                return Err(ConfigError::invalid(name, "must be at least 1"));
            }
        }
        if self.refresh_window_min > self.refresh_window_max {
            return Err(ConfigError::invalid(
                "policy.refresh_window_min",
                "must not exceed refresh_window_max",
            ));
        }
        if self.backoff_initial > self.backoff_max {
            return Err(ConfigError::invalid(
                "policy.backoff_initial",
                "must not exceed backoff_max",
            ));
        }
        Ok(())
    }
}

/// A field name, possibly under a prefix (`credential.redirect_uri`).
#[derive(Clone, Copy)]
struct FieldPath(&'static str, &'static str);

impl From<&'static str> for FieldPath {
    fn from(name: &'static str) -> FieldPath {
        FieldPath("", name)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str(self.1)
        } else {
            write!(f, "{}.{}", self.0, self.1)
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// `http` or `https`.
    Http,
    /// `https` only.
    Https,
    /// Any scheme (a redirect URI may be a private-use scheme).
    Any,
}

fn check_url(field: impl Into<FieldPath>, value: &str, scheme: Scheme) -> Result<(), ConfigError> {
    let field = field.into();
    let parsed = match crate::oauth::url::Url::parse(value) {
        Ok(u) => u,
        Err(crate::oauth::url::UrlError::NonAsciiHost) => {
            return Err(ConfigError::invalid(
                field,
                "has a non-ASCII host: use the punycode (xn--) form",
            ))
        }
        Err(_) => return Err(ConfigError::invalid(field, "is not an absolute URL")),
    };
    let ok = match scheme {
        Scheme::Http => matches!(parsed.scheme(), "http" | "https"),
        Scheme::Https => parsed.scheme() == "https",
        Scheme::Any => true,
    };
    if !ok {
        let why = if scheme == Scheme::Https {
            "must be an https URL"
        } else {
            "must be an http or https URL"
        };
        return Err(ConfigError::invalid(field, why));
    }
    if scheme != Scheme::Any && parsed.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::invalid(field, "has no host"));
    }
    if parsed.fragment().is_some() {
        return Err(ConfigError::invalid(field, "must not have a fragment"));
    }
    Ok(())
}

/// A configuration could not be used. Names the field; never quotes a value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not JSON of the configuration's shape (an unknown field, a wrong type).
    Json(JsonError),
    /// A value that parses but cannot work.
    Invalid {
        /// The field, as a dotted path (`credential.redirect_uri`).
        field: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

impl ConfigError {
    fn invalid(field: impl Into<FieldPath>, problem: &'static str) -> ConfigError {
        ConfigError::Invalid {
            field: alloc::format!("{}", field.into()),
            problem,
        }
    }

    /// A stable snake_case code.
    pub const fn code(&self) -> &'static str {
        match self {
            ConfigError::Json(_) => "config_malformed",
            ConfigError::Invalid { .. } => "config_invalid",
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Json(e) => write!(f, "configuration: {e}"),
            ConfigError::Invalid { field, problem } => {
                write!(f, "configuration: {field} {problem}")
            }
        }
    }
}

impl core::error::Error for ConfigError {}

/// Output of the header-helper command: the headers to attach.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HelperOutput {
    /// Headers in order.
    pub headers: Vec<crate::http::Header>,
    /// How long they stay valid (overrides [`HelperConfig::ttl_ms`]), in ms.
    pub ttl_ms: Option<u64>,
}
