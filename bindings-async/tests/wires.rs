//! Both MCP wires in one run, against testbeds that speak only one of them: the
//! dual-era client finds each (MCP 2026-07-28 "Versioning and Compatibility"), the
//! whole story (first contact, tools, a burst after expiry) works on each, and a
//! request bearerflow retries after a refresh still carries its `_meta` and headers
//! (the modern testbed refuses any request without them, and counts the refusals).

mod common;

use bearerflow_async::mcp::{InputHandler, McpClient, McpError, ProtocolError, Wire, WireChoice};
use bearerflow_async::{Client, HeadlessFollow, MemoryStore};
use bearerflow_testbed::{Testbed, Wires};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

async fn testbed(wires: Wires, ttl: Duration) -> Testbed {
    Testbed::start(bearerflow_testbed::Config {
        access_ttl: ttl,
        wires,
        modern_feature_tools: true,
        ..Default::default()
    })
    .await
    .expect("the testbed starts")
}

/// A restored client (minted tokens, cannot authorize) and an MCP client over it.
async fn restored(tb: &Testbed, choice: WireChoice) -> (Client, McpClient) {
    let (client, _) = common::restored_client(tb, common::oauth_config(tb, false)).await;
    let mcp = McpClient::new(client.clone(), tb.mcp_url()).with_wire(choice);
    (client, mcp)
}

struct Accept;

#[bearerflow_async::mcp::async_trait]
impl InputHandler for Accept {
    fn capabilities(&self) -> Value {
        json!({"elicitation": {}})
    }
    async fn answer(&self, method: &str, params: &Value) -> Result<Value, String> {
        assert_eq!(method, "elicitation/create");
        assert!(params["requestedSchema"]["properties"]["confirmed"].is_object());
        Ok(json!({"action": "accept", "content": {"confirmed": true}}))
    }
}

struct Refuse;

