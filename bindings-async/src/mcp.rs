//! A small MCP client over Streamable HTTP (MCP 2025-11-25, "Transports"), sending
//! through a bearerflow [`Client`]: `initialize`, `tools/list`, `tools/call`.
//!
//! Every message is a `POST` of one JSON-RPC object with `Accept: application/json,
//! text/event-stream`; the answer is either JSON or an SSE stream whose `message`
//! events carry JSON-RPC messages. The `Mcp-Session-Id` from `initialize` and the
//! negotiated `MCP-Protocol-Version` go on every later request.

use crate::{Client, Error};
use bearerflow::text::Sanitized;
use serde_json::{json, Value};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The protocol revision this client asks for.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

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

/// An MCP client session over one bearerflow [`Client`]. Share it behind an `Arc` to
/// make concurrent calls.
#[derive(Debug)]
pub struct McpClient {
    client: Client,
    url: String,
    session_id: Mutex<Option<String>>,
    protocol_version: Mutex<Option<String>>,
    next_id: AtomicU64,
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
        }
    }

    /// The `Mcp-Session-Id` the server assigned, once initialized.
    pub fn session_id(&self) -> Option<String> {
        lock(&self.session_id)
    }

    /// The negotiated protocol version, once initialized.
    pub fn protocol_version(&self) -> Option<String> {
        lock(&self.protocol_version)
    }

    fn post(&self, message: &Value) -> Result<reqwest::Request, McpError> {
        let mut b = self
            .client
            .post(self.url.as_str())
            .header(
                reqwest::header::ACCEPT,
                "application/json, text/event-stream",
            )
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(message.to_string());
        if let Some(sid) = self.session_id() {
            b = b.header("Mcp-Session-Id", sid);
        }
        if let Some(v) = self.protocol_version() {
            b = b.header("MCP-Protocol-Version", v);
        }
        b.build().map_err(|e| McpError::Transport(Error::Http(e)))
    }

    /// Send a request and return its `result` (a JSON-RPC error is [`McpError::Rpc`]).
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, McpError> {
        self.exchange(method, params).await.map(|(v, _)| v)
    }

    async fn exchange(
        &self,
        method: &str,
        params: Value,
    ) -> Result<(Value, reqwest::header::HeaderMap), McpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = self
            .client
            .send(self.post(&message)?)
            .await
            .map_err(McpError::Transport)?;
        let headers = response.headers().clone();
        // Within the response's limits, event by event for SSE, credentials redacted.
        let message = crate::reply::answer(response, id).await?;
        Ok((result_of(message)?, headers))
    }

    /// Send a notification (no answer expected; the server says `202`).
    pub async fn notify(&self, method: &str, params: Value) -> Result<(), McpError> {
        let message = json!({"jsonrpc": "2.0", "method": method, "params": params});
        let response = self
            .client
            .send(self.post(&message)?)
            .await
            .map_err(McpError::Transport)?;
        if !response.status().is_success() {
            return Err(crate::reply::status_error(response).await);
        }
        Ok(())
    }

    /// `initialize` (MCP "Lifecycle"), keeping the session id and protocol version, then
    /// `notifications/initialized`. Returns the server's `InitializeResult`.
    pub async fn initialize(&self) -> Result<Value, McpError> {
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "bearerflow", "version": env!("CARGO_PKG_VERSION")},
        });
        let (result, headers) = self.exchange("initialize", params).await?;
        let sid = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        set(&self.session_id, sid);
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        set(&self.protocol_version, version);
        self.notify("notifications/initialized", json!({})).await?;
        Ok(result)
    }

    /// `tools/list`: the server's `ListToolsResult` (`{"tools": [...]}`).
    pub async fn list_tools(&self) -> Result<Value, McpError> {
        self.request("tools/list", json!({})).await
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
