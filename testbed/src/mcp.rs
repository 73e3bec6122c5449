//! The MCP resource server: Streamable HTTP at one endpoint, behind bearer-token
//! authentication (RFC 6750, MCP authorization), on both wires: the MCP 2026-07-28
//! stateless one ([`modern`]) and the 2025-11-25 `initialize` handshake with sessions
//! (this file), as [`Config::wires`](crate::Config::wires) says.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::header::{self, HeaderMap, HeaderName};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use bearerflow::challenge::{
    parse_authorization_bearer, AuthorizationErrorKind, BearerChallenge, BearerError,
};
use bearerflow_server::{AuthSignal, Signalled};
use serde_json::{json, Value};

use crate::faults::bump;
use crate::server::{loopback_origin, method_not_allowed, Reply, Shared};
use crate::store::AccessInfo;
use crate::util::random_token;
use crate::Wires;

pub(crate) mod interact;
mod modern;

/// Legacy protocol revisions this server speaks, newest first.
pub(crate) const PROTOCOL_VERSIONS: [&str; 4] =
    ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

static SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
static PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");

/// A `WWW-Authenticate: Bearer` challenge, rendered by bearerflow (RFC 6750 §3, RFC 9728
/// §5.1). `resource_metadata` points at this server's protected resource metadata unless
/// the config turns it off.
fn challenge_reply(
    shared: &Shared,
    status: StatusCode,
    error: Option<BearerError>,
    description: Option<String>,
    scope: Option<String>,
) -> Reply {
    let challenge = BearerChallenge {
        realm: None,
        error,
        error_description: description.clone(),
        error_uri: None,
        scope,
        resource_metadata: shared
            .config
            .resource_metadata_in_challenge
            .then(|| shared.prm_url.clone()),
    };
    let body = json!({
        "error": challenge.error.as_ref().map(|e| e.as_str()),
        "error_description": description,
    });
    let reply = Reply::json(status, &body);
    match challenge.render() {
        Ok(value) => reply.header(header::WWW_AUTHENTICATE, value),
        // Only reachable if a description had a control character; none of ours do.
        Err(_) => reply.header(header::WWW_AUTHENTICATE, "Bearer"),
    }
}

/// `401`: no credentials (no `error`, RFC 6750 §3.1) or `invalid_token` with a reason.
fn unauthorized(shared: &Shared, description: Option<&str>) -> Reply {
    bump(&shared.counters.unauthorized);
    let scope = (shared.config.scope_in_challenge && !shared.config.default_scopes.is_empty())
        .then(|| shared.config.default_scopes.join(" "));
    let error = description.map(|_| BearerError::InvalidToken);
    challenge_reply(
        shared,
        StatusCode::UNAUTHORIZED,
        error,
        description.map(str::to_string),
        scope,
    )
}

/// Check the `Authorization` header (RFC 6750 §2.1) and the token behind it.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<AccessInfo, Reply> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(unauthorized(shared, None));
    };
    if values.next().is_some() {
        return Err(unauthorized(
            shared,
            Some("Several Authorization headers were sent"),
        ));
    }
    let Ok(value) = value.to_str() else {
        return Err(unauthorized(
            shared,
            Some("The Authorization header is not visible ASCII"),
        ));
    };
    let token = parse_authorization_bearer(value).map_err(|e| match e.kind {
        // Another scheme is "no bearer credentials": no error code (RFC 6750 §3.1).
        AuthorizationErrorKind::NotBearer => unauthorized(shared, None),
        _ => unauthorized(
            shared,
            Some(&format!("The Authorization header is malformed: {e}")),
        ),
    })?;
    let info = shared
        .store()
        .check_access(token, shared.now(), shared.faults.generation())
        .map_err(|p| unauthorized(shared, Some(p.describe())))?;
    if info.resource != shared.mcp_url {
        return Err(unauthorized(
            shared,
            Some("The access token was issued for another resource"),
        ));
    }
    Ok(info)
}

pub(crate) fn jsonrpc_error(status: StatusCode, id: Value, code: i64, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
    )
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// How to answer a request: `application/json`, or one SSE `message` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Json,
    Sse,
}

/// Whether the client accepts an SSE response (`interact` needs one on the 2025-11-25
/// wire to carry its request before its result).
pub(crate) fn accepts_sse(headers: &HeaderMap) -> bool {
    header_str(headers, &header::ACCEPT)
        .is_some_and(|a| a.to_ascii_lowercase().contains("text/event-stream"))
}

