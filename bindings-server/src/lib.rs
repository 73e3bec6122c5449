//! The server half of bearerflow for Rust: guard an MCP endpoint (or any OAuth 2.1
//! protected resource) with core's answers, and let a tool whose upstream token expired
//! answer HTTP `401` — which clients act on by renewing their token and retrying —
//! instead of a JSON-RPC error over `200`, which they cannot act on.
//!
//! # Pieces
//!
//! - [`ProtectedResource`]: the resource's canonical URI (RFC 8707), its metadata URL
//!   (RFC 9728 §3.1, path-inserted), realm, required scope and metadata document.
//! - [`BearerLayer`]: a tower [`Layer`](tower_layer::Layer) for axum routers and hyper
//!   services. It reads the `Authorization` lines and the query, asks core's
//!   [`Guard`](bearerflow::guard::Guard) for the token, asks a [`Verifier`] what the token
//!   is worth, asks the guard again for the answer, and either calls the service (with
//!   [`Authenticated`] and an [`AuthSignal`] in the request's extensions) or sends core's
//!   refusal: the status, the `WWW-Authenticate` value and the JSON body, byte for byte.
//! - [`IntrospectionVerifier`]: a [`Verifier`] over RFC 7662 token introspection, with a
//!   short cache; [`verifier_fn`] makes one from a closure.
//! - [`MetadataService`]: the RFC 9728 document at the resource's metadata path.
//! - [`AuthSignal`] / [`signal_upstream_token_expired`] (a request extension, reachable
//!   from rmcp tools through `http::request::Parts`) and [`UpstreamTokenExpired`] (an
//!   error an axum handler returns): the handler's way to turn its `200` into `401
//!   invalid_token`, for JSON and for SSE responses.
//!
//! # When a signal still counts
//!
//! A status cannot change once its bytes are sent. The layer therefore holds a guarded
//! `POST`'s response head until its first message (the first SSE event with data, or a
//! JSON body's first bytes), so a handler that signals *before it answers* gets the 401
//! however its framework streams; a signal after that returns [`Signalled::TooLate`].
//! The full rule is in [`signal`](crate::signal#the-rule-decide-before-the-first-message).
//!
//! # Translation only
//!
//! Every answer (which status, which error code, the challenge's text and escaping, the
//! audience and scope checks, tokens refused in the query string) is core's
//! [`bearerflow::guard`]. This crate moves bytes between HTTP and the guard.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod body;
mod introspection;
mod layer;
mod metadata;
mod resource;
pub mod signal;
mod sse;
mod verify;

pub use body::GuardedBody;
pub use introspection::{parse_introspection, IntrospectionAuth, IntrospectionVerifier};
pub use layer::{
    refusal_response, Authenticated, BearerLayer, BearerService, ResponseFuture, MAX_HELD_BYTES,
};
pub use metadata::{Empty, MetadataService};
pub use resource::{ProtectedResource, SettingsError};
pub use signal::{
    signal_upstream_token_expired, AuthSignal, NotGuarded, Signalled, UpstreamTokenExpired,
};
pub use verify::{verifier_fn, FnVerifier, TokenClaims, TokenStatus, Verifier, VerifyError};

/// Re-exported so hosts name the same types the layer uses.
pub use bearerflow;
