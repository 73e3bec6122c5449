//! State shared by all handlers, request routing, and response building.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use url::Url;

use crate::config::Config;
use crate::faults::{bump, Faults, LiveCounters};
use crate::store::{Lifetimes, Store};
use crate::util::unix_ms;
use crate::{mcp, oauth};

/// Largest request body read (registration JSON, forms, JSON-RPC).
pub(crate) const BODY_LIMIT: usize = 1 << 20;

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: Config,
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    /// `""` or `/tenant`.
    pub issuer_path: String,
    pub issuer: String,
    pub mcp_url: String,
    /// The protected resource metadata URL named in challenges.
    pub prm_url: String,
    pub default_client_id: String,
    pub faults: Faults,
    pub counters: LiveCounters,
    /// `/mcp` behind bearerflow-server's layer, when [`Config::bearer_layer`] is on.
    pub guarded: crate::guarded::Guarded,
    store: Mutex<Store>,
    /// `interact`'s requests waiting for the client's answer (2025-11-25 wire).
    pub pending: mcp::interact::Pending,
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A path component the router can use as-is: empty or `/seg/seg`, with only unreserved
/// characters.
fn normalize_path(p: &str, what: &str) -> std::io::Result<String> {
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let ok = trimmed.starts_with('/')
        && !trimmed.contains("//")
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/'));
    if ok {
        Ok(trimmed.to_string())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what} {p:?} must start with '/' and contain only A-Z a-z 0-9 - . _ ~ /"),
        ))
    }
}

impl Shared {
    pub fn new(config: Config, port: u16) -> std::io::Result<Shared> {
        let origin = format!("http://127.0.0.1:{port}");
        let issuer_path =
            normalize_path(config.issuer_path.as_deref().unwrap_or(""), "issuer_path")?;
        let mcp_path = normalize_path(&config.mcp_path, "mcp_path")?;
        if mcp_path.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "mcp_path must not be empty",
            ));
        }
        let mut config = config;
        config.mcp_path = mcp_path.clone();
        let prm_path =
            if config.serve_resource_metadata_at_path || !config.serve_resource_metadata_at_root {
                format!("/.well-known/oauth-protected-resource{mcp_path}")
            } else {
                "/.well-known/oauth-protected-resource".to_string()
            };
        let mut store = Store::default();
        let default_client_id = "bearerflow-testbed-client".to_string();
        store.insert_client(crate::store::Client {
            id: default_client_id.clone(),
            secret: None,
            auth_method: crate::config::AuthMethod::None,
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            grant_types: vec![
                crate::config::GrantType::AuthorizationCode,
                crate::config::GrantType::RefreshToken,
            ],
        });
        Ok(Shared {
            issuer: format!("{origin}{issuer_path}"),
            mcp_url: format!("{origin}{mcp_path}"),
            prm_url: format!("{origin}{prm_path}"),
            origin,
            issuer_path,
            default_client_id,
            faults: Faults::default(),
            counters: LiveCounters::default(),
            guarded: crate::guarded::Guarded::default(),
            store: Mutex::new(store),
            pending: mcp::interact::Pending::default(),
            config,
        })
    }

    /// The resource a token request names (RFC 8707 `resource`), as this server records
    /// it: the MCP endpoint when none is named, else the first of the MCP endpoint and
    /// [`Config::extra_resources`] it matches; `None` when it names none of them.
    pub fn resource_for(&self, requested: Option<&str>) -> Option<String> {
        let Some(r) = requested else {
            return Some(self.mcp_url.clone());
        };
        std::iter::once(&self.mcp_url)
            .chain(self.config.extra_resources.iter())
            .find(|known| crate::util::resource_matches(r, known))
            .cloned()
    }

    /// The server's clock: real time plus the skew a test added.
    pub fn now(&self) -> u64 {
        unix_ms().saturating_add(self.faults.clock_offset_ms())
    }

    pub fn lifetimes(&self) -> Lifetimes {
        Lifetimes {
            access_ms: millis(self.config.access_ttl),
            refresh_ms: self.config.refresh_ttl.map(millis),
            code_ms: millis(self.config.code_ttl),
            rotate: self.config.rotate_refresh_tokens,
        }
    }

    /// The store. A handler that panicked while holding the lock cannot leave it
    /// half-updated in a way that matters to a test server, so poisoning is ignored.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn endpoint(&self, name: &str) -> String {
        format!("{}/{name}", self.issuer)
    }

    /// RFC 8414 §2 metadata (also served at the OpenID Connect locations when enabled).
    pub fn as_metadata(&self) -> Value {
        let mut doc = json!({
            "issuer": self.issuer,
            "authorization_endpoint": self.endpoint("authorize"),
            "token_endpoint": self.endpoint("token"),
            "introspection_endpoint": self.endpoint("introspect"),
            "revocation_endpoint": self.endpoint("revoke"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": self.config.scopes_supported,
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "introspection_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "authorization_response_iss_parameter_supported": true,
        });
        if self.config.dynamic_registration {
            if let Some(obj) = doc.as_object_mut() {
                obj.insert(
                    "registration_endpoint".into(),
                    json!(self.endpoint("register")),
                );
            }
        }
        doc
    }

    /// RFC 9728 §2 metadata.
    pub fn resource_metadata(&self) -> Value {
        json!({
            "resource": self.mcp_url,
            "authorization_servers": [self.issuer],
            "scopes_supported": self.config.scopes_supported,
            "bearer_methods_supported": ["header"],
            "resource_name": "bearerflow testbed MCP server",
        })
    }

    fn is_as_metadata_path(&self, path: &str) -> bool {
        let p = &self.issuer_path;
        (self.config.serve_oauth_metadata
            && path == format!("/.well-known/oauth-authorization-server{p}"))
            || (self.config.serve_openid_configuration
                && (path == format!("/.well-known/openid-configuration{p}")
                    || (!p.is_empty() && path == format!("{p}/.well-known/openid-configuration"))))
    }

    fn is_prm_path(&self, path: &str) -> bool {
        (self.config.serve_resource_metadata_at_path
            && path
                == format!(
                    "/.well-known/oauth-protected-resource{}",
                    self.config.mcp_path
                ))
            || (self.config.serve_resource_metadata_at_root
                && path == "/.well-known/oauth-protected-resource")
    }
}

