//! Runs one [`bearerflow::session::Session`] over reqwest and tokio time: send a request
//! through a [`Client`] and get the response, with refresh, retry and authorization done
//! underneath. Concurrent sends share one refresh.
//!
//! # Shape
//!
//! An actor, like quinn's driver over quinn-proto. One driver task owns the `Session`
//! and runs the run loop from `bearerflow`'s crate docs: mutate, drain `poll_action`,
//! sleep until `poll_timeout` or the next message. [`Client`] is a cloneable handle.
//! Resource requests run concurrently in the callers' own tasks; only the session's
//! bookkeeping (begin, report, cancel) goes through the driver, never the HTTP
//! requests themselves.
//!
//! The host supplies:
//! - a [`Store`] for `Action::Persist` ([`MemoryStore`], [`JsonFileStore`]): awaited
//!   before any later action runs, since a rotated refresh token is already spent;
//! - an [`Authorizer`] for `Action::Authorize` ([`LoopbackBrowser`], the default;
//!   [`HeadlessFollow`] for tests and machines; [`NoAuthorize`]);
//! - a [`HelperRunner`] for `Action::RunHelper` ([`CommandHelper`]).
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
//! For MCP servers, [`mcp::McpClient`] does `initialize`, `tools/list` and `tools/call`
//! over Streamable HTTP through a `Client`. For code already built on
//! `reqwest-middleware`, add [`BearerflowMiddleware`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod authorize;
mod client;
mod driver;
mod error;
mod events;
mod helper;
pub mod limits;
pub mod mcp;
mod middleware;
mod redact;
mod reply;
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
pub use events::Event;
pub use helper::{CommandHelper, HelperError, HelperRunner};
pub use limits::{Limit, LimitExceeded, Stage};
pub use middleware::BearerflowMiddleware;
pub use redact::Redactor;
/// An incremental `text/event-stream` parser (WHATWG HTML §9.2.6), for hosts that
/// forward a resource's event stream message by message.
pub use reply::{SseEvent, SseParser};
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

/// Install the rustls crypto provider (ring) as the process default, if none is.
///
/// With the `rustls` feature reqwest is built without a provider of its own, so a
/// `reqwest::Client` built before any provider is installed panics. The builders in
/// this crate call this themselves; call it before building your own
/// `reqwest::Client` (for [`ClientBuilder::http_client`] or a middleware stack).
pub fn install_crypto_provider() {
    #[cfg(feature = "rustls")]
    {
        // Err means a provider is already installed (by us or by the host): fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
