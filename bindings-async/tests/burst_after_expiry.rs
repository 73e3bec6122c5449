//! 32 concurrent calls right after the access token expired, with refresh-token
//! rotation: all 32 succeed, they share one refresh (single flight), none is sent with
//! the expired token, and no refresh token is reused.
//!
//! Nothing here depends on the machine's speed: the test waits for the expiry of the
//! token the client holds after set-up (a slow set-up may have refreshed already), and
//! counts the refreshes that started while calls waited, not every refresh of the run
//! (a slow burst may outlive the new token's refresh window; that proactive refresh is
//! right, and not the burst's).

mod common;

use bearerflow_async::{Client, MemoryStore, NoAuthorize};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_calls_after_expiry_share_one_refresh() {
    let tb = common::testbed(Duration::from_secs(5), true).await;
    let snapshot = common::minted_snapshot(&tb);
    let store = Arc::new(MemoryStore::with(snapshot));
    let client = Client::builder(common::oauth_config(&tb, true))
        .shared_store(store.clone())
        .authorizer(NoAuthorize)
        .build()
        .await
        .unwrap();
    let mcp = common::mcp(&client, &tb).await;
    let expires_at = common::settled_expiry(&client).await;
    let before = tb.counters();
    let mut events = client.subscribe();

    common::sleep_until_unix_ms(expires_at + 200).await;
    let (ok, errors) = common::burst(&mcp, 32).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ok, 32);

    let events = common::drain_events(&mut events);
    assert_eq!(
        common::refreshes_while_calls_wait(&events),
        1,
        "exactly one refresh for the waiting burst: {events:#?}"
    );
    let sends = common::sends_per_request(&events);
    assert_eq!(sends.len(), 32);
    assert!(
        sends.values().all(|&n| n == 1),
        "each call sent once, never with the expired token: {sends:?}"
    );
    let c = tb.counters();
    assert!(c.token_refresh > before.token_refresh);
    assert_eq!(c.refresh_reuse_detected, 0);
    assert_eq!(c.unauthorized, 0, "no expired token was sent");
    assert_eq!(c.tool_calls - before.tool_calls, 32);
    assert_eq!(c.authorizations, 0);
    // The rotated refresh token was persisted, and it is the current one.
    let stored = store.get().unwrap();
    assert!(store.saves() >= 1);
    assert_eq!(
        stored.tokens.as_ref().map(|t| t.generation),
        client.status().await.unwrap().generation.map(|g| g.0)
    );
}
