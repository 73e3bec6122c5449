//! A store that fails to save the rotated tokens does not lose them: the calls go on
//! with the new access token, and the driver saves again when core asks (core's
//! `handle_persist_failed` rule), until the store has the new refresh token.

mod common;

use async_trait::async_trait;
use bearerflow::session::Snapshot;
use bearerflow_async::{Event, MemoryStore, Store, StoreError};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A memory store whose first `failures` saves fail.
struct FlakyStore {
    inner: MemoryStore,
    failures: AtomicU32,
}

#[async_trait]
impl Store for FlakyStore {
    async fn save(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(StoreError::Io {
                path: "flaky".into(),
                error: std::io::Error::other("disk full"),
            });
        }
        self.inner.save(snapshot).await
    }

    async fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_tokens_that_could_not_be_stored_are_stored_later() {
    let tb = common::testbed(Duration::from_secs(60), true).await;
    let snapshot = common::minted_snapshot(&tb);
    let old_refresh = snapshot
        .tokens
        .as_ref()
        .and_then(|t| t.refresh_token.as_ref())
        .map(|r| r.expose().to_string())
        .expect("a refresh token");
    let store = Arc::new(FlakyStore {
        inner: MemoryStore::with(snapshot),
        failures: AtomicU32::new(2),
    });
    let client = bearerflow_async::Client::builder(common::oauth_config(&tb, false))
        .shared_store(store.clone())
        .authorizer(bearerflow_async::NoAuthorize)
        .build()
        .await
        .expect("the client builds");
    let mut events = client.subscribe();
    let mcp = common::mcp(&client, &tb).await;
    // The server's clock jumps past the token's life: the next call's 401 refreshes
    // (rotating the refresh token).
    tb.faults().advance_clock(Duration::from_secs(120));
    let (ok, errors) = common::burst(&mcp, 4).await;
    assert_eq!((ok, errors.len()), (4, 0), "{errors:?}");
    assert_eq!(tb.counters().token_refresh, 1);

    // Wait (generously) for a successful save after the failed ones.
    let saved = tokio::time::timeout(Duration::from_secs(30), async {
        let mut failed = 0;
        loop {
            match events.recv().await {
                Ok(Event::Persist { ok: false, .. }) => failed += 1,
                Ok(Event::Persist { ok: true, .. }) if failed >= 2 => return failed,
                Ok(_) => {}
                Err(e) => panic!("events: {e}"),
            }
        }
    })
    .await
    .expect("the driver saves again after the failures");
    assert_eq!(saved, 2);
    let stored = store.inner.get().expect("a snapshot is stored");
    let stored_refresh = stored
        .tokens
        .and_then(|t| t.refresh_token)
        .map(|r| r.expose().to_string())
        .expect("the stored snapshot has a refresh token");
    assert_ne!(
        stored_refresh, old_refresh,
        "the rotated refresh token is stored"
    );
    let status = client.status().await.expect("status");
    assert_eq!(status.stats.persist_failures, 2);
}
