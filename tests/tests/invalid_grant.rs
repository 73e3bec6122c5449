//! `invalid_grant` drops the tokens: fail cleanly when the session cannot authorize,
//! authorize again by itself when it can.

use bearerflow::session::RequestError;
use bearerflow::time::Timestamp;
use bearerflow::token::Phase;
use bearerflow_tests::scenarios;
use bearerflow_tests::sim::Outcome;

#[test]
fn invalid_grant_mid_burst_fails_each_request_once() {
    let sim = scenarios::invalid_grant_mid_burst();
    sim.assert_rules();
    assert_eq!(sim.outcomes.len(), 36);
    assert!(sim
        .outcomes
        .values()
        .all(|o| *o == Outcome::Failed(RequestError::ReauthorizationRequired)));
    assert_eq!(sim.grants("refresh_token"), 1, "no retry storm");
    assert_eq!(sim.session.phase(Timestamp(sim.now)), Phase::Failed);
    assert!(sim.session.tokens().is_none());
    let last = sim
        .persisted
        .last()
        .expect("the dropped tokens are persisted");
    assert!(last.tokens.is_none());
}

#[test]
fn invalid_grant_with_redirect_uri_reauthorizes_silently() {
    let sim = scenarios::invalid_grant_reauthorizes();
    sim.assert_rules();
    assert_eq!(sim.ok(), 8);
    assert_eq!(sim.failed(), 0);
    assert_eq!(sim.grants("refresh_token"), 1);
    assert_eq!(sim.grants("authorization_code"), 1);
    assert_eq!(sim.session.stats().authorizations, 1);
}
