//! Runs one [`bearerflow::session::Session`] over reqwest and tokio time: send a request
//! through a [`Client`] and get the response, with refresh, retry and authorization done
//! underneath. Concurrent sends share one refresh.
//!
//! # Shape
//!
//! Like quinn over quinn-proto: a short `std::sync::Mutex` around the `Session`, never
//! held across I/O or an `.await`. Each caller runs the run loop of `bearerflow`'s crate
//! docs for its own request on its own task (begin, drain `poll_action`, take its
//! `Send`, report the response), so a request with a usable credential costs one
//! uncontended lock and a few hundred nanoseconds of bookkeeping, and never waits for
//! another task. [`Client`] is a cloneable handle. Only what truly waits runs in tasks:
//! token, discovery and registration fetches, the authorizer, the helper, the store,
//! and one timer task that sleeps until `poll_timeout`. `cargo xtask bench driver`
//! measures the cost against bare reqwest.
//!
//! The host supplies:
//! - a [`Store`] for `Action::Persist` ([`MemoryStore`], [`JsonFileStore`]): every action
//!   drained after a `Persist` waits until the store is done, since a rotated refresh
//!   token is already spent and no request may use the new tokens before they are
//!   stored;
//! - an [`Authorizer`] for `Action::Authorize` ([`LoopbackBrowser`], the default;
//!   [`HeadlessFollow`] for tests and machines; [`NoAuthorize`]);
//! - a [`HelperRunner`] for `Action::RunHelper` ([`CommandHelper`]);
//! - for several processes sharing one refresh token, a [`TokenStore`]
//!   ([`FileTokenStore`] on one machine, `RedisTokenStore` with feature `redis` for
//!   fleets) or a [`RefreshLock`] (the host's own lock): see [`shared_store`].
//!
//! # Translation only
//!
//! This crate performs I/O and converts types. Every decision (refresh now or later,
//! retry or fail, what a challenge means, when a request times out) is the session's,
//! made once in `bearerflow`'s core, so the C, WASM and async hosts cannot drift apart.
//!
//! # Example
//!
//! ```no_run
//! use bearerflow::session::{Config, OAuthConfig};
//! use bearerflow_async::{Client, JsonFileStore, LoopbackBrowser};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let browser = LoopbackBrowser::bind("/callback").await?.open_browser(true);
//! let config = Config::oauth(
//!     "https://mcp.example.com/mcp",
//!     OAuthConfig {
//!         redirect_uri: browser.redirect_uri().map(String::from),
//!         ..OAuthConfig::default()
//!     },
//! );
//! let client = Client::builder(config)
//!     .store(JsonFileStore::new("/tmp/bearerflow-example.json"))
//!     .authorizer(browser)
//!     .build()
//!     .await?;
//! let request = client.post("https://mcp.example.com/mcp").body("{}").build()?;
//! let response = client.send(request).await?;
//! println!("{}", response.status());
//! # Ok(()) }
//! ```
//!
//! # Servers that misbehave
//!
//! A resource server cannot make a request cost more than the session's
//! [`Policy`](bearerflow::policy::Policy) allows: headers within `resource_deadline`, a
//! body within `max_resource_body` (and the same deadline), a `text/event-stream` within
//! `max_stream_event` per event and `stream_idle_timeout` between events. Each exceeded
//! limit is an [`Error::Limit`] naming the limit and the request ([`limits`]). A
//! credential never follows a redirect to another origin ([`resource_redirect_policy`],
//! [`Error::Redirect`]). Text a server controls reaches errors through
//! [`bearerflow::text`] (terminal controls escaped, length capped), and text quoted from a
//! response never holds the credential its request carried. A redirect whose `state` is
//! not the request's never reaches the session: [`LoopbackBrowser`] turns it away and keeps
//! waiting, [`HeadlessFollow`] fails at once.
//!
//! # Features and TLS
//!
//! Adding this crate changes nothing for the rest of a program: Cargo unifies features
//! across the program, so the default `rustls` feature turns on exactly reqwest's own
//! default TLS (rustls with reqwest's bundled provider, used only when the program
//! installed none), and any `reqwest::Client` the program builds works without setup.
//! With `default-features = false` this crate asks reqwest for no TLS at all, and uses
//! whatever TLS the program turns on in its own reqwest dependency (`native-tls`,
//! `rustls-no-provider` with a provider the program installs, ...).
//!
//! For MCP servers, [`mcp::McpClient`] does `initialize`, `tools/list` and `tools/call`
//! over Streamable HTTP through a `Client`. For code already built on
//! `reqwest-middleware`, add [`BearerflowMiddleware`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod authorize;
mod client;
mod deadline;
mod driver;
mod error;
mod events;
mod file_store;
mod helper;
pub mod limits;
pub mod mcp;
mod middleware;
mod redact;
#[cfg(feature = "redis")]
mod redis_store;
mod reply;
pub mod shared_store;
mod store;

pub use authorize::{
    AuthorizeError, Authorizer, HeadlessFollow, LoopbackBrowser, NoAuthorize,
    MAX_AUTHORIZATION_REDIRECTS,
};
pub use client::{
    resource_redirect_policy, BuildError, Client, ClientBuilder, MAX_RESOURCE_REDIRECTS,
};
pub use driver::Status;
pub use error::{Error, RedirectRefused};
pub use events::{Event, Obtained};
pub use file_store::FileTokenStore;
pub use helper::{CommandHelper, HelperError, HelperRunner};
pub use limits::{Limit, LimitExceeded, Stage};
pub use middleware::BearerflowMiddleware;
pub use redact::Redactor;
#[cfg(feature = "redis")]
pub use redis_store::RedisTokenStore;
/// An incremental `text/event-stream` parser (WHATWG HTML §9.2.6), for hosts that
/// forward a resource's event stream message by message.
pub use reply::{SseEvent, SseParser};
pub use shared_store::{Refresh, RefreshLock, Swap, TokenStore};
pub use store::{JsonFileStore, MemoryStore, Store, StoreError};

/// Re-exported so hosts name the same types the driver uses.
pub use bearerflow;

use bearerflow::time::Timestamp;

/// The current time as the session wants it: unix milliseconds from the system clock.
pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Timestamp(ms)
}

/// Kept so that existing callers compile; it does nothing and is never needed.
///
/// bearerflow-async 0.1 built reqwest with `rustls-no-provider`, which Cargo turned on
/// for the whole program: every `reqwest::Client` the program built panicked until a
/// rustls provider was installed, and this function installed one. reqwest's own
/// default TLS is used now (its bundled provider serves whenever the program installed
/// none), so no setup is needed anywhere.
pub fn install_crypto_provider() {}
