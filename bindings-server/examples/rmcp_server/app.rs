//! An MCP server on the `rmcp` crate's Streamable HTTP transport, guarded by
//! bearerflow-server, whose tool calls an upstream API with a token derived from the
//! caller's. When the upstream says that token expired, the tool signals the layer, and
//! the caller gets `401 invalid_token`: its client renews its token and retries, and
//! never sees a JSON-RPC error. (The official SDKs, left alone, can only answer such a
//! tool failure in-band, over `200`, where no client refreshes.)
//!
//! Shared by the example (`main.rs`) and the whole-loop test (`tests/rmcp_loop.rs`).

use bearerflow::secret::Secret;
use bearerflow_server::{
    signal_upstream_token_expired, Authenticated, BearerLayer, MetadataService, ProtectedResource,
    Signalled, Verifier,
};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tower_layer::Layer;

/// A stand-in for an upstream API that accepts tokens derived from the MCP client's
/// (a token exchange, RFC 8693). Its tokens can be expired on demand.
#[derive(Debug, Default)]
pub struct UpstreamApi {
    issued: Mutex<HashSet<String>>,
    expired: Mutex<HashSet<String>>,
    /// Calls answered `401`.
    pub unauthorized: AtomicU64,
    /// Calls answered.
    pub calls: AtomicU64,
}

impl UpstreamApi {
    /// The upstream token for a client's token (the exchange, simulated: a digest).
    pub fn exchange(&self, client_token: &str) -> Secret {
        let digest = Sha256::digest(format!("upstream:{client_token}").as_bytes());
        let token: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone());
        Secret::new(token)
    }

    /// Every upstream token issued so far expires (later exchanges give fresh ones).
    pub fn expire_all(&self) {
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        self.expired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(issued.iter().cloned());
    }

    /// The upstream call: `Err(())` is its `401`.
    pub fn echo(&self, token: &Secret, text: &str) -> Result<String, ()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let expired = self.expired.lock().unwrap_or_else(|e| e.into_inner());
        if expired.contains(token.expose()) {
            self.unauthorized.fetch_add(1, Ordering::SeqCst);
            return Err(());
        }
        Ok(text.to_string())
    }
}

/// The MCP server: one tool, `upstream_echo`.
#[derive(Clone)]
pub struct EchoServer {
    upstream: Arc<UpstreamApi>,
}

fn text_schema() -> Arc<rmcp::model::JsonObject> {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    });
    match schema {
        serde_json::Value::Object(map) => Arc::new(map),
        // The literal above is an object.
        _ => Arc::default(),
    }
}

impl ServerHandler for EchoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "upstream_echo",
            "Returns its text after calling an upstream API on the caller's behalf.",
            text_schema(),
        )]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != "upstream_echo" {
            return Err(ErrorData::invalid_params("unknown tool", None));
        }
        let text = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("text"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string();
        // rmcp hands a tool the HTTP request's parts; the layer put the caller's token
        // and the signal in their extensions.
        let parts = context
            .extensions
            .get::<http::request::Parts>()
            .ok_or_else(|| ErrorData::internal_error("not served over HTTP", None))?;
        let caller = parts
            .extensions
            .get::<Authenticated>()
            .ok_or_else(|| ErrorData::internal_error("not behind the bearer layer", None))?;
        let upstream_token = self.upstream.exchange(caller.token.expose());
        match self.upstream.echo(&upstream_token, &text) {
            Ok(echoed) => Ok(CallToolResult::success(vec![ContentBlock::text(echoed)]).into()),
            // The upstream refused the token derived from the caller's: the caller's
            // token must be renewed. Say so with HTTP 401, not in-band.
            Err(()) => match signal_upstream_token_expired(&parts.extensions) {
                // This error never reaches the client: the layer answers 401 instead.
                Ok(Signalled::Accepted) => {
                    Err(ErrorData::internal_error("upstream token expired", None))
                }
                // Too late for a status (the stream had begun): the in-band answer.
                Ok(Signalled::TooLate) | Err(_) => {
                    Ok(CallToolResult::error(vec![ContentBlock::text(
                        "the upstream token expired; renew your token and retry",
                    )])
                    .into())
                }
            },
        }
    }
}

/// The whole server: `/mcp` (rmcp behind the layer) and the RFC 9728 document at the
/// resource's path-inserted metadata URL. `json_response` picks rmcp's JSON answers
/// instead of SSE streams.
pub fn router<V: Verifier>(
    resource: ProtectedResource,
    verifier: V,
    upstream: Arc<UpstreamApi>,
    json_response: bool,
    refusals: Arc<AtomicU64>,
) -> axum::Router {
    let config = StreamableHttpServerConfig::default().with_json_response(json_response);
    let mcp = StreamableHttpService::new(
        move || {
            Ok(EchoServer {
                upstream: Arc::clone(&upstream),
            })
        },
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let layer = BearerLayer::new(resource.clone(), verifier).on_refusal(move |_| {
        refusals.fetch_add(1, Ordering::SeqCst);
    });
    axum::Router::new()
        .route_service("/mcp", layer.layer(mcp))
        .route_service(resource.metadata_path(), MetadataService::new(&resource))
}
