//! The ownership hook (issue 17): a host with its own lock gives a `RefreshLock`, and
//! two sessions on one plain store share one refresh per expiry: the second, under the
//! lock, finds the first's tokens in the store and adopts them.

mod common;

use bearerflow_async::{Client, MemoryStore, Refresh, RefreshLock, StoreError};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The host's lock: a mutex, counting the refreshes run under it.
#[derive(Default)]
struct HostLock {
    lock: tokio::sync::Mutex<()>,
    runs: AtomicU32,
}

/// One handle to it per session.
struct Handle(Arc<HostLock>);

#[async_trait::async_trait]
impl RefreshLock for Handle {
    async fn with_lease(&self, _ttl: Duration, refresh: Refresh) -> Result<bool, StoreError> {
        let _held = self.0.lock.lock().await;
        self.0.runs.fetch_add(1, Ordering::SeqCst);
        refresh.run().await;
        Ok(true)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_one_host_lock_one_refresh_per_expiry() {
    let tb = common::testbed(Duration::from_secs(3), true).await;
    let mut seeded = common::minted_snapshot(&tb);
    seeded.revision = 1;
    let store = Arc::new(MemoryStore::with(seeded));
    let lock = Arc::new(HostLock::default());
    let mut mcps = Vec::new();
    for _ in 0..2 {
        let client = Client::builder(common::oauth_config(&tb, false))
            .shared_store(store.clone())
            .refresh_lock(Handle(Arc::clone(&lock)))
            .authorizer(bearerflow_async::NoAuthorize)
            .build()
            .await
            .expect("builds");
        mcps.push(common::mcp(&client, &tb).await);
    }
    for expiry in 1..=2u64 {
        let expires = store
            .get()
            .and_then(|s| s.tokens)
            .and_then(|t| t.expires_at)
            .expect("stored tokens");
        common::sleep_until_unix_ms(expires + 50).await;
        for mcp in &mcps {
            let (ok, errors) = common::burst(mcp, 8).await;
            assert_eq!(ok, 8, "{errors:?}");
        }
        let c = tb.counters();
        assert_eq!(c.token_refresh, expiry, "{c:?}");
        assert_eq!(c.refresh_reuse_detected, 0, "{c:?}");
    }
    // Every refresh ran under the host's lock (and the second session's turn under it
    // adopted the first's tokens instead of refreshing).
    assert!(lock.runs.load(Ordering::SeqCst) >= 2);
}
