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
