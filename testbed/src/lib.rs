//! A real OAuth 2.1 authorization server and MCP Streamable-HTTP resource server on
//! 127.0.0.1, for bearerflow's tests, benches and demo.
//!
//! One process serves both roles on one loopback port:
//!
//! | path | what | spec |
//! | --- | --- | --- |
//! | `/.well-known/oauth-authorization-server[/issuer-path]` | authorization server metadata | RFC 8414 §3 |
//! | `/.well-known/openid-configuration…` (off by default) | the same document at the OpenID locations | MCP discovery order |
//! | `/.well-known/oauth-protected-resource/mcp` and `/.well-known/oauth-protected-resource` | protected resource metadata | RFC 9728 §3 |
//! | `{issuer}/register` | dynamic client registration | RFC 7591 |
//! | `{issuer}/authorize` | auto-approving authorization endpoint, PKCE S256 only, `iss` in the redirect | RFC 6749 §4.1, RFC 7636, RFC 9207 |
//! | `{issuer}/token` | `authorization_code`, `refresh_token` (rotation + reuse detection), `client_credentials` | RFC 6749, RFC 9700 §4.14.2 |
//! | `{issuer}/introspect`, `{issuer}/revoke` | introspection and revocation | RFC 7662, RFC 7009 |
//! | `/mcp` | MCP Streamable HTTP with `echo`, `add` and optional tools, on the 2026-07-28 stateless wire and the 2025-11-25 `initialize` wire ([`Config::wires`]) | MCP 2026-07-28, 2025-11-25 |
//! | `/_testbed/counters` | [`Counters`] as JSON, for tests written in other languages | |
//!
//! Every `/mcp` request needs `Authorization: Bearer <token>`. Failures answer `401` with a
//! `WWW-Authenticate: Bearer` challenge rendered by [`bearerflow::challenge`], carrying
//! `error="invalid_token"` (absent when no credentials were sent, RFC 6750 §3.1),
//! `error_description`, `scope` and `resource_metadata` (RFC 9728 §5.1); the scoped tool
//! answers `403` with `error="insufficient_scope"`.
//!
//! Tokens are opaque random strings kept in memory; lifetimes have millisecond precision.
//! [`Faults`] injects token-endpoint failures at run time and [`Counters`] records what
//! happened, so a test can assert "exactly one refresh".
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::time::Duration;
//! use bearerflow_testbed::{Config, Testbed};
//!
//! let testbed = Testbed::start(Config {
//!     access_ttl: Duration::from_secs(5),
//!     ..Config::default()
//! })
//! .await?;
//! let tokens = testbed.issue_tokens_for_test("mcp:tools").expect("a supported scope");
//! println!("POST {} with Bearer {}", testbed.mcp_url(), tokens.access_token.expose());
//! testbed.faults().fail_next_token_calls(1);
//! assert_eq!(testbed.counters().token_calls(), 0);
//! testbed.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Hosts without a tokio runtime (sync tests, criterion benches, C tests) use
//! [`Testbed::start_in_background`], which runs the server on its own thread. The
//! `bearerflow-testbed` binary starts one from the command line.
//!
//! The testbed binds only to 127.0.0.1 and is not meant to be secure beyond what its
//! tests need: introspection and revocation are unauthenticated, and clients are kept
//! in memory.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cli;
mod config;
mod faults;
mod guarded;
mod mcp;
mod oauth;
mod server;
mod store;
mod util;

use std::fmt;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use bearerflow::secret::Secret;
use tokio::sync::oneshot;

pub use config::{AuthMethod, Config, DropMode, GrantType, Wires};
pub use faults::{Counters, Faults};

use server::Shared;

