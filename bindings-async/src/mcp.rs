//! A small MCP client over Streamable HTTP, sending through a bearerflow [`Client`]:
//! `tools/list`, `tools/call` and any other request, on either MCP wire.
//!
//! Every message is a `POST` of one JSON-RPC object with `Accept: application/json,
//! text/event-stream`; the answer is either JSON or an SSE stream whose `message`
//! events carry JSON-RPC messages. What else goes on the request depends on the wire
//! ([`wire`](self::Wire)):
//!
//! - **modern** (MCP 2026-07-28): stateless; `_meta` with the protocol version, client
//!   capabilities and client info on every request, and the `MCP-Protocol-Version`,
//!   `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*` headers; `input_required` results are
//!   answered through an [`InputHandler`] and the request retried (MRTR);
//! - **legacy** (MCP 2025-11-25): `initialize`, then the `Mcp-Session-Id` it assigned
//!   and the negotiated `MCP-Protocol-Version` on every later request.
//!
//! [`McpClient::connect`] picks the wire as 2026-07-28 "Versioning and Compatibility"
//! says a client speaking both should ([`WireChoice::Auto`]): a modern `server/discover`
//! first, a legacy `initialize` when the answer shows a legacy server. A request that
//! bearerflow retries after a refresh is the same `reqwest::Request` again, so it keeps
//! its body (with `_meta`) and every header.
//!
//! [`McpClient::close`] ends a legacy session (HTTP `DELETE`); [`McpClient::with_call_timeout`]
//! bounds each call; [`McpClient::with_client_info`] names the client to the server.

use crate::{Client, Error};
use bearerflow::text::Sanitized;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod modern;
mod mrtr;
mod negotiate;
pub(crate) mod wire;

/// Re-exported for implementing [`InputHandler`] without a direct dependency.
pub use async_trait::async_trait;
pub use mrtr::{InputHandler, MAX_INPUT_ROUNDS};
pub use negotiate::Connected;
/// The wire's building blocks, for hosts that forward messages they did not build (the
/// `bearerflow proxy` bridge): per-request `_meta`, the modern request headers, the
/// `x-mcp-header` annotations, the modern protocol errors and version choice.
pub use wire::{
    choose_version, modern_headers, param_headers, protocol_error, server_info, with_meta,
    ParamHeader, UnsendableHeader, VersionChoice, META_CLIENT_CAPABILITIES, META_CLIENT_INFO,
    META_PROTOCOL_VERSION, META_SERVER_INFO,
};
pub use wire::{
    encode_header_value, ProtocolError, Wire, WireChoice, LEGACY_VERSIONS, MODERN_VERSION,
    MODERN_VERSIONS,
};

/// The legacy protocol revision this client asks for in `initialize`.
pub const PROTOCOL_VERSION: &str = LEGACY_VERSIONS[0];

/// An MCP exchange failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum McpError {
    /// bearerflow or the network failed the request.
    Transport(Error),
    /// The server answered with a non-success HTTP status.
    Status {
        /// The status.
        status: u16,
        /// The start of the body (a JSON body's `error.message`), sanitized, with the
        /// request's credentials redacted.
        body: String,
    },
    /// The response body could not be read.
    Body(String),
    /// The response is not the JSON-RPC answer to the request.
    Malformed(String),
    /// The server answered with a JSON-RPC error.
    Rpc {
        /// The error code.
        code: i64,
        /// The error message.
        message: String,
    },
    /// A modern server refused the request with a protocol error (2026-07-28: wrong or
    /// unsupported version, missing capability, headers not matching the body).
    Protocol(ProtocolError),
    /// The server needs input (MRTR: elicitation, sampling, roots) this client could not
    /// give: no [`InputHandler`], or the handler declined. Says what and why.
    InputRequired(String),
    /// The call took longer than [`McpClient::with_call_timeout`] allows; it was
    /// cancelled (in the session too: nothing of it is left pending).
    Timeout(Duration),
}

impl fmt::Display for McpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Server text goes through the sanitizer (control characters escaped,
            // length capped) whoever built the value.
            McpError::Transport(e) => write!(f, "{e}"),
            McpError::Status { status, body } => {
                write!(f, "HTTP {status}: {}", Sanitized::quoted(body))
            }
            McpError::Body(e) => write!(f, "reading the response: {}", Sanitized::quoted(e)),
            McpError::Malformed(e) => write!(f, "unexpected response: {}", Sanitized::quoted(e)),
            McpError::Rpc { code, message } => {
                write!(f, "JSON-RPC error {code}: {}", Sanitized::quoted(message))
            }
            McpError::Protocol(e) => write!(f, "{e}"),
            McpError::InputRequired(why) => {
                write!(f, "the server needs input: {}", Sanitized::quoted(why))
            }
            McpError::Timeout(after) => {
                write!(
                    f,
                    "no answer within the call timeout ({} ms)",
                    after.as_millis()
                )
            }
        }
    }
}

