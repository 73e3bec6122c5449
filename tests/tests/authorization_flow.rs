//! The authorization flow on the simulated world: every discovery path and status rule,
//! the checks that must stop it (issuer, resource, PKCE, state, iss), client identity,
//! step-up, the 2025-03-26 fallbacks and an authorization-server change.

use bearerflow::oauth::ClientRegistration;
use bearerflow::session::{Credential, Grant, OAuthConfig, RequestError, SessionError};
use bearerflow::time::Timestamp;
use bearerflow::token::Phase;
use bearerflow_tests::scenarios::{authorizing_config, SEED};
use bearerflow_tests::sim::{AuthServer, Browser, Outcome, Sim, ISSUER, PRM_URL, RESOURCE};
use serde_json::json;

const PATH_PRM: &str = PRM_URL;
const ROOT_PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource";
const AS_META: &str = "https://auth.example.com/.well-known/oauth-authorization-server";
const OIDC_META: &str = "https://auth.example.com/.well-known/openid-configuration";

fn fresh(auth: AuthServer) -> Sim {
    Sim::new(authorizing_config(), auth, SEED, 0)
}

fn unreachable_oauth(c: &mut Credential) -> &mut OAuthConfig {
    match c {
        Credential::OAuth(o) => o,
        Credential::HeaderHelper(_) => panic!("test config is OAuth"),
    }
}

/// Run one request from nothing to its outcome.
fn one_request(mut sim: Sim) -> Sim {
    sim.begin_at(0);
    sim.run_until(60_000, 10_000);
    sim
}

/// The `url` of every action of one kind (`fetch`, `authorize`) the session emitted.
fn action_urls(sim: &Sim, kind: &str) -> Vec<String> {
    sim.trace
        .steps
        .iter()
        .flat_map(|s| s.expect.iter())
        .filter_map(|a| {
            a.get(kind)
                .and_then(|f| f.get("url"))
                .and_then(|u| u.as_str())
        })
        .map(String::from)
        .collect()
}

fn fetched_urls(sim: &Sim) -> Vec<String> {
    action_urls(sim, "fetch")
}

