//! MCP authorization: a session with nothing reaches a token from the first 401.

use bearerflow_tests::scenarios;

#[test]
fn first_request_401_runs_discovery_registration_and_pkce() {
    let sim = scenarios::first_401_discovers_and_authorizes();
    sim.assert_rules();
    assert_eq!(sim.ok(), 3);
    assert_eq!(sim.failed(), 0);
    assert_eq!(sim.unauthorized_delivered, 0);
    assert_eq!(sim.auth.registrations, 1);
    assert_eq!(sim.grants("authorization_code"), 1);
    let st = sim.session.stats();
    assert_eq!(st.authorizations, 1);
    assert_eq!(
        st.discovery_requests, 2,
        "resource metadata from the challenge, then AS metadata"
    );
}
