//! Toward the remote server: every JSON-RPC message is its own `POST` to the MCP
//! endpoint through a bearerflow [`Client`] (so it carries a live credential, waits
//! during a refresh, and is retried once after a `401`), and what comes back (a JSON
//! body or an SSE stream of messages) is handed out message by message, in order.
//!
//! The wire toward the server is chosen the way MCP 2026-07-28 "Versioning and
//! Compatibility" tells a client speaking both to choose (Streamable HTTP "Backward
//! Compatibility"): `server/discover` on the modern (stateless) wire first; a `400`,
//! `404` or `405` without a recognized modern error, or a JSON-RPC error (every modern
//! server implements `server/discover`), means a legacy server, which gets the
//! 2025-11-25 `initialize` handshake and its `Mcp-Session-Id`. `--wire` pins either.
//!
//! The remote going away is retried here with exponential backoff, for a bounded
//! time, and reported on standard error: a connection that could not be made (nothing
//! was sent, so nothing can run twice) and `502`/`503`/`504` (a gateway saying the
//! server is not there; `Retry-After` is honoured within the cap).

use super::log::Log;
use bearerflow_async::mcp::{
    choose_version, modern_headers, param_headers, protocol_error, server_info, ParamHeader,
    ProtocolError, VersionChoice, WireChoice, LEGACY_VERSIONS, META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO, META_PROTOCOL_VERSION, MODERN_VERSION, MODERN_VERSIONS,
};
use bearerflow_async::{Client, Error, Redactor, SseParser};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// JSON-RPC error codes the proxy answers with when the server could not (the
/// implementation-defined server-error range, JSON-RPC 2.0 §5.1).
pub(crate) mod codes {
    /// bearerflow could not obtain a credential (authorization, refresh or helper
    /// failed); `data.code` is the session's stable code.
    pub const AUTHORIZATION: i64 = -32060;
    /// The server could not be reached within the retry budget.
    pub const UNREACHABLE: i64 = -32061;
    /// The server answered with an HTTP error status and no JSON-RPC error.
    pub const HTTP_STATUS: i64 = -32062;
    /// The server's answer could not be read (a broken stream, not JSON, no answer).
    pub const BAD_ANSWER: i64 = -32063;
}

/// How long requests keep retrying a server that went away before they fail.
pub(crate) const RETRY_BUDGET: Duration = Duration::from_secs(60);
const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(8);

/// The request id of the proxy's own `server/discover` and `initialize`.
const OWN_ID: &str = "bearerflow-proxy-connect";

/// Which wire the server speaks, once known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Remote {
    Unknown,
    /// 2025-11-25 and earlier: the session the server assigned and the negotiated
    /// version.
    Legacy {
        session: Option<String>,
        version: String,
    },
    /// 2026-07-28: stateless.
    Modern {
        version: String,
    },
}

/// An exchange with the server failed; [`UpstreamError::to_rpc`] says it to the local
/// client.
#[derive(Debug)]
pub(crate) enum UpstreamError {
    /// The session could not put a credential on the request.
    Auth { code: &'static str, message: String },
    /// Nobody answered within [`RETRY_BUDGET`].
    Unreachable(String),
    /// An HTTP error status; `rpc` is a JSON-RPC error message from the body, if any.
    Status {
        status: u16,
        rpc: Option<Value>,
        text: String,
    },
    /// The answer could not be read.
    BadAnswer(String),
    /// A legacy server no longer knows the session (`404`, 2025-11-25 "Session
    /// Management"): initialize again.
    SessionExpired,
}

impl UpstreamError {
    fn from_send(e: Error) -> UpstreamError {
        match &e {
            Error::Auth { error, .. } => UpstreamError::Auth {
                code: error.code(),
                message: e.to_string(),
            },
            _ => UpstreamError::Unreachable(e.to_string()),
        }
    }