fn authorize_urls(sim: &Sim) -> Vec<String> {
    action_urls(sim, "authorize")
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    bearerflow::oauth::form::parse_pairs(q)
        .ok()?
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

fn failed_with(sim: &Sim, e: RequestError) -> bool {
    !sim.outcomes.is_empty() && sim.outcomes.values().all(|o| *o == Outcome::Failed(e))
}

#[test]
fn challenge_without_metadata_uses_path_then_root_well_known() {
    let mut auth = AuthServer::new(Some(3600), true);
    let doc = auth
        .documents
        .remove(PATH_PRM)
        .expect("sim serves the path PRM");
    auth.documents.insert(ROOT_PRM.into(), doc);
    let mut sim = fresh(auth);
    sim.challenge_metadata = None;
    let sim = one_request(sim);
    sim.assert_rules();
    assert_eq!(
        sim.ok(),
        1,
        "{:?} {:?}",
        sim.outcomes,
        sim.session.last_error()
    );
    let urls = fetched_urls(&sim);
    assert_eq!(urls[0], PATH_PRM);
    assert_eq!(urls[1], ROOT_PRM);
    assert_eq!(urls[2], AS_META);
}

#[test]
fn metadata_url_from_the_challenge_that_fails_is_an_error_without_fallback() {
    let mut auth = AuthServer::new(Some(3600), true);
    let doc = auth
        .documents
        .remove(PATH_PRM)
        .expect("sim serves the path PRM");
    auth.documents.insert(ROOT_PRM.into(), doc);
    let sim = one_request(fresh(auth));
    sim.assert_rules();
    assert!(failed_with(&sim, RequestError::AuthorizationFailed));
    assert_eq!(fetched_urls(&sim), vec![PATH_PRM.to_string()]);
    assert!(matches!(
        sim.session.last_error(),
        Some(SessionError::Status { status: 404, .. })
    ));
}

#[test]
fn resource_metadata_5xx_stops_discovery() {
    let mut auth = AuthServer::new(Some(3600), true);
    auth.documents.insert(PATH_PRM.into(), (503, "busy".into()));
    auth.documents.insert(ROOT_PRM.into(), (200, "{}".into()));
    let mut sim = fresh(auth);
    sim.challenge_metadata = None;
    let sim = one_request(sim);
    assert!(failed_with(&sim, RequestError::AuthorizationFailed));
    assert_eq!(fetched_urls(&sim), vec![PATH_PRM.to_string()]);
    assert!(matches!(
        sim.session.last_error(),
        Some(SessionError::Status { status: 503, .. })
    ));
}

#[test]
fn cross_origin_resource_metadata_is_refused_unless_allowed() {
    let evil = "https://evil.example.net/prm";
    let mut auth = AuthServer::new(Some(3600), true);
    let doc = auth.documents[PATH_PRM].clone();
    auth.documents.insert(evil.into(), doc);
    let mut sim = fresh(auth);
    sim.challenge_metadata = Some(evil.into());
    let sim = one_request(sim);
    assert!(failed_with(&sim, RequestError::AuthorizationFailed));
    assert_eq!(
        sim.session.last_error(),
        Some(&SessionError::CrossOriginMetadata)
    );
    assert!(
        fetched_urls(&sim).is_empty(),
        "the cross-origin URL is never fetched"
    );

    // Allowed by configuration: fetched (and then the flow goes on).
    let mut config = authorizing_config();
    unreachable_oauth(&mut config.credential).allow_cross_origin_metadata = true;
    let mut auth = AuthServer::new(Some(3600), true);
    let doc = auth.documents[PATH_PRM].clone();
    auth.documents.insert(evil.into(), doc);
    let mut sim = Sim::new(config, auth, SEED, 0);
    sim.challenge_metadata = Some(evil.into());
    let sim = one_request(sim);
    assert_eq!(fetched_urls(&sim)[0], evil);
    assert_eq!(sim.ok(), 1);
}

#[test]
fn resource_mismatch_is_rejected() {
    let mut auth = AuthServer::new(Some(3600), true);
    auth.documents.insert(
        PATH_PRM.into(),
        (
            200,
            json!({"resource": "https://mcp.example.com/mcpxxxx", "authorization_servers": [ISSUER]}).to_string(),
        ),
    );
    let sim = one_request(fresh(auth));
    assert!(failed_with(&sim, RequestError::AuthorizationFailed));
    assert!(matches!(
        sim.session.last_error(),
        Some(SessionError::ResourceMismatch { .. })
    ));
    assert_eq!(
        fetched_urls(&sim).len(),
        1,
        "nothing fetched after the mismatch"
    );
}

#[test]
fn issuer_mismatch_is_rejected_before_any_other_request() {
    let mut auth = AuthServer::new(Some(3600), true);
    let (status, doc) = auth.documents[AS_META].clone();
    let mut v: serde_json::Value = serde_json::from_str(&doc).expect("json");
    v["issuer"] = json!("https://attacker.example.com");
    auth.documents
        .insert(AS_META.into(), (status, v.to_string()));
    let sim = one_request(fresh(auth));
    assert!(failed_with(&sim, RequestError::AuthorizationFailed));
    assert!(matches!(
        sim.session.last_error(),
        Some(SessionError::Discovery(_))
    ));
    assert_eq!(
        fetched_urls(&sim),
        vec![PATH_PRM.to_string(), AS_META.to_string()]
    );
    assert_eq!(sim.auth.registrations, 0);
}

#[test]
fn oidc_configuration_is_the_fallback_for_authorization_server_metadata() {
    let mut auth = AuthServer::new(Some(3600), true);
    let doc = auth.documents.remove(AS_META).expect("AS metadata");
    auth.documents.insert(OIDC_META.into(), doc);
    let sim = one_request(fresh(auth));
    sim.assert_rules();
    assert_eq!(sim.ok(), 1);
    assert_eq!(
        fetched_urls(&sim)[..3],
        [
            PATH_PRM.to_string(),
            AS_META.to_string(),
            OIDC_META.to_string()
        ]
    );
}

#[test]
fn authorization_server_metadata_5xx_is_an_error() {
    let mut auth = AuthServer::new(Some(3600), true);
    auth.documents.insert(AS_META.into(), (500, "oops".into()));
    let sim = one_request(fresh(auth));
    assert!(failed_with(&sim, RequestError::AuthorizationFailed));
    assert_eq!(fetched_urls(&sim).len(), 2);
}

#[test]
fn pkce_without_s256_is_refused_before_any_redirect() {
    let mut auth = AuthServer::new(Some(3600), true);
    let (status, doc) = auth.documents[AS_META].clone();
    let mut v: serde_json::Value = serde_json::from_str(&doc).expect("json");
    v.as_object_mut()
        .expect("object")
        .remove("code_challenge_methods_supported");
    auth.documents
        .insert(AS_META.into(), (status, v.to_string()));
    let sim = one_request(fresh(auth));
    assert!(failed_with(&sim, RequestError::AuthorizationFailed));
    assert_eq!(
        sim.session.last_error(),
        Some(&SessionError::PkceUnsupported)
    );
    assert!(authorize_urls(&sim).is_empty());
}

#[test]
fn authorization_request_carries_pkce_state_resource_and_scope() {
    let sim = one_request(fresh(AuthServer::new(Some(3600), true)));
    sim.assert_rules();
    let urls = authorize_urls(&sim);
    assert_eq!(urls.len(), 1);
    let u = &urls[0];
    assert_eq!(query_param(u, "response_type").as_deref(), Some("code"));
    assert_eq!(
        query_param(u, "code_challenge_method").as_deref(),
        Some("S256")
    );
    let challenge = query_param(u, "code_challenge").expect("challenge");
    assert_eq!(challenge.len(), 43);
    assert!(query_param(u, "state").is_some_and(|s| s.len() >= 16));
    assert_eq!(query_param(u, "resource").as_deref(), Some(RESOURCE));
    // scopes_supported from the resource metadata, plus offline_access the server lists.
    assert_eq!(
        query_param(u, "scope").as_deref(),
        Some("mcp:tools offline_access")
    );
}

#[test]
fn state_mismatch_is_refused_and_the_flow_keeps_waiting() {
    let mut sim = fresh(AuthServer::new(Some(3600), true));
    sim.browser = Browser::Abandon;
    sim.begin_at(0);
    sim.run_until(1_000, 1_000);
    assert_eq!(sim.session.phase(Timestamp(sim.now)), Phase::Authorizing);
    let r = sim.session.handle_redirect(
        "http://127.0.0.1:8976/callback?code=x&state=forged&iss=https%3A%2F%2Fauth.example.com",
        Timestamp(sim.now),
    );
    assert_eq!(r, Err(bearerflow::session::RedirectError::StateMismatch));
    assert!(
        sim.session.poll_action().is_none(),
        "nothing sent on a forged redirect"
    );
    assert_eq!(sim.session.phase(Timestamp(sim.now)), Phase::Authorizing);
}

#[test]
fn wrong_or_missing_iss_ends_the_flow() {
    for iss in ["&iss=https%3A%2F%2Fattacker.example.com", ""] {
        let mut sim = fresh(AuthServer::new(Some(3600), true));
        sim.browser = Browser::Abandon;
        sim.begin_at(0);
        sim.run_until(1_000, 1_000);
        let url = authorize_urls(&sim).pop().expect("authorize");
        let state = query_param(&url, "state").expect("state");
        let r = sim.session.handle_redirect(
            &format!("http://127.0.0.1:8976/callback?code=c&state={state}{iss}"),
            Timestamp(sim.now),
        );
        assert_eq!(r, Err(bearerflow::session::RedirectError::IssuerMismatch));
        assert_eq!(
            sim.session.last_error(),
            Some(&SessionError::IssuerMismatch)
        );
        let mut fails = 0;
        while let Some(a) = sim.session.poll_action() {
            assert!(
                !matches!(a, bearerflow::session::Action::Fetch { .. }),
                "no code exchange"
            );
            if matches!(a, bearerflow::session::Action::Fail { .. }) {
                fails += 1;
            }
        }
        assert_eq!(fails, 1);
    }
}

#[test]
fn access_denied_is_a_typed_error() {
    let mut sim = fresh(AuthServer::new(Some(3600), true));
    sim.browser = Browser::Deny;
    let sim = one_request(sim);
    assert!(failed_with(&sim, RequestError::AuthorizationFailed));
    assert!(matches!(
        sim.session.last_error(),
        Some(SessionError::AuthorizationDenied { error, .. }) if error == "access_denied"
    ));
}

#[test]
fn abandoned_authorization_times_out_and_waiting_requests_fail() {
    let mut sim = fresh(AuthServer::new(Some(3600), true));
    sim.browser = Browser::Abandon;
    sim.begin_at(0);
    sim.begin_at(1_000);
    sim.run_until(400_000, 10_000);
    sim.assert_rules();
    assert_eq!(sim.outcomes.len(), 2);
    assert!(failed_with(&sim, RequestError::AuthorizationFailed));
    assert_eq!(
        sim.session.last_error(),
        Some(&SessionError::AuthorizationTimedOut)
    );
}

#[test]
fn requests_begun_while_authorizing_wait_and_are_released() {
    let mut sim = fresh(AuthServer::new(Some(3600), true));
    sim.latency = 500;
    for t in [0, 100, 700, 1_200, 1_900] {
        sim.begin_at(t);
    }
    sim.run_until(60_000, 10_000);
    sim.assert_rules();
    assert_eq!(sim.ok(), 5);
    assert_eq!(sim.session.stats().authorizations, 1);
}

#[test]
fn legacy_server_without_resource_metadata_uses_metadata_at_the_origin() {
    let mut auth = AuthServer::new(Some(3600), true);
    auth.documents.remove(PATH_PRM);
    // The 2025-03-26 server is its own authorization server.
    let (status, doc) = auth.documents.remove(AS_META).expect("AS metadata");
    // Its issuer has a path of its own on the server's origin (common for that revision).
    let doc = doc
        .replace(
            "\"https://auth.example.com\"",
            "\"https://mcp.example.com/oauth\"",
        )
        .replace("https://auth.example.com", "https://mcp.example.com");
    auth.documents.insert(
        "https://mcp.example.com/.well-known/oauth-authorization-server".into(),
        (status, doc),
    );
    auth.token_url = "https://mcp.example.com/token".into();
    auth.register_url = "https://mcp.example.com/register".into();
    auth.redirect_iss = Some("https://mcp.example.com/oauth".into());
    let mut sim = fresh(auth);
    sim.challenge_metadata = None;
    let sim = one_request(sim);
    sim.assert_rules();
    assert_eq!(sim.ok(), 1, "{:?}", sim.session.last_error());
    let urls = fetched_urls(&sim);
    assert_eq!(
        urls[..3],
        [
            PATH_PRM.to_string(),
            ROOT_PRM.to_string(),
            "https://mcp.example.com/.well-known/oauth-authorization-server".to_string()
        ]
    );
}

#[test]
fn legacy_server_without_any_metadata_uses_default_endpoints() {
    let mut auth = AuthServer::new(Some(3600), true);
    auth.documents.clear();
    auth.token_url = "https://mcp.example.com/token".into();
    auth.register_url = "https://mcp.example.com/register".into();
    let mut sim = fresh(auth);
    sim.challenge_metadata = None;
    let sim = one_request(sim);
    sim.assert_rules();
    assert_eq!(sim.ok(), 1, "{:?}", sim.session.last_error());
    assert!(authorize_urls(&sim)[0].starts_with("https://mcp.example.com/authorize?"));
    assert_eq!(sim.auth.registrations, 1);
}

#[test]
fn pre_registered_client_skips_registration() {
    let mut config = authorizing_config();
    unreachable_oauth(&mut config.credential).client = Some(ClientRegistration::public("client-1"));
    let sim = one_request(Sim::new(config, AuthServer::new(Some(3600), true), SEED, 0));
    sim.assert_rules();
    assert_eq!(sim.ok(), 1);
    assert_eq!(sim.auth.registrations, 0);
    assert_eq!(
        query_param(&authorize_urls(&sim)[0], "client_id").as_deref(),
        Some("client-1")
    );
}

#[test]
fn client_id_metadata_document_is_used_when_supported() {
    let mut auth = AuthServer::new(Some(3600), true);
    let (status, doc) = auth.documents[AS_META].clone();
    let mut v: serde_json::Value = serde_json::from_str(&doc).expect("json");
    v["client_id_metadata_document_supported"] = json!(true);
    auth.documents
        .insert(AS_META.into(), (status, v.to_string()));
    let cimd = "https://client.example.com/bearerflow.json";
    auth.clients.insert(cimd.into());
    let mut config = authorizing_config();
    unreachable_oauth(&mut config.credential).client_id_metadata_url = Some(cimd.into());
    let sim = one_request(Sim::new(config, auth, SEED, 0));
    sim.assert_rules();
    assert_eq!(sim.ok(), 1);
    assert_eq!(sim.auth.registrations, 0);
    assert_eq!(
        query_param(&authorize_urls(&sim)[0], "client_id").as_deref(),
        Some(cimd)
    );
}

#[test]
fn client_credentials_gets_a_token_without_a_browser() {
    let mut config = authorizing_config();
    {
        let o = unreachable_oauth(&mut config.credential);
        o.grant = Grant::ClientCredentials;
        o.redirect_uri = None;
        o.client = Some(ClientRegistration::confidential(
            "client-1",
            "s3cret".into(),
            bearerflow::oauth::ClientAuthMethod::ClientSecretBasic,
        ));
    }
    let sim = one_request(Sim::new(
        config,
        AuthServer::new(Some(3600), false),
        SEED,
        0,
    ));
    sim.assert_rules();
    assert_eq!(sim.ok(), 1, "{:?}", sim.session.last_error());
    assert_eq!(sim.grants("client_credentials"), 1);
    assert!(authorize_urls(&sim).is_empty());
}

#[test]
fn step_up_asks_for_the_union_of_scopes_and_retries_once() {
    let mut sim = fresh(AuthServer::new(Some(3600), true));
    sim.required_scope = Some("mcp:admin".into());
    let sim = one_request(sim);
    sim.assert_rules();
    assert_eq!(
        sim.ok(),
        1,
        "{:?} {:?}",
        sim.outcomes,
        sim.session.last_error()
    );
    let urls = authorize_urls(&sim);
    assert_eq!(urls.len(), 2, "first authorization, then the step-up");
    let scope = query_param(&urls[1], "scope").expect("scope");
    for s in ["mcp:tools", "mcp:admin", "offline_access"] {
        assert!(scope.split(' ').any(|x| x == s), "{s} missing from {scope}");
    }
    assert_eq!(sim.session.stats().insufficient_scope_seen, 1);
}

#[test]
fn step_up_that_does_not_help_fails_without_looping() {
    let mut sim = fresh(AuthServer::new(Some(3600), true));
    sim.required_scope = Some("mcp:admin".into());
    // The server never grants more than mcp:tools, whatever is asked.
    sim.auth.ignore_requested_scope = true;
    let sim = one_request(sim);
    sim.assert_rules();
    assert_eq!(
        sim.outcomes.values().copied().collect::<Vec<_>>(),
        vec![Outcome::Failed(RequestError::InsufficientScope)]
    );
    assert_eq!(
        sim.session.stats().authorizations,
        2,
        "first authorization and one step-up"
    );
    assert_eq!(sim.session.stats().insufficient_scope_seen, 2);
}

#[test]
fn step_ups_are_capped_per_request() {
    let mut config = authorizing_config();
    config.policy.max_step_ups = 0;
    let mut sim = Sim::new(config, AuthServer::new(Some(3600), true), SEED, 0);
    sim.required_scope = Some("mcp:admin".into());
    let sim = one_request(sim);
    assert!(failed_with(&sim, RequestError::InsufficientScope));
    assert_eq!(sim.session.stats().authorizations, 1);
}

#[test]
fn authorization_server_change_drops_tokens_and_registration() {
    let mut auth = AuthServer::new(Some(10), true);
    let mut snap = Sim::minted_snapshot(&mut auth, 0);
    // The stored tokens and client belong to an old authorization server.
    if let Some(server) = snap.server.as_mut() {
        server.issuer = "https://old-auth.example.com".into();
        server.token_endpoint = "https://old-auth.example.com/token".into();
    }
    snap.client = Some(ClientRegistration::public("old-client"));
    if let Some(t) = snap.tokens.as_mut() {
        t.refresh_token = None;
    }
    auth.revoke_access();
    let mut sim = Sim::with_snapshot(authorizing_config(), auth, SEED, 0, Some(snap));
    sim.begin_at(1_000);
    sim.run_until(60_000, 10_000);
    sim.assert_rules();
    assert_eq!(sim.ok(), 1, "{:?}", sim.session.last_error());
    assert_eq!(
        sim.auth.registrations, 1,
        "registered again with the new server"
    );
    let last = sim.persisted.last().expect("persisted");
    assert_eq!(
        last.server.as_ref().map(|s| s.issuer.as_str()),
        Some(ISSUER)
    );
    assert_ne!(
        last.client.as_ref().map(|c| c.client_id.as_str()),
        Some("old-client")
    );
}

#[test]
fn legacy_metadata_naming_another_origin_is_refused() {
    let mut auth = AuthServer::new(Some(3600), true);
    auth.documents.remove(PATH_PRM);
    let (status, doc) = auth.documents.remove(AS_META).expect("AS metadata");
    // Served at the MCP server's origin, but its issuer sends the client elsewhere.
    auth.documents.insert(
        "https://mcp.example.com/.well-known/oauth-authorization-server".into(),
        (status, doc),
    );
    let mut sim = fresh(auth);
    sim.challenge_metadata = None;
    let sim = one_request(sim);
    assert!(failed_with(&sim, RequestError::AuthorizationFailed));
    assert!(matches!(
        sim.session.last_error(),
        Some(SessionError::Discovery(_))
    ));
    assert_eq!(sim.auth.registrations, 0);
}

#[test]
fn a_host_that_cannot_open_the_browser_fails_the_waiting_requests_at_once() {
    let mut sim = fresh(AuthServer::new(Some(3600), true));
    sim.browser = Browser::Abandon;
    sim.begin_at(0);
    sim.run_until(1_000, 1_000);
    assert_eq!(sim.session.phase(Timestamp(sim.now)), Phase::Authorizing);
    sim.session.handle_authorize_error(Timestamp(sim.now));
    let fails: Vec<_> = std::iter::from_fn(|| sim.session.poll_action()).collect();
    assert!(
        matches!(
            fails[..],
            [bearerflow::session::Action::Fail {
                error: RequestError::AuthorizationFailed,
                ..
            }]
        ),
        "{fails:?}"
    );
    assert_eq!(
        sim.session.last_error(),
        Some(&SessionError::AuthorizationUnavailable)
    );
}

#[test]
fn a_plain_http_resource_off_loopback_never_starts_authorization() {
    let mut config = authorizing_config();
    config.resource_url = "http://mcp.example.com/mcp".into();
    let sim = one_request(Sim::new(config, AuthServer::new(Some(3600), true), SEED, 0));
    assert!(failed_with(&sim, RequestError::AuthorizationFailed));
    assert!(matches!(
        sim.session.last_error(),
        Some(SessionError::Discovery(_))
    ));
    assert!(fetched_urls(&sim).is_empty());
}
