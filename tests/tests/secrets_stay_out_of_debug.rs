//! A host logs sessions and actions with `{:?}`: that output says what the session is
//! doing, and never carries a token (DESIGN.md, "Clear errors": tokens never appear in
//! `Debug` or errors).

use bearerflow::session::{Action, Session};
use bearerflow::time::Timestamp;
use bearerflow_tests::scenarios::{refresh_only_config, SEED};
use bearerflow_tests::sim::{AuthServer, Sim, RESOURCE};

#[test]
fn session_and_action_debug_show_state_but_no_token() {
    let mut auth = AuthServer::new(Some(60), true);
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let tokens = snap.tokens.as_ref().expect("minted tokens");
    let access = tokens.access_token.expose().to_string();
    let refresh = tokens
        .refresh_token
        .as_ref()
        .map(|r| r.expose().to_string())
        .expect("a refresh token");
    let now = Timestamp(120_000);
    let mut s = Session::restore(refresh_only_config(), snap, SEED, now);

    let shown = format!("{s:?}");
    assert!(shown.starts_with("Session"), "{shown}");
    assert!(shown.contains(RESOURCE), "says which resource: {shown}");
    assert!(
        !shown.contains(&access) && !shown.contains(&refresh),
        "{shown}"
    );

    // The expired token makes the request wait for a refresh whose body carries the
    // refresh token: the Fetch's Debug must not show it.
    let _ = s.begin_request(now);
    let actions: Vec<Action> = std::iter::from_fn(|| s.poll_action()).collect();
    assert!(
        actions.iter().any(|a| matches!(a, Action::Fetch { .. })),
        "{actions:?}"
    );
    for a in &actions {
        let shown = format!("{a:?}");
        assert!(
            !shown.contains(&access) && !shown.contains(&refresh),
            "{shown}"
        );
    }
}
