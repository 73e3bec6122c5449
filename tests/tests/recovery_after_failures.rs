//! Failures that pass: a network error, a `Retry-After`, odd token-endpoint answers, an
//! OAuth error that revokes nothing, a lost rotation, a store that fails. Each story is
//! recorded as a session vector; here each outcome is asserted.

use bearerflow::session::RequestError;
use bearerflow_tests::scenarios;
use bearerflow_tests::sim::Outcome;

#[test]
fn a_network_error_costs_one_backoff_and_no_request() {
    let sim = scenarios::network_error_then_recover();
    sim.assert_rules();
    assert_eq!((sim.ok(), sim.failed()), (8, 0));
    assert_eq!(sim.grants("refresh_token"), 2);
}

#[test]
fn retry_after_is_honoured_while_requests_wait() {
    let sim = scenarios::retry_after_when_expired();
    sim.assert_rules();
    assert_eq!((sim.ok(), sim.failed()), (8, 0));
    assert_eq!(sim.grants("refresh_token"), 2);
    // The second refresh left no earlier than the 3 s the server asked for.
    let fetches: Vec<u64> = sim
        .trace
        .steps
        .iter()
        .filter(|s| s.expect.iter().any(|a| a.get("fetch").is_some()))
        .map(|s| s.at)
        .collect();
    assert_eq!(fetches.len(), 2, "{fetches:?}");
    assert!(fetches[1] >= fetches[0] + 2 * 20 + 3_000, "{fetches:?}");
}

#[test]
fn odd_answers_are_transient_and_the_refresh_token_survives_them() {
    let sim = scenarios::odd_token_answers_keep_the_refresh_token();
    sim.assert_rules();
    assert_eq!(
        sim.outcomes.get(&1),
        Some(&Outcome::Failed(RequestError::TokenEndpointUnavailable))
    );
    assert_eq!(sim.outcomes.get(&2), Some(&Outcome::Delivered(200)));
    // Four odd answers, then the next request's two (a captive portal, then tokens):
    // six presentations of the same refresh token, none of them after it was dropped.
    assert_eq!(sim.grants("refresh_token"), 6);
    assert!(sim
        .persisted
        .iter()
        .all(|s| s.tokens.as_ref().is_some_and(|t| t.refresh_token.is_some())));
    assert_eq!(sim.auth.reuse_detected, 0);
}

#[test]
fn an_oauth_error_that_revokes_nothing_keeps_the_refresh_token() {
    let sim = scenarios::token_error_keeps_the_refresh_token();
    sim.assert_rules();
    assert_eq!(
        sim.outcomes.get(&1),
        Some(&Outcome::Failed(RequestError::TokenEndpointRejected))
    );
    assert_eq!(sim.outcomes.get(&2), Some(&Outcome::Delivered(200)));
    assert_eq!(sim.grants("refresh_token"), 2);
}

#[test]
fn a_lost_rotation_ends_in_a_silent_reauthorization() {
    let sim = scenarios::lost_rotation();
    sim.assert_rules();
    assert_eq!((sim.ok(), sim.failed()), (4, 0));
    assert_eq!(
        sim.auth.reuse_detected, 1,
        "the spent token was presented once"
    );
    assert_eq!(sim.grants("refresh_token"), 2);
    assert_eq!(sim.grants("authorization_code"), 1);
}

#[test]
fn a_failed_persist_is_asked_again() {
    let sim = scenarios::persist_failure_is_retried();
    sim.assert_rules();
    assert_eq!((sim.ok(), sim.failed()), (4, 0));
    assert_eq!(sim.session.stats().persist_failures, 2);
    // One Persist for the rotation, two more asked for after the failures, each with
    // the rotated refresh token.
    assert_eq!(sim.persisted.len(), 3);
    let rts: Vec<_> = sim
        .persisted
        .iter()
        .map(|s| s.tokens.as_ref().and_then(|t| t.refresh_token.clone()))
        .collect();
    assert!(rts.windows(2).all(|w| w[0] == w[1]), "{rts:?}");
    assert_eq!(sim.session.last_error(), None);
}

#[test]
fn a_shared_store_hands_over_another_process_s_tokens() {
    let sim = scenarios::shared_store_adopts_newer_tokens();
    sim.assert_rules();
    assert_eq!((sim.ok(), sim.failed()), (8, 0));
    assert_eq!(
        sim.grants("refresh_token"),
        0,
        "this process made no token request"
    );
    assert_eq!(sim.leases_held, 0);
}

#[test]
fn a_lost_compare_and_swap_takes_the_store_s_snapshot() {
    let sim = scenarios::shared_store_lost_compare_and_swap();
    sim.assert_rules();
    assert_eq!((sim.ok(), sim.failed()), (5, 0));
    assert_eq!(sim.grants("refresh_token"), 1);
    // The session now holds the store's tokens (revision 2), not its own refresh's.
    let snap = sim.session.snapshot();
    assert_eq!(snap.revision, 2);
    assert_eq!(sim.leases_held, 0, "the lease was given back");
}

#[test]
fn an_expired_lease_is_taken_over_and_no_request_fails() {
    let sim = scenarios::shared_store_expired_lease();
    sim.assert_rules();
    assert_eq!((sim.ok(), sim.failed()), (4, 0));
    assert_eq!(sim.grants("refresh_token"), 1);
    assert_eq!(sim.leases_held, 0);
}
