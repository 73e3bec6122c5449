//! The MCP 2026-07-28 wire: stateless requests, each carrying its protocol version and
//! client capabilities in `params._meta` and the request metadata headers.
//!
//! What is checked, in order, as 2026-07-28 says a server must ("Base Protocol",
//! `_meta`; Streamable HTTP, "Request Metadata" and "Server Validation"; "Versioning",
//! Protocol Version Negotiation), each refusal a `400` with a JSON-RPC error:
//!
//! 1. an `MCP-Protocol-Version` header (`-32020` HeaderMismatch when absent);
//! 2. `_meta` with `io.modelcontextprotocol/protocolVersion` and
//!    `io.modelcontextprotocol/clientCapabilities` (`-32602` Invalid params);
//! 3. the header equal to `_meta`'s version (`-32020`);
//! 4. a version this server implements (`-32022` UnsupportedProtocolVersion, with
//!    `data.supported` and `data.requested`);
//! 5. `Mcp-Method` equal to the body's `method`, and `Mcp-Name` equal to `params.name`
//!    (`tools/call`, `prompts/get`) or `params.uri` (`resources/read`), Base64 sentinel
//!    decoded (`-32020`);
//! 6. for a tool with `x-mcp-header` parameters, each `Mcp-Param-{Name}` present exactly
//!    when the argument has a non-null value, and equal to it (`-32020`).
//!
//! `Mcp-Session-Id` is ignored (never minted or echoed). Results carry `resultType`;
//! `server/discover` and `tools/list` also carry the caching hints `ttlMs` and
//! `cacheScope`. Unknown methods are `404` with `-32601`.

use axum::http::header::{HeaderMap, HeaderName};
use axum::http::StatusCode;
use axum::response::Response;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::sync::Arc;

use bearerflow_server::AuthSignal;

use super::{call_tool, header_str, jsonrpc_error, respond, text_result, tools, Framing};
use crate::faults::bump;
use crate::server::{Reply, Shared};
use crate::store::AccessInfo;

/// Modern protocol revisions this server implements.
pub(crate) const MODERN_VERSIONS: [&str; 1] = ["2026-07-28"];

const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub(crate) const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

static PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
static MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
static MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");

/// Whether a request opens the modern way: modern `_meta`, or a modern version header
/// ("Versioning": a dual-era server serves a request carrying modern per-request
/// `_meta` statelessly; an `initialize` request selects legacy semantics).
pub(crate) fn is_modern(headers: &HeaderMap, message: &Map<String, Value>) -> bool {
    let meta_version = message
        .get("params")
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(META_PROTOCOL_VERSION))
        .is_some();
    let header_modern =
        header_str(headers, &PROTOCOL_VERSION).is_some_and(|v| MODERN_VERSIONS.contains(&v));
    meta_version || header_modern
}

/// The versions to offer in `-32022` and `server/discover`.
fn supported(shared: &Shared) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = MODERN_VERSIONS.to_vec();
    if shared.config.wires.legacy() {
        v.extend(super::PROTOCOL_VERSIONS);
    }
    v
}

/// Decode a header value that may use the Base64 sentinel (`=?base64?…?=`, Streamable
/// HTTP "Value Encoding"). `None` when the sentinel wraps something that is not Base64
/// of UTF-8.
fn decode_header_value(value: &str) -> Option<String> {
    match value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    {
        Some(encoded) => STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
        None => Some(value.to_string()),
    }
}

/// The tools of [`Config::modern_feature_tools`](crate::Config::modern_feature_tools).
pub(crate) fn feature_tools() -> Vec<Value> {
    vec![
        json!({
            "name": "echo_region",
            "description": "Returns its text tagged with the region; region is mirrored into the Mcp-Param-Region header on the 2026-07-28 wire.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "region": {"type": "string", "x-mcp-header": "Region"},
                    "text": {"type": "string"},
                },
                "required": ["region", "text"],
            },
        }),
        json!({
            "name": "confirm",
            "description": "Asks the client to confirm (an elicitation, through MRTR) before returning its text.",
            "inputSchema": {
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
            },
        }),
    ]
}

