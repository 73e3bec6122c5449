//! The machine's rules as properties over generated histories: random token lifetimes
//! (known and unknown), rotation, latencies, bursts, and token-endpoint faults, on the
//! simulated world. 10 000 cases per property in CI (`PROPTEST_CASES` overrides).

use bearerflow_tests::scenarios::{refresh_only_config, SEED};
use bearerflow_tests::sim::{AuthServer, Fault, Sim};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        (
            prop_oneof![Just(500u16), Just(502), Just(503), Just(429)],
            proptest::option::of(0u64..5)
        )
            .prop_map(|(s, ra)| Fault::Status(s, ra)),
        Just(Fault::InvalidGrant),
        Just(Fault::Drop),
        Just(Fault::NetworkError),
        Just(Fault::RotateAndDrop),
    ]
}

#[derive(Debug, Clone)]
struct History {
    ttl: u64,
    hidden: bool,
    rotate: bool,
    latency: u64,
    begins: Vec<u64>,
    faults: Vec<Fault>,
    revoke_at: Option<u64>,
    idle_refresh: bool,
}

fn history() -> impl Strategy<Value = History> {
    (
        2u64..120,
        any::<bool>(),
        any::<bool>(),
        0u64..400,
        proptest::collection::vec(0u64..180_000, 1..48),
        proptest::collection::vec(fault(), 0..4),
        proptest::option::of(0u64..180_000),
        any::<bool>(),
    )
        .prop_map(
            |(ttl, hidden, rotate, latency, begins, faults, revoke_at, idle_refresh)| History {
                ttl,
                hidden,
                rotate,
                latency,
                begins,
                faults,
                revoke_at,
                idle_refresh,
            },
        )
}

fn run(h: &History) -> Sim {
    let mut auth = if h.hidden {
        let mut a = AuthServer::new(None, h.rotate);
        a.hidden_ttl = Some(h.ttl);
        a
    } else {
        AuthServer::new(Some(h.ttl), h.rotate)
    };
    auth.faults = h.faults.iter().cloned().collect();
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let mut config = refresh_only_config();
    config.policy.refresh_when_idle = h.idle_refresh;
    let mut sim = Sim::with_snapshot(config, auth, SEED, 0, Some(snap));
    sim.latency = h.latency;
    for &b in &h.begins {
        sim.begin_at(b);
    }
    match h.revoke_at {
        Some(t) => {
            sim.run_until(t, 200_000);
            sim.auth.revoke_access();
            sim.run_until(2_000_000, 200_000);
        }
        None => sim.run_until(2_000_000, 200_000),
    }
    sim
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Single flight, nothing lost, no loops, persist-before-use, never an expired token
    /// while a refresh is possible, never a spent refresh token.
    #[test]
    fn rules_hold_on_every_history(h in history()) {
        let sim = run(&h);
        prop_assert!(sim.violations.is_empty(), "violations: {:?}", sim.violations);
        // Nothing lost: every begun request has exactly one outcome (the sim flags a
        // second one as a violation).
        prop_assert!(sim.unfinished().is_empty(), "unfinished: {:?}", sim.unfinished());
        prop_assert_eq!(sim.outcomes.len(), h.begins.len());
        prop_assert!(sim.max_token_inflight <= 1);
        // No loops: a request is sent at most twice (first send plus one retry).
        prop_assert!(sim.sends.values().all(|&n| n <= 2), "sends: {:?}", sim.sends);
        // A spent refresh token is only ever presented again when the server rotated it
        // and the response was lost (the client cannot know).
        if !h.faults.contains(&Fault::RotateAndDrop) {
            prop_assert_eq!(sim.auth.reuse_detected, 0);
        }
    }

    /// Without faults or revocation, nothing ever fails and no 401 reaches the caller
    /// when the lifetime is known.
    #[test]
    fn no_faults_means_no_failures(mut h in history()) {
        h.faults.clear();
        h.revoke_at = None;
        h.latency = h.latency.min(h.ttl * 1000 / 20);
        let sim = run(&h);
        prop_assert!(sim.violations.is_empty(), "violations: {:?}", sim.violations);
        prop_assert_eq!(sim.failed(), 0, "outcomes: {:?}", sim.outcomes);
        if !h.hidden {
            prop_assert_eq!(sim.unauthorized_delivered, 0);
        }
    }
}
