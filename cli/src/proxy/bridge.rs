//! The stdio bridge: a local MCP client talks to `bearerflow proxy` as to a local
//! stdio server (one JSON-RPC message per line, MCP stdio transport), and every
//! message goes on to the remote server over Streamable HTTP with a live credential.
//!
//! What crosses, and how:
//!
//! - **Requests** from the local client run concurrently, each its own `POST`; every
//!   message the server sends on that request's stream (notifications, and on the
//!   2025-11-25 wire requests such as `elicitation/create`) reaches the local client in
//!   the server's order, then the response, with the local client's own `id`.
//! - **Notifications and responses** from the local client are forwarded in the order
//!   they were read, each sent before the next line is read.
//! - **Both wires toward the server, whatever the local client speaks.** A 2025-11-25
//!   client (`initialize`) in front of a 2026-07-28 server: `initialize` is answered
//!   from `server/discover`; its capabilities and identity go into every request's
//!   `_meta` with the modern headers; an `input_required` result (MRTR) becomes
//!   requests to the local client (`elicitation/create`, `sampling/createMessage`,
//!   `roots/list`) whose answers go back as `inputResponses` with the exact
//!   `requestState`; `notifications/cancelled` closes the request's stream (2026-07-28
//!   "Cancellation"); `ping` is answered here. A 2026-07-28 client in front of a legacy
//!   server: `server/discover` is answered from `initialize`, and `_meta`'s protocol
//!   fields are left off. Same-era pairs pass through.
//! - **Bad input** is answered, never fatal: a line that is not JSON gets `-32700`, a
//!   message that is not JSON-RPC `-32600` (with its `id` when it has one), a line
//!   over [`MAX_LINE`] `-32600`; the bridge reads on. What the server could not do is a
//!   JSON-RPC error too (see [`super::upstream::codes`]).

use super::log::Log;
use super::upstream::{
    add_modern_meta, discover_result_from_initialize, initialize_result_from_discover,
    meta_version, strip_modern_meta, Remote, Upstream, UpstreamError,
};
use bearerflow_async::mcp::{
    LEGACY_VERSIONS, MAX_INPUT_ROUNDS, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, MODERN_VERSIONS,
};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// The longest line the bridge reads (the policy's default `max_resource_body`); a
/// longer one is answered with `-32600` and skipped.
pub(crate) const MAX_LINE: usize = 16 << 20;

/// JSON-RPC 2.0 §5.1 codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;

/// The legacy protocol versions a local client may ask for in `initialize` (stdio
/// messages are the same in each).
const LOCAL_LEGACY_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the local client said about itself.
#[derive(Debug, Clone, Default)]
struct Local {
    capabilities: Value,
    client_info: Value,
    /// It speaks 2026-07-28 (per-request `_meta`) rather than `initialize`.
    modern: bool,
}

/// One line's message, classified (JSON-RPC 2.0 §4, §5).
#[derive(Debug, PartialEq)]
enum Kind {
    Request { id: Value, method: String },
    Notification { method: String },
    Response { id: Value },
    Invalid { id: Value, why: &'static str },
}

fn valid_id(id: &Value) -> bool {
    id.is_string() || id.as_i64().is_some() || id.as_u64().is_some()
}

fn classify(message: &Value) -> Kind {
    let Some(obj) = message.as_object() else {
        let why = if message.is_array() {
            "batches are not supported (removed in MCP 2025-06-18): send one message per line"
        } else {
            "a JSON-RPC message must be an object"
        };
        return Kind::Invalid {
            id: Value::Null,
            why,
        };
    };
    let id = obj.get("id").cloned();
    let reply_id = id.clone().filter(valid_id).unwrap_or(Value::Null);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Kind::Invalid {
            id: reply_id,
            why: "jsonrpc must be \"2.0\"",
        };
    }
    match (obj.get("method"), id) {
        (Some(Value::String(m)), Some(id)) if valid_id(&id) => Kind::Request {
            id,
            method: m.clone(),
        },
        (Some(Value::String(_)), Some(_)) => Kind::Invalid {
            id: Value::Null,
            why: "id must be a string or an integer",
        },
        (Some(Value::String(m)), None) => Kind::Notification { method: m.clone() },
        (Some(_), _) => Kind::Invalid {
            id: reply_id,
            why: "method must be a string",
        },
        (None, Some(id))
            if valid_id(&id) && (obj.contains_key("result") ^ obj.contains_key("error")) =>
        {
            Kind::Response { id }
        }
        (None, _) => Kind::Invalid {
            id: reply_id,
            why: "neither a request, a notification nor a response",
        },
    }
}

