//! A session holding fresh tokens, for the hot-path bench, the allocation test and the
//! footprint example (each includes this file with `#[path]`).

use bearerflow::oauth::ClientRegistration;
use bearerflow::secret::Secret;
use bearerflow::session::{Config, OAuthConfig, Session};
use bearerflow::time::Timestamp;

/// An OAuth session with a pre-registered client, holding an access token of
/// `access_len` bytes and a refresh token of `refresh_len` bytes that live an hour,
/// every action drained.
pub fn fresh_session(access_len: usize, refresh_len: usize) -> Session {
    let config = Config::oauth(
        "https://mcp.example.com/mcp",
        OAuthConfig {
            client: Some(ClientRegistration::public("client-1")),
            token_endpoint: Some("https://auth.example.com/token".into()),
            ..OAuthConfig::default()
        },
    );
    let mut s = Session::new(config, [7; 32], Timestamp(0));
    s.set_tokens(
        Secret::new("a".repeat(access_len)),
        Some(Secret::new("r".repeat(refresh_len))),
        Some(3600),
        Some("mcp:tools offline_access".into()),
        Timestamp(0),
    );
    while s.poll_action().is_some() {}
    s
}
