//! bearerflow keeps an MCP client (or any OAuth 2.1 bearer-token client) authorized for
//! the whole life of a session.
//!
//! It is a sans-IO state machine: the host feeds it events (a request to send, an HTTP
//! response, the current time, a browser redirect, a helper's output) and drains
//! actions from it (send this request with these headers, call the token endpoint, open
//! this URL, run the header helper, persist these tokens, fail this request). It never
//! opens a socket, reads a clock, spawns a process or draws randomness by itself, so the
//! same core runs under tokio, in a browser, behind a C ABI and on a microcontroller.
//!
//! # The run loop
//!
//! Mutate, drain [`Session::poll_action`](session::Session::poll_action) until it is empty, then wait until
//! [`Session::poll_timeout`](session::Session::poll_timeout) or the next event. Every binding's driver is this loop,
//! and this loop alone is correct: the session enforces its own limits, reports only
//! deadlines it acts on, and never hands out a `Send` without its headers. A host that
//! prefers data to Rust types reads each action as JSON with
//! [`Action::to_json`](session::Action::to_json) (the shape the C ABI and WASM give
//! their hosts) and builds the session from [`Config::from_json`](session::Config::from_json).
//!
//! ```no_run
//! use bearerflow::session::{Action, Config, OAuthConfig, Session, Verdict};
//! use bearerflow::time::Timestamp;
//!
//! # fn now() -> Timestamp { Timestamp(0) }
//! # fn seed() -> [u8; 32] { [0; 32] }
//! # fn send_to_resource(_h: &[bearerflow::http::Header]) -> (u16, Vec<String>) { (200, vec![]) }
//! # fn perform(_r: &bearerflow::http::Request) -> (u16, Vec<(String, String)>, Vec<u8>) { (200, vec![], vec![]) }
//! # fn persist(_s: &bearerflow::session::Snapshot) -> bool { true }
//! # fn open_browser_and_wait(_u: &str) -> String { String::new() }
//! # fn run_helper_command() -> Result<Vec<u8>, Option<i32>> { Ok(vec![]) }
//! let config = Config::oauth(
//!     "https://mcp.example.com/mcp",
//!     OAuthConfig {
//!         redirect_uri: Some("http://127.0.0.1:8976/callback".into()),
//!         ..OAuthConfig::default()
//!     },
//! );
//! let mut session = Session::new(config, seed(), now());
//! let call = session.begin_request(now());
//! let mut done = false;
//! while !done {
//!     while let Some(action) = session.poll_action() {
//!         match action {
//!             Action::Send { id, generation } => {
//!                 let headers = session.headers(generation).unwrap_or_default().to_vec();
//!                 let (status, www_authenticate) = send_to_resource(&headers);
//!                 let lines: Vec<&str> = www_authenticate.iter().map(String::as_str).collect();
//!                 match session.handle_resource_response(id, status, &lines, now()) {
//!                     Verdict::Deliver => done = id == call,
//!                     Verdict::Retry => {} // another Send or a Fail for `id` follows
//!                 }
//!             }
//!             Action::Fetch { id, request, .. } => {
//!                 let (status, headers, body) = perform(&request);
//!                 let headers: Vec<(&str, &str)> =
//!                     headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
//!                 session.handle_http_response(id, status, &headers, &body, now());
//!             }
//!             Action::Persist(snapshot) => {
//!                 if !persist(&snapshot) {
//!                     session.handle_persist_failed(now()); // asked again later
//!                 }
//!             }
//!             Action::Authorize { url } => {
//!                 let redirect = open_browser_and_wait(&url);
//!                 let _ = session.handle_redirect(&redirect, now());
//!             }
//!             Action::RunHelper => match run_helper_command() {
//!                 Ok(stdout) => session.handle_helper_stdout(&stdout, now()),
//!                 Err(exit_code) => session.handle_helper_failure(exit_code, now()),
//!             },
//!             // Only with `Policy::shared_store` (several processes, one store).
//!             Action::AcquireLease { .. } => session.handle_lease(true, now()),
//!             Action::ReleaseLease => {}
//!             Action::Fail { id, error, cause } => {
//!                 match cause {
//!                     Some(cause) => eprintln!("request {id:?} failed: {error}: {cause}"),
//!                     None => eprintln!("request {id:?} failed: {error}"),
//!                 }
//!                 done = id == call;
//!             }
//!         }
//!     }
//!     if let Some(deadline) = session.poll_timeout() {
//!         // sleep until `deadline` or the next event, then:
//!         session.handle_timeout(deadline);
//!     }
//! }
//! ```
//!
//! # Modules
//!
//! - [`challenge`]: `WWW-Authenticate` parsing and rendering, `Authorization: Bearer`
//!   (RFC 9110 §11.6.1, RFC 6750 §3, RFC 9728 §5.1).
//! - [`token`]: [`TokenSet`](token::TokenSet), [`Phase`](token::Phase), generations.
//! - [`policy`]: when to refresh, how to back off.
//! - [`oauth`]: token, discovery, registration and authorization messages as pure
//!   functions.
//! - [`http`]: small owned request/response values and raw HTTP/1.1 for socket hosts.
//! - [`session`]: the machine.
//! - [`guard`]: the server half: the status and challenge a protected resource answers
//!   (RFC 6750 §3, RFC 9728 §5.1), and its metadata document.
//!
//! # Errors and panics
//!
//! Every malformed input (a header, a JSON body, a redirect URL) gives a typed error
//! that says what was wrong and where. No panic is reachable from any input; fuzz
//! targets and property tests check it. Secrets live in [`secret::Secret`], which
//! redacts itself in `Debug` and `Display` and zeroizes on drop.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod challenge;
pub mod dpop;
pub mod guard;
pub mod http;
pub mod jose;
mod json_out;
pub mod oauth;
pub mod policy;
pub mod secret;
pub mod session;
pub mod text;
pub mod time;
pub mod token;

/// This crate's version (`Cargo.toml`), for hosts that report what they run.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