impl std::error::Error for McpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            McpError::Transport(e) => Some(e),
            _ => None,
        }
    }
}

impl McpError {
    /// The bearerflow error underneath, if this is one.
    pub fn transport(&self) -> Option<&Error> {
        match self {
            McpError::Transport(e) => Some(e),
            _ => None,
        }
    }
}

/// An MCP client over one bearerflow [`Client`]. Share it behind an `Arc` to make
/// concurrent calls.
pub struct McpClient {
    client: Client,
    url: String,
    session_id: Mutex<Option<String>>,
    protocol_version: Mutex<Option<String>>,
    next_id: AtomicU64,
    choice: WireChoice,
    wire: Mutex<Option<Wire>>,
    /// Held while the wire is being chosen, so concurrent first calls connect once.
    connecting: tokio::sync::Mutex<()>,
    client_info: Value,
    /// How long one call may take ([`McpClient::with_call_timeout`]).
    call_timeout: Option<Duration>,
    input: Option<Arc<dyn InputHandler>>,
    /// The `x-mcp-header` annotations of each tool from the last `tools/list`.
    tool_headers: Mutex<HashMap<String, Vec<wire::ParamHeader>>>,
    /// Tools the last `tools/list` listed with invalid annotations, and why.
    rejected_tools: Mutex<Vec<(String, String)>>,
}

impl fmt::Debug for McpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpClient")
            .field("url", &self.url)
            .field("choice", &self.choice)
            .field("wire", &self.wire())
            .field("protocol_version", &self.protocol_version())
            .field("has_input_handler", &self.input.is_some())
            .field("call_timeout", &self.call_timeout)
            .finish_non_exhaustive()
    }
}

fn lock<T: Clone>(m: &Mutex<T>) -> T {
    match m.lock() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

fn set<T>(m: &Mutex<T>, value: T) {
    match m.lock() {
        Ok(mut g) => *g = value,
        Err(p) => *p.into_inner() = value,
    }
}

/// The JSON-RPC response with `id` in an SSE body (`message` events, `data:` lines).
pub fn parse_sse_response(body: &str, id: u64) -> Result<Value, McpError> {
    let normalized = body.replace("\r\n", "\n");
    for block in normalized.split("\n\n") {
        let mut event = "message";
        let mut data = String::new();
        for line in block.lines() {
            if let Some(rest) = line.strip_prefix("event:") {
                event = rest.trim();
            } else if let Some(rest) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
            }
        }
        if event != "message" || data.is_empty() {
            continue;
        }
        let Ok(message) = serde_json::from_str::<Value>(&data) else {
            continue;
        };
        if message.get("id").and_then(Value::as_u64) == Some(id) {
            return Ok(message);
        }
    }
    Err(McpError::Malformed(format!(
        "no SSE message event answers request {id}"
    )))
}

fn result_of(message: Value) -> Result<Value, McpError> {
    if let Some(error) = message.get("error") {
        return Err(McpError::Rpc {
            code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        });
    }
    message
        .get("result")
        .cloned()
        .ok_or_else(|| McpError::Malformed("a JSON-RPC response without result".into()))
}

impl McpClient {
    /// A client for the MCP endpoint `url` (usually the session's resource URL).
    pub fn new(client: Client, url: impl Into<String>) -> McpClient {
        McpClient {
            client,
            url: url.into(),
            session_id: Mutex::new(None),
            protocol_version: Mutex::new(None),
            next_id: AtomicU64::new(1),
            choice: WireChoice::Auto,
            wire: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            client_info: json!({"name": "bearerflow", "version": env!("CARGO_PKG_VERSION")}),
            call_timeout: None,
            input: None,
            tool_headers: Mutex::new(HashMap::new()),
            rejected_tools: Mutex::new(Vec::new()),
        }
    }

    /// Which wire to speak (default [`WireChoice::Auto`]).
    pub fn with_wire(mut self, choice: WireChoice) -> McpClient {
        self.choice = choice;
        self
    }

