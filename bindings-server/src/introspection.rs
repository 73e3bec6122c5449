//! A [`Verifier`] that asks the authorization server: OAuth 2.0 Token Introspection
//! (RFC 7662), with a short cache so that a burst of requests with one token costs one
//! introspection.
//!
//! - RFC 7662 §2.1: `POST` of `token=…&token_type_hint=access_token`, the resource
//!   server authenticating itself (HTTP Basic with its client credentials, a bearer
//!   token, or nothing where the server allows it).
//! - RFC 7662 §2.2: `active` decides; `scope`, `aud` (a string or an array),
//!   `client_id`, `sub`, `exp` and `nbf` are read. A `cnf` claim (RFC 8705 §3.2, RFC 9449
//!   §6.2) or `token_type` `DPoP` means a key-bound token, which this verifier reports as
//!   [`TokenStatus::ProofOfPossession`].
//! - RFC 7662 §4: a cached answer is never kept past the token's `exp`, and never
//!   longer than the configured lifetime (default 30 s), so a revoked token stops
//!   working within that time.

use crate::verify::{TokenClaims, TokenStatus, Verifier, VerifyError};
use bearerflow::oauth::form;
use bytes::Bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The largest introspection response read.
const MAX_RESPONSE: usize = 64 * 1024;
/// How many answers the cache keeps at most.
const CACHE_CAPACITY: usize = 4096;

/// How the resource server authenticates to the introspection endpoint (RFC 7662 §2.1).
#[derive(Clone)]
#[non_exhaustive]
pub enum IntrospectionAuth {
    /// No authentication (only where the authorization server allows it).
    None,
    /// HTTP Basic with form-encoded client credentials (RFC 6749 §2.3.1).
    Basic {
        /// The resource server's client id.
        client_id: String,
        /// Its secret.
        client_secret: bearerflow::secret::Secret,
    },
    /// `Authorization: Bearer` with a token of the resource server's own.
    Bearer(bearerflow::secret::Secret),
}

impl fmt::Debug for IntrospectionAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntrospectionAuth::None => f.write_str("None"),
            IntrospectionAuth::Basic { client_id, .. } => f
                .debug_struct("Basic")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            IntrospectionAuth::Bearer(_) => f.write_str("Bearer(…)"),
        }
    }
}

/// Unix seconds now; replaceable for tests.
type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

fn system_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Verifies tokens through an RFC 7662 introspection endpoint.
///
/// ```no_run
/// use bearerflow_server::{IntrospectionAuth, IntrospectionVerifier};
/// // Build the reqwest client your way (TLS roots, proxies, timeouts).
/// let http = reqwest::Client::new();
/// let verifier = IntrospectionVerifier::new("https://auth.example.com/introspect", http)
///     .auth(IntrospectionAuth::Basic {
///         client_id: "mcp-server".into(),
///         client_secret: bearerflow::secret::Secret::new("s3cret"),
///     });
/// # let _ = verifier;
/// ```
#[derive(Clone)]
pub struct IntrospectionVerifier {
    endpoint: String,
    http: reqwest::Client,
    auth: IntrospectionAuth,
    timeout: Duration,
    cache_for: Duration,
    cache: Arc<Mutex<HashMap<[u8; 32], Cached>>>,
    clock: Clock,
}

impl fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionVerifier")
            .field("endpoint", &self.endpoint)
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .field("cache_for", &self.cache_for)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct Cached {
    status: TokenStatus,
    until: Instant,
}

impl IntrospectionVerifier {
    /// Introspect at `endpoint` with `http`, without client authentication, caching each
    /// answer for 30 seconds at most.
    pub fn new(endpoint: impl Into<String>, http: reqwest::Client) -> IntrospectionVerifier {
        IntrospectionVerifier {
            endpoint: endpoint.into(),
            http,
            auth: IntrospectionAuth::None,
            timeout: Duration::from_secs(10),
            cache_for: Duration::from_secs(30),
            cache: Arc::new(Mutex::new(HashMap::new())),
            clock: Arc::new(system_clock),
        }
    }

    /// How to authenticate to the endpoint.
    pub fn auth(mut self, auth: IntrospectionAuth) -> IntrospectionVerifier {
        self.auth = auth;
        self
    }

    /// How long one introspection may take (default 10 s); past it, the request is
    /// answered 503.
    pub fn timeout(mut self, timeout: Duration) -> IntrospectionVerifier {
        self.timeout = timeout;
        self
    }

    /// How long an answer is reused (default 30 s; zero turns the cache off). A valid
    /// answer is never reused past the token's `exp`.
    pub fn cache_for(mut self, lifetime: Duration) -> IntrospectionVerifier {
        self.cache_for = lifetime;
        self
    }

    /// Replace the wall clock (unix seconds) that `exp` and `nbf` are compared with.
    pub fn clock(
        mut self,
        clock: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> IntrospectionVerifier {
        self.clock = Arc::new(clock);
        self
    }

    fn cached(&self, key: &[u8; 32]) -> Option<TokenStatus> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .filter(|c| c.until > Instant::now())
            .map(|c| c.status.clone())
    }