/// A response under construction; header values are checked once, when it is finished.
#[derive(Debug)]
pub(crate) struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, String)>,
    body: Body,
}

impl Reply {
    pub fn new(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::empty(),
        }
    }

    pub fn json(status: StatusCode, value: &Value) -> Reply {
        Reply::new(status)
            .header(header::CONTENT_TYPE, "application/json")
            .body(value.to_string())
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Body>) -> Reply {
        self.body = body.into();
        self
    }

    pub fn finish(self) -> Response {
        let mut resp = Response::new(self.body);
        *resp.status_mut() = self.status;
        for (name, value) in self.headers {
            match HeaderValue::from_str(&value) {
                Ok(v) => {
                    resp.headers_mut().append(name, v);
                }
                Err(_) => {
                    let mut err = Response::new(Body::from(format!(
                        "testbed bug: header {name} has a value that is not a valid header value"
                    )));
                    *err.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    return err;
                }
            }
        }
        resp
    }
}

/// `405` naming the allowed methods.
pub(crate) fn method_not_allowed(allow: &str) -> Reply {
    Reply::json(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"error": "method_not_allowed", "error_description": format!("use {allow}")}),
    )
    .header(header::ALLOW, allow)
}

/// A body that fails at once: hyper closes the connection without completing (and
/// usually without starting) the response.
#[derive(Debug)]
pub(crate) struct AbortBody;

impl http_body::Body for AbortBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "testbed: response dropped by fault injection",
        ))))
    }
}

/// Whether an `Origin` header names a loopback origin (the only ones the testbed serves;
/// MCP transports "Security Warning": validate `Origin` against DNS rebinding).
pub(crate) fn loopback_origin(origin: &str) -> bool {
    let Ok(url) = Url::parse(origin) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn add_cors(headers: &HeaderMap, resp: &mut Response) {
    let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| loopback_origin(o))
    else {
        return;
    };
    let Ok(origin) = HeaderValue::from_str(origin) else {
        return;
    };
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("WWW-Authenticate, Mcp-Session-Id, Retry-After, Location"),
    );
}