/// `echo_region`'s result.
pub(crate) fn echo_region(args: &Value) -> Value {
    match (args.get("region"), args.get("text")) {
        (Some(Value::String(r)), Some(Value::String(t))) => {
            text_result(format!("{t} @ {r}"), false)
        }
        _ => text_result("arguments region and text must be strings".into(), true),
    }
}

/// `(header name part, argument)` pairs of the `x-mcp-header` parameters of `tool`.
fn param_headers(shared: &Shared, tool: &str) -> &'static [(&'static str, &'static str)] {
    if shared.config.modern_feature_tools && tool == "echo_region" {
        &[("Region", "region")]
    } else {
        &[]
    }
}

/// Serve one modern request (already authenticated, body parsed).
pub(crate) fn handle(
    shared: &Arc<Shared>,
    info: &AccessInfo,
    headers: &HeaderMap,
    message: &Map<String, Value>,
    framing: Framing,
    signal: Option<&AuthSignal>,
) -> Response {
    bump(&shared.counters.modern_requests);
    let id = message.get("id").cloned();
    let method = message.get("method").and_then(Value::as_str);
    let Some(method) = method else {
        // A JSON-RPC response: a client must not send one (Streamable HTTP, "Sending
        // Messages").
        return jsonrpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32600,
            "The body must be a JSON-RPC request or notification",
        )
        .finish();
    };
    let Some(id) = id else {
        // A notification: 2026-07-28 defines none over Streamable HTTP and no header
        // rules for them; accept it.
        super::interact::client_notification(shared, method);
        return Reply::new(StatusCode::ACCEPTED).finish();
    };
    let params = message.get("params").cloned().unwrap_or_else(|| json!({}));
    if let Err(reply) = validate(shared, headers, &id, method, &params) {
        bump(&shared.counters.wire_rejections);
        return reply.finish();
    }
    let complete = |mut result: Value| {
        if let Value::Object(m) = &mut result {
            m.entry("resultType")
                .or_insert_with(|| Value::String("complete".into()));
        }
        json!({"jsonrpc": "2.0", "id": id, "result": result})
    };
    match method {
        "server/discover" => {
            bump(&shared.counters.discovers);
            let result = json!({
                "supportedVersions": supported(shared),
                "capabilities": {"tools": {}},
                "_meta": {"io.modelcontextprotocol/serverInfo": {
                    "name": "bearerflow-testbed", "version": env!("CARGO_PKG_VERSION"),
                }},
                "instructions": "A loopback test server: echo returns text, add sums a and b.",
                "ttlMs": 0,
                "cacheScope": "private",
            });
            respond(framing, &complete(result), None)
        }
        "ping" => respond(framing, &complete(json!({})), None),
        "tools/list" => {
            let mut list = tools(shared);
            if let Value::Object(m) = &mut list {
                m.insert("ttlMs".into(), json!(0));
                m.insert("cacheScope".into(), json!("private"));
            }
            respond(framing, &complete(list), None)
        }
        "tools/call"
            if shared.config.modern_feature_tools
                && params.get("name").and_then(Value::as_str) == Some("confirm") =>
        {
            match confirm(shared, &id, &params) {
                Ok(result) => respond(framing, &complete(result), None),
                Err(reply) => {
                    bump(&shared.counters.wire_rejections);
                    reply.finish()
                }
            }
        }
        "tools/call"
            if shared.config.interactive_tools
                && params.get("name").and_then(Value::as_str) == Some(super::interact::TOOL) =>
        {
            let sse = super::accepts_sse(headers);
            match super::interact::modern_call(shared, &id, &params, sse) {
                Ok(response) => response,
                Err(data) => {
                    bump(&shared.counters.wire_rejections);
                    jsonrpc_error_with_data(&id, -32021, "Missing required client capability", data)
                        .finish()
                }
            }
        }
        "tools/call" => match call_tool(shared, info, &id, &params, signal) {
            Ok(mut msg) => {
                if let Some(Value::Object(r)) = msg.get_mut("result") {
                    r.entry("resultType")
                        .or_insert_with(|| Value::String("complete".into()));
                }
                respond(framing, &msg, None)
            }
            Err(reply) => reply.finish(),
        },
        other => jsonrpc_error(
            StatusCode::NOT_FOUND,
            id,
            -32601,
            &format!("Method not found: {other}"),
        )
        .finish(),
    }
}

