//! 32 concurrent calls right after the access token expired, with refresh-token
//! rotation: all 32 succeed and the token endpoint sees exactly one refresh (single
//! flight), with no refresh-token reuse.

mod common;

use bearerflow_async::{Client, MemoryStore, NoAuthorize};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_calls_after_expiry_share_one_refresh() {
    let tb = common::testbed(Duration::from_secs(2), true).await;
    let snapshot = common::minted_snapshot(&tb);
    let expires_at = snapshot.tokens.as_ref().and_then(|t| t.expires_at).unwrap();
    let store = Arc::new(MemoryStore::with(snapshot));
    let client = Client::builder(common::oauth_config(&tb, true))
        .shared_store(store.clone())
        .authorizer(NoAuthorize)
        .build()
        .await
        .unwrap();
    let mcp = common::mcp(&client, &tb).await;
    let before = tb.counters();
    assert_eq!(before.token_refresh, 0);

    common::sleep_until_unix_ms(expires_at + 200).await;
    let (ok, errors) = common::burst(&mcp, 32).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ok, 32);

    let c = tb.counters();
    assert_eq!(c.token_refresh, 1, "exactly one refresh for the burst");
    assert_eq!(c.refresh_reuse_detected, 0);
    assert_eq!(c.unauthorized, 0, "no expired token was sent");
    assert_eq!(c.tool_calls, 32);
    assert_eq!(c.authorizations, 0);
    // The rotated refresh token was persisted before use.
    let stored = store.get().unwrap();
    assert!(store.saves() >= 1);
    assert_eq!(
        stored.tokens.as_ref().map(|t| t.generation),
        client.status().await.unwrap().generation.map(|g| g.0)
    );
}