/// Errors from the test helpers ([`Handle::issue_tokens_for_client`],
/// [`Handle::register_client_for_test`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TestbedError {
    /// No client with this id is registered.
    UnknownClient(String),
    /// The scope string has a character scope tokens may not contain (RFC 6749 §3.3).
    InvalidScope(String),
    /// A redirect URI the authorization server would refuse at `/register`.
    InvalidRedirectUri(String),
    /// The client metadata is inconsistent (e.g. a public client with
    /// `client_credentials`).
    InvalidClient(&'static str),
    /// The operating system provided no randomness.
    NoEntropy,
    /// The resource is neither the MCP endpoint nor one of [`Config::extra_resources`].
    UnknownResource(String),
}

impl fmt::Display for TestbedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestbedError::UnknownClient(id) => write!(f, "client {id:?} is not registered"),
            TestbedError::InvalidScope(why) => write!(f, "invalid scope: {why}"),
            TestbedError::InvalidRedirectUri(why) => write!(f, "invalid redirect URI: {why}"),
            TestbedError::InvalidClient(why) => write!(f, "invalid client metadata: {why}"),
            TestbedError::NoEntropy => f.write_str("the operating system provided no randomness"),
            TestbedError::UnknownResource(r) => write!(f, "resource {r:?} is not served here"),
        }
    }
}

impl std::error::Error for TestbedError {}

/// A token set minted directly by [`Handle::issue_tokens_for_test`], as if a flow had
/// run. The tokens are secrets: `Debug` redacts them.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    /// The access token, for `Authorization: Bearer`.
    pub access_token: Secret,
    /// The refresh token, when the client may refresh and the config issues them.
    pub refresh_token: Option<Secret>,
    /// The access token's lifetime ([`Config::access_ttl`]).
    pub expires_in: Duration,
    /// The granted scope, space-delimited.
    pub scope: String,
    /// The client the tokens belong to (refresh with this client id).
    pub client_id: String,
}

/// A client to pre-register with [`Handle::register_client_for_test`], as if an operator
/// had configured it (MCP "Preregistration").
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// Redirect URIs; loopback `http` URIs match on any port (RFC 8252 §7.3).
    pub redirect_uris: Vec<String>,
    /// How the client authenticates at the token endpoint. Anything but
    /// [`AuthMethod::None`] gets a generated secret.
    pub auth_method: AuthMethod,
    /// Grants the client may use.
    pub grant_types: Vec<GrantType>,
}

impl Default for ClientSpec {
    /// A public client with `http://127.0.0.1/callback`, allowed the authorization code
    /// and refresh token grants.
    fn default() -> ClientSpec {
        ClientSpec {
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            auth_method: AuthMethod::None,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        }
    }
}

/// A registered client's credentials.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    /// The generated client id.
    pub client_id: String,
    /// The generated secret for confidential clients.
    pub client_secret: Option<Secret>,
}

/// A cheap, cloneable view of a running (or stopped) testbed: URLs, counters, faults and
/// test helpers. [`Testbed`] and [`BackgroundTestbed`] dereference to it.
#[derive(Debug, Clone)]
pub struct Handle {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl Handle {
    /// The bound address (always 127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.shared.origin.clone()
    }

    /// The issuer identifier (RFC 8414 §2), e.g. `http://127.0.0.1:PORT` or
    /// `http://127.0.0.1:PORT/tenant1` with [`Config::issuer_path`].
    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    /// The MCP endpoint, e.g. `http://127.0.0.1:PORT/mcp`; also the RFC 8707 resource
    /// identifier and the tokens' audience.
    pub fn mcp_url(&self) -> String {
        self.shared.mcp_url.clone()
    }

    /// The protected resource metadata URL named in challenges (RFC 9728 §3.1 path form
    /// unless only the root document is served).
    pub fn resource_metadata_url(&self) -> String {
        self.shared.prm_url.clone()
    }

    /// Where RFC 8414 metadata is served (`/.well-known/oauth-authorization-server` with
    /// the issuer path appended, RFC 8414 §3.1).
    pub fn authorization_server_metadata_url(&self) -> String {
        format!(
            "{}/.well-known/oauth-authorization-server{}",
            self.shared.origin, self.shared.issuer_path
        )
    }