/// Steps 1–6 of the module docs.
fn validate(
    shared: &Shared,
    headers: &HeaderMap,
    id: &Value,
    method: &str,
    params: &Value,
) -> Result<(), Reply> {
    let reject = |code: i64, message: String| {
        jsonrpc_error(StatusCode::BAD_REQUEST, id.clone(), code, &message)
    };
    let versions = supported(shared).join(", ");
    let Some(header_version) = header_str(headers, &PROTOCOL_VERSION) else {
        return Err(reject(
            -32020,
            format!("Missing MCP-Protocol-Version header (this server speaks {versions})"),
        ));
    };
    let meta = params.get("_meta");
    let missing: Vec<&str> = [META_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES]
        .into_iter()
        .filter(|k| meta.and_then(|m| m.get(k)).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(reject(
            -32602,
            format!(
                "Invalid params: missing _meta keys: {} (this server speaks {versions})",
                missing.join(", ")
            ),
        ));
    }
    let meta_version = meta
        .and_then(|m| m.get(META_PROTOCOL_VERSION))
        .and_then(Value::as_str);
    if meta_version != Some(header_version) {
        return Err(reject(
            -32020,
            "MCP-Protocol-Version header does not match _meta protocolVersion".into(),
        ));
    }
    if !MODERN_VERSIONS.contains(&header_version) {
        return Err(jsonrpc_error_with_data(
            id,
            -32022,
            "Unsupported protocol version",
            json!({"supported": supported(shared), "requested": header_version}),
        ));
    }
    match header_str(headers, &MCP_METHOD) {
        Some(m) if m == method => {}
        Some(m) => {
            return Err(reject(
                -32020,
                format!("Header mismatch: Mcp-Method {m:?} does not match body method {method:?}"),
            ))
        }
        None => return Err(reject(-32020, "Missing Mcp-Method header".into())),
    }
    let name_field = match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    };
    if let Some(field) = name_field {
        let body = params.get(field).and_then(Value::as_str);
        let header = header_str(headers, &MCP_NAME).map(decode_header_value);
        match (header, body) {
            (Some(Some(h)), Some(b)) if h == b => {}
            (None, _) => return Err(reject(-32020, "Missing Mcp-Name header".into())),
            _ => {
                return Err(reject(
                    -32020,
                    format!("Header mismatch: Mcp-Name does not match params.{field}"),
                ))
            }
        }
    }
    if method == "tools/call" {
        let tool = params.get("name").and_then(Value::as_str).unwrap_or("");
        let args = params.get("arguments").unwrap_or(&Value::Null);
        for (name, arg) in param_headers(shared, tool) {
            let header_name = format!("mcp-param-{}", name.to_ascii_lowercase());
            let header = headers
                .get(header_name.as_str())
                .and_then(|v| v.to_str().ok())
                .map(decode_header_value);
            let body = args.get(*arg).filter(|v| !v.is_null());
            let matches = match (&header, body) {
                (None, None) => true,
                (Some(Some(h)), Some(Value::String(b))) => h == b,
                (Some(Some(h)), Some(Value::Bool(b))) => h == if *b { "true" } else { "false" },
                (Some(Some(h)), Some(Value::Number(n))) => h.parse::<f64>().ok() == n.as_f64(),
                _ => false,
            };
            if !matches {
                return Err(reject(
                    -32020,
                    format!("Header mismatch: Mcp-Param-{name} does not match arguments.{arg}"),
                ));
            }
        }
    }
    Ok(())
}

