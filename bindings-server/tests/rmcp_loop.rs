//! The whole loop in Rust: an `rmcp` Streamable HTTP server guarded by the layer (tokens
//! verified by RFC 7662 introspection at the testbed's authorization server), a
//! bearerflow-async MCP client that starts from nothing (the first 401 runs discovery
//! through the layer's metadata route, registration and PKCE). The tool's upstream token
//! expires → the layer answers 401 → the client refreshes → the retried call succeeds,
//! and no JSON-RPC error reaches the caller. On rmcp's SSE streams and JSON answers, on
//! both MCP wires.

#[path = "../examples/rmcp_server/app.rs"]
mod app;

use bearerflow::session::{Config, OAuthConfig};
use bearerflow_async::mcp::{McpClient, Wire, WireChoice};
use bearerflow_async::{Client, HeadlessFollow, MemoryStore};
use bearerflow_server::{IntrospectionVerifier, ProtectedResource};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct Server {
    url: String,
    auth: bearerflow_testbed::Testbed,
    upstream: Arc<app::UpstreamApi>,
    refusals: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

async fn serve(json_response: bool) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let auth = bearerflow_testbed::Testbed::start(bearerflow_testbed::Config {
        extra_resources: vec![url.clone()],
        access_ttl: Duration::from_secs(3600),
        ..Default::default()
    })
    .await
    .unwrap();
    let resource = ProtectedResource::new(url.clone())
        .unwrap()
        .authorization_server(auth.issuer())
        .scopes_supported(["mcp:tools"]);
    bearerflow_async::install_crypto_provider();
    let verifier =
        IntrospectionVerifier::new(auth.introspection_endpoint(), reqwest::Client::new());
    let upstream = Arc::new(app::UpstreamApi::default());
    let refusals = Arc::new(AtomicU64::new(0));
    let router = app::router(
        resource,
        verifier,
        Arc::clone(&upstream),
        json_response,
        Arc::clone(&refusals),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Server {
        url,
        auth,
        upstream,
        refusals,
        task,
    }
}

async fn client_for(server: &Server, wire: WireChoice) -> (Client, McpClient) {
    let client = Client::builder(Config::oauth(
        server.url.clone(),
        OAuthConfig {
            redirect_uri: Some("http://127.0.0.1:8976/callback".into()),
            ..OAuthConfig::default()
        },
    ))
    .store(MemoryStore::new())
    .authorizer(HeadlessFollow::new().unwrap())
    .build()
    .await
    .unwrap();
    let mcp = McpClient::new(client.clone(), server.url.clone()).with_wire(wire);
    (client, mcp)
}

async fn upstream_expiry_is_recovered(json_response: bool, wire: WireChoice) {
    let server = serve(json_response).await;
    let (client, mcp) = client_for(&server, wire).await;
    let connected = mcp.connect().await.expect("connects from nothing");
    match wire {
        WireChoice::Legacy => assert_eq!(connected.wire, Wire::Legacy),
        _ => assert_eq!(connected.wire, Wire::Modern),
    }
    let first = mcp
        .call_tool("upstream_echo", serde_json::json!({"text": "before"}))
        .await
        .expect("the first call succeeds");
    assert_eq!(first["content"][0]["text"], "before");
    let before = server.auth.counters();
    assert_eq!(before.authorizations, 1, "one authorization to connect");
    assert_eq!(before.token_refresh, 0);
    let refusals_before = server.refusals.load(Ordering::SeqCst);

    // The upstream token derived from the client's expires.
    server.upstream.expire_all();
    let result = mcp
        .call_tool("upstream_echo", serde_json::json!({"text": "after"}))
        .await
        .expect("no error reaches the caller: the 401 was recovered from");
    assert_eq!(result["content"][0]["text"], "after", "{result}");
    assert_ne!(result["isError"], true);

    let after = server.auth.counters();
    assert_eq!(after.token_refresh, 1, "the client refreshed once");
    assert_eq!(after.authorizations, 1, "no new authorization");
    assert_eq!(
        server.upstream.unauthorized.load(Ordering::SeqCst),
        1,
        "the upstream refused once"
    );
    assert_eq!(
        server.refusals.load(Ordering::SeqCst) - refusals_before,
        1,
        "the layer answered one 401"
    );
    let status = client.status().await.unwrap();
    assert_eq!(
        status.stats.unauthorized_seen, 2,
        "the first-contact 401 and this one"
    );
    assert_eq!(status.stats.fails, 0, "the session failed no request");
    server.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_streams_on_the_modern_wire() {
    upstream_expiry_is_recovered(false, WireChoice::Auto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_answers_on_the_modern_wire() {
    upstream_expiry_is_recovered(true, WireChoice::Auto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_streams_in_a_legacy_session() {
    upstream_expiry_is_recovered(false, WireChoice::Legacy).await;
}
