//! `--listen 127.0.0.1:PORT`: a local Streamable HTTP endpoint in front of the remote
//! server, for clients that speak HTTP but cannot keep a credential alive (a browser
//! inspector that sends one static header). Every request is forwarded as it is
//! (method, body, the MCP headers: `Accept`, `Content-Type`, `Mcp-Session-Id`,
//! `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`, `Last-Event-ID`)
//! with bearerflow's credential, and the answer comes back as it is, event streams
//! streamed; the local client speaks whichever MCP wire it speaks.
//!
//! The local client's own credentials never leave this machine: `Authorization`,
//! `Cookie` and every header not on that list are dropped, and bearerflow's
//! `Authorization` goes on instead. A stale static token is therefore harmless.
//!
//! The gateway adds the user's credential to what it forwards, so it only serves this
//! machine: it binds a loopback address unless `--allow-remote-listen`, and (MCP
//! Streamable HTTP "Security Warning", DNS rebinding) refuses a request whose `Origin`
//! or `Host` is not loopback with `403`. Loopback origins get CORS headers, so a page
//! served from another local port can call it.

use super::upstream::{Upstream, UpstreamError};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// The largest request body forwarded.
const MAX_BODY: usize = super::bridge::MAX_LINE;

/// Request headers forwarded to the server (besides `Mcp-Param-*`).
const FORWARDED: [&str; 8] = [
    "accept",
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
    "cache-control",
];

/// Response headers handed back.
const RETURNED: [&str; 5] = [
    "content-type",
    "mcp-session-id",
    "cache-control",
    "retry-after",
    "x-accel-buffering",
];

struct Gateway {
    up: Arc<Upstream>,
    allow_remote: bool,
}

/// Serve until interrupted (Ctrl-C or SIGTERM).
pub(crate) async fn serve(up: Arc<Upstream>, addr: SocketAddr, allow_remote: bool) -> ExitCode {
    let log = up.log;
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            log.error(format_args!("cannot listen on {addr}: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let bound = listener.local_addr().unwrap_or(addr);
    // The one line on standard output in this mode, for scripts: where to connect.
    println!(
        "{}",
        json!({"listen": format!("http://{bound}/"), "upstream": up.url()})
    );
    log.info(format_args!(
        "serving http://{bound}/ and forwarding to {} with fresh credentials",
        up.url()
    ));
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::new(Gateway { up, allow_remote }));
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log.error(format_args!("the gateway stopped: {e}"));
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Whether `authority` (a `Host` header, or an origin's host) names this machine.
fn loopback_host(host: &str) -> bool {
    let Ok(url) = url::Url::parse(&format!("http://{host}/")) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn loopback_origin(origin: &str) -> bool {
    url::Url::parse(origin)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(loopback_host(&host))
        })
        .unwrap_or(false)
}

fn rpc_error(status: StatusCode, id: Value, error: Value) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": error}).to_string();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn refuse(status: StatusCode, message: &str) -> Response {
    rpc_error(
        status,
        Value::Null,
        json!({"code": -32600, "message": format!("bearerflow proxy: {message}")}),
    )
}

fn add_cors(origin: Option<&HeaderValue>, response: &mut Response) {
    let Some(origin) = origin else {
        return;
    };
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Mcp-Session-Id, Retry-After"),
    );
}

