//! Rule 5: a 401 for a request sent with an older generation is retried with the
//! current token, without another refresh.

use bearerflow::session::{Action, Session, Verdict};
use bearerflow::time::Timestamp;
use bearerflow::token::Generation;
use bearerflow_tests::scenarios::{refresh_only_config, SEED};
use bearerflow_tests::sim::{AuthServer, Sim};

fn drain(s: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

#[test]
fn late_401_for_an_old_generation_retries_without_refreshing() {
    let mut auth = AuthServer::new(None, true);
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let mut s = Session::restore(refresh_only_config(), snap, SEED, Timestamp(0));
    let a = s.begin_request(Timestamp(10));
    let b = s.begin_request(Timestamp(10));
    assert_eq!(drain(&mut s).len(), 2);
    // a's 401 starts the refresh.
    assert_eq!(
        s.handle_resource_response(a, 401, &["Bearer error=\"invalid_token\""], Timestamp(20)),
        Verdict::Retry
    );
    let acts = drain(&mut s);
    let Some(Action::Fetch { id: fid, .. }) = acts.first() else {
        panic!("expected the refresh, got {acts:?}")
    };
    let body = br#"{"access_token":"at-2","token_type":"Bearer","refresh_token":"rt-2"}"#;
    s.handle_http_response(*fid, 200, &[], body, Timestamp(30));
    let acts = drain(&mut s);
    assert!(matches!(acts[0], Action::Persist(_)));
    assert!(matches!(acts[1], Action::Send { id, generation: Generation(2) } if id == a));
    // b's 401 arrives now, for generation 1: retried with generation 2 at once.
    assert_eq!(
        s.handle_resource_response(b, 401, &["Bearer error=\"invalid_token\""], Timestamp(40)),
        Verdict::Retry
    );
    let acts = drain(&mut s);
    assert_eq!(acts.len(), 1, "{acts:?}");
    assert!(matches!(acts[0], Action::Send { id, generation: Generation(2) } if id == b));
    assert_eq!(s.stats().refresh_requests, 1);
    // And a second 401 for b (now with the current token) fails it: no loops.
    assert_eq!(
        s.handle_resource_response(b, 401, &[], Timestamp(50)),
        Verdict::Retry
    );
    let acts = drain(&mut s);
    assert!(
        matches!(acts[..], [Action::Fail { id, .. }] if id == b),
        "{acts:?}"
    );
    assert_eq!(s.stats().refresh_requests, 1);
}
