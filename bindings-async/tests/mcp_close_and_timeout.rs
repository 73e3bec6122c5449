//! `McpClient::close` ends a legacy session with an HTTP `DELETE` (MCP 2025-11-25
//! Transports, "Session Management") and lets a later call connect again; on the
//! stateless modern wire it only forgets the wire. `with_call_timeout` bounds one call,
//! and a call that runs out leaves nothing pending in the session. `with_client_info`
//! names the client in `initialize`.

mod common;

use bearerflow::session::{Config, OAuthConfig};
use bearerflow_async::mcp::{McpClient, McpError, Wire, WireChoice};
use bearerflow_async::{Client, MemoryStore, NoAuthorize};
use bearerflow_testbed::{Testbed, Wires};
use std::sync::Arc;
use std::time::Duration;

async fn testbed(wires: Wires) -> Testbed {
    Testbed::start(bearerflow_testbed::Config {
        access_ttl: Duration::from_secs(3600),
        wires,
        ..Default::default()
    })
    .await
    .expect("the testbed starts on loopback")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_deletes_a_legacy_session_and_a_later_call_starts_a_new_one() {
    let tb = testbed(Wires::Both).await;
    let (client, _) = common::restored_client(&tb, common::oauth_config(&tb, false)).await;
    let mcp = McpClient::new(client.clone(), tb.mcp_url())
        .with_wire(WireChoice::Legacy)
        .with_client_info("close-test", "9.9.9");
    let init = mcp.initialize().await.unwrap();
    assert_eq!(init["serverInfo"]["name"], "bearerflow-testbed");
    let first = mcp.session_id().expect("the testbed assigns a session id");
    let version = mcp.protocol_version().expect("negotiated");

    mcp.close().await.unwrap();
    assert_eq!(mcp.session_id(), None);
    assert_eq!(mcp.wire(), None);

    // The server has forgotten the session: a request in it is answered 404.
    let stale = client
        .post(tb.mcp_url())
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .header("Mcp-Session-Id", &first)
        .header("MCP-Protocol-Version", &version)
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#)
        .build()
        .unwrap();
    assert_eq!(client.send(stale).await.unwrap().status(), 404);

    // Closing again, or a server that already forgot the session, is fine.
    mcp.close().await.unwrap();

    // The next call connects again, in a new session.
    let tools = mcp.list_tools().await.unwrap();
    assert!(tools["tools"].as_array().is_some_and(|t| !t.is_empty()));
    let second = mcp.session_id().expect("a new session");
    assert_ne!(first, second);
    assert_eq!(mcp.wire(), Some(Wire::Legacy));
    assert_eq!(tb.counters().initializations, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_on_the_modern_wire_only_forgets_the_wire() {
    let tb = testbed(Wires::Modern).await;
    let (client, _) = common::restored_client(&tb, common::oauth_config(&tb, false)).await;
    let mcp = McpClient::new(client.clone(), tb.mcp_url());
    mcp.list_tools().await.unwrap();
    assert_eq!(mcp.wire(), Some(Wire::Modern));
    let sends = client.status_now().stats.sends;
    mcp.close().await.unwrap();
    assert_eq!(mcp.wire(), None);
    assert_eq!(
        client.status_now().stats.sends,
        sends,
        "nothing was sent to end a stateless session"
    );
    mcp.list_tools().await.unwrap();
    assert_eq!(mcp.wire(), Some(Wire::Modern));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_runs_out_of_time_fails_typed_and_leaves_nothing_pending() {
    // A resource that accepts the request and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(std::future::pending::<axum::http::StatusCode>),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let tb = testbed(Wires::Both).await;
    let mut snapshot = common::minted_snapshot(&tb);
    snapshot.server = None;
    let client = Client::builder(Config::oauth(url.clone(), OAuthConfig::default()))
        .store(MemoryStore::with(snapshot))
        .authorizer(NoAuthorize)
        .build()
        .await
        .unwrap();
    let mcp =
        Arc::new(McpClient::new(client.clone(), url).with_call_timeout(Duration::from_millis(300)));
    let err = mcp
        .call_tool("echo", serde_json::json!({"text": "hello"}))
        .await
        .unwrap_err();
    assert!(
        matches!(err, McpError::Timeout(d) if d == Duration::from_millis(300)),
        "{err}"
    );
    assert!(err.to_string().contains("300 ms"), "{err}");
    let status = client.status_now();
    assert_eq!(status.pending, 0, "the timed-out request was cancelled");
    assert_eq!(status.stats.fails, 1, "{:?}", status.stats);
}
