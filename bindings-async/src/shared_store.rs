//! Many processes, one refresh token: stores shared between processes.
//!
//! With rotating refresh tokens (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2) a refresh token is
//! good for one refresh. Two processes that refresh with it at once (two editor windows,
//! two proxies, a fleet of gateway replicas for one user) present it twice; an
//! authorization server that detects the reuse revokes the whole token family and every
//! process is signed out. A [`TokenStore`] makes the processes share one refresh:
//!
//! - **compare-and-swap**: each `Persist` names its [`Snapshot::revision`]; the store
//!   keeps it only if what it holds is older, and otherwise hands back what it holds,
//!   which the session takes on (`Session::handle_persist_conflict`);
//! - **a refresh lease** with a time to live: before refreshing, the session asks for
//!   it (`Action::AcquireLease`); a process that does not get it waits for the holder's
//!   tokens; a holder that dies is covered when the lease runs out;
//! - **change notification**: tokens another process stored reach this one
//!   (`Session::handle_store_update`), so it adopts them instead of refreshing.
//!
//! The driver also reads the store right after it gets the lease: tokens another
//! process stored a moment earlier (before this process heard of them) are adopted and
//! the lease given back, so a refresh token that was already spent is never presented.
//!
//! Give the store with [`ClientBuilder::token_store`](crate::ClientBuilder::token_store)
//! (it turns on [`Policy::shared_store`](bearerflow::policy::Policy::shared_store)).
//! Two are included: [`FileTokenStore`](crate::FileTokenStore), for the processes of
//! one machine, and `RedisTokenStore` (feature `redis`), for fleets.
//!
//! # One store entry per issuer and client
//!
//! A store entry holds one session's tokens: one resource, one authorization server
//! (the snapshot's `tokens.issuer` and `client_issuer`, MCP 2026-07-28 "Authorization
//! Server Binding") and one client. Name the entry (file path, Redis key) after all
//! three, so that two servers or two authorization servers never share an entry.
//!
//! # Hosts with their own coordination
//!
//! A host that already has a lock (a database advisory lock, an agent process that
//! owns the refresh) gives a [`RefreshLock`] with
//! [`ClientBuilder::refresh_lock`](crate::ClientBuilder::refresh_lock): one async call
//! that runs the refresh while holding the host's lock. The lease of the store, if any,
//! is then not used. With a `RefreshLock` even a plain [`Store`](crate::Store) is safe
//! between processes: under the lock the driver reads the store first and adopts newer
//! tokens, and saves the rotated ones before the lock is given back.
//!
//! # The recipe for another store: a SQL row with a version column
//!
//! ```sql
//! CREATE TABLE bearerflow_tokens (
//!     entry        TEXT PRIMARY KEY,    -- resource + issuer + client id
//!     revision     BIGINT NOT NULL,     -- Snapshot::revision
//!     snapshot     TEXT NOT NULL,       -- Snapshot::to_json (holds secrets: protect it)
//!     lease_holder TEXT,                -- who holds the refresh lease
//!     lease_until  BIGINT               -- unix ms when the lease runs out
//! );
//! ```
//!
//! - [`TokenStore::load`]: `SELECT snapshot FROM bearerflow_tokens WHERE entry = $1`.
//! - [`TokenStore::swap`]: insert the row if missing, else
//!   `UPDATE bearerflow_tokens SET revision = $2, snapshot = $3 WHERE entry = $1 AND
//!   revision < $2`; one row changed is [`Swap::Stored`]; none is a conflict: select the
//!   row and return it as [`Swap::Conflict`]. ("Older than the new one" rather than
//!   "exactly one less": a session whose store failed asks again with a higher
//!   revision.)
//! - [`TokenStore::acquire_lease`]: `UPDATE bearerflow_tokens SET lease_holder = $2,
//!   lease_until = $now + $ttl WHERE entry = $1 AND (lease_holder IS NULL OR
//!   lease_holder = $2 OR lease_until <= $now)`; one row changed is `true`. Take `$now`
//!   from the database (`now()`), so that the processes share one clock.
//! - [`TokenStore::release_lease`]: `UPDATE … SET lease_holder = NULL WHERE entry = $1
//!   AND lease_holder = $2`.
//! - [`TokenStore::changed`]: `LISTEN`/`NOTIFY` where the database has it (PostgreSQL),
//!   else poll `SELECT revision` every second or so and load the row when it grew.
//!
//! Each holder names itself with a random id per store handle, so a process never
//! mistakes another's lease for its own.

use crate::store::StoreError;
use async_trait::async_trait;
use bearerflow::session::Snapshot;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// What a compare-and-swap did.
#[derive(Debug)]
pub enum Swap {
    /// The snapshot is stored.
    Stored,
    /// The store holds a revision at least as new (another process wrote first): here
    /// it is. The session takes it on instead.
    Conflict(Box<Snapshot>),
}

/// A store shared between processes: compare-and-swap saves, a refresh lease, and
/// change notification. See the [module docs](self) for the contract and a recipe.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// The stored snapshot, if there is one.
    async fn load(&self) -> Result<Option<Snapshot>, StoreError>;

    /// Store `snapshot` if the store holds nothing or a snapshot with an older
    /// [`Snapshot::revision`]; otherwise hand back what it holds. Atomic with respect to
    /// every other process.
    async fn swap(&self, snapshot: &Snapshot) -> Result<Swap, StoreError>;

    /// Take the refresh lease for `ttl` if nobody else holds it (a lease that ran out
    /// is nobody's; one this handle holds already is renewed). `Ok(false)`: another
    /// holds it.
    async fn acquire_lease(&self, ttl: Duration) -> Result<bool, StoreError>;

    /// Give the lease back, if this handle holds it.
    async fn release_lease(&self) -> Result<(), StoreError>;

    /// Wait until the store holds a revision newer than `seen`, and return that
    /// snapshot. An error ends the wait (the driver waits a moment and asks again).
    async fn changed(&self, seen: u64) -> Result<Snapshot, StoreError>;
}

/// The refresh, handed to a [`RefreshLock`]: await [`Refresh::run`] while holding the
/// lock. It finishes when the refresh is over and its tokens are stored (or when the
/// session needed no refresh after all).
pub struct Refresh {
    pub(crate) run: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Refresh {
    /// Run the refresh to its end.
    pub async fn run(self) {
        self.run.await
    }
}

impl std::fmt::Debug for Refresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Refresh")
    }
}

/// The ownership hook: for hosts that coordinate their processes themselves.
#[async_trait]
pub trait RefreshLock: Send + Sync + 'static {
    /// Take the host's lock (for at most `ttl`: a holder that dies must not block the
    /// others longer), await `refresh.run()` while holding it, then let go and return
    /// `Ok(true)`. When the lock is held elsewhere, return `Ok(false)` without running
    /// the refresh: the session waits for the holder's tokens and asks again.
    async fn with_lease(&self, ttl: Duration, refresh: Refresh) -> Result<bool, StoreError>;
}
