//! A [`TokenStore`] for fleets: one Redis entry shared by every replica.

use crate::shared_store::{Swap, TokenStore};
use crate::store::StoreError;
use async_trait::async_trait;
use bearerflow::session::Snapshot;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// Compare-and-swap: keep the snapshot only over an older revision (or none), tell the
/// other replicas, or hand back what is stored. KEYS: the hash, the channel. ARGV: the
/// revision, the snapshot's JSON.
const SWAP: &str = r"
local current = tonumber(redis.call('HGET', KEYS[1], 'revision') or '-1')
if current ~= nil and current >= tonumber(ARGV[1]) then
  return {0, redis.call('HGET', KEYS[1], 'snapshot') or ''}
end
redis.call('HSET', KEYS[1], 'revision', ARGV[1], 'snapshot', ARGV[2])
redis.call('PUBLISH', KEYS[2], ARGV[1])
return {1, ''}
";

/// The lease: `SET NX PX`, or renew one this holder has. KEYS: the lease. ARGV: the
/// holder, the TTL in ms.
const ACQUIRE: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// Give the lease back if this holder has it. KEYS: the lease. ARGV: the holder.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// A shared store on Redis (the `redis` feature).
///
/// Under the key `K` given to [`RedisTokenStore::new`] (name it after the resource,
/// the issuer and the client: see [`crate::shared_store`]):
///
/// - `K` is a hash with the snapshot's `revision` and its JSON `snapshot`, replaced by a
///   Lua script only over an older revision (compare-and-swap, atomic in Redis);
/// - `K:lease` is the refresh lease, taken with `SET K:lease <holder> NX PX <ttl>`:
///   Redis expires it when its holder dies;
/// - `K:changed` is a pub/sub channel the script publishes each new revision on;
///   [`TokenStore::changed`] listens there and also polls the revision every
///   [`RedisTokenStore::poll_interval`], so a message lost while a replica was
///   reconnecting is made up for.
///
/// The connection is opened on first use and reopened after Redis restarts; every
/// command times out after the store's timeout (see its builder), so a Redis that is away makes
/// a lease or a save fail quickly (the session keeps using the tokens in hand and asks
/// again later) rather than hang.
pub struct RedisTokenStore {
    client: redis::Client,
    manager: ConnectionManager,
    hash: String,
    lease: String,
    channel: String,
    holder: String,
    poll: Duration,
    timeout: Duration,
}

impl std::fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTokenStore")
            .field("key", &self.hash)
            .finish_non_exhaustive()
    }
}

fn redis_error(e: redis::RedisError) -> StoreError {
    StoreError::Other(format!("redis: {e}"))
}

impl RedisTokenStore {
    /// A store at `key` on the Redis at `url` (`redis://host:port/db`). Connects lazily:
    /// must be called within a tokio runtime.
    pub fn new(url: &str, key: &str) -> Result<RedisTokenStore, StoreError> {
        RedisTokenStore::with_timeout(url, key, Duration::from_secs(2))
    }

    /// [`RedisTokenStore::new`] with another command timeout (default 2 s).
    pub fn with_timeout(
        url: &str,
        key: &str,
        timeout: Duration,
    ) -> Result<RedisTokenStore, StoreError> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let manager =
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(redis_error)?;
        let mut id = [0u8; 16];
        getrandom::fill(&mut id)
            .map_err(|e| StoreError::Other(format!("no random holder id: {e}")))?;
        Ok(RedisTokenStore {
            client,
            manager,
            hash: key.to_string(),
            lease: format!("{key}:lease"),
            channel: format!("{key}:changed"),
            holder: id.iter().map(|b| format!("{b:02x}")).collect(),
            poll: Duration::from_secs(1),
            timeout,
        })
    }

    /// How often [`TokenStore::changed`] polls besides listening (default 1 s).
    pub fn poll_interval(mut self, every: Duration) -> RedisTokenStore {
        self.poll = every.max(Duration::from_millis(10));
        self
    }

    /// `f` on the connection, within the timeout. A connection Redis dropped (a
    /// restart) fails the first command on it and is reopened: that command is tried
    /// once more. (A swap or lease whose answer was lost is then seen as already done:
    /// a conflict with this very snapshot, a lease this holder has.)
    async fn run<T>(
        &self,
        f: impl AsyncFn(&mut ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let mut last = None;
        for _ in 0..2 {
            let mut con = self.manager.clone();
            match tokio::time::timeout(self.timeout, f(&mut con)).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) if e.is_connection_dropped() || e.is_io_error() => {
                    last = Some(redis_error(e))
                }
                Ok(Err(e)) => return Err(redis_error(e)),
                Err(_) => return Err(StoreError::Other("redis: timed out".to_string())),
            }
        }
        Err(last.unwrap_or_else(|| StoreError::Other("redis: unavailable".to_string())))
    }

    async fn revision(&self) -> Result<Option<u64>, StoreError> {
        let hash = self.hash.clone();
        self.run(async move |con| {
            redis::cmd("HGET")
                .arg(&hash)
                .arg("revision")
                .query_async(con)
                .await
        })
        .await
    }
}

