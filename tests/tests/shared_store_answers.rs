//! Late and odd answers of a shared store (`Policy::shared_store`): the lease is always
//! the session's to release, and a compare-and-swap "conflict" holding an older
//! revision is never taken on.

use bearerflow::session::{Action, Session, Snapshot};
use bearerflow::time::Timestamp;
use bearerflow_tests::scenarios::{refresh_only_config, SEED};
use bearerflow_tests::sim::{AuthServer, Sim};

fn drain(s: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

/// A session with a shared store, restored from tokens minted at 0 that live 10 s.
fn shared() -> (Session, Snapshot) {
    let mut auth = AuthServer::new(Some(10), true);
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let mut config = refresh_only_config();
    config.policy.shared_store = true;
    let s = Session::restore(config, snap.clone(), SEED, Timestamp(0));
    (s, snap)
}

/// Newer tokens arrive from the store while the session waits for the lease; the
/// grant that follows is handed straight back, and no refresh is made with it.
#[test]
fn a_grant_after_adopting_stored_tokens_is_released() {
    let (mut s, snap) = shared();
    let now = Timestamp(20_000);
    let _ = s.begin_request(now);
    assert!(
        matches!(drain(&mut s)[..], [Action::AcquireLease { .. }]),
        "an expired token asks for the lease first"
    );
    let mut newer = snap;
    newer.revision += 5;
    if let Some(t) = newer.tokens.as_mut() {
        t.access_token = "at-from-another-process".into();
        t.expires_at = Some(80_000);
        t.received_at = 19_000;
    }
    s.handle_store_update(newer, now);
    let sent = drain(&mut s);
    assert!(
        sent.iter().any(|a| matches!(a, Action::Send { .. })),
        "{sent:?}"
    );
    s.handle_lease(true, now);
    assert!(
        matches!(drain(&mut s)[..], [Action::ReleaseLease]),
        "a grant the session no longer needs goes back at once"
    );
    assert_eq!(s.stats().refresh_requests, 0);
    // A late refusal asks nothing of the host.
    s.handle_lease(false, now);
    assert!(drain(&mut s).is_empty());
}

/// A failed compare-and-swap that hands back an older revision than the session's
/// own is not taken on (its refresh token may be spent): the `Persist` is asked for
/// again later, and the session keeps its tokens.
#[test]
fn an_older_conflict_is_a_failed_persist() {
    let (mut s, snap) = shared();
    let now = Timestamp(20_000);
    let _ = s.begin_request(now);
    let _ = drain(&mut s);
    s.handle_lease(true, now);
    let Some(Action::Fetch { id, .. }) = s.poll_action() else {
        panic!("refresh with the lease")
    };
    let body = br#"{"access_token":"at-new","token_type":"Bearer","expires_in":10,"refresh_token":"rt-new"}"#;
    s.handle_http_response(id, 200, &[], body, Timestamp(20_040));
    let persisted = drain(&mut s)
        .into_iter()
        .find_map(|a| match a {
            Action::Persist(p) => Some(p),
            _ => None,
        })
        .expect("the rotated tokens are persisted");
    let mut older = snap;
    older.revision = persisted.revision - 1;
    s.handle_persist_conflict(older, Timestamp(20_050));
    assert_eq!(
        s.tokens().map(|t| t.access_token().to_string()),
        Some("at-new".to_string())
    );
    assert_eq!(s.stats().persist_failures, 1);
    let retry = s.poll_timeout().expect("the persist is asked for again");
    s.handle_timeout(retry);
    assert!(
        drain(&mut s)
            .iter()
            .any(|a| matches!(a, Action::Persist(_))),
        "asked again"
    );
}
