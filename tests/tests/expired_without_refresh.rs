//! A known-expired token with no way to get another (no refresh token, no redirect URI)
//! is still sent: the resource's clock is the judge. With a way to get another, it is
//! never sent.

use bearerflow::session::{Action, RequestError, Session};
use bearerflow::time::Timestamp;
use bearerflow::token::Phase;
use bearerflow_tests::scenarios::{authorizing_config, refresh_only_config, SEED};
use bearerflow_tests::sim::{AuthServer, Sim};

#[test]
fn expired_token_without_any_way_to_renew_is_sent_and_a_401_fails_clearly() {
    let mut auth = AuthServer::new(Some(10), false);
    auth.issue_refresh = false;
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let now = Timestamp(10_500);
    let mut s = Session::restore(refresh_only_config(), snap, SEED, now);
    assert_eq!(s.phase(now), Phase::Expired);
    let id = s.begin_request(now);
    let Some(Action::Send {
        id: sid,
        generation,
    }) = s.poll_action()
    else {
        panic!("the token goes out: nothing else can be done");
    };
    assert_eq!(sid, id);
    assert_ne!(generation.0, 0);
    let _ = s.handle_resource_response(id, 401, &["Bearer error=\"invalid_token\""], now);
    assert!(matches!(
        s.poll_action(),
        Some(Action::Fail {
            error: RequestError::ReauthorizationRequired,
            ..
        })
    ));
}

#[test]
fn expired_token_with_a_way_to_renew_is_never_sent() {
    let mut auth = AuthServer::new(Some(10), false);
    auth.issue_refresh = false;
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let now = Timestamp(10_500);
    let mut s = Session::restore(authorizing_config(), snap, SEED, now);
    let _ = s.begin_request(now);
    let first = s.poll_action();
    assert!(
        !matches!(first, Some(Action::Send { .. })),
        "an expired token is not sent when authorization can renew it: {first:?}"
    );
}

#[test]
fn a_token_that_died_in_transit_counts_from_its_arrival_and_a_dead_one_backs_off() {
    use bearerflow::session::Verdict;
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
    assert_eq!(
        s.handle_resource_response(id, 200, &[], Timestamp(11_010)),
        Verdict::Deliver
    );

    // A zero-second token is dead even on arrival: a transient failure with backoff,
    // then a typed failure when the attempts run out, never a silent stall.
    let id = s.begin_request(Timestamp(20_000));
    let mut fails = 0;
    let mut now = 20_000;
    for _ in 0..50 {
        while let Some(a) = s.poll_action() {
            match a {
                Action::Fetch { id: fid, .. } => {
                    let body = br#"{"access_token":"dead","token_type":"Bearer","expires_in":0}"#;
                    s.handle_http_response(fid, 200, &[], body, Timestamp(now + 10));
                }
                Action::Fail { id: fid, error, .. } => {
                    assert_eq!(fid, id);
                    assert_eq!(error, RequestError::TokenEndpointUnavailable);
                    fails += 1;
                }
                _ => {}
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
    assert_eq!(
        s.last_error(),
        Some(&bearerflow::session::SessionError::ExpiredOnArrival)
    );
}
