//! The application calls and getters a host relies on, each checked through the
//! public API for what its documentation promises: `cancel_request`, `reauthorize`,
//! `headers(generation)`, `pending_requests`, a `403` that is not a scope challenge,
//! and a client-credentials session that needs no probe.

use bearerflow::oauth::{ClientAuthMethod, ClientRegistration};
use bearerflow::session::{
    Action, Config, Credential, FetchPurpose, Grant, HelperConfig, OAuthConfig, RequestError,
    Session, Verdict,
};
use bearerflow::time::Timestamp;
use bearerflow::token::Generation;
use bearerflow_tests::scenarios::{authorizing_config, refresh_only_config, SEED};
use bearerflow_tests::sim::{AuthServer, Sim, ISSUER, RESOURCE, TOKEN_ENDPOINT};

fn drain(s: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

/// A session restored with tokens minted at 0 that live `ttl` seconds.
fn restored(ttl: u64) -> Session {
    let mut auth = AuthServer::new(Some(ttl), true);
    let snap = Sim::minted_snapshot(&mut auth, 0);
    Session::restore(refresh_only_config(), snap, SEED, Timestamp(0))
}

/// Cancelling a request whose `Send` is queued but not drained: that `Send` never
/// comes out, the other request's does, and nothing else is lost. A `Fail` for the
/// cancelled request, if any, says `cancelled`.
#[test]
fn cancel_removes_only_the_cancelled_request() {
    let mut s = restored(3_600);
    let now = Timestamp(1_000);
    let a = s.begin_request(now);
    let b = s.begin_request(now);
    assert_eq!(s.pending_requests(), 2);
    s.cancel_request(a);
    assert_eq!(s.pending_requests(), 1);
    let actions = drain(&mut s);
    let for_b: Vec<&Action> = actions
        .iter()
        .filter(|x| matches!(x, Action::Send { id, .. } if *id == b))
        .collect();
    assert_eq!(for_b.len(), 1, "{actions:?}");
    for x in &actions {
        match x {
            Action::Send { id, .. } => assert_ne!(*id, a, "{actions:?}"),
            Action::Fail { id, error, .. } => {
                assert_eq!((*id, *error), (a, RequestError::Cancelled), "{actions:?}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        s.handle_resource_response(b, 200, &[], now),
        Verdict::Deliver
    );
    assert_eq!(s.pending_requests(), 0);
}

/// Cancelling a request that waits for a refresh: when the refresh lands, only the
/// other waiting request is released.
#[test]
fn a_cancelled_waiting_request_is_not_released_by_the_refresh() {
    let mut s = restored(10);
    let now = Timestamp(20_000);
    let a = s.begin_request(now);
    let b = s.begin_request(now);
    let actions = drain(&mut s);
    let Some(Action::Fetch { id: fetch, .. }) = actions.first() else {
        panic!("the expired token is refreshed first: {actions:?}")
    };
    let fetch = *fetch;
    s.cancel_request(a);
    assert_eq!(s.pending_requests(), 1);
    let cancelled = drain(&mut s);
    assert!(
        cancelled.iter().all(|x| matches!(
            x,
            Action::Fail { id, error: RequestError::Cancelled, .. } if *id == a
        )),
        "{cancelled:?}"
    );
    let body = br#"{"access_token":"at-new","token_type":"Bearer","expires_in":60,"refresh_token":"rt-new"}"#;
    s.handle_http_response(fetch, 200, &[], body, Timestamp(20_040));
    let sends: Vec<_> = drain(&mut s)
        .into_iter()
        .filter_map(|x| match x {
            Action::Send { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(sends, vec![b]);
}

/// `pending_requests` counts what was begun and is not finished.
#[test]
fn pending_requests_counts_the_unfinished() {
    let mut s = restored(3_600);
    let now = Timestamp(1_000);
    assert_eq!(s.pending_requests(), 0);
    let ids: Vec<_> = (0..3).map(|_| s.begin_request(now)).collect();
    let _ = drain(&mut s);
    assert_eq!(s.pending_requests(), 3);
    assert_eq!(
        s.handle_resource_response(ids[1], 200, &[], now),
        Verdict::Deliver
    );
    assert_eq!(s.pending_requests(), 2);
}

/// `reauthorize` starts the authorization flow (for a host whose user asked to sign in
/// again): something is asked of the host at once.
#[test]
fn reauthorize_starts_authorization() {
    let now = Timestamp(0);
    let mut s = Session::new(authorizing_config(), SEED, now);
    assert!(drain(&mut s).is_empty());
    s.reauthorize(now);
    let actions = drain(&mut s);
    assert!(
        actions.iter().any(|x| matches!(
            x,
            Action::Authorize { .. }
                | Action::Fetch {
                    purpose: FetchPurpose::ResourceMetadata
                        | FetchPurpose::ServerMetadata
                        | FetchPurpose::Registration,
                    ..
                }
        )),
        "{actions:?}"
    );
}

/// A `403` whose challenge is not `insufficient_scope` (RFC 6750 §3.1) is the
/// resource's answer: delivered, no step-up.
#[test]
fn a_403_without_insufficient_scope_is_delivered() {
    let mut s = restored(3_600);
    let now = Timestamp(1_000);
    let id = s.begin_request(now);
    let _ = drain(&mut s);
    for challenge in [
        &["Bearer realm=\"mcp\""][..],
        &["Bearer error=\"invalid_request\""][..],
        &[][..],
    ] {
        let id = if s.pending_requests() == 0 {
            let id = s.begin_request(now);
            let _ = drain(&mut s);
            id
        } else {
            id
        };
        assert_eq!(
            s.handle_resource_response(id, 403, challenge, now),
            Verdict::Deliver,
            "{challenge:?}"
        );
        assert!(drain(&mut s).is_empty(), "{challenge:?}");
    }
    assert_eq!(s.stats().insufficient_scope_seen, 0);
    assert_eq!(s.stats().authorizations, 0);
}

/// `headers(generation)` gives the headers of the current credential only: after a
/// refresh the old generation has none (a host that read a `Send` late learns it).
#[test]
fn headers_belong_to_their_generation() {
    let mut s = restored(10);
    let now = Timestamp(20_000);
    let old = s.tokens().map(|t| t.generation()).expect("restored tokens");
    assert!(s.headers(old).is_some());
    assert_eq!(s.headers(Generation::NONE), Some(&[][..]));
    let _ = s.begin_request(now);
    let Some(Action::Fetch { id, .. }) = s.poll_action() else {
        panic!("refresh expected")
    };
    let body = br#"{"access_token":"at-new","token_type":"Bearer","expires_in":60}"#;
    s.handle_http_response(id, 200, &[], body, Timestamp(20_040));
    let new = s.tokens().map(|t| t.generation()).expect("new tokens");
    assert!(new > old);
    assert_eq!(s.headers(old), None);
    let h = s.headers(new).expect("current headers");
    assert_eq!(h[0].value.expose(), "Bearer at-new");
}

/// The same for a header helper's output: a re-run's headers replace the old ones.
#[test]
fn helper_headers_belong_to_their_generation() {
    let now = Timestamp(0);
    let config = Config::header_helper(RESOURCE, HelperConfig::default());
    let mut s = Session::new(config, SEED, now);
    assert!(matches!(drain(&mut s)[..], [Action::RunHelper]));
    let out = |t: &str| {
        bearerflow::session::parse_helper_output(
            format!("{{\"Authorization\": \"Bearer {t}\"}}").as_bytes(),
        )
    };
    s.handle_helper_output(out("h1"), now);
    let id = s.begin_request(now);
    let Some(Action::Send { generation: g1, .. }) = s.poll_action() else {
        panic!("sent with the helper's headers")
    };
    // The resource refuses it: the helper runs again and its new output replaces it.
    assert_eq!(
        s.handle_resource_response(id, 401, &["Bearer"], now),
        Verdict::Retry
    );
    assert!(drain(&mut s).iter().any(|x| matches!(x, Action::RunHelper)));
    s.handle_helper_output(out("h2"), Timestamp(10));
    let Some(Action::Send { generation: g2, .. }) = s.poll_action() else {
        panic!("retried with the new headers")
    };
    assert_ne!(g1, g2);
    assert_eq!(s.headers(g1), None, "the refused output is gone");
    let h = s.headers(g2).expect("current headers");
    assert_eq!(h[0].value.expose(), "Bearer h2");
}

/// Client credentials with the token endpoint and the client known: the first request
/// waits for a token from the token endpoint at once, with no tokenless probe of the
/// resource first.
#[test]
fn client_credentials_with_everything_known_asks_for_a_token_first() {
    let config = Config::oauth(
        RESOURCE,
        OAuthConfig {
            grant: Grant::ClientCredentials,
            client: Some(ClientRegistration::confidential(
                "client-1",
                "s3cret".into(),
                ClientAuthMethod::ClientSecretBasic,
            )),
            token_endpoint: Some(TOKEN_ENDPOINT.into()),
            issuer: Some(ISSUER.into()),
            ..OAuthConfig::default()
        },
    );
    assert!(matches!(config.credential, Credential::OAuth(_)));
    let now = Timestamp(0);
    let mut s = Session::new(config, SEED, now);
    let _ = s.begin_request(now);
    let actions = drain(&mut s);
    assert!(
        matches!(
            actions[..],
            [Action::Fetch {
                purpose: FetchPurpose::ClientCredentials,
                ..
            }]
        ),
        "{actions:?}"
    );
}
