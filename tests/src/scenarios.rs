//! The stories the session machine must get right, each built and run on the simulated
//! world. Scenario tests assert on the finished [`Sim`]; the vector recorder writes the
//! same runs out as JSON vectors for the other bindings.

use crate::sim::{AuthServer, Browser, Fault, Sim, ISSUER, REDIRECT_URI, RESOURCE, TOKEN_ENDPOINT};
use bearerflow::oauth::ClientRegistration;
use bearerflow::session::{Config, HelperConfig, OAuthConfig};

/// A named scenario: name, description, and the function that runs it.
pub type Scenario = (&'static str, &'static str, fn() -> Sim);

/// Every scenario by name, with its description.
pub const ALL: &[Scenario] = &[
    (
        "ten_second_tokens",
        "10-second tokens with rotation, one call a second for 60 s: no failures, no 401 reaches the caller, at most 7 refreshes",
        ten_second_tokens,
    ),
    (
        "burst_after_expiry",
        "32 requests begun 1 ms after expiry with rotating refresh tokens: 32 sends, 0 failures, exactly 1 token request",
        burst_after_expiry,
    ),
    (
        "unknown_expiry",
        "no expires_in: the first 401 refreshes once and all 32 requests that got 401 are retried with the new token",
        unknown_expiry,
    ),
    (
        "helper_rerun_on_401",
        "header helper whose token expires after 5 minutes: the next call gets 401, the helper runs once, the retry succeeds, no discovery",
        helper_rerun_on_401,
    ),
    (
        "invalid_grant_mid_burst",
        "invalid_grant during a burst with no way to reauthorize: every request fails once with reauthorization_required, no more token requests",
        invalid_grant_mid_burst,
    ),
    (
        "transient_then_recover",
        "token endpoint 503 with Retry-After while the token is still valid: calls keep flowing with the current token, the refresh succeeds later",
        transient_then_recover,
    ),
    (
        "first_401_discovers_and_authorizes",
        "a session with nothing: the first request's 401 starts discovery, registration and PKCE authorization; the request is retried with the token",
        first_401_discovers_and_authorizes,
    ),
    (
        "invalid_grant_reauthorizes",
        "invalid_grant with a redirect URI configured: the session authorizes again by itself and no request fails",
        invalid_grant_reauthorizes,
    ),
];

/// The seed every scenario uses (deterministic runs, deterministic vectors).
pub const SEED: [u8; 32] = [42; 32];

/// An OAuth config that knows its client and token endpoint but cannot authorize.
pub fn refresh_only_config() -> Config {
    Config::oauth(
        RESOURCE,
        OAuthConfig {
            client: Some(ClientRegistration::public("client-1")),
            token_endpoint: Some(TOKEN_ENDPOINT.into()),
            issuer: Some(ISSUER.into()),
            ..OAuthConfig::default()
        },
    )
}

/// An OAuth config with a redirect URI: the session can authorize by itself.
pub fn authorizing_config() -> Config {
    Config::oauth(
        RESOURCE,
        OAuthConfig {
            redirect_uri: Some(REDIRECT_URI.into()),
            client_name: Some("bearerflow-tests".into()),
            ..OAuthConfig::default()
        },
    )
}

fn restored(ttl: Option<u64>, rotate: bool, config: Config) -> Sim {
    let mut auth = AuthServer::new(ttl, rotate);
    let snap = Sim::minted_snapshot(&mut auth, 0);
    Sim::with_snapshot(config, auth, SEED, 0, Some(snap))
}

/// See [`ALL`].
pub fn ten_second_tokens() -> Sim {
    let mut sim = restored(Some(10), true, refresh_only_config());
    for s in 0..60 {
        sim.begin_at(s * 1000 + 500);
    }
    sim.run_until(61_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn burst_after_expiry() -> Sim {
    let mut sim = restored(Some(10), true, refresh_only_config());
    for _ in 0..32 {
        sim.begin_at(10_001);
    }
    sim.run_until(20_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn unknown_expiry() -> Sim {
    let mut auth = AuthServer::new(None, true);
    auth.hidden_ttl = Some(10);
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let mut sim = Sim::with_snapshot(refresh_only_config(), auth, SEED, 0, Some(snap));
    for _ in 0..32 {
        sim.begin_at(10_001);
    }
    sim.run_until(20_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn helper_rerun_on_401() -> Sim {
    let config = Config::header_helper(RESOURCE, HelperConfig::default());
    let auth = AuthServer::new(None, false);
    let mut sim = Sim::new(config, auth, SEED, 0);
    sim.helper_server_ttl = Some(300);
    for m in 0..6 {
        sim.begin_at(1_000 + m * 60_000);
    }
    sim.run_until(360_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn invalid_grant_mid_burst() -> Sim {
    let mut sim = restored(Some(10), true, refresh_only_config());
    sim.auth.faults.push_back(Fault::InvalidGrant);
    for _ in 0..32 {
        sim.begin_at(10_001);
    }
    for _ in 0..4 {
        sim.begin_at(12_000);
    }
    sim.run_until(20_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn transient_then_recover() -> Sim {
    let mut sim = restored(Some(60), true, refresh_only_config());
    sim.auth.faults.push_back(Fault::Status(503, Some(2)));
    sim.auth.faults.push_back(Fault::Status(500, None));
    for s in 0..70 {
        sim.begin_at(s * 1000 + 100);
    }
    sim.run_until(75_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn first_401_discovers_and_authorizes() -> Sim {
    let auth = AuthServer::new(Some(3600), true);
    let mut sim = Sim::new(authorizing_config(), auth, SEED, 0);
    sim.browser = Browser::Approve;
    sim.begin_at(0);
    sim.begin_at(5);
    sim.run_until(10_000, 100_000);
    sim.begin_at(11_000);
    sim.run_until(20_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn invalid_grant_reauthorizes() -> Sim {
    let mut auth = AuthServer::new(Some(10), true);
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let mut config = authorizing_config();
    if let bearerflow::session::Credential::OAuth(o) = &mut config.credential {
        o.client = Some(ClientRegistration::public("client-1"));
    }
    let mut sim = Sim::with_snapshot(config, auth, SEED, 0, Some(snap));
    sim.auth.faults.push_back(Fault::InvalidGrant);
    for _ in 0..8 {
        sim.begin_at(10_001);
    }
    sim.run_until(20_000, 100_000);
    sim
}
