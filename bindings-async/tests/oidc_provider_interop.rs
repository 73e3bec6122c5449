//! Interop with a real authorization server: `oidc-provider` (npm, a certified OpenID
//! Provider) set up like an MCP deployment, and an MCP endpoint guarded by the official
//! TypeScript SDK's `requireBearerAuth` (`interop/server.mjs` says exactly how).
//! bearerflow-async's `Client` + `McpClient` start from nothing, with `HeadlessFollow`
//! completing the provider's login and consent.
//!
//! Each case starts its own peers. The bar everywhere: no call fails, at most one
//! refresh per expiry, the provider never sees a rotated refresh token again. Run by
//! `cargo xtask interop` (and `cargo xtask ci`), which installs Node 22 and the peers,
//! holds each case to `interop/expected-failures.txt`, and prints every failing case's
//! trace: each request the provider and the endpoint answered, by its non-secret
//! parameters, and the answer.
//!
//! The cases are `#[ignore]`d so that a plain `cargo test` reports them as skipped.

mod common;
mod oidc_peer;

use bearerflow::session::{Config, FetchPurpose, OAuthConfig};
use bearerflow_async::mcp::{McpClient, Wire};
use bearerflow_async::{Client, Event, HeadlessFollow, MemoryStore, Store};
use oidc_peer::{run_case, Counts, Peers, RefreshPolicy, Setup, TokenFormat};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A session for the peers' MCP endpoint, from nothing, that completes authorization
/// headlessly; connected (the SDK's endpoint speaks the 2025-11-25 wire).
async fn connect(peers: &Peers) -> (Client, Arc<McpClient>) {
    connect_with(peers, Arc::new(MemoryStore::new())).await
}

/// [`connect`] with a store the caller keeps.
async fn connect_with(peers: &Peers, store: Arc<MemoryStore>) -> (Client, Arc<McpClient>) {
    let config = Config::oauth(
        peers.mcp_url.clone(),
        OAuthConfig {
            redirect_uri: Some(oidc_peer::REDIRECT_URI.to_string()),
            client_name: Some("bearerflow interop".into()),
            ..OAuthConfig::default()
        },
    );
    let follow = HeadlessFollow::with_policy(&config.policy).expect("a follower");
    let client = Client::builder(config)
        .shared_store(store)
        .authorizer(follow)
        .build()
        .await
        .expect("the client builds");
    let mcp = Arc::new(McpClient::new(client.clone(), peers.mcp_url.clone()));
    let connected = mcp.connect().await.expect("first contact succeeds");
    assert_eq!(connected.wire, Wire::Legacy);
    assert_eq!(connected.server_name(), Some("bearerflow-interop-oidc"));
    (client, mcp)
}

/// One `echo` call that must succeed.
async fn echo(mcp: &McpClient, text: &str) {
    let r = mcp
        .call_tool("echo", serde_json::json!({ "text": text }))
        .await
        .unwrap_or_else(|e| panic!("the call {text:?} failed: {e}"));
    assert_eq!(r["content"][0]["text"], text);
}

/// Sleep until the session's current token has expired (plus a margin for the
/// endpoint's one-second `exp` resolution).
async fn until_expired(client: &Client) {
    let status = client.status().await.expect("the driver runs");
    let at = status.expires_at.expect("the token has an expiry").0;
    common::sleep_until_unix_ms(at + 1_200).await;
}

/// `n` concurrent calls, all of which must succeed.
async fn burst(mcp: &Arc<McpClient>, n: usize) {
    let (ok, errors) = common::burst(mcp, n).await;
    let mut distinct = std::collections::BTreeMap::<String, usize>::new();
    for e in &errors {
        *distinct.entry(e.clone()).or_default() += 1;
    }
    assert!(
        errors.is_empty(),
        "{} of {n} calls failed (error: how many): {distinct:?}",
        errors.len()
    );
    assert_eq!(ok, n);
}

async fn no_failed_call(client: &Client) {
    let status = client.status().await.expect("the driver runs");
    assert_eq!(
        status.stats.fails, 0,
        "the session failed calls: {status:?}"
    );
}