/// Whether `name` matches an `--ignore-tool` pattern (`*` matches any run).
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.len() >= part.len() && rest.ends_with(part);
        } else if let Some(at) = rest.find(part) {
            rest = &rest[at + part.len()..];
        } else {
            return false;
        }
    }
    true
}

fn ok(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error(id: &Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

fn error_obj(id: &Value, e: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": e})
}

/// `input_required` (MRTR): the requests to ask and the state to echo.
type InputRequired = (Vec<(String, String, Value)>, Option<String>);

/// Read an `input_required` result (2026-07-28 "Multi Round-Trip Requests");
/// `Ok(None)` for any other answer.
fn input_required(answer: &Value) -> Result<Option<InputRequired>, String> {
    let Some(result) = answer.get("result") else {
        return Ok(None);
    };
    if result.get("resultType").and_then(Value::as_str) != Some("input_required") {
        return Ok(None);
    }
    let mut requests = Vec::new();
    match result.get("inputRequests") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, request) in map {
                let method = request
                    .get("method")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("input request {key:?} has no method"))?;
                let params = request.get("params").cloned().unwrap_or_else(|| json!({}));
                requests.push((key.clone(), method.to_string(), params));
            }
        }
        Some(_) => return Err("inputRequests is not an object".into()),
    }
    let state = match result.get("requestState") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("requestState is not a string".into()),
    };
    if requests.is_empty() && state.is_none() {
        return Err("input_required with neither inputRequests nor requestState".into());
    }
    Ok(Some((requests, state)))
}

/// The bridge's state; shared by the reading loop and the request tasks.
pub(crate) struct Bridge {
    up: Arc<Upstream>,
    out: mpsc::UnboundedSender<Value>,
    log: Log,
    local: Mutex<Local>,
    /// Requests the bridge sent the local client (MRTR translation), by id.
    asked: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    /// The local client's requests in progress, by id, for cancellation.
    inflight: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    next_id: AtomicU64,
    ignore: Vec<String>,
    listening: AtomicBool,
}

impl Bridge {
    pub(crate) fn new(
        up: Arc<Upstream>,
        out: mpsc::UnboundedSender<Value>,
        ignore: Vec<String>,
    ) -> Arc<Bridge> {
        let log = up.log;
        Arc::new(Bridge {
            up,
            out,
            log,
            local: Mutex::new(Local::default()),
            asked: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            ignore,
            listening: AtomicBool::new(false),
        })
    }

    fn send(&self, message: Value) {
        // A closed channel means stdout is gone: the process is ending.
        let _ = self.out.send(message);
    }

    fn local(&self) -> Local {
        lock(&self.local).clone()
    }

    /// Read lines until end of input; every line is answered or forwarded.
    pub(crate) async fn run(self: &Arc<Self>, mut input: impl AsyncBufRead + Unpin) {
        let mut line = Vec::new();
        loop {
            line.clear();
            match read_line(&mut input, &mut line, MAX_LINE).await {
                Ok(Line::Eof) => break,
                Ok(Line::TooLong) => {
                    self.log.warn(format_args!(
                        "a message longer than {MAX_LINE} bytes was refused"
                    ));
                    self.send(error(
                        &Value::Null,
                        INVALID_REQUEST,
                        format!("the message is longer than {MAX_LINE} bytes"),
                    ));
                }
                Ok(Line::Complete) => self.handle_line(&line).await,
                Err(e) => {
                    self.log.error(format_args!("reading standard input: {e}"));
                    break;
                }
            }
        }
        for (_, task) in lock(&self.inflight).drain() {
            task.abort();
        }
        self.up.close().await;
    }