    /// `{issuer}/authorize`
    pub fn authorization_endpoint(&self) -> String {
        self.shared.endpoint("authorize")
    }

    /// `{issuer}/token`
    pub fn token_endpoint(&self) -> String {
        self.shared.endpoint("token")
    }

    /// `{issuer}/register`
    pub fn registration_endpoint(&self) -> String {
        self.shared.endpoint("register")
    }

    /// `{issuer}/introspect`
    pub fn introspection_endpoint(&self) -> String {
        self.shared.endpoint("introspect")
    }

    /// `{issuer}/revoke`
    pub fn revocation_endpoint(&self) -> String {
        self.shared.endpoint("revoke")
    }

    /// The configuration the testbed runs with (paths normalized).
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        self.shared.counters.snapshot()
    }

    /// The runtime fault-injection knobs.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Invalidate every token issued so far (shortcut for [`Faults::revoke_all`]).
    pub fn revoke_all(&self) {
        self.shared.faults.revoke_all();
    }

    /// The pre-registered public client (`none` authentication, redirect URI
    /// `http://127.0.0.1/callback` on any port, authorization code and refresh grants).
    pub fn default_client_id(&self) -> String {
        self.shared.default_client_id.clone()
    }

    /// Mint a token set for the default client directly, as if the authorization code
    /// flow had just run, so a test can start with tokens in hand. `scope` is
    /// space-delimited and, unlike at `/authorize`, need not be in
    /// [`Config::scopes_supported`]; an empty string grants nothing.
    pub fn issue_tokens_for_test(&self, scope: &str) -> Result<IssuedTokens, TestbedError> {
        self.issue_tokens_for_client(&self.shared.default_client_id, scope)
    }

    /// [`Handle::issue_tokens_for_test`] for another resource this server issues tokens
    /// for (one of [`Config::extra_resources`], or the MCP endpoint).
    pub fn issue_tokens_for_resource(
        &self,
        scope: &str,
        resource: &str,
    ) -> Result<IssuedTokens, TestbedError> {
        let resource = self
            .shared
            .resource_for(Some(resource))
            .ok_or_else(|| TestbedError::UnknownResource(resource.to_string()))?;
        self.issue(&self.shared.default_client_id, scope, resource)
    }

    /// Expire the simulated upstream token behind every access token issued so far:
    /// the tool `upstream_echo` ([`Config::bearer_layer`]) then signals upstream expiry
    /// for requests carrying one of them, until the client renews its token.
    pub fn expire_upstream_tokens(&self) -> usize {
        self.shared.store().expire_upstream_all()
    }

    /// [`Handle::issue_tokens_for_test`] for another registered client. A refresh token
    /// is included when the client may use the refresh grant and
    /// [`Config::issue_refresh_tokens`] is on.
    pub fn issue_tokens_for_client(
        &self,
        client_id: &str,
        scope: &str,
    ) -> Result<IssuedTokens, TestbedError> {
        self.issue(client_id, scope, self.shared.mcp_url.clone())
    }

    fn issue(
        &self,
        client_id: &str,
        scope: &str,
        resource: String,
    ) -> Result<IssuedTokens, TestbedError> {
        let scope = util::parse_scope(scope).map_err(TestbedError::InvalidScope)?;
        let shared = &self.shared;
        let mut store = shared.store();
        let client = store
            .client(client_id)
            .ok_or_else(|| TestbedError::UnknownClient(client_id.to_string()))?;
        let with_refresh =
            shared.config.issue_refresh_tokens && client.allows(GrantType::RefreshToken);
        let issued = store
            .issue_family(
                client_id.to_string(),
                scope,
                resource,
                shared.now(),
                shared.faults.generation(),
                shared.lifetimes(),
                with_refresh,
            )
            .map_err(|_| TestbedError::NoEntropy)?;
        Ok(IssuedTokens {
            scope: issued.scope.join(" "),
            access_token: issued.access_token,
            refresh_token: issued.refresh_token,
            expires_in: shared.config.access_ttl,
            client_id: client_id.to_string(),
        })
    }

    /// Register a client without going through `/register` (does not count as a
    /// registration).
    pub fn register_client_for_test(
        &self,
        spec: ClientSpec,
    ) -> Result<RegisteredClient, TestbedError> {
        for uri in &spec.redirect_uris {
            util::check_redirect_uri(uri).map_err(TestbedError::InvalidRedirectUri)?;
        }
        if spec.grant_types.contains(&GrantType::ClientCredentials)
            && spec.auth_method == AuthMethod::None
        {
            return Err(TestbedError::InvalidClient(
                "client_credentials needs a confidential client",
            ));
        }
        if spec.grant_types.contains(&GrantType::AuthorizationCode) && spec.redirect_uris.is_empty()
        {
            return Err(TestbedError::InvalidClient(
                "the authorization_code grant needs a redirect URI",
            ));
        }
        let id = util::random_token("bfclient_").ok_or(TestbedError::NoEntropy)?;
        let secret = match spec.auth_method {
            AuthMethod::None => None,
            _ => Some(Secret::new(
                util::random_token("bfsecret_").ok_or(TestbedError::NoEntropy)?,
            )),
        };
        self.shared.store().insert_client(store::Client {
            id: id.clone(),
            secret: secret.clone(),
            auth_method: spec.auth_method,
            redirect_uris: spec.redirect_uris,
            grant_types: spec.grant_types,
        });
        Ok(RegisteredClient {
            client_id: id,
            client_secret: secret,
        })
    }
}