/// The CORS preflight answer. Besides the fixed request headers, the `Mcp-Param-*`
/// headers a modern client mirrors from tool parameters (MCP 2026-07-28 Streamable
/// HTTP, "Custom Headers from Tool Parameters") are allowed by echoing the requested
/// ones that have that prefix.
fn preflight(headers: &HeaderMap) -> Reply {
    let mut allowed = String::from(
        "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID",
    );
    if let Some(requested) = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
    {
        for name in requested.split(',').map(str::trim) {
            let is_param = name
                .get(..10)
                .is_some_and(|p| p.eq_ignore_ascii_case("mcp-param-"));
            if is_param
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
            {
                allowed.push_str(", ");
                allowed.push_str(name);
            }
        }
    }
    Reply::new(StatusCode::NO_CONTENT)
        .header(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "GET, POST, DELETE, OPTIONS",
        )
        .header(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed)
        .header(header::ACCESS_CONTROL_MAX_AGE, "600")
}

/// The single handler: routes by method and path. Paths are configuration-dependent, so
/// they are compared as strings rather than registered with the router.
pub(crate) async fn dispatch(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    if shared.config.bearer_layer
        && req.uri().path() == shared.config.mcp_path
        && !(shared.config.cors
            && req.method() == Method::OPTIONS
            && req.headers().contains_key(header::ORIGIN))
    {
        let headers = req.headers().clone();
        if let Some(mut resp) = crate::guarded::serve(&shared, req).await {
            if shared.config.cors {
                add_cors(&headers, &mut resp);
            }
            return resp;
        }
        return Reply::json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": "server_error", "error_description": "testbed bug: the bearer layer is not installed"}),
        )
        .finish();
    }
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let method = parts.method;
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();

    if shared.config.cors && method == Method::OPTIONS && headers.contains_key(header::ORIGIN) {
        let mut resp = preflight(&headers).finish();
        add_cors(&headers, &mut resp);
        return resp;
    }

    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return too_large(),
    };

    let mut resp = route(&shared, &method, &path, &query, &headers, body).await;
    if shared.config.cors {
        add_cors(&headers, &mut resp);
    }
    resp
}

/// `413` for a request body past [`BODY_LIMIT`] (or one that could not be read).
pub(crate) fn too_large() -> Response {
    Reply::json(
        StatusCode::PAYLOAD_TOO_LARGE,
        &json!({"error": "invalid_request", "error_description": "request body too large or unreadable"}),
    )
    .finish()
}

/// Where tests outside Rust (the JavaScript and browser tests of `bindings-wasm`) read
/// [`Counters`] to assert what reached the server ("exactly one refresh", "no discovery").
pub(crate) const COUNTERS_PATH: &str = "/_testbed/counters";

fn counters_json(c: &crate::Counters) -> Value {
    json!({
        "token_authorization_code": c.token_authorization_code,
        "token_refresh": c.token_refresh,
        "token_client_credentials": c.token_client_credentials,
        "token_other": c.token_other,
        "token_errors": c.token_errors,
        "refresh_reuse_detected": c.refresh_reuse_detected,
        "authorizations": c.authorizations,
        "registrations": c.registrations,
        "as_metadata_fetches": c.as_metadata_fetches,
        "resource_metadata_fetches": c.resource_metadata_fetches,
        "introspections": c.introspections,
        "revocations": c.revocations,
        "mcp_requests": c.mcp_requests,
        "unauthorized": c.unauthorized,
        "forbidden": c.forbidden,
        "initializations": c.initializations,
        "tool_calls": c.tool_calls,
        "modern_requests": c.modern_requests,
        "discovers": c.discovers,
        "wire_rejections": c.wire_rejections,
        "input_required": c.input_required,
        "server_notifications": c.server_notifications,
        "server_requests": c.server_requests,
        "client_notifications": c.client_notifications,
        "client_responses": c.client_responses,
        "upstream_expired": c.upstream_expired,
    })
}

