//! A known-expired token with no way to get another (no refresh token, no redirect URI)
//! is still sent: the resource's clock is the judge. With a way to get another, it is
//! never sent.

use bearerflow::session::{Action, RequestError, Session, Verdict};
use bearerflow::time::Timestamp;
use bearerflow::token::{Generation, Phase};
use bearerflow_tests::scenarios::{authorizing_config, refresh_only_config, SEED};
use bearerflow_tests::sim::{AuthServer, Browser, Logged, Sim};

fn drain(s: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

#[test]
fn expired_token_without_any_way_to_renew_is_sent_and_a_401_fails_clearly() {
    let mut auth = AuthServer::new(Some(10), false);
    auth.issue_refresh = false;
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let now = Timestamp(10_500);
    let mut s = Session::restore(refresh_only_config(), snap, SEED, now);
    assert!(drain(&mut s).is_empty(), "restoring asks for nothing");
    assert_eq!(s.phase(now), Phase::Expired);
    let id = s.begin_request(now);
    // Exactly one action: the Send with the restored token. No refresh, discovery or
    // authorization: nothing else can be done.
    let actions = drain(&mut s);
    let [Action::Send {
        id: sid,
        generation,
    }] = actions[..]
    else {
        panic!("exactly one Send: {actions:?}");
    };
    assert_eq!(sid, id);
    assert_ne!(generation, Generation::NONE);
    let headers = s.headers(generation).expect("the restored token's headers");
    assert_eq!(headers.len(), 1);
    assert!(headers[0].value.expose().starts_with("Bearer at-"));
    // The resource refuses it: exactly one Fail for this request, with the typed
    // error, and nothing else (no token request, no Persist, no authorization).
    assert_eq!(
        s.handle_resource_response(id, 401, &["Bearer error=\"invalid_token\""], now),
        Verdict::Retry
    );
    let actions = drain(&mut s);
    assert!(
        matches!(
            actions[..],
            [Action::Fail {
                id: fid,
                error: RequestError::ReauthorizationRequired,
                ..
            }] if fid == id
        ),
        "exactly one Fail: {actions:?}"
    );
    assert_eq!(s.pending_requests(), 0);
    assert_eq!(s.stats().refresh_requests, 0);
    assert_eq!(s.stats().authorizations, 0);
    // Nothing is left to do.
    assert_eq!(s.poll_timeout(), None);
}

/// With a way to renew (this session can authorize), the expired token is never sent:
/// the whole run, from the begin to the request's answer, has exactly one Send, and it
/// carries the token the authorization produced.
#[test]
fn expired_token_with_a_way_to_renew_is_never_sent() {
    let mut auth = AuthServer::new(Some(10), false);
    auth.issue_refresh = false;
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let expired = snap
        .tokens
        .as_ref()
        .map(|t| t.access_token.expose().to_string())
        .expect("minted tokens");
    let mut sim = Sim::with_snapshot(authorizing_config(), auth, SEED, 10_500, Some(snap));
    sim.browser = Browser::Approve;
    sim.begin_at(10_500);
    sim.run_until(60_000, 10_000);
    sim.assert_rules();
    let sends: Vec<&Option<String>> = sim
        .log
        .iter()
        .filter_map(|l| match l {
            Logged::Send { token, .. } => Some(token),
            _ => None,
        })
        .collect();
    assert_eq!(sends.len(), 1, "{:#?}", sim.log);
    let token = sends[0].as_deref().expect("sent with a token");
    assert_ne!(token, expired, "the expired token was sent");
    assert_eq!(sim.ok(), 1, "{:?}", sim.outcomes);
    assert_eq!(sim.session.stats().authorizations, 1);
    // The new token was persisted before that Send.
    let persisted = sim
        .log
        .iter()
        .position(|l| matches!(l, Logged::Persist { access: Some(a), .. } if a == token));
    let sent = sim
        .log
        .iter()
        .position(|l| matches!(l, Logged::Send { .. }));
    assert!(persisted < sent && persisted.is_some(), "{:#?}", sim.log);
}

#[test]
fn a_token_that_died_in_transit_counts_from_its_arrival_and_a_dead_one_backs_off() {
    let mut auth = AuthServer::new(Some(10), false);
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let mut s = Session::restore(refresh_only_config(), snap, SEED, Timestamp(0));
    // Expired: the request waits for a refresh.
    let id = s.begin_request(Timestamp(9_500));
    let Some(Action::Fetch { id: fid, .. }) = s.poll_action() else {
        panic!("refresh expected");
    };
    // The endpoint answers 1.5 s later with a 1-second token: dead if counted from the
    // request, alive if counted from arrival.
    let body = br#"{"access_token":"slow","token_type":"Bearer","expires_in":1}"#;
    s.handle_http_response(fid, 200, &[], body, Timestamp(11_000));
    assert!(matches!(s.poll_action(), Some(Action::Persist(_))));
    assert!(matches!(s.poll_action(), Some(Action::Send { id: sid, .. }) if sid == id));
    assert_eq!(s.poll_action(), None, "nothing more: one Persist, one Send");
    assert_eq!(
        s.handle_resource_response(id, 200, &[], Timestamp(11_010)),
        Verdict::Deliver
    );

    // A zero-second token is dead even on arrival: a transient failure with backoff,
    // then a typed failure when the attempts run out, never a silent stall.
    let id = s.begin_request(Timestamp(20_000));
    let mut fails = 0;
    let mut fetches = Vec::new();
    let mut now = 20_000;
    for _ in 0..50 {
        while let Some(a) = s.poll_action() {
            match a {
                Action::Fetch {
                    id: fid, purpose, ..
                } => {
                    assert!(purpose.is_token_request(), "{purpose:?}");
                    fetches.push(now);
                    let body = br#"{"access_token":"dead","token_type":"Bearer","expires_in":0}"#;
                    s.handle_http_response(fid, 200, &[], body, Timestamp(now + 10));
                }
                Action::Fail { id: fid, error, .. } => {
                    assert_eq!(fid, id);
                    assert_eq!(error, RequestError::TokenEndpointUnavailable);
                    fails += 1;
                }
                // Each dead token is stored like any other answer.
                Action::Persist(_) => {}
                // A dead token is never sent, and nothing else is asked for.
                other => panic!("unexpected action {other:?}"),
            }
        }
        if fails > 0 {
            break;
        }
        match s.poll_timeout() {
            Some(t) => {
                now = t.0;
                s.handle_timeout(t);
            }
            None => break,
        }
    }
    assert_eq!(fails, 1);
    // Backed off between the tries: each came later than the last answer.
    let attempts = usize::from(s.config().policy.max_token_attempts);
    assert_eq!(fetches.len(), attempts, "tries at {fetches:?}");
    assert!(
        fetches.windows(2).all(|w| w[1] >= w[0] + 10 + 500),
        "tries at {fetches:?}"
    );
    assert_eq!(s.pending_requests(), 0);
    assert_eq!(
        s.last_error(),
        Some(&bearerflow::session::SessionError::ExpiredOnArrival)
    );
}
