//! The authorization server refuses the refresh token (`invalid_grant`, RFC 6749 §5.2).
//! With headless authorization allowed, the session re-authorizes silently and no call
//! fails; on a host that cannot authorize, every waiting call gets one typed error.
//!
//! The fault is armed after set-up, and the test waits for the expiry of the token the
//! client then holds (a slow set-up may have refreshed the restored one already).

mod common;

use bearerflow::session::RequestError;
use bearerflow_async::{Client, HeadlessFollow, MemoryStore};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_grant_with_headless_authorization_reauthorizes_silently() {
    let tb = common::testbed(Duration::from_secs(5), true).await;
    let snapshot = common::minted_snapshot(&tb);
    let client = Client::builder(common::oauth_config(&tb, true))
        .store(MemoryStore::with(snapshot))
        .authorizer(HeadlessFollow::new().unwrap())
        .build()
        .await
        .unwrap();
    let mcp = common::mcp(&client, &tb).await;
    let expires_at = common::settled_expiry(&client).await;
    let before = tb.counters();
    let mut events = client.subscribe();
    tb.faults().invalid_grant_next_refresh_calls(1);
    common::sleep_until_unix_ms(expires_at + 200).await;

    let (ok, errors) = common::burst(&mcp, 8).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ok, 8);
    let events = common::drain_events(&mut events);
    assert_eq!(
        common::refreshes_while_calls_wait(&events),
        1,
        "one refused refresh for the waiting calls: {events:#?}"
    );
    let c = tb.counters();
    assert!(c.token_refresh > before.token_refresh);
    assert_eq!(c.authorizations, 1, "one silent re-authorization");
    assert_eq!(c.token_authorization_code, 1);
    assert_eq!(c.registrations, 0, "the stored client is kept");
    let status = client.status().await.unwrap();
    assert_eq!(status.stats.fails, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_grant_without_authorization_fails_each_waiting_call_once() {
    let tb = common::testbed(Duration::from_secs(5), true).await;
    let (client, _) = common::restored_client(&tb, common::oauth_config(&tb, false)).await;
    let mcp = common::mcp(&client, &tb).await;
    let expires_at = common::settled_expiry(&client).await;
    let refreshes_before = tb.counters().token_refresh;
    tb.faults().invalid_grant_next_refresh_calls(1);
    common::sleep_until_unix_ms(expires_at + 200).await;

    let (ok, errors) = common::burst(&mcp, 8).await;
    assert_eq!(ok, 0);
    assert_eq!(errors.len(), 8, "one error per waiting call: {errors:?}");
    for e in &errors {
        assert!(e.contains("reauthorization_required"), "{e}");
        assert!(
            e.contains("invalid_grant"),
            "the detail names the cause: {e}"
        );
    }
    // Later calls fail at once with the same typed error; nothing else is tried.
    let err = mcp
        .call_tool("echo", serde_json::json!({"text": "later"}))
        .await
        .unwrap_err();
    let e = err.transport().expect("a bearerflow error");
    assert_eq!(
        e.request_error(),
        Some(RequestError::ReauthorizationRequired)
    );
    let c = tb.counters();
    assert_eq!(c.token_refresh - refreshes_before, 1);
    assert_eq!(c.authorizations, 0);
    assert_eq!(c.metadata_fetches(), 0);
    let status = client.status().await.unwrap();
    assert_eq!(status.stats.fails, 9);
    assert_eq!(status.pending, 0);
}
