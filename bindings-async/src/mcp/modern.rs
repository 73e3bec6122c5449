//! The modern wire's requests: per-request `_meta` and headers, version negotiation on
//! `-32022` (2026-07-28 "Versioning", Protocol Version Negotiation), MRTR rounds, and
//! the `x-mcp-header` annotations of listed tools (Streamable HTTP, "Custom Headers from
//! Tool Parameters").

use super::mrtr;
use super::wire::{self, ProtocolError, MODERN_VERSION};
use super::{lock, set, McpClient, McpError, MAX_INPUT_ROUNDS};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

impl McpClient {
    /// One modern request: `_meta` and headers for the version in use; if the server
    /// refuses that version (`-32022`) and lists another modern one this client speaks,
    /// once more with that one.
    pub(super) async fn send_modern(
        &self,
        method: &str,
        params: &Value,
    ) -> Result<Value, McpError> {
        let mut renegotiated = false;
        loop {
            let version = self
                .protocol_version()
                .unwrap_or_else(|| MODERN_VERSION.to_string());
            let body = wire::with_meta(
                params.clone(),
                &version,
                &self.capabilities(),
                &self.client_info,
            );
            let tool_headers = match (method, params.get("name").and_then(Value::as_str)) {
                ("tools/call", Some(name)) => lock(&self.tool_headers)
                    .get(name)
                    .cloned()
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            let headers =
                wire::modern_headers(&version, method, &body, &tool_headers).map_err(|e| {
                    McpError::Malformed(format!(
                        "the {} header cannot carry the request's value",
                        e.0
                    ))
                })?;
            match self.exchange(method, body, headers).await {
                Err(McpError::Protocol(ProtocolError::UnsupportedVersion {
                    supported,
                    requested,
                })) if !renegotiated => {
                    renegotiated = true;
                    match wire::choose_version(&supported) {
                        Some(wire::VersionChoice::Modern(v)) => {
                            set(&self.protocol_version, Some(v))
                        }
                        _ => {
                            return Err(McpError::Protocol(ProtocolError::UnsupportedVersion {
                                supported,
                                requested,
                            }))
                        }
                    }
                }
                other => return other.map(|(v, _)| v),
            }
        }
    }

    /// A request on the modern wire with MRTR: `input_required` results are answered
    /// through the [`InputHandler`] and the request retried as a new request carrying
    /// `inputResponses` and the exact `requestState`. A `tools/call` refused with
    /// `HeaderMismatch` refreshes the tool list once and is retried (Streamable HTTP,
    /// "Client Behavior").
    pub(super) async fn request_modern(
        &self,
        method: &str,
        params: Value,
    ) -> Result<Value, McpError> {
        let mut current = params.clone();
        let mut header_retry = false;
        let mut rounds = 0;
        loop {
            let result = match self.send_modern(method, &current).await {
                Err(McpError::Protocol(ProtocolError::HeaderMismatch { .. }))
                    if method == "tools/call" && !header_retry =>
                {
                    header_retry = true;
                    let tools = self.send_modern("tools/list", &json!({})).await?;
                    self.keep_tools(tools);
                    continue;
                }
                other => other?,
            };
            let (requests, state) =
                match mrtr::result_kind(&result).map_err(|e| McpError::Malformed(e.to_string()))? {
                    mrtr::ResultKind::Complete => return Ok(result),
                    mrtr::ResultKind::InputRequired { requests, state } => (requests, state),
                };
            if !mrtr::may_require_input(method) {
                return Err(McpError::Malformed(format!(
                    "the server asked for input on {method}, which may not (MRTR, Supported Requests)"
                )));
            }
            rounds += 1;
            if rounds > MAX_INPUT_ROUNDS {
                return Err(McpError::InputRequired(format!(
                    "the server still asks for input after {MAX_INPUT_ROUNDS} rounds"
                )));
            }
            let mut responses = Map::new();
            for (key, input_method, input_params) in requests {
                let Some(handler) = &self.input else {
                    return Err(McpError::InputRequired(format!(
                        "{input_method} requested, and this client has no input handler"
                    )));
                };
                let answer = handler
                    .answer(&input_method, &input_params)
                    .await
                    .map_err(|why| McpError::InputRequired(format!("{input_method}: {why}")))?;
                responses.insert(key, answer);
            }
            current = mrtr::retry_params(&params, responses, state);
        }
    }

    /// On the modern wire: remember each tool's `x-mcp-header` annotations and drop the
    /// tools whose annotations are invalid from the list.
    pub(super) fn keep_tools(&self, mut result: Value) -> Value {
        let mut headers = HashMap::new();
        let mut rejected = Vec::new();
        if let Some(tools) = result.get_mut("tools").and_then(Value::as_array_mut) {
            tools.retain(|tool| {
                let name = tool.get("name").and_then(Value::as_str).unwrap_or("");
                let schema = tool.get("inputSchema").unwrap_or(&Value::Null);
                match wire::param_headers(schema) {
                    Ok(h) => {
                        headers.insert(name.to_string(), h);
                        true
                    }
                    Err(why) => {
                        rejected.push((wire::server_text(name), why));
                        false
                    }
                }
            });
        }
        set(&self.tool_headers, headers);
        set(&self.rejected_tools, rejected);
        result
    }
}