fn framing(shared: &Shared, headers: &HeaderMap) -> Option<Framing> {
    let Some(accept) = header_str(headers, &header::ACCEPT) else {
        return Some(Framing::Json);
    };
    let accept = accept.to_ascii_lowercase();
    let json_ok = accept.contains("application/json")
        || accept.contains("*/*")
        || accept.contains("application/*");
    let sse_ok = accept.contains("text/event-stream");
    match (json_ok, sse_ok) {
        (false, false) => None,
        (true, false) => Some(Framing::Json),
        (false, true) => Some(Framing::Sse),
        (true, true) if shared.config.prefer_sse => Some(Framing::Sse),
        (true, true) => Some(Framing::Json),
    }
}

pub(crate) fn respond(
    framing: Framing,
    message: &Value,
    extra: Option<(HeaderName, String)>,
) -> Response {
    let reply = match framing {
        Framing::Json => Reply::json(StatusCode::OK, message),
        Framing::Sse => {
            let id = random_token("").unwrap_or_else(|| "0".into());
            Reply::new(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/event-stream")
                .header(header::CACHE_CONTROL, "no-cache")
                .body(format!("event: message\nid: {id}\ndata: {message}\n\n"))
        }
    };
    match extra {
        Some((name, value)) => reply.header(name, value).finish(),
        None => reply.finish(),
    }
}

pub(crate) fn tools(shared: &Shared) -> Value {
    let text_schema = json!({
        "type": "object",
        "properties": {"text": {"type": "string", "description": "Text to return"}},
        "required": ["text"],
    });
    let mut list = vec![
        json!({
            "name": "echo",
            "description": "Returns its text argument unchanged.",
            "inputSchema": text_schema,
        }),
        json!({
            "name": "add",
            "description": "Adds two numbers a and b.",
            "inputSchema": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"],
            },
        }),
    ];
    if let Some((tool, scope)) = &shared.config.extra_scope_tool {
        list.push(json!({
            "name": tool,
            "description": format!("Returns its text argument; needs scope {scope}."),
            "inputSchema": text_schema,
        }));
    }
    if shared.config.modern_feature_tools {
        list.extend(modern::feature_tools());
    }
    if shared.config.interactive_tools {
        list.push(interact::tool());
    }
    if shared.config.bearer_layer {
        list.push(json!({
            "name": "upstream_echo",
            "description": "Returns its text argument after calling an upstream API with a token derived from the caller's; when that upstream token has expired, the server answers HTTP 401 so the caller renews its token.",
            "inputSchema": text_schema,
        }));
    }
    json!({"tools": list})
}

pub(crate) fn text_result(text: String, is_error: bool) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": is_error})
}

fn add(args: &Value) -> Value {
    match (args.get("a"), args.get("b")) {
        (Some(Value::Number(a)), Some(Value::Number(b))) => {
            if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
                if let Some(sum) = x.checked_add(y) {
                    return text_result(sum.to_string(), false);
                }
            }
            match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => text_result((x + y).to_string(), false),
                _ => text_result("a and b must be numbers".into(), true),
            }
        }
        _ => text_result("arguments a and b must both be numbers".into(), true),
    }
}

fn echo(args: &Value) -> Value {
    match args.get("text") {
        Some(Value::String(s)) => text_result(s.clone(), false),
        _ => text_result("argument text must be a string".into(), true),
    }
}

/// `upstream_echo`: the simulated upstream call with a token derived from the caller's.
/// When that upstream token expired, the bearer layer is told (it answers `401
/// invalid_token` instead of this response); without the layer, or too late, the tool
/// can only fail in-band.
fn upstream_echo(
    shared: &Shared,
    info: &AccessInfo,
    args: &Value,
    signal: Option<&AuthSignal>,
) -> Value {
    if !info.upstream_expired {
        return echo(args);
    }
    bump(&shared.counters.upstream_expired);
    match signal.map(AuthSignal::upstream_token_expired) {
        Some(Signalled::Accepted) => text_result(
            "the upstream token expired (answered as HTTP 401)".into(),
            true,
        ),
        Some(Signalled::TooLate) | None => text_result(
            "the upstream token expired; renew your access token and retry".into(),
            true,
        ),
    }
}

