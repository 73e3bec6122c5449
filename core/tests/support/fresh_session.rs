//! A session holding fresh tokens, for the hot-path bench, the allocation test and the
//! footprint example (each includes this file with `#[path]`).
#![allow(dead_code)]

use bearerflow::oauth::ClientRegistration;
use bearerflow::secret::Secret;
use bearerflow::session::{Config, OAuthConfig, Session};
use bearerflow::time::Timestamp;
use std::sync::Arc;

/// The configuration a gateway shares between all sessions of one server: a
/// pre-registered client and the token endpoint.
pub fn shared_config() -> Arc<Config> {
    Arc::new(Config::oauth(
        "https://mcp.example.com/mcp",
        OAuthConfig {
            client: Some(ClientRegistration::public("client-1")),
            token_endpoint: Some("https://auth.example.com/token".into()),
            issuer: Some("https://auth.example.com".into()),
            ..OAuthConfig::default()
        },
    ))
}

/// A session of `config` holding an access token of `access` and a refresh token of
/// `refresh` that live an hour, every action drained.
pub fn session_with(
    config: &Arc<Config>,
    access: String,
    refresh: String,
    seed: [u8; 32],
) -> Session {
    let mut s = Session::new(Arc::clone(config), seed, Timestamp(0));
    s.set_tokens(
        Secret::new(access),
        Some(Secret::new(refresh)),
        Some(3600),
        Some("mcp:tools offline_access".into()),
        Timestamp(0),
    );
    while s.poll_action().is_some() {}
    s
}

/// [`session_with`] on its own configuration, with tokens of the given lengths.
pub fn fresh_session(access_len: usize, refresh_len: usize) -> Session {
    session_with(
        &shared_config(),
        "a".repeat(access_len),
        "r".repeat(refresh_len),
        [7; 32],
    )
}
