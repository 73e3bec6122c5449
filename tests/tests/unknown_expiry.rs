//! A token without `expires_in`: only the resource's 401 says it expired.

use bearerflow_tests::scenarios;

#[test]
fn first_401_refreshes_once_and_everyone_retries() {
    let sim = scenarios::unknown_expiry();
    sim.assert_rules();
    assert_eq!(sim.ok(), 32);
    assert_eq!(sim.failed(), 0);
    assert_eq!(sim.grants("refresh_token"), 1);
    assert_eq!(sim.session.stats().unauthorized_seen, 32);
    assert_eq!(sim.unauthorized_delivered, 0);
    assert!(
        sim.sends.values().all(|&n| n == 2),
        "each request: one send, one retry"
    );
}
