//! Stories beyond the plain refresh: cancelling, stepping up on `403`, a machine
//! client's client-credentials grant, a late `401` for an old token, and a helper whose
//! output has a TTL.

use bearerflow::session::RequestError;
use bearerflow_tests::scenarios;
use bearerflow_tests::sim::Outcome;

#[test]
fn cancelled_requests_end_once_and_the_others_go_out() {
    let sim = scenarios::cancel_while_waiting();
    sim.assert_rules();
    assert_eq!(
        sim.outcomes.get(&1),
        Some(&Outcome::Failed(RequestError::Cancelled))
    );
    assert_eq!(
        sim.outcomes.get(&3),
        Some(&Outcome::Failed(RequestError::Cancelled))
    );
    assert_eq!(sim.ok(), 2);
    assert_eq!(sim.grants("refresh_token"), 1);
}

#[test]
fn step_up_asks_for_the_union_of_scopes_and_retries_once() {
    let sim = scenarios::step_up_on_403();
    sim.assert_rules();
    assert_eq!((sim.ok(), sim.failed()), (1, 0));
    let url = sim
        .trace
        .steps
        .iter()
        .flat_map(|s| s.expect.iter())
        .find_map(|a| a["authorize"]["url"].as_str().map(String::from))
        .expect("an authorization");
    let scope = url
        .split('&')
        .find_map(|kv| kv.strip_prefix("scope="))
        .expect("a scope");
    let scope = bearerflow::oauth::form::decode(scope).unwrap();
    for s in ["mcp:tools", "mcp:admin"] {
        assert!(scope.split(' ').any(|x| x == s), "{scope}");
    }
    assert_eq!(sim.session.stats().insufficient_scope_seen, 1);
}

#[test]
fn client_credentials_get_a_token_without_probe_or_browser() {
    let sim = scenarios::client_credentials();
    sim.assert_rules();
    assert_eq!((sim.ok(), sim.failed()), (2, 0));
    assert_eq!(sim.grants("client_credentials"), 1);
    let stats = sim.session.stats();
    assert_eq!((stats.unauthorized_seen, stats.authorizations), (0, 0));
}

#[test]
fn a_late_401_for_the_old_token_is_retried_without_a_second_refresh() {
    let sim = scenarios::stale_401();
    sim.assert_rules();
    assert_eq!((sim.ok(), sim.failed()), (2, 0));
    assert_eq!(sim.session.stats().unauthorized_seen, 2);
    assert_eq!(sim.grants("refresh_token"), 1);
}

#[test]
fn a_helper_with_a_ttl_is_rerun_ahead_of_the_calls() {
    let sim = scenarios::helper_ttl();
    sim.assert_rules();
    assert_eq!((sim.ok(), sim.failed()), (9, 0));
    assert_eq!(
        sim.session.stats().unauthorized_seen,
        0,
        "no call saw a 401"
    );
    // 9 calls over 161 s with a 60 s TTL: the first run and two re-runs.
    assert_eq!(sim.helper_runs, 3);
    assert_eq!(sim.auth.discovery_gets, 0);
}