    async fn handle_line(self: &Arc<Self>, line: &[u8]) {
        let Ok(text) = std::str::from_utf8(line) else {
            self.send(error(
                &Value::Null,
                PARSE_ERROR,
                "Parse error: the line is not UTF-8",
            ));
            return;
        };
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let message: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                self.log
                    .warn(format_args!("a line that is not JSON was refused: {e}"));
                self.send(error(
                    &Value::Null,
                    PARSE_ERROR,
                    format!("Parse error: {e}"),
                ));
                return;
            }
        };
        match classify(&message) {
            Kind::Invalid { id, why } => {
                self.log
                    .warn(format_args!("an invalid message was refused: {why}"));
                self.send(error(
                    &id,
                    INVALID_REQUEST,
                    format!("Invalid Request: {why}"),
                ));
            }
            Kind::Request { id, method } => self.spawn_request(message, id, method),
            Kind::Notification { method } => self.notification(message, &method).await,
            Kind::Response { id } => self.response(message, &id).await,
        }
    }

    fn spawn_request(self: &Arc<Self>, message: Value, id: Value, method: String) {
        let key = id.to_string();
        let this = Arc::clone(self);
        let mut inflight = lock(&self.inflight);
        if inflight.contains_key(&key) {
            self.log.warn(format_args!(
                "request id {key} is already in progress; ids must be unique"
            ));
        }
        let task_key = key.clone();
        let task = tokio::spawn(async move {
            let answer = this.request(message, &id, &method).await;
            lock(&this.inflight).remove(&task_key);
            this.send(answer);
        });
        inflight.insert(key, task.abort_handle());
    }

    /// The answer to one local request.
    async fn request(self: &Arc<Self>, message: Value, id: &Value, method: &str) -> Value {
        let modern_local = meta_version(message.get("params"))
            .is_some_and(|v| MODERN_VERSIONS.contains(&v.as_str()));
        if modern_local {
            let meta = message.get("params").and_then(|p| p.get("_meta"));
            let mut local = lock(&self.local);
            local.modern = true;
            if let Some(c) = meta.and_then(|m| m.get(META_CLIENT_CAPABILITIES)) {
                local.capabilities = c.clone();
            }
            if let Some(i) = meta.and_then(|m| m.get(META_CLIENT_INFO)) {
                local.client_info = i.clone();
            }
        }
        if method == "tools/call" {
            let name = message
                .get("params")
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if self.ignore.iter().any(|p| glob_match(p, name)) {
                return error(
                    id,
                    INVALID_PARAMS,
                    format!("Tool {name} is not available through this proxy (--ignore-tool)"),
                );
            }
        }
        match method {
            "initialize" => self.initialize(&message, id).await,
            "server/discover" => self.discover(id).await,
            "ping" if !modern_local && matches!(self.up.remote(), Remote::Modern { .. }) => {
                ok(id, json!({}))
            }
            _ => self.forward(message, id, method, modern_local).await,
        }
    }

    /// A 2025-11-25 client's `initialize`: choose the wire and answer from what the
    /// server said.
    async fn initialize(self: &Arc<Self>, message: &Value, id: &Value) -> Value {
        let params = message.get("params").cloned().unwrap_or_else(|| json!({}));
        let capabilities = params
            .get("capabilities")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let client_info = params
            .get("clientInfo")
            .cloned()
            .unwrap_or_else(|| json!({"name": "unknown", "version": "0"}));
        {
            let mut local = lock(&self.local);
            local.capabilities = capabilities.clone();
            local.client_info = client_info.clone();
            local.modern = false;
        }
        let requested = params.get("protocolVersion").and_then(Value::as_str);
        let local_version = requested
            .filter(|v| LOCAL_LEGACY_VERSIONS.contains(v))
            .unwrap_or(LEGACY_VERSIONS[0])
            .to_string();
        let this = Arc::clone(self);
        let outcome = self
            .up
            .connect(&capabilities, &client_info, Some(&params), &mut |m| {
                this.server_message(m, false)
            })
            .await;
        match (outcome, self.up.remote()) {
            (Ok(result), Remote::Modern { .. }) => {
                ok(id, initialize_result_from_discover(&result, &local_version))
            }
            (Ok(result), _) => {
                self.start_listening();
                ok(id, result)
            }
            (Err(e), _) => self.failed(id, "initialize", e),
        }
    }

    /// A 2026-07-28 client's `server/discover`: choose the wire and answer from what
    /// the server said.
    async fn discover(self: &Arc<Self>, id: &Value) -> Value {
        let local = self.local();
        let this = Arc::clone(self);
        let outcome = self
            .up
            .connect(&local.capabilities, &local.client_info, None, &mut |m| {
                this.server_message(m, true)
            })
            .await;
        match (outcome, self.up.remote()) {
            (Ok(result), Remote::Modern { .. }) => ok(id, result),
            (Ok(result), _) => {
                self.start_listening();
                ok(id, discover_result_from_initialize(&result))
            }
            (Err(e), _) => self.failed(id, "server/discover", e),
        }
    }

    fn failed(&self, id: &Value, what: &str, e: UpstreamError) -> Value {
        let rpc = e.to_rpc();
        self.log.warn(format_args!(
            "{what} failed: {}",
            rpc.get("message").and_then(Value::as_str).unwrap_or("")
        ));
        error_obj(id, rpc)
    }

    /// A message the server sent on a request's stream (or the standalone stream):
    /// to the local client, except a server request to a 2026-07-28 local client,
    /// which stdio cannot carry (the server is told so).
    fn server_message(self: &Arc<Self>, message: Value, modern_local: bool) {
        let is_request = message.get("method").is_some() && message.get("id").is_some();
        if is_request && modern_local {
            let method = message
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            self.log.warn(format_args!(
                "the server sent a {method} request, which a 2026-07-28 local client cannot receive over stdio; declined"
            ));
            let answer = error(
                message.get("id").unwrap_or(&Value::Null),
                -32601,
                format!("bearerflow proxy: the local client speaks MCP 2026-07-28, where stdio carries no server requests ({method})"),
            );
            let up = Arc::clone(&self.up);
            tokio::spawn(async move {
                if let Err(e) = up.post(&answer, up.legacy_headers()).await {
                    up.log.warn(format_args!(
                        "declining a server request: {}",
                        e.to_rpc()["message"]
                    ));
                }
            });
            return;
        }
        self.send(message);
    }

    /// The legacy server's standalone stream, once per process (it follows the
    /// session through re-initializations; a server without one says so once).
    fn start_listening(self: &Arc<Self>) {
        if self.listening.swap(true, Ordering::SeqCst) {
            return;
        }
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let up = Arc::clone(&this.up);
            let deliver = |m: Value| {
                let modern = lock(&this.local).modern;
                this.server_message(m, modern);
            };
            up.listen(&deliver).await;
        });
    }

    async fn forward(
        self: &Arc<Self>,
        message: Value,
        id: &Value,
        method: &str,
        modern_local: bool,
    ) -> Value {
        let local = self.local();
        let remote = match self
            .up
            .ensure_connected(&local.capabilities, &local.client_info)
            .await
        {
            Ok(r) => r,
            Err(e) => return self.failed(id, method, e),
        };
        if matches!(remote, Remote::Legacy { .. }) {
            self.start_listening();
        }
        let answer = match remote {
            Remote::Modern { version } => {
                self.forward_modern(message, id, modern_local, &version, &local)
                    .await
            }
            _ => self.forward_legacy(message, id, modern_local).await,
        };
        match answer {
            Ok(answer) => self.finish(answer, id, method, modern_local),
            Err(e) => self.failed(id, method, e),
        }
    }

    async fn forward_legacy(
        self: &Arc<Self>,
        mut message: Value,
        id: &Value,
        modern_local: bool,
    ) -> Result<Value, UpstreamError> {
        if modern_local {
            strip_modern_meta(&mut message);
        }
        let mut renewed = false;
        loop {
            let headers = self.up.legacy_headers();
            match self.up.post(&message, headers.clone()).await {
                Err(UpstreamError::SessionExpired) if !renewed => {
                    renewed = true;
                    self.up.reinitialize(&headers).await?;
                }
                Err(e) => return Err(e),
                Ok(mut incoming) => {
                    let this = Arc::clone(self);
                    return self
                        .up
                        .response_to(&mut incoming, id, &mut |m| {
                            this.server_message(m, modern_local)
                        })
                        .await;
                }
            }
        }
    }

    async fn forward_modern(
        self: &Arc<Self>,
        message: Value,
        id: &Value,
        modern_local: bool,
        version: &str,
        local: &Local,
    ) -> Result<Value, UpstreamError> {
        let original = message.get("params").cloned().unwrap_or_else(|| json!({}));
        let mut current = message;
        if !modern_local {
            add_modern_meta(
                &mut current,
                version,
                &local.capabilities,
                &local.client_info,
            );
        }
        let mut upstream_id = id.clone();
        let mut rounds = 0;
        loop {
            current["id"] = upstream_id.clone();
            let headers = self.up.modern_headers_for(&current)?;
            let mut incoming = self.up.post(&current, headers).await?;
            let this = Arc::clone(self);
            let answer = self
                .up
                .response_to(&mut incoming, &upstream_id, &mut |m| {
                    this.server_message(m, modern_local)
                })
                .await?;
            if modern_local {
                return Ok(answer);
            }
            let (requests, state) = match input_required(&answer) {
                Ok(None) => return Ok(answer),
                Ok(Some(r)) => r,
                Err(why) => return Err(UpstreamError::BadAnswer(why)),
            };
            rounds += 1;
            if rounds > MAX_INPUT_ROUNDS {
                return Err(UpstreamError::BadAnswer(format!(
                    "the server still asks for input after {MAX_INPUT_ROUNDS} rounds"
                )));
            }
            let responses = match self.ask_local(requests).await {
                Ok(r) => r,
                Err(e) => return Ok(error_obj(id, e)),
            };
            let mut params = match &original {
                Value::Object(m) => m.clone(),
                _ => Map::new(),
            };
            params.remove("inputResponses");
            params.remove("requestState");
            if !responses.is_empty() {
                params.insert("inputResponses".into(), Value::Object(responses));
            }
            if let Some(s) = state {
                params.insert("requestState".into(), Value::String(s));
            }
            current["params"] = Value::Object(params);
            add_modern_meta(
                &mut current,
                version,
                &local.capabilities,
                &local.client_info,
            );
            upstream_id = json!(format!(
                "bearerflow-retry-{}",
                self.next_id.fetch_add(1, Ordering::Relaxed)
            ));
        }
    }

    /// Ask the local client each input request (MRTR → server-to-client requests of
    /// the 2025-11-25 wire), one after the other; `Err` is the JSON-RPC error to fail
    /// the original request with.
    async fn ask_local(
        &self,
        requests: Vec<(String, String, Value)>,
    ) -> Result<Map<String, Value>, Value> {
        let mut responses = Map::new();
        for (key, method, params) in requests {
            let pid = json!(format!(
                "bearerflow-{}",
                self.next_id.fetch_add(1, Ordering::Relaxed)
            ));
            let (tx, rx) = oneshot::channel();
            lock(&self.asked).insert(pid.to_string(), tx);
            self.send(json!({"jsonrpc": "2.0", "id": pid, "method": method, "params": params}));
            let Ok(answer) = rx.await else {
                return Err(json!({"code": INTERNAL_ERROR,
                    "message": format!("bearerflow proxy: no answer to {method}")}));
            };
            match (answer.get("result"), answer.get("error")) {
                (Some(r), _) => {
                    responses.insert(key, r.clone());
                }
                (None, e) => {
                    let message = e
                        .and_then(|e| e.get("message"))
                        .and_then(Value::as_str)
                        .unwrap_or("no message");
                    return Err(json!({"code": INTERNAL_ERROR,
                        "message": format!("the client answered the server's {method} with an error: {message}"),
                        "data": {"error": e}}));
                }
            }
        }
        Ok(responses)
    }

    /// The answer as the local client gets it: its own id; a legacy client does not
    /// see `resultType: "complete"`; `tools/list` without ignored tools (and, from a
    /// modern server, without tools whose `x-mcp-header` annotations are invalid).
    fn finish(&self, mut answer: Value, id: &Value, method: &str, modern_local: bool) -> Value {
        answer["id"] = id.clone();
        answer["jsonrpc"] = json!("2.0");
        let remote_modern = matches!(self.up.remote(), Remote::Modern { .. });
        if let Some(result) = answer.get_mut("result") {
            if method == "tools/list" {
                if remote_modern {
                    self.up.keep_tools(result);
                }
                if let Some(tools) = result.get_mut("tools").and_then(Value::as_array_mut) {
                    tools.retain(|t| {
                        let name = t.get("name").and_then(Value::as_str).unwrap_or("");
                        !self.ignore.iter().any(|p| glob_match(p, name))
                    });
                }
            }
            if remote_modern && !modern_local {
                if let Some(obj) = result.as_object_mut() {
                    if obj.get("resultType").and_then(Value::as_str) == Some("complete") {
                        obj.remove("resultType");
                    }
                }
            }
        }
        answer
    }

    /// A notification from the local client, forwarded before the next line is read.
    async fn notification(self: &Arc<Self>, mut message: Value, method: &str) {
        let local = self.local();
        // Wait for a connection in progress (the local client's `initialize`): what
        // happens to the notification depends on the wire.
        let remote = match self
            .up
            .ensure_connected(&local.capabilities, &local.client_info)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.log.warn(format_args!(
                    "the {method} notification could not be delivered: {}",
                    e.to_rpc()["message"]
                ));
                return;
            }
        };
        let modern_remote = matches!(remote, Remote::Modern { .. });
        match method {
            "notifications/initialized" if modern_remote => {
                self.log.debug(format_args!(
                    "notifications/initialized is not sent to a 2026-07-28 server"
                ));
                return;
            }
            "notifications/cancelled" => {
                let target = message
                    .get("params")
                    .and_then(|p| p.get("requestId"))
                    .map(Value::to_string);
                if let Some(task) = target.and_then(|k| lock(&self.inflight).remove(&k)) {
                    task.abort();
                    self.log
                        .debug(format_args!("a request was cancelled by the client"));
                }
                if modern_remote {
                    // 2026-07-28 Streamable HTTP: closing the request's stream is the
                    // cancellation; no notification is expected.
                    return;
                }
            }
            _ => {}
        }
        let outcome = match remote {
            Remote::Modern { version } => {
                if !local.modern {
                    add_modern_meta(
                        &mut message,
                        &version,
                        &local.capabilities,
                        &local.client_info,
                    );
                }
                match self.up.modern_headers_for(&message) {
                    Ok(h) => self.up.post(&message, h).await.map(|_| ()),
                    Err(e) => Err(e),
                }
            }
            _ => {
                if local.modern {
                    strip_modern_meta(&mut message);
                }
                self.up
                    .post(&message, self.up.legacy_headers())
                    .await
                    .map(|_| ())
            }
        };
        if let Err(e) = outcome {
            self.log.warn(format_args!(
                "the server did not take the {method} notification: {}",
                e.to_rpc()["message"]
            ));
        }
    }

    /// A response from the local client: to the bridge's own question, or on to a
    /// legacy server that asked.
    async fn response(self: &Arc<Self>, message: Value, id: &Value) {
        if let Some(tx) = lock(&self.asked).remove(&id.to_string()) {
            let _ = tx.send(message);
            return;
        }
        match self.up.remote() {
            Remote::Legacy { .. } => {
                if let Err(e) = self.up.post(&message, self.up.legacy_headers()).await {
                    self.log.warn(format_args!(
                        "the server did not take the response to its request {id}: {}",
                        e.to_rpc()["message"]
                    ));
                }
            }
            _ => self.log.warn(format_args!(
                "a response to request {id}, which nobody sent the client, was dropped"
            )),
        }
    }
}