    fn remember(&self, key: [u8; 32], status: &TokenStatus, now_secs: u64) {
        let mut lifetime = self.cache_for;
        if let TokenStatus::Valid(TokenClaims {
            expires_at: Some(exp),
            ..
        }) = status
        {
            lifetime = lifetime.min(Duration::from_secs(exp.saturating_sub(now_secs)));
        }
        if lifetime.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, c| c.until > now);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(
            key,
            Cached {
                status: status.clone(),
                until: now + lifetime,
            },
        );
    }

    async fn introspect(&self, token: &str) -> Result<TokenStatus, VerifyError> {
        let body = form::encode_pairs(&[("token", token), ("token_type_hint", "access_token")]);
        let mut request = self
            .http
            .post(&self.endpoint)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .timeout(self.timeout)
            .body(body);
        request = match &self.auth {
            IntrospectionAuth::None => request,
            IntrospectionAuth::Basic {
                client_id,
                client_secret,
            } => request.basic_auth(
                form::encode(client_id),
                Some(form::encode(client_secret.expose())),
            ),
            IntrospectionAuth::Bearer(t) => request.bearer_auth(t.expose()),
        };
        let mut response = request
            .send()
            .await
            .map_err(|e| VerifyError::new(format!("introspection request: {}", e.without_url())))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| VerifyError::new(format!("introspection response: {}", e.without_url())))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE {
                return Err(VerifyError::new(format!(
                    "introspection response larger than {MAX_RESPONSE} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(VerifyError::new(format!(
                "introspection endpoint answered HTTP {}",
                status.as_u16()
            )));
        }
        parse_introspection(&Bytes::from(body), (self.clock)())
    }
}

impl Verifier for IntrospectionVerifier {
    fn verify(&self, token: &str) -> impl Future<Output = Result<TokenStatus, VerifyError>> + Send {
        // The cache is keyed by the token's SHA-256, so no token is kept in memory.
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let token = bearerflow::secret::Secret::new(token);
        async move {
            if let Some(hit) = self.cached(&key) {
                return Ok(hit);
            }
            let status = self.introspect(token.expose()).await?;
            self.remember(key, &status, (self.clock)());
            Ok(status)
        }
    }
}

/// Read an RFC 7662 §2.2 response at `now` (unix seconds).
///
/// ```
/// use bearerflow_server::{parse_introspection, TokenStatus};
/// let body = br#"{"active": true, "scope": "mcp:tools", "aud": "https://mcp.example.com/mcp", "exp": 2000}"#;
/// let TokenStatus::Valid(claims) = parse_introspection(body, 1000).unwrap() else { panic!() };
/// assert_eq!(claims.audiences, ["https://mcp.example.com/mcp"]);
/// assert_eq!(parse_introspection(body, 2000).unwrap(), TokenStatus::Expired);
/// assert_eq!(parse_introspection(br#"{"active": false}"#, 0).unwrap(), TokenStatus::Invalid);
/// ```
pub fn parse_introspection(body: &[u8], now: u64) -> Result<TokenStatus, VerifyError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| VerifyError::new(format!("introspection response is not JSON: {e}")))?;
    let Some(obj) = v.as_object() else {
        return Err(VerifyError::new(
            "introspection response is not a JSON object",
        ));
    };
    match obj.get("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return Ok(TokenStatus::Invalid),
        _ => {
            return Err(VerifyError::new(
                "introspection response has no boolean \"active\" (RFC 7662 §2.2)",
            ))
        }
    }
    let seconds = |name: &str| obj.get(name).and_then(Value::as_u64);
    let text = |name: &str| obj.get(name).and_then(Value::as_str).map(str::to_string);
    if seconds("nbf").is_some_and(|nbf| nbf > now) {
        return Ok(TokenStatus::Invalid);
    }
    let expires_at = seconds("exp");
    if expires_at.is_some_and(|exp| exp <= now) {
        return Ok(TokenStatus::Expired);
    }
    let key_bound = obj.contains_key("cnf")
        || obj
            .get("token_type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("dpop"));
    if key_bound {
        return Ok(TokenStatus::ProofOfPossession);
    }
    let audiences = match obj.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    Ok(TokenStatus::Valid(TokenClaims {
        scope: text("scope").unwrap_or_default(),
        audiences,
        subject: text("sub"),
        client_id: text("client_id"),
        expires_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_rfc_7662_says() {
        let ok = parse_introspection(
            br#"{"active":true,"scope":"a b","aud":["x","y"],"sub":"u","client_id":"c","exp":10}"#,
            5,
        )
        .unwrap();
        assert_eq!(
            ok,
            TokenStatus::Valid(TokenClaims {
                scope: "a b".into(),
                audiences: vec!["x".into(), "y".into()],
                subject: Some("u".into()),
                client_id: Some("c".into()),
                expires_at: Some(10),
            })
        );
        assert_eq!(
            parse_introspection(br#"{"active":true,"nbf":9}"#, 5).unwrap(),
            TokenStatus::Invalid
        );
        assert_eq!(
            parse_introspection(br#"{"active":true,"cnf":{"jkt":"abc"}}"#, 5).unwrap(),
            TokenStatus::ProofOfPossession
        );
        assert_eq!(
            parse_introspection(br#"{"active":true,"token_type":"DPoP"}"#, 5).unwrap(),
            TokenStatus::ProofOfPossession
        );
        // No audience: valid, and the guard refuses it (missing audience).
        let TokenStatus::Valid(c) = parse_introspection(br#"{"active":true}"#, 5).unwrap() else {
            panic!("valid")
        };
        assert!(c.audiences.is_empty());
        for bad in [&b"[]"[..], b"{}", b"{\"active\":\"yes\"}", b"<html>"] {
            assert!(parse_introspection(bad, 0).is_err());
        }
    }
}