    /// The JSON-RPC error object for the local client.
    pub(crate) fn to_rpc(&self) -> Value {
        match self {
            UpstreamError::Auth { code, message } => json!({
                "code": codes::AUTHORIZATION,
                "message": format!("bearerflow proxy: no credential for the server: {message}"),
                "data": {"code": code},
            }),
            UpstreamError::Unreachable(m) => json!({
                "code": codes::UNREACHABLE,
                "message": format!("bearerflow proxy: the server cannot be reached (retried for {} s): {m}", RETRY_BUDGET.as_secs()),
            }),
            UpstreamError::Status { status, rpc, text } => {
                match rpc.as_ref().and_then(|r| r.get("error")) {
                    Some(e) if e.get("code").is_some_and(Value::is_i64) => e.clone(),
                    _ => json!({
                        "code": codes::HTTP_STATUS,
                        "message": format!("bearerflow proxy: the server answered HTTP {status}: {text}"),
                        "data": {"status": status},
                    }),
                }
            }
            UpstreamError::BadAnswer(m) => json!({
                "code": codes::BAD_ANSWER,
                "message": format!("bearerflow proxy: unreadable answer from the server: {m}"),
            }),
            UpstreamError::SessionExpired => json!({
                "code": codes::HTTP_STATUS,
                "message": "bearerflow proxy: the server ended the session again after a new initialize",
                "data": {"status": 404},
            }),
        }
    }
}

/// What came back for one `POST`: messages, in the order the server sent them.
pub(crate) struct Incoming {
    response: Option<reqwest::Response>,
    queue: VecDeque<Value>,
    parser: SseParser,
    redactor: Redactor,
    /// The `Mcp-Session-Id` the server put on the response.
    pub session: Option<String>,
    log: Log,
}

impl Incoming {
    fn empty(log: Log) -> Incoming {
        Incoming {
            response: None,
            queue: VecDeque::new(),
            parser: SseParser::default(),
            redactor: Redactor::default(),
            session: None,
            log,
        }
    }

