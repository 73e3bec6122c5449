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
    (
        "network_error_then_recover",
        "the refresh after expiry meets a network error: the 8 waiting requests wait out one backoff, the second refresh succeeds, none fails",
        network_error_then_recover,
    ),
    (
        "cancel_while_waiting",
        "two of four requests waiting for a refresh are cancelled: each ends in one fail with cancelled, the other two go out with the new token",
        cancel_while_waiting,
    ),
    (
        "step_up_on_403",
        "a call needs mcp:admin, the token has mcp:tools: 403 insufficient_scope, authorization with the union of scopes, the retry succeeds",
        step_up_on_403,
    ),
    (
        "client_credentials",
        "a machine client with a secret: the first request waits for a client_credentials grant, then goes out with the token; no probe, no browser",
        client_credentials,
    ),
    (
        "stale_401",
        "a 401 for a request sent with the old token arrives after the refresh: retried with the new token, no second refresh",
        stale_401,
    ),
    (
        "helper_ttl",
        "a header helper whose output lives 60 s: it is run again when the TTL passes, ahead of the next call; no call sees a 401",
        helper_ttl,
    ),
    (
        "retry_after_when_expired",
        "the refresh after expiry gets 503 with Retry-After: 3: the waiting requests wait 3 s, the retry succeeds, none fails",
        retry_after_when_expired,
    ),
    (
        "lost_rotation",
        "the server rotates the refresh token but the response is lost: the retry presents the spent token, the server revokes the family (invalid_grant), the session authorizes again by itself",
        lost_rotation,
    ),
    (
        "odd_token_answers_keep_the_refresh_token",
        "the token endpoint answers a proxy's 404 page, a 408, a 302 and status 0: each is transient, the waiting request fails with token_endpoint_unavailable after four attempts; the next request meets a captive portal's HTML 200, then refreshes; the refresh token is never dropped",
        odd_token_answers_keep_the_refresh_token,
    ),
    (
        "token_error_keeps_the_refresh_token",
        "the token endpoint answers 400 invalid_request (an OAuth error that revokes nothing): the waiting request fails with token_endpoint_rejected, the refresh token stays, and a request after the backoff refreshes",
        token_error_keeps_the_refresh_token,
    ),
    (
        "shared_store_adopts_newer_tokens",
        "a shared store: the refresh lease is taken by another process; its tokens reach the store and the 8 waiting requests go out with them; this process makes no token request",
        shared_store_adopts_newer_tokens,
    ),
    (
        "shared_store_lost_compare_and_swap",
        "a shared store: this process refreshes under the lease, but the store refuses its Persist (another process wrote first) and hands back a newer snapshot, which the session takes on",
        shared_store_lost_compare_and_swap,
    ),
    (
        "shared_store_expired_lease",
        "a shared store: the lease is refused twice (its holder died) and nothing reaches the store; after the holder's lease runs out this process gets it and refreshes; no request fails",
        shared_store_expired_lease,
    ),
    (
        "persist_failure_is_retried",
        "the host fails to store the rotated tokens twice: calls keep going out with them, and the machine asks again until a Persist is stored",
        persist_failure_is_retried,
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

/// See [`ALL`].
pub fn network_error_then_recover() -> Sim {
    let mut sim = restored(Some(10), true, refresh_only_config());
    sim.auth.faults.push_back(Fault::NetworkError);
    for _ in 0..8 {
        sim.begin_at(10_001);
    }
    sim.run_until(20_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn cancel_while_waiting() -> Sim {
    let mut sim = restored(Some(10), true, refresh_only_config());
    for _ in 0..4 {
        sim.begin_at(10_001);
    }
    // Requests 1 and 3 are cancelled while the refresh is in flight.
    sim.cancel_at(10_010, 1);
    sim.cancel_at(10_010, 3);
    sim.run_until(20_000, 100_000);
    sim
}

/// A config that can authorize and already knows its client.
fn authorizing_known_client() -> Config {
    let mut config = authorizing_config();
    if let bearerflow::session::Credential::OAuth(o) = &mut config.credential {
        o.client = Some(ClientRegistration::public("client-1"));
    }
    config
}

/// See [`ALL`].
pub fn step_up_on_403() -> Sim {
    let mut sim = restored(Some(3600), true, authorizing_known_client());
    sim.required_scope = Some("mcp:admin".into());
    sim.begin_at(1_000);
    sim.run_until(10_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn client_credentials() -> Sim {
    let config = Config::oauth(
        RESOURCE,
        OAuthConfig {
            client: Some(ClientRegistration::confidential(
                "client-1",
                bearerflow::secret::Secret::new("cc-secret"),
                bearerflow::oauth::ClientAuthMethod::ClientSecretBasic,
            )),
            token_endpoint: Some(TOKEN_ENDPOINT.into()),
            issuer: Some(ISSUER.into()),
            grant: bearerflow::session::Grant::ClientCredentials,
            ..OAuthConfig::default()
        },
    );
    let auth = AuthServer::new(Some(3600), false);
    let mut sim = Sim::new(config, auth, SEED, 0);
    sim.begin_at(0);
    sim.begin_at(100);
    sim.run_until(10_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn stale_401() -> Sim {
    let mut auth = AuthServer::new(None, true);
    auth.hidden_ttl = Some(10);
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let mut sim = Sim::with_snapshot(refresh_only_config(), auth, SEED, 0, Some(snap));
    // The token endpoint answers faster than the resource: the second request's 401
    // (for the old token) arrives after the refresh has finished.
    sim.fetch_latency = Some(5);
    sim.begin_at(10_001);
    sim.begin_at(10_015);
    sim.run_until(20_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn helper_ttl() -> Sim {
    let config = Config::header_helper(
        RESOURCE,
        HelperConfig {
            ttl_ms: Some(60_000),
            oauth_fallback: None,
        },
    );
    let auth = AuthServer::new(None, false);
    let mut sim = Sim::new(config, auth, SEED, 0);
    sim.helper_server_ttl = Some(65);
    for s in 0..9 {
        sim.begin_at(1_000 + s * 20_000);
    }
    sim.run_until(180_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn retry_after_when_expired() -> Sim {
    let mut sim = restored(Some(10), true, refresh_only_config());
    sim.auth.faults.push_back(Fault::Status(503, Some(3)));
    for _ in 0..8 {
        sim.begin_at(10_001);
    }
    sim.run_until(20_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn lost_rotation() -> Sim {
    let mut sim = restored(Some(10), true, authorizing_known_client());
    sim.auth.faults.push_back(Fault::RotateAndDrop);
    for _ in 0..4 {
        sim.begin_at(10_001);
    }
    sim.run_until(20_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn odd_token_answers_keep_the_refresh_token() -> Sim {
    let mut sim = restored(Some(10), true, refresh_only_config());
    for (status, body) in [
        (404, "<html><body>Not Found</body></html>"),
        (408, ""),
        (302, ""),
        (0, ""),
        (200, "<html>Sign in to the Wi-Fi</html>"),
    ] {
        sim.auth.faults.push_back(Fault::Reply(status, body.into()));
    }
    sim.begin_at(10_001);
    // After the attempts run out the session waits its longest backoff (30 s).
    sim.begin_at(60_000);
    sim.run_until(70_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn token_error_keeps_the_refresh_token() -> Sim {
    let mut sim = restored(Some(10), true, refresh_only_config());
    sim.auth.faults.push_back(Fault::Reply(
        400,
        r#"{"error":"invalid_request","error_description":"try later"}"#.into(),
    ));
    sim.begin_at(10_001);
    sim.begin_at(45_000);
    sim.run_until(50_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn persist_failure_is_retried() -> Sim {
    let mut sim = restored(Some(10), true, refresh_only_config());
    sim.persist_failures = 2;
    for s in 0..4 {
        sim.begin_at(10_001 + s * 1_000);
    }
    sim.run_until(20_000, 100_000);
    sim
}

fn shared(mut config: Config) -> Config {
    config.policy.shared_store = true;
    config
}

/// See [`ALL`].
pub fn shared_store_adopts_newer_tokens() -> Sim {
    let mut sim = restored(Some(10), true, shared(refresh_only_config()));
    sim.lease_answers.push_back(false);
    for _ in 0..8 {
        sim.begin_at(10_001);
    }
    // The other process's refresh lands in the store half a second later.
    let mut theirs = Sim::minted_snapshot(&mut sim.auth, 10_500);
    theirs.revision = 1;
    sim.store_update_at(10_500, theirs);
    sim.run_until(20_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn shared_store_lost_compare_and_swap() -> Sim {
    let mut sim = restored(Some(10), true, shared(refresh_only_config()));
    let mut theirs = Sim::minted_snapshot(&mut sim.auth, 10_000);
    theirs.revision = 2;
    sim.persist_conflicts.push_back(theirs);
    for _ in 0..4 {
        sim.begin_at(10_001);
    }
    sim.begin_at(12_000);
    sim.run_until(20_000, 100_000);
    sim
}

/// See [`ALL`].
pub fn shared_store_expired_lease() -> Sim {
    let mut sim = restored(Some(10), true, shared(refresh_only_config()));
    sim.lease_answers.extend([false, false, true]);
    for _ in 0..4 {
        sim.begin_at(10_001);
    }
    sim.run_until(30_000, 100_000);
    sim
}