    /// Answer the input requests of modern servers (MRTR) with `handler`, and declare
    /// its capabilities. Without one, a request the server answers with
    /// `input_required` fails with [`McpError::InputRequired`].
    pub fn with_input_handler(mut self, handler: impl InputHandler) -> McpClient {
        self.input = Some(Arc::new(handler));
        self
    }

    /// The `clientInfo` sent to the server (default `bearerflow` and this crate's
    /// version).
    pub fn with_client_info(mut self, name: &str, version: &str) -> McpClient {
        self.client_info = json!({"name": name, "version": version});
        self
    }

    /// Give up on any one call after `timeout`: [`McpClient::request`],
    /// [`McpClient::list_tools`], [`McpClient::call_tool`], [`McpClient::notify`],
    /// [`McpClient::connect`], [`McpClient::initialize`] and [`McpClient::close`] then
    /// fail with [`McpError::Timeout`]. The time counts everything the call waits for:
    /// connecting first, a credential (a refresh, an authorization), the server's
    /// answer, input rounds. The call is cancelled, in the session too (no request is
    /// left pending) and on the wire (its HTTP exchange is dropped). Default: none; the
    /// session policy's limits (`resource_deadline` for the response headers and a
    /// whole body, `wait_deadline` for a credential) hold either way.
    pub fn with_call_timeout(mut self, timeout: Duration) -> McpClient {
        self.call_timeout = Some(timeout);
        self
    }

