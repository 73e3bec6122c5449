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

#[test]
fn helper_with_a_ttl_is_rerun_when_it_passes_so_no_call_sees_a_401() {
    use bearerflow::session::{Config, HelperConfig};
    use bearerflow_tests::scenarios::SEED;
    use bearerflow_tests::sim::{AuthServer, Sim, RESOURCE};
    let config = Config::header_helper(
        RESOURCE,
        HelperConfig {
            ttl_ms: Some(60_000),
            oauth_fallback: None,
        },
    );
    let mut sim = Sim::new(config, AuthServer::new(None, false), SEED, 0);
    sim.helper_server_ttl = Some(65);
    for t in 0..12 {
        sim.begin_at(1_000 + t * 20_000);
    }
    sim.run_until(240_000, 100_000);
    sim.assert_rules();
    assert_eq!(sim.ok(), 12);
    assert_eq!(sim.session.stats().unauthorized_seen, 0);
    // At start, then each time the 60 s TTL passed (about 60, 120 and 180 s in; the
    // fourth TTL ends just after the run does).
    assert_eq!(sim.helper_runs, 4);
    assert_eq!(sim.auth.discovery_gets, 0);
}

#[test]
fn helper_falls_back_to_oauth_only_when_configured_and_the_challenge_names_metadata() {
    use bearerflow::session::{Config, Credential, HelperConfig};
    use bearerflow_tests::scenarios::{authorizing_config, SEED};
    use bearerflow_tests::sim::{AuthServer, Sim, RESOURCE};
    let Credential::OAuth(oauth) = authorizing_config().credential else {
        unreachable!("authorizing_config is OAuth")
    };
    let config = Config::header_helper(
        RESOURCE,
        HelperConfig {
            ttl_ms: None,
            oauth_fallback: Some(oauth),
        },
    );
    let mut sim = Sim::new(config, AuthServer::new(Some(3600), true), SEED, 0);
    // The helper's headers are refused from the start.
    sim.helper_server_ttl = Some(0);
    sim.begin_at(1_000);
    sim.run_until(60_000, 10_000);
    sim.assert_rules();
    assert_eq!(sim.ok(), 1, "{:?}", sim.session.last_error());
    assert_eq!(sim.session.stats().authorizations, 1);
    assert!(
        sim.auth.discovery_gets > 0,
        "fallback discovered the authorization server"
    );
}
