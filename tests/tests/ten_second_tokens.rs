//! 10-second tokens, one call a second for a minute: the caller never notices expiry.

use bearerflow_tests::scenarios;

#[test]
fn ten_second_tokens_for_a_minute() {
    let sim = scenarios::ten_second_tokens();
    sim.assert_rules();
    assert_eq!(sim.ok(), 60, "outcomes: {:?}", sim.outcomes);
    assert_eq!(sim.failed(), 0);
    assert_eq!(sim.unauthorized_delivered, 0);
    assert!(sim.unfinished().is_empty());
    let refreshes = sim.grants("refresh_token");
    assert!((6..=7).contains(&refreshes), "refreshes: {refreshes}");
    assert_eq!(sim.auth.reuse_detected, 0);
    // Proactive: no request ever had to wait for a 401 to learn the token had expired.
    assert_eq!(sim.session.stats().unauthorized_seen, 0);
}