fn jsonrpc_error_with_data(id: &Value, code: i64, message: &str, data: Value) -> Reply {
    Reply::json(
        StatusCode::BAD_REQUEST,
        &json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": data}}),
    )
}

/// The `requestState` the testbed issues for confirming `text`: opaque to the client,
/// checked on the retry ("MRTR", Basic Workflow: the server encodes what it needs into
/// `requestState` and the client echoes it exactly).
fn confirm_state(text: &str) -> String {
    format!("confirm/v1.{}", URL_SAFE_NO_PAD.encode(text.as_bytes()))
}

/// `confirm`: the first call answers `input_required` with an elicitation and a
/// `requestState`; the retry with `inputResponses.confirm` and the exact state
/// completes. A client that did not declare `elicitation` gets `-32021`.
fn confirm(shared: &Shared, id: &Value, params: &Value) -> Result<Value, Reply> {
    let text = params
        .get("arguments")
        .and_then(|a| a.get("text"))
        .and_then(Value::as_str);
    let Some(text) = text else {
        return Ok(text_result("argument text must be a string".into(), true));
    };
    let Some(response) = params.get("inputResponses").and_then(|r| r.get("confirm")) else {
        let declared = params
            .get("_meta")
            .and_then(|m| m.get(META_CLIENT_CAPABILITIES))
            .and_then(|c| c.get("elicitation"))
            .is_some();
        if !declared {
            return Err(jsonrpc_error_with_data(
                id,
                -32021,
                "Missing required client capability",
                json!({"requiredCapabilities": {"elicitation": {}}}),
            ));
        }
        bump(&shared.counters.input_required);
        return Ok(json!({
            "resultType": "input_required",
            "inputRequests": {"confirm": {
                "method": "elicitation/create",
                "params": {
                    "mode": "form",
                    "message": format!("Return {text:?}?"),
                    "requestedSchema": {
                        "type": "object",
                        "properties": {"confirmed": {"type": "boolean"}},
                        "required": ["confirmed"],
                    },
                },
            }},
            "requestState": confirm_state(text),
        }));
    };
    if params.get("requestState").and_then(Value::as_str) != Some(confirm_state(text).as_str()) {
        return Ok(text_result(
            "requestState was not echoed exactly".into(),
            true,
        ));
    }
    bump(&shared.counters.tool_calls);
    let accepted = response.get("action").and_then(Value::as_str) == Some("accept")
        && response
            .get("content")
            .and_then(|c| c.get("confirmed"))
            .and_then(Value::as_bool)
            == Some(true);
    Ok(if accepted {
        text_result(format!("confirmed: {text}"), false)
    } else {
        text_result(format!("not confirmed: {text}"), false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_values_decode() {
        assert_eq!(decode_header_value("us-west1").as_deref(), Some("us-west1"));
        assert_eq!(
            decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(decode_header_value("=?base64?***?="), None);
    }

    #[test]
    fn modern_requests_are_recognized() {
        let mut h = HeaderMap::new();
        let m = |v: Value| v.as_object().cloned().unwrap();
        assert!(!is_modern(
            &h,
            &m(json!({"method": "initialize", "params": {}}))
        ));
        assert!(is_modern(
            &h,
            &m(json!({"params": {"_meta": {META_PROTOCOL_VERSION: "2026-07-28"}}}))
        ));
        h.insert("mcp-protocol-version", "2026-07-28".parse().unwrap());
        assert!(is_modern(&h, &m(json!({}))));
        h.insert("mcp-protocol-version", "2025-11-25".parse().unwrap());
        assert!(!is_modern(&h, &m(json!({}))));
    }

    #[test]
    fn confirm_state_is_stable_per_text() {
        assert_eq!(confirm_state("a"), confirm_state("a"));
        assert_ne!(confirm_state("a"), confirm_state("b"));
    }
}