fn parse(json: &[u8], key: &str) -> Result<Snapshot, StoreError> {
    Snapshot::from_json(json).map_err(|e| StoreError::Other(format!("redis key {key}: {e}")))
}

#[async_trait]
impl TokenStore for RedisTokenStore {
    async fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        let hash = self.hash.clone();
        let json: Option<Vec<u8>> = self
            .run(async move |con| {
                redis::cmd("HGET")
                    .arg(&hash)
                    .arg("snapshot")
                    .query_async(con)
                    .await
            })
            .await?;
        json.map(|j| parse(&j, &self.hash)).transpose()
    }

    async fn swap(&self, snapshot: &Snapshot) -> Result<Swap, StoreError> {
        let json = snapshot.to_json();
        let (hash, channel, revision) =
            (self.hash.clone(), self.channel.clone(), snapshot.revision);
        let (stored, current): (i64, Vec<u8>) = self
            .run(async move |con| {
                redis::Script::new(SWAP)
                    .key(&hash)
                    .key(&channel)
                    .arg(revision)
                    .arg(json.as_bytes())
                    .invoke_async(con)
                    .await
            })
            .await?;
        if stored == 1 {
            Ok(Swap::Stored)
        } else {
            parse(&current, &self.hash).map(|s| Swap::Conflict(Box::new(s)))
        }
    }

    async fn acquire_lease(&self, ttl: Duration) -> Result<bool, StoreError> {
        let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let (lease, holder) = (self.lease.clone(), self.holder.clone());
        let got: i64 = self
            .run(async move |con| {
                redis::Script::new(ACQUIRE)
                    .key(&lease)
                    .arg(&holder)
                    .arg(ttl)
                    .invoke_async(con)
                    .await
            })
            .await?;
        Ok(got == 1)
    }

    async fn release_lease(&self) -> Result<(), StoreError> {
        let (lease, holder) = (self.lease.clone(), self.holder.clone());
        let _: i64 = self
            .run(async move |con| {
                redis::Script::new(RELEASE)
                    .key(&lease)
                    .arg(&holder)
                    .invoke_async(con)
                    .await
            })
            .await?;
        Ok(())
    }

    async fn changed(&self, seen: u64) -> Result<Snapshot, StoreError> {
        // Subscribe first, then look: a revision published in between is not missed.
        let mut pubsub =
            match tokio::time::timeout(self.timeout, self.client.get_async_pubsub()).await {
                Ok(Ok(mut p)) => match p.subscribe(&self.channel).await {
                    Ok(()) => Some(p),
                    Err(_) => None,
                },
                _ => None,
            };
        loop {
            if self.revision().await?.is_some_and(|r| r > seen) {
                if let Some(s) = self.load().await? {
                    if s.revision > seen {
                        return Ok(s);
                    }
                }
            }
            let ended = match pubsub.as_mut() {
                // A message, or the poll interval: look again.
                Some(p) => matches!(
                    tokio::time::timeout(self.poll, p.on_message().next()).await,
                    Ok(None)
                ),
                None => {
                    tokio::time::sleep(self.poll).await;
                    false
                }
            };
            if ended {
                // The connection ended (Redis restarted): poll from now on; the
                // driver's next call subscribes again.
                pubsub = None;
            }
        }
    }
}