/// Which of the local client's headers go on: the MCP ones only.
pub(crate) fn forwarded_headers(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        let n = name.as_str();
        if FORWARDED.contains(&n) || n.starts_with("mcp-param-") {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

async fn handle(State(g): State<Arc<Gateway>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let origin = parts.headers.get(header::ORIGIN).cloned();
    if let Some(o) = &origin {
        if !o.to_str().is_ok_and(loopback_origin) {
            g.up.log
                .warn(format_args!("refused a request from a non-loopback Origin"));
            return refuse(StatusCode::FORBIDDEN, "Origin not allowed");
        }
    }
    if !g.allow_remote {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !loopback_host(host) {
            g.up.log
                .warn(format_args!("refused a request for a non-loopback Host"));
            return refuse(StatusCode::FORBIDDEN, "Host not allowed");
        }
    }
    let mut response = forward(&g, parts.method, &parts.headers, body).await;
    add_cors(origin.as_ref(), &mut response);
    response
}

async fn forward(g: &Gateway, method: Method, headers: &HeaderMap, body: Body) -> Response {
    if method == Method::OPTIONS {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
        );
        let allowed = headers
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or_else(|| {
                HeaderValue::from_static(
                    "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID",
                )
            });
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        return r;
    }
    let upstream_method = match method {
        Method::GET => reqwest::Method::GET,
        Method::POST => reqwest::Method::POST,
        Method::DELETE => reqwest::Method::DELETE,
        _ => {
            let mut r = refuse(StatusCode::METHOD_NOT_ALLOWED, "use GET, POST or DELETE");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            return r;
        }
    };
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the request body is over {MAX_BODY} bytes or unreadable"),
            )
        }
    };
    let id = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("id").cloned())
        .unwrap_or(Value::Null);
    let body = (upstream_method == reqwest::Method::POST).then_some(bytes);
    let outgoing = forwarded_headers(headers);
    match g.up.send_raw(upstream_method, body, outgoing).await {
        Ok(r) => relay(r),
        Err(e) => {
            let status = match e {
                UpstreamError::Unreachable(_) => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::BAD_GATEWAY,
            };
            let rpc = e.to_rpc();
            g.up.log.warn(format_args!(
                "forwarding failed: {}",
                rpc.get("message").and_then(Value::as_str).unwrap_or("")
            ));
            rpc_error(status, id, rpc)
        }
    }
}

/// The server's response as the local client gets it: status, the MCP headers, and
/// the body streamed chunk by chunk (an event stream stays a stream; the local client
/// going away drops the upstream request, which closes the server's stream).
fn relay(mut upstream: reqwest::Response) -> Response {
    let status =
        StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = HeaderMap::new();
    for name in RETURNED {
        for v in upstream.headers().get_all(name) {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(v.as_bytes()),
            ) {
                headers.append(n, v);
            }
        }
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        loop {
            match upstream.chunk().await {
                Ok(Some(chunk)) => {
                    if tx.send(Ok(chunk)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let _ = tx
                        .send(Err(std::io::Error::other(
                            bearerflow_async::Error::from_reqwest(e).to_string(),
                        )))
                        .await;
                    return;
                }
            }
        }
    });
    let mut r = Response::new(Body::new(ChannelBody(rx)));
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

/// A response body fed by the task that reads the server's response.
struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|c| c.map(|c| c.map(http_body::Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_and_origins() {
        assert!(loopback_host("127.0.0.1:8931"));
        assert!(loopback_host("localhost"));
        assert!(loopback_host("[::1]:80"));
        assert!(!loopback_host("evil.example:8931"));
        assert!(!loopback_host(""));
        assert!(loopback_origin("http://localhost:6274"));
        assert!(!loopback_origin("https://evil.example"));
        assert!(!loopback_origin("null"));
    }

    #[test]
    fn the_local_clients_credentials_stay_here() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer stale"));
        h.insert("cookie", HeaderValue::from_static("sid=1"));
        h.insert("proxy-authorization", HeaderValue::from_static("Basic x"));
        h.insert("x-api-key", HeaderValue::from_static("k"));
        h.insert("mcp-session-id", HeaderValue::from_static("s"));
        h.insert("mcp-param-region", HeaderValue::from_static("eu"));
        h.insert("accept", HeaderValue::from_static("text/event-stream"));
        let out = forwarded_headers(&h);
        assert!(out.get("authorization").is_none());
        assert!(out.get("cookie").is_none());
        assert!(out.get("proxy-authorization").is_none());
        assert!(out.get("x-api-key").is_none());
        assert_eq!(out.get("mcp-session-id").unwrap(), "s");
        assert_eq!(out.get("mcp-param-region").unwrap(), "eu");
        assert_eq!(out.len(), 3);
    }
}