/// How one read of a line ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    Complete,
    TooLong,
    Eof,
}

/// Read one `\n`-terminated line into `buf` (without the terminator), holding at most
/// `max` bytes: a longer line is consumed to its end and reported as
/// [`Line::TooLong`]. A last line without a terminator counts.
pub(crate) async fn read_line(
    input: &mut (impl AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (any, too_long) {
                (false, _) => Line::Eof,
                (true, true) => Line::TooLong,
                (true, false) => Line::Complete,
            });
        }
        any = true;
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(available.len());
        input.consume(used);
        if done.is_some() {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

/// Write every message as one line on `output`, in order, until the channel closes.
pub(crate) async fn write_lines(
    mut rx: mpsc::UnboundedReceiver<Value>,
    mut output: impl AsyncWrite + Unpin,
    log: Log,
) {
    while let Some(message) = rx.recv().await {
        if message.is_null() {
            break;
        }
        // serde_json escapes every control character in strings: one line per message.
        let mut line = message.to_string();
        line.push('\n');
        if let Err(e) = output.write_all(line.as_bytes()).await {
            log.error(format_args!("writing standard output: {e}"));
            return;
        }
        if rx.is_empty() {
            if let Err(e) = output.flush().await {
                log.error(format_args!("writing standard output: {e}"));
                return;
            }
        }
    }
    let _ = output.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_classified() {
        let c = |s: &str| classify(&serde_json::from_str(s).unwrap());
        assert_eq!(
            c(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
            Kind::Request {
                id: json!(1),
                method: "tools/list".into()
            }
        );
        assert_eq!(
            c(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Kind::Notification {
                method: "notifications/initialized".into()
            }
        );
        assert_eq!(
            c(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
            Kind::Response { id: json!("a") }
        );
        for bad in [
            r#"[{"jsonrpc":"2.0","id":1,"method":"x"}]"#,
            r#"{"id":1,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{}}"#,
            r#""text""#,
        ] {
            assert!(matches!(c(bad), Kind::Invalid { .. }), "{bad}");
        }
        // The reply to an invalid message keeps a usable id.
        assert_eq!(
            c(r#"{"jsonrpc":"1.0","id":7,"method":"x"}"#),
            Kind::Invalid {
                id: json!(7),
                why: "jsonrpc must be \"2.0\""
            }
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match("delete*", "deleteTask"));
        assert!(glob_match("*account", "getAccount".to_lowercase().as_str()));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("*", "anything"));
    }

    #[test]
    fn input_required_results_are_read() {
        let answer = json!({"result": {"resultType": "input_required",
            "inputRequests": {"k": {"method": "elicitation/create", "params": {"m": 1}}},
            "requestState": "s"}});
        let (requests, state) = input_required(&answer).unwrap().unwrap();
        assert_eq!(requests[0].0, "k");
        assert_eq!(requests[0].1, "elicitation/create");
        assert_eq!(state.as_deref(), Some("s"));
        assert!(input_required(&json!({"result": {"content": []}}))
            .unwrap()
            .is_none());
        assert!(input_required(&json!({"result": {"resultType": "input_required"}})).is_err());
        assert!(input_required(
            &json!({"result": {"resultType": "input_required", "inputRequests": []}})
        )
        .is_err());
    }

    #[tokio::test]
    async fn lines_are_bounded() {
        let data: &[u8] = b"short\n0123456789abc\nlast";
        let mut input = tokio::io::BufReader::with_capacity(4, data);
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut input, &mut buf, 10).await.unwrap(),
            Line::Complete
        );
        assert_eq!(buf, b"short");
        buf.clear();
        assert_eq!(
            read_line(&mut input, &mut buf, 10).await.unwrap(),
            Line::TooLong
        );
        buf.clear();
        assert_eq!(
            read_line(&mut input, &mut buf, 10).await.unwrap(),
            Line::Complete
        );
        assert_eq!(buf, b"last");
        buf.clear();
        assert_eq!(
            read_line(&mut input, &mut buf, 10).await.unwrap(),
            Line::Eof
        );
    }
}