    /// The next message, or `None` when the server has said everything.
    pub(crate) async fn next(&mut self) -> Result<Option<Value>, UpstreamError> {
        loop {
            if let Some(v) = self.queue.pop_front() {
                return Ok(Some(v));
            }
            let Some(response) = self.response.as_mut() else {
                return Ok(None);
            };
            match response.chunk().await {
                Ok(Some(bytes)) => {
                    let mut events = Vec::new();
                    self.parser.feed(&bytes, &mut events);
                    for event in events {
                        if event.kind != "message" || event.data.is_empty() {
                            continue;
                        }
                        match serde_json::from_str::<Value>(&event.data) {
                            Ok(mut v) => {
                                self.redactor.redact_json(&mut v);
                                self.queue.push_back(v);
                            }
                            Err(e) => self.log.warn(format_args!(
                                "the server sent an event that is not JSON ({e}); skipped"
                            )),
                        }
                    }
                }
                Ok(None) => self.response = None,
                Err(e) => {
                    self.response = None;
                    return Err(UpstreamError::BadAnswer(format!(
                        "the event stream broke: {}",
                        Error::from_reqwest(e)
                    )));
                }
            }
        }
    }
}

fn is_event_stream(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// The server's endpoint and the wire state toward it.
pub(crate) struct Upstream {
    client: Client,
    url: String,
    static_headers: HeaderMap,
    choice: WireChoice,
    pub(crate) log: Log,
    remote: Mutex<Remote>,
    /// Held while the wire is chosen or a legacy session re-initialized.
    connecting: tokio::sync::Mutex<()>,
    /// The `initialize` params to replay when a legacy session expires.
    init_params: Mutex<Option<Value>>,
    /// The `x-mcp-header` annotations of each listed tool (modern wire).
    tool_headers: Mutex<HashMap<String, Vec<ParamHeader>>>,
    retry_budget: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The `_meta` protocol fields 2026-07-28 puts on requests.
pub(crate) fn meta_version(params: Option<&Value>) -> Option<String> {
    params
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(META_PROTOCOL_VERSION))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// `params` without the modern `_meta` protocol fields (for a legacy server).
pub(crate) fn strip_modern_meta(message: &mut Value) {
    let Some(params) = message.get_mut("params").and_then(Value::as_object_mut) else {
        return;
    };
    let empty = match params.get_mut("_meta").and_then(Value::as_object_mut) {
        Some(meta) => {
            for k in [
                META_PROTOCOL_VERSION,
                META_CLIENT_CAPABILITIES,
                META_CLIENT_INFO,
            ] {
                meta.remove(k);
            }
            meta.is_empty()
        }
        None => false,
    };
    if empty {
        params.remove("_meta");
    }
}

/// What a 2025-11-25 client learns from `initialize`, built from a `DiscoverResult`.
pub(crate) fn initialize_result_from_discover(discover: &Value, version: &str) -> Value {
    let mut result = json!({
        "protocolVersion": version,
        "capabilities": discover.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "serverInfo": server_info(discover)
            .unwrap_or_else(|| json!({"name": "unknown", "version": "0"})),
    });
    if let Some(i) = discover.get("instructions") {
        result["instructions"] = i.clone();
    }
    result
}

/// What a 2026-07-28 client learns from `server/discover`, built from an
/// `InitializeResult`.
pub(crate) fn discover_result_from_initialize(init: &Value) -> Value {
    let mut result = json!({
        "resultType": "complete",
        "supportedVersions": MODERN_VERSIONS,
        "capabilities": init.get("capabilities").cloned().unwrap_or_else(|| json!({})),
    });
    if let Some(info) = server_info(init) {
        result["_meta"] = json!({ bearerflow_async::mcp::META_SERVER_INFO: info });
    }
    if let Some(i) = init.get("instructions") {
        result["instructions"] = i.clone();
    }
    result
}

impl Upstream {
    pub(crate) fn new(
        client: Client,
        url: String,
        static_headers: HeaderMap,
        choice: WireChoice,
        log: Log,
    ) -> Upstream {
        Upstream {
            client,
            url,
            static_headers,
            choice,
            log,
            remote: Mutex::new(Remote::Unknown),
            connecting: tokio::sync::Mutex::new(()),
            init_params: Mutex::new(None),
            tool_headers: Mutex::new(HashMap::new()),
            retry_budget: RETRY_BUDGET,
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn remote(&self) -> Remote {
        lock(&self.remote).clone()
    }

    fn set_remote(&self, r: Remote) {
        *lock(&self.remote) = r;
    }

    /// Send one request to the server (`body` `None`: a `GET`), retrying while the
    /// server is unreachable, and return the response the session delivered.
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        body: Option<&Value>,
        headers: HeaderMap,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut headers = headers;
        let accept = if body.is_some() {
            "application/json, text/event-stream"
        } else {
            "text/event-stream"
        };
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
        if body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let bytes = body.map(|b| bytes::Bytes::from(b.to_string()));
        self.send_raw(method, bytes, headers).await
    }

    /// [`Upstream::send`] of a body as it is (the gateway forwards bytes it does not
    /// parse), with exactly `headers` besides the static ones and the credential.
    pub(crate) async fn send_raw(
        &self,
        method: reqwest::Method,
        body: Option<bytes::Bytes>,
        headers: HeaderMap,
    ) -> Result<reqwest::Response, UpstreamError> {
        let started = Instant::now();
        let mut delay = FIRST_DELAY;
        let mut failures = 0u32;
        loop {
            let mut builder = self
                .client
                .http()
                .request(method.clone(), self.url.as_str())
                .headers(self.static_headers.clone())
                .headers(headers.clone());
            if let Some(b) = &body {
                builder = builder.body(b.clone());
            }
            let request = builder
                .build()
                .map_err(|e| UpstreamError::BadAnswer(format!("building the request: {e}")))?;
            let outcome = self.client.send(request).await;
            let wait = match &outcome {
                Ok(r) if matches!(r.status().as_u16(), 502..=504) => {
                    let after = r
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    Some((
                        format!("the server answered HTTP {}", r.status().as_u16()),
                        after.unwrap_or(delay).min(MAX_DELAY),
                    ))
                }
                Err(Error::Http(e)) if e.is_connect() => {
                    Some((format!("cannot reach the server: {}", chain(e)), delay))
                }
                _ => None,
            };
            match wait {
                Some((why, wait)) if started.elapsed() + wait <= self.retry_budget => {
                    failures += 1;
                    self.log.warn(format_args!(
                        "{why}; retrying in {} ms (attempt {failures})",
                        wait.as_millis()
                    ));
                    tokio::time::sleep(wait).await;
                    delay = (delay * 2).min(MAX_DELAY);
                }
                Some((why, _)) => {
                    return match outcome {
                        Ok(r) => Ok(r),
                        Err(_) => Err(UpstreamError::Unreachable(why)),
                    }
                }
                None => {
                    if failures > 0 && outcome.is_ok() {
                        self.log.info(format_args!(
                            "the server answers again after {failures} retries"
                        ));
                    }
                    return outcome.map_err(UpstreamError::from_send);
                }
            }
        }
    }

    /// `POST` one message and read what comes back. A `202` is an empty [`Incoming`];
    /// an error status is [`UpstreamError::Status`] (with the JSON-RPC error from the
    /// body when there is one); a legacy `404` for our session is
    /// [`UpstreamError::SessionExpired`].
    pub(crate) async fn post(
        &self,
        message: &Value,
        headers: HeaderMap,
    ) -> Result<Incoming, UpstreamError> {
        let had_session = headers.contains_key("mcp-session-id");
        let response = self
            .send(reqwest::Method::POST, Some(message), headers)
            .await?;
        self.incoming(response, had_session).await
    }

    async fn incoming(
        &self,
        response: reqwest::Response,
        had_session: bool,
    ) -> Result<Incoming, UpstreamError> {
        let status = response.status().as_u16();
        let mut incoming = Incoming::empty(self.log);
        incoming.redactor = Redactor::of(&response);
        incoming.session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if status == 404 && had_session {
            return Err(UpstreamError::SessionExpired);
        }
        if !(200..300).contains(&status) {
            let redactor = Redactor::of(&response);
            let bytes = response.bytes().await.unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            let mut rpc = serde_json::from_str::<Value>(text.trim())
                .ok()
                .filter(|v| v.get("error").is_some());
            if let Some(v) = rpc.as_mut() {
                redactor.redact_json(v);
            }
            let quoted = bearerflow::text::sanitize(&redactor.redact(&text), 200);
            return Err(UpstreamError::Status {
                status,
                rpc,
                text: quoted,
            });
        }
        if status == 202 || status == 204 {
            return Ok(incoming);
        }
        if is_event_stream(&response) {
            incoming.response = Some(response);
            return Ok(incoming);
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| UpstreamError::BadAnswer(Error::from_reqwest(e).to_string()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(incoming);
        }
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| UpstreamError::BadAnswer(format!("the body is not JSON: {e}")))?;
        match value {
            Value::Array(items) => incoming.queue.extend(items),
            other => incoming.queue.push_back(other),
        }
        let redactor = std::mem::take(&mut incoming.redactor);
        incoming
            .queue
            .iter_mut()
            .for_each(|v| redactor.redact_json(v));
        Ok(incoming)
    }

    /// The legacy wire's headers for the current session.
    pub(crate) fn legacy_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Remote::Legacy { session, version } = self.remote() {
            if let Some(v) = session.and_then(|s| HeaderValue::from_str(&s).ok()) {
                h.insert("mcp-session-id", v);
            }
            if let Ok(v) = HeaderValue::from_str(&version) {
                h.insert("mcp-protocol-version", v);
            }
        }
        h
    }

    /// The modern wire's headers for `message` (whose `_meta` names its version).
    pub(crate) fn modern_headers_for(&self, message: &Value) -> Result<HeaderMap, UpstreamError> {
        let method = message.get("method").and_then(Value::as_str).unwrap_or("");
        let params = message.get("params").cloned().unwrap_or_else(|| json!({}));
        let version = meta_version(Some(&params)).unwrap_or_else(|| MODERN_VERSION.to_string());
        let annotations = match (method, params.get("name").and_then(Value::as_str)) {
            ("tools/call", Some(name)) => lock(&self.tool_headers)
                .get(name)
                .cloned()
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        modern_headers(&version, method, &params, &annotations).map_err(|e| {
            UpstreamError::BadAnswer(format!(
                "the {} header cannot carry the request's value",
                e.0
            ))
        })
    }

    /// Remember the `x-mcp-header` annotations of listed tools and drop the tools whose
    /// annotations are invalid (2026-07-28 Streamable HTTP: the client MUST exclude
    /// them).
    pub(crate) fn keep_tools(&self, result: &mut Value) {
        let Some(tools) = result.get_mut("tools").and_then(Value::as_array_mut) else {
            return;
        };
        let mut map = lock(&self.tool_headers);
        tools.retain(|tool| {
            let name = tool.get("name").and_then(Value::as_str).unwrap_or("");
            let schema = tool.get("inputSchema").unwrap_or(&Value::Null);
            match param_headers(schema) {
                Ok(h) => {
                    map.insert(name.to_string(), h);
                    true
                }
                Err(why) => {
                    self.log.warn(format_args!("left out tool {name:?}: {why}"));
                    false
                }
            }
        });
    }

    /// Read `incoming` to the response with `id`, handing every other message to
    /// `other` (notifications, server requests) in order.
    pub(crate) async fn response_to(
        &self,
        incoming: &mut Incoming,
        id: &Value,
        other: &mut (dyn FnMut(Value) + Send),
    ) -> Result<Value, UpstreamError> {
        while let Some(m) = incoming.next().await? {
            let is_answer = m.get("method").is_none() && m.get("id") == Some(id);
            if is_answer {
                return Ok(m);
            }
            other(m);
        }
        Err(UpstreamError::BadAnswer(format!(
            "the server ended its answer without a response to request {id}"
        )))
    }

    /// Choose the wire for a local client that spoke first with `capabilities` and
    /// `client_info` (from its `initialize`, or its modern `_meta`). Returns the
    /// `DiscoverResult` (modern) or `InitializeResult` (legacy) the server gave.
    /// `legacy_init` is the local client's own `initialize` params, forwarded as they
    /// are to a legacy server (its version, capabilities and identity); without one
    /// the proxy builds them.
    pub(crate) async fn connect(
        &self,
        capabilities: &Value,
        client_info: &Value,
        legacy_init: Option<&Value>,
        other: &mut (dyn FnMut(Value) + Send),
    ) -> Result<Value, UpstreamError> {
        let _guard = self.connecting.lock().await;
        let init = legacy_init.cloned().unwrap_or_else(|| {
            json!({
                "protocolVersion": LEGACY_VERSIONS[0],
                "capabilities": capabilities,
                "clientInfo": client_info,
            })
        });
        if self.choice == WireChoice::Legacy {
            return self.initialize(init, other).await;
        }
        let mut version = MODERN_VERSION.to_string();
        let mut renegotiated = false;
        loop {
            match self
                .discover(&version, capabilities, client_info, other)
                .await
            {
                Ok(result) => return Ok(result),
                Err(e) => {
                    let fallback = legacy_fallback(&e);
                    match fallback {
                        Fallback::Retry(v) if !renegotiated => {
                            renegotiated = true;
                            version = v;
                        }
                        Fallback::Legacy(v) if self.choice == WireChoice::Auto => {
                            self.log.info(format_args!(
                                "the server does not speak MCP 2026-07-28; using the initialize handshake"
                            ));
                            let mut init = init;
                            if let (Some(v), false) = (v, legacy_init.is_some()) {
                                init["protocolVersion"] = json!(v);
                            }
                            return self.initialize(init, other).await;
                        }
                        _ => return Err(e),
                    }
                }
            }
        }
    }

    async fn discover(
        &self,
        version: &str,
        capabilities: &Value,
        client_info: &Value,
        other: &mut (dyn FnMut(Value) + Send),
    ) -> Result<Value, UpstreamError> {
        let params =
            bearerflow_async::mcp::with_meta(json!({}), version, capabilities, client_info);
        let id = json!(OWN_ID);
        let message =
            json!({"jsonrpc": "2.0", "id": id, "method": "server/discover", "params": params});
        let headers = self.modern_headers_for(&message)?;
        let mut incoming = self.post(&message, headers).await?;
        let answer = self.response_to(&mut incoming, &id, other).await?;
        if let Some(error) = answer.get("error") {
            return Err(UpstreamError::Status {
                status: 200,
                rpc: Some(json!({"error": error})),
                text: String::new(),
            });
        }
        let result = answer.get("result").cloned().unwrap_or_else(|| json!({}));
        self.set_remote(Remote::Modern {
            version: version.to_string(),
        });
        self.log.info(format_args!(
            "connected to {} on the MCP {version} wire (stateless)",
            self.url
        ));
        Ok(result)
    }

    /// The 2025-11-25 handshake with `params` (2025-11-25 "Lifecycle"): keeps the
    /// session id and the negotiated version, sends `notifications/initialized` only
    /// when `notify` (a local client that initialized sends its own).
    async fn initialize(
        &self,
        params: Value,
        other: &mut (dyn FnMut(Value) + Send),
    ) -> Result<Value, UpstreamError> {
        *lock(&self.init_params) = Some(params.clone());
        self.set_remote(Remote::Unknown);
        let id = json!(OWN_ID);
        let message = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": params});
        let mut incoming = self.post(&message, HeaderMap::new()).await?;
        let session = incoming.session.clone();
        let answer = self.response_to(&mut incoming, &id, other).await?;
        if let Some(error) = answer.get("error") {
            return Err(UpstreamError::Status {
                status: 200,
                rpc: Some(json!({"error": error})),
                text: String::new(),
            });
        }
        let result = answer.get("result").cloned().unwrap_or_else(|| json!({}));
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or(LEGACY_VERSIONS[0])
            .to_string();
        self.set_remote(Remote::Legacy {
            session,
            version: version.clone(),
        });
        self.log.info(format_args!(
            "connected to {} on the MCP {version} wire (initialize handshake)",
            self.url
        ));
        Ok(result)
    }

    /// After a legacy `404` for `expired`: initialize again with the params the
    /// session was made with (once, however many requests saw the `404`), and send
    /// `notifications/initialized`.
    pub(crate) async fn reinitialize(&self, expired: &HeaderMap) -> Result<(), UpstreamError> {
        let _guard = self.connecting.lock().await;
        let current = self.legacy_headers();
        if current.get("mcp-session-id") != expired.get("mcp-session-id") {
            return Ok(());
        }
        let Some(params) = lock(&self.init_params).clone() else {
            return Err(UpstreamError::SessionExpired);
        };
        self.log.warn(format_args!(
            "the server ended the MCP session; initializing again"
        ));
        self.initialize(params, &mut |_| {}).await?;
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.post(&note, self.legacy_headers()).await?;
        Ok(())
    }

    /// Wait until the wire is chosen, connecting with the given identity if no one
    /// has.
    pub(crate) async fn ensure_connected(
        &self,
        capabilities: &Value,
        client_info: &Value,
    ) -> Result<Remote, UpstreamError> {
        if self.remote() != Remote::Unknown {
            return Ok(self.remote());
        }
        {
            let _guard = self.connecting.lock().await;
            if self.remote() != Remote::Unknown {
                return Ok(self.remote());
            }
        }
        self.connect(capabilities, client_info, None, &mut |_| {})
            .await?;
        Ok(self.remote())
    }

    /// End a legacy session (2025-11-25 "Session Management": a client that no longer
    /// needs it SHOULD send `DELETE`). Best effort, bounded.
    pub(crate) async fn close(&self) {
        let headers = self.legacy_headers();
        if !headers.contains_key("mcp-session-id") {
            return;
        }
        let request = self
            .client
            .http()
            .delete(self.url.as_str())
            .headers(self.static_headers.clone())
            .headers(headers)
            .build();
        if let Ok(request) = request {
            let _ = tokio::time::timeout(Duration::from_secs(2), self.client.send(request)).await;
        }
    }

    /// The standalone `GET` stream of a legacy server (2025-11-25 "Listening for
    /// Messages from the Server"), opened again with backoff when it ends; every
    /// message goes to `deliver`. Returns when the server offers none (`405`).
    pub(crate) async fn listen(&self, deliver: &(dyn Fn(Value) + Send + Sync)) {
        let mut delay = FIRST_DELAY;
        loop {
            let headers = self.legacy_headers();
            if !headers.contains_key("mcp-session-id") {
                return;
            }
            let outcome = self.send(reqwest::Method::GET, None, headers).await;
            let mut incoming = match outcome {
                Ok(r) if r.status().as_u16() == 405 => {
                    self.log.debug(format_args!(
                        "the server offers no standalone event stream (GET: 405)"
                    ));
                    return;
                }
                Ok(r) if r.status().is_success() && is_event_stream(&r) => {
                    let mut i = Incoming::empty(self.log);
                    i.redactor = Redactor::of(&r);
                    i.response = Some(r);
                    delay = FIRST_DELAY;
                    i
                }
                Ok(r) => {
                    self.log.debug(format_args!(
                        "the server's event stream answered HTTP {}",
                        r.status().as_u16()
                    ));
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_DELAY * 4);
                    continue;
                }
                Err(e) => {
                    self.log.debug(format_args!(
                        "the server's event stream: {}",
                        e.to_rpc()["message"]
                    ));
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_DELAY * 4);
                    continue;
                }
            };
            loop {
                match incoming.next().await {
                    Ok(Some(m)) => deliver(m),
                    Ok(None) => break,
                    Err(e) => {
                        self.log.debug(format_args!("{}", e.to_rpc()["message"]));
                        break;
                    }
                }
            }
            tokio::time::sleep(delay).await;
        }
    }
}

/// An error and its causes, one line (reqwest's own message hides the cause).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

/// What a failed `server/discover` says about the server.
#[derive(Debug, PartialEq, Eq)]
enum Fallback {
    /// A modern server that wants another modern version.
    Retry(String),
    /// A legacy server (`initialize`, with this version if the server named one).
    Legacy(Option<String>),
    /// Neither: report the failure.
    Fail,
}

/// 2026-07-28 Streamable HTTP "Backward Compatibility" and stdio "Backward
/// Compatibility": a recognized modern error means a modern server; any other `400`,
/// `404`, `405` or a JSON-RPC error means a legacy one.
fn legacy_fallback(e: &UpstreamError) -> Fallback {
    let UpstreamError::Status { status, rpc, .. } = e else {
        return Fallback::Fail;
    };
    let modern = rpc
        .as_ref()
        .and_then(|v| protocol_error(400, &v.to_string()));
    match modern {
        Some(ProtocolError::UnsupportedVersion { supported, .. }) => {
            match choose_version(&supported) {
                Some(VersionChoice::Modern(v)) => Fallback::Retry(v),
                Some(VersionChoice::Legacy(v)) => Fallback::Legacy(Some(v)),
                _ => Fallback::Fail,
            }
        }
        Some(_) => Fallback::Fail,
        None if *status == 200 || matches!(status, 400 | 404 | 405) => Fallback::Legacy(None),
        None => Fallback::Fail,
    }
}

/// Build headers from `(name, value)` pairs already checked by the argument parser.
pub(crate) fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.append(n, v);
        }
    }
    h
}

