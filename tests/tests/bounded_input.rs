//! Every limit on input is core's: bodies, helper output, pending requests and scope
//! lists are bounded by the session's `Policy` and refused with typed errors, so no
//! binding carries limits of its own.

use bearerflow::oauth::ClientRegistration;
use bearerflow::secret::Secret;
use bearerflow::session::{
    Action, Config, HelperConfig, HelperOutputError, RequestError, Session, SessionError, Snapshot,
    StoredServer, StoredTokens, SNAPSHOT_VERSION,
};
use bearerflow::time::Timestamp;
use bearerflow_tests::scenarios::{authorizing_config, refresh_only_config, SEED};
use bearerflow_tests::sim::{ISSUER, PRM_URL, RESOURCE, TOKEN_ENDPOINT};

fn drain(s: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

fn expired() -> Snapshot {
    Snapshot {
        revision: 0,
        client_issuer: None,
        version: SNAPSHOT_VERSION,
        tokens: Some(StoredTokens {
            issuer: None,
            access_token: Secret::new("at"),
            refresh_token: Some(Secret::new("rt")),
            received_at: 0,
            expires_at: Some(10_000),
            scope: None,
            generation: 1,
            refresh_at: None,
        }),
        client: Some(ClientRegistration::public("client-1")),
        server: Some(StoredServer {
            resource: None,
            requested_scope: None,
            issuer: ISSUER.into(),
            token_endpoint: TOKEN_ENDPOINT.into(),
            authorization_endpoint: None,
            registration_endpoint: None,
        }),
    }
}

fn fetch_id(acts: &[Action]) -> bearerflow::session::FetchId {
    acts.iter()
        .find_map(|a| match a {
            Action::Fetch { id, .. } => Some(*id),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no fetch in {acts:?}"))
}

#[test]
fn a_token_response_over_the_body_limit_is_a_typed_transient_failure() {
    let mut config = refresh_only_config();
    config.policy.max_response_body = 1_000;
    let mut s = Session::restore(config, expired(), SEED, Timestamp(0));
    s.begin_request(Timestamp(20_000));
    let id = fetch_id(&drain(&mut s));
    let mut body = br#"{"access_token":"at-2","token_type":"Bearer","pad":""#.to_vec();
    body.resize(1_001, b'x');
    s.handle_http_response(id, 200, &[], &body, Timestamp(20_010));
    assert!(
        drain(&mut s).is_empty(),
        "no tokens taken from an oversized body"
    );
    assert_eq!(
        s.last_error(),
        Some(&SessionError::BodyTooLarge {
            what: "token endpoint (refresh)",
            limit: 1_000
        })
    );
    assert!(s
        .last_error()
        .unwrap()
        .to_string()
        .contains("1000-byte limit"));
    // Transient: the refresh token stays and a retry follows the backoff.
    assert!(s.snapshot().tokens.unwrap().refresh_token.is_some());
    assert!(s.poll_timeout().is_some());
}

#[test]
fn helper_output_over_the_limit_is_refused() {
    let mut config = Config::header_helper(RESOURCE, HelperConfig::default());
    config.policy.max_helper_output = 64;
    let mut s = Session::new(config, SEED, Timestamp(0));
    let _ = drain(&mut s);
    let call = s.begin_request(Timestamp(1));
    let big = format!(r#"{{"Authorization": "Bearer {}"}}"#, "a".repeat(100));
    s.handle_helper_stdout(big.as_bytes(), Timestamp(2));
    let acts = drain(&mut s);
    assert!(
        matches!(
            &acts[..],
            [Action::Fail { id, error: RequestError::HelperFailed, cause: Some(c) }]
                if *id == call && **c == SessionError::HelperOutput(HelperOutputError::TooLarge { limit: 64 })
        ),
        "{acts:?}"
    );
}

#[test]
fn requests_beyond_the_pending_limit_fail_at_once() {
    let mut config = refresh_only_config();
    config.policy.max_pending_requests = 3;
    let mut s = Session::restore(config, expired(), SEED, Timestamp(0));
    let ids: Vec<_> = (0..5).map(|_| s.begin_request(Timestamp(20_000))).collect();
    let fails: Vec<_> = drain(&mut s)
        .into_iter()
        .filter_map(|a| match a {
            Action::Fail { id, error, .. } => Some((id, error)),
            _ => None,
        })
        .collect();
    assert_eq!(
        fails,
        [
            (ids[3], RequestError::TooManyPending),
            (ids[4], RequestError::TooManyPending)
        ]
    );
    assert_eq!(s.pending_requests(), 3);
}

#[test]
fn a_scope_list_over_the_limit_ends_discovery_with_a_typed_error() {
    let mut config = authorizing_config();
    config.policy.max_scopes = 8;
    let mut s = Session::new(config, SEED, Timestamp(0));
    let probe = s.begin_request(Timestamp(0));
    let _ = drain(&mut s);
    let line = format!(r#"Bearer resource_metadata="{PRM_URL}""#);
    let _ = s.handle_resource_response(probe, 401, &[&line], Timestamp(1));
    let id = fetch_id(&drain(&mut s));
    let scopes: Vec<String> = (0..9).map(|i| format!("s{i}")).collect();
    let prm = serde_json::json!({
        "resource": RESOURCE,
        "authorization_servers": [ISSUER],
        "scopes_supported": scopes,
    });
    s.handle_http_response(id, 200, &[], prm.to_string().as_bytes(), Timestamp(2));
    let acts = drain(&mut s);
    assert!(
        matches!(
            &acts[..],
            [Action::Fail { error: RequestError::AuthorizationFailed, cause: Some(c), .. }]
                if matches!(**c, SessionError::TooManyScopes { limit: 8, .. })
        ),
        "{acts:?}"
    );
}

#[test]
fn a_step_up_challenge_with_too_many_scopes_fails_the_request() {
    let mut config = authorizing_config();
    config.policy.max_scopes = 4;
    let mut s = Session::restore(config, expired(), SEED, Timestamp(0));
    s.set_tokens(Secret::new("at"), None, Some(3600), None, Timestamp(0));
    let _ = drain(&mut s);
    let call = s.begin_request(Timestamp(1));
    let _ = drain(&mut s);
    let line = r#"Bearer error="insufficient_scope", scope="a b c d e""#;
    let _ = s.handle_resource_response(call, 403, &[line], Timestamp(2));
    let acts = drain(&mut s);
    assert!(
        matches!(
            &acts[..],
            [Action::Fail { error: RequestError::InsufficientScope, cause: Some(c), .. }]
                if matches!(**c, SessionError::TooManyScopes { limit: 4, .. })
        ),
        "{acts:?}"
    );
    assert_eq!(s.stats().authorizations, 0);
}