/// Run `tools/call`. `Err` is an HTTP-level answer (403 insufficient scope).
pub(crate) fn call_tool(
    shared: &Shared,
    info: &AccessInfo,
    id: &Value,
    params: &Value,
    signal: Option<&AuthSignal>,
) -> Result<Value, Reply> {
    let name = params.get("name").and_then(Value::as_str).unwrap_or("");
    let empty = json!({});
    let args = params.get("arguments").unwrap_or(&empty);
    let result = match name {
        "echo" => echo(args),
        "add" => add(args),
        "upstream_echo" if shared.config.bearer_layer => upstream_echo(shared, info, args, signal),
        "echo_region" if shared.config.modern_feature_tools => modern::echo_region(args),
        "confirm" if shared.config.modern_feature_tools => text_result(
            "confirm asks for input through MRTR, which this testbed offers on the 2026-07-28 wire only"
                .into(),
            true,
        ),
        other => match &shared.config.extra_scope_tool {
            Some((tool, scope)) if tool == other => {
                if !info.scope.iter().any(|s| s == scope) {
                    bump(&shared.counters.forbidden);
                    // MCP "Scope Challenge Handling", recommended approach: the granted
                    // scopes plus the newly required one, so nothing is lost on step-up.
                    let mut needed = info.scope.clone();
                    needed.push(scope.clone());
                    return Err(challenge_reply(
                        shared,
                        StatusCode::FORBIDDEN,
                        Some(BearerError::InsufficientScope),
                        Some(format!("The tool {tool} requires scope {scope}")),
                        Some(needed.join(" ")),
                    ));
                }
                echo(args)
            }
            _ => {
                return Ok(json!({
                    "jsonrpc": "2.0", "id": id,
                    "error": {"code": -32602, "message": format!("Unknown tool: {name}")},
                }))
            }
        },
    };
    bump(&shared.counters.tool_calls);
    Ok(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

pub(crate) fn initialize_result(params: &Value) -> Value {
    let requested = params.get("protocolVersion").and_then(Value::as_str);
    // Lifecycle "Version Negotiation": echo a supported version, else offer the latest.
    let version = requested
        .filter(|v| PROTOCOL_VERSIONS.contains(v))
        // Indexing a non-empty const array: checked at compile time.
        .unwrap_or(PROTOCOL_VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {}},
        "serverInfo": {"name": "bearerflow-testbed", "version": env!("CARGO_PKG_VERSION")},
        "instructions": "A loopback test server: echo returns text, add sums a and b.",
    })
}