    /// `call` within the call timeout, if one is set.
    async fn timed<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, McpError>>,
    ) -> Result<T, McpError> {
        match self.call_timeout {
            Some(limit) => tokio::time::timeout(limit, call)
                .await
                .unwrap_or(Err(McpError::Timeout(limit))),
            None => call.await,
        }
    }

    /// The wire in use, once chosen (by [`McpClient::connect`] or the first request).
    pub fn wire(&self) -> Option<Wire> {
        lock(&self.wire)
    }

    /// Tools the last `tools/list` left out because their `x-mcp-header` annotations
    /// are invalid (2026-07-28 Streamable HTTP: the client MUST exclude them), with
    /// the reason for each.
    pub fn rejected_tools(&self) -> Vec<(String, String)> {
        lock(&self.rejected_tools)
    }

    /// The capabilities this client declares.
    fn capabilities(&self) -> Value {
        match &self.input {
            Some(h) => match h.capabilities() {
                Value::Object(m) => Value::Object(m),
                _ => json!({}),
            },
            None => json!({}),
        }
    }

    /// The `Mcp-Session-Id` the server assigned, once initialized (legacy wire).
    pub fn session_id(&self) -> Option<String> {
        lock(&self.session_id)
    }

    /// The protocol version in use, once connected.
    pub fn protocol_version(&self) -> Option<String> {
        lock(&self.protocol_version)
    }

    fn post(&self, message: &Value, headers: HeaderMap) -> Result<reqwest::Request, McpError> {
        self.client
            .post(self.url.as_str())
            .header(
                reqwest::header::ACCEPT,
                "application/json, text/event-stream",
            )
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .headers(headers)
            .body(message.to_string())
            .build()
            .map_err(|e| McpError::Transport(Error::Http(e)))
    }

    /// Send a request and return its `result` (a JSON-RPC error is [`McpError::Rpc`]).
    /// Connects first ([`McpClient::connect`]) if no wire is chosen yet. On the modern
    /// wire an `input_required` result is answered and the request retried (MRTR).
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, McpError> {
        self.timed(self.request_untimed(method, params)).await
    }

    async fn request_untimed(&self, method: &str, params: Value) -> Result<Value, McpError> {
        match self.ensure_wire().await? {
            Wire::Legacy => self
                .exchange(method, params, self.legacy_headers())
                .await
                .map(|(v, _)| v),
            Wire::Modern => self.request_modern(method, params).await,
        }
    }

    async fn exchange(
        &self,
        method: &str,
        params: Value,
        headers: HeaderMap,
    ) -> Result<(Value, reqwest::header::HeaderMap), McpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = self
            .client
            .send(self.post(&message, headers)?)
            .await
            .map_err(McpError::Transport)?;
        let headers = response.headers().clone();
        // Within the response's limits, event by event for SSE, credentials redacted;
        // a modern protocol error (2026-07-28) comes back typed.
        let message = crate::reply::answer(response, id).await?;
        Ok((result_of(message)?, headers))
    }

    /// Send a notification (no answer expected; the server says `202`).
    pub async fn notify(&self, method: &str, params: Value) -> Result<(), McpError> {
        self.timed(self.notify_untimed(method, params)).await
    }

    pub(super) async fn notify_untimed(&self, method: &str, params: Value) -> Result<(), McpError> {
        let headers = match self.wire() {
            Some(Wire::Modern) => {
                let version = self
                    .protocol_version()
                    .unwrap_or_else(|| MODERN_VERSION.to_string());
                wire::modern_headers(&version, method, &params, &[]).map_err(|e| {
                    McpError::Malformed(format!(
                        "the {} header cannot carry the request's value",
                        e.0
                    ))
                })?
            }
            _ => self.legacy_headers(),
        };
        let message = json!({"jsonrpc": "2.0", "method": method, "params": params});
        let response = self
            .client
            .send(self.post(&message, headers)?)
            .await
            .map_err(McpError::Transport)?;
        if !response.status().is_success() {
            return Err(crate::reply::status_error(response).await);
        }
        Ok(())
    }

    /// The legacy wire's `initialize` handshake (MCP 2025-11-25 "Lifecycle"), whatever
    /// the [`WireChoice`]: keeps the session id and protocol version, sends
    /// `notifications/initialized`, and returns the server's `InitializeResult`.
    pub async fn initialize(&self) -> Result<Value, McpError> {
        self.timed(async {
            let _guard = self.connecting.lock().await;
            self.handshake(None).await.map(|c| c.result)
        })
        .await
    }

    /// End the session: on the legacy wire, an HTTP `DELETE` of the MCP endpoint with
    /// the session's `Mcp-Session-Id` (MCP 2025-11-25 Transports, "Session Management":
    /// a client that no longer needs a session SHOULD end it so); the modern wire
    /// (2026-07-28) is stateless and has nothing to end. Either way this client forgets
    /// the wire, the session id and the protocol version, so a later call connects
    /// again. A server that does not let clients end sessions (`405`) or that has
    /// already ended it (`404`) is not an error; another status is
    /// [`McpError::Status`].
    pub async fn close(&self) -> Result<(), McpError> {
        self.timed(async {
            let _guard = self.connecting.lock().await;
            let headers = self.legacy_headers();
            let session = self.session_id();
            set(&self.session_id, None);
            set(&self.protocol_version, None);
            set(&self.wire, None);
            if session.is_none() {
                return Ok(());
            }
            let request = self
                .client
                .http()
                .delete(self.url.as_str())
                .headers(headers)
                .build()
                .map_err(|e| McpError::Transport(Error::Http(e)))?;
            let response = self
                .client
                .send(request)
                .await
                .map_err(McpError::Transport)?;
            match response.status().as_u16() {
                200..=299 | 404 | 405 => Ok(()),
                _ => Err(crate::reply::status_error(response).await),
            }
        })
        .await
    }

    /// `tools/list`: the server's `ListToolsResult` (`{"tools": [...]}`). On the modern
    /// wire, tools whose `x-mcp-header` annotations are invalid are left out (see
    /// [`McpClient::rejected_tools`]) and the others' annotations are remembered, so
    /// [`McpClient::call_tool`] mirrors those parameters into `Mcp-Param-*` headers.
    pub async fn list_tools(&self) -> Result<Value, McpError> {
        self.timed(async {
            let result = self.request_untimed("tools/list", json!({})).await?;
            Ok(match self.wire() {
                Some(Wire::Modern) => self.keep_tools(result),
                _ => result,
            })
        })
        .await
    }

    /// `tools/call` of `name` with `arguments`: the `CallToolResult`. A tool-level
    /// failure is a result with `isError: true`, not an `Err`.
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Result<Value, McpError> {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_picks_the_message_answering_the_request() {
        let body = "event: message\r\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\n\
                    : a comment\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\ndata: \"result\":{\"ok\":true}}\n\n";
        let m = parse_sse_response(body, 7).unwrap();
        assert_eq!(m["result"]["ok"], true);
        assert!(parse_sse_response(body, 8).is_err());
        assert!(parse_sse_response("", 1).is_err());
        assert!(parse_sse_response("data: {not json\n\n", 1).is_err());
    }

    #[test]
    fn errors_and_results() {
        let e = result_of(json!({"id": 1, "error": {"code": -32601, "message": "nope"}}));
        assert!(matches!(e, Err(McpError::Rpc { code: -32601, .. })));
        assert_eq!(result_of(json!({"id": 1, "result": 5})).unwrap(), 5);
        assert!(matches!(
            result_of(json!({"id": 1})),
            Err(McpError::Malformed(_))
        ));
    }
}
