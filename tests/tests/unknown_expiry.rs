//! A token without `expires_in`: only the resource's 401 says it expired. And no loops:
//! a request that gets a second 401 after its retry is failed, not retried again.

use bearerflow::session::RequestError;
use bearerflow_tests::scenarios::{self, refresh_only_config, SEED};
use bearerflow_tests::sim::{AuthServer, Logged, Outcome, Rule, Sim};

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

/// The same burst against a resource that refuses the refreshed token too (an
/// audience it does not accept): each request is sent twice, gets two 401s, and is
/// failed with `unauthorized` right after the second, with no third send and no
/// refresh per request.
#[test]
fn a_second_401_after_the_refresh_fails_the_request_no_loops() {
    let mut auth = AuthServer::new(None, true);
    auth.hidden_ttl = Some(10);
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let mut sim = Sim::with_snapshot(refresh_only_config(), auth, SEED, 0, Some(snap));
    sim.auth.resource_refuses_all = true;
    for _ in 0..32 {
        sim.begin_at(10_001);
    }
    sim.run_until(20_000, 100_000);
    sim.assert_rules();
    assert!(sim.violations_of(Rule::NoLoops).is_empty());
    assert_eq!(sim.outcomes.len(), 32);
    assert!(
        sim.outcomes
            .values()
            .all(|o| *o == Outcome::Failed(RequestError::Unauthorized)),
        "{:?}",
        sim.outcomes
    );
    assert!(
        sim.sends.values().all(|&n| n == 2),
        "sends: {:?}",
        sim.sends
    );
    assert_eq!(sim.session.stats().unauthorized_seen, 64, "two 401s each");
    // Each request's second 401 is its last event: the Fail follows at that moment.
    for id in sim.outcomes.keys() {
        let responses: Vec<u64> = sim
            .log
            .iter()
            .filter_map(|l| match l {
                Logged::Response {
                    at,
                    id: i,
                    status: 401,
                } if i == id => Some(*at),
                _ => None,
            })
            .collect();
        assert_eq!(responses.len(), 2, "request {id}");
        let failed_at = sim.log.iter().find_map(|l| match l {
            Logged::Fail { at, id: i, .. } if i == id => Some(*at),
            _ => None,
        });
        assert_eq!(failed_at, Some(responses[1]), "request {id}");
    }
    // One refresh for the burst's dead token; the refreshed one is refused per
    // request, which never starts a refresh per request.
    let refreshes = sim.grants("refresh_token");
    assert!((1..=2).contains(&refreshes), "refreshes: {refreshes}");
}
