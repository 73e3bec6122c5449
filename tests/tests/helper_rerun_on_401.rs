//! A header-helper credential is re-run on 401, and never falls into OAuth discovery.

use bearerflow_tests::scenarios;

#[test]
fn helper_reruns_once_on_401_without_discovery() {
    let sim = scenarios::helper_rerun_on_401();
    sim.assert_rules();
    assert_eq!(sim.ok(), 6);
    assert_eq!(sim.failed(), 0);
    assert_eq!(sim.helper_runs, 2, "once at start, once after the 401");
    assert_eq!(sim.session.stats().unauthorized_seen, 1);
    assert_eq!(sim.unauthorized_delivered, 0);
    assert_eq!(sim.session.stats().discovery_requests, 0);
    assert_eq!(sim.auth.discovery_gets, 0);
    assert!(sim.auth.grants.is_empty(), "no token endpoint calls at all");
}