/// The MCP endpoint. Order of checks: `Origin`, bearer token, HTTP method,
/// `Content-Type`, `Accept`, body; then the wire: a modern request (2026-07-28) goes to
/// [`modern::handle`], a legacy one is checked for its protocol version header and
/// session, then the JSON-RPC method runs.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    method: &Method,
    headers: &HeaderMap,
    body: Bytes,
    signal: Option<&AuthSignal>,
) -> Response {
    bump(&shared.counters.mcp_requests);
    if let Some(origin) = header_str(headers, &header::ORIGIN) {
        if !loopback_origin(origin) {
            return jsonrpc_error(
                StatusCode::FORBIDDEN,
                Value::Null,
                -32600,
                "Origin not allowed",
            )
            .finish();
        }
    }
    let info = match authenticate(shared, headers) {
        Ok(info) => info,
        Err(reply) => return reply.finish(),
    };
    let session = header_str(headers, &SESSION_ID);
    if method == Method::DELETE && shared.config.wires.legacy() {
        return match session {
            None => jsonrpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32600,
                "Mcp-Session-Id is missing",
            )
            .finish(),
            Some(s) if shared.store().remove_session(s) => {
                Reply::new(StatusCode::NO_CONTENT).finish()
            }
            Some(_) => jsonrpc_error(
                StatusCode::NOT_FOUND,
                Value::Null,
                -32600,
                "Unknown session",
            )
            .finish(),
        };
    }
    if method != Method::POST {
        // No server-initiated stream is offered (2025-11-25 transports, "Listening for
        // Messages"); 2026-07-28 has none at all, nor sessions to DELETE.
        let allow = if shared.config.wires.legacy() {
            "POST, DELETE"
        } else {
            "POST"
        };
        return method_not_allowed(allow).finish();
    }
    if let Some(ct) = header_str(headers, &header::CONTENT_TYPE) {
        let base = ct.split(';').next().unwrap_or("").trim();
        if !base.eq_ignore_ascii_case("application/json") {
            return jsonrpc_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Value::Null,
                -32600,
                "Content-Type must be application/json",
            )
            .finish();
        }
    }
    let Some(framing) = framing(shared, headers) else {
        return jsonrpc_error(
            StatusCode::NOT_ACCEPTABLE,
            Value::Null,
            -32600,
            "Accept must list application/json or text/event-stream",
        )
        .finish();
    };
    let message: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32700,
                &format!("Parse error: {e}"),
            )
            .finish()
        }
    };
    let Value::Object(obj) = &message else {
        let why = if message.is_array() {
            "Batches are not supported (removed in 2025-06-18)"
        } else {
            "The body must be a JSON-RPC object"
        };
        return jsonrpc_error(StatusCode::BAD_REQUEST, Value::Null, -32600, why).finish();
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return jsonrpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32600,
            "jsonrpc must be \"2.0\"",
        )
        .finish();
    }
    let modern = match shared.config.wires {
        Wires::Modern => true,
        Wires::Legacy => false,
        Wires::Both => modern::is_modern(headers, obj),
    };
    if modern {
        return modern::handle(shared, &info, headers, obj, framing, signal);
    }
    // Legacy: an MCP-Protocol-Version header, when sent, must name a version this
    // server negotiates (2025-11-25 transports, "Protocol Version Header"). A modern
    // version here is refused the way a 2025-11-25 server refuses it: 400 without a
    // modern error in the body.
    if let Some(v) = headers.get(&PROTOCOL_VERSION) {
        let known = v.to_str().is_ok_and(|v| PROTOCOL_VERSIONS.contains(&v));
        if !known {
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32600,
                "Unsupported MCP-Protocol-Version",
            )
            .finish();
        }
    }
    let rpc_method = obj.get("method").and_then(Value::as_str);
    let is_initialize = rpc_method == Some("initialize");
    if !is_initialize {
        match session {
            None if shared.config.require_session => {
                return jsonrpc_error(
                    StatusCode::BAD_REQUEST,
                    Value::Null,
                    -32600,
                    "Mcp-Session-Id is missing",
                )
                .finish()
            }
            Some(s) if !shared.store().has_session(s) => {
                return jsonrpc_error(
                    StatusCode::NOT_FOUND,
                    Value::Null,
                    -32600,
                    "Unknown session",
                )
                .finish()
            }
            _ => {}
        }
    }
    let id = obj.get("id").cloned();
    let (Some(rpc_method), Some(id)) = (rpc_method, id) else {
        // A notification or a response: accepted, no body. A response may answer a
        // request `interact` sent; a notification is counted.
        match rpc_method {
            Some(m) => interact::client_notification(shared, m),
            None => interact::client_response(shared, obj),
        }
        return Reply::new(StatusCode::ACCEPTED).finish();
    };
    let params = obj.get("params").cloned().unwrap_or_else(|| json!({}));
    let ok = |result: Value| json!({"jsonrpc": "2.0", "id": id, "result": result});
    match rpc_method {
        "initialize" => {
            let Some(sid) = random_token("bfs_") else {
                return jsonrpc_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    id,
                    -32603,
                    "no randomness",
                )
                .finish();
            };
            shared.store().add_session(sid.clone());
            bump(&shared.counters.initializations);
            respond(
                framing,
                &ok(initialize_result(&params)),
                Some((SESSION_ID.clone(), sid)),
            )
        }
        "ping" => respond(framing, &ok(json!({})), None),
        "tools/list" => respond(framing, &ok(tools(shared)), None),
        "tools/call"
            if shared.config.interactive_tools
                && params.get("name").and_then(Value::as_str) == Some(interact::TOOL) =>
        {
            interact::legacy_call(shared, id, &params, accepts_sse(headers))
        }
        "tools/call" => match call_tool(shared, &info, &id, &params, signal) {
            Ok(msg) => respond(framing, &msg, None),
            Err(reply) => reply.finish(),
        },
        other => respond(
            framing,
            &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("Method not found: {other}")}}),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_handles_integers_floats_and_garbage() {
        assert_eq!(add(&json!({"a": 2, "b": 3}))["content"][0]["text"], "5");
        assert_eq!(add(&json!({"a": 0.5, "b": 1}))["content"][0]["text"], "1.5");
        assert_eq!(add(&json!({"a": i64::MAX, "b": 1}))["isError"], false);
        assert_eq!(add(&json!({"a": "2", "b": 3}))["isError"], true);
        assert_eq!(add(&json!({}))["isError"], true);
    }

    #[test]
    fn echo_needs_text() {
        assert_eq!(echo(&json!({"text": "hi"}))["content"][0]["text"], "hi");
        assert_eq!(echo(&json!({"text": 1}))["isError"], true);
    }

    #[test]
    fn version_negotiation() {
        assert_eq!(
            initialize_result(&json!({"protocolVersion": "2025-06-18"}))["protocolVersion"],
            "2025-06-18"
        );
        assert_eq!(
            initialize_result(&json!({"protocolVersion": "1999-01-01"}))["protocolVersion"],
            "2025-11-25"
        );
        assert_eq!(
            initialize_result(&json!({}))["protocolVersion"],
            "2025-11-25"
        );
    }
}