/// `params` with `_meta` protocol fields for a modern server, from what a legacy local
/// client declared in `initialize` (its other `_meta` keys, such as `progressToken`,
/// kept).
pub(crate) fn add_modern_meta(
    message: &mut Value,
    version: &str,
    capabilities: &Value,
    client_info: &Value,
) {
    let params = message
        .get("params")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    message["params"] =
        bearerflow_async::mcp::with_meta(params, version, capabilities, client_info);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_failures_mean_a_legacy_server() {
        let status = |s: u16, rpc: Option<Value>| UpstreamError::Status {
            status: s,
            rpc,
            text: String::new(),
        };
        assert_eq!(legacy_fallback(&status(400, None)), Fallback::Legacy(None));
        assert_eq!(legacy_fallback(&status(405, None)), Fallback::Legacy(None));
        assert_eq!(
            legacy_fallback(&status(
                200,
                Some(json!({"error": {"code": -32601, "message": "x"}}))
            )),
            Fallback::Legacy(None)
        );
        assert_eq!(legacy_fallback(&status(500, None)), Fallback::Fail);
        let unsupported = |v: &[&str]| {
            status(
                400,
                Some(
                    json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32022, "message": "m",
                    "data": {"supported": v}}}),
                ),
            )
        };
        assert_eq!(
            legacy_fallback(&unsupported(&["2026-07-28"])),
            Fallback::Retry("2026-07-28".into())
        );
        assert_eq!(
            legacy_fallback(&unsupported(&["2025-06-18"])),
            Fallback::Legacy(Some("2025-06-18".into()))
        );
        assert_eq!(
            legacy_fallback(&unsupported(&["2099-01-01"])),
            Fallback::Fail
        );
        assert_eq!(
            legacy_fallback(&UpstreamError::Unreachable("x".into())),
            Fallback::Fail
        );
    }

    #[test]
    fn results_translate_between_the_wires() {
        let discover = json!({
            "supportedVersions": ["2026-07-28"],
            "capabilities": {"tools": {}},
            "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "s", "version": "1"}},
            "instructions": "hi",
        });
        let init = initialize_result_from_discover(&discover, "2025-06-18");
        assert_eq!(init["protocolVersion"], "2025-06-18");
        assert_eq!(init["serverInfo"]["name"], "s");
        assert_eq!(init["capabilities"], json!({"tools": {}}));
        assert_eq!(init["instructions"], "hi");
        let back = discover_result_from_initialize(&init);
        assert_eq!(
            back["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
            "s"
        );
        assert_eq!(back["supportedVersions"], json!(MODERN_VERSIONS));
    }

    #[test]
    fn modern_meta_comes_and_goes() {
        let mut m = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "t", "_meta": {"progressToken": 7}}});
        add_modern_meta(
            &mut m,
            "2026-07-28",
            &json!({"elicitation": {}}),
            &json!({"name": "c"}),
        );
        assert_eq!(meta_version(m.get("params")).as_deref(), Some("2026-07-28"));
        assert_eq!(m["params"]["_meta"]["progressToken"], 7);
        assert_eq!(
            m["params"]["_meta"][META_CLIENT_CAPABILITIES],
            json!({"elicitation": {}})
        );
        strip_modern_meta(&mut m);
        assert_eq!(m["params"]["_meta"], json!({"progressToken": 7}));
        let mut bare =
            json!({"method": "x", "params": {"_meta": {META_PROTOCOL_VERSION: "2026-07-28"}}});
        strip_modern_meta(&mut bare);
        assert!(bare["params"].get("_meta").is_none());
    }

    #[test]
    fn errors_become_json_rpc_errors() {
        let e = UpstreamError::Status {
            status: 404,
            rpc: Some(
                json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "nope"}}),
            ),
            text: String::new(),
        };
        assert_eq!(e.to_rpc()["code"], -32601);
        let e = UpstreamError::Status {
            status: 500,
            rpc: None,
            text: "boom".into(),
        };
        assert_eq!(e.to_rpc()["code"], codes::HTTP_STATUS);
        assert_eq!(e.to_rpc()["data"]["status"], 500);
        assert_eq!(
            UpstreamError::Unreachable("x".into()).to_rpc()["code"],
            codes::UNREACHABLE
        );
    }
}
