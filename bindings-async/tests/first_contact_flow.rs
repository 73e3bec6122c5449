//! No tokens at all: the first request is answered 401, the session discovers the
//! authorization server (RFC 9728, RFC 8414), registers (RFC 7591), authorizes with PKCE
//! (headless, the testbed auto-approves) and exchanges the code; then the MCP client
//! connects (`server/discover` or `initialize`, per the run's wire), and `tools/list`
//! and `tools/call` go through over real HTTP.

mod common;

use bearerflow::session::FetchPurpose;
use bearerflow::token::Phase;
use bearerflow_async::{Client, Event, HeadlessFollow, MemoryStore, Obtained, Store};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_contact_runs_the_whole_flow_then_mcp_works() {
    let tb = common::testbed(Duration::from_secs(3600), true).await;
    let store = Arc::new(MemoryStore::new());
    let client = Client::builder(common::oauth_config(&tb, true))
        .shared_store(store.clone())
        .authorizer(HeadlessFollow::new().unwrap())
        .build()
        .await
        .unwrap();
    let mut events = client.subscribe();

    let mcp = bearerflow_async::mcp::McpClient::new(client.clone(), tb.mcp_url());
    let connected = mcp.connect().await.unwrap();
    assert_eq!(connected.server_name(), Some("bearerflow-testbed"));
    let legacy = common::expected_wire() == bearerflow_async::mcp::Wire::Legacy;
    assert_eq!(connected.wire, common::expected_wire());
    assert_eq!(
        mcp.session_id().is_some(),
        legacy,
        "sessions only on legacy"
    );
    let tools = mcp.list_tools().await.unwrap();
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"echo") && names.contains(&"add"),
        "{names:?}"
    );
    let sum = mcp
        .call_tool("add", serde_json::json!({"a": 2, "b": 3}))
        .await
        .unwrap();
    assert_eq!(sum["content"][0]["text"], "5");

    let c = tb.counters();
    assert_eq!(c.unauthorized, 1, "only the tokenless probe is refused");
    assert!(c.resource_metadata_fetches >= 1);
    assert!(c.as_metadata_fetches >= 1);
    assert_eq!(c.registrations, 1);
    assert_eq!(c.authorizations, 1);
    assert_eq!(c.token_authorization_code, 1);
    assert_eq!(c.token_refresh, 0);
    assert_eq!(c.initializations, u64::from(legacy));
    assert_eq!(c.discovers, u64::from(!legacy));
    assert_eq!(c.wire_rejections, 0);
    assert_eq!(c.tool_calls, 1);

    let status = client.status().await.unwrap();
    assert_eq!(status.phase, Phase::Fresh);
    assert_eq!(status.stats.authorizations, 1);
    assert_eq!((status.authorizations, status.refreshes), (1, 0));
    assert_eq!(status.pending, 0);

    // The tokens and the registration were persisted.
    let snap = store.load().await.unwrap().expect("a snapshot was saved");
    assert!(snap.tokens.is_some() && snap.client.is_some() && snap.server.is_some());

    // The timeline tells the story in order.
    let events = common::drain_events(&mut events);
    let order: Vec<&'static str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Fetch { purpose, .. } => Some(purpose.as_str()),
            Event::Authorize { .. } => Some("authorize"),
            Event::Redirect { accepted: true, .. } => Some("redirect"),
            _ => None,
        })
        .collect();
    let pos = |what: &str| order.iter().position(|o| *o == what).unwrap_or(usize::MAX);
    assert!(
        pos("resource_metadata") < pos("server_metadata"),
        "{order:?}"
    );
    assert!(pos("server_metadata") < pos("registration"), "{order:?}");
    assert!(pos("registration") < pos("authorize"), "{order:?}");
    assert!(pos("authorize") < pos("redirect"), "{order:?}");
    assert!(pos("redirect") < pos("code_exchange"), "{order:?}");
    assert!(!order.contains(&FetchPurpose::Refresh.as_str()));
    let obtained: Vec<(Obtained, u32)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Credential {
                obtained,
                authorizations,
                ..
            } => Some((*obtained, *authorizations)),
            _ => None,
        })
        .collect();
    assert_eq!(obtained, vec![(Obtained::AuthorizationCode, 1)]);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Phase {
            to: Phase::Fresh,
            ..
        }
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_client_uses_the_stored_tokens_without_authorizing() {
    let tb = common::testbed(Duration::from_secs(3600), true).await;
    let store = Arc::new(MemoryStore::new());
    {
        let client = Client::builder(common::oauth_config(&tb, true))
            .shared_store(store.clone())
            .authorizer(HeadlessFollow::new().unwrap())
            .build()
            .await
            .unwrap();
        common::mcp(&client, &tb).await;
    }
    assert_eq!(tb.counters().authorizations, 1);
    let client = Client::builder(common::oauth_config(&tb, true))
        .shared_store(store.clone())
        .authorizer(bearerflow_async::NoAuthorize)
        .build()
        .await
        .unwrap();
    let mcp = common::mcp(&client, &tb).await;
    let (ok, errors) = common::burst(&mcp, 4).await;
    assert_eq!((ok, errors.len()), (4, 0), "{errors:?}");
    let c = tb.counters();
    assert_eq!(c.authorizations, 1, "no second authorization");
    assert_eq!(c.unauthorized, 1, "no second probe");
}
