//! Transient token-endpoint failures back off and never hurt calls while the token is
//! still valid.

use bearerflow_tests::scenarios;

#[test]
fn transient_failures_with_valid_token_cost_nothing() {
    let sim = scenarios::transient_then_recover();
    sim.assert_rules();
    assert_eq!(sim.failed(), 0);
    assert_eq!(sim.ok(), 70);
    assert_eq!(sim.unauthorized_delivered, 0);
    // 503, 500, then success (and later refreshes): bounded, never a storm.
    let refreshes = sim.grants("refresh_token");
    assert!((3..=6).contains(&refreshes), "refreshes: {refreshes}");
}
