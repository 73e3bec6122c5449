//! 10-second tokens, one call a second for a minute: the caller never notices expiry.
//! Proactive refresh is what makes that true, so this checks it directly: no call ever
//! waits for a credential, and each refresh leaves while the token it replaces is
//! still valid. (A session that refreshed only at expiry would also deliver 60 of 60
//! without a 401; its calls would wait.)

use bearerflow_tests::scenarios;
use bearerflow_tests::sim::{Logged, Rule};

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
    assert_eq!(sim.session.stats().unauthorized_seen, 0);

    // Proactive: every call went out the moment it was begun, with the token in hand.
    assert_eq!(sim.waited.len(), 60);
    let waited: Vec<(&u64, &u64)> = sim.waited.iter().filter(|(_, w)| **w > 0).collect();
    assert!(waited.is_empty(), "calls that waited (id, ms): {waited:?}");
    assert!(sim.violations_of(Rule::ProactiveRefresh).is_empty());

    // Each refresh left while the token in use was still valid on the server.
    let mut in_use: Option<&str> = None;
    let mut checked = 0;
    for l in &sim.log {
        match l {
            Logged::Send { token: Some(t), .. } => in_use = Some(t),
            Logged::TokenRequest { at, .. } => {
                let t = in_use.expect("a call went out before any refresh");
                let expiry = sim.auth.access[t].expect("tokens with a lifetime");
                assert!(
                    *at < expiry,
                    "refresh at {at} ms, after its token expired at {expiry} ms"
                );
                checked += 1;
            }
            _ => {}
        }
    }
    assert_eq!(checked, refreshes);
}