#[bearerflow_async::mcp::async_trait]
impl InputHandler for Refuse {
    fn capabilities(&self) -> Value {
        json!({"elicitation": {}})
    }
    async fn answer(&self, _: &str, _: &Value) -> Result<Value, String> {
        Err("the user closed the dialog".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_story_on_each_wire() {
    for (wires, wire) in [(Wires::Modern, Wire::Modern), (Wires::Legacy, Wire::Legacy)] {
        let tb = testbed(wires, Duration::from_secs(2)).await;
        let client = Client::builder(common::oauth_config(&tb, true))
            .shared_store(Arc::new(MemoryStore::new()))
            .authorizer(HeadlessFollow::new().unwrap())
            .build()
            .await
            .unwrap();
        let mcp = Arc::new(McpClient::new(client.clone(), tb.mcp_url()));
        assert_eq!(mcp.wire(), None);
        // No connect(): the first request chooses the wire.
        let tools = mcp.list_tools().await.unwrap();
        assert_eq!(mcp.wire(), Some(wire), "{wires:?}");
        assert_eq!(tools["tools"][0]["name"], "echo");
        let sum = mcp.call_tool("add", json!({"a": 2, "b": 3})).await.unwrap();
        assert_eq!(sum["content"][0]["text"], "5");

        let expires_at = client
            .status()
            .await
            .unwrap()
            .expires_at
            .expect("tokens with an expiry")
            .0;
        common::sleep_until_unix_ms(expires_at + 200).await;
        let (ok, errors) = common::burst(&mcp, 16).await;
        assert!(errors.is_empty(), "{wires:?}: {errors:?}");
        assert_eq!(ok, 16);

        let c = tb.counters();
        assert_eq!(c.authorizations, 1, "{wires:?}");
        assert_eq!(c.token_refresh, 1, "one refresh for the burst ({wires:?})");
        assert_eq!(c.tool_calls, 17);
        assert_eq!(c.wire_rejections, 0, "every modern request was well formed");
        match wire {
            Wire::Modern => {
                assert_eq!((c.discovers, c.initializations), (1, 0));
                assert_eq!(c.modern_requests, c.mcp_requests - c.unauthorized);
                assert_eq!(mcp.protocol_version().as_deref(), Some("2026-07-28"));
                assert!(mcp.session_id().is_none());
            }
            _ => {
                assert_eq!((c.discovers, c.initializations), (0, 1));
                // The modern probe was refused (after the first-contact 401) and never
                // tried again.
                assert_eq!(c.modern_requests, 0);
                assert_eq!(mcp.protocol_version().as_deref(), Some("2025-11-25"));
                assert!(mcp.session_id().is_some());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_retried_after_a_refresh_keeps_its_meta_and_headers() {
    let tb = testbed(Wires::Modern, Duration::from_secs(3600)).await;
    let (client, mcp) = restored(&tb, WireChoice::Auto).await;
    let mcp = mcp.with_input_handler(Accept);
    mcp.list_tools().await.unwrap();
    let before = tb.counters();

    // The server's clock jumps past the token's life: the client still believes its
    // token valid, the server answers 401, the session refreshes and the driver sends
    // the same request again.
    tb.faults().advance_clock(Duration::from_secs(7200));
    let r = mcp
        .call_tool("echo_region", json!({"region": "eu west", "text": "hi"}))
        .await
        .unwrap();
    assert_eq!(r["content"][0]["text"], "hi @ eu west");
    let c = tb.counters();
    assert_eq!(c.unauthorized - before.unauthorized, 1);
    assert_eq!(c.token_refresh, 1);

    // Again with an MRTR round: the first leg goes through a 401 and a refresh, the
    // second leg (a new request with the answer and the echoed state) goes straight.
    tb.faults().advance_clock(Duration::from_secs(7200));
    let r = mcp
        .call_tool("confirm", json!({"text": "go ü"}))
        .await
        .unwrap();
    assert_eq!(r["content"][0]["text"], "confirmed: go ü");
    let c = tb.counters();
    assert_eq!(c.token_refresh, 2);
    assert_eq!(c.input_required, 1);
    assert_eq!(
        c.wire_rejections, 0,
        "no retried request lost its _meta, Mcp-Name or Mcp-Param-Region"
    );
    assert_eq!(client.status().await.unwrap().stats.fails, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_the_client_cannot_give_is_a_typed_error() {
    let tb = testbed(Wires::Modern, Duration::from_secs(3600)).await;
    // No input handler: no elicitation capability declared, and the server says so.
    let (_, mcp) = restored(&tb, WireChoice::Modern).await;
    let e = mcp
        .call_tool("confirm", json!({"text": "x"}))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            McpError::Protocol(ProtocolError::MissingClientCapability { required })
                if required == &["elicitation".to_string()]
        ),
        "{e}"
    );
    // A handler that declines gives up the call with its reason.
    let (_, mcp) = restored(&tb, WireChoice::Modern).await;
    let mcp = mcp.with_input_handler(Refuse);
    let e = mcp
        .call_tool("confirm", json!({"text": "x"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, McpError::InputRequired(why) if why.contains("closed the dialog")),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_wire_does_not_fall_back() {
    let tb = testbed(Wires::Legacy, Duration::from_secs(3600)).await;
    let (_, mcp) = restored(&tb, WireChoice::Modern).await;
    let e = mcp.connect().await.unwrap_err();
    assert!(matches!(e, McpError::Status { status: 400, .. }), "{e}");
    assert_eq!(mcp.wire(), None);
    assert_eq!(tb.counters().initializations, 0);

    let tb = testbed(Wires::Modern, Duration::from_secs(3600)).await;
    let (_, mcp) = restored(&tb, WireChoice::Legacy).await;
    let e = mcp.connect().await.unwrap_err();
    assert!(
        matches!(e, McpError::Protocol(ProtocolError::HeaderMismatch { .. })),
        "a modern-only server refuses initialize with a modern error: {e}"
    );
    assert_eq!(mcp.wire(), None);

    // The dual-era default finds each.
    let (_, mcp) = restored(&tb, WireChoice::Auto).await;
    let c = mcp.connect().await.unwrap();
    assert_eq!(
        (c.wire, c.protocol_version.as_str()),
        (Wire::Modern, "2026-07-28")
    );
    let tb = testbed(Wires::Legacy, Duration::from_secs(3600)).await;
    let (_, mcp) = restored(&tb, WireChoice::Auto).await;
    let c = mcp.connect().await.unwrap();
    assert_eq!(
        (c.wire, c.protocol_version.as_str()),
        (Wire::Legacy, "2025-11-25")
    );
    assert_eq!(c.server_name(), Some("bearerflow-testbed"));
}