/// A running testbed on the caller's tokio runtime.
///
/// Dropping it signals the server to stop; [`Testbed::shutdown`] also waits for it.
#[derive(Debug)]
pub struct Testbed {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Deref for Testbed {
    type Target = Handle;
    fn deref(&self) -> &Handle {
        &self.handle
    }
}

impl Testbed {
    /// Bind `127.0.0.1:<config.port>` (0 picks a free port) and serve on the current
    /// tokio runtime. Fails when the port is taken or a configured path is invalid.
    pub async fn start(config: Config) -> std::io::Result<Testbed> {
        // Fail early, rather than on the first token, if there is no randomness.
        util::random_token("").ok_or_else(|| std::io::Error::other("no randomness available"))?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config, addr.port())?);
        if shared.config.bearer_layer {
            guarded::Guarded::install(&shared)?;
        }
        let app = axum::Router::new()
            .fallback(server::dispatch)
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            // An accept error ends the server; tests then see connection refused.
            let _ = serve.await;
        });
        Ok(Testbed {
            handle: Handle { shared, addr },
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Start on a dedicated thread with its own runtime, for callers without tokio.
    pub fn start_in_background(config: Config) -> std::io::Result<BackgroundTestbed> {
        BackgroundTestbed::start(config)
    }

    /// A cloneable handle that outlives this value.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Stop accepting, let in-flight requests finish (at most one second), and return.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(1), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A testbed running on its own thread and runtime. Dropping it stops the server and
/// joins the thread.
#[derive(Debug)]
pub struct BackgroundTestbed {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Deref for BackgroundTestbed {
    type Target = Handle;
    fn deref(&self) -> &Handle {
        &self.handle
    }
}

impl BackgroundTestbed {
    fn start(config: Config) -> std::io::Result<BackgroundTestbed> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<Handle>>();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bearerflow-testbed".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match Testbed::start(config).await {
                        Ok(testbed) => {
                            let _ = ready_tx.send(Ok(testbed.handle()));
                            let _ = stopped.await;
                            testbed.shutdown().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })?;
        let handle = ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("the testbed thread ended before starting"))??;
        Ok(BackgroundTestbed {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// A cloneable handle that outlives this value.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Stop the server and join its thread (what dropping does).
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for BackgroundTestbed {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
