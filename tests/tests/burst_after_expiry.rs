//! 32 calls right after expiry with rotating refresh tokens: the case where the
//! official TypeScript SDK gets 1 success and 31 failures.

use bearerflow_tests::scenarios;

#[test]
fn burst_after_expiry_refreshes_once() {
    let sim = scenarios::burst_after_expiry();
    sim.assert_rules();
    assert_eq!(sim.ok(), 32);
    assert_eq!(sim.failed(), 0);
    assert_eq!(sim.grants("refresh_token"), 1);
    assert_eq!(sim.max_token_inflight, 1);
    assert_eq!(sim.auth.reuse_detected, 0);
    // Every request was sent exactly once: the expired token was never sent.
    assert!(
        sim.sends.values().all(|&n| n == 1),
        "sends: {:?}",
        sim.sends
    );
    assert_eq!(sim.session.stats().unauthorized_seen, 0);
}

#[test]
fn rotated_refresh_token_is_persisted_before_use() {
    let sim = scenarios::burst_after_expiry();
    let last = sim.persisted.last().expect("a Persist after the refresh");
    let tokens = last.tokens.as_ref().expect("tokens in the snapshot");
    let current = sim.session.tokens().expect("current tokens");
    assert_eq!(tokens.access_token.expose(), current.access_token());
    assert_eq!(tokens.refresh_token.as_ref(), current.refresh_token());
    // The snapshot's refresh token is the live one on the server.
    let rt = tokens
        .refresh_token
        .as_ref()
        .expect("rotated refresh token");
    assert_eq!(sim.auth.refresh.get(rt.expose()), Some(&true));
}