async fn route(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let ip = shared.issuer_path.as_str();
    let endpoint = path.strip_prefix(ip).unwrap_or("");
    let get = method == Method::GET;
    let post = method == Method::POST;

    if path == shared.config.mcp_path {
        return mcp::handle(shared, method, headers, body, None).await;
    }
    if shared.is_prm_path(path) {
        if !get {
            return method_not_allowed("GET").finish();
        }
        bump(&shared.counters.resource_metadata_fetches);
        return Reply::json(StatusCode::OK, &shared.resource_metadata()).finish();
    }
    if shared.is_as_metadata_path(path) {
        if !get {
            return method_not_allowed("GET").finish();
        }
        bump(&shared.counters.as_metadata_fetches);
        return Reply::json(StatusCode::OK, &shared.as_metadata()).finish();
    }
    if path == COUNTERS_PATH && get {
        return Reply::json(StatusCode::OK, &counters_json(&shared.counters.snapshot())).finish();
    }
    match endpoint {
        "/authorize" if get => oauth::authorize(shared, query),
        "/token" if post => oauth::token(shared, headers, &body).await,
        "/register" if post && shared.config.dynamic_registration => oauth::register(shared, &body),
        "/introspect" if post => oauth::introspect(shared, headers, &body),
        "/revoke" if post => oauth::revoke(shared, headers, &body),
        "/authorize" => method_not_allowed("GET").finish(),
        "/token" | "/introspect" | "/revoke" => method_not_allowed("POST").finish(),
        "/register" if shared.config.dynamic_registration => method_not_allowed("POST").finish(),
        _ => Reply::json(
            StatusCode::NOT_FOUND,
            &json!({"error": "not_found", "error_description": format!("nothing is served at {path}")}),
        )
        .finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_or_refused() {
        assert_eq!(normalize_path("", "p").unwrap(), "");
        assert_eq!(normalize_path("/", "p").unwrap(), "");
        assert_eq!(normalize_path("/tenant1/", "p").unwrap(), "/tenant1");
        assert!(normalize_path("tenant", "p").is_err());
        assert!(normalize_path("/a//b", "p").is_err());
        assert!(normalize_path("/{x}", "p").is_err());
        assert!(normalize_path("/a?b", "p").is_err());
    }

    #[test]
    fn urls_follow_the_config() {
        let s = Shared::new(
            Config {
                issuer_path: Some("/t1".into()),
                ..Config::default()
            },
            4000,
        )
        .unwrap();
        assert_eq!(s.issuer, "http://127.0.0.1:4000/t1");
        assert_eq!(s.mcp_url, "http://127.0.0.1:4000/mcp");
        assert_eq!(
            s.prm_url,
            "http://127.0.0.1:4000/.well-known/oauth-protected-resource/mcp"
        );
        assert!(s.is_as_metadata_path("/.well-known/oauth-authorization-server/t1"));
        assert!(!s.is_as_metadata_path("/.well-known/oauth-authorization-server"));
        assert!(!s.is_as_metadata_path("/t1/.well-known/openid-configuration"));
        assert_eq!(
            s.as_metadata()["token_endpoint"],
            "http://127.0.0.1:4000/t1/token"
        );

        let root_only = Shared::new(
            Config {
                serve_resource_metadata_at_path: false,
                serve_openid_configuration: true,
                serve_oauth_metadata: false,
                ..Config::default()
            },
            1,
        )
        .unwrap();
        assert_eq!(
            root_only.prm_url,
            "http://127.0.0.1:1/.well-known/oauth-protected-resource"
        );
        assert!(root_only.is_as_metadata_path("/.well-known/openid-configuration"));
        assert!(!root_only.is_as_metadata_path("/.well-known/oauth-authorization-server"));
    }

    #[test]
    fn origins() {
        assert!(loopback_origin("http://127.0.0.1:8000"));
        assert!(loopback_origin("http://localhost:3000"));
        assert!(!loopback_origin("https://evil.example"));
        assert!(!loopback_origin("null"));
    }
}