/// First contact as the deployment sees it: discovery falls back to OpenID Connect
/// Discovery under the issuer's path, open registration, one authorization with PKCE
/// (S256) and the MCP endpoint as RFC 8707 resource, scope from the protected resource
/// metadata, a code exchange that yields both tokens in the configured format.
async fn first_contact(format: TokenFormat) {
    run_case(Setup::mcp(format), move |peers| async move {
        let (client, mcp) = connect(&peers).await;
        let tools = mcp.list_tools().await.expect("tools/list");
        assert_eq!(tools["tools"][0]["name"], "echo");
        echo(&mcp, "hello").await;
        no_failed_call(&client).await;

        let log = peers.log().await;
        let c = Counts::of(&log);
        assert_eq!(c.registrations, 1, "{c:?}");
        assert_eq!(c.authorizations, 1, "{c:?}");
        assert_eq!((c.logins, c.consents), (1, 1), "{c:?}");
        assert_eq!(c.tokens("authorization_code", true), 1, "{c:?}");
        assert_eq!(c.refresh_tokens_issued, 1, "{c:?}");
        assert_eq!(
            c.endpoint_401_without_token, 1,
            "only the tokenless probe: {c:?}"
        );
        let auth = &c.authorization_params[0];
        assert_eq!(auth["resource"], peers.mcp_url.as_str(), "{auth}");
        assert_eq!(auth["code_challenge_method"], "S256", "{auth}");
        let scope = auth["scope"].as_str().unwrap_or("");
        assert!(scope.split(' ').any(|s| s == "mcp:tools"), "{auth}");
        // Discovery: RFC 8414 at the origin finds nothing; OpenID Connect Discovery
        // under the issuer's path does.
        assert!(
            log.iter().any(|e| e["kind"] == "provider"
                && e["path"] == "/.well-known/openid-configuration"
                && e["status"] == 200),
            "openid-configuration was read"
        );
        let want = match format {
            TokenFormat::Jwt => "jwt",
            TokenFormat::Opaque => "opaque",
        };
        let code_answer = log
            .iter()
            .find(|e| e["route"] == "token" && e["status"] == 200)
            .map(|e| e["answer"].clone())
            .unwrap_or(Value::Null);
        assert_eq!(code_answer["access_token_format"], want, "{code_answer}");
        assert_eq!(code_answer["expires_in"], 5, "{code_answer}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node 22 and oidc-provider: run `cargo xtask interop`"]
async fn jwt_first_contact() {
    first_contact(TokenFormat::Jwt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node 22 and oidc-provider: run `cargo xtask interop`"]
async fn opaque_first_contact() {
    first_contact(TokenFormat::Opaque).await;
}

/// Refresh requests the session made before it released the first request, among
/// `events` (the reactive refresh an expired token needs: at most one).
fn refreshes_before_first_send(events: &[Event]) -> usize {
    events
        .iter()
        .take_while(|e| !matches!(e, Event::Send { .. }))
        .filter(|e| {
            matches!(
                e,
                Event::Fetch {
                    purpose: FetchPurpose::Refresh,
                    ..
                }
            )
        })
        .count()
}

/// Refresh requests among `events`.
fn refreshes(events: &[Event]) -> u64 {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Fetch {
                    purpose: FetchPurpose::Refresh,
                    ..
                }
            )
        })
        .count() as u64
}

/// Three expiries while idle, each followed by calls: exactly one refresh each before
/// the calls go out, the rotated refresh token never presented again.
///
/// (A refresh the session starts later, ahead of the new token's own expiry, because
/// a loaded machine made the calls outlast its refresh window, is the next lifetime's
/// refresh, not a second one for this expiry: the provider's count is held to the
/// session's own.)
async fn three_expiries(format: TokenFormat) {
    run_case(Setup::mcp(format), move |peers| async move {
        let (client, mcp) = connect(&peers).await;
        let mut all = client.subscribe();
        echo(&mcp, "before").await;
        let mut seen = Vec::new();
        for expiry in 1..=3u64 {
            let before = client.status().await.expect("driver").generation;
            until_expired(&client).await;
            let mut events = client.subscribe();
            for i in 0..4 {
                echo(&mcp, &format!("expiry {expiry} call {i}")).await;
            }
            let events = common::drain_events(&mut events);
            assert_eq!(
                refreshes_before_first_send(&events),
                1,
                "one refresh for expiry {expiry}: {events:?}"
            );
            let after = client.status().await.expect("driver").generation;
            assert_ne!(before, after, "a new token after expiry {expiry}");
        }
        seen.extend(common::drain_events(&mut all));
        let c = peers.counts().await;
        assert_eq!(c.refreshes(), refreshes(&seen), "{c:?}");
        assert!(c.refreshes() >= 3, "{c:?}");
        assert_eq!(c.tokens("refresh_token", false), 0, "{c:?}");
        assert_eq!(c.reuse, 0, "{c:?}");
        assert_eq!(c.authorizations, 1, "no second authorization: {c:?}");
        no_failed_call(&client).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node 22 and oidc-provider: run `cargo xtask interop`"]
async fn jwt_three_expiries() {
    three_expiries(TokenFormat::Jwt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node 22 and oidc-provider: run `cargo xtask interop`"]
async fn opaque_three_expiries() {
    three_expiries(TokenFormat::Opaque).await;
}

/// 32 concurrent calls right after the token expired: all succeed on one refresh,
/// and none went out with the expired token.
async fn burst_after_expiry(format: TokenFormat) {
    run_case(Setup::mcp(format), move |peers| async move {
        let (client, mcp) = connect(&peers).await;
        echo(&mcp, "before").await;
        until_expired(&client).await;
        let mut events = client.subscribe();
        burst(&mcp, 32).await;
        let events = common::drain_events(&mut events);
        assert_eq!(
            refreshes_before_first_send(&events),
            1,
            "one refresh for the burst: {events:?}"
        );
        let c = peers.counts().await;
        assert_eq!(
            c.refreshes(),
            refreshes(&events),
            "the provider saw the same: {c:?}"
        );
        assert_eq!(c.tokens("refresh_token", false), 0, "{c:?}");
        assert_eq!(c.reuse, 0, "{c:?}");
        assert_eq!(
            c.endpoint_401_with_token, 0,
            "no expired token was sent: {c:?}"
        );
        no_failed_call(&client).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node 22 and oidc-provider: run `cargo xtask interop`"]
async fn jwt_burst_after_expiry() {
    burst_after_expiry(TokenFormat::Jwt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node 22 and oidc-provider: run `cargo xtask interop`"]
async fn opaque_burst_after_expiry() {
    burst_after_expiry(TokenFormat::Opaque).await;
}

/// The provider revokes the (opaque, introspected) access token while it is still
/// valid: the endpoint's 401s lead to one refresh, and every call succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node 22 and oidc-provider: run `cargo xtask interop`"]
async fn opaque_token_revoked_at_the_provider() {
    run_case(Setup::mcp(TokenFormat::Opaque), |peers| async move {
        let (client, mcp) = connect(&peers).await;
        echo(&mcp, "before").await;
        peers.revoke_access_tokens().await;
        burst(&mcp, 8).await;
        let c = peers.counts().await;
        assert!(
            c.endpoint_401_with_token >= 1,
            "the endpoint refused the revoked token: {c:?}"
        );
        assert_eq!(c.refreshes(), 1, "one refresh for all the 401s: {c:?}");
        assert_eq!(c.reuse, 0, "{c:?}");
        assert_eq!(c.authorizations, 1, "the refresh token still works: {c:?}");
        echo(&mcp, "after").await;
        no_failed_call(&client).await;
    })
    .await;
}

/// The provider revokes the whole grant. The next refresh is refused (`invalid_grant`),
/// and the session authorizes again by itself, asking for the resource's scope again
/// (`mcp:tools`, from the protected resource metadata and the endpoint's challenge),
/// so the calls waiting on it succeed and later ones do too.
async fn grant_revoked(format: TokenFormat, then_expiry: bool) {
    run_case(Setup::mcp(format), move |peers| async move {
        let (client, mcp) = connect(&peers).await;
        echo(&mcp, "before").await;
        peers.revoke_grants().await;
        if then_expiry {
            // A JWT stays valid at the endpoint until it expires; the refresh then is
            // the first to hear of the revocation.
            until_expired(&client).await;
        }
        burst(&mcp, 32).await;
        let c = peers.counts().await;
        assert_eq!(
            c.tokens("refresh_token", false),
            1,
            "the refresh is refused once: {c:?}"
        );
        assert_eq!(c.authorizations, 2, "one re-authorization: {c:?}");
        let again = &c.authorization_params[1];
        let scope = again["scope"].as_str().unwrap_or("");
        assert!(
            scope.split(' ').any(|s| s == "mcp:tools"),
            "the re-authorization asks for the resource's scope: {again}"
        );
        assert_eq!(c.tokens("authorization_code", true), 2, "{c:?}");
        for i in 0..3 {
            echo(&mcp, &format!("later {i}")).await;
        }
        assert_eq!(peers.counts().await.reuse, 0);
        no_failed_call(&client).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node 22 and oidc-provider: run `cargo xtask interop`"]
async fn opaque_grant_revoked_then_401() {
    grant_revoked(TokenFormat::Opaque, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node 22 and oidc-provider: run `cargo xtask interop`"]
async fn jwt_grant_revoked_then_expiry() {
    grant_revoked(TokenFormat::Jwt, true).await;
}

/// The provider's own refresh-token policy: a refresh token only when `offline_access`
/// was granted, which OpenID Connect Core §11 ties to `prompt=consent`. The session
/// asks for `offline_access` (the provider lists it) and so must send
/// `prompt=consent`; with the refresh token, an expiry costs one refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node 22 and oidc-provider: run `cargo xtask interop`"]
async fn provider_default_refresh_policy() {
    let setup = Setup {
        refresh: RefreshPolicy::ProviderDefault,
        ..Setup::mcp(TokenFormat::Jwt)
    };
    run_case(setup, |peers| async move {
        let (client, mcp) = connect(&peers).await;
        echo(&mcp, "before").await;
        let c = peers.counts().await;
        let auth = &c.authorization_params[0];
        let scope = auth["scope"].as_str().unwrap_or("");
        assert!(scope.split(' ').any(|s| s == "offline_access"), "{auth}");
        let prompt = auth["prompt"].as_str().unwrap_or("");
        assert!(
            prompt.split(' ').any(|p| p == "consent"),
            "offline_access asked of an OpenID Provider without prompt=consent (OIDC Core §11): {auth}"
        );
        assert_eq!(c.refresh_tokens_issued, 1, "a refresh token came with the code: {c:?}");
        until_expired(&client).await;
        burst(&mcp, 8).await;
        let c = peers.counts().await;
        assert_eq!(c.refreshes(), 1, "{c:?}");
        assert_eq!(c.authorizations, 1, "{c:?}");
        no_failed_call(&client).await;
    })
    .await;
}

/// A provider that never issues a refresh token: each token's end needs a new
/// authorization, which the session starts ahead of the expiry, so calls made across
/// two token lifetimes never wait on an expired token, and none fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node 22 and oidc-provider: run `cargo xtask interop`"]
async fn no_refresh_token_reauthorizes_ahead_of_expiry() {
    let setup = Setup {
        refresh: RefreshPolicy::Never,
        ..Setup::mcp(TokenFormat::Jwt)
    };
    run_case(setup, |peers| async move {
        let (client, mcp) = connect(&peers).await;
        let mut events = client.subscribe();
        let first_expiry = client
            .status()
            .await
            .expect("driver")
            .expires_at
            .expect("an expiry")
            .0;
        // A call every 250 ms until two token lifetimes have passed.
        let end = first_expiry + 5_500;
        let mut n = 0;
        while bearerflow_async::now().0 < end {
            echo(&mcp, &format!("tick {n}")).await;
            n += 1;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let c = peers.counts().await;
        assert_eq!(c.refresh_tokens_issued, 0, "{c:?}");
        // Each new authorization told the host that no refresh token came with it.
        let mut told = 0;
        loop {
            use tokio::sync::broadcast::error::TryRecvError;
            match events.try_recv() {
                Ok(bearerflow_async::Event::Credential {
                    obtained: bearerflow_async::Obtained::AuthorizationCode,
                    refresh_token: false,
                    ..
                }) => told += 1,
                Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
        assert!(told >= 2, "{told} authorizations told of no refresh token");
        assert!(
            c.authorizations >= 3,
            "re-authorized for each lifetime: {c:?}"
        );
        assert_eq!(
            c.endpoint_401_with_token, 0,
            "re-authorized ahead of expiry, so no expired token was sent: {c:?}"
        );
        no_failed_call(&client).await;
    })
    .await;
}

/// The harness can see what the cases say never happens: a rotated refresh token
/// presented again is refused, counted as reuse, and the provider revokes the grant.
/// (Without this, "no reuse error" could hold because reuse went unseen.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node 22 and oidc-provider: run `cargo xtask interop`"]
async fn harness_sees_refresh_token_reuse() {
    run_case(Setup::mcp(TokenFormat::Jwt), |peers| async move {
        let store = Arc::new(MemoryStore::new());
        let (client, mcp) = connect_with(&peers, Arc::clone(&store)).await;
        let snapshot = store.load().await.expect("load").expect("a snapshot");
        let first = snapshot
            .tokens
            .and_then(|t| t.refresh_token)
            .expect("a refresh token")
            .expose()
            .to_string();
        let client_id = snapshot.client.expect("a registration").client_id;
        until_expired(&client).await;
        echo(&mcp, "rotates the refresh token").await;
        assert_eq!(peers.counts().await.refreshes(), 1);

        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", &first)
            .append_pair("client_id", &client_id)
            .finish();
        let r = reqwest::Client::new()
            .post(format!("{}/token", peers.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("the token endpoint answers");
        assert_eq!(r.status(), 400);
        let c = peers.counts().await;
        assert_eq!(c.reuse, 1, "{c:?}");
        assert_eq!(c.grants_revoked, 1, "{c:?}");
    })
    .await;
}
